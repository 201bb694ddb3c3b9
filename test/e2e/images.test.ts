// Workloads from across the network, against a real dockerd and real node processes on loopback: node A offers
// an image (cached in a Hypercore of its own), the image is removed from the engine, and node B's console
// `start` downloads it from A, verifies it against the image ID, loads it and runs it as an attested workload
// (B runs with --attest, the plugin enabled for dockerd). Node C offers another
// image whose cached core has one byte flipped (ECONUMI_TEST_TAMPER_IMAGE_BLOCK): B refuses it and leaves
// nothing loaded and no temp file. C itself downloads at most 1 KiB (--max-image-size): its console `start` of
// A's image is refused with E_IMAGE_TOO_LARGE before anything is read. `show images` lists peer offers and never
// econumi's own images.
import t from 'tap'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { CLI, NodeProcess, REPO, localBootstrap, tempDir, until, writeGenesis } from '../helpers/node-process.js'
import { run } from '../helpers/docker.js'
import { busyboxEngine } from '../helpers/engine.js'

t.test('an image downloaded from a peer, verified, loaded and run; a tampered one refused', async (t) => {
  if (!await busyboxEngine(t, 'images.test')) return
  const tag = `${process.pid}`
  const good = `wl-good-${tag}:v1`
  const bad = `wl-bad-${tag}:v1`
  // images of their own (a config of their own: a label), on busybox's layer
  for (const ref of [good, bad]) {
    const r = run(['build', '-q', '-t', ref, '-'], { input: `FROM econumi/busybox:test\nLABEL econumi.test=${ref}\nCMD ["sleep", "300"]\n` })
    t.equal(r.status, 0, `docker build ${ref}: ${r.stderr}`)
  }
  const goodId = run(['image', 'inspect', '--format', '{{.Id}}', good]).stdout.trim()
  const containers: string[] = []
  t.teardown(() => { for (const c of containers) run(['rm', '-f', c]); run(['rmi', '-f', good, bad]) })

  const dir = tempDir('econumi-images-')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const genesis = writeGenesis(dir, { epochMs: 2000 })
  const bs = await localBootstrap()
  t.teardown(async () => { await bs.close() })
  const net = ['--genesis', genesis, '--bootstrap', bs.address]
  // offers are refreshed every second here (30 s by default), so the removal below is seen by A and C
  const a = new NodeProcess(join(dir, 'a'), [...net, '--offer-image', good], { ECONUMI_IMAGE_REFRESH_MS: '1000' }).start()
  // C also downloads at most 1 KiB (--max-image-size): it refuses A's image before reading any of it
  const cDir = join(dir, 'c')
  const c = new NodeProcess(cDir, [...net, '--offer-image', bad, '--max-image-size', '1k'], { ECONUMI_TEST_TAMPER_IMAGE_BLOCK: '2', ECONUMI_IMAGE_REFRESH_MS: '1000' }).start()
  t.teardown(async () => { await a.stop(); await c.stop() })
  await a.ready(); await c.ready()
  const cachedA = await a.waitFor((e) => e.event === 'image-cached', 60_000, 'A cached its image')
  await c.waitFor((e) => e.event === 'image-cached', 60_000, 'C cached its image')
  t.equal(cachedA.imageId, goodId.replace(/^sha256:/, '').slice(0, 12), 'A caches the image it offers, by image ID')
  t.ok(Number(cachedA.blocks) > 3, `in ${String(cachedA.blocks)} blocks of 64 KiB`)

  // now the engine no longer has them: only A and C can provide them
  t.equal(run(['rmi', good, bad]).status, 0, 'images removed from the engine')
  await new Promise((resolve) => setTimeout(resolve, 2500)) // A and C look at the engine again: they keep offering from their cores

  // --max-image-size: C refuses A's offer as too large, and nothing is loaded or left behind
  await until(async () => {
    const r = (await c.api('GET', '/v1/images')).body as { peers: Array<{ images: Array<{ ref: string }> }> }
    return r.peers.some((p) => p.images.some((i) => i.ref === good))
  }, 30_000, 'C sees A\'s offer')
  const tooLarge = run([CLI, '--data-dir', cDir, 'console'], { cmd: process.execPath, input: `start ${good}\n`, timeoutMs: 120_000 })
  t.equal(tooLarge.status, 1, 'an image over --max-image-size is refused')
  t.match(tooLarge.stderr, /\[E_IMAGE_TOO_LARGE\]/, tooLarge.stderr.trim().split('\n').pop() ?? '')
  t.match(tooLarge.stderr, /more than the 1024 allowed \(--max-image-size\)/, 'naming the bound and the option')
  t.not(run(['image', 'inspect', good]).status, 0, 'nothing was loaded')
  t.same(existsSync(join(cDir, 'tmp')) ? readdirSync(join(cDir, 'tmp')) : [], [], 'and no temp file is left')
  t.notOk(c.events.some((e) => e.event === 'image-fetched'), 'C fetched nothing')

  // B attests this engine's workloads: the agent image, the plugin, and dockerd told to use it
  for (const [what, args] of [['agent image', ['scripts/build-agent.sh']], ['plugin', ['scripts/build-plugin.sh', '--create']], ['authz on', ['scripts/build-plugin.sh', '--enable-authz', '--no-build']]] as const) {
    const r = run([join(REPO, args[0]), ...args.slice(1)], { cmd: 'bash', timeoutMs: 600_000 })
    t.equal(r.status, 0, `${what}: ${r.stderr.slice(-2000)}`)
  }
  t.teardown(() => { run([join(REPO, 'scripts/build-plugin.sh'), '--disable-authz'], { cmd: 'bash', timeoutMs: 120_000 }) })
  const bDir = join(dir, 'b')
  const b = new NodeProcess(bDir, [...net, '--attest']).start()
  t.teardown(async () => { await b.stop() })
  await b.ready()
  const aId = (await a.status()).nodeId as string
  await until(async () => {
    const r = (await b.api('GET', '/v1/images')).body as { peers: Array<{ nodeId: string, images: Array<{ ref: string }> }> }
    return r.peers.some((p) => p.images.some((i) => i.ref === good)) && r.peers.some((p) => p.images.some((i) => i.ref === bad))
  }, 30_000, 'B sees both offers')

  const consoleB = (input: string): ReturnType<typeof run> => run([CLI, '--data-dir', bDir, 'console'], { cmd: process.execPath, input, timeoutMs: 180_000 })
  const shown = consoleB('show images\n')
  t.equal(shown.status, 0, shown.stderr)
  t.match(shown.stdout, /^IMAGE\s+IMAGE ID\s+SIZE\s+OFFERED BY$/m)
  t.match(shown.stdout, new RegExp(`^${good.replace(/[.:]/g, '\\$&')}\\s+${goodId.replace(/^sha256:/, '').slice(0, 12)}\\s+\\S+\\s+peer ${aId.slice(0, 16)}$`, 'm'), 'the peer offer: reference, image ID, size, who offers it')
  t.match(shown.stdout, /^econumi\/busybox:test\s+[0-9a-f]{12}\s+\S+\s+local(, peer [0-9a-f]{16})*$/m, 'local workload images (and the peers that offer them too)')
  t.notMatch(shown.stdout, /econumi\/(econumi-node|agent|plugin|node-base)/, 'not econumi\'s own images')

  const started = consoleB(`start ${good} -- sleep 120\n`)
  t.equal(started.status, 0, `console start: ${started.stderr}`)
  t.match(started.stderr, new RegExp(`downloading ${good.replace(/[.:]/g, '\\$&')} from ${aId.slice(0, 16)}: 100%`), 'progress is shown')
  t.match(started.stdout, /downloaded .* from a peer, verified against its image ID, loaded/)
  const id = /as ([0-9a-f]{12})/.exec(started.stdout)?.[1] ?? ''
  containers.push(id)
  t.equal(run(['image', 'inspect', '--format', '{{.Id}}', good]).stdout.trim(), goodId, 'the engine has the very image A offered')
  t.equal(run(['inspect', '--format', '{{.State.Running}}', id]).stdout.trim(), 'true', 'and it runs')
  await until(async () => {
    const w = (await b.api('GET', '/v1/workloads')).body as { workloads: Array<{ id: string, agent: { connected: boolean } | null }> }
    return w.workloads.some((x) => x.id.startsWith(id) && x.agent?.connected === true)
  }, 60_000, 'B attests it: an agent for the downloaded workload')
  t.pass('it runs as an attested workload (B\'s collector witnesses it with an agent)')

  const refused = consoleB(`start ${bad}\n`)
  t.equal(refused.status, 1, 'a tampered image is refused')
  t.match(refused.stderr, /\[E_IMAGE_(VERIFY|ARCHIVE)\]/, refused.stderr.trim().split('\n').pop() ?? '')
  t.not(run(['image', 'inspect', bad]).status, 0, 'nothing was loaded')
  t.same(existsSync(join(bDir, 'tmp')) ? readdirSync(join(bDir, 'tmp')) : [], [], 'and no partial download is left')
  // (spawnSync held this process: B's log lines are read now)
  const fetched = await b.waitFor((e) => e.event === 'image-fetched', 10_000, 'B logged the download')
  t.equal(fetched.image, good, 'B logged the good download')
  t.equal(b.events.filter((e) => e.event === 'image-fetched').length, 1, 'and only that one')

  for (const n of [a, b, c]) await n.stop()
  for (const [name, n] of [['A', a], ['B', b], ['C', c]] as const) t.ok(n.proc !== null && (n.proc.exitCode !== null || n.proc.signalCode !== null), `node ${name} exited`)
})
