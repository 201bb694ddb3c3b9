// Blocks: a header signed by the epoch's leader and carrying its claim (only its own: a block's size and
// verification cost do not grow with the number of nodes), then work reports, the coinbase and transactions.
import { ADDRESS_BYTES } from './address.js'
import type { Claim } from './claim.js'
import { type BlockHeader, HEADER_LENGTH, readHeader, signHeader, verifyHeaderSignature, writeHeader } from './header.js'
import { FRAUD_OP_OVERHEAD, MAX_BLOCK_FRAUD_BYTES, MAX_BLOCK_OPS, MAX_OP_BYTES, type Op, computeOpRoot, readOp, writeOp } from './ops.js'
import { MAX_BLOCK_REPORTS, REPORT_LENGTH, type WorkReport, readReport, reportHash, writeReport } from './report.js'
import { Reader, Writer } from './encoding.js'
import { fail } from './errors.js'
import { merkleRoot, taggedHash } from './hash.js'
import { SIGNATURE_LENGTH, type Signer } from './keys.js'
import { type Transaction, TX_LENGTH, readTransaction, transactionId, encodeTransaction } from './transaction.js'

export const MAX_BLOCK_TXS_WIRE = 100_000 // the decoder's hard bound; the network's own limit is lower
/**
 * A block is one Hypercore block, sent with its Merkle proof in one secret-stream frame of at most 16 MiB − 1:
 * its last MiB is left for that. Every part at its maximum can add up to more (maxBlockLength: ~18.7 MB with a maximal
 * fraud proof and MAX_BLOCK_TXS_WIRE transactions), so this bound is a rule of its own; with the default
 * maxBlockTxs (5,000) a block stays under ~5.3 MB, and only a network allowing over ~79,000 transactions a
 * block must leave transactions out for a large fraud proof.
 */
export const MAX_BLOCK_BYTES = 15 * 1024 * 1024

/** The largest block whose parts each keep their own bound, for a network of `maxTxs` transactions a block. */
export function maxBlockLength (maxTxs: number, fraudBytes = MAX_BLOCK_FRAUD_BYTES): number {
  // a fraud operation is at most MAX_OP_BYTES besides its proof
  return HEADER_LENGTH + SIGNATURE_LENGTH + 4 + MAX_BLOCK_REPORTS * REPORT_LENGTH + 4 + MAX_BLOCK_OPS * MAX_OP_BYTES + fraudBytes + 8 + 4 + maxTxs * TX_LENGTH
}

/** encodeBlock's length for a block whose operations encode to `opBytes` bytes in all. */
export function blockLength (b: Block, opBytes: number): number {
  return HEADER_LENGTH + SIGNATURE_LENGTH + 4 + b.reports.length * REPORT_LENGTH + 4 + opBytes + 8 + 4 + b.txs.length * TX_LENGTH
}

export interface Block {
  header: BlockHeader
  signature: Uint8Array // by header.winner.nodeKey
  reports: WorkReport[]
  ops: Op[]
  coinbase: bigint // reward + fees, paid to header.miner
  txs: Transaction[]
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
  ops?: Op[]
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
    opRoot: computeOpRoot(t.ops ?? []),
    winner: t.winner,
    weight: t.weight,
    totalWeight: t.totalWeight,
    miner: t.miner
  }
  return { header, signature: signHeader(header, signer, genesis), reports: t.reports, ops: t.ops ?? [], coinbase: t.coinbase, txs: t.txs }
}

export function verifyBlockSignature (b: Block, genesis: Uint8Array): boolean {
  return verifyHeaderSignature(b.header, b.signature, genesis)
}

export function encodeBlock (b: Block): Uint8Array {
  const w = new Writer(HEADER_LENGTH + 128 + b.reports.length * REPORT_LENGTH + b.txs.length * TX_LENGTH)
  writeHeader(w, b.header).fixed(b.signature, SIGNATURE_LENGTH)
  w.u32(b.reports.length)
  for (const r of b.reports) writeReport(w, r)
  w.u32(b.ops.length)
  for (const op of b.ops) writeOp(w, op)
  w.u64(b.coinbase).u32(b.txs.length)
  for (const tx of b.txs) w.fixed(encodeTransaction(tx), TX_LENGTH)
  return w.finish()
}

export function decodeBlock (bytes: Uint8Array): Block {
  if (bytes.length > MAX_BLOCK_BYTES) fail('E_BLOCK_SIZE', 'block is larger than allowed', { size: bytes.length, max: MAX_BLOCK_BYTES })
  const r = new Reader(bytes, 'block')
  const header = readHeader(r)
  const signature = r.fixed(SIGNATURE_LENGTH)
  const nReports = r.count(MAX_BLOCK_REPORTS)
  const reports: WorkReport[] = []
  for (let i = 0; i < nReports; i++) reports.push(readReport(r))
  const nOps = r.count(MAX_BLOCK_OPS)
  const ops: Op[] = []
  let fraudBytes = 0
  for (let i = 0; i < nOps; i++) {
    const before = r.remaining()
    const op = readOp(r)
    if (op.kind === 'fraud') {
      fraudBytes += before - r.remaining() - FRAUD_OP_OVERHEAD
      if (fraudBytes > MAX_BLOCK_FRAUD_BYTES) fail('E_BLOCK_FRAUD_SIZE', 'block carries more fraud proof bytes than allowed', { bytes: fraudBytes, max: MAX_BLOCK_FRAUD_BYTES })
    }
    ops.push(op)
  }
  const coinbase = r.u64()
  const nTxs = r.count(MAX_BLOCK_TXS_WIRE)
  if (r.remaining() !== nTxs * TX_LENGTH) fail('E_DECODE_LENGTH', 'block: transaction bytes do not match the count', { count: nTxs, bytes: r.remaining() })
  const txs: Transaction[] = []
  for (let i = 0; i < nTxs; i++) txs.push(readTransaction(r))
  r.end()
  return { header, signature, reports, ops, coinbase, txs }
}

export { type BlockHeader, BLOCK_VERSION, HEADER_LENGTH, blockHash, encodeHeader } from './header.js'

