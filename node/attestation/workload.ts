// What the collector knows of one attested workload, shared by its rooms (docker-watch, agent-launcher,
// polls, credit through the collector).
import type { ExitReport, Interval, PollOutcome, SignedExitReport } from '../../protocol/attestation.js'
import type { Checkpoint } from '../../protocol/checkpoint.js'
import type { Reservation } from '../../protocol/compute-units.js'
import type { DockerHealth } from '../../agent/wire.js'
import { resJson } from './credit.js'
import { agentName } from './witness.js'

export interface Workload {
  id: string
  name: string
  image: string
  imageDigest: string
  cgroupParent: string
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
  /** Verified checkpoints by window, with the (hex) agent key that signed each. */
  checkpoints: Map<bigint, { key: string, checkpoint: Checkpoint }>
  /** The latest verified signed span of the current agent. */
  span: { key: string, attestedFrom: bigint, lastAlive: bigint, signature: Uint8Array } | null
  pending: { window: bigint, nonce: Uint8Array, health: DockerHealth, timer: NodeJS.Timeout } | null
  exitedAt: number | null
  exitCode: number | null
  finalized: boolean
  /** evidenceRecord: the evidence's index in the attestations core (null: not published, e.g. nothing to report). */
  lastCredit: { epoch: string, cu: string, reason: string, evidenceRecord: number | null } | null
  reportWaiters: Array<() => void>
}

export function newWorkload (id: string): Workload {
  return {
    id, name: '', image: '', imageDigest: '', cgroupParent: '', reservation: { nanoCpus: 0n, memoryBytes: 0n }, intervals: [], openFrom: null,
    cpuUsageNs: null, health: 'none', agent: null, agentStarting: false, lastAgentStart: 0, everConnected: false, report: null, signed: null,
    polls: new Map(), checkpoints: new Map(), span: null, pending: null, exitedAt: null, exitCode: null, finalized: false, lastCredit: null, reportWaiters: []
  }
}

/** The sidecar agent started for a workload (node/attestation/agent-launcher.ts). */
export interface AgentRecord {
  containerId: string
  publicKey: string
  certificate: string
  startedAt: number
  /** What the agent was told the workload reserves (it signs this in its span). Absent in records before v0.9. */
  reservations?: { nanoCpus: string, memoryBytes: string }
}

/** The reservation the workload's agent signs. */
export function agentReservation (w: Workload): Reservation {
  const r = w.agent?.reservations
  return r === undefined ? w.reservation : { nanoCpus: BigInt(r.nanoCpus), memoryBytes: BigInt(r.memoryBytes) }
}

/** The JSON row of one workload for GET /v1/workloads (`connected`: its agent has a live session). */
export function workloadView (w: Workload, connected: boolean): Record<string, unknown> {
  const polls = [...w.polls.values()]
  return {
    id: w.id,
    name: w.name,
    image: w.image,
    running: w.openFrom !== null,
    reservation: resJson(w.reservation),
    health: w.health,
    agent: w.agent === null ? null : { name: agentName(w.id), publicKey: w.agent.publicKey, connected },
    pollsAnswered: polls.filter((p) => p.answered).length,
    pollsMissed: polls.filter((p) => !p.answered).length,
    pollsUnhealthy: polls.filter((p) => p.answered && !p.healthy).length,
    cpuUsageNs: w.cpuUsageNs?.toString() ?? null,
    report: w.report === null ? null : { attestedFrom: w.report.attestedFrom, lastAlive: w.report.lastAlive, pollsAnswered: w.report.pollsAnswered },
    exitedAt: w.exitedAt,
    exitCode: w.exitCode,
    lastCredit: w.lastCredit
  }
}
