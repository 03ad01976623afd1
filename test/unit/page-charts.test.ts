/**
 * [charts] The live page's metrics charts without a browser: the pure helpers of
 * src/api/page/charts.js (run in a node `vm` context, where there is no document and nothing is
 * drawn), the history points (src/api/history-routes.ts, TimeSeries.recent/latest), and on a real
 * HTTP server: GET /v1/metrics/history, the `history` events on /v1/topology/stream, and uPlot served
 * from the installed package. The drawing itself is checked in chromium (test/e2e/topology-page.test.ts).
 */
import { readFileSync } from 'node:fs'
import { get } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { runInNewContext } from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chartCounts, chartGauges, historyPoint, historyResponse, historyRoutes } from '../../src/api/history-routes.js'
import type { HistoryPoint } from '../../src/api/history-routes.js'
import { findPageDir, topologyPage, uplotPath } from '../../src/api/page-routes.js'
import type { TopologyPage } from '../../src/api/page-routes.js'
import { startApi } from '../../src/api/server.js'
import type { RunningApi } from '../../src/api/server.js'
import type { NodeStatus } from '../../src/runtime/mesh-node.js'
import { TimeSeries } from '../../src/runtime/metrics/timeseries.js'
import type { Sample } from '../../src/runtime/metrics/timeseries.js'

interface Spec { id: string, unit: string, series: Array<{ label: string }> }
interface Point { t: number, d: number, g: Record<string, number | null>, c: Record<string, number> }
interface Helpers {
  rate: (count: unknown, d: unknown) => number | null
  validPoint: (p: unknown) => Point | null
  mergePoints: (points: unknown[], incoming: unknown[], max: number) => Point[]
  chartData: (points: Point[], spec: Spec) => Array<Array<number | null>>
  specs: Spec[]
  fmtNumber: (v: number) => string
  fmtBytes: (v: number) => string
  pointsMaxDefault: number
}

/** charts.js as the browser runs it, in a context with a `window` and no `document`. */
function loadHelpers (): Helpers {
  const window: { meshCharts?: Helpers } = {}
  runInNewContext(readFileSync(join(findPageDir(), 'charts.js'), 'utf8'), { window })
  if (window.meshCharts == null) throw new Error('charts.js did not set window.meshCharts')
  return window.meshCharts
}

const h = loadHelpers()
const spec = (id: string): Spec => {
  const s = h.specs.find(x => x.id === id)
  if (s == null) throw new Error(`no chart ${id}`)
  return s
}
/** uPlot's arrays, as plain arrays (the vm context's arrays have another Array prototype). */
const plain = (data: Array<Array<number | null>>): Array<Array<number | null>> => JSON.parse(JSON.stringify(data))

const t0 = 1_800_000_000_000
function point (i: number, over: Partial<Point> = {}): Point {
  return {
    t: t0 + i * 10_000,
    d: 10_000,
    g: { members_alive: 4, decision_latency_p50_seconds: 0.012, decision_latency_p99_seconds: 0.05 },
    c: { decisions: 50, tasks_completed: 3, tasks_failed: 1, bytes_in: 200_000, bytes_out: 100_000 },
    ...over
  }
}

describe('charts.js helpers', () => {
  it('rate: a count over an interval of d ms, per second; null without a count or an interval', () => {
    expect(h.rate(50, 10_000)).toBe(5)
    expect(h.rate(0, 1_000)).toBe(0)
    expect(h.rate(undefined, 10_000)).toBeNull()
    expect(h.rate(5, 0)).toBeNull()
    expect(h.rate(Number.NaN, 1_000)).toBeNull()
  })

  it('one chart per figure, with a unit for the y axis', () => {
    expect(h.specs.map(s => s.id)).toEqual(['commits', 'latency', 'tasks', 'members', 'bytes'])
    for (const s of h.specs) expect(s.unit).not.toBe('')
    expect(spec('latency').series.map(s => s.label)).toEqual(['p50', 'p99'])
    expect(spec('bytes').series.map(s => s.label)).toEqual(['in', 'out'])
  })

  it('chartData: x in epoch seconds; counts become rates, latencies milliseconds, gauges as they are', () => {
    const points = [point(0), point(1, { g: { members_alive: 3, decision_latency_p50_seconds: null }, c: { decisions: 0 } })]
    expect(plain(h.chartData(points, spec('commits')))).toEqual([[t0 / 1000, t0 / 1000 + 10], [5, 0]])
    expect(plain(h.chartData(points, spec('latency')))).toEqual([[t0 / 1000, t0 / 1000 + 10], [12, null], [50, null]])
    expect(plain(h.chartData(points, spec('tasks')))).toEqual([[t0 / 1000, t0 / 1000 + 10], [0.3, null], [0.1, null]])
    expect(plain(h.chartData(points, spec('members')))).toEqual([[t0 / 1000, t0 / 1000 + 10], [4, 3]])
    expect(plain(h.chartData(points, spec('bytes')))).toEqual([[t0 / 1000, t0 / 1000 + 10], [20_000, null], [10_000, null]])
  })

  it('chartData: no points is one empty array per series (a node that just started)', () => {
    for (const s of h.specs) {
      const data = plain(h.chartData([], s))
      expect(data).toHaveLength(s.series.length + 1)
      for (const column of data) expect(column).toEqual([])
    }
  })

  it('chartData: a gap (the node was down) gets a row of nulls, so the line breaks', () => {
    const data = plain(h.chartData([point(0), point(1), point(30)], spec('commits')))
    expect(data[0]).toEqual([t0 / 1000, t0 / 1000 + 10, (t0 + 10_001) / 1000, t0 / 1000 + 300])
    expect(data[1]).toEqual([5, 5, null, 5])
  })

  it('mergePoints: sorted by time, one per time (the newer copy wins), invalid ones dropped, the newest max kept', () => {
    const merged = h.mergePoints([point(2), point(0)], [point(1), { ...point(2), c: { decisions: 7 } }, { t: 'x', d: 1 }, null, { t: t0, d: -1 }], 10)
    expect(merged.map(p => p.t)).toEqual([t0, t0 + 10_000, t0 + 20_000])
    expect(merged[2]?.c.decisions).toBe(7)
    const many = Array.from({ length: 50 }, (_, i) => point(i))
    const bounded = h.mergePoints([], many, 20)
    expect(bounded).toHaveLength(20)
    expect(bounded[0]?.t).toBe(point(30).t)
    expect(bounded[19]?.t).toBe(point(49).t)
    // a point without g or c is still a point (its series are gaps)
    expect(plain(h.chartData(h.mergePoints([], [{ t: t0, d: 1000 }], 5), spec('bytes')))).toEqual([[t0 / 1000], [null], [null]])
  })

  it('formats axis values and bytes', () => {
    expect(h.fmtNumber(4)).toBe('4')
    expect(h.fmtNumber(0.5)).toBe('0.50')
    expect(h.fmtNumber(123.4)).toBe('123')
    expect(h.fmtBytes(999)).toBe('999 B')
    expect(h.fmtBytes(20_000)).toBe('20 kB')
    expect(h.fmtBytes(1_500_000)).toBe('1.50 MB')
  })
})

function sample (i: number, extra: Partial<Sample> = {}): Sample {
  return {
    t: t0 + i * 1_000,
    d: 1_000,
    g: { members_alive: 3, decision_latency_p50_seconds: 0.01, decision_latency_p99_seconds: null, rss_bytes: 1e8 },
    c: { decisions: 4, tasks_completed: 1, tasks_failed: 0, bytes_in: 1_000, bytes_out: 500, view_changes: 0 },
    ...extra
  }
}

describe('history points (src/api/history-routes.ts)', () => {
  it('a point holds only the charts\' figures; one the sample lacks stays absent', () => {
    const p = historyPoint(sample(0))
    expect(Object.keys(p.g).sort()).toEqual([...chartGauges].sort())
    expect(Object.keys(p.c).sort()).toEqual([...chartCounts].sort())
    expect(p.g.decision_latency_p99_seconds).toBeNull()
    expect(historyPoint({ t: 1, d: 1, g: {}, c: {} })).toEqual({ t: 1, d: 1, g: {}, c: {} })
  })

  it('TimeSeries.recent(since) and latest(); the response is bounded by the fine ring', () => {
    const series = new TimeSeries({ sampleMs: 1_000, fineSamplesMax: 5 })
    expect(series.latest()).toBeNull()
    expect(historyResponse(series).points).toEqual([])
    for (let i = 0; i < 8; i++) series.add(sample(i))
    expect(series.latest()?.t).toBe(t0 + 7_000)
    expect(series.recent().map(s => s.t)).toEqual([3, 4, 5, 6, 7].map(i => t0 + i * 1_000))
    expect(series.recent(t0 + 5_000).map(s => s.t)).toEqual([t0 + 6_000, t0 + 7_000])
    expect(series.recent(t0 + 7_000)).toEqual([])
    const response = historyResponse(series, t0 + 5_500)
    expect(response).toMatchObject({ sampleMs: 1_000, pointsMax: 5 })
    expect(response.points.map(p => p.t)).toEqual([t0 + 6_000, t0 + 7_000])
  })
})

describe('the charts\' routes on a real HTTP server', () => {
  let api: RunningApi
  let page: TopologyPage
  const series = new TimeSeries({ sampleMs: 1_000 })
  const status = { peerId: 'peer-000', name: 'node-0', network: 'lab', mode: 'read-write', partitioned: false, members: [] } as unknown as NodeStatus

  beforeAll(async () => {
    series.add(sample(0))
    page = topologyPage({ status: () => status, consensus: () => null, app: () => null, history: () => series })
    api = await startApi({ status: () => status, connectionList: () => [] }, { host: '127.0.0.1', port: 0 }, [historyRoutes(() => series)], [page.route])
  })
  afterAll(async () => {
    page.stop()
    await api.close()
  })

  it('serves uPlot (script and style) from the installed package, and charts.js; the page loads them', async () => {
    const js = await fetch(`${api.url}/assets/uPlot.iife.min.js`, { signal: AbortSignal.timeout(5_000) })
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toContain('javascript')
    expect(js.headers.get('cache-control')).toContain('max-age')
    expect(await js.text()).toBe(readFileSync(uplotPath('uPlot.iife.min.js'), 'utf8'))
    const again = await fetch(`${api.url}/assets/uPlot.iife.min.js`, { headers: { 'if-none-match': js.headers.get('etag') ?? '' }, signal: AbortSignal.timeout(5_000) })
    expect(again.status).toBe(304)
    const css = await fetch(`${api.url}/assets/uPlot.min.css`, { signal: AbortSignal.timeout(5_000) })
    expect(css.status).toBe(200)
    expect(css.headers.get('content-type')).toContain('text/css')
    expect(await css.text()).toContain('.uplot')
    const charts = await fetch(`${api.url}/assets/charts.js`, { signal: AbortSignal.timeout(5_000) })
    expect(charts.status).toBe(200)
    expect(await charts.text()).toContain('meshCharts')
    const html = await (await fetch(`${api.url}/`, { signal: AbortSignal.timeout(5_000) })).text()
    for (const asset of ['/assets/uPlot.iife.min.js', '/assets/uPlot.min.css', '/assets/charts.js']) expect(html).toContain(asset)
    expect(html).not.toMatch(/https?:\/\//)
  })

  it('GET /v1/metrics/history: the points, after `since` when given; a bad `since` is a 400', async () => {
    series.add(sample(1))
    const all = await (await fetch(`${api.url}/v1/metrics/history`, { signal: AbortSignal.timeout(5_000) })).json() as { sampleMs: number, pointsMax: number, points: HistoryPoint[] }
    expect(all.sampleMs).toBe(1_000)
    expect(all.pointsMax).toBe(360)
    expect(all.points.map(p => p.t)).toEqual([t0, t0 + 1_000])
    expect(all.points[1]).toEqual(historyPoint(sample(1)))
    const since = await (await fetch(`${api.url}/v1/metrics/history?since=${t0}`, { signal: AbortSignal.timeout(5_000) })).json() as { points: HistoryPoint[] }
    expect(since.points.map(p => p.t)).toEqual([t0 + 1_000])
    expect((await fetch(`${api.url}/v1/metrics/history?since=soon`, { signal: AbortSignal.timeout(5_000) })).status).toBe(400)
  })

  it('the event stream carries each new sample once, as a `history` event (every one since the last tick), and nothing when there is none', async () => {
    const events: Array<{ event: string, data: string }> = []
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = get(`${api.url}/v1/topology/stream`, resolve)
      req.on('error', reject)
    })
    let text = ''
    res.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8')
      let end: number
      while ((end = text.indexOf('\n\n')) >= 0) {
        const block = text.slice(0, end)
        text = text.slice(end + 2)
        const event = /^event: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (event != null && data != null) events.push({ event, data })
      }
    })
    const waitFor = async (what: string, ok: () => boolean): Promise<void> => {
      for (let i = 0; i < 250 && !ok(); i++) await new Promise(resolve => setTimeout(resolve, 20))
      if (!ok()) throw new Error(`no ${what} within 5 s`)
    }
    const snapshots = (): number => events.filter(e => e.event === 'snapshot').length
    const histories = (): HistoryPoint[] => events.filter(e => e.event === 'history').map(e => JSON.parse(e.data) as HistoryPoint)
    // ticks with no new sample: snapshots only (a page loads what there is over GET). sample(1), added by
    // the test before, may still be new to the server's timer if no tick ran since: at most that one
    await waitFor('3 snapshots', () => snapshots() >= 3)
    const before = histories()
    expect(before.every(p => p.t === t0 + 1_000)).toBe(true)
    series.add(sample(2))
    await waitFor('a history event', () => histories().length > before.length)
    const seen = snapshots()
    await waitFor('2 more snapshots', () => snapshots() >= seen + 2)
    expect(histories().slice(before.length)).toEqual([historyPoint(sample(2))])
    // two samples between two ticks (a loaded machine): both are sent, in order
    series.add(sample(3))
    series.add(sample(4))
    await waitFor('two more history events', () => histories().length >= before.length + 3)
    const seen2 = snapshots()
    await waitFor('2 more snapshots', () => snapshots() >= seen2 + 2)
    expect(histories().slice(before.length)).toEqual([2, 3, 4].map(i => historyPoint(sample(i))))
    res.destroy()
  })
})
