/**
 * The local HTTP JSON API (node:http: three read-only routes need no framework).
 * Loopback by default; a non-loopback bind requires a token, sent as `Authorization: Bearer <token>`.
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

function authorised (req: IncomingMessage, token: string | undefined): boolean {
  if (token == null) return true
  const header = req.headers.authorization ?? ''
  const expected = Buffer.from(`Bearer ${token}`)
  const given = Buffer.from(header)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

export function peersView (status: NodeStatus, connections: ConnectionView[]): unknown {
  return {
    peerId: status.peerId,
    members: status.members,
    connections
  }
}

export async function startApi (source: ApiSource, options: ApiOptions): Promise<RunningApi> {
  const server = createServer((req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost')
      if (!authorised(req, options.token)) {
        send(res, 401, { error: 'unauthorised: send Authorization: Bearer <api token>' })
        return
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD')
        send(res, 405, { error: `method ${String(req.method)} not allowed on ${url.pathname}` })
        return
      }
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
        default:
          send(res, 404, { error: `no route ${url.pathname}; try /v1/status, /v1/peers or /health` })
      }
    } catch (err) {
      send(res, 500, { error: (err as Error).message })
    }
  })
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
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
