// peer-flood: one node process's block production and memory while one raw peer floods it at the rate its socket
// takes, against the same setup unflooded, measured in the same run (issue 14). Each run starts fresh (new data
// folders, new genesis, empty ledger): the same starting state, so the flooded RSS is not the baseline's heap plus
// the flood's. Each run has two node processes on loopback with their own DHT bootstrap: the producer (measured)
// and an honest follower that relays to it what it hears (the flooder's valid transactions too).
//
// The flooder, concurrently on its econumi/2 channel to the producer, as fast as the socket drains:
// - core announcements: first its 16 orphan cores (real Hypercores, the per-peer quota of unproven cores), then
//   random 32-byte keys, 64 a frame (random keys: the node cannot tell them from real ones until it replicates);
// - orphans: validly signed blocks (real VRF claim, signature) on random parents, 64 in its own core (then its claims
//   on the head: blocks after a deferred orphan would never be read) and 256 in
//   each of 16 announced cores (more than the per-core and the global orphan bound);
// - claims on the head: validly signed blocks on the producer's head, for the current epoch, whose VRF claim is on
//   a random beacon (claims travel only inside blocks, protocol/wire.ts); the only junk a node can prove, so the
//   only one it should charge: one every CLAIM_EVERY_MS, and when the node bans the flooder it comes back with a
//   fresh key (keys are free), so the uncharged floods keep going for the whole window;
// - transactions: min-fee, valid signatures, from many funded senders (nonce by nonce) and from one sender (past
//   its pending limit), cycled for the whole window (repeats and nonce gaps included); the many senders' go to the
//   follower too, so the producer also gets them relayed by an honest peer (races: never its fault).
import { randomBytes } from 'node:crypto'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { addressBytesFromPublicKey, addressFromPublicKey } from '../protocol/address.js'
import { COIN } from '../protocol/amount.js'
import { buildBlock, encodeBlock } from '../protocol/block.js'
import { makeClaim } from '../protocol/claim.js'
import { lotteryTicket } from '../protocol/lottery.js'
import { vrfProofToHash } from '../protocol/vrf.js'
import { isEligible } from '../protocol/weights.js'
import { taggedHash } from '../protocol/hash.js'
import { Signer } from '../protocol/keys.js'
import { type NetworkParams, epochStart, genesisHash, paramsFromJson } from '../protocol/params.js'
import { encodeTransaction, signTransaction } from '../protocol/transaction.js'
import { MAX_CORES_PER_MESSAGE, MSG_CORES, MSG_HELLO, MSG_TX, encodeMessage } from '../protocol/wire.js'
import { type Bench, percentile, report, round } from './lib.js'
import { type LogEvent, NodeProcess, localBootstrap, sleep, tempDir, until, writeGenesis } from './node-process.js'
import { type RawChannel, type RawPeer, rawPeer } from './raw-peer.js'

const EPOCH_MS = 1000
/** ECONUMI_BENCH_FLOOD_MS: the measured window of each run. */
const WINDOW_MS = Number(process.env.ECONUMI_BENCH_FLOOD_MS ?? 30_000)
const CLAIM_EVERY_MS = 4000
const MANY_SENDERS = 200
const NONCES_PER_SENDER = 50
const ONE_SENDER_TXS = 3000
const ORPHAN_CORES = 16
const ORPHANS_PER_CORE = 256
const ORPHANS_OWN_CORE = 64
const RSS_EVERY_MS = 200
/** ECONUMI_BENCH_FLOOD_KINDS: which floods run (comma-separated; default all), to tell their costs apart. */
const KINDS = new Set((process.env.ECONUMI_BENCH_FLOOD_KINDS ?? 'cores,orphans,claims,txs').split(','))

interface Counts { hello: number, coreFrames: number, coreKeys: number, orphans: number, claims: number, txMany: number, txOne: number, txViaFollower: number, identities: number }
/** What the producer did to a peer: penalties and bans, and frames it dropped at its in-flight bound (not a charge). */
interface Charge { penalties: number, points: number, bans: number, reasons: Record<string, number>, dropped: number, unsent: number }
interface RunResult {
  epochs: number
  blocks: number
  lateness: number[]
  txsInBlocks: number
  rssMax: number
  rssMedian: number
  counts: Counts | null
  flooder: Charge
  honest: Charge
  crashed: string | null
  /** Epochs the producer skipped in the window, by the reason it logged. */
  skipped: Record<string, number>
  /**
   * Epochs of the window with neither an own block out before the epoch ended nor a "not-leader" line: the ones the
   * producer may have led and did not deliver (skipped, failed, or no outcome at all). Unlike the block count, this
   * does not move with the lottery: each epoch the producer leads with probability 1 - e^-τ.
   */
  missed: number
  /** For each missed epoch, what the producer logged about it (a block too late, a skip, a failure). */
  missedWhy: Array<{ epoch: string, events: LogEvent[] }>
  /** CPU seconds used in the window: the producer, the follower, this process (the flooder). */
  cpu: { producer: number, follower: number, flooder: number }
  debug: LogEvent[]
}

const mb = (kb: number): number => kb / 1024

/** CPU seconds (user + system, all threads) a process has used so far. */
function cpuSeconds (pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(f[11]) + Number(f[12])) / 100 // utime, stime in clock ticks (USER_HZ = 100)
}

function rssKb (pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1])
}

/** The flood's pre-signed material (made before the window: the flooder's CPU then goes to sending). */
interface FloodKit {
  txMany: Buffer[]
  txOne: Buffer[]
  orphanSigner: Signer
  orphanClaim: ReturnType<typeof makeClaim>
}

function senderSigner (i: number): Signer { return new Signer(taggedHash('peer-flood-sender', Buffer.from(String(i)))) }

function allocations (): Array<{ address: string, amount: string }> {
  const out = []
  for (let i = 0; i <= MANY_SENDERS; i++) out.push({ address: addressFromPublicKey(senderSigner(i).publicKey), amount: String(1000n * COIN) })
  return out
}

function makeKit (params: NetworkParams, g: Uint8Array): FloodKit {
  const sink = addressBytesFromPublicKey(new Signer(taggedHash('peer-flood-sink', new Uint8Array(0))).publicKey)
  const frame = (s: Signer, nonce: bigint): Buffer => Buffer.from(encodeMessage({ type: MSG_TX, tx: encodeTransaction(signTransaction({ from: s.publicKey, to: sink, amount: 1000n, fee: params.minFee, nonce }, s, g)) }))
  const many = Array.from({ length: MANY_SENDERS }, (_, i) => senderSigner(i + 1))
  const txMany: Buffer[] = []
  for (let n = 0; n < NONCES_PER_SENDER; n++) for (const s of many) txMany.push(frame(s, BigInt(n)))
  const one = senderSigner(0)
  const txOne = Array.from({ length: ONE_SENDER_TXS }, (_, n) => frame(one, BigInt(n)))
  const orphanSigner = new Signer(taggedHash('peer-flood-orphans', new Uint8Array(0)))
  // epoch 1 has begun by the time they arrive; their parents never exist, so their claim is never judged against a
  // beacon, but it must pass the stateless check (eligible for the weights the blocks state, 1 of 1): a claim
  // that fails it makes every orphan a provably bad block, charged, and the flood a different one from run to run
  let orphanClaim = makeClaim(orphanSigner, randomBytes(32), 1n)
  const eligible = { weight: 1n, total: 1n, bootstrap: false }
  while (!isEligible(lotteryTicket(vrfProofToHash(orphanClaim.proof)), eligible, params.tauMilli)) orphanClaim = makeClaim(orphanSigner, randomBytes(32), 1n)
  return { txMany, txOne, orphanSigner, orphanClaim }
}

function orphanBlocks (kit: FloodKit, params: NetworkParams, g: Uint8Array, n: number): Buffer[] {
  const miner = addressBytesFromPublicKey(kit.orphanSigner.publicKey)
  return Array.from({ length: n }, (_, i) => Buffer.from(encodeBlock(buildBlock({
    height: 20n + BigInt(i), prevHash: randomBytes(32), epoch: 1n, time: epochStart(params, 1n) + 10n, winner: kit.orphanClaim,
    weight: 1n, totalWeight: 1n, reports: [], ops: [], miner, coinbase: 0n, txs: []
  }, kit.orphanSigner, g))))
}

/** The flooder: one peer at a time, a fresh key after each ban, until stop(). */
class Flooder {
  readonly counts: Counts = { hello: 0, coreFrames: 0, coreKeys: 0, orphans: 0, claims: 0, txMany: 0, txOne: 0, txViaFollower: 0, identities: 0 }
  readonly ids: string[] = []
  private stopped = false
  private stopSignal!: () => void
  private readonly stopping = new Promise<void>((resolve) => { this.stopSignal = resolve })
  private current: RawPeer | null = null
  private loop: Promise<void> = Promise.resolve()

  constructor (
    private readonly o: { port: number, topic: Buffer, dir: string, params: NetworkParams, g: Uint8Array, kit: FloodKit, producerKey: string, followerKey: string, producer: NodeProcess }
  ) {}

  start (): void { this.loop = this.run() }

  async stop (): Promise<void> {
    this.stopped = true
    this.stopSignal()
    await this.loop
    await this.current?.close()
  }

  private async run (): Promise<void> {
    for (let id = 0; !this.stopped; id++) {
      const seed = taggedHash('peer-flood-flooder', Buffer.from(String(id)))
      const peer = rawPeer(this.o.port, this.o.topic, join(this.o.dir, `flooder-${id}`), { seed: Buffer.from(seed) })
      this.current = peer
      try { await this.identity(peer, new Signer(seed)) } finally { await peer.close(); this.current = null }
    }
  }

  /** One identity's flood: until the producer drops it (a ban) or the window ends. */
  private async identity (peer: RawPeer, signer: Signer): Promise<void> {
    const { params, g, kit } = this.o
    const own = peer.store.get({ name: 'blocks' })
    const records = peer.store.get({ name: 'attestations' })
    await own.ready(); await records.ready()
    if (KINDS.has('orphans')) await own.append(orphanBlocks(kit, params, g, ORPHANS_OWN_CORE))
    const cores: any[] = []
    for (let i = 0; i < (KINDS.has('orphans') ? ORPHAN_CORES : 0); i++) {
      const core = peer.store.get({ name: `orphans-${i}` })
      await core.ready()
      await core.append(orphanBlocks(kit, params, g, ORPHANS_PER_CORE))
      cores.push(core)
    }
    const find = (key: string): RawChannel | undefined => peer.open.find((ch) => ch.remote.toString('hex') === key && !ch.closed)
    let producer: RawChannel | undefined
    for (const deadline = Date.now() + 60_000; (producer = find(this.o.producerKey)) === undefined;) {
      if (this.stopped) return
      if (Date.now() > deadline) throw new Error('the flooder did not reach the producer within 60 s')
      await sleep(50)
    }
    this.counts.identities++
    this.ids.push(peer.key.toString('hex').slice(0, 16))
    if (KINDS.has('orphans')) this.counts.orphans += ORPHANS_OWN_CORE + ORPHAN_CORES * ORPHANS_PER_CORE
    producer.send(encodeMessage({ type: MSG_HELLO, hello: { genesis: g, blocksCore: own.key, recordsCore: records.key, tip: null } }))
    this.counts.hello++
    if (cores.length > 0) {
      producer.send(encodeMessage({ type: MSG_CORES, cores: cores.map((c) => c.key) }))
      this.counts.coreFrames++
      this.counts.coreKeys += cores.length
    }
    let done = false
    const over = Promise.race([producer.gone, this.stopping]).then(() => { done = true })
    const pump = async (ch: RawChannel, next: () => Buffer, count: () => void): Promise<void> => {
      for (let i = 1; !done && !ch.closed; i++) {
        if (!ch.send(next())) await Promise.race([ch.drained(), over])
        count()
        if (i % 64 === 0) await new Promise((resolve) => setImmediate(resolve)) // the other streams' turn
      }
    }
    let m = 0; let o = 0; let f = 0
    const pumps: Array<Promise<void>> = []
    if (KINDS.has('cores')) pumps.push(pump(producer, () => Buffer.from(encodeMessage({ type: MSG_CORES, cores: Array.from({ length: MAX_CORES_PER_MESSAGE }, () => randomBytes(32)) })), () => { this.counts.coreFrames++; this.counts.coreKeys += MAX_CORES_PER_MESSAGE }))
    if (KINDS.has('txs')) {
      pumps.push(pump(producer, () => kit.txMany[m++ % kit.txMany.length], () => this.counts.txMany++))
      pumps.push(pump(producer, () => kit.txOne[o++ % kit.txOne.length], () => this.counts.txOne++))
    }
    if (KINDS.has('claims')) pumps.push(this.claims(own, signer, () => done, over))
    // the honest follower gets the many senders' transactions too, and relays them to the producer
    const follower = find(this.o.followerKey)
    if (follower !== undefined && KINDS.has('txs')) pumps.push(pump(follower, () => kit.txMany[f++ % kit.txMany.length], () => this.counts.txViaFollower++))
    await over
    await Promise.all(pumps)
  }

  /** Claims on the head: a block on the producer's head, this epoch, its VRF claim on a random beacon. */
  private async claims (own: any, signer: Signer, done: () => boolean, over: Promise<void>): Promise<void> {
    const { params, g } = this.o
    const miner = addressBytesFromPublicKey(signer.publicKey)
    while (!done()) {
      const s = await this.o.producer.status().catch(() => null)
      if (s === null || s.tipHash === null || done()) break
      const epoch = BigInt(s.epoch as string)
      const now = BigInt(Date.now())
      const start = epochStart(params, epoch)
      const time = now < start ? start : now >= start + params.epochMs ? start + params.epochMs - 1n : now
      const block = buildBlock({
        height: BigInt(s.height as string) + 1n, prevHash: Buffer.from(s.tipHash as string, 'hex'), epoch, time, winner: makeClaim(signer, randomBytes(32), epoch),
        weight: 1n, totalWeight: 1n, reports: [], ops: [], miner, coinbase: 0n, txs: []
      }, signer, g)
      await own.append(Buffer.from(encodeBlock(block)))
      this.counts.claims++
      await Promise.race([sleep(CLAIM_EVERY_MS), over])
    }
  }
}

const ms = (e: LogEvent): number => Date.parse(e.time as string)

function charge (events: LogEvent[], ids: (peer: string) => boolean, from: number, to: number): Charge {
  const c: Charge = { penalties: 0, points: 0, bans: 0, reasons: {}, dropped: 0, unsent: 0 }
  for (const e of events) {
    if (typeof e.peer !== 'string' || !ids(e.peer) || ms(e) < from || ms(e) > to) continue
    if (e.event === 'peer-penalized') { c.penalties++; c.points += Number(e.points); c.reasons[String(e.reason)] = (c.reasons[String(e.reason)] ?? 0) + 1 }
    if (e.event === 'peer-banned') c.bans++
    if (e.event === 'peer-throttled') c.dropped += Number(e.dropped)
    if (e.event === 'peer-send-throttled') c.unsent += Number(e.dropped)
  }
  return c
}

/** True while a process with this pid exists (signal 0 only asks). */
function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

async function measure (flood: boolean): Promise<RunResult> {
  const dir = tempDir(`econumi-bench-flood-${flood ? 'on' : 'off'}-`)
  const bs = await localBootstrap()
  const nodes: NodeProcess[] = []
  let flooder: Flooder | null = null
  try {
    const genesisFile = writeGenesis(dir, { network: 'benchnet', epochMs: EPOCH_MS, allocations: allocations() })
    const params = paramsFromJson(JSON.parse(readFileSync(genesisFile, 'utf8')))
    const g = genesisHash(params)
    const debug = process.env.ECONUMI_BENCH_FLOOD_DEBUG !== undefined
    const httpPort = 20_000 + Math.floor(Math.random() * 20_000)
    const producer = new NodeProcess(join(dir, 'producer'), ['--genesis', genesisFile, '--bootstrap', bs.address, '--dev-compute-units', '10', ...(debug ? ['--http-port', String(httpPort)] : [])]).start()
    const follower = new NodeProcess(join(dir, 'follower'), ['--genesis', genesisFile, '--bootstrap', bs.address]).start()
    nodes.push(producer, follower)
    await Promise.all(nodes.map(async (n) => await n.ready(60_000)))
    await producer.waitFor((e) => e.event === 'block', 30_000, 'first block')
    await until(async () => (await follower.status()).tipHash === (await producer.status()).tipHash && (await producer.status()).peers >= 1, 30_000, 'the follower holds the producer\'s head')
    const producerKey = (await producer.status()).nodeId as string
    const followerKey = (await follower.status()).nodeId as string
    if (flood) {
      const kit = makeKit(params, g)
      flooder = new Flooder({ port: bs.port, topic: Buffer.from(taggedHash('swarm-topic', g)), dir, params, g, kit, producerKey, followerKey, producer })
      flooder.start()
      await until(async () => flooder!.counts.hello > 0, 60_000, 'the flooder is connected')
    }
    const pid = producer.proc!.pid!
    const fpid = follower.proc!.pid!
    const cpu0 = { producer: cpuSeconds(pid), follower: cpuSeconds(fpid), flooder: process.cpuUsage() }
    const t0 = Date.now()
    const rss: number[] = []
    let crashed: string | null = null
    // ECONUMI_BENCH_FLOOD_HEAP=<s>: signal the producer <s> seconds into the flooded window (default half of it), for a
    // heap snapshot when it runs with --heapsnapshot-signal=SIGUSR2 (ECONUMI_BENCH_NODE_FLAGS)
    const heapAt = process.env.ECONUMI_BENCH_FLOOD_HEAP
    let snapshot = flood && heapAt !== undefined
    while (Date.now() < t0 + WINDOW_MS) {
      if (snapshot && Date.now() > t0 + (Number(heapAt) > 0 ? Number(heapAt) * 1000 : WINDOW_MS / 2)) { snapshot = false; producer.proc!.kill('SIGUSR2') }
      if (producer.proc?.exitCode !== null || producer.proc?.signalCode !== null) { crashed = `producer exited (${String(producer.proc?.exitCode ?? producer.proc?.signalCode)}): ${producer.stderr.slice(-500)}`; break }
      try { rss.push(rssKb(pid)) } catch { crashed = 'producer gone'; break }
      if (debug && rss.length % 10 === 0) {
        const text = await fetch(`http://127.0.0.1:${httpPort}/metrics`).then(async (r) => await r.text()).catch(() => '')
        const pick = text.split('\n').filter((l) => /^(nodejs_heap_size_(total|used)_bytes|nodejs_heap_space_size_total_bytes\{space="(new|old|code|large_object)"\}|nodejs_external_memory_bytes|process_resident_memory_bytes|nodejs_eventloop_lag_p99_seconds|econumi_mempool\w*|nodejs_active_handles_total) /.test(l))
        const st = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').filter((l) => /^(RssAnon|RssFile|Threads)/.test(l)).map((l) => l.replace(/\s+/g, ' ')).join(' ')
        process.stdout.write(`  +${((Date.now() - t0) / 1000).toFixed(1)} s rss ${mb(rss[rss.length - 1]).toFixed(0)} MB ${st} ${pick.map((l) => { const [k, v] = l.split(' '); return `${k}=${/bytes/.test(k) ? (Number(v) / 2 ** 20).toFixed(0) + 'M' : v}` }).join(' ')}\n`)
      }
      await sleep(RSS_EVERY_MS)
    }
    const t1 = Date.now()
    const used = process.cpuUsage(cpu0.flooder)
    const cpu = crashed !== null ? { producer: 0, follower: 0, flooder: 0 } : { producer: cpuSeconds(pid) - cpu0.producer, follower: cpuSeconds(fpid) - cpu0.follower, flooder: (used.user + used.system) / 1e6 }
    await flooder?.stop()
    const counts = flooder?.counts ?? null
    const ids = new Set(flooder?.ids ?? [])
    flooder = null
    // the epochs that began in the window, and the producer's own blocks for them
    const first = (BigInt(t0) - params.genesisTime + params.epochMs - 1n) / params.epochMs
    const last = (BigInt(t1) - params.genesisTime) / params.epochMs - 1n // the last whole epoch
    const blocks = producer.events.filter((e) => e.event === 'block' && e.preempted === undefined && BigInt(String(e.epoch)) >= first && BigInt(String(e.epoch)) <= last)
    const lateness = blocks.map((e) => ms(e) - Number(epochStart(params, BigInt(String(e.epoch))))).sort((a, b) => a - b)
    const delivered = new Set(blocks.filter((e) => ms(e) - Number(epochStart(params, BigInt(String(e.epoch)))) < EPOCH_MS).map((e) => String(e.epoch)))
    const lost = new Set(producer.events.filter((e) => e.event === 'not-leader').map((e) => String(e.epoch)))
    const missedWhy: RunResult['missedWhy'] = []
    for (let e = first; e <= last; e++) {
      if (delivered.has(String(e)) || lost.has(String(e))) continue
      const about = producer.events.filter((x) => String(x.epoch) === String(e) && !['tx', 'peer-penalized', 'peer-throttled'].includes(x.event))
      missedWhy.push({ epoch: String(e), events: about.slice(0, 8).map((x) => x.event === 'block' ? { ...x, late: ms(x) - Number(epochStart(params, e)) } : x) })
    }
    const missed = missedWhy.length
    rss.sort((a, b) => a - b)
    return {
      epochs: Number(last - first + 1n),
      blocks: blocks.length,
      lateness,
      txsInBlocks: blocks.reduce((n, e) => n + Number(e.txs), 0),
      rssMax: rss.length === 0 ? 0 : mb(rss[rss.length - 1]),
      rssMedian: mb(percentile(rss, 50)),
      counts,
      flooder: charge(producer.events, (p) => ids.has(p), t0 - 60_000, t1 + 5000),
      honest: charge(producer.events, (p) => p === followerKey.slice(0, 16), 0, Infinity),
      crashed,
      skipped: producer.events.filter((e) => e.event === 'produce-skipped' && BigInt(String(e.epoch)) >= first && BigInt(String(e.epoch)) <= last).reduce<Record<string, number>>((m, e) => { m[String(e.reason)] = (m[String(e.reason)] ?? 0) + 1; return m }, {}),
      missed,
      missedWhy,
      cpu,
      debug: [
        ...blocks.map((e) => ({ event: 'block', epoch: e.epoch, late: ms(e) - Number(epochStart(params, BigInt(String(e.epoch)))), txs: e.txs })),
        // a skipped epoch with what the producer logged in the 2 s before it (what made it "behind")
        ...producer.events.filter((e) => e.event === 'produce-skipped' && ms(e) >= t0 && ms(e) <= t1).flatMap((s) => [s, ...producer.events.filter((e) => ms(e) >= ms(s) - 2000 && ms(e) < ms(s) && !['tx', 'peer-penalty'].includes(String(e.event))).slice(-40)])
      ]
    }
  } finally {
    await flooder?.stop().catch(() => {})
    const stops = await Promise.allSettled(nodes.map(async (n) => await n.stop()))
    for (const n of nodes) if (n.proc?.pid !== undefined && alive(n.proc.pid)) n.kill9()
    await Promise.all(nodes.map(async (n) => await n.exited))
    await bs.close()
    rmSync(dir, { recursive: true, force: true })
    const left = nodes.filter((n) => n.proc?.pid !== undefined && alive(n.proc.pid))
    if (left.length > 0) throw new Error(`node processes still running after the run: ${left.map((n) => n.proc!.pid).join(', ')}`)
    const failed = stops.find((s) => s.status === 'rejected')
    if (failed !== undefined && failed.status === 'rejected') throw failed.reason as Error
  }
}

function describe (label: string, r: RunResult): void {
  if (process.env.ECONUMI_BENCH_FLOOD_DEBUG !== undefined) for (const e of r.debug) process.stdout.write(`  ${JSON.stringify(e)}\n`)
  const l = r.lateness
  const skipped = Object.entries(r.skipped).map(([k, v]) => `${v} skipped: ${k}`).join(', ')
  const onTime = l.filter((x) => x < EPOCH_MS).length
  process.stdout.write(`${label}: ${r.blocks} blocks in ${r.epochs} epochs, ${onTime} out before their epoch ended, ${r.missed} missed (neither a block in time nor "not leader") (${r.txsInBlocks} transactions${skipped === '' ? '' : `; ${skipped}`}); lateness after the epoch start p50 ${percentile(l, 50)} ms, p99 ${percentile(l, 99)} ms, max ${l.length === 0 ? 0 : l[l.length - 1]} ms; RSS max ${round(r.rssMax, 1)} MB, median ${round(r.rssMedian, 1)} MB; CPU s in the window: producer ${round(r.cpu.producer, 1)}, follower ${round(r.cpu.follower, 1)}, bench/flooder ${round(r.cpu.flooder, 1)}${r.crashed !== null ? `; CRASHED: ${r.crashed}` : ''}\n`)
  for (const m of r.missedWhy) process.stdout.write(`  missed epoch ${m.epoch}: ${m.events.length === 0 ? 'nothing logged about it' : m.events.map((e) => JSON.stringify(e)).join(' ')}\n`)
}

const fmtCharge = (c: Charge): string => `${c.penalties} penalties (${c.points} points${Object.keys(c.reasons).length > 0 ? `: ${Object.entries(c.reasons).map(([k, v]) => `${k}×${v}`).join(', ')}` : ''}), ${c.bans} bans, ${c.dropped} frames dropped at the in-flight bound, ${c.unsent} not sent to it at the send-queue bound`

async function run (): Promise<void> {
  const base = await measure(false)
  describe(`unflooded, ${WINDOW_MS / 1000} s`, base)
  const flood = await measure(true)
  describe(`flooded, ${WINDOW_MS / 1000} s`, flood)
  const c = flood.counts!
  const secs = WINDOW_MS / 1000
  process.stdout.write(`flood sent (window + the last connect): ${c.identities} flooder keys, ${c.hello} hellos, ${c.coreFrames} core frames (${c.coreKeys} keys, ${round(c.coreKeys / secs, 0)}/s), ${c.orphans} orphan blocks in cores, ${c.claims} claims on the head, ${c.txMany} many-sender txs (${round(c.txMany / secs, 0)}/s), ${c.txOne} one-sender txs (${round(c.txOne / secs, 0)}/s), ${c.txViaFollower} txs to the follower\n`)
  process.stdout.write(`producer charged the flooder: ${fmtCharge(flood.flooder)}; the honest follower: ${fmtCharge(flood.honest)} (unflooded run: ${fmtCharge(base.honest)})\n`)
  const goals = [
    flood.crashed === null ? null : 'the producer crashed',
    flood.rssMax <= 1.5 * base.rssMax ? null : `RSS ${round(flood.rssMax / base.rssMax, 2)}× the unflooded (goal ≤ 1.5×)`,
    flood.missed <= base.missed + 1 ? null : `${flood.missed} epochs missed flooded vs ${base.missed} unflooded`,
    flood.honest.penalties + flood.honest.bans + base.honest.penalties === 0 ? null : 'the honest follower was charged',
    flood.flooder.penalties > 0 ? null : 'the flooder was never charged'
  ].filter((x) => x !== null)
  process.stdout.write(goals.length === 0 ? 'goals met: production on time, RSS within 1.5×, flooder charged, honest peer never\n' : `GOALS MISSED: ${goals.join('; ')}\n`)
  report({ name: 'peer-flood-rss', value: flood.rssMax, unit: 'MB max RSS of the producer, flooded (baseline: unflooded; ratio = flooded/unflooded, goal ≤ 1.5)', baseline: base.rssMax })
  report({ name: 'peer-flood-latency', value: percentile(flood.lateness, 99), unit: 'ms p99 block lateness after its epoch start, flooded (baseline: unflooded; ratio = flooded/unflooded, lower is better)', baseline: percentile(base.lateness, 99) })
  report({ name: 'peer-flood-on-time', value: 1 - flood.missed / Math.max(1, flood.epochs), unit: 'share of epochs with a block in time or a lost lottery ("not-leader"), flooded (baseline: unflooded; ratio = flooded/unflooded, goal ≈ 1)', baseline: 1 - base.missed / Math.max(1, base.epochs) })
}

const bench: Bench = {
  name: 'peer-flood',
  description: `a producer's block lateness and RSS while one peer floods cores, claims, orphans and transactions for ${WINDOW_MS / 1000} s, vs unflooded (epoch ${EPOCH_MS} ms)`,
  run
}

export default bench
