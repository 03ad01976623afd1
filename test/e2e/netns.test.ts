/**
 * Multi-host end-to-end test: five real nodes, each in its own network namespace (its own host with
 * one private address on a bridged segment), joined only through the seed's multiaddr.
 *
 * Scenario: all 5 see 5 alive ⇒ kill -9 one ⇒ the other 4 mark it failed ⇒ restart it on the same
 * data dir ⇒ same PeerId, alive again everywhere ⇒ SIGTERM another ⇒ left, never failed ⇒ restart it
 * (5 alive) ⇒ unplug one host's cable at the switch ⇒ it reports partitioned/read-only and sees the
 * others not alive while the 4 others see it suspect/failed and are not partitioned ⇒ plug it back ⇒
 * all 5 see 5 alive and nobody is partitioned.
 *
 * Needs root and iproute2; otherwise the suite is skipped and the reason printed.
 * Only addresses inside namespaces created here are used, plus 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { Cluster, waitUntil } from './harness.js'
import type { NodeProcess } from './harness.js'
import { NetnsLab, netnsUnavailableReason } from './netns.js'
import type { Host } from './netns.js'
import type { NodeStatus } from '../../src/runtime/mesh-node.js'

const unavailable = netnsUnavailableReason()
if (unavailable != null) console.warn(`[netns.test] SKIPPED multi-host namespace tests: ${unavailable}`)

/** Fixed ports are fine: every host has its own network stack. */
const p2pPort = 4747
const apiPort = 4748
const hostCount = 5
const waitMs = 90_000

const title = 'multi-host mesh: one network namespace per node' + (unavailable != null ? ` (skipped: ${unavailable})` : '')

describe.skipIf(unavailable != null)(title, () => {
  let lab: NetnsLab
  let cluster: Cluster
  let hosts: Host[] = []
  const apiUrls = new Map<string, string>()
  /** Node name → its host. */
  const hostOf = new Map<string, Host>()
  const peerIds = new Map<string, string>()
  let seedAddress = ''
  const names = ['seed', 'n1', 'n2', 'n3', 'n4']
  const t0 = Date.now()
  const step = (text: string): void => { console.log(`[netns.test +${((Date.now() - t0) / 1000).toFixed(1)} s] ${text}`) }

  async function startNode (name: string): Promise<NodeProcess> {
    const host = hostOf.get(name)
    if (host == null) throw new Error(`no host for ${name}`)
    const node = await cluster.start(name, {
      listen: [`/ip4/${host.address}/tcp/${p2pPort}`],
      api: `127.0.0.1:${apiPort}`,
      wrap: lab.wrap(host),
      apiUrl: apiUrls.get(name),
      ...(name === 'seed' ? {} : { bootstrap: [seedAddress] })
    })
    const known = peerIds.get(name)
    if (known == null) peerIds.set(name, node.runtime.peerId)
    return node
  }

  const live = (): NodeProcess[] => cluster.nodes.filter(n => n.child.exitCode == null && n.child.signalCode == null)
  const idOf = (name: string): string => {
    const id = peerIds.get(name)
    if (id == null) throw new Error(`no PeerId for ${name}`)
    return id
  }
  const stateOf = (status: NodeStatus, peerId: string): string | undefined => status.members.find(m => m.peerId === peerId)?.state
  const allAlive = (status: NodeStatus): boolean =>
    names.every(n => stateOf(status, idOf(n)) === 'alive') && status.counts.alive === hostCount &&
    status.counts.suspect === 0 && status.counts.failed === 0 && !status.partitioned && status.mode === 'read-write'

  async function waitAllSeeAllAlive (description: string): Promise<void> {
    await Promise.all(live().map(async node => await cluster.waitForStatus(node, description, allAlive, waitMs)))
  }

  beforeAll(async () => {
    cluster = new Cluster()
    lab = new NetnsLab()
    hosts = lab.create(hostCount)
    for (const [i, name] of names.entries()) {
      const host = hosts[i] as Host
      hostOf.set(name, host)
      apiUrls.set(name, await lab.startApiRelay(host, apiPort, cluster.root))
    }
    step(`created ${hosts.length} hosts: ${hosts.map(h => `${h.ns}=${h.address}`).join(' ')} (files in ${cluster.root})`)
  })

  afterAll(async () => {
    try {
      if (cluster != null) await cluster.stopAll()
    } finally {
      if (lab != null) await lab.destroy()
    }
  })

  it('a seed and 4 nodes joined only through the seed\'s multiaddr: all 5 see 5 alive members', async () => {
    const seed = await startNode('seed')
    const seedHost = hostOf.get('seed') as Host
    const address = seed.runtime.multiaddrs.find(a => a.startsWith(`/ip4/${seedHost.address}/tcp/`))
    expect(address, `seed multiaddrs: ${seed.runtime.multiaddrs.join(' ')}`).toBeDefined()
    seedAddress = address as string
    // Every advertised address is inside the namespaces (no loopback, no root-namespace address).
    expect(seed.runtime.multiaddrs.every(a => a.startsWith(`/ip4/${lab.subnet}.`))).toBe(true)
    await Promise.all(names.slice(1).map(async name => await startNode(name)))
    await waitAllSeeAllAlive('sees all 5 members alive')
    for (const node of cluster.nodes) {
      const status = await cluster.status(node)
      expect(status.peerId).toBe(idOf(node.name))
      expect(status.multiaddrs.every(a => a.startsWith(`/ip4/${hostOf.get(node.name)?.address ?? '?'}/tcp/${p2pPort}/`))).toBe(true)
    }
    step('all 5 see 5 alive')
  })

  it('kill -9 one node ⇒ the other 4 mark it failed', async () => {
    const victim = cluster.node('n2')
    cluster.kill(victim, 'SIGKILL')
    expect((await cluster.waitExit(victim)).signal).toBe('SIGKILL')
    const others = live()
    expect(others).toHaveLength(4)
    await Promise.all(others.map(async node => await cluster.waitForMemberState(node, idOf('n2'), 'failed', waitMs)))
    step('the other 4 see n2 failed')
  })

  it('restart it on the same data dir ⇒ same PeerId, alive again everywhere', async () => {
    const old = cluster.node('n2')
    // kill -9 left its runtime.json behind: remove it, so the harness waits for the new process's own
    // (with `wrap` it accepts a runtime.json of any PID)
    rmSync(join(old.dataDir, 'runtime.json'), { force: true })
    const restarted = await startNode('n2')
    expect(restarted.runtime.peerId).toBe(idOf('n2'))
    expect(restarted.runtime.incarnation).toBeGreaterThan(1)
    await waitAllSeeAllAlive('sees all 5 alive after the restart of n2')
    for (const node of cluster.nodes) {
      const member = (await cluster.status(node)).members.find(m => m.peerId === idOf('n2'))
      expect(member?.incarnation, `${node.name}'s view of n2`).toBe(restarted.runtime.incarnation)
    }
    step('n2 restarted with the same PeerId; all 5 alive')
  })

  it('SIGTERM another ⇒ the others see it left, never failed', async () => {
    const leaver = cluster.node('n3')
    const leaverId = idOf('n3')
    cluster.kill(leaver, 'SIGTERM')
    const observers = live().filter(n => n.name !== 'n3')
    const sawFailed = new Set<string>()
    await Promise.all(observers.map(async node => await cluster.waitForStatus(node, 'sees n3 left', status => {
      const state = stateOf(status, leaverId)
      if (state === 'failed') sawFailed.add(node.name)
      return state === 'left'
    }, waitMs)))
    expect((await cluster.waitExit(leaver)).code).toBe(0)
    expect([...sawFailed], 'observers that saw n3 failed').toEqual([])
    // and no observer ever logged a transition of n3 to failed (its logs hold every member change)
    const shortId = `…${leaverId.slice(-8)}`
    for (const node of observers) {
      const failedLines = cluster.log(node).split('\n').filter(line => line.includes(`(${shortId})`) && / → failed /.test(line))
      expect(failedLines, `${node.name} log`).toEqual([])
    }
    step('n3 left gracefully; nobody marked it failed')
  })

  it('restart the leaver ⇒ alive again, 5 alive everywhere', async () => {
    const restarted = await startNode('n3')
    expect(restarted.runtime.peerId).toBe(idOf('n3'))
    await waitAllSeeAllAlive('sees all 5 alive after n3 rejoined')
    step('n3 rejoined; all 5 alive')
  })

  /** Cut one host off, check both sides see it, bring the link back and wait for the mesh to heal. */
  async function partitionAndHeal (name: string, side: 'switch' | 'host'): Promise<void> {
    const cut = cluster.node(name)
    const cutId = idOf(name)
    const cutHost = hostOf.get(name) as Host
    const majority = live().filter(n => n.name !== name)
    expect(majority).toHaveLength(4)
    const majorityIds = majority.map(n => idOf(n.name))
    const notAlive = (state: string | undefined): boolean => state === 'suspect' || state === 'failed'

    lab.linkDown(cutHost, side)
    step(`link of ${cutHost.ns} (${name}) down at the ${side}`)
    try {
      await Promise.all([
        cluster.waitForStatus(cut, 'is partitioned, read-only, and sees none of the 4 others alive', status =>
          status.partitioned && status.mode === 'read-only' && majorityIds.every(id => notAlive(stateOf(status, id))), waitMs),
        ...majority.map(async node => await cluster.waitForStatus(node, `sees ${name} suspect or failed, the other 3 alive, and is not partitioned`, status =>
          notAlive(stateOf(status, cutId)) && majorityIds.every(id => stateOf(status, id) === 'alive') &&
          !status.partitioned && status.mode === 'read-write', waitMs))
      ])
      step('partition seen by both sides')
      // Once the majority has declared the host failed, it is still not partitioned (4 of 5 reachable).
      await Promise.all(majority.map(async node => await cluster.waitForMemberState(node, cutId, 'failed', waitMs)))
      for (const node of majority) {
        const status = await cluster.status(node)
        expect(status.partitioned, `${node.name} partitioned`).toBe(false)
        expect(status.mode).toBe('read-write')
        expect(status.reachable, `${node.name} reachable`).toBe(4)
        expect(status.known, `${node.name} known`).toBe(5)
      }
      const cutStatus = await cluster.status(cut)
      expect(cutStatus.partitioned).toBe(true)
      expect(cutStatus.mode).toBe('read-only')
      expect(cutStatus.reachable).toBe(1)
      step(`majority sees ${name} failed; ${name} still partitioned`)
    } finally {
      lab.linkUp(cutHost, side)
    }
    step(`link of ${cutHost.ns} (${name}) up`)
    await waitAllSeeAllAlive(`sees all 5 alive after the link of ${name} came back`)
    step('healed: all 5 see 5 alive, nobody partitioned')
  }

  it('one host\'s cable pulled at the switch ⇒ both sides see it, the minority reports partitioned; plugged back ⇒ heals to all alive', async () => {
    await partitionAndHeal('n4', 'switch')
  })

  it('one host\'s own link set down ⇒ both sides see it, the minority reports partitioned; link up ⇒ heals to all alive', async () => {
    await partitionAndHeal('n1', 'host')
  })

  it('every node\'s process is still running (no crash during the scenario)', async () => {
    expect(live().map(n => n.name).sort()).toEqual([...names].sort())
    // sanity: the API relays answer for every host
    await waitUntil('every node answers', 10_000, async () => (await Promise.all(live().map(async n => await cluster.status(n)))).length === hostCount ? true : undefined)
  })
})
