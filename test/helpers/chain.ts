// Builders for protocol tests: a small network with funded wallets and a block producer.
import type { Op } from '../../protocol/ops.js'
import { addressBytesFromPublicKey, addressFromPublicKey } from '../../protocol/address.js'
import { COIN } from '../../protocol/amount.js'
import { type Block, buildBlock } from '../../protocol/block.js'
import { makeClaim } from '../../protocol/claim.js'
import { toHex } from '../../protocol/encoding.js'
import { lotteryTicket } from '../../protocol/lottery.js'
import type { WorkReport } from '../../protocol/report.js'
import { vrfProofToHash } from '../../protocol/vrf.js'
import { isEligible, leaderWeight } from '../../protocol/weights.js'
import { Signer } from '../../protocol/keys.js'
import { type NetworkParams, epochStart, genesisHash, withConsensusDefaults } from '../../protocol/params.js'
import { blockReward } from '../../protocol/reward.js'
import { MemoryState } from '../../protocol/state.js'
import { type Transaction, signTransaction } from '../../protocol/transaction.js'
import { createHash } from 'node:crypto'

export function seedFrom (label: string): Uint8Array { return createHash('sha256').update(label).digest() }
export function signerFrom (label: string): Signer { return new Signer(seedFrom(label)) }

export const alice = signerFrom('alice')
export const bob = signerFrom('bob')
export const carol = signerFrom('carol')
export const miner = signerFrom('miner-node')

export function addr (s: Signer): string { return addressFromPublicKey(s.publicKey) }
export function raw (s: Signer): Uint8Array { return addressBytesFromPublicKey(s.publicKey) }

export function testParams (over: Partial<NetworkParams> = {}): NetworkParams {
  return withConsensusDefaults({
    network: 'testnet',
    genesisTime: 1_700_000_000_000n,
    epochMs: 1000n,
    maxClaimCu: 1_000_000n,
    minFee: 1000n,
    maxBlockTxs: 1000,
    allocations: [{ address: addr(alice), amount: 100n * COIN }, { address: addr(bob), amount: 10n * COIN }],
    ...over
  })
}

export function tx (from: Signer, to: Signer, amount: bigint, nonce: bigint, genesis: Uint8Array, fee = 1000n): Transaction {
  return signTransaction({ from: from.publicKey, to: raw(to), amount, fee, nonce }, from, genesis)
}

export interface MakeBlockOpts {
  signer?: Signer
  /** Default: the first epoch after the tip in which the signer leads. */
  epoch?: bigint
  reports?: WorkReport[]
  ops?: Op[]
  coinbase?: bigint
  time?: bigint
  height?: bigint
  prevHash?: Uint8Array
  beacon?: Uint8Array
  /** Stated weights (default: what the state gives). */
  weight?: bigint
  totalWeight?: bigint
}

/** The first epoch ≥ `from` in which `signer` leads on `state`'s tip. */
export function nextLeadEpoch (state: MemoryState, signer: Signer, from: bigint): bigint {
  const beacon = state.tip?.beacon ?? genesisHash(state.params)
  for (let e = from; ; e++) {
    const claim = makeClaim(signer, beacon, e)
    const w = leaderWeight(state.params, toHex(signer.publicKey), e, state.node(toHex(signer.publicKey)), state.totals)
    if (isEligible(lotteryTicket(vrfProofToHash(claim.proof)), w, state.params.tauMilli)) return e
    if (e > from + 10_000n) throw new Error('signer never leads')
  }
}

export function makeBlock (state: MemoryState, txs: Transaction[], o: MakeBlockOpts = {}): Block {
  const p = state.params
  const g = genesisHash(p)
  const signer = o.signer ?? miner
  const height = o.height ?? (state.tip === null ? 0n : state.tip.height + 1n)
  const prevHash = o.prevHash ?? state.tip?.hash ?? g
  const epoch = o.epoch ?? nextLeadEpoch(state, signer, state.tip === null ? 0n : state.tip.epoch + 1n)
  const claim = makeClaim(signer, o.beacon ?? state.tip?.beacon ?? g, epoch)
  const w = leaderWeight(p, toHex(signer.publicKey), epoch, state.node(toHex(signer.publicKey)), state.totals)
  const fees = txs.reduce((s, t) => s + t.fee, 0n)
  return buildBlock({
    height,
    prevHash,
    epoch,
    time: o.time ?? epochStart(p, epoch) + 10n,
    winner: claim,
    weight: o.weight ?? (w.weight > 0n ? w.weight : 1n),
    totalWeight: o.totalWeight ?? (w.total > 0n ? w.total : 1n),
    reports: o.reports ?? [],
    ops: o.ops ?? [],
    miner: addressBytesFromPublicKey(signer.publicKey),
    coinbase: o.coinbase ?? blockReward(height) + fees,
    txs
  }, signer, g)
}

export function genesisState (p = testParams()): MemoryState { return MemoryState.genesisState(p, genesisHash(p)) }
