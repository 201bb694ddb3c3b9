// Verifiable work evidence (README "Evidence and audits"): the evidence behind a work report, its Merkle root,
// the recomputation of its CU, and fraud proofs. Real keys throughout; certificates through a small fake checker,
// and once through real X.509 certificates from node/attestation/pki.ts checked with node:crypto.
// One file on purpose: every case below (encoding, CU, fraud proofs) builds on the same keys, fake checker and
// checkpoint chains set up at the top.
import t from 'tap'
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type DaemonWitness, type WorkloadWitness, POLL_WINDOW_MS, caEndorsementMessage, epochCredit, windowStart } from '../../protocol/attestation.js'
import type { Reservation } from '../../protocol/compute-units.js'
import { equalBytes, toHex } from '../../protocol/encoding.js'
import { fail } from '../../protocol/errors.js'
import {
  type CertificateChecker, type Checkpoint, type EpochEvidence, type EvidenceContext, type WorkloadEvidence, MAX_CHECKPOINTS_PER_WORKLOAD, MAX_POLL_SECRETS,
  MAX_EVIDENCE_BYTES, MAX_EVIDENCE_WORKLOADS, MAX_INTERVALS, MAX_TIME_MS, checkEvidenceForm, checkReportEvidence, checkpointHash,
  creditFromEvidence, decodeEvidence, encodeEvidence, evidenceLeaves, evidenceNonce, evidenceRoot, pollSecretFor, signAgentSpan, signCheckpoint,
  signDaemonWitness, verifyPollSecret
} from '../../protocol/evidence.js'
import { type EvidenceExcerpt, type FraudContext, type FraudProof, MAX_FRAUD_PROOF_BYTES, checkFraudProof, compactFraudProof, decodeFraudProof, encodeFraudProof, evidenceExcerpt, fraudProofHash } from '../../protocol/fraud.js'
import { ZERO_HASH, merkleRoot, sha256 } from '../../protocol/hash.js'
import type { Signer } from '../../protocol/keys.js'
import { merkleProof, verifyMerkleProof } from '../../protocol/merkle-proof.js'
import { POLL_SECRET_LENGTH } from '../../protocol/checkpoint.js'
import { epochOf, epochStart, genesisHash } from '../../protocol/params.js'
import { type WorkReport, encodeReport, makeReport, reportHash } from '../../protocol/report.js'
import { VRF_OUTPUT_LENGTH } from '../../protocol/vrf.js'
import { agentUri, generateCa, issueAgentCertificate } from '../../node/attestation/pki.js'
import { signerFrom, testParams } from '../helpers/chain.js'

const params = testParams({ epochMs: 60_000n })
const genesis = genesisHash(params)
const EPOCH = 10n
const S = epochStart(params, EPOCH)
const END = epochStart(params, EPOCH + 1n)
const W0 = S / POLL_WINDOW_MS
const CORE = 1_000_000_000n
const GiB = 1n << 30n
const nodeA = signerFrom('evidence-node-a')
const nodeB = signerFrom('evidence-node-b')
const agents = Array.from({ length: 4 }, (_, i) => signerFrom(`evidence-agent-${i}`))
const CID = ['11', '22', '33', '44'].map((b) => b.repeat(32))
const hex = (b: Uint8Array): string => toHex(b)
/** Buffers and Uint8Arrays as hex, bigints as strings: decoders return Buffers where builders used Uint8Arrays. */
function norm (x: unknown): unknown {
  return JSON.parse(JSON.stringify(x, function (this: Record<string, unknown>, k: string, v: unknown) {
    const raw = this[k]
    return raw instanceof Uint8Array ? hex(raw) : typeof raw === 'bigint' ? `${raw}n` : v
  }))
}

// ---- fake certificates: CA = "fake-ca" ‖ node key; agent cert = sha256(CA) ‖ node key ‖ container ‖ agent key --------
const fakeCa = (node: Signer): Uint8Array => Buffer.concat([Buffer.from('fake-ca'), node.publicKey])
const fakeAgentCert = (ca: Uint8Array, node: Signer, cid: string, key: Uint8Array): Uint8Array => Buffer.concat([sha256(ca), node.publicKey, Buffer.from(cid, 'hex'), key])
const fakeChecker: CertificateChecker = {
  agentKey: (o) => {
    const c = Buffer.from(o.agentCertificate)
    if (c.length !== 128 || !c.subarray(0, 32).equals(sha256(o.caCertificate))) fail('E_AGENT_CERT_ISSUER', 'fake: not issued by this CA')
    if (hex(c.subarray(32, 64)) !== o.nodeId || hex(c.subarray(64, 96)) !== o.containerId) fail('E_AGENT_CERT_NAME', 'fake: names another node or container')
    return new Uint8Array(c.subarray(96))
  }
}

// ---- builders ---------------------------------------------------------------------------------------------------
interface WorkloadSpec {
  cid: string
  agent: Signer
  windows?: bigint[]
  unhealthy?: bigint[]
  nanoCpus?: bigint
  memoryBytes?: bigint
  agentNanoCpus?: bigint
  attestedFrom?: bigint
  cpuUsageNs?: bigint | null
  /** the key and container the certificate names (default: the agent's and the workload's) */
  certKey?: Uint8Array
  certCid?: string
}
interface EvidenceSpec {
  node: Signer
  workloads: WorkloadSpec[]
  epoch?: bigint
  capacity?: Reservation
  caCertificate?: Uint8Array
  certificate?: (ca: Uint8Array, node: Signer, cid: string, key: Uint8Array) => Uint8Array
}

const epochWindows = (epoch = EPOCH): bigint[] => Array.from({ length: 13 }, (_, i) => epochStart(params, epoch) / POLL_WINDOW_MS - 1n + BigInt(i)) // anchor + 12

function chain (agent: Signer, cid: string, node: Signer, windows: bigint[], unhealthy: bigint[] = []): Checkpoint[] {
  const secrets = new Map<bigint, Uint8Array>()
  const secretOf = (w: bigint): Uint8Array => {
    const e = epochOf(params, windowStart(w))
    if (!secrets.has(e)) secrets.set(e, pollSecretFor(node, genesis, e < 0n ? 0n : e).secret)
    return secrets.get(e) as Uint8Array
  }
  let prev: Uint8Array = ZERO_HASH
  return windows.map((w) => {
    const c = signCheckpoint(agent, cid, { window: w, nonce: evidenceNonce(secretOf(w), cid, w), healthy: !unhealthy.includes(w), prev })
    prev = checkpointHash(cid, c)
    return c
  })
}

function build (spec: EvidenceSpec): EpochEvidence {
  const epoch = spec.epoch ?? EPOCH
  const start = epochStart(params, epoch)
  const end = epochStart(params, epoch + 1n)
  const ca = spec.caCertificate ?? fakeCa(spec.node)
  const workloads = spec.workloads.map((ws): WorkloadEvidence => {
    const agentReservation = { nanoCpus: ws.agentNanoCpus ?? ws.nanoCpus ?? CORE, memoryBytes: ws.memoryBytes ?? GiB }
    const daemon: DaemonWitness = { intervals: [{ from: start - 10_000n, to: end + 10_000n }], reservation: { nanoCpus: ws.nanoCpus ?? CORE, memoryBytes: ws.memoryBytes ?? GiB }, cpuUsageNs: ws.cpuUsageNs === undefined ? 5_000_000_000n : ws.cpuUsageNs }
    const agentSpan = { attestedFrom: ws.attestedFrom ?? start - 6_000n, lastAlive: end + 1_000n }
    return {
      containerId: ws.cid,
      agentKey: ws.agent.publicKey,
      agentCertificate: (spec.certificate ?? fakeAgentCert)(ca, spec.node, ws.certCid ?? ws.cid, ws.certKey ?? ws.agent.publicKey),
      agentSpan,
      agentReservation,
      agentSpanSignature: signAgentSpan(ws.agent, ws.cid, agentSpan, agentReservation),
      daemon,
      daemonSignature: signDaemonWitness(spec.node, genesis, epoch, ws.cid, daemon),
      checkpoints: chain(ws.agent, ws.cid, spec.node, ws.windows ?? epochWindows(epoch), ws.unhealthy)
    }
  }).sort((a, b) => (a.containerId < b.containerId ? -1 : 1))
  const secretEpochs = epoch > 0n ? [epoch - 1n, epoch] : [epoch]
  return {
    version: 1,
    nodeKey: spec.node.publicKey,
    epoch,
    epochStart: start,
    epochEnd: end,
    capacity: spec.capacity ?? { nanoCpus: 8n * CORE, memoryBytes: 16n * GiB },
    caCertificate: ca,
    caEndorsement: spec.node.sign(caEndorsementMessage(hex(spec.node.publicKey), sha256(ca))),
    pollSecrets: secretEpochs.map((e) => ({ epoch: e, proof: pollSecretFor(spec.node, genesis, e).proof })),
    workloads
  }
}

const ctx = (over: Partial<EvidenceContext> = {}): EvidenceContext => ({ params, genesis, registeredCapacity: null, certificates: fakeChecker, ...over })
const clone = (ev: EpochEvidence): EpochEvidence => decodeEvidence(encodeEvidence(ev))
const reportFor = (node: Signer, ev: EpochEvidence, cu?: bigint): WorkReport => makeReport(node, genesis, ev.epoch, cu ?? creditFromEvidence(ev, ctx()).total, evidenceRoot(ev))
function fctx (onChain: WorkReport[], over: Partial<FraudContext> = {}): FraudContext {
  return { params, genesis, certificates: fakeChecker, registeredCapacity: () => null, reportOnChain: (h) => onChain.some((r) => equalBytes(reportHash(r), h)), ...over }
}
const roundTrip = (p: FraudProof): FraudProof => decodeFraudProof(encodeFraudProof(p))
const flip = (b: Uint8Array, i = 0): Uint8Array => { const c = new Uint8Array(b); c[i] ^= 1; return c }
/** The witness the default workload stands for, written out by hand (not through evidence.ts). */
function defaultWitness (cid: string, r: Reservation, agentR = r, windows = epochWindows()): WorkloadWitness {
  return {
    containerId: cid,
    daemon: { intervals: [{ from: S - 10_000n, to: END + 10_000n }], reservation: r, cpuUsageNs: 5_000_000_000n },
    agent: { attestedFrom: S - 5_000n, lastAlive: END, reservation: agentR, polls: windows.map((w) => ({ window: w, answered: true, healthy: true })) }
  }
}

// ---- Merkle proofs ----------------------------------------------------------------------------------------------

t.test('Merkle proofs agree with merkleRoot for 1..17 leaves and every index', async (t) => {
  for (let n = 1; n <= 17; n++) {
    const leaves = Array.from({ length: n }, (_, i) => sha256(Buffer.from(`leaf ${i}`)))
    const root = merkleRoot(leaves)
    for (let i = 0; i < n; i++) {
      const proof = merkleProof(leaves, i)
      if (!verifyMerkleProof(root, leaves[i], i, n, proof)) t.fail(`n=${n} i=${i}`)
      if (verifyMerkleProof(root, leaves[(i + 1) % n], i, n, proof) && n > 1) t.fail(`n=${n} i=${i}: another leaf passed`)
      if (proof.length > 0 && verifyMerkleProof(root, leaves[i], i, n, proof.slice(1))) t.fail(`n=${n} i=${i}: a short proof passed`)
      if (verifyMerkleProof(root, leaves[i], i, n, [...proof, root])) t.fail(`n=${n} i=${i}: slack passed`)
    }
  }
  const leaves = Array.from({ length: 5 }, (_, i) => sha256(Buffer.from([i])))
  const root = merkleRoot(leaves)
  t.ok(verifyMerkleProof(root, leaves[3], 3, 5, merkleProof(leaves, 3)))
  t.notOk(verifyMerkleProof(root, leaves[3], 2, 5, merkleProof(leaves, 3)), 'another index')
  t.notOk(verifyMerkleProof(root, leaves[4], 4, 6, merkleProof(leaves, 4)), 'a count that gives the promoted leaf a sibling')
  t.notOk(verifyMerkleProof(root, leaves[3], 3, 5, merkleProof(leaves, 3).map((h) => h.subarray(1))), 'a short sibling')
  t.notOk(verifyMerkleProof(root, leaves[0], 5, 5, []), 'index beyond the count')
  t.notOk(verifyMerkleProof(root, leaves[0], -1, 5, []), 'negative index')
  t.notOk(verifyMerkleProof(root, leaves[0], 0.5, 5, []), 'fractional index')
  t.notOk(verifyMerkleProof(root, leaves[0], 0, 2 ** 60, []), 'unsafe count')
  t.throws(() => merkleProof(leaves, 5), { code: 'E_MERKLE_INDEX' })
  t.throws(() => merkleProof([], 0), { code: 'E_MERKLE_INDEX' })
})

// ---- poll secrets -------------------------------------------------------------------------------------------------

t.test('the poll secret is the node\'s VRF output on (genesis, epoch): anyone verifies it with the node key', async (t) => {
  const s = pollSecretFor(nodeA, genesis, EPOCH)
  t.same(verifyPollSecret(nodeA.publicKey, genesis, EPOCH, s.proof), s.secret)
  t.equal(s.secret.length, 64)
  t.not(hex(pollSecretFor(nodeA, genesis, EPOCH + 1n).secret), hex(s.secret), 'one secret per epoch')
  t.throws(() => verifyPollSecret(nodeB.publicKey, genesis, EPOCH, s.proof), { code: 'E_EVIDENCE_POLL_SECRET' })
  t.throws(() => verifyPollSecret(nodeA.publicKey, genesis, EPOCH + 1n, s.proof), { code: 'E_EVIDENCE_POLL_SECRET' })
  t.throws(() => verifyPollSecret(nodeA.publicKey, sha256(genesis), EPOCH, s.proof), { code: 'E_EVIDENCE_POLL_SECRET' }, 'bound to the network')
  t.throws(() => evidenceNonce(s.secret.subarray(0, 32), CID[0], W0), { code: 'E_ATTEST_SECRET' })
  t.throws(() => evidenceNonce(s.secret, 'xyz', W0), { code: 'E_ATTEST_CONTAINER_ID' })
  t.not(hex(evidenceNonce(s.secret, CID[0], W0)), hex(evidenceNonce(s.secret, CID[0], W0 + 1n)), 'one nonce per window')
  t.equal(POLL_SECRET_LENGTH, VRF_OUTPUT_LENGTH)
})

t.test('what the agent signs loads with Node built-ins only (the agent image has no node_modules)', async (t) => {
  const protocolDir = join(dirname(fileURLToPath(import.meta.url)), '../../protocol')
  const seen = new Set<string>()
  const outside: string[] = []
  const visit = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    for (const m of readFileSync(join(protocolDir, file), 'utf8').matchAll(/^import (?!type )[^']*'([^']+)'/gm)) {
      if (m[1].startsWith('./')) visit(m[1].slice(2).replace(/\.js$/, '.ts'))
      else if (!m[1].startsWith('node:')) outside.push(`${file}: ${m[1]}`)
    }
  }
  visit('checkpoint.ts')
  t.same(outside, [], 'no package outside Node')
  t.ok(seen.has('keys.ts'), 'the walk follows imports')
})

// ---- honest evidence ----------------------------------------------------------------------------------------------

t.test('one workload: stable root, exact round trip, CU = epochCredit of the same witnesses, the honest report passes', async (t) => {
  const ev = build({ node: nodeA, workloads: [{ cid: CID[0], agent: agents[0] }] })
  const root = evidenceRoot(ev)
  t.same(evidenceRoot(ev), root, 'the root is a function of the evidence')
  t.notOk(equalBytes(root, ZERO_HASH), 'never the unattested marker')
  t.same(evidenceLeaves(ev).length, 2)
  const bytes = encodeEvidence(ev)
  const back = decodeEvidence(bytes)
  t.same(norm(back), norm(ev), 'decode(encode(ev)) = ev')
  t.same(evidenceRoot(back), root)
  t.same(encodeEvidence(back), bytes)
  const credit = creditFromEvidence(ev, ctx())
  const r = { nanoCpus: CORE, memoryBytes: GiB }
  const direct = epochCredit({ epochStart: S, epochEnd: END, capacity: ev.capacity, workloads: [defaultWitness(CID[0], r)] })
  t.same(credit, direct, 'the recomputation is epochCredit of the witnesses the evidence proves')
  t.equal(credit.total, 75_000n, '60 s × (1000 millicores + 1 GiB = 250) = 75,000 CU')
  t.equal(credit.workloads[0].reason, 'credited')
  const report = reportFor(nodeA, ev)
  t.same(checkReportEvidence(report, ev, ctx()), credit)
  t.same(checkReportEvidence(report, back, ctx()), credit, 'decoded evidence too')
})

t.test('several workloads: capacity fitting and the reservation of the smaller witness, as epochCredit does it', async (t) => {
  const capacity = { nanoCpus: 3n * CORE, memoryBytes: 16n * GiB }
  const ev = build({
    node: nodeA,
    capacity,
    workloads: [
      { cid: CID[2], agent: agents[2], nanoCpus: 3n * CORE, agentNanoCpus: CORE },
      { cid: CID[0], agent: agents[0] },
      { cid: CID[1], agent: agents[1], nanoCpus: 2n * CORE, memoryBytes: GiB / 2n }
    ]
  })
  t.same(ev.workloads.map((w) => w.containerId), [CID[0], CID[1], CID[2]], 'sorted by container id')
  const credit = creditFromEvidence(ev, ctx())
  const direct = epochCredit({
    epochStart: S,
    epochEnd: END,
    capacity,
    workloads: [
      defaultWitness(CID[0], { nanoCpus: CORE, memoryBytes: GiB }),
      defaultWitness(CID[1], { nanoCpus: 2n * CORE, memoryBytes: GiB / 2n }),
      defaultWitness(CID[2], { nanoCpus: 3n * CORE, memoryBytes: GiB }, { nanoCpus: CORE, memoryBytes: GiB })
    ]
  })
  t.same(credit, direct)
  t.ok(credit.total < 75_000n + 2n * 75_000n + 75_000n, 'four cores of reservations on three cores of capacity are scaled down')
  t.same(norm(decodeEvidence(encodeEvidence(ev))), norm(ev))
  t.same(checkReportEvidence(reportFor(nodeA, ev), ev, ctx()).total, credit.total)
})

t.test('what the checkpoints prove: a gap is a missed poll, an unhealthy answer or no answer earns nothing', async (t) => {
  const windows = epochWindows().filter((w) => w !== W0 + 5n)
  const ev = build({
    node: nodeA,
    workloads: [
      { cid: CID[0], agent: agents[0], windows },
      { cid: CID[1], agent: agents[1], unhealthy: [W0 + 2n] },
      { cid: CID[2], agent: agents[2], windows: [] },
      { cid: CID[3], agent: agents[3], cpuUsageNs: null, windows: epochWindows().slice(1, 4) }
    ]
  })
  const credit = creditFromEvidence(ev, ctx())
  t.same(credit.workloads.map((w) => [w.reason, w.cu]), [['missed-poll', 0n], ['unhealthy', 0n], ['not-running', 0n], ['no-cgroup-usage', 0n]])
  t.equal(credit.total, 0n)
  t.same(norm(decodeEvidence(encodeEvidence(ev))), norm(ev), 'cpuUsageNs null round-trips')
  // a short chain: only the time between its first and last windows counts
  const short = build({ node: nodeA, workloads: [{ cid: CID[0], agent: agents[0], windows: epochWindows().slice(1, 7) }] })
  t.equal(creditFromEvidence(short, ctx()).workloads[0].attestedMs, 30_000n, 'six windows of the epoch: 30 s')
  const late = build({ node: nodeA, workloads: [{ cid: CID[0], agent: agents[0], attestedFrom: S + 2_000n }] })
  t.equal(creditFromEvidence(late, ctx()).workloads[0].attestedMs, 58_000n, 'from when the agent first saw the workload, not from its first window')
})

// ---- each check, with its code -----------------------------------------------------------------------------------------

t.test('every tampering fails with its own code', async (t) => {
  const base = build({ node: nodeA, workloads: [{ cid: CID[0], agent: agents[0] }, { cid: CID[1], agent: agents[1] }] })
  const cases: Array<[string, (ev: EpochEvidence) => void, string]> = [
    ['a nonce (re-signed by the agent)', (ev) => { const c = ev.workloads[0].checkpoints; c[4] = signCheckpoint(agents[0], CID[0], { ...c[4], nonce: sha256(c[4].nonce) }) }, 'E_EVIDENCE_NONCE'],
    ['a prev link (re-signed by the agent)', (ev) => { const c = ev.workloads[0].checkpoints; c[4] = signCheckpoint(agents[0], CID[0], { ...c[4], prev: sha256(c[4].prev) }) }, 'E_EVIDENCE_CHAIN'],
    // only the chain's last signature is verified: a change before it breaks the next checkpoint's prev link
    ['a checkpoint signature (mid-chain)', (ev) => { const c = ev.workloads[1].checkpoints[7]; c.signature = flip(c.signature) }, 'E_EVIDENCE_CHAIN'],
    ['a healthy flag (mid-chain)', (ev) => { ev.workloads[1].checkpoints[7].healthy = false }, 'E_EVIDENCE_CHAIN'],
    ['a checkpoint dropped (mid-chain)', (ev) => { ev.workloads[1].checkpoints.splice(7, 1) }, 'E_EVIDENCE_CHAIN'],
    ['the last checkpoint\'s signature', (ev) => { const c = ev.workloads[1].checkpoints.at(-1) as Checkpoint; c.signature = flip(c.signature) }, 'E_EVIDENCE_CHECKPOINT_SIGNATURE'],
    ['the last healthy flag', (ev) => { (ev.workloads[1].checkpoints.at(-1) as Checkpoint).healthy = false }, 'E_EVIDENCE_CHECKPOINT_SIGNATURE'],
    ['a chain signed by another key', (ev) => { const c = ev.workloads[1].checkpoints; c[c.length - 1] = signCheckpoint(agents[2], CID[1], c[c.length - 1]) }, 'E_EVIDENCE_CHECKPOINT_SIGNATURE'],
    ['the daemon signature', (ev) => { ev.workloads[0].daemonSignature = flip(ev.workloads[0].daemonSignature) }, 'E_EVIDENCE_DAEMON_SIGNATURE'],
    ['the daemon witness', (ev) => { ev.workloads[0].daemon.reservation.nanoCpus *= 2n }, 'E_EVIDENCE_DAEMON_SIGNATURE'],
    ['the agent span', (ev) => { ev.workloads[0].agentSpan.attestedFrom -= 1n }, 'E_EVIDENCE_SPAN_SIGNATURE'],
    ['the agent reservation', (ev) => { ev.workloads[0].agentReservation.memoryBytes += 1n }, 'E_EVIDENCE_SPAN_SIGNATURE'],
    ['a poll secret proof of another node', (ev) => { ev.pollSecrets[1].proof = pollSecretFor(nodeB, genesis, EPOCH).proof }, 'E_EVIDENCE_POLL_SECRET'],
    ['a missing poll secret (the anchor\'s epoch)', (ev) => { ev.pollSecrets.shift() }, 'E_EVIDENCE_POLL_SECRET'],
    ['a poll secret of another epoch', (ev) => { ev.pollSecrets[0] = { epoch: EPOCH + 1n, proof: pollSecretFor(nodeA, genesis, EPOCH + 1n).proof }; ev.pollSecrets.reverse() }, 'E_EVIDENCE_POLL_SECRET'],
    ['poll secrets out of order', (ev) => { ev.pollSecrets.reverse() }, 'E_EVIDENCE_ORDER'],
    ['a checkpoint from epoch E−2', (ev) => { ev.workloads[0].checkpoints = chain(agents[0], CID[0], nodeA, [W0 - 13n, ...epochWindows()]) }, 'E_EVIDENCE_CHECKPOINT_WINDOW'],
    ['a checkpoint from the next epoch', (ev) => { ev.workloads[0].checkpoints = chain(agents[0], CID[0], nodeA, [...epochWindows(), W0 + 12n]) }, 'E_EVIDENCE_CHECKPOINT_WINDOW'],
    ['checkpoints out of order', (ev) => { ev.workloads[0].checkpoints.reverse() }, 'E_EVIDENCE_ORDER'],
    ['a window twice', (ev) => { const c = ev.workloads[0].checkpoints; c.splice(3, 0, c[3]) }, 'E_EVIDENCE_ORDER'],
    ['epoch bounds', (ev) => { ev.epochEnd += 1n }, 'E_EVIDENCE_EPOCH'],
    ['epoch start', (ev) => { ev.epochStart -= 1n }, 'E_EVIDENCE_EPOCH'],
    ['the CA endorsement', (ev) => { ev.caEndorsement = flip(ev.caEndorsement) }, 'E_EVIDENCE_CA_ENDORSEMENT'],
    ['the CA certificate', (ev) => { ev.caCertificate = fakeCa(nodeB) }, 'E_EVIDENCE_CA_ENDORSEMENT'],
    ['an agent certificate for another container', (ev) => { ev.workloads[0].agentCertificate = fakeAgentCert(ev.caCertificate, nodeA, CID[3], agents[0].publicKey) }, 'E_EVIDENCE_CERTIFICATE'],
    ['an agent certificate of another key', (ev) => { ev.workloads[0].agentCertificate = fakeAgentCert(ev.caCertificate, nodeA, CID[0], agents[3].publicKey) }, 'E_EVIDENCE_AGENT_KEY'],
    ['workloads out of order', (ev) => { ev.workloads.reverse() }, 'E_EVIDENCE_ORDER'],
    ['a workload twice', (ev) => { ev.workloads[1] = ev.workloads[0] }, 'E_EVIDENCE_ORDER'],
    ['the version', (ev) => { ev.version = 2 }, 'E_EVIDENCE_FORM'],
    ['a capacity beyond 10,000 cores', (ev) => { ev.capacity.nanoCpus = 10_000_001n * 1_000_000n }, 'E_EVIDENCE_FORM'],
    ['a negative memory', (ev) => { ev.workloads[0].agentReservation.memoryBytes = -1n }, 'E_EVIDENCE_FORM'],
    ['a daemon memory beyond 1 PiB', (ev) => { ev.workloads[0].daemon.reservation.memoryBytes = (1n << 50n) + 1n }, 'E_EVIDENCE_FORM'],
    ['a CA certificate over 3 KB', (ev) => { ev.caCertificate = new Uint8Array(3073) }, 'E_EVIDENCE_FORM'],
    ['an agent certificate over 3 KB', (ev) => { ev.workloads[0].agentCertificate = new Uint8Array(3073) }, 'E_EVIDENCE_FORM'],
    ['more poll secrets than any epoch length needs', (ev) => { for (let i = 0; i < MAX_POLL_SECRETS; i++) ev.pollSecrets.push(ev.pollSecrets[1]) }, 'E_EVIDENCE_FORM'],
    ['a span that ends before it starts', (ev) => { ev.workloads[0].agentSpan.attestedFrom = ev.workloads[0].agentSpan.lastAlive + 1n }, 'E_EVIDENCE_FORM'],
    ['a span beyond Date\'s range', (ev) => { ev.workloads[0].agentSpan.lastAlive = MAX_TIME_MS + 1n }, 'E_EVIDENCE_FORM'],
    ['an empty daemon interval', (ev) => { ev.workloads[0].daemon.intervals = [{ from: S, to: S }] }, 'E_EVIDENCE_ORDER'],
    ['overlapping daemon intervals', (ev) => { ev.workloads[0].daemon.intervals = [{ from: S, to: S + 10n }, { from: S + 5n, to: S + 20n }] }, 'E_EVIDENCE_ORDER'],
    ['a daemon interval beyond Date\'s range', (ev) => { ev.workloads[0].daemon.intervals = [{ from: S, to: MAX_TIME_MS + 1n }] }, 'E_EVIDENCE_FORM'],
    ['too many daemon intervals', (ev) => { ev.workloads[0].daemon.intervals = Array.from({ length: MAX_INTERVALS + 1 }, (_, i) => ({ from: BigInt(2 * i), to: BigInt(2 * i + 1) })) }, 'E_EVIDENCE_FORM'],
    ['too many checkpoints', (ev) => { ev.workloads[0].checkpoints = Array.from({ length: MAX_CHECKPOINTS_PER_WORKLOAD + 1 }, (_, i) => ({ ...ev.workloads[0].checkpoints[0], window: BigInt(i) })) }, 'E_EVIDENCE_FORM'],
    ['too many workloads', (ev) => { ev.workloads = Array.from({ length: MAX_EVIDENCE_WORKLOADS + 1 }, (_, i) => ({ ...ev.workloads[0], containerId: i.toString(16).padStart(64, '0') })) }, 'E_EVIDENCE_FORM'],
    ['a container id that is not hex', (ev) => { ev.workloads[0].containerId = 'Z'.repeat(64) }, 'E_EVIDENCE_FORM']
  ]
  for (const [what, tamper, code] of cases) {
    const ev = clone(base)
    tamper(ev)
    t.throws(() => creditFromEvidence(ev, ctx()), { code }, what)
  }
  t.ok(creditFromEvidence(clone(base), ctx()).total > 0n, 'the untampered copy passes')
  // an epoch-0 window that starts before the genesis has no epoch, hence no secret
  const first = build({ node: nodeA, epoch: 0n, workloads: [{ cid: CID[0], agent: agents[0], windows: epochWindows(0n) }] })
  t.throws(() => creditFromEvidence(first, ctx()), { code: 'E_EVIDENCE_CHECKPOINT_WINDOW' })
  t.ok(creditFromEvidence(build({ node: nodeA, epoch: 0n, workloads: [{ cid: CID[0], agent: agents[0], windows: epochWindows(0n).slice(1) }] }), ctx()).total > 0n, 'epoch 0 without an anchor')
  // a certificate checker that fails for a reason other than the certificate is a bug, not evidence: it propagates
  const broken: CertificateChecker = { agentKey: () => { throw new Error('checker crashed') } }
  t.throws(() => creditFromEvidence(base, ctx({ certificates: broken })), /checker crashed/)
})

t.test('checkReportEvidence: the report must name the evidence, commit it, and claim exactly its CU', async (t) => {
  const ev = build({ node: nodeA, workloads: [{ cid: CID[0], agent: agents[0] }] })
  const honest = reportFor(nodeA, ev)
  t.throws(() => checkReportEvidence(reportFor(nodeA, ev, honest.cu + 1n), ev, ctx()), { code: 'E_EVIDENCE_CU', details: { reported: 75_001n, recomputed: 75_000n } })
  t.throws(() => checkReportEvidence(makeReport(nodeB, genesis, EPOCH, honest.cu, evidenceRoot(ev)), ev, ctx()), { code: 'E_EVIDENCE_REPORT' })
  t.throws(() => checkReportEvidence(makeReport(nodeA, genesis, EPOCH + 1n, honest.cu, evidenceRoot(ev)), ev, ctx()), { code: 'E_EVIDENCE_REPORT' })
  t.throws(() => checkReportEvidence(makeReport(nodeA, genesis, EPOCH, honest.cu, sha256(evidenceRoot(ev))), ev, ctx()), { code: 'E_EVIDENCE_ROOT' })
  t.throws(() => checkReportEvidence(makeReport(nodeA, genesis, EPOCH, honest.cu), ev, ctx()), { code: 'E_EVIDENCE_ROOT' }, 'an unattested report has no evidence')
  // the registered capacity caps the declared one
  const big = build({ node: nodeA, capacity: { nanoCpus: 4n * CORE, memoryBytes: 16n * GiB }, workloads: [0, 1, 2].map((i) => ({ cid: CID[i], agent: agents[i] })) })
  const claimed = reportFor(nodeA, big)
  t.equal(claimed.cu, 225_000n, 'three cores declared and used')
  const registered = { nanoCpus: 2n * CORE, memoryBytes: 16n * GiB }
  t.throws(() => checkReportEvidence(claimed, big, ctx({ registeredCapacity: registered })), { code: 'E_EVIDENCE_CU', details: { reported: 225_000n, recomputed: 164_997n } }, 'beyond the registered capacity: recomputed lower (two cores shared by three)')
  t.equal(checkReportEvidence(claimed, big, ctx({ registeredCapacity: { nanoCpus: 3n * CORE, memoryBytes: 32n * GiB } })).total, 225_000n, 'within it: unchanged')
})

// ---- decoding ----------------------------------------------------------------------------------------------------

t.test('decoding is strict: truncated, trailing, oversized and garbage bytes fail with stable codes', async (t) => {
  const ev = build({ node: nodeA, workloads: [{ cid: CID[0], agent: agents[0], cpuUsageNs: null }] })
  const bytes = Buffer.from(encodeEvidence(ev))
  t.throws(() => decodeEvidence(bytes.subarray(0, bytes.length - 1)), { code: 'E_DECODE_SHORT' })
  t.throws(() => decodeEvidence(bytes.subarray(0, 10)), { code: 'E_DECODE_SHORT' })
  t.throws(() => decodeEvidence(Buffer.concat([bytes, Buffer.from([0])])), { code: 'E_DECODE_TRAILING' })
  t.throws(() => decodeEvidence(new Uint8Array(MAX_EVIDENCE_BYTES + 1)), { code: 'E_EVIDENCE_SIZE' })
  t.throws(() => decodeEvidence(new Uint8Array(0)), { code: 'E_DECODE_SHORT' })
  t.throws(() => decodeEvidence(Buffer.alloc(600, 0xff)), { code: 'E_DECODE_LENGTH' }, 'garbage: a 4 GB certificate')
  t.throws(() => decodeEvidence(Buffer.alloc(600, 0x01)), { code: 'E_DECODE_LENGTH' }, 'garbage: a 16 MB certificate')
  const version = Buffer.from(bytes)
  version[0] = 2
  t.throws(() => decodeEvidence(version), { code: 'E_EVIDENCE_FORM' }, 'another version')
  const n = ev.workloads[0].checkpoints.length
  const healthy = Buffer.from(bytes)
  healthy[bytes.length - 64 - 32 - 1] = 2
  t.throws(() => decodeEvidence(healthy), { code: 'E_EVIDENCE_DECODE' }, 'a flag must be 0 or 1')
  const cpu = Buffer.from(bytes)
  const cpuFlag = bytes.length - n * (8 + 32 + 1 + 32 + 64) - 4 - 64 - 1
  t.equal(cpu[cpuFlag], 0)
  cpu[cpuFlag] = 2
  t.throws(() => decodeEvidence(cpu), { code: 'E_EVIDENCE_DECODE' })
  const many = Buffer.from(bytes)
  const workloadsCount = 1 + 32 + 24 + 16 + 4 + ev.caCertificate.length + 64 + 4 + ev.pollSecrets.length * (8 + 80)
  t.equal(many.readUInt32BE(workloadsCount), 1)
  many.writeUInt32BE(MAX_EVIDENCE_WORKLOADS + 1, workloadsCount)
  t.throws(() => decodeEvidence(many), { code: 'E_DECODE_LENGTH' })
  // the whole-evidence bound binds on encode too
  const w = ev.workloads[0]
  const huge = { ...ev, workloads: Array.from({ length: MAX_EVIDENCE_WORKLOADS }, (_, i) => ({ ...w, containerId: i.toString(16).padStart(64, '0'), agentCertificate: new Uint8Array(3072), checkpoints: w.checkpoints.slice(0, 10) })) }
  checkEvidenceForm(huge)
  t.throws(() => encodeEvidence(huge), { code: 'E_EVIDENCE_SIZE' })
})

// ---- fraud proofs ----------------------------------------------------------------------------------------------------

t.test('miscredit: an inflated report, a report beyond capacity and bad evidence are proven; an honest one is not', async (t) => {
  const ev = build({ node: nodeA, capacity: { nanoCpus: 4n * CORE, memoryBytes: 16n * GiB }, workloads: [0, 1, 2].map((i) => ({ cid: CID[i], agent: agents[i] })) })
  const honest = reportFor(nodeA, ev)
  const inflated = reportFor(nodeA, ev, honest.cu + 1n)
  const proof: FraudProof = { kind: 'miscredit', report: inflated, evidence: ev }
  const verdict = checkFraudProof(roundTrip(proof), fctx([honest, inflated]))
  t.same(verdict, { offenders: [nodeA.publicKey], reports: [reportHash(inflated)], reason: 'miscredit: E_EVIDENCE_CU' })
  t.same(fraudProofHash(roundTrip(proof)), fraudProofHash(proof))
  t.ok(encodeFraudProof(proof).length <= MAX_FRAUD_PROOF_BYTES)

  t.throws(() => checkFraudProof({ kind: 'miscredit', report: honest, evidence: ev }, fctx([honest])), { code: 'E_FRAUD_INVALID', details: { reason: 'the evidence supports the report' } }, 'a false proof is rejected')
  t.throws(() => checkFraudProof(proof, fctx([honest])), { code: 'E_FRAUD_UNKNOWN_REPORT' })
  const forged = { ...inflated, cu: inflated.cu + 1n }
  t.throws(() => checkFraudProof({ kind: 'miscredit', report: forged, evidence: ev }, fctx([], { reportOnChain: () => true })), { code: 'E_FRAUD_INVALID' }, 'a report its node did not sign')
  const other = build({ node: nodeA, workloads: [{ cid: CID[3], agent: agents[3] }] })
  t.throws(() => checkFraudProof({ kind: 'miscredit', report: inflated, evidence: other }, fctx([inflated])), { code: 'E_FRAUD_INVALID' }, 'evidence the report does not commit proves nothing, even evidence against it')
  const wrongNode = makeReport(nodeB, genesis, EPOCH, honest.cu, evidenceRoot(ev))
  t.same(checkFraudProof({ kind: 'miscredit', report: wrongNode, evidence: ev }, fctx([wrongNode])).reason, 'miscredit: E_EVIDENCE_REPORT', 'committing another node\'s evidence')

  // beyond the registered capacity: the report matches the declared capacity, not the registered one
  const capacityOf = (k: Uint8Array): Reservation | null => (equalBytes(k, nodeA.publicKey) ? { nanoCpus: 2n * CORE, memoryBytes: 16n * GiB } : null)
  t.same(checkFraudProof({ kind: 'miscredit', report: honest, evidence: ev }, fctx([honest], { registeredCapacity: capacityOf })).reason, 'miscredit: E_EVIDENCE_CU')

  // evidence that fails a check, committed by its report
  const bad = clone(ev)
  bad.workloads[1].checkpoints[3] = signCheckpoint(agents[1], CID[1], { ...bad.workloads[1].checkpoints[3], nonce: sha256(Buffer.from('chosen')) })
  const badReport = makeReport(nodeA, genesis, EPOCH, honest.cu, evidenceRoot(bad))
  t.same(checkFraudProof(roundTrip({ kind: 'miscredit', report: badReport, evidence: bad }), fctx([badReport])).reason, 'miscredit: E_EVIDENCE_NONCE')
  // a checker bug is not fraud
  t.throws(() => checkFraudProof(proof, fctx([inflated], { certificates: { agentKey: () => { throw new Error('checker crashed') } } })), /checker crashed/)
})

t.test('bad-certificate: a workload whose key the CA did not certify, in a compact excerpt', async (t) => {
  // the certificate names agent 0, but agent 3 holds the workload key and signs the checkpoints
  const ev = build({ node: nodeA, workloads: [{ cid: CID[0], agent: agents[0] }, { cid: CID[1], agent: agents[3], certKey: agents[1].publicKey }] })
  const report = makeReport(nodeA, genesis, EPOCH, 150_000n, evidenceRoot(ev))
  t.throws(() => checkReportEvidence(report, ev, ctx()), { code: 'E_EVIDENCE_AGENT_KEY' })
  const excerpt = evidenceExcerpt(report, ev, CID[1])
  t.equal(excerpt.index, 2)
  const proof: FraudProof = { kind: 'bad-certificate', excerpt }
  t.ok(encodeFraudProof(proof).length < encodeEvidence(ev).length, 'smaller than the evidence')
  t.same(checkFraudProof(roundTrip(proof), fctx([report])), { offenders: [nodeA.publicKey], reports: [reportHash(report)], reason: 'bad certificate: E_EVIDENCE_AGENT_KEY' })
  t.same(checkFraudProof({ kind: 'miscredit', report, evidence: ev }, fctx([report])).reason, 'miscredit: E_EVIDENCE_AGENT_KEY', 'the full evidence proves it too')
  // what the auditor makes of the failed audit: this excerpt, which checkFraudProof verifies on its own
  const made = compactFraudProof(report, ev, fakeChecker)
  t.same(made, proof, 'the auditor\'s compact proof is the failing workload\'s excerpt')
  t.equal(checkFraudProof(decodeFraudProof(encodeFraudProof(made!)), fctx([report])).reason, 'bad certificate: E_EVIDENCE_AGENT_KEY', 'and it proves the fraud alone')
  // forged: the failing workload's excerpt committed by another report of the node, or the passing workload's
  const other = makeReport(nodeA, genesis, EPOCH, 150_000n, evidenceRoot(build({ node: nodeA, workloads: [{ cid: CID[1], agent: agents[3], certKey: agents[1].publicKey }] })))
  t.throws(() => checkFraudProof({ kind: 'bad-certificate', excerpt: { ...excerpt, report: other } }, fctx([other])), { code: 'E_FRAUD_INVALID' }, 'an excerpt moved under another report')
  t.throws(() => checkFraudProof({ kind: 'bad-certificate', excerpt: evidenceExcerpt(report, ev, CID[0]) }, fctx([report])), { code: 'E_FRAUD_INVALID', details: { reason: 'the agent certificate and the checkpoint signatures hold' } }, 'the sound workload of the same evidence')
  t.equal(compactFraudProof(makeReport(nodeB, genesis, EPOCH, 1n, evidenceRoot(ev)), ev, fakeChecker), null, 'no excerpt for a report of another node')

  const honestEv = build({ node: nodeA, workloads: [{ cid: CID[0], agent: agents[0] }] })
  const honest = reportFor(nodeA, honestEv)
  t.throws(() => checkFraudProof({ kind: 'bad-certificate', excerpt: evidenceExcerpt(honest, honestEv, CID[0]) }, fctx([honest])), { code: 'E_FRAUD_INVALID', details: { reason: 'the agent certificate and the checkpoint signatures hold' } })
  t.equal(compactFraudProof(honest, honestEv, fakeChecker), null, 'sound certificates: no compact proof (a miscredit carries the evidence)')

  // a certificate for another container, a checkpoint the certified key did not sign, a CA the node did not endorse
  const variants: Array<[string, (e: EpochEvidence) => void, string]> = [
    ['certificate for another container', (e) => { e.workloads[0].agentCertificate = fakeAgentCert(e.caCertificate, nodeA, CID[2], agents[0].publicKey) }, 'E_EVIDENCE_CERTIFICATE'],
    ['a checkpoint signed by another key', (e) => { const c = e.workloads[0].checkpoints; c[5] = signCheckpoint(agents[2], CID[0], c[5]) }, 'E_EVIDENCE_CHECKPOINT_SIGNATURE'],
    ['an unendorsed CA', (e) => { e.caEndorsement = flip(e.caEndorsement) }, 'E_EVIDENCE_CA_ENDORSEMENT']
  ]
  for (const [what, tamper, code] of variants) {
    const e = clone(honestEv)
    tamper(e)
    const r = makeReport(nodeA, genesis, EPOCH, 75_000n, evidenceRoot(e))
    t.equal(checkFraudProof(roundTrip({ kind: 'bad-certificate', excerpt: evidenceExcerpt(r, e, CID[0]) }), fctx([r])).reason, `bad certificate: ${code}`, what)
    t.same(compactFraudProof(r, e, fakeChecker), { kind: 'bad-certificate', excerpt: evidenceExcerpt(r, e, CID[0]) }, `the auditor proves ${what} by its excerpt`)
  }

  // excerpts that are not in the report's evidence
  const notIn: Array<[string, Partial<EvidenceExcerpt>]> = [
    ['the header leaf as a workload', { index: 0 }],
    ['another workload', { workload: ev.workloads[0] }],
    ['another header', { header: { ...excerpt.header, epochEnd: excerpt.header.epochEnd + 1n } }],
    ['another count', { count: excerpt.count + 1 }],
    ['a short proof', { workloadProof: excerpt.workloadProof.slice(1) }]
  ]
  for (const [what, change] of notIn) {
    t.throws(() => checkFraudProof({ kind: 'bad-certificate', excerpt: { ...excerpt, ...change } }, fctx([report])), { code: 'E_FRAUD_INVALID', details: { reason: 'the excerpt is not in the report\'s evidence' } }, what)
  }
  // evidence naming node A committed by node B's report: a miscredit, not a bad certificate
  const byB = makeReport(nodeB, genesis, EPOCH, 1n, evidenceRoot(ev))
  t.throws(() => checkFraudProof({ kind: 'bad-certificate', excerpt: evidenceExcerpt(byB, ev, CID[1]) }, fctx([byB])), { code: 'E_FRAUD_INVALID' })
  t.throws(() => evidenceExcerpt(report, ev, CID[3]), { code: 'E_FRAUD_WORKLOAD' })
})

t.test('double-credit: one agent in the evidence of two nodes at the same time; a shared container id alone frames nobody', async (t) => {
  const evA = build({ node: nodeA, workloads: [{ cid: CID[0], agent: agents[0] }, { cid: CID[1], agent: agents[1] }] })
  const evB = build({ node: nodeB, workloads: [{ cid: CID[0], agent: agents[2] }, { cid: CID[3], agent: agents[1] }] })
  const rA = reportFor(nodeA, evA)
  const rB = reportFor(nodeB, evB)
  const chainCtx = fctx([rA, rB])
  const byKey: FraudProof = { kind: 'double-credit', a: evidenceExcerpt(rA, evA, CID[1]), b: evidenceExcerpt(rB, evB, CID[3]) }
  t.same(checkFraudProof(roundTrip(byKey), chainCtx), { offenders: [nodeA.publicKey, nodeB.publicKey], reports: [reportHash(rA), reportHash(rB)], reason: `double credit of container ${CID[1]}` }, 'same agent key, other container ids')

  const invalid = (p: FraudProof, reason: RegExp, what: string, c = chainCtx): void => {
    try {
      checkFraudProof(p, c)
      t.fail(`${what}: accepted`)
    } catch (err) {
      t.match(err, { code: 'E_FRAUD_INVALID', details: { reason } }, what)
    }
  }
  // framing: node B credits a workload under node A's (public) container id, with an agent of its own; B's side is
  // genuine evidence of B, so only the agent key could tie the two, and it differs
  const byCid: FraudProof = { kind: 'double-credit', a: evidenceExcerpt(rA, evA, CID[0]), b: evidenceExcerpt(rB, evB, CID[0]) }
  invalid(roundTrip(byCid), /the two nodes' workloads do not share an agent key/, 'a container id of another node with its own agent key')
  invalid({ kind: 'double-credit', a: byCid.b, b: byCid.a }, /do not share an agent key/, 'either way round')
  invalid({ kind: 'double-credit', a: evidenceExcerpt(rA, evA, CID[0]), b: evidenceExcerpt(rB, evB, CID[3]) }, /do not share an agent key/, 'different workloads')
  invalid({ kind: 'double-credit', a: byKey.a, b: byKey.a }, /one report/, 'one report twice')
  // disjoint times: agent 1 serves node B only in the second half of the epoch
  const late = build({ node: nodeB, workloads: [{ cid: CID[1], agent: agents[1], windows: epochWindows().slice(7) }] })
  const rLate = reportFor(nodeB, late)
  const early = build({ node: nodeA, workloads: [{ cid: CID[1], agent: agents[1], windows: epochWindows().slice(0, 7) }] })
  const rEarly = reportFor(nodeA, early)
  invalid({ kind: 'double-credit', a: evidenceExcerpt(rEarly, early, CID[1]), b: evidenceExcerpt(rLate, late, CID[1]) }, /no attested time in common/, 'the agent moved', fctx([rEarly, rLate]))
  invalid({ kind: 'double-credit', a: evidenceExcerpt(rLate, late, CID[1]), b: evidenceExcerpt(rEarly, early, CID[1]) }, /no attested time in common/, 'the other way round', fctx([rEarly, rLate]))
  const none = build({ node: nodeB, workloads: [{ cid: CID[1], agent: agents[1], windows: [] }] })
  const rNone = makeReport(nodeB, genesis, EPOCH, 1n, evidenceRoot(none))
  invalid({ kind: 'double-credit', a: byKey.a, b: evidenceExcerpt(rNone, none, CID[1]) }, /no attested time in common/, 'a side without checkpoints', fctx([rA, rNone]))
  invalid({ kind: 'double-credit', a: evidenceExcerpt(rNone, none, CID[1]), b: byKey.a }, /no attested time in common/, 'the first side without checkpoints', fctx([rA, rNone]))
  // another epoch
  const next = build({ node: nodeB, epoch: EPOCH + 1n, workloads: [{ cid: CID[1], agent: agents[1] }] })
  const rNext = reportFor(nodeB, next)
  invalid({ kind: 'double-credit', a: byKey.a, b: evidenceExcerpt(rNext, next, CID[1]) }, /different epochs/, 'different epochs', fctx([rA, rNext]))
  // node B copies node A's workload verbatim: B's copy fails (its nonces are not from B's secret), so A is not punished
  const copy = build({ node: nodeB, workloads: [] })
  copy.workloads = [evA.workloads[0]]
  const rCopy = makeReport(nodeB, genesis, EPOCH, 75_000n, evidenceRoot(copy))
  invalid({ kind: 'double-credit', a: byCid.a, b: evidenceExcerpt(rCopy, copy, CID[0]) }, /side b's workload evidence does not hold \(E_EVIDENCE_CERTIFICATE\)/, 'a verbatim copy', fctx([rA, rCopy]))
  invalid({ kind: 'double-credit', a: evidenceExcerpt(rCopy, copy, CID[0]), b: byCid.a }, /side a's/, 'a verbatim copy on side a', fctx([rA, rCopy]))
  const copyWithCert = clone(copy)
  const w = copyWithCert.workloads[0]
  w.agentCertificate = fakeAgentCert(copy.caCertificate, nodeB, CID[0], agents[0].publicKey)
  w.daemonSignature = signDaemonWitness(nodeB, genesis, EPOCH, CID[0], w.daemon)
  const rCopy2 = makeReport(nodeB, genesis, EPOCH, 75_000n, evidenceRoot(copyWithCert))
  invalid({ kind: 'double-credit', a: byCid.a, b: evidenceExcerpt(rCopy2, copyWithCert, CID[0]) }, /E_EVIDENCE_NONCE/, 'a copy with its own certificate and daemon witness', fctx([rA, rCopy2]))
  // a header that does not match the report's node
  const byB = makeReport(nodeB, genesis, EPOCH, 1n, evidenceRoot(evA))
  invalid({ kind: 'double-credit', a: evidenceExcerpt(byB, evA, CID[0]), b: byCid.b }, /another node or epoch/, 'header of another node', fctx([byB, rB]))
  t.throws(() => checkFraudProof(byCid, fctx([rA])), { code: 'E_FRAUD_UNKNOWN_REPORT' })

  // two reports of one node for one epoch that both credit the workload: one offender, both reports void
  const rA2 = reportFor(nodeA, evA, rA.cu - 1n)
  const twice = checkFraudProof({ kind: 'double-credit', a: byCid.a, b: evidenceExcerpt(rA2, evA, CID[0]) }, fctx([rA, rA2]))
  t.same(twice.offenders, [nodeA.publicKey])
  t.same(twice.reports, [reportHash(rA), reportHash(rA2)])
  // one node with itself matches on the container id alone (it signed both, there is nobody to frame) or the key
  const otherAgent = build({ node: nodeA, workloads: [{ cid: CID[0], agent: agents[3] }] })
  const rOther = reportFor(nodeA, otherAgent)
  t.same(checkFraudProof({ kind: 'double-credit', a: byCid.a, b: evidenceExcerpt(rOther, otherAgent, CID[0]) }, fctx([rA, rOther])).offenders, [nodeA.publicKey], 'one node, one container id, two agent keys')
  const otherCid = build({ node: nodeA, workloads: [{ cid: CID[2], agent: agents[1] }] })
  const rOtherCid = reportFor(nodeA, otherCid)
  t.same(checkFraudProof({ kind: 'double-credit', a: byKey.a, b: evidenceExcerpt(rOtherCid, otherCid, CID[2]) }, fctx([rA, rOtherCid])).offenders, [nodeA.publicKey], 'one node, one agent key, two container ids')
  invalid({ kind: 'double-credit', a: byCid.a, b: evidenceExcerpt(rOtherCid, otherCid, CID[2]) }, /neither container id nor agent key/, 'one node, two different workloads', fctx([rA, rOtherCid]))
})

t.test('fraud proof decoding is strict', async (t) => {
  const ev = build({ node: nodeA, workloads: [{ cid: CID[0], agent: agents[0] }] })
  const report = reportFor(nodeA, ev)
  const excerpt = evidenceExcerpt(report, ev, CID[0])
  const proofs: FraudProof[] = [
    { kind: 'miscredit', report, evidence: ev },
    { kind: 'double-credit', a: excerpt, b: excerpt },
    { kind: 'bad-certificate', excerpt }
  ]
  for (const p of proofs) {
    const bytes = Buffer.from(encodeFraudProof(p))
    t.same(norm(decodeFraudProof(bytes)), norm(p), `${p.kind} round-trips`)
    t.throws(() => decodeFraudProof(bytes.subarray(0, bytes.length - 1)), { code: 'E_DECODE_SHORT' }, `${p.kind} truncated`)
    t.throws(() => decodeFraudProof(Buffer.concat([bytes, Buffer.from([0])])), { code: 'E_DECODE_TRAILING' }, `${p.kind} trailing`)
  }
  t.throws(() => decodeFraudProof(Uint8Array.of(9)), { code: 'E_FRAUD_DECODE' })
  t.throws(() => decodeFraudProof(new Uint8Array(0)), { code: 'E_DECODE_SHORT' })
  t.throws(() => decodeFraudProof(new Uint8Array(MAX_FRAUD_PROOF_BYTES + 1)), { code: 'E_FRAUD_SIZE' })
  t.throws(() => decodeFraudProof(Buffer.alloc(2000, 3)), { code: 'E_REPORT_CU' }, 'garbage')
  // the excerpt's index and count
  const excerptBytes = (x: EvidenceExcerpt): Buffer => Buffer.from(encodeFraudProof({ kind: 'bad-certificate', excerpt: x }))
  for (const [what, x] of [['index 0', { ...excerpt, index: 0 }], ['index = count', { ...excerpt, index: excerpt.count }], ['count beyond the bound', { ...excerpt, count: MAX_EVIDENCE_WORKLOADS + 2 }]] as const) {
    t.throws(() => decodeFraudProof(excerptBytes(x)), { code: 'E_FRAUD_DECODE' }, what)
  }
  const long = excerptBytes({ ...excerpt, workloadProof: Array.from({ length: 12 }, () => ZERO_HASH) })
  t.throws(() => decodeFraudProof(long), { code: 'E_DECODE_LENGTH' }, 'a Merkle proof deeper than any evidence')
  t.equal(encodeReport(report).length + 1 + 4 + encodeEvidence(ev).length, encodeFraudProof(proofs[0]).length, 'a miscredit is the report and the evidence')
})

// ---- real certificates ----------------------------------------------------------------------------------------------

/** What the node layer will inject: node:crypto X509Certificate, as node/attestation/pki.ts verifyAgentCertificate. */
const x509Checker: CertificateChecker = {
  agentKey: (o) => {
    let cert: X509Certificate
    let ca: X509Certificate
    try {
      cert = new X509Certificate(Buffer.from(o.agentCertificate))
      ca = new X509Certificate(Buffer.from(o.caCertificate))
    } catch {
      return fail('E_AGENT_CERT', 'certificate does not parse', { containerId: o.containerId })
    }
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) fail('E_AGENT_CERT_ISSUER', 'agent certificate is not signed by the node CA')
    const sans = (cert.subjectAltName ?? '').split(',').map((s) => s.trim())
    if (!sans.includes(`URI:${agentUri(o.nodeId, o.containerId)}`)) fail('E_AGENT_CERT_NAME', 'agent certificate does not name this node and container')
    const at = Number(o.at)
    if (at < Date.parse(cert.validFrom) || at > Date.parse(cert.validTo)) fail('E_AGENT_CERT_EXPIRED', 'agent certificate is not valid at this time')
    if (cert.publicKey.asymmetricKeyType !== 'ed25519') fail('E_AGENT_CERT_KEY', 'agent certificate holds no Ed25519 key')
    const der = cert.publicKey.export({ format: 'der', type: 'spki' })
    return new Uint8Array(der.subarray(der.length - 32))
  }
}

t.test('the injected checker fits real certificates: node CA and agent certificates from node/attestation/pki.ts', async (t) => {
  const nodeId = hex(nodeA.publicKey)
  const now = Number(S)
  const ca = generateCa(nodeId, now)
  const caDer = new Uint8Array(new X509Certificate(ca.certPem).raw)
  const issue = (_ca: Uint8Array, _node: Signer, cid: string, key: Uint8Array): Uint8Array =>
    new Uint8Array(new X509Certificate(issueAgentCertificate({ ...ca, nodeId }, { agentPublicKey: key, containerId: cid, now })).raw)
  const ev = build({ node: nodeA, caCertificate: caDer, certificate: issue, workloads: [{ cid: CID[0], agent: agents[0] }, { cid: CID[1], agent: agents[1] }] })
  const report = reportFor(nodeA, ev, 150_000n)
  t.equal(checkReportEvidence(report, clone(ev), ctx({ certificates: x509Checker })).total, 150_000n, 'real certificates pass')
  const other = generateCa(nodeId, now)
  const foreign = clone(ev)
  foreign.workloads[1].agentCertificate = new Uint8Array(new X509Certificate(issueAgentCertificate({ ...other, nodeId }, { agentPublicKey: agents[1].publicKey, containerId: CID[1], now })).raw)
  t.throws(() => creditFromEvidence(foreign, ctx({ certificates: x509Checker })), { code: 'E_EVIDENCE_CERTIFICATE', details: { cause: 'E_AGENT_CERT_ISSUER' } })
  const r = makeReport(nodeA, genesis, EPOCH, 150_000n, evidenceRoot(foreign))
  t.equal(checkFraudProof({ kind: 'bad-certificate', excerpt: evidenceExcerpt(r, foreign, CID[1]) }, fctx([r], { certificates: x509Checker })).reason, 'bad certificate: E_EVIDENCE_CERTIFICATE', 'a key another CA certified')
  const wrongKey = clone(ev)
  wrongKey.workloads[0].agentCertificate = issue(caDer, nodeA, CID[0], agents[2].publicKey)
  t.throws(() => creditFromEvidence(wrongKey, ctx({ certificates: x509Checker })), { code: 'E_EVIDENCE_AGENT_KEY' })
  const garbage = clone(ev)
  garbage.workloads[0].agentCertificate = Uint8Array.of(0x30, 0x03, 1, 2, 3)
  t.throws(() => creditFromEvidence(garbage, ctx({ certificates: x509Checker })), { code: 'E_EVIDENCE_CERTIFICATE', details: { cause: 'E_AGENT_CERT' } })
  t.throws(() => checkReportEvidence(report, ev, ctx({ certificates: x509Checker, params: { ...params, genesisTime: params.genesisTime + 200n * 24n * 3600n * 1000n } })), { code: 'E_EVIDENCE_EPOCH' }, 'other params, other bounds')
})
