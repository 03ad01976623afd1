/**
 * Majority arithmetic in one place (etcd-io/raft quorum/majority.go): how many make a quorum, the
 * highest index a majority has acknowledged, and the outcome of a vote.
 */
import type { NodeId } from './types.js'

/** Smallest majority of `voters` voters (⌊n/2⌋ + 1); 0 voters need nobody. */
export function quorumOf (voters: number): number {
  return voters === 0 ? 0 : Math.floor(voters / 2) + 1
}

/**
 * The largest index acknowledged by a majority of `voters` (etcd's CommittedIndex): sort the
 * acknowledged indices descending and take the quorum-th. A voter missing from `acked` counts as 0.
 * An empty voter set commits nothing (0), unlike etcd's "infinity": we never run without voters.
 */
export function committedIndex (voters: readonly NodeId[], acked: (id: NodeId) => number): number {
  if (voters.length === 0) return 0
  const indices = voters.map(acked).sort((a, b) => b - a)
  return indices[quorumOf(voters.length) - 1] as number
}

export type VoteOutcome = 'won' | 'lost' | 'pending'

/** Won with a majority of grants, lost once a majority can no longer be reached, else pending. */
export function voteResult (voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  const quorum = quorumOf(voters.length)
  let granted = 0
  let missing = 0
  for (const voter of voters) {
    const vote = votes.get(voter)
    if (vote === undefined) missing++
    else if (vote) granted++
  }
  if (granted >= quorum) return 'won'
  if (granted + missing >= quorum) return 'pending'
  return 'lost'
}

/** Do the ids in `have` include a majority of `voters`? */
export function hasQuorum (voters: readonly NodeId[], have: (id: NodeId) => boolean): boolean {
  return voters.filter(have).length >= quorumOf(voters.length)
}
