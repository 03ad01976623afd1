/**
 * [mdns] LAN discovery across hosts (issue 14): four network namespaces on one bridge (test/e2e/netns.ts),
 * each node with one private address and NO --bootstrap.
 * - lan-a and lan-b (the same --network, mDNS by default: every listen address is private) become
 *   members of each other through mDNS alone;
 * - other (another --network, --mdns on) and keyed (the same --network as a and b but a private
 *   network with its own --psk-file) are on the same bridge the whole time and never join a or b, nor
 *   a or b them, including well after a and b found each other (several mDNS query rounds of 10 s).
 * No timing assertions: generous deadlines only.
 *
 * Each host gets a multicast route (224.0.0.0/4 via its eth0), as a LAN host's default route would give.
 * Needs root and iproute2; otherwise skipped with the reason printed. Every node is killed by PID and
 * every namespace deleted, also when a step fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { Cluster, meshBin, sleep } from './harness.js'
import type { NodeProcess } from './harness.js'
import { NetnsLab, ip, netnsUnavailableReason } from './netns.js'
import type { Host } from './netns.js'
import type { NodeStatus } from '../../src/runtime/mesh-node.js'

const unavailable = netnsUnavailableReason()
if (unavailable != null) console.warn(`[mdns-netns.test] SKIPPED mDNS namespace tests: ${unavailable}`)

const p2pPort = 4747
const apiPort = 4748
const title = 'mDNS on one LAN: members with no --bootstrap; other networks never mix' + (unavailable != null ? ` (skipped: ${unavailable})` : '')

describe.skipIf(unavailable != null)(title, () => {
  let lab: NetnsLab | undefined
  let cluster: Cluster | undefined
  const hostOf = new Map<string, Host>()
  const t0 = Date.now()
  const step = (text: string): void => { console.log(`[mdns-netns.test +${((Date.now() - t0) / 1000).toFixed(1)} s] ${text}`) }

  beforeAll(async () => {
    cluster = new Cluster({ network: `lan${process.pid % 100000}` })
    lab = new NetnsLab(`md${process.pid % 100000}`)
    const hosts = lab.create(4)
    for (const [i, name] of ['lan-a', 'lan-b', 'other', 'keyed'].entries()) hostOf.set(name, hosts[i] as Host)
    // A LAN host has a default route; these have only their /24. multicast-dns sends through the
    // interface the routing table picks for 224.0.0.251, so give them a multicast route (without one
    // every send fails and nothing is discovered).
    for (const host of hosts) ip('-n', host.ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0')
    step(`hosts ${hosts.map(h => `${h.ns}=${h.address}`).join(' ')} (files in ${cluster.root})`)
  })

  afterAll(async () => {
    try {
      if (cluster != null) await cluster.stopAll()
    } finally {
      if (lab != null) await lab.destroy()
    }
  })

  async function start (name: string, env: Record<string, string>, extraArgs: string[] = []): Promise<NodeProcess> {
    const host = hostOf.get(name) as Host
    const c = cluster as Cluster
    return await c.start(name, {
      listen: [`/ip4/${host.address}/tcp/${p2pPort}`],
      api: `127.0.0.1:${apiPort}`,
      wrap: (lab as NetnsLab).wrap(host),
      apiUrl: await (lab as NetnsLab).startApiRelay(host, apiPort, c.root),
      env,
      extraArgs
    })
  }

  const memberIds = (status: NodeStatus): string[] => status.members.map(m => m.peerId)

  it('two nodes find each other by mDNS alone; a node of another network and one with another key never join', async () => {
    const c = cluster as Cluster
    // MESH_MDNS empty: the default decision (private listen addresses ⇒ on); the harness sets it off otherwise
    const a = await start('lan-a', { MESH_MDNS: '' })
    const b = await start('lan-b', { MESH_MDNS: '' })
    const other = await start('other', { MESH_MDNS: '' }, ['--network', `${c.network}-other`, '--mdns', 'on'])
    const keyFile = join(c.root, 'keyed.swarm.key')
    execFileSync(process.execPath, [meshBin, 'psk', 'generate', '--out', keyFile])
    const keyed = await start('keyed', { MESH_MDNS: '' }, ['--psk-file', keyFile])
    const ids = Object.fromEntries([a, b, other, keyed].map(n => [n.name, n.runtime.peerId]))

    const statusA = await c.status(a)
    expect(statusA.mdns?.enabled, JSON.stringify(statusA.mdns)).toBe(true)
    expect(statusA.mdns?.reason).toMatch(/default/)
    const tags = await Promise.all([a, b, other, keyed].map(async n => (await c.status(n)).mdns?.serviceTag))
    step(`mDNS service names: ${tags.join(' ')}`)
    expect(tags[0]).toBe(tags[1])
    expect(new Set(tags).size).toBe(3)

    await c.waitForStatus(a, 'lan-b alive, found by mDNS', s => s.members.some(m => m.peerId === ids['lan-b'] && m.state === 'alive'), 60_000)
    await c.waitForStatus(b, 'lan-a alive, found by mDNS', s => s.members.some(m => m.peerId === ids['lan-a'] && m.state === 'alive'), 60_000)
    step('lan-a and lan-b are members of each other')

    // several mDNS query rounds (every 10 s) later, still nobody else
    await sleep(25_000)
    for (const node of [a, b]) {
      const s = await c.status(node)
      expect(memberIds(s).sort(), `${node.name} members`).toEqual([ids['lan-a'], ids['lan-b']].sort())
      const peers = await c.status(node).then(x => x.connectedPeers)
      expect(peers, `${node.name} connected peers`).toBe(1)
    }
    for (const node of [other, keyed]) {
      const s = await c.status(node)
      expect(memberIds(s), `${node.name} members`).toEqual([ids[node.name]])
      expect(s.connectedPeers, `${node.name} connected peers`).toBe(0)
    }
    // all four were up and answering mDNS the whole time
    for (const node of [a, b, other, keyed]) expect(node.child.exitCode, node.name).toBeNull()
    step('after 25 s more: other and keyed never joined')
  })
})
