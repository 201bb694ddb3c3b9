// `econumi ps`: like `docker ps`, for econumi: the node (its container, or the foreground process), every agent,
// and every workload with its attestation state (polls answered/missed, compute units credited in the last
// computed epoch). When the node attests (--attest), the workloads it witnesses (GET /v1/workloads) are
// `attested` and any other ordinary container `unattested`; when it does not, nothing is marked either way.
// Like docker: running containers only unless -a, IDs only with -q, and --format with a Go-template subset
// ({{.Field}}, {{json .}}, a leading `table`) or `json` (one object per line). NAMES is the last column.
import type { StatusJson } from '../node/api-types.js'
import type Docker from 'dockerode'
import { fail, isEconumiError } from '../protocol/errors.js'
import { ApiClient } from './client.js'
import { dockerClient, nodeContainerName, requireEngine } from './docker.js'
import { AGENT_LABEL, AGENT_LABEL_VALUE } from '../plugin/types.js'

export interface PsRow {
  containerId: string
  image: string
  name: string
  role: 'node' | 'agent' | 'workload'
  status: string
  /** Docker's state (running, exited, …); `running` for a foreground node. */
  state: string
  /** Only when the node attests: `attested` (the node witnesses it) or `unattested`; otherwise `n/a`. */
  attestation: 'attested' | 'unattested' | 'n/a'
  pollsAnswered: number | null
  pollsMissed: number | null
  cu: string | null
  cuEpoch: string | null
  /** The last credited epoch's evidence: 'published' (in the attestations core), 'unpublished', or null (no credit yet). */
  evidence: 'published' | 'unpublished' | null
}

interface WorkloadJson {
  id: string
  name?: string
  image?: string
  running?: boolean
  pollsAnswered?: number
  pollsMissed?: number
  lastCredit?: { epoch: string, cu: string, reason: string, evidenceRecord?: number | null } | null
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

export interface PsOptions {
  /** -a: stopped containers too. */
  all?: boolean
  /** -q: container IDs only. */
  quiet?: boolean
  /** --format: a Go-template subset, or `json`. */
  format?: string
}

/** The foreground node answering on this data dir's socket (pid), or null. */
async function foregroundNode (socketPath: string): Promise<{ pid: number | null, nodeId: string } | null> {
  try {
    const s = await new ApiClient({ socketPath }, { timeoutMs: 3000 }).get<Partial<StatusJson>>('/v1/status')
    return { pid: typeof s.pid === 'number' ? s.pid : null, nodeId: typeof s.nodeId === 'string' ? s.nodeId : '' }
  } catch {
    return null
  }
}

export async function collectPs (dataDir: string, o: PsOptions = {}): Promise<{ rows: PsRow[], attestation: boolean }> {
  const docker = dockerClient()
  await requireEngine(docker, 'then retry')
  const all = await docker.listContainers({ all: true })
  const shown = (c: Docker.ContainerInfo): boolean => o.all === true || c.State === 'running'
  const rows: PsRow[] = []
  const nodeName = nodeContainerName()
  const isNode = (c: Docker.ContainerInfo): boolean => shortName(c) === nodeName || c.Labels['econumi.role'] === 'node'
  const isAgent = (c: Docker.ContainerInfo): boolean => c.Labels[AGENT_LABEL] === AGENT_LABEL_VALUE
  const base = (c: Docker.ContainerInfo, role: PsRow['role']): PsRow => ({
    containerId: c.Id.slice(0, 12), image: c.Image, name: shortName(c), role, status: c.Status, state: c.State, attestation: 'n/a', pollsAnswered: null, pollsMissed: null, cu: null, cuEpoch: null, evidence: null
  })
  const socket = `${dataDir}/api.sock`
  const nodeContainers = all.filter(isNode)
  for (const c of nodeContainers) if (shown(c)) rows.push(base(c, 'node'))
  if (!nodeContainers.some((c) => c.State === 'running')) {
    // a node in the foreground (`econumi start --foreground`) is a process, not a container
    const fg = await foregroundNode(socket)
    if (fg !== null) rows.push({ containerId: '-', image: '(foreground)', name: `econumi node ${fg.nodeId.slice(0, 16)}${fg.pid !== null ? ` (pid ${fg.pid})` : ''}`, role: 'node', status: 'running', state: 'running', attestation: 'n/a', pollsAnswered: null, pollsMissed: null, cu: null, cuEpoch: null, evidence: null })
  }
  for (const c of all) if (isAgent(c) && shown(c)) rows.push(base(c, 'agent'))
  const workloads = await nodeWorkloads(socket)
  const byId = new Map(all.map((c) => [c.Id, c]))
  const witnessed = new Set<string>()
  if (workloads !== null) {
    for (const w of workloads) {
      witnessed.add(w.id)
      const c = byId.get(w.id)
      const state = c?.State ?? (w.running === true ? 'running' : 'exited')
      if (o.all !== true && state !== 'running') continue
      rows.push({
        containerId: w.id.slice(0, 12),
        image: c?.Image ?? w.image ?? '?',
        name: c !== undefined ? shortName(c) : (w.name ?? '').replace(/^\//, ''),
        role: 'workload',
        status: c?.Status ?? state,
        state,
        attestation: 'attested',
        pollsAnswered: w.pollsAnswered ?? 0,
        pollsMissed: w.pollsMissed ?? 0,
        cu: w.lastCredit?.cu ?? '0',
        cuEpoch: w.lastCredit?.epoch ?? null,
        evidence: w.lastCredit == null ? null : typeof w.lastCredit.evidenceRecord === 'number' ? 'published' : 'unpublished'
      })
    }
  }
  for (const c of all) {
    if (!shown(c) || isNode(c) || isAgent(c) || c.Labels['econumi.role'] !== undefined || witnessed.has(c.Id)) continue
    rows.push({ ...base(c, 'workload'), attestation: workloads !== null ? 'unattested' : 'n/a' })
  }
  return { rows, attestation: workloads !== null }
}

const HEADER = ['CONTAINER ID', 'IMAGE', 'ROLE', 'STATUS', 'ATTESTED', 'POLLS', 'CU', 'EVIDENCE', 'NAMES']

function cells (r: PsRow): string[] {
  return [
    r.containerId, r.image, r.role, r.status,
    r.attestation === 'attested' ? 'yes' : r.attestation === 'unattested' ? 'no' : '-',
    r.pollsAnswered === null ? '-' : `${r.pollsAnswered}/${r.pollsMissed ?? 0}`,
    r.cu === null ? '-' : r.cu,
    r.evidence === null ? '-' : r.evidence === 'published' ? `e${r.cuEpoch ?? '?'} published` : `e${r.cuEpoch ?? '?'} unpublished`,
    r.name
  ]
}

export function formatPs (rows: PsRow[]): string[] {
  const all = rows.map(cells)
  const widths = HEADER.map((h, i) => Math.max(h.length, ...all.map((c) => c[i].length)))
  const line = (c: string[]): string => c.map((v, i) => i === c.length - 1 ? v : v.padEnd(widths[i])).join('   ').trimEnd()
  return [line(HEADER), ...all.map(line)]
}

/** What a `--format` template sees of a row: docker's names where they exist. */
function templateFields (r: PsRow): Record<string, string> {
  const c = cells(r)
  return { ID: r.containerId, Image: r.image, Names: r.name, Name: r.name, Role: r.role, Status: r.status, State: r.state, Attested: c[4], Attestation: r.attestation, Polls: c[5], CU: c[6], CUEpoch: r.cuEpoch ?? '', Evidence: r.evidence ?? '' }
}

const FIELD = /\{\{\s*(json\s+)?\.([A-Za-z]*)\s*\}\}/g
const FIELD_NAMES = ['ID', 'Image', 'Names', 'Name', 'Role', 'Status', 'State', 'Attested', 'Attestation', 'Polls', 'CU', 'CUEpoch', 'Evidence']

/** Compile a Go-template subset: `{{.Field}}`, `{{json .Field}}`, `{{json .}}`, `\t` and `\n`, a leading `table` (a header line). */
export function compileFormat (format: string): { header: string | null, render: (r: PsRow) => string } {
  if (format.length > 1000) fail('E_BAD_FORMAT', '--format is longer than 1000 characters')
  if (format === 'json') return { header: null, render: (r) => JSON.stringify(templateFields(r)) }
  let text = format.replace(/\\t/g, '\t').replace(/\\n/g, '\n')
  let table = false
  if (/^table(\s|$)/.test(text)) { table = true; text = text.replace(/^table\s?/, '') }
  for (const m of text.matchAll(FIELD)) {
    if (m[2] !== '' && !FIELD_NAMES.includes(m[2])) fail('E_BAD_FORMAT', `--format: no field .${m[2]} (fields: ${FIELD_NAMES.map((k) => `.${k}`).join(' ')})`, { field: m[2] })
  }
  if (/\{\{|\}\}/.test(text.replace(FIELD, ''))) fail('E_BAD_FORMAT', '--format understands {{.Field}}, {{json .Field}} and {{json .}} only', { format: format.slice(0, 80) })
  const render = (r: PsRow): string => {
    const f = templateFields(r)
    return text.replace(FIELD, (_all, json: string | undefined, field: string) => field === '' ? JSON.stringify(f) : json !== undefined ? JSON.stringify(f[field]) : f[field])
  }
  const headerNames: Record<string, string> = { ID: 'CONTAINER ID', Names: 'NAMES', Name: 'NAMES', CUEpoch: 'CU EPOCH' }
  const header = table ? text.replace(FIELD, (_all, _json: string | undefined, field: string) => field === '' ? '' : headerNames[field] ?? field.toUpperCase()) : null
  return { header, render }
}

export async function runPs (dataDir: string, json: boolean, out: (s: string) => void = (s) => process.stdout.write(s), o: PsOptions = {}): Promise<void> {
  if (o.format !== undefined && o.quiet === true) fail('E_BAD_OPTION', '-q and --format go separately (-q prints the IDs only)')
  const format = o.format !== undefined ? compileFormat(o.format) : null // a bad template is refused before the engine is asked
  const { rows, attestation } = await collectPs(dataDir, o)
  if (json) { out(JSON.stringify({ attestation, containers: rows }) + '\n'); return }
  if (o.quiet === true) { for (const r of rows) if (r.containerId !== '-') out(r.containerId + '\n'); return }
  if (format !== null) {
    if (format.header !== null) out(format.header + '\n')
    for (const r of rows) out(format.render(r) + '\n')
    return
  }
  out(formatPs(rows).join('\n') + '\n')
  if (!attestation) out('(the node does not attest (--attest): workloads are not marked attested or not; POLLS = answered/missed, CU = last credited epoch, EVIDENCE = whether that epoch\'s evidence is published)\n')
}
