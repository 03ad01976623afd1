/**
 * Gossip votes with real node processes on 127.0.0.1, no genesis: 4 nodes form a mesh; a proposal made
 * on one names the 4 alive members; votes on 3 nodes spread by gossip and every node reaches the same
 * approved outcome; a rejection; the API's refusals (no pbft without a genesis, a changed vote); a late
 * joiner gets both proposals by anti-entropy alone (gossipsub does not replay); the CLI; and a node
 * killed with SIGKILL and restarted alone (no peers to learn from) has its proposals back from its data dir.
 * Equivocation cannot be made through the API (it signs with the node's key and refuses a changed
 * vote): it is tested at the runtime level (test/unit/gossip-votes-wire.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { api, Cluster, meshBin, startRoguePeer, waitUntil } from './harness.js'
import type { NodeProcess } from './harness.js'
import type { MeshLibp2p } from '../../bootstrap/libp2p.js'
import type { GossipProposalView } from '../../src/runtime/gossip/gossip-votes.js'
import { encodeGossip, signProposal, signVote, signingKey } from '../../protocols/votes/codec.js'
import { votesTopic } from '../../protocols/votes/constants.js'

function mesh (args: string[]): { code: number | null, stdout: string, stderr: string } {
  const result = spawnSync(process.execPath, [meshBin, ...args], { encoding: 'utf8', env: { ...process.env, MESH_DATA_DIR: '' }, timeout: 30_000 })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe('gossip votes on a 4-node mesh without a genesis', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  let nodes: NodeProcess[] = []
  let approvedId = ''
  let rejectedId = ''
  let rogue: MeshLibp2p | undefined

  const view = async (node: NodeProcess, id: string): Promise<GossipProposalView | undefined> => {
    const answer = await api<GossipProposalView>(node, 'GET', `/v1/proposals/${id}`)
    return answer.status === 200 ? answer.body : undefined
  }
  /** Until every node shows the proposal in `status` with these tallies. */
  const everyNodeSees = async (targets: NodeProcess[], id: string, status: string, approvals: number, rejections: number): Promise<void> => {
    for (const node of targets) {
      await waitUntil(`${node.name} to see ${id.slice(0, 8)} ${status} (${approvals}/${rejections})`, 30_000, async () => {
        const v = await view(node, id)
        return v != null && v.status === status && v.approvals === approvals && v.rejections === rejections ? v : undefined
      })
    }
  }

  beforeAll(async () => {
    const first = await cluster.start('n0')
    const seed = first.runtime.multiaddrs[0] as string
    nodes = [first, ...await Promise.all(['n1', 'n2', 'n3'].map(async name => await cluster.start(name, { bootstrap: [seed] })))]
    for (const node of nodes) {
      await cluster.waitForStatus(node, '4 alive members', s => s.members.length === 4 && s.members.every(m => m.state === 'alive'))
    }
  })

  afterAll(async () => {
    try { await rogue?.stop() } catch {}
    await cluster.stopAll()
  })

  it('propose on one node, vote on 3: every node reaches the same approved outcome', async () => {
    const [n0, n1, n2, n3] = nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess]
    const made = await api<GossipProposalView>(n0, 'POST', '/v1/proposals', { proposal: { action: 'scale', to: 5 }, threshold: 0.75, protocol: 'gossip', ttlSeconds: 600 })
    expect(made.status).toBe(200)
    const p = made.body
    expect(p.id).toMatch(/^[0-9a-f]{64}$/)
    expect(p).toMatchObject({ protocol: 'gossip', finality: 'eventual', status: 'open', proposer: n0.runtime.peerId, eligibleCount: 4, needed: 3, requiredApprovals: 3, approvals: 0, proposal: { action: 'scale', to: 5 } })
    expect(p.eligible).toEqual(nodes.map(n => n.runtime.peerId).sort())
    approvedId = p.id
    // every node holds it before voting (a vote for an unknown proposal would only be held)
    for (const node of nodes) await waitUntil(`${node.name} to hold the proposal`, 30_000, async () => await view(node, p.id))
    for (const node of [n1, n2, n3]) {
      const voted = await api<GossipProposalView>(node, 'POST', `/v1/proposals/${p.id}/votes`, { decision: 'approve' })
      expect(voted.status).toBe(200)
      expect(voted.body.votes).toContainEqual({ voter: node.runtime.peerId, decision: 'approve' })
    }
    await everyNodeSees(nodes, p.id, 'approved', 3, 0)
    // the same view everywhere: same votes, no evidence
    const views = await Promise.all(nodes.map(async n => await view(n, p.id) as GossipProposalView))
    for (const v of views) {
      expect(v.votes).toEqual(views[0]?.votes)
      expect(v.evidence).toEqual([])
      expect(v.equivocators).toEqual([])
    }
    // the list carries the protocol and finality
    const listed = await api<{ proposals: Array<{ id: string, protocol: string, finality: string, status: string }> }>(n2, 'GET', '/v1/proposals?status=approved')
    expect(listed.body.proposals).toContainEqual(expect.objectContaining({ id: p.id, protocol: 'gossip', finality: 'eventual', status: 'approved' }))
  })

  it('rejected once the approvals needed can no longer come; a vote cannot be changed', async () => {
    const [n0, n1, n2] = nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess]
    // no protocol on a node without a genesis: gossip is the default
    const made = await api<GossipProposalView>(n1, 'POST', '/v1/proposals', { proposal: 'drain n3', threshold: 0.75 })
    expect(made.status).toBe(200)
    expect(made.body.protocol).toBe('gossip')
    rejectedId = made.body.id
    for (const node of nodes) await waitUntil(`${node.name} to hold the proposal`, 30_000, async () => await view(node, rejectedId))
    expect((await api(n0, 'POST', `/v1/proposals/${rejectedId}/votes`, { decision: 'reject' })).status).toBe(200)
    // one reject: 3 approvals can still come (open); a second one settles it
    expect((await api<GossipProposalView>(n2, 'POST', `/v1/proposals/${rejectedId}/votes`, { decision: 'reject' })).body.rejections).toBeGreaterThanOrEqual(1)
    await everyNodeSees(nodes, rejectedId, 'rejected', 0, 2)
    // the API signs with the node's own key and never equivocates
    const changed = await api<{ error: string }>(n0, 'POST', `/v1/proposals/${rejectedId}/votes`, { decision: 'approve' })
    expect(changed.status).toBe(409)
    expect(changed.body.error).toMatch(/already voted reject/)
    // the same vote again is idempotent
    expect((await api(n0, 'POST', `/v1/proposals/${rejectedId}/votes`, { decision: 'reject' })).status).toBe(200)
  })

  it('refuses what cannot be: pbft without a genesis, bad thresholds, unknown ids', async () => {
    const n0 = nodes[0] as NodeProcess
    const pbft = await api<{ error: string }>(n0, 'POST', '/v1/proposals', { proposal: 1, protocol: 'pbft' })
    expect(pbft.status).toBe(409)
    expect(pbft.body.error).toMatch(/no genesis/)
    expect((await api(n0, 'POST', '/v1/proposals', { proposal: 1, protocol: 'gossip', threshold: 1.5 })).status).toBe(400)
    expect((await api(n0, 'POST', '/v1/proposals', { proposal: 1, protocol: 'paxos' })).status).toBe(400)
    expect((await api(n0, 'GET', `/v1/proposals/${'0'.repeat(64)}`)).status).toBe(404)
    expect((await api(n0, 'POST', `/v1/proposals/${'0'.repeat(64)}/votes`, { decision: 'approve' })).status).toBe(404)
  })

  it('a rogue libp2p peer: forged and garbage votes on the topic and by anti-entropy are refused and counted', async () => {
    const [n0, n1] = nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess]
    const rogueKey = await generateKeyPair('Ed25519')
    const key = signingKey(rogueKey)
    rogue = await startRoguePeer(cluster.network, rogueKey)
    const rogueId = rogue.peerId.toString()
    const topic = votesTopic(cluster.network)
    rogue.services.pubsub.subscribe(topic)
    await rogue.dial(multiaddr(n0.runtime.multiaddrs[0] as string))
    await waitUntil('n0 to subscribe the rogue to the votes topic', 30_000, async () =>
      rogue?.services.pubsub.getSubscribers(topic).some(p => p.toString() === n0.runtime.peerId) === true ? true : undefined)
    // 1. a reject "by n1" signed with the rogue's key (would make n1 an equivocator)
    await rogue.services.pubsub.publish(topic, encodeGossip({ vote: { ...signVote(cluster.network, approvedId, rogueId, false, key), voter: n1.runtime.peerId } }))
    // 2. the rogue's own vote: signed right, but it is not eligible
    await rogue.services.pubsub.publish(topic, encodeGossip({ vote: signVote(cluster.network, approvedId, rogueId, false, key) }))
    // 3. garbage
    await rogue.services.pubsub.publish(topic, new Uint8Array([0xff, 0x01, 0x02, 0x03]))
    // 4. anti-entropy: a digest naming a proposal n0 lacks, then a tampered proposal pushed for it
    const fields = { proposer: rogueId, eligible: [rogueId], threshold: 1, createdMs: Date.now(), deadlineMs: Date.now() + 60_000, subject: '"rogue"' }
    const tampered = { ...signProposal(cluster.network, fields, key), subject: '"tampered"' }
    rogue.services.votes.setHandlers({
      digest: () => [{ id: 'e'.repeat(64), hash: new Uint8Array(32) }],
      compare: () => ({ items: [], want: [] }),
      items: () => [{ proposal: tampered, votes: [{ ...signVote(cluster.network, approvedId, rogueId, true, key), voter: n1.runtime.peerId }] }],
      merge: () => {}
    })
    // its second forgery gets it banned by n0 (src/runtime/gossip/reputation.ts), which may hang up before
    // the exchange's last answer: the refusal counts below show the pushed items arrived
    await rogue.services.votes.exchange(peerIdFromString(n0.runtime.peerId)).catch(() => undefined)
    const stats = await waitUntil('n0 to count the refusals', 30_000, async () => {
      const res = await api<{ rejected: Record<string, number> }>(n0, 'GET', '/v1/votes/stats')
      const r = res.body.rejected
      return (r['bad-signature'] ?? 0) >= 2 && (r.undecodable ?? 0) >= 1 && (r.refused ?? 0) >= 1 ? r : undefined
    })
    expect(stats).toMatchObject({ stale: 0, future: 0 })
    // each refusal was charged to the rogue: two forged signatures, an ineligible vote and garbage end
    // in a ban (score ≤ −50 after rejected messages)
    const reputation = await api<{ peers: Array<{ peerId: string, score: number, banned: boolean, reasons: Array<{ reason: string, count: number }> }> }>(n0, 'GET', '/v1/reputation')
    const charged = reputation.body.peers.find(p => p.peerId === rogueId)
    expect(charged?.reasons.map(r => r.reason)).toContain('rejected:votes-bad-signature') // count 2: first of the top 3
    expect(charged?.banned).toBe(true)
    expect(charged?.score).toBeLessThanOrEqual(-50)
    // nothing of it took: the approved proposal is as it was, n0 still answers, the forged one is unknown
    expect(await view(n0, approvedId)).toMatchObject({ status: 'approved', approvals: 3, rejections: 0, equivocators: [] })
    expect((await api(n0, 'GET', `/v1/proposals/${'e'.repeat(64)}`)).status).toBe(404)
    await rogue.stop()
    rogue = undefined
  })

  it('a node that joins later gets both proposals and the same outcomes by anti-entropy', async () => {
    const late = await cluster.start('late', { bootstrap: [nodes[0]?.runtime.multiaddrs[0] as string] })
    await everyNodeSees([late], approvedId, 'approved', 3, 0)
    await everyNodeSees([late], rejectedId, 'rejected', 0, 2)
    // gossipsub does not replay: they came by anti-entropy
    const stats = await api<{ proposals: number, antiEntropy: { itemsReceived: number }, rejected: Record<string, number> }>(late, 'GET', '/v1/votes/stats')
    expect(stats.body.proposals).toBe(2)
    expect(stats.body.antiEntropy.itemsReceived).toBeGreaterThanOrEqual(2)
    expect(Object.values(stats.body.rejected).every(v => v === 0)).toBe(true)
    // it was not alive when they were made: not eligible
    const refused = await api<{ error: string }>(late, 'POST', `/v1/proposals/${approvedId}/votes`, { decision: 'approve' })
    expect(refused.status).toBe(403)
    cluster.kill(late, 'SIGTERM')
    await cluster.waitExit(late)
  })

  it('the CLI: mesh propose --protocol gossip, mesh vote, mesh proposals (human and --json)', () => {
    const n3 = nodes[3] as NodeProcess
    const help = mesh(['propose', '--help'])
    expect(help.stdout).toMatch(/--protocol <p>/)
    expect(help.stdout).toMatch(/eventual/)
    const proposed = mesh(['propose', '{"cli":true}', '--protocol', 'gossip', '--threshold', '0.5', '--ttl', '120', '--data-dir', n3.dataDir, '--json'])
    expect(proposed.code, proposed.stderr).toBe(0)
    const body = JSON.parse(proposed.stdout) as GossipProposalView
    // eligible: the members alive now (the late joiner's leave may not have reached n3 yet)
    expect(body).toMatchObject({ protocol: 'gossip', eligibleCount: body.eligible.length, needed: Math.ceil(0.5 * body.eligible.length) })
    expect(body.eligible).toEqual(expect.arrayContaining(nodes.map(n => n.runtime.peerId)))
    const voted = mesh(['vote', body.id.slice(0, 12), 'approve', '--data-dir', n3.dataDir])
    expect(voted.code, voted.stderr).toBe(0)
    expect(voted.stdout).toContain(`open as this node sees it (1 approve, 0 reject; needs ${body.needed} of ${body.eligibleCount})`)
    const listed = mesh(['proposals', '--data-dir', n3.dataDir])
    expect(listed.code, listed.stderr).toBe(0)
    expect(listed.stdout).toMatch(/PROTOCOL/)
    expect(listed.stdout).toMatch(new RegExp(`${approvedId.slice(0, 16)}… +gossip +eventual +approved +3 +0 +4 +3 +0`))
    const shown = mesh(['proposals', approvedId, '--data-dir', n3.dataDir])
    expect(shown.stdout).toMatch(/status +approved +3 approve, 0 reject, 1 not voted; needs 3 of 4/)
    expect(shown.stdout).toMatch(/evidence +none/)
  })

  it('a node killed with SIGKILL and restarted alone has its proposals and votes back from its data dir', async () => {
    const n3 = nodes[3] as NodeProcess
    cluster.kill(n3, 'SIGKILL')
    await cluster.waitExit(n3)
    // no bootstrap: nobody to learn them from again, so they come from gossip-votes.log
    const again = await cluster.start('n3', { dataDir: n3.dataDir })
    const approved = await view(again, approvedId)
    expect(approved).toMatchObject({ status: 'approved', approvals: 3, rejections: 0, eligibleCount: 4 })
    expect(await view(again, rejectedId)).toMatchObject({ status: 'rejected', approvals: 0, rejections: 2 })
    cluster.kill(again, 'SIGTERM')
    await cluster.waitExit(again)
  })
})
