// Blocks that sync passed over because their evidence was not available (node/availability.ts), remembered durably
// by location. Indexing moves past such a block (its core's later blocks are read), so without this record a
// restart, or the availability gate giving up its retries, would lose it for good: its children would wait as
// orphans for a parent that is never looked at again. Bounded: the oldest entries are forgotten first.
import type { Ledger } from './ledger.js'

/** Held blocks remembered in all, and per core. */
export const MAX_HELD_BLOCKS = 256
export const MAX_HELD_PER_CORE = 64

const PREFIX = 'meta:held:'

export interface HeldLocation { core: string, seq: number }

export class HeldBlocks {
  /** `core:seq` → order of arrival (oldest first); loaded once from the ledger. */
  private entries: Map<string, number> | null = null
  private next = 0

  constructor (private readonly ledger: Ledger) {}

  private static id (core: string, seq: number): string { return `${core}:${String(seq).padStart(12, '0')}` }
  private static loc (id: string): HeldLocation { const i = id.lastIndexOf(':'); return { core: id.slice(0, i), seq: Number(id.slice(i + 1)) } }

  private async load (): Promise<Map<string, number>> {
    if (this.entries !== null) return this.entries
    const found: Array<[string, number]> = []
    for await (const [k, v] of this.ledger.db.iterator({ gte: PREFIX, lt: 'meta:held;' })) found.push([k.slice(PREFIX.length), Number(v)])
    found.sort((a, b) => a[1] - b[1])
    this.entries = new Map(found)
    this.next = found.length === 0 ? 0 : found[found.length - 1][1] + 1
    return this.entries
  }

  async all (): Promise<HeldLocation[]> { return [...(await this.load()).keys()].map(HeldBlocks.loc) }

  async ofCore (core: string): Promise<number[]> {
    const out: number[] = []
    for (const id of (await this.load()).keys()) { const l = HeldBlocks.loc(id); if (l.core === core) out.push(l.seq) }
    return out
  }

  /** Remember a held block (before its core's later blocks are indexed past it). Returns what was forgotten to make room. */
  async add (core: string, seq: number): Promise<HeldLocation[]> {
    const m = await this.load()
    const id = HeldBlocks.id(core, seq)
    if (m.has(id)) return []
    const evict: string[] = []
    const mine = [...m.keys()].filter((k) => HeldBlocks.loc(k).core === core)
    if (mine.length >= MAX_HELD_PER_CORE) evict.push(mine[0])
    else if (m.size >= MAX_HELD_BLOCKS) evict.push(m.keys().next().value as string)
    const order = this.next++
    await this.ledger.db.batch([
      ...evict.map((k) => ({ type: 'del' as const, key: PREFIX + k })),
      { type: 'put' as const, key: PREFIX + id, value: String(order) }
    ])
    for (const k of evict) m.delete(k)
    m.set(id, order)
    return evict.map(HeldBlocks.loc)
  }

  /** The block was adopted, rejected or is gone: nothing to retry. */
  async remove (core: string, seq: number): Promise<void> {
    const m = await this.load()
    const id = HeldBlocks.id(core, seq)
    if (!m.has(id)) return
    await this.ledger.db.del(PREFIX + id)
    m.delete(id)
  }
}
