// image-transfer: a ~50 MB workload image downloaded from a peer (node B fetching node A's offer: Hypercore
// replication over Hyperswarm on loopback, the archive hashed and checked against the image ID, written to a
// temp file), in MB/s, until the archive is verified (docker load is reported apart: it is dockerd's work).
// Baseline, in the same run: raw Hypercore replication of the same bytes in the same 64 KiB blocks between
// two Corestores joined through Hyperswarm on the same local DHT. ratio = econumi / raw (goal ≥ 0.8).
import { spawnSync } from 'node:child_process'
import { rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'node:http'
import Corestore from 'corestore'
import Hyperswarm from 'hyperswarm'
import DHT from 'hyperdht'
import { type Bench, report } from './lib.js'
import { NodeProcess, REPO, localBootstrap, tempDir, until, writeGenesis } from './node-process.js'

const IMAGE = 'econumi-bench-blob:v1'
const CHUNK = 64 * 1024

function docker (args: string[], input?: string): string {
  const r = spawnSync('docker', args, { encoding: 'utf8', input, timeout: 600_000 })
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

async function fetchVia (socketPath: string, ref: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const body = JSON.stringify({ ref })
    const req = request({ socketPath, method: 'POST', path: '/v1/images/fetch', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => { if (/"done"/.test(text)) resolve(); else reject(new Error(`fetch failed: ${text.slice(-500)}`)) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Raw replication of `file`'s bytes (64 KiB blocks) between two Corestores over Hyperswarm: MB/s. */
async function rawReplication (file: string, bootstrap: string, dir: string): Promise<number> {
  const [host, port] = bootstrap.split(':')
  const a = new Corestore(join(dir, 'raw-a'))
  const b = new Corestore(join(dir, 'raw-b'))
  const core = a.get({ name: 'blob' })
  await core.ready()
  const { readFileSync } = await import('node:fs')
  const data = readFileSync(file)
  const blocks: Buffer[] = []
  for (let i = 0; i < data.length; i += CHUNK) blocks.push(data.subarray(i, i + CHUNK))
  for (let i = 0; i < blocks.length; i += 256) await core.append(blocks.slice(i, i + 256))
  const swarms = [a, b].map((store) => {
    const dht = new DHT({ bootstrap: [{ host, port: Number(port) }], host: '127.0.0.1', firewalled: false })
    const s = new Hyperswarm({ dht })
    s.on('connection', (conn: any) => store.replicate(conn))
    return s
  })
  const topic = Buffer.alloc(32, 7)
  await swarms[0].join(topic, { server: true, client: false }).flushed()
  swarms[1].join(topic, { server: false, client: true })
  const copy = b.get({ key: core.key })
  await copy.ready()
  const t0 = performance.now()
  const range = copy.download({ start: 0, end: blocks.length })
  const ahead: Array<Promise<Buffer>> = []
  for (let i = 0; i < blocks.length; i++) {
    while (ahead.length < 128 && i + ahead.length < blocks.length) ahead.push(copy.get(i + ahead.length, { timeout: 60_000 }))
    await ahead.shift()
  }
  const s = (performance.now() - t0) / 1000
  range.destroy?.()
  await Promise.all(swarms.map(async (sw) => await sw.destroy()))
  await a.close(); await b.close()
  return data.length / 1e6 / s
}

async function imageTransfer (): Promise<void> {
  const dir = tempDir('econumi-bench-img-')
  const bs = await localBootstrap()
  let nodes: NodeProcess[] = []
  try {
    spawnSync('bash', [join(REPO, 'scripts/build-images.sh'), '--only', 'busybox'], { stdio: 'ignore' })
    docker(['build', '-q', '-t', IMAGE, '-'], 'FROM econumi/busybox:test\nRUN head -c 50000000 /dev/urandom > /blob\n')
    const tarFile = join(dir, 'image.tar')
    docker(['save', '-o', tarFile, IMAGE])
    const size = statSync(tarFile).size
    const genesis = writeGenesis(dir, { epochMs: 5000 })
    const net = ['--genesis', genesis, '--bootstrap', bs.address]
    const a = new NodeProcess(join(dir, 'a'), [...net, '--offer-image', IMAGE]).start()
    nodes.push(a)
    await a.ready()
    await a.waitFor((e) => e.event === 'image-cached', 300_000, 'A cached the image')
    docker(['rmi', IMAGE])
    const b = new NodeProcess(join(dir, 'b'), net).start()
    nodes.push(b)
    await b.ready()
    await until(async () => ((await b.api('GET', '/v1/images')).body as { peers: Array<{ images: Array<{ ref: string }> }> }).peers.some((p) => p.images.some((i) => i.ref === IMAGE)), 60_000, 'B sees the offer')
    await fetchVia(b.socket, IMAGE)
    const done = await b.waitFor((e) => e.event === 'image-fetched', 30_000, 'the fetch log')
    const rate = size / 1e6 / (Number(done.downloadMs) / 1000)
    process.stdout.write(`image: ${(size / 1e6).toFixed(1)} MB in ${Math.ceil(size / CHUNK)} blocks; download + verify ${String(done.downloadMs)} ms, docker load ${String(done.loadMs)} ms\n`)
    for (const n of nodes) await n.stop()
    nodes = []
    const raw = await rawReplication(tarFile, bs.address, dir)
    report({ name: 'image-transfer', value: rate, unit: 'MB/s', baseline: raw })
  } finally {
    for (const n of nodes) await n.stop().catch(() => {})
    await bs.close()
    spawnSync('docker', ['rmi', '-f', IMAGE], { stdio: 'ignore' })
    rmSync(dir, { recursive: true, force: true })
  }
}

const bench: Bench = { name: 'image-transfer', description: 'a ~50 MB image from a peer (replicate + verify) vs raw Hypercore replication of the same bytes', run: imageTransfer }
export default bench
