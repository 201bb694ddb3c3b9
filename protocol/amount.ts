// Money is BigInt base units; 1 ECO = 10^8. Decimal strings are parsed exactly, never through floats.
import { fail } from './errors.js'

export const COIN = 100_000_000n
export const DECIMALS = 8
export const MAX_MONEY = 21_000_000n * COIN * 1000n // generous bound on any single amount, for overflow safety

export function parseAmount (text: string): bigint {
  if (typeof text !== 'string') fail('E_BAD_AMOUNT', 'amount must be a decimal string')
  const m = /^(\d{1,12})(?:\.(\d{1,8}))?$/.exec(text.trim())
  if (m === null) {
    if (/^\d+\.\d{9,}$/.test(text.trim())) fail('E_BAD_AMOUNT', 'amount has more than 8 decimals', { amount: text })
    fail('E_BAD_AMOUNT', 'amount must be a positive decimal number of ECO with at most 8 decimals', { amount: text.slice(0, 40) })
  }
  const whole = BigInt(m[1])
  const frac = BigInt((m[2] ?? '').padEnd(DECIMALS, '0'))
  return whole * COIN + frac
}

export function formatAmount (units: bigint): string {
  const neg = units < 0n
  const abs = neg ? -units : units
  const whole = abs / COIN
  const frac = (abs % COIN).toString().padStart(DECIMALS, '0').replace(/0+$/, '')
  return `${neg ? '-' : ''}${whole}${frac.length > 0 ? '.' + frac : ''}`
}

/** An amount in an error's details: the value stays in base units, the message shows it in ECO. */
export class Eco {
  constructor (readonly units: bigint) {}
  toString (): string { return `${formatAmount(this.units)} ECO` }
  toJSON (): string { return this.units.toString() }
}

export function eco (units: bigint): Eco { return new Eco(units) }
