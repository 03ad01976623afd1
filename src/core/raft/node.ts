/**
 * One Raft node as a pure state machine (etcd-io/raft raft.go in spirit): `step(input)` is the single
 * entry point and returns effects in Ready order (persist, send, then what the application sees).
 *
 * - Election: randomized timeouts in [electionTick, 2·electionTick) from the seeded generator; pre-vote
 *   (a node that cannot win never bumps terms); check-quorum (a leader that heard from no majority for
 *   an election timeout steps down; voters that heard from a leader within one ignore vote requests).
 * - Replication (replication.ts): batched appends, per-follower flow control, fast back-off, commit on a
 *   majority of the current term, snapshots in chunks to followers behind the compaction point.
 * - ReadIndex (read-only.ts), leadership transfer (timeout-now), membership changes one at a time
 *   (membership.ts) that take effect when applied.
 * - Persistence: `persist` records (hard state, entries, snapshots); `RaftNode.restore` replays them.
 */
import type { SeededRandom } from '../random.js'
import { RaftLog } from './log.js'
import { applyChange, changeError, isVoter, replicationTargets } from './membership.js'
import { Progress } from './progress.js'
import { voteResult } from './quorum.js'
import { ReadOnly } from './read-only.js'
import { Replication } from './replication.js'
import { StateMachine } from './state-machine.js'
import type {
  Application, ClientRequest, DropReason, Effect, Entry, Input, Membership, MembershipChange, Message, NodeId,
  PersistRecord, RaftConfig, RaftStatus, Role, Snapshot, VoteRequest, VoteResponse
} from './types.js'
import { limits } from './types.js'

export type ResolvedConfig = Required<RaftConfig>

export function resolveConfig (config: RaftConfig): ResolvedConfig {
  const resolved: ResolvedConfig = {
    electionTick: 10,
    heartbeatTick: 1,
    preVote: true,
    checkQuorum: true,
    maxInflight: 4,
    maxEntriesPerAppend: 64,
    maxRequestsPerEntry: 256,
    snapshotInterval: 1000,
    compactionKeep: 100,
    snapshotChunkSize: 1024 * 1024,
    promoteLagMax: 100,
    clientHorizonEntries: 65_536,
    ...config
  }
  if (resolved.heartbeatTick < 1 || resolved.heartbeatTick >= resolved.electionTick) throw new Error('config: need 1 ≤ heartbeatTick < electionTick')
  if (resolved.maxInflight < 1 || resolved.maxEntriesPerAppend < 1 || resolved.maxRequestsPerEntry < 1) throw new Error('config: flow-control bounds must be ≥ 1')
  if (resolved.snapshotInterval < 1 || resolved.snapshotChunkSize < 1) throw new Error('config: snapshot bounds must be ≥ 1')
  return resolved
}

const emptyMembership: Membership = { voters: [], learners: [] }

export class RaftNode {
  readonly config: ResolvedConfig
  readonly id: NodeId
  /** Shared with replication.ts (the leader's half); private to the core otherwise. */
  readonly log = new RaftLog()
  readonly readOnly = new ReadOnly()
  readonly progress = new Map<NodeId, Progress>()
  term = 0
  vote: NodeId | null = null
  leader: NodeId | null = null
  role: Role = 'follower'
  commit = 0
  applied = 0
  membership: Membership = emptyMembership
  /** Index of the newest membership entry in the leader's log: no new change until it is applied. */
  pendingMembershipIndex = 0
  transferee: NodeId | null = null
  electionElapsed = 0
  private heartbeatElapsed = 0
  private randomizedElectionTimeout = 0
  private readonly votes = new Map<NodeId, boolean>()
  private readonly machine: StateMachine
  private readonly replication: Replication
  private out = { persist: [] as Effect[], send: [] as Effect[], other: [] as Effect[] }
  private hardState = { term: 0, vote: null as NodeId | null, commit: 0 }
  private announced = ''

  /**
   * A node with an empty state. `genesis`: the initial membership of a node that founds the cluster
   * (its log starts with the bootstrap entry, committed); null for a node that joins later (a learner
   * added by a membership change: it learns everything, membership included, from the leader).
   */
  constructor (config: RaftConfig, app: Application, private readonly random: SeededRandom, genesis: Membership | null) {
    this.config = resolveConfig(config)
    this.id = config.id
    this.machine = new StateMachine(app, this.config.clientHorizonEntries)
    this.replication = new Replication(this)
    this.log.snapshot = { index: 0, term: 0, membership: emptyMembership, data: '' }
    if (genesis != null) {
      this.log.append([{ index: 1, term: 1, kind: 'bootstrap', membership: { voters: [...genesis.voters].sort(), learners: [...genesis.learners].sort() } }])
      this.term = 1
      this.commit = 1
    }
    this.hardState = { term: this.term, vote: this.vote, commit: this.commit }
    this.resetElectionTimeout()
    this.applyCommitted()
    this.announced = this.roleKey()
    this.takeEffects()
  }

  /** Rebuild a node from every record it persisted (in order), on a fresh application. */
  static restore (config: RaftConfig, app: Application, random: SeededRandom, genesis: Membership | null, records: PersistRecord[]): RaftNode {
    const node = new RaftNode(config, app, random, genesis)
    node.replay(records)
    return node
  }

  private replay (records: PersistRecord[]): void {
    for (const record of records) {
      if (record.kind === 'hard-state') { this.term = record.term; this.vote = record.vote; this.commit = Math.max(this.commit, record.commit) }
      else if (record.kind === 'entries') {
        const first = (record.entries[0] as Entry).index
        if (first <= this.log.lastIndex()) this.log.entries.length = Math.max(0, first - this.log.offset - 1)
        this.log.append(record.entries)
      } else this.installSnapshotRecord(record.snapshot, record.compactTo, record.keepLog)
    }
    const snapshot = this.log.snapshot as Snapshot
    if (this.commit > this.log.lastIndex()) throw new Error(`restore: commit ${this.commit} beyond the log (${this.log.lastIndex()})`)
    this.commit = Math.max(this.commit, snapshot.index)
    this.membership = snapshot.membership
    this.applied = snapshot.index
    if (snapshot.index > 0) {
      this.machine.restore(snapshot.data)
      this.machine.setVoters(snapshot.membership.voters)
    }
    this.hardState = { term: this.term, vote: this.vote, commit: this.commit }
    this.applyCommitted()
    this.announced = this.roleKey()
    this.takeEffects() // re-applying the persisted log answers nobody
  }

  private installSnapshotRecord (snapshot: Snapshot, compactTo: number, keepLog: boolean): void {
    if (keepLog && this.log.matchTerm(snapshot.index, snapshot.term)) {
      this.log.snapshot = snapshot
      this.log.compact(compactTo)
    } else {
      this.log.installSnapshot(snapshot, false)
    }
  }

  step (input: Input): Effect[] {
    switch (input.type) {
      case 'tick': this.tick(); break
      case 'message': this.stepMessage(input.message); break
      case 'propose': this.propose(input.requests); break
      case 'read': this.read(input.readKey, this.id); break
      case 'change': this.proposeChange(input.change); break
      case 'transfer': this.transfer(input.to); break
      case 'campaign': this.campaign('pre-vote'); break
    }
    this.applyCommitted()
    if (this.commit !== this.hardState.commit) this.persistHardState()
    const key = this.roleKey()
    if (key !== this.announced) {
      this.announced = key
      this.emit({ type: 'role', role: this.role, term: this.term, ...(this.leader != null ? { leader: this.leader } : {}) })
    }
    return this.takeEffects()
  }

  status (): RaftStatus {
    return {
      id: this.id, role: this.role, term: this.term, vote: this.vote, leader: this.leader, commit: this.commit, applied: this.applied,
      firstIndex: this.log.firstIndex(), lastIndex: this.log.lastIndex(), snapshotIndex: this.log.snapshot?.index ?? 0, membership: this.membership
    }
  }

  /** The log as held in memory (read-only view for tests and the simulator's invariants). */
  logView (): { offset: number, offsetTerm: number, entries: readonly Entry[] } {
    return { offset: this.log.offset, offsetTerm: this.log.offsetTerm, entries: this.log.entries }
  }

  // ————————————————————————————————————————— effects

  emit (effect: Effect): void {
    if (effect.type === 'persist') this.out.persist.push(effect)
    else if (effect.type === 'send') this.out.send.push(effect)
    else this.out.other.push(effect)
  }

  send (message: Message): void {
    this.emit({ type: 'send', message })
  }

  persist (record: PersistRecord): void {
    this.emit({ type: 'persist', record })
  }

  drop (reason: DropReason, from?: NodeId, detail?: string): void {
    this.emit({ type: 'drop', reason, ...(from != null ? { from } : {}), ...(detail != null ? { detail } : {}) })
  }

  private takeEffects (): Effect[] {
    const effects = [...this.out.persist, ...this.out.send, ...this.out.other]
    this.out = { persist: [], send: [], other: [] }
    return effects
  }

  private persistHardState (): void {
    this.hardState = { term: this.term, vote: this.vote, commit: this.commit }
    this.persist({ kind: 'hard-state', ...this.hardState })
  }

  private roleKey (): string {
    return `${this.role}/${this.term}/${this.leader ?? ''}`
  }

  // ————————————————————————————————————————— roles

  private resetElectionTimeout (): void {
    this.electionElapsed = 0
    this.randomizedElectionTimeout = this.config.electionTick + Math.floor(this.random.next() * this.config.electionTick)
  }

  private reset (term: number): void {
    if (term !== this.term) {
      this.term = term
      this.vote = null
    }
    if (this.role === 'leader') this.failPendingReads()
    this.leader = null
    this.heartbeatElapsed = 0
    this.resetElectionTimeout()
    this.votes.clear()
    this.transferee = null
    this.progress.clear()
  }

  becomeFollower (term: number, leader: NodeId | null): void {
    const termChanged = term !== this.term
    this.reset(term)
    this.role = 'follower'
    this.leader = leader
    if (termChanged) this.persistHardState()
  }

  private becomePreCandidate (): void {
    // pre-vote changes neither term nor vote (etcd: becomePreCandidate)
    if (this.role === 'leader') this.failPendingReads()
    this.role = 'pre-candidate'
    this.leader = null
    this.votes.clear()
    this.resetElectionTimeout()
  }

  private becomeCandidate (): void {
    this.reset(this.term + 1)
    this.role = 'candidate'
    this.vote = this.id
    this.persistHardState()
  }

  private becomeLeader (): void {
    this.reset(this.term)
    this.role = 'leader'
    this.leader = this.id
    for (const id of replicationTargets(this.membership, this.id)) this.progress.set(id, new Progress(id, this.log.lastIndex()))
    // an entry of its own term: committing it commits everything before it (§5.4.2), and only then may
    // the leader serve reads or accept a membership change
    this.appendEntries([{ index: this.log.lastIndex() + 1, term: this.term, kind: 'empty' }])
    this.pendingMembershipIndex = this.log.lastIndex()
    this.replication.broadcastAppend()
    this.replication.maybeCommit()
  }

  private failPendingReads (): void {
    for (const read of this.readOnly.drain()) {
      if (read.origin === this.id) this.emit({ type: 'read-failed', readKey: read.readKey, reason: 'not-leader' })
      else this.send({ type: 'read-index-response', from: this.id, to: read.origin, term: this.term, readKey: read.readKey, index: 0 })
    }
  }

  /**
   * Start an election: 'pre-vote' (a pre-vote round first when configured), 'election' (after a won
   * pre-vote) or 'transfer' (told by the leader: voters ignore their lease, nothing to wait for).
   */
  private campaign (kind: 'pre-vote' | 'election' | 'transfer'): void {
    if (this.role === 'leader') return
    if (!isVoter(this.membership, this.id)) { this.drop('not-member', undefined, 'a non-voter does not campaign'); return }
    const preVote = this.config.preVote && kind === 'pre-vote'
    const transfer = kind === 'transfer'
    if (preVote) this.becomePreCandidate()
    else this.becomeCandidate()
    const term = preVote ? this.term + 1 : this.term
    this.votes.set(this.id, true)
    if (this.tallyVotes()) return
    for (const voter of this.membership.voters) {
      if (voter === this.id) continue
      this.send({ type: 'vote', from: this.id, to: voter, term, preVote, lastIndex: this.log.lastIndex(), lastTerm: this.log.lastTerm(), transfer })
    }
  }

  /** Act on the votes so far; true when the campaign ended (won or lost). */
  private tallyVotes (): boolean {
    const outcome = voteResult(this.membership.voters, this.votes)
    if (outcome === 'won') {
      if (this.role === 'pre-candidate') this.campaign('election')
      else this.becomeLeader()
      return true
    }
    if (outcome === 'lost') { this.becomeFollower(this.term, null); return true }
    return false
  }

  // ————————————————————————————————————————— time

  private tick (): void {
    if (this.role !== 'leader') {
      this.electionElapsed++
      if (this.electionElapsed >= this.randomizedElectionTimeout && isVoter(this.membership, this.id)) {
        this.electionElapsed = 0
        this.campaign('pre-vote')
      }
      return
    }
    this.heartbeatElapsed++
    this.electionElapsed++
    if (this.electionElapsed >= this.config.electionTick) {
      this.electionElapsed = 0
      if (this.transferee != null) this.transferee = null // the transfer did not finish within an election timeout
      if (this.config.checkQuorum && !this.replication.quorumActive()) {
        this.becomeFollower(this.term, null)
        return
      }
    }
    if (this.heartbeatElapsed >= this.config.heartbeatTick) {
      this.heartbeatElapsed = 0
      this.replication.broadcastHeartbeat()
    }
    this.replication.tickSnapshots()
  }

  // ————————————————————————————————————————— messages

  private stepMessage (m: Message): void {
    if (m.to !== this.id) { this.drop('invalid', m.from, `addressed to ${m.to}`); return }
    if (m.term > this.term) {
      if (m.type === 'vote') {
        const inLease = this.config.checkQuorum && this.leader != null && this.electionElapsed < this.config.electionTick
        if (inLease && !m.transfer) { this.drop('in-lease', m.from); return }
      }
      const preVoteTraffic = (m.type === 'vote' && m.preVote) || (m.type === 'vote-response' && m.preVote && m.granted)
      if (!preVoteTraffic) {
        const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot'
        this.becomeFollower(m.term, fromLeader ? m.from : null)
      }
    } else if (m.term < this.term) {
      if ((this.config.checkQuorum || this.config.preVote) && (m.type === 'append' || m.type === 'heartbeat')) {
        // a stale leader (e.g. back from a partition where pre-vote kept our terms apart) learns our term
        this.send({ type: 'append-response', from: this.id, to: m.from, term: this.term, reject: false, index: 0, hintIndex: 0, hintTerm: 0 })
      } else if (m.type === 'vote' && m.preVote) {
        this.send({ type: 'vote-response', from: this.id, to: m.from, term: this.term, preVote: true, granted: false })
      } else {
        this.drop('stale-term', m.from, m.type)
      }
      return
    }
    switch (m.type) {
      case 'vote': this.handleVote(m); return
      case 'vote-response': this.handleVoteResponse(m); return
      case 'append': case 'heartbeat': case 'snapshot':
        if (this.role !== 'follower') this.becomeFollower(this.term, m.from)
        this.leader = m.from
        this.electionElapsed = 0
        if (m.type === 'append') this.replication.handleAppend(m)
        else if (m.type === 'heartbeat') this.replication.handleHeartbeat(m)
        else this.replication.handleSnapshot(m)
        return
      case 'append-response': case 'heartbeat-response': case 'snapshot-response':
        if (this.role === 'leader') this.replication.handleResponse(m)
        return
      case 'timeout-now':
        if (isVoter(this.membership, this.id)) this.campaign('transfer')
        return
      case 'forward':
        if (this.role === 'leader') this.propose(m.requests)
        else this.emit({ type: 'refused', requests: m.requests, reason: 'not-leader', ...(this.leader != null ? { leader: this.leader } : {}) })
        return
      case 'read-index':
        if (this.role === 'leader') this.read(m.readKey, m.from)
        else this.send({ type: 'read-index-response', from: this.id, to: m.from, term: this.term, readKey: m.readKey, index: 0 })
        return
      case 'read-index-response':
        if (m.index === 0) this.emit({ type: 'read-failed', readKey: m.readKey, reason: 'not-leader' })
        else if (!this.readOnly.full()) this.readOnly.waitingApply.push({ readKey: m.readKey, index: m.index })
        else this.emit({ type: 'read-failed', readKey: m.readKey, reason: 'busy' })
    }
  }

  private handleVote (m: VoteRequest): void {
    const canVote = this.vote === m.from || (this.vote === null && this.leader === null) || (m.preVote && m.term > this.term)
    if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm)) {
      // a granted vote answers in the requested term (for pre-vote: the future one, etcd does the same)
      this.send({ type: 'vote-response', from: this.id, to: m.from, term: m.term, preVote: m.preVote, granted: true })
      if (!m.preVote) {
        this.electionElapsed = 0
        this.vote = m.from
        this.persistHardState()
      }
    } else {
      this.send({ type: 'vote-response', from: this.id, to: m.from, term: this.term, preVote: m.preVote, granted: false })
    }
  }

  private handleVoteResponse (m: VoteResponse): void {
    const expected = m.preVote ? 'pre-candidate' : 'candidate'
    if (this.role !== expected) return
    if (m.preVote && m.granted && m.term !== this.term + 1) return
    this.votes.set(m.from, m.granted)
    this.tallyVotes()
  }

  // ————————————————————————————————————————— client operations

  appendEntries (entries: Entry[]): void {
    this.log.append(entries)
    this.persist({ kind: 'entries', entries })
  }

  private propose (requests: ClientRequest[]): void {
    if (requests.length === 0) return
    if (this.role !== 'leader') {
      if (this.leader != null && requests.length <= limits.pendingProposalsMax) this.send({ type: 'forward', from: this.id, to: this.leader, term: this.term, requests })
      else this.emit({ type: 'refused', requests, reason: 'not-leader' })
      return
    }
    if (this.transferee != null) { this.emit({ type: 'refused', requests, reason: 'busy', leader: this.id }); return }
    const ahead = requests.filter(r => this.machine.tooFarAhead(r))
    if (ahead.length > 0) this.emit({ type: 'refused', requests: ahead, reason: 'invalid', leader: this.id })
    const accepted = requests.filter(r => !this.machine.tooFarAhead(r))
    const entries: Entry[] = []
    for (let k = 0; k < accepted.length; k += this.config.maxRequestsPerEntry) {
      entries.push({ index: this.log.lastIndex() + 1 + entries.length, term: this.term, kind: 'requests', requests: accepted.slice(k, k + this.config.maxRequestsPerEntry) })
    }
    if (entries.length === 0) return
    this.appendEntries(entries)
    this.replication.broadcastAppend()
    this.replication.maybeCommit()
  }

  private proposeChange (change: MembershipChange): void {
    if (this.role !== 'leader') { this.drop('not-leader', undefined, `change ${change.type} ${change.node}`); return }
    if (this.transferee != null || this.pendingMembershipIndex > this.applied) { this.drop('busy', undefined, 'a membership change or leader entry is pending'); return }
    const error = changeError(this.membership, change)
    if (error != null) { this.drop('invalid', undefined, error); return }
    if (change.type === 'promote') {
      const match = this.progress.get(change.node)?.match ?? 0
      if (match + this.config.promoteLagMax < this.log.lastIndex()) { this.drop('behind', change.node, `learner at ${match}, leader at ${this.log.lastIndex()}`); return }
    }
    this.appendEntries([{ index: this.log.lastIndex() + 1, term: this.term, kind: 'membership', change }])
    this.pendingMembershipIndex = this.log.lastIndex()
    this.replication.broadcastAppend()
    this.replication.maybeCommit()
  }

  private transfer (to: NodeId): void {
    if (this.role !== 'leader') { this.drop('not-leader', undefined, `transfer to ${to}`); return }
    if (to === this.id || this.transferee === to) return
    if (!isVoter(this.membership, to)) { this.drop('invalid', to, 'transfer target is not a voter'); return }
    this.transferee = to
    this.electionElapsed = 0 // the transfer has one election timeout to finish (see tick)
    this.replication.maybeSendTimeoutNow(to)
  }

  private read (readKey: string, origin: NodeId): void {
    if (this.role !== 'leader') {
      if (this.leader != null) this.send({ type: 'read-index', from: this.id, to: this.leader, term: this.term, readKey })
      else this.emit({ type: 'read-failed', readKey, reason: 'not-leader' })
      return
    }
    if (this.readOnly.full()) {
      if (origin === this.id) this.emit({ type: 'read-failed', readKey, reason: 'busy' })
      else this.send({ type: 'read-index-response', from: this.id, to: origin, term: this.term, readKey, index: 0 })
      return
    }
    if (this.log.term(this.commit) !== this.term) { this.readOnly.early.push({ readKey, origin }); return }
    this.readOnly.register(readKey, origin, this.commit)
    if (this.membership.voters.length === 1) this.replication.confirmReads()
    else this.replication.broadcastHeartbeat()
  }

  // ————————————————————————————————————————— applying

  commitTo (index: number): void {
    if (index > this.commit) this.commit = Math.min(index, this.log.lastIndex())
  }

  private applyCommitted (): void {
    while (this.applied < this.commit) {
      const entry = this.log.entry(this.applied + 1)
      if (entry == null) throw new Error(`apply: entry ${this.applied + 1} missing (log ${this.log.firstIndex()}..${this.log.lastIndex()})`)
      this.applied = entry.index
      this.emit({ type: 'committed', entry })
      if (entry.kind === 'requests') {
        for (const done of this.machine.apply(entry)) this.emit({ type: 'reply', ...done })
      } else if (entry.kind === 'membership' || entry.kind === 'bootstrap') {
        this.machine.apply(entry) // expiry bookkeeping only
        this.membership = entry.kind === 'bootstrap' ? entry.membership as Membership : applyChange(this.membership, entry.change as MembershipChange)
        this.machine.setVoters(this.membership.voters)
        this.emit({ type: 'membership', membership: this.membership, index: entry.index })
        if (this.role === 'leader') this.replication.membershipChanged()
      } else {
        this.machine.apply(entry)
      }
    }
    if (this.role === 'leader' && this.readOnly.early.length > 0 && this.log.term(this.commit) === this.term) {
      const early = this.readOnly.early
      this.readOnly.early = []
      for (const read of early) this.readOnly.register(read.readKey, read.origin, this.commit)
      if (this.membership.voters.length === 1) this.replication.confirmReads()
      else this.replication.broadcastHeartbeat()
    }
    for (const read of this.readOnly.applied(this.applied)) this.emit({ type: 'read-ready', readKey: read.readKey, index: read.index })
    const snapshot = this.log.snapshot as Snapshot
    if (this.applied - snapshot.index >= this.config.snapshotInterval) this.takeSnapshot()
  }

  private takeSnapshot (): void {
    const snapshot: Snapshot = { index: this.applied, term: this.log.term(this.applied) as number, membership: this.membership, data: this.machine.snapshot() }
    const compactTo = Math.max(this.log.offset, this.applied - this.config.compactionKeep)
    this.log.snapshot = snapshot
    this.log.compact(compactTo)
    this.persist({ kind: 'snapshot', snapshot, compactTo, keepLog: true })
    this.emit({ type: 'snapshot-taken', index: snapshot.index })
  }

  /** A snapshot received from the leader (all chunks): the log keeps its suffix only if it agrees. */
  installSnapshot (snapshot: Snapshot): void {
    const keepLog = this.log.matchTerm(snapshot.index, snapshot.term)
    this.installSnapshotRecord(snapshot, snapshot.index, keepLog)
    this.persist({ kind: 'snapshot', snapshot, compactTo: snapshot.index, keepLog })
    this.machine.restore(snapshot.data)
    this.membership = snapshot.membership
    this.machine.setVoters(snapshot.membership.voters)
    this.commit = Math.max(this.commit, snapshot.index)
    this.applied = snapshot.index
    this.emit({ type: 'snapshot-installed', index: snapshot.index })
    this.emit({ type: 'membership', membership: this.membership, index: snapshot.index })
  }
}
