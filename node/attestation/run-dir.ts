// The host side the collector shares with the plugin: the run dir (node token, node.sock, agents/) and the
// machine's capacity, which the node declares unless told otherwise.
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import type { Reservation } from '../../protocol/compute-units.js'
import { writeFileAtomicSync } from '../atomic-file.js'

/** The machine's cores and memory. */
export function machineCapacity (): Reservation {
  return { nanoCpus: BigInt(cpus().length) * 1_000_000_000n, memoryBytes: BigInt(totalmem()) }
}

/** Creates the shared run dir (0700) and the node token (0600); an existing token is kept (the plugin has it). */
export function ensureRunDir (runDir: string): string {
  mkdirSync(runDir, { recursive: true, mode: 0o700 })
  chmodSync(runDir, 0o700)
  const path = join(runDir, 'node-token')
  if (existsSync(path)) {
    const t = readFileSync(path, 'utf8').trim()
    if (/^[0-9a-f]{48,128}$/.test(t)) { chmodSync(path, 0o600); return t }
  }
  const token = randomBytes(32).toString('hex')
  writeFileAtomicSync(path, token, 0o600)
  return token
}
