// `econumi ps` against a real dockerd and a real foreground node: docker's flags (-a, -q, --format with a
// Go-template subset, `table`, json), NAMES last, the foreground node listed as a process, and workloads not
// marked attested or not when the node does not attest. compileFormat is also checked on its own.
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { compileFormat, type PsRow } from '../../cli/ps.js'
import { CLI, NodeProcess, tempDir } from '../helpers/node-process.js'
import { acquireEngineLock, requireDocker, run } from '../helpers/docker.js'
import { busyboxEngine } from '../helpers/engine.js'

interface Result { code: number, stdout: string, stderr: string }

async function cli (dataDir: string, args: string[]): Promise<Result> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [CLI, '--data-dir', dataDir, ...args], { env: { ...process.env, ECONUMI_DEBUG: undefined }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1, stdout, stderr })
    })
  })
}

const ROW: PsRow = { containerId: '0123456789ab', image: 'busybox', name: 'web', role: 'workload', status: 'Up 2 seconds', state: 'running', attestation: 'attested', pollsAnswered: 3, pollsMissed: 1, cu: '42', cuEpoch: '7', evidence: 'published' }

t.test('--format: the Go-template subset', async (t) => {
  t.equal(compileFormat('{{.ID}} {{.Image}}').render(ROW), '0123456789ab busybox')
  t.equal(compileFormat('{{ .Names }}\\t{{.Polls}}\\t{{.CU}}').render(ROW), 'web\t3/1\t42', 'spaces inside braces, \\t')
  t.equal(compileFormat('{{json .Image}}').render(ROW), '"busybox"')
  t.same(JSON.parse(compileFormat('{{json .}}').render(ROW)), { ID: '0123456789ab', Image: 'busybox', Names: 'web', Name: 'web', Role: 'workload', Status: 'Up 2 seconds', State: 'running', Attested: 'yes', Attestation: 'attested', Polls: '3/1', CU: '42', CUEpoch: '7', Evidence: 'published' })
  t.equal(JSON.parse(compileFormat('json').render(ROW)).Attested, 'yes', '--format json: one object per row')
  const table = compileFormat('table {{.ID}}\\t{{.Names}}')
  t.equal(table.header, 'CONTAINER ID\tNAMES', 'table: docker\'s header names')
  t.equal(table.render(ROW), '0123456789ab\tweb')
  t.throws(() => compileFormat('{{.Nope}}'), { code: 'E_BAD_FORMAT' }, 'an unknown field is refused, naming the fields')
  t.throws(() => compileFormat('{{range .}}x{{end}}'), { code: 'E_BAD_FORMAT' }, 'what the subset does not do is refused, not printed raw')
})

t.test('ps with a foreground node and real containers', async (t) => {
  if (!await busyboxEngine(t, 'ps.test')) return
  const dir = tempDir('econumi-ps-')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const tag = `econumi-ps-test-${process.pid}`
  const up = run(['run', '-d', '--name', `${tag}-up`, '--label', `econumi.test=${tag}`, 'econumi/busybox:test', 'sleep', '300'])
  t.equal(up.status, 0, up.stderr)
  const down = run(['run', '--name', `${tag}-down`, '--label', `econumi.test=${tag}`, 'econumi/busybox:test', 'true'])
  t.equal(down.status, 0, down.stderr)
  t.teardown(() => { run(['rm', '-f', `${tag}-up`, `${tag}-down`]) })
  const upId = up.stdout.trim().slice(0, 12)
  const downId = run(['inspect', '--format', '{{.Id}}', `${tag}-down`]).stdout.trim().slice(0, 12)

  const dataDir = join(dir, 'node')
  const node = new NodeProcess(dataDir, ['--offline']).start()
  t.teardown(async () => { await node.stop() })
  await node.ready()
  const status = await node.status()

  const ps = await cli(dataDir, ['ps'])
  t.equal(ps.code, 0, ps.stderr)
  const lines = ps.stdout.split('\n')
  t.match(lines[0], /^CONTAINER ID\s+IMAGE\s+ROLE\s+STATUS\s+ATTESTED\s+POLLS\s+CU\s+EVIDENCE\s+NAMES$/, 'docker\'s columns, NAMES last')
  t.match(ps.stdout, new RegExp(`^-\\s+\\(foreground\\)\\s+node\\s+running\\s+-\\s+-\\s+-\\s+-\\s+econumi node ${(status.nodeId as string).slice(0, 16)} \\(pid ${status.pid as number}\\)$`, 'm'), 'the foreground node is listed, with its pid')
  t.match(ps.stdout, new RegExp(`^${upId}\\s+econumi/busybox:test\\s+workload\\s+Up [^\\n]*\\s-\\s+-\\s+-\\s+${tag}-up$`, 'm'), 'a running container: not marked attested or not (the node does not attest)')
  t.notMatch(ps.stdout, downId, 'a stopped container is not listed without -a')
  t.match(ps.stdout, /the node does not attest/)

  const all = await cli(dataDir, ['ps', '-a'])
  t.match(all.stdout, new RegExp(`^${downId}\\s+econumi/busybox:test\\s+workload\\s+Exited[^\\n]*${tag}-down$`, 'm'), '-a lists the stopped one')
  const quiet = (await cli(dataDir, ['ps', '-q'])).stdout.split('\n').filter((l) => l !== '')
  t.ok(quiet.includes(upId), '-q: container IDs')
  t.ok(quiet.every((l) => /^[0-9a-f]{12}$/.test(l)), '-q: nothing but IDs (the foreground node has none)')
  const aq = (await cli(dataDir, ['ps', '-aq'])).stdout
  t.match(aq, downId, '-aq combines')
  const fmt = (await cli(dataDir, ['ps', '--format', '{{.ID}} {{.Image}}'])).stdout
  t.match(fmt, new RegExp(`^${upId} econumi/busybox:test$`, 'm'))
  const js = (await cli(dataDir, ['ps', '-a', '--format', 'json'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>)
  t.ok(js.some((r) => r.Names === `${tag}-down` && r.State === 'exited'), '--format json, one object per line')
  const bad = await cli(dataDir, ['ps', '--format', '{{.Nope}}'])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /^econumi: [^\n]+ \[E_BAD_FORMAT\]\n$/)
  const j = JSON.parse((await cli(dataDir, ['--json', 'ps'])).stdout)
  t.equal(j.attestation, false)
  t.ok(j.containers.some((c: PsRow) => c.containerId === upId && c.attestation === 'n/a'), '--json: n/a without attestation')

  await node.stop()
  t.ok(node.proc !== null && (node.proc.exitCode !== null || node.proc.signalCode !== null), 'the node exited')
  t.notMatch((await cli(dataDir, ['ps'])).stdout, /\(foreground\)/, 'a stopped node is no longer listed')
})

t.test('console stop accepts a container name', async (t) => {
  if (!requireDocker(t)) return
  const release = await acquireEngineLock('ps.test console')
  t.teardown(release)
  const dir = tempDir('econumi-console-stop-')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const dataDir = join(dir, 'node')
  const console = (input: string): ReturnType<typeof run> => run([CLI, '--data-dir', dataDir, 'console'], { cmd: process.execPath, input })
  const started = console('start econumi/busybox:test -- sleep 300\n')
  t.equal(started.status, 0, started.stderr)
  const id = /as ([0-9a-f]{12})/.exec(started.stdout)?.[1] ?? ''
  t.teardown(() => { run(['rm', '-f', id]) })
  const name = run(['inspect', '--format', '{{.Name}}', id]).stdout.trim().replace(/^\//, '')
  t.match(name, /^[a-z0-9_]+$/, `docker named it (${name})`)
  const stopped = console(`stop ${name}\n`)
  t.equal(stopped.status, 0, stopped.stderr)
  t.match(stopped.stdout, new RegExp(`stopped ${id} \\(econumi/busybox:test\\)`))
  t.not(run(['inspect', id]).status, 0, 'the container is gone')
  t.same(JSON.parse(readFileSync(join(dataDir, 'econumi.config'), 'utf8')).workloads, [], 'and dropped from econumi.config')
  const unknown = console('stop no-such-name\n')
  t.equal(unknown.status, 1)
  t.match(unknown.stderr, /\[E_NOT_FOUND\]/)
})
