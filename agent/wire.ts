// The agent ↔ node transport: newline-delimited JSON over the unix socket the node serves for agents
// (host /run/econumi/agents/agent.sock, mounted read-only into each agent as /run/econumi-node). The node
// pushes; the agent answers. Every statement the agent makes is signed with its key, so the socket itself
// needs no secret: a connection only counts once its hello signature verifies for the expected container.
//
//   node  → agent  {t:'hello', nonce}                       on connect (32-byte hex nonce)
//   agent → node   {t:'hello', containerId, publicKey, signature}   signature over helloMessage(nonce, containerId)
//   node  → agent  {t:'challenge', window, nonce, health}  at the node's random instant of each 5 s window
//   agent → node   {t:'answer', window, nonce, healthy, prev, signature, span, report}
//                  signature: the checkpoint (protocol/checkpoint.ts) over (window, nonce, healthy, prev), prev
//                  the hash of the agent's previous checkpoint; span: its signed span and reservation
//   node  → agent  {t:'checkpoint', health}                 asks for the exit report now, e.g. at an epoch boundary
//   agent → node   {t:'report', report, span}               the signed exit report; also every `checkpointMs` on its own
// `health` is Docker's view of the HEALTHCHECK ('none' | 'starting' | 'healthy' | 'unhealthy'); the agent
// signs healthy = (its workload's cgroup still holds a task) ∧ health ≠ 'unhealthy'.
import type { SignedExitReport } from '../protocol/attestation.js'

export type DockerHealth = 'none' | 'starting' | 'healthy' | 'unhealthy'

export type NodeMessage =
  | { t: 'hello', nonce: string }
  | { t: 'challenge', window: string, nonce: string, health: DockerHealth }
  | { t: 'checkpoint', health: DockerHealth }

export type AgentMessage =
  | { t: 'hello', containerId: string, publicKey: string, signature: string }
  | { t: 'answer', window: string, nonce: string, healthy: boolean, prev: string, signature: string, span: SignedSpan, report: SignedExitReport }
  | { t: 'report', report: SignedExitReport, span: SignedSpan }

/** protocol/checkpoint.ts agentSpanMessage's fields (ms) and the agent's hex signature over them. */
export interface SignedSpan { attestedFrom: number, lastAlive: number, signature: string }

/** What the node writes to the agent's stdin (then closes it). Only `secretKey` is secret. */
export interface AgentBoot {
  v: 1
  /** hex Ed25519 seed; written to /run/secrets/agent.key (tmpfs) and nowhere else */
  secretKey: string
  nodeId: string
  containerId: string
  image: string
  imageDigest: string
  reservations: { nanoCpus: string, memoryBytes: string }
  certificate: string
  /** path of the node's agent socket inside the agent container */
  socket: string
  /** how often the agent sends its exit report on its own (ms) */
  checkpointMs: number
}

export const MAX_LINE = 64 * 1024
/** Where the node mounts the workload's cgroup directory (read-only) inside the agent container. */
export const WORKLOAD_CGROUP_DIR = '/run/econumi-workload'
/**
 * The agent's uid and gid: no image has it (not root, not nobody 65534, not a distribution's ranges or
 * Docker's default subuid ranges), so a workload that picks it by chance is unlikely; one that picks it on
 * purpose still cannot reach the agent, which is in another PID namespace.
 */
export const AGENT_UID = 2_100_065_534
export const HEALTH_VALUES: readonly DockerHealth[] = ['none', 'starting', 'healthy', 'unhealthy']

export function isHealthy (alive: boolean, health: DockerHealth): boolean {
  return alive && health !== 'unhealthy'
}

/** Splits a byte stream into JSON lines; a line over MAX_LINE or not JSON calls `onError` and stops. */
export function lineReader (onMessage: (m: unknown) => void, onError: (code: string) => void): (chunk: Buffer) => void {
  let buf = ''
  let dead = false
  return (chunk) => {
    if (dead) return
    buf += chunk.toString('utf8')
    let nl: number
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (line.trim() === '') continue
      let m: unknown
      try { m = JSON.parse(line) } catch { dead = true; onError('E_AGENT_WIRE_JSON'); return }
      onMessage(m)
    }
    if (buf.length > MAX_LINE) { dead = true; onError('E_AGENT_WIRE_LINE') }
  }
}
