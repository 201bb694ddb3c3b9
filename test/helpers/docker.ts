// Helpers for tests against a real dockerd: availability, skip-or-fail, the docker CLI and the Engine API.
import { spawnSync } from 'node:child_process'
import { request } from 'node:http'
import type { Test } from 'tap'

export const DOCKER_SOCKET = process.env.ECONUMI_DOCKER_SOCKET ?? '/var/run/docker.sock'

let cached: { ok: boolean, why: string } | null = null

/** True when the docker CLI is installed and the engine answers (checked once per process). */
export function dockerAvailable (): boolean {
  return probe().ok
}

function probe (): { ok: boolean, why: string } {
  if (cached !== null) return cached
  const r = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8', timeout: 15_000 })
  if (r.error !== undefined) cached = { ok: false, why: `docker CLI not runnable: ${r.error.message}` }
  else if (r.status !== 0) cached = { ok: false, why: `docker engine not answering: ${(r.stderr ?? '').trim().split('\n')[0]}` }
  else cached = { ok: true, why: `dockerd ${r.stdout.trim()}` }
  return cached
}

/**
 * Call first in a test that needs the engine: returns false (and ends the test as skipped) when dockerd is
 * missing; with ECONUMI_REQUIRE_DOCKER=1 (CI) a missing engine is a failure instead of a skip.
 */
export function requireDocker (t: Test): boolean {
  const p = probe()
  if (p.ok) return true
  const msg = `${p.why}; start it with scripts/docker-up.sh`
  if (process.env.ECONUMI_REQUIRE_DOCKER === '1') {
    t.fail(`${msg} (ECONUMI_REQUIRE_DOCKER=1) [E_NO_DOCKER]`)
  } else {
    t.plan(0, `skip: ${msg}`)
  }
  return false
}

export interface RunResult { status: number | null, stdout: string, stderr: string, ms: number }

/** Runs the docker CLI (or any command with `cmd`), never throws; `env` is added to process.env. */
export function run (args: string[], opts: { env?: Record<string, string>, timeoutMs?: number, cmd?: string, input?: string } = {}): RunResult {
  const t0 = performance.now()
  const r = spawnSync(opts.cmd ?? 'docker', args, {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    killSignal: 'SIGKILL', // the docker CLI ignores SIGTERM while attached
    env: { ...process.env, ...opts.env },
    input: opts.input
  })
  return { status: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error !== undefined ? String(r.error) : ''), ms: performance.now() - t0 }
}

export interface ApiResult { status: number, body: string, json: any }

/** One Engine API call over the unix socket (headers such as X-Econumi-Node-Token pass through). */
export async function dockerApi (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResult> {
  const text = body === undefined ? '' : JSON.stringify(body)
  const h: Record<string, string | number> = { ...headers }
  if (body !== undefined) {
    h['Content-Type'] = 'application/json'
    h['Content-Length'] = Buffer.byteLength(text)
  }
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath: DOCKER_SOCKET, method, path, headers: h }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const s = Buffer.concat(chunks).toString('utf8')
        let json: unknown = null
        try { json = s === '' ? null : JSON.parse(s) } catch { json = null }
        resolve({ status: res.statusCode ?? 0, body: s, json })
      })
    })
    req.setTimeout(60_000, () => req.destroy(new Error(`docker API ${method} ${path} timed out`)))
    req.on('error', reject)
    req.end(text)
  })
}

/** Directory lock shared by every test and bench that changes engine-wide state (authz plugins). */
export const ENGINE_LOCK = process.env.ECONUMI_ENGINE_LOCK ?? '/run/lock/econumi-engine.lock'

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Takes the engine lock (an atomic mkdir holding the owner's pid), waiting up to `timeoutMs`; a lock whose
 * owner died is taken over. Tests that switch authz on for the whole engine hold it, and so should e2e
 * suites that start econumi agents, so the two never overlap. Returns the release function.
 */
export async function acquireEngineLock (owner: string, timeoutMs = 600_000, lockDir = ENGINE_LOCK): Promise<() => void> {
  const { mkdirSync, readFileSync, rmSync, writeFileSync } = await import('node:fs')
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      mkdirSync(lockDir)
      writeFileSync(`${lockDir}/owner`, `${process.pid} ${owner}\n`)
      let released = false
      return () => {
        if (released) return
        released = true
        rmSync(lockDir, { recursive: true, force: true })
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    let pid = 0
    try { pid = Number.parseInt(readFileSync(`${lockDir}/owner`, 'utf8'), 10) } catch { pid = 0 }
    if (pid > 0 && !alive(pid)) {
      rmSync(lockDir, { recursive: true, force: true }) // stale: its owner is gone
      continue
    }
    if (Date.now() > deadline) throw new Error(`engine lock ${lockDir} held by ${pid} for too long [E_ENGINE_LOCKED]`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}
