// Where a node's compute units come from. The attestation collector (plugin + agents) is one source;
// a fixed source exists for devnets and tests and is labelled as such everywhere it is used.
export interface ComputeUnitSource {
  /** Compute units this node may claim in the lottery of `epoch` (work attested in the epoch before). */
  computeUnitsFor: (epoch: bigint) => Promise<bigint>
}

/** A devnet source: the same declared amount every epoch. Not attested; for devnets and tests only. */
export class FixedComputeUnits implements ComputeUnitSource {
  constructor (private readonly units: bigint) {}
  async computeUnitsFor (): Promise<bigint> { return this.units }
}

export const NO_COMPUTE_UNITS: ComputeUnitSource = { computeUnitsFor: async () => 0n }
