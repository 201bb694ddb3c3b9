// The node's HTTP API on a real in-process node (real LevelDB, real Corestore), over its real listeners:
// connection limits and timeouts of the TCP listener, bad paths, and /v1/blocks paged by bytes.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { type AddressInfo, connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { epochStart } from '../../protocol/params.js'
import { FixedComputeUnits } from '../../node/compute-units.js'
import { EconumiNode } from '../../node/node.js'
import { API_HEADERS_TIMEOUT_MS, API_MAX_CONNECTIONS, createApp, listenTcp, listenUnix } from '../../node/api.js'
import { ApiClient } from '../../cli/client.js'
import { testParams } from '../helpers/chain.js'

const p = testParams({ genesisTime: 0n, epochMs: 1000n, tauMilli: 100_000n }) // tau 100: this one node leads every epoch

async function openNode (t: Pick<typeof import('tap').default, 'teardown'>, now?: () => number): Promise<{ node: EconumiNode, dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'econumi-api-'))
  const node = await EconumiNode.open({ dataDir: dir, params: p, computeUnits: new FixedComputeUnits(50n), now })
  t.teardown(async () => { await node.close(); rmSync(dir, { recursive: true, force: true }) })
  return { node, dir }
}

interface Reply { status: number, headers: Record<string, unknown>, body: any }
async function get (where: { socketPath: string } | { port: number }, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return await new Promise((resolve, reject) => {
    const req = request({ ...where, host: '127.0.0.1', path, headers, agent: false }, (res) => {
      let data = ''
      res.on('data', (d) => { data += d })
      res.on('end', () => { try { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(data) }) } catch (err) { reject(err) } })
    })
    req.on('error', reject)
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} timed out`)))
    req.end()
  })
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

t.test('a malformed %-escape in the path is a 400 E_BAD_REQUEST, with no stack in the log', async (t) => {
  const { node, dir } = await openNode(t)
  const server = await listenUnix(createApp(node, { shutdown: () => {} }), join(dir, 'api.sock'))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const written: string[] = []
  const write = process.stderr.write.bind(process.stderr)
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: any[]) => { written.push(String(chunk)); return write(chunk, ...rest) }) as typeof process.stderr.write
  let r: Reply
  try { r = await get({ socketPath: join(dir, 'api.sock') }, '/v1/accounts/%E0%A4%A') } finally { process.stderr.write = write }
  t.equal(r.status, 400)
  t.equal(r.body.error.code, 'E_BAD_REQUEST')
  t.same(written, [], 'nothing in the log')
})

t.test('TCP API: at most API_MAX_CONNECTIONS, slow clients dropped, a 401 closes; the unix socket keeps answering', async (t) => {
  const { node, dir } = await openNode(t)
  const token = 'a-token'
  const unix = await listenUnix(createApp(node, { shutdown: () => {} }), join(dir, 'api.sock'))
  const tcp = await listenTcp(createApp(node, { shutdown: () => {} }, token), 0)
  t.teardown(() => { for (const s of [unix, tcp]) { s.closeAllConnections(); s.close() } })
  const port = (tcp.address() as AddressInfo).port

  // idle connections without a token: beyond the maximum they are refused, the rest time out
  const extra = 20
  const sockets: Socket[] = []
  const closed = new Set<Socket>()
  for (let i = 0; i < API_MAX_CONNECTIONS + extra; i++) {
    const s = connect(port, '127.0.0.1')
    s.on('error', () => {})
    s.on('close', () => closed.add(s))
    sockets.push(s)
    await new Promise<void>((resolve) => { s.once('connect', () => resolve()); s.once('close', () => resolve()) })
  }
  t.teardown(() => { for (const s of sockets) s.destroy() })
  await sleep(500)
  t.ok(closed.size >= extra, `connections beyond ${API_MAX_CONNECTIONS} are closed at once (${closed.size} of ${sockets.length})`)
  t.equal((await get({ socketPath: join(dir, 'api.sock') }, '/v1/status')).status, 200, 'the owner\'s unix socket answers meanwhile')
  const held = async (): Promise<number> => await new Promise((resolve, reject) => tcp.getConnections((err, n) => { if (err !== null) reject(err); else resolve(n) }))
  t.ok(await held() <= API_MAX_CONNECTIONS, 'the server holds no more than the maximum')
  await sleep(API_HEADERS_TIMEOUT_MS + 2500)
  t.equal(await held(), 0, 'connections that send no request are dropped after the headers timeout')

  // a wrong token: 401, and the connection is closed
  const s = connect(port, '127.0.0.1')
  let reply = ''
  s.on('data', (d) => { reply += d })
  const ended = new Promise<void>((resolve) => s.on('close', () => resolve()))
  s.write('GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nConnection: keep-alive\r\n\r\n')
  const gone = await Promise.race([ended.then(() => true), sleep(2000).then(() => false)])
  t.match(reply, /^HTTP\/1\.1 401/, '401')
  t.match(reply, /\r\nconnection: close\r\n/i, 'says Connection: close')
  t.ok(gone, 'and closes the connection')
  t.equal((await get({ port }, '/v1/status', { authorization: `Bearer ${token}` })).status, 200, 'the owner of the token still gets in')
})

t.test('/v1/blocks pages by bytes, and the client follows `next` to the end', async (t) => {
  let epoch = 1n
  const { node, dir } = await openNode(t, () => Number(epochStart(p, epoch)) + 1)
  for (; epoch <= 12n; epoch++) t.ok(await node.produce(epoch), `block of epoch ${epoch}`)
  const budget = 1500 // a few small blocks
  const server = await listenUnix(createApp(node, { shutdown: () => {}, blocksPageBytes: budget }), join(dir, 'api.sock'))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const first = await get({ socketPath: join(dir, 'api.sock') }, '/v1/blocks?from=0&limit=1000')
  t.ok(first.body.blocks.length >= 1 && first.body.blocks.length < 12, `one page holds part of the chain (${first.body.blocks.length} blocks)`)
  const one = JSON.stringify(first.body.blocks[0]).length
  t.ok(JSON.stringify(first.body.blocks).length <= budget + one + 2, 'within the budget plus one block')
  t.equal(first.body.next, String(first.body.blocks.length), 'next: the height to ask for')
  const api = new ApiClient({ socketPath: join(dir, 'api.sock') })
  const heights: string[] = []
  let pages = 0
  for await (const page of api.blocks<{ height: string }>(0n)) { pages++; heights.push(...page.map((b) => b.height)) }
  t.same(heights, Array.from({ length: 12 }, (_, i) => String(i)), 'every block once, in order')
  t.ok(pages > 1, `${pages} pages`)
  const limited: string[] = []
  for await (const page of api.blocks<{ height: string }>(3n, 5n)) limited.push(...page.map((b) => b.height))
  t.same(limited, ['3', '4', '5', '6', '7'], 'from and limit hold across pages')
  const last = await get({ socketPath: join(dir, 'api.sock') }, '/v1/blocks?from=10&limit=1000')
  t.equal(last.body.next, null, 'null at the end')
})

t.test('request bodies are read with a schema: the error names the field and the problem', async (t) => {
  const { node, dir } = await openNode(t)
  const server = await listenUnix(createApp(node, { shutdown: () => {} }), join(dir, 'api.sock'))
  t.teardown(() => server.close())
  const post = async (path: string, body: string): Promise<Reply> => await new Promise((resolve, reject) => {
    const req = request({ socketPath: join(dir, 'api.sock'), method: 'POST', path, headers: { 'content-type': 'application/json' } }, (res) => {
      let data = ''
      res.on('data', (d) => { data += d })
      res.on('end', () => { try { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(data) }) } catch (err) { reject(err) } })
    })
    req.on('error', reject)
    req.end(body)
  })
  const cases: Array<[string, string, RegExp]> = [
    ['/v1/transactions', '{}', /tx: /],
    ['/v1/transactions', '{"tx": 5}', /tx: .*expected string/i],
    ['/v1/transactions', '{"tx": "zz"}', /tx: must be hex/],
    ['/v1/transactions', `{"tx": "${'ab'.repeat(3000)}"}`, /tx: at most 2048 bytes/],
    ['/v1/transactions', '{"tx": "abcd", "fee": 1}', /unrecognized key.*fee/i],
    ['/v1/ops', '{"op": "abc"}', /op: must be hex/],
    ['/v1/ops', '[]', /\(top level\)/]
  ]
  for (const [path, body, why] of cases) {
    const r = await post(path, body)
    t.equal(r.status, 400, `${path} ${body.slice(0, 30)}: 400`)
    t.equal(r.body.error.code, 'E_BAD_REQUEST')
    t.match(r.body.error.message, why, `names what is wrong: ${r.body.error.message}`)
  }
})

t.test('a real node\'s answers have the shapes node/api-types.ts declares', async (t) => {
  // one sample per type, checked by the compiler against the interface (every field present), compared at runtime
  const status: Required<import('../../node/api-types.js').StatusJson> = { network: '', mode: '', genesisHash: '', nodeId: '', pid: 0, rewardAddress: '', height: '', tipHash: '', epoch: '', epochMs: '', mempool: 0, peers: 0, sync: { height: '', target: '', syncing: false } }
  const mempool: Required<import('../../node/api-types.js').MempoolJson> = { size: 0, bytes: 0, capacity: 0, maxPerSender: 0, senders: 0, minFee: '', networkMinFee: '' }
  const account: Required<import('../../node/api-types.js').AccountJson> = { address: '', balance: '', nonce: '', pendingNonce: '' }
  const block: Required<import('../../node/api-types.js').BlockJson> = { hash: '', height: '', prevHash: '', epoch: '', time: '', miner: '', coinbase: '', winner: { nodeId: '', weight: '', totalWeight: '' }, reports: [], ops: [], txs: [] }
  const images: Required<import('../../node/api-types.js').ImagesJson> = { local: [], peers: [] }
  const shape = (v: unknown): unknown => v === null ? 'string' : Array.isArray(v) ? 'array' : typeof v === 'object' ? Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, shape(x)]).sort()) : typeof v
  const epoch = 1n
  const { node, dir } = await openNode(t, () => Number(epochStart(p, epoch)) + 1)
  t.ok(await node.produce(epoch), 'a block')
  const server = await listenUnix(createApp(node, { shutdown: () => {} }), join(dir, 'api.sock'))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const where = { socketPath: join(dir, 'api.sock') }
  const rewardAddress = (await get(where, '/v1/status')).body.rewardAddress as string
  const cases: Array<[string, unknown]> = [['/v1/status', status], ['/v1/mempool', mempool], [`/v1/accounts/${rewardAddress}`, account], ['/v1/blocks/0', block], ['/v1/images', images]]
  for (const [path, sample] of cases) {
    const r = await get(where, path)
    t.equal(r.status, 200, path)
    t.same(shape(r.body), shape(sample), `${path} answers the declared shape`)
  }
})
