import t from 'tap'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { readJsonFile, writeFileAtomic } from '../../node/atomic-file.js'
import { createWallet, DEFAULT_SCRYPT, importWallet, listWallets, unlockWallet, type ScryptParams } from '../../cli/wallet.js'
import { addressFromPublicKey } from '../../protocol/address.js'
import { keyPairFromSeed, verify } from '../../protocol/keys.js'

// Cheap parameters for the tests that are not about the cost of scrypt.
const FAST: ScryptParams = { N: 1 << 10, r: 8, p: 1 }

async function mode (path: string): Promise<number> { return (await fs.stat(path)).mode & 0o777 }

t.test('create and unlock with the default scrypt cost; file layout and permissions', async (t) => {
  const dir = join(t.testdir(), 'wallets')
  const w = await createWallet(dir, 'correct horse')
  t.equal(w.path, join(dir, `${w.address}.json`))
  t.equal(addressFromPublicKey(w.publicKey), w.address)
  t.equal(await mode(dir), 0o700, 'wallet directory is 0700')
  t.equal(await mode(w.path), 0o600, 'wallet file is 0600')
  const file = JSON.parse(await fs.readFile(w.path, 'utf8'))
  t.match(file, {
    version: 1,
    address: w.address,
    publicKey: Buffer.from(w.publicKey).toString('hex'),
    kdf: { name: 'scrypt', N: DEFAULT_SCRYPT.N, r: DEFAULT_SCRYPT.r, p: DEFAULT_SCRYPT.p, salt: /^[0-9a-f]{32}$/ },
    cipher: { name: 'aes-256-gcm', iv: /^[0-9a-f]{24}$/, tag: /^[0-9a-f]{32}$/ },
    ciphertext: /^[0-9a-f]{64}$/
  })
  t.notMatch(JSON.stringify(file), /correct horse/)

  const started = process.hrtime.bigint()
  const unlocked = await unlockWallet(dir, w.address, 'correct horse')
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  t.comment(`unlock with N=${DEFAULT_SCRYPT.N} r=${DEFAULT_SCRYPT.r} took ${ms.toFixed(0)} ms`)
  t.ok(ms < 1000, 'unlocking takes less than a second')
  t.equal(unlocked.address, w.address)
  t.same(unlocked.publicKey, w.publicKey)
  const msg = new Uint8Array([1, 2, 3])
  t.ok(verify(w.publicKey, msg, unlocked.signer.sign(msg)), 'the unlocked key signs for the address')
  t.same(await listWallets(dir), [w.address])
})

t.test('wrong passphrase, unknown wallet, bad address, empty passphrase', async (t) => {
  const dir = t.testdir()
  const w = await createWallet(dir, 'pw', FAST)
  await t.rejects(unlockWallet(dir, w.address, 'PW'), { code: 'E_BAD_PASSPHRASE' })
  await t.rejects(unlockWallet(dir, w.address, ''), { code: 'E_BAD_PASSPHRASE' })
  const other = await createWallet(join(dir, 'elsewhere'), 'pw', FAST) // a valid address with no file in `dir`
  await t.rejects(unlockWallet(dir, other.address, 'pw'), { code: 'E_WALLET_NOT_FOUND' })
  await t.rejects(unlockWallet(dir, '../../etc/passwd', 'pw'), { code: 'E_BAD_ADDRESS' })
  await t.rejects(unlockWallet(dir, w.address.slice(0, -1) + (w.address.endsWith('z') ? 'y' : 'z'), 'pw'), { code: /^E_BAD_ADDRESS/ })
  await t.rejects(createWallet(dir, '', FAST), { code: 'E_EMPTY_PASSPHRASE' })
  t.ok(await unlockWallet(dir, w.address, 'pw'), 'still unlocks with the right passphrase')
  t.ok(await unlockWallet(dir, w.address, 'pw'.normalize('NFD')), 'passphrases are compared after NFC normalisation')
})

t.test('corrupt files are named in the error', async (t) => {
  const dir = t.testdir()
  const a = await createWallet(dir, 'pw', FAST)
  const b = await createWallet(dir, 'pw', FAST)
  const good = JSON.parse(await fs.readFile(a.path, 'utf8'))
  const write = async (content: unknown): Promise<void> => {
    await fs.writeFile(a.path, typeof content === 'string' ? content : JSON.stringify(content))
  }
  const cases: Array<[string, unknown]> = [
    ['not JSON', '{"version": 1, "addr'],
    ['empty file', ''],
    ['an array', '[]'],
    ['unknown version', { ...good, version: 2 }],
    ['other kdf', { ...good, kdf: { ...good.kdf, name: 'pbkdf2' } }],
    ['other cipher', { ...good, cipher: { ...good.cipher, name: 'aes-128-cbc' } }],
    ['short ciphertext', { ...good, ciphertext: good.ciphertext.slice(2) }],
    ['non-hex iv', { ...good, cipher: { ...good.cipher, iv: 'zz' + good.cipher.iv.slice(2) } }],
    ['missing salt', { ...good, kdf: { ...good.kdf, salt: undefined } }],
    ['huge scrypt cost', { ...good, kdf: { ...good.kdf, N: 2 ** 30 } }],
    ['N not a power of two', { ...good, kdf: { ...good.kdf, N: 1000 } }],
    ['address of another wallet inside', { ...good, address: b.address }],
    ['public key of another wallet', { ...good, publicKey: Buffer.from(b.publicKey).toString('hex') }]
  ]
  for (const [name, content] of cases) {
    await write(content)
    const err = await unlockWallet(dir, a.address, 'pw').then(() => null, (e: unknown) => e as { code: string, message: string })
    t.equal(err?.code, 'E_WALLET_CORRUPT', name)
    t.match(err?.message, a.path, `${name}: the message names the file`)
  }
  // A ciphertext moved over from another wallet fails authentication (the address is associated data).
  const fromB = JSON.parse(await fs.readFile(b.path, 'utf8'))
  await write({ ...good, kdf: fromB.kdf, cipher: fromB.cipher, ciphertext: fromB.ciphertext })
  await t.rejects(unlockWallet(dir, a.address, 'pw'), { code: 'E_BAD_PASSPHRASE' })
  await write(good)
  t.ok(await unlockWallet(dir, a.address, 'pw'), 'restored file unlocks')
})

t.test('listWallets: sorted addresses, ignores other files, missing directory is empty', async (t) => {
  const dir = t.testdir({ 'notes.txt': 'x', 'backup.json': '{}', 'E123.json': '{}', sub: {} })
  t.same(await listWallets(dir), [])
  t.same(await listWallets(join(dir, 'missing')), [])
  await t.rejects(listWallets(join(dir, 'notes.txt')), { code: 'E_WALLET_DIR' })
  const made = [await createWallet(dir, 'pw', FAST), await createWallet(dir, 'pw', FAST), await createWallet(dir, 'pw', FAST)]
  t.same(await listWallets(dir), made.map((w) => w.address).sort())
  const names = (await fs.readdir(dir)).sort()
  t.same(names.filter((n) => n.endsWith('.tmp') || n.startsWith('.')), [], 'no temp files left behind')
})

t.test('writeFileAtomic', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'a.json')
  await writeFileAtomic(path, '{"n":1}')
  t.equal(await fs.readFile(path, 'utf8'), '{"n":1}')
  t.equal(await mode(path), 0o600, 'default mode 0600')
  await writeFileAtomic(path, '{"n":2}', 0o640)
  t.equal(await fs.readFile(path, 'utf8'), '{"n":2}', 'replaces by default')
  t.equal(await mode(path), 0o640, 'exact mode, whatever the umask')
  await t.rejects(writeFileAtomic(path, '{"n":3}', 0o600, { exclusive: true }), { code: 'E_FILE_EXISTS' })
  t.equal(await fs.readFile(path, 'utf8'), '{"n":2}', 'exclusive write never replaces')
  await writeFileAtomic(join(dir, 'b.bin'), new Uint8Array([0, 1, 2]), 0o600, { exclusive: true })
  t.same([...await fs.readFile(join(dir, 'b.bin'))], [0, 1, 2])
  await t.rejects(writeFileAtomic(join(dir, 'missing', 'c.json'), 'x'), { code: 'E_FILE_WRITE' })
  t.same((await fs.readdir(dir)).sort(), ['a.json', 'b.bin'], 'no temp files left behind, even after failures')
  // Many concurrent writers: the file always holds one complete version.
  await Promise.all(Array.from({ length: 20 }, async (_, i) => { await writeFileAtomic(path, JSON.stringify({ i, pad: 'x'.repeat(10000) })) }))
  t.match(JSON.parse(await fs.readFile(path, 'utf8')), { pad: 'x'.repeat(10000) })
  t.same((await fs.readdir(dir)).sort(), ['a.json', 'b.bin'])
})

t.test('readJsonFile names the file in its errors', async (t) => {
  const dir = t.testdir({ 'bad.json': '{ nope', 'ok.json': '{"a":[1]}' })
  t.same(await readJsonFile(join(dir, 'ok.json')), { a: [1] })
  await t.rejects(readJsonFile(join(dir, 'missing.json'), 'config'), { code: 'E_FILE_NOT_FOUND', message: /config not found.*missing\.json/ })
  await t.rejects(readJsonFile(join(dir, 'bad.json')), { code: 'E_FILE_JSON', message: /bad\.json/ })
  await t.rejects(readJsonFile(dir), { code: 'E_FILE_READ', message: new RegExp(dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) })
})

t.test('importWallet: an existing key, encrypted; one wallet per address; wrong lengths refused', async (t) => {
  const dir = join(t.testdir(), 'wallets')
  const seed = new Uint8Array(32).fill(9)
  const w = await importWallet(dir, seed, 'pw', FAST)
  t.equal(w.address, addressFromPublicKey(keyPairFromSeed(seed).publicKey))
  t.equal(await mode(w.path), 0o600)
  t.notMatch(await fs.readFile(w.path, 'utf8'), Buffer.from(seed).toString('hex'), 'the seed is not stored in the clear')
  t.same(seed, new Uint8Array(32).fill(9), 'the caller\'s seed is left as it was')
  const unlocked = await unlockWallet(dir, w.address, 'pw')
  t.same(unlocked.signer.seed, seed)
  await t.rejects(importWallet(dir, seed, 'other', FAST), { code: 'E_WALLET_EXISTS' })
  t.equal((await unlockWallet(dir, w.address, 'pw')).address, w.address, 'the first file is untouched')
  await t.rejects(importWallet(dir, new Uint8Array(31), 'pw', FAST), { code: 'E_KEY_LENGTH' })
  await t.rejects(importWallet(dir, seed, '', FAST), { code: 'E_EMPTY_PASSPHRASE' })
})
