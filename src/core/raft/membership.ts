/**
 * Membership changes through the log, one at a time (dissertation §4.1; etcd-io/raft confchange/ for
 * the simple case): add a learner (receives the log, no vote), promote a learner to voter, remove a
 * voter or learner. Any two majorities of configurations that differ by one voter intersect, so a
 * single change needs no joint consensus. A change takes effect when its entry is applied, and the
 * leader proposes one only when no other is pending (see node.ts).
 */
import type { Membership, MembershipChange, NodeId } from './types.js'

export function isVoter (membership: Membership, id: NodeId): boolean {
  return membership.voters.includes(id)
}

export function isMember (membership: Membership, id: NodeId): boolean {
  return membership.voters.includes(id) || membership.learners.includes(id)
}

/** Everyone the leader replicates to (voters then learners), without `self`. */
export function replicationTargets (membership: Membership, self: NodeId): NodeId[] {
  return [...membership.voters, ...membership.learners].filter(id => id !== self)
}

/** Why a change cannot apply to `membership`, or null when it can. */
export function changeError (membership: Membership, change: MembershipChange): string | null {
  switch (change.type) {
    case 'add-learner':
      return isMember(membership, change.node) ? `${change.node} is already a member` : null
    case 'promote':
      return membership.learners.includes(change.node) ? null : `${change.node} is not a learner`
    case 'remove':
      if (!isMember(membership, change.node)) return `${change.node} is not a member`
      if (membership.voters.length === 1 && isVoter(membership, change.node)) return 'cannot remove the last voter'
      return null
  }
}

/** The membership after `change` (an invalid change leaves it as it is: every node skips it alike). */
export function applyChange (membership: Membership, change: MembershipChange): Membership {
  if (changeError(membership, change) != null) return membership
  const sorted = (ids: NodeId[]): NodeId[] => [...ids].sort()
  switch (change.type) {
    case 'add-learner':
      return { voters: membership.voters, learners: sorted([...membership.learners, change.node]) }
    case 'promote':
      return { voters: sorted([...membership.voters, change.node]), learners: membership.learners.filter(id => id !== change.node) }
    case 'remove':
      return { voters: membership.voters.filter(id => id !== change.node), learners: membership.learners.filter(id => id !== change.node) }
  }
}

export function formatMembership (membership: Membership): string {
  const learners = membership.learners.length > 0 ? ` learners=${membership.learners.join(',')}` : ''
  return `voters=${membership.voters.join(',')}${learners}`
}
