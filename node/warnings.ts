// Warnings the node and `econumi start` both give, written once so the two say the same thing.

export interface StartWarning { code: string, message: string }

/**
 * W_NO_COMPUTE_UNITS: a devnet node with neither attested work nor fixed compute units can never produce a block.
 * `restart` is how the user gets back to a start (the container mode's node must be stopped first).
 */
export function noComputeUnitsWarning (o: { attest: boolean, fixed: boolean, mode: string | undefined }, restart = 'start it'): StartWarning | null {
  if (o.attest || o.fixed || o.mode !== 'devnet') return null
  return {
    code: 'W_NO_COMPUTE_UNITS',
    message: `this node has no compute units, so it can never produce a block: ${restart} with --attest to attest this engine's Docker workloads (the econumi plugin enabled), or on a devnet with --dev-compute-units N`
  }
}
