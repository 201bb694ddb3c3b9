// The node key encrypted at rest (ECONUMI_IDENTITY_PASSPHRASE / _FILE), with real node processes: the file
// holds no seed, the node keeps its identity across restarts, a missing or wrong passphrase is one clear
// line, a plaintext key is encrypted on the next start, and `createwallet --import-node-key` still works.
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CLI, NodeProcess, tempDir } from '../helpers/node-process.js'

async function withEnv<T> (env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]))
  for (const [k, v] of Object.entries(env)) { if (v === undefined) delete process.env[k]; else process.env[k] = v }
  try { return await fn() } finally { for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v } }
}

/** Start a node (children inherit process.env), return its ready line or its error. */
async function start (t: Pick<typeof import('tap').default, 'teardown'>, dir: string): Promise<{ nodeId?: string, error?: { code: string, message: string } }> {
  const node = new NodeProcess(dir, ['--offline']).start()
  t.teardown(async () => { await node.stop() })
  const outcome = await Promise.race([node.ready().then((r) => ({ nodeId: String(r.nodeId) })), node.exited.then(() => null)])
  if (outcome !== null) { await node.stop(); return outcome }
  return { error: JSON.parse(node.stderr.trim().split('\n').pop() ?? '{}').error }
}

const PASS = { ECONUMI_IDENTITY_PASSPHRASE: 'correct horse battery', ECONUMI_IDENTITY_PASSPHRASE_FILE: undefined }
const NONE = { ECONUMI_IDENTITY_PASSPHRASE: undefined, ECONUMI_IDENTITY_PASSPHRASE_FILE: undefined }

t.test('node key encrypted at rest', async (t) => {
  const root = tempDir('econumi-identity-')
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const dir = join(root, 'node')
  const first = await withEnv(PASS, async () => await start(t, dir))
  t.ok(first.nodeId, 'the node starts with a passphrase')
  const file = readFileSync(join(dir, 'identity.json'), 'utf8')
  t.match(JSON.parse(file), { version: 2, publicKey: first.nodeId, kdf: { name: 'scrypt' }, cipher: { name: 'aes-256-gcm' } })
  t.notMatch(file, /"seed"/, 'no plaintext seed on disk')
  t.equal((await withEnv(PASS, async () => await start(t, dir))).nodeId, first.nodeId, 'the same identity after a restart')

  const locked = await withEnv(NONE, async () => await start(t, dir))
  t.equal(locked.error?.code, 'E_IDENTITY_LOCKED', 'no passphrase: refused with a clear code')
  t.match(locked.error?.message, /ECONUMI_IDENTITY_PASSPHRASE/, 'that names what to set')
  const wrong = await withEnv({ ...PASS, ECONUMI_IDENTITY_PASSPHRASE: 'wrong' }, async () => await start(t, dir))
  t.equal(wrong.error?.code, 'E_IDENTITY_PASSPHRASE', 'a wrong passphrase is refused')
  const passFile = join(root, 'pass.txt')
  writeFileSync(passFile, PASS.ECONUMI_IDENTITY_PASSPHRASE + '\n', { mode: 0o600 })
  t.equal((await withEnv({ ...NONE, ECONUMI_IDENTITY_PASSPHRASE_FILE: passFile }, async () => await start(t, dir))).nodeId, first.nodeId, 'the passphrase from a file')

  // the wallet of the node key, as the README says to spend its rewards
  const imported = await withEnv({ ...PASS, ECONUMI_PASSPHRASE: 'wallet pass' }, async () => await new Promise<{ code: number, stdout: string, stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, '--data-dir', dir, '--wallet-dir', join(root, 'wallets'), '--json', 'createwallet', '--import-node-key'], { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : 1, stdout, stderr }))
  }))
  t.equal(imported.code, 0, `createwallet --import-node-key: ${imported.stderr}`)
  t.equal(JSON.parse(imported.stdout).publicKey, first.nodeId, 'the wallet holds the node key')
})

t.test('a plaintext node key is encrypted once a passphrase is given', async (t) => {
  const root = tempDir('econumi-identity-')
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const dir = join(root, 'node')
  const plain = await withEnv(NONE, async () => await start(t, dir))
  t.match(JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8')), { version: 1 }, 'plaintext without a passphrase (the default)')
  t.equal((await withEnv(PASS, async () => await start(t, dir))).nodeId, plain.nodeId, 'same identity')
  t.notMatch(readFileSync(join(dir, 'identity.json'), 'utf8'), /"seed"/, 'and now encrypted at rest')
})
