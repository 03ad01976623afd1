/**
 * The membership core, driven like etcd-raft's tests: a fake clock (numbers passed as nowMs), inputs
 * through step(), and assertions on the returned effects and the table. Test names quote the rule from
 * the header of src/core/membership.ts they check.
 */
import { describe, expect, it } from 'vitest'
import { Membership, membershipConfig } from '../../src/core/membership.js'
import { SeededRandom } from '../../src/core/random.js'
import type { Effect, Input, MemberState, MembershipConfig } from '../../src/core/membership.js'

const self = 'self'
const failureTimeoutMs = 10_000
// membershipConfig derives: probeRoundMs = 5_000, confirmTimeoutMs = 20_000, forgetAfterMs = 1 h.
const probeRoundMs = 5_000
const confirmTimeoutMs = 20_000
const forgetAfterMs = 60 * 60 * 1000

type ChangeEffect = Extract<Effect, { type: 'change' }>
type ProbeEffect = Extract<Effect, { type: 'probe' }>

function changes (effects: Effect[]): ChangeEffect[] {
  return effects.filter((e): e is ChangeEffect => e.type === 'change')
}

function probes (effects: Effect[]): ProbeEffect[] {
  return effects.filter((e): e is ProbeEffect => e.type === 'probe')
}

function helpersOf (effects: Effect[], target: string): string[] {
  return probes(effects).filter(p => p.target === target && p.helper !== self).map(p => p.helper)
}

/**
 * A membership plus the sequence numbers each simulated peer has published, so tests can say
 * "b heartbeats at t" without tracking numbers by hand.
 */
class Cluster {
  readonly m: Membership
  private readonly sequence = new Map<string, number>()
  private readonly incarnation = new Map<string, number>()

  constructor (peers: string[], options: { seed?: number, nowMs?: number } & Partial<MembershipConfig> = {}) {
    const { seed = 1, nowMs = 0, ...overrides } = options
    this.m = new Membership(membershipConfig({ self, selfIncarnation: 1, failureTimeoutMs, seed, ...overrides }), nowMs)
    for (const peer of peers) this.record(peer, nowMs)
  }

  /** `peer` publishes its next record (same incarnation, sequence + 1). */
  record (peer: string, nowMs: number, leaving = false): ReturnType<Membership['step']> {
    const sequence = (this.sequence.get(peer) ?? 0) + 1
    this.sequence.set(peer, sequence)
    return this.m.step({ type: 'record', nowMs, peerId: peer, incarnation: this.inc(peer), sequence, leaving })
  }

  /** `peer` restarts: a new incarnation, sequence starting again at 1. */
  restart (peer: string, nowMs: number): ReturnType<Membership['step']> {
    this.incarnation.set(peer, this.inc(peer) + 1)
    this.sequence.set(peer, 0)
    return this.record(peer, nowMs)
  }

  heartbeat (peers: string[], nowMs: number): void {
    for (const peer of peers) this.record(peer, nowMs)
  }

  tick (nowMs: number): Effect[] {
    return this.m.step({ type: 'tick', nowMs }).effects
  }

  answer (target: string, helper: string, reachable: boolean, nowMs: number): Effect[] {
    return this.m.step({ type: 'probe-answer', nowMs, target, helper, reachable }).effects
  }

  verdict (subject: string, reporter: string, nowMs: number, at: { incarnation?: number, sequence?: number } = {}): Effect[] {
    return this.m.step({
      type: 'verdict',
      nowMs,
      subject,
      reporter,
      incarnation: at.incarnation ?? this.inc(subject),
      sequence: at.sequence ?? this.seq(subject)
    }).effects
  }

  inc (peer: string): number {
    return this.incarnation.get(peer) ?? 1
  }

  seq (peer: string): number {
    return this.sequence.get(peer) ?? 0
  }

  state (peer: string): MemberState | undefined {
    return this.m.member(peer)?.state
  }

  /** Keep `alive` talking and let `target` fall silent until it becomes suspect; returns those effects. */
  suspect (target: string, alive: string[], fromMs = 0): { effects: Effect[], atMs: number } {
    const atMs = fromMs + failureTimeoutMs + 1
    this.heartbeat(alive, atMs)
    const effects = this.tick(atMs)
    expect(this.state(target)).toBe('suspect')
    return { effects, atMs }
  }
}

describe('join', () => {
  it('a first record of an unknown member makes it alive (unknown → alive, reason joined)', () => {
    const c = new Cluster([])
    const result = c.m.step({ type: 'record', nowMs: 5, peerId: 'a', incarnation: 1, sequence: 1, leaving: false })
    expect(result.applied).toBe(true)
    expect(result.effects).toEqual([{ type: 'change', peerId: 'a', from: 'unknown', to: 'alive', reason: 'joined' }])
    expect(c.m.member('a')).toEqual({ peerId: 'a', state: 'alive', incarnation: 1, sequence: 1, lastHeardMs: 5, stateSinceMs: 5 })
    expect(c.m.summary()).toMatchObject({ known: 2, reachable: 2, partitioned: false })
  })

  it('a first record that is already leaving makes the member left (reason leave)', () => {
    const c = new Cluster([])
    const result = c.m.step({ type: 'record', nowMs: 0, peerId: 'a', incarnation: 1, sequence: 1, leaving: true })
    expect(result.applied).toBe(true)
    expect(changes(result.effects)).toEqual([{ type: 'change', peerId: 'a', from: 'unknown', to: 'left', reason: 'leave' }])
  })

  it('our own record echoed back is not applied and changes nothing', () => {
    const c = new Cluster([])
    const result = c.m.step({ type: 'record', nowMs: 0, peerId: self, incarnation: 9, sequence: 9, leaving: true })
    expect(result).toEqual({ effects: [], applied: false })
    expect(c.m.member(self)).toMatchObject({ state: 'alive', incarnation: 1 })
  })

  it('rejects a non-positive failure timeout', () => {
    expect(() => new Membership(membershipConfig({ self, selfIncarnation: 1, failureTimeoutMs: 0, seed: 1 }), 0)).toThrow()
  })
})

describe('suspicion: "A member silent for failureTimeoutMs becomes suspect"', () => {
  it('is not suspected at exactly failureTimeoutMs of silence, and is one millisecond later', () => {
    const c = new Cluster(['a'])
    expect(c.tick(1)).toEqual([])
    expect(c.tick(failureTimeoutMs)).toEqual([])
    expect(c.state('a')).toBe('alive')
    const effects = c.tick(failureTimeoutMs + 1)
    expect(changes(effects)).toEqual([
      { type: 'change', peerId: 'a', from: 'alive', to: 'suspect', reason: 'silent', detail: `${failureTimeoutMs + 1} ms` }
    ])
    expect(c.m.member('a')?.stateSinceMs).toBe(failureTimeoutMs + 1)
  })

  it('a newer record resets the silence', () => {
    const c = new Cluster(['a'])
    c.record('a', 8_000)
    expect(c.tick(failureTimeoutMs + 1)).toEqual([])
    expect(c.tick(8_000 + failureTimeoutMs)).toEqual([])
    expect(c.state('a')).toBe('alive')
    c.tick(8_000 + failureTimeoutMs + 1)
    expect(c.state('a')).toBe('suspect')
  })

  it('a stale record (not newer) does not reset the silence', () => {
    const c = new Cluster(['a'])
    const result = c.m.step({ type: 'record', nowMs: 9_000, peerId: 'a', incarnation: 1, sequence: 1, leaving: false })
    expect(result.applied).toBe(false)
    c.tick(failureTimeoutMs + 1)
    expect(c.state('a')).toBe('suspect')
  })

  it('we never suspect ourselves', () => {
    const c = new Cluster([])
    c.tick(100 * failureTimeoutMs)
    expect(c.m.member(self)?.state).toBe('alive')
  })

  it('probes the suspect directly (helper === self) and asks up to 3 other alive members, round 1', () => {
    const c = new Cluster(['a', 'b', 'c', 'd', 'e'])
    const { effects } = c.suspect('a', ['b', 'c', 'd', 'e'])
    const probeEffects = probes(effects)
    expect(probeEffects[0]).toEqual({ type: 'probe', helper: self, target: 'a', round: 1 })
    expect(probeEffects.every(p => p.target === 'a' && p.round === 1)).toBe(true)
    const helpers = helpersOf(effects, 'a')
    expect(helpers).toHaveLength(3)
    expect(new Set(helpers).size).toBe(3)
    for (const helper of helpers) {
      expect(['b', 'c', 'd', 'e']).toContain(helper)
      expect(c.m.isAsked('a', helper)).toBe(true)
    }
    expect(c.m.isAsked('a', 'a')).toBe(false)
    // The change comes before the probes it causes.
    expect(effects[0]).toMatchObject({ type: 'change', to: 'suspect' })
  })

  it('asks fewer helpers when fewer are available, and never a member that is not alive', () => {
    const c = new Cluster(['a', 'b', 'c'])
    c.record('c', 1, true) // c leaves
    const { effects } = c.suspect('a', ['b'])
    expect(helpersOf(effects, 'a')).toEqual(['b'])
  })

  it('chooses helpers deterministically for a seed: same seed ⇒ same helpers', () => {
    const peers = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
    const chosen = new Set<string>()
    for (let seed = 0; seed < 40; seed++) {
      const run = (): string[] => {
        const c = new Cluster(peers, { seed })
        return helpersOf(c.suspect('a', peers.slice(1)).effects, 'a')
      }
      const first = run()
      expect(run()).toEqual(first)
      expect(first).toHaveLength(3)
      chosen.add(first.join(','))
    }
    // The choice is random (per seed), not simply the first three in some order.
    expect(chosen.size).toBeGreaterThan(1)
  })
  it('[reputation] with helper scores, asks the best score tier first, at random (seeded) within a tier', () => {
    const peers = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
    // tiers of 20 centred on 0: g, h are good (≥ 10); b, c, d neutral [-10, 10); e, f poor (< -10)
    const scores: Record<string, number> = { b: 5, c: -9, d: 9, e: -30, f: -90, g: 25, h: 60 }
    const chosenThird = new Set<string>()
    for (let seed = 0; seed < 40; seed++) {
      const run = (): string[] => {
        const c = new Cluster(peers, { seed, helperScore: peer => scores[peer] ?? 0 })
        return helpersOf(c.suspect('a', peers.slice(1)).effects, 'a')
      }
      const helpers = run()
      expect(run()).toEqual(helpers)
      expect(helpers).toHaveLength(3)
      // both good ones, then one of the neutral tier; never a poor one while better ones remain
      expect(new Set(helpers.slice(0, 2))).toEqual(new Set(['g', 'h']))
      expect(['b', 'c', 'd']).toContain(helpers[2])
      chosenThird.add(helpers[2] as string)
    }
    // within the neutral tier the draw is random, not by score (d at 9 is no better than c at -9)
    expect(chosenThird.size).toBeGreaterThan(1)
  })

  it('[reputation] poor members are still asked when no one better is left', () => {
    const c = new Cluster(['a', 'b', 'c'], { helperScore: peer => peer === 'b' ? -80 : 0 })
    const { effects } = c.suspect('a', ['b', 'c'])
    expect(helpersOf(effects, 'a')).toEqual(['c', 'b'])
  })

  it('[reputation] equal scores choose exactly as without scores (same seed, same helpers)', () => {
    const peers = ['a', 'b', 'c', 'd', 'e', 'f']
    for (let seed = 0; seed < 10; seed++) {
      const plain = helpersOf(new Cluster(peers, { seed }).suspect('a', peers.slice(1)).effects, 'a')
      const scored = helpersOf(new Cluster(peers, { seed, helperScore: () => 7 }).suspect('a', peers.slice(1)).effects, 'a')
      expect(scored).toEqual(plain)
    }
  })
})

describe('confirmation: "failed when a majority of the asked helpers report it unreachable"', () => {
  function suspectWithThreeHelpers (): { c: Cluster, helpers: string[], atMs: number } {
    const c = new Cluster(['a', 'b', 'c', 'd'])
    const { effects, atMs } = c.suspect('a', ['b', 'c', 'd'])
    const helpers = helpersOf(effects, 'a')
    expect(helpers).toHaveLength(3)
    return { c, helpers, atMs }
  }

  it('one unreachable of 3 is not enough; two of 3 declare it failed and announce it', () => {
    const { c, helpers, atMs } = suspectWithThreeHelpers()
    const [h1, h2] = helpers as [string, string, string]
    expect(c.answer('a', h1, false, atMs + 10)).toEqual([])
    expect(c.state('a')).toBe('suspect')
    const effects = c.answer('a', h2, false, atMs + 20)
    expect(effects).toEqual([
      { type: 'change', peerId: 'a', from: 'suspect', to: 'failed', reason: 'helpers-confirmed', detail: '2/3 helpers' },
      { type: 'announce-failure', subject: 'a', incarnation: 1, sequence: 1 }
    ])
    expect(c.m.member('a')?.stateSinceMs).toBe(atMs + 20)
  })

  it('the same helper reporting twice counts once', () => {
    const { c, helpers, atMs } = suspectWithThreeHelpers()
    const h1 = helpers[0] as string
    c.answer('a', h1, false, atMs + 10)
    expect(c.answer('a', h1, false, atMs + 20)).toEqual([])
    expect(c.state('a')).toBe('suspect')
  })

  it('answers from helpers that were not asked are ignored (unreachable and reachable alike)', () => {
    const c = new Cluster(['a', 'b', 'c', 'd', 'e'])
    const { effects, atMs } = c.suspect('a', ['b', 'c', 'd', 'e'])
    const helpers = helpersOf(effects, 'a')
    const notAsked = ['b', 'c', 'd', 'e'].find(p => !helpers.includes(p)) as string
    expect(c.answer('a', helpers[0] as string, false, atMs + 1)).toEqual([])
    expect(c.answer('a', notAsked, false, atMs + 2)).toEqual([])
    expect(c.answer('a', 'stranger', false, atMs + 3)).toEqual([])
    expect(c.state('a')).toBe('suspect')
    expect(c.answer('a', notAsked, true, atMs + 4)).toEqual([])
    expect(c.answer('a', 'stranger', true, atMs + 5)).toEqual([])
    expect(c.state('a')).toBe('suspect')
  })

  it('our own unreachable answer is no confirmation', () => {
    const { c, helpers, atMs } = suspectWithThreeHelpers()
    c.answer('a', helpers[0] as string, false, atMs + 1)
    expect(c.answer('a', self, false, atMs + 2)).toEqual([])
    expect(c.answer('a', self, false, atMs + 3)).toEqual([])
    expect(c.state('a')).toBe('suspect')
  })

  it('answers about a member that is not suspect are ignored', () => {
    const c = new Cluster(['a', 'b', 'c'])
    expect(c.answer('a', 'b', false, 1)).toEqual([])
    expect(c.answer('a', self, true, 1)).toEqual([])
    expect(c.answer('unknown', 'b', false, 1)).toEqual([])
    expect(c.state('a')).toBe('alive')
  })

  it('with 2 helpers asked, both must report unreachable (majority of asked, not of 3)', () => {
    const c = new Cluster(['a', 'b', 'c'])
    const { effects, atMs } = c.suspect('a', ['b', 'c'])
    expect(helpersOf(effects, 'a').sort()).toEqual(['b', 'c'])
    c.answer('a', 'b', false, atMs + 1)
    expect(c.state('a')).toBe('suspect')
    const confirm = c.answer('a', 'c', false, atMs + 2)
    expect(changes(confirm)).toEqual([
      { type: 'change', peerId: 'a', from: 'suspect', to: 'failed', reason: 'helpers-confirmed', detail: '2/2 helpers' }
    ])
    expect(confirm).toContainEqual({ type: 'announce-failure', subject: 'a', incarnation: 1, sequence: 1 })
  })
})

describe('refutation: "Any sign of life brings it back to alive"', () => {
  it('a reachable answer from an asked helper ⇒ alive, and later answers of that round are ignored', () => {
    const c = new Cluster(['a', 'b', 'c', 'd'])
    const { effects, atMs } = c.suspect('a', ['b', 'c', 'd'])
    const [h1, h2, h3] = helpersOf(effects, 'a') as [string, string, string]
    c.answer('a', h1, false, atMs + 1)
    expect(c.answer('a', h2, true, atMs + 2)).toEqual([
      { type: 'change', peerId: 'a', from: 'suspect', to: 'alive', reason: 'probe-answer', detail: h2 }
    ])
    expect(c.m.member('a')?.lastHeardMs).toBe(atMs + 2)
    expect(c.m.isAsked('a', h1)).toBe(false)
    expect(c.answer('a', h3, false, atMs + 3)).toEqual([])
    expect(c.state('a')).toBe('alive')
  })

  it('our own direct probe reaching it ⇒ alive', () => {
    const c = new Cluster(['a', 'b'])
    const { atMs } = c.suspect('a', ['b'])
    expect(c.answer('a', self, true, atMs + 1)).toEqual([
      { type: 'change', peerId: 'a', from: 'suspect', to: 'alive', reason: 'probe-answer', detail: self }
    ])
  })

  it('the silence restarts from the moment it was reached', () => {
    const c = new Cluster(['a', 'b'])
    const { atMs } = c.suspect('a', ['b'])
    c.answer('a', self, true, atMs + 1)
    c.record('b', atMs + failureTimeoutMs)
    expect(c.tick(atMs + 1 + failureTimeoutMs)).toEqual([])
    expect(c.state('a')).toBe('alive')
  })

  it('a newer record (same incarnation, higher sequence) ⇒ alive, from suspect and from failed', () => {
    const c = new Cluster(['a', 'b'])
    const { atMs } = c.suspect('a', ['b'])
    const result = c.record('a', atMs + 1)
    expect(result.applied).toBe(true)
    expect(result.effects).toEqual([{ type: 'change', peerId: 'a', from: 'suspect', to: 'alive', reason: 'record' }])

    c.verdict('a', 'b', atMs + 2)
    expect(c.state('a')).toBe('failed')
    const again = c.record('a', atMs + 3)
    expect(again.applied).toBe(true)
    expect(again.effects).toEqual([{ type: 'change', peerId: 'a', from: 'failed', to: 'alive', reason: 'record' }])
  })

  it('a newer record of an alive member is applied without a change effect', () => {
    const c = new Cluster(['a'])
    const result = c.record('a', 100)
    expect(result).toEqual({ effects: [], applied: true })
    expect(c.m.member('a')).toMatchObject({ sequence: 2, lastHeardMs: 100 })
  })

  it('a record that is not newer is not applied: same sequence, lower sequence, older incarnation', () => {
    const c = new Cluster(['a', 'b'])
    c.record('a', 1) // sequence 2
    c.restart('a', 2) // incarnation 2, sequence 1
    const { atMs } = c.suspect('a', ['b'], 2)
    const stale: Array<[number, number]> = [[2, 1], [2, 0], [1, 2], [1, 99]]
    for (const [incarnation, sequence] of stale) {
      const result = c.m.step({ type: 'record', nowMs: atMs + 1, peerId: 'a', incarnation, sequence, leaving: false })
      expect(result, `incarnation ${incarnation} sequence ${sequence}`).toEqual({ effects: [], applied: false })
    }
    expect(c.m.member('a')).toMatchObject({ state: 'suspect', incarnation: 2, sequence: 1, lastHeardMs: 2 })
  })

  it('a new incarnation revives a failed member (reason new-incarnation)', () => {
    const c = new Cluster(['a', 'b', 'c'])
    const { atMs } = c.suspect('a', ['b', 'c'])
    c.answer('a', 'b', false, atMs + 1)
    c.answer('a', 'c', false, atMs + 2)
    expect(c.state('a')).toBe('failed')
    const result = c.restart('a', atMs + 3)
    expect(result.applied).toBe(true)
    expect(result.effects).toEqual([{ type: 'change', peerId: 'a', from: 'failed', to: 'alive', reason: 'new-incarnation' }])
    expect(c.m.member('a')).toMatchObject({ incarnation: 2, sequence: 1, lastHeardMs: atMs + 3 })
  })

  it('a new incarnation with a lower sequence is still newer', () => {
    const c = new Cluster(['a'])
    c.m.step({ type: 'record', nowMs: 1, peerId: 'a', incarnation: 1, sequence: 500, leaving: false })
    const result = c.m.step({ type: 'record', nowMs: 2, peerId: 'a', incarnation: 2, sequence: 1, leaving: false })
    expect(result.applied).toBe(true)
    expect(c.m.member('a')).toMatchObject({ incarnation: 2, sequence: 1 })
  })
})

describe('leave: "A member announcing leaving becomes left, never failed"', () => {
  it('a leaving record ⇒ left; no suspicion however long the silence; verdicts ignored', () => {
    const c = new Cluster(['a', 'b', 'c'])
    const result = c.record('a', 100, true)
    expect(result.applied).toBe(true)
    expect(result.effects).toEqual([{ type: 'change', peerId: 'a', from: 'alive', to: 'left', reason: 'leave' }])
    for (let t = 1_000; t < 10 * failureTimeoutMs; t += 1_000) {
      c.heartbeat(['b', 'c'], t)
      const effects = c.tick(t)
      expect(effects.filter(e => (e.type === 'change' && e.peerId === 'a') || (e.type === 'probe' && e.target === 'a'))).toEqual([])
    }
    expect(c.verdict('a', 'b', 10 * failureTimeoutMs)).toEqual([])
    expect(c.verdict('a', 'b', 10 * failureTimeoutMs, { sequence: 99 })).toEqual([])
    expect(c.state('a')).toBe('left')
  })

  it('a suspect that sends its leaving record becomes left and is no longer probed', () => {
    const c = new Cluster(['a', 'b', 'c'])
    const { atMs } = c.suspect('a', ['b', 'c'])
    const result = c.record('a', atMs + 1, true)
    expect(changes(result.effects)).toEqual([{ type: 'change', peerId: 'a', from: 'suspect', to: 'left', reason: 'leave' }])
    expect(c.m.isAsked('a', 'b')).toBe(false)
    expect(c.answer('a', 'b', false, atMs + 2)).toEqual([])
    expect(c.answer('a', 'c', false, atMs + 3)).toEqual([])
    c.heartbeat(['b', 'c'], atMs + confirmTimeoutMs)
    c.tick(atMs + confirmTimeoutMs)
    expect(c.state('a')).toBe('left')
  })

  it('a later record of the same incarnation does not bring a left member back (only a new incarnation does)', () => {
    const c = new Cluster(['a', 'b'])
    c.record('a', 1, true)
    const result = c.m.step({ type: 'record', nowMs: 2, peerId: 'a', incarnation: 1, sequence: 10, leaving: false })
    expect(result).toEqual({ effects: [], applied: false })
    expect(c.state('a')).toBe('left')
    c.heartbeat(['b'], 3 * confirmTimeoutMs)
    c.tick(3 * confirmTimeoutMs)
    c.verdict('a', 'b', 3 * confirmTimeoutMs, { sequence: 10 })
    expect(c.state('a')).toBe('left')
  })

  it('a new incarnation revives a left member', () => {
    const c = new Cluster(['a'])
    c.record('a', 1, true)
    const result = c.restart('a', 2)
    expect(result.effects).toEqual([{ type: 'change', peerId: 'a', from: 'left', to: 'alive', reason: 'new-incarnation' }])
  })
})

describe('few helpers: "declared failed once it has been silent for confirmTimeoutMs"', () => {
  it('with one possible helper, its unreachable answer is not enough; the confirm timeout is', () => {
    const c = new Cluster(['a', 'b'])
    const { effects, atMs } = c.suspect('a', ['b'])
    expect(helpersOf(effects, 'a')).toEqual(['b'])
    expect(c.answer('a', 'b', false, atMs + 1)).toEqual([])
    expect(c.state('a')).toBe('suspect')
    // a was last heard at 0: silent for confirmTimeoutMs - 1 is not yet enough.
    c.heartbeat(['b'], confirmTimeoutMs - 1)
    c.tick(confirmTimeoutMs - 1)
    expect(c.state('a')).toBe('suspect')
    const confirm = c.tick(confirmTimeoutMs)
    expect(confirm).toEqual([
      { type: 'change', peerId: 'a', from: 'suspect', to: 'failed', reason: 'confirm-timeout', detail: `${confirmTimeoutMs} ms` },
      { type: 'announce-failure', subject: 'a', incarnation: 1, sequence: 1 }
    ])
  })

  it('with no other member at all, only our own probe is sent and the confirm timeout decides', () => {
    const c = new Cluster(['a'])
    const { effects } = c.suspect('a', [])
    expect(probes(effects)).toEqual([{ type: 'probe', helper: self, target: 'a', round: 1 }])
    c.tick(confirmTimeoutMs - 1)
    expect(c.state('a')).toBe('suspect')
    expect(changes(c.tick(confirmTimeoutMs))).toMatchObject([{ peerId: 'a', to: 'failed', reason: 'confirm-timeout' }])
  })

  it('helpers that do not answer (down, or across a partition) ⇒ failed at the confirm timeout', () => {
    const c = new Cluster(['a', 'b', 'c', 'd'])
    c.suspect('a', ['b', 'c', 'd'])
    for (let t = failureTimeoutMs + 2; t < confirmTimeoutMs; t += 500) {
      c.heartbeat(['b', 'c', 'd'], t)
      c.tick(t)
      expect(c.state('a')).toBe('suspect')
    }
    c.heartbeat(['b', 'c', 'd'], confirmTimeoutMs)
    const effects = c.tick(confirmTimeoutMs)
    expect(changes(effects)).toMatchObject([{ peerId: 'a', from: 'suspect', to: 'failed', reason: 'confirm-timeout' }])
    expect(effects).toContainEqual({ type: 'announce-failure', subject: 'a', incarnation: 1, sequence: 1 })
  })

  it('a member silent far beyond the confirm timeout is first suspected, then failed on the next tick', () => {
    const c = new Cluster(['a'])
    c.tick(5 * confirmTimeoutMs)
    expect(c.state('a')).toBe('suspect')
    c.tick(5 * confirmTimeoutMs + 1)
    expect(c.state('a')).toBe('failed')
  })
})

describe('probe rounds: "a new round with fresh helpers" after probeRoundMs', () => {
  it('starts round 2 exactly probeRoundMs after round 1, with a direct probe again', () => {
    const c = new Cluster(['a', 'b', 'c', 'd', 'e', 'f'])
    const { atMs } = c.suspect('a', ['b', 'c', 'd', 'e', 'f'])
    c.heartbeat(['b', 'c', 'd', 'e', 'f'], atMs + probeRoundMs - 1)
    expect(c.tick(atMs + probeRoundMs - 1)).toEqual([])
    c.heartbeat(['b', 'c', 'd', 'e', 'f'], atMs + probeRoundMs)
    const effects = c.tick(atMs + probeRoundMs)
    const round2 = probes(effects)
    expect(round2[0]).toEqual({ type: 'probe', helper: self, target: 'a', round: 2 })
    expect(round2).toHaveLength(4)
    expect(round2.every(p => p.round === 2)).toBe(true)
    expect(changes(effects)).toEqual([])
    for (const helper of helpersOf(effects, 'a')) expect(c.m.isAsked('a', helper)).toBe(true)
  })

  it('a new round forgets the previous round: old answers count no more, old helpers are no longer asked', () => {
    // Exactly three candidates, so both rounds ask b, c and d.
    const c = new Cluster(['a', 'b', 'c', 'd'])
    const { effects, atMs } = c.suspect('a', ['b', 'c', 'd'])
    const [h1, h2] = helpersOf(effects, 'a') as [string, string, string]
    c.answer('a', h1, false, atMs + 1)
    c.heartbeat(['b', 'c', 'd'], atMs + probeRoundMs)
    const round2 = c.tick(atMs + probeRoundMs)
    expect(helpersOf(round2, 'a').sort()).toEqual(['b', 'c', 'd'])
    // h1's round-1 answer no longer counts: one unreachable of this round is not a majority.
    expect(c.answer('a', h2, false, atMs + probeRoundMs + 1)).toEqual([])
    expect(c.state('a')).toBe('suspect')
    expect(changes(c.answer('a', h1, false, atMs + probeRoundMs + 2))).toMatchObject([{ to: 'failed', reason: 'helpers-confirmed' }])
  })

  it('a helper asked only in an earlier round is ignored in the new one', () => {
    const peers = ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']
    // Find a seed where round 2 drops one of round 1's helpers (a fixed search, so deterministic).
    for (let seed = 0; seed < 100; seed++) {
      const c = new Cluster(['a', ...peers], { seed })
      const { effects, atMs } = c.suspect('a', peers)
      const round1 = helpersOf(effects, 'a')
      c.heartbeat(peers, atMs + probeRoundMs)
      const round2 = helpersOf(c.tick(atMs + probeRoundMs), 'a')
      const dropped = round1.filter(h => !round2.includes(h))
      if (dropped.length === 0) continue
      expect(c.m.isAsked('a', dropped[0] as string)).toBe(false)
      expect(c.answer('a', dropped[0] as string, true, atMs + probeRoundMs + 1)).toEqual([])
      expect(c.state('a')).toBe('suspect')
      return
    }
    throw new Error('no seed in 0..99 changed the helpers between rounds')
  })
})

describe('verdicts: "accepted unless we have seen life newer than what the reporter had seen"', () => {
  it('a verdict at our sequence is accepted: failed, reason verdict, no announce effect', () => {
    const c = new Cluster(['a', 'b'])
    const effects = c.verdict('a', 'b', 50)
    expect(effects).toEqual([{ type: 'change', peerId: 'a', from: 'alive', to: 'failed', reason: 'verdict', detail: 'b' }])
    expect(c.m.member('a')?.stateSinceMs).toBe(50)
  })

  it('a verdict about a suspect is accepted and ends its probing', () => {
    const c = new Cluster(['a', 'b', 'c'])
    const { atMs } = c.suspect('a', ['b', 'c'])
    expect(changes(c.verdict('a', 'b', atMs + 1))).toMatchObject([{ from: 'suspect', to: 'failed', reason: 'verdict' }])
    expect(c.m.isAsked('a', 'b')).toBe(false)
    expect(c.answer('a', 'c', true, atMs + 2)).toEqual([])
  })

  it('a verdict with a newer sequence or a newer incarnation than ours is accepted', () => {
    const c = new Cluster(['a', 'b'])
    c.verdict('a', 'b', 1, { sequence: 7 })
    expect(c.m.member('a')).toMatchObject({ state: 'failed', incarnation: 1, sequence: 7 })

    const d = new Cluster(['a', 'b'])
    d.verdict('a', 'b', 1, { incarnation: 3, sequence: 1 })
    expect(d.m.member('a')).toMatchObject({ state: 'failed', incarnation: 3, sequence: 1 })
  })

  it('is rejected when we saw a newer sequence in the same incarnation', () => {
    const c = new Cluster(['a', 'b'])
    c.record('a', 10) // sequence 2
    expect(c.verdict('a', 'b', 20, { sequence: 1 })).toEqual([])
    expect(c.state('a')).toBe('alive')
  })

  it('is rejected when it is about an older incarnation', () => {
    const c = new Cluster(['a', 'b'])
    c.restart('a', 10) // incarnation 2, sequence 1
    expect(c.verdict('a', 'b', 20, { incarnation: 1, sequence: 50 })).toEqual([])
    expect(c.state('a')).toBe('alive')
  })

  it('about an unknown, failed or left member it changes nothing', () => {
    const c = new Cluster(['a', 'b', 'c'])
    expect(c.verdict('nobody', 'b', 1, { incarnation: 1, sequence: 1 })).toEqual([])
    expect(c.m.member('nobody')).toBeUndefined()
    c.verdict('a', 'b', 2)
    expect(c.verdict('a', 'c', 3, { sequence: 40 })).toEqual([])
    expect(c.m.member('a')).toMatchObject({ sequence: 1, stateSinceMs: 2 })
    c.record('c', 4, true)
    expect(c.verdict('c', 'b', 5)).toEqual([])
    expect(c.state('c')).toBe('left')
  })

  it('a verdict about ourselves yields a refute effect and we stay alive', () => {
    const c = new Cluster(['b'])
    const effects = c.m.step({ type: 'verdict', nowMs: 1, subject: self, incarnation: 1, sequence: 0, reporter: 'b' }).effects
    expect(effects).toEqual([{ type: 'refute', reporter: 'b' }])
    expect(c.m.member(self)?.state).toBe('alive')
  })
})

describe('forgetting: "Failed and left members are forgotten after forgetAfterMs"', () => {
  it('forgets a failed member forgetAfterMs after it failed, not before', () => {
    const c = new Cluster(['a', 'b'])
    c.verdict('a', 'b', 1_000)
    c.record('b', forgetAfterMs)
    expect(c.tick(1_000 + forgetAfterMs - 1).filter(e => e.type === 'change' && e.peerId === 'a')).toEqual([])
    expect(c.state('a')).toBe('failed')
    c.record('b', 1_000 + forgetAfterMs)
    expect(c.tick(1_000 + forgetAfterMs)).toEqual([
      { type: 'change', peerId: 'a', from: 'failed', to: 'forgotten', reason: 'forgotten' }
    ])
    expect(c.m.member('a')).toBeUndefined()
    expect(c.m.list().map(m => m.peerId).sort()).toEqual(['b', self])
    expect(c.m.summary()).toMatchObject({ known: 2, reachable: 2 })
  })

  it('forgets a left member too', () => {
    const c = new Cluster(['a'])
    c.record('a', 0, true)
    expect(c.tick(forgetAfterMs - 1)).toEqual([])
    expect(c.tick(forgetAfterMs)).toEqual([{ type: 'change', peerId: 'a', from: 'left', to: 'forgotten', reason: 'forgotten' }])
  })

  it('a forgotten member that comes back joins again', () => {
    const c = new Cluster(['a'])
    c.record('a', 0, true)
    c.tick(forgetAfterMs)
    const result = c.restart('a', forgetAfterMs + 1)
    expect(result.effects).toEqual([{ type: 'change', peerId: 'a', from: 'unknown', to: 'alive', reason: 'joined' }])
  })
})

describe('summary: partitioned while alive * 2 < known non-left members (ourselves included)', () => {
  it('counts states and flips to partitioned only below half', () => {
    const c = new Cluster(['a', 'b', 'c', 'd', 'e'])
    expect(c.m.summary()).toEqual({
      known: 6, reachable: 6, partitioned: false, counts: { alive: 6, suspect: 0, failed: 0, left: 0 }
    })
    c.record('e', 1, true) // left members do not count as known
    c.verdict('a', 'x', 2)
    c.verdict('b', 'x', 2)
    // alive: self, c, d = 3; known: self, a, b, c, d = 5 → 6 < 5 is false
    expect(c.m.summary()).toEqual({
      known: 5, reachable: 3, partitioned: false, counts: { alive: 3, suspect: 0, failed: 2, left: 1 }
    })
    // c suspect: alive 2 (self, d), known 5 → 4 < 5
    c.heartbeat(['d'], failureTimeoutMs + 1)
    c.tick(failureTimeoutMs + 1)
    expect(c.state('c')).toBe('suspect')
    expect(c.m.summary()).toEqual({
      known: 5, reachable: 2, partitioned: true, counts: { alive: 2, suspect: 1, failed: 2, left: 1 }
    })
  })

  it('exactly half reachable is not partitioned', () => {
    const c = new Cluster(['a', 'b', 'c'])
    c.verdict('a', 'x', 1)
    c.verdict('b', 'x', 1)
    expect(c.m.summary()).toMatchObject({ known: 4, reachable: 2, partitioned: false })
    c.verdict('c', 'x', 1)
    expect(c.m.summary()).toMatchObject({ known: 4, reachable: 1, partitioned: true })
  })

  it('alone, we are not partitioned', () => {
    expect(new Cluster([]).m.summary()).toMatchObject({ known: 1, reachable: 1, partitioned: false })
  })
})

// ---------------------------------------------------------------------------------------------------
// Determinism and randomized invariants.

/**
 * A random but seed-determined script of inputs: records (fresh, stale, leaving, new incarnations,
 * even records after a leave), ticks, probe answers (mostly from asked helpers) and verdicts.
 * `membership` is consulted only to aim answers at the current suspects and helpers, so the script
 * is a pure function of the seed and the (deterministic) membership.
 */
function randomInput (random: SeededRandom, membership: Membership, peers: string[], nowMs: number, published: Map<string, { incarnation: number, sequence: number }>): Input {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random.next() * items.length)] as T
  const roll = random.next()
  if (roll < 0.35) {
    const peerId = pick(peers)
    const last = published.get(peerId) ?? { incarnation: 1, sequence: 0 }
    const kind = random.next()
    let next: { incarnation: number, sequence: number }
    if (kind < 0.1) next = { incarnation: last.incarnation + 1, sequence: 1 } // restart
    else if (kind < 0.25) next = { incarnation: Math.max(1, last.incarnation - 1), sequence: Math.floor(random.next() * (last.sequence + 2)) } // stale replay
    else next = { incarnation: last.incarnation, sequence: last.sequence + 1 }
    if (next.incarnation > last.incarnation || (next.incarnation === last.incarnation && next.sequence > last.sequence)) published.set(peerId, next)
    return { type: 'record', nowMs, peerId, ...next, leaving: random.next() < 0.08 }
  }
  if (roll < 0.65) {
    const suspects = membership.list().filter(m => m.state === 'suspect').map(m => m.peerId)
    const target = suspects.length > 0 && random.next() < 0.9 ? pick(suspects) : pick(peers)
    const asked = [self, ...peers].filter(h => membership.isAsked(target, h))
    const helper = asked.length > 0 && random.next() < 0.8 ? pick(asked) : pick([self, ...peers])
    return { type: 'probe-answer', nowMs, target, helper, reachable: random.next() < 0.3 }
  }
  if (roll < 0.75) {
    const subject = pick([self, ...peers])
    const known = published.get(subject) ?? { incarnation: 1, sequence: 1 }
    return {
      type: 'verdict',
      nowMs,
      subject,
      incarnation: Math.max(1, known.incarnation + Math.floor(random.next() * 3) - 1),
      sequence: Math.max(0, known.sequence + Math.floor(random.next() * 5) - 2),
      reporter: pick(peers.filter(p => p !== subject))
    }
  }
  return { type: 'tick', nowMs }
}

function runScript (seed: number, steps: number, check?: (m: Membership, input: Input, effects: Effect[]) => void): Effect[][] {
  const random = new SeededRandom(seed ^ 0x5eed)
  const peers = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5']
  const membership = new Membership(membershipConfig({ self, selfIncarnation: 1, failureTimeoutMs, seed, forgetAfterMs: 40_000 }), 0)
  const published = new Map<string, { incarnation: number, sequence: number }>()
  const transcript: Effect[][] = []
  let nowMs = 0
  for (let i = 0; i < steps; i++) {
    nowMs += Math.floor(random.next() * 1_500)
    const input = randomInput(random, membership, peers, nowMs, published)
    const { effects } = membership.step(input)
    transcript.push(effects)
    check?.(membership, input, effects)
  }
  return transcript
}

describe('determinism', () => {
  it('two instances with the same seed and inputs produce identical effects', () => {
    const peers = ['a', 'b', 'c', 'd', 'e', 'f', 'g']
    const script = (seed: number): Effect[][] => {
      const c = new Cluster(peers, { seed })
      const out: Effect[][] = []
      // a and b fall silent; the others keep talking; helpers answer in a fixed pattern.
      for (let t = 1_000; t <= 40_000; t += 1_000) {
        c.heartbeat(['c', 'd', 'e', 'f', 'g'], t)
        const effects = c.tick(t)
        out.push(effects)
        for (const p of probes(effects)) {
          if (p.helper !== self && p.target === 'a') out.push(c.answer('a', p.helper, false, t + 1))
        }
      }
      return out
    }
    for (const seed of [1, 7, 42, 2024]) {
      const first = script(seed)
      expect(script(seed)).toEqual(first)
      expect(first.flat().some(e => e.type === 'announce-failure' && e.subject === 'a')).toBe(true)
    }
  })

  it('random scripts replay identically for the same seed', () => {
    for (const seed of [3, 99, 12345]) {
      expect(runScript(seed, 300)).toEqual(runScript(seed, 300))
    }
  })
})

describe('randomized invariants (200 seeds)', () => {
  it('self stays alive, states stay in the four, a left member fails only in a newer incarnation', () => {
    const states: ReadonlySet<string> = new Set(['alive', 'suspect', 'failed', 'left'])
    let failures = 0
    let lefts = 0
    const reasons = new Set<string>()
    for (let seed = 1; seed <= 200; seed++) {
      // The highest incarnation in which the membership has marked each peer left.
      const leftIncarnation = new Map<string, number>()
      const previous = new Map<string, MemberState>()
      runScript(seed, 300, (m, input, effects) => {
        // 60,000 steps: plain checks, and the message is built only when one fails.
        const check = (ok: boolean, what: () => string): void => {
          if (!ok) expect.fail(`seed ${seed}, input ${JSON.stringify(input)}: ${what()}`)
        }
        check(m.member(self)?.state === 'alive', () => 'we are not alive in our own table')
        for (const e of effects) {
          if (e.type === 'change') {
            check(e.from === (previous.get(e.peerId) ?? 'unknown'), () => `change ${JSON.stringify(e)} but the member was ${previous.get(e.peerId)}`)
            check(e.from !== e.to, () => `change to the same state ${JSON.stringify(e)}`)
            if (e.to === 'forgotten') {
              previous.delete(e.peerId)
              leftIncarnation.delete(e.peerId)
            } else {
              previous.set(e.peerId, e.to)
            }
            if (e.to === 'failed') failures++
            reasons.add(e.reason)
          }
          if (e.type === 'announce-failure') {
            check(effects.some(c => c.type === 'change' && c.peerId === e.subject && c.to === 'failed'), () => 'announce-failure without a change to failed')
          }
          if (e.type === 'refute') check(input.type === 'verdict' && input.subject === self, () => 'refute without a verdict about us')
        }
        for (const member of m.list()) {
          check(states.has(member.state), () => `${member.peerId} is in state ${member.state}`)
          if (member.peerId !== self) check(member.state === previous.get(member.peerId), () => `${member.peerId} changed to ${member.state} without a change effect`)
          if (member.state === 'left') {
            lefts++
            leftIncarnation.set(member.peerId, Math.max(leftIncarnation.get(member.peerId) ?? 0, member.incarnation))
          }
          const leftAt = leftIncarnation.get(member.peerId)
          if (member.state === 'failed' && leftAt != null) {
            check(member.incarnation > leftAt, () => `${member.peerId} left in incarnation ${leftAt} and is failed in incarnation ${member.incarnation}`)
          }
        }
        const summary = m.summary()
        check(summary.partitioned === (summary.reachable * 2 < summary.known), () => `summary ${JSON.stringify(summary)}`)
      })
    }
    // The scripts really exercise the paths the invariants are about.
    expect(failures).toBeGreaterThan(100)
    expect(lefts).toBeGreaterThan(100)
    expect([...reasons].sort()).toEqual([
      'confirm-timeout', 'forgotten', 'helpers-confirmed', 'joined', 'leave', 'new-incarnation', 'probe-answer', 'record', 'silent', 'verdict'
    ])
  })
})

describe('local health: a tick with slowdown > 1 stretches the failure and confirm timeouts', () => {
  it('a member silent 1.5 × the failure timeout is not suspected while slowdown is 2, and is once it is 1', () => {
    const c = new Cluster(['b', 'c', 'd'])
    const at = failureTimeoutMs * 1.5
    c.heartbeat(['c', 'd'], at)
    expect(changes(c.m.step({ type: 'tick', nowMs: at, slowdown: 2 }).effects)).toEqual([])
    expect(c.m.member('b')?.state).toBe('alive')
    expect(c.m.currentSlowdown()).toBe(2)
    expect(changes(c.m.step({ type: 'tick', nowMs: at + 1, slowdown: 1 }).effects)).toEqual([
      expect.objectContaining({ peerId: 'b', from: 'alive', to: 'suspect', reason: 'silent' })
    ])
  })

  it('the confirm timeout stretches too, and slowdown is clamped to 1..8', () => {
    const c = new Cluster(['b'])
    c.m.step({ type: 'tick', nowMs: failureTimeoutMs + 1 })
    expect(c.m.member('b')?.state).toBe('suspect')
    // past the confirm timeout, but the node is lagging 3×: no verdict yet
    expect(changes(c.m.step({ type: 'tick', nowMs: confirmTimeoutMs + 1, slowdown: 3 }).effects)).toEqual([])
    expect(c.m.member('b')?.state).toBe('suspect')
    c.m.step({ type: 'tick', nowMs: confirmTimeoutMs + 2, slowdown: 0.1 })
    expect(c.m.currentSlowdown()).toBe(1)
    expect(c.m.member('b')?.state).toBe('failed')
    c.m.step({ type: 'tick', nowMs: confirmTimeoutMs + 3, slowdown: 100 })
    expect(c.m.currentSlowdown()).toBe(8)
  })
})
