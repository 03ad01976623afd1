/**
 * Peer messaging, the libp2p side. Direct: `/mesh/<network>/msg/1.0.0`, one stream per message: the
 * sender writes one length-prefixed MessageEnvelope and reads one MessageAck (accepted, duplicate,
 * rejected with a reason, or busy). Broadcast: one MessageEnvelope per gossipsub message on
 * `/mesh/<network>/msg/all/1.0.0`, checked by a topic validator before it is delivered or forwarded.
 *
 * Every message is signed with the node's own key (components.privateKey) and opened with
 * `openMessage` (codec.ts) on arrival. What to do with a verified message (store, de-duplicate) is
 * the node's inbox's business (src/runtime/messages.ts), given through `setHandlers`; until then every
 * direct message is answered BUSY and every broadcast ignored.
 */
import { RefusalCounter, streamErrorReason } from '../shared/refusals.js' // [fuzz]
import { serviceCapabilities } from '@libp2p/interface'
import type { ComponentLogger, Connection, Logger, PeerId, PrivateKey, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { lpStream } from '@libp2p/utils'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import { MessageAck } from './msg.js'
import { admitMessage } from '../shared/admission.js' // [admission]
import { MessageRejectedError, openMessage, sealMessage } from './codec.js'
import type { MessageRejectReason, PeerMessage } from './codec.js'
import {
  msgAckBytesMax, msgAckTimeoutMs, msgBroadcastRecipient, msgEnvelopeBytesMax, msgFrameBytesMax, msgInboundMax,
  msgProtocol, msgServeTimeoutMs, msgStreamsPerConnectionMax, msgTopic
} from './constants.js'

export type MessageVia = 'direct' | 'broadcast'

export interface MessageHandlers {
  /** A verified message: keep it ('accepted'), or 'duplicate' when it was received before. */
  onMessage: (message: PeerMessage, via: MessageVia) => 'accepted' | 'duplicate'
  /** A refused message (for the counters); `from` is the peer that delivered or published it. */
  onReject: (reason: MessageRejectReason, via: MessageVia, from: string) => void
}

/** The parts of gossipsub the broadcast side uses. */
export type BroadcastPubSub = Pick<GossipSub, 'topicValidators' | 'subscribe' | 'unsubscribe' | 'publish' | 'getSubscribers'>

export type DeliveryFailure = 'timeout' | 'unreachable' | 'rejected' | 'busy' | 'protocol'

/** A direct message was not acknowledged: `failure` says how (the HTTP API maps it to 504 / 502). */
export class MessageDeliveryError extends Error {
  override readonly name = 'MessageDeliveryError'
  constructor (readonly failure: DeliveryFailure, message: string, readonly reason: string | null = null) {
    super(message)
  }
}

export interface PeerMessagingComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
  privateKey: PrivateKey
  peerId: PeerId
}

export interface PeerMessagingInit {
  network: string
  /**
   * The wall clock (ms since 1970) used to refuse messages sent too long ago.
   * @default Date.now
   */
  now?: () => number
}

export class PeerMessaging implements Startable {
  readonly protocol: string
  readonly topic: string
  readonly stats = { busyRefused: 0, streamErrors: 0 }
  /** [fuzz] Inbound requests refused, by reason (protocols/shared/refusals.ts). */
  readonly refusals = new RefusalCounter()
  private readonly network: string
  private readonly now: () => number
  private readonly log: Logger
  private handlers: MessageHandlers | null = null
  private pubsub: BroadcastPubSub | null = null
  private inFlight = 0

  constructor (private readonly components: PeerMessagingComponents, init: PeerMessagingInit) {
    this.network = init.network
    this.protocol = msgProtocol(init.network)
    this.topic = msgTopic(init.network)
    this.now = init.now ?? Date.now
    this.log = components.logger.forComponent('mesh:msg')
  }

  readonly [Symbol.toStringTag] = 'mesh:msg'
  readonly [serviceCapabilities] = ['mesh:msg']

  get peerId (): string {
    return this.components.peerId.toString()
  }

  setHandlers (handlers: MessageHandlers | null): void {
    this.handlers = handlers
  }

  async start (): Promise<void> {
    await this.components.registrar.handle(this.protocol, (stream, connection) => { void this.serve(stream, connection) }, {
      maxInboundStreams: msgStreamsPerConnectionMax,
      maxOutboundStreams: msgStreamsPerConnectionMax
    })
  }

  async stop (): Promise<void> {
    await this.components.registrar.unhandle(this.protocol)
    if (this.pubsub != null) {
      this.pubsub.topicValidators.delete(this.topic)
      try { this.pubsub.unsubscribe(this.topic) } catch {}
      this.pubsub = null
    }
  }

  /** Subscribe to the broadcast topic and validate everything that arrives on it. */
  enableBroadcast (pubsub: BroadcastPubSub): void {
    this.pubsub = pubsub
    pubsub.topicValidators.set(this.topic, async (_from, message) => await this.validateGossip(message))
    pubsub.subscribe(this.topic)
  }

  /** Peers known to subscribe to the broadcast topic (who a broadcast reaches in one hop). */
  subscribers (): string[] {
    return this.pubsub?.getSubscribers(this.topic).map(p => p.toString()) ?? []
  }

  /** A new message from this node (the caller fills in id, to, time and body). */
  async seal (message: PeerMessage): Promise<Uint8Array<ArrayBuffer>> {
    return await sealMessage(this.network, this.components.privateKey, message)
  }

  /**
   * Sign `message` and deliver it to `peer`, waiting for its ack at most `timeoutMs`. Resolves
   * 'accepted' or 'duplicate' (the peer had it already); throws MessageDeliveryError otherwise.
   */
  async sendDirect (peer: PeerId, message: PeerMessage, timeoutMs = msgAckTimeoutMs): Promise<'accepted' | 'duplicate'> {
    const bytes = await this.seal(message)
    const ack = await this.sendEnvelope(peer, bytes, AbortSignal.timeout(timeoutMs))
    switch (ack.outcome) {
      case MessageAck.Outcome.ACCEPTED: return 'accepted'
      case MessageAck.Outcome.DUPLICATE: return 'duplicate'
      case MessageAck.Outcome.REJECTED:
        throw new MessageDeliveryError('rejected', `the peer rejected the message: ${ack.reason.slice(0, 100)}`, ack.reason.slice(0, 100))
      case MessageAck.Outcome.BUSY:
        throw new MessageDeliveryError('busy', `the peer is busy (${ack.reason.slice(0, 100)}); try again`, ack.reason.slice(0, 100))
      default:
        throw new MessageDeliveryError('protocol', 'the peer answered with an ack of unknown outcome')
    }
  }

  /**
   * Write already-sealed bytes to `peer` and read its ack. Exposed for tests that play a dishonest
   * peer (forged or tampered envelopes); honest code calls `sendDirect`.
   */
  async sendEnvelope (peer: PeerId, bytes: Uint8Array, signal: AbortSignal): Promise<MessageAck> {
    let stream: Stream
    try {
      stream = await this.components.connectionManager.openStream(peer, this.protocol, { signal })
    } catch (err) {
      if (signal.aborted) throw new MessageDeliveryError('timeout', 'no ack in time: could not even open a stream to the peer')
      throw new MessageDeliveryError('unreachable', `cannot open a message stream to the peer: ${(err as Error).message}`)
    }
    try {
      const frames = lpStream(stream, { maxDataLength: msgAckBytesMax })
      await frames.write(bytes, { signal })
      const answer = await frames.read({ signal })
      const ack = MessageAck.decode(answer)
      await stream.close({ signal }).catch(() => {})
      return ack
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      if (signal.aborted) throw new MessageDeliveryError('timeout', 'the peer did not acknowledge the message in time')
      throw new MessageDeliveryError('protocol', `the message stream failed before an ack: ${(err as Error).message}`)
    }
  }

  /** Sign `message` (to "all") and publish it on the broadcast topic; resolves how many peers it went to. */
  async broadcast (message: PeerMessage): Promise<number> {
    if (this.pubsub == null) throw new Error('broadcast is not enabled on this node')
    if (message.to !== msgBroadcastRecipient) throw new RangeError('a broadcast is addressed to "all"')
    const bytes = await this.seal(message)
    const result = await this.pubsub.publish(this.topic, bytes)
    return result.recipients.length
  }

  /** Open a message and hand it to the inbox; the answer for the sender. Never throws. */
  /** `sender`: the peer at the other end of a direct stream; null for a broadcast (its author signs it). */
  private async receive (bytes: Uint8Array, sender: string | null, via: MessageVia): Promise<MessageAck> {
    const handlers = this.handlers
    if (handlers == null) return { outcome: MessageAck.Outcome.BUSY, reason: 'no-inbox', id: '' }
    let message: PeerMessage
    try {
      message = await openMessage(this.network, bytes, {
        sender,
        recipient: via === 'direct' ? this.peerId : msgBroadcastRecipient,
        nowMs: this.now(),
        envelopeBytesMax: via === 'direct' ? msgFrameBytesMax : msgEnvelopeBytesMax
      })
    } catch (err) {
      const reason: MessageRejectReason = err instanceof MessageRejectedError ? err.reason : 'undecodable'
      handlers.onReject(reason, via, sender ?? 'unknown')
      this.log('%s message from %s rejected (%s): %s', via, sender, reason, (err as Error).message)
      return { outcome: MessageAck.Outcome.REJECTED, reason, id: '' }
    }
    const outcome = handlers.onMessage(message, via)
    return { outcome: outcome === 'accepted' ? MessageAck.Outcome.ACCEPTED : MessageAck.Outcome.DUPLICATE, reason: '', id: message.id }
  }

  private async validateGossip (message: Message): Promise<TopicValidatorResult> {
    // Gossip runs without gossipsub's own signature (bootstrap/libp2p.ts): the sender is the author the
    // message names, held to it by the message's own signature, whoever forwarded it.
    const ack = await this.receive(message.data, null, 'broadcast')
    switch (ack.outcome) {
      case MessageAck.Outcome.ACCEPTED: return TopicValidatorResult.Accept
      case MessageAck.Outcome.REJECTED: return TopicValidatorResult.Reject
      // a duplicate is not the forwarder's fault; without an inbox we neither keep nor forward
      default: return TopicValidatorResult.Ignore
    }
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const sender = connection.remotePeer.toString()
    const signal = AbortSignal.timeout(msgServeTimeoutMs)
    // [admission] one message per stream: over the sender's rate, the stream (and message) is dropped
    if (!admitMessage(stream)) { stream.abort(new Error('rate limited')); return }
    const frames = lpStream(stream, { maxDataLength: msgFrameBytesMax })
    if (this.inFlight >= msgInboundMax) {
      this.stats.busyRefused++
      this.refusals.count('busy') // [fuzz]
      try {
        await frames.write(MessageAck.encode({ outcome: MessageAck.Outcome.BUSY, reason: 'too-many-in-flight', id: '' }), { signal })
        await stream.close({ signal })
      } catch (err) {
        stream.abort(err instanceof Error ? err : new Error(String(err)))
      }
      return
    }
    this.inFlight++
    try {
      let frame
      try {
        frame = await frames.read({ signal })
      } catch (err) {
        if ((err as Error).name === 'InvalidDataLengthError') this.handlers?.onReject('oversize', 'direct', sender)
        throw err
      }
      const ack = await this.receive(frame.subarray(), sender, 'direct')
      await frames.write(MessageAck.encode(ack), { signal })
      await stream.close({ signal })
    } catch (err) {
      this.stats.streamErrors++
      this.refusals.count(streamErrorReason(err)) // [fuzz]
      this.log('message stream from %s failed: %s', sender, (err as Error).message)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      this.inFlight--
    }
  }
}

export function peerMessaging (init: PeerMessagingInit): (components: PeerMessagingComponents) => PeerMessaging {
  return (components) => new PeerMessaging(components, init)
}
