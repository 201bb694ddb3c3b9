// `econumi start` (without --foreground): runs the node as the Docker container `econumi-node`, through the
// Engine API (dockerode).
//
// Layout, chosen so `econumi stop/status/getbalance/...` work from the host unchanged:
//  - the named volume `econumi-data` (local driver, bind-backed by the host data dir) is mounted at /data and
//    the node runs with `--data-dir /data`: its identity, CA, chain, ledger and `api.sock` land in the host
//    data dir, where the CLI already looks for `<data-dir>/api.sock`. Removing the container (or even the
//    volume) never deletes the chain: the data is in the host directory, and the next start continues it.
//  - the Docker socket is mounted (attestation watches and starts containers);
//  - host networking, so the local DHT on 127.0.0.1 reaches other nodes on this machine;
//  - no restart policy: `econumi stop` makes the node exit and the container stops; the next start removes
//    the stopped container and creates a fresh one from the current image with the current options.
import type { StatusJson } from '../node/api-types.js'
import { type StartWarning, noComputeUnitsWarning } from '../node/warnings.js'
import Docker from 'dockerode'
import { mkdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import { fail, isEconumiError } from '../protocol/errors.js'
import { ApiClient } from './client.js'
import { DOCKER_SOCKET, dockerClient, dockerError, nodeContainerName, requireEngine, statusCode } from './docker.js'
import { packageVersion } from './version.js'
import type { ForegroundOptions } from '../node/main.js'

/** The same options as a foreground node (one name per concept), plus how long to wait for it. */
export interface StartContainerOptions extends ForegroundOptions {
  /** How long to wait for the node's API (default 90 s). */
  readyTimeoutMs?: number
}

/** Container and volume names; overridable for tests running next to a real installation. */
export function dataVolumeName (): string { return process.env.ECONUMI_NODE_VOLUME ?? 'econumi-data' }

/** The node image tag matching this CLI's version. */
export function imageVersion (): string { return packageVersion() ?? 'latest' }

export function nodeImage (): string { return process.env.ECONUMI_NODE_IMAGE ?? `econumi/econumi-node:${imageVersion()}` }

/** The running node container of this data dir, or null (no engine, no container, another data dir, stopped). */
export async function runningNodeContainer (dataDir: string): Promise<{ name: string, container: Docker.Container } | null> {
  const name = nodeContainerName()
  try {
    const c = dockerClient().getContainer(name)
    const info = await c.inspect()
    if (!info.State.Running || info.Config.Labels?.['econumi.data-dir'] !== dataDir) return null
    return { name, container: c }
  } catch {
    return null // no engine (or no access to it): the node is not a container of ours
  }
}

/**
 * Wait until the node container has exited; past the deadline, stop it through Docker (SIGTERM, then SIGKILL
 * after 10 s), so `econumi stop` never leaves a container that is Up with no node inside.
 */
export async function waitContainerExit (c: { container: Docker.Container }, deadline: number): Promise<{ exited: boolean, forced: boolean }> {
  for (;;) {
    let running: boolean
    try { running = (await c.container.inspect()).State.Running } catch (err) { if (statusCode(err) === 404) return { exited: true, forced: false }; throw dockerError(err) }
    if (!running) return { exited: true, forced: false }
    if (Date.now() > deadline) break
    await sleep(100)
  }
  try { await c.container.stop({ t: 10 }) } catch (err) { if (statusCode(err) !== 304 && statusCode(err) !== 404) throw dockerError(err) }
  return { exited: true, forced: true }
}

/**
 * W_NO_COMPUTE_UNITS, by the node's own rule (node/warnings.ts), from what the node was started with (its
 * container's arguments) and what it says of its network (its status).
 */
export function computeUnitsWarning (args: string[], mode: string | undefined): StartWarning | null {
  return noComputeUnitsWarning({ attest: args.includes('--attest'), fixed: args.includes('--dev-compute-units'), mode }, '`econumi stop`, then start it')
}

async function sleep (ms: number): Promise<void> { await new Promise((r) => setTimeout(r, ms)) }

/** The node's `start --foreground` arguments after the image's entrypoint (which sets --data-dir /data --json). */
export function nodeArgs (o: StartContainerOptions): string[] {
  const args: string[] = []
  if (o.epochMs !== undefined) args.push('--epoch', o.epochMs.toString())
  if (o.devComputeUnits !== undefined) args.push('--dev-compute-units', o.devComputeUnits.toString())
  for (const a of o.allocations ?? []) args.push('--alloc', a)
  if (o.rewardAddress !== undefined) args.push('--reward-address', o.rewardAddress)
  if (o.apiPort !== undefined) args.push('--api-port', String(o.apiPort))
  if (o.httpPort !== undefined) args.push('--http-port', String(o.httpPort), ...(o.httpHost !== undefined ? ['--http-host', o.httpHost] : []))
  for (const b of o.bootstrap ?? []) args.push('--bootstrap', b)
  if (o.network !== undefined) args.push('--network', o.network)
  if (o.offline === true) args.push('--offline')
  if (o.publicNetwork === true) args.push('--public-network')
  if (o.genesisFile !== undefined) args.push('--genesis', '/etc/econumi/genesis.json')
  if (o.attest === true) args.push('--attest')
  for (const i of o.offerImages ?? []) args.push('--offer-image', i)
  if (o.maxImageBytes !== undefined) args.push('--max-image-size', `${o.maxImageBytes}b`)
  if (o.caCert !== undefined && o.caKey !== undefined) args.push('--ca-cert', '/etc/econumi/ca-cert.pem', '--ca-key', '/etc/econumi/ca-key.pem')
  return args
}

async function ensureVolume (docker: Docker, name: string, hostDir: string): Promise<void> {
  try {
    const info = await docker.getVolume(name).inspect() as { Options?: Record<string, string> | null }
    if (info.Options?.device === hostDir && info.Options?.o === 'bind') return
    // Bound to another data dir: re-point it (a bind-backed volume holds no data itself).
    try {
      await docker.getVolume(name).remove()
    } catch (err) {
      if (statusCode(err) === 409) fail('E_VOLUME_IN_USE', `volume ${name} is in use for the data dir ${info.Options?.device ?? '?'}; stop that node first (econumi --data-dir ${info.Options?.device ?? '<dir>'} stop)`, { volume: name })
      throw err
    }
  } catch (err) {
    if (statusCode(err) !== 404) throw err
  }
  await docker.createVolume({ Name: name, Driver: 'local', DriverOpts: { type: 'none', o: 'bind', device: hostDir }, Labels: { 'econumi.role': 'node-data' } })
}

async function lastLogLine (container: Docker.Container): Promise<string> {
  try {
    const buf = await container.logs({ stdout: true, stderr: true, tail: 5, follow: false }) as unknown as Buffer
    // multiplexed stream: strip the 8-byte frame headers
    const lines: string[] = []
    for (let i = 0; i + 8 <= buf.length;) {
      const len = buf.readUInt32BE(i + 4)
      lines.push(buf.subarray(i + 8, i + 8 + len).toString('utf8'))
      i += 8 + len
    }
    const text = lines.join('').trim().split('\n').filter((l) => l !== '')
    return text[text.length - 1] ?? ''
  } catch { return '' }
}

/**
 * The options of this `econumi start` that the running node was not started with: they change nothing until the
 * node is stopped and started again, so the user is told (docker's `run` on a running name would fail outright).
 */
export function ignoredOptions (given: string[], running: string[]): string[] {
  const groups = (args: string[]): string[] => {
    const out: string[] = []
    for (let i = 0; i < args.length; i++) {
      if (args[i].startsWith('--') && i + 1 < args.length && !args[i + 1].startsWith('--')) { out.push(`${args[i]} ${args[i + 1]}`); i++ } else out.push(args[i])
    }
    return out
  }
  const have = new Set(groups(running))
  return groups(given).filter((g) => !have.has(g))
}

function report (o: StartContainerOptions, s: StatusJson, c: { id: string, name: string, image: string, volume: string }, already: boolean, apiSocket: string, nodeCmd: string[], ignored: string[] = []): void {
  const warnings: StartWarning[] = []
  if (ignored.length > 0) warnings.push({ code: 'W_OPTIONS_IGNORED', message: `the node already runs, so these options were ignored: ${ignored.join(' ')}; to use them, \`econumi stop\` and start it again` })
  const noCu = computeUnitsWarning(nodeCmd, s.mode)
  if (noCu !== null) warnings.push(noCu)
  // on stderr whatever the output format (a node that can never produce a block must not go unnoticed), except the
  // ignored options, which --json reports in `ignoredOptions` and `warnings` only
  for (const w of warnings) {
    if (o.json && w.code === 'W_OPTIONS_IGNORED') continue
    process.stderr.write(`econumi: warning: ${w.message} [${w.code}]\n`)
  }
  if (o.json) {
    process.stdout.write(JSON.stringify({ started: !already, alreadyRunning: already, ignoredOptions: ignored, warnings, container: c.name, containerId: c.id.slice(0, 12), image: c.image, volume: c.volume, nodeId: s.nodeId, rewardAddress: s.rewardAddress, apiSocket, network: s.network, height: s.height }) + '\n')
    return
  }
  const rows: Array<[string, string]> = [
    ['container', `${c.name} (${c.id.slice(0, 12)}, ${c.image})`],
    ['node id', s.nodeId],
    ['reward address', s.rewardAddress],
    ['api socket', apiSocket],
    ['data', `volume ${c.volume} -> ${o.dataDir}`],
    ['height', s.height === '-1' ? 'no blocks yet' : s.height]
  ]
  process.stdout.write(`${already ? 'node already running' : 'node started'}\n${rows.map(([k, v]) => `  ${k.padEnd(15)} ${v}`).join('\n')}\n`)
}

async function status (api: ApiClient): Promise<StatusJson | null> {
  try {
    return await api.get<StatusJson>('/v1/status')
  } catch (err) {
    if (isEconumiError(err) && ['E_NODE_NOT_RUNNING', 'E_NODE_CONNECTION', 'E_NODE_TIMEOUT', 'E_NODE_CLOSING'].includes(err.code)) return null
    throw err
  }
}

export async function startContainer (options: StartContainerOptions): Promise<void> {
  const dataDir = resolve(options.dataDir)
  const o = { ...options, dataDir }
  const name = nodeContainerName()
  const volume = dataVolumeName()
  const image = nodeImage()
  const apiSocket = `${dataDir}/api.sock`
  const api = new ApiClient({ socketPath: apiSocket }, { timeoutMs: 3000 })
  const docker = dockerClient()
  await requireEngine(docker)

  // Idempotent: a running econumi-node for this data dir is reported as it is.
  let existing: Docker.ContainerInspectInfo | null = null
  try { existing = await docker.getContainer(name).inspect() } catch (err) { if (statusCode(err) !== 404) throw dockerError(err) }
  if (existing !== null) {
    const itsDir = existing.Config.Labels?.['econumi.data-dir']
    if (existing.State.Running) {
      if (itsDir !== undefined && itsDir !== dataDir) fail('E_CONTAINER_IN_USE', `container ${name} is already running a node for the data dir ${itsDir}; stop it first (econumi --data-dir ${itsDir} stop)`, { container: name })
      // A node that is still shutting down (after `econumi stop`) exits soon: then it is started afresh.
      const s = await waitReady(api, docker.getContainer(name), o.readyTimeoutMs ?? 90_000, true)
      if (s !== null) {
        report(o, s, { id: existing.Id, name, image: existing.Config.Image, volume }, true, apiSocket, existing.Config.Cmd ?? [], ignoredOptions(nodeArgs(o), existing.Config.Cmd ?? []))
        return
      }
    }
    await docker.getContainer(name).remove({ force: true }).catch((err: unknown) => { if (statusCode(err) !== 404) throw err })
  }
  const foreground = await status(api)
  if (foreground !== null) fail('E_NODE_RUNNING', `a node already answers on ${apiSocket} outside Docker (econumi start --foreground?); stop it first with \`econumi stop\``, { nodeId: foreground.nodeId })

  try {
    await docker.getImage(image).inspect()
  } catch (err) {
    if (statusCode(err) !== 404) throw dockerError(err)
    // missing: a registry that has it (docker pull), else the build that ships with the CLI
    const { progressPrinter, pullImage } = await import('./image-fetch.js')
    const bar = progressPrinter((t) => process.stderr.write(t), process.stderr.isTTY === true && !o.json)
    const pulled = await pullImage(docker, image, bar.update)
    bar.end()
    if (!pulled) fail('E_IMAGE_NOT_FOUND', `node image ${image} is not on this engine and no registry has it; build it here with \`econumi build-image node\` (the build inputs ship with the CLI)`, { image })
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  await ensureVolume(docker, volume, dataDir)

  const binds = [`${volume}:/data`, `${DOCKER_SOCKET}:/var/run/docker.sock`]
  // attestation: the plugin and the agents meet the node under the host's /run/econumi (same path inside)
  if (o.attest === true) { await mkdir('/run/econumi', { recursive: true, mode: 0o700 }); binds.push('/run/econumi:/run/econumi') }
  if (o.genesisFile !== undefined) binds.push(`${resolve(o.genesisFile)}:/etc/econumi/genesis.json:ro`)
  if (o.caCert !== undefined && o.caKey !== undefined) binds.push(`${resolve(o.caCert)}:/etc/econumi/ca-cert.pem:ro`, `${resolve(o.caKey)}:/etc/econumi/ca-key.pem:ro`)
  const container = await docker.createContainer({
    name,
    Image: image,
    Cmd: nodeArgs(o),
    Env: ['ECONUMI_IN_CONTAINER=1'], // the workloads of econumi.config are restarted from out here
    Labels: { 'econumi.role': 'node', 'econumi.data-dir': dataDir, 'econumi.version': imageVersion() },
    HostConfig: {
      Binds: binds,
      NetworkMode: 'host',
      Init: true,
      RestartPolicy: { Name: 'no' }
    }
  })
  await container.start()
  const s = await waitReady(api, container, o.readyTimeoutMs ?? 90_000)
  // the workloads chosen in `econumi console` come back with the node
  const { restoreWorkloads } = await import('./workloads.js')
  const restored = await restoreWorkloads(docker, dataDir)
  if (restored.length > 0 && !o.json) process.stdout.write(`restarted from econumi.config: ${restored.join(', ')}\n`)
  report(o, s, { id: container.id, name, image, volume }, false, apiSocket, nodeArgs(o))
}

async function waitReady (api: ApiClient, container: Docker.Container, timeoutMs: number, exitOk: true): Promise<StatusJson | null>
async function waitReady (api: ApiClient, container: Docker.Container, timeoutMs: number): Promise<StatusJson>
async function waitReady (api: ApiClient, container: Docker.Container, timeoutMs: number, exitOk = false): Promise<StatusJson | null> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const s = await status(api)
    if (s !== null) return s
    const info = await container.inspect()
    if (!info.State.Running) {
      if (exitOk) return null
      const line = await lastLogLine(container)
      fail('E_NODE_EXITED', `the node container exited (code ${info.State.ExitCode}) before its API answered; last log: ${line.slice(0, 300) || '(none)'}; see docker logs ${info.Name.replace(/^\//, '')}`)
    }
    if (Date.now() > deadline) fail('E_NODE_START_TIMEOUT', `the node container runs but its API did not answer within ${timeoutMs / 1000} s; see docker logs ${info.Name.replace(/^\//, '')}`)
    await sleep(200)
  }
}
