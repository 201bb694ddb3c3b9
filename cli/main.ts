// The `econumi` command. Every command prints readable text, or one JSON object on stdout with --json;
// every failure is one line on stderr, `econumi: <message> [<CODE>]`, and a non-zero exit status:
// 1 for a refused request (bad input, wrong passphrase, node not running, …), 2 for a usage error
// (unknown command or option, missing argument), 70 for an internal error (stack with ECONUMI_DEBUG=1).
import { packageVersion } from './version.js'
import { Command, CommanderError, Option } from 'commander'
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { decodeAddress } from '../protocol/address.js'
import { MAX_MONEY, formatAmount, parseAmount } from '../protocol/amount.js'
import { fromHex, toHex } from '../protocol/encoding.js'
import { EconumiError, fail, isEconumiError } from '../protocol/errors.js'
import { blockReward } from '../protocol/reward.js'
import { encodeTransaction, signTransaction, transactionId } from '../protocol/transaction.js'
import { addAdmissionCommands } from './admission.js'
import { ApiClient, type ApiEndpoint } from './client.js'
import { createWallet, hasWallet, importWallet, listWallets, unlockWallet } from './wallet.js'
import { type NodeIdentity, loadIdentity } from '../node/identity.js'

const EXIT_REFUSED = 1
const EXIT_USAGE = 2
const EXIT_INTERNAL = 70
const EXIT_CANCELLED = 130

// ---- shapes returned by the node API (BigInt values as decimal strings) ----
interface StatusJson {
  network: string
  genesisHash: string
  nodeId: string
  rewardAddress: string
  height: string
  tipHash: string | null
  epoch: string
  epochMs: string
  mempool: number
  peers: number
  sync: { height: string, target: string }
}
interface AccountJson { address: string, balance: string, nonce: string, pendingNonce: string }
interface GenesisJson { network: string, minFee: string }
interface TxJson { txid: string, from: string, to: string, amount: string, fee: string, nonce: string }
interface BlockJson {
  hash: string
  height: string
  prevHash: string
  epoch: string
  time: string
  miner: string
  coinbase: string
  winner: { nodeId: string, weight: string, totalWeight: string }
  reports: Array<{ nodeId: string, epoch: string, cu: string, evidenceRoot: string }>
  txs: TxJson[]
}

// ---- global options and output ----
interface GlobalOptions {
  dataDir: string
  walletDir: string
  json: boolean
  apiUrl?: string
  apiToken?: string
  apiTokenFile?: string
}

function econumiHome (): string {
  const env = process.env.ECONUMI_HOME
  return env !== undefined && env !== '' ? resolve(env) : join(homedir(), '.econumi')
}

function globals (cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals<Partial<GlobalOptions>>()
  return {
    dataDir: resolve(o.dataDir ?? join(econumiHome(), 'node')),
    walletDir: resolve(o.walletDir ?? join(econumiHome(), 'wallets')),
    json: o.json === true,
    apiUrl: o.apiUrl,
    apiToken: o.apiToken ?? (o.apiTokenFile !== undefined ? readTokenFile(o.apiTokenFile) : undefined) ?? process.env.ECONUMI_API_TOKEN
  }
}

/** A token file: the bare token, or the node's own `<data-dir>/api.token` (a JSON string). */
function readTokenFile (path: string): string {
  let text: string
  try { text = readFileSync(path, 'utf8').trim() } catch (err) { fail('E_API_TOKEN_FILE', `cannot read the API token file ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { path }) }
  try { const j: unknown = JSON.parse(text); if (typeof j === 'string') return j } catch {}
  return text
}

function client (g: GlobalOptions): ApiClient {
  const endpoint: ApiEndpoint = g.apiUrl !== undefined
    ? { url: g.apiUrl, token: g.apiToken }
    : { socketPath: join(g.dataDir, 'api.sock') }
  return new ApiClient(endpoint)
}

function jsonText (value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => typeof v === 'bigint' ? v.toString() : v)
}

/** One JSON object with --json, else the human lines. */
function emit (g: GlobalOptions, json: unknown, human: string | string[]): void {
  const text = g.json ? jsonText(json) : Array.isArray(human) ? human.join('\n') : human
  process.stdout.write(text + '\n')
}

/** Aligned `label  value` lines. */
function table (rows: Array<[string, string]>): string[] {
  const width = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)
}

function eco (units: string | bigint): string { return `${formatAmount(BigInt(units))} ECO` }

function formatTime (ms: string): string {
  const n = Number(ms)
  return Number.isFinite(n) && n > 0 && n < 8.64e15 ? new Date(n).toISOString() : ms
}

// ---- argument checks (each fails with its own code before anything is sent) ----
function parseHeightArg (text: string): bigint {
  if (!/^\d{1,20}$/.test(text)) fail('E_BAD_HEIGHT', 'height must be a non-negative integer', { height: text.slice(0, 40) })
  return BigInt(text)
}

function parsePositiveAmount (text: string, what: string): bigint {
  const units = parseAmount(text)
  if (units === 0n) fail('E_BAD_AMOUNT', `${what} must be greater than zero`, { amount: text })
  return units
}

function parseIntegerOption (text: string, code: string, what: string, min: bigint, max?: bigint): bigint {
  if (!/^\d{1,20}$/.test(text)) fail(code, `${what} must be an integer`, { value: text.slice(0, 40) })
  const n = BigInt(text)
  if (n < min || (max !== undefined && n > max)) fail(code, max === undefined ? `${what} must be at least ${min}` : `${what} must be between ${min} and ${max}`, { value: text })
  return n
}

function parseBlockId (text: string): string {
  if (/^\d{1,20}$/.test(text)) return text
  if (/^[0-9a-f]{64}$/i.test(text)) return text.toLowerCase()
  fail('E_BAD_BLOCK_ID', 'block id must be a height (non-negative integer) or a 64-character hex hash', { id: text.slice(0, 80) })
}

function collect (value: string, previous: string[]): string[] { return [...previous, value] }

// ---- passphrase ----
async function promptHidden (prompt: string): Promise<string> {
  const stdin = process.stdin
  return await new Promise<string>((resolvePromise, reject) => {
    let value = ''
    const finish = (err?: Error): void => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stderr.write('\n')
      if (err !== undefined) reject(err); else resolvePromise(value)
    }
    const onData = (chunk: Buffer | string): void => {
      const text = chunk.toString().replace(/\u001b\[[0-9;]*[A-Za-z~]/g, '') // drop arrow keys and the like
      for (const ch of text) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') { finish(); return }
        if (ch === '\u0003') { finish(new EconumiError('E_CANCELLED', 'cancelled')); return }
        if (ch === '\u007f' || ch === '\b') { value = [...value].slice(0, -1).join(''); continue }
        if (ch < ' ') continue
        value += ch
      }
    }
    process.stderr.write(prompt)
    stdin.setRawMode(true)
    stdin.resume()
    stdin.on('data', onData)
  })
}

/** ECONUMI_PASSPHRASE if set, else a hidden prompt (asked twice when `confirm`). */
async function getPassphrase (prompt: string, confirm: boolean): Promise<string> {
  const env = process.env.ECONUMI_PASSPHRASE
  if (env !== undefined) return env
  if (process.stdin.isTTY !== true) fail('E_NO_PASSPHRASE', 'no passphrase: set ECONUMI_PASSPHRASE or run the command in a terminal')
  const first = await promptHidden(prompt)
  if (confirm) {
    const second = await promptHidden('Repeat the passphrase: ')
    if (first !== second) fail('E_PASSPHRASE_MISMATCH', 'the two passphrases differ')
  }
  return first
}

// ---- node entry points, loaded only by the commands that need them ----
type NodeMain = typeof import('../node/main.js')
type StartOptions = Parameters<NodeMain['runForeground']>[0]

async function loadNodeMain (): Promise<NodeMain> { return await import('../node/main.js') }

// ---- commands ----
async function cmdCreateWallet (g: GlobalOptions, opts: { importNodeKey?: boolean }): Promise<void> {
  let seed: Uint8Array | undefined
  if (opts.importNodeKey === true) {
    // the node's own key receives block rewards unless --reward-address says otherwise
    seed = readNodeIdentity(g.dataDir).signer.seed
  }
  const passphrase = await getPassphrase(seed === undefined ? 'Passphrase for the new wallet: ' : 'Passphrase for the wallet of the node key: ', true)
  const w = seed === undefined ? await createWallet(g.walletDir, passphrase) : await importWallet(g.walletDir, seed, passphrase)
  emit(g, { address: w.address, publicKey: toHex(w.publicKey), file: w.path }, [w.address])
  if (!g.json) process.stderr.write(`wallet saved to ${w.path}; keep the passphrase: without it the coins are lost\n`)
}

function readNodeIdentity (dataDir: string): NodeIdentity {
  let identity: NodeIdentity | null
  try {
    identity = loadIdentity(dataDir)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EACCES' || code === 'EPERM') fail('E_NODE_KEY_UNREADABLE', `cannot read the node key in ${dataDir} (owned by another user? run as the node's owner)`, { dataDir })
    throw err
  }
  if (identity === null) fail('E_NO_NODE_KEY', `no node key in ${dataDir}: start the node once first, or pass --data-dir`, { dataDir })
  return identity
}

async function cmdListAddresses (g: GlobalOptions, opts: { balances?: boolean }): Promise<void> {
  const addresses = await listWallets(g.walletDir)
  if (opts.balances !== true) {
    emit(g, { addresses: addresses.map((address) => ({ address })) }, addresses.length > 0 ? addresses : [`no wallets in ${g.walletDir}; create one with \`econumi createwallet\``])
    return
  }
  const api = client(g)
  const rows: Array<{ address: string, balance: string, balanceUnits: string, nonce: string }> = []
  for (const address of addresses) {
    const a = await api.get<AccountJson>(`/v1/accounts/${address}`)
    rows.push({ address, balance: formatAmount(BigInt(a.balance)), balanceUnits: a.balance, nonce: a.nonce })
  }
  const total = rows.reduce((sum, r) => sum + BigInt(r.balanceUnits), 0n)
  const width = Math.max(0, ...rows.map((r) => r.balance.length))
  emit(g, { addresses: rows, total: formatAmount(total), totalUnits: total.toString() },
    rows.length > 0 ? [...rows.map((r) => `${r.address}  ${r.balance.padStart(width)} ECO`), `total ${eco(total)}`] : [`no wallets in ${g.walletDir}`])
}

async function cmdGetBalance (g: GlobalOptions, address: string): Promise<void> {
  decodeAddress(address)
  const a = await client(g).get<AccountJson>(`/v1/accounts/${address}`)
  emit(g, { address, balance: formatAmount(BigInt(a.balance)), balanceUnits: a.balance, nonce: a.nonce, pendingNonce: a.pendingNonce },
    table([['address', address], ['balance', eco(a.balance)], ['nonce', a.nonce]]))
}

async function cmdSend (g: GlobalOptions, from: string, to: string, amountText: string, opts: { fee?: string }): Promise<void> {
  decodeAddress(from)
  const toRaw = decodeAddress(to)
  const amount = parsePositiveAmount(amountText, 'amount')
  const feeGiven = opts.fee === undefined ? undefined : parseAmount(opts.fee)
  // the protocol's bound on one amount: refused here, before the node is asked or a passphrase typed
  for (const [what, units] of [['amount', amount], ['fee', feeGiven ?? 0n]] as const) {
    if (units > MAX_MONEY) fail('E_BAD_AMOUNT', `${what} exceeds the largest a transaction can carry (${formatAmount(MAX_MONEY)} ECO)`, { [what]: formatAmount(units) })
  }
  if (from === to) fail('E_SAME_ADDRESS', 'sender and recipient are the same address', { address: to })
  if (!await hasWallet(g.walletDir, from)) fail('E_WALLET_NOT_FOUND', 'no wallet for the sending address in the wallet directory', { address: from, dir: g.walletDir })
  // Ask the node first, so a stopped node is reported before the passphrase is typed.
  const api = client(g)
  const status = await api.get<StatusJson>('/v1/status')
  const genesis = await api.get<GenesisJson>('/v1/genesis')
  const account = await api.get<AccountJson>(`/v1/accounts/${from}`)
  const minFee = BigInt(genesis.minFee)
  const fee = feeGiven ?? minFee
  if (fee < minFee) fail('E_TX_FEE', `fee is below the network minimum of ${eco(minFee)}`, { fee: formatAmount(fee), minFee: formatAmount(minFee) })
  const genesisHash = fromHex(status.genesisHash, 32, 'genesis hash')
  const nonce = BigInt(account.pendingNonce)
  const passphrase = await getPassphrase(`Passphrase for ${from}: `, false)
  const wallet = await unlockWallet(g.walletDir, from, passphrase)
  const tx = signTransaction({ from: wallet.publicKey, to: toRaw, amount, fee, nonce }, wallet.signer, genesisHash)
  const localTxid = toHex(transactionId(tx))
  const { txid } = await api.post<{ txid: string }>('/v1/transactions', { tx: toHex(encodeTransaction(tx)) })
  if (txid !== localTxid) fail('E_TXID_MISMATCH', 'the node reported a different transaction id than the one signed', { local: localTxid, node: txid })
  emit(g, { txid, from, to, amount: formatAmount(amount), amountUnits: amount.toString(), fee: formatAmount(fee), feeUnits: fee.toString(), nonce: nonce.toString() }, [txid])
}

async function cmdGetBlockReward (g: GlobalOptions, heightText: string | undefined): Promise<void> {
  let height: bigint
  let reward: bigint
  if (heightText !== undefined) {
    height = parseHeightArg(heightText)
    reward = blockReward(height)
  } else {
    const r = await client(g).get<{ height: string, reward: string }>('/v1/reward')
    height = BigInt(r.height)
    reward = BigInt(r.reward)
  }
  emit(g, { height: height.toString(), reward: formatAmount(reward), rewardUnits: reward.toString() }, eco(reward))
}

function blockLines (b: BlockJson): string[] {
  const lines = table([
    ['block', `${b.height}  ${b.hash}`],
    ['previous', b.prevHash],
    ['epoch', b.epoch],
    ['time', formatTime(b.time)],
    ['miner', b.miner],
    ['coinbase', eco(b.coinbase)],
    ['leader', `${b.winner.nodeId} (weight ${b.winner.weight} of ${b.winner.totalWeight})`],
    ['work reports', String(b.reports.length)],
    ['transactions', String(b.txs.length)]
  ])
  for (const tx of b.txs) lines.push(`  ${tx.txid}  ${tx.from} -> ${tx.to}  ${eco(tx.amount)}  fee ${eco(tx.fee)}  nonce ${tx.nonce}`)
  return lines
}

async function cmdGetBlock (g: GlobalOptions, idText: string): Promise<void> {
  const id = parseBlockId(idText)
  const b = await client(g).get<BlockJson>(`/v1/blocks/${id}`)
  emit(g, b, blockLines(b))
}

async function cmdPrintChain (g: GlobalOptions, opts: { from?: string, limit?: string }): Promise<void> {
  const from = opts.from === undefined ? 0n : parseIntegerOption(opts.from, 'E_BAD_HEIGHT', '--from', 0n)
  const limit = opts.limit === undefined ? undefined : parseIntegerOption(opts.limit, 'E_BAD_LIMIT', '--limit', 1n)
  const blocks: BlockJson[] = []
  for await (const page of client(g).blocks<BlockJson>(from, limit)) blocks.push(...page) // pages cut by the node (bytes)
  emit(g, { blocks }, blocks.length > 0
    ? blocks.map((b) => `${b.height.padStart(6)}  ${b.hash}  ${formatTime(b.time)}  txs ${b.txs.length}  leader ${b.winner.nodeId.slice(0, 16)}  ${b.miner}`)
    : [from === 0n ? 'the chain has no blocks yet' : `no blocks from height ${from}`])
}

async function cmdStatus (g: GlobalOptions): Promise<void> {
  const s = await client(g).get<StatusJson>('/v1/status')
  emit(g, s, table([
    ['network', s.network],
    ['height', s.height === '-1' ? 'no blocks yet' : `${s.height}  ${s.tipHash ?? ''}`],
    ['epoch', `${s.epoch} (${s.epochMs} ms each)`],
    ['mempool', `${s.mempool} transaction${s.mempool === 1 ? '' : 's'}`],
    ['peers', String(s.peers)],
    ['sync', `${s.sync.height} / ${s.sync.target}`],
    ['node id', s.nodeId],
    ['reward to', s.rewardAddress],
    ['genesis', s.genesisHash]
  ]))
}

async function sleep (ms: number): Promise<void> { await new Promise((r) => setTimeout(r, ms)) }

async function cmdStop (g: GlobalOptions, opts: { wait: boolean, timeout: string }): Promise<void> {
  const timeoutMs = Number(parseIntegerOption(opts.timeout, 'E_BAD_TIMEOUT', '--timeout', 1n, 3600n)) * 1000
  const deadline = Date.now() + timeoutMs
  const api = client(g)
  // In container mode the command returns once the container has exited, not when the API goes quiet.
  const { runningNodeContainer, waitContainerExit } = await import('./start-container.js')
  const container = await runningNodeContainer(resolve(g.dataDir))
  let pid: number | null = null
  try {
    const s = await api.get<{ pid?: unknown }>('/v1/status')
    if (typeof s.pid === 'number' && container === null) pid = s.pid
    await api.post('/v1/shutdown', {})
  } catch (err) {
    // A node that exits before its answer arrives has still stopped; a container whose node no longer
    // answers (hung, or still starting) is stopped through Docker below.
    const gone = isEconumiError(err) && (err.code === 'E_NODE_CONNECTION' || (container !== null && ['E_NODE_NOT_RUNNING', 'E_NODE_TIMEOUT', 'E_NODE_CLOSING'].includes(err.code)))
    if (!gone) throw err
  }
  if (!opts.wait) { emit(g, { ok: true, stopped: false }, 'node is stopping'); return }
  if (container !== null) {
    const { exited, forced } = await waitContainerExit(container, deadline)
    emit(g, { ok: true, stopped: exited, container: container.name, forced }, forced
      ? `node container ${container.name} did not exit within ${timeoutMs / 1000} s of the shutdown: stopped it through Docker`
      : `node stopped (container ${container.name} exited)`)
    return
  }
  for (;;) {
    let answers = true
    try {
      await api.get('/v1/status')
    } catch (err) {
      if (isEconumiError(err) && (err.code === 'E_NODE_NOT_RUNNING' || err.code === 'E_NODE_CONNECTION')) answers = false
      else if (!isEconumiError(err) || err.code !== 'E_NODE_CLOSING') throw err
    }
    if (!answers && (pid === null || !processAlive(pid))) break
    if (Date.now() > deadline) {
      fail('E_STOP_TIMEOUT', answers
        ? `the node accepted the shutdown but still answers after ${timeoutMs / 1000} s`
        : `the node's API is closed but its process ${pid} still runs after ${timeoutMs / 1000} s`, { pid })
    }
    await sleep(100)
  }
  emit(g, { ok: true, stopped: true }, 'node stopped')
}

/** Is `pid` a live process? An exited one that its parent has not reaped yet (a zombie) counts as gone. */
function processAlive (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
  }
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

interface StartCliOptions {
  foreground?: boolean
  epoch?: string
  devComputeUnits?: string
  alloc: string[]
  rewardAddress?: string
  apiPort?: string
  httpPort?: string
  httpHost?: string
  bootstrap: string[]
  network?: string
  genesis?: string
  offline?: boolean
  publicNetwork?: boolean
  attest?: boolean
  caCert?: string
  caKey?: string
  offerImage: string[]
}

function startOptions (g: GlobalOptions, o: StartCliOptions): StartOptions {
  const options: StartOptions = { dataDir: g.dataDir, json: g.json }
  if (o.epoch !== undefined) options.epochMs = parseIntegerOption(o.epoch, 'E_BAD_EPOCH', '--epoch (milliseconds)', 1n)
  if (o.devComputeUnits !== undefined) options.devComputeUnits = parseIntegerOption(o.devComputeUnits, 'E_BAD_COMPUTE_UNITS', '--dev-compute-units', 0n)
  if (o.alloc.length > 0) {
    // Checked here, passed on as `address=<ECO>` (the same text parseAmount reads back).
    options.allocations = o.alloc.map((a) => {
      const m = /^([^=\s]+)=(.+)$/.exec(a)
      if (m === null) fail('E_BAD_ALLOCATION', '--alloc must be <address>=<amount in ECO>', { alloc: a.slice(0, 80) })
      decodeAddress(m[1])
      return `${m[1]}=${formatAmount(parsePositiveAmount(m[2], 'allocation'))}`
    })
  }
  if (o.rewardAddress !== undefined) { decodeAddress(o.rewardAddress); options.rewardAddress = o.rewardAddress }
  if (o.apiPort !== undefined) options.apiPort = Number(parseIntegerOption(o.apiPort, 'E_BAD_PORT', '--api-port', 1n, 65535n))
  if (o.httpPort !== undefined) options.httpPort = Number(parseIntegerOption(o.httpPort, 'E_BAD_PORT', '--http-port', 1n, 65535n))
  if (o.httpHost !== undefined) {
    if (o.httpPort === undefined) fail('E_BAD_OPTION', '--http-host needs --http-port')
    if (!/^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9a-fA-F:]+|localhost)$/.test(o.httpHost)) fail('E_BAD_HOST', '--http-host must be an IP address to listen on', { host: o.httpHost.slice(0, 60) })
    options.httpHost = o.httpHost
  }
  if (o.bootstrap.length > 0) {
    options.bootstrap = o.bootstrap.map((b) => {
      const m = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(b)
      if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) fail('E_BAD_BOOTSTRAP', '--bootstrap must be <host>:<port>', { bootstrap: b.slice(0, 80) })
      return b
    })
  }
  if (o.network !== undefined) {
    if (!/^[a-z0-9][a-z0-9_-]{0,31}$/i.test(o.network)) fail('E_BAD_NETWORK', '--network must be 1-32 letters, digits, - or _', { network: o.network.slice(0, 40) })
    options.network = o.network
  }
  if (o.genesis !== undefined) options.genesisFile = o.genesis
  if (o.offline === true) {
    if (o.bootstrap.length > 0 || o.publicNetwork === true) fail('E_BAD_OPTION', '--offline cannot be combined with --bootstrap or --public-network')
    options.offline = true
  }
  if (o.publicNetwork === true) options.publicNetwork = true
  if (o.attest === true) options.attest = true
  if ((o.caCert === undefined) !== (o.caKey === undefined)) fail('E_BAD_OPTION', '--ca-cert and --ca-key go together')
  if (o.caCert !== undefined) { options.caCert = o.caCert; options.caKey = o.caKey }
  if (o.offerImage.length > 0) options.offerImages = o.offerImage
  return options
}

async function cmdStart (g: GlobalOptions, o: StartCliOptions): Promise<void> {
  const options = startOptions(g, o)
  if (o.foreground === true) {
    const { runForeground } = await loadNodeMain()
    // the workloads chosen in `econumi console` come back with the node (in container mode `econumi start`
    // does this outside the container, so the node inside does not)
    if (process.env.ECONUMI_IN_CONTAINER !== '1') {
      options.onReady = async (log) => {
        const { readConfig } = await import('./config-file.js')
        if ((await readConfig(options.dataDir)).workloads.length === 0) return
        const { restoreWorkloads } = await import('./console.js')
        const { dockerClient } = await import('./start-container.js')
        try {
          const restored = await restoreWorkloads(dockerClient(), options.dataDir)
          log('workloads-restored', { workloads: restored.join(', ') })
        } catch (err) {
          log('workloads-not-restored', { error: (err as Error).message })
        }
      }
    }
    await runForeground(options)
  } else {
    const { startContainer } = await import('./start-container.js')
    await startContainer(options)
  }
}

async function cmdReindex (g: GlobalOptions): Promise<void> {
  const { reindex } = await loadNodeMain()
  await reindex({ dataDir: g.dataDir, json: g.json })
}

// ---- program ----

/** Wrap an action so it receives the global options first. */
function action<A extends unknown[]> (fn: (g: GlobalOptions, ...args: A) => Promise<void>): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command
    await fn(globals(cmd), ...(args.slice(0, -1) as A))
  }
}

export function buildProgram (): Command {
  const program = new Command('econumi')
  program
    .description('econumi: a blockchain whose proof of work is attested container work')
    .version(packageVersion() ?? 'unknown', '-V, --version', 'print the version')
    .option('--data-dir <dir>', 'node data directory (default: $ECONUMI_HOME/node, ECONUMI_HOME defaults to ~/.econumi)')
    .option('--wallet-dir <dir>', 'wallet directory (default: $ECONUMI_HOME/wallets)')
    .option('--api-url <url>', 'reach the node over TCP (http://host:port) instead of <data-dir>/api.sock')
    .option('--api-token <token>', 'bearer token for --api-url; visible to other users in `ps`: prefer $ECONUMI_API_TOKEN or --api-token-file')
    .option('--api-token-file <file>', 'read the bearer token for --api-url from this file (e.g. the node\'s <data-dir>/api.token)')
    .option('--json', 'machine-readable output: one JSON object on stdout')
    .helpCommand('help [command]', 'show help for a command')
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true })
    // Settings inherited by every subcommand defined below: errors are thrown to run(), never printed by commander.
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .addHelpText('after', '\nEnvironment: ECONUMI_HOME, ECONUMI_PASSPHRASE, ECONUMI_API_TOKEN, ECONUMI_DEBUG=1 (stack traces)')

  program.command('start')
    .description('start the node (in a Docker container, or in this process with --foreground)')
    .option('--foreground', 'run the node in this process until it is stopped')
    .option('--epoch <ms>', 'epoch length in milliseconds (new networks only)')
    .option('--dev-compute-units <n>', 'development: claim this many compute units every epoch without Docker')
    .option('--alloc <address=eco>', 'genesis allocation (repeatable; new networks only)', collect, [])
    .option('--reward-address <address>', 'address that receives this node\'s block rewards')
    .option('--api-port <port>', 'also serve the API on 127.0.0.1:<port> (bearer token required)')
    .option('--http-port <port>', 'serve the read-only block explorer and /metrics on 127.0.0.1:<port>')
    .option('--http-host <address>', 'listen address for --http-port (default 127.0.0.1; anything else exposes it beyond this machine)')
    .option('--bootstrap <host:port>', 'DHT bootstrap node (repeatable)', collect, [])
    .option('--network <name>', 'network name')
    .option('--genesis <file>', 'join an existing network: its genesis.json (first start only)')
    .option('--offline', 'run without peers')
    .option('--offer-image <image>', 'announce a workload image to peers (repeatable; local econumi/* images are announced anyway)', collect, [])
    .option('--attest', 'attest this Docker engine\'s workloads (needs the econumi plugin and root) and claim their compute units')
    .option('--ca-cert <file>', 'use an existing PKI: CA certificate (PEM) that certifies the agents')
    .option('--ca-key <file>', 'use an existing PKI: the CA\'s private key (PEM)')
    .option('--public-network', 'join through Hyperswarm\'s public DHT bootstrap nodes (off by default: the network is local)')
    .action(action(cmdStart))

  program.command('ps')
    .description('list the node container, its agents and the workloads with their attestation state (like docker ps)')
    .action(action(async (g) => { const { runPs } = await import('./ps.js'); await runPs(g.dataDir, g.json) }))

  program.command('console')
    .description('interactive prompt: show images, start/stop workloads (recorded in econumi.config), ps; works with piped stdin')
    .action(action(async (g) => { const { runConsole } = await import('./console.js'); const failed = await runConsole({ dataDir: g.dataDir }); if (failed > 0) fail('E_CONSOLE_FAILED', `${failed} console command(s) failed`) }))

  program.command('stop')
    .description('stop the running node')
    .option('--no-wait', 'return once the node has accepted the request')
    .option('--timeout <seconds>', 'how long to wait for the node to stop', '60')
    .action(action(cmdStop))

  program.command('reindex')
    .description('rebuild the ledger index from the stored blocks (node must be stopped)')
    .action(action(cmdReindex))

  const genesis = program.command('genesis').description('networks: create the genesis file of a new one')
  genesis.command('create')
    .description('write the genesis of a new network (give the file to every node: econumi start --genesis FILE)')
    .requiredOption('--network <name>', 'network name (1-32 lowercase letters, digits, dashes)')
    .option('--mode <mode>', 'admission: devnet (any key, unattested --dev-compute-units allowed), consortium (admitted nodes, root CAs) or open', 'devnet')
    .option('--root-ca <file>', 'consortium root CA certificate, PEM (repeatable)', collect, [])
    .option('--node <id:cpus:memory>', 'a node admitted at genesis with its capacity, e.g. <node id>:4:8g (repeatable; `econumi status` shows a node id)', collect, [])
    .option('--alloc <address=eco>', 'genesis allocation (repeatable)', collect, [])
    .option('--epoch <ms>', 'epoch length in milliseconds (default 60000)')
    .option('--tau <n>', 'expected leaders per epoch (default 2)')
    .option('--weight-window <epochs>', 'epochs of work reports a weight counts (default 8)')
    .option('--reorg-bound <blocks>', 'K: deeper reorgs are refused (default 64)')
    .option('--bond-per-millicore <units>', 'open mode: bond per millicore of capacity, in base units')
    .option('--unbonding-epochs <n>', 'open mode: unbonding delay (more than the reorg bound)')
    .option('--genesis-time <ms>', 'start of epoch 0 in Unix milliseconds (default: now)')
    .option('--out <file>', 'write the genesis here (default: print it)')
    .action(action(async (g, o: import('./genesis.js').GenesisCreateOptions) => {
      const { buildGenesis, writeGenesis } = await import('./genesis.js')
      const params = buildGenesis(o)
      const { json, hash } = writeGenesis(params, o.out)
      if (o.out === undefined) { process.stdout.write(json); return }
      emit(g, { ok: true, out: o.out, network: params.network, mode: params.mode, genesisHash: hash, nodes: params.nodes.length }, `genesis of ${params.network} (${params.mode}, ${params.nodes.length} admitted node${params.nodes.length === 1 ? '' : 's'}) written to ${o.out}; hash ${hash}`)
    }))

  program.command('identity')
    .description('print this data dir\'s node id (created on first use, as `econumi start` would): give it to whoever writes the genesis')
    .action(action(async (g) => {
      const { mkdirSync } = await import('node:fs')
      const { loadOrCreateIdentity } = await import('../node/identity.js')
      mkdirSync(g.dataDir, { recursive: true, mode: 0o700 })
      const id = loadOrCreateIdentity(g.dataDir)
      emit(g, { nodeId: id.nodeId, address: id.address }, table([['node id', id.nodeId], ['address', id.address]]))
    }))

  // register, unregister, withdraw, nodes, ca (cli/admission.ts)
  addAdmissionCommands(program, { action, client, emit, getPassphrase })

  program.command('status')
    .description('show the node\'s chain height, epoch, peers and mempool')
    .action(action(cmdStatus))

  program.command('createwallet')
    .description('create a wallet (passphrase from ECONUMI_PASSPHRASE or a prompt) and print its address')
    .option('--import-node-key', 'instead of a new key, encrypt the node\'s own key (it receives block rewards by default) into a wallet, so they can be spent')
    .action(action(cmdCreateWallet))

  program.command('listaddresses')
    .description('list the addresses of the local wallets')
    .option('--balances', 'also show each balance (asks the node)')
    .action(action(cmdListAddresses))

  program.command('getbalance')
    .description('show the balance and nonce of an address')
    .argument('<address>', 'an econumi address')
    .action(action(cmdGetBalance))

  program.command('send')
    .description('send coins from a local wallet')
    .argument('<from>', 'sending address (a wallet in the wallet directory)')
    .argument('<to>', 'receiving address')
    .argument('<amount>', 'amount in ECO, at most 8 decimals (e.g. 1.5)')
    .addOption(new Option('--fee <eco>', 'fee in ECO (default: the network minimum)'))
    .action(action(cmdSend))

  program.command('getblockreward')
    .description('reward of the next block, or of the block at <height> (no node needed then)')
    .argument('[height]', 'block height (non-negative integer)')
    .action(action(cmdGetBlockReward))

  program.command('getblock')
    .description('show a block by height or hash')
    .argument('<id>', 'block height or 64-character hex hash')
    .action(action(cmdGetBlock))

  program.command('printchain')
    .description('list the blocks of the canonical chain')
    .option('--from <height>', 'first height', undefined)
    .option('--limit <n>', 'at most this many blocks (default: all)')
    .action(action(cmdPrintChain))

  return program
}

// ---- error reporting ----
const COMMANDER_CODES: Record<string, string> = {
  'commander.unknownCommand': 'E_UNKNOWN_COMMAND',
  'commander.unknownOption': 'E_UNKNOWN_OPTION',
  'commander.missingArgument': 'E_MISSING_ARGUMENT',
  'commander.optionMissingArgument': 'E_MISSING_ARGUMENT',
  'commander.missingMandatoryOptionValue': 'E_MISSING_ARGUMENT',
  'commander.excessArguments': 'E_TOO_MANY_ARGUMENTS',
  'commander.invalidArgument': 'E_BAD_ARGUMENT',
  'commander.conflictingOption': 'E_CONFLICTING_OPTIONS'
}

function oneLine (text: string): string {
  return text.replace(/^error:\s*/, '').split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ')
}

function reportError (json: boolean, code: string, message: string): void {
  process.stderr.write(json ? jsonText({ error: { code, message } }) + '\n' : `econumi: ${message} [${code}]\n`)
}

/** Run the CLI; returns the exit status. */
export async function run (argv: string[]): Promise<number> {
  const args = argv.slice(2)
  const dashDash = args.indexOf('--')
  const json = (dashDash === -1 ? args : args.slice(0, dashDash)).includes('--json')
  try {
    await buildProgram().parseAsync(argv)
    return 0
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0
      if (err.code === 'commander.help') return err.exitCode === 0 ? 0 : EXIT_USAGE // `econumi` with no command: help on stderr
      reportError(json, COMMANDER_CODES[err.code] ?? 'E_USAGE', oneLine(err.message))
      return EXIT_USAGE
    }
    if (isEconumiError(err)) {
      reportError(json, err.code, oneLine(err.message))
      return err.code === 'E_CANCELLED' ? EXIT_CANCELLED : EXIT_REFUSED
    }
    const e = err as NodeJS.ErrnoException
    if (e?.code === 'ERR_MODULE_NOT_FOUND') {
      reportError(json, 'E_NOT_BUILT', `a part of econumi is missing (${oneLine(String(e.message)).slice(0, 200)}); run \`npm run build\``)
      return EXIT_INTERNAL
    }
    reportError(json, 'E_INTERNAL', `internal error: ${oneLine(String(e?.message ?? err))}${process.env.ECONUMI_DEBUG === '1' ? '' : ' (set ECONUMI_DEBUG=1 for details)'}`)
    if (process.env.ECONUMI_DEBUG === '1') process.stderr.write(`${e?.stack ?? String(err)}\n`)
    return EXIT_INTERNAL
  }
}

// A closed pipe (`econumi printchain | head`) is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(0); throw err })

const status = await run(process.argv)
if (status !== 0) process.exit(status)
process.exitCode = 0
