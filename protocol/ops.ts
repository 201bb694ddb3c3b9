// Block operations: the admission and punishment items a block carries next to its work reports
// (DESIGN.md "Admission"). All of them change ledger state in applyBlock, so reorgs undo them and reindex
// rebuilds them.
//
// - register: consortium: the node CA certificate, issued by a genesis root, whose econumi extension names the
//   node key and its capacity (the root's signature on the capacity is the cap); open: a bond of at least
//   capacity × bondPerMillicore, locked from the owner's balance, signed by the node and the owner.
// - unregister: consortium: leaves at once; open: starts the unbonding delay (> the reorg bound K), during which
//   the bond can still be slashed.
// - withdraw: open: after the delay, the bond returns to its owner.
// - equivocation: two headers signed by one leader for one epoch, or two work reports of one node for one epoch.
//   The node is ejected and its weight voided; in open mode its bond is slashed (Ethereum: a 1/512
//   whistleblower reward to the including leader, the rest burned).
// - fraud: a fraud proof (protocol/fraud.ts) against work reports, signed by its reporter. Its offenders are
//   ejected and their weight voided; in open mode their bonds are slashed, 1/FRAUD_REPORTER_QUOTIENT to the
//   reporter, the rest burned.
//
// Replay: every register/unregister/withdraw names the node record's `seq`, which each of them increments.
import { eco } from './amount.js'
import { X509Certificate } from 'node:crypto'
import forge from 'node-forge'
import { ADDRESS_BYTES, ADDRESS_VERSION, addressFromPublicKey, encodeAddress } from './address.js'
import { Reader, Writer, equalBytes, toHex } from './encoding.js'
import { fail } from './errors.js'
import { merkleRoot, taggedHash } from './hash.js'
import { type BlockHeader, SIGNED_HEADER_LENGTH, blockHash, readHeader, verifyHeaderSignature, writeHeader } from './header.js'
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, type Signer, verify } from './keys.js'
import type { NetworkParams } from './params.js'
import { type WorkReport, checkReportSignature, encodeReport, readReport, writeReport } from './report.js'
import { type FraudProof, MAX_FRAUD_PROOF_BYTES, decodeFraudProof, encodedFraudProofHash, encodeFraudProof, fraudProofHash, namedReports } from './fraud.js'
import { MAX_CERT_BYTES, MAX_MEMORY_BYTES, MAX_MILLICORES } from './limits.js'

export { MAX_CERT_BYTES, MAX_MEMORY_BYTES, MAX_MILLICORES } from './limits.js'

export const MAX_BLOCK_OPS = 64
/** Every operation but a fraud one. */
export const MAX_OP_BYTES = 1 + PUBLIC_KEY_LENGTH + 8 * 4 + PUBLIC_KEY_LENGTH + 4 + MAX_CERT_BYTES + 2 * SIGNATURE_LENGTH + 2 * SIGNED_HEADER_LENGTH
/** A fraud operation's bytes besides its proof: kind, reporter, signature, the proof's length. */
export const FRAUD_OP_OVERHEAD = 1 + PUBLIC_KEY_LENGTH + SIGNATURE_LENGTH + 4
export const MAX_FRAUD_OP_BYTES = FRAUD_OP_OVERHEAD + MAX_FRAUD_PROOF_BYTES
/** Fraud proofs in one block, in all: one maximal proof (a miscredit carries a whole evidence) or several excerpts. */
export const MAX_BLOCK_FRAUD_BYTES = MAX_FRAUD_PROOF_BYTES
/** Ethereum's WHISTLEBLOWER_REWARD_QUOTIENT: the including leader gets bond/512 of a slashed bond. */
export const WHISTLEBLOWER_QUOTIENT = 512n
/**
 * A fraud reporter gets bond/8 of each offender's slashed bond: an audit costs the evidence's download and check,
 * far more than noticing an equivocation, and the rest is still burned, so a node reporting itself loses 7/8.
 */
export const FRAUD_REPORTER_QUOTIENT = 8n
/**
 * The X.509 extension of a node CA certificate that carries the node key and its capacity: an OCTET STRING of
 * nodeKey(32) ‖ u64 millicores ‖ u64 memoryBytes. (A private-enterprise-style arc; with OpenSSL:
 * `-addext 1.3.6.1.4.1.59999.1.1=DER:0430<96 hex digits>`.)
 */
export const CAPACITY_OID = '1.3.6.1.4.1.59999.1.1'

const KIND = { register: 1, unregister: 2, withdraw: 3, equivocation: 4, fraud: 5 } as const
const NO_KEY = new Uint8Array(PUBLIC_KEY_LENGTH)
const NO_SIGNATURE = new Uint8Array(SIGNATURE_LENGTH)

export interface RegisterOp {
  kind: 'register'
  nodeKey: Uint8Array
  seq: bigint
  millicores: bigint
  memoryBytes: bigint
  /** open: the bond, locked from the owner's balance; consortium: 0 */
  bond: bigint
  /** open: the bond owner's public key; consortium: zeros */
  owner: Uint8Array
  /** consortium: the node CA certificate (DER); open: empty */
  certDer: Uint8Array
  nodeSignature: Uint8Array
  ownerSignature: Uint8Array
}

export interface UnregisterOp { kind: 'unregister', nodeKey: Uint8Array, seq: bigint, signature: Uint8Array }
/** `owner` (a raw address) is named so the block's touched accounts are known before the ledger is read; it must match. */
export interface WithdrawOp { kind: 'withdraw', nodeKey: Uint8Array, seq: bigint, owner: Uint8Array, signature: Uint8Array }

export interface SignedHeader { header: BlockHeader, signature: Uint8Array }
export type Equivocation =
  | { type: 'blocks', a: SignedHeader, b: SignedHeader }
  | { type: 'reports', a: WorkReport, b: WorkReport }
export interface EquivocationOp { kind: 'equivocation', evidence: Equivocation }
/** `reporter` (an Ed25519 key) signs fraudOpMessage: the producer cannot redirect the reporter's share. */
export interface FraudOp { kind: 'fraud', proof: FraudProof, reporter: Uint8Array, signature: Uint8Array }

export type Op = RegisterOp | UnregisterOp | WithdrawOp | EquivocationOp | FraudOp

function writeBody (w: Writer, op: Op): Writer {
  w.u8(KIND[op.kind])
  switch (op.kind) {
    case 'register':
      return w.fixed(op.nodeKey, PUBLIC_KEY_LENGTH).u64(op.seq).u64(op.millicores).u64(op.memoryBytes).u64(op.bond)
        .fixed(op.owner, PUBLIC_KEY_LENGTH).bytes(op.certDer)
    case 'unregister': return w.fixed(op.nodeKey, PUBLIC_KEY_LENGTH).u64(op.seq)
    case 'withdraw': return w.fixed(op.nodeKey, PUBLIC_KEY_LENGTH).u64(op.seq).fixed(op.owner, ADDRESS_BYTES)
    case 'equivocation': {
      const e = op.evidence
      if (e.type === 'blocks') {
        w.u8(1)
        for (const s of [e.a, e.b]) writeHeader(w, s.header).fixed(s.signature, SIGNATURE_LENGTH)
        return w
      }
      w.u8(2)
      return writeReport(writeReport(w, e.a), e.b)
    }
    // the whole operation: its signature is over the proof's hash (fraudOpMessage), not over these bytes
    case 'fraud': return w.fixed(op.reporter, PUBLIC_KEY_LENGTH).fixed(op.signature, SIGNATURE_LENGTH).bytes(encodeFraudProof(op.proof))
  }
}

function signingMessage (op: Op, genesis: Uint8Array): Uint8Array {
  return taggedHash('op-sign', genesis, writeBody(new Writer(256), op).finish())
}

export function writeOp (w: Writer, op: Op): Writer {
  writeBody(w, op)
  if (op.kind === 'register') return w.fixed(op.nodeSignature, SIGNATURE_LENGTH).fixed(op.ownerSignature, SIGNATURE_LENGTH)
  if (op.kind === 'unregister' || op.kind === 'withdraw') return w.fixed(op.signature, SIGNATURE_LENGTH)
  return w
}

export function encodeOp (op: Op): Uint8Array { return writeOp(new Writer(512), op).finish() }

export function readOp (r: Reader): Op {
  const kind = r.u8()
  switch (kind) {
    case KIND.register: {
      const nodeKey = r.fixed(PUBLIC_KEY_LENGTH)
      const seq = r.u64()
      const millicores = r.u64()
      const memoryBytes = r.u64()
      const bond = r.u64()
      const owner = r.fixed(PUBLIC_KEY_LENGTH)
      const certDer = r.bytes(MAX_CERT_BYTES)
      return { kind: 'register', nodeKey, seq, millicores, memoryBytes, bond, owner, certDer, nodeSignature: r.fixed(SIGNATURE_LENGTH), ownerSignature: r.fixed(SIGNATURE_LENGTH) }
    }
    case KIND.unregister: return { kind: 'unregister', nodeKey: r.fixed(PUBLIC_KEY_LENGTH), seq: r.u64(), signature: r.fixed(SIGNATURE_LENGTH) }
    case KIND.withdraw: {
      const nodeKey = r.fixed(PUBLIC_KEY_LENGTH)
      const seq = r.u64()
      const owner = r.fixed(ADDRESS_BYTES)
      if (owner[0] !== ADDRESS_VERSION) fail('E_OP_DECODE', 'withdrawal owner address has an unknown version', { version: owner[0] })
      return { kind: 'withdraw', nodeKey, seq, owner, signature: r.fixed(SIGNATURE_LENGTH) }
    }
    case KIND.equivocation: {
      const type = r.u8()
      if (type === 1) {
        const a = { header: readHeader(r), signature: r.fixed(SIGNATURE_LENGTH) }
        return { kind: 'equivocation', evidence: { type: 'blocks', a, b: { header: readHeader(r), signature: r.fixed(SIGNATURE_LENGTH) } } }
      }
      if (type === 2) return { kind: 'equivocation', evidence: { type: 'reports', a: readReport(r), b: readReport(r) } }
      return fail('E_OP_DECODE', 'unknown equivocation evidence type', { type })
    }
    case KIND.fraud: {
      const reporter = r.fixed(PUBLIC_KEY_LENGTH)
      const signature = r.fixed(SIGNATURE_LENGTH)
      return { kind: 'fraud', reporter, signature, proof: decodeFraudProof(r.bytes(MAX_FRAUD_PROOF_BYTES)) }
    }
    default: return fail('E_OP_DECODE', 'unknown block operation', { kind })
  }
}

export function decodeOp (bytes: Uint8Array): Op {
  const max = bytes[0] === KIND.fraud ? MAX_FRAUD_OP_BYTES : MAX_OP_BYTES
  if (bytes.length > max) fail('E_OP_DECODE', 'operation is larger than allowed', { size: bytes.length, max })
  const r = new Reader(bytes, 'operation')
  const op = readOp(r)
  r.end()
  return op
}

export function opHash (op: Op): Uint8Array { return encodedOpHash(encodeOp(op)) }
/** opHash of an operation's encoding (a caller that holds it already: a fraud operation's can be megabytes). */
export function encodedOpHash (bytes: Uint8Array): Uint8Array { return taggedHash('op', bytes) }
export function computeOpRoot (ops: Op[]): Uint8Array { return merkleRoot(ops.map(opHash)) }

/**
 * The node an operation is about (the offender, for evidence). For a fraud proof the offenders are only known
 * once it is checked; this is the node of its first named report, which is its first offender if it holds.
 */
export function opNode (op: Op): Uint8Array {
  if (op.kind === 'fraud') return namedReports(op.proof)[0].nodeKey
  if (op.kind !== 'equivocation') return op.nodeKey
  return op.evidence.type === 'blocks' ? op.evidence.a.header.winner.nodeKey : op.evidence.a.nodeKey
}

/** Every node an operation may change the record of (applyBlock's reads): opNode, and a fraud proof's other report's. */
export function opNodes (op: Op): Uint8Array[] {
  if (op.kind !== 'fraud') return [opNode(op)]
  const keys = namedReports(op.proof).map((r) => r.nodeKey)
  return keys.filter((k, i) => keys.findIndex((x) => equalBytes(x, k)) === i)
}

/** The epoch an equivocation happened in. */
export function evidenceEpoch (e: Equivocation): bigint { return e.type === 'blocks' ? e.a.header.epoch : e.a.epoch }

/** Accounts an operation moves money for (bond owner, fraud reporter). */
export function opAddress (op: Op): string | null {
  if (op.kind === 'register' && !equalBytes(op.owner, NO_KEY)) return addressFromPublicKey(op.owner)
  if (op.kind === 'withdraw') return encodeAddress(op.owner)
  if (op.kind === 'fraud') return addressFromPublicKey(op.reporter)
  return null
}

// ---- making operations (the CLI and the node) -------------------------------------------------------------

export function makeConsortiumRegistration (node: Signer, genesis: Uint8Array, seq: bigint, certDer: Uint8Array): RegisterOp {
  const cap = capacityExtension(certDer)
  if (cap === null) fail('E_REGISTER_CERT', `the node CA certificate has no econumi capacity extension (${CAPACITY_OID}); ask the root CA to issue it with one`)
  const op: RegisterOp = { kind: 'register', nodeKey: node.publicKey, seq, millicores: cap.millicores, memoryBytes: cap.memoryBytes, bond: 0n, owner: NO_KEY, certDer, nodeSignature: NO_SIGNATURE, ownerSignature: NO_SIGNATURE }
  return { ...op, nodeSignature: node.sign(signingMessage(op, genesis)) }
}

export function makeOpenRegistration (node: Signer, owner: Signer, genesis: Uint8Array, o: { seq: bigint, millicores: bigint, memoryBytes: bigint, bond: bigint }): RegisterOp {
  const op: RegisterOp = { kind: 'register', nodeKey: node.publicKey, ...o, owner: owner.publicKey, certDer: new Uint8Array(0), nodeSignature: NO_SIGNATURE, ownerSignature: NO_SIGNATURE }
  const m = signingMessage(op, genesis)
  return { ...op, nodeSignature: node.sign(m), ownerSignature: owner.sign(m) }
}

export function makeUnregister (node: Signer, genesis: Uint8Array, seq: bigint): UnregisterOp {
  const op: UnregisterOp = { kind: 'unregister', nodeKey: node.publicKey, seq, signature: NO_SIGNATURE }
  return { ...op, signature: node.sign(signingMessage(op, genesis)) }
}

export function makeWithdraw (node: Signer, genesis: Uint8Array, seq: bigint, owner: Uint8Array): WithdrawOp {
  const op: WithdrawOp = { kind: 'withdraw', nodeKey: node.publicKey, seq, owner, signature: NO_SIGNATURE }
  return { ...op, signature: node.sign(signingMessage(op, genesis)) }
}

export function makeEquivocation (evidence: Equivocation): EquivocationOp { return { kind: 'equivocation', evidence } }

/** What a fraud reporter signs: the proof, on this network. */
export function fraudOpMessage (genesis: Uint8Array, proofHash: Uint8Array): Uint8Array { return taggedHash('fraud-op-sign', genesis, proofHash) }

export function makeFraudOp (reporter: Signer, genesis: Uint8Array, proof: FraudProof): FraudOp {
  return { kind: 'fraud', proof, reporter: reporter.publicKey, signature: reporter.sign(fraudOpMessage(genesis, fraudProofHash(proof))) }
}

// ---- certificates ------------------------------------------------------------------------------------------

export interface CertCapacity { nodeKey: Uint8Array, millicores: bigint, memoryBytes: bigint }

/** The econumi capacity extension of a DER certificate, or null when it has none. */
export function capacityExtension (certDer: Uint8Array): CertCapacity | null {
  let cert: forge.asn1.Asn1
  try { cert = forge.asn1.fromDer(Buffer.from(certDer).toString('binary')) } catch { return fail('E_REGISTER_CERT', 'node CA certificate is not DER') }
  const tbs = (cert.value as forge.asn1.Asn1[])[0]
  if (tbs === undefined || !Array.isArray(tbs.value)) return null
  // extensions: the [3] EXPLICIT tagged element of the TBSCertificate
  const tagged = tbs.value.find((x) => x.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && x.type === 3)
  const list = (tagged?.value as forge.asn1.Asn1[] | undefined)?.[0]?.value
  if (!Array.isArray(list)) return null
  for (const ext of list) {
    const parts = ext.value as forge.asn1.Asn1[]
    if (!Array.isArray(parts) || parts.length < 2) continue
    if (forge.asn1.derToOid(forge.util.createBuffer(parts[0].value as string)) !== CAPACITY_OID) continue
    const octets = parts[parts.length - 1].value as string
    let inner: forge.asn1.Asn1
    try { inner = forge.asn1.fromDer(octets) } catch { return fail('E_REGISTER_CERT', 'capacity extension is not DER') }
    const raw = Buffer.from(inner.value as string, 'binary')
    if (inner.type !== forge.asn1.Type.OCTETSTRING || raw.length !== PUBLIC_KEY_LENGTH + 16) fail('E_REGISTER_CERT', 'capacity extension must be an OCTET STRING of 48 bytes')
    return { nodeKey: new Uint8Array(raw.subarray(0, 32)), millicores: raw.readBigUInt64BE(32), memoryBytes: raw.readBigUInt64BE(40) }
  }
  return null
}

/** The extension's DER value (an OCTET STRING of nodeKey ‖ millicores ‖ memoryBytes), for certificate issuers. */
export function capacityExtensionValue (c: CertCapacity): Uint8Array {
  const raw = new Writer(48).fixed(c.nodeKey, PUBLIC_KEY_LENGTH).u64(c.millicores).u64(c.memoryBytes).finish()
  const der = forge.asn1.toDer(forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.OCTETSTRING, false, Buffer.from(raw).toString('binary'))).getBytes()
  return Buffer.from(der, 'binary')
}

// PERF: the roots are parsed once per params object
const rootCache = new WeakMap<NetworkParams, X509Certificate[]>()
function roots (p: NetworkParams): X509Certificate[] {
  let r = rootCache.get(p)
  if (r === undefined) { r = p.rootCas.map((pem) => new X509Certificate(pem)); rootCache.set(p, r) }
  return r
}

/** A node CA certificate issued by one of the genesis roots, valid at `timeMs`, and a CA; its capacity. */
export function checkNodeCertificate (p: NetworkParams, certDer: Uint8Array, timeMs: bigint): CertCapacity {
  let cert: X509Certificate
  try { cert = new X509Certificate(certDer) } catch { return fail('E_REGISTER_CERT', 'node CA certificate does not parse') }
  const root = roots(p).find((r) => cert.checkIssued(r) && cert.verify(r.publicKey))
  if (root === undefined) fail('E_REGISTER_ROOT', 'node CA certificate is not signed by a root CA of this network')
  const t = Number(timeMs)
  if (t < Date.parse(cert.validFrom) || t > Date.parse(cert.validTo)) fail('E_REGISTER_CERT_EXPIRED', 'node CA certificate is not valid at the block time', { validFrom: cert.validFrom, validTo: cert.validTo })
  if (!cert.ca) fail('E_REGISTER_CERT', 'node certificate is not a CA certificate (basicConstraints cA)')
  const cap = capacityExtension(certDer)
  if (cap === null) fail('E_REGISTER_CERT', `node CA certificate has no econumi capacity extension (${CAPACITY_OID})`)
  return cap
}

// ---- the stateless check (verifyBlock) ----------------------------------------------------------------------

/** Signatures, bounds, certificates and evidence: everything about an operation that needs no ledger. */
export function verifyOp (p: NetworkParams, genesis: Uint8Array, op: Op, timeMs: bigint): void {
  if (op.kind === 'equivocation') return verifyEquivocation(genesis, op.evidence)
  if (op.kind === 'fraud') return verifyFraudOp(genesis, op)
  const node = toHex(op.nodeKey)
  if (p.mode === 'devnet') fail('E_OP_MODE', 'a devnet admits every key: there is nothing to register', { node })
  if (op.kind === 'unregister' || op.kind === 'withdraw') {
    if (!verify(op.nodeKey, signingMessage(op, genesis), op.signature)) fail('E_OP_SIGNATURE', `${op.kind} is not signed by the node`, { node })
    if (op.kind === 'withdraw' && p.mode !== 'open') fail('E_OP_MODE', 'only an open network holds bonds to withdraw', { node })
    return
  }
  if (op.millicores < 1n || op.millicores > MAX_MILLICORES) fail('E_REGISTER_CAPACITY', 'capacity must be 1 millicore to 10000 cores', { node, millicores: op.millicores })
  if (op.memoryBytes > MAX_MEMORY_BYTES) fail('E_REGISTER_CAPACITY', 'memory must be at most 1 PiB', { node, memoryBytes: op.memoryBytes })
  const m = signingMessage(op, genesis)
  if (!verify(op.nodeKey, m, op.nodeSignature)) fail('E_OP_SIGNATURE', 'registration is not signed by the node', { node })
  if (p.mode === 'consortium') {
    if (op.bond !== 0n || !equalBytes(op.owner, NO_KEY)) fail('E_REGISTER_BOND', 'a consortium registration carries no bond', { node })
    const cap = checkNodeCertificate(p, op.certDer, timeMs)
    if (!equalBytes(cap.nodeKey, op.nodeKey)) fail('E_REGISTER_CERT', 'the node CA certificate names another node', { node, certNode: toHex(cap.nodeKey) })
    if (cap.millicores !== op.millicores || cap.memoryBytes !== op.memoryBytes) fail('E_REGISTER_CAPACITY', 'registration states another capacity than its certificate', { node })
    return
  }
  if (op.certDer.length !== 0) fail('E_REGISTER_CERT', 'an open registration carries no certificate', { node })
  if (!verify(op.owner, m, op.ownerSignature)) fail('E_OP_SIGNATURE', 'registration is not signed by the bond owner', { node })
  const min = op.millicores * p.bondPerMillicore
  if (op.bond < min) fail('E_REGISTER_BOND', 'bond is below capacity × the network\'s bond rate', { node, bond: eco(op.bond), min: eco(min) })
}

function verifyEquivocation (genesis: Uint8Array, e: Equivocation): void {
  if (e.type === 'blocks') {
    const [a, b] = [e.a.header, e.b.header]
    if (!equalBytes(a.winner.nodeKey, b.winner.nodeKey) || a.epoch !== b.epoch) fail('E_EVIDENCE_MISMATCH', 'equivocation evidence must be two blocks of one leader for one epoch')
    if (equalBytes(blockHash(a), blockHash(b))) fail('E_EVIDENCE_SAME', 'equivocation evidence names the same block twice')
    if (!verifyHeaderSignature(a, e.a.signature, genesis) || !verifyHeaderSignature(b, e.b.signature, genesis)) fail('E_EVIDENCE_SIGNATURE', 'an evidence header is not signed by its leader')
    return
  }
  if (!equalBytes(e.a.nodeKey, e.b.nodeKey) || e.a.epoch !== e.b.epoch) fail('E_EVIDENCE_MISMATCH', 'equivocation evidence must be two reports of one node for one epoch')
  if (equalBytes(encodeReport(e.a), encodeReport(e.b))) fail('E_EVIDENCE_SAME', 'equivocation evidence names the same report twice')
  checkReportSignature(e.a, genesis)
  checkReportSignature(e.b, genesis)
}

/**
 * The reporter's signature, and the proof's form as a peer decodes it (an operation built in memory must be one a
 * peer can read). The proof itself is checked in applyBlock: a miscredit needs the node's registered capacity.
 */
function verifyFraudOp (genesis: Uint8Array, op: FraudOp): void {
  const bytes = encodeFraudProof(op.proof)
  decodeFraudProof(bytes) // size and form, as a peer reads it
  if (!verify(op.reporter, fraudOpMessage(genesis, encodedFraudProofHash(bytes)), op.signature)) fail('E_OP_SIGNATURE', 'fraud proof is not signed by its reporter', { reporter: toHex(op.reporter) })
}

/** A canonical key for one piece of evidence (the offender and epoch): a node is punished once. */
export function evidenceKey (e: Equivocation): string {
  const node = e.type === 'blocks' ? e.a.header.winner.nodeKey : e.a.nodeKey
  return `${toHex(node)}:${evidenceEpoch(e)}`
}
