// A raw econumi/2 peer in its own process, so that a test can SIGSTOP it: a stopped process stops acknowledging at
// the UDX level, which a peer in the test's own process cannot do. Prints {"key":…} once its channel to a node is
// open, then only holds the connection. argv: bootstrap port, swarm topic (hex), store directory.
import { rawPeer } from './raw-peer.js'

const [port, topic, dir] = process.argv.slice(2)
const peer = rawPeer(Number(port), Buffer.from(topic, 'hex'), dir)
await peer.connected
process.stdout.write(JSON.stringify({ key: peer.key.toString('hex') }) + '\n')
const stop = (): void => { peer.close().finally(() => process.exit(0)) }
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
