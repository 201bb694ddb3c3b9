// The node's metrics in the Prometheus text format, for `GET /metrics` on the explorer's listener, with
// prom-client (one registry per node). Counted from the node's events ('block', 'tx') and its log lines
// (reorgs, rejected blocks, attestation), so node.ts needs no hooks; gauges are read from the node's public
// state on each scrape; the verification histogram is fed by the verify pool.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Block } from '../protocol/block.js'
import type { LogFn } from './log.js'
import type { EconumiNode } from './node.js'

/** Reorg depths (blocks rolled back) per histogram bucket. */
const DEPTH_BUCKETS = [1, 2, 3, 5, 10, 20, 50, 100]
/** Upper bounds (seconds) of the block verification time histogram. */
export const VERIFY_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5]
/** Distinct label values one series keeps; beyond it, new ones are counted under `other` (bounded memory). */
const MAX_LABEL_SETS = 64

function num (v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v
  if (typeof v === 'bigint') return Number(v)
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v)
  return undefined
}

export interface AttestationStatusSource { status: () => Record<string, unknown> }

const COUNTERS: Array<[string, string]> = [
  ['econumi_blocks_produced_total', 'Blocks this node produced (won the lottery and appended)'],
  ['econumi_blocks_applied_total', 'Blocks that became part of the canonical chain here (own and received, counted per new head)'],
  ['econumi_reorgs_total', 'Reorganisations: the head moved to another branch'],
  ['econumi_transactions_admitted_total', 'Transactions admitted to the mempool (local and relayed)'],
  ['econumi_lottery_lost_total', 'Epochs in which this node claimed but another node won'],
  ['econumi_cu_reported_total', 'Compute units of the work reports in the blocks this node produced'],
  ['econumi_attested_workloads_total', 'Workloads the attestation collector started to witness'],
  ['econumi_polls_answered_total', 'Agent polls answered, counted from exit reports when a workload ends'],
  ['econumi_polls_missed_total', 'Agent polls missed (agent not connected or no valid answer in time)'],
  ['econumi_cu_credited_total', 'Compute units credited to attested workloads'],
  ['econumi_equivocations_total', 'Two blocks seen from one node for one epoch']
]

export class NodeMetrics {
  readonly registry = new Registry()
  private readonly counters = new Map<string, Counter>()
  private readonly rejected: Counter<'code'>
  private readonly rejectedCodes = new Set<string>()
  private readonly reorgDepth: Histogram
  readonly verifySeconds: Histogram
  private node: EconumiNode | null = null
  private attestation: AttestationStatusSource | null = null

  constructor () {
    collectDefaultMetrics({ register: this.registry }) // process_resident_memory_bytes, process_start_time_seconds, …
    for (const [name, help] of COUNTERS) this.counters.set(name, new Counter({ name, help, registers: [this.registry] }))
    this.rejected = new Counter({ name: 'econumi_blocks_rejected_total', help: 'Blocks from peers refused as invalid, by error code', labelNames: ['code'], registers: [this.registry] })
    this.reorgDepth = new Histogram({ name: 'econumi_reorg_depth', help: 'Blocks rolled back per reorganisation', buckets: DEPTH_BUCKETS, registers: [this.registry] })
    this.verifySeconds = new Histogram({ name: 'econumi_block_verify_seconds', help: 'Time to verify one block (signatures, rules, transactions), waiting for a worker included', buckets: VERIFY_BUCKETS, registers: [this.registry] })
    this.gauges()
  }

  /** Blocks produced and applied here, kept for the derived `econumi_blocks_received_total`. */
  private readonly totals = new Map<string, number>()

  /** Add to a counter (negative or unknown: ignored). */
  inc (name: string, by = 1): void {
    if (!(by >= 0)) return
    this.counters.get(name)?.inc(by)
    this.totals.set(name, (this.totals.get(name) ?? 0) + by)
  }

  /** Read the node's state on each scrape and count its events. */
  attach (node: EconumiNode, attestation?: AttestationStatusSource | null): void {
    this.node = node
    this.attestation = attestation ?? null
    node.verifier.onVerified = (seconds) => { this.verifySeconds.observe(seconds) }
    node.on('block', (block: Block) => {
      this.inc('econumi_blocks_produced_total')
      this.inc('econumi_cu_reported_total', Number(block.reports.reduce((s, r) => s + r.cu, 0n)))
    })
    node.on('tx', () => { this.inc('econumi_transactions_admitted_total') })
  }

  /** A log function that also feeds the counters the node reports only in its log. */
  tap (log: LogFn): LogFn {
    return (event, fields = {}) => {
      try { this.onLog(event, fields) } catch {} // metrics never break logging
      log(event, fields)
    }
  }

  onLog (event: string, f: Record<string, unknown>): void {
    switch (event) {
      case 'head': this.inc('econumi_blocks_applied_total', num(f.blocks) ?? 1); break
      case 'reorg': {
        this.inc('econumi_reorgs_total')
        this.reorgDepth.observe(num(f.rolledBack) ?? 0)
        break
      }
      case 'block-rejected':
      case 'block-invalid':
        this.rejectedCode(typeof f.code === 'string' ? f.code.slice(0, 40) : 'unknown')
        break
      case 'equivocation': this.inc('econumi_equivocations_total'); break
      case 'lottery-lost': this.inc('econumi_lottery_lost_total'); break
      case 'workload-start': this.inc('econumi_attested_workloads_total'); break
      case 'poll-missed': this.inc('econumi_polls_missed_total'); break
      case 'exit-report': this.inc('econumi_polls_answered_total', num(f.pollsAnswered) ?? 0); break
      case 'attestation-credit': this.inc('econumi_cu_credited_total', num(f.cu) ?? 0); break
    }
  }

  private rejectedCode (code: string): void {
    if (!this.rejectedCodes.has(code) && this.rejectedCodes.size >= MAX_LABEL_SETS) code = 'other'
    this.rejectedCodes.add(code)
    this.rejected.inc({ code })
  }

  /** Gauges read on each scrape, from the node's public members. */
  private gauges (): void {
    const gauge = (name: string, help: string, read: (self: NodeMetrics) => number | undefined): void => {
      const self = this // eslint-disable-line @typescript-eslint/no-this-alias -- prom-client calls collect with the metric as `this`
      new Gauge({ name, help, registers: [this.registry], collect () { const v = read(self); if (v !== undefined) this.set(v) } })
    }
    const node = (self: NodeMetrics): EconumiNode | null => self.node
    gauge('econumi_height', 'Height of the head block (-1: no blocks yet)', (m) => node(m) === null ? undefined : Number(node(m)!.ledger.height))
    gauge('econumi_sync_target_height', 'Highest height peers announced with more work than this node has', (m) => node(m) === null ? undefined : Number(node(m)!.syncState().target))
    gauge('econumi_syncing', '1 while peers announce more work than this node has', (m) => node(m) === null ? undefined : node(m)!.syncState().syncing ? 1 : 0)
    gauge('econumi_epoch', 'Current epoch by the clock', (m) => node(m) === null ? undefined : Number(node(m)!.clock.current()))
    gauge('econumi_peers', 'Connected peers', (m) => node(m) === null ? undefined : node(m)!.network?.peers.size ?? 0)
    gauge('econumi_mempool_transactions', 'Transactions waiting in the mempool', (m) => node(m)?.mempool.size)
    gauge('econumi_verify_queue_depth', 'Block and transaction verifications waiting for or inside a verification worker', (m) => node(m)?.verifier.queueDepth)
    gauge('econumi_sync_verified_waiting', 'Downloaded blocks verified and waiting to be applied (sync)', (m) => node(m)?.sync.pendingVerified)
    gauge('econumi_blocks_received_total', 'Blocks from peers that became canonical here (applied minus produced)', (m) => Math.max(0, m.value('econumi_blocks_applied_total') - m.value('econumi_blocks_produced_total')))
    const att = (m: NodeMetrics): Record<string, unknown> | null => m.attestation?.status() ?? null
    gauge('econumi_attestation_workloads', 'Workloads the attestation collector tracks now', (m) => { const s = att(m); return s === null ? undefined : Array.isArray(s.workloads) ? s.workloads.length : 0 })
    gauge('econumi_attestation_agents_connected', 'Sidecar agents connected now', (m) => num(att(m)?.agentsConnected))
    gauge('econumi_plugin_events', 'Container creates the plugin reported to this node', (m) => num(att(m)?.pluginEvents))
    // the plugin's own counters since it started, as it last reported them with its events (a restart resets them)
    const plugin = (m: NodeMetrics, k: string): number | undefined => num((att(m)?.plugin as Record<string, unknown> | null | undefined)?.[k])
    gauge('econumi_plugin_requests', 'Docker Engine API calls the authorization plugin decided since it started (as the plugin reported)', (m) => plugin(m, 'requests'))
    gauge('econumi_plugin_denials', 'Docker Engine API calls the authorization plugin denied since it started (as the plugin reported)', (m) => plugin(m, 'denials'))
    gauge('econumi_plugin_events_dropped', 'Creates the plugin dropped since it started (queue full or node unreachable)', (m) => plugin(m, 'dropped'))
  }

  /** A counter's value now (derived gauges). */
  value (name: string): number { return this.totals.get(name) ?? 0 }

  /** The text exposition of every metric. */
  async render (): Promise<string> { return await this.registry.metrics() }

  get contentType (): string { return this.registry.contentType }
}
