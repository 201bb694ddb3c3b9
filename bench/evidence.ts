// evidence-verify: what an auditor spends on one work report: decode its evidence and run checkReportEvidence
// (X.509 agent certificates through protocol/certificates.ts, as nodes check them, the CA parsed once; the Ed25519
// and VRF signatures; epochCredit), against raw Ed25519 and VRF verifications of every signature the evidence
// holds, in the same run. The audit verifies fewer: of a workload's hash-chained checkpoints only the last one's
// signature (protocol/evidence.ts checkWorkloadEvidence), so it can beat that floor.
// Epochs of 60 s: 12 checkpoints per workload plus the anchoring one. 1, 10 and 100 workloads per node-epoch.
import { POLL_WINDOW_MS, caEndorsementMessage, windowStart, type DaemonWitness } from '../protocol/attestation.js'
import { X509Certificate } from 'node:crypto'
import { AUDITORS_PER_REPORT } from '../protocol/audit.js'
import { toHex } from '../protocol/encoding.js'
import {
  type EpochEvidence, type EvidenceContext, type WorkloadEvidence, checkReportEvidence, checkpointHash, creditFromEvidence,
  decodeEvidence, encodeEvidence, evidenceNonce, evidenceRoot, pollSecretFor, signAgentSpan, signCheckpoint, signDaemonWitness
} from '../protocol/evidence.js'
import { ZERO_HASH, sha256 } from '../protocol/hash.js'
import { Signer, verify } from '../protocol/keys.js'
import { epochOf, epochStart, genesisHash, withConsensusDefaults } from '../protocol/params.js'
import { makeReport } from '../protocol/report.js'
import { vrfProve, vrfVerify } from '../protocol/vrf.js'
import { x509AgentChecker } from '../protocol/certificates.js'
import { generateCa, issueAgentCertificate } from '../node/attestation/pki.js'
import { type Bench, report } from './lib.js'

const EPOCH = 100n
const CHECKPOINTS = 13
const GiB = 1n << 30n

/** Mean ms of each function, run alternately round by round so a load change on the machine hits all of them alike. */
function msEach (rounds: number, fns: Array<() => void>): number[] {
  for (const fn of fns) fn() // warm up
  const total = fns.map(() => 0n)
  for (let i = 0; i < rounds; i++) {
    fns.forEach((fn, k) => {
      const t0 = process.hrtime.bigint()
      fn()
      total[k] += process.hrtime.bigint() - t0
    })
  }
  return total.map((t) => Number(t) / 1e6 / rounds)
}

const bench: Bench = {
  name: 'evidence-verify',
  description: 'audit one work report (decode + checkReportEvidence with real X.509 agent certificates) vs the same number of raw Ed25519 + VRF verifications; 1, 10, 100 workloads',
  run: async () => {
    const params = withConsensusDefaults({ network: 'bench', genesisTime: 1_700_000_000_000n, epochMs: 60_000n, maxClaimCu: 1n << 40n, minFee: 1000n, maxBlockTxs: 1000, allocations: [] })
    const genesis = genesisHash(params)
    const node = new Signer(Buffer.alloc(32, 1))
    const nodeId = toHex(node.publicKey)
    const S = epochStart(params, EPOCH)
    const E = epochStart(params, EPOCH + 1n)
    const ca = generateCa(nodeId, Number(S))
    const caDer = new Uint8Array(new X509Certificate(ca.certPem).raw)
    const secrets = [EPOCH - 1n, EPOCH].map((e) => pollSecretFor(node, genesis, e))
    const ctx: EvidenceContext = { params, genesis, registeredCapacity: { nanoCpus: 1000n * 1_000_000_000n, memoryBytes: 4096n * GiB }, certificates: x509AgentChecker }

    function workload (i: number): WorkloadEvidence {
      const agent = new Signer(sha256(Buffer.from(`bench-agent-${i}`)))
      const cid = toHex(sha256(Buffer.from(`bench-container-${i}`)))
      const reservation = { nanoCpus: 500_000_000n, memoryBytes: GiB }
      const daemon: DaemonWitness = { intervals: [{ from: S - 30_000n, to: E + 30_000n }], reservation, cpuUsageNs: 10_000_000_000n }
      const span = { attestedFrom: S - 30_000n, lastAlive: E }
      let prev: Uint8Array = ZERO_HASH
      const checkpoints = Array.from({ length: CHECKPOINTS }, (_, k) => {
        const window = S / POLL_WINDOW_MS - 1n + BigInt(k)
        const secret = secrets[epochOf(params, windowStart(window)) === EPOCH ? 1 : 0].secret
        const c = signCheckpoint(agent, cid, { window, nonce: evidenceNonce(secret, cid, window), healthy: true, prev })
        prev = checkpointHash(cid, c)
        return c
      })
      const cert = issueAgentCertificate({ ...ca, nodeId }, { agentPublicKey: agent.publicKey, containerId: cid, now: Number(S) })
      return {
        containerId: cid,
        agentKey: agent.publicKey,
        agentCertificate: new Uint8Array(new X509Certificate(cert).raw),
        agentSpan: span,
        agentReservation: reservation,
        agentSpanSignature: signAgentSpan(agent, cid, span, reservation),
        daemon,
        daemonSignature: signDaemonWitness(node, genesis, EPOCH, cid, daemon),
        checkpoints
      }
    }

    // the raw floor: Ed25519 verifications over distinct messages, and VRF verifications of the poll secret
    const message = (i: number): Uint8Array => sha256(Buffer.from(`m${i}`))
    const sigs = Array.from({ length: 256 }, (_, i) => node.sign(message(i)))
    const msgs = Array.from({ length: 256 }, (_, i) => message(i))
    const alpha = sha256(Buffer.from('alpha'))
    const vrfProof = vrfProve(node.seed, alpha)
    const raw = (ed: number, vrf: number): void => {
      for (let i = 0; i < ed; i++) if (!verify(node.publicKey, msgs[i % 256], sigs[i % 256])) throw new Error('ed25519')
      for (let i = 0; i < vrf; i++) if (vrfVerify(node.publicKey, vrfProof, alpha) === null) throw new Error('vrf')
    }

    const perSize = new Map<number, { ms: number, bytes: number }>()
    for (const n of [1, 10, 100]) {
      const ev: EpochEvidence = {
        version: 1,
        nodeKey: node.publicKey,
        epoch: EPOCH,
        epochStart: S,
        epochEnd: E,
        capacity: { nanoCpus: 1000n * 1_000_000_000n, memoryBytes: 4096n * GiB },
        caCertificate: caDer,
        caEndorsement: node.sign(caEndorsementMessage(nodeId, sha256(caDer))),
        pollSecrets: secrets.map((s) => ({ epoch: s.epoch, proof: s.proof })),
        workloads: Array.from({ length: n }, (_, i) => workload(i)).sort((a, b) => (a.containerId < b.containerId ? -1 : 1))
      }
      const cu = creditFromEvidence(ev, ctx).total
      const workReport = makeReport(node, genesis, EPOCH, cu, evidenceRoot(ev))
      const bytes = encodeEvidence(ev)
      const rounds = n === 100 ? 8 : n === 10 ? 40 : 200
      const ed = 1 + n * (2 + CHECKPOINTS) // the evidence's signatures: endorsement; per workload span + daemon + checkpoints
      const verified = 1 + n * 3 // what the audit verifies: endorsement; per workload span + daemon + the chain's last checkpoint
      const vrf = secrets.length
      const [auditMs, rawMs, x509Ms] = msEach(rounds, [
        () => { checkReportEvidence(workReport, decodeEvidence(bytes), ctx) },
        () => raw(ed, vrf),
        () => { for (const x of ev.workloads) x509AgentChecker.agentKey({ caCertificate: caDer, agentCertificate: x.agentCertificate, nodeId, containerId: x.containerId, at: S }) }
      ])
      perSize.set(n, { ms: auditMs, bytes: bytes.length })
      process.stdout.write(`evidence-verify with ${n} workloads: ${auditMs.toFixed(2)} ms per report (verifies ${verified} of its ${ed} Ed25519 signatures; all ${ed} + ${vrf} VRF verified raw: ${rawMs.toFixed(2)} ms; X.509 checks ${x509Ms.toFixed(2)} ms); evidence ${bytes.length} bytes (${(bytes.length / 1024).toFixed(1)} KiB) per node-epoch, ${cu} CU\n`)
      report({ name: `evidence-verify-${n}`, value: 1000 / auditMs, unit: `reports/s audited (${n} workloads)`, baseline: 1000 / rawMs })
    }
    const ten = perSize.get(10) as { ms: number, bytes: number }
    for (const nodes of [100, 1000]) {
      // each report is picked by k auditors in expectation (protocol/audit.ts), so each auditor checks k·(n−1)/n ≈ k reports
      const k = AUDITORS_PER_REPORT * (nodes - 1) / nodes
      process.stdout.write(`auditor cost per 60 s epoch with ${nodes} nodes (10 workloads each, k=${AUDITORS_PER_REPORT}): ${(k * ten.ms).toFixed(1)} ms CPU (${(k * ten.ms / 600).toFixed(3)}% of one core) and ${(k * ten.bytes / 1024).toFixed(1)} KiB of evidence per auditor; network-wide ${(nodes * k * ten.ms / 1000).toFixed(2)} CPU-s and ${(nodes * k * ten.bytes / 1024 / 1024).toFixed(1)} MiB per epoch\n`)
    }
  }
}

export default bench
