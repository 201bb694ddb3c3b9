// Ed25519 through Node's built-in crypto. A secret key is its 32-byte seed (RFC 8032),
// which is also the VRF secret key (same curve, same derivation).
import { createPrivateKey, createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto'
import { fail } from './errors.js'

export const SEED_LENGTH = 32
export const PUBLIC_KEY_LENGTH = 32
export const SIGNATURE_LENGTH = 64

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export interface KeyPair { seed: Uint8Array, publicKey: Uint8Array }

function privateKeyObject (seed: Uint8Array): KeyObject {
  if (seed.length !== SEED_LENGTH) fail('E_KEY_LENGTH', 'secret key must be 32 bytes', { length: seed.length })
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
}

export function keyPairFromSeed (seed: Uint8Array): KeyPair {
  const pub = createPublicKey(privateKeyObject(seed)).export({ format: 'der', type: 'spki' })
  return { seed: new Uint8Array(seed), publicKey: new Uint8Array(pub.subarray(pub.length - 32)) }
}

// PERF: building a KeyObject from raw bytes costs about as much as a third of a verify; cache the recent ones.
const publicKeyCache = new Map<string, KeyObject>()
const PUBLIC_KEY_CACHE_MAX = 4096

function publicKeyObject (publicKey: Uint8Array): KeyObject | null {
  const id = Buffer.from(publicKey).toString('latin1')
  let key = publicKeyCache.get(id)
  if (key !== undefined) return key
  try {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' })
  } catch {
    return null
  }
  if (publicKeyCache.size >= PUBLIC_KEY_CACHE_MAX) publicKeyCache.delete(publicKeyCache.keys().next().value as string)
  publicKeyCache.set(id, key)
  return key
}

export class Signer {
  readonly publicKey: Uint8Array
  private readonly key: KeyObject
  constructor (readonly seed: Uint8Array) {
    this.key = privateKeyObject(seed)
    this.publicKey = keyPairFromSeed(seed).publicKey
  }

  sign (message: Uint8Array): Uint8Array { return new Uint8Array(edSign(null, message, this.key)) }
}

export function sign (seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(edSign(null, message, privateKeyObject(seed)))
}

export function verify (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_LENGTH || signature.length !== SIGNATURE_LENGTH) return false
  const key = publicKeyObject(publicKey)
  if (key === null) return false
  try {
    return edVerify(null, message, key, signature)
  } catch {
    return false
  }
}
