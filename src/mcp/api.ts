/**
 * How the MCP server reaches its node: the node's HTTP API, found like every CLI command finds it
 * (--api, or runtime.json in --data-dir), re-resolved on every call so a node started or restarted
 * meanwhile is found. Every failure becomes a `MeshApiError` whose message says what to do.
 */
import { apiBase } from '../cli/client.js'
import type { ClientOptions } from '../cli/client.js'

/** Longest answer body read from the node (a task list of 200 tasks with 16 KiB payloads fits). */
export const responseBytesMax = 8 * 1024 * 1024
export const requestTimeoutMsDefault = 10_000

export class MeshApiError extends Error {
  override readonly name = 'MeshApiError'
  /** HTTP status, or null when the node could not be reached at all. */
  constructor (message: string, readonly status: number | null, readonly apiMessage?: string) {
    super(message)
  }
}

export interface RawAnswer {
  status: number
  contentType: string
  text: string
}

export class MeshApi {
  constructor (readonly options: ClientOptions) {}

  /** The API base URL; throws when no node runs on the data dir. */
  base (): string {
    try {
      return apiBase(this.options)
    } catch (err) {
      throw new MeshApiError(`${(err as Error).message}; or call swarm_init to start one there`, null)
    }
  }

  /** One request; any status comes back (the caller decides), network failures throw. */
  async raw (method: string, path: string, body?: unknown, timeoutMs = requestTimeoutMsDefault): Promise<RawAnswer> {
    const base = this.base()
    const headers: Record<string, string> = {}
    if (this.options.apiToken != null) headers.authorization = `Bearer ${this.options.apiToken}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers,
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(timeoutMs)
      })
    } catch (err) {
      const e = err as Error
      if (e.name === 'TimeoutError') throw new MeshApiError(`the node's API at ${base} did not answer ${method} ${path} within ${timeoutMs} ms; it may be overloaded: try again, or check it with swarm_status`, null)
      const cause = e.cause instanceof Error ? e.cause.message : e.message
      throw new MeshApiError(`cannot reach the node's API at ${base} (${cause}); is the node running? call swarm_init to start it, or run \`mesh start --data-dir ${this.options.dataDir}\``, null)
    }
    const length = Number(res.headers.get('content-length') ?? 0)
    if (length > responseBytesMax) {
      await res.body?.cancel()
      throw new MeshApiError(`the node answered ${method} ${path} with ${length} bytes (over ${responseBytesMax}); ask for less (a smaller limit)`, res.status)
    }
    const text = await res.text()
    if (text.length > responseBytesMax) throw new MeshApiError(`the node answered ${method} ${path} with over ${responseBytesMax} bytes; ask for less (a smaller limit)`, res.status)
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', text }
  }

  /** A JSON request; a non-2xx answer throws with the API's own message and a hint. */
  async json<T> (method: string, path: string, body?: unknown, timeoutMs = requestTimeoutMsDefault): Promise<T> {
    const answer = await this.raw(method, path, body, timeoutMs)
    let parsed: unknown
    try {
      parsed = JSON.parse(answer.text)
    } catch {
      throw new MeshApiError(`the node answered ${method} ${path} with ${answer.status} and non-JSON: ${answer.text.slice(0, 200)}`, answer.status)
    }
    if (answer.status < 200 || answer.status > 299) {
      const message = typeof parsed === 'object' && parsed != null && 'error' in parsed ? String((parsed as { error: unknown }).error) : answer.text.slice(0, 300)
      throw new MeshApiError(explain(answer.status, method, path, message), answer.status, message)
    }
    return parsed as T
  }
}

/** The API's message, plus what to do about it. */
export function explain (status: number, method: string, path: string, message: string): string {
  const head = `${method} ${path} → ${status}: ${message}`
  switch (status) {
    case 401: return `${head} — the node requires an API token: give mesh mcp --api-token <token> (or MESH_API_TOKEN)`
    case 404: return /^no route /.test(message)
      ? `${head} — this node does not serve that route: it runs an older build or lacks the feature; restart it with the current build (mesh start)`
      : head
    case 503: return `${head} — the mesh cannot decide right now (fewer than 2f+1 validators reachable, or the node is read-only): check swarm_status and daa_consensus {"action": "status"}, then retry`
    case 504: return `${head} — no decision in time: the node may be overloaded or partitioned; check swarm_status, then retry`
    default: return head
  }
}
