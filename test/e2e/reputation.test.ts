/**
 * Reputation-based peer selection with real processes on 127.0.0.1.
 * (o) A peer that sent only two bad records: its score is negative but above the ban, so gossipsub
 *     (application-specific score = its reputation) prunes it from every honest mesh while it stays
 *     connected.
 * (i) A rogue libp2p peer (test/e2e/rogue-peer.ts: a host built like a mesh node's, no membership)
 *     connects to 3 honest nodes and keeps publishing state records with a bad signature, and keeps
 *     re-dialing. Every honest node ends with it scored low and banned (GET /v1/reputation), out of its
 *     gossipsub mesh, and disconnected — and it stays out while it keeps dialing. Honest members keep
 *     neutral scores and stay connected. After a restart (SIGTERM: the file is written at stop) a node
 *     still knows the rogue is banned (reputation.json in the data dir).
 * (ii) Tasks: a Raft network of 3 validators; the submitter cannot run "work", two workers can — one
 *     whose handler always succeeds, one whose handler fails on odd inputs. 40 tasks submitted one
 *     after another (so every auction sees idle bidders and the bids differ in past performance, CPU
 *     and reputation only): the flaky worker ends with fewer tasks, a lower reputation and lower past
 *     performance on the submitter.
 * No timing thresholds: only outcomes, with generous deadlines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { spawnSync } from 'node:child_process'
import { api, Cluster, meshBin, waitUntil } from './harness.js'
import type { NodeProcess } from './harness.js'
import { RoguePeer } from './rogue-peer.js'
import type { ReputationView } from '../../src/api/reputation-routes.js'
import type { MemberView } from '../../src/runtime/mesh-node.js'

const reputationOf = async (node: NodeProcess): Promise<ReputationView> => (await api<ReputationView>(node, 'GET', '/v1/reputation')).body

describe('a rogue peer that keeps sending invalid records', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const honest: NodeProcess[] = []
  let rogue: RoguePeer | undefined

  beforeAll(async () => {
    const seed = await cluster.start('honest-1')
    honest.push(seed)
    for (const name of ['honest-2', 'honest-3']) honest.push(await cluster.start(name, { bootstrap: [seed.runtime.multiaddrs[0] as string] }))
    for (const node of honest) await cluster.waitForStatus(node, '3 alive members', s => s.members.filter(m => m.state === 'alive').length === 3)
  }, 120_000)

  afterAll(async () => {
    await rogue?.stop()
    await cluster.stopAll()
  })

  it('a peer that sent a few bad records is pruned from the gossip mesh (gossipsub P5 < 0) but stays connected', async () => {
    const mild = await RoguePeer.start(cluster.network, honest.map(n => n.runtime.multiaddrs[0] as string), { publish: false })
    try {
      // its gossipsub grafts it into honest meshes while it behaves
      await waitUntil('the peer to be in some honest node\'s gossip mesh', 60_000, async () => {
        for (const node of honest) if ((await reputationOf(node)).gossipMesh.includes(mild.peerId)) return true
        return undefined
      })
      await mild.publishBad()
      await mild.publishBad()
      for (const node of honest) {
        const peer = await waitUntil(`${node.name}: the peer scored, out of the gossip mesh, still connected`, 60_000, async () => {
          const v = await reputationOf(node)
          const p = v.peers.find(x => x.peerId === mild.peerId)
          return p != null && p.reasons.some(r => r.reason === 'rejected:bad-signature') && !v.gossipMesh.includes(mild.peerId) &&
            p.gossipScore != null && p.gossipScore < 0 ? p : undefined
        })
        expect(peer.banned).toBe(false)
        expect(peer.connected).toBe(true)
        expect(peer.score).toBeLessThan(0)
        expect(peer.score).toBeGreaterThan(-50)
      }
    } finally {
      await mild.stop()
    }
  }, 180_000)

  it('ends low-scored, banned, out of every honest gossip mesh and disconnected; honest members unaffected', async () => {
    rogue = await RoguePeer.start(cluster.network, honest.map(n => n.runtime.multiaddrs[0] as string))
    const r = rogue
    for (const node of honest) {
      const view = await waitUntil(`${node.name}: the rogue banned and disconnected`, 60_000, async () => {
        const v = await reputationOf(node)
        const peer = v.peers.find(p => p.peerId === r.peerId)
        return peer != null && peer.banned && !peer.connected && !v.gossipMesh.includes(r.peerId) ? v : undefined
      })
      const peer = view.peers.find(p => p.peerId === r.peerId)
      expect(peer?.score).toBeLessThanOrEqual(view.policy.banScore)
      expect(peer?.reasons[0]?.reason).toBe('rejected:bad-signature')
      expect(peer?.inGossipMesh).toBe(false)
      // it is no member: its records never verified
      expect((await cluster.status(node)).members.some(m => m.peerId === r.peerId)).toBe(false)
    }
    // it keeps dialing every node; none lets it back in
    // (judged from the honest side: the rogue's own dial may look open for the moment it takes the
    // honest node's connection gater to refuse it after the handshake)
    const connectedToRogue = async (node: NodeProcess): Promise<boolean> =>
      (await api<{ connections: Array<{ peerId: string }> }>(node, 'GET', '/v1/peers')).body.connections.some(c => c.peerId === r.peerId)
    const attempts = r.stats.dialAttempts
    await waitUntil('the rogue to re-dial every node 4 more times, never let in', 60_000, async () => {
      for (const node of honest) expect(await connectedToRogue(node), `${node.name} let the rogue back in`).toBe(false)
      return r.stats.dialAttempts >= attempts + 4 * honest.length ? true : undefined
    })
    // every honest node still sees the others alive and connected, with a score far from a ban, in /v1/members too
    for (const node of honest) {
      const members = (await api<{ members: Array<{ peerId: string, self: boolean, state: string, connected: boolean, reputation: MemberView['reputation'] }> }>(node, 'GET', '/v1/members')).body.members
      for (const m of members.filter(x => !x.self)) {
        expect(m.state).toBe('alive')
        expect(m.reputation?.banned).toBe(false)
        expect(m.reputation?.score).toBeGreaterThan(-20)
      }
      expect(members.find(m => m.self)?.reputation).toBeNull()
    }
    // the CLI shows the same: `mesh reputation` (every scored peer) and the REP column of `mesh peers`
    const node = honest[0] as NodeProcess
    const cli = (args: string[]): string => {
      const run = spawnSync(process.execPath, [meshBin, ...args, '--data-dir', node.dataDir], { encoding: 'utf8' })
      expect(run.status, run.stderr).toBe(0)
      return run.stdout
    }
    const table = cli(['reputation'])
    expect(table).toMatch(/SCORE\s+BANNED\s+CONN\s+MESH/)
    expect(table.split('\n').find(line => line.includes(r.peerId.slice(-6)))).toMatch(/-\d+(\.\d)?\s+yes\s+no\s+no\s.*rejected:bad-signature/)
    const json = JSON.parse(cli(['reputation', '--json'])) as ReputationView
    expect(json.peers.find(p => p.peerId === r.peerId)?.banned).toBe(true)
    expect(cli(['peers'])).toMatch(/\bREP\b/)
  }, 180_000)

  it('a restarted node still knows the rogue is banned (reputation.json) and refuses it', async () => {
    const r = rogue as RoguePeer
    const node = honest[2] as NodeProcess
    cluster.kill(node, 'SIGTERM')
    expect((await cluster.waitExit(node, 15_000)).code).toBe(0)
    const saved = JSON.parse(readFileSync(join(node.dataDir, 'reputation.json'), 'utf8')) as { version: number, reasons: Record<string, Record<string, number>> }
    expect(saved.version).toBe(1)
    expect(saved.reasons[r.peerId]?.['rejected:bad-signature']).toBeGreaterThan(0)
    const restarted = await cluster.start(node.name, { dataDir: node.dataDir, bootstrap: [honest[0]?.runtime.multiaddrs[0] as string] })
    honest[2] = restarted
    const view = await reputationOf(restarted)
    expect(view.peers.find(p => p.peerId === r.peerId)?.banned).toBe(true)
    await cluster.waitForStatus(restarted, '3 alive members again', s => s.members.filter(m => m.state === 'alive').length === 3)
    // the rogue dials its new address too (its list is fixed: the old port is gone, so dial the new one by hand)
    await r.libp2p.dial(multiaddr(restarted.runtime.multiaddrs[0] as string), { signal: AbortSignal.timeout(10_000) }).then(() => undefined, () => undefined)
    const connections = (await api<{ connections: Array<{ peerId: string }> }>(restarted, 'GET', '/v1/peers')).body.connections
    expect(connections.some(c => c.peerId === r.peerId)).toBe(false)
    expect((await reputationOf(restarted)).peers.find(p => p.peerId === r.peerId)?.connected).toBe(false)
  }, 120_000)
})

describe('a worker whose handler fails half its tasks', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const nodes: NodeProcess[] = []

  beforeAll(async () => {
    const testnet = cluster.testnet(3, { consensus: 'raft' })
    // external commands reading the payload ({"n": k}) on stdin: "good" echoes it, "flaky" fails on odd k
    writeFileSync(join(cluster.root, 'good.mjs'), 'let s = ""; process.stdin.on("data", d => { s += d }); process.stdin.on("end", () => { process.stdout.write(s) })\n')
    writeFileSync(join(cluster.root, 'flaky.mjs'), 'let s = ""; process.stdin.on("data", d => { s += d }); process.stdin.on("end", () => { if (JSON.parse(s).n % 2 === 1) { process.stderr.write("odd input"); process.exit(1) } process.stdout.write(s) })\n')
    const scripts = [null, 'good.mjs', 'flaky.mjs']
    let seed = ''
    for (const [i, v] of testnet.entries()) {
      const script = scripts[i]
      if (script != null) {
        const config = JSON.parse(readFileSync(v.config, 'utf8')) as object
        writeFileSync(v.config, JSON.stringify({ ...config, handlers: { work: { command: [process.execPath, join(cluster.root, script)], timeout_ms: 30_000 } } }))
      }
      // no load shedding: placement alone decides who runs what
      const args = ['--config', v.config, '--capabilities', script == null ? 'none' : 'work', '--max-concurrent', '2', '--load-shedding', 'none']
      nodes.push(await cluster.start(v.name, { dataDir: v.dataDir, bootstrap: seed !== '' ? [seed] : [], extraArgs: args }))
      if (i === 0) seed = nodes[0]?.runtime.multiaddrs[0] as string
    }
    for (const node of nodes) await cluster.waitForStatus(node, '3 alive members', s => s.members.filter(m => m.state === 'alive').length === 3)
    for (const node of nodes) {
      await waitUntil(`${node.name}: a Raft leader known and active`, 60_000, async () => {
        const c = (await api<{ active: boolean, primary: string | null }>(node, 'GET', '/v1/consensus')).body
        return c.active && c.primary != null ? true : undefined
      })
    }
  }, 180_000)

  afterAll(async () => { await cluster.stopAll() })

  it('gets fewer tasks than a healthy one, and a lower reputation', async () => {
    const [submitter, good, flaky] = nodes as [NodeProcess, NodeProcess, NodeProcess]
    const assigned = new Map<string, number>()
    const failedOn = new Map<string, number>()
    for (let n = 0; n < 40; n++) {
      const res = await api<{ id: string, error?: string }>(submitter, 'POST', '/v1/tasks', { capabilities: ['work'], payload: { n }, strategy: 'auction', timeoutMs: 30_000 })
      expect(res.status, res.body.error).toBe(202)
      const done = await waitUntil(`task ${n} to end`, 60_000, async () => {
        const t = (await api<{ state: string, assignee: string | null }>(submitter, 'GET', `/v1/tasks/${res.body.id}`)).body
        return t.state === 'completed' || t.state === 'failed' ? t : undefined
      }, 100)
      const who = done.assignee ?? 'none'
      assigned.set(who, (assigned.get(who) ?? 0) + 1)
      if (done.state === 'failed') failedOn.set(who, (failedOn.get(who) ?? 0) + 1)
    }
    const goodCount = assigned.get(good.runtime.peerId) ?? 0
    const flakyCount = assigned.get(flaky.runtime.peerId) ?? 0
    console.log(`tasks: healthy worker ${goodCount}, flaky worker ${flakyCount} (failed ${failedOn.get(flaky.runtime.peerId) ?? 0}), other ${40 - goodCount - flakyCount}`)
    expect(goodCount + flakyCount).toBe(40)
    expect(failedOn.get(good.runtime.peerId) ?? 0).toBe(0)
    expect(goodCount).toBeGreaterThan(flakyCount)
    // the submitter's view: the flaky worker's reputation and past performance are the lower ones
    const members = (await cluster.status(submitter)).members
    const score = (peerId: string): number => members.find(m => m.peerId === peerId)?.reputation?.score ?? Number.NaN
    expect(score(flaky.runtime.peerId)).toBeLessThan(score(good.runtime.peerId))
    const auctions = (await api<{ node: { recentAuctions: Array<{ bids: Array<{ peerId: string, performance?: number }> }> } }>(submitter, 'GET', '/v1/tasks?limit=1')).body.node.recentAuctions
    const last = auctions[auctions.length - 1]?.bids ?? []
    const performance = (peerId: string): number => last.find(b => b.peerId === peerId)?.performance ?? Number.NaN
    expect(performance(flaky.runtime.peerId)).toBeLessThan(performance(good.runtime.peerId))
  }, 300_000)
})
