// `econumi genesis create`: writes the genesis of a new network (devnet, consortium or open), the file every
// node of that network starts with (`econumi start --genesis FILE`).
import { readFileSync } from 'node:fs'
import { fail } from '../protocol/errors.js'
import { toHex } from '../protocol/encoding.js'
import {
  ADMISSION_MODES, type AdmissionMode, DEFAULT_EPOCH_MS, DEFAULT_MAX_BLOCK_TXS, DEFAULT_MAX_CLAIM_CU, DEFAULT_MIN_FEE,
  type GenesisNode, type NetworkParams, genesisHash, paramsFromJson, paramsToJson, parseAllocation, parseTau, withConsensusDefaults
} from '../protocol/params.js'
import { writeFileAtomicSync } from '../node/atomic-file.js'
import { parseCpus, parseMemory } from './config-file.js'

export interface GenesisCreateOptions {
  network: string
  mode?: string
  rootCa: string[]
  alloc: string[]
  node: string[]
  epoch?: string
  tau?: string
  weightWindow?: string
  reorgBound?: string
  bondPerMillicore?: string
  unbondingEpochs?: string
  genesisTime?: string
  out?: string
}

function integer (v: string | undefined, option: string, min: bigint, max: bigint): bigint | undefined {
  if (v === undefined) return undefined
  if (!/^\d{1,18}$/.test(v) || BigInt(v) < min || BigInt(v) > max) fail('E_BAD_OPTION', `${option} must be an integer from ${min} to ${max}`, { option, value: v })
  return BigInt(v)
}

/** `--node <nodeId>:<cpus>:<memory>`, e.g. `3f…a9:4:8g`: a node admitted at genesis with its capacity. */
export function parseGenesisNode (s: string): GenesisNode {
  const [key, cpus, memory, ...rest] = s.split(':')
  if (rest.length > 0 || memory === undefined || !/^[0-9a-f]{64}$/.test(key)) fail('E_BAD_NODE', '--node must look like <node id (64 hex)>:<cpus>:<memory>, e.g. <id>:4:8g', { node: s.slice(0, 100) })
  return { nodeKey: key, millicores: BigInt(Math.round(parseCpus(cpus) * 1000)), memoryBytes: parseMemory(memory) }
}

export function buildGenesis (o: GenesisCreateOptions, now = Date.now()): NetworkParams {
  const mode = (o.mode ?? 'devnet') as AdmissionMode
  if (!ADMISSION_MODES.includes(mode)) fail('E_BAD_MODE', '--mode must be devnet, consortium or open', { mode: o.mode })
  const rootCas = o.rootCa.map((file) => {
    let pem: string
    try { pem = readFileSync(file, 'utf8') } catch (err) { return fail('E_ROOT_CA_UNREADABLE', `cannot read root CA ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file }) }
    if (!/-----BEGIN CERTIFICATE-----/.test(pem)) fail('E_ROOT_CA_INVALID', `${file} is not a PEM certificate`, { file })
    return pem.trim() + '\n'
  })
  if (mode !== 'consortium' && rootCas.length > 0) fail('E_BAD_OPTION', '--root-ca is for consortium networks')
  const epochMs = integer(o.epoch, '--epoch', 100n, 86_400_000n) ?? DEFAULT_EPOCH_MS
  const start = integer(o.genesisTime, '--genesis-time', 0n, 1n << 53n) ?? BigInt(now)
  const reorgBound = integer(o.reorgBound, '--reorg-bound', 1n, 100_000n)
  const params = withConsensusDefaults({
    network: o.network,
    genesisTime: start - (start % epochMs),
    epochMs,
    maxClaimCu: DEFAULT_MAX_CLAIM_CU,
    minFee: DEFAULT_MIN_FEE,
    maxBlockTxs: DEFAULT_MAX_BLOCK_TXS,
    allocations: o.alloc.map(parseAllocation),
    mode,
    ...(o.tau !== undefined ? { tauMilli: parseTau(o.tau) } : {}),
    ...(o.weightWindow !== undefined ? { weightWindow: integer(o.weightWindow, '--weight-window', 1n, 10_000n) } : {}),
    ...(reorgBound !== undefined ? { reorgBound } : {}),
    ...(o.bondPerMillicore !== undefined ? { bondPerMillicore: integer(o.bondPerMillicore, '--bond-per-millicore', 0n, 1n << 60n) } : {}),
    ...(o.unbondingEpochs !== undefined ? { unbondingEpochs: integer(o.unbondingEpochs, '--unbonding-epochs', 1n, 10_000_000n) } : {}),
    nodes: o.node.map(parseGenesisNode),
    rootCas
  })
  // round trip through the file format: what is written is exactly what nodes will read and validate
  return paramsFromJson(paramsToJson(params))
}

export function writeGenesis (params: NetworkParams, out: string | undefined): { json: string, hash: string } {
  const json = JSON.stringify(paramsToJson(params), null, 2) + '\n'
  if (out !== undefined) writeFileAtomicSync(out, json, 0o644)
  return { json, hash: toHex(genesisHash(params)) }
}
