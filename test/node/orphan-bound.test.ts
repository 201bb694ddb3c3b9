// The orphan pool's global bound (issue 14): blocks on unknown parents are kept durably up to MAX_ORPHANS in all
// (MAX_ORPHANS_PER_CORE per core), the rest deferred, and a full pool never stops a block whose parent is known.
// Real LevelDB and Corestore, in-process Chain (the p2p orphan test drives the per-core bound through a real node).
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { type AddResult, Chain, MAX_ORPHANS, MAX_ORPHANS_PER_CORE } from '../../node/chain.js'
import { ChainStore } from '../../node/chain-store.js'
import { Ledger } from '../../node/ledger.js'
import { addressBytesFromPublicKey } from '../../protocol/address.js'
import { buildBlock, encodeBlock } from '../../protocol/block.js'
import { makeClaim } from '../../protocol/claim.js'
import { toHex } from '../../protocol/encoding.js'
import { lotteryTicket } from '../../protocol/lottery.js'
import { epochStart, genesisHash } from '../../protocol/params.js'
import { vrfProofToHash } from '../../protocol/vrf.js'
import { isEligible } from '../../protocol/weights.js'
import { genesisState, makeBlock, signerFrom, testParams } from '../helpers/chain.js'
import { tempDir } from '../helpers/node-process.js'

t.test('the orphan pool holds MAX_ORPHANS in all, defers the rest, and still takes a block on a known parent', async (t) => {
  const params = testParams()
  const g = genesisHash(params)
  const dir = tempDir('econumi-orphans-')
  let ledger = await Ledger.open(join(dir, 'ledger'), params, g)
  const store = new ChainStore(join(dir, 'cores'))
  await store.open()
  t.teardown(async () => { await ledger.close(); await store.close() })
  const chain = new Chain(ledger, store, { onOrphanedTxs: async () => {}, onNewHead: async () => {} }, () => {})

  // validly signed blocks on random parents: every check passes but the parent lookup (one claim for all: the
  // claim is judged against the parent's beacon, which never arrives)
  const signer = signerFrom('orphan-flooder')
  let claim = makeClaim(signer, randomBytes(32), 1n)
  // a beacon on which the claim is eligible for the weights the blocks state (1 of 1): it passes verifyBlock
  while (!isEligible(lotteryTicket(vrfProofToHash(claim.proof)), { weight: 1n, total: 1n, bootstrap: false }, params.tauMilli)) claim = makeClaim(signer, randomBytes(32), 1n)
  const orphan = (i: number): ReturnType<typeof buildBlock> => buildBlock({
    height: 5n + BigInt(i), prevHash: randomBytes(32), epoch: 1n, time: epochStart(params, 1n) + 10n, winner: claim,
    weight: 1n, totalWeight: 1n, reports: [], ops: [], miner: addressBytesFromPublicKey(signer.publicKey), coinbase: 0n, txs: []
  }, signer, g)
  // one more core than the global bound holds at the per-core bound: the last core's blocks meet only the global one
  const cores = MAX_ORPHANS / MAX_ORPHANS_PER_CORE + 1
  const others: Partial<Record<AddResult, number>> = {}
  const last: Partial<Record<AddResult, number>> = {}
  for (let c = 0; c < cores; c++) {
    const core = toHex(randomBytes(32))
    const r = c === cores - 1 ? last : others
    for (let seq = 0; seq < MAX_ORPHANS_PER_CORE; seq++) {
      const res = await chain.addBlock(orphan(c * MAX_ORPHANS_PER_CORE + seq), { core, seq })
      r[res] = (r[res] ?? 0) + 1
    }
  }
  const kept = await ledger.orphanCount()
  t.equal(kept, MAX_ORPHANS, `orphans kept: ${kept} of ${cores * MAX_ORPHANS_PER_CORE} (bound ${MAX_ORPHANS})`)
  t.same(others, { orphan: MAX_ORPHANS }, 'every block of the first cores kept, up to the global bound')
  t.same(last, { deferred: MAX_ORPHANS_PER_CORE }, 'the core over the global bound: every block deferred')

  // a full pool does not stop the chain: a block on a known parent (genesis) is taken and becomes the head
  const state = genesisState(params)
  const first = makeBlock(state, [], { signer })
  const seq = await store.appendBlock(encodeBlock(first))
  t.equal(await chain.addBlock(first, { core: store.ownKey, seq }), 'head', 'a block on a known parent becomes the head')

  // the bound holds across a restart: the count is rebuilt from disk, not started again at zero
  await ledger.close()
  ledger = await Ledger.open(join(dir, 'ledger'), params, g)
  t.equal(await ledger.orphanCount(), MAX_ORPHANS, 'after reopening: still MAX_ORPHANS')
  const again = new Chain(ledger, store, { onOrphanedTxs: async () => {}, onNewHead: async () => {} }, () => {})
  t.equal(await again.addBlock(orphan(cores * MAX_ORPHANS_PER_CORE), { core: toHex(randomBytes(32)), seq: 0 }), 'deferred', 'and one more orphan is deferred')
})
