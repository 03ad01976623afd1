import { pbStream } from '@libp2p/utils'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import type { ProtobufDecoder, ProtobufEncoder, ProtobufStream } from '@libp2p/utils'
import { admitMessage } from './admission.js' // [admission]

/** A protons message namespace: `{ encode, decode }`. */
export interface Codec<T> {
  encode: ProtobufEncoder<T>
  decode: ProtobufDecoder<T>
}

export interface RequestOptions {
  signal: AbortSignal
  /** Largest length-prefixed message accepted from the remote. */
  maxDataLength: number
}

/**
 * How long a responder waits on an open stream for the caller's next request before it closes it.
 * Longer than a pool's idle time, so a caller never sends on a stream its responder just gave up on.
 */
export const responderIdleMs = 30_000

/**
 * One request, one response, on a fresh stream: write the request, read the response, close.
 * Errors (timeouts, resets, oversize or undecodable responses) reject; the stream is aborted.
 */
export async function request<Req, Res> (
  connectionManager: ConnectionManager,
  peer: PeerId,
  protocol: string,
  message: Req,
  codecs: { request: Codec<Req>, response: Codec<Res> },
  options: RequestOptions
): Promise<Res> {
  const stream = await connectionManager.openStream(peer, protocol, { signal: options.signal })
  try {
    const messages = pbStream(stream, { maxDataLength: options.maxDataLength })
    await messages.write(message, codecs.request, { signal: options.signal })
    const response = await messages.read(codecs.response, { signal: options.signal })
    await stream.close({ signal: options.signal })
    return response
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}

interface PooledStream {
  stream: Stream
  messages: ProtobufStream
  idleSinceMs: number
}

/**
 * Requests over reused streams. Opening a stream costs a multistream-select negotiation on both
 * sides and a peer-store write on each (libp2p records the protocol for the peer every time): under
 * load that was ~20 % of a node's CPU (see docs/tasks.md). A pool keeps up to `idleMax` idle streams
 * per (peer, protocol); a request takes one (or opens one), sends, reads the one response, and puts
 * it back. One request at a time per stream, so responses need no ids. Idle streams are closed after
 * `idleMs` (well before the responder's own `responderIdleMs`).
 *
 * A reused stream can turn out to be dead (the peer restarted, or an older responder that serves one
 * request per stream closed it): a failure on a reused stream before any response is retried once on
 * a fresh stream. Only requests whose handler tolerates a repeat may use the pool (all of ours do: a
 * repeated store, fetch or bid changes nothing; a steal victim answers only with what it moved).
 */
export class RequestPool {
  private readonly idle = new Map<string, PooledStream[]>()
  private readonly timer: ReturnType<typeof setInterval>
  readonly stats = { opened: 0, reused: 0, retried: 0 }

  constructor (private readonly connectionManager: ConnectionManager, private readonly options: { idleMs?: number, idleMax?: number } = {}) {
    this.timer = setInterval(() => { this.sweep() }, 1_000)
    this.timer.unref?.()
  }

  async request<Req, Res> (peer: PeerId, protocol: string, message: Req, codecs: { request: Codec<Req>, response: Codec<Res> }, options: RequestOptions): Promise<Res> {
    const key = `${peer.toString()} ${protocol}`
    const reused = this.take(key)
    if (reused != null) {
      this.stats.reused++
      try {
        return await this.exchange(key, reused, message, codecs, options)
      } catch (err) {
        if (options.signal.aborted) throw err
        this.stats.retried++ // a dead idle stream: once more on a fresh one
      }
    }
    const stream = await this.connectionManager.openStream(peer, protocol, { signal: options.signal })
    this.stats.opened++
    return await this.exchange(key, { stream, messages: pbStream(stream, { maxDataLength: options.maxDataLength }), idleSinceMs: 0 }, message, codecs, options)
  }

  /** Close every idle stream (at stop). */
  close (): void {
    clearInterval(this.timer)
    for (const list of this.idle.values()) for (const entry of list) void entry.stream.close().catch(() => {})
    this.idle.clear()
  }

  private async exchange<Req, Res> (key: string, entry: PooledStream, message: Req, codecs: { request: Codec<Req>, response: Codec<Res> }, options: RequestOptions): Promise<Res> {
    try {
      await entry.messages.write(message, codecs.request, { signal: options.signal })
      const response = await entry.messages.read(codecs.response, { signal: options.signal })
      this.giveBack(key, entry)
      return response
    } catch (err) {
      entry.stream.abort(err instanceof Error ? err : new Error(String(err)))
      throw err
    }
  }

  private take (key: string): PooledStream | undefined {
    const list = this.idle.get(key)
    while (list != null && list.length > 0) {
      const entry = list.pop() as PooledStream
      if (entry.stream.status === 'open' && entry.stream.writeStatus === 'writable' && entry.stream.readStatus === 'readable') return entry
      entry.stream.abort(new Error('stale pooled stream'))
    }
    return undefined
  }

  private giveBack (key: string, entry: PooledStream): void {
    let list = this.idle.get(key)
    if (list == null) { list = []; this.idle.set(key, list) }
    if (list.length >= (this.options.idleMax ?? 4)) { void entry.stream.close().catch(() => {}); return }
    entry.idleSinceMs = performance.now()
    list.push(entry)
  }

  private sweep (): void {
    const oldest = performance.now() - (this.options.idleMs ?? 5_000)
    for (const [key, list] of this.idle) {
      const keep = list.filter(entry => {
        if (entry.idleSinceMs >= oldest) return true
        void entry.stream.close().catch(() => {})
        return false
      })
      if (keep.length === 0) this.idle.delete(key)
      else this.idle.set(key, keep)
    }
  }
}

/**
 * Serve requests on an inbound stream with `handle`, one after another, until the caller closes the
 * stream or sends nothing for `responderIdleMs` (a caller may reuse the stream: see RequestPool).
 * Each request is bounded by `timeoutMs` from its arrival. A failure aborts the stream and is reported
 * to `onError` (the end of the stream after a served request is not a failure); it never throws.
 */
export async function respond<Req, Res> (
  stream: Stream,
  connection: Connection,
  codecs: { request: Codec<Req>, response: Codec<Res> },
  options: { timeoutMs: number, maxDataLength: number },
  handle: (message: Req, connection: Connection, signal: AbortSignal) => Promise<Res>,
  onError: (err: Error) => void
): Promise<void> {
  const messages = pbStream(stream, { maxDataLength: options.maxDataLength })
  for (let served = 0; ; served++) {
    let message: Req
    try {
      // the first request must come within timeoutMs; later ones within the idle time
      message = await messages.read(codecs.request, { signal: AbortSignal.timeout(served === 0 ? options.timeoutMs : responderIdleMs) })
    } catch (err) {
      if (served > 0) {
        // the caller closed it, or let it idle: done
        if (stream.status === 'open') void stream.close().catch(() => {})
        else stream.abort(new Error('idle'))
        return
      }
      const error = err instanceof Error ? err : new Error(String(err))
      stream.abort(error)
      onError(error)
      return
    }
    // [admission] over this peer's request rate for the protocol: the request is dropped with its
    // stream (the caller sees a reset at once, not a timeout); counted by the admission
    if (!admitMessage(stream)) {
      stream.abort(new Error('rate limited'))
      return
    }
    const signal = AbortSignal.timeout(options.timeoutMs)
    try {
      const response = await handle(message, connection, signal)
      await messages.write(response, codecs.response, { signal })
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err))
      stream.abort(error)
      onError(error)
      return
    }
  }
}
