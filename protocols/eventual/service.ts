/**
 * Eventually consistent memory, the libp2p side (protocols/README.md, `eventual`).
 *
 * - Spread: every local write is published on the gossipsub topic `/mesh/<network>/eventual/1` as one
 *   `Writes` message (a batch is split at `gossipBytesMax`). Gossip runs without gossipsub signatures
 *   (StrictNoSign): an entry carries its own writer and timestamp and the topic validator checks every
 *   field (the LWW map's `merge`) before the message is delivered or forwarded.
 * - Repair: digest-based anti-entropy on `/mesh/<network>/eventual/1.0.0`, with one random connected
 *   peer every `antiEntropyIntervalMs` and at once on every new connection (the dialing side), so a
 *   healed partition converges within one exchange. On one stream, the initiator sends:
 *     1. DIGESTS  its per-namespace digests              → the responder's digests
 *     2. VERSIONS per differing namespace only: its (key, timestamp, content digest) list
 *                                                        → entries the responder holds newer or the
 *                                                          initiator lacks (≤ 2 MiB, `more` if cut),
 *                                                          and the keys the responder wants
 *     3. PUSH     the entries the responder asked for    → how many it applied
 * What to merge and what to answer is the replica's business (src/runtime/gossip/eventual-store.ts),
 * given through `setReplica`; until then requests are refused and gossip is not subscribed.
 */
import { serviceCapabilities } from '@libp2p/interface'
import type { ComponentLogger, Connection, Libp2pEvents, Logger, PeerId, Startable, Stream, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { pbStream } from '@libp2p/utils'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import type { KeyVersion, LwwEntry, MergeResult } from '../../src/core/gossip/lww.js'
import { respond } from '../shared/request-response.js'
import { EventualRequest, EventualResponse, RequestKind, Writes } from './eventual.js'
import {
  checkNamespace, chunkEntries, digestsFromWire, digestsToWire, entryFromWire, entryToWire, EventualProtocolError,
  versionsFromWire, versionsToWire
} from './codec.js'
import {
  antiEntropyIntervalMs, digestsMax, entriesMax, eventualProtocol, eventualTopic, exchangeEntriesBytesBudget,
  exchangeMessageBytesMax, exchangeStreamsMax, exchangeTimeoutMs, gossipBytesMax, gossipEntriesMax,
  namespacesPerExchangeMax, pullMax, requestTimeoutMs, roundsPerNamespaceMax, versionsMax
} from './constants.js'
import type { EventualRejectReason } from './constants.js'
import { RefusalCounter, streamErrorReason } from '../shared/refusals.js' // [fuzz]

export type EventualVia = 'gossip' | 'anti-entropy'

/** What the service needs of the store (an LwwMap plus persistence, in the runtime). */
export interface EventualReplica {
  namespaceDigests: () => Array<[string, string]>
  diffNamespaces: (remote: ReadonlyArray<readonly [string, string]>) => string[]
  keyVersions: (namespace: string) => KeyVersion[]
  diffKeys: (namespace: string, remote: readonly KeyVersion[]) => { push: LwwEntry[], pull: string[] }
  entries: (namespace: string, keys: readonly string[]) => LwwEntry[]
  /** Merge received entries, still unvalidated (each is checked); persists what it applies. */
  merge: (entries: readonly unknown[], from: string, via: EventualVia) => MergeResult
  /** A message refused before its entries reached `merge` (oversize, undecodable, invalid). */
  onReject: (reason: EventualRejectReason, from: string, via: EventualVia) => void
}

/** The parts of gossipsub the service uses. */
export type EventualPubSub = Pick<GossipSub, 'topicValidators' | 'subscribe' | 'unsubscribe' | 'publish' | 'getSubscribers'>

export interface EventualSyncComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

export interface EventualSyncInit {
  network: string
  /** Pause between periodic exchanges with a random peer. @default 3000 */
  intervalMs?: number
}

export interface EventualSyncStats {
  /** Anti-entropy exchanges completed (as initiator or responder). */
  exchanges: number
  /** Exchanges that failed (timeout, reset, protocol violation). */
  failures: number
  /** Entries applied from gossip and from anti-entropy. */
  appliedGossip: number
  appliedAntiEntropy: number
  /** Gossip messages published, and writes in them. */
  published: number
  publishedEntries: number
}

const requestCodec = {
  encode: EventualRequest.encode,
  decode: (bytes: Parameters<typeof EventualRequest.decode>[0]) => EventualRequest.decode(bytes, { limits: { digests: digestsMax, versions: versionsMax, entries: entriesMax } })
}
const responseCodec = {
  encode: EventualResponse.encode,
  decode: (bytes: Parameters<typeof EventualResponse.decode>[0]) => EventualResponse.decode(bytes, { limits: { digests: digestsMax, entries: entriesMax, pull: pullMax } })
}

export class EventualSync implements Startable {
  readonly protocol: string
  readonly topic: string
  readonly stats: EventualSyncStats = { exchanges: 0, failures: 0, appliedGossip: 0, appliedAntiEntropy: 0, published: 0, publishedEntries: 0 }
  /** [fuzz] Inbound requests refused, by reason (protocols/shared/refusals.ts). */
  readonly refusals = new RefusalCounter()
  private readonly log: Logger
  private replica: EventualReplica | null = null
  private pubsub: EventualPubSub | null = null
  private timer?: ReturnType<typeof setTimeout>
  private running = false
  private readonly inFlight = new Set<string>()

  constructor (private readonly components: EventualSyncComponents, private readonly init: EventualSyncInit) {
    this.protocol = eventualProtocol(init.network)
    this.topic = eventualTopic(init.network)
    this.log = components.logger.forComponent('mesh:eventual')
    this.onPeerConnect = this.onPeerConnect.bind(this)
  }

  readonly [Symbol.toStringTag] = 'mesh:eventual'
  readonly [serviceCapabilities] = ['mesh:eventual']

  async start (): Promise<void> {
    await this.components.registrar.handle(this.protocol, (stream, connection) => { void this.serve(stream, connection) }, {
      maxInboundStreams: exchangeStreamsMax,
      maxOutboundStreams: exchangeStreamsMax
    })
    this.components.events.addEventListener('peer:connect', this.onPeerConnect)
    this.running = true
    this.schedule()
  }

  async stop (): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
    this.components.events.removeEventListener('peer:connect', this.onPeerConnect)
    await this.components.registrar.unhandle(this.protocol)
    if (this.pubsub != null) {
      this.pubsub.topicValidators.delete(this.topic)
      try { this.pubsub.unsubscribe(this.topic) } catch {}
      this.pubsub = null
    }
  }

  /** Attach the store and subscribe to the gossip topic (validating everything that arrives). */
  setReplica (replica: EventualReplica, pubsub: EventualPubSub): void {
    this.replica = replica
    this.pubsub = pubsub
    pubsub.topicValidators.set(this.topic, async (from, message) => this.validateGossip(from, message))
    pubsub.subscribe(this.topic)
  }

  /** Peers known to subscribe to the topic (a write reaches them in one hop). */
  subscribers (): string[] {
    return this.pubsub?.getSubscribers(this.topic).map(p => p.toString()) ?? []
  }

  /** Publish local writes (split into messages of ≤ 256 KiB). Never throws: anti-entropy repairs a lost one. */
  async publish (entries: readonly LwwEntry[]): Promise<void> {
    const pubsub = this.pubsub
    if (pubsub == null || entries.length === 0) return
    for (const chunk of chunkEntries(entries, gossipBytesMax - 1024, gossipEntriesMax)) {
      try {
        await pubsub.publish(this.topic, Writes.encode({ entries: chunk.map(entryToWire) }))
        this.stats.published++
        this.stats.publishedEntries += chunk.length
      } catch (err) {
        this.log('publishing %d eventual writes failed: %s', chunk.length, (err as Error).message)
      }
    }
  }

  private validateGossip (from: PeerId, message: Message): TopicValidatorResult {
    const replica = this.replica
    if (replica == null) return TopicValidatorResult.Ignore
    const sender = from.toString()
    if (message.data.length > gossipBytesMax) { replica.onReject('oversize', sender, 'gossip'); return TopicValidatorResult.Reject }
    let writes: Writes
    try {
      writes = Writes.decode(message.data, { limits: { entries: gossipEntriesMax } })
    } catch {
      replica.onReject('undecodable', sender, 'gossip')
      return TopicValidatorResult.Reject
    }
    if (writes.entries.length === 0) { replica.onReject('invalid', sender, 'gossip'); return TopicValidatorResult.Reject }
    const result = replica.merge(writes.entries.map(entryFromWire), sender, 'gossip')
    this.stats.appliedGossip += result.applied
    // no honest node publishes a malformed entry; the other refusals depend on our own state
    // (full, clock, horizon) or on bounds a differently configured node may not share
    if ((result.refused.malformed ?? 0) > 0) return TopicValidatorResult.Reject
    // forward only what taught us something: what we already held we forwarded when it was news
    return result.applied > 0 ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
  }

  private onPeerConnect (event: CustomEvent<PeerId>): void {
    const peer = event.detail
    // the dialing side starts the exchange (a healed partition: whoever re-dials); both would be harmless
    const outbound = this.components.connectionManager.getConnections(peer).some(c => c.direction === 'outbound')
    if (outbound) void this.exchange(peer)
  }

  private schedule (): void {
    if (!this.running) return
    this.timer = setTimeout(() => { void this.periodic() }, this.init.intervalMs ?? antiEntropyIntervalMs)
    this.timer.unref?.()
  }

  private async periodic (): Promise<void> {
    const connections = this.components.connectionManager.getConnections().filter(c => c.status === 'open')
    if (connections.length > 0 && this.replica != null) {
      const connection = connections[Math.floor(Math.random() * connections.length)] as Connection
      await this.exchange(connection.remotePeer)
    }
    this.schedule()
  }

  /**
   * One anti-entropy exchange with `peer` (steps 1-3 above). Resolves how many entries each side
   * applied; never throws (failures are counted and logged).
   */
  async exchange (peer: PeerId): Promise<{ pulled: number, pushed: number } | null> {
    const replica = this.replica
    const key = peer.toString()
    if (replica == null || this.inFlight.has(key)) return null
    this.inFlight.add(key)
    const signal = AbortSignal.timeout(exchangeTimeoutMs)
    let stream: Stream | undefined
    try {
      stream = await this.components.connectionManager.openStream(peer, this.protocol, { signal })
      const messages = pbStream(stream, { maxDataLength: exchangeMessageBytesMax })
      const ask = async (request: Partial<EventualRequest>): Promise<EventualResponse> => {
        await messages.write({ kind: RequestKind.DIGESTS, digests: [], namespace: '', versions: [], entries: [], ...request }, requestCodec, { signal })
        return await messages.read(responseCodec, { signal })
      }
      const theirs = digestsFromWire((await ask({ kind: RequestKind.DIGESTS, digests: digestsToWire(replica.namespaceDigests()) })).digests)
      let pulled = 0
      let pushed = 0
      for (const namespace of replica.diffNamespaces(theirs).slice(0, namespacesPerExchangeMax)) {
        for (let round = 0; round < roundsPerNamespaceMax; round++) {
          const answer = await ask({ kind: RequestKind.VERSIONS, namespace, versions: versionsToWire(replica.keyVersions(namespace)) })
          if (answer.entries.some(e => e.namespace !== namespace)) throw new EventualProtocolError('answer holds entries of another namespace')
          if (answer.pull.some(p => p.namespace !== namespace)) throw new EventualProtocolError('answer asks for keys of another namespace')
          const merged = replica.merge(answer.entries.map(entryFromWire), key, 'anti-entropy')
          pulled += merged.applied
          this.stats.appliedAntiEntropy += merged.applied
          const wanted = replica.entries(namespace, answer.pull.map(p => p.key))
          for (const chunk of chunkEntries(wanted, exchangeEntriesBytesBudget, entriesMax)) {
            const ack = await ask({ kind: RequestKind.PUSH, entries: chunk.map(entryToWire) })
            pushed += ack.applied
          }
          if (!answer.more) break
        }
      }
      await stream.close({ signal })
      this.stats.exchanges++
      return { pulled, pushed }
    } catch (err) {
      this.stats.failures++
      stream?.abort(err instanceof Error ? err : new Error(String(err)))
      if (err instanceof EventualProtocolError) replica.onReject('invalid', key, 'anti-entropy')
      this.log('anti-entropy with %p failed: %s', peer, (err as Error).message)
      return null
    } finally {
      this.inFlight.delete(key)
    }
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    await respond(stream, connection, { request: requestCodec, response: responseCodec }, { timeoutMs: requestTimeoutMs, maxDataLength: exchangeMessageBytesMax },
      async (request) => {
        const replica = this.replica
        if (replica == null) throw new Error('no eventual store on this node yet')
        return this.answer(replica, request, from)
      },
      err => {
        this.stats.failures++
        this.refusals.count(err instanceof EventualProtocolError ? 'invalid' : streamErrorReason(err)) // [fuzz]
        if (err instanceof EventualProtocolError) this.replica?.onReject('invalid', from, 'anti-entropy')
        this.log('serving anti-entropy to %p failed: %s', connection.remotePeer, err.message)
      })
  }

  private answer (replica: EventualReplica, request: EventualRequest, from: string): EventualResponse {
    const response: EventualResponse = { digests: [], entries: [], pull: [], more: false, applied: 0 }
    switch (request.kind) {
      case RequestKind.DIGESTS:
        digestsFromWire(request.digests) // validated, though only the initiator compares
        response.digests = digestsToWire(replica.namespaceDigests())
        this.stats.exchanges++
        return response
      case RequestKind.VERSIONS: {
        const namespace = checkNamespace(request.namespace)
        const { push, pull } = replica.diffKeys(namespace, versionsFromWire(request.versions))
        const chunks = chunkEntries(push, exchangeEntriesBytesBudget, entriesMax)
        response.entries = (chunks[0] ?? []).map(entryToWire)
        response.more = chunks.length > 1
        response.pull = pull.slice(0, pullMax).map(key => ({ namespace, key }))
        return response
      }
      case RequestKind.PUSH: {
        const merged = replica.merge(request.entries.map(entryFromWire), from, 'anti-entropy')
        this.stats.appliedAntiEntropy += merged.applied
        response.applied = merged.applied
        return response
      }
      default:
        throw new EventualProtocolError('unknown request kind')
    }
  }
}

export function eventualSync (init: EventualSyncInit): (components: EventualSyncComponents) => EventualSync {
  return (components) => new EventualSync(components, init)
}
