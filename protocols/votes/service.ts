/**
 * Anti-entropy of gossip votes: `/mesh/<network>/votes/1.0.0`. Two exchanges on one stream:
 *   1. the caller sends its digest (proposal id → vote-set hash); the responder answers with its items
 *      (a proposal and its votes) that differ from or are missing at the caller, and the ids it wants;
 *   2. the caller pushes the wanted items; the responder answers with an empty response.
 * Every wait is bounded by an AbortSignal; inbound streams are bounded per connection and in total;
 * every message is length-checked and its lists bounded here, before the runtime
 * (src/runtime/gossip/gossip-votes.ts) verifies each proposal and vote. Until the runtime sets its
 * handlers, a digest is answered with nothing.
 */
import { RefusalCounter, streamErrorReason } from '../shared/refusals.js' // [fuzz]
import { serviceCapabilities } from '@libp2p/interface'
import type { ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { pbStream } from '@libp2p/utils'
import { VotesRequest, VotesResponse } from './votes.js'
import type { DigestEntry, Item } from './votes.js'
import { respond } from '../shared/request-response.js'
import { votesLimits } from '../../src/core/gossip/votes.js'
import {
  digestEntriesMax, exchangeBytesMax, exchangeTimeoutMs, itemVotesMax, itemsMax, proposalIdPattern, votesInboundMax, votesProtocol, votesStreamsMax
} from './constants.js'

export interface VotesHandlers {
  /** Our digest: every proposal we hold and the hash of its vote set. */
  digest: () => DigestEntry[]
  /** Compare a peer's digest with ours: our items it lacks or holds differently, and the ids we want. */
  compare: (digest: DigestEntry[], from: PeerId) => { items: Item[], want: string[] }
  /** Items for the given ids (what a peer wanted). */
  items: (ids: string[]) => Item[]
  /** Take a peer's items (each proposal and vote is verified by the runtime). */
  merge: (items: Item[], from: PeerId) => void
}

export interface VotesProtocolComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

/** Stateless bounds of a decoded message (the protons limits cap list lengths while decoding). */
export function checkRequest (message: VotesRequest): string | null {
  if (message.digest.length > 0 && message.items.length > 0) return 'a request carries a digest or items, not both'
  for (const entry of message.digest) {
    if (!proposalIdPattern.test(entry.id)) return 'digest id is not 64 hex digits'
    if (entry.hash.byteLength !== 32) return 'digest hash is not 32 bytes'
  }
  return checkItems(message.items)
}

export function checkResponse (message: VotesResponse): string | null {
  for (const id of message.want) if (!proposalIdPattern.test(id)) return 'wanted id is not 64 hex digits'
  return checkItems(message.items)
}

function checkItems (items: Item[]): string | null {
  for (const item of items) if (item.proposal == null) return 'an item carries no proposal'
  return null
}

const itemLimits = { proposal: { eligible: votesLimits.eligibleMax }, votes: itemVotesMax }
const requestLimits = { digest: digestEntriesMax, items: itemsMax, items$: itemLimits }
const responseLimits = { items: itemsMax, want: digestEntriesMax, items$: itemLimits }
const codecs = {
  request: { encode: VotesRequest.encode, decode: (bytes: Parameters<typeof VotesRequest.decode>[0]) => VotesRequest.decode(bytes, { limits: requestLimits }) },
  response: { encode: VotesResponse.encode, decode: (bytes: Parameters<typeof VotesResponse.decode>[0]) => VotesResponse.decode(bytes, { limits: responseLimits }) }
}

export class VotesProtocol implements Startable {
  readonly protocol: string
  readonly stats = { exchanges: 0, served: 0, failures: 0, busyRefused: 0, invalid: 0, itemsSent: 0, itemsReceived: 0 }
  /** [fuzz] Inbound requests refused, by reason (protocols/shared/refusals.ts). */
  readonly refusals = new RefusalCounter()
  private readonly log: Logger
  private handlers: VotesHandlers | null = null
  private inFlight = 0

  constructor (private readonly components: VotesProtocolComponents, init: { network: string }) {
    this.protocol = votesProtocol(init.network)
    this.log = components.logger.forComponent('mesh:votes')
  }

  readonly [Symbol.toStringTag] = 'mesh:votes'
  readonly [serviceCapabilities] = ['mesh:votes']

  setHandlers (handlers: VotesHandlers | null): void {
    this.handlers = handlers
  }

  async start (): Promise<void> {
    await this.components.registrar.handle(this.protocol, (stream, connection) => { void this.serve(stream, connection) }, {
      maxInboundStreams: votesStreamsMax,
      maxOutboundStreams: votesStreamsMax
    })
  }

  async stop (): Promise<void> {
    await this.components.registrar.unhandle(this.protocol)
  }

  /**
   * One anti-entropy exchange with `peer`: returns how many items each way. Rejects when the peer does
   * not answer in time or answers out of bounds.
   */
  async exchange (peer: PeerId, signal: AbortSignal = AbortSignal.timeout(exchangeTimeoutMs)): Promise<{ received: number, sent: number }> {
    const handlers = this.handlers
    if (handlers == null) return { received: 0, sent: 0 }
    const stream = await this.components.connectionManager.openStream(peer, this.protocol, { signal })
    try {
      const messages = pbStream(stream, { maxDataLength: exchangeBytesMax })
      await messages.write({ digest: handlers.digest(), items: [] }, codecs.request, { signal })
      const answer = await messages.read(codecs.response, { signal })
      const problem = checkResponse(answer)
      if (problem != null) { this.stats.invalid++; throw new Error(`invalid votes response: ${problem}`) }
      if (answer.items.length > 0) handlers.merge(answer.items, peer)
      const wanted = answer.want.length > 0 ? handlers.items(answer.want) : []
      if (wanted.length > 0) {
        await messages.write({ digest: [], items: wanted }, codecs.request, { signal })
        await messages.read(codecs.response, { signal })
      }
      await stream.close({ signal })
      this.stats.exchanges++
      this.stats.itemsReceived += answer.items.length
      this.stats.itemsSent += wanted.length
      return { received: answer.items.length, sent: wanted.length }
    } catch (err) {
      this.stats.failures++
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      this.log('votes exchange with %p failed: %s', peer, (err as Error).message)
      throw err
    }
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    if (this.inFlight >= votesInboundMax) {
      this.stats.busyRefused++
      this.refusals.count('busy') // [fuzz]
      stream.abort(new Error('too many votes exchanges in flight'))
      return
    }
    this.inFlight++
    try {
      await respond(stream, connection, codecs, { timeoutMs: exchangeTimeoutMs, maxDataLength: exchangeBytesMax },
        async (message, conn) => {
          const problem = checkRequest(message)
          if (problem != null) { this.stats.invalid++; throw new Error(`invalid votes request: ${problem}`) }
          const handlers = this.handlers
          if (handlers == null) return { items: [], want: [] }
          this.stats.served++
          if (message.items.length > 0) {
            handlers.merge(message.items, conn.remotePeer)
            this.stats.itemsReceived += message.items.length
            return { items: [], want: [] }
          }
          const { items, want } = handlers.compare(message.digest, conn.remotePeer)
          this.stats.itemsSent += items.length
          return { items, want }
        },
        err => { this.refusals.count(/^invalid votes request/.test(err.message) ? 'invalid' : streamErrorReason(err)); this.log('serving votes exchange failed: %s', err.message) })
    } finally {
      this.inFlight--
    }
  }
}

export function votesAntiEntropy (init: { network: string }): (components: VotesProtocolComponents) => VotesProtocol {
  return (components) => new VotesProtocol(components, init)
}
