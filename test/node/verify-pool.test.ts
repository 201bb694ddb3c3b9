// The verification pool on real worker threads (the compiled worker from `npm run build`): block and
// transaction checks agree with the inline checks, failures keep their codes, results keep submission order.
import t from 'tap'
import { makeReport } from '../../protocol/report.js'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { encodeBlock } from '../../protocol/block.js'
import { isEconumiError } from '../../protocol/errors.js'
import { genesisHash } from '../../protocol/params.js'
import { encodeTransaction } from '../../protocol/transaction.js'
import { VerifyPool, verifyInline, workerMessage } from '../../node/verify-pool.js'
import { alice, bob, carol, genesisState, makeBlock, testParams, tx } from '../helpers/chain.js'

const WORKER = new URL('../../dist/node/verify-worker.js', import.meta.url)
const params = testParams()
const g = genesisHash(params)

t.test('blocks: the same verdicts on worker threads as inline', async (t) => {
  if (!existsSync(fileURLToPath(WORKER))) { t.fail('dist/node/verify-worker.js missing: run `npm run build` (npm test does)'); return }
  const pool = new VerifyPool(params, g, 2, WORKER)
  t.teardown(async () => { await pool.close() })
  t.ok(pool.threaded)
  const good = makeBlock(genesisState(params), [tx(alice, carol, 5n, 0n, g)])
  const badSig = { ...good, signature: Uint8Array.from(good.signature).fill(7, 0, 8) }
  const badReportRoot = { ...good, reports: [makeReport(alice, g, 0n, 5n)] } // reports no longer match the signed header's root
  const badTx = tx(alice, carol, 5n, 0n, g)
  badTx.signature[5] ^= 1
  const badTxBlock = makeBlock(genesisState(params), [badTx]) // signed by its winner: only the transaction is wrong
  const badTxRoot = { ...good, coinbase: good.coinbase + 1n } // the body no longer matches the signed header's root
  const blocks = [good, badSig, badReportRoot, good, badTxBlock, badTxRoot]
  const verdicts = await Promise.all(blocks.map(async (b) => await pool.verify(b, encodeBlock(b))))
  for (let i = 0; i < blocks.length; i++) {
    const inline = verifyInline(params, g, blocks[i])
    const v = verdicts[i]
    if (isEconumiError(inline)) {
      t.ok(isEconumiError(v), `block ${i} rejected on a worker too`)
      t.equal(isEconumiError(v) ? v.code : '', inline.code, `block ${i}: same code ${inline.code}`)
    } else {
      t.notOk(isEconumiError(v), `block ${i} accepted on a worker too`)
      if (!isEconumiError(v)) {
        t.equal(v.winner.ticket, inline.winner.ticket)
        t.same(v.winner.vrfOutput, inline.winner.vrfOutput)
        t.same(v.txids, inline.txids, 'transaction ids from the worker')
        t.equal(v.winner.claim, blocks[i].header.winner, 'winner is the block\'s own claim object')
      }
    }
  }
  t.match((verdicts[1] as Error & { code: string }).code, 'E_BLOCK_SIGNATURE')
  t.match((verdicts[2] as Error & { code: string }).code, 'E_BLOCK_REPORT_ROOT')
  t.match((verdicts[4] as Error & { code: string }).code, 'E_TX_SIGNATURE', 'every transaction signature is checked on the worker')
  t.match((verdicts[5] as Error & { code: string }).code, 'E_BLOCK_TX_ROOT')
})

t.test('bytes cut from a larger buffer go to a worker as their own bytes, and the caller keeps its buffer', async (t) => {
  if (!existsSync(fileURLToPath(WORKER))) { t.fail('dist/node/verify-worker.js missing: run `npm run build` (npm test does)'); return }
  const good = makeBlock(genesisState(params), [tx(alice, carol, 5n, 0n, g)])
  const bytes = encodeBlock(good)
  // as a network read or a storage batch hands them over: a view into 64 KB
  const read = new Uint8Array(65536)
  read.set(bytes, 1000)
  const view = read.subarray(1000, 1000 + bytes.length)
  const { message, transfer } = workerMessage({ id: 1, kind: 'block', bytes: view, transactions: true })
  const sent = (message as { bytes: Uint8Array }).bytes
  t.equal(sent.buffer.byteLength, bytes.length, `posted: ${sent.buffer.byteLength} bytes, not the view's ${read.byteLength}-byte buffer`)
  t.same(transfer, [sent.buffer], 'the copy is moved, not cloned again')
  t.equal(read.buffer.byteLength, 65536, 'the caller\'s buffer is not detached')
  const txBytes = new Uint8Array(encodeTransaction(tx(bob, carol, 1n, 0n, g))) // bytes that fill their own buffer
  read.set(txBytes, 5000)
  const txs = workerMessage({ id: 2, kind: 'txs', txs: [read.subarray(5000, 5000 + txBytes.length), txBytes] })
  t.same((txs.message as { txs: Uint8Array[] }).txs.map((b) => b.buffer.byteLength), [txBytes.length, txBytes.buffer.byteLength], 'a transaction view copied; bytes that fill their buffer go as they are')
  t.equal(txs.transfer.length, 1, 'only the copy is moved: the caller\'s own buffer is never detached')
  // and through real workers: the same verdict from the view as from the bytes
  const pool = new VerifyPool(params, g, 2, WORKER)
  t.teardown(async () => { await pool.close() })
  const v = await pool.verify(good, view)
  t.notOk(isEconumiError(v), 'a block posted from a view verifies on a worker')
  t.same(view, bytes, 'and the view still holds its bytes')
})

t.test('a block this node built: everything but the transactions\' signatures (the mempool checked those)', async (t) => {
  if (!existsSync(fileURLToPath(WORKER))) { t.fail('dist/node/verify-worker.js missing: run `npm run build` (npm test does)'); return }
  const pool = new VerifyPool(params, g, 2, WORKER)
  t.teardown(async () => { await pool.close() })
  const good = makeBlock(genesisState(params), [tx(alice, carol, 5n, 0n, g)])
  const badSig = { ...good, signature: Uint8Array.from(good.signature).fill(7, 0, 8) }
  const badTxRoot = { ...good, coinbase: good.coinbase + 1n }
  const badTx = tx(alice, carol, 5n, 0n, g)
  badTx.signature[5] ^= 1
  const badTxBlock = makeBlock(genesisState(params), [badTx])
  // alongside a queue of transaction checks, as under a flood
  const busy = Array.from({ length: 2000 }, (_, i) => tx(alice, bob, 1n, BigInt(i), g))
  const flood = Promise.all(busy.map(async (x) => await pool.checkTransaction(x, encodeTransaction(x)).catch(() => {})))
  const [v, sig, root, skipped] = await Promise.all([good, badSig, badTxRoot, badTxBlock].map(async (b) => await pool.verifyOwn(b, encodeBlock(b))))
  await flood
  const inline = verifyInline(params, g, good)
  t.notOk(isEconumiError(v), 'a good block passes')
  if (!isEconumiError(v) && !isEconumiError(inline)) {
    t.equal(v.winner.ticket, inline.winner.ticket, 'the same ticket as inline')
    t.same(v.txids, inline.txids, 'and the transaction ids')
  }
  t.match((sig as Error & { code: string }).code, 'E_BLOCK_SIGNATURE', 'its own signature is checked')
  t.match((root as Error & { code: string }).code, 'E_BLOCK_TX_ROOT', 'and the transaction root')
  t.notOk(isEconumiError(skipped), 'a transaction signature is not checked again (the mempool checked it)')
  t.match((verifyInline(params, g, badTxBlock) as Error & { code: string }).code, 'E_TX_SIGNATURE', 'while a peer\'s block with it fails')
})

t.test('a block with many transactions: checked across the workers, the same verdicts as inline', async (t) => {
  if (!existsSync(fileURLToPath(WORKER))) { t.fail('dist/node/verify-worker.js missing'); return }
  const pool = new VerifyPool(params, g, 2, WORKER)
  t.teardown(async () => { await pool.close() })
  const txs = Array.from({ length: 150 }, (_, i) => tx(alice, carol, 5n, BigInt(i), g))
  const good = makeBlock(genesisState(params), txs)
  const badTxs = txs.slice()
  badTxs[120] = { ...txs[120], signature: Uint8Array.from(txs[120].signature).fill(3, 0, 4) }
  const badTx = makeBlock(genesisState(params), badTxs) // correctly signed and rooted: only transaction 120 is wrong
  const lowFee = makeBlock(genesisState(params), [...txs.slice(0, 99), tx(alice, carol, 5n, 99n, g, 1n)])
  const badRootAndTx = { ...badTx, coinbase: badTx.coinbase + 1n } // both wrong: the root is reported first
  const blocks = [good, badTx, lowFee, badRootAndTx]
  const verdicts: Array<Awaited<ReturnType<typeof pool.verify>>> = []
  for (const b of blocks) verdicts.push(await pool.verify(b, encodeBlock(b))) // one at a time: each is split
  const code = (v: unknown): string => isEconumiError(v) ? v.code : 'ok'
  t.same(verdicts.map(code), ['ok', 'E_TX_SIGNATURE', 'E_TX_FEE', 'E_BLOCK_TX_ROOT'])
  t.same(verdicts.map(code), blocks.map((b) => code(verifyInline(params, g, b))), 'inline agrees')
  const v = verdicts[0]
  const inline = verifyInline(params, g, good)
  if (!isEconumiError(v) && !isEconumiError(inline)) {
    t.equal(v.winner.ticket, inline.winner.ticket)
    t.same(v.txids, inline.txids, 'the transaction ids come back from the worker')
  }
  // blocks verified together go whole, one per worker: the same verdicts
  const together = await Promise.all(blocks.map(async (b) => await pool.verify(b, encodeBlock(b))))
  t.same(together.map(code), verdicts.map(code))
  // closing while a split block is out: it fails cleanly (no stray rejection)
  const late = t.rejects(pool.verify(good, encodeBlock(good)), /closed/)
  await pool.close()
  await late
})

t.test('transactions: codes from the worker, results in submission order', async (t) => {
  if (!existsSync(fileURLToPath(WORKER))) { t.fail('dist/node/verify-worker.js missing'); return }
  const pool = new VerifyPool(params, g, 2, WORKER)
  t.teardown(async () => { await pool.close() })
  const txs = Array.from({ length: 300 }, (_, i) => tx(i % 2 === 0 ? alice : bob, carol, BigInt(i + 1), BigInt(i), g))
  const bad = { ...txs[7], signature: Uint8Array.from(txs[7].signature).fill(1, 0, 4) }
  const lowFee = tx(alice, carol, 5n, 0n, g, 1n)
  const all = [...txs.slice(0, 7), bad, ...txs.slice(8), lowFee]
  const order: number[] = []
  const results = await Promise.all(all.map(async (x, i) => {
    try {
      await pool.checkTransaction(x, encodeTransaction(x))
      return 'ok'
    } catch (err) {
      return isEconumiError(err) ? err.code : String(err)
    } finally {
      order.push(i)
    }
  }))
  t.equal(results[7], 'E_TX_SIGNATURE')
  t.equal(results[all.length - 1], 'E_TX_FEE')
  t.equal(results.filter((r) => r === 'ok').length, all.length - 2, 'every other transaction passes')
  t.same(order, all.map((_, i) => i), 'continuations run in submission order across chunks and workers')
})

t.test('a closed pool refuses work; zero threads means inline checks', async (t) => {
  const inline = new VerifyPool(params, g, 0, WORKER)
  t.notOk(inline.threaded)
  const bad = { ...tx(alice, carol, 1n, 0n, g), signature: new Uint8Array(64) }
  await t.rejects(inline.checkTransaction(bad, encodeTransaction(bad)), { code: 'E_TX_SIGNATURE' })
  const pool = new VerifyPool(params, g, 1, WORKER)
  const good = tx(alice, carol, 1n, 0n, g)
  await pool.checkTransaction(good, encodeTransaction(good))
  // a handful in one turn are checked inline, still with codes and in order
  const few = [good, bad, tx(bob, carol, 1n, 0n, g)]
  const order: number[] = []
  const codes = await Promise.all(few.map(async (x, i) => {
    try { await pool.checkTransaction(x, encodeTransaction(x)); return 'ok' } catch (err) { return (err as { code: string }).code } finally { order.push(i) }
  }))
  t.same(codes, ['ok', 'E_TX_SIGNATURE', 'ok'])
  t.same(order, [0, 1, 2])
  await pool.close()
  await t.rejects(pool.checkTransaction(good, encodeTransaction(good)), { code: 'E_NODE_CLOSING' })
  await t.rejects(pool.verify(makeBlock(genesisState(params), []), new Uint8Array(0)), { code: 'E_NODE_CLOSING' })
})

/** A pool of two stand-in workers running `source`; removed and closed at teardown. */
function standInPool (teardown: (fn: () => unknown) => void, source: string): VerifyPool {
  const dir = mkdtempSync(join(tmpdir(), 'econumi-pool-'))
  const file = join(dir, 'stand-in-worker.mjs')
  writeFileSync(file, source)
  const pool = new VerifyPool(params, g, 2, pathToFileURL(file))
  teardown(async () => { await pool.close(); rmSync(dir, { recursive: true, force: true }) })
  return pool
}

t.test('a worker that dies: ready() still resolves, then checks run inline with the same verdicts', async (t) => {
  const pool = standInPool((fn) => t.teardown(fn), 'process.exit(3)\n')
  t.ok(pool.start(), 'workers started')
  await pool.ready()
  t.notOk(pool.threaded, 'after a worker exit the pool checks inline')
  const txs = Array.from({ length: 40 }, (_, i) => tx(i % 2 === 0 ? alice : bob, carol, BigInt(i + 1), BigInt(i), g))
  const bad = { ...txs[3], signature: new Uint8Array(64) }
  const all = [...txs.slice(0, 3), bad, ...txs.slice(4)]
  const codes = await Promise.all(all.map(async (x) => {
    try { await pool.checkTransaction(x, encodeTransaction(x)); return 'ok' } catch (err) { return (err as { code: string }).code }
  }))
  t.equal(codes[3], 'E_TX_SIGNATURE')
  t.equal(codes.filter((c) => c === 'ok').length, all.length - 1)
  const good = makeBlock(genesisState(params), [tx(alice, carol, 5n, 0n, g)])
  t.notOk(isEconumiError(await pool.verify(good, encodeBlock(good))), 'a valid block still verifies')
})

t.test('ready() resolves once the real workers have loaded', async (t) => {
  if (!existsSync(fileURLToPath(WORKER))) { t.fail('dist/node/verify-worker.js missing'); return }
  const pool = new VerifyPool(params, g, 2, WORKER)
  t.teardown(async () => { await pool.close() })
  pool.start()
  await pool.ready()
  t.ok(pool.threaded, 'still threaded: nothing died')
  const x = tx(alice, carol, 1n, 0n, g)
  const many = Array.from({ length: 64 }, () => x)
  const codes = await Promise.all(many.map(async (y) => { try { await pool.checkTransaction(y, encodeTransaction(y)); return 'ok' } catch (err) { return (err as { code: string }).code } }))
  t.same([...new Set(codes)], ['ok'], '64 checks in one turn go through the workers and pass')
})

t.test('a process that only awaits the workers stays alive until they answer or close (and exits once idle)', async (t) => {
  if (!existsSync(fileURLToPath(WORKER))) { t.fail('dist/node/verify-worker.js missing'); return }
  const dir = mkdtempSync(join(tmpdir(), 'econumi-pool-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const block = makeBlock(genesisState(params), [tx(alice, carol, 5n, 0n, g)])
  const dist = new URL('../../dist/', import.meta.url).href
  const child = join(dir, 'child.mjs')
  // nothing but the pool is alive in this process: no timers, sockets or servers
  writeFileSync(child, `
    import { VerifyPool } from '${dist}node/verify-pool.js'
    import { decodeBlock } from '${dist}protocol/block.js'
    const params = JSON.parse(process.env.PARAMS, (k, v) => typeof v === 'string' && /^\\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v)
    const genesis = Buffer.from(process.env.GENESIS, 'hex')
    const bytes = Buffer.from(process.env.BLOCK, 'hex')
    const pool = new VerifyPool(params, genesis, 2)
    const verdict = await pool.verify(decodeBlock(bytes), bytes)
    console.log(verdict instanceof Error ? 'rejected ' + verdict.code : 'verified ticket=' + verdict.winner.ticket)
    // close() resolves though the idle workers hold nothing open: an awaited close must not end the process under it
    await pool.ready()
    await pool.close()
    console.log('closed')
  `)
  const env = {
    ...process.env,
    PARAMS: JSON.stringify(params, (_k, v: unknown) => typeof v === 'bigint' ? `${v}n` : v),
    GENESIS: Buffer.from(g).toString('hex'),
    BLOCK: Buffer.from(encodeBlock(block)).toString('hex')
  }
  for (let run = 0; run < 4; run++) { // whether an exit would race the worker's answer depends on timing
    const r = spawnSync(process.execPath, [child], { env, encoding: 'utf8', timeout: 30_000 })
    t.equal(r.status, 0, `exit status 0 (stderr: ${r.stderr.slice(-500)})`)
    t.match(r.stdout, /^verified ticket=\d+\nclosed\n$/, 'the verdict arrived before the process ended, and close() resolved')
    t.not(r.signal, 'SIGTERM', 'the process ended by itself: idle workers do not hold it open')
  }
})

t.test('a worker that dies with work outstanding: that work is checked inline, with the right verdicts', async (t) => {
  // loads like the real worker, then dies on the first request without answering it
  const pool = standInPool((fn) => t.teardown(fn), "import { parentPort } from 'node:worker_threads'\nparentPort.on('message', () => process.exit(7))\nparentPort.postMessage({ kind: 'ready' })\n")
  pool.start()
  await pool.ready()
  t.ok(pool.threaded, 'loaded: threaded until something dies')
  const good = makeBlock(genesisState(params), [tx(alice, carol, 5n, 0n, g)])
  const badSig = { ...good, signature: Uint8Array.from(good.signature).fill(7, 0, 8) }
  const txs = Array.from({ length: 40 }, (_, i) => tx(i % 2 === 0 ? alice : bob, carol, BigInt(i + 1), BigInt(i), g))
  txs[5] = { ...txs[5], signature: new Uint8Array(64) }
  const [v1, v2, codes] = await Promise.all([
    pool.verify(good, encodeBlock(good)),
    pool.verify(badSig, encodeBlock(badSig)),
    Promise.all(txs.map(async (x) => { try { await pool.checkTransaction(x, encodeTransaction(x)); return 'ok' } catch (err) { return (err as { code: string }).code } }))
  ])
  t.notOk(isEconumiError(v1), 'the valid block is accepted')
  t.equal(isEconumiError(v2) ? v2.code : '', 'E_BLOCK_SIGNATURE', 'the forged block is refused')
  t.equal(codes[5], 'E_TX_SIGNATURE')
  t.equal(codes.filter((c) => c === 'ok').length, txs.length - 1, 'every other transaction passes')
  t.notOk(pool.threaded, 'inline from then on')
})
