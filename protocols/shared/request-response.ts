import { pbStream } from '@libp2p/utils'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import type { ProtobufDecoder, ProtobufEncoder } from '@libp2p/utils'

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

/**
 * Serve one request on an inbound stream with `handle`, bounded by `timeoutMs` from the stream's
 * arrival. Any failure aborts the stream and is reported to `onError`; it never throws.
 */
export async function respond<Req, Res> (
  stream: Stream,
  connection: Connection,
  codecs: { request: Codec<Req>, response: Codec<Res> },
  options: { timeoutMs: number, maxDataLength: number },
  handle: (message: Req, connection: Connection, signal: AbortSignal) => Promise<Res>,
  onError: (err: Error) => void
): Promise<void> {
  const signal = AbortSignal.timeout(options.timeoutMs)
  try {
    const messages = pbStream(stream, { maxDataLength: options.maxDataLength })
    const message = await messages.read(codecs.request, { signal })
    const response = await handle(message, connection, signal)
    await messages.write(response, codecs.response, { signal })
    await stream.close({ signal })
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err))
    stream.abort(error)
    onError(error)
  }
}
