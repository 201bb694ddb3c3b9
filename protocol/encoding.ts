// Canonical binary encoding: fixed-width big-endian integers, length-prefixed byte strings.
// Every decoder must consume its input exactly; trailing bytes are an error.
import { fail } from './errors.js'

const U64_MAX = (1n << 64n) - 1n

export class Writer {
  private buf: Buffer
  private len = 0
  constructor (initial = 256) { this.buf = Buffer.allocUnsafe(initial) }

  private ensure (n: number): void {
    if (this.len + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n))
    this.buf.copy(next, 0, 0, this.len)
    this.buf = next
  }

  u8 (v: number): this { this.ensure(1); this.buf[this.len++] = v & 0xff; return this }
  u32 (v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) fail('E_ENCODE_RANGE', 'u32 out of range', { value: v })
    this.ensure(4); this.buf.writeUInt32BE(v, this.len); this.len += 4; return this
  }

  u64 (v: bigint): this {
    if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) fail('E_ENCODE_RANGE', 'u64 out of range', { value: String(v) })
    this.ensure(8); this.buf.writeBigUInt64BE(v, this.len); this.len += 8; return this
  }

  fixed (b: Uint8Array, n: number): this {
    if (b.length !== n) fail('E_ENCODE_LENGTH', 'fixed field has wrong length', { expected: n, actual: b.length })
    this.ensure(n); this.buf.set(b, this.len); this.len += n; return this
  }

  bytes (b: Uint8Array): this { this.u32(b.length); this.ensure(b.length); this.buf.set(b, this.len); this.len += b.length; return this }

  finish (): Buffer { return this.buf.subarray(0, this.len) }
}

export class Reader {
  private pos = 0
  constructor (private readonly buf: Uint8Array, private readonly what: string) {}

  private need (n: number): void {
    if (this.pos + n > this.buf.length) fail('E_DECODE_SHORT', `${this.what}: input ends early`, { offset: this.pos, need: n, length: this.buf.length })
  }

  u8 (): number { this.need(1); return this.buf[this.pos++] }
  u32 (): number {
    this.need(4)
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 4).readUInt32BE(0)
    this.pos += 4
    return v
  }

  u64 (): bigint {
    this.need(8)
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 8).readBigUInt64BE(0)
    this.pos += 8
    return v
  }

  fixed (n: number): Uint8Array {
    this.need(n)
    const v = this.buf.slice(this.pos, this.pos + n)
    this.pos += n
    return v
  }

  bytes (max: number): Uint8Array {
    const n = this.u32()
    if (n > max) fail('E_DECODE_LENGTH', `${this.what}: field longer than allowed`, { length: n, max })
    return this.fixed(n)
  }

  count (max: number): number {
    const n = this.u32()
    if (n > max) fail('E_DECODE_LENGTH', `${this.what}: too many items`, { count: n, max })
    return n
  }

  remaining (): number { return this.buf.length - this.pos }

  end (): void {
    if (this.pos !== this.buf.length) fail('E_DECODE_TRAILING', `${this.what}: trailing bytes`, { trailing: this.buf.length - this.pos })
  }
}

export function toHex (b: Uint8Array): string { return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex') }

export function fromHex (s: string, n: number, what: string): Uint8Array {
  if (typeof s !== 'string' || s.length !== n * 2 || !/^[0-9a-f]*$/i.test(s)) fail('E_BAD_HEX', `${what} must be ${n * 2} hex characters`, { value: String(s).slice(0, 80) })
  return new Uint8Array(Buffer.from(s, 'hex'))
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}

export function compareBytes (a: Uint8Array, b: Uint8Array): number { return Buffer.compare(a, b) }
