/**
 * The eventual store on disk: `eventual.log` in the data dir, one JSON line per stored write (the
 * winning version of a key as it arrived, local or remote) and `{"gcFloorMs": n}` lines for the
 * tombstone collection floor.
 *
 * - Appended synchronously before a local write is answered (a `kill -9` loses nothing acknowledged;
 *   the OS holds the bytes), fsync'd at most every `fsyncIntervalMs` (power loss may lose that last bit).
 * - Replay is order-insensitive: lines are merged into the LWW map, which keeps the greatest version of
 *   each key whatever the order, so the log needs no sequence numbers and may hold superseded lines.
 * - A line that does not parse (a write torn by a crash, or damage) is skipped and counted, never fatal;
 *   every line is validated by the map like a network entry.
 * - Compaction: at start, and whenever the log holds more than twice the lines it needs (and at least
 *   `compactLinesMin`), the current state is written to `eventual.log.tmp`, fsync'd and renamed over the
 *   log (atomic: a crash leaves either the old log or the new one).
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, constants } from 'node:fs'
import { join } from 'node:path'
import type { LwwEntry } from '../../core/gossip/lww.js'

export const eventualLogFileName = 'eventual.log'

/** Lines appended before compaction is considered (below it a log is small anyway). */
export const compactLinesMin = 10_000
/** Longest time appended writes stay without fsync. */
export const fsyncIntervalMs = 1_000

export interface LoadedLog {
  entries: unknown[]
  gcFloorMs: number
  /** Lines that did not parse (torn or damaged): skipped. */
  skipped: number
}

export class EventualLog {
  readonly path: string
  private fd: number | null = null
  private lines = 0
  private dirty = false
  private timer?: ReturnType<typeof setInterval>

  constructor (dataDir: string) {
    this.path = join(dataDir, eventualLogFileName)
  }

  /** Read the log (missing: empty). Never throws on content; an unreadable file does throw. */
  load (): LoadedLog {
    const out: LoadedLog = { entries: [], gcFloorMs: 0, skipped: 0 }
    if (!existsSync(this.path)) return out
    const text = readFileSync(this.path, 'utf8')
    for (const line of text.split('\n')) {
      if (line === '') continue
      let parsed: unknown
      try { parsed = JSON.parse(line) } catch { out.skipped++; continue }
      if (typeof parsed !== 'object' || parsed === null) { out.skipped++; continue }
      const floor = (parsed as { gcFloorMs?: unknown }).gcFloorMs
      if (floor !== undefined) {
        if (typeof floor === 'number' && Number.isSafeInteger(floor) && floor > out.gcFloorMs) out.gcFloorMs = floor
        continue
      }
      out.entries.push(parsed)
    }
    return out
  }

  /** Replace the log with exactly these entries and floor (atomic), then open it for appending. */
  rewrite (entries: Iterable<LwwEntry>, gcFloorMs: number): void {
    this.closeFd()
    const tmp = `${this.path}.tmp`
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600)
    let lines = 0
    try {
      let buffer: string[] = [JSON.stringify({ gcFloorMs })]
      for (const entry of entries) {
        buffer.push(JSON.stringify(entry))
        lines++
        if (buffer.length >= 1024) { writeSync(fd, buffer.join('\n') + '\n'); buffer = [] }
      }
      if (buffer.length > 0) writeSync(fd, buffer.join('\n') + '\n')
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, this.path)
    this.fd = openSync(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600)
    this.lines = lines
    this.dirty = false
  }

  /** Start the periodic fsync. */
  start (): void {
    this.timer = setInterval(() => { this.flush() }, fsyncIntervalMs)
    this.timer.unref?.()
  }

  /** Append stored writes (synchronously). */
  append (entries: readonly LwwEntry[]): void {
    if (entries.length === 0) return
    this.write(entries.map(e => JSON.stringify(e)).join('\n') + '\n', entries.length)
  }

  appendFloor (gcFloorMs: number): void {
    this.write(JSON.stringify({ gcFloorMs }) + '\n', 1)
  }

  /** Lines in the log now (header excluded). */
  get lineCount (): number {
    return this.lines
  }

  /** Whether the log holds enough superseded lines to be worth compacting, for `liveEntries` entries. */
  wantsCompaction (liveEntries: number): boolean {
    return this.lines >= compactLinesMin && this.lines > 2 * liveEntries
  }

  flush (): void {
    if (this.fd != null && this.dirty) {
      fsyncSync(this.fd)
      this.dirty = false
    }
  }

  close (): void {
    clearInterval(this.timer)
    this.flush()
    this.closeFd()
  }

  private write (text: string, lines: number): void {
    if (this.fd == null) throw new Error('the eventual log is not open')
    writeSync(this.fd, text)
    this.lines += lines
    this.dirty = true
  }

  private closeFd (): void {
    if (this.fd != null) {
      closeSync(this.fd)
      this.fd = null
    }
  }
}
