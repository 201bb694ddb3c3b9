// Property tests: random and mutated inputs never crash a decoder or applyBlock with anything but an
// EconumiError, and never let invalid data through.
import t from 'tap'
import { createHash } from 'node:crypto'
import { COIN } from '../../protocol/amount.js'
import { decodeBlock, encodeBlock } from '../../protocol/block.js'
import { decodeClaim, encodeClaim, makeClaim } from '../../protocol/claim.js'
import { equalBytes } from '../../protocol/encoding.js'
import { isEconumiError } from '../../protocol/errors.js'
import { genesisHash, paramsFromJson } from '../../protocol/params.js'
import { decodeTransaction, encodeTransaction, checkTransaction } from '../../protocol/transaction.js'
import { decodeAddress } from '../../protocol/address.js'
import { alice, bob, genesisState, makeBlock, miner, testParams, tx, addr } from '../helpers/chain.js'

// deterministic PRNG so a failure reproduces
let state = createHash('sha256').update('fuzz-seed').digest()
function rand (): number { state = createHash('sha256').update(state).digest(); return state.readUInt32BE(0) / 2 ** 32 }
function randInt (n: number): number { return Math.floor(rand() * n) }
function randBytes (n: number): Buffer { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = randInt(256); return b }

function mutate (src: Uint8Array): Buffer {
  const b = Buffer.from(src)
  switch (randInt(5)) {
    case 0: { const i = randInt(b.length); b[i] ^= 1 << randInt(8); return b }
    case 1: return b.subarray(0, randInt(b.length))
    case 2: return Buffer.concat([b, randBytes(1 + randInt(8))])
    case 3: { const i = randInt(b.length); b.fill(randInt(256), i, Math.min(b.length, i + 1 + randInt(16))); return b }
    default: { const out = Buffer.from(b); const i = randInt(b.length); out.writeUInt32BE(randInt(2 ** 32), Math.min(i, b.length - 4)); return out }
  }
}

function expectCleanRejectionOr<T> (t: { fail: (msg: string) => void }, fn: () => T, onAccept: (v: T) => void): void {
  try {
    onAccept(fn())
  } catch (err) {
    if (!isEconumiError(err)) t.fail(`non-Econumi error: ${(err as Error).stack}`)
  }
}

const p = testParams()
const g = genesisHash(p)

t.test('transaction decoder: garbage and mutations', async (t) => {
  const good = encodeTransaction(tx(alice, bob, COIN, 0n, g))
  let accepted = 0
  for (let i = 0; i < 3000; i++) {
    const input = i % 3 === 0 ? randBytes(randInt(300)) : mutate(good)
    expectCleanRejectionOr(t, () => decodeTransaction(input), (decoded) => {
      // whatever decodes must re-encode to the same bytes, and a mutated one must not verify
      if (!equalBytes(encodeTransaction(decoded), input)) t.fail('decode/encode not canonical')
      if (!equalBytes(input, good)) {
        try { checkTransaction(decoded, g, p.minFee); t.fail('mutated transaction verified') } catch (err) { if (!isEconumiError(err)) t.fail(String(err)) }
      }
      accepted++
    })
  }
  t.pass(`3000 inputs, ${accepted} decoded, none verified after mutation`)
})

t.test('claim decoder and address parser: garbage and mutations', async (t) => {
  const good = encodeClaim(makeClaim(miner, g, 0n))
  for (let i = 0; i < 2000; i++) {
    expectCleanRejectionOr(t, () => decodeClaim(i % 2 === 0 ? mutate(good) : randBytes(randInt(400))), () => {})
    expectCleanRejectionOr(t, () => decodeAddress(i % 2 === 0 ? randBytes(randInt(40)).toString('latin1') : mutate(Buffer.from(addr(alice))).toString('latin1')), () => {})
  }
  t.pass('no crash')
})

t.test('genesis parser: hostile JSON', async (t) => {
  const inputs: unknown[] = [null, 1, 'x', [], {}, { network: 'A B' }, { network: 'n', genesisTime: -1, epochMs: 1000 }, { network: 'n', genesisTime: 0, epochMs: '1e3' },
    { network: 'n', genesisTime: 0, epochMs: 1000, allocations: 'x' }, { network: 'n', genesisTime: 0, epochMs: 1000, allocations: [{ address: 'nope', amount: '1' }] },
    { network: 'n', genesisTime: 0, epochMs: 1000, allocations: [null] }, { network: 'n', genesisTime: 0, epochMs: 1, allocations: [] }]
  for (const j of inputs) t.throws(() => paramsFromJson(j), { code: /^E_BAD_(PARAMS|ADDRESS)/ }, JSON.stringify(j))
})

t.test('block decoder + applyBlock: mutated blocks never crash and never apply', async (t) => {
  const s0 = genesisState(p)
  const good = encodeBlock(makeBlock(s0, [tx(alice, bob, COIN, 0n, g), tx(alice, bob, 2n * COIN, 1n, g)]))
  let decoded = 0
  for (let i = 0; i < 1500; i++) {
    const input = i % 10 === 0 ? randBytes(randInt(2000)) : mutate(good)
    if (equalBytes(input, good)) continue
    expectCleanRejectionOr(t, () => decodeBlock(input), (block) => {
      decoded++
      try {
        s0.apply(block)
        t.fail(`mutated block was applied (iteration ${i})`)
      } catch (err) {
        if (!isEconumiError(err)) t.fail(`applyBlock crashed: ${(err as Error).stack}`)
      }
    })
  }
  t.pass(`${decoded} mutated blocks decoded; none applied`)
  t.ok(s0.apply(decodeBlock(good)), 'the unmutated block applies')
})

t.test('random valid chains conserve money and match a simple model', async (t) => {
  let s = genesisState(p)
  const users = [alice, bob]
  const model = new Map([[addr(alice), 100n * COIN], [addr(bob), 10n * COIN]])
  const nonces = new Map([[addr(alice), 0n], [addr(bob), 0n]])
  let minted = 0n
  for (let h = 0; h < 25; h++) {
    const txs = []
    for (let k = 0; k < randInt(4); k++) {
      const from = users[randInt(2)]; const to = from === alice ? bob : alice
      const amount = BigInt(1 + randInt(10 ** 6))
      if ((model.get(addr(from)) ?? 0n) < amount + 1000n) continue
      txs.push(tx(from, to, amount, nonces.get(addr(from))!, g))
      nonces.set(addr(from), nonces.get(addr(from))! + 1n)
      model.set(addr(from), model.get(addr(from))! - amount - 1000n)
      model.set(addr(to), model.get(addr(to))! + amount)
    }
    const b = makeBlock(s, txs)
    minted += b.coinbase - txs.reduce((x, y) => x + y.fee, 0n)
    s = s.apply(b)
  }
  t.equal(s.account(addr(alice)).balance, model.get(addr(alice)))
  t.equal(s.account(addr(bob)).balance, model.get(addr(bob)))
  t.equal(s.totalBalance(), 110n * COIN + minted)
})

t.test('peer messages: round trip, and hostile frames are rejected with codes', async (t) => {
  const { decodeMessage, encodeMessage, MSG_IMAGES, MSG_TIP } = await import('../../protocol/wire.js')
  const offer = (ref: string, size: bigint, blocks: number): import('../../protocol/wire.js').ImageOffer => ({ ref, imageId: new Uint8Array(32).fill(1), size, core: new Uint8Array(32).fill(2), blocks })
  const m = { type: MSG_IMAGES as typeof MSG_IMAGES, images: [offer('econumi/busybox:test', 65536n, 1), offer('127.0.0.1:5000/team/app:v1', 65537n, 2)] }
  t.same(decodeMessage(encodeMessage(m)), m)
  t.throws(() => decodeMessage(encodeMessage({ type: MSG_IMAGES, images: [offer('Not An Image!', 1n, 1)] })), { code: 'E_WIRE_BAD' })
  t.throws(() => decodeMessage(encodeMessage({ type: MSG_IMAGES, images: [offer('app:v1', 65537n, 1)] })), { code: 'E_WIRE_BAD' }, 'blocks that do not fit the size')
  t.throws(() => decodeMessage(new Uint8Array(5000)), { code: 'E_WIRE_OVERSIZE' })
  t.throws(() => decodeMessage(new Uint8Array([2, 99])), { code: 'E_WIRE_TYPE' })
  t.throws(() => decodeMessage(new Uint8Array([1, 1])), { code: 'E_WIRE_VERSION' })
  const tip = encodeMessage({ type: MSG_TIP, tip: { height: 1n, hash: new Uint8Array(32) } })
  t.throws(() => decodeMessage(Buffer.concat([tip, Buffer.from([0])])), { code: 'E_DECODE_TRAILING' })
  for (let i = 0; i < 2000; i++) expectCleanRejectionOr(t, () => decodeMessage(i % 2 === 0 ? randBytes(randInt(200)) : mutate(tip)), () => {})
})
