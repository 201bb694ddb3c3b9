// The metrics exposition without a node: counters fed by the node's log lines (reorgs and their depth,
// rejected blocks, attestation), label sets bounded, and well-formed Prometheus text. The e2e explorer test
// scrapes a real node's /metrics.
import t from 'tap'
import { NodeMetrics } from '../../node/metrics.js'

function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

t.test('log lines feed the counters; the text is valid exposition format', async (t) => {
  const m = new NodeMetrics()
  const seen: string[] = []
  const log = m.tap((event) => { seen.push(event) })
  log('head', { height: 5n, blocks: 3 })
  log('head', { height: 6n })
  log('reorg', { from: 'a', to: 'b', rolledBack: 2, applied: 3 })
  log('reorg', { from: 'b', to: 'c', rolledBack: 7, applied: 8 })
  log('block-rejected', { code: 'E_BAD_SIGNATURE' })
  log('block-invalid', { code: 'E_BAD_SIGNATURE' })
  log('poll-missed', { container: 'x' })
  log('exit-report', { pollsAnswered: 12 })
  log('attestation-credit', { epoch: 4n, cu: 250n })
  log('workload-start', {})
  t.same(seen, ['head', 'head', 'reorg', 'reorg', 'block-rejected', 'block-invalid', 'poll-missed', 'exit-report', 'attestation-credit', 'workload-start'], 'every line still reaches the log')
  const text = await m.render()
  t.equal(sample(text, 'econumi_blocks_applied_total'), 4)
  t.equal(sample(text, 'econumi_reorgs_total'), 2)
  t.equal(sample(text, 'econumi_reorg_depth_bucket{le="2"}'), 1, 'depth 2 in le=2')
  t.equal(sample(text, 'econumi_reorg_depth_bucket{le="5"}'), 1, 'depth 7 not in le=5')
  t.equal(sample(text, 'econumi_reorg_depth_bucket{le="10"}'), 2)
  t.equal(sample(text, 'econumi_reorg_depth_sum'), 9)
  t.equal(sample(text, 'econumi_reorg_depth_count'), 2)
  t.equal(sample(text, 'econumi_blocks_rejected_total{code="E_BAD_SIGNATURE"}'), 2)
  t.equal(sample(text, 'econumi_polls_missed_total'), 1)
  t.equal(sample(text, 'econumi_polls_answered_total'), 12)
  t.equal(sample(text, 'econumi_cu_credited_total'), 250)
  t.equal(sample(text, 'econumi_attested_workloads_total'), 1)
  // every non-comment line is `name{labels} value`; every series has HELP and TYPE before its samples
  const typed = new Set<string>()
  for (const line of text.trim().split('\n')) {
    if (line === '') continue // prom-client separates metrics with a blank line
    const ty = /^# TYPE (\w+) (counter|gauge|histogram|summary)$/.exec(line)
    if (ty !== null) { typed.add(ty[1]); continue }
    if (line.startsWith('# HELP ')) continue
    const s = /^(\w+?)(_bucket|_sum|_count)?(\{[^}]*\})? (-?\d+(\.\d+)?(e[+-]?\d+)?|[Nn]a[Nn]|[+-]Inf)$/.exec(line)
    t.ok(s !== null, `sample line: ${line}`)
    if (s !== null) t.ok(typed.has(s[1]) || typed.has(s[1] + (s[2] ?? '')), `${s[1]} has a TYPE line`)
  }
})

t.test('label sets are bounded; hostile codes are escaped', async (t) => {
  const m = new NodeMetrics()
  for (let i = 0; i < 500; i++) m.onLog('block-rejected', { code: `E_X${i}` })
  m.onLog('block-rejected', { code: 'E_"q"\n\\' })
  const lines = (await m.render()).split('\n').filter((l) => l.startsWith('econumi_blocks_rejected_total{'))
  t.ok(lines.length <= 65, `at most 64 label sets and "other" (${lines.length})`)
  t.equal(sample(await m.render(), 'econumi_blocks_rejected_total{code="other"}'), 501 - 64)
  const m2 = new NodeMetrics()
  m2.onLog('block-rejected', { code: 'E_"q"\n\\' })
  t.match(await m2.render(), 'econumi_blocks_rejected_total{code="E_\\"q\\"\\n\\\\"} 1')
})
