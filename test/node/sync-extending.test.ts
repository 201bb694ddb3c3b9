// A core counts as "extending" the head (and so makes the node "behind", skipping production for up to two epochs)
// only when one of its own blocks became the head. Found by the peer-flood bench: the head moving during the commit
// of a flooder's run, by this node's own block, made that run "extending", and the producer skipped epochs as
// "syncing". A real in-process node (LevelDB, Corestore, the chain lock); the interleaving is forced with the lock.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { FixedComputeUnits } from '../../node/compute-units.js'
import { EconumiNode } from '../../node/node.js'
import { addressBytesFromPublicKey } from '../../protocol/address.js'
import { buildBlock, blockHash } from '../../protocol/block.js'
import { makeClaim } from '../../protocol/claim.js'
import { toHex } from '../../protocol/encoding.js'
import { epochStart, paramsFromJson } from '../../protocol/params.js'
import { signerFrom } from '../helpers/chain.js'
import { tempDir, writeGenesis } from '../helpers/node-process.js'

t.test('a run whose blocks did not move the head is not "extending", though the node\'s own block moved it meanwhile', async (t) => {
  const dir = tempDir('econumi-sync-extending-')
  const genesisFile = writeGenesis(dir, { epochMs: 1000, genesisTime: Date.now() - 100_000, tau: '100' })
  const params = paramsFromJson(JSON.parse(readFileSync(genesisFile, 'utf8')))
  let epoch = 1n
  const node = await EconumiNode.open({ dataDir: join(dir, 'node'), params, computeUnits: new FixedComputeUnits(10n), now: () => Number(epochStart(params, epoch)) + 1 })
  t.teardown(async () => { await node.close() })
  while (node.ledger.height < 2n) await node.produce(++epoch)

  // a peer's run: one validly signed block on a parent nobody has (an orphan), as a flooder serves
  const signer = signerFrom('extending-flooder')
  const orphan = buildBlock({
    height: 9n, prevHash: randomBytes(32), epoch: 3n, time: epochStart(params, 3n) + 10n, winner: makeClaim(signer, randomBytes(32), 3n),
    weight: 1n, totalWeight: 1n, reports: [], ops: [], miner: addressBytesFromPublicKey(signer.publicKey), coinbase: 0n, txs: []
  }, signer, node.genesis)
  const core = toHex(randomBytes(32))
  const run = { items: [{ loc: { core, seq: 0 }, block: orphan, hash: toHex(blockHash(orphan.header)), verdict: { winner: { claim: orphan.header.winner, vrfOutput: new Uint8Array(64), ticket: 0n } } }], unavailable: false, bytes: 0, cut: false, counted: 0 }

  // hold the chain lock: the run's commit waits on it; meanwhile this node's own block moves the head
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const held = node.chainLock.run(async () => { await gate })
  const sync = node.sync as any
  const committing = sync.commitRun(core, run) as Promise<{ extended: boolean }>
  const before = node.ledger.height
  release()
  await held
  epoch++
  const own = await node.produce(epoch)
  t.not(own, null, 'this node produced a block while the run was being committed')
  const result = await committing
  t.ok(node.ledger.height > before, 'the head moved during the commit')
  t.equal(toHex(node.ledger.tip!.hash), toHex(blockHash(own!.header)), 'by this node\'s own block')
  t.equal(result.extended, false, 'the run did not extend the head, so its core is not "extending"')
})
