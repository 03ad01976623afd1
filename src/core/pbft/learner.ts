/**
 * The learner of a node that is not a validator (an observer): it never votes, but it learns every
 * committed decision and executes it on its own copy of the application, so it serves reads locally.
 *
 * Trust: a validator sends each decision it executed (sequence number, view, batch digest and batch)
 * signed by its key (the runtime checks the signature). A decision is learned once f+1 distinct
 * validators vouch for the same digest at that sequence number: at least one of them is honest, and an
 * honest validator only executes what 2f+1 committed. A learner that fell behind (started late, missed
 * decisions) gets the validators' latest stable checkpoint: its snapshot is adopted only with 2f+1
 * signed CHECKPOINTs for its digest (the same proof replicas use for state transfer).
 *
 * Pure and deterministic like the replica: decisions, states and ticks in; commits, subscriptions and
 * drops out; time is passed in.
 */
import { ClientTable } from './client-table.js'
import type { ClientTableSnapshot } from './client-table.js'
import { batchDigest, canonicalJson, clientHorizonOf, faultsTolerated, quorumSize, signable } from './types.js'
import type { Application, ClientRequest, Crypto, Digest, DropReason, ReplicaId, Signed, StateTransfer } from './types.js'

/** What a validator tells a learner: it executed `batch` (digest `digest`) at `seq`. */
export interface Decision extends Signed {
  type: 'decision'
  seq: number
  view: number
  digest: Digest
  batch: ClientRequest[]
}

export type LearnerInput =
  /** A decision whose signature by validator `from` the runtime has verified. */
  | { type: 'decision', decision: Decision, nowMs: number }
  /** A stable checkpoint (STATE message) sent by a validator; its proof is checked here. */
  | { type: 'state', state: StateTransfer, nowMs: number }
  | { type: 'tick', nowMs: number }

export type LearnerEffect =
  | { type: 'committed', seq: number, view: number, digest: Digest, batch: ClientRequest[] }
  /** Ask every validator for decisions after `fromSeq` (and renew the subscription). */
  | { type: 'subscribe', fromSeq: number }
  | { type: 'drop', reason: DropReason, from?: ReplicaId, detail?: string }

export interface LearnerConfig {
  n: number
  /** Renew the subscription this often (validators forget silent subscribers). */
  resubscribeMs: number
  /** Ask again when the next decision has been missing this long while later ones arrive. */
  gapMs: number
  /**
   * The validators' checkpoint interval and client horizon: the learner forgets clients at the same
   * sequence numbers as they do, so its state (and digest) stays theirs. @default 128, 64 × interval
   */
  checkpointInterval?: number
  clientHorizonSeqs?: number
}

/** Decisions further ahead than this are not buffered (catch up by checkpoint instead). */
export const learnerWindow = 4096

export class Learner {
  private lastExecutedSeq = 0
  private readonly clients = new ClientTable()
  /** seq → digest → (voters, batch) */
  private readonly votes = new Map<number, Map<Digest, { voters: Set<ReplicaId>, batch: ClientRequest[], view: number }>>()
  /** seq → validator → digest it vouched for (a validator vouches once per seq) */
  private readonly vouched = new Map<number, Map<ReplicaId, Digest>>()
  private lastSubscribeMs = -Infinity
  private gapSinceMs: number | null = null
  private nowMs: number
  private effects: LearnerEffect[] = []

  constructor (private readonly config: LearnerConfig, private readonly crypto: Crypto, private readonly app: Application, nowMs: number) {
    this.nowMs = nowMs
  }

  get lastExecuted (): number {
    return this.lastExecutedSeq
  }

  /** The highest sequence f+1 validators vouched for (waiting here for an earlier one), or lastExecuted. */
  get highestKnown (): number {
    const needed = faultsTolerated(this.config.n) + 1
    let highest = this.lastExecutedSeq
    for (const [seq, byDigest] of this.votes) {
      if (seq > highest && [...byDigest.values()].some(v => v.voters.size >= needed)) highest = seq
    }
    return highest
  }

  get behind (): number {
    return this.highestKnown - this.lastExecutedSeq
  }

  step (input: LearnerInput): LearnerEffect[] {
    this.effects = []
    this.nowMs = Math.max(this.nowMs, input.nowMs)
    switch (input.type) {
      case 'decision': this.onDecision(input.decision); break
      case 'state': this.onState(input.state); break
      case 'tick': this.onTick(); break
    }
    const out = this.effects
    this.effects = []
    return out
  }

  private drop (reason: DropReason, from?: ReplicaId, detail?: string): void {
    this.effects.push(from == null ? { type: 'drop', reason, detail } : { type: 'drop', reason, from, detail })
  }

  private onDecision (d: Decision): void {
    if (!Number.isInteger(d.from) || d.from < 0 || d.from >= this.config.n) { this.drop('not-validator', undefined, `from ${String(d.from)}`); return }
    if (!Number.isSafeInteger(d.seq) || d.seq < 1 || !Number.isSafeInteger(d.view) || d.view < 0 || typeof d.digest !== 'string' || !Array.isArray(d.batch)) {
      this.drop('invalid', d.from, 'malformed decision')
      return
    }
    if (d.seq <= this.lastExecutedSeq) { this.drop('stale', d.from); return }
    if (d.seq > this.lastExecutedSeq + learnerWindow) { this.drop('outside-watermarks', d.from, `seq ${d.seq}`); return }
    if (batchDigest(this.crypto, d.batch) !== d.digest) { this.drop('digest-mismatch', d.from); return }
    let byValidator = this.vouched.get(d.seq)
    if (byValidator == null) { byValidator = new Map(); this.vouched.set(d.seq, byValidator) }
    const earlier = byValidator.get(d.from)
    if (earlier != null) { this.drop(earlier === d.digest ? 'duplicate' : 'conflicting', d.from, `seq ${d.seq}`); return }
    byValidator.set(d.from, d.digest)
    let byDigest = this.votes.get(d.seq)
    if (byDigest == null) { byDigest = new Map(); this.votes.set(d.seq, byDigest) }
    let vote = byDigest.get(d.digest)
    if (vote == null) { vote = { voters: new Set(), batch: d.batch, view: d.view }; byDigest.set(d.digest, vote) }
    vote.voters.add(d.from)
    this.executeReady()
  }

  private executeReady (): void {
    const needed = faultsTolerated(this.config.n) + 1
    for (;;) {
      const seq = this.lastExecutedSeq + 1
      const ready = [...(this.votes.get(seq)?.entries() ?? [])].find(([, v]) => v.voters.size >= needed)
      if (ready == null) break
      const [digest, vote] = ready
      // as the replicas execute a committed batch (replica.ts `execute`): each request at most once
      for (const request of vote.batch) {
        if (this.clients.classify(request.client, request.requestId) !== 'new') continue
        const result = this.app.apply(request, seq)
        this.clients.record(request.client, request.requestId, result, seq)
      }
      const checkpointInterval = this.config.checkpointInterval ?? 128
      if (seq % checkpointInterval === 0) this.clients.expire(seq, clientHorizonOf({ checkpointInterval, clientHorizonSeqs: this.config.clientHorizonSeqs }))
      this.lastExecutedSeq = seq
      this.votes.delete(seq)
      this.vouched.delete(seq)
      this.effects.push({ type: 'committed', seq, view: vote.view, digest, batch: vote.batch })
    }
    this.gapSinceMs = this.votes.size > 0 ? (this.gapSinceMs ?? this.nowMs) : null
  }

  private onState (state: StateTransfer): void {
    if (!Number.isSafeInteger(state.seq) || state.seq <= this.lastExecutedSeq) { this.drop('stale', state.from); return }
    if (!this.validProof(state)) { this.drop('bad-certificate', state.from, 'state proof'); return }
    const backup = { app: this.app.snapshot(), clients: this.clients.snapshot() }
    try {
      const parsed = JSON.parse(state.snapshot) as { app?: unknown, clients?: unknown }
      if (typeof parsed.app !== 'string' || !Array.isArray(parsed.clients)) throw new Error('malformed snapshot')
      this.app.restore(parsed.app)
      this.clients.restore(parsed.clients as ClientTableSnapshot)
    } catch {
      this.app.restore(backup.app)
      this.clients.restore(backup.clients)
      this.drop('invalid', state.from, 'undecodable snapshot')
      return
    }
    // the digest replicas sign in CHECKPOINTs (replica.ts `stateDigest`)
    if (this.crypto.hash(canonicalJson({ app: this.app.digest(), clients: this.clients.snapshot() })) !== state.stateDigest) {
      this.app.restore(backup.app)
      this.clients.restore(backup.clients)
      this.drop('digest-mismatch', state.from, 'snapshot does not match the proven digest')
      return
    }
    this.lastExecutedSeq = state.seq
    for (const seq of [...this.votes.keys()]) if (seq <= state.seq) { this.votes.delete(seq); this.vouched.delete(seq) }
    this.effects.push({ type: 'committed', seq: state.seq, view: -1, digest: state.stateDigest, batch: [] })
    this.executeReady()
  }

  private validProof (state: StateTransfer): boolean {
    if (!Array.isArray(state.checkpointProof)) return false
    const senders = new Set<ReplicaId>()
    for (const c of state.checkpointProof) {
      if (c?.type !== 'checkpoint' || c.seq !== state.seq || c.stateDigest !== state.stateDigest) return false
      if (!Number.isInteger(c.from) || c.from < 0 || c.from >= this.config.n) return false
      if (!this.crypto.verify(c.from, signable(c), c.signature)) return false
      senders.add(c.from)
    }
    return senders.size >= quorumSize(this.config.n)
  }

  private onTick (): void {
    const gap = this.gapSinceMs != null && this.nowMs - this.gapSinceMs >= this.config.gapMs
    if (this.nowMs - this.lastSubscribeMs >= this.config.resubscribeMs || (gap && this.nowMs - this.lastSubscribeMs >= this.config.gapMs)) {
      this.lastSubscribeMs = this.nowMs
      if (gap) this.gapSinceMs = this.nowMs
      this.effects.push({ type: 'subscribe', fromSeq: this.lastExecutedSeq })
    }
  }
}
