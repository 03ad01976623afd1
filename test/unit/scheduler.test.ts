/**
 * The pure scheduler (src/core/scheduler): capability matching and the 0.7 threshold, the bid formula
 * on worked examples (the arithmetic is in the test names), the choice among bids and its tie-break,
 * the performance tracker, Kademlia XOR placement checked against a brute-force BigInt computation and
 * against kad-dht's own id functions, work stealing, load-balancing plans (no bounce, over random
 * clusters), failover; then the seeded task-lifecycle simulation of test/sim-tasks/sim.ts.
 */
import { createHash } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { xorCompare } from 'uint8arrays/xor-compare'
import { SeededRandom } from '../../src/core/random.js'
import {
  Balancer, PerformanceTracker, bidScore, capabilityMatch, chooseBid, chooseBidWhenFull, chooseVictim, closestPeers, compareDistance, dhtOwner,
  eligible, freeResources, hasFreeCapacity, kadIdOfKey, kadIdOfPeer, matchThreshold, planMigrations, reassignments,
  replicaSet, scoredBid, stealCount, taskKadId, taskKey, utilisation, xorDistance
} from '../../src/core/scheduler/index.js'
import type { MemberInfo, Migration, OwnedTask, QueuedTask, ScoredBid, WorkerView } from '../../src/core/scheduler/index.js'
import { runTaskSim } from '../sim-tasks/sim.js'

function bid (peerId: string, score: number, over: Partial<ScoredBid> = {}): ScoredBid {
  return { peerId, match: 1, queued: 0, running: 0, capacity: 4, score, ...over }
}

function worker (peerId: string, capabilities: string[], running: number, capacity: number, queue: QueuedTask[] = [], over: Partial<WorkerView> = {}): WorkerView {
  return { peerId, state: 'alive', capabilities, load: { queued: queue.length, running, capacity }, queue, ...over }
}

function tasks (prefix: string, count: number, required: string[] = []): QueuedTask[] {
  return Array.from({ length: count }, (_, i) => ({ id: `${prefix}${i}`, required }))
}

describe('capabilityMatch: exact, case-insensitive names; `a/*` offered covers everything below a/', () => {
  it('exact names, case and surrounding spaces ignored: GPU, Python vs gpu, python → 1', () => {
    expect(capabilityMatch(['GPU', ' Python '], ['gpu', 'python'])).toBe(1)
  })

  it('the fraction of the required ones offered: gpu, python, rust vs gpu → 1/3', () => {
    expect(capabilityMatch(['gpu', 'python', 'rust'], ['gpu', 'storage'])).toBeCloseTo(1 / 3, 12)
  })

  it('no prefix or substring matching: gpu vs gpus, gpu2 → 0', () => {
    expect(capabilityMatch(['gpu'], ['gpus', 'gpu2', 'g'])).toBe(0)
  })

  it('ml/train is matched by ml/train or by the parent wildcard ml/*, not by ml or ml/infer', () => {
    expect(capabilityMatch(['ml/train'], ['ml/train'])).toBe(1)
    expect(capabilityMatch(['ml/train'], ['ML/*'])).toBe(1)
    expect(capabilityMatch(['ml/train'], ['ml'])).toBe(0)
    expect(capabilityMatch(['ml/train'], ['ml/infer'])).toBe(0)
    expect(capabilityMatch(['ml/train'], ['ml/train/*'])).toBe(0)
  })

  it('a wildcard covers any depth below it, never its own prefix; a required wildcard is just a name', () => {
    expect(capabilityMatch(['ml/train/large'], ['ml/*'])).toBe(1)
    expect(capabilityMatch(['ml/train/large'], ['ml/train/*'])).toBe(1)
    expect(capabilityMatch(['ml/infer'], ['ml/train/*'])).toBe(0)
    expect(capabilityMatch(['ml'], ['ml/*'])).toBe(0)
    expect(capabilityMatch(['ml/*'], ['ml/train'])).toBe(0)
    expect(capabilityMatch(['ml/*'], ['ml/*'])).toBe(1)
    expect(capabilityMatch(['a/ml/*'], ['a/*'])).toBe(1)
  })

  it('nothing required → 1; duplicate and empty names count once or not at all', () => {
    expect(capabilityMatch([], [])).toBe(1)
    expect(capabilityMatch(['', '  '], [])).toBe(1)
    expect(capabilityMatch(['gpu', 'GPU', ' gpu'], ['gpu'])).toBe(1)
    expect(capabilityMatch(['gpu', 'GPU', 'rust'], ['gpu'])).toBe(0.5)
  })
})

describe('eligible: alive members with match ≥ matchThreshold (0.7)', () => {
  const ten = Array.from({ length: 10 }, (_, i) => `c${i}`)

  it('threshold exactly at 0.7: 7 of 10 offered (7/10 = 0.7) is eligible, 6 of 10 (0.6) is not', () => {
    expect(matchThreshold).toBe(0.7)
    expect(capabilityMatch(ten, ten.slice(0, 7))).toBe(0.7)
    const members: MemberInfo[] = [
      { peerId: 'seven', state: 'alive', capabilities: ten.slice(0, 7) },
      { peerId: 'six', state: 'alive', capabilities: ten.slice(0, 6) }
    ]
    expect(eligible(ten, members).map(m => m.peerId)).toEqual(['seven'])
  })

  it('3 of 4 (0.75) is eligible, 2 of 3 (0.667) is not: a 3-capability task needs all 3', () => {
    const four = ['a', 'b', 'c', 'd']
    expect(eligible(four, [{ peerId: 'x', capabilities: ['a', 'b', 'c'] }])).toHaveLength(1)
    expect(eligible(['a', 'b', 'c'], [{ peerId: 'x', capabilities: ['a', 'b'] }])).toHaveLength(0)
  })

  it('suspect, failed and left members are not eligible; a member without state counts as alive', () => {
    const members: MemberInfo[] = [
      { peerId: 'a', state: 'alive', capabilities: ['gpu'] },
      { peerId: 's', state: 'suspect', capabilities: ['gpu'] },
      { peerId: 'f', state: 'failed', capabilities: ['gpu'] },
      { peerId: 'l', state: 'left', capabilities: ['gpu'] },
      { peerId: 'n', capabilities: ['gpu'] }
    ]
    expect(eligible(['gpu'], members).map(m => m.peerId)).toEqual(['a', 'n'])
  })
})

describe('bidScore = 0.4·match + 0.3·(1 − load) + 0.2·performance + 0.1·resources', () => {
  it('match 1, load 0, performance 1, resources 1 → 0.4 + 0.3 + 0.2 + 0.1 = 1', () => {
    expect(bidScore({ match: 1, load: 0, performance: 1, resources: 1 })).toBeCloseTo(1, 12)
  })

  it('match 0.75, load 0.5, performance 0.5, resources 0.8 → 0.3 + 0.15 + 0.1 + 0.08 = 0.63', () => {
    expect(bidScore({ match: 0.75, load: 0.5, performance: 0.5, resources: 0.8 })).toBeCloseTo(0.63, 12)
  })

  it('match 0.7, load 1, performance 0, resources 0 → 0.28 + 0 + 0 + 0 = 0.28', () => {
    expect(bidScore({ match: 0.7, load: 1, performance: 0, resources: 0 })).toBeCloseTo(0.28, 12)
  })

  it('scoredBid: match 1, queued 1 + running 2 of capacity 4 (load 0.75), unknown node (0.5), cpu 0.25 (resources 0.75) → 0.4 + 0.075 + 0.1 + 0.075 = 0.65', () => {
    const b = scoredBid('p', 1, { queued: 1, running: 2, capacity: 4, cpu: 0.25 }, new PerformanceTracker().performance('p'))
    expect(b).toMatchObject({ peerId: 'p', match: 1, queued: 1, running: 2, capacity: 4 })
    expect(b.score).toBeCloseTo(0.65, 12)
  })

  it('inputs are clamped: match 1.5 → 1, load −1 → 0, performance 2 → 1, resources −3 → 0 ⇒ 0.4 + 0.3 + 0.2 + 0 = 0.9', () => {
    expect(bidScore({ match: 1.5, load: -1, performance: 2, resources: -3 })).toBeCloseTo(0.9, 12)
  })

  it('NaN counts as the worst value: match NaN → 0, load NaN → 1, performance NaN → 0, resources NaN → 0 ⇒ 0', () => {
    expect(bidScore({ match: NaN, load: NaN, performance: NaN, resources: NaN })).toBe(0)
  })

  it('utilisation = (queued + running) / capacity capped at 1: (1 + 1)/4 = 0.5, (2 + 3)/4 → 1, capacity 0 → 1', () => {
    expect(utilisation({ queued: 1, running: 1, capacity: 4 })).toBe(0.5)
    expect(utilisation({ queued: 2, running: 3, capacity: 4 })).toBe(1)
    expect(utilisation({ queued: 0, running: 0, capacity: 0 })).toBe(1)
    expect(utilisation({ queued: -2, running: 1, capacity: 4 })).toBe(0.25)
  })

  it('resources = 1 − cpu: cpu 0.3 → 0.7, cpu 1.4 → 0, cpu NaN → 0', () => {
    expect(freeResources(0.3)).toBeCloseTo(0.7, 12)
    expect(freeResources(1.4)).toBe(0)
    expect(freeResources(NaN)).toBe(0)
  })

  it('free capacity means queued + running < capacity: 1 + 2 < 4 yes, 2 + 2 < 4 no', () => {
    expect(hasFreeCapacity({ queued: 1, running: 2, capacity: 4 })).toBe(true)
    expect(hasFreeCapacity({ queued: 2, running: 2, capacity: 4 })).toBe(false)
  })
})

describe('chooseBid: highest score among match ≥ 0.7 with free capacity; ties to the lower PeerId', () => {
  it('routes a gpu task: idle exact match beats a busier exact match and a partial match', () => {
    // a: match 1, load (0+0)/4 = 0, perf 0.5, cpu 0.1 → 0.4 + 0.3 + 0.1 + 0.09 = 0.89
    // b: match 1, load (1+2)/4 = 0.75, perf 0.9, cpu 0.5 → 0.4 + 0.075 + 0.18 + 0.05 = 0.705
    // c: match 0.5 (gpu of gpu+cuda) → does not count, even with score 0.2 + 0.3 + 0.2 + 0.1 = 0.8
    const bids = [
      scoredBid('b', 1, { queued: 1, running: 2, capacity: 4, cpu: 0.5 }, 0.9),
      scoredBid('c', 0.5, { queued: 0, running: 0, capacity: 8, cpu: 0 }, 1),
      scoredBid('a', 1, { queued: 0, running: 0, capacity: 4, cpu: 0.1 }, 0.5)
    ]
    expect(bids.map(b => b.score)).toEqual([expect.closeTo(0.705, 12), expect.closeTo(0.8, 12), expect.closeTo(0.89, 12)])
    const choice = chooseBid(bids)
    expect(choice?.winner.peerId).toBe('a')
    expect(choice?.ranked.map(b => b.peerId)).toEqual(['a', 'b'])
    expect(choice?.losers.map(b => b.peerId)).toEqual(['b', 'c'])
  })

  it('equal scores: the lower PeerId string wins, whatever the order of the bids', () => {
    const bids = [bid('12D3KooWz', 0.8), bid('12D3KooWB', 0.8), bid('12D3KooWa', 0.8), bid('12D3KooWA', 0.5)]
    const rng = new SeededRandom(7)
    for (let i = 0; i < 20; i++) {
      const choice = chooseBid(rng.sample(bids, bids.length))
      // code-unit order: 'B' (0x42) < 'a' (0x61) < 'z'
      expect(choice?.ranked.map(b => b.peerId)).toEqual(['12D3KooWB', '12D3KooWa', '12D3KooWz', '12D3KooWA'])
    }
  })

  it('threshold exactly at 0.7: a bid with match 0.7 counts, one with 0.69 does not even with a higher score', () => {
    const choice = chooseBid([bid('low', 0.99, { match: 0.69 }), bid('edge', 0.5, { match: 0.7 })])
    expect(choice?.winner.peerId).toBe('edge')
    expect(choice?.losers.map(b => b.peerId)).toEqual(['low'])
  })

  it('a full node (queued 2 + running 2 = capacity 4) does not count; queued 1 + running 2 does', () => {
    const choice = chooseBid([bid('full', 0.9, { queued: 2, running: 2 }), bid('room', 0.6, { queued: 1, running: 2 })])
    expect(choice?.winner.peerId).toBe('room')
    expect(chooseBid([bid('full', 0.9, { queued: 2, running: 2 })])).toBeUndefined()
    expect(chooseBid([])).toBeUndefined()
  })

  it('a peer that bid twice counts once, with its better bid; every other bidder is a loser once', () => {
    const choice = chooseBid([bid('a', 0.4), bid('b', 0.6), bid('a', 0.7), bid('b', 0.9, { match: 0.1 })])
    expect(choice?.winner).toMatchObject({ peerId: 'a', score: 0.7 })
    expect(choice?.losers.map(b => [b.peerId, b.score])).toEqual([['b', 0.6]])
  })
})

describe('chooseBidWhenFull: every bidder full ⇒ the shortest queue for its capacity, then the best score', () => {
  it('the least backlog wins over a better score; equal backlogs go to the best score, then the lower PeerId', () => {
    const full = { queued: 3, running: 2, capacity: 2 } // backlog 2.5
    const less = { queued: 1, running: 2, capacity: 2 } // backlog 1.5
    expect(chooseBid([bid('busy', 0.9, full), bid('lessBusy', 0.3, less)])).toBeUndefined()
    const choice = chooseBidWhenFull([bid('busy', 0.9, full), bid('lessBusy', 0.3, less), bid('partial', 0.99, { ...less, queued: 0, match: 0.5 })])
    expect(choice?.winner.peerId).toBe('lessBusy')
    expect(choice?.ranked.map(b => b.peerId)).toEqual(['lessBusy', 'busy'])
    expect(choice?.losers.map(b => b.peerId)).toEqual(['busy', 'partial'])
    expect(chooseBidWhenFull([bid('x', 0.2, less), bid('y', 0.8, less)])?.winner.peerId).toBe('y')
    expect(chooseBidWhenFull([bid('b', 0.5, less), bid('a', 0.5, less)])?.winner.peerId).toBe('a')
    // relative to capacity: 2 + 8 on capacity 8 (1.25) is a shorter queue than 1 + 2 on capacity 2 (1.5)
    expect(chooseBidWhenFull([bid('small', 0.9, { queued: 1, running: 2, capacity: 2 }), bid('big', 0.1, { queued: 2, running: 8, capacity: 8 })])?.winner.peerId).toBe('big')
    expect(chooseBidWhenFull([bid('low', 0.9, { ...full, match: 0.69 })])).toBeUndefined()
    expect(chooseBidWhenFull([])).toBeUndefined()
  })

  it('a batch awarded one by one (each win raising the winner\'s queue) spreads over equal members instead of piling onto the best score', () => {
    const peers = ['a', 'b', 'c', 'd']
    const scores: Record<string, number> = { a: 0.9, b: 0.8, c: 0.7, d: 0.6 }
    const won = new Map<string, number>(peers.map(p => [p, 0]))
    for (let i = 0; i < 100; i++) {
      const bids = peers.map(p => bid(p, scores[p] as number, { queued: won.get(p) as number, running: 2, capacity: 2 }))
      const winner = (chooseBid(bids) ?? chooseBidWhenFull(bids))?.winner.peerId as string
      won.set(winner, (won.get(winner) as number) + 1)
    }
    expect([...won.values()]).toEqual([25, 25, 25, 25])
  })
})

describe('PerformanceTracker: EWMA of success and speed, neutral prior 0.5', () => {
  const timeoutMs = 10_000

  it('an unknown node scores the prior 0.5', () => {
    expect(new PerformanceTracker().performance('nobody')).toBe(0.5)
  })

  it('one success at half the timeout: success 0.5 + 0.2·(1 − 0.5) = 0.6, speed 0.5 + 0.2·(0.5 − 0.5) = 0.5 → 0.7·0.6 + 0.3·0.5 = 0.57', () => {
    const t = new PerformanceTracker()
    t.record('n', { success: true, durationMs: 5_000, timeoutMs })
    expect(t.stats('n')).toEqual({ successRate: expect.closeTo(0.6, 12), speed: expect.closeTo(0.5, 12), samples: 1 })
    expect(t.performance('n')).toBeCloseTo(0.57, 12)
  })

  it('one failure: success 0.5 − 0.2·0.5 = 0.4, speed 0.5 − 0.2·0.5 = 0.4 → 0.7·0.4 + 0.3·0.4 = 0.4', () => {
    const t = new PerformanceTracker()
    t.record('n', { success: false, durationMs: 1, timeoutMs })
    expect(t.performance('n')).toBeCloseTo(0.4, 12)
  })

  it('monotone: for any history, a better outcome never yields less; a failure never raises; an instant success never lowers', () => {
    const rng = new SeededRandom(42)
    const outcome = (): { success: boolean, durationMs: number, timeoutMs: number } =>
      ({ success: rng.next() < 0.7, durationMs: Math.floor(rng.next() * 15_000), timeoutMs })
    for (let trial = 0; trial < 300; trial++) {
      const history = Array.from({ length: Math.floor(rng.next() * 12) }, outcome)
      const fresh = (): PerformanceTracker => {
        const t = new PerformanceTracker()
        for (const h of history) t.record('n', h)
        return t
      }
      const before = fresh().performance('n')
      let a = outcome()
      let b = outcome()
      // make a dominate b: success ≥, duration ≤
      if (Number(a.success) < Number(b.success) || (a.success === b.success && a.durationMs > b.durationMs)) [a, b] = [b, a]
      if (a.success === b.success || a.durationMs <= b.durationMs) {
        const ta = fresh()
        const tb = fresh()
        ta.record('n', a)
        tb.record('n', b)
        expect(ta.performance('n')).toBeGreaterThanOrEqual(tb.performance('n'))
      }
      const failed = fresh()
      failed.record('n', { success: false, durationMs: a.durationMs, timeoutMs })
      expect(failed.performance('n')).toBeLessThanOrEqual(before)
      const instant = fresh()
      instant.record('n', { success: true, durationMs: 0, timeoutMs })
      expect(instant.performance('n')).toBeGreaterThanOrEqual(before)
      for (const t of [failed, instant]) {
        expect(t.performance('n')).toBeGreaterThanOrEqual(0)
        expect(t.performance('n')).toBeLessThanOrEqual(1)
      }
    }
  })

  it('successes in a row raise it step by step; failures in a row lower it step by step', () => {
    const t = new PerformanceTracker()
    let last = t.performance('n')
    for (let i = 0; i < 30; i++) {
      t.record('n', { success: true, durationMs: 1_000, timeoutMs })
      expect(t.performance('n')).toBeGreaterThan(last)
      last = t.performance('n')
    }
    expect(last).toBeLessThanOrEqual(0.7 + 0.3 * 0.9 + 1e-12) // the limit: success 1, speed 0.9
    for (let i = 0; i < 30; i++) {
      t.record('n', { success: false, durationMs: 1_000, timeoutMs })
      expect(t.performance('n')).toBeLessThan(last)
      last = t.performance('n')
    }
  })

  it('a success of unknown duration moves only the success rate: 0.7·0.6 + 0.3·0.5 = 0.57', () => {
    const t = new PerformanceTracker()
    t.record('n', { success: true, timeoutMs })
    expect(t.stats('n')).toEqual({ successRate: expect.closeTo(0.6, 12), speed: 0.5, samples: 1 })
    expect(t.performance('n')).toBeCloseTo(0.57, 12)
  })

  it('deterministic: the same outcomes give the same numbers; forget returns a node to the prior', () => {
    const rng = new SeededRandom(3)
    const outcomes = Array.from({ length: 50 }, () => ({ success: rng.next() < 0.5, durationMs: rng.next() * 20_000, timeoutMs }))
    const a = new PerformanceTracker()
    const b = new PerformanceTracker()
    for (const o of outcomes) { a.record('x', o); b.record('x', o) }
    expect(a.stats('x')).toEqual(b.stats('x'))
    a.forget('x')
    expect(a.performance('x')).toBe(0.5)
    expect(a.stats('x')).toBeUndefined()
  })
})

describe('DHT placement: Kademlia XOR distance as kad-dht computes it', () => {
  let peers: PeerId[] = []

  beforeAll(async () => {
    peers = await Promise.all(Array.from({ length: 40 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
  })

  const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(bytes).digest())
  const big = (bytes: Uint8Array): bigint => BigInt('0x' + Buffer.from(bytes).toString('hex'))
  /** Brute force: distances as BigInt XOR of the 256-bit ids, sorted ascending. */
  const bruteForceOrder = (taskId: string, ids: string[]): string[] => {
    const key = big(sha256(new TextEncoder().encode(`/mesh-task/${taskId}`)))
    return ids
      .map(id => ({ id, d: key ^ big(sha256(peerIdFromString(id).toMultihash().bytes)) }))
      .sort((a, b) => a.d < b.d ? -1 : a.d > b.d ? 1 : 0)
      .map(x => x.id)
  }

  it('a task key is the UTF-8 bytes of /mesh-task/<taskId>, and its id their sha256', () => {
    expect(Buffer.from(taskKey('job-1')).toString('utf8')).toBe('/mesh-task/job-1')
    expect([...taskKey('é')]).toEqual([...Buffer.from('/mesh-task/é', 'utf8')])
    expect(Buffer.from(taskKadId('job-1')).toString('hex')).toBe(createHash('sha256').update('/mesh-task/job-1').digest('hex'))
  })

  it('ids are the ones of kad-dht\'s own convertPeerId / convertBuffer (the installed @libp2p/kad-dht)', async () => {
    const utils = await import(new URL('../../node_modules/@libp2p/kad-dht/dist/src/utils.js', import.meta.url).href) as {
      convertPeerId: (peerId: PeerId) => Promise<Uint8Array>
      convertBuffer: (buf: Uint8Array) => Promise<Uint8Array>
    }
    for (const peer of peers.slice(0, 10)) {
      expect(kadIdOfPeer(peer.toString())).toEqual(await utils.convertPeerId(peer))
    }
    expect(kadIdOfKey(taskKey('t-42'))).toEqual(await utils.convertBuffer(taskKey('t-42')))
  })

  it('XOR ordering matches a brute-force BigInt computation over random Ed25519 PeerIds', () => {
    const ids = peers.map(p => p.toString())
    for (let i = 0; i < 60; i++) {
      const taskId = `task-${i}`
      const expected = bruteForceOrder(taskId, ids)
      expect(closestPeers(taskKadId(taskId), ids)).toEqual(expected)
      expect(replicaSet(taskId, ids.map(peerId => ({ peerId, state: 'alive' as const })))).toEqual(expected.slice(0, 3))
      expect(dhtOwner(taskId, ids)).toBe(expected[0])
    }
  })

  it('compareDistance is big-endian unsigned, as uint8arrays xorCompare (what kad-dht sorts with)', () => {
    const ids = peers.map(p => kadIdOfPeer(p.toString()))
    const key = taskKadId('x')
    for (let i = 0; i + 1 < ids.length; i++) {
      const a = xorDistance(key, ids[i] as Uint8Array)
      const b = xorDistance(key, ids[i + 1] as Uint8Array)
      expect(compareDistance(a, b)).toBe(xorCompare(a, b))
      expect(compareDistance(a, b)).toBe(big(a) < big(b) ? -1 : 1)
    }
    expect(compareDistance(new Uint8Array([1, 0]), new Uint8Array([0, 255]))).toBe(1)
  })

  it('dhtOwner: the closest alive member able to run the task (match ≥ 0.7), undefined if none', () => {
    const ids = peers.slice(0, 12).map(p => p.toString())
    const rng = new SeededRandom(11)
    for (let i = 0; i < 40; i++) {
      const taskId = `t${i}`
      const members: MemberInfo[] = ids.map(peerId => ({
        peerId,
        state: rng.next() < 0.2 ? 'failed' : 'alive',
        capabilities: rng.next() < 0.5 ? ['gpu', 'ml/*'] : ['cpu']
      }))
      const capable = members.filter(m => m.state === 'alive' && m.capabilities.includes('gpu')).map(m => m.peerId)
      expect(dhtOwner(taskId, members, ['GPU', 'ml/train'])).toBe(bruteForceOrder(taskId, capable)[0])
      const alive = members.filter(m => m.state === 'alive').map(m => m.peerId)
      expect(replicaSet(taskId, members, 3)).toEqual(bruteForceOrder(taskId, alive).slice(0, 3))
    }
    expect(dhtOwner('t', [{ peerId: ids[0] as string, capabilities: ['cpu'] }], ['gpu'])).toBeUndefined()
    expect(dhtOwner('t', [])).toBeUndefined()
  })

  it('replicaSet: fewer than k when fewer are alive; k = 0 → none; duplicates count once', () => {
    const ids = peers.slice(0, 2).map(p => p.toString())
    expect(replicaSet('t', [...ids, ...ids], 3)).toHaveLength(2)
    expect(replicaSet('t', ids, 0)).toEqual([])
  })
})

describe('work stealing: chooseVictim / stealCount', () => {
  it('the idle node steals from the member with the most queued tasks it can run; half its queue, from the tail', () => {
    const self = worker('self', ['gpu'], 0, 4)
    // a: 6 queued, 3 runnable (gpu) → count = min(⌊6/2⌋ = 3, free 4, runnable 3) = 3
    // b: 8 queued, 1 runnable → fewer runnable, not the victim
    const a = worker('a', [], 2, 2, [...tasks('ag', 2, ['gpu']), ...tasks('ac', 3, ['cpu']), ...tasks('ax', 1, ['gpu'])])
    const b = worker('b', [], 2, 2, [...tasks('bc', 7, ['cpu']), ...tasks('bg', 1, ['gpu'])])
    expect(chooseVictim(self, [b, a])).toEqual({ victim: 'a', count: 3, taskIds: ['ag0', 'ag1', 'ax0'] })
  })

  it('stealCount = ⌊victim queued / 2⌋ at most the free capacity: ⌊9/2⌋ = 4 vs free 3 − 1 = 2 → 2; ⌊5/2⌋ = 2 vs free 8 → 2', () => {
    expect(stealCount(9, { running: 1, capacity: 3 })).toBe(2)
    expect(stealCount(5, { running: 0, capacity: 8 })).toBe(2)
    expect(stealCount(1, { running: 0, capacity: 8 })).toBe(0)
    expect(stealCount(6, { running: 3, capacity: 3 })).toBe(0)
  })

  it('the count is capped by the thief\'s free capacity (capacity 3, running 2 → 1)', () => {
    const plan = chooseVictim(worker('self', [], 2, 3), [worker('v', [], 1, 1, tasks('v', 10))])
    expect(plan).toEqual({ victim: 'v', count: 1, taskIds: ['v9'] })
  })

  it('no steal: a thief with something queued, or no free slot; a victim with 1 queued; nothing runnable', () => {
    const victim = worker('v', [], 1, 1, tasks('v', 4, ['gpu']))
    expect(chooseVictim(worker('self', ['gpu'], 0, 2, tasks('mine', 1)), [victim])).toBeUndefined()
    expect(chooseVictim(worker('self', ['gpu'], 2, 2), [victim])).toBeUndefined()
    expect(chooseVictim(worker('self', ['gpu'], 0, 2), [worker('one', [], 1, 1, tasks('o', 1, ['gpu']))])).toBeUndefined()
    expect(chooseVictim(worker('self', ['cpu'], 0, 2), [victim])).toBeUndefined()
  })

  it('threshold exactly at 0.7 for the queued task: 7 of 10 runnable, 6 of 10 not', () => {
    const ten = Array.from({ length: 10 }, (_, i) => `c${i}`)
    const victim = worker('v', [], 1, 1, tasks('v', 2, ten))
    expect(chooseVictim(worker('self', ten.slice(0, 7), 0, 2), [victim])?.victim).toBe('v')
    expect(chooseVictim(worker('self', ten.slice(0, 6), 0, 2), [victim])).toBeUndefined()
  })

  it('ties: more queued in all, then the lower PeerId; non-alive members and self are never victims', () => {
    const self = worker('self', ['gpu'], 0, 4)
    const x = worker('x', [], 1, 1, [...tasks('x', 2, ['gpu']), ...tasks('xc', 2, ['cpu'])])
    const y = worker('y', [], 1, 1, tasks('y', 2, ['gpu']))
    const w = worker('w', [], 1, 1, tasks('w', 2, ['gpu']))
    expect(chooseVictim(self, [y, x, w])?.victim).toBe('x')
    expect(chooseVictim(self, [y, w])?.victim).toBe('w')
    expect(chooseVictim(self, [{ ...w, state: 'suspect' }, y])?.victim).toBe('y')
    expect(chooseVictim(self, [{ ...self, queue: tasks('s', 4, ['gpu']) }])).toBeUndefined()
  })

  it('a member whose queue is not listed cannot be a victim (its tasks\' capabilities are unknown)', () => {
    const unlisted: WorkerView = { peerId: 'u', state: 'alive', capabilities: ['gpu'], load: { queued: 10, running: 1, capacity: 1 } }
    expect(chooseVictim(worker('self', ['gpu'], 0, 2), [unlisted])).toBeUndefined()
  })
})

/** The cluster after a plan: queues moved, running untouched. */
function applyPlan (nodes: WorkerView[], moves: Migration[]): WorkerView[] {
  const queues = new Map(nodes.map(n => [n.peerId, [...(n.queue ?? [])]]))
  for (const m of moves) {
    const from = queues.get(m.from) as QueuedTask[]
    const task = from.find(t => t.id === m.taskId) as QueuedTask
    queues.set(m.from, from.filter(t => t.id !== m.taskId))
    const to = queues.get(m.to) as QueuedTask[]
    to.push(task)
  }
  return nodes.map(n => {
    const queue = queues.get(n.peerId) as QueuedTask[]
    return { ...n, queue, load: { ...n.load, queued: queue.length } }
  })
}

function ratioOf (n: WorkerView): number {
  return (n.load.queued + n.load.running) / n.load.capacity
}

describe('load balancing: planMigrations', () => {
  it('moves queued tasks from a node above 80 % to one below 30 %: A (4 running + 3 queued)/4 → B 0/10 takes all 3, (3)/10 ≤ 0.5', () => {
    const a = worker('A', ['gpu'], 4, 4, tasks('a', 3))
    const b = worker('B', ['gpu'], 0, 10)
    expect(planMigrations([a, b])).toEqual([
      { taskId: 'a2', from: 'A', to: 'B' }, { taskId: 'a1', from: 'A', to: 'B' }, { taskId: 'a0', from: 'A', to: 'B' }
    ])
  })

  it('stops at the source floor high − margin = 0.6: A (1 running + 9 queued)/10 = 1 gives 4 (ratio 6/10 = 0.6), not a 5th (0.5)', () => {
    const moves = planMigrations([worker('A', [], 1, 10, tasks('a', 9)), worker('B', [], 0, 100)])
    expect(moves.map(m => m.taskId)).toEqual(['a8', 'a7', 'a6', 'a5'])
  })

  it('stops at the target ceiling low + margin = 0.5: B 1/10 takes 4 (5/10 = 0.5), not a 5th (0.6)', () => {
    const moves = planMigrations([worker('A', [], 10, 10, tasks('a', 30)), worker('B', [], 1, 10)])
    expect(moves).toHaveLength(4)
  })

  it('only capable targets (match ≥ 0.7), the least utilised after the move, ties to the lower PeerId', () => {
    const a = worker('A', [], 4, 4, [...tasks('g', 1, ['gpu']), ...tasks('c', 1, ['cpu'])])
    const moves = planMigrations([a, worker('Z', ['gpu', 'cpu'], 0, 10), worker('Y', ['cpu'], 0, 10), worker('X', ['cpu'], 1, 10)])
    // c0 (tail) → Y or Z at 1/10 (X would be 2/10): tie → Y; g0 needs gpu → Z
    expect(moves).toEqual([{ taskId: 'c0', from: 'A', to: 'Y' }, { taskId: 'g0', from: 'A', to: 'Z' }])
  })

  it('never a running task: a source with everything running (no queue) gives nothing', () => {
    expect(planMigrations([worker('A', [], 8, 8), worker('B', [], 0, 8)])).toEqual([])
  })

  it('a node may plan its own moves only: nodes without a listed queue are counted by load, never sources', () => {
    const other: WorkerView = { peerId: 'O', capabilities: [], load: { queued: 9, running: 4, capacity: 4 } }
    const me = worker('M', [], 4, 4, tasks('m', 2))
    const moves = planMigrations([other, me, worker('T', [], 0, 8)])
    expect(moves.every(m => m.from === 'M')).toBe(true)
    expect(moves).toHaveLength(2)
  })

  it('rejects options that would let tasks bounce: margin ≥ high − low', () => {
    expect(() => planMigrations([], { margin: 0.5 })).toThrow(RangeError)
    expect(() => planMigrations([], { high: 0.3, low: 0.3 })).toThrow(RangeError)
    expect(planMigrations([], { margin: 0.49 })).toEqual([])
  })

  it('over 500 random clusters: capable moves of queued tasks, within the bounds, no bounce, deterministic', () => {
    const rng = new SeededRandom(2024)
    const caps = ['gpu', 'cpu', 'ml/train', 'ml/*', 'rust']
    let moved = 0
    for (let c = 0; c < 500; c++) {
      const margin = [0, 0.1, 0.2, 0.49][c % 4] as number
      const nodes: WorkerView[] = Array.from({ length: 2 + Math.floor(rng.next() * 8) }, (_, i) => {
        const capacity = 1 + Math.floor(rng.next() * 10)
        const running = Math.floor(rng.next() * (capacity + 1))
        const queue = Array.from({ length: rng.next() < 0.4 ? 0 : Math.floor(rng.next() * 14) }, (_, j) =>
          ({ id: `n${i}-t${j}`, required: rng.sample(caps.filter(x => x !== 'ml/*'), Math.floor(rng.next() * 2)) }))
        return worker(`node-${String(i).padStart(2, '0')}`, rng.sample(caps, 1 + Math.floor(rng.next() * 4)), running, capacity, queue,
          rng.next() < 0.1 ? { state: 'failed' } : {})
      })
      const moves = planMigrations(nodes, { margin })
      moved += moves.length
      const before = new Map(nodes.map(n => [n.peerId, n]))
      const after = new Map(applyPlan(nodes, moves).map(n => [n.peerId, n]))
      const givers = new Set(moves.map(m => m.from))
      const takers = new Set(moves.map(m => m.to))
      expect(new Set(moves.map(m => m.taskId)).size).toBe(moves.length)
      for (const m of moves) {
        const from = before.get(m.from) as WorkerView
        const to = before.get(m.to) as WorkerView
        const task = from.queue?.find(t => t.id === m.taskId)
        expect(task).toBeDefined() // a queued task of the source: never a running one
        expect(from.state).toBe('alive')
        expect(to.state).toBe('alive')
        expect(capabilityMatch((task as QueuedTask).required, to.capabilities)).toBeGreaterThanOrEqual(0.7)
        expect(utilisation(from.load)).toBeGreaterThan(0.8)
        expect(utilisation(to.load)).toBeLessThan(0.3)
      }
      for (const id of givers) {
        expect(takers.has(id)).toBe(false)
        const n = after.get(id) as WorkerView
        expect(n.load.running).toBe((before.get(id) as WorkerView).load.running)
        expect(ratioOf(n)).toBeGreaterThanOrEqual(0.8 - margin - 1e-12)
        expect(utilisation(n.load)).toBeGreaterThan(0.3) // it cannot become a target
      }
      for (const id of takers) {
        const n = after.get(id) as WorkerView
        expect(ratioOf(n)).toBeLessThanOrEqual(0.3 + margin + 1e-12)
        expect(utilisation(n.load)).toBeLessThanOrEqual(0.8) // it cannot become a source
      }
      // no bounce: the next plan over the result moves no moved task, out of no taker, into no giver
      const next = planMigrations([...after.values()], { margin })
      const movedIds = new Set(moves.map(m => m.taskId))
      for (const m of next) {
        expect(movedIds.has(m.taskId)).toBe(false)
        expect(takers.has(m.from)).toBe(false)
        expect(givers.has(m.to)).toBe(false)
      }
      // deterministic: the order of the nodes does not matter
      expect(planMigrations(rng.sample(nodes, nodes.length), { margin })).toEqual(moves)
    }
    expect(moved).toBeGreaterThan(200)
  })
})

describe('failover: reassignments', () => {
  it('the unfinished tasks of the failed node, with their strategy and the fence = assignment + 1', () => {
    const t = (id: string, owner: string | undefined, status: OwnedTask['status'], strategy: OwnedTask['strategy'], assignment: number): OwnedTask =>
      ({ id, owner, status, strategy, assignment, required: ['gpu'] })
    const tasks = [
      t('q', 'dead', 'queued', 'auction', 3),
      t('r', 'dead', 'running', 'dht', 1),
      t('c', 'dead', 'completed', 'auction', 2),
      t('f', 'dead', 'failed', 'dht', 2),
      t('x', 'dead', 'cancelled', 'dht', 2),
      t('p', undefined, 'pending', 'auction', 5),
      t('o', 'other', 'running', 'auction', 1)
    ]
    expect(reassignments('dead', tasks)).toEqual([
      { taskId: 'q', strategy: 'auction', required: ['gpu'], wasRunning: false, previousAssignment: 3, fence: 4 },
      { taskId: 'r', strategy: 'dht', required: ['gpu'], wasRunning: true, previousAssignment: 1, fence: 2 }
    ])
    expect(reassignments('nobody', tasks)).toEqual([])
  })
})

describe('simulation: the task lifecycle driven by the scheduler (test/sim-tasks/sim.ts)', () => {
  const pool: string[] = []

  beforeAll(async () => {
    for (let i = 0; i < 64; i++) {
      const seed = new Uint8Array(32).fill(0x5c)
      seed[0] = i
      pool.push(peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString())
    }
  })

  it('300 seeds with crashes, restarts and zombies: every task completes exactly once, none lost, one owner, no running task moved', () => {
    const total: Record<string, number> = {}
    const failures: string[] = []
    for (let seed = 1; seed <= 300; seed++) {
      const result = runTaskSim(seed, pool)
      if (result.violations.length > 0) failures.push(`seed ${seed}: ${result.violations.slice(0, 3).join('; ')}`)
      for (const [k, v] of Object.entries(result.stats)) total[k] = (total[k] ?? 0) + v
    }
    expect(failures).toEqual([])
    // the runs exercised every path
    for (const k of ['crashes', 'zombies', 'restarts', 'rerouted', 'auctions', 'dhtRoutes', 'stolen', 'migrations', 'fencedWrites', 'staleMovesRefused', 'executionFailures']) {
      expect(total[k], k).toBeGreaterThan(50)
    }
    expect(total.tasks).toBeGreaterThan(5000)
  })

  it('deterministic: the same seed gives the same table writes', () => {
    for (const seed of [5, 77, 250]) {
      const a = runTaskSim(seed, pool)
      const b = runTaskSim(seed, pool)
      expect(a.trace).toEqual(b.trace)
      expect(a.stats).toEqual(b.stats)
    }
    expect(runTaskSim(5, pool).trace).not.toEqual(runTaskSim(6, pool).trace)
  })
})

describe('load balancing with memory: Balancer (smoothed utilisation, cool-downs; issue 9)', () => {
  const observeAll = (b: Balancer, nodes: WorkerView[], nowMs: number): void => {
    for (const n of nodes) b.observeLoad(n.peerId, n.load, nowMs)
  }

  it('smooths utilisation with an EWMA of time constant smoothingMs: one step of Δt = τ moves 1 − 1/e of the way', () => {
    const b = new Balancer({ smoothingMs: 1000 })
    b.observeLoad('A', { queued: 0, running: 0, capacity: 4 }, 0)
    expect(b.smoothedUtilisation('A')).toBe(0) // the first sample is taken as is
    b.observeLoad('A', { queued: 4, running: 4, capacity: 4 }, 1000) // utilisation 1 (capped)
    expect(b.smoothedUtilisation('A')).toBeCloseTo(1 - Math.exp(-1), 12)
    b.observeLoad('A', { queued: 4, running: 4, capacity: 4 }, 1000) // Δt = 0: no weight
    expect(b.smoothedUtilisation('A')).toBeCloseTo(1 - Math.exp(-1), 12)
    expect(b.smoothedUtilisation('B')).toBeUndefined()
  })

  it('a spike does not make a node hot: the source must be above high on the smoothed AND the current utilisation', () => {
    const b = new Balancer({ smoothingMs: 2000 })
    const idle = worker('A', [], 0, 4)
    const target = worker('B', [], 0, 8)
    observeAll(b, [idle, target], 0)
    const spiked = worker('A', [], 4, 4, tasks('a', 4)) // 8/4: hot right now
    observeAll(b, [spiked, target], 500) // smoothed ≈ 0.22
    expect(planMigrations([spiked, target]).length).toBeGreaterThan(0) // the memoryless plan would move
    expect(b.plan([spiked, target], 500)).toEqual([])
    // still hot after a while: the smoothed value catches up and the moves come
    for (let t = 1000; t <= 8000; t += 500) observeAll(b, [spiked, target], t)
    expect(b.plan([spiked, target], 8000).length).toBeGreaterThan(0)
  })

  it('a node cold only for an instant is no target: both its smoothed and its current utilisation must be below low', () => {
    const b = new Balancer({ smoothingMs: 2000 })
    const hot = worker('A', [], 4, 4, tasks('a', 4))
    const busy = worker('B', [], 8, 8)
    for (let t = 0; t <= 10_000; t += 500) observeAll(b, [hot, busy], t)
    const dip = worker('B', [], 0, 8)
    observeAll(b, [hot, dip], 10_500)
    expect(b.plan([hot, dip], 10_500)).toEqual([])
  })

  it('a task moved (migrated or stolen) is not migrated again within the cool-down, and is after it', () => {
    const b = new Balancer({ smoothingMs: 0, cooldownMs: 10_000 })
    const a = worker('A', [], 4, 4, tasks('a', 2))
    const c = worker('C', [], 0, 10)
    b.observeMove({ taskId: 'a1', from: 'X', to: 'A', reason: 'steal' }, 0)
    b.observeMove({ taskId: 'a0', from: 'Y', to: 'A', reason: 'steal' }, 5_000)
    observeAll(b, [a, c], 9_999)
    expect(b.coolingDown('a1', 9_999)).toBe(true)
    expect(b.plan([a, c], 9_999)).toEqual([])
    observeAll(b, [a, c], 10_000)
    expect(b.plan([a, c], 10_000)).toEqual([{ taskId: 'a1', from: 'A', to: 'C' }])
    expect(b.coolingDown('a1', 10_000)).toBe(false)
  })

  it('no node is both a migration source and a target within one cool-down', () => {
    const b = new Balancer({ smoothingMs: 0, cooldownMs: 10_000 })
    // B received a migration: for the cool-down it is no source, even when hot
    b.observeMove({ taskId: 'z', from: 'A', to: 'B', reason: 'migrate' }, 0)
    const hotB = worker('B', [], 4, 4, tasks('b', 3))
    const coldC = worker('C', [], 0, 10)
    observeAll(b, [hotB, coldC], 1_000)
    expect(b.plan([hotB, coldC], 1_000)).toEqual([])
    // A gave one away: for the cool-down it is no target, even when idle
    const hotD = worker('D', [], 4, 4, tasks('d', 1))
    const idleA = worker('A', [], 0, 10)
    observeAll(b, [hotD, idleA], 1_000)
    expect(b.plan([hotD, idleA], 1_000)).toEqual([])
    // a steal does not set roles (the thief asked): only balancing moves do
    b.observeMove({ taskId: 'y', from: 'E', to: 'F', reason: 'steal' }, 1_000)
    const hotF = worker('F', [], 4, 4, tasks('f', 1))
    observeAll(b, [hotF, coldC], 2_000)
    expect(b.plan([hotF, coldC], 2_000)).toEqual([{ taskId: 'f0', from: 'F', to: 'C' }])
    observeAll(b, [hotB, coldC], 10_000)
    expect(b.plan([hotB, coldC], 10_000).length).toBeGreaterThan(0)
  })

  it('no ping-pong: 3 nodes that re-plan every 500 ms on each other\'s applied moves move each task at most once per cool-down', () => {
    // a deterministic loop: each round every node samples the loads, plans its own moves, the moves
    // apply at once and every node observes them; queued tasks drain one per node per 2 rounds
    const rng = new SeededRandom(9)
    const cooldownMs = 10_000
    const planners = new Map(['A', 'B', 'C'].map(p => [p, new Balancer({ cooldownMs })]))
    const queues = new Map<string, QueuedTask[]>([['A', tasks('a', 12)], ['B', []], ['C', tasks('c', 3)]])
    const movedAt = new Map<string, number[]>()
    let moves = 0
    for (let round = 0; round < 120; round++) {
      const now = round * 500
      if (round % 2 === 0) for (const q of queues.values()) q.shift()
      if (round % 10 === 0) queues.get(rng.sample(['A', 'B', 'C'], 1)[0] as string)?.push(...tasks(`r${round}-`, 6))
      const views = [...queues].map(([p, q]) => worker(p, [], Math.min(2, q.length), 2, q.slice(2)))
      for (const [p, b] of planners) {
        for (const v of views) b.observeLoad(v.peerId, v.load, now)
        for (const m of b.plan(views.map(v => v.peerId === p ? v : { ...v, queue: undefined }), now).filter(m => m.from === p)) {
          const from = queues.get(m.from) as QueuedTask[]
          const i = from.findIndex(t => t.id === m.taskId)
          if (i < 0) continue
          queues.get(m.to)?.push(...from.splice(i, 1))
          moves++
          for (const other of planners.values()) other.observeMove({ taskId: m.taskId, from: m.from, to: m.to, reason: 'migrate' }, now)
          const times = movedAt.get(m.taskId) ?? []
          times.push(now)
          movedAt.set(m.taskId, times)
        }
      }
    }
    expect(moves).toBeGreaterThan(0)
    for (const [id, times] of movedAt) {
      for (let i = 1; i < times.length; i++) expect((times[i] as number) - (times[i - 1] as number), id).toBeGreaterThanOrEqual(cooldownMs)
    }
  })

  it('[aggregate] with the mesh mean utilisation known, hot and cold are also relative to it (source > mean + meanGap, target ≤ mean)', () => {
    const b = new Balancer({ smoothingMs: 0 })
    const hot = worker('A', [], 4, 4, tasks('a', 4)) // 8/4: utilisation 1
    const cold = worker('B', [], 0, 8) // 0
    observeAll(b, [hot, cold], 0)
    const plan = (mean?: number): number => b.plan([hot, cold], 0, mean).length
    expect(plan()).toBeGreaterThan(0) // no estimate: the absolute rule alone
    expect(plan(0.5)).toBe(plan()) // 1 > 0.6 and 0 < 0.4: both hold
    expect(plan(0.95)).toBe(0) // the whole mesh is about as busy as A: A is not hot relative to it
    expect(plan(0.05)).toBe(plan()) // a mostly idle mesh with one hot node: an idle node stays a target
    // a node under `low` that carries more than the mesh's average share is no target
    const lukewarm = worker('D', [], 2, 8) // 0.25 < 0.3
    observeAll(b, [hot, lukewarm], 0)
    expect(b.plan([hot, lukewarm], 0).length).toBeGreaterThan(0)
    expect(b.plan([hot, lukewarm], 0, 0.2)).toEqual([])
    expect(b.plan([hot, lukewarm], 0, 0.25).length).toBeGreaterThan(0)
    expect(plan(Number.NaN)).toBe(plan()) // an unusable estimate is ignored
    // the absolute rule stays: a mean of 0 does not make a node at 0.7 hot
    const warm = worker('C', [], 2, 4, tasks('c', 1)) // 3/4 = 0.75
    observeAll(b, [warm, cold], 0)
    expect(b.plan([warm, cold], 0, 0)).toEqual([])
    expect(() => new Balancer({ meanGap: -0.1 })).toThrow(RangeError)
  })

  it('refuses a negative smoothing or cool-down, and the plan\'s own invalid bounds', () => {
    expect(() => new Balancer({ smoothingMs: -1 })).toThrow(RangeError)
    expect(() => new Balancer({ cooldownMs: Number.NaN })).toThrow(RangeError)
    expect(() => new Balancer({ margin: 0.5 })).toThrow(RangeError)
  })
})
