/**
 * The durable pBFT log: round trip, one fsync per batch, recovery from a torn tail, mid-file damage
 * reported with file and offset, and compaction that keeps exactly what Replica.restore needs —
 * checked by restoring replicas of a small cluster (driven by the real MeshApplication) from their
 * compacted logs.
 */
import { createHash } from 'node:crypto'
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MeshApplication } from '../../src/core/app/application.js'
import { Replica } from '../../src/core/pbft/replica.js'
import type { ClientRequest, Crypto, Effect, Message, PersistRecord, ReplicaConfig } from '../../src/core/pbft/types.js'
import { PbftLog, PbftLogError, crc32, encodeFrame, recordsNeededForRestore } from '../../src/runtime/consensus/pbft-log.js'

const sha = (data: string): string => createHash('sha256').update(data).digest('hex')

let dir: string
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pbft-log-')) })
afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

const view = (v: number, active = true): PersistRecord => ({ kind: 'view', view: v, active })
const executed = (seq: number, operation = '{"op":"noop"}'): PersistRecord =>
  ({ kind: 'executed', seq, view: 0, digest: `d${seq}`, batch: [{ client: 'c', requestId: seq, operation }] })
const prepare = (seq: number, v = 0, from = 1): PersistRecord =>
  ({ kind: 'sent', message: { type: 'prepare', view: v, seq, digest: `d${seq}`, from, signature: 's' } })
const stable = (seq: number): PersistRecord => ({ kind: 'stable', seq, stateDigest: `s${seq}`, snapshot: `{"seq":${seq}}`, proof: [] })

describe('pbft log: format and durability', () => {
  it('round trip: what was appended is loaded back, in order, across batches', () => {
    const log = new PbftLog(dir)
    expect(log.load()).toEqual([])
    const first = [view(0), executed(1, '{"op":"put","namespace":"ns","key":"é😀\\n","value":"\\"x\\""}'), prepare(2)]
    const second = [executed(2, 'lone \ud800 surrogate'), stable(2)]
    log.append(first)
    log.append(second)
    log.close()
    const again = new PbftLog(dir)
    expect(again.load()).toEqual([...first, ...second])
    expect(again.truncatedBytes).toBe(0)
    expect(again.recordCount).toBe(5)
    expect(again.stableSeq).toBe(2)
    expect(again.sizeBytes).toBe(statSync(again.path).size)
    again.close()
  })

  it('crc32 is the standard CRC-32', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926)
    expect(crc32(Buffer.alloc(0))).toBe(0)
  })

  it('one fsync per appended batch (none for an empty one); a new log and a compaction fsync file and directory', () => {
    let fsyncs = 0
    const log = new PbftLog(dir, { fsync: () => { fsyncs++ } })
    log.load()
    expect(fsyncs).toBe(2) // the new file, then the directory holding its name
    fsyncs = 0
    log.append([view(0), executed(1), prepare(1)])
    expect(fsyncs).toBe(1)
    log.append([])
    expect(fsyncs).toBe(1)
    log.append([executed(2)])
    expect(fsyncs).toBe(2)
    fsyncs = 0
    log.compact(0)
    expect(fsyncs).toBe(2) // the temp file, then the directory after the rename
    log.close()
  })

  it('a failed fsync fails the append and leaves no partial frame behind', () => {
    let fail = false
    const log = new PbftLog(dir, { fsync: () => { if (fail) throw new Error('EIO') } })
    log.load()
    log.append([executed(1)])
    fail = true
    expect(() => log.append([executed(2), executed(3)])).toThrow('EIO')
    fail = false
    log.append([executed(4)])
    log.close()
    expect(new PbftLog(dir).load()).toEqual([executed(1), executed(4)])
  })

  it('append or compact before load is refused; load twice is refused', () => {
    const log = new PbftLog(dir)
    expect(() => log.append([view(0)])).toThrow(/load\(\) it before/)
    expect(() => log.compact(0)).toThrow(/load\(\) it before/)
    log.load()
    expect(() => log.load()).toThrow(/already loaded/)
    log.close()
  })
})

describe('pbft log: group commit (appendGroup)', () => {
  it('what appendGroup made durable (real fdatasync) is loaded back after reopening, with append\'s accounting', async () => {
    const log = new PbftLog(dir)
    log.load()
    const first = [view(0), executed(1), prepare(1)]
    const second = [executed(2, '{"op":"put","namespace":"ns","key":"é😀","value":"\\"x\\""}'), stable(2)]
    await log.appendGroup(first)
    await log.appendGroup([])
    await log.appendGroup(second)
    expect(log.recordCount).toBe(5)
    expect(log.stableSeq).toBe(2)
    expect(log.sizeBytes).toBe(statSync(log.path).size)
    log.close()
    const again = new PbftLog(dir)
    expect(again.load()).toEqual([...first, ...second])
    expect(again.truncatedBytes).toBe(0)
    expect(again.sizeBytes).toBe(log.sizeBytes)
    again.close()
  })

  it('an injected fsync is called once per non-empty group (none for an empty one)', async () => {
    let fsyncs = 0
    const log = new PbftLog(dir, { fsync: () => { fsyncs++ } })
    log.load()
    fsyncs = 0
    await log.appendGroup([view(0), executed(1), prepare(1)])
    expect(fsyncs).toBe(1)
    await log.appendGroup([])
    expect(fsyncs).toBe(1)
    await log.appendGroup([executed(2)])
    expect(fsyncs).toBe(2)
    log.close()
  })

  it('before load, appendGroup rejects (it does not throw synchronously)', async () => {
    const log = new PbftLog(dir)
    let pending: Promise<void> | undefined
    expect(() => { pending = log.appendGroup([view(0)]) }).not.toThrow()
    await expect(pending).rejects.toThrow(/load\(\) it before/)
  })

  it('a failed fsync rejects the group and leaves no partial frame: the file loads with the earlier records only', async () => {
    let fail = false
    const log = new PbftLog(dir, { fsync: () => { if (fail) throw new Error('EIO') } })
    log.load()
    await log.appendGroup([view(0), executed(1)])
    const sizeBefore = log.sizeBytes
    fail = true
    await expect(log.appendGroup([executed(2), executed(3)])).rejects.toThrow('EIO')
    expect(statSync(log.path).size).toBe(sizeBefore)
    expect(log.sizeBytes).toBe(sizeBefore)
    expect(log.recordCount).toBe(2)
    fail = false
    const peek = new PbftLog(dir)
    expect(peek.load()).toEqual([view(0), executed(1)])
    expect(peek.truncatedBytes).toBe(0)
    peek.close()
    // the failed group is no longer in flight: the next one goes through
    await log.appendGroup([executed(4)])
    log.close()
    const again = new PbftLog(dir)
    expect(again.load()).toEqual([view(0), executed(1), executed(4)])
    expect(again.truncatedBytes).toBe(0)
    again.close()
  })

  it('a second group while one is in flight (real fdatasync) is rejected and writes nothing; the first completes', async () => {
    const log = new PbftLog(dir)
    log.load()
    await log.appendGroup([view(0)])
    const first = log.appendGroup([executed(1)])
    const second = log.appendGroup([executed(2)]) // same turn of the event loop: the first's fdatasync cannot have finished
    await expect(second).rejects.toThrow(/appendGroup while another group is in flight/)
    // the first group's frames are written, but counted only once durable
    expect(log.recordCount).toBe(1)
    await first
    expect(log.recordCount).toBe(2)
    expect(log.sizeBytes).toBe(statSync(log.path).size)
    await log.appendGroup([executed(3)]) // the guard is released
    log.close()
    expect(new PbftLog(dir).load()).toEqual([view(0), executed(1), executed(3)])
  })

  it('with an injected (synchronous) fsync a group completes within the call, so the in-flight guard never trips', async () => {
    let fsyncs = 0
    const log = new PbftLog(dir, { fsync: () => { fsyncs++ } })
    log.load()
    fsyncs = 0
    const first = log.appendGroup([executed(1)])
    expect(fsyncs).toBe(1) // before any await: already written and fsynced
    expect(log.recordCount).toBe(1)
    const second = log.appendGroup([executed(2)])
    await expect(Promise.all([first, second])).resolves.toEqual([undefined, undefined])
    expect(fsyncs).toBe(2)
    log.close()
    expect(new PbftLog(dir).load()).toEqual([executed(1), executed(2)])
  })

  it('appendGroup, append and compact work together on one log', async () => {
    const log = new PbftLog(dir)
    log.load()
    await log.appendGroup([view(0), executed(1), prepare(1), stable(1)])
    log.append([executed(2), prepare(2)])
    await log.appendGroup([stable(2), executed(3), prepare(3)])
    expect(log.recordCount).toBe(9)
    expect(log.stableSeq).toBe(2)
    const result = log.compact(2)
    expect(result).toMatchObject({ recordsBefore: 9, recordsKept: 4 })
    expect(log.sizeBytes).toBe(statSync(log.path).size)
    // appends of both kinds go to the compacted file
    await log.appendGroup([executed(4)])
    log.append([prepare(4)])
    await log.appendGroup([stable(4)])
    expect(log.sizeBytes).toBe(statSync(log.path).size)
    log.close()
    const again = new PbftLog(dir)
    expect(again.load()).toEqual([view(0), stable(2), executed(3), prepare(3), executed(4), prepare(4), stable(4)])
    expect(again.stableSeq).toBe(4)
    expect(again.compact(4).recordsKept).toBe(2) // view(0), stable(4)
    again.close()
    expect(new PbftLog(dir).load()).toEqual([view(0), stable(4)])
  })

  it('appendGroup compacts by itself once the file passes its bound', async () => {
    const compactAtBytes = 4096
    const log = new PbftLog(dir, { compactAtBytes })
    log.load()
    await log.appendGroup([view(0)])
    let appended = 1
    let shrank = 0
    for (let seq = 1; seq <= 60; seq++) {
      const group = seq % 10 === 0 ? [executed(seq), prepare(seq), stable(seq)] : [executed(seq), prepare(seq)]
      const before = log.sizeBytes
      await log.appendGroup(group)
      appended += group.length
      if (log.sizeBytes < before) shrank++
      expect(log.sizeBytes).toBe(statSync(log.path).size)
      expect(log.sizeBytes).toBeLessThanOrEqual(2 * compactAtBytes)
    }
    expect(shrank).toBeGreaterThan(0)
    expect(log.recordCount).toBeLessThan(appended)
    log.close()
    const records = new PbftLog(dir).load()
    expect(records.length).toBe(log.recordCount)
    expect(records).not.toContainEqual(executed(1))
    expect(records[0]).toEqual(view(0))
    expect(records.slice(-3)).toEqual([executed(60), prepare(60), stable(60)])
  })
})

describe('pbft log: recovery', () => {
  function writeLog (records: PersistRecord[]): { path: string, ends: number[] } {
    const log = new PbftLog(dir)
    log.load()
    const ends: number[] = []
    for (const record of records) { log.append([record]); ends.push(log.sizeBytes) }
    log.close()
    return { path: log.path, ends }
  }
  const records = [view(0), executed(1), executed(2), executed(3)]

  const torn: Array<[string, (path: string, ends: number[]) => void]> = [
    ['cut inside the last payload', (path, ends) => truncateSync(path, (ends[3] as number) - 5)],
    ['cut inside the last header', (path, ends) => truncateSync(path, (ends[2] as number) + 7)],
    ['a zero-filled tail', path => appendFileSync(path, Buffer.alloc(100))],
    ['the last payload never reached the disk (zeros, right length)', (path, ends) => {
      const bytes = readFileSync(path)
      bytes.fill(0, (ends[2] as number) + 12, ends[3])
      writeFileSync(path, bytes)
    }]
  ]
  for (const [name, damage] of torn) {
    it(`a torn last record is truncated: ${name}`, () => {
      const { path, ends } = writeLog(records)
      damage(path, ends)
      const damagedSize = statSync(path).size
      const log = new PbftLog(dir)
      const loaded = log.load()
      const intact = name === 'a zero-filled tail' ? 4 : 3
      expect(loaded).toEqual(records.slice(0, intact))
      expect(log.truncatedBytes).toBe(damagedSize - (ends[intact - 1] as number))
      expect(statSync(path).size).toBe(ends[intact - 1])
      // appending after recovery gives a clean log
      log.append([executed(9)])
      log.close()
      expect(new PbftLog(dir).load()).toEqual([...records.slice(0, intact), executed(9)])
    })
  }

  it('damage in the middle is an error naming the file and the offset', () => {
    const { path, ends } = writeLog(records)
    const bytes = readFileSync(path)
    const secondStart = ends[0] as number
    bytes[secondStart + 20] = (bytes[secondStart + 20] as number) ^ 0x01 // a payload bit of record 2 (of 4)
    writeFileSync(path, bytes)
    const error = (() => { try { new PbftLog(dir).load() } catch (err) { return err } })() as PbftLogError
    expect(error).toBeInstanceOf(PbftLogError)
    expect(error.name).toBe('PbftLogError')
    expect(error.file).toBe(path)
    expect(error.offset).toBe(secondStart)
    expect(error.message).toContain(path)
    expect(error.message).toContain(`corrupt at byte ${secondStart}: record checksum mismatch`)
    expect(statSync(path).size).toBe(bytes.length) // nothing was truncated
  })

  it('a damaged header in the middle (e.g. its length) is damage, not a torn tail', () => {
    const { path, ends } = writeLog(records)
    const bytes = readFileSync(path)
    bytes[(ends[1] as number) + 1] = 0x7f // the length of record 3: would point past the end of the file
    writeFileSync(path, bytes)
    expect(() => new PbftLog(dir).load()).toThrow(new RegExp(`corrupt at byte ${ends[1] as number}: frame header checksum mismatch`))
  })

  it('a file that is not a pbft log is refused at offset 0', () => {
    writeFileSync(join(dir, 'pbft.log'), 'hello world')
    expect(() => new PbftLog(dir).load()).toThrow(/not a pbft log \(bad magic at byte 0\)/)
  })

  it('a leftover temp file of an interrupted compaction is removed; the log itself is intact', () => {
    const { path } = writeLog(records)
    writeFileSync(`${path}.compact-tmp`, 'partial')
    expect(new PbftLog(dir).load()).toEqual(records)
    expect(existsSync(`${path}.compact-tmp`)).toBe(false)
  })

  it('a record frame is length, payload CRC, header CRC, JSON', () => {
    const frame = encodeFrame(view(3))
    const payload = frame.subarray(12)
    expect(frame.readUInt32BE(0)).toBe(payload.length)
    expect(frame.readUInt32BE(4)).toBe(crc32(payload))
    expect(frame.readUInt32BE(8)).toBe(crc32(frame.subarray(0, 8)))
    expect(JSON.parse(payload.toString())).toEqual(view(3))
  })
})

describe('pbft log: what compaction keeps', () => {
  it('the latest stable and view records, and everything above the stable seq', () => {
    const vc = (v: number): PersistRecord => ({
      kind: 'accepted', message: { type: 'view-change', view: v, stableSeq: 4, stableDigest: 's4', checkpointProof: [], prepared: [], from: 2, signature: 's' }
    })
    const records: PersistRecord[] = [
      view(0), executed(1), prepare(1), stable(2), executed(3), prepare(3), executed(4), stable(4), vc(1), view(1, false),
      vc(2), view(2, false), prepare(5, 2), executed(5)
    ]
    const keep = recordsNeededForRestore(records, 4)
    expect(records.filter((_, i) => keep[i])).toEqual([stable(4), vc(2), view(2, false), prepare(5, 2), executed(5)])
    // a stable seq beyond the latest snapshot in the log is clamped to it: nothing above the snapshot is lost
    const clamped = recordsNeededForRestore([stable(2), executed(3), executed(4)], 4)
    expect(clamped).toEqual([true, true, true])
  })
})

// ————————————————————————————————————————— a small cluster driven by the real application

const validatorIds = ['ReplicaA', 'ReplicaB', 'ReplicaC', 'ReplicaD']
const config = (id: number): ReplicaConfig => ({
  id, n: 4, checkpointInterval: 4, batchSizeMax: 3, batchDelayMs: 0, viewChangeTimeoutMs: 1000, retransmitMs: 400
})
const cryptoFor = (id: number): Crypto => ({
  hash: sha,
  sign: data => sha(`secret-${id}|${data}`),
  verify: (from, data, signature) => sha(`secret-${from}|${data}`) === signature
})
const newApp = (): MeshApplication => new MeshApplication(validatorIds, sha)

type CompactionPolicy = 'never' | 'every-stable' | 'auto'

class Cluster {
  apps = validatorIds.map(() => newApp())
  replicas = this.apps.map((app, i) => new Replica(config(i), cryptoFor(i), app, 0))
  logs: PbftLog[]
  /** Every record ever persisted, uncompacted. */
  persisted: PersistRecord[][] = validatorIds.map(() => [])
  down = new Set<number>()
  queue: Array<{ to: number, message: Message }> = []
  now = 0
  nextId = new Map<string, number>()

  constructor (readonly policies: CompactionPolicy[]) {
    this.logs = policies.map((policy, i) => new PbftLog(join(dir, `r${i}`), policy === 'auto' ? { compactAtBytes: 16 * 1024 } : {}))
    for (const log of this.logs) expect(log.load()).toEqual([])
  }

  perform (from: number, effects: Effect[]): void {
    const records = effects.filter((e): e is Extract<Effect, { type: 'persist' }> => e.type === 'persist').map(e => e.record)
    this.persisted[from]?.push(...records)
    this.logs[from]?.append(records)
    for (const effect of effects) {
      if (effect.type === 'send') {
        const targets = effect.to === 'all' ? [0, 1, 2, 3].filter(i => i !== from) : [effect.to]
        for (const to of targets) this.queue.push({ to, message: structuredClone(effect.message) })
      } else if (effect.type === 'stable' && this.policies[from] === 'every-stable') {
        this.logs[from]?.compact(effect.seq)
      }
    }
  }

  submit (client: string, operation: unknown): void {
    const requestId = (this.nextId.get(client) ?? 0) + 1
    this.nextId.set(client, requestId)
    const request: ClientRequest = { client, requestId, operation: JSON.stringify(operation) }
    // like a client that gave up on one replica: to every live one (backups forward to the primary)
    for (let i = 0; i < 4; i++) {
      if (!this.down.has(i)) this.perform(i, (this.replicas[i] as Replica).step({ type: 'request', request, nowMs: this.now }))
    }
    this.drain()
  }

  drain (): void {
    for (let guard = 0; this.queue.length > 0 && guard < 100_000; guard++) {
      const { to, message } = this.queue.shift() as { to: number, message: Message }
      if (this.down.has(to) || this.down.has(message.from)) continue
      this.perform(to, (this.replicas[to] as Replica).step({ type: 'message', message, nowMs: this.now }))
    }
  }

  advance (ms: number): void {
    for (let t = 0; t < ms; t += 100) {
      this.now += 100
      for (let i = 0; i < 4; i++) if (!this.down.has(i)) this.perform(i, (this.replicas[i] as Replica).step({ type: 'tick', nowMs: this.now }))
      this.drain()
    }
  }
}

function runHistory (cluster: Cluster): void {
  for (let i = 0; i < 9; i++) cluster.submit('writer', { op: 'put', namespace: 'ns', key: `k${i}`, value: `v${i}` })
  cluster.submit('ReplicaB', { op: 'propose', proposal: { assign: 'task-1', to: 'ReplicaC' } })
  const id = cluster.apps[1]?.proposals(1)[0]?.id as string
  for (const voter of ['ReplicaB', 'ReplicaC', 'ReplicaD']) cluster.submit(voter, { op: 'vote', id, decision: 'approve' })
  expect(cluster.apps[1]?.proposal(id)?.status).toBe('approved')
  // the primary crashes: a view change, then more decisions in view 1
  cluster.down.add(0)
  cluster.submit('writer', { op: 'put', namespace: 'ns', key: 'after', value: 'view change' })
  cluster.advance(3000)
  for (let i = 0; i < 7; i++) cluster.submit('writer', { op: 'put', namespace: 'ns', key: `late${i}`, value: 'x'.repeat(500) })
  cluster.advance(500)
}

describe('pbft log: compaction keeps what Replica.restore needs', () => {
  it('a replica restored from its compacted log equals one restored from everything it persisted', () => {
    const cluster = new Cluster(['never', 'never', 'every-stable', 'auto'])
    runHistory(cluster)
    const live = cluster.replicas[1] as Replica
    expect(live.status()).toMatchObject({ view: 1, active: true })
    expect(live.status().stableSeq).toBeGreaterThanOrEqual(8)

    const log = cluster.logs[1] as PbftLog
    const sizeBefore = log.sizeBytes
    const result = log.compact(live.status().stableSeq)
    log.close()
    expect(result.recordsKept).toBeLessThan(result.recordsBefore / 4)
    expect(result.bytesAfter).toBeLessThan(sizeBefore)
    const compacted = new PbftLog(log.dir).load()
    expect(compacted.length).toBe(result.recordsKept)
    const kinds = new Set(compacted.map(r => r.kind === 'sent' || r.kind === 'accepted' ? r.message.type : r.kind))
    for (const kind of ['stable', 'view', 'executed', 'view-change', 'new-view', 'pre-prepare', 'prepare', 'commit']) expect(kinds).toContain(kind)
    expect(compacted.filter(r => r.kind === 'stable')).toHaveLength(1)

    const fullApp = newApp()
    const compactedApp = newApp()
    const full = Replica.restore(config(1), cryptoFor(1), fullApp, cluster.persisted[1] as PersistRecord[], cluster.now)
    const fromCompacted = Replica.restore(config(1), cryptoFor(1), compactedApp, compacted, cluster.now)
    expect(fromCompacted.status()).toEqual(full.status())
    expect(fromCompacted.status()).toEqual({ ...live.status(), pending: 0, recovering: true })
    expect(compactedApp.digest()).toBe(fullApp.digest())
    expect(compactedApp.digest()).toBe(cluster.apps[1]?.digest())
    expect(compactedApp.get('ns', 'late6')?.value).toBe('x'.repeat(500))
    // same internal state: the same retransmissions on the next tick
    const tick = { type: 'tick' as const, nowMs: cluster.now + 1000 }
    const effects = fromCompacted.step(tick)
    expect(effects.some(e => e.type === 'send' && e.message.type === 'new-view')).toBe(true)
    expect(JSON.stringify(effects)).toBe(JSON.stringify(full.step(tick)))
  })

  it('compacting at every stable checkpoint (as the runtime does) and by size both restore to the live state', () => {
    const cluster = new Cluster(['never', 'never', 'every-stable', 'auto'])
    runHistory(cluster)
    for (const i of [2, 3]) {
      const log = cluster.logs[i] as PbftLog
      log.close()
      const reloaded = new PbftLog(log.dir)
      const records = reloaded.load()
      expect(records.length).toBeLessThan((cluster.persisted[i] as PersistRecord[]).length)
      const app = newApp()
      const restored = Replica.restore(config(i), cryptoFor(i), app, records, cluster.now)
      expect(restored.status()).toEqual({ ...(cluster.replicas[i] as Replica).status(), pending: 0, recovering: true })
      expect(app.digest()).toBe(cluster.apps[i]?.digest())
      reloaded.close()
    }
    // the size bound held for the auto-compacted log
    expect(statSync((cluster.logs[3] as PbftLog).path).size).toBeLessThanOrEqual(2 * 16 * 1024 + 64 * 1024)
  })

  it('a replica restarted from its compacted log rejoins and keeps agreeing', () => {
    const cluster = new Cluster(['never', 'never', 'every-stable', 'never'])
    runHistory(cluster)
    const log = cluster.logs[2] as PbftLog
    log.close()
    const reloaded = new PbftLog(log.dir)
    const app = newApp()
    cluster.apps[2] = app
    cluster.replicas[2] = Replica.restore(config(2), cryptoFor(2), app, reloaded.load(), cluster.now)
    cluster.logs[2] = reloaded
    for (let i = 0; i < 6; i++) cluster.submit('writer', { op: 'put', namespace: 'ns', key: `more${i}`, value: `${i}` })
    cluster.advance(2000)
    expect(app.get('ns', 'more5')?.value).toBe('5')
    expect(app.digest()).toBe(cluster.apps[1]?.digest())
    expect(cluster.replicas[2]?.status().lastExecuted).toBe(cluster.replicas[1]?.status().lastExecuted)
    for (const l of cluster.logs) l.close()
  })
})

describe('pbft log: write-ahead with the fsync behind (write + sync)', () => {
  it('what write put in the file is there for a process that opens it next, before any sync (a kill -9 keeps the page cache)', () => {
    let fsyncs = 0
    const log = new PbftLog(dir, { fsync: () => { fsyncs++ } })
    log.load()
    fsyncs = 0
    const records = [view(0), executed(1), prepare(1)]
    log.write(records)
    expect(fsyncs).toBe(0)
    expect(log.unsynced).toBeGreaterThan(0)
    expect(log.sizeBytes).toBe(statSync(log.path).size)
    // another process (a restart after kill -9) reads the same file: the records are there
    const reader = new PbftLog(dir)
    expect(reader.load()).toEqual(records)
    reader.close()
    log.close()
  })

  it('sync covers everything written so far with one fsync; nothing left, no fsync', async () => {
    let fsyncs = 0
    const log = new PbftLog(dir, { fsync: () => { fsyncs++ } })
    log.load()
    fsyncs = 0
    log.write([view(0)])
    log.write([executed(1), prepare(1)])
    await log.sync()
    expect(fsyncs).toBe(1)
    expect(log.unsynced).toBe(0)
    await log.sync()
    expect(fsyncs).toBe(1)
    log.close()
  })

  it('a compaction while a real fdatasync runs swaps files without closing the descriptor under it; later writes land in the new file', async () => {
    const log = new PbftLog(dir)
    log.load()
    log.write([view(0), executed(1), executed(2), stable(2), executed(3)])
    const syncing = log.sync()
    log.compact(2)
    log.write([executed(4)])
    await syncing
    await log.sync()
    expect(log.unsynced).toBe(0)
    log.close()
    const again = new PbftLog(dir)
    expect(again.load()).toEqual([view(0), stable(2), executed(3), executed(4)])
    again.close()
  })

  it('a failed fsync rejects sync (the runtime then stops the validator)', async () => {
    let fail = false
    const log = new PbftLog(dir, { fsync: () => { if (fail) throw new Error('EIO') } })
    log.load()
    log.write([view(0)])
    fail = true
    await expect(log.sync()).rejects.toThrow('EIO')
    log.close()
  })
})
