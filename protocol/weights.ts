// Weights and eligibility (DESIGN.md "Consensus v2"). Pure: the caller passes the records from the ledger.
//
// A node's weight for epoch e is the CU of its work reports INCLUDED in blocks of epochs
// e-WEIGHT_LAG-L+1 … e-WEIGHT_LAG (L = weightWindow). Counting by inclusion epoch, with a lag, fixes the
// weights before the beacon they meet is known: the leader of a block chooses which pending reports it includes,
// but the first epoch whose weights count them uses a beacon made by later leaders' VRF outputs (Praos: the stake
// snapshot is taken before the epoch nonce is fixed). Only when WEIGHT_LAG-1 epochs in a row stay empty could the
// same leader see both; then it can still only leave reports out, and the next leader includes them.
//
// Node i leads epoch e iff its ticket -ln(u) ≤ τ·w_i/W, so P(lead) = 1 - e^(-τ·w_i/W): splitting a weight over
// Sybil keys gains nothing (1 - Π e^(-τ·w_k/W) = 1 - e^(-τ·w/W)). Until the window holds reports (W = 0), a
// genesis node's weight is its registered capacity for one epoch, and on a devnet every key weighs the same.
import { type Reservation, computeUnits } from './compute-units.js'
import { TICKET_FRACTION_BITS } from './lottery.js'
import { type GenesisNode, type NetworkParams, WEIGHT_LAG } from './params.js'

/** A registration on chain (protocol/ops.ts): the node's capacity and, on an open network, its bond. */
export interface Registration {
  millicores: bigint
  memoryBytes: bigint
  bond: bigint
  /** The bond owner's address ('' in consortium mode). */
  owner: string
  /** The epoch of the block that registered it. */
  since: bigint
  /** Open mode: the epoch from which the bond may be withdrawn, once unregistering; -1 while active. */
  unbondEnd: bigint
}

/** What the ledger keeps per node: its latest reported epoch, report CU by inclusion epoch, blocks led, admission. */
export interface NodeRecord {
  lastReportEpoch: bigint
  /** [inclusion epoch, CU] ascending, only epochs a weight can still count. */
  buckets: Array<[bigint, bigint]>
  blocksWon: bigint
  /** Incremented by every register, unregister and withdraw: the replay guard of those operations. */
  seq: bigint
  registration: Registration | null
  /** Ejected for equivocation: never admitted again, weight voided. */
  ejected: boolean
  /** The bond slashed for it (open mode). */
  slashed: bigint
}

/** The network-wide report CU by inclusion epoch (W's terms). */
export interface WeightTotals { buckets: Array<[bigint, bigint]> }

export const EMPTY_NODE_RECORD: NodeRecord = Object.freeze({ lastReportEpoch: -1n, buckets: [], blocksWon: 0n, seq: 0n, registration: null, ejected: false, slashed: 0n }) as NodeRecord
export const EMPTY_TOTALS: WeightTotals = Object.freeze({ buckets: [] }) as WeightTotals

/** Inclusion epochs whose reports count for epoch e: [first, last]. */
export function weightRange (p: NetworkParams, epoch: bigint): [bigint, bigint] {
  return [epoch - WEIGHT_LAG - p.weightWindow + 1n, epoch - WEIGHT_LAG]
}

function sumRange (buckets: Array<[bigint, bigint]>, [first, last]: [bigint, bigint]): bigint {
  let s = 0n
  for (const [e, cu] of buckets) if (e >= first && e <= last) s += cu
  return s
}

/** Subtract a voided node's buckets from the totals (ejection). */
export function subtractBuckets (totals: Array<[bigint, bigint]>, node: Array<[bigint, bigint]>): Array<[bigint, bigint]> {
  const minus = new Map(node.map(([e, cu]) => [e, cu]))
  return totals.map(([e, cu]): [bigint, bigint] => [e, cu - (minus.get(e) ?? 0n)]).filter(([, cu]) => cu > 0n)
}

/** Add CU to the bucket of `epoch`, dropping buckets no later weight can count (older than `keepFrom`). */
export function addToBuckets (buckets: Array<[bigint, bigint]>, epoch: bigint, cu: bigint, keepFrom: bigint): Array<[bigint, bigint]> {
  const out = buckets.filter(([e]) => e >= keepFrom).map(([e, c]): [bigint, bigint] => [e, c])
  const last = out[out.length - 1]
  if (last !== undefined && last[0] === epoch) last[1] += cu
  else out.push([epoch, cu])
  return out
}

/** The capacity of a node for one epoch, in CU (the cap on one report). */
export function capacityCu (p: NetworkParams, n: { millicores: bigint, memoryBytes: bigint }): bigint {
  return computeUnits(p.epochMs, { nanoCpus: n.millicores * 1_000_000n, memoryBytes: n.memoryBytes })
}

interface NodeIndex { byKey: Map<string, GenesisNode>, totalCapacity: bigint }
// PERF: built once per params object, so a leader check costs the same with 10 or 10,000 admitted nodes
const indexes = new WeakMap<NetworkParams, NodeIndex>()

function nodeIndex (p: NetworkParams): NodeIndex {
  let ix = indexes.get(p)
  if (ix === undefined) {
    let total = 0n
    for (const n of p.nodes) total += capacityCu(p, n)
    ix = { byKey: new Map(p.nodes.map((n) => [n.nodeKey, n])), totalCapacity: total }
    indexes.set(p, ix)
  }
  return ix
}

export function genesisNode (p: NetworkParams, nodeKey: string): GenesisNode | undefined {
  return nodeIndex(p).byKey.get(nodeKey)
}

/** An on-chain registration that still admits its node (not unbonding). */
export function activeRegistration (rec: NodeRecord): Registration | null {
  return rec.registration !== null && rec.registration.unbondEnd < 0n ? rec.registration : null
}

/** May this key lead and report? Never once ejected; devnet: any key; otherwise a genesis node or an active registration. */
export function isAdmitted (p: NetworkParams, nodeKey: string, rec: NodeRecord): boolean {
  if (rec.ejected) return false
  return p.mode === 'devnet' || genesisNode(p, nodeKey) !== undefined || activeRegistration(rec) !== null
}

/** The most CU one report may carry for this node: its registered (or genesis) capacity for one epoch. */
export function reportCap (p: NetworkParams, nodeKey: string, rec: NodeRecord): bigint {
  if (!isAdmitted(p, nodeKey, rec)) return 0n
  const n = activeRegistration(rec) ?? genesisNode(p, nodeKey)
  if (n !== undefined && n !== null) return capacityCu(p, n)
  return p.mode === 'devnet' ? p.maxClaimCu : 0n
}

export interface LeaderWeight {
  /** w_i and W in the eligibility rule (bootstrap values when the window holds no reports). */
  weight: bigint
  total: bigint
  bootstrap: boolean
}

/** w and W for `nodeKey` in `epoch`, from the parent's records. */
export function leaderWeight (p: NetworkParams, nodeKey: string, epoch: bigint, record: NodeRecord, totals: WeightTotals): LeaderWeight {
  const range = weightRange(p, epoch)
  const total = sumRange(totals.buckets, range)
  if (record.ejected) return { weight: 0n, total: total > 0n ? total : nodeIndex(p).totalCapacity, bootstrap: total === 0n }
  if (total > 0n) return { weight: sumRange(record.buckets, range), total, bootstrap: false }
  if (p.mode === 'devnet' && p.nodes.length === 0) return { weight: 1n, total: 1n, bootstrap: true }
  // bootstrap: genesis capacity only (a node registered on chain weighs what its reports weigh)
  const n = genesisNode(p, nodeKey)
  return { weight: n === undefined ? 0n : capacityCu(p, n), total: nodeIndex(p).totalCapacity, bootstrap: true }
}

const ONE = 1n << BigInt(TICKET_FRACTION_BITS)

// PERF: two BigInt multiplications; independent of the number of nodes.
/** ticket ≤ τ·w/W, exactly: ticket·W·1000 ≤ τ_milli·w·2^64 (tickets are -ln(u)·2^64). */
export function isEligible (ticket: bigint, w: LeaderWeight, tauMilli: bigint): boolean {
  if (w.weight <= 0n || w.total <= 0n) return false
  return ticket * w.total * 1000n <= tauMilli * w.weight * ONE
}

/** The node's registered capacity as a reservation (active registration, else genesis entry); null where neither. */
export function registeredReservation (p: NetworkParams, nodeKey: string, rec: NodeRecord): Reservation | null {
  const n = activeRegistration(rec) ?? genesisNode(p, nodeKey)
  return n === undefined || n === null ? null : { nanoCpus: n.millicores * 1_000_000n, memoryBytes: n.memoryBytes }
}
