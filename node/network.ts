// The peer network: Hyperswarm on one topic per network (derived from the genesis hash), one Corestore
// replication stream per connection, and the `econumi/2` protomux channel for hello, transactions,
// work reports, operations, images and tip announcements. Peers are authenticated by their node key: the swarm's Noise
// key pair IS the node identity key.
import { chargeAtLeast, codeInfo } from '../protocol/error-codes.js'
import { createSocket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import DHT from 'hyperdht'
import Hyperswarm from 'hyperswarm'
import Protomux from 'protomux'
import c from 'compact-encoding'
import { toHex } from '../protocol/encoding.js'
import { isEconumiError } from '../protocol/errors.js'
import { taggedHash } from '../protocol/hash.js'
import { MSG_HELLO, type WireMessage, decodeMessage, encodeMessage } from '../protocol/wire.js'
import type { LogFn } from './log.js'

export const DEFAULT_BOOTSTRAP_PORT = 49737

/** The local network's bootstrap port: DEFAULT_BOOTSTRAP_PORT unless ECONUMI_LOCAL_BOOTSTRAP_PORT says otherwise. */
export function localBootstrapPort (env: NodeJS.ProcessEnv = process.env): number {
  const v = env.ECONUMI_LOCAL_BOOTSTRAP_PORT
  if (v === undefined || v === '') return DEFAULT_BOOTSTRAP_PORT
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw Object.assign(new Error(`ECONUMI_LOCAL_BOOTSTRAP_PORT must be a port number, got ${JSON.stringify(v)}`), { code: 'E_BAD_BOOTSTRAP' })
  return n
}
export const BAN_SCORE = -100
export const BAN_MS = 10 * 60_000
/** A message that decoded but that its handler refused (what it proves is in protocol/error-codes.ts). */
const HANDLER_PENALTY = 10
/**
 * Messages of one peer handled at once (a transaction waits for its signature check and the mempool's write). The
 * socket is read at the rate it delivers, so without a bound a peer sending faster than the node checks grows the
 * node's memory without end (each pending message holds its frame, its promise chain and a worker request); beyond
 * it the peer's frames are dropped until some finish: gossip is lossy, and a local limit never costs a peer.
 */
export const MAX_IN_FLIGHT_PER_PEER = 256
/**
 * Bytes queued to one peer and not yet taken by its transport, beyond which what the node sends it is dropped. A peer
 * that stops acknowledging (stopped, or on a link it saturates) would otherwise hold every frame the node relays until
 * UDX gives up on it (~13 s on loopback): measured, a stopped peer's queue grew at the full relay rate. Gossip is lossy
 * (a dropped tip or transaction comes again, or through the cores themselves), so nothing waits on it. 1,000 kB is
 * Bitcoin Core's -maxsendbuffer default; UDX holds up to ~256 kB more below this layer.
 */
export const MAX_SEND_QUEUED_BYTES = 1_000_000
const THROTTLE_LOG_MS = 1000

const REDISCOVER_FIRST_MS = 1000
const REDISCOVER_CAP_MS = 30_000
const REDISCOVER_PUBLIC_CAP_MS = 5 * 60_000

export interface BootstrapAddress { host: string, port: number }

export interface NetworkOptions {
  /** DHT bootstrap nodes. Empty: the local default (127.0.0.1:DEFAULT_BOOTSTRAP_PORT), hosted by this node if free. */
  bootstrap: BootstrapAddress[]
  /** Explicit opt-in to Hyperswarm's public bootstrap nodes. */
  publicNetwork?: boolean
  /** Address the DHT node binds (loopback by default). */
  host?: string
  log: LogFn
}

export interface Peer {
  id: string // hex node key
  conn: any
  send: (m: WireMessage) => void
  score: number
  /** When the connection was made (ms). */
  connectedAt: number
  /** Its messages being handled now, and those dropped because there were MAX_IN_FLIGHT_PER_PEER (since the last log). */
  inFlight: number
  dropped: number
  /** Frames not sent because MAX_SEND_QUEUED_BYTES were queued to it (since the last log). */
  sendDropped: number
}

/** What `getpeerinfo` shows of one connection. */
export interface PeerConnectionInfo { nodeId: string, address: string | null, inbound: boolean, connectedAt: number, score: number, bytesIn: number, bytesOut: number, sendQueued: number }

export interface PeerHandler {
  onPeer: (peer: Peer) => void
  onMessage: (peer: Peer, m: WireMessage) => Promise<void>
  onPeerGone: (peer: Peer) => void
}

export function parseBootstrap (s: string): BootstrapAddress {
  const m = /^([^:\s]+):(\d{1,5})$/.exec(s.trim())
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) throw Object.assign(new Error(`bootstrap must be host:port, got ${JSON.stringify(s)}`), { code: 'E_BAD_BOOTSTRAP' })
  return { host: m[1], port: Number(m[2]) }
}

/**
 * Bytes written to a connection that its transport has not taken yet: the encrypted stream's queue and the UDX
 * stream's (streamx keeps the count in `_writableState.buffered`; it has no public getter).
 */
export function sendQueued (conn: any): number {
  return count(conn?._writableState?.buffered) + count(conn?.rawStream?._writableState?.buffered)
}

/** A counter read from a stream's internals: a finite number, or 0. */
const count = (v: unknown): number => typeof v === 'number' && Number.isFinite(v) ? v : 0

/** Can a UDP socket bind host:port right now? */
async function udpPortFree (port: number, host: string): Promise<boolean> {
  const socket = createSocket('udp4')
  const free = await new Promise<boolean>((resolve) => {
    socket.once('error', () => resolve(false))
    socket.bind(port, host, () => resolve(true))
  })
  await new Promise<void>((resolve) => { try { socket.close(() => resolve()) } catch { resolve() } })
  return free
}

export class Network extends EventEmitter {
  readonly peers = new Map<string, Peer>()
  private readonly banned = new Map<string, number>()
  private swarm: any = null
  private bootstrapper: any = null
  private dht: any = null
  private discovery: any = null
  private rediscoverTimer: NodeJS.Timeout | null = null
  private closing = false
  readonly topic: Buffer
  hostsBootstrap = false

  constructor (
    private readonly store: any,
    private readonly seed: Uint8Array,
    genesis: Uint8Array,
    private readonly handler: PeerHandler,
    private readonly opts: NetworkOptions
  ) {
    super()
    this.topic = Buffer.from(taggedHash('swarm-topic', genesis))
  }

  async start (): Promise<void> {
    const host = this.opts.host ?? '127.0.0.1'
    let bootstrap: BootstrapAddress[] | undefined = this.opts.bootstrap
    if (this.opts.publicNetwork === true) {
      bootstrap = undefined // hyperdht's built-in public list: only when explicitly asked for
    } else if (bootstrap.length === 0) {
      const port = localBootstrapPort()
      bootstrap = [{ host: '127.0.0.1', port }]
      await this.tryHostBootstrap(port)
    }
    const keyPair = DHT.keyPair(Buffer.from(this.seed))
    this.dht = new DHT(bootstrap === undefined ? { keyPair } : { bootstrap, host, firewalled: false, keyPair })
    this.swarm = new Hyperswarm({ dht: this.dht, keyPair, firewall: (remote: Buffer) => this.isBanned(toHex(remote)) })
    this.swarm.on('connection', (conn: any) => this.onConnection(conn))
    this.discovery = this.swarm.join(this.topic, { server: true, client: true })
    await this.discovery.flushed()
    this.scheduleRediscovery(REDISCOVER_FIRST_MS)
  }

  /**
   * Announce and look up again, soon at first and then at a capped backoff. Why: nodes starting together announce
   * and look up concurrently, so a pair can miss each other, and Hyperswarm itself only refreshes every ~10 min.
   */
  private scheduleRediscovery (delayMs: number): void {
    if (this.closing) return
    const cap = this.opts.publicNetwork === true ? REDISCOVER_PUBLIC_CAP_MS : REDISCOVER_CAP_MS
    this.rediscoverTimer = setTimeout(() => {
      this.discovery.refresh().catch((err: Error) => this.opts.log('discovery-error', { error: err.message }))
        .finally(() => this.scheduleRediscovery(Math.min(delayMs * 2, cap)))
    }, delayMs)
    this.rediscoverTimer.unref()
  }

  /** Host the local DHT bootstrap node if nobody on this machine does yet. */
  private async tryHostBootstrap (port: number): Promise<void> {
    // Probe the port first: a DHT bootstrapper whose bind fails cannot be destroyed (its destroy awaits the failed
    // bind and never closes its network-interface watcher), and that native handle kept the process alive for good.
    if (!(await udpPortFree(port, '127.0.0.1'))) return // already hosted by another local node
    // the second argument is only the address announced; without `host` dht-rpc binds 0.0.0.0
    const bs = DHT.bootstrapper(port, '127.0.0.1', { host: '127.0.0.1' })
    try {
      await bs.ready()
    } catch {
      // lost a race for the port after the probe: release what the failed node holds
      bs.io?.networkInterfaces?.destroy?.()
      await bs.destroy({ force: true }).catch(() => {})
      return
    }
    if (this.closing) { await bs.destroy({ force: true }); return }
    this.bootstrapper = bs
    this.hostsBootstrap = true
    this.opts.log('bootstrap-hosted', { address: `127.0.0.1:${port}` })
  }

  private isBanned (id: string): boolean {
    const until = this.banned.get(id)
    if (until === undefined) return false
    if (Date.now() > until) { this.banned.delete(id); return false }
    return true
  }

  private onConnection (conn: any): void {
    const id = toHex(conn.remotePublicKey)
    conn.on('error', () => {})
    if (this.isBanned(id)) { conn.destroy(); return }
    this.store.replicate(conn)
    const mux = Protomux.from(conn)
    let peer: Peer | null = null
    const channel = mux.createChannel({
      protocol: 'econumi/2',
      id: this.topic,
      onclose: () => {
        if (peer !== null && this.peers.get(id) === peer) { this.peers.delete(id); this.handler.onPeerGone(peer) }
      }
    })
    if (channel === null) { conn.destroy(); return }
    const message = channel.addMessage({
      encoding: c.buffer,
      onmessage: (buf: Buffer) => {
        if (peer === null) return
        const p = peer
        // at the bound a frame is dropped before it is decoded: a flood's excess costs no parsing (byte 1 is the type)
        if (p.inFlight >= MAX_IN_FLIGHT_PER_PEER && buf[1] !== MSG_HELLO) { this.throttled(p, 'dropped'); return }
        let m: WireMessage
        try {
          m = decodeMessage(buf)
        } catch (err) {
          // any frame that does not decode is the sender's: at least a bad frame's charge
          const code = isEconumiError(err) ? err.code : 'E_WIRE_BAD'
          this.penalize(peer, chargeAtLeast(code, codeInfo('E_WIRE_BAD').penalty), code)
          return
        }
        p.inFlight++
        this.handler.onMessage(p, m).catch((err) => {
          if (isEconumiError(err)) this.penalize(p, chargeAtLeast(err.code, HANDLER_PENALTY), err.code)
          else this.opts.log('peer-handler-error', { peer: id, error: (err as Error).message })
        }).finally(() => { p.inFlight-- })
      }
    })
    peer = {
      id,
      conn,
      score: 0,
      connectedAt: Date.now(),
      inFlight: 0,
      dropped: 0,
      sendDropped: 0,
      send: (m) => {
        if (channel.closed) return
        if (sendQueued(conn) >= MAX_SEND_QUEUED_BYTES) { this.throttled(peer!, 'sendDropped'); return }
        message.send(Buffer.from(encodeMessage(m)))
      }
    }
    const prev = this.peers.get(id)
    if (prev !== undefined) prev.conn.destroy()
    this.peers.set(id, peer)
    conn.once('close', () => { if (this.peers.get(id) === peer) { this.peers.delete(id); this.handler.onPeerGone(peer!) } })
    channel.open()
    this.handler.onPeer(peer)
  }

  /**
   * A frame dropped at one of a peer's bounds (its messages in flight, or the bytes queued to it): counted, and logged
   * at most once a second per peer and bound.
   */
  private throttled (peer: Peer, bound: 'dropped' | 'sendDropped'): void {
    if (peer[bound]++ > 0) return
    setTimeout(() => {
      if (this.peers.get(peer.id) === peer) {
        const id = peer.id.slice(0, 16)
        if (bound === 'dropped') this.opts.log('peer-throttled', { peer: id, dropped: peer.dropped, inFlight: peer.inFlight, max: MAX_IN_FLIGHT_PER_PEER })
        else this.opts.log('peer-send-throttled', { peer: id, dropped: peer.sendDropped, queued: sendQueued(peer.conn), max: MAX_SEND_QUEUED_BYTES })
      }
      peer[bound] = 0
    }, THROTTLE_LOG_MS).unref()
  }

  /** Lower a peer's score for misbehaviour; below BAN_SCORE it is dropped and refused for a while. */
  penalize (peer: Peer, points: number, reason: string): void {
    peer.score -= points
    this.opts.log('peer-penalized', { peer: peer.id.slice(0, 16), points, reason, score: peer.score })
    if (peer.score <= BAN_SCORE) {
      this.banned.set(peer.id, Date.now() + BAN_MS)
      this.opts.log('peer-banned', { peer: peer.id.slice(0, 16), reason })
      peer.conn.destroy()
    }
  }

  /** The connections now: who, where, which side dialled, score, and the bytes the UDX stream carried. */
  peerInfo (): PeerConnectionInfo[] {
    return [...this.peers.values()].map((p) => {
      const raw = p.conn.rawStream
      const host = typeof raw?.remoteHost === 'string' ? raw.remoteHost : null
      return {
        nodeId: p.id,
        address: host === null ? null : `${host}:${count(raw.remotePort)}`,
        inbound: p.conn.isInitiator !== true,
        connectedAt: p.connectedAt,
        score: p.score,
        bytesIn: count(raw?.bytesReceived),
        bytesOut: count(raw?.bytesTransmitted),
        sendQueued: sendQueued(p.conn)
      }
    })
  }

  broadcast (m: WireMessage, except?: Peer): void {
    for (const p of this.peers.values()) if (p !== except) p.send(m)
  }

  async close (): Promise<void> {
    this.closing = true
    if (this.rediscoverTimer !== null) clearTimeout(this.rediscoverTimer)
    if (this.swarm !== null) await this.swarm.destroy()
    else if (this.dht !== null) await this.dht.destroy({ force: true }) // start() failed before the swarm existed
    if (this.bootstrapper !== null) await this.bootstrapper.destroy()
  }
}
