// The node's HTTP API (express). It listens on a unix socket only the owner can use (0600); a TCP
// listener is opt-in and demands a bearer token.
import express, { type NextFunction, type Request, type Response } from 'express'
import { chmodSync, existsSync, unlinkSync } from 'node:fs'
import { type Server, createServer } from 'node:http'
import { timingSafeEqual } from 'node:crypto'
import { decodeAddress } from '../protocol/address.js'
import { fromHex, toHex } from '../protocol/encoding.js'
import { MAX_FRAUD_OP_BYTES, decodeOp, opHash } from '../protocol/ops.js'
import { EconumiError, fail, isEconumiError } from '../protocol/errors.js'
import { codeInfo } from '../protocol/error-codes.js'
import { blockReward } from '../protocol/reward.js'
import { parseWith, z } from '../protocol/schema.js'
import type { EconumiNode } from './node.js'
import { blockToJson, genesisToJson, txToJson } from './views.js'
import { transactionId } from '../protocol/transaction.js'
import { ledgerStorageError } from './ledger.js'
import { chainStoreError } from './chain-store.js'

/** Most connections the TCP listener holds at once (each is a file descriptor the unix socket also needs). */
export const API_MAX_CONNECTIONS = 64
/** A client gets this long to send its request headers, and this long for the whole request. */
export const API_HEADERS_TIMEOUT_MS = 5_000
export const API_REQUEST_TIMEOUT_MS = 10_000
/** A page of /v1/blocks stops once its JSON reaches this size (one block always fits, however large). */
export const BLOCKS_PAGE_BYTES = 4 * 1024 * 1024

function parseHeight (s: unknown): bigint {
  if (typeof s !== 'string' || !/^\d{1,19}$/.test(s)) fail('E_BAD_HEIGHT', 'height must be a non-negative integer', { height: String(s).slice(0, 40) })
  return BigInt(s)
}

export interface ApiHooks {
  shutdown: () => void
  /** Extra routes (attestation, peers) mounted by other parts of the node. */
  extend?: (app: express.Express) => void
  /** Byte budget of a /v1/blocks page (default BLOCKS_PAGE_BYTES). */
  blocksPageBytes?: number
}

const hexOf = (maxBytes: number): z.ZodString => z.string().max(2 * maxBytes, `at most ${maxBytes} bytes`).regex(/^([0-9a-f]{2})+$/i, 'must be hex')
/** The request bodies, checked before anything is decoded. */
const TX_BODY = z.object({ tx: hexOf(2048) }).strict()
// a fraud operation carries a whole report's evidence (MAX_FRAUD_OP_BYTES); every other kind is a few KiB
const OP_BODY = z.object({ op: hexOf(MAX_FRAUD_OP_BYTES) }).strict()

export function createApp (node: EconumiNode, hooks: ApiHooks, token?: string): express.Express {
  const app = express()
  app.disable('x-powered-by')
  if (token !== undefined) {
    const expected = Buffer.from(`Bearer ${token}`)
    app.use((req, res, next) => {
      const got = Buffer.from(req.get('authorization') ?? '')
      if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
        res.set('Connection', 'close') // a client without the token keeps no connection open
        next(new EconumiError('E_UNAUTHORIZED', 'missing or wrong bearer token'))
        return
      }
      next()
    })
  }
  app.use('/v1/ops', express.json({ limit: 2 * MAX_FRAUD_OP_BYTES + 64 }))
  app.use(express.json({ limit: '64kb' }))
  const wrap = (fn: (req: Request, res: Response) => Promise<unknown>) => (req: Request, res: Response, next: NextFunction) => {
    fn(req, res).then((body) => res.json(body), next)
  }

  app.get('/v1/status', wrap(async () => node.status()))
  app.get('/v1/images', wrap(async () => node.images()))
  app.get('/v1/nodes', wrap(async () => ({ mode: node.params.mode, nodes: await node.nodes() })))
  app.get('/v1/nodes/:nodeId', wrap(async (req) => {
    const id = String(req.params.nodeId).toLowerCase()
    fromHex(id, 32, 'node id')
    const rec = await node.ledger.node(id)
    return { nodeId: id, seq: rec.seq.toString(), ejected: rec.ejected, registration: rec.registration === null ? null : { millicores: rec.registration.millicores.toString(), memoryBytes: rec.registration.memoryBytes.toString(), bond: rec.registration.bond.toString(), owner: rec.registration.owner, since: rec.registration.since.toString(), unbondEnd: rec.registration.unbondEnd < 0n ? null : rec.registration.unbondEnd.toString() }, epoch: node.clock.current().toString() }
  }))
  // block operations (registrations, unbonding, withdrawals, evidence): pooled, gossiped, put in a block by a leader
  app.post('/v1/ops', wrap(async (req) => {
    const { op: hex } = parseWith(OP_BODY, req.body ?? null, 'E_BAD_REQUEST', 'request body (expected {"op": "<hex>"})')
    const op = decodeOp(Buffer.from(hex, 'hex'))
    await node.gossip.acceptOp(op, null)
    return { op: toHex(opHash(op)), kind: op.kind, status: 'pending' }
  }))
  app.get('/v1/ops', wrap(async () => ({ ops: node.gossip.pendingOps() })))
  app.get('/v1/genesis', wrap(async () => genesisToJson(node.params)))
  app.get('/v1/accounts/:address', wrap(async (req) => {
    const address = String(req.params.address)
    decodeAddress(address)
    const acct = await node.ledger.account(address)
    return { address, balance: acct.balance.toString(), nonce: acct.nonce.toString(), pendingNonce: (await node.mempool.pendingNonce(address)).toString() }
  }))
  app.post('/v1/transactions', wrap(async (req) => {
    const { tx: hex } = parseWith(TX_BODY, req.body ?? null, 'E_BAD_REQUEST', 'request body (expected {"tx": "<hex>"})')
    return { txid: await node.submitTransaction(Buffer.from(hex, 'hex')) }
  }))
  // Bitcoin Core's gettransaction: the transaction, and where it is (mempool, or a block and its confirmations)
  app.get('/v1/transactions/:txid', wrap(async (req) => {
    const txid = String(req.params.txid).toLowerCase()
    fromHex(txid, 32, 'txid')
    const pending = node.mempool.get(txid)
    if (pending !== undefined) return { ...txToJson(pending.tx), status: 'pending', confirmations: 0 }
    const loc = await node.ledger.txLocation(txid)
    if (loc === undefined) fail('E_NOT_FOUND', 'unknown transaction', { txid })
    const found = await node.blockByHash(loc.blockHash)
    const tx = found?.block.txs[loc.index]
    if (found === null || tx === undefined || toHex(transactionId(tx)) !== txid) fail('E_NOT_FOUND', 'the transaction\'s block is not on the canonical chain', { txid })
    const height = BigInt(loc.height)
    return { ...txToJson(tx), status: 'confirmed', height: height.toString(), blockHash: loc.blockHash, time: found.block.header.time.toString(), confirmations: (node.ledger.height - height + 1n).toString() }
  }))
  app.get('/v1/mempool', wrap(async () => {
    const i = node.mempool.info()
    return { ...i, minFee: i.minFee.toString(), networkMinFee: node.params.minFee.toString() }
  }))
  app.get('/v1/peers', wrap(async () => ({ peers: node.peers() })))
  app.get('/v1/audit/:target', wrap(async (req) => ({ reports: await node.auditor.auditTarget(String(req.params.target), async (h) => (await node.blockByHeight(h))?.block ?? null) })))
  app.get('/v1/blocks/:id', wrap(async (req) => {
    const id = String(req.params.id)
    const found = /^[0-9a-f]{64}$/i.test(id) ? await node.blockByHash(id.toLowerCase()) : await node.blockByHeight(parseHeight(id))
    if (found === null) fail('E_NOT_FOUND', 'no such block', { id })
    return blockToJson(found.block)
  }))
  // Paged by bytes as well as by count: `next` is the height to ask for next, null at the end of the range.
  app.get('/v1/blocks', (req: Request, res: Response, next: NextFunction) => {
    (async () => {
      const from = req.query.from === undefined ? 0n : parseHeight(req.query.from)
      const limit = req.query.limit === undefined ? 100n : parseHeight(req.query.limit)
      if (limit < 1n || limit > 1000n) fail('E_BAD_REQUEST', 'limit must be 1..1000', { limit })
      const parts: string[] = []
      const budget = hooks.blocksPageBytes ?? BLOCKS_PAGE_BYTES
      let bytes = 0
      let h = from
      for (; h < from + limit && h <= node.ledger.height && (parts.length === 0 || bytes < budget); h++) {
        const found = await node.blockByHeight(h)
        if (found === null) break
        const text = JSON.stringify(blockToJson(found.block))
        parts.push(text)
        bytes += text.length + 1
      }
      const more = h < from + limit && h <= node.ledger.height
      res.type('application/json').send(`{"blocks":[${parts.join(',')}],"next":${more ? `"${h}"` : 'null'}}`)
    })().catch(next)
  })
  app.get('/v1/reward', wrap(async (req) => {
    const height = req.query.height === undefined ? node.ledger.height + 1n : parseHeight(req.query.height)
    return { height: height.toString(), reward: blockReward(height).toString() }
  }))
  app.post('/v1/shutdown', wrap(async () => { setImmediate(hooks.shutdown); return { ok: true } }))
  hooks.extend?.(app)

  app.use((_req: Request, _res: Response, next: NextFunction) => { next(new EconumiError('E_NOT_FOUND', 'no such endpoint')) })
  // express recognises the error handler by its four parameters
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    err = ledgerStorageError(err, node.ledger.dir) ?? chainStoreError(err, node.store.dir) ?? err
    if (isEconumiError(err)) {
      const { http, hint } = codeInfo(err.code)
      res.status(http).json({ error: { code: err.code, message: err.message, ...(hint === undefined ? {} : { hint }) } })
      // a 500 here is the node's own storage, not the request: one line in the log, no stack
      if (http >= 500) process.stderr.write(`econumi node: ${err.message} [${err.code}]\n`)
      return
    }
    const e = err as { type?: string, status?: number, message?: string }
    if (e?.type === 'entity.parse.failed' || e?.type === 'entity.too.large') {
      res.status(e.status ?? 400).json({ error: { code: 'E_BAD_REQUEST', message: e.message ?? 'bad request body' } })
      return
    }
    if (err instanceof URIError) { // a malformed %-escape in the path (express fails to decode a parameter)
      res.status(400).json({ error: { code: 'E_BAD_REQUEST', message: 'malformed percent-encoding in the request path' } })
      return
    }
    res.status(500).json({ error: { code: 'E_INTERNAL', message: 'internal error' } })
    process.stderr.write(`econumi node: internal API error: ${(err as Error)?.stack ?? String(err)}\n`)
  })
  return app
}

/** Listen on a unix socket that only the owner may connect to. */
/** A server that drops clients that are slow to send their request (slowloris) or idle between requests. */
function boundedServer (app: express.Express): Server {
  const server = createServer({ headersTimeout: API_HEADERS_TIMEOUT_MS, requestTimeout: API_REQUEST_TIMEOUT_MS, keepAliveTimeout: API_HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 1000 }, app)
  // headersTimeout counts from the first byte: a connection that sends nothing at all is dropped here
  server.on('connection', (socket) => {
    const timer = setTimeout(() => socket.destroy(), API_HEADERS_TIMEOUT_MS)
    timer.unref()
    socket.once('data', () => clearTimeout(timer))
    socket.once('close', () => clearTimeout(timer))
  })
  return server
}

export async function listenUnix (app: express.Express, path: string): Promise<Server> {
  if (existsSync(path)) unlinkSync(path) // stale socket of a crashed node; the ledger lock guards against two live nodes
  const server = boundedServer(app)
  const oldMask = process.umask(0o177) // the socket is born 0600: no window where others can connect
  try {
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(path, () => { server.off('error', reject); resolve() }) })
  } finally {
    process.umask(oldMask)
  }
  chmodSync(path, 0o600)
  return server
}

export async function listenTcp (app: express.Express, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = boundedServer(app)
  server.maxConnections = API_MAX_CONNECTIONS // anyone local can connect before the token is checked
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, host, () => { server.off('error', reject); resolve() }) })
  return server
}
