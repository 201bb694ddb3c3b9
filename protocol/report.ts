// A work report: "node K did CU compute units of attested work in epoch E; the evidence is committed by
// evidenceRoot", signed by K and included in a block like a transaction. Weights come from reports already on
// chain (protocol/weights.ts), never from a number a block producer picks. An all-zero evidenceRoot marks an
// unattested report (`--dev-compute-units`): allowed on a devnet only.
import { Reader, Writer, toHex } from './encoding.js'
import { fail } from './errors.js'
import { HASH_LENGTH, ZERO_HASH, taggedHash } from './hash.js'
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, type Signer, verify } from './keys.js'

export const REPORT_LENGTH = PUBLIC_KEY_LENGTH + 8 + 8 + HASH_LENGTH + SIGNATURE_LENGTH
/** Compute units in one report: checked on the wire (2^53, so sums over any window stay exact and small). */
export const MAX_REPORT_CU = 1n << 53n
/** Most work reports in one block. */
export const MAX_BLOCK_REPORTS = 256

export interface WorkReport {
  nodeKey: Uint8Array
  epoch: bigint
  cu: bigint
  evidenceRoot: Uint8Array
  signature: Uint8Array
}

function writeBody (w: Writer, r: Omit<WorkReport, 'signature'>): Writer {
  return w.fixed(r.nodeKey, PUBLIC_KEY_LENGTH).u64(r.epoch).u64(r.cu).fixed(r.evidenceRoot, HASH_LENGTH)
}

function signingMessage (r: Omit<WorkReport, 'signature'>, genesis: Uint8Array): Uint8Array {
  return taggedHash('report-sign', genesis, writeBody(new Writer(REPORT_LENGTH), r).finish())
}

export function makeReport (signer: Signer, genesis: Uint8Array, epoch: bigint, cu: bigint, evidenceRoot: Uint8Array = ZERO_HASH): WorkReport {
  if (cu <= 0n || cu > MAX_REPORT_CU) fail('E_REPORT_CU', 'report compute units out of range', { cu, max: MAX_REPORT_CU })
  const body = { nodeKey: signer.publicKey, epoch, cu, evidenceRoot }
  return { ...body, signature: signer.sign(signingMessage(body, genesis)) }
}

export function writeReport (w: Writer, r: WorkReport): Writer { return writeBody(w, r).fixed(r.signature, SIGNATURE_LENGTH) }

export function encodeReport (r: WorkReport): Uint8Array { return writeReport(new Writer(REPORT_LENGTH), r).finish() }

export function readReport (r: Reader): WorkReport {
  const report = { nodeKey: r.fixed(PUBLIC_KEY_LENGTH), epoch: r.u64(), cu: r.u64(), evidenceRoot: r.fixed(HASH_LENGTH), signature: r.fixed(SIGNATURE_LENGTH) }
  if (report.cu <= 0n || report.cu > MAX_REPORT_CU) fail('E_REPORT_CU', 'report compute units out of range', { cu: report.cu, max: MAX_REPORT_CU })
  return report
}

export function decodeReport (bytes: Uint8Array): WorkReport {
  const r = new Reader(bytes, 'work report')
  const report = readReport(r)
  r.end()
  return report
}

export function reportHash (r: WorkReport): Uint8Array { return taggedHash('report', encodeReport(r)) }

export function isUnattested (r: WorkReport): boolean {
  for (const b of r.evidenceRoot) if (b !== 0) return false
  return true
}

/** The stateless check: the signature. Context (admission, capacity, epochs) is checked in applyBlock. */
export function checkReportSignature (r: WorkReport, genesis: Uint8Array): void {
  if (!verify(r.nodeKey, signingMessage(r, genesis), r.signature)) fail('E_REPORT_SIGNATURE', 'work report signature does not verify', { node: toHex(r.nodeKey), epoch: r.epoch })
}
