// Admission as ledger state, with the real CLI and three real node processes on a loopback DHT: a consortium root
// (`econumi ca create-root`) is in the genesis; a third node gets a node CA certificate naming its capacity
// (`econumi ca issue`) and joins with `econumi register`; every node then lists it as admitted. Equivocation evidence
// (two headers signed by one genesis node for one epoch) sent to one node goes on chain and ejects the offender on
// every node; `econumi reindex` rebuilds both the registration and the ejection from the blocks.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { buildBlock } from '../../protocol/block.js'
import { makeClaim } from '../../protocol/claim.js'
import { toHex } from '../../protocol/encoding.js'
import { encodeOp, makeEquivocation } from '../../protocol/ops.js'
import { epochStart, genesisHash, paramsFromJson } from '../../protocol/params.js'
import { addressBytesFromPublicKey } from '../../protocol/address.js'
import { readFileSync } from 'node:fs'
import { loadIdentity } from '../../node/identity.js'
import { CLI, NodeProcess, localBootstrap, tempDir, until } from '../helpers/node-process.js'
import { addr, alice } from '../helpers/chain.js'

function cli (args: string[]): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

interface Listed { nodeId: string, state: string, admittedBy: string | null, capacity: { millicores: string } | null }
async function listed (n: NodeProcess): Promise<Listed[]> { return (await n.api('GET', '/v1/nodes')).body.nodes }

t.test('consortium admission: register by a root-issued certificate, eject on equivocation, survive reindex', async (t) => {
  const root = tempDir('econumi-admission-')
  const rootDir = join(root, 'root')
  const made = cli(['--json', 'ca', 'create-root', '--out', rootDir])
  t.equal(made.status, 0, made.stderr)
  const dirs = [0, 1, 2].map((i) => join(root, `n${i}`))
  const ids = dirs.map((d) => JSON.parse(cli(['--data-dir', d, '--json', 'identity']).stdout).nodeId as string)
  const genesis = join(root, 'genesis.json')
  const gc = cli(['--json', 'genesis', 'create', '--network', 'adm', '--mode', 'consortium', '--epoch', '1000', '--root-ca', join(rootDir, 'root-cert.pem'),
    '--node', `${ids[0]}:2:2g`, '--node', `${ids[1]}:1:1g`, '--alloc', `${addr(alice)}=100`, '--out', genesis])
  t.equal(gc.status, 0, gc.stderr)
  const params = paramsFromJson(JSON.parse(readFileSync(genesis, 'utf8')))
  const g = genesisHash(params)

  const bs = await localBootstrap()
  const nodes = dirs.map((d) => new NodeProcess(d, ['--genesis', genesis, '--bootstrap', bs.address]).start())
  t.teardown(async () => { await Promise.all(nodes.map(async (n) => await n.stop())); await bs.close() })
  await Promise.all(nodes.map(async (n) => await n.ready()))
  await until(async () => (await Promise.all(nodes.map(async (n) => (await n.status()).peers >= 2))).every(Boolean), 90_000, 'full mesh')
  t.equal((await listed(nodes[0])).find((n) => n.nodeId === ids[2]), undefined, 'the third node is not a member yet')

  // bad input first: a certificate of another root is refused with a code, and nothing is pooled
  const stranger = join(root, 'stranger')
  t.equal(cli(['ca', 'create-root', '--out', stranger]).status, 0)
  const wrongDir = join(root, 'wrong')
  t.equal(cli(['ca', 'issue', '--root-cert', join(stranger, 'root-cert.pem'), '--root-key', join(stranger, 'root-key.pem'), '--node', ids[2], '--cpus', '1', '--memory', '1g', '--out', wrongDir]).status, 0)
  const wrong = cli(['--data-dir', dirs[2], 'register', '--ca-cert', join(wrongDir, 'ca-cert.pem')])
  t.not(wrong.status, 0, 'a certificate from another root is refused')
  t.match(wrong.stderr, /\[E_REGISTER_ROOT\]/)
  t.notMatch(wrong.stderr, /\n\s+at /, 'one line, no stack trace')
  t.same((await nodes[2].api('GET', '/v1/ops')).body.ops, [], 'nothing pooled')

  // the root issues the third node's CA certificate; `econumi register` puts it on chain
  const certDir = join(root, 'n2-ca')
  const issued = cli(['--json', 'ca', 'issue', '--root-cert', join(rootDir, 'root-cert.pem'), '--root-key', join(rootDir, 'root-key.pem'), '--node', ids[2], '--cpus', '1.5', '--memory', '1g', '--out', certDir])
  t.equal(issued.status, 0, issued.stderr)
  const reg = cli(['--data-dir', dirs[2], '--json', 'register', '--ca-cert', join(certDir, 'ca-cert.pem'), '--timeout', '90'])
  t.equal(reg.status, 0, reg.stderr)
  t.equal(JSON.parse(reg.stdout).status, 'on chain')
  for (const n of nodes) {
    const me = await until(async () => (await listed(n)).find((x) => x.nodeId === ids[2] && x.state === 'admitted'), 60_000, 'registration reached every node')
    t.equal(me.admittedBy, 'registration')
    t.equal(me.capacity?.millicores, '1500', 'with the capacity the root signed')
  }
  const again = cli(['--data-dir', dirs[2], 'register', '--ca-cert', join(certDir, 'ca-cert.pem')])
  t.match(again.stderr, /\[E_OP_REGISTERED\]/, 'registering twice is refused')

  // equivocation: node 1 signs two different headers for one epoch (made from its identity file, as a faulty or
  // malicious node would); the evidence goes to node 0 only
  const offender = loadIdentity(dirs[1])!
  const e = 1_000_000n
  const header = (time: bigint): ReturnType<typeof buildBlock> => buildBlock({ height: 5n, prevHash: g, epoch: e, time, winner: makeClaim(offender.signer, g, e), weight: 1n, totalWeight: 1n, reports: [], miner: addressBytesFromPublicKey(offender.signer.publicKey), coinbase: 0n, txs: [] }, offender.signer, g)
  const [a, b] = [header(epochStart(params, e)), header(epochStart(params, e) + 1n)]
  const ev = makeEquivocation({ type: 'blocks', a: { header: a.header, signature: a.signature }, b: { header: b.header, signature: b.signature } })
  const posted = await nodes[0].api('POST', '/v1/ops', { op: toHex(encodeOp(ev)) })
  t.equal(posted.status, 200, JSON.stringify(posted.body))
  for (const n of nodes) await until(async () => (await listed(n)).find((x) => x.nodeId === ids[1] && x.state === 'ejected'), 60_000, 'the offender is ejected on every node')
  const h0 = Number((await nodes[0].status()).height)
  await until(async () => Number((await nodes[0].status()).height) >= h0 + 2 ? true : undefined, 60_000, 'the chain goes on without it')

  // reindex rebuilds admission from the blocks
  await nodes[2].stop() // throws unless it exited by itself, with code 0
  const re = cli(['--data-dir', dirs[2], 'reindex'])
  t.equal(re.status, 0, re.stderr)
  const again2 = new NodeProcess(dirs[2], ['--offline']).start()
  t.teardown(async () => await again2.stop())
  await again2.ready()
  const after = await listed(again2)
  t.equal(after.find((x) => x.nodeId === ids[1])?.state, 'ejected', 'ejection survives reindex')
  t.equal(after.find((x) => x.nodeId === ids[2])?.state, 'admitted', 'registration survives reindex')
})

t.test('open admission: a bond locked by `econumi register`, unbonding by `unregister`, returned by `withdraw`', async (t) => {
  const root = tempDir('econumi-open-')
  const dirs = [0, 1].map((i) => join(root, `n${i}`))
  const ids = dirs.map((d) => JSON.parse(cli(['--data-dir', d, '--json', 'identity']).stdout).nodeId as string)
  const wallets = join(root, 'wallets')
  const env = { ...process.env, ECONUMI_PASSPHRASE: 'correct horse battery' }
  const w = spawnSync(process.execPath, [CLI, '--wallet-dir', wallets, '--json', 'createwallet'], { encoding: 'utf8', env })
  t.equal(w.status, 0, w.stderr)
  const owner = JSON.parse(w.stdout).address as string
  const genesis = join(root, 'genesis.json')
  const gc = cli(['genesis', 'create', '--network', 'opn', '--mode', 'open', '--epoch', '1000', '--node', `${ids[0]}:2:2g`, '--alloc', `${owner}=5`,
    '--bond-per-millicore', '1000', '--reorg-bound', '2', '--unbonding-epochs', '4', '--out', genesis])
  t.equal(gc.status, 0, gc.stderr)
  const bs = await localBootstrap()
  const nodes = dirs.map((d) => new NodeProcess(d, ['--genesis', genesis, '--bootstrap', bs.address]).start())
  t.teardown(async () => { await Promise.all(nodes.map(async (n) => await n.stop())); await bs.close() })
  await Promise.all(nodes.map(async (n) => await n.ready()))
  await until(async () => (await Promise.all(nodes.map(async (n) => (await n.status()).peers >= 1))).every(Boolean), 90_000, 'peers')

  const run = (args: string[]): { status: number | null, stdout: string, stderr: string } => {
    const r = spawnSync(process.execPath, [CLI, '--data-dir', dirs[1], '--wallet-dir', wallets, ...args], { encoding: 'utf8', timeout: 120_000, env })
    return { status: r.status, stdout: r.stdout, stderr: r.stderr }
  }
  t.match(run(['register', '--cpus', '1', '--memory', '1g', '--bond', '0.001', '--from', owner]).stderr, /\[E_REGISTER_BOND\]/, 'a bond below 1000 millicores × 1000 units is refused')
  t.match(run(['register', '--cpus', '1', '--memory', '1g', '--bond', '9', '--from', owner]).stderr, /\[E_REGISTER_BALANCE\]/, 'a bond above the balance is refused')
  const reg = run(['--json', 'register', '--cpus', '1', '--memory', '1g', '--bond', '0.5', '--from', owner, '--timeout', '90'])
  t.equal(reg.status, 0, reg.stderr)
  const balance = async (n: NodeProcess): Promise<string> => (await n.api('GET', `/v1/accounts/${owner}`)).body.balance
  for (const n of nodes) await until(async () => (await balance(n)) === String(450_000_000n) ? true : undefined, 60_000, 'the bond left the owner on every node')
  const listedBond = (await listed(nodes[0]) as any[]).find((x) => x.nodeId === ids[1])
  t.equal(listedBond?.bond?.amount, '50000000', 'econumi nodes shows the bond')

  const un = run(['--json', 'unregister', '--timeout', '90'])
  t.equal(un.status, 0, un.stderr)
  const end = JSON.parse(un.stdout).record.registration.unbondEnd as string
  t.ok(end !== null, `unbonding until epoch ${end}`)
  t.match(run(['withdraw']).stderr, /\[E_OP_UNBONDING\]/, 'the bond stays locked during the delay')
  await until(async () => BigInt((await nodes[1].status()).epoch) >= BigInt(end) ? true : undefined, 30_000, 'the delay passes')
  const wd = run(['--json', 'withdraw', '--timeout', '90'])
  t.equal(wd.status, 0, wd.stderr)
  for (const n of nodes) await until(async () => (await balance(n)) === String(500_000_000n) ? true : undefined, 60_000, 'the bond is back on every node')
})
