// Sync of a long chain by a late node with real processes on loopback: progress is visible, a kill -9
// mid-sync loses nothing already verified, the restarted node resumes and reaches the same tip, and it
// never produces a block of its own while it is behind.
import t from 'tap'
import { join } from 'node:path'
import { buildChain } from '../helpers/prebuilt-chain.js'
import { NodeProcess, localBootstrap, tempDir, until, writeGenesis } from '../helpers/node-process.js'

const BLOCKS = 2500

t.test('a late node syncs a long chain, survives kill -9 mid-sync and resumes', async (t) => {
  const dir = tempDir('econumi-sync-')
  const genesis = writeGenesis(dir, { epochMs: 1000, genesisTime: Date.now() - (BLOCKS + 100) * 1000, tau: '100' })
  const serveDir = join(dir, 'server')
  const { tipHash } = await buildChain(serveDir, genesis, BLOCKS)
  const bs = await localBootstrap()
  // the serving node holds the chain and does not produce (no compute units)
  const server = new NodeProcess(serveDir, ['--genesis', genesis, '--bootstrap', bs.address]).start()
  const freshDir = join(dir, 'fresh')
  // the late node could produce (it has compute units) but must not while it syncs
  const freshArgs = ['--genesis', genesis, '--bootstrap', bs.address, '--dev-compute-units', '10']
  let fresh = new NodeProcess(freshDir, freshArgs)
  const runs: NodeProcess[] = [fresh]
  t.teardown(async () => { await Promise.all([server, ...runs].map(async (n) => await n.stop())); await bs.close() })
  await server.ready()
  const served = await server.status()
  t.equal(served.tipHash, tipHash, 'server holds the prebuilt chain')
  const target = Number(served.height)
  t.ok(target >= BLOCKS - 1, `server height ${target}`)

  fresh.start()
  await fresh.ready()
  // progress: status sync.height/target while it is behind
  let seenProgress: Record<string, any> | null = null
  const killAt = await until(async () => {
    const st = await fresh.status()
    const h = Number(st.height)
    if (st.sync.syncing === true && Number(st.sync.target) === target && h > 0 && h < target) seenProgress = st
    // and its once-a-second progress line has been logged (the first may come after height 100: syncing is fast)
    const logged = fresh.events.some((e) => e.event === 'sync' && Number(e.height) < target)
    return h > 100 && h < target && logged ? h : undefined
  }, 120_000, 'fresh node mid-sync (100 < height < target, progress logged)', 25) // a run of 256 blocks commits at once: poll often
  t.ok(seenProgress !== null, 'status shows sync in progress')
  t.equal(Number(seenProgress!.sync.target), target, 'sync target is the served height')
  t.ok(Number(seenProgress!.sync.height) < target, 'sync height below target')
  // the node's own log showed progress before the kill: height below the served target
  const syncEvents = fresh.events.filter((e) => e.event === 'sync')
  t.ok(syncEvents.some((e) => Number(e.target) === target && Number(e.height) < target), `sync progress logged before the kill (${syncEvents.length} sync events)`)

  fresh.kill9()
  await fresh.exited
  t.pass(`killed with -9 at height ${killAt}`)

  fresh = new NodeProcess(freshDir, freshArgs)
  runs.push(fresh)
  fresh.start()
  await fresh.ready()
  const resumedAt = Number((await fresh.status()).height)
  t.ok(resumedAt > 0, `resumed at height ${resumedAt}, not from scratch`)
  t.ok(resumedAt >= Math.min(killAt, 100), `kept what it had verified (killed at ${killAt}, restarted at ${resumedAt})`)

  await until(async () => Number((await fresh.status()).height) >= target, 180_000, 'fresh node reaches the target height')
  const atTarget = (await fresh.api('GET', `/v1/blocks/${target}`)).body
  t.equal(atTarget.hash, tipHash, 'same block at the served tip height')
  // the two nodes agree on the tip (the fresh node may produce after the sync, the server follows)
  await until(async () => {
    const [a, b] = await Promise.all([server.status(), fresh.status()])
    return a.tipHash === b.tipHash ? a.tipHash : undefined
  }, 60_000, 'same tip hash on both nodes')

  // sync progress was logged, and no block was produced while behind
  const allEvents = runs.flatMap((r) => r.events)
  const syncLogs = allEvents.filter((e) => e.event === 'sync')
  t.ok(syncLogs.length > 0, `${syncLogs.length} sync log events`)
  t.ok(syncLogs.every((e) => Number(e.target) >= Number(e.height)), 'sync events carry height/target')
  const produced = allEvents.filter((e) => e.event === 'block')
  t.same(produced.filter((e) => Number(e.height) <= target), [], 'no own block at or below the synced height')
  t.same(runs[0].events.filter((e) => e.event === 'block'), [], 'no own block before the kill (mid-sync)')
})
