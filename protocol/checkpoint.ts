// What the sidecar agent signs for the evidence (protocol/evidence.ts): checkpoints (signed poll answers, each
// hashing the previous one) and its span. Only Node built-ins below: the agent image ships without node_modules.
import type { Reservation } from './compute-units.js'
import { Writer } from './encoding.js'
import { fail } from './errors.js'
import { HASH_LENGTH, taggedHash } from './hash.js'
import { SIGNATURE_LENGTH, type Signer } from './keys.js'

/** A poll secret is a VRF output (protocol/vrf.ts VRF_OUTPUT_LENGTH). */
export const POLL_SECRET_LENGTH = 64
export const CHECKPOINT_LENGTH = 8 + HASH_LENGTH + 1 + HASH_LENGTH + SIGNATURE_LENGTH

export interface CheckpointBody { window: bigint, nonce: Uint8Array, healthy: boolean, prev: Uint8Array }
/** The agent's signed poll answer, chained to its previous one (prev = ZERO_HASH for its first). */
export interface Checkpoint extends CheckpointBody { signature: Uint8Array }

export interface AgentSpan { attestedFrom: bigint, lastAlive: bigint }

const CONTAINER_ID = /^[0-9a-f]{64}$/

export function containerIdBytes (id: string): Uint8Array {
  if (typeof id !== 'string' || !CONTAINER_ID.test(id)) fail('E_ATTEST_CONTAINER_ID', 'container id must be 64 lowercase hex characters', { containerId: String(id).slice(0, 80) })
  return Buffer.from(id, 'hex')
}

export const u64 = (v: bigint): Uint8Array => new Writer(8).u64(v).finish()

export function writeReservation (w: Writer, r: Reservation): Writer { return w.u64(r.nanoCpus).u64(r.memoryBytes) }

/**
 * The challenge nonce of one container in one window, from the poll secret of the epoch its window starts in. No
 * chain tip: the per-epoch secret is already unpredictable, and the nonce stays recomputable from the evidence.
 */
export function evidenceNonce (secret: Uint8Array, containerId: string, window: bigint): Uint8Array {
  if (secret.length !== POLL_SECRET_LENGTH) fail('E_ATTEST_SECRET', 'poll secret must be a 64-byte VRF output', { length: secret.length })
  return taggedHash('attest-nonce-v2', secret, containerIdBytes(containerId), u64(window))
}

export function writeCheckpoint (w: Writer, c: Checkpoint): Writer {
  return w.u64(c.window).fixed(c.nonce, HASH_LENGTH).u8(c.healthy ? 1 : 0).fixed(c.prev, HASH_LENGTH).fixed(c.signature, SIGNATURE_LENGTH)
}

export function checkpointMessage (containerId: string, c: CheckpointBody): Uint8Array {
  return taggedHash('attest-checkpoint', containerIdBytes(containerId), u64(c.window), new Writer(65).fixed(c.nonce, HASH_LENGTH).u8(c.healthy ? 1 : 0).fixed(c.prev, HASH_LENGTH).finish())
}

export function signCheckpoint (agent: Signer, containerId: string, c: CheckpointBody): Checkpoint {
  return { window: c.window, nonce: c.nonce, healthy: c.healthy, prev: c.prev, signature: agent.sign(checkpointMessage(containerId, c)) }
}

/** What the next checkpoint's `prev` names: the whole checkpoint, signature included. */
export function checkpointHash (containerId: string, c: Checkpoint): Uint8Array {
  return taggedHash('checkpoint', containerIdBytes(containerId), writeCheckpoint(new Writer(CHECKPOINT_LENGTH), c).finish())
}

/** The agent re-signs its span and reservation with every checkpoint; the evidence carries the latest. */
export function agentSpanMessage (containerId: string, span: AgentSpan, reservation: Reservation): Uint8Array {
  return taggedHash('attest-span', containerIdBytes(containerId), writeReservation(new Writer(32).u64(span.attestedFrom).u64(span.lastAlive), reservation).finish())
}

export function signAgentSpan (agent: Signer, containerId: string, span: AgentSpan, reservation: Reservation): Uint8Array {
  return agent.sign(agentSpanMessage(containerId, span, reservation))
}
