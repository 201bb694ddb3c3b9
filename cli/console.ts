// `econumi console`: an interactive prompt (node:readline, with history and tab completion) to look at and run
// workloads. The same commands work with piped stdin (no prompt is printed then), so they can be scripted:
//   show images                                   workload images on this engine and those peers offer (not econumi's own)
//   start <image> [--cpus N] [--memory M] [-- cmd…] run a detached workload, record it in econumi.config
//   stop <image|name|id>                          stop and remove console workloads, drop them from the config
//   ps                                            like `econumi ps`
//   help, exit
// Errors print one line `econumi: <message> [<CODE>]` on stderr; the session goes on, and a scripted session
// (non-TTY) exits with status 1 if any command failed.
import type Docker from 'dockerode'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomicSync } from '../node/atomic-file.js'
import { ApiClient } from './client.js'
import { createInterface, type Interface } from 'node:readline'
import { parse as parseShell } from 'shell-quote'
import type { Readable, Writable } from 'node:stream'
import { fail, isEconumiError } from '../protocol/errors.js'
import { parseCpus, parseMemory, readConfig, updateConfig, validateImageName, type WorkloadEntry } from './config-file.js'
import { runPs } from './ps.js'
import { dockerClient, dockerError, requireEngine, statusCode } from './docker.js'
import { type StartArgs, runWorkload } from './workloads.js'
import { ensureImage } from './image-fetch.js'
import { isInfrastructureImage } from '../protocol/wire.js'
import type { ImagesJson } from '../node/api-types.js'

export type { StartArgs }

const HELP = [
  'commands:',
  '  show images                                    workload images on this engine and offered by peers',
  '  start <image> [--cpus N] [--memory M] [-- cmd]  run <image> as a detached workload and add it to econumi.config',
  '  stop <image|name|id>                           stop console workloads by image, container name or id, drop them from econumi.config',
  '  ps                                             node, agents and workloads (like econumi ps)',
  '  help                                           this list',
  '  exit                                           leave the console (also quit, Ctrl-D; Ctrl-C cancels a line)'
]

export interface ConsoleOptions {
  dataDir: string
  input?: Readable
  output?: Writable
  errorOutput?: Writable
  /** Force prompt/terminal mode (default: input is a TTY). */
  terminal?: boolean
}

/** An unclosed quote, as a shell would see it (a shell would ask for more; a console line is whole). */
function unclosedQuote (line: string): boolean {
  let q: string | null = null
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]
    if (q === null) {
      if (ch === '\\') { i++; continue }
      if (ch === '#' && (i === 0 || /\s/.test(line[i - 1]))) return false
      if (ch === '"' || ch === "'") q = ch
    } else if (ch === q) q = null
    else if (q === '"' && ch === '\\') i++
  }
  return q !== null
}

/**
 * Splits a command line as a POSIX shell does (shell-quote): '…', "…", backslash escapes, # comments. The
 * console runs no shell, so operators (| ; && > …) are refused rather than passed on as words, and `$VAR`
 * stays literal.
 */
export function tokenize (line: string): string[] {
  if (unclosedQuote(line)) fail('E_USAGE', 'unclosed quote')
  const out: string[] = []
  for (const entry of parseShell(line, (key: string) => `$${key}`)) {
    if (typeof entry === 'string') { out.push(entry); continue }
    if ('comment' in entry) break
    if ('op' in entry && entry.op === 'glob') { out.push(entry.pattern); continue }
    if ('op' in entry) fail('E_USAGE', `the console runs no shell: quote ${JSON.stringify(entry.op)} to pass it as a word`, { op: entry.op })
  }
  return out
}

export function parseStartArgs (args: string[]): StartArgs {
  let image: string | undefined
  const r: Partial<StartArgs> = {}
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (a === '--') { r.cmd = args.slice(i + 1); if (r.cmd.length === 0) fail('E_USAGE', 'nothing after --: give the command to run'); break }
    const eq = /^(--cpus|--memory)=(.*)$/.exec(a)
    const flag = eq?.[1] ?? a
    if (flag === '--cpus' || flag === '--memory') {
      const v = eq !== null ? eq[2] : args[++i]
      if (v === undefined) fail('E_USAGE', `${flag} needs a value`)
      if (flag === '--cpus') r.cpus = parseCpus(v)
      else { parseMemory(v); r.memory = v.toLowerCase() }
      continue
    }
    if (a.startsWith('-')) fail('E_USAGE', `unknown option ${a.slice(0, 40)} (start <image> [--cpus N] [--memory M] [-- cmd…])`)
    if (image !== undefined) fail('E_USAGE', `unexpected argument ${a.slice(0, 40)} (start <image> [--cpus N] [--memory M] [-- cmd…])`)
    image = a
  }
  if (image === undefined) fail('E_USAGE', 'start needs an image: start <image> [--cpus N] [--memory M]')
  return { ...r, image: validateImageName(image) }
}

function formatSize (bytes: number): string { return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(0)}MB` : `${(bytes / 1e3).toFixed(0)}kB` }

export class EconumiConsole {
  private docker: Docker | null = null
  private imageCache: string[] = []
  failures = 0
  constructor (private readonly dataDir: string, private readonly out: (s: string) => void, private readonly err: (s: string) => void, private readonly terminal = false) {}

  private async engine (): Promise<Docker> {
    if (this.docker === null) {
      const d = dockerClient()
      await requireEngine(d, 'then retry')
      this.docker = d
    }
    return this.docker
  }

  completer (line: string): [string[], string] {
    const words = line.split(/\s+/)
    if (words.length <= 1) {
      const hits = ['show', 'start', 'stop', 'ps', 'help', 'exit'].filter((c) => c.startsWith(line))
      return [hits.map((h) => h + ' '), line]
    }
    const last = words[words.length - 1]
    if (words[0] === 'show' && words.length === 2) return [['images'].filter((c) => c.startsWith(last)), last]
    if (words[0] === 'start' || words[0] === 'stop') {
      const pool = last.startsWith('-') ? ['--cpus', '--memory'] : this.imageCache
      return [pool.filter((c) => c.startsWith(last)), last]
    }
    return [[], line]
  }

  async refreshImages (): Promise<void> {
    try {
      const d = await this.engine()
      const imgs = await d.listImages({ filters: { reference: ['econumi/*'] } } as Docker.ListImagesOptions)
      this.imageCache = imgs.flatMap((i) => i.RepoTags ?? []).filter((t) => t !== '<none>:<none>').sort()
    } catch { /* completion only */ }
  }

  /** Runs one line; returns false on exit. Errors are printed, counted, never thrown. */
  async run (line: string): Promise<boolean> {
    try {
      const words = tokenize(line.trim())
      if (words.length === 0) return true
      const [cmd, ...args] = words
      switch (cmd) {
        case 'exit': case 'quit': return false
        case 'help': case '?': this.out(HELP.join('\n') + '\n'); break
        case 'ps': await runPs(this.dataDir, false, this.out); break
        case 'show':
          if (args[0] !== 'images' || args.length > 1) fail('E_USAGE', `unknown: show ${args.join(' ').slice(0, 40)} (try: show images)`)
          await this.showImages()
          break
        case 'start': await this.start(parseStartArgs(args)); break
        case 'stop':
          if (args.length !== 1) fail('E_USAGE', 'stop needs one image, container name or container id: stop <image|name|id>')
          await this.stop(args[0])
          break
        default: fail('E_UNKNOWN_COMMAND', `unknown command "${cmd.slice(0, 40)}"; type help for the list`)
      }
    } catch (e) {
      this.failures++
      const err = dockerError(e, 'then retry')
      if (isEconumiError(err)) this.err(`econumi: ${err.message} [${err.code}]\n`)
      else this.err(`econumi: ${(err as Error).message?.split('\n')[0] ?? String(err)} [E_INTERNAL]\n`)
    }
    return true
  }

  async showImages (): Promise<void> {
    const d = await this.engine()
    const imgs = await d.listImages()
    // one row per image: reference, image ID (the content digest), size, who offers it; econumi's own images are not workloads
    const rows = new Map<string, { ref: string, id: string, size: string, by: string[] }>()
    for (const i of imgs) {
      for (const ref of (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>' && !isInfrastructureImage(t))) {
        rows.set(ref, { ref, id: i.Id.replace(/^sha256:/, '').slice(0, 12), size: formatSize(i.Size), by: ['local'] })
      }
    }
    // images other nodes offer over the network (needs a running node)
    const offered = await new ApiClient({ socketPath: join(this.dataDir, 'api.sock') }, { timeoutMs: 3000 }).get<ImagesJson>('/v1/images').catch(() => null)
    for (const p of offered?.peers ?? []) {
      for (const img of p.images) {
        if (isInfrastructureImage(img.ref)) continue
        const row = rows.get(img.ref) ?? { ref: img.ref, id: img.imageId.slice(0, 12), size: formatSize(Number(img.size)), by: [] }
        row.by.push(`peer ${p.nodeId.slice(0, 16)}`)
        rows.set(img.ref, row)
      }
    }
    const sorted = [...rows.values()].sort((a, b) => a.ref.localeCompare(b.ref))
    this.imageCache = sorted.map((r) => r.ref)
    const header = ['IMAGE', 'IMAGE ID', 'SIZE', 'OFFERED BY']
    const cells = sorted.map((r) => [r.ref, r.id, r.size, r.by.join(', ')])
    const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)))
    this.out([header, ...cells].map((r) => r.map((v, i) => v.padEnd(widths[i])).join('   ').trimEnd()).join('\n') + '\n')
    if (offered === null) this.out('(node not running: images offered by peers are not shown)\n')
  }

  async start (a: StartArgs): Promise<void> {
    await readConfig(this.dataDir) // a corrupt config is reported before anything runs
    const d = await this.engine()
    // not on this engine: a registry (docker pull), else a peer that offers it (verified before it is loaded)
    const source = await ensureImage(d, this.dataDir, a.image, { write: this.err, terminal: this.terminal })
    if (source === 'pulled') this.out(`pulled ${a.image}\n`)
    if (source === 'peer') this.out(`downloaded ${a.image} from a peer, verified against its image ID, loaded\n`)
    const container = await runWorkload(d, a)
    const entry: WorkloadEntry = { image: a.image }
    if (a.cpus !== undefined) entry.cpus = a.cpus
    if (a.memory !== undefined) entry.memory = a.memory
    if (a.cmd !== undefined) entry.cmd = a.cmd
    await updateConfig(this.dataDir, (c) => ({ ...c, workloads: [...c.workloads, entry] }))
    this.out(`started ${a.image} as ${container.id.slice(0, 12)}${a.cpus !== undefined ? ` cpus=${a.cpus}` : ''}${a.memory !== undefined ? ` memory=${a.memory}` : ''}; recorded in econumi.config\n`)
  }

  async stop (target: string): Promise<void> {
    const byId = /^[0-9a-f]{4,64}$/.test(target)
    // an image reference or a container name (docker's [a-zA-Z0-9][a-zA-Z0-9_.-]*)
    if (!byId && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(target)) validateImageName(target)
    await readConfig(this.dataDir)
    const d = await this.engine()
    const list = await d.listContainers({ all: true, filters: { label: ['econumi.console=1'] } } as Docker.ContainerListOptions)
    const hits = list.filter((c) => (byId && c.Id.startsWith(target)) || c.Names.includes(`/${target}`) || c.Labels['econumi.image'] === target || c.Image === target)
    if (hits.length === 0) fail('E_NOT_FOUND', `no console workload matches ${target}; ps lists them`)
    const images = new Set<string>()
    for (const c of hits) {
      const ct = d.getContainer(c.Id)
      await ct.stop({ t: 5 }).catch((err: unknown) => { if (statusCode(err) !== 304 && statusCode(err) !== 404) throw err })
      await ct.remove({ force: true }).catch((err: unknown) => { if (statusCode(err) !== 404) throw err })
      images.add(c.Labels['econumi.image'] ?? c.Image)
      this.out(`stopped ${c.Id.slice(0, 12)} (${c.Labels['econumi.image'] ?? c.Image})\n`)
    }
    await updateConfig(this.dataDir, (c) => {
      // drop one config entry per stopped container of that image
      const left = [...c.workloads]
      for (const h of hits) {
        const img = h.Labels['econumi.image'] ?? h.Image
        const i = left.findIndex((w) => w.image === img)
        if (i >= 0) left.splice(i, 1)
      }
      return { ...c, workloads: left }
    })
  }
}

const HISTORY_MAX = 500

/** Saved history, most recent first (readline's order); empty when absent or unreadable. */
function loadHistory (path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').slice(-HISTORY_MAX).reverse()
  } catch {
    return []
  }
}

/** Runs the console until exit or end of input; resolves to the number of failed commands in a scripted (non-TTY) session, else 0. */
export async function runConsole (o: ConsoleOptions): Promise<number> {
  const input = o.input ?? process.stdin
  const output = o.output ?? process.stdout
  const errorOutput = o.errorOutput ?? process.stderr
  const terminal = o.terminal ?? ((input as { isTTY?: boolean }).isTTY === true)
  const c = new EconumiConsole(o.dataDir, (s) => output.write(s), (s) => errorOutput.write(s), terminal)
  // history survives sessions on a terminal: <data-dir>/console_history, newest last, rewritten atomically
  const historyFile = join(o.dataDir, 'console_history')
  const history = terminal ? loadHistory(historyFile) : []
  const rl: Interface = createInterface({ input, output, terminal, history, historySize: HISTORY_MAX, prompt: 'econumi> ', completer: (line: string) => c.completer(line) })
  if (terminal) {
    // Ctrl-C cancels the line being typed, as in a shell; Ctrl-D on an empty line (end of input) leaves
    rl.on('SIGINT', () => {
      output.write('^C\n')
      rl.write(null, { ctrl: true, name: 'e' })
      rl.write(null, { ctrl: true, name: 'u' })
      rl.prompt()
    })
    rl.on('history', (h: string[]) => {
      try { writeFileAtomicSync(historyFile, h.slice(0, HISTORY_MAX).reverse().join('\n') + '\n', 0o600) } catch {} // history is a convenience: never fail a command over it
    })
    void c.refreshImages()
    output.write('econumi console: type help for the commands, exit to leave\n')
    rl.prompt()
  }
  let exited = false
  try {
    for await (const line of rl) {
      if (!await c.run(line)) { exited = true; break }
      if (terminal) rl.prompt()
    }
  } finally {
    rl.close()
  }
  if (terminal && !exited) output.write('\n')
  return terminal ? 0 : c.failures
}

