/**
 * Raft with real processes: 3 members from `mesh testnet --consensus raft` + 1 observer on 127.0.0.1
 * (OS-chosen ports). Writes from every node (the observer's too) commit and read back everywhere;
 * kill -9 of the leader under a write load ⇒ a new leader, writes continue, no acknowledged write lost
 * on any survivor; the killed member restarts on its data dir and catches up with no client traffic;
 * kill -9 of a follower at an arbitrary point of a write load, then of all three members at once: after
 * the restarts every write that was acknowledged (by any node, the killed ones included) is there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { api, Cluster, waitUntil } from './harness.js'
import type { NodeProcess, TestnetNode } from './harness.js'

interface RaftView { term: number, role: string, leader: string | null, commitIndex: number, appliedIndex: number, members: Array<{ peerId: string, role: string, match: number | null }> }
interface ConsensusView { mode: string, lastExecuted: number, primary: string | null, raft: RaftView }

describe('Raft across 3 member processes and an observer', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const members: NodeProcess[] = []
  let observer: NodeProcess
  const acknowledged = new Map<string, string>()

  async function put (node: NodeProcess, key: string, value: string): Promise<number> {
    const res = await api<{ ok: boolean, seq: number, error?: string }>(node, 'PUT', `/v1/memory/t/${key}`, { value })
    if (res.status !== 200) throw new Error(`put ${key} via ${node.name}: ${res.status} ${res.body.error ?? ''}`)
    acknowledged.set(key, value)
    return res.body.seq
  }

  const consensus = async (node: NodeProcess): Promise<ConsensusView> => (await api<ConsensusView>(node, 'GET', '/v1/consensus')).body

  async function hasEveryWrite (node: NodeProcess): Promise<true | undefined> {
    for (const [key, value] of acknowledged) {
      const res = await api<{ value?: string }>(node, 'GET', `/v1/memory/t/${key}`)
      if (res.body.value !== value) return undefined
    }
    return true
  }

  async function leaderOf (nodes: NodeProcess[]): Promise<NodeProcess> {
    return await waitUntil('one leader that every member agrees on', 30_000, async () => {
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
  })

  afterAll(async () => {
    await cluster.stopAll()
  })

  it('shows the mode, term, leader, commit/applied and the members', async () => {
    const leader = await leaderOf(members)
    const view = await consensus(leader)
    expect(view.mode).toBe('raft')
    expect(view.raft.role).toBe('leader')
    expect(view.raft.members.filter(m => m.role === 'voter')).toHaveLength(3)
    expect(view.raft.members.every(m => m.match != null)).toBe(true)
    expect((await consensus(observer)).raft.role).toBe('observer')
  })

  it('writes from every member and from the observer commit and read back everywhere', async () => {
    for (const [i, node] of [...members, observer].entries()) await put(node, `k${i}`, `from-${node.name}`)
    for (const node of [...members, observer]) await waitUntil(`${node.name} to apply every write`, 30_000, async () => await hasEveryWrite(node))
    // a linearizable read on a follower (ReadIndex through the leader) sees the last write
    const leader = await leaderOf(members)
    const follower = members.find(n => n !== leader) as NodeProcess
    const read = await api<{ value?: string }>(follower, 'GET', '/v1/memory/t/k3?linearizable=1')
    expect(read.status).toBe(200)
    expect(read.body.value).toBe(`from-${observer.name}`)
  })

  it('kill -9 of the leader under a write load: a new leader, nothing acknowledged lost, the restarted member catches up with no client traffic', async () => {
    const leader = await leaderOf(members)
    const survivors = members.filter(n => n !== leader)
    const writers = [...survivors, observer]
    let stop = false
    let written = 0
    const failures: string[] = []
    const load = Promise.all(writers.map(async (node, w) => {
      for (let i = 0; !stop; i++) {
        const key = `load-${w}-${i}`
        const res = await api<{ ok: boolean, error?: string }>(node, 'PUT', `/v1/memory/t/${key}`, { value: `v${i}` }).catch(err => ({ status: 0, body: { ok: false, error: String(err) } }))
        if (res.status === 200) { acknowledged.set(key, `v${i}`); written++ } else failures.push(`${res.status}`)
      }
    }))
    await waitUntil('a few writes before the kill', 30_000, async () => written >= 6 ? true : undefined)
    cluster.kill(leader, 'SIGKILL')
    await cluster.waitExit(leader)
    const before = written
    await waitUntil('writes to continue after the kill', 60_000, async () => written >= before + 10 ? true : undefined)
    stop = true
    await load
    const newLeader = await leaderOf(survivors)
    expect(newLeader).not.toBe(leader)
    for (const node of [...survivors, observer]) await waitUntil(`${node.name} to hold every acknowledged write`, 30_000, async () => await hasEveryWrite(node))
    // refused writes during the election are 503 (not sent) or 504 (outcome unknown); nothing else
    expect(failures.every(f => f === '503' || f === '504' || f === '0')).toBe(true)

    const target = (await consensus(newLeader)).raft.commitIndex
    const restarted = await cluster.start(leader.name, { dataDir: leader.dataDir, bootstrap: [survivors[0]?.runtime.multiaddrs[0] as string], extraArgs: ['--config', join(leader.dataDir, 'config.json')] })
    members[members.indexOf(leader)] = restarted
    // no client traffic: heartbeats and appends alone bring it up to date
    await waitUntil(`${restarted.name} to apply up to ${target}`, 60_000, async () => (await consensus(restarted)).raft.appliedIndex >= target ? true : undefined)
    await waitUntil(`${restarted.name} to hold every acknowledged write`, 30_000, async () => await hasEveryWrite(restarted))
  })

  /** Writes through `writers` until stopped; each 200 is recorded as acknowledged. */
  function writeLoad (writers: NodeProcess[], tag: string): { written: () => number, stop: () => Promise<string[]> } {
    let stop = false
    let written = 0
    const failures: string[] = []
    const load = Promise.all(writers.map(async (node, w) => {
      for (let i = 0; !stop; i++) {
        const key = `${tag}-${w}-${i}`
        const res = await api<{ ok: boolean, error?: string }>(node, 'PUT', `/v1/memory/t/${key}`, { value: `v${i}` }, 20_000).catch(err => ({ status: 0, body: { ok: false, error: String(err) } }))
        if (res.status === 200) { acknowledged.set(key, `v${i}`); written++ } else { failures.push(`${res.status}`); await new Promise(resolve => setTimeout(resolve, 100)) }
      }
    }))
    return { written: () => written, stop: async () => { stop = true; await load; return failures } }
  }

  it('kill -9 of a follower under a write load, then of every member at once: after the restarts every acknowledged write is there', async () => {
    const leader = await leaderOf(members)
    const follower = members.find(n => n !== leader) as NodeProcess
    // writes through everyone, the follower about to die included (what it acknowledged must survive it)
    const first = writeLoad([...members, observer], 'f')
    // an arbitrary point: somewhere between 5 and 24 acknowledged writes in
    const killAt = 5 + Math.floor(Math.random() * 20)
    await waitUntil(`${killAt} writes before killing ${follower.name}`, 60_000, async () => first.written() >= killAt ? true : undefined, 20)
    cluster.kill(follower, 'SIGKILL')
    await cluster.waitExit(follower)
    const before = first.written()
    await waitUntil('writes to continue without the follower', 60_000, async () => first.written() >= before + 10 ? true : undefined)
    const failures = await first.stop()
    expect(failures.every(f => f === '503' || f === '504' || f === '0'), failures.join(' ')).toBe(true)
    const survivor = members.find(n => n !== follower) as NodeProcess
    const restarted = await cluster.start(follower.name, { dataDir: follower.dataDir, bootstrap: [survivor.runtime.multiaddrs[0] as string], extraArgs: ['--config', join(follower.dataDir, 'config.json')] })
    members[members.indexOf(follower)] = restarted
    await waitUntil(`${restarted.name} to hold every acknowledged write after its restart`, 60_000, async () => await hasEveryWrite(restarted))

    // every member at once, under load: only what reached the members' logs before an answer counts
    await leaderOf(members)
    const second = writeLoad([...members, observer], 'all')
    const killAllAt = second.written() + 5 + Math.floor(Math.random() * 20)
    await waitUntil(`${killAllAt} writes before killing every member`, 60_000, async () => second.written() >= killAllAt ? true : undefined, 20)
    const killed = [...members]
    for (const node of killed) cluster.kill(node, 'SIGKILL')
    await Promise.all(killed.map(async node => await cluster.waitExit(node)))
    await second.stop()
    const total = acknowledged.size
    for (const [i, node] of killed.entries()) {
      members[i] = await cluster.start(node.name, { dataDir: node.dataDir, bootstrap: [observer.runtime.multiaddrs[0] as string], extraArgs: ['--config', join(node.dataDir, 'config.json')] })
    }
    await leaderOf(members)
    for (const node of [...members, observer]) await waitUntil(`${node.name} to hold all ${total} acknowledged writes after every member restarted`, 60_000, async () => await hasEveryWrite(node))
  }, 300_000)
})
