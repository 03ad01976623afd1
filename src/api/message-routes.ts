/**
 * HTTP routes of peer messaging (src/runtime/messages.ts).
 *
 *   POST /v1/messages  {"to": "<peerId|name|all>", "body": <json>, "timeoutMs"?}
 *        → 201 {id, to, toName, delivered: true, …} once the peer acknowledged (direct), or
 *          201 {id, to: "all", broadcast: true, recipients, …}; 400 bad input, 404 unknown peer,
 *          413 body over 64 KiB, 504 no ack in time, 502 unreachable or refused
 *   GET  /v1/messages[?after=<cursor>][&limit=N]   {messages, cursor, latest, oldest, more}: without
 *        `after` the newest N (default 100, at most 1000), with it those after the cursor, oldest first
 *   GET  /v1/messages/stats                        the counters (MessageStats)
 *   GET  /v1/messages/stream[?after=<cursor>]      text/event-stream of messages as they are stored
 *        (`Last-Event-ID` wins over `after`; without either, only new ones); `: keep-alive` comments
 *        every 15 s; a client that cannot keep up is disconnected (it resumes with Last-Event-ID)
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { MessageError } from '../runtime/messages.js'
import type { MessageView, Messaging } from '../runtime/messages.js'
import { msgAckTimeoutMs, msgAckTimeoutMsMax } from '../../protocols/msg/constants.js'
import { HttpError, pathParts } from './server.js'
import type { RawRouteHandler, RouteHandler } from './server.js'

/** Messages per GET page. */
export const listLimitMax = 1_000
export const listLimitDefault = 100
/** Live streams open at once; more are refused with 503 (each holds a socket and a listener). */
export const streamClientsMax = 32
/** Comment line sent on an idle stream so proxies and clients see it is alive. */
export const streamHeartbeatMs = 15_000
/** Unsent bytes a stream may pile up (a stalled reader) before it is closed. */
export const streamBufferBytesMax = 1024 * 1024
/** Reconnect delay suggested to EventSource clients. */
const streamRetryMs = 2_000

const sendFields = new Set(['to', 'body', 'timeoutMs'])

function parseCursor (name: string, text: string | null | undefined): number | null {
  if (text == null || text === '') return null
  if (!/^\d{1,15}$/.test(text)) throw new HttpError(400, `${name} must be a message cursor (a whole number ≥ 0), not "${text.slice(0, 30)}"`)
  return Number(text)
}

/** Validate a POST body: {to, body, timeoutMs?}; returns the JSON text to send. */
export function parseSend (body: unknown): { to: string, text: string, timeoutMs: number } {
  if (typeof body !== 'object' || body == null || Array.isArray(body)) {
    throw new HttpError(400, 'body must be a JSON object like {"to": "<peerId|name|all>", "body": {"hello": 1}}')
  }
  const b = body as Record<string, unknown>
  for (const key of Object.keys(b)) {
    if (!sendFields.has(key)) throw new HttpError(400, `unknown field "${key.slice(0, 40)}" (fields: to, body, timeoutMs)`)
  }
  if (typeof b.to !== 'string' || b.to.trim() === '') throw new HttpError(400, '"to" must be a PeerId, a member name, or "all"')
  if (!('body' in b) || b.body === undefined) throw new HttpError(400, '"body" is missing: any JSON value, e.g. {"hello": 1}')
  let timeoutMs = msgAckTimeoutMs
  if (b.timeoutMs !== undefined) {
    if (!Number.isInteger(b.timeoutMs) || (b.timeoutMs as number) < 1 || (b.timeoutMs as number) > msgAckTimeoutMsMax) {
      throw new HttpError(400, `"timeoutMs" must be a whole number of milliseconds, 1-${msgAckTimeoutMsMax}`)
    }
    timeoutMs = b.timeoutMs as number
  }
  return { to: b.to.trim(), text: JSON.stringify(b.body), timeoutMs }
}

export function messageRoutes (messaging: () => Messaging | null): RouteHandler {
  const need = (): Messaging => {
    const m = messaging()
    if (m == null) throw new HttpError(503, 'messaging is not running on this node')
    return m
  }
  return async (method, url, body) => {
    const parts = pathParts(url)
    if (parts[0] !== 'v1' || parts[1] !== 'messages') return null
    if (parts.length === 2 && method === 'POST') {
      const { to, text, timeoutMs } = parseSend(body)
      try {
        return { code: 201, body: await need().send(to, text, timeoutMs) }
      } catch (err) {
        if (err instanceof MessageError) throw new HttpError(err.status, err.message)
        throw err
      }
    }
    if (parts.length === 2 && method === 'GET') {
      const after = parseCursor('after', url.searchParams.get('after'))
      const limitText = url.searchParams.get('limit')
      const limit = limitText == null ? listLimitDefault : Number(limitText)
      if (!Number.isInteger(limit) || limit < 1 || limit > listLimitMax) throw new HttpError(400, `limit must be a whole number 1-${listLimitMax}`)
      return { code: 200, body: need().list(after, limit) }
    }
    if (parts.length === 3 && parts[2] === 'stats' && method === 'GET') return { code: 200, body: need().stats() }
    return null
  }
}

function sseEvent (message: MessageView): string {
  return `id: ${message.cursor}\nevent: message\ndata: ${JSON.stringify(message)}\n\n`
}

function refuse (res: ServerResponse, code: number, error: string): void {
  const text = JSON.stringify({ error })
  res.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** GET /v1/messages/stream: server-sent events. */
export function messageStreamRoute (messaging: () => Messaging | null): RawRouteHandler {
  let open = 0
  return (req: IncomingMessage, res: ServerResponse, url: URL): boolean => {
    if (url.pathname !== '/v1/messages/stream' || (req.method ?? 'GET') !== 'GET') return false
    const m = messaging()
    if (m == null) { refuse(res, 503, 'messaging is not running on this node'); return true }
    let after: number | null
    try {
      const header = req.headers['last-event-id']
      after = parseCursor('Last-Event-ID', Array.isArray(header) ? header[0] : header) ?? parseCursor('after', url.searchParams.get('after'))
    } catch (err) {
      refuse(res, 400, (err as Error).message)
      return true
    }
    if (open >= streamClientsMax) { refuse(res, 503, `${streamClientsMax} message streams are open already; close one or poll GET /v1/messages`); return true }
    open++
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no'
    })
    res.write(`retry: ${streamRetryMs}\n: mesh messages (latest cursor ${m.log.latest})\n\n`)
    let closed = false
    let unsubscribe: (() => void) | null = null
    let heartbeat: ReturnType<typeof setInterval> | null = null
    const write = (text: string): void => {
      if (closed) return
      res.write(text)
      // a reader that does not keep up is cut off; it resumes with Last-Event-ID
      if (res.writableLength > streamBufferBytesMax) cleanup(true)
    }
    // backlog and subscription in the same tick: nothing stored in between can be missed
    if (after != null) {
      let cursor = after
      for (;;) {
        const page = m.list(cursor, listLimitMax)
        for (const message of page.messages) write(sseEvent(message))
        if (!page.more || closed) break
        cursor = page.cursor
      }
    }
    if (!closed) {
      unsubscribe = m.subscribe(message => { write(sseEvent(message)) })
      heartbeat = setInterval(() => { write(': keep-alive\n\n') }, streamHeartbeatMs)
      heartbeat.unref()
    }
    function cleanup (end: boolean): void {
      if (closed) return
      closed = true
      open--
      if (heartbeat != null) clearInterval(heartbeat)
      unsubscribe?.()
      if (end) res.end()
    }
    // the response closes when the client goes away (or the API shuts down): drop the listener
    res.on('close', () => { cleanup(false) })
    res.on('error', () => { cleanup(false) })
    return true
  }
}
