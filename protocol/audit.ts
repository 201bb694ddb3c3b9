// Which work reports a node audits (DESIGN.md "Evidence and audits"): in each epoch every node audits a sample of
// the other nodes' reports, chosen by its VRF over (beacon of the head ‖ epoch), so nobody can tell in advance who
// audits whom, and a node that is audited cannot pick its auditors. Each report is picked by `k` auditors in
// expectation among `n` nodes; a failed audit produces a fraud proof that stands on its own (protocol/evidence.ts),
// so the selection only decides who spends the CPU, never what is valid.
import { Writer } from './encoding.js'
import { taggedHash } from './hash.js'
import type { Signer } from './keys.js'
import { type WorkReport, reportHash } from './report.js'
import { vrfProofToHash, vrfProve } from './vrf.js'

/** Auditors per report in expectation (Algorand's committees pick by VRF with an expected size the same way). */
export const AUDITORS_PER_REPORT = 3

export function auditInput (beacon: Uint8Array, epoch: bigint): Uint8Array {
  return taggedHash('audit', beacon, new Writer(8).u64(epoch).finish())
}

/** The auditor's VRF output for this epoch: its private coin for the selection. */
export function auditCoin (auditor: Signer, beacon: Uint8Array, epoch: bigint): Uint8Array {
  return vrfProofToHash(vrfProve(auditor.seed, auditInput(beacon, epoch)))
}

/** Is `report` in the sample of the auditor whose coin this is? P = min(1, k/n) per report (n: nodes that audit). */
export function selectedForAudit (coin: Uint8Array, report: WorkReport, nodes: number, k = AUDITORS_PER_REPORT): boolean {
  if (nodes <= k) return true
  const h = taggedHash('audit-pick', coin, reportHash(report))
  const x = Buffer.from(h.buffer, h.byteOffset, 8).readBigUInt64BE(0)
  return x * BigInt(nodes) < BigInt(k) << 64n
}
