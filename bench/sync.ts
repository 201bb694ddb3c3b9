// sync: a fresh node downloads and verifies a long chain from a serving node (both real processes on
// loopback, local DHT bootstrap), against raw Hypercore replication of the same core's bytes from the same
// serving process into a fresh Corestore in another process, in the same run. Also holds the process
// helpers that bench/network.ts uses.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import Corestore from 'corestore'
import DHT from 'hyperdht'
import Hyperswarm from 'hyperswarm'
import { FixedComputeUnits } from '../node/compute-units.js'
import { EconumiNode } from '../node/node.js'
import { taggedHash } from '../protocol/hash.js'
import { epochStart, genesisHash, paramsFromJson } from '../protocol/params.js'
import { type Bench, report } from './lib.js'

const HERE = fileURLToPath(new URL('.', import.meta.url))
export const REPO = resolve(HERE, '../..')
const CLI = join(REPO, 'bin', 'econumi.js')
const SELF = fileURLToPath(import.meta.url)

export interface LogEvent { event: string, time?: string, [k: string]: unknown }

/** ECONUMI_BENCH_NODE_FLAGS: extra node flags for the benchmark's child processes, e.g. --cpu-prof to profile them. */
function nodeFlags (): string[] { return (process.env.ECONUMI_BENCH_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '') }

/** An `econumi start --foreground --json` process. */
export class BenchNode {
  readonly events: LogEvent[] = []
  proc: ChildProcess | null = null
  stderr = ''
  private readonly listeners: Array<(e: LogEvent) => void> = []
  constructor (readonly dir: string, readonly args: string[]) {}

  start (): this {
    const proc = spawn(process.execPath, [...nodeFlags(), CLI, 'start', '--foreground', '--json', '--data-dir', this.dir, ...this.args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ECONUMI_HOME: join(this.dir, 'home') } })
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
      }
    })
    proc.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000) })
    return this
  }

  on (fn: (e: LogEvent) => void): void { this.listeners.push(fn) }

  async waitFor (pred: (e: LogEvent) => boolean, timeoutMs: number, what: string): Promise<LogEvent> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.events.find(pred)
      if (found !== undefined) return found
      if (this.proc?.exitCode !== null) throw new Error(`node exited while waiting for ${what}: ${this.stderr}`)
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${this.stderr}`)
      await sleep(50)
    }
  }

  async api<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number, body: T }> {
    return await new Promise((resolve, reject) => {
      const req = request({ socketPath: join(this.dir, 'api.sock'), method, path, headers: { 'content-type': 'application/json' } }, (res) => {
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

  async stop (): Promise<void> {
    const p = this.proc
    if (p === null || p.exitCode !== null) return
    const exited = new Promise((resolve) => p.once('exit', resolve))
    p.kill('SIGTERM')
    const t = setTimeout(() => p.kill('SIGKILL'), 15_000)
    await exited
    clearTimeout(t)
  }
}

export function sleep (ms: number): Promise<void> { return new Promise((resolve) => setTimeout(resolve, ms)) }
export function tempDir (prefix: string): string { return mkdtempSync(join(tmpdir(), prefix)) }

export function writeGenesis (dir: string, o: { epochMs: number, genesisTime?: number, allocations?: Array<{ address: string, amount: string }> }): string {
  const now = o.genesisTime ?? Date.now()
  const path = join(dir, 'genesis.json')
  writeFileSync(path, JSON.stringify({ network: 'benchnet', genesisTime: String(now - (now % o.epochMs)), epochMs: String(o.epochMs), allocations: o.allocations ?? [] }))
  return path
}

export async function localBootstrap (): Promise<{ port: number, address: string, close: () => Promise<void> }> {
  for (let attempt = 0; ; attempt++) {
    const port = 30000 + Math.floor(Math.random() * 25000)
    try {
      const bs = DHT.bootstrapper(port, '127.0.0.1')
      await bs.ready()
      return { port, address: `127.0.0.1:${port}`, close: async () => { await bs.destroy() } }
    } catch (err) {
      if (attempt > 20) throw err
    }
  }
}

export async function until<T> (fn: () => Promise<T | undefined | false>, timeoutMs: number, what: string, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
    } catch {}
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await sleep(everyMs)
  }
}

/** A long chain built in-process with a fake clock walking through past epochs. */
async function buildChain (dataDir: string, genesisFile: string, blocks: number): Promise<{ tipHash: string, coreKey: string }> {
  const params = paramsFromJson(JSON.parse(readFileSync(genesisFile, 'utf8')))
  let epoch = 1n
  const node = await EconumiNode.open({ dataDir, params, computeUnits: new FixedComputeUnits(10n), now: () => Number(epochStart(params, epoch)) + 1 })
  try {
    for (let i = 0; i < blocks; i++, epoch++) {
      if ((await node.produce(epoch)) === null) throw new Error(`no block at epoch ${epoch}`)
    }
    return { tipHash: Buffer.from(node.ledger.tip!.hash).toString('hex'), coreKey: node.store.ownKey }
  } finally {
    await node.close()
  }
}

/**
 * Child role: replicate one core by key from whoever serves it on the topic into a fresh Corestore.
 * Prints one JSON line: milliseconds from the first connection to holding every block, and the total.
 */
async function rawReplicaChild (): Promise<void> {
  const { port, topic, key, length, dir } = JSON.parse(process.env.ECONUMI_BENCH_RAW!) as { port: number, topic: string, key: string, length: number, dir: string }
  const t0 = performance.now()
  const store = new Corestore(dir)
  const core = store.get({ key: Buffer.from(key, 'hex') })
  await core.ready()
  const swarm = new Hyperswarm({ dht: new DHT({ bootstrap: [{ host: '127.0.0.1', port }], host: '127.0.0.1', firewalled: false }) })
  let connectedAt = -1
  swarm.on('connection', (conn: any) => {
    conn.on('error', () => {})
    if (connectedAt < 0) connectedAt = performance.now()
    store.replicate(conn)
  })
  swarm.join(Buffer.from(topic, 'hex'), { server: false, client: true })
  core.download({ start: 0, end: length })
  while (core.contiguousLength < length) {
    await new Promise((resolve) => { core.once('download', resolve); setTimeout(resolve, 200) })
  }
  const done = performance.now()
  process.stdout.write(JSON.stringify({ ms: done - connectedAt, totalMs: done - t0, length: core.contiguousLength }) + '\n')
  await swarm.destroy()
  await store.close()
}

async function rawReplicate (o: { port: number, topic: string, key: string, length: number, dir: string }): Promise<{ ms: number, totalMs: number }> {
  const child = spawn(process.execPath, [...nodeFlags(), SELF], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ECONUMI_BENCH_RAW: JSON.stringify(o) } })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise((resolve) => child.on('exit', resolve))
  if (code !== 0) throw new Error(`raw replica exited with ${String(code)}: ${out}`)
  return JSON.parse(out.trim().split('\n').pop()!)
}

async function run (): Promise<void> {
  const blocks = Number(process.env.ECONUMI_BENCH_SYNC_BLOCKS ?? 10_000)
  const dir = tempDir('econumi-bench-sync-')
  const nodes: BenchNode[] = []
  const bs = await localBootstrap()
  try {
    const genesis = writeGenesis(dir, { epochMs: 1000, genesisTime: Date.now() - (blocks + 100) * 1000 })
    let t0 = performance.now()
    const { tipHash, coreKey } = await buildChain(join(dir, 'server'), genesis, blocks)
    process.stdout.write(`built ${blocks} blocks in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
    // process A: the serving node (no compute units: it only serves)
    const server = new BenchNode(join(dir, 'server'), ['--genesis', genesis, '--bootstrap', bs.address]).start()
    nodes.push(server)
    await server.waitFor((e) => e.event === 'ready', 60_000, 'server ready')
    const st = await server.status()
    if (st.tipHash !== tipHash) throw new Error('server does not hold the built chain')
    const target = Number(st.height)

    // (a) raw: the same core's bytes from process A into a fresh Corestore in process B
    const g = genesisHash(paramsFromJson(JSON.parse(readFileSync(genesis, 'utf8'))))
    const topicHex = Buffer.from(taggedHash('swarm-topic', g)).toString('hex')
    const raw = await rawReplicate({ port: bs.port, topic: topicHex, key: coreKey, length: blocks, dir: join(dir, 'raw') })
    const rawRate = blocks / (raw.ms / 1000)
    process.stdout.write(`raw replication: ${blocks} blocks in ${(raw.ms / 1000).toFixed(2)} s after connecting (${(raw.totalMs / 1000).toFixed(2)} s with startup)\n`)

    // (b) a fresh econumi node syncing (download + full verification + ledger) from process A
    const fresh = new BenchNode(join(dir, 'fresh'), ['--genesis', genesis, '--bootstrap', bs.address])
    nodes.push(fresh)
    t0 = performance.now()
    fresh.start()
    let joinedAt = -1
    fresh.on((e) => { if (e.event === 'peer-joined' && joinedAt < 0) joinedAt = performance.now() })
    await fresh.waitFor((e) => e.event === 'ready', 60_000, 'fresh ready')
    await until(async () => Number((await fresh.status()).height) >= target, 600_000, 'fresh node at target', 50)
    const done = performance.now()
    const syncMs = done - (joinedAt < 0 ? t0 : joinedAt)
    const fst = await fresh.status()
    if (fst.tipHash !== tipHash) throw new Error('fresh node ended on another tip')
    const syncRate = blocks / (syncMs / 1000)
    process.stdout.write(`econumi sync: ${blocks} blocks in ${(syncMs / 1000).toFixed(2)} s after the peer joined (${((done - t0) / 1000).toFixed(2)} s with startup)\n`)

    report({ name: 'sync-raw-replication', value: rawRate, unit: 'blocks/s', baseline: rawRate })
    report({ name: 'sync', value: syncRate, unit: 'blocks/s', baseline: rawRate })
  } finally {
    for (const n of nodes) await n.stop()
    await bs.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.env.ECONUMI_BENCH_RAW !== undefined && process.argv[1] === SELF) {
  rawReplicaChild().catch((err) => { process.stderr.write(`raw replica failed: ${(err as Error).stack ?? String(err)}\n`); process.exit(1) })
}

const bench: Bench = { name: 'sync', description: 'fresh node syncing a 10,000-block chain vs raw Hypercore replication of the same bytes (blocks/s)', run }
export default bench
