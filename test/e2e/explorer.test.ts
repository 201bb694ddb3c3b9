// The block explorer and /metrics of a real node (`econumi start --foreground --http-port`, needs
// `npm run build`): a devnet with one transaction, every page checked over HTTP, bad input answered with
// a 4xx page and no stack, then the front page opened in headless Chromium (Debian's `chromium`) for its
// DOM and a screenshot kept as a test artifact (ECONUMI_ARTIFACTS, default .tap/artifacts).
// Chromium missing: that part skips, unless CI or ECONUMI_REQUIRE_CHROMIUM=1.
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { formatAmount } from '../../protocol/amount.js'
import { CLI, NodeProcess, REPO, tempDir, until } from '../helpers/node-process.js'

const CHROMIUM = process.env.ECONUMI_CHROMIUM ?? '/usr/bin/chromium'
const requireChromium = process.env.ECONUMI_REQUIRE_CHROMIUM === '1' || process.env.CI === 'true'
const ARTIFACTS = process.env.ECONUMI_ARTIFACTS ?? join(REPO, '.tap', 'artifacts')

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) })
  })
}

async function cli (home: string, args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, '--json', ...args], { env: { ...process.env, ECONUMI_HOME: home, ECONUMI_PASSPHRASE: 'explorer test passphrase' }, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`econumi ${args.join(' ')}: ${stderr}`)); else resolve(stdout)
    })
  })
}

async function get (base: string, path: string, init?: RequestInit): Promise<{ status: number, type: string, body: string }> {
  const res = await fetch(base + path, { redirect: 'manual', ...init })
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() }
}

async function chromium (args: string[], profile: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    const p = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', `--user-data-dir=${profile}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''; let stderr = ''
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    p.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000) })
    const timer = setTimeout(() => p.kill('SIGKILL'), 90_000)
    p.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

t.test('explorer pages, bad input, /metrics and headless Chromium', async (t) => {
  const dir = tempDir('econumi-explorer-')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const home = join(dir, 'home')
  const alice = (JSON.parse(await cli(home, ['createwallet'])) as { address: string }).address
  const bob = (JSON.parse(await cli(home, ['createwallet'])) as { address: string }).address
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const node = new NodeProcess(join(dir, 'node'), ['--offline', '--epoch', '1000', '--dev-compute-units', '100', '--alloc', `${alice}=100`, '--http-port', String(port)])
  node.start()
  t.teardown(async () => { await node.stop() })
  const ready = await node.ready()
  t.equal(ready.explorer, `${base}/`, 'the ready line names the explorer URL')
  await node.waitFor((e) => e.event === 'block', 30_000, 'a first block')

  const dataDir = join(dir, 'node')
  const sent = JSON.parse(await cli(home, ['--data-dir', dataDir, 'send', alice, bob, '1.5'])) as { txid: string }
  const txid = sent.txid
  const confirmed = await until(async () => {
    const r = await node.api('GET', `/v1/transactions/${txid}`)
    return r.body.status === 'confirmed' ? r.body as { height: string, blockHash: string } : undefined
  }, 30_000, 'the transaction in a block')

  // work reports (for the epoch two back) are on chain a few epochs in
  await node.waitFor((e) => e.event === 'block' && Number(e.reports) > 0, 30_000, 'a block with a work report')
  // front page: the head, recent blocks with their leader and CU, the charts, the nodes
  const status = await node.status()
  const front = await get(base, '/')
  t.equal(front.status, 200)
  t.match(front.type, /^text\/html/)
  t.match(front.body, 'Recent blocks')
  t.match(front.body, status.nodeId.slice(0, 12), 'the leader (this node) is shown')
  t.match(front.body, /<td class="n">100<\/td>/, 'the CU of the work reports is shown')
  t.match(front.body, /<svg[^>]*aria-label="CU per epoch"/)
  t.match(front.body, /<svg[^>]*aria-label="blocks won per node"/)
  t.notMatch(front.body, /<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'no scripts and nothing fetched from elsewhere')
  const headHeight = Number(status.height)
  t.ok(front.body.includes(`>${headHeight}</a>`) || front.body.includes(`>${headHeight + 1}</a>`), 'the head height is on the page')

  const block = await get(base, `/block/${confirmed.height}`)
  t.equal(block.status, 200)
  t.match(block.body, txid.slice(0, 12), 'the block lists its transaction')
  t.match(block.body, alice)
  t.match(block.body, bob)
  t.match(block.body, '1.5 ECO')
  const byHash = await get(base, `/block/${confirmed.blockHash}`)
  t.equal(byHash.status, 200)
  t.match(byHash.body, `Block ${confirmed.height}`)

  const tx = await get(base, `/tx/${txid}`)
  t.equal(tx.status, 200)
  t.match(tx.body, 'confirmed')
  t.match(tx.body, confirmed.blockHash)

  const acct = (await node.api('GET', `/v1/accounts/${alice}`)).body as { balance: string }
  const page = await get(base, `/address/${alice}`)
  t.equal(page.status, 200)
  t.match(page.body, `${formatAmount(BigInt(acct.balance))} ECO`, 'the balance is shown')
  t.match(page.body, /<td>sent<\/td>/, 'the history has the sent transaction')
  t.match(page.body, txid.slice(0, 12))
  const bobPage = await get(base, `/address/${bob}`)
  t.match(bobPage.body, /<td>received<\/td>/)
  t.match(bobPage.body, '1.5 ECO')

  // the weight column (w / W for the current epoch) is the node's weight: the API's, read just before and after
  // (an epoch may turn in between), once it comes from its work reports (WEIGHT_LAG epochs after the first one
  // on chain) rather than the bootstrap's 1 / 1
  type NodeWeight = { nodeId: string, weight: string, totalWeight: string, bootstrapWeight: boolean }
  const weightNow = async (): Promise<NodeWeight | undefined> => ((await node.api('GET', '/v1/nodes')).body as { nodes: NodeWeight[] }).nodes.find((n) => n.nodeId === status.nodeId)
  await until(async () => (await weightNow())?.bootstrapWeight === false, 20_000, 'a weight from the work reports')
  const weightBefore = await weightNow()
  const nodes = await get(base, '/nodes')
  const weightAfter = await weightNow()
  t.equal(nodes.status, 200)
  t.match(nodes.body, status.nodeId.slice(0, 12))
  t.match(nodes.body, /<td>admitted<\/td><td>devnet<\/td>/, 'the ledger\'s admission state: a devnet admits the key')
  const weightCell = new RegExp(`<tr><td><span class="mono" title="${status.nodeId}">[^<]*</span></td><td>admitted</td>(?:<td>[^<]*</td>){3}<td class="n">(\\d+) / (\\d+)</td>`).exec(nodes.body)
  t.ok(weightCell !== null, 'the node\'s row has a weight column "w / W"')
  if (weightCell !== null) {
    const shown = { weight: weightCell[1], totalWeight: weightCell[2] }
    t.ok(BigInt(shown.weight) >= 100n, `a weight from its work reports of 100 CU each (${shown.weight} / ${shown.totalWeight})`)
    t.ok([weightBefore, weightAfter].some((w) => w?.weight === shown.weight && w?.totalWeight === shown.totalWeight), `the weight shown is the node's (API: ${weightBefore?.weight ?? '?'} / ${weightBefore?.totalWeight ?? '?'}, then ${weightAfter?.weight ?? '?'} / ${weightAfter?.totalWeight ?? '?'})`)
  }

  const search = await get(base, `/search?q=${txid}`)
  t.equal(search.status, 303)
  t.equal((await fetch(`${base}/search?q=${alice}`, { redirect: 'manual' })).headers.get('location'), `/address/${alice}`)

  // bad input: a 4xx page with a code, never a stack trace
  const bad: Array<[string, number, string]> = [
    ['/address/notanaddress', 400, 'E_BAD_ADDRESS'],
    [`/address/${alice.slice(0, -1)}${alice.endsWith('1') ? '2' : '1'}`, 400, 'E_BAD_ADDRESS'],
    ['/block/zz', 400, 'E_BAD_BLOCK_ID'],
    ['/block/-1', 400, 'E_BAD_BLOCK_ID'],
    ['/block/99999999999999999999', 400, 'E_BAD_BLOCK_ID'],
    ['/block/999999', 404, 'E_NOT_FOUND'],
    [`/block/${'ab'.repeat(32)}`, 404, 'E_NOT_FOUND'],
    ['/tx/xyz', 400, 'E_BAD_HEX'],
    [`/tx/${'cd'.repeat(32)}`, 404, 'E_NOT_FOUND'],
    ['/address/%E0%A4%A', 400, 'E_BAD_REQUEST'],
    ['/search?q=%3Cscript%3E', 400, 'E_BAD_ADDRESS'],
    ['/nothing-here', 404, 'E_NOT_FOUND']
  ]
  for (const [path, code, errCode] of bad) {
    const r = await get(base, path)
    t.equal(r.status, code, `${path} -> ${code}`)
    t.match(r.type, /^text\/html/, `${path}: an HTML page`)
    t.match(r.body, errCode, `${path}: names ${errCode}`)
    t.notMatch(r.body, /at .*\.(js|ts):\d+|node:internal|<script/, `${path}: no stack trace, nothing injected`)
  }
  const rebound = await new Promise<number>((resolve, reject) => {
    // fetch() may not set Host: a raw request as a DNS-rebinding page would send it
    const s = connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: evil.example:' + port + '\r\nConnection: close\r\n\r\n'))
    let data = ''
    s.on('data', (d: Buffer) => { data += d.toString() })
    s.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1] ?? 0)))
    s.on('error', reject)
  })
  t.equal(rebound, 403, 'a foreign Host (DNS rebinding) is refused on the loopback listener')
  t.equal((await get(`http://localhost:${port}`, '/')).status, 200, 'localhost is a loopback Host')
  const post = await get(base, '/', { method: 'POST', body: 'x' })
  t.equal(post.status, 405, 'read-only: POST is refused')

  // metrics
  const m = await get(base, '/metrics')
  t.equal(m.status, 200)
  t.match(m.type, /^text\/plain; version=0\.0\.4/)
  const value = (name: string): number => {
    const line = m.body.split('\n').find((l) => l.startsWith(`${name} `))
    if (line === undefined) throw new Error(`no ${name} in /metrics`)
    return Number(line.slice(name.length + 1))
  }
  t.match(m.body, /# TYPE econumi_blocks_produced_total counter/)
  t.ok(value('econumi_height') >= Number(confirmed.height), 'height')
  t.ok(value('econumi_blocks_produced_total') >= Number(confirmed.height) + 1, 'blocks produced (every block is this node\'s)')
  t.equal(value('econumi_blocks_received_total'), 0, 'no peers: nothing received')
  t.equal(value('econumi_transactions_admitted_total'), 1, 'the one transaction')
  t.equal(value('econumi_mempool_transactions'), 0)
  t.equal(value('econumi_peers'), 0)
  t.equal(value('econumi_reorgs_total'), 0)
  t.ok(value('econumi_cu_reported_total') >= 100)
  t.equal(value('econumi_verify_queue_depth'), 0, 'nothing waits for verification on an idle node')
  t.equal(value('econumi_sync_verified_waiting'), 0)
  t.match(m.body, /# TYPE econumi_block_verify_seconds histogram/)
  t.ok(value('econumi_block_verify_seconds_count') >= Number(confirmed.height) + 1, 'every block produced was verified and timed')
  t.ok(value('econumi_block_verify_seconds_sum') > 0, 'verification time')
  t.ok(value('econumi_block_verify_seconds_bucket{le="+Inf"}') === value('econumi_block_verify_seconds_count'), 'the +Inf bucket is the count')

  // bound to loopback only: another address of this machine does not answer
  const external = Object.values(networkInterfaces()).flat().find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)
  if (external !== undefined) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect(port, external.address)
      s.once('connect', () => { s.destroy(); resolve(false) })
      s.once('error', () => resolve(true))
    })
    t.ok(refused, `nothing listens on ${external.address}:${port}`)
  }

  // headless Chromium: the rendered DOM and a screenshot
  if (!existsSync(CHROMIUM)) {
    if (requireChromium) t.fail(`${CHROMIUM} missing: apt-get install -y chromium`)
    else t.comment(`skipped the browser check: no ${CHROMIUM} (apt-get install -y chromium)`)
  } else {
    const dom = await chromium(['--dump-dom', `${base}/`], join(dir, 'chromium-dom'))
    t.equal(dom.code, 0, 'chromium --dump-dom exits 0', { stderr: dom.stderr.slice(-500) })
    t.match(dom.stdout, 'Recent blocks', 'the browser rendered the page')
    t.match(dom.stdout, status.nodeId.slice(0, 12))
    t.match(dom.stdout, /<polyline/, 'the blocks-won chart is in the DOM')
    mkdirSync(ARTIFACTS, { recursive: true })
    const shot = join(ARTIFACTS, 'explorer.png')
    rmSync(shot, { force: true })
    const s = await chromium(['--hide-scrollbars', '--window-size=1280,1100', `--screenshot=${shot}`, `${base}/`], join(dir, 'chromium-shot'))
    t.equal(s.code, 0, 'chromium --screenshot exits 0', { stderr: s.stderr.slice(-500) })
    t.ok(existsSync(shot) && statSync(shot).size > 10_000, `screenshot saved: ${shot}`)
    t.same([...readFileSync(shot).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG')
    t.comment(`screenshot artifact: ${shot}`)
  }

  await node.stop()
  t.equal(node.proc?.exitCode, 0, 'the node exits cleanly on SIGTERM')
  await t.rejects(fetch(`${base}/`), 'the explorer stopped with the node')
})
