// The audit sample: every report is picked by k auditors in expectation, by a coin nobody else can compute.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { auditCoin, selectedForAudit } from '../../protocol/audit.js'
import { makeReport } from '../../protocol/report.js'
import { signerFrom } from '../helpers/chain.js'

t.test('each report is audited by k of n nodes in expectation; the coin depends on the auditor and the beacon', async (t) => {
  const g = randomBytes(32)
  const n = 50
  const auditors = Array.from({ length: n }, (_, i) => signerFrom(`auditor-${i}`))
  const reports = Array.from({ length: 200 }, (_, i) => makeReport(signerFrom(`reporter-${i}`), g, 7n, 1000n, randomBytes(32)))
  const beacon = randomBytes(32)
  const coins = auditors.map((a) => auditCoin(a, beacon, 9n))
  let picks = 0
  let unaudited = 0
  for (const r of reports) {
    const k = coins.filter((c) => selectedForAudit(c, r, n)).length
    picks += k
    if (k === 0) unaudited++
  }
  const mean = picks / reports.length
  t.ok(mean > 2.5 && mean < 3.5, `auditors per report ${mean.toFixed(2)} ≈ 3`)
  t.ok(unaudited / reports.length < 0.1, `unaudited reports ${unaudited} of ${reports.length} (e^-3 ≈ 5%)`)
  t.not(Buffer.from(auditCoin(auditors[0], beacon, 9n)).toString('hex'), Buffer.from(auditCoin(auditors[0], randomBytes(32), 9n)).toString('hex'), 'a new beacon, a new coin')
  t.not(Buffer.from(coins[0]).toString('hex'), Buffer.from(coins[1]).toString('hex'), 'auditors draw different coins')
  t.ok(reports.every((r) => selectedForAudit(coins[0], r, 3)), 'with k or fewer nodes everyone audits everything')
})

t.test('over several epochs every reporting node is audited: a report escapes with P ≈ e^-3, five in a row with ≈ 3e-7', async (t) => {
  const g = randomBytes(32)
  const n = 50
  const auditors = Array.from({ length: n }, (_, i) => signerFrom(`auditor-${i}`))
  const nodes = Array.from({ length: 200 }, (_, i) => signerFrom(`reporter-${i}`))
  const EPOCHS = 5
  const everAudited = new Set<number>()
  let escaped = 0
  for (let e = 0; e < EPOCHS; e++) {
    const beacon = randomBytes(32) // a new beacon each epoch: a new, independent sample
    const coins = auditors.map((a) => auditCoin(a, beacon, BigInt(e)))
    nodes.forEach((node, i) => {
      const r = makeReport(node, g, BigInt(e), 1000n, randomBytes(32))
      if (coins.some((c) => selectedForAudit(c, r, n))) everAudited.add(i)
      else escaped++
    })
  }
  // P(one report unaudited) = (1 − 3/n)^(n−1) = 4.8% at n = 50; all 5 of a node's: 2.6e-7, for 200 nodes 5e-5
  t.ok(escaped / (nodes.length * EPOCHS) < 0.1, `reports unaudited in their epoch: ${escaped} of ${nodes.length * EPOCHS}`)
  t.equal(everAudited.size, nodes.length, 'every node had a report audited within five epochs')
})
