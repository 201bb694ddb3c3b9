// Blocks: a header signed by the epoch's leader and carrying its claim (only its own: a block's size and
// verification cost do not grow with the number of nodes), then work reports, the coinbase and transactions.
import { ADDRESS_BYTES, ADDRESS_VERSION, encodeAddress } from './address.js'
import { type Claim, readClaim, writeClaim, CLAIM_LENGTH } from './claim.js'
import { MAX_BLOCK_REPORTS, REPORT_LENGTH, type WorkReport, readReport, reportHash, writeReport } from './report.js'
import { Reader, Writer } from './encoding.js'
import { fail } from './errors.js'
import { HASH_LENGTH, merkleRoot, taggedHash } from './hash.js'
import { SIGNATURE_LENGTH, type Signer, verify } from './keys.js'
import { type Transaction, TX_LENGTH, readTransaction, transactionId, encodeTransaction } from './transaction.js'

export const BLOCK_VERSION = 2
export const MAX_BLOCK_TXS_WIRE = 100_000 // the decoder's hard bound; the network's own limit is lower
export const HEADER_LENGTH = 1 + 8 + HASH_LENGTH + 8 + 8 + HASH_LENGTH + HASH_LENGTH + CLAIM_LENGTH + 16 + 16 + ADDRESS_BYTES
/** Weights travel as 128-bit integers: sums over a window of many nodes' reports may pass 2^64. */
const U128_MAX = (1n << 128n) - 1n
export const MAX_BLOCK_BYTES = HEADER_LENGTH + SIGNATURE_LENGTH + 4 + MAX_BLOCK_REPORTS * REPORT_LENGTH + 8 + 4 + MAX_BLOCK_TXS_WIRE * TX_LENGTH

export interface BlockHeader {
  height: bigint
  prevHash: Uint8Array
  epoch: bigint
  time: bigint // milliseconds since the Unix epoch
  txRoot: Uint8Array
  reportRoot: Uint8Array
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

export interface Block {
  header: BlockHeader
  signature: Uint8Array // by header.winner.nodeKey
  reports: WorkReport[]
  coinbase: bigint // reward + fees, paid to header.miner
  txs: Transaction[]
}

function writeHeader (w: Writer, h: BlockHeader): Writer {
  w.u8(BLOCK_VERSION).u64(h.height).fixed(h.prevHash, HASH_LENGTH).u64(h.epoch).u64(h.time)
    .fixed(h.txRoot, HASH_LENGTH).fixed(h.reportRoot, HASH_LENGTH)
  writeClaim(w, h.winner)
  writeU128(w, h.weight)
  writeU128(w, h.totalWeight)
  return w.fixed(h.miner, ADDRESS_BYTES)
}

export function encodeHeader (h: BlockHeader): Uint8Array { return writeHeader(new Writer(HEADER_LENGTH), h).finish() }

export function blockHash (h: BlockHeader): Uint8Array { return taggedHash('block', encodeHeader(h)) }

function headerSigningMessage (h: BlockHeader, genesis: Uint8Array): Uint8Array {
  return taggedHash('block-sign', genesis, blockHash(h))
}

export function coinbaseLeaf (height: bigint, miner: Uint8Array, amount: bigint): Uint8Array {
  return taggedHash('coinbase', new Writer(40).u64(height).fixed(miner, ADDRESS_BYTES).u64(amount).finish())
}

export function computeTxRoot (height: bigint, miner: Uint8Array, coinbase: bigint, txs: Transaction[]): Uint8Array {
  return txRootOfIds(height, miner, coinbase, txs.map(transactionId))
}

/** computeTxRoot given the transactions' ids (a verifier that computed them once). */
export function txRootOfIds (height: bigint, miner: Uint8Array, coinbase: bigint, txids: Uint8Array[]): Uint8Array {
  return merkleRoot([coinbaseLeaf(height, miner, coinbase), ...txids])
}

export function computeReportRoot (reports: WorkReport[]): Uint8Array { return merkleRoot(reports.map(reportHash)) }

export interface BlockTemplate {
  height: bigint
  prevHash: Uint8Array
  epoch: bigint
  time: bigint
  winner: Claim
  weight: bigint
  totalWeight: bigint
  reports: WorkReport[]
  miner: Uint8Array
  coinbase: bigint
  txs: Transaction[]
}

export function buildBlock (t: BlockTemplate, signer: Signer, genesis: Uint8Array): Block {
  const header: BlockHeader = {
    height: t.height,
    prevHash: t.prevHash,
    epoch: t.epoch,
    time: t.time,
    txRoot: computeTxRoot(t.height, t.miner, t.coinbase, t.txs),
    reportRoot: computeReportRoot(t.reports),
    winner: t.winner,
    weight: t.weight,
    totalWeight: t.totalWeight,
    miner: t.miner
  }
  return { header, signature: signer.sign(headerSigningMessage(header, genesis)), reports: t.reports, coinbase: t.coinbase, txs: t.txs }
}

export function verifyBlockSignature (b: Block, genesis: Uint8Array): boolean {
  return verify(b.header.winner.nodeKey, headerSigningMessage(b.header, genesis), b.signature)
}

export function encodeBlock (b: Block): Uint8Array {
  const w = new Writer(HEADER_LENGTH + 128 + b.reports.length * REPORT_LENGTH + b.txs.length * TX_LENGTH)
  writeHeader(w, b.header).fixed(b.signature, SIGNATURE_LENGTH)
  w.u32(b.reports.length)
  for (const r of b.reports) writeReport(w, r)
  w.u64(b.coinbase).u32(b.txs.length)
  for (const tx of b.txs) w.fixed(encodeTransaction(tx), TX_LENGTH)
  return w.finish()
}

export function decodeBlock (bytes: Uint8Array): Block {
  if (bytes.length > MAX_BLOCK_BYTES) fail('E_BLOCK_SIZE', 'block is larger than allowed', { size: bytes.length, max: MAX_BLOCK_BYTES })
  const r = new Reader(bytes, 'block')
  const version = r.u8()
  if (version !== BLOCK_VERSION) fail('E_BLOCK_VERSION', 'unknown block version', { version })
  const height = r.u64()
  const prevHash = r.fixed(HASH_LENGTH)
  const epoch = r.u64()
  const time = r.u64()
  const txRoot = r.fixed(HASH_LENGTH)
  const reportRoot = r.fixed(HASH_LENGTH)
  const winner = readClaim(r)
  const weight = readU128(r)
  const totalWeight = readU128(r)
  const miner = r.fixed(ADDRESS_BYTES)
  if (miner[0] !== ADDRESS_VERSION) fail('E_BLOCK_MINER', 'miner address has an unknown version', { version: miner[0] })
  const signature = r.fixed(SIGNATURE_LENGTH)
  const nReports = r.count(MAX_BLOCK_REPORTS)
  const reports: WorkReport[] = []
  for (let i = 0; i < nReports; i++) reports.push(readReport(r))
  const coinbase = r.u64()
  const nTxs = r.count(MAX_BLOCK_TXS_WIRE)
  if (r.remaining() !== nTxs * TX_LENGTH) fail('E_DECODE_LENGTH', 'block: transaction bytes do not match the count', { count: nTxs, bytes: r.remaining() })
  const txs: Transaction[] = []
  for (let i = 0; i < nTxs; i++) txs.push(readTransaction(r))
  r.end()
  return { header: { height, prevHash, epoch, time, txRoot, reportRoot, winner, weight, totalWeight, miner }, signature, reports, coinbase, txs }
}

export function minerAddress (b: Block): string { return encodeAddress(b.header.miner) }
