// Gossip: the `econumi/2` peer messages (hello, cores, transactions, work reports, tips, images, operations), what is
// relayed, and what a peer is charged for. Nothing a peer announces changes what the node does on its own: a tip
// is shown as sync progress only, a core is indexed but passed on once it has served a valid block (sync.ts),
// and a work report is checked (admission, epochs, capacity, signature) before it is pooled and relayed.
import { FORGED_PENALTY, chargeAtLeast, codeInfo } from '../protocol/error-codes.js'
import { fail, isEconumiError } from '../protocol/errors.js'
import { equalBytes, toHex } from '../protocol/encoding.js'
import { type WorkReport, checkReportSignature, isUnattested } from '../protocol/report.js'
import { encodeTransaction, senderAddress, type Transaction } from '../protocol/transaction.js'
import { EMPTY_NODE_RECORD, type NodeRecord, isAdmitted, registeredReservation, reportCap } from '../protocol/weights.js'
import { type Op, encodeOp, evidenceKey, opHash, opNode, verifyOp } from '../protocol/ops.js'
import type { Block } from '../protocol/block.js'
import { type ImageOffer, MAX_CORES_PER_MESSAGE, MAX_FRAME_BYTES, MAX_IMAGES_PER_MESSAGE, MSG_CORES, MSG_FRAUD, MSG_HELLO, MSG_IMAGES, MSG_OP, MSG_REPORT, MSG_TIP, MSG_TX, type TipAnnouncement, type WireMessage } from '../protocol/wire.js'
import type { Peer, PeerHandler } from './network.js'
import type { NodeContext } from './context.js'
import { x509AgentChecker } from '../protocol/certificates.js'
import { checkFraudProof, namedReports } from '../protocol/fraud.js'
import type { Auditor } from './auditor.js'
import { type FraudLocation, FraudRelay } from './fraud-relay.js'
import type { ChainSync } from './sync.js'

interface PeerTip extends TipAnnouncement { at: number }

/** Pending reports kept per node (its next epochs), and in all. */
const MAX_PENDING_REPORTS_PER_NODE = 4
const MAX_PENDING_REPORTS = 10_000
/** Reports one peer may hand us per epoch before we stop listening to its reports for that epoch. */
const REPORTS_PER_PEER_PER_EPOCH = 512
/** Pending block operations kept in all, and per node they are about; operations one peer may relay per epoch. */
const MAX_PENDING_OPS = 1_024
const MAX_PENDING_OPS_PER_NODE = 4
const OPS_PER_PEER_PER_EPOCH = 64
/** How often the node looks at its sync state for the progress line (a sync's first line shows this soon). */
export const SYNC_REPORT_TICK_MS = 200

export class Gossip implements PeerHandler {
  private readonly peerTips = new Map<string, PeerTip>()
  /** Peer → the chain core its HELLO named: one HELLO per connection. */
  private readonly hellos = new Map<string, string>()
  private readonly peerImages = new Map<string, ImageOffer[]>()
  private offered: ImageOffer[] = []
  private readonly recentTx = new Set<string>()
  /** node → its pending reports, ascending epoch */
  private readonly reports = new Map<string, WorkReport[]>()
  private reportCount = 0
  private readonly reportQuota = new Map<string, { epoch: bigint, n: number }>()
  /** op hash → pending operation (registrations, unbonding, evidence), in arrival order */
  private readonly ops = new Map<string, Op>()
  private readonly opQuota = new Map<string, { epoch: bigint, n: number }>()
  private lastSyncReport = ''
  private lastSyncReportAt = 0
  /** Fraud operations larger than a frame: published in a core, announced, fetched (node/fraud-relay.ts). */
  private readonly fraud: FraudRelay

  constructor (private readonly ctx: NodeContext, private readonly sync: ChainSync, private readonly auditor: Pick<Auditor, 'addRecordsCore' | 'forgetPeer' | 'isAvailable' | 'prefetch'>) {
    this.fraud = new FraudRelay(ctx, async (op, from, at) => await this.acceptOp(op, from, at), (id) => this.ops.has(id))
  }

  onPeer (peer: Peer): void {
    this.hellos.delete(peer.id) // a new connection (one that replaced an earlier one of this peer's) says HELLO anew
    if (this.offered.length > 0) setImmediate(() => peer.send({ type: MSG_IMAGES, images: this.offered }))
    peer.send({ type: MSG_HELLO, hello: { genesis: this.ctx.genesis, blocksCore: this.ctx.store.blocks.key, recordsCore: this.ctx.store.records.key, tip: this.tipAnnouncement() } })
    this.fraud.onPeer(peer)
  }

  onPeerGone (peer: Peer): void {
    this.peerTips.delete(peer.id)
    this.hellos.delete(peer.id)
    this.peerImages.delete(peer.id)
    this.reportQuota.delete(peer.id)
    this.opQuota.delete(peer.id)
    this.fraud.onPeerGone(peer)
    this.sync.forgetPeer(peer.id)
    this.auditor.forgetPeer(peer.id)
    this.ctx.log('peer-left', { peer: peer.id.slice(0, 16), peers: this.ctx.network?.peers.size ?? 0 })
  }

  async onMessage (peer: Peer, m: WireMessage): Promise<void> {
    switch (m.type) {
      case MSG_HELLO:
        if (!equalBytes(m.hello.genesis, this.ctx.genesis)) { this.ctx.network?.penalize(peer, codeInfo('E_WRONG_NETWORK').penalty, 'E_WRONG_NETWORK'); return }
        {
          // one HELLO per connection: a second naming other cores would make this node watch a core per frame
          // (HELLO is not under the announcement quota), and each would have it send every known core back
          const core = toHex(m.hello.blocksCore)
          const first = this.hellos.get(peer.id)
          if (first !== undefined && first !== core) { this.ctx.network?.penalize(peer, codeInfo('E_WIRE_HELLO').penalty, 'E_WIRE_HELLO'); return }
          if (m.hello.tip !== null) this.peerTips.set(peer.id, { ...m.hello.tip, at: this.ctx.now() })
          if (first !== undefined) return // the same HELLO again: its tip is noted, nothing else changes
          this.hellos.set(peer.id, core)
        }
        this.ctx.log('peer-joined', { peer: peer.id.slice(0, 16), peers: this.ctx.network?.peers.size ?? 0 })
        await this.sync.addOwnedCore(toHex(m.hello.blocksCore), peer.id)
        this.auditor.addRecordsCore(peer.id, toHex(m.hello.recordsCore))
        // tell the newcomer every chain core we know, so blocks reach nodes that are not direct peers
        for (let i = 0, all = await this.sync.knownCores(); i < all.length; i += MAX_CORES_PER_MESSAGE) {
          peer.send({ type: MSG_CORES, cores: all.slice(i, i + MAX_CORES_PER_MESSAGE).map((k) => Buffer.from(k, 'hex')) })
        }
        return
      case MSG_CORES:
        for (const k of m.cores) if (!(await this.sync.addAnnouncedCore(toHex(k), peer.id))) return // quota or local limit: ignored, not charged
        return
      case MSG_IMAGES:
        // an announcement: listed, and used only to find which core to read (the bytes are verified on arrival)
        this.peerImages.set(peer.id, m.images)
        return
      case MSG_TIP:
        this.peerTips.set(peer.id, { ...m.tip, at: this.ctx.now() })
        return
      case MSG_TX:
        await this.relayTransaction(m.tx, peer)
        return
      case MSG_REPORT:
        await this.acceptReport(m.report, peer)
        return
      case MSG_OP:
        await this.acceptOp(m.op, peer)
        return
      case MSG_FRAUD:
        await this.fraud.onAnnouncement(peer, m.fraud)
    }
  }

  /** A core that served a valid block: pass it on (not back to whoever told us). */
  relayCore (key: string, announcer: string): void {
    const except = announcer === '' ? undefined : this.ctx.network?.peers.get(announcer)
    this.ctx.network?.broadcast({ type: MSG_CORES, cores: [Buffer.from(key, 'hex')] }, except)
  }

  private tipAnnouncement (): TipAnnouncement | null {
    const tip = this.ctx.ledger.tip
    return tip === null ? null : { height: tip.height, hash: tip.hash }
  }

  announceTip (): void {
    const ann = this.tipAnnouncement()
    if (ann !== null) this.ctx.network?.broadcast({ type: MSG_TIP, tip: ann })
  }

  async relayTransaction (bytes: Uint8Array, from: Peer | null): Promise<string | null> {
    const key = Buffer.from(bytes).toString('base64')
    // gossip dedup only: a local submission is judged by the mempool itself (it may have been evicted)
    if (from !== null && this.recentTx.has(key)) return null
    let txid: string
    try {
      txid = await this.ctx.mempool.admit(bytes)
      // seen once admitted, not before: a transaction refused for now (full, nonce gap) can come again
      if (this.recentTx.size >= 50_000) this.recentTx.clear()
      this.recentTx.add(key)
    } catch (err) {
      if (!isEconumiError(err)) throw err
      // races (nonce, already known) are normal; forged data is not (protocol/error-codes.ts)
      const points = codeInfo(err.code).penalty
      if (from !== null && points > 0) this.ctx.network?.penalize(from, points, err.code)
      if (from === null) throw err
      return null
    }
    this.ctx.network?.broadcast({ type: MSG_TX, tx: bytes }, from ?? undefined)
    this.ctx.emit('tx', txid)
    return txid
  }

  async submitTransaction (bytes: Uint8Array): Promise<string> {
    const txid = await this.relayTransaction(bytes, null)
    if (txid === null) fail('E_TX_KNOWN', 'transaction was already submitted')
    return txid
  }

  async readmit (txs: Transaction[]): Promise<void> {
    const sorted = [...txs].sort((a, b) => (a.nonce < b.nonce ? -1 : a.nonce > b.nonce ? 1 : 0))
    for (const tx of sorted) {
      const bytes = encodeTransaction(tx)
      this.recentTx.delete(Buffer.from(bytes).toString('base64'))
      try { await this.relayTransaction(bytes, null) } catch (err) { if (!isEconumiError(err)) throw err }
    }
  }

  /**
   * A work report from a peer (or this node, `from` null). Kept and relayed only when it could go in the next
   * block: admitted node, attested (but on a devnet), finished two epochs ago and inside the window, within
   * capacity, newer than what the chain holds for that node, and signed by it.
   */
  async acceptReport (r: WorkReport, from: Peer | null): Promise<boolean> {
    const p = this.ctx.params
    const node = toHex(r.nodeKey)
    const charge = (points: number, code: string): false => { if (from !== null) this.ctx.network?.penalize(from, points, code); return false }
    if (p.mode !== 'devnet' && isUnattested(r)) return charge(5, 'E_UNATTESTED_CLAIMS')
    const current = this.ctx.clock.current()
    if (r.epoch > current - 2n || r.epoch < current - 2n - p.weightWindow) return false // early or stale: clocks differ, no charge
    const pending = this.reports.get(node) ?? []
    if (pending.some((x) => x.epoch === r.epoch)) {
      // a second, different signed report of one node for one epoch is equivocation evidence
      const prior = pending.find((x) => x.epoch === r.epoch)!
      if (!equalBytes(prior.signature, r.signature)) {
        try { checkReportSignature(r, this.ctx.genesis) } catch (err) { return charge(25, isEconumiError(err) ? err.code : 'E_REPORT_SIGNATURE') }
        this.ctx.log('equivocation', { node, epoch: r.epoch, kind: 'reports' })
        await this.acceptOp({ kind: 'equivocation', evidence: { type: 'reports', a: prior, b: r } }, null).catch(() => false)
      }
      return false
    }
    // the record is read after the cheap checks (it may cost a LevelDB read); cached after that
    const rec = await this.ctx.ledger.node(node)
    if (!isAdmitted(p, node, rec)) return charge(5, 'E_REPORT_NOT_ADMITTED')
    if (r.cu > reportCap(p, node, rec)) return charge(10, 'E_REPORT_CAPACITY')
    if (from !== null) {
      const q = this.reportQuota.get(from.id)
      if (q === undefined || q.epoch !== current) this.reportQuota.set(from.id, { epoch: current, n: 1 })
      else if (++q.n > REPORTS_PER_PEER_PER_EPOCH) return false
    }
    try { checkReportSignature(r, this.ctx.genesis) } catch (err) { return charge(25, isEconumiError(err) ? err.code : 'E_REPORT_SIGNATURE') }
    if (this.reportCount >= MAX_PENDING_REPORTS && pending.length === 0) return false
    const next = [...pending, r].sort((a, b) => (a.epoch < b.epoch ? -1 : 1)).slice(0, MAX_PENDING_REPORTS_PER_NODE)
    this.reportCount += next.length - pending.length
    this.reports.set(node, next)
    this.auditor.prefetch(r)
    this.ctx.network?.broadcast({ type: MSG_REPORT, report: r }, from ?? undefined)
    return true
  }

  /**
   * A block operation from a peer (or this node: `from` null, errors thrown). Checked statelessly (signatures,
   * certificate, evidence, a fraud proof's proof: the sender is charged for a forgery), then against the head's state (seq, admission),
   * then pooled and relayed. Bounded in all, per node and per relaying peer. `at`: where a fraud operation too
   * large for a frame was fetched from (FraudRelay), announced onward from there.
   */
  async acceptOp (op: Op, from: Peer | null, at?: FraudLocation): Promise<boolean> {
    const id = toHex(opHash(op))
    if (this.ops.has(id)) { if (from === null) fail('E_OP_KNOWN', 'this operation is already pending'); return false }
    const node = toHex(opNode(op))
    const current = this.ctx.clock.current()
    if (from !== null) {
      const q = this.opQuota.get(from.id)
      if (q === undefined || q.epoch !== current) this.opQuota.set(from.id, { epoch: current, n: 1 })
      else if (++q.n > OPS_PER_PEER_PER_EPOCH) return false
    }
    // a fraud proof's named nodes, read before the check (it needs their registered capacity synchronously)
    const records = new Map<string, NodeRecord>()
    if (op.kind === 'fraud') for (const r of namedReports(op.proof)) records.set(toHex(r.nodeKey), await this.ctx.ledger.node(toHex(r.nodeKey)))
    try {
      verifyOp(this.ctx.params, this.ctx.genesis, op, BigInt(this.ctx.now()))
      // the proof itself too (applyBlock checks it again in the block): a false one is refused and its sender charged
      if (op.kind === 'fraud') {
        const p = this.ctx.params
        checkFraudProof(op.proof, { params: p, genesis: this.ctx.genesis, certificates: x509AgentChecker, registeredCapacity: (k) => registeredReservation(p, toHex(k), records.get(toHex(k)) ?? EMPTY_NODE_RECORD), reportOnChain: () => true })
      }
    } catch (err) {
      if (!isEconumiError(err)) throw err
      if (from === null) throw err
      this.ctx.network?.penalize(from, chargeAtLeast(err.code, FORGED_PENALTY), err.code)
      return false
    }
    const reason = await this.opStale(op)
    if (reason !== null) { if (from === null) fail(reason.code, reason.message, { node }); return false }
    const sameNode = [...this.ops.values()].filter((o) => toHex(opNode(o)) === node).length
    if (this.ops.size >= MAX_PENDING_OPS || sameNode >= MAX_PENDING_OPS_PER_NODE) { if (from === null) fail('E_OP_POOL_FULL', 'too many pending operations; try again after the next block'); return false }
    this.ops.set(id, op)
    this.ctx.log('op-pooled', { op: id.slice(0, 16), kind: op.kind, node: node.slice(0, 16) })
    // a fraud proof is mostly larger than a wire frame: published in a core and announced (node/fraud-relay.ts)
    if (encodeOp(op).length + 2 <= MAX_FRAME_BYTES) this.ctx.network?.broadcast({ type: MSG_OP, op }, from ?? undefined)
    else await this.fraud.announce(op, id, from, at)
    return true
  }

  /** Why an operation can no longer go in a block on the head (null: it still can). */
  private async opStale (op: Op): Promise<{ code: string, message: string } | null> {
    const rec = await this.ctx.ledger.node(toHex(opNode(op)))
    if (op.kind === 'equivocation') return rec.ejected ? { code: 'E_EVIDENCE_PUNISHED', message: 'this node was already punished' } : null
    if (op.kind === 'fraud') return rec.ejected ? { code: 'E_FRAUD_PUNISHED', message: 'this node was already punished' } : null
    if (op.seq !== rec.seq) return { code: 'E_OP_SEQ', message: `operation names seq ${op.seq}; the node is at ${rec.seq} (already applied?)` }
    if (rec.ejected) return { code: 'E_OP_EJECTED', message: 'this node was ejected for equivocation' }
    return null
  }

  /** Pending operations for a block (its producer drops any that fail to apply and rebuilds). */
  opsFor (max: number): Op[] {
    const out: Op[] = []
    const seen = new Set<string>()
    for (const op of this.ops.values()) {
      if (out.length >= max) break
      // one operation per node and block keeps seq order simple; evidence once per offender
      const key = op.kind === 'equivocation' ? `e:${evidenceKey(op.evidence)}` : op.kind === 'fraud' ? `f:${toHex(opNode(op))}` : `n:${toHex(opNode(op))}`
      if (seen.has(key)) continue
      seen.add(key)
      out.push(op)
    }
    return out
  }

  dropOp (id: string): void { this.ops.delete(id) }

  /** The tip a peer last announced (an announcement: shown, never trusted), or null. */
  peerTip (peerId: string): { height: bigint, hash: string, at: number } | null {
    const t = this.peerTips.get(peerId)
    return t === undefined ? null : { height: t.height, hash: toHex(t.hash), at: t.at }
  }

  pendingOps (): Array<{ id: string, kind: string, node: string, bytes: number }> {
    return [...this.ops].map(([id, op]) => ({ id, kind: op.kind, node: toHex(opNode(op)), bytes: encodeOp(op).length }))
  }

  /** Pending reports for a block of `epoch`, given each node's last reported epoch on the chain it builds on. */
  reportsFor (epoch: bigint, lastReported: (node: string) => bigint | null, max: number): WorkReport[] {
    const out: WorkReport[] = []
    for (const [node, list] of this.reports) {
      let last = lastReported(node)
      if (last === null) continue
      for (const r of list) {
        if (out.length >= max) return out
        if (r.epoch <= last || r.epoch > epoch - 2n || r.epoch < epoch - 2n - this.ctx.params.weightWindow) continue
        if (!this.auditor.isAvailable(r)) break // its evidence first (and the node's later reports wait behind it)
        out.push(r)
        last = r.epoch
      }
    }
    return out
  }

  /** Nodes with pending reports: a producer preloads their ledger records to pick reports for its block. */
  reportingNodes (): string[] { return [...this.reports.keys()] }

  async onNewHead (blocks: Block[]): Promise<void> {
    const senders = new Set<string>()
    const reporters = new Set<string>()
    for (const b of blocks) {
      for (const tx of b.txs) senders.add(senderAddress(tx))
      for (const r of b.reports) reporters.add(toHex(r.nodeKey))
    }
    await this.ctx.mempool.prune(senders)
    for (const [id, op] of [...this.ops]) if (await this.opStale(op) !== null) this.ops.delete(id)
    const floor = this.ctx.clock.current() - 2n - this.ctx.params.weightWindow
    for (const node of [...this.reports.keys()]) {
      const last = reporters.has(node) ? (await this.ctx.ledger.node(node)).lastReportEpoch : -1n
      const list = this.reports.get(node)!
      const kept = list.filter((r) => r.epoch > last && r.epoch >= floor)
      this.reportCount -= list.length - kept.length
      if (kept.length === 0) this.reports.delete(node)
      else this.reports.set(node, kept)
      for (const r of kept) this.auditor.prefetch(r)
    }
  }

  /** Announce the workload images this node offers (replaces the previous list). */
  offerImages (images: ImageOffer[]): void {
    const next = [...images].sort((a, b) => a.ref.localeCompare(b.ref)).slice(0, MAX_IMAGES_PER_MESSAGE)
    const key = (l: ImageOffer[]): string => l.map((o) => `${o.ref} ${toHex(o.imageId)} ${toHex(o.core)}`).join('\n')
    if (key(next) === key(this.offered)) return
    this.offered = next
    this.ctx.network?.broadcast({ type: MSG_IMAGES, images: next })
  }

  /** This node's offers and each peer's. */
  images (): { local: ImageOffer[], peers: Array<{ nodeId: string, images: ImageOffer[] }> } {
    return { local: this.offered, peers: [...this.peerImages].map(([nodeId, images]) => ({ nodeId, images })) }
  }

  /**
   * Sync progress for display: the highest head a peer announced lately. Only shown: the node counts itself
   * behind only while it holds verified blocks it has not committed (ChainSync.pendingVerified).
   */
  syncState (): { height: bigint, target: bigint, syncing: boolean } {
    const height = this.ctx.ledger.height
    let target = height
    const horizon = this.ctx.now() - 3 * Number(this.ctx.params.epochMs) - 10_000
    for (const [id, t] of this.peerTips) {
      if (t.at < horizon) { this.peerTips.delete(id); continue }
      if (t.height > target) target = t.height
    }
    return { height, target, syncing: this.sync.behind || target > height }
  }

  /** Called every SYNC_REPORT_TICK_MS: the first line of a sync at once, then at most one a second while it changes. */
  reportSync (): void {
    const s = this.syncState()
    if (!s.syncing) { this.lastSyncReport = ''; return }
    const line = `${s.height}/${s.target}`
    const now = this.ctx.now()
    if (line === this.lastSyncReport || (this.lastSyncReport !== '' && now - this.lastSyncReportAt < 1000)) return
    this.ctx.log('sync', { height: s.height, target: s.target })
    this.lastSyncReport = line
    this.lastSyncReportAt = now
  }
}
