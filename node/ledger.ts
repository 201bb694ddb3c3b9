// The ledger index in LevelDB: balances, nonces, height → hash, block and transaction locations,
// per-block undo records and the persisted mempool. It is derived state: `reindex` rebuilds it
// from the cores. Every block is committed in ONE LevelDB batch, so a crash leaves it either
// before or after the block, never in between.
// One file on purpose: every index key and the one per-block batch that writes (and undoes) it change together.
import { ClassicLevel } from 'classic-level'
import { type Account, type AccountChange, type BlockEffects, type ChainTip, EMPTY_ACCOUNT, type LedgerView, genesisAccounts } from '../protocol/state.js'
import { EMPTY_NODE_RECORD, EMPTY_TOTALS, type NodeRecord, type Registration, type WeightTotals } from '../protocol/weights.js'
import type { Block } from '../protocol/block.js'
import type { NetworkParams } from '../protocol/params.js'
import { EconumiError, fail, isEconumiError } from '../protocol/errors.js'
import { toHex } from '../protocol/encoding.js'
import type { LogFn } from './log.js'

/** Where a block's bytes live: a core (by key) and an index in it. */
export interface BlockLocation { core: string, seq: number }

/** Every known block, canonical or not: where it lives and what fork choice needs to rank it. */
export interface BlockIndexEntry extends BlockLocation {
  hash: string
  prevHash: string
  height: string
  epoch: string
  beacon: string
  ticket: string
  weight: string
  total: string
  vrfOutput: string
  winner: string
  invalid?: string // the error code, once applying it failed
}

export function entryToTip (e: BlockIndexEntry): ChainTip {
  return { hash: Buffer.from(e.hash, 'hex'), height: BigInt(e.height), epoch: BigInt(e.epoch), beacon: Buffer.from(e.beacon, 'hex'), score: { ticket: BigInt(e.ticket), weight: BigInt(e.weight), total: BigInt(e.total), vrfOutput: Buffer.from(e.vrfOutput, 'hex') } }
}

export function makeEntry (block: Block, location: BlockLocation, tip: ChainTip): BlockIndexEntry {
  return {
    ...location,
    hash: toHex(tip.hash),
    prevHash: toHex(block.header.prevHash),
    height: tip.height.toString(),
    epoch: tip.epoch.toString(),
    beacon: toHex(tip.beacon),
    ticket: tip.score.ticket.toString(),
    weight: tip.score.weight.toString(),
    total: tip.score.total.toString(),
    vrfOutput: toHex(tip.score.vrfOutput),
    winner: toHex(block.header.winner.nodeKey)
  }
}

export interface TxLocation { blockHash: string, height: string, index: number }

type BatchOp = { type: 'put', key: string, value: string } | { type: 'del', key: string }

const hex16 = (h: bigint): string => h.toString(16).padStart(16, '0')
const heightKey = (h: bigint): string => `height:${hex16(h)}`
/** Every indexed block (canonical or not) by height, so fork choice and pruning read a height range, not every entry. */
export const byHeightKey = (h: bigint, hash: string): string => `byheight:${hex16(h)}:${hash}`
/** Orphans by height, so the ones that can no longer join the chain are found without reading the pool. */
const orphanHeightKey = (h: bigint, prevHash: string, hash: string): string => `orphanh:${hex16(h)}:${prevHash}:${hash}`
/**
 * Layout version of the index: 2 added the by-height keys. An older ledger gets them built at open (one pass over
 * the block entries), since only they are new and every block entry carries its height.
 */
const INDEX_VERSION = '2'

function tipToJson (t: ChainTip): string {
  return JSON.stringify({ hash: toHex(t.hash), height: t.height.toString(), epoch: t.epoch.toString(), beacon: toHex(t.beacon), score: { ticket: t.score.ticket.toString(), weight: t.score.weight.toString(), total: t.score.total.toString(), vrfOutput: toHex(t.score.vrfOutput) } })
}

function tipFromJson (s: string): ChainTip {
  const j = JSON.parse(s)
  return { hash: Buffer.from(j.hash, 'hex'), height: BigInt(j.height), epoch: BigInt(j.epoch), beacon: Buffer.from(j.beacon, 'hex'), score: { ticket: BigInt(j.score.ticket), weight: BigInt(j.score.weight), total: BigInt(j.score.total), vrfOutput: Buffer.from(j.score.vrfOutput, 'hex') } }
}

const accountToJson = (a: Account): string => JSON.stringify([a.balance.toString(), a.nonce.toString()])
function accountFromJson (s: string): Account { const [b, n] = JSON.parse(s); return { balance: BigInt(b), nonce: BigInt(n) } }

const bucketsToJson = (b: Array<[bigint, bigint]>): string[][] => b.map(([e, cu]) => [e.toString(), cu.toString()])
const bucketsFromJson = (b: string[][]): Array<[bigint, bigint]> => b.map(([e, cu]) => [BigInt(e), BigInt(cu)])
function registrationToJson (r: Registration | null): Record<string, string> | null {
  return r === null ? null : { mc: r.millicores.toString(), mem: r.memoryBytes.toString(), bond: r.bond.toString(), owner: r.owner, since: r.since.toString(), unbond: r.unbondEnd.toString() }
}
function registrationFromJson (j: Record<string, string> | null | undefined): Registration | null {
  return j === null || j === undefined ? null : { millicores: BigInt(j.mc), memoryBytes: BigInt(j.mem), bond: BigInt(j.bond), owner: j.owner, since: BigInt(j.since), unbondEnd: BigInt(j.unbond) }
}
const nodeToJson = (n: NodeRecord): string => JSON.stringify({ last: n.lastReportEpoch.toString(), buckets: bucketsToJson(n.buckets), won: n.blocksWon.toString(), seq: n.seq.toString(), reg: registrationToJson(n.registration), ejected: n.ejected, slashed: n.slashed.toString() })
function nodeFromJson (s: string): NodeRecord {
  const j = JSON.parse(s)
  return { lastReportEpoch: BigInt(j.last), buckets: bucketsFromJson(j.buckets), blocksWon: BigInt(j.won), seq: BigInt(j.seq ?? 0), registration: registrationFromJson(j.reg), ejected: j.ejected === true, slashed: BigInt(j.slashed ?? 0) }
}
const totalsToJson = (t: WeightTotals): string => JSON.stringify(bucketsToJson(t.buckets))
const totalsFromJson = (s: string): WeightTotals => ({ buckets: bucketsFromJson(JSON.parse(s)) })
/**
 * A LevelDB failure as a stable error that says what to do, or null for anything else. The ledger is derived
 * state, so damage to it (a truncated .ldb, a garbage CURRENT) is repaired by `econumi reindex`.
 */
export function ledgerStorageError (err: unknown, dir: string): EconumiError | null {
  if (isEconumiError(err)) return null
  const e = err as { code?: string, message?: string, cause?: { code?: string, message?: string } } | null
  const code = e?.cause?.code ?? e?.code
  const detail = String(e?.cause?.message ?? e?.message ?? '').slice(0, 300)
  if (code === 'LEVEL_LOCKED') return new EconumiError('E_LEDGER_LOCKED', 'the ledger is in use by another process (is the node running?)', { dir })
  if (code !== 'LEVEL_CORRUPTION' && code !== 'LEVEL_IO_ERROR') return null
  if (/permission denied/i.test(detail)) return new EconumiError('E_DATA_ACCESS', `cannot read the ledger in ${dir} (${detail}); run as the user that owns the data directory`, { dir })
  return new EconumiError('E_LEDGER_CORRUPT', `the ledger index in ${dir} is damaged (${detail}); stop the node and run \`econumi reindex\` to rebuild it from the blocks`, { dir })
}

export class Ledger {
  private tipCache: ChainTip | null = null
  private totalsCache: WeightTotals = EMPTY_TOTALS
  // node records (weights and blocks won) are few next to accounts; cached the same way
  private readonly nodeCache = new Map<string, NodeRecord>()
  // PERF: a read-through cache of accounts; every write goes through commitBlock, which updates it.
  private readonly accountCache = new Map<string, Account>()
  private static readonly CACHE_MAX = 200_000

  private constructor (readonly db: ClassicLevel<string, string>, readonly params: NetworkParams, readonly genesis: Uint8Array, readonly dir: string) {}

  static async open (dir: string, params: NetworkParams, genesis: Uint8Array, log: LogFn = () => {}): Promise<Ledger> {
    const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    try {
      await db.open()
    } catch (err) {
      throw ledgerStorageError(err, dir) ?? err
    }
    try {
      return await Ledger.init(db, dir, params, genesis, log)
    } catch (err) {
      const mapped = ledgerStorageError(err, dir)
      if (mapped === null) throw err
      await db.close().catch(() => {})
      throw mapped
    }
  }

  private static async init (db: ClassicLevel<string, string>, dir: string, params: NetworkParams, genesis: Uint8Array, log: LogFn): Promise<Ledger> {
    const ledger = new Ledger(db, params, genesis, dir)
    const stored = await db.get('meta:genesis')
    if (stored === undefined) {
      const ops: BatchOp[] = [{ type: 'put', key: 'meta:genesis', value: toHex(genesis) }, { type: 'put', key: 'meta:index', value: INDEX_VERSION }]
      for (const [addr, acct] of genesisAccounts(params)) ops.push({ type: 'put', key: `acct:${addr}`, value: accountToJson(acct) })
      await db.batch(ops)
    } else if (stored !== toHex(genesis)) {
      await db.close()
      fail('E_GENESIS_MISMATCH', 'the ledger belongs to another network', { stored, expected: toHex(genesis) })
    } else if (await db.get('meta:index') !== INDEX_VERSION) {
      await Ledger.buildHeightIndex(db, log)
    }
    const tip = await db.get('meta:tip')
    ledger.tipCache = tip === undefined ? null : tipFromJson(tip)
    const totals = await db.get('meta:weights')
    ledger.totalsCache = totals === undefined ? EMPTY_TOTALS : totalsFromJson(totals)
    return ledger
  }

  /**
   * The one-time migration of a ledger from before the by-height index: a key per block entry, in batches. The
   * version is written with the last batch, so a crash part way through builds it again from the start (the puts
   * are idempotent).
   */
  private static async buildHeightIndex (db: ClassicLevel<string, string>, log: LogFn): Promise<void> {
    const BATCH = 10_000
    let ops: BatchOp[] = []
    let done = 0
    log('ledger-migrate', { step: 'by-height index', state: 'started' })
    for await (const v of db.values({ gte: 'block:', lt: 'block;' })) {
      const e = JSON.parse(v) as BlockIndexEntry
      ops.push({ type: 'put', key: byHeightKey(BigInt(e.height), e.hash), value: '' })
      if (ops.length >= BATCH) {
        await db.batch(ops)
        done += ops.length
        ops = []
        log('ledger-migrate', { step: 'by-height index', state: 'progress', entries: done })
      }
    }
    done += ops.length
    ops.push({ type: 'put', key: 'meta:index', value: INDEX_VERSION })
    await db.batch(ops)
    log('ledger-migrate', { step: 'by-height index', state: 'done', entries: done })
  }

  async close (): Promise<void> { await this.db.close() }

  get tip (): ChainTip | null { return this.tipCache }

  /** The tip height, -1 before the first block. */
  get height (): bigint { return this.tipCache?.height ?? -1n }

  /** A read through one of the caches (cleared when it is full): the stored `<prefix><key>`, or `empty` before one is written. */
  private async readThrough<T> (cache: Map<string, T>, prefix: string, key: string, empty: T, fromJson: (s: string) => T): Promise<T> {
    const cached = cache.get(key)
    if (cached !== undefined) return cached
    const v = await this.db.get(`${prefix}${key}`)
    const value = v === undefined ? empty : fromJson(v)
    if (cache.size >= Ledger.CACHE_MAX) cache.clear()
    cache.set(key, value)
    return value
  }

  account (address: string): Promise<Account> { return this.readThrough(this.accountCache, 'acct:', address, EMPTY_ACCOUNT, accountFromJson) }

  get totals (): WeightTotals { return this.totalsCache }

  node (nodeKey: string): Promise<NodeRecord> { return this.readThrough(this.nodeCache, 'node:', nodeKey, EMPTY_NODE_RECORD, nodeFromJson) }

  async nodes (keys: Iterable<string>): Promise<Map<string, NodeRecord>> {
    const out = new Map<string, NodeRecord>()
    await Promise.all([...keys].map(async (k) => { out.set(k, await this.node(k)) }))
    return out
  }

  /** Every node with a record (it led a block or reported work), for `econumi nodes`. */
  async allNodes (): Promise<Array<{ nodeKey: string, record: NodeRecord }>> {
    const out: Array<{ nodeKey: string, record: NodeRecord }> = []
    for await (const [k, v] of this.db.iterator({ gte: 'node:', lt: 'node;' })) out.push({ nodeKey: k.slice(5), record: nodeFromJson(v) })
    return out
  }

  /** The cached account, if present; lets callers decide without yielding to the event loop. */
  accountCached (address: string): Account | undefined { return this.accountCache.get(address) }

  /** These accounts, read concurrently (cache first). */
  async accounts (addresses: Iterable<string>): Promise<Map<string, Account>> {
    const accounts = new Map<string, Account>()
    await Promise.all([...addresses].map(async (a) => { accounts.set(a, await this.account(a)) }))
    return accounts
  }

  /** A synchronous view for applyBlock over these accounts and node records, preloaded. */
  async view (addresses: string[], nodeKeys: string[]): Promise<LedgerView> {
    return this.viewOver(await this.accounts(addresses), await this.nodes(nodeKeys))
  }

  /** A view over accounts and node records the caller preloaded (and may update between blocks), on `tip`. */
  viewOver (accounts: Map<string, Account>, nodes: Map<string, NodeRecord>, tip: ChainTip | null = this.tipCache, totals: WeightTotals = this.totalsCache): LedgerView {
    return {
      params: this.params,
      genesis: this.genesis,
      tip,
      totals,
      account: (a: string) => {
        const acct = accounts.get(a)
        if (acct === undefined) fail('E_INTERNAL', 'account was not preloaded', { address: a })
        return acct
      },
      node: (k: string) => {
        const rec = nodes.get(k)
        if (rec === undefined) fail('E_INTERNAL', 'node record was not preloaded', { node: k })
        return rec
      }
    }
  }

  /**
   * A view of the state before the tip block (the tip's undo record over the current state): for a leader that
   * holds a better claim than the tip for the tip's own parent and epoch.
   */
  async viewBeforeTip (addresses: string[], nodeKeys: string[]): Promise<LedgerView> {
    const tip = this.tipCache
    if (tip === null) fail('E_LEDGER_EMPTY', 'no tip block')
    const raw = await this.db.get(`undo:${toHex(tip.hash)}`)
    if (raw === undefined) fail('E_LEDGER_UNDO', 'undo record missing', { hash: toHex(tip.hash) })
    const undo = JSON.parse(raw) as { accounts: Record<string, string>, nodes: Record<string, string>, totals: string, tip: string | null }
    const accounts = await this.accounts(addresses)
    for (const a of addresses) if (undo.accounts[a] !== undefined) accounts.set(a, accountFromJson(undo.accounts[a]))
    const nodes = await this.nodes(nodeKeys)
    for (const k of nodeKeys) if (undo.nodes[k] !== undefined) nodes.set(k, nodeFromJson(undo.nodes[k]))
    return this.viewOver(accounts, nodes, undo.tip === null ? null : tipFromJson(undo.tip), totalsFromJson(undo.totals))
  }

  /** Commit a block's effects, its index entries, its undo record and the mempool cleanup atomically. */
  async commitBlock (block: Block, location: BlockLocation, fx: BlockEffects, extra: BatchOp[] = []): Promise<void> {
    await this.commitBlocks([{ block, location, fx }], extra)
  }

  /**
   * Commit a run of blocks, each building on the one before (the first on the tip), in ONE batch: a crash
   * leaves the ledger before the run or after it. Each block keeps its own undo record.
   */
  async commitBlocks (items: Array<{ block: Block, location: BlockLocation, fx: BlockEffects }>, extra: BatchOp[] = []): Promise<void> {
    if (items.length === 0) return
    const ops: BatchOp[] = [...extra]
    let prevTip = this.tipCache
    let totals = this.totalsCache
    for (const { block, location, fx } of items) {
      const hash = toHex(fx.hash)
      const undo: Record<string, string> = {}
      for (const [addr, ch] of fx.accounts) {
        ops.push({ type: 'put', key: `acct:${addr}`, value: accountToJson(ch.after) })
        undo[addr] = accountToJson(ch.before)
      }
      const undoNodes: Record<string, string> = {}
      for (const [k, ch] of fx.nodes) {
        ops.push({ type: 'put', key: `node:${k}`, value: nodeToJson(ch.after) })
        undoNodes[k] = nodeToJson(ch.before)
      }
      totals = fx.totals.after
      const entry = makeEntry(block, location, fx.tip)
      const txids = fx.txids.map(toHex)
      ops.push({ type: 'put', key: heightKey(fx.tip.height), value: hash })
      ops.push({ type: 'put', key: `block:${hash}`, value: JSON.stringify(entry) })
      ops.push({ type: 'put', key: byHeightKey(fx.tip.height, hash), value: '' })
      ops.push({ type: 'put', key: `undo:${hash}`, value: JSON.stringify({ accounts: undo, nodes: undoNodes, totals: totalsToJson(fx.totals.before), tip: prevTip === null ? null : tipToJson(prevTip), txids }) })
      txids.forEach((txid, index) => {
        ops.push({ type: 'put', key: `tx:${txid}`, value: JSON.stringify({ blockHash: hash, height: fx.tip.height.toString(), index }) })
        ops.push({ type: 'del', key: `mempool:${txid}` })
      })
      prevTip = fx.tip
    }
    ops.push({ type: 'put', key: 'meta:tip', value: tipToJson(prevTip!) })
    ops.push({ type: 'put', key: 'meta:weights', value: totalsToJson(totals) })
    await this.db.batch(ops)
    this.tipCache = prevTip
    this.totalsCache = totals
    for (const { fx } of items) {
      for (const [addr, ch] of fx.accounts) this.accountCache.set(addr, ch.after)
      for (const [k, ch] of fx.nodes) this.nodeCache.set(k, ch.after)
    }
  }

  /** Undo the tip block (for reorganisations). Returns the txids it contained. */
  async rollbackTip (): Promise<string[]> {
    const tip = this.tipCache
    if (tip === null) fail('E_LEDGER_EMPTY', 'no block to roll back')
    const hash = toHex(tip.hash)
    const raw = await this.db.get(`undo:${hash}`)
    if (raw === undefined) fail('E_LEDGER_UNDO', 'undo record missing', { hash })
    const undo = JSON.parse(raw) as { accounts: Record<string, string>, nodes: Record<string, string>, totals: string, tip: string | null, txids: string[] }
    const ops: BatchOp[] = []
    for (const [addr, acct] of Object.entries(undo.accounts)) ops.push({ type: 'put', key: `acct:${addr}`, value: acct })
    for (const [k, rec] of Object.entries(undo.nodes)) ops.push({ type: 'put', key: `node:${k}`, value: rec })
    ops.push({ type: 'put', key: 'meta:weights', value: undo.totals })
    for (const id of undo.txids) ops.push({ type: 'del', key: `tx:${id}` })
    ops.push({ type: 'del', key: heightKey(tip.height) })
    ops.push({ type: 'del', key: `undo:${hash}` })
    ops.push(undo.tip === null ? { type: 'del', key: 'meta:tip' } : { type: 'put', key: 'meta:tip', value: undo.tip })
    await this.db.batch(ops)
    this.tipCache = undo.tip === null ? null : tipFromJson(undo.tip)
    this.totalsCache = totalsFromJson(undo.totals)
    for (const [addr, acct] of Object.entries(undo.accounts)) this.accountCache.set(addr, accountFromJson(acct))
    for (const [k, rec] of Object.entries(undo.nodes)) this.nodeCache.set(k, nodeFromJson(rec))
    return undo.txids
  }

  async hashAtHeight (height: bigint): Promise<string | undefined> {
    if (height < 0n) return undefined
    return await this.db.get(heightKey(height))
  }

  async blockEntry (hash: string): Promise<BlockIndexEntry | undefined> {
    const v = await this.db.get(`block:${hash}`)
    return v === undefined ? undefined : JSON.parse(v)
  }

  async putBlockEntry (entry: BlockIndexEntry, extra: BatchOp[] = []): Promise<void> {
    await this.db.batch([...extra, { type: 'put', key: `block:${entry.hash}`, value: JSON.stringify(entry) }, { type: 'put', key: byHeightKey(BigInt(entry.height), entry.hash), value: '' }])
  }

  /** The hashes of indexed blocks with from ≤ height < to (to: no bound), by height; highest first when `reverse`. */
  async *hashesByHeight (from: bigint, to?: bigint, reverse = false): AsyncGenerator<{ height: bigint, hash: string }> {
    const range = { gte: `byheight:${hex16(from < 0n ? 0n : from)}`, lt: to === undefined ? 'byheight;' : `byheight:${hex16(to)}`, reverse }
    for await (const k of this.db.keys(range)) yield { height: BigInt(`0x${k.slice(9, 25)}`), hash: k.slice(26) }
  }

  /** The canonical hash at each height in [from, to], one range read. */
  async canonicalRange (from: bigint, to: bigint): Promise<Map<bigint, string>> {
    const out = new Map<bigint, string>()
    if (to < from) return out
    for await (const [k, v] of this.db.iterator({ gte: heightKey(from < 0n ? 0n : from), lte: heightKey(to) })) out.set(BigInt(`0x${k.slice(7)}`), v)
    return out
  }

  async blockEntries (hashes: string[]): Promise<Array<BlockIndexEntry | undefined>> {
    if (hashes.length === 0) return []
    return (await this.db.getMany(hashes.map((h) => `block:${h}`))).map((v) => v === undefined ? undefined : JSON.parse(v))
  }

  /** The ops that forget a (non-canonical) block: its entry, its by-height key. */
  static forgetEntryOps (e: BlockIndexEntry): BatchOp[] {
    return [{ type: 'del', key: `block:${e.hash}` }, { type: 'del', key: byHeightKey(BigInt(e.height), e.hash) }]
  }

  /** Orphans waiting, in all and per core (counted once from the database, then kept up to date). */
  private orphanCounts: { total: number, perCore: Map<string, number> } | null = null

  async orphanCount (core?: string): Promise<number> {
    if (this.orphanCounts === null) {
      const perCore = new Map<string, number>()
      let total = 0
      for await (const v of this.db.values({ gte: 'orphan:', lt: 'orphan;' })) {
        const c = (JSON.parse(v) as BlockLocation).core
        perCore.set(c, (perCore.get(c) ?? 0) + 1)
        total++
      }
      this.orphanCounts = { total, perCore }
    }
    return core === undefined ? this.orphanCounts.total : this.orphanCounts.perCore.get(core) ?? 0
  }

  private countOrphans (core: string, delta: number): void {
    if (this.orphanCounts === null) return
    const n = (this.orphanCounts.perCore.get(core) ?? 0) + delta
    if (n <= 0) this.orphanCounts.perCore.delete(core); else this.orphanCounts.perCore.set(core, n)
    this.orphanCounts.total += delta
  }

  /** A block whose parent is not known yet, remembered durably until the parent arrives. */
  async putOrphan (prevHash: string, hash: string, height: bigint, location: BlockLocation, extra: BatchOp[] = []): Promise<void> {
    await this.orphanCount()
    const key = `orphan:${prevHash}:${hash}`
    const had = await this.db.get(key) !== undefined
    await this.db.batch([...extra,
      { type: 'put', key, value: JSON.stringify({ core: location.core, seq: location.seq, height: height.toString() }) },
      { type: 'put', key: orphanHeightKey(height, prevHash, hash), value: location.core }])
    if (!had) this.countOrphans(location.core, 1)
  }

  /**
   * Forget the orphans below `height`: they could only join the chain on a branch forking deeper than the reorg
   * bound. Orphans stored before heights were recorded have no height key and stay (the pool bounds them).
   */
  async pruneOrphansBelow (height: bigint): Promise<number> {
    await this.orphanCount()
    const ops: BatchOp[] = []
    const cores: string[] = []
    for await (const [k, core] of this.db.iterator({ gte: 'orphanh:', lt: `orphanh:${hex16(height < 0n ? 0n : height)}` })) {
      const [, , prevHash, hash] = k.split(':')
      ops.push({ type: 'del', key: k }, { type: 'del', key: `orphan:${prevHash}:${hash}` })
      cores.push(core)
    }
    if (ops.length === 0) return 0
    await this.db.batch(ops)
    for (const c of cores) this.countOrphans(c, -1)
    return cores.length
  }

  /** Whether any block waits for its parent (lets bulk sync skip a lookup per block). */
  async hasOrphans (): Promise<boolean> {
    return await this.orphanCount() > 0
  }

  async takeOrphans (prevHash: string): Promise<BlockLocation[]> {
    await this.orphanCount()
    const out: Array<{ hash: string, loc: BlockLocation, height?: string }> = []
    for await (const [k, v] of this.db.iterator({ gte: `orphan:${prevHash}:`, lt: `orphan:${prevHash};` })) {
      const o = JSON.parse(v) as { core: string, seq: number, height?: string }
      out.push({ hash: k.slice(k.lastIndexOf(':') + 1), loc: { core: o.core, seq: o.seq }, height: o.height })
    }
    const ops: BatchOp[] = []
    for (const o of out) {
      ops.push({ type: 'del', key: `orphan:${prevHash}:${o.hash}` })
      if (o.height !== undefined) ops.push({ type: 'del', key: orphanHeightKey(BigInt(o.height), prevHash, o.hash) })
    }
    if (ops.length > 0) await this.db.batch(ops)
    for (const o of out) this.countOrphans(o.loc.core, -1)
    return out.map((o) => o.loc)
  }

  async putEvidence (node: string, epoch: string, hashes: string[]): Promise<void> {
    await this.db.put(`evidence:${node}:${epoch}`, JSON.stringify(hashes))
  }

  async listEvidence (): Promise<Array<{ node: string, epoch: string, blocks: string[] }>> {
    const out = []
    for await (const [k, v] of this.db.iterator({ gte: 'evidence:', lt: 'evidence;' })) {
      const [, node, epoch] = k.split(':')
      out.push({ node, epoch, blocks: JSON.parse(v) as string[] })
    }
    return out
  }

  async txLocation (txid: string): Promise<TxLocation | undefined> {
    const v = await this.db.get(`tx:${txid}`)
    return v === undefined ? undefined : JSON.parse(v)
  }

  async getMeta (key: string): Promise<string | undefined> { return await this.db.get(`meta:${key}`) }
  async putMeta (key: string, value: string): Promise<void> { await this.db.put(`meta:${key}`, value) }

  async putMempool (entries: Array<{ txid: string, bytes: Uint8Array }>): Promise<void> {
    await this.db.batch(entries.map((e) => ({ type: 'put' as const, key: `mempool:${e.txid}`, value: Buffer.from(e.bytes).toString('hex') })))
  }

  async deleteMempool (txids: string[]): Promise<void> {
    await this.db.batch(txids.map((id) => ({ type: 'del' as const, key: `mempool:${id}` })))
  }

  async listMempool (): Promise<Array<{ txid: string, bytes: Uint8Array }>> {
    const out: Array<{ txid: string, bytes: Uint8Array }> = []
    for await (const [k, v] of this.db.iterator({ gte: 'mempool:', lt: 'mempool;' })) out.push({ txid: k.slice(8), bytes: Buffer.from(v, 'hex') })
    return out
  }

  /** Sum of all balances: a consistency check (must equal allocations + rewards). */
  async totalBalance (): Promise<bigint> {
    let total = 0n
    for await (const v of this.db.values({ gte: 'acct:', lt: 'acct;' })) total += accountFromJson(v).balance
    return total
  }
}

export type { AccountChange, BatchOp }
