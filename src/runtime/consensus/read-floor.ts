/**
 * Plain reads never go back across a restart. A plain `GET /v1/memory/...` answers from this node's
 * applied prefix of the decision log (`lastApplied`). A restarted node rebuilds that prefix: a pBFT
 * validator replays its own log at once, but an observer (nothing of the log on disk) and a Raft node
 * (which learns its commit index from the leader again) start from an older prefix and catch up over
 * the network. Without a floor, a client that read at lastApplied 812 before a `kill -9` could read at
 * lastApplied 0 just after it — the 19 "regressions across restarts" of the 30-minute chaos run.
 *
 * The floor is the highest `lastApplied` this node has answered a plain read at, kept in the data dir
 * (`read-floor.json`, written before the answer leaves, atomically by rename; no fsync: it must survive
 * the process being killed, which the page cache does; a machine crash may lose it, and then reads can
 * go back as before). After a restart, a plain read waits until the node has applied at least the floor
 * again, and answers 503 (with the figures, and what to do) if that takes longer than the read's wait.
 * A write per read at most, and only when the answer shows a newer prefix than any before: at most one
 * per decision applied, a few tens of microseconds each.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const readFloorFileName = 'read-floor.json'

interface ReadFloorFile { genesis: string, lastApplied: number }

export class ReadFloor {
  private floor = 0
  private readonly path: string | null
  /** Why the file on disk was not used (corrupt, another genesis), for the start banner / logs. */
  readonly ignored: string | null = null

  /** `dataDir` null: in-memory only (a node without a data dir cannot restart into the same state). */
  constructor (dataDir: string | null, private readonly genesisHash: string) {
    this.path = dataDir == null ? null : join(dataDir, readFloorFileName)
    if (this.path == null || !existsSync(this.path)) return
    try {
      const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<ReadFloorFile>
      if (parsed.genesis !== genesisHash) {
        this.ignored = `${this.path} belongs to another genesis (${String(parsed.genesis).slice(0, 16)}…): ignored`
      } else if (typeof parsed.lastApplied !== 'number' || !Number.isSafeInteger(parsed.lastApplied) || parsed.lastApplied < 0) {
        this.ignored = `${this.path}: lastApplied is not a non-negative integer: ignored`
      } else {
        this.floor = parsed.lastApplied
      }
    } catch (err) {
      this.ignored = `${this.path} is not valid JSON (${(err as Error).message}): ignored; reads may show an older state than before the restart until the node catches up`
    }
  }

  /** The lowest lastApplied a plain read may answer at. */
  get value (): number {
    return this.floor
  }

  /** The last failure to write the file (a full disk…): reads are still served, without the promise. */
  lastError: string | null = null

  /** An answer at `lastApplied` is about to leave: remember it first if it is the newest yet. */
  served (lastApplied: number): void {
    if (lastApplied <= this.floor) return
    this.floor = lastApplied
    if (this.path == null) return
    const body: ReadFloorFile = { genesis: this.genesisHash, lastApplied }
    const temporary = `${this.path}.tmp`
    try {
      writeFileSync(temporary, JSON.stringify(body))
      renameSync(temporary, this.path)
      this.lastError = null
    } catch (err) {
      this.lastError = `cannot write ${this.path}: ${(err as Error).message}`
    }
  }
}
