// The VRF addon (native/vrf.c) against the sodium-native path of protocol/vrf.ts: they must accept exactly the same
// proofs and give the same bytes, or nodes with and without the addon would split on a block. test/protocol/vrf.test.ts
// runs its RFC vectors and attacks on whichever is loaded, and once more with ECONUMI_VRF_NATIVE=0.
import t from 'tap'
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha512 } from '@noble/hashes/sha2.js'
import { VRF_IMPLEMENTATION, vrfProve, vrfPublicKey, vrfVerifiers } from '../../protocol/vrf.js'

const Point = ed25519.Point
const L = Point.CURVE().n
const toHex = (b: Uint8Array | null): string => b === null ? 'null' : Buffer.from(b).toString('hex')
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts))
const toLe = (n: bigint, len: number): Uint8Array => {
  const out = new Uint8Array(len)
  for (let i = 0; i < len; i++) { out[i] = Number(n & 0xffn); n >>= 8n }
  return out
}
function makeRng (label: string): (n: number) => Uint8Array {
  let counter = 0
  let pool: Uint8Array = new Uint8Array(0)
  return (n: number) => {
    while (pool.length < n) pool = concat(pool, sha512(new TextEncoder().encode(`${label}/${counter++}`)))
    const out = pool.slice(0, n)
    pool = pool.slice(n)
    return out
  }
}
// the seven small-order points other than the identity: added to a valid point, each gives a torsioned one
const TORSION = [
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  '0000000000000000000000000000000000000000000000000000000000000080', // order 4 (then four of order 8)
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa'
].map((h) => Point.fromBytes(Buffer.from(h, 'hex')))

const le = (b: Uint8Array): bigint => BigInt('0x' + (Buffer.from(b).reverse().toString('hex') || '0'))
function encodeToCurve (pk: Uint8Array, alpha: Uint8Array): ReturnType<typeof Point.fromBytes> {
  for (let ctr = 0; ctr < 256; ctr++) {
    try {
      const H = Point.fromBytes(sha512(concat(Uint8Array.of(3, 1), pk, alpha, Uint8Array.of(ctr, 0))).subarray(0, 32)).clearCofactor()
      if (!H.is0()) return H
    } catch {}
  }
  throw new Error('unreachable')
}
const challenge = (...points: Array<ReturnType<typeof Point.fromBytes>>): bigint =>
  le(sha512(concat(Uint8Array.of(3, 2), ...points.map((p) => p.toBytes()), Uint8Array.of(0))).subarray(0, 16))

/**
 * The key owner's second proof: Gamma' = x*H + T with the nonce ground until c*T = 0, so the RFC 9381 equations hold.
 * Both implementations must refuse it (Gamma outside the prime-order subgroup).
 */
function torsionForgery (seed: Uint8Array, alpha: Uint8Array, T: ReturnType<typeof Point.fromBytes>, order: bigint): Uint8Array {
  const { scalar: x, pointBytes: pk } = ed25519.utils.getExtendedPublicKey(seed)
  const Y = Point.fromBytes(pk)
  const H = encodeToCurve(pk, alpha)
  const gamma = H.multiply(x).add(T)
  for (let k = 1n + le(seed.subarray(0, 16)); ; k++) {
    const c = challenge(Y, H, gamma, Point.BASE.multiply(k), H.multiply(k))
    if (c % order === 0n) return concat(gamma.toBytes(), toLe(c, 16), toLe((k + c * x) % L, 32))
  }
}

const native = vrfVerifiers.native
const required = process.env.CI === 'true' || process.env.ECONUMI_REQUIRE_NATIVE === '1'

t.test('the addon is built and used (CI builds it: scripts/build-native.sh)', { skip: !required && native === null ? 'addon not built here' : false }, async (t) => {
  t.not(native, null, 'dist/native/econumi_vrf.node loads')
  t.equal(VRF_IMPLEMENTATION, process.env.ECONUMI_VRF_NATIVE === '0' ? 'sodium' : 'native')
})

t.test('native and sodium-native verification agree on every input', { skip: native === null ? 'addon not built here' : false }, async (t) => {
  const rng = makeRng('vrf-native')
  const sodium = vrfVerifiers.sodium
  let cases = 0
  let accepted = 0
  const check = (pk: Uint8Array, pi: Uint8Array, alpha: Uint8Array, what: string): void => {
    cases++
    const a = native!(pk, pi, alpha)
    const b = sodium(pk, pi, alpha)
    if (toHex(a) !== toHex(b)) t.fail(`${what}: native ${toHex(a).slice(0, 16)} vs sodium ${toHex(b).slice(0, 16)}`)
    if (a !== null) accepted++
  }
  for (let i = 0; i < 150; i++) {
    const seed = rng(32)
    const alpha = rng(i % 48)
    const pk = vrfPublicKey(seed)
    const pi = vrfProve(seed, alpha)
    check(pk, pi, alpha, `honest ${i}`)
    // a bit flipped anywhere in the key or the proof
    const bad = Uint8Array.from(pi)
    bad[rng(1)[0] % 80] ^= 1 << (rng(1)[0] % 8)
    check(pk, bad, alpha, `flipped proof ${i}`)
    const badKey = Uint8Array.from(pk)
    badKey[rng(1)[0] % 32] ^= 1 << (rng(1)[0] % 8)
    check(badKey, pi, alpha, `flipped key ${i}`)
    // torsioned Gamma and key, small-order Gamma and key, random Gamma, c = 0, s = 0, s + L, s = L
    const T = TORSION[i % TORSION.length]
    const gamma = Point.fromBytes(pi.subarray(0, 32))
    check(pk, concat(gamma.add(T).toBytes(), pi.subarray(32)), alpha, `Gamma + T ${i}`)
    check(Point.fromBytes(pk).add(T).toBytes(), pi, alpha, `key + T ${i}`)
    check(pk, concat(T.toBytes(), pi.subarray(32)), alpha, `small-order Gamma ${i}`)
    check(T.toBytes(), pi, alpha, `small-order key ${i}`)
    check(Point.ZERO.toBytes(), pi, alpha, `identity key ${i}`)
    check(pk, concat(Point.ZERO.toBytes(), pi.subarray(32)), alpha, `identity Gamma ${i}`)
    check(pk, concat(rng(32), pi.subarray(32)), alpha, `random Gamma ${i}`)
    check(pk, concat(pi.subarray(0, 32), new Uint8Array(16), pi.subarray(48)), alpha, `c = 0 ${i}`)
    check(pk, concat(pi.subarray(0, 48), new Uint8Array(32)), alpha, `s = 0 ${i}`)
    const s = BigInt('0x' + Buffer.from(pi.subarray(48)).reverse().toString('hex'))
    check(pk, concat(pi.subarray(0, 48), toLe(s + L, 32)), alpha, `s + L ${i}`)
    check(pk, concat(pi.subarray(0, 48), toLe(L, 32)), alpha, `s = L ${i}`)
    check(rng(32), rng(80), alpha, `random ${i}`)
    if (i < 14) check(pk, torsionForgery(seed, alpha, T, i % 7 === 0 ? 2n : i % 7 < 3 ? 4n : 8n), alpha, `torsion forgery ${i}`)
  }
  t.equal(cases, 150 * 15 + 14, 'cases')
  t.equal(accepted, 150, 'exactly the honest proofs verify, on both')
})
