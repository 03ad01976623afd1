/** How CLI commands reach a running node: --api host:port, or the runtime.json in --data-dir. */
import { readRuntimeInfo } from '../runtime/data-dir.js'
import { parseHostPort } from '../runtime/config.js'

export class CliError extends Error {
  override readonly name = 'CliError'
  constructor (message: string, readonly exitCode = 1) {
    super(message)
  }
}

export interface ClientOptions {
  dataDir: string
  api?: string
  apiToken?: string
}

export function apiBase (options: ClientOptions): string {
  if (options.api != null) {
    if (/^https?:\/\//.test(options.api)) return options.api.replace(/\/$/, '')
    const { host, port } = parseHostPort('api', options.api)
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  }
  try {
    return readRuntimeInfo(options.dataDir).api
  } catch (err) {
    throw new CliError((err as Error).message)
  }
}

export async function getJson<T> (options: ClientOptions, path: string): Promise<T> {
  return await requestJson<T>(options, 'GET', path)
}

/** Call the node's API; a non-2xx answer becomes a CliError with the API's own message. */
export async function requestJson<T> (options: ClientOptions, method: string, path: string, body?: unknown, timeoutMs = 5_000): Promise<T> {
  const base = apiBase(options)
  let res: Response
  try {
    const headers: Record<string, string> = options.apiToken != null ? { authorization: `Bearer ${options.apiToken}` } : {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    res = await fetch(`${base}${path}`, {
      method,
      headers,
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(timeoutMs)
    })
  } catch (err) {
    throw new CliError(`cannot reach the node's API at ${base} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}); is it running? (mesh start)`)
  }
  const text = await res.text()
  let parsed: unknown
  try { parsed = JSON.parse(text) } catch { throw new CliError(`the API at ${base} answered ${res.status} with non-JSON: ${text.slice(0, 200)}`) }
  if (!res.ok) {
    const message = typeof parsed === 'object' && parsed != null && 'error' in parsed ? String((parsed as { error: unknown }).error) : text
    throw new CliError(`${res.status} ${message}`)
  }
  return parsed as T
}
