/**
 * [founding] `--voters auto:N` (issue 15): the next membership change the Raft leader makes by itself
 * so that the first nodes that join its network become voters, until there are N. Pure: the runtime
 * driver (src/runtime/consensus/auto-voters.ts) gathers the input each tick and performs the change.
 *
 * One change at a time (the Raft core refuses a second while one is pending), one learner at a time:
 * a joiner is added as a learner, promoted once its log has caught up with the commit index, and only
 * then is the next joiner added. Joiners are taken in the order the leader first saw them, and only
 * those known to run the leader's own genesis (asked over /mesh/<network>/genesis/1.0.0); while the
 * next one's answer is unknown the planner waits rather than skip it.
 */

export interface AutoVotersLearner {
  peerId: string
  /** The leader's view of how far the learner's log matches its own. */
  match: number
  connected: boolean
}

export interface AutoVotersCandidate {
  peerId: string
  /** Runs the leader's genesis: true, false, or null while not known yet. */
  sameGenesis: boolean | null
}

export interface AutoVotersInput {
  /** N of auto:N. */
  target: number
  /** Only the leader changes the membership. */
  isLeader: boolean
  /** A change proposed by the driver (or anyone) that has not applied yet. */
  changePending: boolean
  commitIndex: number
  /** How far behind the commit index a learner may be and still count as caught up. */
  lagMax: number
  voters: readonly string[]
  learners: readonly AutoVotersLearner[]
  /** Alive members that are neither voters nor learners, in the order the leader first saw them. */
  candidates: readonly AutoVotersCandidate[]
}

export type AutoVotersStep = { type: 'add-learner', node: string } | { type: 'promote', node: string } | null

export function planAutoVoters (input: AutoVotersInput): AutoVotersStep {
  if (!input.isLeader || input.changePending) return null
  if (input.voters.length >= input.target) return null
  // a caught-up, connected learner first: promote it (it must have acknowledged entries itself: a
  // joiner whose copy has not applied its own addition yet is no Raft node, and as a voter would stall)
  const ready = input.learners.find(l => l.connected && l.match > 0 && l.match + input.lagMax >= input.commitIndex)
  if (ready != null) return { type: 'promote', node: ready.peerId }
  // one learner at a time: wait while a connected one catches up
  if (input.learners.some(l => l.connected)) return null
  // room for one more (disconnected learners still count: they may come back)
  if (input.voters.length + input.learners.length >= input.target) return null
  for (const candidate of input.candidates) {
    if (input.voters.includes(candidate.peerId) || input.learners.some(l => l.peerId === candidate.peerId)) continue
    if (candidate.sameGenesis === false) continue
    if (candidate.sameGenesis == null) return null // keep the join order: wait for its answer
    return { type: 'add-learner', node: candidate.peerId }
  }
  return null
}
