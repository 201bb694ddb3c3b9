// `econumi ps`: like `docker ps`, for econumi: the node container, every agent, and every workload with its
// attestation state (polls answered/missed, compute units credited in the last computed epoch).
// Workloads come from the node's GET /v1/workloads when it runs with --attest; otherwise the engine's running
// containers that are neither the node, an agent nor a plugin are listed as `unattested`.
import type Docker from 'dockerode'
import { isEconumiError } from '../protocol/errors.js'
import { ApiClient } from './client.js'
import { dockerClient, nodeContainerName, requireEngine } from './docker.js'

export interface PsRow {
  containerId: string
  image: string
  name: string
  role: 'node' | 'agent' | 'workload'
  status: string
  attestation: 'attested' | 'unattested' | 'n/a'
  pollsAnswered: number | null
  pollsMissed: number | null
  cu: string | null
  cuEpoch: string | null
}

interface WorkloadJson {
  id: string
  name?: string
  image?: string
  running?: boolean
  pollsAnswered?: number
  pollsMissed?: number
  lastCredit?: { epoch: string, cu: string, reason: string } | null
}

function shortName (c: Docker.ContainerInfo): string { return (c.Names[0] ?? '').replace(/^\//, '') }

/** GET /v1/workloads, or null when the node is not running or runs without attestation. */
async function nodeWorkloads (socketPath: string): Promise<WorkloadJson[] | null> {
  try {
    const r = await new ApiClient({ socketPath }, { timeoutMs: 5000 }).get<{ workloads: WorkloadJson[] }>('/v1/workloads')
    return Array.isArray(r.workloads) ? r.workloads : null
  } catch (err) {
    if (isEconumiError(err)) return null
    throw err
  }
}

export async function collectPs (dataDir: string): Promise<{ rows: PsRow[], attestation: boolean }> {
  const docker = dockerClient()
  await requireEngine(docker, 'then retry')
  const all = await docker.listContainers({ all: true })
  const rows: PsRow[] = []
  const nodeName = nodeContainerName()
  const isNode = (c: Docker.ContainerInfo): boolean => shortName(c) === nodeName || c.Labels['econumi.role'] === 'node'
  const isAgent = (c: Docker.ContainerInfo): boolean => c.Labels['econumi.role'] === 'agent'
  const base = (c: Docker.ContainerInfo, role: PsRow['role']): PsRow => ({
    containerId: c.Id.slice(0, 12), image: c.Image, name: shortName(c), role, status: c.Status, attestation: 'n/a', pollsAnswered: null, pollsMissed: null, cu: null, cuEpoch: null
  })
  for (const c of all) if (isNode(c)) rows.push(base(c, 'node'))
  for (const c of all) if (isAgent(c) && c.State === 'running') rows.push(base(c, 'agent'))
  const workloads = await nodeWorkloads(`${dataDir}/api.sock`)
  const byId = new Map(all.map((c) => [c.Id, c]))
  if (workloads !== null) {
    for (const w of workloads) {
      const c = byId.get(w.id)
      rows.push({
        containerId: w.id.slice(0, 12),
        image: c?.Image ?? w.image ?? '?',
        name: c !== undefined ? shortName(c) : (w.name ?? '').replace(/^\//, ''),
        role: 'workload',
        status: c?.Status ?? (w.running === true ? 'running' : 'exited'),
        attestation: 'attested',
        pollsAnswered: w.pollsAnswered ?? 0,
        pollsMissed: w.pollsMissed ?? 0,
        cu: w.lastCredit?.cu ?? '0',
        cuEpoch: w.lastCredit?.epoch ?? null
      })
    }
  } else {
    for (const c of all) {
      if (c.State !== 'running' || isNode(c) || isAgent(c) || c.Labels['econumi.role'] !== undefined) continue
      rows.push({ ...base(c, 'workload'), attestation: 'unattested' })
    }
  }
  return { rows, attestation: workloads !== null }
}

export function formatPs (rows: PsRow[]): string[] {
  const header = ['CONTAINER ID', 'IMAGE', 'NAME', 'ROLE', 'STATUS', 'POLLS', 'CU']
  const cells = rows.map((r) => [
    r.containerId, r.image, r.name, r.role, r.status,
    r.attestation === 'unattested' ? 'unattested' : r.pollsAnswered === null ? '-' : `${r.pollsAnswered}/${r.pollsMissed ?? 0}`,
    r.cu === null ? '-' : r.cu
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  const line = (c: string[]): string => c.map((v, i) => i === c.length - 1 ? v : v.padEnd(widths[i])).join('   ').trimEnd()
  return [line(header), ...cells.map(line)]
}

export async function runPs (dataDir: string, json: boolean, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const { rows, attestation } = await collectPs(dataDir)
  if (json) { out(JSON.stringify({ attestation, containers: rows }) + '\n'); return }
  out(formatPs(rows).join('\n') + '\n')
  if (!attestation) out('(node not running with --attest: workloads are listed unattested; POLLS = answered/missed, CU = last credited epoch)\n')
}
