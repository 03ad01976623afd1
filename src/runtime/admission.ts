/**
 * Admission control (issue 13): who may connect, how many connections one IP may hold, and how fast a
 * peer may send on each protocol. One `Admission` per node; bootstrap/libp2p.ts asks it from the
 * connection gater and, through protocols/shared/admission.ts, before every message a peer sends.
 *
 * - Allow list (`--allow-peers <file|list>`, MESH_ALLOW_PEERS, config `allowPeers`): when given, only
 *   these PeerIds, the genesis validators and the node itself get a connection. Enforced by the
 *   libp2p connection gater at the earliest point the remote PeerId is known: before dialing
 *   (`denyDialPeer`), and inbound right after the Noise handshake (`denyInboundEncryptedConnection`),
 *   before muxing, identify or any stream. Without the list everyone is admitted.
 * - Connections per IP (`--max-conns-per-ip`, default 8): inbound raw connections (pending handshakes
 *   and established ones) from one IP address, refused in `denyInboundConnection`, before any
 *   handshake. With the default, loopback addresses are exempt (tests and demos run dozens of nodes on
 *   127.0.0.1); a value given explicitly applies to loopback too.
 * - Rate per peer per protocol: a token bucket (src/core/rate-limit.ts) per protocol, keyed by peer,
 *   at most `rateKeysMax` peers tracked each. Excess messages are dropped and counted by protocol, and
 *   charged to the peer's reputation (`rate-limited`, at most once per `chargeIntervalMs` per peer and
 *   protocol, so one burst costs a little and a sustained flood a lot; genesis validators are never
 *   banned for it, as for anything else).
 *
 * Inbound streams per connection are bounded by each protocol's registration (maxInboundStreams;
 * libp2p resets a stream beyond it): pbft and raft 4 (pbftStreamsMax), sync 2, probe 16, records 16,
 * auction and steal 64 each (taskStreamsMax), msg 16, eventual 2, votes 2, aggregate 4; libp2p's own:
 * ping 8 (bootstrap/libp2p.ts), identify and gossipsub their defaults. What libp2p offers natively and
 * is used: the connection gater hooks, `inboundConnectionThreshold` (connection attempts per host per
 * second, set to 1000 for star joins), `maxIncomingPendingConnections`, `maxConnections` and IP
 * allow/deny lists of multiaddrs in the connection manager. It has no limit on connections held per
 * IP, no PeerId allow list and no per-peer message rate: those three are here.
 *
 * Every refusal is counted by reason (`not-allowed`, `per-ip`, `banned`) and every drop by protocol:
 * GET /v1/admission, and mesh_admission_denied_total{reason} / mesh_network_rate_limited_total{protocol}.
 */
import { readFileSync, statSync } from 'node:fs'
import { peerIdFromString } from '@libp2p/peer-id'
import { Counter, Gauge } from 'prom-client'
import type { Registry } from 'prom-client'
import type { Multiaddr } from '@multiformats/multiaddr'
import { TokenBuckets } from '../core/rate-limit.js'

export class AdmissionError extends Error {
  override readonly name = 'AdmissionError'
}

// ————————————————————————————————————— allow list

/** An allow-list file larger than this is not one (≈ 20,000 PeerIds). */
const allowFileBytesMax = 1_048_576
/** PeerIds in an allow list at most. */
export const allowPeersMax = 10_000

/**
 * Parse an allow list's text: one PeerId per line, `#` starts a comment, blank lines ignored (commas
 * also separate, so a file may hold a comma-separated list). Throws AdmissionError naming the first
 * bad line (1-based) and why.
 */
export function parseAllowList (text: string, origin = 'line'): Set<string> {
  const peers = new Set<string>()
  const lines = text.replace(/\r\n/g, '\n').split('\n')
  for (let i = 0; i < lines.length; i++) {
    const content = (lines[i] as string).replace(/#.*$/, '')
    for (const item of content.split(',')) {
      const entry = item.trim()
      if (entry === '') continue
      const where = origin === 'line' ? `line ${i + 1}` : `${origin}:${i + 1}`
      let parsed
      try {
        parsed = peerIdFromString(entry)
      } catch (err) {
        throw new AdmissionError(`${where}: "${entry.slice(0, 80)}" is not a PeerId (${(err as Error).message})`)
      }
      if (parsed.toString() !== entry) throw new AdmissionError(`${where}: "${entry.slice(0, 80)}" is not in canonical form (expected ${parsed.toString()})`)
      peers.add(entry)
      if (peers.size > allowPeersMax) throw new AdmissionError(`${where}: more than ${allowPeersMax} PeerIds`)
    }
  }
  return peers
}

/**
 * The value of --allow-peers: a path to a file (when one exists there, or the value contains a `/` or
 * starts with `.` or `~`), else a comma-separated list of PeerIds. Throws AdmissionError with the file
 * and line, or the list item, that is wrong.
 */
export function readAllowPeers (value: string): Set<string> {
  const looksLikePath = /[/\\]/.test(value) || value.startsWith('.') || value.startsWith('~')
  let isFile = false
  try { isFile = statSync(value).isFile() } catch {}
  if (isFile || looksLikePath) {
    let text: string
    try {
      if (statSync(value).size > allowFileBytesMax) throw new AdmissionError(`${value}: larger than ${allowFileBytesMax} bytes`)
      text = readFileSync(value, 'utf8')
    } catch (err) {
      if (err instanceof AdmissionError) throw err
      throw new AdmissionError(`${value}: cannot read it (${(err as Error).message})`)
    }
    return parseAllowList(text, value)
  }
  try {
    return parseAllowList(value.split(',').join('\n'))
  } catch (err) {
    throw new AdmissionError(`the list: ${(err as Error).message.replace(/^line (\d+)/, 'item $1')}`)
  }
}

// ————————————————————————————————————— rate limits

/** Protocol classes with a bucket each (bounded label set for counters). */
export const limitedProtocols = ['pbft', 'raft', 'sync', 'probe', 'records', 'auction', 'steal', 'msg', 'eventual', 'votes', 'aggregate', 'gossip', 'other'] as const
export type LimitedProtocol = typeof limitedProtocols[number]

export interface RateLimit { ratePerSec: number, burst: number }

/**
 * Per peer, per protocol: messages (frames, requests, gossip messages) per second sustained, and the
 * burst. Chosen well above what one honest peer sends at the bench's peak (see `npm run bench --
 * flood`: the busiest honest peer's lowest bucket level is printed and never reached 0):
 * - pbft / raft: a validator forwards every client request to the primary/leader as its own frame,
 *   plus 2-3 protocol frames per sequence number to each peer; at ~3,000 writes/s that is a few
 *   thousand frames/s from one peer at most.
 * - gossip: every forwarded topic message counts against the forwarder (after gossipsub's duplicate
 *   check): state records, eventual writes (≤ 256 per batch), votes, broadcasts.
 * - request/response protocols (sync, probe, records, auction, steal, msg, eventual, votes,
 *   aggregate): per request; honest rates are tens per second, task auctions at most hundreds.
 */
export const defaultRateLimits: Readonly<Record<LimitedProtocol, RateLimit>> = {
  pbft: { ratePerSec: 10_000, burst: 20_000 },
  raft: { ratePerSec: 10_000, burst: 20_000 },
  sync: { ratePerSec: 50, burst: 100 },
  probe: { ratePerSec: 100, burst: 200 },
  records: { ratePerSec: 2_000, burst: 4_000 },
  auction: { ratePerSec: 2_000, burst: 4_000 },
  steal: { ratePerSec: 500, burst: 1_000 },
  msg: { ratePerSec: 1_000, burst: 2_000 },
  eventual: { ratePerSec: 500, burst: 1_000 },
  votes: { ratePerSec: 500, burst: 1_000 },
  aggregate: { ratePerSec: 200, burst: 400 },
  gossip: { ratePerSec: 5_000, burst: 10_000 },
  other: { ratePerSec: 1_000, burst: 2_000 }
}

/** Peers tracked per protocol at most (least recently used evicted beyond). */
export const rateKeysMax = 1_024
/** Charge a rate-limited peer's reputation at most this often per protocol. */
export const chargeIntervalMs = 1_000
/** Sweep full buckets this often. */
export const sweepIntervalMs = 10_000
/**
 * A flood: a peer that, within one second, sends at least its sustained rate (and ≥ floodDropsMin)
 * beyond what its bucket allowed — twice the limit or more, and the limits are far above honest
 * rates — is hung up on and refused for `floodCooloffMs`. Dropping alone is not enough: every
 * dropped frame was still decrypted and demultiplexed, and a flood at 15× the limit halved the
 * honest validators' commits (`npm run bench -- flood`). Validators included (a Byzantine
 * validator flooding is cut off like anyone; after the cool-off it reconnects, as after a crash).
 */
export const floodWindowMs = 1_000
export const floodDropsMin = 50
export const floodCooloffMs = 30_000

/** The class of a protocol id (`/mesh/<network>/<name>/<version>`) or `gossip`. */
export function protocolClass (protocol: string): LimitedProtocol {
  if (protocol === 'gossip') return 'gossip'
  const name = /^\/mesh\/[^/]+\/([a-z]+)\//.exec(protocol)?.[1]
  return name !== undefined && (limitedProtocols as readonly string[]).includes(name) ? name as LimitedProtocol : 'other'
}

/**
 * MESH_RATE_LIMITS: overrides, `name=rate/burst` comma-separated (e.g. `pbft=200/400,gossip=100/200`),
 * `*=rate/burst` for every protocol. For tests and for tuning; the defaults suit the bench's peak.
 */
export function parseRateLimits (text: string): Partial<Record<LimitedProtocol, RateLimit>> {
  const out: Partial<Record<LimitedProtocol, RateLimit>> = {}
  for (const item of text.split(',').map(s => s.trim()).filter(s => s !== '')) {
    const match = /^([a-z*]+)=(\d+(?:\.\d+)?)\/(\d+)$/.exec(item)
    if (match == null) throw new AdmissionError(`"${item}" is not name=rate/burst (e.g. pbft=200/400)`)
    const [, name, rate, burst] = match as unknown as [string, string, string, string]
    if (name !== '*' && !(limitedProtocols as readonly string[]).includes(name)) throw new AdmissionError(`"${name}" is not one of ${limitedProtocols.join(', ')} or *`)
    const limit = { ratePerSec: Number(rate), burst: Number(burst) }
    if (!(limit.ratePerSec > 0) || limit.burst < 1) throw new AdmissionError(`"${item}": rate must be > 0 and burst ≥ 1`)
    for (const p of name === '*' ? limitedProtocols : [name as LimitedProtocol]) out[p] = limit
  }
  return out
}

// ————————————————————————————————————— the node's admission

export const deniedReasons = ['not-allowed', 'per-ip', 'banned', 'flood'] as const
export type DeniedReason = typeof deniedReasons[number]

export interface AdmissionInit {
  self: string
  /** The allow list; undefined: everyone is admitted. */
  allowPeers?: ReadonlySet<string>
  /** Always admitted (genesis validators). */
  validators?: ReadonlySet<string>
  /** Inbound connections per IP at most. */
  maxConnsPerIp: number
  /** Loopback addresses are not counted against maxConnsPerIp. */
  exemptLoopback: boolean
  rateLimits?: Partial<Record<LimitedProtocol, RateLimit>>
  /** Charge a peer over its rate (reputation). */
  onRateLimited?: (peer: string, protocol: LimitedProtocol) => void
  /** A peer flooded (see floodDropsMin): close its connections (it is refused for floodCooloffMs). */
  onFlood?: (peer: string, protocol: LimitedProtocol) => void
  /** Clock (ms, monotonic); injectable for tests. */
  now?: () => number
}

export interface AdmissionStatus {
  allowList: { enabled: boolean, peers: number, validators: number }
  maxConnsPerIp: number
  loopbackExempt: boolean
  denied: Record<DeniedReason, number>
  /** Inbound connections held per IP now: the number of IPs, and the busiest one's count. */
  perIp: { addresses: number, busiest: number }
  rateLimited: Record<string, number>
  accepted: Record<string, number>
  /** Peers hung up on for flooding (by protocol), and how many are refused (cooling off) now. */
  floods: { hungUp: Record<string, number>, coolingOff: number, cooloffMs: number }
  /** Per protocol: limit, peers tracked now (≤ keysMax), evictions, the lowest bucket level an accepted message left. */
  buckets: Record<string, { ratePerSec: number, burst: number, tracked: number, keysMax: number, evictions: number, lowestTokens: number }>
}

function ipOf (address: Multiaddr): string | undefined {
  const component = address.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')
  return component?.value
}

function isLoopbackIp (ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.') || ip === '::ffff:127.0.0.1'
}

/** A raw inbound connection as the gater sees it: its address, and a close event. */
export interface InboundConnection {
  remoteAddr: Multiaddr
  addEventListener: (type: 'close', listener: () => void, options?: { once?: boolean }) => void
}

export class Admission {
  readonly denied: Record<DeniedReason, number> = { 'not-allowed': 0, 'per-ip': 0, banned: 0, flood: 0 }
  readonly rateLimited: Record<string, number> = {}
  readonly hungUp: Record<string, number> = {}
  /** Drops per protocol and peer in the current flood window (cleared on every sweep). */
  private readonly floodDrops = new Map<string, { since: number, drops: number }>()
  /** Peers refused until (ms): flooders cooling off. */
  private readonly coolingOff = new Map<string, number>()
  readonly accepted: Record<string, number> = {}
  private readonly buckets = new Map<LimitedProtocol, TokenBuckets>()
  private readonly charged = new Map<string, number>()
  private readonly inboundByIp = new Map<string, number>()
  private readonly now: () => number
  private lastSweepMs = 0

  constructor (readonly init: AdmissionInit) {
    this.now = init.now ?? (() => performance.now())
    for (const protocol of limitedProtocols) {
      const limit = init.rateLimits?.[protocol] ?? defaultRateLimits[protocol]
      this.buckets.set(protocol, new TokenBuckets({ ...limit, keysMax: rateKeysMax }))
      this.rateLimited[protocol] = 0
      this.accepted[protocol] = 0
    }
  }

  /** The allow list says no (not listed, not a validator, not ourselves). Does not count. */
  notAllowed (peer: string): boolean {
    const list = this.init.allowPeers
    if (list === undefined) return false
    return !(list.has(peer) || peer === this.init.self || this.init.validators?.has(peer) === true)
  }

  /** Gater: refuse a peer by the allow list, or a flooder cooling off (counted). */
  denyPeer (peer: string): boolean {
    if (this.cooling(peer)) {
      this.denied.flood++
      return true
    }
    if (!this.notAllowed(peer)) return false
    this.denied['not-allowed']++
    return true
  }

  /** Is the peer a flooder still cooling off? */
  cooling (peer: string): boolean {
    const until = this.coolingOff.get(peer)
    if (until === undefined) return false
    if (this.now() < until) return true
    this.coolingOff.delete(peer)
    return false
  }

  countDenied (reason: DeniedReason): void {
    this.denied[reason]++
  }

  /**
   * Gater, before any handshake: refuse an inbound connection beyond maxConnsPerIp from its IP
   * (counted); an admitted one is counted against its IP until it closes.
   */
  denyInbound (connection: InboundConnection): boolean {
    const ip = ipOf(connection.remoteAddr)
    if (ip === undefined || (this.init.exemptLoopback && isLoopbackIp(ip))) return false
    const held = this.inboundByIp.get(ip) ?? 0
    if (held >= this.init.maxConnsPerIp) {
      this.denied['per-ip']++
      return true
    }
    this.inboundByIp.set(ip, held + 1)
    let released = false
    connection.addEventListener('close', () => {
      if (released) return
      released = true
      const left = (this.inboundByIp.get(ip) ?? 1) - 1
      if (left <= 0) this.inboundByIp.delete(ip)
      else this.inboundByIp.set(ip, left)
    }, { once: true })
    return false
  }

  /** May one more message from `peer` on `protocol` (an id, or 'gossip') pass? Counts both ways. */
  admit (peer: string, protocol: string): boolean {
    const name = protocolClass(protocol)
    const buckets = this.buckets.get(name) as TokenBuckets
    const now = this.now()
    if (now - this.lastSweepMs > sweepIntervalMs) this.sweep(now)
    if (buckets.take(peer, now)) {
      this.accepted[name] = (this.accepted[name] ?? 0) + 1
      return true
    }
    this.rateLimited[name] = (this.rateLimited[name] ?? 0) + 1
    const key = `${name} ${peer}`
    const last = this.charged.get(key)
    if (last === undefined || now - last >= chargeIntervalMs) {
      if (this.charged.size >= rateKeysMax) this.charged.clear()
      this.charged.set(key, now)
      this.init.onRateLimited?.(peer, name)
    }
    this.countFlood(peer, name, now)
    return false
  }

  private countFlood (peer: string, name: LimitedProtocol, now: number): void {
    const key = `${name} ${peer}`
    let window = this.floodDrops.get(key)
    if (window === undefined || now - window.since >= floodWindowMs) {
      if (window === undefined && this.floodDrops.size >= rateKeysMax) this.floodDrops.clear()
      window = { since: now, drops: 0 }
      this.floodDrops.set(key, window)
    }
    window.drops++
    const limit = (this.buckets.get(name) as TokenBuckets).config
    if (window.drops < Math.max(floodDropsMin, limit.ratePerSec) || this.coolingOff.has(peer)) return
    if (this.coolingOff.size >= rateKeysMax) this.coolingOff.clear()
    this.coolingOff.set(peer, now + floodCooloffMs)
    this.floodDrops.delete(key)
    this.hungUp[name] = (this.hungUp[name] ?? 0) + 1
    this.init.onFlood?.(peer, name)
  }

  /** Peers tracked by all the buckets together (bounded by limitedProtocols × rateKeysMax). */
  trackedPeers (): number {
    let total = 0
    for (const b of this.buckets.values()) total += b.size
    return total
  }

  status (): AdmissionStatus {
    const buckets: AdmissionStatus['buckets'] = {}
    for (const [name, b] of this.buckets) {
      buckets[name] = { ratePerSec: b.config.ratePerSec, burst: b.config.burst, tracked: b.size, keysMax: b.config.keysMax, evictions: b.evictions, lowestTokens: Math.floor(b.lowestTokens) }
    }
    let busiest = 0
    for (const n of this.inboundByIp.values()) busiest = Math.max(busiest, n)
    return {
      allowList: { enabled: this.init.allowPeers !== undefined, peers: this.init.allowPeers?.size ?? 0, validators: this.init.validators?.size ?? 0 },
      maxConnsPerIp: this.init.maxConnsPerIp,
      loopbackExempt: this.init.exemptLoopback,
      denied: { ...this.denied },
      perIp: { addresses: this.inboundByIp.size, busiest },
      rateLimited: { ...this.rateLimited },
      accepted: { ...this.accepted },
      floods: { hungUp: { ...this.hungUp }, coolingOff: [...this.coolingOff.values()].filter(until => this.now() < until).length, cooloffMs: floodCooloffMs },
      buckets
    }
  }

  /** mesh_admission_denied_total{reason}, mesh_network_rate_limited_total{protocol}, mesh_admission_flood_hangups_total{protocol}, mesh_admission_tracked_peers. */
  registerMetrics (registry: Registry): void {
    const registers = [registry]
    const denied: Counter = new Counter({
      name: 'mesh_admission_denied_total',
      help: 'Connections refused by admission control, by reason (not-allowed: not on --allow-peers; per-ip: over --max-conns-per-ip; banned: reputation; flood: a flooder cooling off)',
      labelNames: ['reason'],
      registers,
      collect: () => { denied.reset(); for (const r of deniedReasons) denied.inc({ reason: r }, this.denied[r]) }
    })
    const limited: Counter = new Counter({
      name: 'mesh_network_rate_limited_total',
      help: 'Messages from a peer dropped for exceeding its per-protocol rate, by protocol',
      labelNames: ['protocol'],
      registers,
      collect: () => { limited.reset(); for (const p of limitedProtocols) limited.inc({ protocol: p }, this.rateLimited[p] ?? 0) }
    })
    const floods: Counter = new Counter({
      name: 'mesh_admission_flood_hangups_total',
      help: 'Peers hung up on for flooding (twice their rate or more for a second), by protocol; they are refused for 30 s',
      labelNames: ['protocol'],
      registers,
      collect: () => { floods.reset(); for (const p of limitedProtocols) floods.inc({ protocol: p }, this.hungUp[p] ?? 0) }
    })
    const tracked: Gauge = new Gauge({
      name: 'mesh_admission_tracked_peers',
      help: 'Rate-limit buckets held (peers × protocols; bounded)',
      registers,
      collect: () => { tracked.set(this.trackedPeers()) }
    })
  }

  private sweep (now: number): void {
    this.lastSweepMs = now
    for (const b of this.buckets.values()) b.sweep(now)
    for (const [key, at] of this.charged) if (now - at >= chargeIntervalMs) this.charged.delete(key)
    for (const [key, w] of this.floodDrops) if (now - w.since >= floodWindowMs) this.floodDrops.delete(key)
    for (const [peer, until] of this.coolingOff) if (now >= until) this.coolingOff.delete(peer)
  }
}
