// agent-idle: the sidecar agent's idle memory (RSS) and CPU, against a bare Node process from the same base
// image (`node -e 'setInterval(()=>{},1e3)'`) measured in the same run. The agent is booted exactly as the node
// does it (key over stdin into a tmpfs, PID namespace of a sleeping workload) and talks to a stub node socket
// that challenges it once per 5 s window, like the real collector. Needs dockerd and the econumi images
// (scripts/build-images.sh, scripts/build-agent.sh); prints a skip line otherwise.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Docker from 'dockerode'
import { type Bench, report } from './lib.js'

const AGENT_IMAGE = process.env.ECONUMI_AGENT_IMAGE ?? 'econumi/agent:latest'
const SAMPLE_MS = Number(process.env.ECONUMI_BENCH_AGENT_MS ?? 20_000)

function docker (args: string[], input?: string): { status: number | null, out: string } {
  const r = spawnSync('docker', args, { encoding: 'utf8', input, timeout: 60_000 })
  return { status: r.status, out: (r.stdout ?? '').trim() + (r.stderr ?? '') }
}

/** RSS (kB) and cumulative CPU ticks of every process of a container, read from the host's /proc. */
function usage (container: string): { rssKb: number, ticks: number } {
  const top = docker(['top', container, '-eo', 'pid'])
  let rssKb = 0
  let ticks = 0
  for (const line of top.out.split('\n').slice(1)) {
    const pid = line.trim()
    if (!/^\d+$/.test(pid)) continue
    try {
      rssKb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(f[11]) + Number(f[12]) // utime + stime
    } catch {}
  }
  return { rssKb, ticks }
}

async function measure (container: string): Promise<{ rssMb: number, cpuPct: number }> {
  await new Promise((resolve) => setTimeout(resolve, 3000)) // past start-up
  const a = usage(container)
  const t0 = Date.now()
  await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS))
  const b = usage(container)
  const secs = (Date.now() - t0) / 1000
  return { rssMb: b.rssKb / 1024, cpuPct: ((b.ticks - a.ticks) / 100) / secs * 100 }
}

const bench: Bench = {
  name: 'agent-idle',
  description: 'idle RSS and CPU of one sidecar agent vs a bare node process from the same base image',
  run: async () => {
    if (docker(['image', 'inspect', AGENT_IMAGE]).status !== 0 || docker(['image', 'inspect', 'econumi/busybox:test']).status !== 0) {
      process.stdout.write(`agent-idle: skipped (needs dockerd, ${AGENT_IMAGE} and econumi/busybox:test: scripts/build-images.sh && scripts/build-agent.sh)\n`)
      return
    }
    const base = JSON.parse(docker(['image', 'inspect', AGENT_IMAGE]).out.replace(/\][^\]]*$/, ']'))[0]?.Config?.Image ?? ''
    const baseImage = process.env.ECONUMI_BASE_IMAGE ?? (base !== '' && !base.startsWith('sha256:') ? base : `econumi/node-base:${process.versions.node}`)
    const dir = mkdtempSync(join(tmpdir(), 'econumi-bench-agent-'))
    const sock = join(dir, 'agent.sock')
    // stub node: hello, then a challenge every 5 s (the agent's real idle duty)
    const server = createServer((s) => {
      s.write(JSON.stringify({ t: 'hello', nonce: randomBytes(32).toString('hex') }) + '\n')
      const timer = setInterval(() => {
        s.write(JSON.stringify({ t: 'challenge', window: String(Math.floor(Date.now() / 5000)), nonce: randomBytes(32).toString('hex'), health: 'none' }) + '\n')
      }, 5000)
      s.on('data', () => {})
      s.on('error', () => {})
      s.on('close', () => clearInterval(timer))
    })
    await new Promise<void>((resolve) => server.listen(sock, resolve))
    spawnSync('chmod', ['0777', dir, sock])
    const tag = randomBytes(4).toString('hex')
    const names = { workload: `bench-agent-w-${tag}`, agent: `bench-agent-a-${tag}`, bare: `bench-agent-bare-${tag}` }
    try {
      docker(['run', '-d', '--name', names.workload, 'econumi/busybox:test', 'sleep', '3600'])
      const id = docker(['inspect', '-f', '{{.Id}}', names.workload]).out
      const boot = JSON.stringify({
        v: 1, secretKey: randomBytes(32).toString('hex'), nodeId: '00'.repeat(32), containerId: id, image: 'econumi/busybox:test',
        imageDigest: 'sha256:' + '00'.repeat(32), reservations: { nanoCpus: '0', memoryBytes: '0' },
        certificate: '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n', socket: '/run/econumi-node/agent.sock', checkpointMs: 2000
      })
      // booted exactly as the node does it (attach stdin, start, write, close); no econumi.role label and no
      // econumi-agent- name, which the plugin reserves to the node
      const d = new Docker({ socketPath: process.env.ECONUMI_DOCKER_SOCKET ?? '/var/run/docker.sock' })
      const c = await d.createContainer({
        name: names.agent, Image: AGENT_IMAGE, OpenStdin: true, StdinOnce: true, AttachStdin: true, User: '65534:65534',
        HostConfig: { PidMode: `container:${id}`, Tmpfs: { '/run/secrets': 'mode=0700,uid=65534,gid=65534,size=64k' }, Binds: [`${dir}:/run/econumi-node:ro`], NetworkMode: 'none', CapDrop: ['ALL'], ReadonlyRootfs: true }
      })
      const stream = await c.attach({ stream: true, stdin: true, stdout: false, stderr: false, hijack: true })
      await c.start()
      await new Promise<void>((resolve) => { stream.end(boot + '\n', () => resolve()) })
      docker(['run', '-d', '--name', names.bare, '--network', 'none', '--entrypoint', '/usr/local/bin/node', baseImage, '-e', 'setInterval(()=>{},1e3)'])
      const [agent, bare] = await Promise.all([measure(names.agent), measure(names.bare)])
      report({ name: 'agent-idle-rss', value: agent.rssMb, unit: 'MiB', baseline: bare.rssMb })
      report({ name: 'agent-idle-cpu', value: agent.cpuPct, unit: '% of one core', baseline: bare.cpuPct })
    } finally {
      docker(['rm', '-f', names.agent, names.workload, names.bare])
      server.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export default bench
