/**
 * The durable log of one Raft node's PersistRecords (src/core/raft/types.ts: hard state, entries,
 * snapshots), in the data dir as `raft.log`. Same frame format as the pBFT log (pbft-log.ts: CRC'd
 * header and payload, JSON records; `encodeRecordFrame`/`scanRecords` are shared), magic `MRAFTLG1`.
 *
 * - Group commit: `appendGroup(records)` writes everything stepped since the last group and fdatasyncs
 *   off the event loop; the runtime sends nothing that depends on them before it resolves.
 * - Torn tail: an incomplete last frame (a crash mid-append) is truncated at load; nothing depending on
 *   it was sent. Damage elsewhere throws (RaftLogError): a node must not forget a vote or an entry it
 *   acknowledged.
 * - Compaction: when the file passes its bound, `rewrite(records)` replaces it atomically (temp file,
 *   fsync, rename, fsync the directory) with the records the runtime builds from the node's state:
 *   the hard state, the latest snapshot and the entries after it. Replaying them restores that state.
 */
import { closeSync, constants, fdatasync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { RaftNode } from '../../core/raft/node.js'
import type { PersistRecord, Snapshot } from '../../core/raft/types.js'
import { encodeRecordFrame, scanRecords } from './pbft-log.js'

export const raftLogFileName = 'raft.log'
const magic = Buffer.from('MRAFTLG1', 'latin1')
const label = 'raft log'
/** Rewrite the file when it passes this size (or twice its size after the last rewrite). */
export const raftLogCompactAtBytes = 64 * 1024 * 1024

/**
 * A node's state as records for `rewrite`: hard state, latest snapshot, the entries after it.
 * `RaftNode.restore` of these gives the node's term, vote, commit, log and applied state back.
 */
export function compactedRecords (node: Pick<RaftNode, 'term' | 'vote' | 'commit' | 'log'>): PersistRecord[] {
  const snapshot = node.log.snapshot as Snapshot
  const records: PersistRecord[] = [{ kind: 'hard-state', term: node.term, vote: node.vote, commit: node.commit }]
  if (snapshot.index > 0) records.push({ kind: 'snapshot', snapshot, compactTo: snapshot.index, keepLog: false })
  const entries = node.log.entries.filter(e => e.index > snapshot.index)
  if (entries.length > 0) records.push({ kind: 'entries', entries: [...entries] })
  return records
}

export class RaftLogError extends Error {
  override readonly name = 'RaftLogError'
  constructor (message: string, readonly file: string, readonly offset: number) {
    super(message)
  }
}

function plausible (value: unknown): value is PersistRecord {
  if (value === null || typeof value !== 'object') return false
  const r = value as Record<string, unknown>
  switch (r.kind) {
    case 'hard-state': return Number.isSafeInteger(r.term) && Number.isSafeInteger(r.commit) && (r.vote === null || typeof r.vote === 'string')
    case 'entries': return Array.isArray(r.entries) && r.entries.length > 0
    case 'snapshot': return typeof r.snapshot === 'object' && r.snapshot !== null && Number.isSafeInteger(r.compactTo) && typeof r.keepLog === 'boolean'
    default: return false
  }
}

export interface RaftLogOptions {
  /** @default raftLogCompactAtBytes */
  compactAtBytes?: number
}

export class RaftLog {
  readonly path: string
  private readonly tempPath: string
  private readonly compactAtBytes: number
  private fd: number | null = null
  private size = 0
  private nextCompactionBytes: number
  private groupInFlight = false
  truncatedBytes = 0

  constructor (readonly dir: string, options: RaftLogOptions = {}) {
    this.path = join(dir, raftLogFileName)
    this.tempPath = `${this.path}.compact-tmp`
    this.compactAtBytes = options.compactAtBytes ?? raftLogCompactAtBytes
    this.nextCompactionBytes = this.compactAtBytes
  }

  get sizeBytes (): number {
    return this.size
  }

  /** Every record in order (an empty log is created), the torn tail truncated; opens for appending. */
  load (): PersistRecord[] {
    if (this.fd != null) throw new Error(`${label} ${this.path} is already loaded`)
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    rmSync(this.tempPath, { force: true })
    let bytes: Buffer | null = null
    try {
      bytes = readFileSync(this.path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    if (bytes == null || bytes.length === 0) {
      this.writeDurably(this.tempPath, [magic])
      renameSync(this.tempPath, this.path)
      this.fsyncDir()
      bytes = Buffer.from(magic)
    }
    const result = scanRecords(bytes, this.path, { magic, label, plausible, error: (message, at) => new RaftLogError(message, this.path, at) })
    this.truncatedBytes = bytes.length - result.validEnd
    const fd = openSync(this.path, constants.O_WRONLY | constants.O_APPEND)
    if (result.torn) {
      ftruncateSync(fd, result.validEnd)
      fsyncSync(fd)
    }
    this.fd = fd
    this.size = result.validEnd
    this.nextCompactionBytes = Math.max(this.compactAtBytes, 2 * this.size)
    return result.frames.map(f => f.record)
  }

  /** Append durably with the fdatasync off the event loop; one group at a time. */
  async appendGroup (records: readonly PersistRecord[]): Promise<void> {
    const fd = this.openFd()
    if (records.length === 0) return
    if (this.groupInFlight) throw new Error(`${label} ${this.path}: appendGroup while another group is in flight`)
    const frames = Buffer.concat(records.map(r => encodeRecordFrame(r, label)))
    this.groupInFlight = true
    try {
      for (let written = 0; written < frames.length;) written += writeSync(fd, frames, written, frames.length - written)
      await new Promise<void>((resolve, reject) => { fdatasync(fd, err => { if (err != null) reject(err); else resolve() }) })
    } catch (err) {
      try { ftruncateSync(fd, this.size) } catch {}
      throw err
    } finally {
      this.groupInFlight = false
    }
    this.size += frames.length
  }

  /** Whether the file passed its bound (the runtime then calls `rewrite` with the node's state). */
  wantsCompaction (): boolean {
    return this.size > this.nextCompactionBytes
  }

  /** Replace the whole file atomically by `records` (not while a group is in flight). */
  rewrite (records: readonly PersistRecord[]): void {
    this.openFd()
    if (this.groupInFlight) throw new Error(`${label} ${this.path}: rewrite while a group is in flight`)
    let size: number
    try {
      size = this.writeDurably(this.tempPath, [magic, ...records.map(r => encodeRecordFrame(r, label))])
    } catch (err) {
      rmSync(this.tempPath, { force: true })
      throw err
    }
    const newFd = openSync(this.tempPath, constants.O_WRONLY | constants.O_APPEND)
    try {
      renameSync(this.tempPath, this.path)
    } catch (err) {
      closeSync(newFd)
      throw err
    }
    closeSync(this.fd as number)
    this.fd = newFd
    this.size = size
    this.nextCompactionBytes = Math.max(this.compactAtBytes, 2 * size)
    this.fsyncDir()
  }

  close (): void {
    if (this.fd != null) closeSync(this.fd)
    this.fd = null
  }

  private openFd (): number {
    if (this.fd == null) throw new Error(`${label} ${this.path}: load() it before appending`)
    return this.fd
  }

  private writeDurably (path: string, chunks: Uint8Array[]): number {
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600)
    let size = 0
    try {
      for (const chunk of chunks) {
        for (let written = 0; written < chunk.length;) written += writeSync(fd, chunk, written, chunk.length - written)
        size += chunk.length
      }
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    return size
  }

  private fsyncDir (): void {
    const fd = openSync(this.dir, constants.O_RDONLY)
    try { fsyncSync(fd) } finally { closeSync(fd) }
  }
}
