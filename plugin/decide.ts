// The authorization decision: a pure function of (request, state view, context) → decision.
// No I/O, no clock (the caller passes `now`), no logging: the server does those with the result.
//
// The plugin must read each request as dockerd does, or a second spelling of a denied call gets through:
//  - the path: absolute-form targets reduced to the path, percent-decoded, dockerd's own version matcher
//    `/v[0-9.]+` stripped (so `/v1.41.0/`, `/v1.41./` too), then matched against dockerd 20.10's route table
//    for /containers, /exec, /plugins (greedy `{name:.*}` as gorilla/mux does); a path there that is no
//    known route is refused (E_AUTHZ_UNKNOWN_ROUTE) rather than allowed;
//  - the body: JSON keys matched case-insensitively as Go does (gojson.ts); keys given twice in the
//    checked objects are refused (E_AUTHZ_DUPLICATE_KEY): Go merges them, JSON.parse keeps the last;
//  - the parameters: Go's r.Form puts an urlencoded body ahead of the query and dockerd never shows such a
//    body to the plugin, so POST/PUT/PATCH with that content type are refused (E_AUTHZ_FORM_BODY);
//  - container references: full id, then exact name, then id prefix (daemon.GetContainer).
//
// Rules (AuthZReq):
//  - no method or no URI (dockerd's empty retry after a timeout/crash) → deny E_AUTHZ_EMPTY_REQUEST
//  - URI that Go would refuse → deny E_AUTHZ_BAD_URI
//  - container create / exec create without a body (bodies ≥ 1 MiB arrive empty) → deny E_AUTHZ_NO_BODY
//  - container create whose body is not a JSON object → deny E_AUTHZ_BAD_BODY
//  - agents (label econumi.role=agent, name econumi-agent-*, or an id learned from such a create):
//    exec, archive (docker cp), attach, export, checkpoints, stop, kill, restart, pause, update, rename,
//    DELETE, commit (it pauses), by name, full id or id prefix → deny E_AGENT_PROTECTED unless the node
//    token header matches; container prune unless its filters spare agents (label!=econumi.role=agent);
//    creating an agent-labelled/named container or renaming to econumi-agent-* → E_AGENT_RESERVED unless node;
//    joining an agent's pid/ipc/network/cgroup namespace or volumes (`container:<agent>`, also build
//    networkmode) → E_AGENT_NAMESPACE_JOIN unless node
//  - disable / remove / set / upgrade of this plugin (by name, alias, full name or id) → deny
//    E_PLUGIN_PROTECTED, always (restore the engine by removing it from daemon.json first)
//  - everything else is allowed; start/stop/kill/restart/remove of ordinary containers yield events.
// AuthZRes always allows; it only harvests: the id of a create (agent → registry, workload → `create`
// event, hex-looking names → the ordinary-container registry), removals, renames and prunes, and this
// plugin's own id from `GET /plugins` answers.
// One file on purpose: the request rules and the response harvest are one table over the same routes and key
// specs, and each rule is audited against its neighbours; split, a second spelling would be easier to miss.
import { timingSafeEqual } from 'node:crypto'
import {
  AGENT_LABEL, AGENT_LABEL_VALUE, AGENT_NAME_PREFIX, NODE_TOKEN_HEADER,
  type AuthZRequest, type DenyCode, type PluginEvent, type PluginEventKind
} from './types.js'
import { HEX_NAME, type StateUpdate, type StateView } from './state.js'
import { field, readKeys, type KeySpec, type ReadResult, type Values } from './gojson.js'
import { reservationFromHostConfig, type HostConfigReservations } from './reservation.js'

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

/** Container routes whose effect on an agent needs the node token (checkpoint delete included). */
const PROTECTED_ACTIONS = new Set([
  'exec', 'archive', 'attach', 'export', 'checkpoints', 'copy',
  'stop', 'kill', 'restart', 'pause', 'update', 'rename', 'remove'
])
const HEX = /^[0-9a-f]+$/
const FULL_ID = /^[0-9a-f]{64}$/
/** dockerd's own version matcher (api/server/server.go versionMatcher = "/v{version:[0-9.]+}"). */
const VERSION_PREFIX = /^\/v[0-9.]+(?=\/)/
/** Go's url.ParseRequestURI accepts absolute-form targets (`http://host/path`, `http:/path`). */
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/
/** Paths dockerd's mux never routes as they are (it redirects them): `.`/`..` segments. */
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/

// Route tables of dockerd 20.10 (API 1.41): api/server/router/container/container.go, checkpoint/
// checkpoint.go (registered first) and plugin/plugin.go. `{name:.*}` is greedy: the name is everything
// between the prefix and the route's last fixed part, slashes included.
/** Container routes `/containers/{name:.*}/<action>` by method. */
const CONTAINER_ACTIONS: Record<string, ReadonlySet<string>> = {
  HEAD: new Set(['archive']),
  GET: new Set(['checkpoints', 'export', 'changes', 'json', 'top', 'logs', 'stats', 'archive']),
  POST: new Set(['checkpoints', 'kill', 'pause', 'unpause', 'restart', 'start', 'stop', 'wait', 'resize', 'attach', 'copy', 'exec', 'rename', 'update']),
  PUT: new Set(['archive'])
}
const EXEC_ACTIONS: Record<string, ReadonlySet<string>> = { GET: new Set(['json']), POST: new Set(['start', 'resize']) }
const PLUGIN_ACTIONS: Record<string, ReadonlySet<string>> = { GET: new Set(['json']), POST: new Set(['enable', 'disable', 'push', 'upgrade', 'set']) }
/** Plugin actions refused on this plugin (DELETE is 'remove'). */
const SELF_PROTECTED = new Set(['disable', 'set', 'upgrade', 'remove'])

/** Where a request goes in dockerd, for the paths the plugin guards. */
export interface Route {
  /** 'containers' | 'exec' | 'plugins' | 'commit' | 'build' | 'other' (not guarded). */
  area: string
  /** The handler: 'create', 'prune', 'list', 'remove', 'privileges', 'pull', or the route's action. */
  op: string
  /** The `{name}` path variable ('' when the route has none). */
  name: string
}

/** dockerd's route for (method, normalised path) in the guarded areas; null when dockerd has none (refused). */
export function route (method: string, path: string): Route | null {
  let area: string
  if (path === '/commit') return method === 'POST' ? { area: 'commit', op: 'commit', name: '' } : null
  if (path === '/build') return { area: 'build', op: 'build', name: '' }
  if (path === '/containers' || path.startsWith('/containers/')) area = 'containers'
  else if (path === '/exec' || path.startsWith('/exec/')) area = 'exec'
  else if (path === '/plugins' || path.startsWith('/plugins/')) area = 'plugins'
  else return { area: 'other', op: '', name: '' }
  if (DOT_SEGMENT.test(path)) return null
  const rest = path.length > area.length + 2 ? path.slice(area.length + 2) : ''
  if (area === 'plugins' && rest === '') return method === 'GET' ? { area, op: 'list', name: '' } : null
  if (rest === '') return null
  if (area === 'containers') {
    if (method === 'POST' && rest === 'create') return { area, op: 'create', name: '' }
    if (method === 'POST' && rest === 'prune') return { area, op: 'prune', name: '' }
    if (method === 'GET' && rest === 'json') return { area, op: 'list', name: '' }
    if (method === 'DELETE') {
      // checkpoint.go registers DELETE /containers/{name}/checkpoints/{checkpoint} ({name} = one segment) first
      const parts = rest.split('/')
      if (parts.length === 3 && parts[1] === 'checkpoints' && parts[0] !== '' && parts[2] !== '') return { area, op: 'checkpoints', name: parts[0] }
      return { area, op: 'remove', name: rest }
    }
    if (method === 'GET' && rest.endsWith('/attach/ws') && rest.length > 10) return { area, op: 'attach', name: rest.slice(0, -10) }
  } else if (area === 'plugins') {
    if (method === 'DELETE') return { area, op: 'remove', name: rest }
    if (method === 'GET' && rest === 'privileges') return { area, op: 'privileges', name: '' }
    if (method === 'POST' && (rest === 'pull' || rest === 'create')) return { area, op: rest, name: '' }
  }
  const table = area === 'containers' ? CONTAINER_ACTIONS : area === 'exec' ? EXEC_ACTIONS : PLUGIN_ACTIONS
  const slash = rest.lastIndexOf('/')
  if (slash <= 0) return null
  const op = rest.slice(slash + 1)
  if (table[method]?.has(op) !== true) return null
  return { area, op, name: rest.slice(0, slash) }
}

function deny (code: DenyCode, reason: string): Decision {
  return { allow: false, code, msg: `econumi: ${reason} [${code}]`, events: [], updates: [] }
}

export interface ParsedUri {
  /** Decoded path, `/vX.Y` stripped, `//` collapsed, no trailing '/'. */
  path: string
  /** Raw query string (without '?'), '' when none. */
  query: string
}

/**
 * Decodes and normalises a RequestUri as dockerd's Go HTTP server and mux read it: the query split off at
 * the first '?', an absolute-form target (`scheme://host/path`, `scheme:/path`) reduced to its path,
 * percent-decoding, `//` collapsed, a trailing '/' dropped and dockerd's `/v[0-9.]+` prefix stripped.
 * null when Go would refuse it (bad escape, not a path).
 */
export function parseUri (raw: string): ParsedUri | null {
  const q = raw.indexOf('?')
  let path = q === -1 ? raw : raw.slice(0, q)
  const query = q === -1 ? '' : raw.slice(q + 1)
  if (path.charCodeAt(0) !== 0x2f) {
    const m = SCHEME.exec(path)
    if (m === null) return null
    path = path.slice(m[0].length)
    if (path.startsWith('//')) {
      const slash = path.indexOf('/', 2)
      path = slash === -1 ? '/' : path.slice(slash)
    }
    if (path.charCodeAt(0) !== 0x2f) return null
  }
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

/**
 * Does a container reference point at a known or reserved agent? Resolved in dockerd's order
 * (daemon.GetContainer: full id, then exact name, then id prefix): the exact name of a known ordinary
 * container is that container, even when it also prefixes an agent's id; any other prefix of an agent id
 * is an agent. `econumi-agent-*` names are reserved whether known or not.
 */
export function isAgentRef (ref: string, state: StateView): boolean {
  const name = ref.charCodeAt(0) === 0x2f ? ref.slice(1) : ref
  if (name.length === 0) return false
  if (name.length === 64 && state.agents.has(name)) return true
  if (name.startsWith(AGENT_NAME_PREFIX) || state.agentNames.has(name)) return true
  if (!HEX.test(name)) return false
  if (name.length >= 64) return false // a full id (or longer) prefixes only itself
  const known = state.containers.get(name)
  if (known !== undefined && !known.autoRemove) return false
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

/** A body's text: undefined when absent. */
function bodyText (b64: string | undefined): string | undefined {
  if (b64 === undefined || b64 === null || b64 === '') return undefined
  return Buffer.from(b64, 'base64').toString('utf8')
}

/** A JSON body (dockerd's own answers): undefined when absent, null when not JSON. */
function decodeValue (b64: string | undefined): unknown {
  const text = bodyText(b64)
  if (text === undefined) return undefined
  try {
    return JSON.parse(text)
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

/**
 * The create-body keys the plugin decides on, read as dockerd's decoder (runconfig ContainerConfigWrapper)
 * reads them: struct keys in any case, and any of them given twice is refused (Go merges duplicates,
 * JSON.parse keeps the last). Reservations and AutoRemove are watched too: the node and the name registry use them.
 */
const HOST_CONFIG_KEYS: Record<string, null> = { PIDMODE: null, IPCMODE: null, NETWORKMODE: null, CGROUP: null, VOLUMESFROM: null, AUTOREMOVE: null, NANOCPUS: null, CPUQUOTA: null, CPUPERIOD: null, MEMORY: null }
const CREATE: KeySpec = {
  fold: true,
  keys: { LABELS: { fold: false, whole: true, keys: { [AGENT_LABEL]: null } }, IMAGE: null, HOSTCONFIG: { fold: true, keys: HOST_CONFIG_KEYS } }
}

/**
 * A create's body arrives twice, in its AuthZReq and its AuthZRes: the read of the first is kept (by the
 * base64 text, a deterministic memo of a pure function, at most 16) and used once by the second.
 */
const createReads = new Map<string, ReadResult | null>()

/** Reads an AuthZReq's create body (always afresh) and keeps the read for its AuthZRes. */
function readCreateRequest (b64: string, text: string): ReadResult | null {
  const read = readKeys(text, CREATE)
  createReads.delete(b64)
  createReads.set(b64, read)
  if (createReads.size > 16) createReads.delete(createReads.keys().next().value as string)
  return read
}

function sub (v: Values, key: string): Values | null {
  const x = v[key]
  return isObject(x) ? x : null
}

function labelsOf (v: Values): Record<string, string> {
  const out: Record<string, string> = {}
  const labels = sub(v, 'LABELS')
  if (labels !== null) for (const [k, x] of Object.entries(labels)) if (typeof x === 'string') out[k] = x
  return out
}

function isAgentCreate (v: Values, name: string | undefined): boolean {
  if (name !== undefined && name.startsWith(AGENT_NAME_PREFIX)) return true
  return sub(v, 'LABELS')?.[AGENT_LABEL] === AGENT_LABEL_VALUE
}

/** HostConfig modes that take `container:<ref>` (Cgroup too: CgroupSpec accepts it). */
const JOIN_KEYS: Array<[string, string]> = [['PIDMODE', 'PidMode'], ['IPCMODE', 'IpcMode'], ['NETWORKMODE', 'NetworkMode'], ['CGROUP', 'Cgroup']]

/** `container:<ref>` references in HostConfig (PidMode, IpcMode, NetworkMode, Cgroup, VolumesFrom) pointing at an agent. */
function joinsAgent (v: Values, state: StateView): string | null {
  const hc = sub(v, 'HOSTCONFIG')
  if (hc === null) return null
  for (const [key, label] of JOIN_KEYS) {
    const x = hc[key]
    if (typeof x === 'string' && x.startsWith('container:') && isAgentRef(x.slice(10), state)) return label
  }
  const vf = hc.VOLUMESFROM
  if (Array.isArray(vf)) {
    for (const x of vf) {
      if (typeof x !== 'string') continue
      const colon = x.indexOf(':')
      if (isAgentRef(colon === -1 ? x : x.slice(0, colon), state)) return 'VolumesFrom'
    }
  }
  return null
}

/** The wire form of a create's reservations (JSON numbers; the parser's integers are far below 2^53). */
function wireReservations (hc: HostConfigReservations): NonNullable<PluginEvent['reservations']> {
  const r = reservationFromHostConfig(hc)
  return { nanoCpus: Number(r.nanoCpus), memoryBytes: Number(r.memoryBytes) }
}

/** Reservations from a decoded create body's HostConfig (keys matched as Go matches them). */
export function reservationsOf (body: Record<string, unknown>): NonNullable<PluginEvent['reservations']> {
  const h = field(body, 'HostConfig')
  const hc = isObject(h) ? h : {}
  return wireReservations({ NanoCpus: field(hc, 'NanoCpus'), CpuQuota: field(hc, 'CpuQuota'), CpuPeriod: field(hc, 'CpuPeriod'), Memory: field(hc, 'Memory') })
}

function event (kind: PluginEventKind, ref: string, ctx: DecideContext, extra: Partial<PluginEvent> = {}): PluginEvent {
  const e: PluginEvent = { v: 1, kind, time: ctx.now, ref, ...extra }
  if (e.id === undefined && FULL_ID.test(ref)) e.id = ref
  return e
}

/** Go's r.ParseForm reads an urlencoded body of POST/PUT/PATCH into r.Form, ahead of the query; dockerd
 *  does not send such bodies to the plugin (only JSON), so the plugin cannot see those parameters. */
function formBody (method: string, req: AuthZRequest): boolean {
  if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH') return false
  const ct = header(req, 'Content-Type')
  if (ct === undefined) return false
  const semi = ct.indexOf(';')
  return (semi === -1 ? ct : ct.slice(0, semi)).trim().toLowerCase() === 'application/x-www-form-urlencoded'
}

const PRUNE_EXCLUSIONS = new Set([`${AGENT_LABEL}=${AGENT_LABEL_VALUE}`, AGENT_LABEL])

/** Does a prune `filters` value (filters.FromJSON: {"label!":{"k=v":true}} or legacy {"label!":["k=v"]}) keep agents out? */
export function pruneSparesAgents (filters: string | null): boolean {
  if (filters === null || filters === '') return false
  let f: unknown
  try { f = JSON.parse(filters) } catch { return false }
  if (!isObject(f)) return false
  const not = f['label!']
  // MatchKVList("label!") excludes a container only when *every* value matches it: exactly one value
  const values = Array.isArray(not) ? not : isObject(not) ? Object.keys(not) : []
  return values.length === 1 && typeof values[0] === 'string' && PRUNE_EXCLUSIONS.has(values[0])
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
  if (formBody(method, req)) {
    return deny('E_AUTHZ_FORM_BODY', 'urlencoded request bodies are not shown to the plugin; pass parameters in the query')
  }
  const r = route(method, path)
  if (r === null) return deny('E_AUTHZ_UNKNOWN_ROUTE', `${method} ${path.replace(/[^\x21-\x7e]/g, '?').slice(0, 120)} is not a known Engine API 1.41 route`)
  switch (r.area) {
    case 'containers': return containerRequest(method, r, query, req, state, ctx)
    case 'plugins': return pluginRequest(r, state, ctx)
    case 'commit': {
      const ref = queryParam(query, 'container')
      if (ref !== null && isAgentRef(ref, state) && !fromNode(req, ctx)) {
        return deny('E_AGENT_PROTECTED', `commit of econumi agent container ${ref} (it pauses the agent) is reserved to the econumi node`)
      }
      return ALLOW
    }
    case 'build': {
      const mode = queryParam(query, 'networkmode')
      if (mode !== null && mode.startsWith('container:') && isAgentRef(mode.slice(10), state) && !fromNode(req, ctx)) {
        return deny('E_AGENT_NAMESPACE_JOIN', 'build networkmode joins an econumi agent container')
      }
      return ALLOW
    }
    default: return ALLOW
  }
}

function createRequest (req: AuthZRequest, query: string, state: StateView, ctx: DecideContext): Decision {
  const text = bodyText(req.RequestBody)
  if (text === undefined) return deny('E_AUTHZ_NO_BODY', 'container create without a body (bodies over 1 MiB are not seen by the plugin)')
  const read = readCreateRequest(req.RequestBody as string, text)
  if (read === null) return deny('E_AUTHZ_BAD_BODY', 'container create body is not a JSON object')
  if (read.dup !== null) return deny('E_AUTHZ_DUPLICATE_KEY', `container create body gives ${read.dup.replace(/[^\x21-\x7e]/g, '?').slice(0, 80)} twice (dockerd would merge them)`)
  const name = stripSlash(queryParam(query, 'name'))
  const node = fromNode(req, ctx)
  if (!node && isAgentCreate(read.values, name)) {
    return deny('E_AGENT_RESERVED', `only the econumi node may create agent containers (label ${AGENT_LABEL}=${AGENT_LABEL_VALUE} or name ${AGENT_NAME_PREFIX}*)`)
  }
  if (!node) {
    const key = joinsAgent(read.values, state)
    if (key !== null) return deny('E_AGENT_NAMESPACE_JOIN', `HostConfig.${key} joins an econumi agent container`)
  }
  return ALLOW
}

function containerRequest (method: string, r: Route, query: string, req: AuthZRequest, state: StateView, ctx: DecideContext): Decision {
  const { op, name: ref } = r
  if (op === 'create') return createRequest(req, query, state, ctx)
  if (op === 'list') return ALLOW
  if (op === 'prune') {
    if (!fromNode(req, ctx) && !pruneSparesAgents(queryParam(query, 'filters'))) {
      return deny('E_AGENT_PROTECTED', `container prune would remove stopped econumi agents; add --filter label!=${AGENT_LABEL}=${AGENT_LABEL_VALUE}`)
    }
    return ALLOW
  }

  if (op === 'exec' && method === 'POST' && (req.RequestBody === undefined || req.RequestBody === '')) {
    return deny('E_AUTHZ_NO_BODY', 'exec create without a body')
  }

  if (isAgentRef(ref, state)) {
    if (PROTECTED_ACTIONS.has(op) && !fromNode(req, ctx)) {
      return deny('E_AGENT_PROTECTED', `${op} of econumi agent container ${ref} is reserved to the econumi node`)
    }
    return ALLOW
  }

  if (op === 'rename') {
    const to = stripSlash(queryParam(query, 'name'))
    if (to !== undefined && to.startsWith(AGENT_NAME_PREFIX) && !fromNode(req, ctx)) {
      return deny('E_AGENT_RESERVED', `container names ${AGENT_NAME_PREFIX}* are reserved to the econumi node`)
    }
    return ALLOW
  }

  // An ordinary workload's start, stop, kill or remove is not reported: the node follows those in dockerd's own
  // events and inspect (node/attestation/docker-watch.ts); only the create carries what they do not (the body).
  return ALLOW
}

function pluginRequest (r: Route, state: StateView, ctx: DecideContext): Decision {
  if (SELF_PROTECTED.has(r.op) && isSelfPluginRef(r.name, state, ctx.selfName)) {
    return deny('E_PLUGIN_PROTECTED', `${r.op} of the econumi plugin (${r.name}) is refused while it authorizes this engine; remove it from /etc/docker/daemon.json "authorization-plugins" and SIGHUP dockerd first (scripts/build-plugin.sh --disable-authz)`)
  }
  return ALLOW
}

/** The AuthZRes decision: always allows; harvests create ids, removals, renames and this plugin's id. */
export function decideResponse (req: AuthZRequest, state: StateView, ctx: DecideContext): Decision {
  const method = req.RequestMethod
  const rawUri = req.RequestUri
  const status = req.ResponseStatusCode ?? 0
  if (typeof method !== 'string' || typeof rawUri !== 'string' || status < 200 || status > 299) return ALLOW
  const uri = parseUri(rawUri)
  if (uri === null) return ALLOW
  const { path, query } = uri
  const r = route(method, path)
  if (r === null) return ALLOW

  if (r.area === 'containers' && r.op === 'create') {
    const res = decodeValue(req.ResponseBody)
    const id = isObject(res) && typeof res.Id === 'string' && FULL_ID.test(res.Id) ? res.Id : null
    if (id === null) return ALLOW
    const b64 = req.RequestBody
    const memo = typeof b64 === 'string' ? createReads.get(b64) : undefined
    let v: Values = {}
    if (memo !== undefined) {
      createReads.delete(b64 as string)
      v = memo?.values ?? {}
    } else {
      const text = bodyText(b64)
      v = (text === undefined ? null : readKeys(text, CREATE)?.values) ?? {}
    }
    const name = stripSlash(queryParam(query, 'name'))
    if (isAgentCreate(v, name)) {
      return { allow: true, events: [], updates: [name === undefined ? { op: 'add-agent', id, since: ctx.now } : { op: 'add-agent', id, name, since: ctx.now }] }
    }
    const hc = sub(v, 'HOSTCONFIG') ?? {}
    const e = event('create', '', ctx, { id, labels: labelsOf(v), reservations: wireReservations({ NanoCpus: hc.NANOCPUS, CpuQuota: hc.CPUQUOTA, CpuPeriod: hc.CPUPERIOD, Memory: hc.MEMORY }) })
    if (name !== undefined) e.name = name
    if (typeof v.IMAGE === 'string') e.image = v.IMAGE
    const updates: StateUpdate[] = []
    if (name !== undefined && HEX_NAME.test(name)) {
      updates.push({ op: 'add-container', id, name, since: ctx.now, autoRemove: hc.AUTOREMOVE === true })
    }
    return { allow: true, events: [e], updates }
  }

  if (r.area === 'containers' && r.op === 'remove') {
    const ref = r.name
    const updates: StateUpdate[] = []
    if (isAgentRef(ref, state)) updates.push({ op: 'remove-agent', ref })
    if (mayMeanContainer(ref, state)) updates.push({ op: 'remove-container', ref })
    return updates.length === 0 ? ALLOW : { allow: true, events: [], updates }
  }

  if (r.area === 'containers' && r.op === 'rename') {
    const to = stripSlash(queryParam(query, 'name'))
    if (to === undefined) return ALLOW
    const ref = r.name
    if (isAgentRef(ref, state) || mayMeanContainer(ref, state) || state.containers.has(to) || (HEX_NAME.test(to) && FULL_ID.test(ref))) {
      return { allow: true, events: [], updates: [{ op: 'renamed', ref, to }] }
    }
    return ALLOW
  }

  if (r.area === 'containers' && r.op === 'prune') {
    if (state.containers.size === 0) return ALLOW
    const res = decodeValue(req.ResponseBody)
    const deleted = isObject(res) ? res.ContainersDeleted : undefined
    if (deleted === null && isObject(res)) return ALLOW // nothing deleted
    const ids = Array.isArray(deleted) && deleted.every((x) => typeof x === 'string') ? deleted as string[] : null
    return { allow: true, events: [], updates: [{ op: 'pruned', ids }] }
  }

  if (method === 'GET' && r.area === 'plugins' && (r.op === 'list' || r.op === 'json')) {
    const res = decodeValue(req.ResponseBody)
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

/** Could a reference name one of the known ordinary containers (exact name, full id or id prefix)? */
function mayMeanContainer (ref: string, state: StateView): boolean {
  if (state.containers.size === 0) return false
  const name = ref.charCodeAt(0) === 0x2f ? ref.slice(1) : ref
  if (state.containers.has(name)) return true
  if (!HEX.test(name)) return false
  for (const c of state.containers.values()) if (c.id.startsWith(name)) return true
  return false
}
