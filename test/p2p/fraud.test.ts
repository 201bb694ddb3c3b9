// Audits against a real node process, with the other nodes played by a raw Hyperswarm peer in the test process
// that publishes their evidence in its attestations core and relays their work reports:
//  - an honest report (its evidence recomputes to its CU) goes on chain and its audit passes;
//  - an inflated one (honest evidence, five times the CU) goes on chain, fails its audit with E_EVIDENCE_CU and
//    becomes a miscredit fraud proof;
//  - a report whose evidence is published nowhere is never put in a block (void).
// The evidence is built by the node's own evidence builder from workloads with really signed checkpoints.
import t from 'tap'
import { X509Certificate, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { caEndorsementMessage, encodeEvidenceRecord, POLL_WINDOW_MS } from '../../protocol/attestation.js'
import { checkpointHash, evidenceNonce, signAgentSpan, signCheckpoint } from '../../protocol/checkpoint.js'
import { toHex } from '../../protocol/encoding.js'
import { type EpochEvidence, creditFromEvidence, encodeEvidence, evidenceRoot, pollSecretFor } from '../../protocol/evidence.js'
import { ZERO_HASH, sha256, taggedHash } from '../../protocol/hash.js'
import { Signer } from '../../protocol/keys.js'
import { type NetworkParams, epochOf, epochStart, genesisHash, paramsFromJson } from '../../protocol/params.js'
import { encodeOp, makeFraudOp } from '../../protocol/ops.js'
import { makeReport } from '../../protocol/report.js'
import { MSG_HELLO, MSG_REPORT, encodeMessage } from '../../protocol/wire.js'
import { buildEvidence } from '../../node/attestation/evidence-builder.js'
import { x509AgentChecker } from '../../protocol/certificates.js'
import { generateCa, issueAgentCertificate } from '../../node/attestation/pki.js'
import { newWorkload } from '../../node/attestation/workload.js'
import { rawPeer } from '../helpers/raw-peer.js'
import { type LogEvent, NodeProcess, localBootstrap, tempDir, until, writeGenesis } from '../helpers/node-process.js'

const GiB = 1n << 30n

/**
 * One epoch of evidence of `node` for one workload that ran the whole epoch, every window answered (by a fresh
 * agent, or by `agent` for one container that two nodes claim).
 */
function evidenceOf (node: Signer, params: NetworkParams, genesis: Uint8Array, epoch: bigint, shared?: { agent: Signer, cid: string }): EpochEvidence {
  const nodeId = toHex(node.publicKey)
  const S = epochStart(params, epoch)
  const E = S + params.epochMs
  const cid = shared?.cid ?? toHex(randomBytes(32))
  const ca = generateCa(nodeId, Number(S) - 3_600_000)
  const fingerprint = sha256(new Uint8Array(new X509Certificate(ca.certPem).raw))
  const agent = shared?.agent ?? new Signer(randomBytes(32))
  const key = toHex(agent.publicKey)
  const w = newWorkload(cid)
  w.reservation = { nanoCpus: 1_000_000_000n, memoryBytes: GiB }
  w.intervals = [{ from: S - 20_000n, to: E + 1000n }]
  w.cpuUsageNs = 5_000_000_000n
  w.agent = { containerId: cid, publicKey: key, certificate: issueAgentCertificate({ ...ca, nodeId }, { agentPublicKey: agent.publicKey, containerId: cid, now: Number(S) - 60_000 }), startedAt: Number(S) - 20_000 }
  let prev: Uint8Array = ZERO_HASH
  for (let win = (S - POLL_WINDOW_MS) / POLL_WINDOW_MS; win * POLL_WINDOW_MS < E; win++) {
    const secret = pollSecretFor(node, genesis, epochOf(params, win * POLL_WINDOW_MS)).secret
    const cp = signCheckpoint(agent, cid, { window: win, nonce: evidenceNonce(secret, cid, win), healthy: true, prev })
    prev = checkpointHash(cid, cp)
    w.checkpoints.set(win, { key, checkpoint: cp })
  }
  const span = { attestedFrom: S - 20_000n, lastAlive: E + 1000n }
  w.span = { key, ...span, signature: signAgentSpan(agent, cid, span, w.reservation) }
  const endorsement = node.sign(caEndorsementMessage(nodeId, fingerprint))
  return buildEvidence({ params, genesis, signer: node, ca: { certPem: ca.certPem, endorsement }, capacity: { nanoCpus: 2_000_000_000n, memoryBytes: 2n * GiB } }, [w], epoch, S, E, E + 1000n)
}

t.test('audits: an honest report passes, an inflated one is a miscredit, unpublished evidence is never included', async (t) => {
  const dir = tempDir('econumi-fraud-')
  // the genesis a minute back: every poll window of the audited epochs starts after it
  const genesisFile = writeGenesis(dir, { epochMs: 1000, genesisTime: Date.now() - 60_000 })
  const params = paramsFromJson(JSON.parse(readFileSync(genesisFile, 'utf8')))
  const g = genesisHash(params)
  const bs = await localBootstrap()
  const node = new NodeProcess(join(dir, 'node'), ['--genesis', genesisFile, '--bootstrap', bs.address, '--dev-compute-units', '10']).start()
  t.teardown(async () => { await node.stop(); await bs.close() })
  await node.ready()
  const peer = rawPeer(bs.port, Buffer.from(taggedHash('swarm-topic', g)), join(dir, 'raw-store'))
  t.teardown(async () => { await peer.close() })
  const send = await peer.connected
  const blocks = peer.store.get({ name: 'blocks' })
  const records = peer.store.get({ name: 'attestations' })
  await blocks.ready()
  await records.ready()

  const honest = new Signer(randomBytes(32))
  const cheater = new Signer(randomBytes(32))
  const hidden = new Signer(randomBytes(32))
  const epoch = epochOf(params, BigInt(Date.now())) - 3n
  const evH = evidenceOf(honest, params, g, epoch)
  const evC = evidenceOf(cheater, params, g, epoch)
  const evU = evidenceOf(hidden, params, g, epoch)
  const ctx = { params, genesis: g, registeredCapacity: null, certificates: x509AgentChecker }
  const cuH = creditFromEvidence(evH, ctx).total
  const cuC = creditFromEvidence(evC, ctx).total
  t.ok(cuH > 0n && cuC > 0n, 'the evidence proves work')
  await records.append(Buffer.from(encodeEvidenceRecord(encodeEvidence(evH))))
  await records.append(Buffer.from(encodeEvidenceRecord(encodeEvidence(evC))))
  // evU is never published

  send(encodeMessage({ type: MSG_HELLO, hello: { genesis: g, blocksCore: blocks.key, recordsCore: records.key, tip: null } }))
  await until(async () => (await node.status()).peers === 1, 15_000, 'node sees the peer')
  const reports = {
    honest: makeReport(honest, g, epoch, cuH, evidenceRoot(evH)),
    cheater: makeReport(cheater, g, epoch, cuC * 5n, evidenceRoot(evC)),
    hidden: makeReport(hidden, g, epoch, 1000n, evidenceRoot(evU))
  }
  for (const r of Object.values(reports)) send(encodeMessage({ type: MSG_REPORT, report: r }))

  const of = (event: string, who: Signer): LogEvent[] => node.events.filter((e) => e.event === event && e.node === toHex(who.publicKey).slice(0, 16))
  await until(async () => of('audit-valid', honest).length > 0 ? true : undefined, 30_000, 'the honest report audited')
  t.equal(of('audit-valid', honest)[0].cu, cuH.toString(), 'audited as valid')
  const fraud = await until(async () => of('audit-fraud', cheater)[0], 30_000, 'the inflated report audited')
  t.equal(fraud.code, 'E_EVIDENCE_CU', 'the inflated report fails: its evidence proves other CU')
  t.equal(fraud.recomputed, cuC.toString(), 'and says what it proves')
  await until(async () => node.events.some((e) => e.event === 'fraud-proof' && e.kind === 'miscredit') ? true : undefined, 10_000, 'a miscredit fraud proof')
  t.pass('a miscredit fraud proof is made')

  // the proof goes in the node's next block: the cheater is ejected on chain
  const ejected = await until(async () => { const r = await node.api('GET', `/v1/nodes/${toHex(cheater.publicKey)}`); return r.body.ejected === true ? r.body : undefined }, 20_000, 'the cheater ejected')
  t.equal(ejected.ejected, true, 'the fraud proof ejected the cheater')
  const fraudBlocks = ((await node.api('GET', '/v1/blocks?from=0&limit=1000')).body.blocks as Array<{ ops: Array<{ kind: string, proof?: string, reportNode?: string }> }>).flatMap((b) => b.ops).filter((o) => o.kind === 'fraud')
  t.equal(fraudBlocks.length, 1, 'one fraud operation on chain')
  t.equal(fraudBlocks[0].proof, 'miscredit')
  t.equal(fraudBlocks[0].reportNode, toHex(cheater.publicKey))
  t.equal((await node.api('GET', `/v1/nodes/${toHex(honest.publicKey)}`)).body.ejected, false, 'the honest node is not')
  // a false proof (the honest report's evidence supports it) is refused, and punishes nobody
  const falseOp = makeFraudOp(new Signer(randomBytes(32)), g, { kind: 'miscredit', report: reports.honest, evidence: evH })
  const refused = await node.api('POST', '/v1/ops', { op: toHex(encodeOp(falseOp)) })
  t.equal(refused.status, 400)
  t.equal(refused.body.error.code, 'E_FRAUD_INVALID', refused.body.error.message)
  // a second proof against the ejected cheater is stale
  const again = await node.api('POST', '/v1/ops', { op: toHex(encodeOp(makeFraudOp(new Signer(randomBytes(32)), g, { kind: 'miscredit', report: reports.cheater, evidence: evC }))) })
  t.equal(again.body.error?.code, 'E_FRAUD_PUNISHED', 'a node is punished once')

  // on chain: the honest and the inflated report (fraud is found after inclusion), never the hidden one
  const onChain = async (): Promise<Array<{ nodeId: string }>> => ((await node.api('GET', '/v1/blocks?from=0&limit=1000')).body.blocks as Array<{ reports: Array<{ nodeId: string }> }>).flatMap((b) => b.reports)
  const included = await onChain()
  t.ok(included.some((r) => r.nodeId === toHex(honest.publicKey)), 'the honest report is on chain')
  t.ok(included.some((r) => r.nodeId === toHex(cheater.publicKey)), 'the inflated report went on chain before its audit')
  const height = Number((await node.status()).height)
  await until(async () => Number((await node.status()).height) >= height + 3 ? true : undefined, 15_000, 'three more blocks')
  t.notOk((await onChain()).some((r) => r.nodeId === toHex(hidden.publicKey)), 'a report whose evidence is published nowhere is never included')

  // `econumi audit` over the API: the verdicts, with the evidence's windows
  const a = await node.api('GET', `/v1/audit/${toHex(cheater.publicKey)}`)
  t.equal(a.status, 200)
  t.equal(a.body.reports[0].verdict, 'fraud')
  t.equal(a.body.reports[0].evidence.checkpoints[0].missed, 0)
  const h = await node.api('GET', `/v1/audit/${toHex(honest.publicKey)}`)
  t.equal(h.body.reports[0].verdict, 'valid')
  t.equal(h.body.reports[0].recomputed, cuH.toString())
  t.ok(h.body.reports[0].evidence.checkpoints[0].answered >= 1)
  const bad = await node.api('GET', '/v1/audit/xyz')
  t.equal(bad.status, 400)
  t.equal(bad.body.error.code, 'E_BAD_AUDIT_TARGET')

  await node.stop()
  t.not(node.proc?.exitCode, null, 'the node process exited')
})

t.test('audits: one agent credited by two nodes is a double credit that ejects both', async (t) => {
  const dir = tempDir('econumi-fraud2-')
  const genesisFile = writeGenesis(dir, { epochMs: 1000, genesisTime: Date.now() - 60_000 })
  const params = paramsFromJson(JSON.parse(readFileSync(genesisFile, 'utf8')))
  const g = genesisHash(params)
  const bs = await localBootstrap()
  const node = new NodeProcess(join(dir, 'node'), ['--genesis', genesisFile, '--bootstrap', bs.address, '--dev-compute-units', '10']).start()
  t.teardown(async () => { await node.stop(); await bs.close() })
  await node.ready()
  const peer = rawPeer(bs.port, Buffer.from(taggedHash('swarm-topic', g)), join(dir, 'raw-store'))
  t.teardown(async () => { await peer.close() })
  const send = await peer.connected
  const blocks = peer.store.get({ name: 'blocks' })
  const records = peer.store.get({ name: 'attestations' })
  await blocks.ready()
  await records.ready()

  // one workload, one agent, and two colluding nodes that each attest it: every evidence holds on its own
  const shared = { agent: new Signer(randomBytes(32)), cid: toHex(randomBytes(32)) }
  const a = new Signer(randomBytes(32))
  const b = new Signer(randomBytes(32))
  const epoch = epochOf(params, BigInt(Date.now())) - 3n
  const evA = evidenceOf(a, params, g, epoch, shared)
  const evB = evidenceOf(b, params, g, epoch, shared)
  const ctx = { params, genesis: g, registeredCapacity: null, certificates: x509AgentChecker }
  const reports = [makeReport(a, g, epoch, creditFromEvidence(evA, ctx).total, evidenceRoot(evA)), makeReport(b, g, epoch, creditFromEvidence(evB, ctx).total, evidenceRoot(evB))]
  for (const ev of [evA, evB]) await records.append(Buffer.from(encodeEvidenceRecord(encodeEvidence(ev))))
  send(encodeMessage({ type: MSG_HELLO, hello: { genesis: g, blocksCore: blocks.key, recordsCore: records.key, tip: null } }))
  await until(async () => (await node.status()).peers === 1, 15_000, 'node sees the peer')
  for (const r of reports) send(encodeMessage({ type: MSG_REPORT, report: r }))

  const proof = await until(async () => node.events.find((e) => e.event === 'fraud-proof'), 30_000, 'a fraud proof')
  t.equal(proof.kind, 'double-credit', 'each report alone is valid; together they credit one agent twice')
  t.equal(node.events.filter((e) => e.event === 'audit-valid').length, 2, 'both reports passed their own audit')
  for (const who of [a, b]) {
    await until(async () => (await node.api('GET', `/v1/nodes/${toHex(who.publicKey)}`)).body.ejected === true ? true : undefined, 20_000, 'both ejected')
  }
  t.pass('both nodes are ejected by one double-credit proof')
  await node.stop()
  t.not(node.proc?.exitCode, null, 'the node process exited')
})
