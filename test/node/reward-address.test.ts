// Where block rewards go, with real node processes: the node key's address by default, the operator's
// --reward-address once given (remembered across restarts), and a corrupt saved choice is a clear error.
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { addressFromPublicKey } from '../../protocol/address.js'
import { keyPairFromSeed } from '../../protocol/keys.js'
import { NodeProcess, tempDir, writeGenesis } from '../helpers/node-process.js'

const CLI = fileURLToPath(new URL('../../bin/econumi.js', import.meta.url))
const OPERATOR = addressFromPublicKey(keyPairFromSeed(new Uint8Array(32).fill(42)).publicKey)

t.test('reward address: node key by default, --reward-address remembered, corrupt file refused', async (t) => {
  const dir = tempDir('econumi-reward-')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const genesis = writeGenesis(dir, { epochMs: 1000 })
  const data = join(dir, 'node')
  const run = async (args: string[]): Promise<Record<string, unknown>> => {
    const node = new NodeProcess(data, ['--genesis', genesis, '--offline', ...args]).start()
    t.teardown(async () => { await node.stop() })
    const ready = await node.ready()
    const st = await node.status()
    await node.stop()
    t.equal(st.rewardAddress, ready.rewardAddress, 'status reports the same reward address')
    return ready
  }

  const first = await run([])
  const identity = JSON.parse(readFileSync(join(data, 'identity.json'), 'utf8')) as { seed: string }
  const nodeAddress = addressFromPublicKey(keyPairFromSeed(Buffer.from(identity.seed, 'hex')).publicKey)
  t.equal(first.rewardAddress, nodeAddress, 'default: the node key\'s address')
  t.match(String(first.rewardKey), /import-node-key/, 'the ready line says how to spend it')

  const chosen = await run(['--reward-address', OPERATOR])
  t.equal(chosen.rewardAddress, OPERATOR)
  t.equal(statSync(join(data, 'reward-address.json')).mode & 0o777, 0o600)
  const again = await run([])
  t.equal(again.rewardAddress, OPERATOR, 'a restart without the flag keeps the operator\'s choice')

  writeFileSync(join(data, 'reward-address.json'), '{"version":1,"address":"Enot-an-address"}')
  const r = await new Promise<{ code: number, stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, 'start', '--foreground', '--offline', '--data-dir', data, '--genesis', genesis], { timeout: 60_000 }, (err, _out, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: unknown }).code), stderr })
    })
  })
  t.equal(r.code, 1)
  t.match(r.stderr, /^econumi: .*reward-address\.json does not hold a valid address.*\[E_REWARD_ADDRESS_CORRUPT\]\n$/)
  t.equal(readFileSync(join(data, 'reward-address.json'), 'utf8'), '{"version":1,"address":"Enot-an-address"}', 'the file is left as it was')
  const fixed = await run(['--reward-address', OPERATOR])
  t.equal(fixed.rewardAddress, OPERATOR, '--reward-address replaces a corrupt saved choice')
})
