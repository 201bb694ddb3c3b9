// sync: a fresh node downloads and verifies a long chain from a serving node (both real processes on
// loopback, local DHT bootstrap), against raw Hypercore replication of the same core's bytes from the same
// serving process into a fresh Corestore in another process, in the same run.
import { spawn } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Corestore from 'corestore'
import DHT from 'hyperdht'
import Hyperswarm from 'hyperswarm'
import { FixedComputeUnits } from '../node/compute-units.js'
import { EconumiNode } from '../node/node.js'
import { addressBytesFromPublicKey, addressFromPublicKey } from '../protocol/address.js'
import { COIN } from '../protocol/amount.js'
import { taggedHash } from '../protocol/hash.js'
import { Signer } from '../protocol/keys.js'
import { epochStart, genesisHash, paramsFromJson } from '../protocol/params.js'
import { encodeTransaction, signTransaction } from '../protocol/transaction.js'
import { type Bench, report } from './lib.js'
import { NodeProcess, localBootstrap, nodeFlags, tempDir, until, writeGenesis } from './node-process.js'

const SELF = fileURLToPath(import.meta.url)

/** Senders of the transactions in full blocks: one per transaction of a block, so each block moves every nonce by one. */
function senders (count: number): Signer[] {
  return Array.from({ length: count }, (_, i) => new Signer(taggedHash('bench-sync-sender', Buffer.from(String(i)))))
}

/**
 * A long chain built in-process with a fake clock walking through past epochs; with txsPerBlock > 0 each
 * block carries that many transfers (signed, admitted and mined like any).
 */
async function buildChain (dataDir: string, genesisFile: string, blocks: number, txsPerBlock: number): Promise<{ tipHash: string, coreKey: string }> {
  const params = paramsFromJson(JSON.parse(readFileSync(genesisFile, 'utf8')))
  const g = genesisHash(params)
  const from = senders(txsPerBlock)
  const sink = addressBytesFromPublicKey(new Signer(taggedHash('bench-sync-sink', g)).publicKey)
  let epoch = 1n
  const node = await EconumiNode.open({ dataDir, params, computeUnits: new FixedComputeUnits(10n), now: () => Number(epochStart(params, epoch)) + 1 })
  try {
    for (let i = 0; i < blocks; i++, epoch++) {
      for (const s of from) {
        const tx = signTransaction({ from: s.publicKey, to: sink, amount: 1000n, fee: params.minFee, nonce: BigInt(i) }, s, g)
        await node.submitTransaction(encodeTransaction(tx))
      }
      let b = await node.produce(epoch)
      while (b === null && epoch < BigInt(blocks) * 10n) b = await node.produce(++epoch) // not a leader this epoch: the next
      if (b === null || b.txs.length !== txsPerBlock) throw new Error(`no full block at epoch ${epoch}`)
    }
    return { tipHash: Buffer.from(node.ledger.tip!.hash).toString('hex'), coreKey: node.store.ownKey }
  } finally {
    await node.close()
  }
}

/**
 * Child role: replicate one core by key from whoever serves it on the topic into a fresh Corestore.
 * Prints one JSON line: milliseconds from the first connection to holding every block, and the total.
 */
async function rawReplicaChild (): Promise<void> {
  const { port, topic, key, length, dir } = JSON.parse(process.env.ECONUMI_BENCH_RAW!) as { port: number, topic: string, key: string, length: number, dir: string }
  const t0 = performance.now()
  const store = new Corestore(dir)
  const core = store.get({ key: Buffer.from(key, 'hex') })
  await core.ready()
  const swarm = new Hyperswarm({ dht: new DHT({ bootstrap: [{ host: '127.0.0.1', port }], host: '127.0.0.1', firewalled: false }) })
  let connectedAt = -1
  swarm.on('connection', (conn: any) => {
    conn.on('error', () => {})
    if (connectedAt < 0) connectedAt = performance.now()
    store.replicate(conn)
  })
  swarm.join(Buffer.from(topic, 'hex'), { server: false, client: true })
  core.download({ start: 0, end: length })
  while (core.contiguousLength < length) {
    await new Promise((resolve) => { core.once('download', resolve); setTimeout(resolve, 200) })
  }
  const done = performance.now()
  process.stdout.write(JSON.stringify({ ms: done - connectedAt, totalMs: done - t0, length: core.contiguousLength }) + '\n')
  await swarm.destroy()
  await store.close()
}

async function rawReplicate (o: { port: number, topic: string, key: string, length: number, dir: string }): Promise<{ ms: number, totalMs: number }> {
  const child = spawn(process.execPath, [...nodeFlags(), SELF], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ECONUMI_BENCH_RAW: JSON.stringify(o) } })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise((resolve) => child.on('exit', resolve))
  if (code !== 0) throw new Error(`raw replica exited with ${String(code)}: ${out}`)
  return JSON.parse(out.trim().split('\n').pop()!)
}

async function run (name: string, blocks: number, txsPerBlock: number): Promise<void> {
  const dir = tempDir('econumi-bench-sync-')
  const nodes: NodeProcess[] = []
  const bs = await localBootstrap()
  try {
    const allocations = senders(txsPerBlock).map((s) => ({ address: addressFromPublicKey(s.publicKey), amount: String(1000n * COIN) }))
    const genesis = writeGenesis(dir, { network: 'benchnet', epochMs: 1000, genesisTime: Date.now() - (blocks + 100) * 1000, allocations, tau: '100' })
    let t0 = performance.now()
    const { tipHash, coreKey } = await buildChain(join(dir, 'server'), genesis, blocks, txsPerBlock)
    process.stdout.write(`built ${blocks} blocks of ${txsPerBlock} transactions in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
    // process A: the serving node (no compute units: it only serves)
    const server = new NodeProcess(join(dir, 'server'), ['--genesis', genesis, '--bootstrap', bs.address]).start()
    nodes.push(server)
    await server.waitFor((e) => e.event === 'ready', 60_000, 'server ready')
    const st = await server.status()
    if (st.tipHash !== tipHash) throw new Error('server does not hold the built chain')
    const target = Number(st.height)

    // (a) raw: the same core's bytes from process A into a fresh Corestore in process B
    const g = genesisHash(paramsFromJson(JSON.parse(readFileSync(genesis, 'utf8'))))
    const topicHex = Buffer.from(taggedHash('swarm-topic', g)).toString('hex')
    const raw = await rawReplicate({ port: bs.port, topic: topicHex, key: coreKey, length: blocks, dir: join(dir, 'raw') })
    const rawRate = blocks / (raw.ms / 1000)
    process.stdout.write(`raw replication: ${blocks} blocks in ${(raw.ms / 1000).toFixed(2)} s after connecting (${(raw.totalMs / 1000).toFixed(2)} s with startup)\n`)

    // (b) a fresh econumi node syncing (download + full verification + ledger) from process A
    const fresh = new NodeProcess(join(dir, 'fresh'), ['--genesis', genesis, '--bootstrap', bs.address])
    nodes.push(fresh)
    t0 = performance.now()
    fresh.start()
    let joinedAt = -1
    fresh.on((e) => { if (e.event === 'peer-joined' && joinedAt < 0) joinedAt = performance.now() })
    await fresh.waitFor((e) => e.event === 'ready', 60_000, 'fresh ready')
    await until(async () => Number((await fresh.status()).height) >= target, 600_000, 'fresh node at target', 50)
    const done = performance.now()
    const syncMs = done - (joinedAt < 0 ? t0 : joinedAt)
    const fst = await fresh.status()
    if (fst.tipHash !== tipHash) throw new Error('fresh node ended on another tip')
    const syncRate = blocks / (syncMs / 1000)
    process.stdout.write(`econumi sync: ${blocks} blocks in ${(syncMs / 1000).toFixed(2)} s after the peer joined (${((done - t0) / 1000).toFixed(2)} s with startup)\n`)

    report({ name: `${name}-raw-replication`, value: rawRate, unit: 'blocks/s', baseline: rawRate })
    report({ name, value: syncRate, unit: 'blocks/s', baseline: rawRate })
  } finally {
    for (const n of nodes) await n.stop()
    await bs.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.env.ECONUMI_BENCH_RAW !== undefined && process.argv[1] === SELF) {
  rawReplicaChild().catch((err) => { process.stderr.write(`raw replica failed: ${(err as Error).stack ?? String(err)}\n`); process.exit(1) })
}

const bench: Bench = {
  name: 'sync',
  description: 'fresh node syncing a 10,000-block chain (ECONUMI_BENCH_SYNC_BLOCKS) vs raw Hypercore replication of the same bytes (blocks/s)',
  run: async () => { await run('sync', Number(process.env.ECONUMI_BENCH_SYNC_BLOCKS ?? 10_000), 0) }
}
export default bench

/** The same with full blocks: what dominates is then every transaction's signature, not the lottery proofs. */
export const syncFullBlocks: Bench = {
  name: 'sync-full-blocks',
  description: 'fresh node syncing 100 blocks of 1000 transactions (ECONUMI_BENCH_SYNC_BLOCKS) vs raw Hypercore replication of the same bytes (blocks/s)',
  run: async () => { await run('sync-full-blocks', Number(process.env.ECONUMI_BENCH_SYNC_BLOCKS ?? 100), 1000) }
}
