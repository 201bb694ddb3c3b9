// Admission is ledger state on a real LevelDB ledger: a block that registers a bond and one that carries equivocation
// evidence are committed, rolled back (a reorg), and applied again; every step leaves exactly the records and balances
// of the blocks on the chain, including the slashed bond and the voided weight.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { COIN } from '../../protocol/amount.js'
import { toHex } from '../../protocol/encoding.js'
import { makeEquivocation, makeOpenRegistration } from '../../protocol/ops.js'
import { genesisHash } from '../../protocol/params.js'
import { type Block } from '../../protocol/block.js'
import { MemoryState, applyBlock, touchedAddresses, touchedNodes } from '../../protocol/state.js'
import { Ledger } from '../../node/ledger.js'
import { addr, alice, makeBlock, nextLeadEpoch, signerFrom, testParams } from '../helpers/chain.js'

const GiB = 1n << 30n
const g0 = signerFrom('genesis-node')
const bad = signerFrom('bonded-equivocator')
const params = testParams({ mode: 'open', nodes: [{ nodeKey: toHex(g0.publicKey), millicores: 4000n, memoryBytes: 8n * GiB }], bondPerMillicore: 1000n, reorgBound: 4n, unbondingEpochs: 10n })
const g = genesisHash(params)

async function commit (ledger: Ledger, block: Block, seq: number): Promise<void> {
  const fx = applyBlock(await ledger.view(touchedAddresses(block), touchedNodes(block)), block)
  await ledger.commitBlock(block, { core: 'test', seq }, fx)
}

t.test('registration, slashing and voided weight are undone by a reorg and redone by the new branch', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'econumi-admission-'))
  const ledger = await Ledger.open(dir, params, g)
  t.teardown(async () => { await ledger.close(); rmSync(dir, { recursive: true, force: true }) })
  const bond = 10n * COIN
  let mem = MemoryState.genesisState(params, g)
  const b1 = makeBlock(mem, [], { signer: g0, ops: [makeOpenRegistration(bad, alice, g, { seq: 0n, millicores: 4000n, memoryBytes: GiB, bond })], epoch: nextLeadEpoch(mem, g0, 0n) })
  await commit(ledger, b1, 0)
  mem = mem.apply(b1)
  const aliceBonded = (await ledger.account(addr(alice))).balance
  t.equal(aliceBonded, 100n * COIN - bond, 'the bond left alice')
  t.equal((await ledger.node(toHex(bad.publicKey))).registration?.bond, bond)

  const e = mem.tip!.epoch + 1n
  const [x, y] = [1n, 2n].map((d) => makeBlock(mem, [], { signer: bad, epoch: e, time: params.genesisTime + e * params.epochMs + d }))
  const ev = makeEquivocation({ type: 'blocks', a: { header: x.header, signature: x.signature }, b: { header: y.header, signature: y.signature } })
  const b2 = makeBlock(mem, [], { signer: g0, ops: [ev], epoch: nextLeadEpoch(mem, g0, e) })
  await commit(ledger, b2, 1)
  const slashed = await ledger.node(toHex(bad.publicKey))
  t.ok(slashed.ejected, 'ejected')
  t.equal(slashed.slashed, bond, 'bond slashed')

  // reorg: the evidence block leaves the chain, so does its effect
  await ledger.rollbackTip()
  const back = await ledger.node(toHex(bad.publicKey))
  t.notOk(back.ejected, 'rolled back: not ejected')
  t.equal(back.registration?.bond, bond, 'rolled back: the bond is locked again')
  t.equal((await ledger.account(addr(g0)).then((a) => a.balance)), mem.account(addr(g0)).balance, 'rolled back: the whistleblower reward is gone')
  // the other branch carries the same evidence in a later epoch: ejected again
  const b2b = makeBlock(mem, [], { signer: g0, ops: [ev], epoch: nextLeadEpoch(mem, g0, b2.header.epoch + 1n) })
  await commit(ledger, b2b, 2)
  t.ok((await ledger.node(toHex(bad.publicKey))).ejected, 'the new branch ejects it')
  // and rolling back the registration too restores alice's balance
  await ledger.rollbackTip()
  await ledger.rollbackTip()
  t.equal((await ledger.account(addr(alice))).balance, 100n * COIN, 'no registration on chain: alice holds her bond')
  t.equal((await ledger.node(toHex(bad.publicKey))).registration, null)
})
