// Runs the real built CLI (`node bin/econumi.js`) as a child process. The node, where one is needed,
// is a small fake that speaks the API contract on `<data-dir>/api.sock` (its /v1/status is checked
// against a real node's, field by field; the end-to-end test with a real node lives elsewhere).
// One file on purpose: every case drives the same built CLI, home directory and run helpers set up at the top.
import type { StatusJson } from '../../node/api-types.js'
import t from 'tap'
import { execFile, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promises as fs, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { addressFromPublicKey, decodeAddress } from '../../protocol/address.js'
import { keyPairFromSeed } from '../../protocol/keys.js'
import { loadOrCreateIdentity } from '../../node/identity.js'
import { unlockWallet } from '../../cli/wallet.js'
import { checkTransaction, decodeTransaction, recipientAddress, senderAddress, transactionId, type Transaction } from '../../protocol/transaction.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const bin = join(root, 'bin', 'econumi.js')
const built = join(root, 'dist', 'cli', 'main.js')

function newestSource (): number {
  let newest = 0
  for (const dir of ['cli', 'protocol', 'node']) {
    const full = join(root, dir)
    if (!existsSync(full)) continue
    for (const name of readdirSync(full, { recursive: true }) as string[]) {
      if (name.endsWith('.ts')) newest = Math.max(newest, statSync(join(full, name)).mtimeMs)
    }
  }
  return newest
}

t.before(() => {
  if (existsSync(built) && statSync(built).mtimeMs >= newestSource()) return
  // Files others are still editing may not type-check; tsc emits anyway, and the CLI is what is tested here.
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { cwd: root, encoding: 'utf8' })
  if (!existsSync(built)) throw new Error(`build failed:\n${r.stdout}\n${r.stderr}`)
})

const home = await fs.mkdtemp(join(tmpdir(), 'econumi-cli-')) // short: unix socket paths are limited to ~107 bytes
t.teardown(() => fs.rm(home, { recursive: true, force: true }))
let homeCount = 0
/** A fresh ECONUMI_HOME per test. */
async function freshHome (): Promise<string> {
  const dir = join(home, String(homeCount++))
  await fs.mkdir(dir)
  return dir
}

interface Result { code: number, stdout: string, stderr: string }

async function cli (args: string[], env: Record<string, string | undefined> = {}): Promise<Result> {
  const base: Record<string, string | undefined> = { ...process.env, ECONUMI_HOME: home, ECONUMI_PASSPHRASE: undefined, ECONUMI_API_TOKEN: undefined, ECONUMI_DEBUG: undefined }
  const merged = Object.fromEntries(Object.entries({ ...base, ...env }).filter(([, v]) => v !== undefined)) as Record<string, string>
  return await new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: merged, cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

/** Exactly one `econumi: … [CODE]` line on stderr, no stack, non-zero exit, nothing on stdout. */
type Asserts = Pick<typeof t, 'equal' | 'match' | 'notMatch'>

function assertOneLineError (t: Asserts, r: Result, code: string, exitCode = 1): void {
  t.equal(r.code, exitCode, `exit status ${exitCode}`)
  t.match(r.stderr, new RegExp(`^econumi: [^\\n]+ \\[${code}\\]\\n$`), `one line with [${code}]`)
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
  t.equal(r.stdout, '', 'nothing on stdout')
}

// a syntactically valid address nobody holds
const SOMEONE = addressFromPublicKey(keyPairFromSeed(new Uint8Array(32).fill(7)).publicKey)
const TYPO = SOMEONE.slice(0, 5) + (SOMEONE[5] === 'a' ? 'b' : 'a') + SOMEONE.slice(6)

const COMMANDS = ['start', 'stop', 'reindex', 'status', 'createwallet', 'listaddresses', 'getbalance', 'send', 'getblockreward', 'getblock', 'printchain']

t.test('--help of the program and of every command', async (t) => {
  const top = await cli(['--help'])
  t.equal(top.code, 0)
  for (const c of COMMANDS) t.match(top.stdout, new RegExp(`\\n  ${c}\\b`), `lists ${c}`)
  for (const c of COMMANDS) {
    const r = await cli([c, '--help'])
    t.equal(r.code, 0, `${c} --help exits 0`)
    t.match(r.stdout, `Usage: econumi ${c}`, `${c} --help shows its usage`)
    t.match(r.stdout, '--json', `${c} --help shows the global --json option`)
  }
  const viaHelp = await cli(['help', 'send'])
  t.match(viaHelp.stdout, 'Usage: econumi send [options] <from> <to> <amount>')
  const none = await cli([])
  t.equal(none.code, 2, 'no command: usage on stderr, exit 2')
  t.match(none.stderr, 'Usage: econumi')
  const version = await cli(['--version'])
  t.match(version.stdout, /^\d+\.\d+\.\d+/)
})

t.test('usage errors: one line, exit status 2', async (t) => {
  assertOneLineError(t, await cli(['frobnicate']), 'E_UNKNOWN_COMMAND', 2)
  assertOneLineError(t, await cli(['getbalanse', SOMEONE]), 'E_UNKNOWN_COMMAND', 2)
  assertOneLineError(t, await cli(['status', '--bogus']), 'E_UNKNOWN_OPTION', 2)
  assertOneLineError(t, await cli(['send', SOMEONE]), 'E_MISSING_ARGUMENT', 2)
  assertOneLineError(t, await cli(['send', SOMEONE, SOMEONE, '1', '2']), 'E_TOO_MANY_ARGUMENTS', 2)
  assertOneLineError(t, await cli(['send', SOMEONE, SOMEONE, '1', '--fee']), 'E_MISSING_ARGUMENT', 2)
  const json = await cli(['--json', 'frobnicate'])
  t.equal(json.code, 2)
  t.match(JSON.parse(json.stderr), { error: { code: 'E_UNKNOWN_COMMAND', message: /frobnicate/ } })
})

t.test('bad addresses, amounts and heights are refused before anything is sent', async (t) => {
  assertOneLineError(t, await cli(['getbalance', 'not-an-address']), 'E_BAD_ADDRESS')
  assertOneLineError(t, await cli(['getbalance', TYPO]), 'E_BAD_ADDRESS_CHECKSUM')
  assertOneLineError(t, await cli(['send', SOMEONE, 'Exyz', '1']), 'E_BAD_ADDRESS')
  assertOneLineError(t, await cli(['send', 'nobody', SOMEONE, '1']), 'E_BAD_ADDRESS')
  assertOneLineError(t, await cli(['send', SOMEONE, TYPO, '1']), 'E_BAD_ADDRESS_CHECKSUM')
  const OTHER = addressFromPublicKey(keyPairFromSeed(new Uint8Array(32).fill(8)).publicKey)
  for (const amount of ['1.000000001', '-1', '-0.5', '1e5', '0x10', 'abc', '1.5.5', '', ' ', '1,5', 'NaN', 'Infinity', '0', '0.00000000', '1234567890123456']) {
    assertOneLineError(t, await cli(['send', SOMEONE, OTHER, amount]), 'E_BAD_AMOUNT')
  }
  assertOneLineError(t, await cli(['send', SOMEONE, OTHER, '1', '--fee', '0.123456789']), 'E_BAD_AMOUNT')
  assertOneLineError(t, await cli(['send', SOMEONE, OTHER, '1', '--fee', '-1']), 'E_BAD_AMOUNT')
  for (const h of ['-1', '1.5', 'abc', '1e3', '0x10', '', '99999999999999999999999']) {
    assertOneLineError(t, await cli(['getblockreward', h]), 'E_BAD_HEIGHT')
  }
  assertOneLineError(t, await cli(['getblock', 'zz']), 'E_BAD_BLOCK_ID')
  assertOneLineError(t, await cli(['printchain', '--limit', '0']), 'E_BAD_LIMIT')
  assertOneLineError(t, await cli(['start', '--epoch', 'soon']), 'E_BAD_EPOCH')
  assertOneLineError(t, await cli(['start', '--alloc', `${SOMEONE}=1.000000001`]), 'E_BAD_AMOUNT')
  assertOneLineError(t, await cli(['start', '--alloc', 'nobody=5']), 'E_BAD_ADDRESS')
  assertOneLineError(t, await cli(['start', '--reward-address', TYPO]), 'E_BAD_ADDRESS_CHECKSUM')
  assertOneLineError(t, await cli(['start', '--api-port', '70000']), 'E_BAD_PORT')
  assertOneLineError(t, await cli(['start', '--bootstrap', 'localhost']), 'E_BAD_BOOTSTRAP')
  const json = await cli(['--json', 'getblockreward', 'x'])
  t.equal(json.code, 1)
  t.same(Object.keys(JSON.parse(json.stderr).error).sort(), ['code', 'message'])
  t.equal(JSON.parse(json.stderr).error.code, 'E_BAD_HEIGHT')
})

t.test('getblockreward with a height needs no node', async (t) => {
  const cases: Array<[string, string, string]> = [['0', '50', '5000000000'], ['209999', '50', '5000000000'], ['210000', '25', '2500000000'], ['420000', '12.5', '1250000000'], ['6929999', '0.00000001', '1'], ['6930000', '0', '0'], ['13439999', '0', '0'], ['13440000', '0', '0'], ['1000000000000', '0', '0']]
  for (const [height, eco, units] of cases) {
    const r = await cli(['getblockreward', height])
    t.equal(r.code, 0)
    t.equal(r.stdout, `${eco} ECO\n`, `height ${height}`)
    const j = await cli(['getblockreward', height, '--json'])
    t.same(JSON.parse(j.stdout), { height, reward: eco, rewardUnits: units })
  }
})

t.test('node not running', async (t) => {
  const dataDir = join(await freshHome(), 'node')
  for (const args of [['status'], ['getbalance', SOMEONE], ['getblockreward'], ['getblock', '0'], ['printchain'], ['stop']]) {
    const r = await cli(['--data-dir', dataDir, ...args])
    assertOneLineError(t, r, 'E_NODE_NOT_RUNNING')
    t.match(r.stderr, 'econumi start', 'with a hint')
  }
  const j = await cli(['--data-dir', dataDir, '--json', 'status'])
  t.equal(JSON.parse(j.stderr).error.code, 'E_NODE_NOT_RUNNING')
  // a stale socket file left by a crashed node: nothing listens behind the name
  await fs.mkdir(dataDir, { recursive: true })
  await fs.writeFile(join(dataDir, 'api.sock'), '')
  assertOneLineError(t, await cli(['--data-dir', dataDir, 'status']), 'E_NODE_NOT_RUNNING')
  assertOneLineError(t, await cli(['--api-url', 'http://127.0.0.1:1', 'status']), 'E_NODE_NOT_RUNNING')
  assertOneLineError(t, await cli(['--api-url', 'ftp://x', 'status']), 'E_BAD_API_URL')
})

t.test('createwallet and listaddresses', async (t) => {
  const h = await freshHome()
  const env = { ECONUMI_HOME: h }
  const empty = await cli(['listaddresses'], env)
  t.equal(empty.code, 0)
  t.match(empty.stdout, 'no wallets')
  t.same(JSON.parse((await cli(['listaddresses', '--json'], env)).stdout), { addresses: [] })

  assertOneLineError(t, await cli(['createwallet'], env), 'E_NO_PASSPHRASE') // stdin is not a terminal
  assertOneLineError(t, await cli(['createwallet'], { ...env, ECONUMI_PASSPHRASE: '' }), 'E_EMPTY_PASSPHRASE')
  assertOneLineError(t, await cli(['createwallet'], { ...env, ECONUMI_PASSPHRASE: 'short' }), 'E_WEAK_PASSPHRASE')
  t.same(JSON.parse((await cli(['listaddresses', '--json'], env)).stdout), { addresses: [] }, 'a refused passphrase leaves no wallet behind')
  const throwaway = await cli(['--insecure-passphrase', '--json', 'createwallet'], { ...env, ECONUMI_PASSPHRASE: 'short', ECONUMI_HOME: join(h, 'throwaway') })
  t.equal(throwaway.code, 0, `--insecure-passphrase allows a short one: ${throwaway.stderr}`)
  const passFile = join(h, 'pass.txt')
  writeFileSync(passFile, 'from a file, 1\nsecond line ignored\n', { mode: 0o600 })
  const viaFile = await cli(['--passphrase-file', passFile, '--wallet-dir', join(h, 'filed'), '--json', 'createwallet'], env)
  t.equal(viaFile.code, 0, `--passphrase-file: ${viaFile.stderr}`)
  t.ok(await unlockWallet(join(h, 'filed'), JSON.parse(viaFile.stdout).address, 'from a file, 1'), 'the file\'s first line is the passphrase')
  assertOneLineError(t, await cli(['--passphrase-file', join(h, 'nope'), 'createwallet'], env), 'E_PASSPHRASE_FILE')
  writeFileSync(join(h, 'short.txt'), 'abc\n')
  assertOneLineError(t, await cli(['--passphrase-file', join(h, 'short.txt'), 'createwallet'], env), 'E_WEAK_PASSPHRASE')
  const a = await cli(['createwallet'], { ...env, ECONUMI_PASSPHRASE: 'pw-secret-1' })
  t.equal(a.code, 0)
  const addrA = a.stdout.trim()
  t.doesNotThrow(() => decodeAddress(addrA), 'prints a valid address')
  const b = await cli(['--json', 'createwallet'], { ...env, ECONUMI_PASSPHRASE: 'pw-secret-1' })
  const jb = JSON.parse(b.stdout)
  t.match(jb, { address: String, publicKey: /^[0-9a-f]{64}$/, file: join(h, 'wallets', `${jb.address as string}.json`) })
  t.equal(b.stderr, '', 'nothing but the JSON object with --json')
  t.equal(statSync(jb.file).mode & 0o777, 0o600)
  t.equal(statSync(join(h, 'wallets')).mode & 0o777, 0o700)

  const list = await cli(['listaddresses'], env)
  t.same(list.stdout.trim().split('\n'), [addrA, jb.address].sort())
  t.same(JSON.parse((await cli(['listaddresses', '--json'], env)).stdout), { addresses: [addrA, jb.address].sort().map((address) => ({ address })) })
  const otherDir = join(h, 'elsewhere')
  const c = await cli(['--wallet-dir', otherDir, 'createwallet'], { ...env, ECONUMI_PASSPHRASE: 'pw-secret-1' })
  t.same((await cli(['listaddresses', '--wallet-dir', otherDir], env)).stdout.trim(), c.stdout.trim(), '--wallet-dir, also after the command')
})

// ---- a fake node speaking the API contract ----
interface FakeNode { dataDir: string, url?: string, posted: Transaction[], requests: string[], close: () => Promise<void> }

const GENESIS = randomBytes(32)
const MIN_FEE = 1000n

function blockJson (height: number): Record<string, unknown> {
  return { hash: height.toString(16).padStart(64, '0'), height: String(height), prevHash: (height - 1).toString(16).padStart(64, '0'), epoch: String(height + 10), time: String(1_700_000_000_000 + height * 1000), miner: SOMEONE, coinbase: '5000000000', winner: { nodeId: 'ab'.repeat(32), weight: '10', totalWeight: '20' }, reports: [], txs: [] }
}

let realStatus: Record<string, unknown> | null = null
/** GET /v1/status of a real node (opened once, offline): the fake's answer has exactly its shape. */
async function fakeStatus (values: StatusJson): Promise<StatusJson> {
  if (realStatus === null) {
    const { EconumiNode } = await import('../../node/node.js')
    const { loadOrCreateGenesis } = await import('../../node/main.js')
    const dir = join(await freshHome(), 'real-node')
    await fs.mkdir(dir, { recursive: true })
    const { params } = loadOrCreateGenesis(dir, { epochMs: 1000n })
    const node = await EconumiNode.open({ dataDir: dir, params })
    realStatus = JSON.parse(JSON.stringify(node.status())) as Record<string, unknown>
    await node.close()
  }
  const shape = (v: unknown): unknown => v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)])) : v === null ? 'null|string' : typeof v
  const real = shape(realStatus) as Record<string, unknown>
  const fake = shape(values) as Record<string, unknown>
  // same keys, same types (a null tipHash of the empty real chain stands for string|null)
  for (const k of new Set([...Object.keys(real), ...Object.keys(fake)])) {
    if (JSON.stringify(real[k]) !== JSON.stringify(fake[k]) && !(real[k] === 'null|string' && (fake[k] === 'string' || fake[k] === 'null|string'))) throw new Error(`fake /v1/status field ${k} is ${JSON.stringify(fake[k])}; the real node's is ${JSON.stringify(real[k])}`)
  }
  return values
}

async function fakeNode (test: Pick<typeof t, 'teardown'>, opts: { token?: string, blocks?: number } = {}): Promise<FakeNode> {
  const dataDir = join(await freshHome(), 'node')
  await fs.mkdir(dataDir, { recursive: true })
  const posted: Transaction[] = []
  const requests: string[] = []
  const chainLength = opts.blocks ?? 250
  // eslint-disable-next-line prefer-const -- assigned after the handler that closes it is defined
  let server: Server
  const send = (res: ServerResponse, status: number, body: unknown): void => { res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)) }
  const fail = (res: ServerResponse, status: number, code: string, message: string): void => send(res, status, { error: { code, message } })
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''}`)
    if (opts.token !== undefined && req.headers.authorization !== `Bearer ${opts.token}`) { fail(res, 401, 'E_UNAUTHORIZED', 'missing or wrong bearer token'); return }
    const url = new URL(req.url ?? '/', 'http://x')
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString()) : undefined
    const p = url.pathname
    if (req.method === 'GET' && p === '/v1/status') send(res, 200, await fakeStatus({ network: 'fake', mode: 'devnet', genesisHash: GENESIS.toString('hex'), nodeId: 'ab'.repeat(32), pid: 4_194_303 /* no such process: the fake has no process of its own to wait for */, rewardAddress: SOMEONE, height: String(chainLength - 1), tipHash: 'cd'.repeat(32), epoch: '99', epochMs: '1000', mempool: posted.length, peers: 0, sync: { height: String(chainLength - 1), target: String(chainLength - 1), syncing: false } }))
    else if (req.method === 'GET' && p === '/v1/genesis') send(res, 200, { network: 'fake', genesisTime: '0', epochMs: '1000', maxClaimCu: '1000', minFee: MIN_FEE.toString(), maxBlockTxs: 1000, allocations: [] })
    else if (req.method === 'GET' && p.startsWith('/v1/accounts/')) send(res, 200, { address: p.slice(13), balance: '123450000000', nonce: '3', pendingNonce: '5' })
    else if (req.method === 'GET' && p === '/v1/reward') send(res, 200, { height: String(chainLength), reward: '5000000000' })
    else if (req.method === 'GET' && p === '/v1/blocks') {
      const from = Number(url.searchParams.get('from') ?? 0)
      const limit = Number(url.searchParams.get('limit') ?? 100)
      if (limit < 1 || limit > 1000) { fail(res, 400, 'E_BAD_REQUEST', 'limit must be 1..1000'); return }
      const blocks = []
      for (let h = from; h < Math.min(from + limit, chainLength); h++) blocks.push(blockJson(h))
      send(res, 200, { blocks })
    } else if (req.method === 'GET' && p.startsWith('/v1/blocks/')) {
      const id = p.slice(11)
      if (/^\d+$/.test(id) && Number(id) < chainLength) send(res, 200, blockJson(Number(id)))
      else fail(res, 404, 'E_NOT_FOUND', `no such block id=${id}`)
    } else if (req.method === 'POST' && p === '/v1/transactions') {
      try {
        const tx = decodeTransaction(Buffer.from(body.tx as string, 'hex'))
        checkTransaction(tx, GENESIS, MIN_FEE)
        if (tx.amount === 77_700_000_000n) { fail(res, 400, 'E_TX_BALANCE', 'insufficient balance'); return }
        posted.push(tx)
        send(res, 200, { txid: Buffer.from(transactionId(tx)).toString('hex') })
      } catch (err) {
        fail(res, 400, (err as { code?: string }).code ?? 'E_BAD_REQUEST', (err as Error).message)
      }
    } else if (req.method === 'POST' && p === '/v1/shutdown') {
      send(res, 200, { ok: true })
      setImmediate(() => { server.close(); server.closeAllConnections() })
    } else fail(res, 404, 'E_NOT_FOUND', 'no such endpoint')
  }
  server = createServer((req, res) => { handle(req, res).catch((err) => fail(res, 500, 'E_INTERNAL', String(err))) })
  let url: string | undefined
  if (opts.token !== undefined) {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  } else {
    await new Promise<void>((resolve) => server.listen(join(dataDir, 'api.sock'), resolve))
  }
  const close = async (): Promise<void> => { if (server.listening) await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections() }) }
  test.teardown(close)
  return { dataDir, url, posted, requests, close }
}

t.test('createwallet --import-node-key: the node key that receives rewards becomes a wallet', async (t) => {
  const h = await freshHome()
  const env = { ECONUMI_HOME: h, ECONUMI_PASSPHRASE: 'pw-secret-1' }
  assertOneLineError(t, await cli(['createwallet', '--import-node-key'], env), 'E_NO_NODE_KEY')
  await fs.mkdir(join(h, 'node'), { mode: 0o700 })
  const identity = loadOrCreateIdentity(join(h, 'node')) // what a node's first start writes
  const r = await cli(['--json', 'createwallet', '--import-node-key'], env)
  t.equal(r.code, 0, r.stderr)
  const j = JSON.parse(r.stdout)
  t.equal(j.address, identity.address, 'the wallet holds the node identity\'s address')
  t.equal(statSync(j.file).mode & 0o777, 0o600)
  t.notMatch(await fs.readFile(j.file, 'utf8'), Buffer.from(identity.signer.seed).toString('hex'), 'the key is stored encrypted, not as it is in the node dir')
  assertOneLineError(t, await cli(['createwallet', '--import-node-key'], env), 'E_WALLET_EXISTS')
  const unlocked = await unlockWallet(join(h, 'wallets'), identity.address, 'pw-secret-1')
  t.same(unlocked.publicKey, identity.signer.publicKey, 'the passphrase unlocks the node key')
  await fs.writeFile(join(h, 'node', 'identity.json'), '{"version":1,"seed":"zz"}')
  assertOneLineError(t, await cli(['createwallet', '--import-node-key'], env), 'E_IDENTITY_CORRUPT')
})

t.test('send: signs locally with the pending nonce, the genesis hash and the minimum fee', async (t) => {
  const node = await fakeNode(t)
  const h = join(node.dataDir, '..')
  const env = { ECONUMI_HOME: h, ECONUMI_PASSPHRASE: 'pw-secret-1' }
  const from = (await cli(['createwallet'], env)).stdout.trim()
  const to = (await cli(['createwallet'], env)).stdout.trim()

  const r = await cli(['send', from, to, '1.5'], env)
  t.equal(r.code, 0, r.stderr)
  t.equal(node.posted.length, 1)
  const tx = node.posted[0]
  t.equal(r.stdout, Buffer.from(transactionId(tx)).toString('hex') + '\n', 'prints the txid')
  t.equal(senderAddress(tx), from)
  t.equal(recipientAddress(tx), to)
  t.equal(tx.amount, 150_000_000n, 'amount parsed exactly')
  t.equal(tx.fee, MIN_FEE, 'default fee is the network minimum')
  t.equal(tx.nonce, 5n, 'nonce is the pending nonce')

  const j = await cli(['--json', 'send', from, to, '0.00000001', '--fee', '0.001'], env)
  t.same(JSON.parse(j.stdout), { txid: Buffer.from(transactionId(node.posted[1])).toString('hex'), from, to, amount: '0.00000001', amountUnits: '1', fee: '0.001', feeUnits: '100000', nonce: '5' })

  const before = node.posted.length
  assertOneLineError(t, await cli(['send', from, to, '1'], { ...env, ECONUMI_PASSPHRASE: 'wrong' }), 'E_BAD_PASSPHRASE')
  assertOneLineError(t, await cli(['send', from, to, '1'], { ...env, ECONUMI_PASSPHRASE: undefined }), 'E_NO_PASSPHRASE')
  assertOneLineError(t, await cli(['send', SOMEONE, to, '1'], env), 'E_WALLET_NOT_FOUND')
  assertOneLineError(t, await cli(['send', from, from, '1'], env), 'E_SAME_ADDRESS')
  assertOneLineError(t, await cli(['send', from, to, '1', '--fee', '0.000001'], env), 'E_TX_FEE')
  assertOneLineError(t, await cli(['send', from, to, '777'], env), 'E_TX_BALANCE') // the API's own code comes through
  t.equal(node.posted.length, before, 'nothing was accepted by the node')
  t.notOk(node.requests.some((r) => r.startsWith('POST') && r.includes(SOMEONE)))

  // the wallet file is damaged: the error names it
  const walletFile = join(h, 'wallets', `${from}.json`)
  await fs.writeFile(walletFile, '{"version":1')
  const corrupt = await cli(['send', from, to, '1'], env)
  assertOneLineError(t, corrupt, 'E_WALLET_CORRUPT')
  t.match(corrupt.stderr, walletFile)
})

t.test('send: wrong passphrase is refused with no node at all', async (t) => {
  // The node is asked first (so a stopped node is reported before typing a passphrase); with the
  // node down the error is E_NODE_NOT_RUNNING, and nothing is unlocked.
  const h = await freshHome()
  const env = { ECONUMI_HOME: h, ECONUMI_PASSPHRASE: 'pw-secret-1' }
  const from = (await cli(['createwallet'], env)).stdout.trim()
  assertOneLineError(t, await cli(['send', from, SOMEONE, '1'], { ...env, ECONUMI_PASSPHRASE: 'wrong' }), 'E_NODE_NOT_RUNNING')
})

t.test('read commands against a node', async (t) => {
  const node = await fakeNode(t)
  const g = ['--data-dir', node.dataDir]
  const status = await cli([...g, 'status'])
  t.equal(status.code, 0)
  t.match(status.stdout, /network\s+fake/)
  t.match(status.stdout, /height\s+249/)
  t.match(JSON.parse((await cli([...g, 'status', '--json'])).stdout), { network: 'fake', height: '249', mempool: 0 })

  const bal = await cli([...g, 'getbalance', SOMEONE])
  t.match(bal.stdout, /balance\s+1234\.5 ECO/)
  t.same(JSON.parse((await cli([...g, '--json', 'getbalance', SOMEONE])).stdout), { address: SOMEONE, balance: '1234.5', balanceUnits: '123450000000', nonce: '3', pendingNonce: '5' })

  t.equal((await cli([...g, 'getblockreward'])).stdout, '50 ECO\n', 'next block\'s reward from the node')
  t.same(JSON.parse((await cli([...g, '--json', 'getblockreward'])).stdout), { height: '250', reward: '50', rewardUnits: '5000000000' })

  const block = await cli([...g, 'getblock', '7'])
  t.match(block.stdout, /block\s+7\s+0{63}7/)
  t.same(JSON.parse((await cli([...g, '--json', 'getblock', '7'])).stdout), blockJson(7))
  assertOneLineError(t, await cli([...g, 'getblock', '9999']), 'E_NOT_FOUND')

  const all = await cli([...g, 'printchain'])
  t.equal(all.stdout.trim().split('\n').length, 250, 'pages through the whole chain')
  const some = JSON.parse((await cli([...g, '--json', 'printchain', '--from', '240', '--limit', '5'])).stdout)
  t.same(some.blocks.map((b: { height: string }) => b.height), ['240', '241', '242', '243', '244'])
  const tail = JSON.parse((await cli([...g, '--json', 'printchain', '--from', '245', '--limit', '500'])).stdout)
  t.equal(tail.blocks.length, 5)
  t.match((await cli([...g, 'printchain', '--from', '900'])).stdout, 'no blocks from height 900')

  const h = join(node.dataDir, '..')
  const env = { ECONUMI_HOME: h, ECONUMI_PASSPHRASE: 'pw-secret-1' }
  const w = (await cli(['createwallet'], env)).stdout.trim()
  const withBalances = await cli(['listaddresses', '--balances'], env)
  t.match(withBalances.stdout, `${w}  1234.5 ECO`)
  t.match(JSON.parse((await cli(['listaddresses', '--balances', '--json'], env)).stdout), { addresses: [{ address: w, balance: '1234.5', balanceUnits: '123450000000' }], total: '1234.5' })

  const stop = await cli([...g, 'stop'])
  t.equal(stop.code, 0, stop.stderr)
  t.equal(stop.stdout, 'node stopped\n')
  t.notOk(existsSync(join(node.dataDir, 'api.sock')), 'the API is gone')
})

t.test('TCP API with a bearer token', async (t) => {
  const node = await fakeNode(t, { token: 's3cret' })
  const url = node.url as string
  assertOneLineError(t, await cli(['--api-url', url, 'status']), 'E_UNAUTHORIZED')
  assertOneLineError(t, await cli(['--api-url', url, '--api-token', 'nope', 'status']), 'E_UNAUTHORIZED')
  t.match((await cli(['--api-url', url, '--api-token', 's3cret', 'status'])).stdout, /network\s+fake/)
  t.match((await cli(['--api-url', url, 'status'], { ECONUMI_API_TOKEN: 's3cret' })).stdout, /network\s+fake/, 'token from ECONUMI_API_TOKEN')
})

t.test('internal errors: one line, the stack only with ECONUMI_DEBUG=1', async (t) => {
  // A node that answers with something that is not JSON at all.
  const dataDir = join(await freshHome(), 'node')
  await fs.mkdir(dataDir, { recursive: true })
  const server = createServer((_req, res) => { res.writeHead(200).end('<html>') })
  await new Promise<void>((resolve) => server.listen(join(dataDir, 'api.sock'), resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  assertOneLineError(t, await cli(['--data-dir', dataDir, 'status']), 'E_API_BAD_RESPONSE')
  // A JSON answer of the wrong shape makes the human output fail inside the CLI.
  server.removeAllListeners('request')
  server.on('request', (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"blocks": 5}') })
  assertOneLineError(t, await cli(['--data-dir', dataDir, 'printchain']), 'E_INTERNAL', 70)
  const debug = await cli(['--data-dir', dataDir, 'printchain'], { ECONUMI_DEBUG: '1' })
  t.equal(debug.code, 70)
  t.match(debug.stderr, /^econumi: internal error: [^\n]+ \[E_INTERNAL\]\n/)
  t.match(debug.stderr, /\n\s+at /, 'stack with ECONUMI_DEBUG=1')
})
