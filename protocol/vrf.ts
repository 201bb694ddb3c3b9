// ECVRF-EDWARDS25519-SHA512-TAI, RFC 9381 (suite_string 0x03, try-and-increment encode_to_curve).
//
// Keys are ordinary Ed25519 keys (RFC 8032 section 5.1.5): the 32-byte seed is the VRF secret key,
// x = clamped first half of SHA-512(seed), public key Y = x*B in the standard 32-byte encoding.
//   pi   = point_to_string(Gamma) (32) || int_to_string(c, 16) || int_to_string(s, 32)   (80 bytes)
//   beta = SHA-512(0x03 || 0x03 || point_to_string(8*Gamma) || 0x00)                     (64 bytes)
// All integers are little-endian, as the suite specifies. Point decoding is RFC 8032 section 5.1.3
// (strict: y >= p and "x = 0 with sign bit set" are rejected), so every accepted encoding is
// canonical and re-encoding a decoded point reproduces the input bytes.
//
// Pure and deterministic: no I/O, clock or randomness. Nonces come from RFC 9381 section 5.4.2.2.
//
// Proving uses @noble/curves. Verification runs on every claim of every block a syncing node downloads, so
// it uses libsodium's group operations and SHA-512 (sodium-native, already under hypercore): ~0.30 ms instead of
// ~1.9 ms with noble (Node 20.20, Xeon). libsodium's scalar multiplication only accepts points of the
// prime-order subgroup, so verification is slightly stricter than RFC 9381: a public key or Gamma with a
// torsion component is rejected. Honest keys (x*B) and honest proofs (Gamma = x*H, H cofactor-cleared)
// never have one, so no honest proof is refused; every node runs this same rule.
//
// Where the addon dist/native/econumi_vrf.node is built (scripts/build-native.sh: libsodium's ref10 code with
// variable-time double-scalar multiplications, see native/vrf.c), verification uses it: ~3x less CPU, and the
// same accepted set and output bytes (test/protocol/vrf-native.test.ts). ECONUMI_VRF_NATIVE=0 turns it off.
import { createRequire } from 'node:module'
import { ed25519 } from '@noble/curves/ed25519.js'
import type { EdwardsPoint } from '@noble/curves/abstract/edwards.js'
import sodium from 'sodium-native'
import { equalBytes, toHex } from './encoding.js'
import { fail } from './errors.js'

export const VRF_PROOF_LENGTH = 80
export const VRF_OUTPUT_LENGTH = 64
export const VRF_PUBLIC_KEY_LENGTH = 32
export const VRF_SEED_LENGTH = 32

const SUITE = 0x03
const PT_LEN = 32 // ptLen = fLen
const C_LEN = 16 // cLen
const Q_LEN = 32 // qLen

const Point = ed25519.Point
const BASE = Point.BASE
/** Prime order q (called L in RFC 8032) of the base-point subgroup. */
const Q: bigint = Point.CURVE().n

function leToInt (bytes: Uint8Array): bigint {
  let n = 0n
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i])
  return n
}

function intToLe (n: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) {
    out[i] = Number(n & 0xffn)
    n >>= 8n
  }
  return out
}

function concat (...parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

function sha512 (data: Uint8Array): Uint8Array {
  const out = new Uint8Array(64)
  sodium.crypto_hash_sha512(out, data)
  return out
}

/** ECVRF_challenge_generation (RFC 9381 section 5.4.3): c as its 16 little-endian bytes (the first 16 of the hash). */
function challenge (points: Uint8Array[]): Uint8Array {
  return sha512(concat(Uint8Array.of(SUITE, 0x02), ...points, Uint8Array.of(0x00))).subarray(0, C_LEN)
}

function expandSeed (seed: Uint8Array): { x: bigint, prefix: Uint8Array, pk: Uint8Array, Y: EdwardsPoint } {
  if (!(seed instanceof Uint8Array) || seed.length !== VRF_SEED_LENGTH) {
    fail('E_VRF_KEY', 'VRF secret key must be a 32-byte Ed25519 seed', { length: seed instanceof Uint8Array ? seed.length : typeof seed })
  }
  // x = clamped SHA-512(seed)[0..32] mod q, prefix = SHA-512(seed)[32..64], Y = x*B (RFC 8032 5.1.5).
  const { scalar, prefix, point, pointBytes } = ed25519.utils.getExtendedPublicKey(seed)
  return { x: scalar, prefix, pk: pointBytes, Y: point }
}

/** The standard 32-byte Ed25519 public key of a 32-byte seed. */
export function vrfPublicKey (seed: Uint8Array): Uint8Array {
  return expandSeed(seed).pk
}

/** ECVRF_prove (RFC 9381 section 5.1): 80-byte proof pi for input alpha. */
export function vrfProve (seed: Uint8Array, alpha: Uint8Array): Uint8Array {
  if (!(alpha instanceof Uint8Array)) fail('E_VRF_INPUT', 'VRF input alpha must be a Uint8Array')
  const { x, prefix, pk, Y } = expandSeed(seed)
  const hString = encodeToCurveTaiBytes(pk, alpha, native)
  const H = Point.fromBytes(hString)
  const gamma = H.multiply(x)
  // ECVRF_nonce_generation_RFC8032 (section 5.4.2.2): k = SHA-512(prefix || h_string) mod q.
  const k = leToInt(sha512(concat(prefix, hString))) % Q
  if (k === 0n) fail('E_VRF_NONCE', 'degenerate nonce') // probability about 2^-252
  const c = leToInt(challenge([Y.toBytes(), hString, gamma.toBytes(), BASE.multiply(k).toBytes(), H.multiply(k).toBytes()]))
  const s = (k + c * x) % Q
  return concat(gamma.toBytes(), intToLe(c, C_LEN), intToLe(s, Q_LEN))
}

/**
 * ECVRF_proof_to_hash (RFC 9381 section 5.2): the 64-byte output beta of a proof. Does NOT verify the
 * proof; only use it on proofs that vrfVerify accepted (or that you produced yourself).
 */
export function vrfProofToHash (proof: Uint8Array): Uint8Array { return proofToHash(proof, native) }

function proofToHash (proof: Uint8Array, n: NativeVrf | null): Uint8Array {
  const gamma = proof instanceof Uint8Array && proof.length === VRF_PROOF_LENGTH ? proof.subarray(0, PT_LEN) : null
  const eightGamma = gamma === null || !isCanonicalEncoding(gamma) || !belowQ(proof.subarray(PT_LEN + C_LEN)) ? null : timesEight(gamma, n)
  if (eightGamma === null) {
    return fail('E_VRF_PROOF', 'malformed VRF proof', { length: proof instanceof Uint8Array ? proof.length : typeof proof })
  }
  return sha512(concat(Uint8Array.of(SUITE, 0x03), eightGamma, Uint8Array.of(0x00)))
}

/** The addon's functions: each writes its outputs in place and returns whether the sodium-native path would succeed. */
interface NativeVrf {
  /** What crypto_scalarmult_ed25519_noclamp requires of a point: canonical, not of small order, in the prime-order subgroup. */
  validPoint: (p: Uint8Array) => boolean
  /** out = 8*p, false where p does not decode to a curve point. */
  timesEight: (out: Uint8Array, p: Uint8Array) => boolean
  /** out = U ‖ V (U = s*B - c*Y, V = s*H - c*Gamma); false for c = 0, s = 0 or an invalid Gamma. Y must be a valid point. */
  uv: (out: Uint8Array, pk: Uint8Array, gamma: Uint8Array, c: Uint8Array, s: Uint8Array, h: Uint8Array) => boolean
}

function loadNative (): NativeVrf | null {
  if (process.env.ECONUMI_VRF_NATIVE === '0') return null
  const require = createRequire(import.meta.url)
  // dist/protocol/vrf.js next to dist/native/, or protocol/vrf.ts (tests) next to dist/
  for (const path of ['../native/econumi_vrf.node', '../dist/native/econumi_vrf.node']) {
    try {
      return require(path) as NativeVrf
    } catch {}
  }
  return null
}

const native = loadNative()

/** Which implementation verifies: 'native' (the addon) or 'sodium' (sodium-native's public API). */
export const VRF_IMPLEMENTATION: 'native' | 'sodium' = native === null ? 'sodium' : 'native'

/**
 * Whether each public key passed the point checks, by key: a node's key is checked once, not per proof (the check is
 * a multiplication by the group order). Bounded: cleared when full.
 */
const keyChecks = new Map<string, boolean>()
const MAX_KEY_CHECKS = 4096

function validKey (n: NativeVrf, publicKey: Uint8Array): boolean {
  const k = toHex(publicKey)
  let ok = keyChecks.get(k)
  if (ok === undefined) {
    ok = n.validPoint(publicKey)
    if (keyChecks.size >= MAX_KEY_CHECKS) keyChecks.clear()
    keyChecks.set(k, ok)
  }
  return ok
}

const IDENTITY = Uint8Array.of(1, ...new Uint8Array(31))
const Q_LE = intToLe(Q, 32)

/** s < q for a 32-byte little-endian s (byte comparison: this runs for every claim a node verifies). */
function belowQ (s: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) if (s[i] !== Q_LE[i]) return s[i] < Q_LE[i]
  return false
}

/**
 * RFC 8032 section 5.1.3 strictness that libsodium's decoder skips: y < p = 2^255 - 19, and no "x = 0 with
 * the sign bit set" (x = 0 only for y = 1 and y = p - 1). On bytes, little-endian, sign bit cleared:
 * y >= p means 0x7f, thirty 0xff, then a low byte >= 0xed; p - 1 ends in 0xec.
 */
export function isCanonicalEncoding (bytes: Uint8Array): boolean {
  let middleAllFf = true
  let middleAllZero = true
  for (let i = 1; i < 31; i++) {
    if (bytes[i] !== 0xff) middleAllFf = false
    if (bytes[i] !== 0) middleAllZero = false
  }
  const top = bytes[31] & 0x7f
  const highAllFf = middleAllFf && top === 0x7f
  if (highAllFf && bytes[0] >= 0xed) return false // y >= p
  if (bytes[31] >> 7 === 0) return true
  const yIsOne = middleAllZero && top === 0 && bytes[0] === 1
  const yIsPMinusOne = highAllFf && bytes[0] === 0xec
  return !(yIsOne || yIsPMinusOne)
}

/** 8*A for any point A on the curve (three doublings), or null if the bytes do not decode to one. */
function timesEight (a: Uint8Array, n: NativeVrf | null): Uint8Array | null {
  if (n !== null) {
    const r = new Uint8Array(32)
    return n.timesEight(r, a) ? r : null
  }
  try {
    const r = new Uint8Array(32)
    sodium.crypto_core_ed25519_add(r, a, a)
    sodium.crypto_core_ed25519_add(r, r, r)
    sodium.crypto_core_ed25519_add(r, r, r)
    return r
  } catch {
    return null
  }
}

/** ECVRF_encode_to_curve_try_and_increment (RFC 9381 section 5.4.1.1), salt = PK_string; returns H's encoding. */
function encodeToCurveTaiBytes (pkString: Uint8Array, alpha: Uint8Array, n: NativeVrf | null): Uint8Array {
  const front = Uint8Array.of(SUITE, 0x01)
  for (let ctr = 0; ctr < 256; ctr++) {
    const candidate = sha512(concat(front, pkString, alpha, Uint8Array.of(ctr, 0x00))).subarray(0, PT_LEN)
    if (!isCanonicalEncoding(candidate)) continue
    const H = timesEight(candidate, n)
    if (H !== null && !equalBytes(H, IDENTITY)) return H
  }
  // Probability about 2^-256; the RFC lets this fail after 256 attempts.
  return fail('E_VRF_HASH_TO_CURVE', 'try-and-increment found no point in 256 attempts')
}

/**
 * ECVRF_verify (RFC 9381 section 5.3) with validate_key = TRUE (see the header for the prime-order-subgroup
 * rule). Returns beta if the proof is valid for (publicKey, alpha), otherwise null. Never throws.
 */
export function vrfVerify (publicKey: Uint8Array, proof: Uint8Array, alpha: Uint8Array): Uint8Array | null {
  return verify(native, publicKey, proof, alpha)
}

/** Both implementations, for the test that compares them (native is null where the addon is not built or turned off). */
export const vrfVerifiers = {
  native: native === null ? null : (pk: Uint8Array, proof: Uint8Array, alpha: Uint8Array) => verify(native, pk, proof, alpha),
  sodium: (pk: Uint8Array, proof: Uint8Array, alpha: Uint8Array) => verify(null, pk, proof, alpha)
}

/** [U, V] through the addon, or null where the sodium-native path would throw (see NativeVrf.uv). */
function nativeUv (n: NativeVrf, publicKey: Uint8Array, gamma: Uint8Array, cBytes: Uint8Array, sBytes: Uint8Array, H: Uint8Array): [Uint8Array, Uint8Array] | null {
  const uv = new Uint8Array(64)
  if (!validKey(n, publicKey) || !n.uv(uv, publicKey, gamma, cBytes.subarray(0, C_LEN), sBytes, H)) return null
  return [uv.subarray(0, 32), uv.subarray(32)]
}

/** [U, V] through libsodium's public API; it throws for s = 0, c = 0 or an invalid point (such proofs cannot be found anyway). */
function sodiumUv (publicKey: Uint8Array, gamma: Uint8Array, cBytes: Uint8Array, sBytes: Uint8Array, H: Uint8Array): [Uint8Array, Uint8Array] {
  const sB = new Uint8Array(32)
  const cY = new Uint8Array(32)
  const sH = new Uint8Array(32)
  const cG = new Uint8Array(32)
  sodium.crypto_scalarmult_ed25519_base_noclamp(sB, sBytes)
  sodium.crypto_scalarmult_ed25519_noclamp(cY, cBytes, publicKey)
  sodium.crypto_scalarmult_ed25519_noclamp(sH, sBytes, H)
  sodium.crypto_scalarmult_ed25519_noclamp(cG, cBytes, gamma)
  sodium.crypto_core_ed25519_sub(sB, sB, cY)
  sodium.crypto_core_ed25519_sub(sH, sH, cG)
  return [sB, sH]
}

function verify (n: NativeVrf | null, publicKey: Uint8Array, proof: Uint8Array, alpha: Uint8Array): Uint8Array | null {
  try {
    if (!(publicKey instanceof Uint8Array) || !(proof instanceof Uint8Array) || !(alpha instanceof Uint8Array)) return null
    if (publicKey.length !== VRF_PUBLIC_KEY_LENGTH || proof.length !== VRF_PROOF_LENGTH) return null
    // 1-6. Y and Gamma decode (canonically); s < q. libsodium (or the addon) rejects small-order and torsion points.
    const gamma = proof.subarray(0, PT_LEN)
    if (!isCanonicalEncoding(publicKey) || !isCanonicalEncoding(gamma)) return null
    const cBytes = new Uint8Array(32)
    cBytes.set(proof.subarray(PT_LEN, PT_LEN + C_LEN))
    const sBytes = proof.slice(PT_LEN + C_LEN)
    if (!belowQ(sBytes)) return null
    // 7. H = ECVRF_encode_to_curve(encode_to_curve_salt = PK_string, alpha_string).
    const H = encodeToCurveTaiBytes(publicKey, alpha, n)
    // 8-9. U = s*B - c*Y, V = s*H - c*Gamma.
    const uv = n !== null ? nativeUv(n, publicKey, gamma, cBytes, sBytes, H) : sodiumUv(publicKey, gamma, cBytes, sBytes, H)
    if (uv === null) return null
    // 10-11. c' = ECVRF_challenge_generation(Y, H, Gamma, U, V); valid iff c == c'.
    if (!equalBytes(cBytes.subarray(0, C_LEN), challenge([publicKey, H, gamma, uv[0], uv[1]]))) return null
    return proofToHash(proof, n)
  } catch {
    return null
  }
}
