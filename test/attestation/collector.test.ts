// The collector on an injected subset of the Docker API (as SPIRE's docker attestor tests do) and a fake
// clock, with real agents (agent/agent.ts) talking to its real agent socket: workload start → agent boot
// over stdin → signed checkpoints → credit for a finished epoch = the formula; a partial epoch is never
// persisted; a restart adopts the running agent and never credits an interval twice; the plugin's create
// event can only lower a reservation.
import t from 'tap'
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent } from '../../agent/agent.js'
import type { AgentBoot } from '../../agent/wire.js'
import { computeUnits } from '../../protocol/compute-units.js'
import { Signer } from '../../protocol/keys.js'
import { EVIDENCE_RECORD_TAG } from '../../protocol/attestation.js'
import { checkpointHash } from '../../protocol/checkpoint.js'
import { type EpochEvidence, creditFromEvidence, decodeEvidence, evidenceRoot } from '../../protocol/evidence.js'
import { genesisHash } from '../../protocol/params.js'
import { x509AgentChecker } from '../../protocol/certificates.js'
import { testParams } from '../helpers/chain.js'
import { type AttestationChain, AttestationCollector, startAttestation } from '../../node/attestation/collector.js'
import { FakeDocker } from './fake-docker.js'

const EPOCH_MS = 10_000n
const T0 = 1_795_520_000_000 // an epoch boundary (genesisTime 0)
const WID = 'ab'.repeat(32)
const RES = { NanoCpus: 500_000_000, Memory: 64 * 1024 * 1024 }
const PARAMS = testParams({ genesisTime: 0n, epochMs: EPOCH_MS })
const GENESIS = genesisHash(PARAMS)
const chainOf = (identity: AttestationChain['identity'], appendRecord: AttestationChain['appendRecord']): AttestationChain => ({ identity, params: PARAMS, genesis: GENESIS, registeredCapacity: async () => null, appendRecord })


const until = async (what: string, pred: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

t.test('collector: credit for a finished epoch, once, across a restart', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'econumi-collector-'))
  const runDir = mkdtempSync(join(tmpdir(), 'econumi-collector-run-'))
  let now = T0 + 1000
  const clock = (): number => now
  const identity = { signer: new Signer(new Uint8Array(32).fill(5)), nodeId: '' }
  identity.nodeId = Buffer.from(identity.signer.publicKey).toString('hex')
  const records: Uint8Array[] = []
  const chain = chainOf(identity, async (b) => { records.push(b); return records.length - 1 })
  const evidenceRecords = (): EpochEvidence[] => records.filter((r) => r[0] === EVIDENCE_RECORD_TAG).map((r) => decodeEvidence(r.subarray(1)))
  const docker = new FakeDocker()
  const logs: Array<{ event: string, [k: string]: unknown }> = []
  // poll timers on the fake clock: they fire when the test says
  const timers = new Map<NodeJS.Timeout, () => void>()
  const pollTimers = {
    setTimeout: (fn: () => void): NodeJS.Timeout => { const h = {} as NodeJS.Timeout; timers.set(h, fn); return h },
    clearTimeout: (h: NodeJS.Timeout): void => { timers.delete(h) }
  }
  const fireTimers = (): void => { const due = [...timers]; timers.clear(); for (const [, fn] of due) fn() }
  const open = async (): Promise<AttestationCollector> => {
    timers.clear()
    const c = new AttestationCollector(chain, { dataDir, runDir, docker, now: clock, pollTimers, capacity: { nanoCpus: 2_000_000_000n, memoryBytes: 1n << 30n }, log: (event, f = {}) => { logs.push({ event, ...f }) } })
    await c.start()
    return c
  }
  let collector = await open()
  const agents: Agent[] = []
  t.teardown(async () => { for (const a of agents) a.stop(); await collector.close() })
  t.equal(records.length, 1, 'the CA is published to the attestations core')

  // the plugin reports a smaller memory reservation than inspect will show: the lower one counts
  const { request } = await import('node:http')
  const token = readFileSync(join(runDir, 'node-token'), 'utf8').trim()
  await new Promise<void>((resolve, reject) => {
    const body = JSON.stringify([{ v: 1, kind: 'create', time: now, id: WID, ref: '', reservations: { nanoCpus: 500_000_000, memoryBytes: 32 * 1024 * 1024 } }])
    const req = request({ socketPath: join(runDir, 'node.sock'), path: '/v1/plugin/events', method: 'POST', headers: { 'X-Econumi-Node-Token': token, 'Content-Length': Buffer.byteLength(body) } }, (res) => { res.resume(); res.on('end', () => { t.equal(res.statusCode, 204); resolve() }) })
    req.on('error', reject)
    req.end(body)
  })

  // docker run: start event → inspect → an agent in its own PID namespace, key over stdin
  docker.addWorkload(WID, RES)
  docker.event('start', WID, now)
  await until('agent boot', () => docker.boots.length === 1)
  const spec = docker.created[0]
  t.equal(spec.name, `econumi-agent-${WID.slice(0, 12)}`)
  t.equal((spec.HostConfig as { PidMode?: string }).PidMode, undefined, 'no shared PID namespace')
  t.same((spec.HostConfig as { Mounts: unknown[] }).Mounts, [{ Type: 'bind', Source: `/sys/fs/cgroup/docker/${WID}`, Target: '/run/econumi-workload', ReadOnly: true }], 'the workload cgroup, read-only')
  const boot = docker.boots[0]
  t.match(boot.secretKey, /^[0-9a-f]{64}$/)
  t.notOk(readFileSync(join(dataDir, 'attestation', 'agents', `${WID}.json`), 'utf8').includes(boot.secretKey), 'only the public half is persisted')
  const startAgent = (b: AgentBoot): Agent => {
    const { secretKey, ...config } = b
    const a = new Agent({ boot: { ...config, socket: join(runDir, 'agents', 'agent.sock') }, signer: new Signer(Buffer.from(secretKey, 'hex')), now: clock, readProcess: () => ({ alive: true, startTime: null }), reconnectMs: 20 })
    agents.push(a)
    a.start()
    return a
  }
  startAgent(boot)
  await until('agent connected', () => logs.some((l) => l.event === 'agent-connected'))
  const attestedFrom = now

  // one health poll: the window opens, the challenge goes out at its instant, the agent answers
  now += 4000
  fireTimers() // the window
  fireTimers() // its challenge
  await until('answered poll', () => (collector.workloadStatus()[0]?.pollsAnswered as number) === 1)
  t.equal(collector.workloadStatus()[0].pollsMissed, 0)

  // a partial epoch is never persisted
  t.equal(await collector.computeUnitsFor(BigInt(T0) / EPOCH_MS + 1n), 0n, 'epoch not over: 0')
  t.equal(collector.readCredit(BigInt(T0) / EPOCH_MS), null, 'and nothing written for it')

  // the epoch ends; the boundary asks the agent for a fresh checkpoint
  const e = BigInt(T0) / EPOCH_MS
  now = T0 + Number(EPOCH_MS) + 200
  const cu = await collector.computeUnitsFor(e + 1n)
  const rec = collector.readCredit(e)!
  t.equal(rec.workloads[0].reason, 'credited')
  t.same(rec.workloads[0].polls, [{ window: String((BigInt(T0) + 5000n) / 5000n), answered: true, healthy: true }], 'the answered poll is in the record')
  // the evidence proves time from the first answered window on (the agent's first sight is only its word)
  const ms = BigInt(T0) + EPOCH_MS - (BigInt(T0) + 5000n)
  t.ok(BigInt(attestedFrom) < BigInt(T0) + 5000n)
  t.equal(rec.workloads[0].attestedMs, ms.toString(), 'attested from the first answered window to the epoch end')
  t.equal(cu, computeUnits(ms, { nanoCpus: 500_000_000n, memoryBytes: 32n * 1024n * 1024n }), 'CU = formula on the lower (plugin) memory reservation')
  t.ok(cu > 0n)
  // the evidence: published in the attestations core, committed by the record's root, recomputed by anyone to the same CU
  const evs = evidenceRecords()
  t.equal(evs.length, 1, 'the epoch\'s evidence is published')
  t.equal(Buffer.from(evidenceRoot(evs[0])).toString('hex'), rec.evidenceRoot, 'the record names its root')
  t.equal(creditFromEvidence(evs[0], { params: PARAMS, genesis: GENESIS, registeredCapacity: null, certificates: x509AgentChecker }).total, cu, 'an auditor recomputes the same CU from it')
  t.equal(evs[0].workloads[0].checkpoints.length, 1, 'one checkpoint: the answered poll')
  t.equal(Buffer.from(await collector.evidenceRootFor(e)).toString('hex'), rec.evidenceRoot, 'the report commits that root')
  const path = join(dataDir, 'attestation', 'credit', `${e}.json`)
  const written = readFileSync(path, 'utf8')
  const mtime = statSync(path).mtimeMs

  // restart: the running agent is adopted; the persisted epoch is never recomputed (the new process's
  // daemon interval starts at its own start, so a recomputation would give another total)
  await collector.close()
  now += 3000
  collector = await open()
  await until('agent adopted and reconnected', () => logs.filter((l) => l.event === 'agent-connected').length === 2)
  t.ok(logs.some((l) => l.event === 'agent-adopted'), 'agent adopted')
  t.equal(docker.boots.length, 1, 'no second agent started')
  t.equal(await collector.computeUnitsFor(e + 1n), cu, 'same CU for the persisted epoch after the restart')
  t.equal(readFileSync(path, 'utf8'), written, 'record unchanged')
  t.equal(statSync(path).mtimeMs, mtime, 'record not rewritten')
  // the epoch of the downtime: credited only from the restart on
  const restartedAt = now
  // polls after the restart: one in the window the restart fell in (it began before), one in the last window
  for (const at of [now + 100, T0 + Number(EPOCH_MS) + 5500]) {
    const answered = (collector.workloadStatus()[0]?.pollsAnswered as number | undefined) ?? 0
    now = at
    fireTimers() // the window (and stale timers)
    fireTimers() // its challenge
    await until('answered poll after the restart', () => (collector.workloadStatus()[0]?.pollsAnswered as number) > answered)
  }
  now = T0 + 2 * Number(EPOCH_MS) + 200
  await collector.computeUnitsFor(e + 2n)
  const next = collector.readCredit(e + 1n)!
  t.equal(next.workloads[0].daemonIntervals[0][0], String(restartedAt), 'the daemon interval starts at the restart, not before')
  t.equal(next.workloads[0].attestedMs, String(BigInt(T0) + 2n * EPOCH_MS - BigInt(restartedAt)), 'nothing credited while the node was down')
  const ev2 = evidenceRecords()[1]
  t.equal(ev2.workloads[0].checkpoints.length, 2)
  t.same(ev2.workloads[0].checkpoints[1].prev, checkpointHash(WID, ev2.workloads[0].checkpoints[0]), 'the agent chains its checkpoints')

  // the workload dies: the last exit report received is kept, the agent is removed
  docker.event('die', WID, now, { exitCode: '0' })
  await until('exit report', () => logs.some((l) => l.event === 'exit-report' || l.event === 'exit-report-refused' || l.event === 'exit-report-missing'), 5000)
  t.ok(logs.some((l) => l.event === 'exit-report'), `exit report accepted (${JSON.stringify(logs.filter((l) => String(l.event).startsWith('exit-report')))})`)
  t.ok(docker.removed.includes(`econumi-agent-${WID.slice(0, 12)}`), 'agent container removed')
  t.equal(records.filter((r) => r[0] !== EVIDENCE_RECORD_TAG).length, 2, 'exit report appended to the attestations core')
})

t.test('collector: refuses to start when dockerd does not run the econumi plugin, leaving no socket behind', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'econumi-collector-'))
  const runDir = mkdtempSync(join(tmpdir(), 'econumi-collector-run-'))
  const identity = { signer: new Signer(new Uint8Array(32).fill(6)), nodeId: '' }
  identity.nodeId = Buffer.from(identity.signer.publicKey).toString('hex')
  const chain = chainOf(identity, async () => 0)
  const docker = new FakeDocker()
  docker.authz = false
  await t.rejects(startAttestation(chain, { dataDir, runDir, docker, capacity: { nanoCpus: 1_000_000_000n, memoryBytes: 1n << 30n }, log: () => {} }),
    { code: 'E_PLUGIN_NOT_ENABLED', message: /authorization-plugins.*daemon\.json/ }, 'the error says how to enable it')
  t.notOk(existsSync(join(runDir, 'node.sock')), 'the plugin socket is closed again')
  t.same(readdirSync(join(runDir, 'agents')).filter((f) => f.endsWith('.sock')), [], 'and no agent socket is left')
  docker.authz = true
  const ok = await startAttestation(chain, { dataDir, runDir, docker, capacity: { nanoCpus: 1_000_000_000n, memoryBytes: 1n << 30n }, log: () => {} })
  t.ok(existsSync(join(runDir, 'node.sock')), 'with the plugin it starts')
  await ok.close()
})
