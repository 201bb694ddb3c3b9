// Issue 14 (authorization plugin): one subtest per finding, each written against the public decision API
// (decideRequest / decideResponse / PluginState.apply) so it also runs, and fails, on the code before the fix.
import t, { type Test } from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decideRequest, decideResponse } from '../../plugin/decide.js'
import { PluginState } from '../../plugin/state.js'
import type { AuthZRequest } from '../../plugin/types.js'
import { CLI, NODE, b64, ctx, req, stateWithAgent } from '../helpers/authz-request.js'

const AGENT_ID = 'db1c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9ab'
const AGENT = 'econumi-agent-x'
const DB_ID = '0f0e0d0c0b0a09080706050403020100ffeeddccbbaa99887766554433221100'
const mkState = (): PluginState => stateWithAgent(AGENT_ID)

/** Feeds a successful create (AuthZReq + AuthZRes) through the decision and applies what it learns. */
function created (t: Test, s: PluginState, name: string, id: string, body: unknown = { Image: 'i', HostConfig: { AutoRemove: false } }): void {
  const r = req('POST', `/v1.41/containers/create?name=${name}`, { RequestBody: b64(body) })
  t.equal(decideRequest(r, s, ctx).allow, true, `create ${name} allowed`)
  s.apply(decideResponse({ ...r, ResponseStatusCode: 201, ResponseBody: b64({ Id: id, Warnings: [] }) }, s, ctx).updates)
}

function denied (t: Test, s: PluginState, r: AuthZRequest, code: string, what: string): void {
  const d = decideRequest(r, s, ctx)
  t.equal(d.allow, false, `${what}: denied`)
  t.equal(d.code, code, `${what}: ${code}`)
}

t.test('finding 1: any API version spelling dockerd routes (/v[0-9.]+) is matched like /v1.41', async (t) => {
  const s = mkState()
  for (const v of ['/v1.41.0', '/v1.41.', '/v1.40.9', '/v1..41', '/v.', '/v1', '/v41']) {
    denied(t, s, req('POST', `${v}/containers/${AGENT}/exec`, { RequestBody: b64({ Cmd: ['cat', '/run/secrets/agent.key'] }) }), 'E_AGENT_PROTECTED', `${v} exec`)
    denied(t, s, req('GET', `${v}/containers/${AGENT}/archive?path=%2Frun%2Fsecrets`), 'E_AGENT_PROTECTED', `${v} archive`)
    denied(t, s, req('POST', `${v}/containers/${AGENT}/stop`), 'E_AGENT_PROTECTED', `${v} stop`)
    denied(t, s, req('POST', `${v}/containers/${AGENT}/pause`), 'E_AGENT_PROTECTED', `${v} pause`)
    denied(t, s, req('DELETE', `${v}/containers/${AGENT}?force=1`), 'E_AGENT_PROTECTED', `${v} delete`)
    denied(t, s, req('POST', `${v}/containers/create?name=econumi-agent-y`, { RequestBody: b64({ Image: 'i' }) }), 'E_AGENT_RESERVED', `${v} create agent name`)
    denied(t, s, req('POST', `${v}/plugins/econumi/disable`), 'E_PLUGIN_PROTECTED', `${v} plugin disable`)
    denied(t, s, req('DELETE', `${v}/plugins/econumi:latest?force=1`), 'E_PLUGIN_PROTECTED', `${v} plugin rm`)
  }
  // the same class: an absolute-form request target, which Go's HTTP server also accepts
  denied(t, s, req('POST', `http://docker/v1.41/containers/${AGENT}/stop`), 'E_AGENT_PROTECTED', 'absolute-form target')
  denied(t, s, req('POST', `HTTP:/v1.41/containers/${AGENT}/kill`), 'E_AGENT_PROTECTED', 'scheme, no authority')
})

t.test('finding 1b: paths under /containers, /exec, /plugins that are no dockerd route are refused', async (t) => {
  const s = mkState()
  for (const [m, u] of [
    ['POST', `/v1.41/containers/${AGENT}/stop/x`],
    ['GET', `/v1.41/containers/${AGENT}/start`],
    ['POST', `/v1.41/containers/./${AGENT}/stop`],
    ['post', `/v1.41/containers/${AGENT}/stop`],
    ['POST', '/v1.41/containers'],
    ['GET', '/v1.41/exec/abc'],
    ['POST', '/v1.41/plugins/econumi/nope']
  ]) denied(t, s, req(m, u), 'E_AUTHZ_UNKNOWN_ROUTE', `${m} ${u}`)
})

t.test('finding 2: JSON keys are read as Go reads them (any case; duplicates refused)', async (t) => {
  const s = mkState()
  const create = (body: string): AuthZRequest => req('POST', '/v1.41/containers/create', { RequestBody: b64(body) })
  denied(t, s, create('{"Image":"i","labels":{"econumi.role":"agent"}}'), 'E_AGENT_RESERVED', 'lowercase labels')
  denied(t, s, create('{"Image":"i","LABELS":{"econumi.role":"agent"}}'), 'E_AGENT_RESERVED', 'uppercase labels')
  denied(t, s, create('{"Image":"i","Labe\\u006cs":{"econumi.role":"agent"}}'), 'E_AGENT_RESERVED', 'escaped key')
  denied(t, s, create('{"Image":"i","Label\u017f":{"econumi.role":"agent"}}'), 'E_AGENT_RESERVED', 'long s folds onto s')
  denied(t, s, create(`{"Image":"i","HostConfig":{"pidmode":"container:${AGENT}"}}`), 'E_AGENT_NAMESPACE_JOIN', 'lowercase pidmode')
  denied(t, s, create(`{"Image":"i","hostconfig":{"NetworkMode":"container:${AGENT}"}}`), 'E_AGENT_NAMESPACE_JOIN', 'lowercase hostconfig')
  denied(t, s, create(`{"Image":"i","HostConfig":{"volumesfrom":["${AGENT}:ro"]}}`), 'E_AGENT_NAMESPACE_JOIN', 'lowercase volumesfrom')
  denied(t, s, create(`{"Image":"i","HostConfig":{"Cgroup":"container:${AGENT}"}}`), 'E_AGENT_NAMESPACE_JOIN', 'cgroup join')
  denied(t, s, create(`{"Image":"i","HostConfig":{"PidMode":"container:${AGENT}"},"HostConfig":{}}`), 'E_AUTHZ_DUPLICATE_KEY', 'HostConfig twice')
  denied(t, s, create(`{"Image":"i","HostConfig":{"PidMode":"container:${AGENT}"},"hostConfig":{}}`), 'E_AUTHZ_DUPLICATE_KEY', 'case-variant HostConfig twice')
  denied(t, s, create(`{"Image":"i","HostConfig":{"PidMode":"container:${AGENT}","PIDMODE":""}}`), 'E_AUTHZ_DUPLICATE_KEY', 'PidMode twice')
  denied(t, s, create('{"Image":"i","Labels":{"econumi.role":"agent"},"Labels":{"a":"b"}}'), 'E_AUTHZ_DUPLICATE_KEY', 'Labels twice')
  denied(t, s, create('{"Image":"i","Labels":{"econumi.role":"agent","econumi.role":"x"}}'), 'E_AUTHZ_DUPLICATE_KEY', 'label twice')
  // legitimate bodies stay allowed: distinct label keys differing in case, strings that look like keys
  const ok = decideRequest(create('{"Image":"i","Env":["HostConfig=\\"{}\\""],"Labels":{"A":"1","a":"2"},"HostConfig":{"PidMode":"","Binds":["/x:/y"]}}'), s, ctx)
  t.equal(ok.allow, true, 'ordinary body allowed')
  // what the AuthZRes learns uses the same reading
  const u = decideResponse({ ...create('{"Image":"i","labels":{"econumi.role":"agent"}}'), RequestHeaders: NODE, ResponseStatusCode: 201, ResponseBody: b64({ Id: DB_ID }) }, s, ctx)
  t.same(u.updates, [{ op: 'add-agent', id: DB_ID, since: ctx.now }], 'agent learned from a lowercase labels key')
})

t.test('finding 3: a rename whose new name is in a form body (and any urlencoded body) is refused', async (t) => {
  const s = mkState()
  const form = { ...CLI, 'Content-Type': 'application/x-www-form-urlencoded' }
  denied(t, s, req('POST', '/v1.41/containers/w1/rename', { RequestHeaders: form }), 'E_AUTHZ_FORM_BODY', 'rename, form body')
  denied(t, s, req('POST', '/v1.41/containers/w1/rename?name=w2', { RequestHeaders: { 'Content-Type': 'Application/X-WWW-Form-URLencoded; charset=utf-8' } }), 'E_AUTHZ_FORM_BODY', 'rename, form body, odd spelling')
  denied(t, s, req('POST', '/v1.41/containers/prune?filters=%7B%22label!%22%3A%5B%22econumi.role%3Dagent%22%5D%7D', { RequestHeaders: form }), 'E_AUTHZ_FORM_BODY', 'prune filters in a form body')
  denied(t, s, req('POST', '/v1.41/build', { RequestHeaders: form }), 'E_AUTHZ_FORM_BODY', 'build networkmode in a form body')
  t.equal(decideRequest(req('POST', '/v1.41/containers/w1/rename?name=w2', { RequestHeaders: { 'User-Agent': 'Docker-Client/28.2.2 (linux)' } }), s, ctx).allow, true, 'CLI rename (no body) allowed')
})

t.test('finding 4: an ordinary container whose name prefixes an agent id is itself, not the agent', async (t) => {
  const s = mkState()
  // before the plugin knows a container named db, `db` is a prefix of the agent's id: refused
  denied(t, s, req('POST', '/v1.41/containers/db/stop'), 'E_AGENT_PROTECTED', 'unknown db')
  created(t, s, 'db', DB_ID)
  for (const [m, u, body] of [
    ['POST', '/v1.41/containers/db/stop', undefined],
    ['POST', '/v1.41/containers/db/exec', { Cmd: ['sh'] }],
    ['DELETE', '/v1.41/containers/db?force=1', undefined]
  ] as Array<[string, string, unknown]>) {
    t.equal(decideRequest(req(m, u, body === undefined ? {} : { RequestBody: b64(body) }), s, ctx).allow, true, `${m} ${u} allowed`)
  }
  t.equal(decideRequest(req('POST', '/v1.41/containers/create', { RequestBody: b64({ Image: 'i', HostConfig: { PidMode: 'container:db' } }) }), s, ctx).allow, true, 'join db allowed')
  denied(t, s, req('POST', '/v1.41/containers/db1/stop'), 'E_AGENT_PROTECTED', 'other prefix still the agent')
  denied(t, s, req('POST', `/v1.41/containers/${AGENT_ID}/stop`), 'E_AGENT_PROTECTED', 'agent full id')

  // an --rm container's name frees itself without an API call: never a shield
  created(t, s, 'db1', 'e'.repeat(64), { Image: 'i', HostConfig: { AutoRemove: true } })
  denied(t, s, req('POST', '/v1.41/containers/db1/exec', { RequestBody: b64({ Cmd: ['sh'] }) }), 'E_AGENT_PROTECTED', 'auto-remove db1')

  // renames keep the registry right: db → d (d is now the ordinary container), db is again a bare prefix
  s.apply(decideResponse(req('POST', '/v1.41/containers/db/rename?name=d', { ResponseStatusCode: 204 }), s, ctx).updates)
  t.equal(decideRequest(req('POST', '/v1.41/containers/d/stop'), s, ctx).allow, true, 'renamed d allowed')
  denied(t, s, req('POST', '/v1.41/containers/db/stop'), 'E_AGENT_PROTECTED', 'old name db is a prefix again')
  // removal forgets it
  s.apply(decideResponse(req('DELETE', '/v1.41/containers/d', { ResponseStatusCode: 204 }), s, ctx).updates)
  denied(t, s, req('POST', '/v1.41/containers/d/stop'), 'E_AGENT_PROTECTED', 'removed d is a prefix again')
  // a prune forgets what it deleted
  created(t, s, 'db1c', DB_ID)
  t.equal(decideRequest(req('POST', '/v1.41/containers/db1c/stop'), s, ctx).allow, true, 'db1c allowed')
  const prune = req('POST', '/v1.41/containers/prune?filters=%7B%22label!%22%3A%7B%22econumi.role%3Dagent%22%3Atrue%7D%7D')
  s.apply(decideResponse({ ...prune, ResponseStatusCode: 200, ResponseBody: b64({ ContainersDeleted: [DB_ID], SpaceReclaimed: 0 }) }, s, ctx).updates)
  denied(t, s, req('POST', '/v1.41/containers/db1c/stop'), 'E_AGENT_PROTECTED', 'pruned db1c is a prefix again')
})

t.test('finding 4b: the ordinary-container registry is bounded and persisted', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'eco-i14-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'state.json')
  const s = new PluginState(file)
  s.addAgent(AGENT_ID, AGENT, 1)
  created(t, s, 'db', DB_ID)
  created(t, s, 'web', 'c'.repeat(64)) // not hex: never collides with a prefix, not kept
  await s.flush()
  const again = new PluginState(file)
  await again.load()
  t.equal(decideRequest(req('POST', '/v1.41/containers/db/stop'), again, ctx).allow, true, 'db known after a restart')
  const saved = JSON.parse(await readFile(file, 'utf8'))
  t.same(saved.containers.map((c: { name: string }) => c.name), ['db'])
  for (let i = 0; i < 5000; i++) again.apply([{ op: 'add-container', id: i.toString(16).padStart(64, '0'), name: `a${i.toString(16)}`, since: i, autoRemove: false }])
  t.ok(again.containers.size <= 4096, `bounded: ${again.containers.size}`)
  denied(t, again, req('POST', '/v1.41/containers/db/stop'), 'E_AGENT_PROTECTED', 'oldest forgotten: fails closed')
  await again.flush()
})

t.test('finding 5: commit (pauses) and prune (removes stopped) of agents', async (t) => {
  const s = mkState()
  denied(t, s, req('POST', `/v1.41/commit?container=${AGENT}&pause=1`, { RequestBody: b64({}) }), 'E_AGENT_PROTECTED', 'commit agent')
  denied(t, s, req('POST', `/v1.41.0/commit?container=${AGENT_ID.slice(0, 6)}`), 'E_AGENT_PROTECTED', 'commit agent by prefix')
  t.equal(decideRequest(req('POST', `/v1.41/commit?container=${AGENT}&pause=1`, { RequestHeaders: NODE }), s, ctx).allow, true, 'node commits')
  t.equal(decideRequest(req('POST', '/v1.41/commit?container=w1&repo=x'), s, ctx).allow, true, 'commit workload')
  denied(t, s, req('POST', '/v1.41/containers/prune'), 'E_AGENT_PROTECTED', 'plain prune')
  denied(t, s, req('POST', '/v1.41/containers/prune?filters=%7B%22until%22%3A%7B%2224h%22%3Atrue%7D%7D'), 'E_AGENT_PROTECTED', 'prune until')
  denied(t, s, req('POST', '/v1.41/containers/prune?filters=%7B%22label!%22%3A%7B%22econumi.role%3Dagent%22%3Atrue%2C%22x%3Dy%22%3Atrue%7D%7D'), 'E_AGENT_PROTECTED', 'prune label! with a second value (spares only containers matching both)')
  t.equal(decideRequest(req('POST', '/v1.41/containers/prune?filters=%7B%22label!%22%3A%7B%22econumi.role%3Dagent%22%3Atrue%7D%7D'), s, ctx).allow, true, 'prune sparing agents')
  t.equal(decideRequest(req('POST', '/v1.41/containers/prune?filters=%7B%22label!%22%3A%5B%22econumi.role%22%5D%7D'), s, ctx).allow, true, 'legacy filter form')
  t.equal(decideRequest(req('POST', '/v1.41/containers/prune', { RequestHeaders: NODE }), s, ctx).allow, true, 'node prunes')
  denied(t, s, req('POST', `/v1.41/build?networkmode=container:${AGENT}`), 'E_AGENT_NAMESPACE_JOIN', 'build joins agent')
})
