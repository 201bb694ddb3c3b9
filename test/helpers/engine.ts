// For the tests that switch the plugin on as authz for the whole engine (test/plugin/install.test.ts,
// test/plugin/bypass-e2e.test.ts): the repository's scripts, the plugin's refusal as the docker CLI shows it, and
// an engine that is always restored.
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { run, type RunResult } from './docker.js'

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))

/** scripts/<name> run by bash (5 min at most). */
export const script = (name: string, args: string[] = []): RunResult => run([join(ROOT, 'scripts', name), ...args], { cmd: 'bash', timeoutMs: 300_000 })

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
