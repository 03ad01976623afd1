/**
 * The LWW map and its hybrid logical clock (src/core/gossip/lww.ts, hlc.ts): merge laws and
 * order-independence with fast-check, HLC monotonicity with skewed and backwards clocks, tombstone
 * collection without resurrection, bounds, digests and anti-entropy.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compareHlc, HybridClock } from '../../src/core/gossip/hlc.js'
import type { Hlc } from '../../src/core/gossip/hlc.js'
import { compareVersions, LwwMap, mergeStates } from '../../src/core/gossip/lww.js'
import type { LwwEntry, LwwState } from '../../src/core/gossip/lww.js'

const hour = 60 * 60 * 1000
const day = 24 * hour

// Small alphabets so that generated entries collide on namespaces, keys and even timestamps.
const hlcArb: fc.Arbitrary<Hlc> = fc.record({
  wallMs: fc.integer({ min: 1_000, max: 1_010 }),
  logical: fc.integer({ min: 0, max: 2 }),
  node: fc.constantFrom('a', 'b', 'c')
})
const entryArb: fc.Arbitrary<LwwEntry> = fc.record({
  namespace: fc.constantFrom('tasks', 'notes'),
  key: fc.constantFrom('k1', 'k2', 'k3', 'k4'),
  value: fc.option(fc.constantFrom('x', 'y', 'z', '{"n":1}'), { nil: null }),
  hlc: hlcArb
})

function stateOf (entries: readonly LwwEntry[]): LwwState {
  let state: LwwState = new Map()
  for (const e of entries) state = mergeStates(state, new Map([[e.namespace, new Map([[e.key, { value: e.value, hlc: e.hlc }]])]]))
  return state
}

function plain (state: LwwState): Array<[string, Array<[string, string | null, string]>]> {
  return [...state].sort((a, b) => a[0] < b[0] ? -1 : 1).map(([ns, keys]) => [ns, [...keys]
    .sort((a, b) => a[0] < b[0] ? -1 : 1).map(([k, v]) => [k, v.value, `${v.hlc.wallMs}.${v.hlc.logical}.${v.hlc.node}`])])
}

const stateArb = fc.array(entryArb, { maxLength: 12 }).map(stateOf)

/** A map whose clock reads `wallMs` near the generated timestamps, so nothing is "ahead". */
function mapAt (self = 'me'): LwwMap {
  return new LwwMap({ self })
}

describe('merge laws (fast-check)', () => {
  it('commutative: a ⊔ b = b ⊔ a', () => {
    fc.assert(fc.property(stateArb, stateArb, (a, b) => {
      expect(plain(mergeStates(a, b))).toEqual(plain(mergeStates(b, a)))
    }), { numRuns: 300 })
  })

  it('associative: (a ⊔ b) ⊔ c = a ⊔ (b ⊔ c)', () => {
    fc.assert(fc.property(stateArb, stateArb, stateArb, (a, b, c) => {
      expect(plain(mergeStates(mergeStates(a, b), c))).toEqual(plain(mergeStates(a, mergeStates(b, c))))
    }), { numRuns: 300 })
  })

  it('idempotent: a ⊔ a = a', () => {
    fc.assert(fc.property(stateArb, a => {
      expect(plain(mergeStates(a, a))).toEqual(plain(a))
    }), { numRuns: 300 })
  })

  it('LwwMap.merge of the same entries in any order (duplicates included) reaches the same state as mergeStates', () => {
    fc.assert(fc.property(fc.array(entryArb, { minLength: 1, maxLength: 20 }), fc.integer(), (entries, seed) => {
      const shuffled = fc.sample(fc.shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length }), { seed, numRuns: 1 })[0] as LwwEntry[]
      const a = mapAt('a')
      const b = mapAt('b')
      a.merge(entries, 1_005)
      b.merge([...shuffled, ...shuffled.slice(0, 3)], 1_005)
      expect(plain(a.state())).toEqual(plain(b.state()))
      expect(plain(a.state())).toEqual(plain(stateOf(entries)))
      expect(a.namespaceDigests()).toEqual(b.namespaceDigests())
    }), { numRuns: 300 })
  })

  it('equal timestamps with different contents are ordered by content, the same way on both sides', () => {
    const hlc = { wallMs: 5, logical: 0, node: 'x' }
    expect(compareVersions({ value: 'a', hlc }, { value: 'b', hlc })).toBe(-1)
    expect(compareVersions({ value: 'b', hlc }, { value: 'a', hlc })).toBe(1)
    expect(compareVersions({ value: null, hlc }, { value: 'a', hlc })).toBe(-1)
    expect(compareVersions({ value: 'a', hlc }, { value: 'a', hlc })).toBe(0)
  })
})

describe('hybrid logical clock', () => {
  it('strictly increases over any interleaving of local events and observations, with a wall clock that skews and goes backwards', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('now' as const), wall: fc.integer({ min: 0, max: 10_000 }) }),
      fc.record({ kind: fc.constant('observe' as const), wall: fc.integer({ min: 0, max: 10_000 }), remote: fc.record({ wallMs: fc.integer({ min: 0, max: 12_000 }), logical: fc.integer({ min: 0, max: 5 }), node: fc.constantFrom('p', 'q') }) })
    )
    fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), steps => {
      const clock = new HybridClock('me', 1_000)
      let previous = clock.current()
      for (const s of steps) {
        if (s.kind === 'now') {
          const stamp = clock.now(s.wall)
          expect(compareHlc(stamp, previous)).toBe(1)
          expect(stamp.wallMs).toBeGreaterThanOrEqual(s.wall)
          previous = stamp
        } else {
          const accepted = clock.observe(s.remote, s.wall)
          expect(accepted).toBe(s.remote.wallMs <= s.wall + 1_000)
          const now = clock.current()
          if (accepted) {
            expect(compareHlc(now, previous)).toBe(1)
            // After observing, our next stamp beats the remote one.
            expect(compareHlc(clock.now(s.wall), s.remote)).toBe(1)
            previous = clock.current()
          } else {
            expect(now).toEqual(previous)
          }
        }
      }
    }), { numRuns: 300 })
  })

  it('a wall clock going backwards keeps the last wall time and counts up the logical part', () => {
    const clock = new HybridClock('me', 1_000)
    expect(clock.now(5_000)).toEqual({ wallMs: 5_000, logical: 0, node: 'me' })
    expect(clock.now(4_000)).toEqual({ wallMs: 5_000, logical: 1, node: 'me' })
    expect(clock.now(3_000)).toEqual({ wallMs: 5_000, logical: 2, node: 'me' })
    expect(clock.now(6_000)).toEqual({ wallMs: 6_000, logical: 0, node: 'me' })
  })

  it('a peer whose clock is ahead within the drift allowance pulls us forward; beyond it, it is refused', () => {
    const clock = new HybridClock('me', 1_000)
    expect(clock.observe({ wallMs: 1_800, logical: 4, node: 'p' }, 1_000)).toBe(true)
    expect(clock.now(1_000)).toEqual({ wallMs: 1_800, logical: 6, node: 'me' })
    expect(clock.observe({ wallMs: 2_001, logical: 0, node: 'p' }, 1_000)).toBe(false)
    expect(clock.current().wallMs).toBe(1_800)
  })
})

describe('last writer wins', () => {
  it('the later write wins whatever the arrival order; a delete beats an older set and an older set does not resurrect it', () => {
    const writer = mapAt('w')
    const set = writer.set('notes', 'k', 'v1', 10_000)
    const del = writer.delete('notes', 'k', 10_100)
    expect(set.ok && del.ok).toBe(true)
    if (!set.ok || !del.ok) return
    const reader = mapAt('r')
    expect(reader.merge([del.entry], 10_200)).toEqual({ applied: 1, stale: 0, refused: {} })
    expect(reader.merge([set.entry], 10_200)).toEqual({ applied: 0, stale: 1, refused: {} })
    expect(reader.get('notes', 'k')).toBeUndefined()
    expect(reader.entry('notes', 'k')?.value).toBeNull()
    expect(reader.keys('notes')).toEqual([])
  })

  it('a local write after merging a remote one always wins over it (the clock observed it)', () => {
    const map = mapAt('a')
    map.merge([{ namespace: 'n', key: 'k', value: 'remote', hlc: { wallMs: 50_500, logical: 9, node: 'z' } }], 50_000)
    const mine = map.set('n', 'k', 'local', 50_000)
    expect(mine.ok).toBe(true)
    expect(map.get('n', 'k')).toBe('local')
  })
})

describe('tombstone collection', () => {
  function deletedAt (wallMs: number): { map: LwwMap, oldSet: LwwEntry } {
    const writer = mapAt('w')
    const set = writer.set('notes', 'k', 'v1', wallMs - 1_000)
    if (!set.ok) throw new Error('set refused')
    const map = mapAt('m')
    map.merge([set.entry], wallMs)
    expect(map.delete('notes', 'k', wallMs).ok).toBe(true)
    return { map, oldSet: set.entry }
  }

  it('within the horizon the tombstone stays and a late old set does not resurrect the key', () => {
    const { map, oldSet } = deletedAt(1_000_000)
    expect(map.gc(1_000_000 + hour)).toBe(0)
    expect(map.merge([oldSet], 1_000_000 + hour)).toEqual({ applied: 0, stale: 1, refused: {} })
    expect(map.get('notes', 'k')).toBeUndefined()
    // Just before the horizon the tombstone is still there; the old set is older than the floor now.
    expect(map.gc(1_000_000 + day - 1)).toBe(0)
    expect(map.entry('notes', 'k')?.value).toBeNull()
    expect(map.merge([oldSet], 1_000_000 + day - 1).applied).toBe(0)
    expect(map.get('notes', 'k')).toBeUndefined()
  })

  it('after the horizon the tombstone is collected and the old set is refused as beyond the horizon', () => {
    const { map, oldSet } = deletedAt(1_000_000)
    const before = map.bytesUsed()
    expect(before).toBeGreaterThan(0)
    expect(map.gc(1_000_000 + day + 1)).toBe(1)
    expect(map.entry('notes', 'k')).toBeUndefined()
    expect(map.bytesUsed()).toBe(0)
    expect(map.merge([oldSet], 1_000_000 + day + 2)).toEqual({ applied: 0, stale: 0, refused: { 'beyond-horizon': 1 } })
    expect(map.get('notes', 'k')).toBeUndefined()
    // A genuinely new write is still welcome.
    expect(map.merge([{ ...oldSet, value: 'v2', hlc: { wallMs: 1_000_000 + day + 2, logical: 0, node: 'w' } }], 1_000_000 + day + 2).applied).toBe(1)
    expect(map.get('notes', 'k')).toBe('v2')
  })

  it('live entries are never collected', () => {
    const map = mapAt()
    map.set('n', 'k', 'v', 1_000)
    expect(map.gc(10 * day)).toBe(0)
    expect(map.get('n', 'k')).toBe('v')
  })
})

describe('bounds', () => {
  it('refuses with a reason: key too long, value too large, namespace full, too many namespaces, store full', () => {
    const map = new LwwMap({ self: 'a', limits: { keyLengthMax: 4, valueBytesMax: 8, keysPerNamespaceMax: 2, namespacesMax: 2, bytesMax: 200 } })
    expect(map.set('n', 'toolong', 'v', 1)).toEqual({ ok: false, reason: 'key-too-long' })
    expect(map.set('n', 'k', 'ééééé', 1)).toEqual({ ok: false, reason: 'value-too-large' })
    expect(map.set('n', 'k1', 'v', 1).ok).toBe(true)
    expect(map.set('n', 'k2', 'v', 1).ok).toBe(true)
    expect(map.set('n', 'k3', 'v', 1)).toEqual({ ok: false, reason: 'namespace-full' })
    expect(map.set('n', 'k1', 'w', 1).ok).toBe(true) // replacing is not growing
    expect(map.set('m', 'k1', 'v', 1).ok).toBe(true)
    expect(map.set('o', 'k1', 'v', 1)).toEqual({ ok: false, reason: 'too-many-namespaces' })
    expect(map.set('', 'k', 'v', 1)).toEqual({ ok: false, reason: 'malformed' })
    const small = new LwwMap({ self: 'a', limits: { bytesMax: 40 } })
    expect(small.set('n', 'k', 'x'.repeat(10), 1).ok).toBe(true) // 1 + 1 + 10 + 1 + 16 = 29 bytes
    expect(small.set('n', 'j', 'x'.repeat(10), 1)).toEqual({ ok: false, reason: 'store-full' })
    expect(small.bytesUsed()).toBe(29)
  })

  it('remote entries are validated one by one and refusals counted', () => {
    const map = new LwwMap({ self: 'a', limits: { keyLengthMax: 4 } })
    const good = { namespace: 'n', key: 'k', value: 'v', hlc: { wallMs: 100, logical: 0, node: 'b' } }
    const result = map.merge([
      good, null, 'x', { ...good, value: 5 }, { ...good, hlc: { wallMs: -1, logical: 0, node: 'b' } },
      { ...good, hlc: { wallMs: 1.5, logical: 0, node: 'b' } }, { ...good, hlc: { wallMs: 1, logical: 0, node: '' } },
      { ...good, key: 'toolong' }, { ...good, key: 'k2', hlc: { wallMs: 100 + 61_000, logical: 0, node: 'b' } }
    ], 100)
    expect(result).toEqual({ applied: 1, stale: 0, refused: { malformed: 6, 'key-too-long': 1, 'clock-ahead': 1 } })
    expect(map.refusalCounts()).toEqual({ 'clock-ahead': 1, 'key-too-long': 1, malformed: 6 })
    expect(map.keys('n')).toEqual(['k'])
  })
})

describe('digests and anti-entropy', () => {
  it('equal states have equal digests; one differing key changes only its namespace\'s digest', () => {
    const a = mapAt('a')
    const b = mapAt('b')
    for (const map of [a, b]) {
      map.merge([
        { namespace: 'n1', key: 'k', value: 'v', hlc: { wallMs: 10, logical: 0, node: 'x' } },
        { namespace: 'n2', key: 'k', value: 'v', hlc: { wallMs: 10, logical: 0, node: 'x' } }
      ], 10)
    }
    expect(a.namespaceDigests()).toEqual(b.namespaceDigests())
    expect(a.diffNamespaces(b.namespaceDigests())).toEqual([])
    b.set('n2', 'other', 'v', 20)
    expect(a.diffNamespaces(b.namespaceDigests())).toEqual(['n2'])
    b.set('n3', 'k', 'v', 20)
    expect(a.diffNamespaces(b.namespaceDigests())).toEqual(['n2', 'n3'])
    const { push, pull } = a.diffKeys('n2', b.keyVersions('n2'))
    expect(push).toEqual([])
    expect(pull).toEqual(['other'])
    // Same timestamp, different content (a faulty writer): repaired both ways, the greater one kept.
    const hlc = { wallMs: 30, logical: 0, node: 'x' }
    a.merge([{ namespace: 'n4', key: 'k', value: 'p', hlc }], 30)
    b.merge([{ namespace: 'n4', key: 'k', value: 'q', hlc }], 30)
    expect(a.diffNamespaces(b.namespaceDigests())).toContain('n4')
    const conflict = a.diffKeys('n4', b.keyVersions('n4'))
    expect(conflict.pull).toEqual(['k'])
    expect(conflict.push.map(e => e.value)).toEqual(['p'])
    expect(b.merge(conflict.push, 30).stale).toBe(1)
    expect(a.merge(b.entries('n4', conflict.pull), 30).applied).toBe(1)
    expect(a.get('n4', 'k')).toBe('q')
    expect(b.diffKeys('n2', a.keyVersions('n2')).push.map(e => e.key)).toEqual(['other'])
  })

  it('digest-driven anti-entropy between two replicas with arbitrary writes makes them equal (fast-check)', () => {
    fc.assert(fc.property(fc.array(entryArb, { maxLength: 15 }), fc.array(entryArb, { maxLength: 15 }), (left, right) => {
      const a = mapAt('a')
      const b = mapAt('b')
      a.merge(left, 1_005)
      b.merge(right, 1_005)
      // One exchange: namespace digests, then key versions of the differing ones, then push and pull.
      for (const namespace of a.diffNamespaces(b.namespaceDigests())) {
        const { push, pull } = a.diffKeys(namespace, b.keyVersions(namespace))
        b.merge(push, 1_005)
        a.merge(b.entries(namespace, pull), 1_005)
      }
      expect(a.namespaceDigests()).toEqual(b.namespaceDigests())
      expect(plain(a.state())).toEqual(plain(b.state()))
      expect(plain(a.state())).toEqual(plain(stateOf([...left, ...right])))
    }), { numRuns: 300 })
  })
})
