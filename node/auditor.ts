// The auditor (DESIGN.md "Evidence and audits"): finds the evidence behind work reports on chain in the nodes'
// attestations cores (its own and the ones peers named in their hello), recomputes it with the rule every node
// applies (protocol/evidence.ts checkReportEvidence), and for each new block audits the reports its VRF coin
// picks (protocol/audit.ts), so every report is checked by AUDITORS_PER_REPORT peers in expectation. A failed
// audit is a fraud proof (protocol/fraud.ts), handed to `onFraud`: a bad-certificate excerpt where one workload's
// certificate or checkpoint signatures fail, else a miscredit with the whole evidence. The evidence is self-certifying (the
// report's evidenceRoot commits it), so it does not matter which core or peer it came from.
import { EVIDENCE_RECORD_TAG, POLL_WINDOW_MS, windowStart } from '../protocol/attestation.js'
import { type Block } from '../protocol/block.js'
import { equalBytes, toHex } from '../protocol/encoding.js'
import { fail, isEconumiError } from '../protocol/errors.js'
import { type EpochEvidence, MAX_EVIDENCE_BYTES, checkReportEvidence, decodeEvidence, evidenceRoot } from '../protocol/evidence.js'
import { type FraudProof, compactFraudProof, evidenceExcerpt } from '../protocol/fraud.js'
import { sha256 } from '../protocol/hash.js'
import { auditCoin, selectedForAudit } from '../protocol/audit.js'
import { type WorkReport, isUnattested, reportHash } from '../protocol/report.js'
import { registeredReservation } from '../protocol/weights.js'
import { creditView } from './attestation/credit.js'
import { x509AgentChecker } from '../protocol/certificates.js'
import type { Core } from './chain-store.js'
import type { NodeContext } from './context.js'

/** How far back in a core the evidence of a report is looked for (one record per epoch, plus exit reports). */
export const AUDIT_SCAN_RECORDS = 256
/** Records cores remembered (one per peer that said hello, and this node's own). */
export const MAX_RECORD_CORES = 256
/** Decoded evidence kept by root. */
export const EVIDENCE_CACHE = 64
/** Audits waiting or running at once; beyond, a new block's picks are dropped (logged). */
export const MAX_PENDING_AUDITS = 64
/** `econumi audit <node|report>` looks for the reports in this many blocks below the head. */
export const AUDIT_SCAN_BLOCKS = 256n
/** Bytes one evidence search may download from all cores together. */
export const SEARCH_BYTES = 4 * MAX_EVIDENCE_BYTES
/** Roots remembered as available (more than the report pool holds). */
export const MAX_AVAILABLE = 8192
/** Agent keys remembered per epoch for the double-credit check. */
export const MAX_AGENT_KEYS = 8192
const FETCH_TIMEOUT_MS = 3000

export type Verdict = 'valid' | 'fraud' | 'unavailable' | 'unattested'

export interface AuditResult {
  report: string
  node: string
  epoch: string
  cu: string
  evidenceRoot: string
  height: string | null
  verdict: Verdict
  code?: string
  message?: string
  recomputed?: string
  evidence?: {
    core: string
    seq: number
    bytes: number
    caFingerprint: string
    pollSecrets: string[]
    credit: ReturnType<typeof creditView>
    checkpoints: Array<{ containerId: string, agentKey: string, answered: number, missed: number, first: string | null, last: string | null }>
  }
}

interface Found { ev: EpochEvidence, core: string, seq: number, bytes: number }

export class Auditor {
  private readonly cores = new Map<string, string>() // peer id (or 'self') → records core key
  private readonly cache = new Map<string, Found>()
  /** Node key → the records core its evidence was last found in. */
  private readonly homes = new Map<string, string>()
  private readonly agentKeys = new Map<string, { report: WorkReport, ev: EpochEvidence }>()
  private pending = 0
  private closed = false
  /** Roots whose evidence this node has seen in some core (a producer includes attested reports only then). */
  private readonly available = new Set<string>()
  private readonly fetching = new Set<string>()

  constructor (private readonly ctx: NodeContext, private readonly onFraud: (proof: FraudProof, reason: string) => Promise<void>) {}

  close (): void { this.closed = true }

  /**
   * May a block include this report? Only once its evidence is published where this node can read it: a report
   * whose evidence no producer can fetch before it falls out of the inclusion window never goes on chain (void).
   * Its own reports are published before they are signed.
   */
  isAvailable (r: WorkReport): boolean {
    return isUnattested(r) || toHex(r.nodeKey) === this.ctx.identity.nodeId || this.available.has(toHex(r.evidenceRoot))
  }

  /** Looks for a pooled report's evidence in the background (bounded; retried on every new head while pooled). */
  prefetch (r: WorkReport): void {
    const root = toHex(r.evidenceRoot)
    if (this.closed || this.isAvailable(r) || this.fetching.has(root) || this.fetching.size >= MAX_PENDING_AUDITS) return
    this.fetching.add(root)
    void this.findEvidence(r).catch(() => null).finally(() => { this.fetching.delete(root) })
  }

  /** A peer's hello named its attestations core. */
  addRecordsCore (peer: string, key: string): void {
    if (!this.cores.has(peer) && this.cores.size >= MAX_RECORD_CORES) return
    this.cores.set(peer, key)
  }

  forgetPeer (peer: string): void { this.cores.delete(peer) }

  private remember (root: string, f: Found): void {
    this.available.add(root)
    if (this.available.size > MAX_AVAILABLE) this.available.delete(this.available.values().next().value as string)
    this.cache.set(root, f)
    if (this.cache.size > EVIDENCE_CACHE) this.cache.delete(this.cache.keys().next().value as string)
  }

  /** The evidence a report commits, from any known attestations core; null if none has it (yet). */
  async findEvidence (report: WorkReport): Promise<Found | null> {
    const root = toHex(report.evidenceRoot)
    const hit = this.cache.get(root)
    if (hit !== undefined) return hit
    const own = toHex(this.ctx.store.records.key)
    // the core that held this node's evidence before first, then its own, then every other known one
    const home = this.homes.get(toHex(report.nodeKey))
    const keys = [...new Set([...(home !== undefined ? [home] : []), own, ...this.cores.values()])]
    // a peer's core is the peer's to fill: what one search downloads is bounded, however large its blocks
    const budget = { bytes: SEARCH_BYTES }
    for (const key of keys) {
      if (budget.bytes <= 0 || this.closed) break
      const core = key === own ? this.ctx.store.records : await this.ctx.store.core(key)
      const f = await this.scan(core, key, report, budget)
      if (f !== null) return f
    }
    return null
  }

  private async scan (core: Core, key: string, report: WorkReport, budget: { bytes: number }): Promise<Found | null> {
    const c = core as Core & { update?: (o: { wait: boolean }) => Promise<boolean> }
    if (c.update !== undefined && key !== toHex(this.ctx.store.records.key)) {
      await Promise.race([c.update({ wait: true }).catch(() => false), new Promise((resolve) => setTimeout(resolve, FETCH_TIMEOUT_MS).unref())])
    }
    const want = toHex(report.evidenceRoot)
    for (let i = c.length - 1; i >= 0 && i >= c.length - AUDIT_SCAN_RECORDS && budget.bytes > 0 && !this.closed; i--) {
      let b: Buffer | null = null
      try { b = await c.get(i, { wait: true, timeout: FETCH_TIMEOUT_MS }) } catch { b = null }
      if (b === null) continue
      budget.bytes -= b.length
      if (b[0] !== EVIDENCE_RECORD_TAG) continue
      let ev: EpochEvidence
      try { ev = decodeEvidence(b.subarray(1)) } catch { continue } // a core's junk is its owner's problem, not a verdict
      if (ev.epoch < report.epoch && equalBytes(ev.nodeKey, report.nodeKey)) break // its node's evidence only gets older from here
      const root = toHex(evidenceRoot(ev))
      const f = { ev, core: key, seq: i, bytes: b.length - 1 }
      this.remember(root, f)
      this.homes.set(toHex(ev.nodeKey), key)
      if (this.homes.size > MAX_RECORD_CORES * 4) this.homes.delete(this.homes.keys().next().value as string)
      if (root === want) return f
    }
    return null
  }

  /** Audits one report: its evidence recomputes to its CU under the node's registered capacity. */
  async audit (report: WorkReport, height: bigint | null): Promise<AuditResult> {
    const node = toHex(report.nodeKey)
    const base = { report: toHex(reportHash(report)), node, epoch: report.epoch.toString(), cu: report.cu.toString(), evidenceRoot: toHex(report.evidenceRoot), height: height?.toString() ?? null }
    if (isUnattested(report)) return { ...base, verdict: 'unattested', message: 'a devnet\'s declared compute units: no evidence' }
    const found = await this.findEvidence(report)
    if (found === null) return { ...base, verdict: 'unavailable', message: 'no known attestations core holds the evidence this report commits' }
    const { ev } = found
    const registeredCapacity = registeredReservation(this.ctx.params, node, await this.ctx.ledger.node(node))
    const evidence = {
      core: found.core,
      seq: found.seq,
      bytes: found.bytes,
      caFingerprint: toHex(sha256(ev.caCertificate)),
      pollSecrets: ev.pollSecrets.map((s) => s.epoch.toString()),
      credit: creditView(ev, { total: 0n, workloads: [] }),
      checkpoints: ev.workloads.map((x) => {
        const cps = x.checkpoints
        const span = cps.length === 0 ? 0 : Number(cps[cps.length - 1].window - cps[0].window) + 1
        return { containerId: x.containerId, agentKey: toHex(x.agentKey), answered: cps.length, missed: span - cps.length, first: cps.length === 0 ? null : windowStart(cps[0].window).toString(), last: cps.length === 0 ? null : (windowStart(cps[cps.length - 1].window) + POLL_WINDOW_MS).toString() }
      })
    }
    try {
      const credit = checkReportEvidence(report, ev, { params: this.ctx.params, genesis: this.ctx.genesis, registeredCapacity, certificates: x509AgentChecker })
      return { ...base, verdict: 'valid', recomputed: credit.total.toString(), evidence: { ...evidence, credit: creditView(ev, credit) } }
    } catch (err) {
      if (!isEconumiError(err) || !err.code.startsWith('E_EVIDENCE_')) throw err
      const recomputed = (err.details as { recomputed?: bigint } | undefined)?.recomputed
      return { ...base, verdict: 'fraud', code: err.code, message: err.message, ...(recomputed !== undefined ? { recomputed: recomputed.toString() } : {}), evidence }
    }
  }

  /**
   * `econumi audit`: a height audits every report of that block; a 64-hex target the reports of that node, or the
   * report with that hash, among the last AUDIT_SCAN_BLOCKS blocks.
   */
  async auditTarget (target: string, blockAt: (height: bigint) => Promise<Block | null>): Promise<AuditResult[]> {
    const tip = this.ctx.ledger.tip
    if (/^\d{1,19}$/.test(target)) {
      const b = await blockAt(BigInt(target))
      if (b === null) fail('E_NOT_FOUND', 'no block at this height', { height: target })
      return await Promise.all(b.reports.map(async (r) => await this.audit(r, b.header.height)))
    }
    if (!/^[0-9a-f]{64}$/.test(target)) fail('E_BAD_AUDIT_TARGET', 'audit target must be a block height, a node id or a report hash (64 hex characters)', { target: target.slice(0, 80) })
    const out: AuditResult[] = []
    for (let h = tip?.height ?? -1n; h >= 0n && tip !== null && h > tip.height - AUDIT_SCAN_BLOCKS; h--) {
      const b = await blockAt(h)
      for (const r of b?.reports ?? []) if (toHex(r.nodeKey) === target || toHex(reportHash(r)) === target) out.push(await this.audit(r, h))
    }
    if (out.length === 0) fail('E_NOT_FOUND', `no work report of this node, and no report with this hash, in the last ${AUDIT_SCAN_BLOCKS} blocks`, { target })
    return out
  }

  /** Two nodes' evidence of one epoch credits one agent key: the second is a double credit. */
  private doubleCredit (report: WorkReport, ev: EpochEvidence): FraudProof | null {
    for (const x of ev.workloads) {
      const k = `${report.epoch}:${toHex(x.agentKey)}`
      const prior = this.agentKeys.get(k)
      if (prior === undefined) {
        this.agentKeys.set(k, { report, ev })
        if (this.agentKeys.size > MAX_AGENT_KEYS) this.agentKeys.delete(this.agentKeys.keys().next().value as string)
        continue
      }
      if (toHex(reportHash(prior.report)) === toHex(reportHash(report))) continue
      return { kind: 'double-credit', a: evidenceExcerpt(prior.report, prior.ev, x.containerId), b: evidenceExcerpt(report, ev, x.containerId) }
    }
    return null
  }

  /**
   * A new head: audit the reports of its blocks that this node's coin picks. Test knob: ECONUMI_TEST_NO_AUDIT=1
   * makes a node audit nothing on its own (it still checks and includes the proofs others find), so a test can
   * show a proof reaching a producer that did not find it (test/p2p/fraud.test.ts).
   */
  onNewHead (blocks: Block[]): void {
    const tip = this.ctx.ledger.tip
    if (tip === null || this.closed || process.env.ECONUMI_TEST_NO_AUDIT === '1') return
    const me = this.ctx.identity.nodeId
    for (const b of blocks) {
      const picks = b.reports.filter((r) => toHex(r.nodeKey) !== me && !isUnattested(r))
      if (picks.length === 0) continue
      const coin = auditCoin(this.ctx.identity.signer, tip.beacon, b.header.epoch)
      for (const r of picks) {
        if (!selectedForAudit(coin, r, (this.ctx.network?.peers.size ?? 0) + 1)) continue
        if (this.pending >= MAX_PENDING_AUDITS) { this.ctx.log('audit-dropped', { node: toHex(r.nodeKey).slice(0, 16), epoch: r.epoch }); continue }
        this.pending++
        void this.run(r, b.header.height).finally(() => { this.pending-- })
      }
    }
  }

  private async run (r: WorkReport, height: bigint): Promise<void> {
    try {
      const res = await this.audit(r, height)
      this.ctx.log(`audit-${res.verdict}`, { node: res.node.slice(0, 16), epoch: res.epoch, cu: res.cu, ...(res.code !== undefined ? { code: res.code } : {}), ...(res.recomputed !== undefined ? { recomputed: res.recomputed } : {}) })
      if (res.verdict === 'fraud') {
        const found = await this.findEvidence(r)
        // a certificate or checkpoint signature that fails is proven by its workload's excerpt alone (kilobytes, not the epoch's evidence)
        if (found !== null) await this.onFraud(compactFraudProof(r, found.ev, x509AgentChecker) ?? { kind: 'miscredit', report: r, evidence: found.ev }, res.code ?? 'miscredit')
      } else if (res.verdict === 'valid') {
        const found = await this.findEvidence(r)
        const proof = found === null ? null : this.doubleCredit(r, found.ev)
        if (proof !== null) await this.onFraud(proof, 'double credit')
      }
    } catch (err) {
      if (!this.closed) this.ctx.log('audit-failed', { node: toHex(r.nodeKey).slice(0, 16), epoch: r.epoch, error: (err as Error).message })
    }
  }
}
