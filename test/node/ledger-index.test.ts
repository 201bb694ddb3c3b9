// The ledger's by-height index (issue 14): best-tip selection reads the top of it, not every block entry, and a
// data directory from before it gets it built at open, once, with progress logged (real LevelDB, a real node process).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { Chain } from '../../node/chain.js'
import { ChainStore } from '../../node/chain-store.js'
import { Ledger } from '../../node/ledger.js'
import { toHex } from '../../protocol/encoding.js'
import { genesisHash, paramsFromJson } from '../../protocol/params.js'
import { buildChain } from '../helpers/prebuilt-chain.js'
import { NodeProcess, tempDir, writeGenesis } from '../helpers/node-process.js'

const BLOCKS = 300

async function chainDir (): Promise<{ dir: string, genesisFile: string, tipHash: string }> {
  const root = tempDir('econumi-index-')
  const genesisFile = writeGenesis(root, { epochMs: 1000, genesisTime: Date.now() - (BLOCKS + 100) * 1000, tau: '100' })
  const dir = join(root, 'node')
  const { tipHash } = await buildChain(dir, genesisFile, BLOCKS)
  return { dir, genesisFile, tipHash }
}

t.test('bestTip reads the top of the by-height index, not every block entry', async (t) => {
  const { dir, genesisFile, tipHash } = await chainDir()
  const params = paramsFromJson(JSON.parse(readFileSync(genesisFile, 'utf8')))
  const ledger = await Ledger.open(join(dir, 'ledger'), params, genesisHash(params))
  const store = new ChainStore(join(dir, 'cores'))
  await store.open()
  t.teardown(async () => { await ledger.close(); await store.close() })
  // count every block entry read, by any of LevelDB's read paths
  let reads = 0
  const db = ledger.db as any
  const isEntry = (k: unknown): boolean => typeof k === 'string' && k.startsWith('block:')
  const get = db.get.bind(db)
  db.get = async (k: string, ...rest: unknown[]) => { if (isEntry(k)) reads++; return await get(k, ...rest) }
  const getMany = db.getMany.bind(db)
  db.getMany = async (ks: string[], ...rest: unknown[]) => { reads += ks.filter(isEntry).length; return await getMany(ks, ...rest) }
  for (const m of ['values', 'iterator']) {
    const orig = db[m].bind(db)
    db[m] = (o: { gte?: string } = {}) => {
      const it = orig(o)
      if (!isEntry(o.gte)) return it
      return (async function * () { for await (const v of it) { reads++; yield v } })()
    }
  }
  const chain = new Chain(ledger, store, { onOrphanedTxs: async () => {}, onNewHead: async () => {} }, () => {})
  const best = await chain.bestTip()
  t.equal(best?.hash, tipHash, 'the best tip is the head')
  t.equal(toHex(ledger.tip!.hash), tipHash)
  t.ok(reads <= 4, `block entries read: ${reads} of ${BLOCKS}`)
})

t.test('a ledger from before the by-height index gets it built at open, once, with progress logged', async (t) => {
  const { dir, genesisFile, tipHash } = await chainDir()
  // the old layout: no by-height keys, no index version
  const db = new ClassicLevel<string, string>(join(dir, 'ledger'), { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await db.open()
  const old: string[] = []
  for await (const k of db.keys({ gte: 'byheight:', lt: 'byheight;' })) old.push(k)
  t.equal(old.length, BLOCKS, 'the built ledger had the index')
  await db.batch([...old.map((key) => ({ type: 'del' as const, key })), { type: 'del', key: 'meta:index' }])
  await db.close()

  let node = new NodeProcess(dir, ['--genesis', genesisFile, '--offline']).start()
  t.teardown(async () => { await node.stop() })
  await node.ready()
  const migrate = node.events.filter((e) => e.event === 'ledger-migrate')
  t.same(migrate.map((e) => e.state), ['started', 'done'], 'the migration is logged')
  t.equal(migrate[migrate.length - 1]?.entries, BLOCKS, 'every block entry indexed')
  t.equal((await node.status()).tipHash, tipHash, 'same tip')
  await node.stop()
  t.equal(node.proc?.exitCode, 0, 'node process exited cleanly')

  const after = new ClassicLevel<string, string>(join(dir, 'ledger'), { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await after.open()
  let n = 0
  for await (const _ of after.keys({ gte: 'byheight:', lt: 'byheight;' })) n++
  t.equal(n, BLOCKS, 'the by-height index is back')
  t.equal(await after.get('meta:index'), '2', 'and the ledger says so')
  await after.close()

  node = new NodeProcess(dir, ['--genesis', genesisFile, '--offline']).start()
  await node.ready()
  t.same(node.events.filter((e) => e.event === 'ledger-migrate'), [], 'not again at the next start')
  await node.stop()
  t.equal(node.proc?.exitCode, 0, 'node process exited cleanly')
})
