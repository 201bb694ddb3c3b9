// Verifying `docker save` output before `docker load`, without trusting whoever sent it. An image ID is the
// sha256 of the image's config; the config lists the sha256 of every layer (rootfs.diff_ids, of the
// uncompressed layer tars); the archive's manifest.json names the config and the layer files. So: hash every
// file of the tar as it streams past, then check config hash = the offered image ID and layer hashes =
// diff_ids, in order. Any other byte changed breaks one of these hashes, or is not part of the image at all.
// Both layouts docker writes are read: `<id>.json` + `<layer>/layer.tar` (dockerd ≤ 24) and OCI `blobs/sha256/…`.
import { createHash, type Hash } from 'node:crypto'
import { fail } from './errors.js'

const BLOCK = 512
/** manifest.json, the config and PAX headers are read whole; more than this is not an image archive. */
const MAX_META_BYTES = 4 * 1024 * 1024
const MAX_ENTRIES = 100_000
/** Regular files up to this size are kept in memory (manifest, config), at most MAX_KEPT_TOTAL in all. */
const MAX_KEPT_FILE = 1024 * 1024
const MAX_KEPT_TOTAL = 32 * 1024 * 1024

interface Entry { name: string, size: number, type: string, link: string }

function cstring (b: Uint8Array, start: number, len: number): string {
  let end = start
  while (end < start + len && b[end] !== 0) end++
  return Buffer.from(b.subarray(start, end)).toString('utf8')
}

function octal (b: Uint8Array, start: number, len: number): number {
  if ((b[start] & 0x80) !== 0) fail('E_IMAGE_ARCHIVE', 'tar: base-256 sizes are not expected in an image archive')
  const text = cstring(b, start, len).trim()
  if (!/^[0-7]*$/.test(text)) fail('E_IMAGE_ARCHIVE', 'tar: a header field is not octal')
  return text === '' ? 0 : parseInt(text, 8)
}

function normal (path: string): string { return path.replace(/^\.\//, '').replace(/\/+$/, '') }

/** Resolve a symlink target relative to the link's directory (docker save links repeated layers). */
function resolveLink (from: string, target: string): string {
  const parts = target.startsWith('/') ? [] : from.split('/').slice(0, -1)
  for (const p of target.split('/')) {
    if (p === '' || p === '.') continue
    if (p === '..') parts.pop(); else parts.push(p)
  }
  return parts.join('/')
}

/** Streams a tar, keeping each regular file's sha256 (and the small metadata files' bytes). */
export class ImageArchiveVerifier {
  private pending = Buffer.alloc(0)
  private entry: Entry | null = null
  private remaining = 0
  private padding = 0
  private hash: Hash | null = null
  private meta: Buffer[] | null = null
  private paxPath: string | null = null
  private zeros = 0
  private entries = 0
  private kept = 0
  bytes = 0
  readonly hashes = new Map<string, string>()
  readonly links = new Map<string, string>()
  readonly metaFiles = new Map<string, Buffer>()

  push (chunk: Uint8Array): void {
    this.bytes += chunk.length
    let buf = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk])
    for (;;) {
      if (this.entry !== null) {
        const take = Math.min(this.remaining, buf.length)
        if (take > 0) {
          const part = buf.subarray(0, take)
          this.hash?.update(part)
          if (this.meta !== null) this.meta.push(Buffer.from(part))
          this.remaining -= take
          buf = buf.subarray(take)
        }
        if (this.remaining > 0) break
        const skip = Math.min(this.padding, buf.length)
        this.padding -= skip
        buf = buf.subarray(skip)
        if (this.padding > 0) break
        this.endEntry()
        continue
      }
      if (buf.length < BLOCK) break
      const header = buf.subarray(0, BLOCK)
      buf = buf.subarray(BLOCK)
      if (header.every((x) => x === 0)) { this.zeros++; continue }
      if (this.zeros > 0) fail('E_IMAGE_ARCHIVE', 'tar: data after the end-of-archive marker')
      this.beginEntry(header)
    }
    this.pending = Buffer.from(buf)
  }

  private beginEntry (h: Buffer): void {
    let sum = 0
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]
    if (sum !== octal(h, 148, 8)) fail('E_IMAGE_ARCHIVE', 'tar: a header checksum does not match (a damaged or tampered archive)')
    if (++this.entries > MAX_ENTRIES) fail('E_IMAGE_ARCHIVE', 'tar: too many entries for an image archive')
    const type = String.fromCharCode(h[156] === 0 ? 48 : h[156])
    const prefix = cstring(h, 257, 6).startsWith('ustar') ? cstring(h, 345, 155) : ''
    let name = cstring(h, 0, 100)
    if (prefix !== '') name = `${prefix}/${name}`
    if (this.paxPath !== null) { name = this.paxPath; this.paxPath = null }
    const size = octal(h, 124, 12)
    this.entry = { name: normal(name), size, type, link: cstring(h, 157, 100) }
    this.remaining = size
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK
    if ((type === 'x' || type === 'L') && size > MAX_META_BYTES) fail('E_IMAGE_ARCHIVE', 'tar: an extended header is too large')
    // small regular files are kept (the manifest, the config: in the OCI layout it has no .json name), within a total
    const keep = type === 'x' || type === 'L' || (type === '0' && size <= MAX_KEPT_FILE && this.kept + size <= MAX_KEPT_TOTAL)
    if (keep && type === '0') this.kept += size
    this.hash = type === '0' ? createHash('sha256') : null
    this.meta = keep ? [] : null
    if (this.remaining === 0 && this.padding === 0) this.endEntry()
  }

  private endEntry (): void {
    const e = this.entry!
    const data = this.meta === null ? null : Buffer.concat(this.meta)
    if (e.type === 'x' && data !== null) {
      // PAX: `<len> path=<name>\n` records; only the path matters here
      const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString('utf8'))
      if (m !== null) this.paxPath = m[1]
    } else if (e.type === 'L' && data !== null) {
      this.paxPath = data.toString('utf8').replace(/\0+$/, '')
    } else if (e.type === '0') {
      this.hashes.set(e.name, this.hash!.digest('hex'))
      if (data !== null) this.metaFiles.set(e.name, data)
    } else if (e.type === '2') {
      this.links.set(e.name, resolveLink(e.name, e.link))
    }
    this.entry = null
    this.hash = null
    this.meta = null
  }

  private hashOf (name: string): string | undefined {
    let n = normal(name)
    for (let i = 0; i < 8 && !this.hashes.has(n) && this.links.has(n); i++) n = this.links.get(n)!
    return this.hashes.get(n)
  }

  /** After the last byte: the archive is one image whose ID is `imageId` (64 hex), with every layer as listed. */
  finish (imageId: string): { config: string, layers: number, repoTags: string[] } {
    if (this.entry !== null || this.pending.length !== 0) fail('E_IMAGE_ARCHIVE', 'the archive ends in the middle of a file (a partial download?)')
    const manifestBytes = this.metaFiles.get('manifest.json')
    if (manifestBytes === undefined) fail('E_IMAGE_ARCHIVE', 'no manifest.json: not `docker save` output')
    let manifest: Array<{ Config?: unknown, Layers?: unknown, RepoTags?: unknown }>
    try { manifest = JSON.parse(manifestBytes.toString('utf8')) } catch { return fail('E_IMAGE_ARCHIVE', 'manifest.json is not JSON') }
    if (!Array.isArray(manifest) || manifest.length !== 1) fail('E_IMAGE_ARCHIVE', 'the archive must hold exactly one image')
    const m = manifest[0]
    if (typeof m.Config !== 'string' || !Array.isArray(m.Layers) || !m.Layers.every((l) => typeof l === 'string')) fail('E_IMAGE_ARCHIVE', 'manifest.json has no Config or Layers')
    const configHash = this.hashOf(m.Config)
    if (configHash !== imageId) fail('E_IMAGE_VERIFY', 'the image config does not hash to the offered image ID: refused', { expected: imageId.slice(0, 16), got: (configHash ?? 'none').slice(0, 16) })
    const config = this.metaFiles.get(normal(this.links.get(normal(m.Config)) ?? m.Config))
    if (config === undefined) fail('E_IMAGE_ARCHIVE', 'the image config is too large to check')
    let diffIds: unknown
    try { diffIds = (JSON.parse(config.toString('utf8')) as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids } catch { return fail('E_IMAGE_ARCHIVE', 'the image config is not JSON') }
    const layers = m.Layers as string[]
    if (!Array.isArray(diffIds) || diffIds.length !== layers.length) fail('E_IMAGE_VERIFY', 'the layers do not match the config\'s diff_ids')
    layers.forEach((l, i) => {
      if (`sha256:${this.hashOf(l) ?? ''}` !== diffIds[i]) fail('E_IMAGE_VERIFY', `layer ${i} does not hash to the config's diff_id: refused`, { layer: l.slice(0, 80) })
    })
    const repoTags = Array.isArray(m.RepoTags) ? (m.RepoTags as unknown[]).filter((t): t is string => typeof t === 'string') : []
    return { config: m.Config, layers: layers.length, repoTags }
  }
}
