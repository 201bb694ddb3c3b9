// Table tests of the pure decision, with request shapes as dockerd 20.10 sends them.
import t from 'tap'
import { decideRequest, decideResponse, isAgentRef, isSelfPluginRef, parseUri, reservationsOf } from '../../plugin/decide.js'
import { PluginState } from '../../plugin/state.js'
import type { AuthZRequest } from '../../plugin/types.js'
import { CLI, NODE, TOKEN, b64, ctx, req, stateWithAgent } from '../helpers/authz-request.js'

const AGENT_ID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a'
const WORK_ID = '0f0e0d0c0b0a09080706050403020100ffeeddccbbaa99887766554433221100'
const SELF_ID = 'deadbeef00112233445566778899aabbccddeeff00112233445566778899aabb'
const mkState = (): PluginState => stateWithAgent(AGENT_ID)

const createBody = {
  Hostname: '', User: '', AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false, OpenStdin: false,
  Env: ['SECRET=do-not-log'], Cmd: ['true'], Image: 'econumi/busybox:test', Labels: { app: 'w' },
  HostConfig: { NanoCpus: 500000000, Memory: 67108864, AutoRemove: true, NetworkMode: 'default' }
}
const agentBody = { Image: 'econumi/agent:0.1.0', Labels: { 'econumi.role': 'agent' }, HostConfig: { NetworkMode: 'none' } }

interface Row { name: string, req: AuthZRequest, allow: boolean, code?: string, events?: number }
const rows: Row[] = [
  // empty retries and malformed input
  { name: 'empty retry', req: {}, allow: false, code: 'E_AUTHZ_EMPTY_REQUEST' },
  { name: 'no method', req: { RequestUri: '/v1.41/containers/json' }, allow: false, code: 'E_AUTHZ_EMPTY_REQUEST' },
  { name: 'no uri', req: { RequestMethod: 'GET' }, allow: false, code: 'E_AUTHZ_EMPTY_REQUEST' },
  { name: 'bad escape', req: req('GET', '/v1.41/containers/%zz/json'), allow: false, code: 'E_AUTHZ_BAD_URI' },
  // ordinary traffic
  { name: 'ping', req: req('HEAD', '/_ping'), allow: true },
  { name: 'version', req: req('GET', '/v1.41/version'), allow: true },
  { name: 'list', req: req('GET', '/v1.41/containers/json?all=1'), allow: true },
  { name: 'events', req: req('GET', '/v1.41/events?filters=%7B%7D'), allow: true },
  { name: 'workload create', req: req('POST', '/v1.41/containers/create', { RequestBody: b64(createBody) }), allow: true },
  { name: 'create without version', req: req('POST', '/containers/create?name=w1', { RequestBody: b64(createBody) }), allow: true },
  { name: 'create > 1 MiB arrives empty', req: req('POST', '/v1.41/containers/create'), allow: false, code: 'E_AUTHZ_NO_BODY' },
  { name: 'escaped create, empty body', req: req('POST', '/v1.41/containers/%63reate'), allow: false, code: 'E_AUTHZ_NO_BODY' },
  { name: 'double slash create, empty body', req: req('POST', '//v1.41//containers/create/'), allow: false, code: 'E_AUTHZ_NO_BODY' },
  { name: 'create body not an object', req: req('POST', '/v1.41/containers/create', { RequestBody: b64('[1]') }), allow: false, code: 'E_AUTHZ_BAD_BODY' },
  { name: 'create body not json', req: req('POST', '/v1.41/containers/create', { RequestBody: b64('{nope') }), allow: false, code: 'E_AUTHZ_BAD_BODY' },
  { name: 'exec create no body', req: req('POST', '/v1.41/containers/w1/exec'), allow: false, code: 'E_AUTHZ_NO_BODY' },
  { name: 'workload exec', req: req('POST', '/v1.41/containers/w1/exec', { RequestBody: b64({ Cmd: ['sh'] }) }), allow: true },
  { name: 'exec start', req: req('POST', '/v1.41/exec/abc/start', { RequestBody: b64({ Detach: false }) }), allow: true },
  { name: 'workload start', req: req('POST', '/v1.41/containers/w1/start'), allow: true, events: 0 },
  { name: 'workload stop', req: req('POST', `/v1.41/containers/${WORK_ID}/stop?t=1`), allow: true, events: 0 },
  { name: 'workload kill', req: req('POST', '/v1.41/containers/w1/kill?signal=TERM'), allow: true, events: 0 },
  { name: 'workload restart', req: req('POST', '/v1.41/containers/w1/restart'), allow: true, events: 0 },
  { name: 'workload rm', req: req('DELETE', '/v1.41/containers/w1?force=1&v=1'), allow: true, events: 0 },
  { name: 'workload cp', req: req('GET', '/v1.41/containers/w1/archive?path=%2Fetc'), allow: true },
  { name: 'workload rename', req: req('POST', '/v1.41/containers/w1/rename?name=w2'), allow: true },
  { name: 'workload wait', req: req('POST', '/v1.41/containers/w1/wait?condition=next-exit'), allow: true },
  // agent creation and namespace joins
  { name: 'agent create by label, no token', req: req('POST', '/v1.41/containers/create?name=x', { RequestBody: b64(agentBody) }), allow: false, code: 'E_AGENT_RESERVED' },
  { name: 'agent create by name, no token', req: req('POST', '/v1.41/containers/create?name=econumi-agent-y', { RequestBody: b64(createBody) }), allow: false, code: 'E_AGENT_RESERVED' },
  { name: 'agent create by %-name, no token', req: req('POST', '/v1.41/containers/create?name=%2Fecon%75mi-agent-y', { RequestBody: b64(createBody) }), allow: false, code: 'E_AGENT_RESERVED' },
  { name: 'agent create, wrong token', req: req('POST', '/v1.41/containers/create?name=econumi-agent-y', { RequestBody: b64(agentBody), RequestHeaders: { ...CLI, 'X-Econumi-Node-Token': 'guess' } }), allow: false, code: 'E_AGENT_RESERVED' },
  { name: 'agent create by node', req: req('POST', '/v1.41/containers/create?name=econumi-agent-y', { RequestBody: b64(agentBody), RequestHeaders: NODE }), allow: true },
  { name: 'agent create by node, lowercase header', req: req('POST', '/v1.41/containers/create?name=econumi-agent-y', { RequestBody: b64(agentBody), RequestHeaders: { 'x-econumi-node-token': TOKEN } }), allow: true },
  { name: 'join agent pid ns', req: req('POST', '/v1.41/containers/create', { RequestBody: b64({ Image: 'i', HostConfig: { PidMode: 'container:econumi-agent-x' } }) }), allow: false, code: 'E_AGENT_NAMESPACE_JOIN' },
  { name: 'join agent net ns by id prefix', req: req('POST', '/v1.41/containers/create', { RequestBody: b64({ Image: 'i', HostConfig: { NetworkMode: 'container:a1b2c3' } }) }), allow: false, code: 'E_AGENT_NAMESPACE_JOIN' },
  { name: 'volumes from agent', req: req('POST', '/v1.41/containers/create', { RequestBody: b64({ Image: 'i', HostConfig: { VolumesFrom: [7, 'w1', `${AGENT_ID}:ro`] } }) }), allow: false, code: 'E_AGENT_NAMESPACE_JOIN' },
  { name: 'join workload ns', req: req('POST', '/v1.41/containers/create', { RequestBody: b64({ Image: 'i', HostConfig: { PidMode: 'container:w1', VolumesFrom: ['w1:ro'] } }) }), allow: true },
  { name: 'node joins agent ns', req: req('POST', '/v1.41/containers/create', { RequestHeaders: NODE, RequestBody: b64({ Image: 'i', HostConfig: { PidMode: 'container:econumi-agent-x' } }) }), allow: true },
  { name: 'rename to agent name', req: req('POST', '/v1.41/containers/w1/rename?name=econumi-agent-z'), allow: false, code: 'E_AGENT_RESERVED' },
  { name: 'node renames to agent name', req: req('POST', '/v1.41/containers/w1/rename?name=econumi-agent-z', { RequestHeaders: NODE }), allow: true },
  // plugin self-protection, always (even with the token)
  { name: 'plugin disable', req: req('POST', '/v1.41/plugins/econumi/disable'), allow: false, code: 'E_PLUGIN_PROTECTED' },
  { name: 'plugin disable -f, full name', req: req('POST', '/v1.41/plugins/econumi:latest/disable?force=1'), allow: false, code: 'E_PLUGIN_PROTECTED' },
  { name: 'plugin rm -f', req: req('DELETE', '/v1.41/plugins/econumi:latest?force=1'), allow: false, code: 'E_PLUGIN_PROTECTED' },
  { name: 'plugin rm registry name', req: req('DELETE', '/v1.41/plugins/127.0.0.1:5000/econumi:latest'), allow: false, code: 'E_PLUGIN_PROTECTED' },
  { name: 'plugin rm escaped', req: req('DELETE', '/v1.41/plugins/%65conumi'), allow: false, code: 'E_PLUGIN_PROTECTED' },
  { name: 'plugin set', req: req('POST', '/v1.41/plugins/econumi/set', { RequestBody: b64(['DEBUG=1']) }), allow: false, code: 'E_PLUGIN_PROTECTED' },
  { name: 'plugin upgrade', req: req('POST', '/v1.41/plugins/econumi/upgrade?remote=evil%2Fx', { RequestBody: b64([]) }), allow: false, code: 'E_PLUGIN_PROTECTED' },
  { name: 'plugin disable by id prefix', req: req('POST', '/v1.41/plugins/deadbeef/disable'), allow: false, code: 'E_PLUGIN_PROTECTED' },
  { name: 'plugin disable by digest', req: req('POST', '/v1.41/plugins/econumi@sha256:00/disable'), allow: false, code: 'E_PLUGIN_PROTECTED' },
  { name: 'plugin disable with token', req: req('POST', '/v1.41/plugins/econumi/disable', { RequestHeaders: NODE }), allow: false, code: 'E_PLUGIN_PROTECTED' },
  { name: 'other plugin disable', req: req('POST', '/v1.41/plugins/vieux/sshfs:latest/disable'), allow: true },
  { name: 'plugin by id while own id unknown: fail closed', req: req('DELETE', '/v1.41/plugins/0123abcd'), allow: false, code: 'E_PLUGIN_PROTECTED' },
  { name: 'plugin enable', req: req('POST', '/v1.41/plugins/econumi/enable?timeout=30'), allow: true },
  { name: 'plugin inspect', req: req('GET', '/v1.41/plugins/econumi/json'), allow: true },
  { name: 'plugin list', req: req('GET', '/v1.41/plugins'), allow: true },
  { name: 'plugin push', req: req('POST', '/v1.41/plugins/econumi/push'), allow: true }
]

// Every protected agent operation, by name, '/name', full id, id prefix and escaped name; with and without token.
const agentOps: Array<[string, string, string?]> = [
  ['exec', 'POST', '/exec'],
  ['cp from', 'GET', '/archive?path=%2Frun%2Fsecrets'],
  ['cp to', 'PUT', '/archive?path=%2F'],
  ['cp stat', 'HEAD', '/archive?path=%2F'],
  ['attach', 'POST', '/attach?stream=1&stdout=1'],
  ['attach ws', 'GET', '/attach/ws'],
  ['stop', 'POST', '/stop'],
  ['kill', 'POST', '/kill?signal=KILL'],
  ['restart', 'POST', '/restart'],
  ['rm', 'DELETE', ''],
  ['rm -f', 'DELETE', '?force=1'],
  ['pause', 'POST', '/pause'],
  ['update', 'POST', '/update'],
  ['rename', 'POST', '/rename?name=w9'],
  ['export', 'GET', '/export']
]
const refs = ['econumi-agent-x', '%2Feconumi-agent-x', 'econumi-agent-unknown', AGENT_ID, AGENT_ID.slice(0, 12), 'a1b', 'econumi%2Dagent-x']
for (const [op, method, suffix] of agentOps) {
  for (const ref of refs) {
    const body = op === 'exec' || op === 'update' ? { RequestBody: b64({ Cmd: ['cat', '/run/secrets/key'] }) } : {}
    rows.push({ name: `agent ${op} ${ref}`, req: req(method, `/v1.41/containers/${ref}${suffix ?? ''}`, body), allow: false, code: 'E_AGENT_PROTECTED' })
    rows.push({ name: `agent ${op} ${ref} no version`, req: req(method, `/containers/${ref}${suffix ?? ''}`, body), allow: false, code: 'E_AGENT_PROTECTED' })
    rows.push({ name: `node ${op} ${ref}`, req: req(method, `/v1.41/containers/${ref}${suffix ?? ''}`, { ...body, RequestHeaders: NODE }), allow: true, events: 0 })
  }
}
// reading an agent is fine
for (const [op, method, suffix] of [['inspect', 'GET', '/json'], ['logs', 'GET', '/logs?stdout=1'], ['start', 'POST', '/start'], ['wait', 'POST', '/wait'], ['top', 'GET', '/top'], ['unpause', 'POST', '/unpause']]) {
  rows.push({ name: `agent ${op}`, req: req(method, `/v1.41/containers/econumi-agent-x${suffix}`), allow: true, events: 0 })
}

t.test('decideRequest table', async (t) => {
  const state = mkState()
  for (const row of rows) {
    const d = decideRequest(row.req, state, ctx)
    t.equal(d.allow, row.allow, `${row.name}: allow`)
    if (!row.allow) {
      t.equal(d.code, row.code, `${row.name}: code`)
      t.match(d.msg, new RegExp(`\\[${row.code}\\]$`), `${row.name}: msg ends with code`)
      t.notMatch(d.msg ?? '', /do-not-log/, `${row.name}: no body in msg`)
    }
    if (row.events !== undefined) t.equal(d.events.length, row.events, `${row.name}: events`)
    t.same(d.updates, [], `${row.name}: AuthZReq never updates state`)
  }
})

t.test('no token configured: nothing is from the node', async (t) => {
  const state = mkState()
  for (const token of [null, '']) {
    const d = decideRequest(req('POST', '/v1.41/containers/econumi-agent-x/stop', { RequestHeaders: { 'X-Econumi-Node-Token': '' } }), state, { ...ctx, nodeToken: token })
    t.equal(d.code, 'E_AGENT_PROTECTED')
  }
  const d = decideRequest(req('POST', '/v1.41/containers/econumi-agent-x/stop', { RequestHeaders: undefined }), state, ctx)
  t.equal(d.code, 'E_AGENT_PROTECTED')
})

t.test('a workload\'s start, stop, kill and remove are allowed and not reported (the node sees them in dockerd\'s events)', async (t) => {
  const state = mkState()
  for (const [m, u] of [['POST', '/v1.41/containers/w1/kill?signal=TERM'], ['POST', '/v1.41/containers/w1/kill'], ['POST', `/v1.41/containers/${WORK_ID}/start`], ['POST', `/v1.41/containers/${WORK_ID}/stop`], ['POST', '/v1.41/containers/w1/restart'], ['DELETE', '/v1.41/containers/w1?force=1'], ['DELETE', '/v1.41/containers/w1']]) {
    const d = decideRequest(req(m, u), state, ctx)
    t.equal(d.allow, true, `${m} ${u}: allowed`)
    t.same(d.events, [], `${m} ${u}: no event`)
  }
  t.same(decideRequest(req('POST', '/v1.41/containers/w1/start/x'), state, ctx).events, [], 'no such route: no event')
  t.same(decideRequest(req('GET', '/v1.41/containers/w1/start'), state, ctx).events, [], 'GET: no event')
})

t.test('decideResponse harvests creates, agent removals and the plugin id', async (t) => {
  const state = mkState()
  const created = { ResponseStatusCode: 201, ResponseBody: b64({ Id: WORK_ID, Warnings: [] }), ResponseHeaders: { 'Content-Type': 'application/json' } }
  let d = decideResponse(req('POST', '/v1.41/containers/create?name=%2Fw1', { RequestBody: b64(createBody), ...created }), state, ctx)
  t.same(d, {
    allow: true,
    updates: [],
    events: [{ v: 1, kind: 'create', time: ctx.now, ref: '', id: WORK_ID, name: 'w1', image: 'econumi/busybox:test', labels: { app: 'w' }, reservations: { nanoCpus: 500000000, memoryBytes: 67108864 } }]
  })
  d = decideResponse(req('POST', '/v1.41/containers/%63reate', { RequestBody: b64({ Labels: { a: 1 } }), ...created }), state, ctx)
  t.same(d.events[0], { v: 1, kind: 'create', time: ctx.now, ref: '', id: WORK_ID, labels: {}, reservations: { nanoCpus: 0, memoryBytes: 0 } }, 'no name, no image')
  d = decideResponse(req('POST', '/v1.41/containers/create?name=econumi-agent-q', { RequestBody: b64(agentBody), RequestHeaders: NODE, ...created }), state, ctx)
  t.same(d, { allow: true, events: [], updates: [{ op: 'add-agent', id: WORK_ID, name: 'econumi-agent-q', since: ctx.now }] })
  d = decideResponse(req('POST', '/v1.41/containers/create', { RequestBody: b64(agentBody), RequestHeaders: NODE, ...created }), state, ctx)
  t.same(d.updates, [{ op: 'add-agent', id: WORK_ID, since: ctx.now }], 'agent by label, no name')

  // failures and odd shapes: allow, nothing harvested
  for (const r of [
    req('POST', '/v1.41/containers/create', { RequestBody: b64(createBody), ResponseStatusCode: 409, ResponseBody: b64({ message: 'Conflict' }) }),
    req('POST', '/v1.41/containers/create', { RequestBody: b64(createBody), ResponseStatusCode: 201 }),
    req('POST', '/v1.41/containers/create', { RequestBody: b64(createBody), ResponseStatusCode: 201, ResponseBody: b64({ Id: 'short' }) }),
    req('POST', '/v1.41/containers/%zz', { ResponseStatusCode: 201 }),
    req('GET', '/v1.41/containers/json', { ResponseStatusCode: 200, ResponseBody: b64([]) }),
    req('DELETE', '/v1.41/containers/w1', { ResponseStatusCode: 204 }),
    { ResponseStatusCode: 200 },
    req('GET', '/v1.41/plugins', { ResponseStatusCode: 200, ResponseBody: b64([{ Id: 'x' }, 5, { Id: '0'.repeat(64), Config: { Interface: { Socket: 'other.sock' } } }]) })
  ]) {
    t.same(decideResponse(r, state, ctx), { allow: true, events: [], updates: [] })
  }
  d = decideResponse(req('POST', '/v1.41/containers/create', { ...created, ResponseBody: b64({ Id: WORK_ID }) }), state, ctx)
  t.equal(d.events[0].kind, 'create', 'request body missing in AuthZRes still reports the id')

  d = decideResponse(req('DELETE', '/v1.41/containers/econumi-agent-x?force=1', { RequestHeaders: NODE, ResponseStatusCode: 204 }), state, ctx)
  t.same(d.updates, [{ op: 'remove-agent', ref: 'econumi-agent-x' }])

  const pluginList = [{ Id: SELF_ID, Name: 'econumi:latest', Enabled: true, Config: { Interface: { Types: ['docker.authz/1.0'], Socket: 'econumi.sock' } } }]
  d = decideResponse(req('GET', '/v1.41/plugins', { ResponseStatusCode: 200, ResponseBody: b64(pluginList) }), state, ctx)
  t.same(d.updates, [{ op: 'self-plugin-id', id: SELF_ID }])
  d = decideResponse(req('GET', '/v1.41/plugins/econumi/json', { ResponseStatusCode: 200, ResponseBody: b64(pluginList[0]) }), state, ctx)
  t.same(d.updates, [{ op: 'self-plugin-id', id: SELF_ID }])
  state.apply(d.updates)
  d = decideResponse(req('GET', '/v1.41/plugins', { ResponseStatusCode: 200, ResponseBody: b64(pluginList) }), state, ctx)
  t.same(d.updates, [], 'already known')
  t.equal(decideRequest(req('POST', '/v1.41/plugins/deadbe/disable'), state, ctx).code, 'E_PLUGIN_PROTECTED', 'known id prefix')
  t.equal(decideRequest(req('POST', '/v1.41/plugins/0123ab/disable'), state, ctx).allow, true, 'other id once ours is known')
})

t.test('helpers', async (t) => {
  t.same(parseUri('/v1.41/containers/%63reate?name=a%2Fb'), { path: '/containers/create', query: 'name=a%2Fb' })
  t.same(parseUri('/v1/info'), { path: '/info', query: '' })
  t.same(parseUri('/'), { path: '/', query: '' })
  t.same(parseUri('/version/'), { path: '/version', query: '' })
  t.equal(parseUri('/%E0%A4%A'), null)
  const state = mkState()
  t.equal(isAgentRef('', state), false)
  t.equal(isAgentRef('/econumi-agent-x', state), true)
  t.equal(isAgentRef('ffff', state), false)
  t.equal(isSelfPluginRef('', state, 'econumi'), false)
  t.equal(isSelfPluginRef('econumi2', state, 'econumi'), false)
  t.equal(isSelfPluginRef('abc', state, 'econumi'), true, 'unknown own id: fail closed on id refs')
  t.same(reservationsOf({ HostConfig: { CpuQuota: 150000, CpuPeriod: 100000, Memory: -1 } }), { nanoCpus: 1500000000, memoryBytes: 0 })
  t.same(reservationsOf({ HostConfig: { CpuQuota: 50000 } }), { nanoCpus: 500000000, memoryBytes: 0 }, 'default period 100 ms')
  t.same(reservationsOf({}), { nanoCpus: 0, memoryBytes: 0 })
})

t.test('state registry', async (t) => {
  const s = new PluginState(null)
  s.addAgent(AGENT_ID, 'econumi-agent-x', 1)
  s.addAgent(AGENT_ID, 'econumi-agent-renamed', 2)
  t.equal(s.agentNames.has('econumi-agent-x'), false, 're-add replaces the name')
  s.addAgent(WORK_ID, undefined, 3)
  t.equal(s.removeAgent('e'), false, 'prefix of nothing')
  s.addAgent('0f' + '1'.repeat(62), undefined, 4)
  t.equal(s.removeAgent('0f'), false, 'ambiguous prefix removes nothing')
  t.equal(s.removeAgent('0f0e'), true, 'unique prefix')
  t.equal(s.removeAgent('/econumi-agent-renamed'), true, 'by name')
  t.equal(s.removeAgent('0f' + '1'.repeat(62)), true, 'by id')
  t.equal(s.agents.size, 0)
  t.equal(s.apply([{ op: 'remove-agent', ref: 'nothing' }]), false)
  t.equal(s.apply([{ op: 'self-plugin-id', id: SELF_ID }]), true)
  t.equal(s.apply([{ op: 'self-plugin-id', id: SELF_ID }]), false)
  await s.flush()
})
