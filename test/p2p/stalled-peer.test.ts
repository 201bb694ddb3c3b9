// A peer that stops acknowledging (its process SIGSTOPped) while the node relays a flood of valid transactions:
// what the node queues to it stays within MAX_SEND_QUEUED_BYTES (the rest is dropped and logged), no peer is
// charged, the node keeps producing, and the transport drops the stopped peer in the end.
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { addressBytesFromPublicKey, addressFromPublicKey } from '../../protocol/address.js'
import { taggedHash } from '../../protocol/hash.js'
import { COIN } from '../../protocol/amount.js'
import { genesisHash, paramsFromJson } from '../../protocol/params.js'
import { encodeTransaction, signTransaction } from '../../protocol/transaction.js'
import { MSG_HELLO, encodeMessage } from '../../protocol/wire.js'
import { MAX_SEND_QUEUED_BYTES } from '../../node/network.js'
import { signerFrom } from '../helpers/chain.js'
import { rawPeer } from '../helpers/raw-peer.js'
import { NodeProcess, localBootstrap, tempDir, until, writeGenesis } from '../helpers/node-process.js'

const STALLED = fileURLToPath(new URL('../helpers/stalled-peer.ts', import.meta.url))
const SENDERS = 100
const NONCES = 200 // 20,000 transactions, ~4 MB relayed: several times the bound
const LANES = 16

t.test('a peer that stops acknowledging: what is queued to it stays bounded, and it is not charged', async (t) => {
  const dir = tempDir('econumi-stalled-')
  const senders = Array.from({ length: SENDERS }, (_, i) => signerFrom(`stalled-sender-${i}`))
  const genesisFile = writeGenesis(dir, { epochMs: 1000, allocations: senders.map((s) => ({ address: addressFromPublicKey(s.publicKey), amount: String(1000n * COIN) })) })
  const params = paramsFromJson(JSON.parse(readFileSync(genesisFile, 'utf8')))
  const g = genesisHash(params)
  const topic = Buffer.from(taggedHash('swarm-topic', g))
  const bs = await localBootstrap()
  const node = new NodeProcess(join(dir, 'node'), ['--genesis', genesisFile, '--bootstrap', bs.address, '--dev-compute-units', '10']).start()
  t.teardown(async () => { await node.stop(); await bs.close() })
  await node.ready()
  await node.waitFor((e) => e.event === 'block', 15_000, 'first block')

  // the peer that will stop, in its own process
  const child = spawn(process.execPath, [...process.execArgv, STALLED, String(bs.port), topic.toString('hex'), join(dir, 'stalled-store')], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TAP_CHILD_ID: undefined } })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(async () => { if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited } })
  const stalledKey = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); const m = /\{"key":"([0-9a-f]{64})"\}/.exec(out); if (m !== null) resolve(m[1]) })
    child.once('exit', (code) => reject(new Error(`stalled peer exited (${String(code)}) before connecting`)))
  })
  const stalledPeer = async (): Promise<Record<string, any> | undefined> => ((await node.api('GET', '/v1/peers')).body.peers as Array<Record<string, any>>).find((p) => p.nodeId === stalledKey)
  await until(stalledPeer, 15_000, 'node sees the peer that will stop')

  // a peer that keeps acknowledging, in this process: it is relayed the same transactions
  const acking = rawPeer(bs.port, topic, join(dir, 'acking-store'))
  t.teardown(async () => { await acking.close() })
  const blocks = acking.store.get({ name: 'blocks' })
  const records = acking.store.get({ name: 'attestations' })
  await blocks.ready(); await records.ready()
  // it may also reach the other raw peer: its channel to the node is the one named by the node's key
  const nodeId = (await node.status()).nodeId as string
  const ch = await until(async () => acking.open.find((c) => c.remote.toString('hex') === nodeId), 15_000, 'channel to the node')
  ch.send(encodeMessage({ type: MSG_HELLO, hello: { genesis: g, blocksCore: blocks.key, recordsCore: records.key, tip: null } }))
  await until(async () => ((await node.api('GET', '/v1/peers')).body.peers as unknown[]).length === 2 ? true : undefined, 15_000, 'node sees both peers')

  // valid transactions submitted to the node, each admitted and relayed to every peer (signed before the clock starts)
  const sink = addressBytesFromPublicKey(signerFrom('stalled-sink').publicKey)
  const txs = senders.map((s) => Array.from({ length: NONCES }, (_, n) => encodeTransaction(signTransaction({ from: s.publicKey, to: sink, amount: 1000n, fee: params.minFee, nonce: BigInt(n) }, s, g))))
  const heightBefore = Number((await node.status()).height)
  process.kill(child.pid!, 'SIGSTOP')
  let maxQueued = 0
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      const p = await stalledPeer()
      if (p === undefined) break // the transport gave up on it
      maxQueued = Math.max(maxQueued, p.sendQueued as number)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })()
  const start = Date.now()
  let admitted = 0
  await Promise.all(Array.from({ length: LANES }, async (_, lane) => {
    for (let i = lane; i < SENDERS; i += LANES) {
      for (const tx of txs[i]) {
        const r = await node.api('POST', '/v1/transactions', { tx: Buffer.from(tx).toString('hex') })
        if (r.status !== 200) throw new Error(`submission refused: ${JSON.stringify(r.body)}`)
        admitted++
      }
    }
  }))
  sampling = false
  await sampler
  t.equal(admitted, SENDERS * NONCES, `${admitted} transactions admitted and relayed in ${Date.now() - start} ms`)

  const slack = 64 * 1024 // frames written below the check (Hypercore's own messages), at most a few
  t.ok(maxQueued <= MAX_SEND_QUEUED_BYTES + slack, `queued to the stopped peer at most ${maxQueued} bytes (bound ${MAX_SEND_QUEUED_BYTES})`)
  const throttled = node.events.filter((e) => e.event === 'peer-send-throttled' && e.peer === stalledKey.slice(0, 16))
  t.ok(throttled.length > 0 && throttled.some((e) => Number(e.dropped) > 0), `frames to it dropped and logged: ${throttled.map((e) => String(e.dropped)).join(', ')}`)
  t.same(node.events.filter((e) => e.event === 'peer-send-throttled' && e.peer !== stalledKey.slice(0, 16)), [], 'the peer that acknowledges is not throttled')
  t.same(node.events.filter((e) => e.event === 'peer-penalized'), [], 'no peer is charged')

  const h = await until(async () => { const x = Number((await node.status()).height); return x >= heightBefore + 2 ? x : undefined }, 20_000, 'height keeps increasing')
  t.ok(h >= heightBefore + 2, `node still producing (height ${heightBefore} → ${h})`)
  // a peer that never acknowledges is dropped by the transport's retransmission timeout, with no ban
  await until(async () => (await stalledPeer()) === undefined ? true : undefined, 60_000, 'the stopped peer dropped')
  t.pass('the stopped peer was dropped')
  t.same(node.events.filter((e) => e.event === 'peer-banned'), [], 'and not banned')

  process.kill(child.pid!, 'SIGKILL')
  await exited
  t.ok(child.signalCode === 'SIGKILL', 'the stopped peer\'s process is gone')
  await acking.close()
  await node.stop()
  t.equal(node.proc?.exitCode, 0, 'node exited on SIGTERM')
  t.throws(() => process.kill(node.proc!.pid!, 0), 'node process gone')
})
