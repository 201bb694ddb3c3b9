// The node's metrics in the Prometheus text format (version 0.0.4), for `GET /metrics` on the explorer's
// listener. Read from the node's public state on each scrape, counted from its events ('head', 'block',
// 'tx') and from its log lines (reorgs, rejected blocks, attestation), so node.ts needs no hooks.
import type { Block } from '../protocol/block.js'
import type { LogFn } from './log.js'
import type { EconumiNode } from './node.js'
import { VERIFY_BUCKETS } from './verify-pool.js'

type Labels = Record<string, string>

interface Series { help: string, type: 'counter' | 'gauge' | 'histogram', values: Map<string, number>, buckets?: number[] }

/** Reorg depths (blocks rolled back) per histogram bucket. */
const DEPTH_BUCKETS = [1, 2, 3, 5, 10, 20, 50, 100]
/** Distinct label sets one series keeps; beyond it, new ones are counted under `other` (bounded memory). */
const MAX_LABEL_SETS = 64

function labelText (labels: Labels | undefined): string {
  if (labels === undefined) return ''
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

function num (v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v
  if (typeof v === 'bigint') return Number(v)
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v)
  return undefined
}

export interface AttestationStatusSource { status: () => Record<string, unknown> }

export class NodeMetrics {
  private readonly series = new Map<string, Series>()
  private node: EconumiNode | null = null
  private attestation: AttestationStatusSource | null = null
  private readonly startedAt = Date.now() / 1000

  constructor () {
    this.define('econumi_blocks_produced_total', 'counter', 'Blocks this node produced (won the lottery and appended)')
    this.define('econumi_blocks_applied_total', 'counter', 'Blocks that became part of the canonical chain here (own and received, counted per new head)')
    this.define('econumi_blocks_rejected_total', 'counter', 'Blocks from peers refused as invalid, by error code')
    this.define('econumi_reorgs_total', 'counter', 'Reorganisations: the head moved to another branch')
    this.define('econumi_reorg_depth', 'histogram', 'Blocks rolled back per reorganisation', DEPTH_BUCKETS)
    this.define('econumi_transactions_admitted_total', 'counter', 'Transactions admitted to the mempool (local and relayed)')
    this.define('econumi_lottery_lost_total', 'counter', 'Epochs in which this node claimed but another node won')
    this.define('econumi_cu_reported_total', 'counter', 'Compute units of the work reports in the blocks this node produced')
    this.define('econumi_attested_workloads_total', 'counter', 'Workloads the attestation collector started to witness')
    this.define('econumi_polls_answered_total', 'counter', 'Agent polls answered, counted from exit reports when a workload ends')
    this.define('econumi_polls_missed_total', 'counter', 'Agent polls missed (agent not connected or no valid answer in time)')
    this.define('econumi_cu_credited_total', 'counter', 'Compute units credited to attested workloads')
    this.define('econumi_equivocations_total', 'counter', 'Two blocks seen from one node for one epoch')
  }

  private define (name: string, type: Series['type'], help: string, buckets?: number[]): void {
    this.series.set(name, { help, type, values: new Map(), buckets })
  }

  /** Add to a counter; `labels` keys a separate value (bounded per series). */
  inc (name: string, by = 1, labels?: Labels): void {
    const s = this.series.get(name)
    if (s === undefined || !(by >= 0)) return
    let key = labelText(labels)
    if (!s.values.has(key) && s.values.size >= MAX_LABEL_SETS) key = labelText(Object.fromEntries(Object.keys(labels ?? {}).map((k) => [k, 'other'])))
    s.values.set(key, (s.values.get(key) ?? 0) + by)
  }

  observe (name: string, value: number): void {
    const s = this.series.get(name)
    if (s?.buckets === undefined) return
    for (const b of s.buckets) if (value <= b) s.values.set(`le:${b}`, (s.values.get(`le:${b}`) ?? 0) + 1)
    s.values.set('le:+Inf', (s.values.get('le:+Inf') ?? 0) + 1)
    s.values.set('sum', (s.values.get('sum') ?? 0) + value)
    s.values.set('count', (s.values.get('count') ?? 0) + 1)
  }

  /** Read the node's state on each scrape and count its events. */
  attach (node: EconumiNode, attestation?: AttestationStatusSource | null): void {
    this.node = node
    this.attestation = attestation ?? null
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
        const depth = num(f.rolledBack) ?? 0
        this.inc('econumi_reorgs_total')
        this.observe('econumi_reorg_depth', depth)
        break
      }
      case 'block-rejected':
      case 'block-invalid':
        this.inc('econumi_blocks_rejected_total', 1, { code: typeof f.code === 'string' ? f.code.slice(0, 40) : 'unknown' })
        break
      case 'equivocation': this.inc('econumi_equivocations_total'); break
      case 'lottery-lost': this.inc('econumi_lottery_lost_total'); break
      case 'workload-start': this.inc('econumi_attested_workloads_total'); break
      case 'poll-missed': this.inc('econumi_polls_missed_total'); break
      case 'exit-report': this.inc('econumi_polls_answered_total', num(f.pollsAnswered) ?? 0); break
      case 'attestation-credit': this.inc('econumi_cu_credited_total', num(f.cu) ?? 0); break
    }
  }

  /** Gauges read now, from the node's public members. */
  private gauges (): Array<{ name: string, help: string, value: number, labels?: Labels, type?: 'counter' }> {
    const out: Array<{ name: string, help: string, value: number, labels?: Labels, type?: 'counter' }> = []
    const mem = process.memoryUsage()
    out.push({ name: 'process_resident_memory_bytes', help: 'Resident memory of the node process', value: mem.rss })
    out.push({ name: 'process_start_time_seconds', help: 'When the metrics of this process started (Unix time)', value: Math.floor(this.startedAt) })
    const node = this.node
    if (node === null) return out
    const sync = node.syncState()
    out.push({ name: 'econumi_height', help: 'Height of the head block (-1: no blocks yet)', value: Number(node.ledger.height) })
    out.push({ name: 'econumi_sync_target_height', help: 'Highest height peers announced with more work than this node has', value: Number(sync.target) })
    out.push({ name: 'econumi_syncing', help: '1 while peers announce more work than this node has', value: sync.syncing ? 1 : 0 })
    out.push({ name: 'econumi_epoch', help: 'Current epoch by the clock', value: Number(node.clock.current()) })
    out.push({ name: 'econumi_peers', help: 'Connected peers', value: node.network?.peers.size ?? 0 })
    out.push({ name: 'econumi_mempool_transactions', help: 'Transactions waiting in the mempool', value: node.mempool.size })
    out.push({ name: 'econumi_verify_queue_depth', help: 'Block and transaction verifications waiting for or inside a verification worker', value: node.verifier.queueDepth })
    out.push({ name: 'econumi_sync_verified_waiting', help: 'Downloaded blocks verified and waiting to be applied (sync)', value: node.sync.pendingVerified })
    const produced = this.series.get('econumi_blocks_produced_total')!.values.get('') ?? 0
    const applied = this.series.get('econumi_blocks_applied_total')!.values.get('') ?? 0
    out.push({ name: 'econumi_blocks_received_total', help: 'Blocks from peers that became canonical here (applied minus produced)', value: Math.max(0, applied - produced) })
    if (this.attestation !== null) {
      const s = this.attestation.status()
      const workloads = Array.isArray(s.workloads) ? s.workloads.length : 0
      out.push({ name: 'econumi_attestation_workloads', help: 'Workloads the attestation collector tracks now', value: workloads })
      const agents = num(s.agentsConnected)
      if (agents !== undefined) out.push({ name: 'econumi_attestation_agents_connected', help: 'Sidecar agents connected now', value: agents })
      const pluginEvents = num(s.pluginEvents)
      if (pluginEvents !== undefined) out.push({ name: 'econumi_plugin_events', help: 'Container lifecycle events the plugin reported to this node', value: pluginEvents })
      const p = s.plugin as { requests?: unknown, denials?: unknown, dropped?: unknown } | null | undefined
      if (p !== null && p !== undefined) {
        // the plugin's own counters (since it started), as it last reported them with its events
        out.push({ name: 'econumi_plugin_requests_total', type: 'counter', help: 'Docker Engine API calls the authorization plugin decided (as the plugin reported)', value: num(p.requests) ?? 0 })
        out.push({ name: 'econumi_plugin_denials_total', type: 'counter', help: 'Docker Engine API calls the authorization plugin denied (as the plugin reported)', value: num(p.denials) ?? 0 })
        out.push({ name: 'econumi_plugin_events_dropped_total', type: 'counter', help: 'Lifecycle events the plugin dropped (queue full or node unreachable)', value: num(p.dropped) ?? 0 })
      }
    }
    return out
  }

  /** The text exposition: HELP and TYPE, then the samples, of every series. */
  render (): string {
    const lines: string[] = []
    for (const g of this.gauges()) {
      lines.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} ${g.type ?? 'gauge'}`, `${g.name}${labelText(g.labels)} ${g.value}`)
    }
    const timing = this.node?.verifier.timing
    if (timing !== undefined) {
      const name = 'econumi_block_verify_seconds'
      lines.push(`# HELP ${name} Time to verify one block (signatures, rules, transactions), waiting for a worker included`, `# TYPE ${name} histogram`)
      VERIFY_BUCKETS.forEach((b, i) => lines.push(`${name}_bucket{le="${b}"} ${timing.buckets[i]}`))
      lines.push(`${name}_bucket{le="+Inf"} ${timing.count}`, `${name}_sum ${timing.sumSeconds}`, `${name}_count ${timing.count}`)
    }
    for (const [name, s] of this.series) {
      lines.push(`# HELP ${name} ${s.help}`, `# TYPE ${name} ${s.type}`)
      if (s.type === 'histogram') {
        for (const b of s.buckets ?? []) lines.push(`${name}_bucket{le="${b}"} ${s.values.get(`le:${b}`) ?? 0}`)
        lines.push(`${name}_bucket{le="+Inf"} ${s.values.get('le:+Inf') ?? 0}`, `${name}_sum ${s.values.get('sum') ?? 0}`, `${name}_count ${s.values.get('count') ?? 0}`)
        continue
      }
      if (s.values.size === 0) { lines.push(`${name} 0`); continue }
      for (const [labels, v] of s.values) lines.push(`${name}${labels} ${v}`)
    }
    return lines.join('\n') + '\n'
  }
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
