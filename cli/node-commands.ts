// Node commands: start (a container, or --foreground), stop, reindex, ps, console, genesis create, identity.
import type { StatusJson } from '../node/api-types.js'
import type { Command } from 'commander'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { decodeAddress } from '../protocol/address.js'
import { formatAmount } from '../protocol/amount.js'
import { fail, isEconumiError } from '../protocol/errors.js'
import { collect, parseIntegerOption, parsePositiveAmount, parseSize } from './args.js'
import { type GlobalOptions, action, client, emit, table } from './output.js'

// ---- node entry points, loaded only by the commands that need them ----
type NodeMain = typeof import('../node/main.js')
type StartOptions = Parameters<NodeMain['runForeground']>[0]

async function loadNodeMain (): Promise<NodeMain> { return await import('../node/main.js') }

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
    const s = await api.get<Partial<StatusJson>>('/v1/status')
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
  maxImageSize?: string
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
  if (o.maxImageSize !== undefined) options.maxImageBytes = parseSize(o.maxImageSize, '--max-image-size')
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
        const { restoreWorkloads } = await import('./workloads.js')
        const { dockerClient } = await import('./docker.js')
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


export function addNodeCommands (program: Command): void {
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
    .option('--offer-image <image>', 'serve a workload image to peers (repeatable; local econumi/* workload images are served anyway)', collect, [])
    .option('--max-image-size <size>', 'largest image this node downloads from a peer, e.g. 2g (default 4g)')
    .option('--attest', 'attest this Docker engine\'s workloads (needs the econumi plugin and root) and claim their compute units')
    .option('--ca-cert <file>', 'use an existing PKI: CA certificate (PEM) that certifies the agents')
    .option('--ca-key <file>', 'use an existing PKI: the CA\'s private key (PEM)')
    .option('--public-network', 'join through Hyperswarm\'s public DHT bootstrap nodes (off by default: the network is local)')
    .action(action(cmdStart))

  program.command('ps')
    .description('list the node (container or foreground process), its agents and the workloads with their attestation state (like docker ps)')
    .option('-a, --all', 'show stopped containers too (default: running ones)')
    .option('-q, --quiet', 'only container IDs')
    .option('--format <template>', 'Go-template subset, e.g. \'{{.ID}} {{.Image}}\' or \'table {{.ID}}\\t{{.Names}}\', or json (one object per line)')
    .action(action(async (g, o: { all?: boolean, quiet?: boolean, format?: string }) => { const { runPs } = await import('./ps.js'); await runPs(g.dataDir, g.json, undefined, o) }))

  program.command('console')
    .description('interactive prompt: show images, start/stop workloads (recorded in econumi.config), ps; works with piped stdin')
    .action(action(async (g) => {
      if (g.json) fail('E_BAD_OPTION', 'the console is interactive and has no --json; script the commands instead (econumi --json ps, econumi --json status, …) or pipe lines to `econumi console`')
      const { runConsole } = await import('./console.js')
      const failed = await runConsole({ dataDir: g.dataDir })
      if (failed > 0) fail('E_CONSOLE_FAILED', `${failed} console command(s) failed`)
    }))

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

  program.command('build-image')
    .description('build econumi\'s own images on this engine from the build inputs that ship with the CLI (no checkout needed)')
    .argument('[which]', 'node, agent or plugin', 'node')
    .option('--force', 'node: rebuild even when the image exists')
    .action(action(async (g, which: string, opts: { force?: boolean }) => {
      const scripts: Record<string, string> = { node: 'build-node-image.sh', agent: 'build-agent.sh', plugin: 'build-plugin.sh' }
      if (scripts[which] === undefined) fail('E_USAGE', 'build-image builds node, agent or plugin', { which: which.slice(0, 20) })
      const { existsSync } = await import('node:fs')
      const { fileURLToPath } = await import('node:url')
      const { spawnSync } = await import('node:child_process')
      const root = fileURLToPath(new URL('../..', import.meta.url))
      const script = join(root, 'scripts', scripts[which])
      if (!existsSync(script)) fail('E_NOT_BUILT', `the build inputs are missing from this installation (${script})`)
      // an installed package has dist/ and no compiler: build from what is there
      const args = which === 'node' && !existsSync(join(root, 'tsconfig.build.json')) ? ['--no-compile'] : []
      if (which === 'node' && opts.force === true) args.push('--force')
      const r = spawnSync('bash', [script, ...args], { stdio: g.json ? ['ignore', 'ignore', 'inherit'] : 'inherit', env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` } })
      if (r.status !== 0) fail('E_BUILD', `${scripts[which]} failed (exit ${r.status ?? r.signal ?? 'unknown'})`)
      emit(g, { ok: true, built: which }, `built the ${which} image`)
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
}
