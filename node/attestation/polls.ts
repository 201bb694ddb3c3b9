// Health polls: once per 5-second window, at an instant derived from the node's poll secret of the epoch
// (its VRF output, unpredictable to the agent until the evidence reveals it), the node challenges each running
// workload's agent with the window's evidence nonce and checks the signed answer, a checkpoint chained to the
// agent's previous one (protocol/checkpoint.ts); no valid answer in ANSWER_TIMEOUT_MS is a miss. A fresh agent
// may miss challenges while it boots (AGENT_GRACE_MS). Verified checkpoints and spans become the evidence.
import { ANSWER_TIMEOUT_MS, POLL_WINDOW_MS, challengeOffsetMs, windowOf } from '../../protocol/attestation.js'
import { agentSpanMessage, checkpointMessage, evidenceNonce } from '../../protocol/checkpoint.js'
import { verify } from '../../protocol/keys.js'
import type { AgentMessage } from '../../agent/wire.js'
import type { AgentSession } from './agent-server.js'
import { type Workload, agentReservation } from './workload.js'
import type { LogFn } from '../log.js'

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
  /** The poll secret of the epoch a window starts in. */
  pollSecret: (window: bigint) => Uint8Array
  /** Refreshes the workload from the daemon; false when it is no longer running. */
  inspect: (w: Workload) => Promise<boolean>
  sampleUsage: (w: Workload) => Promise<void>
  /** Runs after every window's challenges are scheduled (e.g. pruning). */
  afterWindow: () => void
  now: () => number
  log: LogFn
  timers?: PollTimers
}

function hex (b: Uint8Array): string { return Buffer.from(b).toString('hex') }

const HEX32 = /^[0-9a-f]{64}$/
const HEX64 = /^[0-9a-f]{128}$/

export class Polls {
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
    const secret = this.o.pollSecret(window)
    const start = window * POLL_WINDOW_MS
    for (const w of this.o.workloads.values()) {
      if (w.openFrom === null || w.agent === null) continue
      const nonce = evidenceNonce(secret, w.id, window)
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
    const body = { window: p.window, nonce: p.nonce, healthy: m.healthy, prev: typeof m.prev === 'string' && HEX32.test(m.prev) ? Buffer.from(m.prev, 'hex') : null }
    const signature = typeof m.signature === 'string' && HEX64.test(m.signature) ? Buffer.from(m.signature, 'hex') : null
    if (body.prev === null || signature === null || !verify(s.publicKey, checkpointMessage(w.id, { ...body, prev: body.prev }), signature)) {
      this.o.log('poll-refused', { container: w.id.slice(0, 12), code: 'E_POLL_SIGNATURE' })
      return false // the timeout records the miss
    }
    this.t.clearTimeout(p.timer)
    w.pending = null
    const key = hex(s.publicKey)
    w.checkpoints.set(p.window, { key, checkpoint: { ...body, prev: body.prev, signature } })
    this.acceptSpan(w, key, m.span)
    // Docker's unhealthy verdict voids the window for the node's own view; the evidence carries what the agent signed
    const healthy = m.healthy && p.health !== 'unhealthy'
    w.polls.set(p.window, { window: p.window, answered: true, healthy })
    if (!healthy) this.o.log('poll-unhealthy', { container: w.id.slice(0, 12), window: p.window, dockerHealth: p.health })
    return true
  }

  /** Keeps the agent's signed span if it verifies and is the latest (a `report` message carries one too). */
  acceptSpan (w: Workload, key: string, span: unknown): void {
    const x = span as { attestedFrom?: unknown, lastAlive?: unknown, signature?: unknown } | null
    if (x === null || typeof x !== 'object' || !Number.isSafeInteger(x.attestedFrom) || !Number.isSafeInteger(x.lastAlive) || typeof x.signature !== 'string' || !HEX64.test(x.signature)) return
    const from = BigInt(x.attestedFrom as number)
    const last = BigInt(x.lastAlive as number)
    if (from < 0n || last < from || last > BigInt(this.o.now()) + 2000n) return
    const prior = w.span
    if (prior !== null && prior.key === key && last < prior.lastAlive) return
    const signature = Buffer.from(x.signature, 'hex')
    if (!verify(Buffer.from(key, 'hex'), agentSpanMessage(w.id, { attestedFrom: from, lastAlive: last }, agentReservation(w)), signature)) {
      this.o.log('span-refused', { container: w.id.slice(0, 12), code: 'E_SPAN_SIGNATURE' })
      return
    }
    w.span = { key, attestedFrom: from, lastAlive: last, signature }
  }
}
