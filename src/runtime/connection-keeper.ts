/**
 * Keeps the node connected, and is its only dialer (no @libp2p/bootstrap, no kad-dht: several dialers
 * racing to one peer were where duplicate connections came from). Every round (1 s, and soon after a
 * discovery) this:
 * - dials the seeds, with backoff and jitter, until one has answered, and again whenever the node has
 *   fewer than `minPeers` connections and no other member it could dial (a joiner that started before
 *   its seed, or was cut off, finds its way back);
 * - dials known members (from the membership table) it is not connected to, until `maxPeers`
 *   connections: a mesh of up to `maxPeers + 1` nodes becomes a full mesh, a larger one a sparse random
 *   graph, and a node that loses peers tops up. Members are tried in an order of their own (a hash of
 *   the pair of PeerIds), so joiners spread their links instead of all dialing the first members they
 *   heard of; the hash is symmetric, so two nodes that rank each other high tend to want the same link.
 *   Membership, failure detection and gossip need no full mesh: records travel over gossipsub's mesh
 *   (a few hops) and the sync protocol. Members believed failed are re-dialed too, more slowly, so a
 *   healed partition reconnects;
 * - on a network with a genesis, an observer keeps links to the validators (all of them in a committee
 *   of up to 4, else 2f+1: any f may fail and f+1 remain to vouch for decisions), dialed before the rest;
 * - lets go of links it no longer needs: once it has `minPeers` other peers, its own link to a seed it
 *   would not otherwise have chosen (a star start leaves every joiner on the seed), and, above twice
 *   `maxPeers`, its lowest-ranked outbound links (on-demand dials of tasks, records, probes). Only idle
 *   links (gossip, identify and ping streams only) at least `releaseAfterMs` old, one per round.
 * Two nodes that learn of each other at the same moment would dial each other at once and end up with
 * two connections (each with its own handshake, identify and gossip streams). So of each pair the node
 * with the smaller PeerId dials first; the other waits `tieBreakGraceMs` before dialing too, and the
 * connection gater (bootstrap/libp2p.ts) refuses a crossing dial of the larger while the smaller's own
 * dial is in flight (`dialingSince`).
 *
 * Pinned peers (a validator's fellow validators, from the genesis file) are kept apart from that budget:
 * - the node always holds a direct connection to each of them, even beyond `maxPeers` (they count
 *   towards `maxPeers` for the other dials, but are never held back by it), and the keeper never closes
 *   connections at all, so it never prunes them;
 * - each is tagged `mesh-validator` (value 100, the highest a tag can have) in the peer store. libp2p 3
 *   has no hard "protect" (go-libp2p's `Protect`): once `maxConnections` is exceeded its pruner closes
 *   the connections whose peers have the lowest summed tag value first, so tagged links go last (and it
 *   never closes a connection carrying a stream of a protocol other than identify/autonat/dcutr, such
 *   as the validators' long-lived pBFT stream). The runtime also raises `maxConnections` by the number
 *   of validators. Not a `keep-alive-*` tag: libp2p's own reconnect queue would re-dial those as well,
 *   give up after 5 tries and remove the tag;
 * - when one drops (`peer:disconnect`, or found missing by the 1 s round), it is re-dialed by PeerId, so
 *   with the addresses in the peer store (identify, membership records and the seed list fill it; with
 *   none the dial fails and is retried once a record brings addresses), at once and then with capped exponential backoff (250 ms doubling to
 *   10 s, jittered), never giving up. New addresses for it (`peer:update`) make it due at once. Of a
 *   pair the larger PeerId leaves the first dial to the other for `pinnedTieBreakMs`. One log line per
 *   drop and one when the link is back, whichever side dialed.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p, PeerId, PeerUpdate } from '@libp2p/interface'
import { orderByTier, reputationTier } from '../core/gossip/reputation-policy.js'
import type { IdentifyResult } from '@libp2p/interface'
import { DiscoveryGuard } from './discovery-guard.js' // [mdns]
import { zoneLinkTargets } from '../core/zones.js' // [zones]

export interface ConnectionKeeperInit {
  bootstrap: string[]
  minPeers: number
  maxPeers: number
  /**
   * An observer's validators (from the genesis) and how many of them to stay linked to; absent on a
   * validator (it pins them all) and without a genesis.
   */
  validators?: { peerIds: string[], links: number }
  /** Members to stay connected to; `preferred` false for members believed failed; `zone` ([zones]) '' for none. */
  members: () => Array<{ peerId: string, preferred: boolean, zone?: string }>
  /** [zones] This node's zone ('' for none): it keeps a link into every other zone among the members. */
  selfZone?: string
  /**
   * [mdns] The protocol every member of our network speaks (/mesh/<network>/sync/1.0.0): a discovered
   * peer whose identify lacks it is of another network; it is let go and not dialed again for a while.
   */
  memberProtocol?: string
  /** Peers to hold a direct connection to whatever `maxPeers` says (a validator's fellow validators). */
  pinned?: Array<{ peerId: string, name: string }>
  log: (line: string) => void
  /**
   * [reputation] The node's reputation score of a peer (src/runtime/gossip/reputation.ts): members are
   * wanted and dialed best score tier first (tiers of 20 points; the pair hash orders within a tier),
   * surplus links are released lowest tier first. Absent: all peers are equals.
   */
  score?: (peerId: string) => number
  /** [reputation] Peers never to dial (misbehaving ones while their score is below the ban score). */
  avoid?: (peerId: string) => boolean
}

/** The peer-store tag that makes libp2p's connection pruner close pinned links last. */
export const pinnedTag = 'mesh-validator'
/** The highest value a peer-store tag may have (1-100). */
const pinnedTagValue = 100
const pinnedBackoffBaseMs = 250
const pinnedBackoffMaxMs = 10_000
/** A dial without any known address (libp2p has no peer routing here without a DHT) gives up after this. */
const pinnedLookupTimeoutMs = 5_000
/** How long the larger PeerId of a pinned pair leaves the first (re-)dial to the other. */
const pinnedTieBreakMs = 2_000
/** Pinned dials in flight at once (apart from the other dials, which must not hold them up). */
const pinnedDialsInFlightMax = 8

/**
 * Delay before the next dial of a pinned peer after `failures` failed ones (≥ 1): 250 ms doubling to
 * 10 s, jittered by ±25 % (`random` in [0, 1)) and never above 10 s.
 */
export function pinnedBackoffMs (failures: number, random: number): number {
  const base = Math.min(pinnedBackoffMaxMs, pinnedBackoffBaseMs * 2 ** Math.min(Math.max(failures, 1) - 1, 16))
  return Math.round(Math.min(pinnedBackoffMaxMs, base * (0.75 + 0.5 * random)))
}

interface PinnedLink {
  id: PeerId
  name: string
  connected: boolean
  dialing: boolean
  /** Failed dials since the link was last up (drives the backoff). */
  failures: number
  /** Dials since the drop (for the log line when it is back). */
  dials: number
  nextMs: number
  /** When the drop was noticed; undefined while up and before the first connection. */
  droppedAtMs?: number
  /** Since when this node has been wanting the link (for the tie-break). */
  wantedSinceMs?: number
  /** Addresses in the peer store, to notice new ones. */
  addresses: string
  /** New addresses came while a dial was in flight: do not back off when it fails. */
  fresh: boolean
  /** Aborts an in-flight dial that had no address to go on once addresses come. */
  lookup?: AbortController
  /** When the link last came up (performance.now()). */
  upAtMs?: number
  /**
   * The "link lost" line not written yet: the link dropped within `flapQuietMs` of coming up. That is
   * what a crossing dial looks like from the larger PeerId's side (its own dial completes the handshake
   * at its end, then the smaller's connection gater refuses it, and the smaller's dial takes over
   * within milliseconds): the line is written by the round only if the link is still down
   * `flapQuietMs` later, and neither line is written if it comes back meanwhile.
   */
  lostLinePending?: { atMs: number, wallTime: string }
}

const roundIntervalMs = 1_000
/** A drop this soon after the link came up is logged only once it has lasted this long (see lostLinePending). */
const flapQuietMs = 1_000
/** A link is let go (seed link, surplus) only after this long: the sync on connect is long done. */
const releaseAfterMs = 30_000
/** Streams of these protocols do not make a link busy (every connection carries them). */
const backgroundProtocolPrefixes = ['/meshsub/', '/floodsub/', '/ipfs/id/', '/ipfs/ping/']
/** Dials in flight at once: bounded so a big table does not open hundreds of sockets at once (a star
 * start of 24 nodes on 2 cores thrashes in handshake timeouts with more). */
const dialsInFlightMax = 4
const dialTimeoutMs = 20_000
const backoffBaseMs = 1_000
const backoffMaxMs = 30_000
/** Members believed failed are retried at least this often, so partitions heal promptly. */
const failedRetryMaxMs = 10_000
/** How long the node with the larger PeerId of a pair leaves the first dial to the other. */
const tieBreakGraceMs = 3_000
/** Discovered-but-not-member peers remembered at most (oldest dropped first). */
const discoveredMax = 1024

interface Backoff { failures: number, nextMs: number }

export class ConnectionKeeper {
  private timer?: ReturnType<typeof setInterval>
  /** Dials in flight (not pinned ones), with when each started. */
  private readonly inFlight = new Map<string, number>()
  /** Pinned dials in flight, with when each started. */
  private readonly pinnedInFlight = new Map<string, number>()
  private readonly self: string
  private readonly validatorSet: Set<string>
  private readonly backoff = new Map<string, Backoff>()
  private readonly discovered = new Map<string, PeerId>()
  /** When each candidate was first seen unconnected (for the tie-break grace). */
  private readonly firstSeen = new Map<string, number>()
  private readonly seeds: Array<{ address: string, peerId: string | undefined }>
  private seedReached = false
  private soon?: ReturnType<typeof setTimeout>
  private readonly pinned = new Map<string, PinnedLink>()
  private pinnedWake?: ReturnType<typeof setTimeout>
  private stopped = false
  /** [mdns] Discovered non-members that keep failing (or are of another network) are left alone a while. */
  readonly discoveryGuard = new DiscoveryGuard()

  constructor (private readonly libp2p: Libp2p, private readonly init: ConnectionKeeperInit) {
    const self = libp2p.peerId.toString()
    this.self = self
    this.validatorSet = new Set((init.validators?.peerIds ?? []).filter(v => v !== self))
    this.seeds = init.bootstrap
      .map(address => ({ address, peerId: multiaddr(address).getComponents().find(c => c.name === 'p2p')?.value }))
      .filter(seed => seed.peerId !== self)
    for (const { peerId, name } of init.pinned ?? []) {
      if (peerId === self || this.pinned.has(peerId)) continue
      this.pinned.set(peerId, {
        id: peerIdFromString(peerId), name, connected: false, dialing: false, failures: 0, dials: 0, nextMs: 0, addresses: '', fresh: false
      })
    }
    this.onDiscovery = this.onDiscovery.bind(this)
    this.onConnect = this.onConnect.bind(this)
    this.onDisconnect = this.onDisconnect.bind(this)
    this.onPeerUpdate = this.onPeerUpdate.bind(this)
    this.onIdentify = this.onIdentify.bind(this)
  }

  start (): void {
    this.libp2p.addEventListener('peer:discovery', this.onDiscovery)
    if (this.init.memberProtocol != null) this.libp2p.addEventListener('peer:identify', this.onIdentify) // [mdns]
    if (this.pinned.size > 0) {
      this.libp2p.addEventListener('peer:connect', this.onConnect)
      this.libp2p.addEventListener('peer:disconnect', this.onDisconnect)
      this.libp2p.addEventListener('peer:update', this.onPeerUpdate)
      for (const link of this.pinned.values()) this.tag(link)
      this.init.log(`holding direct links to ${this.pinned.size} validator(s), beyond --max-peers if need be`)
    }
    this.timer = setInterval(() => { this.round() }, roundIntervalMs)
    this.round()
  }

  stop (): void {
    this.stopped = true
    clearInterval(this.timer)
    clearTimeout(this.soon)
    clearTimeout(this.pinnedWake)
    this.libp2p.removeEventListener('peer:discovery', this.onDiscovery)
    this.libp2p.removeEventListener('peer:identify', this.onIdentify) // [mdns]
    this.libp2p.removeEventListener('peer:connect', this.onConnect)
    this.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
    this.libp2p.removeEventListener('peer:update', this.onPeerUpdate)
  }

  /** Since when (performance.now()) our own dial to `peer` is in flight, if one is. */
  dialingSince (peer: string): number | undefined {
    return this.inFlight.get(peer) ?? this.pinnedInFlight.get(peer)
  }

  private tag (link: PinnedLink): void {
    this.libp2p.peerStore.merge(link.id, { tags: { [pinnedTag]: { value: pinnedTagValue } } })
      .catch((err: Error) => { this.init.log(`warning: cannot tag validator ${link.name} (${shortId(link.id.toString())}): ${err.message}`) })
  }

  private onConnect (event: CustomEvent<PeerId>): void {
    const link = this.pinned.get(event.detail.toString())
    if (link != null) this.linkUp(link)
  }

  private onDisconnect (event: CustomEvent<PeerId>): void {
    const link = this.pinned.get(event.detail.toString())
    // peer:disconnect comes when the last connection to the peer has closed
    if (link != null && this.libp2p.getConnections(link.id).length === 0) this.linkDown(link)
  }

  private onPeerUpdate (event: CustomEvent<PeerUpdate>): void {
    const link = this.pinned.get(event.detail.peer.id.toString())
    if (link == null) return
    const addresses = event.detail.peer.addresses.map(a => a.multiaddr.toString()).sort().join(' ')
    if (addresses === link.addresses) return
    link.addresses = addresses
    if (link.connected || addresses === '') return
    // somewhere new to reach it: due at once, and a dial failing right now does not count
    link.failures = 0
    link.nextMs = 0
    if (link.dialing) {
      link.fresh = true
      link.lookup?.abort()
    }
    this.roundSoon()
  }

  private linkUp (link: PinnedLink): void {
    if (link.connected) return
    link.connected = true
    link.upAtMs = performance.now()
    if (link.lostLinePending != null) {
      // a flap (see lostLinePending): neither line
      link.lostLinePending = undefined
    } else if (link.droppedAtMs != null) {
      const seconds = ((performance.now() - link.droppedAtMs) / 1000).toFixed(1)
      this.init.log(`validator ${link.name} (${shortId(link.id.toString())}) link back after ${seconds} s (${link.dials} dial${link.dials === 1 ? '' : 's'} of ours)`)
    }
    link.droppedAtMs = undefined
    link.wantedSinceMs = undefined
    link.failures = 0
    link.dials = 0
    link.nextMs = 0
    link.fresh = false
  }

  private linkDown (link: PinnedLink): void {
    if (!link.connected || this.stopped) return
    const now = performance.now()
    link.connected = false
    link.droppedAtMs = now
    link.wantedSinceMs = now
    link.failures = 0
    link.dials = 0
    link.nextMs = 0
    if (link.upAtMs != null && now - link.upAtMs < flapQuietMs) link.lostLinePending = { atMs: now, wallTime: new Date().toISOString() }
    else this.logLost(link)
    // the peer store may have dropped the peer (and its tags) meanwhile: tag it again for the next link
    this.tag(link)
    this.roundSoon()
  }

  private logLost (link: PinnedLink, since?: string): void {
    this.init.log(`validator ${link.name} (${shortId(link.id.toString())}) link lost${since != null ? ` (at ${since})` : ''}: re-dialing with backoff (${pinnedBackoffBaseMs} ms doubling to ${pinnedBackoffMaxMs / 1000} s)`)
  }

  private dialPinned (link: PinnedLink): void {
    const key = link.id.toString()
    this.pinnedInFlight.set(key, performance.now())
    link.dialing = true
    link.dials++
    link.fresh = false
    const attempt = async (): Promise<void> => {
      let known = false
      try {
        known = (await this.libp2p.peerStore.get(link.id)).addresses.length > 0
      } catch {}
      if (known) {
        await this.libp2p.dial(link.id, { signal: AbortSignal.timeout(dialTimeoutMs) })
        return
      }
      // no address yet: the dial can only fail; stop it as soon as addresses come another way
      const lookup = new AbortController()
      link.lookup = lookup
      await this.libp2p.dial(link.id, { signal: AbortSignal.any([lookup.signal, AbortSignal.timeout(pinnedLookupTimeoutMs)]) })
    }
    attempt()
      .then(() => { this.linkUp(link) }, () => {
        if (link.connected) return
        link.failures++
        link.nextMs = link.fresh ? 0 : performance.now() + pinnedBackoffMs(link.failures, Math.random())
      })
      .finally(() => {
        this.pinnedInFlight.delete(key)
        link.dialing = false
        link.lookup = undefined
        link.fresh = false
        // plan the next try now rather than at the next round
        if (!link.connected) this.checkPinned()
      })
  }

  /** Dial each pinned peer we have no connection to, when due; notices links that dropped unseen. */
  private keepPinned (connected: Set<string>, now: number): void {
    const self = this.libp2p.peerId.toString()
    let inFlight = 0
    for (const link of this.pinned.values()) if (link.dialing) inFlight++
    let wakeMs = Infinity
    for (const [key, link] of this.pinned) {
      if (connected.has(key)) {
        this.linkUp(link)
        continue
      }
      if (link.connected) this.linkDown(link)
      link.wantedSinceMs ??= now
      if (link.dialing) continue
      // the smaller PeerId of a pair (re-)dials at once; the larger leaves it the first try
      const dueMs = key < self && link.failures === 0 ? Math.max(link.nextMs, link.wantedSinceMs + pinnedTieBreakMs) : link.nextMs
      if (now < dueMs) {
        wakeMs = Math.min(wakeMs, dueMs)
        continue
      }
      // every pinned dial that ends runs this check again
      if (inFlight >= pinnedDialsInFlightMax) continue
      inFlight++
      this.dialPinned(link)
    }
    // wake for the next one due, rather than at a later round (the backoff steps are finer than it)
    clearTimeout(this.pinnedWake)
    this.pinnedWake = undefined
    if (wakeMs !== Infinity && !this.stopped) {
      this.pinnedWake = setTimeout(() => { this.pinnedWake = undefined; this.checkPinned() }, Math.max(10, wakeMs - now))
    }
  }

  private checkPinned (): void {
    if (this.libp2p.status !== 'started' || this.stopped) return
    this.keepPinned(new Set(this.libp2p.getConnections().map(c => c.remotePeer.toString())), performance.now())
  }

  private roundSoon (): void {
    if (this.soon == null && !this.stopped) {
      this.soon = setTimeout(() => { this.soon = undefined; this.round() }, 50)
    }
  }

  private onDiscovery (event: CustomEvent<{ id: PeerId }>): void {
    const id = event.detail.id
    if (id.equals(this.libp2p.peerId)) return
    const key = id.toString()
    // [mdns] a peer that kept failing, or is of another network: not again until its quarantine ends
    if (this.discoveryGuard.blocked(key, performance.now())) return
    this.discovered.delete(key)
    this.discovered.set(key, id)
    if (this.discovered.size > discoveredMax) {
      const oldest = this.discovered.keys().next().value
      if (oldest != null) this.discovered.delete(oldest)
    }
    // Dial soon, batching a burst of discoveries into one round.
    this.roundSoon()
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
    this.inFlight.set(key, performance.now())
    this.libp2p.dial(target, { signal: AbortSignal.timeout(dialTimeoutMs) })
      .then(() => { this.backoff.delete(key) })
      .catch(() => {
        this.failed(key, capMs)
        // [mdns] a discovered peer that is not a member: bounded retries, then a quarantine
        if (this.discovered.has(key) && !this.isMember(key) && this.discoveryGuard.failure(key, performance.now())) {
          this.discovered.delete(key)
          this.init.log(`discovered peer ${shortId(key)} (not a member) unreachable after ${this.discoveryGuard.failuresMax} dials (gone, a stale address, or another private network's key): not dialing it on discovery for ${this.discoveryGuard.quarantineMs / 60_000} min`)
        }
      })
      .finally(() => { this.inFlight.delete(key) })
  }

  /** [mdns] Whether `peer` is in the membership table. */
  private isMember (peer: string): boolean {
    return this.init.members().some(m => m.peerId === peer)
  }

  /**
   * [mdns] A discovered peer that does not speak our membership protocol is of another network (its
   * protocol ids carry its network name): quarantine it, and close the connections we dialed to it.
   */
  private onIdentify (event: CustomEvent<IdentifyResult>): void {
    const protocol = this.init.memberProtocol
    const key = event.detail.peerId.toString()
    if (protocol == null || !this.discovered.has(key) || event.detail.protocols.includes(protocol)) return
    if (this.isMember(key)) return
    this.discovered.delete(key)
    this.discoveryGuard.foreign(key, performance.now())
    this.init.log(`discovered peer ${shortId(key)} is not of this network (no ${protocol}): closing and ignoring it for ${this.discoveryGuard.quarantineMs / 60_000} min`)
    for (const c of this.libp2p.getConnections(event.detail.peerId)) {
      if (c.direction === 'outbound') c.close().catch(err => { c.abort(err instanceof Error ? err : new Error(String(err))) })
    }
  }

  /**
   * [mcp] Re-balance now (an operator's request: POST /v1/topology/optimize): plan from the current
   * connections and the members worth dialing (`planRebalance`), hang up on the surplus above
   * `maxPeers`, dial up to `minPeers` bypassing backoff and the tie-break (it is an explicit request),
   * and say what happened. Every hang-up and dial is bounded by `timeoutMs`.
   */
  async rebalance (options: { rttMs: (peerId: string) => number | null, preferred: Set<string>, timeoutMs: number }): Promise<RebalanceReport> {
    const counts = (): { connections: number, peers: number } => {
      const connections = this.libp2p.getConnections()
      return { connections: connections.length, peers: new Set(connections.map(c => c.remotePeer.toString())).size }
    }
    const before = counts()
    const opened = new Map<string, number>()
    for (const c of this.libp2p.getConnections()) {
      const key = c.remotePeer.toString()
      opened.set(key, Math.min(opened.get(key) ?? Infinity, c.timeline.open))
    }
    const self = this.libp2p.peerId.toString()
    const plan = planRebalance({
      connected: [...opened].map(([peerId, openedAtMs]) => ({
        peerId, openedAtMs, rttMs: options.rttMs(peerId), pinned: this.pinned.has(peerId), preferred: options.preferred.has(peerId), reputation: this.init.score?.(peerId)
      })),
      candidates: this.init.members().filter(m => m.preferred && m.peerId !== self && this.init.avoid?.(m.peerId) !== true)
        .map(m => ({ peerId: m.peerId, rttMs: options.rttMs(m.peerId), reputation: this.init.score?.(m.peerId) })),
      minPeers: this.init.minPeers,
      maxPeers: this.init.maxPeers
    })
    const closed = await Promise.all(plan.close.map(async ({ peerId, reason }) => {
      try {
        await this.libp2p.hangUp(peerIdFromString(peerId), { signal: AbortSignal.timeout(options.timeoutMs) })
        return { peerId, reason, ok: true }
      } catch (err) {
        return { peerId, reason, ok: false, error: (err as Error).message }
      }
    }))
    const dialed = await Promise.all(plan.dial.map(async peerId => {
      this.inFlight.set(peerId, performance.now())
      try {
        await this.libp2p.dial(peerIdFromString(peerId), { signal: AbortSignal.timeout(options.timeoutMs) })
        this.backoff.delete(peerId)
        return { peerId, ok: true }
      } catch (err) {
        return { peerId, ok: false, error: (err as Error).message }
      } finally {
        this.inFlight.delete(peerId)
      }
    }))
    if (closed.length > 0 || dialed.length > 0) {
      this.init.log(`re-balanced on request: closed ${closed.filter(c => c.ok).length}, dialed ${dialed.filter(d => d.ok).length}/${dialed.length} (peers ${before.peers} → ${counts().peers}; --min-peers ${this.init.minPeers}, --max-peers ${this.init.maxPeers})`)
    }
    return { minPeers: this.init.minPeers, maxPeers: this.init.maxPeers, before, after: counts(), closed, dialed }
  }

  /** This node's order of preference for a link to `peer`: lower first (symmetric in the pair). */
  private rank (peer: string): number {
    return pairRank(this.self, peer)
  }

  private round (): void {
    if (this.libp2p.status !== 'started') return
    const now = performance.now()
    const connections = this.libp2p.getConnections()
    const connected = new Set(connections.map(c => c.remotePeer.toString()))
    if (this.pinned.size > 0) {
      for (const link of this.pinned.values()) {
        const pending = link.lostLinePending
        if (pending != null && !link.connected && now - pending.atMs >= flapQuietMs) {
          link.lostLinePending = undefined
          this.logLost(link, pending.wallTime)
        }
      }
      this.keepPinned(connected, now)
    }
    if (!this.seedReached && this.seeds.some(s => s.peerId != null && connected.has(s.peerId))) this.seedReached = true

    const avoid = this.init.avoid
    const members = avoid == null ? this.init.members() : this.init.members().filter(m => !avoid(m.peerId))
    // Seeds until one answered; later again whenever we are below --min-peers (isolated, or peers left)
    // and the members we know cannot make up the difference.
    const reachableMembers = members.filter(m => m.preferred).length
    if (!this.seedReached || (connected.size < this.init.minPeers && connected.size >= reachableMembers)) {
      for (const seed of this.seeds) {
        const key = `seed:${seed.address}`
        if (seed.peerId != null && connected.has(seed.peerId)) continue
        if (this.inFlight.size >= dialsInFlightMax || !this.due(key, now)) continue
        this.dial(key, multiaddr(seed.address), backoffMaxMs)
      }
    }

    const self = this.self
    const preferred = this.byReputation(members.filter(m => m.preferred && m.peerId !== self).map(m => m.peerId)
      .sort((a, b) => this.rank(a) - this.rank(b) || (a < b ? -1 : 1)))
    // the links this node would choose: its validator links, then its best-ranked members
    const wanted = new Set<string>()
    const validatorLinks = this.init.validators?.links ?? 0
    const validators = preferred.filter(p => this.validatorSet.has(p))
    for (const v of validators.slice(0, validatorLinks)) wanted.add(v)
    // [zones] a link into every other zone it knows (redundant paths): kept, and dialed beyond the budget
    const zoneDials = this.zoneLinks(members, connected, avoid)
    for (const z of zoneDials.keep) wanted.add(z)
    for (const p of preferred) {
      if (wanted.size >= this.init.maxPeers + Math.min(validatorLinks, validators.length)) break
      if (!wanted.has(p) && !this.pinned.has(p)) wanted.add(p)
    }
    this.release(connections, connected, wanted, now)

    for (const key of this.firstSeen.keys()) if (connected.has(key)) this.firstSeen.delete(key)
    if (this.firstSeen.size > discoveredMax * 4) this.firstSeen.clear()
    const tried = new Set<string>()
    // an observer's validator links first, whatever the budget
    const linkedValidators = validators.filter(v => connected.has(v)).length
    let validatorBudget = validatorLinks - linkedValidators
    for (const key of validators) {
      if (validatorBudget <= 0 || this.inFlight.size >= dialsInFlightMax) break
      if (connected.has(key) || !this.due(key, now)) continue
      tried.add(key)
      validatorBudget--
      // held back: the smaller PeerId is expected to dial us; it still counts against the budget
      if (this.heldBack(key, now)) continue
      this.dial(key, peerIdFromString(key), backoffMaxMs)
    }

    // [zones] one dial into each zone not linked yet, whatever the budget (zoneLinksMax at most)
    for (const key of zoneDials.dial) {
      if (this.inFlight.size >= dialsInFlightMax) break
      if (connected.has(key) || tried.has(key) || this.pinned.has(key) || !this.due(key, now)) continue
      tried.add(key)
      if (this.heldBack(key, now)) continue
      this.dial(key, peerIdFromString(key), backoffMaxMs)
    }

    if (connected.size >= this.init.maxPeers) return
    const candidates: Array<{ key: string, preferred: boolean }> = [
      ...preferred.map(key => ({ key, preferred: true })),
      ...[...this.discovered.keys()].filter(key => avoid == null || !avoid(key)).map(key => ({ key, preferred: true })),
      ...members.filter(m => !m.preferred).map(m => ({ key: m.peerId, preferred: false }))
    ]
    let budget = this.init.maxPeers - connected.size
    for (const candidate of candidates) {
      if (budget <= 0 || this.inFlight.size >= dialsInFlightMax) break
      const key = candidate.key
      // pinned peers are dialed by keepPinned, whatever the budget
      if (key === self || connected.has(key) || tried.has(key) || this.pinned.has(key) || !this.due(key, now)) continue
      tried.add(key)
      let id: PeerId
      try {
        id = this.discovered.get(key) ?? peerIdFromString(key)
      } catch {
        continue
      }
      budget--
      if (this.heldBack(key, now)) continue
      this.dial(key, id, candidate.preferred ? backoffMaxMs : failedRetryMaxMs)
    }
  }

  /**
   * [zones] The zone links (src/core/zones.ts `zoneLinkTargets`): peers to dial into zones not linked
   * yet, and one connected peer per linked zone to keep (not released as surplus). Nothing without zones.
   */
  private zoneLinks (members: Array<{ peerId: string, preferred: boolean, zone?: string }>, connected: Set<string>, avoid: ((peerId: string) => boolean) | undefined): { dial: string[], keep: string[] } {
    const selfZone = this.init.selfZone ?? ''
    if (selfZone === '' && members.every(m => (m.zone ?? '') === '')) return { dial: [], keep: [] }
    const zoneOf = new Map(members.map(m => [m.peerId, m.zone ?? '']))
    const linkedPeers = [...connected].flatMap(peerId => { const zone = zoneOf.get(peerId); return zone == null ? [] : [{ peerId, zone }] })
    const { dial } = zoneLinkTargets({
      selfZone,
      connected: linkedPeers,
      candidates: members.filter(m => m.preferred && m.peerId !== this.self && (avoid == null || !avoid(m.peerId))).map(m => ({ peerId: m.peerId, zone: m.zone ?? '' })),
      rank: peer => this.rank(peer)
    })
    // keep the best-ranked connected peer of each other zone
    const keepByZone = new Map<string, string>()
    for (const { peerId, zone } of linkedPeers) {
      if (zone === selfZone) continue
      const current = keepByZone.get(zone)
      if (current == null || this.rank(peerId) < this.rank(current)) keepByZone.set(zone, peerId)
    }
    return { dial, keep: [...keepByZone.values()] }
  }

  /** [reputation] Best score tier first, the given order (pair hash) within a tier. */
  private byReputation (peers: string[]): string[] {
    const score = this.init.score
    return score == null ? peers : orderByTier(peers, score)
  }

  /** The smaller PeerId of a pair dials; the larger one only if no connection came within the grace. */
  private heldBack (key: string, now: number): boolean {
    if (!this.firstSeen.has(key)) this.firstSeen.set(key, now)
    return key < this.self && now - (this.firstSeen.get(key) ?? now) < tieBreakGraceMs
  }

  /**
   * Let go of one link this node dialed and no longer needs: its seed link once it has `minPeers`
   * other peers (unless it would have chosen the seed anyway), or, above twice `maxPeers`, its
   * lowest-ranked link. Never a pinned or wanted link, an inbound one (the dialer's to decide), a link
   * younger than `releaseAfterMs`, or one carrying other streams than gossip, identify and ping.
   */
  private release (connections: ReturnType<Libp2p['getConnections']>, connected: Set<string>, wanted: Set<string>, now: number): void {
    const wallNow = Date.now()
    const releasable = connections.filter(c => {
      const key = c.remotePeer.toString()
      return c.direction === 'outbound' && c.status === 'open' && !wanted.has(key) && !this.pinned.has(key) &&
        wallNow - c.timeline.open >= releaseAfterMs &&
        c.streams.every(s => backgroundProtocolPrefixes.some(prefix => s.protocol?.startsWith(prefix) === true))
    })
    if (releasable.length === 0) return
    const seedIds = new Set(this.seeds.flatMap(s => s.peerId == null ? [] : [s.peerId]))
    const others = [...connected].filter(p => !seedIds.has(p)).length
    const seedLink = others >= this.init.minPeers ? releasable.find(c => seedIds.has(c.remotePeer.toString())) : undefined
    // [reputation] the surplus link to let go: the lowest score tier first, then the lowest-ranked
    const tier = (c: (typeof releasable)[number]): number => this.init.score == null ? 0 : reputationTier(this.init.score(c.remotePeer.toString()))
    const surplus = connected.size > 2 * this.init.maxPeers
      ? releasable.sort((a, b) => tier(a) - tier(b) || this.rank(b.remotePeer.toString()) - this.rank(a.remotePeer.toString()))[0]
      : undefined
    const victim = seedLink ?? surplus
    if (victim == null) return
    const key = victim.remotePeer.toString()
    // not straight back: the dial loop would otherwise re-dial it at once while below maxPeers
    this.backoff.set(key, { failures: 0, nextMs: now + releaseAfterMs })
    victim.close().catch(err => { victim.abort(err instanceof Error ? err : new Error(String(err))) })
  }
}

/** FNV-1a of the two PeerIds in sorted order: the same for both ends of a pair. */
export function pairRank (a: string, b: string): number {
  const text = a < b ? `${a}/${b}` : `${b}/${a}`
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

function shortId (peerId: string): string {
  return peerId.length > 12 ? `…${peerId.slice(-8)}` : peerId
}

// ── [mcp] re-balancing on request (POST /v1/topology/optimize, the MCP tool topology_optimize) ──

/** Dials one re-balance starts at most, whatever --min-peers says (each is a socket and a handshake). */
export const rebalanceDialsMax = 16

export interface RebalancePeer {
  peerId: string
  /** Last measured round-trip time; null when not measured yet. */
  rttMs: number | null
  /** A pinned link (a validator's fellow validator): held beyond --max-peers, never closed. */
  pinned: boolean
  /** A link worth keeping over others (to a validator): closed only after every other one. */
  preferred: boolean
  /** When the oldest connection to this peer opened (ms, any clock): older links are kept first. */
  openedAtMs: number
  /** [reputation] The node's score of the peer: a lower score tier is closed first, dialed last (absent: 0). */
  reputation?: number
}

export interface RebalancePlan {
  /** Peers to hang up on, worst first, each with why. */
  close: Array<{ peerId: string, reason: string }>
  /** Alive members to dial, best first. */
  dial: string[]
}

/**
 * What a re-balance does, decided from a snapshot (pure; unit-tested): above `maxPeers` connected peers,
 * hang up on the surplus, keeping pinned links always, then preferred (validator) links, then the better
 * reputation tier, then the lowest RTT (unmeasured counts as the worst), then the oldest; below
 * `minPeers`, dial unconnected alive members, best reputation tier first, then measured-lowest RTT,
 * until `minPeers` (at most `rebalanceDialsMax`).
 */
export function planRebalance (input: { connected: RebalancePeer[], candidates: Array<{ peerId: string, rttMs: number | null, reputation?: number }>, minPeers: number, maxPeers: number }): RebalancePlan {
  const rank = (rtt: number | null): number => rtt ?? Infinity
  const tier = (score: number | undefined): number => reputationTier(score ?? 0)
  const close: RebalancePlan['close'] = []
  const surplus = input.connected.length - input.maxPeers
  if (surplus > 0) {
    // worst first: not preferred before preferred, then highest RTT, then newest
    const closable = input.connected
      .filter(p => !p.pinned)
      .sort((a, b) => Number(a.preferred) - Number(b.preferred) || tier(a.reputation) - tier(b.reputation) || rank(b.rttMs) - rank(a.rttMs) ||
        b.openedAtMs - a.openedAtMs || a.peerId.localeCompare(b.peerId))
    for (const peer of closable.slice(0, surplus)) {
      close.push({ peerId: peer.peerId, reason: `over --max-peers ${input.maxPeers} (rtt ${peer.rttMs == null ? 'not measured' : `${Math.round(peer.rttMs * 10) / 10} ms`}${peer.preferred ? ', validator link' : ''})` })
    }
  }
  const after = input.connected.length - close.length
  const connected = new Set(input.connected.map(p => p.peerId))
  const want = Math.min(rebalanceDialsMax, Math.max(0, input.minPeers - after))
  const unique = new Map(input.candidates.filter(c => !connected.has(c.peerId)).map(c => [c.peerId, c]))
  const dial = [...unique.values()]
    .sort((a, b) => tier(b.reputation) - tier(a.reputation) || rank(a.rttMs) - rank(b.rttMs) || a.peerId.localeCompare(b.peerId))
    .slice(0, want)
    .map(c => c.peerId)
  return { close, dial }
}

export interface RebalanceReport {
  minPeers: number
  maxPeers: number
  before: { connections: number, peers: number }
  after: { connections: number, peers: number }
  closed: Array<{ peerId: string, reason: string, ok: boolean, error?: string }>
  dialed: Array<{ peerId: string, ok: boolean, error?: string }>
}
