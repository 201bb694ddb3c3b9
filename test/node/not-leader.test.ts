// An epoch this node does not lead is logged as not-leader (as cardano-node traces every slot it does not lead), so an
// operator, and the peer-flood bench's on-time goal, can tell a lost lottery from a missed block. A real in-process
// node (LevelDB, Corestore) walking through past epochs with a fake clock.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { FixedComputeUnits } from '../../node/compute-units.js'
import { EconumiNode } from '../../node/node.js'
import { epochStart, paramsFromJson } from '../../protocol/params.js'
import { tempDir, writeGenesis } from '../helpers/node-process.js'

t.test('an epoch the node does not lead is logged as not-leader: every epoch ends in a block or that line', async (t) => {
  const dir = tempDir('econumi-not-leader-')
  const genesisFile = writeGenesis(dir, { epochMs: 1000, genesisTime: Date.now() - 100_000, tau: '0.5' })
  const params = paramsFromJson(JSON.parse(readFileSync(genesisFile, 'utf8')))
  let epoch = 0n
  const events: Array<{ event: string, epoch?: unknown }> = []
  const node = await EconumiNode.open({ dataDir: join(dir, 'node'), params, computeUnits: new FixedComputeUnits(10n), now: () => Number(epochStart(params, epoch)) + 1, log: (event, fields) => { events.push({ event, ...fields }) } })
  t.teardown(async () => { await node.close() })
  let blocks = 0
  let lost = 0
  for (epoch = 1n; epoch <= 40n; epoch++) {
    const b = await node.produce(epoch)
    const said = events.filter((e) => e.event === 'not-leader' && BigInt(String(e.epoch)) === epoch).length
    if (b !== null) blocks++; else lost++
    t.equal(said, b === null ? 1 : 0, `epoch ${epoch}: ${b === null ? 'not-leader logged once' : 'a block, no not-leader'}`)
  }
  t.ok(blocks > 0 && lost > 0, `both outcomes seen (${blocks} blocks, ${lost} lost lotteries at τ = 0.5)`)
})
