/**
 * HTTP routes of gossip votes, in front of the consensus proposal routes (src/api/consensus-routes.ts):
 *
 *   POST /v1/proposals  {"proposal": <json>, "threshold": 0.67, "protocol": "gossip", "ttlSeconds": 3600}
 *        protocol: "gossip" | "pbft" | "raft"; absent: the genesis' engine where there is one, else gossip.
 *        pbft/raft go on to the consensus routes (which must match the genesis).
 *   POST /v1/proposals/:id/votes  {"decision": "approve" | "reject"}   routed by the proposal's protocol
 *   GET  /v1/proposals[?status=open|approved|rejected|expired][&protocol=gossip|pbft|raft]
 *        both kinds, each with `protocol` and `finality` ("final" for pbft/raft, "eventual" for gossip);
 *        gossip ones first (newest first), then consensus ones (newest first)
 *   GET  /v1/proposals/:id   a gossip proposal here; others go on to the consensus routes
 *   GET  /v1/votes/stats      gossip votes' counters: held, refused by reason, anti-entropy exchanges
 */
import type { MeshApplication, ProposalStatus } from '../core/app/application.js'
import type { Consensus } from '../runtime/consensus/types.js'
import { GossipVoteError } from '../runtime/gossip/gossip-votes.js'
import type { GossipProposalView, GossipVotesRuntime } from '../runtime/gossip/gossip-votes.js'
import { proposalTtlDefaultMs, proposalTtlMaxMs } from '../../protocols/votes/constants.js'
import { HttpError, pathParts } from './server.js'
import type { RouteHandler } from './server.js'

export type ProposalProtocol = 'pbft' | 'raft' | 'gossip'

const protocols = new Set<string>(['pbft', 'raft', 'gossip'])
const statuses = new Set<string>(['open', 'approved', 'rejected', 'expired'])
/** Threshold when none is given: the same default as consensus proposals. */
const defaultThreshold = 0.67

function mapError (err: unknown): never {
  if (err instanceof GossipVoteError) throw new HttpError(err.status, err.message)
  throw err
}

export function gossipVoteRoutes (votes: () => GossipVotesRuntime | null, consensus: () => Consensus | null, app: () => MeshApplication | null): RouteHandler {
  return async (method, url, body) => {
    const parts = pathParts(url)
    const gossip = votes()
    if (gossip == null) return null
    if (parts[0] === 'v1' && parts[1] === 'votes' && parts[2] === 'stats' && parts.length === 3 && method === 'GET') return { code: 200, body: gossip.statsView() }
    if (parts[0] !== 'v1' || parts[1] !== 'proposals') return null
    const object = (typeof body === 'object' && body != null ? body : {}) as Record<string, unknown>
    const [, , id, sub] = parts

    if (parts.length === 2 && method === 'GET') {
      const status = url.searchParams.get('status') ?? undefined
      if (status != null && !statuses.has(status)) throw new HttpError(400, 'status must be open, approved, rejected or expired')
      const only = url.searchParams.get('protocol') ?? undefined
      if (only != null && !protocols.has(only)) throw new HttpError(400, 'protocol must be gossip, pbft or raft')
      const list: Array<GossipProposalView | Record<string, unknown>> = []
      if (only == null || only === 'gossip') list.push(...gossip.list(status as GossipProposalView['status'] | undefined))
      const c = consensus()
      const a = app()
      if (c != null && a != null && (only == null || only === c.mode)) {
        for (const p of a.proposals(100, status as ProposalStatus | undefined)) list.push({ ...p, protocol: c.mode, finality: 'final' })
      }
      return { code: 200, body: { proposals: list } }
    }

    if (parts.length === 2 && method === 'POST') {
      const requested = object.protocol
      if (requested !== undefined && (typeof requested !== 'string' || !protocols.has(requested))) throw new HttpError(400, 'protocol must be "gossip", "pbft" or "raft"')
      const c = consensus()
      const protocol = (requested as ProposalProtocol | undefined) ?? (c != null ? c.mode : 'gossip')
      if (protocol !== 'gossip') {
        if (c == null) throw new HttpError(409, `this node has no genesis, so no ${protocol} consensus: use "protocol": "gossip" (eventual, signed votes spread by gossip)`)
        if (c.mode !== protocol) throw new HttpError(400, `this network's genesis runs ${c.mode}, not ${protocol}: use "protocol": "${c.mode}" or "gossip"`)
        return null // the consensus routes take it
      }
      if (!('proposal' in object)) throw new HttpError(400, 'body must be {"proposal": <json>, "threshold": 0.67, "protocol": "gossip", "ttlSeconds": 3600}')
      const threshold = object.threshold ?? defaultThreshold
      if (typeof threshold !== 'number' || !(threshold > 0 && threshold <= 1)) throw new HttpError(400, 'threshold must be a number in (0, 1]')
      const ttlSeconds = object.ttlSeconds ?? proposalTtlDefaultMs / 1000
      if (typeof ttlSeconds !== 'number' || !Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds * 1000 > proposalTtlMaxMs) {
        throw new HttpError(400, `ttlSeconds must be a whole number of seconds in 1..${proposalTtlMaxMs / 1000}`)
      }
      try {
        return { code: 200, body: await gossip.propose(object.proposal, threshold, ttlSeconds * 1000) }
      } catch (err) { mapError(err) }
    }

    if (id == null || !gossip.has(id)) {
      // not a gossip proposal: the consensus routes answer, or nobody does on a node without a genesis
      if (consensus() == null && parts.length >= 3 && parts.length <= 4) return { code: 404, body: { error: `no proposal ${id ?? ''} (this node has no genesis: only gossip proposals, see GET /v1/proposals)` } }
      return null
    }
    if (parts.length === 3 && method === 'GET') return { code: 200, body: gossip.view(id) }
    if (parts.length === 4 && sub === 'votes' && method === 'POST') {
      if (object.decision !== 'approve' && object.decision !== 'reject') throw new HttpError(400, 'body must be {"decision": "approve" | "reject"}')
      try {
        return { code: 200, body: await gossip.vote(id, object.decision === 'approve') }
      } catch (err) { mapError(err) }
    }
    return null
  }
}
