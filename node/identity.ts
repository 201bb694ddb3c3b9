// The node's identity key (Ed25519 seed): it signs blocks and claims, and certifies the node's CA.
// Stored like an SSH host key: a 0600 file in the 0700 data folder. Block rewards go to its address unless
// the operator names another (see rewardAddressPath); `econumi createwallet --import-node-key` makes them spendable.
import { existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { addressFromPublicKey, decodeAddress, isValidAddress } from '../protocol/address.js'
import { fail } from '../protocol/errors.js'
import { Signer } from '../protocol/keys.js'
import { readJsonFileSync, writeFileAtomicSync } from './atomic-file.js'

export interface NodeIdentity { signer: Signer, nodeId: string, address: string }

export function identityPath (dataDir: string): string { return join(dataDir, 'identity.json') }

/** The node identity of a data directory, or null if it has none yet (read-only: never creates one). */
export function loadIdentity (dataDir: string): NodeIdentity | null {
  const path = identityPath(dataDir)
  if (!existsSync(path)) return null
  const j = readJsonFileSync(path, 'E_IDENTITY_CORRUPT') as { version?: number, seed?: string }
  if (j?.version !== 1 || typeof j.seed !== 'string' || !/^[0-9a-f]{64}$/.test(j.seed)) fail('E_IDENTITY_CORRUPT', `${path} is not a valid node identity`, { path })
  return identityFromSeed(Buffer.from(j.seed, 'hex'))
}

export function loadOrCreateIdentity (dataDir: string): NodeIdentity {
  const existing = loadIdentity(dataDir)
  if (existing !== null) return existing
  const seed = randomBytes(32)
  writeFileAtomicSync(identityPath(dataDir), JSON.stringify({ version: 1, seed: Buffer.from(seed).toString('hex') }) + '\n', 0o600)
  return identityFromSeed(seed)
}

function identityFromSeed (seed: Uint8Array): NodeIdentity {
  const signer = new Signer(seed)
  return { signer, nodeId: Buffer.from(signer.publicKey).toString('hex'), address: addressFromPublicKey(signer.publicKey) }
}

// The address that receives this node's block rewards, as the operator last chose it with --reward-address
// (kept across restarts); without a choice, the node identity's own address.
export function rewardAddressPath (dataDir: string): string { return join(dataDir, 'reward-address.json') }

export function loadRewardAddress (dataDir: string): string | null {
  const path = rewardAddressPath(dataDir)
  if (!existsSync(path)) return null
  const j = readJsonFileSync(path, 'E_REWARD_ADDRESS_CORRUPT') as { version?: number, address?: unknown }
  if (j?.version !== 1 || typeof j.address !== 'string' || !isValidAddress(j.address)) fail('E_REWARD_ADDRESS_CORRUPT', `${path} does not hold a valid address; fix it or pass --reward-address`, { path })
  return j.address
}

export function saveRewardAddress (dataDir: string, address: string): void {
  decodeAddress(address)
  writeFileAtomicSync(rewardAddressPath(dataDir), JSON.stringify({ version: 1, address }) + '\n', 0o600)
}
