/**
 * The in-memory Raft log (etcd-io/raft log.go, much reduced): entries after a compaction point
 * (`offset`, whose term is remembered), the latest snapshot, and the searches replication needs.
 * Durability is the runtime's: every change here is mirrored by a persist record the node emits.
 */
import type { Entry, Snapshot } from './types.js'

export class RaftLog {
  /** Index of the last compacted entry (0: nothing compacted); its term stays known for prev checks. */
  offset = 0
  offsetTerm = 0
  entries: Entry[] = []
  snapshot: Snapshot | null = null

  firstIndex (): number {
    return this.offset + 1
  }

  lastIndex (): number {
    return this.offset + this.entries.length
  }

  lastTerm (): number {
    return this.term(this.lastIndex()) as number
  }

  /** Term of entry `index`; undefined when compacted away or beyond the end. */
  term (index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm
    if (index < this.offset || index > this.lastIndex()) return undefined
    return (this.entries[index - this.offset - 1] as Entry).term
  }

  entry (index: number): Entry | undefined {
    if (index <= this.offset || index > this.lastIndex()) return undefined
    return this.entries[index - this.offset - 1]
  }

  matchTerm (index: number, term: number): boolean {
    return this.term(index) === term
  }

  /** Entries lo..hi inclusive, at most `max` of them (lo must be > offset). */
  slice (lo: number, hi: number, max: number): Entry[] {
    if (lo <= this.offset) throw new Error(`slice: ${lo} is compacted (offset ${this.offset})`)
    const end = Math.min(hi, this.lastIndex(), lo + max - 1)
    return this.entries.slice(lo - this.offset - 1, end - this.offset)
  }

  /** Raft's "at least as up-to-date" (§5.4.1): later last term, or same term and at least as long. */
  isUpToDate (lastIndex: number, lastTerm: number): boolean {
    return lastTerm > this.lastTerm() || (lastTerm === this.lastTerm() && lastIndex >= this.lastIndex())
  }

  /**
   * The largest index ≤ `index` whose term is ≤ `term` (etcd's findConflictByTerm): every entry above
   * it has a larger term and cannot match a log whose entry at `index` has `term`. Below the compaction
   * point it answers the offset (the caller then probes from there or sends a snapshot).
   */
  findConflictByTerm (index: number, term: number): number {
    let i = Math.min(index, this.lastIndex())
    while (i > this.offset) {
      if ((this.term(i) as number) <= term) return i
      i--
    }
    return Math.min(i, this.offset)
  }

  append (entries: Entry[]): void {
    for (const entry of entries) {
      if (entry.index !== this.lastIndex() + 1) throw new Error(`append: index ${entry.index} after ${this.lastIndex()}`)
      this.entries.push(entry)
    }
  }

  /**
   * A follower's append after a matching prev: skip entries it already has, truncate at the first
   * conflicting one, append the rest. Returns what was written (to persist), empty if nothing new.
   * `committed` guards the invariant: a committed entry is never truncated.
   */
  maybeAppend (entries: Entry[], committed: number): Entry[] {
    let first = -1
    for (let k = 0; k < entries.length; k++) {
      const entry = entries[k] as Entry
      if (entry.index <= this.offset) continue // compacted here: committed, so it matches
      if (this.term(entry.index) !== entry.term) { first = k; break }
    }
    if (first < 0) return []
    const from = (entries[first] as Entry).index
    if (from <= committed) throw new Error(`log: conflict at committed index ${from} (commit ${committed})`)
    this.entries.length = Math.max(0, from - this.offset - 1)
    const written = entries.slice(first)
    this.append(written)
    return written
  }

  /** Drop entries up to `to` (≤ last index), keeping `to`'s term as the new offset term. */
  compact (to: number): void {
    if (to <= this.offset) return
    const term = this.term(to)
    if (term === undefined) throw new Error(`compact: no entry ${to}`)
    this.entries = this.entries.slice(to - this.offset)
    this.offset = to
    this.offsetTerm = term
  }

  /** Install a snapshot: keep the suffix when the log holds the snapshot's last entry, else discard it all. */
  installSnapshot (snapshot: Snapshot, keepLog: boolean): void {
    this.snapshot = snapshot
    if (keepLog && this.matchTerm(snapshot.index, snapshot.term)) {
      this.compact(snapshot.index)
      return
    }
    this.entries = []
    this.offset = snapshot.index
    this.offsetTerm = snapshot.term
  }
}
