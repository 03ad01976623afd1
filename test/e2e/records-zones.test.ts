/**
 * [zones] Task records over zones with real processes (issue 14): 6 nodes on 127.0.0.1 in 3 zones (2
 * each, `--zone`), joined through a seed, no genesis. Every record put through any node lands on 3
 * members of 3 distinct zones: the XOR-closest member of each of the 3 zones (recomputed here
 * independently: BigInt XOR of sha256 ids). kill -9 of both nodes of one zone loses no record: every
 * survivor still reads every value, and the repair rounds put 3 copies back on the survivors, over both
 * remaining zones. Zones also show in /v1/status, the members and /v1/topology.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { api, Cluster, waitUntil } from './harness.js'
import type { NodeProcess } from './harness.js'

interface PutView { key: string, replicas: string[], acked: string[], error?: string }
interface RecordView { value: unknown, local: boolean, error?: string }

const kadId = (bytes: Uint8Array): bigint => BigInt(`0x${createHash('sha256').update(bytes).digest('hex')}`)

/** The XOR-closest member of each of the first 3 zones met in XOR order (independent of src/core/zones.ts). */
function zoneReplicas (taskId: string, members: Array<{ peerId: string, zone: string }>): string[] {
  const key = kadId(new TextEncoder().encode(`/mesh-task/${taskId}`))
  const sorted = members
    .map(m => ({ ...m, d: kadId(peerIdFromString(m.peerId).toMultihash().bytes) ^ key }))
    .sort((a, b) => (a.d < b.d ? -1 : a.d > b.d ? 1 : 0))
  const out: string[] = []
  const zones = new Set<string>()
  for (const m of sorted) {
    if (out.length === 3) break
    if (zones.has(m.zone)) continue
    zones.add(m.zone)
    out.push(m.peerId)
  }
  return out
}

describe('task records over 3 zones (6 processes, 2 per zone)', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const nodes: NodeProcess[] = []
  const zoneOf = new Map<string, string>()
  const dead = new Set<NodeProcess>()
  const tasks = Array.from({ length: 12 }, (_, i) => `z${i}`)
  const valueOf = (taskId: string): unknown => ({ task: taskId, data: `payload of ${taskId}` })
  const alive = (): NodeProcess[] => nodes.filter(n => !dead.has(n))

  async function holders (taskId: string): Promise<string[]> {
    const answers = await Promise.all(alive().map(async node => ({ node, res: await api<RecordView>(node, 'GET', `/v1/records/payload/${taskId}?local=1`) })))
    return answers.filter(a => a.res.status === 200).map(a => a.node.runtime.peerId).sort()
  }

  beforeAll(async () => {
    const plan: Array<[string, string]> = [['seed', 'a'], ['n1', 'a'], ['n2', 'b'], ['n3', 'b'], ['n4', 'c'], ['n5', 'c']]
    const seed = await cluster.start('seed', { extraArgs: ['--zone', 'a'] })
    nodes.push(seed)
    const seedAddress = seed.runtime.multiaddrs[0] as string
    nodes.push(...await Promise.all(plan.slice(1).map(async ([name, zone]) => await cluster.start(name, { bootstrap: [seedAddress], extraArgs: ['--zone', zone] }))))
    for (const [i, [, zone]] of plan.entries()) zoneOf.set((nodes[i] as NodeProcess).runtime.peerId, zone)
    // every node knows every member alive, with its zone
    for (const node of nodes) {
      await cluster.waitForStatus(node, '6 alive members with their zones', s => s.members.length === 6 &&
        s.members.every(m => m.state === 'alive' && m.zone === zoneOf.get(m.peerId)), 90_000)
    }
  }, 180_000)

  afterAll(async () => {
    await cluster.stopAll()
  })

  it('zones show in status, members and the topology snapshot', async () => {
    const node = nodes[2] as NodeProcess
    const status = await cluster.status(node)
    expect(status.zone).toBe('b')
    expect(status.mdns?.enabled).toBe(false)
    const topology = await api<{ nodes: Array<{ id: string, zone: string | null }> }>(node, 'GET', '/v1/topology')
    expect(topology.status).toBe(200)
    for (const n of topology.body.nodes) expect(n.zone, n.id).toBe(zoneOf.get(n.id))
  }, 30_000)

  it('each record lands on 3 members of 3 distinct zones: the XOR-closest of each', async () => {
    const members = nodes.map(n => ({ peerId: n.runtime.peerId, zone: zoneOf.get(n.runtime.peerId) as string }))
    for (const [i, taskId] of tasks.entries()) {
      const writer = nodes[i % nodes.length] as NodeProcess
      const expected = zoneReplicas(taskId, members)
      expect(new Set(expected.map(p => zoneOf.get(p))).size).toBe(3)
      const put = await api<PutView>(writer, 'PUT', `/v1/records/payload/${taskId}`, { value: valueOf(taskId) })
      expect(put.status, put.body.error).toBe(201)
      expect([...put.body.replicas].sort(), taskId).toEqual([...expected].sort())
    }
    for (const taskId of tasks) {
      const expected = [...zoneReplicas(taskId, members)].sort()
      await waitUntil(`${taskId} held by its 3 zone replicas`, 20_000, async () =>
        JSON.stringify(await holders(taskId)) === JSON.stringify(expected) ? true : undefined)
    }
  }, 120_000)

  it('kill -9 of both nodes of one zone loses no record; the survivors hold 3 copies again over both remaining zones', async () => {
    const victims = nodes.filter(n => zoneOf.get(n.runtime.peerId) === 'b')
    expect(victims).toHaveLength(2)
    for (const v of victims) {
      cluster.kill(v, 'SIGKILL')
      dead.add(v)
    }
    for (const v of victims) expect((await cluster.waitExit(v)).signal).toBe('SIGKILL')
    // every survivor reads every record (from whichever holder is left)
    for (const node of alive()) {
      for (const taskId of tasks) {
        const read = await api<RecordView>(node, 'GET', `/v1/records/payload/${taskId}`)
        expect(read.status, `${node.name} ${taskId}: ${read.body.error ?? ''}`).toBe(200)
        expect(read.body.value).toEqual(valueOf(taskId))
      }
    }
    // once the survivors declare the victims failed, repair rounds restore 3 copies, both zones covered
    const victimIds = new Set(victims.map(v => v.runtime.peerId))
    for (const node of alive()) {
      await cluster.waitForStatus(node, 'zone b failed', s => s.members.filter(m => victimIds.has(m.peerId)).every(m => m.state === 'failed'), 60_000)
    }
    for (const taskId of tasks) {
      const held = await waitUntil(`${taskId}: 3 copies on the survivors`, 60_000, async () => {
        const h = await holders(taskId)
        return h.length === 3 ? h : undefined
      })
      expect(new Set(held.map(p => zoneOf.get(p)))).toEqual(new Set(['a', 'c']))
    }
  }, 240_000)
})
