/**
 * [zones] The connection keeper holds a link into every other zone it knows (issue 14: redundant
 * paths), even on a budget that would not otherwise give one: 8 nodes on 127.0.0.1 in 3 zones (6 in
 * a, one in b, one in c), `--max-peers 1 --min-peers 1`, joined through a seed. Every node ends up connected to at
 * least one member of each other zone, and still is after the keeper's release delay (30 s: the seed
 * links and surplus links it lets go). No timing assertions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, Cluster, sleep, waitUntil } from './harness.js'
import type { NodeProcess } from './harness.js'

interface PeersView { connections: Array<{ peerId: string }> }

describe('keeper: a link into every other zone (8 processes, --max-peers 1)', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const nodes: NodeProcess[] = []
  const zoneOf = new Map<string, string>()
  const budget = ['--max-peers', '1', '--min-peers', '1']

  beforeAll(async () => {
    // most nodes in zone a, one each in b and c: on this budget few a-nodes would link to b or c by chance
    const plan: Array<[string, string]> = [['seed', 'a'], ['n1', 'a'], ['n2', 'a'], ['n3', 'a'], ['n4', 'a'], ['n5', 'a'], ['n6', 'b'], ['n7', 'c']]
    const seed = await cluster.start('seed', { extraArgs: ['--zone', 'a', ...budget] })
    nodes.push(seed)
    const seedAddress = seed.runtime.multiaddrs[0] as string
    nodes.push(...await Promise.all(plan.slice(1).map(async ([name, zone]) => await cluster.start(name, { bootstrap: [seedAddress], extraArgs: ['--zone', zone, ...budget] }))))
    for (const [i, [, zone]] of plan.entries()) zoneOf.set((nodes[i] as NodeProcess).runtime.peerId, zone)
    for (const node of nodes) {
      await cluster.waitForStatus(node, '8 alive members with their zones', s => s.members.length === 8 &&
        s.members.every(m => m.state === 'alive' && m.zone === zoneOf.get(m.peerId)), 90_000)
    }
  }, 300_000)

  afterAll(async () => {
    await cluster.stopAll()
  })

  /** The zones other than its own that the node has no connection into. */
  async function missingZones (node: NodeProcess): Promise<string[]> {
    const own = zoneOf.get(node.runtime.peerId)
    const peers = await api<PeersView>(node, 'GET', '/v1/peers')
    const linked = new Set(peers.body.connections.map(c => zoneOf.get(c.peerId)))
    return ['a', 'b', 'c'].filter(z => z !== own && !linked.has(z))
  }

  it('every node is linked into both other zones, and stays so past the release delay', async () => {
    for (const node of nodes) {
      await waitUntil(`${node.name} linked into every other zone`, 120_000, async () => (await missingZones(node)).length === 0 ? true : undefined)
    }
    await sleep(35_000)
    for (const node of nodes) expect(await missingZones(node), node.name).toEqual([])
  }, 300_000)
})
