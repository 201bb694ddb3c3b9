// The mempool: transactions validated on admission (signature, nonce order, balance), persisted in
// the ledger before they are acknowledged, so an acknowledged transaction survives kill -9.
// Bounded like Bitcoin Core's: when full, the cheapest transaction is evicted (with the same sender's
// later nonces, which cannot be mined without it) and a minimum fee that rises after each eviction and
// decays over time keeps an attacker from churning the pool at the minimum fee. Every transaction has the
// same size (TX_LENGTH), so the fee is the fee rate.
import { eco } from '../protocol/amount.js'
import { toHex } from '../protocol/encoding.js'
import { fail, isEconumiError } from '../protocol/errors.js'
import type { Account } from '../protocol/state.js'
import { type Transaction, checkTransaction, decodeTransaction, senderAddress, transactionIdOfBytes } from '../protocol/transaction.js'
import type { Ledger } from './ledger.js'

export interface MempoolEntry {
  txid: string
  tx: Transaction
  bytes: Uint8Array
  from: string
  cost: bigint
  /** Admission order: among equal fees, the older is mined first and evicted last. */
  seq: number
  /** Position in the eviction heap (internal). */
  heapPos: number
}

export const MEMPOOL_MAX = 100_000
/** Most pending transactions one sender may have: one account can hold at most 1% of the pool. */
export const MAX_PENDING_PER_SENDER = 1000
/** The minimum fee raised by an eviction halves over this time (Bitcoin Core: 12 h for a far larger pool). */
export const MIN_FEE_HALF_LIFE_MS = 10 * 60_000

export interface MempoolOptions {
  capacity?: number
  maxPerSender?: number
  now?: () => number
}

/** One sender's pending transactions, sorted by nonce, and the sum of their costs (amount + fee). */
interface SenderQueue { entries: MempoolEntry[], cost: bigint }

/** A binary heap; `onMove` tells an element its index, so it can be removed from the middle. */
class Heap<T> {
  private readonly a: T[] = []
  constructor (private readonly before: (x: T, y: T) => boolean, private readonly onMove: (x: T, i: number) => void = () => {}) {}
  get size (): number { return this.a.length }
  peek (): T | undefined { return this.a[0] }
  push (x: T): void { this.a.push(x); this.onMove(x, this.a.length - 1); this.up(this.a.length - 1) }
  pop (): T | undefined { const top = this.a[0]; if (top !== undefined) this.removeAt(0); return top }
  removeAt (i: number): void {
    const last = this.a.pop()!
    if (i === this.a.length) return
    this.a[i] = last
    this.onMove(last, i)
    this.down(i)
    this.up(i)
  }

  private swap (i: number, j: number): void {
    const x = this.a[i]; this.a[i] = this.a[j]; this.a[j] = x
    this.onMove(this.a[i], i); this.onMove(this.a[j], j)
  }

  private up (i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.before(this.a[i], this.a[p])) return
      this.swap(i, p); i = p
    }
  }

  private down (i: number): void {
    for (;;) {
      const l = 2 * i + 1; const r = l + 1
      let m = i
      if (l < this.a.length && this.before(this.a[l], this.a[m])) m = l
      if (r < this.a.length && this.before(this.a[r], this.a[m])) m = r
      if (m === i) return
      this.swap(i, m); i = m
    }
  }
}

/** The eviction order: lowest fee first; among equal fees, the newest first. */
const cheaper = (x: MempoolEntry, y: MempoolEntry): boolean => x.tx.fee < y.tx.fee || (x.tx.fee === y.tx.fee && x.seq > y.seq)

export class Mempool {
  private readonly byId = new Map<string, MempoolEntry>()
  private readonly bySender = new Map<string, SenderQueue>()
  private readonly byFee = new Heap<MempoolEntry>(cheaper, (e, i) => { e.heapPos = i })
  /** Each sender's latest admission: the next one from that sender reserves its nonce after it (arrival order). */
  private readonly senderTurn = new Map<string, Promise<void>>()
  private seq = 0
  /** The minimum fee raised by the last eviction, and when. */
  private floor = 0n
  private floorAt = 0
  private pendingWrites = new Map<string, Uint8Array | null>() // null: delete
  private group: Promise<void> | null = null // the next flush: it carries pendingWrites
  private lastFlush: Promise<void> = Promise.resolve()
  readonly capacity: number
  readonly maxPerSender: number
  private readonly now: () => number

  /** `check` runs checkTransaction (amounts, fee, signature); the node passes one that runs on worker threads. */
  constructor (
    private readonly ledger: Ledger,
    private readonly check: (tx: Transaction, bytes: Uint8Array) => Promise<void> = async (tx) => { checkTransaction(tx, ledger.genesis, ledger.params.minFee) },
    o: MempoolOptions = {}
  ) {
    this.capacity = o.capacity ?? MEMPOOL_MAX
    this.maxPerSender = o.maxPerSender ?? MAX_PENDING_PER_SENDER
    this.now = o.now ?? Date.now
  }

  get size (): number { return this.byId.size }

  /** Size, bytes, bounds and the fee to get in now (`getmempoolinfo`). */
  info (): { size: number, bytes: number, capacity: number, maxPerSender: number, senders: number, minFee: bigint } {
    let bytes = 0
    for (const e of this.byId.values()) bytes += e.bytes.length
    return { size: this.byId.size, bytes, capacity: this.capacity, maxPerSender: this.maxPerSender, senders: this.bySender.size, minFee: this.minFee() }
  }

  has (txid: string): boolean { return this.byId.has(txid) }

  get (txid: string): MempoolEntry | undefined { return this.byId.get(txid) }

  /**
   * The fee a new transaction must at least pay: the network minimum, or the minimum an eviction raised
   * (the evicted fee plus the network minimum, like Bitcoin Core's incremental relay fee), halving every
   * MIN_FEE_HALF_LIFE_MS.
   */
  minFee (): bigint {
    const network = this.ledger.params.minFee
    if (this.floor === 0n) return network
    const decayed = BigInt(Math.floor(Number(this.floor) * 2 ** (-(this.now() - this.floorAt) / MIN_FEE_HALF_LIFE_MS)))
    if (decayed <= network) { this.floor = 0n; return network }
    return decayed
  }

  /** The next nonce `address` should use, counting its pending transactions. */
  async pendingNonce (address: string): Promise<bigint> {
    const acct = await this.ledger.account(address)
    return acct.nonce + BigInt(this.pendingFor(address, acct).count)
  }

  /** How many of `address`'s transactions are pending, and their summed cost. */
  private pendingFor (address: string, acct: Account): { count: number, cost: bigint } {
    const q = this.bySender.get(address)
    if (q === undefined) return { count: 0, cost: 0n }
    // entries the ledger has already absorbed (a nonce below the account's) are stale until prune() runs
    let stale = 0
    let staleCost = 0n
    while (stale < q.entries.length && q.entries[stale].tx.nonce < acct.nonce) staleCost += q.entries[stale++].cost
    return { count: q.entries.length - stale, cost: q.cost - staleCost }
  }

  /** Refuse a fee that cannot get in: below the (raised) minimum, or a full pool whose cheapest pays as much. */
  private checkFee (tx: Transaction, txid: string): void {
    const min = this.minFee()
    // below the network's own minimum is checkTransaction's E_TX_FEE
    if (tx.fee < min && min > this.ledger.params.minFee) fail('E_MEMPOOL_FEE', 'fee is below the mempool\'s minimum (raised after evictions); pay at least minFee', { txid, fee: eco(tx.fee), minFee: eco(min) })
    const cheapest = this.byFee.peek()
    if (this.byId.size >= this.capacity && cheapest !== undefined && cheapest.tx.fee >= tx.fee) {
      fail('E_MEMPOOL_FULL', 'mempool is full of transactions paying as much; pay more than the cheapest or try again later', { txid, fee: eco(tx.fee), minFee: eco(cheapest.tx.fee + 1n) })
    }
  }

  /** Validate and admit an encoded transaction; resolves with its id once it is durable. */
  async admit (bytes: Uint8Array): Promise<string> {
    const tx = decodeTransaction(bytes)
    const txid = toHex(transactionIdOfBytes(bytes))
    if (this.byId.has(txid)) fail('E_TX_KNOWN', 'transaction is already in the mempool', { txid })
    this.checkFee(tx, txid) // cheap, before the signature
    const from = senderAddress(tx)
    // the signature is checked while earlier admissions from this sender finish; the nonce is reserved
    // after theirs, so a burst sent in nonce order is admitted in nonce order
    const checked = this.check(tx, bytes)
    checked.catch(() => {}) // awaited below, after this sender's turn comes
    const prev = this.senderTurn.get(from)
    let release!: () => void
    const turn = new Promise<void>((resolve) => { release = resolve })
    this.senderTurn.set(from, turn)
    let entry: MempoolEntry
    try {
      if (prev !== undefined) await prev
      await checked
      // a transaction already in a block fails the nonce check below (its nonce is used)
      const acct = await this.ledger.account(from)
      // From here to the reservation there is no await, so concurrent admissions see each other.
      entry = this.reserve(tx, txid, bytes, from, acct)
    } finally {
      release()
      if (this.senderTurn.get(from) === turn) this.senderTurn.delete(from)
    }
    this.write(txid, entry.bytes)
    try {
      await this.flush()
    } catch (err) {
      if (this.byId.get(txid) === entry) this.removeWithLater(entry)
      throw err
    }
    return txid
  }

  private reserve (tx: Transaction, txid: string, bytes: Uint8Array, from: string, acct: Account): MempoolEntry {
    if (this.byId.has(txid)) fail('E_TX_KNOWN', 'transaction is already in the mempool', { txid })
    const pending = this.pendingFor(from, acct)
    const expected = acct.nonce + BigInt(pending.count)
    if (tx.nonce < acct.nonce) fail('E_TX_NONCE', 'nonce already used (replay)', { txid, from, nonce: tx.nonce, next: acct.nonce })
    if (tx.nonce < expected) fail('E_TX_NONCE_PENDING', 'another pending transaction already uses this nonce', { txid, from, nonce: tx.nonce, next: expected })
    if (tx.nonce > expected) fail('E_TX_NONCE_GAP', 'nonce skips ahead of the account\'s next nonce', { txid, from, nonce: tx.nonce, next: expected })
    if (pending.count >= this.maxPerSender) fail('E_TX_TOO_MANY_PENDING', 'the sender has too many pending transactions; wait for a block', { txid, from, pending: pending.count, max: this.maxPerSender })
    const cost = tx.amount + tx.fee
    if (acct.balance - pending.cost < cost) fail('E_TX_OVERDRAFT', 'balance does not cover amount and fee (counting pending transactions)', { txid, from, balance: eco(acct.balance), pending: eco(pending.cost), cost: eco(cost) })
    this.checkFee(tx, txid) // again: the pool may have filled while the signature was checked
    if (this.byId.size >= this.capacity) {
      const cheapest = this.byFee.peek()!
      // evicting it would take this sender's earlier nonces, so this one could never be mined
      if (cheapest.from === from) fail('E_MEMPOOL_FULL', 'mempool is full and this sender\'s own pending transactions are the cheapest', { txid, fee: eco(cheapest.tx.fee) })
      this.evict(cheapest)
    }
    const entry: MempoolEntry = { txid, tx, bytes: new Uint8Array(bytes), from, cost, seq: this.seq++, heapPos: -1 }
    this.insert(entry)
    return entry
  }

  /** Drop `victim` and its sender's later nonces, and raise the minimum fee above it. */
  private evict (victim: MempoolEntry): void {
    const removed = this.removeWithLater(victim)
    for (const e of removed) this.write(e.txid, null)
    const raised = victim.tx.fee + this.ledger.params.minFee
    const current = this.minFee()
    this.floor = raised > current ? raised : current
    this.floorAt = this.now()
  }

  private insert (entry: MempoolEntry): void {
    this.byId.set(entry.txid, entry)
    this.byFee.push(entry)
    let q = this.bySender.get(entry.from)
    if (q === undefined) { q = { entries: [], cost: 0n }; this.bySender.set(entry.from, q) }
    const last = q.entries[q.entries.length - 1]
    q.entries.push(entry)
    q.cost += entry.cost
    // admission only ever appends the next nonce; keep the order anyway
    if (last !== undefined && last.tx.nonce > entry.tx.nonce) q.entries.sort((a, b) => (a.tx.nonce < b.tx.nonce ? -1 : a.tx.nonce > b.tx.nonce ? 1 : 0))
  }

  /** Remove an entry and every later nonce of its sender (they would wait on a gap); returns them. */
  private removeWithLater (entry: MempoolEntry): MempoolEntry[] {
    const q = this.bySender.get(entry.from)
    const i = q === undefined ? -1 : q.entries.indexOf(entry)
    const gone = i < 0 ? [entry] : q!.entries.slice(i)
    this.remove(gone.map((e) => e.txid))
    return gone
  }

  private write (txid: string, bytes: Uint8Array | null): void {
    this.pendingWrites.delete(txid) // the latest write of a txid wins, in its position
    this.pendingWrites.set(txid, bytes)
  }

  /**
   * PERF: group commit. Admissions arriving together share one LevelDB batch; one batch is written at a
   * time, writes that arrive meanwhile join the next group, and each write waits only for its own group.
   */
  private async flush (): Promise<void> {
    if (this.group === null) {
      const prev = this.lastFlush
      this.group = (async () => {
        await prev
        const batch = this.pendingWrites
        this.pendingWrites = new Map()
        this.group = null
        const puts: Array<{ txid: string, bytes: Uint8Array }> = []
        const dels: string[] = []
        for (const [txid, bytes] of batch) if (bytes === null) dels.push(txid); else puts.push({ txid, bytes })
        // each txid appears once, so the two batches commute
        if (puts.length > 0) await this.ledger.putMempool(puts)
        if (dels.length > 0) await this.ledger.deleteMempool(dels)
      })()
      this.lastFlush = this.group.catch(() => {})
    }
    await this.group
  }

  remove (txids: Iterable<string>): void {
    for (const id of txids) {
      const e = this.byId.get(id)
      if (e === undefined) continue
      this.byId.delete(id)
      this.byFee.removeAt(e.heapPos)
      const q = this.bySender.get(e.from)
      if (q === undefined) continue
      const i = q.entries.indexOf(e)
      if (i >= 0) { q.entries.splice(i, 1); q.cost -= e.cost }
      if (q.entries.length === 0) this.bySender.delete(e.from)
    }
  }

  /** Drop entries the ledger has made stale (nonce used) after a block; returns their ids. */
  async prune (senders: Iterable<string>): Promise<string[]> {
    const dropped: string[] = []
    for (const from of senders) {
      const q = this.bySender.get(from)
      if (q === undefined) continue
      const acct = await this.ledger.account(from)
      for (const e of q.entries) if (e.tx.nonce < acct.nonce) dropped.push(e.txid)
    }
    this.remove(dropped)
    if (dropped.length > 0) await this.ledger.deleteMempool(dropped)
    return dropped
  }

  /**
   * Candidates for the next block, highest fee first, each sender's in nonce order from the ledger's
   * nonce while the balance covers them (a sender's next transaction competes once its previous one is in).
   * The block builder still applies them through the protocol rules.
   */
  async select (max: number): Promise<MempoolEntry[]> {
    interface Head { list: MempoolEntry[], i: number, nonce: bigint, balance: bigint }
    const richer = (x: Head, y: Head): boolean => cheaper(y.list[y.i], x.list[x.i])
    const heads = new Heap<Head>(richer)
    const queues = [...this.bySender].map(([from, q]) => ({ from, list: [...q.entries] }))
    const accounts = await this.ledger.accounts(queues.map((q) => q.from))
    const advance = (h: Head): void => {
      while (h.i < h.list.length && h.list[h.i].tx.nonce < h.nonce) h.i++ // stale: already in a block
      const e = h.list[h.i]
      if (e !== undefined && e.tx.nonce === h.nonce && e.cost <= h.balance) heads.push(h)
    }
    for (const { from, list } of queues) {
      const acct = accounts.get(from)!
      advance({ list, i: 0, nonce: acct.nonce, balance: acct.balance })
    }
    const out: MempoolEntry[] = []
    while (out.length < max) {
      const h = heads.pop()
      if (h === undefined) break
      const e = h.list[h.i]
      out.push(e)
      h.i++
      h.nonce++
      h.balance -= e.cost
      advance(h)
    }
    return out
  }

  /** Reload persisted transactions after a restart, dropping those no longer valid. */
  async load (): Promise<{ loaded: number, dropped: number }> {
    const stored = await this.ledger.listMempool()
    const decoded = stored.flatMap((s) => {
      try { return [{ s, tx: decodeTransaction(s.bytes) }] } catch { return [] }
    }).sort((a, b) => (a.tx.nonce < b.tx.nonce ? -1 : a.tx.nonce > b.tx.nonce ? 1 : 0))
    let loaded = 0
    const drop: string[] = []
    for (const { s, tx } of decoded) {
      try {
        checkTransaction(tx, this.ledger.genesis, this.ledger.params.minFee)
        const from = senderAddress(tx)
        const acct = await this.ledger.account(from)
        const pending = this.pendingFor(from, acct)
        // a pool that was full when the node stopped may hold an eviction whose delete did not reach the disk
        if (this.byId.size >= this.capacity || pending.count >= this.maxPerSender) { drop.push(s.txid); continue }
        if (tx.nonce !== acct.nonce + BigInt(pending.count) || (await this.ledger.txLocation(s.txid)) !== undefined) { drop.push(s.txid); continue }
        this.insert({ txid: s.txid, tx, bytes: s.bytes, from, cost: tx.amount + tx.fee, seq: this.seq++, heapPos: -1 })
        loaded++
      } catch (err) {
        if (!isEconumiError(err)) throw err
        drop.push(s.txid)
      }
    }
    const known = new Set(decoded.map((d) => d.s.txid))
    for (const s of stored) if (!known.has(s.txid)) drop.push(s.txid)
    if (drop.length > 0) await this.ledger.deleteMempool(drop)
    return { loaded, dropped: drop.length }
  }
}
