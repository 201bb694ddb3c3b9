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
