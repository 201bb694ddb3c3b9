import t from 'tap'
import { X509Certificate, generateKeyPairSync } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Signer } from '../../protocol/keys.js'
import { agentUri, generateCa, issueAgentCertificate, loadOrCreateCa, verifyAgentCertificate } from '../../node/attestation/pki.js'

const node = new Signer(new Uint8Array(32).fill(9))
const nodeId = Buffer.from(node.publicKey).toString('hex')
const identity = { signer: node, nodeId }
const agent = new Signer(new Uint8Array(32).fill(7))
const CID = 'ab'.repeat(32)
const NOW = Date.parse('2026-01-01T00:00:00Z')

t.test('generated CA: stored once (key 0600), endorsed by the node key, issues verifiable agent certificates', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'econumi-pki-'))
  const ca = loadOrCreateCa(dir, identity, { now: NOW })
  t.equal(ca.source, 'generated')
  t.equal(statSync(join(dir, 'attestation', 'ca-key.pem')).mode & 0o777, 0o600)
  const again = loadOrCreateCa(dir, identity, { now: NOW + 1000 })
  t.equal(again.certPem, ca.certPem, 'the CA is made on first start only')
  const caX = new X509Certificate(ca.certPem)
  t.ok(caX.ca)
  t.match(caX.subjectAltName, `URI:econumi://${nodeId}`)
  t.match(caX.subject, nodeId, 'the CA names the node id')
  t.same(JSON.parse(readFileSync(join(dir, 'attestation', 'ca-endorsement.json'), 'utf8')).endorsement, Buffer.from(ca.endorsement).toString('hex'))

  const pem = ca.issueAgentCertificate({ agentPublicKey: agent.publicKey, containerId: CID, now: NOW })
  const x = new X509Certificate(pem)
  t.equal(x.subjectAltName, `URI:${agentUri(nodeId, CID)}`)
  t.equal(x.publicKey.asymmetricKeyType, 'ed25519')
  t.ok(x.checkIssued(caX) && x.verify(caX.publicKey))
  const check = { certPem: pem, ca: { certPem: ca.certPem, endorsement: ca.endorsement }, nodeId, containerId: CID, agentPublicKey: agent.publicKey, at: NOW + 1000 }
  verifyAgentCertificate(check)
  t.throws(() => verifyAgentCertificate({ ...check, containerId: 'cd'.repeat(32) }), { code: 'E_AGENT_CERT_NAME' })
  t.throws(() => verifyAgentCertificate({ ...check, agentPublicKey: node.publicKey }), { code: 'E_AGENT_CERT_KEY' })
  t.throws(() => verifyAgentCertificate({ ...check, at: NOW + 91 * 24 * 3600 * 1000 }), { code: 'E_AGENT_CERT_EXPIRED' })
  t.throws(() => verifyAgentCertificate({ ...check, ca: { ...check.ca, endorsement: new Uint8Array(64) } }), { code: 'E_CA_ENDORSEMENT' })
  t.throws(() => verifyAgentCertificate({ ...check, certPem: 'garbage' }), { code: 'E_AGENT_CERT' })
  // a certificate from another CA (same names) is refused
  const other = generateCa(nodeId, NOW)
  const foreign = issueAgentCertificate({ ...other, nodeId }, { agentPublicKey: agent.publicKey, containerId: CID, now: NOW })
  t.throws(() => verifyAgentCertificate({ ...check, certPem: foreign }), { code: 'E_AGENT_CERT_ISSUER' })
  t.throws(() => ca.issueAgentCertificate({ agentPublicKey: new Uint8Array(3), containerId: CID, now: NOW }), { code: 'E_AGENT_KEY' })
  t.throws(() => ca.issueAgentCertificate({ agentPublicKey: agent.publicKey, containerId: 'x', now: NOW }), { code: 'E_ATTEST_CONTAINER_ID' })

  const openssl = spawnSync('openssl', ['version'])
  if (openssl.status === 0) {
    writeFileSync(join(dir, 'ca.pem'), ca.certPem)
    writeFileSync(join(dir, 'agent.pem'), pem)
    const v = spawnSync('openssl', ['verify', '-attime', String(Math.floor(NOW / 1000) + 10), '-CAfile', join(dir, 'ca.pem'), join(dir, 'agent.pem')], { encoding: 'utf8' })
    t.equal(v.status, 0, `openssl verify: ${v.stdout}${v.stderr}`)
  }
})

t.test('operator-supplied CA (ECDSA P-256 and Ed25519 keys, made with openssl)', async (t) => {
  if (spawnSync('openssl', ['version']).status !== 0) { t.comment('skip: no openssl'); return }
  for (const alg of [['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], ['-newkey', 'ed25519']]) {
    const dir = mkdtempSync(join(tmpdir(), 'econumi-pki-op-'))
    const r = spawnSync('openssl', ['req', '-x509', ...alg, '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '30', '-subj', '/CN=operator root/O=consortium', '-addext', 'basicConstraints=critical,CA:TRUE'], { encoding: 'utf8' })
    t.equal(r.status, 0, r.stderr)
    const ca = loadOrCreateCa(dir, identity, { caCert: join(dir, 'c.pem'), caKey: join(dir, 'k.pem') })
    t.equal(ca.source, 'operator')
    const pem = ca.issueAgentCertificate({ agentPublicKey: agent.publicKey, containerId: CID, now: Date.now() })
    verifyAgentCertificate({ certPem: pem, ca, nodeId, containerId: CID, agentPublicKey: agent.publicKey, at: Date.now() })
    writeFileSync(join(dir, 'agent.pem'), pem)
    const v = spawnSync('openssl', ['verify', '-CAfile', join(dir, 'c.pem'), join(dir, 'agent.pem')], { encoding: 'utf8' })
    t.equal(v.status, 0, `openssl verify ${alg[1]}: ${v.stdout}${v.stderr}`)
  }
  const dir = mkdtempSync(join(tmpdir(), 'econumi-pki-bad-'))
  t.throws(() => loadOrCreateCa(dir, identity, { caCert: join(dir, 'c.pem') }), { code: 'E_CA_OPTIONS' })
  const { privateKey } = generateKeyPairSync('ed25519')
  const good = generateCa(nodeId, NOW)
  writeFileSync(join(dir, 'c.pem'), good.certPem)
  writeFileSync(join(dir, 'k.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }))
  t.throws(() => loadOrCreateCa(dir, identity, { caCert: join(dir, 'c.pem'), caKey: join(dir, 'k.pem') }), { code: 'E_CA_MISMATCH' })
  writeFileSync(join(dir, 'k.pem'), 'nope')
  t.throws(() => loadOrCreateCa(dir, identity, { caCert: join(dir, 'c.pem'), caKey: join(dir, 'k.pem') }), { code: 'E_CA_KEY' })
  writeFileSync(join(dir, 'c.pem'), 'nope')
  t.throws(() => loadOrCreateCa(dir, identity, { caCert: join(dir, 'c.pem'), caKey: join(dir, 'k.pem') }), { code: 'E_CA_CERT' })
})
