/** [founding] The `--voters auto:N` planner (src/core/raft/auto-voters.ts). */
import { describe, expect, it } from 'vitest'
import { planAutoVoters } from '../../src/core/raft/auto-voters.js'
import type { AutoVotersInput } from '../../src/core/raft/auto-voters.js'

const base: AutoVotersInput = { target: 3, isLeader: true, changePending: false, commitIndex: 10, lagMax: 0, voters: ['F'], learners: [], candidates: [] }
const plan = (change: Partial<AutoVotersInput>): ReturnType<typeof planAutoVoters> => planAutoVoters({ ...base, ...change })

describe('auto voters planner', () => {
  it('adds the first joiner running the same genesis as a learner', () => {
    expect(plan({ candidates: [{ peerId: 'A', sameGenesis: true }, { peerId: 'B', sameGenesis: true }] })).toEqual({ type: 'add-learner', node: 'A' })
  })

  it('skips joiners of another genesis and waits for an unknown one (join order kept)', () => {
    expect(plan({ candidates: [{ peerId: 'X', sameGenesis: false }, { peerId: 'A', sameGenesis: true }] })).toEqual({ type: 'add-learner', node: 'A' })
    expect(plan({ candidates: [{ peerId: 'A', sameGenesis: null }, { peerId: 'B', sameGenesis: true }] })).toBeNull()
  })

  it('promotes a learner once it has caught up, not before', () => {
    expect(plan({ learners: [{ peerId: 'A', match: 9, connected: true }], candidates: [{ peerId: 'B', sameGenesis: true }] })).toBeNull()
    expect(plan({ learners: [{ peerId: 'A', match: 10, connected: true }] })).toEqual({ type: 'promote', node: 'A' })
    expect(plan({ lagMax: 2, learners: [{ peerId: 'A', match: 8, connected: true }] })).toEqual({ type: 'promote', node: 'A' })
    // a learner that has acknowledged nothing yet is not a Raft node yet, whatever the lag allowed
    expect(plan({ commitIndex: 3, lagMax: 16, learners: [{ peerId: 'A', match: 0, connected: true }] })).toBeNull()
  })

  it('does not promote a disconnected learner, and adds no learner beyond the target', () => {
    expect(plan({ learners: [{ peerId: 'A', match: 10, connected: false }], candidates: [{ peerId: 'B', sameGenesis: true }] })).toEqual({ type: 'add-learner', node: 'B' })
    expect(plan({ voters: ['F', 'A'], learners: [{ peerId: 'B', match: 0, connected: false }], candidates: [{ peerId: 'C', sameGenesis: true }] })).toBeNull()
  })

  it('does nothing when not the leader, while a change is pending, or once the target is reached', () => {
    const candidates = [{ peerId: 'A', sameGenesis: true }]
    expect(plan({ isLeader: false, candidates })).toBeNull()
    expect(plan({ changePending: true, candidates })).toBeNull()
    expect(plan({ voters: ['F', 'A', 'B'], candidates: [{ peerId: 'C', sameGenesis: true }] })).toBeNull()
  })

  it('walks 1 → 3 voters one learner at a time', () => {
    let state: AutoVotersInput = { ...base, candidates: [{ peerId: 'A', sameGenesis: true }, { peerId: 'B', sameGenesis: true }, { peerId: 'C', sameGenesis: true }] }
    const steps: string[] = []
    for (let i = 0; i < 10; i++) {
      const step = planAutoVoters(state)
      if (step == null) break
      steps.push(`${step.type} ${step.node}`)
      if (step.type === 'add-learner') state = { ...state, learners: [...state.learners, { peerId: step.node, match: state.commitIndex, connected: true }], candidates: state.candidates.filter(c => c.peerId !== step.node) }
      else state = { ...state, voters: [...state.voters, step.node], learners: state.learners.filter(l => l.peerId !== step.node) }
    }
    expect(steps).toEqual(['add-learner A', 'promote A', 'add-learner B', 'promote B'])
    expect(state.voters).toEqual(['F', 'A', 'B'])
  })
})
