/**
 * The libp2p host of a mesh node: transports, security, muxing, and the services every node runs.
 * Every tunable that departs from libp2p's defaults is here, with the reason (see ../shared/STACK.md
 * for the measurements behind them).
 */
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { bootstrap } from '@libp2p/bootstrap'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { gossipsub } from '@libp2p/gossipsub'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { Registry } from 'prom-client'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import type { Identify } from '@libp2p/identify'
import type { Ping } from '@libp2p/ping'
import type { KadDHT } from '@libp2p/kad-dht'
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
import type { PeerMessaging } from '../protocols/msg/service.js'

export interface MeshServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
  sync: MembershipSync
  probe: Probe
  tasks: TaskProtocols
  records: RecordStoreProtocol
  pbft: PbftTransport
  raft: RaftTransport
  messaging: PeerMessaging
}

export type MeshLibp2p = Libp2p<MeshServices>

export interface MeshLibp2pInit {
  privateKey: PrivateKey
  network: string
  listen: string[]
  announce: string[]
  bootstrap: string[]
  maxConnections: number
  sync: Pick<MembershipSyncInit, 'getEntries' | 'onEntries'>
  /** Where pBFT frames go (nodes without a genesis drop them). */
  pbft?: PbftTransportInit['onFrame']
  /** Where Raft frames go (nodes without a Raft genesis drop them). */
  raft?: RaftTransportInit['onFrame']
  /**
   * libp2p's own Prometheus metrics (bytes per protocol, connections, dials, DHT, process) go into
   * this registry (the node's, src/runtime/metrics/metrics.ts; never prom-client's global one). None if absent.
   */
  metricsRegistry?: Registry
}

/** Private DHT protocol: nodes of other networks (and the public IPFS DHT) never answer it. */
export function dhtProtocol (network: string): string {
  return `/mesh/${network}/kad/1.0.0`
}

const empty = new Uint8Array(0)

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

  const node = await createLibp2p({
    privateKey: init.privateKey,
    ...(init.metricsRegistry != null ? { metrics: prometheusMetrics({ registry: init.metricsRegistry }) } : {}),
    addresses: {
      listen: init.listen,
      announce: init.announce
    },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: init.bootstrap.length > 0 ? [bootstrap({ list: init.bootstrap })] : [],
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
      pingTimeout: { minTimeout: 20_000 }
    },
    services: {
      identify: identify({ timeout: 20_000 }),
      // kad-dht, the connection monitor and the probe service all ping: the default of 1 outbound
      // ping stream per connection makes them collide and the monitor then kills the connection.
      ping: ping({ maxOutboundStreams: 4, maxInboundStreams: 8, timeout: 30_000 }),
      dht: kadDHT({
        protocol: dhtProtocol(init.network),
        // server mode and all addresses: otherwise a LAN or loopback mesh has an empty routing table
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        // joiners meet each other through the first self-query via the seed: run it soon
        initialQuerySelfInterval: 5_000,
        kBucketSize: 64
      }),
      pubsub: gossipsub({
        // our records carry their own signature; gossipsub's (from + seqno) makes ids unique
        globalSignaturePolicy: 'StrictSign',
        // small meshes (2-5 nodes): deliver our own records to every subscriber in one hop
        floodPublish: true,
        // Flood publish already reaches every connected subscriber; the mesh only backs it up.
        // A degree of 4 (default 6) cuts redundant forwards by a third; still ≥ 3 paths per message.
        D: 4,
        Dlo: 3,
        Dhi: 8,
        Dscore: 2,
        Dout: 1,
        Dlazy: 4,
        // a lone node publishes its heartbeat anyway: nobody to receive it is not an error
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        doPX: false,
        // drop duplicates before signature checks
        fastMsgIdFn: (message) => uint8ArrayToString(message.from ?? empty, 'base64') + uint8ArrayToString(message.seqno ?? empty, 'base64'),
        scoreParams: {
          // Many nodes on one IP (tests, demos, a big box) are normal on loopback; beyond 10 the
          // colocation penalty graylists all of them. Public addresses keep the Sybil defence.
          IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1'])
        }
      }),
      sync: membershipSync({ network: init.network, ...init.sync }),
      probe: probe({ network: init.network, ping: pingPeer }),
      pbft: pbftTransport({ network: init.network, onFrame: init.pbft ?? (() => {}) }),
      raft: raftTransport({ network: init.network, onFrame: init.raft ?? (() => {}) }),
      tasks: taskProtocols({ network: init.network }),
      // task payloads and results on the 3 XOR-closest members (src/runtime/tasks/records.ts)
      records: recordStoreProtocol({ network: init.network }),
      // peer messaging: direct messages with an ack, broadcasts on a topic (src/runtime/messages.ts)
      messaging: peerMessaging({ network: init.network })
    }
  })
  pingService = node.services.ping
  return node
}
