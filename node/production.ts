// Production: once per epoch, this node's work report for the epoch two back, and the leader lottery. A node
// leads epoch e on parent P iff its VRF ticket over (beacon(P) ‖ e) is ≤ τ·w/W with the weights of P's state
// (protocol/weights.ts); several nodes may lead one epoch, and fork choice keeps the lowest ticket·W/w.
// The node builds on its head, re-claims when the head changes during the epoch, and when the head is another
// leader's block of this very epoch, on that block's parent: a better claim for the same parent and epoch is
// published, not given up (the pre-emption attack of DESIGN.md "Consensus v2").
import { randomBytes } from 'node:crypto'
import { decodeAddress } from '../protocol/address.js'
import { type Block, buildBlock, encodeBlock } from '../protocol/block.js'
import { makeClaim } from '../protocol/claim.js'
import { equalBytes, toHex } from '../protocol/encoding.js'
import { type EconumiError, isEconumiError } from '../protocol/errors.js'
import { ZERO_HASH } from '../protocol/hash.js'
import { lotteryTicket } from '../protocol/lottery.js'
import { epochStart } from '../protocol/params.js'
import { MAX_BLOCK_OPS, opHash } from '../protocol/ops.js'
import { MAX_BLOCK_REPORTS, makeReport } from '../protocol/report.js'
import { cappedBlockReward } from '../protocol/reward.js'
import { type BlockEffects, type LedgerView, allocated, applyBlock, touchedAddresses, touchedNodes } from '../protocol/state.js'
import { isEligible, leaderWeight, reportCap } from '../protocol/weights.js'
import { vrfProofToHash } from '../protocol/vrf.js'
import { type ComputeUnitSource, NO_COMPUTE_UNITS } from './compute-units.js'
import type { Gossip } from './gossip.js'
import type { NodeContext } from './context.js'
import type { ChainSync } from './sync.js'

export interface ProducerEvents {
  computeUnits: () => ComputeUnitSource
  rewardAddress: string
  onBlock: (block: Block, fx: BlockEffects) => void
}

export class Producer {
  startedAt = 0
  /** `${base hash}:${epoch}` already tried: one claim per parent and epoch. */
  private readonly tried = new Set<string>()
  private readonly reported = new Set<bigint>()

  constructor (private readonly ctx: NodeContext, private readonly gossip: Gossip, private readonly sync: ChainSync, private readonly ev: ProducerEvents) {}

  onEpoch (epoch: bigint): void {
    this.report(epoch).catch((err) => this.ctx.log('report-failed', { epoch, code: (err as EconumiError).code, error: (err as Error).message }))
    this.tryProduce(epoch)
  }

  /** The head changed: claim again for the current epoch on the new head (if its epoch is earlier). */
  onNewHead (): void {
    const tip = this.ctx.ledger.tip
    const epoch = this.ctx.clock.current()
    if (tip !== null && tip.epoch < epoch) setImmediate(() => this.tryProduce(epoch))
  }

  private tryProduce (epoch: bigint): void {
    this.produce(epoch).catch((err) => this.ctx.log('produce-failed', { epoch, code: (err as EconumiError).code, error: (err as Error).message }))
  }

  /** This node's work report for epoch e-2 (work finished two epochs ago), pooled and gossiped. */
  async report (epoch: bigint): Promise<void> {
    const r = epoch - 2n
    if (r < 0n || this.reported.has(r) || this.ctx.closed) return
    this.reported.add(r)
    if (this.reported.size > 64) this.reported.delete([...this.reported][0])
    const source = this.ev.computeUnits()
    // test knob ECONUMI_TEST_UNPUBLISHED_EVIDENCE=<cu>: a cheating leader's report of <cu>, committing evidence it
    // never publishes, that it includes itself (its own reports count as available); peers hold its block
    // (node/availability.ts, test/p2p/fraud.test.ts)
    const unpublished = process.env.ECONUMI_TEST_UNPUBLISHED_EVIDENCE
    const cu = unpublished !== undefined ? BigInt(unpublished) : await source.computeUnitsFor(r + 1n) // the work attested in epoch r
    if (cu <= 0n) return
    const cap = reportCap(this.ctx.params, this.ctx.identity.nodeId, await this.ctx.ledger.node(this.ctx.identity.nodeId))
    // an attested report must say exactly what its evidence proves (anything else is a provable miscredit), so
    // over the cap it is not sent at all; a devnet's declared amount is only capped
    if (cu > cap && source.attested) {
      this.ctx.log('report-skipped', { epoch: r, cu, cap, reason: 'evidence proves more than the registered capacity allows' })
      return
    }
    const evidenceRoot = unpublished !== undefined ? new Uint8Array(randomBytes(32)) : source.evidenceRootFor !== undefined ? await source.evidenceRootFor(r) : ZERO_HASH
    await this.gossip.acceptReport(makeReport(this.ctx.identity.signer, this.ctx.genesis, r, cu > cap ? cap : cu, evidenceRoot), null)
  }

  /** Hold the lottery for `epoch` on the node's head (or its parent, see above); returns the block, or null. */
  async produce (epoch: bigint): Promise<Block | null> {
    if (this.ctx.closed) return null
    // a node that just joined waits briefly for its first peer, so it learns the chain before building on genesis
    if (this.ctx.network !== null && this.ctx.network.peers.size === 0 && this.ctx.now() - this.startedAt < Math.min(2 * Number(this.ctx.params.epochMs), 5000)) {
      this.ctx.log('produce-skipped', { epoch, reason: 'waiting for peers' })
      return null
    }
    // behind only on verified evidence: blocks fetched and verified but not yet committed (never on a peer's word)
    if (this.sync.behind) { this.ctx.log('produce-skipped', { epoch, reason: 'syncing', pending: this.sync.pendingVerified }); return null }
    return await this.ctx.chainLock.run(async () => await this.produceLocked(epoch))
  }

  private async produceLocked (epoch: bigint): Promise<Block | null> {
    const { ctx } = this
    if (ctx.closed) return null
    const head = ctx.ledger.tip
    const me = ctx.identity.nodeId
    let onHead = true
    if (head !== null && head.epoch >= epoch) {
      if (head.epoch > epoch) return null
      // another leader's block of this epoch is the head: our claim is for its parent
      const entry = await ctx.ledger.blockEntry(toHex(head.hash))
      if (entry === undefined || entry.winner === me) return null
      onHead = false
    }
    const nodeKeys = [me, ...this.gossip.reportingNodes().filter((k) => k !== me)]
    const miner = decodeAddress(this.ev.rewardAddress)
    const minerAddr = this.ev.rewardAddress
    const view: LedgerView = onHead ? await ctx.ledger.view([minerAddr], nodeKeys) : await ctx.ledger.viewBeforeTip([minerAddr], nodeKeys)
    const base = view.tip
    const baseHash = base?.hash ?? ctx.genesis
    const key = `${toHex(baseHash)}:${epoch}`
    if (this.tried.has(key)) return null
    this.tried.add(key)
    if (this.tried.size > 256) this.tried.delete([...this.tried][0])

    const lw = leaderWeight(ctx.params, me, epoch, view.node(me), view.totals)
    // on a devnet a node without a compute-unit source (neither --attest nor --dev-compute-units) follows and
    // never claims, and as the bootstrap weighs every key the same, only a key that does work now claims; on other
    // networks the weight itself (reports on chain, or the genesis capacity until there are some) decides.
    // Checked before the VRF proof (~6 ms), which a follower never needs.
    const source = this.ev.computeUnits()
    if (source === NO_COMPUTE_UNITS && ctx.params.mode === 'devnet') return null
    if (lw.bootstrap && ctx.params.nodes.length === 0 && (await source.computeUnitsFor(epoch)) <= 0n) return null
    const claim = makeClaim(ctx.identity.signer, base?.beacon ?? ctx.genesis, epoch)
    const ticket = lotteryTicket(vrfProofToHash(claim.proof))
    // logged, as cardano-node traces "not leader" for every slot: an operator (and the peer-flood bench) can tell a
    // lost lottery from a missed block
    if (!isEligible(ticket, lw, ctx.params.tauMilli)) { ctx.log('not-leader', { epoch }); return null }
    const start = epochStart(ctx.params, epoch)
    const now = BigInt(ctx.now())
    if (now >= start + ctx.params.epochMs) { // too late: the block time must lie inside its epoch
      ctx.log('produce-skipped', { epoch, reason: 'epoch over', msPastEnd: Number(now - start - ctx.params.epochMs) })
      return null
    }
    const time = now < start ? start : now
    const height = base === null ? 0n : base.height + 1n
    const loaded = new Set(nodeKeys) // reports that arrived since the view was read wait for the next block
    const reports = this.gossip.reportsFor(epoch, (k) => loaded.has(k) ? view.node(k).lastReportEpoch : null, MAX_BLOCK_REPORTS)
    // on a parent that is not the head the mempool's view of nonces does not hold: such a block carries no transactions
    let candidates = onHead ? await ctx.mempool.select(ctx.params.maxBlockTxs) : []
    let ops = onHead ? this.gossip.opsFor(MAX_BLOCK_OPS) : []
    for (let attempt = 0; ; attempt++) {
      const txs = candidates.map((e) => e.tx)
      const fees = txs.reduce((s, tx) => s + tx.fee, 0n)
      const block = buildBlock({ height, prevHash: baseHash, epoch, time, winner: claim, weight: lw.weight, totalWeight: lw.total, reports, ops, miner, coinbase: cappedBlockReward(height, allocated(ctx.params)) + fees, txs }, ctx.identity.signer, ctx.genesis)
      const bytes = encodeBlock(block)
      let fx: BlockEffects
      let verdict
      try {
        // checked like any peer's block (from its bytes, on a worker), but for the transactions' signatures, which
        // the mempool checked at admission
        verdict = await ctx.verifier.verifyOwn(block, bytes)
        if (isEconumiError(verdict)) throw verdict
        const addrs = touchedAddresses(block)
        const v = onHead ? await ctx.ledger.view(addrs, touchedNodes(block)) : await ctx.ledger.viewBeforeTip(addrs, touchedNodes(block))
        fx = applyBlock(v, block, verdict)
      } catch (err) {
        const badOp = isEconumiError(err) ? err.details.op : undefined
        if (typeof badOp === 'string' && attempt <= 100) {
          // an operation that no longer applies (a replay, a spent bond, an expired certificate): drop it
          ctx.log('op-dropped', { op: badOp.slice(0, 16), code: (err as EconumiError).code })
          ops = ops.filter((o) => toHex(opHash(o)) !== badOp)
          this.gossip.dropOp(badOp)
          continue
        }
        const bad = isEconumiError(err) ? err.details.txid : undefined
        if (typeof bad !== 'string' || attempt > 100) throw err
        // a mempool entry went stale: drop it and rebuild
        candidates = candidates.filter((e) => e.txid !== bad)
        ctx.mempool.remove([bad])
        await ctx.ledger.deleteMempool([bad])
        continue
      }
      const seq = await ctx.store.appendBlock(bytes)
      const loc = { core: ctx.store.ownKey, seq }
      if (onHead) {
        await ctx.chain.commitOwn(block, loc, fx)
        ctx.mempool.remove(fx.txids.map(toHex))
        await ctx.chain.announceHead(fx.tip, [block])
      } else {
        // same parent and epoch as the head: fork choice keeps the better claim, which is ours
        await ctx.chain.addBlock(block, loc, true, verdict)
      }
      const isHead = ctx.ledger.tip !== null && equalBytes(ctx.ledger.tip.hash, fx.hash)
      ctx.log('block', { height: block.header.height, epoch, hash: toHex(fx.hash), txs: block.txs.length, reports: reports.length, ops: ops.length, weight: lw.weight, totalWeight: lw.total, coinbase: block.coinbase, ...(onHead ? {} : { preempted: true, head: isHead }) })
      this.ev.onBlock(block, fx)
      this.gossip.announceTip()
      return block
    }
  }
}
