// Bitcoin's schedule: 50 ECO at height 0, halving every 210,000 blocks, nothing after 64 halvings.
import { COIN } from './amount.js'
import { fail } from './errors.js'

export const INITIAL_REWARD = 50n * COIN
export const HALVING_INTERVAL = 210_000n
export const MAX_HALVINGS = 64n

export function blockReward (height: bigint): bigint {
  if (height < 0n) fail('E_BAD_HEIGHT', 'height must not be negative', { height })
  const halvings = height / HALVING_INTERVAL
  if (halvings >= MAX_HALVINGS) return 0n
  return INITIAL_REWARD >> halvings
}

/** Total coins ever issued by block rewards: sum over all heights. */
export function totalIssuance (): bigint {
  let total = 0n
  for (let era = 0n; era < MAX_HALVINGS; era++) total += blockReward(era * HALVING_INTERVAL) * HALVING_INTERVAL
  return total
}

/** The total supply: allocations plus all issuance stay within it (Bitcoin's 21M, in base units). */
export const MAX_SUPPLY = 21_000_000n * COIN

/** Block rewards paid before `height` (heights 0 … height-1), in closed form per halving era. */
export function issuedBefore (height: bigint): bigint {
  let total = 0n
  for (let era = 0n; era < MAX_HALVINGS && era * HALVING_INTERVAL < height; era++) {
    const start = era * HALVING_INTERVAL
    const end = height < start + HALVING_INTERVAL ? height : start + HALVING_INTERVAL
    total += (INITIAL_REWARD >> era) * (end - start)
  }
  return total
}

/** The reward at `height` on a network that allocated `allocated` at genesis: never past MAX_SUPPLY. */
export function cappedBlockReward (height: bigint, allocated: bigint): bigint {
  const r = blockReward(height)
  const room = MAX_SUPPLY - allocated - issuedBefore(height)
  return room <= 0n ? 0n : r < room ? r : room
}
