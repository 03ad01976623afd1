/**
 * [nat] Reachability (issue 14): is this node publicly reachable, does it serve relay reservations,
 * does it hold one, which connections are relayed, and how did hole punching go.
 *
 * The parts, all libp2p's own (bootstrap/libp2p.ts wires them):
 * - AutoNAT (v1) asks connected peers to dial our *public* addresses back. libp2p 3 announces a public
 *   listen address only once one peer confirmed it (and an observed address, e.g. a NAT's external
 *   ip:port, only after 4 peers in 4 different /8 networks did), so a seed on a public IP needs
 *   either a peer with AutoNAT or `--announce`. Private addresses are never tested.
 * - Circuit Relay v2: the transport on every node (dial `…/p2p-circuit/p2p/<peer>`, accept relayed
 *   connections); the server (reservations for NATed nodes) per `--relay on|off|auto`.
 * - DCUtR: over a relayed connection, both ends exchange their public addresses and dial each other
 *   at the same moment (TCP simultaneous open). Between two NATed nodes it fails here, for two reasons:
 *   (1) a NATed node has no confirmed public address to offer (its external ip:port is an "observed"
 *   address, which AutoNAT confirms only after 4 peers in 4 different /8 networks dialled it back), so
 *   DCUtR stops with "no dialable multiaddrs"; (2) even with one, @libp2p/tcp dials from an ephemeral
 *   port, not the listening one, so the port the other side punches towards is not the one the NAT
 *   mapped. Measured with nftables masquerade (test/e2e/nat-netns.test.ts, and by hand): the mapping
 *   keeps the source port (192.168.1.10:40000 → router:40000, for any destination: endpoint-independent
 *   while the port is free), filtering is endpoint-dependent (another host connecting to router:40002
 *   while 40002 was mapped to a third host got ECONNREFUSED). Expect relayed connections between two
 *   NATed nodes; a node with a public address is dialled directly. Counted here as successes/failures.
 * - UPnP/NAT-PMP (`--nat-upnp`): asks the home router for a port mapping; the mapped address then goes
 *   through AutoNAT like any other.
 *
 * Verdict (what `mesh status` says):
 * - `public`: an address of ours that is not private is verified (confirmed by AutoNAT, or given with
 *   --announce: then the operator vouches for it);
 * - `private`: every address we have is private (RFC 1918, loopback, CGNAT…) or an unconfirmed observed
 *   one: others can reach us only through a relay (or on our LAN);
 * - `unknown`: we listen on a public address that no peer has confirmed yet.
 * A `private` node that has a non-loopback address listens on `/p2p-circuit`: libp2p then reserves a slot
 * on the first connected peer that serves relay reservations, and the reservation's address enters our
 * announced addresses and so our gossiped member record (src/runtime/mesh-node.ts advertisedAddresses).
 * A loopback-only node never does (nobody else could use the address).
 */
import type { Connection, ComponentLogger, Libp2pEvents, Logger, PeerId, Startable, TypedEventTarget } from '@libp2p/interface'
import type { PeerStore } from '@libp2p/interface'
import type { AddressManager, ConnectionManager, TransportManager } from '@libp2p/interface-internal'
import { multiaddr } from '@multiformats/multiaddr'
import { isPrivate, isLoopback } from '@libp2p/utils'

export type RelayMode = 'on' | 'off' | 'auto'
export type ReachabilityStatus = 'public' | 'private' | 'unknown'

/** How long after a relayed connection opens without a direct one beside it a hole punch counts as failed. */
export const holePunchWindowMs = 30_000
/** How often the verdict is re-read from the address manager (also on every address change). */
export const reachabilityCheckMs = 5_000

/** Our relay server's limits per relayed connection (libp2p's defaults are 2 min and 128 KiB: a mesh node's gossip alone uses that in about a minute). */
export const meshRelayLimits = { durationMs: 30 * 60_000, dataBytes: 256n * 1024n * 1024n, maxReservations: 64 }

/** Parse `--relay` (flag, MESH_RELAY, config file `relay`). */
export function parseRelayMode (value: unknown): RelayMode {
  const text = typeof value === 'string' ? value.trim().toLowerCase() : value
  if (text === 'on' || text === 'off' || text === 'auto') return text
  if (text === true || text === 'true') return 'on'
  if (text === false || text === 'false') return 'off'
  throw new Error(`"${String(value)}" is not one of on, off, auto (auto: serve relay reservations only while AutoNAT says this node is publicly reachable)`)
}

/** Parse an on/off switch given as a flag without a value (true), on/off, true/false, yes/no, 1/0. */
export function parseSwitch (value: unknown): boolean {
  if (value === true || value === false) return value
  const text = typeof value === 'string' ? value.trim().toLowerCase() : String(value)
  if (['on', 'true', 'yes', '1'].includes(text)) return true
  if (['off', 'false', 'no', '0'].includes(text)) return false
  throw new Error(`"${String(value)}" is not on or off`)
}

/** One of our addresses as the address manager holds it. */
export interface AddressFact {
  multiaddr: string
  verified: boolean
  /** transport (a listen address), observed (what peers saw), announce, ip-mapping (UPnP), dns-mapping */
  type: string
}

function isCircuit (address: string): boolean {
  return address.includes('/p2p-circuit')
}

function privateAddress (address: string): boolean {
  try { return isPrivate(multiaddr(address)) } catch { return true }
}

function loopbackAddress (address: string): boolean {
  try { return isLoopback(multiaddr(address)) } catch { return false }
}

/** The verdict from our addresses (pure; see the file comment). */
export function reachabilityVerdict (addresses: AddressFact[]): { status: ReachabilityStatus, reason: string, publicAddresses: string[], loopbackOnly: boolean } {
  const direct = addresses.filter(a => !isCircuit(a.multiaddr))
  const publicOnes = direct.filter(a => !privateAddress(a.multiaddr))
  const confirmed = publicOnes.filter(a => a.verified)
  const loopbackOnly = direct.length > 0 && direct.every(a => loopbackAddress(a.multiaddr))
  if (confirmed.length > 0) {
    const announced = confirmed.every(a => a.type === 'announce')
    return { status: 'public', reason: announced ? 'public address given with --announce' : 'a peer dialled our public address back (AutoNAT)', publicAddresses: confirmed.map(a => a.multiaddr), loopbackOnly }
  }
  const candidates = publicOnes.filter(a => a.type !== 'observed')
  if (candidates.length > 0) return { status: 'unknown', reason: 'public address not confirmed by any peer yet (AutoNAT)', publicAddresses: [], loopbackOnly }
  if (loopbackOnly) return { status: 'private', reason: 'loopback addresses only', publicAddresses: [], loopbackOnly }
  if (direct.length === 0) return { status: 'unknown', reason: 'no addresses', publicAddresses: [], loopbackOnly }
  return { status: 'private', reason: publicOnes.length > 0 ? 'only private addresses; the external address peers see is not confirmed (behind NAT?)' : 'only private addresses (behind NAT, or a LAN)', publicAddresses: [], loopbackOnly }
}

export interface ConnectionFact {
  peerId: string
  remoteAddr: string
  direction: 'inbound' | 'outbound'
  kind: 'relayed' | 'direct'
  /** The relay's limits, when relayed and limited. */
  limited: boolean
}

export interface ReachabilitySummary {
  status: ReachabilityStatus
  reason: string
  publicAddresses: string[]
  relay: { mode: RelayMode, serving: boolean, reservationsServed: number }
  /** Relays we hold a reservation on (PeerIds), and our relay addresses. */
  reservations: string[]
  relayAddresses: string[]
  /** Listening on /p2p-circuit (asking connected relays for a slot). */
  seekingRelay: boolean
  upnp: boolean
  holePunch: { successes: number, failures: number }
  connections: ConnectionFact[]
}

/** The lines `mesh status` prints for the reachability field (pure). */
export function reachabilityText (r: ReachabilitySummary): string[] {
  const relayed = r.connections.filter(c => c.kind === 'relayed').length
  const relayServer = r.relay.mode === 'off'
    ? 'off'
    : `${r.relay.serving ? 'serving' : 'not serving'} (--relay ${r.relay.mode}${r.relay.mode === 'auto' ? ': only while public' : ''}), ${r.relay.reservationsServed} reservation(s) held by others`
  const lines = [
    `reach      ${r.status}: ${r.reason}${r.publicAddresses.length > 0 ? ` (${r.publicAddresses.join(', ')})` : ''}`,
    `relay      server ${relayServer}`,
    `           our reservations ${r.reservations.length === 0 ? (r.seekingRelay ? 'none yet (looking for a relay among connected peers)' : 'none') : r.reservations.join(', ')}`,
    ...r.relayAddresses.map(a => `             ${a}`),
    `links      ${r.connections.length - relayed} direct, ${relayed} relayed   hole punching: ${r.holePunch.successes} upgraded to direct, ${r.holePunch.failures} stayed relayed   UPnP ${r.upnp ? 'on' : 'off'}`
  ]
  for (const c of r.connections.filter(c => c.kind === 'relayed')) lines.push(`  relayed  ${c.peerId}  via ${c.remoteAddr}${c.limited ? ' (limited by the relay)' : ''}`)
  return lines
}

/** What the reachability service needs of a relay server (@libp2p/circuit-relay-v2's, fields it has at runtime). */
interface RelayServerLike {
  isStarted: () => boolean
  start: () => Promise<void>
  stop: () => Promise<void>
  shutdownController?: AbortController
  reservations?: { size: number }
}

/** What it needs of gossipsub to re-attach its stream after a relayed connection closes. */
interface GossipsubLike {
  streamsOutbound: Map<string, unknown>
  getPeers: () => PeerId[]
}

export interface ReachabilityComponents {
  addressManager: AddressManager
  transportManager: TransportManager
  connectionManager: ConnectionManager
  peerStore: PeerStore
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

export interface ReachabilityInit {
  relay: RelayMode
  upnp: boolean
  /** Notes a change of verdict or relay state (the node's log). */
  log?: (line: string) => void
}

export class Reachability implements Startable {
  private readonly log: Logger
  private readonly note: (line: string) => void
  private timer?: ReturnType<typeof setInterval>
  private relayServer?: RelayServerLike
  private pubsub?: GossipsubLike
  private status: ReachabilityStatus = 'unknown'
  private seekingRelay = false
  private serving = false
  private toggling = false
  private readonly successes = { n: 0 }
  private readonly failures = { n: 0 }
  private readonly punchTimers = new Map<string, ReturnType<typeof setTimeout>>()
  private running = false

  constructor (private readonly components: ReachabilityComponents, private readonly init: ReachabilityInit) {
    this.log = components.logger.forComponent('mesh:reachability')
    this.note = init.log ?? (() => {})
  }

  /** Called once libp2p is built: the relay server (absent with --relay off) and gossipsub. */
  attach (parts: { relayServer?: unknown, pubsub?: unknown }): void {
    this.relayServer = parts.relayServer as RelayServerLike | undefined
    this.pubsub = parts.pubsub as GossipsubLike | undefined
    // --relay auto: libp2p started the server with everything else; it serves only while public (an
    // --announce'd public address counts at once; one AutoNAT confirms comes with a later check)
    if (this.init.relay === 'auto') void this.setServing(this.running && reachabilityVerdict(this.addressFacts()).status === 'public')
    else this.serving = this.init.relay === 'on' && this.relayServer != null
  }

  async start (): Promise<void> {
    this.running = true
    this.components.events.addEventListener('self:peer:update', this.onAddresses)
    this.components.events.addEventListener('connection:open', this.onOpen)
    this.components.events.addEventListener('connection:close', this.onClose)
    this.timer = setInterval(() => { this.check() }, reachabilityCheckMs)
    this.timer.unref?.()
  }

  afterStart (): void { this.check() }

  async stop (): Promise<void> {
    this.running = false
    this.components.events.removeEventListener('self:peer:update', this.onAddresses)
    this.components.events.removeEventListener('connection:open', this.onOpen)
    this.components.events.removeEventListener('connection:close', this.onClose)
    if (this.timer != null) clearInterval(this.timer)
    for (const timer of this.punchTimers.values()) clearTimeout(timer)
    this.punchTimers.clear()
  }

  private readonly onAddresses = (): void => { this.check() }

  private readonly onOpen = (event: CustomEvent<Connection>): void => {
    const connection = event.detail
    const peer = connection.remotePeer
    const others = this.components.connectionManager.getConnections(peer).filter(c => c.id !== connection.id && c.status === 'open')
    if (isRelayed(connection)) {
      // a relayed connection: did DCUtR (or any dial) give us a direct one beside it within the window?
      if (others.some(c => !isRelayed(c))) return
      const timer = setTimeout(() => {
        this.punchTimers.delete(connection.id)
        if (!this.running || connection.status !== 'open') return
        if (this.components.connectionManager.getConnections(peer).some(c => c.status === 'open' && !isRelayed(c))) return
        // DCUtR runs once per relayed connection; if the peer has a public address, try it once more
        // ourselves (a race with the peer's own dial can make DCUtR's attempt fail): on success the
        // direct connection counts as the upgrade (onOpen) and the relayed one is closed
        void this.dialDirect(connection).then(upgraded => {
          if (upgraded || !this.running) return
          this.failures.n++
          this.note(`hole punching to ${peer.toString()} did not give a direct connection within ${holePunchWindowMs / 1000} s: staying relayed via ${connection.remoteAddr.toString()}`)
        })
      }, holePunchWindowMs)
      timer.unref?.()
      this.punchTimers.set(connection.id, timer)
      return
    }
    // a direct connection to a peer we reach through a relay: upgraded
    const relayed = others.filter(c => isRelayed(c))
    if (relayed.length === 0) return
    this.successes.n++
    for (const c of relayed) {
      const timer = this.punchTimers.get(c.id)
      if (timer != null) { clearTimeout(timer); this.punchTimers.delete(c.id) }
    }
    this.note(`direct connection to ${peer.toString()} (${connection.remoteAddr.toString()}) beside the relayed one: traffic moves to it`)
  }

  private readonly onClose = (event: CustomEvent<Connection>): void => {
    const connection = event.detail
    const timer = this.punchTimers.get(connection.id)
    if (timer != null) { clearTimeout(timer); this.punchTimers.delete(connection.id) }
    if (!isRelayed(connection) || !this.running) return
    // Gossipsub keeps one outbound stream per peer and opens it only when the peer first connects: if
    // that stream was on the relayed connection that just closed (DCUtR closes it after the upgrade),
    // open it again on the connection that remains.
    const pubsub = this.pubsub
    const peer = connection.remotePeer
    const remaining = this.components.connectionManager.getConnections(peer).find(c => c.status === 'open' && c.id !== connection.id)
    if (pubsub == null || remaining == null) return
    setTimeout(() => {
      if (!this.running || pubsub.streamsOutbound.has(peer.toString()) || remaining.status !== 'open') return
      const create = (pubsub as unknown as { createOutboundStream?: (peer: PeerId, connection: Connection) => Promise<void> }).createOutboundStream
      if (typeof create !== 'function') return
      create.call(pubsub, peer, remaining).catch(err => { this.log('re-attaching gossipsub to %p failed: %s', peer, (err as Error).message) })
    }, 50).unref?.()
  }

  /** Dial the peer of a relayed connection on its public addresses (if any); close the relayed one on success. */
  private async dialDirect (relayed: Connection): Promise<boolean> {
    const peer = relayed.remotePeer
    let targets
    try {
      targets = (await this.components.peerStore.get(peer)).addresses
        .map(a => a.multiaddr)
        .filter(ma => !isCircuit(ma.toString()) && !privateAddress(ma.toString()))
        .map(ma => ma.getComponents().some(c => c.name === 'p2p') ? ma : ma.encapsulate(`/p2p/${peer.toString()}`))
    } catch {
      return false
    }
    if (targets.length === 0) return false
    try {
      const direct = await this.components.connectionManager.openConnection(targets, { signal: AbortSignal.timeout(10_000), force: true })
      if (isRelayed(direct)) return false
      await relayed.close().catch(() => {})
      return true
    } catch (err) {
      this.log('direct dial to %p failed: %s', peer, (err as Error).message)
      return false
    }
  }

  /** Re-read the verdict; start/stop relay serving (auto) and relay seeking (private) accordingly. */
  check (): void {
    if (!this.running) return
    const verdict = reachabilityVerdict(this.addressFacts())
    if (verdict.status !== this.status) {
      this.note(`reachability: ${this.status} → ${verdict.status} (${verdict.reason})`)
      this.status = verdict.status
    }
    if (this.init.relay === 'auto') void this.setServing(verdict.status === 'public')
    if (verdict.status === 'private' && !verdict.loopbackOnly && !this.seekingRelay) {
      this.seekingRelay = true
      this.note('behind NAT or on a private network: asking connected relays for a reservation (listening on /p2p-circuit)')
      this.components.transportManager.listen([multiaddr('/p2p-circuit')]).catch(err => {
        this.seekingRelay = false
        this.note(`cannot listen on /p2p-circuit: ${(err as Error).message}`)
      })
    }
  }

  private async setServing (on: boolean): Promise<void> {
    const server = this.relayServer
    if (server == null || this.toggling) return
    if (server.isStarted() === on) { this.serving = on; return }
    this.toggling = true
    try {
      if (on) {
        // stop() aborted the server's shutdown signal for good: give it a fresh one before starting again
        server.shutdownController = new AbortController()
        await server.start()
        this.note('relay: serving reservations (--relay auto and this node is publicly reachable)')
      } else {
        await server.stop()
        if (this.serving) this.note('relay: no longer serving reservations (--relay auto and this node is not confirmed public)')
      }
      this.serving = on
    } catch (err) {
      this.log('toggling the relay server failed: %s', (err as Error).message)
    } finally {
      this.toggling = false
    }
  }

  private addressFacts (): AddressFact[] {
    return this.components.addressManager.getAddressesWithMetadata().map(a => ({ multiaddr: a.multiaddr.toString(), verified: a.verified, type: a.type }))
  }

  summary (): ReachabilitySummary {
    const verdict = reachabilityVerdict(this.addressFacts())
    const connections: ConnectionFact[] = this.components.connectionManager.getConnections().filter(c => c.status === 'open').map(c => ({
      peerId: c.remotePeer.toString(),
      remoteAddr: c.remoteAddr.toString(),
      direction: c.direction === 'inbound' ? 'inbound' : 'outbound',
      kind: isRelayed(c) ? 'relayed' : 'direct',
      limited: c.limits != null
    }))
    const relayAddresses = this.components.addressManager.getAddresses().map(a => a.toString()).filter(isCircuit)
    return {
      status: verdict.status,
      reason: verdict.reason,
      publicAddresses: verdict.publicAddresses,
      relay: { mode: this.init.relay, serving: this.relayServer != null && this.serving, reservationsServed: this.serving ? (this.relayServer?.reservations?.size ?? 0) : 0 },
      reservations: relaysOf(relayAddresses),
      relayAddresses,
      seekingRelay: this.seekingRelay,
      upnp: this.init.upnp,
      holePunch: { successes: this.successes.n, failures: this.failures.n },
      connections
    }
  }
}

export function isRelayed (connection: Connection): boolean {
  return connection.limits != null || connection.remoteAddr.toString().includes('/p2p-circuit')
}

/** The libp2p service factory (bootstrap/libp2p.ts). */
export function reachability (init: ReachabilityInit): (components: ReachabilityComponents) => Reachability {
  return (components) => new Reachability(components, init)
}

/** The relays we hold reservations on: the PeerIds in our /p2p-circuit addresses (…/p2p/<relay>/p2p-circuit). */
export function relaysOf (addresses: string[]): string[] {
  const relays = new Set<string>()
  for (const address of addresses) {
    const match = /\/p2p\/([^/]+)\/p2p-circuit/.exec(address)
    if (match?.[1] != null) relays.add(match[1])
  }
  return [...relays]
}
