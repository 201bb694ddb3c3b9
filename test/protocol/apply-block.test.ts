import t from 'tap'
import { COIN } from '../../protocol/amount.js'
import { buildBlock, decodeBlock, encodeBlock } from '../../protocol/block.js'
import { makeClaim } from '../../protocol/claim.js'
import { epochStart, genesisHash } from '../../protocol/params.js'
import { blockReward } from '../../protocol/reward.js'
import { compareTips, chooseHead } from '../../protocol/fork-choice.js'
import { applyBlock, verifyBlock } from '../../protocol/state.js'
import { addressBytesFromPublicKey } from '../../protocol/address.js'
import { alice, bob, carol, miner, addr, genesisState, makeBlock, nextLeadEpoch, signerFrom, testParams, tx } from '../helpers/chain.js'

const p = testParams()
const g = genesisHash(p)

t.test('a valid block moves coins, bumps nonces and pays reward + fees to the miner', async (t) => {
  const s0 = genesisState(p)
  const b = makeBlock(s0, [tx(alice, bob, 5n * COIN, 0n, g), tx(alice, carol, COIN, 1n, g, 2000n)])
  const s1 = s0.apply(b)
  t.equal(s1.account(addr(alice)).balance, 100n * COIN - 6n * COIN - 3000n)
  t.equal(s1.account(addr(alice)).nonce, 2n)
  t.equal(s1.account(addr(bob)).balance, 15n * COIN)
  t.equal(s1.account(addr(carol)).balance, COIN)
  t.equal(s1.account(addr(miner)).balance, blockReward(0n) + 3000n)
  t.equal(s1.tip?.height, 0n)
  t.equal(s1.totalBalance(), 110n * COIN + blockReward(0n), 'fees move, they are not created')
  const s2 = s1.apply(makeBlock(s1, []))
  t.equal(s2.tip?.height, 1n)
  t.equal(s2.tip?.epoch !== undefined && s2.tip.epoch > s1.tip!.epoch, true)
})

t.test('verifyBlock holds every stateless check; applyBlock given its verdict reaches the same state', async (t) => {
  const s0 = genesisState(p)
  const b = makeBlock(s0, [tx(alice, bob, 5n * COIN, 0n, g), tx(bob, carol, COIN, 0n, g)])
  const verdict = verifyBlock(p, g, b)
  t.same(applyBlock(s0, b, verdict), applyBlock(s0, b), 'same effects with and without the verdict')
  const badTx = tx(alice, bob, COIN, 0n, g); badTx.signature[9] ^= 1
  t.throws(() => verifyBlock(p, g, makeBlock(s0, [badTx])), { code: 'E_TX_SIGNATURE' }, 'a transaction signature')
  t.throws(() => verifyBlock(p, g, makeBlock(s0, [tx(alice, bob, COIN, 0n, g, 1n)])), { code: 'E_TX_FEE' }, 'a transaction fee')
  t.throws(() => verifyBlock(p, g, { ...b, txs: [b.txs[1], b.txs[0]] }), { code: 'E_BLOCK_TX_ROOT' }, 'the order of the body')
  const tooMany = testParams({ maxBlockTxs: 1 })
  t.throws(() => verifyBlock(tooMany, g, b), { code: 'E_BLOCK_TOO_MANY_TXS' })
  // stateful rules are not stateless ones: a replayed nonce passes verifyBlock and fails in applyBlock
  const s1 = s0.apply(b)
  const replay = makeBlock(s1, [tx(alice, bob, 5n * COIN, 0n, g)])
  const v = verifyBlock(p, g, replay)
  t.throws(() => applyBlock(s1, replay, v), { code: 'E_TX_NONCE' })
})

t.test('applyBlock rejects each kind of invalid block with a code naming the values', async (t) => {
  const s0 = genesisState(p)
  const s1 = s0.apply(makeBlock(s0, [tx(alice, bob, COIN, 0n, g)]))
  const cases: Array<[string, () => unknown, string | RegExp]> = [
    ['replayed nonce', () => s1.apply(makeBlock(s1, [tx(alice, bob, COIN, 0n, g)])), 'E_TX_NONCE'],
    ['nonce gap', () => s1.apply(makeBlock(s1, [tx(alice, bob, COIN, 5n, g)])), 'E_TX_NONCE'],
    ['double spend in one block', () => { const x = tx(alice, bob, COIN, 1n, g); return s1.apply(makeBlock(s1, [x, x])) }, 'E_TX_DUPLICATE'],
    ['overdraft', () => s1.apply(makeBlock(s1, [tx(bob, carol, 100n * COIN, 0n, g)])), 'E_TX_OVERDRAFT'],
    ['overdraft across two txs', () => s1.apply(makeBlock(s1, [tx(bob, carol, 6n * COIN, 0n, g), tx(bob, carol, 6n * COIN, 1n, g)])), 'E_TX_OVERDRAFT'],
    ['fee below minimum', () => s1.apply(makeBlock(s1, [tx(alice, bob, COIN, 1n, g, 1n)])), 'E_TX_FEE'],
    ['bad tx signature', () => { const x = tx(alice, bob, COIN, 1n, g); x.signature[3] ^= 1; return s1.apply(makeBlock(s1, [x])) }, 'E_TX_SIGNATURE'],
    ['tx signed for another network', () => s1.apply(makeBlock(s1, [tx(alice, bob, COIN, 1n, genesisHash(testParams({ network: 'other' })))])), 'E_TX_SIGNATURE'],
    ['wrong coinbase', () => s1.apply(makeBlock(s1, [], { coinbase: blockReward(1n) + 1n })), 'E_BLOCK_COINBASE'],
    ['wrong prevHash', () => s1.apply(makeBlock(s1, [], { prevHash: new Uint8Array(32) })), 'E_BLOCK_PREV_HASH'],
    ['wrong height', () => s1.apply(makeBlock(s1, [], { height: 5n })), 'E_BLOCK_HEIGHT'],
    ['same epoch as parent', () => s1.apply(makeBlock(s1, [], { epoch: s1.tip!.epoch })), 'E_BLOCK_EPOCH'],
    ['time outside epoch', () => s1.apply(makeBlock(s1, [], { time: 0n })), 'E_BLOCK_TIME'],
    ['claim on another beacon', () => s1.apply(makeBlock(s1, [], { beacon: g })), /E_BLOCK_BEACON|E_LEADER_NOT_ELIGIBLE/],
    ['stated weight other than the state\'s', () => s1.apply(makeBlock(s1, [], { weight: 1n, totalWeight: 2n })), /E_BLOCK_WEIGHT|E_LEADER_NOT_ELIGIBLE/],
    ['zero weight', () => s1.apply(makeBlock(s1, [], { weight: 0n })), 'E_BLOCK_WEIGHT']
  ]
  for (const [name, fn, code] of cases) t.throws(fn, { code }, name)
  // the error names the values involved
  t.throws(() => s1.apply(makeBlock(s1, [tx(alice, bob, COIN, 0n, g)])), { message: /nonce=0 expected=1/ })
})

t.test('leader claims are verified: forged VRF, an ineligible ticket, tampered header, a stolen claim', async (t) => {
  const s0 = genesisState(p)
  const good = makeBlock(s0, [])
  // tampered header signature
  const tampered = decodeBlock(encodeBlock(good)); tampered.signature[0] ^= 1
  t.throws(() => s0.apply(tampered), { code: 'E_BLOCK_SIGNATURE' })
  // a VRF proof made for another epoch, relabelled
  const e = good.header.epoch
  const other = makeClaim(miner, g, e + 1n)
  const forged = buildBlock({ height: 0n, prevHash: g, epoch: e, time: good.header.time, winner: { ...other, epoch: e }, weight: 1n, totalWeight: 1n, reports: [], miner: good.header.miner, coinbase: blockReward(0n), txs: [] }, miner, g)
  t.throws(() => s0.apply(forged), { code: 'E_CLAIM_VRF' })
  // an epoch in which the signer does not lead: its ticket is above τ·w/W
  let notLead = 0n
  while (nextLeadEpoch(s0, miner, notLead) === notLead) notLead++
  t.throws(() => s0.apply(makeBlock(s0, [], { epoch: notLead })), { code: 'E_LEADER_NOT_ELIGIBLE' })
  // block signed by someone other than the claim's node
  const a = signerFrom('node-a'); const b = signerFrom('node-b')
  const ea = nextLeadEpoch(s0, a, 0n)
  const claimOfA = makeClaim(a, g, ea)
  const stolen = buildBlock({ height: 0n, prevHash: g, epoch: ea, time: epochStart(p, ea) + 1n, winner: claimOfA, weight: 1n, totalWeight: 1n, reports: [], miner: addressBytesFromPublicKey(b.publicKey), coinbase: blockReward(0n), txs: [] }, b, g)
  t.throws(() => s0.apply(stolen), { code: 'E_BLOCK_SIGNATURE' })
})

t.test('fork choice: most blocks win, then the lower ticket·W/w, then the lower hash', async (t) => {
  const s0 = genesisState(p)
  const one = s0.apply(makeBlock(s0, []))
  const two = one.apply(makeBlock(one, []))
  t.ok(compareTips(two.tip!, one.tip!) < 0, 'the longer chain')
  t.equal(chooseHead([one.tip!, two.tip!]), two.tip)
  const x = s0.apply(makeBlock(s0, [], { signer: signerFrom('x') }))
  const y = s0.apply(makeBlock(s0, [], { signer: signerFrom('y') }))
  const preferred = compareTips(x.tip!, y.tip!) < 0 ? x : y
  t.equal(chooseHead([x.tip!, y.tip!]), preferred.tip)
  t.equal(chooseHead([y.tip!, x.tip!]), preferred.tip, 'order of arrival does not matter')
  t.ok(preferred.tip!.score.ticket <= (preferred === x ? y : x).tip!.score.ticket, 'equal weights: the lower ticket')
  t.equal(compareTips(x.tip!, x.tip!), 0)
  t.equal(chooseHead([]), null)
})

t.test('blocks round-trip through the encoding', async (t) => {
  const s0 = genesisState(p)
  const b = makeBlock(s0, [tx(alice, bob, COIN, 0n, g)])
  const bytes = encodeBlock(b)
  t.same(encodeBlock(decodeBlock(bytes)), bytes)
  t.throws(() => decodeBlock(Buffer.concat([bytes, Buffer.from([0])])), { code: /E_DECODE/ })
  t.throws(() => decodeBlock(bytes.subarray(0, bytes.length - 1)), { code: /E_DECODE/ })
  const v = Buffer.from(bytes); v[0] = 9
  t.throws(() => decodeBlock(v), { code: 'E_BLOCK_VERSION' })
})
