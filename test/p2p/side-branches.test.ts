// A peer serving valid but losing branches (raw Hyperswarm in the test process) against a real node process: side
// blocks over the per-height cap are not kept, a branch that falls more than K (the reorg bound) below the head is
// forgotten, and both hold in the LevelDB index across a restart and a reindex (issue 14).
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { type Block, blockHash, encodeBlock } from '../../protocol/block.js'
import { toHex } from '../../protocol/encoding.js'
import { taggedHash } from '../../protocol/hash.js'
import { genesisHash, paramsFromJson } from '../../protocol/params.js'
import { MSG_HELLO, encodeMessage } from '../../protocol/wire.js'
import { MAX_SIDE_BLOCKS_PER_HEIGHT } from '../../node/side-branches.js'
import { genesisState, makeBlock, nextLeadEpoch, signerFrom } from '../helpers/chain.js'
import { rawPeer } from '../helpers/raw-peer.js'
import { CLI, NodeProcess, localBootstrap, tempDir, until, writeGenesis } from '../helpers/node-process.js'

const K = 16
const FLOOD = 30
const BRANCH = 3

async function cli (args: string[]): Promise<{ code: number, stdout: string }> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 120_000 }, (err, stdout) => { resolve({ code: err === null ? 0 : Number((err as { code?: unknown }).code ?? -1), stdout }) })
  })
}

/** Side entries (indexed, not canonical), orphans and equivocation markers of these leaders, read from the stopped node's ledger. */
async function readIndex (dir: string, winners: string[]): Promise<{ side: string[], byHeight: number, canonical: number, orphans: number, won: number, version?: string }> {
  const db = new ClassicLevel<string, string>(join(dir, 'ledger'), { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await db.open()
  try {
    const canonical = new Set<string>()
    for await (const v of db.values({ gte: 'height:', lt: 'height;' })) canonical.add(v)
    const side: string[] = []
    for await (const k of db.keys({ gte: 'block:', lt: 'block;' })) if (!canonical.has(k.slice(6))) side.push(k.slice(6))
    let byHeight = 0
    for await (const k of db.keys({ gte: 'byheight:', lt: 'byheight;' })) { byHeight++; if (!canonical.has(k.slice(26)) && !side.includes(k.slice(26))) side.push(`dangling ${k}`) }
    let orphans = 0
    for await (const _ of db.keys({ gte: 'orphan', lt: 'orphan~' })) orphans++
    let won = 0
    for (const w of winners) for await (const _ of db.keys({ gte: `meta:won:${w}:`, lt: `meta:won:${w};` })) won++
    return { side, byHeight, canonical: canonical.size, orphans, won, version: await db.get('meta:index') }
  } finally {
    await db.close()
  }
}

t.test('losing branches: a cap per height within K, forgotten below K, durable across restart and reindex', async (t) => {
  const dir = tempDir('econumi-side-')
  const genesisFile = writeGenesis(dir, { epochMs: 1000, tau: '100' })
  const json = JSON.parse(readFileSync(genesisFile, 'utf8'))
  writeFileSync(genesisFile, JSON.stringify({ ...json, reorgBound: String(K) }))
  const params = paramsFromJson(JSON.parse(readFileSync(genesisFile, 'utf8')))
  const g = genesisHash(params)
  const bs = await localBootstrap()
  const args = ['--genesis', genesisFile, '--bootstrap', bs.address, '--dev-compute-units', '10']
  let node = new NodeProcess(join(dir, 'node'), args).start()
  t.teardown(async () => { await node.stop(); await bs.close() })
  await node.ready()
  await until(async () => Number((await node.status()).height) >= 4 ? true : undefined, 30_000, 'the node\'s chain is longer than the branch')

  // the attacker: a branch of BRANCH blocks and FLOOD siblings, every one on the genesis, every one valid
  const state0 = genesisState(params)
  const branch: Block[] = []
  let s = state0
  const branchSigner = signerFrom('side-branch')
  for (let i = 0; i < BRANCH; i++) { const b = makeBlock(s, [], { signer: branchSigner }); branch.push(b); s = s.apply(b) }
  const flood: Block[] = []
  const winners = [toHex(branchSigner.publicKey)]
  for (let i = 0; i < FLOOD; i++) {
    const signer = signerFrom(`side-flood-${i}`)
    flood.push(makeBlock(state0, [], { signer, epoch: nextLeadEpoch(state0, signer, 1n) }))
    winners.push(toHex(signer.publicKey))
  }
  const hashOf = (b: Block): string => toHex(blockHash(b.header))
  const peer = rawPeer(bs.port, Buffer.from(taggedHash('swarm-topic', g)), join(dir, 'raw-store'))
  t.teardown(async () => { await peer.close() })
  const blocks = peer.store.get({ name: 'blocks' })
  const records = peer.store.get({ name: 'attestations' })
  await blocks.ready(); await records.ready()
  await blocks.append([...branch, ...flood].map((b) => Buffer.from(encodeBlock(b))))
  const send = await peer.connected
  await until(async () => (await node.status()).peers === 1, 15_000, 'node sees the raw peer')
  send(encodeMessage({ type: MSG_HELLO, hello: { genesis: g, blocksCore: blocks.key, recordsCore: records.key, tip: null } }))

  const known = async (bs: Block[]): Promise<number> => (await Promise.all(bs.map(async (b) => (await node.api('GET', `/v1/blocks/${hashOf(b)}`)).status === 200))).filter(Boolean).length
  // within K: the branch is kept (its first block leads to the longest side tip), the flood only up to the cap
  await until(async () => await known(branch) === BRANCH ? true : undefined, 30_000, 'the branch is indexed')
  await until(async () => (await known(flood)) <= MAX_SIDE_BLOCKS_PER_HEIGHT - 1 && node.events.some((e) => e.event === 'side-pruned') ? true : undefined, 15_000, 'the flood is cut to the cap')
  const height = Number((await node.status()).height)
  t.ok(height < K, `still within K of the forks (height ${height})`)
  t.equal(await known(branch), BRANCH, 'the losing branch within K is kept')
  t.equal(await known(flood), MAX_SIDE_BLOCKS_PER_HEIGHT - 1, `siblings at height 0: the branch's first block and ${MAX_SIDE_BLOCKS_PER_HEIGHT - 1} of ${FLOOD} flood blocks`)
  t.equal((await node.status()).peers, 1, 'valid blocks: the peer is not dropped')

  // once the head is more than K above the forks, none of them can be adopted: all forgotten
  await until(async () => Number((await node.status()).height) >= K + BRANCH + 1 ? true : undefined, 60_000, 'the head passes K above the branch')
  await until(async () => await known([...branch, ...flood]) === 0 ? true : undefined, 10_000, 'every losing block forgotten')
  t.pass('no losing block is known once it forks more than K below the head')
  const tip = (await node.status()).tipHash
  await node.stop()
  t.equal(node.proc?.exitCode, 0, 'node process exited cleanly')
  let idx = await readIndex(node.dir, winners)
  t.same(idx.side, [], 'no side entry left in the ledger')
  t.equal(idx.byHeight, idx.canonical, 'one by-height key per canonical block')
  t.equal(idx.won, 0, 'no equivocation marker of a forgotten block left')
  t.equal(idx.orphans, 0, 'no orphan left')

  // a restart (offline) and a reindex keep it so, and the chain is the same
  node = new NodeProcess(join(dir, 'node'), ['--offline']).start()
  await node.ready()
  t.equal((await node.status()).tipHash, tip, 'restart: same tip')
  await node.stop()
  t.equal(node.proc?.exitCode, 0, 'restarted node exited cleanly')
  const r = await cli(['--data-dir', join(dir, 'node'), '--json', 'reindex'])
  t.equal(r.code, 0, 'reindex succeeds')
  idx = await readIndex(node.dir, winners)
  t.same(idx.side, [], 'reindex: the losing branch is not indexed again')
  t.equal(idx.byHeight, idx.canonical, 'reindex: the by-height index is rebuilt')
  t.equal(idx.version, '2', 'reindex: the index is of the current layout')
  t.equal(idx.won, 0, 'reindex: no marker of a losing block')
  node = new NodeProcess(join(dir, 'node'), ['--offline']).start()
  await node.ready()
  t.equal((await node.status()).tipHash, tip, 'after reindex: same tip')
  await node.stop()
  t.equal(node.proc?.exitCode, 0, 'node process exited cleanly')
})
