// The API token off the command line (where `ps` shows it to every local user): from a file, or the
// environment, with a real node serving its TCP API.
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CLI, NodeProcess, tempDir } from '../helpers/node-process.js'

async function cli (args: string[], env: Record<string, string> = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'ECONUMI_API_TOKEN')) as Record<string, string>
  return await new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...base, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: unknown }).code ?? -1), stdout, stderr })
    })
  })
}

t.test('--api-token-file and ECONUMI_API_TOKEN reach a real node\'s TCP API', async (t) => {
  const root = tempDir('econumi-token-')
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const dir = join(root, 'node')
  const port = 20000 + Math.floor(Math.random() * 10000)
  const node = new NodeProcess(dir, ['--offline', '--api-port', String(port)]).start()
  t.teardown(async () => { await node.stop() })
  await node.ready()
  const url = `http://127.0.0.1:${port}`
  const tokenText = readFileSync(join(dir, 'api.token'), 'utf8')
  t.match(tokenText, /^[0-9a-f]{48}\n$/, 'api.token is the bare token in plain text, like bitcoind\'s .cookie')
  const token = tokenText.trim()
  const plain = join(root, 'token.txt')
  writeFileSync(plain, token + '\n', { mode: 0o600 })
  const curlish = await fetch(`http://127.0.0.1:${port}/v1/status`, { headers: { authorization: `Bearer ${tokenText.trim()}` } })
  t.equal(curlish.status, 200, 'a shell reads it as it is: Authorization: Bearer $(cat api.token)')

  const viaFile = await cli(['--api-url', url, '--api-token-file', plain, '--json', 'status'])
  t.equal(viaFile.code, 0, `token from a file: ${viaFile.stderr}`)
  t.equal(JSON.parse(viaFile.stdout).network, 'devnet')
  t.equal((await cli(['--api-url', url, '--api-token-file', join(dir, 'api.token'), '--json', 'status'])).code, 0, 'the node\'s own api.token file works as it is')
  t.equal((await cli(['--api-url', url, '--json', 'status'], { ECONUMI_API_TOKEN: token })).code, 0, 'token from the environment')
  const missing = await cli(['--api-url', url, '--api-token-file', join(root, 'nope'), 'status'])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /^econumi: [^\n]+ \[E_API_TOKEN_FILE\]\n$/, 'a missing token file is one clear line')
  const wrong = await cli(['--api-url', url, 'status'])
  t.match(wrong.stderr, /\[E_UNAUTHORIZED\]/, 'no token: refused')
  const help = await cli(['--help'])
  t.match(help.stdout, /--api-token-file/, 'help offers the file')
  t.match(help.stdout, /ps/, 'and says why the command line is not the place')
})
