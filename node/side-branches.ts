// Side-branch pruning (issue 14): the index keeps a block that is not on the best chain only while it could still
// become best, so a peer cannot grow our storage without bound with valid but losing branches. A branch forking
// more than K (the genesis' reorg bound) below the head never can: Chain.switchTo refuses it. Within K, each height
// keeps at most MAX_SIDE_BLOCKS_PER_HEIGHT side blocks, ranked by the best tip they lead to (fork choice), so a
// flood of cheap siblings cannot push out a branch that is longer.
// A pass is ONE LevelDB batch (a kill -9 leaves the index before or after it) and idempotent: the next head change,
// or the next start (Chain.reconcile), finishes a pass that never ran.
import { compareTips } from '../protocol/fork-choice.js'
import type { ChainTip } from '../protocol/state.js'
import { type BatchOp, type BlockIndexEntry, Ledger, entryToTip } from './ledger.js'

/**
 * Side blocks kept per height within the reorg bound. Honest forks are a few siblings at a height (τ leaders per
 * epoch, a late block or two); 8 leaves room for them while bounding the window to 8·K entries (~300 KB at K = 64).
 */
export const MAX_SIDE_BLOCKS_PER_HEIGHT = 8

/** Lowest height that may still hold a side entry: heights below it were swept already. */
const CURSOR = 'side-cursor'

export interface PruneResult { entries: number, orphans: number }

export async function pruneSideBranches (ledger: Ledger): Promise<PruneResult> {
  const head = ledger.tip
  if (head === null) return { entries: 0, orphans: 0 }
  // a branch must fork at or above this height to be adopted (switchTo: head − fork ≤ K)
  const floor = head.height - ledger.params.reorgBound
  const cursor = BigInt(await ledger.getMeta(CURSOR) ?? '0')
  const canonical = await ledger.canonicalRange(cursor < floor ? cursor : floor, head.height)
  const isCanonical = (height: bigint, hash: string): boolean => canonical.get(height) === hash

  // every side block at or below the floor forks below it
  const doomed: string[] = []
  if (cursor <= floor) for await (const { height, hash } of ledger.hashesByHeight(cursor, floor + 1n)) if (!isCanonical(height, hash)) doomed.push(hash)
  const forget = (await ledger.blockEntries(doomed)).filter((e): e is BlockIndexEntry => e !== undefined)

  // above it: side blocks whose branch forks below the floor, or builds on an invalid block, or over the cap
  const side: BlockIndexEntry[] = []
  const sideHashes: string[] = []
  for await (const { height, hash } of ledger.hashesByHeight(floor + 1n)) if (!isCanonical(height, hash)) sideHashes.push(hash)
  for (const e of await ledger.blockEntries(sideHashes)) if (e !== undefined) side.push(e)
  const kept = side.length === 0 ? [] : judgeWindow(side, floor, isCanonical)
  const keptSet = new Set(kept.map((e) => e.hash))
  for (const e of side) if (!keptSet.has(e.hash)) forget.push(e)

  const ops: BatchOp[] = []
  for (const e of forget) ops.push(...Ledger.forgetEntryOps(e))
  // the equivocation marker of a forgotten block (a node's block for an epoch) goes with it
  const wonKeys = forget.map((e) => `meta:won:${e.winner}:${e.epoch}`)
  const won = wonKeys.length === 0 ? [] : await ledger.db.getMany(wonKeys)
  forget.forEach((e, i) => { if (won[i] === e.hash) ops.push({ type: 'del', key: wonKeys[i] }) })
  let next = floor + 1n
  for (const e of kept) if (BigInt(e.height) < next) next = BigInt(e.height)
  if (next !== cursor) ops.push({ type: 'put', key: `meta:${CURSOR}`, value: next.toString() })
  if (ops.length > 0) await ledger.db.batch(ops)
  const orphans = await ledger.pruneOrphansBelow(floor)
  return { entries: forget.length, orphans }
}

/** The side blocks above the floor worth keeping: rooted at or above the floor, not on an invalid block, within the cap. */
function judgeWindow (side: BlockIndexEntry[], floor: bigint, isCanonical: (height: bigint, hash: string) => boolean): BlockIndexEntry[] {
  const byHash = new Map(side.map((e) => [e.hash, e]))
  const ascending = [...side].sort((a, b) => BigInt(a.height) < BigInt(b.height) ? -1 : BigInt(a.height) > BigInt(b.height) ? 1 : 0)
  // 'ok', 'invalid' (kept, so a resend is known, but ranked last) or 'drop'; parents come first in ascending order
  const status = new Map<string, 'ok' | 'invalid' | 'drop'>()
  for (const e of ascending) {
    const parent = byHash.get(e.prevHash)
    const parentHeight = BigInt(e.height) - 1n
    let s: 'ok' | 'invalid' | 'drop'
    if (parent !== undefined) s = status.get(parent.hash) === 'ok' ? 'ok' : 'drop'
    else if (parentHeight < 0n) s = floor <= -1n ? 'ok' : 'drop' // on the genesis: a fork at "height −1"
    else s = parentHeight >= floor && isCanonical(parentHeight, e.prevHash) ? 'ok' : 'drop'
    if (s === 'ok' && e.invalid !== undefined) s = 'invalid'
    status.set(e.hash, s)
  }
  // the best tip each block leads to: a longer branch outranks any number of better-scored short ones
  const best = new Map<string, ChainTip>()
  for (const e of [...ascending].reverse()) {
    const own = best.get(e.hash) ?? entryToTip(e)
    best.set(e.hash, own)
    const parent = byHash.get(e.prevHash)
    if (parent !== undefined && status.get(e.hash) === 'ok') {
      const p = best.get(parent.hash) ?? entryToTip(parent)
      best.set(parent.hash, compareTips(own, p) < 0 ? own : p)
    }
  }
  const kept: BlockIndexEntry[] = []
  const keptSet = new Set<string>()
  let i = 0
  while (i < ascending.length) {
    const height = ascending[i].height
    const level: BlockIndexEntry[] = []
    for (; i < ascending.length && ascending[i].height === height; i++) {
      const e = ascending[i]
      const parent = byHash.get(e.prevHash)
      // a block whose parent was let go goes too (it could only be adopted through it)
      if (status.get(e.hash) !== 'drop' && (parent === undefined || keptSet.has(parent.hash))) level.push(e)
    }
    level.sort((a, b) => {
      const sa = status.get(a.hash) === 'ok' ? 0 : 1
      const sb = status.get(b.hash) === 'ok' ? 0 : 1
      return sa !== sb ? sa - sb : compareTips(best.get(a.hash)!, best.get(b.hash)!)
    })
    for (const e of level.slice(0, MAX_SIDE_BLOCKS_PER_HEIGHT)) { kept.push(e); keptSet.add(e.hash) }
  }
  return kept
}
