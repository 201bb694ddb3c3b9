// Argument checks: each fails with its own code before anything is sent to the node.
import { parseAmount } from '../protocol/amount.js'
import { fail } from '../protocol/errors.js'

export function parseHeightArg (text: string): bigint {
  if (!/^\d{1,20}$/.test(text)) fail('E_BAD_HEIGHT', 'height must be a non-negative integer', { height: text.slice(0, 40) })
  return BigInt(text)
}

export function parsePositiveAmount (text: string, what: string): bigint {
  const units = parseAmount(text)
  if (units === 0n) fail('E_BAD_AMOUNT', `${what} must be greater than zero`, { amount: text })
  return units
}

export function parseIntegerOption (text: string, code: string, what: string, min: bigint, max?: bigint): bigint {
  if (!/^\d{1,20}$/.test(text)) fail(code, `${what} must be an integer`, { value: text.slice(0, 40) })
  const n = BigInt(text)
  if (n < min || (max !== undefined && n > max)) fail(code, max === undefined ? `${what} must be at least ${min}` : `${what} must be between ${min} and ${max}`, { value: text })
  return n
}

export function parseBlockId (text: string): string {
  if (/^\d{1,20}$/.test(text)) return text
  if (/^[0-9a-f]{64}$/i.test(text)) return text.toLowerCase()
  fail('E_BAD_BLOCK_ID', 'block id must be a height (non-negative integer) or a 64-character hex hash', { id: text.slice(0, 80) })
}

export function parseTxid (text: string): string {
  if (!/^[0-9a-f]{64}$/i.test(text)) fail('E_BAD_TXID', 'a transaction id is 64 hex characters', { txid: text.slice(0, 80) })
  return text.toLowerCase()
}

/** `econumi audit`'s target: a block height, or 64 hex characters (a node id or a report hash). */
export function parseAuditTarget (text: string): string {
  if (!/^(\d{1,19}|[0-9a-f]{64})$/i.test(text)) fail('E_BAD_AUDIT_TARGET', 'audit target must be a block height, a node id or a report hash (64 hex characters)', { target: text.slice(0, 80) })
  return text.toLowerCase()
}

/** commander's accumulator for repeatable options. */
export function collect (value: string, previous: string[]): string[] { return [...previous, value] }

/** A size such as 512m, 2g or 1048576b (binary units). */
export function parseSize (text: string, what: string): bigint {
  const m = /^(\d{1,13})([bkmg]?)$/i.exec(text)
  if (m === null) fail('E_BAD_SIZE', `${what} must be a size such as 512m or 2g`, { value: text.slice(0, 40) })
  const unit: Record<string, bigint> = { '': 1n, b: 1n, k: 1024n, m: 1024n ** 2n, g: 1024n ** 3n }
  const bytes = BigInt(m[1]) * unit[m[2].toLowerCase()]
  if (bytes === 0n) fail('E_BAD_SIZE', `${what} must be more than 0`)
  return bytes
}
