// The one reading of a container's reservations from Docker's HostConfig, shared by the plugin (create
// bodies) and the node (inspect, and the plugin's create events): NanoCpus, else CpuQuota / CpuPeriod
// (period 100 ms when unset) in billionths of a core, rounded down in exact integer arithmetic; Memory
// in bytes. Anything not a positive finite number is 0, which means unlimited: nothing reserved.
// Pure and free of imports: the plugin imports nothing outside plugin/.

/** Reservations in the node's units; structurally protocol/compute-units.ts `Reservation`. */
export interface HostReservation { nanoCpus: bigint, memoryBytes: bigint }

/** The HostConfig fields read, as inspect names them (values untrusted). */
export interface HostConfigReservations { NanoCpus?: unknown, CpuQuota?: unknown, CpuPeriod?: unknown, Memory?: unknown }

function whole (x: unknown): bigint {
  return typeof x === 'number' && Number.isFinite(x) && x > 0 ? BigInt(Math.floor(x)) : 0n
}

export function reservationFromHostConfig (hc: HostConfigReservations | undefined | null): HostReservation {
  let nanoCpus = whole(hc?.NanoCpus)
  if (nanoCpus === 0n) {
    const quota = whole(hc?.CpuQuota)
    const period = whole(hc?.CpuPeriod)
    if (quota > 0n) nanoCpus = (quota * 1_000_000_000n) / (period === 0n ? 100_000n : period)
  }
  return { nanoCpus, memoryBytes: whole(hc?.Memory) }
}
