// Network benches with real node processes on one machine (loopback, local DHT bootstrap):
// - convergence: time from a block's `block` log at its producer to the `head` log for that block at
//   every other node (per block: the slowest node), p50 and p99 over many epochs; baseline = epoch length.
// - tx-propagation: a transaction submitted at one node until every node holds it, p50 and p99;
//   baseline = one loopback HTTP round trip to the node API.
import { join } from 'node:path'
import { addressBytesFromPublicKey, addressFromPublicKey } from '../protocol/address.js'
import { COIN } from '../protocol/amount.js'
import { Signer } from '../protocol/keys.js'
import { genesisHash, paramsFromJson } from '../protocol/params.js'
import { encodeTransaction, signTransaction } from '../protocol/transaction.js'
import { readFileSync } from 'node:fs'
import { rmSync } from 'node:fs'
import { type Bench, percentile, report } from './lib.js'
import { NodeProcess, type LogEvent, localBootstrap, sleep, tempDir, until, writeGenesis } from './node-process.js'

const EPOCH_MS = 1000

async function startNetwork (n: number, genesis: string, bootstrap: string, dir: string, produce: boolean): Promise<NodeProcess[]> {
  const nodes: NodeProcess[] = []
  for (let i = 0; i < n; i++) {
    const args = ['--genesis', genesis, '--bootstrap', bootstrap]
    if (produce) args.push('--dev-compute-units', String(5 + 3 * i))
    nodes.push(new NodeProcess(join(dir, `n${i}`), args).start())
    await sleep(100) // stagger start-up on small machines
  }
  await Promise.all(nodes.map(async (nd) => await nd.waitFor((e) => e.event === 'ready', 120_000, 'ready')))
  // wait for a well-connected mesh (every node sees most others), then a little longer
  await until(async () => (await Promise.all(nodes.map(async (nd) => Number((await nd.status()).peers)))).every((p) => p >= Math.min(n - 1, 4)), 120_000, 'mesh', 500)
  return nodes
}

const ms = (e: LogEvent): number => Date.parse(e.time as string)

async function convergence (): Promise<void> {
  const n = Number(process.env.ECONUMI_BENCH_NODES ?? 10)
  const epochs = Number(process.env.ECONUMI_BENCH_EPOCHS ?? 40)
  const dir = tempDir('econumi-bench-conv-')
  const bs = await localBootstrap()
  let nodes: NodeProcess[] = []
  try {
    const genesis = writeGenesis(dir, { network: 'benchnet', epochMs: EPOCH_MS })
    nodes = await startNetwork(n, genesis, bs.address, dir, true)
    // warm-up: steady state is measured, so first every node holds the same head, then a few more epochs
    await until(async () => { const tips = await Promise.all(nodes.map(async (nd) => (await nd.status()).tipHash)); return tips[0] !== undefined && tips.every((x) => x === tips[0]) }, 120_000, 'one head on every node', 200)
    await sleep(3 * EPOCH_MS)
    const startAt = Date.now()
    await sleep(epochs * EPOCH_MS)
    await sleep(2 * EPOCH_MS) // let the last blocks arrive
    const perBlock: number[] = []
    const perPair: number[] = []
    const slowest: Array<{ worst: number, at: number, height: string, producer: number }> = []
    let missed = 0
    for (let i = 0; i < nodes.length; i++) {
      for (const b of nodes[i].events) {
        if (b.event !== 'block' || ms(b) < startAt || ms(b) > startAt + epochs * EPOCH_MS) continue
        let worst = 0
        let all = true
        for (let j = 0; j < nodes.length; j++) {
          if (j === i) continue
          const h = nodes[j].events.find((e) => e.event === 'head' && e.hash === b.hash)
          if (h === undefined) { all = false; continue }
          const d = Math.max(0, ms(h) - ms(b))
          perPair.push(d)
          worst = Math.max(worst, d)
        }
        if (all) { perBlock.push(worst); slowest.push({ worst, at: ms(b) - startAt, height: String(b.height), producer: i }) } else missed++
      }
    }
    perBlock.sort((a, b) => a - b)
    perPair.sort((a, b) => a - b)
    process.stdout.write(`${n} node processes, epoch ${EPOCH_MS} ms: ${perBlock.length} blocks reached every node (${missed} did not: orphaned or late), ${perPair.length} node arrivals\n`)
    process.stdout.write(`per node arrival: p50 ${percentile(perPair, 50)} ms, p99 ${percentile(perPair, 99)} ms\n`)
    const peers = await Promise.all(nodes.map(async (nd) => Number((await nd.status()).peers)))
    process.stdout.write(`peers per node at the end: min ${Math.min(...peers)}, max ${Math.max(...peers)}\n`)
    slowest.sort((a, b) => b.worst - a.worst)
    process.stdout.write(`slowest blocks: ${slowest.slice(0, 4).map((x) => `height ${x.height} by n${x.producer} at +${(x.at / 1000).toFixed(1)} s: ${x.worst} ms`).join('; ')}\n`)
    report({ name: `convergence-${n}-p50`, value: percentile(perBlock, 50), unit: 'ms (block log at producer → head at every node)', baseline: EPOCH_MS })
    report({ name: `convergence-${n}-p99`, value: percentile(perBlock, 99), unit: 'ms (block log at producer → head at every node)', baseline: EPOCH_MS })
  } finally {
    await Promise.all(nodes.map(async (nd) => await nd.stop()))
    await bs.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function txPropagation (): Promise<void> {
  const n = Number(process.env.ECONUMI_BENCH_TX_NODES ?? 10)
  const count = Number(process.env.ECONUMI_BENCH_TXS ?? 40)
  const dir = tempDir('econumi-bench-txp-')
  const bs = await localBootstrap()
  const sender = new Signer(Buffer.alloc(32, 42))
  const sink = new Signer(Buffer.alloc(32, 43))
  let nodes: NodeProcess[] = []
  try {
    const genesis = writeGenesis(dir, { network: 'benchnet', epochMs: EPOCH_MS, allocations: [{ address: addressFromPublicKey(sender.publicKey), amount: String(1000n * COIN) }] })
    const g = genesisHash(paramsFromJson(JSON.parse(readFileSync(genesis, 'utf8'))))
    nodes = await startNetwork(n, genesis, bs.address, dir, false) // no producers: transactions stay in the mempools
    // baseline: loopback HTTP round trips to the node API
    const rtts: number[] = []
    for (let i = 0; i < 50; i++) { const t0 = performance.now(); await nodes[0].status(); rtts.push(performance.now() - t0) }
    rtts.sort((a, b) => a - b)
    const rtt = percentile(rtts, 50)
    const lat: number[] = []
    for (let k = 0; k < count; k++) {
      const bytes = encodeTransaction(signTransaction({ from: sender.publicKey, to: addressBytesFromPublicKey(sink.publicKey), amount: 1000n, fee: 1000n, nonce: BigInt(k) }, sender, g))
      const at = nodes[k % n]
      const t0 = performance.now()
      const res = await at.api('POST', '/v1/transactions', { tx: Buffer.from(bytes).toString('hex') })
      if (res.status !== 200) throw new Error(`submit failed: ${JSON.stringify(res.body)}`)
      const txid = res.body.txid as string
      const seen = await Promise.all(nodes.map(async (nd) => {
        if (nd === at) return performance.now()
        for (;;) {
          if ((await nd.api('GET', `/v1/transactions/${txid}`)).status === 200) return performance.now()
          if (performance.now() - t0 > 30_000) throw new Error(`tx ${txid} did not reach every node`)
          await sleep(2)
        }
      }))
      lat.push(Math.max(...seen) - t0)
    }
    lat.sort((a, b) => a - b)
    process.stdout.write(`${n} node processes, ${count} transactions, polled over the API every ~2 ms; API round trip p50 ${rtt.toFixed(2)} ms\n`)
    report({ name: `tx-propagation-${n}-p50`, value: percentile(lat, 50), unit: 'ms (submit → held by every node)', baseline: rtt })
    report({ name: `tx-propagation-${n}-p99`, value: percentile(lat, 99), unit: 'ms (submit → held by every node)', baseline: rtt })
  } finally {
    await Promise.all(nodes.map(async (nd) => await nd.stop()))
    await bs.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

export const convergenceBench: Bench = { name: 'convergence', description: 'block convergence across 10 node processes (ECONUMI_BENCH_NODES), epoch 1000 ms: p50/p99 ms', run: convergence }
export const txPropagationBench: Bench = { name: 'tx-propagation', description: 'transaction propagation across 10 node processes: p50/p99 ms vs one API round trip', run: txPropagation }
export { convergenceBench as convergence, txPropagationBench as txPropagation }
