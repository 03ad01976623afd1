/**
 * The node's task record store: a task's payload (`/mesh-task/<id>`) and result
 * (`/mesh-task-result/<id>`) live on the 3 alive members whose Kademlia ids are XOR-closest to the
 * task's (`closestPeers(taskKadId(id))`, src/core/scheduler/dht.ts: the placement kad-dht would pick,
 * but on exactly 3 nodes instead of kad-dht's kBucketSize), over /mesh/<network>/records/1.0.0
 * (protocols/records/); [zones] when members carry zones (--zone), the 3 go to distinct zones
 * when at least 3 exist, the XOR-closest of each (src/core/zones.ts `zoneAwareClosest`).
 *
 * - `put` stores on those 3 (this node included when it is one of them) and resolves once 2 of them
 *   acknowledged; records are immutable (first write wins, the same value again is a no-op).
 * - `get` answers from the local copy, else asks the 3, then every other member, and checks the value.
 * - A repair round every few seconds re-places every record held here against the current alive
 *   members: a holder inside the set makes sure the others of the set hold it (a presence check, then a
 *   Store when missing; confirmed holders are remembered per incarnation, so nothing is re-sent every
 *   round); a holder outside the set (membership changed) does the same, and drops its copy once all 3
 *   confirmed and it has been outside for a grace period.
 *
 * Memory only, bounded by a byte budget (oldest records dropped first): nothing is written to the data
 * dir. A restarted node comes back empty and is refilled by the repair rounds of the other holders, so
 * a record is lost only if all its holders lose it within one repair round of each other.
 */
import { anySignal } from '../abort.js'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { closestPeers, taskKadId } from '../../core/scheduler/dht.js'
import { zoneAwareClosest } from '../../core/zones.js' // [zones]
import type { MemberState } from '../../core/membership.js'
import { Ack } from '../../../protocols/records/records.js'
import type { Store } from '../../../protocols/records/records.js'
import { StoreBatchUnsupportedError } from '../../../protocols/records/service.js'
import {
  checkRecord, isRecordKind, recordBatchBytesMax, recordBatchStoresMax, isTaskId, parseRecordKey, recordKey, recordReplicas, recordRequestTimeoutMs
} from '../../../protocols/records/constants.js'
import type { RecordKind } from '../../../protocols/records/constants.js'

export type { RecordKind }

/** What the store needs of the wire service (protocols/records/service.ts). */
export interface RecordWire {
  setHandlers: (handlers: {
    store: (store: Store, from: PeerId) => Ack
    fetch: (key: string, from: PeerId) => Uint8Array<ArrayBuffer> | null
  } | null) => void
  store: (peer: PeerId, store: Store, signal?: AbortSignal) => Promise<Ack>
  /**
   * Several stores in one exchange (2..recordBatchStoresMax, ≤ recordBatchBytesMax value bytes): one
   * ack per store. Optional; rejects with a `StoreBatchUnsupportedError` when the peer predates batches.
   */
  storeMany?: (peer: PeerId, stores: Store[], signal?: AbortSignal) => Promise<Ack[]>
  fetch: (peer: PeerId, key: string, signal?: AbortSignal) => Promise<Uint8Array | null>
  has: (peer: PeerId, key: string, signal?: AbortSignal) => Promise<boolean>
}

/** A member as the node's membership view shows it (`node.status().members`). */
export interface RecordMember {
  peerId: string
  state: MemberState
  /** A restarted member (new incarnation) has lost its copies: it is checked again. */
  incarnation?: number
  /** [zones] Its zone (null/absent: none, which counts as the zone ""): replicas go to distinct zones. */
  zone?: string | null
}

export interface RecordStoreOptions {
  /** This node's PeerId. */
  self: string
  wire: RecordWire
  /** The membership view, this node included. */
  members: () => readonly RecordMember[]
  /** Bytes of values (+ keys, + recordOverheadBytes per record) kept at most; the oldest records go first. Default 64 MiB. */
  budgetBytes?: number
  /** Default 3 s. */
  repairIntervalMs?: number
  /**
   * Whether the replicated task table still holds this task. A record of a task it does not hold, kept
   * longer than `orphanGraceMs`, is dropped: its task finished and was forgotten (the table keeps the
   * latest 2,000 finished), or was never accepted. Absent: records go only by the byte budget.
   */
  taskKnown?: (taskId: string) => boolean
  /** Default 10 min: a payload stored before its task's submit is decided must outlive that decision. */
  orphanGraceMs?: number
  /** How long a holder outside a record's replica set keeps its copy. Default 30 s. */
  handoffGraceMs?: number
  /** One Store / Fetch exchange. Default 10 s. */
  requestTimeoutMs?: number
  log?: (line: string) => void
  /** [reputation] A replica that did not answer a repair push (at most once per peer per repair round). */
  onRequestFailed?: (peer: string) => void
}

/** A refusal with the HTTP status that fits it. */
export class RecordError extends Error {
  constructor (readonly status: 400 | 404 | 409 | 413 | 503 | 504, message: string) {
    super(message)
    this.name = 'RecordError'
  }
}

export interface PutResult {
  key: string
  /** The replica set, closest first. */
  replicas: string[]
  /** The replicas that had acknowledged when the put resolved (≥ 2; the third may follow). */
  acked: string[]
}

export interface RecordStats {
  records: number
  bytes: number
  budgetBytes: number
  /** Records accepted here (writes, pushes from peers, read repair). */
  stored: number
  /** Stores refused because a different value was held. */
  conflicts: number
  /** Dropped to stay within the byte budget. */
  evicted: number
  /** Records dropped because their task left the task table (or never entered it) — see `taskKnown`. */
  orphansDropped: number
  /** Dropped after the replica set moved away from this node and held 3 copies. */
  handedOff: number
  puts: number
  putFailures: number
  /** Batched exchanges sent (several stores for one peer in one request). */
  batches: number
  gets: number
  /** Fetches sent to other nodes (reads that missed locally). */
  fetches: number
  storesReceived: number
  fetchesReceived: number
  /** Copies pushed by repair rounds that the receiver stored. */
  repairsPushed: number
  repairRounds: number
}

/** Majority of the replication factor: 2 of 3. */
const quorum = Math.floor(recordReplicas / 2) + 1
const defaultBudgetBytes = 64 * 1024 * 1024
/**
 * What one record costs this process besides its value and key: the entry object, its two holder
 * sets, the value's view and buffer, its 32-byte Kademlia id, the task id and the map slot (~0.7–1 KiB
 * measured in heap snapshots). Charged against the budget, so that a stream of small records (a task's
 * payload and result are often tens of bytes) cannot fill the heap long before their value bytes reach
 * the budget: the 100-minute soak's observer held ~4,000 more records every 30 minutes, ~1 KiB each,
 * with only ~100 bytes each counted (at that rate 64 MiB of values would have been ~600 MiB of heap).
 */
export const recordOverheadBytes = 1024
/** Values up to this size are pushed without a presence check first (the check would cost as much). */
const pushWithoutCheckBytes = 4 * 1024
/** Exchanges a repair round runs at once, and at most per round (the rest waits for the next). */
const repairConcurrency = 8
const repairExchangesMax = 256
/** Parallel fetches to members outside the replica set, per batch. */
const fetchBatch = 8

interface Entry {
  key: string
  kind: RecordKind
  taskId: string
  value: Uint8Array<ArrayBuffer>
  kadId: Uint8Array
  /** `peerId#incarnation` of members confirmed to hold this record. */
  holders: Set<string>
  /** `peerId#incarnation` of members holding a different value: not copies, and not asked again. */
  conflicting: Set<string>
  /** The membership fingerprint for which nothing is left to do, or null. */
  settledFor: string | null
  /** Since when this node is outside the replica set (performance.now()), or null. */
  outsideSince: number | null
  /** When this node took the record (performance.now()): orphans are dropped only after a grace. */
  storedAt: number
}

interface View {
  alive: string[]
  /** Alive or suspect, without this node: who a read may ask. */
  reachable: string[]
  tag: (peerId: string) => string
  fingerprint: string
  /** [zones] A member's zone ('' for none). */
  zoneOf: (peerId: string) => string
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/** Any of them (not AbortSignal.any, which leaks one entry per call on the long-lived lifetime signal: src/runtime/abort.ts). */
const signals = anySignal

export class RecordStore {
  private readonly entries = new Map<string, Entry>()
  private bytes = 0
  private timer: ReturnType<typeof setInterval> | null = null
  private repairing = false
  private readonly lifetime = new AbortController()
  private readonly budgetBytes: number
  private readonly repairIntervalMs: number
  private readonly orphanGraceMs: number
  private orphanSweptAt = -Infinity
  private readonly handoffGraceMs: number
  private readonly requestTimeoutMs: number
  /** Stores waiting for this turn's batch, per peer (see `sendStore`). */
  private readonly outbox = new Map<string, Array<{ store: Store, resolve: (ack: Ack) => void, reject: (err: Error) => void }>>()
  private outboxScheduled = false
  private readonly counters = {
    batches: 0,
    stored: 0, conflicts: 0, evicted: 0, orphansDropped: 0, handedOff: 0, puts: 0, putFailures: 0, gets: 0, fetches: 0,
    storesReceived: 0, fetchesReceived: 0, repairsPushed: 0, repairRounds: 0
  }

  constructor (private readonly options: RecordStoreOptions) {
    this.budgetBytes = options.budgetBytes ?? defaultBudgetBytes
    this.repairIntervalMs = options.repairIntervalMs ?? 3_000
    this.orphanGraceMs = options.orphanGraceMs ?? 600_000
    this.handoffGraceMs = options.handoffGraceMs ?? 30_000
    this.requestTimeoutMs = options.requestTimeoutMs ?? recordRequestTimeoutMs
  }

  /** Serve the wire protocol and start the repair rounds. */
  start (): void {
    this.options.wire.setHandlers({
      store: (store, from) => this.serveStore(store, from),
      fetch: (key) => {
        this.counters.fetchesReceived++
        return this.entries.get(key)?.value ?? null
      }
    })
    if (this.timer == null) {
      this.timer = setInterval(() => { void this.repair() }, this.repairIntervalMs)
      this.timer.unref()
    }
  }

  /** Stop serving, stop repairing, abort exchanges in flight. Records stay in memory until exit. */
  stop (): void {
    if (this.timer != null) clearInterval(this.timer)
    this.timer = null
    this.options.wire.setHandlers(null)
    this.lifetime.abort(new Error('record store stopped'))
  }

  /**
   * Store `value` (JSON text, ≤ 1 MiB) as the task's payload or result on its 3 replicas. Resolves
   * once 2 acknowledged; rejects with a RecordError: 400 bad task id or not JSON, 413 too large, 409 a
   * different value is held (records are immutable), 503 fewer than 2 replicas reachable.
   */
  async put (taskId: string, kind: RecordKind, value: string, options: { signal?: AbortSignal } = {}): Promise<PutResult> {
    const key = keyOf(kind, taskId)
    const bytes = encoder.encode(value)
    const problem = checkRecord(key, kind, bytes)
    if (problem != null) throw new RecordError(problem.problem === 'too-large' ? 413 : 400, problem.message)
    const held = this.entries.get(key)
    if (held != null && !equalBytes(held.value, bytes)) {
      throw new RecordError(409, `${key} already holds a different value (records are immutable: the first write wins)`)
    }
    const view = this.view()
    const replicas = this.replicaSet(taskKadId(taskId), view)
    if (replicas.length < quorum) {
      throw new RecordError(503, `only ${replicas.length} alive member(s): a record needs ${quorum} of ${recordReplicas} replicas to acknowledge`)
    }
    this.counters.puts++
    const store: Store = { key, kind, value: bytes }
    const acked: string[] = []
    const failures: string[] = []
    let conflicts = 0
    if (replicas.includes(this.options.self)) {
      const ack = this.accept(key, kind, taskId, bytes)
      if (ack.outcome === Ack.Outcome.STORED || ack.outcome === Ack.Outcome.ALREADY_HELD) acked.push(this.options.self)
      else if (ack.outcome === Ack.Outcome.CONFLICT) { conflicts++; failures.push(`self: ${ack.error}`) } else failures.push(`self: ${ack.error}`)
    }
    const remote = replicas.filter(p => p !== this.options.self)
    return await new Promise<PutResult>((resolve, reject) => {
      let pending = remote.length
      let done = false
      const settle = (): void => {
        if (done) return
        if (acked.length >= quorum) {
          done = true
          resolve({ key, replicas, acked: [...acked] })
        } else if (acked.length + pending < quorum) {
          done = true
          this.counters.putFailures++
          const detail = failures.join('; ')
          reject(conflicts > 0
            ? new RecordError(409, `${key}: a different value is already stored (records are immutable: the first write wins): ${detail}`)
            : new RecordError(503, `${key}: ${acked.length} of ${recordReplicas} replicas acknowledged, ${quorum} needed: ${detail}`))
        }
      }
      settle()
      for (const peer of remote) {
        const signal = signals(options.signal, this.lifetime.signal, AbortSignal.timeout(this.requestTimeoutMs))
        void this.sendStore(peer, store, signal).then(ack => {
          if (ack.outcome === Ack.Outcome.STORED || ack.outcome === Ack.Outcome.ALREADY_HELD) {
            acked.push(peer)
            this.entries.get(key)?.holders.add(view.tag(peer))
          } else {
            if (ack.outcome === Ack.Outcome.CONFLICT) conflicts++
            failures.push(`${short(peer)}: ${ack.outcome} ${ack.error}`.trim())
          }
        }, (err: Error) => {
          failures.push(`${short(peer)}: ${err.message}`)
        }).finally(() => {
          pending--
          settle()
        })
      }
    })
  }

  /**
   * The task's payload or result: the local copy, else fetched from its replicas, then from any other
   * member (the value checked: JSON, ≤ 1 MiB). Null when nobody asked holds it; a RecordError 504
   * when the wait ran out first. A node that is one of the record's replicas keeps what it fetched.
   */
  /**
   * `accept` selects among the copies found: a copy it refuses (e.g. one whose SHA-256 is not the digest
   * the task table committed) is skipped and the next holder is asked.
   */
  async get (taskId: string, kind: RecordKind, options: { signal?: AbortSignal, timeoutMs?: number, accept?: (value: Uint8Array) => boolean } = {}): Promise<string | null> {
    const key = keyOf(kind, taskId)
    const accept = options.accept ?? (() => true)
    const local = this.entries.get(key)
    if (local != null && accept(local.value)) return decoder.decode(local.value)
    this.counters.gets++
    const signal = signals(options.signal, this.lifetime.signal, AbortSignal.timeout(options.timeoutMs ?? this.requestTimeoutMs))
    const view = this.view()
    const kadId = taskKadId(taskId)
    const replicas = this.replicaSet(kadId, view)
    const others = closestPeers(kadId, view.reachable).filter(p => !replicas.includes(p))
    let value = await this.firstFound(replicas.filter(p => p !== this.options.self), key, kind, signal, accept)
    for (let i = 0; value == null && i < others.length && !signal.aborted; i += fetchBatch) {
      value = await this.firstFound(others.slice(i, i + fetchBatch), key, kind, signal, accept)
    }
    if (value == null) {
      if (signal.aborted && options.signal?.aborted !== true) throw new RecordError(504, `${key}: not found before the wait ran out`)
      return null
    }
    if (replicas.includes(this.options.self)) this.accept(key, kind, taskId, value)
    return decoder.decode(value)
  }

  /** The local copy only (JSON text), or null. */
  local (taskId: string, kind: RecordKind): string | null {
    if (!isTaskId(taskId)) return null
    const entry = this.entries.get(recordKey(kind, taskId))
    return entry != null ? decoder.decode(entry.value) : null
  }

  /** The 3 alive members XOR-closest to the task, closest first, in this node's view. */
  replicas (taskId: string): string[] {
    return this.replicaSet(taskKadId(taskId), this.view())
  }

  stats (): RecordStats {
    return { records: this.entries.size, bytes: this.bytes, budgetBytes: this.budgetBytes, ...this.counters }
  }

  /**
   * One repair round (the timer runs one every few seconds; a round still running makes the next one
   * a no-op). Never throws.
   */
  async repair (): Promise<void> {
    if (this.repairing || this.lifetime.signal.aborted) return
    this.repairing = true
    try {
      this.counters.repairRounds++
      this.dropOrphans()
      const view = this.view()
      const now = performance.now()
      const jobs: Array<() => Promise<void>> = []
      // a member that did not answer is skipped for the rest of the round: an unreachable peer not yet
      // suspected must not hold a round up for (records × timeout)
      const unanswered = new Set<string>()
      for (const entry of [...this.entries.values()]) {
        if (jobs.length >= repairExchangesMax) break
        if (entry.settledFor === view.fingerprint) continue
        if (entry.holders.size > 64) entry.holders.clear()
        if (entry.conflicting.size > 64) entry.conflicting.clear()
        const replicas = this.replicaSet(entry.kadId, view)
        const inside = replicas.includes(this.options.self)
        entry.outsideSince = inside ? null : (entry.outsideSince ?? now)
        const missing = replicas.filter(p => p !== this.options.self && !entry.holders.has(view.tag(p)) && !entry.conflicting.has(view.tag(p)))
        if (missing.length === 0) {
          if (inside) {
            entry.settledFor = view.fingerprint
          } else if (replicas.length >= recordReplicas && replicas.every(p => entry.holders.has(view.tag(p))) &&
            now - (entry.outsideSince ?? now) >= this.handoffGraceMs) {
            this.remove(entry)
            this.counters.handedOff++
          }
          continue
        }
        for (const peer of missing) {
          jobs.push(async () => {
            if (unanswered.has(peer) || !await this.push(entry, peer, view.tag(peer))) unanswered.add(peer)
          })
        }
      }
      await runLimited(jobs, repairConcurrency)
    } catch (err) {
      this.options.log?.(`records: repair round failed: ${(err as Error).message}`)
    } finally {
      this.repairing = false
    }
  }

  /**
   * Make sure `peer` holds `entry`: a presence check (skipped for small values), then a Store.
   * Resolves false when the peer did not answer.
   */
  private async push (entry: Entry, peer: string, tag: string): Promise<boolean> {
    const id = peerIdFromString(peer)
    try {
      const signal = (): AbortSignal => signals(this.lifetime.signal, AbortSignal.timeout(this.requestTimeoutMs))
      if (entry.value.byteLength > pushWithoutCheckBytes && await this.options.wire.has(id, entry.key, signal())) {
        entry.holders.add(tag)
        return true
      }
      const ack = await this.sendStore(peer, { key: entry.key, kind: entry.kind, value: entry.value }, signal())
      if (ack.outcome === Ack.Outcome.STORED) {
        this.counters.repairsPushed++
        entry.holders.add(tag)
      } else if (ack.outcome === Ack.Outcome.ALREADY_HELD) {
        entry.holders.add(tag)
      } else if (ack.outcome === Ack.Outcome.CONFLICT) {
        // a different value there cannot be repaired from here; it does not count as a copy
        entry.conflicting.add(tag)
        this.options.log?.(`records: ${short(peer)} holds a different value for ${entry.key}: not a copy of ours`)
      }
      // REFUSED (it does not know us as a member yet, or its budget): the next round asks again
      return true
    } catch {
      // unreachable now: the next round tries again (or the member leaves the alive set)
      if (!this.lifetime.signal.aborted) this.options.onRequestFailed?.(peer)
      return false
    }
  }

  /**
   * Send a Store to `peer`, together with the other stores for that peer made in this turn of the
   * event loop (puts of a batch of submits or of results, a repair round): one exchange for up to
   * recordBatchStoresMax of them instead of one each. A batch times out as a whole (requestTimeoutMs);
   * `signal` only stops a store that has not left yet.
   */
  private async sendStore (peer: string, store: Store, signal: AbortSignal): Promise<Ack> {
    const wire = this.options.wire
    if (wire.storeMany == null) return await wire.store(peerIdFromString(peer), store, signal)
    signal.throwIfAborted()
    return await new Promise<Ack>((resolve, reject) => {
      let list = this.outbox.get(peer)
      if (list == null) { list = []; this.outbox.set(peer, list) }
      list.push({ store, resolve, reject })
      if (!this.outboxScheduled) {
        this.outboxScheduled = true
        setImmediate(() => { this.outboxScheduled = false; this.flushOutbox() })
      }
    })
  }

  private flushOutbox (): void {
    const wire = this.options.wire
    for (const [peer, list] of this.outbox) {
      this.outbox.delete(peer)
      const id = peerIdFromString(peer)
      const single = (item: { store: Store, resolve: (ack: Ack) => void, reject: (err: Error) => void }): void => {
        wire.store(id, item.store, signals(this.lifetime.signal, AbortSignal.timeout(this.requestTimeoutMs))).then(item.resolve, item.reject)
      }
      let at = 0
      while (at < list.length) {
        // the next batch: up to recordBatchStoresMax stores and recordBatchBytesMax value bytes
        let end = at
        let bytes = 0
        while (end < list.length && end - at < recordBatchStoresMax && (end === at || bytes + (list[end]?.store.value.byteLength ?? 0) <= recordBatchBytesMax)) {
          bytes += list[end]?.store.value.byteLength ?? 0
          end++
        }
        const batch = list.slice(at, end)
        at = end
        if (batch.length === 1 || bytes > recordBatchBytesMax || wire.storeMany == null) { batch.forEach(single); continue }
        this.counters.batches++
        wire.storeMany(id, batch.map(b => b.store), signals(this.lifetime.signal, AbortSignal.timeout(this.requestTimeoutMs))).then(
          acks => { batch.forEach((b, i) => { b.resolve(acks[i] as Ack) }) },
          (err: Error) => {
            // a peer that predates batches: the same stores one by one
            if (err instanceof StoreBatchUnsupportedError) batch.forEach(single)
            else batch.forEach(b => { b.reject(err) })
          })
      }
    }
  }

  private serveStore (store: Store, from: PeerId): Ack {
    this.counters.storesReceived++
    const sender = from.toString()
    if (!this.options.members().some(m => m.peerId === sender)) {
      return { outcome: Ack.Outcome.REFUSED, error: 'the sender is not a member of this mesh' }
    }
    const parsed = parseRecordKey(store.key)
    if (parsed == null || !isRecordKind(store.kind)) return { outcome: Ack.Outcome.INVALID, error: 'bad key or kind' }
    const ack = this.accept(store.key, parsed.kind, parsed.taskId, store.value)
    if (ack.outcome === Ack.Outcome.STORED || ack.outcome === Ack.Outcome.ALREADY_HELD) {
      // a sender inside the replica set holds the record itself (a writer among the replicas keeps its
      // own copy first; a repair push comes from a holder): the repair round need not push it back.
      // Without this, each replica that received a write pushed it again to both others
      const entry = this.entries.get(store.key)
      const view = this.view()
      if (entry != null && this.replicaSet(entry.kadId, view).includes(sender)) entry.holders.add(view.tag(sender))
    }
    return ack
  }

  /** Keep a checked record: first write wins; the oldest records make room. */
  private accept (key: string, kind: RecordKind, taskId: string, value: Uint8Array): Ack {
    const held = this.entries.get(key)
    if (held != null) {
      if (equalBytes(held.value, value)) return { outcome: Ack.Outcome.ALREADY_HELD, error: '' }
      this.counters.conflicts++
      return { outcome: Ack.Outcome.CONFLICT, error: 'a different value is held for this key (first write wins)' }
    }
    const size = value.byteLength + key.length + recordOverheadBytes
    if (size > this.budgetBytes) return { outcome: Ack.Outcome.REFUSED, error: 'larger than this node\'s record budget' }
    for (const oldest of this.entries.values()) {
      if (this.bytes + size <= this.budgetBytes) break
      this.remove(oldest)
      this.counters.evicted++
    }
    // a copy of our own, detached from the (possibly pooled) buffer it arrived in
    this.entries.set(key, { key, kind, taskId, value: new Uint8Array(value), kadId: taskKadId(taskId), holders: new Set(), conflicting: new Set(), settledFor: null, outsideSince: null, storedAt: performance.now() })
    this.bytes += size
    this.counters.stored++
    return { outcome: Ack.Outcome.STORED, error: '' }
  }

  /**
   * Records whose task the table no longer holds, once older than the grace: at most once a minute
   * (a pass looks at every record). Entries are in insertion order, so the pass stops at the first one
   * still within its grace.
   */
  private dropOrphans (): void {
    const known = this.options.taskKnown
    if (known == null) return
    const now = performance.now()
    if (now - this.orphanSweptAt < Math.min(60_000, this.orphanGraceMs)) return
    this.orphanSweptAt = now
    for (const entry of [...this.entries.values()]) {
      if (now - entry.storedAt < this.orphanGraceMs) break
      if (!known(entry.taskId)) {
        this.remove(entry)
        this.counters.orphansDropped++
      }
    }
  }

  private remove (entry: Entry): void {
    if (this.entries.delete(entry.key)) this.bytes -= entry.value.byteLength + entry.key.length + recordOverheadBytes
  }

  /**
   * [zones] A record's replica set in `view`: the `recordReplicas` alive members XOR-closest to it, over
   * distinct zones when that many exist (src/core/zones.ts `zoneAwareClosest`; with no zones, exactly
   * the XOR-closest), closest first.
   */
  private replicaSet (kadId: Uint8Array, view: View): string[] {
    return zoneAwareClosest(kadId, view.alive, view.zoneOf, recordReplicas)
  }

  private view (): View {
    const self = this.options.self
    const alive: string[] = []
    const reachable: string[] = []
    const tags = new Map<string, string>()
    const zones = new Map<string, string>() // [zones]
    let selfSeen = false
    for (const m of this.options.members()) {
      tags.set(m.peerId, `${m.peerId}#${m.incarnation ?? 0}`)
      if (m.zone != null && m.zone !== '') zones.set(m.peerId, m.zone)
      if (m.peerId === self) { selfSeen = true; if (!alive.includes(self)) alive.push(self); continue }
      if (m.state === 'alive') alive.push(m.peerId)
      if (m.state === 'alive' || m.state === 'suspect') reachable.push(m.peerId)
    }
    if (!selfSeen) alive.push(self)
    const tag = (peerId: string): string => tags.get(peerId) ?? `${peerId}#0`
    const zoneOf = (peerId: string): string => zones.get(peerId) ?? ''
    // [zones] a zone change moves replica sets: it is part of the fingerprint
    return { alive, reachable, tag, zoneOf, fingerprint: alive.map(p => `${tag(p)}@${zoneOf(p)}`).sort().join(',') }
  }

  /** Ask `peers` at once; the first valid value wins and the other requests are aborted. */
  private async firstFound (peers: string[], key: string, kind: RecordKind, signal: AbortSignal, accept: (value: Uint8Array) => boolean): Promise<Uint8Array | null> {
    if (peers.length === 0 || signal.aborted) return null
    const found = new AbortController()
    const both = signals(signal, found.signal)
    let result: Uint8Array | null = null
    await Promise.allSettled(peers.map(async peer => {
      this.counters.fetches++
      const value = await this.options.wire.fetch(peerIdFromString(peer), key, both)
      if (value != null && result == null && checkRecord(key, kind, value) == null && accept(value)) {
        result = value
        found.abort()
      }
    }))
    return result
  }
}

function keyOf (kind: RecordKind, taskId: string): string {
  if (!isRecordKind(kind)) throw new RecordError(400, `kind must be "payload" or "result", not "${String(kind).slice(0, 20)}"`)
  if (!isTaskId(taskId)) throw new RecordError(400, `bad task id "${String(taskId).slice(0, 70)}": 1-64 characters of A-Z a-z 0-9 _ . : -`)
  return recordKey(kind, taskId)
}

function short (peerId: string): string {
  return peerId.length > 12 ? `…${peerId.slice(-8)}` : peerId
}

/** Run `jobs` with at most `limit` at once. */
async function runLimited (jobs: Array<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++] as () => Promise<void>
      await job()
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker))
}
