/** Small statistics helpers for the benchmark (nearest-rank percentiles, rounded output). */

export interface Distribution {
  count: number
  min: number | null
  p50: number | null
  p90: number | null
  p99: number | null
  max: number | null
  mean: number | null
}

/** Nearest-rank percentile of an already sorted array (q in 0..1). */
export function percentileSorted (sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)))
  return sorted[rank - 1] as number
}

export function round (value: number | null | undefined, digits = 1): number | null {
  if (value == null || !Number.isFinite(value)) return null
  const f = 10 ** digits
  return Math.round(value * f) / f
}

export function distribution (values: number[], digits = 1): Distribution {
  const sorted = values.filter(v => Number.isFinite(v)).sort((a, b) => a - b)
  const mean = sorted.length === 0 ? null : sorted.reduce((s, v) => s + v, 0) / sorted.length
  return {
    count: sorted.length,
    min: round(sorted[0], digits),
    p50: round(percentileSorted(sorted, 0.5), digits),
    p90: round(percentileSorted(sorted, 0.9), digits),
    p99: round(percentileSorted(sorted, 0.99), digits),
    max: round(sorted[sorted.length - 1], digits),
    mean: round(mean, digits)
  }
}

/** Histogram of integer-ish values: { "11": 20, "23": 4 } (keys sorted numerically in insertion). */
export function histogram (values: number[]): Record<string, number> {
  const counts = new Map<number, number>()
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1)
  const out: Record<string, number> = {}
  for (const [k, c] of [...counts.entries()].sort((a, b) => a[0] - b[0])) out[String(k)] = c
  return out
}
