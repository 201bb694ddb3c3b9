// The Bitcoin Core–named commands against real node processes on loopback (`econumi start --foreground`):
// getblockcount, getbestblockhash, gettransaction (pending, then confirmed), getmempoolinfo, getbalance without
// an address (the local wallets' total), getpeerinfo (two nodes), each in text and --json, bad input refused.
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { formatAmount } from '../../protocol/amount.js'
import { CLI, NodeProcess, localBootstrap, tempDir, until, writeGenesis } from '../helpers/node-process.js'

const EPOCH_MS = 8000

interface Result { code: number, stdout: string, stderr: string }

async function cli (home: string, args: string[]): Promise<Result> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ECONUMI_HOME: home, ECONUMI_PASSPHRASE: 'chain commands test', ECONUMI_DEBUG: undefined }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1, stdout, stderr })
    })
  })
}

async function json<T = any> (home: string, args: string[]): Promise<T> {
  const r = await cli(home, ['--json', ...args])
  if (r.code !== 0) throw new Error(`econumi ${args.join(' ')}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

t.test('getblockcount, getbestblockhash, gettransaction, getmempoolinfo, getbalance (total), getpeerinfo', async (t) => {
  const dir = tempDir('econumi-cmds-')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const home = join(dir, 'home')
  const alice = (await json(home, ['createwallet'])).address as string
  const bob = (await json(home, ['createwallet'])).address as string
  const genesis = writeGenesis(dir, { epochMs: EPOCH_MS, allocations: [{ address: alice, amount: String(100n * 100_000_000n) }] })
  const bs = await localBootstrap()
  t.teardown(async () => { await bs.close() })
  const dirs = [join(home, 'node'), join(dir, 'peer')]
  const a = new NodeProcess(dirs[0], ['--genesis', genesis, '--bootstrap', bs.address, '--dev-compute-units', '100']).start()
  const b = new NodeProcess(dirs[1], ['--genesis', genesis, '--bootstrap', bs.address]).start()
  t.teardown(async () => { await a.stop(); await b.stop() })
  await a.ready()
  await b.ready()

  t.same((await cli(home, ['getbalance'])).stdout, `${formatAmount(100n * 100_000_000n)} ECO\n`, 'getbalance without an address: the wallets\' total')
  t.match(await json(home, ['getbalance']), { balance: '100', balanceUnits: '10000000000', wallets: 2 })

  await a.waitFor((e) => e.event === 'block', 30_000, 'a first block')
  const count = await json(home, ['getblockcount'])
  const best = await json(home, ['getbestblockhash'])
  const status = await a.status()
  t.equal(count.height, best.height, 'count and best hash are of one tip')
  t.ok(BigInt(count.height) >= 0n)
  const bare = (await cli(home, ['getblockcount'])).stdout
  t.match(bare, /^\d+\n$/, 'getblockcount prints the bare height')
  t.ok(BigInt(bare.trim()) >= BigInt(count.height), 'of the same chain')
  t.match(best.hash, /^[0-9a-f]{64}$/)
  if (status.height === count.height) t.equal(best.hash, status.tipHash, 'the best hash is the head\'s')
  const blockAt = await json(home, ['getblock', best.hash])
  t.equal(blockAt.height, best.height, 'getbestblockhash names a block getblock finds at that height')

    // once this epoch's block is on the head with ≥ 6 s of the epoch left (the send's passphrase KDF takes a second), a transaction waits in the mempool
  const genesisTime = Number(JSON.parse(readFileSync(genesis, 'utf8')).genesisTime)
  await until(async () => {
    const s = await a.status()
    if (s.tipHash === null) return false
    const head = (await a.api('GET', `/v1/blocks/${s.tipHash as string}`)).body as { epoch: string }
    const into = (Date.now() - genesisTime) % EPOCH_MS
    return Number(head.epoch) === Math.floor((Date.now() - genesisTime) / EPOCH_MS) && into < EPOCH_MS - 6000
  }, 30_000, 'this epoch\'s block on the head, early in the epoch', 50)
  const sent = await json(home, ['send', alice, bob, '1.25'])
  const pending = await json(home, ['gettransaction', sent.txid])
  t.match(pending, { txid: sent.txid, status: 'pending', confirmations: 0, from: alice, to: bob, amount: '125000000', amountEco: '1.25' })
  const pool = await json(home, ['getmempoolinfo'])
  t.equal(pool.size, 1, 'getmempoolinfo counts it')
  t.ok(pool.bytes > 100 && pool.bytes < 300, `and its bytes (${pool.bytes})`)
  t.match(pool, { capacity: Number, maxPerSender: Number, senders: 1, minFee: /^\d+$/ })
  t.match((await cli(home, ['getmempoolinfo'])).stdout, /^transactions\s+\d+ of at most \d+\nbytes\s+\d+\n/)

  const confirmed = await until(async () => {
    const r = await json(home, ['gettransaction', sent.txid])
    return r.status === 'confirmed' ? r : undefined
  }, 30_000, 'the transaction in a block')
  t.match(confirmed, { status: 'confirmed', height: /^\d+$/, blockHash: /^[0-9a-f]{64}$/, confirmations: /^\d+$/, fee: /^\d+$/ })
  const inBlock = await json(home, ['getblock', confirmed.blockHash])
  t.ok(inBlock.txs.some((x: { txid: string }) => x.txid === sent.txid), 'the block it names holds it')
  const human = (await cli(home, ['gettransaction', sent.txid.toUpperCase()])).stdout
  t.match(human, /status\s+confirmed \(\d+ confirmations?\)/)
  t.match(human, /amount\s+1\.25 ECO/, 'amounts in ECO')
  t.equal((await json(home, ['getmempoolinfo'])).size, 0, 'the mempool is empty again')

  // errors name amounts in ECO, not base units
  const overdraft = await cli(home, ['send', alice, bob, '1000'])
  t.equal(overdraft.code, 1)
  t.match(overdraft.stderr, /^econumi: balance does not cover amount and fee[^\n]* balance=98\.7499\d* ECO [^\n]*cost=1000\.00001 ECO[^\n]* \[E_TX_OVERDRAFT\]\n$/, `amounts in ECO: ${overdraft.stderr.trim()}`)

  // bad input: one line, a stable code
  const bad = await cli(home, ['gettransaction', 'xyz'])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /^econumi: [^\n]+ \[E_BAD_TXID\]\n$/)
  const unknown = await cli(home, ['gettransaction', 'ab'.repeat(32)])
  t.match(unknown.stderr, /^econumi: unknown transaction[^\n]* \[E_NOT_FOUND\]\n$/)

  // two nodes on one local network: each lists the other
  const peers = await until(async () => {
    const r = await json(home, ['getpeerinfo'])
    return r.peers.length > 0 ? r.peers as Array<Record<string, any>> : undefined
  }, 30_000, 'the peer connected')
  const bStatus = await b.status()
  t.equal(peers.length, 1)
  t.equal(peers[0].nodeId, bStatus.nodeId, 'the peer\'s node id')
  t.match(peers[0].address, /^127\.0\.0\.1:\d+$/, 'its loopback address')
  t.type(peers[0].inbound, 'boolean')
  t.ok(peers[0].bytesIn > 0 && peers[0].bytesOut > 0, `bytes in ${peers[0].bytesIn} and out ${peers[0].bytesOut}`)
  t.equal(peers[0].score, 0, 'an honest peer keeps its score')
  t.ok(Number.isInteger(peers[0].sendQueued) && peers[0].sendQueued >= 0, `bytes queued to it: ${peers[0].sendQueued}`)
  t.ok(peers[0].height === null || /^\d+$/.test(peers[0].height), 'the height it announced, if any')
  const table = (await cli(home, ['getpeerinfo'])).stdout
  t.match(table, /^NODE ID\s+ADDRESS\s+DIR\s+HEIGHT\s+SCORE\s+IN\s+OUT\s+QUEUED\s+CONNECTED\n/)
  t.match(table, bStatus.nodeId.slice(0, 16))
  const fromB = await json(home, ['--data-dir', dirs[1], 'getpeerinfo'])
  t.equal(fromB.peers[0]?.nodeId, status.nodeId, 'and the other way round')

  await a.stop()
  await b.stop()
  for (const [name, n] of [['A', a], ['B', b]] as const) t.ok(n.proc !== null && (n.proc.exitCode !== null || n.proc.signalCode !== null), `node ${name} exited`)
})
