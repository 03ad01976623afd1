/**
 * [charts] The metrics history as points for the live page's charts (src/api/page/charts.js):
 *
 *   GET /v1/metrics/history[?since=<epoch ms>]   the fine samples of the history (the last hour at the
 *                                               default 10 s), only the figures the charts draw
 *
 * and, on the page's event stream (/v1/topology/stream, src/api/page-routes.ts), a `history` event with
 * each new sample as it is taken: the same point shape, so the page appends it to what it loaded.
 *
 * A point: { t: end of the interval (epoch ms), d: its length (ms), g: gauges at t (null: none in the
 * interval), c: what happened during the interval (counts) }. The page turns counts into rates (c / d).
 */
import type { Sample } from '../runtime/metrics/timeseries.js'
import { HttpError } from './server.js'
import type { RouteHandler } from './server.js'

/** The gauges the charts draw: alive members, and the commit latency percentiles of the interval. */
export const chartGauges = ['members_alive', 'decision_latency_p50_seconds', 'decision_latency_p99_seconds'] as const
/** The counts the charts draw as rates: commits (decided sequence numbers), tasks run here, bytes on every connection. */
export const chartCounts = ['decisions', 'tasks_completed', 'tasks_failed', 'bytes_in', 'bytes_out'] as const

export interface HistoryPoint {
  t: number
  d: number
  g: Partial<Record<typeof chartGauges[number], number | null>>
  c: Partial<Record<typeof chartCounts[number], number>>
}

export interface HistoryResponse {
  /** The sample interval (ms): a new point comes this often. */
  sampleMs: number
  /** The most points the history holds (the page keeps as many). */
  pointsMax: number
  points: HistoryPoint[]
}

/** What the route and the stream need of the node's history (MeshMetrics.series). */
export interface HistorySource {
  readonly sampleMs: number
  readonly fineSamplesMax: number
  recent: (sinceMs?: number) => readonly Sample[]
  latest: () => Sample | null
}

/** A sample cut down to the charts' figures (a figure the sample lacks stays absent). */
export function historyPoint (sample: Sample): HistoryPoint {
  const point: HistoryPoint = { t: sample.t, d: sample.d, g: {}, c: {} }
  for (const name of chartGauges) if (name in sample.g) point.g[name] = sample.g[name] ?? null
  for (const name of chartCounts) { const v = sample.c[name]; if (v !== undefined) point.c[name] = v }
  return point
}

export function historyResponse (source: HistorySource, sinceMs?: number): HistoryResponse {
  return { sampleMs: source.sampleMs, pointsMax: source.fineSamplesMax, points: source.recent(sinceMs).map(historyPoint) }
}

export function historyRoutes (source: () => HistorySource | null): RouteHandler {
  return async (method, url) => {
    if (url.pathname !== '/v1/metrics/history' || method !== 'GET') return null
    const s = source()
    if (s == null) throw new HttpError(404, 'metrics are not running on this node')
    const since = url.searchParams.get('since')
    let sinceMs: number | undefined
    if (since != null) {
      sinceMs = Number(since)
      if (since === '' || !Number.isFinite(sinceMs)) throw new HttpError(400, `since="${since.slice(0, 40)}" must be a time in epoch milliseconds`)
    }
    return { code: 200, body: historyResponse(s, sinceMs) }
  }
}
