// Stateless block verification (signature, claims, VRF proofs) on worker threads, so that a syncing node
// verifies blocks on other cores while the main thread downloads and commits. The checks are the pure
// ones from protocol/ (verifyBlockSignature, verifyClaims); the result feeds applyBlock's `verified`.
import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { type Block, verifyBlockSignature } from '../protocol/block.js'
import { EconumiError, isEconumiError } from '../protocol/errors.js'
import type { NetworkParams } from '../protocol/params.js'
import { type VerifiedBlock, verifyClaims } from '../protocol/state.js'

export interface VerifyRequest { id: number, bytes: Uint8Array }
export type VerifyReply =
  | { id: number, ok: true, winnerIndex: number, vrfOutput: Uint8Array, ticket: bigint, work: bigint }
  | { id: number, ok: false, code: string, message: string }

/** Verification outcome of one block: its VerifiedBlock, or the EconumiError the checks raised. */
export type Verdict = VerifiedBlock | EconumiError

/** Worker threads to use: ECONUMI_VERIFY_THREADS, else one per core (up to 4): the main thread mostly waits on I/O. */
export function verifyThreads (): number {
  const env = Number(process.env.ECONUMI_VERIFY_THREADS)
  if (Number.isInteger(env) && env >= 0) return Math.min(env, 16)
  return Math.min(4, availableParallelism())
}

/** The same checks inline, for single blocks and where no worker can run. */
export function verifyInline (params: NetworkParams, genesis: Uint8Array, block: Block): Verdict {
  try {
    if (!verifyBlockSignature(block, genesis)) return new EconumiError('E_BLOCK_SIGNATURE', 'block signature does not verify')
    return verifyClaims(params, genesis, block)
  } catch (err) {
    if (isEconumiError(err)) return err
    throw err
  }
}

export class VerifyPool {
  private readonly workers: Worker[] = []
  private readonly pending = new Map<number, { block: Block, resolve: (v: Verdict) => void, reject: (e: Error) => void }>()
  private nextId = 0
  private turn = 0
  private closed = false

  constructor (private readonly params: NetworkParams, private readonly genesis: Uint8Array, private readonly size = verifyThreads()) {}

  /** The compiled worker next to this module; absent when running from TypeScript sources (tests). */
  private static workerUrl (): URL | null {
    const url = new URL('./verify-worker.js', import.meta.url)
    return existsSync(fileURLToPath(url)) ? url : null
  }

  private start (): boolean {
    if (this.workers.length > 0) return true
    const url = VerifyPool.workerUrl()
    if (url === null || this.size === 0 || this.closed) return false
    for (let i = 0; i < this.size; i++) {
      const w = new Worker(url, { workerData: { params: this.params, genesis: this.genesis } })
      w.unref()
      w.on('message', (r: VerifyReply) => this.settle(r))
      w.on('error', (err) => this.failAll(err))
      this.workers.push(w)
    }
    return true
  }

  private settle (r: VerifyReply): void {
    const p = this.pending.get(r.id)
    if (p === undefined) return
    this.pending.delete(r.id)
    if (!r.ok) { p.resolve(new EconumiError(r.code, r.message)); return }
    const claim = p.block.claims[r.winnerIndex]
    if (claim === undefined) { p.reject(new Error('verify worker named no winning claim')); return }
    p.resolve({ winner: { claim, vrfOutput: r.vrfOutput, ticket: r.ticket, cu: claim.cu }, work: r.work })
  }

  private failAll (err: Error): void {
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
  }

  /** Verify a decoded block given its encoded bytes (what the worker decodes). */
  async verify (block: Block, bytes: Uint8Array): Promise<Verdict> {
    if (!this.start()) return verifyInline(this.params, this.genesis, block)
    const id = this.nextId++
    const w = this.workers[this.turn++ % this.workers.length]
    return await new Promise<Verdict>((resolve, reject) => {
      this.pending.set(id, { block, resolve, reject })
      w.postMessage({ id, bytes } satisfies VerifyRequest)
    })
  }

  async close (): Promise<void> {
    this.closed = true
    this.failAll(new Error('verify pool closed'))
    await Promise.all(this.workers.map(async (w) => await w.terminate()))
    this.workers.length = 0
  }
}
