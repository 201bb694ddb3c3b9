import t from 'tap'
import {
  ANSWER_TIMEOUT_MS, POLL_WINDOW_MS, type ExitReport, type WorkloadWitness,
  caEndorsementMessage, canonicalExitReport, challengeOffsetMs, encodeAttestationRecord,
  epochCredit, helloMessage, parseExitReport, signExitReport, verifyCaEndorsement, verifyExitReport, windowOf, windowStart
} from '../../protocol/attestation.js'
import { evidenceNonce } from '../../protocol/checkpoint.js'
import { computeUnits } from '../../protocol/compute-units.js'
import { Signer } from '../../protocol/keys.js'

const seed = (n: number): Uint8Array => new Uint8Array(32).fill(n)
const agent = new Signer(seed(7))
const node = new Signer(seed(9))
const CID = 'ab'.repeat(32)
const CID2 = 'cd'.repeat(32)
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'

function report (over: Partial<ExitReport> = {}): ExitReport {
  return {
    version: 1,
    nodeId: hex(node.publicKey),
    containerId: CID,
    image: 'econumi/busybox:test',
    imageDigest: 'sha256:' + '11'.repeat(32),
    startTime: 1_700_000_000_000,
    attestedFrom: 1_700_000_000_400,
    lastAlive: 1_700_000_010_000,
    durationMs: 10_000,
    reservations: { nanoCpus: '500000000', memoryBytes: '67108864' },
    pollsAnswered: 2,
    pollsMissed: 0,
    healthy: true,
    agentPublicKey: hex(agent.publicKey),
    certificate: CERT,
    ...over
  }
}

t.test('windows and challenges: fixed vectors', async (t) => {
  t.equal(windowOf(1_700_000_004_999n), 340_000_000n)
  t.equal(windowOf(1_700_000_005_000n), 340_000_001n)
  t.equal(windowStart(340_000_001n), 1_700_000_005_000n)
  t.throws(() => windowOf(-1n), { code: 'E_ATTEST_TIME' })
  // challenges come from the poll secret (protocol/checkpoint.ts evidenceNonce); the instant from the nonce
  const secret = new Uint8Array(64).fill(2)
  const nonce = evidenceNonce(secret, CID, 340_000_001n)
  t.equal(challengeOffsetMs(nonce), challengeOffsetMs(nonce), 'deterministic')
  t.not(hex(evidenceNonce(new Uint8Array(64).fill(3), CID, 340_000_001n)), hex(nonce))
  t.not(hex(evidenceNonce(secret, CID2, 340_000_001n)), hex(nonce))
  t.not(hex(evidenceNonce(secret, CID, 340_000_002n)), hex(nonce))
  // offsets stay inside [0, window - answer timeout)
  for (let w = 0n; w < 500n; w++) {
    const o = challengeOffsetMs(evidenceNonce(secret, CID, w))
    t.ok(o >= 0n && o < POLL_WINDOW_MS - ANSWER_TIMEOUT_MS)
  }
  t.throws(() => evidenceNonce(new Uint8Array(32), CID, 1n), { code: 'E_ATTEST_SECRET' })
  t.throws(() => evidenceNonce(secret, 'AB'.repeat(32), 1n), { code: 'E_ATTEST_CONTAINER_ID' })
  t.throws(() => challengeOffsetMs(new Uint8Array(5)), { code: 'E_ATTEST_NONCE' })
  t.throws(() => challengeOffsetMs(nonce, 1000n, 1000n), { code: 'E_ATTEST_WINDOW' })
})

t.test('hello: binds the connection nonce and the container', async (t) => {
  t.equal(helloMessage(new Uint8Array(32), CID).length, 32)
  t.throws(() => helloMessage(new Uint8Array(3), CID), { code: 'E_ATTEST_NONCE' })
})

t.test('exit report: canonical order, signature, clear error codes', async (t) => {
  const r = report()
  const shuffled = Object.fromEntries(Object.entries(r).reverse()) as unknown as ExitReport
  t.equal(canonicalExitReport(shuffled), canonicalExitReport(r), 'key order of the input does not matter')
  t.match(canonicalExitReport(r), /^\{"version":1,"nodeId":"[0-9a-f]{64}","containerId":"(ab){32}","image":/)
  t.match(canonicalExitReport(r), /,"attestedFrom":\d+,"lastAlive":\d+,"durationMs":/, 'the last instant seen alive is lastAlive, as in the agent span')
  const signed = signExitReport(agent, r)
  t.equal(signed.signature, '8cced175d94a48824031e52e0f8d8a0aad9b31d634b8103106d80fa93ba7db5a6740741a9bc43fd187d8712d2ff0d150181823d3add25bf3be63331421598202')
  t.same(verifyExitReport(JSON.parse(JSON.stringify(signed))), r)
  t.throws(() => verifyExitReport({ ...signed, report: { ...r, lastAlive: r.lastAlive + 1, durationMs: r.durationMs + 1 } }), { code: 'E_REPORT_SIGNATURE' })
  t.throws(() => verifyExitReport({ ...signed, signature: 'zz' }), { code: 'E_REPORT_SIGNATURE' })
  t.throws(() => verifyExitReport(null), { code: 'E_REPORT_FIELD' })
  t.throws(() => verifyExitReport({ report: { ...r, extra: 1 }, signature: signed.signature }), { code: 'E_REPORT_FIELD' })
  t.throws(() => parseExitReport({ ...r, version: 2 }), { code: 'E_REPORT_VERSION' })
  t.throws(() => parseExitReport({ ...r, durationMs: 5 }), { code: 'E_REPORT_DURATION' })
  t.throws(() => parseExitReport({ ...r, attestedFrom: r.startTime - 1 }), { code: 'E_REPORT_TIMES' })
  t.throws(() => parseExitReport({ ...r, lastAlive: r.attestedFrom - 1, durationMs: r.attestedFrom - 1 - r.startTime }), { code: 'E_REPORT_TIMES' })
  t.throws(() => parseExitReport({ ...r, imageDigest: 'latest' }), { code: 'E_REPORT_FIELD' })
  t.throws(() => parseExitReport({ ...r, reservations: { nanoCpus: 1 } }), { code: 'E_REPORT_FIELD' })
  t.throws(() => parseExitReport({ ...r, reservations: { nanoCpus: '-1', memoryBytes: '0' } }), { code: 'E_REPORT_FIELD' })
  t.throws(() => parseExitReport({ ...r, healthy: 'yes' }), { code: 'E_REPORT_FIELD' })
  t.throws(() => parseExitReport({ ...r, startTime: 1.5 }), { code: 'E_REPORT_FIELD' })
  t.throws(() => parseExitReport({ ...r, pollsMissed: -1 }), { code: 'E_REPORT_FIELD' })
  t.throws(() => parseExitReport({ ...r, certificate: 'nope' }), { code: 'E_REPORT_FIELD' })
  t.throws(() => parseExitReport([]), { code: 'E_REPORT_FIELD' })
  t.throws(() => signExitReport(node, r), { code: 'E_REPORT_KEY' })
  const rec = JSON.parse(Buffer.from(encodeAttestationRecord({ type: 'econumi/exit-report', version: 1, ...signed })).toString())
  t.same(verifyExitReport(rec), r)
})

t.test('CA endorsement by the node identity key', async (t) => {
  const fp = new Uint8Array(32).fill(5)
  const nodeId = hex(node.publicKey)
  const sig = node.sign(caEndorsementMessage(nodeId, fp))
  verifyCaEndorsement(nodeId, fp, sig)
  t.throws(() => verifyCaEndorsement(nodeId, new Uint8Array(32), sig), { code: 'E_CA_ENDORSEMENT' })
  t.throws(() => caEndorsementMessage(nodeId, new Uint8Array(3)), { code: 'E_ATTEST_FINGERPRINT' })
  t.throws(() => caEndorsementMessage('x', fp), { code: 'E_ATTEST_NODE_ID' })
  const rec = JSON.parse(Buffer.from(encodeAttestationRecord({ type: 'econumi/ca', version: 1, nodeId, caCertificate: CERT, caFingerprint: hex(fp), endorsement: hex(sig) })).toString())
  t.equal(rec.type, 'econumi/ca')
})

const HALF_CPU = { nanoCpus: 500_000_000n, memoryBytes: 64n * 1024n * 1024n }
const CAP = { nanoCpus: 2_000_000_000n, memoryBytes: 8n * 1024n ** 3n }

function witness (id: string, o: { from?: bigint, to?: bigint, agentFrom?: bigint, lastAlive?: bigint, r?: typeof HALF_CPU, agentR?: typeof HALF_CPU, polls?: Array<{ window: bigint, answered: boolean, healthy: boolean }>, usage?: bigint | null } = {}): WorkloadWitness {
  return {
    containerId: id,
    daemon: { intervals: [{ from: o.from ?? 0n, to: o.to ?? 10_000n }], reservation: o.r ?? HALF_CPU, cpuUsageNs: o.usage === undefined ? 1000n : o.usage },
    agent: { attestedFrom: o.agentFrom ?? 0n, lastAlive: o.lastAlive ?? 10_000n, reservation: o.agentR ?? o.r ?? HALF_CPU, polls: o.polls ?? [{ window: 0n, answered: true, healthy: true }, { window: 1n, answered: true, healthy: true }] }
  }
}

t.test('epoch credit: minimum of the witnesses, formula, exclusions', async (t) => {
  // one workload fully attested through a 10 s epoch: exactly the CU formula
  let c = epochCredit({ epochStart: 0n, epochEnd: 10_000n, capacity: CAP, workloads: [witness(CID)] })
  t.equal(c.workloads[0].cu, computeUnits(10_000n, HALF_CPU))
  t.equal(c.workloads[0].cu, 5_156n) // 500 millicores × 10 s + 64 MiB (= 15.625 millicores) × 10 s
  t.equal(c.total, 5_156n)
  // the agent saw less (attested from 2 s, last alive 7 s): the agent interval bounds it
  c = epochCredit({ epochStart: 0n, epochEnd: 10_000n, capacity: CAP, workloads: [witness(CID, { agentFrom: 2_000n, lastAlive: 7_000n })] })
  t.equal(c.workloads[0].attestedMs, 5_000n)
  t.equal(c.workloads[0].cu, computeUnits(5_000n, HALF_CPU))
  // the daemon saw less: the daemon interval bounds it
  c = epochCredit({ epochStart: 0n, epochEnd: 10_000n, capacity: CAP, workloads: [witness(CID, { from: 3_000n, to: 4_000n })] })
  t.equal(c.workloads[0].attestedMs, 1_000n)
  // reservations: the smaller of the two witnesses
  c = epochCredit({ epochStart: 0n, epochEnd: 10_000n, capacity: CAP, workloads: [witness(CID, { agentR: { nanoCpus: 100_000_000n, memoryBytes: 1n << 40n } })] })
  t.same(c.workloads[0].reservation, { nanoCpus: 100_000_000n, memoryBytes: HALF_CPU.memoryBytes })
  // epoch clipping: only the part inside [5 s, 8 s)
  c = epochCredit({ epochStart: 5_000n, epochEnd: 8_000n, capacity: CAP, workloads: [witness(CID)] })
  t.equal(c.workloads[0].attestedMs, 3_000n)
  // exclusions
  const missed = witness(CID, { polls: [{ window: 0n, answered: true, healthy: true }, { window: 1n, answered: false, healthy: false }] })
  c = epochCredit({ epochStart: 0n, epochEnd: 10_000n, capacity: CAP, workloads: [missed] })
  t.equal(c.workloads[0].cu, 0n)
  t.equal(c.workloads[0].reason, 'missed-poll')
  const sick = witness(CID, { polls: [{ window: 0n, answered: true, healthy: true }, { window: 1n, answered: true, healthy: false }] })
  t.equal(epochCredit({ epochStart: 0n, epochEnd: 10_000n, capacity: CAP, workloads: [sick] }).workloads[0].reason, 'unhealthy')
  // the unhealthy window 1 = [5 s, 10 s) does not touch the epoch [0, 5 s)
  t.equal(epochCredit({ epochStart: 0n, epochEnd: 5_000n, capacity: CAP, workloads: [sick] }).workloads[0].reason, 'credited')
  t.equal(epochCredit({ epochStart: 0n, epochEnd: 10_000n, capacity: CAP, workloads: [{ ...witness(CID), agent: null }] }).workloads[0].reason, 'no-agent')
  t.equal(epochCredit({ epochStart: 0n, epochEnd: 10_000n, capacity: CAP, workloads: [witness(CID, { usage: null })] }).workloads[0].reason, 'no-cgroup-usage')
  t.equal(epochCredit({ epochStart: 20_000n, epochEnd: 30_000n, capacity: CAP, workloads: [witness(CID)] }).workloads[0].reason, 'not-running')
  t.throws(() => epochCredit({ epochStart: 5n, epochEnd: 5n, capacity: CAP, workloads: [] }), { code: 'E_ATTEST_EPOCH' })
  t.throws(() => epochCredit({ epochStart: 0n, epochEnd: 5n, capacity: CAP, workloads: [witness(CID), witness(CID)] }), { code: 'E_ATTEST_DUPLICATE' })
})

t.test('epoch credit: capped by declared capacity at every moment', async (t) => {
  const one = { nanoCpus: 1_000_000_000n, memoryBytes: 0n }
  const cap = { nanoCpus: 1_000_000_000n, memoryBytes: 1n << 30n }
  // two 1-core workloads on a 1-core node: [0,4 s) alone, [4 s, 6 s) together (halved), [6 s,10 s) the other alone
  const a = witness(CID, { from: 0n, to: 6_000n, r: one })
  const b = witness(CID2, { from: 4_000n, to: 10_000n, r: one })
  const c = epochCredit({ epochStart: 0n, epochEnd: 10_000n, capacity: cap, workloads: [b, a] })
  t.equal(c.workloads[0].containerId, CID, 'sorted by container id')
  t.equal(c.workloads[0].cu, 4_000n + 1_000n) // 4 s × 1000 millicores + 2 s × 500
  t.equal(c.workloads[1].cu, 1_000n + 4_000n)
  t.equal(c.total, 10_000n, 'never more than capacity × time')
  // overlapping daemon intervals are merged, not double counted
  const dup = witness(CID, { r: one })
  dup.daemon.intervals = [{ from: 0n, to: 6_000n }, { from: 2_000n, to: 10_000n }]
  t.equal(epochCredit({ epochStart: 0n, epochEnd: 10_000n, capacity: cap, workloads: [dup] }).workloads[0].attestedMs, 10_000n)
})
