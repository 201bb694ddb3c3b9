// Console workloads: ordinary detached containers (attested like any other `docker run`), labelled so the
// console finds them again, and restored from econumi.config when the node starts.
import type Docker from 'dockerode'
import { parseMemory, readConfig } from './config-file.js'

export interface StartArgs { image: string, cpus?: number, memory?: string, cmd?: string[] }

/** Run one console workload as an ordinary detached container (attested like any other `docker run`). */
export async function runWorkload (d: Docker, a: StartArgs): Promise<Docker.Container> {
  const hostConfig: Docker.HostConfig = {}
  if (a.cpus !== undefined) hostConfig.NanoCpus = Math.round(a.cpus * 1e9)
  if (a.memory !== undefined) hostConfig.Memory = Number(parseMemory(a.memory))
  const container = await d.createContainer({
    Image: a.image,
    ...(a.cmd !== undefined ? { Cmd: a.cmd } : { OpenStdin: true }), // no command: keep the image's, with stdin open so a shell stays up
    Labels: { 'econumi.console': '1', 'econumi.image': a.image },
    HostConfig: hostConfig
  })
  await container.start()
  return container
}

/** Start every workload recorded in econumi.config that is not running yet; returns what was started. */
export async function restoreWorkloads (d: Docker, dataDir: string): Promise<string[]> {
  const config = await readConfig(dataDir)
  const running = await d.listContainers({ filters: { label: ['econumi.console=1'] } } as Docker.ContainerListOptions)
  const have = new Map<string, number>()
  for (const c of running) { const img = c.Labels['econumi.image'] ?? c.Image; have.set(img, (have.get(img) ?? 0) + 1) }
  const started: string[] = []
  for (const w of config.workloads) {
    const n = have.get(w.image) ?? 0
    if (n > 0) { have.set(w.image, n - 1); continue }
    const c = await runWorkload(d, { image: w.image, cpus: w.cpus, memory: w.memory, cmd: w.cmd })
    started.push(`${w.image} ${c.id.slice(0, 12)}`)
  }
  return started
}
