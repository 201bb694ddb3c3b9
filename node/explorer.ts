// The block explorer: read-only, server-rendered HTML about the chain (no scripts, no CDN, so it works
// offline), and /metrics. Served on its own listener (`econumi start --http-port`, 127.0.0.1 by default).
// Everything comes from the node's public members; bad input in a URL gets a 4xx page, never a stack.
import express, { type NextFunction, type Request, type Response } from 'express'
import { createHash } from 'node:crypto'
import { decodeAddress, encodeAddress } from '../protocol/address.js'
import { formatAmount } from '../protocol/amount.js'
import { type Block, blockHash } from '../protocol/block.js'
import { fromHex, toHex } from '../protocol/encoding.js'
import { EconumiError, fail, isEconumiError } from '../protocol/errors.js'
import { recipientAddress, senderAddress, transactionId } from '../protocol/transaction.js'
import { Mutex } from './mutex.js'
import type { EconumiNode } from './node.js'
import { opToJson } from './views.js'
import type { NodeMetrics } from './metrics.js'

/** Blocks on the front page. */
const RECENT = 20
/** Blocks summarised for the nodes table and the charts (kept in memory, one small record each). */
export const WINDOW = 500
/** Blocks scanned (newest first) for an address's history, and the most rows shown. */
export const HISTORY_BLOCKS = 1000
const HISTORY_ROWS = 200
/** Nodes drawn in the blocks-won chart (the rest are summed as "others"). */
const CHART_NODES = 6

interface BlockSummary {
  height: bigint
  hash: string
  epoch: bigint
  time: bigint
  winner: string
  cu: bigint
  /** CU of the work reports the block carries: work on chain, which later epochs' weights count. */
  claimsCu: bigint
  claims: number
  txs: number
  miner: string
  coinbase: bigint
}

interface HistoryRow { height: bigint, hash: string, time: bigint, kind: 'sent' | 'received' | 'reward', txid: string | null, other: string, amount: bigint, fee: bigint }

function summarize (b: Block, hash: string): BlockSummary {
  const h = b.header
  return {
    height: h.height,
    hash,
    epoch: h.epoch,
    time: h.time,
    winner: toHex(h.winner.nodeKey),
    cu: h.weight,
    claimsCu: b.reports.reduce((s, r) => s + r.cu, 0n),
    claims: b.reports.length,
    txs: b.txs.length,
    miner: encodeAddress(h.miner),
    coinbase: b.coinbase
  }
}

// ---- HTML ----------------------------------------------------------------------------------------------
const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1d3557;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none;font-weight:600}header form{margin-left:auto}
input{font:inherit;padding:3px 6px;width:28em;max-width:60vw}
main{padding:12px 24px;max-width:1200px}h1{font-size:20px}h2{font-size:16px;margin-top:24px}
table{border-collapse:collapse;background:#fff;width:100%}td,th{padding:4px 8px;border-bottom:1px solid #e3e6ea;text-align:left;white-space:nowrap}
th{background:#eef1f5}td.n{text-align:right;font-variant-numeric:tabular-nums}.mono{font-family:ui-monospace,monospace;font-size:12px}
.kv td:first-child{color:#5a6470;width:12em}.err{background:#fff3f3;border:1px solid #e0b4b4;padding:12px}
.charts{display:flex;gap:24px;flex-wrap:wrap}figure{margin:0;background:#fff;padding:8px}figcaption{color:#5a6470}
a{color:#1d5fa8}.muted{color:#5a6470}`
const CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
export function esc (s: unknown): string { return String(s).replace(/[&<>"']/g, (c) => ESC[c]) }

function page (title: string, body: string, network = ''): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${esc(title)} · econumi explorer</title><style>${CSS}</style></head><body>
<header><a href="/">econumi explorer</a><span>${esc(network)}</span><a href="/nodes">nodes</a><a href="/metrics">metrics</a>
<form action="/search" method="get"><input name="q" placeholder="height, block hash, txid or address" maxlength="100" aria-label="search"></form></header>
<main>${body}</main></body></html>`
}

const short = (hex: string): string => `${hex.slice(0, 12)}…`
const eco = (units: bigint): string => `${formatAmount(units)} ECO`
function when (ms: bigint): string {
  const n = Number(ms)
  return n > 0 && n < 8.64e15 ? new Date(n).toISOString().replace('.000Z', 'Z') : String(ms)
}
const blockLink = (height: bigint, hash: string): string => `<a href="/block/${esc(hash)}">${esc(height)}</a>`
const hashLink = (hash: string): string => `<a class="mono" href="/block/${esc(hash)}">${esc(short(hash))}</a>`
const addrLink = (a: string): string => `<a class="mono" href="/address/${esc(a)}">${esc(a)}</a>`
const txLink = (txid: string): string => `<a class="mono" href="/tx/${esc(txid)}">${esc(short(txid))}</a>`
const nodeText = (id: string): string => `<span class="mono" title="${esc(id)}">${esc(short(id))}</span>`
function kv (rows: Array<[string, string]>): string { return `<table class="kv">${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${v}</td></tr>`).join('')}</table>` }
function table (head: string[], rows: string[][], numeric: number[] = []): string {
  if (rows.length === 0) return '<p class="muted">none</p>'
  const cell = (c: string, i: number): string => `<td${numeric.includes(i) ? ' class="n"' : ''}>${c}</td>`
  return `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('')}</table>`
}

// ---- charts (inline SVG, drawn on the server) --------------------------------------------------------
const COLORS = ['#1d5fa8', '#e07a1f', '#2a9d55', '#c03a3a', '#7b4fb8', '#8a6d3b', '#7a7f87']

function cuChart (blocks: BlockSummary[]): string {
  const w = 560; const h = 180; const pad = 30
  if (blocks.length === 0) return '<p class="muted">no blocks yet</p>'
  const max = blocks.reduce((m, b) => (b.claimsCu > m ? b.claimsCu : m), 1n)
  const bw = (w - pad) / blocks.length
  const bars = blocks.map((b, i) => {
    const bh = Math.max(1, Number((b.claimsCu * BigInt(h - 2 * pad)) / max))
    return `<rect x="${(pad + i * bw).toFixed(1)}" y="${h - pad - bh}" width="${Math.max(1, bw - 1).toFixed(1)}" height="${bh}" fill="${COLORS[0]}"><title>epoch ${b.epoch}: ${b.claimsCu} CU</title></rect>`
  }).join('')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" role="img" aria-label="CU per epoch">${bars}
<line x1="${pad}" y1="${h - pad}" x2="${w}" y2="${h - pad}" stroke="#888"/><text x="2" y="${pad}" font-size="10">${esc(max)}</text><text x="2" y="${h - pad}" font-size="10">0</text>
<text x="${pad}" y="${h - 10}" font-size="10">epoch ${esc(blocks[0].epoch)}</text><text x="${w - 90}" y="${h - 10}" font-size="10">epoch ${esc(blocks[blocks.length - 1].epoch)}</text></svg>`
}

function wonChart (blocks: BlockSummary[]): string {
  const w = 560; const h = 180; const pad = 30
  if (blocks.length === 0) return '<p class="muted">no blocks yet</p>'
  const wins = new Map<string, number>()
  for (const b of blocks) wins.set(b.winner, (wins.get(b.winner) ?? 0) + 1)
  const top = [...wins.entries()].sort((a, b) => b[1] - a[1]).slice(0, CHART_NODES).map(([id]) => id)
  const series = [...top, 'others']
  const counts = new Map(series.map((s) => [s, 0]))
  const points = new Map<string, string[]>(series.map((s) => [s, []]))
  const n = blocks.length
  const x = (i: number): number => pad + (n === 1 ? w - pad : (i * (w - pad - 4)) / (n - 1))
  blocks.forEach((b, i) => {
    const key = top.includes(b.winner) ? b.winner : 'others'
    counts.set(key, counts.get(key)! + 1)
    for (const s of series) points.get(s)!.push(`${x(i).toFixed(1)},${h - pad - (counts.get(s)! * (h - 2 * pad)) / n}`)
  })
  const lines = series.filter((s) => counts.get(s)! > 0).map((s) => `<polyline fill="none" stroke-width="2" stroke="${COLORS[series.indexOf(s) % COLORS.length]}" points="${points.get(s)!.join(' ')}"><title>${esc(s === 'others' ? 'others' : short(s))}: ${counts.get(s)} blocks</title></polyline>`).join('')
  const legend = series.filter((s) => counts.get(s)! > 0).map((s, i) => `<text x="${pad + 6}" y="${12 + i * 12}" font-size="10" fill="${COLORS[series.indexOf(s) % COLORS.length]}">${esc(s === 'others' ? 'others' : short(s))} ${counts.get(s)}</text>`).join('')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" role="img" aria-label="blocks won per node">${lines}${legend}
<line x1="${pad}" y1="${h - pad}" x2="${w}" y2="${h - pad}" stroke="#888"/><text x="2" y="${pad}" font-size="10">${n}</text><text x="2" y="${h - pad}" font-size="10">0</text>
<text x="${pad}" y="${h - 10}" font-size="10">height ${esc(blocks[0].height)}</text><text x="${w - 90}" y="${h - 10}" font-size="10">height ${esc(blocks[n - 1].height)}</text></svg>`
}

// ---- data --------------------------------------------------------------------------------------------
class ChainView {
  /** height → summary of the canonical block there, for the last WINDOW heights. */
  private readonly byHeight = new Map<bigint, BlockSummary>()
  private tipHash = ''
  private refreshing: Promise<void> | null = null
  /** One history scan at a time: a burst of requests cannot make the node read many blocks at once. */
  private readonly scans = new Mutex()
  private readonly historyCache = new Map<string, HistoryRow[]>()

  constructor (private readonly node: EconumiNode) {}

  /** Summaries of the last WINDOW canonical blocks, oldest first (incremental: reads only new blocks). */
  async window (): Promise<BlockSummary[]> {
    const tip = this.node.ledger.tip
    const hash = tip === null ? '' : toHex(tip.hash)
    if (hash !== this.tipHash) {
      this.refreshing ??= this.refresh().finally(() => { this.refreshing = null })
      await this.refreshing
    }
    return [...this.byHeight.values()].sort((a, b) => (a.height < b.height ? -1 : 1))
  }

  private async refresh (): Promise<void> {
    const tip = this.node.ledger.tip
    if (tip === null) { this.byHeight.clear(); this.tipHash = ''; return }
    const low = tip.height - BigInt(WINDOW) + 1n
    for (let h = tip.height; h >= 0n && h >= low; h--) {
      const hash = await this.node.ledger.hashAtHeight(h)
      if (hash === undefined) break
      // the hashes chain: once one height matches, every lower one does too
      if (this.byHeight.get(h)?.hash === hash) break
      const found = await this.node.blockByHash(hash)
      if (found === null) break
      this.byHeight.set(h, summarize(found.block, hash))
    }
    for (const h of this.byHeight.keys()) if (h < low || h > tip.height) this.byHeight.delete(h)
    this.tipHash = toHex(tip.hash)
  }

  /** An address's transactions and rewards in the last HISTORY_BLOCKS blocks, newest first. */
  async history (address: string): Promise<{ rows: HistoryRow[], scanned: bigint }> {
    return await this.scans.run(async () => {
      const tip = this.node.ledger.tip
      if (tip === null) return { rows: [], scanned: 0n }
      const key = `${toHex(tip.hash)}:${address}`
      const low = tip.height - BigInt(HISTORY_BLOCKS) + 1n > 0n ? tip.height - BigInt(HISTORY_BLOCKS) + 1n : 0n
      const cached = this.historyCache.get(key)
      if (cached !== undefined) return { rows: cached, scanned: tip.height - low + 1n }
      const rows: HistoryRow[] = []
      for (let h = tip.height; h >= low && rows.length < HISTORY_ROWS; h--) {
        const found = await this.node.blockByHeight(h)
        if (found === null) break
        const b = found.block
        const hash = toHex(blockHash(b.header))
        if (encodeAddress(b.header.miner) === address) rows.push({ height: h, hash, time: b.header.time, kind: 'reward', txid: null, other: '', amount: b.coinbase, fee: 0n })
        for (const tx of b.txs) {
          const from = senderAddress(tx)
          const to = recipientAddress(tx)
          if (from !== address && to !== address) continue
          const txid = toHex(transactionId(tx))
          if (from === address) rows.push({ height: h, hash, time: b.header.time, kind: 'sent', txid, other: to, amount: tx.amount, fee: tx.fee })
          if (to === address) rows.push({ height: h, hash, time: b.header.time, kind: 'received', txid, other: from, amount: tx.amount, fee: tx.fee })
        }
      }
      if (this.historyCache.size >= 32) this.historyCache.clear()
      this.historyCache.set(key, rows)
      return { rows, scanned: tip.height - low + 1n }
    })
  }
}

interface NodeRow { nodeId: string, blocks: number, lastCu: bigint, lastHeight: bigint, totalCu: bigint }

function nodeRows (blocks: BlockSummary[]): NodeRow[] {
  const m = new Map<string, NodeRow>()
  for (const b of blocks) {
    const r = m.get(b.winner) ?? { nodeId: b.winner, blocks: 0, lastCu: 0n, lastHeight: -1n, totalCu: 0n }
    r.blocks++
    r.totalCu += b.cu
    if (b.height > r.lastHeight) { r.lastHeight = b.height; r.lastCu = b.cu }
    m.set(b.winner, r)
  }
  return [...m.values()].sort((a, b) => b.blocks - a.blocks || (a.nodeId < b.nodeId ? -1 : 1))
}

function nodesTable (rows: NodeRow[], limit?: number): string {
  const totalCu = rows.reduce((s, r) => s + r.lastCu, 0n)
  const shown = limit === undefined ? rows : rows.slice(0, limit)
  return table(['node', 'blocks won', 'weight (latest block)', 'share', 'last block'], shown.map((r) => [
    nodeText(r.nodeId),
    String(r.blocks),
    esc(r.lastCu),
    totalCu === 0n ? '–' : `${(Number((r.lastCu * 10000n) / totalCu) / 100).toFixed(2)} %`,
    esc(r.lastHeight)
  ]), [1, 2, 3, 4])
}

const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d{1,5})?$/i

// ---- routes --------------------------------------------------------------------------------------------
function parseHeightParam (s: string): bigint {
  if (!/^\d{1,19}$/.test(s)) fail('E_BAD_BLOCK_ID', 'block id must be a height or a 64-character hex hash', { id: s.slice(0, 80) })
  return BigInt(s)
}

export interface ExplorerOptions { metrics?: NodeMetrics }

export function createExplorerApp (node: EconumiNode, o: ExplorerOptions = {}): express.Express {
  const app = express()
  const view = new ChainView(node)
  app.disable('x-powered-by')
  app.set('etag', false)
  app.use((req: Request, res: Response, next: NextFunction) => {
    res.set({ 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-store' })
    // DNS rebinding: on a loopback listener, a page of another site must not read this one through a name
    // that resolves to 127.0.0.1, so the Host must be a loopback name or an IP literal
    const local = req.socket.localAddress ?? ''
    if (/^(127\.|::1$|::ffff:127\.)/.test(local) && !LOOPBACK_HOST.test(req.headers.host ?? '')) { next(new EconumiError('E_BAD_HOST', 'the explorer answers only to a loopback Host (127.0.0.1, localhost, [::1])')); return }
    // read-only: nothing but GET and HEAD
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.set('allow', 'GET, HEAD'); next(new EconumiError('E_METHOD_NOT_ALLOWED', 'the explorer is read-only')); return }
    next()
  })
  const html = (fn: (req: Request) => Promise<string>) => (req: Request, res: Response, next: NextFunction) => {
    fn(req).then((body) => { res.type('html').send(body) }, next)
  }
  const network = node.params.network

  app.get('/', html(async () => {
    const s = node.status()
    const blocks = await view.window()
    const recent = blocks.slice(-RECENT).reverse()
    const tip = node.ledger.tip
    const head = kv([
      ['network', esc(s.network)],
      ['height', tip === null ? 'no blocks yet' : `${blockLink(tip.height, toHex(tip.hash))} <span class="mono">${esc(toHex(tip.hash))}</span>`],
      ['epoch', `${esc(s.epoch)} (${esc(s.epochMs)} ms each)`],
      ['peers', esc(s.peers)],
      ['mempool', `${esc(s.mempool)} transactions`],
      ['sync', `${esc((s.sync as { height: string }).height)} / ${esc((s.sync as { target: string }).target)}`],
      ['this node', nodeText(String(s.nodeId))]
    ])
    const rows = recent.map((b) => [blockLink(b.height, b.hash), hashLink(b.hash), esc(when(b.time)), esc(b.epoch), nodeText(b.winner), esc(b.cu), esc(b.claimsCu), String(b.claims), String(b.txs), addrLink(b.miner)])
    return page('head', `<h1>Head</h1>${head}
<h2>Recent blocks</h2>${table(['height', 'hash', 'time', 'epoch', 'leader', 'leader weight', 'CU reported', 'reports', 'txs', 'reward to'], rows, [0, 3, 5, 6, 7, 8])}
<h2>Charts (last ${blocks.length} blocks)</h2><div class="charts"><figure>${cuChart(blocks.slice(-120))}<figcaption>CU per epoch (the work reports included in each block)</figcaption></figure>
<figure>${wonChart(blocks)}<figcaption>Blocks won per node over time (cumulative)</figcaption></figure></div>
<h2>Nodes</h2><p class="muted">Nodes seen as block winners in the last ${blocks.length} blocks; weight is the leader weight each one's latest block stated. <a href="/nodes">all</a></p>${nodesTable(nodeRows(blocks), 10)}`, network)
  }))

  app.get('/nodes', html(async () => {
    const blocks = await view.window()
    // admission is ledger state: genesis nodes, registrations, bonds, ejections (protocol/ops.ts)
    const registered = (await node.nodes()).map((n: Record<string, any>) => [
      nodeText(String(n.nodeId)),
      esc(n.state),
      esc(n.admittedBy ?? '–'),
      n.capacity === null ? '–' : esc(`${Number(n.capacity.millicores) / 1000} cpus, ${n.capacity.memoryBytes} B`),
      n.bond === null ? (n.slashed !== '0' ? `slashed ${esc(eco(BigInt(n.slashed)))}` : '–') : esc(`${eco(BigInt(n.bond.amount))}${n.bond.unbondEnd === null ? '' : ` (unbonding until epoch ${n.bond.unbondEnd})`}`),
      `${esc(n.weight)} / ${esc(n.totalWeight)}${n.bootstrapWeight === true ? ' (bootstrap)' : ''}`,
      esc(n.blocksWon)
    ])
    return page('nodes', `<h1>Nodes</h1><p class="muted">Mode ${esc(node.params.mode)}: nodes the ledger knows (admitted by the genesis or by a registration on chain, or seen leading or reporting), with their weight for the current epoch.</p>${table(['node', 'state', 'admitted by', 'capacity', 'bond', 'weight w / W', 'blocks won'], registered, [5, 6])}
<h2>Recent winners</h2><p class="muted">Block winners in the last ${blocks.length} blocks.</p>${nodesTable(nodeRows(blocks))}`, network)
  }))

  app.get('/block/:id', html(async (req) => {
    const id = String(req.params.id)
    const found = /^[0-9a-f]{64}$/i.test(id) ? await node.blockByHash(id.toLowerCase()) : await node.blockByHeight(parseHeightParam(id))
    if (found === null) fail('E_NOT_FOUND', 'no such block on this node', { id: id.slice(0, 80) })
    const b = found.block
    const h = b.header
    const hash = toHex(blockHash(h))
    const canonical = (await node.ledger.hashAtHeight(h.height)) === hash
    const txs = b.txs.map((tx) => { const txid = toHex(transactionId(tx)); return [txLink(txid), addrLink(senderAddress(tx)), addrLink(recipientAddress(tx)), esc(eco(tx.amount)), esc(eco(tx.fee)), esc(tx.nonce)] })
    const claims = b.reports.map((r) => [nodeText(toHex(r.nodeKey)), esc(r.cu), esc(r.epoch)])
    return page(`block ${h.height}`, `<h1>Block ${esc(h.height)}</h1>${kv([
      ['hash', `<span class="mono">${esc(hash)}</span>${canonical ? '' : ' <strong>(not on the canonical chain)</strong>'}`],
      ['previous', h.height === 0n ? '<span class="muted">genesis</span>' : `<a class="mono" href="/block/${esc(toHex(h.prevHash))}">${esc(toHex(h.prevHash))}</a>`],
      ['next', `<a href="/block/${esc(h.height + 1n)}">${esc(h.height + 1n)}</a>`],
      ['time', esc(when(h.time))],
      ['epoch', esc(h.epoch)],
      ['leader', `${nodeText(toHex(h.winner.nodeKey))} with weight ${esc(h.weight)} of ${esc(h.totalWeight)}`],
      ['reward to', addrLink(encodeAddress(h.miner))],
      ['coinbase', esc(eco(b.coinbase))],
      ['transactions', String(b.txs.length)]
    ])}<h2>Transactions</h2>${table(['txid', 'from', 'to', 'amount', 'fee', 'nonce'], txs, [3, 4, 5])}<h2>Work reports</h2>${table(['node', 'CU', 'epoch'], claims, [1, 2])}<h2>Operations</h2>${table(['kind', 'node', 'detail'], b.ops.map((op) => { const j = opToJson(op); return [esc(op.kind), nodeText(String(j.nodeId)), esc(op.kind === 'equivocation' ? `${String(j.evidence)} of epoch ${String(j.epoch)}` : op.kind === 'fraud' ? `${String(j.proof)} of epoch ${String(j.epoch)}, reported by ${String(j.reporter).slice(0, 16)}` : op.kind === 'register' ? `${Number(op.millicores) / 1000} cpus, ${op.memoryBytes} B${op.bond > 0n ? `, bond ${eco(op.bond)}` : ''}` : `seq ${op.seq}`)] }))}`, network)
  }))

  app.get('/tx/:txid', html(async (req) => {
    const txid = String(req.params.txid).toLowerCase()
    fromHex(txid, 32, 'txid')
    if (node.mempool.has(txid)) return page('transaction', `<h1>Transaction</h1>${kv([['txid', `<span class="mono">${esc(txid)}</span>`], ['status', 'pending (in the mempool)']])}`, network)
    const loc = await node.ledger.txLocation(txid)
    if (loc === undefined) fail('E_NOT_FOUND', 'unknown transaction', { txid })
    const found = await node.blockByHash(loc.blockHash)
    const tx = found?.block.txs.find((t) => toHex(transactionId(t)) === txid)
    const rows: Array<[string, string]> = [['txid', `<span class="mono">${esc(txid)}</span>`], ['status', 'confirmed'], ['block', `${blockLink(BigInt(loc.height), loc.blockHash)} <span class="mono">${esc(loc.blockHash)}</span>`]]
    if (tx !== undefined) rows.push(['from', addrLink(senderAddress(tx))], ['to', addrLink(recipientAddress(tx))], ['amount', esc(eco(tx.amount))], ['fee', esc(eco(tx.fee))], ['nonce', esc(tx.nonce)])
    return page('transaction', `<h1>Transaction</h1>${kv(rows)}`, network)
  }))

  app.get('/address/:address', html(async (req) => {
    const address = String(req.params.address)
    decodeAddress(address)
    const acct = await node.ledger.account(address)
    const { rows, scanned } = await view.history(address)
    const list = rows.map((r) => [blockLink(r.height, r.hash), esc(when(r.time)), esc(r.kind), r.txid === null ? '<span class="muted">block reward</span>' : txLink(r.txid), r.other === '' ? '' : addrLink(r.other), esc(eco(r.amount)), r.kind === 'reward' ? '' : esc(eco(r.fee))])
    return page(`address ${address}`, `<h1>Address</h1>${kv([
      ['address', `<span class="mono">${esc(address)}</span>`],
      ['balance', esc(eco(acct.balance))],
      ['nonce', esc(acct.nonce)]
    ])}<h2>History</h2><p class="muted">Transactions and block rewards in the last ${esc(scanned)} blocks, newest first (at most ${HISTORY_ROWS}).</p>${table(['block', 'time', 'kind', 'txid', 'counterparty', 'amount', 'fee'], list, [0, 5, 6])}`, network)
  }))

  app.get('/search', (req: Request, res: Response, next: NextFunction) => {
    const q = typeof req.query.q === 'string' ? req.query.q.trim() : ''
    try {
      if (/^\d{1,19}$/.test(q)) { res.redirect(303, `/block/${q}`); return }
      if (/^[0-9a-f]{64}$/i.test(q)) {
        // a hash is a block or a transaction: ask the ledger which
        void node.ledger.blockEntry(q.toLowerCase()).then((e) => { res.redirect(303, e !== undefined ? `/block/${q.toLowerCase()}` : `/tx/${q.toLowerCase()}`) }, next)
        return
      }
      decodeAddress(q)
      res.redirect(303, `/address/${encodeURIComponent(q)}`)
    } catch (err) { next(err) }
  })

  app.get('/metrics', (_req: Request, res: Response, next: NextFunction) => {
    if (o.metrics === undefined) { res.type('text/plain').send(''); return }
    const m = o.metrics
    m.render().then((text) => { res.set('content-type', m.contentType).send(text) }, next)
  })

  app.use((_req: Request, _res: Response, next: NextFunction) => { next(new EconumiError('E_NOT_FOUND', 'no such page')) })
  // express recognises the error handler by its four parameters
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    let status = 500
    let code = 'E_INTERNAL'
    let message = 'internal error'
    if (isEconumiError(err)) {
      code = err.code
      message = err.message
      status = code === 'E_NOT_FOUND' ? 404 : code === 'E_METHOD_NOT_ALLOWED' ? 405 : code === 'E_BAD_HOST' ? 403 : code === 'E_NODE_CLOSING' ? 503 : 400
    } else if (typeof (err as { status?: unknown })?.status === 'number' && (err as { status: number }).status >= 400 && (err as { status: number }).status < 500) {
      status = (err as { status: number }).status // e.g. a malformed %-escape in the path
      code = 'E_BAD_REQUEST'
      message = 'malformed request'
    } else {
      process.stderr.write(`econumi node: internal explorer error: ${(err as Error)?.stack ?? String(err)}\n`)
    }
    res.status(status).type('html').send(page(`error ${status}`, `<h1>${status === 404 ? 'Not found' : status >= 500 ? 'Server error' : 'Bad request'}</h1><div class="err"><p>${esc(message)}</p><p class="mono">${esc(code)}</p></div>`, network))
  })
  return app
}
