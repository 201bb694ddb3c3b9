// The agent launcher: one sidecar container per workload, in PID, network and IPC namespaces of its own
// (a workload, whatever uid it picks, cannot see, signal or ptrace its agent), as AGENT_UID, watching the
// workload through its cgroup (mounted read-only); its key over stdin into a tmpfs; its certificate from the
// node's CA. Only the public half is persisted, before the agent can speak. On start, the node adopts the
// workloads already running and those of their agents it can still trust.
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { Signer } from '../../protocol/keys.js'
import { AGENT_UID, type AgentBoot, WORKLOAD_CGROUP_DIR } from '../../agent/wire.js'
import { readJsonFileSync, writeFileAtomicSync } from '../atomic-file.js'
import { resJson } from './credit.js'
import type { AgentContainerSpec, DockerApi } from './docker-api.js'
import type { NodeCa } from './pki.js'
import { AGENT_WORKLOAD_LABEL, type CgroupLayout, agentName, isAttestable, workloadCgroupDir } from './witness.js'
import { type AgentRecord, type Workload, newWorkload } from './workload.js'
import type { LogFn } from '../log.js'
import { AGENT_LABEL, AGENT_LABEL_VALUE } from '../../plugin/types.js'

export type { AgentRecord }

/** Mount point of <runDir>/agents inside agent containers. */
export const AGENT_SOCKET_DIR = '/run/econumi-node'


export interface AgentLauncherOptions {
  docker: DockerApi
  ca: () => NodeCa
  runDir: string
  /** <dataDir>/attestation/agents: the public halves. */
  recordsDir: string
  image: string
  checkpointMs: number
  cgroups: () => CgroupLayout
  now: () => number
  log: LogFn
  closed: () => boolean
}

/** The create body of a workload's agent. */
export function agentContainerSpec (o: { image: string, runDir: string, workloadId: string, cgroupDir: string }): AgentContainerSpec {
  return {
    name: agentName(o.workloadId),
    Image: o.image,
    Labels: { [AGENT_LABEL]: AGENT_LABEL_VALUE, [AGENT_WORKLOAD_LABEL]: o.workloadId },
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    Tty: false,
    User: `${AGENT_UID}:${AGENT_UID}`,
    HostConfig: {
      // no PidMode: its own PID namespace. The cgroup mount is a bind that fails when the source is gone
      // (Binds would create a missing directory, i.e. a new cgroup)
      Mounts: [{ Type: 'bind', Source: o.cgroupDir, Target: WORKLOAD_CGROUP_DIR, ReadOnly: true }],
      Tmpfs: { '/run/secrets': `mode=0700,uid=${AGENT_UID},gid=${AGENT_UID},size=64k` },
      Binds: [`${join(o.runDir, 'agents')}:${AGENT_SOCKET_DIR}:ro`],
      NetworkMode: 'none',
      IpcMode: 'private',
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      ReadonlyRootfs: true,
      Memory: 128 * 1024 * 1024,
      NanoCpus: 250_000_000
    }
  }
}

export class AgentLauncher {
  constructor (private readonly o: AgentLauncherOptions) {}

  private recordPath (id: string): string { return join(this.o.recordsDir, `${id}.json`) }

  forget (id: string): void { rmSync(this.recordPath(id), { force: true }) }

  /** Workloads already running when the node starts: attest them from now on; adopt agents we can still trust. */
  async adopt (workloads: Map<string, Workload>, since: number, watch: { inspect: (w: Workload) => Promise<boolean>, sampleUsage: (w: Workload) => Promise<void> }): Promise<void> {
    const agents = await this.o.docker.list({ all: true, filters: { label: [`${AGENT_LABEL}=${AGENT_LABEL_VALUE}`] } })
    const running = await this.o.docker.list({ filters: { status: ['running'] } })
    const runningIds = new Set(running.map((c) => c.Id))
    for (const c of running) {
      const name = (c.Names?.[0] ?? '').replace(/^\//, '')
      if (!isAttestable(name, c.Labels)) continue
      const w = newWorkload(c.Id)
      w.openFrom = BigInt(since)
      workloads.set(c.Id, w)
      try { if (!await watch.inspect(w)) { workloads.delete(c.Id); continue } } catch { workloads.delete(c.Id); continue }
      const agent = agents.find((a) => a.Labels?.[AGENT_WORKLOAD_LABEL] === c.Id && a.State === 'running')
      const recPath = this.recordPath(c.Id)
      if (agent !== undefined && existsSync(recPath)) {
        const rec = readJsonFileSync(recPath) as AgentRecord
        if (rec?.containerId === c.Id && typeof rec.publicKey === 'string') {
          w.agent = rec
          w.lastAgentStart = this.o.now() // grace for the reconnect
          this.o.log('agent-adopted', { container: c.Id.slice(0, 12) })
          void watch.sampleUsage(w)
          continue
        }
      }
      await this.start(w)
      void watch.sampleUsage(w)
    }
    for (const a of agents) {
      const wid = a.Labels?.[AGENT_WORKLOAD_LABEL]
      if (wid !== undefined && runningIds.has(wid) && workloads.get(wid)?.agent !== null) continue
      await this.remove(a.Id)
      if (wid !== undefined && !runningIds.has(wid)) this.forget(wid)
    }
    // agent records of workloads that ended while the node was down: their reports are lost (nothing credited)
    for (const f of readdirSync(this.o.recordsDir)) {
      const id = f.replace(/\.json$/, '')
      if (!workloads.has(id)) rmSync(join(this.o.recordsDir, f), { force: true })
    }
  }

  async remove (name: string): Promise<void> {
    try {
      await this.o.docker.remove(name)
    } catch (err) {
      this.o.log('agent-remove-failed', { agent: name, error: (err as Error).message })
    }
  }

  async start (w: Workload, replace = false): Promise<void> {
    if (w.agentStarting || (w.agent !== null && !replace) || this.o.closed()) return
    w.agentStarting = true
    w.lastAgentStart = this.o.now()
    const seed = randomBytes(32)
    try {
      const ca = this.o.ca()
      const signer = new Signer(seed)
      const certificate = ca.issueAgentCertificate({ agentPublicKey: signer.publicKey, containerId: w.id, now: this.o.now() })
      const record: AgentRecord = { containerId: w.id, publicKey: Buffer.from(signer.publicKey).toString('hex'), certificate, startedAt: this.o.now(), reservations: resJson(w.reservation) }
      const spec = agentContainerSpec({ image: this.o.image, runDir: this.o.runDir, workloadId: w.id, cgroupDir: workloadCgroupDir(this.o.cgroups(), w.id, w.cgroupParent) })
      await this.remove(spec.name)
      // the key must be on disk nowhere: persist only the public half before the agent can speak
      writeFileAtomicSync(this.recordPath(w.id), JSON.stringify(record) + '\n', 0o600)
      w.agent = record
      const stream = await this.o.docker.createAttachStart(spec)
      const boot: AgentBoot = {
        v: 1,
        secretKey: seed.toString('hex'),
        nodeId: ca.nodeId,
        containerId: w.id,
        image: w.image,
        imageDigest: w.imageDigest,
        reservations: record.reservations ?? resJson(w.reservation),
        certificate,
        socket: `${AGENT_SOCKET_DIR}/agent.sock`,
        checkpointMs: this.o.checkpointMs
      }
      const payload = Buffer.from(JSON.stringify(boot) + '\n')
      await new Promise<void>((resolve, reject) => {
        stream.once('error', reject)
        stream.end(payload, () => { resolve() })
      })
      payload.fill(0)
      this.o.log('agent-started', { container: w.id.slice(0, 12), agent: spec.name, publicKey: record.publicKey.slice(0, 16) })
    } catch (err) {
      // typically: the workload exited (its cgroup is gone) before its agent could start
      this.o.log('agent-start-failed', { container: w.id.slice(0, 12), running: w.openFrom !== null, error: (err as Error).message })
      w.agent = null
      this.forget(w.id)
      await this.remove(agentName(w.id))
    } finally {
      seed.fill(0)
      w.agentStarting = false
    }
  }
}
