import t from 'tap'
import { createHash } from 'node:crypto'
import { compareScores, lotteryTicket, negLnFixed, type LotteryClaim } from '../../protocol/lottery.js'

const TWO64 = 1n << 64n

// floor(-ln(n / 2^d) * 2^64), computed independently with Python's decimal module at 300
// significant digits: (-(Decimal(n) / Decimal(2)**d).ln() * Decimal(2)**64).to_integral_value(ROUND_FLOOR).
// negLnFixed promises the exact floor, so these must match bit for bit.
const REFERENCE: Array<[bigint, number, bigint, string]> = [
  [1n, 1, 12786308645202655659n, '-ln(1/2) = ln 2'],
  [1n, 2, 25572617290405311319n, 'ln 4'],
  [3n, 2, 5306797565112371680n, '-ln(3/4)'],
  [1n, 64, 818323753292969962226n, '-ln(2^-64) = 64 ln 2'],
  [18446744073709551615n, 64, 1n, '-ln(1 - 2^-64) = 2^-64 + 2^-129 + ...'],
  [9223372036854775808n, 64, 12786308645202655659n, 'u = 1/2'],
  [9223372036854775809n, 64, 12786308645202655657n, 'just above 1/2'],
  [9223372036854775807n, 64, 12786308645202655661n, 'just below 1/2'],
  [3037000499n, 32, 6393154328529854638n, 'just below 1/sqrt2 (normalisation switch)'],
  [3037000500n, 32, 6393154322455853637n, 'just above 1/sqrt2'],
  [6074001000n, 33, 6393154322455853637n, 'same value with one more bit'],
  [10000000000000000000n, 64, 11294992843372450852n, '10^19 / 2^64'],
  [12345678901234567n, 64, 134833469828964777184n, 'arbitrary'],
  [16045690984503098046n, 64, 2572353135568574310n, 'arbitrary (0xdeadbeefcafebabe)'],
  [2n, 64, 805537444647767306566n, '2^-63'],
  [1n, 1000, 12786308645202655659788n, '1000 ln 2'],
  [7n, 1000, 12750412938692598288837n, '-ln(7 / 2^1000)']
]

// ln 2 = 0.69314718055994530941723212145817656807550013436025525412068000949339362196969...
const LN2_DIGITS = '6931471805599453094172321214581765680755001343602552541206800094933936'
const ln2Times2Pow = (bits: bigint): bigint => (BigInt(LN2_DIGITS) << bits) / 10n ** BigInt(LN2_DIGITS.length)

function outputWithPrefix (x: bigint): Uint8Array {
  const out = new Uint8Array(64).fill(0xa5) // the tail must not matter
  for (let i = 7; i >= 0; i--) { out[i] = Number(x & 0xffn); x >>= 8n }
  return out
}

t.test('negLnFixed against high-precision reference values', async (t) => {
  t.equal(negLnFixed(1n, 1), ln2Times2Pow(64n), 'ln 2 * 2^64 from the published decimal expansion')
  t.equal(negLnFixed(1n, 64), ln2Times2Pow(70n), '64 ln 2 * 2^64 from the published decimal expansion')
  for (const [n, d, expected, label] of REFERENCE) {
    t.equal(negLnFixed(n, d), expected, `${label}: n=${n} d=${d}`)
  }
  t.equal(negLnFixed(1n, 0), 0n, 'ln 1 = 0')
  t.equal(negLnFixed(TWO64, 64), 0n, 'u = 1 gives 0')
  t.equal(negLnFixed(1n << 300n, 300), 0n)
})

t.test('lotteryTicket uses the first 8 bytes, big-endian, u = (x + 1) / 2^64', async (t) => {
  t.equal(lotteryTicket(new Uint8Array(64)), 818323753292969962226n, 'x = 0: u = 2^-64, ticket = 64 ln 2')
  t.equal(lotteryTicket(new Uint8Array(64).fill(0xff)), 0n, 'x = 2^64 - 1: u = 1, ticket = 0')
  t.equal(lotteryTicket(outputWithPrefix((1n << 63n) - 1n)), 12786308645202655659n, 'u = 1/2')
  const a = outputWithPrefix(12345678901234566n)
  const b = Uint8Array.from(a)
  b.fill(0x00, 8)
  t.equal(lotteryTicket(a), 134833469828964777184n)
  t.equal(lotteryTicket(b), lotteryTicket(a), 'bytes 8..63 are ignored')
  t.throws(() => lotteryTicket(new Uint8Array(63)), { code: 'E_LOTTERY_OUTPUT' })
  t.throws(() => lotteryTicket(new Uint8Array(8)), { code: 'E_LOTTERY_OUTPUT' })
  t.throws(() => lotteryTicket('x' as unknown as Uint8Array), { code: 'E_LOTTERY_OUTPUT' })
})

t.test('negLnFixed rejects inputs outside (0, 2^d]', async (t) => {
  t.throws(() => negLnFixed(0n, 64), { code: 'E_LOTTERY_RANGE' })
  t.throws(() => negLnFixed(-1n, 64), { code: 'E_LOTTERY_RANGE' })
  t.throws(() => negLnFixed(TWO64 + 1n, 64), { code: 'E_LOTTERY_RANGE' })
  t.throws(() => negLnFixed(1n, -1), { code: 'E_LOTTERY_RANGE' })
  t.throws(() => negLnFixed(1n, 1.5), { code: 'E_LOTTERY_RANGE' })
  t.throws(() => negLnFixed(1n, 5000), { code: 'E_LOTTERY_RANGE' })
  t.throws(() => negLnFixed(1 as unknown as bigint, 64), { code: 'E_LOTTERY_RANGE' })
})

t.test('monotonicity: a larger u never gets a larger ticket', async (t) => {
  let violations = 0
  const check = (from: bigint, count: number, strict: boolean): void => {
    let prev = negLnFixed(from, 64)
    for (let n = from + 1n; n < from + BigInt(count) && n <= TWO64; n++) {
      const cur = negLnFixed(n, 64)
      if (strict ? cur >= prev : cur > prev) violations++
      prev = cur
    }
  }
  check(1n, 2000, true) // small u: consecutive values differ by about 2^64/n ulp
  check(TWO64 - 2000n, 2001, false) // u near 1: steps below one ulp, so floors may repeat
  check((1n << 63n) - 1000n, 2000, true) // across the power-of-two normalisation switch
  check(13043817825332782212n - 1000n, 2000, true) // across 2^64/sqrt(2), the other switch
  t.equal(violations, 0, 'consecutive numerators')

  // Random values, sorted.
  const xs: bigint[] = []
  for (let i = 0; i < 3000; i++) {
    xs.push(BigInt('0x' + createHash('sha512').update(`mono/${i}`).digest('hex').slice(0, 16)) + 1n)
  }
  xs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  let bad = 0
  for (let i = 1; i < xs.length; i++) {
    if (negLnFixed(xs[i], 64) > negLnFixed(xs[i - 1], 64)) bad++
  }
  t.equal(bad, 0, 'random sorted numerators')
})

t.test('compareScores: exact cross-multiplication, tie-break on vrfOutput, CU validation', async (t) => {
  const out = (b: number): Uint8Array => new Uint8Array(64).fill(b)
  // Lower score wins: 10/2 = 5 < 12/2 = 6.
  t.ok(compareScores({ ticket: 10n, cu: 2n, vrfOutput: out(9) }, { ticket: 12n, cu: 2n, vrfOutput: out(1) }) < 0)
  t.ok(compareScores({ ticket: 12n, cu: 2n, vrfOutput: out(1) }, { ticket: 10n, cu: 2n, vrfOutput: out(9) }) > 0)
  // More CU lowers the score: 30/10 = 3 < 4/1.
  t.ok(compareScores({ ticket: 30n, cu: 10n, vrfOutput: out(9) }, { ticket: 4n, cu: 1n, vrfOutput: out(1) }) < 0)
  // Exact where floating point is not: (3*2^70 + 1)/3 vs 2^70/1 look equal as doubles.
  const a: LotteryClaim = { ticket: 3n * (1n << 70n) + 1n, cu: 3n, vrfOutput: out(0) }
  const b: LotteryClaim = { ticket: 1n << 70n, cu: 1n, vrfOutput: out(1) }
  t.equal(Number(a.ticket) / 3, Number(b.ticket), 'doubles cannot tell them apart')
  t.ok(compareScores(a, b) > 0, 'but b has the strictly lower score')
  // Equal scores (6/3 == 4/2): lexicographically lower vrfOutput wins.
  const lo = Uint8Array.from(out(7)); lo[63] = 6
  t.ok(compareScores({ ticket: 6n, cu: 3n, vrfOutput: out(7) }, { ticket: 4n, cu: 2n, vrfOutput: lo }) > 0)
  t.ok(compareScores({ ticket: 4n, cu: 2n, vrfOutput: lo }, { ticket: 6n, cu: 3n, vrfOutput: out(7) }) < 0)
  t.equal(compareScores({ ticket: 6n, cu: 3n, vrfOutput: out(7) }, { ticket: 4n, cu: 2n, vrfOutput: out(7) }), 0)
  // CU must be > 0 (and tickets are >= 0).
  t.throws(() => compareScores({ ticket: 1n, cu: 0n, vrfOutput: out(0) }, b), { code: 'E_LOTTERY_CU' })
  t.throws(() => compareScores(b, { ticket: 1n, cu: -5n, vrfOutput: out(0) }), { code: 'E_LOTTERY_CU' })
  t.throws(() => compareScores({ ticket: 1n, cu: 1 as unknown as bigint, vrfOutput: out(0) }, b), { code: 'E_LOTTERY_CU' })
  t.throws(() => compareScores({ ticket: -1n, cu: 1n, vrfOutput: out(0) }, b), { code: 'E_LOTTERY_TICKET' })
})

// ---- Chi-square goodness of fit: win frequency is proportional to CU ----

const CU = [1n, 2n, 3n, 5n, 9n] // 5 nodes, shares 5%, 10%, 15%, 25%, 45%
const EPOCHS = 20_000
// Degrees of freedom = 5 categories - 1 = 4. Upper 0.1% point of chi-square(4): 18.467
// (chi2.ppf(0.999, 4) = 18.4668). Reject "frequencies match the expectation" above it.
const CRITICAL_DF4_P001 = 18.467

function chiSquare (observed: number[], weights: number[]): number {
  const n = observed.reduce((s, x) => s + x, 0)
  const total = weights.reduce((s, x) => s + x, 0)
  let stat = 0
  for (let i = 0; i < observed.length; i++) {
    const expected = n * weights[i] / total
    stat += (observed[i] - expected) ** 2 / expected
  }
  return stat
}

function simulate (cuForScore: bigint[]): number[] {
  const wins = CU.map(() => 0)
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    let best: LotteryClaim | null = null
    let winner = -1
    for (let node = 0; node < CU.length; node++) {
      // Deterministic stand-in for node's VRF output in this epoch.
      const vrfOutput = new Uint8Array(createHash('sha512').update(`econumi/chi2/${epoch}/${node}`).digest())
      const claim = { ticket: tickets[epoch * CU.length + node], cu: cuForScore[node], vrfOutput }
      if (best === null || compareScores(claim, best) < 0) { best = claim; winner = node }
    }
    wins[winner]++
  }
  return wins
}

const tickets: bigint[] = []
for (let epoch = 0; epoch < EPOCHS; epoch++) {
  for (let node = 0; node < CU.length; node++) {
    tickets.push(lotteryTicket(new Uint8Array(createHash('sha512').update(`econumi/chi2/${epoch}/${node}`).digest())))
  }
}

t.test('chi-square: wins are proportional to CU (p = 0.001, df = 4)', async (t) => {
  const wins = simulate(CU)
  const stat = chiSquare(wins, CU.map(Number))
  t.comment(`wins ${wins.join(' ')} vs expected ${CU.map((c) => EPOCHS * Number(c) / 20).join(' ')}; chi2 = ${stat.toFixed(3)}`)
  t.ok(stat < CRITICAL_DF4_P001, `chi2 ${stat.toFixed(3)} < ${CRITICAL_DF4_P001}`)

  // Tickets are -ln(u) * 2^64 with u uniform, i.e. Exp(1): mean 1, and about e^-1 of them exceed 1.
  let sum = 0
  let above = 0
  for (const x of tickets) {
    const v = Number(x) / 2 ** 64
    sum += v
    if (v > 1) above++
  }
  const mean = sum / tickets.length
  t.ok(Math.abs(mean - 1) < 0.015, `mean ticket ${mean.toFixed(4)} ~ 1`) // sd of the mean is 1/sqrt(100000) = 0.0032
  t.ok(Math.abs(above / tickets.length - Math.exp(-1)) < 0.006, `P(ticket > 1) ${(above / tickets.length).toFixed(4)} ~ 0.3679`)
})

t.test('chi-square test has power: it rejects wrong expectations and a broken lottery', async (t) => {
  const wins = simulate(CU)
  const uniform = chiSquare(wins, CU.map(() => 1))
  t.ok(uniform > CRITICAL_DF4_P001, `uniform shares rejected: chi2 ${uniform.toFixed(1)} > ${CRITICAL_DF4_P001}`)
  const offByOne = chiSquare(wins, [1, 2, 3, 5, 10])
  t.ok(offByOne > CRITICAL_DF4_P001, `one node 11% over-weighted (CU 10 instead of 9) rejected: chi2 ${offByOne.toFixed(1)}`)
  // A lottery that ignores CU (every claim scored as if cu = 1) fails the CU-proportional test.
  const broken = simulate(CU.map(() => 1n))
  const brokenStat = chiSquare(broken, CU.map(Number))
  t.ok(brokenStat > CRITICAL_DF4_P001, `lottery ignoring CU rejected: chi2 ${brokenStat.toFixed(1)}`)
})
