/**
 * [nat] Our protocols over relayed (limited) connections, and back onto direct ones (issue 14).
 *
 * A node behind a NAT is reached through a Circuit Relay v2 reservation: the connection to it is
 * "limited" (the relay caps its duration and bytes). libp2p 3 refuses streams on such a connection
 * unless the handler was registered with `runOnLimitedConnection: true` and the dialer passes the same
 * option; and `connectionManager.openStream(peer)` ignores limited connections altogether (it dials the
 * peer again, which for a NATed peer means its private addresses time out, then another relayed
 * connection). `overRelays(factory)` wraps a service factory so that, without touching the service:
 *
 * - its registrar's `handle()` accepts inbound streams on limited connections;
 * - its connection manager's `openStream(peer)` picks the connection itself: an open direct
 *   (non-limited) connection first, else an open limited one (with `runOnLimitedConnection`), else it
 *   dials (libp2p tries the peer's direct addresses, then its relay address) and opens the stream on
 *   whatever that gives.
 *
 * Moving to the direct connection: every stream of ours is opened per request, or re-opened when it
 * ends (the consensus frame transport re-opens its outbound stream for the next frame; the request pool
 * retries a dead pooled stream once). So once DCUtR (hole punching) opens a direct connection, the next
 * stream goes there, and DCUtR closes the relayed connection, which ends the streams still on it;
 * their next frame or request re-opens on the direct one. Gossipsub's long-lived stream is re-attached
 * by the reachability runtime (src/runtime/reachability.ts), because gossipsub does not re-open it.
 *
 * When hole punching fails (the usual case for TCP between two NATs: see reachability.ts), the peers
 * stay on the relayed connection. Each relayed connection lives within the relay's limits (our own
 * relay server raises them for the mesh: bootstrap/libp2p.ts); when it is cut, the connection keeper
 * re-dials through the relay and the streams re-open, at the price of a short gap (a consensus round
 * may then time out and be retried).
 */
import type { Connection, PeerId, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { peerIdFromString } from '@libp2p/peer-id'

/** A PeerId, or (when a caller dials an address) a multiaddr/array: only PeerIds get the connection choice. */
type DialTarget = Parameters<ConnectionManager['openStream']>[0]
type OpenStreamOptions = NonNullable<Parameters<ConnectionManager['openStream']>[2]>

/** The connection a stream to this peer should use now: direct first, then limited (relayed). */
export function pickConnection (connections: Connection[]): Connection | undefined {
  const open = connections.filter(c => c.status === 'open')
  return open.find(c => c.limits == null) ?? open[0]
}

function asPeerId (target: DialTarget): PeerId | undefined {
  if (typeof (target as PeerId).toMultihash === 'function' && typeof (target as PeerId).type === 'string') return target as PeerId
  if (typeof target === 'string') {
    try { return peerIdFromString(target) } catch { return undefined }
  }
  return undefined
}

/** Open a stream to `target` on the best connection (see the file comment); limited ones allowed. */
export async function openMeshStream (connectionManager: ConnectionManager, target: DialTarget, protocol: string | string[], options: OpenStreamOptions = {}): Promise<Stream> {
  const peer = asPeerId(target)
  const opts = { ...options, runOnLimitedConnection: true }
  if (peer == null) return await connectionManager.openStream(target, protocol, opts)
  let connection = pickConnection(connectionManager.getConnections(peer))
  if (connection == null) connection = await connectionManager.openConnection(peer, opts)
  return await connection.newStream(protocol, opts)
}

/** A registrar whose `handle()` also accepts streams on limited (relayed) connections. */
export function limitedRegistrar (registrar: Registrar): Registrar {
  const handle = async (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void> => {
    await registrar.handle(protocol, handler, { ...options, runOnLimitedConnection: true })
  }
  return new Proxy(registrar, {
    get (target, property) {
      if (property === 'handle') return handle
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    }
  })
}

/** A connection manager whose `openStream()` is `openMeshStream`. */
export function limitedConnectionManager (connectionManager: ConnectionManager): ConnectionManager {
  const openStream = async (target: DialTarget, protocol: string | string[], options?: OpenStreamOptions): Promise<Stream> =>
    await openMeshStream(connectionManager, target, protocol, options)
  return new Proxy(connectionManager, {
    get (target, property) {
      if (property === 'openStream') return openStream
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    }
  })
}

/** Wrap a libp2p service factory so its streams work over relayed connections (see the file comment). */
export function overRelays<C extends { registrar: Registrar }, S> (factory: (components: C) => S): (components: C) => S {
  return (components: C) => {
    const registrar = limitedRegistrar(components.registrar)
    let connectionManager: ConnectionManager | undefined
    const wrapped = new Proxy(components, {
      get (target, property) {
        if (property === 'registrar') return registrar
        if (property === 'connectionManager') {
          const inner = Reflect.get(target, property, target) as ConnectionManager | undefined
          if (inner == null) return inner
          connectionManager ??= limitedConnectionManager(inner)
          return connectionManager
        }
        return Reflect.get(target, property, target)
      }
    })
    return factory(wrapped)
  }
}
