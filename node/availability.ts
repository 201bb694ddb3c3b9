// The data-availability hold (protocol/availability.ts): sync asks it before adopting a peer's block; a block with
// a recent attested report whose evidence no known attestations core has served yet is held, the evidence looked
// for (Auditor.prefetch), and the block looked at again after a backoff, at most MAX_EVIDENCE_RETRIES times (after
// that, only a new block in its core or a restart brings it back: sync remembers it, node/held-blocks.ts). Never
// charged. The honest network meanwhile builds on the block's parent, as it would if the block had not arrived.
// Blocks of this node's own core are not held: it checked availability when it produced them (gossip.reportsFor).
import { blockHash, type Block } from '../protocol/block.js'
import { reportsNeedingEvidence } from '../protocol/availability.js'
import { toHex } from '../protocol/encoding.js'
import type { Auditor } from './auditor.js'
import type { NodeContext } from './context.js'

export const MAX_EVIDENCE_RETRIES = 8
/** First retry after this long, doubling up to RETRY_MAX_MS (8 retries: about 2 minutes in all). */
const RETRY_BASE_MS = 1000
const RETRY_MAX_MS = 30_000
/** Held blocks remembered; the oldest is forgotten (and retried only on a new block in its core). */
const MAX_HELD = 256

interface Held { tries: number, timer: NodeJS.Timeout | null }

export class AvailabilityGate {
  private readonly held = new Map<string, Held>()

  constructor (private readonly ctx: NodeContext, private readonly auditor: Pick<Auditor, 'isAvailable' | 'prefetch'>) {}

  /** Is this block (block `seq` of core `core`) to be held for its evidence? `retry` indexes its core again. */
  hold (block: Block, core: string, seq: number, retry: () => void): boolean {
    if (core === this.ctx.store.ownKey) return false
    const missing = reportsNeedingEvidence(this.ctx.params, block, this.ctx.clock.current()).filter((r) => !this.auditor.isAvailable(r))
    const hash = toHex(blockHash(block.header))
    let h = this.held.get(hash)
    if (missing.length === 0) {
      if (h !== undefined) { if (h.timer !== null) clearTimeout(h.timer); this.held.delete(hash) }
      return false
    }
    for (const r of missing) this.auditor.prefetch(r)
    if (h === undefined) {
      h = { tries: 0, timer: null }
      this.held.set(hash, h)
      if (this.held.size > MAX_HELD) this.forget(this.held.keys().next().value as string)
      this.ctx.log('block-held', { core: core.slice(0, 16), seq, height: block.header.height, epoch: block.header.epoch, hash, reason: 'evidence unavailable', reports: missing.map((r) => toHex(r.nodeKey).slice(0, 16)) })
    }
    if (h.timer === null && h.tries < MAX_EVIDENCE_RETRIES) {
      const entry = h
      entry.timer = setTimeout(() => { entry.timer = null; if (!this.ctx.closed) retry() }, Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** entry.tries))
      entry.timer.unref()
      entry.tries++
    }
    return true
  }

  private forget (hash: string): void {
    const h = this.held.get(hash)
    if (h?.timer !== null && h?.timer !== undefined) clearTimeout(h.timer)
    this.held.delete(hash)
  }

  close (): void { for (const k of [...this.held.keys()]) this.forget(k) }
}
