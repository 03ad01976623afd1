/**
 * HTTP routes of the eventually consistent memory (src/runtime/gossip/eventual-store.ts). The same
 * paths as the consensus store (src/api/consensus-routes.ts); this handler runs first and takes a
 * /v1/memory request when it asks `?consistency=eventual`, or when the node has no consensus network
 * (then the eventual store is the only one, and the default). Every answer says `consistency: "eventual"`.
 *
 *   GET    /v1/memory?consistency=eventual                    namespaces (live keys, tombstones)
 *   GET    /v1/memory/:ns?consistency=eventual&prefix=&limit=&after=
 *   GET    /v1/memory/:ns/:key?consistency=eventual           404 {error: "no key …"} when absent or deleted
 *   PUT    /v1/memory/:ns/:key?consistency=eventual  {"value": "…"}
 *   POST   /v1/memory/:ns?consistency=eventual       {"puts": [{"key", "value"}, …]}   1..256, answered in order
 *   DELETE /v1/memory/:ns/:key?consistency=eventual
 *   GET    /v1/eventual                                        the store's state and counters
 *
 * A write is answered once it is stored and persisted on this node; it goes out by gossip within 2 ms
 * (writes of that window share one message): the other nodes hold it a gossip hop later, or after
 * anti-entropy repairs what gossip missed. `consistency`
 * other than eventual, linearizable or sequential is a 400; linearizable and sequential go to the
 * consensus store (404 there on a node without one).
 */
import { namespacePattern } from '../core/app/limits.js'
import { EventualWriteError } from '../runtime/gossip/eventual-store.js'
import type { EventualEntryView, EventualStore } from '../runtime/gossip/eventual-store.js'
import { HttpError, pathParts } from './server.js'
import type { RouteHandler } from './server.js'

/** Puts in one `POST /v1/memory/:ns` batch (as for the consensus store). */
const batchPutsMax = 256

export const consistencyLevels = ['eventual', 'linearizable', 'sequential'] as const

const eventual = 'eventual' as const

function namespaceParam (namespace: string): string {
  if (!namespacePattern.test(namespace)) throw new HttpError(400, 'namespace must be 1-64 characters of [a-zA-Z0-9_.:-]')
  return namespace
}

function entryBody (entry: EventualEntryView): Record<string, unknown> {
  return { namespace: entry.namespace, key: entry.key, value: entry.value, hlc: entry.hlc, writer: entry.writer, time: entry.time }
}

async function writing<T> (action: () => Promise<T>): Promise<T> {
  try {
    return await action()
  } catch (err) {
    if (err instanceof EventualWriteError) throw new HttpError(err.status, `${err.message} (${err.reason})`)
    throw err
  }
}

/**
 * `store`: the node's eventual store (null while it starts); `hasConsensus`: whether the node has a
 * consensus network (if not, /v1/memory without `consistency` is eventual).
 */
export function eventualRoutes (store: () => EventualStore | null, hasConsensus: () => boolean): RouteHandler {
  const need = (): EventualStore => {
    const s = store()
    if (s == null) throw new HttpError(503, 'the eventual store is not open yet')
    return s
  }
  return async (method, url, body) => {
    const parts = pathParts(url)
    if (parts[0] !== 'v1') return null
    if (parts[1] === 'eventual' && parts.length === 2 && method === 'GET') return { code: 200, body: { consistency: eventual, ...need().status() } }
    if (parts[1] !== 'memory') return null
    const consistency = url.searchParams.get('consistency')
    if (consistency != null && !(consistencyLevels as readonly string[]).includes(consistency)) {
      throw new HttpError(400, `consistency must be eventual (the gossip store, on every node), linearizable or sequential (the consensus store); got "${consistency.slice(0, 32)}"`)
    }
    if (consistency !== eventual && (consistency != null || hasConsensus())) return null
    const s = need()
    const object = (typeof body === 'object' && body != null ? body : {}) as Record<string, unknown>
    const [, , rawNamespace, key] = parts
    if (parts.length === 2 && method === 'GET') return { code: 200, body: { consistency: eventual, namespaces: s.namespaces(), clock: s.map.clockNow() } }
    if (rawNamespace == null) return null
    const namespace = namespaceParam(rawNamespace)
    if (parts.length === 3 && method === 'GET') {
      const limit = Number(url.searchParams.get('limit') ?? 100)
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpError(400, 'limit must be 1..1000')
      const { entries, more } = s.list(namespace, url.searchParams.get('prefix') ?? '', limit, url.searchParams.get('after') ?? undefined)
      return { code: 200, body: { consistency: eventual, namespace, entries: entries.map(e => { const { namespace: _, ...rest } = entryBody(e); return rest }), more } }
    }
    if (parts.length === 3 && method === 'POST') {
      const puts = object.puts
      if (!Array.isArray(puts) || puts.length < 1 || puts.length > batchPutsMax) throw new HttpError(400, `body must be {"puts": [{"key", "value"}, …]} with 1..${batchPutsMax} items`)
      const checked = puts.map((item: unknown, index) => {
        const p = (typeof item === 'object' && item != null ? item : {}) as Record<string, unknown>
        if (typeof p.key !== 'string' || p.key === '' || typeof p.value !== 'string') throw new HttpError(400, `puts[${index}] must be {"key": "<string>", "value": "<string>"}`)
        return { key: p.key, value: p.value }
      })
      const results = await s.setMany(namespace, checked)
      return {
        code: 200,
        body: {
          consistency: eventual,
          results: results.map(r => r.ok
            ? { code: 200, ok: true, ...entryBody(r.entry) }
            : { code: r.code, ok: false, error: `${r.error} (${r.reason})` })
        }
      }
    }
    if (parts.length !== 4 || key == null) return null
    if (method === 'GET') {
      const hit = s.get(namespace, key)
      if (hit == null) return { code: 404, body: { error: `no key "${key}" in namespace "${namespace}"`, consistency: eventual } }
      return { code: 200, body: { consistency: eventual, ...entryBody(hit) } }
    }
    if (method === 'PUT' || method === 'POST') {
      if (typeof object.value !== 'string') throw new HttpError(400, 'body must be {"value": "<string ≤ 64 KiB>"}')
      const value = object.value
      const created = s.get(namespace, key) == null
      const entry = await writing(async () => await s.set(namespace, key, value))
      return { code: 200, body: { ok: true, consistency: eventual, ...entryBody(entry), created } }
    }
    if (method === 'DELETE') {
      const { entry, existed } = await writing(async () => await s.delete(namespace, key))
      const { value: _, ...rest } = entryBody(entry)
      return { code: 200, body: { ok: true, consistency: eventual, ...rest, deleted: existed } }
    }
    return null
  }
}
