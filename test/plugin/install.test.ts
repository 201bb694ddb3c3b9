// End to end against the real dockerd: install the plugin three ways (docker plugin create; docker plugin
// install from the local 127.0.0.1:5000 registry with --alias; authz on/off through daemon.json + SIGHUP),
// then use the engine as a user would with the docker CLI. The engine is always restored (authz removed
// from daemon.json + SIGHUP, plugin removed) in a teardown, even when an assertion fails.
//
// This test switches authz on for the whole engine for about 30 s: it holds the engine lock
// (test/helpers/docker.ts acquireEngineLock) so other suites that start econumi agents with another node
// token, and the plugin-overhead bench, can wait for it instead of being refused.
import t from 'tap'
import { createServer } from 'node:http'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { acquireEngineLock, dockerApi, requireDocker, run } from '../helpers/docker.js'
import { ROOT, denied, pluginStateDir, restoreEngineAlways, script } from '../helpers/engine.js'
import type { PluginEvent } from '../../plugin/types.js'

const IMAGE = 'econumi/busybox:test'
const AGENT = 'econumi-agent-x'

t.test('plugin install paths and user-level behaviour on a real dockerd', async (t) => {
  if (!requireDocker(t)) return
  const unlock = await acquireEngineLock('test/plugin/install.test.ts')

  const { dir, token } = await pluginStateDir('/tmp/eco-inst-')
  const cfgDir = join(dir, 'docker-config')
  await writeFile(join(dir, 'placeholder'), '')
  await mkdir(cfgDir)
  await writeFile(join(cfgDir, 'config.json'), JSON.stringify({ HttpHeaders: { 'X-Econumi-Node-Token': token } }))
  const asNode = { env: { DOCKER_CONFIG: cfgDir } }
  const nodeHdr = { 'X-Econumi-Node-Token': token }

  // the fake node: receives the plugin's events on <dir>/node.sock (= /run/econumi/node.sock in the plugin)
  const events: PluginEvent[] = []
  const tokens: string[] = []
  const node = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.url === '/v1/plugin/events') {
        events.push(...JSON.parse(Buffer.concat(chunks).toString()) as PluginEvent[])
        tokens.push(String(req.headers['x-econumi-node-token']))
      }
      res.writeHead(204)
      res.end()
    })
  })
  await new Promise<void>((resolve) => node.listen(join(dir, 'node.sock'), resolve))

  // Restore the engine whatever happens: teardown, and (if tap times out and kills us) exit/SIGTERM.
  restoreEngineAlways(t, unlock, () => { run(['rm', '-f', AGENT, 'econumi-agent-y', 'eco-w1']) }, async () => {
    await new Promise<void>((resolve) => { node.close(() => resolve()); node.closeAllConnections() })
    await rm(dir, { recursive: true, force: true })
  })

  const images = script('build-images.sh')
  t.equal(images.status, 0, `build-images.sh: ${images.stderr}`)
  const built = script('build-plugin.sh')
  t.equal(built.status, 0, `build-plugin.sh (build only): ${built.stdout}${built.stderr}`)
  t.match(built.stdout, /plugin dir ready/)

  // safety: an uninstalled plugin name is never written to daemon.json (it would kill dockerd)
  const missing = run([join(ROOT, 'scripts/build-plugin.sh'), '--enable-authz', '--name', 'econumi-nosuch'], { cmd: 'bash' })
  t.not(missing.status, 0)
  t.match(missing.stderr, /E_PLUGIN_MISSING/)
  t.equal(run(['info']).status, 0, 'dockerd still up')

  await t.test('path 1: docker plugin create + daemon.json + SIGHUP', async (t) => {
    const r = script('build-plugin.sh', ['--no-build', '--create', '--set', `state.source=${dir}`, '--enable-authz'])
    t.equal(r.status, 0, `create: ${r.stdout}${r.stderr}`)
    t.match(r.stdout, /authz on/)

    // ordinary workloads run fine, and are reported to the node
    const w = run(['run', '--rm', '--name', 'eco-w1', '--cpus', '0.5', '-m', '64m', '-l', 'app=t', IMAGE, 'sh', '-c', 'echo ok > /tmp/x && cat /tmp/x'])
    t.equal(w.status, 0, `docker run: ${w.stderr}`)
    t.equal(w.stdout.trim(), 'ok')
    for (let i = 0; i < 50 && !events.some((e) => e.kind === 'create' && e.name === 'eco-w1'); i++) await new Promise((resolve) => setTimeout(resolve, 100))
    const create = events.find((e) => e.kind === 'create' && e.name === 'eco-w1')
    t.ok(create, 'create event delivered')
    t.match(create, { v: 1, image: IMAGE, labels: { app: 't' }, reservations: { nanoCpus: 5e8, memoryBytes: 64 * 1024 * 1024 } })
    t.match(create?.id, /^[0-9a-f]{64}$/)
    t.same([...new Set(events.map((e) => e.kind))], ['create'], 'only creates are reported (start, stop and removal: dockerd\'s own events)')
    t.ok(tokens.every((x) => x === token), 'events carry the node token')

    // only the node creates agents
    const body = { Image: IMAGE, Cmd: ['sleep', '600'], Labels: { 'econumi.role': 'agent' } }
    const rogue = await dockerApi('POST', `/v1.41/containers/create?name=${AGENT}`, body)
    t.equal(rogue.status, 403)
    t.match(rogue.json?.message, /E_AGENT_RESERVED/)
    const created = await dockerApi('POST', `/v1.41/containers/create?name=${AGENT}`, body, nodeHdr)
    t.equal(created.status, 201, created.body)
    const id = created.json.Id as string
    t.equal((await dockerApi('POST', `/v1.41/containers/${id}/start`, undefined, nodeHdr)).status, 204)
    const saved = JSON.parse(await readFile(join(dir, 'plugin-agents.json'), 'utf8'))
    t.same(saved.agents.map((a: { id: string }) => a.id), [id], 'agent registry persisted through the /run/econumi mount')

    // a user with the docker CLI cannot touch it
    const prefix = id.slice(0, 10)
    const attempts: Array<[string, string[]]> = [
      ['exec', ['exec', AGENT, 'true']],
      ['exec by id prefix', ['exec', prefix, 'true']],
      ['cp out', ['cp', `${AGENT}:/etc/passwd`, join(dir, 'stolen')]],
      ['stop', ['stop', '-t', '1', AGENT]],
      ['stop by full id', ['stop', '-t', '1', id]],
      ['kill by id prefix', ['kill', prefix]],
      ['rm -f', ['rm', '-f', AGENT]],
      ['pause', ['pause', AGENT]],
      ['update', ['update', '--memory', '32m', '--memory-swap', '64m', AGENT]],
      ['rename', ['rename', AGENT, 'free-agent']]
    ]
    for (const [what, args] of attempts) {
      const a = run(args, { timeoutMs: 20_000 })
      t.ok(denied(a, 'E_AGENT_PROTECTED'), `${what} refused: ${a.stderr.trim()}`)
    }
    // docker cp into and attach to the agent: the CLI words these denials its own way
    const cpIn = run(['cp', join(dir, 'placeholder'), `${id}:/tmp/`])
    t.not(cpIn.status, 0, `cp in refused: ${cpIn.stderr.trim()}`)
    const att = run(['attach', '--no-stdin', '--sig-proxy=false', AGENT], { timeoutMs: 20_000 })
    t.not(att.status, 0)
    t.match(att.stderr, /authorization denied|received 403/, `attach refused: ${att.stderr.trim()}`)
    const join1 = run(['run', '--rm', '--pid', `container:${AGENT}`, IMAGE, 'true'])
    t.ok(denied(join1, 'E_AGENT_NAMESPACE_JOIN'), `--pid container:agent refused: ${join1.stderr.trim()}`)
    t.equal(run(['inspect', '-f', '{{.State.Running}}', AGENT]).stdout.trim(), 'true', 'agent still running')

    // the plugin protects itself, even from the node
    const pid = run(['plugin', 'inspect', '-f', '{{.Id}}', 'econumi']).stdout.trim()
    for (const [what, args] of [
      ['disable', ['plugin', 'disable', 'econumi']],
      ['disable -f', ['plugin', 'disable', '-f', 'econumi:latest']],
      ['disable by id prefix', ['plugin', 'disable', pid.slice(0, 12)]],
      ['rm -f', ['plugin', 'rm', '-f', 'econumi']],
      ['set', ['plugin', 'set', 'econumi', 'ECONUMI_PLUGIN_NAME=other']]
    ] as Array<[string, string[]]>) {
      t.ok(denied(run(args), 'E_PLUGIN_PROTECTED'), `plugin ${what} refused`)
      t.ok(denied(run(args, asNode), 'E_PLUGIN_PROTECTED'), `plugin ${what} refused with the node token`)
    }
    const up = await dockerApi('POST', '/v1.41/plugins/econumi/upgrade?remote=127.0.0.1%3A5000%2Fevil', [], nodeHdr)
    t.equal(up.status, 403)
    t.match(up.json?.message, /E_PLUGIN_PROTECTED/)
    t.equal(run(['plugin', 'inspect', '-f', '{{.Enabled}}', 'econumi']).stdout.trim(), 'true', 'plugin still enabled')

    // the same operations with the node token header are allowed
    t.equal(run(['exec', AGENT, 'true'], asNode).status, 0, 'node exec')
    t.equal(run(['cp', `${AGENT}:/etc/passwd`, join(dir, 'passwd')], asNode).status, 0, 'node cp out')
    t.not(run(['exec', AGENT, 'ls', '/tmp/placeholder'], asNode).status, 0, 'the refused cp in left nothing')
    t.equal(run(['cp', join(dir, 'placeholder'), `${prefix}:/tmp/`], asNode).status, 0, 'node cp in by prefix')
    t.equal(run(['exec', AGENT, 'ls', '/tmp/placeholder'], asNode).status, 0, 'node cp in landed')
    const nodeAtt = run(['attach', '--no-stdin', '--sig-proxy=false', AGENT], { ...asNode, timeoutMs: 2000 })
    t.equal(nodeAtt.status, null, 'node attach is not refused: it stays attached until killed')
    t.notMatch(nodeAtt.stderr, /authorization denied|403/)
    t.equal(run(['pause', AGENT], asNode).status, 0, 'node pause')
    t.equal(run(['unpause', AGENT], asNode).status, 0, 'node unpause')
    t.equal(run(['update', '--cpus', '0.5', AGENT], asNode).status, 0, 'node update')
    t.equal(run(['kill', '-s', 'USR1', prefix], asNode).status, 0, 'node kill by prefix')
    t.equal(run(['stop', '-t', '1', id], asNode).status, 0, 'node stop')
    t.equal(run(['rm', '-f', AGENT], asNode).status, 0, 'node rm')
    await new Promise((resolve) => setTimeout(resolve, 300))
    const after = JSON.parse(await readFile(join(dir, 'plugin-agents.json'), 'utf8'))
    t.same(after.agents, [], 'removed agent forgotten')
    t.notOk(events.some((e) => e.id === id || e.ref === AGENT), 'agents are never reported as workloads')
  })

  await t.test('path 2: docker plugin install from the local registry --alias econumi', async (t) => {
    const r = script('build-plugin.sh', ['--no-build', '--registry', '--set', `state.source=${dir}`, '--enable-authz'])
    t.equal(r.status, 0, `registry install: ${r.stdout}${r.stderr}`)
    t.match(r.stdout, /docker plugin install --grant-all-permissions --disable 127\.0\.0\.1:5000\/econumi --alias econumi/)
    t.match(run(['plugin', 'ls', '--format', '{{.Name}} {{.Enabled}}']).stdout, /^econumi:latest true$/m)
    t.equal(run(['run', '--rm', IMAGE, 'true']).status, 0, 'workloads run')
    const created = await dockerApi('POST', '/v1.41/containers/create?name=econumi-agent-y', { Image: IMAGE, Cmd: ['sleep', '600'], Labels: { 'econumi.role': 'agent' } }, nodeHdr)
    t.equal(created.status, 201)
    t.equal((await dockerApi('POST', '/v1.41/containers/econumi-agent-y/start', undefined, nodeHdr)).status, 204)
    t.ok(denied(run(['exec', 'econumi-agent-y', 'true']), 'E_AGENT_PROTECTED'), 'exec refused')
    t.ok(denied(run(['rm', '-f', (created.json.Id as string).slice(0, 6)]), 'E_AGENT_PROTECTED'), 'rm by prefix refused')
    t.ok(denied(run(['plugin', 'rm', '-f', 'econumi']), 'E_PLUGIN_PROTECTED'), 'plugin rm refused')
    // the CLI only upgrades a disabled plugin (and disabling is refused); the API call itself is refused too
    const upg = run(['plugin', 'upgrade', '--grant-all-permissions', 'econumi', '127.0.0.1:5000/econumi'])
    t.not(upg.status, 0, `CLI plugin upgrade fails: ${upg.stderr.trim()}`)
    const api = await dockerApi('POST', '/v1.41/plugins/econumi:latest/upgrade?remote=127.0.0.1%3A5000%2Feconumi%3Alatest', [])
    t.equal(api.status, 403)
    t.match(api.json?.message, /E_PLUGIN_PROTECTED/)
    t.equal(run(['rm', '-f', 'econumi-agent-y'], asNode).status, 0, 'node rm')
  })

  await t.test('path 3: authz off and on again through daemon.json + SIGHUP', async (t) => {
    let r = script('build-plugin.sh', ['--disable-authz'])
    t.equal(r.status, 0, r.stderr)
    t.notMatch(await readFile('/etc/docker/daemon.json', 'utf8'), /econumi/)
    const off = run(['stop', 'econumi-agent-nope'])
    t.match(off.stderr, /No such container/, 'authz off: dockerd answers itself')
    r = script('build-plugin.sh', ['--enable-authz'])
    t.equal(r.status, 0, r.stderr)
    t.match(await readFile('/etc/docker/daemon.json', 'utf8'), /"econumi"/)
    t.ok(denied(run(['stop', 'econumi-agent-nope']), 'E_AGENT_PROTECTED'), 'authz on again')
    t.equal(run(['run', '--rm', IMAGE, 'true']).status, 0, 'workloads run')
    r = script('build-plugin.sh', ['--remove'])
    t.equal(r.status, 0, r.stderr)
    t.not(run(['plugin', 'inspect', 'econumi']).status, 0, 'plugin removed')
    t.equal(run(['run', '--rm', IMAGE, 'true']).status, 0, 'engine usable after removal')
  })
})
