// Workload images across the network. An offering node caches `docker save` output of each image it offers in
// a Hypercore of its own (IMAGE_CHUNK_BYTES blocks) and announces {ref, image ID, size, core key}; a node that
// lacks the image opens that core by key (replicated over the peer connections like the chain), reads it in
// order into a temp file while ImageArchiveVerifier hashes it, and only when the config hashes to the offered
// image ID and every layer to its diff_id does it `docker load` the file. Hypercore already refuses a block
// that does not match the core's signed tree, so a relaying peer cannot alter a chunk; the archive check
// refuses an offering node whose core is not the image it named. Nothing half-loaded is left: the temp file
// is removed whatever happens, and load only ever sees a verified archive.
import { createReadStream, createWriteStream, existsSync, mkdirSync, rmSync, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type Docker from 'dockerode'
import type { Express, NextFunction, Request, Response } from 'express'
import { EconumiError, fail, isEconumiError } from '../protocol/errors.js'
import { parseWith, z } from '../protocol/schema.js'
import { ImageArchiveVerifier } from '../protocol/image-archive.js'
import { IMAGE_CHUNK_BYTES, type ImageOffer, isImageReference, isInfrastructureImage } from '../protocol/wire.js'

export { isInfrastructureImage }
import { readJsonFileSync, writeFileAtomicSync } from './atomic-file.js'
import type { LogFn } from './log.js'

/** Default bound on one image download (`--max-image-size`). */
export const DEFAULT_MAX_IMAGE_BYTES = 4n * 1024n * 1024n * 1024n
/** Images this node caches for offering, at most. */
const MAX_CACHED = 64
/** Blocks appended per write while caching, and read ahead while downloading. */
const APPEND_BATCH = 32
const READ_AHEAD = 128
/** How long a download waits for a peer to serve the next block. */
const BLOCK_TIMEOUT_MS = 30_000

/**
 * Fault injection for the tests (ECONUMI_TEST_TAMPER_IMAGE_BLOCK=<n>): this node caches block n with one byte
 * flipped, as an offering node whose core is not the image it names would.
 */
function tamper (block: Buffer, index: number): Buffer {
  if (process.env.ECONUMI_TEST_TAMPER_IMAGE_BLOCK !== String(index)) return block
  const b = Buffer.from(block)
  b[Math.floor(b.length / 2)] ^= 0x01
  return b
}


interface CachedImage { ref: string, imageId: string, size: string, key: string, blocks: number, name: string }

export interface FetchProgress { bytes: number, total: number }

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

export class ImageLibrary {
  private cached = new Map<string, CachedImage>() // by image ID
  private readonly indexPath: string
  private readonly tmpDir: string
  private caching: Promise<void> = Promise.resolve()

  constructor (private readonly corestore: any, dataDir: string, private readonly docker: () => Docker, private readonly log: LogFn) {
    this.indexPath = join(dataDir, 'images.json')
    this.tmpDir = join(dataDir, 'tmp')
    if (existsSync(this.indexPath)) {
      try {
        const list = readJsonFileSync(this.indexPath, 'E_IMAGES_CORRUPT') as CachedImage[]
        if (Array.isArray(list)) for (const c of list) this.cached.set(c.imageId, c)
      } catch (err) {
        // only a cache: start empty (images are cached again on demand), and say so
        this.log('images-index-unreadable', { error: (err as Error).message })
      }
    }
    rmSync(this.tmpDir, { recursive: true, force: true }) // downloads a crash interrupted
  }

  private save (): void { writeFileAtomicSync(this.indexPath, JSON.stringify([...this.cached.values()], null, 2) + '\n', 0o600) }

  /** The offers for these local image references, caching (once per image ID) what is not cached yet. */
  async offer (refs: string[]): Promise<ImageOffer[]> {
    const run = this.caching.then(async () => await this.offerLocked(refs))
    this.caching = run.then(() => {}, () => {})
    return await run
  }

  private async offerLocked (refs: string[]): Promise<ImageOffer[]> {
    const offers: ImageOffer[] = []
    for (const ref of refs) {
      if (isInfrastructureImage(ref)) continue
      let id: string
      try {
        id = String((await this.docker().getImage(ref).inspect()).Id).replace(/^sha256:/, '')
      } catch (err) {
        // served from the cache even once the engine no longer has it: the core holds the whole archive
        const kept = [...this.cached.values()].find((c) => c.ref === ref)
        if (kept === undefined) { this.log('image-offer-skipped', { image: ref, error: (err as Error).message.split('\n')[0] }); continue }
        id = kept.imageId
      }
      let c = this.cached.get(id)
      if (c === undefined) {
        if (this.cached.size >= MAX_CACHED) { this.log('image-offer-skipped', { image: ref, error: `at most ${MAX_CACHED} images are offered` }); continue }
        try {
          c = await this.cache(ref, id)
        } catch (err) {
          this.log('image-offer-failed', { image: ref, error: (err as Error).message.split('\n')[0] })
          continue
        }
      }
      offers.push({ ref, imageId: Buffer.from(c.imageId, 'hex'), size: BigInt(c.size), core: Buffer.from(c.key, 'hex'), blocks: c.blocks })
    }
    return offers
  }

  /** `docker save` of one image into a new core of this node's, in IMAGE_CHUNK_BYTES blocks. */
  private async cache (ref: string, imageId: string): Promise<CachedImage> {
    const t0 = Date.now()
    // a fresh name per attempt: a core a crash left half-written is never mistaken for a whole image
    const name = `image-${imageId}-${randomBytes(4).toString('hex')}`
    const core = this.corestore.get({ name })
    await core.ready()
    const stream = await this.docker().getImage(ref).get() as unknown as NodeJS.ReadableStream
    let pending: Buffer = Buffer.alloc(0)
    let batch: Buffer[] = []
    let size = 0
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      while (pending.length >= IMAGE_CHUNK_BYTES) {
        batch.push(tamper(pending.subarray(0, IMAGE_CHUNK_BYTES), core.length + batch.length))
        pending = pending.subarray(IMAGE_CHUNK_BYTES)
        if (batch.length >= APPEND_BATCH) { await core.append(batch); batch = [] }
      }
    }
    if (pending.length > 0) batch.push(tamper(pending, core.length + batch.length))
    if (batch.length > 0) await core.append(batch)
    const c: CachedImage = { ref, imageId, size: String(size), key: hex(core.key), blocks: core.length, name }
    this.cached.set(imageId, c)
    this.save()
    this.log('image-cached', { image: ref, imageId: imageId.slice(0, 12), bytes: size, blocks: core.length, ms: Date.now() - t0 })
    return c
  }

  /**
   * Download an offered image from whichever peer serves its core, verify it against the offer, `docker load`
   * it. Refuses an offer over `maxBytes` before reading anything.
   */
  async fetch (offer: ImageOffer, maxBytes: bigint, onProgress: (p: FetchProgress) => void = () => {}): Promise<{ imageId: string, ref: string, bytes: number }> {
    const imageId = hex(offer.imageId)
    if (offer.size > maxBytes) fail('E_IMAGE_TOO_LARGE', `${offer.ref} is ${offer.size} bytes, more than the ${maxBytes} allowed (--max-image-size)`, { image: offer.ref, size: offer.size, max: maxBytes })
    const total = Number(offer.size)
    const t0 = Date.now()
    const core = this.corestore.get({ key: Buffer.from(offer.core) })
    await core.ready()
    mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 })
    const file = join(this.tmpDir, `${imageId}-${randomBytes(4).toString('hex')}.tar`)
    const out: WriteStream = createWriteStream(file, { mode: 0o600 })
    const verifier = new ImageArchiveVerifier()
    try {
      let read = 0
      const range = core.download({ start: 0, end: offer.blocks })
      try {
        const ahead: Array<Promise<Buffer | null>> = []
        for (let i = 0; i < offer.blocks; i++) {
          while (ahead.length < READ_AHEAD && i + ahead.length < offer.blocks) {
            const p = core.get(i + ahead.length, { timeout: BLOCK_TIMEOUT_MS }) as Promise<Buffer | null>
            p.catch(() => {}) // read ahead: a refusal below abandons these, and their timeouts must not crash the node
            ahead.push(p)
          }
          let block: Buffer | null
          try {
            block = await ahead.shift()!
          } catch (err) {
            return fail('E_IMAGE_UNAVAILABLE', `no peer served block ${i} of ${offer.ref} within ${BLOCK_TIMEOUT_MS / 1000} s (${(err as Error).message.split('\n')[0]}); the offering node may be gone`, { image: offer.ref })
          }
          if (block === null) fail('E_IMAGE_UNAVAILABLE', `block ${i} of ${offer.ref} is not available`, { image: offer.ref })
          if (i < offer.blocks - 1 ? block.length !== IMAGE_CHUNK_BYTES : block.length > IMAGE_CHUNK_BYTES) fail('E_IMAGE_VERIFY', `block ${i} of ${offer.ref} has the wrong size: refused`, { image: offer.ref })
          read += block.length
          if (read > total) fail('E_IMAGE_VERIFY', `${offer.ref} is longer than offered: refused`, { image: offer.ref })
          verifier.push(block)
          if (!out.write(block)) await new Promise<void>((resolve) => out.once('drain', () => resolve()))
          onProgress({ bytes: read, total })
        }
      } finally {
        range.destroy?.()
      }
      await new Promise<void>((resolve, reject) => { out.end(() => resolve()); out.once('error', reject) })
      if (read !== total) fail('E_IMAGE_VERIFY', `${offer.ref}: ${read} bytes arrived, ${total} were offered: refused`, { image: offer.ref })
      const archive = verifier.finish(imageId)
      const downloadMs = Date.now() - t0
      await this.load(file)
      const loaded = String((await this.docker().getImage(`sha256:${imageId}`).inspect()).Id).replace(/^sha256:/, '')
      if (loaded !== imageId) fail('E_IMAGE_VERIFY', 'dockerd loaded another image than the one verified', { image: offer.ref })
      if (!archive.repoTags.includes(offer.ref)) {
        const [repo, tag] = splitRef(offer.ref)
        await this.docker().getImage(`sha256:${imageId}`).tag({ repo, tag })
      }
      this.log('image-fetched', { image: offer.ref, imageId: imageId.slice(0, 12), bytes: read, downloadMs, loadMs: Date.now() - t0 - downloadMs })
      return { imageId, ref: offer.ref, bytes: read }
    } finally {
      out.destroy()
      rmSync(file, { force: true })
    }
  }

  private async load (file: string): Promise<void> {
    const res = await this.docker().loadImage(createReadStream(file), { quiet: true }) as unknown as NodeJS.ReadableStream
    let text = ''
    for await (const c of res as AsyncIterable<Buffer>) text += c.toString()
    if (/"error"/.test(text)) fail('E_IMAGE_LOAD', `docker load refused the image: ${text.slice(0, 300)}`)
  }
}

/** `repo[:tag]` (a digest reference is not re-tagged). */
function splitRef (ref: string): [string, string] {
  const slash = ref.lastIndexOf('/')
  const colon = ref.lastIndexOf(':')
  return colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest']
}

const FETCH_BODY = z.object({ ref: z.string().max(200) }).strict()
/** Downloads at once, at most (each holds a temp file and a core range). */
const MAX_FETCHES = 2

/**
 * `POST /v1/images/fetch {"ref"}`: download a peer's offer of the image, verify it, load it. The answer is
 * NDJSON: `{"offer"}`, then `{"progress":{"bytes","total"}}` lines (at most 5 a second), then `{"done"}` or
 * `{"error":{"code","message"}}`.
 */
export function imageRoutes (app: Express, node: { findOffer: (ref: string) => { nodeId: string, offer: ImageOffer } | null }, library: ImageLibrary, maxBytes: bigint): void {
  const inFlight = new Set<string>()
  app.post('/v1/images/fetch', (req: Request, res: Response, next: NextFunction) => {
    let ref: string
    try {
      ref = parseWith(FETCH_BODY, req.body ?? null, 'E_BAD_REQUEST', 'request body (expected {"ref": "<image>"})').ref
      if (!isImageReference(ref) && !/^(sha256:)?[0-9a-f]{64}$/.test(ref)) fail('E_BAD_IMAGE_NAME', 'not an image reference', { image: ref.slice(0, 80) })
      if (inFlight.size >= MAX_FETCHES || inFlight.has(ref)) fail('E_IMAGE_BUSY', `the node is already downloading ${inFlight.has(ref) ? 'this image' : `${MAX_FETCHES} images`}; try again when it is done`)
    } catch (err) { next(err); return }
    const found = node.findOffer(ref)
    if (found === null) { next(new EconumiError('E_IMAGE_NOT_OFFERED', `no connected peer offers ${ref} (\`show images\` in econumi console lists what peers offer)`, { image: ref })); return }
    inFlight.add(ref)
    const { offer } = found
    res.status(200).type('application/x-ndjson')
    res.write(JSON.stringify({ offer: { ref: offer.ref, imageId: hex(offer.imageId), size: offer.size.toString(), nodeId: found.nodeId } }) + '\n')
    let last = 0
    library.fetch(offer, maxBytes, (p) => {
      const now = Date.now()
      if (now - last >= 200 || p.bytes === p.total) { last = now; res.write(JSON.stringify({ progress: p }) + '\n') }
    }).then(
      (done) => { res.end(JSON.stringify({ done }) + '\n') },
      (err: unknown) => { res.end(JSON.stringify({ error: { code: isEconumiError(err) ? err.code : 'E_IMAGE_FETCH', message: (err as Error).message.split('\n')[0] } }) + '\n') }
    ).finally(() => { inFlight.delete(ref) })
  })
}
