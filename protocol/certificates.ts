// The consensus CertificateChecker (protocol/evidence.ts): X.509 through node:crypto, as protocol/ops.ts checks
// node CA certificates. It accepts exactly what node/attestation/pki.ts issues and verifyAgentCertificate checks:
// an agent certificate issued and signed by the node CA, valid at `at`, whose URI SAN is
// econumi://<nodeId>/container/<containerId>, holding an Ed25519 key. Pure: the time is an argument.
import { X509Certificate } from 'node:crypto'
import { toHex } from './encoding.js'
import { fail } from './errors.js'
import type { AgentCertificateQuery, CertificateChecker } from './evidence.js'
import { sha256 } from './hash.js'

/** Node CAs kept parsed: an evidence names one CA for up to MAX_EVIDENCE_WORKLOADS agent certificates. */
export const CA_CACHE_ENTRIES = 256

export function agentUri (nodeId: string, containerId: string): string { return `econumi://${nodeId}/container/${containerId}` }

// PERF: parsing the CA is about a quarter of an audit's time; the same DER always parses the same, so caching by
// its hash changes no verdict
const caCache = new Map<string, X509Certificate>()

function parseCa (der: Uint8Array): X509Certificate | null {
  const key = toHex(sha256(der))
  const hit = caCache.get(key)
  if (hit !== undefined) return hit
  let ca: X509Certificate
  try { ca = new X509Certificate(Buffer.from(der)) } catch { return null }
  if (caCache.size >= CA_CACHE_ENTRIES) caCache.delete(caCache.keys().next().value as string)
  caCache.set(key, ca)
  return ca
}

// OpenSSL may throw on a key or algorithm it cannot use: that is a certificate that does not verify, and so the
// evidence's fault (E_EVIDENCE_CERTIFICATE), never an exception a block could crash the verifier with
function issuedBy (cert: X509Certificate, ca: X509Certificate): boolean {
  try { return cert.checkIssued(ca) && cert.verify(ca.publicKey) } catch { return false }
}

export function x509AgentKey (o: AgentCertificateQuery): Uint8Array {
  let cert: X509Certificate
  try { cert = new X509Certificate(Buffer.from(o.agentCertificate)) } catch { return fail('E_AGENT_CERT', 'agent certificate does not parse', { containerId: o.containerId }) }
  const ca = parseCa(o.caCertificate) ?? fail('E_AGENT_CERT', 'CA certificate does not parse', { containerId: o.containerId })
  if (!issuedBy(cert, ca)) fail('E_AGENT_CERT_ISSUER', 'agent certificate is not signed by the node CA', { containerId: o.containerId })
  const sans = (cert.subjectAltName ?? '').split(',').map((s) => s.trim())
  if (!sans.includes(`URI:${agentUri(o.nodeId, o.containerId)}`)) fail('E_AGENT_CERT_NAME', 'agent certificate does not name this node and container', { containerId: o.containerId })
  const at = Number(o.at)
  const from = Date.parse(cert.validFrom)
  const to = Date.parse(cert.validTo)
  if (Number.isNaN(from) || Number.isNaN(to) || at < from || at > to) fail('E_AGENT_CERT_EXPIRED', 'agent certificate is not valid at this time', { containerId: o.containerId, at: o.at })
  let key
  try { key = cert.publicKey } catch { return fail('E_AGENT_CERT_KEY', 'agent certificate holds no key OpenSSL can read', { containerId: o.containerId }) }
  if (key.asymmetricKeyType !== 'ed25519') fail('E_AGENT_CERT_KEY', 'agent certificate does not hold an Ed25519 key', { containerId: o.containerId })
  const der = key.export({ format: 'der', type: 'spki' })
  return new Uint8Array(der.subarray(der.length - 32))
}

export const x509AgentChecker: CertificateChecker = { agentKey: x509AgentKey }
