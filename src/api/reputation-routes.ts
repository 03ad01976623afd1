/**
 * HTTP route of the node's peer reputation (src/runtime/gossip/reputation.ts):
 *
 *   GET /v1/reputation   every peer this node has scored (members or not, e.g. a rogue peer that only
 *                        ever sent garbage), best first: score, banned, top reasons, gossipsub's view
 *                        (its score of the peer, whether the peer is in this node's gossip mesh of the
 *                        state topic), whether it is connected; plus the policy's thresholds and this
 *                        node's gossip mesh peers.
 */
import type { MeshNode } from '../runtime/mesh-node.js'
import { reputationPolicy } from '../core/gossip/reputation-policy.js'
import { reputationDefaults } from '../core/gossip/reputation.js'
import { flapWindowMs, gossipLayerRejectedDeltas, messageRejectedDeltas, rejectedDeltas } from '../runtime/gossip/reputation.js'
import { pathParts } from './server.js'
import type { RouteHandler } from './server.js'

export interface ReputationPeerView {
  peerId: string
  /** The member's name, '' when it is no member. */
  name: string
  score: number
  banned: boolean
  reasons: Array<{ reason: string, count: number }>
  /** gossipsub's score of the peer (all its terms, the reputation's P5 among them); null when unknown to gossipsub. */
  gossipScore: number | null
  /** In this node's gossipsub mesh of the state topic. */
  inGossipMesh: boolean
  connected: boolean
}

export interface ReputationView {
  peerId: string
  /** This node's gossipsub mesh peers on the state topic. */
  gossipMesh: string[]
  policy: typeof reputationPolicy & { halfLifeMs: number, flapWindowMs: number, deltas: typeof reputationDefaults.deltas & { rejected: Readonly<Record<string, number>> } }
  peers: ReputationPeerView[]
}

export function reputationView (node: Pick<MeshNode, 'peerId' | 'topic' | 'libp2p' | 'reputation' | 'status'>): ReputationView {
  const pubsub = node.libp2p.services.pubsub
  // the implementation has these (@libp2p/gossipsub's GossipSub class); its exported interface does not
  const internals = pubsub as unknown as { getMeshPeers?: (topic: string) => string[], getScore?: (peer: string) => number }
  const mesh = (internals.getMeshPeers?.(node.topic) ?? []).map(p => String(p)).sort()
  const inMesh = new Set(mesh)
  const connected = new Set(node.libp2p.getConnections().map(c => c.remotePeer.toString()))
  const gossipPeers = new Set(pubsub.getPeers().map(p => p.toString()))
  const names = new Map(node.status().members.map(m => [m.peerId, m.name]))
  return {
    peerId: node.peerId,
    gossipMesh: mesh,
    policy: { ...reputationPolicy, halfLifeMs: reputationDefaults.halfLifeMs, flapWindowMs, deltas: { ...reputationDefaults.deltas, rejected: { ...rejectedDeltas, ...messageRejectedDeltas, ...gossipLayerRejectedDeltas } } },
    peers: node.reputation.list().map(p => ({
      peerId: p.peerId,
      name: names.get(p.peerId) ?? '',
      score: p.score,
      banned: p.banned,
      reasons: p.reasons,
      gossipScore: gossipPeers.has(p.peerId) && internals.getScore != null ? Math.round(internals.getScore(p.peerId) * 100) / 100 : null,
      inGossipMesh: inMesh.has(p.peerId),
      connected: connected.has(p.peerId)
    }))
  }
}

export function reputationRoutes (node: () => Pick<MeshNode, 'peerId' | 'topic' | 'libp2p' | 'reputation' | 'status'>): RouteHandler {
  return async (method, url) => {
    const parts = pathParts(url)
    if (parts.length !== 2 || parts[0] !== 'v1' || parts[1] !== 'reputation' || method !== 'GET') return null
    return { code: 200, body: reputationView(node()) }
  }
}
