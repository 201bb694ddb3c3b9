// The node: chain store, ledger, block tree, mempool, epoch clock, block production and the peer
// network. Every change to the chain runs one at a time under `chainLock`.
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { mkdirSync, rmSync } from 'node:fs'
import { decodeAddress } from '../protocol/address.js'
import { type Block, MAX_BLOCK_CLAIMS, blockHash, buildBlock, decodeBlock, encodeBlock } from '../protocol/block.js'
import { type Claim, type ScoredClaim, compareClaims, makeClaim, scoreClaim } from '../protocol/claim.js'
import { equalBytes, toHex } from '../protocol/encoding.js'
import { EconumiError, fail, isEconumiError } from '../protocol/errors.js'
import { type NetworkParams, epochStart, genesisHash } from '../protocol/params.js'
import { blockReward } from '../protocol/reward.js'
import { type BlockEffects, type ChainTip, type VerifiedBlock, applyBlock, touchedAddresses } from '../protocol/state.js'
import { encodeTransaction, senderAddress, type Transaction } from '../protocol/transaction.js'
import { MAX_CORES_PER_MESSAGE, MAX_IMAGES_PER_MESSAGE, MSG_CLAIM, MSG_CORES, MSG_HELLO, MSG_IMAGES, MSG_TIP, MSG_TX, type TipAnnouncement, type WireMessage } from '../protocol/wire.js'
import { Chain } from './chain.js'
import { ChainStore } from './chain-store.js'
import { type ComputeUnitSource, NO_COMPUTE_UNITS } from './compute-units.js'
import { EpochClock } from './epoch-clock.js'
import { type NodeIdentity, loadOrCreateIdentity } from './identity.js'
import { type BlockIndexEntry, type BlockLocation, Ledger } from './ledger.js'
import type { LogFn } from './log.js'
import { Mempool } from './mempool.js'
import { Mutex } from './mutex.js'
import { Network, type NetworkOptions, type Peer } from './network.js'
import { type Verdict, VerifyPool, verifyInline } from './verify-pool.js'

export type { LogFn }

export interface NodeOptions {
  dataDir: string
  params: NetworkParams
  rewardAddress?: string
  computeUnits?: ComputeUnitSource
  log?: LogFn
  now?: () => number
  /** Peer networking; omitted = a standalone node. */
  network?: Omit<NetworkOptions, 'log'>
  /** How long to collect peers' lottery claims before deciding the epoch's winner. */
  claimWindowMs?: number
}

/** Most peer cores one node replicates; beyond it, announcements are refused. */
export const MAX_KNOWN_CORES = 4096

/** Most blocks fetched, verified and committed together while indexing a core (one ledger batch when they extend the head). */
const SYNC_RUN = 256
/**
 * Transactions a run aims at: runs of full blocks are shorter, so verification and commits still overlap
 * and the runs in flight stay a few MB. A block counts as RUN_BLOCK_COST transactions besides its own (its
 * lottery proof costs about that much to verify).
 */
const SYNC_RUN_TXS = 4096
const RUN_BLOCK_COST = 16
/** Runs fetched and verified ahead of the one being committed. */
const SYNC_RUNS_AHEAD = 4
/** A single block with at least this many transactions is verified on a worker thread. */
const THREADED_BLOCK_TXS = 8

/** One fetched block: decoded and checked (verdict), or the decoding error. */
type RunItem = { loc: BlockLocation, block: Block, hash: string, verdict: Verdict } | { loc: BlockLocation, block?: undefined, error: EconumiError }
interface PreparedRun { items: RunItem[], unavailable: boolean }

interface PeerTip extends TipAnnouncement { at: number }

export class EconumiNode extends EventEmitter {
  readonly genesis: Uint8Array
  readonly identity: NodeIdentity
  readonly rewardAddress: string
  readonly clock: EpochClock
  readonly params: NetworkParams
  mempool!: Mempool
  ledger!: Ledger
  chain!: Chain
  network: Network | null = null
  readonly store: ChainStore
  computeUnits: ComputeUnitSource
  private readonly chainLock = new Mutex()
  private readonly verifier: VerifyPool
  private readonly now: () => number
  private readonly log: LogFn
  private closed = false
  /** epoch → prevHash → node → verified claim */
  private readonly claims = new Map<bigint, Map<string, Map<string, ScoredClaim>>>()
  private readonly peerTips = new Map<string, PeerTip>()
  private readonly coreOwners = new Map<string, string>()
  private readonly processing = new Map<string, Promise<void>>()
  private readonly rerun = new Set<string>()
  private readonly recentTx = new Set<string>()
  private syncTimer: NodeJS.Timeout | null = null
  private startedAt = 0
  /** Workload images this node offers to the network, and what each peer offers. */
  private offered: string[] = []
  private readonly peerImages = new Map<string, string[]>()

  private constructor (readonly opts: NodeOptions) {
    super()
    this.params = opts.params
    this.genesis = genesisHash(opts.params)
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 })
    this.identity = loadOrCreateIdentity(opts.dataDir)
    this.rewardAddress = opts.rewardAddress ?? this.identity.address
    decodeAddress(this.rewardAddress)
    this.now = opts.now ?? Date.now
    this.log = opts.log ?? (() => {})
    this.clock = new EpochClock(opts.params, this.now)
    this.computeUnits = opts.computeUnits ?? NO_COMPUTE_UNITS
    this.store = new ChainStore(join(opts.dataDir, 'cores'))
    this.verifier = new VerifyPool(this.params, this.genesis)
  }

  static async open (opts: NodeOptions): Promise<EconumiNode> {
    const node = new EconumiNode(opts)
    node.verifier.start() // loads while the stores open
    try {
      node.ledger = await Ledger.open(join(opts.dataDir, 'ledger'), opts.params, node.genesis)
      try { await node.store.open() } catch (err) { await node.ledger.close(); throw err }
    } catch (err) {
      await node.verifier.close()
      await node.store.close().catch(() => {}) // else its open Corestore keeps the cores folder from the next open
      throw err
    }
    node.mempool = new Mempool(node.ledger, async (tx, bytes) => { await node.verifier.checkTransaction(tx, bytes) })
    node.chain = new Chain(node.ledger, node.store, {
      onOrphanedTxs: async (txs) => { await node.readmit(txs) },
      onNewHead: async (tip, blocks) => { await node.onNewHead(tip, blocks) }
    }, node.log)
    await node.recover()
    const { loaded, dropped } = await node.mempool.load()
    if (loaded + dropped > 0) node.log('mempool-restored', { loaded, dropped })
    await node.verifier.ready()
    return node
  }

  get genesisHex (): string { return toHex(this.genesis) }

  /** Start the network (if configured) and block production on epoch boundaries. */
  async start (): Promise<void> {
    this.startedAt = this.now()
    if (this.opts.network !== undefined) {
      this.network = new Network(this.store.store, this.identity.signer.seed, this.genesis, {
        onPeer: (peer) => { if (this.offered.length > 0) setImmediate(() => peer.send({ type: MSG_IMAGES, images: this.offered })); peer.send({ type: MSG_HELLO, hello: { genesis: this.genesis, blocksCore: this.store.blocks.key, recordsCore: this.store.records.key, tip: this.tipAnnouncement() } }) },
        onMessage: async (peer, m) => { await this.onPeerMessage(peer, m) },
        onPeerGone: (peer) => { this.peerTips.delete(peer.id); this.peerImages.delete(peer.id); this.log('peer-left', { peer: peer.id.slice(0, 16), peers: this.network?.peers.size ?? 0 }) }
      }, { ...this.opts.network, log: this.log })
      await this.network.start()
      this.syncTimer = setInterval(() => this.reportSync(), 1000)
    }
    this.clock.on('epoch', (epoch: bigint) => {
      this.produce(epoch).catch((err) => this.log('produce-failed', { epoch, code: (err as EconumiError).code, error: (err as Error).message }))
    })
    this.clock.start()
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.clock.stop()
    if (this.syncTimer !== null) clearInterval(this.syncTimer)
    if (this.network !== null) await this.network.close()
    await this.chainLock.run(async () => {
      await Promise.allSettled([...this.processing.values()])
      await this.verifier.close()
      await this.store.close()
      await this.ledger.close()
    })
  }

  /** Index every block in every known core that the ledger has not seen (after a crash, or a sync cut short). */
  private async recover (): Promise<void> {
    const before = this.ledger.height
    for (const key of [this.store.ownKey, ...(await this.knownCores())]) {
      const core = await this.store.core(key)
      await this.indexCore(key, core.length, true) // what is on disk: peers are not connected yet
    }
    await this.chainLock.run(async () => { await this.chain.reconcile() })
    if (this.ledger.height !== before) this.log('recovered', { from: before, height: this.ledger.height })
  }

  private cores: string[] | null = null

  /** Peers' cores this node replicates: read from the ledger once, then kept in memory. */
  private async knownCores (): Promise<string[]> {
    if (this.cores === null) {
      const raw = await this.ledger.getMeta('cores')
      this.cores = raw === undefined ? [] : JSON.parse(raw) as string[]
    }
    return this.cores
  }

  /** Remember a peer's core durably, replicate it, and index its blocks as they arrive. */
  private async addCore (key: string, owner: string): Promise<void> {
    if (owner !== '' || !this.coreOwners.has(key)) this.coreOwners.set(key, owner)
    if (key === this.store.ownKey) return
    const known = await this.knownCores()
    if (!known.includes(key)) {
      this.cores = [...known, key]
      await this.ledger.putMeta('cores', JSON.stringify(this.cores))
      // pass it on: nodes that are not direct peers of its owner must learn it too
      this.network?.broadcast({ type: MSG_CORES, cores: [Buffer.from(key, 'hex')] }, owner === '' ? undefined : this.network.peers.get(owner))
    }
    const core = await this.store.core(key)
    if (!(core as any).__econumiWatched) {
      (core as any).__econumiWatched = true
      core.on('append', () => this.scheduleIndex(key))
      ;(core as any).download({ start: 0, end: -1 })
    }
    this.scheduleIndex(key)
  }

  private scheduleIndex (key: string): void {
    if (this.closed) return
    if (this.processing.has(key)) { this.rerun.add(key); return }
    const run = (async () => {
      try {
        do {
          this.rerun.delete(key)
          const core = await this.store.core(key)
          await (core as any).update?.({ wait: false }).catch(() => {})
          await this.indexCore(key, core.length)
        } while (this.rerun.has(key) && !this.closed)
      } catch (err) {
        if (!this.closed) this.log('index-failed', { core: key.slice(0, 16), error: (err as Error).message })
      } finally {
        this.processing.delete(key)
      }
    })()
    this.processing.set(key, run)
  }

  /**
   * Index a core's blocks from the last indexed position up to `length`, in runs of up to SYNC_RUN blocks
   * (fewer when blocks are full).
   * While one run is committed, the next is fetched and verified (on worker threads),
   * so a syncing node downloads, verifies and commits at once. A run that extends the head goes into the
   * ledger in one batch; anything else (forks, orphans, invalid blocks) goes through addBlock one by one.
   */
  private async indexCore (key: string, length: number, localOnly = false): Promise<void> {
    let from = await this.chain.indexedUpTo(key)
    const ahead: Array<Promise<PreparedRun>> = []
    // run length from the transactions per block seen so far (until then: as if blocks were a quarter full)
    let txsPerBlock = 256
    const refill = (): void => {
      while (ahead.length < SYNC_RUNS_AHEAD && from < length) {
        const blocks = Math.max(1, Math.min(SYNC_RUN, Math.floor(SYNC_RUN_TXS / (txsPerBlock + RUN_BLOCK_COST))))
        const to = Math.min(length, from + blocks)
        const p = this.prepareRun(key, from, to, localOnly)
        p.then((run) => {
          if (run.items.length > 0) txsPerBlock = run.items.reduce((n, it) => n + (it.block?.txs.length ?? 0), 0) / run.items.length
        }, () => {}) // awaited in order below; a failure is handled there
        ahead.push(p)
        from = to
      }
    }
    refill()
    while (ahead.length > 0 && !this.closed) {
      const run = await ahead.shift()!
      if (run.unavailable) ahead.length = 0 // later runs start after a gap: drop them, index from the gap on retry
      else refill()
      await this.commitRun(key, run)
      if (run.unavailable) {
        // no peer served it yet (a relaying peer may still be downloading it): ask again shortly
        if (!localOnly) setTimeout(() => this.scheduleIndex(key), 500).unref()
        return
      }
    }
  }

  /**
   * Fetch blocks [from, to) of a core, each decoded and checked as soon as it arrives; the run ends at the
   * first block no peer has served yet.
   */
  private async prepareRun (key: string, from: number, to: number, localOnly: boolean): Promise<PreparedRun> {
    const many = to - from > 1
    const items = await Promise.all(Array.from({ length: to - from }, async (_, i): Promise<RunItem | null> => {
      const loc = { core: key, seq: from + i }
      let bytes: Uint8Array
      try {
        bytes = await this.store.getBlockBytes(key, loc.seq, localOnly)
      } catch (err) {
        if (isEconumiError(err) && err.code === 'E_BLOCK_UNAVAILABLE') return null
        throw err
      }
      let block: Block
      try {
        block = decodeBlock(bytes)
      } catch (err) {
        if (!isEconumiError(err)) throw err
        return { loc, error: err }
      }
      // one small block (a new head from a peer) inline: a worker round trip would only add latency
      const verdict = many || block.txs.length >= THREADED_BLOCK_TXS ? await this.verifier.verify(block, bytes) : verifyInline(this.params, this.genesis, block)
      return { loc, block, hash: toHex(blockHash(block.header)), verdict }
    }))
    const gap = items.indexOf(null)
    return { items: (gap < 0 ? items : items.slice(0, gap)) as RunItem[], unavailable: gap >= 0 }
  }

  private async commitRun (key: string, run: PreparedRun): Promise<void> {
    let done = 0
    const valid: Array<{ block: Block, loc: BlockLocation, hash: string, pre: VerifiedBlock }> = []
    for (const it of run.items) {
      if (it.block === undefined || isEconumiError(it.verdict)) break
      valid.push({ block: it.block, loc: it.loc, hash: it.hash, pre: it.verdict })
    }
    if (valid.length > 0) {
      done = await this.chainLock.run(async () => this.closed ? run.items.length : await this.chain.extendHead(valid))
    }
    for (const it of run.items.slice(done)) {
      if (this.closed) return
      if (it.block === undefined || isEconumiError(it.verdict)) {
        await this.ledger.putMeta(this.chain.indexedKey(key), String(it.loc.seq + 1))
        this.rejectBlock(it.loc, it.block === undefined ? it.error : it.verdict as EconumiError)
        continue
      }
      const { block, loc, verdict } = it
      await this.chainLock.run(async () => {
        if (this.closed) return
        try {
          await this.chain.addBlock(block, loc, true, verdict)
        } catch (err) {
          if (!isEconumiError(err)) throw err
          this.rejectBlock(loc, err)
        }
      })
    }
  }

  /** An invalid block from a core: logged, and its source penalised. */
  private rejectBlock (loc: BlockLocation, err: EconumiError): void {
    this.log('block-rejected', { core: loc.core.slice(0, 16), seq: loc.seq, code: err.code, error: err.message })
    this.blame(loc.core, 50, err.code)
  }

  private blame (core: string, points: number, reason: string): void {
    const owner = this.coreOwners.get(core)
    const peer = owner === undefined ? undefined : this.network?.peers.get(owner)
    if (peer !== undefined) this.network?.penalize(peer, points, reason)
  }

  private tipAnnouncement (): TipAnnouncement | null {
    const tip = this.ledger.tip
    return tip === null ? null : { height: tip.height, hash: tip.hash, work: tip.work }
  }

  private async onPeerMessage (peer: Peer, m: WireMessage): Promise<void> {
    switch (m.type) {
      case MSG_HELLO:
        if (!equalBytes(m.hello.genesis, this.genesis)) { this.network?.penalize(peer, 1000, 'E_WRONG_NETWORK'); return }
        this.log('peer-joined', { peer: peer.id.slice(0, 16), peers: this.network?.peers.size ?? 0 })
        if (m.hello.tip !== null) this.peerTips.set(peer.id, { ...m.hello.tip, at: this.now() })
        await this.addCore(toHex(m.hello.blocksCore), peer.id)
        // tell the newcomer every chain core we know, so blocks reach nodes that are not direct peers
        for (let i = 0, all = [this.store.ownKey, ...(await this.knownCores())]; i < all.length; i += MAX_CORES_PER_MESSAGE) {
          peer.send({ type: MSG_CORES, cores: all.slice(i, i + MAX_CORES_PER_MESSAGE).map((k) => Buffer.from(k, 'hex')) })
        }
        return
      case MSG_CORES:
        for (const k of m.cores) {
          const key = toHex(k)
          const known = await this.knownCores()
          if (key === this.store.ownKey || this.coreOwners.has(key) || known.includes(key)) continue
          if (known.length >= MAX_KNOWN_CORES) { this.network?.penalize(peer, 5, 'E_TOO_MANY_CORES'); return }
          await this.addCore(key, '')
        }
        return
      case MSG_IMAGES:
        this.peerImages.set(peer.id, [...new Set(m.images)])
        return
      case MSG_TIP:
        this.peerTips.set(peer.id, { ...m.tip, at: this.now() })
        return
      case MSG_TX:
        await this.relayTransaction(m.tx, peer)
        return
      case MSG_CLAIM:
        this.acceptClaim(m.claim, peer)
    }
  }

  private async relayTransaction (bytes: Uint8Array, from: Peer | null): Promise<string | null> {
    const key = Buffer.from(bytes).toString('base64')
    if (this.recentTx.has(key)) return null
    this.recentTx.add(key)
    if (this.recentTx.size > 50_000) this.recentTx.clear()
    let txid: string
    try {
      txid = await this.mempool.admit(bytes)
    } catch (err) {
      if (!isEconumiError(err)) throw err
      // races (nonce, already known) are normal; forged data is not
      if (from !== null && /SIGNATURE|LENGTH|VERSION|DECODE|ADDRESS|AMOUNT/.test(err.code)) this.network?.penalize(from, 25, err.code)
      if (from === null) throw err
      return null
    }
    this.network?.broadcast({ type: MSG_TX, tx: bytes }, from ?? undefined)
    this.emit('tx', txid)
    return txid
  }

  private acceptClaim (claim: Claim, from: Peer | null): boolean {
    const current = this.clock.current()
    if (claim.epoch + 1n < current || claim.epoch > current + 1n) return false // stale or far future: ignore
    const prev = toHex(claim.prevHash)
    const node = toHex(claim.nodeKey)
    const byPrev = this.claims.get(claim.epoch) ?? new Map<string, Map<string, ScoredClaim>>()
    const byNode = byPrev.get(prev) ?? new Map<string, ScoredClaim>()
    if (byNode.has(node)) return false
    let scored: ScoredClaim
    try {
      scored = scoreClaim(claim, this.genesis, this.params.maxClaimCu)
    } catch (err) {
      if (from !== null && isEconumiError(err)) this.network?.penalize(from, 25, err.code)
      return false
    }
    byNode.set(node, scored)
    byPrev.set(prev, byNode)
    this.claims.set(claim.epoch, byPrev)
    for (const e of this.claims.keys()) if (e + 2n < current) this.claims.delete(e)
    this.network?.broadcast({ type: MSG_CLAIM, claim }, from ?? undefined)
    return true
  }

  private async readmit (txs: Transaction[]): Promise<void> {
    const sorted = [...txs].sort((a, b) => (a.nonce < b.nonce ? -1 : a.nonce > b.nonce ? 1 : 0))
    for (const tx of sorted) {
      const bytes = encodeTransaction(tx)
      this.recentTx.delete(Buffer.from(bytes).toString('base64'))
      try { await this.relayTransaction(bytes, null) } catch (err) { if (!isEconumiError(err)) throw err }
    }
  }

  private async onNewHead (tip: ChainTip, blocks: Block[]): Promise<void> {
    const senders = new Set<string>()
    for (const b of blocks) for (const tx of b.txs) senders.add(senderAddress(tx))
    await this.mempool.prune(senders)
    const last = blocks[blocks.length - 1]
    // one line per new head: after a run of synced blocks that is the last one, with how many came with it
    this.log('head', { height: tip.height, hash: toHex(tip.hash), epoch: tip.epoch, txs: last.txs.length, winner: toHex(last.header.winner.nodeKey).slice(0, 16), ...(blocks.length > 1 ? { blocks: blocks.length } : {}) })
    this.emit('head', tip)
  }

  /** Announce the workload images this node offers (replaces the previous list). */
  offerImages (images: string[]): void {
    const next = [...new Set(images)].sort().slice(0, MAX_IMAGES_PER_MESSAGE)
    if (next.join('\n') === this.offered.join('\n')) return
    this.offered = next
    this.network?.broadcast({ type: MSG_IMAGES, images: next })
  }

  /** Images offered across the network: this node's and each peer's. */
  images (): { local: string[], peers: Array<{ nodeId: string, images: string[] }> } {
    return { local: this.offered, peers: [...this.peerImages].map(([nodeId, images]) => ({ nodeId, images })) }
  }

  /** Sync target: the most work any peer has announced that we do not hold yet. */
  syncState (): { height: bigint, target: bigint, syncing: boolean } {
    const height = this.ledger.height
    const work = this.ledger.tip?.work ?? 0n
    let target = height
    let syncing = false
    const horizon = this.now() - 3 * Number(this.params.epochMs) - 10_000
    for (const [id, t] of this.peerTips) {
      if (t.at < horizon) { this.peerTips.delete(id); continue }
      if (t.work > work) { syncing = true; if (t.height > target) target = t.height }
    }
    return { height, target, syncing }
  }

  private lastSyncReport = ''
  private reportSync (): void {
    const s = this.syncState()
    const line = `${s.height}/${s.target}`
    if (s.syncing && line !== this.lastSyncReport) this.log('sync', { height: s.height, target: s.target })
    this.lastSyncReport = s.syncing ? line : ''
  }

  async submitTransaction (bytes: Uint8Array): Promise<string> {
    if (this.closed) fail('E_NODE_CLOSING', 'node is shutting down')
    const txid = await this.relayTransaction(bytes, null)
    if (txid === null) fail('E_TX_KNOWN', 'transaction was already submitted')
    return txid
  }

  /**
   * Hold the lottery for `epoch`: publish this node's claim, wait for peers' claims, and if this node
   * holds the lowest score, append the block. Returns the block, or null.
   */
  async produce (epoch: bigint): Promise<Block | null> {
    if (this.closed) return null
    // a node that just joined waits briefly for its first peer, so it learns the chain before building on genesis
    if (this.network !== null && this.network.peers.size === 0 && this.now() - this.startedAt < Math.min(2 * Number(this.params.epochMs), 5000)) {
      this.log('produce-skipped', { epoch, reason: 'waiting for peers' })
      return null
    }
    const sync = this.syncState()
    if (sync.syncing) { this.log('produce-skipped', { epoch, reason: 'syncing', height: sync.height, target: sync.target }); return null }
    const tip0 = this.ledger.tip
    if (tip0 !== null && epoch <= tip0.epoch) return null
    let cu = await this.computeUnits.computeUnitsFor(epoch)
    if (cu <= 0n) return null
    if (cu > this.params.maxClaimCu) cu = this.params.maxClaimCu
    const prevHash = tip0?.hash ?? this.genesis
    const own = makeClaim(this.identity.signer, this.genesis, prevHash, epoch, cu)
    this.acceptClaim(own, null)
    const peers = this.network?.peers.size ?? 0
    const window = this.opts.claimWindowMs ?? Math.min(Number(this.params.epochMs) / 3, 3000)
    if (peers > 0 && window > 0) await new Promise((resolve) => setTimeout(resolve, window))
    return await this.chainLock.run(async () => {
      if (this.closed) return null
      const tip = this.ledger.tip
      if (!equalBytes(tip?.hash ?? this.genesis, prevHash)) return null // the head moved while we waited
      const start = epochStart(this.params, epoch)
      const end = start + this.params.epochMs
      const now = BigInt(this.now())
      if (now >= end) return null // too late: the block time must lie inside its epoch
      const seen = [...(this.claims.get(epoch)?.get(toHex(prevHash))?.values() ?? [])].sort(compareClaims)
      if (seen.length === 0 || !equalBytes(seen[0].claim.nodeKey, this.identity.signer.publicKey)) {
        if (seen.length > 0) this.log('lottery-lost', { epoch, winner: toHex(seen[0].claim.nodeKey).slice(0, 16), claims: seen.length })
        return null
      }
      const claims = seen.slice(0, MAX_BLOCK_CLAIMS).map((s) => s.claim)
      const height = tip === null ? 0n : tip.height + 1n
      const miner = decodeAddress(this.rewardAddress)
      let candidates = await this.mempool.select(this.params.maxBlockTxs)
      const time = now < start ? start : now
      for (let attempt = 0; ; attempt++) {
        const txs = candidates.map((e) => e.tx)
        const fees = txs.reduce((s, tx) => s + tx.fee, 0n)
        const block = buildBlock({ height, prevHash, epoch, time, winner: claims[0], claims, miner, coinbase: blockReward(height) + fees, txs }, this.identity.signer, this.genesis)
        const bytes = encodeBlock(block)
        let fx: BlockEffects
        try {
          // checked like any peer's block (from its bytes), on a worker: a full block's signatures would stall the event loop
          const verdict = await this.verifier.verify(block, bytes)
          if (isEconumiError(verdict)) throw verdict
          fx = applyBlock(await this.ledger.view(touchedAddresses(block)), block, verdict)
        } catch (err) {
          const bad = isEconumiError(err) ? err.details.txid : undefined
          if (typeof bad !== 'string' || attempt > 100) throw err
          // a mempool entry went stale: drop it and rebuild
          candidates = candidates.filter((e) => e.txid !== bad)
          this.mempool.remove([bad])
          await this.ledger.deleteMempool([bad])
          continue
        }
        const seq = await this.store.appendBlock(bytes)
        await this.chain.commitOwn(block, { core: this.store.ownKey, seq }, fx)
        this.mempool.remove(fx.txids.map(toHex))
        await this.onNewHead(fx.tip, [block])
        this.log('block', { height: block.header.height, epoch, hash: toHex(fx.hash), txs: block.txs.length, claims: claims.length, coinbase: block.coinbase })
        this.emit('block', block, fx)
        const ann = this.tipAnnouncement()
        if (ann !== null) this.network?.broadcast({ type: MSG_TIP, tip: ann })
        return block
      }
    })
  }

  async blockByHeight (height: bigint): Promise<{ block: Block, entry: BlockIndexEntry } | null> {
    const hash = await this.ledger.hashAtHeight(height)
    return hash === undefined ? null : await this.blockByHash(hash)
  }

  async blockByHash (hash: string): Promise<{ block: Block, entry: BlockIndexEntry } | null> {
    const entry = await this.ledger.blockEntry(hash)
    if (entry === undefined) return null
    const block = decodeBlock(await this.store.getBlockBytes(entry.core, entry.seq))
    if (toHex(blockHash(block.header)) !== hash) fail('E_STORE_CORRUPT', 'stored block does not match its index', { hash })
    return { block, entry }
  }

  status (): Record<string, unknown> {
    const tip = this.ledger.tip
    const sync = this.syncState()
    return {
      network: this.params.network,
      genesisHash: this.genesisHex,
      nodeId: this.identity.nodeId,
      rewardAddress: this.rewardAddress,
      height: this.ledger.height.toString(),
      tipHash: tip === null ? null : toHex(tip.hash),
      work: (tip?.work ?? 0n).toString(),
      epoch: this.clock.current().toString(),
      epochMs: this.params.epochMs.toString(),
      mempool: this.mempool.size,
      peers: this.network?.peers.size ?? 0,
      sync: { height: sync.height.toString(), target: sync.target.toString(), syncing: sync.syncing }
    }
  }
}

/** Rebuild the ledger from the cores: drop the LevelDB index and replay every block. */
export async function reindexNode (opts: NodeOptions): Promise<{ height: bigint, mempool: number }> {
  const before = await Ledger.open(join(opts.dataDir, 'ledger'), opts.params, genesisHash(opts.params))
  const saved = await before.listMempool()
  const cores = await before.getMeta('cores')
  await before.close()
  rmSync(join(opts.dataDir, 'ledger'), { recursive: true, force: true })
  if (cores !== undefined) {
    // keep the list of peers' cores so their blocks are replayed too
    const fresh = await Ledger.open(join(opts.dataDir, 'ledger'), opts.params, genesisHash(opts.params))
    await fresh.putMeta('cores', cores)
    await fresh.close()
  }
  const node = await EconumiNode.open(opts)
  let kept = 0
  for (const s of saved) {
    try { await node.mempool.admit(s.bytes); kept++ } catch (err) { if (!isEconumiError(err)) throw err }
  }
  const height = node.ledger.height
  await node.close()
  return { height, mempool: kept }
}

