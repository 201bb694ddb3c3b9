// Real work evidence for one network: signed checkpoints answering the node's poll-secret nonces, signed daemon
// witnesses and spans, and real X.509 certificates from node/attestation/pki.ts (the ones applyBlock's checker
// accepts). The same builder as test/protocol/evidence.test.ts's, parametrized by the network.
import { X509Certificate } from 'node:crypto'
import { type DaemonWitness, POLL_WINDOW_MS, caEndorsementMessage, windowStart } from '../../protocol/attestation.js'
import type { Reservation } from '../../protocol/compute-units.js'
import { toHex } from '../../protocol/encoding.js'
import { type Checkpoint, type EpochEvidence, type WorkloadEvidence, checkpointHash, creditFromEvidence, evidenceNonce, evidenceRoot, pollSecretFor, signAgentSpan, signCheckpoint, signDaemonWitness } from '../../protocol/evidence.js'
import { ZERO_HASH, sha256 } from '../../protocol/hash.js'
import type { Signer } from '../../protocol/keys.js'
import { type NetworkParams, epochOf, epochStart, genesisHash } from '../../protocol/params.js'
import { type WorkReport, makeReport } from '../../protocol/report.js'
import { x509AgentChecker } from '../../protocol/certificates.js'
import { generateCa, issueAgentCertificate } from '../../node/attestation/pki.js'

export const CORE = 1_000_000_000n
export const GiB = 1n << 30n
export const CID = ['11', '22', '33', '44'].map((b) => b.repeat(32))

export interface WorkloadSpec {
  cid: string
  agent: Signer
  windows?: bigint[]
  nanoCpus?: bigint
  memoryBytes?: bigint
  /** the key the certificate names (default: the agent's) */
  certKey?: Uint8Array
}

/** A node's CA (RSA, from pki.ts) and its agent certificates, valid from `nowMs`. */
export interface NodePki {
  node: Signer
  caCertificate: Uint8Array
  issue: (cid: string, key: Uint8Array) => Uint8Array
}

export function nodePki (node: Signer, nowMs: bigint): NodePki {
  const nodeId = toHex(node.publicKey)
  const now = Number(nowMs)
  const ca = generateCa(nodeId, now)
  return {
    node,
    caCertificate: new Uint8Array(new X509Certificate(ca.certPem).raw),
    issue: (cid, key) => new Uint8Array(new X509Certificate(issueAgentCertificate({ ...ca, nodeId }, { agentPublicKey: key, containerId: cid, now })).raw)
  }
}

export interface EvidenceFixtures {
  params: NetworkParams
  genesis: Uint8Array
  /** The anchor window (ending at the epoch's start) and every window of the epoch. */
  epochWindows: (epoch: bigint) => bigint[]
  build: (pki: NodePki, epoch: bigint, workloads: WorkloadSpec[], capacity?: Reservation) => EpochEvidence
  /** CU the evidence proves (registered capacity: null, or as given). */
  credit: (ev: EpochEvidence, registeredCapacity?: Reservation | null) => bigint
  reportFor: (node: Signer, ev: EpochEvidence, cu?: bigint) => WorkReport
}

export function evidenceFixtures (params: NetworkParams): EvidenceFixtures {
  const genesis = genesisHash(params)
  const epochWindows = (epoch: bigint): bigint[] => {
    const first = epochStart(params, epoch) / POLL_WINDOW_MS - 1n
    const last = (epochStart(params, epoch + 1n) - 1n) / POLL_WINDOW_MS
    return Array.from({ length: Number(last - first) + 1 }, (_, i) => first + BigInt(i))
  }
  const chain = (agent: Signer, cid: string, node: Signer, windows: bigint[]): Checkpoint[] => {
    const secrets = new Map<bigint, Uint8Array>()
    const secretOf = (w: bigint): Uint8Array => {
      const e = epochOf(params, windowStart(w))
      if (!secrets.has(e)) secrets.set(e, pollSecretFor(node, genesis, e).secret)
      return secrets.get(e) as Uint8Array
    }
    let prev: Uint8Array = ZERO_HASH
    return windows.map((w) => {
      const c = signCheckpoint(agent, cid, { window: w, nonce: evidenceNonce(secretOf(w), cid, w), healthy: true, prev })
      prev = checkpointHash(cid, c)
      return c
    })
  }
  const build = (pki: NodePki, epoch: bigint, specs: WorkloadSpec[], capacity: Reservation = { nanoCpus: 8n * CORE, memoryBytes: 16n * GiB }): EpochEvidence => {
    const node = pki.node
    const start = epochStart(params, epoch)
    const end = epochStart(params, epoch + 1n)
    const workloads = specs.map((ws): WorkloadEvidence => {
      const reservation = { nanoCpus: ws.nanoCpus ?? CORE, memoryBytes: ws.memoryBytes ?? GiB }
      const daemon: DaemonWitness = { intervals: [{ from: start - 10_000n, to: end + 10_000n }], reservation, cpuUsageNs: 5_000_000_000n }
      const agentSpan = { attestedFrom: start - 6_000n, lastAlive: end + 1_000n }
      return {
        containerId: ws.cid,
        agentKey: ws.agent.publicKey,
        agentCertificate: pki.issue(ws.cid, ws.certKey ?? ws.agent.publicKey),
        agentSpan,
        agentReservation: reservation,
        agentSpanSignature: signAgentSpan(ws.agent, ws.cid, agentSpan, reservation),
        daemon,
        daemonSignature: signDaemonWitness(node, genesis, epoch, ws.cid, daemon),
        checkpoints: chain(ws.agent, ws.cid, node, ws.windows ?? epochWindows(epoch))
      }
    }).sort((a, b) => (a.containerId < b.containerId ? -1 : 1))
    const secretEpochs = [...new Set(workloads.flatMap((x) => x.checkpoints.map((c) => epochOf(params, windowStart(c.window)))))].sort((a, b) => (a < b ? -1 : 1))
    return {
      version: 1,
      nodeKey: node.publicKey,
      epoch,
      epochStart: start,
      epochEnd: end,
      capacity,
      caCertificate: pki.caCertificate,
      caEndorsement: node.sign(caEndorsementMessage(toHex(node.publicKey), sha256(pki.caCertificate))),
      pollSecrets: (secretEpochs.length > 0 ? secretEpochs : [epoch]).map((e) => ({ epoch: e, proof: pollSecretFor(node, genesis, e).proof })),
      workloads
    }
  }
  const credit = (ev: EpochEvidence, registeredCapacity: Reservation | null = null): bigint => creditFromEvidence(ev, { params, genesis, registeredCapacity, certificates: x509AgentChecker }).total
  const reportFor = (node: Signer, ev: EpochEvidence, cu?: bigint): WorkReport => makeReport(node, genesis, ev.epoch, cu ?? credit(ev), evidenceRoot(ev))
  return { params, genesis, epochWindows, build, credit, reportFor }
}
