/**
 * The local HTTP JSON API (node:http: three read-only routes need no framework).
 * Loopback by default; a non-loopback bind requires a token, sent as `Authorization: Bearer <token>`,
 * or by a browser as the cookie `GET /?token=<token>` sets (for the live page and its event stream).
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { timingSafeEqual } from 'node:crypto'
import type { ConnectionView, NodeStatus } from '../runtime/mesh-node.js'

export interface ApiSource {
  status: () => NodeStatus
  connectionList: () => ConnectionView[]
}

export interface ApiOptions {
  host: string
  port: number
  token?: string
}

export interface RunningApi {
  url: string
  server: Server
  close: () => Promise<void>
}

function send (res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function sameSecret (given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** The browser session cookie set by `GET /?token=…` (a browser cannot send a bearer header itself). */
const tokenCookie = 'mesh_token'

function cookieToken (req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...rest] = part.trim().split('=')
    if (name === tokenCookie) {
      try { return decodeURIComponent(rest.join('=')) } catch { return undefined }
    }
  }
  return undefined
}

/** `Authorization: Bearer <token>`, or the page's session cookie (same token). */
function authorised (req: IncomingMessage, token: string | undefined): boolean {
  if (token == null) return true
  if (sameSecret(req.headers.authorization ?? '', `Bearer ${token}`)) return true
  const cookie = cookieToken(req)
  return cookie != null && sameSecret(cookie, token)
}

export function peersView (status: NodeStatus, connections: ConnectionView[]): unknown {
  return {
    peerId: status.peerId,
    members: status.members,
    connections
  }
}

/** An extra route handler: resolves to a response, or null when the route is not its own. */
export type RouteHandler = (method: string, url: URL, body: unknown) => Promise<{ code: number, body: unknown } | null>

/**
 * A route that writes its own response (HTML, Prometheus text, server-sent events): resolves to true
 * when it handled the request, false when the route is not its own. Runs after the token check and
 * before the JSON routes; the body is not read for it.
 */
export type RawRouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> | boolean

/**
 * Request bodies above this are refused: a task payload is ≤ 1 MiB of JSON (sent as a JSON value, or
 * as escaped text by scripts, which can double it); a memory value is ≤ 64 KiB.
 */
const bodyBytesMax = 3 * 1024 * 1024

export class HttpError extends Error {
  constructor (readonly code: number, message: string) {
    super(message)
  }
}

/** The parts of a URL path, percent-decoded; a bad escape is a 400. */
export function pathParts (url: URL): string[] {
  return url.pathname.split('/').filter(p => p !== '').map(part => {
    try {
      return decodeURIComponent(part)
    } catch {
      throw new HttpError(400, `bad URL escape in "${part}"`)
    }
  })
}

/**
 * The request's URL. The request target is a path: resolving it against a base would read `//x/y` as a
 * protocol-relative URL (host x, path /y) and `//` as an invalid one (a TypeError, answered 500: found
 * by the fuzzer, test/fuzz/). Any target that still does not parse is a 400.
 */
export function requestUrl (target: string | undefined): URL {
  const path = target == null || target === '' ? '/' : target
  try {
    return new URL(`http://localhost${path.startsWith('/') ? '' : '/'}${path}`)
  } catch {
    throw new HttpError(400, 'bad request target')
  }
}

async function readBody (req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > bodyBytesMax) throw new HttpError(413, `request body over ${bodyBytesMax} bytes`)
    chunks.push(chunk as Buffer)
  }
  if (size === 0) return undefined
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new HttpError(400, 'request body is not valid JSON')
  }
}

export async function startApi (source: ApiSource, options: ApiOptions, routes: RouteHandler[] = [], rawRoutes: RawRouteHandler[] = []): Promise<RunningApi> {
  const server = createServer((req, res) => {
    void (async () => {
      try {
        const url = requestUrl(req.url)
        // the live page on a node with a token: open /?token=<token> once; the answer sets an HttpOnly,
        // SameSite=Strict cookie and sends the browser to / without the token in the address bar
        const given = url.searchParams.get('token')
        if (options.token != null && url.pathname === '/' && given != null && (req.method === 'GET' || req.method === 'HEAD')) {
          if (!sameSecret(given, options.token)) { send(res, 401, { error: 'wrong token: open /?token=<the node\'s --api-token>' }); return }
          res.writeHead(303, { location: '/', 'set-cookie': `${tokenCookie}=${encodeURIComponent(options.token)}; HttpOnly; SameSite=Strict; Path=/`, 'cache-control': 'no-store' })
          res.end()
          return
        }
        if (!authorised(req, options.token)) {
          send(res, 401, { error: 'unauthorised: send Authorization: Bearer <api token> (in a browser: open /?token=<api token>)' })
          return
        }
        const method = req.method ?? 'GET'
        for (const route of rawRoutes) {
          if (await route(req, res, url)) return
        }
        if (method === 'GET' || method === 'HEAD') {
          switch (url.pathname) {
            case '/health': {
              const status = source.status()
              send(res, 200, { ok: true, peerId: status.peerId, mode: status.mode, uptimeMs: status.uptimeMs })
              return
            }
            case '/v1/status':
              send(res, 200, source.status())
              return
            case '/v1/peers':
              send(res, 200, peersView(source.status(), source.connectionList()))
              return
          }
        }
        const body = method === 'POST' || method === 'PUT' ? await readBody(req) : undefined
        for (const route of routes) {
          const answer = await route(method, url, body)
          if (answer != null) { send(res, answer.code, answer.body); return }
        }
        send(res, 404, { error: `no route ${method} ${url.pathname}; see docs/cli-and-api.md (HTTP API)` })
      } catch (err) {
        if (res.headersSent) { res.destroy(); return }
        if (err instanceof HttpError) send(res, err.code, { error: err.message })
        else send(res, 500, { error: (err as Error).message })
      }
    })()
  })
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  // an idle keep-alive socket is closed by the client, not by us: Node's default (5 s) is close to
  // fetch's own (4 s), and on a busy machine the server would close a socket as the client reuses it
  // ("other side closed" on a request that never reached us — seen in CI at load 30+)
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE'
        ? new Error(`--api: ${options.host}:${options.port} is in use; pick another port (or :0 for any free one)`)
        : err)
    })
    server.listen(options.port, options.host, () => { resolve() })
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${host}:${address.port}`,
    server,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}
