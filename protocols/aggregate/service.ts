/**
 * Push-pull aggregation exchanges on /mesh/<network>/aggregate/1.0.0: one stream per exchange, the
 * initiator writes one `Masses` (half of its own), the responder answers one `AggregateReply` (half of
 * its own, or `accepted: false` when it absorbed nothing), both close. The service moves bytes and
 * validates them; the push-sum core (src/core/gossip/aggregate.ts, driven by
 * src/runtime/gossip/aggregation.ts) decides what is sent and absorbed.
 *
 * Outcomes of an exchange, and what the initiator's masses become (see the core's `undelivered`):
 * - `replied`: the responder absorbed our half and sent half of its own (absorb it);
 * - `refused`: the responder said it absorbed nothing (old epoch, invalid, busy): our half comes back;
 * - `not-sent`: no stream could be opened, so nothing was written: our half comes back;
 * - `lost`: written, but no valid reply in time: the responder may have absorbed it, so it is NOT
 *   returned (that would create mass); it and any reply are lost until the next epoch restarts.
 */
import { serviceCapabilities } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { validateMessage } from '../../src/core/gossip/aggregate.js'
import type { AggregateMessage } from '../../src/core/gossip/aggregate.js'
import { AggregateReply, Masses } from './aggregate.js'
import { admitMessage } from '../shared/admission.js' // [admission]
import { fromWire, toWire } from './codec.js'
import { aggregateExchangeTimeoutMs, aggregateInboundMax, aggregateMessageBytesMax, aggregateProtocolId, aggregateStreamsMax } from './constants.js'
import { aggregateLimits } from '../../src/core/gossip/aggregate.js'

export interface AggregateProtocolInit {
  network: string
}

export interface AggregateComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

/** Answers a validated request: our reply half, or undefined when the core refused it (nothing absorbed). */
export type AggregateRequestHandler = (from: string, message: AggregateMessage) => AggregateMessage | undefined

export type ExchangeOutcome =
  | { outcome: 'replied', reply: AggregateMessage }
  | { outcome: 'refused' | 'not-sent' | 'lost', error?: string }

/** Decode bounds: the core's table limits, checked while decoding (before any array grows past them). */
const decodeLimits = {
  numbers: aggregateLimits.attributesMax,
  capabilities: aggregateLimits.capabilitiesMax,
  maxima: aggregateLimits.attributesMax
}

export class AggregateProtocol implements Startable {
  readonly protocol: string
  /** Exchanges and bytes (payload plus length prefix) by direction; refusals by reason. */
  readonly stats = {
    requested: 0, replied: 0, refusedByPeer: 0, notSent: 0, lost: 0,
    served: 0, refused: 0,
    bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0
  }
  readonly refusals = new Map<string, number>()
  private handler: AggregateRequestHandler | undefined
  private inbound = 0
  private readonly log: Logger

  constructor (private readonly components: AggregateComponents, init: AggregateProtocolInit) {
    this.protocol = aggregateProtocolId(init.network)
    this.log = components.logger.forComponent('mesh:aggregate')
  }

  readonly [Symbol.toStringTag] = 'mesh:aggregate'
  readonly [serviceCapabilities] = ['mesh:aggregate']

  /** Where validated requests go (the aggregation runtime); until set, every request is refused. */
  setHandler (handler: AggregateRequestHandler | undefined): void {
    this.handler = handler
  }

  async start (): Promise<void> {
    await this.components.registrar.handle(this.protocol, (stream, connection) => { void this.serve(stream, connection) }, {
      maxInboundStreams: aggregateStreamsMax,
      maxOutboundStreams: aggregateStreamsMax
    })
  }

  async stop (): Promise<void> {
    await this.components.registrar.unhandle(this.protocol)
  }

  refusalCounts (): Record<string, number> {
    return Object.fromEntries([...this.refusals].sort((a, b) => a[0] < b[0] ? -1 : 1))
  }

  private refuse (reason: string): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1)
  }

  /** One exchange with `peer`. Never throws. */
  async exchange (peer: PeerId, message: AggregateMessage, timeoutMs: number = aggregateExchangeTimeoutMs): Promise<ExchangeOutcome> {
    this.stats.requested++
    const signal = AbortSignal.timeout(timeoutMs)
    let stream: Stream
    try {
      stream = await this.components.connectionManager.openStream(peer, this.protocol, { signal })
    } catch (err) {
      this.stats.notSent++
      return { outcome: 'not-sent', error: (err as Error).message }
    }
    try {
      const frames = lpStream(stream, { maxDataLength: aggregateMessageBytesMax })
      const bytes = Masses.encode(toWire(message))
      await frames.write(bytes, { signal })
      this.stats.bytesSent += bytes.byteLength + 2
      this.stats.messagesSent++
      const replyBytes = await frames.read({ signal })
      this.stats.bytesReceived += replyBytes.byteLength + 2
      this.stats.messagesReceived++
      await stream.close({ signal }).catch(() => {})
      let reply: AggregateReply
      try {
        reply = AggregateReply.decode(replyBytes, { limits: { masses: decodeLimits } })
      } catch {
        this.refuse('undecodable')
        this.stats.lost++
        return { outcome: 'lost', error: 'undecodable reply' }
      }
      if (!reply.accepted) { this.stats.refusedByPeer++; return { outcome: 'refused' } }
      const checked = reply.masses == null ? 'malformed' : validateMessage(fromWire(reply.masses))
      if (typeof checked === 'string') {
        this.refuse(checked)
        this.stats.lost++
        return { outcome: 'lost', error: `invalid reply (${checked})` }
      }
      this.stats.replied++
      return { outcome: 'replied', reply: checked }
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      this.stats.lost++
      return { outcome: 'lost', error: (err as Error).message }
    }
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    // [admission] one exchange per stream: over the initiator's rate, the stream is dropped unread
    if (!admitMessage(stream)) { stream.abort(new Error('rate limited')); return }
    const signal = AbortSignal.timeout(aggregateExchangeTimeoutMs)
    const frames = lpStream(stream, { maxDataLength: aggregateMessageBytesMax })
    const answer = async (reply: AggregateReply): Promise<void> => {
      const bytes = AggregateReply.encode(reply)
      await frames.write(bytes, { signal })
      this.stats.bytesSent += bytes.byteLength + 2
      this.stats.messagesSent++
      await stream.close({ signal }).catch(() => {})
    }
    try {
      if (this.inbound >= aggregateInboundMax) {
        // answer at once without reading: the initiator takes its half back
        this.refuse('busy')
        await answer({ accepted: false })
        return
      }
      this.inbound++
      try {
        let bytes
        try {
          bytes = await frames.read({ signal })
        } catch (err) {
          this.refuse(/too (long|large)|max/i.test((err as Error).message) ? 'oversize' : 'unread')
          throw err
        }
        this.stats.bytesReceived += bytes.byteLength + 2
        this.stats.messagesReceived++
        let masses: Masses
        try {
          masses = Masses.decode(bytes, { limits: decodeLimits })
        } catch {
          this.refuse('undecodable')
          await answer({ accepted: false })
          return
        }
        const checked = validateMessage(fromWire(masses))
        if (typeof checked === 'string') {
          this.refuse(checked)
          await answer({ accepted: false })
          return
        }
        const reply = this.handler?.(connection.remotePeer.toString(), checked)
        this.stats.served++
        if (reply === undefined) this.stats.refused++
        await answer(reply === undefined ? { accepted: false } : { accepted: true, masses: toWire(reply) })
      } finally {
        this.inbound--
      }
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      this.log('exchange from %p failed: %s', connection.remotePeer, (err as Error).message)
    }
  }
}

export function aggregateProtocol (init: AggregateProtocolInit): (components: AggregateComponents) => AggregateProtocol {
  return (components) => new AggregateProtocol(components, init)
}
