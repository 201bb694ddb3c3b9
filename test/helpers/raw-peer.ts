// A raw Hyperswarm peer for the p2p tests: shared with the benchmarks (bench/raw-peer.ts).
export * from '../../bench/raw-peer.js'
