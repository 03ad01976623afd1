/**
 * The file behind gossip votes (`gossip-votes.log` in the data dir): an append-only log of signed
 * proposals and votes, one JSON line each (`{"p": base64}` / `{"v": base64}` of the protobuf), rewritten
 * whole (temporary file, then rename: a crash leaves the old or the new file, each whole) when
 * compacted. It only moves lines: the runtime (gossip-votes.ts) verifies every line it reads again,
 * so a torn line (kill -9 mid-append) or a corrupt one is skipped there, never fatal. I/O errors are
 * reported through `log` and never thrown: the node goes on in memory.
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const votesLogFileName = 'gossip-votes.log'

export type VotesLogLine = { p: string } | { v: string }

export class VotesLog {
  readonly path: string | null
  /** Lines written since the last rewrite (or read at start): what compaction is measured against. */
  lines = 0

  /** `dataDir` null: nothing is written (tests). */
  constructor (dataDir: string | null, private readonly log: (line: string) => void) {
    this.path = dataDir == null ? null : join(dataDir, votesLogFileName)
  }

  append (line: VotesLogLine): void {
    if (this.path == null) return
    try {
      appendFileSync(this.path, JSON.stringify(line) + '\n')
      this.lines++
    } catch (err) {
      this.log(`warning: cannot append to ${this.path}: ${(err as Error).message}`)
    }
  }

  /** The log's lines as written (not parsed); none when there is no file or it cannot be read. */
  read (): string[] {
    if (this.path == null || !existsSync(this.path)) return []
    try {
      const lines = readFileSync(this.path, 'utf8').split('\n').filter(line => line !== '')
      this.lines = lines.length
      return lines
    } catch (err) {
      this.log(`warning: cannot read ${this.path}: ${(err as Error).message}; starting without gossip proposals`)
      return []
    }
  }

  /** Replace the whole log with `lines`; false when it could not be written (the old file stays). */
  rewrite (lines: VotesLogLine[]): boolean {
    if (this.path == null) return false
    try {
      const tmp = `${this.path}.tmp`
      writeFileSync(tmp, lines.length > 0 ? lines.map(line => JSON.stringify(line)).join('\n') + '\n' : '')
      renameSync(tmp, this.path)
      this.lines = lines.length
      return true
    } catch (err) {
      this.log(`warning: cannot rewrite ${this.path}: ${(err as Error).message}`)
      return false
    }
  }
}
