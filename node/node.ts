// The node: one chain store, one ledger, one mempool, an epoch clock and block production.
// All chain state changes run one at a time under `chainLock`.
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { mkdirSync, rmSync } from 'node:fs'
import { addressBytesFromPublicKey, decodeAddress, encodeAddress } from '../protocol/address.js'
import { type Block, buildBlock, decodeBlock, encodeBlock, blockHash } from '../protocol/block.js'
import { makeClaim } from '../protocol/claim.js'
import { equalBytes, toHex } from '../protocol/encoding.js'
import { EconumiError, fail, isEconumiError } from '../protocol/errors.js'
import { type NetworkParams, epochStart, genesisHash } from '../protocol/params.js'
import { blockReward } from '../protocol/reward.js'
import { type BlockEffects, applyBlock, touchedAddresses } from '../protocol/state.js'
import { ChainStore } from './chain-store.js'
import { type ComputeUnitSource, NO_COMPUTE_UNITS } from './compute-units.js'
import { EpochClock } from './epoch-clock.js'
import { type NodeIdentity, loadOrCreateIdentity } from './identity.js'
import { type BatchOp, type BlockIndexEntry, Ledger } from './ledger.js'
import { Mempool } from './mempool.js'
import { Mutex } from './mutex.js'

export type LogFn = (event: string, fields?: Record<string, unknown>) => void

export interface NodeOptions {
  dataDir: string
  params: NetworkParams
  rewardAddress?: string
  computeUnits?: ComputeUnitSource
  log?: LogFn
  now?: () => number
}

export class EconumiNode extends EventEmitter {
  readonly genesis: Uint8Array
  readonly identity: NodeIdentity
  readonly rewardAddress: string
  readonly clock: EpochClock
  mempool!: Mempool
  ledger!: Ledger
  readonly store: ChainStore
  private readonly chainLock = new Mutex()
  private readonly now: () => number
  private readonly log: LogFn
  private closed = false
  computeUnits: ComputeUnitSource

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
    this.computeUnits = opts.computeUnits ?? NO_COMPUTE_UNITS
    this.store = new ChainStore(join(opts.dataDir, 'cores'))
  }

  readonly params: NetworkParams

  static async open (opts: NodeOptions): Promise<EconumiNode> {
    const node = new EconumiNode(opts)
    node.ledger = await Ledger.open(join(opts.dataDir, 'ledger'), opts.params, node.genesis)
    try {
      await node.store.open()
    } catch (err) {
      await node.ledger.close()
      throw err
    }
    node.mempool = new Mempool(node.ledger)
    await node.recover()
    const { loaded, dropped } = await node.mempool.load()
    if (loaded + dropped > 0) node.log('mempool-restored', { loaded, dropped })
    return node
  }

  get genesisHex (): string { return toHex(this.genesis) }

  /** Start producing blocks on epoch boundaries. */
  start (): void {
    this.clock.on('epoch', (epoch: bigint) => {
      this.produce(epoch).catch((err) => this.log('produce-failed', { epoch, code: (err as EconumiError).code, error: (err as Error).message }))
    })
    this.clock.start()
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.clock.stop()
    await this.chainLock.run(async () => {
      await this.store.close()
      await this.ledger.close()
    })
  }

  /** Apply blocks that reached the own core but not the ledger (a crash between the two writes). */
  private async recover (): Promise<void> {
    const core = this.store.blocks
    let seq = Number(await this.ledger.getMeta('ownIndexed') ?? '0')
    let applied = 0
    for (; seq < core.length; seq++) {
      const bytes = await this.store.getBlockBytes(this.store.ownKey, seq)
      const block = decodeBlock(bytes)
      const tip = this.ledger.tip
      const extendsTip = tip === null ? equalBytes(block.header.prevHash, this.genesis) : equalBytes(block.header.prevHash, tip.hash)
      const marker: BatchOp = { type: 'put', key: 'meta:ownIndexed', value: String(seq + 1) }
      if (!extendsTip) {
        // a block of ours off the canonical chain (kept for fork choice); nothing to apply
        await this.ledger.putMeta('ownIndexed', String(seq + 1))
        continue
      }
      const view = await this.ledger.view(touchedAddresses(block))
      const fx = applyBlock(view, block)
      await this.ledger.commitBlock(block, { core: this.store.ownKey, seq }, fx, [marker])
      applied++
    }
    if (applied > 0) this.log('recovered', { blocks: applied, height: this.ledger.height })
  }

  async submitTransaction (bytes: Uint8Array): Promise<string> {
    if (this.closed) fail('E_NODE_CLOSING', 'node is shutting down')
    const txid = await this.mempool.admit(bytes)
    this.emit('tx', txid)
    return txid
  }

  /**
   * Hold the lottery for `epoch` and, if this node wins, append the block.
   * Returns the block, or null when this node had no claim or the epoch already has a block.
   */
  async produce (epoch: bigint): Promise<Block | null> {
    return await this.chainLock.run(async () => {
      if (this.closed) return null
      const tip = this.ledger.tip
      if (tip !== null && epoch <= tip.epoch) return null
      const start = epochStart(this.params, epoch)
      const end = start + this.params.epochMs
      const now = BigInt(this.now())
      if (now >= end) return null // too late: the block time must lie inside its epoch
      let cu = await this.computeUnits.computeUnitsFor(epoch)
      if (cu <= 0n) return null
      if (cu > this.params.maxClaimCu) cu = this.params.maxClaimCu
      const prevHash = tip?.hash ?? this.genesis
      const height = tip === null ? 0n : tip.height + 1n
      const claim = makeClaim(this.identity.signer, this.genesis, prevHash, epoch, cu)
      const miner = decodeAddress(this.rewardAddress)
      let candidates = await this.mempool.select(this.params.maxBlockTxs)
      const time = now < start ? start : now
      for (let attempt = 0; ; attempt++) {
        const txs = candidates.map((e) => e.tx)
        const fees = txs.reduce((s, tx) => s + tx.fee, 0n)
        const block = buildBlock({ height, prevHash, epoch, time, winner: claim, claims: [claim], miner, coinbase: blockReward(height) + fees, txs }, this.identity.signer, this.genesis)
        let fx: BlockEffects
        try {
          fx = applyBlock(await this.ledger.view(touchedAddresses(block)), block)
        } catch (err) {
          const bad = isEconumiError(err) ? err.details.txid : undefined
          if (typeof bad !== 'string' || attempt > 100) throw err
          // a mempool entry went stale (e.g. a block changed its account): drop it and rebuild
          candidates = candidates.filter((e) => e.txid !== bad)
          this.mempool.remove([bad])
          await this.ledger.deleteMempool([bad])
          continue
        }
        await this.commitOwnBlock(block, fx)
        return block
      }
    })
  }

  private async commitOwnBlock (block: Block, fx: BlockEffects): Promise<void> {
    const seq = await this.store.appendBlock(encodeBlock(block))
    await this.ledger.commitBlock(block, { core: this.store.ownKey, seq }, fx, [{ type: 'put', key: 'meta:ownIndexed', value: String(seq + 1) }])
    const txids = fx.txids.map(toHex)
    this.mempool.remove(txids)
    await this.mempool.prune(block.txs.map((tx) => encodeAddress(addressBytesFromPublicKey(tx.from))))
    this.log('block', { height: block.header.height, epoch: block.header.epoch, hash: toHex(fx.hash), txs: block.txs.length, coinbase: block.coinbase })
    this.emit('block', block, fx)
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

  status (): Record<string, unknown> {
    const tip = this.ledger.tip
    return {
      network: this.params.network,
      genesisHash: this.genesisHex,
      nodeId: this.identity.nodeId,
      rewardAddress: this.rewardAddress,
      height: this.ledger.height.toString(),
      tipHash: tip === null ? null : toHex(tip.hash),
      work: (tip?.work ?? 0n).toString(),
      epoch: this.clock.current().toString(),
      epochMs: this.params.epochMs.toString(),
      mempool: this.mempool.size,
      peers: 0,
      sync: { height: this.ledger.height.toString(), target: this.ledger.height.toString() }
    }
  }
}

/** Rebuild the ledger from the cores: drop the LevelDB index and replay every block. */
export async function reindexNode (opts: NodeOptions): Promise<{ height: bigint, mempool: number }> {
  // keep the acknowledged mempool across the rebuild
  const before = await Ledger.open(join(opts.dataDir, 'ledger'), opts.params, genesisHash(opts.params))
  const saved = await before.listMempool()
  await before.close()
  rmSync(join(opts.dataDir, 'ledger'), { recursive: true, force: true })
  const node = await EconumiNode.open(opts)
  let kept = 0
  for (const s of saved) {
    try { await node.mempool.admit(s.bytes); kept++ } catch (err) { if (!isEconumiError(err)) throw err }
  }
  const height = node.ledger.height
  await node.close()
  return { height, mempool: kept }
}

export { EconumiError }
