// econumi.config (atomic write, corrupt file kept), image-name/size validation, and the piped console without Docker.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import t, { type Test } from 'tap'
import { configPath, parseCpus, parseMemory, readConfig, updateConfig, validateImageName, writeConfig } from '../../cli/config-file.js'
import { parseStartArgs, runConsole, tokenize } from '../../cli/console.js'

const BIN = new URL('../../bin/econumi.js', import.meta.url).pathname

function tmp (t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'econumi-console-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

t.test('image names', async (t) => {
  for (const ok of ['econumi/busybox:test', 'busybox', 'localhost:5000/a/b:1.0', 'a_b/c-d', `x@sha256:${'a'.repeat(64)}`]) t.equal(validateImageName(ok), ok)
  for (const bad of ['', 'BAD!!', 'Upper/Case', 'a b', 'x:', ':tag', '-x', 'a'.repeat(300)]) t.throws(() => validateImageName(bad), { code: 'E_BAD_IMAGE_NAME' }, bad)
  t.equal(parseCpus('0.5'), 0.5)
  for (const bad of ['0', '-1', 'x', '2000']) t.throws(() => parseCpus(bad), { code: 'E_BAD_CPUS' })
  t.equal(parseMemory('64m'), 64n * 1024n * 1024n)
  t.equal(parseMemory('1G'), 1024n ** 3n)
  for (const bad of ['1k', '64x', '', 'm']) t.throws(() => parseMemory(bad), { code: 'E_BAD_MEMORY' })
})

t.test('start arguments and tokenizer', async (t) => {
  t.same(tokenize(' start  "a b" \'c\' d '), ['start', 'a b', 'c', 'd'])
  // a shell's quoting rules (shell-quote): escapes, quotes inside quotes, adjacent pieces, comments
  t.same(tokenize('start img -- sh -c \'echo "hi there"\''), ['start', 'img', '--', 'sh', '-c', 'echo "hi there"'])
  t.same(tokenize('start img -- echo \'it\'\\\'\'s\' a\\ b'), ['start', 'img', '--', 'echo', "it's", 'a b'])
  t.same(tokenize('start img -- echo "x"y\'z\''), ['start', 'img', '--', 'echo', 'xyz'])
  t.same(tokenize('stop web # the old one'), ['stop', 'web'], 'a # comment ends the line')
  t.same(tokenize('start img -- echo $HOME *.log'), ['start', 'img', '--', 'echo', '$HOME', '*.log'], 'no expansion: the console runs no shell')
  t.throws(() => tokenize('start img -- echo "open'), { code: 'E_USAGE', message: /unclosed quote/ })
  for (const op of ['ps | grep x', 'ps; exit', 'ps && exit', 'ps > out']) t.throws(() => tokenize(op), { code: 'E_USAGE', message: /runs no shell/ }, op)
  t.same(parseStartArgs(['econumi/busybox:test', '--cpus', '0.5', '--memory=64M', '--', 'sleep', '9']), { image: 'econumi/busybox:test', cpus: 0.5, memory: '64m', cmd: ['sleep', '9'] })
  t.throws(() => parseStartArgs([]), { code: 'E_USAGE' })
  t.throws(() => parseStartArgs(['a', 'b']), { code: 'E_USAGE' })
  t.throws(() => parseStartArgs(['a', '--cpus']), { code: 'E_USAGE' })
  t.throws(() => parseStartArgs(['a', '--bogus']), { code: 'E_USAGE' })
  t.throws(() => parseStartArgs(['a', '--']), { code: 'E_USAGE' })
  t.throws(() => parseStartArgs(['NOPE!']), { code: 'E_BAD_IMAGE_NAME' })
})

t.test('econumi.config: missing, atomic write, update, corrupt', async (t) => {
  const d = tmp(t)
  t.same(await readConfig(d), { version: 1, workloads: [] })
  await writeConfig(d, { version: 1, workloads: [{ image: 'econumi/busybox:test', cpus: 0.5, memory: '64m' }] })
  await updateConfig(d, (c) => ({ ...c, workloads: [...c.workloads, { image: 'busybox', cmd: ['sleep', '1'] }] }))
  t.same(JSON.parse(readFileSync(configPath(d), 'utf8')), { version: 1, workloads: [{ image: 'econumi/busybox:test', cpus: 0.5, memory: '64m' }, { image: 'busybox', cmd: ['sleep', '1'] }] })
  t.same(readdirSync(d), ['econumi.config'], 'no temp file left behind')
  const cases = ['{not json', '[]', '{"version":2,"workloads":[]}', '{"version":1}', '{"version":1,"workloads":[3]}',
    '{"version":1,"workloads":[{"image":"BAD!"}]}', '{"version":1,"workloads":[{"image":"a","cpus":-1}]}',
    '{"version":1,"workloads":[{"image":"a","memory":"lots"}]}', '{"version":1,"workloads":[{"image":"a","cmd":[1]}]}']
  for (const text of cases) {
    writeFileSync(configPath(d), text)
    await t.rejects(readConfig(d), { code: 'E_CONFIG_CORRUPT', message: new RegExp(configPath(d).replace(/[.]/g, '\\.')) }, text)
    await t.rejects(updateConfig(d, (c) => c), { code: 'E_CONFIG_CORRUPT' })
    t.equal(readFileSync(configPath(d), 'utf8'), text, 'corrupt file kept untouched')
  }
})

async function consoleSession (dataDir: string, input: string, terminal = false): Promise<{ out: string, err: string, failed: number }> {
  const inp = new PassThrough(); const out = new PassThrough(); const err = new PassThrough()
  let o = ''; let e = ''
  out.on('data', (c: Buffer) => { o += c.toString() }); err.on('data', (c: Buffer) => { e += c.toString() })
  inp.end(input)
  const failed = await runConsole({ dataDir, input: inp, output: out, errorOutput: err, terminal })
  return { out: o, err: e, failed }
}

t.test('console in-process: help, bad commands, exit', async (t) => {
  const d = tmp(t)
  const r = await consoleSession(d, 'help\n\n# comment\nbogus\nshow nothing\nstop\nstart\nstart BAD!!\nexit\nhelp\n')
  t.match(r.out, /show images/)
  t.equal(r.out.match(/commands:/g)?.length, 1, 'nothing runs after exit')
  t.equal(r.failed, 5)
  t.match(r.err, /unknown command "bogus".*\[E_UNKNOWN_COMMAND\]/)
  t.match(r.err, /\[E_BAD_IMAGE_NAME\]/)
  for (const line of r.err.trim().split('\n')) t.match(line, /^econumi: .* \[E_[A-Z_]+\]$/, 'one-line errors')
  const corrupt = join(d, 'econumi.config')
  writeFileSync(corrupt, '{oops')
  const c = await consoleSession(d, 'start econumi/busybox:test\n')
  t.match(c.err, /E_CONFIG_CORRUPT/)
  t.equal(readFileSync(corrupt, 'utf8'), '{oops')
  const tty = await consoleSession(d, 'help\n', true)
  t.match(tty.out, /econumi> /)
  t.equal(tty.failed, 0)
  // on a terminal: Ctrl-C drops the line being typed and prompts again; Ctrl-D leaves, running nothing more
  const keys = await consoleSession(d, 'frobnicate\u0003help\r\u0004help\r', true)
  t.match(keys.out, /\^C\n/, 'Ctrl-C echoes ^C')
  t.notMatch(keys.err, /frobnicate|E_UNKNOWN_COMMAND/, 'the cancelled line never runs')
  t.equal(keys.out.match(/commands:/g)?.length, 1, 'the next line runs; nothing after Ctrl-D')
  const quoted = await consoleSession(d, 'stop "unclosed\nps | grep x\n')
  t.equal(quoted.failed, 2, 'a line a shell would refuse is one failed command, and the session goes on')
})

t.test('history on a terminal survives sessions (console_history, 0600); piped sessions leave none', async (t) => {
  const d = tmp(t)
  await consoleSession(d, 'help\nbogus one\n')
  t.notOk(existsSync(join(d, 'console_history')), 'no history file from piped input')
  await consoleSession(d, 'help\nbogus one\n', true)
  const file = join(d, 'console_history')
  t.same(readFileSync(file, 'utf8').trim().split('\n'), ['help', 'bogus one'], 'newest last')
  t.equal(statSync(file).mode & 0o777, 0o600)
  await consoleSession(d, 'ps nothing\n', true)
  t.same(readFileSync(file, 'utf8').trim().split('\n'), ['help', 'bogus one', 'ps nothing'], 'the next session starts from the saved history')
})

t.test('completion', async (t) => {
  const { EconumiConsole } = await import('../../cli/console.js')
  const c = new EconumiConsole('/nonexistent', () => {}, () => {})
  t.same(c.completer('st')[0], ['start ', 'stop '])
  t.same(c.completer('show i')[0], ['images'])
  t.same(c.completer('start econumi/busybox:test --c')[0], ['--cpus'])
  t.same(c.completer('ps x')[0], [])
})

t.test('econumi console with piped stdin (CLI)', async (t) => {
  const d = tmp(t)
  const ok = spawnSync(process.execPath, [BIN, '--data-dir', d, 'console'], { input: 'help\nexit\n', encoding: 'utf8' })
  t.equal(ok.status, 0, ok.stderr)
  t.match(ok.stdout, /start <image>/)
  const bad = spawnSync(process.execPath, [BIN, '--data-dir', d, 'console'], { input: 'frobnicate\n', encoding: 'utf8' })
  t.equal(bad.status, 1)
  t.match(bad.stderr, /E_UNKNOWN_COMMAND/)
  t.match(bad.stderr, /E_CONSOLE_FAILED/)
  const json = spawnSync(process.execPath, [BIN, '--data-dir', d, '--json', 'console'], { input: 'help\n', encoding: 'utf8' })
  t.equal(json.status, 1)
  t.match(json.stderr, /"code":"E_BAD_OPTION"/, '--json is refused with a message')
  t.equal(json.stdout, '')
})
