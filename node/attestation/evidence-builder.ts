// The node's evidence of one finished epoch (protocol/evidence.ts): for every workload with a connected agent,
// its certificate, the daemon witness signed by the node, the agent's latest signed span and its checkpoints;
// the header reveals the poll secrets the nonces came from. The credit book computes CU from this evidence with
// the same rule every auditor uses, so what the node reports is, by construction, what anyone recomputes.
import { X509Certificate } from 'node:crypto'
import { POLL_WINDOW_MS, type Interval } from '../../protocol/attestation.js'
import { type Checkpoint, checkpointHash } from '../../protocol/checkpoint.js'
import type { Reservation } from '../../protocol/compute-units.js'
import { equalBytes } from '../../protocol/encoding.js'
import {
  type EpochEvidence, type PollSecretReveal, type WorkloadEvidence, EVIDENCE_VERSION, MAX_CHECKPOINTS_PER_WORKLOAD, MAX_EVIDENCE_WORKLOADS, MAX_INTERVALS,
  pollSecretFor, signDaemonWitness
} from '../../protocol/evidence.js'
import type { Signer } from '../../protocol/keys.js'
import { type NetworkParams, epochOf } from '../../protocol/params.js'
import { type Workload, agentReservation } from './workload.js'

export interface EvidenceSources {
  params: NetworkParams
  genesis: Uint8Array
  signer: Signer
  ca: { certPem: string, endorsement: Uint8Array }
  /** Declared capacity, already capped by the registered one. */
  capacity: Reservation
}

/** The poll secret of each epoch, computed once (one VRF proof per epoch). */
export class PollSecrets {
  private readonly cache = new Map<bigint, { epoch: bigint, proof: Uint8Array, secret: Uint8Array }>()
  constructor (private readonly signer: Signer, private readonly genesis: Uint8Array, private readonly params: NetworkParams) {}

  of (epoch: bigint): { epoch: bigint, proof: Uint8Array, secret: Uint8Array } {
    let s = this.cache.get(epoch)
    if (s === undefined) {
      s = pollSecretFor(this.signer, this.genesis, epoch)
      this.cache.set(epoch, s)
      if (this.cache.size > 8) this.cache.delete(this.cache.keys().next().value as bigint)
    }
    return s
  }

  /** The secret of the epoch the window starts in. */
  forWindow (window: bigint): Uint8Array { return this.of(epochOf(this.params, window * POLL_WINDOW_MS)).secret }
}

export function pemToDer (pem: string): Uint8Array { return new Uint8Array(new X509Certificate(pem).raw) }

/**
 * The checkpoints of the current agent in windows overlapping [S, E) (and the one ending at S: an anchor), ascending. If the chain breaks (an answer
 * lost on the way, or a node restart), only the last unbroken run is kept: a gap would make the evidence invalid,
 * and the run that reaches the epoch's end is the one the agent still vouches for.
 */
export function evidenceCheckpoints (w: Workload, key: string, S: bigint, E: bigint): Checkpoint[] {
  const windows = [...w.checkpoints.entries()]
    .filter(([win, c]) => c.key === key && win * POLL_WINDOW_MS < E && win * POLL_WINDOW_MS + POLL_WINDOW_MS >= S)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, c]) => c.checkpoint)
  let from = 0
  for (let i = 1; i < windows.length; i++) {
    if (!equalBytes(windows[i].prev, checkpointHash(w.id, windows[i - 1]))) from = i
  }
  return windows.slice(Math.max(from, windows.length - MAX_CHECKPOINTS_PER_WORKLOAD))
}

function clipIntervals (intervals: Interval[], S: bigint, E: bigint): Interval[] {
  return intervals.filter((i) => i.from < E && i.to > S).slice(-MAX_INTERVALS)
}

/** The evidence of epoch `epoch` = [S, E) as of `now` (open intervals end at `now`). */
export function buildEvidence (src: EvidenceSources, workloads: Iterable<Workload>, epoch: bigint, S: bigint, E: bigint, now: bigint): EpochEvidence {
  const out: WorkloadEvidence[] = []
  const secretEpochs = new Set<bigint>([epoch])
  for (const w of workloads) {
    const intervals = clipIntervals([...w.intervals, ...(w.openFrom !== null ? [{ from: w.openFrom, to: now }] : [])], S, E)
    if (intervals.length === 0 || w.agent === null || w.span === null || w.span.key !== w.agent.publicKey) continue // no agent: nothing to credit
    const checkpoints = evidenceCheckpoints(w, w.agent.publicKey, S, E)
    for (const c of checkpoints) secretEpochs.add(epochOf(src.params, c.window * POLL_WINDOW_MS))
    const daemon = { intervals, reservation: w.reservation, cpuUsageNs: w.cpuUsageNs }
    out.push({
      containerId: w.id,
      agentKey: Buffer.from(w.agent.publicKey, 'hex'),
      agentCertificate: pemToDer(w.agent.certificate),
      agentSpan: { attestedFrom: w.span.attestedFrom, lastAlive: w.span.lastAlive },
      agentReservation: agentReservation(w),
      agentSpanSignature: w.span.signature,
      daemon,
      daemonSignature: signDaemonWitness(src.signer, src.genesis, epoch, w.id, daemon),
      checkpoints
    })
  }
  out.sort((a, b) => (a.containerId < b.containerId ? -1 : 1))
  const pollSecrets: PollSecretReveal[] = [...secretEpochs].sort((a, b) => (a < b ? -1 : 1))
    .map((e) => ({ epoch: e, proof: pollSecretFor(src.signer, src.genesis, e).proof }))
  return {
    version: EVIDENCE_VERSION,
    nodeKey: src.signer.publicKey,
    epoch,
    epochStart: S,
    epochEnd: E,
    capacity: src.capacity,
    caCertificate: pemToDer(src.ca.certPem),
    caEndorsement: src.ca.endorsement,
    pollSecrets,
    // beyond the bound, the largest reservations first would be fairer; a node this size is not a case yet
    workloads: out.slice(0, MAX_EVIDENCE_WORKLOADS)
  }
}
