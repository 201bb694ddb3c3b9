// A consortium network made with the real CLI: `econumi identity` on three data dirs, `econumi genesis create
// --mode consortium --node …`, three real node processes on a loopback DHT. They produce blocks with their genesis
// capacities as weights (no work reports yet), agree on balances, list each other in `econumi nodes`, and refuse
// unattested work: `--dev-compute-units` exits with E_UNATTESTED_CLAIMS, and an outsider's blocks never count.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { COIN } from '../../protocol/amount.js'
import { genesisHash, paramsFromJson } from '../../protocol/params.js'
import { encodeTransaction } from '../../protocol/transaction.js'
import { readFileSync } from 'node:fs'
import { CLI, NodeProcess, localBootstrap, tempDir, until } from '../helpers/node-process.js'
import { addr, alice, bob, tx } from '../helpers/chain.js'

function cli (args: string[], env: Record<string, string> = {}): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

t.test('a 3-node consortium made with the CLI produces blocks; balances agree; unattested work is refused', async (t) => {
  const root = tempDir('econumi-consortium-')
  const dirs = [0, 1, 2].map((i) => join(root, `n${i}`))
  const ids = dirs.map((d) => {
    const r = cli(['--data-dir', d, '--json', 'identity'])
    t.equal(r.status, 0, r.stderr)
    return JSON.parse(r.stdout).nodeId as string
  })
  t.equal(JSON.parse(cli(['--data-dir', dirs[0], '--json', 'identity']).stdout).nodeId, ids[0], 'identity is stable')
  const genesis = join(root, 'genesis.json')
  const made = cli(['--json', 'genesis', 'create', '--network', 'cons', '--mode', 'consortium', '--epoch', '1000',
    '--node', `${ids[0]}:2:2g`, '--node', `${ids[1]}:1:1g`, '--node', `${ids[2]}:1:1g`,
    '--alloc', `${addr(alice)}=100`, '--out', genesis])
  t.equal(made.status, 0, made.stderr)
  t.match(JSON.parse(made.stdout), { ok: true, network: 'cons', mode: 'consortium', nodes: 3 })
  const params = paramsFromJson(JSON.parse(readFileSync(genesis, 'utf8')))
  const g = genesisHash(params)
  t.equal(params.mode, 'consortium')
  // bad input: one line, a stable code
  const bad = cli(['genesis', 'create', '--network', 'cons', '--mode', 'consortium', '--node', 'nothex:1:1g'])
  t.not(bad.status, 0)
  t.match(bad.stderr, /\[E_BAD_NODE\]/)
  t.match(cli(['genesis', 'create', '--network', 'x', '--mode', 'wild']).stderr, /\[E_BAD_MODE\]/)

  const bs = await localBootstrap()
  // unattested fixed compute units are a devnet feature: refused at start, non-zero exit
  const dev = cli(['--data-dir', join(root, 'dev'), 'start', '--foreground', '--genesis', genesis, '--offline', '--dev-compute-units', '5'])
  t.not(dev.status, 0, 'refused')
  t.match(dev.stderr, /\[E_UNATTESTED_CLAIMS\]/)

  const nodes = dirs.map((d) => new NodeProcess(d, ['--genesis', genesis, '--bootstrap', bs.address]).start())
  t.teardown(async () => { await Promise.all(nodes.map(async (n) => await n.stop())); await bs.close() })
  await Promise.all(nodes.map(async (n) => await n.ready()))
  await until(async () => (await Promise.all(nodes.map(async (n) => (await n.status()).peers >= 2))).every(Boolean), 90_000, 'full mesh')
  const sent = await nodes[1].api('POST', '/v1/transactions', { tx: Buffer.from(encodeTransaction(tx(alice, bob, 7n * COIN, 0n, g))).toString('hex') })
  t.equal(sent.status, 200, JSON.stringify(sent.body))
  await until(async () => (await Promise.all(nodes.map(async (n) => (await n.api('GET', `/v1/transactions/${sent.body.txid}`)).body.status === 'confirmed'))).every(Boolean), 60_000, 'confirmed on every node')
  const height = await until(async () => {
    const sts = await Promise.all(nodes.map(async (n) => await n.status()))
    const h = Math.min(...sts.map((s) => Number(s.height)))
    if (h < 3) return undefined
    const hashes = await Promise.all(nodes.map(async (n) => (await n.api('GET', `/v1/blocks/${h}`)).body.hash))
    return hashes.every((x) => x === hashes[0]) ? h : undefined
  }, 60_000, 'one chain of 4+ blocks on every node')
  for (const n of nodes) {
    t.equal((await n.api('GET', `/v1/accounts/${addr(bob)}`)).body.balance, String(7n * COIN), 'bob on every node')
    t.equal((await n.api('GET', `/v1/accounts/${addr(alice)}`)).body.balance, String(93n * COIN - 1000n), 'alice on every node')
  }
  // econumi nodes: the three admitted nodes with their capacities, and who led
  const listed = cli(['--data-dir', dirs[2], '--json', 'nodes'])
  t.equal(listed.status, 0, listed.stderr)
  const list = JSON.parse(listed.stdout) as { mode: string, nodes: Array<{ nodeId: string, capacity: { millicores: string } | null, blocksWon: string, state: string, bootstrapWeight: boolean }> }
  t.equal(list.mode, 'consortium')
  t.same(list.nodes.map((n) => n.nodeId).sort(), [...ids].sort(), 'exactly the admitted nodes')
  t.equal(list.nodes.find((n) => n.nodeId === ids[0])?.capacity?.millicores, '2000')
  t.ok(list.nodes.every((n) => n.state === 'admitted'))
  const led = list.nodes.reduce((s, n) => s + Number(n.blocksWon), 0)
  t.ok(led >= height + 1, `blocks led ${led} cover the chain (height ${height})`)
  const human = cli(['--data-dir', dirs[2], 'nodes'])
  t.match(human.stdout, /^NODE\s+CAPACITY\s+BOND\s+WEIGHT\s+BLOCKS\s+STATE/)
})
