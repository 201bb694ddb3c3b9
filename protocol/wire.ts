// Peer messages on the `econumi/2` protomux channel. One frame = type byte ‖ payload; every decoder
// checks exact sizes so garbage is rejected before it reaches the chain.
import { MAX_FRAUD_OP_BYTES, type Op, readOp, writeOp } from './ops.js'
import { Reader, Writer } from './encoding.js'
import { fail } from './errors.js'
import { HASH_LENGTH } from './hash.js'
import { REPORT_LENGTH, type WorkReport, decodeReport, encodeReport } from './report.js'
import { TX_LENGTH } from './transaction.js'

export const WIRE_VERSION = 2
export const MAX_FRAME_BYTES = 4096

export const MSG_HELLO = 1
export const MSG_TX = 2
/** A work report for the next block producers to include (claims no longer travel alone: a leader's is in its block). */
export const MSG_REPORT = 3
export const MSG_TIP = 4
export const MSG_CORES = 5
export const MAX_CORES_PER_MESSAGE = 64
export const MSG_IMAGES = 6
export const MAX_IMAGES_PER_MESSAGE = 64
/** A block operation (registration, unbonding, equivocation evidence: protocol/ops.ts), as its encoding. */
export const MSG_OP = 7
/**
 * A fraud operation too large for a frame (node/fraud-relay.ts): its op hash and where it is, as one block of an
 * attestations core. Announces only; the receiver fetches the block and checks it before anything else.
 */
export const MSG_FRAUD = 8
/** The largest block an announcement may point at: a fraud operation after its record tag. */
export const MAX_FRAUD_RECORD_BYTES = 1 + MAX_FRAUD_OP_BYTES
export interface FraudAnnouncement { op: Uint8Array, core: Uint8Array, seq: number, bytes: number }
/**
 * Docker's image reference grammar: [registry[:port]/]path[:tag][@digest], lowercase path components. One
 * definition for what peers announce and what operators type (cli/config-file.ts), so any image a peer
 * offers can be started from the console.
 */
export const IMAGE_REFERENCE = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\.[a-z0-9-]+)*(?::\d{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/

export function isImageReference (s: string): boolean { return s.length <= 200 && IMAGE_REFERENCE.test(s) }

/** econumi's own images are infrastructure, not workloads: never listed or offered as such. */
export function isInfrastructureImage (ref: string): boolean {
  return /^econumi\/(econumi-node|agent|plugin|node-base)(:|@|$)/.test(ref) || /(^|\/)econumi:/.test(ref)
}

/** What a peer says its head is: shown as sync progress, never acted on until its blocks are verified. */
export interface TipAnnouncement { height: bigint, hash: Uint8Array }
export interface Hello { genesis: Uint8Array, blocksCore: Uint8Array, recordsCore: Uint8Array, tip: TipAnnouncement | null }

/**
 * An image a node serves: its reference, the image ID (sha256 of its config: what the downloader verifies the
 * `docker save` output against), the size of that output, and the Hypercore that holds it in CHUNK-sized blocks.
 */
export interface ImageOffer { ref: string, imageId: Uint8Array, size: bigint, core: Uint8Array, blocks: number }
/** Blocks of an image core: `docker save` output cut in pieces of this size (the last one shorter). */
export const IMAGE_CHUNK_BYTES = 64 * 1024

export type WireMessage =
  | { type: typeof MSG_HELLO, hello: Hello }
  | { type: typeof MSG_TX, tx: Uint8Array }
  | { type: typeof MSG_REPORT, report: WorkReport }
  | { type: typeof MSG_TIP, tip: TipAnnouncement }
  | { type: typeof MSG_CORES, cores: Uint8Array[] }
  | { type: typeof MSG_IMAGES, images: ImageOffer[] }
  | { type: typeof MSG_OP, op: Op }
  | { type: typeof MSG_FRAUD, fraud: FraudAnnouncement }

function writeTip (w: Writer, tip: TipAnnouncement | null): Writer {
  if (tip === null) return w.u8(0)
  return w.u8(1).u64(tip.height).fixed(tip.hash, HASH_LENGTH)
}

function readTip (r: Reader): TipAnnouncement | null {
  const present = r.u8()
  if (present === 0) return null
  if (present !== 1) fail('E_WIRE_BAD', 'bad tip flag', { flag: present })
  return { height: r.u64(), hash: r.fixed(HASH_LENGTH) }
}

export function encodeMessage (m: WireMessage): Uint8Array {
  const w = new Writer(256).u8(WIRE_VERSION).u8(m.type)
  switch (m.type) {
    case MSG_HELLO: writeTip(w.fixed(m.hello.genesis, HASH_LENGTH).fixed(m.hello.blocksCore, 32).fixed(m.hello.recordsCore, 32), m.hello.tip); break
    case MSG_TX: w.fixed(m.tx, TX_LENGTH); break
    case MSG_REPORT: w.fixed(encodeReport(m.report), REPORT_LENGTH); break
    case MSG_TIP: writeTip(w, m.tip); break
    case MSG_IMAGES:
      w.u32(m.images.length)
      for (const i of m.images) w.bytes(Buffer.from(i.ref)).fixed(i.imageId, 32).u64(i.size).fixed(i.core, 32).u32(i.blocks)
      break
    case MSG_OP: writeOp(w, m.op); break
    case MSG_FRAUD: w.fixed(m.fraud.op, HASH_LENGTH).fixed(m.fraud.core, 32).u32(m.fraud.seq).u32(m.fraud.bytes); break
    case MSG_CORES:
      w.u32(m.cores.length)
      for (const k of m.cores) w.fixed(k, 32)
      break
  }
  return w.finish()
}

export function decodeMessage (bytes: Uint8Array): WireMessage {
  if (!(bytes instanceof Uint8Array)) fail('E_WIRE_BAD', 'message is not bytes')
  if (bytes.length > MAX_FRAME_BYTES) fail('E_WIRE_OVERSIZE', 'message larger than allowed', { size: bytes.length, max: MAX_FRAME_BYTES })
  const r = new Reader(bytes, 'peer message')
  const version = r.u8()
  if (version !== WIRE_VERSION) fail('E_WIRE_VERSION', 'unknown wire version', { version })
  const type = r.u8()
  let m: WireMessage
  switch (type) {
    case MSG_HELLO: m = { type, hello: { genesis: r.fixed(HASH_LENGTH), blocksCore: r.fixed(32), recordsCore: r.fixed(32), tip: readTip(r) } }; break
    case MSG_TX: m = { type, tx: r.fixed(TX_LENGTH) }; break
    case MSG_REPORT: m = { type, report: decodeReport(r.fixed(REPORT_LENGTH)) }; break
    case MSG_TIP: {
      const tip = readTip(r)
      if (tip === null) fail('E_WIRE_BAD', 'tip announcement without a tip')
      m = { type, tip }
      break
    }
    case MSG_IMAGES: {
      const n = r.count(MAX_IMAGES_PER_MESSAGE)
      const images: ImageOffer[] = []
      for (let i = 0; i < n; i++) {
        const ref = Buffer.from(r.bytes(200)).toString('utf8')
        if (!isImageReference(ref)) fail('E_WIRE_BAD', 'announced image is not an image reference', { image: ref.slice(0, 60) })
        const offer = { ref, imageId: r.fixed(32), size: r.u64(), core: r.fixed(32), blocks: r.u32() }
        // the blocks must be exactly the size cut in chunks: a core of other length is not this image
        if (BigInt(offer.blocks) !== (offer.size + BigInt(IMAGE_CHUNK_BYTES) - 1n) / BigInt(IMAGE_CHUNK_BYTES)) fail('E_WIRE_BAD', 'image offer: blocks do not match the size', { image: ref.slice(0, 60) })
        images.push(offer)
      }
      m = { type, images }
      break
    }
    case MSG_OP: m = { type, op: readOp(r) }; break
    case MSG_FRAUD: {
      const fraud = { op: r.fixed(HASH_LENGTH), core: r.fixed(32), seq: r.u32(), bytes: r.u32() }
      if (fraud.bytes < 2 || fraud.bytes > MAX_FRAUD_RECORD_BYTES) fail('E_WIRE_BAD', 'fraud announcement: length out of range', { bytes: fraud.bytes, max: MAX_FRAUD_RECORD_BYTES })
      m = { type, fraud }
      break
    }
    case MSG_CORES: {
      const n = r.count(MAX_CORES_PER_MESSAGE)
      const cores: Uint8Array[] = []
      for (let i = 0; i < n; i++) cores.push(r.fixed(32))
      m = { type, cores }
      break
    }
    default: return fail('E_WIRE_TYPE', 'unknown message type', { type })
  }
  r.end()
  return m
}
