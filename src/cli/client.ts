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
  const base = apiBase(options)
  let res: Response
  try {
    res = await fetch(`${base}${path}`, {
      headers: options.apiToken != null ? { authorization: `Bearer ${options.apiToken}` } : {},
      signal: AbortSignal.timeout(5_000)
    })
  } catch (err) {
    throw new CliError(`cannot reach the node's API at ${base} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}); is it running? (mesh start)`)
  }
  const text = await res.text()
  let body: unknown
  try { body = JSON.parse(text) } catch { throw new CliError(`the API at ${base} answered ${res.status} with non-JSON: ${text.slice(0, 200)}`) }
  if (!res.ok) {
    const message = typeof body === 'object' && body != null && 'error' in body ? String((body as { error: unknown }).error) : text
    throw new CliError(`${base}${path}: ${res.status} ${message}`)
  }
  return body as T
}
