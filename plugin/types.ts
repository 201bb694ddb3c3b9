// The wire contract of the econumi authorization plugin.
//
// 1. dockerd → plugin (docker.authz/1.0, moby pkg/authorization): `POST /AuthZPlugin.AuthZReq` and
//    `POST /AuthZPlugin.AuthZRes` carry an `AuthZRequest`; the plugin answers an `AuthZResponse`.
//    Facts measured on dockerd 20.10, which the plugin relies on: the field is `RequestUri`, bodies are base64,
//    bodies over 1 MiB (or non-JSON) arrive empty, `%63reate`-style escapes arrive undecoded, and after a
//    timeout dockerd retries with an *empty* request. AuthZRes reuses the request fields and adds the
//    response ones (the new container id only ever appears in the AuthZRes of a create).
// 2. plugin → node: `POST /v1/plugin/events` on the node's unix socket (`/run/econumi/node.sock`), header
//    `X-Econumi-Node-Token: <token>`, body = JSON array of `PluginEvent`. Fire-and-forget: the node answers
//    2xx; anything else (or no node) and the batch is dropped. Workloads still run, nothing is credited.

/** What dockerd sends to `/AuthZPlugin.AuthZReq` and `/AuthZPlugin.AuthZRes` (every field optional on the wire). */
export interface AuthZRequest {
  /** Authenticated user: only set for TLS client certificates; never over the unix socket. */
  User?: string
  UserAuthNMethod?: string
  RequestMethod?: string
  /** Raw request URI as the client sent it (path + query, still percent-encoded, maybe with `/vX.Y`). */
  RequestUri?: string
  /** base64 of the request body; absent for non-JSON bodies and bodies ≥ 1 MiB. */
  RequestBody?: string
  /** Go canonical header names (`X-Econumi-Node-Token`), one value each. */
  RequestHeaders?: Record<string, string>
  RequestPeerCertificates?: unknown[]
  /** AuthZRes only. */
  ResponseStatusCode?: number
  /** AuthZRes only: base64 of a JSON response body. */
  ResponseBody?: string
  ResponseHeaders?: Record<string, string>
}

/** What the plugin answers. `Err` makes dockerd fail the call as an error; econumi only uses Allow/Msg. */
export interface AuthZResponse {
  Allow: boolean
  Msg?: string
  Err?: string
}

/** The header the node (and only the node) sends to prove itself over the root-only unix socket. */
export const NODE_TOKEN_HEADER = 'X-Econumi-Node-Token'
/** Label and name prefix of the sidecar agents econumi starts. */
export const AGENT_LABEL = 'econumi.role'
export const AGENT_LABEL_VALUE = 'agent'
export const AGENT_NAME_PREFIX = 'econumi-agent-'
/**
 * Header on every event POST: the plugin's counters since it started, `requests=N;denials=N;dropped=N`. An
 * empty batch carries them when nothing else is sent (at most every STATS_INTERVAL_MS), for the node's /metrics.
 */
export const PLUGIN_STATS_HEADER = 'X-Econumi-Plugin-Stats'
export const STATS_INTERVAL_MS = 10_000
/** Path on the node's unix socket that receives `PluginEvent[]`. */
export const EVENTS_PATH = '/v1/plugin/events'

/**
 * What the plugin reports for ordinary workloads (agents are never reported): only creates, whose body (labels,
 * reservations as asked) the node cannot read back from dockerd; starts, stops and removals it sees in dockerd's
 * own events.
 */
export type PluginEventKind = 'create'

/**
 * One lifecycle event, plugin → node. A *claim by the first witness*: `create` is sent after dockerd
 * answered the create (so `id` is the real full id); the node confirms it with inspect.
 */
export interface PluginEvent {
  /** Always 1 for this shape. */
  v: 1
  kind: PluginEventKind
  /** Milliseconds since the epoch, plugin clock, when the plugin saw the call. */
  time: number
  /** Full 64-hex container id when known (always for `create`; for others when the caller used a full id). */
  id?: string
  /** The container reference exactly as the caller gave it (name, id or id prefix); '' for create. */
  ref: string
  /** create only: the `?name=` of the create call, without a leading '/' (may be absent: docker picks one). */
  name?: string
  /** create only: the image reference as requested. */
  image?: string
  /** create only: container labels. */
  labels?: Record<string, string>
  /** create only: reservations from HostConfig. */
  reservations?: {
    /** CPU in billionths of a core: HostConfig.NanoCpus, else ⌊CpuQuota × 1e9 / CpuPeriod⌋, else 0 (unlimited); see reservation.ts. */
    nanoCpus: number
    /** Bytes: HostConfig.Memory, 0 = unlimited. */
    memoryBytes: number
  }
}

/** Stable reason codes, sent to the caller in the denial message and logged once per denial. */
export type DenyCode =
  | 'E_AUTHZ_EMPTY_REQUEST'
  | 'E_AUTHZ_BAD_URI'
  | 'E_AUTHZ_NO_BODY'
  | 'E_AUTHZ_BAD_BODY'
  | 'E_AGENT_PROTECTED'
  | 'E_AGENT_RESERVED'
  | 'E_AGENT_NAMESPACE_JOIN'
  | 'E_PLUGIN_PROTECTED'
  | 'E_AUTHZ_UNKNOWN_ROUTE'
  | 'E_AUTHZ_DUPLICATE_KEY'
  | 'E_AUTHZ_FORM_BODY'
