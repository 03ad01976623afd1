/**
 * Plain reads never go back across a restart (src/runtime/consensus/read-floor.ts). Found by the
 * 30-minute chaos run: after a `kill -9` and restart, a node answered plain reads from the prefix it
 * had rebuilt so far — an observer from nothing, a Raft follower from before the leader told it the
 * commit index again — so a client that had read at lastApplied 14 read at lastApplied 0 a moment later.
 *
 * Raft, 3 members + 1 observer, real processes. Both the observer and a follower answer a plain read,
 * are killed with SIGKILL and restarted alone (no --bootstrap: they cannot catch up): each must refuse
 * plain reads (503, saying why) rather than answer from an older prefix; restarted again with a
 * bootstrap address, each answers at no older prefix than before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { api, Cluster, waitUntil } from './harness.js'
import type { NodeProcess, TestnetNode } from './harness.js'

interface RaftView { raft: { leader: string | null, role: string } }
interface ReadAnswer { value?: string, lastApplied?: number, error?: string }

describe('plain reads after a kill -9 restart never show an older prefix (real processes, Raft)', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  let testnet: TestnetNode[] = []
  const members: NodeProcess[] = []
  let observer: NodeProcess
  let genesis = ''

  beforeAll(async () => {
    testnet = cluster.testnet(3, { consensus: 'raft' })
    const first = testnet[0] as TestnetNode
    genesis = join(first.dataDir, 'genesis.json')
    members.push(await cluster.start(first.name, { dataDir: first.dataDir, extraArgs: ['--config', first.config] }))
    const seed = members[0]?.runtime.multiaddrs[0] as string
    members.push(...await Promise.all(testnet.slice(1).map(async n =>
      await cluster.start(n.name, { dataDir: n.dataDir, bootstrap: [seed], extraArgs: ['--config', n.config] }))))
    observer = await cluster.start('observer', { bootstrap: [seed], extraArgs: ['--genesis', genesis] })
    for (const node of [...members, observer]) {
      await cluster.waitForStatus(node, '4 alive members', s => s.members.filter(m => m.state === 'alive').length === 4)
    }
  })

  afterAll(async () => {
    await cluster.stopAll()
  })

  it('a restarted observer and follower refuse to answer from an older prefix, then answer at least where they were', async () => {
    const leaderId = await waitUntil('a Raft leader', 30_000, async () => {
      const view = (await api<RaftView>(members[0] as NodeProcess, 'GET', '/v1/consensus')).body
      return view.raft.leader ?? undefined
    })
    const leader = members.find(m => m.runtime.peerId === leaderId) as NodeProcess
    const follower = members.find(m => m !== leader) as NodeProcess
    const others = members.filter(m => m !== follower)
    for (let i = 0; i < 12; i++) {
      const res = await api<{ seq?: number, error?: string }>(leader, 'PUT', `/v1/memory/f/k${i}`, { value: `v${i}` })
      expect(res.status, res.body.error).toBe(200)
    }
    // each answers a plain read of the last write: the prefix it shows (≥ that write's) is its floor now
    const before = new Map<NodeProcess, number>()
    for (const node of [observer, follower]) {
      const answer = await waitUntil(`${node.name} to apply the 12 writes`, 30_000, async () => {
        const res = await api<ReadAnswer>(node, 'GET', '/v1/memory/f/k11')
        return res.status === 200 && res.body.value === 'v11' ? res.body : undefined
      })
      before.set(node, answer.lastApplied as number)
    }

    for (const node of [observer, follower]) {
      const floor = before.get(node) as number
      cluster.kill(node, 'SIGKILL')
      await cluster.waitExit(node)
      const spec = testnet.find(t => t.name === node.name)
      const args = spec != null ? ['--config', spec.config] : ['--genesis', genesis]
      // alone: no bootstrap, so it cannot learn the decisions it had (an observer keeps none on disk; a
      // Raft follower has the entries but not the commit index)
      const alone = await cluster.start(node.name, { dataDir: node.dataDir, extraArgs: args })
      const refused = await api<ReadAnswer>(alone, 'GET', '/v1/memory/f/k11')
      console.log(`${node.name} restarted alone: ${refused.status} ${JSON.stringify(refused.body)}`)
      if (refused.status === 503) {
        expect(refused.body.error).toMatch(/restarted.*catching up/)
      } else {
        // it may have had the whole prefix on disk already; then it must show at least as much
        expect(refused.body.lastApplied ?? -1).toBeGreaterThanOrEqual(floor)
      }
      const namespaces = await api<ReadAnswer>(alone, 'GET', '/v1/memory')
      expect(namespaces.status === 503 || (namespaces.body.lastApplied ?? -1) >= floor, JSON.stringify(namespaces.body)).toBe(true)
      cluster.kill(alone, 'SIGKILL')
      await cluster.waitExit(alone)

      // back with a bootstrap address: it catches up and answers at no older prefix than before
      const back = await cluster.start(node.name, { dataDir: node.dataDir, bootstrap: [others[0]?.runtime.multiaddrs[0] as string], extraArgs: args })
      const answer = await waitUntil(`${node.name} to answer again`, 60_000, async () => {
        const res = await api<ReadAnswer>(back, 'GET', '/v1/memory/f/k11')
        if (res.status === 503) return undefined
        return res.body
      })
      expect(answer.value).toBe('v11')
      expect(answer.lastApplied).toBeGreaterThanOrEqual(floor)
      // what it keeps in its data dir: the highest prefix it answered at
      const kept = JSON.parse(readFileSync(join(node.dataDir, 'read-floor.json'), 'utf8')) as { lastApplied: number }
      expect(kept.lastApplied).toBeGreaterThanOrEqual(answer.lastApplied as number)
    }
  })
})
