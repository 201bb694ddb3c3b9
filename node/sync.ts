// Sync: which peer cores this node replicates, and their blocks → verified → the chain. Blocks are fetched and
// verified in runs (on worker threads) while the previous run commits; a run that extends the head goes into the
// ledger in one batch, anything else (forks, orphans, invalid blocks) through Chain.addBlock one by one.
//
// Accountability: a core announced by a peer is replicated, but persisted and passed on
// only once it has served a valid block; each peer may keep a few unproven cores at a time; an invalid block is
// charged to the core's owner or, failing that, to the peer that announced it; a local limit never costs a peer.
// What each refusal costs a peer is in protocol/error-codes.ts.
// One file on purpose: the runs, the download window and the accountability of cores share one per-core state.
import { blockPenalty } from '../protocol/error-codes.js'
import { type Block, blockHash, decodeBlock } from '../protocol/block.js'
import { toHex } from '../protocol/encoding.js'
import { type EconumiError, isEconumiError } from '../protocol/errors.js'
import { MAX_CLOCK_DRIFT_MS, epochStart } from '../protocol/params.js'
import type { VerifiedBlock } from '../protocol/state.js'
import { parentMismatch } from './chain.js'
import type { BlockLocation, Ledger } from './ledger.js'
import { HeldBlocks } from './held-blocks.js'
import type { NodeContext } from './context.js'
import type { Verdict } from './verify-pool.js'

/** Most peer cores one node replicates; beyond it, announcements are ignored (never penalised: a local limit). */
export const MAX_KNOWN_CORES = 4096
/** Cores a peer may have announced that have not served a valid block yet. */
export const MAX_UNPROVEN_CORES_PER_PEER = 16

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
/**
 * Bytes a run aims at, and bytes all runs in flight (every core's, fetched and not committed yet) may hold: a
 * block's size is mostly not its transactions (operations, a fraud proof: up to MAX_BLOCK_BYTES), so runs sized by
 * transactions alone let 4 × 256 maximal blocks into memory. Sizes come from the core's Merkle tree before a
 * block is read. A run always takes one block, and a core with no run in flight may start one, so none stalls.
 */
export const SYNC_RUN_BYTES = 8 * 1024 * 1024
export const SYNC_INFLIGHT_BYTES = 32 * 1024 * 1024
/** A block's size before any was seen (it only matters for blocks whose size the tree does not give yet). */
const DEFAULT_BLOCK_BYTES = 1024
/** A single block with at least this many transactions is verified on a worker thread. */
const THREADED_BLOCK_TXS = 8
/** Blocks of a peer core replicated ahead of the indexed position. */
const DOWNLOAD_AHEAD = 1024
/** Longest wait before a held future block is looked at again. */
const FUTURE_RECHECK_MAX_MS = 60_000

/** One fetched block: decoded and checked (verdict), or the decoding error. */
type RunItem = { loc: BlockLocation, block: Block, hash: string, verdict: Verdict } | { loc: BlockLocation, block?: undefined, error: EconumiError }
/**
 * `bytes`: what the run holds against SYNC_INFLIGHT_BYTES until it is committed or dropped. `cut`: it stopped early
 * because blocks whose size was not known when it was planned turned out larger than its budget.
 */
/** `counted`: what the run adds to pendingVerified (its valid blocks that join the tree, see `joining`). */
interface PreparedRun { items: RunItem[], unavailable: boolean, bytes: number, cut: boolean, counted: number }

export interface SyncEvents {
  /** A core served its first valid block: it is now persisted; pass it on. */
  onCoreProven: (key: string, announcer: string) => void
  /** Hold this valid block for its reports' evidence (node/availability.ts)? `retry` indexes the core again. */
  holdForEvidence?: (block: Block, core: string, seq: number, retry: () => void) => boolean
}

export class ChainSync {
  /** Core → the peer whose HELLO names it as its own chain core. */
  readonly coreOwners = new Map<string, string>()
  /** Core → the peer that told us about it, for cores that have not served a valid block yet. */
  private readonly unproven = new Map<string, string>()
  private proven: Set<string> | null = null
  /** Blocks passed over for their evidence, durably (node/held-blocks.ts). */
  private readonly held: HeldBlocks
  private readonly processing = new Map<string, Promise<void>>()
  private readonly rerun = new Set<string>()
  private readonly heldUntil = new Map<string, NodeJS.Timeout>()
  /** Cores whose indexing stopped at an orphan because the pool was full (see Chain.addBlock 'deferred'). */
  private readonly deferred = new Map<string, number>()
  /** Each peer core's download range: a window ahead of what is indexed, never the whole core. */
  private readonly downloads = new Map<string, { end: number, range: { destroy?: () => void } }>()
  /** Blocks fetched and verified as valid that are not committed yet: the node is behind while this is > 0. */
  pendingVerified = 0
  /** Bytes of the runs in flight, every core's (SYNC_INFLIGHT_BYTES). */
  bytesInFlight = 0
  /**
   * Cores being indexed whose last run extended the head and that hold more blocks: verified blocks from them
   * carry this node's chain further, so it is behind (a peer's word alone never puts it there).
   */
  readonly extendingCores = new Map<string, number>()

  /**
   * Behind, on verified evidence only; a core that stops serving its next blocks holds this node back for at
   * most two epochs (then it produces again on what it has).
   */
  get behind (): boolean {
    if (this.pendingVerified > 0) return true
    const horizon = this.ctx.now() - Math.max(2 * Number(this.ctx.params.epochMs), 5000)
    for (const [k, at] of this.extendingCores) { if (at >= horizon) return true; this.extendingCores.delete(k) }
    const firstHorizon = this.ctx.now() - Math.min(2 * Number(this.ctx.params.epochMs), 5000)
    for (const [k, at] of this.firstRun) { if (at >= firstHorizon) return true; this.firstRun.delete(k) }
    return false
  }

  /**
   * A connected peer's own core whose first blocks have not been looked at yet, since when: a node that just
   * started waits (at most two epochs, at most 5 s) to see whether its first peers' cores carry its chain
   * further, rather than build on what it has and fork at once. Peers met later never delay production.
   */
  private readonly firstRun = new Map<string, number>()
  /** When the node started its network (set by EconumiNode.start). */
  startedAt = 0

  constructor (private readonly ctx: NodeContext, private readonly events: SyncEvents) {
    this.held = new HeldBlocks(ctx.ledger)
  }

  static async savedCores (ledger: Ledger): Promise<string[]> {
    const out: string[] = []
    for await (const k of ledger.db.keys({ gte: 'meta:core:', lt: 'meta:core;' })) out.push(k.slice(10))
    const legacy = await ledger.getMeta('cores') // a JSON list, before each core had a key of its own
    if (legacy !== undefined) for (const k of JSON.parse(legacy) as string[]) if (!out.includes(k)) out.push(k)
    return out
  }

  static async saveCores (ledger: Ledger, keys: string[]): Promise<void> {
    // one key per core: concurrent additions cannot overwrite each other (a shared list lost updates)
    await ledger.db.batch(keys.map((k) => ({ type: 'put' as const, key: `meta:core:${k}`, value: '1' })))
  }

  private async provenCores (): Promise<Set<string>> {
    if (this.proven === null) this.proven = new Set(await ChainSync.savedCores(this.ctx.ledger))
    return this.proven
  }

  /** Every chain core this node knows of (its own first), for a newcomer's HELLO. */
  async knownCores (): Promise<string[]> {
    return [this.ctx.store.ownKey, ...(await this.provenCores())]
  }

  async close (): Promise<void> {
    for (const t of this.heldUntil.values()) clearTimeout(t)
    this.heldUntil.clear()
    for (const d of this.downloads.values()) d.range.destroy?.()
    this.downloads.clear()
    await Promise.allSettled([...this.processing.values()])
  }

  /** Index every block in every known core that the ledger has not seen (after a crash, or a sync cut short). */
  async recover (): Promise<void> {
    const before = this.ctx.ledger.height
    for (const key of await this.knownCores()) {
      const core = await this.ctx.store.core(key)
      await this.indexCore(key, core.length, true) // what is on disk: peers are not connected yet
    }
    await this.ctx.chainLock.run(async () => { await this.ctx.chain.reconcile() })
    if (this.ctx.ledger.height !== before) this.ctx.log('recovered', { from: before, height: this.ctx.ledger.height })
    for (const h of await this.held.all()) this.retryHeld(h.core, h.seq) // indexing is past them: only this brings them back
  }

  /** A peer's own chain core (from its HELLO): replicate it and index its blocks as they arrive. */
  async addOwnedCore (key: string, owner: string): Promise<void> {
    const isNew = !this.coreOwners.has(key)
    // a peer owns one core: a reconnection naming another replaces the earlier claim
    for (const [k, a] of this.coreOwners) if (a === owner && k !== key) { this.coreOwners.delete(k); this.firstRun.delete(k) }
    this.coreOwners.set(key, owner)
    const starting = this.ctx.now() - this.startedAt < Math.min(2 * Number(this.ctx.params.epochMs), 5000) // as long as it waits for its first peers
    if (isNew && starting && key !== this.ctx.store.ownKey) this.firstRun.set(key, this.ctx.now())
    await this.watch(key, owner)
  }

  /** A core a peer passed on. Returns false when it was ignored (a local limit or the peer's quota). */
  async addAnnouncedCore (key: string, announcer: string): Promise<boolean> {
    if (key === this.ctx.store.ownKey || this.coreOwners.has(key) || this.unproven.has(key)) return true
    const proven = await this.provenCores()
    if (proven.has(key)) { await this.watch(key, announcer); return true }
    if (proven.size + this.unproven.size >= MAX_KNOWN_CORES) return false
    let mine = 0
    for (const a of this.unproven.values()) if (a === announcer) mine++
    if (mine >= MAX_UNPROVEN_CORES_PER_PEER) return false
    await this.watch(key, announcer)
    return true
  }

  /**
   * A peer left: its unproven announcements go with it (they were only ever its word), and so does its claim to
   * own a core (a proven one stays known through the saved list; keys are free, so the map would grow per visit).
   */
  forgetPeer (peer: string): void {
    const gone: string[] = []
    for (const [k, a] of this.unproven) if (a === peer) { this.unproven.delete(k); gone.push(k) }
    for (const [k, a] of this.coreOwners) {
      if (a !== peer) continue
      this.coreOwners.delete(k); this.firstRun.delete(k)
      if (this.proven?.has(k) !== true) gone.push(k)
    }
    if (gone.length === 0) return
    void Promise.all(gone.map(async (k) => await this.dropCore(k))).then((r) => {
      const dropped = r.filter((x) => x !== null)
      if (dropped.length > 0) this.ctx.log('cores-dropped', { peer: peer.slice(0, 16), cores: dropped.length, purged: dropped.filter((x) => x).length })
    }, (err) => { if (!this.ctx.closed) this.ctx.log('index-failed', { peer: peer.slice(0, 16), error: (err as Error).message }) })
  }

  /**
   * An unproven core whose announcer or owner left: stop replicating it and close it (keys are free, so each new
   * identity's cores would stay open for good). Once its indexing is done, in case it is running; what it left in
   * the orphan pool stays readable, so a core with orphans is closed, not purged. Returns whether it was purged,
   * null when it is wanted again.
   */
  private async dropCore (key: string): Promise<boolean | null> {
    await this.processing.get(key)
    if (this.ctx.closed || this.wanted(key)) return null // announced again meanwhile
    this.downloads.get(key)?.range.destroy?.()
    this.downloads.delete(key)
    this.deferred.delete(key)
    this.extendingCores.delete(key)
    const t = this.heldUntil.get(key)
    if (t !== undefined) { clearTimeout(t); this.heldUntil.delete(key) }
    const keep = await this.ctx.ledger.orphanCount(key) > 0 || (await this.held.ofCore(key)).length > 0
    await this.ctx.store.dropCore(key, !keep)
    return !keep
  }

  private async watch (key: string, from: string): Promise<void> {
    if (key === this.ctx.store.ownKey) return
    const proven = await this.provenCores()
    if (!proven.has(key) && !this.unproven.has(key)) this.unproven.set(key, from)
    const core = await this.ctx.store.core(key)
    if (!(core as any).__econumiWatched) {
      (core as any).__econumiWatched = true
      core.on('append', () => this.scheduleIndex(key))
    }
    this.scheduleIndex(key)
  }

  /** The core served a valid block: persist it and let the gossip pass it on. */
  private async markProven (key: string): Promise<void> {
    if (key === this.ctx.store.ownKey) return
    const proven = await this.provenCores()
    if (proven.has(key)) return
    const announcer = this.unproven.get(key) ?? this.coreOwners.get(key) ?? ''
    this.unproven.delete(key)
    proven.add(key)
    await ChainSync.saveCores(this.ctx.ledger, [key])
    this.events.onCoreProven(key, announcer)
  }

  /** Still a core to replicate: this node's, a proven one, or one a connected peer owns or announced. */
  private wanted (key: string): boolean {
    return key === this.ctx.store.ownKey || this.proven === null || this.proven.has(key) || this.unproven.has(key) || this.coreOwners.has(key)
  }

  scheduleIndex (key: string): void {
    if (this.ctx.closed || !this.wanted(key)) return // a dropped core's late retry must not open it again
    if (this.processing.has(key)) { this.rerun.add(key); return }
    const run = (async () => {
      try {
        do {
          this.rerun.delete(key)
          const core = await this.ctx.store.core(key)
          await (core as any).update?.({ wait: false }).catch(() => {})
          await this.indexCore(key, core.length)
          await this.retryHeldOf(key)
        } while (this.rerun.has(key) && !this.ctx.closed)
      } catch (err) {
        if (!this.ctx.closed) this.ctx.log('index-failed', { core: key.slice(0, 16), error: (err as Error).message })
      } finally {
        this.processing.delete(key)
      }
    })()
    this.processing.set(key, run)
  }

  /**
   * Index a core's blocks from the last indexed position up to `length`, in runs of up to SYNC_RUN blocks
   * (fewer when blocks are full). While one run is committed, the next is fetched and verified (on worker
   * threads), so a syncing node downloads, verifies and commits at once.
   */
  private async indexCore (key: string, length: number, localOnly = false): Promise<void> {
    let from = await this.ctx.chain.indexedUpTo(key)
    if (!localOnly) await this.downloadAhead(key, from)
    if (from >= length && length > 0 && !localOnly) this.firstRun.delete(key) // nothing new in it
    const ahead: Array<Promise<PreparedRun>> = []
    // run length from the transactions and bytes per block seen so far (until then: as if blocks were a quarter full)
    let txsPerBlock = 256
    let bytesPerBlock = DEFAULT_BLOCK_BYTES
    const refill = async (): Promise<void> => {
      while (ahead.length < SYNC_RUNS_AHEAD && from < length && !this.ctx.closed) {
        if (ahead.length > 0 && this.bytesInFlight >= SYNC_INFLIGHT_BYTES) break // room for more once a run commits
        const blocks = Math.max(1, Math.min(SYNC_RUN, Math.floor(SYNC_RUN_TXS / (txsPerBlock + RUN_BLOCK_COST))))
        const { to, bytes } = await this.planRun(key, from, Math.min(length, from + blocks), bytesPerBlock)
        this.bytesInFlight += bytes
        const p = this.prepareRun(key, from, to, localOnly, bytes)
        p.then((run) => {
          if (run.items.length === 0) return
          txsPerBlock = run.items.reduce((n, it) => n + (it.block?.txs.length ?? 0), 0) / run.items.length
          bytesPerBlock = Math.max(1, run.bytes / run.items.length)
        }, () => {}) // awaited in order below; a failure is handled there
        ahead.push(p)
        from = to
      }
    }
    await refill()
    await this.indexRuns(key, ahead, refill, () => from < length, localOnly)
  }

  /**
   * Where a run from `from` ends (at most `to`): within SYNC_RUN_BYTES and what is left of SYNC_INFLIGHT_BYTES, at
   * least one block. Sizes from the core's tree; a block whose tree node is not on disk counts as `guess` bytes.
   */
  private async planRun (key: string, from: number, to: number, guess: number): Promise<{ to: number, bytes: number }> {
    const room = Math.min(SYNC_RUN_BYTES, SYNC_INFLIGHT_BYTES - this.bytesInFlight)
    const sizes = await this.ctx.store.blockSizes(key, from, to)
    let bytes = 0
    let n = 0
    for (const size of sizes) {
      const b = size ?? guess
      if (n > 0 && bytes + b > room) break
      bytes += b
      n++
    }
    return { to: from + n, bytes }
  }

  private async indexRuns (key: string, ahead: Array<Promise<PreparedRun>>, refill: () => Promise<void>, more: () => boolean, localOnly: boolean): Promise<void> {
    try {
      while (ahead.length > 0 && !this.ctx.closed) {
        const run = await ahead.shift()!
        const stop = run.unavailable || run.cut
        if (stop) this.drop(ahead) // later runs start after a gap: drop them, index from the gap on retry
        else await refill()
        const { held, extended, deferred } = await this.commitRun(key, run)
        if (deferred === true) return
        this.deferred.delete(key)
        if (extended) this.retryDeferred(key)
        this.firstRun.delete(key)
        if (extended && (ahead.length > 0 || more() || stop)) this.extendingCores.set(key, this.ctx.now())
        else this.extendingCores.delete(key)
        // later runs wait behind the held block (a core is a sequence): index again when its epoch begins
        if (held) return
        if (run.cut) { this.rerun.add(key); return } // the rest is there: plan it again by its real sizes
        if (stop) {
          // no peer served it yet (a relaying peer may still be downloading it): ask again shortly
          if (!localOnly) setTimeout(() => this.scheduleIndex(key), 500).unref()
          return
        }
      }
    } finally {
      this.drop(ahead) // whatever is left (a stop, a failure) gives its bytes and pending count back
    }
  }

  private drop (ahead: Array<Promise<PreparedRun>>): void {
    for (const p of ahead.splice(0)) void p.then((r) => { this.pendingVerified -= r.counted; this.bytesInFlight -= r.bytes }, () => {})
  }

  /**
   * Fetch blocks [from, to) of a core, each decoded and checked as soon as it arrives; the run ends at the
   * first block no peer has served yet.
   */
  private async prepareRun (key: string, from: number, to: number, localOnly: boolean, planned: number): Promise<PreparedRun> {
    let local: Array<Uint8Array | null>
    let cut = false
    try {
      // the blocks on disk, then (unless localOnly) the rest once peers served them: each read in one batch
      local = await this.ctx.store.getLocalBlocks(key, from, to)
      const missing = local.indexOf(null)
      if (missing >= 0 && !localOnly) {
        await this.ctx.store.waitForBlocks(key, from + missing, to)
        // their sizes were a guess when the run was planned: read no more than a run's budget of them
        let bytes = local.slice(0, missing).reduce((n, b) => n + (b?.length ?? 0), 0)
        let end = from + missing
        for (const size of await this.ctx.store.blockSizes(key, from + missing, to)) {
          if (size === null) break // not served yet: a gap from here
          if (end > from && bytes + size > SYNC_RUN_BYTES) { cut = true; break }
          bytes += size
          end++
        }
        const rest = await this.ctx.store.getLocalBlocks(key, from + missing, end)
        local = [...local.slice(0, missing), ...rest]
        if (end < to && !cut) local.push(null) // not served yet: a gap
      }
    } catch (err) {
      this.bytesInFlight -= planned
      throw err
    }
    const many = to - from > 1
    const bytes = local.reduce((n, b) => n + (b?.length ?? 0), 0)
    this.bytesInFlight += bytes - planned // held from now on: what was read
    const items = await Promise.all(local.map(async (bytes, i): Promise<RunItem | null> => {
      const loc = { core: key, seq: from + i }
      if (bytes === null) return null
      let block: Block
      try {
        block = decodeBlock(bytes)
      } catch (err) {
        if (!isEconumiError(err)) throw err
        return { loc, error: err }
      }
      // one small block (a new head from a peer) inline: a worker round trip would only add latency
      const verdict = many || block.txs.length >= THREADED_BLOCK_TXS ? await this.ctx.verifier.verify(block, bytes) : this.ctx.verifier.inline(block)
      return { loc, block, hash: toHex(blockHash(block.header)), verdict }
    }))
    const gap = items.indexOf(null)
    const kept = (gap < 0 ? items : items.slice(0, gap)) as RunItem[]
    const run = { items: kept, unavailable: gap >= 0, bytes, cut: cut && gap < 0, counted: await this.joining(kept) }
    this.pendingVerified += run.counted
    return run
  }

  /**
   * The valid blocks of a run whose parent is known (in the ledger, or earlier in the run): only those are work
   * this node is about to take on, so only they make it "behind". Orphans on unknown parents are not: a peer
   * serving them (a flood) must not stop production (issue 14, found by the peer-flood bench).
   */
  private async joining (items: RunItem[]): Promise<number> {
    const seen = new Set<string>()
    let n = 0
    for (const it of items) {
      if (it.block === undefined || isEconumiError(it.verdict)) continue
      const h = it.block.header
      const parent = toHex(h.prevHash)
      if (seen.has(parent) || h.height === 0n) { n++; seen.add(it.hash); continue }
      const entry = await this.ctx.ledger.blockEntry(parent)
      // nor are blocks that cannot follow their parent (the chain refuses them), which a peer can sign in any
      // number on this node's head (the peer-flood bench skipped epochs as "syncing")
      if (entry === undefined || parentMismatch(h, it.hash, entry) !== null) continue
      n++
      seen.add(it.hash)
    }
    return n
  }

  /** When a block's epoch starts by the local clock (with the allowed drift), or null if it has. */
  private heldUntilMs (block: Block): number | null {
    const opens = epochStart(this.ctx.params, block.header.epoch) - MAX_CLOCK_DRIFT_MS
    return BigInt(this.ctx.now()) < opens ? Number(opens) : null
  }

  /**
   * Commit a run. `held`: it stopped at a block from an epoch that has not begun (held, not applied); `extended`:
   * its blocks moved the head.
   */
  private async commitRun (key: string, run: PreparedRun): Promise<{ held: boolean, extended: boolean, deferred?: boolean }> {
    // extended: a block of THIS run became the head; the head moving meanwhile (this node's own block, another
    // core's) is not this core's doing (comparing heads made a flooder's rejected run "extending": the node then
    // skipped epochs as syncing, found by the peer-flood bench)
    let moved = false
    const result = (held: boolean, deferred = false): { held: boolean, extended: boolean, deferred: boolean } => ({ held, extended: moved, deferred })
    try {
      let done = 0
      // a block whose evidence is not available is held (node/availability.ts) and passed over: the blocks after it
      // in the core are indexed (its children wait as orphans), so one held block does not hide the rest of its
      // core; the gate retries it by its location (retryHeld). A block from an epoch that has not begun stops the
      // run (the clock alone releases it, and the core is a sequence).
      let held = -1
      let extending = true
      const evidenceHeld = new Set<number>()
      const valid: Array<{ block: Block, loc: BlockLocation, hash: string, pre: VerifiedBlock }> = []
      for (const [i, it] of run.items.entries()) {
        if (it.block !== undefined && this.heldUntilMs(it.block) !== null) { held = i; break }
        if (it.block === undefined || isEconumiError(it.verdict)) { extending = false; continue }
        const seq = it.loc.seq
        if (this.events.holdForEvidence?.(it.block, key, seq, () => this.retryHeld(key, seq)) === true) {
          // remembered before the core's later blocks are indexed past it (a crash then still finds it)
          for (const f of await this.held.add(key, seq)) this.ctx.log('held-forgotten', { core: f.core.slice(0, 16), seq: f.seq, reason: 'too many held blocks' })
          evidenceHeld.add(i); extending = false; continue
        }
        await this.held.remove(key, seq) // it was held as the last block read: indexing reached it again, and it is free
        if (extending) valid.push({ block: it.block, loc: it.loc, hash: it.hash, pre: it.verdict })
      }
      const items = held < 0 ? run.items : run.items.slice(0, held)
      if (valid.length > 0) {
        done = await this.ctx.chainLock.run(async () => this.ctx.closed ? items.length : await this.ctx.chain.extendHead(valid))
        if (done > 0) { moved = !this.ctx.closed; await this.markProven(key) }
      }
      for (const [i, it] of items.entries()) {
        if (i < done || evidenceHeld.has(i)) continue
        if (this.ctx.closed) return result(false)
        if (it.block === undefined || isEconumiError(it.verdict)) {
          await this.ctx.ledger.putMeta(this.ctx.chain.indexedKey(key), String(it.loc.seq + 1))
          this.rejectBlock(it.loc, it.block === undefined ? it.error : it.verdict as EconumiError)
          continue
        }
        const { block, loc, verdict } = it
        const r = await this.ctx.chainLock.run(async () => {
          if (this.ctx.closed) return 'known'
          try {
            const r = await this.ctx.chain.addBlock(block, loc, true, verdict)
            if (r === 'stored' || r === 'head' || r === 'known') await this.markProven(key)
            return r
          } catch (err) {
            if (!isEconumiError(err)) throw err
            this.rejectBlock(loc, err)
            return 'invalid'
          }
        })
        if (r === 'head') moved = true
        if (r === 'stored' || r === 'head') this.retryDeferred(key)
        if (r === 'deferred') {
          // the orphan pool is full: this core waits (from this block on) until another block joins the tree
          if (this.deferred.get(key) !== loc.seq) this.ctx.log('index-deferred', { core: key.slice(0, 16), seq: loc.seq, reason: 'orphan pool full' })
          this.deferred.set(key, loc.seq)
          return result(false, true)
        }
      }
      if (held >= 0) {
        const block = run.items[held].block!
        const at = this.heldUntilMs(block)
        if (at !== null) {
          this.ctx.log('block-held', { core: key.slice(0, 16), seq: run.items[held].loc.seq, epoch: block.header.epoch, reason: 'its epoch has not begun' })
          if (!this.heldUntil.has(key)) {
            const t = setTimeout(() => { this.heldUntil.delete(key); this.scheduleIndex(key) }, Math.min(FUTURE_RECHECK_MAX_MS, Math.max(50, at - this.ctx.now())))
            t.unref()
            this.heldUntil.set(key, t)
          }
          return result(true)
        }
      }
      return result(false)
    } finally {
      this.pendingVerified -= run.counted
      this.bytesInFlight -= run.bytes
    }
  }

  /**
   * The availability gate's retry of a block it held (block `seq` of core `key`): once its evidence is there it joins
   * the tree like any block (its waiting children with it); the core's indexing has moved past it already, unless
   * the block was the last one read, in which case indexing the core again reaches it.
   */
  private retryHeld (key: string, seq: number): void {
    if (this.ctx.closed) return
    void (async () => {
      if (seq >= await this.ctx.chain.indexedUpTo(key)) { this.scheduleIndex(key); return }
      const [bytes] = await this.ctx.store.getLocalBlocks(key, seq, seq + 1)
      if (bytes === null || bytes === undefined) return
      const loc = { core: key, seq }
      const block = decodeBlock(bytes)
      if (this.events.holdForEvidence?.(block, key, seq, () => this.retryHeld(key, seq)) === true) return
      const verdict = await this.ctx.verifier.verify(block, bytes)
      if (isEconumiError(verdict)) { this.rejectBlock(loc, verdict); await this.held.remove(key, seq); return }
      await this.ctx.chainLock.run(async () => {
        if (this.ctx.closed) return
        try {
          await this.ctx.chain.addBlock(block, loc, false, verdict)
        } catch (err) {
          if (!isEconumiError(err)) throw err
          this.rejectBlock(loc, err)
        }
        await this.held.remove(key, seq) // adopted (or refused): nothing left to retry
      })
    })().catch((err) => { if (!this.ctx.closed) this.ctx.log('index-failed', { core: key.slice(0, 16), seq, error: (err as Error).message }) })
  }

  /** A core grew: its held blocks are looked at again (the gate's own retries may be over). */
  private async retryHeldOf (key: string): Promise<void> {
    const held = await this.held.ofCore(key)
    if (held.length === 0) return // the usual case: no ledger read after every run
    const upTo = await this.ctx.chain.indexedUpTo(key)
    for (const seq of held) if (seq < upTo) this.retryHeld(key, seq)
  }

  /**
   * Replicate a window of DOWNLOAD_AHEAD blocks past `from` in the background (a core that is all junk costs at most
   * that much disk before its blocks are judged); blocks beyond it are fetched when indexing reaches them.
   */
  private async downloadAhead (key: string, from: number): Promise<void> {
    if (key === this.ctx.store.ownKey) return
    const d = this.downloads.get(key)
    if (d !== undefined && d.end - from >= DOWNLOAD_AHEAD / 2) return
    d?.range.destroy?.()
    const core = await this.ctx.store.core(key)
    const end = from + DOWNLOAD_AHEAD
    this.downloads.set(key, { end, range: (core as any).download({ start: from, end }) })
  }

  /** A block joined the tree: the parent a deferred core waited for may be known now. */
  private retryDeferred (except: string): void {
    for (const k of this.deferred.keys()) if (k !== except) this.scheduleIndex(k)
  }

  /** An invalid block from a core: logged, and its source penalised. */
  private rejectBlock (loc: BlockLocation, err: EconumiError): void {
    this.ctx.log('block-rejected', { core: loc.core.slice(0, 16), seq: loc.seq, code: err.code, error: err.message })
    this.blame(loc.core, blockPenalty(err.code), err.code)
  }

  /** Charge a core's misbehaviour to its owner, or to the peer that announced it. */
  blame (core: string, points: number, reason: string): void {
    const who = this.coreOwners.get(core) ?? this.unproven.get(core)
    const peer = who === undefined ? undefined : this.ctx.network?.peers.get(who)
    if (peer !== undefined) this.ctx.network?.penalize(peer, points, reason)
  }
}

