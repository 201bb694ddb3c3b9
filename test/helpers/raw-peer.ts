// A raw Hyperswarm peer in the test process speaking econumi/2 to real node processes: an attacker's view of the
// network (its own Corestore, cores it fills by hand, frames it writes itself).
import Corestore from 'corestore'
import DHT from 'hyperdht'
import Hyperswarm from 'hyperswarm'
import Protomux from 'protomux'
import c from 'compact-encoding'

export interface RawPeer {
  swarm: any
  store: any
  key: Buffer
  /** Resolves with a send function once the econumi/2 channel to the (first) node is open. */
  connected: Promise<(frame: Uint8Array) => void>
  /** Send functions of every open channel, in the order they opened. */
  channels: Array<(frame: Uint8Array) => void>
  close: () => Promise<void>
}

export function rawPeer (port: number, topic: Buffer, storeDir: string): RawPeer {
  const store = new Corestore(storeDir)
  const dht = new DHT({ bootstrap: [{ host: '127.0.0.1', port }], host: '127.0.0.1', firewalled: false })
  const swarm = new Hyperswarm({ dht })
  const channels: Array<(frame: Uint8Array) => void> = []
  const connected = new Promise<(frame: Uint8Array) => void>((resolve) => {
    swarm.on('connection', (conn: any) => {
      conn.on('error', () => {})
      store.replicate(conn)
      const mux = Protomux.from(conn)
      const channel = mux.createChannel({
        protocol: 'econumi/2',
        id: topic,
        onopen: () => {
          const send = (frame: Uint8Array): void => { if (!channel.closed) message.send(Buffer.from(frame)) }
          channels.push(send)
          resolve(send)
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
    close: async () => {
      if (closed) return
      closed = true
      await swarm.destroy()
      await store.close()
    }
  }
}

