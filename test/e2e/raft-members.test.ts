/**
 * Raft membership changes and leadership transfer with real processes: 3 members from `mesh testnet
 * --consensus raft` and a 4th node started with the genesis (an observer). Under a write load: the 4th
 * is added as a learner (with the CLI) and catches up, is promoted (4 voters), an original voter is
 * removed (3 voters; it goes back to observing); every acknowledged write is on every remaining member.
 * Then `mesh consensus transfer --to` moves leadership, and SIGTERM of the leader hands it over (the new
 * leader won after the leader's TIMEOUT-NOW, not after an election timeout); the stopped node restarts
 * on its data dir as the voter it was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { join } from 'node:path'
import { api, Cluster, meshBin, waitUntil } from './harness.js'
import type { NodeProcess, TestnetNode } from './harness.js'

const run = promisify(execFile)

interface RaftView {
  term: number
  role: string
  leader: string | null
  commitIndex: number
  appliedIndex: number
  lastIndex: number
  transfers: { handedOver: number, takenOver: number }
  members: Array<{ peerId: string, role: string, match: number | null }>
}
interface ConsensusView { mode: string, raft: RaftView }

describe('Raft membership changes and leadership transfer across processes', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const originals: NodeProcess[] = []
  let fourth: NodeProcess
  let seed: string
  const acknowledged = new Map<string, string>()

  const consensus = async (node: NodeProcess): Promise<RaftView> => (await api<ConsensusView>(node, 'GET', '/v1/consensus')).body.raft
  const voters = (view: RaftView): string[] => view.members.filter(m => m.role === 'voter').map(m => m.peerId).sort()

  async function hasEveryWrite (node: NodeProcess): Promise<true | undefined> {
    for (const [key, value] of acknowledged) {
      const res = await api<{ value?: string }>(node, 'GET', `/v1/memory/t/${key}`)
      if (res.body.value !== value) return undefined
    }
    return true
  }

  async function leaderOf (nodes: NodeProcess[]): Promise<NodeProcess> {
    return await waitUntil('one leader that every node agrees on', 30_000, async () => {
      const views = await Promise.all(nodes.map(consensus))
      const leader = views[0]?.leader
      if (leader == null || !views.every(v => v.leader === leader)) return undefined
      return nodes.find(n => n.runtime.peerId === leader)
    })
  }

  /** `node bin/mesh.js consensus …` against `node`'s API, as an operator would type it. */
  async function cli (node: NodeProcess, ...args: string[]): Promise<string> {
    const { stdout } = await run(process.execPath, [meshBin, 'consensus', ...args, '--api', node.api], { encoding: 'utf8', timeout: 60_000 })
    return stdout
  }

  /** Writes through `writers` until stopped; only 503 (not sent) and 504 (outcome unknown) may fail. */
  function writeLoad (writers: NodeProcess[], tag: string): { stop: () => Promise<void>, written: () => number, failures: string[] } {
    let stopped = false
    let written = 0
    const failures: string[] = []
    const done = Promise.all(writers.map(async (node, w) => {
      for (let i = 0; !stopped; i++) {
        const key = `${tag}-${w}-${i}`
        const res = await api<{ ok: boolean, error?: string }>(node, 'PUT', `/v1/memory/t/${key}`, { value: `v${i}` }).catch(err => ({ status: 0, body: { ok: false, error: String(err) } }))
        if (res.status === 200) { acknowledged.set(key, `v${i}`); written++ } else failures.push(`${res.status} ${res.body.error ?? ''}`)
      }
    }))
    return { stop: async () => { stopped = true; await done }, written: () => written, failures }
  }

  beforeAll(async () => {
    const testnet = cluster.testnet(3, { consensus: 'raft' })
    const first = testnet[0] as TestnetNode
    originals.push(await cluster.start(first.name, { dataDir: first.dataDir, extraArgs: ['--config', first.config] }))
    seed = originals[0]?.runtime.multiaddrs[0] as string
    originals.push(...await Promise.all(testnet.slice(1).map(async n =>
      await cluster.start(n.name, { dataDir: n.dataDir, bootstrap: [seed], extraArgs: ['--config', n.config] }))))
    fourth = await cluster.start('fourth', { bootstrap: [seed], extraArgs: ['--genesis', join(first.dataDir, 'genesis.json')] })
    for (const node of [...originals, fourth]) {
      await cluster.waitForStatus(node, '4 alive members', s => s.members.filter(m => m.state === 'alive').length === 4)
    }
    await leaderOf(originals)
  })

  afterAll(async () => {
    await cluster.stopAll()
  })

  it('under a write load: add a learner (CLI), it catches up, promote it, remove an original voter', async () => {
    expect((await consensus(fourth)).role).toBe('observer')
    let leader = await leaderOf(originals)
    // the voter to remove later: an original that does not lead now; writes go through the other two
    const removed = originals.find(n => n !== leader) as NodeProcess
    const writers = originals.filter(n => n !== removed)
    const load = writeLoad(writers, 'm')
    await waitUntil('a few writes before the change', 30_000, async () => load.written() >= 10 ? true : undefined)

    // a follower refuses the change and names the leader (421)
    const misdirected = await api<{ error: string, leader?: string }>(removed, 'POST', '/v1/consensus/members', { peerId: fourth.runtime.peerId })
    expect(misdirected.status).toBe(421)
    expect(misdirected.body.leader).toBe(leader.runtime.peerId)

    // add it as a learner with the CLI, by name
    const added = JSON.parse(await cli(leader, 'add', 'fourth', '--json')) as { index: number, learners: string[] }
    expect(added.learners).toEqual([fourth.runtime.peerId])
    await waitUntil('the 4th node to take part as a learner', 30_000, async () => (await consensus(fourth)).role === 'learner' ? true : undefined)
    const target = (await consensus(leader)).commitIndex
    await waitUntil(`the learner to apply up to the leader's commit ${target}`, 60_000, async () => (await consensus(fourth)).appliedIndex >= target ? true : undefined)
    // a learner does not vote: still 3 voters
    expect(voters(await consensus(leader))).toHaveLength(3)

    // promote it (refused with 409 while it is too far behind or a change is pending: retried until accepted)
    const promotedAnswer = await waitUntil('the promotion to be accepted', 30_000, async () => {
      const res = await api<{ ok?: boolean, error?: string, voters?: string[] }>(leader, 'POST', `/v1/consensus/members/${fourth.runtime.peerId}/promote`)
      if (res.status === 409 && /behind|busy/.test(res.body.error ?? '')) return undefined
      return res
    })
    expect(promotedAnswer.status).toBe(200)
    const promoted = promotedAnswer.body
    expect(promoted.voters).toHaveLength(4)
    const afterPromotion = load.written()
    await waitUntil('writes to continue with 4 voters', 60_000, async () => load.written() >= afterPromotion + 10 ? true : undefined)
    // each node's membership changes when it applies the entry: the 4th node soon sees itself a voter
    await waitUntil('the 4th node to apply its promotion', 30_000, async () => voters(await consensus(fourth)).length === 4 ? true : undefined)

    // remove an original voter (one change at a time: the promotion has applied)
    leader = await leaderOf([...writers, fourth])
    const removal = await api<{ ok?: boolean, error?: string, voters?: string[] }>(leader, 'DELETE', `/v1/consensus/members/${removed.runtime.peerId}`)
    expect(removal.status).toBe(200)
    expect(removal.body.voters).toHaveLength(3)
    expect(removal.body.voters).not.toContain(removed.runtime.peerId)
    await waitUntil('the removed voter to go back to observing', 30_000, async () => (await consensus(removed)).role === 'observer' ? true : undefined)
    const afterRemoval = load.written()
    await waitUntil('writes to continue with 3 voters', 60_000, async () => load.written() >= afterRemoval + 10 ? true : undefined)
    await load.stop()
    expect(load.failures.every(f => f.startsWith('503') || f.startsWith('504') || f.startsWith('0 '))).toBe(true)

    const remaining = [...writers, fourth]
    const expected = remaining.map(n => n.runtime.peerId).sort()
    for (const node of remaining) {
      await waitUntil(`${node.name} to apply the removal`, 30_000, async () => JSON.stringify(voters(await consensus(node))) === JSON.stringify(expected) ? true : undefined)
    }
    for (const node of [...remaining, removed]) await waitUntil(`${node.name} to hold every acknowledged write`, 60_000, async () => await hasEveryWrite(node))
    // the removed node no longer votes: writes commit without it, and it is not in anyone's voters
    expect((await consensus(removed)).role).toBe('observer')
  })

  it('mesh consensus transfer --to moves leadership; SIGTERM of the leader hands it over, and it restarts as the voter it was', async () => {
    const members = [...originals.filter(n => n.child.exitCode == null), fourth]
    const remaining = (await Promise.all(members.map(async n => ({ n, role: (await consensus(n)).role })))).filter(x => x.role !== 'observer').map(x => x.n)
    expect(remaining).toHaveLength(3)
    const leader = await leaderOf(remaining)
    // hand it to the 4th node (the member added by a change) if it does not lead, else to an original
    const to = leader !== fourth ? fourth : remaining.find(n => n !== leader) as NodeProcess
    const out = await cli(leader, 'transfer', '--to', to.runtime.peerId)
    expect(out).toContain('leadership moved to')
    expect(await leaderOf(remaining)).toBe(to)
    expect((await consensus(to)).transfers.takenOver).toBeGreaterThanOrEqual(1)

    // graceful stop of the leader: it hands over before exiting
    const others = remaining.filter(n => n !== to)
    const takenBefore = await Promise.all(others.map(async n => (await consensus(n)).transfers.takenOver))
    const termBefore = (await consensus(to)).term
    const load = writeLoad(others, 's')
    cluster.kill(to, 'SIGTERM')
    expect((await cluster.waitExit(to)).code).toBe(0)
    expect(cluster.log(to)).toContain('handed Raft leadership over to')
    const next = await leaderOf(others)
    const nextView = await consensus(next)
    // won by the transfer (TIMEOUT-NOW), not after an election timeout
    expect(nextView.transfers.takenOver).toBe((takenBefore[others.indexOf(next)] ?? 0) + 1)
    expect(nextView.term).toBe(termBefore + 1)
    await waitUntil('writes after the hand-over', 60_000, async () => load.written() >= 5 ? true : undefined)
    await load.stop()
    expect(load.failures.every(f => f.startsWith('503') || f.startsWith('504') || f.startsWith('0 '))).toBe(true)

    // restarted on its data dir, the stopped node is still a voter (membership from raft.log) and catches up
    const restarted = await cluster.start(to.name, to === fourth
      ? { dataDir: to.dataDir, bootstrap: [next.runtime.multiaddrs[0] as string], extraArgs: ['--genesis', join(originals[0]?.dataDir as string, 'genesis.json')] }
      : { dataDir: to.dataDir, bootstrap: [next.runtime.multiaddrs[0] as string], extraArgs: ['--config', join(to.dataDir, 'config.json')] })
    const target = (await consensus(next)).commitIndex
    await waitUntil(`${restarted.name} to rejoin as a voter and apply up to ${target}`, 60_000, async () => {
      const view = await consensus(restarted)
      return view.role === 'follower' && voters(view).includes(restarted.runtime.peerId) && view.appliedIndex >= target ? true : undefined
    })
    for (const node of [...others, restarted]) await waitUntil(`${node.name} to hold every acknowledged write`, 60_000, async () => await hasEveryWrite(node))
  })
})
