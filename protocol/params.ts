// Network parameters and the genesis: everything every node of one network must share.
import { decodeAddress } from './address.js'
import { fail } from './errors.js'
import { Writer } from './encoding.js'
import { taggedHash } from './hash.js'

export interface Allocation { address: string, amount: bigint }

export interface NetworkParams {
  /** Human name, e.g. "devnet". */
  network: string
  /** Start of epoch 0, milliseconds since the Unix epoch. */
  genesisTime: bigint
  /** Epoch length in milliseconds. */
  epochMs: bigint
  /** Most compute units one node may claim in one epoch (the declared-capacity cap). */
  maxClaimCu: bigint
  /** Smallest fee a transaction may pay, in base units. */
  minFee: bigint
  /** Most transactions in one block. */
  maxBlockTxs: number
  allocations: Allocation[]
}

export const DEFAULT_EPOCH_MS = 60_000n
export const DEFAULT_MIN_FEE = 1_000n
export const DEFAULT_MAX_CLAIM_CU = 1_000_000_000_000n
export const DEFAULT_MAX_BLOCK_TXS = 5_000

export function validateParams (p: NetworkParams): NetworkParams {
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(p.network)) fail('E_BAD_PARAMS', 'network name must be 1-32 lowercase letters, digits or dashes', { network: p.network })
  if (p.epochMs < 100n || p.epochMs > 86_400_000n) fail('E_BAD_PARAMS', 'epoch length must be 100 ms to one day', { epochMs: p.epochMs })
  if (p.genesisTime < 0n) fail('E_BAD_PARAMS', 'genesis time must not be negative', { genesisTime: p.genesisTime })
  if (p.maxClaimCu <= 0n) fail('E_BAD_PARAMS', 'maxClaimCu must be positive', { maxClaimCu: p.maxClaimCu })
  if (p.minFee < 0n) fail('E_BAD_PARAMS', 'minFee must not be negative', { minFee: p.minFee })
  if (!Number.isInteger(p.maxBlockTxs) || p.maxBlockTxs < 1 || p.maxBlockTxs > 100_000) fail('E_BAD_PARAMS', 'maxBlockTxs must be 1..100000', { maxBlockTxs: p.maxBlockTxs })
  const seen = new Set<string>()
  for (const a of p.allocations) {
    decodeAddress(a.address)
    if (a.amount <= 0n) fail('E_BAD_PARAMS', 'allocation must be positive', { address: a.address, amount: a.amount })
    if (seen.has(a.address)) fail('E_BAD_PARAMS', 'address allocated twice', { address: a.address })
    seen.add(a.address)
  }
  return p
}

export function encodeParams (p: NetworkParams): Uint8Array {
  const w = new Writer()
  w.u8(1).bytes(Buffer.from(p.network)).u64(p.genesisTime).u64(p.epochMs).u64(p.maxClaimCu).u64(p.minFee).u32(p.maxBlockTxs)
  const allocs = [...p.allocations].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
  w.u32(allocs.length)
  for (const a of allocs) w.fixed(decodeAddress(a.address), 21).u64(a.amount)
  return w.finish()
}

/** The genesis hash names the network: it is the prevHash of block 0 and seeds the swarm topic. */
export function genesisHash (p: NetworkParams): Uint8Array {
  return taggedHash('genesis', encodeParams(p))
}

export function epochOf (p: NetworkParams, timeMs: bigint): bigint {
  if (timeMs < p.genesisTime) return -1n
  return (timeMs - p.genesisTime) / p.epochMs
}

export function epochStart (p: NetworkParams, epoch: bigint): bigint {
  return p.genesisTime + epoch * p.epochMs
}

export interface ParamsJson {
  network: string
  genesisTime: string | number
  epochMs: string | number
  maxClaimCu?: string | number
  minFee?: string | number
  maxBlockTxs?: number
  allocations?: Array<{ address: string, amount: string }>
}

function big (v: unknown, field: string): bigint {
  if ((typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'string' && /^\d{1,30}$/.test(v))) return BigInt(v)
  return fail('E_BAD_PARAMS', `${field} must be a non-negative integer`, { field, value: String(v) })
}

export function paramsFromJson (j: unknown): NetworkParams {
  if (j === null || typeof j !== 'object') fail('E_BAD_PARAMS', 'genesis must be a JSON object')
  const o = j as Record<string, unknown>
  const allocations = o.allocations ?? []
  if (!Array.isArray(allocations)) fail('E_BAD_PARAMS', 'allocations must be an array')
  return validateParams({
    network: String(o.network),
    genesisTime: big(o.genesisTime, 'genesisTime'),
    epochMs: big(o.epochMs, 'epochMs'),
    maxClaimCu: o.maxClaimCu === undefined ? DEFAULT_MAX_CLAIM_CU : big(o.maxClaimCu, 'maxClaimCu'),
    minFee: o.minFee === undefined ? DEFAULT_MIN_FEE : big(o.minFee, 'minFee'),
    maxBlockTxs: o.maxBlockTxs === undefined ? DEFAULT_MAX_BLOCK_TXS : Number(o.maxBlockTxs),
    allocations: allocations.map((a: { address?: unknown, amount?: unknown }) => ({ address: String(a?.address), amount: big(a?.amount, 'allocation amount') }))
  })
}

export function paramsToJson (p: NetworkParams): ParamsJson {
  return {
    network: p.network,
    genesisTime: p.genesisTime.toString(),
    epochMs: p.epochMs.toString(),
    maxClaimCu: p.maxClaimCu.toString(),
    minFee: p.minFee.toString(),
    maxBlockTxs: p.maxBlockTxs,
    allocations: p.allocations.map((a) => ({ address: a.address, amount: a.amount.toString() }))
  }
}

