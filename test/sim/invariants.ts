/**
 * Safety invariants, checked after every event over the honest replicas (Byzantine ones are exempt,
 * except that their validly signed COMMITs count towards quorums, as they do in the protocol):
 *
 * - agreement: no two honest replicas commit different digests at one sequence;
 * - contiguous: each honest replica commits 1, 2, 3, … (after a restart: from what it restored; a jump
 *   only through a STATE message, i.e. state transfer), and its status agrees with its commits;
 * - commit-quorum: a commit of (view, seq, digest) needs COMMITs from ≥ 2f+1 distinct replicas for
 *   exactly that (view, seq, digest) sent on the network, counting itself (its own COMMIT may be only
 *   persisted, when a crash cut the step that would have sent it);
 * - batch-digest: a committed batch hashes to its digest;
 * - view-monotonic: a replica's view never decreases; after a restart it is at least the highest view
 *   it persisted (or sent a message in);
 * - checkpoint-agreement / state-agreement: stable checkpoint digests agree at equal sequence, and so do
 *   the application states of replicas at equal lastExecuted;
 * - exactly-once / reply-agreement: a request executes at one sequence, with one result, everywhere;
 *   a reply names a sequence whose committed batch holds the request; a client accepts a result only
 *   if honest replicas produced it;
 * - honest-equivocation: an honest replica never signs two PRE-PREPAREs / PREPAREs / COMMITs with
 *   different digests for one (view, seq), nor two checkpoint digests for one seq, across restarts;
 * - persist-before-send: a vote (PRE-PREPARE / PREPARE / COMMIT for (view, seq, digest), VIEW-CHANGE /
 *   NEW-VIEW for a view) leaves an honest replica only after a record binding it to that vote (or a
 *   later view) is in its durable log, so a crash cannot make it vote differently;
 * - sequence-gap: an honest primary numbers batches consecutively within a view (from 1 in view 0, from
 *   max-s + 1 of its NEW-VIEW after a view change), and a NEW-VIEW covers every sequence in (min-s, max-s];
 * - signatures: an honest replica's messages verify and carry its own `from`;
 * - pipeline-bound: an honest primary proposes a new batch only while fewer than `pipelineMax` of its
 *   batches are proposed but not executed (except those it flushes right after sending its NEW-VIEW);
 * - forward-policy: a request the client sent to every replica (`forward: false`) is not forwarded to
 *   the primary in the step that received it.
 */
import { batchDigest, quorumSize } from '../../src/core/pbft/types.js'
import type { Crypto, Effect, Input, Message, NewView, PersistRecord, ReplicaId } from '../../src/core/pbft/types.js'
import type { ReplicaStatus } from './node.js'
import { short } from './trace.js'

export interface Violation {
  invariant: string
  atMs: number
  replica?: ReplicaId
  detail: string
}

interface ReplicaTrack {
  /** Last sequence executed, as the commits (and state transfers) seen so far say. */
  executed: number
  view: number
  /** `${type}:${view}:${seq}` → digest of every vote it signed (all incarnations). */
  signed: Map<string, string>
  /** Votes its durable log binds it to: `${view}:${seq}:${digest}`. */
  persistedVotes: Set<string>
  /** Highest view its durable log binds it to. */
  persistedView: number
  /** `${view}:${seq}` it pre-prepared as primary (sent, persisted as sent, or in its NEW-VIEW). */
  proposed: Set<string>
  /** Its latest stable checkpoint, from its `stable` effects (and its status after a restart). */
  stableSeq: number
}

function requestKey (client: string, requestId: number): string {
  return `${client}#${requestId}`
}

export class InvariantChecker {
  readonly violations: Violation[] = []
  nowMs = 0
  private readonly quorum: number
  private readonly tracks: ReplicaTrack[]
  private readonly committed = new Map<number, { digest: string, replica: ReplicaId, requests: Set<string> }>()
  private readonly stable = new Map<number, { digest: string, replica: ReplicaId }>()
  private readonly states = new Map<number, { digest: string, replica: ReplicaId }>()
  private readonly commitSenders = new Map<string, Set<ReplicaId>>()
  /** `${replica}:${view}:${seq}:${digest}` of COMMITs replicas persisted as sent. */
  private readonly ownCommits = new Set<string>()
  /** `${primary}:${view}` → the last sequence its NEW-VIEW for that view covered (max-s). */
  private readonly newViewBase = new Map<string, number>()
  private readonly replies = new Map<string, { result: string, seq: number, replica: ReplicaId }>()
  private repliesToCheck: Array<{ id: ReplicaId, key: string, seq: number }> = []
  /** The input of the step whose effects are being performed, and whether that step sent a NEW-VIEW. */
  private stepInput: Input | undefined
  private newViewInStep = false

  constructor (readonly n: number, private readonly honest: (id: ReplicaId) => boolean, private readonly crypto: Crypto, private readonly pipelineMax?: number) {
    this.quorum = quorumSize(n)
    this.tracks = Array.from({ length: n }, () => ({ executed: 0, view: 0, signed: new Map(), persistedVotes: new Set(), persistedView: 0, proposed: new Set(), stableSeq: 0 }))
  }

  get failed (): boolean {
    return this.violations.length > 0
  }

  fail (invariant: string, detail: string, replica?: ReplicaId): void {
    this.violations.push(replica === undefined ? { invariant, atMs: this.nowMs, detail } : { invariant, atMs: this.nowMs, replica, detail })
  }

  /** A replica was created or restored: what it claims must not contradict what it persisted. */
  onStart (id: ReplicaId, status: ReplicaStatus, records: PersistRecord[], amnesia: boolean): void {
    this.repliesToCheck = []
    const track = this.tracks[id] as ReplicaTrack
    if (amnesia) {
      track.persistedVotes.clear()
      track.persistedView = 0
    }
    track.executed = status.lastExecuted
    track.stableSeq = status.stableSeq
    if (!this.honest(id)) return
    if (status.view < track.persistedView) {
      this.fail('view-monotonic', `restored in view ${status.view} but persisted view ${track.persistedView} (${records.length} records)`, id)
    }
    track.view = status.view
  }

  onPersist (id: ReplicaId, record: PersistRecord): void {
    const track = this.tracks[id] as ReplicaTrack
    if (record.kind === 'view') {
      track.persistedView = Math.max(track.persistedView, record.view)
    } else if (record.kind === 'executed') {
      track.persistedVotes.add(`${record.view}:${record.seq}:${record.digest}`)
    } else if (record.kind === 'sent' || record.kind === 'accepted') {
      const m = record.message
      if (m.type === 'pre-prepare' || m.type === 'prepare' || m.type === 'commit') track.persistedVotes.add(`${m.view}:${m.seq}:${m.digest}`)
      if (record.kind === 'sent' && m.type === 'commit' && m.from === id) this.ownCommits.add(`${id}:${m.view}:${m.seq}:${m.digest}`)
      // persisted as sent but maybe never sent (a torn crash): it will be re-sent from the log, so it is no hole
      if (record.kind === 'sent' && m.type === 'pre-prepare' && m.from === id) this.proposing(id, m.view, m.seq)
      if (record.kind === 'sent' && m.type === 'new-view' && m.from === id) this.noteNewView(id, m)
      if (record.kind === 'sent' && (m.type === 'view-change' || m.type === 'new-view')) track.persistedView = Math.max(track.persistedView, m.view)
      if (record.kind === 'sent' && m.type === 'new-view') for (const pp of m.prePrepares) track.persistedVotes.add(`${pp.view}:${pp.seq}:${pp.digest}`)
    }
  }

  /** Every message put on the network, after its signature was checked (`valid`). `sender` is who really sent it. */
  onSend (sender: ReplicaId, message: Message, valid: boolean): void {
    if (valid && message.type === 'commit') {
      const key = `${message.view}:${message.seq}:${message.digest}`
      let senders = this.commitSenders.get(key)
      if (senders === undefined) { senders = new Set(); this.commitSenders.set(key, senders) }
      senders.add(message.from)
    }
    if (!this.honest(sender)) return
    if (message.from !== sender) this.fail('signatures', `honest replica sent a message with from=${message.from}`, sender)
    if (!valid) this.fail('signatures', `honest replica sent a message whose signature does not verify: ${message.type}`, sender)
    const track = this.tracks[sender] as ReplicaTrack
    switch (message.type) {
      case 'pre-prepare':
        if (!track.signed.has(`pre-prepare:${message.view}:${message.seq}`)) this.checkPipeline(sender, message.view, message.seq)
        this.proposing(sender, message.view, message.seq)
        if (!track.signed.has(`pre-prepare:${message.view}:${message.seq}`) && batchDigest(this.crypto, message.batch) !== message.digest) {
          this.fail('batch-digest', `PRE-PREPARE v${message.view} s${message.seq}: digest does not match its batch`, sender)
        }
        this.signed(sender, 'pre-prepare', message.view, message.seq, message.digest)
        this.requirePersistedVote(sender, message.type, message.view, message.seq, message.digest)
        break
      case 'prepare':
      case 'commit':
        this.signed(sender, message.type, message.view, message.seq, message.digest)
        this.requirePersistedVote(sender, message.type, message.view, message.seq, message.digest)
        break
      case 'checkpoint':
        this.signed(sender, 'checkpoint', 0, message.seq, message.stateDigest)
        break
      case 'new-view': {
        this.newViewInStep = true
        this.noteNewView(sender, message)
        for (const pp of message.prePrepares) this.signed(sender, 'pre-prepare', pp.view, pp.seq, pp.digest)
        if (track.persistedView < message.view) this.fail('persist-before-send', `NEW-VIEW v${message.view} sent but the log only binds view ${track.persistedView}`, sender)
        break
      }
      case 'view-change':
        if (track.persistedView < message.view) this.fail('persist-before-send', `VIEW-CHANGE v${message.view} sent but the log only binds view ${track.persistedView}`, sender)
        break
      case 'forward':
        if (this.stepInput?.type === 'request' && this.stepInput.forward === false) {
          this.fail('forward-policy', `forwarded ${message.request.client}#${message.request.requestId} at once, though its client sent it to every replica (forward: false)`, sender)
        }
        break
      default:
        break
    }
  }

  /** Effects of an honest replica, in order, as they are performed. */
  onEffect (id: ReplicaId, effect: Effect, input: Input): void {
    if (!this.honest(id)) return
    const track = this.tracks[id] as ReplicaTrack
    switch (effect.type) {
      case 'committed': {
        const { seq, view, digest, batch } = effect
        if (batchDigest(this.crypto, batch) !== digest) this.fail('batch-digest', `committed s${seq} with a batch that does not hash to ${short(digest)}`, id)
        const first = this.committed.get(seq)
        if (first === undefined) {
          this.committed.set(seq, { digest, replica: id, requests: new Set(batch.map(r => requestKey(r.client, r.requestId))) })
        } else if (first.digest !== digest) {
          this.fail('agreement', `s${seq}: committed ${short(digest)} (view ${view}) but replica ${first.replica} committed ${short(first.digest)}`, id)
        }
        const voters = this.commitSenders.get(`${view}:${seq}:${digest}`)
        // counting itself: its own COMMIT may be persisted but not yet sent (a torn crash cut the step)
        const senders = (voters?.size ?? 0) + (voters?.has(id) !== true && this.ownCommits.has(`${id}:${view}:${seq}:${digest}`) ? 1 : 0)
        if (senders < this.quorum) this.fail('commit-quorum', `s${seq} v${view} ${short(digest)} committed with COMMITs from only ${senders} distinct replicas (need ${this.quorum})`, id)
        if (seq !== track.executed + 1) {
          if (isStateTransfer(input) && seq > track.executed + 1) {
            // state transfer jumped ahead in this step: checked against the status after the step
          } else {
            this.fail('contiguous', `committed s${seq} after s${track.executed}`, id)
          }
        }
        track.executed = seq
        break
      }
      case 'reply': {
        const key = requestKey(effect.request.client, effect.request.requestId)
        const first = this.replies.get(key)
        if (first === undefined) {
          this.replies.set(key, { result: effect.result, seq: effect.seq, replica: id })
        } else if (first.seq !== effect.seq) {
          this.fail('exactly-once', `${key} executed at s${effect.seq}, but replica ${first.replica} executed it at s${first.seq}`, id)
        } else if (first.result !== effect.result) {
          this.fail('reply-agreement', `${key} at s${effect.seq}: result "${effect.result}", replica ${first.replica} got "${first.result}"`, id)
        }
        // the core may emit a batch's replies before its `committed`: checked at the end of the step
        this.repliesToCheck.push({ id, key, seq: effect.seq })
        break
      }
      case 'stable': {
        track.stableSeq = Math.max(track.stableSeq, effect.seq)
        const first = this.stable.get(effect.seq)
        if (first === undefined) this.stable.set(effect.seq, { digest: effect.stateDigest, replica: id })
        else if (first.digest !== effect.stateDigest) this.fail('checkpoint-agreement', `stable s${effect.seq} ${short(effect.stateDigest)} but replica ${first.replica} has ${short(first.digest)}`, id)
        break
      }
      default:
        break
    }
  }

  /** A replica's step returned: its effects are about to be performed. */
  beforeEffects (input: Input): void {
    this.stepInput = input
    this.newViewInStep = false
  }

  /** After an honest replica's step was fully performed (not torn by a crash). */
  afterStep (id: ReplicaId, input: Input, status: ReplicaStatus, executedBefore: number, appDigest: () => string): void {
    if (!this.honest(id)) return
    for (const reply of this.repliesToCheck) {
      const batch = this.committed.get(reply.seq)
      if (batch === undefined || !batch.requests.has(reply.key)) this.fail('exactly-once', `reply for ${reply.key} names s${reply.seq}, whose committed batch does not hold it`, reply.id)
    }
    this.repliesToCheck = []
    const track = this.tracks[id] as ReplicaTrack
    if (status.view < track.view) this.fail('view-monotonic', `view went from ${track.view} to ${status.view}`, id)
    track.view = status.view
    if (status.lastExecuted !== track.executed) {
      if (isStateTransfer(input) && status.lastExecuted > track.executed) {
        track.executed = status.lastExecuted
      } else {
        this.fail('contiguous', `status says lastExecuted ${status.lastExecuted}, its commits say ${track.executed}`, id)
        track.executed = status.lastExecuted
      }
    }
    if (track.executed !== executedBefore) {
      const digest = appDigest()
      const first = this.states.get(track.executed)
      if (first === undefined) this.states.set(track.executed, { digest, replica: id })
      else if (first.digest !== digest) this.fail('state-agreement', `application state after s${track.executed} is ${short(digest)}, replica ${first.replica} had ${short(first.digest)}`, id)
    }
  }

  /** The step was cut short by a crash: what its unperformed effects would have shown is unknown. */
  abandonStep (): void {
    this.repliesToCheck = []
  }

  executedBy (id: ReplicaId): number {
    return (this.tracks[id] as ReplicaTrack).executed
  }

  /** A client accepted `result` (f+1 matching replies): honest replicas must have produced it. */
  onAccepted (client: string, requestId: number, result: string): void {
    const honest = this.replies.get(requestKey(client, requestId))
    if (honest === undefined) this.fail('reply-agreement', `client accepted "${result}" for ${client}#${requestId}, which no honest replica replied`)
    else if (honest.result !== result) this.fail('reply-agreement', `client accepted "${result}" for ${client}#${requestId}, honest replicas replied "${honest.result}"`)
  }

  private signed (id: ReplicaId, type: string, view: number, seq: number, digest: string): void {
    const track = this.tracks[id] as ReplicaTrack
    const key = `${type}:${view}:${seq}`
    const earlier = track.signed.get(key)
    if (earlier === undefined) track.signed.set(key, digest)
    else if (earlier !== digest) this.fail('honest-equivocation', `signed ${type} v${view} s${seq} for ${short(digest)} after signing ${short(earlier)}`, id)
  }

  /** A new batch from an honest primary: at most `pipelineMax` of its batches may be in flight. */
  private checkPipeline (id: ReplicaId, view: number, seq: number): void {
    if (this.pipelineMax === undefined || this.newViewInStep) return // a new primary flushes what waited, whatever the bound
    if (this.stepInput !== undefined && isStateTransfer(this.stepInput)) return // its executed count jumps after the step
    const executed = (this.tracks[id] as ReplicaTrack).executed
    if (seq - executed > this.pipelineMax) {
      this.fail('pipeline-bound', `PRE-PREPARE v${view} s${seq} with only s${executed} executed: ${seq - executed} batches in flight, pipelineMax ${this.pipelineMax}`, id)
    }
  }

  /**
   * Within a view the primary numbers batches consecutively, from 1 in view 0 and from max-s + 1 of its
   * NEW-VIEW later: a sequence it skips is a hole that nobody will ever pre-prepare in this view, and no
   * replica can execute past it.
   */
  private proposing (id: ReplicaId, view: number, seq: number): void {
    const track = this.tracks[id] as ReplicaTrack
    if (!this.honest(id) || track.proposed.has(`${view}:${seq}`)) return // checked when first persisted or sent
    track.proposed.add(`${view}:${seq}`)
    if (seq === 1 && view === 0) return
    if (track.proposed.has(`${view}:${seq - 1}`) || seq - 1 <= track.stableSeq) return // below a stable checkpoint nothing is missing
    const base = this.newViewBase.get(`${id}:${view}`)
    if (base === seq - 1) return
    if (base === undefined && view > 0) return // its NEW-VIEW was not seen (sent before a restart it forgot nothing of, or not at all)
    this.fail('sequence-gap', `PRE-PREPARE v${view} s${seq}, but it never pre-prepared s${seq - 1} in view ${view}${base !== undefined ? ` (its NEW-VIEW ended at s${base})` : ''}`, id)
  }

  /** Set O of the paper: one pre-prepare for every sequence in (min-s, max-s]; proposals go on from max-s + 1. */
  private noteNewView (id: ReplicaId, message: NewView): void {
    const track = this.tracks[id] as ReplicaTrack
    const minS = Math.max(0, ...message.viewChanges.map(vc => vc.stableSeq))
    message.prePrepares.forEach((pp, i) => {
      if (pp.seq !== minS + 1 + i) this.fail('sequence-gap', `NEW-VIEW v${message.view}: pre-prepare #${i} has s${pp.seq}, expected s${minS + 1 + i} (min-s ${minS})`, id)
      track.proposed.add(`${pp.view}:${pp.seq}`)
    })
    this.newViewBase.set(`${id}:${message.view}`, minS + message.prePrepares.length)
  }

  private requirePersistedVote (id: ReplicaId, type: string, view: number, seq: number, digest: string): void {
    const track = this.tracks[id] as ReplicaTrack
    if (!track.persistedVotes.has(`${view}:${seq}:${digest}`)) this.fail('persist-before-send', `${type} v${view} s${seq} ${short(digest)} sent before any record binding it was persisted`, id)
  }
}

function isStateTransfer (input: Input): boolean {
  return input.type === 'message' && input.message.type === 'state'
}
