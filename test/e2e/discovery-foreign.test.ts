/**
 * [mdns] A peer of another network discovered by any means (here a `peer:discovery` event, as mDNS or
 * any discovery module would raise it) is dialed once, found foreign on identify (it does not speak our
 * /mesh/<network>/sync protocol), let go, and not dialed again however often it is rediscovered; it
 * never becomes a member. In-process: two libp2p hosts on 127.0.0.1 (bootstrap/libp2p.ts) and the
 * real ConnectionKeeper on one of them. No timing assertions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep, startRoguePeer, waitUntil } from './harness.js'
import type { MeshLibp2p } from '../../bootstrap/libp2p.js'
import { ConnectionKeeper } from '../../src/runtime/connection-keeper.js'
import { syncProtocol } from '../../protocols/sync/constants.js'
import type { PeerId } from '@libp2p/interface'

describe('a discovered peer of another network', () => {
  let ours: MeshLibp2p
  let theirs: MeshLibp2p
  let keeper: ConnectionKeeper
  const lines: string[] = []

  beforeAll(async () => {
    ours = await startRoguePeer(`ours${process.pid}`)
    theirs = await startRoguePeer(`theirs${process.pid}`)
    keeper = new ConnectionKeeper(ours, {
      bootstrap: [],
      minPeers: 3,
      maxPeers: 6,
      members: () => [],
      memberProtocol: syncProtocol(`ours${process.pid}`),
      log: line => { lines.push(line) }
    })
    keeper.start()
  })

  afterAll(async () => {
    keeper?.stop()
    await ours?.stop()
    await theirs?.stop()
  })

  it('is dialed once, let go, and not dialed again when rediscovered', async () => {
    const id: PeerId = theirs.peerId
    let opened = 0
    ours.addEventListener('connection:open', event => { if (event.detail.remotePeer.equals(id)) opened++ })
    const discover = async (): Promise<void> => {
      await ours.peerStore.merge(id, { multiaddrs: theirs.getMultiaddrs() })
      ours.dispatchEvent(new CustomEvent('peer:discovery', { detail: { id, multiaddrs: theirs.getMultiaddrs() } }))
    }
    await discover()
    await waitUntil('the keeper to dial the discovered peer', 30_000, async () => opened > 0 ? true : undefined)
    await waitUntil('the keeper to find it foreign and let it go', 30_000, async () =>
      lines.some(l => /is not of this network/.test(l)) && ours.getConnections(id).length === 0 ? true : undefined)
    expect(keeper.discoveryGuard.quarantined).toBe(1)
    // rediscovered again and again (mDNS answers every 10 s): no new dial
    for (let i = 0; i < 5; i++) {
      await discover()
      await sleep(1_000)
    }
    expect(opened).toBe(1)
    expect(ours.getConnections(id)).toHaveLength(0)
  }, 90_000)
})
