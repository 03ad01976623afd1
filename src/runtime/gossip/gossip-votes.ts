/**
 * The runtime of gossip votes: drives the CRDT core (src/core/gossip/votes.ts) with verified proposals
 * and votes from the API, the gossip topic and anti-entropy; persists them; computes outcomes with
 * the wall clock (deadlines are wall-clock instants every node reads the same way, give or take
 * clock skew); forgets proposals `proposalRetainMs` after their deadline. Works with or without a
 * genesis: no consensus is involved, finality is eventual.
 *
 * Persistence: an append-only log in the data dir (votes-log.ts), one line per signed proposal or vote.
 * Every line is re-verified on start; a torn or corrupt line (kill -9 mid-append) is skipped and
 * counted, never fatal. The log is rewritten at start and when proposals are forgotten or it grows past
 * 4× what is live.
 */
import type { KeyObject } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Message } from '@libp2p/gossipsub'
import { GossipVotes, votesLimits } from '../../core/gossip/votes.js'
import type { Outcome, Proposal, Vote } from '../../core/gossip/votes.js'
import {
  VoteRejectedError, checkProposalFields, decodeGossip, encodeGossip, openProposal, openVote, proposalId, signProposal, signVote, signingKey,
  voteSetHash, voteToWire
} from '../../../protocols/votes/codec.js'
import { SignedProposal, SignedVote } from '../../../protocols/votes/votes.js'
import type { DigestEntry, Item } from '../../../protocols/votes/votes.js'
import type { VotesProtocol } from '../../../protocols/votes/service.js'
import {
  antiEntropyIntervalMs, exchangeBudgetBytes, proposalRetainMs, proposalTtlDefaultMs, proposalTtlMaxMs, votesRejectReasons, votesTopic
} from '../../../protocols/votes/constants.js'
import type { VotesRejectReason } from '../../../protocols/votes/constants.js'
import { VotesLog } from './votes-log.js'
import type { VotesLogLine } from './votes-log.js'

export { votesLogFileName } from './votes-log.js'

/** Peers already connected when the runtime starts that it exchanges with at once. */
const startExchangesMax = 3

/** What the API shows of a gossip proposal. */
export interface GossipProposalView {
  id: string
  protocol: 'gossip'
  finality: 'eventual'
  proposer: string
  /** The proposal, as JSON (what was proposed). */
  proposal: unknown
  threshold: number
  /** The consensus proposals' name for `needed`, so a client can read both kinds alike. */
  requiredApprovals: number
  needed: number
  /** Number of eligible members. */
  eligibleCount: number
  eligible: string[]
  /** open (the core's pending), approved, rejected, expired. */
  status: 'open' | 'approved' | 'rejected' | 'expired'
  approvals: number
  rejections: number
  remaining: number
  equivocators: string[]
  /** Conflicting signed votes of one member: the evidence (base64 Ed25519 signatures). */
  evidence: Array<{ voter: string, approveSignature: string, rejectSignature: string }>
  votes: Array<{ voter: string, decision: 'approve' | 'reject' }>
  createdAt: string
  deadline: string
}

export class GossipVoteError extends Error {
  override readonly name = 'GossipVoteError'
  constructor (readonly status: 400 | 403 | 404 | 409 | 503, message: string) {
    super(message)
  }
}

export interface GossipPubsub {
  topicValidators: Map<string, (from: PeerId, message: Message) => Promise<TopicValidatorResult> | TopicValidatorResult>
  subscribe: (topic: string) => void
  unsubscribe: (topic: string) => void
  publish: (topic: string, data: Uint8Array) => Promise<unknown>
}

export interface GossipVotesInit {
  network: string
  self: string
  privateKey: PrivateKey
  /** Where the log lives; null: in memory only (tests). */
  dataDir: string | null
  pubsub: GossipPubsub
  wire: VotesProtocol
  /** PeerIds of the members alive now (ourselves included or not: we are added). */
  aliveMembers: () => string[]
  /** PeerIds of connected peers, for anti-entropy. */
  connectedPeers: () => string[]
  /** Register a listener for new connections; returns the unregister function. */
  onConnect: (listener: (peer: string) => void) => () => void
  /** Wall clock (ms since the epoch). */
  now?: () => number
  /**
   * [reputation] A peer handed us a proposal or vote that fails verification (bad signature, invalid,
   * undecodable, oversize, ineligible voter): charged to it by the node's reputation. Never called for
   * stale, future-dated or unknown-proposal items (clocks and timing, not misconduct).
   */
  onRejected?: (peer: string, reason: string) => void
  log?: (line: string) => void
}

interface Held {
  createdMs: number
  wire: SignedProposal
}

export class GossipVotesRuntime {
  readonly topic: string
  readonly rejected: Record<VotesRejectReason, number>
  readonly stats = { proposalsAdded: 0, votesAdded: 0, equivocations: 0, published: 0, tornLines: 0, compactions: 0, forgotten: 0 }
  private readonly core = new GossipVotes()
  private readonly held = new Map<string, Held>()
  /** Vote-set hashes for the digest, dropped whenever a vote for the proposal is taken. */
  private readonly hashes = new Map<string, Uint8Array<ArrayBuffer>>()
  private readonly key: KeyObject
  private readonly now: () => number
  private readonly log: (line: string) => void
  private readonly file: VotesLog
  private timers: Array<ReturnType<typeof setInterval>> = []
  private offConnect: (() => void) | null = null
  private exchanging = 0

  constructor (private readonly init: GossipVotesInit) {
    this.topic = votesTopic(init.network)
    this.key = signingKey(init.privateKey)
    this.now = init.now ?? Date.now
    this.log = init.log ?? (() => {})
    this.file = new VotesLog(init.dataDir, this.log)
    this.rejected = Object.fromEntries(votesRejectReasons.map(r => [r, 0])) as Record<VotesRejectReason, number>
    this.load()
  }

  start (): void {
    const pubsub = this.init.pubsub
    pubsub.topicValidators.set(this.topic, (from, message) => this.validateGossip(message, from.toString()))
    pubsub.subscribe(this.topic)
    this.init.wire.setHandlers({
      digest: () => this.digest(),
      compare: digest => this.compare(digest),
      items: ids => this.items(ids),
      merge: (items, from) => { this.merge(items, from.toString()) }
    })
    this.timers.push(setInterval(() => { void this.antiEntropy() }, antiEntropyIntervalMs))
    this.timers.push(setInterval(() => { this.sweep() }, 60_000))
    for (const timer of this.timers) timer.unref?.()
    // a new connection: exchange at once (a joiner or a healed partition catches up in one round)
    this.offConnect = this.init.onConnect(peer => { void this.exchangeWith(peer) })
    // connections made before this runtime started (the host dials its seeds first) count as new: a
    // peer that called us then found no handlers here and pushed nothing
    for (const peer of this.init.connectedPeers().slice(0, startExchangesMax)) void this.exchangeWith(peer)
  }

  stop (): void {
    for (const timer of this.timers) clearInterval(timer)
    this.timers = []
    this.offConnect?.()
    this.offConnect = null
    this.init.wire.setHandlers(null)
    this.init.pubsub.topicValidators.delete(this.topic)
    this.init.pubsub.unsubscribe(this.topic)
  }

  // ── local actions (the API) ──

  /** Propose: signed by this node, eligible = members alive now. */
  async propose (proposal: unknown, threshold: number, ttlMs: number = proposalTtlDefaultMs): Promise<GossipProposalView> {
    const subject = JSON.stringify(proposal)
    if (subject === undefined) throw new GossipVoteError(400, 'proposal must be a JSON value')
    if (subject.length > votesLimits.subjectLengthMax) throw new GossipVoteError(400, `a gossip proposal is at most ${votesLimits.subjectLengthMax} characters of JSON (put bigger content in the memory store and propose its key)`)
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1_000 || ttlMs > proposalTtlMaxMs) throw new GossipVoteError(400, `ttl must be 1 s .. ${proposalTtlMaxMs / 3_600_000} h`)
    const eligible = [...new Set([this.init.self, ...this.init.aliveMembers()])].sort()
    if (eligible.length > votesLimits.eligibleMax) throw new GossipVoteError(503, `more than ${votesLimits.eligibleMax} members alive`)
    const createdMs = this.now()
    const fields = { proposer: this.init.self, eligible, threshold, deadlineMs: createdMs + ttlMs, createdMs, subject }
    const problem = checkProposalFields(fields)
    if (problem != null) throw new GossipVoteError(400, problem)
    const wire = signProposal(this.init.network, fields, this.key)
    const id = proposalId(this.init.network, fields)
    const answer = this.addProposal(openProposal(this.init.network, wire, this.now()), true)
    if (answer !== 'added' && answer !== 'duplicate') throw new GossipVoteError(503, `not recorded: ${answer}`)
    await this.publish(encodeGossip({ proposal: wire }))
    return this.view(id) as GossipProposalView
  }

  /** Vote as this node. The API never equivocates: a vote the other way than an earlier one is refused. */
  async vote (id: string, approve: boolean): Promise<GossipProposalView> {
    const proposal = this.core.proposal(id)
    if (proposal == null) throw new GossipVoteError(404, `no gossip proposal ${id}`)
    if (!proposal.eligible.includes(this.init.self)) throw new GossipVoteError(403, 'this node is not eligible: it was not an alive member when the proposal was made')
    const mine = this.core.votes(id)?.get(this.init.self)
    const earlier = mine?.approve ?? mine?.reject
    if (earlier !== undefined && earlier.approve !== approve) throw new GossipVoteError(409, `this node already voted ${earlier.approve ? 'approve' : 'reject'} on ${id}: a vote cannot be changed (a second, different vote would be equivocation and count as none)`)
    if (earlier === undefined) {
      const wire = signVote(this.init.network, id, this.init.self, approve, this.key)
      this.addVote(openVote(this.init.network, wire), true)
      await this.publish(encodeGossip({ vote: wire }))
    }
    return this.view(id) as GossipProposalView
  }

  // ── what the API shows ──

  has (id: string): boolean {
    return this.core.proposal(id) != null
  }

  view (id: string): GossipProposalView | undefined {
    const proposal = this.core.proposal(id)
    const held = this.held.get(id)
    const outcome = this.core.outcome(id, this.now())
    if (proposal == null || held == null || outcome == null) return undefined
    return this.render(proposal, held, outcome)
  }

  /** Newest first. */
  list (status?: GossipProposalView['status']): GossipProposalView[] {
    const out: GossipProposalView[] = []
    for (const id of [...this.held.keys()].sort((a, b) => (this.held.get(b) as Held).createdMs - (this.held.get(a) as Held).createdMs || (a < b ? -1 : 1))) {
      const view = this.view(id)
      if (view != null && (status == null || view.status === status)) out.push(view)
    }
    return out
  }

  outcome (id: string): Outcome | undefined {
    return this.core.outcome(id, this.now())
  }

  /** Counters for GET /v1/votes/stats: what is held, what was refused and why, anti-entropy exchanges. */
  statsView (): { proposals: number, pendingVotes: number, stats: GossipVotesRuntime['stats'], rejected: Record<VotesRejectReason, number>, coreRefusals: Record<string, number>, antiEntropy: VotesProtocol['stats'] } {
    return {
      proposals: this.held.size,
      pendingVotes: this.core.pendingCount(),
      stats: { ...this.stats },
      rejected: { ...this.rejected },
      coreRefusals: this.core.refusalCounts(),
      antiEntropy: { ...this.init.wire.stats }
    }
  }

  private render (proposal: Proposal, held: Held, outcome: Outcome): GossipProposalView {
    const votes = this.core.votes(proposal.id) ?? new Map()
    let parsed: unknown = proposal.subject
    try { parsed = JSON.parse(proposal.subject) } catch {}
    return {
      id: proposal.id,
      protocol: 'gossip',
      finality: 'eventual',
      proposer: proposal.proposer,
      proposal: parsed,
      threshold: proposal.threshold,
      requiredApprovals: outcome.needed,
      needed: outcome.needed,
      eligibleCount: outcome.eligible,
      eligible: [...proposal.eligible],
      status: outcome.status === 'pending' ? 'open' : outcome.status,
      approvals: outcome.approvals,
      rejections: outcome.rejections,
      remaining: outcome.remaining,
      equivocators: outcome.equivocators,
      evidence: this.core.evidence(proposal.id).map(e => ({ voter: e.approve.voter, approveSignature: e.approve.signature, rejectSignature: e.reject.signature })),
      votes: [...votes.entries()].sort((a, b) => a[0] < b[0] ? -1 : 1).flatMap(([voter, record]) => [
        ...(record.approve !== undefined ? [{ voter, decision: 'approve' as const }] : []),
        ...(record.reject !== undefined ? [{ voter, decision: 'reject' as const }] : [])
      ]),
      createdAt: new Date(held.createdMs).toISOString(),
      deadline: new Date(proposal.deadlineMs).toISOString()
    }
  }

  // ── gossip ──

  private async publish (bytes: Uint8Array): Promise<void> {
    try {
      await this.init.pubsub.publish(this.topic, bytes)
      this.stats.published++
    } catch (err) {
      // anti-entropy carries it later
      this.log(`warning: publishing a gossip vote failed: ${(err as Error).message}`)
    }
  }

  /** Gossipsub's topic validator: accept only what verifies; a refused message is the forwarder's fault. */
  validateGossip (message: Pick<Message, 'data'>, from?: string): TopicValidatorResult {
    try {
      const decoded = decodeGossip(message.data)
      if ('proposal' in decoded) {
        const answer = this.addProposal(openProposal(this.init.network, decoded.proposal, this.now()), true)
        if (answer !== 'added' && answer !== 'duplicate') { this.rejected.refused++; return TopicValidatorResult.Ignore }
      } else {
        const answer = this.addVote(openVote(this.init.network, decoded.vote), true)
        if (answer === 'not-eligible' || answer === 'malformed' || answer === 'wrong-proposal') { this.rejected.refused++; this.charge(from, 'refused'); return TopicValidatorResult.Reject }
        if (answer === 'unknown-proposal') { this.rejected.refused++; return TopicValidatorResult.Ignore }
      }
      return TopicValidatorResult.Accept
    } catch (err) {
      if (!(err instanceof VoteRejectedError)) throw err
      this.rejected[err.reason]++
      // stale / future: clocks differ, not necessarily misbehaviour
      if (err.reason === 'stale' || err.reason === 'future') return TopicValidatorResult.Ignore
      this.charge(from, err.reason)
      return TopicValidatorResult.Reject
    }
  }
  /** [reputation] Charge a peer for an item that failed verification (see `onRejected`). */
  private charge (from: string | undefined, reason: string): void {
    if (from !== undefined && from !== this.init.self) this.init.onRejected?.(from, reason)
  }


  // ── anti-entropy ──

  digest (): DigestEntry[] {
    return [...this.held.keys()].sort().map(id => ({ id, hash: this.hashOf(id) }))
  }

  private hashOf (id: string): Uint8Array<ArrayBuffer> {
    const cached = this.hashes.get(id)
    if (cached != null) return cached
    const hash = this.computeHash(id)
    this.hashes.set(id, hash)
    return hash
  }

  private computeHash (id: string): Uint8Array<ArrayBuffer> {
    const signatures: string[] = []
    for (const record of (this.core.votes(id) ?? new Map()).values()) {
      if (record.approve !== undefined) signatures.push(record.approve.signature)
      if (record.reject !== undefined) signatures.push(record.reject.signature)
    }
    return voteSetHash(signatures)
  }

  /** Our items the peer lacks or holds differently; the ids it holds that we lack or hold differently. */
  compare (digest: DigestEntry[]): { items: Item[], want: string[] } {
    const theirs = new Map(digest.map(e => [e.id, e.hash]))
    const differ: string[] = []
    const want: string[] = []
    for (const id of [...this.held.keys()].sort()) {
      const hash = theirs.get(id)
      if (hash == null || !sameBytes(hash, this.hashOf(id))) differ.push(id)
      if (hash != null && !sameBytes(hash, this.hashOf(id))) want.push(id)
    }
    for (const id of theirs.keys()) if (!this.held.has(id)) want.push(id)
    return { items: this.items(differ), want }
  }

  /** Items for ids, within the exchange budget (the rest go in a later round). */
  items (ids: string[]): Item[] {
    const out: Item[] = []
    let bytes = 0
    for (const id of ids) {
      const held = this.held.get(id)
      const votes = this.core.votes(id)
      if (held == null || votes == null) continue
      const item: Item = { proposal: held.wire, votes: [] }
      for (const record of votes.values()) {
        if (record.approve !== undefined) item.votes.push(voteToWire(record.approve))
        if (record.reject !== undefined) item.votes.push(voteToWire(record.reject))
      }
      const size = 200 * item.votes.length + 60 * held.wire.eligible.length + held.wire.subject.length + 200
      if (out.length > 0 && bytes + size > exchangeBudgetBytes) break
      bytes += size
      out.push(item)
    }
    return out
  }

  /** A peer's items: each proposal and each vote we do not hold yet is verified. */
  merge (items: Item[], from?: string): void {
    for (const item of items) {
      if (item.proposal == null) continue
      let id: string
      try {
        const opened = openProposal(this.init.network, item.proposal, this.now())
        id = opened.proposal.id
        const answer = this.addProposal(opened, true)
        if (answer !== 'added' && answer !== 'duplicate') { this.rejected.refused++; continue }
      } catch (err) {
        if (!(err instanceof VoteRejectedError)) throw err
        this.rejected[err.reason]++
        if (err.reason !== 'stale' && err.reason !== 'future') this.charge(from, err.reason)
        continue
      }
      const held = this.core.votes(id) ?? new Map()
      for (const wire of item.votes) {
        const record = held.get(wire.voter)
        const known = wire.approve ? record?.approve : record?.reject
        if (known !== undefined && known.signature === Buffer.from(wire.signature).toString('base64')) continue
        if (wire.proposal !== id) { this.rejected.invalid++; this.charge(from, 'invalid'); continue }
        try {
          const answer = this.addVote(openVote(this.init.network, wire), true)
          if (answer === 'not-eligible' || answer === 'malformed' || answer === 'wrong-proposal' || answer === 'unknown-proposal') this.rejected.refused++
          if (answer === 'not-eligible' || answer === 'malformed' || answer === 'wrong-proposal') this.charge(from, 'refused')
        } catch (err) {
          if (!(err instanceof VoteRejectedError)) throw err
          this.rejected[err.reason]++
          if (err.reason !== 'stale' && err.reason !== 'future') this.charge(from, err.reason)
        }
      }
    }
  }

  /**
   * One exchange with a random connected peer (skipped while one is running). A node holding nothing
   * skips its rounds: a mesh that never votes pays no idle streams, and a peer holding proposals reaches
   * it with its own rounds (a responder names the ids it wants) and on every new connection.
   */
  async antiEntropy (): Promise<void> {
    const peers = this.init.connectedPeers()
    if (peers.length === 0 || this.exchanging > 0 || this.held.size === 0) return
    await this.exchangeWith(peers[Math.floor(Math.random() * peers.length)] as string)
  }

  private async exchangeWith (peer: string): Promise<void> {
    this.exchanging++
    try {
      await this.init.wire.exchange(peerIdFromString(peer))
    } catch {
      // counted by the service; the next round picks another peer
    } finally {
      this.exchanging--
    }
  }

  // ── the core and the log ──

  private addProposal (opened: ReturnType<typeof openProposal>, persist: boolean): ReturnType<GossipVotes['addProposal']> {
    const answer = this.core.addProposal(opened.proposal)
    if (answer === 'added') {
      this.held.set(opened.proposal.id, { createdMs: opened.createdMs, wire: opened.wire })
      this.hashes.delete(opened.proposal.id) // the core has just added the votes it held for it
      this.stats.proposalsAdded++
      if (persist) this.append({ p: Buffer.from(SignedProposal.encode(opened.wire)).toString('base64') })
    }
    return answer
  }

  private addVote (opened: ReturnType<typeof openVote>, persist: boolean): ReturnType<GossipVotes['addVote']> {
    const answer = this.core.addVote(opened.vote)
    // a duplicate may still replace the kept signature (the smaller of two valid ones): drop the hash on any
    this.hashes.delete(opened.vote.proposal)
    if (answer === 'added' || answer === 'equivocation' || answer === 'held') {
      if (answer === 'added') this.stats.votesAdded++
      if (answer === 'equivocation') {
        this.stats.equivocations++
        this.log(`equivocation: ${opened.vote.voter} voted both ways on gossip proposal ${opened.vote.proposal.slice(0, 12)}…; its votes count as none`)
      }
      if (persist) this.append({ v: Buffer.from(SignedVote.encode(opened.wire)).toString('base64') })
    }
    return answer
  }

  private append (line: VotesLogLine): void {
    this.file.append(line)
  }

  /** Read the log (every line verified again; bad lines skipped), then rewrite it compact. */
  private load (): void {
    const lines = this.file.read()
    for (const line of lines) {
      try {
        const parsed = JSON.parse(line) as { p?: unknown, v?: unknown }
        if (typeof parsed.p === 'string') {
          this.addProposal(openProposal(this.init.network, SignedProposal.decode(Buffer.from(parsed.p, 'base64'), { limits: { eligible: votesLimits.eligibleMax } }), this.now()), false)
        } else if (typeof parsed.v === 'string') {
          this.addVote(openVote(this.init.network, SignedVote.decode(Buffer.from(parsed.v, 'base64'))), false)
        } else {
          this.stats.tornLines++
        }
      } catch {
        // a torn last line (kill -9 mid-append), a corrupt one, or one forgotten since: skip it
        this.stats.tornLines++
      }
    }
    if (this.stats.tornLines > 0) this.log(`gossip votes: skipped ${this.stats.tornLines} unreadable line(s) of ${this.file.path ?? 'the log'}`)
    if (lines.length > 0) this.compact()
  }

  /** Rewrite the log with what is live. */
  private compact (): void {
    if (this.file.path == null) return
    const lines: VotesLogLine[] = []
    for (const [id, held] of this.held) {
      lines.push({ p: Buffer.from(SignedProposal.encode(held.wire)).toString('base64') })
      for (const record of (this.core.votes(id) ?? new Map()).values()) {
        for (const vote of [record.approve, record.reject] as Array<Vote | undefined>) {
          if (vote !== undefined) lines.push({ v: Buffer.from(SignedVote.encode(voteToWire(vote))).toString('base64') })
        }
      }
    }
    if (this.file.rewrite(lines)) this.stats.compactions++
  }

  /** Forget proposals long past their deadline; compact the log when it has grown. */
  sweep (): void {
    const gone = this.core.forget(this.now(), proposalRetainMs)
    for (const id of gone) { this.held.delete(id); this.hashes.delete(id) }
    this.stats.forgotten += gone.length
    let live = 0
    for (const id of this.held.keys()) live += 1 + (this.core.votes(id)?.size ?? 0)
    if (gone.length > 0 || this.file.lines > 4 * live + 1_000) this.compact()
  }
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
