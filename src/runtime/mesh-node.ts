/**
 * The runtime of one node: builds the libp2p host, feeds the membership core with verified records,
 * verdicts, probe answers and clock ticks, and performs the effects the core returns.
 *
 * Time given to the core is `performance.now()` (monotonic), never the wall clock.
 */
import { cpus } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { IntervalHistogram } from 'node:perf_hooks'
import { Counter, Registry } from 'prom-client'
import { streamRefusalReasons } from '../../protocols/shared/refusals.js' // [fuzz]
import type { RefusalCounter } from '../../protocols/shared/refusals.js' // [fuzz]
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Message } from '@libp2p/gossipsub'
import { Membership, membershipConfig } from '../core/membership.js'
import type { Effect, MemberState } from '../core/membership.js'
import { createMeshLibp2p } from '../../bootstrap/libp2p.js'
import type { MeshLibp2p } from '../../bootstrap/libp2p.js'
import { openEnvelope, RecordRejectedError, sealRecord, sealVerdict } from '../../protocols/state/codec.js'
import type { Neighbour, NodeLoad, NodeRecord, OpenedEnvelope, RejectReason } from '../../protocols/state/codec.js'
import { envelopeBytesMax, neighboursCountMax, stateTopic } from '../../protocols/state/constants.js'
import { Envelope, EnvelopeKind } from '../../protocols/state/state.js'
import { ConnectionKeeper } from './connection-keeper.js'
import { mdnsServiceTag, resolveMdns } from './mdns.js' // [mdns]
import { syncProtocol } from '../../protocols/sync/constants.js' // [mdns]
import type { RebalanceReport } from './connection-keeper.js'
import { PbftConsensus } from './consensus/pbft.js'
import type { Consensus } from './consensus/types.js'
import { RaftConsensus } from './consensus/raft.js'
import type { RaftLog } from './consensus/raft-log.js'
import { consensusMode } from './consensus/genesis.js'
import type { ReplicaStore } from './consensus/pbft.js'
import type { Genesis } from './consensus/genesis.js'
import type { Application } from '../core/pbft/types.js'
import type { NodeConfig } from './config.js'
import { PeerReputation } from './gossip/reputation.js'
import type { ReputationView } from './gossip/reputation.js'
import { Admission } from './admission.js' // [admission]
import type { LimitedProtocol, RateLimit } from './admission.js' // [admission]
import type { ReachabilitySummary } from './reachability.js' // [nat]

export interface MemberView {
  peerId: string
  name: string
  state: MemberState
  self: boolean
  incarnation: number
  sequence: number
  /** Milliseconds since the last sign of life (0 for ourselves). */
  lastSeenMs: number
  rttMs: number | null
  connected: boolean
  capabilities: string[]
  load: NodeLoad
  addresses: string[]
  startedAt: string | null
  /**
   * The members it holds a connection to, with the RTT it measured (from its gossiped record; live for
   * ourselves); null when its record predates the field. At most 64 (protocols/state/constants.ts).
   */
  neighbours: Neighbour[] | null
  /** [reputation] This node's reputation of the member (src/runtime/gossip/reputation.ts); null for ourselves. */
  reputation?: ReputationView | null
  /** [zones] Its zone (--zone, from its gossiped record); null without one. */
  zone?: string | null
}

export interface ConnectionView {
  peerId: string
  direction: 'inbound' | 'outbound'
  remoteAddr: string
  openedAt: string
}

export interface NodeStatus {
  peerId: string
  name: string
  network: string
  incarnation: number
  multiaddrs: string[]
  api: string | null
  connections: number
  connectedPeers: number
  partitioned: boolean
  mode: 'read-write' | 'read-only'
  reachable: number
  known: number
  counts: Record<MemberState, number>
  members: MemberView[]
  rejected: Record<RejectReason, number>
  uptimeMs: number
  startedAt: string
  heartbeatIntervalMs: number
  failureTimeoutMs: number
  /** Local health: factor (≥ 1) by which failure timeouts are stretched while this node lags. */
  slowdown: number
  /** On a consensus network: where this node's copy of the decision log stands (null without a genesis). */
  consensus: { role: 'validator' | 'observer', view: number | null, lastExecuted: number | null, highestKnown: number | null, behind: number, catchingUp: boolean } | null
  /**
   * [aggregate] The mesh size as gossip aggregation estimates it (the largest count of the last few
   * epochs), and whether this node reaches fewer than half of that many members (`partitionSuspected`):
   * a second, mesh-wide sense of "partitioned" beside the membership one above. It is reported only;
   * `partitioned`, `mode` and the consensus write rule stay the membership's. Absent without aggregation.
   */
  meshSize?: { estimated: number | null, reachable: number, partitionSuspected: boolean }
  /** [zones] This node's zone (--zone); null without one. */
  zone?: string | null
  /** [mdns] LAN discovery: on or off and why, and the mDNS service name it answers to. */
  mdns?: { enabled: boolean, reason: string, serviceTag: string | null }
  /** [nat] Reachability: AutoNAT verdict, relay server and reservations, relayed/direct links, hole punching (src/runtime/reachability.ts). */
  reachability?: ReachabilitySummary
}

export interface MeshNodeOptions {
  privateKey: PrivateKey
  /** A private network's pre-shared key (read from --psk-file by the CLI; src/runtime/psk.ts). */
  psk?: Uint8Array
  incarnation: number
  /** Human-readable event lines (member changes, warnings). */
  log?: (line: string) => void
  /** Machine-readable timing events (MESH_TRACE=gossip): own publishes and records first applied. */
  trace?: (event: TraceEvent) => void
  /** With a genesis the node takes part in consensus (as a validator if listed, else as an observer). */
  consensus?: { genesis: Genesis, app: Application, store: ReplicaStore | null, byzantine?: 'equivocate', raftStore?: RaftLog | null, openRaftStore?: () => RaftLog }
  /** The node's Prometheus registry, where libp2p registers its own metrics (a fresh one if absent). */
  metricsRegistry?: Registry
  /**
   * [admission] The allow list read from --allow-peers (src/runtime/admission.ts; none: everyone),
   * whether loopback counts against --max-conns-per-ip, and rate-limit overrides (MESH_RATE_LIMITS).
   */
  admission?: { allowPeers?: ReadonlySet<string>, exemptLoopback?: boolean, rateLimits?: Partial<Record<LimitedProtocol, RateLimit>> }
}

export type TraceEvent =
  | { trace: 'publish', peerId: string, incarnation: number, sequence: number, atMs: number }
  | { trace: 'record', peerId: string, incarnation: number, sequence: number, atMs: number, via: 'gossip' | 'sync' }

interface StoredRecord {
  record: NodeRecord
  envelope: Uint8Array<ArrayBuffer>
}

/**
 * How often the core gets a tick: a twentieth of the failure timeout (500 ms at the default 10 s), at
 * least every 50 ms. Detection is then late by at most 5 % of the timeout; an idle node wakes less.
 */
function tickIntervalMs (failureTimeoutMs: number): number {
  return Math.max(50, Math.min(500, Math.floor(failureTimeoutMs / 20)))
}

/** Re-measure the RTT to a connected member at most this often (each is a ping stream: idle cost). */
const rttIntervalMs = 30_000
/** Grace after publishing our leave record before the host stops (bounded; exit stays under 5 s). */
const leaveGraceMs = 1_500

const emptyRejected = (): Record<RejectReason, number> => ({
  oversize: 0, undecodable: 0, invalid: 0, 'bad-signature': 0, 'sender-mismatch': 0, stale: 0, 'wrong-kind': 0
})

function shortId (peerId: string): string {
  return peerId.length > 12 ? `…${peerId.slice(-8)}` : peerId
}

/** Host CPU utilisation between two samples of os.cpus(). */
class CpuSampler {
  private last = this.sample()
  private sample (): { busy: number, total: number } {
    let busy = 0
    let total = 0
    for (const cpu of cpus()) {
      const t = cpu.times
      const all = t.user + t.nice + t.sys + t.idle + t.irq
      total += all
      busy += all - t.idle
    }
    return { busy, total }
  }

  utilisation (): number {
    const now = this.sample()
    const total = now.total - this.last.total
    const busy = now.busy - this.last.busy
    this.last = now
    return total <= 0 ? 0 : Math.min(1, Math.max(0, busy / total))
  }
}

/** How long one built status is reused (see MeshNode.status). */
const statusCacheMs = 25

export class MeshNode {
  readonly peerId: string
  readonly topic: string
  readonly libp2p: MeshLibp2p
  private readonly membership: Membership
  private readonly records = new Map<string, StoredRecord>()
  private readonly verdicts = new Map<string, Uint8Array<ArrayBuffer>>()
  private readonly rtts = new Map<string, { rttMs: number, atMs: number }>()
  readonly rejected = emptyRejected()
  private selfRecord: NodeRecord
  private selfEnvelope: Uint8Array<ArrayBuffer> | undefined
  private readonly keeper: ConnectionKeeper
  private readonly cpu = new CpuSampler()
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 })
  private slowdown = 1
  private readonly timers: Array<ReturnType<typeof setInterval>> = []
  private readonly startedAtWall = new Date()
  private readonly startedAtMono = performance.now()
  private readonly log: (line: string) => void
  private stopping = false
  apiUrl: string | null = null
  /** The genesis' engine behind the engine-agnostic interface (null without a genesis). */
  consensus: Consensus | null = null
  /** The same object when the engine is pBFT: the pbft transport hands it frames. */
  private pbft: PbftConsensus | null = null
  /** The same object when the engine is Raft: the raft transport hands it frames. */
  private raft: RaftConsensus | null = null
  /** Prometheus registry of this node: libp2p's metrics, and ours (src/runtime/metrics/metrics.ts). */
  metricsRegistry: Registry = new Registry()
  /** [reputation] What this node thinks of each peer (drives the keeper, probes, auctions, gossipsub). */
  readonly reputation: PeerReputation
  /** [admission] Allow list, connections per IP, rate per peer per protocol (src/runtime/admission.ts). */
  admission?: Admission
  /** [aggregate] The gossip estimate of the mesh size (src/runtime/gossip/aggregation.ts), once wired. */
  private meshSizeEstimate: (() => number | undefined) | undefined
  /** [mdns] LAN discovery as resolved at start (src/runtime/mdns.ts). */
  mdns: { enabled: boolean, reason: string, serviceTag: string | null } = { enabled: false, reason: 'not started', serviceTag: null }

  private constructor (readonly config: NodeConfig, private readonly options: MeshNodeOptions, libp2p: MeshLibp2p, reputation: PeerReputation) {
    this.libp2p = libp2p
    this.reputation = reputation
    this.peerId = libp2p.peerId.toString()
    this.topic = stateTopic(config.network)
    this.log = options.log ?? (() => {})
    this.membership = new Membership(membershipConfig({
      self: this.peerId,
      selfIncarnation: options.incarnation,
      failureTimeoutMs: config.failureTimeoutMs,
      seed: hashSeed(this.peerId, options.incarnation),
      // [reputation] indirect probes go to well-reputed members first
      helperScore: peerId => reputation.score(peerId)
    }), performance.now())
    this.selfRecord = {
      peerId: this.peerId,
      name: config.name,
      capabilities: config.capabilities,
      addresses: [],
      incarnation: options.incarnation,
      sequence: 0,
      load: { queued: 0, running: 0, capacity: cpus().length, cpu: 0 },
      startedAtMs: this.startedAtWall.getTime(),
      leaving: false,
      ...(config.zone != null ? { zone: config.zone } : {}) // [zones]
    }
    this.keeper = new ConnectionKeeper(libp2p, {
      bootstrap: config.bootstrap,
      minPeers: config.minPeers,
      maxPeers: config.maxPeers,
      members: () => this.membership.list()
        .filter(m => m.peerId !== this.peerId && (m.state === 'alive' || m.state === 'suspect' || m.state === 'failed'))
        .map(m => ({ peerId: m.peerId, preferred: m.state !== 'failed', zone: this.records.get(m.peerId)?.record.zone ?? '' })), // [zones] zone
      selfZone: config.zone ?? '', // [zones] a link into every other zone
      memberProtocol: syncProtocol(config.network), // [mdns] discovered peers of another network are let go
      // a validator holds a direct link to every other validator, beyond --max-peers if need be
      pinned: validatorLinks(this.peerId, options.consensus?.genesis),
      validators: observerValidatorLinks(this.peerId, options.consensus?.genesis),
      log: this.log,
      // [reputation] best-reputed members first; banned ones never
      score: peerId => reputation.score(peerId),
      avoid: peerId => reputation.isBanned(peerId)
    })
  }

  /** Build the host, start it, subscribe and start the loops. */
  static async start (config: NodeConfig, options: MeshNodeOptions): Promise<MeshNode> {
    let self: MeshNode | undefined
    const metricsRegistry = options.metricsRegistry ?? new Registry()
    // [reputation] restored from the data dir; genesis validators are never banned (their links stay pinned)
    const validatorIds = new Set((options.consensus?.genesis.validators ?? []).map(v => v.peer_id))
    const reputation = new PeerReputation({
      self: peerIdFromPrivateKey(options.privateKey).toString(),
      dataDir: config.dataDir === '' ? null : config.dataDir,
      log: options.log ?? (() => {}),
      exempt: peer => validatorIds.has(peer),
      onBan: peer => { void self?.libp2p.hangUp(peerIdFromString(peer)).catch(() => {}) }
    })
    // [admission] genesis validators and the node itself are always allowed; a peer over its rate is
    // charged to its reputation (validators are never banned, as above)
    const admission = new Admission({
      self: peerIdFromPrivateKey(options.privateKey).toString(),
      allowPeers: options.admission?.allowPeers,
      validators: validatorIds,
      maxConnsPerIp: config.maxConnsPerIp,
      exemptLoopback: options.admission?.exemptLoopback ?? true,
      rateLimits: options.admission?.rateLimits,
      onRateLimited: peer => { if (self?.stopping === false) reputation.observe(peer, { type: 'rejected', reason: 'rate-limited' }) },
      // a flooder is hung up on at once (the gater refuses it while it cools off)
      onFlood: peer => {
        const node = self
        if (node == null || node.stopping) return
        try { void node.libp2p.hangUp(peerIdFromString(peer)).catch(() => {}) } catch {}
      }
    })
    admission.registerMetrics(metricsRegistry)
    // [/admission]
    // [mdns] LAN discovery: on by default only for loopback/private listen addresses (src/runtime/mdns.ts)
    const mdns = resolveMdns(config.mdns, config.listen)
    const mdnsTag = mdns.enabled ? mdnsServiceTag(config.network, options.psk) : null
    const libp2p = await createMeshLibp2p({
      ...(mdnsTag != null ? { mdns: { serviceTag: mdnsTag } } : {}), // [mdns]
      privateKey: options.privateKey,
      psk: options.psk,
      metricsRegistry,
      network: config.network,
      listen: config.listen,
      announce: config.announce,
      dialingSince: peer => self?.keeper.dialingSince(peer),
      // room for every validator link on top of the --max-peers budget (libp2p refuses inbound
      // connections beyond this limit and prunes the lowest-valued ones)
      maxConnections: Math.max(64, config.maxPeers * 2) + (options.consensus?.genesis.validators.length ?? 0),
      sync: {
        getEntries: () => self?.table() ?? [],
        onEntries: async (entries, from) => await self?.onTable(entries, from) ?? 0,
        // [reputation] a table exchange we asked for that failed
        onFailed: (peer, timeout) => { if (self?.stopping === false) reputation.observe(peer.toString(), { type: timeout ? 'request-timeout' : 'request-failed' }) }
      },
      pbft: (frame, from) => { self?.pbft?.onFrame(frame, from) },
      raft: (frame, from) => { self?.raft?.onFrame(frame, from) },
      appSpecificScore: peer => reputation.gossipScore(peer),
      // [admission] a banned peer's refusal is counted with the admission's
      denyPeer: peer => { const banned = reputation.isBanned(peer); if (banned) admission.countDenied('banned'); return banned },
      relay: config.relay, // [nat]
      genesis: () => options.consensus != null ? { status: 'genesis', genesis: options.consensus.genesis } : { status: 'none' }, // [founding]
      natUpnp: config.natUpnp, // [nat]
      log: options.log, // [nat] reachability notes
      admission: {
        denyPeer: peer => admission.denyPeer(peer),
        denyInbound: connection => admission.denyInbound(connection),
        admit: (peer, protocol) => admission.admit(peer.toString(), protocol)
      }
    })
    self = new MeshNode(config, options, libp2p, reputation)
    self.mdns = { ...mdns, serviceTag: mdnsTag } // [mdns]
    self.admission = admission // [admission]
    self.metricsRegistry = metricsRegistry
    // [fuzz] what the request/response stream handlers refused, by protocol and reason (protocols/shared/refusals.ts)
    const refusingServices = ['sync', 'probe', 'tasks', 'records', 'messaging', 'eventual', 'votes'] as const
    const refusals: Counter = new Counter({
      name: 'mesh_network_stream_refusals_total',
      help: 'Inbound requests a stream handler refused, by service and reason (oversize, undecodable, timeout, reset, eof, busy, invalid, failed)',
      labelNames: ['service', 'reason'],
      registers: [metricsRegistry],
      collect: () => {
        refusals.reset()
        const services = libp2p.services as unknown as Record<string, { refusals?: RefusalCounter } | undefined>
        for (const service of refusingServices) {
          for (const [reason, n] of Object.entries(services[service]?.refusals?.snapshot() ?? {})) {
            refusals.inc({ service, reason: (streamRefusalReasons as readonly string[]).includes(reason) ? reason : 'other' }, n)
          }
        }
      }
    })
    if (options.consensus != null && consensusMode(options.consensus.genesis) === 'raft') {
      const node = self
      const raft = new RaftConsensus({
        genesis: options.consensus.genesis,
        peerId: node.peerId,
        incarnation: options.incarnation,
        app: options.consensus.app,
        store: options.consensus.raftStore ?? null,
        openStore: options.consensus.openRaftStore,
        nameOf: peerId => peerId === node.peerId ? config.name : node.records.get(peerId)?.record.name,
        transport: () => libp2p.services.raft,
        isConnected: peerId => libp2p.getConnections(peerIdFromString(peerId)).length > 0,
        isAlive: peerId => { const state = node.membership.member(peerId)?.state; return state == null || state === 'alive' },
        partitioned: () => node.membership.summary().partitioned,
        log: options.log ?? (() => {})
      })
      self.raft = raft
      self.consensus = raft
      self.consensus.start()
    } else if (options.consensus != null) {
      const node = self
      const pbft = new PbftConsensus({
        genesis: options.consensus.genesis,
        privateKey: options.privateKey,
        peerId: node.peerId,
        incarnation: options.incarnation,
        app: options.consensus.app,
        store: options.consensus.store,
        byzantine: options.consensus.byzantine,
        transport: () => libp2p.services.pbft,
        isConnected: peerId => libp2p.getConnections(peerIdFromString(peerId)).length > 0,
        // the write path trusts what membership knows: a validator it suspects (or declared failed, or
        // saw leave) cannot help commit, whatever TCP says; a member not met yet counts if connected
        isAlive: peerId => { const state = node.membership.member(peerId)?.state; return state == null || state === 'alive' },
        partitioned: () => node.membership.summary().partitioned,
        log: options.log ?? (() => {})
      })
      self.pbft = pbft
      self.consensus = pbft
      self.consensus.start()
    }
    await self.run()
    return self
  }

  private async run (): Promise<void> {
    const pubsub = this.libp2p.services.pubsub
    pubsub.topicValidators.set(this.topic, async (from, message) => await this.validateGossip(from, message))
    pubsub.subscribe(this.topic)
    this.selfRecord.addresses = this.advertisedAddresses()
    this.selfRecord.neighbours = this.currentNeighbours()
    await this.publishSelf()
    this.libp2p.addEventListener('self:peer:update', () => {
      const addresses = this.advertisedAddresses()
      if (addresses.join() !== this.selfRecord.addresses.join()) {
        this.selfRecord.addresses = addresses
        void this.publishSelf()
      }
    })
    this.timers.push(setInterval(() => { void this.heartbeat() }, this.config.heartbeatIntervalMs))
    this.timers.push(setInterval(() => { this.tick() }, tickIntervalMs(this.config.failureTimeoutMs)))
    this.keeper.start()
    this.reputation.start(this.libp2p)
    this.loopDelay.enable()
  }

  private advertisedAddresses (): string[] {
    const suffix = `/p2p/${this.peerId}`
    const seen = new Set<string>()
    for (const ma of this.libp2p.getMultiaddrs()) {
      const text = ma.toString()
      seen.add(text.endsWith(suffix) ? text.slice(0, -suffix.length) : text)
    }
    return [...seen].slice(0, 32)
  }

  /** Listen addresses, each ending in /p2p/<PeerId>, ready for another node's --bootstrap. */
  multiaddrs (): string[] {
    return this.libp2p.getMultiaddrs().map(ma => ma.toString())
  }

  private table (): Array<Uint8Array<ArrayBuffer>> {
    const entries: Array<Uint8Array<ArrayBuffer>> = []
    if (this.selfEnvelope != null) entries.push(this.selfEnvelope)
    for (const stored of this.records.values()) entries.push(stored.envelope)
    for (const verdict of this.verdicts.values()) entries.push(verdict)
    return entries
  }

  private async publishSelf (): Promise<void> {
    this.selfRecord = { ...this.selfRecord, sequence: this.selfRecord.sequence + 1 }
    const envelope = await sealRecord(this.config.network, this.options.privateKey, this.selfRecord)
    this.selfEnvelope = envelope
    this.options.trace?.({ trace: 'publish', peerId: this.peerId, incarnation: this.selfRecord.incarnation, sequence: this.selfRecord.sequence, atMs: Date.now() })
    try {
      await this.libp2p.services.pubsub.publish(this.topic, envelope)
    } catch (err) {
      this.log(`warning: publishing state failed: ${(err as Error).message}`)
    }
  }

  /** The task load this node reports in its gossiped state (published with the next heartbeat). */
  setTaskLoad (load: { queued: number, running: number, capacity: number }): void {
    this.selfRecord.load = { ...this.selfRecord.load, queued: load.queued, running: load.running, capacity: load.capacity }
  }

  // [library] capabilities added at run time (an in-process handler, src/library/node.ts)
  /**
   * Offer these capabilities from now on (validated by the caller like --capabilities): this node's
   * state record carries them, published at once, so auctions and DHT routing consider it for them.
   */
  setCapabilities (capabilities: string[]): void {
    this.selfRecord = { ...this.selfRecord, capabilities: [...capabilities] }
    this.statusCache = undefined
    if (!this.stopping) void this.publishSelf()
  }
  // [/library]

  private async heartbeat (): Promise<void> {
    if (this.stopping) return
    this.selfRecord.load = { ...this.selfRecord.load, cpu: Math.round(this.cpu.utilisation() * 1000) / 1000 }
    this.updateSlowdown()
    this.selfRecord.neighbours = this.currentNeighbours()
    await this.publishSelf()
    void this.measureRtts()
  }

  private async measureRtts (): Promise<void> {
    const now = performance.now()
    for (const connection of this.libp2p.getConnections()) {
      const peer = connection.remotePeer.toString()
      const last = this.rtts.get(peer)
      if (last != null && now - last.atMs < rttIntervalMs) continue
      this.rtts.set(peer, { rttMs: last?.rttMs ?? NaN, atMs: now })
      const outcome = await this.libp2p.services.probe.probeDirect(connection.remotePeer, 5_000)
      if (outcome.reachable && outcome.rttMs != null) this.rtts.set(peer, { rttMs: outcome.rttMs, atMs: performance.now() })
      // [reputation] every RTT; a connected peer that does not answer a ping is a failed probe
      if (outcome.reachable && outcome.rttMs != null) this.reputation.observe(peer, { type: 'rtt', ms: outcome.rttMs })
      else if (!this.stopping) this.reputation.observe(peer, { type: 'probe', ok: false })
      if (this.stopping) return
    }
  }

  /** Our connected peers with their last measured RTT: first `neighboursCountMax` by PeerId. */
  private currentNeighbours (): Neighbour[] {
    const peers = [...new Set(this.libp2p.getConnections().map(c => c.remotePeer.toString()))]
      .filter(peer => peer !== this.peerId)
      .sort()
      .slice(0, neighboursCountMax)
    return peers.map(peerId => {
      const rtt = this.rtts.get(peerId)?.rttMs
      return { peerId, rttMs: rtt == null || Number.isNaN(rtt) ? null : Math.round(rtt * 1000) / 1000 }
    })
  }

  /**
   * Local health: when our own event loop lags (CPU starved), records from others are processed late
   * too. Each 250 ms of p99 lag over the last heartbeat beyond 50 ms stretches the failure timeouts by
   * one more timeout (up to 4×); the stretch decays by 20% per heartbeat once the lag is gone.
   */
  private updateSlowdown (): void {
    const lagMs = this.loopDelay.percentile(99) / 1e6
    this.loopDelay.reset()
    const target = Math.min(4, Math.max(1, 1 + (lagMs - 50) / 250))
    this.slowdown = Math.max(target, 1 + (this.slowdown - 1) * 0.8)
  }

  private tick (): void {
    if (this.stopping) return
    const { effects } = this.membership.step({ type: 'tick', nowMs: performance.now(), slowdown: this.slowdown })
    this.perform(effects)
  }

  /** Verify and apply one envelope; returns the rejection reason, or null when applied or already known. */
  private async ingest (bytes: Uint8Array<ArrayBuffer>, via: 'gossip' | 'sync'): Promise<{ reason: RejectReason | null, applied: boolean }> {
    let opened: OpenedEnvelope
    try {
      opened = await openEnvelope(this.config.network, bytes, undefined, candidate => this.isStale(candidate) ? 'stale' : null)
    } catch (err) {
      const reason = err instanceof RecordRejectedError ? err.reason : 'undecodable'
      // stale entries of a sync table are the normal case (they repeat what we know): not counted
      if (reason !== 'stale' || via === 'gossip') this.rejected[reason]++
      return { reason, applied: false }
    }
    const nowMs = performance.now()
    if (opened.kind === 'state') {
      const record = opened.record
      if (record.peerId === this.peerId) return { reason: null, applied: false }
      const stored = this.records.get(record.peerId)
      const { effects, applied } = this.membership.step({
        type: 'record', nowMs, peerId: record.peerId, incarnation: record.incarnation, sequence: record.sequence, leaving: record.leaving
      })
      if (applied) {
        this.options.trace?.({ trace: 'record', peerId: record.peerId, incarnation: record.incarnation, sequence: record.sequence, atMs: Date.now(), via })
        this.records.set(record.peerId, { record, envelope: opened.bytes })
        this.statusCache = undefined
        if (stored == null || stored.record.addresses.join() !== record.addresses.join()) await this.rememberAddresses(record)
      }
      this.perform(effects)
      return { reason: null, applied }
    }
    const verdict = opened.verdict
    const { effects } = this.membership.step({
      type: 'verdict', nowMs, subject: verdict.subject, incarnation: verdict.incarnation, sequence: verdict.sequence, reporter: verdict.reporter
    })
    const accepted = effects.some(e => e.type === 'change' && e.peerId === verdict.subject && e.to === 'failed')
    // Keep (and pass on in sync tables) only verdicts we agree with.
    if (accepted) this.verdicts.set(verdict.subject, opened.bytes)
    this.perform(effects)
    return { reason: null, applied: accepted }
  }

  /** A record not newer than the one we hold (sync tables repeat what we know; gossip reorders). */
  private isStale (opened: OpenedEnvelope): boolean {
    if (opened.kind !== 'state') return false
    if (opened.record.peerId === this.peerId) return true
    const stored = this.records.get(opened.record.peerId)?.record
    return stored != null && (opened.record.incarnation < stored.incarnation ||
      (opened.record.incarnation === stored.incarnation && opened.record.sequence <= stored.sequence))
  }

  private async rememberAddresses (record: NodeRecord): Promise<void> {
    try {
      const multiaddrs = record.addresses.map(a => multiaddr(a))
      await this.libp2p.peerStore.merge(peerIdFromString(record.peerId), { multiaddrs })
    } catch (err) {
      this.log(`warning: cannot store addresses of ${shortId(record.peerId)}: ${(err as Error).message}`)
    }
  }

  private async validateGossip (from: PeerId, message: Message): Promise<TopicValidatorResult> {
    // Gossip runs without gossipsub's own signature (bootstrap/libp2p.ts): a record is its own proof,
    // signed by the peer it describes (a verdict by its reporter), whoever forwarded it.
    if (message.data.length > envelopeBytesMax) {
      this.rejected.oversize++
      this.reputation.observe(from.toString(), { type: 'rejected', reason: 'oversize' }) // [reputation]
      return TopicValidatorResult.Reject
    }
    const data = new Uint8Array(message.data)
    const { reason } = await this.ingest(data, 'gossip')
    if (reason == null) return TopicValidatorResult.Accept
    // [reputation] the forwarder handed us what honest nodes never forward (stale: gossip reorders)
    if (reason !== 'stale') this.reputation.observe(from.toString(), { type: 'rejected', reason })
    // A stale record is not misbehaviour by the forwarder (gossip reorders): ignore, do not penalise.
    return reason === 'stale' ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject
  }

  /** Merge a sync table; returns how many entries were news (applied). */
  private async onTable (entries: Array<Uint8Array<ArrayBuffer>>, from: PeerId): Promise<number> {
    // State records first, so verdicts are judged against the newest life we know of.
    const ordered = entries
      .map(entry => ({ entry, verdict: isVerdictEnvelope(entry) }))
      .sort((a, b) => Number(a.verdict) - Number(b.verdict))
    let news = 0
    for (const { entry } of ordered) {
      if (this.stopping) break
      const { reason, applied } = await this.ingest(entry, 'sync')
      if (applied) news++
      // [reputation] honest nodes only keep verified entries: a bad one is the sender's doing
      if (reason != null && reason !== 'stale') this.reputation.observe(from.toString(), { type: 'rejected', reason })
    }
    return news
  }

  private perform (effects: Effect[]): void {
    if (effects.length > 0) this.statusCache = undefined // a membership change shows at once
    for (const effect of effects) {
      switch (effect.type) {
        case 'change': {
          const name = effect.peerId === this.peerId ? this.config.name : (this.records.get(effect.peerId)?.record.name ?? '?')
          this.log(`member ${name} (${shortId(effect.peerId)}) ${effect.from} → ${effect.to} [${effect.reason}${effect.detail != null ? `: ${effect.reason === 'verdict' || effect.reason === 'probe-answer' ? shortId(effect.detail) : effect.detail}` : ''}]`)
          if (effect.to === 'forgotten') {
            this.records.delete(effect.peerId)
            this.verdicts.delete(effect.peerId)
          } else if (effect.to === 'alive') {
            this.verdicts.delete(effect.peerId)
          }
          break
        }
        case 'probe':
          void this.runProbe(effect.helper, effect.target)
          break
        case 'announce-failure':
          void this.announceFailure(effect.subject, effect.incarnation, effect.sequence)
          break
        case 'refute':
          this.log(`declared failed by ${shortId(effect.reporter)}: refuting with a fresh record`)
          void this.publishSelf()
          break
      }
    }
  }

  private async runProbe (helper: string, target: string): Promise<void> {
    const targetId = peerIdFromString(target)
    const outcome = helper === this.peerId
      ? await this.libp2p.services.probe.probeDirect(targetId, Math.min(3_000, this.config.failureTimeoutMs))
      : await this.libp2p.services.probe.askHelper(peerIdFromString(helper), targetId, Math.min(3_000, this.config.failureTimeoutMs))
    // [reputation] a helper that does not answer failed our request; one that does served it; our own
    // probe of the target is a probe answer from it
    if (outcome == null) { if (!this.stopping) this.reputation.observe(helper, { type: 'request-failed' }); return }
    if (this.stopping) return
    if (helper !== this.peerId) this.reputation.observe(helper, { type: 'probe', ok: true })
    else this.reputation.observe(target, { type: 'probe', ok: outcome.reachable })
    if (outcome.reachable && outcome.rttMs != null) this.rtts.set(target, { rttMs: outcome.rttMs, atMs: performance.now() })
    const { effects } = this.membership.step({ type: 'probe-answer', nowMs: performance.now(), target, helper, reachable: outcome.reachable })
    this.perform(effects)
  }

  private async announceFailure (subject: string, incarnation: number, sequence: number): Promise<void> {
    try {
      const envelope = await sealVerdict(this.config.network, this.options.privateKey, { subject, incarnation, sequence, reporter: this.peerId })
      this.verdicts.set(subject, envelope)
      await this.libp2p.services.pubsub.publish(this.topic, envelope)
    } catch (err) {
      this.log(`warning: announcing failure of ${shortId(subject)} failed: ${(err as Error).message}`)
    }
  }

  /** Every open connection: who, which way, over which address, since when. */
  connectionList (): ConnectionView[] {
    return this.libp2p.getConnections().map(c => ({
      peerId: c.remotePeer.toString(),
      direction: c.direction,
      remoteAddr: c.remoteAddr.toString(),
      openedAt: new Date(c.timeline.open).toISOString()
    }))
  }

  /**
   * The node's status. Built at most every 25 ms: the task runtime, the record store, messaging and
   * metrics each read the membership through it, many times per second under load, and building it
   * (addresses, connections, every member) was ~4 % of a loaded node's CPU. Any membership change or
   * new member record drops it, so only RTTs, ages, connections and our own load can be 25 ms old.
   * Callers must not modify it.
   */
  status (): NodeStatus {
    const now = performance.now()
    if (this.statusCache != null && now - this.statusCache.atMs < statusCacheMs) return this.statusCache.status
    const status = this.buildStatus()
    this.statusCache = { atMs: now, status }
    return status
  }

  private statusCache?: { atMs: number, status: NodeStatus }

  private buildStatus (): NodeStatus {
    const summary = this.membership.summary()
    const now = performance.now()
    const connected = new Set(this.libp2p.getConnections().map(c => c.remotePeer.toString()))
    const members: MemberView[] = this.membership.list().map(m => {
      const self = m.peerId === this.peerId
      const record = self ? this.selfRecord : this.records.get(m.peerId)?.record
      const rtt = this.rtts.get(m.peerId)?.rttMs
      return {
        peerId: m.peerId,
        name: record?.name ?? '',
        state: m.state,
        self,
        incarnation: m.incarnation,
        sequence: self ? this.selfRecord.sequence : m.sequence,
        lastSeenMs: self ? 0 : Math.max(0, Math.round(now - m.lastHeardMs)),
        rttMs: rtt == null || Number.isNaN(rtt) ? null : Math.round(rtt * 1000) / 1000,
        connected: connected.has(m.peerId),
        capabilities: record?.capabilities ?? [],
        load: record?.load ?? { queued: 0, running: 0, capacity: 0, cpu: 0 },
        addresses: record?.addresses ?? [],
        startedAt: record != null ? new Date(record.startedAtMs).toISOString() : null,
        neighbours: self ? this.currentNeighbours() : (record?.neighbours ?? null),
        reputation: self ? null : this.reputation.view(m.peerId),
        zone: record?.zone ?? null // [zones]
      }
    }).sort((a, b) => Number(b.self) - Number(a.self) || a.name.localeCompare(b.name) || a.peerId.localeCompare(b.peerId))
    return {
      peerId: this.peerId,
      name: this.config.name,
      network: this.config.network,
      incarnation: this.options.incarnation,
      multiaddrs: this.multiaddrs(),
      api: this.apiUrl,
      connections: this.libp2p.getConnections().length,
      connectedPeers: connected.size,
      partitioned: summary.partitioned,
      mode: summary.partitioned ? 'read-only' : 'read-write',
      reachable: summary.reachable,
      known: summary.known,
      counts: summary.counts,
      members,
      rejected: { ...this.rejected },
      uptimeMs: Math.round(now - this.startedAtMono),
      startedAt: this.startedAtWall.toISOString(),
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      failureTimeoutMs: this.config.failureTimeoutMs,
      slowdown: Math.round(this.slowdown * 100) / 100,
      consensus: this.consensusSummary(),
      ...this.meshSizeView(summary.reachable), // [aggregate]
      zone: this.config.zone ?? null, // [zones]
      mdns: this.mdns, // [mdns]
      reachability: this.libp2p.services.reachability.summary() // [nat]
    }
  }

  // ── [aggregate] the partition detector's mesh-wide sense of size ──
  /** Where the mesh-size estimate comes from (the aggregation runtime); undefined to unwire. */
  setMeshSizeEstimate (read: (() => number | undefined) | undefined): void {
    this.meshSizeEstimate = read
    this.statusCache = undefined
  }

  /**
   * Whether this node reaches fewer than half of the members the mesh-wide estimate counts: catches a
   * node whose own member list is small (it never heard of the others, or forgot them) while the mesh
   * is larger. Reported beside `partitioned`, never in place of it.
   */
  private meshSizeView (reachable: number): Pick<NodeStatus, 'meshSize'> {
    if (this.meshSizeEstimate == null) return {}
    const estimated = this.meshSizeEstimate()
    const usable = estimated !== undefined && Number.isFinite(estimated) ? Math.round(estimated * 100) / 100 : null
    return { meshSize: { estimated: usable, reachable, partitionSuspected: usable != null && reachable * 2 < Math.round(usable) } }
  }

  /** Fewer than half of the known members reachable (what `status().partitioned` says, without building it). */
  partitioned (): boolean {
    return this.membership.summary().partitioned
  }

  private consensusSummary (): NodeStatus['consensus'] {
    if (this.consensus == null) return null
    const c = this.consensus.status()
    return { role: c.role, view: c.view, lastExecuted: c.lastExecuted, highestKnown: c.highestKnown, behind: c.behind, catchingUp: c.catchingUp }
  }

  // ── [mcp] operator actions: suspect a member (daa_fault_tolerance), re-balance (topology_optimize) ──
  /**
   * Suspect an alive member now; the normal path follows (own and indirect probes, failure only on a
   * helper majority or the confirm timeout; a live member is back to alive at its next sign of life).
   */
  suspectMember (peerId: string): { started: boolean, state: MemberState | null, helpers: string[] } {
    const { effects, applied } = this.membership.step({ type: 'suspect', nowMs: performance.now(), peerId })
    this.perform(effects)
    const helpers = effects.flatMap(e => e.type === 'probe' && e.helper !== this.peerId ? [e.helper] : [])
    return { started: applied, state: this.membership.member(peerId)?.state ?? null, helpers }
  }

  /** The current round of probes of a suspect member, if it is suspect. */
  suspicion (peerId: string): { round: number, asked: string[], unreachable: string[] } | undefined {
    return this.membership.suspicion(peerId)
  }

  /** Re-balance connections now (see ConnectionKeeper.rebalance): links to validators are kept first. */
  async rebalance (timeoutMs: number): Promise<RebalanceReport> {
    return await this.keeper.rebalance({
      rttMs: peerId => {
        const rtt = this.rtts.get(peerId)?.rttMs
        return rtt == null || Number.isNaN(rtt) ? null : rtt
      },
      preferred: new Set((this.options.consensus?.genesis.validators ?? []).map(v => v.peer_id)),
      timeoutMs
    })
  }

  /** Graceful leave: announce `leaving` (gossip, and pushed directly to every connected peer), stop. */
  async stop (): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    for (const timer of this.timers) clearInterval(timer)
    this.consensus?.stop()
    this.keeper.stop()
    this.reputation.stop()
    this.loopDelay.disable()
    try {
      this.selfRecord = { ...this.selfRecord, leaving: true }
      await this.publishSelf()
      const leave = this.selfEnvelope
      if (leave != null) {
        const peers = [...new Map(this.libp2p.getConnections().map(c => [c.remotePeer.toString(), c.remotePeer])).values()]
        await Promise.allSettled(peers.map(async peer => await this.libp2p.services.sync.syncWith(peer, { entries: [leave], timeoutMs: leaveGraceMs })))
      }
    } catch (err) {
      this.log(`warning: announcing leave failed: ${(err as Error).message}`)
    }
    await this.libp2p.stop()
  }
}

function isVerdictEnvelope (bytes: Uint8Array<ArrayBuffer>): boolean {
  try {
    return Envelope.decode(bytes).kind === EnvelopeKind.VERDICT
  } catch {
    return false
  }
}

/** The validators a node holds direct links to: every other one if it is a validator, none otherwise. */
function validatorLinks (self: string, genesis: Genesis | undefined): Array<{ peerId: string, name: string }> {
  const validators = genesis?.validators ?? []
  if (!validators.some(v => v.peer_id === self)) return []
  return validators.filter(v => v.peer_id !== self).map(v => ({ peerId: v.peer_id, name: v.name }))
}

/**
 * An observer's links to the validators: all of a committee of up to 4, else 2f+1 of them (f = ⌊(n−1)/3⌋),
 * so that with any f of those down, f+1 remain to vouch for each decision (src/runtime/consensus/pbft.ts
 * subscribes to connected validators only). None on a validator (it pins them all) or without a genesis.
 */
function observerValidatorLinks (self: string, genesis: Genesis | undefined): { peerIds: string[], links: number } | undefined {
  const validators = genesis?.validators ?? []
  if (validators.length === 0 || validators.some(v => v.peer_id === self)) return undefined
  const n = validators.length
  return { peerIds: validators.map(v => v.peer_id), links: n <= 4 ? n : Math.min(n, 2 * Math.floor((n - 1) / 3) + 1) }
}

/** A 32-bit seed from the PeerId and incarnation (FNV-1a): different per node and per start. */
function hashSeed (peerId: string, incarnation: number): number {
  let h = 0x811c9dc5
  const text = `${peerId}/${incarnation}`
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}
