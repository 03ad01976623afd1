/**
 * The soak test's judgement, pure (no I/O, no clock): given one metric's samples of one node over a
 * run, does it grow without bound?
 *
 * Steps, each a named, tested function:
 * 1. drop the warm-up (`warmupMs`, at least `warmupFraction` of the run): start-up allocations,
 *    JIT, caches filling, connections being dialled;
 * 2. reduce the rest to buckets of `bucketMs` (the minimum per bucket for memory, so a GC sawtooth
 *    shows its floor — what a leak raises — and the median for the others, so one slow sample does
 *    not tilt the line);
 * 3. a least-squares line through the buckets, for the whole window and for each half, with the
 *    slope's standard error and a 95 % interval (Student t);
 * 4. the verdict: a metric **grows** when the whole window's slope is above the metric's floor
 *    (noise-level slopes pass) with its 95 % interval above zero, AND the second half still climbs
 *    the same way (above the floor, interval above zero) at no less than a third of the first half's
 *    rate. Warm-up growth that flattens has a second half near zero; a leak keeps its slope in both.
 *    A second half clearly slower than the first but still climbing is `slowing` (reported, passes).
 */

/** One sample: when (ms since the run's start) and the value in the metric's unit. */
export interface Point {
  tMs: number
  value: number
}

export type Reduce = 'min' | 'median'

export interface MetricSpec {
  /** Key in a sample, e.g. 'rssMiB'. */
  key: string
  /** Unit of the values, e.g. 'MiB'; slopes are in `${unit}/h`. */
  unit: string
  /** Slopes (unit per hour) at or below this are noise: they never fail the run. */
  floorPerHour: number
  reduce: Reduce
  /**
   * Rises with the host's load whatever the node does (event-loop delay on a shared machine): a
   * `grows` verdict becomes `follows-host` (reported, passes) when the host's load average climbs too.
   */
  hostSensitive?: boolean
}

/** What the soak samples, with the floors below which a slope is noise. */
export const soakMetrics: MetricSpec[] = [
  { key: 'rssMiB', unit: 'MiB', floorPerHour: 16, reduce: 'min' },
  { key: 'heapMiB', unit: 'MiB', floorPerHour: 8, reduce: 'min' },
  { key: 'fds', unit: 'fds', floorPerHour: 12, reduce: 'median' },
  { key: 'connections', unit: 'conns', floorPerHour: 6, reduce: 'median' },
  { key: 'handles', unit: 'handles', floorPerHour: 12, reduce: 'median' },
  { key: 'cpuPercent', unit: '% core', floorPerHour: 6, reduce: 'median' },
  { key: 'loopDelayMs', unit: 'ms', floorPerHour: 20, reduce: 'median', hostSensitive: true }
]

/** The host's 1-minute load average, the context of `hostSensitive` metrics. */
export const hostLoadSpec: MetricSpec = { key: 'loadavg1', unit: 'load', floorPerHour: 1, reduce: 'median' }

export interface AnalysisOptions {
  /** Samples before this (ms from the start) are warm-up. @default 150_000 */
  warmupMs: number
  /** ...or this fraction of the run, whichever is longer. @default 0.1 */
  warmupFraction: number
  /** Width of a bucket. @default 60_000 */
  bucketMs: number
  /**
   * A 'min' bucket is the minimum over this window centred on the bucket (at least the bucket), so it
   * spans a whole GC cycle and lands on a trough. Neighbouring windows then share samples: the slope's
   * standard error is widened by sqrt(envelopeMs / bucketMs). @default 180_000
   */
  envelopeMs: number
  /** Fewer buckets than this after the warm-up: too short to judge (each half needs 3). @default 6 */
  bucketsMin: number
}

export const analysisDefaults: AnalysisOptions = { warmupMs: 150_000, warmupFraction: 0.1, bucketMs: 60_000, envelopeMs: 180_000, bucketsMin: 6 }

export interface Fit {
  /** Points the line went through. */
  n: number
  /** Unit per hour. */
  slopePerHour: number
  /** Standard error of the slope, unit per hour (Infinity with fewer than 3 points). */
  stderrPerHour: number
  /** 95 % interval of the slope, unit per hour. */
  lowPerHour: number
  highPerHour: number
  /** Coefficient of determination (0 when the values do not vary). */
  r2: number
}

export type Verdict = 'flat' | 'slowing' | 'follows-host' | 'grows' | 'too-short'

export interface MetricAnalysis {
  key: string
  unit: string
  floorPerHour: number
  verdict: Verdict
  /** Why, in one line. */
  reason: string
  whole: Fit | null
  firstHalf: Fit | null
  secondHalf: Fit | null
  /** Mean of the reduced values (after the warm-up), for scale. */
  level: number | null
  buckets: number
}

const msPerHour = 3_600_000

/** Two-sided 95 % Student t quantile for `df` degrees of freedom (table, then 1.96). */
export function tQuantile95 (df: number): number {
  const table = [Infinity, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
  if (df < 1) return Infinity
  if (df < table.length) return table[df] as number
  if (df < 60) return 2.0
  if (df < 120) return 1.98
  return 1.96
}

/** Least-squares line through `points`; slopes in value units per hour. */
export function fitLine (points: Point[]): Fit | null {
  const n = points.length
  if (n < 2) return null
  const hours = points.map(p => p.tMs / msPerHour)
  const meanX = hours.reduce((a, b) => a + b, 0) / n
  const meanY = points.reduce((a, p) => a + p.value, 0) / n
  let sxx = 0
  let sxy = 0
  let syy = 0
  for (let i = 0; i < n; i++) {
    const dx = (hours[i] as number) - meanX
    const dy = (points[i] as Point).value - meanY
    sxx += dx * dx
    sxy += dx * dy
    syy += dy * dy
  }
  if (sxx === 0) return null
  const slope = sxy / sxx
  const residual = Math.max(0, syy - slope * sxy)
  const stderr = n > 2 ? Math.sqrt(residual / (n - 2) / sxx) : Infinity
  const t = tQuantile95(n - 2)
  const half = stderr === Infinity ? Infinity : t * stderr
  return { n, slopePerHour: slope, stderrPerHour: stderr, lowPerHour: slope - half, highPerHour: slope + half, r2: syy === 0 ? 0 : Math.min(1, (slope * sxy) / syy) }
}

/** Where the warm-up ends (ms from the start) for a run whose last sample is at `endMs`. */
export function warmupEndMs (endMs: number, options: Pick<AnalysisOptions, 'warmupMs' | 'warmupFraction'>): number {
  return Math.max(options.warmupMs, endMs * options.warmupFraction)
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/**
 * Group `points` (sorted by time) into buckets of `bucketMs` from `startMs`, one point per non-empty
 * bucket at its samples' mean time, valued by `reduce`: the median of the bucket, or the minimum over
 * a window of `envelopeMs` centred on the bucket (never before `startMs`).
 */
export function bucketise (points: Point[], startMs: number, bucketMs: number, reduce: Reduce, envelopeMs = bucketMs): Point[] {
  const margin = Math.max(0, envelopeMs - bucketMs) / 2
  const groups = new Map<number, Point[]>()
  for (const p of points) {
    if (p.tMs < startMs || !Number.isFinite(p.value)) continue
    const index = Math.floor((p.tMs - startMs) / bucketMs)
    let group = groups.get(index)
    if (group == null) { group = []; groups.set(index, group) }
    group.push(p)
  }
  const inWindow = (index: number): number[] => {
    const from = startMs + index * bucketMs - margin
    const to = startMs + (index + 1) * bucketMs + margin
    return points.filter(p => p.tMs >= startMs && p.tMs >= from && p.tMs < to && Number.isFinite(p.value)).map(p => p.value)
  }
  return [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([index, group]) => ({
    tMs: group.reduce((a, p) => a + p.tMs, 0) / group.length,
    value: reduce === 'min' ? Math.min(...inWindow(index)) : median(group.map(p => p.value))
  }))
}

/** The same fit with its standard error and interval widened by `factor`. */
function widen (fit: Fit | null, factor: number): Fit | null {
  if (fit == null || factor === 1) return fit
  const stderr = fit.stderrPerHour * factor
  const half = stderr === Infinity ? Infinity : tQuantile95(fit.n - 2) * stderr
  return { ...fit, stderrPerHour: stderr, lowPerHour: fit.slopePerHour - half, highPerHour: fit.slopePerHour + half }
}

/** A fit climbs: slope above the floor and its 95 % interval above zero. */
function climbs (fit: Fit | null, floorPerHour: number): boolean {
  return fit != null && fit.slopePerHour > floorPerHour && fit.lowPerHour > 0
}

/** The verdict on one metric of one node. `points` need not be sorted; NaN values are skipped. */
export function analyseSeries (points: Point[], spec: MetricSpec, options: AnalysisOptions = analysisDefaults): MetricAnalysis {
  const sorted = points.filter(p => Number.isFinite(p.value)).sort((a, b) => a.tMs - b.tMs)
  const base = { key: spec.key, unit: spec.unit, floorPerHour: spec.floorPerHour }
  const endMs = sorted.length > 0 ? (sorted[sorted.length - 1] as Point).tMs : 0
  const startMs = warmupEndMs(endMs, options)
  const buckets = bucketise(sorted, startMs, options.bucketMs, spec.reduce, options.envelopeMs)
  if (buckets.length < options.bucketsMin) {
    return { ...base, verdict: 'too-short', reason: `${buckets.length} buckets of ${options.bucketMs / 1000} s after the warm-up, ${options.bucketsMin} needed`, whole: null, firstHalf: null, secondHalf: null, level: null, buckets: buckets.length }
  }
  const middle = buckets.length >> 1
  const inflation = spec.reduce === 'min' ? Math.sqrt(Math.max(1, options.envelopeMs / options.bucketMs)) : 1
  const whole = widen(fitLine(buckets), inflation)
  const firstHalf = widen(fitLine(buckets.slice(0, middle)), inflation)
  const secondHalf = widen(fitLine(buckets.slice(buckets.length - middle)), inflation)
  const level = buckets.reduce((a, p) => a + p.value, 0) / buckets.length
  const result = { ...base, whole, firstHalf, secondHalf, level, buckets: buckets.length }
  const f = (v: number | undefined): string => v == null ? '?' : v.toFixed(1)
  if (!climbs(whole, spec.floorPerHour)) {
    return { ...result, verdict: 'flat', reason: `slope ${f(whole?.slopePerHour)} ${spec.unit}/h (95 % ${f(whole?.lowPerHour)}..${f(whole?.highPerHour)}) is within noise (floor ${spec.floorPerHour})` }
  }
  if (!climbs(secondHalf, spec.floorPerHour)) {
    return { ...result, verdict: 'flat', reason: `rose early, then levelled: second half ${f(secondHalf?.slopePerHour)} ${spec.unit}/h (95 % ${f(secondHalf?.lowPerHour)}..${f(secondHalf?.highPerHour)})` }
  }
  const firstSlope = firstHalf?.slopePerHour ?? 0
  if (firstSlope > 0 && (secondHalf as Fit).slopePerHour < firstSlope / 3) {
    return { ...result, verdict: 'slowing', reason: `still rising but slowing: ${f(firstSlope)} then ${f(secondHalf?.slopePerHour)} ${spec.unit}/h` }
  }
  return { ...result, verdict: 'grows', reason: `rises ${f(whole?.slopePerHour)} ${spec.unit}/h (95 % ${f(whole?.lowPerHour)}..${f(whole?.highPerHour)}), second half ${f(secondHalf?.slopePerHour)} ${spec.unit}/h` }
}

/** One sample of one node, as the runner records it: time plus a value per metric key. */
export interface NodeSample {
  tMs: number
  node: string
  values: Record<string, number | null>
}

export interface SoakAnalysis {
  /** Per node, per metric key. */
  perNode: Record<string, Record<string, MetricAnalysis>>
  /** Per metric: the node with the steepest whole-window slope, and its analysis. */
  worst: Record<string, { node: string, analysis: MetricAnalysis }>
  /** Every (node, metric) judged `grows`. */
  growing: Array<{ node: string, key: string, reason: string }>
  /** The host's load average over the run, when given. */
  host: MetricAnalysis | null
  ok: boolean
}

const verdictRank: Record<Verdict, number> = { grows: 4, 'follows-host': 3, slowing: 2, flat: 1, 'too-short': 0 }

/**
 * Analyse every metric of every node; the run fails when any grows. `hostLoad` (the host's 1-minute
 * load average over the run) excuses a `hostSensitive` metric that climbs while the host's load does.
 */
export function analyseRun (samples: NodeSample[], specs: MetricSpec[] = soakMetrics, options: AnalysisOptions = analysisDefaults, hostLoad: Point[] = []): SoakAnalysis {
  const host = hostLoad.length > 0 ? analyseSeries(hostLoad, hostLoadSpec, options) : null
  const hostClimbs = host != null && climbs(host.whole, hostLoadSpec.floorPerHour)
  const nodes = [...new Set(samples.map(s => s.node))].sort()
  const perNode: SoakAnalysis['perNode'] = {}
  const worst: SoakAnalysis['worst'] = {}
  const growing: SoakAnalysis['growing'] = []
  for (const node of nodes) {
    const mine = samples.filter(s => s.node === node)
    perNode[node] = {}
    for (const spec of specs) {
      const points = mine.flatMap(s => {
        const v = s.values[spec.key]
        return v == null ? [] : [{ tMs: s.tMs, value: v }]
      })
      let analysis = analyseSeries(points, spec, options)
      if (analysis.verdict === 'grows' && spec.hostSensitive === true && hostClimbs) {
        analysis = { ...analysis, verdict: 'follows-host', reason: `${analysis.reason}; the host's load average rose too (${host?.whole?.slopePerHour.toFixed(1) ?? '?'}/h)` }
      }
      perNode[node][spec.key] = analysis
      if (analysis.verdict === 'grows') growing.push({ node, key: spec.key, reason: analysis.reason })
      const current = worst[spec.key]
      const rank = verdictRank[analysis.verdict]
      const currentRank = current == null ? -1 : verdictRank[current.analysis.verdict]
      const slope = analysis.whole?.slopePerHour ?? -Infinity
      const currentSlope = current?.analysis.whole?.slopePerHour ?? -Infinity
      if (current == null || rank > currentRank || (rank === currentRank && slope > currentSlope)) worst[spec.key] = { node, analysis }
    }
  }
  return { perNode, worst, growing, host, ok: growing.length === 0 }
}
