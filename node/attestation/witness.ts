// Pure helpers of the collector: which containers are attested, what the daemon says they reserve, and
// how their health reads. Table-tested in test/attestation/agent.test.ts ("witness helpers").
import type { Reservation } from '../../protocol/compute-units.js'
import type { DockerHealth } from '../../agent/wire.js'
import { AGENT_LABEL, AGENT_NAME_PREFIX } from '../../plugin/types.js'

/** Reservations from inspect's HostConfig: the plugin's parser, so both witnesses read them alike. */
export { reservationFromHostConfig } from '../../plugin/reservation.js'

export const AGENT_WORKLOAD_LABEL = 'econumi.workload'
/** The econumi node's own container (when the node itself runs in Docker) is never attested. */
export const NODE_CONTAINER_NAME = 'econumi-node'

export function agentName (workloadId: string): string { return `${AGENT_NAME_PREFIX}${workloadId.slice(0, 12)}` }

/** Ordinary workloads are attested; agents and the node container never are. */
export function isAttestable (name: string, labels: Record<string, string> | undefined | null): boolean {
  const n = name.startsWith('/') ? name.slice(1) : name
  if (n === NODE_CONTAINER_NAME || n.startsWith(AGENT_NAME_PREFIX)) return false
  if (labels?.[AGENT_LABEL] !== undefined && labels[AGENT_LABEL] !== '') return false
  return true
}

export function minReservation (a: Reservation, b: Reservation | null): Reservation {
  if (b === null) return a
  return { nanoCpus: a.nanoCpus < b.nanoCpus ? a.nanoCpus : b.nanoCpus, memoryBytes: a.memoryBytes < b.memoryBytes ? a.memoryBytes : b.memoryBytes }
}

export function healthFromState (state: { Health?: { Status?: string } | null } | undefined | null): DockerHealth {
  const s = state?.Health?.Status
  return s === 'healthy' || s === 'unhealthy' || s === 'starting' ? s : 'none'
}

/** `health_status: healthy` (events API action) → 'healthy'. */
export function healthFromEventAction (action: string): DockerHealth | null {
  const m = /^health_status: (healthy|unhealthy|starting)$/.exec(action)
  return m === null ? null : m[1] as DockerHealth
}

/** Events carry `timeNano` (sometimes beyond 2^53: ms precision is what matters) or `time` in seconds. */
export function eventTimeMs (e: { time?: number, timeNano?: number | string }): number {
  if (e.timeNano !== undefined) {
    const n = BigInt(typeof e.timeNano === 'string' ? e.timeNano : Math.round(e.timeNano))
    return Number(n / 1_000_000n)
  }
  return (e.time ?? 0) * 1000
}

export interface CgroupLayout { driver: string, version: string }

/**
 * The host directory of a workload's cgroup, which the node bind-mounts read-only into its agent (see
 * agent/proc.ts readCgroup): cgroup v2 the unified directory, v1 the pids controller's. Docker's layouts:
 * cgroupfs `<parent or /docker>/<id>`, systemd `system.slice/docker-<id>.scope` (or `<parent>.slice`).
 */
export function workloadCgroupDir (layout: CgroupLayout, id: string, cgroupParent = ''): string {
  const root = layout.version === '2' ? '/sys/fs/cgroup' : '/sys/fs/cgroup/pids'
  const parent = cgroupParent.replace(/^\/+|\/+$/g, '')
  if (layout.driver === 'systemd') {
    const slice = parent === '' ? 'system.slice' : parent.endsWith('.slice') ? parent : `${parent}.slice`
    return `${root}/${slice}/docker-${id}.scope`
  }
  return `${root}/${parent === '' ? 'docker' : parent}/${id}`
}
