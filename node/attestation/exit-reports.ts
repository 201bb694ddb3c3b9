// The agents' sessions and their exit reports: the agent re-signs its exit report with every poll answer
// (and when asked, e.g. before an epoch is credited), the collector keeps the latest one that verifies and
// binds to the agent it started, and when the workload has died it verifies that report once more, writes
// it to <dataDir>/reports/<id>.json and appends it to the node's attestations core.
import { join } from 'node:path'
import { encodeAttestationRecord, verifyExitReport, type SignedExitReport } from '../../protocol/attestation.js'
import { fail, isEconumiError } from '../../protocol/errors.js'
import type { AgentMessage } from '../../agent/wire.js'
import { writeFileAtomicSync } from '../atomic-file.js'
import type { LogFn } from '../log.js'
import type { AgentSession } from './agent-server.js'
import { type NodeCa, verifyAgentCertificate } from './pki.js'
import type { Polls } from './polls.js'
import type { Workload } from './workload.js'

/** How long an epoch's credit waits for the exit reports it asked the agents for. */
const FLUSH_WAIT_MS = 300

export interface ExitReportsOptions {
  dataDir: string
  workloads: Map<string, Workload>
  ca: () => NodeCa
  polls: () => Polls
  appendRecord: (bytes: Uint8Array) => Promise<number>
  /** Removes the workload's agent container and forgets its record. */
  removeAgent: (w: Workload) => Promise<void>
  now: () => number
  log: LogFn
}

function hex (b: Uint8Array): string { return Buffer.from(b).toString('hex') }

export class ExitReports {
  /** The one live session per workload (a newer hello replaces an older one). */
  readonly sessions = new Map<string, AgentSession>()

  constructor (private readonly o: ExitReportsOptions) {}

  onSession (s: AgentSession): void {
    const w = this.o.workloads.get(s.containerId)
    if (w === undefined) { s.close(); return }
    this.sessions.get(s.containerId)?.close()
    this.sessions.set(s.containerId, s)
    w.everConnected = true
    this.o.log('agent-connected', { container: s.containerId.slice(0, 12) })
  }

  onClose (s: AgentSession): void {
    if (this.sessions.get(s.containerId) === s) this.sessions.delete(s.containerId)
  }

  onMessage (s: AgentSession, m: AgentMessage): void {
    const w = this.o.workloads.get(s.containerId)
    if (w === undefined || this.sessions.get(s.containerId) !== s) return
    if (m?.t === 'answer') {
      if (this.o.polls().onAnswer(w, s, m)) this.accept(w, s, m.report)
      return
    }
    if (m?.t === 'report') {
      this.accept(w, s, m.report)
      this.o.polls().acceptSpan(w, hex(s.publicKey), m.span)
    }
  }

  private accept (w: Workload, s: AgentSession, signed: unknown): void {
    try {
      const r = verifyExitReport(signed)
      if (r.containerId !== w.id || r.agentPublicKey !== hex(s.publicKey) || r.nodeId !== this.o.ca().nodeId || r.certificate !== w.agent?.certificate) {
        fail('E_REPORT_BINDING', 'report does not match the agent the node started', { containerId: w.id })
      }
      if (r.lastAlive > this.o.now() + 2000) fail('E_REPORT_TIMES', 'report from the future', { lastAlive: r.lastAlive })
      if (w.report !== null && r.lastAlive < w.report.lastAlive && r.agentPublicKey === w.report.agentPublicKey) return
      w.report = r
      w.signed = signed as SignedExitReport
      for (const f of w.reportWaiters.splice(0)) f()
    } catch (err) {
      this.o.log('report-refused', { container: w.id.slice(0, 12), code: isEconumiError(err) ? err.code : 'E_INTERNAL', error: (err as Error).message })
    }
  }

  /** Verifies the last exit report the agent sent, writes it and appends it to the attestations core, removes the agent. */
  async finalize (w: Workload): Promise<void> {
    if (w.finalized || w.openFrom !== null) return
    w.finalized = true
    this.sessions.get(w.id)?.close()
    if (w.signed !== null && w.report !== null && w.agent !== null) {
      try {
        const ca = this.o.ca()
        verifyExitReport(w.signed)
        verifyAgentCertificate({ certPem: w.report.certificate, ca, nodeId: ca.nodeId, containerId: w.id, agentPublicKey: Buffer.from(w.report.agentPublicKey, 'hex'), at: w.report.lastAlive })
        const file = { ...w.signed, daemon: { exitCode: w.exitCode, exitedAt: w.exitedAt }, pollsMissedByNode: [...w.polls.values()].filter((p) => !p.answered).length }
        if (w.agent.certificate !== w.report.certificate) fail('E_REPORT_BINDING', 'report certificate is not the one issued')
        writeFileAtomicSync(join(this.o.dataDir, 'reports', `${w.id}.json`), JSON.stringify(file, null, 2) + '\n', 0o644)
        const seq = await this.o.appendRecord(encodeAttestationRecord({ type: 'econumi/exit-report', version: 1, report: w.report, signature: w.signed.signature }))
        this.o.log('exit-report', { container: w.id.slice(0, 12), durationMs: w.report.durationMs, pollsAnswered: w.report.pollsAnswered, record: seq })
      } catch (err) {
        this.o.log('exit-report-refused', { container: w.id.slice(0, 12), code: isEconumiError(err) ? err.code : 'E_INTERNAL', error: (err as Error).message })
      }
    } else if (w.agent !== null) {
      this.o.log('exit-report-missing', { container: w.id.slice(0, 12), reason: 'agent never reported' })
    }
    await this.o.removeAgent(w)
  }

  /** Asks every connected agent of a running workload for its exit report now; waits at most FLUSH_WAIT_MS. */
  async flush (): Promise<void> {
    const waits: Array<Promise<void>> = []
    for (const [id, s] of this.sessions) {
      const w = this.o.workloads.get(id)
      if (w === undefined || w.openFrom === null) continue
      waits.push(new Promise<void>((resolve) => { w.reportWaiters.push(resolve) }))
      s.send({ t: 'checkpoint', health: w.health })
    }
    if (waits.length === 0) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.all(waits), new Promise<void>((resolve) => { timer = setTimeout(resolve, FLUSH_WAIT_MS) })])
    clearTimeout(timer)
    for (const w of this.o.workloads.values()) w.reportWaiters.length = 0
  }
}
