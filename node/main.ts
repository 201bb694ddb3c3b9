// Running a node as a local process (`econumi start --foreground`) and rebuilding its ledger (`reindex`).
import { noComputeUnitsWarning } from './warnings.js'
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { fail } from '../protocol/errors.js'
import { toHex } from '../protocol/encoding.js'
import { genesisHash, DEFAULT_EPOCH_MS, DEFAULT_MAX_BLOCK_TXS, DEFAULT_MAX_CLAIM_CU, DEFAULT_MIN_FEE, type NetworkParams, paramsFromJson, paramsToJson, parseAllocation, withConsensusDefaults } from '../protocol/params.js'
import { createApp, listenTcp, listenUnix } from './api.js'
import { tokenFromText } from './api-token.js'
import { createExplorerApp } from './explorer.js'
import { NodeMetrics } from './metrics.js'
import { readJsonFileSync, writeFileAtomicSync } from './atomic-file.js'
import { loadRewardAddress, saveRewardAddress } from './identity.js'
import { FixedComputeUnits, NO_COMPUTE_UNITS } from './compute-units.js'
import { type AttestationHandle, startAttestation } from './attestation/collector.js'
import { type NodeCa, loadOrCreateCa } from './attestation/pki.js'
import { EconumiNode, type LogFn, reindexNode } from './node.js'
import { ledgerStorageError } from './ledger.js'
import { chainStoreError } from './chain-store.js'
import { isImageReference } from '../protocol/wire.js'
import { VRF_IMPLEMENTATION } from '../protocol/vrf.js'
import { boundHeapGrowth } from './heap-growth.js'
import DockerClient from 'dockerode'
import { DEFAULT_MAX_IMAGE_BYTES, ImageLibrary, imageRoutes, isInfrastructureImage } from './images.js'
import { type BootstrapAddress, localBootstrapPort, parseBootstrap } from './network.js'

export interface ForegroundOptions {
  dataDir: string
  json: boolean
  epochMs?: bigint
  devComputeUnits?: bigint
  allocations?: string[]
  rewardAddress?: string
  apiPort?: number
  /** Serve the block explorer and /metrics on this TCP port (read-only), on httpHost (default 127.0.0.1). */
  httpPort?: number
  httpHost?: string
  bootstrap?: string[]
  network?: string
  /** Explicitly join Hyperswarm's public DHT instead of the local one. */
  publicNetwork?: boolean
  /** Run without peers (a private single-node chain). */
  offline?: boolean
  /** Join an existing network: its genesis.json (as written by `econumi genesis create`). */
  genesisFile?: string
  /** Attest this engine's Docker workloads (plugin events, sidecar agents) and claim their compute units. */
  attest?: boolean
  caCert?: string
  caKey?: string
  /** Workload images to offer to the network in addition to the engine's local econumi/* images. */
  offerImages?: string[]
  /** Bound on one image downloaded from a peer (--max-image-size). */
  maxImageBytes?: bigint
  /** Runs once the node is ready (the CLI restarts the workloads saved in econumi.config). */
  onReady?: (log: LogFn) => Promise<void>
}

export function apiSocketPath (dataDir: string): string { return join(dataDir, 'api.sock') }

/** The node's own API token file: plain text, as the CLI reads it (cli/output.ts tokenFromText). */
export function readTokenFile (path: string): string {
  const token = tokenFromText(readFileSync(path, 'utf8'))
  if (!/^[0-9a-f]{16,128}$/.test(token)) fail('E_TOKEN_CORRUPT', `${path} does not hold an API token: delete it and restart the node for a new one`, { path })
  return token
}

function parseBootstrapOption (s: string): BootstrapAddress {
  try { return parseBootstrap(s) } catch { return fail('E_BAD_BOOTSTRAP', 'bootstrap must be host:port', { bootstrap: s }) }
}

/** Load the network's genesis from the data folder, creating a devnet genesis on first start. */
export function loadOrCreateGenesis (dataDir: string, o: { epochMs?: bigint, allocations?: string[], network?: string, genesisFile?: string }, now = Date.now()): { params: NetworkParams, created: boolean } {
  const path = join(dataDir, 'genesis.json')
  if (o.genesisFile !== undefined) {
    if (!existsSync(o.genesisFile)) fail('E_GENESIS_MISSING', `genesis file ${o.genesisFile} does not exist`, { path: o.genesisFile })
    const given = paramsFromJson(readJsonFileSync(o.genesisFile, 'E_GENESIS_CORRUPT'))
    if (existsSync(path)) {
      const mine = paramsFromJson(readJsonFileSync(path, 'E_GENESIS_CORRUPT'))
      if (toHex(genesisHash(mine)) !== toHex(genesisHash(given))) fail('E_GENESIS_CONFLICT', `${dataDir} already holds a chain of another network (${mine.network}); use another --data-dir`, { dataDir })
      return { params: mine, created: false }
    }
    writeFileAtomicSync(path, JSON.stringify(paramsToJson(given), null, 2) + '\n', 0o644)
    return { params: given, created: true }
  }
  if (existsSync(path)) {
    const params = paramsFromJson(readJsonFileSync(path, 'E_GENESIS_CORRUPT'))
    if (o.epochMs !== undefined && o.epochMs !== params.epochMs) fail('E_GENESIS_CONFLICT', `the chain in ${dataDir} already has epochMs=${params.epochMs}; use another --data-dir to start a new network`, { epochMs: o.epochMs })
    if (o.network !== undefined && o.network !== params.network) fail('E_GENESIS_CONFLICT', `the chain in ${dataDir} belongs to network ${params.network}`, { network: o.network })
    if ((o.allocations?.length ?? 0) > 0) {
      const given = o.allocations!.map(parseAllocation)
      const same = given.every((g) => params.allocations.some((a) => a.address === g.address && a.amount === g.amount))
      if (!same) fail('E_GENESIS_CONFLICT', `the genesis in ${dataDir} is fixed; allocations can only be set on first start`)
    }
    return { params, created: false }
  }
  const epochMs = o.epochMs ?? DEFAULT_EPOCH_MS
  const params = paramsFromJson(paramsToJson(withConsensusDefaults({
    network: o.network ?? 'devnet',
    genesisTime: BigInt(now) - (BigInt(now) % epochMs),
    epochMs,
    maxClaimCu: DEFAULT_MAX_CLAIM_CU,
    minFee: DEFAULT_MIN_FEE,
    maxBlockTxs: DEFAULT_MAX_BLOCK_TXS,
    allocations: (o.allocations ?? []).map(parseAllocation)
  })))
  writeFileAtomicSync(path, JSON.stringify(paramsToJson(params), null, 2) + '\n', 0o644)
  return { params, created: true }
}

/** Sync progress as a bar on a terminal, e.g. `sync [##########----------] 1200/2400`. */
export function progressBar (height: bigint, target: bigint, width = 30): string {
  const done = target <= 0n ? width : Number(((height < 0n ? 0n : height) * BigInt(width)) / target)
  const filled = Math.max(0, Math.min(width, done))
  return `sync [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${height}/${target}`
}

function makeLogger (json: boolean): LogFn {
  const tty = !json && process.stdout.isTTY === true
  let barShown = false
  return (event, fields = {}) => {
    if (tty && event === 'sync') {
      process.stdout.write(`\r${progressBar(BigInt(String(fields.height)), BigInt(String(fields.target)))}`)
      barShown = true
      return
    }
    if (barShown) { process.stdout.write('\n'); barShown = false }
    const plain = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]))
    if (json) process.stdout.write(JSON.stringify({ time: new Date().toISOString(), event, ...plain }) + '\n')
    else process.stdout.write(`${new Date().toISOString()} ${event} ${Object.entries(plain).map(([k, v]) => `${k}=${String(v)}`).join(' ')}\n`)
  }
}

/** The data directory, created or tightened to 0700: it holds the node key and the cores' signing keys. */
export function secureDataDir (dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  chmodSync(dataDir, 0o700) // mkdir leaves an existing directory's mode alone
}

/** What a damaged ledger or chain store means for the operator (a stable code), else the error itself. */
function storageError (err: unknown, dataDir: string): unknown {
  return ledgerStorageError(err, join(dataDir, 'ledger')) ?? chainStoreError(err, join(dataDir, 'cores')) ?? err
}

export async function runForeground (o: ForegroundOptions): Promise<void> {
  // everything the node creates (cores, ledger, sockets, keys) is for its owner only
  process.umask(0o077)
  // before the node allocates and starts its verify workers (node/heap-growth.ts)
  const heapGrowth = boundHeapGrowth()
  secureDataDir(o.dataDir)
  const { params, created } = loadOrCreateGenesis(o.dataDir, o)
  const metrics = new NodeMetrics()
  const log = metrics.tap(makeLogger(o.json))
  if (o.devComputeUnits !== undefined && o.devComputeUnits <= 0n) fail('E_BAD_OPTION', '--dev-compute-units must be positive')
  if (o.devComputeUnits !== undefined && params.mode !== 'devnet') fail('E_UNATTESTED_CLAIMS', `--dev-compute-units declares unattested work, a devnet feature; network ${params.network} is a ${params.mode} network: attest Docker workloads with --attest instead`, { network: params.network, mode: params.mode })
  // --reward-address is remembered in the data dir, so a restart without it keeps paying the same address
  if (o.rewardAddress !== undefined) saveRewardAddress(o.dataDir, o.rewardAddress)
  const rewardAddress = o.rewardAddress ?? loadRewardAddress(o.dataDir) ?? undefined
  for (const i of o.offerImages ?? []) if (!isImageReference(i)) fail('E_BAD_IMAGE_NAME', 'not an image reference', { image: i })
  if (o.attest === true && o.devComputeUnits !== undefined) fail('E_BAD_OPTION', '--attest and --dev-compute-units exclude each other')
  let ca!: NodeCa
  let attestation = null as AttestationHandle | null
  const node = await EconumiNode.open({
    dataDir: o.dataDir,
    params,
    rewardAddress,
    // the node's PKI (its own CA on first start, node-forge; or the operator's, --ca-cert/--ca-key), then its work
    // source: the attestation collector, or on a devnet only a declared, unattested amount (a single node can then
    // produce blocks without Docker). Built inside open(): the node never runs without it.
    computeUnits: async (n) => {
      ca = loadOrCreateCa(o.dataDir, n.identity, { caCert: o.caCert, caKey: o.caKey })
      if (o.attest === true) {
        attestation = await startAttestation(n, { dataDir: o.dataDir, caCert: o.caCert, caKey: o.caKey, log })
        return attestation.computeUnits
      }
      return o.devComputeUnits !== undefined ? new FixedComputeUnits(o.devComputeUnits) : NO_COMPUTE_UNITS
    },
    log,
    network: o.offline === true ? undefined : { bootstrap: (o.bootstrap ?? []).map(parseBootstrapOption), publicNetwork: o.publicNetwork }
  }).catch((err) => { throw storageError(err, o.dataDir) })
  const library = new ImageLibrary(node.store.store, o.dataDir, () => new DockerClient({ socketPath: DOCKER_SOCKET }), log)
  const imageOffers = startImageOffers(node, library, o.offerImages ?? [], log)
  const extend = (app: import('express').Express): void => {
    attestation?.extend(app)
    imageRoutes(app, node, library, o.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES)
  }
  metrics.attach(node, attestation)
  let stopping: Promise<void> | null = null
  const servers: Array<import('node:http').Server> = []
  let done!: () => void
  const finished = new Promise<void>((resolve) => { done = resolve })
  const forceExit = (reason: string): void => {
    log('exit-forced', { reason, holding: process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').join(',') })
    process.exit(1)
  }
  const shutdown = (): void => {
    if (stopping !== null) return
    log('stopping')
    clearInterval(imageOffers)
    // A shutdown that hangs (a stuck close somewhere) must not leave a node that ignores signals: exit anyway.
    // Unref'd: it only fires if something still holds the process open.
    setTimeout(() => forceExit(`shutdown did not finish within ${SHUTDOWN_DEADLINE_MS / 1000} s`), SHUTDOWN_DEADLINE_MS).unref()
    stopping = (async () => {
      const hold = Number(process.env.ECONUMI_TEST_HOLD_SHUTDOWN_MS ?? 0) // fault injection for the stop tests
      if (hold > 0) await new Promise((resolve) => setTimeout(resolve, hold))
      await Promise.all(servers.map(async (s) => await new Promise<void>((resolve) => { s.close(() => resolve()); s.closeAllConnections() })))
      await attestation?.close()
      await node.close()
      rmSync(apiSocketPath(o.dataDir), { force: true })
      log('stopped', { height: node.ledger.height })
      done()
    })()
  }
  try {
    servers.push(await listenUnix(createApp(node, { shutdown, extend }), apiSocketPath(o.dataDir)))
    if (o.apiPort !== undefined) {
      const tokenPath = join(o.dataDir, 'api.token')
      let token: string
      // plain text, like bitcoind's .cookie: `--api-token-file` and `curl -H "Authorization: Bearer $(cat …)"` read it
      if (existsSync(tokenPath)) token = readTokenFile(tokenPath)
      else { token = randomBytes(24).toString('hex'); writeFileAtomicSync(tokenPath, token + '\n', 0o600) }
      servers.push(await listenTcp(createApp(node, { shutdown, extend }, token), o.apiPort))
    }
    if (o.httpPort !== undefined) servers.push(await listenTcp(createExplorerApp(node, { metrics }), o.httpPort, o.httpHost))
  } catch (err) {
    clearInterval(imageOffers)
    await attestation?.close()
    await node.close()
    throw err
  }
  // The first signal shuts down cleanly; a second one during shutdown exits at once (kill -9 is safe for the chain).
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping !== null) forceExit(`second ${signal} during shutdown`)
    else shutdown()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    await node.start()
  } catch (err) {
    shutdown()
    await finished
    throw err
  }
  log('ready', {
    network: params.network,
    genesisCreated: created,
    nodeId: node.identity.nodeId,
    rewardAddress: node.rewardAddress,
    rewardKey: node.rewardAddress === node.identity.address ? 'node identity (spend with: econumi createwallet --import-node-key)' : 'operator (--reward-address)',
    ca: `${ca.source} sha256:${toHex(ca.fingerprint)}`,
    apiSocket: apiSocketPath(o.dataDir),
    apiPort: o.apiPort,
    explorer: o.httpPort === undefined ? undefined : `http://${o.httpHost ?? '127.0.0.1'}:${o.httpPort}/`,
    height: node.ledger.height,
    peers: o.offline === true ? 'offline' : (o.publicNetwork === true ? 'public DHT' : `local DHT ${(o.bootstrap ?? []).join(',') || '127.0.0.1:' + localBootstrapPort()}`),
    epochMs: params.epochMs,
    vrf: VRF_IMPLEMENTATION === 'native' ? 'native addon' : 'sodium-native (slower: the addon was not built, see README "Development")',
    heapGrowth: heapGrowth === 0 ? 'V8 default' : `${1 + heapGrowth / 100}x`,
    computeUnits: attestation !== null ? 'attested (docker)' : o.devComputeUnits !== undefined ? `fixed ${o.devComputeUnits} (devnet, unattested)` : 'none'
  })
  const noCu = noComputeUnitsWarning({ attest: attestation !== null, fixed: o.devComputeUnits !== undefined, mode: params.mode })
  if (noCu !== null) log('warning', { ...noCu })
  if (o.onReady !== undefined) {
    try { await o.onReady(log) } catch (err) { log('on-ready-failed', { error: (err as Error).message }) }
  }
  await finished
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  // Everything is closed: if anything still holds the process open (a leaked timer or socket), say what and exit.
  setTimeout(() => forceExit(`still running ${LINGER_MS / 1000} s after stopped`), LINGER_MS).unref()
}

/** How long a shutdown may take before the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 20_000
/** How long a stopped node may linger before it exits anyway. */
const LINGER_MS = 3_000

const DOCKER_SOCKET = process.env.ECONUMI_DOCKER_SOCKET ?? '/var/run/docker.sock'

/** Offer the given images plus the engine's local econumi/* images to peers, refreshed every 30 s. */
function startImageOffers (node: EconumiNode, library: ImageLibrary, explicit: string[], log: LogFn): NodeJS.Timeout {
  const refresh = async (): Promise<void> => {
    let local: string[] = []
    if (existsSync(DOCKER_SOCKET)) {
      try {
        const { default: Docker } = await import('dockerode')
        const imgs: Array<{ RepoTags?: string[] }> = await new Docker({ socketPath: DOCKER_SOCKET }).listImages({ filters: { reference: ['econumi/*'] } } as any) as any
        local = imgs.flatMap((i) => i.RepoTags ?? []).filter((t: string) => t !== '<none>:<none>' && isImageReference(t) && !isInfrastructureImage(t))
      } catch (err) {
        log('images-unavailable', { error: (err as Error).message })
      }
    }
    // each image is cached in a core of this node's once (docker save), then announced with its ID and core
    node.offerImages(await library.offer([...new Set([...explicit, ...local])]))
  }
  void refresh().catch((err: Error) => { log('images-unavailable', { error: err.message }) })
  const every = Number(process.env.ECONUMI_IMAGE_REFRESH_MS ?? 30_000) // tests shorten it
  const timer = setInterval(() => { void refresh().catch((err: Error) => { log('images-unavailable', { error: err.message }) }) }, every >= 100 ? every : 30_000)
  timer.unref()
  return timer
}

export async function reindex (o: { dataDir: string, json: boolean }): Promise<void> {
  if (!existsSync(join(o.dataDir, 'genesis.json'))) fail('E_NO_CHAIN', `no chain in ${o.dataDir}`, { dataDir: o.dataDir })
  const { params } = loadOrCreateGenesis(o.dataDir, {})
  let result: { height: bigint, mempool: number }
  let damaged: string | undefined
  try {
    result = await reindexNode({ dataDir: o.dataDir, params })
  } catch (err) {
    const mapped = storageError(err, o.dataDir)
    if ((mapped as { code?: string }).code !== 'E_LEDGER_CORRUPT') throw mapped
    // too damaged to read what reindex keeps (pending transactions, peers' cores): set it aside, start afresh
    damaged = join(o.dataDir, `ledger.damaged-${Date.now()}`)
    renameSync(join(o.dataDir, 'ledger'), damaged)
    if (!o.json) process.stderr.write(`the old ledger could not be read; moved it to ${damaged} (its pending transactions are not kept; peers' blocks come back from the network)\n`)
    result = await reindexNode({ dataDir: o.dataDir, params }).catch((e) => { throw storageError(e, o.dataDir) })
  }
  const { height, mempool } = result
  if (o.json) process.stdout.write(JSON.stringify({ reindexed: true, height: height.toString(), mempool, ...(damaged !== undefined ? { damagedLedger: damaged } : {}) }) + '\n')
  else process.stdout.write(`ledger rebuilt from the cores: height ${height}, ${mempool} pending transactions kept\n`)
}
