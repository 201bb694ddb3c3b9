// Stateless checks on worker threads: blocks (signature, leader VRF proof, reports, every transaction's signature),
// so that a syncing node verifies on other cores while the main thread downloads and commits and a full
// block does not stall the event loop, and transactions (signature, fee), so that mempool admission is not
// bound to one core's Ed25519 rate. The checks are the pure ones from protocol/ (verifyBlock,
// checkTransaction); a block's result feeds applyBlock's `verified`.
import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Block } from '../protocol/block.js'
import { EconumiError, fail, isEconumiError } from '../protocol/errors.js'
import { HASH_LENGTH } from '../protocol/hash.js'
import type { NetworkParams } from '../protocol/params.js'
import { type VerifiedBlock, verifyBlock, verifyBlockExceptTransactions } from '../protocol/state.js'
import { type Transaction, checkTransaction, encodeTransaction } from '../protocol/transaction.js'

const TX_CHUNK = 32
/** A block with at least this many transactions has them checked across all the workers. */
const SPLIT_BLOCK_TXS = 64
/** Fewer transactions than this in one event-loop turn are checked inline. */
const TX_THREADED_MIN = 8

// The worker is compiled JavaScript: module hooks of the parent (a test runner's TypeScript loader, say)
// would only slow its start (~1 s instead of ~90 ms). Other flags are inherited as they are.
const HOOK_FLAG = /^(--import|--loader|--experimental-loader|--require|-r)(=|$)/
const HOOK_FLAG_ALONE = /^(--import|--loader|--experimental-loader|--require|-r)$/
const WITHOUT_HOOKS = process.execArgv.filter((a, i, all) => !HOOK_FLAG.test(a) && !HOOK_FLAG_ALONE.test(all[i - 1] ?? ''))

/**
 * A worker's young generation: V8's default lets it grow to tens of MB per isolate under a flood of checks, held
 * as RSS afterwards. Verification allocates short-lived values only, so a small one costs no throughput (peer-flood:
 * a transaction flood took the producer to 344 MB with the default, 264 MB with 4 MB, same CPU and transactions).
 */
const WORKER_YOUNG_GENERATION_MB = 4

/**
 * A request as it is posted to a worker. A view is cloned with its whole ArrayBuffer: a block or transaction cut
 * from a larger read would take all of it to the worker (memory in the worker's malloc arena; peer-flood: 349 ->
 * 248-262 MB). So a view goes as a copy of its own bytes, moved (the caller's bytes stay as they are); bytes that
 * fill their buffer are cloned as they are.
 */
export function workerMessage (req: VerifyRequest): { message: VerifyRequest, transfer: ArrayBuffer[] } {
  const transfer: ArrayBuffer[] = []
  const own = (b: Uint8Array): Uint8Array => {
    if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b
    const c = new Uint8Array(b)
    transfer.push(c.buffer)
    return c
  }
  return { message: req.kind === 'txs' ? { ...req, txs: req.txs.map(own) } : { ...req, bytes: own(req.bytes) }, transfer }
}

function spawnWorker (url: URL, workerData: unknown): Worker {
  const resourceLimits = { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB }
  if (WITHOUT_HOOKS.length < process.execArgv.length) {
    // an explicit execArgv is validated: some per-process flags are refused there but fine when inherited
    try { return new Worker(url, { workerData, execArgv: WITHOUT_HOOKS, resourceLimits }) } catch {}
  }
  return new Worker(url, { workerData, resourceLimits })
}

export interface CheckFailure { code: string, message: string }
/** A block request checks everything but, when `transactions` is false, checkTransaction on each transaction. */
export type VerifyRequest = { id: number, kind: 'block', bytes: Uint8Array, transactions: boolean } | { id: number, kind: 'txs', txs: Uint8Array[] }
export type VerifyReply =
  | { id: number, kind: 'block', ok: true, vrfOutput: Uint8Array, ticket: bigint, txids: Uint8Array } // txids: HASH_LENGTH bytes each, in one buffer
  | ({ id: number, kind: 'block', ok: false } & CheckFailure)
  | { id: number, kind: 'txs', results: Array<CheckFailure | null> }
  | { kind: 'ready' }

/** Verification outcome of one block: its VerifiedBlock, or the EconumiError the checks raised. */
export type Verdict = VerifiedBlock | EconumiError

/** Worker threads to use: ECONUMI_VERIFY_THREADS, else one per core (up to 4): the main thread mostly waits on I/O. */
export function verifyThreads (): number {
  const env = Number(process.env.ECONUMI_VERIFY_THREADS)
  if (Number.isInteger(env) && env >= 0) return Math.min(env, 16)
  return Math.min(4, availableParallelism())
}

/** checkTransaction as a value: null when the transaction passes, else the code and message it failed with. */
export function transactionCheck (params: NetworkParams, genesis: Uint8Array, tx: Transaction): CheckFailure | null {
  try {
    checkTransaction(tx, genesis, params.minFee)
    return null
  } catch (err) {
    if (isEconumiError(err)) return { code: err.code, message: err.message }
    throw err
  }
}

/**
 * verifyBlock (signature, claims and VRF proofs, tx root, transactions), here or on a worker: a VerifiedBlock or
 * the error. With `transactions` false, verifyBlockExceptTransactions: the caller checks those itself.
 */
export function verifyInline (params: NetworkParams, genesis: Uint8Array, block: Block, transactions = true): Verdict {
  try {
    return transactions ? verifyBlock(params, genesis, block) : verifyBlockExceptTransactions(params, genesis, block)
  } catch (err) {
    if (isEconumiError(err)) return err
    throw err
  }
}

export class VerifyPool {
  /** Told how long each block took to verify, waiting for a worker included (/metrics). */
  onVerified: ((seconds: number) => void) | null = null
  private readonly workers: Worker[] = []
  private readonly owed = new Map<Worker, number>() // answers a worker still owes (loading counts as one)
  private readonly pending = new Map<number, { block: Block, transactions: boolean, resolve: (v: Verdict) => void, reject: (e: Error) => void }>()
  private readonly pendingTxs = new Map<number, { txs: Transaction[], resolve: (r: Array<CheckFailure | null>) => void, reject: (e: Error) => void }>()
  private txQueue: Array<{ tx: Transaction, bytes: Uint8Array, resolve: (f: CheckFailure | null) => void, reject: (e: Error) => void }> = []
  // Transaction results are handed out in submission order, so admissions continue in the order they came.
  private txChain: Promise<void> = Promise.resolve()
  private nextId = 0
  private turn = 0
  private closed = false
  private broken = false // a worker died: check inline from then on
  private starting: Promise<void> = Promise.resolve()

  constructor (
    private readonly params: NetworkParams,
    private readonly genesis: Uint8Array,
    private readonly size = verifyThreads(),
    private readonly workerUrl = VerifyPool.defaultWorkerUrl()
  ) {}

  /** The compiled worker next to this module; absent when running from TypeScript sources (tests). */
  static defaultWorkerUrl (): URL | null {
    const url = new URL('./verify-worker.js', import.meta.url)
    return existsSync(fileURLToPath(url)) ? url : null
  }

  /** Whether checks run on worker threads (false: inline on the caller's thread). */
  get threaded (): boolean { return this.workerUrl !== null && this.size > 0 && !this.broken }

  /**
   * Start the worker threads (the node does so when it opens: a thread takes ~50 ms of CPU to load the
   * protocol code, which the first burst of transactions or blocks should not wait for). Idempotent.
   */
  start (): boolean {
    if (this.workers.length > 0) return true
    const url = this.workerUrl
    if (url === null || this.size === 0 || this.closed || this.broken) return false
    const online: Array<Promise<void>> = []
    for (let i = 0; i < this.size; i++) {
      const w = spawnWorker(url, { params: this.params, genesis: this.genesis })
      this.hold(w, 1)
      online.push(new Promise((resolve) => {
        w.on('message', (r: VerifyReply) => {
          this.hold(w, -1)
          if (r.kind === 'ready') resolve(); else this.settle(r)
        })
        w.once('exit', () => resolve())
      }))
      w.on('error', (err) => this.fail(err))
      w.on('exit', () => { if (!this.closed) this.fail(new Error('verify worker exited')) })
      this.workers.push(w)
    }
    this.starting = Promise.all(online).then(() => {})
    return true
  }

  /**
   * A worker keeps the process alive only while it owes an answer: an idle pool never holds a process open,
   * and one awaiting a verdict (or ready()) cannot exit under it.
   */
  private hold (w: Worker, delta: number): void {
    const n = (this.owed.get(w) ?? 0) + delta
    this.owed.set(w, n)
    if (n > 0) w.ref(); else w.unref()
  }

  private post (w: Worker, req: VerifyRequest): void {
    this.hold(w, 1)
    const { message, transfer } = workerMessage(req)
    w.postMessage(message, transfer)
  }

  /** Resolves once every worker has loaded (or the pool fell back to inline checks). */
  async ready (): Promise<void> { await this.starting }

  // A dead worker would leave its requests unanswered: check those inline, and everything from now on.
  private fail (err: Error): void {
    if (this.broken) return
    this.broken = true
    this.checkPendingInline(err)
    for (const w of this.workers) void w.terminate()
    this.workers.length = 0
    this.owed.clear()
  }

  private settle (r: Exclude<VerifyReply, { kind: 'ready' }>): void {
    if (r.kind === 'txs') {
      const t = this.pendingTxs.get(r.id)
      this.pendingTxs.delete(r.id)
      t?.resolve(r.results)
      return
    }
    const p = this.pending.get(r.id)
    if (p === undefined) return
    this.pending.delete(r.id)
    if (!r.ok) { p.resolve(new EconumiError(r.code, r.message)); return }
    const claim = p.block.header.winner
    const txids = r.txids.length === p.block.txs.length * HASH_LENGTH
      ? p.block.txs.map((_, i) => r.txids.subarray(i * HASH_LENGTH, (i + 1) * HASH_LENGTH))
      : undefined // applyBlock hashes them itself
    p.resolve({ winner: { claim, vrfOutput: r.vrfOutput, ticket: r.ticket }, txids })
  }

  private checkPendingInline (err: Error): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id)
      try { p.resolve(verifyInline(this.params, this.genesis, p.block, p.transactions)) } catch { p.reject(err) }
    }
    for (const [id, p] of this.pendingTxs) {
      this.pendingTxs.delete(id)
      try { p.resolve(p.txs.map((tx) => transactionCheck(this.params, this.genesis, tx))) } catch { p.reject(err) }
    }
  }

  private failAll (err: Error): void {
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
    for (const p of this.pendingTxs.values()) p.reject(err)
    this.pendingTxs.clear()
  }

  /**
   * Verify a decoded block given its encoded bytes (what the worker decodes). A block with many transactions,
   * when no other block is being verified, has them checked in chunks across all the workers while one checks
   * the rest, so it takes a fraction of one thread's time.
   */
  /** Verification requests waiting for or inside a worker, and transactions waiting to be sent to one. */
  get queueDepth (): number { return this.pending.size + this.pendingTxs.size + this.txQueue.length }

  private observe (t0: number): void {
    this.onVerified?.((performance.now() - t0) / 1000)
  }

  /** One block on this thread (a new head from a peer: a worker round trip would only add latency), timed. */
  inline (block: Block): Verdict {
    const t0 = performance.now()
    try { return verifyInline(this.params, this.genesis, block) } finally { this.observe(t0) }
  }

  async verify (block: Block, bytes: Uint8Array): Promise<Verdict> {
    const t0 = performance.now()
    try { return await this.verifyUntimed(block, bytes) } finally { this.observe(t0) }
  }

  /**
   * A block this node built. Its transactions come from the mempool, which ran checkTransaction on each at
   * admission (and again when it reloaded them), so they are not checked again; the rest goes to the worker that
   * owes the fewest answers: the producer holds the chain lock while it waits, and under a flood the next worker
   * in turn may be busy with a peer's transactions (checking a full block's again cost more than the flood left of
   * the epoch).
   */
  async verifyOwn (block: Block, bytes: Uint8Array): Promise<Verdict> {
    const t0 = performance.now()
    try {
      if (this.closed) fail('E_NODE_CLOSING', 'verification pool is closed')
      if (!this.start()) return verifyInline(this.params, this.genesis, block, false)
      let w = this.workers[0]
      for (const x of this.workers) if ((this.owed.get(x) ?? 0) < (this.owed.get(w) ?? 0)) w = x
      const id = this.nextId++
      return await new Promise<Verdict>((resolve, reject) => {
        this.pending.set(id, { block, transactions: false, resolve, reject })
        this.post(w, { id, kind: 'block', bytes, transactions: false })
      })
    } finally { this.observe(t0) }
  }

  private async verifyUntimed (block: Block, bytes: Uint8Array): Promise<Verdict> {
    if (this.closed) fail('E_NODE_CLOSING', 'verification pool is closed')
    if (!this.start()) return verifyInline(this.params, this.genesis, block)
    // split only a block that would otherwise leave workers idle: many in flight (a sync) keep them all busy
    const whole = block.txs.length < SPLIT_BLOCK_TXS || this.workers.length < 2 || this.pending.size > 0
    const id = this.nextId++
    const w = this.workers[this.turn++ % this.workers.length]
    const rest = new Promise<Verdict>((resolve, reject) => {
      this.pending.set(id, { block, transactions: whole, resolve, reject })
      this.post(w, { id, kind: 'block', bytes, transactions: whole })
    })
    if (whole) return await rest
    const size = Math.ceil(block.txs.length / this.workers.length)
    const chunks: Array<Promise<Array<CheckFailure | null>>> = []
    for (let i = 0; i < block.txs.length; i += size) {
      const txs = block.txs.slice(i, i + size)
      chunks.push(this.postTxs(txs, txs.map(encodeTransaction)))
    }
    const [verdict, results] = await Promise.all([rest, Promise.all(chunks)])
    if (isEconumiError(verdict)) return verdict // verifyBlock reports these before any transaction's failure
    const failed = results.flat().find((r): r is CheckFailure => r !== null)
    return failed === undefined ? verdict : new EconumiError(failed.code, failed.message)
  }

  /**
   * checkTransaction (amounts, fee, signature) for mempool admission. Requests made in one event-loop turn
   * are checked together: a few inline (a worker round trip would only add latency), many split across
   * the workers in chunks. Either way results come back in submission order.
   */
  async checkTransaction (tx: Transaction, bytes: Uint8Array): Promise<void> {
    if (this.closed) fail('E_NODE_CLOSING', 'verification pool is closed')
    if (!this.threaded) { checkTransaction(tx, this.genesis, this.params.minFee); return }
    const failure = await new Promise<CheckFailure | null>((resolve, reject) => {
      this.txQueue.push({ tx, bytes, resolve, reject })
      if (this.txQueue.length === 1) setImmediate(() => this.flushTxs())
      // a full chunk goes out at once, so workers start while the caller is still submitting
      else if (this.txQueue.length >= TX_CHUNK) this.flushTxs()
    })
    if (failure !== null) throw new EconumiError(failure.code, failure.message)
  }

  /** One chunk of transactions to the next worker: checkTransaction's result for each, in order. */
  private async postTxs (txs: Transaction[], bytes: Uint8Array[]): Promise<Array<CheckFailure | null>> {
    const id = this.nextId++
    return await new Promise<Array<CheckFailure | null>>((resolve, reject) => {
      this.pendingTxs.set(id, { txs, resolve, reject })
      this.post(this.workers[this.turn++ % this.workers.length], { id, kind: 'txs', txs: bytes })
    })
  }

  private flushTxs (): void {
    const queue = this.txQueue
    this.txQueue = []
    if (queue.length === 0) return
    if (this.closed) { for (const b of queue) b.reject(new EconumiError('E_NODE_CLOSING', 'verification pool is closed')); return }
    if (queue.length < TX_THREADED_MIN || !this.start()) {
      this.txChain = this.txChain.then(() => {
        for (const b of queue) {
          try { b.resolve(transactionCheck(this.params, this.genesis, b.tx)) } catch (err) { b.reject(err as Error) }
        }
      })
      return
    }
    // small chunks: the main thread continues with the first results while workers check the rest
    const size = Math.min(TX_CHUNK, Math.ceil(queue.length / this.workers.length))
    for (let i = 0; i < queue.length; i += size) {
      const batch = queue.slice(i, i + size)
      const results = this.postTxs(batch.map((b) => b.tx), batch.map((b) => b.bytes))
      results.catch(() => {}) // handled in the chain below
      this.txChain = this.txChain.then(async () => {
        try {
          const r = await results
          batch.forEach((b, j) => b.resolve(r[j] ?? null))
        } catch (err) {
          for (const b of batch) b.reject(err as Error)
        }
      })
    }
  }

  async close (): Promise<void> {
    this.closed = true
    this.failAll(new Error('verify pool closed'))
    // an idle worker is unref'd (hold()): held while it stops, or a process awaiting close() can run out of work and
    // exit before the workers' exit events arrive (seen as a tap test 'unfinished' in its teardown, ~1 run in 10)
    for (const w of this.workers) w.ref()
    await Promise.all(this.workers.map(async (w) => await w.terminate()))
    this.workers.length = 0
    this.owed.clear()
  }
}
