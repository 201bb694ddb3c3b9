// The durable record of blocks held for their evidence (node/held-blocks.ts), on a real LevelDB ledger: it survives
// a reopen, and it is bounded per core and in all, the oldest forgotten first. (The p2p fraud test's availability
// case restarts a real node that holds a block.)
import t from 'tap'
import { join } from 'node:path'
import { HeldBlocks, MAX_HELD_BLOCKS, MAX_HELD_PER_CORE } from '../../node/held-blocks.js'
import { Ledger } from '../../node/ledger.js'
import { genesisHash } from '../../protocol/params.js'
import { testParams } from '../helpers/chain.js'
import { tempDir } from '../helpers/node-process.js'

const core = (i: number): string => i.toString(16).padStart(64, '0')

t.test('held blocks: remembered across a reopen, removed when settled, bounded per core and in all', async (t) => {
  const params = testParams()
  const dir = join(tempDir('econumi-held-'), 'ledger')
  let ledger = await Ledger.open(dir, params, genesisHash(params))
  t.teardown(async () => { await ledger.close() })
  let held = new HeldBlocks(ledger)
  t.same(await held.add(core(1), 7), [], 'nothing forgotten')
  await held.add(core(1), 9)
  await held.add(core(2), 3)
  await held.remove(core(1), 9)

  await ledger.close()
  ledger = await Ledger.open(dir, params, genesisHash(params))
  held = new HeldBlocks(ledger)
  t.same(await held.all(), [{ core: core(1), seq: 7 }, { core: core(2), seq: 3 }], 'after reopening: what was held and not settled, oldest first')
  t.same(await held.ofCore(core(1)), [7])

  // per core: the core's oldest goes to make room
  for (let s = 100; s < 100 + MAX_HELD_PER_CORE - 1; s++) await held.add(core(1), s)
  t.same(await held.add(core(1), 999), [{ core: core(1), seq: 7 }], `the ${MAX_HELD_PER_CORE + 1}th of one core forgets that core's oldest`)
  t.equal((await held.ofCore(core(1))).length, MAX_HELD_PER_CORE)
  t.ok((await held.ofCore(core(2))).includes(3), 'another core\'s entry is untouched')

  // in all: the oldest of any core goes
  let c = 10
  while ((await held.all()).length < MAX_HELD_BLOCKS) await held.add(core(c++), 0)
  t.same(await held.add(core(c), 0), [{ core: core(2), seq: 3 }], 'over the global bound: the oldest entry is forgotten')
  t.equal((await held.all()).length, MAX_HELD_BLOCKS, `still ${MAX_HELD_BLOCKS}`)

  await ledger.close()
  ledger = await Ledger.open(dir, params, genesisHash(params))
  t.equal((await new HeldBlocks(ledger).all()).length, MAX_HELD_BLOCKS, 'and so on disk')
})
