// The tests' and benchmarks' own DHT bootstrap (bench/node-process.ts localBootstrap) on a port that is already
// taken: the bootstrapper whose bind failed is destroyed, so nothing it opened keeps the process alive (the leak
// node/network.ts tryHostBootstrap had). Run in a child process, which must exit by itself once it closed the one
// that bound.
import t from 'tap'
import { spawn } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'

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
