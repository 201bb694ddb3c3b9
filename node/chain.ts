// The block tree: every block seen in any core is indexed; the canonical chain is the pure fork choice
// over them, and the ledger follows it by rolling blocks back and forward. Runs under the chain lock.
import { type Block, type BlockHeader, blockHash, decodeBlock } from '../protocol/block.js'
import { equalBytes, toHex } from '../protocol/encoding.js'
import { fail, isEconumiError } from '../protocol/errors.js'
import { chooseHead, compareTips } from '../protocol/fork-choice.js'
import { MAX_CLOCK_DRIFT_MS, epochStart } from '../protocol/params.js'
import { nextBeacon } from '../protocol/claim.js'
import { type BlockEffects, type ChainTip, type VerifiedBlock, applyBlock, touchedAddresses, touchedNodes, verifyBlock } from '../protocol/state.js'
import type { WorkReport } from '../protocol/report.js'
import type { Transaction } from '../protocol/transaction.js'
import type { ChainStore } from './chain-store.js'
import { type BatchOp, type BlockIndexEntry, type BlockLocation, type Ledger, entryToTip, makeEntry } from './ledger.js'
import type { LogFn } from './log.js'
import { pruneSideBranches } from './side-branches.js'

/** Meta key of the block a node won in an epoch (equivocation evidence is two different ones). */
const wonKey = (winner: string, epoch: string): string => `won:${winner}:${epoch}`

/**
 * 'stale': a block whose parent is unknown and whose height is more than the reorg bound below the head: it can
 * never join the chain, so it is not kept. 'deferred': the orphan pool (or this core's share of it) is full; the
 * block is neither kept nor marked indexed, and its core is indexed again once another block joins the tree.
 */
export type AddResult = 'known' | 'orphan' | 'stale' | 'deferred' | 'invalid' | 'stored' | 'head'

/** Most blocks waiting for their parent, in all and from one core (DESIGN.md "Bounds"; an honest sync needs few). */
export const MAX_ORPHANS = 4096
export const MAX_ORPHANS_PER_CORE = 256

export interface ChainEvents {
  /** Blocks that left the canonical chain: their transactions go back to the mempool. */
  /** Transactions and work reports of blocks a reorg rolled back: back to the pools. */
  onOrphanedTxs: (txs: Transaction[], reports: WorkReport[]) => Promise<void>
  onNewHead: (tip: ChainTip, blocks: Block[]) => Promise<void>
  /** Two blocks signed by one leader for one epoch: the evidence goes in a block (protocol/ops.ts). */
  onEquivocation?: (a: Block, b: Block) => Promise<void>
}

/**
 * Why a block cannot follow its known parent (it builds on an invalid block, or its height, epoch or beacon does not
 * follow), or null. Sync asks it too, before it counts a fetched block as work to take on.
 */
export function parentMismatch (h: BlockHeader, hash: string, parent: BlockIndexEntry): { code: string, message: string, details: Record<string, unknown> } | null {
  if (parent.invalid !== undefined) return { code: 'E_BLOCK_PARENT_INVALID', message: 'block builds on an invalid block', details: { hash, parent: parent.hash } }
  if (h.height !== BigInt(parent.height) + 1n) return { code: 'E_BLOCK_HEIGHT', message: 'block height does not follow its parent', details: { hash, height: h.height, parentHeight: parent.height } }
  if (h.epoch <= BigInt(parent.epoch)) return { code: 'E_BLOCK_EPOCH', message: 'block epoch must be after its parent\'s', details: { hash, epoch: h.epoch, parentEpoch: parent.epoch } }
  if (toHex(h.winner.beacon) !== parent.beacon) return { code: 'E_BLOCK_BEACON', message: 'leader claim is not on the parent\'s beacon', details: { hash } }
  return null
}

export class Chain {
  // PERF: claims and signature verified when a block is indexed, reused when it is applied (bounded)
  private readonly verified = new Map<string, VerifiedBlock>()

  constructor (
    private readonly ledger: Ledger,
    private readonly store: ChainStore,
    private readonly events: ChainEvents,
    private readonly log: LogFn,
    private readonly now: () => number = Date.now
  ) {}

  private get genesisHex (): string { return toHex(this.ledger.genesis) }

  indexedKey (core: string): string { return `indexed:${core}` }

  async indexedUpTo (core: string): Promise<number> {
    return Number(await this.ledger.getMeta(this.indexedKey(core)) ?? '0')
  }

  private marker (loc: BlockLocation): BatchOp {
    return { type: 'put', key: `meta:${this.indexedKey(loc.core)}`, value: String(loc.seq + 1) }
  }

  async readBlock (loc: BlockLocation): Promise<Block> {
    return decodeBlock(await this.store.getBlockBytes(loc.core, loc.seq))
  }

  /**
   * Index one block found at `loc`. Stateless checks first (verifyBlock); then it joins the
   * tree, and becomes the head if fork choice prefers it. Invalid blocks throw EconumiError after the
   * location is marked indexed, so the caller can penalise the source.
   */
  async addBlock (block: Block, loc: BlockLocation, markIndexed = true, pre?: VerifiedBlock): Promise<AddResult> {
    const marker = markIndexed ? [this.marker(loc)] : []
    const hash = toHex(blockHash(block.header))
    if ((await this.ledger.blockEntry(hash)) !== undefined) {
      if (marker.length > 0) await this.ledger.db.batch(marker)
      return 'known'
    }
    let tip: ChainTip
    try {
      tip = await this.statelessCheck(block, hash, pre)
    } catch (err) {
      if (isEconumiError(err) && err.code === 'E_PARENT_UNKNOWN') return await this.addOrphan(block, hash, loc, marker)
      if (marker.length > 0) await this.ledger.db.batch(marker)
      throw err
    }
    const head0 = this.ledger.tip
    if (head0 !== null && tip.height + this.ledger.params.reorgBound <= head0.height) {
      // it forks more than K below the head: switchTo would refuse it, so it is not kept (as a stale orphan)
      if (marker.length > 0) await this.ledger.db.batch(marker)
      this.log('reorg-refused', { to: hash, depth: head0.height - tip.height + 1n, reorgBound: this.ledger.params.reorgBound, kept: false })
      return 'stale'
    }
    const entry = makeEntry(block, loc, tip)
    await this.ledger.putBlockEntry(entry, marker)
    await this.checkEquivocation(entry)
    let result: AddResult = 'stored'
    const head = this.ledger.tip
    if (head === null || compareTips(tip, head) < 0) {
      if (head !== null && tip.height === head.height && this.pastDecisionDeadline(tip.epoch)) {
        // preferred by its score only, and too late: first seen wins (a leader that withheld its block cannot
        // orphan the one the network settled on by publishing after the epoch; the next block decides anyway)
        this.log('late-sibling', { hash, height: tip.height, epoch: tip.epoch, head: toHex(head.hash) })
      } else {
        await this.switchTo(entry)
        result = toHex(this.ledger.tip?.hash ?? new Uint8Array()) === hash ? 'head' : 'stored'
      }
    }
    await this.adoptOrphans(hash)
    if (markIndexed) await this.prune() // once per block from a core, after the orphans it brought in
    return result
  }

  /** Forget side blocks and orphans that can no longer become best (node/side-branches.ts). */
  private async prune (): Promise<void> {
    const r = await pruneSideBranches(this.ledger)
    if (r.entries + r.orphans > 0) this.log('side-pruned', { entries: r.entries, orphans: r.orphans, height: this.ledger.height })
  }

  /**
   * The decision deadline of an epoch: its end plus the allowed clock drift. Until then a block on the same parent
   * with a better leader score replaces the head; after it, a same-height block no longer does.
   */
  private pastDecisionDeadline (epoch: bigint): boolean {
    return BigInt(this.now()) > epochStart(this.ledger.params, epoch + 1n) + MAX_CLOCK_DRIFT_MS
  }

  private async addOrphan (block: Block, hash: string, loc: BlockLocation, marker: BatchOp[]): Promise<AddResult> {
    const head = this.ledger.tip
    if (head !== null && block.header.height + this.ledger.params.reorgBound < head.height) {
      if (marker.length > 0) await this.ledger.db.batch(marker)
      return 'stale'
    }
    if (await this.ledger.orphanCount() >= MAX_ORPHANS || await this.ledger.orphanCount(loc.core) >= MAX_ORPHANS_PER_CORE) return 'deferred'
    await this.ledger.putOrphan(toHex(block.header.prevHash), hash, block.header.height, loc, marker)
    return 'orphan'
  }

  /** Blocks that waited for `parent`: index them now. */
  private async adoptOrphans (parent: string): Promise<void> {
    for (const child of await this.ledger.takeOrphans(parent)) {
      try {
        await this.addBlock(await this.readBlock(child), child, false)
      } catch (err) {
        if (!isEconumiError(err)) throw err
        this.log('orphan-invalid', { core: child.core, seq: child.seq, code: err.code })
      }
    }
  }

  /** Everything that can be checked without the ledger (verifyBlock), then height/epoch/time vs the parent. */
  private async statelessCheck (block: Block, hash: string, pre?: VerifiedBlock): Promise<ChainTip> {
    const h = block.header
    const params = this.ledger.params
    const { winner } = pre ?? verifyBlock(params, this.ledger.genesis, block)
    if (this.verified.size > 10_000) this.verified.clear()
    this.verified.set(hash, { winner }) // without the txids: 10,000 full blocks' worth would be GBs
    let parentBeacon = this.ledger.genesis
    if (equalBytes(h.prevHash, this.ledger.genesis)) {
      if (h.height !== 0n) fail('E_BLOCK_HEIGHT', 'first block must have height 0', { hash, height: h.height })
      if (!equalBytes(h.winner.beacon, parentBeacon)) fail('E_BLOCK_BEACON', 'leader claim is not on the parent\'s beacon', { hash })
    } else {
      const parent = await this.ledger.blockEntry(toHex(h.prevHash))
      if (parent === undefined) fail('E_PARENT_UNKNOWN', 'parent block not known yet', { hash })
      const m = parentMismatch(h, hash, parent)
      if (m !== null) fail(m.code, m.message, m.details)
      parentBeacon = Buffer.from(parent.beacon, 'hex')
    }
    const start = epochStart(params, h.epoch)
    if (h.time < start || h.time >= start + params.epochMs) fail('E_BLOCK_TIME', 'block time lies outside its epoch', { hash, time: h.time, epoch: h.epoch })
    return { hash: blockHash(h), height: h.height, epoch: h.epoch, beacon: nextBeacon(parentBeacon, winner.vrfOutput), score: { ticket: winner.ticket, weight: h.weight, total: h.totalWeight, vrfOutput: winner.vrfOutput } }
  }

  /**
   * Bulk sync's fast path: apply the longest prefix of `run` (consecutive blocks of one core, verified
   * statelessly already) that extends the current head block by block, and commit it in ONE ledger batch.
   * Returns how many blocks it took; the caller sends the rest through addBlock, which handles forks,
   * orphans, known blocks, equivocation and invalid blocks one at a time.
   */
  async extendHead (run: Array<{ block: Block, loc: BlockLocation, hash: string, pre: VerifiedBlock }>): Promise<number> {
    if (run.length === 0) return 0
    const head = this.ledger.tip
    const db = this.ledger.db
    const known = await db.getMany(run.map((c) => `block:${c.hash}`))
    const wonKeys = run.map((c) => wonKey(toHex(c.block.header.winner.nodeKey), c.block.header.epoch.toString()))
    const won = await db.getMany(wonKeys.map((k) => `meta:${k}`))
    const accounts = await this.ledger.accounts(new Set(run.flatMap((c) => touchedAddresses(c.block))))
    const nodes = await this.ledger.nodes(new Set(run.flatMap((c) => touchedNodes(c.block))))
    let totals = this.ledger.totals
    const items: Array<{ block: Block, location: BlockLocation, fx: BlockEffects }> = []
    const extra: BatchOp[] = []
    let tip = head
    for (let i = 0; i < run.length; i++) {
      const c = run[i]
      if (known[i] !== undefined || (won[i] !== undefined && won[i] !== c.hash)) break
      let fx: BlockEffects
      try {
        fx = applyBlock(this.ledger.viewOver(accounts, nodes, tip, totals), c.block, c.pre) // height, parent, epoch and time vs the head, then the body
      } catch (err) {
        if (!isEconumiError(err)) throw err
        break
      }
      for (const [a, ch] of fx.accounts) accounts.set(a, ch.after)
      for (const [k, ch] of fx.nodes) nodes.set(k, ch.after)
      totals = fx.totals.after
      items.push({ block: c.block, location: c.loc, fx })
      extra.push({ type: 'put', key: `meta:${wonKeys[i]}`, value: c.hash })
      tip = fx.tip
    }
    if (items.length === 0 || (head !== null && compareTips(tip!, head) >= 0)) return 0
    const last = items[items.length - 1].location
    extra.push(this.marker(last))
    await this.ledger.commitBlocks(items, extra)
    if (await this.ledger.hasOrphans()) for (const { fx } of items) await this.adoptOrphans(toHex(fx.hash))
    await this.prune()
    await this.events.onNewHead(this.ledger.tip!, items.map((x) => x.block))
    return items.length
  }

  /** Two different blocks won by one node in one epoch: keep both hashes as evidence. */
  private async checkEquivocation (entry: BlockIndexEntry): Promise<void> {
    const key = wonKey(entry.winner, entry.epoch)
    const prior = await this.ledger.getMeta(key)
    if (prior === undefined) { await this.ledger.putMeta(key, entry.hash); return }
    if (prior !== entry.hash) {
      await this.ledger.putEvidence(entry.winner, entry.epoch, [prior, entry.hash])
      this.log('equivocation', { node: entry.winner, epoch: entry.epoch, blocks: `${prior},${entry.hash}` })
      const first = await this.ledger.blockEntry(prior)
      if (first !== undefined && this.events.onEquivocation !== undefined) {
        try {
          await this.events.onEquivocation(await this.readBlock(first), await this.readBlock(entry))
        } catch (err) {
          if (!isEconumiError(err)) throw err
          this.log('evidence-not-pooled', { node: entry.winner, epoch: entry.epoch, code: err.code })
        }
      }
    }
  }

  private async isCanonical (e: BlockIndexEntry): Promise<boolean> {
    return (await this.ledger.hashAtHeight(BigInt(e.height))) === e.hash
  }

  /** Tell the node about a new head this node made itself (commitOwn). */
  async announceHead (tip: ChainTip, blocks: Block[]): Promise<void> { await this.events.onNewHead(tip, blocks) }

  /** Fast path for a block this node just built on its head and already applied. */
  async commitOwn (block: Block, loc: BlockLocation, fx: BlockEffects): Promise<void> {
    await this.ledger.commitBlock(block, loc, fx, [this.marker(loc)])
    await this.checkEquivocation(makeEntry(block, loc, fx.tip))
    await this.prune()
  }

  /**
   * Make `target` the head: roll back to the common ancestor, then apply the new branch block by block. A switch
   * that would roll back more than K blocks (the genesis' reorg bound) is refused and logged (Praos' k, Bitcoin
   * Core's checkpoints): blocks that deep are final here.
   */
  async switchTo (target: BlockIndexEntry, enforceBound = true): Promise<void> {
    const path: BlockIndexEntry[] = []
    let e: BlockIndexEntry | undefined = target
    while (e !== undefined && !(await this.isCanonical(e))) {
      path.unshift(e)
      e = e.prevHash === this.genesisHex ? undefined : await this.ledger.blockEntry(e.prevHash)
      if (e?.invalid !== undefined) return
    }
    const forkHeight = e === undefined ? -1n : BigInt(e.height)
    const oldTip = this.ledger.tip
    if (enforceBound && oldTip !== null && oldTip.height - forkHeight > this.ledger.params.reorgBound) {
      this.log('reorg-refused', { to: target.hash, depth: oldTip.height - forkHeight, reorgBound: this.ledger.params.reorgBound })
      return
    }
    const orphaned: Transaction[] = []
    const orphanedReports: WorkReport[] = []
    const rolledBack: BlockIndexEntry[] = []
    while (this.ledger.height > forkHeight) {
      const cur = await this.ledger.blockEntry(toHex(this.ledger.tip!.hash))
      if (cur === undefined) fail('E_LEDGER_CORRUPT', 'canonical block missing from the index')
      const ob = await this.readBlock(cur)
      orphaned.push(...ob.txs)
      orphanedReports.push(...ob.reports)
      rolledBack.unshift(cur)
      await this.ledger.rollbackTip()
    }
    const applied: Block[] = []
    for (const step of path) {
      const block = await this.readBlock(step)
      let fx: BlockEffects
      try {
        const pre = this.verified.get(step.hash)
        fx = applyBlock(await this.ledger.view(touchedAddresses(block), touchedNodes(block)), block, pre !== undefined && toHex(blockHash(block.header)) === step.hash ? pre : undefined)
        this.verified.delete(step.hash)
      } catch (err) {
        if (!isEconumiError(err)) throw err
        this.log('block-invalid', { hash: step.hash, height: step.height, code: err.code, error: err.message })
        await this.ledger.putBlockEntry({ ...step, invalid: err.code })
        // restore the best remaining chain (the old one, unless something better is known)
        const best = await this.bestTip()
        if (best !== null && best.hash !== toHex(this.ledger.tip?.hash ?? new Uint8Array())) await this.switchTo(best, false)
        await this.events.onOrphanedTxs(orphaned, orphanedReports)
        return
      }
      await this.ledger.commitBlock(block, step, fx)
      applied.push(block)
    }
    if (rolledBack.length > 0) this.log('reorg', { from: oldTip === null ? '' : toHex(oldTip.hash), to: target.hash, rolledBack: rolledBack.length, applied: applied.length })
    if (orphaned.length > 0) await this.events.onOrphanedTxs(orphaned, [])
    if (applied.length > 0) await this.events.onNewHead(this.ledger.tip!, applied)
    // after the new head, so the reports the new chain already holds are refused as stale
    if (orphanedReports.length > 0) await this.events.onOrphanedTxs([], orphanedReports)
  }

  /**
   * The best known tip by fork choice that is not invalid (nor built on an invalid block, nor on a pruned one).
   * PERF: fork choice ranks height first, so this reads the by-height index from the top down and stops at the
   * first height holding a good tip; the head is one, so it reads the levels above the head and the head's own,
   * and walks each side block down to the canonical chain (within K, as pruning keeps it), not every entry.
   */
  async bestTip (): Promise<BlockIndexEntry | null> {
    const good = new Map<string, boolean>()
    const isGood = async (x: BlockIndexEntry): Promise<boolean> => {
      const path: string[] = []
      let cur: BlockIndexEntry | undefined = x
      let result = false
      while (cur !== undefined) {
        const known = good.get(cur.hash)
        if (known !== undefined) { result = known; break }
        path.push(cur.hash)
        if (cur.invalid !== undefined) break
        if (cur.prevHash === this.genesisHex || await this.isCanonical(cur)) { result = true; break }
        cur = await this.ledger.blockEntry(cur.prevHash) // undefined: pruned, its branch forked too deep
      }
      for (const p of path) good.set(p, result)
      return result
    }
    const bestOf = async (hashes: string[]): Promise<BlockIndexEntry | null> => {
      const level: BlockIndexEntry[] = []
      for (const e of await this.ledger.blockEntries(hashes)) if (e !== undefined && await isGood(e)) level.push(e)
      const tips = level.map(entryToTip)
      const head = chooseHead(tips)
      return head === null ? null : level[tips.indexOf(head)]
    }
    let height: bigint | null = null
    let hashes: string[] = []
    for await (const k of this.ledger.hashesByHeight(0n, undefined, true)) {
      if (k.height !== height) {
        const best = await bestOf(hashes)
        if (best !== null) return best
        height = k.height
        hashes = []
      }
      hashes.push(k.hash)
    }
    return await bestOf(hashes)
  }

  /** After a restart: make sure the ledger follows the best known chain. */
  async reconcile (): Promise<void> {
    const best = await this.bestTip()
    const tip = this.ledger.tip
    if (best !== null && (tip === null || compareTips(entryToTip(best), tip) < 0)) await this.switchTo(best)
    await this.prune() // finishes a pass a crash cut short, and sweeps an index from before pruning
  }
}

