// `econumi ca`: the root CA side of consortium admission. A consortium's root (an existing PKI, or one made here)
// issues each member's node CA certificate with the econumi capacity extension (protocol/ops.ts CAPACITY_OID):
// the node key and its capacity, under the root's signature. `econumi register` then puts that certificate on
// chain. node-forge signs with RSA keys only; for another root key type, issue with OpenSSL (README).
import { X509Certificate, randomBytes } from 'node:crypto'
import forge from 'node-forge'
import { fail } from '../protocol/errors.js'
import { CAPACITY_OID, capacityExtensionValue } from '../protocol/ops.js'

const YEAR_MS = 365 * 24 * 3600 * 1000

function name (cn: string): forge.pki.CertificateField[] {
  return [{ name: 'commonName', value: cn }, { name: 'organizationName', value: 'econumi' }]
}

/** A self-signed RSA-2048 root CA for a consortium (for a network without an existing PKI, and for tests). */
export function createRootCa (commonName: string, now = Date.now(), years = 10): { certPem: string, keyPem: string } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 })
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = '01' + randomBytes(15).toString('hex')
  cert.validity.notBefore = new Date(now - 60_000)
  cert.validity.notAfter = new Date(now + years * YEAR_MS)
  cert.setSubject(name(commonName))
  cert.setIssuer(name(commonName))
  cert.setExtensions([{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }, { name: 'subjectKeyIdentifier' }])
  cert.sign(keys.privateKey, forge.md.sha256.create())
  return { certPem: forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n'), keyPem: forge.pki.privateKeyToPem(keys.privateKey).replace(/\r\n/g, '\n') }
}

export interface NodeCaRequest { nodeId: string, millicores: bigint, memoryBytes: bigint, rootCertPem: string, rootKeyPem: string, now?: number, days?: number }

/** A node CA certificate and key, issued by the root, naming the node and its capacity. */
export function issueNodeCa (r: NodeCaRequest): { certPem: string, keyPem: string } {
  if (!/^[0-9a-f]{64}$/.test(r.nodeId)) fail('E_BAD_NODE_ID', 'node id must be 64 hex characters (`econumi identity` prints it)', { nodeId: r.nodeId })
  let rootCert: forge.pki.Certificate
  let rootKey: forge.pki.rsa.PrivateKey
  try { rootCert = forge.pki.certificateFromPem(r.rootCertPem) } catch { return fail('E_CA_CERT', 'the root certificate is not an RSA PEM certificate (for other key types issue with OpenSSL; see the README)') }
  try { rootKey = forge.pki.privateKeyFromPem(r.rootKeyPem) as forge.pki.rsa.PrivateKey } catch { return fail('E_CA_KEY', 'the root key is not an RSA PEM private key') }
  const now = r.now ?? Date.now()
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 })
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = '01' + randomBytes(15).toString('hex')
  cert.validity.notBefore = new Date(now - 60_000)
  cert.validity.notAfter = new Date(now + (r.days ?? 3650) * 24 * 3600 * 1000)
  cert.setSubject([...name(`econumi node CA ${r.nodeId.slice(0, 16)}`), { name: 'organizationalUnitName', value: r.nodeId }])
  cert.setIssuer(rootCert.subject.attributes)
  const value = Buffer.from(capacityExtensionValue({ nodeKey: Buffer.from(r.nodeId, 'hex'), millicores: r.millicores, memoryBytes: r.memoryBytes })).toString('binary')
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectAltName', altNames: [{ type: 6, value: `econumi://${r.nodeId}` }] },
    { name: 'subjectKeyIdentifier' },
    { id: CAPACITY_OID, critical: false, value }
  ])
  cert.sign(rootKey, forge.md.sha256.create())
  const certPem = forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n')
  if (!new X509Certificate(certPem).checkIssued(new X509Certificate(r.rootCertPem))) fail('E_INTERNAL', 'issued certificate does not chain to the root')
  return { certPem, keyPem: forge.pki.privateKeyToPem(keys.privateKey).replace(/\r\n/g, '\n') }
}

export function pemToDer (pem: string): Uint8Array {
  try { return new Uint8Array(new X509Certificate(pem).raw) } catch { return fail('E_CA_CERT', 'not a PEM certificate') }
}
