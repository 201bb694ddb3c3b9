// Credit records: the CU of each finished epoch, computed once from both witnesses and persisted as
// <dataDir>/attestation/credit/<epoch>.json. A persisted epoch is never recomputed, so a restart cannot
// credit any interval twice; an epoch that is not over is never persisted.
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { POLL_WINDOW_MS, type Interval, type PollOutcome, type WorkloadWitness, epochCredit } from '../../protocol/attestation.js'
import type { Reservation } from '../../protocol/compute-units.js'
import { readJsonFileSync, writeFileAtomicSync } from '../atomic-file.js'

export interface CreditRecord {
  epoch: string
  epochStart: string
  epochEnd: string
  total: string
  capacity: { nanoCpus: string, memoryBytes: string }
  computedAt: number
  workloads: Array<{ containerId: string, cu: string, attestedMs: string, reason: string, reservation: { nanoCpus: string, memoryBytes: string }, polls: Array<{ window: string, answered: boolean, healthy: boolean }>, daemonIntervals: Array<[string, string]>, agent: { attestedFrom: number, lastAlive: number } | null }>
}

/** One workload as the credit book sees it at an epoch boundary. */
export interface CreditInput {
  witness: WorkloadWitness
  polls: PollOutcome[]
  intervals: Interval[]
}

export interface CreditBookOptions {
  dir: string
  /** Epoch bounds from the chain's parameters. */
  epochBounds: (epoch: bigint) => { start: bigint, end: bigint }
  capacity: Reservation
  now: () => number
  /** Asks connected agents for a fresh checkpoint (bounded wait). */
  flush: () => Promise<void>
  /** The workloads' witnesses for [start, end) as of `now`. */
  inputs: (start: bigint, end: bigint, now: bigint) => CreditInput[]
  /** The agent's attested span of a workload (for the record). */
  agentSpan: (containerId: string) => { attestedFrom: number, lastAlive: number } | null
  onCredited: (epoch: bigint, record: CreditRecord) => void
}

export function resJson (r: Reservation): { nanoCpus: string, memoryBytes: string } { return { nanoCpus: r.nanoCpus.toString(), memoryBytes: r.memoryBytes.toString() } }

export class CreditBook {
  private readonly pending = new Map<string, Promise<bigint>>()

  constructor (private readonly o: CreditBookOptions) {
    mkdirSync(o.dir, { recursive: true, mode: 0o700 })
  }

  private path (epoch: bigint): string { return join(this.o.dir, `${epoch}.json`) }

  read (epoch: bigint): CreditRecord | null {
    const p = this.path(epoch)
    return existsSync(p) ? readJsonFileSync(p, 'E_CREDIT_CORRUPT') as CreditRecord : null
  }

  /** CU the node may claim in the lottery of `epoch`: the attested work of `epoch − 1`, computed once and persisted. */
  async computeUnitsFor (epoch: bigint): Promise<bigint> {
    const target = epoch - 1n
    if (target < 0n) return 0n
    // not over yet: 0, and not remembered (a later call, once it is over, computes it)
    if (BigInt(this.o.now()) < this.o.epochBounds(target).end) return 0n
    const key = target.toString()
    let p = this.pending.get(key)
    if (p === undefined) {
      p = this.credit(target)
      this.pending.set(key, p)
      if (this.pending.size > 16) this.pending.delete(this.pending.keys().next().value as string)
      p.catch(() => { this.pending.delete(key) })
    }
    return await p
  }

  private async credit (epoch: bigint): Promise<bigint> {
    const existing = this.read(epoch)
    if (existing !== null) return BigInt(existing.total)
    const { start: S, end: E } = this.o.epochBounds(epoch)
    if (BigInt(this.o.now()) < E) return 0n // not over yet: never persist a partial epoch
    await this.o.flush()
    const now = BigInt(this.o.now())
    const inputs = this.o.inputs(S, E, now)
    const meta = new Map(inputs.map((i) => [i.witness.containerId, i]))
    const credit = epochCredit({ epochStart: S, epochEnd: E, capacity: this.o.capacity, workloads: inputs.map((i) => i.witness) })
    const record: CreditRecord = {
      epoch: epoch.toString(),
      epochStart: S.toString(),
      epochEnd: E.toString(),
      total: credit.total.toString(),
      capacity: resJson(this.o.capacity),
      computedAt: Number(now),
      workloads: credit.workloads.map((c) => {
        const m = meta.get(c.containerId)!
        return {
          containerId: c.containerId,
          cu: c.cu.toString(),
          attestedMs: c.attestedMs.toString(),
          reason: c.reason,
          reservation: resJson(c.reservation),
          polls: m.polls.filter((p) => p.window * POLL_WINDOW_MS < E && p.window * POLL_WINDOW_MS + POLL_WINDOW_MS > S).map((p) => ({ window: p.window.toString(), answered: p.answered, healthy: p.healthy })),
          daemonIntervals: m.intervals.map((i) => [i.from.toString(), i.to.toString()] as [string, string]),
          agent: this.o.agentSpan(c.containerId)
        }
      })
    }
    // another computation (e.g. a previous process) may have persisted it meanwhile: that one stands
    const raced = this.read(epoch)
    if (raced !== null) return BigInt(raced.total)
    writeFileAtomicSync(this.path(epoch), JSON.stringify(record, null, 2) + '\n', 0o644)
    this.o.onCredited(epoch, record)
    return credit.total
  }
}
