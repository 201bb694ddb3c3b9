// What the agent sees of its workload: its cgroup (readCgroup, how the agent container runs) or, for tests and
// a shared PID namespace, its init in /proc (readProcess).
import { readFileSync } from 'node:fs'

/** Linux reports /proc times in USER_HZ, which is 100 on every architecture Docker runs on. */
const USER_HZ = 100

export interface ProcessView {
  alive: boolean
  /** ms since the Unix epoch when the process started; null when unreadable. */
  startTime: number | null
}

/** Parses /proc/<pid>/stat: the state is the field after the last ')' (the command may contain ')'). */
export function parseStat (stat: string): { state: string, startTicks: number } | null {
  const close = stat.lastIndexOf(')')
  if (close < 0) return null
  const fields = stat.slice(close + 2).split(' ')
  // fields[0] is field 3 (state); starttime is field 22 → fields[19]
  const startTicks = Number(fields[19])
  if (fields[0] === undefined || fields[0] === '' || !Number.isFinite(startTicks)) return null
  return { state: fields[0], startTicks }
}

export function parseBootTime (procStat: string): number | null {
  const m = /^btime (\d+)$/m.exec(procStat)
  return m === null ? null : Number(m[1])
}

export function readProcess (pid = 1, procRoot = '/proc'): ProcessView {
  let stat: string
  try {
    stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8')
  } catch {
    return { alive: false, startTime: null }
  }
  const s = parseStat(stat)
  if (s === null) return { alive: false, startTime: null }
  let boot: number | null = null
  try { boot = parseBootTime(readFileSync(`${procRoot}/stat`, 'utf8')) } catch {}
  return {
    alive: s.state !== 'Z' && s.state !== 'X' && s.state !== 'x',
    startTime: boot === null ? null : boot * 1000 + Math.round(s.startTicks * 1000 / USER_HZ)
  }
}

/**
 * What the agent sees of its workload through the workload's cgroup, bind-mounted read-only (the agent no
 * longer shares the workload's PID namespace, so the workload cannot see, signal or ptrace it). cgroup v2:
 * `cgroup.events` says `populated 1`; v1 (the pids controller's directory): `pids.current` > 0. These count
 * every task whatever PID namespace reads them (`cgroup.procs` would list only the pids the reader can see).
 * A removed cgroup (the workload ended) reads as not alive. The cgroup gives no start time: null.
 */
export function readCgroup (dir: string): ProcessView {
  try {
    const events = readFileSync(`${dir}/cgroup.events`, 'utf8')
    return { alive: /^populated 1$/m.test(events), startTime: null }
  } catch {}
  try {
    const n = Number(readFileSync(`${dir}/pids.current`, 'utf8').trim())
    return { alive: Number.isInteger(n) && n > 0, startTime: null }
  } catch {}
  return { alive: false, startTime: null }
}
