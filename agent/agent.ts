// The sidecar agent: one per attested workload, in a PID namespace of its own (the workload cannot see,
// signal or ptrace it); it watches the workload through the workload's cgroup. It holds the workload's key,
// answers the node's health challenges with checkpoints (signed, chained poll answers) and re-signs its
// exit report with each answer. When it sees the workload gone it sends its exit report a last time and
// exits (`onGone`): lastAlive = the last instant it saw the workload alive.
import { type Socket, createConnection } from 'node:net'
import { type ExitReport, type SignedExitReport, REPORT_VERSION, helloMessage, signExitReport, windowOf } from '../protocol/attestation.js'
import { type Checkpoint, checkpointHash, signAgentSpan, signCheckpoint } from '../protocol/checkpoint.js'
import { ZERO_HASH } from '../protocol/hash.js'
import { Signer } from '../protocol/keys.js'
import { type ProcessView, readProcess } from './proc.js'
import { type AgentBoot, type AgentMessage, type DockerHealth, type SignedSpan, HEALTH_VALUES, isHealthy, lineReader } from './wire.js'

export interface AgentOptions {
  boot: Omit<AgentBoot, 'secretKey'>
  signer: Signer
  now?: () => number
  readProcess?: () => ProcessView
  log?: (event: string, fields?: Record<string, unknown>) => void
  reconnectMs?: number
  /** How often the agent looks at its workload on its own (ms); default 500. */
  watchMs?: number
  /** Called once the workload, seen alive before, is gone (after the last exit report was written out). */
  onGone?: () => void
}

export class Agent {
  private readonly now: () => number
  private readonly proc: () => ProcessView
  private readonly log: (event: string, fields?: Record<string, unknown>) => void
  private socket: Socket | null = null
  private timer: NodeJS.Timeout | null = null
  private watch: NodeJS.Timeout | null = null
  private gone = false
  private reconnect: NodeJS.Timeout | null = null
  private stopped = false
  private health: DockerHealth = 'none'
  private attestedFrom: number | null = null
  private startTime: number | null = null
  private lastAlive = 0
  private lastHealthy = true
  private readonly answered = new Set<string>()
  private firstWindow: bigint | null = null
  private lastWindow: bigint | null = null
  /** Hash of the last checkpoint signed: the next one names it (ZERO_HASH before the first). */
  private prev: Uint8Array = ZERO_HASH
  private readonly publicKeyHex: string

  constructor (private readonly o: AgentOptions) {
    this.now = o.now ?? Date.now
    this.proc = o.readProcess ?? (() => readProcess(1))
    this.log = o.log ?? (() => {})
    this.publicKeyHex = Buffer.from(o.signer.publicKey).toString('hex')
  }

  start (): void {
    this.observe()
    this.connect()
    this.timer = setInterval(() => { this.sendReport() }, this.o.boot.checkpointMs)
    this.timer.unref?.()
    this.watch = setInterval(() => { this.watchWorkload() }, this.o.watchMs ?? 500)
    this.watch.unref?.()
  }

  private watchWorkload (): void {
    if (this.gone || this.stopped) return
    if (this.observe() || this.attestedFrom === null) return
    this.gone = true
    this.sendReport()
    const done = (): void => { this.log('workload-gone', {}); this.o.onGone?.() }
    // let the last exit report reach the node before the process ends
    if (this.socket !== null && !this.socket.destroyed) this.socket.end(done)
    else done()
  }

  stop (): void {
    this.stopped = true
    if (this.timer !== null) clearInterval(this.timer)
    if (this.watch !== null) clearInterval(this.watch)
    if (this.reconnect !== null) clearTimeout(this.reconnect)
    this.socket?.destroy()
  }

  /** Looks at the workload; returns whether it is alive (and remembers when it was last seen so). */
  observe (): boolean {
    const p = this.proc()
    const t = this.now()
    if (p.alive) {
      if (this.attestedFrom === null) this.attestedFrom = t
      if (this.startTime === null) this.startTime = p.startTime === null ? t : Math.min(p.startTime, t)
      this.lastAlive = t
    }
    this.lastHealthy = isHealthy(p.alive, this.health)
    return p.alive
  }

  /** The current exit report, signed (null before the workload was ever seen alive). */
  report (): SignedExitReport | null {
    if (this.attestedFrom === null || this.startTime === null) return null
    const b = this.o.boot
    const startTime = Math.min(this.startTime, this.attestedFrom)
    const windows = this.firstWindow === null || this.lastWindow === null ? 0 : Number(this.lastWindow - this.firstWindow + 1n)
    const r: ExitReport = {
      version: REPORT_VERSION,
      nodeId: b.nodeId,
      containerId: b.containerId,
      image: b.image,
      imageDigest: b.imageDigest,
      startTime,
      attestedFrom: this.attestedFrom,
      lastAlive: this.lastAlive,
      durationMs: this.lastAlive - startTime,
      reservations: b.reservations,
      pollsAnswered: this.answered.size,
      pollsMissed: Math.max(0, windows - this.answered.size),
      healthy: this.lastHealthy,
      agentPublicKey: this.publicKeyHex,
      certificate: b.certificate
    }
    return signExitReport(this.o.signer, r)
  }

  /** The span (first and last instant seen alive) and the reservation, signed for the evidence. */
  span (): SignedSpan | null {
    if (this.attestedFrom === null) return null
    const span = { attestedFrom: BigInt(this.attestedFrom), lastAlive: BigInt(this.lastAlive) }
    const r = this.o.boot.reservations
    const signature = signAgentSpan(this.o.signer, this.o.boot.containerId, span, { nanoCpus: BigInt(r.nanoCpus), memoryBytes: BigInt(r.memoryBytes) })
    return { attestedFrom: this.attestedFrom, lastAlive: this.lastAlive, signature: Buffer.from(signature).toString('hex') }
  }

  private send (m: AgentMessage): void {
    if (this.socket !== null && !this.socket.destroyed) this.socket.write(JSON.stringify(m) + '\n')
  }

  private sendReport (): void {
    this.observe()
    const report = this.report()
    const span = this.span()
    if (report !== null && span !== null) this.send({ t: 'report', report, span })
  }

  private connect (): void {
    if (this.stopped) return
    const s = createConnection(this.o.boot.socket)
    this.socket = s
    s.on('connect', () => { this.log('connected', { socket: this.o.boot.socket }) })
    s.on('data', lineReader((m) => { this.onMessage(m) }, (code) => { this.log('wire-error', { code }); s.destroy() }))
    s.on('error', () => {})
    s.on('close', () => {
      if (this.socket === s) this.socket = null
      if (this.stopped) return
      this.reconnect = setTimeout(() => { this.connect() }, this.o.reconnectMs ?? 500)
    })
  }

  onMessage (raw: unknown): void {
    const m = raw as Record<string, unknown>
    if (m === null || typeof m !== 'object') return
    if (typeof m.health === 'string' && (HEALTH_VALUES as readonly string[]).includes(m.health)) this.health = m.health as DockerHealth
    if (m.t === 'hello' && typeof m.nonce === 'string' && /^[0-9a-f]{64}$/.test(m.nonce)) {
      const signature = this.o.signer.sign(helloMessage(Buffer.from(m.nonce, 'hex'), this.o.boot.containerId))
      this.send({ t: 'hello', containerId: this.o.boot.containerId, publicKey: this.publicKeyHex, signature: Buffer.from(signature).toString('hex') })
      this.sendReport()
      return
    }
    if (m.t === 'challenge' && typeof m.window === 'string' && /^\d{1,19}$/.test(m.window) && typeof m.nonce === 'string' && /^[0-9a-f]{64}$/.test(m.nonce)) {
      const window = BigInt(m.window)
      // only answer challenges for the current window: a replayed old one gets nothing
      if (window !== windowOf(BigInt(this.now()))) return
      const alive = this.observe()
      const healthy = isHealthy(alive, this.health)
      const nonce = Buffer.from(m.nonce, 'hex')
      const cp: Checkpoint = signCheckpoint(this.o.signer, this.o.boot.containerId, { window, nonce, healthy, prev: this.prev })
      this.prev = checkpointHash(this.o.boot.containerId, cp)
      this.answered.add(m.window)
      if (this.firstWindow === null || window < this.firstWindow) this.firstWindow = window
      if (this.lastWindow === null || window > this.lastWindow) this.lastWindow = window
      const report = this.report()
      const span = this.span()
      if (report === null || span === null) return
      this.send({ t: 'answer', window: m.window, nonce: m.nonce, healthy, prev: Buffer.from(cp.prev).toString('hex'), signature: Buffer.from(cp.signature).toString('hex'), span, report })
      return
    }
    if (m.t === 'checkpoint') this.sendReport()
  }
}
