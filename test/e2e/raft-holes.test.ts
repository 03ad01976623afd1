/**
 * Issue 13, found by a 30-minute Raft chaos run (seed 1314): after a partition a node's writes were all
 * refused, for good, with `503 read-only: no quorum (the member asked refused the write: invalid)`
 * (13,595 of them), and its tasks never finished (their results were refused the same way).
 *
 * The cause: the replicated client table lets a client run at most 256 request ids beyond its lowest
 * unexecuted one. A Raft node's request that is never appended (forwarded to a leader that died, or
 * refused) leaves a hole at its id; 256 requests later every further request of that node is "too far
 * ahead" and refused, until the node restarts under a new client id.
 *
 * Real processes on 127.0.0.1: 3 Raft voters and 1 observer. The leader is stopped (SIGSTOP) and a
 * write goes through the observer, which forwards it to that leader: 504, outcome unknown. The stopped
 * leader is then killed, so the write is never appended, a hole. Then 300 writes through the observer
 * must all be acknowledged (each retried while a new leader settles). On the old code write 256 and
 * every one after it was refused as `invalid`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, Cluster, waitUntil } from './harness.js'
import type { NodeProcess, TestnetNode } from './harness.js'
import { join } from 'node:path'

interface ConsensusView { raft: { leader: string | null, role: string } }

describe('Raft: a request that is never appended does not wedge its node\'s writes (issue 13, chaos seed 1314)', () => {
  const cluster = new Cluster()
  const members: NodeProcess[] = []
  let observer: NodeProcess

  async function consensus (node: NodeProcess): Promise<ConsensusView> {
    return (await api<ConsensusView>(node, 'GET', '/v1/consensus')).body
  }

  async function leaderOf (nodes: NodeProcess[]): Promise<NodeProcess> {
    return await waitUntil('one leader that every member agrees on', 60_000, async () => {
      const views = await Promise.all(nodes.map(consensus))
      const leader = views[0]?.raft.leader
      if (leader == null || !views.every(v => v.raft.leader === leader)) return undefined
      return nodes.find(n => n.runtime.peerId === leader)
    })
  }

  beforeAll(async () => {
    const testnet = cluster.testnet(3, { consensus: 'raft' })
    const first = testnet[0] as TestnetNode
    members.push(await cluster.start(first.name, { dataDir: first.dataDir, extraArgs: ['--config', first.config] }))
    const seed = members[0]?.runtime.multiaddrs[0] as string
    members.push(...await Promise.all(testnet.slice(1).map(async n =>
      await cluster.start(n.name, { dataDir: n.dataDir, bootstrap: [seed], extraArgs: ['--config', n.config] }))))
    observer = await cluster.start('observer', { bootstrap: [seed], extraArgs: ['--genesis', join(first.dataDir, 'genesis.json')] })
    for (const node of [...members, observer]) {
      await cluster.waitForStatus(node, '4 alive members', s => s.members.filter(m => m.state === 'alive').length === 4)
    }
    await leaderOf(members)
    // the observer learns the leader a moment after the members agree: until then it refuses at once (503)
    await waitUntil('a first write through the observer', 60_000, async () =>
      (await api<{ error?: string }>(observer, 'PUT', '/v1/memory/t/warm', { value: 'w' })).status === 200 ? true : undefined, 250)
  }, 180_000)

  afterAll(async () => { await cluster.stopAll() })

  it('a write forwarded to a leader that is stopped and then killed, then 300 more writes from the same node: every one acknowledged', async () => {
    const leader = await leaderOf(members)
    cluster.kill(leader, 'SIGSTOP')
    const lost = await api<{ error?: string }>(observer, 'PUT', '/v1/memory/t/lost', { value: 'never appended' })
    // the observer sent it to the stopped leader: the outcome is unknown (504), not a refusal before sending (503)
    expect(lost.status, lost.body.error).toBe(504)
    cluster.kill(leader, 'SIGKILL')
    await cluster.waitExit(leader)
    const survivors = members.filter(n => n !== leader)
    await leaderOf(survivors)

    const refusals: string[] = []
    for (let i = 0; i < 300; i++) {
      const res = await waitUntil(`write ${i} through the observer to be acknowledged`, 60_000, async () => {
        const r = await api<{ error?: string }>(observer, 'PUT', `/v1/memory/t/after-${i}`, { value: `v${i}` }).catch(err => ({ status: 0, body: { error: String(err) } }))
        if (r.status === 200) return r
        refusals.push(`write ${i}: ${r.status} ${r.body.error ?? ''}`)
        if (refusals.length > 50) throw new Error(`too many refusals; the last: ${refusals.slice(-3).join(' | ')}`)
        return undefined
      }, 250)
      expect(res.status).toBe(200)
    }
    console.log(`[raft-holes] 300 writes acknowledged after the hole; ${refusals.length} refused on the way: ${refusals.slice(0, 5).join(' | ')}`)
    // none was refused for running too far ahead of the hole
    expect(refusals.filter(r => r.includes('invalid')), 'writes refused as invalid').toEqual([])
    // the lost write never applied (it died with the stopped leader)
    const read = await api<{ value?: string }>(observer, 'GET', '/v1/memory/t/lost?linearizable=1')
    expect(read.status).toBe(404)
  }, 400_000)
})
