// Admission and punishment as ledger state (DESIGN.md "Admission"): consortium registration by a root-issued node
// CA certificate, open-mode bonds and unbonding, and equivocation evidence that ejects or slashes. On the protocol
// functions with real certificates (node-forge RSA roots, checked by node:crypto).
import t, { type Test } from 'tap'
import { COIN } from '../../protocol/amount.js'
import { decodeBlock, encodeBlock } from '../../protocol/block.js'
import { toHex } from '../../protocol/encoding.js'
import { isEconumiError } from '../../protocol/errors.js'
import { decodeOp, encodeOp, makeConsortiumRegistration, makeEquivocation, makeOpenRegistration, makeUnregister, makeWithdraw, type Op } from '../../protocol/ops.js'
import { type NetworkParams, genesisHash } from '../../protocol/params.js'
import { makeReport } from '../../protocol/report.js'
import { MemoryState } from '../../protocol/state.js'
import { capacityCu, isAdmitted } from '../../protocol/weights.js'
import type { Signer } from '../../protocol/keys.js'
import { createRootCa, issueNodeCa, pemToDer } from '../../cli/ca.js'
import { addr, alice, raw, makeBlock, nextLeadEpoch, signerFrom, testParams } from '../helpers/chain.js'

const key = (s: Signer): string => toHex(s.publicKey)
const GiB = 1n << 30n

function throwsCode (t: Test, f: () => unknown, code: string, what: string): void {
  try { f(); t.fail(`${what}: no error (expected ${code})`) } catch (err) { t.equal(isEconumiError(err) ? err.code : String(err), code, what) }
}

/** A block by `leader` carrying `ops`, in its next leading epoch after `from`. */
function withOps (s: MemoryState, leader: Signer, ops: Op[], from?: bigint): ReturnType<typeof makeBlock> {
  const start = from ?? (s.tip === null ? 0n : s.tip.epoch + 1n)
  return makeBlock(s, [], { signer: leader, ops, epoch: nextLeadEpoch(s, leader, start) })
}

/** testParams' genesis time: certificates are valid at the blocks' times */
const NOW = Number(testParams().genesisTime)
const root = createRootCa('econumi test consortium root', NOW)
const otherRoot = createRootCa('someone else', NOW)
const g0 = signerFrom('genesis-node')
const member = signerFrom('member')

function consortium (over: Partial<NetworkParams> = {}): NetworkParams {
  return testParams({ mode: 'consortium', rootCas: [root.certPem], nodes: [{ nodeKey: key(g0), millicores: 4000n, memoryBytes: 8n * GiB }], ...over })
}

t.test('consortium: a node CA certificate issued by a genesis root admits its node, with the capacity it names', async (t) => {
  const p = consortium()
  const g = genesisHash(p)
  const s0 = MemoryState.genesisState(p, g)
  t.notOk(isAdmitted(p, key(member), s0.node(key(member))), 'not admitted before registering')
  // an outsider's report and block are refused before registration
  const early = makeReport(member, g, 0n, 5n, new Uint8Array(32).fill(1))
  throwsCode(t, () => s0.apply(makeBlock(s0, [], { signer: g0, epoch: nextLeadEpoch(s0, g0, 3n), reports: [early] })), 'E_REPORT_NOT_ADMITTED', 'an unregistered node\'s report is refused')

  const issued = issueNodeCa({ nodeId: key(member), millicores: 2000n, memoryBytes: 4n * GiB, rootCertPem: root.certPem, rootKeyPem: root.keyPem, now: NOW })
  const reg = makeConsortiumRegistration(member, g, 0n, pemToDer(issued.certPem))
  t.equal(toHex(encodeOp(decodeOp(encodeOp(reg)))), toHex(encodeOp(reg)), 'a registration survives its encoding')
  const b1 = withOps(s0, g0, [reg])
  t.same(decodeBlock(encodeBlock(b1)).ops.map((o) => toHex(encodeOp(o))), [toHex(encodeOp(reg))], 'and a block\'s')
  const s1 = s0.apply(b1)
  const rec = s1.node(key(member))
  t.ok(isAdmitted(p, key(member), rec), 'admitted once the registration is in a block')
  t.equal(rec.registration?.millicores, 2000n, 'with the capacity of its certificate')
  t.equal(rec.seq, 1n)

  // its capacity caps its reports: 2 cores, 4 GiB for one epoch
  const cap = capacityCu(p, { millicores: 2000n, memoryBytes: 4n * GiB })
  const e = nextLeadEpoch(s1, g0, s1.tip!.epoch + 3n)
  throwsCode(t, () => s1.apply(makeBlock(s1, [], { signer: g0, epoch: e, reports: [makeReport(member, g, e - 2n, cap + 1n, new Uint8Array(32).fill(1))] })), 'E_REPORT_CAPACITY', 'a report over the registered capacity is refused')
  const s2 = s1.apply(makeBlock(s1, [], { signer: g0, epoch: e, reports: [makeReport(member, g, e - 2n, cap, new Uint8Array(32).fill(1))] }))
  t.equal(s2.node(key(member)).lastReportEpoch, e - 2n, 'a report within it is accepted')

  // a replay of the registration, and a second registration, are refused
  throwsCode(t, () => s2.apply(withOps(s2, g0, [reg])), 'E_OP_SEQ', 'the same registration again is a replay')
  throwsCode(t, () => s2.apply(withOps(s2, g0, [makeConsortiumRegistration(member, g, 1n, pemToDer(issued.certPem))])), 'E_OP_REGISTERED', 'a registered node cannot register again')

  // unregister: it leaves at once
  const s3 = s2.apply(withOps(s2, g0, [makeUnregister(member, g, 1n)]))
  t.notOk(isAdmitted(p, key(member), s3.node(key(member))), 'unregistered: not admitted')
  t.equal(s3.node(key(member)).registration, null)
})

t.test('consortium: certificates that do not chain, name another node or lack the capacity are refused', async (t) => {
  const p = consortium()
  const g = genesisHash(p)
  const s0 = MemoryState.genesisState(p, g)
  const foreign = issueNodeCa({ nodeId: key(member), millicores: 2000n, memoryBytes: GiB, rootCertPem: otherRoot.certPem, rootKeyPem: otherRoot.keyPem, now: NOW })
  throwsCode(t, () => s0.apply(withOps(s0, g0, [makeConsortiumRegistration(member, g, 0n, pemToDer(foreign.certPem))])), 'E_REGISTER_ROOT', 'issued by a root the genesis does not list')
  const forOther = issueNodeCa({ nodeId: key(alice), millicores: 2000n, memoryBytes: GiB, rootCertPem: root.certPem, rootKeyPem: root.keyPem, now: NOW })
  throwsCode(t, () => s0.apply(withOps(s0, g0, [makeConsortiumRegistration(member, g, 0n, pemToDer(forOther.certPem))])), 'E_REGISTER_CERT', 'a certificate naming another node')
  const expired = issueNodeCa({ nodeId: key(member), millicores: 2000n, memoryBytes: GiB, rootCertPem: root.certPem, rootKeyPem: root.keyPem, now: Number(p.genesisTime) - 400 * 86_400_000, days: 30 })
  throwsCode(t, () => s0.apply(withOps(s0, g0, [makeConsortiumRegistration(member, g, 0n, pemToDer(expired.certPem))])), 'E_REGISTER_CERT_EXPIRED', 'a certificate expired at the block time')
  // the capacity is the root's: raising it in the operation breaks the node's signature or the certificate match
  const ok = makeConsortiumRegistration(member, g, 0n, pemToDer(issueNodeCa({ nodeId: key(member), millicores: 2000n, memoryBytes: GiB, rootCertPem: root.certPem, rootKeyPem: root.keyPem, now: NOW }).certPem))
  throwsCode(t, () => s0.apply(withOps(s0, g0, [{ ...ok, millicores: 64_000n }])), 'E_OP_SIGNATURE', 'a capacity raised after signing')
  t.throws(() => makeConsortiumRegistration(member, g, 0n, pemToDer(root.certPem)), { code: 'E_REGISTER_CERT' }, 'a certificate without the capacity extension cannot be registered')
  // a devnet has nothing to register
  const dev = testParams()
  const sd = MemoryState.genesisState(dev, genesisHash(dev))
  throwsCode(t, () => sd.apply(withOps(sd, g0, [makeUnregister(member, genesisHash(dev), 0n)])), 'E_OP_MODE', 'operations are refused on a devnet')
})

t.test('open: a bond of capacity × rate is locked, unbonds after the delay, and comes back', async (t) => {
  const owner = alice // 100 ECO in testParams
  const p = testParams({ mode: 'open', nodes: [{ nodeKey: key(g0), millicores: 4000n, memoryBytes: 8n * GiB }], bondPerMillicore: 1_000_000n, reorgBound: 4n, unbondingEpochs: 10n })
  const g = genesisHash(p)
  const s0 = MemoryState.genesisState(p, g)
  const before = s0.account(addr(owner)).balance
  throwsCode(t, () => s0.apply(withOps(s0, g0, [makeOpenRegistration(member, owner, g, { seq: 0n, millicores: 2000n, memoryBytes: GiB, bond: 1_999_999_999n })])), 'E_REGISTER_BOND', 'a bond below capacity × rate')
  throwsCode(t, () => s0.apply(withOps(s0, g0, [makeOpenRegistration(member, signerFrom('poor'), g, { seq: 0n, millicores: 2000n, memoryBytes: GiB, bond: 20n * COIN })])), 'E_REGISTER_BALANCE', 'a bond the owner cannot pay')
  const bond = 20n * COIN
  const s1 = s0.apply(withOps(s0, g0, [makeOpenRegistration(member, owner, g, { seq: 0n, millicores: 2000n, memoryBytes: GiB, bond })]))
  t.equal(s1.account(addr(owner)).balance, before - bond, 'the bond left the owner\'s balance')
  t.ok(isAdmitted(p, key(member), s1.node(key(member))), 'admitted')
  const s2 = s1.apply(withOps(s1, g0, [makeUnregister(member, g, 1n)]))
  const unbondEnd = s2.tip!.epoch + 10n
  t.equal(s2.node(key(member)).registration?.unbondEnd, unbondEnd, 'unbonding for unbondingEpochs (> K)')
  t.notOk(isAdmitted(p, key(member), s2.node(key(member))), 'an unbonding node may not lead or report')
  const w = makeWithdraw(member, g, 2n, raw(owner))
  throwsCode(t, () => s2.apply(makeBlock(s2, [], { signer: g0, ops: [w], epoch: nextLeadEpoch(s2, g0, s2.tip!.epoch + 1n) })), 'E_OP_UNBONDING', 'no withdrawal before the delay')
  throwsCode(t, () => s2.apply(makeBlock(s2, [], { signer: g0, ops: [makeWithdraw(member, g, 2n, raw(signerFrom('thief')))], epoch: nextLeadEpoch(s2, g0, unbondEnd) })), 'E_OP_OWNER', 'a withdrawal to someone else')
  const s3 = s2.apply(makeBlock(s2, [], { signer: g0, ops: [w], epoch: nextLeadEpoch(s2, g0, unbondEnd) }))
  t.equal(s3.account(addr(owner)).balance, before, 'after the delay the bond is back')
  t.equal(s3.node(key(member)).registration, null)
  throwsCode(t, () => s3.apply(withOps(s3, g0, [w])), 'E_OP_SEQ', 'a withdrawal cannot be replayed')
})

t.test('equivocation: two signed blocks of one epoch eject (consortium) or slash (open), once', async (t) => {
  for (const mode of ['consortium', 'open'] as const) {
    const bad = signerFrom(`equivocator-${mode}`)
    const p = mode === 'consortium'
      ? consortium({ nodes: [{ nodeKey: key(g0), millicores: 4000n, memoryBytes: 8n * GiB }, { nodeKey: key(bad), millicores: 4000n, memoryBytes: 8n * GiB }] })
      : testParams({ mode: 'open', nodes: [{ nodeKey: key(g0), millicores: 4000n, memoryBytes: 8n * GiB }], bondPerMillicore: 1000n, reorgBound: 4n, unbondingEpochs: 10n })
    const g = genesisHash(p)
    let s = MemoryState.genesisState(p, g)
    const bond = 10n * COIN
    if (mode === 'open') s = s.apply(withOps(s, g0, [makeOpenRegistration(bad, alice, g, { seq: 0n, millicores: 4000n, memoryBytes: 8n * GiB, bond })]))
    // the offender signs two different headers for one epoch (on a devnet-free network it needs no eligibility for that)
    const e = s.tip === null ? 5n : s.tip.epoch + 1n
    const a = makeBlock(s, [], { signer: bad, epoch: e, time: 1n + (p.genesisTime + e * p.epochMs) })
    const b = makeBlock(s, [], { signer: bad, epoch: e, time: 2n + (p.genesisTime + e * p.epochMs) })
    const ev = makeEquivocation({ type: 'blocks', a: { header: a.header, signature: a.signature }, b: { header: b.header, signature: b.signature } })
    t.equal(toHex(encodeOp(decodeOp(encodeOp(ev)))), toHex(encodeOp(ev)), `${mode}: evidence survives its encoding`)
    throwsCode(t, () => s.apply(withOps(s, g0, [makeEquivocation({ type: 'blocks', a: { header: a.header, signature: a.signature }, b: { header: a.header, signature: a.signature } })])), 'E_EVIDENCE_SAME', `${mode}: one block twice is no evidence`)
    const forged = makeEquivocation({ type: 'blocks', a: { header: a.header, signature: a.signature }, b: { header: b.header, signature: a.signature } })
    throwsCode(t, () => s.apply(withOps(s, g0, [forged])), 'E_EVIDENCE_SIGNATURE', `${mode}: a header the offender did not sign is no evidence`)
    const leaderBefore = s.account(addr(g0)).balance
    const ownerBefore = s.account(addr(alice)).balance
    const block = withOps(s, g0, [ev])
    const s1 = s.apply(block)
    const rec = s1.node(key(bad))
    t.ok(rec.ejected, `${mode}: the offender is ejected`)
    t.notOk(isAdmitted(p, key(bad), rec), `${mode}: and no longer admitted`)
    if (mode === 'open') {
      t.equal(rec.slashed, bond, 'open: its whole bond is slashed')
      t.equal(s1.account(addr(g0)).balance - leaderBefore - block.coinbase, bond / 512n, 'the including leader gets bond/512 (Ethereum\'s whistleblower quotient)')
      t.equal(s1.account(addr(alice)).balance, ownerBefore, 'the owner gets nothing back')
      throwsCode(t, () => s1.apply(withOps(s1, g0, [makeUnregister(bad, g, 1n)])), 'E_OP_EJECTED', 'open: an ejected node cannot unregister to save its bond')
    }
    throwsCode(t, () => s1.apply(withOps(s1, g0, [ev])), 'E_EVIDENCE_PUNISHED', `${mode}: punished once`)
    // an ejected node's block is refused even where its ticket would win
    // (stated weights 1/1 pass the stateless threshold in 86% of epochs: take the first such epoch)
    let code = ''
    for (let e2 = s1.tip!.epoch + 1n; code === '' || code === 'E_LEADER_NOT_ELIGIBLE'; e2++) {
      try { s1.apply(makeBlock(s1, [], { signer: bad, epoch: e2, weight: 1n, totalWeight: 1n })); code = 'applied' } catch (err) { code = isEconumiError(err) ? err.code : String(err) }
    }
    t.equal(code, 'E_LEADER_NOT_ADMITTED', `${mode}: an ejected node cannot lead`)
  }
})

t.test('equivocation: two reports of one epoch are evidence too, and void the weight already counted', async (t) => {
  const bad = signerFrom('double-reporter')
  const p = consortium({ nodes: [{ nodeKey: key(g0), millicores: 4000n, memoryBytes: 8n * GiB }, { nodeKey: key(bad), millicores: 4000n, memoryBytes: 8n * GiB }] })
  const g = genesisHash(p)
  let s = MemoryState.genesisState(p, g)
  const e = nextLeadEpoch(s, g0, 4n)
  const r1 = makeReport(bad, g, e - 2n, 1000n, new Uint8Array(32).fill(1))
  s = s.apply(makeBlock(s, [], { signer: g0, epoch: e, reports: [r1, makeReport(g0, g, e - 2n, 500n, new Uint8Array(32).fill(1))] }))
  t.equal(s.totals.buckets.reduce((x, [, cu]) => x + cu, 0n), 1500n, 'both reports count in W')
  const r2 = makeReport(bad, g, e - 2n, 999n, new Uint8Array(32).fill(1))
  s = s.apply(withOps(s, g0, [makeEquivocation({ type: 'reports', a: r1, b: r2 })]))
  t.ok(s.node(key(bad)).ejected, 'ejected')
  t.equal(s.totals.buckets.reduce((x, [, cu]) => x + cu, 0n), 500n, 'its counted CU left W')
  t.same(s.node(key(bad)).buckets, [], 'and its own weight is void')
})
