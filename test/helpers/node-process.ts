// Real node processes for multi-node tests: shared with the benchmarks (bench/node-process.ts).
export * from '../../bench/node-process.js'
