import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent } from '../../agent/agent.js'
import { parseBootTime, parseStat, readCgroup, readProcess } from '../../agent/proc.js'
import { isHealthy, lineReader } from '../../agent/wire.js'
import type { AgentMessage } from '../../agent/wire.js'
import { verifyExitReport, windowOf } from '../../protocol/attestation.js'
import { agentSpanMessage, checkpointHash, checkpointMessage } from '../../protocol/checkpoint.js'
import { ZERO_HASH } from '../../protocol/hash.js'
import { verify } from '../../protocol/keys.js'
import { Signer } from '../../protocol/keys.js'
import { AgentServer, type AgentSession } from '../../node/attestation/agent-server.js'
import {
  agentName, eventTimeMs, healthFromEventAction, healthFromState, isAttestable, minReservation, reservationFromHostConfig
} from '../../node/attestation/witness.js'

const CID = 'ab'.repeat(32)

t.test('witness helpers', async (t) => {
  t.equal(agentName(CID), 'econumi-agent-abababababab')
  t.ok(isAttestable('/web', {}))
  t.notOk(isAttestable('/econumi-node', {}))
  t.notOk(isAttestable('econumi-agent-x', {}))
  t.notOk(isAttestable('x', { 'econumi.role': 'agent' }))
  t.same(reservationFromHostConfig({ NanoCpus: 5e8, Memory: 67108864 }), { nanoCpus: 500_000_000n, memoryBytes: 67_108_864n })
  t.same(reservationFromHostConfig({ CpuQuota: 50000, CpuPeriod: 100000 }), { nanoCpus: 500_000_000n, memoryBytes: 0n })
  t.same(reservationFromHostConfig({ CpuQuota: 25000 }), { nanoCpus: 250_000_000n, memoryBytes: 0n })
  t.same(reservationFromHostConfig(null), { nanoCpus: 0n, memoryBytes: 0n })
  t.same(reservationFromHostConfig({ NanoCpus: -1, Memory: Number.NaN }), { nanoCpus: 0n, memoryBytes: 0n })
  t.same(minReservation({ nanoCpus: 5n, memoryBytes: 1n }, { nanoCpus: 2n, memoryBytes: 9n }), { nanoCpus: 2n, memoryBytes: 1n })
  t.same(minReservation({ nanoCpus: 5n, memoryBytes: 1n }, null), { nanoCpus: 5n, memoryBytes: 1n })
  t.equal(healthFromState({ Health: { Status: 'unhealthy' } }), 'unhealthy')
  t.equal(healthFromState({}), 'none')
  t.equal(healthFromEventAction('health_status: healthy'), 'healthy')
  t.equal(healthFromEventAction('start'), null)
  t.equal(eventTimeMs({ timeNano: '1795520812004123456' }), 1795520812004)
  t.equal(eventTimeMs({ time: 5 }), 5000)
  t.ok(isHealthy(true, 'starting'))
  t.notOk(isHealthy(true, 'unhealthy'))
  t.notOk(isHealthy(false, 'healthy'))
})

t.test('agent reads its workload from /proc', async (t) => {
  t.same(parseStat('1 (sleep) S 0 1 1 0 -1 4194560 92 0 0 0 0 0 0 0 20 0 1 0 4242 1294336 1 18446744073709551615'), { state: 'S', startTicks: 4242 })
  t.same(parseStat('7 (a) b) Z 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0'), { state: 'Z', startTicks: 99 })
  t.equal(parseStat('garbage'), null)
  t.equal(parseBootTime('cpu 1 2\nbtime 1700000000\n'), 1_700_000_000)
  t.equal(parseBootTime('cpu 1'), null)
  const me = readProcess(process.pid)
  t.ok(me.alive)
  t.ok(me.startTime !== null && Math.abs(me.startTime - (Date.now() - process.uptime() * 1000)) < 5000, 'start time from /proc matches')
  t.same(readProcess(2 ** 30), { alive: false, startTime: null })
})

t.test('line reader', async (t) => {
  const got: unknown[] = []
  const errors: string[] = []
  const feed = lineReader((m) => got.push(m), (c) => errors.push(c))
  feed(Buffer.from('{"a":1}\n\n{"b"'))
  feed(Buffer.from(':2}\n'))
  t.same(got, [{ a: 1 }, { b: 2 }])
  feed(Buffer.from('nope\n'))
  t.same(errors, ['E_AGENT_WIRE_JSON'])
  const big = lineReader(() => {}, (c) => errors.push(c))
  big(Buffer.alloc(70_000, 0x61))
  t.equal(errors[1], 'E_AGENT_WIRE_LINE')
})

t.test('agent ↔ node over the unix socket: hello, challenge, answer, report', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'econumi-agent-wire-'))
  const signer = new Signer(new Uint8Array(32).fill(7))
  const node = new Signer(new Uint8Array(32).fill(9))
  let now = 1_795_520_800_000
  const sessions: AgentSession[] = []
  const messages: AgentMessage[] = []
  const refused: string[] = []
  let closed = 0
  const server = new AgentServer(join(dir, 'agents'), {
    agentKey: (id) => (id === CID ? signer.publicKey : null),
    onSession: (s) => sessions.push(s),
    onMessage: (_s, m) => messages.push(m),
    onClose: () => { closed++ },
    log: (e) => refused.push(e)
  })
  await server.listen()
  let alive = true
  const agent = new Agent({
    signer,
    now: () => now,
    readProcess: () => ({ alive, startTime: now - 500 }),
    reconnectMs: 50,
    watchMs: 60_000, // this test drives checkpoints itself; the watch has its own test
    boot: {
      v: 1, nodeId: Buffer.from(node.publicKey).toString('hex'), containerId: CID, image: 'econumi/busybox:test', imageDigest: 'sha256:' + '11'.repeat(32),
      reservations: { nanoCpus: '500000000', memoryBytes: '67108864' }, certificate: '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n',
      socket: server.path, checkpointMs: 60_000
    }
  })
  agent.start()
  const until = async (pred: () => boolean): Promise<void> => { for (let i = 0; i < 200 && !pred(); i++) await new Promise((resolve) => setTimeout(resolve, 10)) }
  await until(() => sessions.length === 1 && messages.length >= 1)
  t.equal(sessions[0].containerId, CID)
  t.equal(messages[0].t, 'report', 'a checkpoint right after the hello')

  const window = windowOf(BigInt(now))
  const nonce = Buffer.alloc(32, 3)
  now += 1000
  sessions[0].send({ t: 'challenge', window: window.toString(), nonce: nonce.toString('hex'), health: 'healthy' })
  await until(() => messages.some((m) => m.t === 'answer'))
  const answer = messages.find((m) => m.t === 'answer') as Extract<AgentMessage, { t: 'answer' }>
  t.equal(answer.healthy, true)
  t.equal(answer.prev, Buffer.from(ZERO_HASH).toString('hex'), 'the first checkpoint names no predecessor')
  const cp = { window, nonce, healthy: true, prev: ZERO_HASH, signature: Buffer.from(answer.signature, 'hex') }
  t.ok(verify(signer.publicKey, checkpointMessage(CID, cp), cp.signature), 'the answer is a checkpoint signed by the agent key')
  t.notOk(verify(signer.publicKey, checkpointMessage(CID, { ...cp, healthy: false }), cp.signature), 'binding its health')
  t.equal(answer.span.lastAlive, now)
  t.ok(verify(signer.publicKey, agentSpanMessage(CID, { attestedFrom: BigInt(answer.span.attestedFrom), lastAlive: BigInt(answer.span.lastAlive) }, { nanoCpus: 500_000_000n, memoryBytes: 67_108_864n }), Buffer.from(answer.span.signature, 'hex')), 'and its span with the reservation')
  const r = verifyExitReport(answer.report)
  t.equal(r.pollsAnswered, 1)
  t.equal(r.lastAlive, now)

  // unhealthy by Docker's health check: signed as such
  sessions[0].send({ t: 'challenge', window: window.toString(), nonce: Buffer.alloc(32, 4).toString('hex'), health: 'unhealthy' })
  await until(() => messages.filter((m) => m.t === 'answer').length === 2)
  const second = messages.filter((m) => m.t === 'answer')[1] as Extract<AgentMessage, { t: 'answer' }>
  t.equal(second.healthy, false)
  t.equal(second.prev, Buffer.from(checkpointHash(CID, cp)).toString('hex'), 'the next checkpoint chains to the first')
  // a challenge for another window (replay) is ignored
  sessions[0].send({ t: 'challenge', window: (window - 1n).toString(), nonce: nonce.toString('hex'), health: 'none' })
  sessions[0].send({ t: 'checkpoint', health: 'none' })
  await until(() => messages.filter((m) => m.t === 'report').length === 2)
  t.equal(messages.filter((m) => m.t === 'answer').length, 2)

  // the process is gone: the last exit report keeps the last instant it was seen alive
  const lastAlive = now
  alive = false
  now += 3000
  sessions[0].send({ t: 'checkpoint', health: 'none' })
  await until(() => messages.filter((m) => m.t === 'report').length === 3)
  const last = verifyExitReport((messages.filter((m) => m.t === 'report')[2] as { report: unknown }).report)
  t.equal(last.lastAlive, lastAlive)
  t.equal(last.healthy, false)

  // reconnect after the node restarts; a hello for an unknown container is refused
  sessions[0].close()
  await until(() => sessions.length === 2)
  t.equal(sessions.length, 2, 'the agent reconnected')
  agent.stop()
  const { createConnection } = await import('node:net')
  const bad = createConnection(server.path)
  bad.on('error', () => {})
  bad.on('data', () => { bad.write(JSON.stringify({ t: 'hello', containerId: 'cd'.repeat(32), publicKey: '00', signature: '00'.repeat(64) }) + '\n') })
  await until(() => refused.includes('agent-hello-refused'))
  t.ok(refused.includes('agent-hello-refused'))
  await server.close()
  t.ok(closed >= 1)
})

t.test('agent reads its workload from its cgroup (v2 cgroup.events, v1 pids.current)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'econumi-cgroup-'))
  /** A cgroup directory `version` whose `file` says the workload runs, then that it ended. */
  const runsThenEnds = (version: string, file: string, runs: string, ended: string, why: string): string => {
    const cgroup = join(dir, version)
    mkdirSync(cgroup)
    writeFileSync(join(cgroup, file), runs)
    t.same(readCgroup(cgroup), { alive: true, startTime: null })
    writeFileSync(join(cgroup, file), ended)
    t.same(readCgroup(cgroup), { alive: false, startTime: null }, why)
    return cgroup
  }
  runsThenEnds('v2', 'cgroup.events', 'populated 1\nfrozen 0\n', 'populated 0\nfrozen 0\n', 'v2: an empty cgroup is not alive')
  const v1 = runsThenEnds('v1', 'pids.current', '3\n', '0\n', 'v1: no task is not alive')
  rmSync(v1, { recursive: true })
  t.same(readCgroup(v1), { alive: false, startTime: null }, 'a removed cgroup (the workload ended) is not alive')
})

t.test('the agent sends a last exit report and ends when its workload is gone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'econumi-agent-gone-'))
  const signer = new Signer(new Uint8Array(32).fill(8))
  let now = 1_795_520_900_000
  const reports: unknown[] = []
  const server = new AgentServer(join(dir, 'agents'), {
    agentKey: (id) => (id === CID ? signer.publicKey : null),
    onSession: () => {},
    onMessage: (_s, m) => { if (m.t === 'report') reports.push(m.report) },
    onClose: () => {},
    log: () => {}
  })
  await server.listen()
  t.teardown(async () => { await server.close() })
  let alive = true
  let gone = 0
  const agent = new Agent({
    signer,
    now: () => now,
    readProcess: () => ({ alive, startTime: null }),
    watchMs: 20,
    onGone: () => { gone++ },
    boot: {
      v: 1, nodeId: '00'.repeat(32), containerId: CID, image: 'econumi/busybox:test', imageDigest: 'sha256:' + '11'.repeat(32),
      reservations: { nanoCpus: '500000000', memoryBytes: '67108864' }, certificate: '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n',
      socket: server.path, checkpointMs: 60_000
    }
  })
  agent.start()
  t.teardown(() => { agent.stop() })
  const until = async (pred: () => boolean): Promise<void> => { for (let i = 0; i < 300 && !pred(); i++) await new Promise((resolve) => setTimeout(resolve, 10)) }
  await until(() => reports.length >= 1)
  now += 2000
  await new Promise((resolve) => setTimeout(resolve, 60)) // watched alive at the new instant
  const lastAlive = now
  alive = false
  now += 5000
  await until(() => gone === 1)
  t.equal(gone, 1, 'onGone called once the workload is gone')
  const last = verifyExitReport(reports[reports.length - 1])
  t.equal(last.lastAlive, lastAlive, 'the last exit report carries the last instant it saw the workload alive')
  t.equal(last.healthy, false)
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(gone, 1, 'only once')
})
