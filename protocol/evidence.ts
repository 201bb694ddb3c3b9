// The evidence behind one work report (node K, epoch E), its Merkle root (the report's evidenceRoot), and the
// recomputation of the report's compute units from it (README "Evidence and audits"). Pure: X.509 is parsed
// by an injected CertificateChecker (the node's, with node:crypto), and every time is an argument.
//
// Per workload the evidence holds the agent's certificate, the agent's signed span and reservation, the daemon
// witness signed by the node, and the agent's checkpoints: one signed poll answer per 5 s window, each hashing
// the previous one. The poll nonces derive from the node's per-epoch poll secret, a VRF output that the
// evidence reveals, so anyone can recompute them.
// One file on purpose: the evidence encoding and its verification must change together.
import { type AgentWitness, type DaemonWitness, type PollOutcome, type WorkloadCredit, type WorkloadWitness, POLL_WINDOW_MS, caEndorsementMessage, epochCredit, windowStart } from './attestation.js'
import type { Reservation } from './compute-units.js'
import {
  type AgentSpan, type Checkpoint, agentSpanMessage, checkpointHash, checkpointMessage, containerIdBytes, evidenceNonce, u64, writeCheckpoint, writeReservation
} from './checkpoint.js'
import { Reader, Writer, equalBytes, toHex } from './encoding.js'
import { fail, isEconumiError } from './errors.js'
import { HASH_LENGTH, merkleRoot, sha256, taggedHash } from './hash.js'
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, type Signer, verify } from './keys.js'
import { MAX_CERT_BYTES, MAX_MEMORY_BYTES, MAX_MILLICORES } from './limits.js'
import { type NetworkParams, epochOf, epochStart } from './params.js'
import type { WorkReport } from './report.js'
import { VRF_PROOF_LENGTH, vrfProofToHash, vrfProve, vrfVerify } from './vrf.js'

export {
  type AgentSpan, type Checkpoint, type CheckpointBody, agentSpanMessage, checkpointHash, checkpointMessage, evidenceNonce, signAgentSpan, signCheckpoint
} from './checkpoint.js'

export const EVIDENCE_VERSION = 1
export const MAX_EVIDENCE_WORKLOADS = 1024
/** The longest epoch whose every window fits MAX_CHECKPOINTS_PER_WORKLOAD: one hour. */
export const MAX_EVIDENCE_EPOCH_MS = 3_600_000n
/** One checkpoint per window of the longest epoch, plus the anchoring one from the previous epoch. */
export const MAX_CHECKPOINTS_PER_WORKLOAD = Number(MAX_EVIDENCE_EPOCH_MS / POLL_WINDOW_MS) + 1
export const MAX_INTERVALS = 256
/** The epoch's own secret and the previous epoch's (for an anchoring window that starts there). */
export const MAX_POLL_SECRETS = 64
/** The whole encoded evidence of one node-epoch; it binds before the count bounds do on long epochs. */
export const MAX_EVIDENCE_BYTES = 4 * 1024 * 1024
/** Merkle depth of the largest evidence: ceil(log2(1 + MAX_EVIDENCE_WORKLOADS)) levels. */
export const MAX_EVIDENCE_PROOF_LENGTH = 11
/** Times are milliseconds in Date's range. */
export const MAX_TIME_MS = 8_640_000_000_000_000n
const MAX_NANO_CPUS = MAX_MILLICORES * 1_000_000n
const CONTAINER_ID = /^[0-9a-f]{64}$/

const minBig = (a: bigint, b: bigint): bigint => (a < b ? a : b)
const maxBig = (a: bigint, b: bigint): bigint => (a > b ? a : b)

// ---- types ------------------------------------------------------------------------------------------------

/** The node's VRF proof for one epoch's poll secret. */
export interface PollSecretReveal { epoch: bigint, proof: Uint8Array }

export interface WorkloadEvidence {
  containerId: string
  agentKey: Uint8Array
  /** DER, issued by the node CA, naming econumi://<node>/container/<id>. */
  agentCertificate: Uint8Array
  agentSpan: AgentSpan
  agentReservation: Reservation
  /** The agent's signature over agentSpanMessage (it re-signs with every checkpoint; this is the latest). */
  agentSpanSignature: Uint8Array
  daemon: DaemonWitness
  /** The node key's signature over daemonWitnessMessage. */
  daemonSignature: Uint8Array
  /** Sorted by window, strictly increasing. */
  checkpoints: Checkpoint[]
}

export interface EvidenceHeader {
  version: number
  nodeKey: Uint8Array
  epoch: bigint
  epochStart: bigint
  epochEnd: bigint
  /** Declared capacity; the recomputation caps it by the registered one. */
  capacity: Reservation
  /** The node CA's DER; the header leaf commits its SHA-256 (the fingerprint the endorsement signs). */
  caCertificate: Uint8Array
  caEndorsement: Uint8Array
  /** Sorted by epoch, strictly increasing; each is E or E−1. */
  pollSecrets: PollSecretReveal[]
}

export interface EpochEvidence extends EvidenceHeader {
  /** Sorted by containerId, unique. */
  workloads: WorkloadEvidence[]
}

export interface AgentCertificateQuery { caCertificate: Uint8Array, agentCertificate: Uint8Array, nodeId: string, containerId: string, at: bigint }

/** Chain agent certificate → node CA, naming this node and container (URI SAN), valid at `at`; returns the Ed25519 key it holds, else throws an EconumiError. */
export interface CertificateChecker { agentKey: (o: AgentCertificateQuery) => Uint8Array }

export interface EvidenceContext {
  params: NetworkParams
  genesis: Uint8Array
  /** The node's capacity on chain; null where none is registered (a devnet). */
  registeredCapacity: Reservation | null
  certificates: CertificateChecker
}

// ---- poll secrets and nonces --------------------------------------------------------------------------------

// The poll secret of an epoch is the node's VRF output on (genesis, epoch). VRF uniqueness means the node's
// public key already commits to every future epoch's secret, so none can be chosen after the fact, and nobody
// without the key can predict one before it is revealed: stronger than a hash commit-reveal, and it needs no
// previous report.
export function pollSecretInput (genesis: Uint8Array, epoch: bigint): Uint8Array {
  return taggedHash('poll-secret', genesis, u64(epoch))
}

export function pollSecretFor (signer: Signer, genesis: Uint8Array, epoch: bigint): { epoch: bigint, proof: Uint8Array, secret: Uint8Array } {
  const proof = vrfProve(signer.seed, pollSecretInput(genesis, epoch))
  return { epoch, proof, secret: vrfProofToHash(proof) }
}

/** The 64-byte secret a valid proof reveals. */
export function verifyPollSecret (nodeKey: Uint8Array, genesis: Uint8Array, epoch: bigint, proof: Uint8Array): Uint8Array {
  return vrfVerify(nodeKey, proof, pollSecretInput(genesis, epoch)) ?? fail('E_EVIDENCE_POLL_SECRET', 'poll secret proof does not verify with the node key', { node: toHex(nodeKey), epoch })
}

// ---- what the node signs (the agent's part is in protocol/checkpoint.ts) ---------------------------------------------

export function daemonWitnessMessage (genesis: Uint8Array, nodeKey: Uint8Array, epoch: bigint, containerId: string, daemon: DaemonWitness): Uint8Array {
  return taggedHash('daemon-witness', genesis, nodeKey, u64(epoch), containerIdBytes(containerId), writeDaemon(new Writer(64), daemon).finish())
}

export function signDaemonWitness (node: Signer, genesis: Uint8Array, epoch: bigint, containerId: string, daemon: DaemonWitness): Uint8Array {
  return node.sign(daemonWitnessMessage(genesis, node.publicKey, epoch, containerId, daemon))
}

// ---- encoding -----------------------------------------------------------------------------------------------
// header   = u8 version ‖ nodeKey(32) ‖ u64 epoch ‖ u64 epochStart ‖ u64 epochEnd ‖ reservation ‖ bytes caCertificate
//            ‖ caEndorsement(64) ‖ u32 n ‖ n × (u64 epoch ‖ proof(80))
// workload = containerId(32) ‖ agentKey(32) ‖ bytes agentCertificate ‖ u64 attestedFrom ‖ u64 lastAlive ‖ reservation
//            ‖ spanSignature(64) ‖ daemon ‖ daemonSignature(64) ‖ u32 n ‖ n × checkpoint
// daemon   = u32 n ‖ n × (u64 from ‖ u64 to) ‖ reservation ‖ u8 hasCpu ‖ [u64 cpuUsageNs]
// checkpoint = u64 window ‖ nonce(32) ‖ u8 healthy ‖ prev(32) ‖ signature(64);  reservation = u64 nanoCpus ‖ u64 memoryBytes
// evidence = header ‖ u32 n ‖ n × workload

function readReservation (r: Reader): Reservation { return { nanoCpus: r.u64(), memoryBytes: r.u64() } }

function readFlag (r: Reader, field: string): boolean {
  const b = r.u8()
  if (b > 1) fail('E_EVIDENCE_DECODE', `evidence flag ${field} must be 0 or 1`, { field, value: b })
  return b === 1
}

function writeDaemon (w: Writer, d: DaemonWitness): Writer {
  w.u32(d.intervals.length)
  for (const i of d.intervals) w.u64(i.from).u64(i.to)
  writeReservation(w, d.reservation)
  return d.cpuUsageNs === null ? w.u8(0) : w.u8(1).u64(d.cpuUsageNs)
}

function readDaemon (r: Reader): DaemonWitness {
  const intervals = Array.from({ length: r.count(MAX_INTERVALS) }, () => ({ from: r.u64(), to: r.u64() }))
  const reservation = readReservation(r)
  return { intervals, reservation, cpuUsageNs: readFlag(r, 'cpuUsageNs') ? r.u64() : null }
}

function readCheckpoint (r: Reader): Checkpoint {
  return { window: r.u64(), nonce: r.fixed(HASH_LENGTH), healthy: readFlag(r, 'healthy'), prev: r.fixed(HASH_LENGTH), signature: r.fixed(SIGNATURE_LENGTH) }
}

export function writeWorkloadEvidence (w: Writer, x: WorkloadEvidence): Writer {
  w.fixed(containerIdBytes(x.containerId), 32).fixed(x.agentKey, PUBLIC_KEY_LENGTH).bytes(x.agentCertificate).u64(x.agentSpan.attestedFrom).u64(x.agentSpan.lastAlive)
  writeReservation(w, x.agentReservation).fixed(x.agentSpanSignature, SIGNATURE_LENGTH)
  writeDaemon(w, x.daemon).fixed(x.daemonSignature, SIGNATURE_LENGTH).u32(x.checkpoints.length)
  for (const c of x.checkpoints) writeCheckpoint(w, c)
  return w
}

/** Reads one workload and checks its form (bounds and order). */
export function readWorkloadEvidence (r: Reader): WorkloadEvidence {
  const x: WorkloadEvidence = {
    containerId: toHex(r.fixed(32)),
    agentKey: r.fixed(PUBLIC_KEY_LENGTH),
    agentCertificate: r.bytes(MAX_CERT_BYTES),
    agentSpan: { attestedFrom: r.u64(), lastAlive: r.u64() },
    agentReservation: readReservation(r),
    agentSpanSignature: r.fixed(SIGNATURE_LENGTH),
    daemon: readDaemon(r),
    daemonSignature: r.fixed(SIGNATURE_LENGTH),
    checkpoints: []
  }
  x.checkpoints = Array.from({ length: r.count(MAX_CHECKPOINTS_PER_WORKLOAD) }, () => readCheckpoint(r))
  checkWorkloadForm(x)
  return x
}

function writeHeaderStart (w: Writer, h: EvidenceHeader): Writer {
  return writeReservation(w.u8(h.version).fixed(h.nodeKey, PUBLIC_KEY_LENGTH).u64(h.epoch).u64(h.epochStart).u64(h.epochEnd), h.capacity)
}

function writeHeaderEnd (w: Writer, h: EvidenceHeader): Writer {
  w.fixed(h.caEndorsement, SIGNATURE_LENGTH).u32(h.pollSecrets.length)
  for (const s of h.pollSecrets) w.u64(s.epoch).fixed(s.proof, VRF_PROOF_LENGTH)
  return w
}

export function writeEvidenceHeader (w: Writer, h: EvidenceHeader): Writer { return writeHeaderEnd(writeHeaderStart(w, h).bytes(h.caCertificate), h) }

/** Reads a header and checks its form. */
export function readEvidenceHeader (r: Reader): EvidenceHeader {
  const h: EvidenceHeader = {
    version: r.u8(),
    nodeKey: r.fixed(PUBLIC_KEY_LENGTH),
    epoch: r.u64(),
    epochStart: r.u64(),
    epochEnd: r.u64(),
    capacity: readReservation(r),
    caCertificate: r.bytes(MAX_CERT_BYTES),
    caEndorsement: r.fixed(SIGNATURE_LENGTH),
    pollSecrets: []
  }
  h.pollSecrets = Array.from({ length: r.count(MAX_POLL_SECRETS) }, () => ({ epoch: r.u64(), proof: r.fixed(VRF_PROOF_LENGTH) }))
  checkHeaderForm(h)
  return h
}

/** The header fields of an evidence (what leaf 0 commits). */
export function evidenceHeader (ev: EpochEvidence): EvidenceHeader {
  return { version: ev.version, nodeKey: ev.nodeKey, epoch: ev.epoch, epochStart: ev.epochStart, epochEnd: ev.epochEnd, capacity: ev.capacity, caCertificate: ev.caCertificate, caEndorsement: ev.caEndorsement, pollSecrets: ev.pollSecrets }
}

export function encodeEvidence (ev: EpochEvidence): Uint8Array {
  checkEvidenceForm(ev)
  const w = writeEvidenceHeader(new Writer(4096), ev).u32(ev.workloads.length)
  for (const x of ev.workloads) writeWorkloadEvidence(w, x)
  const bytes = w.finish()
  if (bytes.length > MAX_EVIDENCE_BYTES) fail('E_EVIDENCE_SIZE', 'evidence is larger than allowed', { size: bytes.length, max: MAX_EVIDENCE_BYTES })
  return bytes
}

export function decodeEvidence (bytes: Uint8Array): EpochEvidence {
  if (bytes.length > MAX_EVIDENCE_BYTES) fail('E_EVIDENCE_SIZE', 'evidence is larger than allowed', { size: bytes.length, max: MAX_EVIDENCE_BYTES })
  const r = new Reader(bytes, 'evidence')
  const h = readEvidenceHeader(r)
  const workloads = Array.from({ length: r.count(MAX_EVIDENCE_WORKLOADS) }, () => readWorkloadEvidence(r))
  r.end()
  const ev = { ...h, workloads }
  checkWorkloadOrder(ev)
  return ev
}

// ---- form: bounds and order, before any signature ----------------------------------------------------------------

function range (v: bigint, max: bigint, field: string): void {
  if (v < 0n || v > max) fail('E_EVIDENCE_FORM', `evidence field ${field} out of range`, { field, value: v, max })
}

function checkReservation (r: Reservation, field: string): void {
  range(r.nanoCpus, MAX_NANO_CPUS, `${field}.nanoCpus`)
  range(r.memoryBytes, MAX_MEMORY_BYTES, `${field}.memoryBytes`)
}

function checkCount (n: number, max: number, field: string): void {
  if (n > max) fail('E_EVIDENCE_FORM', `evidence has too many ${field}`, { field, count: n, max })
}

function checkHeaderForm (h: EvidenceHeader): void {
  if (h.version !== EVIDENCE_VERSION) fail('E_EVIDENCE_FORM', 'unsupported evidence version', { version: h.version })
  checkReservation(h.capacity, 'capacity')
  checkCount(h.caCertificate.length, MAX_CERT_BYTES, 'CA certificate bytes')
  checkCount(h.pollSecrets.length, MAX_POLL_SECRETS, 'poll secrets')
  for (let i = 1; i < h.pollSecrets.length; i++) {
    if (h.pollSecrets[i].epoch <= h.pollSecrets[i - 1].epoch) fail('E_EVIDENCE_ORDER', 'poll secrets must be sorted by epoch, each once', { epoch: h.pollSecrets[i].epoch })
  }
}

function checkWorkloadForm (x: WorkloadEvidence): void {
  if (typeof x.containerId !== 'string' || !CONTAINER_ID.test(x.containerId)) fail('E_EVIDENCE_FORM', 'container id must be 64 lowercase hex characters', { containerId: String(x.containerId).slice(0, 80) })
  checkCount(x.agentCertificate.length, MAX_CERT_BYTES, 'agent certificate bytes')
  range(x.agentSpan.lastAlive, MAX_TIME_MS, 'agentSpan.lastAlive')
  range(x.agentSpan.attestedFrom, x.agentSpan.lastAlive, 'agentSpan.attestedFrom')
  checkReservation(x.agentReservation, 'agentReservation')
  checkReservation(x.daemon.reservation, 'daemon.reservation')
  checkCount(x.daemon.intervals.length, MAX_INTERVALS, 'daemon intervals')
  let end = 0n
  for (const i of x.daemon.intervals) {
    // sorted, disjoint, non-empty: one canonical form per set of running times
    range(i.to, MAX_TIME_MS, 'daemon.intervals.to')
    if (i.from < end || i.from >= i.to) fail('E_EVIDENCE_ORDER', 'daemon intervals must be non-empty, sorted and disjoint', { containerId: x.containerId, from: i.from, to: i.to })
    end = i.to
  }
  checkCount(x.checkpoints.length, MAX_CHECKPOINTS_PER_WORKLOAD, 'checkpoints')
  for (let i = 1; i < x.checkpoints.length; i++) {
    if (x.checkpoints[i].window <= x.checkpoints[i - 1].window) fail('E_EVIDENCE_ORDER', 'checkpoints must be sorted by window, each once', { containerId: x.containerId, window: x.checkpoints[i].window })
  }
}

function checkWorkloadOrder (ev: EpochEvidence): void {
  checkCount(ev.workloads.length, MAX_EVIDENCE_WORKLOADS, 'workloads')
  for (let i = 1; i < ev.workloads.length; i++) {
    if (ev.workloads[i].containerId <= ev.workloads[i - 1].containerId) fail('E_EVIDENCE_ORDER', 'workloads must be sorted by container id, each once', { containerId: ev.workloads[i].containerId })
  }
}

/** Bounds and order of a whole evidence object (decodeEvidence checks the same while reading). */
export function checkEvidenceForm (ev: EpochEvidence): void {
  checkHeaderForm(ev)
  for (const x of ev.workloads) checkWorkloadForm(x)
  checkWorkloadOrder(ev)
}

// ---- Merkle root ----------------------------------------------------------------------------------------------

/** Leaf 0: the header, committing the CA certificate by its SHA-256 fingerprint. */
export function headerLeaf (h: EvidenceHeader): Uint8Array {
  return taggedHash('evidence-header', writeHeaderEnd(writeHeaderStart(new Writer(512), h).fixed(sha256(h.caCertificate), HASH_LENGTH), h).finish())
}

/** Leaves 1…n: one per workload, in the evidence's order. */
export function workloadLeaf (x: WorkloadEvidence): Uint8Array {
  return taggedHash('evidence-workload', writeWorkloadEvidence(new Writer(4096), x).finish())
}

export function evidenceLeaves (ev: EpochEvidence): Uint8Array[] { return [headerLeaf(ev), ...ev.workloads.map(workloadLeaf)] }

/**
 * merkleRoot over at least the header leaf, so never merkleRoot's empty value; and, being a SHA-256 output, not
 * ZERO_HASH (which marks an unattested report) except with probability 2^-256.
 */
export function evidenceRoot (ev: EpochEvidence): Uint8Array { return merkleRoot(evidenceLeaves(ev)) }

// ---- checks ------------------------------------------------------------------------------------------------------

/** Epoch bounds, the CA endorsement, and the poll secrets: returns the secret of each revealed epoch. */
export function checkEvidenceHeader (h: EvidenceHeader, ctx: Pick<EvidenceContext, 'params' | 'genesis'>): Map<bigint, Uint8Array> {
  const start = epochStart(ctx.params, h.epoch)
  const end = epochStart(ctx.params, h.epoch + 1n)
  if (h.epochStart !== start || h.epochEnd !== end) fail('E_EVIDENCE_EPOCH', 'evidence epoch bounds are not the epoch\'s', { epoch: h.epoch, epochStart: h.epochStart, epochEnd: h.epochEnd, expectedStart: start, expectedEnd: end })
  checkCaEndorsement(h)
  const secrets = new Map<bigint, Uint8Array>()
  for (const s of h.pollSecrets) {
    // the epochs a window overlapping [S, E) can start in: E, E−1, and more when epochs are shorter than a window
    if (epochStart(ctx.params, s.epoch) >= h.epochEnd || epochStart(ctx.params, s.epoch + 1n) < h.epochStart - POLL_WINDOW_MS) fail('E_EVIDENCE_POLL_SECRET', 'evidence reveals the poll secret of an epoch no window of this epoch starts in', { epoch: h.epoch, secretEpoch: s.epoch })
    secrets.set(s.epoch, verifyPollSecret(h.nodeKey, ctx.genesis, s.epoch, s.proof))
  }
  return secrets
}

/** The node's identity key signed the SHA-256 fingerprint of the CA certificate's DER (as node/attestation/pki.ts). */
export function checkCaEndorsement (h: EvidenceHeader): void {
  if (!verify(h.nodeKey, caEndorsementMessage(toHex(h.nodeKey), sha256(h.caCertificate)), h.caEndorsement)) {
    fail('E_EVIDENCE_CA_ENDORSEMENT', 'the node key did not endorse the evidence\'s CA certificate', { node: toHex(h.nodeKey) })
  }
}

/** The agent certificate chains to the node CA, names this node and container, and holds workload.agentKey. */
export function checkAgentCertificate (h: EvidenceHeader, x: WorkloadEvidence, certificates: CertificateChecker): void {
  // When the agent first answered: its certificate was issued before that.
  const at = x.checkpoints.length > 0 ? windowStart(x.checkpoints[0].window) : h.epochStart
  let key: Uint8Array
  try {
    key = certificates.agentKey({ caCertificate: h.caCertificate, agentCertificate: x.agentCertificate, nodeId: toHex(h.nodeKey), containerId: x.containerId, at })
  } catch (err) {
    if (!isEconumiError(err)) throw err
    return fail('E_EVIDENCE_CERTIFICATE', 'agent certificate does not chain to the node CA for this container', { containerId: x.containerId, cause: err.code })
  }
  if (!equalBytes(key, x.agentKey)) fail('E_EVIDENCE_AGENT_KEY', 'agent certificate holds another key than the evidence names', { containerId: x.containerId })
}

/** Everything about one workload: certificate, span and daemon signatures, and its checkpoint chain. */
export function checkWorkloadEvidence (h: EvidenceHeader, x: WorkloadEvidence, ctx: Pick<EvidenceContext, 'params' | 'genesis' | 'certificates'>, secrets: Map<bigint, Uint8Array>): void {
  const cid = x.containerId
  checkAgentCertificate(h, x, ctx.certificates)
  if (!verify(x.agentKey, agentSpanMessage(cid, x.agentSpan, x.agentReservation), x.agentSpanSignature)) fail('E_EVIDENCE_SPAN_SIGNATURE', 'agent span signature does not verify', { containerId: cid })
  if (!verify(h.nodeKey, daemonWitnessMessage(ctx.genesis, h.nodeKey, h.epoch, cid, x.daemon), x.daemonSignature)) fail('E_EVIDENCE_DAEMON_SIGNATURE', 'daemon witness signature does not verify with the node key', { containerId: cid })
  let prev: Uint8Array | null = null // checkpoints[0].prev links to earlier evidence: not checked here
  const last = x.checkpoints[x.checkpoints.length - 1]
  for (const c of x.checkpoints) {
    const ws = windowStart(c.window)
    const e = epochOf(ctx.params, ws)
    // a window overlapping the epoch, or the one ending at its start (an anchor: a gap after it is a missed poll)
    if (e < 0n || ws >= h.epochEnd || ws + POLL_WINDOW_MS < h.epochStart) fail('E_EVIDENCE_CHECKPOINT_WINDOW', 'checkpoint window neither overlaps the epoch nor ends at its start', { containerId: cid, window: c.window, epoch: h.epoch })
    // Only the last signature is verified: each checkpoint hashes the previous one, signature included (checked
    // below), so the agent's signature on the last commits the whole chain — as a Hypercore signs only its tree
    // root. Any altered, dropped or re-signed checkpoint breaks the chain (E_EVIDENCE_CHAIN) or the last signature.
    if (c === last && !verify(x.agentKey, checkpointMessage(cid, c), c.signature)) fail('E_EVIDENCE_CHECKPOINT_SIGNATURE', 'the last checkpoint\'s signature does not verify with the agent key', { containerId: cid, window: c.window })
    const secret = secrets.get(e) ?? fail('E_EVIDENCE_POLL_SECRET', 'evidence does not reveal the poll secret of a checkpoint\'s epoch', { containerId: cid, window: c.window, secretEpoch: e })
    if (!equalBytes(c.nonce, evidenceNonce(secret, cid, c.window))) fail('E_EVIDENCE_NONCE', 'checkpoint nonce is not the challenge of its window', { containerId: cid, window: c.window })
    if (prev !== null && !equalBytes(c.prev, prev)) fail('E_EVIDENCE_CHAIN', 'checkpoint does not hash the previous one', { containerId: cid, window: c.window })
    prev = checkpointHash(cid, c)
  }
}

/** The polls and span the checkpoints prove. Only for checked evidence (windows sorted and within two epochs). */
export function workloadWitness (x: WorkloadEvidence, epochStartMs: bigint): WorkloadWitness {
  const cps = x.checkpoints
  let agent: AgentWitness = { attestedFrom: epochStartMs, lastAlive: epochStartMs, reservation: x.agentReservation, polls: [] }
  if (cps.length > 0) {
    const first = cps[0].window
    const last = cps[cps.length - 1].window
    const polls: PollOutcome[] = []
    // A window between two checkpoints without one is a missed poll: leaving it out cannot hide the miss.
    for (let w = first, k = 0; w <= last; w++) {
      if (cps[k].window === w) polls.push({ window: w, answered: true, healthy: cps[k++].healthy })
      else polls.push({ window: w, answered: false, healthy: false })
    }
    agent = {
      attestedFrom: maxBig(x.agentSpan.attestedFrom, windowStart(first)),
      lastAlive: minBig(x.agentSpan.lastAlive, windowStart(last) + POLL_WINDOW_MS),
      reservation: x.agentReservation,
      polls
    }
  }
  return { containerId: x.containerId, daemon: x.daemon, agent }
}

/**
 * Recomputes the report's compute units: checks every signature and certificate of the evidence, derives each
 * workload's witnesses, caps the declared capacity by the registered one, and applies epochCredit.
 * PERF: per workload one certificate check and 3 Ed25519 verifications (span, daemon witness, the checkpoint
 * chain's last link), whatever the number of checkpoints; per evidence one more and one VRF verification per
 * revealed secret (bench/evidence.ts).
 */
export function creditFromEvidence (ev: EpochEvidence, ctx: EvidenceContext): { total: bigint, workloads: WorkloadCredit[] } {
  checkEvidenceForm(ev)
  const secrets = checkEvidenceHeader(ev, ctx)
  for (const x of ev.workloads) checkWorkloadEvidence(ev, x, ctx, secrets)
  const reg = ctx.registeredCapacity
  const capacity = reg === null ? ev.capacity : { nanoCpus: minBig(ev.capacity.nanoCpus, reg.nanoCpus), memoryBytes: minBig(ev.capacity.memoryBytes, reg.memoryBytes) }
  return epochCredit({ epochStart: ev.epochStart, epochEnd: ev.epochEnd, capacity, workloads: ev.workloads.map((x) => workloadWitness(x, ev.epochStart)) })
}

/** The audit of one report: it names this evidence's node and epoch, commits it, and its CU are what it proves. */
export function checkReportEvidence (report: WorkReport, ev: EpochEvidence, ctx: EvidenceContext): { total: bigint, workloads: WorkloadCredit[] } {
  if (!equalBytes(report.nodeKey, ev.nodeKey) || report.epoch !== ev.epoch) fail('E_EVIDENCE_REPORT', 'evidence is for another node or epoch than the report', { node: toHex(report.nodeKey), epoch: report.epoch, evidenceNode: toHex(ev.nodeKey), evidenceEpoch: ev.epoch })
  if (!equalBytes(evidenceRoot(ev), report.evidenceRoot)) fail('E_EVIDENCE_ROOT', 'evidence is not the one the report commits', { node: toHex(report.nodeKey), epoch: report.epoch })
  const credit = creditFromEvidence(ev, ctx)
  if (credit.total !== report.cu) fail('E_EVIDENCE_CU', 'report compute units differ from the evidence\'s', { node: toHex(report.nodeKey), epoch: report.epoch, reported: report.cu, recomputed: credit.total })
  return credit
}
