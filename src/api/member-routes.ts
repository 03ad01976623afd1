/**
 * HTTP routes for operating on members and connections (used by the MCP server's daa_fault_tolerance
 * and topology_optimize tools, and by anyone with curl):
 *
 *   GET  /v1/members                       every member's health, with --min-peers / --max-peers
 *   GET  /v1/members/:peerIdOrName         one member's health (state, silence, RTT, links, probe round)
 *   POST /v1/members/:peerIdOrName/suspect suspect an alive member now: the normal failure-detection
 *                                          path follows (own and indirect probes, helper-majority
 *                                          confirmation; a live member is back to alive at once)
 *   POST /v1/topology/optimize [{"timeoutMs"}]  re-balance connections: hang up on peers above
 *                                          --max-peers (keeping validator and low-RTT links), dial alive
 *                                          members up to --min-peers; says what it did
 */
import type { MemberState } from '../core/membership.js'
import type { RebalanceReport } from '../runtime/connection-keeper.js'
import type { ConnectionView, MemberView, NodeStatus } from '../runtime/mesh-node.js'
import { HttpError, pathParts } from './server.js'
import type { RouteHandler } from './server.js'

export interface MemberSource {
  readonly config: { minPeers: number, maxPeers: number }
  status: () => NodeStatus
  connectionList: () => ConnectionView[]
  suspectMember: (peerId: string) => { started: boolean, state: MemberState | null, helpers: string[] }
  suspicion: (peerId: string) => { round: number, asked: string[], unreachable: string[] } | undefined
  rebalance: (timeoutMs: number) => Promise<RebalanceReport>
}

export interface MemberHealth {
  peerId: string
  name: string
  self: boolean
  state: MemberState
  /** Alive, and (unless it is this node) heard from within the failure timeout. */
  healthy: boolean
  lastSeenMs: number
  failureTimeoutMs: number
  rttMs: number | null
  connected: boolean
  /** Open connections from this node to it. */
  connections: number
  incarnation: number
  sequence: number
  load: MemberView['load']
  capabilities: string[]
  /** While suspect: the probe round, the helpers asked, and those that could not reach it. */
  suspicion: { round: number, asked: string[], unreachable: string[] } | null
  /** [reputation] This node's reputation of the member (score, banned, top reasons); null for itself. */
  reputation: MemberView['reputation'] | null
  /** [zones] Its zone (--zone); null without one. */
  zone?: string | null
}

/** Longest member reference accepted (a PeerId is 52 characters; names are short labels). */
const memberRefLengthMax = 128
const rebalanceTimeoutMsDefault = 10_000
const rebalanceTimeoutMsMax = 60_000

function health (member: MemberView, status: NodeStatus, connections: ConnectionView[], source: MemberSource): MemberHealth {
  return {
    peerId: member.peerId,
    name: member.name,
    self: member.self,
    state: member.state,
    healthy: member.state === 'alive' && (member.self || member.lastSeenMs <= status.failureTimeoutMs),
    lastSeenMs: member.lastSeenMs,
    failureTimeoutMs: status.failureTimeoutMs,
    rttMs: member.rttMs,
    connected: member.connected,
    connections: connections.filter(c => c.peerId === member.peerId).length,
    incarnation: member.incarnation,
    sequence: member.sequence,
    load: member.load,
    capabilities: member.capabilities,
    suspicion: source.suspicion(member.peerId) ?? null,
    reputation: member.reputation ?? null,
    zone: member.zone ?? null // [zones]
  }
}

/** A member by PeerId, or by name when exactly one member has it; a clear 4xx otherwise. */
export function findMember (members: MemberView[], ref: string): MemberView {
  if (ref.length === 0 || ref.length > memberRefLengthMax) throw new HttpError(400, `a member is named by its PeerId or name (1-${memberRefLengthMax} characters)`)
  const byId = members.find(m => m.peerId === ref)
  if (byId != null) return byId
  const byName = members.filter(m => m.name === ref)
  if (byName.length === 1 && byName[0] != null) return byName[0]
  if (byName.length > 1) throw new HttpError(409, `${byName.length} members are named "${ref}": use a PeerId (${byName.map(m => m.peerId).join(', ')})`)
  throw new HttpError(404, `no member "${ref.slice(0, 70)}" (GET /v1/peers or mesh peers lists them)`)
}

export function memberRoutes (source: () => MemberSource): RouteHandler {
  return async (method, url, body) => {
    const parts = pathParts(url)
    if (parts[0] !== 'v1') return null
    if (parts[1] === 'members') {
      const node = source()
      if (parts.length === 2 && method === 'GET') {
        const status = node.status()
        const connections = node.connectionList()
        return {
          code: 200,
          body: {
            peerId: status.peerId,
            minPeers: node.config.minPeers,
            maxPeers: node.config.maxPeers,
            connections: connections.length,
            members: status.members.map(m => health(m, status, connections, node))
          }
        }
      }
      const ref = parts[2]
      if (ref == null) return null
      if (parts.length === 3 && method === 'GET') {
        const status = node.status()
        return { code: 200, body: health(findMember(status.members, ref), status, node.connectionList(), node) }
      }
      if (parts.length === 4 && parts[3] === 'suspect' && method === 'POST') {
        const member = findMember(node.status().members, ref)
        if (member.self) throw new HttpError(409, 'a node does not suspect itself: ask another member to suspect it')
        if (member.state === 'failed' || member.state === 'left') {
          throw new HttpError(409, `${member.name !== '' ? member.name : member.peerId} is already ${member.state}: there is nothing to suspect (a restart makes it alive again)`)
        }
        const outcome = node.suspectMember(member.peerId)
        return {
          code: outcome.started ? 202 : 200,
          body: {
            peerId: member.peerId,
            name: member.name,
            from: member.state,
            state: outcome.state,
            started: outcome.started,
            helpers: outcome.helpers,
            note: outcome.started
              ? `suspected: probing it directly and through ${outcome.helpers.length} helper(s); it is declared failed only if a majority of at least 2 helpers cannot reach it, or after 2 × the failure timeout of silence; a live member is back to alive at its next sign of life`
              : 'already suspect: the current round of probes goes on'
          }
        }
      }
      return null
    }
    if (parts[1] === 'topology' && parts[2] === 'optimize' && parts.length === 3 && method === 'POST') {
      let timeoutMs = rebalanceTimeoutMsDefault
      if (body !== undefined) {
        if (typeof body !== 'object' || body == null || Array.isArray(body)) throw new HttpError(400, 'body must be empty or a JSON object like {"timeoutMs": 10000}')
        for (const key of Object.keys(body)) {
          if (key !== 'timeoutMs') throw new HttpError(400, `unknown field "${key.slice(0, 40)}" (fields: timeoutMs)`)
        }
        const given = (body as { timeoutMs?: unknown }).timeoutMs
        if (given !== undefined) {
          if (!Number.isInteger(given) || (given as number) < 100 || (given as number) > rebalanceTimeoutMsMax) throw new HttpError(400, `"timeoutMs" must be a whole number of milliseconds, 100-${rebalanceTimeoutMsMax}`)
          timeoutMs = given as number
        }
      }
      return { code: 200, body: await source().rebalance(timeoutMs) }
    }
    return null
  }
}
