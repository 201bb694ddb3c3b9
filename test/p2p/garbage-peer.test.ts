// A misbehaving peer (raw Hyperswarm in the test process) against a real node process: garbage frames,
// oversized frames, unknown types, a wrong-network hello, and a chain core holding garbage and a block
// with a bad signature (its own, or one it only announced: the announcer pays). The node keeps running and producing, scores and bans the peer, and drops it; a flood
// faster than it checks is dropped at a per-peer in-flight bound.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodeBlock } from '../../protocol/block.js'
import { taggedHash } from '../../protocol/hash.js'
import { genesisHash, paramsFromJson } from '../../protocol/params.js'
import { MAX_CORES_PER_MESSAGE, MAX_FRAME_BYTES, MSG_CORES, MSG_HELLO, MSG_TIP, MSG_TX, WIRE_VERSION, encodeMessage } from '../../protocol/wire.js'
import { addressBytesFromPublicKey } from '../../protocol/address.js'
import { encodeTransaction, signTransaction } from '../../protocol/transaction.js'
import { MAX_IN_FLIGHT_PER_PEER } from '../../node/network.js'
import { genesisState, makeBlock, nextLeadEpoch, signerFrom } from '../helpers/chain.js'
import { MAX_ORPHANS_PER_CORE } from '../../node/chain.js'
import { MAX_UNPROVEN_CORES_PER_PEER } from '../../node/sync.js'
import { type RawPeer, rawPeer } from '../helpers/raw-peer.js'
import { type LogEvent, NodeProcess, localBootstrap, tempDir, until, writeGenesis } from '../helpers/node-process.js'

async function setup (t: Test): Promise<{ node: NodeProcess, bs: Awaited<ReturnType<typeof localBootstrap>>, topic: Buffer, g: Uint8Array, genesisFile: string, dir: string }> {
  const dir = tempDir('econumi-garbage-')
  const genesisFile = writeGenesis(dir, { epochMs: 1000 })
  const g = genesisHash(paramsFromJson(JSON.parse(readFileSync(genesisFile, 'utf8'))))
  const bs = await localBootstrap()
  const node = new NodeProcess(join(dir, 'node'), ['--genesis', genesisFile, '--bootstrap', bs.address, '--dev-compute-units', '10']).start()
  t.teardown(async () => { await node.stop(); await bs.close() })
  await node.ready()
  await node.waitFor((e) => e.event === 'block', 15_000, 'first block')
  return { node, bs, topic: Buffer.from(taggedHash('swarm-topic', g)), g, genesisFile, dir }
}

const of = (node: NodeProcess, event: string): LogEvent[] => node.events.filter((e) => e.event === event)

async function stillProducing (t: Test, node: NodeProcess, from: number): Promise<void> {
  const h = await until(async () => { const x = Number((await node.status()).height); return x >= from + 2 ? x : undefined }, 15_000, 'height keeps increasing')
  t.ok(h >= from + 2, `node still producing (height ${from} → ${h})`)
  t.equal(node.proc?.exitCode, null, 'node process still running')
  t.same(of(node, 'produce-failed'), [], 'no failed production')
  t.same(of(node, 'peer-handler-error'), [], 'no unexpected handler errors')
}

t.test('garbage frames, oversized frame, unknown type, wrong-network hello', async (t) => {
  const { node, bs, topic, dir } = await setup(t)
  const peer = rawPeer(bs.port, topic, join(dir, 'raw-store'))
  t.teardown(async () => { await peer.close() })
  const send = await peer.connected
  await until(async () => (await node.status()).peers === 1, 15_000, 'node sees the raw peer')
  const before = Number((await node.status()).height)

  send(randomBytes(7)) // garbage (wrong version byte unless unlucky)
  send(Buffer.concat([Buffer.from([WIRE_VERSION, MSG_HELLO]), randomBytes(40)])) // truncated hello
  send(randomBytes(MAX_FRAME_BYTES + 100)) // oversized
  send(Buffer.from([WIRE_VERSION, 99, 1, 2, 3])) // unknown type
  await until(async () => of(node, 'peer-penalized').length >= 4 ? true : undefined, 10_000, 'four penalties')
  const reasons = of(node, 'peer-penalized').map((e) => e.reason as string)
  t.ok(reasons.includes('E_WIRE_OVERSIZE'), 'oversized frame penalized')
  t.ok(reasons.includes('E_WIRE_TYPE'), 'unknown type penalized')
  t.ok(reasons.length >= 4, `penalties: ${reasons.join(', ')}`)
  t.same(of(node, 'peer-banned'), [], 'not banned yet')

  // a hello for another network: banned at once
  const other = taggedHash('other-network', new Uint8Array(32))
  send(encodeMessage({ type: MSG_HELLO, hello: { genesis: other, blocksCore: randomBytes(32), recordsCore: randomBytes(32), tip: null } }))
  const banned = await node.waitFor((e) => e.event === 'peer-banned', 10_000, 'peer-banned')
  t.equal(banned.reason, 'E_WRONG_NETWORK')
  t.equal(banned.peer, peer.key.toString('hex').slice(0, 16), 'the raw peer is the one banned')
  await until(async () => (await node.status()).peers === 0, 15_000, 'banned peer dropped')
  t.pass('peer dropped')
  await stillProducing(t, node, before)
  // the ban holds: the swarm keeps retrying but the node refuses it
  await new Promise((resolve) => setTimeout(resolve, 2000))
  t.equal((await node.status()).peers, 0, 'banned peer stays out')
})

t.test('a peer serving a core with garbage and a block with a bad signature', async (t) => {
  const { node, bs, topic, g, dir, genesisFile } = await setup(t)
  const params = paramsFromJson(JSON.parse(readFileSync(genesisFile, 'utf8')))
  const peer = rawPeer(bs.port, topic, join(dir, 'raw-store'))
  t.teardown(async () => { await peer.close() })
  const blocks = peer.store.get({ name: 'blocks' })
  const records = peer.store.get({ name: 'attestations' })
  await blocks.ready(); await records.ready()
  const bad = makeBlock(genesisState(params), [], { epoch: 1n })
  bad.signature = Uint8Array.from(bad.signature)
  bad.signature[0] ^= 0xff
  await blocks.append(randomBytes(300)) // garbage entry
  await blocks.append(Buffer.from(encodeBlock(bad))) // well-formed block, forged signature
  const send = await peer.connected
  await until(async () => (await node.status()).peers === 1, 15_000, 'node sees the raw peer')
  const before = Number((await node.status()).height)
  const tipBefore = (await node.status()).tipHash as string

  send(encodeMessage({ type: MSG_HELLO, hello: { genesis: g, blocksCore: blocks.key, recordsCore: records.key, tip: null } }))
  const banned = await node.waitFor((e) => e.event === 'peer-banned', 20_000, 'peer-banned')
  t.equal(banned.peer, peer.key.toString('hex').slice(0, 16), 'the raw peer is the one banned')
  const penalties = of(node, 'peer-penalized')
  t.ok(penalties.length >= 2, `penalties: ${penalties.map((e) => `${e.reason as string}(${e.points as number})`).join(', ')}`)
  const rejected = of(node, 'block-rejected')
  t.ok(rejected.length >= 1, `bad block rejected: ${rejected.map((e) => e.code as string).join(', ')}`)
  await until(async () => (await node.status()).peers === 0, 15_000, 'banned peer dropped')
  t.pass('peer dropped')

  // the chain is unaffected: the forged block never became part of it, and the chain grows on the old tip
  const res = await node.api('GET', '/v1/blocks/0')
  t.not(res.body.hash, undefined)
  const h0 = await node.api('GET', `/v1/blocks/${before}`)
  t.equal(h0.body.hash, tipBefore, 'the tip before the attack is still on the chain')
  await stillProducing(t, node, before)
})

/** A node and a raw peer connected to it, with the peer's own (empty) chain and attestation cores. */
async function connectedPeer (t: Test): Promise<{ node: NodeProcess, g: Uint8Array, peer: RawPeer, blocks: any, records: any, send: (frame: Uint8Array) => void }> {
  const { node, bs, topic, g, dir } = await setup(t)
  const peer = rawPeer(bs.port, topic, join(dir, 'raw-store'))
  t.teardown(async () => { await peer.close() })
  const blocks = peer.store.get({ name: 'blocks' })
  const records = peer.store.get({ name: 'attestations' })
  await blocks.ready(); await records.ready()
  const send = await peer.connected
  await until(async () => (await node.status()).peers === 1, 15_000, 'node sees the raw peer')
  return { node, g, peer, blocks, records, send }
}

t.test('a fake tip announcement (height 999,999,999) does not halt production', async (t) => {
  const { node, g, blocks, records, send } = await connectedPeer(t)
  const before = Number((await node.status()).height)
  const tip = { height: 999_999_999n, hash: randomBytes(32) }
  send(encodeMessage({ type: MSG_HELLO, hello: { genesis: g, blocksCore: blocks.key, recordsCore: records.key, tip } }))
  const announce = setInterval(() => send(encodeMessage({ type: MSG_TIP, tip })), 300)
  t.teardown(() => clearInterval(announce))
  await until(async () => Number((await node.status()).sync.target) === 999_999_999 ? true : undefined, 10_000, 'the announcement is shown as a sync target')
  await stillProducing(t, node, before)
  t.same(of(node, 'produce-skipped').filter((e) => e.reason === 'syncing'), [], 'never skipped production as "syncing" on a peer\'s word')
})

t.test('a core-announcement flood: a quota per peer, nothing persisted or relayed unproven, no penalty for a local limit', async (t) => {
  const { node, g, blocks, records, send } = await connectedPeer(t)
  send(encodeMessage({ type: MSG_HELLO, hello: { genesis: g, blocksCore: blocks.key, recordsCore: records.key, tip: null } }))
  for (let i = 0; i < 4096 / MAX_CORES_PER_MESSAGE; i++) send(encodeMessage({ type: MSG_CORES, cores: Array.from({ length: MAX_CORES_PER_MESSAGE }, () => randomBytes(32)) }))
  await new Promise((resolve) => setTimeout(resolve, 3000))
  t.equal((await node.status()).peers, 1, 'the announcing peer is still connected')
  t.same(of(node, 'peer-penalized').filter((e) => e.reason === 'E_TOO_MANY_CORES'), [], 'not penalised for the node\'s own limit')
  await node.stop()
  // what was persisted: no announced core (none served a valid block); the peer's own core at most
  const { ClassicLevel } = await import('classic-level')
  const db = new ClassicLevel<string, string>(join(node.dir, 'ledger'), { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await db.open()
  const persisted: string[] = []
  for await (const k of db.keys({ gte: 'meta:core:', lt: 'meta:core;' })) persisted.push(k)
  await db.close()
  t.same(persisted, [], `no unproven core was persisted (${persisted.length})`)
})

t.test('a peer that leaves takes its unproven cores with it: closed and purged, not replicated for good', async (t) => {
  const { node, g, peer, blocks, records, send } = await connectedPeer(t)
  send(encodeMessage({ type: MSG_HELLO, hello: { genesis: g, blocksCore: blocks.key, recordsCore: records.key, tip: null } }))
  await node.waitFor((e) => e.event === 'peer-joined', 10_000, 'peer-joined')
  send(encodeMessage({ type: MSG_CORES, cores: Array.from({ length: MAX_CORES_PER_MESSAGE }, () => randomBytes(32)) }))
  await new Promise((resolve) => setTimeout(resolve, 1500))
  await peer.close()
  const dropped = await node.waitFor((e) => e.event === 'cores-dropped', 15_000, 'cores-dropped')
  // its quota of announced cores and its own (empty, so unproven) core; none holds orphans, so all are purged
  t.equal(dropped.cores, MAX_UNPROVEN_CORES_PER_PEER + 1, `cores dropped: ${String(dropped.cores)}`)
  t.equal(dropped.purged, dropped.cores, 'all purged')
  t.equal(dropped.peer, peer.key.toString('hex').slice(0, 16), 'the departed peer\'s')
  t.same(of(node, 'index-failed'), [], 'no indexing failed on a dropped core')
})

t.test('a core nobody owns that serves a bad block is charged to the peer that announced it', async (t) => {
  const { node, g, peer, blocks, records, send } = await connectedPeer(t)
  const params = paramsFromJson(JSON.parse(readFileSync(join(node.dir, '..', 'genesis.json'), 'utf8')))
  // the peer's own core stays empty; the bad block is in a second core it only announces (no node owns it)
  const other = peer.store.get({ name: 'announced' })
  await other.ready()
  const bad = makeBlock(genesisState(params), [], { epoch: 1n })
  bad.signature = Uint8Array.from(bad.signature)
  bad.signature[0] ^= 0xff
  await other.append(Buffer.from(encodeBlock(bad)))
  send(encodeMessage({ type: MSG_HELLO, hello: { genesis: g, blocksCore: blocks.key, recordsCore: records.key, tip: null } }))
  await node.waitFor((e) => e.event === 'peer-joined', 10_000, 'peer-joined')
  send(encodeMessage({ type: MSG_CORES, cores: [other.key] }))
  const core = other.key.toString('hex').slice(0, 16)
  const rejected = await node.waitFor((e) => e.event === 'block-rejected' && e.core === core, 20_000, 'the announced core\'s block rejected')
  const charged = await until(async () => of(node, 'peer-penalized').find((e) => e.reason === rejected.code), 10_000, 'the announcer charged')
  t.equal(charged.peer, peer.key.toString('hex').slice(0, 16), `charged to the announcer (${String(rejected.code)})`)
})

t.test('repeated HELLOs: the same one again is only a tip, one naming another core is charged', async (t) => {
  const { node, g, blocks, records, send, peer } = await connectedPeer(t)
  const hello = encodeMessage({ type: MSG_HELLO, hello: { genesis: g, blocksCore: blocks.key, recordsCore: records.key, tip: null } })
  for (let i = 0; i < 3; i++) send(hello)
  await node.waitFor((e) => e.event === 'peer-joined', 10_000, 'peer-joined')
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const me = peer.key.toString('hex').slice(0, 16)
  t.equal(of(node, 'peer-joined').filter((e) => e.peer === me).length, 1, 'three identical HELLOs: joined once')
  t.same(of(node, 'peer-penalized'), [], 'and not charged')
  // each HELLO naming a new core would be one more core watched (HELLO is not under the announcement quota)
  for (let i = 0; i < 10; i++) send(encodeMessage({ type: MSG_HELLO, hello: { genesis: g, blocksCore: randomBytes(32), recordsCore: randomBytes(32), tip: null } }))
  const charged = await until(async () => { const p = of(node, 'peer-penalized').filter((e) => e.reason === 'E_WIRE_HELLO'); return p.length > 0 ? p : undefined }, 10_000, 'a HELLO naming another core charged')
  t.equal(charged[0].peer, me, 'charged to the peer that sent it')
  t.equal(of(node, 'peer-joined').filter((e) => e.peer === me).length, 1, 'still joined once')
})

t.test('an orphan flood: blocks on unknown parents are bounded per core, never penalised, and the node keeps producing', async (t) => {
  const { node, g, blocks, records, send } = await connectedPeer(t)
  const params = paramsFromJson(JSON.parse(readFileSync(join(node.dir, '..', 'genesis.json'), 'utf8')))
  const state = genesisState(params)
  // a key that leads in an epoch that has begun: its blocks pass every check but the parent lookup
  let signer = signerFrom('orphan-0')
  for (let i = 1; nextLeadEpoch(state, signer, 1n) > 2n; i++) signer = signerFrom(`orphan-${i}`)
  const epoch = nextLeadEpoch(state, signer, 1n)
  const flood = MAX_ORPHANS_PER_CORE + 64
  const frames: Buffer[] = []
  for (let i = 0; i < flood; i++) frames.push(Buffer.from(encodeBlock(makeBlock(state, [], { signer, epoch, prevHash: randomBytes(32), height: 5n + BigInt(i) }))))
  await blocks.append(frames)
  const before = Number((await node.status()).height)
  send(encodeMessage({ type: MSG_HELLO, hello: { genesis: g, blocksCore: blocks.key, recordsCore: records.key, tip: null } }))
  const deferred = await node.waitFor((e) => e.event === 'index-deferred', 30_000, 'the core is deferred once its share of the pool is full')
  t.equal(deferred.seq, MAX_ORPHANS_PER_CORE, 'deferred at the first block over the per-core bound')
  await stillProducing(t, node, before)
  t.equal((await node.status()).peers, 1, 'the peer is still connected')
  t.same(of(node, 'peer-penalized'), [], 'orphans are not provably bad: no penalty')
  t.equal(of(node, 'index-deferred').length, 1, 'logged once, not at every retry')
  await node.stop()
  t.equal(node.proc?.exitCode, 0, 'node process exited cleanly')
  const { ClassicLevel } = await import('classic-level')
  const db = new ClassicLevel<string, string>(join(node.dir, 'ledger'), { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await db.open()
  let orphans = 0
  for await (const _ of db.keys({ gte: 'orphan:', lt: 'orphan;' })) orphans++
  await db.close()
  t.equal(orphans, MAX_ORPHANS_PER_CORE, `orphans kept: ${orphans} of ${flood} sent`)
})

t.test('a transaction flood faster than the node checks: frames beyond the in-flight bound are dropped, uncharged, and memory stays bounded', async (t) => {
  const { node, g, blocks, records, send, peer } = await connectedPeer(t)
  send(encodeMessage({ type: MSG_HELLO, hello: { genesis: g, blocksCore: blocks.key, recordsCore: records.key, tip: null } }))
  // one valid signature with a nonce gap: never admitted (so never deduplicated), checked again every time, not the sender's fault
  const sender = signerFrom('flood-sender')
  const frame = encodeMessage({ type: MSG_TX, tx: encodeTransaction(signTransaction({ from: sender.publicKey, to: addressBytesFromPublicKey(signerFrom('sink').publicKey), amount: 1000n, fee: 1000n, nonce: 7n }, sender, g)) })
  const ch = peer.open[0]
  const rssMb = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${node.proc!.pid!}/status`, 'utf8'))![1]) / 1024
  const before = rssMb()
  const height = Number((await node.status()).height)
  let peak = before
  const sampler = setInterval(() => { peak = Math.max(peak, rssMb()) }, 100)
  t.teardown(() => clearInterval(sampler))
  for (let i = 0; i < 60_000; i++) if (!ch.send(frame)) await ch.drained()
  await new Promise((resolve) => setTimeout(resolve, 2000)) // what was read is being handled
  clearInterval(sampler)
  t.ok(peak - before < 200, `RSS grew ${Math.round(peak - before)} MB (${Math.round(before)} → ${Math.round(peak)} MB)`)
  const throttled = await node.waitFor((e) => e.event === 'peer-throttled', 10_000, 'peer-throttled')
  t.ok(Number(throttled.dropped) > 0, `frames dropped at the bound: ${String(throttled.dropped)}`)
  t.ok(Number(throttled.inFlight) <= MAX_IN_FLIGHT_PER_PEER, `in flight ${String(throttled.inFlight)} ≤ ${MAX_IN_FLIGHT_PER_PEER}`)
  await stillProducing(t, node, height)
  t.equal((await node.status()).peers, 1, 'the flooding peer is still connected')
  t.same(of(node, 'peer-penalized'), [], 'a local limit costs the peer nothing')
})
