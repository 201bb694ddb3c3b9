// Test-only curve helpers shared by the VRF tests (test/protocol/vrf.test.ts, vrf-native.test.ts): byte helpers, a
// deterministic PRNG, the small-order points, and the RFC 9381 pieces (encode_to_curve, challenge) used to forge proofs.
import { ed25519 } from '@noble/curves/ed25519.js'
import type { EdwardsPoint } from '@noble/curves/abstract/edwards.js'
import { sha512 } from '@noble/hashes/sha2.js'

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'))
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
export const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts))

export const Point = ed25519.Point
export const L = Point.CURVE().n
export const le = (b: Uint8Array): bigint => BigInt('0x' + (toHex(Uint8Array.from(b).reverse()) || '0'))
export const toLe = (n: bigint, len: number): Uint8Array => {
  const out = new Uint8Array(len)
  for (let i = 0; i < len; i++) { out[i] = Number(n & 0xffn); n >>= 8n }
  return out
}

/** Deterministic PRNG for the property tests: SHA-512 in counter mode. */
export function makeRng (label: string): (n: number) => Uint8Array {
  let counter = 0
  let pool: Uint8Array = new Uint8Array(0)
  return (n: number) => {
    while (pool.length < n) {
      pool = concat(pool, sha512(new TextEncoder().encode(`${label}/${counter++}`)))
    }
    const out = pool.slice(0, n)
    pool = pool.slice(n)
    return out
  }
}

/**
 * The 8 small-order points of edwards25519 in canonical encoding (identity, order 2, two of order 4, four of order 8),
 * as in libsodium's blocklist; vrf.test.ts asserts they are small order.
 */
export const SMALL_ORDER = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa'
]

/** RFC 9381 ECVRF_encode_to_curve (try-and-increment), re-derived with noble. */
export function encodeToCurve (pk: Uint8Array, alpha: Uint8Array): EdwardsPoint {
  for (let ctr = 0; ctr < 256; ctr++) {
    const h = sha512(concat(Uint8Array.of(3, 1), pk, alpha, Uint8Array.of(ctr, 0)))
    try {
      const H = Point.fromBytes(h.subarray(0, 32)).clearCofactor()
      if (!H.is0()) return H
    } catch {}
  }
  throw new Error('unreachable')
}

/** RFC 9381 ECVRF_challenge_generation, as an integer. */
export function challenge (...points: EdwardsPoint[]): bigint {
  return le(sha512(concat(Uint8Array.of(3, 2), ...points.map((p) => p.toBytes()), Uint8Array.of(0))).subarray(0, 16))
}
