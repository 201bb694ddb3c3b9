// The node's identity key (Ed25519 seed): it signs blocks and claims, and certifies the node's CA.
// Stored like an SSH host key: a 0600 file in the 0700 data folder.
import { existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { addressFromPublicKey } from '../protocol/address.js'
import { fail } from '../protocol/errors.js'
import { Signer } from '../protocol/keys.js'
import { readJsonFileSync, writeFileAtomicSync } from './atomic-file.js'

export interface NodeIdentity { signer: Signer, nodeId: string, address: string }

export function loadOrCreateIdentity (dataDir: string): NodeIdentity {
  const path = join(dataDir, 'identity.json')
  let seed: Uint8Array
  if (existsSync(path)) {
    const j = readJsonFileSync(path, 'E_IDENTITY_CORRUPT') as { version?: number, seed?: string }
    if (j?.version !== 1 || typeof j.seed !== 'string' || !/^[0-9a-f]{64}$/.test(j.seed)) fail('E_IDENTITY_CORRUPT', `${path} is not a valid node identity`, { path })
    seed = Buffer.from(j.seed, 'hex')
  } else {
    seed = randomBytes(32)
    writeFileAtomicSync(path, JSON.stringify({ version: 1, seed: Buffer.from(seed).toString('hex') }) + '\n', 0o600)
  }
  const signer = new Signer(seed)
  return { signer, nodeId: Buffer.from(signer.publicKey).toString('hex'), address: addressFromPublicKey(signer.publicKey) }
}
