// The real `econumi` CLI as a child process, for tests that assert through what an operator runs.
import { spawnSync } from 'node:child_process'
import { CLI } from './node-process.js'

export interface CliResult { status: number | null, stdout: string, stderr: string }

export function cli (args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** `cli` with `--json`, its stdout parsed; throws with stderr when the command failed. */
export function cliJson<T = any> (args: string[], env: Record<string, string> = {}): T {
  const r = cli(['--json', ...args], env)
  if (r.status !== 0) throw new Error(`econumi ${args.join(' ')} failed (${String(r.status)}): ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}
