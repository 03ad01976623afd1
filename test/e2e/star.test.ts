/**
 * A star start at scale: 24 node processes all bootstrap from one seed at the same moment. Stock
 * libp2p settings fail here (per-host connection rate limits, gossipsub's IP-colocation penalty on one
 * address, a seed that answers late); this checks that the mesh still forms, with every node seeing
 * every member alive over a sparse graph (--max-peers 6). CPU-bound on a
 * 2-core machine (70-250 s seen, depending on what else runs): generous deadline, node default timings.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { Cluster, waitUntil } from './harness.js'
import type { NodeProcess } from './harness.js'

const nodes = 24

describe(`a star start of ${nodes} nodes`, () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 3000, failureTimeoutMs: 10000 })
  afterAll(async () => { await cluster.stopAll() })

  it('forms: every node sees every member alive', async () => {
    const seed = await cluster.start('s00')
    const seedAddress = seed.runtime.multiaddrs[0] as string
    const joiners: NodeProcess[] = await Promise.all(Array.from({ length: nodes - 1 }, async (_, i) =>
      await cluster.start(`s${String(i + 1).padStart(2, '0')}`, { bootstrap: [seedAddress] })))
    const all = [seed, ...joiners]
    const ids = new Set(all.map(n => n.runtime.peerId))
    await waitUntil(`all ${nodes} nodes to see ${nodes} alive members`, 480_000, async () => {
      const statuses = await Promise.all(all.map(async node => await cluster.status(node).catch(() => undefined)))
      return statuses.every(s => s != null && s.members.filter(m => m.state === 'alive' && ids.has(m.peerId)).length === nodes) ? true : undefined
    }, 2_000)
    for (const node of all) {
      // retried: on a loaded 2-core box one status answer can take longer than a single request's timeout
      const status = await waitUntil(`${node.name} to answer /v1/status`, 60_000, async () => await cluster.status(node), 1_000)
      expect(status.partitioned).toBe(false)
      expect(status.connectedPeers).toBeGreaterThanOrEqual(3)
      expect(node.child.exitCode).toBeNull()
    }
  }, 600_000)
})
