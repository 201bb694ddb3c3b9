// For the tests against the real engine: the repository's scripts, econumi/busybox:test built under the engine
// lock, and for those that switch the plugin on as authz for the whole engine (test/plugin/install.test.ts,
// test/plugin/bypass-e2e.test.ts) the plugin's refusal as the docker CLI shows it and an engine always restored.
import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { acquireEngineLock, requireDocker, run, type RunResult } from './docker.js'

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))

/** scripts/<name> run by bash (5 min at most). */
export const script = (name: string, args: string[] = []): RunResult => run([join(ROOT, 'scripts', name), ...args], { cmd: 'bash', timeoutMs: 300_000 })

/**
 * The start of a test that runs econumi/busybox:test containers: false when there is no engine (the test is skipped,
 * or fails under CI: requireDocker); else the engine lock is held until the test's teardown and the image is built
 * (scripts/build-images.sh --only busybox, asserted).
 */
export async function busyboxEngine (t: Test, owner: string): Promise<boolean> {
  if (!requireDocker(t)) return false
  const release = await acquireEngineLock(owner)
  t.teardown(release)
  const build = script('build-images.sh', ['--only', 'busybox'])
  t.equal(build.status, 0, build.stderr)
  return true
}

/** The plugin's state directory (its state.source, mode 0755) under `prefix`, holding a fresh node token (node-token, 0600). */
export async function pluginStateDir (prefix: string): Promise<{ dir: string, token: string }> {
  const dir = await mkdtemp(prefix)
  await chmod(dir, 0o755)
  const token = randomBytes(24).toString('hex')
  await writeFile(join(dir, 'node-token'), token, { mode: 0o600 })
  return { dir, token }
}

/** The docker CLI failed because the plugin refused with `code`. */
export const denied = (r: RunResult, code: string): boolean => r.status !== 0 && r.stderr.includes('authorization denied by plugin') && r.stderr.includes(`[${code}]`)

/**
 * Restore the engine whatever happens: remove the plugin (build-plugin.sh --remove, which takes authz out of
 * daemon.json) and then `cleanup` (the test's containers), once, in the test's teardown and, if tap times out and
 * kills the test, on exit, SIGTERM or SIGINT (which also release the engine lock). `teardown` runs last, in the
 * teardown only.
 */
export function restoreEngineAlways (t: Test, unlock: () => void, cleanup: () => void, teardown: () => Promise<void>): void {
  let restored = false
  const restoreEngine = (): void => {
    if (restored) return
    restored = true
    const r = script('build-plugin.sh', ['--remove'])
    if (r.status !== 0) process.stderr.write(`restore failed: ${r.stdout}${r.stderr}\n`)
    cleanup()
  }
  const onSignal = (): void => { restoreEngine(); unlock(); process.exit(1) }
  process.once('exit', restoreEngine)
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  t.teardown(async () => {
    restoreEngine()
    process.off('exit', restoreEngine)
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    unlock()
    await teardown()
  })
}
