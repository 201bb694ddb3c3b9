// Compute units (CU): integer credit for attested container work.
// 1 CU = one millicore reserved for one second; one GiB of reserved memory weighs as much as
// MEMORY_MILLICORES_PER_GIB millicores. Always floored, always BigInt.
import { fail } from './errors.js'

export const MEMORY_MILLICORES_PER_GIB = 250n
const GIB = 1024n * 1024n * 1024n
const NANO_PER_MILLI = 1_000_000n

export interface Reservation {
  /** CPU reservation in nano-CPUs (Docker's NanoCpus: 1e9 = one core). */
  nanoCpus: bigint
  /** Memory reservation in bytes. */
  memoryBytes: bigint
}

/** CU for `durationMs` milliseconds of a reservation. */
export function computeUnits (durationMs: bigint, r: Reservation): bigint {
  if (durationMs < 0n || r.nanoCpus < 0n || r.memoryBytes < 0n) fail('E_CU_NEGATIVE', 'compute unit inputs must not be negative', { durationMs, nanoCpus: r.nanoCpus, memoryBytes: r.memoryBytes })
  // weight in nano-millicore units to stay exact: cpu (nanoCpus/1e6 millicores) + memory (bytes*250/GiB millicores)
  const weightNum = r.nanoCpus * GIB + r.memoryBytes * MEMORY_MILLICORES_PER_GIB * NANO_PER_MILLI
  const weightDen = NANO_PER_MILLI * GIB
  return (durationMs * weightNum) / (weightDen * 1000n)
}

/**
 * Scale a set of simultaneous reservations down so their sum never exceeds capacity.
 * Returns each reservation scaled by the same factor per resource (floored).
 */
export function fitToCapacity (reservations: Reservation[], capacity: Reservation): Reservation[] {
  const sumCpu = reservations.reduce((s, r) => s + r.nanoCpus, 0n)
  const sumMem = reservations.reduce((s, r) => s + r.memoryBytes, 0n)
  return reservations.map((r) => ({
    nanoCpus: sumCpu > capacity.nanoCpus ? (r.nanoCpus * capacity.nanoCpus) / sumCpu : r.nanoCpus,
    memoryBytes: sumMem > capacity.memoryBytes ? (r.memoryBytes * capacity.memoryBytes) / sumMem : r.memoryBytes
  }))
}
