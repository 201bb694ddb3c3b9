// econumi.config: the workloads the operator started from `econumi console`, in the node's data dir.
// JSON {version: 1, workloads: [{image, cpus, memory, cmd?}]}, always written atomically (temp + fsync + rename).
// A corrupt file is never overwritten: commands fail with E_CONFIG_CORRUPT naming it and suggesting a fix.
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { fail } from '../protocol/errors.js'
import { issuesText, z } from '../protocol/schema.js'
import { IMAGE_REFERENCE } from '../protocol/wire.js'
import { writeFileAtomic } from '../node/atomic-file.js'

export interface WorkloadEntry {
  image: string
  cpus?: number
  memory?: string
  cmd?: string[]
}

export interface EconumiConfig {
  version: 1
  workloads: WorkloadEntry[]
}

export const CONFIG_NAME = 'econumi.config'

export function configPath (dataDir: string): string { return join(dataDir, CONFIG_NAME) }

/** Throws E_BAD_IMAGE_NAME unless `name` is a valid Docker image reference. */
export function validateImageName (name: string): string {
  if (name.length === 0 || name.length > 255 || !IMAGE_REFERENCE.test(name)) {
    fail('E_BAD_IMAGE_NAME', `"${name.slice(0, 80)}" is not a valid image name (expected e.g. econumi/busybox:test: lowercase letters, digits, . _ - /, optional :tag)`)
  }
  return name
}

/** Parses --cpus: a positive decimal (e.g. 0.5), at most 1024. */
export function parseCpus (text: string): number {
  const n = Number(text)
  if (!/^\d{1,4}(\.\d{1,3})?$/.test(text) || !(n > 0) || n > 1024) fail('E_BAD_CPUS', `--cpus must be a positive number such as 0.5 (got "${text.slice(0, 40)}")`)
  return n
}

const UNITS: Record<string, bigint> = { '': 1n, b: 1n, k: 1024n, m: 1024n ** 2n, g: 1024n ** 3n }

/** Parses --memory like docker (e.g. 64m, 1g, 1048576) into bytes; at least 6 MiB (dockerd's minimum). */
export function parseMemory (text: string): bigint {
  const m = /^(\d{1,13})([bkmg]?)$/i.exec(text)
  if (m === null) fail('E_BAD_MEMORY', `--memory must be a size such as 64m or 1g (got "${text.slice(0, 40)}")`)
  const bytes = BigInt(m[1]) * UNITS[m[2].toLowerCase()]
  if (bytes < 6n * 1024n * 1024n) fail('E_BAD_MEMORY', `--memory must be at least 6m (got "${text}")`)
  return bytes
}

/** econumi.config as JSON carries it (the version first: a later format is refused, not misread). */
const CONFIG_SCHEMA = z.object({
  version: z.literal(1, 'unsupported version, expected 1'),
  workloads: z.array(z.object({
    image: z.string().regex(IMAGE_REFERENCE, 'not a valid image name'),
    cpus: z.number().positive('must be a positive number').optional(),
    memory: z.string().regex(/^\d{1,13}[bkmg]?$/i, 'must be a size such as 64m').optional(),
    cmd: z.array(z.string()).max(256).optional()
  }).strict()).max(1000)
}).strict()

function corrupt (path: string, why: string): never {
  fail('E_CONFIG_CORRUPT', `${path} is corrupt (${why}); the file was left untouched: fix it by hand or move it away (mv ${path} ${path}.bad) to start with an empty one`, { path })
}

/** Reads econumi.config; a missing file is an empty config. */
export async function readConfig (dataDir: string): Promise<EconumiConfig> {
  const path = configPath(dataDir)
  let text: string
  try {
    text = await fs.readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, workloads: [] }
    fail('E_CONFIG_READ', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { path })
  }
  let json: unknown
  try { json = JSON.parse(text) } catch (err) { corrupt(path, `not JSON: ${(err as Error).message}`) }
  const r = CONFIG_SCHEMA.safeParse(json)
  if (!r.success) corrupt(path, issuesText(r.error))
  return { version: 1, workloads: r.data.workloads.map((w) => ({ ...w })) }
}

export async function writeConfig (dataDir: string, config: EconumiConfig): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 })
  await writeFileAtomic(configPath(dataDir), JSON.stringify(config, null, 2) + '\n', 0o600)
}

/** Read, change, write back atomically (reading first, so a corrupt file is reported and kept). */
export async function updateConfig (dataDir: string, change: (c: EconumiConfig) => EconumiConfig): Promise<EconumiConfig> {
  const next = change(await readConfig(dataDir))
  await writeConfig(dataDir, next)
  return next
}
