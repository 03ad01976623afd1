/**
 * The soak test's leak judgement (test/soak/analysis.ts) on synthetic 30-minute series sampled every
 * 10 s: flat, noisy flat, a linear leak, warm-up growth that levels off, a GC sawtooth on a flat floor
 * and on a rising floor, a leak in file descriptors, and a run too short to judge.
 */
import { SeededRandom } from '../../src/core/random.js'
import { describe, expect, it } from 'vitest'
import { analyseRun, analyseSeries, bucketise, fitLine, soakMetrics, warmupEndMs } from '../soak/analysis.js'
import type { MetricSpec, NodeSample, Point } from '../soak/analysis.js'
import { fromMetrics, parsePrometheus } from '../soak/sample.js'

const minute = 60_000
const intervalMs = 10_000

/** Deterministic noise in [-1, 1), from the project's seeded PRNG. */
function noise (seed: number): () => number {
  const random = new SeededRandom(seed)
  return () => random.next() * 2 - 1
}

/** Samples every 10 s for `minutes`, valued by `f(minutes since start)`. */
function series (minutes: number, f: (m: number) => number): Point[] {
  const out: Point[] = []
  for (let t = 0; t <= minutes * minute; t += intervalMs) out.push({ tMs: t, value: f(t / minute) })
  return out
}

const spec = (key: string): MetricSpec => soakMetrics.find(m => m.key === key) as MetricSpec

describe('fitLine', () => {
  it('recovers an exact line, in units per hour', () => {
    const fit = fitLine(series(30, m => 100 + m)) // 1 per minute = 60 per hour
    expect(fit?.slopePerHour).toBeCloseTo(60, 6)
    expect(fit?.r2).toBeCloseTo(1, 6)
    expect(fit?.stderrPerHour).toBeCloseTo(0, 6)
  })

  it('gives no line through fewer than two points or one instant', () => {
    expect(fitLine([{ tMs: 0, value: 1 }])).toBeNull()
    expect(fitLine([{ tMs: 5, value: 1 }, { tMs: 5, value: 2 }])).toBeNull()
  })

  it('brackets the slope of a noisy line with its 95 % interval', () => {
    const r = noise(7)
    const fit = fitLine(series(30, m => 50 + 0.5 * m + 3 * r()))
    expect(fit).not.toBeNull()
    expect(fit?.lowPerHour).toBeLessThan(30)
    expect(fit?.highPerHour).toBeGreaterThan(30)
  })
})

describe('warm-up and buckets', () => {
  it('drops 2.5 min or 10 % of the run, whichever is longer', () => {
    expect(warmupEndMs(30 * minute, { warmupMs: 150_000, warmupFraction: 0.1 })).toBe(180_000)
    expect(warmupEndMs(10 * minute, { warmupMs: 150_000, warmupFraction: 0.1 })).toBe(150_000)
  })

  it('keeps the minimum or the median of each bucket', () => {
    const points = [{ tMs: 0, value: 5 }, { tMs: 10, value: 1 }, { tMs: 20, value: 9 }, { tMs: 100, value: 4 }]
    expect(bucketise(points, 0, 100, 'min').map(p => p.value)).toEqual([1, 4])
    expect(bucketise(points, 0, 100, 'median').map(p => p.value)).toEqual([5, 4])
    expect(bucketise(points, 10, 100, 'min').map(p => p.value)).toEqual([1]) // 10..109 is one bucket; 0 is warm-up
  })

  it('takes a min bucket over a wider window, so it lands on a GC trough', () => {
    const points = [{ tMs: 0, value: 1 }, { tMs: 100, value: 8 }, { tMs: 200, value: 9 }, { tMs: 300, value: 2 }]
    expect(bucketise(points, 0, 100, 'min', 100).map(p => p.value)).toEqual([1, 8, 9, 2])
    expect(bucketise(points, 0, 100, 'min', 300).map(p => p.value)).toEqual([1, 1, 2, 2])
  })
})

describe('analyseSeries', () => {
  it('flat: passes', () => {
    const a = analyseSeries(series(30, () => 120), spec('rssMiB'))
    expect(a.verdict).toBe('flat')
    expect(a.whole?.slopePerHour).toBeCloseTo(0, 6)
  })

  it('noisy flat: passes', () => {
    const r = noise(1)
    const a = analyseSeries(series(30, () => 120 + 6 * r()), spec('rssMiB'))
    expect(a.verdict).toBe('flat')
  })

  it('noisy flat file descriptors and connections: pass', () => {
    const r = noise(2)
    expect(analyseSeries(series(30, () => Math.round(60 + 3 * r())), spec('fds')).verdict).toBe('flat')
    expect(analyseSeries(series(30, () => Math.round(7 + r())), spec('connections')).verdict).toBe('flat')
  })

  it('linear leak (1 MiB/min under noise): grows, in both halves', () => {
    const r = noise(3)
    const a = analyseSeries(series(30, m => 100 + m + 4 * r()), spec('rssMiB'))
    expect(a.verdict).toBe('grows')
    expect(a.whole?.slopePerHour).toBeGreaterThan(45)
    expect(a.whole?.slopePerHour).toBeLessThan(75)
    expect(a.firstHalf?.lowPerHour).toBeGreaterThan(0)
    expect(a.secondHalf?.lowPerHour).toBeGreaterThan(0)
  })

  it('a slow leak below the floor passes (noise-level slope)', () => {
    const r = noise(4)
    const a = analyseSeries(series(30, m => 100 + 0.05 * m + 2 * r()), spec('rssMiB')) // 3 MiB/h, floor 16
    expect(a.verdict).toBe('flat')
  })

  it('warm-up then flat: growth that levels off passes', () => {
    const r = noise(5)
    // climbs 40 MiB with a 4-minute time constant, then stays
    const a = analyseSeries(series(30, m => 80 + 40 * (1 - Math.exp(-m / 4)) + 2 * r()), spec('heapMiB'))
    expect(a.verdict).toBe('flat')
  })

  it('GC sawtooth on a flat floor passes', () => {
    // the heap climbs 25 MiB over 90 s, collected back to 30 MiB, again and again
    const a = analyseSeries(series(30, m => 30 + 25 * ((m % 1.5) / 1.5)), spec('heapMiB'))
    expect(a.verdict).toBe('flat')
  })

  it('a slow GC sawtooth (one major collection every 4 min) on a flat floor passes', () => {
    const r = noise(9)
    const a = analyseSeries(series(30, m => 40 + 30 * ((m % 4) / 4) + r()), spec('heapMiB'))
    expect(a.verdict).toBe('flat')
  })

  it('growth that keeps rising but much slower in the second half is reported as slowing, not a leak', () => {
    // 2 MiB/min for the first 15 minutes, then 0.4 MiB/min
    const a = analyseSeries(series(30, m => 100 + (m < 15 ? 2 * m : 30 + 0.4 * (m - 15))), spec('rssMiB'))
    expect(a.verdict).toBe('slowing')
  })

  it('GC sawtooth on a rising floor grows', () => {
    const a = analyseSeries(series(30, m => 30 + 0.5 * m + 25 * ((m % 1.5) / 1.5)), spec('heapMiB')) // floor +30 MiB/h
    expect(a.verdict).toBe('grows')
  })

  it('a leak in file descriptors grows', () => {
    const a = analyseSeries(series(30, m => 40 + Math.floor(m)), spec('fds')) // one per minute
    expect(a.verdict).toBe('grows')
  })

  it('too short to judge', () => {
    const a = analyseSeries(series(4, m => 100 + 10 * m), spec('rssMiB'))
    expect(a.verdict).toBe('too-short')
  })

  it('ignores missing values', () => {
    const points = series(30, () => 7).map((p, i) => i % 5 === 0 ? { ...p, value: Number.NaN } : p)
    expect(analyseSeries(points, spec('connections')).verdict).toBe('flat')
  })
})

describe('analyseRun', () => {
  it('fails the run when one metric of one node grows, and names the worst node', () => {
    const r = noise(6)
    const samples: NodeSample[] = []
    for (const node of ['a', 'b', 'c']) {
      for (const p of series(30, m => m)) {
        const m = p.tMs / minute
        samples.push({ tMs: p.tMs, node, values: { rssMiB: 100 + 3 * r(), heapMiB: node === 'b' ? 30 + 0.8 * m + r() : 30 + r(), fds: 50, connections: 7, handles: 20, loopDelayMs: 11 + r() } })
      }
    }
    const run = analyseRun(samples)
    expect(run.ok).toBe(false)
    expect(run.growing.map(g => `${g.node}:${g.key}`)).toEqual(['b:heapMiB'])
    expect(run.worst.heapMiB?.node).toBe('b')
    expect(run.perNode.a?.rssMiB?.verdict).toBe('flat')
  })

  it('excuses event-loop delay that climbs with the host\'s load, not memory that does', () => {
    const samples: NodeSample[] = []
    const host: Point[] = []
    for (const p of series(30, m => m)) {
      const m = p.tMs / minute
      host.push({ tMs: p.tMs, value: 2 + 0.2 * m }) // +12 per hour
      samples.push({ tMs: p.tMs, node: 'a', values: { rssMiB: 100 + m, loopDelayMs: 10 + 2 * m } })
    }
    const withHost = analyseRun(samples, soakMetrics, undefined, host)
    expect(withHost.perNode.a?.loopDelayMs?.verdict).toBe('follows-host')
    expect(withHost.growing.map(g => g.key)).toEqual(['rssMiB'])
    expect(withHost.host?.verdict).toBe('grows')
    const alone = analyseRun(samples)
    expect(alone.growing.map(g => g.key)).toEqual(['rssMiB', 'loopDelayMs'])
    const quietHost = analyseRun(samples, soakMetrics, undefined, host.map(p => ({ ...p, value: 2 })))
    expect(quietHost.perNode.a?.loopDelayMs?.verdict).toBe('grows')
  })

  it('passes a run where everything is flat', () => {
    const r = noise(8)
    const samples: NodeSample[] = []
    for (const node of ['a', 'b']) {
      for (const p of series(30, () => 0)) samples.push({ tMs: p.tMs, node, values: { rssMiB: 110 + 4 * r(), heapMiB: 40 + 3 * r(), fds: 60, connections: 7, handles: null, cpuPercent: 8 + r(), loopDelayMs: 12 + 2 * r() } })
    }
    const run = analyseRun(samples)
    expect(run.ok).toBe(true)
    expect(run.perNode.a?.handles?.verdict).toBe('too-short')
  })
})

describe('reading a node\'s /metrics', () => {
  const text = [
    '# HELP nodejs_heap_size_used_bytes Process heap size used from Node.js in bytes.',
    '# TYPE nodejs_heap_size_used_bytes gauge',
    'nodejs_heap_size_used_bytes 31457280',
    'nodejs_eventloop_lag_p99_seconds 0.0125',
    'nodejs_active_handles_total 17',
    'libp2p_connection_manager_connections{libp2p_connection_manager_connections="inbound"} 4',
    'libp2p_connection_manager_connections{libp2p_connection_manager_connections="inbound pending"} 9',
    'libp2p_connection_manager_connections{libp2p_connection_manager_connections="outbound"} 3',
    'mesh_tasks_table_tasks{state="completed"} 120',
    'mesh_tasks_table_tasks{state="running"} 2',
    'garbage line',
    'bad_value NaNx'
  ].join('\n')

  it('parses sample lines and skips comments and junk', () => {
    const metrics = parsePrometheus(text)
    expect(metrics.get('nodejs_heap_size_used_bytes')).toBe(31457280)
    expect(metrics.has('garbage line')).toBe(false)
    expect(metrics.has('bad_value')).toBe(false)
  })

  it('turns them into the soak\'s units: MiB, established connections, ms', () => {
    expect(fromMetrics(parsePrometheus(text))).toEqual({ heapMiB: 30, connections: 7, handles: 17, loopDelayMs: 12.5, tasksKept: 122 })
  })

  it('gives null, not zero, for what the node does not export', () => {
    expect(fromMetrics(new Map())).toEqual({ heapMiB: null, connections: null, handles: null, loopDelayMs: null, tasksKept: null })
  })
})
