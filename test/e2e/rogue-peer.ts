/**
 * A rogue libp2p peer for the reputation tests: a real libp2p host built exactly like a mesh node's
 * (bootstrap/libp2p.ts: same transports, gossipsub with StrictNoSign, the mesh's protocols), with no
 * membership. It dials the given nodes, subscribes to the network's state topic and keeps publishing
 * state records with a bad signature (its own record, altered after signing, a new sequence number
 * each time so no two are alike), and keeps re-dialing every node it is not connected to — to show
 * that a banned peer stays out.
 *
 * In a test: `const rogue = await RoguePeer.start(network, multiaddrs)` … `await rogue.stop()`.
 * By hand: `node dist/test/e2e/rogue-peer.js <network> <multiaddr>…` (runs until killed).
 */
import '../../src/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PrivateKey } from '@libp2p/interface'
import { createMeshLibp2p } from '../../bootstrap/libp2p.js'
import type { MeshLibp2p } from '../../bootstrap/libp2p.js'
import { sealRecord } from '../../protocols/state/codec.js'
import { stateTopic } from '../../protocols/state/constants.js'

/** Publish one bad record this often, and re-dial unconnected targets this often. */
const publishIntervalMs = 250
const redialIntervalMs = 500

export class RoguePeer {
  readonly stats = { published: 0, dialAttempts: 0, dialFailures: 0 }
  private sequence = 0
  private readonly timers: Array<ReturnType<typeof setInterval>> = []
  private readonly topic: string

  private constructor (readonly libp2p: MeshLibp2p, private readonly privateKey: PrivateKey, readonly network: string, readonly targets: string[]) {
    this.topic = stateTopic(network)
  }

  get peerId (): string {
    return this.libp2p.peerId.toString()
  }

  /** `publish: false`: connect and subscribe only; the test calls `publishBad()` itself. */
  static async start (network: string, targets: string[], options: { publish?: boolean } = {}): Promise<RoguePeer> {
    const privateKey = await generateKeyPair('Ed25519')
    const libp2p = await createMeshLibp2p({
      privateKey,
      network,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      announce: [],
      maxConnections: 64,
      sync: { getEntries: () => [], onEntries: async () => 0 }
    })
    const rogue = new RoguePeer(libp2p, privateKey, network, targets)
    libp2p.services.pubsub.subscribe(rogue.topic)
    rogue.redial()
    rogue.timers.push(setInterval(() => { rogue.redial() }, redialIntervalMs))
    if (options.publish !== false) rogue.timers.push(setInterval(() => { void rogue.publishBad() }, publishIntervalMs))
    return rogue
  }

  /** Connected to the node with this PeerId right now. */
  connectedTo (peerId: string): boolean {
    return this.libp2p.getConnections().some(c => c.remotePeer.toString() === peerId && c.status === 'open')
  }

  private redial (): void {
    for (const target of this.targets) {
      const peer = multiaddr(target).getComponents().find(c => c.name === 'p2p')?.value
      if (peer != null && this.connectedTo(peer)) continue
      this.stats.dialAttempts++
      this.libp2p.dial(multiaddr(target), { signal: AbortSignal.timeout(5_000) }).catch(() => { this.stats.dialFailures++ })
    }
  }

  /** Its own state record, altered after signing: "rogue" becomes "rogve" in the name (same length). */
  async publishBad (): Promise<void> {
    this.sequence++
    const peerId = peerIdFromPrivateKey(this.privateKey).toString()
    const sealed = await sealRecord(this.network, this.privateKey, {
      peerId, name: 'rogue', capabilities: [], addresses: [], incarnation: 1, sequence: this.sequence,
      load: { queued: 0, running: 0, capacity: 1, cpu: 0 }, startedAtMs: Date.now(), leaving: false
    })
    const tampered = swapAscii(sealed, 'rogue', 'rogve')
    try {
      await this.libp2p.services.pubsub.publish(this.topic, tampered)
      this.stats.published++
    } catch {}
  }

  async stop (): Promise<void> {
    for (const timer of this.timers) clearInterval(timer)
    await this.libp2p.stop()
  }
}

/** Replace an ASCII string inside bytes by another of the same length. */
function swapAscii (bytes: Uint8Array, from: string, to: string): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1')
  const index = text.indexOf(from)
  if (index < 0 || from.length !== to.length) throw new Error('swapAscii: string not found or lengths differ')
  return new Uint8Array(Buffer.from(text.slice(0, index) + to + text.slice(index + from.length), 'latin1'))
}

if (process.argv[1] != null && import.meta.filename === process.argv[1]) {
  const [network, ...targets] = process.argv.slice(2)
  if (network == null || targets.length === 0) {
    console.error('usage: node dist/test/e2e/rogue-peer.js <network> <multiaddr>…')
    process.exit(2)
  }
  const rogue = await RoguePeer.start(network, targets)
  console.log(`rogue ${rogue.peerId} publishing bad records on ${stateTopic(network)}`)
  setInterval(() => { console.log(JSON.stringify(rogue.stats)) }, 5_000)
}
