// End to end against the real dockerd: plugin enabled through daemon.json, `econumi start --foreground
// --attest` with a 2 s epoch on a loopback DHT, plain `docker run` workloads (two healthy, one that turns unhealthy), then: a sidecar per
// workload, answered polls, verifying exit reports, zero credit for the unhealthy epoch, CU = the formula, every
// epoch's evidence recomputing to its CU (`econumi audit`, and a second node process auditing the reports it
// replicates), blocks won, balance = Σ coinbase, the agent key nowhere but the agent's tmpfs, a workload (as root, nobody
// or the agent's own uid) unable to read the key, stop or ptrace its agent, and the node exiting on SIGTERM.
// One file on purpose: every check reads the same attested node, its workloads and its chain (one slow set-up).
// Skips without an engine; fails instead with ECONUMI_REQUIRE_DOCKER=1.
import t from 'tap'
import { acquireEngineLock } from '../helpers/docker.js'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { createServer as createNetServer } from 'node:net'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { POLL_WINDOW_MS, verifyExitReport } from '../../protocol/attestation.js'
import { computeUnits } from '../../protocol/compute-units.js'
import { toHex } from '../../protocol/encoding.js'
import { creditFromEvidence, decodeEvidence, evidenceRoot } from '../../protocol/evidence.js'
import { genesisHash, paramsFromJson } from '../../protocol/params.js'
import { Signer } from '../../protocol/keys.js'
import { x509AgentChecker } from '../../protocol/certificates.js'
import { verifyAgentCertificate } from '../../node/attestation/pki.js'
import { AGENT_UID, WORKLOAD_CGROUP_DIR } from '../../agent/wire.js'
import { dockerApi, requireDocker, run } from '../helpers/docker.js'
import { NodeProcess, localBootstrap, until } from '../helpers/node-process.js'

const ROOT = resolve(import.meta.dirname, '../..')
const RUN_DIR = '/run/econumi'
const EPOCH_MS = 2000

function api (dataDir: string, path: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: join(dataDir, 'api.sock'), path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { try { resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))) } catch (err) { reject(err) } })
    })
    req.on('error', reject)
    req.end()
  })
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

function script (args: string[], timeoutMs = 600_000): { status: number | null, out: string } {
  const r = spawnSync(args[0], args.slice(1), { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs })
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` }
}

/** Stream of a `docker exec` run as the node (token header), raw multiplexed output. */
async function execAsNode (container: string, cmd: string[], token: string): Promise<{ status: number, body: string }> {
  const h = { 'X-Econumi-Node-Token': token }
  const created = await dockerApi('POST', `/containers/${container}/exec`, { AttachStdout: true, AttachStderr: true, Cmd: cmd }, h)
  if (created.status !== 201) return { status: created.status, body: created.body }
  const started = await dockerApi('POST', `/exec/${created.json.Id}/start`, { Detach: false, Tty: false }, h)
  return { status: started.status, body: started.body }
}

// the file's own test object: a subtest's teardown can still assert on it (the subtest itself has ended by then)
const root = t

/** SIGTERM, then how the process ended: its exit code, or 'timeout' if it still ran `ms` later. */
async function sigterm (child: ReturnType<typeof spawn>, ms: number): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode
  return await new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), ms)
    child.once('exit', (code, signal) => { clearTimeout(timer); resolve(code ?? signal) })
    child.kill('SIGTERM')
  })
}

t.test('attested docker workloads earn compute units and blocks', async (t) => {
  if (!requireDocker(t)) return
  // one suite at a time may reconfigure the engine's authz plugin
  const unlock = await acquireEngineLock('test/e2e/attestation.test.ts')
  t.teardown(unlock)
  const steps: Array<[string, string[]]> = [
    ['base and workload images', [join(ROOT, 'scripts/build-images.sh')]],
    ['agent image', [join(ROOT, 'scripts/build-agent.sh')]],
    ['plugin create + enable', [join(ROOT, 'scripts/build-plugin.sh'), '--create']],
    ['authz off (dockerd runs the plugin only once daemon.json names it)', [join(ROOT, 'scripts/build-plugin.sh'), '--disable-authz']],
    ['--attest refused while dockerd does not run the plugin', []],
    ['authz through daemon.json + SIGHUP', [join(ROOT, 'scripts/build-plugin.sh'), '--enable-authz', '--no-build']]
  ]
  t.teardown(() => {
    // restore the engine even on failure: authz out of daemon.json + SIGHUP
    const r = script([join(ROOT, 'scripts/build-plugin.sh'), '--disable-authz'], 120_000)
    if (r.status !== 0) process.stderr.write(`e2e teardown: could not disable authz:\n${r.out}\n`)
  })
  for (const [what, cmd] of steps) {
    if (cmd.length === 0) {
      // the real CLI with --attest on an engine whose authz does not include econumi: a clear error, non-zero exit
      const dir = mkdtempSync(join(tmpdir(), 'econumi-noauthz-'))
      const r = spawnSync(process.execPath, [join(ROOT, 'bin/econumi.js'), 'start', '--foreground', '--attest', '--offline', '--data-dir', join(dir, 'node'), '--json'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ECONUMI_HOME: dir } })
      t.not(r.status, 0, `${what}: non-zero exit`)
      t.match(r.stderr, /E_PLUGIN_NOT_ENABLED/, 'names the problem')
      t.match(r.stderr, /authorization-plugins/, 'and the fix')
      t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
      t.equal(r.signal, null, 'it exited by itself')
      continue
    }
    let r = script(cmd)
    // the engine is shared with other suites that toggle the same plugin: retry a step once
    if (r.status !== 0) { await sleep(5000); r = script(cmd) }
    if (r.status !== 0) { t.fail(`${what} failed:\n${r.out.slice(-3000)}`); return }
    t.pass(what)
  }

  // ---- the node -------------------------------------------------------------------------------------------
  const httpPort = await new Promise<number>((resolve, reject) => {
    const srv = createNetServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => { const p = (srv.address() as { port: number }).port; srv.close(() => resolve(p)) })
  })
  const dataDir = mkdtempSync(join(tmpdir(), 'econumi-e2e-attest-'))
  const lines: any[] = []
  // the real command, as an operator runs it (the build step above compiled dist/)
  const home = mkdtempSync(join(tmpdir(), 'econumi-e2e-home-'))
  // a loopback DHT, so a second node can join later and audit this one's reports
  const bs = await localBootstrap()
  t.teardown(async () => { await bs.close() })
  const child = spawn(process.execPath, [join(ROOT, 'bin/econumi.js'), 'start', '--foreground', '--attest', '--bootstrap', bs.address, '--epoch', String(EPOCH_MS), '--data-dir', dataDir, '--json', '--http-port', String(httpPort)], {
    cwd: ROOT, env: { ...process.env, ECONUMI_HOME: home }, stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  let buf = ''
  child.stdout.on('data', (c: Buffer) => {
    buf += c.toString()
    let nl: number
    while ((nl = buf.indexOf('\n')) !== -1) { try { lines.push(JSON.parse(buf.slice(0, nl))) } catch {} buf = buf.slice(nl + 1) }
  })
  const workloads: string[] = []
  t.teardown(async () => {
    for (const id of workloads) run(['rm', '-f', id])
    if (child.exitCode === null && child.signalCode === null) {
      // the test ended early (a failure): the node must still exit by itself on SIGTERM, and cleanly
      const code = await sigterm(child, 20_000)
      root.equal(code, 0, 'after an early end, the attesting node exited by itself within 20 s of SIGTERM, with code 0')
      if (code === 'timeout') child.kill('SIGKILL')
    }
  })
  const waitFor = async (pred: (l: any) => boolean, ms: number): Promise<any> => {
    const end = Date.now() + ms
    while (Date.now() < end) {
      const hit = lines.find(pred)
      if (hit !== undefined) return hit
      if (child.exitCode !== null) break
      await sleep(100)
    }
    return null
  }
  const ready = await waitFor((l) => l.event === 'ready', 60_000)
  if (ready === null) { t.fail(`node did not start: ${stderr.slice(-2000)}`); return }
  const rewardAddress: string = ready.rewardAddress
  const token = readFileSync(join(RUN_DIR, 'node-token'), 'utf8').trim()

  // ---- workloads: plain docker run, unchanged ------------------------------------------------------------
  const start = (args: string[]): string => {
    const r = run(['run', '-d', '--cpus', '0.5', '--memory', '64m', ...args])
    t.equal(r.status, 0, `docker run ${args.join(' ')}: ${r.stderr}`)
    const id = r.stdout.trim()
    workloads.push(id)
    return id
  }
  // each runs at least its time, and on until the test releases it (touch /tmp/release), so a slow machine
  // cannot end a workload before the checks on its agent are done
  const held = (secs: number): string[] => ['econumi/busybox:test', 'sh', '-c', `sleep ${secs}; i=0; while [ ! -f /tmp/release ] && [ $i -lt 120 ]; do sleep 1; i=$((i+1)); done`]
  const long = start(held(16))
  const short = start(held(9))
  const sick = start(['--health-cmd', 'test -f /tmp/ok', '--health-interval', '1s', '--health-retries', '1', '--health-timeout', '1s',
    'econumi/busybox:test', 'sh', '-c', 'touch /tmp/ok; sleep 3; rm /tmp/ok; sleep 16'])

  // a sidecar for each, named and labelled, in a PID namespace of its own, watching the workload's cgroup
  for (const id of [long, short, sick]) {
    const hit = await waitFor((l) => l.event === 'agent-started' && l.container === id.slice(0, 12), 20_000)
    t.ok(hit, `agent started for ${id.slice(0, 12)}`)
  }
  await waitFor((l) => l.event === 'agent-connected' && l.container === long.slice(0, 12), 10_000)

  // `econumi ps` of an attesting node: the workloads it witnesses are marked attested (column, template, JSON)
  const ps = spawnSync(process.execPath, [join(ROOT, 'bin/econumi.js'), 'ps', '--data-dir', dataDir, '--format', 'json'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ECONUMI_HOME: home } })
  t.equal(ps.status, 0, `econumi ps --format json runs (${ps.stderr.trim().split('\n')[0] ?? ''})`)
  const psRows = ps.stdout.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { ID: string, Role: string, Attested: string, Attestation: string })
  t.match(psRows.find((r) => r.ID === long.slice(0, 12)), { Role: 'workload', Attested: 'yes', Attestation: 'attested' }, 'econumi ps lists the running workload as attested ({{.Attested}} yes)')
  const table = spawnSync(process.execPath, [join(ROOT, 'bin/econumi.js'), 'ps', '--data-dir', dataDir], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ECONUMI_HOME: home } })
  t.match(table.stdout, new RegExp(`^${long.slice(0, 12)}\\s+econumi/busybox:test\\s+workload\\s+.*?\\s+yes\\s+\\d+/\\d+\\s`, 'm'), 'and the table says ATTESTED yes for it')
  t.notMatch(table.stdout, /the node does not attest/, 'without the note of a node that does not attest')
  const agentName = `econumi-agent-${long.slice(0, 12)}`
  const ai = await dockerApi('GET', `/containers/${agentName}/json`)
  t.equal(ai.status, 200)
  t.notOk(String(ai.json.HostConfig.PidMode ?? '').startsWith('container:'), `the agent does not share the workload's PID namespace (PidMode ${JSON.stringify(ai.json.HostConfig.PidMode)})`)
  t.equal(ai.json.Config.User, `${AGENT_UID}:${AGENT_UID}`, 'the agent runs as AGENT_UID')
  t.ok(ai.json.Mounts.some((m: any) => m.Destination === WORKLOAD_CGROUP_DIR && m.RW === false && String(m.Source).endsWith(long)), 'the workload cgroup is mounted read-only')
  t.equal(ai.json.Config.Labels['econumi.role'], 'agent')
  t.equal(ai.json.Config.Labels['econumi.workload'], long)

  // the plugin protects the agent from everyone but the node (checked on the short workload's agent, so a
  // wrongly allowed stop cannot spoil the other checks). Other suites share this engine and may toggle authz.
  const authzActive = (): boolean => run(['stop', '-t', '0', 'econumi-agent-probe-e2e']).stderr.includes('E_AGENT_PROTECTED')
  if (!authzActive()) script([join(ROOT, 'scripts/build-plugin.sh'), '--enable-authz', '--no-build'], 120_000)
  t.ok(authzActive(), 'authz plugin active')
  const shortAgent = `econumi-agent-${short.slice(0, 12)}`
  for (const args of [['exec', shortAgent, '/usr/local/bin/node', '-e', '0'], ['cp', `${shortAgent}:/run/secrets/agent.key`, '/tmp/x'], ['stop', shortAgent], ['rm', '-f', shortAgent]]) {
    const r = run(args)
    t.not(r.status, 0, `docker ${args[0]} of an agent is refused`)
    t.match(r.stderr, /E_AGENT_PROTECTED/)
  }

  // the key: read it as the node would (token header), then look for it everywhere it must not be
  const ex = await execAsNode(agentName, ['/usr/local/bin/node', '-e', 'process.stdout.write(require("fs").readFileSync("/run/secrets/agent.key","utf8"))'], token)
  const key = ex.status < 300 ? /[0-9a-f]{64}/.exec(ex.body)?.[0] : undefined
  t.ok(key, `agent key readable inside the agent's tmpfs (status ${ex.status})`)
  if (key !== undefined) {
    const pub = Buffer.from(new Signer(Buffer.from(key, 'hex')).publicKey).toString('hex')
    const rec = JSON.parse(readFileSync(join(dataDir, 'attestation', 'agents', `${long}.json`), 'utf8'))
    t.equal(pub, rec.publicKey, 'the tmpfs key is the certified agent key')
    const places: Array<[string, string]> = [
      ['docker inspect', run(['inspect', agentName]).stdout],
      ['env', JSON.stringify(ai.json.Config.Env)],
      ['docker logs', (() => { const r = run(['logs', agentName]); return r.stdout + r.stderr })()],
      ['docker diff', run(['diff', agentName]).stdout],
      ['image history', run(['history', '--no-trunc', 'econumi/agent:latest']).stdout + run(['image', 'inspect', 'econumi/agent:latest']).stdout],
      ['node data dir', spawnSync('grep', ['-rl', key, dataDir], { encoding: 'utf8' }).stdout],
      ['container dir on host', spawnSync('grep', ['-rl', key, `/var/lib/docker/containers/${ai.json.Id}`], { encoding: 'utf8' }).stdout]
    ]
    for (const [where, text] of places) t.notOk(text.includes(key), `key not in ${where}`)
    // from inside the workload, as every uid it could pick: no key, no SIGSTOP, no ptrace of the agent
    // (a static probe: busybox has no libc; it tries every agent it can see and the agent's host pid)
    const agentPid = String(ai.json.State.Pid)
    const probeDir = mkdtempSync(join(tmpdir(), 'econumi-probe-'))
    const cc = spawnSync('gcc', ['-static', '-O1', '-o', join(probeDir, 'agent-probe'), join(ROOT, 'test/attestation/fixtures/agent-probe.c')], { encoding: 'utf8' })
    t.equal(cc.status, 0, `probe compiles (gcc -static): ${cc.stderr ?? ''}${cc.error?.message ?? ''}`)
    const cp = run(['cp', join(probeDir, 'agent-probe'), `${long}:/agent-probe`])
    t.equal(cp.status, 0, `probe copied into the workload: ${cp.stderr}`)
    for (const uid of ['0', '65534', String(AGENT_UID)]) {
      const r = run(['exec', '-u', `${uid}:${uid}`, long, '/agent-probe', agentPid])
      t.match(r.stdout, new RegExp(`^visible \\d+ uid ${uid}$`, 'm'), `probe ran as uid ${uid}: ${r.stderr}`)
      t.notOk(r.stdout.includes(key), `uid ${uid} in the workload cannot read the agent key`)
      t.notMatch(r.stdout, /^agent-visible /m, `uid ${uid} in the workload cannot see the agent process`)
      t.notMatch(r.stdout, /^(sigstop|ptrace) \d+ ok$/m, `uid ${uid} in the workload can neither stop nor ptrace the agent`)
      const st = readFileSync(`/proc/${agentPid}/status`, 'utf8')
      t.match(st, /^State:\s+[RS]/m, `the agent is running, not stopped, after uid ${uid}'s probe`)
      t.match(st, /^TracerPid:\s+0$/m, `the agent is not traced after uid ${uid}'s probe`)
    }
    // and it still answers: a poll of the long workload answered after the probes
    const answeredBefore = (await api(dataDir, '/v1/workloads')).workloads.find((w: any) => w.id === long)?.pollsAnswered ?? 0
    const end = Date.now() + 3 * Number(POLL_WINDOW_MS)
    let answeredAfter = answeredBefore
    while (Date.now() < end && answeredAfter <= answeredBefore) { await sleep(500); answeredAfter = (await api(dataDir, '/v1/workloads')).workloads.find((w: any) => w.id === long)?.pollsAnswered ?? 0 }
    t.ok(answeredAfter > answeredBefore, `the agent answers polls after the probes (${answeredBefore} → ${answeredAfter})`)
  }

  // ---- let everything exit, then a few more epochs -------------------------------------------------------
  for (const id of [short, long]) run(['exec', id, 'touch', '/tmp/release'])
  run(['wait', long, short, sick], { timeoutMs: 60_000 })
  for (const id of [long, short, sick]) {
    t.ok(await waitFor((l) => (l.event === 'exit-report' || l.event === 'exit-report-missing' || l.event === 'exit-report-refused') && l.container === id.slice(0, 12), 15_000), `exit report handled for ${id.slice(0, 12)}`)
  }
  await sleep(3 * EPOCH_MS)

  // exit reports: verified signature, certificate chain agent → CA → node
  const ca = { certPem: readFileSync(join(dataDir, 'attestation', 'ca-cert.pem'), 'utf8'), endorsement: Buffer.from(JSON.parse(readFileSync(join(dataDir, 'attestation', 'ca-endorsement.json'), 'utf8')).endorsement, 'hex') }
  const reports = new Map<string, any>()
  for (const id of [long, short, sick]) {
    const p = join(dataDir, 'reports', `${id}.json`)
    t.ok(existsSync(p), `report file for ${id.slice(0, 12)}`)
    if (!existsSync(p)) continue
    const file = JSON.parse(readFileSync(p, 'utf8'))
    const r = verifyExitReport({ report: file.report, signature: file.signature })
    verifyAgentCertificate({ certPem: r.certificate, ca, nodeId: ready.nodeId, containerId: id, agentPublicKey: Buffer.from(r.agentPublicKey, 'hex'), at: r.lastAlive })
    t.equal(r.reservations.nanoCpus, '500000000')
    t.equal(r.reservations.memoryBytes, String(64 * 1024 * 1024))
    t.ok(r.pollsAnswered >= 1, `polls answered by ${id.slice(0, 12)}: ${r.pollsAnswered}`)
    reports.set(id, r)
  }
  t.notOk(existsSync(`/var/lib/docker/containers/${ai.json.Id}`) && run(['inspect', agentName]).status === 0, 'the agent was stopped and removed')

  // ---- credit per epoch: the formula, and nothing for the unhealthy epoch -----------------------------------
  const creditDir = join(dataDir, 'attestation', 'credit')
  const credits = readdirSync(creditDir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(creditDir, f), 'utf8'))).sort((a, b) => Number(a.epoch) - Number(b.epoch))
  const genesisParams = paramsFromJson(JSON.parse(readFileSync(join(dataDir, 'genesis.json'), 'utf8')))
  // every record's evidence is on disk beside it, commits to the record's root, and recomputes to its total
  for (const c of credits) {
    const ev = decodeEvidence(readFileSync(join(creditDir, `${c.epoch}.evidence`)))
    t.equal(toHex(evidenceRoot(ev)), c.evidenceRoot, `epoch ${c.epoch}: the evidence has the record's root`)
    t.equal(creditFromEvidence(ev, { params: genesisParams, genesis: genesisHash(genesisParams), registeredCapacity: null, certificates: x509AgentChecker }).total.toString(), c.total, `epoch ${c.epoch}: anyone recomputes the same CU from it`)
  }
  let creditedEpochs = 0
  let sickZero = false
  for (const c of credits) {
    let sum = 0n
    for (const w of c.workloads) {
      sum += BigInt(w.cu)
      if (![long, short, sick].includes(w.containerId)) continue
      if (w.reason === 'credited') {
        // independent recomputation: daemon intervals ∩ agent span ∩ checkpointed windows ∩ epoch, × reservation
        const S = BigInt(c.epochStart); const E = BigInt(c.epochEnd)
        const first = BigInt(w.polls[0].window) * POLL_WINDOW_MS
        const last = BigInt(w.polls[w.polls.length - 1].window) * POLL_WINDOW_MS + POLL_WINDOW_MS
        let ms = 0n
        for (const [f, to] of w.daemonIntervals) {
          const a = [BigInt(f), BigInt(w.agent.attestedFrom), first, S].reduce((x, y) => (x > y ? x : y))
          const b = [BigInt(to), BigInt(w.agent.lastAlive), last, E].reduce((x, y) => (x < y ? x : y))
          if (b > a) ms += b - a
        }
        t.equal(w.attestedMs, ms.toString(), `attested ms epoch ${c.epoch} ${w.containerId.slice(0, 12)}`)
        t.equal(w.cu, computeUnits(ms, { nanoCpus: 500_000_000n, memoryBytes: 64n * 1024n * 1024n }).toString(), `CU formula epoch ${c.epoch}`)
        if (BigInt(w.cu) > 0n) creditedEpochs++
      }
      if (w.containerId === sick && w.polls.some((p: any) => p.answered && !p.healthy)) {
        // a 5 s window spans several 2 s epochs: its unhealthy answer also lies over an epoch the workload no
        // longer ran in (then not-running); either way it earns nothing
        t.equal(w.cu, '0', `the unhealthy workload earned nothing in epoch ${c.epoch}`)
        t.ok(['unhealthy', 'not-running'].includes(w.reason), `reason ${String(w.reason)}`)
        if (w.reason === 'unhealthy') sickZero = true
      }
      if (w.polls.some((p: any) => BigInt(p.window) * POLL_WINDOW_MS >= BigInt(c.epochEnd))) t.fail('poll outside its epoch')
    }
    t.equal(c.total, sum.toString(), `epoch ${c.epoch} total`)
  }
  t.ok(creditedEpochs >= 4, `workloads credited in several epochs (${creditedEpochs})`)
  t.ok(sickZero, 'an epoch with an unhealthy poll exists and paid the unhealthy workload nothing')
  const ws = await api(dataDir, '/v1/workloads')
  const sickStatus = ws.workloads.find((w: any) => w.id === sick)
  t.ok(sickStatus?.pollsUnhealthy >= 1, 'GET /v1/workloads shows the unhealthy poll')

  // ---- blocks: led by this node, carrying its work reports (the CU credited per epoch, attested); Σ coinbase ---
  const { blocks } = await api(dataDir, '/v1/blocks?from=0&limit=1000')
  const mine = blocks.filter((b: any) => b.miner === rewardAddress)
  t.ok(mine.length >= 3, `the node led blocks (${mine.length})`)
  const onChain = blocks.flatMap((b: any) => b.reports.map((r: any) => ({ ...r, blockEpoch: b.epoch })))
  t.ok(onChain.length >= 2, `its work reports are on chain (${onChain.length})`)
  for (const r of onChain) {
    const c = credits.find((x) => BigInt(x.epoch) === BigInt(r.epoch))
    t.equal(r.cu, c?.total, `the report for epoch ${r.epoch} carries the CU credited for it`)
    t.ok(BigInt(r.epoch) <= BigInt(r.blockEpoch) - 2n, 'reported two epochs after the work')
    t.equal(r.evidenceRoot, c?.evidenceRoot, 'attested: it commits the epoch\'s evidence')
  }
  // `econumi audit <node>`: every report's evidence is found in the attestations core and recomputes to its CU
  const audit = spawnSync(process.execPath, [join(ROOT, 'bin/econumi.js'), 'audit', ready.nodeId, '--data-dir', dataDir, '--json'], { encoding: 'utf8', timeout: 60_000 })
  t.equal(audit.status, 0, `econumi audit runs (${audit.stderr.trim().split('\n')[0] ?? ''})`)
  const audited = JSON.parse(audit.stdout).reports as Array<{ verdict: string, cu: string, recomputed: string, epoch: string, evidence: { checkpoints: Array<{ containerId: string, answered: number }> } }>
  t.ok(audited.length >= 2, `audited its reports (${audited.length})`)
  for (const a of audited) {
    t.equal(a.verdict, 'valid', `epoch ${a.epoch}: valid`)
    t.equal(a.recomputed, a.cu, `epoch ${a.epoch}: recomputed CU = reported CU`)
  }
  t.ok(audited.some((a) => a.evidence.checkpoints.some((c) => [long, short].includes(c.containerId) && c.answered > 0)), 'the evidence shows the workloads\' answered windows')
  const human = spawnSync(process.execPath, [join(ROOT, 'bin/econumi.js'), 'audit', ready.nodeId, '--data-dir', dataDir], { encoding: 'utf8', timeout: 60_000 })
  t.match(human.stdout, /verdict\s+valid: the evidence recomputes to the reported CU/, 'and says so to a person')
  t.match(human.stdout, /CONTAINER\s+AGENT KEY\s+ANSWERED\s+MISSED\s+CU\s+REASON/)
  const bad = spawnSync(process.execPath, [join(ROOT, 'bin/econumi.js'), 'audit', 'nonsense', '--data-dir', dataDir], { encoding: 'utf8', timeout: 30_000 })
  t.equal(bad.status, 1, 'a bad target is refused')
  t.match(bad.stderr, /E_BAD_AUDIT_TARGET/)
  t.notMatch(bad.stderr, /\n\s+at /, 'no stack trace')

  // a second node process joins, replicates the chain and the attested node's attestations core, and audits its
  // reports: each one's evidence is found and recomputes to its CU
  const auditor = new NodeProcess(mkdtempSync(join(tmpdir(), 'econumi-e2e-auditor-')), ['--genesis', join(dataDir, 'genesis.json'), '--bootstrap', bs.address])
  auditor.start()
  t.teardown(async () => { await auditor.stop() })
  await auditor.ready()
  const audits = await until(async () => { const v = auditor.events.filter((e) => e.event === 'audit-valid' && e.node === ready.nodeId.slice(0, 16)); return v.length >= 2 ? v : undefined }, 60_000, 'the second node audits the reports')
  for (const a of audits) t.equal(a.recomputed, a.cu, `the second node audited epoch ${String(a.epoch)}: recomputed CU = reported CU`)
  t.same(auditor.events.filter((e) => e.event === 'audit-fraud' || e.event === 'audit-unavailable'), [], 'and found no fraud and no missing evidence')
  await auditor.stop()
  t.not(auditor.proc?.exitCode, null, 'the second node exited')

  // The node keeps leading blocks while we read, so the chain, the API balance and the CLI balance are read at one
  // tip: a read is kept only when no block landed in between (the tip hash is the same before and after).
  let agreed = false
  for (let attempt = 0; attempt < 10 && !agreed; attempt++) {
    const before = (await api(dataDir, '/v1/status')).tipHash
    const { blocks: now } = await api(dataDir, '/v1/blocks?from=0&limit=1000')
    const sum = now.filter((b: any) => b.miner === rewardAddress).reduce((s: bigint, b: any) => s + BigInt(b.coinbase), 0n)
    const acct = await api(dataDir, `/v1/accounts/${rewardAddress}`)
    const cli = spawnSync(process.execPath, [join(ROOT, 'bin/econumi.js'), 'getbalance', rewardAddress, '--data-dir', dataDir, '--json'], { encoding: 'utf8', timeout: 30_000 })
    t.equal(cli.status, 0, `econumi getbalance runs (${cli.stderr.trim().split('\n')[0] ?? ''})`)
    if ((await api(dataDir, '/v1/status')).tipHash !== before) continue
    t.equal(acct.balance, sum.toString(), 'balance of the reward address = Σ coinbase')
    t.equal(JSON.parse(cli.stdout).balanceUnits, acct.balance, 'econumi getbalance agrees')
    agreed = true
  }
  t.ok(agreed, 'a read at one tip happened')

  // ---- /metrics: attestation and the plugin's own counters (reported with its events) ----------------------------
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  const metric = (name: string): number => Number(metrics.split('\n').find((l) => l.startsWith(`${name} `))?.slice(name.length + 1) ?? NaN)
  t.ok(metric('econumi_plugin_requests') >= 12 * 3, `the plugin decided the ${metric('econumi_plugin_requests')} API calls of these docker runs`)
  t.ok(metric('econumi_plugin_denials') >= 1, `and its denials are counted (${metric('econumi_plugin_denials')}: the agent-key attacks above)`)
  t.ok(metric('econumi_attested_workloads_total') >= 3, 'attested workloads')
  t.ok(metric('econumi_cu_credited_total') > 0, 'CU credited')
  t.ok(metric('econumi_polls_answered_total') > 0, 'polls answered')

  // ---- the node exits on SIGTERM, leaving no API socket ---------------------------------------------------------
  const code = await sigterm(child, 20_000)
  t.equal(code, 0, 'econumi start --foreground --attest exits by itself within 20 s of SIGTERM, with code 0')
  t.ok(lines.some((l) => l.event === 'stopped'), 'it logged stopped')
  t.notOk(existsSync(join(dataDir, 'api.sock')), 'api socket removed')
})
