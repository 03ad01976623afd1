/**
 * An eventually consistent last-writer-wins map per namespace: the gossip memory store of a mesh
 * without a decision log (DESIGN.md: "shared, may lag"). Pure: wall time is passed in, no I/O.
 *
 * - Every write (set or delete) carries a hybrid logical clock timestamp (./hlc.ts); for one key the
 *   write with the greatest timestamp wins, everywhere, whatever the order writes arrive in. Equal
 *   timestamps with different contents (only a faulty node can produce them) are ordered by content
 *   so that merge stays commutative.
 * - A delete is a tombstone (value null) so that it wins over older sets arriving later. Tombstones are
 *   collected once older than `tombstoneHorizonMs`; from then on any remote write older than the
 *   collection floor is refused ('beyond-horizon'): it might be a set the collected tombstone had
 *   beaten, and accepting it would resurrect the key. The horizon must therefore exceed the longest
 *   time a node may stay partitioned and still hold unmerged writes.
 * - Bounded: names and values have maximum lengths, each namespace a maximum number of keys
 *   (tombstones included, they occupy memory) and the store a maximum of bytes; a write that would
 *   exceed a bound is refused with the reason. Bounds depend on arrival order, so the merge laws hold
 *   for stores below their bounds (the bound is a safety net, not part of the semantics).
 * - Anti-entropy by digests: `namespaceDigests()` (one hash per namespace over its sorted
 *   (key, timestamp, content digest) triples) is exchanged first; for a namespace whose digest differs, the
 *   peers swap `keyVersions(ns)` and `diffKeys()` says which entries to push and which keys to pull.
 *   The hash is FNV-1a (2 × 32 bits): it detects differences, it authenticates nothing.
 */
import { compareHlc, formatHlc, HybridClock, isHlc } from './hlc.js'
import type { Hlc } from './hlc.js'

export type { Hlc } from './hlc.js'

export interface LwwLimits {
  namespacesMax: number
  namespaceLengthMax: number
  keysPerNamespaceMax: number
  keyLengthMax: number
  /** UTF-8 bytes of one value. */
  valueBytesMax: number
  /** UTF-8 bytes of all namespaces, keys, values and timestamps' node ids held. */
  bytesMax: number
  nodeLengthMax: number
}

export const lwwDefaults: LwwLimits & { tombstoneHorizonMs: number, driftMaxMs: number } = {
  namespacesMax: 64,
  namespaceLengthMax: 64,
  keysPerNamespaceMax: 10_000,
  keyLengthMax: 256,
  /** A memory value is a small JSON document; bulk goes to the DHT. */
  valueBytesMax: 64 * 1024,
  bytesMax: 64 * 1024 * 1024,
  /** PeerIds are ~52 characters. */
  nodeLengthMax: 128,
  /** One day: longer than any partition we expect to heal by merging. */
  tombstoneHorizonMs: 24 * 60 * 60 * 1000,
  /** A remote timestamp more than a minute ahead of our clock is refused. */
  driftMaxMs: 60_000
}

export interface LwwConfig {
  self: string
  limits?: Partial<LwwLimits>
  tombstoneHorizonMs?: number
  driftMaxMs?: number
}

/** One write as stored and exchanged: value null is a tombstone (a delete). */
export interface LwwEntry {
  namespace: string
  key: string
  value: string | null
  hlc: Hlc
}

interface Stored { value: string | null, hlc: Hlc }

/** What anti-entropy exchanges per key: key, timestamp, digest of the content (see `keyVersions`). */
export type KeyVersion = [string, Hlc, string]

/** Digest of a value, or 't' for a tombstone (a value digest is 16 hex digits, never 't'). */
export function contentDigest (value: string | null): string {
  return value === null ? 't' : digestOf(value)
}

export type LwwRefusal =
  | 'malformed' | 'name-too-long' | 'key-too-long' | 'value-too-large' | 'too-many-namespaces'
  | 'namespace-full' | 'store-full' | 'clock-ahead' | 'beyond-horizon'

export type WriteResult = { ok: true, entry: LwwEntry } | { ok: false, reason: LwwRefusal }

export interface MergeResult {
  /** Remote entries that won and were stored. */
  applied: number
  /** Remote entries that lost to (or equalled) what we hold. */
  stale: number
  refused: Partial<Record<LwwRefusal, number>>
}

/** The order of two versions of one key: timestamp, then tombstone before value, then value text. */
export function compareVersions (a: Stored, b: Stored): number {
  const byHlc = compareHlc(a.hlc, b.hlc)
  if (byHlc !== 0) return byHlc
  if (a.value === b.value) return 0
  if (a.value === null) return -1
  if (b.value === null) return 1
  return a.value < b.value ? -1 : 1
}

/** The state as plain data: namespace → key → version. */
export type LwwState = ReadonlyMap<string, ReadonlyMap<string, Stored>>

/** Join of two states (no bounds): per key the greater version. Commutative, associative, idempotent. */
export function mergeStates (a: LwwState, b: LwwState): LwwState {
  const out = new Map<string, Map<string, Stored>>()
  for (const state of [a, b]) {
    for (const [namespace, keys] of state) {
      let target = out.get(namespace)
      if (target === undefined) { target = new Map(); out.set(namespace, target) }
      for (const [key, version] of keys) {
        const mine = target.get(key)
        if (mine === undefined || compareVersions(version, mine) > 0) target.set(key, version)
      }
    }
  }
  return out
}

export function utf8Length (text: string): number {
  let bytes = 0
  for (const char of text) {
    const code = char.codePointAt(0) as number
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4
  }
  return bytes
}

/** Bytes an entry costs: key, value, the timestamp's node id and 16 for its two numbers. */
function entryBytes (key: string, version: Stored): number {
  return utf8Length(key) + (version.value === null ? 0 : utf8Length(version.value)) + utf8Length(version.hlc.node) + 16
}

function fnv1a (text: string, offset: number): number {
  let hash = offset >>> 0
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash >>> 0
}

/** 64-bit FNV-1a-style digest as 16 hex digits (two 32-bit lanes with different offsets). */
export function digestOf (text: string): string {
  return fnv1a(text, 0x811C9DC5).toString(16).padStart(8, '0') + fnv1a(text, 0x050C5D1F).toString(16).padStart(8, '0')
}

export class LwwMap {
  readonly limits: LwwLimits
  readonly tombstoneHorizonMs: number
  private readonly clock: HybridClock
  private readonly namespaces = new Map<string, Map<string, Stored>>()
  private bytes = 0
  /** Remote writes with a wall time below this are refused: tombstones up to here were collected. */
  private gcFloorMs = 0
  private readonly refusals = new Map<LwwRefusal, number>()

  constructor (readonly config: LwwConfig) {
    this.limits = { ...lwwDefaults, ...config.limits }
    this.tombstoneHorizonMs = config.tombstoneHorizonMs ?? lwwDefaults.tombstoneHorizonMs
    this.clock = new HybridClock(config.self, config.driftMaxMs ?? lwwDefaults.driftMaxMs)
  }

  /** Write `value` under (namespace, key), timestamped now. */
  set (namespace: string, key: string, value: string, wallMs: number): WriteResult {
    return this.local(namespace, key, value, wallMs)
  }

  /** Delete (namespace, key): a tombstone, timestamped now. */
  delete (namespace: string, key: string, wallMs: number): WriteResult {
    return this.local(namespace, key, null, wallMs)
  }

  get (namespace: string, key: string): string | undefined {
    return this.namespaces.get(namespace)?.get(key)?.value ?? undefined
  }

  entry (namespace: string, key: string): LwwEntry | undefined {
    const version = this.namespaces.get(namespace)?.get(key)
    return version === undefined ? undefined : { namespace, key, value: version.value, hlc: { ...version.hlc } }
  }

  /** Live keys of a namespace, sorted. */
  keys (namespace: string): string[] {
    return [...(this.namespaces.get(namespace) ?? new Map<string, Stored>())].filter(([, v]) => v.value !== null).map(([k]) => k).sort()
  }

  /** Namespaces (sorted) with their live keys and tombstones. */
  namespaceList (): Array<{ namespace: string, keys: number, tombstones: number }> {
    return [...this.namespaces].sort((a, b) => a[0] < b[0] ? -1 : 1).map(([namespace, keys]) => {
      let tombstones = 0
      for (const version of keys.values()) if (version.value === null) tombstones++
      return { namespace, keys: keys.size - tombstones, tombstones }
    })
  }

  /** The whole state as plain data (a copy), tombstones included. */
  state (): LwwState {
    const out = new Map<string, Map<string, Stored>>()
    for (const [namespace, keys] of this.namespaces) out.set(namespace, new Map([...keys].map(([k, v]) => [k, { value: v.value, hlc: { ...v.hlc } }])))
    return out
  }

  bytesUsed (): number {
    return this.bytes
  }

  clockNow (): Hlc {
    return this.clock.current()
  }

  refusalCounts (): Record<string, number> {
    return Object.fromEntries([...this.refusals].sort((a, b) => a[0] < b[0] ? -1 : 1))
  }

  /** Merge entries received from a peer (validated one by one; a bad entry is refused, the rest go on). */
  merge (entries: readonly unknown[], wallMs: number): MergeResult {
    const result: MergeResult = { applied: 0, stale: 0, refused: {} }
    for (const raw of entries) {
      const checked = this.validate(raw)
      let outcome: LwwRefusal | 'applied' | 'stale'
      if (typeof checked === 'string') outcome = checked
      else if (checked.hlc.wallMs < this.gcFloorMs) outcome = 'beyond-horizon'
      else if (!this.clock.observe(checked.hlc, wallMs)) outcome = 'clock-ahead'
      else outcome = this.put(checked.namespace, checked.key, { value: checked.value, hlc: checked.hlc })
      if (outcome === 'applied') result.applied++
      else if (outcome === 'stale') result.stale++
      else {
        result.refused[outcome] = (result.refused[outcome] ?? 0) + 1
        this.refusals.set(outcome, (this.refusals.get(outcome) ?? 0) + 1)
      }
    }
    return result
  }

  /**
   * Collect tombstones older than the horizon; returns how many. Raises the floor below which remote
   * writes are refused (see the header): never lowered.
   */
  gc (wallMs: number): number {
    const floor = wallMs - this.tombstoneHorizonMs
    if (floor <= this.gcFloorMs) return 0
    this.gcFloorMs = floor
    let removed = 0
    for (const [namespace, keys] of this.namespaces) {
      for (const [key, version] of keys) {
        if (version.value === null && version.hlc.wallMs < floor) {
          keys.delete(key)
          this.bytes -= entryBytes(key, version)
          removed++
        }
      }
      if (keys.size === 0) {
        this.namespaces.delete(namespace)
        this.bytes -= utf8Length(namespace)
      }
    }
    return removed
  }

  /** The collection floor: remote writes older than it are refused (persist it with the entries). */
  gcFloor (): number {
    return this.gcFloorMs
  }

  /**
   * Restore a persisted collection floor at start, after the persisted entries were merged (never
   * lowers it). Tombstones below it stay until the next `gc`.
   */
  restoreGcFloor (floorMs: number): void {
    if (Number.isSafeInteger(floorMs) && floorMs > this.gcFloorMs) this.gcFloorMs = floorMs
  }

  /** One digest per namespace, sorted by namespace. */
  namespaceDigests (): Array<[string, string]> {
    return [...this.namespaces.keys()].sort().map(namespace => [namespace, this.namespaceDigest(namespace)])
  }

  namespaceDigest (namespace: string): string {
    const lines = this.keyVersions(namespace).map(([key, hlc, content]) => `${key}\u0000${formatHlc(hlc)}\u0000${content}`)
    return digestOf(lines.join('\n'))
  }

  /** Namespaces whose digests differ, or that only one side has (sorted). */
  diffNamespaces (remote: ReadonlyArray<readonly [string, string]>): string[] {
    const mine = new Map(this.namespaceDigests())
    const theirs = new Map(remote)
    const out = new Set<string>()
    for (const [namespace, digest] of mine) if (theirs.get(namespace) !== digest) out.add(namespace)
    for (const [namespace, digest] of theirs) if (mine.get(namespace) !== digest) out.add(namespace)
    return [...out].sort()
  }

  /**
   * (key, timestamp, content digest) of every key of a namespace, sorted by key. The content digest
   * (of the value, or of the tombstone marker) lets two versions with equal timestamps but different
   * contents — only a faulty writer makes them — be told apart and repaired like any difference.
   */
  keyVersions (namespace: string): KeyVersion[] {
    const keys = this.namespaces.get(namespace)
    if (keys === undefined) return []
    return [...keys].sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0).map(([key, v]) => [key, { ...v.hlc }, contentDigest(v.value)])
  }

  /**
   * Compare a peer's key versions of one namespace with ours: `push` are our entries the peer lacks or
   * holds older; `pull` are keys the peer holds newer or we lack (ask for them with `entries`). Equal
   * timestamps with different contents go both ways; `merge` keeps the greater version on each side.
   */
  diffKeys (namespace: string, remote: readonly KeyVersion[]): { push: LwwEntry[], pull: string[] } {
    const mine = this.namespaces.get(namespace) ?? new Map<string, Stored>()
    const theirs = new Map<string, { hlc: Hlc, content: string }>()
    for (const [key, hlc, content] of remote) theirs.set(key, { hlc, content })
    const push: LwwEntry[] = []
    const pull: string[] = []
    for (const [key, version] of mine) {
      const other = theirs.get(key)
      const order = other === undefined ? 1 : compareHlc(version.hlc, other.hlc)
      const conflict = other !== undefined && order === 0 && other.content !== contentDigest(version.value)
      if (order > 0 || conflict) push.push({ namespace, key, value: version.value, hlc: { ...version.hlc } })
      if (order < 0 || conflict) pull.push(key)
    }
    for (const key of theirs.keys()) if (!mine.has(key)) pull.push(key)
    push.sort((a, b) => a.key < b.key ? -1 : 1)
    return { push, pull: pull.sort() }
  }

  /** Our entries for the given keys of a namespace (those we hold). */
  entries (namespace: string, keys: readonly string[]): LwwEntry[] {
    const out: LwwEntry[] = []
    for (const key of keys) {
      const entry = this.entry(namespace, key)
      if (entry !== undefined) out.push(entry)
    }
    return out
  }

  private local (namespace: string, key: string, value: string | null, wallMs: number): WriteResult {
    const problem = this.checkNames(namespace, key, value)
    if (problem !== undefined) return { ok: false, reason: problem }
    const hlc = this.clock.now(wallMs)
    const outcome = this.put(namespace, key, { value, hlc })
    // Our clock has observed every stored timestamp, so a local write always wins: stale is a bug.
    if (outcome === 'stale') throw new Error(`local write lost to a stored version of ${namespace}/${key}`)
    if (outcome !== 'applied') return { ok: false, reason: outcome }
    return { ok: true, entry: { namespace, key, value, hlc } }
  }

  private checkNames (namespace: string, key: string, value: string | null): LwwRefusal | undefined {
    if (namespace.length === 0 || key.length === 0) return 'malformed'
    if (namespace.length > this.limits.namespaceLengthMax) return 'name-too-long'
    if (key.length > this.limits.keyLengthMax) return 'key-too-long'
    if (value !== null && utf8Length(value) > this.limits.valueBytesMax) return 'value-too-large'
    return undefined
  }

  private validate (raw: unknown): LwwEntry | LwwRefusal {
    if (typeof raw !== 'object' || raw === null) return 'malformed'
    const r = raw as Record<string, unknown>
    if (typeof r.namespace !== 'string' || typeof r.key !== 'string') return 'malformed'
    if (r.value !== null && typeof r.value !== 'string') return 'malformed'
    if (!isHlc(r.hlc, this.limits.nodeLengthMax)) return 'malformed'
    const problem = this.checkNames(r.namespace, r.key, r.value)
    if (problem !== undefined) return problem
    return { namespace: r.namespace, key: r.key, value: r.value, hlc: { wallMs: r.hlc.wallMs, logical: r.hlc.logical, node: r.hlc.node } }
  }

  /** Store a version if it wins, within the bounds. */
  private put (namespace: string, key: string, version: Stored): LwwRefusal | 'applied' | 'stale' {
    let keys = this.namespaces.get(namespace)
    const current = keys?.get(key)
    if (current !== undefined && compareVersions(version, current) <= 0) return 'stale'
    const namespaceBytes = keys === undefined ? utf8Length(namespace) : 0
    if (keys === undefined && this.namespaces.size >= this.limits.namespacesMax) return 'too-many-namespaces'
    if (current === undefined && (keys?.size ?? 0) >= this.limits.keysPerNamespaceMax) return 'namespace-full'
    const delta = namespaceBytes + entryBytes(key, version) - (current === undefined ? 0 : entryBytes(key, current))
    if (this.bytes + delta > this.limits.bytesMax) return 'store-full'
    if (keys === undefined) { keys = new Map(); this.namespaces.set(namespace, keys) }
    keys.set(key, version)
    this.bytes += delta
    return 'applied'
  }
}
