// Fork choice: the heaviest chain (most cumulative claimed compute units) wins; equal weight goes to
// the tip whose winner holds the lower lottery score, then to the lower block hash.
import { compareBytes } from './encoding.js'
import { compareScores } from './lottery.js'
import type { ChainTip } from './state.js'

/** <0 if a is preferred over b, >0 if b is preferred, 0 only for the same tip. */
export function compareTips (a: ChainTip, b: ChainTip): number {
  if (a.work !== b.work) return a.work > b.work ? -1 : 1
  const s = compareScores(a.score, b.score)
  if (s !== 0) return s
  return compareBytes(a.hash, b.hash)
}

export function chooseHead (tips: ChainTip[]): ChainTip | null {
  let best: ChainTip | null = null
  for (const t of tips) if (best === null || compareTips(t, best) < 0) best = t
  return best
}
