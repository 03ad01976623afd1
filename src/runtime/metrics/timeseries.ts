/**
 * A bounded in-memory time series of a node's key figures, persisted to its data dir so a restart
 * keeps the history (`mesh report`, GET /v1/report).
 *
 * Two resolutions:
 * - fine: one sample per `sampleMs` (10 s), the last `fineSamplesMax` (360: one hour);
 * - coarse: one bucket per `samplesPerBucket` samples' span (30 × 10 s = 5 min), aligned to the wall
 *   clock, the last `coarseBucketsMax` (2016: seven days), each holding min / avg / max per figure
 *   and the sum per count. Every fine sample also goes into the open bucket.
 * Drop policy: the oldest sample (bucket) goes when a ring is full. Memory and file size are bounded
 * by 360 + 2016 × 4 values per figure and count; with the ~40 of src/runtime/metrics/metrics.ts the file
 * stays under ~3 MiB (measured: 2.7 MiB full). Closed buckets are serialised once (`serialize`).
 *
 * A sample has gauges (`g`: the value at the sample, or null when there is none, e.g. no decision in
 * the interval) and counts (`c`: what happened during the sample's interval `d`). Timestamps are wall
 * clock (epoch ms, given by the caller) because the history outlives the process.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync, existsSync } from 'node:fs'
import { mkdir, open, rename } from 'node:fs/promises'
import { dirname } from 'node:path'

export interface Sample {
  /** End of the interval (epoch ms). */
  t: number
  /** Length of the interval (ms). */
  d: number
  g: Record<string, number | null>
  c: Record<string, number>
}

export interface Bucket {
  /** Start of the bucket (epoch ms, a multiple of the bucket length). */
  t: number
  /** Time covered by its samples (ms). */
  d: number
  /** Samples in it. */
  n: number
  /** Per gauge: [min, avg, max, samples with a value]. */
  g: Record<string, [number, number, number, number]>
  c: Record<string, number>
}

export interface TimeSeriesOptions {
  /** @default 10_000 */
  sampleMs?: number
  /** @default 360 (one hour of 10 s samples) */
  fineSamplesMax?: number
  /** @default 30 (5 min buckets at 10 s) */
  samplesPerBucket?: number
  /** @default 2016 (seven days of 5 min buckets) */
  coarseBucketsMax?: number
}

export interface FigureSummary {
  min: number
  avg: number
  max: number
  p50: number
  p99: number
  last: number
  /** Samples (fine) or buckets (coarse) with a value. */
  points: number
}

export interface WindowSummary {
  resolution: 'fine' | 'coarse'
  /** Sample (fine) or bucket (coarse) length, ms. */
  stepMs: number
  /** Samples in the window (fine), or samples inside its buckets (coarse). */
  samples: number
  /** Time the samples cover (ms): gaps (node down) are not counted. */
  coveredMs: number
  firstAt: number | null
  lastAt: number | null
  figures: Record<string, FigureSummary>
  counts: Record<string, number>
}

/** Names of figures and counts: what the persisted file may hold. */
const namePattern = /^[a-z][a-z0-9_.]{0,63}$/
const namesPerSampleMax = 128
/** A history file larger than this is not read (it cannot be one of ours). */
export const historyFileBytesMax = 32 * 1024 * 1024
const fileVersion = 1

/** Keep ~4 significant digits: the file stays small and the figures stay readable. */
function round (x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x
  const magnitude = Math.floor(Math.log10(Math.abs(x)))
  const factor = 10 ** (3 - magnitude)
  return Math.round(x * factor) / factor
}

export function percentile (sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[index] as number
}

export class TimeSeries {
  readonly sampleMs: number
  readonly fineSamplesMax: number
  readonly samplesPerBucket: number
  readonly coarseBucketsMax: number
  private fine: Sample[] = []
  private coarse: Bucket[] = []
  private open: Bucket | null = null
  /** JSON text of `coarse`, until it changes. */
  private coarseText: string | null = null

  constructor (options: TimeSeriesOptions = {}) {
    this.sampleMs = options.sampleMs ?? 10_000
    this.fineSamplesMax = options.fineSamplesMax ?? 360
    this.samplesPerBucket = options.samplesPerBucket ?? 30
    this.coarseBucketsMax = options.coarseBucketsMax ?? 2016
  }

  get bucketMs (): number {
    return this.sampleMs * this.samplesPerBucket
  }

  /** The span the fine ring covers when full: windows up to this long are answered from it. */
  get fineSpanMs (): number {
    return this.sampleMs * this.fineSamplesMax
  }

  /** The longest window anything is kept for. */
  get coarseSpanMs (): number {
    return this.bucketMs * this.coarseBucketsMax
  }

  sizes (): { fine: number, coarse: number, open: boolean } {
    return { fine: this.fine.length, coarse: this.coarse.length, open: this.open != null }
  }

  // [charts] the fine samples as they are, for the live page's charts (src/api/history-routes.ts)
  /** The fine samples after `sinceMs` (all of them without it), oldest first; at most `fineSamplesMax`. */
  recent (sinceMs = -Infinity): readonly Sample[] {
    let i = this.fine.length
    while (i > 0 && (this.fine[i - 1] as Sample).t > sinceMs) i--
    return this.fine.slice(i)
  }

  /** The newest fine sample, or null before the first. */
  latest (): Sample | null {
    return this.fine[this.fine.length - 1] ?? null
  }
  // [/charts]

  /** Append a sample (its time must not go backwards; an older one is ignored). */
  add (input: Sample): void {
    const last = this.fine[this.fine.length - 1]
    if (last != null && input.t <= last.t) return
    const sample: Sample = { t: input.t, d: Math.max(0, input.d), g: {}, c: {} }
    for (const [name, value] of Object.entries(input.g)) sample.g[name] = value == null || !Number.isFinite(value) ? null : round(value)
    for (const [name, value] of Object.entries(input.c)) if (Number.isFinite(value)) sample.c[name] = round(value)
    this.fine.push(sample)
    if (this.fine.length > this.fineSamplesMax) this.fine.splice(0, this.fine.length - this.fineSamplesMax)
    const start = Math.floor(sample.t / this.bucketMs) * this.bucketMs
    if (this.open != null && this.open.t !== start) this.closeBucket()
    this.open ??= { t: start, d: 0, n: 0, g: {}, c: {} }
    const bucket = this.open
    bucket.d += sample.d
    bucket.n++
    for (const [name, value] of Object.entries(sample.g)) {
      if (value == null) continue
      const had = bucket.g[name]
      if (had == null) { bucket.g[name] = [value, value, value, 1]; continue }
      const k = had[3] + 1
      bucket.g[name] = [Math.min(had[0], value), had[1] + (value - had[1]) / k, Math.max(had[2], value), k]
    }
    for (const [name, value] of Object.entries(sample.c)) bucket.c[name] = (bucket.c[name] ?? 0) + value
  }

  private closeBucket (): void {
    if (this.open == null) return
    const closed = this.open
    for (const name of Object.keys(closed.g)) {
      const [min, avg, max, k] = closed.g[name] as [number, number, number, number]
      closed.g[name] = [min, round(avg), max, k]
    }
    for (const name of Object.keys(closed.c)) closed.c[name] = round(closed.c[name] as number)
    this.coarse.push(closed)
    this.coarseText = null
    if (this.coarse.length > this.coarseBucketsMax) this.coarse.splice(0, this.coarse.length - this.coarseBucketsMax)
    this.open = null
  }

  /**
   * Summaries over the window (nowMs − windowMs, nowMs]: from the fine samples when the window fits
   * in the fine ring's span (≤ 1 h), else from the 5 min buckets it overlaps (so a long window may
   * reach up to one bucket further back). Percentiles are over samples (fine) or over the buckets'
   * averages (coarse); min and max are exact at either resolution.
   */
  summarize (windowMs: number, nowMs: number): WindowSummary {
    const from = nowMs - windowMs
    const gauges = new Map<string, { min: number, max: number, sum: number, weight: number, averages: number[], last: number }>()
    const counts: Record<string, number> = {}
    let samples = 0
    let coveredMs = 0
    let firstAt: number | null = null
    let lastAt: number | null = null
    const note = (name: string, min: number, avg: number, max: number, weight: number): void => {
      const g = gauges.get(name)
      if (g == null) { gauges.set(name, { min, max, sum: avg * weight, weight, averages: [avg], last: avg }); return }
      if (min < g.min) g.min = min
      if (max > g.max) g.max = max
      g.sum += avg * weight
      g.weight += weight
      g.averages.push(avg)
      g.last = avg
    }
    const resolution: 'fine' | 'coarse' = windowMs <= this.fineSpanMs ? 'fine' : 'coarse'
    if (resolution === 'fine') {
      for (const s of this.fine) {
        if (s.t <= from || s.t > nowMs) continue
        samples++
        coveredMs += s.d
        firstAt ??= s.t - s.d
        lastAt = s.t
        for (const name in s.g) { const value = s.g[name]; if (value != null) note(name, value, value, value, 1) }
        for (const name in s.c) counts[name] = (counts[name] ?? 0) + (s.c[name] as number)
      }
    } else {
      const buckets = this.open != null ? [...this.coarse, this.open] : this.coarse
      for (const b of buckets) {
        if (b.t + this.bucketMs <= from || b.t > nowMs) continue
        samples += b.n
        coveredMs += b.d
        firstAt ??= b.t
        lastAt = Math.min(nowMs, b.t + this.bucketMs)
        for (const name in b.g) { const [min, avg, max, k] = b.g[name] as [number, number, number, number]; note(name, min, avg, max, k) }
        for (const name in b.c) counts[name] = (counts[name] ?? 0) + (b.c[name] as number)
      }
    }
    // for a long window, the newest fine sample is the truest "last"
    const newest: Record<string, number> = {}
    if (resolution === 'coarse') {
      for (let i = this.fine.length - 1; i >= 0; i--) {
        const s = this.fine[i] as Sample
        if (s.t <= from) break
        for (const name in s.g) if (newest[name] === undefined && s.g[name] != null) newest[name] = s.g[name] as number
      }
    }
    const figures: Record<string, FigureSummary> = {}
    for (const [name, g] of gauges) {
      const sorted = g.averages.sort((a, b) => a - b)
      figures[name] = {
        min: g.min,
        avg: round(g.sum / g.weight),
        max: g.max,
        p50: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
        last: newest[name] ?? g.last,
        points: sorted.length
      }
    }
    for (const name of Object.keys(counts)) counts[name] = round(counts[name] as number)
    return { resolution, stepMs: resolution === 'fine' ? this.sampleMs : this.bucketMs, samples, coveredMs, firstAt, lastAt, figures, counts }
  }

  toJSON (): unknown {
    return { version: fileVersion, sampleMs: this.sampleMs, samplesPerBucket: this.samplesPerBucket, fine: this.fine, coarse: this.coarse, open: this.open }
  }

  /**
   * `JSON.stringify(this.toJSON())`, reusing the text of the closed buckets (they change once per
   * bucket, and are most of the file): a save every minute then serialises the fine ring only.
   */
  serialize (): string {
    this.coarseText ??= JSON.stringify(this.coarse)
    return `{"version":${fileVersion},"sampleMs":${this.sampleMs},"samplesPerBucket":${this.samplesPerBucket},"fine":${JSON.stringify(this.fine)},"coarse":${this.coarseText},"open":${JSON.stringify(this.open)}}`
  }

  /**
   * Load what `toJSON` wrote. Entries that do not validate are skipped and counted; anything that is
   * not the file's shape throws (the caller warns and starts fresh). Bounds are applied again.
   */
  load (data: unknown): { fine: number, coarse: number, skipped: number } {
    if (typeof data !== 'object' || data == null || Array.isArray(data)) throw new Error('not a JSON object')
    const d = data as Record<string, unknown>
    if (d.version !== fileVersion) throw new Error(`unknown version ${String(d.version).slice(0, 20)} (expected ${fileVersion})`)
    if (!Array.isArray(d.fine) || !Array.isArray(d.coarse)) throw new Error('"fine" and "coarse" must be arrays')
    if (d.samplesPerBucket !== this.samplesPerBucket || d.sampleMs !== this.sampleMs) {
      // buckets of another length cannot be merged with ours; samples keep their own interval
      d.coarse = []
      d.open = null
    }
    let skipped = 0
    const fine: Sample[] = []
    for (const entry of d.fine.slice(-this.fineSamplesMax)) {
      const sample = parseSample(entry)
      if (sample == null || (fine.length > 0 && sample.t <= (fine[fine.length - 1] as Sample).t)) { skipped++; continue }
      fine.push(sample)
    }
    const coarse: Bucket[] = []
    for (const entry of (d.coarse as unknown[]).slice(-this.coarseBucketsMax)) {
      const bucket = parseBucket(entry, this.bucketMs)
      if (bucket == null || (coarse.length > 0 && bucket.t <= (coarse[coarse.length - 1] as Bucket).t)) { skipped++; continue }
      coarse.push(bucket)
    }
    let open: Bucket | null = null
    if (d.open != null) {
      open = parseBucket(d.open, this.bucketMs)
      if (open == null || (coarse.length > 0 && open.t <= (coarse[coarse.length - 1] as Bucket).t)) { skipped++; open = null }
    }
    this.fine = fine
    this.coarse = coarse
    this.coarseText = null
    this.open = open
    return { fine: fine.length, coarse: coarse.length, skipped }
  }
}

function validNames (record: unknown, value: (v: unknown) => boolean): boolean {
  if (typeof record !== 'object' || record == null || Array.isArray(record)) return false
  const entries = Object.entries(record)
  return entries.length <= namesPerSampleMax && entries.every(([k, v]) => namePattern.test(k) && value(v))
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

function parseSample (entry: unknown): Sample | null {
  if (typeof entry !== 'object' || entry == null) return null
  const s = entry as Record<string, unknown>
  if (!finite(s.t) || !finite(s.d) || s.d < 0) return null
  if (!validNames(s.g, v => v === null || finite(v)) || !validNames(s.c, v => finite(v) && v >= 0)) return null
  return { t: s.t, d: s.d, g: s.g as Sample['g'], c: s.c as Sample['c'] }
}

function parseBucket (entry: unknown, bucketMs: number): Bucket | null {
  if (typeof entry !== 'object' || entry == null) return null
  const b = entry as Record<string, unknown>
  if (!finite(b.t) || b.t % bucketMs !== 0 || !finite(b.d) || b.d < 0 || !Number.isInteger(b.n) || (b.n as number) < 1) return null
  const triple = (v: unknown): boolean => Array.isArray(v) && v.length === 4 && v.every(finite) && v[0] <= v[1] + 1e-9 * Math.abs(v[1]) + 1e-9 && v[1] <= v[2] + 1e-9 * Math.abs(v[1]) + 1e-9 && v[3] >= 1
  if (!validNames(b.g, triple) || !validNames(b.c, v => finite(v) && v >= 0)) return null
  return { t: b.t, d: b.d, n: b.n as number, g: b.g as Bucket['g'], c: b.c as Bucket['c'] }
}

/** Write `text` to `path` atomically: a temporary file, fsync, rename (a crash leaves the old file or the new one). */
export function writeFileAtomic (path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true })
  const temporary = `${path}.tmp`
  writeFileSync(temporary, text, { mode: 0o600 })
  const fd = openSync(temporary, 'r+')
  try { fsyncSync(fd) } finally { closeSync(fd) }
  renameSync(temporary, path)
}

/** Persist the series to `path` (atomically; blocks: for shutdown). */
export function saveSeries (series: TimeSeries, path: string): void {
  writeFileAtomic(path, series.serialize())
}

/** Persist the series to `path` atomically, writing and fsyncing off the event loop. */
export async function saveSeriesAsync (series: TimeSeries, path: string): Promise<void> {
  const text = series.serialize()
  const temporary = `${path}.tmp-async`
  await mkdir(dirname(path), { recursive: true })
  const handle = await open(temporary, 'w', 0o600)
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(temporary, path)
}

/**
 * Load the series from `path` if it exists. A file that cannot be read or parsed is moved aside to
 * `<path>.corrupt` and the series starts empty: returns the warning to print (never throws).
 */
export function loadSeries (series: TimeSeries, path: string): { warning: string | null, loaded: { fine: number, coarse: number, skipped: number } | null } {
  if (!existsSync(path)) return { warning: null, loaded: null }
  try {
    const text = readFileSync(path)
    if (text.byteLength > historyFileBytesMax) throw new Error(`${text.byteLength} bytes, more than ${historyFileBytesMax}`)
    const loaded = series.load(JSON.parse(text.toString('utf8')))
    return { warning: loaded.skipped > 0 ? `metrics history ${path}: skipped ${loaded.skipped} invalid entries` : null, loaded }
  } catch (err) {
    let aside = ''
    try { renameSync(path, `${path}.corrupt`); aside = ` (moved to ${path}.corrupt)` } catch {}
    return { warning: `metrics history ${path} is unreadable (${(err as Error).message})${aside}: starting a fresh history`, loaded: null }
  }
}

/** "15m", "1h", "24h", "7d" → milliseconds; throws a RangeError saying what is accepted. */
export function parseTimeframe (text: string, maxMs = 7 * 24 * 3600_000): number {
  const match = /^([1-9][0-9]{0,5})(s|m|h|d)$/.exec(text.trim())
  const unitMs = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 } as const
  if (match == null) throw new RangeError(`timeframe "${text.slice(0, 40)}" must be a number and a unit, like 15m, 1h, 24h or 7d`)
  const ms = Number(match[1]) * unitMs[match[2] as keyof typeof unitMs]
  if (ms < 60_000 || ms > maxMs) throw new RangeError(`timeframe "${text.slice(0, 40)}" must be from 1m to ${maxMs / 86_400_000}d (the history keeps 7 days)`)
  return ms
}
