// The daemon witness: dockerd's events stream (start/die times, health, agent deaths), reconnecting from
// the last event seen, and inspection (reservations, which the plugin's create events can only lower;
// health; cgroup parent) and CPU usage samples of each workload.
import type { Reservation } from '../../protocol/compute-units.js'
import type { DockerHealth } from '../../agent/wire.js'
import type { DockerApi } from './docker-api.js'
import { AGENT_WORKLOAD_LABEL, eventTimeMs, healthFromEventAction, healthFromState, isAttestable, minReservation, reservationFromHostConfig } from './witness.js'
import type { Workload } from './workload.js'
import type { LogFn } from '../log.js'
import { AGENT_LABEL, AGENT_LABEL_VALUE } from '../../plugin/types.js'

export type WorkloadEvent =
  | { kind: 'start', id: string, t: number }
  | { kind: 'die', id: string, t: number, exitCode: number }
  | { kind: 'health', id: string, health: DockerHealth }
  | { kind: 'agent-die', workloadId: string | undefined }

export interface DockerEvent { Type?: string, Action?: string, id?: string, Actor?: { ID?: string, Attributes?: Record<string, string> }, time?: number, timeNano?: number }

/** What an events-API line means for attestation; null for everything else (agents starting, the node's container, …). */
export function classifyEvent (e: DockerEvent): { event: WorkloadEvent, t: number } | null {
  if (e.Type !== 'container' || typeof e.Action !== 'string') return null
  const id = e.Actor?.ID ?? e.id
  if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id)) return null
  const t = eventTimeMs(e)
  const attrs = e.Actor?.Attributes ?? {}
  if (attrs[AGENT_LABEL] === AGENT_LABEL_VALUE) return e.Action === 'die' ? { event: { kind: 'agent-die', workloadId: attrs[AGENT_WORKLOAD_LABEL] }, t } : null
  if (!isAttestable(attrs.name ?? '', attrs)) return null
  const health = healthFromEventAction(e.Action)
  if (health !== null) return { event: { kind: 'health', id, health }, t }
  if (e.Action === 'start') return { event: { kind: 'start', id, t }, t }
  if (e.Action === 'die') return { event: { kind: 'die', id, t, exitCode: Number(attrs.exitCode) }, t }
  return null
}

export interface DockerWatchOptions {
  docker: DockerApi
  log: LogFn
  onEvent: (e: WorkloadEvent) => void
  /** The plugin's view of a create body, if it reported one. */
  pluginReservation: (id: string) => Reservation | null
}

export class DockerWatch {
  private stream: NodeJS.ReadableStream | null = null
  private retry: NodeJS.Timeout | null = null
  private lastEventMs = 0
  private closed = false

  constructor (private readonly o: DockerWatchOptions) {}

  async follow (): Promise<void> {
    if (this.closed) return
    try {
      const since = this.lastEventMs > 0 ? String(Math.floor(this.lastEventMs / 1000)) : undefined
      const stream = await this.o.docker.events(since)
      this.stream = stream
      let buf = ''
      stream.on('data', (c: Buffer) => {
        buf += c.toString('utf8')
        let nl: number
        while ((nl = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          if (line.trim() === '') continue
          try { this.onLine(JSON.parse(line)) } catch (err) { this.o.log('attestation-event-error', { error: (err as Error).message }) }
        }
      })
      const retry = (): void => {
        if (this.closed || this.stream !== stream) return
        this.stream = null
        this.retry = setTimeout(() => { void this.follow() }, 1000)
      }
      stream.on('end', retry)
      stream.on('error', retry)
    } catch (err) {
      this.o.log('attestation-events-failed', { error: (err as Error).message })
      this.retry = setTimeout(() => { void this.follow() }, 2000)
    }
  }

  private onLine (e: DockerEvent): void {
    const id = e.Actor?.ID ?? e.id
    if (e.Type === 'container' && typeof e.Action === 'string' && typeof id === 'string' && /^[0-9a-f]{64}$/.test(id)) this.lastEventMs = Math.max(this.lastEventMs, eventTimeMs(e))
    const c = classifyEvent(e)
    if (c !== null) this.o.onEvent(c.event)
  }

  close (): void {
    this.closed = true
    if (this.retry !== null) clearTimeout(this.retry)
    ;(this.stream as unknown as { destroy?: () => void } | null)?.destroy?.()
  }

  /** Refreshes what the daemon says about a workload; false when it is not running. */
  async inspect (w: Workload): Promise<boolean> {
    const info = await this.o.docker.inspect(w.id)
    w.name = info.Name.replace(/^\//, '')
    w.image = info.Config.Image
    w.imageDigest = info.Image
    w.cgroupParent = info.HostConfig.CgroupParent ?? ''
    w.reservation = minReservation(reservationFromHostConfig(info.HostConfig), this.o.pluginReservation(w.id))
    w.health = healthFromState(info.State)
    return info.State.Running === true
  }

  async sampleUsage (w: Workload): Promise<void> {
    try {
      const u = await this.o.docker.cpuUsageNs(w.id)
      if (typeof u === 'number' && u > 0) w.cpuUsageNs = BigInt(Math.floor(u))
    } catch {}
  }
}
