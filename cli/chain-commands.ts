// Chain commands, with Bitcoin Core's names where they fit: status, getblockcount, getbestblockhash, getblock,
// printchain, gettransaction, getmempoolinfo, getpeerinfo, getblockreward.
import type { Command } from 'commander'
import { formatAmount } from '../protocol/amount.js'
import { blockReward } from '../protocol/reward.js'
import type { AuditResult } from '../node/auditor.js'
import type { BlockJson, MempoolJson, PeerJson, StatusJson, TransactionJson } from '../node/api-types.js'
import { parseAuditTarget, parseBlockId, parseHeightArg, parseIntegerOption, parseTxid } from './args.js'
import { type GlobalOptions, action, client, columns, eco, emit, formatTime, table } from './output.js'

async function cmdStatus (g: GlobalOptions): Promise<void> {
  const s = await client(g).get<StatusJson>('/v1/status')
  emit(g, s, table([
    ['network', s.network],
    ['height', s.height === '-1' ? 'no blocks yet' : `${s.height}  ${s.tipHash ?? ''}`],
    ['epoch', `${s.epoch} (${s.epochMs} ms each)`],
    ['mempool', `${s.mempool} transaction${s.mempool === 1 ? '' : 's'}`],
    ['peers', String(s.peers)],
    ['sync', `${s.sync.height} / ${s.sync.target}`],
    ['node id', s.nodeId],
    ['reward to', s.rewardAddress],
    ['genesis', s.genesisHash]
  ]))
}

async function cmdGetBlockCount (g: GlobalOptions): Promise<void> {
  // Bitcoin Core's count is the height of the tip: -1 before the first block here (the genesis is not a block)
  const s = await client(g).get<StatusJson>('/v1/status')
  emit(g, { height: s.height }, s.height)
}

async function cmdGetBestBlockHash (g: GlobalOptions): Promise<void> {
  const s = await client(g).get<StatusJson>('/v1/status')
  if (s.tipHash === null) { emit(g, { hash: null, height: s.height }, 'no blocks yet'); return }
  emit(g, { hash: s.tipHash, height: s.height }, s.tipHash)
}

async function cmdGetBlockReward (g: GlobalOptions, heightText: string | undefined): Promise<void> {
  let height: bigint
  let reward: bigint
  if (heightText !== undefined) {
    height = parseHeightArg(heightText)
    reward = blockReward(height)
  } else {
    const r = await client(g).get<{ height: string, reward: string }>('/v1/reward')
    height = BigInt(r.height)
    reward = BigInt(r.reward)
  }
  emit(g, { height: height.toString(), reward: formatAmount(reward), rewardUnits: reward.toString() }, eco(reward))
}

function blockLines (b: BlockJson): string[] {
  const lines = table([
    ['block', `${b.height}  ${b.hash}`],
    ['previous', b.prevHash],
    ['epoch', b.epoch],
    ['time', formatTime(b.time)],
    ['miner', b.miner],
    ['coinbase', eco(b.coinbase)],
    ['leader', `${b.winner.nodeId} (weight ${b.winner.weight} of ${b.winner.totalWeight})`],
    ['work reports', String(b.reports.length)],
    ['transactions', String(b.txs.length)]
  ])
  for (const tx of b.txs) lines.push(`  ${tx.txid}  ${tx.from} -> ${tx.to}  ${eco(tx.amount)}  fee ${eco(tx.fee)}  nonce ${tx.nonce}`)
  return lines
}

async function cmdGetBlock (g: GlobalOptions, idText: string): Promise<void> {
  const id = parseBlockId(idText)
  const b = await client(g).get<BlockJson>(`/v1/blocks/${id}`)
  emit(g, b, blockLines(b))
}

async function cmdPrintChain (g: GlobalOptions, opts: { from?: string, limit?: string }): Promise<void> {
  const from = opts.from === undefined ? 0n : parseIntegerOption(opts.from, 'E_BAD_HEIGHT', '--from', 0n)
  const limit = opts.limit === undefined ? undefined : parseIntegerOption(opts.limit, 'E_BAD_LIMIT', '--limit', 1n)
  const blocks: BlockJson[] = []
  for await (const page of client(g).blocks<BlockJson>(from, limit)) blocks.push(...page) // pages cut by the node (bytes)
  emit(g, { blocks }, blocks.length > 0
    ? blocks.map((b) => `${b.height.padStart(6)}  ${b.hash}  ${formatTime(b.time)}  txs ${b.txs.length}  leader ${b.winner.nodeId.slice(0, 16)}  ${b.miner}`)
    : [from === 0n ? 'the chain has no blocks yet' : `no blocks from height ${from}`])
}

async function cmdGetTransaction (g: GlobalOptions, txidText: string): Promise<void> {
  const txid = parseTxid(txidText)
  const tx = await client(g).get<TransactionJson>(`/v1/transactions/${txid}`)
  const where: Array<[string, string]> = tx.status === 'pending'
    ? [['status', 'pending (in the mempool, not in a block yet)']]
    : [['status', `confirmed (${tx.confirmations} confirmation${tx.confirmations === '1' ? '' : 's'})`], ['block', `${tx.height}  ${tx.blockHash}`], ['time', formatTime(tx.time)]]
  emit(g, { ...tx, amountEco: formatAmount(BigInt(tx.amount)), feeEco: formatAmount(BigInt(tx.fee)) }, table([
    ['txid', tx.txid], ...where, ['from', tx.from], ['to', tx.to], ['amount', eco(tx.amount)], ['fee', eco(tx.fee)], ['nonce', tx.nonce]
  ]))
}

async function cmdGetMempoolInfo (g: GlobalOptions): Promise<void> {
  const m = await client(g).get<MempoolJson>('/v1/mempool')
  emit(g, { ...m, minFeeEco: formatAmount(BigInt(m.minFee)) }, table([
    ['transactions', `${m.size} of at most ${m.capacity}`],
    ['bytes', String(m.bytes)],
    ['senders', `${m.senders} (at most ${m.maxPerSender} pending each)`],
    ['min fee', `${eco(m.minFee)}${m.minFee !== m.networkMinFee ? ` (raised by evictions; network minimum ${eco(m.networkMinFee)})` : ''}`]
  ]))
}

function bytes (n: number): string { return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B` }

async function cmdGetPeerInfo (g: GlobalOptions): Promise<void> {
  const { peers } = await client(g).get<{ peers: PeerJson[] }>('/v1/peers')
  const now = Date.now()
  emit(g, { peers }, peers.length === 0
    ? ['no peers connected']
    : columns(['NODE ID', 'ADDRESS', 'DIR', 'HEIGHT', 'SCORE', 'IN', 'OUT', 'QUEUED', 'CONNECTED'], peers.map((p) => [
      p.nodeId.slice(0, 16), p.address ?? '-', p.inbound ? 'in' : 'out', p.height ?? '-', String(p.score), bytes(p.bytesIn), bytes(p.bytesOut), bytes(p.sendQueued), `${Math.max(0, Math.round((now - p.connectedAt) / 1000))} s ago`
    ])))
}

const VERDICT: Record<AuditResult['verdict'], string> = {
  valid: 'valid: the evidence recomputes to the reported CU',
  fraud: 'FRAUD: the evidence does not support the report',
  unavailable: 'unavailable: no attestations core this node knows holds the evidence',
  unattested: 'unattested: a devnet\'s declared compute units, no evidence'
}

function auditLines (r: AuditResult): string[] {
  const lines = table([
    ['report', `${r.report}${r.height !== null ? `  (block ${r.height})` : ''}`],
    ['node', r.node],
    ['epoch', r.epoch],
    ['reported CU', r.cu],
    ['recomputed CU', r.recomputed ?? '-'],
    ['verdict', `${VERDICT[r.verdict]}${r.code !== undefined ? ` [${r.code}] ${r.message ?? ''}` : ''}`]
  ])
  const ev = r.evidence
  if (ev === undefined) return lines
  lines.push(...table([
    ['evidence', `${ev.bytes} bytes, record ${ev.seq} of core ${ev.core.slice(0, 16)}…`],
    ['certificates', `agent → node CA ${ev.caFingerprint.slice(0, 16)}… (endorsed by the node key)`],
    ['poll secrets', `revealed for epoch${ev.pollSecrets.length === 1 ? '' : 's'} ${ev.pollSecrets.join(', ')}`]
  ]))
  const cu = new Map(ev.credit.workloads.map((w) => [w.containerId, w]))
  lines.push('', ...columns(['CONTAINER', 'AGENT KEY', 'ANSWERED', 'MISSED', 'CU', 'REASON'], ev.checkpoints.map((c) => [
    c.containerId.slice(0, 12), c.agentKey.slice(0, 16), String(c.answered), String(c.missed), cu.get(c.containerId)?.cu ?? '-', cu.get(c.containerId)?.reason ?? '-'
  ])))
  return lines
}

async function cmdAudit (g: GlobalOptions, target: string): Promise<void> {
  const { reports } = await client(g).get<{ reports: AuditResult[] }>(`/v1/audit/${parseAuditTarget(target)}`)
  emit(g, { reports }, reports.length === 0 ? ['no work reports in this block'] : reports.flatMap((r, i) => [...(i > 0 ? [''] : []), ...auditLines(r)]))
}

/** One command as commander is told it: its name, description, arguments (`<id>`, `[height]`), options (flags,
 * description, default) and the function it runs (given the global options first, by `wrap`). */
export interface CommandSpec<G = GlobalOptions> {
  name: string
  description: string
  args?: Array<[string, string]>
  options?: Array<[string, string] | [string, string, string | undefined]>
  run: (g: G, ...args: never[]) => Promise<void>
}

/** Register the commands in order, each run wrapped by `wrap` (output.ts's `action`, or the admission commands'). */
export function addCommands<G = GlobalOptions> (program: Command, wrap: (fn: CommandSpec<G>['run']) => (...args: unknown[]) => Promise<void>, specs: Array<CommandSpec<G>>): void {
  for (const s of specs) {
    const cmd = program.command(s.name).description(s.description)
    for (const [name, description] of s.args ?? []) cmd.argument(name, description)
    for (const [flags, description, value] of s.options ?? []) cmd.option(flags, description, value)
    cmd.action(wrap(s.run))
  }
}

export function addChainCommands (program: Command): void {
  addCommands(program, action, [
    { name: 'status', description: 'show the node\'s chain height, epoch, peers and mempool', run: cmdStatus },
    { name: 'getblockcount', description: 'height of the head block (-1 before the first block)', run: cmdGetBlockCount },
    { name: 'getbestblockhash', description: 'hash of the head block', run: cmdGetBestBlockHash },
    {
      name: 'getblockreward',
      description: 'reward of the next block, or of the block at <height> (no node needed then)',
      args: [['[height]', 'block height (non-negative integer)']],
      run: cmdGetBlockReward
    },
    { name: 'getblock', description: 'show a block by height or hash', args: [['<id>', 'block height or 64-character hex hash']], run: cmdGetBlock },
    {
      name: 'printchain',
      description: 'list the blocks of the canonical chain',
      options: [['--from <height>', 'first height', undefined], ['--limit <n>', 'at most this many blocks (default: all)']],
      run: cmdPrintChain
    },
    {
      name: 'gettransaction',
      description: 'a transaction: pending in the mempool, or in which block and with how many confirmations',
      args: [['<txid>', '64-character hex transaction id (as `send` printed it)']],
      run: cmdGetTransaction
    },
    { name: 'getmempoolinfo', description: 'the mempool: transactions, bytes, bounds and the fee it takes now', run: cmdGetMempoolInfo },
    {
      name: 'audit',
      description: 'the evidence behind work reports: workloads, windows answered and missed, certificates, recomputed CU, verdict',
      args: [['<target>', 'a block height (its reports), a node id (its recent reports) or a report hash']],
      run: cmdAudit
    },
    { name: 'getpeerinfo', description: 'connected peers: node id, address, direction, announced height, score, bytes in and out', run: cmdGetPeerInfo }
  ])
}
