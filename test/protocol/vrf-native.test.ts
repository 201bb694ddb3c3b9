// The VRF addon (native/vrf.c) against the sodium-native path of protocol/vrf.ts: they must accept exactly the same
// proofs and give the same bytes, or nodes with and without the addon would split on a block. test/protocol/vrf.test.ts
// runs its RFC vectors and attacks on whichever is loaded, and once more with ECONUMI_VRF_NATIVE=0.
import t from 'tap'
import { ed25519 } from '@noble/curves/ed25519.js'
import type { EdwardsPoint } from '@noble/curves/abstract/edwards.js'
import { VRF_IMPLEMENTATION, vrfProve, vrfPublicKey, vrfVerifiers } from '../../protocol/vrf.js'
import { L, Point, SMALL_ORDER, challenge, concat, encodeToCurve, hex, le, makeRng, toHex, toLe } from '../helpers/vrf.js'

const show = (b: Uint8Array | null): string => b === null ? 'null' : toHex(b)
// the seven small-order points other than the identity (order 2, 4, 4, then four of order 8): added to a valid point,
// each gives a torsioned one
const TORSION = SMALL_ORDER.slice(1).map((h) => Point.fromBytes(hex(h)))

/**
 * The key owner's second proof: Gamma' = x*H + T with the nonce ground until c*T = 0, so the RFC 9381 equations hold.
 * Both implementations must refuse it (Gamma outside the prime-order subgroup).
 */
function torsionForgery (seed: Uint8Array, alpha: Uint8Array, T: EdwardsPoint, order: bigint): Uint8Array {
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
    if (show(a) !== show(b)) t.fail(`${what}: native ${show(a).slice(0, 16)} vs sodium ${show(b).slice(0, 16)}`)
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
