// Shared benchmark helpers: every figure is printed readable and as one machine-readable BENCH line.
export interface BenchFigure {
  name: string
  value: number
  unit: string
  baseline: number
  /** value / baseline; null when the baseline measured 0 (no ratio exists then) */
  ratio: number | null
}

export function report (figure: Omit<BenchFigure, 'ratio'> & { ratio?: number }): BenchFigure {
  const ratio = figure.ratio ?? (figure.baseline === 0 ? null : figure.value / figure.baseline)
  const out: BenchFigure = { ...figure, ratio: ratio === null ? null : round(ratio, 4), value: round(figure.value, 3), baseline: round(figure.baseline, 3) }
  process.stdout.write(`${out.name}: ${out.value} ${out.unit} (baseline ${out.baseline}, ratio ${out.ratio ?? 'n/a: the baseline measured 0'})\n`)
  process.stdout.write(`BENCH ${JSON.stringify(out)}\n`)
  return out
}

export function round (x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[idx]
}

export interface Bench {
  name: string
  description: string
  run: () => Promise<void>
}
