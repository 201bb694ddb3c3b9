// Block headers: what the leader signs. Apart from the block body so that equivocation evidence
// (protocol/ops.ts), which carries two signed headers, can decode and check them on its own.
import { ADDRESS_BYTES, ADDRESS_VERSION } from './address.js'
import { type Claim, readClaim, writeClaim, CLAIM_LENGTH } from './claim.js'
import { type Reader, Writer } from './encoding.js'
import { fail } from './errors.js'
import { HASH_LENGTH, taggedHash } from './hash.js'
import { SIGNATURE_LENGTH, type Signer, verify } from './keys.js'

/** v3: the header commits to the block's operations (registrations, unbonding, equivocation evidence). */
export const BLOCK_VERSION = 3
export const HEADER_LENGTH = 1 + 8 + HASH_LENGTH + 8 + 8 + HASH_LENGTH + HASH_LENGTH + HASH_LENGTH + CLAIM_LENGTH + 16 + 16 + ADDRESS_BYTES
export const SIGNED_HEADER_LENGTH = HEADER_LENGTH + SIGNATURE_LENGTH
/** Weights travel as 128-bit integers: sums over a window of many nodes' reports may pass 2^64. */
const U128_MAX = (1n << 128n) - 1n

export interface BlockHeader {
  height: bigint
  prevHash: Uint8Array
  epoch: bigint
  time: bigint // milliseconds since the Unix epoch
  txRoot: Uint8Array
  reportRoot: Uint8Array
  opRoot: Uint8Array
  winner: Claim // the leader's claim
  /** The leader's weight w and the total W it was eligible with (checked against the parent's state). */
  weight: bigint
  totalWeight: bigint
  miner: Uint8Array // raw address paid by the coinbase
}

function writeU128 (w: Writer, v: bigint): Writer {
  if (v < 0n || v > U128_MAX) fail('E_ENCODE_RANGE', 'u128 out of range', { value: v })
  return w.u64(v >> 64n).u64(v & ((1n << 64n) - 1n))
}

function readU128 (r: Reader): bigint { return (r.u64() << 64n) | r.u64() }

export function writeHeader (w: Writer, h: BlockHeader): Writer {
  w.u8(BLOCK_VERSION).u64(h.height).fixed(h.prevHash, HASH_LENGTH).u64(h.epoch).u64(h.time)
    .fixed(h.txRoot, HASH_LENGTH).fixed(h.reportRoot, HASH_LENGTH).fixed(h.opRoot, HASH_LENGTH)
  writeClaim(w, h.winner)
  writeU128(w, h.weight)
  writeU128(w, h.totalWeight)
  return w.fixed(h.miner, ADDRESS_BYTES)
}

export function readHeader (r: Reader): BlockHeader {
  const version = r.u8()
  if (version !== BLOCK_VERSION) fail('E_BLOCK_VERSION', 'unknown block version', { version })
  const height = r.u64()
  const prevHash = r.fixed(HASH_LENGTH)
  const epoch = r.u64()
  const time = r.u64()
  const txRoot = r.fixed(HASH_LENGTH)
  const reportRoot = r.fixed(HASH_LENGTH)
  const opRoot = r.fixed(HASH_LENGTH)
  const winner = readClaim(r)
  const weight = readU128(r)
  const totalWeight = readU128(r)
  const miner = r.fixed(ADDRESS_BYTES)
  if (miner[0] !== ADDRESS_VERSION) fail('E_BLOCK_MINER', 'miner address has an unknown version', { version: miner[0] })
  return { height, prevHash, epoch, time, txRoot, reportRoot, opRoot, winner, weight, totalWeight, miner }
}

export function encodeHeader (h: BlockHeader): Uint8Array { return writeHeader(new Writer(HEADER_LENGTH), h).finish() }

export function blockHash (h: BlockHeader): Uint8Array { return taggedHash('block', encodeHeader(h)) }

function headerSigningMessage (h: BlockHeader, genesis: Uint8Array): Uint8Array {
  return taggedHash('block-sign', genesis, blockHash(h))
}

export function signHeader (h: BlockHeader, signer: Signer, genesis: Uint8Array): Uint8Array {
  return signer.sign(headerSigningMessage(h, genesis))
}

/** Signed by the leader its claim names, on this network. */
export function verifyHeaderSignature (h: BlockHeader, signature: Uint8Array, genesis: Uint8Array): boolean {
  return verify(h.winner.nodeKey, headerSigningMessage(h, genesis), signature)
}
