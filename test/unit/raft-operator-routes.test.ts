/**
 * The Raft operator routes (membership changes, leadership transfer) map the runtime's answers to HTTP
 * once: 421 naming the leader, 409 refused, 503 no quorum, 400 malformed PeerId, 409 on pBFT.
 */
import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { consensusRoutes } from '../../src/api/consensus-routes.js'
import { HttpError } from '../../src/api/server.js'
import { NotLeaderError, OperatorError } from '../../src/runtime/consensus/raft.js'
import { NoQuorumError } from '../../src/runtime/consensus/client-request-id.js'
import type { Consensus, ConsensusStatus, MembershipChangeRequest } from '../../src/runtime/consensus/types.js'

const peer = async (): Promise<string> => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

function fake (mode: 'raft' | 'pbft', change: (c: MembershipChangeRequest) => Promise<{ index: number }>): { consensus: Consensus, calls: MembershipChangeRequest[] } {
  const calls: MembershipChangeRequest[] = []
  const status = { mode, primary: 'L', raft: { term: 3, members: [{ peerId: 'a', role: 'voter' }, { peerId: 'b', role: 'learner' }] } } as unknown as ConsensusStatus
  const consensus = {
    mode,
    status: () => status,
    ...(mode === 'raft'
      ? {
          changeMembership: async (c: MembershipChangeRequest) => { calls.push(c); return await change(c) },
          transferLeadership: async () => {},
          mostUpToDateVoter: () => null
        }
      : {})
  } as unknown as Consensus
  return { consensus, calls }
}

async function call (consensus: Consensus, method: string, path: string, body?: unknown): Promise<{ code: number, body: unknown }> {
  const route = consensusRoutes(() => consensus, () => null)
  try {
    return await route(method, new URL(`http://x${path}`), body) ?? { code: 404, body: null }
  } catch (err) {
    if (err instanceof HttpError) return { code: err.code, body: { error: err.message } }
    throw err
  }
}

describe('Raft operator routes', () => {
  it('add, promote, remove call the runtime with the validated PeerId and answer the membership in force', async () => {
    const id = await peer()
    const { consensus, calls } = fake('raft', async () => ({ index: 7 }))
    expect(await call(consensus, 'POST', '/v1/consensus/members', { peerId: id })).toEqual({ code: 200, body: { ok: true, change: 'add-learner', peerId: id, index: 7, voters: ['a'], learners: ['b'] } })
    expect((await call(consensus, 'POST', `/v1/consensus/members/${id}/promote`)).code).toBe(200)
    expect((await call(consensus, 'DELETE', `/v1/consensus/members/${id}`)).code).toBe(200)
    expect(calls.map(c => c.type)).toEqual(['add-learner', 'promote', 'remove'])
  })

  it('refuses a malformed PeerId with 400 before the runtime sees it', async () => {
    const { consensus, calls } = fake('raft', async () => ({ index: 1 }))
    expect((await call(consensus, 'POST', '/v1/consensus/members', { peerId: 'node-4' })).code).toBe(400)
    expect((await call(consensus, 'POST', '/v1/consensus/members', {})).code).toBe(400)
    expect((await call(consensus, 'POST', '/v1/consensus/transfer', { to: 42 })).code).toBe(400)
    expect(calls).toHaveLength(0)
  })

  it('maps not-the-leader to 421 with the leader, a refusal to 409, no quorum to 503', async () => {
    const id = await peer()
    const notLeader = fake('raft', async () => { throw new NotLeaderError('not the leader', 'L') }).consensus
    expect(await call(notLeader, 'POST', '/v1/consensus/members', { peerId: id })).toEqual({ code: 421, body: { error: 'not the leader', leader: 'L' } })
    const refused = fake('raft', async () => { throw new OperatorError('busy') }).consensus
    expect((await call(refused, 'DELETE', `/v1/consensus/members/${id}`)).code).toBe(409)
    const noQuorum = fake('raft', async () => { throw new NoQuorumError('read-only: no quorum') }).consensus
    expect((await call(noQuorum, 'POST', `/v1/consensus/members/${id}/promote`)).code).toBe(503)
  })

  it('transfer without --to and no voter to hand to is refused (409)', async () => {
    const { consensus } = fake('raft', async () => ({ index: 1 }))
    expect((await call(consensus, 'POST', '/v1/consensus/transfer', {})).code).toBe(409)
  })

  it('on pBFT answers 409 saying membership changes need a Raft genesis', async () => {
    const { consensus } = fake('pbft', async () => ({ index: 1 }))
    const answer = await call(consensus, 'POST', '/v1/consensus/members', { peerId: await peer() })
    expect(answer.code).toBe(409)
    expect((answer.body as { error: string }).error).toContain('need a Raft genesis')
  })
})
