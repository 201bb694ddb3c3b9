// `send` refuses an amount or fee beyond what a transaction can carry before it asks for anything (the
// wallet, the node, the passphrase).
import t from 'tap'
import { execFile } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { addressFromPublicKey } from '../../protocol/address.js'
import { MAX_MONEY, formatAmount } from '../../protocol/amount.js'
import { keyPairFromSeed } from '../../protocol/keys.js'
import { CLI, tempDir } from '../helpers/node-process.js'

const A = addressFromPublicKey(keyPairFromSeed(new Uint8Array(32).fill(1)).publicKey)
const B = addressFromPublicKey(keyPairFromSeed(new Uint8Array(32).fill(2)).publicKey)

async function cli (home: string, args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [CLI, '--data-dir', join(home, 'node'), '--wallet-dir', join(home, 'wallets'), ...args], { env: { ...process.env, ECONUMI_HOME: home }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: unknown }).code ?? -1), stdout, stderr })
    })
  })
}

t.test('send: an amount or fee beyond the encodable range is E_BAD_AMOUNT up front', async (t) => {
  const home = tempDir('econumi-send-')
  t.teardown(() => rmSync(home, { recursive: true, force: true }))
  for (const args of [[A, B, '999999999999'], [A, B, '21000000000.00000001'], [A, B, '1', '--fee', '999999999999']]) {
    const r = await cli(home, ['send', ...args])
    t.equal(r.code, 1, args.join(' '))
    t.match(r.stderr, /^econumi: [^\n]+ \[E_BAD_AMOUNT\]\n$/, `${args.join(' ')}: one line, E_BAD_AMOUNT`)
  }
  // the largest amount passes this check (and goes on to look for the wallet)
  const max = await cli(home, ['send', A, B, formatAmount(MAX_MONEY)])
  t.match(max.stderr, /\[E_WALLET_NOT_FOUND\]/)
})
