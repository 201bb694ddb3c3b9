// Health polls: once per 5-second window, at an instant derived from the chain tip and the node's poll
// secret (unpredictable to the agent), the node challenges each running workload's agent with a fresh
// nonce and checks the signed answer; no valid answer in ANSWER_TIMEOUT_MS is a miss. A fresh agent may miss
// challenges while it boots (AGENT_GRACE_MS).
import { randomBytes } from 'node:crypto'
import { ANSWER_TIMEOUT_MS, POLL_WINDOW_MS, challengeNonce, challengeOffsetMs, verifyPollAnswer, windowOf } from '../../protocol/attestation.js'
import type { AgentMessage } from '../../agent/wire.js'
import type { AgentSession } from './agent-server.js'
import type { AttestationLog, Workload } from './workload.js'

export const AGENT_GRACE_MS = 10_000

/** The timers polls run on (tests pass a fake clock's, so windows fire only when the test says). */
export interface PollTimers {
  setTimeout: (fn: () => void, ms: number) => NodeJS.Timeout
  clearTimeout: (t: NodeJS.Timeout) => void
}
const REAL_TIMERS: PollTimers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => { clearTimeout(t) } }

export interface PollsOptions {
  workloads: Map<string, Workload>
  sessions: Map<string, AgentSession>
  tipHash: () => Uint8Array
  /** Refreshes the workload from the daemon; false when it is no longer running. */
  inspect: (w: Workload) => Promise<boolean>
  sampleUsage: (w: Workload) => Promise<void>
  /** Runs after every window's challenges are scheduled (e.g. pruning). */
  afterWindow: () => void
  now: () => number
  log: AttestationLog
  timers?: PollTimers
}

function hex (b: Uint8Array): string { return Buffer.from(b).toString('hex') }

export class Polls {
  private readonly secret = randomBytes(32)
  private windowTimer: NodeJS.Timeout | null = null
  private readonly timers = new Set<NodeJS.Timeout>()
  private closed = false

  private readonly t: PollTimers

  constructor (private readonly o: PollsOptions) { this.t = o.timers ?? REAL_TIMERS }

  start (): void { this.scheduleWindow() }

  close (): void {
    this.closed = true
    if (this.windowTimer !== null) this.t.clearTimeout(this.windowTimer)
    for (const t of this.timers) this.t.clearTimeout(t)
    for (const w of this.o.workloads.values()) if (w.pending !== null) this.t.clearTimeout(w.pending.timer)
  }

  /** Drops the workload's pending challenge (it died: not a miss). */
  cancel (w: Workload): void {
    if (w.pending !== null) { this.t.clearTimeout(w.pending.timer); w.pending = null }
  }

  private scheduleWindow (): void {
    if (this.closed) return
    const now = BigInt(this.o.now())
    const next = (windowOf(now) + 1n) * POLL_WINDOW_MS
    this.windowTimer = this.t.setTimeout(() => { this.onWindow(windowOf(BigInt(this.o.now()))); this.scheduleWindow() }, Number(next - now) + 2)
  }

  onWindow (window: bigint): void {
    const tip = this.o.tipHash()
    const start = window * POLL_WINDOW_MS
    for (const w of this.o.workloads.values()) {
      if (w.openFrom === null || w.agent === null) continue
      const nonce = challengeNonce(tip, this.secret, w.id, window)
      const at = start + challengeOffsetMs(nonce)
      const delay = Math.max(0, Number(at - BigInt(this.o.now())))
      const timer = this.t.setTimeout(() => { this.timers.delete(timer); void this.challenge(w, window, nonce) }, delay)
      this.timers.add(timer)
      void this.o.sampleUsage(w)
    }
    this.o.afterWindow()
  }

  async challenge (w: Workload, window: bigint, nonce: Uint8Array): Promise<void> {
    if (this.closed || w.openFrom === null || w.agent === null) return
    try {
      if (!await this.o.inspect(w)) return // it is exiting: the die event closes the interval
    } catch {
      return
    }
    if (w.openFrom === null || this.closed) return
    const s = this.o.sessions.get(w.id)
    if (s === undefined) {
      if (!w.everConnected && this.o.now() - w.lastAgentStart < AGENT_GRACE_MS) return
      w.polls.set(window, { window, answered: false, healthy: false })
      this.o.log('poll-missed', { container: w.id.slice(0, 12), window, reason: 'agent not connected' })
      return
    }
    if (w.pending !== null) this.t.clearTimeout(w.pending.timer)
    const timer = this.t.setTimeout(() => {
      if (w.pending?.window !== window) return
      w.pending = null
      if (w.openFrom === null) return // died meanwhile: not a miss
      w.polls.set(window, { window, answered: false, healthy: false })
      this.o.log('poll-missed', { container: w.id.slice(0, 12), window, reason: 'no valid answer in time' })
    }, Number(ANSWER_TIMEOUT_MS))
    w.pending = { window, nonce, health: w.health, timer }
    s.send({ t: 'challenge', window: window.toString(), nonce: hex(nonce), health: w.health })
  }

  /** An answer from the workload's current session: true when it settled the pending challenge. */
  onAnswer (w: Workload, s: AgentSession, m: Extract<AgentMessage, { t: 'answer' }>): boolean {
    const p = w.pending
    if (p === null || typeof m.window !== 'string' || m.window !== p.window.toString() || m.nonce !== hex(p.nonce) || typeof m.healthy !== 'boolean') return false
    try {
      verifyPollAnswer(s.publicKey, { containerId: w.id, window: p.window, nonce: p.nonce, healthy: m.healthy }, Buffer.from(String(m.signature), 'hex'))
    } catch (err) {
      this.o.log('poll-refused', { container: w.id.slice(0, 12), code: (err as { code?: string }).code })
      return false // the timeout records the miss
    }
    this.t.clearTimeout(p.timer)
    w.pending = null
    const healthy = m.healthy && p.health !== 'unhealthy'
    w.polls.set(p.window, { window: p.window, answered: true, healthy })
    if (!healthy) this.o.log('poll-unhealthy', { container: w.id.slice(0, 12), window: p.window, dockerHealth: p.health })
    return true
  }
}
