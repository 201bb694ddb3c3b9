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
import { Mempool } from '../../node/mempool.js'
import { addr, alice, bob, carol, genesisState, makeBlock, testParams, tx } from '../helpers/chain.js'

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
