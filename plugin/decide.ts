// The authorization decision: a pure function of (request, state view, context) → decision.
// No I/O, no clock (the caller passes `now`), no logging: the server does those with the result.
//
// Rules (AuthZReq):
//  - no method or no URI (dockerd's empty retry after a timeout/crash) → deny E_AUTHZ_EMPTY_REQUEST
//  - URI that does not percent-decode → deny E_AUTHZ_BAD_URI; otherwise match on the decoded path with
//    any `/vX.Y` prefix stripped and duplicate/trailing slashes removed
//  - container create / exec create without a body (bodies ≥ 1 MiB arrive empty) → deny E_AUTHZ_NO_BODY
//  - container create whose body is not a JSON object → deny E_AUTHZ_BAD_BODY
//  - agents (label econumi.role=agent, name econumi-agent-*, or an id learned from such a create):
//    exec, archive (docker cp), attach, export, checkpoints, stop, kill, restart, pause, update, rename,
//    DELETE, by name, full id or id prefix → deny E_AGENT_PROTECTED unless the node token header matches;
//    creating an agent-labelled/named container or renaming to econumi-agent-* → E_AGENT_RESERVED unless node;
//    joining an agent's pid/ipc/network namespace or volumes (`container:<agent>`) → E_AGENT_NAMESPACE_JOIN
//    unless node
//  - disable / remove / set / upgrade of this plugin (by name, alias, full name or id) → deny
//    E_PLUGIN_PROTECTED, always (restore the engine by removing it from daemon.json first)
//  - everything else is allowed; start/stop/kill/restart/remove of ordinary containers yield events.
// AuthZRes always allows; it only harvests: the id of a create (agent → registry, workload → `create`
// event), the removal of an agent, and this plugin's own id from `GET /plugins` answers.
import { timingSafeEqual } from 'node:crypto'
import {
  AGENT_LABEL, AGENT_LABEL_VALUE, AGENT_NAME_PREFIX, NODE_TOKEN_HEADER,
  type AuthZRequest, type DenyCode, type PluginEvent, type PluginEventKind
} from './types.js'
import type { StateUpdate, StateView } from './state.js'

export interface DecideContext {
  /** Current node token (contents of /run/econumi/node-token), null when there is none. */
  nodeToken: string | null
  /** ms since the epoch, stamped on events. */
  now: number
  /** Plugin name as installed (default 'econumi'): matched against the last path component, tag stripped. */
  selfName: string
  /** The plugin's socket name (config.json interface.socket) to recognise itself in `GET /plugins`. */
  socketName: string
}

export interface Decision {
  allow: boolean
  /** Denials only: stable reason code. */
  code?: DenyCode
  /** Denials only: message shown to the docker user (ends with the code in brackets). */
  msg?: string
  events: PluginEvent[]
  updates: StateUpdate[]
}

const ALLOW: Decision = Object.freeze({ allow: true, events: [], updates: [] }) as Decision

/** Actions on an agent that need the node token (any HTTP method: archive is GET/PUT/HEAD, attach/ws is GET). */
const PROTECTED_ACTIONS = new Set([
  'exec', 'archive', 'attach', 'export', 'checkpoints',
  'stop', 'kill', 'restart', 'pause', 'update', 'rename'
])
/** Ordinary-workload actions reported to the node. */
const REPORTED_ACTIONS: Record<string, PluginEventKind> = { start: 'start', stop: 'stop', kill: 'kill', restart: 'restart' }
const PLUGIN_ACTIONS = new Set(['disable', 'set', 'upgrade'])
const HEX = /^[0-9a-f]+$/
const FULL_ID = /^[0-9a-f]{64}$/
const VERSION_PREFIX = /^\/v\d+(?:\.\d+)?(?=\/)/

function deny (code: DenyCode, reason: string): Decision {
  return { allow: false, code, msg: `econumi: ${reason} [${code}]`, events: [], updates: [] }
}

export interface ParsedUri {
  /** Decoded path, `/vX.Y` stripped, `//` collapsed, no trailing '/'. */
  path: string
  /** Raw query string (without '?'), '' when none. */
  query: string
}

/** Decodes and normalises a RequestUri; null when it is not valid percent-encoding. */
export function parseUri (raw: string): ParsedUri | null {
  const q = raw.indexOf('?')
  let path = q === -1 ? raw : raw.slice(0, q)
  const query = q === -1 ? '' : raw.slice(q + 1)
  if (path.includes('%')) {
    try {
      path = decodeURIComponent(path)
    } catch {
      return null
    }
  }
  if (path.includes('//')) path = path.replace(/\/{2,}/g, '/')
  path = path.replace(VERSION_PREFIX, '')
  if (path.length > 1 && path.endsWith('/')) path = path.replace(/\/+$/, '')
  return { path, query }
}

function queryParam (query: string, key: string): string | null {
  if (query === '') return null
  return new URLSearchParams(query).get(key)
}

/** Case-insensitive header lookup (dockerd sends Go canonical names, but be lenient). */
export function header (req: AuthZRequest, name: string): string | undefined {
  const h = req.RequestHeaders
  if (h === undefined || h === null) return undefined
  const direct = h[name]
  if (direct !== undefined) return direct
  const lower = name.toLowerCase()
  for (const k of Object.keys(h)) if (k.toLowerCase() === lower) return h[k]
  return undefined
}

/** True when the request carries the current node token (constant-time compare). */
export function fromNode (req: AuthZRequest, ctx: DecideContext): boolean {
  if (ctx.nodeToken === null || ctx.nodeToken === '') return false
  const got = header(req, NODE_TOKEN_HEADER)
  if (got === undefined) return false
  const a = Buffer.from(got.trim())
  const b = Buffer.from(ctx.nodeToken)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Does a container reference (name, '/name', full id, id prefix) point at a known or reserved agent? */
export function isAgentRef (ref: string, state: StateView): boolean {
  const name = ref.startsWith('/') ? ref.slice(1) : ref
  if (name.startsWith(AGENT_NAME_PREFIX) || state.agentNames.has(name)) return true
  if (name.length === 0 || !HEX.test(name)) return false
  if (state.agents.has(name)) return true
  // docker accepts any unique id prefix: protect every prefix of an agent id
  for (const id of state.agents.keys()) if (id.startsWith(name)) return true
  return false
}

/** Is this plugin reference (as in `/plugins/{name}/...`) this plugin? Hex refs are ids (or id prefixes). */
export function isSelfPluginRef (ref: string, state: StateView, selfName: string): boolean {
  let last = ref.slice(ref.lastIndexOf('/') + 1)
  const at = last.indexOf('@')
  if (at !== -1) last = last.slice(0, at)
  const colon = last.indexOf(':')
  if (colon !== -1) last = last.slice(0, colon)
  if (last === selfName) return true
  if (ref.length > 0 && HEX.test(ref)) {
    // Our own id is learned from `GET /plugins`; until it is known, refuse id references (fail closed).
    if (state.selfPluginIds.size === 0) return true
    for (const id of state.selfPluginIds) if (id.startsWith(ref)) return true
  }
  return false
}

function decodeBody (b64: string | undefined): unknown {
  if (b64 === undefined || b64 === null || b64 === '') return undefined
  try {
    return JSON.parse(Buffer.from(b64, 'base64').toString('utf8'))
  } catch {
    return null
  }
}

function isObject (x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function stripSlash (name: string | null): string | undefined {
  if (name === null || name === '') return undefined
  return name.startsWith('/') ? name.slice(1) : name
}

function labelsOf (body: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {}
  const labels = body.Labels
  if (isObject(labels)) for (const [k, v] of Object.entries(labels)) if (typeof v === 'string') out[k] = v
  return out
}

function isAgentCreate (body: Record<string, unknown>, name: string | undefined): boolean {
  if (name !== undefined && name.startsWith(AGENT_NAME_PREFIX)) return true
  const labels = body.Labels
  return isObject(labels) && labels[AGENT_LABEL] === AGENT_LABEL_VALUE
}

/** `container:<ref>` references in HostConfig (PidMode, IpcMode, NetworkMode, VolumesFrom) pointing at an agent. */
function joinsAgent (body: Record<string, unknown>, state: StateView): string | null {
  const hc = body.HostConfig
  if (!isObject(hc)) return null
  for (const key of ['PidMode', 'IpcMode', 'NetworkMode']) {
    const v = hc[key]
    if (typeof v === 'string' && v.startsWith('container:') && isAgentRef(v.slice(10), state)) return key
  }
  const vf = hc.VolumesFrom
  if (Array.isArray(vf)) {
    for (const v of vf) {
      if (typeof v !== 'string') continue
      const colon = v.indexOf(':')
      if (isAgentRef(colon === -1 ? v : v.slice(0, colon), state)) return 'VolumesFrom'
    }
  }
  return null
}

function num (x: unknown): number {
  return typeof x === 'number' && Number.isFinite(x) && x > 0 ? x : 0
}

/** Reservations from a create body's HostConfig. */
export function reservationsOf (body: Record<string, unknown>): { nanoCpus: number, memory: number } {
  const hc = isObject(body.HostConfig) ? body.HostConfig : {}
  let nanoCpus = num(hc.NanoCpus)
  if (nanoCpus === 0) {
    const quota = num(hc.CpuQuota)
    const period = num(hc.CpuPeriod) === 0 ? 100000 : num(hc.CpuPeriod)
    if (quota > 0) nanoCpus = Math.round(quota / period * 1e9)
  }
  return { nanoCpus, memory: num(hc.Memory) }
}

function event (kind: PluginEventKind, ref: string, ctx: DecideContext, extra: Partial<PluginEvent> = {}): PluginEvent {
  const e: PluginEvent = { v: 1, kind, time: ctx.now, ref, ...extra }
  if (e.id === undefined && FULL_ID.test(ref)) e.id = ref
  return e
}

/** The AuthZReq decision. */
export function decideRequest (req: AuthZRequest, state: StateView, ctx: DecideContext): Decision {
  const method = req.RequestMethod
  const rawUri = req.RequestUri
  if (typeof method !== 'string' || method === '' || typeof rawUri !== 'string' || rawUri === '') {
    return deny('E_AUTHZ_EMPTY_REQUEST', 'empty authorization request (dockerd retry after a plugin timeout?)')
  }
  const uri = parseUri(rawUri)
  if (uri === null) return deny('E_AUTHZ_BAD_URI', 'request URI is not valid percent-encoding')
  const { path, query } = uri

  if (path.startsWith('/containers/')) return containerRequest(method, path, query, req, state, ctx)
  if (path.startsWith('/plugins/')) return pluginRequest(method, path, state, ctx)
  return ALLOW
}

function containerRequest (method: string, path: string, query: string, req: AuthZRequest, state: StateView, ctx: DecideContext): Decision {
  // path = /containers/{ref}[/{action}[/...]]
  const slash = path.indexOf('/', 12)
  const ref = slash === -1 ? path.slice(12) : path.slice(12, slash)
  const action = slash === -1 ? '' : path.slice(slash + 1).split('/', 1)[0]

  if (ref === 'create' && action === '' && method === 'POST') {
    const body = decodeBody(req.RequestBody)
    if (body === undefined) return deny('E_AUTHZ_NO_BODY', 'container create without a body (bodies over 1 MiB are not seen by the plugin)')
    if (!isObject(body)) return deny('E_AUTHZ_BAD_BODY', 'container create body is not a JSON object')
    const name = stripSlash(queryParam(query, 'name'))
    const node = fromNode(req, ctx)
    if (!node && isAgentCreate(body, name)) {
      return deny('E_AGENT_RESERVED', `only the econumi node may create agent containers (label ${AGENT_LABEL}=${AGENT_LABEL_VALUE} or name ${AGENT_NAME_PREFIX}*)`)
    }
    if (!node) {
      const key = joinsAgent(body, state)
      if (key !== null) return deny('E_AGENT_NAMESPACE_JOIN', `HostConfig.${key} joins an econumi agent container`)
    }
    return ALLOW
  }

  if (action === 'exec' && method === 'POST' && (req.RequestBody === undefined || req.RequestBody === '')) {
    return deny('E_AUTHZ_NO_BODY', 'exec create without a body')
  }

  const agent = isAgentRef(ref, state)
  if (agent) {
    const isProtected = (action === '' && method === 'DELETE') || PROTECTED_ACTIONS.has(action)
    if (isProtected && !fromNode(req, ctx)) {
      const what = action === '' ? 'remove' : action
      return deny('E_AGENT_PROTECTED', `${what} of econumi agent container ${ref} is reserved to the econumi node`)
    }
    return ALLOW
  }

  if (action === 'rename' && method === 'POST') {
    const to = stripSlash(queryParam(query, 'name'))
    if (to !== undefined && to.startsWith(AGENT_NAME_PREFIX) && !fromNode(req, ctx)) {
      return deny('E_AGENT_RESERVED', `container names ${AGENT_NAME_PREFIX}* are reserved to the econumi node`)
    }
    return ALLOW
  }

  // Ordinary workload: report lifecycle calls (claims; the node confirms with inspect/events).
  if (method === 'POST') {
    const kind = REPORTED_ACTIONS[action]
    if (kind !== undefined && slash !== -1 && path.indexOf('/', slash + 1) === -1) {
      const extra: Partial<PluginEvent> = {}
      if (kind === 'kill') {
        const signal = queryParam(query, 'signal')
        if (signal !== null) extra.signal = signal
      }
      return { allow: true, events: [event(kind, ref, ctx, extra)], updates: [] }
    }
  } else if (method === 'DELETE' && action === '') {
    const force = queryParam(query, 'force')
    return { allow: true, events: [event('remove', ref, ctx, { force: force === '1' || force === 'true' })], updates: [] }
  }
  return ALLOW
}

function pluginRequest (method: string, path: string, state: StateView, ctx: DecideContext): Decision {
  const rest = path.slice(9) // after '/plugins/'
  let name: string | null = null
  let action = ''
  if (method === 'DELETE') {
    name = rest
    action = 'remove'
  } else if (method === 'POST') {
    const slash = rest.lastIndexOf('/')
    if (slash !== -1 && PLUGIN_ACTIONS.has(rest.slice(slash + 1))) {
      name = rest.slice(0, slash)
      action = rest.slice(slash + 1)
    }
  }
  if (name !== null && isSelfPluginRef(name, state, ctx.selfName)) {
    return deny('E_PLUGIN_PROTECTED', `${action} of the econumi plugin (${name}) is refused while it authorizes this engine; remove it from /etc/docker/daemon.json "authorization-plugins" and SIGHUP dockerd first (scripts/build-plugin.sh --disable-authz)`)
  }
  return ALLOW
}

/** The AuthZRes decision: always allows; harvests create ids, agent removals and this plugin's id. */
export function decideResponse (req: AuthZRequest, state: StateView, ctx: DecideContext): Decision {
  const method = req.RequestMethod
  const rawUri = req.RequestUri
  const status = req.ResponseStatusCode ?? 0
  if (typeof method !== 'string' || typeof rawUri !== 'string' || status < 200 || status > 299) return ALLOW
  const uri = parseUri(rawUri)
  if (uri === null) return ALLOW
  const { path, query } = uri

  if (method === 'POST' && path === '/containers/create') {
    const res = decodeBody(req.ResponseBody)
    const id = isObject(res) && typeof res.Id === 'string' && FULL_ID.test(res.Id) ? res.Id : null
    if (id === null) return ALLOW
    const body = decodeBody(req.RequestBody)
    const reqBody = isObject(body) ? body : {}
    const name = stripSlash(queryParam(query, 'name'))
    if (isAgentCreate(reqBody, name)) {
      return { allow: true, events: [], updates: [name === undefined ? { op: 'add-agent', id, since: ctx.now } : { op: 'add-agent', id, name, since: ctx.now }] }
    }
    const e = event('create', '', ctx, { id, labels: labelsOf(reqBody), reservations: reservationsOf(reqBody) })
    if (name !== undefined) e.name = name
    if (typeof reqBody.Image === 'string') e.image = reqBody.Image
    return { allow: true, events: [e], updates: [] }
  }

  if (method === 'DELETE' && path.startsWith('/containers/') && path.indexOf('/', 12) === -1) {
    const ref = path.slice(12)
    if (isAgentRef(ref, state)) return { allow: true, events: [], updates: [{ op: 'remove-agent', ref }] }
    return ALLOW
  }

  if (method === 'GET' && (path === '/plugins' || (path.startsWith('/plugins/') && path.endsWith('/json')))) {
    const res = decodeBody(req.ResponseBody)
    const list = Array.isArray(res) ? res : [res]
    const updates: StateUpdate[] = []
    for (const p of list) {
      if (!isObject(p) || typeof p.Id !== 'string' || !FULL_ID.test(p.Id) || state.selfPluginIds.has(p.Id)) continue
      const cfg = p.Config
      const iface = isObject(cfg) ? cfg.Interface : undefined
      if (isObject(iface) && iface.Socket === ctx.socketName) updates.push({ op: 'self-plugin-id', id: p.Id })
    }
    return updates.length === 0 ? ALLOW : { allow: true, events: [], updates }
  }
  return ALLOW
}
