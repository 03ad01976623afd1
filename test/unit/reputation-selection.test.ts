/**
 * Reputation-based peer selection: the pure policy (src/core/gossip/reputation-policy.ts — tiers,
 * gossipsub's application-specific score, bans), the auction tie-break (src/core/scheduler/scoring.ts)
 * and the keeper's re-balance plan (src/runtime/connection-keeper.ts `planRebalance`).
 */
import { describe, expect, it } from 'vitest'
import { gossipAppScore, isBanned, orderByTier, reputationPolicy, reputationTier } from '../../src/core/gossip/reputation-policy.js'
import { chooseBid, compareBids } from '../../src/core/scheduler/scoring.js'
import type { ScoredBid } from '../../src/core/scheduler/scoring.js'
import { planRebalance } from '../../src/runtime/connection-keeper.js'

describe('tiers', () => {
  it('groups scores in tiers of 20 points centred on 0; non-finite scores are neutral', () => {
    expect(reputationTier(0)).toBe(0)
    expect(reputationTier(9.9)).toBe(0)
    expect(reputationTier(-10)).toBe(0)
    expect(reputationTier(10)).toBe(1)
    expect(reputationTier(29.9)).toBe(1)
    expect(reputationTier(-10.1)).toBe(-1)
    expect(reputationTier(-30)).toBe(-1)
    expect(reputationTier(-30.1)).toBe(-2)
    expect(reputationTier(-100)).toBe(-5)
    expect(reputationTier(100)).toBe(5)
    expect(reputationTier(Number.NaN)).toBe(0)
  })

  it('orders best tier first and keeps the given order within a tier (stable)', () => {
    const scores: Record<string, number> = { a: 3, b: -50, c: 25, d: 10, e: 21, f: -1 }
    const given = ['a', 'b', 'c', 'd', 'e', 'f']
    expect(orderByTier(given, p => scores[p] ?? 0)).toEqual(['c', 'd', 'e', 'a', 'f', 'b'])
    expect(orderByTier(['d', 'a'], p => scores[p] ?? 0)).toEqual(['d', 'a'])
    expect(orderByTier([], () => 0)).toEqual([])
  })
})

describe('gossipsub score and bans', () => {
  it('the app-specific score is the reputation of a misbehaving peer, never positive; 0 for any other', () => {
    expect(gossipAppScore(-45, true)).toBe(-45)
    expect(gossipAppScore(30, true)).toBe(0)
    expect(gossipAppScore(-45, false)).toBe(0)
    expect(gossipAppScore(Number.NaN, true)).toBe(0)
  })

  it('thresholds are ordered as gossipsub requires, the ban between publish and graylist', () => {
    const p = reputationPolicy
    expect(p.gossipThreshold).toBeLessThanOrEqual(0)
    expect(p.publishThreshold).toBeLessThanOrEqual(p.gossipThreshold)
    expect(p.graylistThreshold).toBeLessThanOrEqual(p.publishThreshold)
    expect(p.banScore).toBeLessThan(p.publishThreshold)
    expect(p.banScore).toBeGreaterThan(p.graylistThreshold)
  })

  it('bans only a misbehaving, non-exempt peer at or below the ban score', () => {
    expect(isBanned(-50, true)).toBe(true)
    expect(isBanned(-49.9, true)).toBe(false)
    expect(isBanned(-100, false)).toBe(false) // task failures alone never ban
    expect(isBanned(-100, true, true)).toBe(false) // a genesis validator stays linked
    expect(isBanned(Number.NaN, true)).toBe(false)
  })
})

describe('auction tie-break', () => {
  const bid = (peerId: string, score: number, reputation?: number): ScoredBid => ({ peerId, match: 1, queued: 0, running: 0, capacity: 2, score, ...(reputation !== undefined ? { reputation } : {}) })

  it('equal scores: the better reputation first, then the lower PeerId; unequal scores ignore reputation', () => {
    expect([bid('a', 0.5, -10), bid('b', 0.5, 40)].sort(compareBids).map(b => b.peerId)).toEqual(['b', 'a'])
    expect([bid('b', 0.5), bid('a', 0.5)].sort(compareBids).map(b => b.peerId)).toEqual(['a', 'b'])
    expect([bid('b', 0.5, 0), bid('a', 0.5)].sort(compareBids).map(b => b.peerId)).toEqual(['a', 'b'])
    expect([bid('a', 0.6, -90), bid('b', 0.5, 90)].sort(compareBids).map(b => b.peerId)).toEqual(['a', 'b'])
    expect([bid('a', 0.5, Number.NaN), bid('b', 0.5, 1)].sort(compareBids).map(b => b.peerId)).toEqual(['b', 'a'])
  })

  it('chooseBid awards the tie to the better-reputed bidder', () => {
    expect(chooseBid([bid('a', 0.7, -20), bid('z', 0.7, 5)])?.winner.peerId).toBe('z')
  })
})

describe('re-balance plan', () => {
  const peer = (peerId: string, reputation: number, rttMs: number): Parameters<typeof planRebalance>[0]['connected'][number] =>
    ({ peerId, rttMs, pinned: false, preferred: false, openedAtMs: 0, reputation })

  it('closes the lowest reputation tier first (before RTT), keeps pinned links whatever their score', () => {
    const plan = planRebalance({
      connected: [peer('slow-good', 40, 50), peer('fast-bad', -60, 1), peer('mid', 0, 10), { ...peer('pinned-bad', -100, 99), pinned: true }],
      candidates: [],
      minPeers: 1,
      maxPeers: 2
    })
    expect(plan.close.map(c => c.peerId)).toEqual(['fast-bad', 'mid'])
  })

  it('dials the best reputation tier first, then the lowest RTT', () => {
    const plan = planRebalance({
      connected: [],
      candidates: [{ peerId: 'a', rttMs: 1, reputation: -30 }, { peerId: 'b', rttMs: 9, reputation: 25 }, { peerId: 'c', rttMs: 2, reputation: 5 }, { peerId: 'd', rttMs: 3 }],
      minPeers: 3,
      maxPeers: 8
    })
    expect(plan.dial).toEqual(['b', 'c', 'd'])
  })
})
