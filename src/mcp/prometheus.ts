/**
 * A small parser of the Prometheus text exposition format (version 0.0.4), enough to turn a node's
 * GET /metrics into a JSON snapshot for the MCP tool swarm_monitor. Pure: text in, object out.
 *
 *   # HELP name text
 *   # TYPE name counter|gauge|histogram|summary|untyped
 *   name{label="value",…} 1.5 [timestamp]
 */

export interface Sample {
  labels: Record<string, string>
  value: number | string
}

export interface MetricFamily {
  type: string
  help: string
  /** Samples of this family, with the sample name when it differs from the family (`_sum`, `_bucket`…). */
  samples: Array<Sample & { name?: string }>
}

export interface MetricsSnapshot {
  families: Record<string, MetricFamily>
  /** Samples kept (after the prefix filter and the bucket choice). */
  samples: number
  /** Samples left out because `samplesMax` was reached. */
  dropped: number
  /** Lines that were not valid exposition syntax (skipped). */
  malformed: number
}

export interface ParseOptions {
  /** Keep only families whose name starts with one of these (default: every family). */
  prefixes?: string[]
  /** Keep histogram `_bucket` samples (bulky: one per bucket and label set). Default false. */
  buckets?: boolean
  /** Stop after this many samples (bounded output); default 5000. */
  samplesMax?: number
}

export const samplesMaxDefault = 5000

const namePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*/
const suffixes = ['_bucket', '_sum', '_count', '_total', '_created', '_info']

/** JSON cannot carry NaN or ±Inf: those stay strings ("NaN", "+Inf", "-Inf"). */
function parseValue (text: string): number | string | null {
  if (text === 'NaN' || text === '+Inf' || text === '-Inf' || text === 'Inf') return text === 'Inf' ? '+Inf' : text
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return null
  return Number(text)
}

/** `{a="x",b="y\"z"}` starting at `start` (the `{`); returns the labels and the index after `}`. */
function parseLabels (line: string, start: number): { labels: Record<string, string>, end: number } | null {
  const labels: Record<string, string> = {}
  let i = start + 1
  for (;;) {
    while (line[i] === ' ' || line[i] === ',') i++
    if (line[i] === '}') return { labels, end: i + 1 }
    const name = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i))
    if (name == null) return null
    i += name[0].length
    while (line[i] === ' ') i++
    if (line[i] !== '=') return null
    i++
    while (line[i] === ' ') i++
    if (line[i] !== '"') return null
    i++
    let value = ''
    for (;;) {
      const c = line[i]
      if (c == null) return null
      if (c === '"') { i++; break }
      if (c === '\\') {
        const next = line[i + 1]
        value += next === 'n' ? '\n' : next === '"' ? '"' : next === '\\' ? '\\' : `\\${next ?? ''}`
        i += 2
        continue
      }
      value += c
      i++
    }
    labels[name[0]] = value
  }
}

/** The family a sample belongs to: a TYPE'd family that is the sample name minus a known suffix. */
function familyOf (sampleName: string, families: Map<string, MetricFamily>): string {
  if (families.has(sampleName)) return sampleName
  for (const suffix of suffixes) {
    if (sampleName.endsWith(suffix)) {
      const base = sampleName.slice(0, -suffix.length)
      if (families.has(base)) return base
    }
  }
  return sampleName
}

export function parsePrometheus (text: string, options: ParseOptions = {}): MetricsSnapshot {
  const samplesMax = options.samplesMax ?? samplesMaxDefault
  const keep = (name: string): boolean => options.prefixes == null || options.prefixes.length === 0 || options.prefixes.some(p => name.startsWith(p))
  const families = new Map<string, MetricFamily>()
  const family = (name: string): MetricFamily => {
    let f = families.get(name)
    if (f == null) {
      f = { type: 'untyped', help: '', samples: [] }
      families.set(name, f)
    }
    return f
  }
  let samples = 0
  let dropped = 0
  let malformed = 0
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '') continue
    if (line.startsWith('#')) {
      const meta = /^#\s*(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(.*)$/.exec(line)
      if (meta == null) continue // a plain comment
      const [, kind, name, rest] = meta as unknown as [string, string, string, string]
      if (!keep(name)) continue
      if (kind === 'TYPE') family(name).type = rest.trim() === '' ? 'untyped' : rest.trim()
      else family(name).help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\')
      continue
    }
    const name = namePattern.exec(line)?.[0]
    if (name == null) { malformed++; continue }
    let i = name.length
    let labels: Record<string, string> = {}
    if (line[i] === '{') {
      const parsed = parseLabels(line, i)
      if (parsed == null) { malformed++; continue }
      labels = parsed.labels
      i = parsed.end
    }
    const [valueText] = line.slice(i).trim().split(/\s+/)
    const value = parseValue(valueText ?? '')
    if (value == null) { malformed++; continue }
    const familyName = familyOf(name, families)
    if (!keep(familyName)) continue
    if (name.endsWith('_bucket') && options.buckets !== true) continue
    if (samples >= samplesMax) { dropped++; continue }
    samples++
    family(familyName).samples.push(name === familyName ? { labels, value } : { name, labels, value })
  }
  // families announced by HELP/TYPE but without samples (filtered buckets keep their _sum/_count)
  const out: Record<string, MetricFamily> = {}
  for (const [name, f] of [...families].sort((a, b) => a[0].localeCompare(b[0]))) {
    if (f.samples.length > 0) out[name] = f
  }
  return { families: out, samples, dropped, malformed }
}
