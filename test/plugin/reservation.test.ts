// One reservation parser for both witnesses: the plugin's create event and the node's inspect must read the
// same HostConfig as the same reservation. The rows below are where the old parsers disagreed: the plugin
// rounded the float quota / period × 1e9 (Math.round), the node floored it in bigint arithmetic.
import t from 'tap'
import { decideResponse, type DecideContext } from '../../plugin/decide.js'
import { reservationFromHostConfig } from '../../plugin/reservation.js'
import { PluginState } from '../../plugin/state.js'
import { reservationFromHostConfig as nodeReads } from '../../node/attestation/witness.js'

const WORK_ID = '0f0e0d0c0b0a09080706050403020100ffeeddccbbaa99887766554433221100'
const ctx: DecideContext = { nodeToken: 'tok', now: 1700000000000, selfName: 'econumi', socketName: 'econumi.sock' }
const b64 = (x: unknown): string => Buffer.from(JSON.stringify(x)).toString('base64')

/** What the plugin reports in the `create` event for a create body with this HostConfig. */
function pluginReads (hc: Record<string, number>): unknown {
  const d = decideResponse({
    RequestMethod: 'POST', RequestUri: '/v1.41/containers/create', RequestHeaders: { 'Content-Type': 'application/json' },
    RequestBody: b64({ Image: 'busybox', HostConfig: hc }), ResponseStatusCode: 201, ResponseBody: b64({ Id: WORK_ID })
  }, new PluginState(null), ctx)
  return d.events[0]?.reservations
}

interface Row { name: string, hc: Record<string, number>, nanoCpus: bigint, memoryBytes: bigint }
const rows: Row[] = [
  { name: 'NanoCpus as given', hc: { NanoCpus: 500_000_000, Memory: 67_108_864 }, nanoCpus: 500_000_000n, memoryBytes: 67_108_864n },
  { name: 'NanoCpus wins over quota', hc: { NanoCpus: 1_000_000_000, CpuQuota: 50_000 }, nanoCpus: 1_000_000_000n, memoryBytes: 0n },
  { name: 'quota / default period 100 ms', hc: { CpuQuota: 25_000 }, nanoCpus: 250_000_000n, memoryBytes: 0n },
  // Math.round(20000 / 30000 * 1e9) = 666666667: the plugin used to claim one nano-core more than inspect
  { name: '2/3 of a core rounds down', hc: { CpuQuota: 20_000, CpuPeriod: 30_000 }, nanoCpus: 666_666_666n, memoryBytes: 0n },
  { name: 'a third of a core and a bit, down', hc: { CpuQuota: 100_001, CpuPeriod: 300_000 }, nanoCpus: 333_336_666n, memoryBytes: 0n },
  { name: 'quota 12345 / period 67890, down', hc: { CpuQuota: 12_345, CpuPeriod: 67_890 }, nanoCpus: 181_838_267n, memoryBytes: 0n },
  // 67963 / 1000 × 1e9 in floats is 67962999999.99999: a float floor would lose a whole nano-core
  { name: 'integer-exact where a float floor is not', hc: { CpuQuota: 67_963, CpuPeriod: 1_000 }, nanoCpus: 67_963_000_000n, memoryBytes: 0n },
  { name: 'negative and zero are unlimited', hc: { NanoCpus: -1, CpuQuota: 0, Memory: -1 }, nanoCpus: 0n, memoryBytes: 0n },
  { name: 'fractions are floored', hc: { NanoCpus: 1.9, Memory: 1024.5 }, nanoCpus: 1n, memoryBytes: 1024n }
]

t.test('the plugin and the node read every HostConfig alike, rounding down', async (t) => {
  for (const r of rows) {
    const want = { nanoCpus: r.nanoCpus, memoryBytes: r.memoryBytes }
    t.same(reservationFromHostConfig(r.hc), want, `${r.name}: parser`)
    t.same(nodeReads(r.hc), want, `${r.name}: node (inspect)`)
    t.same(pluginReads(r.hc), { nanoCpus: Number(r.nanoCpus), memoryBytes: Number(r.memoryBytes) }, `${r.name}: plugin (create event)`)
  }
})

t.test('absent HostConfig reserves nothing', async (t) => {
  t.same(reservationFromHostConfig(null), { nanoCpus: 0n, memoryBytes: 0n })
  t.same(reservationFromHostConfig({ NanoCpus: Number.NaN, CpuQuota: Infinity, Memory: 'x' }), { nanoCpus: 0n, memoryBytes: 0n })
})
