// Fraud proofs as block operations (protocol/ops.ts `fraud`, applied in protocol/state.ts): real evidence with
// real X.509 certificates (node/attestation/pki.ts), checked by the protocol's own checker. A proven miscredit
// ejects the node and voids its weight, in open mode slashes its bond and pays the reporter bond/8; a false proof
// makes the block invalid; the reporter's signature binds its share; an offender is punished once.
import t, { type Test } from 'tap'
import { COIN } from '../../protocol/amount.js'
import { addressFromPublicKey } from '../../protocol/address.js'
import { MAX_BLOCK_BYTES, MAX_BLOCK_TXS_WIRE, decodeBlock, encodeBlock, maxBlockLength } from '../../protocol/block.js'
import { agentUri, x509AgentChecker } from '../../protocol/certificates.js'
import { Writer, toHex } from '../../protocol/encoding.js'
import { isEconumiError } from '../../protocol/errors.js'
import { type EpochEvidence, MAX_EVIDENCE_BYTES, encodeEvidence, evidenceRoot } from '../../protocol/evidence.js'
import { type FraudProof, MAX_FRAUD_PROOF_BYTES, encodeFraudProof, evidenceExcerpt, oldestProvableEpoch } from '../../protocol/fraud.js'
import type { Signer } from '../../protocol/keys.js'
import {
  FRAUD_REPORTER_QUOTIENT, MAX_BLOCK_FRAUD_BYTES, MAX_FRAUD_OP_BYTES, MAX_OP_BYTES, type FraudOp, type Op, decodeOp, encodeOp, makeFraudOp, makeOpenRegistration,
  opAddress, opHash, opNode, opNodes
} from '../../protocol/ops.js'
import { DEFAULT_MAX_BLOCK_TXS, type NetworkParams, WEIGHT_LAG, genesisHash } from '../../protocol/params.js'
import { type WorkReport, makeReport } from '../../protocol/report.js'
import { MemoryState, touchedAddresses, touchedNodes, verifyBlockExceptTransactions } from '../../protocol/state.js'
import { type NodeRecord, isAdmitted, leaderWeight } from '../../protocol/weights.js'
import { opToJson } from '../../node/views.js'
import { CID, GiB, type NodePki, evidenceFixtures, nodePki } from '../helpers/evidence-fixtures.js'
import { alice, bob, makeBlock, nextLeadEpoch, signerFrom, testParams, tx } from '../helpers/chain.js'

const key = (s: Signer): string => toHex(s.publicKey)
const g0 = signerFrom('fraud-genesis-node')
const nodeA = signerFrom('fraud-node-a')
const nodeB = signerFrom('fraud-node-b')
const agents = Array.from({ length: 4 }, (_, i) => signerFrom(`fraud-agent-${i}`))
const reporter = signerFrom('whistleblower')
const CAPACITY = { millicores: 8000n, memoryBytes: 16n * GiB }
const BOND = 10n * COIN

function code (f: () => unknown): string {
  try { f(); return 'no error' } catch (err) { return isEconumiError(err) ? err.code : String(err) }
}
function throwsCode (t: Test, f: () => unknown, expected: string, what: string): void { t.equal(code(f), expected, what) }
const sumBuckets = (b: Array<[bigint, bigint]>): bigint => b.reduce((x, [, cu]) => x + cu, 0n)

function consortium (mode: 'consortium' | 'devnet' = 'consortium'): NetworkParams {
  const nodes = [g0, nodeA, nodeB].map((s) => ({ nodeKey: key(s), ...CAPACITY }))
  return testParams({ mode, epochMs: 60_000n, nodes })
}
function open (): NetworkParams {
  return testParams({ mode: 'open', epochMs: 60_000n, nodes: [{ nodeKey: key(g0), ...CAPACITY }], bondPerMillicore: 1000n, reorgBound: 4n, unbondingEpochs: 10n })
}

/** A block by g0 in its next leading epoch from `from` (default: after the tip). */
function byG0 (s: MemoryState, o: { ops?: Op[], reports?: WorkReport[], from?: bigint } = {}): ReturnType<typeof makeBlock> {
  return makeBlock(s, [], { signer: g0, ops: o.ops, reports: o.reports, epoch: nextLeadEpoch(s, g0, o.from ?? (s.tip === null ? 0n : s.tip.epoch + 1n)) })
}

interface Setup {
  p: NetworkParams
  g: Uint8Array
  fx: ReturnType<typeof evidenceFixtures>
  pkiA: NodePki
  /** the state after the block that includes `inflated` */
  s: MemoryState
  R: bigint
  ev: EpochEvidence
  honest: WorkReport
  inflated: WorkReport
  /** inclusion epoch of `inflated` */
  included: bigint
}

// RSA CA generation is the slow part: one CA per node and network
const pkis = new Map<string, NodePki>()
function pkiOf (node: Signer, p: NetworkParams): NodePki {
  const k = `${key(node)}:${p.mode}`
  if (!pkis.has(k)) pkis.set(k, nodePki(node, p.genesisTime))
  return pkis.get(k) as NodePki
}

/** Node A's report of epoch R claims one CU more than its evidence proves, and is on chain next to g0's. */
function setup (p: NetworkParams): Setup {
  const g = genesisHash(p)
  const fx = evidenceFixtures(p)
  let s = MemoryState.genesisState(p, g)
  if (p.mode === 'open') s = s.apply(byG0(s, { ops: [makeOpenRegistration(nodeA, alice, g, { seq: 0n, ...CAPACITY, bond: BOND })] }))
  const R = (s.tip?.epoch ?? 0n) + 1n
  const pkiA = pkiOf(nodeA, p)
  const ev = fx.build(pkiA, R, [{ cid: CID[0], agent: agents[0] }, { cid: CID[1], agent: agents[1] }])
  const honest = fx.reportFor(nodeA, ev)
  if (honest.cu !== fx.credit(ev, { nanoCpus: 8000n * 1_000_000n, memoryBytes: 16n * GiB })) throw new Error('the registered capacity must not bind here')
  const inflated = fx.reportFor(nodeA, ev, honest.cu + 1n)
  const block = byG0(s, { reports: [inflated, makeReport(g0, g, R, 1000n, new Uint8Array(32).fill(1))], from: R + 2n })
  s = s.apply(block)
  return { p, g, fx, pkiA, s, R, ev, honest, inflated, included: block.header.epoch }
}

t.test('a proven miscredit ejects the node and voids its weight; in open mode it slashes the bond and pays the reporter bond/8', async (t) => {
  for (const mode of ['consortium', 'devnet', 'open'] as const) {
    const { p, g, s, ev, inflated, included } = setup(mode === 'open' ? open() : consortium(mode))
    const counted = included + WEIGHT_LAG
    const before = leaderWeight(p, key(nodeA), counted, s.node(key(nodeA)), s.totals)
    t.equal(before.weight, inflated.cu, `${mode}: the inflated report weighs`)
    t.equal(before.total, inflated.cu + 1000n)
    t.ok(isAdmitted(p, key(nodeA), s.node(key(nodeA))))

    const op = makeFraudOp(reporter, g, { kind: 'miscredit', report: inflated, evidence: ev })
    t.same(toHex(opNode(op)), key(nodeA), 'the operation is about the report\'s node')
    t.same(opAddress(op), addressFromPublicKey(reporter.publicKey), 'and pays the reporter\'s address')
    const block = byG0(s, { ops: [op] })
    t.ok(touchedAddresses(block).includes(addressFromPublicKey(reporter.publicKey)))
    const reporterBefore = s.account(addressFromPublicKey(reporter.publicKey)).balance
    const s2 = s.apply(block)
    const rec = s2.node(key(nodeA))
    t.ok(rec.ejected, `${mode}: ejected`)
    t.same(rec.buckets, [], `${mode}: its counted CU is void`)
    t.notOk(isAdmitted(p, key(nodeA), rec), `${mode}: no longer admitted (cannot lead or report)`)
    const after = leaderWeight(p, key(nodeA), counted, rec, s2.totals)
    t.equal(after.weight, 0n, `${mode}: zero weight`)
    t.equal(sumBuckets(s2.totals.buckets), 1000n, `${mode}: W lost exactly its CU`)
    const paid = s2.account(addressFromPublicKey(reporter.publicKey)).balance - reporterBefore
    if (mode === 'open') {
      t.equal(rec.slashed, BOND, 'open: the whole bond is slashed')
      t.equal(rec.registration?.bond, 0n)
      t.equal(paid, BOND / FRAUD_REPORTER_QUOTIENT, 'open: the reporter gets exactly bond/8')
      t.equal(s2.totalBalance() - s.totalBalance(), block.coinbase + BOND / FRAUD_REPORTER_QUOTIENT, 'open: the rest is burned')
    } else {
      t.equal(paid, 0n, `${mode}: no bond, nothing paid`)
      t.equal(rec.slashed, 0n)
    }
    throwsCode(t, () => s2.apply(byG0(s2, { reports: [makeReport(nodeA, g, s2.tip!.epoch - 1n, 1n, new Uint8Array(32).fill(1))] })), 'E_REPORT_NOT_ADMITTED', `${mode}: its later reports are refused`)
    throwsCode(t, () => s2.apply(byG0(s2, { ops: [op] })), 'E_FRAUD_PUNISHED', `${mode}: the same proof again`)
  }
})

t.test('a false proof, a swapped reporter, a second proof against one offender, reports out of the horizon', async (t) => {
  const { p, g, s, ev, honest, inflated, R } = setup(consortium())
  // evidence that supports its report proves nothing: the block is invalid, and the error names the operation
  const falseOp = makeFraudOp(reporter, g, { kind: 'miscredit', report: honest, evidence: ev })
  let err: unknown
  try { s.apply(byG0(s, { ops: [falseOp] })) } catch (e) { err = e }
  t.match(err, { code: 'E_FRAUD_INVALID', details: { reason: 'the evidence supports the report', op: toHex(opHash(falseOp)) } }, 'a false proof makes the block invalid')

  const op = makeFraudOp(reporter, g, { kind: 'miscredit', report: inflated, evidence: ev })
  const thief = signerFrom('block-producer')
  const swapped: FraudOp = { ...op, reporter: thief.publicKey }
  throwsCode(t, () => s.apply(byG0(s, { ops: [swapped] })), 'E_OP_SIGNATURE', 'another reporter than the signer')
  throwsCode(t, () => s.apply(byG0(s, { ops: [{ ...op, signature: makeFraudOp(reporter, genesisHash(open()), op.proof).signature }] })), 'E_OP_SIGNATURE', 'signed for another network')
  // the thief can sign the same proof as its own, as anyone can: a second proof against one offender then fails
  const second = makeFraudOp(thief, g, op.proof)
  throwsCode(t, () => s.apply(byG0(s, { ops: [op, second] })), 'E_FRAUD_PUNISHED', 'one offender, two proofs in one block')
  t.ok(s.apply(byG0(s, { ops: [second] })).node(key(nodeA)).ejected, 'either alone ejects')

  // a report of an epoch that is not over two epochs before the block, and one beyond the horizon
  const e = nextLeadEpoch(s, g0, s.tip!.epoch + 1n)
  const early = makeReport(nodeA, g, e - 1n, 5n, evidenceRoot(ev))
  throwsCode(t, () => s.apply(makeBlock(s, [], { signer: g0, epoch: e, ops: [makeFraudOp(reporter, g, { kind: 'miscredit', report: early, evidence: ev })] })), 'E_FRAUD_REPORT_EPOCH', 'a report of the block\'s epoch − 1')
  const late = nextLeadEpoch(s, g0, R + 2n + 2n * p.weightWindow + WEIGHT_LAG + p.reorgBound)
  t.ok(oldestProvableEpoch(p, late) > R)
  throwsCode(t, () => s.apply(makeBlock(s, [], { signer: g0, epoch: late, ops: [op] })), 'E_FRAUD_REPORT_EPOCH', 'beyond the horizon')
  const inTime = byG0(s, { ops: [op] })
  t.ok(oldestProvableEpoch(p, inTime.header.epoch) <= R, 'within it')
  t.ok(s.apply(inTime).node(key(nodeA)).ejected)

  // a report never put on chain, signed by its node, is an offence too
  const offChain = makeReport(nodeA, g, R, honest.cu + 7n, evidenceRoot(ev))
  t.ok(s.apply(byG0(s, { ops: [makeFraudOp(reporter, g, { kind: 'miscredit', report: offChain, evidence: ev })] })).node(key(nodeA)).ejected, 'a signed report off chain')
})

t.test('double credit by two nodes through a block: both ejected; one already punished is skipped as the second side', async (t) => {
  const { p, g, fx, s, R, ev, inflated } = setup(consortium())
  const pkiB = pkiOf(nodeB, p)
  // agent 1 serves both nodes' workload at once (B names it under another container id)
  const evB = fx.build(pkiB, R, [{ cid: CID[3], agent: agents[1] }])
  const rB = fx.reportFor(nodeB, evB)
  const rA = fx.reportFor(nodeA, ev)
  const proof: FraudProof = { kind: 'double-credit', a: evidenceExcerpt(rA, ev, CID[1]), b: evidenceExcerpt(rB, evB, CID[3]) }
  const op = makeFraudOp(reporter, g, proof)
  t.same(opNodes(op).map(toHex), [key(nodeA), key(nodeB)])
  const block = byG0(s, { ops: [op] })
  t.ok(touchedNodes(block).includes(key(nodeB)), 'the second node\'s record is read too')
  const s2 = s.apply(block)
  t.ok(s2.node(key(nodeA)).ejected && s2.node(key(nodeB)).ejected, 'both ejected')
  throwsCode(t, () => s2.apply(byG0(s2, { ops: [op] })), 'E_FRAUD_PUNISHED', 'not twice')

  // A ejected for its miscredit first: the proof with A first fails, with B first it punishes B and skips A
  const s3 = s.apply(byG0(s, { ops: [makeFraudOp(reporter, g, { kind: 'miscredit', report: inflated, evidence: ev })] }))
  throwsCode(t, () => s3.apply(byG0(s3, { ops: [op] })), 'E_FRAUD_PUNISHED', 'the first offender already ejected')
  const s4 = s3.apply(byG0(s3, { ops: [makeFraudOp(reporter, g, { kind: 'double-credit', a: proof.b, b: proof.a })] }))
  t.ok(s4.node(key(nodeB)).ejected, 'the other one is ejected')

  // framing: B credits a workload under A's container id with its own agent: proves nothing against A
  const frame = fx.build(pkiB, R, [{ cid: CID[0], agent: agents[2] }])
  const rFrame = fx.reportFor(nodeB, frame)
  let err: unknown
  try { s.apply(byG0(s, { ops: [makeFraudOp(reporter, g, { kind: 'double-credit', a: evidenceExcerpt(rA, ev, CID[0]), b: evidenceExcerpt(rFrame, frame, CID[0]) })] })) } catch (e) { err = e }
  t.match(err, { code: 'E_FRAUD_INVALID', details: { reason: /do not share an agent key/ } }, 'a shared container id alone frames nobody')
})

t.test('the protocol\'s certificate checker: pki.ts certificates pass, everything else fails with its code', async (t) => {
  const p = consortium()
  const pki = pkiOf(nodeA, p)
  const other = pkiOf(nodeB, p)
  const nodeId = key(nodeA)
  const at = p.genesisTime + 1000n
  const q = { caCertificate: pki.caCertificate, agentCertificate: pki.issue(CID[0], agents[0].publicKey), nodeId, containerId: CID[0], at }
  t.same(x509AgentChecker.agentKey(q), agents[0].publicKey, 'the agent key')
  t.same(x509AgentChecker.agentKey(q), agents[0].publicKey, 'and again from the cached CA')
  throwsCode(t, () => x509AgentChecker.agentKey({ ...q, caCertificate: other.caCertificate }), 'E_AGENT_CERT_ISSUER', 'another node\'s CA')
  throwsCode(t, () => x509AgentChecker.agentKey({ ...q, agentCertificate: other.issue(CID[0], agents[0].publicKey) }), 'E_AGENT_CERT_ISSUER', 'issued by another CA')
  throwsCode(t, () => x509AgentChecker.agentKey({ ...q, containerId: CID[1] }), 'E_AGENT_CERT_NAME', 'another container')
  throwsCode(t, () => x509AgentChecker.agentKey({ ...q, nodeId: key(nodeB) }), 'E_AGENT_CERT_NAME', 'another node')
  throwsCode(t, () => x509AgentChecker.agentKey({ ...q, at: at + 100n * 86_400_000n }), 'E_AGENT_CERT_EXPIRED', 'after its validity')
  throwsCode(t, () => x509AgentChecker.agentKey({ ...q, at: p.genesisTime - 120_000n }), 'E_AGENT_CERT_EXPIRED', 'before it')
  throwsCode(t, () => x509AgentChecker.agentKey({ ...q, agentCertificate: Uint8Array.of(0x30, 3, 1, 2, 3) }), 'E_AGENT_CERT', 'garbage agent certificate')
  throwsCode(t, () => x509AgentChecker.agentKey({ ...q, caCertificate: Uint8Array.of(0x30, 3, 1, 2, 3) }), 'E_AGENT_CERT', 'garbage CA')
  throwsCode(t, () => x509AgentChecker.agentKey({ ...q, agentCertificate: pki.caCertificate }), 'E_AGENT_CERT_NAME', 'the CA itself')
  t.equal(agentUri(nodeId, CID[0]), `econumi://${nodeId}/container/${CID[0]}`)
})

t.test('fraud operations encode exactly and decode strictly; blocks bound their fraud proof bytes', async (t) => {
  const { p, g, s, ev, inflated } = setup(consortium())
  const op = makeFraudOp(reporter, g, { kind: 'miscredit', report: inflated, evidence: ev })
  const bytes = Buffer.from(encodeOp(op))
  t.equal(bytes.length, 1 + 32 + 64 + 4 + encodeFraudProof(op.proof).length, 'kind, reporter, signature, the proof with its length')
  t.ok(bytes.length > MAX_OP_BYTES, 'larger than any other operation')
  t.same(toHex(encodeOp(decodeOp(bytes))), toHex(bytes), 'round trip')
  const block = byG0(s, { ops: [op] })
  const back = decodeBlock(encodeBlock(block))
  t.same(back.ops.map((o) => toHex(encodeOp(o))), [toHex(bytes)], 'in a block too')
  t.ok(s.apply(back).node(key(nodeA)).ejected, 'and the decoded block applies')
  throwsCode(t, () => decodeOp(bytes.subarray(0, bytes.length - 1)), 'E_DECODE_SHORT', 'truncated')
  throwsCode(t, () => decodeOp(bytes.subarray(0, 60)), 'E_DECODE_SHORT', 'truncated in the signature')
  throwsCode(t, () => decodeOp(Buffer.concat([bytes, Buffer.from([0])])), 'E_DECODE_TRAILING', 'trailing')
  const big = new Uint8Array(MAX_FRAUD_OP_BYTES + 1)
  big[0] = 5
  t.throws(() => decodeOp(big), { code: 'E_OP_DECODE', details: { size: big.length, max: MAX_FRAUD_OP_BYTES } }, 'larger than a fraud operation can be')
  const notFraud = new Uint8Array(MAX_OP_BYTES + 1)
  notFraud[0] = 4
  t.throws(() => decodeOp(notFraud), { code: 'E_OP_DECODE', details: { size: notFraud.length, max: MAX_OP_BYTES } }, 'other operations keep their bound')
  const head = (): Writer => new Writer(128).u8(5).fixed(reporter.publicKey, 32).fixed(op.signature, 64)
  throwsCode(t, () => decodeOp(head().u32(MAX_FRAUD_PROOF_BYTES + 1).finish()), 'E_DECODE_LENGTH', 'a proof length over the bound')
  throwsCode(t, () => decodeOp(head().bytes(Uint8Array.of(9)).finish()), 'E_FRAUD_DECODE', 'an unknown proof kind')

  const j = opToJson(op)
  t.same(j, { op: toHex(opHash(op)), kind: 'fraud', nodeId: key(nodeA), reporter: key(reporter), reporterAddress: addressFromPublicKey(reporter.publicKey), proof: 'miscredit', reportNode: key(nodeA), epoch: inflated.epoch.toString() }, 'its JSON view')

  // two proofs of ~2.4 MB each: more than MAX_BLOCK_FRAUD_BYTES in all
  const large = (n: number, salt: number): FraudOp => {
    const w = ev.workloads[0]
    const e: EpochEvidence = { ...ev, workloads: Array.from({ length: n }, (_, i) => ({ ...w, containerId: (i * 4 + salt).toString(16).padStart(64, '0'), agentCertificate: new Uint8Array(3072), checkpoints: w.checkpoints.slice(0, 10) })) }
    return makeFraudOp(reporter, g, { kind: 'miscredit', report: makeReport(nodeA, g, ev.epoch, 1n, evidenceRoot(e)), evidence: e })
  }
  const [x, y] = [large(500, 1), large(500, 2)]
  const fraudBytes = encodeFraudProof(x.proof).length + encodeFraudProof(y.proof).length
  t.ok(fraudBytes > MAX_BLOCK_FRAUD_BYTES && encodeFraudProof(x.proof).length < MAX_BLOCK_FRAUD_BYTES, `${fraudBytes} bytes of proofs`)
  const two = byG0(s, { ops: [x, y] })
  let err: unknown
  try { verifyBlockExceptTransactions(p, g, two) } catch (e) { err = e }
  t.match(err, { code: 'E_BLOCK_FRAUD_SIZE', details: { op: toHex(opHash(y)) } }, 'the proof past the bound is named')
  throwsCode(t, () => decodeBlock(encodeBlock(two)), 'E_BLOCK_FRAUD_SIZE', 'and the decoder refuses the bytes')
  t.ok(verifyBlockExceptTransactions(p, g, byG0(s, { ops: [x] })), 'one of them fits')
})

t.test('a block with a maximal fraud proof fits a 16 MiB frame at the default maxBlockTxs; above MAX_BLOCK_BYTES it is refused', async (t) => {
  const FRAME = 16 * 1024 * 1024 - 1 // secret-stream's largest atomic write
  t.equal(FRAME - MAX_BLOCK_BYTES, 1024 * 1024 - 1, 'MAX_BLOCK_BYTES leaves the frame\'s last MiB for the Merkle proof')
  t.ok(maxBlockLength(DEFAULT_MAX_BLOCK_TXS) <= MAX_BLOCK_BYTES / 2, `default network: at most ${maxBlockLength(DEFAULT_MAX_BLOCK_TXS)} bytes`)
  t.ok(maxBlockLength(MAX_BLOCK_TXS_WIRE, 0) <= MAX_BLOCK_BYTES, 'without fraud proofs every block the decoder bounds still fits')
  t.ok(maxBlockLength(MAX_BLOCK_TXS_WIRE) > MAX_BLOCK_BYTES, 'with one and the wire\'s transaction bound it would not: MAX_BLOCK_BYTES binds')
  t.ok(MAX_FRAUD_PROOF_BYTES > MAX_EVIDENCE_BYTES, 'a maximal proof carries a maximal evidence')
  throwsCode(t, () => decodeBlock(new Uint8Array(MAX_BLOCK_BYTES + 1)), 'E_BLOCK_SIZE', 'the decoder refuses larger bytes')

  // in memory too: a ~4 MB proof with 90,000 transactions is over; verifyBlock names the proof (a producer drops it)
  const p = testParams({ epochMs: 60_000n, maxBlockTxs: MAX_BLOCK_TXS_WIRE })
  const g = genesisHash(p)
  const fx = evidenceFixtures(p)
  const s = MemoryState.genesisState(p, g)
  const ev = fx.build(pkiOf(nodeA, consortium()), 1n, [{ cid: CID[0], agent: agents[0] }])
  const w = ev.workloads[0]
  const e: EpochEvidence = { ...ev, workloads: Array.from({ length: 850 }, (_, i) => ({ ...w, containerId: i.toString(16).padStart(64, '0'), agentCertificate: new Uint8Array(3072), checkpoints: w.checkpoints.slice(0, 10) })) }
  t.ok(encodeEvidence(e).length > 3_900_000, 'a ~4 MB evidence')
  const op = makeFraudOp(reporter, g, { kind: 'miscredit', report: makeReport(nodeA, g, 1n, 1n, evidenceRoot(e)), evidence: e })
  const one = tx(alice, bob, 1n, 0n, g)
  const block = makeBlock(s, Array.from({ length: 90_000 }, () => one), { ops: [op] })
  let err: unknown
  try { verifyBlockExceptTransactions(p, g, block) } catch (x) { err = x }
  t.match(err, { code: 'E_BLOCK_SIZE', details: { op: toHex(opHash(op)), max: MAX_BLOCK_BYTES } }, 'over MAX_BLOCK_BYTES, naming the proof')
  t.equal(code(() => verifyBlockExceptTransactions(p, g, makeBlock(s, Array.from({ length: 90_000 }, () => one)))), 'no error', 'the transactions alone fit')
})

t.test('a node with no record in a consortium cannot be the first offender', async (t) => {
  const { g, fx, s, R } = setup(consortium())
  const stranger = signerFrom('unlisted')
  const ev = fx.build(nodePki(stranger, consortium().genesisTime), R, [{ cid: CID[2], agent: agents[3] }])
  const r = fx.reportFor(stranger, ev, fx.credit(ev) + 1n)
  throwsCode(t, () => s.apply(byG0(s, { ops: [makeFraudOp(reporter, g, { kind: 'miscredit', report: r, evidence: ev })] })), 'E_FRAUD_NOT_ADMITTED', 'no such node to punish')
  const rec: NodeRecord = s.node(key(stranger))
  t.notOk(rec.ejected)
})
