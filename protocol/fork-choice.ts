// Fork choice: the longest chain (most blocks; within the reorg bound K, which the node enforces when it
// switches); between tips of equal height, the lower leader score (ticket/weight: for blocks on one parent this is
// the lottery's verdict), then the lower block hash. Pure and total, so every node ranks tips the same way.
import { compareBytes } from './encoding.js'
import type { ChainTip, WinnerScore } from './state.js'

/** Lower ticket·W/w first (exact, by cross-multiplication), then the lower VRF output. */
export function compareScores (a: WinnerScore, b: WinnerScore): number {
  const left = a.ticket * a.total * b.weight
  const right = b.ticket * b.total * a.weight
  if (left !== right) return left < right ? -1 : 1
  return compareBytes(a.vrfOutput, b.vrfOutput)
}

/** <0 if a is preferred over b, >0 if b is preferred, 0 only for the same tip. */
export function compareTips (a: ChainTip, b: ChainTip): number {
  if (a.height !== b.height) return a.height > b.height ? -1 : 1
  const s = compareScores(a.score, b.score)
  if (s !== 0) return s
  return compareBytes(a.hash, b.hash)
}

export function chooseHead (tips: ChainTip[]): ChainTip | null {
  let best: ChainTip | null = null
  for (const t of tips) if (best === null || compareTips(t, best) < 0) best = t
  return best
}
