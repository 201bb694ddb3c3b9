// The chain's bytes: Hypercore feeds in one Corestore. This node appends the blocks it wins to its own
// core; peers' cores (later) are opened by key and replicated.
import Corestore from 'corestore'
import { fail } from '../protocol/errors.js'

export interface Core {
  key: Buffer
  length: number
  ready: () => Promise<void>
  append: (block: Buffer | Buffer[]) => Promise<{ length: number }>
  get: (index: number, opts?: { wait?: boolean, timeout?: number }) => Promise<Buffer | null>
  close: () => Promise<void>
  on: (event: string, fn: (...args: any[]) => void) => void
}

export class ChainStore {
  readonly store: any
  private ownBlocks: Core | null = null
  private ownRecords: Core | null = null
  private readonly cores = new Map<string, Core>()

  constructor (dir: string) {
    this.store = new Corestore(dir)
  }

  async open (): Promise<void> {
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

  async close (): Promise<void> { await this.store.close() }
}
