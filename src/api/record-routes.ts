/**
 * HTTP routes of the task record store (src/runtime/tasks/records.ts): a task's payload and result, kept on
 * the 3 members XOR-closest to the task.
 *
 *   GET /v1/records                          this node's record stats
 *   GET /v1/records/:kind/:taskId[?local=1]  the value (kind: payload | result); `local=1`: this node's
 *                                            copy only (who holds what), else fetched when not held here
 *   PUT /v1/records/:kind/:taskId  {"value": <json>}   store on the 3 replicas; 201 once 2 acknowledged
 */
import { RecordError } from '../runtime/tasks/records.js'
import type { RecordStore } from '../runtime/tasks/records.js'
import { isRecordKind, isTaskId, recordKey, recordValueBytesMax } from '../../protocols/records/constants.js'
import { HttpError, pathParts } from './server.js'
import type { RouteHandler } from './server.js'

export function recordRoutes (store: () => RecordStore | null): RouteHandler {
  const need = (): RecordStore => {
    const s = store()
    if (s == null) throw new HttpError(503, 'the record store is not running')
    return s
  }
  return async (method, url, body) => {
    const parts = pathParts(url)
    if (parts[0] !== 'v1' || parts[1] !== 'records') return null
    if (parts.length === 2 && method === 'GET') return { code: 200, body: need().stats() }
    if (parts.length !== 4 || (method !== 'GET' && method !== 'PUT')) return null
    const kind = parts[2] as string
    const taskId = parts[3] as string
    if (!isRecordKind(kind)) throw new HttpError(400, `kind must be "payload" or "result", not "${kind.slice(0, 20)}"`)
    if (!isTaskId(taskId)) throw new HttpError(400, `bad task id "${String(taskId).slice(0, 70)}": 1-64 characters of A-Z a-z 0-9 _ . : -`)
    const key = recordKey(kind, taskId)
    const records = need()
    try {
      if (method === 'PUT') {
        if (typeof body !== 'object' || body == null || Array.isArray(body) || !('value' in body)) {
          throw new HttpError(400, 'body must be a JSON object like {"value": {"hello": 1}}')
        }
        const text = JSON.stringify((body as { value: unknown }).value)
        const bytes = Buffer.byteLength(text)
        if (bytes > recordValueBytesMax) throw new HttpError(413, `value is ${bytes} bytes of JSON; a record holds at most ${recordValueBytesMax}`)
        const result = await records.put(taskId, kind, text)
        return { code: 201, body: { ...result, bytes } }
      }
      const local = url.searchParams.get('local')
      const localOnly = local === '1' || local === 'true'
      const held = records.local(taskId, kind)
      const text = held ?? (localOnly ? null : await records.get(taskId, kind))
      if (text == null) throw new HttpError(404, localOnly ? `this node holds no ${key}` : `no ${key} on any member asked`)
      return { code: 200, body: { key, kind, taskId, local: held != null, bytes: Buffer.byteLength(text), value: JSON.parse(text) as unknown } }
    } catch (err) {
      if (err instanceof RecordError) throw new HttpError(err.status, err.message)
      throw err
    }
  }
}
