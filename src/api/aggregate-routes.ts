/**
 * HTTP route of the mesh-wide aggregates (src/runtime/gossip/aggregation.ts): push-pull gossip
 * estimates of the member count, load figures and capability counts, eventually consistent.
 *
 *   GET /v1/aggregates   this node's estimates: the current epoch's and the last completed one's,
 *                        each with its epoch, round and error bound (see AggregatesView)
 */
import type { Aggregation } from '../runtime/gossip/aggregation.js'
import { HttpError, pathParts } from './server.js'
import type { RouteHandler } from './server.js'

export function aggregateRoutes (aggregation: () => Aggregation | null): RouteHandler {
  return async (method, url) => {
    const parts = pathParts(url)
    if (parts[0] !== 'v1' || parts[1] !== 'aggregates' || parts.length !== 2 || method !== 'GET') return null
    const a = aggregation()
    if (a == null) throw new HttpError(503, 'aggregation is not running on this node')
    return { code: 200, body: { consistency: 'eventual', ...a.view() } }
  }
}
