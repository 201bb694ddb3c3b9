// `npm run bench` runs every benchmark; `npm run bench -- <name>` runs just that one.
import type { Bench } from './lib.js'

const registry: Array<() => Promise<Bench>> = [
  async () => (await import('./tx-admission.js')).default,
  async () => (await import('./plugin.js')).default,
  async () => (await import('./agent.js')).default,
  async () => (await import('./sync.js')).default,
  async () => (await import('./sync.js')).syncFullBlocks,
  async () => (await import('./network.js')).convergence,
  async () => (await import('./network.js')).txPropagation,
  async () => (await import('./leader.js')).default,
  async () => (await import('./image-transfer.js')).default,
  async () => (await import('./evidence.js')).default,
  async () => (await import('./peer-flood.js')).default
]

async function main (): Promise<void> {
  const wanted = process.argv.slice(2)
  const benches = await Promise.all(registry.map(async (load) => await load()))
  const unknown = wanted.filter((w) => !benches.some((b) => b.name === w))
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')}; known: ${benches.map((b) => b.name).join(', ')} [E_UNKNOWN_BENCH]\n`)
    process.exit(2)
  }
  for (const bench of benches) {
    if (wanted.length > 0 && !wanted.includes(bench.name)) continue
    process.stdout.write(`# ${bench.name}: ${bench.description}\n`)
    await bench.run()
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
