/**
 * One pBFT replica as a pure state machine (Castro & Liskov, OSDI '99, sections 4.2-4.4).
 *
 * - Normal case: the primary of view v (v mod n) assigns sequence numbers to batches of requests
 *   (PRE-PREPARE); a replica accepts one pre-prepare per (view, seq), sends PREPARE; with the
 *   pre-prepare and 2f matching prepares from distinct backups the batch is *prepared* and it sends
 *   COMMIT; with 2f+1 matching commits it is *committed-local*; batches execute strictly in order.
 * - Checkpoints every K sequence numbers; stable with 2f+1 matching CHECKPOINT messages; the log below
 *   the stable checkpoint is discarded; sequence numbers are accepted only in (stable, stable + 2K].
 * - View change: a request pending past the timer makes a replica move to view v+1 (VIEW-CHANGE with
 *   its stable checkpoint proof and prepared certificates); f+1 VIEW-CHANGEs for higher views make it
 *   join; the new primary, with 2f+1, sends NEW-VIEW whose pre-prepares every replica recomputes; the
 *   timer doubles with every view that fails to start or to execute a request, until one executes.
 * - State transfer: a replica that sees a stable checkpoint beyond what it executed fetches the
 *   snapshot, verifies it against the 2f+1 checkpoint proof, and continues from there.
 * - The client reply table (last request id and result per client) is part of the replicated state.
 */
import {
  batchDigest, canonicalJson, clientHorizonOf, faultsTolerated, primaryOf, quorumSize, signable
} from './types.js'
import { ClientTable } from './client-table.js'
import type { ClientTableSnapshot } from './client-table.js'
import type {
  Application, Checkpoint, ClientRequest, Commit, Crypto, Digest, DropReason, Effect, FetchLog, FetchState, Forward, Input,
  LogEntry, Message, NewView, PersistRecord, PreparedCertificate, Prepare, PrePrepare, ReplicaConfig, ReplicaId,
  StateTransfer, Status, ViewChange
} from './types.js'

/** Longest a view-change timer may grow to, as a multiple of the base timeout. */
const viewChangeBackoffMax = 16
/** VIEW-CHANGEs are kept for views up to this far beyond ours (f+1 of them make us join). */
const viewChangeWindow = 64
/** Times the new primary re-sends NEW-VIEW (it can be large; later, replicas catch up by state transfer). */
const newViewResendsMax = 3
/** Executed sequence numbers whose votes are still re-sent, for replicas that missed a few messages. */
const retransmitTail = 8
/** Re-sends of an executed entry's messages (the others usually executed it too). */
const tailResendsMax = 3
/** Requests remembered as pending at most (drop policy: new requests refused beyond it). */
const pendingMax = 100_000
/** Operation text longer than this is refused (the runtime bounds requests further). */
const operationLengthMax = 1024 * 1024
/** A peer's STATUS counts (for catch-up, view following, primary confirmation) for this many status intervals. */
const statusFreshIntervals = 4
/** Committed batches sent in one answer to FETCH-LOG (the requester asks again for the rest). */
const logEntriesPerAnswer = 64

interface Entry {
  seq: number
  /** The accepted pre-prepare, per view (one per view: a second one with another digest is equivocation). */
  prePrepares: Map<number, PrePrepare>
  /** votes[`${view}/${digest}`] = sender → message */
  prepares: Map<string, Map<ReplicaId, Prepare>>
  commits: Map<string, Map<ReplicaId, Commit>>
  /** (view, digest) we sent PREPARE / COMMIT for, per view: we never vote twice in one view. */
  preparedSent: Map<number, Digest>
  commitSent: Map<number, Digest>
  /** Highest view in which this entry prepared here, with its certificate. */
  preparedCertificate?: PreparedCertificate
  committed?: { view: number, digest: Digest, batch: ClientRequest[] }
  /** When we last sent (or re-sent) our own messages for this entry. */
  sentMs?: number
  /** Re-sends of our messages after the entry executed here (bounded: see retransmit). */
  tailResends?: number
}

interface PendingRequest {
  request: ClientRequest
  receivedMs: number
  /** In a PRE-PREPARE of the current view (a backup need not forward it to the primary). */
  ordered?: boolean
  /** Received from the client (or forwarded), not first seen inside a PRE-PREPARE: censorship is judged on these. */
  direct?: boolean
  /** While the oldest direct request: requests received here after it that executed before it. */
  overtaken?: number
  /** When its censorship clock (re)started: at receipt, and at every view change. */
  censorSinceMs?: number
}

interface PeerStatus {
  view: number
  active: boolean
  lastExecuted: number
  stableSeq: number
  receivedMs: number
}

interface StableCheckpoint {
  seq: number
  stateDigest: Digest
  proof: Checkpoint[]
  snapshot: string | null
}

/** Messages that bind the sender to nothing (requests, fetches, state, soft status): never persisted. */
const unpersistedTypes = new Set<Message['type']>(['forward', 'fetch-state', 'state', 'status', 'fetch-log', 'log-entry'])

function voteKey (view: number, digest: Digest): string {
  return `${view}/${digest}`
}

function requestKey (request: ClientRequest): string {
  return `${request.client}\u0000${request.requestId}`
}

export interface ReplicaStatus {
  id: ReplicaId
  view: number
  primary: ReplicaId
  active: boolean
  lastExecuted: number
  stableSeq: number
  lowWater: number
  highWater: number
  pending: number
  /**
   * The highest sequence at least f+1 replicas (so at least one honest one) report executed, ours
   * included: what this replica must reach. `behind` = highestKnown − lastExecuted.
   */
  highestKnown: number
  behind: number
  /** Behind the others (or fetching their stable checkpoint), with no client traffic needed to catch up. */
  catchingUp: boolean
  /** Restored from its log and not yet confirmed in its view by 2f peers (it does not act as primary). */
  recovering: boolean
}

export class Replica {
  private view = 0
  private active = true
  private readonly f: number
  private readonly quorum: number
  private readonly log = new Map<number, Entry>()
  private lastExecuted = 0
  private stable: StableCheckpoint = { seq: 0, stateDigest: '', proof: [], snapshot: null }
  /** Checkpoint messages by seq then sender. */
  private readonly checkpoints = new Map<number, Map<ReplicaId, Checkpoint>>()
  /** Our own state at checkpoint sequence numbers not yet stable: seq → (digest, snapshot). */
  private readonly ownCheckpoints = new Map<number, { stateDigest: Digest, snapshot: string }>()
  private readonly clients = new ClientTable()
  private readonly pending = new Map<string, PendingRequest>()
  /** Requests the primary has put into a pre-prepare in the current view. */
  private readonly proposed = new Set<string>()
  private nextSeq = 1
  private readonly viewChanges = new Map<number, Map<ReplicaId, ViewChange>>()
  private newViewSent: NewView | null = null
  private newViewResends = 0
  private viewTimerStarted = false
  private timerDeadlineMs: number | null = null
  private failedViews = 0
  private lastRetransmitMs: number
  /** Set by `replay`: execute what committed before the crash at the first step (effects go out then). */
  private resumeExecution = false
  private fetching: { seq: number, sources: ReplicaId[], fromIndex: number, sinceMs: number, startedMs: number } | null = null
  /** The latest STATUS of each peer. */
  private readonly peerStatuses = new Map<ReplicaId, PeerStatus>()
  private lastStatusMs: number
  /**
   * Restored from a persisted log: the view it remembers may be long gone. Until 2f peers' STATUS
   * messages confirm it (or f+1 prove a later view, which it then joins) it does not act as primary.
   */
  private recovering = false
  /** When we last answered each peer's STATUS with ours (at most once per half status interval). */
  private readonly statusAnsweredMs = new Map<ReplicaId, number>()
  /** When we last served each peer's FETCH-LOG (bounded work per peer). */
  private readonly fetchLogServedMs = new Map<ReplicaId, number>()
  private lastFetchLogMs = -Infinity
  /** Since when the view-change timer found us behind the others (it holds off while we catch up). */
  private catchingUpSinceMs: number | null = null
  private fetchLogFrom = 0
  private fetchLogTurn = 0
  /** Direct (client-sent) pending requests in arrival order: the first is the one censorship is judged on. */
  private readonly direct = new Map<string, PendingRequest>()
  private nowMs: number
  private effects: Effect[] = []

  constructor (readonly config: ReplicaConfig, private readonly crypto: Crypto, private readonly app: Application, nowMs: number) {
    if (config.n < 4 && config.n !== 1) throw new Error(`pBFT needs n ≥ 4 (3f+1) replicas, got ${config.n}`)
    if (config.id < 0 || config.id >= config.n) throw new Error(`replica id ${config.id} outside 0..${config.n - 1}`)
    if (config.checkpointInterval < 1) throw new Error('checkpointInterval must be ≥ 1')
    this.f = faultsTolerated(config.n)
    this.quorum = quorumSize(config.n)
    this.nowMs = nowMs
    this.lastRetransmitMs = nowMs
    // a fresh replica starts in view 0 like everyone: its first STATUS goes after one interval
    this.lastStatusMs = nowMs
    this.stable.stateDigest = this.stateDigest()
  }

  /** Rebuild a replica from what it persisted before a crash. */
  static restore (config: ReplicaConfig, crypto: Crypto, app: Application, records: PersistRecord[], nowMs: number): Replica {
    const replica = new Replica(config, crypto, app, nowMs)
    replica.replay(records)
    return replica
  }

  // ————————————————————————————————————————— inputs

  step (input: Input): Effect[] {
    this.effects = []
    this.nowMs = Math.max(this.nowMs, input.nowMs)
    if (this.resumeExecution) {
      this.resumeExecution = false
      this.executeReady()
    }
    switch (input.type) {
      case 'request': this.onRequest(input.request, input.forward ?? true); break
      case 'message': this.onMessage(input.message); break
      case 'tick': this.onTick(); break
    }
    const out = this.effects
    this.effects = []
    return out
  }

  /** The latest stable checkpoint with its snapshot and proof (what learners catch up from), if any. */
  stableCheckpoint (): { seq: number, stateDigest: Digest, proof: Checkpoint[], snapshot: string } | null {
    const { seq, stateDigest, proof, snapshot } = this.stable
    return seq > 0 && snapshot != null ? { seq, stateDigest, proof, snapshot } : null
  }

  /** A committed batch still in the log (above the stable checkpoint), for learners catching up. */
  committedAt (seq: number): { view: number, digest: Digest, batch: ClientRequest[] } | undefined {
    return seq <= this.lastExecuted ? this.log.get(seq)?.committed : undefined
  }

  status (): ReplicaStatus {
    return {
      id: this.config.id,
      view: this.view,
      primary: primaryOf(this.view, this.config.n),
      active: this.active,
      lastExecuted: this.lastExecuted,
      stableSeq: this.stable.seq,
      lowWater: this.stable.seq,
      highWater: this.highWater(),
      pending: this.pending.size,
      highestKnown: this.highestKnown(),
      behind: this.highestKnown() - this.lastExecuted,
      catchingUp: this.fetching != null || this.highestKnown() > this.lastExecuted,
      recovering: this.recovering
    }
  }

  private statusIntervalMs (): number {
    return this.config.statusIntervalMs ?? this.config.retransmitMs
  }

  private freshStatuses (): PeerStatus[] {
    const freshMs = statusFreshIntervals * this.statusIntervalMs()
    return [...this.peerStatuses.values()].filter(s => this.nowMs - s.receivedMs <= freshMs)
  }

  /** The highest lastExecuted that f+1 replicas (ours counted) vouch for. */
  private highestKnown (): number {
    const values = [this.lastExecuted, ...this.freshStatuses().map(s => s.lastExecuted)].sort((a, b) => b - a)
    return Math.max(this.lastExecuted, values[this.f] ?? this.lastExecuted)
  }

  /** 2f peers recently in a view no higher than ours: no sign that a quorum moved on without us. */
  private confirmedInView (): boolean {
    if (this.f === 0) return true
    return this.freshStatuses().filter(s => s.view <= this.view).length >= 2 * this.f
  }

  private highWater (): number {
    return this.stable.seq + 2 * this.config.checkpointInterval
  }

  private isPrimary (): boolean {
    return primaryOf(this.view, this.config.n) === this.config.id
  }

  private drop (reason: DropReason, from?: ReplicaId, detail?: string): void {
    this.effects.push(from == null ? { type: 'drop', reason, detail } : { type: 'drop', reason, from, detail })
  }

  private persist (record: PersistRecord): void {
    this.effects.push({ type: 'persist', record })
  }

  /** Sign, persist as sent, then send. */
  private send<M extends Message> (to: ReplicaId | 'all', unsigned: Omit<M, 'signature' | 'from'>): M {
    const withFrom = { ...unsigned, from: this.config.id, signature: '' } as unknown as M
    const message = { ...withFrom, signature: this.crypto.sign(signable(withFrom)) } as M
    if (!unpersistedTypes.has(message.type)) this.persist({ kind: 'sent', message })
    this.effects.push({ type: 'send', to, message })
    return message
  }

  private validRequest (request: ClientRequest): boolean {
    return typeof request.client === 'string' && request.client.length > 0 && request.client.length <= 256 &&
      Number.isSafeInteger(request.requestId) && request.requestId >= 1 &&
      typeof request.operation === 'string' && request.operation.length <= operationLengthMax
  }

  private onRequest (request: ClientRequest, forward: boolean): void {
    if (!this.validRequest(request)) { this.drop('invalid', undefined, 'malformed request'); return }
    const state = this.clients.classify(request.client, request.requestId)
    if (state === 'ahead') { this.drop('invalid', undefined, 'request id too far ahead of the client\'s executed ones'); return }
    if (state === 'done') {
      // Already executed: answer again (the client may have missed our reply).
      const done = this.clients.result(request.client, request.requestId)
      if (done != null) this.effects.push({ type: 'reply', request, seq: done.seq, view: this.view, result: done.result })
      return
    }
    const key = requestKey(request)
    const known = this.pending.get(key)
    if (known == null) {
      if (this.pending.size >= pendingMax) { this.drop('invalid', undefined, 'pending requests full'); return }
      const pending: PendingRequest = { request, receivedMs: this.nowMs, direct: true, censorSinceMs: this.nowMs }
      this.pending.set(key, pending)
      this.direct.set(key, pending)
    }
    this.startTimerIfIdle()
    if (this.isPrimary()) {
      if (this.active) this.maybePropose(false)
    } else if (forward) {
      this.send<Forward>(primaryOf(this.view, this.config.n), { type: 'forward', request })
    }
  }

  private onMessage (message: Message): void {
    if (!Number.isInteger(message.from) || message.from < 0 || message.from >= this.config.n) {
      this.drop('not-validator', undefined, `from ${String(message.from)}`)
      return
    }
    if (message.from === this.config.id) return // our own message echoed back
    switch (message.type) {
      case 'forward': this.onRequest(message.request, false); break
      case 'pre-prepare': this.onPrePrepare(message); break
      case 'prepare': this.onPrepare(message); break
      case 'commit': this.onCommit(message); break
      case 'checkpoint': this.onCheckpoint(message); break
      case 'view-change': this.onViewChange(message); break
      case 'new-view': this.onNewView(message); break
      case 'fetch-state': this.onFetchState(message); break
      case 'state': this.onState(message); break
      case 'status': this.onStatus(message); break
      case 'fetch-log': this.onFetchLog(message); break
      case 'log-entry': this.onLogEntry(message); break
      default: this.drop('invalid', (message as Message).from, 'unknown type')
    }
  }

  // ————————————————————————————————————————— normal case

  private entry (seq: number): Entry {
    let entry = this.log.get(seq)
    if (entry == null) {
      entry = { seq, prePrepares: new Map(), prepares: new Map(), commits: new Map(), preparedSent: new Map(), commitSent: new Map() }
      this.log.set(seq, entry)
    }
    return entry
  }

  private inWindow (seq: number): boolean {
    return Number.isSafeInteger(seq) && seq > this.stable.seq && seq <= this.highWater()
  }

  private maybePropose (flush: boolean): void {
    // a restarted primary may be a stale one (the others moved on while it was down): it proposes
    // nothing until 2f peers' STATUS messages confirm its view
    if (this.recovering) return
    while (this.active && this.isPrimary() && this.nextSeq <= this.highWater()) {
      if (!flush && this.nextSeq - 1 - this.lastExecuted >= (this.config.pipelineMax ?? Infinity)) return
      const batch: ClientRequest[] = []
      let oldestMs = Infinity
      for (const [key, pending] of this.pending) {
        if (this.proposed.has(key)) continue
        batch.push(pending.request)
        oldestMs = Math.min(oldestMs, pending.receivedMs)
        if (batch.length >= this.config.batchSizeMax) break
      }
      if (batch.length === 0) return
      const full = batch.length >= this.config.batchSizeMax
      // A non-full batch waits up to batchDelayMs for company only while earlier batches are still in
      // the pipeline (they bring the next chance to propose when they execute). With nothing in flight
      // waiting buys nothing: the request goes out at once (one outstanding write pays no batch delay).
      const pipelineBusy = this.nextSeq - 1 > this.lastExecuted
      if (!full && !flush && pipelineBusy && this.nowMs - oldestMs < this.config.batchDelayMs) return
      // one request per client per batch keeps execution order = request id order per client
      batch.sort((a, b) => (a.client < b.client ? -1 : a.client > b.client ? 1 : a.requestId - b.requestId))
      for (const request of batch) this.proposed.add(requestKey(request))
      const seq = this.nextSeq++
      const prePrepare = this.send<PrePrepare>('all', { type: 'pre-prepare', view: this.view, seq, digest: batchDigest(this.crypto, batch), batch })
      this.acceptPrePrepare(prePrepare)
    }
  }

  private onPrePrepare (message: PrePrepare): void {
    if (message.from !== primaryOf(message.view, this.config.n)) { this.drop('not-primary', message.from); return }
    if (message.view !== this.view || !this.active) { this.drop('wrong-view', message.from, `view ${message.view}, ours ${this.view}`); return }
    if (!this.inWindow(message.seq)) { this.drop('outside-watermarks', message.from, `seq ${message.seq}`); return }
    if (!Array.isArray(message.batch) || !message.batch.every(r => this.validRequest(r))) { this.drop('invalid', message.from, 'bad batch'); return }
    if (batchDigest(this.crypto, message.batch) !== message.digest) { this.drop('digest-mismatch', message.from); return }
    const existing = this.log.get(message.seq)?.prePrepares.get(message.view)
    if (existing != null) {
      this.drop(existing.digest === message.digest ? 'duplicate' : 'conflicting', message.from, `seq ${message.seq}`)
      return
    }
    this.acceptPrePrepare(message)
  }

  private acceptPrePrepare (message: PrePrepare): void {
    const entry = this.entry(message.seq)
    entry.prePrepares.set(message.view, message)
    if (message.from === this.config.id) entry.sentMs = this.nowMs
    this.persist({ kind: 'accepted', message })
    for (const request of message.batch) {
      if (this.clients.classify(request.client, request.requestId) !== 'new') continue
      const key = requestKey(request)
      const pending = this.pending.get(key)
      if (pending != null) pending.ordered = true
      else if (this.pending.size < pendingMax) this.pending.set(key, { request, receivedMs: this.nowMs, ordered: true })
    }
    this.startTimerIfIdle()
    if (message.from !== this.config.id && !entry.preparedSent.has(message.view)) {
      entry.preparedSent.set(message.view, message.digest)
      entry.sentMs = this.nowMs
      const prepare = this.send<Prepare>('all', { type: 'prepare', view: message.view, seq: message.seq, digest: message.digest })
      this.recordVote(entry.prepares, prepare)
    }
    this.checkPrepared(entry, message.view, message.digest)
  }

  /** Store a vote; false (and dropped as conflicting) when the sender voted another digest in this view. */
  private recordVote<M extends Prepare | Commit> (votes: Map<string, Map<ReplicaId, M>>, message: M): boolean {
    for (const [key, voters] of votes) {
      if (key.startsWith(`${message.view}/`) && key !== voteKey(message.view, message.digest) && voters.has(message.from)) {
        this.drop('conflicting', message.from, `double ${message.type} at seq ${message.seq}`)
        return false
      }
    }
    const key = voteKey(message.view, message.digest)
    let voters = votes.get(key)
    if (voters == null) { voters = new Map(); votes.set(key, voters) }
    if (voters.has(message.from)) { this.drop('duplicate', message.from); return false }
    voters.set(message.from, message)
    return true
  }

  private onPrepare (message: Prepare): void {
    if (message.from === primaryOf(message.view, this.config.n)) { this.drop('invalid', message.from, 'the primary does not prepare'); return }
    if (message.view !== this.view) { this.drop('wrong-view', message.from); return }
    if (!this.inWindow(message.seq)) { this.drop('outside-watermarks', message.from); return }
    const entry = this.entry(message.seq)
    if (!this.recordVote(entry.prepares, message)) return
    this.persist({ kind: 'accepted', message })
    this.checkPrepared(entry, message.view, message.digest)
  }

  private checkPrepared (entry: Entry, view: number, digest: Digest): void {
    const prePrepare = entry.prePrepares.get(view)
    if (prePrepare == null || prePrepare.digest !== digest) return
    // with f = 0 (a single validator) no PREPARE is needed, so none may have been recorded
    const voters = entry.prepares.get(voteKey(view, digest)) ?? new Map<ReplicaId, Prepare>()
    if (voters.size < 2 * this.f) return
    if (entry.preparedCertificate == null || entry.preparedCertificate.prePrepare.view < view) {
      entry.preparedCertificate = { prePrepare, prepares: [...voters.values()].slice(0, 2 * this.f) }
    }
    if (!entry.commitSent.has(view)) {
      entry.commitSent.set(view, digest)
      entry.sentMs = this.nowMs
      const commit = this.send<Commit>('all', { type: 'commit', view, seq: entry.seq, digest })
      this.recordVote(entry.commits, commit)
    }
    this.checkCommitted(entry, view, digest)
  }

  private onCommit (message: Commit): void {
    if (message.view !== this.view) { this.drop('wrong-view', message.from); return }
    if (!this.inWindow(message.seq)) { this.drop('outside-watermarks', message.from); return }
    const entry = this.entry(message.seq)
    if (!this.recordVote(entry.commits, message)) return
    this.persist({ kind: 'accepted', message })
    this.checkCommitted(entry, message.view, message.digest)
  }

  private checkCommitted (entry: Entry, view: number, digest: Digest): void {
    if (entry.committed != null) return
    const certificate = entry.preparedCertificate
    if (certificate == null || certificate.prePrepare.view !== view || certificate.prePrepare.digest !== digest) return
    const voters = entry.commits.get(voteKey(view, digest))
    if (voters == null || voters.size < this.quorum) return
    entry.committed = { view, digest, batch: certificate.prePrepare.batch }
    this.executeReady()
  }

  private executeReady (): void {
    let progressed = false
    for (;;) {
      const entry = this.log.get(this.lastExecuted + 1)
      if (entry?.committed == null) break
      this.execute(entry.seq, entry.committed.view, entry.committed.digest, entry.committed.batch, true)
      progressed = true
    }
    if (progressed) {
      // caught up by executing: a fetch for a checkpoint we now passed is over
      if (this.fetching != null && this.lastExecuted >= this.fetching.seq) this.fetching = null
      this.resetTimer()
      // room in the pipeline: what waited goes out now as one batch
      if (this.active && this.isPrimary()) this.maybePropose(false)
    }
  }

  /** Apply one committed batch. `live` false when replaying the persisted log after a restart. */
  private execute (seq: number, view: number, digest: Digest, batch: ClientRequest[], live: boolean): void {
    for (const request of batch) {
      const key = requestKey(request)
      const pending = this.pending.get(key)
      this.pending.delete(key)
      if (pending?.direct === true) {
        this.direct.delete(key)
        // a request received here after the oldest waiting one executed first: count it against the primary
        const oldest = this.oldestDirect()
        if (oldest != null && oldest.receivedMs < pending.receivedMs) oldest.overtaken = (oldest.overtaken ?? 0) + 1
      }
      // executed before (a duplicate in the log) or beyond the client window: skipped, deterministically
      if (this.clients.classify(request.client, request.requestId) !== 'new') continue
      const result = this.app.apply(request, seq)
      this.clients.record(request.client, request.requestId, result, seq)
      if (live) this.effects.push({ type: 'reply', request, seq, view, result })
    }
    this.lastExecuted = seq
    if (live) {
      this.persist({ kind: 'executed', seq, view, digest, batch })
      this.effects.push({ type: 'committed', seq, view, digest, batch })
    }
    if (seq % this.config.checkpointInterval === 0) {
      // clients silent past the horizon are forgotten here, at the same sequence on every replica
      this.clients.expire(seq, clientHorizonOf(this.config))
      const stateDigest = this.stateDigest()
      this.ownCheckpoints.set(seq, { stateDigest, snapshot: this.snapshot() })
      if (live) {
        const checkpoint = this.send<Checkpoint>('all', { type: 'checkpoint', seq, stateDigest })
        this.addCheckpoint(checkpoint)
      }
    }
  }

  // ————————————————————————————————————————— checkpoints and state transfer

  private stateDigest (): Digest {
    return this.crypto.hash(canonicalJson({ app: this.app.digest(), clients: this.clients.snapshot() }))
  }

  private snapshot (): string {
    return canonicalJson({ app: this.app.snapshot(), clients: this.clients.snapshot() })
  }

  private restoreSnapshot (snapshot: string): void {
    const parsed = JSON.parse(snapshot) as { app: string, clients: ClientTableSnapshot }
    if (typeof parsed.app !== 'string' || !Array.isArray(parsed.clients)) throw new Error('malformed snapshot')
    this.app.restore(parsed.app)
    this.clients.restore(parsed.clients)
  }

  private onCheckpoint (message: Checkpoint): void {
    if (!Number.isSafeInteger(message.seq) || message.seq <= this.stable.seq || message.seq % this.config.checkpointInterval !== 0) {
      if (message.seq > this.stable.seq) this.drop('invalid', message.from, 'checkpoint off the interval')
      return
    }
    // far beyond our window is fine here: it is how a lagging replica learns it must fetch state
    this.addCheckpoint(message)
  }

  private addCheckpoint (message: Checkpoint): void {
    let bySender = this.checkpoints.get(message.seq)
    if (bySender == null) { bySender = new Map(); this.checkpoints.set(message.seq, bySender) }
    if (bySender.has(message.from)) return
    bySender.set(message.from, message)
    if (message.from !== this.config.id) this.persist({ kind: 'accepted', message })
    const matching = [...bySender.values()].filter(c => c.stateDigest === message.stateDigest)
    if (matching.length >= this.quorum) this.makeStable(message.seq, message.stateDigest, matching.slice(0, this.quorum))
  }

  private makeStable (seq: number, stateDigest: Digest, proof: Checkpoint[]): void {
    if (seq <= this.stable.seq) return
    const own = this.ownCheckpoints.get(seq)
    if (own == null || own.stateDigest !== stateDigest) {
      // 2f+1 replicas are past a state we do not have (or ours diverged: a bug, or we were Byzantine):
      // fetch it from one of them.
      if (this.lastExecuted < seq || own != null) this.startFetch(seq, proof)
      return
    }
    this.stable = { seq, stateDigest, proof, snapshot: own.snapshot }
    this.persist({ kind: 'stable', seq, stateDigest, snapshot: own.snapshot, proof })
    this.effects.push({ type: 'stable', seq, stateDigest })
    this.collectGarbage()
  }

  private collectGarbage (): void {
    for (const seq of this.log.keys()) if (seq <= this.stable.seq) this.log.delete(seq)
    for (const seq of this.checkpoints.keys()) if (seq < this.stable.seq) this.checkpoints.delete(seq)
    for (const seq of this.ownCheckpoints.keys()) if (seq < this.stable.seq) this.ownCheckpoints.delete(seq)
    if (this.nextSeq <= this.stable.seq) this.nextSeq = this.stable.seq + 1
    if (this.isPrimary() && this.active) this.maybePropose(false)
  }

  private startFetch (seq: number, proof: Checkpoint[]): void {
    if (this.fetching != null && this.fetching.seq >= seq) return
    const sources = [...new Set(proof.map(c => c.from))].filter(id => id !== this.config.id)
    this.fetching = { seq, sources, fromIndex: 0, sinceMs: this.nowMs, startedMs: this.fetching?.startedMs ?? this.nowMs }
    const target = sources[0]
    if (target != null) this.send<FetchState>(target, { type: 'fetch-state', fromSeq: this.lastExecuted })
  }

  private onFetchState (message: FetchState): void {
    if (this.stable.seq <= message.fromSeq || this.stable.snapshot == null) return
    this.send<StateTransfer>(message.from, {
      type: 'state', seq: this.stable.seq, stateDigest: this.stable.stateDigest, checkpointProof: this.stable.proof, snapshot: this.stable.snapshot
    })
  }

  private validCheckpointProof (seq: number, stateDigest: Digest, proof: Checkpoint[]): boolean {
    if (seq === 0) return true
    const senders = new Set<ReplicaId>()
    for (const c of proof) {
      if (c.type !== 'checkpoint' || c.seq !== seq || c.stateDigest !== stateDigest) return false
      if (!Number.isInteger(c.from) || c.from < 0 || c.from >= this.config.n) return false
      if (!this.crypto.verify(c.from, signable(c), c.signature)) return false
      senders.add(c.from)
    }
    return senders.size >= this.quorum
  }

  private onState (message: StateTransfer): void {
    if (message.seq <= this.lastExecuted || message.seq <= this.stable.seq) { this.drop('stale', message.from); return }
    if (!this.validCheckpointProof(message.seq, message.stateDigest, message.checkpointProof)) { this.drop('bad-certificate', message.from, 'state proof'); return }
    const backup = this.snapshot()
    try {
      this.restoreSnapshot(message.snapshot)
    } catch {
      this.restoreSnapshot(backup)
      this.drop('invalid', message.from, 'undecodable snapshot')
      return
    }
    if (this.stateDigest() !== message.stateDigest) {
      this.restoreSnapshot(backup)
      this.drop('digest-mismatch', message.from, 'snapshot does not match the proven digest')
      return
    }
    this.lastExecuted = message.seq
    this.ownCheckpoints.set(message.seq, { stateDigest: message.stateDigest, snapshot: message.snapshot })
    // an older checkpoint than the one we were fetching (its sender had not made that one stable yet)
    // is progress, not the end: keep asking for the newer one
    if (this.fetching != null && this.fetching.seq <= message.seq) this.fetching = null
    this.makeStable(message.seq, message.stateDigest, message.checkpointProof)
    for (const request of [...this.pending.values()].map(p => p.request)) {
      if (this.clients.classify(request.client, request.requestId) !== 'new') {
        this.pending.delete(requestKey(request))
        this.direct.delete(requestKey(request))
      }
    }
    // the snapshot may have answered what was pending: the view-change timer follows what is left
    this.resetTimer()
    this.executeReady()
  }

  // ————————————————————————————————————————— status, idle catch-up

  private sendStatus (to: ReplicaId | 'all'): void {
    this.send<Status>(to, {
      type: 'status',
      view: this.view,
      active: this.active,
      lastExecuted: this.lastExecuted,
      stableSeq: this.stable.seq,
      stableDigest: this.stable.stateDigest,
      checkpointProof: this.stable.proof,
      wantReply: this.recovering || this.highestKnown() > this.lastExecuted
    })
    if (to === 'all') this.lastStatusMs = this.nowMs
  }

  private onStatus (message: Status): void {
    const numbers = [message.view, message.lastExecuted, message.stableSeq]
    if (!numbers.every(v => Number.isSafeInteger(v) && v >= 0) || typeof message.active !== 'boolean' ||
      typeof message.wantReply !== 'boolean' || !Array.isArray(message.checkpointProof) || message.stableSeq > message.lastExecuted) {
      this.drop('invalid', message.from, 'status')
      return
    }
    this.peerStatuses.set(message.from, { view: message.view, active: message.active, lastExecuted: message.lastExecuted, stableSeq: message.stableSeq, receivedMs: this.nowMs })
    // a stable checkpoint beyond ours, proven by 2f+1 signatures: adopt it (our own state matches) or fetch it
    if (message.stableSeq > this.stable.seq) {
      if (message.stableSeq % this.config.checkpointInterval !== 0 || !this.validCheckpointProof(message.stableSeq, message.stableDigest, message.checkpointProof)) {
        this.drop('bad-certificate', message.from, 'status checkpoint proof')
      } else {
        this.makeStable(message.stableSeq, message.stableDigest, message.checkpointProof)
      }
    }
    this.followViews()
    // 2f peers in a view no higher than ours: our view is current (a restored replica may act again)
    if (this.recovering && this.confirmedInView()) this.recovering = false
    this.catchUp()
    // a peer that asks (restarted, unconfirmed, behind) or is in an older view hears from us at once
    if (message.wantReply || message.view < this.view) {
      const answeredMs = this.statusAnsweredMs.get(message.from) ?? -Infinity
      if (this.nowMs - answeredMs >= this.statusIntervalMs() / 2) {
        this.statusAnsweredMs.set(message.from, this.nowMs)
        this.sendStatus(message.from)
      }
    }
    // the confirmation a primary waited for
    if (this.active && this.isPrimary()) this.maybePropose(false)
  }

  /**
   * f+1 replicas report a higher view: at least one honest replica is there, so join it (as the paper's
   * f+1 VIEW-CHANGE rule does). Our VIEW-CHANGE for it reaches its primary, which answers a replica
   * asking for the view it already runs with its NEW-VIEW; we verify that and enter.
   */
  private followViews (): void {
    const higher = this.freshStatuses().map(s => s.view).filter(v => v > this.view).sort((a, b) => b - a)
    const target = higher[this.f]
    if (target != null && higher.length >= this.f + 1) this.startViewChange(target)
  }

  /** Behind what f+1 peers executed, with their stable checkpoint not past us: ask one of them for the batches. */
  private catchUp (): void {
    if (this.fetching != null) return // a state transfer first
    if (this.nowMs - this.lastFetchLogMs < this.config.retransmitMs) return
    if (this.highestKnown() <= this.lastExecuted) return
    const ahead = [...this.peerStatuses.entries()]
      .filter(([, s]) => this.nowMs - s.receivedMs <= statusFreshIntervals * this.statusIntervalMs() && s.lastExecuted > this.lastExecuted && s.stableSeq <= this.lastExecuted)
      .map(([id]) => id)
      .sort((a, b) => a - b)
    if (ahead.length === 0) return
    // in turn, so a peer that claims to be ahead and answers nothing costs one period, not the catch-up
    const target = ahead[this.fetchLogTurn++ % ahead.length] as ReplicaId
    this.lastFetchLogMs = this.nowMs
    this.fetchLogFrom = this.lastExecuted
    this.send<FetchLog>(target, { type: 'fetch-log', fromSeq: this.lastExecuted })
  }

  private onFetchLog (message: FetchLog): void {
    if (!Number.isSafeInteger(message.fromSeq) || message.fromSeq < 0) { this.drop('invalid', message.from, 'fetch-log'); return }
    const servedMs = this.fetchLogServedMs.get(message.from) ?? -Infinity
    if (this.nowMs - servedMs < this.config.retransmitMs / 4) { this.drop('duplicate', message.from, 'fetch-log too soon'); return }
    this.fetchLogServedMs.set(message.from, this.nowMs)
    if (message.fromSeq < this.stable.seq) {
      // what it misses starts below our log: our STATUS carries the stable checkpoint it must fetch first
      this.sendStatus(message.from)
      return
    }
    for (let seq = message.fromSeq + 1, sent = 0; seq <= this.lastExecuted && sent < logEntriesPerAnswer; seq++, sent++) {
      const entry = this.log.get(seq)
      const committed = entry?.committed
      if (entry == null || committed == null) break
      const prePrepare = entry.prePrepares.get(committed.view)
      const commits = entry.commits.get(voteKey(committed.view, committed.digest))
      if (prePrepare == null || prePrepare.digest !== committed.digest || commits == null || commits.size < this.quorum) break
      this.send<LogEntry>(message.from, { type: 'log-entry', seq, prePrepare, commits: [...commits.values()].slice(0, this.quorum) })
    }
  }

  /** A committed batch with its commit certificate (from FETCH-LOG): checked in full, then executed in order. */
  private onLogEntry (message: LogEntry): void {
    const { seq, prePrepare: pp, commits } = message
    if (!Number.isSafeInteger(seq)) { this.drop('invalid', message.from, 'log-entry'); return }
    if (seq <= this.lastExecuted || seq <= this.stable.seq || this.log.get(seq)?.committed != null) { this.drop('stale', message.from); return }
    if (seq > this.lastExecuted + 2 * this.config.checkpointInterval) { this.drop('outside-watermarks', message.from, `log-entry ${seq}`); return }
    if (pp?.type !== 'pre-prepare' || pp.seq !== seq || !Number.isSafeInteger(pp.view) || pp.view < 0 || pp.from !== primaryOf(pp.view, this.config.n) ||
      !Array.isArray(pp.batch) || !pp.batch.every(r => this.validRequest(r)) || batchDigest(this.crypto, pp.batch) !== pp.digest ||
      !this.crypto.verify(pp.from, signable(pp), pp.signature)) {
      this.drop('bad-certificate', message.from, 'log-entry pre-prepare')
      return
    }
    if (!Array.isArray(commits)) { this.drop('bad-certificate', message.from, 'log-entry commits'); return }
    const voters = new Map<ReplicaId, Commit>()
    for (const c of commits) {
      if (c?.type !== 'commit' || c.view !== pp.view || c.seq !== seq || c.digest !== pp.digest ||
        !Number.isInteger(c.from) || c.from < 0 || c.from >= this.config.n || !this.crypto.verify(c.from, signable(c), c.signature)) {
        this.drop('bad-certificate', message.from, 'log-entry commit')
        return
      }
      voters.set(c.from, c)
    }
    if (voters.size < this.quorum) { this.drop('bad-certificate', message.from, 'log-entry quorum'); return }
    const entry = this.entry(seq)
    if (!entry.prePrepares.has(pp.view)) entry.prePrepares.set(pp.view, pp)
    const key = voteKey(pp.view, pp.digest)
    const known = entry.commits.get(key) ?? new Map<ReplicaId, Commit>()
    for (const [from, c] of voters) if (!known.has(from)) known.set(from, c)
    entry.commits.set(key, known) // kept so that we can serve this batch to others in turn
    entry.committed = { view: pp.view, digest: pp.digest, batch: pp.batch }
    const before = this.lastExecuted
    this.executeReady()
    // a full answer executed: there is probably more, ask again now rather than next period
    if (this.lastExecuted > before && this.lastExecuted >= this.fetchLogFrom + logEntriesPerAnswer) {
      this.lastFetchLogMs = -Infinity
      this.catchUp()
    }
  }

  // ————————————————————————————————————————— censorship bound

  private oldestDirect (): PendingRequest | undefined {
    for (const [key, pending] of this.direct) {
      if (this.pending.get(key) === pending) return pending
      this.direct.delete(key) // left the pending set another way (state transfer)
    }
    return undefined
  }

  /**
   * The plain timer restarts whenever anything executes, so a primary that orders everyone but one
   * client delays it for ever. A backup suspects the primary when its oldest directly received request
   * has waited `censorTimeouts` view-change timeouts AND at least `censorOvertakenMin` requests received
   * here after it executed first. Waiting alone is not enough: under a backlog an honest primary orders
   * in arrival order, so old requests wait long but are not overtaken (beyond the few that network
   * skew reorders), and a timer on waiting alone would change views for ever.
   */
  private checkCensorship (): void {
    if (!this.active || this.isPrimary()) return
    const oldest = this.oldestDirect()
    if (oldest == null || oldest.ordered === true) return
    const waitedMs = this.nowMs - (oldest.censorSinceMs ?? oldest.receivedMs)
    if (waitedMs < (this.config.censorTimeouts ?? 2) * this.timeoutMs()) return
    if ((oldest.overtaken ?? 0) < (this.config.censorOvertakenMin ?? this.config.batchSizeMax)) return
    this.drop('censored', undefined, `${oldest.request.client}#${oldest.request.requestId} overtaken by ${oldest.overtaken ?? 0} requests over ${Math.round(waitedMs)} ms`)
    this.startViewChange(this.view + 1)
  }

  // ————————————————————————————————————————— view change

  private timeoutMs (): number {
    return this.config.viewChangeTimeoutMs * Math.min(viewChangeBackoffMax, 2 ** this.failedViews)
  }

  private startTimerIfIdle (): void {
    if (this.timerDeadlineMs == null && this.pending.size > 0) this.timerDeadlineMs = this.nowMs + this.timeoutMs()
  }

  /** Progress was made: restart the timer if requests are still waiting, else stop it. */
  private resetTimer (): void {
    this.failedViews = 0
    this.timerDeadlineMs = this.pending.size > 0 ? this.nowMs + this.timeoutMs() : null
  }

  private onTick (): void {
    if (this.timerDeadlineMs != null && this.nowMs >= this.timerDeadlineMs) {
      const behind = this.fetching != null || this.highestKnown() > this.lastExecuted
      if (!behind) this.catchingUpSinceMs = null
      else this.catchingUpSinceMs ??= this.nowMs
      if (this.active && behind && this.nowMs - (this.catchingUpSinceMs as number) < 2 * this.timeoutMs()) {
        // we are behind what f+1 others executed (a stable checkpoint, or batches after it): the primary
        // is making progress, we are not; catch up first (a view change now would only take us out of
        // the quorum). Bounded: a catch-up that gets nowhere must not hold off a view change for ever
        this.timerDeadlineMs = this.nowMs + this.timeoutMs()
      } else {
        // the view we moved to did not start in time, or started and executed nothing new in time:
        // either way the next one waits twice as long (Castro & Liskov §4.5.2: until a request executes)
        this.failedViews++
        this.startViewChange(this.view + 1)
      }
    }
    this.checkCensorship()
    if (this.active && this.isPrimary()) this.maybePropose(false)
    if (this.nowMs - this.lastRetransmitMs >= this.config.retransmitMs) {
      this.lastRetransmitMs = this.nowMs
      this.retransmit()
    }
    if (this.nowMs - this.lastStatusMs >= this.statusIntervalMs()) this.sendStatus('all')
    this.catchUp()
  }

  private startViewChange (view: number): void {
    if (view <= this.view) return
    this.view = view
    this.active = false
    this.proposed.clear()
    this.newViewSent = null
    this.persist({ kind: 'view', view, active: false })
    this.effects.push({ type: 'view', view, primary: primaryOf(view, this.config.n), active: false })
    const prepared: PreparedCertificate[] = []
    for (const entry of [...this.log.values()].sort((a, b) => a.seq - b.seq)) {
      if (entry.seq > this.stable.seq && entry.preparedCertificate != null) prepared.push(entry.preparedCertificate)
    }
    for (const old of this.viewChanges.keys()) if (old < view) this.viewChanges.delete(old)
    // the next primary gets its own chance: censorship is judged afresh in the new view
    for (const pending of this.direct.values()) { pending.overtaken = 0; pending.censorSinceMs = this.nowMs }
    // fallback only: the real timer starts with 2f+1 VIEW-CHANGEs for this view (addViewChange)
    this.viewTimerStarted = false
    this.timerDeadlineMs = this.nowMs + this.config.viewChangeTimeoutMs * viewChangeBackoffMax
    const message = this.send<ViewChange>('all', {
      type: 'view-change', view, stableSeq: this.stable.seq, stableDigest: this.stable.stateDigest, checkpointProof: this.stable.proof, prepared
    })
    this.addViewChange(message)
  }

  private validViewChange (message: ViewChange): boolean {
    if (!Number.isSafeInteger(message.view) || !Number.isSafeInteger(message.stableSeq) || message.stableSeq < 0) return false
    if (!Array.isArray(message.checkpointProof) || !Array.isArray(message.prepared)) return false
    if (message.stableSeq > 0 && !this.validCheckpointProof(message.stableSeq, message.stableDigest, message.checkpointProof)) return false
    const window = 2 * this.config.checkpointInterval
    const seen = new Set<number>()
    for (const certificate of message.prepared) {
      const pp = certificate?.prePrepare
      if (pp?.type !== 'pre-prepare' || pp.view >= message.view || seen.has(pp.seq)) return false
      if (pp.seq <= message.stableSeq || pp.seq > message.stableSeq + window) return false
      if (pp.from !== primaryOf(pp.view, this.config.n) || !this.crypto.verify(pp.from, signable(pp), pp.signature)) return false
      if (!Array.isArray(pp.batch) || batchDigest(this.crypto, pp.batch) !== pp.digest) return false
      const voters = new Set<ReplicaId>()
      for (const p of certificate.prepares ?? []) {
        if (p.type !== 'prepare' || p.view !== pp.view || p.seq !== pp.seq || p.digest !== pp.digest) return false
        if (p.from === pp.from || !Number.isInteger(p.from) || p.from < 0 || p.from >= this.config.n) return false
        if (!this.crypto.verify(p.from, signable(p), p.signature)) return false
        voters.add(p.from)
      }
      if (voters.size < 2 * this.f) return false
      seen.add(pp.seq)
    }
    return true
  }

  private onViewChange (message: ViewChange): void {
    if (message.view < this.view || (message.view === this.view && this.active)) {
      this.drop('stale', message.from)
      // the sender is behind (restarted, or missed our NEW-VIEW re-sends): as primary of the current
      // view, send it our NEW-VIEW so it can verify and join (only the primary can: it is its signer)
      if (this.active && this.isPrimary() && this.newViewSent?.view === this.view && Number.isInteger(message.from)) {
        this.effects.push({ type: 'send', to: message.from, message: this.newViewSent })
      }
      return
    }
    if (!this.validViewChange(message)) { this.drop('bad-certificate', message.from, 'view-change'); return }
    this.addViewChange(message)
    // f+1 replicas want a higher view: at least one honest replica timed out, so join the smallest.
    const higher = new Map<ReplicaId, number>()
    for (const [view, senders] of this.viewChanges) {
      if (view <= this.view) continue
      for (const sender of senders.keys()) higher.set(sender, Math.min(higher.get(sender) ?? view, view))
    }
    if (higher.size >= this.f + 1) {
      this.startViewChange(Math.min(...higher.values()))
    }
  }

  /**
   * One VIEW-CHANGE per (view, sender), for views from ours up to `viewChangeWindow` ahead (memory
   * stays O(n²) whatever a faulty replica sends). Others' VIEW-CHANGEs are not persisted: after a
   * restart they arrive again by retransmission.
   * Timer (paper, section 4.5.2): a replica that asked for view v starts its timer only once it holds
   * 2f+1 VIEW-CHANGEs for v, so replicas move on together instead of racing ahead one by one.
   */
  private addViewChange (message: ViewChange): void {
    if (message.view > this.view + viewChangeWindow) { this.drop('outside-watermarks', message.from, `view ${message.view}`); return }
    let senders = this.viewChanges.get(message.view)
    if (senders == null) { senders = new Map(); this.viewChanges.set(message.view, senders) }
    if (senders.has(message.from)) return
    senders.set(message.from, message)
    if (message.view === this.view && !this.active && !this.viewTimerStarted && senders.size >= this.quorum) {
      this.viewTimerStarted = true
      this.timerDeadlineMs = this.nowMs + this.timeoutMs()
    }
    this.maybeSendNewView(message.view)
  }

  /** Set O of the paper: one pre-prepare per sequence in (min-s, max-s], the highest-view certificate or null. */
  private computeNewViewPrePrepares (view: number, viewChanges: ViewChange[]): Array<{ seq: number, digest: Digest, batch: ClientRequest[] }> {
    const minS = Math.max(...viewChanges.map(vc => vc.stableSeq))
    const best = new Map<number, PrePrepare>()
    for (const vc of viewChanges) {
      for (const certificate of vc.prepared) {
        const pp = certificate.prePrepare
        const current = best.get(pp.seq)
        if (current == null || pp.view > current.view) best.set(pp.seq, pp)
      }
    }
    const maxS = Math.max(minS, ...[...best.keys()])
    const out: Array<{ seq: number, digest: Digest, batch: ClientRequest[] }> = []
    for (let seq = minS + 1; seq <= maxS; seq++) {
      const pp = best.get(seq)
      out.push(pp != null ? { seq, digest: pp.digest, batch: pp.batch } : { seq, digest: batchDigest(this.crypto, []), batch: [] })
    }
    return out
  }

  private maybeSendNewView (view: number): void {
    if (view !== this.view || this.active || primaryOf(view, this.config.n) !== this.config.id || this.newViewSent != null) return
    const senders = this.viewChanges.get(view)
    if (senders == null || senders.size < this.quorum || !senders.has(this.config.id)) return
    const viewChanges = [...senders.values()].sort((a, b) => a.from - b.from).slice(0, this.quorum)
    if (!viewChanges.some(vc => vc.from === this.config.id)) viewChanges[viewChanges.length - 1] = senders.get(this.config.id) as ViewChange
    const plan = this.computeNewViewPrePrepares(view, viewChanges)
    const prePrepares = plan.map(p => {
      const unsigned = { type: 'pre-prepare' as const, view, seq: p.seq, digest: p.digest, batch: p.batch, from: this.config.id, signature: '' }
      return { ...unsigned, signature: this.crypto.sign(signable(unsigned)) }
    })
    const newView = this.send<NewView>('all', { type: 'new-view', view, viewChanges, prePrepares })
    this.newViewSent = newView
    this.newViewResends = 0
    this.enterView(newView)
  }

  private onNewView (message: NewView): void {
    if (message.view < this.view || (message.view === this.view && this.active)) { this.drop('stale', message.from); return }
    if (message.from !== primaryOf(message.view, this.config.n)) { this.drop('not-primary', message.from); return }
    const viewChanges = Array.isArray(message.viewChanges) ? message.viewChanges : []
    const senders = new Set<ReplicaId>()
    for (const vc of viewChanges) {
      if (vc?.type !== 'view-change' || vc.view !== message.view || !Number.isInteger(vc.from) || vc.from < 0 || vc.from >= this.config.n) { this.drop('bad-certificate', message.from, 'new-view'); return }
      if (!this.crypto.verify(vc.from, signable(vc), vc.signature) || !this.validViewChange(vc)) { this.drop('bad-certificate', message.from, 'new-view'); return }
      senders.add(vc.from)
    }
    if (senders.size < this.quorum) { this.drop('bad-certificate', message.from, 'new-view quorum'); return }
    const plan = this.computeNewViewPrePrepares(message.view, viewChanges)
    const given = Array.isArray(message.prePrepares) ? message.prePrepares : []
    const matches = plan.length === given.length && plan.every((p, i) => {
      const pp = given[i]
      return pp != null && pp.type === 'pre-prepare' && pp.view === message.view && pp.seq === p.seq && pp.digest === p.digest &&
        pp.from === message.from && this.crypto.verify(pp.from, signable(pp), pp.signature) &&
        batchDigest(this.crypto, pp.batch) === pp.digest
    })
    if (!matches) { this.drop('bad-certificate', message.from, 'new-view pre-prepares do not follow from its view-changes'); return }
    if (message.view > this.view) {
      this.view = message.view
      this.proposed.clear()
    }
    this.enterView(message)
  }

  /** Start view `newView.view`: adopt its stable checkpoint, process its pre-prepares. */
  private enterView (newView: NewView): void {
    // [chaos] the backoff is NOT reset here: a view that starts but cannot execute anything before its
    // timer (a NEW-VIEW of many prepared batches on a loaded box) must give the next view more time, or
    // every view gets only the base timeout and they change for ever (seen: views every ~4 s for minutes
    // after a heal). It is reset when a request executes (resetTimer).
    for (const view of this.viewChanges.keys()) if (view <= newView.view) this.viewChanges.delete(view)
    // The new view continues right after its NEW-VIEW (max-s): sequence numbers an old primary used
    // beyond it never prepared anywhere and are free again (a committed one would be in the NEW-VIEW).
    // Set before anything below can propose (adopting a stable checkpoint may).
    const maxSeq = Math.max(0, ...newView.prePrepares.map(pp => pp.seq), ...newView.viewChanges.map(vc => vc.stableSeq))
    this.nextSeq = maxSeq + 1
    // the most advanced stable checkpoint among the view-changes (adopted while still inactive)
    const best = newView.viewChanges.reduce((a, b) => (b.stableSeq > a.stableSeq ? b : a))
    // ordered in an old view says nothing about this one: the NEW-VIEW's pre-prepares below re-mark them
    for (const pending of this.pending.values()) pending.ordered = false
    if (best.stableSeq > this.stable.seq) this.makeStable(best.stableSeq, best.stableDigest, best.checkpointProof)
    this.nextSeq = Math.max(this.nextSeq, this.stable.seq + 1)
    this.active = true
    this.persist({ kind: 'view', view: newView.view, active: true })
    this.effects.push({ type: 'view', view: newView.view, primary: primaryOf(newView.view, this.config.n), active: true })
    for (const pp of newView.prePrepares) {
      if (!this.inWindow(pp.seq)) continue
      const entry = this.entry(pp.seq)
      if (entry.prePrepares.has(pp.view)) continue
      if (this.isPrimary()) {
        entry.prePrepares.set(pp.view, pp)
        this.persist({ kind: 'accepted', message: pp })
        for (const r of pp.batch) this.proposed.add(requestKey(r))
        this.checkPrepared(entry, pp.view, pp.digest)
      } else {
        this.acceptPrePrepare(pp)
      }
    }
    this.timerDeadlineMs = null
    this.startTimerIfIdle()
    if (this.isPrimary()) this.maybePropose(true)
    else {
      // our pending requests may never have reached the new primary
      for (const pending of this.pending.values()) if (pending.ordered !== true) this.send<Forward>(primaryOf(this.view, this.config.n), { type: 'forward', request: pending.request })
    }
  }

  // ————————————————————————————————————————— retransmission (lossy networks)

  private retransmit (): void {
    // a fetch that went unanswered: ask the next replica of the proof
    if (this.fetching != null && this.nowMs - this.fetching.sinceMs >= this.config.retransmitMs) {
      // the replicas whose checkpoints proved the state (from CHECKPOINTs or a VIEW-CHANGE's proof)
      const candidates = this.fetching.sources
      if (candidates.length > 0) {
        this.fetching.fromIndex = (this.fetching.fromIndex + 1) % candidates.length
        this.fetching.sinceMs = this.nowMs
        this.send<FetchState>(candidates[this.fetching.fromIndex] as ReplicaId, { type: 'fetch-state', fromSeq: this.lastExecuted })
      }
    }
    if (!this.active) {
      const own = this.viewChanges.get(this.view)?.get(this.config.id)
      if (own != null) this.effects.push({ type: 'send', to: 'all', message: own })
      return
    }
    // NEW-VIEW can be large: re-send it only for the first few periods of the view
    if (this.newViewSent != null && this.newViewSent.view === this.view && this.newViewResends < newViewResendsMax) {
      this.newViewResends++
      this.effects.push({ type: 'send', to: 'all', message: this.newViewSent })
    }
    // requests the client sent to everyone (not forwarded at once) that the primary has not ordered
    if (!this.isPrimary()) {
      let forwarded = 0
      for (const pending of this.pending.values()) {
        if (forwarded >= this.config.batchSizeMax) break
        if (pending.ordered === true || this.nowMs - pending.receivedMs < this.config.retransmitMs) continue
        this.send<Forward>(primaryOf(this.view, this.config.n), { type: 'forward', request: pending.request })
        forwarded++
      }
    }
    // our votes for what we have not executed yet, and for a short tail of what we have (so a replica
    // that missed a few messages catches up without waiting for the next checkpoint): only what has
    // been out for a full period, and the executed tail only a few times (an idle mesh goes quiet)
    const from = this.lastExecuted - retransmitTail
    for (const entry of [...this.log.values()].filter(e => e.seq > from).sort((a, b) => a.seq - b.seq)) {
      if (entry.sentMs != null && this.nowMs - entry.sentMs < this.config.retransmitMs) continue
      if (entry.seq <= this.lastExecuted) {
        if ((entry.tailResends ?? 0) >= tailResendsMax) continue
        entry.tailResends = (entry.tailResends ?? 0) + 1
      }
      entry.sentMs = this.nowMs
      const pp = entry.prePrepares.get(this.view)
      // a restored primary's old PRE-PREPAREs wait until its view is confirmed (it may be a stale primary)
      if (pp != null && pp.from === this.config.id && !this.recovering) this.effects.push({ type: 'send', to: 'all', message: pp })
      const digest = entry.preparedSent.get(this.view)
      const prepare = digest != null ? entry.prepares.get(voteKey(this.view, digest))?.get(this.config.id) : undefined
      if (prepare != null) this.effects.push({ type: 'send', to: 'all', message: prepare })
      const commitDigest = entry.commitSent.get(this.view)
      const commit = commitDigest != null ? entry.commits.get(voteKey(this.view, commitDigest))?.get(this.config.id) : undefined
      if (commit != null) this.effects.push({ type: 'send', to: 'all', message: commit })
    }
    for (const [seq, own] of this.ownCheckpoints) {
      const mine = this.checkpoints.get(seq)?.get(this.config.id)
      if (seq > this.stable.seq && mine != null && mine.stateDigest === own.stateDigest) this.effects.push({ type: 'send', to: 'all', message: mine })
    }

  }

  // ————————————————————————————————————————— restart

  /** Put a persisted vote back (without the checks of live input: it was checked when it arrived). */
  private restoreVote<M extends Prepare | Commit> (votes: Map<string, Map<ReplicaId, M>>, sent: Map<number, Digest>, message: M): void {
    const key = voteKey(message.view, message.digest)
    let voters = votes.get(key)
    if (voters == null) { voters = new Map(); votes.set(key, voters) }
    voters.set(message.from, message)
    if (message.from === this.config.id) sent.set(message.view, message.digest)
  }

  /**
   * Replay persisted records: the last stable snapshot, the batches executed after it, the view, and
   * every message sent or accepted (so votes are never cast twice differently: no amnesia).
   */
  private replay (records: PersistRecord[]): void {
    let stable: Extract<PersistRecord, { kind: 'stable' }> | undefined
    for (const record of records) if (record.kind === 'stable' && (stable == null || record.seq > stable.seq)) stable = record
    if (stable != null) {
      this.restoreSnapshot(stable.snapshot)
      this.lastExecuted = stable.seq
      this.stable = { seq: stable.seq, stateDigest: stable.stateDigest, proof: stable.proof, snapshot: stable.snapshot }
      this.nextSeq = stable.seq + 1
    }
    const executed = records
      .filter((r): r is Extract<PersistRecord, { kind: 'executed' }> => r.kind === 'executed' && r.seq > this.stable.seq)
      .sort((a, b) => a.seq - b.seq)
    for (const record of executed) {
      if (record.seq !== this.lastExecuted + 1) break
      this.execute(record.seq, record.view, record.digest, record.batch, false)
      const entry = this.entry(record.seq)
      entry.committed = { view: record.view, digest: record.digest, batch: record.batch }
    }
    for (const record of records) {
      if (record.kind === 'view') {
        if (record.view > this.view || (record.view === this.view && !record.active)) {
          this.view = record.view
          this.active = record.active
        } else if (record.view === this.view && record.active) {
          this.active = true
        }
      }
    }
    for (const record of records) {
      if (record.kind !== 'sent' && record.kind !== 'accepted') continue
      const message = record.message
      switch (message.type) {
        case 'pre-prepare':
          if (message.seq > this.stable.seq) this.entry(message.seq).prePrepares.set(message.view, message)
          if (message.from === this.config.id && message.view === this.view) {
            this.nextSeq = Math.max(this.nextSeq, message.seq + 1)
            for (const r of message.batch) this.proposed.add(requestKey(r))
          }
          break
        case 'prepare':
          if (message.seq > this.stable.seq) {
            const entry = this.entry(message.seq)
            this.restoreVote(entry.prepares, entry.preparedSent, message)
          }
          break
        case 'commit':
          if (message.seq > this.stable.seq) {
            const entry = this.entry(message.seq)
            this.restoreVote(entry.commits, entry.commitSent, message)
          }
          break
        case 'checkpoint':
          if (message.seq > this.stable.seq) {
            let bySender = this.checkpoints.get(message.seq)
            if (bySender == null) { bySender = new Map(); this.checkpoints.set(message.seq, bySender) }
            bySender.set(message.from, message)
          }
          break
        case 'view-change':
          if (message.view >= this.view) {
            let senders = this.viewChanges.get(message.view)
            if (senders == null) { senders = new Map(); this.viewChanges.set(message.view, senders) }
            senders.set(message.from, message)
          }
          break
        case 'new-view':
          if (message.from === this.config.id && message.view === this.view) this.newViewSent = message
          break
        default:
          break
      }
    }
    // rebuild prepared certificates from the votes
    for (const entry of this.log.values()) {
      for (const [view, pp] of entry.prePrepares) {
        const voters = entry.prepares.get(voteKey(view, pp.digest)) ?? new Map<ReplicaId, Prepare>()
        if (voters.size >= 2 * this.f && (entry.preparedCertificate == null || entry.preparedCertificate.prePrepare.view < view)) {
          entry.preparedCertificate = { prePrepare: pp, prepares: [...voters.values()].slice(0, 2 * this.f) }
        }
      }
    }
    // batches that had 2f+1 COMMITs but waited for an earlier one when we crashed: committed again
    // here, executed (with their effects) at the first step
    for (const entry of [...this.log.values()].sort((a, b) => a.seq - b.seq)) {
      const certificate = entry.preparedCertificate
      if (entry.committed != null || certificate == null || entry.seq <= this.lastExecuted) continue
      const { view, digest } = certificate.prePrepare
      if ((entry.commits.get(voteKey(view, digest))?.size ?? 0) >= this.quorum) entry.committed = { view, digest, batch: certificate.prePrepare.batch }
    }
    this.resumeExecution = true
    // announce ourselves at the first step (peers answer a STATUS that wants a reply)
    this.recovering = this.f > 0 // a single validator has nobody to ask: its view is the view
    this.lastStatusMs = -Infinity
    this.timerDeadlineMs = null
    if (!this.active) this.timerDeadlineMs = this.nowMs + this.timeoutMs()
  }
}
