/**
 * The eventual store's runtime and wire pieces: the codec between protobuf and the LWW map
 * (protocols/eventual/codec.ts), the append log (src/runtime/gossip/eventual-log.ts) and the store
 * (src/runtime/gossip/eventual-store.ts): persistence across restarts, torn and damaged lines, the
 * collection floor, the clock after a restart, refusals as HTTP errors, and a replica-to-replica repair.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { compareHlc } from '../../src/core/gossip/hlc.js'
import { LwwMap } from '../../src/core/gossip/lww.js'
import type { LwwEntry } from '../../src/core/gossip/lww.js'
import { EventualRequest, RequestKind, Writes } from '../../protocols/eventual/eventual.js'
import { chunkEntries, digestsFromWire, entryFromWire, entryToWire, EventualProtocolError, versionsFromWire, versionsToWire } from '../../protocols/eventual/codec.js'
import { EventualLog, eventualLogFileName } from '../../src/runtime/gossip/eventual-log.js'
import { EventualStore, EventualWriteError } from '../../src/runtime/gossip/eventual-store.js'

const dirs: string[] = []
function tempDir (): string {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-eventual-'))
  dirs.push(dir)
  return dir
}
afterEach(() => { for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true }) })

const hour = 60 * 60 * 1000

function store (dir: string | null, self: string, clock: { now: number }, extra: Partial<ConstructorParameters<typeof EventualStore>[0]> = {}): EventualStore {
  const s = new EventualStore({ self, dataDir: dir, wire: null, pubsub: null, now: () => clock.now, ...extra })
  s.start()
  return s
}

describe('the wire codec', () => {
  it('an entry survives protobuf both ways, tombstones included', () => {
    const entries: LwwEntry[] = [
      { namespace: 'ns', key: 'k', value: 'v', hlc: { wallMs: 1_700_000_000_000, logical: 3, node: 'peer-a' } },
      { namespace: 'ns', key: 'gone', value: null, hlc: { wallMs: 1_700_000_000_001, logical: 0, node: 'peer-b' } },
      { namespace: 'ns', key: 'empty', value: '', hlc: { wallMs: 1_700_000_000_002, logical: 0, node: 'peer-b' } }
    ]
    const decoded = Writes.decode(Writes.encode({ entries: entries.map(entryToWire) }))
    expect(decoded.entries.map(entryFromWire)).toEqual(entries)
  })

  it('a timestamp above 2^53 becomes malformed for the map, never a rounded number', () => {
    const wire = { ...entryToWire({ namespace: 'ns', key: 'k', value: 'v', hlc: { wallMs: 1, logical: 0, node: 'a' } }), wallMs: 2n ** 60n }
    const map = new LwwMap({ self: 'me' })
    expect(map.merge([entryFromWire(wire)], 1_000).refused).toEqual({ malformed: 1 })
  })

  it('digests and key versions are checked item by item; one bad item refuses the message', () => {
    expect(digestsFromWire([{ namespace: 'a', digest: '0123456789abcdef' }])).toEqual([['a', '0123456789abcdef']])
    expect(() => digestsFromWire([{ namespace: 'a', digest: 'x' }, { namespace: 'a', digest: 'y' }])).toThrow(EventualProtocolError)
    expect(() => digestsFromWire([{ namespace: '', digest: 'x' }])).toThrow(/namespace/)
    expect(() => digestsFromWire([{ namespace: 'a', digest: 'x'.repeat(17) }])).toThrow(/digest/)
    const good = versionsToWire([['k', { wallMs: 5, logical: 0, node: 'a' }, 't']])
    expect(versionsFromWire(good)).toEqual([['k', { wallMs: 5, logical: 0, node: 'a' }, 't']])
    expect(() => versionsFromWire([{ ...good[0]!, node: '' }])).toThrow(/timestamp/)
    expect(() => versionsFromWire([{ ...good[0]!, key: 'k'.repeat(257) }])).toThrow(/key/)
    expect(() => versionsFromWire([good[0]!, good[0]!])).toThrow(/twice/)
  })

  it('decode limits: a request with more items than allowed is refused before it is built', () => {
    const bytes = EventualRequest.encode({ kind: RequestKind.DIGESTS, digests: Array.from({ length: 5 }, (_, i) => ({ namespace: `n${i}`, digest: 'd' })), namespace: '', versions: [], entries: [] })
    expect(() => EventualRequest.decode(bytes, { limits: { digests: 4 } })).toThrow(/too many/)
  })

  it('chunks keep to the byte budget and the count, and never leave an entry out', () => {
    const entries: LwwEntry[] = Array.from({ length: 10 }, (_, i) => ({ namespace: 'n', key: `k${i}`, value: 'x'.repeat(100), hlc: { wallMs: i, logical: 0, node: 'a' } }))
    const chunks = chunkEntries(entries, 350, 100)
    expect(chunks.flat()).toEqual(entries)
    expect(chunks.every(c => c.length === 2)).toBe(true)
    expect(chunkEntries(entries, 1_000_000, 3).map(c => c.length)).toEqual([3, 3, 3, 1])
    // an entry larger than the budget still goes, alone
    expect(chunkEntries(entries.slice(0, 2), 10, 100).map(c => c.length)).toEqual([1, 1])
  })
})

describe('the eventual store on disk', () => {
  it('writes, deletes and merged remote writes come back after a restart', async () => {
    const dir = tempDir()
    const clock = { now: 1_000_000 }
    const a = store(dir, 'node-a', clock)
    await a.set('notes', 'k1', 'one')
    await a.set('notes', 'k2', 'two')
    await a.delete('notes', 'k1')
    a.merge([{ namespace: 'notes', key: 'k3', value: 'remote', hlc: { wallMs: 999_000, logical: 0, node: 'node-b' } }], 'node-b', 'gossip')
    const results = await a.setMany('batch', [{ key: 'x', value: '1' }, { key: '', value: 'bad' }, { key: 'y', value: '2' }])
    expect(results.map(r => r.ok)).toEqual([true, false, true])
    const before = a.map.state()
    a.stop() // no flush needed for a restart of the process: the lines were written already
    const b = store(dir, 'node-a', clock)
    expect(b.map.state()).toEqual(before)
    expect(b.get('notes', 'k1')).toBeUndefined()
    expect(b.get('notes', 'k3')?.value).toBe('remote')
    expect(b.list('batch', '', 10).entries.map(e => e.key)).toEqual(['x', 'y'])
    b.stop()
  })

  it('a torn last line (kill -9 mid-write) and damaged lines are skipped; the next write survives', async () => {
    const dir = tempDir()
    const clock = { now: 5_000 }
    const a = store(dir, 'node-a', clock)
    await a.set('ns', 'kept', 'yes')
    a.stop()
    const path = join(dir, eventualLogFileName)
    appendFileSync(path, 'not json at all\n{"namespace":"ns","key":"evil","value":1,"hlc":{}}\n{"namespace":"ns","key":"torn","val')
    const b = store(dir, 'node-a', clock)
    expect(b.status().skippedAtLoad).toBe(3) // the garbage line, the torn line, the malformed entry
    expect(b.get('ns', 'kept')?.value).toBe('yes')
    await b.set('ns', 'after', 'torn')
    b.stop()
    // the rewrite at start dropped the torn tail, so the append after it is a whole line
    expect(readFileSync(path, 'utf8').split('\n').filter(l => l !== '').every(l => { try { JSON.parse(l); return true } catch { return false } })).toBe(true)
    const c = store(dir, 'node-a', clock)
    expect(c.get('ns', 'after')?.value).toBe('torn')
    expect(c.status().skippedAtLoad).toBe(0)
    c.stop()
  })

  it('a file of garbage does not stop the node: it starts empty', () => {
    const dir = tempDir()
    writeFileSync(join(dir, eventualLogFileName), Buffer.from([0xff, 0x00, 0x0a, 0x7b, 0x0a]))
    const s = store(dir, 'node-a', { now: 1 })
    expect(s.namespaces()).toEqual([])
    s.stop()
  })

  it('after a restart with the wall clock behind, a new write still beats every stored one', async () => {
    const dir = tempDir()
    const clock = { now: 10 * hour }
    const a = store(dir, 'node-a', clock)
    const first = await a.set('ns', 'k', 'before')
    a.stop()
    clock.now = 10 * hour - 5_000 // the clock stepped back 5 s
    const b = store(dir, 'node-a', clock)
    const second = await b.set('ns', 'k', 'after')
    expect(compareHlc(second.hlc, first.hlc)).toBeGreaterThan(0)
    expect(b.get('ns', 'k')?.value).toBe('after')
    b.stop()
  })

  it('a wall clock stepped back by more than the drift bound does not drop stored writes at a restart', async () => {
    const dir = tempDir()
    const clock = { now: 10 * hour }
    const a = store(dir, 'node-a', clock)
    const first = await a.set('ns', 'k', 'kept')
    a.stop()
    clock.now = 9 * hour // an hour back: a peer's write this far ahead would be refused ('clock-ahead')
    const b = store(dir, 'node-a', clock)
    expect(b.get('ns', 'k')?.value).toBe('kept')
    expect(b.status().skippedAtLoad).toBe(0)
    expect(compareHlc((await b.set('ns', 'k', 'next')).hlc, first.hlc)).toBeGreaterThan(0)
    b.stop()
  })

  it('the collection floor is persisted: after a restart an old remote write is still refused', async () => {
    const dir = tempDir()
    const clock = { now: 1_000 }
    const a = store(dir, 'node-a', clock, { tombstoneHorizonMs: hour })
    await a.set('ns', 'k', 'v')
    await a.delete('ns', 'k')
    clock.now += 2 * hour
    expect(a.collect()).toBe(1)
    expect(a.status().tombstones).toBe(0)
    a.stop()
    const b = store(dir, 'node-a', clock, { tombstoneHorizonMs: hour })
    expect(b.status().gcFloorMs).toBe(clock.now - hour)
    // the set the tombstone had beaten, arriving late from a peer cut off all along: not resurrected
    const result = b.merge([{ namespace: 'ns', key: 'k', value: 'stale', hlc: { wallMs: 1_000, logical: 5, node: 'node-z' } }], 'node-z', 'anti-entropy')
    expect(result.refused).toEqual({ 'beyond-horizon': 1 })
    expect(b.get('ns', 'k')).toBeUndefined()
    b.stop()
  })

  it('refusals are HTTP errors with the reason: too long, too large, full', async () => {
    const s = store(null, 'node-a', { now: 1 }, { limits: { keysPerNamespaceMax: 2, valueBytesMax: 8 } })
    await s.set('ns', 'a', '1')
    await s.set('ns', 'b', '2')
    const refused = async (action: () => Promise<unknown>): Promise<EventualWriteError> => {
      try { await action() } catch (err) { return err as EventualWriteError }
      throw new Error('not refused')
    }
    expect(await refused(async () => await s.set('ns', 'c', '3'))).toMatchObject({ status: 507, reason: 'namespace-full' })
    expect(await refused(async () => await s.set('ns', 'a', '123456789'))).toMatchObject({ status: 413, reason: 'value-too-large' })
    expect(await refused(async () => await s.set('ns', 'k'.repeat(300), 'v'))).toMatchObject({ status: 400, reason: 'key-too-long' })
    // overwriting an existing key of a full namespace is fine
    expect((await s.set('ns', 'a', 'new')).value).toBe('new')
    s.stop()
  })

  it('compaction keeps the log near the live entries', async () => {
    const dir = tempDir()
    const clock = { now: 1 }
    const s = store(dir, 'node-a', clock)
    for (let i = 0; i < 30_000; i++) await s.set('ns', `k${i % 10}`, String(i))
    s.stop()
    const lines = readFileSync(join(dir, eventualLogFileName), 'utf8').split('\n').filter(l => l !== '').length
    expect(lines).toBeLessThan(15_000)
    const again = store(dir, 'node-a', clock)
    expect(again.get('ns', 'k9')?.value).toBe('29999')
    again.stop()
  })
})

describe('repair between two replicas (the steps of an anti-entropy exchange)', () => {
  it('digests first, then key versions of differing namespaces only, then push and pull: both end equal', async () => {
    const clock = { now: 50_000 }
    const a = store(null, 'node-a', clock)
    const b = store(null, 'node-b', clock)
    await a.set('same', 'k', 'v')
    b.merge([a.map.entry('same', 'k')], 'node-a', 'gossip')
    await a.set('ns1', 'only-a', '1')
    await b.set('ns1', 'only-b', '2')
    await a.set('ns1', 'both', 'from-a')
    clock.now += 1
    await b.set('ns1', 'both', 'from-b')
    await b.set('ns2', 'k', 'b')
    await b.delete('ns2', 'k')
    const differing = a.diffNamespaces(b.namespaceDigests())
    expect(differing).toEqual(['ns1', 'ns2'])
    for (const namespace of differing) {
      const { push, pull } = b.diffKeys(namespace, a.keyVersions(namespace))
      a.merge(push, 'node-b', 'anti-entropy')
      b.merge(a.entries(namespace, pull), 'node-a', 'anti-entropy')
      // the cached digests follow every change
      expect(a.namespaceDigests()).toEqual(a.map.namespaceDigests())
      expect(b.namespaceDigests()).toEqual(b.map.namespaceDigests())
    }
    expect(a.map.state()).toEqual(b.map.state())
    expect(a.get('ns1', 'both')?.value).toBe('from-b')
    expect(a.diffNamespaces(b.namespaceDigests())).toEqual([])
  })
})

describe('the LWW map additions', () => {
  it('charges the sender of malformed entries and broken bytes to its reputation, not clock or capacity refusals', () => {
    const charged: Array<[string, string]> = []
    const clock = { now: 1_700_000_000_000 }
    const s = store(null, 'self', clock, { onRejected: (peer, reason) => { charged.push([peer, reason]) } })
    s.merge([{ namespace: 'ns', key: 'k', value: 'v', hlc: { wallMs: clock.now, logical: 0, node: '' } }], 'peer-x', 'gossip')
    s.merge([{ namespace: 'ns', key: 'later', value: 'v', hlc: { wallMs: clock.now + hour, logical: 0, node: 'peer-y' } }], 'peer-y', 'gossip')
    s.onReject('undecodable', 'peer-z', 'gossip')
    s.onReject('clock-ahead', 'peer-z', 'gossip')
    s.onReject('invalid', 'self', 'anti-entropy')
    expect(charged).toEqual([['peer-x', 'malformed'], ['peer-z', 'undecodable']])
    s.stop()
  })

  it('namespaceList counts live keys and tombstones; restoreGcFloor only raises the floor', () => {
    const map = new LwwMap({ self: 'me', tombstoneHorizonMs: hour })
    map.set('b', 'k1', 'v', 1_000)
    map.set('a', 'k1', 'v', 1_001)
    map.delete('a', 'k2', 1_002)
    expect(map.namespaceList()).toEqual([{ namespace: 'a', keys: 1, tombstones: 1 }, { namespace: 'b', keys: 1, tombstones: 0 }])
    map.restoreGcFloor(500)
    expect(map.gcFloor()).toBe(500)
    map.restoreGcFloor(100)
    expect(map.gcFloor()).toBe(500)
    expect(map.merge([{ namespace: 'a', key: 'old', value: 'x', hlc: { wallMs: 499, logical: 0, node: 'z' } }], 2_000).refused).toEqual({ 'beyond-horizon': 1 })
  })
})

describe('the log alone', () => {
  it('a missing file is an empty store; the floor line keeps the greatest floor', () => {
    const dir = tempDir()
    const log = new EventualLog(dir)
    expect(log.load()).toEqual({ entries: [], gcFloorMs: 0, skipped: 0 })
    log.rewrite([], 10)
    log.appendFloor(30)
    log.appendFloor(20)
    log.close()
    expect(new EventualLog(dir).load().gcFloorMs).toBe(30)
  })
})
