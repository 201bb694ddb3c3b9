// A lottery claim: "node K attests CU compute units for epoch E on top of block P", with a VRF proof
// over (P ‖ E) that makes K's ticket unique and ungrindable, signed by K.
import { Reader, Writer } from './encoding.js'
import { fail } from './errors.js'
import { HASH_LENGTH, taggedHash } from './hash.js'
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, type Signer, verify } from './keys.js'
import { compareScores, lotteryTicket } from './lottery.js'
import { VRF_PROOF_LENGTH, vrfProve, vrfVerify } from './vrf.js'

export const CLAIM_LENGTH = PUBLIC_KEY_LENGTH + 8 + HASH_LENGTH + 8 + VRF_PROOF_LENGTH + SIGNATURE_LENGTH

export interface Claim {
  nodeKey: Uint8Array
  epoch: bigint
  prevHash: Uint8Array
  cu: bigint
  proof: Uint8Array
  signature: Uint8Array
}

/** A claim whose VRF and signature have been verified, with its lottery values. */
export interface ScoredClaim { claim: Claim, vrfOutput: Uint8Array, ticket: bigint, cu: bigint }

export function lotteryInput (prevHash: Uint8Array, epoch: bigint): Uint8Array {
  return new Writer(40).fixed(prevHash, HASH_LENGTH).u64(epoch).finish()
}

function writeBody (w: Writer, c: Omit<Claim, 'signature'>): Writer {
  return w.fixed(c.nodeKey, PUBLIC_KEY_LENGTH).u64(c.epoch).fixed(c.prevHash, HASH_LENGTH).u64(c.cu).fixed(c.proof, VRF_PROOF_LENGTH)
}

function signingMessage (c: Omit<Claim, 'signature'>, genesis: Uint8Array): Uint8Array {
  return taggedHash('claim-sign', genesis, writeBody(new Writer(CLAIM_LENGTH), c).finish())
}

export function makeClaim (signer: Signer, genesis: Uint8Array, prevHash: Uint8Array, epoch: bigint, cu: bigint): Claim {
  const proof = vrfProve(signer.seed, lotteryInput(prevHash, epoch))
  const body = { nodeKey: signer.publicKey, epoch, prevHash, cu, proof }
  return { ...body, signature: signer.sign(signingMessage(body, genesis)) }
}

export function writeClaim (w: Writer, c: Claim): Writer {
  return writeBody(w, c).fixed(c.signature, SIGNATURE_LENGTH)
}

export function encodeClaim (c: Claim): Uint8Array { return writeClaim(new Writer(CLAIM_LENGTH), c).finish() }

export function readClaim (r: Reader): Claim {
  return { nodeKey: r.fixed(PUBLIC_KEY_LENGTH), epoch: r.u64(), prevHash: r.fixed(HASH_LENGTH), cu: r.u64(), proof: r.fixed(VRF_PROOF_LENGTH), signature: r.fixed(SIGNATURE_LENGTH) }
}

export function decodeClaim (bytes: Uint8Array): Claim {
  const r = new Reader(bytes, 'claim')
  const c = readClaim(r)
  r.end()
  return c
}

export function claimHash (c: Claim): Uint8Array { return taggedHash('claim', encodeClaim(c)) }

/** Verify signature, CU bound and VRF; returns the claim's lottery values. */
export function scoreClaim (c: Claim, genesis: Uint8Array, maxClaimCu: bigint): ScoredClaim {
  const node = Buffer.from(c.nodeKey).toString('hex')
  if (c.cu <= 0n || c.cu > maxClaimCu) fail('E_CLAIM_CU', 'claimed compute units out of range', { node, cu: c.cu, maxClaimCu })
  if (!verify(c.nodeKey, signingMessage(c, genesis), c.signature)) fail('E_CLAIM_SIGNATURE', 'claim signature does not verify', { node, epoch: c.epoch })
  const vrfOutput = vrfVerify(c.nodeKey, c.proof, lotteryInput(c.prevHash, c.epoch))
  if (vrfOutput === null) fail('E_CLAIM_VRF', 'claim VRF proof does not verify', { node, epoch: c.epoch })
  return { claim: c, vrfOutput, ticket: lotteryTicket(vrfOutput), cu: c.cu }
}

/** Lowest score wins. */
export function compareClaims (a: ScoredClaim, b: ScoredClaim): number { return compareScores(a, b) }
