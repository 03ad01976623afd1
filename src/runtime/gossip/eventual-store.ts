/**
 * The eventually consistent memory of a node (issue 12; DESIGN.md "shared, may lag"): the LWW map
 * (src/core/gossip/lww.ts) driven with the wall clock, persisted in the data dir (./eventual-log.ts),
 * spread and repaired by protocols/eventual/service.ts.
 *
 * The rule every node applies, so all converge to the same map once they hold the same writes: for one
 * key the write with the greatest hybrid logical clock timestamp wins — compared by wall-clock
 * milliseconds, then the logical counter, then the writer's PeerId (as a string, the greater wins). A
 * delete is a write too (a tombstone). Two different contents under one timestamp can only come from a
 * faulty writer: the tombstone loses to a value, then the greater value text wins.
 *
 * Tombstones are collected `tombstoneHorizonMs` (default 24 h) after their write; from then on a write
 * older than the collection floor arriving from a peer is refused ('beyond-horizon'), so a node cut off
 * for longer than the horizon cannot resurrect a deleted key. Timestamps more than 60 s ahead of our
 * clock are refused ('clock-ahead'). The store is bounded (lwwDefaults: 64 namespaces, 10,000 keys per
 * namespace counting tombstones, 64 KiB per value, 64 MiB in all): a write beyond a bound is refused with
 * the reason, locally as an HTTP error, from a peer as a counted refusal.
 */
import { compareHlc } from '../../core/gossip/hlc.js'
import { LwwMap } from '../../core/gossip/lww.js'
import type { Hlc, LwwEntry, LwwLimits, LwwRefusal, MergeResult } from '../../core/gossip/lww.js'
import type { EventualPubSub, EventualReplica, EventualSync, EventualVia } from '../../../protocols/eventual/service.js'
import type { EventualRejectReason } from '../../../protocols/eventual/constants.js'
import { compactLinesMin, EventualLog } from './eventual-log.js'

/** Tombstone collection runs this often. */
export const gcIntervalMs = 60_000

/** Local writes within this window are published in one gossip message. */
export const publishDelayMs = 2

/** A local write refused by the store: `status` is the HTTP answer. */
export class EventualWriteError extends Error {
  override readonly name = 'EventualWriteError'
  constructor (readonly status: number, readonly reason: LwwRefusal, message: string) {
    super(message)
  }
}

export interface EventualEntryView {
  namespace: string
  key: string
  /** null: deleted (only in write answers). */
  value: string | null
  hlc: Hlc
  /** The writer's PeerId (the timestamp's node). */
  writer: string
  /** The write's wall-clock time. */
  time: string
}

export interface EventualStoreStatus {
  namespaces: number
  keys: number
  tombstones: number
  bytes: number
  bytesMax: number
  clock: Hlc
  gcFloorMs: number
  tombstoneHorizonMs: number
  /** Entries applied from peers, by way. */
  applied: { gossip: number, antiEntropy: number }
  /** Refused entries and messages from peers, by reason. */
  rejected: Record<string, number>
  published: number
  exchanges: number
  exchangeFailures: number
  subscribers: number
  /** Lines of the log skipped at start (torn or damaged). */
  skippedAtLoad: number
}

export type EventualWire = Pick<EventualSync, 'setReplica' | 'publish' | 'subscribers' | 'exchange' | 'stats'>

export interface EventualStoreInit {
  self: string
  /** Where eventual.log lives; null keeps the store in memory only (tests). */
  dataDir: string | null
  wire: EventualWire | null
  pubsub: EventualPubSub | null
  /** Wall clock, ms since 1970. @default Date.now */
  now?: () => number
  limits?: Partial<LwwLimits>
  tombstoneHorizonMs?: number
  /**
   * [reputation] A peer handed us bytes or entries no honest node sends (oversize, undecodable, invalid
   * exchange, malformed entry): charged to it by the node's reputation. Refusals that depend on our own
   * state or clock (full, clock-ahead, beyond-horizon, names over our bounds) are not charged.
   */
  onRejected?: (peer: string, reason: string) => void
  log?: (line: string) => void
}

function viewOf (entry: LwwEntry): EventualEntryView {
  return { namespace: entry.namespace, key: entry.key, value: entry.value, hlc: entry.hlc, writer: entry.hlc.node, time: new Date(entry.hlc.wallMs).toISOString() }
}

function refusalError (reason: LwwRefusal, map: LwwMap, namespace: string, key: string): EventualWriteError {
  const l = map.limits
  switch (reason) {
    case 'malformed': return new EventualWriteError(400, reason, 'namespace and key must be non-empty strings')
    case 'name-too-long': return new EventualWriteError(400, reason, `namespace "${namespace.slice(0, 32)}…" is longer than ${l.namespaceLengthMax} characters`)
    case 'key-too-long': return new EventualWriteError(400, reason, `key "${key.slice(0, 32)}…" is longer than ${l.keyLengthMax} characters`)
    case 'value-too-large': return new EventualWriteError(413, reason, `value over ${l.valueBytesMax} bytes (UTF-8): bulk data belongs in task payloads`)
    case 'too-many-namespaces': return new EventualWriteError(507, reason, `the eventual store holds ${l.namespacesMax} namespaces already: write into an existing one, or delete every key of one (its tombstones are collected after the horizon)`)
    case 'namespace-full': return new EventualWriteError(507, reason, `namespace "${namespace}" holds ${l.keysPerNamespaceMax} keys already (deleted keys count until their tombstones are collected after the horizon)`)
    case 'store-full': return new EventualWriteError(507, reason, `the eventual store is full (${l.bytesMax} bytes of keys, values and writer ids)`)
    default: return new EventualWriteError(500, reason, `write refused: ${reason}`)
  }
}

/** [reputation] Refusals charged to the peer that sent them (see `EventualStoreInit.onRejected`). */
const chargedReasons: ReadonlySet<string> = new Set(['oversize', 'undecodable', 'invalid'])

export class EventualStore implements EventualReplica {
  readonly map: LwwMap
  private readonly now: () => number
  private readonly disk: EventualLog | null
  private readonly rejected = new Map<string, number>()
  private readonly applied = { gossip: 0, antiEntropy: 0 }
  private skippedAtLoad = 0
  private nextCompactCheck = compactLinesMin
  /** Bumped on every change of the map (writes, merges that applied, collection): invalidates `digests`. */
  private version = 0
  private digestsVersion = -1
  private digests: Array<[string, string]> | null = null
  private gcTimer?: ReturnType<typeof setInterval>
  private readonly outbox: LwwEntry[] = []
  private flushTimer?: ReturnType<typeof setTimeout>

  constructor (private readonly init: EventualStoreInit) {
    this.now = init.now ?? Date.now
    this.map = new LwwMap({ self: init.self, limits: init.limits, tombstoneHorizonMs: init.tombstoneHorizonMs })
    this.disk = init.dataDir != null ? new EventualLog(init.dataDir) : null
  }

  /** Load the log, compact it, attach to the wire and start tombstone collection. */
  start (): void {
    if (this.disk != null) {
      const loaded = this.disk.load()
      // merged like network entries: each validated, and our clock observes every stored timestamp,
      // so a write after a restart is greater than any before it
      // our own data: no drift bound (a wall clock stepped back since must not drop stored writes; the
      // HLC simply stays ahead of it, as it would have without the restart)
      const newest = loaded.entries.reduce<number>((max, raw) => {
        const wall = (raw as { hlc?: { wallMs?: unknown } }).hlc?.wallMs
        return typeof wall === 'number' && Number.isSafeInteger(wall) && wall > max ? wall : max
      }, this.now())
      const result = this.map.merge(loaded.entries, newest)
      this.map.restoreGcFloor(loaded.gcFloorMs)
      this.map.gc(this.now())
      this.skippedAtLoad = loaded.skipped + Object.values(result.refused).reduce((a, b) => a + b, 0)
      if (this.skippedAtLoad > 0) this.init.log?.(`eventual store: skipped ${this.skippedAtLoad} damaged or refused lines of ${this.disk.path}`)
      // always rewrite at start: drops superseded and torn lines (a torn last line must not swallow the next append)
      this.disk.rewrite(this.allEntries(), this.map.gcFloor())
      this.disk.start()
    }
    if (this.init.wire != null && this.init.pubsub != null) this.init.wire.setReplica(this, this.init.pubsub)
    this.gcTimer = setInterval(() => { this.collect() }, gcIntervalMs)
    this.gcTimer.unref?.()
  }

  /** Stop collection, publish what is still queued, close the log. */
  async stop (): Promise<void> {
    clearInterval(this.gcTimer)
    this.disk?.close()
    await this.flush()
  }

  /** Write a value; persisted before it resolves, published within `publishDelayMs`. Throws EventualWriteError. */
  async set (namespace: string, key: string, value: string): Promise<EventualEntryView> {
    const [entry] = this.writeLocal([{ namespace, key, value }])
    this.publishSoon([entry as LwwEntry])
    return viewOf(entry as LwwEntry)
  }

  /** Delete a key (a tombstone). Resolves the tombstone and whether a live value was there. */
  async delete (namespace: string, key: string): Promise<{ entry: EventualEntryView, existed: boolean }> {
    const existed = this.map.get(namespace, key) !== undefined
    const [entry] = this.writeLocal([{ namespace, key, value: null }])
    this.publishSoon([entry as LwwEntry])
    return { entry: viewOf(entry as LwwEntry), existed }
  }

  /**
   * Several writes of one namespace, in order: each is answered (stored, or refused with its reason);
   * the stored ones are persisted together and published in as few gossip messages as fit.
   */
  async setMany (namespace: string, puts: ReadonlyArray<{ key: string, value: string }>): Promise<Array<{ ok: true, entry: EventualEntryView } | { ok: false, code: number, reason: LwwRefusal, error: string }>> {
    const stored: LwwEntry[] = []
    const results = puts.map(put => {
      try {
        const [entry] = this.writeLocal([{ namespace, key: put.key, value: put.value }], false)
        stored.push(entry as LwwEntry)
        return { ok: true as const, entry: viewOf(entry as LwwEntry) }
      } catch (err) {
        if (!(err instanceof EventualWriteError)) throw err
        return { ok: false as const, code: err.status, reason: err.reason, error: err.message }
      }
    })
    this.disk?.append(stored)
    this.maybeCompact()
    this.publishSoon(stored)
    return results
  }

  get (namespace: string, key: string): EventualEntryView | undefined {
    const entry = this.map.entry(namespace, key)
    return entry === undefined || entry.value === null ? undefined : viewOf(entry)
  }

  /** Live entries of a namespace whose key starts with `prefix`, sorted by key, after `after`. */
  list (namespace: string, prefix: string, limit: number, after?: string): { entries: EventualEntryView[], more: boolean } {
    const keys = this.map.keys(namespace).filter(k => k.startsWith(prefix) && (after === undefined || k > after))
    const entries = keys.slice(0, limit).map(k => viewOf(this.map.entry(namespace, k) as LwwEntry))
    return { entries, more: keys.length > limit }
  }

  namespaces (): Array<{ namespace: string, keys: number, tombstones: number }> {
    return this.map.namespaceList().filter(n => n.keys > 0 || n.tombstones > 0)
  }

  status (): EventualStoreStatus {
    const list = this.map.namespaceList()
    const stats = this.init.wire?.stats
    const rejected: Record<string, number> = { ...this.map.refusalCounts() }
    for (const [reason, count] of this.rejected) rejected[reason] = (rejected[reason] ?? 0) + count
    return {
      namespaces: list.length,
      keys: list.reduce((a, n) => a + n.keys, 0),
      tombstones: list.reduce((a, n) => a + n.tombstones, 0),
      bytes: this.map.bytesUsed(),
      bytesMax: this.map.limits.bytesMax,
      clock: this.map.clockNow(),
      gcFloorMs: this.map.gcFloor(),
      tombstoneHorizonMs: this.map.tombstoneHorizonMs,
      applied: { ...this.applied },
      rejected,
      published: stats?.publishedEntries ?? 0,
      exchanges: stats?.exchanges ?? 0,
      exchangeFailures: stats?.failures ?? 0,
      subscribers: this.init.wire?.subscribers().length ?? 0,
      skippedAtLoad: this.skippedAtLoad
    }
  }

  /** Collect tombstones past the horizon (also run by a timer); persists the new floor. */
  collect (): number {
    const before = this.map.gcFloor()
    const removed = this.map.gc(this.now())
    if (removed > 0) this.version++
    if (this.map.gcFloor() !== before) this.disk?.appendFloor(this.map.gcFloor())
    this.maybeCompact()
    return removed
  }

  /**
   * Queue stored local writes for gossip: everything written within `publishDelayMs` goes out together
   * (one gossip message per ≤ 256 entries instead of one per write: each message costs every node a
   * receive, a validation and forwards, which bounded single writes at one per message).
   */
  private publishSoon (entries: readonly LwwEntry[]): void {
    if (this.init.wire == null || entries.length === 0) return
    this.outbox.push(...entries)
    if (this.flushTimer == null) this.flushTimer = setTimeout(() => { void this.flush() }, publishDelayMs)
  }

  private async flush (): Promise<void> {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    const entries = this.outbox.splice(0)
    if (entries.length > 0) await this.init.wire?.publish(entries)
  }

  // ── EventualReplica (protocols/eventual/service.ts) ──

  /** Cached until the next change: every anti-entropy exchange (each way, every few seconds) asks for them. */
  namespaceDigests (): Array<[string, string]> {
    if (this.digests == null || this.digestsVersion !== this.version) {
      this.digests = this.map.namespaceDigests()
      this.digestsVersion = this.version
    }
    return this.digests.map(([namespace, digest]) => [namespace, digest])
  }

  diffNamespaces (remote: ReadonlyArray<readonly [string, string]>): string[] {
    const mine = new Map(this.namespaceDigests())
    const theirs = new Map(remote)
    const out = new Set<string>()
    for (const [namespace, digest] of mine) if (theirs.get(namespace) !== digest) out.add(namespace)
    for (const [namespace, digest] of theirs) if (mine.get(namespace) !== digest) out.add(namespace)
    return [...out].sort()
  }
  keyVersions (namespace: string): ReturnType<LwwMap['keyVersions']> { return this.map.keyVersions(namespace) }
  diffKeys (namespace: string, remote: Parameters<LwwMap['diffKeys']>[1]): ReturnType<LwwMap['diffKeys']> { return this.map.diffKeys(namespace, remote) }
  entries (namespace: string, keys: readonly string[]): LwwEntry[] { return this.map.entries(namespace, keys) }

  merge (entries: readonly unknown[], from: string, via: EventualVia): MergeResult {
    const total: MergeResult = { applied: 0, stale: 0, refused: {} }
    const stored: LwwEntry[] = []
    const wallMs = this.now()
    // one at a time, so the entries that won are known (and only they are persisted)
    for (const raw of entries) {
      const result = this.map.merge([raw], wallMs)
      total.applied += result.applied
      total.stale += result.stale
      for (const [reason, count] of Object.entries(result.refused)) total.refused[reason as LwwRefusal] = (total.refused[reason as LwwRefusal] ?? 0) + count
      if (result.applied === 1) {
        const r = raw as LwwEntry
        const entry = this.map.entry(r.namespace, r.key)
        if (entry !== undefined && compareHlc(entry.hlc, r.hlc) === 0) stored.push(entry)
      }
    }
    if (total.applied > 0) this.version++
    // no honest node sends a malformed entry (each validates before it stores or forwards): one charge per message
    if ((total.refused.malformed ?? 0) > 0 && from !== this.init.self) this.init.onRejected?.(from, 'malformed')
    this.disk?.append(stored)
    if (via === 'gossip') this.applied.gossip += total.applied
    else this.applied.antiEntropy += total.applied
    this.maybeCompact()
    return total
  }

  onReject (reason: EventualRejectReason, from: string, _via: EventualVia): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1)
    if (chargedReasons.has(reason) && from !== this.init.self) this.init.onRejected?.(from, reason)
  }

  private writeLocal (writes: ReadonlyArray<{ namespace: string, key: string, value: string | null }>, persist = true): LwwEntry[] {
    const out: LwwEntry[] = []
    for (const write of writes) {
      const result = write.value === null
        ? this.map.delete(write.namespace, write.key, this.now())
        : this.map.set(write.namespace, write.key, write.value, this.now())
      if (!result.ok) throw refusalError(result.reason, this.map, write.namespace, write.key)
      this.version++
      out.push(result.entry)
    }
    if (persist) {
      this.disk?.append(out)
      this.maybeCompact()
    }
    return out
  }

  private * allEntries (): Generator<LwwEntry> {
    for (const [namespace, keys] of this.map.state()) {
      for (const [key, version] of keys) yield { namespace, key, value: version.value, hlc: version.hlc }
    }
  }

  private maybeCompact (): void {
    // counting the live entries is O(store): only every few thousand lines
    if (this.disk == null || this.disk.lineCount < this.nextCompactCheck) return
    this.nextCompactCheck = this.disk.lineCount + compactLinesMin / 4
    const live = this.map.namespaceList().reduce((a, n) => a + n.keys + n.tombstones, 0)
    if (this.disk.wantsCompaction(live)) {
      this.disk.rewrite(this.allEntries(), this.map.gcFloor())
      this.nextCompactCheck = Math.max(compactLinesMin, 2 * this.disk.lineCount)
    }
  }
}
