// Child process for test/node/heap-growth.test.ts: the node's heap bound applied (from ECONUMI_HEAP_GROWING_PERCENT, as
// at node start), then a small live set and a stream of medium-lived values (what a flood's in-flight work is:
// each survives a few young collections, so it reaches old space and dies there). Prints the old space's largest
// size and what is live in it after a full collection.
import v8 from 'node:v8'
import { boundHeapGrowth } from '../../node/heap-growth.js'

const percent = boundHeapGrowth()
const live: unknown[] = []
for (let i = 0; i < 200_000; i++) live.push({ a: Buffer.alloc(16).toString('hex'), b: i, c: [i, i + 1] })
const old = (): v8.HeapSpaceInfo => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!
const recent: unknown[][] = []
let max = 0
for (let round = 0; round < 300; round++) {
  recent.push(Array.from({ length: 5000 }, (_, i) => ({ s: `value-${round}-${i}`, n: [round, i] })))
  if (recent.length > 20) recent.shift()
  max = Math.max(max, old().space_size)
  await new Promise((resolve) => setImmediate(resolve))
}
recent.length = 0
;(globalThis as { gc?: () => void }).gc!()
process.stdout.write(JSON.stringify({ percent, maxOld: max, live: old().space_used_size, kept: live.length }) + '\n')
