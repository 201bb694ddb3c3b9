// The mempool: transactions validated on admission (signature, nonce order, balance), persisted in
// the ledger before they are acknowledged, so an acknowledged transaction survives kill -9.
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
}

export const MEMPOOL_MAX = 100_000

/** One sender's pending transactions, sorted by nonce, and the sum of their costs (amount + fee). */
interface SenderQueue { entries: MempoolEntry[], cost: bigint }

export class Mempool {
  private readonly byId = new Map<string, MempoolEntry>()
  private readonly bySender = new Map<string, SenderQueue>()
  private pendingWrites: Array<{ txid: string, bytes: Uint8Array }> = []
  private group: Promise<void> | null = null // the next flush: it carries pendingWrites
  private lastFlush: Promise<void> = Promise.resolve()

  /** `check` runs checkTransaction (amounts, fee, signature); the node passes one that runs on worker threads. */
  constructor (
    private readonly ledger: Ledger,
    private readonly check: (tx: Transaction, bytes: Uint8Array) => Promise<void> = async (tx) => { checkTransaction(tx, ledger.genesis, ledger.params.minFee) }
  ) {}

  get size (): number { return this.byId.size }

  has (txid: string): boolean { return this.byId.has(txid) }

  get (txid: string): MempoolEntry | undefined { return this.byId.get(txid) }

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

  /** Validate and admit an encoded transaction; resolves with its id once it is durable. */
  async admit (bytes: Uint8Array): Promise<string> {
    const tx = decodeTransaction(bytes)
    const txid = toHex(transactionIdOfBytes(bytes))
    if (this.byId.has(txid)) fail('E_TX_KNOWN', 'transaction is already in the mempool', { txid })
    if (this.byId.size >= MEMPOOL_MAX) fail('E_MEMPOOL_FULL', 'mempool is full, try again later', { size: this.byId.size })
    await this.check(tx, bytes)
    const from = senderAddress(tx)
    // a transaction already in a block fails the nonce check below (its nonce is used)
    if (this.ledger.accountCached(from) === undefined) await this.ledger.account(from)
    // From here to the reservation there is no await, so concurrent admissions see each other.
    if (this.byId.has(txid)) fail('E_TX_KNOWN', 'transaction is already in the mempool', { txid })
    const acct = this.ledger.accountCached(from) ?? await this.ledger.account(from)
    const pending = this.pendingFor(from, acct)
    const expected = acct.nonce + BigInt(pending.count)
    if (tx.nonce < acct.nonce) fail('E_TX_NONCE', 'nonce already used (replay)', { txid, from, nonce: tx.nonce, next: acct.nonce })
    if (tx.nonce < expected) fail('E_TX_NONCE_PENDING', 'another pending transaction already uses this nonce', { txid, from, nonce: tx.nonce, next: expected })
    if (tx.nonce > expected) fail('E_TX_NONCE_GAP', 'nonce skips ahead of the account\'s next nonce', { txid, from, nonce: tx.nonce, next: expected })
    const cost = tx.amount + tx.fee
    const committed = pending.cost
    if (acct.balance - committed < cost) fail('E_TX_OVERDRAFT', 'balance does not cover amount and fee (counting pending transactions)', { txid, from, balance: acct.balance, pending: committed, cost })
    const entry: MempoolEntry = { txid, tx, bytes: new Uint8Array(bytes), from, cost }
    this.insert(entry)
    try {
      await this.persist(txid, entry.bytes)
    } catch (err) {
      this.remove([txid])
      throw err
    }
    return txid
  }

  private insert (entry: MempoolEntry): void {
    this.byId.set(entry.txid, entry)
    let q = this.bySender.get(entry.from)
    if (q === undefined) { q = { entries: [], cost: 0n }; this.bySender.set(entry.from, q) }
    const last = q.entries[q.entries.length - 1]
    q.entries.push(entry)
    q.cost += entry.cost
    // admission only ever appends the next nonce; keep the order anyway
    if (last !== undefined && last.tx.nonce > entry.tx.nonce) q.entries.sort((a, b) => (a.tx.nonce < b.tx.nonce ? -1 : a.tx.nonce > b.tx.nonce ? 1 : 0))
  }

  /**
   * PERF: group commit. Admissions arriving together share one LevelDB batch; one batch is written at a
   * time, writes that arrive meanwhile join the next group, and each write waits only for its own group.
   */
  private async persist (txid: string, bytes: Uint8Array): Promise<void> {
    this.pendingWrites.push({ txid, bytes })
    if (this.group === null) {
      const prev = this.lastFlush
      this.group = (async () => {
        await prev
        const batch = this.pendingWrites
        this.pendingWrites = []
        this.group = null
        await this.ledger.putMempool(batch)
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
   * Candidates for the next block: per sender, contiguous nonces from the ledger's, while the balance
   * covers them. The block builder still applies them through the protocol rules.
   */
  async select (max: number): Promise<MempoolEntry[]> {
    const out: MempoolEntry[] = []
    for (const [from, { entries: list }] of this.bySender) {
      if (out.length >= max) break
      const acct = await this.ledger.account(from)
      let nonce = acct.nonce
      let balance = acct.balance
      for (const e of list) {
        if (out.length >= max) break
        if (e.tx.nonce < nonce) continue
        if (e.tx.nonce > nonce || e.cost > balance) break
        out.push(e)
        nonce++
        balance -= e.cost
      }
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
        if (tx.nonce !== acct.nonce + BigInt(pending.count) || (await this.ledger.txLocation(s.txid)) !== undefined) { drop.push(s.txid); continue }
        this.insert({ txid: s.txid, tx, bytes: s.bytes, from, cost: tx.amount + tx.fee })
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
