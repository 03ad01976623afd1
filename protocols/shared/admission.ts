/**
 * Admission control on the receive path (issue 13): every message or frame a peer sends us on one of
 * our protocols asks `admitMessage(stream)` before it is decoded further or handed to a runtime; a
 * `false` means the peer is over its rate for that protocol, and the caller drops the message (frame
 * transport: the frame; request/response: the request and the stream; one-message protocols: the
 * stream). The decision itself (token buckets per peer and protocol, counting, reputation) is the
 * runtime's (src/runtime/admission.ts): this file only carries it to the stream.
 *
 * How it reaches the stream without touching each service's constructor: `withAdmission(factory, admit)`
 * wraps a libp2p service factory so that its registrar's `handle()` tags each inbound stream with the
 * node's `admit(peer, protocol)` before the service's handler sees it. An untagged stream (a service
 * built without the wrapper, e.g. in unit tests) is always admitted.
 */
import type { Connection, PeerId, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'

/** Decides whether one more message from `peer` on `protocol` may pass (counts the refusals itself). */
export type AdmitFn = (peer: PeerId, protocol: string) => boolean

const admitTag = Symbol.for('mesh.admission.admit')
type Tagged = Stream & { [admitTag]?: () => boolean }

/** Attach the admission check for the stream's peer and protocol. */
export function tagStream (stream: Stream, admit: () => boolean): void {
  (stream as Tagged)[admitTag] = admit
}

/** May one more message read from this stream pass? (true on an untagged stream) */
export function admitMessage (stream: Stream): boolean {
  const admit = (stream as Tagged)[admitTag]
  return admit === undefined || admit()
}

/**
 * How long a stream whose peer went over its rate is not read: libp2p then pauses the stream, so yamux
 * stops granting the sender window and a flooding sender waits instead of costing us decryption and
 * decoding of frames we would drop. Honest peers never get here (limits are far above their rates).
 */
export const overRatePauseMs = 100

/**
 * Hold a stream back for `ms` (yamux grants the sender no more window meanwhile). What was already
 * received is still read (and, while the peer is over its rate, dropped).
 */
export function holdBack (stream: Stream, ms: number = overRatePauseMs): void {
  if (stream.readStatus !== 'readable') return
  try { stream.pause() } catch { return }
  const timer = setTimeout(() => {
    if (stream.readStatus === 'paused') { try { stream.resume() } catch {} }
  }, ms)
  timer.unref?.()
}

/** A registrar whose `handle()` tags every inbound stream of every protocol with `admit`. */
export function admissionRegistrar (registrar: Registrar, admit: AdmitFn): Registrar {
  const handle = async (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void> => {
    const tagged: StreamHandler = (stream: Stream, connection: Connection) => {
      const peer = connection.remotePeer
      tagStream(stream, () => admit(peer, protocol))
      return handler(stream, connection)
    }
    await registrar.handle(protocol, tagged, options)
  }
  return new Proxy(registrar, {
    get (target, property) {
      if (property === 'handle') return handle
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    }
  })
}

/** Wrap a libp2p service factory so its inbound streams carry the admission check. */
export function withAdmission<C extends { registrar: Registrar }, S> (factory: (components: C) => S, admit: AdmitFn | undefined): (components: C) => S {
  if (admit === undefined) return factory
  return (components: C) => {
    const registrar = admissionRegistrar(components.registrar, admit)
    const wrapped = new Proxy(components, {
      get (target, property) {
        if (property === 'registrar') return registrar
        return Reflect.get(target, property, target)
      }
    })
    return factory(wrapped)
  }
}
