// A user outside the docker group: the engine is there, the socket refuses them. start, ps and the console must
// say it is a permission problem (E_DOCKER_PERMISSION, "join the docker group"), not that there is no engine.
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { DOCKER_SOCKET, requireDocker } from '../helpers/docker.js'

const ROOT = new URL('../..', import.meta.url).pathname
const BIN = join(ROOT, 'bin/econumi.js')

t.test('a user without access to the Docker socket is told to join the docker group', async (t) => {
  if (!requireDocker(t)) return
  if (process.getuid?.() !== 0 || !existsSync('/usr/sbin/runuser')) { t.plan(0, 'skip: needs root and runuser to act as another user'); return }
  // nobody may not use the socket (it is root:docker 0660 on a Debian engine): the case this test is about
  const mode = statSync(DOCKER_SOCKET).mode & 0o7
  if (mode & 0o2) { t.plan(0, `skip: ${DOCKER_SOCKET} is writable by everyone here`); return }
  const home = mkdtempSync(join(tmpdir(), 'econumi-noperm-'))
  chmodSync(home, 0o777)
  t.teardown(() => { rmSync(home, { recursive: true, force: true }) })
  // env -i: the user's own environment only (tap's coverage hook would write into the checkout as nobody)
  const asNobody = (args: string[], input?: string): ReturnType<typeof spawnSync> => spawnSync('runuser', ['-u', 'nobody', '--', 'env', '-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`, `HOME=${home}`, `ECONUMI_HOME=${home}`, `ECONUMI_DOCKER_SOCKET=${DOCKER_SOCKET}`, process.execPath, BIN, '--data-dir', join(home, 'data'), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    input
  })
  for (const [args, input] of [[['ps']], [['start', '--offline']], [['console'], 'show images\n']] as Array<[string[], string?]>) {
    const r = asNobody(args, input)
    t.equal(r.status, 1, `${args.join(' ')}: refused (exit 1): ${String(r.stderr)}`)
    // the console reports each failed line, then that some failed
    t.match(String(r.stderr), input === undefined ? /^econumi: [^\n]+ \[E_DOCKER_PERMISSION\]\n$/ : /^econumi: [^\n]+ \[E_DOCKER_PERMISSION\]\n/, `${args.join(' ')}: E_DOCKER_PERMISSION`)
    t.match(String(r.stderr), /docker group/, `${args.join(' ')}: says to join the docker group`)
    t.notMatch(String(r.stderr), /E_NO_DOCKER|no Docker engine|\n\s+at /, `${args.join(' ')}: not "no engine", no stack`)
  }
  const json = asNobody(['--json', 'ps'])
  t.match(JSON.parse(String(json.stderr)), { error: { code: 'E_DOCKER_PERMISSION' } }, '--json: the code in JSON')
})
