// Fraud proofs (DESIGN.md "Evidence and audits"): compact, self-contained proofs that a work report on chain is
// wrong, made by a failed audit and checkable by any peer. Pure: certificates go through the injected checker.
//
//  - miscredit: the report and the whole evidence it commits; the evidence fails a check or proves other CU
//    (inflated CU, capacity beyond the registered one, a bad signature, nonce or chain, …).
//  - double-credit: one workload with overlapping attested windows in the evidence of two reports of one epoch,
//    each a Merkle excerpt: by two nodes, the same agent key; by one node (two reports), the same agent key or
//    container id.
//  - bad-certificate: one workload's excerpt whose agent certificate does not certify its agent key for this node
//    and container, or whose checkpoints that key did not sign. The auditor makes it (compactFraudProof) wherever it
//    applies: kilobytes, where a miscredit carries the whole evidence (up to MAX_EVIDENCE_BYTES).
import { windowStart, POLL_WINDOW_MS } from './attestation.js'
import type { Reservation } from './compute-units.js'
import { Reader, Writer, equalBytes, toHex } from './encoding.js'
import { fail, isEconumiError } from './errors.js'
import {
  type CertificateChecker, type EpochEvidence, type EvidenceHeader, type WorkloadEvidence, MAX_EVIDENCE_BYTES, MAX_EVIDENCE_PROOF_LENGTH,
  MAX_EVIDENCE_WORKLOADS, checkAgentCertificate, checkCaEndorsement, checkEvidenceHeader, checkReportEvidence, checkWorkloadEvidence,
  checkpointMessage, decodeEvidence, encodeEvidence, evidenceHeader, evidenceLeaves, evidenceRoot, headerLeaf, readEvidenceHeader, readWorkloadEvidence,
  workloadLeaf, writeEvidenceHeader, writeWorkloadEvidence
} from './evidence.js'
import { HASH_LENGTH, taggedHash } from './hash.js'
import { verify } from './keys.js'
import { merkleProof, verifyMerkleProof } from './merkle-proof.js'
import { type NetworkParams, WEIGHT_LAG } from './params.js'
import { REPORT_LENGTH, type WorkReport, checkReportSignature, readReport, reportHash, writeReport } from './report.js'

/** The largest proof is a miscredit with the largest evidence. */
export const MAX_FRAUD_PROOF_BYTES = 1 + REPORT_LENGTH + 4 + MAX_EVIDENCE_BYTES

/** One workload of a report's evidence, with the header (leaf 0) for its CA, poll secrets and node. */
export interface EvidenceExcerpt {
  report: WorkReport
  header: EvidenceHeader
  /** Leaves in the evidence: 1 + workloads. */
  count: number
  headerProof: Uint8Array[]
  workload: WorkloadEvidence
  /** ≥ 1: leaf 0 is the header. */
  index: number
  workloadProof: Uint8Array[]
}

export type FraudProof =
  | { kind: 'miscredit', report: WorkReport, evidence: EpochEvidence }
  | { kind: 'double-credit', a: EvidenceExcerpt, b: EvidenceExcerpt }
  | { kind: 'bad-certificate', excerpt: EvidenceExcerpt }

export interface FraudContext {
  params: NetworkParams
  genesis: Uint8Array
  certificates: CertificateChecker
  /** A node's registered capacity (null: none registered). */
  registeredCapacity: (nodeKey: Uint8Array) => Reservation | null
  reportOnChain: (reportHash: Uint8Array) => boolean
}

export interface FraudVerdict {
  /** The node keys to eject or slash (one, or two for a double credit by two nodes). */
  offenders: Uint8Array[]
  /** Hashes of the reports to void. */
  reports: Uint8Array[]
  reason: string
}

/** The excerpt of workload `containerId` of evidence `ev`, committed by `report`. */
export function evidenceExcerpt (report: WorkReport, ev: EpochEvidence, containerId: string): EvidenceExcerpt {
  const i = ev.workloads.findIndex((x) => x.containerId === containerId)
  if (i < 0) fail('E_FRAUD_WORKLOAD', 'no such workload in the evidence', { containerId })
  const leaves = evidenceLeaves(ev)
  return { report, header: evidenceHeader(ev), count: leaves.length, headerProof: merkleProof(leaves, 0), workload: ev.workloads[i], index: i + 1, workloadProof: merkleProof(leaves, i + 1) }
}

// ---- encoding ---------------------------------------------------------------------------------------------------
// proof    = u8 kind ‖ (1: report ‖ bytes evidence | 2: excerpt ‖ excerpt | 3: excerpt)
// excerpt  = report ‖ header ‖ u32 count ‖ hashes ‖ workload ‖ u32 index ‖ hashes;  hashes = u32 n ‖ n × 32 bytes

const KIND = { miscredit: 1, 'double-credit': 2, 'bad-certificate': 3 } as const

function writeHashes (w: Writer, hs: Uint8Array[]): Writer {
  w.u32(hs.length)
  for (const h of hs) w.fixed(h, HASH_LENGTH)
  return w
}

function readHashes (r: Reader): Uint8Array[] { return Array.from({ length: r.count(MAX_EVIDENCE_PROOF_LENGTH) }, () => r.fixed(HASH_LENGTH)) }

function writeExcerpt (w: Writer, x: EvidenceExcerpt): Writer {
  writeEvidenceHeader(writeReport(w, x.report), x.header).u32(x.count)
  writeWorkloadEvidence(writeHashes(w, x.headerProof), x.workload).u32(x.index)
  return writeHashes(w, x.workloadProof)
}

function readExcerpt (r: Reader): EvidenceExcerpt {
  const report = readReport(r)
  const header = readEvidenceHeader(r)
  const count = r.u32()
  const headerProof = readHashes(r)
  const workload = readWorkloadEvidence(r)
  const index = r.u32()
  if (count > MAX_EVIDENCE_WORKLOADS + 1 || index < 1 || index >= count) fail('E_FRAUD_DECODE', 'excerpt leaf index out of range', { index, count })
  return { report, header, count, headerProof, workload, index, workloadProof: readHashes(r) }
}

export function encodeFraudProof (p: FraudProof): Uint8Array {
  const w = new Writer(4096).u8(KIND[p.kind])
  if (p.kind === 'miscredit') return writeReport(w, p.report).bytes(encodeEvidence(p.evidence)).finish()
  if (p.kind === 'double-credit') return writeExcerpt(writeExcerpt(w, p.a), p.b).finish()
  return writeExcerpt(w, p.excerpt).finish()
}

export function decodeFraudProof (bytes: Uint8Array): FraudProof {
  if (bytes.length > MAX_FRAUD_PROOF_BYTES) fail('E_FRAUD_SIZE', 'fraud proof is larger than allowed', { size: bytes.length, max: MAX_FRAUD_PROOF_BYTES })
  const r = new Reader(bytes, 'fraud proof')
  const kind = r.u8()
  let p: FraudProof
  if (kind === KIND.miscredit) p = { kind: 'miscredit', report: readReport(r), evidence: decodeEvidence(r.bytes(MAX_EVIDENCE_BYTES)) }
  else if (kind === KIND['double-credit']) p = { kind: 'double-credit', a: readExcerpt(r), b: readExcerpt(r) }
  else if (kind === KIND['bad-certificate']) p = { kind: 'bad-certificate', excerpt: readExcerpt(r) }
  else return fail('E_FRAUD_DECODE', 'unknown fraud proof kind', { kind })
  r.end()
  return p
}

export function fraudProofHash (p: FraudProof): Uint8Array { return encodedFraudProofHash(encodeFraudProof(p)) }

/** fraudProofHash of a proof's encoding (a caller that holds it already). */
export function encodedFraudProofHash (bytes: Uint8Array): Uint8Array { return taggedHash('fraud-proof', bytes) }

/** The reports a proof names, in its order (the offenders follow it). */
export function namedReports (p: FraudProof): WorkReport[] {
  return p.kind === 'miscredit' ? [p.report] : p.kind === 'double-credit' ? [p.a.report, p.b.report] : [p.excerpt.report]
}

/**
 * The oldest report epoch a block of `blockEpoch` still accepts a proof against. A report of epoch r is included
 * by epoch r + 2 + L at the latest and weighs until WEIGHT_LAG + L − 1 epochs after its inclusion; proofs stay
 * valid K (reorgBound) epochs beyond that, so an audit of the last block able to count it has time to land. After
 * this horizon nodes may forget the evidence.
 */
export function oldestProvableEpoch (p: NetworkParams, blockEpoch: bigint): bigint {
  return blockEpoch - (2n + 2n * p.weightWindow + WEIGHT_LAG - 1n + p.reorgBound)
}

// ---- the check ------------------------------------------------------------------------------------------------------

function invalid (reason: string, details: Record<string, unknown> = {}): never {
  return fail('E_FRAUD_INVALID', `fraud proof proves nothing: ${reason}`, { reason, ...details })
}

/** The E_EVIDENCE_… code `f` fails with, or null if it passes. Any other error is a bug, not fraud: it propagates. */
function evidenceFailure (f: () => unknown): string | null {
  try {
    f()
    return null
  } catch (err) {
    if (isEconumiError(err) && err.code.startsWith('E_EVIDENCE_')) return err.code
    throw err
  }
}

/** The excerpt's header and workload are leaves 0 and index of the report's evidence, and name its node and epoch. */
function checkExcerptMembership (x: EvidenceExcerpt): void {
  const root = x.report.evidenceRoot
  if (x.index < 1 || !verifyMerkleProof(root, headerLeaf(x.header), 0, x.count, x.headerProof) || !verifyMerkleProof(root, workloadLeaf(x.workload), x.index, x.count, x.workloadProof)) {
    invalid('the excerpt is not in the report\'s evidence', { report: toHex(reportHash(x.report)) })
  }
  if (!equalBytes(x.header.nodeKey, x.report.nodeKey) || x.header.epoch !== x.report.epoch) invalid('the excerpt\'s header names another node or epoch (a miscredit, not this kind)')
}

/** [first window's start, last window's end) of the checkpoints, or null without any. */
function attestedRange (x: WorkloadEvidence): { from: bigint, to: bigint } | null {
  const cps = x.checkpoints
  return cps.length === 0 ? null : { from: windowStart(cps[0].window), to: windowStart(cps[cps.length - 1].window) + POLL_WINDOW_MS }
}

/**
 * Checks a fraud proof: every report it names must be on chain and signed by its node; then the proof must show
 * what its kind claims. Throws E_FRAUD_UNKNOWN_REPORT or E_FRAUD_INVALID otherwise, so a false proof never
 * punishes anyone.
 */
export function checkFraudProof (p: FraudProof, ctx: FraudContext): FraudVerdict {
  const reports = namedReports(p).map((r) => {
    const h = reportHash(r)
    if (!ctx.reportOnChain(h)) fail('E_FRAUD_UNKNOWN_REPORT', 'the fraud proof names a report that is not on chain', { report: toHex(h) })
    try { checkReportSignature(r, ctx.genesis) } catch { invalid('a report\'s signature does not verify', { report: toHex(h) }) }
    return h
  })

  if (p.kind === 'miscredit') {
    const { report, evidence } = p
    // The root first: evidence the report does not commit proves nothing about it, however wrong it is.
    if (!equalBytes(evidenceRoot(evidence), report.evidenceRoot)) invalid('the evidence is not the one the report commits')
    const code = evidenceFailure(() => checkReportEvidence(report, evidence, { ...ctx, registeredCapacity: ctx.registeredCapacity(report.nodeKey) }))
    if (code === null) invalid('the evidence supports the report')
    return { offenders: [report.nodeKey], reports, reason: `miscredit: ${code}` }
  }

  if (p.kind === 'double-credit') {
    const { a, b } = p
    if (equalBytes(reports[0], reports[1])) invalid('both sides name one report')
    if (a.report.epoch !== b.report.epoch) invalid('the reports are for different epochs')
    for (const [side, x] of [['a', a], ['b', b]] as const) {
      checkExcerptMembership(x)
      // Each side must be genuine evidence of its node (nonces from its poll secret), so a copy of another node's
      // workload fails here (it is a miscredit of the copier) instead of voiding the victim's report.
      const code = evidenceFailure(() => checkWorkloadEvidence(x.header, x.workload, ctx, checkEvidenceHeader(x.header, ctx)))
      if (code !== null) invalid(`side ${side}'s workload evidence does not hold (${code}): a miscredit, not a double credit`)
    }
    // A container id is a public string: another node can credit a fake workload under it and so frame its owner.
    // An agent key cannot be borrowed (its checkpoints answer nonces of one node's poll secret), so two nodes match
    // on it only; one node's two reports match on either (the signer of both is the offender).
    const sameNode = equalBytes(a.report.nodeKey, b.report.nodeKey)
    if (!equalBytes(a.workload.agentKey, b.workload.agentKey)) {
      if (!sameNode) invalid('the two nodes\' workloads do not share an agent key (a shared container id alone proves nothing)')
      if (a.workload.containerId !== b.workload.containerId) invalid('the two workloads share neither container id nor agent key')
    }
    const ra = attestedRange(a.workload)
    const rb = attestedRange(b.workload)
    if (ra === null || rb === null || ra.from >= rb.to || rb.from >= ra.to) invalid('the two workloads have no attested time in common')
    const offenders = sameNode ? [a.report.nodeKey] : [a.report.nodeKey, b.report.nodeKey]
    return { offenders, reports, reason: `double credit of container ${a.workload.containerId}` }
  }

  const x = p.excerpt
  checkExcerptMembership(x)
  const code = certificateFailure(x.header, x.workload, ctx.certificates)
  if (code === null) invalid('the agent certificate and the checkpoint signatures hold')
  return { offenders: [x.report.nodeKey], reports, reason: `bad certificate: ${code}` }
}

/** What a bad-certificate proof shows of one workload: the E_EVIDENCE_… code of its CA, certificate or checkpoint signatures, or null. */
function certificateFailure (h: EvidenceHeader, w: WorkloadEvidence, certificates: CertificateChecker): string | null {
  return evidenceFailure(() => checkCaEndorsement(h)) ??
    evidenceFailure(() => checkAgentCertificate(h, w, certificates)) ??
    (w.checkpoints.some((c) => !verify(w.agentKey, checkpointMessage(w.containerId, c), c.signature)) ? 'E_EVIDENCE_CHECKPOINT_SIGNATURE' : null)
}

/**
 * The compact proof of a failed audit, where there is one: the first workload of `ev` (the evidence `report`
 * commits) whose certificate or checkpoint signatures fail, as a bad-certificate excerpt (one leaf, two Merkle
 * paths and the CA) instead of the whole evidence. Null when none does (a miscredit must carry the evidence).
 */
export function compactFraudProof (report: WorkReport, ev: EpochEvidence, certificates: CertificateChecker): FraudProof | null {
  // an excerpt stands for its report only when the header names the report's node and epoch (checkExcerptMembership)
  if (!equalBytes(ev.nodeKey, report.nodeKey) || ev.epoch !== report.epoch || !equalBytes(evidenceRoot(ev), report.evidenceRoot)) return null
  const h = evidenceHeader(ev)
  const w = ev.workloads.find((x) => certificateFailure(h, x, certificates) !== null)
  return w === undefined ? null : { kind: 'bad-certificate', excerpt: evidenceExcerpt(report, ev, w.containerId) }
}
