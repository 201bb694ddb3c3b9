// Real node processes for multi-node tests and benchmarks: `econumi start --foreground --json`, one data
// folder each, all on loopback with a DHT bootstrap the caller runs itself. (Lives under bench/ so that it
// is compiled with the benchmarks; test/helpers/node-process.ts re-exports it.)
import { type ChildProcess, spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import DHT from 'hyperdht'

const HERE = dirname(fileURLToPath(import.meta.url))
/** The repository: one level up from bench/ in the sources, two from dist/bench/. */
export const REPO = existsSync(join(HERE, '..', 'package.json')) ? resolve(HERE, '..') : resolve(HERE, '../..')
export const CLI = join(REPO, 'bin', 'econumi.js')

export interface LogEvent { event: string, time?: string, [k: string]: unknown }

/** ECONUMI_BENCH_NODE_FLAGS: extra node flags for child processes, e.g. --cpu-prof to profile them. */
export function nodeFlags (): string[] { return (process.env.ECONUMI_BENCH_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '') }

export class NodeProcess {
  readonly events: LogEvent[] = []
  proc: ChildProcess | null = null
  stderr = ''
  private waiters: Array<() => void> = []
  private readonly listeners: Array<(e: LogEvent) => void> = []
  exited: Promise<number | null> = Promise.resolve(null)

  constructor (readonly dir: string, readonly args: string[], readonly env: Record<string, string> = {}) {}

  get socket (): string { return join(this.dir, 'api.sock') }

  start (): this {
    const proc = spawn(process.execPath, [...nodeFlags(), CLI, 'start', '--foreground', '--json', '--data-dir', this.dir, ...this.args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ECONUMI_HOME: join(this.dir, 'home'), ...this.env } })
    this.proc = proc
    let buf = ''
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1)
        let e: LogEvent
        try { e = JSON.parse(line) } catch { e = { event: 'text', line } }
        this.events.push(e)
        for (const l of this.listeners) l(e)
        for (const w of this.waiters.splice(0)) w()
      }
    })
    proc.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-20_000) })
    this.exited = new Promise((resolve) => proc.on('exit', (code) => { for (const w of this.waiters.splice(0)) w(); resolve(code) }))
    return this
  }

  /** Call `fn` on every log event from now on. */
  on (fn: (e: LogEvent) => void): void { this.listeners.push(fn) }

  async waitFor (pred: (e: LogEvent) => boolean, timeoutMs = 30_000, what = 'event'): Promise<LogEvent> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.events.find(pred)
      if (found !== undefined) return found
      if (this.proc?.exitCode !== null && this.proc?.exitCode !== undefined) throw new Error(`node exited (${this.proc.exitCode}) while waiting for ${what}: ${this.stderr.slice(-2000)}`)
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr: ${this.stderr.slice(-2000)}`)
      await new Promise<void>((resolve) => { this.waiters.push(resolve); setTimeout(resolve, 200) })
    }
  }

  async ready (timeoutMs = 30_000): Promise<LogEvent> { return await this.waitFor((e) => e.event === 'ready', timeoutMs, 'ready') }

  async api<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number, body: T }> {
    return await new Promise((resolve, reject) => {
      // a new connection each time: a kept-alive one the node closes (5 s idle) while we reuse it fails with EPIPE
      const req = request({ socketPath: this.socket, method, path, headers: { 'content-type': 'application/json' }, agent: false }, (res) => {
        let data = ''
        res.on('data', (d) => { data += d })
        res.on('end', () => { try { resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) }) } catch (err) { reject(err) } })
      })
      req.on('error', reject)
      req.setTimeout(20_000, () => req.destroy(new Error(`API ${method} ${path} timed out`)))
      if (body !== undefined) req.write(JSON.stringify(body))
      req.end()
    })
  }

  async status (): Promise<Record<string, any>> { return (await this.api('GET', '/v1/status')).body }

  private killed = false

  kill9 (): void { this.killed = true; this.proc?.kill('SIGKILL') }

  /**
   * SIGTERM, then wait for the process to exit by itself. Throws when it had to be killed after `timeoutMs`,
   * exited non-zero, or forced its own exit (something held it open): a stopped node must be gone.
   */
  async stop (timeoutMs = 10_000): Promise<void> {
    const proc = this.proc
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return
    if (this.killed) { await this.exited; return }
    proc.kill('SIGTERM')
    let killed = false
    const t = setTimeout(() => { killed = true; proc.kill('SIGKILL') }, timeoutMs)
    const code = await this.exited
    clearTimeout(t)
    if (killed) throw new Error(`node ${this.dir} did not exit within ${timeoutMs} ms of SIGTERM (killed); last events: ${JSON.stringify(this.events.slice(-3))}`)
    const forced = this.events.find((e) => e.event === 'exit-forced')
    if (forced !== undefined) throw new Error(`node ${this.dir} forced its exit: ${String(forced.reason)} (holding ${String(forced.holding)})`)
    if (code !== 0) throw new Error(`node ${this.dir} exited with code ${code} after SIGTERM; stderr: ${this.stderr.slice(-1000)}`)
  }
}

/** A UDP port on loopback that was free a moment ago (for ECONUMI_LOCAL_BOOTSTRAP_PORT). */
export async function freeUdpPort (): Promise<number> {
  const s = createSocket('udp4')
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))
  const port = s.address().port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

/** The local addresses ("a.b.c.d:port") of the UDP sockets process `pid` holds, from /proc (IPv4 and IPv6). */
export function udpSocketsOf (pid: number | 'self'): string[] {
  const inodes = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try { const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`)); if (m !== null) inodes.add(m[1]) } catch {}
  }
  const out: string[] = []
  for (const table of ['udp', 'udp6']) {
    let text = ''
    try { text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8') } catch { continue }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10 || !inodes.has(f[9])) continue
      const [hexAddr, hexPort] = f[1].split(':')
      // IPv4 as one little-endian word; IPv6 as four (shown as hex: only "is it loopback" matters here)
      const addr = hexAddr.length === 8 ? (hexAddr.match(/../g) as string[]).reverse().map((b) => parseInt(b, 16)).join('.') : hexAddr
      out.push(`${addr}:${parseInt(hexPort, 16)}`)
    }
  }
  return out
}

export function sleep (ms: number): Promise<void> { return new Promise((resolve) => setTimeout(resolve, ms)) }

export function tempDir (prefix = 'econumi-test-'): string { return mkdtempSync(join(tmpdir(), prefix)) }

/** A genesis file for a local network starting now (or at genesisTime), aligned to an epoch boundary. */
export function writeGenesis (dir: string, o: { epochMs: number, allocations?: Array<{ address: string, amount: string }>, network?: string, genesisTime?: number, tau?: string }): string {
  const now = o.genesisTime ?? Date.now()
  const path = join(dir, 'genesis.json')
  writeFileSync(path, JSON.stringify({ network: o.network ?? 'testnet', genesisTime: String(now - (now % o.epochMs)), epochMs: String(o.epochMs), allocations: o.allocations ?? [], ...(o.tau !== undefined ? { tau: o.tau } : {}) }))
  return path
}

/**
 * A DHT bootstrap node on a free loopback port, owned by the caller. `firstPort` is tried first (the tests use it
 * to take the path of a port already in use), then random ones.
 */
export async function localBootstrap (firstPort?: number): Promise<{ port: number, address: string, close: () => Promise<void> }> {
  for (let attempt = 0; ; attempt++) {
    const port = attempt === 0 && firstPort !== undefined ? firstPort : 30000 + Math.floor(Math.random() * 25000)
    const bs = DHT.bootstrapper(port, '127.0.0.1', { host: '127.0.0.1' }) // announced address, and bound (not 0.0.0.0)
    try {
      await bs.ready()
      return { port, address: `127.0.0.1:${port}`, close: async () => { await bs.destroy() } }
    } catch (err) {
      // the port was taken: release what the failed bootstrapper holds (its network-interface watcher would keep
      // the process alive for good), as node/network.ts tryHostBootstrap does
      bs.io?.networkInterfaces?.destroy?.()
      await bs.destroy({ force: true }).catch(() => {})
      if (attempt > 20) throw err
    }
  }
}

/** Poll `fn` until it returns a value (not undefined/false); the timeout error names the last failure. */
export async function until<T> (fn: () => Promise<T | undefined | false>, timeoutMs: number, what: string, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
    } catch (err) { last = err }
    if (Date.now() > deadline) throw new Error(`timed out: ${what}${last !== undefined ? ` (last error: ${(last as Error).message})` : ''}`)
    await sleep(everyMs)
  }
}
