// The plugin's half of the daemon witness: a unix socket (<runDir>/node.sock, 0600) where the authorization
// plugin posts container lifecycle events with the node token. Only `create` events matter here: their
// reservations, which can only lower what inspect says (a workload cannot raise its credit through them).
import { timingSafeEqual } from 'node:crypto'
import { chmodSync, rmSync } from 'node:fs'
import { type Server, createServer } from 'node:http'
import { join } from 'node:path'
import type { Reservation } from '../../protocol/compute-units.js'
import { EVENTS_PATH, NODE_TOKEN_HEADER, PLUGIN_STATS_HEADER, type PluginEvent } from '../../plugin/types.js'
import { reservationFromHostConfig } from '../../plugin/reservation.js'
const MAX_BODY = 1 << 20
const MAX_CREATES = 10_000

export class PluginEvents {
  private server: Server | null = null
  private readonly creates = new Map<string, Reservation>()
  /** Events received (all kinds), for status. */
  count = 0
  /** The plugin's own counters (authorization requests, denials, events it dropped), as it last reported them. */
  pluginStats: { requests: number, denials: number, dropped: number } | null = null
  readonly path: string

  constructor (runDir: string, private readonly token: string) {
    this.path = join(runDir, 'node.sock')
  }

  /** The reservation the plugin saw in the create body of `id`, if any. */
  reservation (id: string): Reservation | null { return this.creates.get(id) ?? null }

  async listen (): Promise<void> {
    rmSync(this.path, { force: true })
    const expected = Buffer.from(this.token)
    const server = createServer((req, res) => {
      const got = Buffer.from(String(req.headers[NODE_TOKEN_HEADER.toLowerCase()] ?? ''))
      if (req.method !== 'POST' || req.url !== EVENTS_PATH) { res.writeHead(404).end(); req.resume(); return }
      if (got.length !== expected.length || !timingSafeEqual(got, expected)) { res.writeHead(401).end(); req.resume(); return }
      const chunks: Buffer[] = []
      let size = 0
      req.on('data', (c: Buffer) => { size += c.length; if (size <= MAX_BODY) chunks.push(c) })
      req.on('end', () => {
        try {
          this.onStats(req.headers[PLUGIN_STATS_HEADER.toLowerCase()])
          const list = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown
          if (Array.isArray(list)) for (const e of list) this.onEvent(e)
          res.writeHead(204).end()
        } catch {
          res.writeHead(400).end()
        }
      })
    })
    const oldMask = process.umask(0o177)
    try {
      await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(this.path, () => { server.off('error', reject); resolve() }) })
    } finally {
      process.umask(oldMask)
    }
    chmodSync(this.path, 0o600)
    this.server = server
  }

  async close (): Promise<void> {
    const s = this.server
    this.server = null
    if (s !== null) await new Promise<void>((resolve) => { s.close(() => resolve()); s.closeAllConnections() })
    rmSync(this.path, { force: true })
  }

  /** `requests=N;denials=N;dropped=N` from an authenticated plugin; anything else is ignored. */
  private onStats (header: unknown): void {
    if (typeof header !== 'string' || header.length > 200) return
    const m = /^requests=(\d{1,15});denials=(\d{1,15});dropped=(\d{1,15})$/.exec(header)
    if (m !== null) this.pluginStats = { requests: Number(m[1]), denials: Number(m[2]), dropped: Number(m[3]) }
  }

  private onEvent (e: unknown): void {
    const ev = e as Partial<PluginEvent> | null // untrusted until checked
    this.count++
    if (ev?.kind === 'create' && typeof ev.id === 'string' && /^[0-9a-f]{64}$/.test(ev.id) && ev.reservations !== undefined) {
      if (this.creates.size > MAX_CREATES) this.creates.delete(this.creates.keys().next().value as string)
      this.creates.set(ev.id, reservationFromHostConfig({ NanoCpus: ev.reservations.nanoCpus, Memory: ev.reservations.memoryBytes }))
    }
  }
}
