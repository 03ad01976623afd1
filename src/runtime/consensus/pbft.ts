/**
 * The pBFT runtime of one node: drives the pure replica (src/core/pbft/replica.ts) with requests,
 * verified frames and clock ticks, and performs its effects in the fixed order persist → send →
 * reply. Also the client side: any node (validator or not) submits signed requests and waits for f+1
 * matching signed replies from distinct validators.
 *
 * Behind the small `Consensus` interface so another protocol (Raft) can replace it.
 */
import { createHash } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { Replica } from '../../core/pbft/replica.js'
import { Learner } from '../../core/pbft/learner.js'
import type { Decision, LearnerInput } from '../../core/pbft/learner.js'
import { batchDigest, canonicalJson, faultsTolerated, quorumSize, signable } from '../../core/pbft/types.js'
import type { Application, ClientRequest, Effect, Message, PersistRecord, ReplicaConfig, StateTransfer } from '../../core/pbft/types.js'
import { PbftFrame } from '../../../protocols/pbft/pbft.js'
import type { PbftTransport } from '../../../protocols/pbft/service.js'
import { pbftCrypto } from './pbft-crypto.js'
import { clientWindow } from '../../core/pbft/client-table.js'
import { bundleOpsMax, operationLengthMax } from '../../core/app/limits.js'
import type { Genesis } from './genesis.js'
import { formatRequestId, NoQuorumError, NotSentError, operationDigest, OutcomeUnknownError, parseRequestId, RequestIdError, RequestMismatchError } from './client-request-id.js'

import type { CommittedDecision, Consensus, ConsensusStatus } from './types.js'
import { measureTransportRtt } from './transport-rtt.js'
export type { CommittedDecision, Consensus, ConsensusStatus } from './types.js'

export { NoQuorumError }

export interface ReplicaStore {
  load: () => PersistRecord[]
  append: (records: PersistRecord[]) => void
  /** `append` that resolves once durable, fsync off the event loop (group commit); preferred when present. */
  appendGroup?: (records: PersistRecord[]) => Promise<void>
  compact?: (stableSeq: number) => void
  /** Write records into the file now (the kernel's page cache: survives a kill -9), not yet fsynced. */
  write?: (records: PersistRecord[]) => void
  /** fdatasync what `write` wrote, off the event loop. */
  sync?: () => Promise<void>
}

/**
 * When a validator's records must be on disk (fdatasync) before the messages that depend on them leave.
 *
 * 'process-crash' (the default): every event-loop turn's records are written to the log (write(2), one
 * call) BEFORE any message of that turn is sent, and an fdatasync runs behind, continuously, covering
 * everything written (group commit off the critical path). A kill -9 of any or all validators at any
 * instant loses nothing they wrote: the kernel holds the page cache, so a restarted replica finds every
 * vote it sent and never contradicts it, and every acknowledged write is in the logs of the 2f+1 that
 * committed it. What this mode does not cover is the loss of the page cache itself (power loss, kernel
 * crash) within the ~1 ms an fdatasync takes: a validator whose machine loses power right after voting
 * may forget that vote, i.e. act for those instances like one of the f faulty replicas pBFT tolerates
 * (Castro and Liskov's BFT library keeps its log in memory for the same reason). Simultaneous power loss
 * of more than f validators within that window is the case this mode gives up.
 *
 * 'power-loss' (MESH_PBFT_FSYNC=before-send): the previous behaviour, an fdatasync before every send
 * that depends on the records (three sequential fsyncs on each decision's critical path).
 */
const fsyncBeforeSend = process.env.MESH_PBFT_FSYNC === 'before-send'

export interface ConsensusInit {
  genesis: Genesis
  privateKey: PrivateKey
  peerId: string
  incarnation: number
  app: Application
  store: ReplicaStore | null
  transport: () => PbftTransport
  isConnected: (peerId: string) => boolean
  /**
   * The write path's view of liveness (membership): false for a validator membership suspects, has
   * declared failed, or saw leave. A validator counts as reachable for writes only when connected AND
   * alive here: a cut cable leaves TCP connections open long after membership has noticed.
   */
  isAlive?: (peerId: string) => boolean
  /** Membership's verdict: this node sees itself on the minority side (mode read-only). */
  partitioned?: () => boolean
  log: (line: string) => void
  /**
   * TEST ONLY: make this validator lie, to check that the others still agree. 'equivocate': as
   * primary it sends one PRE-PREPARE to one backup and a conflicting one (other batch, same sequence
   * number, validly signed) to the rest. Set by `MESH_TEST_BYZANTINE=equivocate` (src/runtime/start-mesh.ts).
   */
  byzantine?: 'equivocate'
}

interface Queued {
  operation: string
  deadline: number
  settled: boolean
  resolve: (value: { result: string, seq: number }) => void
  reject: (err: Error) => void
  timer: ReturnType<typeof setTimeout> | undefined
}

interface Waiter {
  resolve: (value: { result: string, seq: number }) => void
  reject: (err: Error) => void
  timer: ReturnType<typeof setTimeout>
}

/**
 * A request this node signed and sent, not yet answered by f+1 validators. While its proposer waits
 * it is in flight (counts against `inFlightMax`); once that caller timed out (504, outcome unknown) it
 * stays here, retransmitted in the background until answered, so that it does not hold its client's
 * window (replicas refuse ids more than `clientWindow` beyond the lowest unexecuted one) forever and
 * so that a retry with its id finds it. Keyed by `<client>/<requestId>`.
 */
interface Waiting {
  request: ClientRequest
  replies: Map<string, Map<number, { seq: number }>>
  /** The proposer while in flight, then any retries with this request's id. */
  waiters: Set<Waiter>
  inFlight: boolean
  retransmitAtMs: number
  retransmits: number
}

/** Rejection of `submit` when its deadline passed: the request went out, its outcome is unknown. */
class Undecided extends Error {
  constructor (readonly client: string, readonly requestId: number, readonly timeoutMs: number) {
    super(`not decided within ${Math.round(timeoutMs)} ms`)
  }
}

/** Operation `index` of a bundle's answer (a bundle refused as a whole: that answer for each). */
function bundleMember (outcome: { result: string, seq: number }, index: number): { result: string, seq: number } {
  let results: unknown
  try { results = (JSON.parse(outcome.result) as { results?: unknown }).results } catch {}
  if (!Array.isArray(results) || !results.every(r => typeof r === 'string')) return outcome
  const result: unknown = results[index]
  return typeof result === 'string' ? { result, seq: outcome.seq } : outcome
}

/** Ticks drive timers (view change, retransmission) and batching. */
const tickIntervalMs = 25
const proposeTimeoutMsDefault = 15_000
const waitingMax = clientWindow
/** Background retransmission of a timed-out request: first after this long, doubling up to the max. */
const retransmitFirstMs = 2_000
const retransmitMaxMs = 30_000
/** Retransmissions of one timed-out request at most (≈ 1 h at the max interval); then it is dropped (logged). */
const retransmitsMax = 120
/** Answers of timed-out or retried requests remembered for retries by id (insertion order, oldest dropped). */
const outcomesMax = 1_024
const messageTypes = new Set(['forward', 'pre-prepare', 'prepare', 'commit', 'checkpoint', 'view-change', 'new-view', 'fetch-state', 'state', 'status', 'fetch-log', 'log-entry'])
/**
 * Requests this node keeps out at once; more operations wait and leave as one bundle when one is
 * answered (so bundles grow with load). Enough to keep the primary's pipeline full.
 */
const inFlightMax = 8
/** Operations waiting to be proposed, at most; beyond it `propose` refuses at once. */
const queueMax = 16_384
/** Observers renew their subscription this often; validators forget a subscriber after 4 periods. */
const resubscribeMs = 2_000
/** Subscribers a validator serves at once. */
const subscribersMax = 64
/** Decisions sent to one subscriber per catch-up (it asks again for the rest). */
const catchUpDecisionsMax = 512
/** `{"op":"bundle","ops":[]}` */
const bundleOverhead = 24
const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()
/** How long `propose` trusts that writes may go (see writeRefusalCached): one tick. */
const writeAllowedCacheMs = 25
/** PeerIds parsed and kept (validators and client nodes); the cache is emptied when full. */
const peerIdsMax = 4_096
/** Client requests a backup holds unverified at most (beyond it, it verifies at once: the old way). */
const heldMax = 16_384
/** Verified client signatures remembered (≈ 150 B each): several full batches' worth. */
const verifiedSignaturesMax = 16_384

export class PbftConsensus implements Consensus {
  readonly mode = 'pbft' as const
  readonly validators: string[]
  readonly index: number | null
  private readonly replica: Replica | null
  private readonly crypto: ReturnType<typeof pbftCrypto>
  private readonly listeners = new Set<(decision: CommittedDecision) => void>()
  private readonly waiting = new Map<string, Waiting>()
  /** Requests of ours in flight for their proposer (the rest of `waiting` timed out). */
  private inFlight = 0
  /** Answers to requests that timed out or were retried, by `<client>/<requestId>`, for retries by id. */
  private readonly outcomes = new Map<string, { result: string, seq: number }>()
  private retransmitTimer?: ReturnType<typeof setTimeout>
  private readonly queue: Queued[] = []
  /** Observers only: learns committed decisions from the validators. */
  private readonly learner: Learner | null = null
  /** Validators only: nodes that asked for our decisions (observers), by PeerId. */
  private readonly subscribers = new Map<string, { peer: PeerId, expiresMs: number, lastCatchUpMs: number }>()
  /** The signed STATE of the stable checkpoint for subscribers, built once per checkpoint (it can be tens of MiB). */
  private stateForSubscribers: { seq: number, body: Uint8Array<ArrayBuffer> } | null = null
  private drainScheduled = false
  /** Bundles sent and the operations they carried. */
  private readonly bundles = { count: 0, operations: 0 }
  private readonly dropped: Record<string, number> = {}
  /** Frames by kind and protocol message type, for `mesh consensus --json` and the benchmark. */
  private readonly received: Record<string, number> = {}
  private readonly sent: Record<string, number> = {}
  private readonly clientId: string
  private nextRequestId = 1
  /** Effects stepped but not yet performed: the next group commit (persist once, then send). */
  private buffered: Effect[] = []
  private flushScheduled = false
  private flushing = false
  private storageError: Error | null = null
  private stopped = false
  private equivocations = 0
  /** Signatures (client requests, protocol messages) that verified here → hash of the signed text; insertion-ordered. */
  private readonly verifiedSignatures = new Map<string, string>()
  private timer?: ReturnType<typeof setInterval>
  private batchTimer?: ReturnType<typeof setTimeout>
  private view = 0
  /** For metrics (src/runtime/metrics/metrics.ts): view changes started here (requested) and new views installed. */
  private readonly viewChanges = { requested: 0, installed: 0 }
  /** For metrics: called with the propose → decided latency (ms) of every operation proposed here. */
  private readonly decidedListeners = new Set<(latencyMs: number) => void>()

  constructor (private readonly init: ConsensusInit) {
    this.validators = init.genesis.validators.map(v => v.peer_id)
    const index = this.validators.indexOf(init.peerId)
    this.index = index >= 0 ? index : null
    this.crypto = pbftCrypto(init.genesis.network, this.validators, init.privateKey)
    // a fresh client identity per start: request ids restart at 1 without colliding with the last life
    this.clientId = `${init.peerId}/${init.incarnation}`
    if (this.index != null) {
      const p = init.genesis.consensus_params
      const config: ReplicaConfig = {
        id: this.index,
        n: this.validators.length,
        checkpointInterval: p.checkpoint_interval,
        batchSizeMax: p.batch_size_max,
        batchDelayMs: p.batch_delay_ms,
        viewChangeTimeoutMs: p.view_change_timeout_ms,
        retransmitMs: p.retransmit_ms,
        pipelineMax: p.pipeline_max,
        statusIntervalMs: p.status_interval_ms,
        clientHorizonSeqs: p.client_horizon_seqs
      }
      const records = init.store?.load() ?? []
      this.replica = records.length > 0
        ? Replica.restore(config, this.crypto, init.app, records, performance.now())
        : new Replica(config, this.crypto, init.app, performance.now())
      this.view = this.replica.status().view
    } else {
      this.replica = null
      const p = init.genesis.consensus_params
      this.learner = new Learner({
        n: this.validators.length, resubscribeMs, gapMs: 1_000, checkpointInterval: p.checkpoint_interval, clientHorizonSeqs: p.client_horizon_seqs
      }, this.crypto, init.app, performance.now())
    }
  }

  start (): void {
    this.timer = setInterval(() => {
      this.releaseHeld(performance.now() - this.holdMs)
      this.step({ type: 'tick', nowMs: performance.now() })
      this.learn({ type: 'tick', nowMs: performance.now() })
    }, tickIntervalMs)
  }

  stop (): void {
    this.stopped = true
    clearInterval(this.timer)
    clearTimeout(this.batchTimer)
    clearTimeout(this.retransmitTimer)
    for (const waiting of this.waiting.values()) {
      for (const waiter of waiting.waiters) { clearTimeout(waiter.timer); waiter.reject(new Error('node stopping')) }
    }
    this.waiting.clear()
    for (const queued of this.queue.splice(0)) this.settle(queued, new Error('node stopping'))
  }

  /** Resolves once no group commit is in flight (call after `stop`, before closing the store). */
  async idle (): Promise<void> {
    while (this.flushing || this.syncing) await new Promise(resolve => setTimeout(resolve, 5))
  }

  /** Metrics: `listener(ms)` for every operation proposed here, once f+1 validators answered it. */
  onDecided (listener: (latencyMs: number) => void): () => void {
    this.decidedListeners.add(listener)
    return () => { this.decidedListeners.delete(listener) }
  }

  /** Metrics: view changes this validator requested, and new views it installed, since it started. */
  viewChangeCounts (): { requested: number, installed: number } {
    return { ...this.viewChanges }
  }

  onCommit (listener: (decision: CommittedDecision) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  private count (reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1
  }

  /**
   * Step the replica and queue its effects for the next group. Everything stepped in one run of
   * synchronous work (one I/O callback, one timer: the group is flushed in a microtask right after it)
   * becomes one group: its records are written with ONE write (and, in the 'before-send' mode, one
   * fsync) before its messages are sent, its replies and commits delivered, in the order the replica
   * produced them. A microtask, not setImmediate: a trace of one write showed the flush waiting 4-7 ms
   * behind the rest of the loop's I/O callbacks at every phase.
   */
  private step (input: Parameters<Replica['step']>[0]): void {
    if (this.replica == null || this.storageError != null || this.stopped) return
    const effects = this.replica.step(input)
    if (effects.length === 0) return
    for (const effect of effects) this.buffered.push(effect)
    if (!this.flushing && !this.flushScheduled) {
      this.flushScheduled = true
      queueMicrotask(() => { this.flushScheduled = false; void this.flush() })
    }
  }

  private async flush (): Promise<void> {
    if (this.flushing) return
    this.flushing = true
    try {
      while (this.buffered.length > 0 && this.storageError == null) {
        const effects = this.buffered
        this.buffered = []
        const records = effects.filter((e): e is Extract<Effect, { type: 'persist' }> => e.type === 'persist').map(e => e.record)
        const store = this.init.store
        if (records.length > 0 && store?.write != null && store.sync != null && !fsyncBeforeSend) {
          // write-ahead (see fsyncBeforeSend): on file before anything of this turn leaves, fsync behind
          store.write(records)
          this.groups.records += records.length
          this.perform(effects)
          this.syncBehind()
          continue
        }
        if (records.length > 0 && store != null) {
          // Replies and commit notifications depend on nothing this group persists: committed-local
          // rests on 2f+1 COMMITs, each made durable by its sender before it left. So they go out now,
          // one fsync earlier; every protocol message waits for the fsync.
          this.perform(effects.filter(e => e.type === 'reply' || e.type === 'committed' || e.type === 'drop'))
          if (store.appendGroup != null) await store.appendGroup(records)
          else store.append(records)
          this.groups.count++
          this.groups.records += records.length
          this.perform(effects.filter(e => e.type !== 'reply' && e.type !== 'committed' && e.type !== 'drop'))
        } else {
          this.perform(effects)
        }
      }
    } catch (err) {
      // fail-stop: sending what was not persisted could make this validator contradict itself later
      this.storageError = err instanceof Error ? err : new Error(String(err))
      this.buffered = []
      if (!this.stopped) this.init.log(`consensus: cannot write the consensus log (${this.storageError.message}); this validator stops taking part until it is restarted`)
    } finally {
      this.flushing = false
    }
  }

  /** Keep one fdatasync running behind the writes while any written record is not yet covered. */
  private syncBehind (): void {
    const store = this.init.store
    if (this.syncing || store?.sync == null || this.storageError != null) return
    this.syncing = true
    store.sync().then(() => {
      this.groups.count++
      this.syncing = false
      if (this.init.store?.write != null && this.pendingSyncBytes()) this.syncBehind()
    }, (err: unknown) => {
      this.syncing = false
      this.storageError = err instanceof Error ? err : new Error(String(err))
      this.buffered = []
      if (!this.stopped) this.init.log(`consensus: cannot fsync the consensus log (${this.storageError.message}); this validator stops taking part until it is restarted`)
    })
  }

  private pendingSyncBytes (): boolean {
    const unsynced = (this.init.store as { unsynced?: number } | null)?.unsynced
    return unsynced == null || unsynced > 0
  }

  private syncing = false

  /** Group commits so far (fsyncs) and the records they carried. */
  private readonly groups = { count: 0, records: 0 }

  private perform (effects: Effect[]): void {
    for (const effect of effects) {
      switch (effect.type) {
        case 'send': this.sendProtocol(effect.to, effect.message); break
        case 'reply': this.sendReply(effect.request, effect.seq, effect.result); break
        case 'committed':
          this.publishDecision(effect)
          for (const listener of this.listeners) listener({ seq: effect.seq, view: effect.view, digest: effect.digest, batch: effect.batch })
          break
        case 'stable':
          this.init.store?.compact?.(effect.seq)
          break
        case 'view':
          this.view = effect.view
          if (effect.active) this.viewChanges.installed++
          else this.viewChanges.requested++
          this.init.log(`consensus: view ${effect.view} ${effect.active ? 'started' : 'change requested'} (primary ${this.init.genesis.validators[effect.primary]?.name ?? effect.primary})`)
          // a new primary orders what it holds: every held request is verified and handed over now
          if (effect.active && effect.primary === this.index) this.releaseHeld(-Infinity)
          break
        case 'drop':
          this.count(effect.reason)
          break
        case 'persist':
          break
      }
    }
  }

  private transportTo (index: number): PeerId | null {
    const peer = this.validators[index]
    return peer != null && peer !== this.init.peerId ? this.peerIdOf(peer) : null
  }

  private sendProtocol (to: number | 'all', message: Message): void {
    if (this.init.byzantine === 'equivocate' && message.type === 'pre-prepare' && to === 'all') {
      this.equivocate(message)
      return
    }
    // the body need not be canonical (receivers parse it and rebuild the signed text themselves):
    // JSON.stringify is several times cheaper than canonicalJson on a PRE-PREPARE's batch
    const body = textEncoder.encode(JSON.stringify(message))
    const targets = to === 'all' ? this.validators.map((_, i) => i) : [to]
    for (const index of targets) {
      const peer = this.transportTo(index)
      if (peer != null) {
        this.init.transport().send(peer, { kind: PbftFrame.Kind.PROTOCOL, body })
        this.sent[message.type] = (this.sent[message.type] ?? 0) + 1
      }
    }
  }

  /** TEST ONLY (see ConsensusInit.byzantine): the first backup gets `message`, the others a twin. */
  private equivocate (message: Extract<Message, { type: 'pre-prepare' }>): void {
    const batch = message.batch.length >= 2 ? [...message.batch].reverse() : []
    const twin = { ...message, batch, digest: batchDigest(this.crypto, batch), signature: '' }
    twin.signature = this.crypto.sign(signable(twin))
    const backups = this.validators.map((_, i) => i).filter(i => i !== this.index)
    backups.forEach((index, k) => {
      const peer = this.transportTo(index)
      if (peer == null) return
      const body = new TextEncoder().encode(canonicalJson(k === 0 ? message : twin))
      this.init.transport().send(peer, { kind: PbftFrame.Kind.PROTOCOL, body })
      this.sent['pre-prepare'] = (this.sent['pre-prepare'] ?? 0) + 1
    })
    this.equivocations++
  }

  // ————————————————————————————————————— frames from the network

  onFrame (frame: PbftFrame, from: PeerId): void {
    let parsed: unknown
    try {
      parsed = JSON.parse(textDecoder.decode(frame.body))
    } catch {
      this.count('undecodable')
      return
    }
    const type = (parsed as { type?: unknown })?.type
    const label = frame.kind !== PbftFrame.Kind.PROTOCOL ? PbftFrame.Kind[frame.kind] ?? 'unknown' : typeof type === 'string' && messageTypes.has(type) ? type : 'unknown'
    this.received[label] = (this.received[label] ?? 0) + 1
    if (frame.kind === PbftFrame.Kind.PROTOCOL) this.onProtocolFrame(parsed, from)
    else if (frame.kind === PbftFrame.Kind.REQUEST) this.onRequestFrame(parsed, from)
    else if (frame.kind === PbftFrame.Kind.REPLY) this.onReplyFrame(parsed, from)
    else if (frame.kind === PbftFrame.Kind.SUBSCRIBE) this.onSubscribeFrame(parsed, from)
    else if (frame.kind === PbftFrame.Kind.DECISION) this.onDecisionFrame(parsed, from)
    else this.count('undecodable')
  }

  // ————————————————————————————————————— learners (observers): subscriptions and decisions

  private lastExecuted (): number {
    return this.replica?.status().lastExecuted ?? this.learner?.lastExecuted ?? 0
  }

  /** Step the learner (observers) and perform its effects. */
  private learn (input: LearnerInput): void {
    if (this.learner == null || this.stopped) return
    for (const effect of this.learner.step(input)) {
      switch (effect.type) {
        case 'committed':
          for (const listener of this.listeners) listener({ seq: effect.seq, view: effect.view, digest: effect.digest, batch: effect.batch })
          break
        case 'subscribe': {
          const body = new TextEncoder().encode(canonicalJson({ fromSeq: effect.fromSeq }))
          for (let i = 0; i < this.validators.length; i++) {
            const peer = this.transportTo(i)
            if (peer != null && this.init.isConnected(this.validators[i] as string)) this.init.transport().send(peer, { kind: PbftFrame.Kind.SUBSCRIBE, body })
          }
          break
        }
        case 'drop': this.count(effect.reason); break
      }
    }
  }

  /** Validators: a node asks for the decisions after `fromSeq` (and for the ones to come). */
  private onSubscribeFrame (parsed: unknown, from: PeerId): void {
    if (this.replica == null) return
    const fromSeq = (parsed as { fromSeq?: unknown })?.fromSeq
    if (typeof fromSeq !== 'number' || !Number.isSafeInteger(fromSeq) || fromSeq < 0) { this.count('invalid'); return }
    const key = from.toString()
    const now = performance.now()
    const known = this.subscribers.get(key)
    if (known == null && this.subscribers.size >= subscribersMax) {
      for (const [k, sub] of this.subscribers) if (sub.expiresMs < now) this.subscribers.delete(k)
      if (this.subscribers.size >= subscribersMax) { this.count('subscribers-full'); return }
    }
    const subscriber = known ?? { peer: from, expiresMs: 0, lastCatchUpMs: -Infinity }
    subscriber.expiresMs = now + 4 * resubscribeMs
    this.subscribers.set(key, subscriber)
    // catch it up (at most once a second per subscriber): the stable checkpoint if it is behind that,
    // then the committed batches still in our log
    const lastExecuted = this.replica.status().lastExecuted
    if (fromSeq >= lastExecuted || now - subscriber.lastCatchUpMs < 1_000) return
    subscriber.lastCatchUpMs = now
    let next = fromSeq + 1
    const stable = this.replica.stableCheckpoint()
    if (stable != null && fromSeq < stable.seq) {
      if (this.stateForSubscribers?.seq !== stable.seq) {
        const state = { type: 'state', from: this.index as number, seq: stable.seq, stateDigest: stable.stateDigest, checkpointProof: stable.proof, snapshot: stable.snapshot, signature: '' }
        state.signature = this.crypto.sign(signable(state as unknown as Message))
        this.stateForSubscribers = { seq: stable.seq, body: new TextEncoder().encode(canonicalJson(state)) }
      }
      this.init.transport().send(from, { kind: PbftFrame.Kind.DECISION, body: this.stateForSubscribers.body })
      next = stable.seq + 1
    }
    for (let seq = next, sent = 0; seq <= lastExecuted && sent < catchUpDecisionsMax; seq++, sent++) {
      const committed = this.replica.committedAt(seq)
      if (committed == null) break
      this.sendDecision(from, { seq, view: committed.view, digest: committed.digest, batch: committed.batch })
    }
  }

  private sendDecision (to: PeerId, d: { seq: number, view: number, digest: string, batch: ClientRequest[] }): void {
    const decision: Decision = { type: 'decision', from: this.index as number, seq: d.seq, view: d.view, digest: d.digest, batch: d.batch, signature: '' }
    decision.signature = this.crypto.sign(signable(decision as unknown as Message))
    this.init.transport().send(to, { kind: PbftFrame.Kind.DECISION, body: textEncoder.encode(JSON.stringify(decision)) })
  }

  /** Validators: tell every live subscriber what we just executed (one signature for all of them). */
  private publishDecision (d: { seq: number, view: number, digest: string, batch: ClientRequest[] }): void {
    if (this.subscribers.size === 0 || this.index == null) return
    const decision: Decision = { type: 'decision', from: this.index, seq: d.seq, view: d.view, digest: d.digest, batch: d.batch, signature: '' }
    decision.signature = this.crypto.sign(signable(decision as unknown as Message))
    const body = textEncoder.encode(JSON.stringify(decision))
    const now = performance.now()
    for (const [key, subscriber] of this.subscribers) {
      if (subscriber.expiresMs < now) { this.subscribers.delete(key); continue }
      this.init.transport().send(subscriber.peer, { kind: PbftFrame.Kind.DECISION, body })
    }
  }

  /** Observers: a validator's signed decision or stable checkpoint. */
  private onDecisionFrame (parsed: unknown, from: PeerId): void {
    if (this.learner == null) return
    const message = parsed as { type?: unknown, from?: unknown, signature?: unknown }
    if (typeof message !== 'object' || message == null || !Number.isInteger(message.from)) { this.count('invalid'); return }
    const index = message.from as number
    if (this.validators[index] !== from.toString()) { this.count('not-validator'); return }
    if (!this.verifiedOnce(message.signature, signable(message as unknown as Message), data => this.crypto.verify(index, data, message.signature as string))) { this.count('bad-signature'); return }
    if (message.type === 'decision') this.learn({ type: 'decision', decision: message as unknown as Decision, nowMs: performance.now() })
    else if (message.type === 'state') this.learn({ type: 'state', state: message as unknown as StateTransfer, nowMs: performance.now() })
    else this.count('invalid')
  }

  private onProtocolFrame (parsed: unknown, from: PeerId): void {
    if (this.replica == null) return
    const message = parsed as Message
    if (typeof message !== 'object' || message == null || typeof message.type !== 'string' || !Number.isInteger(message.from)) { this.count('invalid'); return }
    // the transport authenticated the remote peer (Noise): it must be the validator it claims to be
    if (this.validators[message.from] !== from.toString()) { this.count('not-validator'); return }
    if (!this.verifiedOnce(message.signature, signable(message), data => this.crypto.verify(message.from, data, message.signature))) { this.count('bad-signature'); return }
    // requests inside forwards and batches must carry their clients' signatures (a Byzantine replica
    // cannot invent requests); one check per request per replica, which bounds throughput
    if (message.type === 'forward' && !this.validClientRequest(message.request)) { this.count('bad-signature'); return }
    if (message.type === 'pre-prepare' && !(Array.isArray(message.batch) && message.batch.every(r => this.validClientRequest(r)))) { this.count('bad-signature'); return }
    this.step({ type: 'message', message, nowMs: performance.now() })
  }

  // ————————————————————————————————————— client side

  private requestSignable (request: ClientRequest): string {
    return canonicalJson({ client: request.client, requestId: request.requestId, operation: request.operation })
  }

  /**
   * A client's REQUEST, sent by the client node to every validator itself (sendRequest).
   *
   * Its signature is checked by the primary only. A backup that gets the request straight from the
   * client's own node (the Noise-authenticated connection's remote peer is the PeerId the request names)
   * knows it is authentic without the signature, and holds it (`held`) instead of verifying it: when the
   * primary's PRE-PREPARE carries the very same request (same signature, same signed text), it passes
   * without an Ed25519 check (validClientRequest). Only a request still unordered after `holdMs`, or
   * held when this validator becomes primary, is verified then and handed to the replica (which
   * forwards it and starts its view-change timer). So a request costs one verification in the mesh
   * instead of one per validator, and a client that signs badly cannot make backups hold, forward or
   * time out on its request: a bad signature is still refused before the replica sees it. The
   * signature itself stays on the request, for everyone it is relayed to (FORWARD, PRE-PREPARE to a
   * backup that missed the direct copy, NEW-VIEW).
   */
  private onRequestFrame (parsed: unknown, from: PeerId): void {
    if (this.replica == null) return
    const request = parsed as ClientRequest
    if (typeof request?.client !== 'string' || typeof request.signature !== 'string') { this.count('bad-signature'); return }
    const fromClient = request.client.split('/')[0] === from.toString()
    const primary = this.index === this.view % this.validators.length
    if (fromClient && !primary && this.held.size < heldMax && !this.verifiedSignatures.has(request.signature)) {
      this.held.set(request.signature, { request, hash: this.signableHash(request), sinceMs: performance.now() })
      return
    }
    if (!this.validClientRequest(request)) { this.count('bad-signature'); return }
    // clients send every request to every validator (propose below): the primary has it too
    this.submitLocal(request, false)
  }

  /** Hand the requests held since before `beforeMs` to the replica, each verified first (see onRequestFrame). */
  private releaseHeld (beforeMs: number): void {
    for (const [signature, held] of this.held) {
      if (held.sinceMs > beforeMs) break // insertion order: the rest are younger
      this.held.delete(signature)
      if (!this.validClientRequest(held.request)) { this.count('bad-signature'); continue }
      this.submitLocal(held.request, false)
    }
  }

  private signableHash (request: ClientRequest): string {
    return createHash('sha256').update(this.requestSignable(request)).digest('base64')
  }

  /**
   * A request's signature is checked once per validator: the same request comes again inside the
   * primary's PRE-PREPARE (and in retransmissions), and Ed25519 verification (~114 µs here) is the
   * largest CPU cost per request. A hit needs the same signature over the same signed text (by hash).
   */
  private validClientRequest (request: ClientRequest): boolean {
    if (typeof request?.client !== 'string' || typeof request.signature !== 'string') return false
    const held = this.held.get(request.signature)
    if (held != null) {
      // received straight from the client (authentic without the signature): the same signed text?
      const hash = this.signableHash(request)
      if (held.hash === hash) {
        this.held.delete(request.signature)
        this.rememberVerified(request.signature, hash)
        return true
      }
    }
    const peer = request.client.split('/')[0] ?? ''
    return this.verifiedOnce(request.signature, this.requestSignable(request), data => this.crypto.verifyPeer(peer, data, request.signature as string))
  }

  /**
   * `verify(data)`, skipped when this exact signature over this exact text (by hash) verified before:
   * retransmitted protocol messages arrive again, and a request comes again inside PRE-PREPAREs.
   */
  private verifiedOnce (signature: unknown, data: string, verify: (data: string) => boolean): boolean {
    if (typeof signature !== 'string') return false
    const hash = createHash('sha256').update(data).digest('base64')
    if (this.verifiedSignatures.get(signature) === hash) return true
    if (!verify(data)) return false
    this.rememberVerified(signature, hash)
    return true
  }

  private rememberVerified (signature: string, hash: string): void {
    this.verifiedSignatures.set(signature, hash)
    if (this.verifiedSignatures.size > verifiedSignaturesMax) {
      const oldest = this.verifiedSignatures.keys().next().value
      if (oldest !== undefined) this.verifiedSignatures.delete(oldest)
    }
  }

  /**
   * Client requests received straight from their client at a backup, not verified (see
   * onRequestFrame), by signature, in arrival order.
   */
  private readonly held = new Map<string, { request: ClientRequest, hash: string, sinceMs: number }>()
  /** How long a backup holds a request for the primary's PRE-PREPARE before verifying it itself. */
  private get holdMs (): number {
    return this.init.genesis.consensus_params.retransmit_ms / 3
  }

  private submitLocal (request: ClientRequest, forward = true): void {
    this.step({ type: 'request', request, nowMs: performance.now(), forward })
    // a primary holding a non-full batch proposes it after batch_delay_ms
    const delay = this.init.genesis.consensus_params.batch_delay_ms
    if (this.batchTimer == null && delay > 0) {
      this.batchTimer = setTimeout(() => { this.batchTimer = undefined; this.step({ type: 'tick', nowMs: performance.now() }) }, delay)
    }
  }

  /**
   * A REPLY is not signed. It goes to one node only, the client's, over the libp2p connection to it:
   * Noise authenticates that connection with the validator's own key (the remote PeerId is proven by
   * the handshake), and the receiver accepts a reply only when the connection's remote peer is the
   * validator the reply names (`onReplyFrame`). So nobody but that validator can make a reply that the
   * client counts, which is all a signature gave here; and no reply is ever shown to a third party (the
   * client decides with f+1 matching ones, for itself). One Ed25519 signature per reply per validator
   * and one verification per reply at the client were a large share of each write's CPU.
   */
  private sendReply (request: ClientRequest, seq: number, result: string): void {
    if (this.index == null) return
    const reply = { from: this.index, client: request.client, requestId: request.requestId, seq, result }
    const peer = request.client.split('/')[0] ?? ''
    // our own request (this life's client id, or an earlier life's retried by id)
    if (peer === this.init.peerId) {
      this.collectReply(reply)
      return
    }
    const target = this.peerIdOf(peer)
    if (target == null) { this.count('invalid'); return }
    this.init.transport().send(target, { kind: PbftFrame.Kind.REPLY, body: textEncoder.encode(JSON.stringify(reply)) })
  }

  private onReplyFrame (parsed: unknown, from: PeerId): void {
    const reply = parsed as { from: unknown, client: unknown, requestId: unknown, seq: unknown, result: unknown }
    // authenticated by the connection (see sendReply): the remote peer must be the validator it names
    if (typeof reply?.from !== 'number' || this.validators[reply.from] !== from.toString()) { this.count('not-validator'); return }
    if (typeof reply.client !== 'string' || !Number.isSafeInteger(reply.requestId) || !Number.isSafeInteger(reply.seq) || typeof reply.result !== 'string') { this.count('invalid'); return }
    this.collectReply(reply as { from: number, client: string, requestId: number, seq: number, result: string })
  }

  /** PeerIds by their text, parsed once (a PeerId is built per frame otherwise); null for one that does not parse. */
  private peerIdOf (peer: string): PeerId | null {
    let id = this.peerIds.get(peer)
    if (id === undefined) {
      try { id = peerIdFromString(peer) } catch { id = null }
      if (this.peerIds.size >= peerIdsMax) this.peerIds.clear()
      this.peerIds.set(peer, id)
    }
    return id
  }

  private readonly peerIds = new Map<string, PeerId | null>()

  private collectReply (reply: { from: number, client: string, requestId: number, seq: number, result: string }): void {
    const key = `${reply.client}/${reply.requestId}`
    const waiting = this.waiting.get(key)
    if (waiting == null) return
    let byReplica = waiting.replies.get(reply.result)
    if (byReplica == null) { byReplica = new Map(); waiting.replies.set(reply.result, byReplica) }
    byReplica.set(reply.from, { seq: reply.seq })
    // f+1 matching replies: at least one is from an honest validator
    if (byReplica.size >= faultsTolerated(this.validators.length) + 1) {
      const outcome = { result: reply.result, seq: Math.max(...[...byReplica.values()].map(r => r.seq)) }
      this.waiting.delete(key)
      if (waiting.inFlight) this.inFlight--
      else this.remember(key, outcome) // it timed out once: a retry by id may ask for it
      this.drainSoon()
      for (const waiter of waiting.waiters) { clearTimeout(waiter.timer); waiter.resolve(outcome) }
    }
  }

  private remember (key: string, outcome: { result: string, seq: number }): void {
    this.outcomes.delete(key)
    this.outcomes.set(key, outcome)
    if (this.outcomes.size > outcomesMax) {
      const oldest = this.outcomes.keys().next().value
      if (oldest !== undefined) this.outcomes.delete(oldest)
    }
  }

  /** Resolves once this replica has executed `seq` (for linearizable reads); rejects after `timeoutMs`. */
  async transportRtt (samples: number, timeoutMs: number): Promise<Record<string, number[]>> {
    return await measureTransportRtt(this.init.transport(), this.init.peerId, this.validators, this.init.isConnected, samples, timeoutMs)
  }

  async waitExecuted (seq: number, timeoutMs: number): Promise<void> {
    if (this.lastExecuted() >= seq) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { stop(); reject(new Error(`this node has not executed seq ${seq} within ${timeoutMs} ms; retry`)) }, timeoutMs)
      const stop = this.onCommit(decision => {
        if (decision.seq >= seq) { clearTimeout(timer); stop(); resolve() }
      })
    })
  }

  /**
   * Validators a write can count on, ourselves included: connected, and alive in membership's view
   * (`isAlive`): a cable pulled at a switch leaves TCP connections open long after membership noticed.
   */
  reachableValidators (): number {
    return this.validators.filter(v => v === this.init.peerId || (this.init.isConnected(v) && (this.init.isAlive?.(v) ?? true))).length
  }

  /** Why this node knows it cannot commit now (a write must be refused at once, never sent), or null. */
  /**
   * `writeRefusal` for `propose`, where a write that may go is remembered for `writeAllowedCacheMs`:
   * asking costs a PeerId parse per validator (isConnected), once per write under load. Membership and
   * connectivity change on a scale of seconds; a refusal is never cached (drain asks again anyway).
   */
  private writeRefusalCached (): string | null {
    const now = performance.now()
    if (now < this.writeAllowedUntilMs) return null
    const refusal = this.writeRefusal()
    if (refusal == null) this.writeAllowedUntilMs = now + writeAllowedCacheMs
    return refusal
  }

  private writeAllowedUntilMs = -Infinity

  writeRefusal (): string | null {
    const n = this.validators.length
    const reachable = this.reachableValidators()
    const next = 'the write was not sent and will not apply; retry once the partition heals (reads still work)'
    if (reachable < quorumSize(n)) return `read-only: no quorum (${reachable} of ${n} validators reachable, ${quorumSize(n)} needed): ${next}`
    if (this.init.partitioned?.() === true) return `read-only: no quorum (this node is partitioned: fewer than half of the members it knows are alive): ${next}`
    return null
  }

  /**
   * Order `operation`. Refused at once with `NoQuorumError` (nothing is sent) when the node knows it
   * cannot commit (`writeRefusal`). Operations proposed while this node already has `inFlightMax`
   * requests out wait in a queue, and go out together as ONE signed request (a bundle,
   * src/core/app/operation.ts): one client signature, one REQUEST per validator and one REPLY per
   * validator for all of them, so under load the per-request costs are paid once per bundle. Each
   * caller still gets its own result. Past the deadline: `NotSentError` if it never left the queue (it
   * will not apply), `OutcomeUnknownError` with its request id if it went out (it may still apply;
   * `retry` with that id gets its one result).
   */
  async propose (operation: string, options: { timeoutMs?: number } = {}): Promise<{ result: string, seq: number }> {
    if (this.stopped) throw new Error('node stopping')
    const refusal = this.writeRefusalCached()
    if (refusal != null) throw new NoQuorumError(refusal)
    if (this.queue.length >= queueMax) throw new NotSentError(`${queueMax} operations are already waiting to be proposed: this one was not sent and will not apply; retry later`)
    const timeoutMs = options.timeoutMs ?? proposeTimeoutMsDefault
    return await new Promise((resolve, reject) => {
      const proposedMs = performance.now()
      const decided = (value: { result: string, seq: number }): void => {
        const latencyMs = performance.now() - proposedMs
        for (const listener of this.decidedListeners) listener(latencyMs)
        resolve(value)
      }
      const queued: Queued = { operation, deadline: proposedMs + timeoutMs, settled: false, resolve: decided, reject, timer: undefined }
      // only while it waits in the queue: once sent, the request's own deadline applies (submit)
      queued.timer = setTimeout(() => {
        this.settle(queued, new NotSentError(`not sent within ${timeoutMs} ms: ${this.inFlight} earlier requests are still undecided (view change in progress, or no quorum); this write was not sent and will not apply; retry`))
      }, timeoutMs)
      this.queue.push(queued)
      this.drainSoon()
    })
  }

  private settle (queued: Queued, outcome: Error | { result: string, seq: number }): void {
    if (queued.settled) return
    queued.settled = true
    clearTimeout(queued.timer)
    if (outcome instanceof Error) queued.reject(outcome)
    else queued.resolve(outcome)
  }

  private drainSoon (): void {
    if (this.drainScheduled) return
    this.drainScheduled = true
    setImmediate(() => { this.drainScheduled = false; this.drain() })
  }

  /** What a caller whose request went out and timed out is told: its request id, outcome unknown. */
  private undecided (err: unknown, operation: string, index: number | null): Error {
    if (!(err instanceof Undecided)) return err as Error
    const id = formatRequestId(err.client, err.requestId, index, operation)
    return new OutcomeUnknownError(`not decided within ${Math.round(err.timeoutMs)} ms (view change in progress, or no quorum): outcome unknown, the write may still apply. ` +
      `Retry with request id ${id} ("requestId" in the API body, --request-id on the CLI) to get its one result`, id)
  }

  /** Send what waits, as single requests or bundles, while fewer than `inFlightMax` are out. */
  private drain (): void {
    // the node learned it cannot commit since these were queued: refuse them, unsent (asked once per
    // drain: nothing in this synchronous loop changes connectivity or membership)
    const refusal = this.queue.length > 0 ? this.writeRefusal() : null
    while (this.queue.length > 0 && this.inFlight < inFlightMax && !this.stopped) {
      if (refusal != null) {
        for (const queued of this.queue.splice(0)) this.settle(queued, new NoQuorumError(refusal))
        return
      }
      const group: Queued[] = []
      let length = bundleOverhead
      while (this.queue.length > 0 && group.length < bundleOpsMax) {
        const next = this.queue[0] as Queued
        if (next.settled) { this.queue.shift(); continue } // timed out while waiting
        const cost = JSON.stringify(next.operation).length + 1
        if (group.length > 0 && length + cost > operationLengthMax) break
        group.push(next)
        this.queue.shift()
        length += cost
      }
      if (group.length === 0) return
      for (const q of group) clearTimeout(q.timer)
      const timeoutMs = Math.max(1, Math.max(...group.map(q => q.deadline)) - performance.now())
      if (group.length === 1) {
        const only = group[0] as Queued
        this.submit(only.operation, timeoutMs).then(r => { this.settle(only, r) }, err => { this.settle(only, this.undecided(err, only.operation, null)) })
        continue
      }
      this.bundles.count++
      this.bundles.operations += group.length
      this.submit(canonicalJson({ op: 'bundle', ops: group.map(q => q.operation) }), timeoutMs).then(({ result, seq }) => {
        group.forEach((q, i) => { this.settle(q, bundleMember({ result, seq }, i)) })
      }, err => { group.forEach((q, i) => { this.settle(q, this.undecided(err, q.operation, i)) }) })
    }
  }

  /** One signed request to every validator; resolves with f+1 matching replies, rejects with `Undecided` after `timeoutMs`. */
  private async submit (operation: string, timeoutMs: number): Promise<{ result: string, seq: number }> {
    if (this.waiting.size >= waitingMax) throw new NotSentError(`${waitingMax} requests of this node are undecided: this write was not sent and will not apply; retry later`)
    // stay within the replicas' client window of our oldest unanswered request (see client-table.ts)
    let oldest = this.nextRequestId
    for (const waiting of this.waiting.values()) if (waiting.request.client === this.clientId) oldest = Math.min(oldest, waiting.request.requestId)
    if (this.nextRequestId - oldest >= clientWindow) throw new NotSentError(`request ${oldest} is still undecided and ${clientWindow} more were sent after it: this write was not sent and will not apply; retry later`)
    const request: ClientRequest = { client: this.clientId, requestId: this.nextRequestId++, operation }
    request.signature = this.crypto.signAny(this.requestSignable(request))
    this.inFlight++
    return await this.await(request, timeoutMs, true)
  }

  /**
   * Send `request` (unless already waiting) and wait up to `timeoutMs` for f+1 matching replies. On
   * timeout only this caller gives up: the request stays, retransmitted in the background.
   */
  private async await (request: ClientRequest, timeoutMs: number, inFlight: boolean): Promise<{ result: string, seq: number }> {
    const key = `${request.client}/${request.requestId}`
    let waiting = this.waiting.get(key)
    if (waiting == null) {
      waiting = { request, replies: new Map(), waiters: new Set(), inFlight, retransmitAtMs: 0, retransmits: 0 }
      this.waiting.set(key, waiting)
    }
    const entry = waiting
    this.sendRequest(request)
    return await new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          entry.waiters.delete(waiter)
          if (entry.waiters.size === 0 && this.waiting.get(key) === entry) {
            if (entry.inFlight) { entry.inFlight = false; this.inFlight--; this.drainSoon() }
            entry.retransmitAtMs = performance.now() + retransmitFirstMs
            this.scheduleRetransmit()
          }
          reject(new Undecided(request.client, request.requestId, timeoutMs))
        }, timeoutMs)
      }
      entry.waiters.add(waiter)
    })
  }

  /** To our own replica (a validator) and to every other validator: whoever is primary gets it. */
  private sendRequest (request: ClientRequest): void {
    if (this.replica != null) this.submitLocal(request, false)
    const body = textEncoder.encode(JSON.stringify(request))
    for (let i = 0; i < this.validators.length; i++) {
      const peer = this.transportTo(i)
      if (peer != null) this.init.transport().send(peer, { kind: PbftFrame.Kind.REQUEST, body })
    }
  }

  private scheduleRetransmit (): void {
    if (this.retransmitTimer != null || this.stopped) return
    let next = Infinity
    for (const waiting of this.waiting.values()) if (waiting.waiters.size === 0) next = Math.min(next, waiting.retransmitAtMs)
    if (next === Infinity) return
    this.retransmitTimer = setTimeout(() => {
      this.retransmitTimer = undefined
      this.retransmit()
    }, Math.max(0, next - performance.now()))
  }

  /** Resend timed-out requests nobody waits for, with backoff, until answered or `retransmitsMax`. */
  private retransmit (): void {
    const now = performance.now()
    for (const [key, waiting] of this.waiting) {
      if (waiting.waiters.size > 0 || waiting.retransmitAtMs > now) continue
      if (waiting.retransmits >= retransmitsMax) {
        this.waiting.delete(key)
        this.init.log(`consensus: gave up retransmitting request ${key} after ${retransmitsMax} tries; its outcome stays unknown (read the state to check)`)
        continue
      }
      waiting.retransmits++
      waiting.retransmitAtMs = now + Math.min(retransmitMaxMs, retransmitFirstMs * 2 ** waiting.retransmits)
      this.sendRequest(waiting.request)
    }
    this.scheduleRetransmit()
  }

  /**
   * Retry a write whose outcome was unknown (504), by the request id it was answered with: the SAME
   * signed request (client, requestId, operation) again, so the replicas' client table makes it
   * exactly-once (executed → the recorded result; not executed → it executes once). Works after a
   * restart of this node too: the request is rebuilt from the id and the operation and signed again
   * with this node's key. Refused: another node's id (400), an id never issued (400), another
   * operation than the id's (422), an operation of a bundle this node no longer holds (410), no
   * quorum (503, nothing sent).
   */
  async retry (id: string, operation: string, options: { timeoutMs?: number } = {}): Promise<{ result: string, seq: number }> {
    if (this.stopped) throw new Error('node stopping')
    const parsed = parseRequestId(id)
    if (parsed == null) throw new RequestIdError(`request id "${id.slice(0, 80)}" is not one this API issues (<peerId>/<incarnation>/<n>[.<i>]-<digest>, as printed with a 504); retry without it for a new write`)
    if (parsed.peerId !== this.init.peerId) throw new RequestIdError(`request id ${id} was issued by node ${parsed.peerId}: retry it there (only that node can sign the request again)`)
    const client = `${parsed.peerId}/${parsed.incarnation}`
    const issued = parsed.incarnation < this.init.incarnation || (client === this.clientId && parsed.requestId < this.nextRequestId)
    if (!issued) throw new RequestIdError(`request id ${id} was never issued by this node; retry without it for a new write`)
    if (operationDigest(operation) !== parsed.digest) throw new RequestMismatchError(`request id ${id} was issued for another operation: send the same operation with it, or drop the request id for a new write`)
    const key = `${client}/${parsed.requestId}`
    const known = this.outcomes.get(key)
    if (known != null) return parsed.index == null ? known : bundleMember(known, parsed.index)
    let request = this.waiting.get(key)?.request
    if (request == null) {
      // not held here (a restart since, or answered and forgotten): rebuild it, unless it was a bundle
      if (parsed.index != null) throw new RequestIdError(`request id ${id} was one of several operations sent together, and this node no longer holds that request (restarted since, or too old): its outcome cannot be fetched by id; read the state to see whether it applied`, 410)
      request = { client, requestId: parsed.requestId, operation }
      request.signature = this.crypto.signAny(this.requestSignable(request))
    }
    const refusal = this.writeRefusal()
    if (refusal != null) throw new NoQuorumError(refusal.replace('the write was not sent and will not apply', 'the retry was not sent (the earlier attempt may still apply)'))
    const timeoutMs = options.timeoutMs ?? proposeTimeoutMsDefault
    let outcome: { result: string, seq: number }
    try {
      outcome = await this.await(request, timeoutMs, false)
    } catch (err) {
      if (!(err instanceof Undecided)) throw err
      throw new OutcomeUnknownError(`retry of ${id}: not decided within ${Math.round(timeoutMs)} ms (view change in progress, or no quorum): outcome still unknown; retry again with the same request id`, id)
    }
    this.remember(key, outcome)
    return parsed.index == null ? outcome : bundleMember(outcome, parsed.index)
  }

  status (): ConsensusStatus {
    const s = this.replica?.status()
    const n = this.validators.length
    return {
      mode: 'pbft',
      role: this.index != null ? 'validator' : 'observer',
      replica: this.index,
      n,
      f: faultsTolerated(n),
      view: s?.view ?? null,
      primary: s != null ? this.validators[s.primary] ?? null : null,
      active: s?.active ?? null,
      lastExecuted: this.lastExecuted(),
      stableSeq: s?.stableSeq ?? null,
      highestKnown: s?.highestKnown ?? this.learner?.highestKnown ?? null,
      behind: s?.behind ?? this.learner?.behind ?? 0,
      catchingUp: s?.catchingUp ?? (this.learner?.behind ?? 0) > 0,
      validators: this.init.genesis.validators.map((v, index) => ({
        index, peerId: v.peer_id, name: v.name, self: v.peer_id === this.init.peerId,
        connected: v.peer_id === this.init.peerId || this.init.isConnected(v.peer_id)
      })),
      dropped: { ...this.dropped },
      frames: { received: { ...this.received }, sent: { ...this.sent } },
      pendingClientRequests: this.waiting.size + this.queue.length,
      bundles: { ...this.bundles },
      persisted: { fsyncs: this.groups.count, records: this.groups.records },
      storageError: this.storageError?.message ?? null,
      ...(this.init.byzantine != null ? { byzantine: { mode: this.init.byzantine, equivocations: this.equivocations } } : {})
    }
  }
}
