// Where a node's compute units come from. The attestation collector (plugin + agents) is one source;
// a fixed source exists for devnets and tests and is labelled as such everywhere it is used.
export interface ComputeUnitSource {
  /** Compute units attested in the epoch before `epoch` (what a work report for epoch-1 carries). */
  computeUnitsFor: (epoch: bigint) => Promise<bigint>
  /** Attested work (a work report carries its evidence root) or a devnet's declared amount (an all-zero root). */
  readonly attested: boolean
  /** The Merkle root of the published evidence behind `epoch`'s compute units (attested sources). */
  evidenceRootFor?: (epoch: bigint) => Promise<Uint8Array>
}

/** A devnet source: the same declared amount every epoch. Not attested; for devnets and tests only. */
export class FixedComputeUnits implements ComputeUnitSource {
  readonly attested = false
  constructor (private readonly units: bigint) {}
  async computeUnitsFor (): Promise<bigint> { return this.units }
}

export const NO_COMPUTE_UNITS: ComputeUnitSource = { computeUnitsFor: async () => 0n, attested: false }
