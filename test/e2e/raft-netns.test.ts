/**
 * A Raft leader cut off by a real partition (issue 10).
 *
 * The 3 members of `mesh testnet --nodes 3 --consensus raft`, each in its own network namespace on one
 * bridge. The leader's cable is pulled at the switch (its TCP connections stall, nothing is reset):
 * - it steps down (check-quorum: no majority heard within an election timeout) and its membership
 *   reports `partitioned` / `read-only`;
 * - the other two elect a new leader in a higher term and keep committing;
 * - on the isolated node a write answers 503 `read-only: no quorum` and a `?linearizable=1` read of a
 *   key the majority has overwritten meanwhile is refused (503), never the stale value;
 * - after the cable is back: one leader everyone agrees on, the same commit and applied index on all
 *   three, every acknowledged write on every node, the refused write on none.
 *
 * Needs root and iproute2; otherwise the suite is skipped and the reason printed.
 * Only addresses inside namespaces created here are used, plus 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, Cluster, waitUntil } from './harness.js'
import type { NodeProcess, TestnetNode } from './harness.js'
import { NetnsLab, netnsUnavailableReason } from './netns.js'
import type { Host } from './netns.js'
import type { NodeStatus } from '../../src/runtime/mesh-node.js'

const unavailable = netnsUnavailableReason()
if (unavailable != null) console.warn(`[raft-netns.test] SKIPPED multi-host namespace tests: ${unavailable}`)

/** Fixed ports are fine: every host has its own network stack. */
const p2pPort = 4747
const apiPort = 4748
const waitMs = 90_000

interface RaftView { term: number, role: string, leader: string | null, commitIndex: number, appliedIndex: number }
interface ConsensusView { mode: string, pendingClientRequests: number, raft: RaftView }
interface WriteAnswer { ok?: boolean, seq?: number, error?: string, requestId?: string }

const title = 'Raft across a partition: 3 members, one network namespace each' + (unavailable != null ? ` (skipped: ${unavailable})` : '')

describe.skipIf(unavailable != null)(title, () => {
  let lab: NetnsLab
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  let testnet: TestnetNode[] = []
  const hostOf = new Map<string, Host>()
  const apiUrls = new Map<string, string>()
  let seedAddress = ''
  /** Every write that answered 200: key → value. */
  const acknowledged = new Map<string, string>()
  const t0 = Date.now()
  const step = (text: string): void => { console.log(`[raft-netns.test +${((Date.now() - t0) / 1000).toFixed(1)} s] ${text}`) }

  async function startMember (node: TestnetNode): Promise<NodeProcess> {
    const host = hostOf.get(node.name) as Host
    return await cluster.start(node.name, {
      dataDir: node.dataDir,
      listen: [`/ip4/${host.address}/tcp/${p2pPort}`],
      api: `127.0.0.1:${apiPort}`,
      wrap: lab.wrap(host),
      apiUrl: apiUrls.get(node.name),
      extraArgs: ['--config', node.config],
      ...(seedAddress !== '' ? { bootstrap: [seedAddress] } : {})
    })
  }

  const consensus = async (node: NodeProcess): Promise<ConsensusView> => (await api<ConsensusView>(node, 'GET', '/v1/consensus', undefined, 10_000)).body
  const allAlive = (status: NodeStatus): boolean => status.counts.alive === 3 && !status.partitioned && status.mode === 'read-write'

  /** One leader that every node in `nodes` names, and that node says it leads; returns it. */
  async function agreedLeader (nodes: NodeProcess[], description: string): Promise<NodeProcess> {
    return await waitUntil(`${description}: one leader that ${nodes.map(n => n.name).join(', ')} agree on`, waitMs, async () => {
      const views = await Promise.all(nodes.map(consensus))
      const leader = views[0]?.raft.leader
      if (leader == null || !views.every(v => v.raft.leader === leader)) return undefined
      const node = nodes.find(n => n.runtime.peerId === leader)
      if (node == null) return undefined
      return views[nodes.indexOf(node)]?.raft.role === 'leader' ? node : undefined
    }, 250)
  }

  /** A write through `node` that commits (a new key per attempt, retried across an election); recorded as acknowledged. */
  async function committedWrite (node: NodeProcess, prefix: string, value = 'majority'): Promise<{ key: string, seq: number }> {
    let attempt = 0
    return await waitUntil(`a write through ${node.name} to commit`, waitMs, async () => {
      const key = `${prefix}-${attempt++}`
      const res = await api<WriteAnswer>(node, 'PUT', `/v1/memory/default/${key}`, { value }, 30_000)
      if (res.status !== 200) return undefined
      acknowledged.set(key, value)
      return { key, seq: res.body.seq as number }
    }, 500)
  }

  async function holdsEveryAcknowledgedWrite (node: NodeProcess): Promise<true | undefined> {
    for (const [key, value] of acknowledged) {
      const res = await api<{ value?: string }>(node, 'GET', `/v1/memory/default/${key}`)
      if (res.status !== 200 || res.body.value !== value) return undefined
    }
    return true
  }

  beforeAll(async () => {
    lab = new NetnsLab()
    testnet = cluster.testnet(3, { consensus: 'raft' })
    const hosts = lab.create(testnet.length)
    for (const [i, node] of testnet.entries()) {
      hostOf.set(node.name, hosts[i] as Host)
      apiUrls.set(node.name, await lab.startApiRelay(hosts[i] as Host, apiPort, cluster.root))
    }
    const seed = await startMember(testnet[0] as TestnetNode)
    const seedHost = hostOf.get(seed.name) as Host
    seedAddress = seed.runtime.multiaddrs.find(a => a.startsWith(`/ip4/${seedHost.address}/tcp/`)) ?? ''
    expect(seedAddress, `seed multiaddrs: ${seed.runtime.multiaddrs.join(' ')}`).not.toBe('')
    await Promise.all(testnet.slice(1).map(async node => await startMember(node)))
    await Promise.all(cluster.nodes.map(async node => await cluster.waitForStatus(node, '3 alive, read-write', allAlive, waitMs)))
    await agreedLeader(cluster.nodes, 'start')
    await committedWrite(seed, 'warm-up')
    step(`3 Raft members up in ${hosts.map(h => h.ns).join(' ')} (files in ${cluster.root})`)
  }, 180_000)

  afterAll(async () => {
    try {
      await cluster.stopAll()
    } finally {
      if (lab != null) await lab.destroy()
    }
  })

  it('the isolated leader steps down and refuses writes and linearizable reads; the majority elects and commits; after the heal all converge', async () => {
    const leader = await agreedLeader(cluster.nodes, 'before the cut')
    const before = (await consensus(leader)).raft
    const majority = cluster.nodes.filter(n => n !== leader)
    // a key every node holds, which the majority will overwrite while the leader is cut off
    await waitUntil('a value of "lin" committed through the leader', waitMs, async () => {
      const res = await api<WriteAnswer>(leader, 'PUT', '/v1/memory/default/lin', { value: 'old' }, 30_000)
      return res.status === 200 ? true : undefined
    })
    acknowledged.set('lin', 'old')
    await Promise.all(cluster.nodes.map(async n => await waitUntil(`${n.name} to apply lin=old`, waitMs, async () =>
      (await api<{ value?: string }>(n, 'GET', '/v1/memory/default/lin')).body.value === 'old' ? true : undefined)))

    const leaderHost = hostOf.get(leader.name) as Host
    lab.linkDown(leaderHost, 'switch')
    step(`cable of ${leader.name} (the leader, term ${before.term}) pulled at the switch`)
    let refusedKey = ''
    try {
      // check-quorum: a leader that hears from no majority for an election timeout steps down
      const stepped = await waitUntil(`${leader.name} to step down`, waitMs, async () => {
        const c = await consensus(leader)
        return c.raft.role !== 'leader' ? c.raft : undefined
      }, 100)
      step(`${leader.name} stepped down: role ${stepped.role}, term ${stepped.term}, leader ${String(stepped.leader)}`)

      // the other two elect a new leader in a higher term and keep committing
      const newLeader = await agreedLeader(majority, 'after the cut')
      const elected = (await consensus(newLeader)).raft
      expect(newLeader).not.toBe(leader)
      expect(elected.term).toBeGreaterThan(before.term)
      for (const node of majority) await committedWrite(node, `majority-${node.name}`)
      await waitUntil('the majority to overwrite "lin"', waitMs, async () => {
        const res = await api<WriteAnswer>(majority[0] as NodeProcess, 'PUT', '/v1/memory/default/lin', { value: 'new' }, 30_000)
        return res.status === 200 ? true : undefined
      })
      acknowledged.set('lin', 'new')
      step(`${newLeader.name} leads term ${elected.term}; the majority committed ${majority.length + 1} writes`)

      // the isolated node: a write is refused with 503 and never sent
      refusedKey = `refused-${process.pid}`
      const refused = await api<WriteAnswer>(leader, 'PUT', `/v1/memory/default/${refusedKey}`, { value: 'minority' }, 60_000)
      step(`write on ${leader.name}: ${refused.status} ${JSON.stringify(refused.body)}`)
      expect(refused.status).toBe(503)
      expect(refused.body.error).toMatch(/^read-only: no quorum/)
      expect(refused.body.requestId, 'a refused write was never sent, so it has no request id').toBeUndefined()
      expect((await consensus(leader)).pendingClientRequests).toBe(0)

      // a linearizable read there is refused; a plain read still answers (the local, possibly stale, copy)
      const linearizable = await api<{ value?: string, error?: string }>(leader, 'GET', '/v1/memory/default/lin?linearizable=1', undefined, 60_000)
      step(`linearizable read on ${leader.name}: ${linearizable.status} ${JSON.stringify(linearizable.body)}`)
      expect(linearizable.status, 'refused, not a stale 200').toBe(503)
      expect(linearizable.body.error).toMatch(/read-only: no quorum/)
      expect(linearizable.body.value).toBeUndefined()
      const plain = await api<{ value?: string }>(leader, 'GET', '/v1/memory/default/lin')
      expect(plain.status).toBe(200)
      expect(plain.body.value).toBe('old')
      // while the majority's linearizable read sees the new value
      const fresh = await api<{ value?: string }>(majority[1] as NodeProcess, 'GET', '/v1/memory/default/lin?linearizable=1', undefined, 60_000)
      expect(fresh.status).toBe(200)
      expect(fresh.body.value).toBe('new')

      // its membership sees the others fail: partitioned, read-only
      await cluster.waitForStatus(leader, 'reports partitioned, read-only', s => s.partitioned && s.mode === 'read-only', waitMs)
    } finally {
      lab.linkUp(leaderHost, 'switch')
    }
    step(`cable of ${leader.name} plugged back`)

    await Promise.all(cluster.nodes.map(async node => await cluster.waitForStatus(node, 'after the heal: 3 alive, read-write', allAlive, waitMs)))
    const healedLeader = await agreedLeader(cluster.nodes, 'after the heal')
    // a write through the formerly isolated node commits again
    const { seq } = await committedWrite(leader, 'healed')
    const converged = await waitUntil(`all 3 at the same commit and applied index ≥ ${seq}`, waitMs, async () => {
      const views = await Promise.all(cluster.nodes.map(async n => (await consensus(n)).raft))
      const first = views[0] as RaftView
      const same = views.every(v => v.commitIndex === first.commitIndex && v.appliedIndex === first.commitIndex && v.leader === first.leader && v.term === first.term)
      return same && first.commitIndex >= seq ? first : undefined
    }, 500)
    step(`healed: leader ${healedLeader.name}, term ${converged.term}, commit ${converged.commitIndex} on all 3`)
    for (const node of cluster.nodes) {
      expect(await holdsEveryAcknowledgedWrite(node), `${node.name} holds every acknowledged write`).toBe(true)
      const read = await api<{ value?: string }>(node, 'GET', `/v1/memory/default/${refusedKey}`)
      expect(read.status, `${node.name} reads the refused key: ${JSON.stringify(read.body)}`).toBe(404)
    }
  }, 400_000)
})
