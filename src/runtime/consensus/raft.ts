/**
 * The Raft runtime of one node: drives the pure core (src/core/raft/node.ts) with ticks from a timer,
 * validated frames and client operations, and performs its effects in Ready order: persist (one group
 * commit, fdatasync off the event loop) → send → apply (replies, commit listeners, reads).
 *
 * - Members (the genesis' voters) run a RaftNode on their data dir's raft.log (raft-log.ts).
 * - Observers (genesis nodes that are not members) run no RaftNode: they subscribe to a member for
 *   committed entries (SUBSCRIBE/COMMITTED frames) and apply them to their own copy of the state
 *   machine (the same StateMachine the core uses: same application, same exactly-once client table).
 * - Any node submits: a member steps `propose` (its core forwards to the leader); an observer sends a
 *   PROPOSE frame to the leader it knows. The client learns the result when its own copy applies the
 *   entry (the core's `reply` effect), so no signatures and no f+1 replies are needed: Raft trusts
 *   members (crash faults only).
 * - Writes are refused at once (503 `read-only: no quorum`) while no leader is known, the leader is not
 *   connected, or (as leader) fewer than a majority of voters are reachable; a leader cut off steps
 *   down after an election timeout (check-quorum), a follower forgets it when its election timer fires.
 * - Linearizable reads use ReadIndex (`readIndex`), refused rather than served stale.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { applyChange, isMember } from '../../core/raft/membership.js'
import { RaftNode } from '../../core/raft/node.js'
import { StateMachine } from '../../core/raft/state-machine.js'
import { SeededRandom } from '../../core/random.js'
import type { Application, ClientRequest, Effect, Entry, Membership, Message, PersistRecord, RaftConfig, Snapshot } from '../../core/raft/types.js'
import { raftCommittedEntriesMax, raftFrameKind, raftResubscribeMs, raftSubscribersMax } from '../../../protocols/raft/constants.js'
import { parseJson, validCommitted, validMessage, validPropose, validRefused, validSubscribe } from '../../../protocols/raft/validate.js'
import type { PlainFrame } from '../../../protocols/shared/frame-transport.js'
import type { RaftTransport } from '../../../protocols/raft/service.js'
import { clientWindow } from '../../core/pbft/client-table.js'
import type { Genesis } from './genesis.js'
import { compactedRecords } from './raft-log.js'
import type { RaftLog } from './raft-log.js'
import { formatRequestId, NoQuorumError, NotSentError, operationDigest, OutcomeUnknownError, parseRequestId, RequestIdError, RequestMismatchError } from './client-request-id.js'
import type { CommittedDecision, Consensus, ConsensusStatus, MembershipChangeRequest, RaftStatusView } from './types.js'
import { measureTransportRtt } from './transport-rtt.js'

/** One tick of the core: heartbeats every tick, elections after 10–20 ticks (1–2 s). */
const tickIntervalMs = 100
const raftConfig: Omit<RaftConfig, 'id'> = { electionTick: 10, heartbeatTick: 1 }
const proposeTimeoutMsDefault = 15_000
/** Requests of this node in flight at once: below the client table's window (ids beyond it are refused). */
const inFlightMax = clientWindow / 2
/** Operations waiting for an in-flight slot; beyond it `propose` refuses at once. */
const queueMax = 16_384
/** Requests proposed in one step (one PROPOSE frame, one batch of entries). */
const proposeBatchMax = 1024
/** Linearizable reads waiting at once. */
const readsMax = 4_096
/** Waiters for an applied index (waitExecuted). */
const appliedWaitersMax = 16_384
/** Answers remembered for retries by id (oldest dropped). */
const outcomesMax = 1_024
/** Members removed by a change this node applied, remembered to tell them again (oldest dropped). */
const removedRememberedMax = 64
/** A removed member that still sends us Raft messages is told again at most this often. */
const removedNoticeIntervalMs = 1_000
/** Graceful shutdown of a leader: how long it waits for the transfer to finish before exiting anyway. */
export const handOverTimeoutMsDefault = 2_500

interface Pending {
  request: ClientRequest
  proposedMs: number
  resolve: (value: { result: string, seq: number }) => void
  reject: (err: Error) => void
  timer: ReturnType<typeof setTimeout>
  /** Part of the in-flight count (first attempts), not a retry. */
  inFlight: boolean
}

interface Queued {
  operation: string
  deadline: number
  settled: boolean
  resolve: (value: { result: string, seq: number }) => void
  reject: (err: Error) => void
  timer: ReturnType<typeof setTimeout>
}

export interface RaftConsensusInit {
  genesis: Genesis
  peerId: string
  incarnation: number
  app: Application
  /** The member's durable log (null on observers that never were members). */
  store: RaftLog | null
  /**
   * Opens raft.log in the data dir for an observer that a committed change makes a learner (it must
   * persist what a member must from then on). Absent: such a node cannot become a learner (logged).
   */
  openStore?: () => RaftLog
  transport: () => RaftTransport
  isConnected: (peerId: string) => boolean
  isAlive?: (peerId: string) => boolean
  partitioned?: () => boolean
  /** The name a peer announced in the mesh (for peers outside the genesis), if known. */
  nameOf?: (peerId: string) => string | undefined
  log: (line: string) => void
}

function seedOf (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 0x01000193) }
  return h >>> 0
}

export class RaftConsensus implements Consensus {
  readonly mode = 'raft' as const
  readonly validators: string[]
  /** The Raft node of a member (voter or learner); null while this node observes. */
  private node: RaftNode | null
  /** Observers: their copy of the state machine and where it stands. */
  private machine: StateMachine | null
  private observed = { applied: 0, appliedTerm: 0, term: 0, leader: null as string | null, commit: 0, membership: { voters: [], learners: [] } as Membership, subscribedMs: -Infinity }
  private store: RaftLog | null
  private readonly random: SeededRandom
  /** Removal entries this node applied, by removed peer: sent again when that peer still talks Raft to us. */
  private readonly removedNotices = new Map<string, { entry: Entry, sentMs: number }>()
  /** Leadership transfers: handed over by this node, and won here after a TIMEOUT-NOW (not an election timeout). */
  private readonly transfers = { handedOver: 0, takenOver: 0 }
  private timeoutNowTerm = -1
  private readonly clientId: string
  private nextRequestId = 1
  private nextReadId = 1
  private readonly pending = new Map<string, Pending>()
  private inFlight = 0
  private readonly queue: Queued[] = []
  private toPropose: ClientRequest[] = []
  private proposeScheduled = false
  private readonly outcomes = new Map<string, { result: string, seq: number }>()
  private readonly reads = new Map<string, { resolve: (index: number) => void, reject: (err: Error) => void, timer: ReturnType<typeof setTimeout> }>()
  private readonly appliedWaiters = new Set<{ seq: number, resolve: () => void }>()
  private readonly listeners = new Set<(decision: CommittedDecision) => void>()
  private readonly decidedListeners = new Set<(latencyMs: number) => void>()
  private readonly subscribers = new Map<string, { peer: PeerId, expiresMs: number }>()
  private readonly dropped: Record<string, number> = {}
  private readonly received: Record<string, number> = {}
  private readonly sent: Record<string, number> = {}
  private readonly groups = { count: 0, records: 0 }
  private readonly leaderChanges = { requested: 0, installed: 0 }
  private buffered: Effect[] = []
  /** Term and vote as last made durable (restored, or the last hard-state record fsynced). */
  private durable: { term: number, vote: string | null } = { term: 0, vote: null }
  private flushScheduled = false
  private flushing = false
  private storageError: Error | null = null
  private stopped = false
  private timer?: ReturnType<typeof setInterval>

  constructor (private readonly init: RaftConsensusInit) {
    this.validators = init.genesis.validators.map(v => v.peer_id)
    this.clientId = `${init.peerId}/${init.incarnation}`
    this.random = new SeededRandom(seedOf(this.clientId))
    this.store = init.store
    const records = init.store?.load() ?? []
    const config = { ...raftConfig, id: init.peerId }
    if (this.validators.includes(init.peerId)) {
      const genesis: Membership = { voters: [...this.validators], learners: [] }
      this.node = records.length > 0 ? RaftNode.restore(config, init.app, this.random, genesis, records) : new RaftNode(config, init.app, this.random, genesis)
      this.machine = null
    } else if (records.length > 0) {
      // not in the genesis, but a committed change made it a member once: its raft.log says what it is
      this.node = RaftNode.restore(config, init.app, this.random, null, records)
      this.machine = null
    } else {
      this.node = null
      this.machine = new StateMachine(init.app, 65_536)
    }
    // what the log holds is durable (a stale value here only costs an fsync: it is never ahead of the disk)
    if (this.node != null) this.durable = { term: this.node.term, vote: this.node.vote }
    if (this.node != null && records.length > 0) init.log(`raft: restored ${records.length} records: term ${this.node.term}, applied ${this.node.applied}, log to ${this.node.log.lastIndex()}`)
    if (this.node != null && !isMember(this.node.membership, init.peerId)) this.becomeObserver('its log says a committed change removed it')
  }

  start (): void {
    this.timer = setInterval(() => { this.tick() }, tickIntervalMs)
    // [founding] a lone voter (a founded network, before anyone joins) needs nobody's vote: campaign at
    // once instead of waiting out an election timeout, so its first write does not wait ~1-2 s
    const node = this.node
    if (node != null && node.membership.voters.length === 1 && node.membership.voters[0] === this.init.peerId) this.step({ type: 'campaign' })
  }

  stop (): void {
    this.stopped = true
    clearInterval(this.timer)
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(new Error('node stopping')) }
    this.pending.clear()
    for (const q of this.queue.splice(0)) this.settle(q, new Error('node stopping'))
    for (const r of this.reads.values()) { clearTimeout(r.timer); r.reject(new Error('node stopping')) }
    this.reads.clear()
  }

  async idle (): Promise<void> {
    while (this.flushing) await new Promise(resolve => setTimeout(resolve, 5))
  }

  onCommit (listener: (decision: CommittedDecision) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  onDecided (listener: (latencyMs: number) => void): () => void {
    this.decidedListeners.add(listener)
    return () => { this.decidedListeners.delete(listener) }
  }

  viewChangeCounts (): { requested: number, installed: number } {
    return { ...this.leaderChanges }
  }

  private count (reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1
  }

  private applied (): number {
    return this.node?.applied ?? this.observed.applied
  }

  private leader (): string | null {
    return this.node != null ? this.node.leader : this.observed.leader
  }

  private members (): Membership {
    return this.node?.membership ?? this.observed.membership
  }

  private tick (): void {
    if (this.stopped) return
    this.step({ type: 'tick' })
    if (this.node == null) this.subscribe(false)
    const now = performance.now()
    for (const [key, s] of this.subscribers) if (s.expiresMs < now) this.subscribers.delete(key)
  }

  // ————————————————————————————————————— the ready loop

  /** Step the core; its effects join the next group commit. Returns them (for synchronous checks). */
  private step (input: Parameters<RaftNode['step']>[0]): Effect[] {
    if (this.node == null || this.storageError != null || this.stopped) return []
    const effects = this.node.step(input)
    if (effects.length === 0) return effects
    for (const effect of effects) {
      // a follower's forwarded client requests depend on nothing it persists: they go at once instead
      // of waiting behind a group commit in flight (unless its term is not durable yet)
      if (effect.type === 'send' && effect.message.type === 'forward' && effect.message.term === this.durable.term) this.sendMessage(effect.message)
      else this.buffered.push(effect)
    }
    if (!this.flushing && !this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(() => { this.flushScheduled = false; void this.flush() })
    }
    return effects
  }

  private async flush (): Promise<void> {
    if (this.flushing) return
    this.flushing = true
    try {
      while (this.buffered.length > 0 && this.storageError == null) {
        let effects = this.buffered
        this.buffered = []
        const records = effects.flatMap(e => e.type === 'persist' ? [e.record] : [])
        const store = this.store
        if (records.length > 0 && store != null && records.every(r => r.kind === 'hard-state' && r.term === this.durable.term && r.vote === this.durable.vote)) {
          // Only the commit index moved (term and vote as durable already): nothing here depends on it
          // being durable (a restart recomputes it from the leader; etcd's MustSync is false for this),
          // so the replies and applies go out now and the record follows in the background of this
          // group's write. Entries, terms and votes are never acknowledged before their fsync.
          this.perform(effects)
          await store.appendGroup(records)
          this.groups.count++
          this.groups.records += records.length
          continue
        }
        if (records.length > 0 && store != null) {
          // A leader's appends and heartbeats leave before its own fsync, which then runs while they
          // travel (Raft thesis §10.2.1): they depend only on its term (durable before it could lead)
          // and on entries that count toward commit on this leader only in memory. Everything that
          // acts on a commit (replies, apply, a later group's commit index) waits for this group's
          // fsync, since groups are handled one after another; votes and follower acks still wait.
          const early = effects.filter(e => e.type === 'send' && (e.message.type === 'append' || e.message.type === 'heartbeat'))
          if (early.length > 0) {
            for (const e of early) if (e.type === 'send') this.sendMessage(e.message)
            const sent = new Set(early)
            effects = effects.filter(e => !sent.has(e))
          }
          await store.appendGroup(records)
          this.groups.count++
          this.groups.records += records.length
          for (const r of records) if (r.kind === 'hard-state') this.durable = { term: r.term, vote: r.vote }
          if (store.wantsCompaction()) store.rewrite(compactedRecords(this.node as RaftNode))
        }
        this.perform(effects)
      }
    } catch (err) {
      // fail-stop: a node that cannot persist must not send (it could vote twice or lose an acknowledged entry)
      this.storageError = err instanceof Error ? err : new Error(String(err))
      this.buffered = []
      if (!this.stopped) this.init.log(`raft: cannot write the raft log (${this.storageError.message}); this member stops taking part until it is restarted`)
    } finally {
      this.flushing = false
    }
  }

  private perform (effects: Effect[]): void {
    const committed: Entry[] = []
    let removedHere = false
    for (const effect of effects) {
      switch (effect.type) {
        case 'send': this.sendMessage(effect.message); break
        case 'committed':
          committed.push(effect.entry)
          this.delivered(effect.entry)
          if (effect.entry.kind === 'membership' && effect.entry.change?.type === 'remove' && effect.entry.change.node !== this.init.peerId) this.noticeRemoved(effect.entry)
          break
        case 'reply': this.replied(effect.request, effect.index, effect.result); break
        case 'read-ready': this.readDone(effect.readKey, effect.index, null); break
        case 'read-failed': this.readDone(effect.readKey, 0, `read-only: no quorum (linearizable read refused: ${effect.reason === 'busy' ? 'too many reads waiting' : 'leadership could not be confirmed'}); retry, or read without linearizable`); break
        case 'refused': this.refused(effect.requests, effect.reason, effect.leader); break
        case 'role':
          if (effect.role === 'candidate') this.leaderChanges.requested++
          if (effect.role === 'leader') this.leaderChanges.installed++
          {
            const byTransfer = effect.role === 'leader' && this.timeoutNowTerm === effect.term - 1
            if (byTransfer) this.transfers.takenOver++
            this.init.log(`raft: ${effect.role} in term ${effect.term}${effect.leader != null ? ` (leader ${this.nameOf(effect.leader)})` : ''}${byTransfer ? ' (by leadership transfer)' : ''}`)
          }
          break
        case 'membership':
          this.init.log(`raft: membership at ${effect.index}: voters ${effect.membership.voters.map(v => this.nameOf(v)).join(', ')}${effect.membership.learners.length > 0 ? `; learners ${effect.membership.learners.map(v => this.nameOf(v)).join(', ')}` : ''}`)
          if (!isMember(effect.membership, this.init.peerId)) removedHere = true
          break
        case 'drop': this.count(effect.reason); break
        case 'persist': case 'snapshot-taken': case 'snapshot-installed': break
      }
    }
    if (committed.length > 0) this.publish(committed)
    this.wakeAppliedWaiters()
    if (removedHere && this.node != null && !isMember(this.node.membership, this.init.peerId)) this.becomeObserver('it applied the change that removed it')
  }

  // ————————————————————————————————————— membership of this node: observer ⇄ learner/voter

  /**
   * An observer whose copy applied the committed change adding it as a learner becomes a Raft node:
   * restored from its own state as a snapshot at its applied index (the membership in force there names
   * it), persisted in raft.log before it answers anything; the leader then sends what follows.
   */
  private becomeLearner (): void {
    const machine = this.machine
    if (this.node != null || machine == null || this.stopped) return
    let store = this.store
    try {
      if (store == null && this.init.openStore != null) {
        store = this.init.openStore()
        store.load()
      }
    } catch (err) {
      this.init.log(`raft: added as a learner, but cannot open raft.log (${(err as Error).message}): staying an observer`)
      return
    }
    if (store == null) { this.init.log('raft: added as a learner, but this node has no raft.log to persist to: staying an observer'); return }
    const snapshot: Snapshot = { index: this.observed.applied, term: this.observed.appliedTerm, membership: this.observed.membership, data: machine.snapshot() }
    const records: PersistRecord[] = [
      { kind: 'hard-state', term: this.observed.term, vote: null, commit: snapshot.index },
      { kind: 'snapshot', snapshot, compactTo: snapshot.index, keepLog: false }
    ]
    try {
      store.rewrite(records)
    } catch (err) {
      this.init.log(`raft: added as a learner, but cannot write raft.log (${(err as Error).message}): staying an observer`)
      return
    }
    this.store = store
    this.node = RaftNode.restore({ ...raftConfig, id: this.init.peerId }, this.init.app, this.random, null, records)
    this.machine = null
    this.init.log(`raft: added as a learner by the change applied at ${snapshot.index}: now a Raft learner from there (raft.log written)`)
  }

  /**
   * A member that applied (or was told by a member about) the committed change removing it stops taking
   * part: it keeps its state machine and goes on as an observer from its applied index. raft.log stays:
   * restarted, the node restores it, sees it is not a member, and observes again.
   */
  private becomeObserver (why: string): void {
    const node = this.node
    if (node == null) return
    // the core's state machine is the node's copy of the application: the observer keeps applying to it
    this.machine = node['machine']
    this.observed = {
      applied: node.applied,
      appliedTerm: node.log.term(node.applied) ?? 0,
      term: node.term,
      leader: node.leader === this.init.peerId ? null : node.leader,
      commit: node.applied,
      membership: node.membership,
      subscribedMs: -Infinity
    }
    this.node = null
    for (const r of this.reads.values()) { clearTimeout(r.timer); r.reject(new NoQuorumError('read-only: this node stopped being a Raft member; retry')) }
    this.reads.clear()
    this.init.log(`raft: no longer a member (${why}): observing from index ${this.observed.applied}`)
    if (this.timer != null) this.subscribe(true)
  }

  /** This node applied the removal of another member: tell it (it may never learn the entry was committed). */
  private noticeRemoved (entry: Entry): void {
    const peer = (entry.change as { node: string }).node
    this.removedNotices.delete(peer)
    this.removedNotices.set(peer, { entry, sentMs: performance.now() })
    if (this.removedNotices.size > removedRememberedMax) {
      const oldest = this.removedNotices.keys().next().value
      if (oldest !== undefined) this.removedNotices.delete(oldest)
    }
    if (this.node?.role === 'leader') this.sendFrame(peer, raftFrameKind.committed, this.committedFrame([entry]))
  }

  private nameOf (peerId: string): string {
    const name = this.init.genesis.validators.find(v => v.peer_id === peerId)?.name ?? this.init.nameOf?.(peerId)
    return name != null && name !== '' ? name : peerId.slice(-8)
  }

  private sendFrame (to: string, kind: number, value: unknown): void {
    if (to === this.init.peerId) return
    let peer: PeerId
    try { peer = peerIdFromString(to) } catch { this.count('invalid'); return }
    this.init.transport().sendFrame(peer, { kind, body: new TextEncoder().encode(JSON.stringify(value)) })
  }

  private sendMessage (message: Message): void {
    this.sendFrame(message.to, raftFrameKind.message, message)
    this.sent[message.type] = (this.sent[message.type] ?? 0) + 1
  }

  // ————————————————————————————————————— frames from the network

  onFrame (frame: PlainFrame, from: PeerId): void {
    if (this.stopped) return
    const sender = from.toString()
    const parsed = parseJson(frame.body)
    if (parsed === undefined) { this.count('undecodable'); return }
    switch (frame.kind) {
      case raftFrameKind.message: {
        if (this.node == null) { this.count('not-member'); return }
        const message = validMessage(parsed, sender, this.init.peerId)
        if (message == null) { this.count('invalid'); return }
        this.received[message.type] = (this.received[message.type] ?? 0) + 1
        if (message.type === 'timeout-now') this.timeoutNowTerm = message.term
        const notice = this.removedNotices.get(sender)
        if (notice != null && !isMember(this.node.membership, sender) && performance.now() - notice.sentMs >= removedNoticeIntervalMs) {
          // a member we removed still talks Raft (it never learned the removal was committed): tell it again
          notice.sentMs = performance.now()
          this.sendFrame(sender, raftFrameKind.committed, this.committedFrame([notice.entry]))
        }
        this.step({ type: 'message', message })
        return
      }
      case raftFrameKind.propose: {
        const requests = validPropose(parsed, sender)
        if (requests == null) { this.count('invalid'); return }
        this.received.propose = (this.received.propose ?? 0) + 1
        if (this.node == null) { this.sendFrame(sender, raftFrameKind.refused, { keys: requests.map(r => `${r.client}/${r.requestId}`), reason: 'not-member' }); return }
        this.step({ type: 'propose', requests })
        return
      }
      case raftFrameKind.subscribe: {
        const fromIndex = validSubscribe(parsed)
        if (fromIndex == null) { this.count('invalid'); return }
        this.received.subscribe = (this.received.subscribe ?? 0) + 1
        this.onSubscribe(from, fromIndex)
        return
      }
      case raftFrameKind.committed: {
        const committed = validCommitted(parsed)
        if (committed == null || !this.trustedMember(sender)) { this.count('invalid'); return }
        this.received.committed = (this.received.committed ?? 0) + 1
        if (this.node != null) { this.removalNotice(committed); return }
        this.learn(committed)
        return
      }
      case raftFrameKind.refused: {
        const refused = validRefused(parsed)
        if (refused == null) { this.count('invalid'); return }
        this.received.refused = (this.received.refused ?? 0) + 1
        for (const key of refused.keys) {
          const p = this.pending.get(key)
          if (p != null) this.finish(key, p, new NoQuorumError(`read-only: no quorum (the member asked refused the write: ${refused.reason}); the write was not applied; retry`))
        }
        return
      }
      default: this.count('undecodable')
    }
  }

  /** COMMITTED frames are taken from genesis members and from the members in force (Raft trusts members). */
  private trustedMember (peer: string): boolean {
    return this.validators.includes(peer) || isMember(this.members(), peer)
  }

  /**
   * A member receives COMMITTED only as the notice that a committed change removed it: trusted when
   * the entry is in its own log at the same index and term (then every entry up to it is committed).
   */
  private removalNotice (c: { commit: number, entries: Entry[] }): void {
    const node = this.node
    if (node == null) return
    const removal = c.entries.find(e => e.kind === 'membership' && e.change?.type === 'remove' && e.change.node === this.init.peerId)
    // the usual case: a member this node subscribed to as an observer pushes until the subscription expires
    if (removal == null || removal.index > c.commit) { this.count('committed-while-member'); return }
    if (node.log.term(removal.index) !== removal.term) { this.count('removal-not-in-log'); return }
    this.becomeObserver(`a member told it the change at ${removal.index} removing it was committed`)
  }

  // ————————————————————————————————————— observers: subscription to a member

  private subscribe (now: boolean): void {
    const t = performance.now()
    if (!now && t - this.observed.subscribedMs < raftResubscribeMs) return
    this.observed.subscribedMs = t
    // the leader first (it has everything committed), else any connected member
    const leader = this.observed.leader
    const candidates = [...this.observed.membership.voters, ...this.validators].filter(v => v !== this.init.peerId)
    const target = leader != null && leader !== this.init.peerId && this.init.isConnected(leader) ? leader : candidates.find(v => this.init.isConnected(v))
    if (target != null) this.sendFrame(target, raftFrameKind.subscribe, { from: this.observed.applied })
  }

  /** Members: a subscriber asks for what was committed after `fromIndex` (and what comes next). */
  private onSubscribe (from: PeerId, fromIndex: number): void {
    const node = this.node
    if (node == null) return
    const key = from.toString()
    if (!this.subscribers.has(key) && this.subscribers.size >= raftSubscribersMax) { this.count('subscribers-full'); return }
    this.subscribers.set(key, { peer: from, expiresMs: performance.now() + 4 * raftResubscribeMs })
    if (fromIndex >= node.applied) { this.sendFrame(key, raftFrameKind.committed, this.committedFrame([])); return }
    const snapshot = node.log.snapshot as Snapshot
    let next = fromIndex + 1
    let withSnapshot: Snapshot | undefined
    if (next < node.log.firstIndex() || node.log.entry(next) == null) {
      withSnapshot = snapshot
      next = snapshot.index + 1
    }
    const entries: Entry[] = []
    for (let i = next; i <= node.applied && entries.length < raftCommittedEntriesMax; i++) {
      const entry = node.log.entry(i)
      if (entry == null) break
      entries.push(entry)
    }
    this.sendFrame(key, raftFrameKind.committed, { ...this.committedFrame(entries), ...(withSnapshot != null ? { snapshot: withSnapshot } : {}) })
  }

  private committedFrame (entries: Entry[]): { term: number, leader: string | null, commit: number, entries: Entry[] } {
    const node = this.node as RaftNode
    return { term: node.term, leader: node.leader, commit: node.applied, entries }
  }

  /** Members: push what was just applied to every live subscriber. */
  private publish (entries: Entry[]): void {
    if (this.subscribers.size === 0 || this.node == null) return
    for (let k = 0; k < entries.length; k += raftCommittedEntriesMax) {
      const frame = this.committedFrame(entries.slice(k, k + raftCommittedEntriesMax))
      for (const key of this.subscribers.keys()) this.sendFrame(key, raftFrameKind.committed, frame)
    }
  }

  /** Observers: apply committed entries in order (a gap: ask again at once). */
  private learn (c: { term: number, leader: string | null, commit: number, snapshot?: Snapshot, entries: Entry[] }): void {
    const machine = this.machine
    if (machine == null) return
    if (c.term >= this.observed.term) { this.observed.term = c.term; this.observed.leader = c.leader }
    this.observed.commit = Math.max(this.observed.commit, c.commit)
    if (c.snapshot != null && c.snapshot.index > this.observed.applied) {
      try {
        machine.restore(c.snapshot.data)
        machine.setVoters(c.snapshot.membership.voters) // who votes on proposals follows the membership
      } catch {
        this.count('invalid')
        return
      }
      this.observed.applied = c.snapshot.index
      this.observed.membership = c.snapshot.membership
      this.observed.appliedTerm = c.snapshot.term
    }
    for (const entry of c.entries) {
      if (entry.index <= this.observed.applied) continue
      if (entry.index !== this.observed.applied + 1) { this.count('gap'); this.subscribe(true); break }
      for (const done of machine.apply(entry)) this.replied(done.request, done.index, done.result)
      if (entry.kind === 'bootstrap' && entry.membership != null) this.observed.membership = entry.membership
      if (entry.kind === 'membership' && entry.change != null) this.observed.membership = applyChange(this.observed.membership, entry.change)
      if (entry.kind === 'bootstrap' || entry.kind === 'membership') machine.setVoters(this.observed.membership.voters)
      this.observed.applied = entry.index
      this.observed.appliedTerm = entry.term
      this.delivered(entry)
      if (entry.kind === 'membership' && entry.change?.type === 'add-learner' && entry.change.node === this.init.peerId) {
        this.becomeLearner()
        if (this.node != null) { this.wakeAppliedWaiters(); return }
      }
    }
    if (this.observed.applied < this.observed.commit && c.entries.length > 0) this.subscribe(true)
    this.wakeAppliedWaiters()
  }

  private delivered (entry: Entry): void {
    const batch = entry.requests ?? []
    for (const listener of this.listeners) listener({ seq: entry.index, view: entry.term, digest: '', batch })
  }

  // ————————————————————————————————————— client side

  writeRefusal (): string | null {
    const next = 'the write was not sent and will not apply; retry once the partition heals (reads still work)'
    if (this.storageError != null) return `read-only: this member cannot write its raft log (${this.storageError.message}): ${next}`
    const leader = this.leader()
    if (leader == null) return `read-only: no quorum (no Raft leader known: an election is under way, or this node is cut off from a majority): ${next}`
    const voters = this.members().voters
    const majority = Math.floor(voters.length / 2) + 1
    if (leader === this.init.peerId) {
      const reachable = voters.filter(v => v === this.init.peerId || (this.init.isConnected(v) && (this.init.isAlive?.(v) ?? true))).length
      if (reachable < majority) return `read-only: no quorum (${reachable} of ${voters.length} voters reachable, ${majority} needed): ${next}`
    } else if (!this.init.isConnected(leader) && this.node == null) {
      return `read-only: no quorum (the leader ${this.nameOf(leader)} is not reachable from this observer): ${next}`
    } else if (!this.init.isConnected(leader)) {
      return `read-only: no quorum (the leader ${this.nameOf(leader)} is not reachable): ${next}`
    }
    if (this.init.partitioned?.() === true) return `read-only: no quorum (this node is partitioned: fewer than half of the members it knows are alive): ${next}`
    return null
  }

  async propose (operation: string, options: { timeoutMs?: number } = {}): Promise<{ result: string, seq: number }> {
    if (this.stopped) throw new Error('node stopping')
    const refusal = this.writeRefusal()
    if (refusal != null) throw new NoQuorumError(refusal)
    if (this.queue.length >= queueMax) throw new NotSentError(`${queueMax} operations are already waiting to be proposed: this one was not sent and will not apply; retry later`)
    const timeoutMs = options.timeoutMs ?? proposeTimeoutMsDefault
    return await new Promise((resolve, reject) => {
      const proposedMs = performance.now()
      const queued: Queued = {
        operation,
        deadline: proposedMs + timeoutMs,
        settled: false,
        resolve: value => { for (const l of this.decidedListeners) l(performance.now() - proposedMs); resolve(value) },
        reject,
        timer: setTimeout(() => { this.settle(queued, new NotSentError(`not sent within ${timeoutMs} ms: ${this.inFlight} earlier requests of this node are undecided; this write was not sent and will not apply; retry`)) }, timeoutMs)
      }
      this.queue.push(queued)
      this.drain()
    })
  }

  private settle (q: Queued, outcome: Error | { result: string, seq: number }): void {
    if (q.settled) return
    q.settled = true
    clearTimeout(q.timer)
    if (outcome instanceof Error) q.reject(outcome)
    else q.resolve(outcome)
  }

  private drain (): void {
    while (this.queue.length > 0 && this.inFlight < inFlightMax && !this.stopped) {
      const q = this.queue.shift() as Queued
      if (q.settled) continue
      clearTimeout(q.timer)
      const requestId = this.nextRequestId++
      // every id of ours below the lowest one still awaited was answered or given up on (refused: never
      // appended; timed out: reported unknown): it executed or never will. Saying so lets the replicas'
      // client table pass ids that were never appended, which would otherwise hold our window for ever
      const request: ClientRequest = { client: this.clientId, requestId, operation: q.operation, floor: this.lowestAwaited(requestId) - 1 }
      const timeoutMs = Math.max(1, q.deadline - performance.now())
      this.inFlight++
      this.submit(request, timeoutMs, true).then(r => { this.settle(q, r) }, err => { this.settle(q, err as Error) })
    }
  }

  /** The lowest request id of this node's life still awaited (in flight, or a retry of one), else `next`. */
  private lowestAwaited (next: number): number {
    let lowest = next
    for (const p of this.pending.values()) {
      if (p.request.client === this.clientId && p.request.requestId < lowest) lowest = p.request.requestId
    }
    return lowest
  }

  /** Hand `request` to the core (members) or the leader (observers); resolves when this node applies it. */
  private async submit (request: ClientRequest, timeoutMs: number, inFlight: boolean): Promise<{ result: string, seq: number }> {
    const key = `${request.client}/${request.requestId}`
    return await new Promise((resolve, reject) => {
      const pending: Pending = {
        request,
        proposedMs: performance.now(),
        resolve,
        reject,
        inFlight,
        timer: setTimeout(() => {
          this.finish(key, pending, new OutcomeUnknownError(`not decided within ${Math.round(timeoutMs)} ms (leader change in progress, or no quorum): outcome unknown, the write may still apply. ` +
            `Retry with request id ${formatRequestId(request.client, request.requestId, null, request.operation)} ("requestId" in the API body, --request-id on the CLI) to get its one result`,
          formatRequestId(request.client, request.requestId, null, request.operation)))
        }, timeoutMs)
      }
      const earlier = this.pending.get(key)
      if (earlier != null) this.finish(key, earlier, new Error('superseded by a retry with the same request id'))
      this.pending.set(key, pending)
      this.toPropose.push(request)
      if (!this.proposeScheduled) {
        this.proposeScheduled = true
        setImmediate(() => { this.proposeScheduled = false; this.proposeNow() })
      }
    })
  }

  /** Everything submitted in this turn of the event loop goes as one batch (one entry, or one PROPOSE frame). */
  private proposeNow (): void {
    while (this.toPropose.length > 0) {
      const requests = this.toPropose.splice(0, proposeBatchMax)
      if (this.node != null) {
        this.step({ type: 'propose', requests })
        continue
      }
      const leader = this.observed.leader
      const candidates = [...this.observed.membership.voters, ...this.validators].filter(v => v !== this.init.peerId)
      const target = leader != null && this.init.isConnected(leader) ? leader : candidates.find(v => this.init.isConnected(v))
      if (target == null) { this.refused(requests, 'not-leader', undefined); continue }
      this.sendFrame(target, raftFrameKind.propose, { requests })
    }
  }

  private finish (key: string, p: Pending, outcome: Error | { result: string, seq: number }): void {
    if (this.pending.get(key) !== p) return
    this.pending.delete(key)
    clearTimeout(p.timer)
    if (p.inFlight) { this.inFlight--; setImmediate(() => { this.drain() }) }
    if (outcome instanceof Error) p.reject(outcome)
    else p.resolve(outcome)
  }

  /** The core (or an observer's machine) applied a request: answer it if it is ours. */
  private replied (request: ClientRequest, index: number, result: string): void {
    const key = `${request.client}/${request.requestId}`
    if (request.client.split('/')[0] === this.init.peerId) this.remember(key, { result, seq: index })
    const p = this.pending.get(key)
    if (p != null) this.finish(key, p, { result, seq: index })
  }

  /** Requests the core could not take: ours are refused (503, never appended); others' proposers are told. */
  private refused (requests: ClientRequest[], reason: string, leader: string | undefined): void {
    const others = new Map<string, string[]>()
    for (const r of requests) {
      const key = `${r.client}/${r.requestId}`
      const p = this.pending.get(key)
      if (p != null) {
        this.finish(key, p, new NoQuorumError(`read-only: no quorum (${reason === 'not-leader' ? 'no Raft leader to take the write' : `the leader refused it: ${reason}`}): the write was not appended and will not apply; retry`))
        continue
      }
      const peer = r.client.split('/')[0] ?? ''
      if (peer !== this.init.peerId) others.set(peer, [...(others.get(peer) ?? []), key])
    }
    for (const [peer, keys] of others) this.sendFrame(peer, raftFrameKind.refused, { keys, reason, ...(leader != null ? { leader } : {}) })
  }

  private remember (key: string, outcome: { result: string, seq: number }): void {
    this.outcomes.delete(key)
    this.outcomes.set(key, outcome)
    if (this.outcomes.size > outcomesMax) {
      const oldest = this.outcomes.keys().next().value
      if (oldest !== undefined) this.outcomes.delete(oldest)
    }
  }

  async retry (id: string, operation: string, options: { timeoutMs?: number } = {}): Promise<{ result: string, seq: number }> {
    if (this.stopped) throw new Error('node stopping')
    const parsed = parseRequestId(id)
    if (parsed == null) throw new RequestIdError(`request id "${id.slice(0, 80)}" is not one this API issues; retry without it for a new write`)
    if (parsed.peerId !== this.init.peerId) throw new RequestIdError(`request id ${id} was issued by node ${parsed.peerId}: retry it there`)
    if (parsed.index != null) throw new RequestIdError(`request id ${id} names one operation of a bundle, which a Raft node never sends`)
    const client = `${parsed.peerId}/${parsed.incarnation}`
    const issued = parsed.incarnation < this.init.incarnation || (client === this.clientId && parsed.requestId < this.nextRequestId)
    if (!issued) throw new RequestIdError(`request id ${id} was never issued by this node; retry without it for a new write`)
    if (operationDigest(operation) !== parsed.digest) throw new RequestMismatchError(`request id ${id} was issued for another operation: send the same operation with it, or drop the request id for a new write`)
    const key = `${client}/${parsed.requestId}`
    const known = this.outcomes.get(key)
    if (known != null) return known
    const refusal = this.writeRefusal()
    if (refusal != null) throw new NoQuorumError(refusal.replace('the write was not sent and will not apply', 'the retry was not sent (the earlier attempt may still apply)'))
    // the same request again: the client table applies it at most once and answers it again if it did
    return await this.submit({ client, requestId: parsed.requestId, operation }, options.timeoutMs ?? proposeTimeoutMsDefault, false)
  }

  // ————————————————————————————————————— reads

  async readIndex (timeoutMs: number): Promise<number> {
    if (this.node == null) {
      // observers: order a no-op through the leader and wait until our copy applied it
      const { seq } = await this.propose(JSON.stringify({ op: 'noop' }), { timeoutMs })
      await this.waitExecuted(seq, timeoutMs)
      return seq
    }
    const refusal = this.writeRefusal()
    if (refusal != null) throw new NoQuorumError(refusal.replace('the write was not sent and will not apply', 'the linearizable read is refused rather than served stale'))
    if (this.reads.size >= readsMax) throw new NoQuorumError(`read-only: ${readsMax} linearizable reads are already waiting; retry`)
    const readKey = `${this.clientId}/r${this.nextReadId++}`
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.readDone(readKey, 0, `linearizable read not confirmed within ${timeoutMs} ms; retry`) }, timeoutMs)
      this.reads.set(readKey, { resolve, reject, timer })
      this.step({ type: 'read', readKey })
    })
  }

  private readDone (readKey: string, index: number, error: string | null): void {
    const read = this.reads.get(readKey)
    if (read == null) return
    this.reads.delete(readKey)
    clearTimeout(read.timer)
    if (error != null) read.reject(error.startsWith('read-only') ? new NoQuorumError(error) : new Error(error))
    else read.resolve(index)
  }

  async transportRtt (samples: number, timeoutMs: number): Promise<Record<string, number[]>> {
    return await measureTransportRtt(this.init.transport(), this.init.peerId, this.members().voters, this.init.isConnected, samples, timeoutMs)
  }

  async waitExecuted (seq: number, timeoutMs: number): Promise<void> {
    if (this.applied() >= seq) return
    if (this.appliedWaiters.size >= appliedWaitersMax) throw new Error(`${appliedWaitersMax} waits for the apply index already: retry`)
    await new Promise<void>((resolve, reject) => {
      const waiter = { seq, resolve: () => { clearTimeout(timer); resolve() } }
      const timer = setTimeout(() => { this.appliedWaiters.delete(waiter); reject(new Error(`this node has not applied index ${seq} within ${timeoutMs} ms; retry`)) }, timeoutMs)
      this.appliedWaiters.add(waiter)
    })
  }

  private wakeAppliedWaiters (): void {
    const applied = this.applied()
    for (const w of this.appliedWaiters) if (w.seq <= applied) { this.appliedWaiters.delete(w); w.resolve() }
  }

  // ————————————————————————————————————— operators

  /** Refuse an operator action on a node that is not the leader, naming the leader to ask instead. */
  private needLeader (what: string): RaftNode {
    const node = this.node
    const leader = this.leader()
    if (node != null && node.role === 'leader') return node
    const where = node == null ? 'an observer' : (node.membership.voters.includes(this.init.peerId) ? `a ${node.role}` : 'a learner')
    if (leader == null || leader === this.init.peerId) throw new NoQuorumError(`read-only: no quorum (no Raft leader known to take the ${what}): retry once a leader is elected (mesh consensus shows it)`)
    throw new NotLeaderError(`this node is ${where}, not the Raft leader: send the ${what} to the leader ${this.nameOf(leader)} (${leader})`, leader)
  }

  async changeMembership (change: MembershipChangeRequest, timeoutMs: number): Promise<{ index: number }> {
    const node = this.needLeader('membership change')
    const refusal = this.writeRefusal()
    if (refusal != null) throw new NoQuorumError(refusal.replace('the write was not sent and will not apply', 'the change was not proposed'))
    const drop = this.step({ type: 'change', change }).find((e): e is Extract<Effect, { type: 'drop' }> => e.type === 'drop')
    if (drop != null) throw new OperatorError(`membership change refused (${changeRefusal(drop.reason)}${drop.detail != null ? `: ${drop.detail}` : ''})`)
    const index = node.log.lastIndex()
    this.init.log(`raft: proposed membership change ${change.type} ${this.nameOf(change.node)} at ${index}`)
    await this.waitExecuted(index, timeoutMs)
    // a leader change may have replaced the entry: applied at `index` is not enough, check the effect
    const membership = this.members()
    const inForce = change.type === 'remove' ? !isMember(membership, change.node) : change.type === 'promote' ? membership.voters.includes(change.node) : isMember(membership, change.node)
    if (!inForce) throw new OutcomeUnknownError(`the change's index ${index} was applied but the membership does not show it (a leader change replaced the entry): check mesh consensus and retry`, '')
    return { index }
  }

  async transferLeadership (to: string, timeoutMs: number): Promise<void> {
    const node = this.needLeader('leadership transfer')
    if (to === this.init.peerId) return
    if (!node.membership.voters.includes(to)) throw new OperatorError(`transfer refused: ${this.nameOf(to)} (${to}) is not a voter (voters: ${node.membership.voters.map(v => this.nameOf(v)).join(', ')})`)
    if (!this.init.isConnected(to)) throw new OperatorError(`transfer refused: ${this.nameOf(to)} is not connected to the leader; pick a connected voter`)
    const drop = this.step({ type: 'transfer', to }).find((e): e is Extract<Effect, { type: 'drop' }> => e.type === 'drop')
    if (drop != null) throw new OperatorError(`transfer refused (${drop.reason}${drop.detail != null ? `: ${drop.detail}` : ''})`)
    this.init.log(`raft: transferring leadership to ${this.nameOf(to)}`)
    const deadline = performance.now() + timeoutMs
    while (this.node?.leader !== to) {
      if (performance.now() > deadline || this.node == null) throw new OutcomeUnknownError(`leadership did not move to ${this.nameOf(to)} within ${timeoutMs} ms (the transfer is abandoned after an election timeout; the leader stays or an election follows): check mesh consensus`, '')
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    this.transfers.handedOver++
    this.init.log(`raft: leadership transferred to ${this.nameOf(to)}`)
  }

  /** The voter a leader hands over to: connected, the longest matching log (ties: genesis order). */
  mostUpToDateVoter (): string | null {
    const node = this.node
    if (node == null || node.role !== 'leader') return null
    let best: { peer: string, match: number } | null = null
    for (const voter of node.membership.voters) {
      if (voter === this.init.peerId || !this.init.isConnected(voter)) continue
      const match = node.progress.get(voter)?.match ?? 0
      if (best == null || match > best.match) best = { peer: voter, match }
    }
    return best?.peer ?? null
  }

  /**
   * Graceful shutdown: a leader hands leadership to the most up-to-date voter and waits (bounded) until
   * it leads, so the others need no election timeout. Returns who took over, or null (not the leader,
   * alone, or the transfer did not finish in time: the others then elect as after a crash).
   */
  async handOver (timeoutMs = handOverTimeoutMsDefault): Promise<string | null> {
    const to = this.mostUpToDateVoter()
    if (to == null) return null
    try {
      await this.transferLeadership(to, timeoutMs)
      return to
    } catch (err) {
      this.init.log(`raft: leadership hand-over on shutdown failed (${(err as Error).message})`)
      return null
    }
  }

  // ————————————————————————————————————— status

  status (): ConsensusStatus {
    const node = this.node
    const membership = this.members()
    const voters = membership.voters
    const n = voters.length > 0 ? voters.length : this.validators.length
    const leader = this.leader()
    const applied = this.applied()
    const commit = node?.commit ?? this.observed.commit
    const raft: RaftStatusView = {
      term: node?.term ?? this.observed.term,
      role: node == null ? 'observer' : (node.role === 'follower' && !voters.includes(this.init.peerId) ? 'learner' : node.role),
      leader,
      commitIndex: commit,
      appliedIndex: applied,
      lastIndex: node?.log.lastIndex() ?? applied,
      transfers: { ...this.transfers },
      snapshotIndex: node?.log.snapshot?.index ?? 0,
      members: [...voters.map(p => ({ p, role: 'voter' as const })), ...membership.learners.map(p => ({ p, role: 'learner' as const }))].map(({ p, role }) => ({
        peerId: p,
        name: this.nameOf(p),
        role,
        match: node?.role === 'leader' ? (p === this.init.peerId ? node.log.lastIndex() : node.progress.get(p)?.match ?? 0) : null,
        connected: p === this.init.peerId || this.init.isConnected(p),
        self: p === this.init.peerId
      }))
    }
    return {
      mode: 'raft',
      role: node != null ? 'validator' : 'observer',
      replica: node != null ? this.validators.indexOf(this.init.peerId) : null,
      n,
      f: Math.floor((n - 1) / 2),
      view: raft.term,
      primary: leader,
      active: leader != null,
      lastExecuted: applied,
      stableSeq: raft.snapshotIndex,
      highestKnown: commit,
      behind: Math.max(0, commit - applied),
      catchingUp: commit > applied,
      validators: this.init.genesis.validators.map((v, index) => ({
        index, peerId: v.peer_id, name: v.name, self: v.peer_id === this.init.peerId,
        connected: v.peer_id === this.init.peerId || this.init.isConnected(v.peer_id)
      })),
      dropped: { ...this.dropped },
      frames: { received: { ...this.received }, sent: { ...this.sent } },
      pendingClientRequests: this.pending.size + this.queue.length,
      bundles: { count: 0, operations: 0 },
      persisted: { ...{ fsyncs: this.groups.count, records: this.groups.records } },
      storageError: this.storageError?.message ?? null,
      raft
    }
  }
}

/** An operator action (membership change, transfer) this node cannot do: 409 with the reason. */
export class OperatorError extends Error {
  override readonly name = 'OperatorError'
}

/** An operator action sent to a node that is not the leader: 421 naming the leader to ask instead. */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError'
  constructor (message: string, readonly leader: string) {
    super(message)
  }
}

function changeRefusal (reason: string): string {
  switch (reason) {
    case 'busy': return 'busy: another membership change or a transfer is in flight, or the leader has not applied an entry of its term yet; retry in a moment'
    case 'behind': return 'the learner is too far behind the leader to vote; wait until it catches up (mesh consensus shows its match index) and retry'
    case 'invalid': return 'invalid for the membership in force'
    default: return reason
  }
}
