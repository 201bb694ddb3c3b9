// The attestation collector: the node's half of attested container work.
//
//  - follows dockerd's events API (the daemon witness: start/die times, health) and inspects workloads
//    (reservations; the plugin's create events, when they arrive, can only lower them), samples cgroup CPU usage;
//  - starts one sidecar agent per ordinary workload (never for agents or the `econumi-node` container),
//    in the workload's PID namespace, key over stdin into a tmpfs, certificate from the node's CA;
//  - challenges every agent once per 5-second window at an unpredictable instant and verifies the answers;
//  - keeps each agent's latest signed report checkpoint; when the workload dies the last one is its exit
//    report: verified, written to <dataDir>/reports/<id>.json and appended to the node's attestations core;
//  - computes, persists (<dataDir>/attestation/credit/<epoch>.json) and serves the CU of each epoch to the
//    lottery. A persisted epoch is never recomputed, so a restart cannot credit any interval twice, and
//    daemon intervals only start when this process began watching, so nothing is credited while the node is down.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { type Server, createServer } from 'node:http'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import Docker from 'dockerode'
import type express from 'express'
import {
  ANSWER_TIMEOUT_MS, POLL_WINDOW_MS, type ExitReport, type Interval, type PollOutcome, type SignedExitReport, type WorkloadWitness,
  challengeNonce, challengeOffsetMs, encodeAttestationRecord, epochCredit, verifyExitReport, verifyPollAnswer, windowOf
} from '../../protocol/attestation.js'
import type { Reservation } from '../../protocol/compute-units.js'
import { fail, isEconumiError } from '../../protocol/errors.js'
import { epochStart } from '../../protocol/params.js'
import { Signer } from '../../protocol/keys.js'
import type { AgentBoot, AgentMessage, DockerHealth } from '../../agent/wire.js'
import { readJsonFileSync, writeFileAtomicSync } from '../atomic-file.js'
import type { ComputeUnitSource } from '../compute-units.js'
import type { EconumiNode } from '../node.js'
import { AgentServer, type AgentSession } from './agent-server.js'
import { type NodeCa, loadOrCreateCa, verifyAgentCertificate } from './pki.js'
import {
  AGENT_ROLE, AGENT_ROLE_LABEL, AGENT_WORKLOAD_LABEL, agentName, eventTimeMs, healthFromEventAction, healthFromState,
  isAttestable, minReservation, reservationFromHostConfig
} from './witness.js'

export const NODE_TOKEN_HEADER = 'X-Econumi-Node-Token'
export const DEFAULT_RUN_DIR = '/run/econumi'
export const DEFAULT_AGENT_IMAGE = 'econumi/agent:latest'
/** Mount point of <runDir>/agents inside agent containers. */
const AGENT_SOCKET_DIR = '/run/econumi-node'
/** A fresh agent may miss challenges while it boots; after this it must answer every one. */
const AGENT_GRACE_MS = 10_000
/** How long the epoch boundary waits for fresh checkpoints from connected agents. */
const FLUSH_WAIT_MS = 300
const RESTART_AGENT_EVERY_MS = 30_000

export type AttestationLog = (event: string, fields?: Record<string, unknown>) => void

export interface AttestationOptions {
  dataDir: string
  dockerSocket?: string
  /** Shared with the plugin: node-token, node.sock (plugin events), agents/agent.sock. Default /run/econumi. */
  runDir?: string
  /** Declared capacity; default the machine's cores and memory. */
  capacity?: Reservation
  caCert?: string
  caKey?: string
  log: AttestationLog
  agentImage?: string
  /** How often agents sign a checkpoint on their own (ms). */
  checkpointMs?: number
  now?: () => number
}

export interface AttestationHandle {
  computeUnits: ComputeUnitSource
  close: () => Promise<void>
  status: () => Record<string, unknown>
  /** Mounts GET /v1/workloads, GET /v1/attestation and GET /v1/attestation/credit/:epoch (pass to createApp's `extend`). */
  extend: (app: express.Express) => void
}

interface AgentRecord {
  containerId: string
  publicKey: string
  certificate: string
  startedAt: number
}

interface Workload {
  id: string
  name: string
  image: string
  imageDigest: string
  reservation: Reservation
  intervals: Interval[]
  openFrom: bigint | null
  cpuUsageNs: bigint | null
  health: DockerHealth
  agent: AgentRecord | null
  agentStarting: boolean
  lastAgentStart: number
  everConnected: boolean
  report: ExitReport | null
  signed: SignedExitReport | null
  polls: Map<bigint, PollOutcome>
  pending: { window: bigint, nonce: Uint8Array, health: DockerHealth, timer: NodeJS.Timeout } | null
  exitedAt: number | null
  exitCode: number | null
  finalized: boolean
  lastCredit: { epoch: string, cu: string, reason: string } | null
  reportWaiters: Array<() => void>
}

interface CreditRecord {
  epoch: string
  epochStart: string
  epochEnd: string
  total: string
  capacity: { nanoCpus: string, memoryBytes: string }
  computedAt: number
  workloads: Array<{ containerId: string, cu: string, attestedMs: string, reason: string, reservation: { nanoCpus: string, memoryBytes: string }, polls: Array<{ window: string, answered: boolean, healthy: boolean }>, daemonIntervals: Array<[string, string]>, agent: { attestedFrom: number, lastAlive: number } | null }>
}

function hex (b: Uint8Array): string { return Buffer.from(b).toString('hex') }
function resJson (r: Reservation): { nanoCpus: string, memoryBytes: string } { return { nanoCpus: r.nanoCpus.toString(), memoryBytes: r.memoryBytes.toString() } }

/** The machine's cores and memory. */
export function machineCapacity (): Reservation {
  return { nanoCpus: BigInt(cpus().length) * 1_000_000_000n, memoryBytes: BigInt(totalmem()) }
}

/** Creates the shared run dir (0700) and the node token (0600); an existing token is kept (the plugin has it). */
export function ensureRunDir (runDir: string): string {
  mkdirSync(runDir, { recursive: true, mode: 0o700 })
  chmodSync(runDir, 0o700)
  const path = join(runDir, 'node-token')
  if (existsSync(path)) {
    const t = readFileSync(path, 'utf8').trim()
    if (/^[0-9a-f]{48,128}$/.test(t)) { chmodSync(path, 0o600); return t }
  }
  const token = randomBytes(32).toString('hex')
  writeFileAtomicSync(path, token, 0o600)
  return token
}

export class AttestationCollector {
  readonly workloads = new Map<string, Workload>()
  private readonly sessions = new Map<string, AgentSession>()
  private readonly pluginCreates = new Map<string, Reservation>()
  private readonly pollSecret = randomBytes(32)
  private readonly credits = new Map<string, Promise<bigint>>()
  private readonly runDir: string
  private readonly now: () => number
  private readonly log: AttestationLog
  readonly capacity: Reservation
  private readonly agentImage: string
  private docker!: Docker
  private token = ''
  ca!: NodeCa
  private agentServer!: AgentServer
  private pluginServer: Server | null = null
  private events: NodeJS.ReadableStream | null = null
  private eventsRetry: NodeJS.Timeout | null = null
  private windowTimer: NodeJS.Timeout | null = null
  private readonly challengeTimers = new Set<NodeJS.Timeout>()
  private readonly finalizeTimers = new Set<NodeJS.Timeout>()
  private closed = false
  private startedAt = 0
  private lastEventMs = 0
  private pluginEvents = 0
  private lastCredit: { epoch: string, total: string } | null = null
  private dockerOk = false

  constructor (private readonly node: EconumiNode, private readonly o: AttestationOptions) {
    this.runDir = o.runDir ?? DEFAULT_RUN_DIR
    this.now = o.now ?? Date.now
    this.log = o.log
    this.capacity = o.capacity ?? machineCapacity()
    this.agentImage = o.agentImage ?? DEFAULT_AGENT_IMAGE
  }

  private dir (...p: string[]): string { return join(this.o.dataDir, 'attestation', ...p) }

  async start (): Promise<void> {
    this.startedAt = this.now()
    this.token = ensureRunDir(this.runDir)
    for (const d of [this.dir('agents'), this.dir('credit')]) mkdirSync(d, { recursive: true, mode: 0o700 })
    mkdirSync(join(this.o.dataDir, 'reports'), { recursive: true, mode: 0o700 })
    this.ca = loadOrCreateCa(this.o.dataDir, this.node.identity, { caCert: this.o.caCert, caKey: this.o.caKey, now: this.now() })
    await this.publishCa()
    this.agentServer = new AgentServer(join(this.runDir, 'agents'), {
      agentKey: (id) => { const a = this.workloads.get(id)?.agent; return a == null ? null : Buffer.from(a.publicKey, 'hex') },
      onSession: (s) => { this.onSession(s) },
      onMessage: (s, m) => { this.onAgentMessage(s, m) },
      onClose: (s) => { if (this.sessions.get(s.containerId) === s) this.sessions.delete(s.containerId) },
      log: this.log
    })
    await this.agentServer.listen()
    await this.listenPlugin()
    this.docker = new Docker({ socketPath: this.o.dockerSocket ?? '/var/run/docker.sock', headers: { [NODE_TOKEN_HEADER]: this.token } } as Docker.DockerOptions)
    try {
      await this.docker.ping()
      this.dockerOk = true
    } catch (err) {
      this.log('attestation-no-docker', { error: (err as Error).message })
    }
    if (this.dockerOk) {
      await this.followEvents()
      await this.adoptRunning()
    }
    this.scheduleWindow()
    this.log('attestation-started', {
      caFingerprint: hex(this.ca.fingerprint).slice(0, 16),
      caSource: this.ca.source,
      capacityNanoCpus: this.capacity.nanoCpus,
      capacityMemoryBytes: this.capacity.memoryBytes,
      workloads: this.workloads.size,
      agentSocket: this.agentServer.path
    })
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.windowTimer !== null) clearTimeout(this.windowTimer)
    if (this.eventsRetry !== null) clearTimeout(this.eventsRetry)
    for (const t of [...this.challengeTimers, ...this.finalizeTimers]) clearTimeout(t)
    for (const w of this.workloads.values()) if (w.pending !== null) clearTimeout(w.pending.timer)
    ;(this.events as unknown as { destroy?: () => void } | null)?.destroy?.()
    await this.agentServer?.close()
    const ps = this.pluginServer
    if (ps !== null) await new Promise<void>((resolve) => { ps.close(() => resolve()); ps.closeAllConnections() })
    rmSync(join(this.runDir, 'node.sock'), { force: true })
    // agents and workloads keep running: a restarted node adopts them
  }

  // ---- CA publication -----------------------------------------------------------------------------------

  private async publishCa (): Promise<void> {
    const path = this.dir('ca-published.json')
    const fp = hex(this.ca.fingerprint)
    if (existsSync(path) && (readJsonFileSync(path) as { caFingerprint?: string })?.caFingerprint === fp) return
    const seq = await this.node.store.appendRecord(encodeAttestationRecord({ type: 'econumi/ca', version: 1, nodeId: this.ca.nodeId, caCertificate: this.ca.certPem, caFingerprint: fp, endorsement: hex(this.ca.endorsement) }))
    writeFileAtomicSync(path, JSON.stringify({ caFingerprint: fp, seq }) + '\n', 0o644)
  }

  // ---- plugin events (node.sock) --------------------------------------------------------------------------

  private async listenPlugin (): Promise<void> {
    const path = join(this.runDir, 'node.sock')
    rmSync(path, { force: true })
    const expected = Buffer.from(this.token)
    const server = createServer((req, res) => {
      const got = Buffer.from(String(req.headers[NODE_TOKEN_HEADER.toLowerCase()] ?? ''))
      if (req.method !== 'POST' || req.url !== '/v1/plugin/events') { res.writeHead(404).end(); req.resume(); return }
      if (got.length !== expected.length || !timingSafeEqual(got, expected)) { res.writeHead(401).end(); req.resume(); return }
      const chunks: Buffer[] = []
      let size = 0
      req.on('data', (c: Buffer) => { size += c.length; if (size <= 1 << 20) chunks.push(c) })
      req.on('end', () => {
        try {
          const list = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown
          if (Array.isArray(list)) for (const e of list) this.onPluginEvent(e)
          res.writeHead(204).end()
        } catch {
          res.writeHead(400).end()
        }
      })
    })
    const oldMask = process.umask(0o177)
    try {
      await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(path, () => { server.off('error', reject); resolve() }) })
    } finally {
      process.umask(oldMask)
    }
    chmodSync(path, 0o600)
    this.pluginServer = server
  }

  private onPluginEvent (e: unknown): void {
    const ev = e as { kind?: string, id?: string, reservations?: { nanoCpus?: number, memory?: number } }
    this.pluginEvents++
    if (ev?.kind === 'create' && typeof ev.id === 'string' && /^[0-9a-f]{64}$/.test(ev.id) && ev.reservations !== undefined) {
      if (this.pluginCreates.size > 10_000) this.pluginCreates.delete(this.pluginCreates.keys().next().value as string)
      this.pluginCreates.set(ev.id, reservationFromHostConfig({ NanoCpus: ev.reservations.nanoCpus, Memory: ev.reservations.memory }))
    }
  }

  // ---- daemon witness: events API -------------------------------------------------------------------------

  private async followEvents (): Promise<void> {
    if (this.closed) return
    try {
      const since = this.lastEventMs > 0 ? String(Math.floor(this.lastEventMs / 1000)) : undefined
      const stream = await this.docker.getEvents({ filters: { type: ['container'] }, ...(since === undefined ? {} : { since }) } as Docker.GetEventsOptions)
      this.events = stream
      let buf = ''
      stream.on('data', (c: Buffer) => {
        buf += c.toString('utf8')
        let nl: number
        while ((nl = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          if (line.trim() === '') continue
          try { this.onDockerEvent(JSON.parse(line)) } catch (err) { this.log('attestation-event-error', { error: (err as Error).message }) }
        }
      })
      const retry = (): void => {
        if (this.closed || this.events !== stream) return
        this.events = null
        this.eventsRetry = setTimeout(() => { void this.followEvents() }, 1000)
      }
      stream.on('end', retry)
      stream.on('error', retry)
    } catch (err) {
      this.log('attestation-events-failed', { error: (err as Error).message })
      this.eventsRetry = setTimeout(() => { void this.followEvents() }, 2000)
    }
  }

  private onDockerEvent (e: { Type?: string, Action?: string, id?: string, Actor?: { ID?: string, Attributes?: Record<string, string> }, time?: number, timeNano?: number }): void {
    if (e.Type !== 'container' || typeof e.Action !== 'string') return
    const id = e.Actor?.ID ?? e.id
    if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id)) return
    const t = eventTimeMs(e)
    this.lastEventMs = Math.max(this.lastEventMs, t)
    const attrs = e.Actor?.Attributes ?? {}
    const name = attrs.name ?? ''
    if (attrs[AGENT_ROLE_LABEL] === AGENT_ROLE) {
      if (e.Action === 'die') this.onAgentDie(attrs[AGENT_WORKLOAD_LABEL])
      return
    }
    if (!isAttestable(name, attrs)) return
    const health = healthFromEventAction(e.Action)
    if (health !== null) { const w = this.workloads.get(id); if (w !== undefined) w.health = health; return }
    if (e.Action === 'start') void this.onWorkloadStart(id, t)
    else if (e.Action === 'die') this.onWorkloadDie(id, t, Number(attrs.exitCode))
  }

  private newWorkload (id: string): Workload {
    return {
      id, name: '', image: '', imageDigest: '', reservation: { nanoCpus: 0n, memoryBytes: 0n }, intervals: [], openFrom: null,
      cpuUsageNs: null, health: 'none', agent: null, agentStarting: false, lastAgentStart: 0, everConnected: false, report: null, signed: null,
      polls: new Map(), pending: null, exitedAt: null, exitCode: null, finalized: false, lastCredit: null, reportWaiters: []
    }
  }

  /** Refreshes what the daemon says about a workload; false when it is not running. */
  private async inspectWorkload (w: Workload): Promise<boolean> {
    const info = await this.docker.getContainer(w.id).inspect()
    w.name = info.Name.replace(/^\//, '')
    w.image = info.Config.Image
    w.imageDigest = info.Image
    w.reservation = minReservation(reservationFromHostConfig(info.HostConfig as Parameters<typeof reservationFromHostConfig>[0]), this.pluginCreates.get(w.id) ?? null)
    w.health = healthFromState(info.State as Parameters<typeof healthFromState>[0])
    return info.State.Running === true
  }

  private async sampleUsage (w: Workload): Promise<void> {
    try {
      const s = await this.docker.getContainer(w.id).stats({ stream: false, 'one-shot': true })
      const u = s?.cpu_stats?.cpu_usage?.total_usage
      if (typeof u === 'number' && u > 0) w.cpuUsageNs = BigInt(Math.floor(u))
    } catch {}
  }

  private async onWorkloadStart (id: string, t: number): Promise<void> {
    let w = this.workloads.get(id)
    if (w === undefined) { w = this.newWorkload(id); this.workloads.set(id, w) }
    if (w.openFrom !== null) return // duplicate event after an events-stream reconnect
    w.openFrom = BigInt(Math.max(t, this.startedAt))
    w.exitedAt = null
    w.finalized = false
    try {
      if (!await this.inspectWorkload(w)) return
    } catch (err) {
      this.log('attestation-inspect-failed', { container: id.slice(0, 12), error: (err as Error).message })
      return
    }
    this.log('workload-start', { container: id.slice(0, 12), name: w.name, image: w.image, nanoCpus: w.reservation.nanoCpus, memoryBytes: w.reservation.memoryBytes })
    await this.startAgent(w)
    void this.sampleUsage(w)
  }

  private onWorkloadDie (id: string, t: number, exitCode: number): void {
    const w = this.workloads.get(id)
    if (w === undefined || w.openFrom === null) return
    const to = BigInt(t)
    if (to > w.openFrom) w.intervals.push({ from: w.openFrom, to })
    w.openFrom = null
    w.exitedAt = t
    w.exitCode = Number.isFinite(exitCode) ? exitCode : null
    if (w.pending !== null) { clearTimeout(w.pending.timer); w.pending = null }
    this.log('workload-die', { container: id.slice(0, 12), exitCode: w.exitCode })
    // the agent died with the PID namespace; its last checkpoint may still be in flight
    const timer = setTimeout(() => { this.finalizeTimers.delete(timer); void this.finalize(w) }, 1500)
    this.finalizeTimers.add(timer)
  }

  private onAgentDie (workloadId: string | undefined): void {
    if (workloadId === undefined) return
    const w = this.workloads.get(workloadId)
    if (w === undefined || w.openFrom === null || this.closed) return
    // the workload still runs without its agent: every challenge from now is missed; start a new agent (rate-limited)
    const wait = Math.max(1000, w.lastAgentStart + RESTART_AGENT_EVERY_MS - this.now())
    this.log('agent-died', { container: workloadId.slice(0, 12), restartInMs: wait })
    const timer = setTimeout(() => {
      this.finalizeTimers.delete(timer)
      if (w.openFrom !== null && !this.sessions.has(w.id)) void this.startAgent(w, true)
    }, wait)
    this.finalizeTimers.add(timer)
  }

  // ---- agents ---------------------------------------------------------------------------------------------

  private async removeAgentContainer (name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).remove({ force: true })
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode
      if (code !== 404) this.log('agent-remove-failed', { agent: name, error: (err as Error).message })
    }
  }

  private async startAgent (w: Workload, replace = false): Promise<void> {
    if (w.agentStarting || (w.agent !== null && !replace) || this.closed) return
    w.agentStarting = true
    w.lastAgentStart = this.now()
    const seed = randomBytes(32)
    try {
      const signer = new Signer(seed)
      const certificate = this.ca.issueAgentCertificate({ agentPublicKey: signer.publicKey, containerId: w.id, now: this.now() })
      const record: AgentRecord = { containerId: w.id, publicKey: hex(signer.publicKey), certificate, startedAt: this.now() }
      const name = agentName(w.id)
      await this.removeAgentContainer(name)
      const container = await this.docker.createContainer({
        name,
        Image: this.agentImage,
        Labels: { [AGENT_ROLE_LABEL]: AGENT_ROLE, [AGENT_WORKLOAD_LABEL]: w.id },
        OpenStdin: true,
        StdinOnce: true,
        AttachStdin: true,
        Tty: false,
        User: '65534:65534',
        HostConfig: {
          PidMode: `container:${w.id}`,
          Tmpfs: { '/run/secrets': 'mode=0700,uid=65534,gid=65534,size=64k' },
          Binds: [`${join(this.runDir, 'agents')}:${AGENT_SOCKET_DIR}:ro`],
          NetworkMode: 'none',
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges'],
          ReadonlyRootfs: true,
          Memory: 128 * 1024 * 1024,
          NanoCpus: 250_000_000
        }
      })
      // the key must be on disk nowhere: persist only the public half before the agent can speak
      writeFileAtomicSync(this.dir('agents', `${w.id}.json`), JSON.stringify(record) + '\n', 0o600)
      w.agent = record
      const stream = await container.attach({ stream: true, stdin: true, stdout: false, stderr: false, hijack: true })
      await container.start()
      const boot: AgentBoot = {
        v: 1,
        secretKey: seed.toString('hex'),
        nodeId: this.ca.nodeId,
        containerId: w.id,
        image: w.image,
        imageDigest: w.imageDigest,
        reservations: resJson(w.reservation),
        certificate,
        socket: `${AGENT_SOCKET_DIR}/agent.sock`,
        checkpointMs: this.o.checkpointMs ?? 2000
      }
      const payload = Buffer.from(JSON.stringify(boot) + '\n')
      await new Promise<void>((resolve, reject) => {
        stream.once('error', reject)
        stream.end(payload, () => { resolve() })
      })
      payload.fill(0)
      this.log('agent-started', { container: w.id.slice(0, 12), agent: name, publicKey: record.publicKey.slice(0, 16) })
    } catch (err) {
      // typically: the workload exited before its agent could join the PID namespace
      this.log('agent-start-failed', { container: w.id.slice(0, 12), running: w.openFrom !== null, error: (err as Error).message })
      w.agent = null
      rmSync(this.dir('agents', `${w.id}.json`), { force: true })
      await this.removeAgentContainer(agentName(w.id))
    } finally {
      seed.fill(0)
      w.agentStarting = false
    }
  }

  /** Workloads already running when the node starts: attest them from now on; adopt agents we can still trust. */
  private async adoptRunning (): Promise<void> {
    const agents = await this.docker.listContainers({ all: true, filters: { label: [`${AGENT_ROLE_LABEL}=${AGENT_ROLE}`] } })
    const running = await this.docker.listContainers({ filters: { status: ['running'] } })
    const runningIds = new Set(running.map((c) => c.Id))
    for (const c of running) {
      const name = (c.Names?.[0] ?? '').replace(/^\//, '')
      if (!isAttestable(name, c.Labels)) continue
      const w = this.newWorkload(c.Id)
      w.openFrom = BigInt(this.startedAt)
      this.workloads.set(c.Id, w)
      try { if (!await this.inspectWorkload(w)) { this.workloads.delete(c.Id); continue } } catch { this.workloads.delete(c.Id); continue }
      const agent = agents.find((a) => a.Labels?.[AGENT_WORKLOAD_LABEL] === c.Id && a.State === 'running')
      const recPath = this.dir('agents', `${c.Id}.json`)
      if (agent !== undefined && existsSync(recPath)) {
        const rec = readJsonFileSync(recPath) as AgentRecord
        if (rec?.containerId === c.Id && typeof rec.publicKey === 'string') {
          w.agent = rec
          w.lastAgentStart = this.now() // grace for the reconnect
          this.log('agent-adopted', { container: c.Id.slice(0, 12) })
          void this.sampleUsage(w)
          continue
        }
      }
      await this.startAgent(w)
      void this.sampleUsage(w)
    }
    for (const a of agents) {
      const wid = a.Labels?.[AGENT_WORKLOAD_LABEL]
      if (wid !== undefined && runningIds.has(wid) && this.workloads.get(wid)?.agent !== null) continue
      await this.removeAgentContainer(a.Id)
      if (wid !== undefined && !runningIds.has(wid)) rmSync(this.dir('agents', `${wid}.json`), { force: true })
    }
    // agent records of workloads that ended while the node was down: their reports are lost (nothing credited)
    for (const f of readdirSync(this.dir('agents'))) {
      const id = f.replace(/\.json$/, '')
      if (!this.workloads.has(id)) rmSync(this.dir('agents', f), { force: true })
    }
  }

  private onSession (s: AgentSession): void {
    const w = this.workloads.get(s.containerId)
    if (w === undefined) { s.close(); return }
    this.sessions.get(s.containerId)?.close()
    this.sessions.set(s.containerId, s)
    w.everConnected = true
    this.log('agent-connected', { container: s.containerId.slice(0, 12) })
  }

  private onAgentMessage (s: AgentSession, m: AgentMessage): void {
    const w = this.workloads.get(s.containerId)
    if (w === undefined || this.sessions.get(s.containerId) !== s) return
    if (m?.t === 'answer') {
      const p = w.pending
      if (p === null || typeof m.window !== 'string' || m.window !== p.window.toString() || m.nonce !== hex(p.nonce) || typeof m.healthy !== 'boolean') return
      try {
        verifyPollAnswer(s.publicKey, { containerId: w.id, window: p.window, nonce: p.nonce, healthy: m.healthy }, Buffer.from(String(m.signature), 'hex'))
      } catch (err) {
        this.log('poll-refused', { container: w.id.slice(0, 12), code: (err as { code?: string }).code })
        return // the timeout records the miss
      }
      clearTimeout(p.timer)
      w.pending = null
      const healthy = m.healthy && p.health !== 'unhealthy'
      w.polls.set(p.window, { window: p.window, answered: true, healthy })
      if (!healthy) this.log('poll-unhealthy', { container: w.id.slice(0, 12), window: p.window, dockerHealth: p.health })
      this.acceptReport(w, s, m.report)
      return
    }
    if (m?.t === 'report') this.acceptReport(w, s, m.report)
  }

  private acceptReport (w: Workload, s: AgentSession, signed: unknown): void {
    try {
      const r = verifyExitReport(signed)
      if (r.containerId !== w.id || r.agentPublicKey !== hex(s.publicKey) || r.nodeId !== this.ca.nodeId || r.certificate !== w.agent?.certificate) {
        fail('E_REPORT_BINDING', 'report does not match the agent the node started', { containerId: w.id })
      }
      if (r.stopTime > this.now() + 2000) fail('E_REPORT_TIMES', 'report from the future', { stopTime: r.stopTime })
      if (w.report !== null && r.stopTime < w.report.stopTime && r.agentPublicKey === w.report.agentPublicKey) return
      w.report = r
      w.signed = signed as SignedExitReport
      for (const f of w.reportWaiters.splice(0)) f()
    } catch (err) {
      this.log('report-refused', { container: w.id.slice(0, 12), code: isEconumiError(err) ? err.code : 'E_INTERNAL', error: (err as Error).message })
    }
  }

  /** Verifies the last checkpoint as the exit report, writes it and appends it to the attestations core, removes the agent. */
  private async finalize (w: Workload): Promise<void> {
    if (w.finalized || w.openFrom !== null) return
    w.finalized = true
    this.sessions.get(w.id)?.close()
    if (w.signed !== null && w.report !== null && w.agent !== null) {
      try {
        verifyExitReport(w.signed)
        verifyAgentCertificate({ certPem: w.report.certificate, ca: this.ca, nodeId: this.ca.nodeId, containerId: w.id, agentPublicKey: Buffer.from(w.report.agentPublicKey, 'hex'), at: w.report.stopTime })
        const file = { ...w.signed, daemon: { exitCode: w.exitCode, exitedAt: w.exitedAt }, pollsMissedByNode: [...w.polls.values()].filter((p) => !p.answered).length }
        if (w.agent.certificate !== w.report.certificate) fail('E_REPORT_BINDING', 'report certificate is not the one issued')
        writeFileAtomicSync(join(this.o.dataDir, 'reports', `${w.id}.json`), JSON.stringify(file, null, 2) + '\n', 0o644)
        const seq = await this.node.store.appendRecord(encodeAttestationRecord({ type: 'econumi/exit-report', version: 1, report: w.report, signature: w.signed.signature }))
        this.log('exit-report', { container: w.id.slice(0, 12), durationMs: w.report.durationMs, pollsAnswered: w.report.pollsAnswered, record: seq })
      } catch (err) {
        this.log('exit-report-refused', { container: w.id.slice(0, 12), code: isEconumiError(err) ? err.code : 'E_INTERNAL', error: (err as Error).message })
      }
    } else if (w.agent !== null) {
      this.log('exit-report-missing', { container: w.id.slice(0, 12), reason: w.agent === null ? 'no agent' : 'agent never reported' })
    }
    await this.removeAgentContainer(agentName(w.id))
    rmSync(this.dir('agents', `${w.id}.json`), { force: true })
  }

  // ---- health polls -----------------------------------------------------------------------------------------

  private scheduleWindow (): void {
    if (this.closed) return
    const now = BigInt(this.now())
    const next = (windowOf(now) + 1n) * POLL_WINDOW_MS
    this.windowTimer = setTimeout(() => { this.onWindow(windowOf(BigInt(this.now()))); this.scheduleWindow() }, Number(next - now) + 2)
  }

  private onWindow (window: bigint): void {
    const tip = this.node.ledger.tip?.hash ?? this.node.genesis
    const start = window * POLL_WINDOW_MS
    for (const w of this.workloads.values()) {
      if (w.openFrom === null || w.agent === null) continue
      const nonce = challengeNonce(tip, this.pollSecret, w.id, window)
      const at = start + challengeOffsetMs(nonce)
      const delay = Math.max(0, Number(at - BigInt(this.now())))
      const timer = setTimeout(() => { this.challengeTimers.delete(timer); void this.challenge(w, window, nonce) }, delay)
      this.challengeTimers.add(timer)
      void this.sampleUsage(w)
    }
    this.prune()
  }

  private async challenge (w: Workload, window: bigint, nonce: Uint8Array): Promise<void> {
    if (this.closed || w.openFrom === null || w.agent === null) return
    try {
      if (!await this.inspectWorkload(w)) return // it is exiting: the die event closes the interval
    } catch {
      return
    }
    if (w.openFrom === null || this.closed) return
    const s = this.sessions.get(w.id)
    if (s === undefined) {
      if (!w.everConnected && this.now() - w.lastAgentStart < AGENT_GRACE_MS) return
      w.polls.set(window, { window, answered: false, healthy: false })
      this.log('poll-missed', { container: w.id.slice(0, 12), window, reason: 'agent not connected' })
      return
    }
    if (w.pending !== null) clearTimeout(w.pending.timer)
    const timer = setTimeout(() => {
      if (w.pending?.window !== window) return
      w.pending = null
      if (w.openFrom === null) return // died meanwhile: not a miss
      w.polls.set(window, { window, answered: false, healthy: false })
      this.log('poll-missed', { container: w.id.slice(0, 12), window, reason: 'no valid answer in time' })
    }, Number(ANSWER_TIMEOUT_MS))
    w.pending = { window, nonce, health: w.health, timer }
    s.send({ t: 'challenge', window: window.toString(), nonce: hex(nonce), health: w.health })
  }

  private prune (): void {
    const keepMs = 3n * this.node.params.epochMs + 3n * POLL_WINDOW_MS
    const horizon = BigInt(this.now()) - keepMs
    for (const [id, w] of this.workloads) {
      for (const k of w.polls.keys()) if (k * POLL_WINDOW_MS + POLL_WINDOW_MS < horizon) w.polls.delete(k)
      if (w.openFrom === null && w.finalized && w.exitedAt !== null && BigInt(w.exitedAt) < horizon) this.workloads.delete(id)
    }
  }

  // ---- compute units ----------------------------------------------------------------------------------------

  private creditPath (epoch: bigint): string { return this.dir('credit', `${epoch}.json`) }

  readCredit (epoch: bigint): CreditRecord | null {
    const p = this.creditPath(epoch)
    return existsSync(p) ? readJsonFileSync(p, 'E_CREDIT_CORRUPT') as CreditRecord : null
  }

  /** CU the node may claim in the lottery of `epoch`: the attested work of `epoch − 1`, computed once and persisted. */
  async computeUnitsFor (epoch: bigint): Promise<bigint> {
    const target = epoch - 1n
    if (target < 0n) return 0n
    const key = target.toString()
    let p = this.credits.get(key)
    if (p === undefined) {
      p = this.creditEpoch(target)
      this.credits.set(key, p)
      if (this.credits.size > 16) this.credits.delete(this.credits.keys().next().value as string)
      p.catch(() => { this.credits.delete(key) })
    }
    return await p
  }

  private async flushCheckpoints (): Promise<void> {
    const waits: Array<Promise<void>> = []
    for (const [id, s] of this.sessions) {
      const w = this.workloads.get(id)
      if (w === undefined || w.openFrom === null) continue
      waits.push(new Promise<void>((resolve) => { w.reportWaiters.push(resolve) }))
      s.send({ t: 'checkpoint', health: w.health })
    }
    if (waits.length === 0) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.all(waits), new Promise<void>((resolve) => { timer = setTimeout(resolve, FLUSH_WAIT_MS) })])
    clearTimeout(timer)
    for (const w of this.workloads.values()) w.reportWaiters.length = 0
  }

  private async creditEpoch (epoch: bigint): Promise<bigint> {
    const existing = this.readCredit(epoch)
    if (existing !== null) return BigInt(existing.total)
    const S = epochStart(this.node.params, epoch)
    const E = S + this.node.params.epochMs
    if (BigInt(this.now()) < E) return 0n // not over yet: never persist a partial epoch
    await this.flushCheckpoints()
    const now = BigInt(this.now())
    const witnesses: WorkloadWitness[] = []
    const meta = new Map<string, { polls: PollOutcome[], intervals: Interval[] }>()
    for (const w of this.workloads.values()) {
      const intervals = [...w.intervals, ...(w.openFrom !== null ? [{ from: w.openFrom, to: now }] : [])].filter((i) => i.from < E && i.to > S)
      if (intervals.length === 0) continue
      const polls = [...w.polls.values()]
      const r = w.report
      witnesses.push({
        containerId: w.id,
        daemon: { intervals, reservation: w.reservation, cpuUsageNs: w.cpuUsageNs },
        agent: r === null ? null : { attestedFrom: BigInt(r.attestedFrom), lastAlive: BigInt(r.stopTime), reservation: { nanoCpus: BigInt(r.reservations.nanoCpus), memoryBytes: BigInt(r.reservations.memoryBytes) }, polls }
      })
      meta.set(w.id, { polls, intervals })
    }
    const credit = epochCredit({ epochStart: S, epochEnd: E, capacity: this.capacity, workloads: witnesses })
    const record: CreditRecord = {
      epoch: epoch.toString(),
      epochStart: S.toString(),
      epochEnd: E.toString(),
      total: credit.total.toString(),
      capacity: resJson(this.capacity),
      computedAt: Number(now),
      workloads: credit.workloads.map((c) => {
        const m = meta.get(c.containerId)!
        const r = this.workloads.get(c.containerId)?.report ?? null
        return {
          containerId: c.containerId,
          cu: c.cu.toString(),
          attestedMs: c.attestedMs.toString(),
          reason: c.reason,
          reservation: resJson(c.reservation),
          polls: m.polls.filter((p) => p.window * POLL_WINDOW_MS < E && p.window * POLL_WINDOW_MS + POLL_WINDOW_MS > S).map((p) => ({ window: p.window.toString(), answered: p.answered, healthy: p.healthy })),
          daemonIntervals: m.intervals.map((i) => [i.from.toString(), i.to.toString()] as [string, string]),
          agent: r === null ? null : { attestedFrom: r.attestedFrom, lastAlive: r.stopTime }
        }
      })
    }
    if (this.readCredit(epoch) !== null) return BigInt(this.readCredit(epoch)!.total)
    writeFileAtomicSync(this.creditPath(epoch), JSON.stringify(record, null, 2) + '\n', 0o644)
    for (const c of credit.workloads) {
      const w = this.workloads.get(c.containerId)
      if (w !== undefined) w.lastCredit = { epoch: epoch.toString(), cu: c.cu.toString(), reason: c.reason }
    }
    this.lastCredit = { epoch: epoch.toString(), total: credit.total.toString() }
    if (credit.workloads.length > 0) this.log('attestation-credit', { epoch, cu: credit.total, workloads: credit.workloads.map((c) => `${c.containerId.slice(0, 12)}:${c.cu}:${c.reason}`).join(',') })
    return credit.total
  }

  // ---- status -------------------------------------------------------------------------------------------------

  workloadStatus (): Array<Record<string, unknown>> {
    return [...this.workloads.values()].map((w) => {
      const polls = [...w.polls.values()]
      return {
        id: w.id,
        name: w.name,
        image: w.image,
        running: w.openFrom !== null,
        reservation: resJson(w.reservation),
        health: w.health,
        agent: w.agent === null ? null : { name: agentName(w.id), publicKey: w.agent.publicKey, connected: this.sessions.has(w.id) },
        pollsAnswered: polls.filter((p) => p.answered).length,
        pollsMissed: polls.filter((p) => !p.answered).length,
        pollsUnhealthy: polls.filter((p) => p.answered && !p.healthy).length,
        cpuUsageNs: w.cpuUsageNs?.toString() ?? null,
        report: w.report === null ? null : { attestedFrom: w.report.attestedFrom, lastAlive: w.report.stopTime, pollsAnswered: w.report.pollsAnswered },
        exitedAt: w.exitedAt,
        exitCode: w.exitCode,
        lastCredit: w.lastCredit
      }
    })
  }

  status (): Record<string, unknown> {
    return {
      enabled: true,
      docker: this.dockerOk,
      runDir: this.runDir,
      ca: { fingerprint: hex(this.ca.fingerprint), source: this.ca.source },
      capacity: resJson(this.capacity),
      agentsConnected: this.sessions.size,
      pluginEvents: this.pluginEvents,
      lastCredit: this.lastCredit,
      workloads: this.workloadStatus()
    }
  }
}

/** Starts attestation for `node`; the returned `computeUnits` feeds the lottery. */
export async function startAttestation (node: EconumiNode, opts: AttestationOptions): Promise<AttestationHandle> {
  const c = new AttestationCollector(node, opts)
  try {
    await c.start()
  } catch (err) {
    await c.close().catch(() => {})
    throw err
  }
  return {
    computeUnits: { attested: true, computeUnitsFor: async (epoch) => await c.computeUnitsFor(epoch) },
    close: async () => { await c.close() },
    status: () => c.status(),
    extend: (app) => {
      app.get('/v1/workloads', (_req, res) => { res.json({ workloads: c.workloadStatus() }) })
      app.get('/v1/attestation', (_req, res) => { res.json(c.status()) })
      app.get('/v1/attestation/credit/:epoch', (req, res, next) => {
        const e = String(req.params.epoch)
        try {
          if (!/^\d{1,19}$/.test(e)) fail('E_BAD_REQUEST', 'epoch must be a non-negative integer', { epoch: e.slice(0, 40) })
          const r = c.readCredit(BigInt(e))
          if (r === null) fail('E_NOT_FOUND', 'no credit computed for this epoch', { epoch: e })
          res.json(r)
        } catch (err) { next(err) }
      })
    }
  }
}


