// The real plugin socket server in-process on a temp socket, real HTTP over unix sockets, and a real fake
// node (a unix-socket HTTP server run by this test) receiving the events.
import t, { type Test } from 'tap'
import { createServer, request, type Server } from 'node:http'
import { mkdtemp, readFile, rm, writeFile, utimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PluginServer, detectSelfPluginId, optionsFromEnv, type PluginServerOptions } from '../../plugin/server.js'
import type { AuthZRequest, PluginEvent } from '../../plugin/types.js'

const TOKEN = 'tok-' + 'x'.repeat(40)
const ID = (c: string): string => c.repeat(64)
const b64 = (x: unknown): string => Buffer.from(JSON.stringify(x)).toString('base64')
/** dockerd's AuthZRes for a create that succeeded: the one call the plugin reports to the node. */
const created = (i: number): Record<string, unknown> => ({ RequestMethod: 'POST', RequestUri: `/v1.41/containers/create?name=w${i}`, RequestBody: b64({ Image: 'econumi/busybox:test' }), ResponseStatusCode: 201, ResponseBody: b64({ Id: i.toString(16).padStart(64, '0'), Warnings: [] }) })

async function post (socketPath: string, path: string, body: unknown): Promise<{ status: number, json: any, ms: number }> {
  const t0 = performance.now()
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()), ms: performance.now() - t0 }))
    })
    req.on('error', reject)
    req.end(text)
  })
}

interface FakeNode { server: Server, batches: PluginEvent[][], tokens: Array<string | undefined>, close: () => Promise<void> }
async function fakeNode (socketPath: string, mode: 'ok' | 'hang' | 'error' = 'ok'): Promise<FakeNode> {
  const batches: PluginEvent[][] = []
  const tokens: Array<string | undefined> = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (mode === 'hang') return
      if (req.url === '/v1/plugin/events' && req.method === 'POST') {
        batches.push(JSON.parse(Buffer.concat(chunks).toString()))
        tokens.push(req.headers['x-econumi-node-token'] as string | undefined)
      }
      res.writeHead(mode === 'error' ? 500 : 204)
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(socketPath, resolve))
  return {
    server,
    batches,
    tokens,
    close: async () => await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections() })
  }
}

async function setup (t: Test, extra: Partial<PluginServerOptions> = {}): Promise<{ dir: string, plugin: PluginServer, logs: string[], opts: Partial<PluginServerOptions> }> {
  const dir = await mkdtemp(join(tmpdir(), 'eco-plg-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const logs: string[] = []
  const opts: Partial<PluginServerOptions> = {
    socketPath: join(dir, 'plugins', 'econumi.sock'),
    tokenFile: join(dir, 'node-token'),
    nodeSocket: join(dir, 'node.sock'),
    stateFile: join(dir, 'plugin-agents.json'),
    log: (l) => logs.push(l),
    ...extra
  }
  await writeFile(opts.tokenFile as string, TOKEN + '\n', { mode: 0o600 })
  const plugin = new PluginServer(opts)
  await plugin.start()
  t.teardown(async () => await plugin.close())
  return { dir, plugin, logs, opts }
}

const authzReq = (plugin: PluginServer, body: AuthZRequest | string): ReturnType<typeof post> => post(plugin.opts.socketPath, '/AuthZPlugin.AuthZReq', body)
const authzRes = (plugin: PluginServer, body: AuthZRequest): ReturnType<typeof post> => post(plugin.opts.socketPath, '/AuthZPlugin.AuthZRes', body)

t.test('activate, empty and malformed requests, unknown endpoints', async (t) => {
  const { plugin, logs } = await setup(t)
  t.same((await post(plugin.opts.socketPath, '/Plugin.Activate', {})).json, { Implements: ['authz'] })
  let r = await authzReq(plugin, {})
  t.equal(r.status, 200)
  t.equal(r.json.Allow, false)
  t.match(r.json.Msg, /E_AUTHZ_EMPTY_REQUEST/)
  r = await authzReq(plugin, '{not json')
  t.match(r.json.Msg, /E_AUTHZ_EMPTY_REQUEST/)
  r = await authzReq(plugin, '')
  t.match(r.json.Msg, /E_AUTHZ_EMPTY_REQUEST/)
  r = await authzReq(plugin, 'null')
  t.match(r.json.Msg, /E_AUTHZ_EMPTY_REQUEST/)
  r = await post(plugin.opts.socketPath, '/Nope', {})
  t.equal(r.status, 404)
  t.match(r.json.Err, /E_PLUGIN_ENDPOINT/)
  r = await authzReq(plugin, { RequestMethod: 'GET', RequestUri: '/v1.41/containers/%zz\n/json' })
  t.match(r.json.Msg, /E_AUTHZ_BAD_URI/)
  t.match(logs.join('\n'), /deny E_AUTHZ_BAD_URI GET \(undecodable\)/)
  t.equal(plugin.stats.denials, 5)
  t.ok(logs[0].startsWith('econumi-plugin: listening on'))
})

t.test('workload lifecycle events reach the node with the token; bodies are never logged', async (t) => {
  const { plugin, logs, opts } = await setup(t)
  const node = await fakeNode(opts.nodeSocket as string)
  t.teardown(node.close)
  const createBody = { Image: 'econumi/busybox:test', Env: ['PASSWORD=hunter2'], Labels: { app: 'a' }, HostConfig: { CpuQuota: 200000, CpuPeriod: 100000, Memory: 1 << 26 } }
  const uri = '/v1.41/containers/create?name=w1'
  let r = await authzReq(plugin, { RequestMethod: 'POST', RequestUri: uri, RequestBody: b64(createBody), RequestHeaders: { 'Content-Type': 'application/json' } })
  t.same(r.json, { Allow: true })
  r = await authzRes(plugin, { RequestMethod: 'POST', RequestUri: uri, RequestBody: b64(createBody), ResponseStatusCode: 201, ResponseBody: b64({ Id: ID('1'), Warnings: [] }) })
  t.same(r.json, { Allow: true })
  for (const [m, u] of [['POST', `/v1.41/containers/${ID('1')}/start`], ['POST', '/v1.41/containers/w1/kill?signal=KILL'], ['POST', '/v1.41/containers/w1/stop'], ['DELETE', '/v1.41/containers/w1']]) {
    t.same((await authzReq(plugin, { RequestMethod: m, RequestUri: u })).json, { Allow: true })
  }
  await plugin.events.idle()
  const events = node.batches.flat()
  t.same(events.map((e) => e.kind), ['create'], 'only the create is reported')
  t.same(events[0], { v: 1, kind: 'create', time: events[0].time, ref: '', id: ID('1'), name: 'w1', image: 'econumi/busybox:test', labels: { app: 'a' }, reservations: { nanoCpus: 2e9, memoryBytes: 1 << 26 } })
  t.ok(node.tokens.every((x) => x === TOKEN), 'events carry the node token')
  t.equal(plugin.stats.eventsSent, 1)
  // a denied create with a secret in the body: logged once, without the body
  r = await authzReq(plugin, { RequestMethod: 'POST', RequestUri: '/v1.41/containers/create?name=econumi-agent-evil', RequestBody: b64(createBody) })
  t.match(r.json.Msg, /E_AGENT_RESERVED/)
  t.equal(logs.filter((l) => l.includes('deny')).length, 1)
  t.match(logs.join('\n'), /deny E_AGENT_RESERVED POST \/containers\/create$/m)
  t.notMatch(logs.join('\n'), /hunter2|UEFTU1dPUkQ/)
})

t.test('agents: learned from create, protected by name/id/prefix, registry survives a restart, token changes', async (t) => {
  const { plugin, opts } = await setup(t, { tokenCheckMs: 50 })
  const node = await fakeNode(opts.nodeSocket as string)
  t.teardown(node.close)
  const agentId = 'ab'.repeat(32)
  const agentBody = { Image: 'econumi/agent', Labels: { 'econumi.role': 'agent' } }
  const nodeHdr = { 'X-Econumi-Node-Token': TOKEN }
  t.match((await authzReq(plugin, { RequestMethod: 'POST', RequestUri: '/v1.41/containers/create?name=agent7', RequestBody: b64(agentBody) })).json.Msg, /E_AGENT_RESERVED/)
  t.same((await authzReq(plugin, { RequestMethod: 'POST', RequestUri: '/v1.41/containers/create?name=agent7', RequestBody: b64(agentBody), RequestHeaders: nodeHdr })).json, { Allow: true })
  await authzRes(plugin, { RequestMethod: 'POST', RequestUri: '/v1.41/containers/create?name=agent7', RequestBody: b64(agentBody), RequestHeaders: nodeHdr, ResponseStatusCode: 201, ResponseBody: b64({ Id: agentId }) })
  for (const ref of ['agent7', agentId, 'abab', 'a']) {
    t.match((await authzReq(plugin, { RequestMethod: 'POST', RequestUri: `/v1.41/containers/${ref}/stop` })).json.Msg, /E_AGENT_PROTECTED/, `stop ${ref}`)
    t.same((await authzReq(plugin, { RequestMethod: 'POST', RequestUri: `/v1.41/containers/${ref}/stop`, RequestHeaders: nodeHdr })).json, { Allow: true }, `node stops ${ref}`)
  }
  await plugin.state.flush()
  const saved = JSON.parse(await readFile(opts.stateFile as string, 'utf8'))
  t.same(saved.agents.map((a: { id: string, name: string }) => [a.id, a.name]), [[agentId, 'agent7']])
  await plugin.events.idle()
  t.equal(node.batches.length, 0, 'agents are never reported as workloads')

  // a second plugin process on the same state file keeps protecting the agent
  await plugin.close()
  const again = new PluginServer({ ...opts, socketPath: opts.socketPath as string })
  await again.start()
  t.teardown(async () => await again.close())
  t.match((await authzReq(again, { RequestMethod: 'POST', RequestUri: '/v1.41/containers/abab/exec', RequestBody: b64({ Cmd: ['sh'] }) })).json.Msg, /E_AGENT_PROTECTED/)

  // the node rotates its token: the old one stops working once the file changes
  await writeFile(opts.tokenFile as string, 'rotated-token')
  await utimes(opts.tokenFile as string, new Date(), new Date(Date.now() + 5000))
  await again.tokens.check()
  t.match((await authzReq(again, { RequestMethod: 'POST', RequestUri: `/v1.41/containers/${agentId}/kill`, RequestHeaders: nodeHdr })).json.Msg, /E_AGENT_PROTECTED/)
  t.same((await authzReq(again, { RequestMethod: 'POST', RequestUri: `/v1.41/containers/${agentId}/kill`, RequestHeaders: { 'X-Econumi-Node-Token': 'rotated-token' } })).json, { Allow: true })
  // the node removes the agent: forgotten after its AuthZRes
  const del = { RequestMethod: 'DELETE', RequestUri: `/v1.41/containers/${agentId}?force=1`, RequestHeaders: { 'X-Econumi-Node-Token': 'rotated-token' } }
  t.same((await authzReq(again, del)).json, { Allow: true })
  t.same((await authzRes(again, { ...del, ResponseStatusCode: 204 })).json, { Allow: true })
  t.equal(again.state.agents.size, 0)
  await again.state.flush()
  t.same(JSON.parse(await readFile(opts.stateFile as string, 'utf8')).agents, [])
  // token file removed: nobody is the node
  await rm(opts.tokenFile as string)
  await again.tokens.check()
  t.equal(again.tokens.token, null)
})

t.test('events of a burst of calls go to the node in one POST over one kept-alive connection', async (t) => {
  // the delay runs from a burst's first event: 1 s, not the default 50 ms, so that a slow machine's 12 calls fit
  const { plugin, opts } = await setup(t, { eventDelayMs: 1000 })
  const node = await fakeNode(opts.nodeSocket as string)
  t.teardown(node.close)
  let connections = 0
  node.server.on('connection', () => { connections++ })
  for (let burst = 0; burst < 2; burst++) {
    // creates: the only calls the plugin reports
    for (let i = 0; i < 12; i++) t.same((await authzRes(plugin, created(burst * 12 + i))).json, { Allow: true })
    await plugin.events.idle()
  }
  t.equal(node.batches.flat().length, 24, 'every event delivered')
  t.equal(node.batches.length, 2, 'one POST per burst')
  t.equal(connections, 1, 'one connection for both')
})

t.test('a full batch of events does not wait for the delay', async (t) => {
  const { plugin, opts } = await setup(t, { eventDelayMs: 60_000, batchMax: 10 })
  const node = await fakeNode(opts.nodeSocket as string)
  t.teardown(node.close)
  for (let i = 0; i < 10; i++) await authzRes(plugin, created(i))
  const t0 = performance.now()
  await plugin.events.idle()
  t.ok(performance.now() - t0 < 10_000, 'sent long before the 60 s delay')
  t.same(node.batches.map((b) => b.length), [10])
})

t.test('node down, failing or hanging: AuthZ answers stay fast and allowed, events are dropped', async (t) => {
  for (const mode of ['absent', 'error', 'hang'] as const) {
    const { plugin, opts } = await setup(t, { nodeTimeoutMs: 200, queueMax: 50, batchMax: 10 })
    const node = mode === 'absent' ? null : await fakeNode(opts.nodeSocket as string, mode)
    if (node !== null) t.teardown(node.close)
    const times: number[] = []
    for (let i = 0; i < 200; i++) {
      const r = await authzRes(plugin, created(i))
      t.equal(r.json.Allow, true)
      times.push(r.ms)
    }
    times.sort((a, b) => a - b)
    const p99 = times[Math.floor(times.length * 0.99)]
    t.ok(p99 < 50, `${mode}: p99 round trip ${p99.toFixed(2)} ms`)
    await plugin.events.idle()
    t.equal(plugin.stats.eventsSent, 0, `${mode}: nothing delivered`)
    t.equal(plugin.stats.eventsDropped, 200, `${mode}: every event dropped (failed or over the bound)`)
    t.equal(plugin.events.pending, 0)
  }
})

t.test('environment options and self id detection', async (t) => {
  const o = optionsFromEnv({})
  t.same([o.socketPath, o.tokenFile, o.nodeSocket, o.stateFile, o.selfName, o.socketName], ['/run/docker/plugins/econumi.sock', '/run/econumi/node-token', '/run/econumi/node.sock', '/run/econumi/plugin-agents.json', 'econumi', 'econumi.sock'])
  const e = optionsFromEnv({ ECONUMI_RUN_DIR: '/x', ECONUMI_PLUGIN_SOCKET: '/s/p.sock', ECONUMI_PLUGIN_NAME: 'eco' })
  t.same([e.socketPath, e.tokenFile, e.socketName, e.selfName], ['/s/p.sock', '/x/node-token', 'p.sock', 'eco'])
  o.log('optionsFromEnv log goes to stdout')
  const dir = await mkdtemp(join(tmpdir(), 'eco-mi-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const id = 'c'.repeat(64)
  await writeFile(join(dir, 'mi'), `1 0 0:1 / / rw - overlay overlay rw\n2 1 0:2 /docker/plugins/${id} /run/docker/plugins rw - tmpfs tmpfs rw\n`)
  t.equal(await detectSelfPluginId(join(dir, 'mi')), id)
  t.equal(await detectSelfPluginId(join(dir, 'missing')), null)
  t.equal(await detectSelfPluginId('/proc/self/mountinfo'), null)
})

t.test('corrupt or unreadable state file: start anyway, say so', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'eco-st-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'state.json'), '{corrupt')
  const logs: string[] = []
  const plugin = new PluginServer({ socketPath: join(dir, 'p.sock'), tokenFile: join(dir, 'none'), nodeSocket: join(dir, 'n.sock'), stateFile: join(dir, 'state.json'), log: (l) => logs.push(l) })
  await plugin.start()
  t.teardown(async () => await plugin.close())
  t.match(logs[0], /E_PLUGIN_STATE_LOAD/)
  t.match(logs[1], /node token: absent/)
  const p2 = new PluginServer({ socketPath: join(dir, 'p2.sock'), tokenFile: join(dir, 'none'), nodeSocket: join(dir, 'n.sock'), stateFile: dir, log: (l) => logs.push(l) })
  await p2.start()
  t.teardown(async () => await p2.close())
  t.match(logs[2], /E_PLUGIN_STATE_LOAD/, 'a directory cannot be read as state')
})
