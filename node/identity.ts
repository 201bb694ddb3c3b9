// The node's identity key (Ed25519 seed): it signs blocks and claims, and certifies the node's CA.
// Stored like an SSH host key: a 0600 file in the 0700 data folder, in plaintext by default (the node signs
// unattended). With ECONUMI_IDENTITY_PASSPHRASE (or ECONUMI_IDENTITY_PASSPHRASE_FILE) it is encrypted at rest
// (scrypt + AES-256-GCM, the public key bound in), and a plaintext file is encrypted on the next start.
// Block rewards go to its address unless the operator names another (see rewardAddressPath);
// `econumi createwallet --import-node-key` makes them spendable.
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { addressFromPublicKey, decodeAddress, isValidAddress } from '../protocol/address.js'
import { fail } from '../protocol/errors.js'
import { Signer } from '../protocol/keys.js'
import { readJsonFileSync, writeFileAtomicSync } from './atomic-file.js'

export interface NodeIdentity { signer: Signer, nodeId: string, address: string }

export function identityPath (dataDir: string): string { return join(dataDir, 'identity.json') }

/** The passphrase that encrypts identity.json: from the environment or a file it names (never argv: `ps` shows it). */
export function identityPassphrase (env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env.ECONUMI_IDENTITY_PASSPHRASE_FILE
  let pass = env.ECONUMI_IDENTITY_PASSPHRASE
  if (file !== undefined && file !== '') {
    try { pass = readFileSync(file, 'utf8').replace(/\r?\n$/, '') } catch (err) { fail('E_IDENTITY_PASSPHRASE_FILE', `cannot read ECONUMI_IDENTITY_PASSPHRASE_FILE ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { path: file }) }
  }
  return pass === undefined || pass === '' ? undefined : pass
}

// PERF: the wallets' scrypt cost (~140 ms, 64 MiB), once per start.
const SCRYPT = { N: 1 << 16, r: 8, p: 1 }
const SCRYPT_MAXMEM = 128 * SCRYPT.N * SCRYPT.r * SCRYPT.p + 16 * 1024 * 1024

interface EncryptedIdentity { version: 2, publicKey: string, kdf: { name: 'scrypt', N: number, r: number, p: number, salt: string }, cipher: { name: 'aes-256-gcm', iv: string, tag: string }, ciphertext: string }

function encryptSeed (seed: Uint8Array, passphrase: string): EncryptedIdentity {
  const publicKey = new Signer(seed).publicKey
  const salt = randomBytes(16)
  const iv = randomBytes(12)
  const key = scryptSync(passphrase.normalize('NFC'), salt, 32, { ...SCRYPT, maxmem: SCRYPT_MAXMEM })
  const c = createCipheriv('aes-256-gcm', key, iv)
  c.setAAD(publicKey)
  const ciphertext = Buffer.concat([c.update(seed), c.final()])
  return { version: 2, publicKey: Buffer.from(publicKey).toString('hex'), kdf: { name: 'scrypt', ...SCRYPT, salt: salt.toString('hex') }, cipher: { name: 'aes-256-gcm', iv: iv.toString('hex'), tag: c.getAuthTag().toString('hex') }, ciphertext: ciphertext.toString('hex') }
}

function decryptSeed (j: EncryptedIdentity, passphrase: string, path: string): Uint8Array {
  const { N, r, p } = j.kdf
  if (N !== SCRYPT.N || r !== SCRYPT.r || p !== SCRYPT.p) fail('E_IDENTITY_CORRUPT', `${path} has unexpected scrypt parameters`, { path })
  const key = scryptSync(passphrase.normalize('NFC'), Buffer.from(j.kdf.salt, 'hex'), 32, { ...SCRYPT, maxmem: SCRYPT_MAXMEM })
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(j.cipher.iv, 'hex'))
  d.setAAD(Buffer.from(j.publicKey, 'hex'))
  d.setAuthTag(Buffer.from(j.cipher.tag, 'hex'))
  try {
    return Buffer.concat([d.update(Buffer.from(j.ciphertext, 'hex')), d.final()])
  } catch {
    return fail('E_IDENTITY_PASSPHRASE', `wrong passphrase for the node key ${path} (ECONUMI_IDENTITY_PASSPHRASE)`, { path })
  }
}

function readIdentityFile (path: string, passphrase: string | undefined): { seed: Uint8Array, encrypted: boolean } {
  const j = readJsonFileSync(path, 'E_IDENTITY_CORRUPT') as { version?: number, seed?: string } | EncryptedIdentity
  const hex = (v: unknown, bytes: number): boolean => typeof v === 'string' && v.length === 2 * bytes && /^[0-9a-f]+$/.test(v)
  if (j?.version === 1 && hex((j as { seed?: unknown }).seed, 32)) return { seed: Buffer.from((j as { seed: string }).seed, 'hex'), encrypted: false }
  const e = j as EncryptedIdentity
  if (j?.version !== 2 || !hex(e.publicKey, 32) || !hex(e.kdf?.salt, 16) || !hex(e.cipher?.iv, 12) || !hex(e.cipher?.tag, 16) || !hex(e.ciphertext, 32)) fail('E_IDENTITY_CORRUPT', `${path} is not a valid node identity`, { path })
  if (passphrase === undefined) fail('E_IDENTITY_LOCKED', `the node key ${path} is encrypted: set ECONUMI_IDENTITY_PASSPHRASE or ECONUMI_IDENTITY_PASSPHRASE_FILE`, { path })
  return { seed: decryptSeed(e, passphrase, path), encrypted: true }
}

/** The node identity of a data directory, or null if it has none yet (read-only: never creates one). */
export function loadIdentity (dataDir: string, passphrase = identityPassphrase()): NodeIdentity | null {
  const path = identityPath(dataDir)
  if (!existsSync(path)) return null
  return identityFromSeed(readIdentityFile(path, passphrase).seed)
}

export function loadOrCreateIdentity (dataDir: string, passphrase = identityPassphrase()): NodeIdentity {
  const path = identityPath(dataDir)
  if (existsSync(path)) {
    const { seed, encrypted } = readIdentityFile(path, passphrase)
    // a passphrase given for a plaintext key: encrypt it at rest from now on
    if (!encrypted && passphrase !== undefined) writeFileAtomicSync(path, JSON.stringify(encryptSeed(seed, passphrase)) + '\n', 0o600)
    return identityFromSeed(seed)
  }
  const seed = randomBytes(32)
  const body = passphrase === undefined ? { version: 1, seed: Buffer.from(seed).toString('hex') } : encryptSeed(seed, passphrase)
  writeFileAtomicSync(path, JSON.stringify(body) + '\n', 0o600)
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
