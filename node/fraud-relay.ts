// Fraud proofs larger than a wire frame (DESIGN.md "Evidence and audits"). A miscredit carries the whole evidence
// of an epoch (up to MAX_EVIDENCE_BYTES), far beyond MAX_FRAME_BYTES; without this only the auditors that lead could
// include one. The simplest sound path, with nothing new to replicate:
//  1. Its auditor appends the operation to its own attestations core (FRAUD_RECORD_TAG ‖ encodeOp), which peers
//     already replicate for the evidence, and gossips a MSG_FRAUD announcement of 72 bytes: the op's hash and its
//     location (core key, block index, length).
//  2. A peer that hears one it does not hold fetches that one block — the announced length is at most
//     MAX_FRAUD_RECORD_BYTES (the decoder refuses more), at most MAX_FRAUD_FETCHES fetches run at once and each
//     peer may announce ANNOUNCES_PER_PEER_PER_EPOCH — and checks that it is that length and hashes to the
//     announced op. Only then does the op go to Gossip.acceptOp, which verifies the proof (checkFraudProof) and
//     the op's signature before pooling it, and only a pooled op is announced onward, at the same location (the
//     relayer now holds the block and serves it too). An announcement alone changes nothing.
//  3. Charges (protocol/error-codes.ts): a block that is not what was announced (length, tag, hash, decoding) is
//     the announcer's lie — a core's blocks are signed by its owner and never change, and a relayer announces only
//     what it checked — as is a false proof (acceptOp charges it). A block no peer serves in time proves nothing:
//     not charged, and fetched again on the next announcement.
// Left as is: Hypercore has no public way to learn a block's size before downloading it, so a liar's core can make
// one fetch download a block larger than announced once (then it is charged, and banned after a few).
import { FRAUD_RECORD_TAG, encodeFraudRecord } from '../protocol/attestation.js'
import { FORGED_PENALTY, chargeAtLeast } from '../protocol/error-codes.js'
import { isEconumiError } from '../protocol/errors.js'
import { toHex } from '../protocol/encoding.js'
import { type Op, decodeOp, encodeOp, encodedOpHash } from '../protocol/ops.js'
import { type FraudAnnouncement, MSG_FRAUD } from '../protocol/wire.js'
import type { NodeContext } from './context.js'
import type { Peer } from './network.js'

/** Fetches of announced blocks at once; beyond, an announcement is ignored (a local limit: never charged). */
export const MAX_FRAUD_FETCHES = 8
/** Announcements one peer may make per epoch (an auditor finds a few frauds an epoch, not dozens). */
export const ANNOUNCES_PER_PEER_PER_EPOCH = 16
/** Locations of pooled large operations remembered (to announce them to new peers), and ops already judged. */
const MAX_LOCATIONS = 1024
const MAX_JUDGED = 4096
const FETCH_TIMEOUT_MS = 10_000

export type FraudLocation = Omit<FraudAnnouncement, 'op'>

export class FraudRelay {
  private readonly locations = new Map<string, FraudLocation>()
  private readonly fetching = new Set<string>()
  /** Ops whose announced block was fetched and judged (valid or not): not fetched again. */
  private readonly judged = new Set<string>()
  private readonly quota = new Map<string, { epoch: bigint, n: number }>()

  constructor (
    private readonly ctx: NodeContext,
    /** Gossip.acceptOp for a fetched op, with where it came from (to announce it onward from there). */
    private readonly accept: (op: Op, from: Peer, at: FraudLocation) => Promise<boolean>,
    /** Is this op pooled (already held)? */
    private readonly pooled: (id: string) => boolean
  ) {}

  /** A pooled op too large for a frame: published in this node's core unless it came from elsewhere, then announced. */
  async announce (op: Op, id: string, from: Peer | null, at?: FraudLocation): Promise<void> {
    let loc = at ?? this.locations.get(id)
    if (loc === undefined) {
      const record = encodeFraudRecord(encodeOp(op))
      const seq = await this.ctx.store.appendRecord(record)
      loc = { core: this.ctx.store.records.key, seq, bytes: record.length }
      this.ctx.log('fraud-published', { op: id.slice(0, 16), seq, bytes: record.length })
    }
    this.locations.set(id, loc)
    if (this.locations.size > MAX_LOCATIONS) this.locations.delete(this.locations.keys().next().value as string)
    this.ctx.network?.broadcast({ type: MSG_FRAUD, fraud: { op: Buffer.from(id, 'hex'), ...loc } }, from ?? undefined)
  }

  /** A peer that just connected hears of the large ops still pooled. */
  onPeer (peer: Peer): void {
    for (const [id, loc] of this.locations) {
      if (this.pooled(id)) peer.send({ type: MSG_FRAUD, fraud: { op: Buffer.from(id, 'hex'), ...loc } })
      else this.locations.delete(id)
    }
  }

  onPeerGone (peer: Peer): void { this.quota.delete(peer.id) }

  /** A peer's announcement: fetch the block, check it is the announced op, and hand it to acceptOp. */
  async onAnnouncement (peer: Peer, a: FraudAnnouncement): Promise<void> {
    const id = toHex(a.op)
    if (this.pooled(id) || this.judged.has(id) || this.fetching.has(id) || this.ctx.closed) return
    const epoch = this.ctx.clock.current()
    const q = this.quota.get(peer.id)
    if (q === undefined || q.epoch !== epoch) this.quota.set(peer.id, { epoch, n: 1 })
    else if (++q.n > ANNOUNCES_PER_PEER_PER_EPOCH) return
    if (this.fetching.size >= MAX_FRAUD_FETCHES) { this.ctx.log('fraud-fetch-dropped', { op: id.slice(0, 16), reason: 'too many fetches' }); return }
    this.fetching.add(id)
    try {
      const core = await this.ctx.store.core(toHex(a.core))
      let b: Buffer | null = null
      try { b = await core.get(a.seq, { wait: true, timeout: FETCH_TIMEOUT_MS }) } catch { b = null }
      if (b === null || this.ctx.closed) return // nobody served it (yet): unprovable, not charged
      this.judged.add(id)
      if (this.judged.size > MAX_JUDGED) this.judged.delete(this.judged.values().next().value as string)
      const charge = (code: string, points: number): void => {
        this.ctx.log('fraud-announce-refused', { op: id.slice(0, 16), peer: peer.id.slice(0, 16), code })
        this.ctx.network?.penalize(peer, points, code)
      }
      if (b.length !== a.bytes || b[0] !== FRAUD_RECORD_TAG || toHex(encodedOpHash(b.subarray(1))) !== id) { charge('E_FRAUD_ANNOUNCE', FORGED_PENALTY); return }
      let op: Op
      try { op = decodeOp(b.subarray(1)) } catch (err) {
        if (!isEconumiError(err)) throw err
        charge(err.code, chargeAtLeast(err.code, FORGED_PENALTY))
        return
      }
      if (op.kind !== 'fraud') { charge('E_FRAUD_ANNOUNCE', FORGED_PENALTY); return }
      this.ctx.log('fraud-fetched', { op: id.slice(0, 16), peer: peer.id.slice(0, 16), bytes: b.length })
      await this.accept(op, peer, { core: a.core, seq: a.seq, bytes: a.bytes })
    } finally {
      this.fetching.delete(id)
    }
  }
}
