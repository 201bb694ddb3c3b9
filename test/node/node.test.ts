// One real node in-process: real Corestore/Hypercore on disk, real LevelDB.
import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { COIN } from '../../protocol/amount.js'
import { genesisHash, epochStart } from '../../protocol/params.js'
import { blockReward } from '../../protocol/reward.js'
import { encodeTransaction } from '../../protocol/transaction.js'
import { FixedComputeUnits } from '../../node/compute-units.js'
import { EconumiNode, reindexNode } from '../../node/node.js'
import { addr, alice, bob, carol, testParams, tx } from '../helpers/chain.js'

const p = testParams({ genesisTime: 0n, epochMs: 1000n, tauMilli: 100_000n }) // tau 100: this one node leads every epoch
const g = genesisHash(p)

function fakeClock (start: number): { now: () => number, set: (ms: number) => void } {
  let t = start
  return { now: () => t, set: (ms: number) => { t = ms } }
}

t.test('produce blocks, admit transactions, survive a restart and a reindex', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'econumi-node-'))
  const clock = fakeClock(Number(epochStart(p, 5n)) + 10)
  let node = await EconumiNode.open({ dataDir: dir, params: p, computeUnits: new FixedComputeUnits(50n), now: clock.now })
  t.teardown(async () => { await node.close() })
  t.equal(node.ledger.height, -1n)
  t.equal((await node.ledger.account(addr(alice))).balance, 100n * COIN, 'genesis allocation')

  const id1 = await node.submitTransaction(encodeTransaction(tx(alice, bob, COIN, 0n, g)))
  const id2 = await node.submitTransaction(encodeTransaction(tx(alice, carol, 2n * COIN, 1n, g)))
  t.equal(node.mempool.size, 2)
  t.equal(await node.mempool.pendingNonce(addr(alice)), 2n)
  await t.rejects(node.submitTransaction(encodeTransaction(tx(alice, bob, COIN, 0n, g))), { code: /E_TX_KNOWN|E_TX_NONCE_PENDING/ })
  await t.rejects(node.submitTransaction(encodeTransaction(tx(alice, bob, COIN, 5n, g))), { code: 'E_TX_NONCE_GAP' })
  await t.rejects(node.submitTransaction(encodeTransaction(tx(bob, carol, 11n * COIN, 0n, g))), { code: 'E_TX_OVERDRAFT' })
  await t.rejects(node.submitTransaction(new Uint8Array(10)), { code: 'E_TX_LENGTH' })

  const b0 = await node.produce(5n)
  t.ok(b0)
  t.equal(b0!.txs.length, 2)
  t.equal(node.ledger.height, 0n)
  t.equal(node.mempool.size, 0)
  t.equal(await node.produce(5n), null, 'one block per epoch')
  t.equal(await node.produce(4n), null, 'never for a past epoch')
  clock.set(Number(epochStart(p, 6n)) + 1)
  t.ok(await node.produce(6n))
  t.equal((await node.ledger.account(node.rewardAddress)).balance, 2n * blockReward(0n) + 2000n)
  t.equal((await node.ledger.txLocation(id1))?.height, '0')
  t.ok(await node.ledger.txLocation(id2))
  // a transaction acknowledged but not yet in a block survives a restart
  const id3 = await node.submitTransaction(encodeTransaction(tx(bob, carol, COIN, 0n, g)))
  await node.close()

  node = await EconumiNode.open({ dataDir: dir, params: p, computeUnits: new FixedComputeUnits(50n), now: clock.now })
  t.equal(node.ledger.height, 1n)
  t.ok(node.mempool.has(id3), 'acknowledged transaction restored')
  const total = await node.ledger.totalBalance()
  t.equal(total, 110n * COIN + 2n * blockReward(0n))
  await node.close()

  const { height, mempool } = await reindexNode({ dataDir: dir, params: p })
  t.equal(height, 1n)
  t.equal(mempool, 1)
  node = await EconumiNode.open({ dataDir: dir, params: p, now: clock.now })
  t.equal(await node.ledger.totalBalance(), total, 'reindex rebuilds the same ledger')
  t.equal((await node.ledger.account(addr(alice))).nonce, 2n)
  const found = await node.blockByHeight(0n)
  t.equal(found?.block.txs.length, 2)
})

t.test('a node without compute units never produces', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'econumi-node-'))
  const node = await EconumiNode.open({ dataDir: dir, params: p, now: () => Number(epochStart(p, 3n)) })
  t.teardown(async () => { await node.close() })
  t.equal(await node.produce(3n), null)
})

t.test('a second node on the same data folder is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'econumi-node-'))
  const node = await EconumiNode.open({ dataDir: dir, params: p })
  t.teardown(async () => { await node.close() })
  await t.rejects(EconumiNode.open({ dataDir: dir, params: p }), { code: 'E_LEDGER_LOCKED' })
})

t.test('a data folder of another network is refused once it is unlocked', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'econumi-node-'))
  const node = await EconumiNode.open({ dataDir: dir, params: p })
  await node.close()
  await t.rejects(EconumiNode.open({ dataDir: dir, params: { ...p, network: 'other' } }), { code: 'E_GENESIS_MISMATCH' })
  // the refusal leaves the folder usable by its own network
  const again = await EconumiNode.open({ dataDir: dir, params: p })
  await again.close()
})

t.test('two blocks won by one node in one epoch are kept as equivocation evidence', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'econumi-node-'))
  const node = await EconumiNode.open({ dataDir: dir, params: p, computeUnits: new FixedComputeUnits(50n), now: () => Number(epochStart(p, 2n)) + 5 })
  t.teardown(async () => { await node.close() })
  const first = await node.produce(2n)
  t.ok(first)
  // the same node signs a second, different block for the same epoch and parent
  const { buildBlock, encodeBlock } = await import('../../protocol/block.js')
  const twin = buildBlock({ ...first!.header, time: first!.header.time + 1n, reports: first!.reports, coinbase: first!.coinbase, txs: [] }, node.identity.signer, g)
  const seq = await node.store.appendRecord(encodeBlock(twin)) // any core position will do for the index
  await node.chain.addBlock(twin, { core: node.store.records.key.toString('hex'), seq })
  const evidence = await node.ledger.listEvidence()
  t.equal(evidence.length, 1)
  t.equal(evidence[0].node, node.identity.nodeId)
  t.equal(evidence[0].epoch, '2')
  t.equal(new Set(evidence[0].blocks).size, 2)
})

t.test('sync progress bar', async (t) => {
  const { progressBar } = await import('../../node/main.js')
  t.equal(progressBar(5n, 10n, 10), 'sync [#####-----] 5/10')
  t.equal(progressBar(-1n, 10n, 4), 'sync [----] -1/10')
  t.equal(progressBar(10n, 10n, 4), 'sync [####] 10/10')
})
