// Address = base58(version ‖ 20-byte hash of the public key ‖ 4-byte checksum).
import { fail } from './errors.js'
import { sha256, taggedHash } from './hash.js'

export const ADDRESS_VERSION = 0x21 // base58 addresses then start with 'E'
export const ADDRESS_BYTES = 21 // version + hash, as stored inside transactions and blocks
const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
const ALPHABET_MAP = new Map([...ALPHABET].map((c, i) => [c, BigInt(i)]))

export function base58Encode (bytes: Uint8Array): string {
  let n = BigInt('0x' + (Buffer.from(bytes).toString('hex') || '0'))
  let out = ''
  while (n > 0n) { out = ALPHABET[Number(n % 58n)] + out; n /= 58n }
  for (const b of bytes) { if (b === 0) out = '1' + out; else break }
  return out
}

export function base58Decode (s: string): Uint8Array | null {
  let n = 0n
  for (const c of s) {
    const v = ALPHABET_MAP.get(c)
    if (v === undefined) return null
    n = n * 58n + v
  }
  let hex = n === 0n ? '' : n.toString(16)
  if (hex.length % 2 === 1) hex = '0' + hex
  let zeros = 0
  for (const c of s) { if (c === '1') zeros++; else break }
  return new Uint8Array(Buffer.concat([Buffer.alloc(zeros), Buffer.from(hex, 'hex')]))
}

function checksum (payload: Uint8Array): Uint8Array { return sha256(sha256(payload)).subarray(0, 4) }

/** The 21 raw address bytes (version ‖ hash160) of a public key. */
export function addressBytesFromPublicKey (publicKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(ADDRESS_BYTES)
  out[0] = ADDRESS_VERSION
  out.set(taggedHash('address', publicKey).subarray(0, 20), 1)
  return out
}

// PERF: addresses repeat (senders, miners: sync applies thousands of their transactions a second) and each
// costs a hash and ~10 µs of base58 over BigInt, so recent ones are remembered (a bounded map, cleared when full).
const CACHE_MAX = 50_000
const encodedCache = new Map<string, string>()
const fromKeyCache = new Map<string, string>()

function remembered (cache: Map<string, string>, key: Uint8Array, compute: () => string): string {
  const k = Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1')
  let s = cache.get(k)
  if (s === undefined) {
    s = compute()
    if (cache.size >= CACHE_MAX) cache.clear()
    cache.set(k, s)
  }
  return s
}

export function encodeAddress (raw: Uint8Array): string {
  if (raw.length !== ADDRESS_BYTES || raw[0] !== ADDRESS_VERSION) fail('E_BAD_ADDRESS', 'not a raw address', { length: raw.length })
  return remembered(encodedCache, raw, () => base58Encode(Buffer.concat([raw, checksum(raw)])))
}

export function addressFromPublicKey (publicKey: Uint8Array): string {
  return remembered(fromKeyCache, publicKey, () => encodeAddress(addressBytesFromPublicKey(publicKey)))
}

/** Parse a base58 address; a typo fails the checksum with a clear error. */
export function decodeAddress (address: string): Uint8Array {
  if (typeof address !== 'string' || address.length < 20 || address.length > 40) fail('E_BAD_ADDRESS', 'address has the wrong length', { address: String(address).slice(0, 60) })
  const bytes = base58Decode(address)
  if (bytes === null) fail('E_BAD_ADDRESS', 'address contains a character outside base58', { address })
  if (bytes.length !== ADDRESS_BYTES + 4) fail('E_BAD_ADDRESS', 'address decodes to the wrong length', { address })
  const raw = bytes.subarray(0, ADDRESS_BYTES)
  if (raw[0] !== ADDRESS_VERSION) fail('E_BAD_ADDRESS', 'address has an unknown version', { address, version: raw[0] })
  if (Buffer.compare(checksum(raw), bytes.subarray(ADDRESS_BYTES)) !== 0) fail('E_BAD_ADDRESS_CHECKSUM', 'address checksum does not match (mistyped?)', { address })
  return new Uint8Array(raw)
}

export function isValidAddress (address: string): boolean {
  try { decodeAddress(address); return true } catch { return false }
}
