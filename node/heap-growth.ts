// How far V8 lets a heap grow past what survived its last full collection before collecting again. V8's default
// factor moves with allocation speed, up to 4×: under a peer's flood (a high rate of short-lived values, a live set
// of ~30 MB) the node's old space doubled and stayed there, and the verify workers' heaps grew alike (peer-flood:
// RSS 1.38-1.68× the unflooded node). A node is a long-running process with a small live set, so it uses V8's own
// conservative factor, 1.3: the one V8 takes when it is told to optimise for memory. The flag is read each time V8
// sets a heap's next limit, so setting it at start covers the main thread and every worker started after.
import v8 from 'node:v8'
import { fail } from '../protocol/errors.js'

/** V8's kConservativeGrowingFactor (src/heap/heap-controller.h), as a percentage above 1. */
export const DEFAULT_HEAP_GROWING_PERCENT = 30

/** ECONUMI_HEAP_GROWING_PERCENT: 1-300 sets the factor (1 + p/100); 0 leaves V8's own dynamic factor. */
export function heapGrowingPercent (env: NodeJS.ProcessEnv = process.env): number {
  const s = env.ECONUMI_HEAP_GROWING_PERCENT
  if (s === undefined || s === '') return DEFAULT_HEAP_GROWING_PERCENT
  const p = Number(s)
  if (!/^\d+$/.test(s) || p > 300) fail('E_BAD_OPTION', 'ECONUMI_HEAP_GROWING_PERCENT must be a whole number from 0 (V8\'s default) to 300', { value: s.slice(0, 40) })
  return p
}

/** Apply the factor to this process's isolates; returns the percentage in force (0: V8's default). */
export function boundHeapGrowth (env: NodeJS.ProcessEnv = process.env): number {
  const p = heapGrowingPercent(env)
  // 0 is V8's own "not set": the dynamic factor again (also undoing an earlier call)
  v8.setFlagsFromString(`--heap-growing-percent=${p}`)
  return p
}
