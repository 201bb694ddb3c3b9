// Network parameters and the genesis: everything every node of one network must share.
import { decodeAddress } from './address.js'
import { parseAmount } from './amount.js'
import { fail } from './errors.js'
import { Writer } from './encoding.js'
import { taggedHash } from './hash.js'
import { parseWith, uint, z } from './schema.js'
import { MAX_SUPPLY } from './reward.js'

export interface Allocation { address: string, amount: bigint }

/** Who may lead (DESIGN.md "Admission"): any key on a devnet; the genesis' nodes (or registered ones) elsewhere. */
export type AdmissionMode = 'devnet' | 'consortium' | 'open'
export const ADMISSION_MODES: readonly AdmissionMode[] = ['devnet', 'consortium', 'open']

/** A node admitted by the genesis: its key and registered capacity (the cap on its work reports). */
export interface GenesisNode { nodeKey: string, millicores: bigint, memoryBytes: bigint }

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
  /** Admission mode. */
  mode: AdmissionMode
  /** τ, expected leaders per epoch, in thousandths (Praos' active-slot coefficient in this form). */
  tauMilli: bigint
  /** L: a weight counts the work reports included in the L epochs ending WEIGHT_LAG epochs back. */
  weightWindow: bigint
  /** K: reorgs deeper than this many blocks are refused. */
  reorgBound: bigint
  /** Nodes admitted at genesis, with their capacity (consortium/open; optional on a devnet). */
  nodes: GenesisNode[]
  /** Consortium: root CA certificates (PEM) that admit node CAs. */
  rootCas: string[]
  /** Open: bond per registered millicore of capacity (base units), and the unbonding delay in epochs (> K). */
  bondPerMillicore: bigint
  unbondingEpochs: bigint
}

export const DEFAULT_EPOCH_MS = 60_000n
export const DEFAULT_MIN_FEE = 1_000n
export const DEFAULT_MAX_CLAIM_CU = 1_000_000_000_000n
export const DEFAULT_MAX_BLOCK_TXS = 5_000
/** τ = 2: some leader in 1 - e^-2 = 86% of epochs. */
export const DEFAULT_TAU_MILLI = 2_000n
export const DEFAULT_WEIGHT_WINDOW = 8n
export const DEFAULT_REORG_BOUND = 64n
export const DEFAULT_BOND_PER_MILLICORE = 100_000n
/** Epochs between a work report's inclusion and the first epoch whose weights count it (see protocol/weights.ts). */
export const WEIGHT_LAG = 3n
/** A block from an epoch that has not begun by the local clock, minus this drift, is held (Bitcoin: MAX_FUTURE_BLOCK_TIME). */
export const MAX_CLOCK_DRIFT_MS = 2_000n

/** `--alloc <address>=<ECO>`: a genesis allocation, amount in ECO parsed exactly. */
export function parseAllocation (s: string): Allocation {
  const i = s.indexOf('=')
  if (i < 0) fail('E_BAD_ALLOCATION', 'allocation must look like <address>=<ECO>', { allocation: s })
  const address = s.slice(0, i)
  decodeAddress(address)
  return { address, amount: parseAmount(s.slice(i + 1)) }
}

export function validateParams (p: NetworkParams): NetworkParams {
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(p.network)) fail('E_BAD_PARAMS', 'network name must be 1-32 lowercase letters, digits or dashes', { network: p.network })
  if (p.epochMs < 100n || p.epochMs > 86_400_000n) fail('E_BAD_PARAMS', 'epoch length must be 100 ms to one day', { epochMs: p.epochMs })
  if (p.genesisTime < 0n) fail('E_BAD_PARAMS', 'genesis time must not be negative', { genesisTime: p.genesisTime })
  if (p.maxClaimCu <= 0n) fail('E_BAD_PARAMS', 'maxClaimCu must be positive', { maxClaimCu: p.maxClaimCu })
  if (p.minFee < 0n) fail('E_BAD_PARAMS', 'minFee must not be negative', { minFee: p.minFee })
  if (!Number.isInteger(p.maxBlockTxs) || p.maxBlockTxs < 1 || p.maxBlockTxs > 100_000) fail('E_BAD_PARAMS', 'maxBlockTxs must be 1..100000', { maxBlockTxs: p.maxBlockTxs })
  if (!ADMISSION_MODES.includes(p.mode)) fail('E_BAD_PARAMS', 'mode must be devnet, consortium or open', { mode: p.mode })
  if (p.tauMilli < 1n || p.tauMilli > 100_000n) fail('E_BAD_PARAMS', 'tau must be 0.001 to 100 expected leaders per epoch', { tauMilli: p.tauMilli })
  if (p.weightWindow < 1n || p.weightWindow > 10_000n) fail('E_BAD_PARAMS', 'weight window must be 1 to 10000 epochs', { weightWindow: p.weightWindow })
  if (p.reorgBound < 1n || p.reorgBound > 100_000n) fail('E_BAD_PARAMS', 'reorg bound must be 1 to 100000 blocks', { reorgBound: p.reorgBound })
  if (p.unbondingEpochs <= p.reorgBound) fail('E_BAD_PARAMS', 'unbonding must take longer than the reorg bound', { unbondingEpochs: p.unbondingEpochs, reorgBound: p.reorgBound })
  if (p.mode === 'consortium' && p.rootCas.length === 0 && p.nodes.length === 0) fail('E_BAD_PARAMS', 'a consortium genesis needs root CAs or admitted nodes')
  if (p.mode !== 'devnet' && p.nodes.length === 0) fail('E_BAD_PARAMS', `a ${p.mode} network needs at least one node in its genesis to produce the first blocks`)
  if (p.nodes.length > 10_000) fail('E_BAD_PARAMS', 'at most 10000 genesis nodes')
  const keys = new Set<string>()
  for (const n of p.nodes) {
    if (!/^[0-9a-f]{64}$/.test(n.nodeKey)) fail('E_BAD_PARAMS', 'genesis node key must be 64 hex characters', { nodeKey: n.nodeKey })
    if (keys.has(n.nodeKey)) fail('E_BAD_PARAMS', 'node listed twice in the genesis', { nodeKey: n.nodeKey })
    keys.add(n.nodeKey)
    if (n.millicores < 1n || n.millicores > 10_000_000n) fail('E_BAD_PARAMS', 'node capacity must be 1 millicore to 10000 cores', { nodeKey: n.nodeKey, millicores: n.millicores })
    if (n.memoryBytes < 0n || n.memoryBytes > 1n << 50n) fail('E_BAD_PARAMS', 'node memory must be 0 to 1 PiB', { nodeKey: n.nodeKey, memoryBytes: n.memoryBytes })
  }
  for (const pem of p.rootCas) if (!/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/.test(pem) || pem.length > 16_384) fail('E_BAD_PARAMS', 'root CA must be one PEM certificate')
  if (p.rootCas.length > 64) fail('E_BAD_PARAMS', 'at most 64 root CAs')
  let allocated = 0n
  const seen = new Set<string>()
  for (const a of p.allocations) {
    allocated += a.amount
    decodeAddress(a.address)
    if (a.amount <= 0n) fail('E_BAD_PARAMS', 'allocation must be positive', { address: a.address, amount: a.amount })
    if (seen.has(a.address)) fail('E_BAD_PARAMS', 'address allocated twice', { address: a.address })
    seen.add(a.address)
  }
  if (allocated > MAX_SUPPLY) fail('E_BAD_PARAMS', 'allocations exceed the total supply', { allocated, max: MAX_SUPPLY })
  return p
}

export function encodeParams (p: NetworkParams): Uint8Array {
  const w = new Writer()
  w.u8(2).bytes(Buffer.from(p.network)).u64(p.genesisTime).u64(p.epochMs).u64(p.maxClaimCu).u64(p.minFee).u32(p.maxBlockTxs)
  const allocs = [...p.allocations].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
  w.u32(allocs.length)
  for (const a of allocs) w.fixed(decodeAddress(a.address), 21).u64(a.amount)
  w.u8(ADMISSION_MODES.indexOf(p.mode)).u64(p.tauMilli).u64(p.weightWindow).u64(p.reorgBound).u64(p.bondPerMillicore).u64(p.unbondingEpochs)
  const nodes = [...p.nodes].sort((a, b) => (a.nodeKey < b.nodeKey ? -1 : a.nodeKey > b.nodeKey ? 1 : 0))
  w.u32(nodes.length)
  for (const n of nodes) w.fixed(Buffer.from(n.nodeKey, 'hex'), 32).u64(n.millicores).u64(n.memoryBytes)
  w.u32(p.rootCas.length)
  for (const pem of p.rootCas) w.bytes(Buffer.from(pem))
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
  mode?: string
  tau?: string
  weightWindow?: string | number
  reorgBound?: string | number
  nodes?: Array<{ nodeKey: string, millicores: string | number, memoryBytes: string | number }>
  rootCas?: string[]
  bondPerMillicore?: string | number
  unbondingEpochs?: string | number
}

/** τ as written in a genesis ("2", "0.5", at most 3 decimals) → thousandths. */
export function parseTau (s: string): bigint {
  const m = /^(\d{1,3})(?:\.(\d{1,3}))?$/.exec(s)
  if (m === null) return fail('E_BAD_PARAMS', 'tau must be a decimal with at most 3 decimals, e.g. 2 or 0.5', { tau: s })
  return BigInt(m[1]) * 1000n + BigInt((m[2] ?? '').padEnd(3, '0'))
}

export function formatTau (milli: bigint): string {
  const frac = (milli % 1000n).toString().padStart(3, '0').replace(/0+$/, '')
  return `${milli / 1000n}${frac === '' ? '' : '.' + frac}`
}


/** The genesis file as JSON carries it. Unknown keys are refused: a misspelt field must not silently default. */
const GENESIS_SCHEMA = z.object({
  network: z.string().min(1).max(64),
  genesisTime: uint,
  epochMs: uint,
  maxClaimCu: uint.optional(),
  minFee: uint.optional(),
  maxBlockTxs: z.number().int().positive().optional(),
  allocations: z.array(z.object({ address: z.string().max(128), amount: uint }).strict()).max(100_000).optional(),
  mode: z.enum(['devnet', 'consortium', 'open']).optional(),
  tau: z.string().max(16).optional(),
  weightWindow: uint.optional(),
  reorgBound: uint.optional(),
  nodes: z.array(z.object({ nodeKey: z.string().max(128), millicores: uint, memoryBytes: uint }).strict()).max(10_000).optional(),
  rootCas: z.array(z.string().max(16_384)).max(64).optional(),
  bondPerMillicore: uint.optional(),
  unbondingEpochs: uint.optional()
}).strict()

export function paramsFromJson (j: unknown): NetworkParams {
  const o = parseWith(GENESIS_SCHEMA, j, 'E_BAD_PARAMS', 'genesis')
  const reorgBound = o.reorgBound ?? DEFAULT_REORG_BOUND
  return validateParams({
    network: o.network,
    genesisTime: o.genesisTime,
    epochMs: o.epochMs,
    maxClaimCu: o.maxClaimCu ?? DEFAULT_MAX_CLAIM_CU,
    minFee: o.minFee ?? DEFAULT_MIN_FEE,
    maxBlockTxs: o.maxBlockTxs ?? DEFAULT_MAX_BLOCK_TXS,
    allocations: o.allocations ?? [],
    mode: o.mode ?? 'devnet',
    tauMilli: o.tau === undefined ? DEFAULT_TAU_MILLI : parseTau(o.tau),
    weightWindow: o.weightWindow ?? DEFAULT_WEIGHT_WINDOW,
    reorgBound,
    nodes: o.nodes ?? [],
    rootCas: o.rootCas ?? [],
    bondPerMillicore: o.bondPerMillicore ?? DEFAULT_BOND_PER_MILLICORE,
    unbondingEpochs: o.unbondingEpochs ?? 2n * reorgBound
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
    allocations: p.allocations.map((a) => ({ address: a.address, amount: a.amount.toString() })),
    mode: p.mode,
    tau: formatTau(p.tauMilli),
    weightWindow: p.weightWindow.toString(),
    reorgBound: p.reorgBound.toString(),
    nodes: p.nodes.map((n) => ({ nodeKey: n.nodeKey, millicores: n.millicores.toString(), memoryBytes: n.memoryBytes.toString() })),
    rootCas: p.rootCas,
    bondPerMillicore: p.bondPerMillicore.toString(),
    unbondingEpochs: p.unbondingEpochs.toString()
  }
}

/** Defaults for the consensus fields, for callers that build params in code. */
export function withConsensusDefaults (p: Omit<NetworkParams, 'mode' | 'tauMilli' | 'weightWindow' | 'reorgBound' | 'nodes' | 'rootCas' | 'bondPerMillicore' | 'unbondingEpochs'> & Partial<NetworkParams>): NetworkParams {
  return { mode: 'devnet', tauMilli: DEFAULT_TAU_MILLI, weightWindow: DEFAULT_WEIGHT_WINDOW, reorgBound: DEFAULT_REORG_BOUND, nodes: [], rootCas: [], bondPerMillicore: DEFAULT_BOND_PER_MILLICORE, unbondingEpochs: 2n * (p.reorgBound ?? DEFAULT_REORG_BOUND), ...p }
}

