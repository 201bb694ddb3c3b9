// The mempool on a real LevelDB ledger: per-sender nonce order and balance accounting, including the window
// after a block has absorbed some pending transactions but before prune() has dropped them (stale entries).
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { COIN } from '../../protocol/amount.js'
import { isEconumiError } from '../../protocol/errors.js'
import { genesisHash } from '../../protocol/params.js'
import { applyBlock, touchedAddresses, touchedNodes } from '../../protocol/state.js'
import { encodeTransaction } from '../../protocol/transaction.js'
import { Ledger } from '../../node/ledger.js'
import { MAX_PENDING_PER_SENDER, MEMPOOL_MAX, MIN_FEE_HALF_LIFE_MS, Mempool } from '../../node/mempool.js'
import { addr, alice, bob, carol, genesisState, makeBlock, signerFrom, testParams, tx } from '../helpers/chain.js'

const params = testParams()
const g = genesisHash(params)

async function code (p: Promise<unknown>): Promise<string> {
  try { await p; return 'ok' } catch (err) { return isEconumiError(err) ? err.code : String(err) }
}

t.test('nonces and balances count pending transactions, and not the ones a block already absorbed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'econumi-mempool-'))
  const ledger = await Ledger.open(dir, params, g)
  t.teardown(async () => { await ledger.close(); rmSync(dir, { recursive: true, force: true }) })
  const pool = new Mempool(ledger)
  const fee = 1000n
  const a = [0n, 1n, 2n].map((n) => tx(bob, carol, COIN, n, g, fee))
  for (const x of a) t.equal(await code(pool.admit(encodeTransaction(x))), 'ok')
  t.equal(await pool.pendingNonce(addr(bob)), 3n)
  t.equal(await code(pool.admit(encodeTransaction(tx(bob, carol, 5n, 2n, g)))), 'E_TX_NONCE_PENDING', 'nonce 2 is taken by a pending transaction')
  t.equal(await code(pool.admit(encodeTransaction(tx(bob, carol, 5n, 9n, g)))), 'E_TX_NONCE_GAP')
  t.equal(await code(pool.admit(encodeTransaction(a[1]))), 'E_TX_KNOWN')

  // a block takes nonces 0 and 1; prune() has not run yet, so the mempool still holds them (stale)
  const block = makeBlock(genesisState(params), [a[0], a[1]])
  const fx = applyBlock(await ledger.view(touchedAddresses(block), touchedNodes(block)), block)
  await ledger.commitBlock(block, { core: 'test', seq: 0 }, fx)
  const bobNow = await ledger.account(addr(bob))
  t.equal(bobNow.nonce, 2n)
  t.equal(pool.size, 3, 'stale entries are still there')
  t.equal(await pool.pendingNonce(addr(bob)), 3n, 'next nonce: the ledger\'s 2 plus the one live pending')
  t.equal(await code(pool.admit(encodeTransaction(tx(bob, carol, 5n, 1n, g)))), 'E_TX_NONCE', 'a used nonce is a replay')

  // spend exactly what is left after the live pending transaction (nonce 2): only if stale costs are not counted
  const left = bobNow.balance - (COIN + fee)
  t.equal(await code(pool.admit(encodeTransaction(tx(bob, carol, left - fee, 3n, g, fee)))), 'ok', 'the whole remaining balance can be spent')
  t.equal(await code(pool.admit(encodeTransaction(tx(bob, carol, 1n, 4n, g, fee)))), 'E_TX_OVERDRAFT', 'one unit more is an overdraft')

  const dropped = await pool.prune([addr(bob)])
  t.equal(dropped.length, 2, 'prune drops the two absorbed transactions')
  t.equal(pool.size, 2)
  t.equal(await code(pool.admit(encodeTransaction(tx(bob, carol, 1n, 4n, g, fee)))), 'E_TX_OVERDRAFT', 'still an overdraft after prune: costs stay consistent')
  const picked = await pool.select(10)
  t.same(picked.map((e) => e.tx.nonce), [2n, 3n], 'block candidates: the live nonces in order')

  // removing a middle entry (as a block of another chain might) keeps the rest consistent
  pool.remove([picked[1].txid])
  t.equal(await pool.pendingNonce(addr(bob)), 3n)
  t.equal(await code(pool.admit(encodeTransaction(tx(bob, carol, left - fee, 3n, g, fee)))), 'ok', 'once removed, the same transaction can be admitted again')
  t.equal(await code(pool.admit(encodeTransaction(tx(bob, carol, 1n, 4n, g, fee)))), 'E_TX_OVERDRAFT', 'and the balance accounting still holds')
})

t.test('restart: persisted transactions come back in nonce order with the same accounting', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'econumi-mempool-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  let ledger = await Ledger.open(dir, params, g)
  let pool = new Mempool(ledger)
  for (let n = 0n; n < 5n; n++) t.equal(await code(pool.admit(encodeTransaction(tx(alice, carol, COIN, n, g)))), 'ok')
  await ledger.close()
  ledger = await Ledger.open(dir, params, g)
  t.teardown(async () => { await ledger.close() })
  pool = new Mempool(ledger)
  t.same(await pool.load(), { loaded: 5, dropped: 0 })
  t.equal(await pool.pendingNonce(addr(alice)), 5n)
  const all = (await ledger.account(addr(alice))).balance
  t.equal(await code(pool.admit(encodeTransaction(tx(alice, carol, all - 5n * (COIN + 1000n), 5n, g, 1000n)))), 'E_TX_OVERDRAFT', 'the fee of the last one is not covered')
  t.equal(await code(pool.admit(encodeTransaction(tx(alice, carol, all - 5n * (COIN + 1000n) - 1000n, 5n, g, 1000n)))), 'ok', 'exactly the balance')
})

// ---- issue 14, mempool: eviction by fee, a rising minimum fee, a cap per sender, block order ----

/** A funded test network of `n` extra senders (s0..). */
function fundedSenders (n: number): { params: typeof params, g: Uint8Array, senders: Array<ReturnType<typeof signerFrom>> } {
  const senders = Array.from({ length: n }, (_, i) => signerFrom(`sender-${i}`))
  const p = testParams({ allocations: [...params.allocations, ...senders.map((s) => ({ address: addr(s), amount: 1000n * COIN }))] })
  return { params: p, g: genesisHash(p), senders }
}

async function openLedger (t: Pick<typeof import('tap').default, 'teardown'>, p: typeof params): Promise<{ ledger: Ledger, dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'econumi-mempool-'))
  const ledger = await Ledger.open(dir, p, genesisHash(p))
  t.teardown(async () => { await ledger.close().catch(() => {}); rmSync(dir, { recursive: true, force: true }) })
  return { ledger, dir }
}

t.test('issue 14: 100,100 minimum-fee transactions do not keep out a send that pays more', async (t) => {
  const perSender = 1000
  const count = Math.ceil((MEMPOOL_MAX + 100) / perSender) // 101 senders
  const { params: p, g: gg, senders: all } = fundedSenders(count + 1)
  const [honestSender, ...senders] = all
  const { ledger } = await openLedger(t, p)
  const pool = new Mempool(ledger, undefined, { now: () => 0 }) // the real capacity; a still clock (no decay)
  const minFee = p.minFee
  let ok = 0
  const codes = new Map<string, number>()
  for (let i = 0; i < senders.length; i += 10) {
    // ten senders at a time, each its nonces in order (the pool keeps each sender's arrival order)
    const batch = senders.slice(i, i + 10).flatMap((s) => Array.from({ length: perSender }, (_, n) => pool.admit(encodeTransaction(tx(s, carol, 1n, BigInt(n), gg, minFee)))))
    for (const c of await Promise.all(batch.map(code))) {
      if (c === 'ok') ok++; else codes.set(c, (codes.get(c) ?? 0) + 1)
    }
  }
  t.equal(ok, MEMPOOL_MAX, 'the pool fills up to its capacity')
  t.equal(pool.size, MEMPOOL_MAX)
  t.equal(codes.get('E_MEMPOOL_FULL'), count * perSender - MEMPOOL_MAX, 'the rest, paying no more than the cheapest, is refused')
  const honest = tx(honestSender, bob, COIN, 0n, gg, minFee * 10_000_000n)
  t.equal(await code(pool.admit(encodeTransaction(honest))), 'ok', 'a send paying 10^7 x the minimum fee gets in')
  t.equal(pool.size, MEMPOOL_MAX, 'by evicting one cheap transaction')
  t.equal(pool.minFee(), 2n * minFee, 'the minimum fee rose above the evicted one')
  t.equal(await code(pool.admit(encodeTransaction(tx(bob, carol, 1n, 0n, gg, minFee)))), 'E_MEMPOOL_FEE', 'the minimum fee no longer gets in')
  t.same((await pool.select(3)).map((e) => e.tx.fee), [minFee * 10_000_000n, minFee, minFee], 'the next block takes the highest fee first')
})

t.test('eviction takes the cheapest and its sender\'s later nonces, on disk too', async (t) => {
  const { params: p, g: gg, senders: [s0, s1, s2] } = fundedSenders(3)
  const { ledger } = await openLedger(t, p)
  let clock = 1_000_000
  const pool = new Mempool(ledger, undefined, { capacity: 4, now: () => clock })
  const admit = async (s: typeof s0, nonce: bigint, fee: bigint): Promise<string> => await code(pool.admit(encodeTransaction(tx(s, carol, 1n, nonce, gg, fee))))
  t.equal(await admit(s0, 0n, 2000n), 'ok')
  t.equal(await admit(s0, 1n, 1000n), 'ok') // the cheapest
  t.equal(await admit(s0, 2n, 9000n), 'ok') // later than the cheapest: cannot be mined without it
  t.equal(await admit(s1, 0n, 2000n), 'ok')
  t.equal(await admit(s2, 0n, 1000n), 'E_MEMPOOL_FULL', 'full: the same fee as the cheapest does not evict it')
  t.equal(await admit(s0, 3n, 50_000n), 'E_MEMPOOL_FULL', 'nor does a sender evict its own earlier nonce')
  t.equal(await admit(s2, 0n, 1001n), 'ok', 'one unit more does')
  t.equal(pool.size, 3, 'the cheapest went with its later nonce')
  t.equal(await pool.pendingNonce(addr(s0)), 1n, 'the evicted sender continues at the evicted nonce')
  t.equal(pool.minFee(), 2000n, 'minimum fee: evicted fee + the network minimum')
  t.equal(await admit(s1, 1n, 1999n), 'E_MEMPOOL_FEE', 'below it is refused even with room')
  clock += MIN_FEE_HALF_LIFE_MS
  t.equal(pool.minFee(), 1000n, 'it halves over the half-life, down to the network minimum')
  t.equal(await admit(s0, 1n, 1000n), 'ok', 'and the evicted sender can send again')
  // the evicted transactions are gone from disk as well: a restart brings back exactly the pool
  const kept = (await pool.select(10)).map((e) => e.txid).sort()
  const again = new Mempool(ledger, undefined, { capacity: 4 })
  t.same(await again.load(), { loaded: 4, dropped: 0 })
  t.same((await again.select(10)).map((e) => e.txid).sort(), kept)
})

t.test('a sender may have at most maxPerSender pending transactions', async (t) => {
  const { ledger } = await openLedger(t, params)
  const pool = new Mempool(ledger, undefined, { maxPerSender: 3 })
  for (let n = 0n; n < 3n; n++) t.equal(await code(pool.admit(encodeTransaction(tx(alice, carol, 1n, n, g)))), 'ok')
  t.equal(await code(pool.admit(encodeTransaction(tx(alice, carol, 1n, 3n, g)))), 'E_TX_TOO_MANY_PENDING')
  t.equal(await code(pool.admit(encodeTransaction(tx(bob, carol, 1n, 0n, g)))), 'ok', 'other senders are not affected')
  t.equal(MAX_PENDING_PER_SENDER, 1000, 'the default: one sender holds at most 1% of the pool')
})

t.test('block candidates: highest fee first, each sender in nonce order', async (t) => {
  const { ledger } = await openLedger(t, params)
  const pool = new Mempool(ledger)
  const a0 = tx(alice, carol, 1n, 0n, g, 1000n)
  const a1 = tx(alice, carol, 1n, 1n, g, 9000n) // rich, but only after a0
  const b0 = tx(bob, carol, 1n, 0n, g, 5000n)
  for (const x of [a0, a1, b0]) t.equal(await code(pool.admit(encodeTransaction(x))), 'ok')
  t.same((await pool.select(10)).map((e) => [e.from === addr(alice) ? 'alice' : 'bob', e.tx.nonce]), [['bob', 0n], ['alice', 0n], ['alice', 1n]])
  t.same((await pool.select(1)).map((e) => e.tx.fee), [5000n], 'a small block takes the highest fee')
})

t.test('bursts in nonce order from accounts not yet cached are admitted whole (worker-thread checks)', async (t) => {
  const { EconumiNode } = await import('../../node/node.js')
  const { params: p, g: gg, senders } = fundedSenders(8)
  const dir = mkdtempSync(join(tmpdir(), 'econumi-burst-'))
  const node = await EconumiNode.open({ dataDir: dir, params: p })
  t.teardown(async () => { await node.close(); rmSync(dir, { recursive: true, force: true }) })
  t.ok(senders.every((s) => node.ledger.accountCached(addr(s)) === undefined), 'no sender is cached yet')
  // eight senders at once, 300 transactions each, every one submitted in nonce order without waiting
  const burst = senders.flatMap((s) => Array.from({ length: 300 }, (_, n) => encodeTransaction(tx(s, carol, 1n, BigInt(n), gg))))
  const results = await Promise.all(burst.map(async (b) => await code(node.submitTransaction(b))))
  t.same(results.filter((r) => r !== 'ok'), [], 'every transaction of the bursts is admitted')
  for (const s of senders) t.equal(await node.mempool.pendingNonce(addr(s)), 300n)
})

t.test('a transaction refused for now can be submitted again (not remembered as seen)', async (t) => {
  const { EconumiNode } = await import('../../node/node.js')
  const dir = mkdtempSync(join(tmpdir(), 'econumi-retry-'))
  const node = await EconumiNode.open({ dataDir: dir, params })
  t.teardown(async () => { await node.close(); rmSync(dir, { recursive: true, force: true }) })
  const early = encodeTransaction(tx(bob, carol, 1n, 1n, g))
  t.equal(await code(node.submitTransaction(early)), 'E_TX_NONCE_GAP', 'nonce 1 before nonce 0')
  t.equal(await code(node.submitTransaction(encodeTransaction(tx(bob, carol, 1n, 0n, g)))), 'ok')
  t.equal(await code(node.submitTransaction(early)), 'ok', 'the retry is admitted, not E_TX_KNOWN')
  t.equal(await code(node.submitTransaction(early)), 'E_TX_KNOWN', 'a real duplicate is still known')
})

t.test('a fee below the network minimum is still E_TX_FEE (not the mempool\'s E_MEMPOOL_FEE)', async (t) => {
  const { ledger } = await openLedger(t, params)
  const pool = new Mempool(ledger)
  t.equal(await code(pool.admit(encodeTransaction(tx(alice, carol, 1n, 0n, g, params.minFee - 1n)))), 'E_TX_FEE')
})
