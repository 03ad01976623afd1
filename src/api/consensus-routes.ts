/**
 * HTTP routes of the replicated application: writes go through consensus, reads are served locally
 * with the sequence number they reflect (or after a `noop` through consensus with ?linearizable=1).
 *
 *   GET    /v1/consensus
 *   GET    /v1/consensus/rtt?samples=20        round trips to every other member on the consensus streams (ms)
 *   GET    /v1/memory                         namespaces
 *   GET    /v1/memory/:ns?prefix=&limit=      list
 *   GET    /v1/memory/:ns/:key[?linearizable=1]
 *   PUT    /v1/memory/:ns/:key   {"value": "…"}
 *   POST   /v1/memory/:ns        {"puts": [{"key", "value"}, …]}   1..256 writes in one exchange, answered in order
 *   DELETE /v1/memory/:ns/:key
 *   (every write: "requestId" in the body, or ?requestId=, retries a write that answered 504)
 *   GET    /v1/proposals[?status=]            newest first
 *   GET    /v1/proposals/:id
 *   POST   /v1/proposals         {"proposal": <json>, "threshold": 0.67}   ("protocol": "gossip": src/api/gossip-vote-routes.ts)
 *   POST   /v1/proposals/:id/votes {"decision": "approve" | "reject"}
 *   (Raft only, on the leader; elsewhere 421 {error, leader})
 *   POST   /v1/consensus/members                  {"peerId"}   add a learner
 *   POST   /v1/consensus/members/:peerId/promote               learner → voter
 *   DELETE /v1/consensus/members/:peerId                       remove a voter or learner
 *   POST   /v1/consensus/transfer                 {"to"?}      hand leadership over (default: the most up-to-date voter)
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { MeshApplication, validateOperation } from '../core/app/application.js'
import type { ProposalStatus } from '../core/app/application.js'
import { NoQuorumError, NotSentError, OutcomeUnknownError, RequestIdError, RequestMismatchError, requestIdLengthMax } from '../runtime/consensus/client-request-id.js'
import type { Consensus, MembershipChangeRequest } from '../runtime/consensus/types.js'
import { NotLeaderError, OperatorError } from '../runtime/consensus/raft.js'
import type { ReadFloor } from '../runtime/consensus/read-floor.js'
import { HttpError, pathParts } from './server.js'
import type { RouteHandler } from './server.js'

/** Puts in one `POST /v1/memory/:ns` batch. */
const batchPutsMax = 256

const proposalStatuses = new Set(['open', 'approved', 'rejected', 'expired'])
/** After a restart, a plain read waits this long for the node to reach the prefix it showed before (read-floor.ts). */
const plainReadWaitMs = 5_000
/** A membership change waits this long for its entry to apply (an election may intervene). */
const membershipChangeTimeoutMs = 15_000
/** A transfer has an election timeout (1–2 s) to finish; allow for a slow box. */
const transferTimeoutMs = 5_000

/** A PeerId as a string, validated (the change names it for good: a typo would add a member nobody runs). */
function peerIdParam (value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 128) throw new HttpError(400, `${field} must be a PeerId (e.g. 12D3KooW…; mesh status lists them)`)
  try {
    return peerIdFromString(value).toString()
  } catch {
    throw new HttpError(400, `${field} "${value.slice(0, 64)}" is not a valid PeerId (mesh status lists the members' PeerIds)`)
  }
}

export function consensusRoutes (consensus: () => Consensus | null, app: () => MeshApplication | null, readFloor?: () => ReadFloor | null): RouteHandler {
  const need = (): { consensus: Consensus } => {
    const c = consensus()
    if (c == null) throw new HttpError(404, 'this node is not part of a consensus network (started with --consensus none, or joined a gossip-only network): restart it without --consensus none to found one, with --bootstrap to join one, or with --genesis (see docs/founding.md)')
    return { consensus: c }
  }
  const reader = (): MeshApplication => {
    const a = app()
    if (a == null) throw new HttpError(404, 'this node is not part of a consensus network (started with --consensus none, or joined a gossip-only network): restart it without --consensus none to found one, with --bootstrap to join one, or with --genesis (see docs/founding.md)')
    return a
  }
  /**
   * The application for a plain (local) memory read: never an older prefix than this node has answered
   * at before, restarts included (src/runtime/consensus/read-floor.ts). Call `answered` with what the
   * answer shows before it leaves.
   */
  const plainReader = async (): Promise<{ a: MeshApplication, answered: (lastApplied: number) => void }> => {
    const floor = readFloor?.() ?? null
    const before = reader()
    if (floor != null && before.lastApplied < floor.value) {
      try {
        await need().consensus.waitExecuted(floor.value, plainReadWaitMs)
      } catch {
        throw new HttpError(503, `this node restarted and has applied ${reader().lastApplied} of the ${floor.value} decisions it had already shown readers; it is catching up: retry in a moment, ask another node, or read with ?linearizable=1`)
      }
    }
    return { a: reader(), answered: lastApplied => floor?.served(lastApplied) }
  }
  /**
   * Validate, order through consensus, map the application's answer to HTTP. With `requestId` (the
   * id a 504 answered with) it is a retry of that write: exactly-once through the client table.
   *   503: refused at once, never sent, will not apply (no quorum, or never left the node's queue);
   *   504: sent, not decided in time, outcome unknown: the body carries `requestId` to retry with.
   */
  const write = async (operation: Record<string, unknown>, requestId?: string): Promise<{ code: number, body: unknown }> => {
    const text = JSON.stringify(operation)
    const check = validateOperation(text)
    if (!check.ok) throw new HttpError(400, check.error)
    try {
      const c = need().consensus
      const { result, seq } = requestId != null ? await c.retry(requestId, text) : await c.propose(text)
      const parsed = JSON.parse(result) as { ok: boolean, error?: string }
      return { code: parsed.ok ? 200 : 409, body: { ...parsed, seq, ...(requestId != null ? { requestId } : {}) } }
    } catch (err) {
      if (err instanceof NoQuorumError || err instanceof NotSentError) throw new HttpError(503, err.message)
      if (err instanceof OutcomeUnknownError) return { code: 504, body: { error: err.message, requestId: err.requestId, outcome: 'unknown' } }
      if (err instanceof RequestIdError) throw new HttpError(err.status, err.message)
      if (err instanceof RequestMismatchError) throw new HttpError(422, err.message)
      if (err instanceof HttpError) throw err
      throw new HttpError(504, (err as Error).message)
    }
  }
  /** The idempotency key of a retry: `requestId` in the JSON body (PUT, POST) or the query (any write, DELETE too). */
  const requestIdOf = (url: URL, object: Record<string, unknown>): string | undefined => {
    const inQuery = url.searchParams.get('requestId') ?? undefined
    const inBody = object.requestId
    if (inBody !== undefined && (typeof inBody !== 'string' || inBody.length === 0 || inBody.length > requestIdLengthMax)) {
      throw new HttpError(400, `requestId must be the id a 504 answered with (a string of at most ${requestIdLengthMax} characters)`)
    }
    if (inQuery != null && inBody != null && inQuery !== inBody) throw new HttpError(400, 'requestId differs between the query and the body: send it once')
    return inBody ?? inQuery
  }
  const linearize = async (): Promise<void> => {
    const c = need().consensus
    if (c.readIndex != null) {
      // Raft: ReadIndex (the leader confirms it still leads, this node applies up to its commit index);
      // refused (503) rather than served stale when leadership cannot be confirmed
      try {
        await c.readIndex(5_000)
      } catch (err) {
        if (err instanceof NoQuorumError) throw new HttpError(503, err.message)
        throw new HttpError(504, (err as Error).message)
      }
      return
    }
    const answer = await write({ op: 'noop' })
    // a no-op that timed out may still apply: harmless, but this read is not linearizable
    if (answer.code !== 200) throw new HttpError(answer.code, `the read's no-op was not committed: ${(answer.body as { error?: string }).error ?? answer.code}; retry the read`)
    const { seq } = answer.body as { seq: number }
    reader()
    // f+1 replicas answered, but not necessarily this one yet: wait until it has executed the noop
    try {
      await need().consensus.waitExecuted(seq, 5_000)
    } catch (err) {
      throw new HttpError(504, (err as Error).message)
    }
  }

  /** The Raft operator actions, with their errors mapped once: 421 not the leader, 409 refused, 503 no quorum, 504 unknown. */
  const operator = async <T>(action: (c: Consensus) => Promise<T>): Promise<T> => {
    const c = need().consensus
    if (c.mode !== 'raft' || c.changeMembership == null || c.transferLeadership == null) {
      throw new HttpError(409, 'membership changes and leadership transfer need a Raft genesis: this network runs pBFT, whose validator set is fixed by its genesis (write a new genesis with mesh genesis --validator … and restart every node on it, or start a Raft network with mesh testnet --consensus raft)')
    }
    try {
      return await action(c)
    } catch (err) {
      if (err instanceof NotLeaderError) throw err // answered 421 by atLeader
      if (err instanceof OperatorError) throw new HttpError(409, err.message)
      if (err instanceof NoQuorumError) throw new HttpError(503, err.message)
      if (err instanceof HttpError) throw err
      throw new HttpError(504, `${(err as Error).message}; the outcome is unknown: check mesh consensus`)
    }
  }
  const change = async (request: MembershipChangeRequest): Promise<{ code: number, body: unknown }> => {
    const { index } = await operator(async c => await (c.changeMembership as NonNullable<Consensus['changeMembership']>)(request, membershipChangeTimeoutMs))
    const raft = need().consensus.status().raft
    return { code: 200, body: { ok: true, change: request.type, peerId: request.node, index, voters: raft?.members.filter(m => m.role === 'voter').map(m => m.peerId) ?? [], learners: raft?.members.filter(m => m.role === 'learner').map(m => m.peerId) ?? [] } }
  }

  /** Not the leader: 421 with the leader's PeerId, so a client can send the action there. */
  const atLeader = async (route: () => Promise<{ code: number, body: unknown }>): Promise<{ code: number, body: unknown }> => {
    try {
      return await route()
    } catch (err) {
      if (err instanceof NotLeaderError) return { code: 421, body: { error: err.message, leader: err.leader } }
      throw err
    }
  }

  // [eventual] every memory answer says its consistency: writes, and reads with ?linearizable=1 (or
  // ?consistency=linearizable), are linearizable; other reads are sequential (this node's applied
  // prefix). ?consistency=eventual is answered by src/api/eventual-routes.ts, which runs first.
  const routes: RouteHandler = async (method, url, body) => {
    const answer = await consensusRoute(method, url, body)
    if (answer == null || pathParts(url)[1] !== 'memory' || typeof answer.body !== 'object' || answer.body == null) return answer
    const consistency = method !== 'GET' ? 'linearizable' : linearizableRead(url) && pathParts(url).length === 4 ? 'linearizable' : 'sequential'
    return { code: answer.code, body: { ...answer.body, consistency } }
  }
  const linearizableRead = (url: URL): boolean =>
    url.searchParams.get('linearizable') === '1' || url.searchParams.get('linearizable') === 'true' || url.searchParams.get('consistency') === 'linearizable'
  const consensusRoute: RouteHandler = async (method, url, body) => {
    const parts = pathParts(url)
    if (parts[0] !== 'v1') return null
    const object = (typeof body === 'object' && body != null ? body : {}) as Record<string, unknown>
    if (parts[1] === 'consensus' && parts.length === 2 && method === 'GET') {
      const c = consensus()
      return { code: 200, body: c == null ? { role: 'none', error: 'no genesis: not part of a consensus network' } : c.status() }
    }
    if (parts[1] === 'consensus' && parts[2] === 'members') {
      const [, , , peer, sub] = parts
      if (parts.length === 3 && method === 'POST') return await atLeader(async () => await change({ type: 'add-learner', node: peerIdParam(object.peerId, 'peerId') }))
      if (parts.length === 5 && sub === 'promote' && method === 'POST') return await atLeader(async () => await change({ type: 'promote', node: peerIdParam(peer, ':peerId') }))
      if (parts.length === 4 && method === 'DELETE') return await atLeader(async () => await change({ type: 'remove', node: peerIdParam(peer, ':peerId') }))
      return null
    }
    if (parts[1] === 'consensus' && parts[2] === 'transfer' && parts.length === 3 && method === 'POST') {
      const requested = object.to !== undefined ? peerIdParam(object.to, 'to') : undefined
      return await atLeader(async () => {
        const result = await operator(async c => {
        const to = requested ?? c.mostUpToDateVoter?.() ?? null
        if (to == null) throw new OperatorError('no voter to transfer to: this leader has no connected voter (a single-voter network cannot transfer)')
        const from = c.status().primary
        await (c.transferLeadership as NonNullable<Consensus['transferLeadership']>)(to, transferTimeoutMs)
        return { from, to }
        })
        return { code: 200, body: { ok: true, from: result.from, leader: result.to, term: need().consensus.status().raft?.term ?? null } }
      })
    }
    if (parts[1] === 'consensus' && parts[2] === 'rtt' && parts.length === 3 && method === 'GET') {
      // the RTT floor: sequential echo round trips to every other member on the consensus streams
      const c = need().consensus
      if (c.transportRtt == null) throw new HttpError(404, 'this engine cannot measure its transport RTT')
      const samples = Number(url.searchParams.get('samples') ?? 20)
      if (!Number.isInteger(samples) || samples < 1 || samples > 1000) throw new HttpError(400, 'samples must be 1..1000')
      try {
        return { code: 200, body: { samples, rttMs: await c.transportRtt(samples, 5_000) } }
      } catch (err) {
        throw new HttpError(504, (err as Error).message)
      }
    }
    if (parts[1] === 'memory') {
      const [, , namespace, key] = parts
      if (parts.length === 2 && method === 'GET') {
        const { a, answered } = await plainReader()
        answered(a.lastApplied)
        return { code: 200, body: { lastApplied: a.lastApplied, namespaces: a.namespaces() } }
      }
      if (namespace == null) return null
      if (parts.length === 3 && method === 'GET') {
        const limit = Number(url.searchParams.get('limit') ?? 100)
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpError(400, 'limit must be 1..1000')
        const { a, answered } = await plainReader()
        answered(a.lastApplied)
        return { code: 200, body: { namespace, lastApplied: a.lastApplied, entries: a.list(namespace, url.searchParams.get('prefix') ?? '', limit, url.searchParams.get('after') ?? undefined) } }
      }
      if (parts.length === 3 && method === 'POST') {
        // a batch of puts: each its own write through consensus (its own request id, exactly-once),
        // proposed together so one HTTP exchange carries many; answers in order, one status each
        const puts = object.puts
        if (!Array.isArray(puts) || puts.length < 1 || puts.length > batchPutsMax) throw new HttpError(400, `body must be {"puts": [{"key", "value"}, …]} with 1..${batchPutsMax} items`)
        const operations = puts.map((item: unknown, index) => {
          const p = (typeof item === 'object' && item != null ? item : {}) as Record<string, unknown>
          if (typeof p.key !== 'string' || p.key === '' || typeof p.value !== 'string') throw new HttpError(400, `puts[${index}] must be {"key": "<string>", "value": "<string>"}`)
          const operation = { op: 'put', namespace, key: p.key, value: p.value }
          const check = validateOperation(JSON.stringify(operation))
          if (!check.ok) throw new HttpError(400, `puts[${index}]: ${check.error}`)
          return operation
        })
        const results = await Promise.all(operations.map(async operation => {
          try {
            const answer = await write(operation)
            return { code: answer.code, ...(answer.body as object) }
          } catch (err) {
            return { code: err instanceof HttpError ? err.code : 500, ok: false, error: (err as Error).message }
          }
        }))
        return { code: 200, body: { results } }
      }
      if (parts.length === 4 && key != null) {
        if (method === 'GET') {
          if (linearizableRead(url)) await linearize() // [eventual] ?consistency=linearizable too
          const { a, answered } = await plainReader()
          answered(a.lastApplied)
          const hit = a.get(namespace, key)
          if (hit == null) return { code: 404, body: { error: `no key "${key}" in namespace "${namespace}"`, lastApplied: a.lastApplied } }
          return { code: 200, body: { namespace, key, value: hit.value, seq: hit.seq, lastApplied: a.lastApplied } }
        }
        if (method === 'PUT' || method === 'POST') {
          if (typeof object.value !== 'string') throw new HttpError(400, 'body must be {"value": "<string ≤ 64 KiB>"}')
          return await write({ op: 'put', namespace, key, value: object.value }, requestIdOf(url, object))
        }
        if (method === 'DELETE') return await write({ op: 'delete', namespace, key }, requestIdOf(url, object))
      }
      return null
    }
    if (parts[1] === 'proposals') {
      const [, , id, sub] = parts
      if (parts.length === 2 && method === 'GET') {
        const status = url.searchParams.get('status') ?? undefined
        if (status != null && !proposalStatuses.has(status)) throw new HttpError(400, 'status must be open, approved, rejected or expired')
        // [votes] labelled like the gossip ones (src/api/gossip-vote-routes.ts lists both kinds when it runs)
        return { code: 200, body: { proposals: reader().proposals(100, status as ProposalStatus | undefined).map(p => ({ ...p, protocol: need().consensus.mode, finality: 'final' })) } }
      }
      if (parts.length === 2 && method === 'POST') {
        if (!('proposal' in object)) throw new HttpError(400, 'body must be {"proposal": <json>, "threshold": 0.67}')
        const operation: Record<string, unknown> = { op: 'propose', proposal: object.proposal }
        if (object.threshold !== undefined) operation.threshold = object.threshold
        return await write(operation, requestIdOf(url, object))
      }
      if (parts.length === 3 && id != null && method === 'GET') {
        const proposal = reader().proposal(id)
        // [votes] a consensus proposal says which engine decided it and that its outcome is final
        // (gossip proposals: src/api/gossip-vote-routes.ts, in front of these routes)
        return proposal == null ? { code: 404, body: { error: `no proposal ${id}` } } : { code: 200, body: { ...proposal, protocol: need().consensus.mode, finality: 'final' } }
      }
      if (parts.length === 4 && id != null && sub === 'votes' && method === 'POST') {
        if (object.decision !== 'approve' && object.decision !== 'reject') throw new HttpError(400, 'body must be {"decision": "approve" | "reject"}')
        return await write({ op: 'vote', id, decision: object.decision }, requestIdOf(url, object))
      }
    }
    return null
  }
  return routes
}
