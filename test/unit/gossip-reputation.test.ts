/**
 * Peer reputation (src/core/gossip/reputation.ts): deltas per observation, exponential decay with
 * time passed in, clamping, RTT and task speed, ranking order, bounded size, and persistence that
 * refuses corrupt input as a whole.
 */
import { describe, expect, it } from 'vitest'
import { Reputation, reputationDefaults, restoreReputation } from '../../src/core/gossip/reputation.js'

const halfLifeMs = reputationDefaults.halfLifeMs
const d = reputationDefaults.deltas

describe('scores', () => {
  it('each observation adds its delta; unknown peers score 0', () => {
    const r = new Reputation()
    expect(r.score('p', 0)).toBe(0)
    r.observe('p', { type: 'probe', ok: true }, 0)
    r.observe('p', { type: 'task', success: true }, 0)
    expect(r.score('p', 0)).toBe(d.probeOk + d.taskSuccess)
    r.observe('q', { type: 'rejected', reason: 'bad-signature' }, 0)
    r.observe('q', { type: 'rejected', reason: 'stale' }, 0)
    r.observe('q', { type: 'request-timeout' }, 0)
    r.observe('q', { type: 'request-failed' }, 0)
    r.observe('q', { type: 'flap' }, 0)
    r.observe('q', { type: 'probe', ok: false }, 0)
    r.observe('q', { type: 'task', success: false }, 0)
    expect(r.score('q', 0)).toBe(-20 + d.rejectedDefault + d.requestTimeout + d.requestFailed + d.flap + d.probeFailed + d.taskFailure)
  })

  it('a rejection reason named like an Object prototype member gets the default, not a function', () => {
    const r = new Reputation()
    r.observe('p', { type: 'rejected', reason: 'constructor' }, 0)
    r.observe('p', { type: 'rejected', reason: '__proto__' }, 0)
    expect(r.score('p', 0)).toBe(2 * d.rejectedDefault)
  })

  it('decays by half every half-life, towards 0 from either side; a clock going backwards decays nothing', () => {
    const r = new Reputation()
    for (let i = 0; i < 10; i++) r.observe('good', { type: 'task', success: true }, 0)
    for (let i = 0; i < 4; i++) r.observe('bad', { type: 'task', success: false }, 0)
    expect(r.score('good', 0)).toBe(30)
    expect(r.score('good', halfLifeMs)).toBeCloseTo(15, 10)
    expect(r.score('good', 3 * halfLifeMs)).toBeCloseTo(3.75, 10)
    expect(r.score('bad', 2 * halfLifeMs)).toBeCloseTo(-5, 10)
    expect(r.score('good', -halfLifeMs)).toBe(30)
    // A new observation decays the old score first, then adds.
    r.observe('good', { type: 'probe', ok: true }, halfLifeMs)
    expect(r.score('good', halfLifeMs)).toBeCloseTo(16, 10)
    expect(r.score('good', 2 * halfLifeMs)).toBeCloseTo(8, 10)
  })

  it('honours a configured half-life', () => {
    const r = new Reputation({ halfLifeMs: 1_000 })
    r.observe('p', { type: 'task', success: true }, 0)
    expect(r.score('p', 2_000)).toBeCloseTo(0.75, 10)
  })

  it('is clamped to [scoreMin, scoreMax] however many events', () => {
    const r = new Reputation()
    for (let i = 0; i < 1_000; i++) {
      r.observe('saint', { type: 'task', success: true, durationMs: 1, expectedMs: 100 }, 0)
      r.observe('sinner', { type: 'rejected', reason: 'bad-signature' }, 0)
      r.observe('saint', { type: 'rtt', ms: 1 }, 0)
      r.observe('sinner', { type: 'rtt', ms: 10_000 }, 0)
    }
    expect(r.score('saint', 0)).toBe(100)
    expect(r.score('sinner', 0)).toBe(-100)
    // Clamping holds the stored score too: one bad event moves a saturated saint below the top.
    r.observe('saint', { type: 'task', success: false }, 0)
    expect(r.score('saint', 0)).toBeCloseTo(95 + 5 * 0.99, 10) // events 100 - 5, RTT 1 ms: +4.95
  })

  it('RTT: moving mean, a fast peer gains and a slow one loses at most rttWeight; bad samples ignored', () => {
    const r = new Reputation()
    r.observe('fast', { type: 'rtt', ms: 20 }, 0)
    r.observe('slow', { type: 'rtt', ms: 300 }, 0)
    expect(r.score('fast', 0)).toBeCloseTo(5 * 0.8, 10)
    expect(r.score('slow', 0)).toBe(-5)
    r.observe('fast', { type: 'rtt', ms: 120 }, 0)
    expect(r.rttMs('fast')).toBeCloseTo(40, 10)
    r.observe('fast', { type: 'rtt', ms: Number.NaN }, 0)
    r.observe('fast', { type: 'rtt', ms: -5 }, 0)
    expect(r.rttMs('fast')).toBeCloseTo(40, 10)
  })

  it('task speed scales a success by expected/actual within [0.5, 2]', () => {
    const r = new Reputation()
    r.observe('quick', { type: 'task', success: true, durationMs: 50, expectedMs: 100 }, 0)
    r.observe('slow', { type: 'task', success: true, durationMs: 1_000, expectedMs: 100 }, 0)
    r.observe('odd', { type: 'task', success: true, durationMs: 0, expectedMs: 100 }, 0)
    expect(r.score('quick', 0)).toBe(6)
    expect(r.score('slow', 0)).toBe(1.5)
    expect(r.score('odd', 0)).toBe(3)
  })
})

describe('ranking and bounds', () => {
  it('orders by score, best first, ties by PeerId; restricted to given peers (unknown score 0)', () => {
    const r = new Reputation()
    r.observe('c', { type: 'probe', ok: true }, 0)
    r.observe('a', { type: 'probe', ok: true }, 0)
    r.observe('b', { type: 'task', success: true }, 0)
    r.observe('d', { type: 'flap' }, 0)
    expect(r.ranking(0).map(x => x.peer)).toEqual(['b', 'a', 'c', 'd'])
    expect(r.ranking(0, ['d', 'z', 'c', 'z'])).toEqual([{ peer: 'c', score: 1 }, { peer: 'z', score: 0 }, { peer: 'd', score: -4 }])
  })

  it('keeps at most peersMax peers, evicting the one updated longest ago', () => {
    const r = new Reputation({ peersMax: 3 })
    r.observe('p1', { type: 'probe', ok: true }, 1)
    r.observe('p2', { type: 'probe', ok: true }, 2)
    r.observe('p3', { type: 'probe', ok: true }, 3)
    r.observe('p1', { type: 'probe', ok: true }, 4)
    r.observe('p4', { type: 'probe', ok: true }, 5)
    expect(r.size()).toBe(3)
    expect(r.ranking(5).map(x => x.peer).sort()).toEqual(['p1', 'p3', 'p4'])
  })

  it('refuses an invalid configuration', () => {
    expect(() => new Reputation({ halfLifeMs: 0 })).toThrow()
    expect(() => new Reputation({ scoreMin: 5 })).toThrow()
  })
})

describe('persistence', () => {
  it('round-trips: the restored reputation scores and ranks the same, now and later', () => {
    const r = new Reputation()
    r.observe('a', { type: 'task', success: true }, 1_000)
    r.observe('b', { type: 'rejected', reason: 'malformed' }, 2_000)
    r.observe('b', { type: 'rtt', ms: 50 }, 2_000)
    const restored = restoreReputation(r.serialise())
    expect(restored.ok).toBe(true)
    if (!restored.ok) return
    for (const t of [2_000, 2_000 + halfLifeMs]) {
      expect(restored.reputation.ranking(t)).toEqual(r.ranking(t))
    }
    expect(restored.reputation.serialise()).toBe(r.serialise())
  })

  const good = { version: 1, peers: [{ peer: 'a', events: 3, atMs: 10 }] }
  const cases: Array<[string, string, string]> = [
    ['not JSON', '{"version":1,', 'not-json'],
    ['an array', '[]', 'malformed'],
    ['null', 'null', 'malformed'],
    ['another version', JSON.stringify({ ...good, version: 2 }), 'wrong-version'],
    ['peers not an array', JSON.stringify({ version: 1, peers: {} }), 'malformed'],
    ['a peer without id', JSON.stringify({ version: 1, peers: [{ events: 1, atMs: 1 }] }), 'malformed'],
    ['a string score', JSON.stringify({ version: 1, peers: [{ peer: 'a', events: '1', atMs: 1 }] }), 'malformed'],
    ['a score above the clamp', JSON.stringify({ version: 1, peers: [{ peer: 'a', events: 1e9, atMs: 1 }] }), 'out-of-range'],
    ['a negative time', JSON.stringify({ version: 1, peers: [{ peer: 'a', events: 1, atMs: -1 }] }), 'out-of-range'],
    ['a negative RTT', JSON.stringify({ version: 1, peers: [{ peer: 'a', events: 1, atMs: 1, rttMs: -3 }] }), 'out-of-range'],
    ['a duplicate peer', JSON.stringify({ version: 1, peers: [good.peers[0], good.peers[0]] }), 'duplicate-peer'],
    ['a huge PeerId', JSON.stringify({ version: 1, peers: [{ peer: 'x'.repeat(500), events: 1, atMs: 1 }] }), 'malformed']
  ]
  for (const [name, text, reason] of cases) {
    it(`refuses ${name} (${reason})`, () => {
      expect(restoreReputation(text)).toEqual({ ok: false, reason })
    })
  }

  it('refuses more peers than peersMax', () => {
    const peers = Array.from({ length: 3 }, (_, i) => ({ peer: `p${i}`, events: 0, atMs: 0 }))
    expect(restoreReputation(JSON.stringify({ version: 1, peers }), { peersMax: 2 })).toEqual({ ok: false, reason: 'too-many-peers' })
  })

  it('NaN and Infinity cannot sneak in (JSON writes them as null)', () => {
    expect(restoreReputation('{"version":1,"peers":[{"peer":"a","events":null,"atMs":1}]}')).toEqual({ ok: false, reason: 'malformed' })
    expect(restoreReputation('{"version":1,"peers":[{"peer":"a","events":1e400,"atMs":1}]}')).toEqual({ ok: false, reason: 'out-of-range' })
  })
})
