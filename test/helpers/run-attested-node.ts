// A node process with attestation, for the end-to-end test and manual runs while `econumi start` does not
// wire attestation yet. Mirrors node/main.ts runForeground: JSON log lines on stdout, SIGTERM to stop.
// Usage: node --import=@tapjs/typescript/import test/helpers/run-attested-node.ts <dataDir> <epochMs> [runDir]
import { join } from 'node:path'
import { loadOrCreateGenesis } from '../../node/main.js'
import { EconumiNode } from '../../node/node.js'
import { createApp, listenUnix } from '../../node/api.js'
import { startAttestation } from '../../node/attestation/collector.js'

const [dataDir, epochMsArg, runDir] = process.argv.slice(2)
const log = (event: string, fields: Record<string, unknown> = {}): void => {
  const plain = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]))
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), event, ...plain }) + '\n')
}
const { params } = loadOrCreateGenesis(dataDir, { epochMs: BigInt(epochMsArg ?? '2000') })
const node = await EconumiNode.open({ dataDir, params, log })
const attestation = await startAttestation(node, { dataDir, runDir, log, checkpointMs: 1000 })
node.computeUnits = attestation.computeUnits
let stopping = false
const server = await listenUnix(createApp(node, { shutdown: () => { void stop() }, extend: attestation.extend }), join(dataDir, 'api.sock'))
async function stop (): Promise<void> {
  if (stopping) return
  stopping = true
  log('stopping')
  await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections() })
  await attestation.close()
  await node.close()
  log('stopped')
  process.exit(0)
}
process.on('SIGTERM', () => { void stop() })
process.on('SIGINT', () => { void stop() })
await node.start()
log('ready', { nodeId: node.identity.nodeId, rewardAddress: node.rewardAddress, apiSocket: join(dataDir, 'api.sock') })
