// Audits against two real node processes, with the other nodes played by a raw Hyperswarm peer in the test process
// that publishes their evidence in its attestations core and relays their work reports. The evidence is built by
// the node's own evidence builder from workloads with really signed checkpoints.
//  - an honest report (its evidence recomputes to its CU) goes on chain and its audit passes;
//  - a report inflated by one CU, one crediting a workload beyond the declared capacity, and one whose checkpoints
//    a key the node CA never certified signed: each goes on chain, fails its audit, becomes a fraud operation, and
//    ejects its node (weight 0) on both nodes;
//  - a report whose evidence is published nowhere is never put in a block (void);
//  - a forged fraud proof is refused; two nodes crediting one agent is a double credit that ejects both;
//  - on an open network (`genesis create --mode open`, `econumi register --bond`), a proven inflated report slashes
//    the cheater's bond and voids its weight on every node, and bond/FRAUD_REPORTER_QUOTIENT goes to the reporter.
//  - a proof larger than a frame is published by its auditor and announced; a producer that audits nothing
//    (ECONUMI_TEST_NO_AUDIT) fetches, checks and includes it; false announcements are charged;
//  - a leader's block with its own report whose evidence it never published (ECONUMI_TEST_UNPUBLISHED_EVIDENCE) is
//    held by its peers, which build on its parent and charge nobody.
import t, { type Test } from 'tap'
import { X509Certificate, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { caEndorsementMessage, encodeEvidenceRecord, encodeFraudRecord, POLL_WINDOW_MS } from '../../protocol/attestation.js'
import { checkpointHash, evidenceNonce, signAgentSpan, signCheckpoint } from '../../protocol/checkpoint.js'
import { type Reservation, computeUnits } from '../../protocol/compute-units.js'
import { toHex } from '../../protocol/encoding.js'
import { type EpochEvidence, creditFromEvidence, encodeEvidence, evidenceRoot, pollSecretFor } from '../../protocol/evidence.js'
import { ZERO_HASH, sha256, taggedHash } from '../../protocol/hash.js'
import { Signer } from '../../protocol/keys.js'
import { type NetworkParams, epochOf, epochStart, genesisHash, paramsFromJson } from '../../protocol/params.js'
import { FRAUD_REPORTER_QUOTIENT, encodeOp, encodedOpHash, makeFraudOp } from '../../protocol/ops.js'
import { makeReport } from '../../protocol/report.js'
import { MAX_FRAME_BYTES, MSG_FRAUD, MSG_HELLO, MSG_REPORT, encodeMessage } from '../../protocol/wire.js'
import { buildEvidence } from '../../node/attestation/evidence-builder.js'
import { x509AgentChecker } from '../../protocol/certificates.js'
import { generateCa, issueAgentCertificate } from '../../node/attestation/pki.js'
import { newWorkload } from '../../node/attestation/workload.js'
import { rawPeer } from '../helpers/raw-peer.js'
import { cli, cliJson } from '../helpers/cli.js'
import { loadIdentity } from '../../node/identity.js'
import { addressFromPublicKey } from '../../protocol/address.js'
import { type LogEvent, NodeProcess, localBootstrap, tempDir, until, writeGenesis } from '../helpers/node-process.js'

const GiB = 1n << 30n

/**
 * One epoch of evidence of `node` for one workload (or `workloads` of them) that ran the whole epoch, every window
 * answered (by a fresh agent, or by `agent` for one container that two nodes claim).
 */
interface Shape { agent?: Signer, cid?: string, reservation?: Reservation, capacity?: Reservation, checkpointSigner?: Signer, workloads?: number }

function evidenceOf (node: Signer, params: NetworkParams, genesis: Uint8Array, epoch: bigint, shape: Shape = {}): EpochEvidence {
  const nodeId = toHex(node.publicKey)
  const S = epochStart(params, epoch)
  const E = S + params.epochMs
  const ca = generateCa(nodeId, Number(S) - 3_600_000)
  const fingerprint = sha256(new Uint8Array(new X509Certificate(ca.certPem).raw))
  const workloads = Array.from({ length: shape.workloads ?? 1 }, () => {
    const cid = shape.cid ?? toHex(randomBytes(32))
    const agent = shape.agent ?? new Signer(randomBytes(32))
    const key = toHex(agent.publicKey)
    const w = newWorkload(cid)
    w.reservation = shape.reservation ?? { nanoCpus: 1_000_000_000n, memoryBytes: GiB }
    w.intervals = [{ from: S - 20_000n, to: E + 1000n }]
    w.cpuUsageNs = 5_000_000_000n
    w.agent = { containerId: cid, publicKey: key, certificate: issueAgentCertificate({ ...ca, nodeId }, { agentPublicKey: agent.publicKey, containerId: cid, now: Number(S) - 60_000 }), startedAt: Number(S) - 20_000 }
    let prev: Uint8Array = ZERO_HASH
    for (let win = (S - POLL_WINDOW_MS) / POLL_WINDOW_MS; win * POLL_WINDOW_MS < E; win++) {
      const secret = pollSecretFor(node, genesis, epochOf(params, win * POLL_WINDOW_MS)).secret
      const cp = signCheckpoint(shape.checkpointSigner ?? agent, cid, { window: win, nonce: evidenceNonce(secret, cid, win), healthy: true, prev })
      prev = checkpointHash(cid, cp)
      w.checkpoints.set(win, { key, checkpoint: cp })
    }
    const span = { attestedFrom: S - 20_000n, lastAlive: E + 1000n }
    w.span = { key, ...span, signature: signAgentSpan(agent, cid, span, w.reservation) }
    return w
  })
  const endorsement = node.sign(caEndorsementMessage(nodeId, fingerprint))
  return buildEvidence({ params, genesis, signer: node, ca: { certPem: ca.certPem, endorsement }, capacity: shape.capacity ?? { nanoCpus: 2_000_000_000n, memoryBytes: 2n * GiB } }, workloads, epoch, S, E, E + 1000n)
}

/** Node processes in `dir` (one folder per name, `env[name]` added to its environment) on `genesisFile`, stopped on teardown, and the raw peer on their swarm. */
async function startNetwork (t: Test, dir: string, genesisFile: string, names: string[], args: string[] = [], env: Record<string, Record<string, string>> = {}): Promise<{ params: NetworkParams, g: Uint8Array, nodes: NodeProcess[], peer: ReturnType<typeof rawPeer> }> {
  const params = paramsFromJson(JSON.parse(readFileSync(genesisFile, 'utf8')))
  const g = genesisHash(params)
  const bs = await localBootstrap()
  const nodes = names.map((n) => new NodeProcess(join(dir, n), ['--genesis', genesisFile, '--bootstrap', bs.address, ...args], env[n]).start())
  t.teardown(async () => { for (const n of nodes) await n.stop(); await bs.close() })
  for (const n of nodes) await n.ready()
  const peer = rawPeer(bs.port, Buffer.from(taggedHash('swarm-topic', g)), join(dir, 'raw-store'))
  t.teardown(async () => { await peer.close() })
  return { params, g, nodes, peer }
}

/** Node processes `names` on a devnet of 1 s epochs, stopped on teardown, and the raw peer on its swarm. */
async function auditNetwork (t: Test, prefix: string, names: string[]): Promise<{ params: NetworkParams, g: Uint8Array, nodes: NodeProcess[], peer: ReturnType<typeof rawPeer> }> {
  const dir = tempDir(prefix)
  // the genesis a minute back: every poll window of the audited epochs starts after it
  const genesisFile = writeGenesis(dir, { epochMs: 1000, genesisTime: Date.now() - 60_000 })
  return await startNetwork(t, dir, genesisFile, names, ['--dev-compute-units', '10'])
}

/** The raw peer's blocks and attestations cores, and a HELLO naming them sent on every open channel. */
async function rawCores (peer: ReturnType<typeof rawPeer>, g: Uint8Array, channels: number): Promise<{ blocks: any, records: any }> {
  const blocks = peer.store.get({ name: 'blocks' })
  const records = peer.store.get({ name: 'attestations' })
  await blocks.ready()
  await records.ready()
  await until(async () => peer.channels.length >= channels ? true : undefined, 15_000, `the peer connected to ${channels} node(s)`)
  for (const send of peer.channels) send(encodeMessage({ type: MSG_HELLO, hello: { genesis: g, blocksCore: blocks.key, recordsCore: records.key, tip: null } }))
  return { blocks, records }
}

t.test('audits on two nodes: honest passes; inflated, over capacity and uncertified are proven and ejected; unpublished is void', async (t) => {
  const { params, g, nodes, peer } = await auditNetwork(t, 'econumi-fraud-', ['a', 'b'])
  const [A, B] = nodes

  const epoch = epochOf(params, BigInt(Date.now())) - 3n
  const ctx = { params, genesis: g, registeredCapacity: null, certificates: x509AgentChecker }
  const cpu = (n: bigint): Reservation => ({ nanoCpus: n * 1_000_000_000n, memoryBytes: GiB })
  const who = { honest: new Signer(randomBytes(32)), plusOne: new Signer(randomBytes(32)), overCapacity: new Signer(randomBytes(32)), uncertified: new Signer(randomBytes(32)), hidden: new Signer(randomBytes(32)) }
  const ev = {
    honest: evidenceOf(who.honest, params, g, epoch),
    plusOne: evidenceOf(who.plusOne, params, g, epoch),
    // a 2-CPU workload on a node that declares 1 CPU: the credit fits it to the capacity, the report does not
    overCapacity: evidenceOf(who.overCapacity, params, g, epoch, { reservation: cpu(2n), capacity: { nanoCpus: 1_000_000_000n, memoryBytes: 4n * GiB } }),
    // checkpoints signed by a key no certificate of the node CA holds
    uncertified: evidenceOf(who.uncertified, params, g, epoch, { checkpointSigner: new Signer(randomBytes(32)) }),
    hidden: evidenceOf(who.hidden, params, g, epoch)
  }
  const cuHonest = creditFromEvidence(ev.honest, ctx).total
  t.ok(cuHonest > 0n, 'the evidence proves work')
  const uncapped = computeUnits(params.epochMs, cpu(2n))
  t.ok(creditFromEvidence(ev.overCapacity, ctx).total < uncapped, 'the capacity fit credits less than the workload reserves')
  t.throws(() => creditFromEvidence(ev.uncertified, ctx), { code: 'E_EVIDENCE_CHECKPOINT_SIGNATURE' })
  const reports = {
    honest: makeReport(who.honest, g, epoch, cuHonest, evidenceRoot(ev.honest)),
    plusOne: makeReport(who.plusOne, g, epoch, creditFromEvidence(ev.plusOne, ctx).total + 1n, evidenceRoot(ev.plusOne)),
    overCapacity: makeReport(who.overCapacity, g, epoch, uncapped, evidenceRoot(ev.overCapacity)),
    uncertified: makeReport(who.uncertified, g, epoch, cuHonest, evidenceRoot(ev.uncertified)),
    hidden: makeReport(who.hidden, g, epoch, cuHonest, evidenceRoot(ev.hidden))
  }
  const { records } = await rawCores(peer, g, 2)
  for (const k of ['honest', 'plusOne', 'overCapacity', 'uncertified'] as const) await records.append(Buffer.from(encodeEvidenceRecord(encodeEvidence(ev[k]))))
  // ev.hidden is never published

  for (const r of Object.values(reports)) peer.channels[0](encodeMessage({ type: MSG_REPORT, report: r })) // node A relays them to B

  const short = (s: Signer): string => toHex(s.publicKey).slice(0, 16)
  const of = (n: NodeProcess, event: string, s: Signer): LogEvent[] => n.events.filter((e) => e.event === event && e.node === short(s))
  await until(async () => of(A, 'audit-valid', who.honest).length > 0 ? true : undefined, 30_000, 'the honest report audited')
  t.equal(of(A, 'audit-valid', who.honest)[0].cu, cuHonest.toString(), 'the honest report is audited as valid')
  const expected = { plusOne: 'E_EVIDENCE_CU', overCapacity: 'E_EVIDENCE_CU', uncertified: 'E_EVIDENCE_CHECKPOINT_SIGNATURE' } as const
  for (const [k, code] of Object.entries(expected) as Array<[keyof typeof expected, string]>) {
    const fraud = await until(async () => of(A, 'audit-fraud', who[k])[0], 30_000, `the ${k} report audited`)
    t.equal(fraud.code, code, `${k}: detected (${code})`)
  }
  t.equal(of(A, 'audit-fraud', who.plusOne)[0].recomputed, (reports.plusOne.cu - 1n).toString(), 'one CU too many is enough')

  // proven and included: each cheater ejected, its weight 0, on both nodes
  for (const n of nodes) {
    for (const k of Object.keys(expected) as Array<keyof typeof expected>) {
      const id = toHex(who[k].publicKey)
      await until(async () => (await n.api('GET', `/v1/nodes/${id}`)).body.ejected === true ? true : undefined, 30_000, `${k} ejected`)
      const listed = ((await n.api('GET', '/v1/nodes')).body.nodes as Array<{ nodeId: string, weight: string, state: string }>).find((x) => x.nodeId === id)
      t.equal(listed?.state, 'ejected', `${k} is ejected on node ${n === A ? 'A' : 'B'}`)
      t.equal(listed?.weight, '0', `and weighs nothing there`)
    }
    t.equal((await n.api('GET', `/v1/nodes/${toHex(who.honest.publicKey)}`)).body.ejected, false, 'the honest node is not')
  }
  const onChain = async (n: NodeProcess): Promise<Array<{ kind: string, proof?: string, reportNode?: string }>> => ((await n.api('GET', '/v1/blocks?from=0&limit=1000')).body.blocks as Array<{ ops: Array<{ kind: string, proof?: string, reportNode?: string }> }>).flatMap((b) => b.ops).filter((o) => o.kind === 'fraud')
  const frauds = await onChain(B)
  t.same(frauds.map((o) => o.reportNode).sort(), Object.keys(expected).map((k) => toHex(who[k as keyof typeof expected].publicKey)).sort(), 'one fraud operation per cheater on chain')
  const kind = (k: keyof typeof expected): string | undefined => frauds.find((o) => o.reportNode === toHex(who[k].publicKey))?.proof
  t.equal(kind('plusOne'), 'miscredit', 'an inflated report is proven by its whole evidence')
  t.equal(kind('overCapacity'), 'miscredit')
  t.equal(kind('uncertified'), 'bad-certificate', 'checkpoints no certified key signed: by the one workload\'s excerpt')
  const proofs = await until(async () => { const l = [A, B].flatMap((n) => of(n, 'fraud-proof', who.uncertified)); return l.length > 0 ? l : undefined }, 10_000, 'the uncertified report\'s proof logged')
  t.same([...new Set(proofs.map((e) => e.kind))], ['bad-certificate'], 'every auditor proved it by the excerpt')

  // a report whose evidence is published nowhere is never included, on either node
  const reportsOnChain = async (n: NodeProcess): Promise<Array<{ nodeId: string }>> => ((await n.api('GET', '/v1/blocks?from=0&limit=1000')).body.blocks as Array<{ reports: Array<{ nodeId: string }> }>).flatMap((b) => b.reports)
  // (a reorg between the two nodes may roll its block back: the report goes back to the pool and into a later block)
  await until(async () => (await reportsOnChain(A)).some((r) => r.nodeId === toHex(who.honest.publicKey)) ? true : undefined, 20_000, 'the honest report on chain')
  t.pass('the honest report is on chain')
  const height = Number((await A.status()).height)
  await until(async () => Number((await A.status()).height) >= height + 3 ? true : undefined, 15_000, 'three more blocks')
  for (const n of nodes) t.notOk((await reportsOnChain(n)).some((r) => r.nodeId === toHex(who.hidden.publicKey)), 'the report whose evidence never appeared is void')

  // a forged proof (the honest report's evidence supports it) is refused, and punishes nobody; a second proof is stale
  const forged = await A.api('POST', '/v1/ops', { op: toHex(encodeOp(makeFraudOp(new Signer(randomBytes(32)), g, { kind: 'miscredit', report: reports.honest, evidence: ev.honest }))) })
  t.equal(forged.status, 400)
  t.equal(forged.body.error.code, 'E_FRAUD_INVALID', forged.body.error.message)
  const again = await A.api('POST', '/v1/ops', { op: toHex(encodeOp(makeFraudOp(new Signer(randomBytes(32)), g, { kind: 'miscredit', report: reports.plusOne, evidence: ev.plusOne }))) })
  t.equal(again.body.error?.code, 'E_FRAUD_PUNISHED', 'a node is punished once')

  // `econumi audit` over the API: the verdicts, with the evidence's windows
  // the inflated report is on the chain of at least one node (an ejected node's report cannot come back after a reorg)
  let a = await A.api('GET', `/v1/audit/${toHex(who.plusOne.publicKey)}`)
  if (a.status === 404) a = await B.api('GET', `/v1/audit/${toHex(who.plusOne.publicKey)}`)
  t.equal(a.status, 200)
  t.equal(a.body.reports[0].verdict, 'fraud')
  t.equal(a.body.reports[0].evidence.checkpoints[0].missed, 0)
  const h = await B.api('GET', `/v1/audit/${toHex(who.honest.publicKey)}`)
  t.equal(h.body.reports[0].verdict, 'valid', 'node B finds the evidence in the peer\'s core too')
  t.equal(h.body.reports[0].recomputed, cuHonest.toString())
  t.ok(h.body.reports[0].evidence.checkpoints[0].answered >= 1)
  const bad = await A.api('GET', '/v1/audit/xyz')
  t.equal(bad.status, 400)
  t.equal(bad.body.error.code, 'E_BAD_AUDIT_TARGET')

  for (const n of nodes) { await n.stop(); t.not(n.proc?.exitCode, null, 'the node process exited') }
})

t.test('audits: one agent credited by two nodes is a double credit that ejects both', async (t) => {
  const { params, g, nodes: [node], peer } = await auditNetwork(t, 'econumi-fraud2-', ['node'])
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

t.test('open mode: a proven inflated report slashes the bond on every node, bond/8 to the reporter', async (t) => {
  const dir = tempDir('econumi-fraud-open-')
  const names = ['a', 'b', 'c'] // a, b: bonded in the genesis; c registers with a bond and then cheats
  const ids = names.map((n) => cliJson<{ nodeId: string }>(['--data-dir', join(dir, n), 'identity']).nodeId)
  const wallets = join(dir, 'wallets')
  const env = { ECONUMI_PASSPHRASE: 'correct horse battery' }
  const owner = cliJson<{ address: string }>(['--wallet-dir', wallets, 'createwallet'], env).address
  const genesisFile = join(dir, 'genesis.json')
  const start = Date.now() - 60_000 // a minute back, as auditNetwork's: every poll window of the audited epoch starts after it
  const gc = cli(['genesis', 'create', '--network', 'fraud-open', '--mode', 'open', '--epoch', '1000', '--genesis-time', String(start - (start % 1000)),
    '--node', `${ids[0]}:2:2g`, '--node', `${ids[1]}:2:2g`, '--alloc', `${owner}=5`, '--bond-per-millicore', '1000', '--out', genesisFile])
  t.equal(gc.status, 0, gc.stderr)
  const { params, g, nodes, peer } = await startNetwork(t, dir, genesisFile, names)
  const [A, B, C] = nodes
  await until(async () => (await Promise.all(nodes.map(async (n) => (await n.status()).peers >= 2))).every(Boolean), 60_000, 'the three nodes peered')

  type Listed = { nodeId: string, state: string, weight: string, slashed: string, bond: { amount: string } | null }
  const listed = (n: NodeProcess, id: string): Listed | undefined => cliJson<{ nodes: Listed[] }>(['--data-dir', n.dir, 'nodes']).nodes.find((x) => x.nodeId === id)
  const BOND = 50_000_000n // 0.5 ECO: above 1000 millicores × 1000 units
  const reg = cli(['--data-dir', C.dir, '--wallet-dir', wallets, '--json', 'register', '--cpus', '1', '--memory', '1g', '--bond', '0.5', '--from', owner, '--timeout', '90'], env)
  t.equal(reg.status, 0, reg.stderr)
  for (const n of [A, B]) await until(async () => listed(n, ids[2])?.bond?.amount === String(BOND) ? true : undefined, 60_000, 'c is bonded on a and b')
  t.pass('c is registered with its bond on every node')
  // c's key signs the fraud from here; its process is not needed (nor its honest blocks)
  await C.stop()
  t.not(C.proc?.exitCode, null, 'node c exited')
  const cheater = loadIdentity(C.dir)!.signer
  const { records } = await rawCores(peer, g, 2) // (the raw peer joined with c still up: it may count c's channel)

  const epoch = epochOf(params, BigInt(Date.now())) - 3n
  const registered = { nanoCpus: 1_000_000_000n, memoryBytes: GiB }
  // a half-core workload within c's registered core: one CU more than it earned still fits its report cap
  const ev = evidenceOf(cheater, params, g, epoch, { reservation: { nanoCpus: 500_000_000n, memoryBytes: GiB / 2n }, capacity: registered })
  const earned = creditFromEvidence(ev, { params, genesis: g, registeredCapacity: registered, certificates: x509AgentChecker }).total
  await records.append(Buffer.from(encodeEvidenceRecord(encodeEvidence(ev))))
  // on every channel: the raw peer may have met c first, whose channel is closed now
  for (const send of peer.channels) send(encodeMessage({ type: MSG_REPORT, report: makeReport(cheater, g, epoch, earned + 1n, evidenceRoot(ev)) }))

  for (const n of [A, B]) {
    const c = await until(async () => { const x = listed(n, ids[2]); return x?.state === 'ejected' ? x : undefined }, 60_000, 'c slashed')
    t.equal(c.bond?.amount, '0', 'its bond is gone')
    t.equal(c.slashed, String(BOND), 'all of it slashed')
    t.equal(c.weight, '0', 'and it weighs nothing')
    t.equal(cliJson<{ balanceUnits: string }>(['--data-dir', n.dir, 'getbalance', owner]).balanceUnits, String(500_000_000n - BOND), 'the owner does not get the bond back')
  }
  // the reporter (the auditor whose proof went in): its balance is its block rewards plus bond/8, on every node
  interface BlockJson { hash: string, miner: string, coinbase: string, ops: Array<{ kind: string, reportNode?: string, reporterAddress?: string }> }
  const blocksOf = async (n: NodeProcess): Promise<BlockJson[]> => (await n.api('GET', '/v1/blocks?from=0&limit=1000')).body.blocks
  const fraud = (await blocksOf(A)).flatMap((b) => b.ops).find((o) => o.kind === 'fraud' && o.reportNode === ids[2])
  t.ok(fraud !== undefined, 'the fraud operation is on chain')
  const reporter = fraud!.reporterAddress!
  t.ok([A, B].some((n) => addressFromPublicKey(loadIdentity(n.dir)!.signer.publicKey) === reporter), 'reported by one of the auditing nodes')
  for (const n of [A, B]) {
    const share = await until(async () => {
      const before = await blocksOf(n)
      const balance = BigInt(cliJson<{ balanceUnits: string }>(['--data-dir', n.dir, 'getbalance', reporter]).balanceUnits)
      const after = await blocksOf(n)
      if (before.length !== after.length || before.at(-1)?.hash !== after.at(-1)?.hash) return undefined // a block came in between
      return balance - after.filter((b) => b.miner === reporter).reduce((s, b) => s + BigInt(b.coinbase), 0n)
    }, 30_000, 'a stable balance')
    t.equal(share, BOND / FRAUD_REPORTER_QUOTIENT, `the reporter got bond/${FRAUD_REPORTER_QUOTIENT} on node ${n === A ? 'a' : 'b'}`)
  }
  for (const n of [A, B]) { await n.stop(); t.not(n.proc?.exitCode, null, 'the node process exited') }
})

t.test('a fraud proof larger than a frame: published by its auditor, announced, fetched, checked and included by a producer that did not audit', async (t) => {
  const dir = tempDir('econumi-fraud-relay-')
  // a audits but is not admitted (it never leads); b leads but audits nothing (ECONUMI_TEST_NO_AUDIT); x cheats
  const ids = ['a', 'b'].map((n) => cliJson<{ nodeId: string }>(['--data-dir', join(dir, n), 'identity']).nodeId)
  const cheater = new Signer(randomBytes(32))
  const genesisFile = join(dir, 'genesis.json')
  const start = Date.now() - 60_000
  const gc = cli(['genesis', 'create', '--network', 'fraud-relay', '--mode', 'open', '--epoch', '1000', '--genesis-time', String(start - (start % 1000)),
    '--node', `${ids[1]}:2:2g`, '--node', `${toHex(cheater.publicKey)}:1:1g`, '--out', genesisFile])
  t.equal(gc.status, 0, gc.stderr)
  const { params, g, nodes, peer } = await startNetwork(t, dir, genesisFile, ['a', 'b'], [], { b: { ECONUMI_TEST_NO_AUDIT: '1' } })
  const [A, B] = nodes
  const { records } = await rawCores(peer, g, 2)
  const registered = { nanoCpus: 1_000_000_000n, memoryBytes: GiB }
  const shape = { workloads: 4, reservation: { nanoCpus: 250_000_000n, memoryBytes: GiB / 4n }, capacity: registered }
  const credit = (ev: EpochEvidence): bigint => creditFromEvidence(ev, { params, genesis: g, registeredCapacity: registered, certificates: x509AgentChecker }).total
  const epoch = epochOf(params, BigInt(Date.now())) - 3n

  // first, announcements that lie: a false proof (the evidence supports its report) and a hash that is not the block's
  const honestEv = evidenceOf(cheater, params, g, epoch - 1n, shape)
  const forged = encodeOp(makeFraudOp(new Signer(randomBytes(32)), g, { kind: 'miscredit', report: makeReport(cheater, g, epoch - 1n, credit(honestEv), evidenceRoot(honestEv)), evidence: honestEv }))
  t.ok(forged.length + 2 > MAX_FRAME_BYTES, `the proof (${forged.length} bytes) does not fit a frame (${MAX_FRAME_BYTES})`)
  const seq = (await records.append(Buffer.from(encodeFraudRecord(forged)))).length - 1
  const at = { core: records.key, seq, bytes: forged.length + 1 }
  for (const send of peer.channels) send(encodeMessage({ type: MSG_FRAUD, fraud: { op: encodedOpHash(forged), ...at } }))
  for (const send of peer.channels) send(encodeMessage({ type: MSG_FRAUD, fraud: { op: randomBytes(32), ...at } }))
  const charged = (n: NodeProcess, code: string): LogEvent | undefined => n.events.find((e) => e.event === 'peer-penalized' && e.reason === code)
  for (const n of nodes) {
    await until(async () => charged(n, 'E_FRAUD_INVALID'), 20_000, 'the false proof charged')
    await until(async () => charged(n, 'E_FRAUD_ANNOUNCE'), 20_000, 'the false announcement charged')
  }
  t.pass('a fetched false proof and a block that is not the announced op are charged to the announcer, on both nodes')
  t.notOk(nodes.some((n) => n.events.some((e) => e.event === 'op-pooled' && e.kind === 'fraud')), 'and pooled nowhere')

  // the fraud: x's report inflated by one CU, with its evidence published; a proves it, b includes it
  const ev = evidenceOf(cheater, params, g, epoch, shape)
  await records.append(Buffer.from(encodeEvidenceRecord(encodeEvidence(ev))))
  peer.channels[0](encodeMessage({ type: MSG_REPORT, report: makeReport(cheater, g, epoch, credit(ev) + 1n, evidenceRoot(ev)) }))
  const published = await until(async () => A.events.find((e) => e.event === 'fraud-published'), 60_000, 'a publishes its proof')
  t.ok(Number(published.bytes) > MAX_FRAME_BYTES, `a's proof (${String(published.bytes)} bytes) went to its core`)
  await until(async () => B.events.find((e) => e.event === 'fraud-fetched' && e.op === published.op), 30_000, 'b fetches it')
  for (const n of nodes) await until(async () => (await n.api('GET', `/v1/nodes/${toHex(cheater.publicKey)}`)).body.ejected === true ? true : undefined, 30_000, 'x ejected')
  const blocks = (await B.api('GET', '/v1/blocks?from=0&limit=1000')).body.blocks as Array<{ miner: string, ops: Array<{ kind: string, reporter?: string }> }>
  const including = blocks.find((b) => b.ops.some((o) => o.kind === 'fraud'))
  t.equal(including?.ops.find((o) => o.kind === 'fraud')?.reporter, ids[0], 'the proof on chain is a\'s')
  t.equal(including?.miner, addressFromPublicKey(loadIdentity(B.dir)!.signer.publicKey), 'and b put it in its block')
  t.notOk(B.events.some((e) => e.event.startsWith('audit-')), 'b audited nothing')
  t.notOk(B.events.some((e) => e.event === 'fraud-proof'), 'and found no fraud itself')
  for (const n of nodes) { await n.stop(); t.not(n.proc?.exitCode, null, 'the node process exited') }
})

t.test('data availability: a leader\'s block with its own report whose evidence it never published is held by every peer; they build on its parent', async (t) => {
  const dir = tempDir('econumi-fraud-da-')
  const names = ['a', 'b', 'c']
  const ids = names.map((n) => cliJson<{ nodeId: string }>(['--data-dir', join(dir, n), 'identity']).nodeId)
  const genesisFile = join(dir, 'genesis.json')
  // three genesis nodes without Docker: no reports, so the bootstrap weights (capacity) stay on the honest chain
  const gc = cli(['genesis', 'create', '--network', 'fraud-da', '--mode', 'open', '--epoch', '1000', ...ids.flatMap((id) => ['--node', `${id}:1:1g`]), '--out', genesisFile])
  t.equal(gc.status, 0, gc.stderr)
  // a signs a report of 1 CU every epoch whose evidence root names nothing it published, and includes it when it leads
  const { nodes } = await startNetwork(t, dir, genesisFile, names, [], { a: { ECONUMI_TEST_UNPUBLISHED_EVIDENCE: '1' } })
  const [A, B, C] = nodes
  interface BlockJson { hash: string, height: string, reports: Array<{ nodeId: string }> }
  const chainOf = async (n: NodeProcess): Promise<BlockJson[]> => (await n.api('GET', '/v1/blocks?from=0&limit=1000')).body.blocks
  const bad = new Set<string>()
  await until(async () => {
    for (const b of await chainOf(A)) if (b.reports.some((r) => r.nodeId === ids[0])) bad.add(b.hash)
    return bad.size > 0
  }, 90_000, 'a block of a with its own report', 100)
  t.pass(`a included its own unpublished report (block ${[...bad][0].slice(0, 16)})`)
  for (const n of [B, C]) {
    const held = await until(async () => n.events.find((e) => e.event === 'block-held' && e.reason === 'evidence unavailable' && bad.has(String(e.hash))), 30_000, 'the block held')
    t.same([...new Set(held.reports as string[])], [ids[0].slice(0, 16)], `node ${n === B ? 'b' : 'c'} holds it for a's evidence`)
  }
  const from = Number((await B.status()).height)
  for (const n of [B, C]) await until(async () => Number((await n.status()).height) >= from + 3 ? true : undefined, 60_000, 'three more blocks')
  // one held block does not hide the rest of a's core: every later block of a with its report is read and held too
  await until(async () => {
    for (const b of await chainOf(A)) if (b.reports.some((r) => r.nodeId === ids[0])) bad.add(b.hash)
    return bad.size >= 2
  }, 90_000, 'a second block of a with its own report', 100)
  for (const n of [B, C]) {
    for (const hash of bad) await until(async () => n.events.find((e) => e.event === 'block-held' && e.reason === 'evidence unavailable' && e.hash === hash), 30_000, `block ${hash.slice(0, 16)} held`)
    t.pass(`node ${n === B ? 'b' : 'c'} holds each of a's ${bad.size} blocks with its own report`)
  }
  for (const n of [B, C]) {
    const chain = await chainOf(n)
    t.notOk(chain.some((b) => bad.has(b.hash)), 'the held block is not on its chain')
    t.notOk(chain.some((b) => b.reports.some((r) => r.nodeId === ids[0])), 'nor is a\'s unpublished report')
    t.notOk(n.events.some((e) => e.event === 'peer-penalized'), 'and nobody is charged: unavailability is not provable')
    t.equal((await n.status()).peers, 3, 'a is still a peer (with the other node and startNetwork\'s raw peer)')
  }
  for (const n of nodes) { await n.stop(); t.not(n.proc?.exitCode, null, 'the node process exited') }
})
