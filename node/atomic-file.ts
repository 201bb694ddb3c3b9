// Crash-safe file replacement: write a temp file beside the target, fsync it, rename over the target,
// fsync the directory. After kill -9 the target holds either the old or the new content.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync, readFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { fail } from '../protocol/errors.js'

export function writeFileAtomic (path: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const fd = openSync(tmp, 'wx', mode)
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data)
    fsyncSync(fd)
  } catch (err) {
    closeSync(fd)
    try { unlinkSync(tmp) } catch {}
    throw err
  }
  closeSync(fd)
  renameSync(tmp, path)
  const dfd = openSync(dir, 'r')
  try { fsyncSync(dfd) } finally { closeSync(dfd) }
}

/** Read a JSON file; a corrupt one is a clear error naming the file, and the file is left in place. */
export function readJsonFile (path: string, code = 'E_FILE_CORRUPT'): unknown {
  const text = readFileSync(path, 'utf8')
  try {
    return JSON.parse(text)
  } catch (err) {
    return fail(code, `${path} is not valid JSON (${(err as Error).message}); fix or move it aside`, { path })
  }
}
