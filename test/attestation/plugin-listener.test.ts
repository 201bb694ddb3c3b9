// The plugin's real event client (plugin/server.ts EventQueue) against the real collector's plugin listener
// (<runDir>/node.sock): events with the node token arrive and count; without it, or with a wrong one, they
// are refused and dropped; a create event's reservations lower what inspect says; the socket is 0600.
import t from 'tap'
import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Signer } from '../../protocol/keys.js'
import { genesisHash } from '../../protocol/params.js'
import { testParams } from '../helpers/chain.js'
import { AttestationCollector } from '../../node/attestation/collector.js'
import { EventQueue, type PluginStats, optionsFromEnv } from '../../plugin/server.js'
import type { PluginEvent } from '../../plugin/types.js'
import { FakeDocker } from './fake-docker.js'

const PARAMS = testParams({ genesisTime: 0n, epochMs: 10_000n })

const WID = 'ef'.repeat(32)

t.test('plugin events reach the collector through its listener, with the node token only', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'econumi-plugin-listener-'))
  const runDir = mkdtempSync(join(tmpdir(), 'econumi-plugin-listener-run-'))
  const signer = new Signer(new Uint8Array(32).fill(3))
  const identity = { signer, nodeId: Buffer.from(signer.publicKey).toString('hex') }
  const docker = new FakeDocker()
  const never = { setTimeout: () => ({}) as NodeJS.Timeout, clearTimeout: () => {} }
  const c = new AttestationCollector({ identity, params: PARAMS, genesis: genesisHash(PARAMS), registeredCapacity: async () => null, appendRecord: async () => 0 },
    { dataDir, runDir, docker, pollTimers: never, log: () => {} })
  await c.start()
  t.teardown(async () => { await c.close() })
  const sock = join(runDir, 'node.sock')
  t.equal(statSync(sock).mode & 0o777, 0o600, 'node.sock is 0600')

  const opts = { ...optionsFromEnv({ ECONUMI_RUN_DIR: runDir }), log: () => {} }
  t.equal(opts.nodeSocket, sock, 'the plugin and the node agree on the socket path')
  const send = async (token: string | null, events: PluginEvent[]): Promise<PluginStats> => {
    const stats: PluginStats = { requests: 0, responses: 0, denials: 0, eventsQueued: 0, eventsSent: 0, eventsDropped: 0, decideNs: 0n }
    const q = new EventQueue(opts, stats, () => token)
    q.push(events)
    await q.idle()
    return stats
  }
  const create: PluginEvent = { v: 1, kind: 'create', time: Date.now(), id: WID, ref: '', name: 'work', image: 'econumi/busybox:test', labels: {}, reservations: { nanoCpus: 250_000_000, memoryBytes: 16 * 1024 * 1024 } }
  const token = readFileSync(join(runDir, 'node-token'), 'utf8').trim()

  const noToken = await send(null, [create])
  t.equal(noToken.eventsDropped, 1, 'without the token: refused, dropped')
  const wrong = await send('00'.repeat(32), [create])
  t.equal(wrong.eventsDropped, 1, 'with a wrong token: refused, dropped')
  t.equal(c.status().pluginEvents, 0, 'the collector counted none of them')

  const ok = await send(token, [create, { ...create, id: 'e'.repeat(64), time: Date.now() }])
  t.equal(ok.eventsSent, 2, 'with the token: sent')
  t.equal(c.status().pluginEvents, 2, 'the collector counted both')

  // the workload starts with larger reservations than the plugin saw in its create body: the lower ones count
  docker.addWorkload(WID, { NanoCpus: 500_000_000, Memory: 64 * 1024 * 1024 })
  docker.event('start', WID, Date.now())
  const end = Date.now() + 5000
  while (docker.created.length === 0 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 10))
  t.same(c.workloadStatus()[0]?.reservation, { nanoCpus: '250000000', memoryBytes: String(16 * 1024 * 1024) }, 'reservations = min(inspect, plugin create)')
})
