// The subset of the Docker Engine API the collector uses (as SPIRE's docker attestor takes "a subset of the
// docker client"): tests inject a fake, the node passes dockerode on the engine's socket with the node token.
import Docker from 'dockerode'
import type { Duplex } from 'node:stream'
import { NODE_TOKEN_HEADER } from '../../plugin/types.js'

export { NODE_TOKEN_HEADER } // one contract file for the plugin ↔ node boundary: plugin/types.ts

export interface ContainerInspect {
  Name: string
  Image: string
  Config: { Image: string }
  HostConfig: { NanoCpus?: number, CpuQuota?: number, CpuPeriod?: number, Memory?: number, CgroupParent?: string }
  State: { Running?: boolean, Health?: { Status?: string } | null }
}

export interface ContainerSummary { Id: string, Names?: string[], Labels?: Record<string, string>, State?: string }

/** What the node creates for an agent (a subset of the create body). */
export interface AgentContainerSpec {
  name: string
  Image: string
  Labels: Record<string, string>
  OpenStdin: boolean
  StdinOnce: boolean
  AttachStdin: boolean
  Tty: boolean
  User: string
  HostConfig: Record<string, unknown>
}

export interface DockerApi {
  ping: () => Promise<unknown>
  info: () => Promise<{ CgroupDriver?: string, CgroupVersion?: string }>
  /** The events stream (newline-delimited JSON), container events only, from `since` (seconds) if given. */
  events: (since?: string) => Promise<NodeJS.ReadableStream>
  inspect: (id: string) => Promise<ContainerInspect>
  /** Cumulative CPU usage of the container in ns, null when unknown. */
  cpuUsageNs: (id: string) => Promise<number | null>
  list: (o: { all?: boolean, filters: Record<string, string[]> }) => Promise<ContainerSummary[]>
  /** Creates the container, attaches its stdin, starts it; resolves with the stdin stream. */
  createAttachStart: (spec: AgentContainerSpec) => Promise<Duplex>
  /** Force-removes a container; a missing one is not an error. */
  remove: (idOrName: string) => Promise<void>
  /**
   * Does the econumi plugin decide this engine's calls? Asked as anyone else would (no node token): stopping a
   * container named like an agent that does not exist is denied by the plugin (403, E_AGENT_PROTECTED) and is
   * a plain 404 without it. Behaviour, not `docker info`: it proves the plugin is enabled *and* answering.
   */
  authzActive: () => Promise<boolean>
}

/** The name the probe asks dockerd to stop (agent-shaped, never created). */
export const AUTHZ_PROBE_PREFIX = 'econumi-agent-probe-'

export function dockerodeApi (socketPath: string, token: string): DockerApi {
  const docker = new Docker({ socketPath, headers: { [NODE_TOKEN_HEADER]: token } } as Docker.DockerOptions)
  return {
    ping: async () => await docker.ping(),
    info: async () => await docker.info() as { CgroupDriver?: string, CgroupVersion?: string },
    events: async (since) => await docker.getEvents({ filters: { type: ['container'] }, ...(since === undefined ? {} : { since }) } as Docker.GetEventsOptions),
    inspect: async (id) => await docker.getContainer(id).inspect() as unknown as ContainerInspect,
    cpuUsageNs: async (id) => {
      const s = await docker.getContainer(id).stats({ stream: false, 'one-shot': true })
      const u = s?.cpu_stats?.cpu_usage?.total_usage
      return typeof u === 'number' ? u : null
    },
    list: async (o) => await docker.listContainers(o) as ContainerSummary[],
    createAttachStart: async (spec) => {
      const container = await docker.createContainer(spec as Docker.ContainerCreateOptions)
      const stream = await container.attach({ stream: true, stdin: true, stdout: false, stderr: false, hijack: true }) as unknown as Duplex
      await container.start()
      return stream
    },
    authzActive: async () => {
      const anyone = new Docker({ socketPath })
      try {
        await anyone.getContainer(`${AUTHZ_PROBE_PREFIX}${process.pid}-${Date.now()}`).stop({ t: 0 })
        return false // no such container was stopped by anyone: nothing asked the plugin
      } catch (err) {
        const e = err as { statusCode?: number, message?: string }
        return e.statusCode === 403 && /E_AGENT_PROTECTED/.test(String(e.message))
      }
    },
    remove: async (idOrName) => {
      try {
        await docker.getContainer(idOrName).remove({ force: true })
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 404) throw err
      }
    }
  }
}
