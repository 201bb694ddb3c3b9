import t from 'tap'
import { addressFromPublicKey, base58Decode, base58Encode, decodeAddress, isValidAddress } from '../../protocol/address.js'
import { COIN, formatAmount, parseAmount } from '../../protocol/amount.js'
import { Reader, Writer } from '../../protocol/encoding.js'
import { merkleRoot, sha256 } from '../../protocol/hash.js'
import { keyPairFromSeed, sign, verify } from '../../protocol/keys.js'
import { HALVING_INTERVAL, blockReward, totalIssuance } from '../../protocol/reward.js'
import { computeUnits, fitToCapacity } from '../../protocol/compute-units.js'
import { minReservation } from '../../node/attestation/witness.js'
import { alice, seedFrom } from '../helpers/chain.js'

t.test('reward schedule halves every 210,000 blocks and issues exactly the Bitcoin total', async (t) => {
  t.equal(blockReward(0n), 50n * COIN)
  t.equal(blockReward(209_999n), 50n * COIN)
  t.equal(blockReward(210_000n), 25n * COIN)
  t.equal(blockReward(420_000n), 1_250_000_000n)
  t.equal(blockReward(HALVING_INTERVAL * 33n), 0n) // 50e8 >> 33 = 0
  t.equal(blockReward(HALVING_INTERVAL * 64n), 0n)
  t.equal(blockReward(10n ** 15n), 0n)
  t.equal(totalIssuance(), 2_099_999_997_690_000n)
  // independent sum over every height, era by era, without the helper
  let sum = 0n
  for (let h = 0n; h < HALVING_INTERVAL * 70n; h += HALVING_INTERVAL) sum += blockReward(h) * HALVING_INTERVAL
  t.equal(sum, 2_099_999_997_690_000n)
  t.throws(() => blockReward(-1n), { code: 'E_BAD_HEIGHT' })
})

t.test('amounts parse exactly with at most 8 decimals', async (t) => {
  t.equal(parseAmount('1'), COIN)
  t.equal(parseAmount('0.00000001'), 1n)
  t.equal(parseAmount('21000000.12345678'), 2_100_000_012_345_678n)
  t.equal(parseAmount('0.1'), 10_000_000n) // the float 0.1 is not exact; the parser is
  for (const bad of ['', '-1', '1e3', '0.000000001', '1.2.3', 'abc', ' 1 2', '0x10', '1,5', 'Infinity', 'NaN', '.5', '5.']) {
    t.throws(() => parseAmount(bad), { code: 'E_BAD_AMOUNT' }, `rejects ${JSON.stringify(bad)}`)
  }
  t.equal(formatAmount(150_000_000n), '1.5')
  t.equal(formatAmount(1n), '0.00000001')
  t.equal(formatAmount(5n * COIN), '5')
})

t.test('addresses round-trip and a typo is caught by the checksum', async (t) => {
  const a = addressFromPublicKey(alice.publicKey)
  t.match(a, /^E/)
  t.ok(isValidAddress(a))
  t.equal(decodeAddress(a).length, 21)
  const i = 10
  const typo = a.slice(0, i) + (a[i] === 'a' ? 'b' : 'a') + a.slice(i + 1)
  t.throws(() => decodeAddress(typo), { code: 'E_BAD_ADDRESS_CHECKSUM' })
  t.throws(() => decodeAddress(a.slice(0, -1) + '0'), { code: 'E_BAD_ADDRESS' }) // 0 is not base58
  t.throws(() => decodeAddress('short'), { code: 'E_BAD_ADDRESS' })
  t.throws(() => decodeAddress(a + 'x'), { code: /E_BAD_ADDRESS/ })
  t.same(base58Decode(base58Encode(new Uint8Array([0, 0, 1, 2]))), new Uint8Array([0, 0, 1, 2]))
})

t.test('ed25519 keys sign and verify; RFC 8032 test 1', async (t) => {
  const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex')
  const kp = keyPairFromSeed(seed)
  t.equal(Buffer.from(kp.publicKey).toString('hex'), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')
  const sig = sign(seed, new Uint8Array())
  t.equal(Buffer.from(sig).toString('hex'), 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b')
  t.ok(verify(kp.publicKey, new Uint8Array(), sig))
  const bad = new Uint8Array(sig); bad[0] ^= 1
  t.notOk(verify(kp.publicKey, new Uint8Array(), bad))
  t.notOk(verify(new Uint8Array(31), new Uint8Array(), sig))
  t.notOk(verify(keyPairFromSeed(seedFrom('x')).publicKey, new Uint8Array(), sig))
})

t.test('encoding rejects short input, trailing bytes and oversize fields', async (t) => {
  const bytes = new Writer().u8(7).u32(3).u64(5n).bytes(new Uint8Array([1, 2])).finish()
  const r = new Reader(bytes, 'x')
  t.equal(r.u8(), 7); t.equal(r.u32(), 3); t.equal(r.u64(), 5n); t.same(r.bytes(2), new Uint8Array([1, 2])); r.end()
  t.throws(() => new Reader(bytes.subarray(0, 3), 'x').u32(), { code: 'E_DECODE_SHORT' })
  const r2 = new Reader(Buffer.concat([bytes, Buffer.from([0])]), 'x'); r2.u8(); r2.u32(); r2.u64(); r2.bytes(2)
  t.throws(() => r2.end(), { code: 'E_DECODE_TRAILING' })
  const r3 = new Reader(bytes, 'x'); r3.u8(); r3.u32(); r3.u64()
  t.throws(() => r3.bytes(1), { code: 'E_DECODE_LENGTH' })
  t.throws(() => new Writer().u64(-1n), { code: 'E_ENCODE_RANGE' })
  t.throws(() => new Writer().u64(1n << 64n), { code: 'E_ENCODE_RANGE' })
  t.throws(() => new Writer().fixed(new Uint8Array(3), 4), { code: 'E_ENCODE_LENGTH' })
})

t.test('merkle root: order matters, odd nodes promoted, leaf never equals node', async (t) => {
  const a = sha256(Buffer.from('a')); const b = sha256(Buffer.from('b')); const c = sha256(Buffer.from('c'))
  t.notSame(merkleRoot([a, b]), merkleRoot([b, a]))
  t.notSame(merkleRoot([a, b, c]), merkleRoot([a, b, c, c])) // no CVE-2012-2459 duplication ambiguity
  t.equal(merkleRoot([]).length, 32)
  t.notSame(merkleRoot([a]), a)
})

t.test('compute units: integer formula, witnesses minimum, capacity cap', async (t) => {
  // 0.5 cpu for 10 s = 5000 millicore-seconds; 64 MiB = 250/16 millicores for 10 s = 156.25 -> total 5156
  t.equal(computeUnits(10_000n, { nanoCpus: 500_000_000n, memoryBytes: 64n * 1024n * 1024n }), 5156n)
  t.equal(computeUnits(1_000n, { nanoCpus: 1_000_000_000n, memoryBytes: 0n }), 1000n)
  t.equal(computeUnits(999n, { nanoCpus: 1n, memoryBytes: 0n }), 0n) // floors
  t.equal(computeUnits(1000n, { nanoCpus: 0n, memoryBytes: 1024n ** 3n }), 250n)
  t.throws(() => computeUnits(-1n, { nanoCpus: 0n, memoryBytes: 0n }), { code: 'E_CU_NEGATIVE' })
  // the smaller of the two witnesses' reservations, per resource (capacity is fitToCapacity's)
  t.same(minReservation({ nanoCpus: 2n, memoryBytes: 10n }, { nanoCpus: 3n, memoryBytes: 5n }), { nanoCpus: 2n, memoryBytes: 5n })
  t.same(minReservation({ nanoCpus: 2n, memoryBytes: 10n }, null), { nanoCpus: 2n, memoryBytes: 10n }, 'no plugin event: inspect alone')
  const fit = fitToCapacity([{ nanoCpus: 3n, memoryBytes: 1n }, { nanoCpus: 1n, memoryBytes: 1n }], { nanoCpus: 2n, memoryBytes: 10n })
  t.same(fit, [{ nanoCpus: 1n, memoryBytes: 1n }, { nanoCpus: 0n, memoryBytes: 1n }])
  t.ok(fit.reduce((s, r) => s + r.nanoCpus, 0n) <= 2n)
})
