// The chain's bytes: Hypercore feeds in one Corestore. This node appends the blocks it wins to its own
// core; peers' cores are opened by key and replicated.
import Corestore from 'corestore'
import { EconumiError, fail, isEconumiError } from '../protocol/errors.js'

export interface Core {
  key: Buffer
  length: number
  ready: () => Promise<void>
  append: (block: Buffer | Buffer[]) => Promise<{ length: number }>
  get: (index: number, opts?: { wait?: boolean, timeout?: number }) => Promise<Buffer | null>
  close: () => Promise<void>
  on: (event: string, fn: (...args: any[]) => void) => void
}

/**
 * A failure of the cores' storage as a stable error that says what to do, or null for anything else. The
 * cores hold the blocks themselves (reindex reads them), so damage there needs a backup or a resync.
 */
export function chainStoreError (err: unknown, dir: string): EconumiError | null {
  if (isEconumiError(err)) return null
  const e = err as { code?: string, message?: string } | null
  const detail = String(e?.message ?? '').slice(0, 300)
  // hypercore-storage's device file (cores/CORESTORE) notices a copied or moved store: two copies of one
  // writable core must never both run, or the node's own chain forks
  if (e?.code === 'DEVICE_FILE') return new EconumiError('E_STORE_MOVED', `the chain store ${dir} was copied or moved from elsewhere (${detail}); if no other copy of this data directory will ever run again, delete ${dir}/CORESTORE and start again (see README, Backup and restore)`, { dir })
  // RocksDB (cores/db) reports a damaged CURRENT, MANIFEST or .sst as EIO
  if (e?.code === 'EIO') return new EconumiError('E_STORE_CORRUPT', `the chain store ${dir} is damaged (${detail}); restore the data directory from a backup, or move ${dir} away to download the chain from peers again (see README, Backup and restore)`, { dir })
  return null
}

export class ChainStore {
  readonly store: any
  private ownBlocks: Core | null = null
  private ownRecords: Core | null = null
  private readonly cores = new Map<string, Core>()

  constructor (readonly dir: string) {
    this.store = new Corestore(dir)
  }

  async open (): Promise<void> {
    try {
      await this.store.ready() // Corestore hides why it failed to open (later calls say only "closed")
    } catch (err) {
      throw chainStoreError(err, this.dir) ?? err
    }
    this.ownBlocks = this.store.get({ name: 'blocks' }) as Core
    this.ownRecords = this.store.get({ name: 'attestations' }) as Core
    await this.ownBlocks.ready()
    await this.ownRecords.ready()
    this.cores.set(this.ownBlocks.key.toString('hex'), this.ownBlocks)
  }

  get blocks (): Core {
    if (this.ownBlocks === null) fail('E_STORE_CLOSED', 'chain store is not open')
    return this.ownBlocks
  }

  get records (): Core {
    if (this.ownRecords === null) fail('E_STORE_CLOSED', 'chain store is not open')
    return this.ownRecords
  }

  get ownKey (): string { return this.blocks.key.toString('hex') }

  /** Append an encoded block to this node's own core; resolves once it is durable. */
  async appendBlock (bytes: Uint8Array): Promise<number> {
    const { length } = await this.blocks.append(Buffer.from(bytes))
    return length - 1
  }

  async appendRecord (bytes: Uint8Array): Promise<number> {
    const { length } = await this.records.append(Buffer.from(bytes))
    return length - 1
  }

  async core (key: string): Promise<Core> {
    let c = this.cores.get(key)
    if (c === undefined) {
      c = this.store.get({ key: Buffer.from(key, 'hex') }) as Core
      await c.ready()
      this.cores.set(key, c)
    }
    return c
  }

  /** A block's bytes, from disk or (unless localOnly) from peers within 3 s; E_BLOCK_UNAVAILABLE otherwise. */
  async getBlockBytes (core: string, seq: number, localOnly = false): Promise<Uint8Array> {
    const c = await this.core(core)
    let b: Buffer | null
    try {
      b = await c.get(seq, localOnly ? { wait: false } : { wait: true, timeout: 3_000 })
    } catch (err) {
      if ((err as { code?: string }).code !== 'REQUEST_TIMEOUT') throw err
      b = null
    }
    if (b === null) fail('E_BLOCK_UNAVAILABLE', 'block bytes are not available', { core, seq })
    return b
  }

  /**
   * The bytes of blocks [from, to) already on disk (null where a block is not), read in one storage batch:
   * hypercore's get() reads each block in a batch of its own, which costs a syncing node more main-thread time
   * than anything but replication itself.
   */
  async getLocalBlocks (core: string, from: number, to: number): Promise<Array<Uint8Array | null>> {
    const c = await this.core(core) as any
    const rx = c.state?.storage?.read?.()
    if (rx === undefined || typeof rx.getBlock !== 'function') {
      return await Promise.all(Array.from({ length: to - from }, async (_, i) => await c.get(from + i, { wait: false }) as Uint8Array | null))
    }
    const reads: Array<Promise<Uint8Array | null>> = []
    for (let i = from; i < to; i++) reads.push(rx.getBlock(i))
    rx.tryFlush()
    return await Promise.all(reads)
  }

  /**
   * The stored byte length of blocks [from, to), read from the core's Merkle tree (a leaf node holds its block's
   * size) in one storage batch, without reading the blocks; null where the node is not on disk yet. Sync sizes its
   * runs by it before it reads or decodes a block.
   */
  async blockSizes (core: string, from: number, to: number): Promise<Array<number | null>> {
    const c = await this.core(core) as any
    const rx = c.state?.storage?.read?.()
    if (rx === undefined || typeof rx.getTreeNode !== 'function') return new Array<null>(Math.max(0, to - from)).fill(null)
    const reads: Array<Promise<{ size: number } | null>> = []
    for (let i = from; i < to; i++) reads.push(rx.getTreeNode(2 * i)) // flat-tree: block i is leaf 2i
    rx.tryFlush()
    return (await Promise.all(reads)).map((n) => n === null ? null : n.size)
  }

  /**
   * Replicate blocks [from, to) of a peer core, resolving once they are all on disk or after timeoutMs: waiting for
   * the range, then reading it in one batch, costs far less than a get() that waits for each block.
   */
  async waitForBlocks (core: string, from: number, to: number, timeoutMs = 3_000): Promise<void> {
    const c = await this.core(core) as any
    const range = c.download({ start: from, end: to })
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([range.done(), new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs); timer.unref() })])
    } catch {
      // a closed session or a dropped request: what is on disk is read below
    } finally {
      clearTimeout(timer)
      range.destroy()
    }
  }

  /**
   * Stop replicating a peer core and let its session go (open cores cost memory: each peer identity can bring new
   * ones). `purge` also deletes what was downloaded of it: nothing in the ledger refers to it.
   */
  async dropCore (key: string, purge: boolean): Promise<void> {
    const c = this.cores.get(key)
    if (c === undefined || c === this.ownBlocks) return
    this.cores.delete(key)
    try {
      if (purge) await (c as any).purge(); else await c.close()
    } catch {
      // already closing with the store: nothing to free
    }
  }

  async close (): Promise<void> { await this.store.close() }
}
