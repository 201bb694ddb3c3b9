// A fake of the DockerApi subset the collector uses (node/attestation/docker-api.ts), for its unit tests.
import { PassThrough } from 'node:stream'
import type { AgentBoot } from '../../agent/wire.js'
import type { AgentContainerSpec, ContainerInspect, ContainerSummary, DockerApi } from '../../node/attestation/docker-api.js'

/** The Docker API as the collector sees it: containers, an events stream, and the agents it creates. */
export class FakeDocker implements DockerApi {
  readonly containers = new Map<string, { inspect: ContainerInspect, summary: ContainerSummary }>()
  readonly created: AgentContainerSpec[] = []
  readonly boots: AgentBoot[] = []
  readonly removed: string[] = []
  stream = new PassThrough()
  async ping (): Promise<unknown> { return 'OK' }
  async info (): Promise<{ CgroupDriver: string, CgroupVersion: string }> { return { CgroupDriver: 'cgroupfs', CgroupVersion: '2' } }
  async events (): Promise<NodeJS.ReadableStream> { this.stream = new PassThrough(); return this.stream }
  async inspect (id: string): Promise<ContainerInspect> {
    const c = this.containers.get(id)
    if (c === undefined) throw Object.assign(new Error('no such container'), { statusCode: 404 })
    return c.inspect
  }

  async cpuUsageNs (): Promise<number> { return 1_000_000 }
  async list (o: { all?: boolean, filters: Record<string, string[]> }): Promise<ContainerSummary[]> {
    const label = o.filters.label?.[0]
    return [...this.containers.values()].map((c) => c.summary).filter((s) => label === undefined ? s.State === 'running' : `${'econumi.role'}=${s.Labels?.['econumi.role']}` === label)
  }

  async createAttachStart (spec: AgentContainerSpec): Promise<PassThrough> {
    this.created.push(spec)
    const stdin = new PassThrough()
    let text = ''
    stdin.on('data', (c: Buffer) => { text += c.toString() })
    stdin.on('end', () => { this.boots.push(JSON.parse(text) as AgentBoot) })
    const id = 'cd'.repeat(32)
    this.containers.set(id, { inspect: { Name: `/${spec.name}`, Image: 'sha256:agent', Config: { Image: spec.Image }, HostConfig: {}, State: { Running: true } }, summary: { Id: id, Names: [`/${spec.name}`], Labels: spec.Labels, State: 'running' } })
    return stdin
  }

  async remove (name: string): Promise<void> { this.removed.push(name) }
  /** Whether the plugin decides this fake engine's calls (the collector refuses to start without it). */
  authz = true
  async authzActive (): Promise<boolean> { return this.authz }
  addWorkload (id: string, hc: ContainerInspect['HostConfig']): void {
    this.containers.set(id, { inspect: { Name: '/work', Image: 'sha256:' + '11'.repeat(32), Config: { Image: 'econumi/busybox:test' }, HostConfig: hc, State: { Running: true } }, summary: { Id: id, Names: ['/work'], Labels: {}, State: 'running' } })
  }

  event (action: string, id: string, tMs: number, attrs: Record<string, string> = {}): void {
    this.stream.write(JSON.stringify({ Type: 'container', Action: action, Actor: { ID: id, Attributes: { name: 'work', ...attrs } }, timeNano: BigInt(tMs) * 1_000_000n }, (_k, v) => typeof v === 'bigint' ? Number(v) : v) + '\n')
  }
}
