// The state transition: applyBlock(state, block) → effects. Pure: the caller supplies the accounts a
// block touches (see `touchedAddresses`) and persists the returned effects however it likes.
import { encodeAddress } from './address.js'
import { type Block, blockHash, computeClaimRoot, txRootOfIds, verifyBlockSignature } from './block.js'
import { type ScoredClaim, claimHash, compareClaims, scoreClaim } from './claim.js'
import { equalBytes, toHex } from './encoding.js'
import { fail } from './errors.js'
import { type NetworkParams, epochStart } from './params.js'
import { blockReward } from './reward.js'
import { checkTransaction, senderAddress, transactionId } from './transaction.js'

export interface Account { balance: bigint, nonce: bigint }
export const EMPTY_ACCOUNT: Account = Object.freeze({ balance: 0n, nonce: 0n })

/** The lottery values of a block's winner: fork choice breaks weight ties with them. */
export interface WinnerScore { ticket: bigint, cu: bigint, vrfOutput: Uint8Array }

export interface ChainTip {
  hash: Uint8Array
  height: bigint
  epoch: bigint
  /** Cumulative compute units of every claim in every block up to here: the chain's weight. */
  work: bigint
  score: WinnerScore
}

export interface LedgerView {
  readonly params: NetworkParams
  readonly genesis: Uint8Array
  /** null before the first block. */
  readonly tip: ChainTip | null
  account: (address: string) => Account
}

export interface AccountChange { before: Account, after: Account }

export interface BlockEffects {
  hash: Uint8Array
  tip: ChainTip
  accounts: Map<string, AccountChange>
  reward: bigint
  fees: bigint
  txids: Uint8Array[]
}

export function touchedAddresses (block: Block): string[] {
  const set = new Set<string>([encodeAddress(block.header.miner)])
  for (const tx of block.txs) {
    set.add(senderAddress(tx))
    set.add(encodeAddress(tx.to))
  }
  return [...set]
}

/** Verify the claims of a block; returns the winner's scored claim and the block's weight. */
export function verifyClaims (params: NetworkParams, genesis: Uint8Array, block: Block): { winner: ScoredClaim, work: bigint } {
  const h = block.header
  if (block.claims.length === 0) fail('E_BLOCK_CLAIMS', 'block carries no claims', { height: h.height })
  if (!equalBytes(computeClaimRoot(block.claims), h.claimRoot)) fail('E_BLOCK_CLAIM_ROOT', 'claim root does not match the claims', { height: h.height })
  const seen = new Set<string>()
  let best: ScoredClaim | null = null
  let work = 0n
  const winnerHash = toHex(claimHash(h.winner))
  let winnerIncluded = false
  for (const c of block.claims) {
    const node = toHex(c.nodeKey)
    if (seen.has(node)) fail('E_BLOCK_DUPLICATE_CLAIM', 'two claims from one node in a block', { height: h.height, node })
    seen.add(node)
    if (c.epoch !== h.epoch || !equalBytes(c.prevHash, h.prevHash)) fail('E_CLAIM_CONTEXT', 'claim is for another epoch or parent', { height: h.height, node, claimEpoch: c.epoch, blockEpoch: h.epoch })
    const scored = scoreClaim(c, genesis, params.maxClaimCu)
    work += scored.cu
    if (best === null || compareClaims(scored, best) < 0) best = scored
    if (toHex(claimHash(c)) === winnerHash) winnerIncluded = true
  }
  if (!winnerIncluded) fail('E_BLOCK_WINNER', 'winner claim is not among the block claims', { height: h.height })
  if (best === null || toHex(claimHash(best.claim)) !== winnerHash) fail('E_BLOCK_WINNER', 'winner claim does not hold the lowest lottery score', { height: h.height, winner: toHex(h.winner.nodeKey), best: best === null ? '' : toHex(best.claim.nodeKey) })
  return { winner: best, work }
}

/**
 * What `verifyBlock` found for a block: the winner's scored claim, the block's weight and, unless a holder
 * dropped them to save memory, the transaction ids in block order (applyBlock then does not hash again).
 */
export interface VerifiedBlock { winner: ScoredClaim, work: bigint, txids?: Uint8Array[] }

/**
 * Every check of a block that needs no ledger: the transaction count, the winner's signature, the claims
 * and their VRF proofs, the transaction root, and each transaction on its own (amounts, fee, signature).
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
  if (!verifyBlockSignature(block, genesis)) fail('E_BLOCK_SIGNATURE', 'block signature does not verify', { height: h.height })
  const { winner, work } = verifyClaims(params, genesis, block)
  const txids = block.txs.map(transactionId)
  if (!equalBytes(txRootOfIds(h.height, h.miner, block.coinbase, txids), h.txRoot)) fail('E_BLOCK_TX_ROOT', 'transaction root does not match the body', { height: h.height })
  return { winner, work, txids }
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
  const { winner, work, txids: knownIds } = verified ?? verifyBlock(params, genesis, block)

  const accounts = new Map<string, AccountChange>()
  const get = (addr: string): Account => accounts.get(addr)?.after ?? state.account(addr)
  const put = (addr: string, after: Account): void => {
    const prev = accounts.get(addr)
    accounts.set(addr, { before: prev?.before ?? state.account(addr), after })
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
    if (sender.balance < cost) fail('E_TX_OVERDRAFT', 'sender balance does not cover amount and fee', { txid: idHex, from, balance: sender.balance, cost })
    put(from, { balance: sender.balance - cost, nonce: sender.nonce + 1n })
    const recipient = get(to)
    put(to, { balance: recipient.balance + tx.amount, nonce: recipient.nonce })
    fees += tx.fee
    txids.push(id)
  }

  const reward = blockReward(h.height)
  if (block.coinbase !== reward + fees) fail('E_BLOCK_COINBASE', 'coinbase must equal reward plus fees', { height: h.height, coinbase: block.coinbase, reward, fees })
  const miner = encodeAddress(h.miner)
  const m = get(miner)
  if (block.coinbase > 0n) put(miner, { balance: m.balance + block.coinbase, nonce: m.nonce })

  const hash = blockHash(h)
  return {
    hash,
    tip: { hash, height: h.height, epoch: h.epoch, work: (tip?.work ?? 0n) + work, score: { ticket: winner.ticket, cu: winner.cu, vrfOutput: winner.vrfOutput } },
    accounts,
    reward,
    fees,
    txids
  }
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
    private readonly accounts: ReadonlyMap<string, Account>
  ) {}

  static genesisState (params: NetworkParams, genesis: Uint8Array): MemoryState {
    return new MemoryState(params, genesis, null, genesisAccounts(params))
  }

  account (address: string): Account { return this.accounts.get(address) ?? EMPTY_ACCOUNT }

  apply (block: Block): MemoryState {
    const fx = applyBlock(this, block)
    const next = new Map(this.accounts)
    for (const [addr, ch] of fx.accounts) next.set(addr, ch.after)
    return new MemoryState(this.params, this.genesis, fx.tip, next)
  }

  totalBalance (): bigint { let s = 0n; for (const a of this.accounts.values()) s += a.balance; return s }
}
