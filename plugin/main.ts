// Entry point of the econumi authorization plugin (config.json entrypoint: node /app/plugin/main.js).
// Configuration by environment (defaults are the managed-plugin paths): see optionsFromEnv in server.ts.
import { PluginServer } from './server.js'

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
