// A leader claim: "node K leads epoch E", proven by an RFC 9381 VRF over (beacon of the parent ‖ E).
// The VRF is unique, and its input holds nothing the leader chooses (the beacon is chained through
// earlier leaders' VRF outputs, DESIGN.md "Beacon"), so a leader can only publish or withhold: it cannot
// grind block contents for a better ticket. The block header that carries the claim is signed by K.
import { Reader, Writer } from './encoding.js'
import { fail } from './errors.js'
import { HASH_LENGTH, taggedHash } from './hash.js'
import { PUBLIC_KEY_LENGTH, type Signer } from './keys.js'
import { lotteryTicket } from './lottery.js'
import { VRF_PROOF_LENGTH, vrfProve, vrfVerify } from './vrf.js'

export const CLAIM_LENGTH = PUBLIC_KEY_LENGTH + 8 + HASH_LENGTH + VRF_PROOF_LENGTH

export interface Claim {
  nodeKey: Uint8Array
  epoch: bigint
  /** The beacon of the block this one builds on (the genesis hash for the first block). */
  beacon: Uint8Array
  proof: Uint8Array
}

/** A claim whose VRF verified, with its lottery values. */
export interface ScoredClaim { claim: Claim, vrfOutput: Uint8Array, ticket: bigint }

export function lotteryInput (beacon: Uint8Array, epoch: bigint): Uint8Array {
  return new Writer(40).fixed(beacon, HASH_LENGTH).u64(epoch).finish()
}

/** beacon(B) = H(beacon(parent) ‖ VRF output of B's leader); beacon(genesis) = the genesis hash. */
export function nextBeacon (parentBeacon: Uint8Array, vrfOutput: Uint8Array): Uint8Array {
  return taggedHash('beacon', parentBeacon, vrfOutput)
}

export function makeClaim (signer: Signer, beacon: Uint8Array, epoch: bigint): Claim {
  return { nodeKey: signer.publicKey, epoch, beacon, proof: vrfProve(signer.seed, lotteryInput(beacon, epoch)) }
}

export function writeClaim (w: Writer, c: Claim): Writer {
  return w.fixed(c.nodeKey, PUBLIC_KEY_LENGTH).u64(c.epoch).fixed(c.beacon, HASH_LENGTH).fixed(c.proof, VRF_PROOF_LENGTH)
}

export function encodeClaim (c: Claim): Uint8Array { return writeClaim(new Writer(CLAIM_LENGTH), c).finish() }

export function readClaim (r: Reader): Claim {
  return { nodeKey: r.fixed(PUBLIC_KEY_LENGTH), epoch: r.u64(), beacon: r.fixed(HASH_LENGTH), proof: r.fixed(VRF_PROOF_LENGTH) }
}

export function decodeClaim (bytes: Uint8Array): Claim {
  const r = new Reader(bytes, 'claim')
  const c = readClaim(r)
  r.end()
  return c
}

// PERF: one VRF verification (~300 µs with libsodium); nothing here grows with the number of nodes.
/** Verify the VRF proof; returns the claim's lottery values. Eligibility needs the weights: see weights.ts. */
export function scoreClaim (c: Claim): ScoredClaim {
  const vrfOutput = vrfVerify(c.nodeKey, c.proof, lotteryInput(c.beacon, c.epoch))
  if (vrfOutput === null) fail('E_CLAIM_VRF', 'claim VRF proof does not verify', { node: Buffer.from(c.nodeKey).toString('hex'), epoch: c.epoch })
  return { claim: c, vrfOutput, ticket: lotteryTicket(vrfOutput) }
}
