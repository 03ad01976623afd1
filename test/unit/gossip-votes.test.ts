/**
 * Gossip votes (src/core/gossip/votes.ts): merge laws over random vote orders with fast-check,
 * equivocation, eligibility, held votes, and the outcome rule (approved / rejected / expired).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { GossipVotes, mergeVoteSets, neededApprovals, outcomeOf, validateProposal, votesLimits } from '../../src/core/gossip/votes.js'
import type { Proposal, Vote, VoteSetState, VoterRecord } from '../../src/core/gossip/votes.js'

const members = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']

function proposal (over: Partial<Proposal> = {}): Proposal {
  return { id: 'p1', proposer: 'm0', eligible: members, threshold: 2 / 3, deadlineMs: 10_000, subject: 'raise the quota', ...over }
}

function vote (voter: string, approve: boolean, signature = `sig-${voter}-${String(approve)}`): Vote {
  return { proposal: 'p1', voter, approve, signature }
}

function setOf (votes: readonly Vote[]): Map<string, VoterRecord> {
  let state = new Map<string, VoterRecord>()
  for (const v of votes) state = mergeVoteSets(state, new Map([[v.voter, v.approve ? { approve: v } : { reject: v }]]))
  return state
}

function canonical (state: VoteSetState): unknown {
  return [...state].sort((a, b) => a[0] < b[0] ? -1 : 1)
}

const voteArb: fc.Arbitrary<Vote> = fc.record({
  proposal: fc.constant('p1'),
  voter: fc.constantFrom(...members),
  approve: fc.boolean(),
  signature: fc.constantFrom('s1', 's2', 's3')
})
const setArb = fc.array(voteArb, { maxLength: 14 }).map(setOf)

describe('vote set CRDT: merge laws (fast-check)', () => {
  it('commutative', () => {
    fc.assert(fc.property(setArb, setArb, (a, b) => {
      expect(canonical(mergeVoteSets(a, b))).toEqual(canonical(mergeVoteSets(b, a)))
    }), { numRuns: 300 })
  })

  it('associative', () => {
    fc.assert(fc.property(setArb, setArb, setArb, (a, b, c) => {
      expect(canonical(mergeVoteSets(mergeVoteSets(a, b), c))).toEqual(canonical(mergeVoteSets(a, mergeVoteSets(b, c))))
    }), { numRuns: 300 })
  })

  it('idempotent', () => {
    fc.assert(fc.property(setArb, a => {
      expect(canonical(mergeVoteSets(a, a))).toEqual(canonical(a))
    }), { numRuns: 300 })
  })

  it('nodes receiving the same votes in any order, with duplicates, through addVote or mergeVotes, hold the same set and the same outcome', () => {
    fc.assert(fc.property(fc.array(voteArb, { minLength: 1, maxLength: 20 }), fc.integer(), fc.integer({ min: 0, max: 20_000 }), (votes, seed, nowMs) => {
      const order = fc.sample(fc.shuffledSubarray(votes, { minLength: votes.length, maxLength: votes.length }), { seed, numRuns: 1 })[0] as Vote[]
      const a = new GossipVotes()
      const b = new GossipVotes()
      const c = new GossipVotes()
      a.addProposal(proposal())
      for (const v of votes) a.addVote(v)
      for (const v of [...order, ...order.slice(0, 4)]) b.addVote(v) // held: the proposal comes after
      b.addProposal(proposal())
      c.addProposal(proposal())
      c.mergeVotes('p1', setOf(order.slice(0, 5)))
      c.mergeVotes('p1', setOf(order.slice(3)))
      for (const other of [b, c]) {
        expect(canonical(other.votes('p1') as VoteSetState)).toEqual(canonical(a.votes('p1') as VoteSetState))
        expect(other.outcome('p1', nowMs)).toEqual(a.outcome('p1', nowMs))
      }
    }), { numRuns: 300 })
  })
})

describe('equivocation', () => {
  it('a second, different vote from a member is equivocation: evidence kept, the member counts as none', () => {
    const votes = new GossipVotes()
    votes.addProposal(proposal())
    expect(votes.addVote(vote('m1', true))).toBe('added')
    expect(votes.addVote(vote('m1', true))).toBe('duplicate')
    expect(votes.outcome('p1', 0)?.approvals).toBe(1)
    expect(votes.addVote(vote('m1', false))).toBe('equivocation')
    const outcome = votes.outcome('p1', 0)
    expect(outcome).toMatchObject({ approvals: 0, rejections: 0, equivocators: ['m1'], remaining: 5 })
    expect(votes.evidence('p1')).toEqual([{ approve: vote('m1', true), reject: vote('m1', false) }])
    // Further votes of the equivocator change nothing.
    expect(votes.addVote(vote('m1', true))).toBe('duplicate')
    expect(votes.outcome('p1', 0)).toEqual(outcome)
  })

  it('an equivocation revealed late withdraws an approval: approved becomes pending', () => {
    const votes = new GossipVotes()
    votes.addProposal(proposal())
    for (const m of ['m0', 'm1', 'm2', 'm3']) votes.addVote(vote(m, true))
    expect(votes.outcome('p1', 0)?.status).toBe('approved')
    votes.addVote(vote('m3', false))
    expect(votes.outcome('p1', 0)).toMatchObject({ status: 'pending', approvals: 3, equivocators: ['m3'], remaining: 2 })
  })

  it('of two approvals with different signatures, every node keeps the smaller one', () => {
    const a = setOf([vote('m2', true, 'zz'), vote('m2', true, 'aa')])
    const b = setOf([vote('m2', true, 'aa'), vote('m2', true, 'zz')])
    expect(a.get('m2')?.approve?.signature).toBe('aa')
    expect(canonical(a)).toEqual(canonical(b))
  })
})

describe('outcome', () => {
  it('needed = ⌈threshold × eligible⌉ without floating-point surprises', () => {
    expect(neededApprovals(2 / 3, 3)).toBe(2)
    expect(neededApprovals(2 / 3, 6)).toBe(4)
    expect(neededApprovals(0.5, 5)).toBe(3)
    expect(neededApprovals(1, 7)).toBe(7)
    expect(neededApprovals(0.01, 7)).toBe(1)
    expect(neededApprovals(0.5, 0)).toBe(1)
  })

  it('approved once approvals reach the threshold, even before the deadline', () => {
    const p = proposal()
    const set = setOf(['m0', 'm1', 'm2'].map(m => vote(m, true)))
    expect(outcomeOf(p, set, 5_000).status).toBe('pending')
    expect(outcomeOf(p, mergeVoteSets(set, setOf([vote('m5', true)])), 5_000)).toMatchObject({ status: 'approved', approvals: 4, needed: 4 })
  })

  it('rejected as soon as approvals can no longer reach it', () => {
    const p = proposal() // 6 eligible, 4 needed
    expect(outcomeOf(p, setOf([vote('m0', false), vote('m1', false)]), 0).status).toBe('pending')
    expect(outcomeOf(p, setOf([vote('m0', false), vote('m1', false), vote('m2', false)]), 0)).toMatchObject({ status: 'rejected', remaining: 3 })
    // Two rejections and one equivocator: 3 remaining < 4 needed.
    expect(outcomeOf(p, setOf([vote('m0', false), vote('m1', false), vote('m2', true), vote('m2', false)]), 0).status).toBe('rejected')
  })

  it('expired after the deadline when neither; never expired while a decision stands', () => {
    const p = proposal()
    const set = setOf([vote('m0', true)])
    expect(outcomeOf(p, set, 10_000).status).toBe('pending')
    expect(outcomeOf(p, set, 10_001).status).toBe('expired')
    const approved = setOf(['m0', 'm1', 'm2', 'm3'].map(m => vote(m, true)))
    expect(outcomeOf(p, approved, 10_001).status).toBe('approved')
  })

  it('threshold 1 needs every eligible member; one rejection rejects', () => {
    const p = proposal({ threshold: 1 })
    expect(outcomeOf(p, setOf(members.slice(0, 5).map(m => vote(m, true))), 0).status).toBe('pending')
    expect(outcomeOf(p, setOf(members.map(m => vote(m, true))), 0).status).toBe('approved')
    expect(outcomeOf(p, setOf([vote('m4', false)]), 0).status).toBe('rejected')
  })

  it('the outcome is a function of the votes: the same votes give the same outcome (fast-check)', () => {
    fc.assert(fc.property(fc.array(voteArb, { maxLength: 20 }), fc.integer({ min: 0, max: 20_000 }), (votes, nowMs) => {
      const o = outcomeOf(proposal(), setOf(votes), nowMs)
      expect(o.approvals + o.rejections + o.equivocators.length + o.remaining).toBe(members.length)
      if (o.status === 'approved') expect(o.approvals).toBeGreaterThanOrEqual(o.needed)
      if (o.status === 'rejected') expect(o.approvals + o.remaining).toBeLessThan(o.needed)
      if (o.status === 'expired') expect(nowMs).toBeGreaterThan(10_000)
      expect(outcomeOf(proposal(), setOf([...votes].reverse()), nowMs)).toEqual(o)
    }), { numRuns: 300 })
  })
})

describe('refusals and bounds', () => {
  it('refuses votes of members not eligible (added after the proposal was made)', () => {
    const votes = new GossipVotes()
    votes.addProposal(proposal())
    expect(votes.addVote(vote('late-joiner', true))).toBe('not-eligible')
    expect(votes.refusalCounts()).toEqual({ 'not-eligible': 1 })
  })

  it('holds votes for an unknown proposal, bounded; releases them when it arrives (refusing the ineligible)', () => {
    const votes = new GossipVotes()
    expect(votes.addVote(vote('m1', true))).toBe('held')
    expect(votes.addVote(vote('outsider', true))).toBe('held')
    expect(votes.pendingCount()).toBe(2)
    expect(votes.addProposal(proposal())).toBe('added')
    expect(votes.pendingCount()).toBe(0)
    expect(votes.outcome('p1', 0)?.approvals).toBe(1)
    expect(votes.refusalCounts()).toEqual({ 'not-eligible': 1 })
    const full = new GossipVotes()
    for (let i = 0; i < votesLimits.pendingVotesMax; i++) expect(full.addVote({ ...vote('m1', true), proposal: `q${i}` })).toBe('held')
    expect(full.addVote({ ...vote('m1', true), proposal: 'one-more' })).toBe('unknown-proposal')
  })

  it('validates proposals: threshold in (0, 1], sorted distinct eligible list, bounded sizes; conflicting ids refused', () => {
    expect(validateProposal(proposal({ threshold: 0 }))).toBe('threshold')
    expect(validateProposal(proposal({ threshold: 1.01 }))).toBe('threshold')
    expect(validateProposal({ ...proposal(), threshold: Number.NaN })).toBe('malformed')
    expect(validateProposal(proposal({ eligible: ['b', 'a'] }))).toBe('malformed')
    expect(validateProposal(proposal({ eligible: ['a', 'a'] }))).toBe('malformed')
    expect(validateProposal(proposal({ eligible: Array.from({ length: votesLimits.eligibleMax + 1 }, (_, i) => `m${String(i).padStart(6, '0')}`) }))).toBe('too-many-eligible')
    expect(validateProposal({ ...proposal(), id: 'x'.repeat(votesLimits.idLengthMax + 1) })).toBe('malformed')
    expect(validateProposal(null)).toBe('malformed')
    const votes = new GossipVotes()
    expect(votes.addProposal(proposal())).toBe('added')
    expect(votes.addProposal(proposal())).toBe('duplicate')
    expect(votes.addProposal(proposal({ deadlineMs: 99 }))).toBe('conflict')
  })

  it('mergeVotes refuses votes filed under the wrong voter, proposal or slot, and non-eligible voters', () => {
    const votes = new GossipVotes()
    votes.addProposal(proposal())
    const remote = new Map<string, VoterRecord>([
      ['m1', { approve: vote('m2', true) }],
      ['m3', { approve: vote('m3', false) }],
      ['m4', { reject: { ...vote('m4', false), proposal: 'other' } }],
      ['x', { approve: vote('x', true) }],
      ['m5', { approve: vote('m5', true) }]
    ])
    expect(votes.mergeVotes('p1', remote)).toBe(4)
    expect(votes.outcome('p1', 0)).toMatchObject({ approvals: 1, rejections: 0 })
    expect(votes.refusalCounts()).toEqual({ malformed: 1, 'not-eligible': 1, 'wrong-proposal': 2 })
    expect(votes.mergeVotes('nope', remote)).toBe(1)
  })

  it('forgets proposals past their deadline plus the retention', () => {
    const votes = new GossipVotes()
    votes.addProposal(proposal())
    votes.addProposal(proposal({ id: 'p2', deadlineMs: 50_000 }))
    expect(votes.forget(20_000, 5_000)).toEqual(['p1'])
    expect(votes.proposal('p1')).toBeUndefined()
    expect(votes.proposal('p2')).toBeDefined()
  })
})
