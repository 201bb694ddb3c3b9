// Data availability of work-report evidence (DESIGN.md "Evidence and audits"), in the spirit of Ethereum's
// fork choice `is_data_available` (EIP-4844): a node does not make head, nor build on, a block from a peer that
// carries an attested work report whose evidence it cannot fetch. Such a block is held and retried, never charged:
// unavailability is not provable (the evidence may only be slow to arrive), but a report nobody can audit must not
// weigh. Pure: the current epoch is an argument.
//
// The window: Ethereum asks for blobs only within MIN_EPOCHS_FOR_BLOB_SIDECARS_REQUESTS (4096 epochs, ~18 days),
// after which nodes may prune them, so a long sync does not need them. Here the same horizon is the one after which
// no fraud proof against a report is accepted (protocol/fraud.ts oldestProvableEpoch: 2 + 2·L + WEIGHT_LAG − 1 + K
// epochs; 2 + 16 + 2 + 64 = 84 epochs with the default L = 8, K = 64): evidence that can no longer prove anything
// need not be fetched, and a syncing node does not wait for evidence of old blocks.
import type { Block } from './block.js'
import { oldestProvableEpoch } from './fraud.js'
import type { NetworkParams } from './params.js'
import { type WorkReport, isUnattested } from './report.js'

/** Epochs back from the current one within which a report's evidence must be available: the fraud-proof horizon. */
export function availabilityWindow (p: NetworkParams, currentEpoch: bigint): bigint { return currentEpoch - oldestProvableEpoch(p, currentEpoch) }

/** The reports of `block` whose evidence must be fetchable before the block is adopted: attested and still provable. */
export function reportsNeedingEvidence (p: NetworkParams, block: Block, currentEpoch: bigint): WorkReport[] {
  const oldest = oldestProvableEpoch(p, currentEpoch)
  return block.reports.filter((r) => !isUnattested(r) && r.epoch >= oldest)
}
