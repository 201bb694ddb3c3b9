// Attested container work: the wire formats agents sign, the challenge schedule, and the per-epoch
// credit rule. Pure: no I/O, no clock (every time is an argument, milliseconds since the Unix epoch).
//
// Two witnesses per workload:
//  - the daemon (dockerd: create body / inspect reservations, events-API running intervals, cgroup CPU usage),
//  - the agent (a container of its own that watches the workload's cgroup, holding a per-workload Ed25519
//    key: its checkpoints — signed, chained poll answers, protocol/checkpoint.ts — and its exit report).
// The agent re-signs its exit report with every poll answer (and when the node asks, e.g. at an epoch
// boundary), so the last one the node received stands when the workload dies: its `lastAlive` is the last
// instant the agent saw the workload alive — a lower bound, which is the side a credit rule should err on.
import { type Reservation, computeUnits, fitToCapacity } from './compute-units.js'
import { fail } from './errors.js'
import { taggedHash } from './hash.js'
import { type Signer, verify } from './keys.js'

/** Length of one health-poll window. Windows are numbered from the Unix epoch: w = floor(t / 5000). */
export const POLL_WINDOW_MS = 5000n
/** How long after its challenge an answer is accepted (the challenge instant leaves this much room in the window). */
export const ANSWER_TIMEOUT_MS = 1000n
export const NONCE_LENGTH = 32
export const REPORT_VERSION = 1

const CONTAINER_ID = /^[0-9a-f]{64}$/
const HEX_KEY = /^[0-9a-f]{64}$/

function containerIdBytes (id: string): Uint8Array {
  if (typeof id !== 'string' || !CONTAINER_ID.test(id)) fail('E_ATTEST_CONTAINER_ID', 'container id must be 64 lowercase hex characters', { containerId: String(id).slice(0, 80) })
  return Buffer.from(id, 'hex')
}

// ---- windows and challenges ---------------------------------------------------------------------------

export function windowOf (timeMs: bigint, windowMs = POLL_WINDOW_MS): bigint {
  if (timeMs < 0n) fail('E_ATTEST_TIME', 'time must not be negative', { timeMs })
  return timeMs / windowMs
}

export function windowStart (window: bigint, windowMs = POLL_WINDOW_MS): bigint { return window * windowMs }

/** Offset of the challenge instant inside its window: uniform in [0, windowMs - answerMs), derived from the nonce. */
export function challengeOffsetMs (nonce: Uint8Array, windowMs = POLL_WINDOW_MS, answerMs = ANSWER_TIMEOUT_MS): bigint {
  if (nonce.length !== NONCE_LENGTH) fail('E_ATTEST_NONCE', 'nonce must be 32 bytes', { length: nonce.length })
  const span = windowMs - answerMs
  if (span <= 0n) fail('E_ATTEST_WINDOW', 'window must be longer than the answer timeout', { windowMs, answerMs })
  const h = taggedHash('attest-instant', nonce)
  return Buffer.from(h.buffer, h.byteOffset, 8).readBigUInt64BE(0) % span
}

// ---- the agent's connection ---------------------------------------------------------------------------

/** What the agent signs to authenticate its connection: the node's connection nonce and the container. */
export function helloMessage (serverNonce: Uint8Array, containerId: string): Uint8Array {
  if (serverNonce.length !== NONCE_LENGTH) fail('E_ATTEST_NONCE', 'hello nonce must be 32 bytes', { length: serverNonce.length })
  return taggedHash('attest-hello', serverNonce, containerIdBytes(containerId))
}

// ---- exit report ----------------------------------------------------------------------------------------

export interface ExitReport {
  version: number
  /** Node that certified the agent (hex Ed25519 public key). */
  nodeId: string
  containerId: string
  /** Image reference as created. */
  image: string
  /** Image id (sha256:…) as inspected when the agent was started. */
  imageDigest: string
  /** When the workload's init process started (agent's reading of /proc), ms. */
  startTime: number
  /** When the agent first saw the workload alive: attestation starts here, ms. */
  attestedFrom: number
  /** The last instant the agent saw the workload alive (and signed it), ms. */
  lastAlive: number
  /** lastAlive − startTime, ms. */
  durationMs: number
  reservations: { nanoCpus: string, memoryBytes: string }
  pollsAnswered: number
  /** Windows the agent knows it skipped (between answered ones); the node keeps the authoritative count. */
  pollsMissed: number
  /** Workload health at the last observation. */
  healthy: boolean
  agentPublicKey: string
  /** PEM of the agent's certificate (issued by the node's CA, URI SAN econumi://<node>/container/<id>). */
  certificate: string
}

export interface SignedExitReport { report: ExitReport, signature: string }

/** Fixed key order of the canonical serialisation; adding a field means a new version. */
export const REPORT_FIELDS = [
  'version', 'nodeId', 'containerId', 'image', 'imageDigest', 'startTime', 'attestedFrom', 'lastAlive', 'durationMs',
  'reservations', 'pollsAnswered', 'pollsMissed', 'healthy', 'agentPublicKey', 'certificate'
] as const

function badField (field: string, why: string, value?: unknown): never {
  return fail('E_REPORT_FIELD', `exit report field ${field} ${why}`, { field, value: value === undefined ? undefined : String(value).slice(0, 80) })
}

const MAX_TIME = 8_640_000_000_000_000 // Date's range
function time (o: Record<string, unknown>, k: string): number {
  const v = o[k]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > MAX_TIME) badField(k, 'must be a non-negative integer (ms)', v)
  return v
}
function count (o: Record<string, unknown>, k: string): number {
  const v = o[k]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) badField(k, 'must be a non-negative integer', v)
  return v
}
function str (o: Record<string, unknown>, k: string, max: number, re?: RegExp): string {
  const v = o[k]
  if (typeof v !== 'string' || v.length > max || (re !== undefined && !re.test(v))) badField(k, re === undefined ? `must be a string of at most ${max} characters` : `must match ${String(re)}`, v)
  return v
}
const BIG = /^(0|[1-9][0-9]{0,24})$/

/** Checks the shape and the internal consistency of a report; returns it with exactly the canonical fields. */
export function parseExitReport (x: unknown): ExitReport {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) fail('E_REPORT_FIELD', 'exit report must be a JSON object')
  const o = x as Record<string, unknown>
  for (const k of Object.keys(o)) if (!(REPORT_FIELDS as readonly string[]).includes(k)) badField(k, 'is unknown')
  if (o.version !== REPORT_VERSION) fail('E_REPORT_VERSION', 'unsupported exit report version', { version: String(o.version) })
  const res = o.reservations as Record<string, unknown> | undefined
  if (res === null || typeof res !== 'object' || Array.isArray(res) || Object.keys(res).sort().join() !== 'memoryBytes,nanoCpus') badField('reservations', 'must be {nanoCpus, memoryBytes}')
  if (typeof o.healthy !== 'boolean') badField('healthy', 'must be a boolean', o.healthy)
  const r: ExitReport = {
    version: REPORT_VERSION,
    nodeId: str(o, 'nodeId', 64, HEX_KEY),
    containerId: str(o, 'containerId', 64, CONTAINER_ID),
    image: str(o, 'image', 512),
    imageDigest: str(o, 'imageDigest', 200, /^sha256:[0-9a-f]{64}$/),
    startTime: time(o, 'startTime'),
    attestedFrom: time(o, 'attestedFrom'),
    lastAlive: time(o, 'lastAlive'),
    durationMs: count(o, 'durationMs'),
    reservations: { nanoCpus: str(res, 'nanoCpus', 25, BIG), memoryBytes: str(res, 'memoryBytes', 25, BIG) },
    pollsAnswered: count(o, 'pollsAnswered'),
    pollsMissed: count(o, 'pollsMissed'),
    healthy: o.healthy,
    agentPublicKey: str(o, 'agentPublicKey', 64, HEX_KEY),
    certificate: str(o, 'certificate', 16_384, /^-----BEGIN CERTIFICATE-----\r?\n[\s\S]+-----END CERTIFICATE-----\s*$/)
  }
  if (r.attestedFrom < r.startTime || r.lastAlive < r.attestedFrom) {
    fail('E_REPORT_TIMES', 'exit report times must satisfy startTime ≤ attestedFrom ≤ lastAlive', { startTime: r.startTime, attestedFrom: r.attestedFrom, lastAlive: r.lastAlive })
  }
  if (r.durationMs !== r.lastAlive - r.startTime) fail('E_REPORT_DURATION', 'exit report durationMs must equal lastAlive − startTime', { durationMs: r.durationMs, startTime: r.startTime, lastAlive: r.lastAlive })
  return r
}

/** The canonical serialisation: JSON with the fixed key order above, no whitespace. */
export function canonicalExitReport (r: ExitReport): string {
  const p = parseExitReport(r)
  return JSON.stringify({
    version: p.version,
    nodeId: p.nodeId,
    containerId: p.containerId,
    image: p.image,
    imageDigest: p.imageDigest,
    startTime: p.startTime,
    attestedFrom: p.attestedFrom,
    lastAlive: p.lastAlive,
    durationMs: p.durationMs,
    reservations: { nanoCpus: p.reservations.nanoCpus, memoryBytes: p.reservations.memoryBytes },
    pollsAnswered: p.pollsAnswered,
    pollsMissed: p.pollsMissed,
    healthy: p.healthy,
    agentPublicKey: p.agentPublicKey,
    certificate: p.certificate
  })
}

export function exitReportMessage (r: ExitReport): Uint8Array {
  return taggedHash('attest-exit-report', Buffer.from(canonicalExitReport(r), 'utf8'))
}

export function signExitReport (signer: Signer, r: ExitReport): SignedExitReport {
  const report = parseExitReport(r)
  if (Buffer.from(signer.publicKey).toString('hex') !== report.agentPublicKey) fail('E_REPORT_KEY', 'exit report names another agent key than the signer', { agentPublicKey: report.agentPublicKey })
  return { report, signature: Buffer.from(signer.sign(exitReportMessage(report))).toString('hex') }
}

/**
 * Verifies a signed exit report (shape, times, signature by the agent key it names). The certificate
 * chain (agent key ↔ certificate ↔ CA ↔ node) is checked by the node's PKI, which parses X.509.
 */
export function verifyExitReport (x: unknown): ExitReport {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) fail('E_REPORT_FIELD', 'signed exit report must be {report, signature}')
  const o = x as Record<string, unknown>
  if (typeof o.signature !== 'string' || !/^[0-9a-f]{128}$/.test(o.signature)) fail('E_REPORT_SIGNATURE', 'exit report signature must be 128 hex characters')
  const report = parseExitReport(o.report)
  if (!verify(Buffer.from(report.agentPublicKey, 'hex'), exitReportMessage(report), Buffer.from(o.signature, 'hex'))) {
    fail('E_REPORT_SIGNATURE', 'exit report signature does not verify', { containerId: report.containerId })
  }
  return report
}

// ---- per-epoch credit ------------------------------------------------------------------------------------

/** Half-open interval [from, to) in ms. */
export interface Interval { from: bigint, to: bigint }

export interface DaemonWitness {
  /** When dockerd says the container ran (events API / inspect), as observed while the node watched. */
  intervals: Interval[]
  /** From the create body / inspect (HostConfig.NanoCpus or CpuQuota/CpuPeriod, HostConfig.Memory). */
  reservation: Reservation
  /** Cumulative cgroup CPU usage read from stats; null = the cgroup was never readable. */
  cpuUsageNs: bigint | null
}

export interface PollOutcome { window: bigint, answered: boolean, healthy: boolean }

export interface AgentWitness {
  /** From the agent's latest verified signed span. */
  attestedFrom: bigint
  lastAlive: bigint
  reservation: Reservation
  /** Every challenge the node issued to this agent (answered or not). */
  polls: PollOutcome[]
}

export interface WorkloadWitness { containerId: string, daemon: DaemonWitness, agent: AgentWitness | null }

export type CreditReason = 'credited' | 'no-agent' | 'no-cgroup-usage' | 'missed-poll' | 'unhealthy' | 'not-running'

export interface WorkloadCredit {
  containerId: string
  cu: bigint
  /** Attested milliseconds inside the epoch (before the capacity cap). */
  attestedMs: bigint
  /** min(daemon, agent, capacity) reservation before the simultaneous-capacity fit. */
  reservation: Reservation
  reason: CreditReason
}

export interface EpochCreditInput {
  epochStart: bigint
  epochEnd: bigint
  capacity: Reservation
  workloads: WorkloadWitness[]
  windowMs?: bigint
}

function intersect (a: Interval[], b: Interval): Interval[] {
  const out: Interval[] = []
  for (const i of a) {
    const from = i.from > b.from ? i.from : b.from
    const to = i.to < b.to ? i.to : b.to
    if (from < to) out.push({ from, to })
  }
  return out
}

function merge (list: Interval[]): Interval[] {
  const sorted = [...list].sort((x, y) => (x.from < y.from ? -1 : x.from > y.from ? 1 : 0))
  const out: Interval[] = []
  for (const i of sorted) {
    const last = out[out.length - 1]
    if (last !== undefined && i.from <= last.to) { if (i.to > last.to) last.to = i.to } else out.push({ ...i })
  }
  return out
}

const minBig = (a: bigint, b: bigint): bigint => (a < b ? a : b)

/**
 * Compute units of each workload for one epoch [epochStart, epochEnd):
 *  - 0 without an agent witness, without any cgroup CPU usage, or with a missed or unhealthy poll in a
 *    window overlapping the epoch;
 *  - otherwise the time both witnesses agree on (daemon running intervals ∩ [attestedFrom, lastAlive) ∩ epoch)
 *    × the smaller reservation of the two witnesses, where at every moment the reservations of all credited
 *    workloads are scaled down together (fitToCapacity) so their sum never exceeds the declared capacity.
 * CU = Σ over the distinct fitted reservations of computeUnits(ms at that reservation, reservation).
 */
export function epochCredit (input: EpochCreditInput): { total: bigint, workloads: WorkloadCredit[] } {
  const { epochStart: S, epochEnd: E, capacity } = input
  const windowMs = input.windowMs ?? POLL_WINDOW_MS
  if (E <= S) fail('E_ATTEST_EPOCH', 'epoch end must be after its start', { epochStart: S, epochEnd: E })
  const seen = new Set<string>()
  const rows = [...input.workloads].sort((a, b) => (a.containerId < b.containerId ? -1 : a.containerId > b.containerId ? 1 : 0)).map((w) => {
    containerIdBytes(w.containerId)
    if (seen.has(w.containerId)) fail('E_ATTEST_DUPLICATE', 'workload listed twice', { containerId: w.containerId })
    seen.add(w.containerId)
    const zero = { nanoCpus: 0n, memoryBytes: 0n }
    const row = { w, reason: 'credited' as CreditReason, spans: [] as Interval[], reservation: zero }
    const a = w.agent
    if (a === null) { row.reason = 'no-agent'; return row }
    row.reservation = {
      nanoCpus: minBig(minBig(w.daemon.reservation.nanoCpus, a.reservation.nanoCpus), capacity.nanoCpus),
      memoryBytes: minBig(minBig(w.daemon.reservation.memoryBytes, a.reservation.memoryBytes), capacity.memoryBytes)
    }
    for (const p of a.polls) {
      const ws = p.window * windowMs
      if (ws >= E || ws + windowMs <= S) continue
      if (!p.answered) { row.reason = 'missed-poll'; return row }
      if (!p.healthy && row.reason === 'credited') row.reason = 'unhealthy'
    }
    if (row.reason !== 'credited') return row
    if (w.daemon.cpuUsageNs === null || w.daemon.cpuUsageNs <= 0n) { row.reason = 'no-cgroup-usage'; return row }
    const agentSpan = { from: a.attestedFrom > S ? a.attestedFrom : S, to: a.lastAlive < E ? a.lastAlive : E }
    row.spans = agentSpan.from < agentSpan.to ? merge(intersect(w.daemon.intervals, agentSpan)) : []
    if (row.spans.length === 0) row.reason = 'not-running'
    return row
  })

  // Sweep the epoch: between consecutive breakpoints the set of running credited workloads is constant.
  const points = new Set<bigint>()
  for (const r of rows) for (const s of r.spans) { points.add(s.from); points.add(s.to) }
  const sorted = [...points].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const buckets = rows.map(() => new Map<string, { r: Reservation, ms: bigint }>())
  const attested = rows.map(() => 0n)
  for (let i = 0; i + 1 < sorted.length; i++) {
    const from = sorted[i]
    const to = sorted[i + 1]
    const active: number[] = []
    rows.forEach((r, k) => { if (r.spans.some((s) => s.from <= from && to <= s.to)) active.push(k) })
    if (active.length === 0) continue
    const fitted = fitToCapacity(active.map((k) => rows[k].reservation), capacity)
    active.forEach((k, j) => {
      const key = `${fitted[j].nanoCpus}/${fitted[j].memoryBytes}`
      const b = buckets[k].get(key)
      if (b === undefined) buckets[k].set(key, { r: fitted[j], ms: to - from })
      else b.ms += to - from
      attested[k] += to - from
    })
  }
  let total = 0n
  const workloads = rows.map((row, k) => {
    let cu = 0n
    for (const b of buckets[k].values()) cu += computeUnits(b.ms, b.r)
    total += cu
    return { containerId: row.w.containerId, cu, attestedMs: attested[k], reservation: row.reservation, reason: row.reason }
  })
  return { total, workloads }
}

// ---- records in the node's attestations core -------------------------------------------------------------

export type AttestationRecord =
  | { type: 'econumi/ca', version: 1, nodeId: string, caCertificate: string, caFingerprint: string, endorsement: string }
  | { type: 'econumi/exit-report', version: 1, report: ExitReport, signature: string }

/** An evidence record: this byte, then protocol/evidence.ts encodeEvidence (JSON records start with '{'). */
export const EVIDENCE_RECORD_TAG = 0x01

export function encodeEvidenceRecord (evidence: Uint8Array): Uint8Array { return Buffer.concat([Buffer.from([EVIDENCE_RECORD_TAG]), evidence]) }

/** A fraud operation too large for a wire frame, published by its auditor (node/fraud-relay.ts): this byte, then protocol/ops.ts encodeOp. */
export const FRAUD_RECORD_TAG = 0x02

export function encodeFraudRecord (op: Uint8Array): Uint8Array { return Buffer.concat([Buffer.from([FRAUD_RECORD_TAG]), op]) }

/** Records are UTF-8 JSON; exit reports keep their canonical field order. */
export function encodeAttestationRecord (r: AttestationRecord): Uint8Array {
  if (r.type === 'econumi/exit-report') {
    return Buffer.from(`{"type":"econumi/exit-report","version":1,"report":${canonicalExitReport(r.report)},"signature":${JSON.stringify(r.signature)}}`, 'utf8')
  }
  return Buffer.from(JSON.stringify({ type: r.type, version: 1, nodeId: r.nodeId, caCertificate: r.caCertificate, caFingerprint: r.caFingerprint, endorsement: r.endorsement }), 'utf8')
}

/** What the node's identity key signs to endorse its CA: the SHA-256 fingerprint of the CA certificate's DER. */
export function caEndorsementMessage (nodeId: string, caFingerprint: Uint8Array): Uint8Array {
  if (caFingerprint.length !== 32) fail('E_ATTEST_FINGERPRINT', 'CA fingerprint must be 32 bytes (SHA-256)', { length: caFingerprint.length })
  if (!HEX_KEY.test(nodeId)) fail('E_ATTEST_NODE_ID', 'node id must be 64 hex characters', { nodeId: String(nodeId).slice(0, 80) })
  return taggedHash('attest-ca-endorsement', Buffer.from(nodeId, 'hex'), caFingerprint)
}

export function verifyCaEndorsement (nodeId: string, caFingerprint: Uint8Array, signature: Uint8Array): void {
  if (!verify(Buffer.from(nodeId, 'hex'), caEndorsementMessage(nodeId, caFingerprint), signature)) {
    fail('E_CA_ENDORSEMENT', 'the node identity key did not endorse this CA', { nodeId })
  }
}
