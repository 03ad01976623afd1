/**
 * The foundation scenario with real processes on 127.0.0.1: a seed and 4 nodes joined only through
 * the seed's multiaddr; kill -9, restart on the same data dir, graceful leave; and a rogue peer that
 * publishes garbage and forged state records.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { Cluster, startRoguePeer, waitUntil } from './harness.js'
import type { NodeProcess } from './harness.js'
import type { MeshLibp2p } from '../../bootstrap/libp2p.js'
import { sealRecord } from '../../protocols/state/codec.js'
import { stateTopic } from '../../protocols/state/constants.js'

describe('a five-node mesh on 127.0.0.1', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  let seed: NodeProcess
  const joiners: NodeProcess[] = []
  let rogue: MeshLibp2p | undefined

  beforeAll(async () => {
    seed = await cluster.start('seed')
    const seedAddress = seed.runtime.multiaddrs[0] as string
    expect(seedAddress).toMatch(new RegExp(`/p2p/${seed.runtime.peerId}$`))
    // all four join at once, each knowing only the seed
    joiners.push(...await Promise.all(['n1', 'n2', 'n3', 'n4'].map(async name => await cluster.start(name, { bootstrap: [seedAddress] }))))
  })

  afterAll(async () => {
    try { await rogue?.stop() } catch {}
    await cluster.stopAll()
  })

  const everyone = (): NodeProcess[] => [seed, ...joiners]

  it('every node sees all 5 members alive', async () => {
    for (const node of everyone()) {
      const status = await cluster.waitForStatus(node, '5 alive members', s => s.members.length === 5 && s.members.every(m => m.state === 'alive'))
      expect(status.partitioned).toBe(false)
      expect(status.mode).toBe('read-write')
      expect(status.members.find(m => m.self)?.peerId).toBe(node.runtime.peerId)
      expect(new Set(status.members.map(m => m.peerId))).toEqual(new Set(everyone().map(n => n.runtime.peerId)))
      for (const address of status.multiaddrs) expect(address).toMatch(/\/p2p\/12D3KooW/)
    }
  })

  it('a small mesh becomes a full mesh (every node connected to every other)', async () => {
    for (const node of everyone()) {
      await cluster.waitForStatus(node, 'connected to the 4 others', s => s.connectedPeers >= 4)
    }
  })

  it('kill -9 of a node ⇒ the other four mark it failed', async () => {
    const victim = joiners[0] as NodeProcess
    cluster.kill(victim, 'SIGKILL')
    await cluster.waitExit(victim)
    for (const node of everyone().filter(n => n !== victim)) {
      await cluster.waitForMemberState(node, victim.runtime.peerId, 'failed')
    }
  })

  it('restarted on the same data dir it keeps its PeerId and is alive again everywhere', async () => {
    const victim = joiners[0] as NodeProcess
    const restarted = await cluster.start(victim.name, { dataDir: victim.dataDir, bootstrap: [seed.runtime.multiaddrs[0] as string] })
    joiners[0] = restarted
    expect(restarted.runtime.peerId).toBe(victim.runtime.peerId)
    expect(restarted.runtime.incarnation).toBe(victim.runtime.incarnation + 1)
    for (const node of everyone()) {
      const member = await cluster.waitForMemberState(node, restarted.runtime.peerId, 'alive')
      expect(member.incarnation).toBe(restarted.runtime.incarnation)
    }
    // it tops up to a full mesh again: connected to each of the 4 others
    await cluster.waitForStatus(restarted, 'connected to the 4 others again', s => s.connectedPeers >= 4)
  })

  it('SIGTERM ⇒ the node exits 0 and the others mark it left, never failed', async () => {
    const leaver = joiners[1] as NodeProcess
    cluster.kill(leaver, 'SIGTERM')
    const exit = await cluster.waitExit(leaver, 5_000)
    expect(exit.code).toBe(0)
    const others = everyone().filter(n => n !== leaver)
    for (const node of others) await cluster.waitForMemberState(node, leaver.runtime.peerId, 'left')
    // Past the point where silence would have made it suspect and then failed, it is still left.
    await cluster.waitForStatus(others[0] as NodeProcess, 'a failure-timeout and a half after the leave', s => s.uptimeMs > 0 && s.members.some(m => m.peerId === leaver.runtime.peerId && m.lastSeenMs > 4_500))
    for (const node of others) {
      const status = await cluster.status(node)
      expect(status.members.find(m => m.peerId === leaver.runtime.peerId)?.state).toBe('left')
      expect(cluster.log(node)).not.toMatch(new RegExp(`member ${leaver.name} \\(…${leaver.runtime.peerId.slice(-8)}\\) [a-z]+ → (failed|suspect)`))
    }
  })

  it('garbage and forged state records from a rogue peer are rejected and counted; nobody crashes', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    rogue = await startRoguePeer(cluster.network, privateKey)
    const topic = stateTopic(cluster.network)
    rogue.services.pubsub.subscribe(topic)
    await rogue.dial(multiaddr(seed.runtime.multiaddrs[0] as string))
    await waitUntil('the seed to subscribe the rogue to the state topic', 30_000, async () =>
      rogue?.services.pubsub.getSubscribers(topic).some(p => p.toString() === seed.runtime.peerId) === true ? true : undefined)
    const before = (await cluster.status(seed)).rejected

    // The seed's reputation of the rogue falls with each rejection (too-large −10, malformed −10,
    // bad-signature −20 twice) and it bans the rogue (disconnects it) at −50: the two forgeries, the
    // heaviest, go last, so every message is read before the ban (under load the ban could otherwise
    // close the connection before a later message was read, and it would never be counted)
    // 1. over the 64 KiB limit
    await rogue.services.pubsub.publish(topic, new Uint8Array(70 * 1024).fill(7))
    // 2. bytes that are no envelope at all
    await rogue.services.pubsub.publish(topic, new Uint8Array([0xff, 0xfe, 0x01, 0x02, 0x03, 0x99, 0x42]))
    const seedId = seed.runtime.peerId
    const rogueId = peerIdFromPrivateKey(privateKey).toString()
    const record = {
      peerId: rogueId, name: 'impostor', capabilities: [], addresses: [], incarnation: 99, sequence: 99,
      load: { queued: 0, running: 0, capacity: 1, cpu: 0 }, startedAtMs: Date.now(), leaving: true
    }
    // 3. a record that claims to be another member's (its PeerId swapped in after signing with the
    // rogue's key; not the seed's own: a record about itself the seed drops unverified, as stale)
    const victimId = (everyone().find(n => n.runtime.peerId !== seedId) as NodeProcess).runtime.peerId
    await rogue.services.pubsub.publish(topic, swapAscii(await sealRecord(cluster.network, privateKey, record), rogueId, victimId))
    // 4. the rogue's own record, altered after signing
    await rogue.services.pubsub.publish(topic, swapAscii(await sealRecord(cluster.network, privateKey, record), 'impostor', 'imposter'))

    const after = await cluster.waitForStatus(seed, 'garbage, forged and oversize records counted', s =>
      s.rejected.undecodable > before.undecodable &&
      s.rejected.oversize > before.oversize &&
      // gossip carries no publisher signature: a record claiming another PeerId fails its own signature
      s.rejected['bad-signature'] >= before['bad-signature'] + 2)
    expect(after.members.find(m => m.peerId === seedId)?.state).toBe('alive')
    expect(after.members.some(m => m.name === 'impostor' || m.name === 'imposter')).toBe(false)
    // every node still answers and still sees the live members alive
    for (const node of everyone().filter(n => n.child.exitCode == null && n.child.signalCode == null)) {
      const status = await cluster.status(node)
      expect(status.members.find(m => m.peerId === seedId)?.state).toBe('alive')
      expect(node.child.exitCode).toBeNull()
    }
  })
})

/** Replace an ASCII string inside bytes by another of the same length. */
function swapAscii (bytes: Uint8Array, from: string, to: string): Uint8Array {
  if (from.length !== to.length) throw new Error('swapAscii needs equal lengths')
  const text = Buffer.from(bytes).toString('latin1')
  const index = text.indexOf(from)
  if (index < 0) throw new Error('string not found in bytes')
  return new Uint8Array(Buffer.from(text.slice(0, index) + to + text.slice(index + from.length), 'latin1'))
}
