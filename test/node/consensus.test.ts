// Consensus v2 in a real node (LevelDB ledger, Hypercore cores, the sync path): blocks from future epochs are held,
// reorgs deeper than K are refused, and a leader with a better claim for the same parent and epoch publishes it
// instead of giving up when another leader's block became its head first.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { encodeBlock, type Block } from '../../protocol/block.js'
import { makeClaim, scoreClaim } from '../../protocol/claim.js'
import { toHex } from '../../protocol/encoding.js'
import { type NetworkParams, epochStart, genesisHash } from '../../protocol/params.js'
import { MemoryState } from '../../protocol/state.js'
import { isEligible, leaderWeight } from '../../protocol/weights.js'
import { FixedComputeUnits } from '../../node/compute-units.js'
import { loadOrCreateIdentity } from '../../node/identity.js'
import { EconumiNode } from '../../node/node.js'
import { makeBlock, signerFrom, testParams } from '../helpers/chain.js'
import { type Signer } from '../../protocol/keys.js'

function tempDir (): string { return mkdtempSync(join(tmpdir(), 'econumi-consensus-')) }

/** Put blocks into a core of the node's own store (as a peer's core would arrive) and let sync index it. */
async function serve (node: EconumiNode, name: string, blocks: Block[]): Promise<string> {
  const core = node.store.store.get({ name })
  await core.ready()
  for (const b of blocks) await core.append(Buffer.from(encodeBlock(b)))
  const key = toHex(core.key)
  await node.sync.addAnnouncedCore(key, 'a-peer')
  return key
}

async function settle (node: EconumiNode): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    if (!node.sync.behind && node.sync.pendingVerified === 0) return
  }
}

t.test('a block from an epoch that has not begun is held, not applied, until its epoch starts', async (t) => {
  const p = testParams({ genesisTime: BigInt(Date.now()) - 10_000n })
  let now = Date.now()
  const events: Array<{ event: string, [k: string]: unknown }> = []
  const node = await EconumiNode.open({ dataDir: tempDir(), params: p, now: () => now, log: (event, fields = {}) => events.push({ event, ...fields }) })
  t.teardown(async () => { await node.close() })
  // a valid block dated two years ahead (the first design let 50 of those become the head)
  const s0 = MemoryState.genesisState(p, genesisHash(p))
  const farEpoch = (2n * 365n * 86_400_000n) / p.epochMs
  const far = makeBlock(s0, [], { signer: signerFrom('time-traveller'), ...(await leadAt(s0, signerFrom('time-traveller'), farEpoch)) })
  const key = await serve(node, 'future', [far])
  await settle(node)
  t.equal(node.ledger.height, -1n, 'not applied')
  t.ok(events.some((e) => e.event === 'block-held' && e.epoch === far.header.epoch), 'logged as held')
  // when its epoch begins (by this node's clock) it is applied
  now = Number(epochStart(p, far.header.epoch)) + 10
  node.sync.scheduleIndex(key)
  await settle(node)
  t.equal(node.ledger.height, 0n, 'applied once its epoch began')
})

async function leadAt (s: MemoryState, signer: Signer, from: bigint): Promise<{ epoch: bigint }> {
  const { nextLeadEpoch } = await import('../helpers/chain.js')
  return { epoch: nextLeadEpoch(s, signer, from) }
}

t.test('a reorg deeper than K is refused and logged', async (t) => {
  const p = testParams({ genesisTime: BigInt(Date.now()) - 3_600_000n, reorgBound: 3n, tauMilli: 100_000n })
  let epoch = 1n
  const events: Array<{ event: string, [k: string]: unknown }> = []
  const node = await EconumiNode.open({ dataDir: tempDir(), params: p, computeUnits: new FixedComputeUnits(10n), now: () => Number(epochStart(p, epoch)) + 1, log: (event, fields = {}) => events.push({ event, ...fields }) })
  t.teardown(async () => { await node.close() })
  for (; epoch <= 6n; epoch++) t.ok(await node.produce(epoch), `own block at epoch ${epoch}`)
  const ownTip = toHex(node.ledger.tip!.hash)
  t.equal(node.ledger.height, 5n)
  // another branch from genesis, two blocks longer: switching would roll back 6 blocks (> K = 3)
  const other = signerFrom('long-range')
  let s = MemoryState.genesisState(p, genesisHash(p))
  const branch: Block[] = []
  for (let i = 0; i < 8; i++) { const b = makeBlock(s, [], { signer: other }); branch.push(b); s = s.apply(b) }
  epoch = 20n // every branch block's epoch has begun
  await serve(node, 'long-range', branch)
  await settle(node)
  t.equal(toHex(node.ledger.tip!.hash), ownTip, 'the head did not move')
  t.ok(events.some((e) => e.event === 'reorg-refused' && BigInt(String(e.depth)) > 3n), 'refused and logged')
  // a fork within K is still followed: two blocks longer from height 3 (rolls back 2)
  const fork: Block[] = []
  const base = await node.blockByHeight(3n)
  t.ok(base)
  let fs = await stateAt(node, 3n)
  for (let i = 0; i < 4; i++) { const b = makeBlock(fs, [], { signer: other, epoch: 30n + BigInt(i) }); fork.push(b); fs = fs.apply(b) }
  epoch = 40n
  await serve(node, 'short-fork', fork)
  await settle(node)
  t.equal(node.ledger.height, 7n, 'the longer fork within K is the head')
  t.equal(toHex(node.ledger.tip!.hash), toHex(fs.tip!.hash))
})

/** The chain of `node` up to `height`, replayed into a MemoryState (to build forks on it). */
async function stateAt (node: EconumiNode, height: bigint): Promise<MemoryState> {
  let s = MemoryState.genesisState(node.params, node.genesis)
  for (let h = 0n; h <= height; h++) s = s.apply((await node.blockByHeight(h))!.block)
  return s
}

t.test('a leader with a better claim for the head\'s own parent and epoch publishes it and becomes the head', async (t) => {
  const dir = tempDir()
  const honest = loadOrCreateIdentity(dir)
  const rival = signerFrom('rival')
  const base = testParams({ genesisTime: BigInt(Date.now()) - 3_600_000n })
  const params = (): NetworkParams => ({ ...base, mode: 'consortium', nodes: [{ nodeKey: honest.nodeId, millicores: 7_000n, memoryBytes: 0n }, { nodeKey: toHex(rival.publicKey), millicores: 3_000n, memoryBytes: 0n }] })
  const p = params()
  const g = genesisHash(p)
  const s0 = MemoryState.genesisState(p, g)
  // epochs where both lead on genesis: one where the honest claim is better, one where the rival's is
  const score = (s: Signer, e: bigint): { eligible: boolean, x: number } => {
    const w = leaderWeight(p, toHex(s.publicKey), e, s0.node(toHex(s.publicKey)), s0.totals)
    const ticket = scoreClaim(makeClaim(s, g, e)).ticket
    return { eligible: isEligible(ticket, w, p.tauMilli), x: Number(ticket) * Number(w.total) / Number(w.weight) }
  }
  let honestBetter = -1n
  let rivalBetter = -1n
  for (let e = 0n; e < 400n && (honestBetter < 0n || rivalBetter < 0n); e++) {
    const h = score(honest.signer, e); const r = score(rival, e)
    if (!h.eligible || !r.eligible) continue
    if (h.x < r.x && honestBetter < 0n) honestBetter = e
    if (r.x < h.x && rivalBetter < 0n) rivalBetter = e
  }
  t.ok(honestBetter >= 0n && rivalBetter >= 0n, `epochs found: honest better at ${honestBetter}, rival better at ${rivalBetter}`)
  for (const [epoch, expectHonest] of [[honestBetter, true], [rivalBetter, false]] as Array<[bigint, boolean]>) {
    const d = epoch === honestBetter ? dir : tempDir()
    if (d !== dir) {
      // the same honest key in a fresh data dir
      const { writeFileSync, readFileSync } = await import('node:fs')
      writeFileSync(join(d, 'identity.json'), readFileSync(join(dir, 'identity.json')), { mode: 0o600 })
    }
    const node = await EconumiNode.open({ dataDir: d, params: p, computeUnits: new FixedComputeUnits(1n), now: () => Number(epochStart(p, epoch)) + 5 })
    t.teardown(async () => { await node.close() })
    // the rival's block for this epoch arrives first and becomes the head
    await serve(node, 'rival', [makeBlock(s0, [], { signer: rival, epoch })])
    await settle(node)
    t.equal(toHex((await node.blockByHeight(0n))!.block.header.winner.nodeKey), toHex(rival.publicKey), 'the rival\'s block is the head')
    const own = await node.produce(epoch)
    t.ok(own, 'the honest leader still publishes its claim for the same parent and epoch')
    const head = (await node.blockByHeight(0n))!.block
    t.equal(toHex(head.header.winner.nodeKey), expectHonest ? honest.nodeId : toHex(rival.publicKey), expectHonest ? 'its better claim is the head' : 'the better (rival) claim stays the head')
  }
})

t.test('a better sibling published after its epoch\'s decision deadline does not replace the head; before it, it does', async (t) => {
  const first = signerFrom('first-leader')
  const late = signerFrom('withholder')
  const base = testParams({ genesisTime: BigInt(Date.now()) - 3_600_000n })
  const p: NetworkParams = { ...base, mode: 'consortium', nodes: [{ nodeKey: toHex(first.publicKey), millicores: 5_000n, memoryBytes: 0n }, { nodeKey: toHex(late.publicKey), millicores: 5_000n, memoryBytes: 0n }] }
  const g = genesisHash(p)
  const s0 = MemoryState.genesisState(p, g)
  const score = (s: Signer, e: bigint): { eligible: boolean, ticket: bigint } => {
    const w = leaderWeight(p, toHex(s.publicKey), e, s0.node(toHex(s.publicKey)), s0.totals)
    const ticket = scoreClaim(makeClaim(s, g, e)).ticket
    return { eligible: isEligible(ticket, w, p.tauMilli), ticket }
  }
  let epoch = -1n
  for (let e = 0n; e < 400n && epoch < 0n; e++) {
    const a = score(first, e); const b = score(late, e)
    if (a.eligible && b.eligible && b.ticket < a.ticket) epoch = e // equal weights: the lower ticket wins
  }
  t.ok(epoch >= 0n, `an epoch where both lead and the withholder's claim is better: ${epoch}`)
  for (const [at, replaced] of [[Number(epochStart(p, epoch + 1n)) + 1_000, true], [Number(epochStart(p, epoch + 1n)) + 5_000, false]] as Array<[number, boolean]>) {
    let now = Number(epochStart(p, epoch)) + 5
    const events: Array<{ event: string }> = []
    const node = await EconumiNode.open({ dataDir: tempDir(), params: p, now: () => now, log: (event) => events.push({ event }) })
    t.teardown(async () => { await node.close() })
    await serve(node, 'first', [makeBlock(s0, [], { signer: first, epoch })])
    await settle(node)
    t.equal(toHex((await node.blockByHeight(0n))!.block.header.winner.nodeKey), toHex(first.publicKey), 'the first block is the head')
    now = at // 1 s after the epoch (within the 2 s drift) or 5 s after it
    await serve(node, 'late', [makeBlock(s0, [], { signer: late, epoch })])
    await settle(node)
    const head = toHex((await node.blockByHeight(0n))!.block.header.winner.nodeKey)
    if (replaced) t.equal(head, toHex(late.publicKey), 'before the deadline the better claim becomes the head')
    else {
      t.equal(head, toHex(first.publicKey), 'after the deadline the head stays')
      t.ok(events.some((e) => e.event === 'late-sibling'), 'logged late-sibling')
    }
  }
})
