/**
 * The libp2p host of a mesh node: transports, security, muxing, and the services every node runs.
 * Every tunable that departs from libp2p's defaults is here, with the reason (see ../shared/STACK.md
 * for the measurements behind them).
 */
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { StreamState, YamuxStream } from '@libp2p/yamux/stream'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { gossipsub } from '@libp2p/gossipsub'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { Registry } from 'prom-client'
import { createHash } from 'node:crypto'
import type { ConnectionGater, Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import type { Identify } from '@libp2p/identify'
import type { Ping } from '@libp2p/ping'
import type { GossipSub } from '@libp2p/gossipsub'
import { membershipSync } from '../protocols/sync/service.js'
import type { MembershipSync, MembershipSyncInit } from '../protocols/sync/service.js'
import { probe } from '../protocols/probe/service.js'
import type { Probe } from '../protocols/probe/service.js'
import { taskProtocols } from '../protocols/tasks/service.js'
import type { TaskProtocols } from '../protocols/tasks/service.js'
import { recordStoreProtocol } from '../protocols/records/service.js'
import type { RecordStoreProtocol } from '../protocols/records/service.js'
import { pbftTransport } from '../protocols/pbft/service.js'
import type { PbftTransport, PbftTransportInit } from '../protocols/pbft/service.js'
import { raftTransport } from '../protocols/raft/service.js'
import type { RaftTransport, RaftTransportInit } from '../protocols/raft/service.js'
import { peerMessaging } from '../protocols/msg/service.js'
import { preSharedKey } from '@libp2p/pnet'
import { reputationPolicy } from '../src/core/gossip/reputation-policy.js'
import type { PeerMessaging } from '../protocols/msg/service.js'
// [eventual] eventually consistent memory: gossip topic + digest anti-entropy (protocols/eventual/)
import { eventualSync } from '../protocols/eventual/service.js'
import type { EventualSync } from '../protocols/eventual/service.js'
// [votes] gossip votes' anti-entropy (protocols/votes/service.ts)
import { votesAntiEntropy } from '../protocols/votes/service.js'
import type { VotesProtocol } from '../protocols/votes/service.js'
// [/votes]
import { aggregateProtocol } from '../protocols/aggregate/service.js' // [aggregate]
import { genesisExchange } from '../protocols/genesis/service.js' // [founding]
import type { GenesisExchange, GenesisServed } from '../protocols/genesis/service.js' // [founding]
import type { AggregateProtocol } from '../protocols/aggregate/service.js' // [aggregate]
// [admission] allow list, connections per IP, rate per peer per protocol (src/runtime/admission.ts)
import { withAdmission } from '../protocols/shared/admission.js'
import type { AdmitFn } from '../protocols/shared/admission.js'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { MultiaddrConnection } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
// [/admission]
import { mdns } from '@libp2p/mdns' // [mdns]
// [nat] AutoNAT, Circuit Relay v2, DCUtR, UPnP; our protocols over relayed connections (src/runtime/reachability.ts)
import { autoNAT } from '@libp2p/autonat'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { identifyPush } from '@libp2p/identify'
import { overRelays } from '../protocols/shared/limited.js'
import { meshRelayLimits, reachability } from '../src/runtime/reachability.js'
import type { Reachability, RelayMode } from '../src/runtime/reachability.js'
// [/nat]

export interface MeshServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  sync: MembershipSync
  probe: Probe
  tasks: TaskProtocols
  records: RecordStoreProtocol
  pbft: PbftTransport
  raft: RaftTransport
  messaging: PeerMessaging
  eventual: EventualSync // [eventual]
  votes: VotesProtocol // [votes]
  aggregate: AggregateProtocol // [aggregate]
  reachability: Reachability // [nat]
  genesis: GenesisExchange // [founding]
}

export type MeshLibp2p = Libp2p<MeshServices>

export interface MeshLibp2pInit {
  privateKey: PrivateKey
  /** A private network's pre-shared key (src/runtime/psk.ts): every connection is protected by it. */
  psk?: Uint8Array
  network: string
  listen: string[]
  announce: string[]
  /** Seeds: dialed by the connection keeper (src/runtime/connection-keeper.ts), not by libp2p; ignored here. */
  bootstrap?: string[]
  maxConnections: number
  /**
   * Since when this node's own dial to `peer` is in flight (performance.now()), if it is: the connection
   * gater keeps one connection per pair when both ends dial each other at once (see `dedupeGater`).
   */
  dialingSince?: (peer: string) => number | undefined
  sync: Pick<MembershipSyncInit, 'getEntries' | 'onEntries' | 'onFailed'>
  /** Where pBFT frames go (nodes without a genesis drop them). */
  pbft?: PbftTransportInit['onFrame']
  /** Where Raft frames go (nodes without a Raft genesis drop them). */
  raft?: RaftTransportInit['onFrame']
  /**
   * libp2p's own Prometheus metrics (bytes per protocol, connections, dials, process) go into
   * this registry (the node's, src/runtime/metrics/metrics.ts; never prom-client's global one). None if absent.
   */
  metricsRegistry?: Registry
  // [reputation] (src/runtime/gossip/reputation.ts, src/core/gossip/reputation-policy.ts)
  /** gossipsub's application-specific score (P5) of a peer; 0 for all when absent. */
  appSpecificScore?: (peer: string) => number
  /** Refuse connections with this peer, both ways (a banned, misbehaving peer). */
  denyPeer?: (peer: string) => boolean
  // [admission] (src/runtime/admission.ts)
  admission?: AdmissionHooks
  // [mdns] LAN discovery (src/runtime/mdns.ts): absent = off. Discovered peers reach the connection
  // keeper through `peer:discovery` (libp2p 3 never dials them itself); the per-network service name
  // keeps networks (and private networks with different keys) from even discovering each other.
  mdns?: { serviceTag: string }
  // [nat] (src/runtime/reachability.ts)
  /** Serve relay reservations: on, off, or auto (only while AutoNAT says we are public). @default 'auto' */
  relay?: RelayMode
  /** Ask the router for a port mapping (UPnP / NAT-PMP). @default false */
  natUpnp?: boolean
  /** Reachability notes (verdict changes, relay state, hole punching) for the node's log. */
  log?: (line: string) => void
  /** [founding] What /mesh/<network>/genesis/1.0.0 answers (protocols/genesis/): the node's genesis, or none. */
  genesis?: () => GenesisServed
}

/** [admission] What the connection gater and the receive path ask of the node's admission control. */
export interface AdmissionHooks {
  /** Refuse this peer both ways (not on the allow list): before dialing it, and right after the Noise handshake. */
  denyPeer: (peer: string) => boolean
  /** Refuse a raw inbound connection before any handshake (connections per IP). */
  denyInbound: (connection: MultiaddrConnection) => boolean
  /** May one more message from `peer` on `protocol` ('gossip' for topic messages) pass? */
  admit: AdmitFn
}

/**
 * js-yamux answers every data frame it receives with a window update (one more frame, encryption and
 * socket write back for each gossip message, ping or sync): in an idle node's profile that was most
 * of the receive path. go-yamux and hashicorp/yamux send the update only once half the receive window
 * is used (`delta < max/2 && flags == 0 → no update`); do the same. The sender never waits: it still
 * has half a window (≥ 128 KiB) when the update goes out. Wire-compatible: fewer updates is allowed.
 */
interface YamuxWindowState { state: StreamState, recvWindow: number, recvWindowCapacity: number }
const yamuxPatched = Symbol.for('mesh.yamux.halfWindowUpdates')
const yamuxPrototype = YamuxStream.prototype as unknown as Record<symbol, boolean> & { sendWindowUpdate: () => void }
if (yamuxPrototype[yamuxPatched] !== true) {
  const sendWindowUpdate = yamuxPrototype.sendWindowUpdate
  yamuxPrototype.sendWindowUpdate = function (this: YamuxWindowState): void {
    // states in which no SYN/ACK flag is due (Init and SYNReceived owe one; Paused is its own case)
    const flagless = this.state === StreamState.SYNSent || this.state === StreamState.Established || this.state === StreamState.Finished
    if (flagless && this.recvWindowCapacity > this.recvWindow / 2) return
    sendWindowUpdate.call(this)
  }
  yamuxPrototype[yamuxPatched] = true
}

/** A gossip message's id: SHA-256 of its bytes (unsigned messages have no from + seqno to go by). */
function contentId (data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest()
}

/** How long an own dial in flight makes the smaller PeerId of a pair refuse the other's crossing dial. */
const crossingDialWindowMs = 5_000

/**
 * One connection per pair of nodes. Two nodes that dial each other at the same moment would otherwise
 * keep two connections (two handshakes, two identify runs, two sets of gossip streams, two monitor
 * pings). The rule, the same on both ends: a connection dialed by the smaller PeerId always stands; one
 * dialed by the larger PeerId is refused, right after the encryption handshake (before muxing, identify
 * or any stream), when a connection to that peer is already open, or — on the smaller side — when its
 * own dial to the larger is in flight (started within the last 5 s: an older one is probably going
 * nowhere, e.g. to a node behind NAT, and must not keep refusing the way in). A larger-dialed connection
 * that already stands when the smaller one's dial completes stays (rare; closing it later would cut
 * gossipsub's stream, which gossipsub does not re-open while another connection remains).
 */
function dedupeGater (self: () => Libp2p | undefined, dialingSince: (peer: string) => number | undefined, denyPeer?: (peer: string) => boolean, admission?: AdmissionHooks): ConnectionGater {
  const deny = (remote: PeerId, dialedByUs: boolean): boolean => {
    // [admission] not on the allow list: no connection either way (counted by the admission)
    if (admission?.denyPeer(remote.toString()) === true) return true
    // [reputation] a banned peer: no connection either way
    if (denyPeer?.(remote.toString()) === true) return true
    const node = self()
    if (node == null) return false
    const us = node.peerId.toString()
    const them = remote.toString()
    const dialer = dialedByUs ? us : them
    const other = dialedByUs ? them : us
    // a connection dialed by the smaller PeerId always stands
    if (dialer < other) return false
    // [nat] only a direct connection counts: a relayed one must not refuse the direct one DCUtR opens
    if (node.getConnections(remote).some(c => c.status === 'open' && c.limits == null && !c.remoteAddr.toString().includes('/p2p-circuit'))) return true
    if (dialedByUs) return false
    const since = dialingSince(them)
    return since != null && performance.now() - since < crossingDialWindowMs
  }
  return {
    denyInboundEncryptedConnection: (peerId) => deny(peerId, false),
    denyOutboundEncryptedConnection: (peerId) => deny(peerId, true),
    // [admission] never dial a peer off the allow list; refuse an IP's connections beyond its limit
    // before any handshake (libp2p itself only limits their rate per host: inboundConnectionThreshold)
    ...(admission != null
      ? {
          denyDialPeer: (peerId: PeerId) => admission.denyPeer(peerId.toString()),
          denyInboundConnection: (maConn: MultiaddrConnection) => admission.denyInbound(maConn)
        }
      : {})
  }
}

export async function createMeshLibp2p (init: MeshLibp2pInit): Promise<MeshLibp2p> {
  // The ping service exists only once libp2p is built; the probe service calls it late.
  let pingService: Ping | undefined
  const pingPeer = async (target: PeerId, signal: AbortSignal): Promise<number> => {
    if (pingService == null) throw new Error('ping service not started')
    const started = performance.now()
    await pingService.ping(target, { signal })
    // ping() reports whole milliseconds (usually 0 on loopback); time it ourselves
    return performance.now() - started
  }

  let built: Libp2p | undefined
  // [admission] every inbound stream of our protocols carries the rate check (protocols/shared/admission.ts)
  const admit = init.admission?.admit
  // [nat] … and works over relayed (limited) connections, preferring a direct one (protocols/shared/limited.ts)
  const admitted = <C extends { registrar: Registrar }, S>(factory: (components: C) => S): (components: C) => S => overRelays(withAdmission(factory, admit))
  const relayMode: RelayMode = init.relay ?? 'auto' // [nat]
  // [nat] loaded only when asked for: the UPnP client (SSDP) is not parsed by every node's start
  const upnp = init.natUpnp === true ? (await import('@libp2p/upnp-nat')).uPnPNAT() : undefined
  const node = await createLibp2p({
    privateKey: init.privateKey,
    ...(init.metricsRegistry != null ? { metrics: prometheusMetrics({ registry: init.metricsRegistry }) } : {}),
    addresses: {
      listen: init.listen,
      announce: init.announce
    },
    // [nat] the relay transport on every node: dial peers behind NAT through their relay, and accept
    // relayed connections (a node seeking a reservation listens on /p2p-circuit: reachability.ts)
    transports: [tcp(), circuitRelayTransport({ reservationCompletionTimeout: 10_000 })],
    // a private network: XSalsa20 with the pre-shared key under everything (a peer without the key
    // cannot complete even the Noise handshake)
    ...(init.psk != null ? { connectionProtector: preSharedKey({ psk: init.psk }) } : {}),
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // No @libp2p/bootstrap and no kad-dht: the connection keeper (src/runtime/connection-keeper.ts) dials
    // the seeds until one answers, and the membership sync on connect hands a joiner every member with
    // its addresses, which is what the DHT's self-query was for. Without them there is one dialer, so no
    // two of them race to the same peer, and an idle node runs no DHT refresh or routing-table pings.
    connectionGater: dedupeGater(() => built, init.dialingSince ?? (() => undefined), init.denyPeer, init.admission),
    connectionManager: {
      maxConnections: init.maxConnections,
      // A star start has every joiner dial the seed within the same second from one host; the default
      // threshold (5 per host per second) resets all but the first few.
      inboundConnectionThreshold: 1000,
      maxIncomingPendingConnections: 1000,
      // Saturated cores during a large simultaneous join stretch handshakes past the 5-6 s defaults.
      dialTimeout: 30_000,
      addressDialTimeout: 20_000,
      inboundUpgradeTimeout: 30_000
    },
    connectionMonitor: {
      // the monitor aborts a connection whose ping times out; under load 5 s is too little
      pingTimeout: { minTimeout: 20_000 },
      // Every ping is a new stream (open, protocol select, 32 B each way, close): at the default 10 s it
      // was a steady share of an idle node's CPU. It only finds connections that died silently (a frozen
      // or cut-off peer); membership detects such peers itself (silence → suspect → probes → failed).
      pingInterval: 30_000
    },
    // [mdns] multicast DNS on UDP 5353 (every multicast-capable interface), only when asked
    ...(init.mdns != null ? { peerDiscovery: [mdns({ serviceTag: init.mdns.serviceTag })] } : {}),
    services: {
      identify: identify({ timeout: 20_000 }),
      // the connection monitor and the probe service both ping: the default of 1 outbound ping stream
      // per connection makes them collide and the monitor then kills the connection.
      ping: ping({ maxOutboundStreams: 4, maxInboundStreams: 8, timeout: 30_000 }),
      pubsub: gossipsub({
        // [nat] also over relayed connections (a NATed member's only link may be one)
        runOnLimitedConnection: true,
        // Every payload on our topics (state records, verdicts, broadcasts) is signed by its author and
        // verified by its topic validator: gossipsub's own signature would be a second Ed25519 verify
        // (~110 µs) of every message. Without it there is no from + seqno, so ids come from the content.
        globalSignaturePolicy: 'StrictNoSign',
        msgIdFn: (message) => contentId(message.data),
        // small meshes (2-5 nodes): deliver our own records to every subscriber in one hop
        floodPublish: true,
        // Flood publish already reaches every connected subscriber; the mesh only carries a record on
        // to those not connected to its author. Each mesh link delivers every record once more (a read,
        // a decryption, an id check), which is an idle node's main cost (N records per heartbeat
        // interval): a degree of 3 (default 6) still gives every record 3 disjoint ways onward.
        D: 3,
        Dlo: 2,
        Dhi: 5,
        Dscore: 1,
        Dout: 1,
        Dlazy: 3,
        // Mesh upkeep, IHAVE gossip and score decay run each heartbeat: every 2 s rather than 1 s halves
        // that idle work; message ids stay in the gossip cache for 3 heartbeats (6 s).
        heartbeatInterval: 2_000,
        // a lone node publishes its heartbeat anyway: nobody to receive it is not an error
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        // IDONTWANT (gossipsub 1.2) is sent to every mesh peer for each message of ≥ 512 B received: one
        // more write per mesh peer per record, to save a duplicate that on a LAN has usually been sent
        // already. Our records (≤ 64 KiB, ~0.5-1 KiB typical) are not worth it.
        idontwantMinDataSize: 65_536 * 2,
        doPX: false,
        // drop duplicates before decoding and validation
        fastMsgIdFn: (message) => createHash('sha256').update(message.data ?? new Uint8Array(0)).digest('base64'),
        scoreParams: {
          // Many nodes on one IP (tests, demos, a big box) are normal on loopback; beyond 10 the
          // colocation penalty graylists all of them. Public addresses keep the Sybil defence.
          IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1']),
          // [reputation] P5 = the node's reputation of a misbehaving peer (≤ 0), weight 1 (src/core/gossip/reputation-policy.ts)
          ...(init.appSpecificScore != null ? { appSpecificScore: init.appSpecificScore, appSpecificWeight: reputationPolicy.appSpecificWeight } : {})
        },
        // [reputation] negative: out of the mesh; −20: no gossip to it; −40: no publishing to it; −60: its RPCs ignored
        scoreThresholds: {
          gossipThreshold: reputationPolicy.gossipThreshold,
          publishThreshold: reputationPolicy.publishThreshold,
          graylistThreshold: reputationPolicy.graylistThreshold
        }
      }),
      sync: admitted(membershipSync({ network: init.network, ...init.sync })),
      probe: admitted(probe({ network: init.network, ping: pingPeer })),
      pbft: admitted(pbftTransport({ network: init.network, onFrame: init.pbft ?? (() => {}) })),
      raft: admitted(raftTransport({ network: init.network, onFrame: init.raft ?? (() => {}) })),
      tasks: admitted(taskProtocols({ network: init.network })),
      // task payloads and results on the 3 XOR-closest members (src/runtime/tasks/records.ts)
      records: admitted(recordStoreProtocol({ network: init.network })),
      // peer messaging: direct messages with an ack, broadcasts on a topic (src/runtime/messages.ts)
      messaging: admitted(peerMessaging({ network: init.network })),
      // [eventual] the eventually consistent memory's anti-entropy (src/runtime/gossip/eventual-store.ts)
      eventual: admitted(eventualSync({ network: init.network })),
      // [votes] gossip votes: anti-entropy of proposals and signed votes (src/runtime/gossip/gossip-votes.ts)
      votes: admitted(votesAntiEntropy({ network: init.network })),
      // [aggregate] push-pull aggregation exchanges (src/runtime/gossip/aggregation.ts sets the handler)
      aggregate: admitted(aggregateProtocol({ network: init.network })),
      // [founding] every node serves its genesis (or none) to joiners that fetch it (src/runtime/founding.ts)
      genesis: admitted(genesisExchange({ network: init.network, answer: init.genesis })),
      // [nat] reachability (src/runtime/reachability.ts): AutoNAT asks peers to dial our public addresses
      // back (a loopback/LAN-only node has none: it asks nothing); identify push tells connected peers
      // when our addresses or protocols change (a relay address, the relay server switched on);
      // DCUtR tries to upgrade each relayed connection to a direct one
      autonat: autoNAT({ startupDelay: 2_000 }),
      identifyPush: identifyPush({ timeout: 20_000 }),
      dcutr: dcutr(),
      reachability: reachability({ relay: relayMode, upnp: init.natUpnp === true, log: init.log }),
      // the relay server: absent with --relay off; with auto, reachability.ts serves only while public.
      // A relayed connection is cut after its limits: libp2p's defaults (2 min, 128 KiB) would cut a
      // mesh member's gossip within a minute, so ours are raised (reachability.ts meshRelayLimits)
      ...(relayMode !== 'off'
        ? {
            relay: circuitRelayServer({
              reservations: {
                maxReservations: meshRelayLimits.maxReservations,
                defaultDurationLimit: meshRelayLimits.durationMs,
                defaultDataLimit: meshRelayLimits.dataBytes
              }
            })
          }
        : {}),
      // UPnP / NAT-PMP port mapping only when asked (--nat-upnp): it talks to the home router
      ...(upnp != null ? { upnp } : {})
    }
  })
  pingService = node.services.ping
  built = node
  node.services.reachability.attach({ relayServer: (node.services as Record<string, unknown>).relay, pubsub: node.services.pubsub }) // [nat]
  // [admission] every gossip topic message counts against the peer that handed it over (after
  // gossipsub's duplicate check, before the topic's own validator: signatures are the costly part)
  if (admit != null) limitTopicMessages(node.services.pubsub, admit)
  return node
}

/**
 * [admission] Wrap every topic validator set on this gossipsub (now or later) with the rate check: a
 * message over the forwarder's rate is ignored (not delivered, not forwarded, no gossipsub penalty:
 * the admission charges the reputation itself, and other peers deliver the same message).
 */
function limitTopicMessages (pubsub: GossipSub, admit: AdmitFn): void {
  const validators = pubsub.topicValidators
  const set = validators.set.bind(validators)
  type Validator = Parameters<typeof set>[1]
  validators.set = (topic: string, validator: Validator) => set(topic, (from, message) =>
    admit(from, 'gossip') ? validator(from, message) : TopicValidatorResult.Ignore)
  for (const [topic, validator] of [...validators]) validators.set(topic, validator)
}
