/**
 * Issue 9, part 1, as a new user ran it: `mesh testnet --nodes 4`, 20 writes spread over the nodes,
 * kill -9 of the primary, 40 more writes through the other three (they change view and commit them),
 * restart of the old primary on its data dir with --bootstrap to a live node, then ONLY reads.
 * The restarted replica must learn the current view and every batch it missed from its peers alone
 * (STATUS beacons, FETCH-LOG / LOG-ENTRY), say while it is behind, and serve every acknowledged write.
 * The same for an observer that was down meanwhile (it catches up by resubscribing).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { api, Cluster, sleep, waitUntil } from './harness.js'
import type { NodeProcess, TestnetNode } from './harness.js'
import type { NodeStatus } from '../../src/runtime/mesh-node.js'

interface ConsensusView {
  view: number
  primary: string
  active: boolean
  lastExecuted: number
  highestKnown: number | null
  behind: number
  catchingUp: boolean
  frames: { received: Record<string, number>, sent: Record<string, number> }
}

describe('a restarted validator catches up while the mesh is idle (real processes)', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  let testnet: TestnetNode[] = []
  const validators: NodeProcess[] = []
  let observer: NodeProcess
  const acknowledged = new Map<string, string>()

  const consensus = async (node: NodeProcess): Promise<ConsensusView> => (await api<ConsensusView>(node, 'GET', '/v1/consensus')).body

  async function put (node: NodeProcess, key: string, value: string): Promise<void> {
    const res = await api<{ seq: number, error?: string }>(node, 'PUT', `/v1/memory/c/${key}`, { value })
    if (res.status !== 200) throw new Error(`put ${key} via ${node.name}: ${res.status} ${res.body.error ?? ''}`)
    acknowledged.set(key, value)
  }

  beforeAll(async () => {
    testnet = cluster.testnet(4)
    const first = testnet[0] as TestnetNode
    validators.push(await cluster.start(first.name, { dataDir: first.dataDir, extraArgs: ['--config', first.config] }))
    const seed = validators[0]?.runtime.multiaddrs[0] as string
    validators.push(...await Promise.all(testnet.slice(1).map(async n =>
      await cluster.start(n.name, { dataDir: n.dataDir, bootstrap: [seed], extraArgs: ['--config', n.config] }))))
    observer = await cluster.start('observer', { bootstrap: [seed], extraArgs: ['--genesis', join(first.dataDir, 'genesis.json')] })
    for (const node of validators) {
      await waitUntil(`${node.name} connected to all validators`, 60_000, async () => {
        const c = await api<{ validators: Array<{ connected: boolean }> }>(node, 'GET', '/v1/consensus')
        return c.body.validators.every(v => v.connected) ? true : undefined
      })
    }
  })

  afterAll(async () => {
    await cluster.stopAll()
  })

  it('kill -9 the primary, 40 writes without it, restart it, no writes after: it reaches the others and serves every write', async () => {
    // 20 writes spread over the 4 validators
    for (let i = 0; i < 20; i++) await put(validators[i % 4] as NodeProcess, `a${i}`, `v${i}`)
    // let the mesh go idle first, as the user's did: every validator at the same sequence, and their
    // short retransmission tail (3 periods of retransmit_ms) over, so nothing is in flight at the kill
    const settled = await waitUntil('the 4 validators to agree on lastExecuted', 30_000, async () => {
      const all = await Promise.all(validators.map(consensus))
      return all.every(c => c.lastExecuted === all[0]?.lastExecuted) ? all : undefined
    })
    await sleep(5_000)
    expect((await Promise.all(validators.map(consensus))).map(c => c.lastExecuted)).toEqual(settled.map(c => c.lastExecuted))
    const primaryId = (await consensus(validators[0] as NodeProcess)).primary
    const primaryIndex = validators.findIndex(v => v.runtime.peerId === primaryId)
    expect(primaryIndex).toBeGreaterThanOrEqual(0)
    const primary = validators[primaryIndex] as NodeProcess
    const others = validators.filter(v => v !== primary)
    // the observer goes down too, and comes back with no writes after it
    cluster.kill(observer, 'SIGKILL')
    cluster.kill(primary, 'SIGKILL')
    await cluster.waitExit(primary)
    await cluster.waitExit(observer)

    // 40 more writes through the other three: they change view and commit every one
    for (let i = 0; i < 40; i++) await put(others[i % 3] as NodeProcess, `b${i}`, `w${i}`)
    const after = await Promise.all(others.map(consensus))
    expect(after.every(c => c.view >= 1 && c.active)).toBe(true)
    const target = Math.max(...after.map(c => c.lastExecuted))
    const view = after[0]?.view as number
    // idle again before the restart (the user found the primary, restarted it by hand): the others'
    // retransmission tail is over, so nothing they send would carry a backlog to the restarted node
    await sleep(6_000)

    // restart the old primary on its data dir, bootstrapping from a live node; from here on only reads
    const spec = testnet.find(t => t.name === primary.name) as TestnetNode
    const restarted = await cluster.start(primary.name, { dataDir: spec.dataDir, bootstrap: [others[0]?.runtime.multiaddrs[0] as string], extraArgs: ['--config', spec.config] })

    // the restarted replica says it is behind while it is (it may already be caught up by the time we look)
    const first = await consensus(restarted)
    expect(first.lastExecuted).toBeLessThanOrEqual(target)
    if (first.lastExecuted < target && first.highestKnown != null && first.highestKnown > first.lastExecuted) {
      expect(first.catchingUp).toBe(true)
      expect(first.behind).toBe(first.highestKnown - first.lastExecuted)
    }

    // with no client traffic at all, it reaches the others' lastExecuted and joins their view
    const caughtUp = await waitUntil(`${restarted.name} to reach seq ${target} in view ${view}`, 60_000, async () => {
      const c = await consensus(restarted)
      return c.lastExecuted >= target && c.view === view && c.active ? c : undefined
    })
    console.log(`restarted ${restarted.name}: caught up to ${caughtUp.lastExecuted} in view ${caughtUp.view}; frames ${JSON.stringify(caughtUp.frames)}`)
    expect(caughtUp.primary).toBe(after[0]?.primary)
    expect(caughtUp.primary).not.toBe(restarted.runtime.peerId) // no longer names itself primary
    expect(caughtUp.catchingUp).toBe(false)
    expect(caughtUp.behind).toBe(0)
    // it learned that from its peers' frames: STATUS beacons and the batches it fetched
    expect(caughtUp.frames.received.status ?? 0).toBeGreaterThan(0)
    expect(caughtUp.frames.received['log-entry'] ?? 0, JSON.stringify(caughtUp.frames)).toBeGreaterThan(0)
    expect(caughtUp.frames.sent['fetch-log'] ?? 0).toBeGreaterThan(0)
    // no write was issued since the restart: the others are where they were
    const othersNow = await Promise.all(others.map(consensus))
    expect(othersNow.every(c => c.lastExecuted === target)).toBe(true)

    // local reads on the restarted node serve every acknowledged write, with the sequence they reflect
    for (const [key, value] of acknowledged) {
      const res = await api<{ value?: string, lastApplied: number }>(restarted, 'GET', `/v1/memory/c/${key}`)
      expect(res.status, key).toBe(200)
      expect(res.body.value, key).toBe(value)
      expect(res.body.lastApplied).toBeGreaterThanOrEqual(target)
    }
    // mesh status says where its log stands
    const status = (await api<NodeStatus>(restarted, 'GET', '/v1/status')).body
    expect(status.consensus).toMatchObject({ role: 'validator', lastExecuted: target, behind: 0, catchingUp: false })

    // the observer that was down catches up too, with no writes
    const back = await cluster.start('observer', { dataDir: observer.dataDir, bootstrap: [others[0]?.runtime.multiaddrs[0] as string], extraArgs: ['--genesis', join(testnet[0]?.dataDir as string, 'genesis.json')] })
    await waitUntil(`observer to reach seq ${target}`, 60_000, async () => {
      const c = await consensus(back)
      return c.lastExecuted >= target ? c : undefined
    })
    const observed = await api<{ value?: string }>(back, 'GET', '/v1/memory/c/b39')
    expect(observed.body.value).toBe('w39')
  })
})
