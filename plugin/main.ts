// Entry point of the econumi authorization plugin (config.json entrypoint: node /app/plugin/main.js).
// Configuration by environment (defaults are the managed-plugin paths): see optionsFromEnv in server.ts.
// ECONUMI_PLUGIN_MODE=floor runs the measuring floor instead (plugin/floor.ts; benchmarks only).
import { startFloor } from './floor.js'
import { PluginServer, optionsFromEnv } from './server.js'

if (process.env.ECONUMI_PLUGIN_MODE === 'floor') {
  const socket = optionsFromEnv().socketPath
  startFloor(socket).then((server) => {
    process.stdout.write(`econumi-plugin: FLOOR mode on ${socket}: allows everything (benchmark only)\n`)
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => { server.close(() => process.exit(0)); server.closeAllConnections() })
  }, (err: unknown) => {
    process.stderr.write(`econumi-plugin: cannot start: ${err instanceof Error ? err.message : String(err)} [E_PLUGIN_START]\n`)
    process.exit(1)
  })
} else {
  const server = new PluginServer()
  server.start().catch((err: unknown) => {
    process.stderr.write(`econumi-plugin: cannot start: ${err instanceof Error ? err.message : String(err)} [E_PLUGIN_START]\n`)
    process.exit(1)
  })
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      server.close().finally(() => process.exit(0))
    })
  }
}
