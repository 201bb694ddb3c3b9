// Issue 14 end to end against the real dockerd with the plugin enabled as authz: the spellings that used
// to pass the plugin (a `/v1.41.0/` version, case-variant and duplicate JSON keys, an urlencoded body, an
// absolute-form request target) are refused by the plugin, with the stock docker CLI and the raw Engine
// API, against a running agent-labelled container; an ordinary container named like a prefix of the
// agent's id stays usable. Holds the engine lock (authz is engine-wide) and always restores the engine.
import t from 'tap'
import { request } from 'node:http'
import { connect } from 'node:net'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { acquireEngineLock, DOCKER_SOCKET, dockerApi, requireDocker, run } from '../helpers/docker.js'
import { denied, pluginStateDir, restoreEngineAlways, script } from '../helpers/engine.js'

const IMAGE = 'econumi/busybox:test'
const AGENT = 'econumi-agent-e2e14'

/** One Engine API call with a raw body text (JSON.stringify cannot write duplicate keys). */
async function raw (method: string, path: string, body: string, contentType = 'application/json'): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath: DOCKER_SOCKET, method, path, headers: { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
    })
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out`)))
    req.on('error', reject)
    req.end(body)
  })
}

/** A request line in absolute form (`POST http://docker/v1.41/... HTTP/1.1`), which Go's server accepts. */
async function absoluteForm (method: string, target: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const sock = connect(DOCKER_SOCKET)
    let out = ''
    sock.setTimeout(30_000, () => sock.destroy(new Error('absolute-form request timed out')))
    sock.on('data', (c) => { out += c.toString() })
    sock.on('end', () => resolve(out))
    sock.on('error', reject)
    sock.write(`${method} ${target} HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
  })
}

t.test('issue 14 spellings are refused by the plugin on a real dockerd', async (t) => {
  if (!requireDocker(t)) return
  const unlock = await acquireEngineLock('test/plugin/bypass-e2e.test.ts')
  const { dir, token } = await pluginStateDir('/tmp/eco-byp-')
  const nodeHdr = { 'X-Econumi-Node-Token': token }
  let shortName = ''

  restoreEngineAlways(t, unlock, () => {
    run(['rm', '-f', AGENT, 'eco-byp-w1', 'eco-byp-w2', 'eco-byp-w3', 'eco-byp-w3x', 'econumi-agent-fake', ...(shortName === '' ? [] : [shortName])])
    run(['rmi', 'eco-byp-img', 'eco-byp-img:1']) // what a plugin that let them through would leave
  }, async () => { await rm(dir, { recursive: true, force: true }) })

  t.equal(script('build-images.sh').status, 0, 'images')
  const inst = script('build-plugin.sh', ['--create', '--set', `state.source=${dir}`, '--enable-authz'])
  t.equal(inst.status, 0, `plugin installed as authz: ${inst.stdout}${inst.stderr}`)
  if (inst.status !== 0) return

  const created = await dockerApi('POST', `/v1.41/containers/create?name=${AGENT}`, { Image: IMAGE, Cmd: ['sleep', '600'], Labels: { 'econumi.role': 'agent' } }, nodeHdr)
  t.equal(created.status, 201, `node creates the agent: ${created.body}`)
  const id = created.json.Id as string
  t.equal((await dockerApi('POST', `/v1.41/containers/${id}/start`, undefined, nodeHdr)).status, 204, 'agent started')

  // the stock CLI with a three-part API version
  const v3 = { env: { DOCKER_API_VERSION: '1.41.0' } }
  const exec = run(['exec', AGENT, 'cat', '/etc/hostname'], v3)
  t.ok(denied(exec, 'E_AGENT_PROTECTED'), `DOCKER_API_VERSION=1.41.0 docker exec refused: ${exec.stderr.trim()}`)
  const stop = run(['stop', '-t', '1', id.slice(0, 12)], { env: { DOCKER_API_VERSION: '1.40.9' } })
  t.ok(denied(stop, 'E_AGENT_PROTECTED'), `DOCKER_API_VERSION=1.40.9 docker stop refused: ${stop.stderr.trim()}`)

  // raw Engine API: odd version, case-variant and duplicate keys
  let r = await raw('POST', '/v1.41.0/containers/create?name=eco-byp-w1', JSON.stringify({ Image: IMAGE, Cmd: ['true'], labels: { 'econumi.role': 'agent' } }))
  t.equal(r.status, 403, 'lowercase labels under /v1.41.0/')
  t.match(r.body, /E_AGENT_RESERVED/)
  r = await raw('POST', '/v1.41./containers/create?name=eco-byp-w1', JSON.stringify({ Image: IMAGE, Cmd: ['true'], HostConfig: { pidmode: `container:${AGENT}` } }))
  t.equal(r.status, 403, 'lowercase pidmode under /v1.41./')
  t.match(r.body, /E_AGENT_NAMESPACE_JOIN/)
  r = await raw('POST', '/v1.41/containers/create?name=eco-byp-w1', `{"Image":"${IMAGE}","Cmd":["true"],"HostConfig":{"PidMode":"container:${AGENT}"},"HostConfig":{}}`)
  t.equal(r.status, 403, 'HostConfig given twice')
  t.match(r.body, /E_AUTHZ_DUPLICATE_KEY/)
  t.equal(run(['inspect', 'eco-byp-w1']).status, 1, 'none of those created a container')

  // an urlencoded body carrying the new name of a rename
  const w2 = await dockerApi('POST', '/v1.41/containers/create?name=eco-byp-w2', { Image: IMAGE, Cmd: ['true'] })
  t.equal(w2.status, 201, 'ordinary create')
  r = await raw('POST', '/v1.41/containers/eco-byp-w2/rename', 'name=econumi-agent-fake', 'application/x-www-form-urlencoded')
  t.equal(r.status, 403, 'rename with a form body')
  t.match(r.body, /E_AUTHZ_FORM_BODY/)
  t.equal(run(['inspect', '-f', '{{.Name}}', 'eco-byp-w2']).stdout.trim(), '/eco-byp-w2', 'not renamed')

  // an absolute-form request target
  const abs = await absoluteForm('POST', `http://docker/v1.41/containers/${AGENT}/stop`)
  t.match(abs, /^HTTP\/1\.1 403/, 'absolute-form stop refused')
  t.match(abs, /E_AGENT_PROTECTED/)

  // commit pauses the agent; prune would remove it once stopped
  const commit = run(['commit', AGENT, 'eco-byp-img'])
  t.ok(denied(commit, 'E_AGENT_PROTECTED'), `commit refused: ${commit.stderr.trim()}`)
  // (filtered to this test's label: a wrong allow must not prune other people's containers)
  const prune = run(['container', 'prune', '-f', '--filter', 'label=eco-byp=1'])
  t.ok(denied(prune, 'E_AGENT_PROTECTED'), `prune without the agent filter refused: ${prune.stderr.trim()}`)
  const pruneOk = run(['container', 'prune', '-f', '--filter', 'label=eco-byp=1', '--filter', 'label!=econumi.role=agent'])
  t.equal(pruneOk.status, 0, `prune sparing agents runs: ${pruneOk.stderr}`)

  // an ordinary container named like a prefix of the agent's id is itself
  shortName = id.slice(0, 3)
  t.equal(run(['create', '--name', shortName, IMAGE, 'sleep', '60']).status, 0, `create ${shortName}`)
  t.equal(run(['start', shortName]).status, 0, `start ${shortName}`)
  t.equal(run(['exec', shortName, 'true']).status, 0, `exec ${shortName} (an ordinary container) allowed`)
  t.equal(run(['stop', '-t', '0', shortName]).status, 0, `stop ${shortName} allowed`)
  t.ok(denied(run(['stop', id.slice(0, 4)]), 'E_AGENT_PROTECTED'), 'a bare prefix of the agent id is still refused')
  t.equal(run(['inspect', '-f', '{{.State.Running}}', AGENT]).stdout.trim(), 'true', 'agent still running')

  // no lockouts: ordinary docker CLI use of ordinary containers goes through the new route table untouched
  const W = 'eco-byp-w3'
  await writeFile(join(dir, 'placeholder'), 'x')
  for (const args of [
    ['run', '--rm', IMAGE, 'true'],
    ['run', '-d', '--name', W, '-l', 'eco-byp=1', IMAGE, 'sleep', '60'],
    ['ps', '-a'], ['inspect', W], ['logs', W], ['top', W], ['stats', '--no-stream', W], ['diff', W], ['port', W],
    ['exec', W, 'true'], ['cp', join(dir, 'placeholder'), `${W}:/tmp/`], ['cp', `${W}:/tmp/placeholder`, join(dir, 'back')],
    ['export', '-o', join(dir, 'w3.tar'), W], ['update', '--cpus', '0.5', W], ['pause', W], ['unpause', W],
    ['kill', '-s', 'USR1', W], ['restart', '-t', '0', W], ['rename', W, `${W}x`], ['rename', `${W}x`, W],
    ['commit', W, 'eco-byp-img:1'], ['stop', '-t', '0', W], ['wait', W], ['rm', W], ['rmi', 'eco-byp-img:1'],
    ['container', 'ls', '--filter', 'label=eco-byp=1'], ['image', 'ls'], ['system', 'df'], ['version'], ['info'],
    ['plugin', 'ls'], ['plugin', 'inspect', 'econumi'], ['network', 'ls'], ['volume', 'ls']
  ]) {
    const r = run(args, { timeoutMs: 60_000 })
    t.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr.trim()}`)
  }

  // last: a plugin that lets this through is off for the rest of the test
  const prm = run(['plugin', 'disable', '-f', 'econumi'], v3)
  t.ok(denied(prm, 'E_PLUGIN_PROTECTED'), `DOCKER_API_VERSION=1.41.0 docker plugin disable refused: ${prm.stderr.trim()}`)
  t.equal(run(['plugin', 'inspect', '-f', '{{.Enabled}}', 'econumi']).stdout.trim(), 'true', 'plugin still enabled')
})
