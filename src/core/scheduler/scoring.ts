/**
 * Bid scoring and the choice among bids for capability routing.
 *
 * score = 0.4·match + 0.3·(1 − load) + 0.2·performance + 0.1·resources, every input clamped to 0..1
 * (NaN counts as the worst value of that input), where
 * - `match` is `capabilityMatch(required, offered)`,
 * - `load` is `utilisation({ queued, running, capacity })` = (queued + running) / capacity, capped at 1,
 * - `performance` is `PerformanceTracker.performance(node)` (0.5 for a node never observed),
 * - `resources` is 1 − host CPU utilisation.
 */
import { matchThreshold } from './capabilities.js'
import { comparePeerIds } from './types.js'
import type { Load, TaskLoad } from './types.js'

export const bidWeights = { match: 0.4, load: 0.3, performance: 0.2, resources: 0.1 } as const

/** `x` clamped to 0..1; NaN becomes `ifNaN`. */
export function clamp01 (x: number, ifNaN = 0): number {
  if (Number.isNaN(x)) return ifNaN
  return Math.min(1, Math.max(0, x))
}

/**
 * (queued + running) / capacity, capped at 1 (negative counts count as 0). A node without capacity
 * (`capacity ≤ 0`, or not a number) is fully used: 1.
 */
export function utilisation (load: TaskLoad): number {
  if (!(load.capacity > 0)) return 1
  const used = Math.max(0, load.queued) + Math.max(0, load.running)
  return clamp01(used / load.capacity, 1)
}

/** Whether the node can take one more task: queued + running < capacity. */
export function hasFreeCapacity (load: TaskLoad): boolean {
  return load.queued + load.running < load.capacity
}

/** 1 − CPU utilisation, in 0..1 (an unknown/NaN CPU counts as fully used). */
export function freeResources (cpu: number): number {
  return 1 - clamp01(cpu, 1)
}

export interface BidInputs {
  match: number
  load: number
  performance: number
  resources: number
}

/**
 * 0.4·match + 0.3·(1 − load) + 0.2·performance + 0.1·resources, inputs clamped to 0..1; NaN counts as
 * the worst value (match, performance, resources 0; load 1). Result in 0..1.
 */
export function bidScore (inputs: BidInputs): number {
  const match = clamp01(inputs.match, 0)
  const load = clamp01(inputs.load, 1)
  const performance = clamp01(inputs.performance, 0)
  const resources = clamp01(inputs.resources, 0)
  return bidWeights.match * match + bidWeights.load * (1 - load) +
    bidWeights.performance * performance + bidWeights.resources * resources
}

/**
 * A bid as the chooser ranks it: the bidder's capability match and task counts, and the score the
 * chooser computed (with `bidScore`, its own performance figure for the bidder, e.g. via `scoredBid`).
 */
export interface ScoredBid {
  peerId: string
  /** `capabilityMatch(task.required, bidder.capabilities)`. */
  match: number
  queued: number
  running: number
  capacity: number
  score: number
  /**
   * [reputation] The chooser's reputation score for the bidder (src/core/gossip/reputation.ts): among
   * bids of equal score, the better reputation wins (then the lower PeerId). Absent counts as 0.
   */
  reputation?: number
}

export interface BidChoice<B extends ScoredBid = ScoredBid> {
  /** The best eligible bid: `ranked[0]`. */
  winner: B
  /** The eligible bids (match ≥ threshold and free capacity), best first. */
  ranked: B[]
  /** Every other bidder, each once, to be told it lost: the rest of `ranked` in order, then the bids
   * that did not count (match below the threshold, or no free capacity), best score first. */
  losers: B[]
}

/**
 * A bid scored from its inputs: `bidScore({ match, load: utilisation(load), performance,
 * resources: freeResources(load.cpu) })`.
 */
export function scoredBid (peerId: string, match: number, load: Load, performance: number): ScoredBid {
  const score = bidScore({ match, load: utilisation(load), performance, resources: freeResources(load.cpu) })
  return { peerId, match, queued: load.queued, running: load.running, capacity: load.capacity, score }
}

/** Whether a bid counts for capability routing: match ≥ threshold and queued + running < capacity. */
export function bidCounts (bid: ScoredBid, threshold: number = matchThreshold): boolean {
  return bid.match >= threshold && hasFreeCapacity(bid)
}

/**
 * Higher score first; equal scores: better reputation first (absent or NaN counts as 0), then lower
 * PeerId string first. NaN scores rank last.
 */
export function compareBids (a: ScoredBid, b: ScoredBid): number {
  const sa = Number.isNaN(a.score) ? -Infinity : a.score
  const sb = Number.isNaN(b.score) ? -Infinity : b.score
  if (sa !== sb) return sb - sa
  const ra = Number.isFinite(a.reputation) ? a.reputation as number : 0
  const rb = Number.isFinite(b.reputation) ? b.reputation as number : 0
  if (ra !== rb) return rb - ra
  return comparePeerIds(a.peerId, b.peerId)
}

/**
 * Picks the winning bid for capability routing: the highest score among the bids with
 * `match ≥ threshold` (0.7; exactly 0.7 counts) and free capacity (queued + running < capacity); equal
 * scores go to the lower PeerId string. A peer that bid twice counts once, with its better bid (a
 * counting one before one that does not, then the higher score; on a full tie the first). Undefined
 * when no bid counts. With one bid per peer, the result does not depend on the order of `bids`.
 */
export function chooseBid<B extends ScoredBid> (bids: readonly B[], threshold: number = matchThreshold): BidChoice<B> | undefined {
  const best = new Map<string, B>()
  for (const bid of bids) {
    const held = best.get(bid.peerId)
    if (held === undefined || betterOfSamePeer(bid, held, threshold)) best.set(bid.peerId, bid)
  }
  const all = [...best.values()].sort(compareBids)
  const ranked = all.filter(b => bidCounts(b, threshold))
  const winner = ranked[0]
  if (winner === undefined) return undefined
  const losers = [...ranked.slice(1), ...all.filter(b => !bidCounts(b, threshold))]
  return { winner, ranked, losers }
}

function betterOfSamePeer (a: ScoredBid, b: ScoredBid, threshold: number): boolean {
  const ca = bidCounts(a, threshold)
  const cb = bidCounts(b, threshold)
  if (ca !== cb) return ca
  return compareBids(a, b) < 0
}

/**
 * When no bidder has free capacity: the task waits in some member's queue, so pick the shortest queue
 * for its capacity ((queued + running) / capacity, lowest first), then the best score, then the lower
 * PeerId. The score alone does not do: its load term saturates at full (utilisation is capped at 1),
 * so every full bidder looks equally loaded and a batch of auctions piled onto the one with the best
 * performance/resources. Only bids with `match ≥ threshold` count; undefined when none does.
 */
export function chooseBidWhenFull<B extends ScoredBid> (bids: readonly B[], threshold: number = matchThreshold): BidChoice<B> | undefined {
  const backlog = (b: ScoredBid): number => (Math.max(0, b.queued) + Math.max(0, b.running)) / (b.capacity > 0 ? b.capacity : 1)
  const open = (b: B): B => ({ ...b, queued: 0, running: 0, capacity: 1 })
  const counting = bids.filter(b => bidCounts(open(b), threshold))
  if (counting.length === 0) return undefined
  const least = Math.min(...counting.map(backlog))
  const shortest = chooseBid(counting.filter(b => backlog(b) === least).map(open), threshold)
  const all = chooseBid(bids.map(open), threshold)
  if (shortest === undefined || all === undefined) return undefined
  const winner = bids.find(b => b.peerId === shortest.winner.peerId) as B
  const rest = (list: readonly B[]): B[] => list.filter(b => b.peerId !== winner.peerId).map(b => bids.find(x => x.peerId === b.peerId) as B)
  const ranked = [winner, ...rest(all.ranked)]
  return { winner, ranked, losers: [...ranked.slice(1), ...bids.filter(b => !bidCounts(open(b), threshold))] }
}
