// kill -9 at random moments while the node appends blocks and writes the ledger and mempool, many
// times: after every restart the chain, the ledger and the wallets are consistent and nothing that
// was acknowledged is lost.
import t from 'tap'
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { addressFromPublicKey } from '../../protocol/address.js'
import { COIN } from '../../protocol/amount.js'
import { genesisHash, paramsFromJson } from '../../protocol/params.js'
import { blockReward } from '../../protocol/reward.js'
import { encodeTransaction } from '../../protocol/transaction.js'
import { readFileSync } from 'node:fs'
import { listWallets, unlockWallet } from '../../cli/wallet.js'
import { alice, bob, tx } from '../helpers/chain.js'
import { CLI, NodeProcess, tempDir, writeGenesis } from '../helpers/node-process.js'

const CYCLES = Number(process.env.ECONUMI_CRASH_CYCLES ?? 8)

t.test(`node survives ${CYCLES} kill -9 cycles with nothing acknowledged lost`, async (t) => {
  const root = tempDir('econumi-crash-')
  const genesis = writeGenesis(root, { epochMs: 200, allocations: [{ address: addressFromPublicKey(alice.publicKey), amount: String(1000n * COIN) }] })
  const g = genesisHash(paramsFromJson(JSON.parse(readFileSync(genesis, 'utf8'))))
  const dir = join(root, 'node')
  const acked: string[] = []
  let nonce = 0n
  let node: NodeProcess | null = null
  t.teardown(async () => { await node?.stop() })
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    // check with a node that does not produce, so nothing moves while the ledger is read
    node = new NodeProcess(dir, ['--genesis', genesis, '--offline']).start()
    const ready = await node.ready()
    const st = await node.status()
    const rewardAddress = String(ready.rewardAddress)
    // consistency after the previous crash
    const height = Number(st.height)
    const a = (await node.api('GET', `/v1/accounts/${addressFromPublicKey(alice.publicKey)}`)).body
    const b = (await node.api('GET', `/v1/accounts/${addressFromPublicKey(bob.publicKey)}`)).body
    const m = (await node.api('GET', `/v1/accounts/${rewardAddress}`)).body
    let minted = 0n
    for (let h = 0; h <= height; h++) minted += blockReward(BigInt(h))
    t.equal(BigInt(a.balance) + BigInt(b.balance) + BigInt(m.balance), 1000n * COIN + minted, `cycle ${cycle}: money is conserved at height ${height}`)
    t.equal(BigInt(a.pendingNonce), nonce, `cycle ${cycle}: every acknowledged transaction is still known (nonce ${nonce})`)
    for (const id of acked) {
      const r = await node.api('GET', `/v1/transactions/${id}`)
      if (r.status !== 200) t.fail(`cycle ${cycle}: acknowledged transaction ${id} was lost`)
    }
    const blocks = (await node.api('GET', `/v1/blocks?from=0&limit=1000`)).body.blocks as Array<{ height: string, prevHash: string, hash: string }>
    t.equal(blocks.length, Math.min(height + 1, 1000), `cycle ${cycle}: every height has a block`)
    t.ok(blocks.every((blk, i) => i === 0 || blk.prevHash === blocks[i - 1].hash), `cycle ${cycle}: blocks link up`)

    await node.stop()
    node = new NodeProcess(dir, ['--offline', '--dev-compute-units', '10']).start()
    await node.ready()
    // load: submit transactions while blocks are produced, then kill -9 at a random moment
    const killAt = Date.now() + 300 + Math.floor(Math.random() * 1200)
    while (Date.now() < killAt) {
      const bytes = encodeTransaction(tx(alice, bob, 1000n, nonce, g))
      const res = await node.api('POST', '/v1/transactions', { tx: Buffer.from(bytes).toString('hex') }).catch(() => null)
      if (res?.status === 200) { acked.push(res.body.txid); nonce++ }
    }
    node.kill9()
    await node.exited
  }
  t.ok(acked.length > CYCLES, `${acked.length} transactions acknowledged across the crashes`)
})

t.test('wallet files survive kill -9 during createwallet', async (t) => {
  const home = tempDir('econumi-wallet-crash-')
  const walletDir = join(home, 'wallets')
  let created = 0
  for (let i = 0; i < 12; i++) {
    const child = spawn(process.execPath, [CLI, '--wallet-dir', walletDir, 'createwallet', '--json'], { env: { ...process.env, ECONUMI_HOME: home, ECONUMI_PASSPHRASE: 'correct horse' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    // the first run is never killed, so there is always a wallet to check; the rest die at random moments
    const delay = i === 0 ? 60_000 : 200 + Math.floor(Math.random() * 1200)
    const timer = setTimeout(() => child.kill('SIGKILL'), delay)
    await new Promise((resolve) => child.on('exit', resolve))
    clearTimeout(timer)
    if (out.includes('address')) created++
  }
  const files = readdirSync(walletDir)
  const wallets = await listWallets(walletDir)
  t.ok(wallets.length >= created, `every reported wallet exists (${created} reported, ${wallets.length} on disk)`)
  for (const w of wallets) {
    const unlocked = await unlockWallet(walletDir, w, 'correct horse')
    t.ok(unlocked, 'wallet unlocks')
  }
  // a run killed mid-write may leave its own temp file (.<address>.json.<pid>.<hex>.tmp, never a *.json);
  // anything else, or a *.json that is not a wallet that unlocks, is a stray file
  const temp = /^\.[1-9A-HJ-NP-Za-km-z]+\.json\.(\d+)\.[0-9a-f]{12}\.tmp$/
  const stray = files.filter((f) => f.endsWith('.json') ? !wallets.includes(f.slice(0, -'.json'.length)) : temp.exec(f) === null)
  t.same(stray, [], 'no stray files')
  t.ok(files.filter((f) => temp.test(f)).length <= 11, 'at most one temp file per killed run')
})
