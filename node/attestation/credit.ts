// Credit records: the CU of each finished epoch, computed once from the epoch's evidence (evidence-builder.ts)
// with protocol/evidence.ts creditFromEvidence — the rule every auditor applies — and persisted as
// <dataDir>/attestation/credit/<epoch>.json beside the evidence itself (<epoch>.evidence), which is also
// published in the node's attestations core. A persisted epoch is never recomputed, so a restart cannot credit
// any interval twice; an epoch that is not over is never persisted.
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { WorkloadCredit } from '../../protocol/attestation.js'
import type { Reservation } from '../../protocol/compute-units.js'
import { toHex } from '../../protocol/encoding.js'
import { type EpochEvidence, decodeEvidence, encodeEvidence, evidenceRoot, workloadWitness } from '../../protocol/evidence.js'
import { readJsonFileSync, writeFileAtomicSync } from '../atomic-file.js'

export interface CreditRecord {
  epoch: string
  epochStart: string
  epochEnd: string
  total: string
  capacity: { nanoCpus: string, memoryBytes: string }
  computedAt: number
  /** Hex Merkle root of the evidence: what the work report commits. */
  evidenceRoot: string
  evidenceBytes: number
  /** Index of the evidence in the node's attestations core (null: not published, e.g. the core was closing). */
  evidenceRecord: number | null
  workloads: Array<{ containerId: string, cu: string, attestedMs: string, reason: string, reservation: { nanoCpus: string, memoryBytes: string }, polls: Array<{ window: string, answered: boolean, healthy: boolean }>, daemonIntervals: Array<[string, string]>, agent: { attestedFrom: number, lastAlive: number } | null }>
}

export interface CreditBookOptions {
  dir: string
  /** Epoch bounds from the chain's parameters. */
  epochBounds: (epoch: bigint) => { start: bigint, end: bigint }
  now: () => number
  /** Asks connected agents for a fresh checkpoint (bounded wait). */
  flush: () => Promise<void>
  /** The evidence of `epoch` = [start, end) as of `now`. */
  evidence: (epoch: bigint, start: bigint, end: bigint, now: bigint) => EpochEvidence
  /** creditFromEvidence with the chain's context. */
  recompute: (ev: EpochEvidence) => { total: bigint, workloads: WorkloadCredit[] }
  /** Appends the encoded evidence to the attestations core; its index. */
  publish: (bytes: Uint8Array) => Promise<number>
  onCredited: (epoch: bigint, record: CreditRecord) => void
}

export function resJson (r: Reservation): { nanoCpus: string, memoryBytes: string } { return { nanoCpus: r.nanoCpus.toString(), memoryBytes: r.memoryBytes.toString() } }

/** The JSON view of one epoch's evidence and its recomputed credit (the record, `econumi audit`). */
export function creditView (ev: EpochEvidence, credit: { total: bigint, workloads: WorkloadCredit[] }): Pick<CreditRecord, 'epoch' | 'epochStart' | 'epochEnd' | 'total' | 'capacity' | 'workloads'> {
  const byId = new Map(ev.workloads.map((x) => [x.containerId, x]))
  return {
    epoch: ev.epoch.toString(),
    epochStart: ev.epochStart.toString(),
    epochEnd: ev.epochEnd.toString(),
    total: credit.total.toString(),
    capacity: resJson(ev.capacity),
    workloads: credit.workloads.map((c) => {
      const x = byId.get(c.containerId)!
      const polls = workloadWitness(x, ev.epochStart).agent?.polls ?? []
      return {
        containerId: c.containerId,
        cu: c.cu.toString(),
        attestedMs: c.attestedMs.toString(),
        reason: c.reason,
        reservation: resJson(c.reservation),
        polls: polls.map((p) => ({ window: p.window.toString(), answered: p.answered, healthy: p.healthy })),
        daemonIntervals: x.daemon.intervals.map((i) => [i.from.toString(), i.to.toString()] as [string, string]),
        agent: { attestedFrom: Number(x.agentSpan.attestedFrom), lastAlive: Number(x.agentSpan.lastAlive) }
      }
    })
  }
}

export class CreditBook {
  private readonly pending = new Map<string, Promise<bigint>>()

  constructor (private readonly o: CreditBookOptions) {
    mkdirSync(o.dir, { recursive: true, mode: 0o700 })
  }

  private path (epoch: bigint, ext = 'json'): string { return join(this.o.dir, `${epoch}.${ext}`) }

  read (epoch: bigint): CreditRecord | null {
    const p = this.path(epoch)
    return existsSync(p) ? readJsonFileSync(p, 'E_CREDIT_CORRUPT') as CreditRecord : null
  }

  /** The persisted evidence of a credited epoch (null: not credited, or credited before evidence existed). */
  readEvidence (epoch: bigint): EpochEvidence | null {
    const p = this.path(epoch, 'evidence')
    if (this.read(epoch) === null || !existsSync(p)) return null
    return decodeEvidence(readFileSync(p))
  }

  /** CU the node may claim in the lottery of `epoch`: the attested work of `epoch − 1`, computed once and persisted. */
  async computeUnitsFor (epoch: bigint): Promise<bigint> {
    const target = epoch - 1n
    if (target < 0n) return 0n
    return (await this.creditOf(target)).total
  }

  /** The evidence root the report of `epoch` commits (credits the epoch first if it is over). */
  async evidenceRootFor (epoch: bigint): Promise<Uint8Array> {
    const r = await this.creditOf(epoch)
    return r.root
  }

  private async creditOf (target: bigint): Promise<{ total: bigint, root: Uint8Array }> {
    // not over yet: 0, and not remembered (a later call, once it is over, computes it)
    if (BigInt(this.o.now()) < this.o.epochBounds(target).end) return { total: 0n, root: new Uint8Array(32) }
    const key = target.toString()
    let p = this.pending.get(key)
    if (p === undefined) {
      p = this.credit(target)
      this.pending.set(key, p)
      if (this.pending.size > 16) this.pending.delete(this.pending.keys().next().value as string)
      p.catch(() => { this.pending.delete(key) })
    }
    const total = await p
    const rec = this.read(target)
    return { total, root: rec === null ? new Uint8Array(32) : Buffer.from(rec.evidenceRoot, 'hex') }
  }

  private async credit (epoch: bigint): Promise<bigint> {
    const existing = this.read(epoch)
    if (existing !== null) return BigInt(existing.total)
    const { start: S, end: E } = this.o.epochBounds(epoch)
    if (BigInt(this.o.now()) < E) return 0n // not over yet: never persist a partial epoch
    await this.o.flush()
    const now = BigInt(this.o.now())
    const ev = this.o.evidence(epoch, S, E, now)
    const credit = this.o.recompute(ev)
    const bytes = encodeEvidence(ev)
    // another computation (e.g. a previous process) may have persisted it meanwhile: that one stands
    if (this.read(epoch) !== null) return BigInt(this.read(epoch)!.total)
    // the evidence before the record: a record always has its evidence, and a crash in between recomputes
    writeFileAtomicSync(this.path(epoch, 'evidence'), bytes, 0o644)
    let seq: number | null = null
    if (credit.total > 0n) seq = await this.o.publish(bytes) // nothing to report: nothing to prove
    const record: CreditRecord = { ...creditView(ev, credit), computedAt: Number(now), evidenceRoot: toHex(evidenceRoot(ev)), evidenceBytes: bytes.length, evidenceRecord: seq }
    writeFileAtomicSync(this.path(epoch), JSON.stringify(record, null, 2) + '\n', 0o644)
    this.o.onCredited(epoch, record)
    return credit.total
  }
}
