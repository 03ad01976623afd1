/**
 * Validators hold direct links to every other validator, whatever --max-peers says, and re-dial them
 * when they drop. 4 validators from `mesh testnet` + 1 observer, real processes on 127.0.0.1, every
 * node with `--min-peers 1 --max-peers 1` (the smallest budget config.ts allows): without the pinned
 * links a validator would stop at its seed. Then kill -9 of a validator and a restart on the same data
 * dir (same PeerId) and listen address, bootstrapped from the observer only (nobody gets a new
 * --bootstrap pointing at it): every link to it comes back, in both directions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { Cluster, waitUntil } from './harness.js'
import type { NodeProcess, TestnetNode } from './harness.js'

interface ConsensusValidators { validators: Array<{ peerId: string, name: string, connected: boolean, self: boolean }> }

const budget = ['--min-peers', '1', '--max-peers', '1']

describe('validators keep direct links to every validator beyond --max-peers', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const validators: NodeProcess[] = []
  const testnet: TestnetNode[] = []
  let observer: NodeProcess

  async function consensus (node: NodeProcess): Promise<ConsensusValidators> {
    const res = await fetch(`${node.api}/v1/consensus`, { signal: AbortSignal.timeout(5_000) })
    if (!res.ok) throw new Error(`consensus of ${node.name}: HTTP ${res.status}`)
    return await res.json() as ConsensusValidators
  }

  async function waitAllLinked (nodes: NodeProcess[], timeoutMs = 60_000): Promise<void> {
    for (const node of nodes) {
      await waitUntil(`${node.name} connected to every validator`, timeoutMs, async () => {
        const c = await consensus(node)
        return c.validators.length === 4 && c.validators.every(v => v.connected) ? true : undefined
      })
    }
  }

  beforeAll(async () => {
    testnet.push(...cluster.testnet(4))
    // flags (OS-chosen ports, the peer budget) override the testnet's config files; validator-1 is the seed
    const first = testnet[0] as TestnetNode
    validators.push(await cluster.start(first.name, { dataDir: first.dataDir, extraArgs: ['--config', first.config, ...budget] }))
    const seed = validators[0]?.runtime.multiaddrs[0] as string
    validators.push(...await Promise.all(testnet.slice(1).map(async n =>
      await cluster.start(n.name, { dataDir: n.dataDir, bootstrap: [seed], extraArgs: ['--config', n.config, ...budget] }))))
    observer = await cluster.start('observer', { bootstrap: [seed], extraArgs: ['--genesis', join(first.dataDir, 'genesis.json'), ...budget] })
  })

  afterAll(async () => {
    await cluster.stopAll()
  })

  it('every validator is connected to all the others although --max-peers is 1', async () => {
    await waitAllLinked(validators)
    for (const node of validators) {
      const status = await cluster.status(node)
      expect(status.connectedPeers, `${node.name} peers`).toBeGreaterThanOrEqual(3)
      const others = validators.filter(v => v !== node).map(v => v.runtime.peerId)
      const connected = new Set(status.members.filter(m => m.connected).map(m => m.peerId))
      for (const peerId of others) expect(connected.has(peerId), `${node.name} → ${peerId}`).toBe(true)
    }
    // the observer is no validator: it pins nothing
    expect(cluster.log(observer)).not.toMatch(/holding direct links/)
    for (const node of validators) expect(cluster.log(node)).toMatch(/holding direct links to 3 validator\(s\)/)
  })

  it('kill -9 of a validator and a restart on the same data dir: the links come back both ways', async () => {
    const victim = validators[2] as NodeProcess
    const victimId = victim.runtime.peerId
    const victimName = (testnet[2] as TestnetNode).name
    const listen = (victim.runtime.multiaddrs[0] as string).replace(`/p2p/${victimId}`, '')
    const survivors = validators.filter(v => v !== victim)
    cluster.kill(victim, 'SIGKILL')
    await cluster.waitExit(victim)
    for (const node of survivors) {
      await waitUntil(`${node.name} to notice the link to ${victimName} is gone`, 30_000, async () =>
        (await consensus(node)).validators.find(v => v.peerId === victimId)?.connected === false ? true : undefined)
    }
    // long enough for several failed re-dials (250 ms, 500 ms, 1 s, …): the log must still say it once
    await new Promise(resolve => setTimeout(resolve, 3_000))

    // same data dir (same PeerId) and address; its only seed is the observer
    const restarted = await cluster.start(victim.name, {
      dataDir: victim.dataDir,
      listen: [listen],
      bootstrap: [observer.runtime.multiaddrs[0] as string],
      extraArgs: ['--config', (testnet[2] as TestnetNode).config, ...budget]
    })
    expect(restarted.runtime.peerId).toBe(victimId)
    validators[2] = restarted

    // survivors → restarted, and restarted → every survivor
    await waitAllLinked([...survivors, restarted])
    for (const node of survivors) {
      const c = await consensus(node)
      expect(c.validators.find(v => v.peerId === victimId)?.connected, `${node.name} → ${victimName}`).toBe(true)
    }
    const back = await consensus(restarted)
    for (const node of survivors) {
      expect(back.validators.find(v => v.peerId === node.runtime.peerId)?.connected, `${victimName} → ${node.name}`).toBe(true)
    }

    // one line per drop, one when it is back: no line per failed dial
    for (const node of survivors) {
      const log = cluster.log(node)
      const lost = log.split('\n').filter(line => line.includes(`validator ${victimName} (`) && line.includes('link lost'))
      const regained = log.split('\n').filter(line => line.includes(`validator ${victimName} (`) && line.includes('link back'))
      // on failure, show every line of this node's log about the victim
      const about = log.split('\n').filter(line => line.includes(victimName) || line.includes(victimId.slice(-6))).join('\n')
      expect(lost, `${node.name} log:\n${about}`).toHaveLength(1)
      expect(regained, `${node.name} log:\n${about}`).toHaveLength(1)
    }
  })
})
