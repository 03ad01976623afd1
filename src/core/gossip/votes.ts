/**
 * Gossip votes: a proposal and its votes as a state-based CRDT, for decisions a mesh without a
 * decision log takes by gossip (DESIGN.md: "shared, may lag"). Pure: time is passed in, no I/O.
 *
 * - A proposal (signed by its proposer — the runtime verifies signatures, this core takes verified
 *   values) names its eligible members (those alive when it was made), a threshold in (0, 1] and a
 *   deadline. `needed = ⌈threshold × eligible⌉` approvals carry it.
 * - A vote set holds, per eligible member, at most one approval and one rejection (each the version
 *   with the smallest signature, so the choice is the same everywhere). One of them is a vote; the same
 *   vote again is a duplicate (idempotent); both is equivocation: the pair is evidence against the
 *   member (CometBFT's VoteSet answers added / duplicate / conflicting the same way) and the member
 *   counts as none — neither approval nor potential approval.
 * - Merge is per member per choice "keep the smaller signature": a join, so commutative, associative
 *   and idempotent (the unit tests check it with fast-check).
 * - `outcome(now)`: approved once approvals ≥ needed; rejected once approvals + eligible members that
 *   have not voted < needed; otherwise expired after the deadline, pending before. Every node holding
 *   the same votes computes the same outcome at the same time. The outcome is not monotone in one
 *   case: a vote later revealed as equivocation is withdrawn, which can turn approved into pending or
 *   rejected (the point of counting equivocators as none). Votes are not timed, so a vote that reaches
 *   a node after the deadline still counts: a poorly connected node may say expired where a better
 *   connected one says approved, until anti-entropy brings it the votes.
 * - Votes of members not eligible are refused; votes for an unknown proposal are held (bounded,
 *   `pendingVotesMax`) until the proposal arrives, then refused if that buffer is full.
 */

export const votesLimits = {
  /** Proposals held at once (live plus retained after their deadline). */
  proposalsMax: 1_024,
  /** Eligible members of one proposal: the mesh size we plan for, with room. */
  eligibleMax: 10_000,
  /** Votes held for proposals we have not seen yet. */
  pendingVotesMax: 4_096,
  /** Proposal ids are digests (64 hex characters) or short names. */
  idLengthMax: 128,
  /** PeerIds are ~52 characters. */
  peerIdLengthMax: 128,
  /** Signatures (base64 of 64 bytes ≈ 88 characters) and other opaque proofs. */
  signatureLengthMax: 512,
  /** A short human description; the content itself is referenced by digest elsewhere. */
  subjectLengthMax: 1_024
} as const

export interface Proposal {
  /** Unique id (the runtime uses the digest of the signed proposal). */
  id: string
  proposer: string
  /** Sorted, distinct PeerIds of the members alive when it was made. */
  eligible: readonly string[]
  /** In (0, 1]. */
  threshold: number
  deadlineMs: number
  subject: string
}

export interface Vote {
  proposal: string
  voter: string
  approve: boolean
  /** The voter's signature over the vote, opaque here: kept so equivocation evidence can be forwarded. */
  signature: string
}

/** One member's votes on one proposal: both present means equivocation. */
export interface VoterRecord {
  approve?: Vote
  reject?: Vote
}

/** The votes on one proposal: voter → record. */
export type VoteSetState = ReadonlyMap<string, VoterRecord>

export type AddVoteResult = 'added' | 'duplicate' | 'equivocation' | 'held' | VoteRefusal
export type VoteRefusal = 'malformed' | 'not-eligible' | 'unknown-proposal' | 'wrong-proposal'
export type ProposalRefusal = 'malformed' | 'threshold' | 'too-many-eligible' | 'conflict' | 'full'

export type OutcomeStatus = 'approved' | 'rejected' | 'expired' | 'pending'

export interface Outcome {
  status: OutcomeStatus
  eligible: number
  needed: number
  approvals: number
  rejections: number
  /** Members that voted both ways, sorted. */
  equivocators: string[]
  /** Eligible members with no vote. */
  remaining: number
}

/** ⌈threshold × eligible⌉, at least 1 (a proposal with nobody eligible can never be approved). */
export function neededApprovals (threshold: number, eligible: number): number {
  // The epsilon guards against 2/3 × 3 = 2.0000000000000004 rounding up to 3.
  return Math.max(1, Math.ceil(threshold * eligible - 1e-9))
}

function smaller (a: Vote | undefined, b: Vote | undefined): Vote | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return b.signature < a.signature ? b : a
}

/** Join of two vote sets: per member per choice the vote with the smaller signature. */
export function mergeVoteSets (a: VoteSetState, b: VoteSetState): Map<string, VoterRecord> {
  const out = new Map<string, VoterRecord>()
  for (const set of [a, b]) {
    for (const [voter, record] of set) {
      const mine = out.get(voter) ?? {}
      const approve = smaller(mine.approve, record.approve)
      const reject = smaller(mine.reject, record.reject)
      out.set(voter, { ...(approve === undefined ? {} : { approve }), ...(reject === undefined ? {} : { reject }) })
    }
  }
  return out
}

/** The outcome of a proposal given its votes, at `nowMs`. */
export function outcomeOf (proposal: Proposal, votes: VoteSetState, nowMs: number): Outcome {
  const needed = neededApprovals(proposal.threshold, proposal.eligible.length)
  let approvals = 0
  let rejections = 0
  let remaining = 0
  const equivocators: string[] = []
  for (const member of proposal.eligible) {
    const record = votes.get(member)
    if (record === undefined || (record.approve === undefined && record.reject === undefined)) remaining++
    else if (record.approve !== undefined && record.reject !== undefined) equivocators.push(member)
    else if (record.approve !== undefined) approvals++
    else rejections++
  }
  let status: OutcomeStatus
  if (approvals >= needed) status = 'approved'
  else if (approvals + remaining < needed) status = 'rejected'
  else if (nowMs > proposal.deadlineMs) status = 'expired'
  else status = 'pending'
  return { status, eligible: proposal.eligible.length, needed, approvals, rejections, equivocators, remaining }
}

function validString (value: unknown, max: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= max
}

/** Stateless check of a proposal (validateBasic): the typed proposal or a reason. */
export function validateProposal (raw: unknown): Proposal | ProposalRefusal {
  if (typeof raw !== 'object' || raw === null) return 'malformed'
  const r = raw as Record<string, unknown>
  if (!validString(r.id, votesLimits.idLengthMax) || !validString(r.proposer, votesLimits.peerIdLengthMax)) return 'malformed'
  if (typeof r.subject !== 'string' || r.subject.length > votesLimits.subjectLengthMax) return 'malformed'
  if (typeof r.deadlineMs !== 'number' || !Number.isSafeInteger(r.deadlineMs) || r.deadlineMs < 0) return 'malformed'
  if (typeof r.threshold !== 'number' || !Number.isFinite(r.threshold)) return 'malformed'
  if (!(r.threshold > 0 && r.threshold <= 1)) return 'threshold'
  if (!Array.isArray(r.eligible)) return 'malformed'
  if (r.eligible.length > votesLimits.eligibleMax) return 'too-many-eligible'
  for (let i = 0; i < r.eligible.length; i++) {
    const member: unknown = r.eligible[i]
    if (!validString(member, votesLimits.peerIdLengthMax)) return 'malformed'
    // Sorted and distinct: one canonical form, so equal proposals are equal values.
    if (i > 0 && !((r.eligible[i - 1] as string) < member)) return 'malformed'
  }
  return { id: r.id, proposer: r.proposer, eligible: [...r.eligible as string[]], threshold: r.threshold, deadlineMs: r.deadlineMs, subject: r.subject }
}

export function validateVote (raw: unknown): Vote | 'malformed' {
  if (typeof raw !== 'object' || raw === null) return 'malformed'
  const r = raw as Record<string, unknown>
  if (!validString(r.proposal, votesLimits.idLengthMax) || !validString(r.voter, votesLimits.peerIdLengthMax)) return 'malformed'
  if (typeof r.approve !== 'boolean' || !validString(r.signature, votesLimits.signatureLengthMax)) return 'malformed'
  return { proposal: r.proposal, voter: r.voter, approve: r.approve, signature: r.signature }
}

function sameProposal (a: Proposal, b: Proposal): boolean {
  return a.proposer === b.proposer && a.threshold === b.threshold && a.deadlineMs === b.deadlineMs &&
    a.subject === b.subject && a.eligible.length === b.eligible.length && a.eligible.every((m, i) => m === b.eligible[i])
}

interface Tracked {
  proposal: Proposal
  eligible: ReadonlySet<string>
  votes: Map<string, VoterRecord>
}

/** The proposals a node knows and their vote sets. */
export class GossipVotes {
  private readonly proposals = new Map<string, Tracked>()
  /** Votes for proposals not seen yet, oldest first. */
  private pending: Vote[] = []
  private readonly refusals = new Map<string, number>()

  /** Add a verified proposal; votes held for it are then added. */
  addProposal (raw: unknown): 'added' | 'duplicate' | ProposalRefusal {
    const proposal = validateProposal(raw)
    if (typeof proposal === 'string') return this.refuse(proposal)
    const known = this.proposals.get(proposal.id)
    if (known !== undefined) return sameProposal(known.proposal, proposal) ? 'duplicate' : this.refuse('conflict')
    if (this.proposals.size >= votesLimits.proposalsMax) return this.refuse('full')
    this.proposals.set(proposal.id, { proposal, eligible: new Set(proposal.eligible), votes: new Map() })
    const held = this.pending.filter(v => v.proposal === proposal.id)
    this.pending = this.pending.filter(v => v.proposal !== proposal.id)
    for (const vote of held) this.addVote(vote)
    return 'added'
  }

  /** Add a verified vote. */
  addVote (raw: unknown): AddVoteResult {
    const vote = validateVote(raw)
    if (vote === 'malformed') return this.refuse(vote)
    const tracked = this.proposals.get(vote.proposal)
    if (tracked === undefined) {
      if (this.pending.length >= votesLimits.pendingVotesMax) return this.refuse('unknown-proposal')
      this.pending.push(vote)
      return 'held'
    }
    if (!tracked.eligible.has(vote.voter)) return this.refuse('not-eligible')
    // In place, the same join as mergeVoteSets for one vote (O(1), not a copy of the set per vote).
    const record = tracked.votes.get(vote.voter) ?? {}
    const slot = vote.approve ? 'approve' : 'reject'
    const had = record[slot]
    const other = vote.approve ? record.reject : record.approve
    tracked.votes.set(vote.voter, { ...record, [slot]: smaller(had, vote) })
    if (had !== undefined) return 'duplicate'
    return other !== undefined ? 'equivocation' : 'added'
  }

  /**
   * Merge a peer's vote set for a proposal we know (anti-entropy): every vote is checked like `addVote`
   * (shape, eligibility, proposal id); returns how many were refused.
   */
  mergeVotes (proposalId: string, remote: VoteSetState): number {
    const tracked = this.proposals.get(proposalId)
    if (tracked === undefined) { this.refuse('unknown-proposal'); return 1 }
    let refused = 0
    const clean = new Map<string, VoterRecord>()
    for (const [voter, record] of remote) {
      const kept: VoterRecord = {}
      for (const [slot, raw] of [['approve', record.approve], ['reject', record.reject]] as const) {
        if (raw === undefined) continue
        const vote = validateVote(raw)
        let problem: VoteRefusal | undefined
        if (vote === 'malformed' || vote.approve !== (slot === 'approve')) problem = 'malformed'
        else if (vote.proposal !== proposalId || vote.voter !== voter) problem = 'wrong-proposal'
        else if (!tracked.eligible.has(voter)) problem = 'not-eligible'
        if (problem !== undefined || vote === 'malformed') { this.refuse(problem ?? 'malformed'); refused++; continue }
        kept[slot] = vote
      }
      if (kept.approve !== undefined || kept.reject !== undefined) clean.set(voter, kept)
    }
    tracked.votes = mergeVoteSets(tracked.votes, clean)
    return refused
  }

  proposal (id: string): Proposal | undefined {
    return this.proposals.get(id)?.proposal
  }

  /** The vote set of a proposal (a copy), for anti-entropy and persistence. */
  votes (id: string): Map<string, VoterRecord> | undefined {
    const tracked = this.proposals.get(id)
    return tracked === undefined ? undefined : mergeVoteSets(tracked.votes, new Map())
  }

  /** Pairs of conflicting votes: evidence to forward (the runtime may also report it to reputation). */
  evidence (id: string): Array<{ approve: Vote, reject: Vote }> {
    const tracked = this.proposals.get(id)
    if (tracked === undefined) return []
    const out: Array<{ approve: Vote, reject: Vote }> = []
    for (const voter of [...tracked.votes.keys()].sort()) {
      const record = tracked.votes.get(voter) as VoterRecord
      if (record.approve !== undefined && record.reject !== undefined) out.push({ approve: record.approve, reject: record.reject })
    }
    return out
  }

  outcome (id: string, nowMs: number): Outcome | undefined {
    const tracked = this.proposals.get(id)
    return tracked === undefined ? undefined : outcomeOf(tracked.proposal, tracked.votes, nowMs)
  }

  /** Held votes for unknown proposals. */
  pendingCount (): number {
    return this.pending.length
  }

  /** Forget proposals whose deadline passed more than `retainMs` ago; returns their ids. */
  forget (nowMs: number, retainMs: number): string[] {
    const gone: string[] = []
    for (const [id, tracked] of this.proposals) {
      if (tracked.proposal.deadlineMs + retainMs < nowMs) { this.proposals.delete(id); gone.push(id) }
    }
    return gone.sort()
  }

  refusalCounts (): Record<string, number> {
    return Object.fromEntries([...this.refusals].sort((a, b) => a[0] < b[0] ? -1 : 1))
  }

  private refuse<R extends string> (reason: R): R {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1)
    return reason
  }
}
