/**
 * HTTP routes of task distribution (src/runtime/tasks/tasks.ts). Submitting and cancelling go through
 * consensus; reads come from this node's copy of the task table.
 *
 *   POST   /v1/tasks[?wait=1&timeoutMs=]  {"capabilities": [...], "payload": <json>, "priority", "timeoutMs", "strategy", "id"}
 *   POST   /v1/tasks                      {"tasks": [<submission>, …]} (1..256): 202 {accepted, refused, tasks: [{ok, id, seq} | {ok: false, error}]}
 *   GET    /v1/tasks[?state=&assignee=&limit=]   newest first, with counts and this node's scheduler stats
 *   GET    /v1/tasks/:id                  payload and result read back from their records when kept by reference
 *   DELETE /v1/tasks/:id                  cancel (submitter only)
 */
import type { MeshApplication } from '../core/app/application.js'
import { taskDataRefBytesMax } from '../core/app/limits.js'
import { NoQuorumError } from '../runtime/consensus/client-request-id.js'
import { TaskError } from '../runtime/tasks/tasks.js'
import type { SubmitInput, TaskService } from '../runtime/tasks/tasks.js'
import { HttpError, pathParts } from './server.js'
import type { RouteHandler } from './server.js'

const states = new Set(['pending', 'assigned', 'running', 'completed', 'failed', 'cancelled'])
const capabilityPattern = /^[a-z0-9][a-z0-9._:/-]{0,63}$/i
const idPattern = /^[A-Za-z0-9_.:-]{1,64}$/
const waitMsMax = 600_000
/** Submissions in one batch POST: the bound of one consensus bundle. */
const batchMax = 256

/** Validate a submission body; every problem is a 400 that says what to send instead. */
export function parseSubmission (body: unknown): SubmitInput {
  if (typeof body !== 'object' || body == null || Array.isArray(body)) throw new HttpError(400, 'body must be a JSON object like {"capabilities": ["echo"], "payload": {"hello": 1}}')
  const b = body as Record<string, unknown>
  for (const key of Object.keys(b)) {
    if (!['capabilities', 'payload', 'priority', 'timeoutMs', 'strategy', 'id'].includes(key)) throw new HttpError(400, `unknown field "${key.slice(0, 40)}" (fields: capabilities, payload, priority, timeoutMs, strategy, id)`)
  }
  const capabilities = typeof b.capabilities === 'string' ? b.capabilities.split(',').map(c => c.trim()).filter(c => c !== '') : b.capabilities
  if (!Array.isArray(capabilities) || capabilities.length === 0 || capabilities.length > 16) throw new HttpError(400, '"capabilities" must list 1-16 capability names, e.g. ["echo"]')
  for (const c of capabilities) {
    if (typeof c !== 'string' || !capabilityPattern.test(c)) throw new HttpError(400, `"${String(c).slice(0, 70)}" is not a capability name (letters, digits, . _ : / -; at most 64)`)
  }
  if (new Set(capabilities).size !== capabilities.length) throw new HttpError(400, '"capabilities" lists a name twice')
  const payload = JSON.stringify(b.payload ?? null)
  if (Buffer.byteLength(payload) > taskDataRefBytesMax) throw new HttpError(413, `payload is ${Buffer.byteLength(payload)} bytes of JSON; a task carries at most ${taskDataRefBytesMax} (1 MiB): put bulk data elsewhere and pass a reference to it`)
  const input: SubmitInput = { capabilities: capabilities as string[], payload }
  if (b.priority !== undefined) {
    if (!Number.isInteger(b.priority) || (b.priority as number) < 0 || (b.priority as number) > 9) throw new HttpError(400, '"priority" must be a whole number 0-9 (9 runs first)')
    input.priority = b.priority as number
  }
  if (b.timeoutMs !== undefined) {
    if (!Number.isInteger(b.timeoutMs) || (b.timeoutMs as number) < 1 || (b.timeoutMs as number) > 3_600_000) throw new HttpError(400, '"timeoutMs" must be a whole number of milliseconds, 1-3600000')
    input.timeoutMs = b.timeoutMs as number
  }
  if (b.strategy !== undefined) {
    if (b.strategy !== 'auction' && b.strategy !== 'dht') throw new HttpError(400, '"strategy" must be "auction" (default) or "dht"')
    input.strategy = b.strategy
  }
  if (b.id !== undefined) {
    if (typeof b.id !== 'string' || !idPattern.test(b.id)) throw new HttpError(400, '"id" must be 1-64 characters of A-Z a-z 0-9 _ . : -')
    input.id = b.id
  }
  return input
}

export function taskRoutes (service: () => TaskService | null, app: () => MeshApplication | null): RouteHandler {
  const need = (): { service: TaskService, app: MeshApplication } => {
    const s = service()
    const a = app()
    if (s == null || a == null) throw new HttpError(404, 'tasks need a consensus network (this node runs gossip only: --consensus none, or a gossip-only network): restart it without --consensus none to found one, with --bootstrap to join one, or with --genesis (see docs/founding.md)')
    return { service: s, app: a }
  }
  const mapError = (err: unknown): never => {
    if (err instanceof HttpError) throw err
    if (err instanceof NoQuorumError) throw new HttpError(503, err.message)
    if (err instanceof TaskError) throw new HttpError(err.status, err.message)
    throw new HttpError(504, (err as Error).message)
  }

  return async (method, url, body) => {
    const parts = pathParts(url)
    if (parts[0] !== 'v1' || parts[1] !== 'tasks') return null
    const id = parts[2]
    if (parts.length === 2 && method === 'POST' && typeof body === 'object' && body != null && !Array.isArray(body) && 'tasks' in body) {
      // a batch: {"tasks": [<submission>, …]} (1..256), every one validated before any is proposed
      const list = (body as { tasks: unknown }).tasks
      if (Object.keys(body).length !== 1) throw new HttpError(400, 'a batch body has only "tasks": [{"capabilities": [...], "payload": …}, …]')
      if (!Array.isArray(list) || list.length === 0 || list.length > batchMax) throw new HttpError(400, `"tasks" must list 1-${batchMax} submissions`)
      const inputs = list.map((item, i) => {
        try {
          return parseSubmission(item)
        } catch (err) {
          if (err instanceof HttpError) throw new HttpError(err.code, `tasks[${i}]: ${err.message}`)
          throw err
        }
      })
      const ids = inputs.map(i => i.id).filter((id): id is string => id != null)
      if (new Set(ids).size !== ids.length) throw new HttpError(400, '"tasks" names the same id twice')
      const { service } = need()
      const outcomes = await service.submitMany(inputs)
      const accepted = outcomes.filter(o => o.ok).length
      return { code: accepted > 0 ? 202 : (outcomes[0] as { status?: number }).status ?? 409, body: { accepted, refused: outcomes.length - accepted, tasks: outcomes } }
    }
    if (parts.length === 2 && method === 'POST') {
      const input = parseSubmission(body)
      const { service, app } = need()
      let submitted: { id: string, seq: number }
      try {
        submitted = await service.submit(input)
      } catch (err) {
        return mapError(err)
      }
      const wait = url.searchParams.get('wait')
      if (wait === '1' || wait === 'true') {
        const timeoutMs = Number(url.searchParams.get('timeoutMs') ?? 60_000)
        if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > waitMsMax) throw new HttpError(400, `timeoutMs must be 1..${waitMsMax}`)
        const task = await service.wait(submitted.id, timeoutMs)
        return { code: 200, body: { ...submitted, task: task != null ? await service.resolved(task) : task } }
      }
      return { code: 202, body: { ...submitted, task: app.task(submitted.id) } }
    }
    if (parts.length === 2 && method === 'GET') {
      const { service, app } = need()
      const state = url.searchParams.get('state') ?? undefined
      if (state != null && !states.has(state)) throw new HttpError(400, `state must be one of ${[...states].join(', ')}`)
      const limit = Number(url.searchParams.get('limit') ?? 100)
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpError(400, 'limit must be 1..1000')
      const assignee = url.searchParams.get('assignee') ?? undefined
      const tasks = app.tasks({ state: state as Parameters<MeshApplication['tasks']>[0]['state'], assignee, limit })
      return { code: 200, body: { counts: app.taskCounts(), node: service.status(), tasks } }
    }
    if (parts.length === 3 && id != null) {
      const { app, service } = need()
      if (method === 'GET') {
        const task = app.task(id)
        if (task == null) throw new HttpError(404, `no task "${id}" (mesh task list shows the known ones)`)
        // a payload or result over 16 KiB is read back from its record replicas (checked against its digest)
        return { code: 200, body: await service.resolved(task) }
      }
      if (method === 'DELETE') {
        const { service } = need()
        try {
          const { result, seq } = await service.cancel(id)
          const parsed = JSON.parse(result) as { ok: boolean, error?: string }
          return { code: parsed.ok ? 200 : 409, body: { ...parsed, seq } }
        } catch (err) {
          return mapError(err)
        }
      }
    }
    return null
  }
}
