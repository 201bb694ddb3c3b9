// The attestation collector: the node's half of attested container work. It joins six rooms:
//  - plugin-events.ts: the plugin's create events (reservations that can only lower inspect's);
//  - docker-watch.ts: dockerd's events API (the daemon witness: start/die times, health) and inspection;
//  - agent-launcher.ts: one sidecar agent per ordinary workload (never for agents or `econumi-node`);
//  - polls.ts: one challenge per agent and 5-second window at an unpredictable instant;
//  - credit.ts: the CU of each finished epoch, persisted once (a restart never credits an interval twice).
//  - exit-reports.ts: the agents' sessions and exit reports (the last one received is verified, written to
//    <dataDir>/reports/<id>.json and appended to the node's attestations core).
// Here: the wiring, the workload lifecycle and status. Daemon intervals only start when this process began
// watching, so nothing is credited while the node is down. It sees the chain only through AttestationChain and dockerd only through DockerApi.
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type express from 'express'
import { POLL_WINDOW_MS, encodeAttestationRecord, encodeEvidenceRecord } from '../../protocol/attestation.js'
import type { Reservation } from '../../protocol/compute-units.js'
import { fail } from '../../protocol/errors.js'
import { creditFromEvidence } from '../../protocol/evidence.js'
import { type NetworkParams, epochStart } from '../../protocol/params.js'
import type { Signer } from '../../protocol/keys.js'
import { readJsonFileSync, writeFileAtomicSync } from '../atomic-file.js'
import type { ComputeUnitSource } from '../compute-units.js'
import { AgentLauncher } from './agent-launcher.js'
import { AgentServer, type AgentSession } from './agent-server.js'
import { CreditBook, type CreditRecord, resJson } from './credit.js'
import { type DockerApi, NODE_TOKEN_HEADER, dockerodeApi } from './docker-api.js'
import { DockerWatch, type WorkloadEvent } from './docker-watch.js'
import { PollSecrets, buildEvidence } from './evidence-builder.js'
import { x509AgentChecker } from '../../protocol/certificates.js'
import { type NodeCa, loadOrCreateCa } from './pki.js'
import { ExitReports } from './exit-reports.js'
import { PluginEvents } from './plugin-events.js'
import { type PollTimers, Polls } from './polls.js'
import { type CgroupLayout, agentName, minReservation } from './witness.js'
import { type Workload, newWorkload, workloadView } from './workload.js'
import { ensureRunDir, machineCapacity } from './run-dir.js'
import type { LogFn } from '../log.js'

export { NODE_TOKEN_HEADER, ensureRunDir, machineCapacity }
export type { CreditRecord }
export const DEFAULT_RUN_DIR = '/run/econumi'
export const DEFAULT_AGENT_IMAGE = 'econumi/agent:latest'
/** How long the epoch boundary waits for fresh checkpoints from connected agents. */
const RESTART_AGENT_EVERY_MS = 30_000
/** After a die event, how long the agent's last exit report may still be in flight. */
const FINALIZE_AFTER_MS = 1500

/** The little of the chain the collector needs (EconumiNode provides it: see chainView). */
export interface AttestationChain {
  identity: { signer: Signer, nodeId: string }
  params: NetworkParams
  genesis: Uint8Array
  /** The node's capacity registered on chain (or in the genesis); null where none is (a devnet). */
  registeredCapacity: () => Promise<Reservation | null>
  /** Appends to the node's attestations core; resolves with the record's index. */
  appendRecord: (bytes: Uint8Array) => Promise<number>
}

/** The chain view of a node. */
export function chainView (node: { identity: { signer: Signer, nodeId: string }, params: NetworkParams, genesis: Uint8Array, registeredCapacity: () => Promise<Reservation | null>, store: { appendRecord: (b: Uint8Array) => Promise<number> } }): AttestationChain {
  return {
    identity: node.identity,
    params: node.params,
    genesis: node.genesis,
    registeredCapacity: async () => await node.registeredCapacity(),
    appendRecord: async (b) => await node.store.appendRecord(b)
  }
}

export interface AttestationOptions {
  dataDir: string
  dockerSocket?: string
  /** Tests inject a fake; default dockerode on dockerSocket with the node token header. */
  docker?: DockerApi
  /** Shared with the plugin: node-token, node.sock (plugin events), agents/agent.sock. Default /run/econumi. */
  runDir?: string
  /** Declared capacity; default the machine's cores and memory. */
  capacity?: Reservation
  caCert?: string
  caKey?: string
  log: LogFn
  agentImage?: string
  /** How often agents sign a checkpoint on their own (ms). */
  checkpointMs?: number
  now?: () => number
  /** The timers of health polls (tests: a fake clock's). */
  pollTimers?: PollTimers
}

export interface AttestationHandle {
  computeUnits: ComputeUnitSource
  close: () => Promise<void>
  status: () => Record<string, unknown>
  /** Mounts GET /v1/workloads, GET /v1/attestation and GET /v1/attestation/credit/:epoch (pass to createApp's `extend`). */
  extend: (app: express.Express) => void
}

function hex (b: Uint8Array): string { return Buffer.from(b).toString('hex') }

export class AttestationCollector {
  readonly workloads = new Map<string, Workload>()
  private readonly reports: ExitReports
  private readonly sessions: Map<string, AgentSession>
  private readonly runDir: string
  private readonly now: () => number
  private readonly log: LogFn
  readonly capacity: Reservation
  private docker!: DockerApi
  private token = ''
  ca!: NodeCa
  private agentServer!: AgentServer
  private plugin: PluginEvents | null = null
  private watch!: DockerWatch
  private launcher!: AgentLauncher
  private polls!: Polls
  readonly credit: CreditBook
  private readonly secrets: PollSecrets
  private cgroups: CgroupLayout = { driver: 'cgroupfs', version: '1' }
  private readonly timers = new Set<NodeJS.Timeout>()
  private closed = false
  private startedAt = 0
  private lastCredit: { epoch: string, total: string } | null = null
  private dockerOk = false

  constructor (private readonly chain: AttestationChain, private readonly o: AttestationOptions) {
    this.runDir = o.runDir ?? DEFAULT_RUN_DIR
    this.now = o.now ?? Date.now
    this.log = o.log
    this.capacity = o.capacity ?? machineCapacity()
    this.secrets = new PollSecrets(chain.identity.signer, chain.genesis, chain.params)
    this.reports = new ExitReports({
      dataDir: o.dataDir,
      workloads: this.workloads,
      ca: () => this.ca,
      polls: () => this.polls,
      appendRecord: async (bytes) => await chain.appendRecord(bytes),
      removeAgent: async (w) => { await this.launcher.remove(agentName(w.id)); this.launcher.forget(w.id) },
      now: this.now,
      log: this.log
    })
    this.sessions = this.reports.sessions
    let capacity = this.capacity
    this.credit = new CreditBook({
      dir: this.dir('credit'),
      epochBounds: (e) => { const start = epochStart(chain.params, e); return { start, end: start + chain.params.epochMs } },
      now: this.now,
      flush: async () => {
        const reg = await chain.registeredCapacity()
        capacity = reg === null ? this.capacity : minReservation(this.capacity, reg)
        await this.reports.flush()
      },
      evidence: (epoch, S, E, now) => buildEvidence({ params: chain.params, genesis: chain.genesis, signer: chain.identity.signer, ca: this.ca, capacity }, this.workloads.values(), epoch, S, E, now),
      recompute: (ev) => creditFromEvidence(ev, { params: chain.params, genesis: chain.genesis, registeredCapacity: null, certificates: x509AgentChecker }),
      publish: async (bytes) => await this.chain.appendRecord(encodeEvidenceRecord(bytes)),
      onCredited: (epoch, record) => {
        for (const c of record.workloads) {
          const w = this.workloads.get(c.containerId)
          if (w !== undefined) w.lastCredit = { epoch: record.epoch, cu: c.cu, reason: c.reason, evidenceRecord: record.evidenceRecord }
        }
        this.lastCredit = { epoch: record.epoch, total: record.total }
        if (record.workloads.length > 0) this.log('attestation-credit', { epoch, cu: record.total, workloads: record.workloads.map((c) => `${c.containerId.slice(0, 12)}:${c.cu}:${c.reason}`).join(',') })
      }
    })
  }

  private dir (...p: string[]): string { return join(this.o.dataDir, 'attestation', ...p) }

  async start (): Promise<void> {
    this.startedAt = this.now()
    this.token = ensureRunDir(this.runDir)
    mkdirSync(this.dir('agents'), { recursive: true, mode: 0o700 })
    mkdirSync(join(this.o.dataDir, 'reports'), { recursive: true, mode: 0o700 })
    this.ca = loadOrCreateCa(this.o.dataDir, this.chain.identity, { caCert: this.o.caCert, caKey: this.o.caKey, now: this.now() })
    await this.publishCa()
    this.agentServer = new AgentServer(join(this.runDir, 'agents'), {
      agentKey: (id) => { const a = this.workloads.get(id)?.agent; return a == null ? null : Buffer.from(a.publicKey, 'hex') },
      onSession: (s) => { this.reports.onSession(s) },
      onMessage: (s, m) => { this.reports.onMessage(s, m) },
      onClose: (s) => { this.reports.onClose(s) },
      log: this.log
    })
    await this.agentServer.listen()
    const plugin = new PluginEvents(this.runDir, this.token)
    await plugin.listen()
    this.plugin = plugin
    this.docker = this.o.docker ?? dockerodeApi(this.o.dockerSocket ?? '/var/run/docker.sock', this.token)
    this.watch = new DockerWatch({ docker: this.docker, log: this.log, onEvent: (e) => { this.onWorkloadEvent(e) }, pluginReservation: (id) => plugin.reservation(id) })
    this.launcher = new AgentLauncher({
      docker: this.docker,
      ca: () => this.ca,
      runDir: this.runDir,
      recordsDir: this.dir('agents'),
      image: this.o.agentImage ?? DEFAULT_AGENT_IMAGE,
      checkpointMs: this.o.checkpointMs ?? 2000,
      cgroups: () => this.cgroups,
      now: this.now,
      log: this.log,
      closed: () => this.closed
    })
    this.polls = new Polls({
      workloads: this.workloads,
      sessions: this.sessions,
      pollSecret: (window) => this.secrets.forWindow(window),
      inspect: async (w) => await this.watch.inspect(w),
      sampleUsage: async (w) => { await this.watch.sampleUsage(w) },
      afterWindow: () => { this.prune() },
      now: this.now,
      log: this.log,
      timers: this.o.pollTimers
    })
    try {
      await this.docker.ping()
      const info = await this.docker.info()
      this.cgroups = { driver: info.CgroupDriver ?? 'cgroupfs', version: info.CgroupVersion ?? '1' }
      this.dockerOk = true
    } catch (err) {
      this.log('attestation-no-docker', { error: (err as Error).message })
    }
    // without the plugin no `docker run` is witnessed: say so at start, with the fix, rather than earn nothing
    if (this.dockerOk && !(await this.docker.authzActive())) {
      fail('E_PLUGIN_NOT_ENABLED', 'dockerd does not run the econumi authorization plugin, so no workload can be attested: install it and enable it for dockerd ' +
        '(scripts/build-plugin.sh --create --enable-authz; or `docker plugin install <registry>/econumi:<version> --alias econumi`, then "authorization-plugins": ["econumi"] in /etc/docker/daemon.json and SIGHUP dockerd)')
    }
    if (this.dockerOk) {
      await this.watch.follow()
      await this.launcher.adopt(this.workloads, this.startedAt, this.watch)
    }
    this.polls.start()
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
    this.polls?.close()
    this.watch?.close()
    for (const t of this.timers) clearTimeout(t)
    await this.agentServer?.close()
    await this.plugin?.close()
    rmSync(join(this.runDir, 'node.sock'), { force: true })
    // agents and workloads keep running: a restarted node adopts them
  }

  private later (ms: number, f: () => void): void {
    const timer = setTimeout(() => { this.timers.delete(timer); f() }, ms)
    this.timers.add(timer)
  }

  // ---- CA publication -----------------------------------------------------------------------------------

  private async publishCa (): Promise<void> {
    const path = this.dir('ca-published.json')
    const fp = hex(this.ca.fingerprint)
    if (existsSync(path) && (readJsonFileSync(path) as { caFingerprint?: string })?.caFingerprint === fp) return
    const seq = await this.chain.appendRecord(encodeAttestationRecord({ type: 'econumi/ca', version: 1, nodeId: this.ca.nodeId, caCertificate: this.ca.certPem, caFingerprint: fp, endorsement: hex(this.ca.endorsement) }))
    writeFileAtomicSync(path, JSON.stringify({ caFingerprint: fp, seq }) + '\n', 0o644)
  }

  // ---- workload lifecycle (from docker-watch) --------------------------------------------------------------

  private onWorkloadEvent (e: WorkloadEvent): void {
    if (e.kind === 'agent-die') this.onAgentDie(e.workloadId)
    else if (e.kind === 'health') { const w = this.workloads.get(e.id); if (w !== undefined) w.health = e.health }
    else if (e.kind === 'start') void this.onWorkloadStart(e.id, e.t)
    else this.onWorkloadDie(e.id, e.t, e.exitCode)
  }

  private async onWorkloadStart (id: string, t: number): Promise<void> {
    let w = this.workloads.get(id)
    if (w === undefined) { w = newWorkload(id); this.workloads.set(id, w) }
    if (w.openFrom !== null) return // duplicate event after an events-stream reconnect
    w.openFrom = BigInt(Math.max(t, this.startedAt))
    w.exitedAt = null
    w.finalized = false
    try {
      if (!await this.watch.inspect(w)) return
    } catch (err) {
      this.log('attestation-inspect-failed', { container: id.slice(0, 12), error: (err as Error).message })
      return
    }
    this.log('workload-start', { container: id.slice(0, 12), name: w.name, image: w.image, nanoCpus: w.reservation.nanoCpus, memoryBytes: w.reservation.memoryBytes })
    await this.launcher.start(w)
    void this.watch.sampleUsage(w)
  }

  private onWorkloadDie (id: string, t: number, exitCode: number): void {
    const w = this.workloads.get(id)
    if (w === undefined || w.openFrom === null) return
    const to = BigInt(t)
    if (to > w.openFrom) w.intervals.push({ from: w.openFrom, to })
    w.openFrom = null
    w.exitedAt = t
    w.exitCode = Number.isFinite(exitCode) ? exitCode : null
    this.polls.cancel(w)
    this.log('workload-die', { container: id.slice(0, 12), exitCode: w.exitCode })
    // the agent sees the cgroup empty, sends its last exit report and exits; it may still be in flight
    this.later(FINALIZE_AFTER_MS, () => { void this.reports.finalize(w) })
  }

  private onAgentDie (workloadId: string | undefined): void {
    if (workloadId === undefined) return
    const w = this.workloads.get(workloadId)
    if (w === undefined || w.openFrom === null || this.closed) return
    // the workload still runs without its agent: every challenge from now is missed; start a new agent (rate-limited)
    const wait = Math.max(1000, w.lastAgentStart + RESTART_AGENT_EVERY_MS - this.now())
    this.log('agent-died', { container: workloadId.slice(0, 12), restartInMs: wait })
    this.later(wait, () => { if (w.openFrom !== null && !this.sessions.has(w.id)) void this.launcher.start(w, true) })
  }

  private prune (): void {
    const keepMs = 3n * this.chain.params.epochMs + 3n * POLL_WINDOW_MS
    const horizon = BigInt(this.now()) - keepMs
    for (const [id, w] of this.workloads) {
      for (const k of w.polls.keys()) if (k * POLL_WINDOW_MS + POLL_WINDOW_MS < horizon) w.polls.delete(k)
      for (const k of w.checkpoints.keys()) if (k * POLL_WINDOW_MS + POLL_WINDOW_MS < horizon) w.checkpoints.delete(k)
      if (w.openFrom === null && w.finalized && w.exitedAt !== null && BigInt(w.exitedAt) < horizon) this.workloads.delete(id)
    }
  }

  // ---- compute units (credit.ts keeps the records) -----------------------------------------------------------

  readCredit (epoch: bigint): CreditRecord | null { return this.credit.read(epoch) }

  async computeUnitsFor (epoch: bigint): Promise<bigint> { return await this.credit.computeUnitsFor(epoch) }

  async evidenceRootFor (epoch: bigint): Promise<Uint8Array> { return await this.credit.evidenceRootFor(epoch) }

  // ---- status -------------------------------------------------------------------------------------------------

  workloadStatus (): Array<Record<string, unknown>> {
    return [...this.workloads.values()].map((w) => workloadView(w, this.sessions.has(w.id)))
  }

  status (): Record<string, unknown> {
    return {
      enabled: true,
      docker: this.dockerOk,
      runDir: this.runDir,
      ca: { fingerprint: hex(this.ca.fingerprint), source: this.ca.source },
      capacity: resJson(this.capacity),
      agentsConnected: this.sessions.size,
      pluginEvents: this.plugin?.count ?? 0,
      plugin: this.plugin?.pluginStats ?? null,
      lastCredit: this.lastCredit,
      workloads: this.workloadStatus()
    }
  }
}

/** Starts attestation for a node (or any AttestationChain); the returned `computeUnits` feeds the lottery. */
export async function startAttestation (node: AttestationChain | Parameters<typeof chainView>[0], opts: AttestationOptions): Promise<AttestationHandle> {
  const chain = 'appendRecord' in node ? node : chainView(node)
  const c = new AttestationCollector(chain, opts)
  try {
    await c.start()
  } catch (err) {
    await c.close().catch(() => {})
    throw err
  }
  return {
    computeUnits: { attested: true, computeUnitsFor: async (epoch) => await c.computeUnitsFor(epoch), evidenceRootFor: async (epoch) => await c.evidenceRootFor(epoch) },
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
