// The tests' and benchmarks' own DHT bootstrap (bench/node-process.ts localBootstrap) on a port that is already
// taken: the bootstrapper whose bind failed is destroyed, so nothing it opened keeps the process alive (the leak
// node/network.ts tryHostBootstrap had). Run in a child process, which must exit by itself once it closed the one
// that bound.
import t from 'tap'
import { spawn } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'
import { NodeProcess, freeUdpPort, localBootstrap, tempDir, udpSocketsOf } from '../helpers/node-process.js'

const ROOT = new URL('../..', import.meta.url).pathname
const MODULE = pathToFileURL(join(ROOT, 'bench/node-process.ts')).href

// the child: take a loopback UDP port, ask localBootstrap for that port first (its bind fails), close what it
// returns and the holder, and print what it got; then it must have nothing left that keeps it running
const CHILD = `
import { createSocket } from 'node:dgram'
const { localBootstrap } = await import(${JSON.stringify(MODULE)})
const holder = createSocket('udp4')
await new Promise((resolve, reject) => { holder.once('error', reject); holder.bind(0, '127.0.0.1', resolve) })
const taken = holder.address().port
const bs = await localBootstrap(taken)
process.stdout.write(JSON.stringify({ taken, port: bs.port }) + '\\n')
await bs.close()
holder.close()
`

t.test('localBootstrap on a taken port: the failed bootstrapper is destroyed, and the process exits', async (t) => {
  // only the TypeScript loader of this run (not tap's coverage hooks) goes to the child
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))
  const child = spawn(process.execPath, [...loader, '--input-type=module', '-e', CHILD], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''; let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const ended = await new Promise<number | string | null>((resolve) => {
    const timer = setTimeout(() => resolve('running'), 15_000)
    child.once('exit', (code, signal) => { clearTimeout(timer); resolve(code ?? signal) })
  })
  if (ended === 'running') child.kill('SIGKILL')
  const got = out.trim() === '' ? null : JSON.parse(out.trim().split('\n')[0]) as { taken: number, port: number }
  t.ok(got !== null, `localBootstrap answered (stderr: ${err.slice(-500)})`)
  if (got !== null) t.not(got.port, got.taken, 'on another port than the taken one')
  t.equal(ended, 0, 'and the process exited by itself within 15 s, with code 0 (nothing of the failed bootstrapper holds it)')
})

// Issue 14: the "local" network's DHT bootstrap bound 0.0.0.0 (dht-rpc binds `opts.host`, and the bootstrapper's
// own address argument is only what it announces), so any host that could reach the machine reached it.
t.test('a node hosting the local bootstrap binds every UDP socket to 127.0.0.1', async (t) => {
  const port = await freeUdpPort()
  const n = new NodeProcess(tempDir('econumi-bind-'), ['--epoch', '500', '--dev-compute-units', '5'], { ECONUMI_LOCAL_BOOTSTRAP_PORT: String(port) }).start()
  t.teardown(() => n.kill9())
  await n.ready()
  t.ok(n.events.some((e) => e.event === 'bootstrap-hosted'), 'it hosts the local bootstrap')
  const sockets = udpSocketsOf(n.proc!.pid!)
  t.ok(sockets.includes(`127.0.0.1:${port}`), `the bootstrap's socket is 127.0.0.1:${port} (sockets: ${sockets.join(', ')})`)
  t.same(sockets.filter((s) => !s.startsWith('127.0.0.1:')), [], 'no UDP socket on another address')
  await n.stop()
  t.equal(n.proc!.exitCode, 0, 'the node exited')
})

t.test('the tests\' and benchmarks\' own bootstrap binds 127.0.0.1 too', async (t) => {
  const bs = await localBootstrap()
  t.teardown(async () => { await bs.close() })
  const mine = udpSocketsOf('self').filter((s) => s.endsWith(`:${bs.port}`))
  t.same(mine, [`127.0.0.1:${bs.port}`], 'its socket is on loopback only')
})
