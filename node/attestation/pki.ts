// The node's certificate authority and the agents' certificates.
//
// CA: the node's own (node-forge: RSA-2048, self-signed X.509, subject and URI SAN naming the node id),
// made on first start and kept in <dataDir>/attestation/ (key file 0600); or one the operator supplies
// (--ca-cert/--ca-key, PEM; RSA, ECDSA P-256 or Ed25519 keys). Either way the node's identity key signs the
// CA certificate's SHA-256 fingerprint (the *endorsement*), so a peer can check agent → CA → node.
//
// Agent certificates: node-forge's certificate object holds RSA keys only and signs with RSA only. So the
// agent certificate (RFC 5280 TBSCertificate: issuer copied byte for byte from the CA, validity, subject,
// basicConstraints, keyUsage and the URI SAN `econumi://<nodeId>/container/<containerId>`) is written with
// forge's public ASN.1 encoder, carries the agent's real Ed25519 key, and is signed with node:crypto under the
// CA key (RSA, ECDSA or Ed25519). node:crypto's X509Certificate (OpenSSL) parses and verifies it; forge itself
// cannot parse it, which is fine: verification below uses node:crypto only.
// Why not @peculiar/x509 (Ed25519 on WebCrypto): it would replace these lines with eleven packages, a
// dependency-injection container and a global reflect polyfill, and make issuing asynchronous; node-forge is the
// design card's choice, and with its encoder and node:crypto nothing here is a workaround any more.
import { X509Certificate, createHash, createPrivateKey, createPublicKey, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import forge from 'node-forge'
import { caEndorsementMessage, verifyCaEndorsement } from '../../protocol/attestation.js'
import { agentUri } from '../../protocol/certificates.js'
import { fail } from '../../protocol/errors.js'
import type { Signer } from '../../protocol/keys.js'
import { readJsonFileSync, writeFileAtomicSync } from '../atomic-file.js'

const CA_VALIDITY_YEARS = 10
/** Agent certificates are short-lived identity documents (like SPIRE's SVIDs); a workload outliving this needs a new agent. */
export const AGENT_CERT_VALIDITY_MS = 90 * 24 * 3600 * 1000
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/** The node's CA: what it publishes (identity, fingerprint, endorsement) and the agent certificates it issues. */
export interface NodeCa {
  /** hex Ed25519 public key of the node */
  nodeId: string
  certPem: string
  /** SHA-256 of the CA certificate DER */
  fingerprint: Uint8Array
  /** node identity signature over caEndorsementMessage(nodeId, fingerprint) */
  endorsement: Uint8Array
  /** 'generated' (this node's own) or 'operator' (--ca-cert/--ca-key) */
  source: 'generated' | 'operator'
  issueAgentCertificate: (o: { agentPublicKey: Uint8Array, containerId: string, now: number, validityMs?: number }) => string
}

export { agentUri }

function fingerprintOf (pem: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(new X509Certificate(pem).raw).digest())
}

function certDer (pem: string): string {
  return forge.pem.decode(pem).find((m) => m.type === 'CERTIFICATE')?.body ?? fail('E_CA_CERT', 'no CERTIFICATE block in the CA PEM')
}

/** Makes a self-signed RSA-2048 CA naming the node (forge uses node's native key generation when present). */
export function generateCa (nodeId: string, now: number): { certPem: string, keyPem: string } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 })
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = '01' + randomBytes(15).toString('hex')
  cert.validity.notBefore = new Date(now - 60_000)
  cert.validity.notAfter = new Date(now + CA_VALIDITY_YEARS * 365 * 24 * 3600 * 1000)
  const name = [{ name: 'commonName', value: `econumi node CA ${nodeId.slice(0, 16)}` }, { name: 'organizationName', value: 'econumi' }, { name: 'organizationalUnitName', value: nodeId }]
  cert.setSubject(name)
  cert.setIssuer(name)
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectAltName', altNames: [{ type: 6, value: `econumi://${nodeId}` }] },
    { name: 'subjectKeyIdentifier' }
  ])
  cert.sign(keys.privateKey, forge.md.sha256.create())
  return { certPem: forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n'), keyPem: forge.pki.privateKeyToPem(keys.privateKey).replace(/\r\n/g, '\n') }
}

function algorithmIdentifier (key: KeyObject): { asn1: forge.asn1.Asn1, digest: string | null } {
  const { asn1 } = forge
  const oid = (o: string): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(o).getBytes())
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { asn1: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [oid('1.2.840.113549.1.1.11'), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]), digest: 'sha256' }
    case 'ec':
      return { asn1: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [oid('1.2.840.10045.4.3.2')]), digest: 'sha256' }
    case 'ed25519':
      return { asn1: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [oid('1.3.101.112')]), digest: null }
    default:
      return fail('E_CA_KEY_TYPE', 'CA key must be RSA, ECDSA or Ed25519', { type: String(key.asymmetricKeyType) })
  }
}

/** Issues an X.509 certificate for an agent's Ed25519 key, signed by the CA (see the file comment). */
export function issueAgentCertificate (ca: { certPem: string, keyPem: string, nodeId: string }, o: { agentPublicKey: Uint8Array, containerId: string, now: number, validityMs?: number }): string {
  if (o.agentPublicKey.length !== 32) fail('E_AGENT_KEY', 'agent public key must be 32 bytes (Ed25519)', { length: o.agentPublicKey.length })
  if (!/^[0-9a-f]{64}$/.test(o.containerId)) fail('E_ATTEST_CONTAINER_ID', 'container id must be 64 lowercase hex characters', { containerId: o.containerId })
  const { asn1 } = forge
  const U = asn1.Class.UNIVERSAL
  const T = asn1.Type
  const seq = (items: forge.asn1.Asn1[]): forge.asn1.Asn1 => asn1.create(U, T.SEQUENCE, true, items)
  const oid = (o: string): forge.asn1.Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(o).getBytes())
  const utf8 = (text: string): forge.asn1.Asn1 => asn1.create(U, T.UTF8, false, forge.util.encodeUtf8(text))
  const time = (d: Date): forge.asn1.Asn1 => d.getUTCFullYear() < 2050 ? asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(d)) : asn1.create(U, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d))
  const extension = (id: string, critical: boolean, valueDer: string): forge.asn1.Asn1 => seq([oid(id), asn1.create(U, T.BOOLEAN, false, critical ? '\xff' : '\x00'), asn1.create(U, T.OCTETSTRING, false, valueDer)])
  const caKey = createPrivateKey(ca.keyPem)
  const alg = algorithmIdentifier(caKey)
  const caTbs = ((asn1.fromDer(certDer(ca.certPem)).value as forge.asn1.Asn1[])[0].value as forge.asn1.Asn1[])
  const caSubject = caTbs[(caTbs[0].tagClass === asn1.Class.CONTEXT_SPECIFIC ? 1 : 0) + 4]
  const serial = Buffer.concat([Buffer.from([0x01]), randomBytes(15)]) // positive, 16 bytes (RFC 5280: at most 20)
  // RFC 5280 §4.1: TBSCertificate, built with forge's ASN.1 encoder (forge's certificate object holds RSA keys only)
  const tbs = seq([
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [asn1.create(U, T.INTEGER, false, '\x02')]), // v3
    asn1.create(U, T.INTEGER, false, serial.toString('binary')),
    alg.asn1, // the CA key's signature algorithm
    caSubject, // issuer = the CA's subject, byte for byte
    seq([time(new Date(o.now - 60_000)), time(new Date(o.now + (o.validityMs ?? AGENT_CERT_VALIDITY_MS)))]),
    seq([
      asn1.create(U, T.SET, true, [seq([oid('2.5.4.3'), utf8(`econumi agent ${o.containerId.slice(0, 12)}`)])]),
      asn1.create(U, T.SET, true, [seq([oid('2.5.4.10'), utf8('econumi')])])
    ]),
    asn1.fromDer(Buffer.concat([ED25519_SPKI_PREFIX, o.agentPublicKey]).toString('binary')), // the agent's Ed25519 key
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 3, true, [seq([
      extension('2.5.29.19', true, asn1.toDer(seq([])).getBytes()), // basicConstraints: not a CA
      extension('2.5.29.15', true, asn1.toDer(asn1.create(U, T.BITSTRING, false, '\x07\x80')).getBytes()), // keyUsage: digitalSignature
      extension('2.5.29.17', false, asn1.toDer(seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 6, false, agentUri(ca.nodeId, o.containerId))])).getBytes()) // SAN URI
    ])])
  ])
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary')
  const signature = cryptoSign(alg.digest, tbsDer, caKey)
  const certAsn1 = seq([tbs, alg.asn1, asn1.create(U, T.BITSTRING, false, '\x00' + signature.toString('binary'))])
  return forge.pem.encode({ type: 'CERTIFICATE', body: asn1.toDer(certAsn1).getBytes() }, { maxline: 64 }).replace(/\r\n/g, '\n')
}

/** The node's CA: loaded from the operator's files, or from / created in `<dataDir>/attestation/`. */
export function loadOrCreateCa (dataDir: string, identity: { signer: Signer, nodeId: string }, o: { caCert?: string, caKey?: string, now?: number } = {}): NodeCa {
  const now = o.now ?? Date.now()
  let certPem: string
  let keyPem: string
  let source: 'generated' | 'operator'
  if (o.caCert !== undefined || o.caKey !== undefined) {
    if (o.caCert === undefined || o.caKey === undefined) fail('E_CA_OPTIONS', '--ca-cert and --ca-key go together')
    certPem = readFileSync(o.caCert, 'utf8')
    keyPem = readFileSync(o.caKey, 'utf8')
    source = 'operator'
  } else {
    const dir = join(dataDir, 'attestation')
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const certPath = join(dir, 'ca-cert.pem')
    const keyPath = join(dir, 'ca-key.pem')
    if (existsSync(certPath) && existsSync(keyPath)) {
      certPem = readFileSync(certPath, 'utf8')
      keyPem = readFileSync(keyPath, 'utf8')
    } else {
      ({ certPem, keyPem } = generateCa(identity.nodeId, now))
      writeFileAtomicSync(keyPath, keyPem, 0o600)
      writeFileAtomicSync(certPath, certPem, 0o644)
    }
    source = 'generated'
  }
  let cert: X509Certificate
  try {
    cert = new X509Certificate(certPem)
  } catch (err) {
    return fail('E_CA_CERT', `CA certificate does not parse: ${(err as Error).message}`)
  }
  let caKey: KeyObject
  try {
    caKey = createPrivateKey(keyPem)
  } catch (err) {
    return fail('E_CA_KEY', `CA key does not parse (PEM, unencrypted): ${(err as Error).message}`)
  }
  const pubOfKey = createPublicKey(caKey).export({ format: 'der', type: 'spki' })
  if (!pubOfKey.equals(cert.publicKey.export({ format: 'der', type: 'spki' }))) fail('E_CA_MISMATCH', 'the CA key does not belong to the CA certificate')
  if (!cert.ca) fail('E_CA_CERT', 'the CA certificate is not a CA (basicConstraints cA=false)')
  algorithmIdentifier(caKey)
  const fingerprint = fingerprintOf(certPem)
  const endorsement = identity.signer.sign(caEndorsementMessage(identity.nodeId, fingerprint))
  if (source === 'generated') {
    const path = join(dataDir, 'attestation', 'ca-endorsement.json')
    const want = { nodeId: identity.nodeId, caFingerprint: Buffer.from(fingerprint).toString('hex'), endorsement: Buffer.from(endorsement).toString('hex') }
    const have = existsSync(path) ? readJsonFileSync(path, 'E_CA_ENDORSEMENT_CORRUPT') as typeof want : null
    if (have?.caFingerprint !== want.caFingerprint || have?.nodeId !== want.nodeId) writeFileAtomicSync(path, JSON.stringify(want, null, 2) + '\n', 0o644)
  }
  const ca = { nodeId: identity.nodeId, certPem, keyPem }
  return {
    nodeId: identity.nodeId,
    certPem,
    fingerprint,
    endorsement,
    source,
    issueAgentCertificate: (x) => issueAgentCertificate(ca, x)
  }
}

/**
 * Checks the whole chain for one agent: the node endorsed the CA, the CA signed the agent certificate,
 * which names this node and container in its URI SAN, holds exactly this Ed25519 key and is valid at `at`.
 */
export function verifyAgentCertificate (o: { certPem: string, ca: { certPem: string, endorsement: Uint8Array }, nodeId: string, containerId: string, agentPublicKey: Uint8Array, at: number }): void {
  verifyCaEndorsement(o.nodeId, fingerprintOf(o.ca.certPem), o.ca.endorsement)
  let cert: X509Certificate
  let caCert: X509Certificate
  try {
    cert = new X509Certificate(o.certPem)
    caCert = new X509Certificate(o.ca.certPem)
  } catch (err) {
    return fail('E_AGENT_CERT', `certificate does not parse: ${(err as Error).message}`, { containerId: o.containerId })
  }
  if (!cert.checkIssued(caCert) || !cert.verify(caCert.publicKey)) fail('E_AGENT_CERT_ISSUER', 'agent certificate is not signed by the node CA', { containerId: o.containerId })
  const uri = agentUri(o.nodeId, o.containerId)
  const sans = (cert.subjectAltName ?? '').split(',').map((s) => s.trim())
  if (!sans.includes(`URI:${uri}`)) fail('E_AGENT_CERT_NAME', 'agent certificate does not name this node and container', { expected: uri, subjectAltName: cert.subjectAltName ?? '' })
  const key = cert.publicKey
  const der = key.export({ format: 'der', type: 'spki' })
  if (key.asymmetricKeyType !== 'ed25519' || !der.subarray(der.length - 32).equals(Buffer.from(o.agentPublicKey))) fail('E_AGENT_CERT_KEY', 'agent certificate holds another key', { containerId: o.containerId })
  if (o.at < Date.parse(cert.validFrom) || o.at > Date.parse(cert.validTo)) fail('E_AGENT_CERT_EXPIRED', 'agent certificate is not valid at this time', { at: o.at, validFrom: cert.validFrom, validTo: cert.validTo })
}

