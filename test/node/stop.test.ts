// A node stops when asked, in every configuration: SIGTERM, SIGINT and `econumi stop`, also as the second node
// on one machine (whose local DHT bootstrap port is taken), and a second signal during shutdown exits at once.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { CLI, NodeProcess, freeUdpPort, tempDir } from '../helpers/node-process.js'

/** Alive and not a zombie (an exited child the test has not reaped yet). */
function running (pid: number): boolean {
  try { const s = readFileSync(`/proc/${pid}/stat`, 'utf8'); return !/^[ZX]/.test(s.slice(s.lastIndexOf(')') + 2)) } catch { return false }
}

/** Resolves with the exit code when the process exits within `ms`, else with 'running'. */
async function exitWithin (n: NodeProcess, ms: number): Promise<number | null | 'running'> {
  let timer: NodeJS.Timeout | undefined
  const r = await Promise.race([n.exited, new Promise<'running'>((resolve) => { timer = setTimeout(() => resolve('running'), ms) })])
  clearTimeout(timer)
  return r
}

t.test('two foreground nodes on the local network of one machine: both exit on SIGTERM, SIGINT and econumi stop', async (t) => {
  const env = { ECONUMI_LOCAL_BOOTSTRAP_PORT: String(await freeUdpPort()) }
  for (const how of ['SIGTERM', 'SIGINT', 'econumi stop'] as const) {
    // no --bootstrap: the default local network, whose bootstrap the first node hosts and the second cannot
    const a = new NodeProcess(tempDir('econumi-stop-a-'), ['--epoch', '500', '--dev-compute-units', '5'], env).start()
    t.teardown(() => a.kill9())
    await a.ready()
    t.ok(a.events.some((e) => e.event === 'bootstrap-hosted'), 'the first node hosts the local bootstrap')
    const b = new NodeProcess(tempDir('econumi-stop-b-'), ['--epoch', '500', '--dev-compute-units', '5'], env).start()
    t.teardown(() => b.kill9())
    await b.ready()
    t.notOk(b.events.some((e) => e.event === 'bootstrap-hosted'), 'the second node found the port taken')
    for (const n of [b, a]) {
      const started = Date.now()
      if (how === 'econumi stop') {
        const r = await new Promise<{ code: number | null, stdout: string, stderr: string }>((resolve) => {
          execFile(process.execPath, [CLI, '--data-dir', n.dir, 'stop'], { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? null, stdout, stderr }))
        })
        t.equal(r.code, 0, `econumi stop: ${r.stderr}`)
        t.match(r.stdout, /node stopped/)
        // `econumi stop` returns once the process is gone, not when its API goes quiet
        t.notOk(running(n.proc!.pid!), 'the process was gone when econumi stop returned')
      } else {
        n.proc!.kill(how)
      }
      const code = await exitWithin(n, 8_000)
      t.equal(code, 0, `${how}: ${n === a ? 'first' : 'second'} node exited cleanly within 8 s (${Date.now() - started} ms)`)
      t.notOk(n.events.some((e) => e.event === 'exit-forced'), 'nothing held the process open after stopped')
    }
  }
})

t.test('a second signal during a shutdown that hangs exits at once', async (t) => {
  const n = new NodeProcess(tempDir('econumi-stop-hang-'), ['--offline', '--epoch', '500', '--dev-compute-units', '5'], { ECONUMI_TEST_HOLD_SHUTDOWN_MS: '60000' }).start()
  t.teardown(() => n.kill9())
  await n.ready()
  n.proc!.kill('SIGTERM')
  await n.waitFor((e) => e.event === 'stopping', 10_000, 'stopping')
  t.equal(await exitWithin(n, 1000), 'running', 'the first SIGTERM started a shutdown that is still going')
  const started = Date.now()
  n.proc!.kill('SIGTERM')
  const code = await exitWithin(n, 3_000)
  t.equal(code, 1, `the second SIGTERM exited within ${Date.now() - started} ms`)
  t.match(n.events.find((e) => e.event === 'exit-forced'), { reason: 'second SIGTERM during shutdown' })
})

t.test('a node without compute units says it can never produce a block', async (t) => {
  const n = new NodeProcess(tempDir('econumi-stop-nocu-'), ['--offline', '--epoch', '500']).start()
  await n.ready()
  t.match(await n.waitFor((e) => e.event === 'warning', 10_000, 'warning'), { code: 'W_NO_COMPUTE_UNITS', message: /--attest[\s\S]*--dev-compute-units/ })
  await n.stop()
  t.equal(n.proc!.exitCode, 0, 'exited')
})
