/**
 * Keeps the node connected: libp2p 3 has no auto-dialer, and @libp2p/bootstrap dials each seed once
 * and never again. Every round (1 s, and soon after a discovery) this:
 * - dials the seeds, with backoff and jitter, until one has answered, and again whenever the node has
 *   fewer than `minPeers` connections and no other member it could dial (a joiner that started before
 *   its seed, or was cut off, finds its way back);
 * - dials known members (from the membership table) and discovered peers (DHT, identify) it is not
 *   connected to, until `maxPeers` connections: a mesh of up to `maxPeers` nodes becomes a full mesh,
 *   and a node that loses peers tops up. Members believed failed are re-dialed too, more slowly, so a
 *   healed partition reconnects.
 * Two nodes that learn of each other at the same moment would dial each other at once and end up with
 * two connections (each with its own handshake, identify, gossip and DHT streams). So of each pair only
 * the node with the smaller PeerId dials first; the other waits `tieBreakGraceMs` before dialing too.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p, PeerId } from '@libp2p/interface'

export interface ConnectionKeeperInit {
  bootstrap: string[]
  minPeers: number
  maxPeers: number
  /** Members to stay connected to; `preferred` false for members believed failed. */
  members: () => Array<{ peerId: string, preferred: boolean }>
  log: (line: string) => void
}

const roundIntervalMs = 1_000
/** Dials in flight at once: bounded so a big table does not open hundreds of sockets at once (a star
 * start of 24 nodes on 2 cores thrashes in handshake timeouts with more). */
const dialsInFlightMax = 4
const dialTimeoutMs = 20_000
const backoffBaseMs = 1_000
const backoffMaxMs = 30_000
/** Members believed failed are retried at least this often, so partitions heal promptly. */
const failedRetryMaxMs = 10_000
/** How long the node with the larger PeerId of a pair leaves the first dial to the other. */
const tieBreakGraceMs = 15_000
/** Discovered-but-not-member peers remembered at most (oldest dropped first). */
const discoveredMax = 1024

interface Backoff { failures: number, nextMs: number }

export class ConnectionKeeper {
  private timer?: ReturnType<typeof setInterval>
  private readonly inFlight = new Set<string>()
  private readonly backoff = new Map<string, Backoff>()
  private readonly discovered = new Map<string, PeerId>()
  /** When each candidate was first seen unconnected (for the tie-break grace). */
  private readonly firstSeen = new Map<string, number>()
  private readonly seeds: Array<{ address: string, peerId: string | undefined }>
  private seedReached = false
  private soon?: ReturnType<typeof setTimeout>

  constructor (private readonly libp2p: Libp2p, private readonly init: ConnectionKeeperInit) {
    const self = libp2p.peerId.toString()
    this.seeds = init.bootstrap
      .map(address => ({ address, peerId: multiaddr(address).getComponents().find(c => c.name === 'p2p')?.value }))
      .filter(seed => seed.peerId !== self)
    this.onDiscovery = this.onDiscovery.bind(this)
  }

  start (): void {
    this.libp2p.addEventListener('peer:discovery', this.onDiscovery)
    this.timer = setInterval(() => { this.round() }, roundIntervalMs)
    this.round()
  }

  stop (): void {
    clearInterval(this.timer)
    clearTimeout(this.soon)
    this.libp2p.removeEventListener('peer:discovery', this.onDiscovery)
  }

  private onDiscovery (event: CustomEvent<{ id: PeerId }>): void {
    const id = event.detail.id
    if (id.equals(this.libp2p.peerId)) return
    const key = id.toString()
    this.discovered.delete(key)
    this.discovered.set(key, id)
    if (this.discovered.size > discoveredMax) {
      const oldest = this.discovered.keys().next().value
      if (oldest != null) this.discovered.delete(oldest)
    }
    // Dial soon, batching a burst of discoveries into one round.
    if (this.soon == null) {
      this.soon = setTimeout(() => { this.soon = undefined; this.round() }, 50)
    }
  }

  private due (key: string, now: number): boolean {
    const b = this.backoff.get(key)
    return !this.inFlight.has(key) && (b == null || now >= b.nextMs)
  }

  private failed (key: string, capMs: number): void {
    const b = this.backoff.get(key) ?? { failures: 0, nextMs: 0 }
    b.failures++
    const delay = Math.min(capMs, backoffBaseMs * 2 ** Math.min(b.failures - 1, 10))
    b.nextMs = performance.now() + delay * (0.5 + Math.random())
    this.backoff.set(key, b)
  }

  private dial (key: string, target: Parameters<Libp2p['dial']>[0], capMs: number): void {
    this.inFlight.add(key)
    this.libp2p.dial(target, { signal: AbortSignal.timeout(dialTimeoutMs) })
      .then(() => { this.backoff.delete(key) })
      .catch(() => { this.failed(key, capMs) })
      .finally(() => { this.inFlight.delete(key) })
  }

  private round (): void {
    if (this.libp2p.status !== 'started') return
    const now = performance.now()
    const connected = new Set(this.libp2p.getConnections().map(c => c.remotePeer.toString()))
    if (!this.seedReached && this.seeds.some(s => s.peerId != null && connected.has(s.peerId))) this.seedReached = true

    // Seeds until one answered; later again whenever we are below --min-peers (isolated, or peers left)
    // and the members we know cannot make up the difference.
    const reachableMembers = this.init.members().filter(m => m.preferred).length
    if (!this.seedReached || (connected.size < this.init.minPeers && connected.size >= reachableMembers)) {
      for (const seed of this.seeds) {
        const key = `seed:${seed.address}`
        if (seed.peerId != null && connected.has(seed.peerId)) continue
        if (this.inFlight.size >= dialsInFlightMax || !this.due(key, now)) continue
        this.dial(key, multiaddr(seed.address), backoffMaxMs)
      }
    }

    if (connected.size >= this.init.maxPeers) return
    const self = this.libp2p.peerId.toString()
    const members = this.init.members()
    const candidates: Array<{ key: string, preferred: boolean }> = [
      ...members.filter(m => m.preferred).map(m => ({ key: m.peerId, preferred: true })),
      ...[...this.discovered.keys()].map(key => ({ key, preferred: true })),
      ...members.filter(m => !m.preferred).map(m => ({ key: m.peerId, preferred: false }))
    ]
    let budget = this.init.maxPeers - connected.size
    const tried = new Set<string>()
    for (const key of this.firstSeen.keys()) if (connected.has(key)) this.firstSeen.delete(key)
    if (this.firstSeen.size > discoveredMax * 4) this.firstSeen.clear()
    for (const candidate of candidates) {
      if (budget <= 0 || this.inFlight.size >= dialsInFlightMax) break
      const key = candidate.key
      if (key === self || connected.has(key) || tried.has(key) || !this.due(key, now)) continue
      tried.add(key)
      if (!this.firstSeen.has(key)) this.firstSeen.set(key, now)
      // the smaller PeerId of a pair dials; the larger one only if no connection came within the grace
      if (key < self && now - (this.firstSeen.get(key) ?? now) < tieBreakGraceMs) continue
      let id: PeerId
      try {
        id = this.discovered.get(key) ?? peerIdFromString(key)
      } catch {
        continue
      }
      budget--
      this.dial(key, id, candidate.preferred ? backoffMaxMs : failedRetryMaxMs)
    }
  }
}
