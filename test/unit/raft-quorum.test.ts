/** Majority arithmetic of the Raft core (src/core/raft/quorum.ts), after etcd-io/raft quorum/majority_test. */
import { describe, expect, it } from 'vitest'
import { committedIndex, hasQuorum, quorumOf, voteResult } from '../../src/core/raft/quorum.js'

describe('raft quorum', () => {
  it('a majority of n', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(quorumOf)).toEqual([0, 1, 2, 2, 3, 3, 4, 4])
  })

  it('committed index: the highest index a majority acknowledged', () => {
    const acked = (m: Record<string, number>) => (id: string): number => m[id] ?? 0
    expect(committedIndex(['1'], acked({ 1: 7 }))).toBe(7)
    expect(committedIndex(['1', '2', '3'], acked({ 1: 9, 2: 5, 3: 2 }))).toBe(5)
    expect(committedIndex(['1', '2', '3'], acked({ 1: 9 }))).toBe(0)
    expect(committedIndex(['1', '2', '3', '4'], acked({ 1: 9, 2: 8, 3: 1, 4: 0 }))).toBe(1)
    expect(committedIndex(['1', '2', '3', '4', '5'], acked({ 1: 5, 2: 5, 3: 4, 4: 3, 5: 3 }))).toBe(4)
    expect(committedIndex([], acked({}))).toBe(0)
  })

  it('vote outcome: won, lost once a majority is out of reach, else pending', () => {
    const votes = (entries: Array<[string, boolean]>): Map<string, boolean> => new Map(entries)
    const voters = ['1', '2', '3', '4', '5']
    expect(voteResult(voters, votes([['1', true], ['2', true]]))).toBe('pending')
    expect(voteResult(voters, votes([['1', true], ['2', true], ['3', true]]))).toBe('won')
    expect(voteResult(voters, votes([['1', true], ['2', false], ['3', false]]))).toBe('pending')
    expect(voteResult(voters, votes([['1', true], ['2', false], ['3', false], ['4', false]]))).toBe('lost')
    expect(voteResult(['1'], votes([['1', true]]))).toBe('won')
    expect(voteResult(['1', '2'], votes([['1', true], ['2', false]]))).toBe('lost')
  })

  it('has quorum', () => {
    expect(hasQuorum(['1', '2', '3'], id => id !== '3')).toBe(true)
    expect(hasQuorum(['1', '2', '3'], id => id === '1')).toBe(false)
  })
})
