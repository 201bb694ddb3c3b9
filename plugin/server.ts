// The plugin's socket server (node:http only, no npm dependencies): dockerd calls
// `/Plugin.Activate`, `/AuthZPlugin.AuthZReq`, `/AuthZPlugin.AuthZRes` on a unix socket.
// The decision itself is `decide.ts`; this file does the I/O around it: the node token (re-read when the
// file changes, checked at most once per second off the hot path), the persisted agent registry, the
// fire-and-forget event queue to the node, and one log line per denial (never a body).
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { mkdir, readFile, stat, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { decideRequest, decideResponse, parseUri, type DecideContext, type Decision } from './decide.js'
import { PluginState } from './state.js'
import { EVENTS_PATH, NODE_TOKEN_HEADER, PLUGIN_STATS_HEADER, STATS_INTERVAL_MS, type AuthZRequest, type AuthZResponse, type PluginEvent } from './types.js'

export interface PluginServerOptions {
  /** Where dockerd looks for the plugin: /run/docker/plugins/<config.json interface.socket>. */
  socketPath: string
  /** File holding the node token (the node writes it, 0600). */
  tokenFile: string
  /** The node's unix socket receiving `POST /v1/plugin/events`. */
  nodeSocket: string
  /** Persisted agent registry. */
  stateFile: string
  /** Installed plugin name (alias), default 'econumi'. */
  selfName: string
  /** Socket file name, default 'econumi.sock' (to recognise itself in `GET /plugins`). */
  socketName: string
  /** Most events waiting for the node; beyond that, new events are dropped. */
  queueMax: number
  /** Most events per POST. */
  batchMax: number
  /** Give up on one POST to the node after this long. */
  nodeTimeoutMs: number
  /** How often the token file is stat'ed. */
  tokenCheckMs: number
  /** Events wait this long for company before they are sent: one POST per burst of API calls (a `docker
   *  run` makes ~6), sent once dockerd has its answers, instead of one connection per event mid-burst. */
  eventDelayMs: number
  /** Log sink (default: stdout, which dockerd copies to its log). */
  log: (line: string) => void
}

/** Options from the environment: ECONUMI_PLUGIN_SOCKET, ECONUMI_RUN_DIR (default /run/econumi), ECONUMI_NODE_TOKEN_FILE, ECONUMI_NODE_SOCKET, ECONUMI_PLUGIN_STATE, ECONUMI_PLUGIN_NAME. */
export function optionsFromEnv (env: NodeJS.ProcessEnv = process.env): PluginServerOptions {
  const runDir = env.ECONUMI_RUN_DIR ?? '/run/econumi'
  const socketPath = env.ECONUMI_PLUGIN_SOCKET ?? '/run/docker/plugins/econumi.sock'
  return {
    socketPath,
    tokenFile: env.ECONUMI_NODE_TOKEN_FILE ?? join(runDir, 'node-token'),
    nodeSocket: env.ECONUMI_NODE_SOCKET ?? join(runDir, 'node.sock'),
    stateFile: env.ECONUMI_PLUGIN_STATE ?? join(runDir, 'plugin-agents.json'),
    selfName: env.ECONUMI_PLUGIN_NAME ?? 'econumi',
    socketName: socketPath.slice(socketPath.lastIndexOf('/') + 1),
    queueMax: 1000,
    batchMax: 100,
    nodeTimeoutMs: 2000,
    tokenCheckMs: 1000,
    eventDelayMs: 50,
    log: (line) => { process.stdout.write(`${line}\n`) }
  }
}

export interface PluginStats {
  requests: number
  responses: number
  denials: number
  eventsQueued: number
  eventsSent: number
  eventsDropped: number
  /** Total own time spent in decisions (parse + decide + apply), nanoseconds. */
  decideNs: bigint
}

/** Bounded fire-and-forget queue: one POST in flight at a time over one kept-alive connection, batched
 *  after `eventDelayMs`; on any failure the batch is dropped. */
export class EventQueue {
  private readonly queue: PluginEvent[] = []
  private inFlight = false
  private scheduled = false
  private timer: NodeJS.Timeout | null = null
  private idleWaiters: Array<() => void> = []
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 })

  /** The counters the node last received: an empty batch carries new ones when no event does. */
  private reported = ''
  private readonly statsTimer: NodeJS.Timeout

  constructor (private readonly opts: PluginServerOptions, private readonly stats: PluginStats, private readonly token: () => string | null) {
    this.statsTimer = setInterval(() => {
      if (!this.inFlight && !this.scheduled && this.queue.length === 0 && this.statsText() !== this.reported) this.send(true)
    }, STATS_INTERVAL_MS)
    this.statsTimer.unref()
  }

  private statsText (): string { return `requests=${this.stats.requests};denials=${this.stats.denials};dropped=${this.stats.eventsDropped}` }

  /** Drops the kept-alive connection to the node (shutdown). */
  close (): void {
    if (this.timer !== null) this.timer.unref()
    clearInterval(this.statsTimer)
    this.agent.destroy()
  }

  push (events: readonly PluginEvent[]): void {
    for (const e of events) {
      if (this.queue.length >= this.opts.queueMax) {
        this.stats.eventsDropped++
        continue
      }
      this.queue.push(e)
      this.stats.eventsQueued++
    }
    this.kick()
  }

  get pending (): number {
    return this.queue.length
  }

  /** Resolves when the queue is empty and nothing is in flight (tests, shutdown). */
  async idle (): Promise<void> {
    if (!this.inFlight && !this.scheduled && this.queue.length === 0) return
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve))
  }

  private kick (): void {
    if (this.inFlight || this.queue.length === 0) return
    if (this.scheduled) {
      if (this.queue.length < this.opts.batchMax || this.timer === null) return
      clearTimeout(this.timer) // a full batch goes now
    }
    this.scheduled = true
    this.timer = setTimeout(() => {
      this.scheduled = false
      this.timer = null
      this.send()
    }, this.queue.length >= this.opts.batchMax ? 0 : this.opts.eventDelayMs)
  }

  private send (statsOnly = false): void {
    if (this.queue.length === 0 && !statsOnly) return this.settle()
    const batch = this.queue.splice(0, this.opts.batchMax)
    const body = JSON.stringify(batch)
    this.inFlight = true
    let done = false
    const finish = (ok: boolean): void => {
      if (done) return
      done = true
      if (ok) { this.stats.eventsSent += batch.length; this.reported = stats }
      else this.stats.eventsDropped += batch.length
      this.inFlight = false
      if (this.queue.length > 0) this.kick()
      else this.settle()
    }
    const stats = this.statsText()
    const headers: Record<string, string | number> = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), [PLUGIN_STATS_HEADER]: stats }
    const token = this.token()
    if (token !== null) headers[NODE_TOKEN_HEADER] = token
    const req = request({ socketPath: this.opts.nodeSocket, path: EVENTS_PATH, method: 'POST', headers, timeout: this.opts.nodeTimeoutMs, agent: this.agent }, (res) => {
      res.resume()
      res.on('end', () => finish(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300))
      res.on('error', () => finish(false))
    })
    req.on('timeout', () => req.destroy(new Error('node timeout')))
    req.on('error', () => finish(false))
    req.end(body)
  }

  private settle (): void {
    if (this.inFlight || this.scheduled || this.queue.length > 0) return
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w()
  }
}

/** Reads the node token when the file changes; stat at most once per `tokenCheckMs`, never on the hot path. */
export class TokenWatcher {
  private value: string | null = null
  private sig = ''
  private timer: NodeJS.Timeout | null = null
  private checking = false

  constructor (private readonly file: string, private readonly everyMs: number) {}

  get token (): string | null {
    return this.value
  }

  async start (): Promise<void> {
    await this.check()
    this.timer = setInterval(() => { void this.check() }, this.everyMs)
    this.timer.unref()
  }

  stop (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** One stat (and a read when mtime/size/inode changed). Exposed for tests. */
  async check (): Promise<void> {
    if (this.checking) return
    this.checking = true
    try {
      const st = await stat(this.file)
      const sig = `${st.ino}:${st.size}:${st.mtimeMs}`
      if (sig !== this.sig) {
        const text = (await readFile(this.file, 'utf8')).trim()
        this.value = text === '' ? null : text
        this.sig = sig
      }
    } catch {
      this.value = null
      this.sig = ''
    } finally {
      this.checking = false
    }
  }
}

/** Finds this plugin's own id from its mounts (dockerd bind-mounts /run/docker/plugins/<id> into it). */
export async function detectSelfPluginId (mountinfo = '/proc/self/mountinfo'): Promise<string | null> {
  try {
    const text = await readFile(mountinfo, 'utf8')
    const m = /\/plugins\/([0-9a-f]{64})(?:[/ ]|$)/m.exec(text)
    return m === null ? null : m[1]
  } catch {
    return null
  }
}

export class PluginServer {
  readonly opts: PluginServerOptions
  readonly state: PluginState
  readonly stats: PluginStats = { requests: 0, responses: 0, denials: 0, eventsQueued: 0, eventsSent: 0, eventsDropped: 0, decideNs: 0n }
  readonly tokens: TokenWatcher
  readonly events: EventQueue
  private server: Server | null = null

  constructor (opts: Partial<PluginServerOptions> = {}) {
    this.opts = { ...optionsFromEnv(), ...opts }
    this.state = new PluginState(this.opts.stateFile)
    this.tokens = new TokenWatcher(this.opts.tokenFile, this.opts.tokenCheckMs)
    this.events = new EventQueue(this.opts, this.stats, () => this.tokens.token)
  }

  async start (): Promise<void> {
    const loaded = await this.state.load()
    if (loaded.error !== undefined) this.opts.log(`econumi-plugin: agent registry not loaded: ${loaded.error} [E_PLUGIN_STATE_LOAD]`)
    const selfId = await detectSelfPluginId()
    if (selfId !== null) this.state.selfPluginIds.add(selfId)
    await this.tokens.start()
    await mkdir(dirname(this.opts.socketPath), { recursive: true })
    await unlink(this.opts.socketPath).catch(() => {})
    const server = createServer((req, res) => this.handle(req, res))
    // dockerd's plugin client keeps its connection open without limit and does not retry a POST that
    // meets a connection closed by an idle timeout: never time idle connections out (no set-up per call,
    // no lost call).
    server.keepAliveTimeout = 0
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.opts.socketPath, () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.server = server
    this.opts.log(`econumi-plugin: listening on ${this.opts.socketPath} (agents known: ${this.state.agents.size}, node token: ${this.tokens.token === null ? 'absent' : 'present'}${selfId === null ? '' : `, plugin id ${selfId.slice(0, 12)}`})`)
  }

  async close (): Promise<void> {
    this.tokens.stop()
    this.events.close()
    const server = this.server
    this.server = null
    if (server !== null) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    }
    await this.state.flush()
  }

  private handle (req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      let out: unknown
      switch (req.url) {
        case '/AuthZPlugin.AuthZReq':
          out = this.authz(Buffer.concat(chunks), false)
          break
        case '/AuthZPlugin.AuthZRes':
          out = this.authz(Buffer.concat(chunks), true)
          break
        case '/Plugin.Activate':
          out = { Implements: ['authz'] }
          break
        default:
          res.writeHead(404, { 'Content-Type': 'application/json' })
          res.end(JSON.stringify({ Err: `unknown plugin endpoint ${String(req.url)} [E_PLUGIN_ENDPOINT]` }))
          return
      }
      const body = out === ALLOWED ? ALLOWED_BODY : Buffer.from(JSON.stringify(out))
      res.sendDate = false
      res.writeHead(200, { 'Content-Type': 'application/vnd.docker.plugins.v1+json', 'Content-Length': body.length })
      res.end(body)
    })
  }

  /** One AuthZReq/AuthZRes: parse, decide, apply; events and logging are queued after the answer is built. */
  authz (raw: Buffer, isResponse: boolean): AuthZResponse {
    const t0 = process.hrtime.bigint()
    let req: AuthZRequest
    try {
      const parsed: unknown = raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'))
      req = typeof parsed === 'object' && parsed !== null ? parsed as AuthZRequest : {}
    } catch {
      req = {}
    }
    const ctx: DecideContext = { nodeToken: this.tokens.token, now: Date.now(), selfName: this.opts.selfName, socketName: this.opts.socketName }
    let d: Decision
    if (isResponse) {
      this.stats.responses++
      d = decideResponse(req, this.state, ctx)
    } else {
      this.stats.requests++
      d = decideRequest(req, this.state, ctx)
    }
    if (d.updates.length > 0) this.state.apply(d.updates)
    this.stats.decideNs += process.hrtime.bigint() - t0
    if (d.events.length > 0) this.events.push(d.events)
    if (!d.allow) {
      this.stats.denials++
      const path = typeof req.RequestUri === 'string' ? (parseUri(req.RequestUri)?.path ?? '(undecodable)').replace(/[^\x21-\x7e]/g, '?').slice(0, 200) : '-'
      this.opts.log(`econumi-plugin: deny ${d.code ?? 'E_AUTHZ_DENIED'} ${typeof req.RequestMethod === 'string' ? req.RequestMethod : '-'} ${path}`)
      return { Allow: false, Msg: d.msg }
    }
    return ALLOWED
  }
}

/** The common answer, encoded once. */
const ALLOWED: AuthZResponse = Object.freeze({ Allow: true })
const ALLOWED_BODY = Buffer.from(JSON.stringify(ALLOWED))
