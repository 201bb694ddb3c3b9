// What the collector knows of one attested workload, shared by its rooms (docker-watch, agent-launcher,
// polls, credit through the collector).
import type { ExitReport, Interval, PollOutcome, SignedExitReport } from '../../protocol/attestation.js'
import type { Reservation } from '../../protocol/compute-units.js'
import type { DockerHealth } from '../../agent/wire.js'

export type AttestationLog = (event: string, fields?: Record<string, unknown>) => void

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
  pending: { window: bigint, nonce: Uint8Array, health: DockerHealth, timer: NodeJS.Timeout } | null
  exitedAt: number | null
  exitCode: number | null
  finalized: boolean
  lastCredit: { epoch: string, cu: string, reason: string } | null
  reportWaiters: Array<() => void>
}

export function newWorkload (id: string): Workload {
  return {
    id, name: '', image: '', imageDigest: '', cgroupParent: '', reservation: { nanoCpus: 0n, memoryBytes: 0n }, intervals: [], openFrom: null,
    cpuUsageNs: null, health: 'none', agent: null, agentStarting: false, lastAgentStart: 0, everConnected: false, report: null, signed: null,
    polls: new Map(), pending: null, exitedAt: null, exitCode: null, finalized: false, lastCredit: null, reportWaiters: []
  }
}

/** The sidecar agent started for a workload (node/attestation/agent-launcher.ts). */
export interface AgentRecord {
  containerId: string
  publicKey: string
  certificate: string
  startedAt: number
}
