// The operator's path against a real dockerd: start (container) → ps → console (piped) → stop → start again
// (same chain) → error cases. Uses its own container/volume names and a temp data dir; cleans up in teardown.
import { spawn, spawnSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { requireDocker, run } from '../helpers/docker.js'

const ROOT = new URL('../..', import.meta.url).pathname
const BIN = join(ROOT, 'bin/econumi.js')

t.test('operator: start, ps, console, stop, restart, errors', async (t) => {
  if (!requireDocker(t)) return
  const build = run([join(ROOT, 'scripts/build-node-image.sh'), '--no-compile'], { cmd: 'bash', timeoutMs: 300_000 })
  t.equal(build.status, 0, `build-node-image: ${build.stderr}`)
  const busybox = run([join(ROOT, 'scripts/build-images.sh'), '--only', 'busybox'], { cmd: 'bash', timeoutMs: 300_000 })
  t.equal(busybox.status, 0, busybox.stderr)

  const dataDir = mkdtempSync(join(tmpdir(), 'econumi-operator-'))
  const container = `econumi-node-e2e-${process.pid}`
  const volume = `econumi-data-e2e-${process.pid}`
  const env = { ECONUMI_NODE_CONTAINER: container, ECONUMI_NODE_VOLUME: volume, ECONUMI_HOME: dataDir }
  const cli = (args: string[], input?: string, extra: Record<string, string> = {}): ReturnType<typeof run> =>
    run([BIN, '--data-dir', dataDir, ...args], { cmd: process.execPath, env: { ...env, ...extra }, input, timeoutMs: 180_000 })
  t.teardown(() => {
    const ids = run(['ps', '-aq', '--filter', 'label=econumi.console=1']).stdout.trim().split('\n').filter((x) => x !== '')
    for (const id of ids) run(['rm', '-f', id])
    run(['rm', '-f', container])
    run(['volume', 'rm', '-f', volume])
    spawnSync('rm', ['-rf', dataDir])
  })

  // 1. start: prints node id, reward address, API socket; a second start is idempotent
  const s1 = cli(['--json', 'start', '--epoch', '500', '--dev-compute-units', '5', '--offline'])
  t.equal(s1.status, 0, s1.stderr)
  const first = JSON.parse(s1.stdout)
  t.match(first, { started: true, container, apiSocket: join(dataDir, 'api.sock'), volume })
  t.match(first.nodeId, /^[0-9a-f]{64}$/)
  t.ok(first.rewardAddress.length > 20)
  const s2 = cli(['--json', 'start', '--offline'])
  t.equal(s2.status, 0, s2.stderr)
  t.match(JSON.parse(s2.stdout), { alreadyRunning: true, nodeId: first.nodeId, ignoredOptions: [] }, 'options it already runs with are not "ignored"')
  const human = cli(['start'])
  t.match(human.stdout, /node already running[\s\S]*node id\s+[0-9a-f]{64}[\s\S]*api socket/)
  t.equal(human.stderr, '', 'no warning when nothing was asked for')
  const withOthers = cli(['start', '--epoch', '700', '--offline', '--http-port', '18999'])
  t.equal(withOthers.status, 0, withOthers.stderr)
  t.match(withOthers.stderr, /^econumi: warning: the node already runs, so these options were ignored: --epoch 700 --http-port 18999; [^\n]*econumi stop[^\n]*\[W_OPTIONS_IGNORED\]\n$/, 'other options: says they were ignored, and what to do')
  t.same(JSON.parse(cli(['--json', 'start', '--epoch', '700']).stdout).ignoredOptions, ['--epoch 700'])

  // blocks are produced; wait for height >= 2
  let height = -1
  for (let i = 0; i < 60 && height < 2; i++) {
    height = Number(JSON.parse(cli(['--json', 'status']).stdout).height)
    if (height < 2) await new Promise((r) => setTimeout(r, 250))
  }
  t.ok(height >= 2, `height ${height}`)

  // 2. ps
  const ps = cli(['ps'])
  t.equal(ps.status, 0, ps.stderr)
  t.match(ps.stdout.split('\n')[0], /^CONTAINER ID\s+IMAGE\s+ROLE\s+STATUS\s+ATTESTED\s+POLLS\s+CU\s+EVIDENCE\s+NAMES$/, 'docker\'s columns, NAMES last')
  t.match(ps.stdout, new RegExp(`\\snode\\s.*\\s${container}$`, 'm'))
  const psj = JSON.parse(cli(['--json', 'ps']).stdout)
  t.ok(psj.containers.some((c: { name: string, role: string }) => c.name === container && c.role === 'node'))

  // 3. console, piped
  const con = cli(['console'], 'show images\nstart econumi/busybox:test --cpus 0.5 --memory 64m -- sleep 600\nps\nexit\n')
  t.equal(con.status, 0, con.stderr)
  t.match(con.stdout, /econumi\/busybox:test\s+[0-9a-f]{12}\s+\S+\s+local/)
  t.match(con.stdout, /started econumi\/busybox:test as [0-9a-f]{12} cpus=0\.5 memory=64m/)
  t.match(con.stdout, /econumi\/busybox:test\s+workload/)
  const config = JSON.parse(readFileSync(join(dataDir, 'econumi.config'), 'utf8'))
  t.same(config, { version: 1, workloads: [{ image: 'econumi/busybox:test', cpus: 0.5, memory: '64m', cmd: ['sleep', '600'] }] })
  const wid = con.stdout.match(/as ([0-9a-f]{12})/)?.[1] ?? ''
  const limits = run(['inspect', '--format', '{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}', wid]).stdout.trim()
  t.equal(limits, `500000000 ${64 * 1024 * 1024}`)

  // 4. stop; 5. start again: the same chain continues
  const stop = cli(['stop'])
  t.equal(stop.status, 0, stop.stderr)
  t.match(stop.stdout, new RegExp(`node stopped \\(container ${container} exited\\)`))
  t.equal(run(['inspect', '--format', '{{.State.Running}}', container]).stdout.trim(), 'false', 'the container has exited when econumi stop returns')
  run(['rm', '-f', wid]) // the configured workload is gone; the next start must bring it back
  const before = height
  // started again without --attest or --dev-compute-units: it can never produce a block, and start says so
  const again = cli(['--json', 'start', '--offline'])
  t.equal(again.status, 0, again.stderr)
  const second = JSON.parse(again.stdout)
  t.equal(second.nodeId, first.nodeId, 'same identity')
  const noCu = /^econumi: warning: this node has no compute units, so it can never produce a block: [^\n]*--attest[^\n]*--dev-compute-units N[^\n]*\[W_NO_COMPUTE_UNITS\]$/m
  t.match(again.stderr, noCu, 'a node without compute units: a warning on stderr naming --attest and --dev-compute-units')
  t.match(second.warnings, [{ code: 'W_NO_COMPUTE_UNITS', message: /--attest.*--dev-compute-units N/ }], 'and in the --json output')
  t.same(first.warnings, [], 'no warning for a node started with --dev-compute-units')
  const told = cli(['start'])
  t.match(told.stderr, noCu, 'a start that finds it running says so too')
  t.ok(Number(second.height) >= before, `height ${second.height} survived (was ${before})`)
  const back = run(['ps', '--filter', 'label=econumi.console=1', '--format', '{{.Image}} {{.ID}}']).stdout
  t.match(back, /econumi\/busybox:test/, 'the workload from econumi.config is running again')
  t.notMatch(back, new RegExp(wid), 'as a new container')
  const bal = cli(['--json', 'getbalance', first.rewardAddress])
  t.equal(bal.status, 0, bal.stderr)
  t.ok(BigInt(JSON.parse(bal.stdout).balanceUnits) > 0n, 'rewards survived')

  // 5b. a foreground node (own data dir, same econumi.config) brings the configured workload back too
  for (const id of run(['ps', '-q', '--filter', 'label=econumi.console=1']).stdout.trim().split('\n').filter((x) => x !== '')) run(['rm', '-f', id])
  const fgDir = mkdtempSync(join(tmpdir(), 'econumi-operator-fg-'))
  writeFileSync(join(fgDir, 'econumi.config'), readFileSync(join(dataDir, 'econumi.config')))
  const fg = spawn(process.execPath, [BIN, '--data-dir', fgDir, 'start', '--foreground', '--json', '--offline', '--dev-compute-units', '5'], { env: { ...process.env, ECONUMI_HOME: fgDir }, stdio: ['ignore', 'pipe', 'pipe'] })
  let fgOut = ''
  fg.stdout.on('data', (d: Buffer) => { fgOut += d.toString() })
  const restoredLine = await new Promise<string | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), 60_000)
    fg.stdout.on('data', () => { const l = fgOut.split('\n').find((x) => x.includes('"workloads-restored"')); if (l !== undefined) { clearTimeout(timer); resolve(l) } })
    fg.once('exit', () => { clearTimeout(timer); resolve(null) })
  })
  t.ok(restoredLine?.includes('econumi/busybox:test'), `foreground start logged the restored workload: ${restoredLine ?? fgOut.slice(-500)}`)
  t.match(run(['ps', '--filter', 'label=econumi.console=1', '--format', '{{.Image}}']).stdout, /econumi\/busybox:test/, 'and it runs')
  fg.kill('SIGTERM')
  const fgExit = await new Promise<number | null | 'running'>((resolve) => { const k = setTimeout(() => resolve('running'), 10_000); fg.once('exit', (code) => { clearTimeout(k); resolve(code) }) })
  t.equal(fgExit, 0, 'the foreground node exited within 10 s of SIGTERM')
  rmSync(fgDir, { recursive: true, force: true })

  // 6. errors: one line, non-zero exit
  const oneLine = (r: ReturnType<typeof run>, code: string): void => {
    t.not(r.status, 0, `${code} exits non-zero`)
    t.match(r.stderr, new RegExp(`\\[${code}\\]`), code)
  }
  oneLine(cli(['console'], 'start NOT/a:valid!!\n'), 'E_BAD_IMAGE_NAME')
  oneLine(cli(['console'], 'start econumi/does-not-exist:1\n'), 'E_IMAGE_NOT_FOUND')
  oneLine(cli(['start'], undefined, { ECONUMI_NODE_IMAGE: 'econumi/does-not-exist:1', ECONUMI_NODE_CONTAINER: `${container}-x` }), 'E_NODE_RUNNING')
  const other = mkdtempSync(join(tmpdir(), 'econumi-operator-x-'))
  t.teardown(() => rmSync(other, { recursive: true, force: true }))
  const missing = run([BIN, '--data-dir', other, 'start'], { cmd: process.execPath, env: { ...env, ECONUMI_NODE_IMAGE: 'econumi/does-not-exist:1', ECONUMI_NODE_CONTAINER: `${container}-x`, ECONUMI_NODE_VOLUME: `${volume}-x` } })
  oneLine(missing, 'E_IMAGE_NOT_FOUND')
  t.match(missing.stderr, /no registry has it; build it here with `econumi build-image node`/, 'a missing node image: no registry, so the shipped build is named')
  oneLine(cli(['start'], undefined, { ECONUMI_DOCKER_SOCKET: '/nonexistent/docker.sock' }), 'E_NO_DOCKER')
  oneLine(cli(['ps'], undefined, { ECONUMI_DOCKER_SOCKET: '/nonexistent/docker.sock' }), 'E_NO_DOCKER')
  writeFileSync(join(other, 'econumi.config'), '{"version":1,"workloads":[')
  const corrupt = run([BIN, '--data-dir', other, 'console'], { cmd: process.execPath, env, input: 'start econumi/busybox:test\n' })
  oneLine(corrupt, 'E_CONFIG_CORRUPT')
  t.match(corrupt.stderr, /econumi\.config is corrupt/)
  t.equal(readFileSync(join(other, 'econumi.config'), 'utf8'), '{"version":1,"workloads":[', 'corrupt file kept')

  // stop; then a stopped node is reported
  const last = cli(['stop'])
  t.equal(last.status, 0, last.stderr)
  t.equal(run(['inspect', '--format', '{{.State.Running}}', container]).stdout.trim(), 'false', 'the node container no longer runs after the last econumi stop')
  oneLine(cli(['status']), 'E_NODE_NOT_RUNNING')
})

t.test('operator: container mode start -> stop -> start, five times, with the local bootstrap port taken', async (t) => {
  if (!requireDocker(t)) return
  const build = run([join(ROOT, 'scripts/build-node-image.sh'), '--no-compile'], { cmd: 'bash', timeoutMs: 300_000 })
  t.equal(build.status, 0, `build-node-image: ${build.stderr}`)
  const dataDir = mkdtempSync(join(tmpdir(), 'econumi-operator-cycle-'))
  const container = `econumi-node-cycle-${process.pid}`
  const volume = `econumi-data-cycle-${process.pid}`
  const env = { ECONUMI_NODE_CONTAINER: container, ECONUMI_NODE_VOLUME: volume, ECONUMI_HOME: dataDir }
  const cli = (args: string[]): ReturnType<typeof run> => run([BIN, '--data-dir', dataDir, ...args], { cmd: process.execPath, env, timeoutMs: 120_000 })
  // Something else holds the local DHT bootstrap port (as a second node on the machine would): the node, on the
  // host network, cannot host the bootstrap. That is the configuration in which it used to never exit.
  const holder = createSocket('udp4')
  const held = await new Promise<boolean>((resolve) => { holder.once('error', () => resolve(false)); holder.bind(49737, '127.0.0.1', () => resolve(true)) })
  t.teardown(() => {
    if (held) holder.close()
    run(['rm', '-f', container])
    run(['volume', 'rm', '-f', volume])
    spawnSync('rm', ['-rf', dataDir])
  })
  let height = -1
  for (let i = 0; i < 5; i++) {
    let began = Date.now()
    const s = cli(['--json', 'start', ...(i === 0 ? ['--epoch', '500'] : []), '--dev-compute-units', '5'])
    t.equal(s.status, 0, `start ${i + 1}: ${s.stderr}`)
    const started = JSON.parse(s.stdout)
    t.ok(Number(started.height) >= height, `start ${i + 1}: height ${started.height} kept (was ${height})`)
    t.ok(Date.now() - began < 60_000, `start ${i + 1} took ${Date.now() - began} ms`)
    // let it produce a block before stopping
    for (let k = 0; k < 40; k++) {
      const st = cli(['--json', 'status'])
      if (st.status === 0 && Number(JSON.parse(st.stdout).height) > Math.max(height, Number(started.height))) { height = Number(JSON.parse(st.stdout).height); break }
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    began = Date.now()
    const stop = cli(['--json', 'stop'])
    t.equal(stop.status, 0, `stop ${i + 1}: ${stop.stderr}`)
    t.match(JSON.parse(stop.stdout), { stopped: true, container, forced: false }, `stop ${i + 1}: the node exited by itself`)
    t.ok(Date.now() - began < 15_000, `stop ${i + 1} took ${Date.now() - began} ms`)
    t.equal(run(['inspect', '--format', '{{.State.Running}}', container]).stdout.trim(), 'false', `stop ${i + 1}: the container has exited when econumi stop returns`)
    const logs = run(['logs', container])
    t.match(logs.stdout, /"event":"stopped"/, `stop ${i + 1}: the node logged stopped`)
    t.notMatch(logs.stdout, /exit-forced/, `stop ${i + 1}: and nothing held its process open afterwards`)
  }
  t.ok(height >= 1, `blocks were produced across the restarts (height ${height})`)
})
