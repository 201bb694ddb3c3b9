// The node, as the composition root: chain store, ledger, block tree, mempool, verification threads and epoch
// clock, wired to three roles kept apart as Bitcoin Core keeps net_processing apart from validation:
// sync (node/sync.ts: cores → verified blocks → the chain), gossip (node/gossip.ts: peer messages and relay) and
// production (node/production.ts: the leader lottery and block building). Every change to the chain runs one at
// a time under `chainLock`.
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { mkdirSync, rmSync } from 'node:fs'
import { decodeAddress } from '../protocol/address.js'
import { type Block, blockHash, decodeBlock } from '../protocol/block.js'
import { toHex } from '../protocol/encoding.js'
import { fail, isEconumiError } from '../protocol/errors.js'
import { type FraudProof, fraudProofHash, namedReports } from '../protocol/fraud.js'
import { makeEquivocation, makeFraudOp, opHash } from '../protocol/ops.js'
import { type NetworkParams, genesisHash } from '../protocol/params.js'
import type { ChainTip } from '../protocol/state.js'
import type { Reservation } from '../protocol/compute-units.js'
import { type NodeRecord, isAdmitted, leaderWeight, registeredReservation } from '../protocol/weights.js'
import { Chain } from './chain.js'
import { ChainStore } from './chain-store.js'
import { type ComputeUnitSource, NO_COMPUTE_UNITS } from './compute-units.js'
import { EpochClock } from './epoch-clock.js'
import { Auditor } from './auditor.js'
import { AvailabilityGate } from './availability.js'
import { Gossip, SYNC_REPORT_TICK_MS } from './gossip.js'
import { type NodeIdentity, loadOrCreateIdentity } from './identity.js'
import { type BlockIndexEntry, Ledger } from './ledger.js'
import type { LogFn } from './log.js'
import { Mempool } from './mempool.js'
import { Mutex } from './mutex.js'
import { Network, type NetworkOptions } from './network.js'
import { Producer } from './production.js'
import { ChainSync } from './sync.js'
import { VerifyPool } from './verify-pool.js'
import type { NodeContext } from './context.js'
import type { ImageOffer } from '../protocol/wire.js'
import type { ImageOfferJson, PeerJson, StatusJson } from './api-types.js'

export type { NodeContext }

export type { LogFn }

export interface NodeOptions {
  dataDir: string
  params: NetworkParams
  rewardAddress?: string
  /**
   * Where this node's work reports come from (attestation, or a devnet's fixed amount). A factory receives the
   * opened node (the attestation collector reads its chain and appends to its records core) and runs before
   * open() returns, so the node never exists without its source; if it throws, open() closes the node.
   */
  computeUnits?: ComputeUnitSource | ((node: EconumiNode) => Promise<ComputeUnitSource>)
  log?: LogFn
  now?: () => number
  /** Peer networking; omitted = a standalone node. */
  network?: Omit<NetworkOptions, 'log'>
}

export class EconumiNode extends EventEmitter implements NodeContext {
  readonly genesis: Uint8Array
  readonly identity: NodeIdentity
  readonly rewardAddress: string
  readonly clock: EpochClock
  readonly params: NetworkParams
  private source: ComputeUnitSource = NO_COMPUTE_UNITS
  get computeUnits (): ComputeUnitSource { return this.source }
  mempool!: Mempool
  ledger!: Ledger
  chain!: Chain
  network: Network | null = null
  readonly store: ChainStore
  readonly chainLock = new Mutex()
  readonly verifier: VerifyPool
  readonly now: () => number
  readonly log: LogFn
  closed = false
  sync!: ChainSync
  gossip!: Gossip
  producer!: Producer
  auditor!: Auditor
  availability!: AvailabilityGate
  private syncTimer: NodeJS.Timeout | null = null

  private constructor (readonly opts: NodeOptions) {
    super()
    this.params = opts.params
    this.genesis = genesisHash(opts.params)
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 })
    this.identity = loadOrCreateIdentity(opts.dataDir)
    this.rewardAddress = opts.rewardAddress ?? this.identity.address
    decodeAddress(this.rewardAddress)
    this.now = opts.now ?? Date.now
    this.log = opts.log ?? (() => {})
    this.clock = new EpochClock(opts.params, this.now)
    if (opts.computeUnits !== undefined && typeof opts.computeUnits !== 'function') this.source = opts.computeUnits
    this.store = new ChainStore(join(opts.dataDir, 'cores'))
    this.verifier = new VerifyPool(this.params, this.genesis)
  }

  static async open (opts: NodeOptions): Promise<EconumiNode> {
    const node = new EconumiNode(opts)
    node.verifier.start() // loads while the stores open
    try {
      node.ledger = await Ledger.open(join(opts.dataDir, 'ledger'), opts.params, node.genesis, node.log)
      try { await node.store.open() } catch (err) { await node.ledger.close(); throw err }
    } catch (err) {
      await node.verifier.close()
      await node.store.close().catch(() => {}) // else its open Corestore keeps the cores folder from the next open
      throw err
    }
    node.mempool = new Mempool(node.ledger, async (tx, bytes) => { await node.verifier.checkTransaction(tx, bytes) })
    node.chain = new Chain(node.ledger, node.store, {
      onOrphanedTxs: async (txs, reports) => {
        if (txs.length > 0) await node.gossip.readmit(txs)
        for (const r of reports) await node.gossip.acceptReport(r, null).catch(() => false)
      },
      onNewHead: async (tip, blocks) => { await node.onNewHead(tip, blocks) },
      onEquivocation: async (a, b) => { await node.gossip.acceptOp(makeEquivocation({ type: 'blocks', a: { header: a.header, signature: a.signature }, b: { header: b.header, signature: b.signature } }), null) }
    }, node.log, node.now)
    node.sync = new ChainSync(node, { onCoreProven: (key, announcer) => node.gossip.relayCore(key, announcer), holdForEvidence: (b, core, seq, retry) => node.availability.hold(b, core, seq, retry) })
    node.auditor = new Auditor(node, async (proof, reason) => { await node.onFraud(proof, reason) })
    node.availability = new AvailabilityGate(node, node.auditor)
    node.gossip = new Gossip(node, node.sync, node.auditor)
    node.producer = new Producer(node, node.gossip, node.sync, { computeUnits: () => node.computeUnits, rewardAddress: node.rewardAddress, onBlock: (block, fx) => node.emit('block', block, fx) })
    await node.sync.recover()
    const { loaded, dropped } = await node.mempool.load()
    if (loaded + dropped > 0) node.log('mempool-restored', { loaded, dropped })
    await node.verifier.ready()
    const make = opts.computeUnits
    if (typeof make === 'function') {
      try { node.source = await make(node) } catch (err) { await node.close(); throw err }
    }
    return node
  }

  get genesisHex (): string { return toHex(this.genesis) }

  /** Start the network (if configured) and block production on epoch boundaries. */
  async start (): Promise<void> {
    this.producer.startedAt = this.now()
    this.sync.startedAt = this.producer.startedAt
    if (this.opts.network !== undefined) {
      this.network = new Network(this.store.store, this.identity.signer.seed, this.genesis, this.gossip, { ...this.opts.network, log: this.log })
      await this.network.start()
      this.syncTimer = setInterval(() => this.gossip.reportSync(), SYNC_REPORT_TICK_MS)
    }
    this.clock.on('epoch', (epoch: bigint) => { this.producer.onEpoch(epoch) })
    this.clock.start()
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.clock.stop()
    this.auditor.close()
    this.availability.close()
    if (this.syncTimer !== null) clearInterval(this.syncTimer)
    if (this.network !== null) await this.network.close()
    await this.chainLock.run(async () => {
      await this.sync.close()
      await this.verifier.close()
      await this.store.close()
      await this.ledger.close()
    })
  }

  private async onNewHead (tip: ChainTip, blocks: Block[]): Promise<void> {
    await this.gossip.onNewHead(blocks)
    this.auditor.onNewHead(blocks)
    const last = blocks[blocks.length - 1]
    // one line per new head: after a run of synced blocks that is the last one, with how many came with it
    this.log('head', { height: tip.height, hash: toHex(tip.hash), epoch: tip.epoch, txs: last.txs.length, winner: toHex(last.header.winner.nodeKey).slice(0, 16), ...(blocks.length > 1 ? { blocks: blocks.length } : {}) })
    this.emit('head', tip)
    this.producer.onNewHead()
  }

  /** A failed audit's proof becomes a block operation signed by this node as its reporter (pooled, included when it leads). */
  private async onFraud (proof: FraudProof, reason: string): Promise<void> {
    const op = makeFraudOp(this.identity.signer, this.genesis, proof)
    this.log('fraud-proof', { kind: proof.kind, node: toHex(namedReports(proof)[0].nodeKey).slice(0, 16), reason, hash: toHex(fraudProofHash(proof)), op: toHex(opHash(op)).slice(0, 16) })
    await this.gossip.acceptOp(op, null).catch((err: unknown) => {
      // another auditor's proof of the same fraud may be on chain already
      if (!isEconumiError(err)) throw err
      this.log('fraud-proof-dropped', { code: err.code, error: err.message })
    })
  }

  /** Hold the lottery for `epoch` now (production runs it on every epoch boundary by itself). */
  async produce (epoch: bigint): Promise<Block | null> { return await this.producer.produce(epoch) }

  /** Announce the workload images this node offers (replaces the previous list). */
  offerImages (images: ImageOffer[]): void { this.gossip.offerImages(images) }

  /** Images offered across the network, as JSON: this node's and each peer's (ref, image ID, size, core). */
  images (): { local: ImageOfferJson[], peers: Array<{ nodeId: string, images: ImageOfferJson[] }> } {
    const j = (o: ImageOffer): ImageOfferJson => ({ ref: o.ref, imageId: toHex(o.imageId), size: o.size.toString(), core: toHex(o.core), blocks: o.blocks })
    const { local, peers } = this.gossip.images()
    return { local: local.map(j), peers: peers.map((p) => ({ nodeId: p.nodeId, images: p.images.map(j) })) }
  }

  /** A peer's offer of `ref` (or of the image ID `ref`), or null. */
  findOffer (ref: string): { nodeId: string, offer: ImageOffer } | null {
    for (const p of this.gossip.images().peers) {
      const o = p.images.find((i) => i.ref === ref || toHex(i.imageId) === ref.replace(/^sha256:/, ''))
      if (o !== undefined) return { nodeId: p.nodeId, offer: o }
    }
    return null
  }

  syncState (): { height: bigint, target: bigint, syncing: boolean } { return this.gossip.syncState() }

  async submitTransaction (bytes: Uint8Array): Promise<string> {
    if (this.closed) fail('E_NODE_CLOSING', 'node is shutting down')
    return await this.gossip.submitTransaction(bytes)
  }

  /** This node's capacity on chain (the evidence caps its declared capacity by it). */
  async registeredCapacity (): Promise<Reservation | null> {
    return registeredReservation(this.params, this.identity.nodeId, await this.ledger.node(this.identity.nodeId))
  }

  async blockByHeight (height: bigint): Promise<{ block: Block, entry: BlockIndexEntry } | null> {
    const hash = await this.ledger.hashAtHeight(height)
    return hash === undefined ? null : await this.blockByHash(hash)
  }

  async blockByHash (hash: string): Promise<{ block: Block, entry: BlockIndexEntry } | null> {
    const entry = await this.ledger.blockEntry(hash)
    if (entry === undefined) return null
    const block = decodeBlock(await this.store.getBlockBytes(entry.core, entry.seq))
    if (toHex(blockHash(block.header)) !== hash) fail('E_STORE_CORRUPT', 'stored block does not match its index', { hash })
    return { block, entry }
  }

  /**
   * Nodes known to the chain: the genesis' admitted nodes and every key that led a block or reported work, with
   * capacity, weight for the current epoch (w of W), blocks led and state.
   */
  async nodes (): Promise<Array<Record<string, unknown>>> {
    const nodeState = (p: NetworkParams, key: string, rec: NodeRecord): string => {
      if (rec.ejected) return 'ejected'
      if (rec.registration !== null && rec.registration.unbondEnd >= 0n) return 'unbonding'
      return isAdmitted(p, key, rec) ? 'admitted' : rec.registration === null && rec.seq > 0n ? 'unregistered' : 'not admitted'
    }
    const epoch = this.clock.current()
    const records = new Map((await this.ledger.allNodes()).map((n) => [n.nodeKey, n.record]))
    const keys = new Set([...this.params.nodes.map((n) => n.nodeKey), ...records.keys()])
    const out: Array<Record<string, unknown>> = []
    for (const key of keys) {
      const rec = records.get(key) ?? await this.ledger.node(key)
      const g = this.params.nodes.find((n) => n.nodeKey === key)
      const reg = rec.registration
      const w = leaderWeight(this.params, key, epoch, rec, this.ledger.totals)
      const cap = reg ?? g
      out.push({
        nodeId: key,
        capacity: cap === undefined ? null : { millicores: cap.millicores.toString(), memoryBytes: cap.memoryBytes.toString() },
        admittedBy: rec.ejected ? null : g !== undefined ? 'genesis' : reg !== null ? 'registration' : this.params.mode === 'devnet' ? 'devnet' : null,
        bond: reg === null || this.params.mode !== 'open' ? null : { amount: reg.bond.toString(), owner: reg.owner, unbondEnd: reg.unbondEnd < 0n ? null : reg.unbondEnd.toString() },
        slashed: rec.slashed.toString(),
        seq: rec.seq.toString(),
        weight: w.weight.toString(),
        totalWeight: w.total.toString(),
        bootstrapWeight: w.bootstrap,
        blocksWon: rec.blocksWon.toString(),
        lastReportEpoch: rec.lastReportEpoch < 0n ? null : rec.lastReportEpoch.toString(),
        state: nodeState(this.params, key, rec)
      })
    }
    return out.sort((a, b) => (BigInt(String(b.weight)) > BigInt(String(a.weight)) ? 1 : BigInt(String(b.weight)) < BigInt(String(a.weight)) ? -1 : 0))
  }

  /** Connected peers: the connection, the score, and the tip each one announced. */
  peers (): PeerJson[] {
    return (this.network?.peerInfo() ?? []).map((p) => {
      const tip = this.gossip.peerTip(p.nodeId)
      return { ...p, height: tip === null ? null : tip.height.toString(), tipHash: tip?.hash ?? null }
    })
  }

  status (): StatusJson {
    const tip = this.ledger.tip
    const sync = this.syncState()
    return {
      network: this.params.network,
      mode: this.params.mode,
      genesisHash: this.genesisHex,
      nodeId: this.identity.nodeId,
      pid: process.pid,
      rewardAddress: this.rewardAddress,
      height: this.ledger.height.toString(),
      tipHash: tip === null ? null : toHex(tip.hash),
      epoch: this.clock.current().toString(),
      epochMs: this.params.epochMs.toString(),
      mempool: this.mempool.size,
      peers: this.network?.peers.size ?? 0,
      sync: { height: sync.height.toString(), target: sync.target.toString(), syncing: sync.syncing }
    }
  }
}

/** Rebuild the ledger from the cores: drop the LevelDB index and replay every block. */
export async function reindexNode (opts: NodeOptions): Promise<{ height: bigint, mempool: number }> {
  const before = await Ledger.open(join(opts.dataDir, 'ledger'), opts.params, genesisHash(opts.params))
  const saved = await before.listMempool()
  const cores = await ChainSync.savedCores(before)
  await before.close()
  rmSync(join(opts.dataDir, 'ledger'), { recursive: true, force: true })
  if (cores.length > 0) {
    // keep the list of peers' cores so their blocks are replayed too
    const fresh = await Ledger.open(join(opts.dataDir, 'ledger'), opts.params, genesisHash(opts.params))
    await ChainSync.saveCores(fresh, cores)
    await fresh.close()
  }
  const node = await EconumiNode.open(opts)
  let kept = 0
  for (const s of saved) {
    try { await node.mempool.admit(s.bytes); kept++ } catch (err) { if (!isEconumiError(err)) throw err }
  }
  const height = node.ledger.height
  await node.close()
  return { height, mempool: kept }
}
