// Crash-safe files, the one place for them (node and CLI): write a temp file beside the target, fsync it,
// rename over the target, fsync the directory. After kill -9 the target holds either the old or the new content.
import { closeSync, fchmodSync, fsyncSync, openSync, promises as fs, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { EconumiError, fail } from '../protocol/errors.js'

/** Synchronous variant, for start-up paths that have no event loop work to overlap with. */
export function writeFileAtomicSync (path: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const fd = openSync(tmp, 'wx', mode)
  try {
    fchmodSync(fd, mode) // exact, whatever the umask
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
export function readJsonFileSync (path: string, code = 'E_FILE_CORRUPT'): unknown {
  const text = readFileSync(path, 'utf8')
  try {
    return JSON.parse(text)
  } catch (err) {
    return fail(code, `${path} is not valid JSON (${(err as Error).message}); fix or move it aside`, { path })
  }
}

// ---- async variants (CLI): exact modes, and `exclusive` refuses to replace an existing file ----

export interface WriteAtomicOptions {
  /** Refuse to replace an existing file (fails with E_FILE_EXISTS). Default: replace. */
  exclusive?: boolean
}

function tempPathFor (path: string): string {
  // Dot-prefixed and suffixed, so directory listings that look for `*.json` never pick it up.
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
}

async function fsyncDirectory (dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined
  try {
    handle = await fs.open(dir, 'r')
    await handle.sync()
  } catch (err) {
    // Some filesystems refuse fsync on a directory; the rename itself has still happened.
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err
  } finally {
    await handle?.close()
  }
}

/** Write `data` to `path` atomically with the given mode (default 0600). */
export async function writeFileAtomic (path: string, data: string | Uint8Array, mode = 0o600, options: WriteAtomicOptions = {}): Promise<void> {
  const tmp = tempPathFor(path)
  let handle: fs.FileHandle | undefined
  try {
    // 'wx': the temp name is fresh; never follow a planted symlink.
    handle = await fs.open(tmp, 'wx', mode)
    await handle.chmod(mode) // the umask may have narrowed or (with odd umasks) the mode must be exact
    await handle.writeFile(data)
    await handle.sync()
    await handle.close()
    handle = undefined
    if (options.exclusive === true) {
      // link() fails with EEXIST instead of replacing, unlike rename().
      await fs.link(tmp, path)
      await fs.unlink(tmp)
    } else {
      await fs.rename(tmp, path)
    }
  } catch (err) {
    await handle?.close().catch(() => {})
    await fs.unlink(tmp).catch(() => {})
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') fail('E_FILE_EXISTS', 'refusing to overwrite an existing file', { path })
    if (code === 'ENOENT') fail('E_FILE_WRITE', 'directory does not exist', { path })
    if (code === 'EACCES' || code === 'EPERM') fail('E_FILE_WRITE', 'permission denied writing file', { path })
    if (code === 'ENOSPC') fail('E_FILE_WRITE', 'no space left on device writing file', { path })
    throw err
  }
  await fsyncDirectory(dirname(path))
}

/**
 * Read and parse a JSON file. Errors: E_FILE_NOT_FOUND, E_FILE_READ (permissions, a directory, …),
 * E_FILE_JSON (not valid JSON); each names the file. `what` says what the file is, for the message.
 */
export async function readJsonFile (path: string, what = 'file'): Promise<unknown> {
  let text: string
  try {
    text = await fs.readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') fail('E_FILE_NOT_FOUND', `${what} not found`, { path })
    fail('E_FILE_READ', `cannot read ${what}: ${code ?? (err as Error).message}`, { path })
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new EconumiError('E_FILE_JSON', `${what} is not valid JSON (${(err as Error).message}) path=${path}`, { path })
  }
}
