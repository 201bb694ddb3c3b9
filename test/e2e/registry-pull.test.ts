// Issue 15, the registry half: `econumi console start <image>` for an image the engine lacks pulls it through
// the Engine API when a registry answers (cli/image-fetch.ts ensureImage/pullImage), with progress, and never
// asks a peer then. Against a real dockerd, a real node process and a real registry: Debian's docker-registry
// on 127.0.0.1:<a free port> with its storage in a temp dir (as scripts/build-plugin.sh --registry runs one on
// :5000, which this test never touches). A registry that does not answer (a closed port), for an image no peer
// offers, is E_IMAGE_NOT_FOUND; so is a registry that answers but fails the pull halfway (a layer it lost):
// the engine reports that inside the pull's stream, and it must not pass for a pull.
import t, { type Test } from 'tap'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { CLI, NodeProcess, REPO, localBootstrap, tempDir, until, writeGenesis } from '../helpers/node-process.js'
import { acquireEngineLock, requireDocker, run } from '../helpers/docker.js'

const REGISTRY_BIN = '/usr/bin/docker-registry'

/** A loopback port nothing listens on right now. */
async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

async function answers (url: string): Promise<boolean> {
  try { return (await fetch(url, { signal: AbortSignal.timeout(1000) })).status === 200 } catch { return false }
}

interface Registry { port: number, proc: ChildProcess, exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>, storage: string, log: string }

/** docker-registry on 127.0.0.1:<free port>, storage in `dir`; retried on another port if it cannot listen. */
async function startRegistry (dir: string): Promise<Registry> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    const storage = join(dir, `storage-${port}`)
    mkdirSync(storage)
    const config = join(dir, `config-${port}.yml`)
    writeFileSync(config, [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ''
    ].join('\n'))
    const log = join(dir, `registry-${port}.log`)
    const fd = openSync(log, 'a')
    const proc = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', fd, fd] })
    const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })))
    const up = await until(async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return 'exited'
      return (await answers(`http://127.0.0.1:${port}/v2/`)) ? 'up' : false
    }, 20_000, `docker-registry on 127.0.0.1:${port}`, 100).catch(() => 'timeout')
    if (up === 'up') return { port, proc, exited, storage, log }
    proc.kill('SIGKILL')
    await exited
    if (attempt >= 2) throw new Error(`docker-registry did not start (${up}): ${readFileSync(log, 'utf8').slice(-2000)}`)
  }
}

t.test('console start pulls a missing image from a registry, with progress and no peer download', async (t) => {
  if (!requireDocker(t)) return
  if (!existsSync(REGISTRY_BIN)) {
    if (process.env.ECONUMI_REQUIRE_DOCKER === '1') t.fail(`${REGISTRY_BIN} missing: apt-get install docker-registry`)
    else t.plan(0, `skip: ${REGISTRY_BIN} missing (apt-get install docker-registry)`)
    return
  }
  const t0 = Date.now()
  const release = await acquireEngineLock('registry-pull.test')
  const dir = tempDir('econumi-regpull-')
  const build = run([join(REPO, 'scripts/build-images.sh'), '--only', 'busybox'], { cmd: 'bash', timeoutMs: 300_000 })
  t.equal(build.status, 0, build.status === 0 ? 'econumi/busybox:test built (or there)' : build.stderr)

  // everything this test makes is undone here, also after an early end (the normal path stops and asserts first)
  const containers: string[] = []
  const images: string[] = []
  let registry: Registry | null = null
  let node: NodeProcess | null = null
  let bs: Awaited<ReturnType<typeof localBootstrap>> | null = null
  t.teardown(async () => {
    for (const c of containers) run(['rm', '-f', c])
    if (images.length > 0) run(['rmi', '-f', ...images])
    if (node !== null) await node.stop().catch(() => { node?.kill9() })
    if (registry !== null && registry.proc.exitCode === null && registry.proc.signalCode === null) { registry.proc.kill('SIGKILL'); await registry.exited }
    if (bs !== null) await bs.close()
    rmSync(dir, { recursive: true, force: true })
    release()
  })

  registry = await startRegistry(dir)
  const reg = `127.0.0.1:${registry.port}`
  const tag = `t${process.pid}-${randomBytes(4).toString('hex')}`

  // a workload image on busybox's layer with a layer of its own (1.5 MB of random bytes), so that the pull
  // really downloads something and shows progress; pushed, then removed from the engine altogether
  const pushed = async (t: Test, ref: string): Promise<string> => {
    const ctx = join(dir, `ctx-${images.length}`)
    mkdirSync(ctx)
    writeFileSync(join(ctx, 'blob'), randomBytes(1_500_000))
    writeFileSync(join(ctx, 'Dockerfile'), `FROM econumi/busybox:test\nCOPY blob /blob\nLABEL econumi.test=registry-pull\nCMD ["sleep", "300"]\n`)
    images.push(ref)
    const b = run(['build', '-q', '-t', ref, ctx])
    t.equal(b.status, 0, b.status === 0 ? `docker build ${ref}` : b.stderr)
    const id = run(['image', 'inspect', '--format', '{{.Id}}', ref]).stdout.trim()
    const p = run(['push', ref])
    t.equal(p.status, 0, p.status === 0 ? `docker push ${ref}` : p.stderr)
    t.equal(run(['rmi', ref]).status, 0, `docker rmi ${ref}`)
    t.not(run(['image', 'inspect', id]).status, 0, `the engine no longer has ${ref} (${id.slice(7, 19)})`)
    return id
  }
  const app = `${reg}/econumi-test/app:${tag}`
  const appId = await pushed(t, app)

  // a real node (no peers: nothing can come from one), as the console finds it on its data dir
  const genesis = writeGenesis(dir, { epochMs: 2000 })
  bs = await localBootstrap()
  const nodeDir = join(dir, 'node')
  node = new NodeProcess(nodeDir, ['--genesis', genesis, '--bootstrap', bs.address]).start()
  await node.ready()
  const consoleRun = (input: string): ReturnType<typeof run> => run([CLI, '--data-dir', nodeDir, 'console'], { cmd: process.execPath, input, timeoutMs: 120_000 })
  const esc = (s: string): string => s.replace(/[.:/]/g, '\\$&')

  await t.test('pulled from the registry, then run as a console workload', async (t) => {
    const started = consoleRun(`start ${app} -- sleep 120\n`)
    t.equal(started.status, 0, `console start: ${started.stderr}`)
    t.match(started.stderr, new RegExp(`^pulling ${esc(app)}: \\d+% \\(\\d+\\.\\d MB of \\d+\\.\\d MB\\)$`, 'm'), 'pull progress is shown (a line per quarter, stderr not a terminal)')
    const pcts = [...started.stderr.matchAll(new RegExp(`^pulling ${esc(app)}: (\\d+)%`, 'gm'))].map((m) => Number(m[1]))
    t.ok(pcts.every((p, i) => i === 0 || p >= pcts[i - 1]), `the progress never runs backwards (extraction is not counted again): ${pcts.join(' ')}`)
    t.match(started.stdout, new RegExp(`^pulled ${esc(app)}$`, 'm'), 'the console says it pulled the image')
    t.notMatch(started.stdout + started.stderr, /downloading|downloaded .* from a peer/, 'nothing came from a peer')
    const id = new RegExp(`^started ${esc(app)} as ([0-9a-f]{12}); recorded in econumi\\.config$`, 'm').exec(started.stdout)?.[1] ?? ''
    t.match(id, /^[0-9a-f]{12}$/, `a container was started: ${started.stdout}`)
    if (id !== '') containers.push(id)

    t.equal(run(['image', 'inspect', '--format', '{{.Id}}', app]).stdout.trim(), appId, 'the engine has the very image pushed to the registry')
    const inspect = JSON.parse(run(['inspect', id]).stdout || '[]')[0] ?? {}
    t.equal(inspect.State?.Running, true, 'its container runs')
    t.equal(inspect.Config?.Image, app, 'of the pulled image')
    t.match(inspect.Config?.Labels, { 'econumi.console': '1', 'econumi.image': app }, 'labelled as a console workload')
    const configFile = join(nodeDir, 'econumi.config')
    const config = (existsSync(configFile) ? JSON.parse(readFileSync(configFile, 'utf8')) : { workloads: [] }) as { workloads: Array<{ image: string }> }
    t.ok(config.workloads.some((w) => w.image === app), 'and recorded in econumi.config')
    const ps = run([CLI, '--data-dir', nodeDir, 'ps', '--format', 'json'], { cmd: process.execPath })
    t.equal(ps.status, 0, ps.status === 0 ? 'econumi ps --format json' : ps.stderr)
    const rows = ps.stdout.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { ID: string, Image: string, Role: string, State: string })
    t.ok(rows.some((r) => id !== '' && r.ID.startsWith(id) && r.Role === 'workload' && r.Image === app && r.State === 'running'), `econumi ps lists it as a running workload: ${ps.stdout}`)

    // stop through the console, as a user would: the container goes, and so does its config entry
    const stopped = consoleRun(`stop ${app}\n`)
    t.equal(stopped.status, 0, stopped.status === 0 ? 'console stop' : stopped.stderr)
    t.not(run(['inspect', id]).status, 0, 'console stop removed the container')
  })

  await t.test('a registry that does not answer, for an image no peer offers: E_IMAGE_NOT_FOUND', async (t) => {
    const closed = await freePort()
    const ref = `127.0.0.1:${closed}/econumi-test/app:${tag}`
    const r = consoleRun(`start ${ref}\n`)
    t.equal(r.status, 1, 'the console fails')
    t.match(r.stderr, new RegExp(`^econumi: image ${esc(ref)} is not on this engine, no registry has it, and no peer offers it .*\\[E_IMAGE_NOT_FOUND\\]$`, 'm'), r.stderr.trim())
    t.notMatch(r.stderr, /^\s+at /m, 'no stack trace')
    t.notMatch(r.stdout, /pulled|started/, 'nothing pulled or started')
    t.not(run(['image', 'inspect', ref]).status, 0, 'no such image on the engine')
    t.equal(run(['ps', '-aq', '--filter', `label=econumi.image=${ref}`]).stdout.trim(), '', 'no container')
  })

  await t.test('a registry that fails the pull halfway (a lost layer) is no pull: E_IMAGE_NOT_FOUND, not "pulled"', async (t) => {
    const ref = `${reg}/econumi-test/app:${tag}-lost`
    await pushed(t, ref)
    // the manifest stays, its own layer's blob goes: the engine's pull fails inside its progress stream (HTTP 200)
    const res = await fetch(`http://${reg}/v2/econumi-test/app/manifests/${tag}-lost`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } })
    const manifest = await res.json() as { layers: Array<{ digest: string }> }
    const digest = manifest.layers[manifest.layers.length - 1].digest.replace(/^sha256:/, '')
    const blob = join(registry!.storage, 'docker/registry/v2/blobs/sha256', digest.slice(0, 2), digest, 'data')
    t.ok(existsSync(blob), 'the layer is in the registry\'s storage')
    rmSync(blob)
    const r = consoleRun(`start ${ref}\n`)
    t.equal(r.status, 1, 'the console fails')
    t.notMatch(r.stdout, /pulled|started/, `nothing is said to be pulled or started: ${r.stdout}`)
    t.match(r.stderr, /\[E_IMAGE_NOT_FOUND\]$/m, r.stderr.trim())
    t.notMatch(r.stderr, /E_INTERNAL|^\s+at /m, 'no internal error, no stack trace')
    t.not(run(['image', 'inspect', ref]).status, 0, 'no such image on the engine')
    t.equal(run(['ps', '-aq', '--filter', `label=econumi.image=${ref}`]).stdout.trim(), '', 'no container')
  })

  // (spawnSync held this process: the node's log lines are read now)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.notOk(node.events.some((e) => e.event === 'image-fetched'), 'the node downloaded nothing from a peer')

  const n = node
  await n.stop()
  t.equal(await n.exited, 0, 'the node exited with code 0 after SIGTERM')
  const rg = registry
  rg.proc.kill('SIGTERM')
  const ended = await Promise.race([rg.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000))])
  t.ok(ended !== null, `the registry exited after SIGTERM (${JSON.stringify(ended)})`)
  t.notOk(await answers(`http://${reg}/v2/`), 'and no longer answers')
  t.ok(Date.now() - t0 < 60_000, `done in ${Date.now() - t0} ms (under 60 s)`)
})
