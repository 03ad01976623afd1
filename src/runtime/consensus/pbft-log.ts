/**
 * The durable log of one replica's PersistRecords (src/core/pbft/types.ts), in the data dir.
 *
 * The replica must never contradict what it persisted (no amnesia after a crash), so the runtime calls
 * `append(records)` with all the persist effects of one step — one write, ONE fsync — before it sends
 * the messages that depend on them. After a crash, `load()` gives the records back for
 * `Replica.restore`.
 *
 * File format (`pbft.log`): the 8-byte magic `MPBFTLG1`, then frames
 *   u32 BE payload length | u32 BE CRC-32 of the payload | u32 BE CRC-32 of the previous 8 bytes | payload
 * where the payload is the JSON of one record (UTF-8). The header has its own checksum so a damaged
 * length is recognised as damage, not mistaken for a record cut short.
 *
 * Recovery: a crash during an append can leave the last frame incomplete (short, or zero-filled): it is
 * truncated away, since no message depending on it was sent. Damage anywhere else is reported as a
 * PbftLogError naming the file and the byte offset: silently dropping records the replica may have
 * acted on could make it equivocate.
 *
 * Compaction keeps only what `Replica.restore` still needs (see `recordsNeededForRestore`) and replaces
 * the file atomically (write temp, fsync, rename, fsync the directory). The runtime calls `compact` when
 * a checkpoint becomes stable; `append` also compacts by itself when the file passes its bound.
 *
 * Group commit: the runtime uses `appendGroup`, the same write with the fsync done off the event loop
 * (libuv's thread pool), and holds every send until it resolves. Records stepped while one fsync is in
 * flight go into the next group, so under load one fsync covers many messages.
 */
import {
  closeSync, constants, fdatasync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync
} from 'node:fs'
import { join } from 'node:path'
import type { PersistRecord } from '../../core/pbft/types.js'

export const pbftLogFileName = 'pbft.log'
const magic = Buffer.from('MPBFTLG1', 'latin1')
const frameHeaderBytes = 12
/**
 * Largest record: a 'stable' record carries the replica's snapshot escaped once more by JSON, exactly as
 * the STATE frame that transfers it does, so it is as large as that frame: at most the 256 MiB a chunked
 * transfer may reassemble (protocols/pbft: pbftReassembledBytesMax; the application's budgets keep it
 * near 40 MiB, src/core/app/limits.ts). It was 64 MiB while a STATE frame was capped at 16 MiB. Below
 * V8's ~512 MiB string limit, so a record still parses as one string. Anything larger is a bug (when
 * writing) or damage (when reading).
 */
export const recordBytesMax = 256 * 1024 * 1024
/**
 * The file is compacted when it passes this size (or twice its size after the last compaction, when
 * what must be kept is itself large): the log between two stable checkpoints is bounded by the 2K
 * watermark window, so this is rarely reached when the runtime compacts at every stable checkpoint.
 */
export const logCompactAtBytes = 64 * 1024 * 1024

export class PbftLogError extends Error {
  override readonly name = 'PbftLogError'
  constructor (message: string, readonly file: string, readonly offset: number) {
    super(message)
  }
}

export interface PbftLogOptions {
  /** @default 'pbft.log' */
  fileName?: string
  /** @default logCompactAtBytes */
  compactAtBytes?: number
  /** Make a file's (or directory's) data durable; injectable so tests can count and fail it. @default fsyncSync */
  fsync?: (fd: number) => void
}

export interface CompactionResult {
  bytesBefore: number
  bytesAfter: number
  recordsBefore: number
  recordsKept: number
}

// ————————————————————————————————————————— CRC-32 (IEEE 802.3, as zlib; node:zlib has none before Node 22)

const crcTable = new Uint32Array(256)
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  crcTable[n] = c >>> 0
}
/**
 * Slicing-by-8 tables: crcTables[k][n] is the CRC of byte n followed by k zero bytes. Eight bytes per
 * step instead of one: a 'stable' record carries the whole snapshot (tens of MiB since state transfer
 * is chunked), and its CRC is computed on the event loop at every stable checkpoint and compaction.
 */
const crcTables: Uint32Array[] = [crcTable]
for (let k = 1; k < 8; k++) {
  const previous = crcTables[k - 1] as Uint32Array
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) table[n] = ((crcTable[(previous[n] as number) & 0xff] as number) ^ ((previous[n] as number) >>> 8)) >>> 0
  crcTables.push(table)
}

export function crc32 (bytes: Uint8Array, start = 0, end = bytes.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = crcTables as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array]
  let crc = 0xffffffff
  let i = start
  for (; i + 8 <= end; i += 8) {
    const low = crc ^ ((bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24))
    crc = (t7[low & 0xff] as number) ^ (t6[(low >>> 8) & 0xff] as number) ^ (t5[(low >>> 16) & 0xff] as number) ^ (t4[low >>> 24] as number) ^
      (t3[bytes[i + 4] as number] as number) ^ (t2[bytes[i + 5] as number] as number) ^ (t1[bytes[i + 6] as number] as number) ^ (t0[bytes[i + 7] as number] as number)
  }
  for (; i < end; i++) crc = (t0[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

// ————————————————————————————————————————— frames

export function encodeFrame (record: PersistRecord): Buffer {
  return encodeRecordFrame(record, 'pbft log')
}

/** One record's frame (the format above); shared with the Raft log (raft-log.ts). */
export function encodeRecordFrame (record: { kind: string }, label: string): Buffer {
  const payload = Buffer.from(JSON.stringify(record), 'utf8')
  if (payload.length > recordBytesMax) throw new Error(`${label}: a ${record.kind} record of ${payload.length} bytes exceeds ${recordBytesMax}`)
  const frame = Buffer.allocUnsafe(frameHeaderBytes + payload.length)
  frame.writeUInt32BE(payload.length, 0)
  frame.writeUInt32BE(crc32(payload), 4)
  frame.writeUInt32BE(crc32(frame, 0, 8), 8)
  payload.copy(frame, frameHeaderBytes)
  return frame
}

export interface ScannedFrame<R = PersistRecord> {
  record: R
  start: number
  end: number
}

export interface Scan<R = PersistRecord> {
  frames: Array<ScannedFrame<R>>
  /** End of the last intact frame. */
  validEnd: number
  /** The bytes after `validEnd` are an incomplete last frame. */
  torn: boolean
}

function allZero (bytes: Buffer, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false
  return true
}

function plausibleRecord (value: unknown): value is PersistRecord {
  if (value === null || typeof value !== 'object') return false
  const record = value as Record<string, unknown>
  switch (record.kind) {
    case 'sent':
    case 'accepted': {
      const message = record.message as Record<string, unknown> | null
      return message !== null && typeof message === 'object' && typeof message.type === 'string'
    }
    case 'view': return Number.isSafeInteger(record.view) && typeof record.active === 'boolean'
    case 'executed': return Number.isSafeInteger(record.seq) && Array.isArray(record.batch)
    case 'stable': return Number.isSafeInteger(record.seq) && typeof record.snapshot === 'string' && Array.isArray(record.proof)
    default: return false
  }
}

/** Parse the frames of a whole file; throws PbftLogError on damage that is not an incomplete last frame. */
function scan (bytes: Buffer, path: string): Scan {
  return scanRecords(bytes, path, { magic, label: 'pbft log', plausible: plausibleRecord, error: (message, at) => new PbftLogError(message, path, at) })
}

export interface ScanFormat<R> {
  magic: Buffer
  label: string
  plausible: (value: unknown) => value is R
  error: (message: string, offset: number) => Error
}

/** Parse the frames of a whole record file (pbft or raft log): an incomplete last frame is `torn`, other damage throws. */
export function scanRecords<R> (bytes: Buffer, path: string, format: ScanFormat<R>): Scan<R> {
  const { magic } = format
  if (bytes.length < magic.length || !bytes.subarray(0, magic.length).equals(magic)) {
    throw format.error(`${path} is not a ${format.label} (bad magic at byte 0)`, 0)
  }
  const frames: Array<ScannedFrame<R>> = []
  let offset = magic.length
  const corrupt = (at: number, why: string): Error => format.error(
    `${format.label} ${path} is corrupt at byte ${at}: ${why}. The ${frames.length} records before it are intact, but the replica ` +
    'must not forget records it may have acted on: restore the data dir from a backup (or, knowingly, move the log away ' +
    'and let this validator rejoin by state transfer)', at)
  while (offset < bytes.length) {
    const remaining = bytes.length - offset
    if (remaining < frameHeaderBytes) return { frames, validEnd: offset, torn: true }
    const length = bytes.readUInt32BE(offset)
    if (bytes.readUInt32BE(offset + 8) !== crc32(bytes, offset, offset + 8)) {
      if (allZero(bytes, offset)) return { frames, validEnd: offset, torn: true }
      throw corrupt(offset, 'frame header checksum mismatch')
    }
    if (length > recordBytesMax) throw corrupt(offset, `record length ${length} exceeds ${recordBytesMax}`)
    const end = offset + frameHeaderBytes + length
    if (end > bytes.length) return { frames, validEnd: offset, torn: true }
    if (crc32(bytes, offset + frameHeaderBytes, end) !== bytes.readUInt32BE(offset + 4)) {
      if (end === bytes.length) return { frames, validEnd: offset, torn: true } // the last write did not reach the disk whole
      throw corrupt(offset, 'record checksum mismatch')
    }
    let record: unknown
    try {
      record = JSON.parse(bytes.toString('utf8', offset + frameHeaderBytes, end))
    } catch {
      throw corrupt(offset, 'record is not JSON')
    }
    if (!format.plausible(record)) throw corrupt(offset, 'not a persist record')
    frames.push({ record, start: offset, end })
    offset = end
  }
  return { frames, validEnd: offset, torn: false }
}

// ————————————————————————————————————————— what restore needs

/**
 * Which records `Replica.restore` still needs once `stableSeq` is stable (a pure function, in file
 * order): the latest 'stable' record; 'executed' records above it; the protocol messages (sent or
 * accepted) about sequence numbers above it; the latest 'view' record; VIEW-CHANGE and NEW-VIEW
 * messages of the current view or later. Pass the seq of the latest 'stable' record in `records`
 * (a larger `stableSeq` is clamped to it: what lies above the latest snapshot is never dropped).
 */
export function recordsNeededForRestore (records: readonly PersistRecord[], stableSeq: number): boolean[] {
  let latestStable = -1
  let latestView = -1
  records.forEach((record, i) => {
    if (record.kind === 'stable' && (latestStable < 0 || record.seq >= (records[latestStable] as { seq: number }).seq)) latestStable = i
    if (record.kind === 'view') latestView = i
  })
  const snapshotSeq = latestStable < 0 ? 0 : (records[latestStable] as { seq: number }).seq
  const cutoff = Math.min(stableSeq, snapshotSeq)
  const currentView = latestView < 0 ? 0 : (records[latestView] as { view: number }).view
  return records.map((record, i) => {
    switch (record.kind) {
      case 'stable': return i === latestStable
      case 'view': return i === latestView
      case 'executed': return record.seq > cutoff
      case 'sent':
      case 'accepted': {
        const message = record.message
        switch (message.type) {
          case 'pre-prepare':
          case 'prepare':
          case 'commit':
          case 'checkpoint':
            return message.seq > cutoff
          case 'view-change':
          case 'new-view':
            return message.view >= currentView
          default:
            return false // forward, fetch-state, state: not persisted by the replica, never replayed
        }
      }
    }
    return false
  })
}

// ————————————————————————————————————————— the log

export class PbftLog {
  readonly path: string
  private readonly tempPath: string
  private readonly fsync: (fd: number) => void
  private readonly fsyncInjected: boolean
  private groupInFlight = false
  private unsyncedBytes = 0
  private syncInFlight: Promise<void> | null = null
  /** A descriptor replaced by a compaction while an fdatasync on it was running: closed when it ends. */
  private retiredFd: number | null = null
  private readonly compactAtBytes: number
  private fd: number | null = null
  private size = 0
  private records = 0
  private latestStableSeq = 0
  private nextCompactionBytes: number
  /** Bytes of an incomplete last frame removed by the last `load` (0 when the file was clean). */
  truncatedBytes = 0

  constructor (readonly dir: string, options: PbftLogOptions = {}) {
    this.path = join(dir, options.fileName ?? pbftLogFileName)
    this.tempPath = `${this.path}.compact-tmp`
    this.fsync = options.fsync ?? fsyncSync
    this.fsyncInjected = options.fsync != null
    this.compactAtBytes = options.compactAtBytes ?? logCompactAtBytes
    this.nextCompactionBytes = this.compactAtBytes
  }

  get sizeBytes (): number {
    return this.size
  }

  get recordCount (): number {
    return this.records
  }

  /** Seq of the latest 'stable' record in the log (0 without one). */
  get stableSeq (): number {
    return this.latestStableSeq
  }

  /**
   * Read every record (creating an empty log when there is none), truncate an incomplete last frame,
   * and open the log for appending. Throws PbftLogError on damage elsewhere.
   */
  load (): PersistRecord[] {
    if (this.fd != null) throw new Error(`pbft log ${this.path} is already loaded`)
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    rmSync(this.tempPath, { force: true }) // an interrupted compaction: the log itself is intact
    let bytes: Buffer | null = null
    try {
      bytes = readFileSync(this.path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    if (bytes == null || bytes.length === 0) { // a new log (created whole: a crash leaves none or all of it)
      this.writeDurably(this.tempPath, [magic])
      renameSync(this.tempPath, this.path)
      this.fsyncDir()
      bytes = Buffer.from(magic)
    }
    const result = scan(bytes, this.path)
    this.truncatedBytes = bytes.length - result.validEnd
    const fd = openSync(this.path, constants.O_WRONLY | constants.O_APPEND)
    try {
      if (result.torn) {
        ftruncateSync(fd, result.validEnd)
        this.fsync(fd)
      }
    } catch (err) {
      closeSync(fd)
      throw err
    }
    this.fd = fd
    this.size = result.validEnd
    this.records = result.frames.length
    this.latestStableSeq = 0
    for (const { record } of result.frames) this.noteAppended(record)
    this.nextCompactionBytes = Math.max(this.compactAtBytes, 2 * this.size)
    return result.frames.map(f => f.record)
  }

  /** Append records durably: one write, one fsync. Call before sending what depends on them. */
  append (records: readonly PersistRecord[]): void {
    const fd = this.openFd()
    if (records.length === 0) return
    const frames = Buffer.concat(records.map(encodeFrame))
    try {
      for (let written = 0; written < frames.length;) written += writeSync(fd, frames, written, frames.length - written)
      this.fsync(fd)
    } catch (err) {
      // leave no partial frame behind (later appends would turn it into mid-file damage)
      try { ftruncateSync(fd, this.size) } catch {}
      throw err
    }
    this.size += frames.length
    this.records += records.length
    for (const record of records) this.noteAppended(record)
    if (this.size > this.nextCompactionBytes) this.compact(this.latestStableSeq)
  }

  /**
   * `append` with the fsync off the event loop: resolves once the records are durable. One group at a
   * time (the caller waits for the previous one); an injected `fsync` (tests) is called as is.
   */
  async appendGroup (records: readonly PersistRecord[]): Promise<void> {
    const fd = this.openFd()
    if (records.length === 0) return
    if (this.groupInFlight) throw new Error(`pbft log ${this.path}: appendGroup while another group is in flight`)
    const frames = Buffer.concat(records.map(encodeFrame))
    this.groupInFlight = true
    try {
      for (let written = 0; written < frames.length;) written += writeSync(fd, frames, written, frames.length - written)
      if (this.fsyncInjected) this.fsync(fd)
      // fdatasync: the data and the file size (what recovery reads), not the timestamps
      else await new Promise<void>((resolve, reject) => { fdatasync(fd, err => { if (err != null) reject(err); else resolve() }) })
    } catch (err) {
      try { ftruncateSync(fd, this.size) } catch {}
      throw err
    } finally {
      this.groupInFlight = false
    }
    this.size += frames.length
    this.records += records.length
    for (const record of records) this.noteAppended(record)
    if (this.size > this.nextCompactionBytes) this.compact(this.latestStableSeq)
  }

  /**
   * Append records to the file (one write(2), into the kernel's page cache) WITHOUT waiting for the disk:
   * what was written survives a kill -9 of this process at any later instant (the kernel holds it), not
   * a power loss before the next `sync`. The runtime writes each event-loop turn's records this way
   * before any message of that turn leaves, and keeps an fdatasync running behind (`sync`).
   */
  write (records: readonly PersistRecord[]): void {
    const fd = this.openFd()
    if (records.length === 0) return
    if (this.groupInFlight) throw new Error(`pbft log ${this.path}: write while a group is in flight`)
    const frames = Buffer.concat(records.map(encodeFrame))
    try {
      for (let written = 0; written < frames.length;) written += writeSync(fd, frames, written, frames.length - written)
    } catch (err) {
      try { ftruncateSync(fd, this.size) } catch {}
      throw err
    }
    this.size += frames.length
    this.records += records.length
    this.unsyncedBytes += frames.length
    for (const record of records) this.noteAppended(record)
    if (this.size > this.nextCompactionBytes) this.compact(this.latestStableSeq)
  }

  /** Bytes written by `write` that no finished `sync` covers yet. */
  get unsynced (): number {
    return this.unsyncedBytes
  }

  /**
   * fdatasync everything `write` put in the file so far, off the event loop (libuv's thread pool);
   * resolves once durable. One at a time: a call while one is running waits for it and starts another.
   */
  async sync (): Promise<void> {
    while (this.syncInFlight != null) await this.syncInFlight.catch(() => {})
    if (this.unsyncedBytes === 0) return
    const fd = this.openFd()
    this.unsyncedBytes = 0
    const done = this.fsyncInjected
      ? Promise.resolve().then(() => { this.fsync(fd) })
      : new Promise<void>((resolve, reject) => { fdatasync(fd, err => { if (err != null) reject(err); else resolve() }) })
    this.syncInFlight = done
    try {
      await done
    } finally {
      this.syncInFlight = null
      // a compaction swapped files meanwhile: the old descriptor closes only now (never under a running fdatasync)
      if (this.retiredFd != null && this.retiredFd !== this.fd) { closeSync(this.retiredFd); this.retiredFd = null }
    }
  }

  /** Rewrite the log atomically with only what restore needs once `stableSeq` is stable. */
  compact (stableSeq: number): CompactionResult {
    this.openFd()
    const bytes = readFileSync(this.path)
    const { frames, validEnd, torn } = scan(bytes, this.path)
    if (torn || validEnd !== this.size) throw new PbftLogError(`pbft log ${this.path} changed under us (${bytes.length} bytes, expected ${this.size})`, this.path, validEnd)
    const keep = recordsNeededForRestore(frames.map(f => f.record), stableSeq)
    const kept = frames.filter((_, i) => keep[i] === true)
    let size: number
    try {
      size = this.writeDurably(this.tempPath, [magic, ...kept.map(f => bytes.subarray(f.start, f.end))])
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
    // from here on appends must go to the new file, whatever happens next (the new file was fsynced
    // whole before the rename: nothing kept is left unsynced)
    if (this.syncInFlight != null) this.retiredFd = this.fd
    else closeSync(this.fd as number)
    this.fd = newFd
    this.unsyncedBytes = 0
    const result = { bytesBefore: this.size, bytesAfter: size, recordsBefore: frames.length, recordsKept: kept.length }
    this.size = size
    this.records = kept.length
    this.nextCompactionBytes = Math.max(this.compactAtBytes, 2 * size)
    this.fsyncDir()
    return result
  }

  close (): void {
    if (this.retiredFd != null) {
      try { closeSync(this.retiredFd) } catch {}
      this.retiredFd = null
    }
    if (this.fd != null) closeSync(this.fd)
    this.fd = null
  }

  private openFd (): number {
    if (this.fd == null) throw new Error(`pbft log ${this.path}: load() it before appending or compacting`)
    return this.fd
  }

  private noteAppended (record: PersistRecord): void {
    if (record.kind === 'stable' && record.seq > this.latestStableSeq) this.latestStableSeq = record.seq
  }

  /** Write a new file from chunks and fsync it; returns its size. */
  private writeDurably (path: string, chunks: Uint8Array[]): number {
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600)
    let size = 0
    try {
      for (const chunk of chunks) {
        for (let written = 0; written < chunk.length;) written += writeSync(fd, chunk, written, chunk.length - written)
        size += chunk.length
      }
      this.fsync(fd)
    } finally {
      closeSync(fd)
    }
    return size
  }

  /** Make a rename durable. */
  private fsyncDir (): void {
    const fd = openSync(this.dir, constants.O_RDONLY)
    try {
      this.fsync(fd)
    } finally {
      closeSync(fd)
    }
  }
}
