// The VRF (protocol/vrf.ts) against RFC 9381 and a noble reference: the vectors, the reference verifier and the
// attacks on it (curve helpers in test/helpers/vrf.ts, shared with vrf-native.test.ts).
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ed25519 } from '@noble/curves/ed25519.js'
import {
  isCanonicalEncoding,
  VRF_OUTPUT_LENGTH,
  VRF_PROOF_LENGTH,
  vrfProofToHash,
  vrfProve,
  vrfPublicKey,
  vrfVerify,
  VRF_IMPLEMENTATION
} from '../../protocol/vrf.js'
import { L, Point, SMALL_ORDER, challenge, concat, encodeToCurve, hex, le, makeRng, toHex, toLe } from '../helpers/vrf.js'

// RFC 9381 Appendix B.3 (ECVRF-EDWARDS25519-SHA512-TAI), Examples 16, 17 and 18
// (https://www.rfc-editor.org/rfc/rfc9381#appendix-B.3). SK/PK/alpha are RFC 8032 section 7.1
// TEST 1-3 keys. Example 17 needs ctr = 1 in try-and-increment, so the increment path is covered.
// Note: drafts before -10 published a different c||s tail for these keys (the challenge did not
// hash Y yet); the values below are the RFC 9381 ones.
const VECTORS = [
  {
    name: 'Example 16 (alpha empty)',
    sk: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pk: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    alpha: '',
    pi: '8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f26f8a57ccaed74ee1b190bed1f479d9727d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805',
    beta: '90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff66b71dda49d2de59d03450451af026798e8f81cd2e333de5cdf4f3e140fdd8ae'
  },
  {
    name: 'Example 17 (alpha = 72)',
    sk: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    pk: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    alpha: '72',
    pi: 'f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed5933bf0864a62558b3ed7f2fea45c92a465301b3bbf5e3e54ddf2d935be3b67926da3ef39226bbc355bdc9850112c8f4b02',
    beta: 'eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb5e33821bc613efb94db5e5b54c70a848a0bef4553a41befc57663b56373a5031'
  },
  {
    name: 'Example 18 (alpha = af82)',
    sk: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    pk: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    alpha: 'af82',
    pi: '9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf8096bb474e53895c362d8628ee9f9ea3c0e52c7a5c691b6c18c9979866568add7a2d41b00b05081ed0f58ee5e31b3a970e',
    beta: '645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c452118fec1219202a0edcf038bb6373241578be7217ba85a2687f7a0310b2df19f'
  }
]

t.test('RFC 9381 B.3 vectors', async (t) => {
  t.equal(VRF_PROOF_LENGTH, 80)
  t.equal(VRF_OUTPUT_LENGTH, 64)
  for (const v of VECTORS) {
    const sk = hex(v.sk)
    const alpha = hex(v.alpha)
    t.equal(toHex(vrfPublicKey(sk)), v.pk, `${v.name}: public key`)
    // Public key is the ordinary Ed25519 key of the seed.
    t.equal(toHex(vrfPublicKey(sk)), toHex(ed25519.getPublicKey(sk)), `${v.name}: same as Ed25519`)
    const pi = vrfProve(sk, alpha)
    t.equal(pi.length, 80)
    t.equal(toHex(pi), v.pi, `${v.name}: prove gives the exact pi`)
    t.equal(toHex(vrfProofToHash(hex(v.pi))), v.beta, `${v.name}: proofToHash gives beta`)
    const beta = vrfVerify(hex(v.pk), hex(v.pi), alpha)
    t.ok(beta !== null, `${v.name}: verify accepts`)
    t.equal(toHex(beta ?? new Uint8Array(0)), v.beta, `${v.name}: verify returns beta`)
  }
})

t.test('prove/verify round trip on other keys and inputs; determinism', async (t) => {
  const rng = makeRng('roundtrip')
  for (let i = 0; i < 8; i++) {
    const seed = rng(32)
    const alpha = rng(i * 13)
    const pk = vrfPublicKey(seed)
    const pi = vrfProve(seed, alpha)
    t.same(vrfProve(seed, alpha), pi, 'deterministic proof')
    const beta = vrfVerify(pk, pi, alpha)
    t.ok(beta !== null)
    t.same(beta, vrfProofToHash(pi))
    t.equal(beta?.length, 64)
  }
  // Inputs are not mutated and subarray views work.
  const buf = hex('00' + VECTORS[1].sk + '00')
  const view = buf.subarray(1, 33)
  t.equal(toHex(vrfProve(view, hex('72'))), VECTORS[1].pi)
  t.equal(toHex(buf), '00' + VECTORS[1].sk + '00')
})

t.test('prove and proofToHash reject bad arguments with codes', async (t) => {
  t.throws(() => vrfProve(new Uint8Array(31), new Uint8Array(0)), { code: 'E_VRF_KEY' })
  t.throws(() => vrfProve(new Uint8Array(33), new Uint8Array(0)), { code: 'E_VRF_KEY' })
  t.throws(() => vrfPublicKey(new Uint8Array(0)), { code: 'E_VRF_KEY' })
  t.throws(() => vrfProve(new Uint8Array(32), 'abc' as unknown as Uint8Array), { code: 'E_VRF_INPUT' })
  const pi = hex(VECTORS[0].pi)
  t.throws(() => vrfProofToHash(pi.subarray(0, 79)), { code: 'E_VRF_PROOF' })
  t.throws(() => vrfProofToHash(concat(pi, new Uint8Array(1))), { code: 'E_VRF_PROOF' })
  t.throws(() => vrfProofToHash(new Uint8Array(0)), { code: 'E_VRF_PROOF' })
})

t.test('verify rejects every single-bit flip of pi', async (t) => {
  const v = VECTORS[0]
  const pk = hex(v.pk)
  const alpha = hex(v.alpha)
  let accepted = 0
  for (let bit = 0; bit < 80 * 8; bit++) {
    const pi = hex(v.pi)
    pi[bit >> 3] ^= 1 << (bit & 7)
    if (vrfVerify(pk, pi, alpha) !== null) accepted++
  }
  t.equal(accepted, 0, 'no flipped proof verifies')
})

t.test('verify rejects wrong alpha, wrong key, wrong lengths', async (t) => {
  const [a, b] = VECTORS
  t.equal(vrfVerify(hex(a.pk), hex(a.pi), hex('00')), null, 'alpha 00 instead of empty')
  t.equal(vrfVerify(hex(b.pk), hex(b.pi), hex('73')), null, 'alpha 73 instead of 72')
  t.equal(vrfVerify(hex(b.pk), hex(b.pi), hex('7200')), null, 'alpha extended')
  t.equal(vrfVerify(hex(b.pk), hex(a.pi), hex(a.alpha)), null, 'proof of another key')
  t.equal(vrfVerify(hex(a.pk), hex(b.pi), hex(b.alpha)), null, 'proof of another key (2)')
  const pk = hex(a.pk)
  const pi = hex(a.pi)
  const alpha = hex(a.alpha)
  t.equal(vrfVerify(pk.subarray(0, 31), pi, alpha), null, 'pk 31 bytes')
  t.equal(vrfVerify(concat(pk, new Uint8Array(1)), pi, alpha), null, 'pk 33 bytes')
  t.equal(vrfVerify(new Uint8Array(0), pi, alpha), null, 'pk empty')
  t.equal(vrfVerify(pk, pi.subarray(0, 79), alpha), null, 'pi 79 bytes')
  t.equal(vrfVerify(pk, concat(pi, new Uint8Array(1)), alpha), null, 'pi 81 bytes')
  t.equal(vrfVerify(pk, new Uint8Array(0), alpha), null, 'pi empty')
  t.equal(vrfVerify(pk, new Uint8Array(80), alpha), null, 'pi all zero')
})

t.test('verify rejects s >= L (no malleability through s + L)', async (t) => {
  const v = VECTORS[0]
  const pi = hex(v.pi)
  const s = le(pi.subarray(48, 80))
  t.ok(s < L)
  for (const [label, bad] of [['s + L', s + L], ['s = L', L], ['s = 2^256 - 1', (1n << 256n) - 1n], ['s + 2L', s + 2n * L]] as const) {
    const forged = concat(pi.subarray(0, 48), toLe(bad, 32))
    t.equal(vrfVerify(hex(v.pk), forged, hex(v.alpha)), null, label)
    t.throws(() => vrfProofToHash(forged), { code: 'E_VRF_PROOF' }, `${label}: proofToHash`)
  }
})

t.test('verify rejects a Gamma that does not decode', async (t) => {
  const v = VECTORS[0]
  const pi = hex(v.pi)
  // Find y values with no curve point (about half of all y); use the first few.
  let found = 0
  for (let y = 2n; found < 4; y++) {
    const enc = toLe(y, 32)
    let decodes = true
    try { Point.fromBytes(enc) } catch { decodes = false }
    if (decodes) continue
    found++
    const forged = concat(enc, pi.subarray(32))
    t.equal(vrfVerify(hex(v.pk), forged, hex(v.alpha)), null, `Gamma y=${y}`)
    t.throws(() => vrfProofToHash(forged), { code: 'E_VRF_PROOF' })
  }
  // Non-canonical Gamma encodings (y >= p) are rejected too.
  const p = Point.CURVE().p
  const nonCanonical = concat(toLe(p + 1n, 32), pi.subarray(32))
  t.equal(vrfVerify(hex(v.pk), nonCanonical, hex(v.alpha)), null, 'Gamma y = p + 1')
})

t.test('verify rejects small-order public keys (ECVRF_validate_key), even with proofs that satisfy the equations', async (t) => {
  const alpha = new TextEncoder().encode('econumi epoch 1')
  const seen = new Set<string>()
  for (const enc of SMALL_ORDER) {
    const Y = Point.fromBytes(hex(enc))
    t.ok(Y.isSmallOrder(), `${enc.slice(0, 8)}.. is small order`)
    t.equal(toHex(Y.toBytes()), enc, 'canonical encoding')
    seen.add(toHex(Y.toBytes()))
    // Forge: Gamma = identity, U = k*B - j*Y, V = k*H, s = k; accept when c = j (mod 8), because
    // then c*Y = j*Y. Without validate_key this "proof" passes the verification equations, for
    // every alpha with the same constant beta.
    const H = encodeToCurve(hex(enc), alpha)
    const gamma = Point.ZERO
    let forged: Uint8Array | null = null
    for (let k = 1n; forged === null; k++) {
      const j = k % 8n
      const U = Point.BASE.multiply(k).subtract(Y.multiplyUnsafe(j))
      const V = H.multiply(k)
      const c = challenge(Y, H, gamma, U, V)
      if ((c - j) % 8n !== 0n) continue
      const s = k
      // Check the verification equations by hand: c == challenge(Y, H, Gamma, s*B - c*Y, s*H - c*Gamma).
      const U2 = Point.BASE.multiplyUnsafe(s).subtract(Y.multiplyUnsafe(c))
      const V2 = H.multiplyUnsafe(s).subtract(gamma.multiplyUnsafe(c))
      t.equal(challenge(Y, H, gamma, U2, V2), c, 'forged proof satisfies the equations')
      forged = concat(gamma.toBytes(), toLe(c, 16), toLe(s, 32))
    }
    t.equal(vrfVerify(hex(enc), forged, alpha), null, `small-order key ${enc.slice(0, 8)}.. rejected`)
  }
  t.equal(seen.size, 8, 'eight distinct small-order points')
  // Non-canonical encodings of small-order points (y = p encodes y = 0, y = p + 1 encodes the
  // identity) must not slip through: strict RFC 8032 decoding rejects them.
  const p = Point.CURVE().p
  for (const y of [p, p + 1n]) {
    for (const sign of [0, 0x80]) {
      const enc = toLe(y, 32)
      enc[31] |= sign
      t.equal(vrfVerify(enc, hex(VECTORS[0].pi), new Uint8Array(0)), null, `non-canonical pk y=${y - p}+p sign=${sign}`)
    }
  }
})

t.test('verify never throws and never accepts garbage (property test)', async (t) => {
  const rng = makeRng('garbage')
  const byte = (): number => rng(1)[0]
  const int = (n: number): number => ((byte() << 8) | byte()) % n
  const base = VECTORS.map((v) => ({ pk: hex(v.pk), pi: hex(v.pi), alpha: hex(v.alpha) }))
  const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && toHex(a) === toHex(b)

  function mutate (input: Uint8Array): Uint8Array {
    const out = Uint8Array.from(input)
    switch (int(6)) {
      case 0: { // flip a few random bits
        if (out.length === 0) return Uint8Array.of(byte())
        for (let i = 0, n = 1 + int(4); i < n; i++) out[int(out.length)] ^= 1 << int(8)
        return out
      }
      case 1: // replace one byte
        if (out.length === 0) return Uint8Array.of(byte())
        out[int(out.length)] = byte()
        return out
      case 2: return out.subarray(0, int(out.length + 1)) // truncate
      case 3: return concat(out, rng(1 + int(40))) // extend
      case 4: return rng(input.length) // random bytes of the right length
      default: return rng(int(120)) // random bytes of random length
    }
  }

  let throws = 0
  let accepted = 0
  let tried = 0
  let wellFormed = 0
  for (let i = 0; i < 2500; i++) {
    const b = base[i % base.length]
    const which = 1 + int(7) // which fields to mutate (bitmask 1..7)
    const pk = (which & 1) !== 0 ? mutate(b.pk) : b.pk
    const pi = (which & 2) !== 0 ? mutate(b.pi) : b.pi
    const alpha = (which & 4) !== 0 ? mutate(b.alpha) : b.alpha
    if (same(pk, b.pk) && same(pi, b.pi) && same(alpha, b.alpha)) continue
    tried++
    if (pk.length === 32 && pi.length === 80) wellFormed++
    try {
      if (vrfVerify(pk, pi, alpha) !== null) accepted++
    } catch {
      throws++
    }
  }
  t.ok(tried > 2000, `ran ${tried} mutated inputs`)
  t.ok(wellFormed > 800, `${wellFormed} of them had well-formed lengths and reached the curve checks`)
  t.equal(throws, 0, 'verify never throws')
  t.equal(accepted, 0, 'no mutated input verifies')

  // Wrong types, too.
  const junk: unknown[] = [undefined, null, 0, 'ab', [1, 2, 3], {}, new Uint16Array(16), new ArrayBuffer(32)]
  const v = base[0]
  for (const j of junk) {
    const x = j as Uint8Array
    t.doesNotThrow(() => {
      t.equal(vrfVerify(x, v.pi, v.alpha), null)
      t.equal(vrfVerify(v.pk, x, v.alpha), null)
      t.equal(vrfVerify(v.pk, v.pi, x), null)
    })
  }
})

// The full RFC 9381 verification with noble (test-only reference for the libsodium-based vrfVerify).
function referenceVerify (pk: Uint8Array, pi: Uint8Array, alpha: Uint8Array): boolean {
  try {
    const Y = Point.fromBytes(pk)
    if (Y.isSmallOrder()) return false
    const gamma = Point.fromBytes(pi.subarray(0, 32))
    const c = le(pi.subarray(32, 48))
    const s = le(pi.subarray(48, 80))
    if (s >= L) return false
    const H = encodeToCurve(pk, alpha)
    const U = Point.BASE.multiplyUnsafe(s).subtract(Y.multiplyUnsafe(c))
    const V = H.multiplyUnsafe(s).subtract(gamma.multiplyUnsafe(c))
    return challenge(Y, H, gamma, U, V) === c
  } catch {
    return false
  }
}

t.test('libsodium verify agrees with a noble RFC 9381 reference on honest and mutated proofs', async (t) => {
  const rng = makeRng('cross-check')
  let agreeAccept = 0
  let agreeReject = 0
  for (let i = 0; i < 60; i++) {
    const seed = rng(32)
    const alpha = rng(i % 40)
    const pk = vrfPublicKey(seed)
    const pi = vrfProve(seed, alpha)
    if (referenceVerify(pk, pi, alpha) && vrfVerify(pk, pi, alpha) !== null) agreeAccept++
    const bad = Uint8Array.from(pi)
    bad[rng(1)[0] % 80] ^= 1 << (rng(1)[0] % 8)
    const ref = referenceVerify(pk, bad, alpha)
    t.equal(vrfVerify(pk, bad, alpha) !== null, ref, 'same verdict on a mutated proof')
    if (!ref) agreeReject++
  }
  t.equal(agreeAccept, 60, 'every honest proof accepted by both')
  t.ok(agreeReject >= 55, `mutations rejected by both (${agreeReject})`)
})

t.test('stricter than RFC 9381 on torsion: a second proof with Gamma + T (T of order 2) is refused', async (t) => {
  const T2 = Point.fromBytes(hex(SMALL_ORDER[1])) // (0, -1), order 2
  const rng = makeRng('torsion')
  for (let i = 0; i < 3; i++) {
    const seed = rng(32)
    const alpha = rng(8)
    const { scalar: x, pointBytes: pk } = ed25519.utils.getExtendedPublicKey(seed)
    const Y = Point.fromBytes(pk)
    const H = encodeToCurve(pk, alpha)
    // The key owner forges Gamma' = x*H + T and grinds the nonce until c is even, so that c*T vanishes.
    const gamma = H.multiply(x).add(T2)
    let forged: Uint8Array | null = null
    for (let k = 1n + le(rng(16)); forged === null; k++) {
      const c = challenge(Y, H, gamma, Point.BASE.multiply(k), H.multiply(k))
      if (c % 2n !== 0n) continue
      forged = concat(gamma.toBytes(), toLe(c, 16), toLe((k + c * x) % L, 32))
    }
    t.ok(referenceVerify(pk, forged, alpha), 'the RFC equations accept this second proof')
    t.same(vrfProofToHash(forged), vrfProofToHash(vrfProve(seed, alpha)), 'with the same beta')
    t.equal(vrfVerify(pk, forged, alpha), null, 'econumi refuses it: Gamma must lie in the prime-order subgroup')
    t.equal(vrfVerify(Y.add(T2).toBytes(), vrfProve(seed, alpha), alpha), null, 'a public key with a torsion component is refused')
  }
})

t.test('isCanonicalEncoding on bytes agrees with the integer definition (edges and random)', async (t) => {
  const P = (1n << 255n) - 19n
  const reference = (b: Uint8Array): boolean => {
    let y = 0n
    for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(b[i])
    const sign = y >> 255n
    y &= (1n << 255n) - 1n
    return y < P && !(sign === 1n && (y === 1n || y === P - 1n))
  }
  const le = (n: bigint): Uint8Array => { const out = new Uint8Array(32); for (let i = 0; i < 32; i++) { out[i] = Number(n & 0xffn); n >>= 8n } return out }
  const SIGN = 1n << 255n
  const edges = [0n, 1n, 2n, P - 2n, P - 1n, P, P + 1n, P + 18n, (1n << 255n) - 1n, 0xffn, 1n << 248n]
  const cases = edges.flatMap((y) => [le(y), le(y | SIGN)])
  for (let i = 0; i < 20000; i++) {
    const b = new Uint8Array(32).map(() => Math.floor(Math.random() * 256))
    if (i % 4 === 0) b.fill(0xff, 1, 31) // near p
    if (i % 4 === 1) b.fill(0, 1, 31) // near 1
    cases.push(b)
  }
  let disagree = 0
  for (const b of cases) if (isCanonicalEncoding(b) !== reference(b)) disagree++
  t.equal(disagree, 0, `${cases.length} encodings`)
  t.notOk(isCanonicalEncoding(le(P)), 'y = p is refused')
  t.notOk(isCanonicalEncoding(le(1n | SIGN)), 'x = 0 with the sign bit (y = 1) is refused')
  t.notOk(isCanonicalEncoding(le((P - 1n) | SIGN)), 'x = 0 with the sign bit (y = p - 1) is refused')
  t.ok(isCanonicalEncoding(le(P - 1n)), 'y = p - 1 without the sign bit is fine')
})

// Everything above ran on the addon where it is built (protocol/vrf.ts); it runs once more on the sodium-native path,
// which nodes without the addon use: the two must refuse the same attacks (test/protocol/vrf-native.test.ts compares them).
t.test('the same tests through sodium-native (ECONUMI_VRF_NATIVE=0)', { skip: VRF_IMPLEMENTATION === 'sodium' ? 'this run is on sodium-native' : process.env.ECONUMI_VRF_TEST_CHILD === '1' ? 'a child of that test, not on sodium-native' : false }, async (t) => {
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], { env: { ...process.env, ECONUMI_VRF_NATIVE: '0', ECONUMI_VRF_TEST_CHILD: '1', TAP_CHILD_ID: undefined }, encoding: 'utf8', timeout: 120_000 })
  if (r.status !== 0) t.comment((r.stdout + r.stderr).slice(-3000))
  t.equal(r.status, 0, 'every test passes on sodium-native too')
  t.match(r.stdout, /this run is on sodium-native/, 'that run was on sodium-native')
})
