// The data directory with real node processes (`econumi start --foreground`): it is private to its owner,
// and damage to it (a copied directory, truncated tables, a garbage CURRENT) is reported with a stable code
// that says what to do, and doing that works.
import t from 'tap'
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CLI, NodeProcess, tempDir } from '../helpers/node-process.js'

function files (dir: string): string[] { return (readdirSync(dir, { recursive: true }) as string[]).map((f) => join(dir, f)).filter((f) => statSync(f).isFile()) }

/** Run a node until it has produced a few blocks, then stop it. */
async function runNode (t: Pick<typeof import('tap').default, 'teardown' | 'equal'>, dir: string, first = false): Promise<number> {
  const node = new NodeProcess(dir, ['--offline', ...(first ? ['--dev-compute-units', '10', '--epoch', '200'] : ['--dev-compute-units', '10'])]).start()
  t.teardown(async () => { await node.stop() })
  const ready = await node.ready()
  const start = Number(ready.height)
  await node.waitFor((e) => e.event === 'head' && Number(e.height) >= start + 2, 30_000, 'two more blocks')
  await node.stop()
  t.equal(node.proc?.exitCode, 0, 'the node stopped cleanly')
  return Number(node.events.filter((e) => e.event === 'stopped').pop()?.height)
}

/** Start a node on `dir` that must refuse to start: its error, from --json. */
async function startRefused (dir: string): Promise<{ code: string, message: string }> {
  const node = new NodeProcess(dir, ['--offline']).start()
  const exit = await node.exited
  if (exit === 0) throw new Error('the node started')
  const line = node.stderr.trim().split('\n').pop() ?? ''
  try { return JSON.parse(line).error } catch { return { code: 'not JSON', message: node.stderr } }
}

async function cli (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: unknown }).code ?? -1), stdout, stderr })
    })
  })
}

/** Height a node reports when it comes up (and stops again). */
async function heightAfterStart (t: Pick<typeof import('tap').default, 'teardown'>, dir: string): Promise<number> {
  const node = new NodeProcess(dir, ['--offline']).start()
  t.teardown(async () => { await node.stop() })
  const ready = await node.ready()
  await node.stop()
  return Number(ready.height)
}

t.test('an existing data directory becomes 0700 and what the node creates is for its owner only', async (t) => {
  const root = tempDir('econumi-mode-')
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const dir = join(root, 'node')
  mkdirSync(dir, { mode: 0o755 })
  await runNode(t, dir, true)
  t.equal(statSync(dir).mode & 0o777, 0o700, 'the data directory is 0700')
  const made = [...files(join(dir, 'cores')), ...files(join(dir, 'ledger'))]
  t.ok(made.length > 5, `${made.length} files in cores/ and ledger/`)
  t.same(made.filter((f) => (statSync(f).mode & 0o077) !== 0), [], 'none readable by group or others (umask 077)')
})

t.test('storage damage: stable codes that say what to do, and doing it works', async (t) => {
  const root = tempDir('econumi-damage-')
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const dir = join(root, 'node')
  let height = await runNode(t, dir, true)
  height = await runNode(t, dir) // a second run: LevelDB and RocksDB have written their tables by now

  // a garbage CURRENT in the ledger
  writeFileSync(join(dir, 'ledger', 'CURRENT'), 'garbage\n')
  let err = await startRefused(dir)
  t.equal(err.code, 'E_LEDGER_CORRUPT', 'garbage ledger CURRENT')
  t.match(err.message, /econumi reindex/, 'the message says what to do')
  let r = await cli(['--data-dir', dir, '--json', 'reindex'])
  t.equal(r.code, 0, `reindex rebuilds it: ${r.stderr}`)
  t.equal(await heightAfterStart(t, dir), height, 'the node starts at the same height')

  // a truncated .ldb table
  height = await runNode(t, dir)
  const tables = files(join(dir, 'ledger')).filter((f) => f.endsWith('.ldb'))
  t.ok(tables.length > 0, 'the ledger has .ldb tables')
  for (const f of tables) truncateSync(f, Math.floor(statSync(f).size / 2))
  err = await startRefused(dir)
  t.equal(err.code, 'E_LEDGER_CORRUPT', 'truncated .ldb')
  r = await cli(['--data-dir', dir, '--json', 'reindex'])
  t.equal(r.code, 0, `reindex rebuilds it: ${r.stderr}`)
  t.equal(await heightAfterStart(t, dir), height, 'the node starts at the same height')

  // a copied data directory: the chain store refuses it, and says how to accept it
  const copy = join(root, 'copy')
  cpSync(dir, copy, { recursive: true })
  err = await startRefused(copy)
  t.equal(err.code, 'E_STORE_MOVED', 'a copied data directory')
  t.match(err.message, /CORESTORE/, 'the message names the guard file')
  rmSync(join(copy, 'cores', 'CORESTORE'))
  t.equal(await heightAfterStart(t, copy), height, 'once the guard file is removed the copy starts, chain intact')

  // a truncated .sst of the cores, and a garbage CURRENT of the cores
  const ssts = files(join(dir, 'cores')).filter((f) => f.endsWith('.sst'))
  t.ok(ssts.length > 0, 'the cores have .sst tables')
  for (const f of ssts) truncateSync(f, Math.floor(statSync(f).size / 2))
  err = await startRefused(dir)
  t.equal(err.code, 'E_STORE_CORRUPT', 'truncated .sst')
  t.match(err.message, /backup/, 'the message says what to do')
  writeFileSync(join(copy, 'cores', 'db', 'CURRENT'), 'garbage\n')
  t.ok(existsSync(join(copy, 'cores', 'CORESTORE')))
  err = await startRefused(copy)
  t.equal(err.code, 'E_STORE_CORRUPT', 'garbage CURRENT of the cores')
})
