// plugin-overhead: what the econumi authorization plugin costs.
//  1. `docker run --rm econumi/busybox:test true`, median wall time with the plugin enabled as authz vs
//     without, in alternating blocks within the same run (goal: ratio ≤ 1.03).
//  2. One plugin round trip end to end, in-process over a unix socket and a kept-alive connection (as
//     dockerd's plugin client does): the real PluginServer with a node receiving its events, over the
//     docker-run sequence of AuthZReq/AuthZRes, p50/p99 against a bare node:http server that answers
//     `{"Allow":true}` (the floor for any Node plugin).
//  3. The plugin's own decision time, in-process: p50/p99 of decideRequest()/decideResponse() over a
//     realistic request mix, against a bare JSON.parse of the same AuthZ request as baseline; plus the whole
//     own work per call (parse + decide) at p99 against the 1 ms budget.
// Env: ECONUMI_BENCH_RUNS (docker runs per side, default 30), ECONUMI_BENCH_BLOCK (runs per block, default 5).
// Needs a dockerd (scripts/docker-up.sh); without one, part 1 is skipped with a message. If no plugin named
// econumi is installed, one is built and installed with an isolated state dir and removed at the end; an
// existing one is reused and its authz setting restored.
import { spawnSync } from 'node:child_process'
import { Agent, createServer, request, type Server } from 'node:http'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { percentile, report, type Bench } from './lib.js'
import { decideRequest, decideResponse, type DecideContext } from '../plugin/decide.js'
import { PluginState } from '../plugin/state.js'
import { PluginServer } from '../plugin/server.js'
import type { AuthZRequest } from '../plugin/types.js'

function repoRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'scripts', 'build-plugin.sh'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('bench/plugin: cannot find scripts/build-plugin.sh above this file [E_BENCH_ROOT]')
    dir = up
  }
  return dir
}

function sh (cmd: string, args: string[], timeoutMs = 300_000): { status: number | null, out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' })
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` }
}

/** Same engine lock as test/helpers/docker.ts acquireEngineLock: never toggle authz under a running e2e test. */
async function engineLock (): Promise<() => void> {
  const dir = process.env.ECONUMI_ENGINE_LOCK ?? '/run/lock/econumi-engine.lock'
  const deadline = Date.now() + 600_000
  for (;;) {
    try {
      mkdirSync(dir)
      writeFileSync(join(dir, 'owner'), `${process.pid} bench plugin-overhead\n`)
      return () => rmSync(dir, { recursive: true, force: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    let pid = 0
    try { pid = Number.parseInt(readFileSync(join(dir, 'owner'), 'utf8'), 10) } catch { pid = 0 }
    let dead = false
    try { if (pid > 0) process.kill(pid, 0) } catch (err) { dead = (err as NodeJS.ErrnoException).code === 'ESRCH' }
    if (dead) { rmSync(dir, { recursive: true, force: true }); continue }
    if (Date.now() > deadline) throw new Error(`engine lock ${dir} held by ${pid} for 10 minutes [E_ENGINE_LOCKED]`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length === 0 ? 0 : s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

const b64 = (x: unknown): string => Buffer.from(JSON.stringify(x)).toString('base64')

/** A realistic mix: what one `docker run --rm` plus some `docker ps`/`inspect`/`stop` traffic looks like. */
export function requestMix (agentId: string): Array<{ res: boolean, raw: string }> {
  const hdr = { 'Content-Type': 'application/json', 'User-Agent': 'Docker-Client/28.2.2 (linux)' }
  const create = {
    Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false, OpenStdin: false, StdinOnce: false,
    Env: ['PATH=/usr/bin:/bin', 'API_KEY=secret'], Cmd: ['sh', '-c', 'true'], Image: 'econumi/busybox:test', Volumes: {}, WorkingDir: '', Entrypoint: null, OnBuild: null,
    Labels: { app: 'bench', team: 'x' },
    HostConfig: { Binds: null, ContainerIDFile: '', LogConfig: { Type: '', Config: {} }, NetworkMode: 'default', PortBindings: {}, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, AutoRemove: true, VolumeDriver: '', VolumesFrom: null, CapAdd: null, CapDrop: null, Dns: [], DnsOptions: [], DnsSearch: [], ExtraHosts: null, GroupAdd: null, IpcMode: '', Cgroup: '', Links: null, OomScoreAdj: 0, PidMode: '', Privileged: false, PublishAllPorts: false, ReadonlyRootfs: false, SecurityOpt: null, UTSMode: '', UsernsMode: '', ShmSize: 0, ConsoleSize: [0, 0], Isolation: '', CpuShares: 0, Memory: 67108864, NanoCpus: 500000000, CgroupParent: '', BlkioWeight: 0, CpuPeriod: 0, CpuQuota: 0, CpusetCpus: '', CpusetMems: '', Devices: [], MemoryReservation: 0, MemorySwap: 0, PidsLimit: null, Ulimits: null },
    NetworkingConfig: { EndpointsConfig: {} }
  }
  const id = 'f'.repeat(64)
  const reqs: Array<[boolean, AuthZRequest]> = [
    [false, { RequestMethod: 'HEAD', RequestUri: '/_ping', RequestHeaders: hdr }],
    [false, { RequestMethod: 'POST', RequestUri: '/v1.41/containers/create', RequestBody: b64(create), RequestHeaders: hdr }],
    [true, { RequestMethod: 'POST', RequestUri: '/v1.41/containers/create', RequestBody: b64(create), RequestHeaders: hdr, ResponseStatusCode: 201, ResponseBody: b64({ Id: id, Warnings: [] }), ResponseHeaders: { 'Content-Type': 'application/json' } }],
    [false, { RequestMethod: 'POST', RequestUri: `/v1.41/containers/${id}/attach?stderr=1&stdout=1&stream=1`, RequestHeaders: hdr }],
    [false, { RequestMethod: 'POST', RequestUri: `/v1.41/containers/${id}/wait?condition=removed`, RequestHeaders: hdr }],
    [false, { RequestMethod: 'POST', RequestUri: `/v1.41/containers/${id}/start`, RequestHeaders: hdr }],
    [true, { RequestMethod: 'POST', RequestUri: `/v1.41/containers/${id}/start`, RequestHeaders: hdr, ResponseStatusCode: 204 }],
    [false, { RequestMethod: 'GET', RequestUri: '/v1.41/containers/json?all=1', RequestHeaders: hdr }],
    [false, { RequestMethod: 'GET', RequestUri: `/v1.41/containers/${id}/json`, RequestHeaders: hdr }],
    [false, { RequestMethod: 'POST', RequestUri: '/v1.41/containers/w1/stop?t=10', RequestHeaders: hdr }],
    [false, { RequestMethod: 'POST', RequestUri: `/v1.41/containers/${agentId.slice(0, 12)}/exec`, RequestBody: b64({ Cmd: ['sh'] }), RequestHeaders: hdr }],
    [false, { RequestMethod: 'DELETE', RequestUri: '/v1.41/containers/w1?force=1', RequestHeaders: hdr }],
    [false, { RequestMethod: 'POST', RequestUri: '/v1.41/plugins/econumi/disable', RequestHeaders: hdr }],
    [false, { RequestMethod: 'GET', RequestUri: '/v1.41/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D', RequestHeaders: hdr }]
  ]
  return reqs.map(([res, r]) => ({ res, raw: JSON.stringify(r) }))
}

function decisionBench (): void {
  const state = new PluginState(null)
  const agentId = 'a'.repeat(64)
  for (let i = 0; i < 200; i++) state.addAgent(i.toString(16).padStart(64, '0'), `econumi-agent-${i}`, 0)
  state.addAgent(agentId, 'econumi-agent-bench', 0)
  const mix = requestMix(agentId)
  const parsed = mix.map((m) => ({ res: m.res, req: JSON.parse(m.raw) as AuthZRequest }))
  const ctx: DecideContext = { nodeToken: 'x'.repeat(48), now: Date.now(), selfName: 'econumi', socketName: 'econumi.sock' }
  const rounds = 20_000
  const decideNs: number[] = []
  const parseNs: number[] = []
  const ownNs: number[] = []
  let sink = 0
  for (let r = 0; r < rounds + 2000; r++) {
    for (let i = 0; i < mix.length; i++) {
      const t0 = process.hrtime.bigint()
      const d = parsed[i].res ? decideResponse(parsed[i].req, state, ctx) : decideRequest(parsed[i].req, state, ctx)
      const t1 = process.hrtime.bigint()
      const p = JSON.parse(mix[i].raw) as AuthZRequest
      const t2 = process.hrtime.bigint()
      const d2 = parsed[i].res ? decideResponse(p, state, ctx) : decideRequest(p, state, ctx)
      const t3 = process.hrtime.bigint()
      sink += (d.allow ? 1 : 0) + (d2.events.length)
      if (r >= 2000) { // warm-up rounds are not counted
        decideNs.push(Number(t1 - t0))
        parseNs.push(Number(t2 - t1))
        ownNs.push(Number(t3 - t1))
      }
    }
  }
  if (sink < 0) process.stdout.write('')
  for (const a of [decideNs, parseNs, ownNs]) a.sort((x, y) => x - y)
  const us = (ns: number): number => ns / 1000
  report({ name: 'plugin-decide-p50', value: us(percentile(decideNs, 50)), unit: 'µs', baseline: us(percentile(parseNs, 50)) })
  report({ name: 'plugin-decide-p99', value: us(percentile(decideNs, 99)), unit: 'µs', baseline: us(percentile(parseNs, 99)) })
  report({ name: 'plugin-own-work-p99', value: us(percentile(ownNs, 99)), unit: 'µs', baseline: 1000 })
}

/** The AuthZ calls of one `docker run --rm` (create, attach, wait, start and their answers). */
function dockerRunCalls (): Array<[string, string]> {
  const hdr = { 'Content-Type': 'application/json', 'User-Agent': 'Docker-Client/28.2.2 (linux)' }
  const create = JSON.parse(Buffer.from((JSON.parse(requestMix('a'.repeat(64))[1].raw) as AuthZRequest).RequestBody as string, 'base64').toString()) as unknown
  const id = 'e'.repeat(64)
  const calls: Array<[boolean, AuthZRequest]> = [
    [false, { RequestMethod: 'HEAD', RequestUri: '/_ping', RequestHeaders: hdr }],
    [true, { RequestMethod: 'HEAD', RequestUri: '/_ping', RequestHeaders: hdr, ResponseStatusCode: 200 }],
    [false, { RequestMethod: 'POST', RequestUri: '/v1.41/containers/create', RequestBody: b64(create), RequestHeaders: hdr }],
    [true, { RequestMethod: 'POST', RequestUri: '/v1.41/containers/create', RequestBody: b64(create), RequestHeaders: hdr, ResponseStatusCode: 201, ResponseBody: b64({ Id: id, Warnings: [] }) }],
    [false, { RequestMethod: 'POST', RequestUri: `/v1.41/containers/${id}/attach?stderr=1&stdout=1&stream=1`, RequestHeaders: hdr }],
    [false, { RequestMethod: 'POST', RequestUri: `/v1.41/containers/${id}/wait?condition=removed`, RequestHeaders: hdr }],
    [false, { RequestMethod: 'POST', RequestUri: `/v1.41/containers/${id}/start`, RequestHeaders: hdr }],
    [true, { RequestMethod: 'POST', RequestUri: `/v1.41/containers/${id}/start`, RequestHeaders: hdr, ResponseStatusCode: 204 }],
    [true, { RequestMethod: 'POST', RequestUri: `/v1.41/containers/${id}/wait?condition=removed`, RequestHeaders: hdr, ResponseStatusCode: 200, ResponseBody: b64({ StatusCode: 0 }) }]
  ]
  return calls.map(([res, r]) => [res ? '/AuthZPlugin.AuthZRes' : '/AuthZPlugin.AuthZReq', JSON.stringify(r)])
}

async function roundTrips (socketPath: string, calls: Array<[string, string]>, runs: number): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const one = async (path: string, body: string): Promise<void> => await new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.resume()
      res.on('end', resolve)
    })
    req.on('error', reject)
    req.end(body)
  })
  const us: number[] = []
  for (let r = 0; r < runs; r++) {
    for (const [path, body] of calls) {
      const t0 = process.hrtime.bigint()
      await one(path, body)
      if (r >= 20) us.push(Number(process.hrtime.bigint() - t0) / 1000)
    }
    await new Promise((resolve) => setTimeout(resolve, 2)) // docker runs are apart: let timers (event batches) fire
  }
  agent.destroy()
  return us.sort((a, b) => a - b)
}

async function listen (server: Server, path: string): Promise<void> {
  await new Promise<void>((resolve) => server.listen(path, resolve))
}

async function roundTripBench (): Promise<void> {
  const dir = mkdtempSync('/tmp/eco-bench-rt-')
  const runs = Number(process.env.ECONUMI_BENCH_RT_RUNS ?? 400)
  const calls = dockerRunCalls()
  let posts = 0
  const node = createServer((req, res) => { req.resume(); req.on('end', () => { posts++; res.writeHead(204); res.end() }) })
  const bare = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const text = '{"Allow":true}'
      res.writeHead(200, { 'Content-Type': 'application/vnd.docker.plugins.v1+json', 'Content-Length': text.length })
      res.end(text)
    })
  })
  bare.keepAliveTimeout = 0
  writeFileSync(join(dir, 'node-token'), 'bench-token')
  const plugin = new PluginServer({ socketPath: join(dir, 'p.sock'), tokenFile: join(dir, 'node-token'), nodeSocket: join(dir, 'node.sock'), stateFile: join(dir, 'state.json'), log: () => {} })
  try {
    await listen(node, join(dir, 'node.sock'))
    await listen(bare, join(dir, 'bare.sock'))
    await plugin.start()
    // alternate blocks so both sides see the same machine load
    const real: number[] = []
    const floor: number[] = []
    for (let b = 0; b < 4; b++) {
      floor.push(...await roundTrips(join(dir, 'bare.sock'), calls, runs / 4 + 20))
      real.push(...await roundTrips(plugin.opts.socketPath, calls, runs / 4 + 20))
    }
    await plugin.events.idle()
    for (const a of [real, floor]) a.sort((x, y) => x - y)
    report({ name: 'plugin-round-trip-p50', value: percentile(real, 50), unit: 'µs', baseline: percentile(floor, 50) })
    report({ name: 'plugin-round-trip-p99', value: percentile(real, 99), unit: 'µs', baseline: percentile(floor, 99) })
    process.stdout.write(`plugin round trips: ${real.length} calls, ${plugin.stats.eventsSent} events in ${posts} POSTs to the node, ${plugin.stats.eventsDropped} dropped\n`)
  } finally {
    await plugin.close()
    await new Promise<void>((resolve) => { node.close(() => resolve()); node.closeAllConnections() })
    await new Promise<void>((resolve) => { bare.close(() => resolve()); bare.closeAllConnections() })
    rmSync(dir, { recursive: true, force: true })
  }
}

async function dockerRunBench (root: string): Promise<void> {
  if (sh('docker', ['version', '--format', '{{.Server.Version}}'], 15_000).status !== 0) {
    process.stdout.write('plugin-overhead: skipped (no docker engine; run scripts/docker-up.sh) [E_NO_DOCKER]\n')
    return
  }
  const runs = Number(process.env.ECONUMI_BENCH_RUNS ?? 30)
  const block = Math.max(1, Number(process.env.ECONUMI_BENCH_BLOCK ?? 5))
  const script = join(root, 'scripts', 'build-plugin.sh')
  const images = sh('bash', [join(root, 'scripts', 'build-images.sh')])
  if (images.status !== 0) throw new Error(`build-images.sh failed: ${images.out} [E_BENCH_SETUP]`)

  const unlock = await engineLock()
  const existed = sh('docker', ['plugin', 'inspect', 'econumi']).status === 0
  const daemonJson = existsSync('/etc/docker/daemon.json') ? readFileSync('/etc/docker/daemon.json', 'utf8') : ''
  const wasOn = /"econumi(:latest)?"/.test(daemonJson)
  const FLOOR = 'econumi-floor'
  let stateDir: string | null = null
  let floorDir: string | null = null
  const authz = (on: boolean, name = 'econumi'): void => {
    const r = sh('bash', [script, '--name', name, on ? '--enable-authz' : '--disable-authz'])
    if (r.status !== 0) throw new Error(`build-plugin.sh --name ${name} ${on ? '--enable-authz' : '--disable-authz'}: ${r.out} [E_BENCH_SETUP]`)
  }
  try {
    if (!existed) {
      stateDir = mkdtempSync('/tmp/eco-bench-')
      const r = sh('bash', [script, '--create', '--set', `state.source=${stateDir}`])
      if (r.status !== 0) throw new Error(`build-plugin.sh --create: ${r.out} [E_BENCH_SETUP]`)
    }
    authz(false) // build-plugin.sh --create turns authz off first, and its probe would still see econumi
    // the floor: the same image in ECONUMI_PLUGIN_MODE=floor (plugin/floor.ts), allowing every call unread
    floorDir = mkdtempSync('/tmp/eco-bench-floor-')
    const f = sh('bash', [script, '--create', '--name', FLOOR, '--dir', join(floorDir, 'plugin'), '--set', `state.source=${floorDir}`, '--set', 'ECONUMI_PLUGIN_MODE=floor', '--set', `ECONUMI_PLUGIN_NAME=${FLOOR}`])
    if (f.status !== 0) throw new Error(`build-plugin.sh --create --name ${FLOOR}: ${f.out} [E_BENCH_SETUP]`)
    const timeRun = (): number => {
      const t0 = performance.now()
      const r = sh('docker', ['run', '--rm', 'econumi/busybox:test', 'true'], 60_000)
      if (r.status !== 0) throw new Error(`docker run failed: ${r.out} [E_BENCH_RUN]`)
      return performance.now() - t0
    }
    authz(false)
    timeRun() // warm the image and runtime caches
    // three sides in rotating blocks (none, the floor, econumi), so all see the same machine load
    // (one plugin on at a time: build-plugin.sh's probe cannot tell two apart)
    const sides: Record<'off' | 'floor' | 'on', number[]> = { off: [], floor: [], on: [] }
    const order = ['off', 'floor', 'on'] as const
    let current: 'off' | 'floor' | 'on' = 'off'
    const go = (side: 'off' | 'floor' | 'on'): void => {
      if (current === 'floor') authz(false, FLOOR)
      if (current === 'on') authz(false)
      if (side === 'floor') authz(true, FLOOR)
      if (side === 'on') authz(true)
      current = side
    }
    for (let k = 0; order.some((s) => sides[s].length < runs); k++) {
      const side = order[k % 3]
      go(side)
      for (let i = 0; i < block && sides[side].length < runs; i++) sides[side].push(timeRun())
    }
    go('off')
    report({ name: 'plugin-overhead-docker-run', value: median(sides.on), unit: 'ms', baseline: median(sides.off) })
    report({ name: 'plugin-floor-docker-run', value: median(sides.floor), unit: 'ms', baseline: median(sides.off) })
    report({ name: 'plugin-overhead-vs-floor', value: median(sides.on), unit: 'ms', baseline: median(sides.floor) })
  } finally {
    // the floor goes first, with econumi off (its probe would keep answering for econumi)
    sh('bash', [script, '--disable-authz'])
    sh('bash', [script, '--name', FLOOR, '--remove'])
    if (floorDir !== null) rmSync(floorDir, { recursive: true, force: true })
    if (!existed) sh('bash', [script, '--remove'])
    else authz(wasOn)
    if (stateDir !== null) rmSync(stateDir, { recursive: true, force: true })
    unlock()
  }
}

const bench: Bench = {
  name: 'plugin-overhead',
  description: 'docker run --rm median with the econumi authz plugin vs without (goal ≤ 1.03) and vs an allow-all plugin (the floor of any authz plugin), one plugin round trip p50/p99 vs a bare Node server, and the plugin decision time p50/p99 vs JSON.parse of the same request',
  run: async () => {
    decisionBench()
    await roundTripBench()
    await dockerRunBench(repoRoot())
  }
}

export default bench
