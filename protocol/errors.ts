// One error class with stable codes: callers and tests match on `err.code`, never on message text.
export class EconumiError extends Error {
  readonly code: string
  readonly details: Record<string, unknown>
  constructor (code: string, message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = 'EconumiError'
    this.code = code
    this.details = details
  }
}

export function fail (code: string, message: string, details: Record<string, unknown> = {}): never {
  const parts = Object.entries(details).map(([k, v]) => `${k}=${typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : String(v)}`)
  throw new EconumiError(code, parts.length > 0 ? `${message} ${parts.join(' ')}` : message, details)
}

export function isEconumiError (err: unknown): err is EconumiError {
  return err instanceof EconumiError
}
