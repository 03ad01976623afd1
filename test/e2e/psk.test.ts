/**
 * Issue 13, private networks: nodes started with --psk-file protect every connection with the
 * pre-shared key (@libp2p/pnet). A stock libp2p peer (no project code: tcp + noise + yamux) without the
 * key gets no connection; the same stock peer with the key connects. A mesh node with another key
 * cannot join; one with the same key does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { preSharedKey } from '@libp2p/pnet'
import { multiaddr } from '@multiformats/multiaddr'
import { Cluster, meshBin, sleep } from './harness.js'
import type { NodeProcess } from './harness.js'

function generate (file: string): void {
  const made = spawnSync(process.execPath, [meshBin, 'psk', 'generate', '--out', file], { encoding: 'utf8' })
  if (made.status !== 0) throw new Error(`mesh psk generate failed: ${made.stderr}`)
}

async function stockPeer (psk?: Uint8Array): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(psk != null ? { connectionProtector: preSharedKey({ psk }) } : {})
  })
}

describe('private network (--psk-file)', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const key = join(cluster.root, 'swarm.key')
  const otherKey = join(cluster.root, 'other.key')
  let a: NodeProcess
  const peers: Libp2p[] = []

  beforeAll(async () => {
    generate(key)
    generate(otherKey)
    a = await cluster.start('a', { extraArgs: ['--psk-file', key] })
  })

  afterAll(async () => {
    for (const peer of peers) { try { await peer.stop() } catch {} }
    await cluster.stopAll()
  })

  it('a stock libp2p peer without the key cannot connect; with it, it can', async () => {
    const target = multiaddr(a.runtime.multiaddrs[0] as string)
    const stranger = await stockPeer()
    peers.push(stranger)
    await expect(stranger.dial(target, { signal: AbortSignal.timeout(10_000) })).rejects.toThrow()
    expect(stranger.getConnections()).toHaveLength(0)
    // and the node holds no connection from it
    expect((await cluster.status(a)).connectedPeers).toBe(0)

    const wrong = await stockPeer(new TextEncoder().encode(readFileSync(otherKey, 'utf8').trim()))
    peers.push(wrong)
    await expect(wrong.dial(target, { signal: AbortSignal.timeout(10_000) })).rejects.toThrow()
    expect(wrong.getConnections()).toHaveLength(0)

    const friend = await stockPeer(new TextEncoder().encode(readFileSync(key, 'utf8').trim()))
    peers.push(friend)
    const connection = await friend.dial(target, { signal: AbortSignal.timeout(10_000) })
    expect(connection.remotePeer.toString()).toBe(a.runtime.peerId)
    expect(friend.getConnections().length).toBeGreaterThan(0)
  })

  it('a mesh node with another key never joins; one with the same key does', async () => {
    const seed = a.runtime.multiaddrs[0] as string
    const outsider = await cluster.start('outsider', { bootstrap: [seed], extraArgs: ['--psk-file', otherKey] })
    const member = await cluster.start('member', { bootstrap: [seed], extraArgs: ['--psk-file', key] })
    await cluster.waitForMemberState(a, member.runtime.peerId, 'alive')
    await cluster.waitForMemberState(member, a.runtime.peerId, 'alive')
    // the outsider has been dialing the seed all this while (the keeper retries): still alone
    await sleep(3_000)
    const status = await cluster.status(outsider)
    expect(status.connectedPeers).toBe(0)
    expect(status.members.filter(m => !m.self)).toEqual([])
    expect((await cluster.status(a)).members.some(m => m.peerId === outsider.runtime.peerId)).toBe(false)
  })

  it('a bad key file stops the node at start with a clear error (exit 2)', () => {
    const bad = join(cluster.root, 'bad.key')
    spawnSync('sh', ['-c', `printf '/key/swarm/psk/1.0.0/\\n/base16/\\nnot-hex\\n' > ${bad}`])
    const run = spawnSync(process.execPath, [meshBin, 'start', '--data-dir', join(cluster.root, 'bad'), '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--psk-file', bad], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, MESH_CONSENSUS: 'none', MESH_MDNS: 'off' } }) // [founding] fail on the option, not after founding
    expect(run.status).toBe(2)
    expect(run.stderr).toMatch(/--psk-file: .*64 hex digits/)
  })
})
