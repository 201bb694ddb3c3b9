// Entry point of the econumi agent container (Dockerfile.agent). The node writes an AgentBoot JSON to
// stdin and closes it; the secret key goes to /run/secrets/agent.key (a tmpfs: never on disk, never in
// inspect, env, logs or an image layer) and the rest configures the agent. Logs name no secret.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { Signer } from '../protocol/keys.js'
import { Agent } from './agent.js'
import { readCgroup } from './proc.js'
import { type AgentBoot, WORKLOAD_CGROUP_DIR } from './wire.js'

const SECRETS = process.env.ECONUMI_AGENT_SECRETS ?? '/run/secrets'
const MAX_BOOT = 64 * 1024

function log (event: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), agent: true, event, ...fields }) + '\n')
}

function die (code: string, message: string): never {
  log('fatal', { code, message })
  process.exit(2)
}

async function readStdin (): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of process.stdin) {
    size += (c as Buffer).length
    if (size > MAX_BOOT) die('E_AGENT_BOOT', 'boot message on stdin is too large')
    chunks.push(c as Buffer)
  }
  return Buffer.concat(chunks)
}

/** The key must land on a tmpfs: refuse to write it anywhere that could reach a disk. */
function assertTmpfs (dir: string): void {
  if (process.env.ECONUMI_AGENT_SECRETS !== undefined) return // tests point this at a temp dir
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' '))
  if (!mounts.some((f) => f[1] === dir && f[2] === 'tmpfs')) die('E_AGENT_NO_TMPFS', `${dir} is not a tmpfs; start the agent with --tmpfs ${dir}:mode=0700`)
}

async function main (): Promise<void> {
  const raw = await readStdin()
  let boot: AgentBoot
  try {
    boot = JSON.parse(raw.toString('utf8')) as AgentBoot
  } catch {
    die('E_AGENT_BOOT', 'stdin is not a JSON boot message')
  } finally {
    raw.fill(0)
  }
  if (boot?.v !== 1 || typeof boot.secretKey !== 'string' || !/^[0-9a-f]{64}$/.test(boot.secretKey)) die('E_AGENT_BOOT', 'boot message lacks a valid secretKey')
  assertTmpfs(SECRETS)
  const keyPath = `${SECRETS}/agent.key`
  writeFileSync(keyPath, boot.secretKey + '\n', { mode: 0o400, flag: 'wx' })
  chmodSync(keyPath, 0o400)
  const { secretKey: _dropped, ...config } = boot
  boot.secretKey = ''
  const seed = Buffer.from(readFileSync(keyPath, 'utf8').trim(), 'hex')
  const signer = new Signer(seed)
  seed.fill(0)
  const agent = new Agent({ boot: config, signer, log, readProcess: () => readCgroup(WORKLOAD_CGROUP_DIR), onGone: () => { agent.stop(); process.exit(0) } })
  log('started', { containerId: config.containerId.slice(0, 12), publicKey: Buffer.from(signer.publicKey).toString('hex') })
  agent.start()
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => { agent.stop(); process.exit(0) })
}

main().catch((err: unknown) => { die('E_AGENT_CRASH', err instanceof Error ? err.message : String(err)) })
