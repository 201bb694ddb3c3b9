// The state transition: applyBlock(state, block) → effects. Pure: the caller supplies the accounts and node
// records a block touches (see `touchedAddresses`, `touchedNodes`) and persists the returned effects however it
// likes. verifyBlock holds the stateless checks (run on worker threads); applyBlock the contextual ones.
import { eco } from './amount.js'
import { addressFromPublicKey, encodeAddress } from './address.js'
import { type Block, MAX_BLOCK_BYTES, blockHash, blockLength, computeReportRoot, txRootOfIds, verifyBlockSignature } from './block.js'
import { x509AgentChecker } from './certificates.js'
import { checkFraudProof, namedReports, oldestProvableEpoch } from './fraud.js'
import { merkleRoot } from './hash.js'
import {
  FRAUD_OP_OVERHEAD, FRAUD_REPORTER_QUOTIENT, MAX_BLOCK_FRAUD_BYTES, MAX_BLOCK_OPS, type FraudOp, type Op, WHISTLEBLOWER_QUOTIENT, encodeOp, encodedOpHash,
  evidenceKey, opAddress, opHash, opNode, opNodes, verifyOp
} from './ops.js'
import { type ScoredClaim, nextBeacon, scoreClaim } from './claim.js'
import { equalBytes, toHex } from './encoding.js'
import { EconumiError, fail, isEconumiError } from './errors.js'
import { type NetworkParams, epochStart } from './params.js'
import { MAX_BLOCK_REPORTS, checkReportSignature, isUnattested } from './report.js'
import { cappedBlockReward } from './reward.js'
import { checkTransaction, senderAddress, transactionId } from './transaction.js'
import {
  EMPTY_NODE_RECORD, EMPTY_TOTALS, type NodeRecord, type WeightTotals, activeRegistration, addToBuckets, genesisNode, isAdmitted, isEligible, leaderWeight,
  registeredReservation, reportCap, subtractBuckets, weightRange
} from './weights.js'

export interface Account { balance: bigint, nonce: bigint }
export const EMPTY_ACCOUNT: Account = Object.freeze({ balance: 0n, nonce: 0n })

/** The lottery values of a block's leader: fork choice breaks ties with ticket·W/w (lower wins). */
export interface WinnerScore { ticket: bigint, weight: bigint, total: bigint, vrfOutput: Uint8Array }

export interface ChainTip {
  hash: Uint8Array
  height: bigint
  epoch: bigint
  /** beacon(B) = H(beacon(parent) ‖ leader's VRF output): the next epoch's lottery input. */
  beacon: Uint8Array
  score: WinnerScore
}

export interface LedgerView {
  readonly params: NetworkParams
  readonly genesis: Uint8Array
  /** null before the first block. */
  readonly tip: ChainTip | null
  account: (address: string) => Account
  node: (nodeKey: string) => NodeRecord
  readonly totals: WeightTotals
}

export interface AccountChange { before: Account, after: Account }
export interface NodeChange { before: NodeRecord, after: NodeRecord }

export interface BlockEffects {
  hash: Uint8Array
  tip: ChainTip
  accounts: Map<string, AccountChange>
  nodes: Map<string, NodeChange>
  totals: { before: WeightTotals, after: WeightTotals }
  reward: bigint
  fees: bigint
  txids: Uint8Array[]
}

export function touchedAddresses (block: Block): string[] {
  const set = new Set<string>([encodeAddress(block.header.miner)])
  for (const op of block.ops) { const a = opAddress(op); if (a !== null) set.add(a) }
  for (const tx of block.txs) {
    set.add(senderAddress(tx))
    set.add(encodeAddress(tx.to))
  }
  return [...set]
}

/** Node records applyBlock reads: the leader's, each reporter's and each operation's nodes. */
export function touchedNodes (block: Block): string[] {
  const set = new Set<string>([toHex(block.header.winner.nodeKey)])
  for (const r of block.reports) set.add(toHex(r.nodeKey))
  for (const op of block.ops) for (const k of opNodes(op)) set.add(toHex(k))
  return [...set]
}

/**
 * What `verifyBlock` found for a block: the leader's scored claim and, unless a holder dropped them to save
 * memory, the transaction ids in block order (applyBlock then does not hash again).
 */
export interface VerifiedBlock { winner: ScoredClaim, txids?: Uint8Array[] }

/**
 * Every check of a block that needs no ledger: counts, the leader's signature and VRF proof, the report root and
 * each report's signature, each operation's signatures, certificate and evidence, the transaction root, and each transaction on its own (amounts, fee, signature).
 * It is most of a block's CPU (one Ed25519 verification per transaction), so nodes run it on worker threads.
 */
export function verifyBlock (params: NetworkParams, genesis: Uint8Array, block: Block): VerifiedBlock {
  const verified = verifyBlockExceptTransactions(params, genesis, block)
  for (const tx of block.txs) checkTransaction(tx, genesis, params.minFee)
  return verified
}

/**
 * verifyBlock but for checkTransaction on each transaction: for a caller that checks those elsewhere (in
 * parallel) and only then treats the block as verified. Failures come in verifyBlock's order.
 */
export function verifyBlockExceptTransactions (params: NetworkParams, genesis: Uint8Array, block: Block): VerifiedBlock {
  const h = block.header
  if (block.txs.length > params.maxBlockTxs) fail('E_BLOCK_TOO_MANY_TXS', 'block has more transactions than allowed', { height: h.height, count: block.txs.length, max: params.maxBlockTxs })
  if (block.reports.length > MAX_BLOCK_REPORTS) fail('E_BLOCK_TOO_MANY_REPORTS', 'block has more work reports than allowed', { height: h.height, count: block.reports.length })
  if (h.winner.epoch !== h.epoch) fail('E_CLAIM_CONTEXT', 'leader claim is for another epoch', { height: h.height, claimEpoch: h.winner.epoch, blockEpoch: h.epoch })
  if (!verifyBlockSignature(block, genesis)) fail('E_BLOCK_SIGNATURE', 'block signature does not verify', { height: h.height })
  if (h.weight <= 0n || h.totalWeight < h.weight) fail('E_BLOCK_WEIGHT', 'block weight must be positive and at most the total', { height: h.height, weight: h.weight, totalWeight: h.totalWeight })
  const winner = scoreClaim(h.winner)
  // the stated weights are checked against the ledger in applyBlock; a ticket above them fails here already
  if (!isEligible(winner.ticket, { weight: h.weight, total: h.totalWeight, bootstrap: false }, params.tauMilli)) fail('E_LEADER_NOT_ELIGIBLE', 'leader ticket is above τ·w/W for the weights the block states', { height: h.height, epoch: h.epoch })
  if (!equalBytes(computeReportRoot(block.reports), h.reportRoot)) fail('E_BLOCK_REPORT_ROOT', 'report root does not match the reports', { height: h.height })
  for (const r of block.reports) checkReportSignature(r, genesis)
  if (block.ops.length > MAX_BLOCK_OPS) fail('E_BLOCK_TOO_MANY_OPS', 'block has more operations than allowed', { height: h.height, count: block.ops.length })
  // each operation encoded once: a fraud operation can be megabytes
  const encoded = block.ops.map(encodeOp)
  if (!equalBytes(merkleRoot(encoded.map(encodedOpHash)), h.opRoot)) fail('E_BLOCK_OP_ROOT', 'operation root does not match the operations', { height: h.height })
  let fraudBytes = 0
  for (const [i, op] of block.ops.entries()) {
    naming(op, () => {
      verifyOp(params, genesis, op, h.time)
      if (op.kind !== 'fraud') return
      fraudBytes += encoded[i].length - FRAUD_OP_OVERHEAD
      if (fraudBytes > MAX_BLOCK_FRAUD_BYTES) fail('E_BLOCK_FRAUD_SIZE', 'block carries more fraud proof bytes than allowed', { height: h.height, bytes: fraudBytes, max: MAX_BLOCK_FRAUD_BYTES })
    })
  }
  // decodeBlock refuses such bytes; this keeps a block built in memory to the same rule
  const size = blockLength(block, encoded.reduce((n, b) => n + b.length, 0))
  if (size > MAX_BLOCK_BYTES) {
    const fraud = [...block.ops].reverse().find((op) => op.kind === 'fraud')
    const e = { height: h.height, size, max: MAX_BLOCK_BYTES }
    // naming the last fraud proof lets a producer drop it and fit the transactions
    if (fraud !== undefined) naming(fraud, () => fail('E_BLOCK_SIZE', 'block is larger than allowed', e))
    fail('E_BLOCK_SIZE', 'block is larger than allowed', e)
  }
  const txids = block.txs.map(transactionId)
  if (!equalBytes(txRootOfIds(h.height, h.miner, block.coinbase, txids), h.txRoot)) fail('E_BLOCK_TX_ROOT', 'transaction root does not match the body', { height: h.height })
  return { winner, txids }
}

/** Runs `f`; an EconumiError it throws names the operation (`details.op`), so a producer can drop just that one. */
function naming<T> (op: Op, f: () => T): T {
  try { return f() } catch (err) {
    if (!isEconumiError(err)) throw err
    throw new EconumiError(err.code, err.message, { ...err.details, op: toHex(opHash(op)) })
  }
}

/** Sum of the genesis allocations (issuance stops where allocations plus rewards reach MAX_SUPPLY). */
export function allocated (params: NetworkParams): bigint {
  let s = 0n
  for (const a of params.allocations) s += a.amount
  return s
}

/**
 * Apply a block to the state. `verified` is verifyBlock's result for this exact block, from a caller that
 * already ran it (on a worker thread, say); without it applyBlock runs verifyBlock itself.
 */
export function applyBlock (state: LedgerView, block: Block, verified?: VerifiedBlock): BlockEffects {
  const { params, genesis, tip } = state
  const h = block.header
  const expectedHeight = tip === null ? 0n : tip.height + 1n
  if (h.height !== expectedHeight) fail('E_BLOCK_HEIGHT', 'block height does not follow the tip', { height: h.height, expected: expectedHeight })
  const expectedPrev = tip === null ? genesis : tip.hash
  if (!equalBytes(h.prevHash, expectedPrev)) fail('E_BLOCK_PREV_HASH', 'block does not build on the tip', { height: h.height, prevHash: toHex(h.prevHash), tip: toHex(expectedPrev) })
  if (tip !== null && h.epoch <= tip.epoch) fail('E_BLOCK_EPOCH', 'block epoch must be after its parent\'s', { height: h.height, epoch: h.epoch, parentEpoch: tip.epoch })
  const start = epochStart(params, h.epoch)
  if (h.time < start || h.time >= start + params.epochMs) fail('E_BLOCK_TIME', 'block time lies outside its epoch', { height: h.height, time: h.time, epoch: h.epoch })
  const parentBeacon = tip?.beacon ?? genesis
  if (!equalBytes(h.winner.beacon, parentBeacon)) fail('E_BLOCK_BEACON', 'leader claim is not on the parent\'s beacon', { height: h.height })
  const { winner, txids: knownIds } = verified ?? verifyBlock(params, genesis, block)

  // leader: admitted, and its ticket under τ·w/W with the weights of the parent's state
  const leader = toHex(h.winner.nodeKey)
  const nodes = new Map<string, NodeChange>()
  const getNode = (k: string): NodeRecord => nodes.get(k)?.after ?? state.node(k)
  const putNode = (k: string, after: NodeRecord): void => { nodes.set(k, { before: nodes.get(k)?.before ?? state.node(k), after }) }
  if (!isAdmitted(params, leader, getNode(leader))) fail('E_LEADER_NOT_ADMITTED', 'block leader is not an admitted node of this network', { height: h.height, node: leader })
  const lw = leaderWeight(params, leader, h.epoch, getNode(leader), state.totals)
  if (h.weight !== lw.weight || h.totalWeight !== lw.total) fail('E_BLOCK_WEIGHT', 'block states another leader weight than the parent\'s state gives', { height: h.height, node: leader, weight: h.weight, expected: lw.weight, totalWeight: h.totalWeight, expectedTotal: lw.total })
  if (!isEligible(winner.ticket, lw, params.tauMilli)) fail('E_LEADER_NOT_ELIGIBLE', 'leader ticket is above τ·w/W for this epoch', { height: h.height, node: leader, epoch: h.epoch, weight: lw.weight, total: lw.total })

  // work reports: admitted, attested (but on a devnet), finished at least two epochs ago, not stale, one per
  // epoch and node in increasing order (no overlaps), within the node's capacity
  const keepFrom = weightRange(params, h.epoch)[0]
  let totals = state.totals
  for (const r of block.reports) {
    const node = toHex(r.nodeKey)
    if (!isAdmitted(params, node, getNode(node))) fail('E_REPORT_NOT_ADMITTED', 'work report from a node that is not admitted', { height: h.height, node })
    if (params.mode !== 'devnet' && isUnattested(r)) fail('E_UNATTESTED_CLAIMS', `unattested work reports are a devnet feature; this is a ${params.mode} network`, { height: h.height, node })
    if (r.epoch > h.epoch - 2n || r.epoch < h.epoch - 2n - params.weightWindow) fail('E_REPORT_EPOCH', 'work report epoch must end two epochs before the block and not be older than the weight window', { height: h.height, node, reportEpoch: r.epoch, blockEpoch: h.epoch })
    const rec = getNode(node)
    if (r.epoch <= rec.lastReportEpoch) fail('E_REPORT_OVERLAP', 'work report overlaps one already on chain', { height: h.height, node, reportEpoch: r.epoch, last: rec.lastReportEpoch })
    const cap = reportCap(params, node, rec)
    if (r.cu > cap) fail('E_REPORT_CAPACITY', 'work report claims more than the node\'s capacity for one epoch', { height: h.height, node, cu: r.cu, cap })
    putNode(node, { ...rec, lastReportEpoch: r.epoch, buckets: addToBuckets(rec.buckets, h.epoch, r.cu, keepFrom) })
    totals = { buckets: addToBuckets(totals.buckets, h.epoch, r.cu, keepFrom) }
  }
  const led = getNode(leader)
  putNode(leader, { ...led, blocksWon: led.blocksWon + 1n })

  const accounts = new Map<string, AccountChange>()
  const get = (addr: string): Account => accounts.get(addr)?.after ?? state.account(addr)
  const put = (addr: string, after: Account): void => {
    const prev = accounts.get(addr)
    accounts.set(addr, { before: prev?.before ?? state.account(addr), after })
  }

  // operations: registrations, unbonding, withdrawals, equivocation evidence, fraud proofs (protocol/ops.ts)
  const miner = encodeAddress(h.miner)
  const punished = new Set<string>()
  for (const op of block.ops) {
    const node = toHex(opNode(op))
    const rec = getNode(node)
    const ctx = { height: h.height, node, op: toHex(opHash(op)) }
    if (op.kind === 'fraud') {
      // naming: the proof check's own errors then name the operation too, so a producer drops a false proof
      totals = naming(op, () => applyFraud(op, ctx, { params, genesis, epoch: h.epoch, totals, getNode, putNode, get, put }))
      continue
    }
    if (op.kind === 'equivocation') {
      const key = evidenceKey(op.evidence)
      if (rec.ejected || punished.has(key)) fail('E_EVIDENCE_PUNISHED', 'this node was already punished', ctx)
      if (params.mode !== 'devnet' && genesisNode(params, node) === undefined && rec.registration === null) fail('E_EVIDENCE_NOT_ADMITTED', 'equivocation evidence against a node that is not (or no longer) registered', ctx)
      punished.add(key)
      const bond = rec.registration?.bond ?? 0n
      if (bond > 0n) { const m = get(miner); put(miner, { ...m, balance: m.balance + bond / WHISTLEBLOWER_QUOTIENT }) }
      totals = { buckets: subtractBuckets(totals.buckets, rec.buckets) }
      putNode(node, { ...rec, ejected: true, buckets: [], slashed: rec.slashed + bond, registration: rec.registration === null ? null : { ...rec.registration, bond: 0n } })
      continue
    }
    if (op.seq !== rec.seq) fail('E_OP_SEQ', 'operation is a replay or out of order for this node', { ...ctx, seq: op.seq, expected: rec.seq })
    if (rec.ejected) fail('E_OP_EJECTED', 'this node was ejected for equivocation', ctx)
    if (op.kind === 'register') {
      if (genesisNode(params, node) !== undefined || rec.registration !== null) fail('E_OP_REGISTERED', 'node is already registered', ctx)
      const owner = opAddress(op)
      if (owner !== null) {
        const acct = get(owner)
        if (acct.balance < op.bond) fail('E_REGISTER_BALANCE', 'bond owner\'s balance does not cover the bond', { ...ctx, owner, balance: eco(acct.balance), bond: eco(op.bond) })
        put(owner, { ...acct, balance: acct.balance - op.bond })
      }
      putNode(node, { ...rec, seq: rec.seq + 1n, registration: { millicores: op.millicores, memoryBytes: op.memoryBytes, bond: op.bond, owner: owner ?? '', since: h.epoch, unbondEnd: -1n } })
    } else if (op.kind === 'unregister') {
      if (activeRegistration(rec) === null) fail('E_OP_NOT_REGISTERED', 'node has no active registration on chain', ctx)
      const registration = params.mode === 'open' ? { ...rec.registration!, unbondEnd: h.epoch + params.unbondingEpochs } : null
      putNode(node, { ...rec, seq: rec.seq + 1n, registration })
    } else {
      const reg = rec.registration
      if (reg === null || reg.unbondEnd < 0n) fail('E_OP_NOT_UNBONDING', 'node is not unbonding', ctx)
      if (h.epoch < reg.unbondEnd) fail('E_OP_UNBONDING', 'the unbonding delay has not passed', { ...ctx, epoch: h.epoch, unbondEnd: reg.unbondEnd })
      const owner = opAddress(op)!
      if (owner !== reg.owner) fail('E_OP_OWNER', 'withdrawal names another owner than the bond\'s', { ...ctx, owner, bondOwner: reg.owner })
      const acct = get(owner)
      put(owner, { ...acct, balance: acct.balance + reg.bond })
      putNode(node, { ...rec, seq: rec.seq + 1n, registration: null })
    }
  }

  let fees = 0n
  const txids: Uint8Array[] = []
  const seenTx = new Set<string>()
  for (const [i, tx] of block.txs.entries()) {
    const id = knownIds?.[i] ?? transactionId(tx)
    const idHex = toHex(id)
    if (seenTx.has(idHex)) fail('E_TX_DUPLICATE', 'transaction appears twice in the block', { height: h.height, txid: idHex })
    seenTx.add(idHex)
    const from = senderAddress(tx)
    const to = encodeAddress(tx.to)
    const sender = get(from)
    if (tx.nonce !== sender.nonce) fail('E_TX_NONCE', 'transaction nonce is not the account\'s next nonce (replay or gap)', { txid: idHex, from, nonce: tx.nonce, expected: sender.nonce })
    const cost = tx.amount + tx.fee
    if (sender.balance < cost) fail('E_TX_OVERDRAFT', 'sender balance does not cover amount and fee', { txid: idHex, from, balance: eco(sender.balance), cost: eco(cost) })
    put(from, { balance: sender.balance - cost, nonce: sender.nonce + 1n })
    const recipient = get(to)
    put(to, { balance: recipient.balance + tx.amount, nonce: recipient.nonce })
    fees += tx.fee
    txids.push(id)
  }

  const reward = cappedBlockReward(h.height, allocated(params))
  if (block.coinbase !== reward + fees) fail('E_BLOCK_COINBASE', 'coinbase must equal reward plus fees', { height: h.height, coinbase: block.coinbase, reward, fees })
  const m = get(miner)
  if (block.coinbase > 0n) put(miner, { balance: m.balance + block.coinbase, nonce: m.nonce })

  const hash = blockHash(h)
  return {
    hash,
    tip: { hash, height: h.height, epoch: h.epoch, beacon: nextBeacon(parentBeacon, winner.vrfOutput), score: { ticket: winner.ticket, weight: lw.weight, total: lw.total, vrfOutput: winner.vrfOutput } },
    accounts,
    nodes,
    totals: { before: state.totals, after: totals },
    reward,
    fees,
    txids
  }
}

interface FraudScope {
  params: NetworkParams
  genesis: Uint8Array
  epoch: bigint
  totals: WeightTotals
  getNode: (k: string) => NodeRecord
  putNode: (k: string, after: NodeRecord) => void
  get: (addr: string) => Account
  put: (addr: string, after: Account) => void
}

/**
 * A fraud operation: checks its proof (a false one throws, so the block is invalid) and punishes each offender
 * as equivocation does: ejected, its weight voided; in open mode its bond slashed, bond/FRAUD_REPORTER_QUOTIENT
 * to the reporter, the rest burned. Returns the new totals.
 */
function applyFraud (op: FraudOp, ctx: Record<string, unknown>, s: FraudScope): WeightTotals {
  const { params } = s
  // Any report its node signed counts, not only the ones on chain: signing a report the evidence does not support
  // is the offence itself, as signing two headers of one epoch is. Its epoch must be over (two epochs back, like
  // an included report) and within the horizon its weight could count in, plus K (oldestProvableEpoch).
  const oldest = oldestProvableEpoch(params, s.epoch)
  for (const r of namedReports(op.proof)) {
    if (r.epoch > s.epoch - 2n || r.epoch < oldest) fail('E_FRAUD_REPORT_EPOCH', 'fraud proof names a report of an epoch not yet over or beyond the proof horizon', { ...ctx, reportEpoch: r.epoch, blockEpoch: s.epoch, oldest })
  }
  const verdict = checkFraudProof(op.proof, {
    params,
    genesis: s.genesis,
    certificates: x509AgentChecker,
    registeredCapacity: (k) => registeredReservation(params, toHex(k), s.getNode(toHex(k))),
    reportOnChain: () => true
  })
  const reporter = addressFromPublicKey(op.reporter)
  let totals = s.totals
  for (const [i, key] of verdict.offenders.entries()) {
    const node = toHex(key)
    const rec = s.getNode(node)
    // ejected before or earlier in this block: the first offender is what the operation is about (opNode), so it
    // fails; a second one (a double credit by two nodes) is skipped (the reporter orders the sides)
    if (rec.ejected) { if (i === 0) fail('E_FRAUD_PUNISHED', 'this node was already punished', { ...ctx, offender: node }); continue }
    if (params.mode !== 'devnet' && genesisNode(params, node) === undefined && rec.registration === null) {
      if (i === 0) fail('E_FRAUD_NOT_ADMITTED', 'fraud proof against a node that is not (or no longer) registered', { ...ctx, offender: node })
      continue
    }
    const bond = rec.registration?.bond ?? 0n
    if (bond > 0n) { const a = s.get(reporter); s.put(reporter, { ...a, balance: a.balance + bond / FRAUD_REPORTER_QUOTIENT }) }
    totals = { buckets: subtractBuckets(totals.buckets, rec.buckets) }
    s.putNode(node, { ...rec, ejected: true, buckets: [], slashed: rec.slashed + bond, registration: rec.registration === null ? null : { ...rec.registration, bond: 0n } })
  }
  return totals
}

/** Accounts at genesis: the allocations. */
export function genesisAccounts (params: NetworkParams): Map<string, Account> {
  return new Map(params.allocations.map((a) => [a.address, { balance: a.amount, nonce: 0n }]))
}

/** An immutable in-memory ledger: applyBlock over it returns the next state. Used by tests and tools. */
export class MemoryState implements LedgerView {
  private constructor (
    readonly params: NetworkParams,
    readonly genesis: Uint8Array,
    readonly tip: ChainTip | null,
    private readonly accounts: ReadonlyMap<string, Account>,
    private readonly nodes: ReadonlyMap<string, NodeRecord> = new Map(),
    readonly totals: WeightTotals = EMPTY_TOTALS
  ) {}

  static genesisState (params: NetworkParams, genesis: Uint8Array): MemoryState {
    return new MemoryState(params, genesis, null, genesisAccounts(params))
  }

  account (address: string): Account { return this.accounts.get(address) ?? EMPTY_ACCOUNT }
  node (nodeKey: string): NodeRecord { return this.nodes.get(nodeKey) ?? EMPTY_NODE_RECORD }

  apply (block: Block): MemoryState {
    const fx = applyBlock(this, block)
    const next = new Map(this.accounts)
    for (const [addr, ch] of fx.accounts) next.set(addr, ch.after)
    const nodes = new Map(this.nodes)
    for (const [k, ch] of fx.nodes) nodes.set(k, ch.after)
    return new MemoryState(this.params, this.genesis, fx.tip, next, nodes, fx.totals.after)
  }

  totalBalance (): bigint { let s = 0n; for (const a of this.accounts.values()) s += a.balance; return s }
}
