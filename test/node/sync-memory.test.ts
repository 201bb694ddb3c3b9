// Sync's prefetch is bounded by bytes (issue 14): a core of large blocks that carry no transactions (runs sized by
// transactions would take 256 of them, four runs at once) is indexed by a real node process without its memory
// growing with the blocks' size. The core is on disk when the node starts, so recovery indexes it at full speed.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Corestore from 'corestore'
import { ClassicLevel } from 'classic-level'
import { SYNC_INFLIGHT_BYTES } from '../../node/sync.js'
import { NodeProcess, tempDir, writeGenesis } from '../helpers/node-process.js'

const BLOCKS = 1024
const BLOCK_BYTES = 512 * 1024

/** Peak resident memory of a process, in bytes (Linux). */
function peakRss (pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m?.[1] ?? 0) * 1024
}

t.test('a core of 1,024 half-MB blocks is indexed within the byte budget', async (t) => {
  const root = tempDir('econumi-sync-memory-')
  const genesisFile = writeGenesis(root, { epochMs: 1000 })
  const dir = join(root, 'node')
  // a peer core already replicated (and proven, so recovery indexes it): blocks of junk, rejected once read
  const store = new Corestore(join(dir, 'cores'))
  const core = store.get({ name: 'large-blocks' })
  await core.ready()
  for (let i = 0; i < BLOCKS; i += 64) await core.append(Array.from({ length: 64 }, () => randomBytes(BLOCK_BYTES)))
  const key = core.key.toString('hex')
  await store.close()
  // a first start with the core not yet known: the storage settles (RocksDB replays its log once), and the
  // node's own peak without the core is the baseline
  let base = 0
  for (const run of ['settle', 'baseline']) {
    const first = new NodeProcess(dir, ['--genesis', genesisFile, '--offline']).start()
    t.teardown(async () => { await first.stop() })
    await first.ready()
    base = peakRss(first.proc!.pid!)
    await first.stop()
    t.equal(first.proc?.exitCode, 0, `${run} node process exited cleanly`)
  }
  const db = new ClassicLevel<string, string>(join(dir, 'ledger'), { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await db.open()
  await db.put(`meta:core:${key}`, '1')
  await db.close()

  const node = new NodeProcess(dir, ['--genesis', genesisFile, '--offline']).start()
  t.teardown(async () => { await node.stop() })
  await node.ready()
  const rejected = node.events.filter((e) => e.event === 'block-rejected')
  t.equal(rejected.length, BLOCKS, 'every block was read and judged')
  const peak = peakRss(node.proc!.pid!)
  const held = BLOCKS * BLOCK_BYTES
  // the budget, one run over it, the decoder's copies and storage caches (~130 MiB here; unbounded: ~970 MiB)
  t.ok(peak - base < 8 * SYNC_INFLIGHT_BYTES, `peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB (${(base / 2 ** 20).toFixed(0)} MiB without the core) while indexing ${(held / 2 ** 20).toFixed(0)} MiB of blocks (budget ${SYNC_INFLIGHT_BYTES / 2 ** 20} MiB in flight)`)
  await node.stop()
  t.equal(node.proc?.exitCode, 0, 'node process exited cleanly')
})
