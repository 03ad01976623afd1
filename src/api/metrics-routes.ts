/**
 * HTTP routes of metrics (src/runtime/metrics/metrics.ts):
 *
 *   GET /metrics                      Prometheus text format 0.0.4 (ours: mesh_*, and libp2p's)
 *   GET /metrics?gc=1                 the same after a full garbage collection, only in a process started
 *                                     with node --expose-gc (the soak test, test/soak); ignored otherwise
 *   GET /v1/report[?timeframe=24h]    the performance report over the window (JSON)
 */
import type { MeshMetrics } from '../runtime/metrics/metrics.js'
import { parseTimeframe } from '../runtime/metrics/timeseries.js'
import { HttpError } from './server.js'
import type { RawRouteHandler, RouteHandler } from './server.js'

export const prometheusContentType = 'text/plain; version=0.0.4; charset=utf-8'

export function metricsRawRoute (metrics: () => MeshMetrics | null): RawRouteHandler {
  return async (req, res, url) => {
    if (url.pathname !== '/metrics') return false
    const method = req.method ?? 'GET'
    const m = metrics()
    if ((method !== 'GET' && method !== 'HEAD') || m == null) return false
    // [soak] a leak shows in the live heap, not in garbage a lazy major GC has not reclaimed yet: with
    // --expose-gc (test-only flag) the soak test asks for a full collection before it reads the heap
    const gc = (globalThis as { gc?: () => void }).gc
    const collected = url.searchParams.get('gc') === '1' && typeof gc === 'function'
    if (collected) gc()
    const text = await m.text()
    res.writeHead(200, { 'content-type': prometheusContentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...(collected ? { 'x-mesh-gc': '1' } : {}) })
    res.end(method === 'HEAD' ? undefined : text)
    return true
  }
}

export function reportRoutes (metrics: () => MeshMetrics | null): RouteHandler {
  return async (method, url) => {
    if (url.pathname !== '/v1/report' || method !== 'GET') return null
    const m = metrics()
    if (m == null) throw new HttpError(404, 'metrics are not running on this node')
    const timeframe = url.searchParams.get('timeframe') ?? '24h'
    let windowMs: number
    try {
      windowMs = parseTimeframe(timeframe)
    } catch (err) {
      throw new HttpError(400, (err as Error).message)
    }
    return { code: 200, body: m.report(windowMs, timeframe) }
  }
}
