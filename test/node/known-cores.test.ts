// The list of proven chain cores (issue 14, "lost updates"): 4,096 cores proven at once, each saved by its own
// concurrent call, are all there after a reopen (real LevelDB); a shared JSON list kept 278 of 4,096. A list in
// the old format is still read.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Ledger } from '../../node/ledger.js'
import { ChainSync } from '../../node/sync.js'
import { genesisHash } from '../../protocol/params.js'
import { testParams } from '../helpers/chain.js'
import { tempDir } from '../helpers/node-process.js'

const params = testParams()
const g = genesisHash(params)

t.test('4,096 concurrent additions: none lost, across a reopen', async (t) => {
  const dir = join(tempDir('econumi-cores-'), 'ledger')
  let ledger = await Ledger.open(dir, params, g)
  const keys = Array.from({ length: 4096 }, () => randomBytes(32).toString('hex'))
  await Promise.all(keys.map(async (k) => await ChainSync.saveCores(ledger, [k])))
  await ledger.close()
  ledger = await Ledger.open(dir, params, g)
  t.teardown(async () => { await ledger.close() })
  const saved = await ChainSync.savedCores(ledger)
  t.equal(saved.length, keys.length, `${saved.length} of ${keys.length} saved`)
  t.same(new Set(saved), new Set(keys), 'exactly the cores added')
})

t.test('a list in the old format (one JSON value) is read with the new keys', async (t) => {
  const dir = join(tempDir('econumi-cores-'), 'ledger')
  const ledger = await Ledger.open(dir, params, g)
  t.teardown(async () => { await ledger.close() })
  const old = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')]
  const added = randomBytes(32).toString('hex')
  await ledger.putMeta('cores', JSON.stringify([...old, added]))
  await ChainSync.saveCores(ledger, [added])
  const saved = await ChainSync.savedCores(ledger)
  t.same(new Set(saved), new Set([...old, added]), 'old and new, each once')
  t.equal(saved.length, 3)
})
