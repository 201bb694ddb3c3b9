// Wallet key files: one JSON file per wallet, `<address>.json`, the 32-byte Ed25519 seed encrypted
// with a key from scrypt(passphrase) under AES-256-GCM, the address bound in as associated data
// (so a ciphertext cannot be moved to another wallet's file unnoticed).
import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCallback, type ScryptOptions } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { addressFromPublicKey, decodeAddress } from '../protocol/address.js'
import { equalBytes } from '../protocol/encoding.js'
import { EconumiError, fail } from '../protocol/errors.js'
import { SEED_LENGTH, Signer, keyPairFromSeed } from '../protocol/keys.js'
import { readJsonFile, writeFileAtomic } from '../node/atomic-file.js'

export const WALLET_VERSION = 1

export interface ScryptParams { N: number, r: number, p: number }

// PERF: N=2^16, r=8 costs ~140 ms and 64 MiB here (2^15: ~70 ms, 2^17: ~290 ms); well under 1 s per unlock.
export const DEFAULT_SCRYPT: ScryptParams = { N: 1 << 16, r: 8, p: 1 }
// Bounds accepted when reading a file, so a doctored file cannot make unlock take minutes or gigabytes.
const MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024
const KEY_LENGTH = 32
const SALT_LENGTH = 16
const IV_LENGTH = 12
const TAG_LENGTH = 16

export interface WalletFile {
  version: 1
  address: string
  publicKey: string
  kdf: { name: 'scrypt', N: number, r: number, p: number, salt: string }
  cipher: { name: 'aes-256-gcm', iv: string, tag: string }
  ciphertext: string
}

export interface UnlockedWallet {
  address: string
  publicKey: Uint8Array
  signer: Signer
}

export interface CreatedWallet {
  address: string
  publicKey: Uint8Array
  path: string
}

function scryptMemory (p: ScryptParams): number { return 128 * p.N * p.r * p.p }

function deriveKey (passphrase: string, salt: Uint8Array, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: scryptMemory(params) + 16 * 1024 * 1024 }
  return new Promise((resolve, reject) => {
    scryptCallback(passphrase.normalize('NFC'), salt, KEY_LENGTH, options, (err, key) => { if (err !== null) reject(err); else resolve(key) })
  })
}

export function walletPath (dir: string, address: string): string {
  decodeAddress(address) // also guarantees the name holds no path separators
  return join(dir, `${address}.json`)
}

function checkPassphrase (passphrase: string): void {
  if (typeof passphrase !== 'string' || passphrase.length === 0) fail('E_EMPTY_PASSPHRASE', 'the passphrase must not be empty')
}

/** Addresses of the wallets in `dir`, sorted; a missing directory holds none. */
export async function listWallets (dir: string): Promise<string[]> {
  let names: string[]
  try {
    names = await fs.readdir(dir)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return []
    if (code === 'ENOTDIR') fail('E_WALLET_DIR', 'wallet directory is not a directory', { path: dir })
    fail('E_WALLET_DIR', `cannot read the wallet directory: ${code ?? (err as Error).message}`, { path: dir })
  }
  const addresses: string[] = []
  for (const name of names) {
    if (!name.endsWith('.json')) continue
    const address = name.slice(0, -'.json'.length)
    try { decodeAddress(address) } catch { continue } // not a wallet file (a backup, a note, …)
    addresses.push(address)
  }
  return addresses.sort()
}

export async function hasWallet (dir: string, address: string): Promise<boolean> {
  try {
    await fs.access(walletPath(dir, address))
    return true
  } catch (err) {
    if (err instanceof EconumiError) throw err
    return false
  }
}

async function ensureWalletDir (dir: string): Promise<void> {
  let created: string | undefined
  try {
    created = await fs.mkdir(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    fail('E_WALLET_DIR', `cannot create the wallet directory: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { path: dir })
  }
  // Only tighten a directory we made; an existing one is the operator's choice.
  if (created !== undefined) await fs.chmod(dir, 0o700)
}

/** Make a new random key, encrypt it under `passphrase` and store it; never replaces a file. */
export async function createWallet (dir: string, passphrase: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<CreatedWallet> {
  const seed = randomBytes(SEED_LENGTH)
  try {
    return await importWallet(dir, seed, passphrase, params)
  } finally {
    seed.fill(0)
  }
}

/**
 * Encrypt an existing key (a 32-byte seed, e.g. the node identity that receives block rewards) under
 * `passphrase` and store it. E_WALLET_EXISTS if the directory already holds a wallet for its address.
 */
export async function importWallet (dir: string, seed: Uint8Array, passphrase: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<CreatedWallet> {
  checkPassphrase(passphrase)
  checkScryptParams(params, 'E_BAD_SCRYPT_PARAMS', 'invalid scrypt parameters')
  if (seed.length !== SEED_LENGTH) fail('E_KEY_LENGTH', 'a wallet key is a 32-byte seed', { length: seed.length })
  const { publicKey } = keyPairFromSeed(seed)
  const address = addressFromPublicKey(publicKey)
  const salt = randomBytes(SALT_LENGTH)
  const iv = randomBytes(IV_LENGTH)
  const key = await deriveKey(passphrase, salt, params)
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LENGTH })
  cipher.setAAD(Buffer.from(address, 'utf8'))
  const ciphertext = Buffer.concat([cipher.update(seed), cipher.final()])
  const file: WalletFile = {
    version: WALLET_VERSION,
    address,
    publicKey: Buffer.from(publicKey).toString('hex'),
    kdf: { name: 'scrypt', N: params.N, r: params.r, p: params.p, salt: salt.toString('hex') },
    cipher: { name: 'aes-256-gcm', iv: iv.toString('hex'), tag: cipher.getAuthTag().toString('hex') },
    ciphertext: ciphertext.toString('hex')
  }
  await ensureWalletDir(dir)
  const path = walletPath(dir, address)
  try {
    await writeFileAtomic(path, JSON.stringify(file, null, 2) + '\n', 0o600, { exclusive: true })
  } catch (err) {
    if (err instanceof EconumiError && err.code === 'E_FILE_EXISTS') fail('E_WALLET_EXISTS', 'a wallet for this address already exists', { address, path })
    throw err
  }
  return { address, publicKey, path }
}

function checkScryptParams (p: ScryptParams, code: string, message: string, path?: string): void {
  const ok = Number.isSafeInteger(p.N) && p.N >= 2 && (p.N & (p.N - 1)) === 0 &&
    Number.isSafeInteger(p.r) && p.r >= 1 && p.r <= 32 &&
    Number.isSafeInteger(p.p) && p.p >= 1 && p.p <= 16 &&
    scryptMemory(p) <= MAX_SCRYPT_MEMORY
  if (!ok) fail(code, message, { ...(path !== undefined ? { path } : {}), N: p.N, r: p.r, p: p.p })
}

function hexField (value: unknown, bytes: number, field: string, path: string): Buffer {
  if (typeof value !== 'string' || value.length !== bytes * 2 || !/^[0-9a-f]*$/i.test(value)) {
    fail('E_WALLET_CORRUPT', `wallet file is corrupt: ${field} must be ${bytes * 2} hex characters`, { path })
  }
  return Buffer.from(value, 'hex')
}

/** Parse and check a wallet file's structure (not the passphrase). */
export function parseWalletFile (json: unknown, path: string, expectedAddress?: string): WalletFile & { raw: { publicKey: Buffer, salt: Buffer, iv: Buffer, tag: Buffer, ciphertext: Buffer } } {
  const corrupt = (why: string): never => fail('E_WALLET_CORRUPT', `wallet file is corrupt: ${why}`, { path })
  if (typeof json !== 'object' || json === null || Array.isArray(json)) corrupt('not a JSON object')
  const f = json as Record<string, unknown>
  if (f.version !== WALLET_VERSION) corrupt(`unsupported version ${JSON.stringify(f.version)}`)
  if (typeof f.address !== 'string') corrupt('address missing')
  const address = f.address as string
  if (expectedAddress !== undefined && address !== expectedAddress) corrupt(`address inside (${address.slice(0, 60)}) does not match the file name`)
  const kdf = f.kdf as Record<string, unknown> | undefined
  const cipher = f.cipher as Record<string, unknown> | undefined
  if (typeof kdf !== 'object' || kdf === null || kdf.name !== 'scrypt') corrupt('kdf must be scrypt')
  if (typeof cipher !== 'object' || cipher === null || cipher.name !== 'aes-256-gcm') corrupt('cipher must be aes-256-gcm')
  const params = { N: kdf!.N as number, r: kdf!.r as number, p: kdf!.p as number }
  checkScryptParams(params, 'E_WALLET_CORRUPT', 'wallet file is corrupt: scrypt parameters out of range', path)
  const publicKey = hexField(f.publicKey, 32, 'publicKey', path)
  let derived: string
  try { derived = addressFromPublicKey(publicKey) } catch { derived = '' }
  if (derived !== address) corrupt('address does not belong to the public key')
  const raw = {
    publicKey,
    salt: hexField(kdf!.salt, SALT_LENGTH, 'kdf.salt', path),
    iv: hexField(cipher!.iv, IV_LENGTH, 'cipher.iv', path),
    tag: hexField(cipher!.tag, TAG_LENGTH, 'cipher.tag', path),
    ciphertext: hexField(f.ciphertext, SEED_LENGTH, 'ciphertext', path)
  }
  return { ...(f as unknown as WalletFile), raw }
}

/** Decrypt a wallet. E_WALLET_NOT_FOUND, E_WALLET_CORRUPT (naming the file), E_BAD_PASSPHRASE. */
export async function unlockWallet (dir: string, address: string, passphrase: string): Promise<UnlockedWallet> {
  const path = walletPath(dir, address)
  let json: unknown
  try {
    json = await readJsonFile(path, 'wallet file')
  } catch (err) {
    if (err instanceof EconumiError && err.code === 'E_FILE_NOT_FOUND') fail('E_WALLET_NOT_FOUND', 'no wallet for this address in the wallet directory', { address, dir })
    if (err instanceof EconumiError && err.code === 'E_FILE_JSON') fail('E_WALLET_CORRUPT', 'wallet file is corrupt: not valid JSON', { path })
    throw err
  }
  const file = parseWalletFile(json, path, address)
  if (typeof passphrase !== 'string') fail('E_BAD_PASSPHRASE', 'wrong passphrase for this wallet', { address })
  const key = await deriveKey(passphrase, file.raw.salt, { N: file.kdf.N, r: file.kdf.r, p: file.kdf.p })
  let seed: Buffer
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, file.raw.iv, { authTagLength: TAG_LENGTH })
    decipher.setAAD(Buffer.from(address, 'utf8'))
    decipher.setAuthTag(file.raw.tag)
    seed = Buffer.concat([decipher.update(file.raw.ciphertext), decipher.final()])
  } catch {
    // GCM cannot tell a wrong key from an altered ciphertext; the wrong passphrase is by far the likelier.
    fail('E_BAD_PASSPHRASE', 'wrong passphrase for this wallet', { address })
  }
  try {
    const signer = new Signer(new Uint8Array(seed))
    if (!equalBytes(signer.publicKey, file.raw.publicKey)) fail('E_WALLET_CORRUPT', 'wallet file is corrupt: decrypted key does not match the public key', { path })
    return { address, publicKey: signer.publicKey, signer }
  } finally {
    seed.fill(0)
  }
}
