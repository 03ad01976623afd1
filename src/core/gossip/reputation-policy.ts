/**
 * How reputation scores (src/core/gossip/reputation.ts, in [-100, 100]) turn into peer-selection
 * decisions, as pure functions of the scores (unit-tested; the runtime, src/runtime/gossip/reputation.ts,
 * and the selectors — connection keeper, membership's indirect probers, auctions — call them).
 *
 * - Tiers: scores are compared in tiers of `tierWidth` (20) points centred on 0 (tier 0 is
 *   [-10, 10): a new peer, a few ms of RTT either way, one timeout), not exactly. Within a tier the
 *   caller's own order stands (the keeper's pair hash that spreads links, membership's seeded random
 *   draw), so a few points of RTT noise do not make every node prefer the same peers; a peer that
 *   misbehaved, or failed tasks, drops whole tiers.
 * - Misconduct: only a peer that sent us messages we had to reject (bad signature, forged sender,
 *   oversize, undecodable, invalid, wrong kind) can be disconnected, or lose gossipsub score. Task
 *   failures, timeouts, flaps and slow RTTs lower its score (so it is chosen last) but never cut it
 *   off: a worker with a broken handler is not an attacker, and isolating it from gossip would only
 *   make it miss membership records.
 * - Gossipsub: the application-specific score (P5) of a misbehaving peer is its reputation (≤ 0 part),
 *   weight 1; thresholds below put it out of the mesh at any negative score (gossipsub never keeps or
 *   grafts negative peers), stop gossip to it at −20, stop publishing to it at −40, and ignore all its
 *   RPCs at −60. The runtime disconnects it at `banScore` (−50) and refuses its connections (both ways)
 *   until its score decays back above that (one half-life, 30 min, from −100).
 */

export const reputationPolicy = {
  /** Width of a score tier: peers within the same tier are equals for selection. */
  tierWidth: 20,
  /** A misbehaving peer at or below this is disconnected and not redialed or accepted. */
  banScore: -50,
  /** gossipsub `appSpecificWeight`: the P5 term is the reputation itself. */
  appSpecificWeight: 1,
  /** gossipsub score thresholds (must be gossip ≥ publish ≥ graylist, all ≤ 0). */
  gossipThreshold: -20,
  publishThreshold: -40,
  graylistThreshold: -60
} as const

/** The tier of a score: higher is better (0 for scores in [−10, 10), 1 for [10, 30), −1 for [−30, −10) …). */
export function reputationTier (score: number, tierWidth: number = reputationPolicy.tierWidth): number {
  if (!Number.isFinite(score)) return 0
  return Math.floor((score + tierWidth / 2) / tierWidth)
}

/**
 * `peers` best tier first, keeping the given order within a tier (stable): the caller's own ranking
 * (hash, random draw, RTT) decides among equals.
 */
export function orderByTier<T> (peers: readonly T[], score: (peer: T) => number, tierWidth: number = reputationPolicy.tierWidth): T[] {
  return peers.map((peer, index) => ({ peer, index, tier: reputationTier(score(peer), tierWidth) }))
    .sort((a, b) => b.tier - a.tier || a.index - b.index)
    .map(x => x.peer)
}

/** gossipsub's application-specific score (P5) for a peer: its reputation if it misbehaved and is below 0. */
export function gossipAppScore (score: number, misbehaved: boolean): number {
  if (!misbehaved || !Number.isFinite(score)) return 0
  return Math.min(0, score)
}

/** Whether to disconnect a peer and refuse it: it misbehaved, is not exempt (a genesis validator), and scores ≤ banScore. */
export function isBanned (score: number, misbehaved: boolean, exempt: boolean = false, banScore: number = reputationPolicy.banScore): boolean {
  return misbehaved && !exempt && Number.isFinite(score) && score <= banScore
}
