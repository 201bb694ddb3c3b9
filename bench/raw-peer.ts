// A raw Hyperswarm peer speaking econumi/2 to real node processes: an attacker's view of the network (its own
// Corestore, cores it fills by hand, frames it writes itself). Used by the p2p tests and the peer-flood bench
// (lives under bench/ so that it is compiled with the benchmarks; test/helpers/raw-peer.ts re-exports it).
import Corestore from 'corestore'
import DHT from 'hyperdht'
import Hyperswarm from 'hyperswarm'
import Protomux from 'protomux'
import c from 'compact-encoding'

/** One open econumi/2 channel: to whom, and a send that says whether the socket took the frame without queueing. */
export interface RawChannel {
  /** The remote's node key (its Noise key). */
  remote: Buffer
  /** false: the frame was queued behind a full socket buffer; wait for `drained()` before the next. */
  send: (frame: Uint8Array) => boolean
  /** Resolves when the socket buffer has room again (or the channel closed). */
  drained: () => Promise<void>
  readonly closed: boolean
  /** Resolves when the channel or its connection closes. */
  gone: Promise<void>
}

export interface RawPeer {
  swarm: any
  store: any
  key: Buffer
  /** Resolves with a send function once the econumi/2 channel to the (first) node is open. */
  connected: Promise<(frame: Uint8Array) => void>
  /** Send functions of every open channel, in the order they opened. */
  channels: Array<(frame: Uint8Array) => void>
  /** The same channels with their remote key and backpressure. */
  open: RawChannel[]
  close: () => Promise<void>
}

export interface RawPeerOptions {
  /** The swarm's (Noise) key pair seed: a fixed identity; default a random one. */
  seed?: Buffer
}

export function rawPeer (port: number, topic: Buffer, storeDir: string, o: RawPeerOptions = {}): RawPeer {
  const store = new Corestore(storeDir)
  const keyPair = o.seed === undefined ? undefined : DHT.keyPair(o.seed)
  const dht = new DHT({ bootstrap: [{ host: '127.0.0.1', port }], host: '127.0.0.1', firewalled: false, ...(keyPair !== undefined ? { keyPair } : {}) })
  const swarm = new Hyperswarm({ dht, ...(keyPair !== undefined ? { keyPair } : {}) })
  const channels: Array<(frame: Uint8Array) => void> = []
  const open: RawChannel[] = []
  const connected = new Promise<(frame: Uint8Array) => void>((resolve) => {
    swarm.on('connection', (conn: any) => {
      conn.on('error', () => {})
      store.replicate(conn)
      const mux = Protomux.from(conn)
      let closeChannel!: () => void
      const gone = new Promise<void>((resolve) => { closeChannel = resolve })
      conn.once('close', () => closeChannel())
      const channel = mux.createChannel({
        protocol: 'econumi/2',
        id: topic,
        onclose: () => closeChannel(),
        onopen: () => {
          const send = (frame: Uint8Array): boolean => channel.closed ? true : message.send(Buffer.from(frame)) !== false
          const drained = async (): Promise<void> => {
            if (channel.closed || mux.drained !== false) return
            await Promise.race([new Promise<void>((resolve) => conn.once('drain', resolve)), gone])
          }
          open.push({ remote: conn.remotePublicKey, send, drained, get closed () { return channel.closed === true }, gone })
          channels.push((frame) => { send(frame) })
          resolve((frame) => { send(frame) })
        }
      })
      if (channel === null) return
      const message = channel.addMessage({ encoding: c.buffer, onmessage: () => {} })
      channel.open()
    })
  })
  swarm.join(topic, { server: true, client: true })
  let closed = false
  return {
    swarm,
    store,
    key: swarm.keyPair.publicKey,
    connected,
    channels,
    open,
    close: async () => {
      if (closed) return
      closed = true
      await swarm.destroy()
      await store.close()
    }
  }
}
