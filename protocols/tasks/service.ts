/**
 * The task-distribution protocols: `/mesh/<network>/auction/1.0.0` (call for bids → bid; award notice
 * → ack) and `/mesh/<network>/steal/1.0.0` (steal request → the ids the victim moved). One stream per
 * exchange, protobuf, every wait bounded by an AbortSignal. The node's task runtime
 * (src/runtime/tasks/tasks.ts) answers through `setHandlers`; until it does, calls get a refusal.
 */
import { RefusalCounter, streamErrorReason } from '../shared/refusals.js' // [fuzz]
import { serviceCapabilities } from '@libp2p/interface'
import type { ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { AuctionRequest, AuctionResponse, StealRequest, StealResponse } from './tasks.js'
import type { AwardNotice, Bid, CallForBids } from './tasks.js'
import { RequestPool, request, respond } from '../shared/request-response.js'
import {
  auctionBatchMax, auctionProtocol, bidDeadlineMsMax, stealProtocol, stealTasksMax, stealTimeoutMs, taskMessageBytesMax, taskStreamsMax
} from './constants.js'

export interface TaskProtocolHandlers {
  /** Answer a call for bids (from memory: quickly). */
  bid: (call: CallForBids, from: PeerId) => Bid
  /** An auction we bid in was decided. */
  award: (notice: AwardNotice, from: PeerId) => void
  /** Give the thief up to `maxTasks` queued tasks: commit each move, then answer with the ids. */
  steal: (req: StealRequest, from: PeerId, signal: AbortSignal) => Promise<StealResponse>
}

export interface TaskProtocolComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

const auctionCodecs = { request: AuctionRequest, response: AuctionResponse }
const stealCodecs = { request: StealRequest, response: StealResponse }

export class TaskProtocols implements Startable {
  readonly auction: string
  readonly steal: string
  readonly stats = { callsServed: 0, batchesServed: 0, awardsServed: 0, stealsServed: 0, requestFailures: 0 }
  /** [fuzz] Inbound requests refused, by reason (protocols/shared/refusals.ts). */
  readonly refusals = new RefusalCounter()
  private readonly log: Logger
  /** Reused streams for requests (see RequestPool): a store, fetch or bid per task would otherwise open a stream each. */
  private pool: RequestPool
  private handlers: TaskProtocolHandlers | null = null

  constructor (private readonly components: TaskProtocolComponents, init: { network: string }) {
    this.pool = new RequestPool(components.connectionManager)
    this.auction = auctionProtocol(init.network)
    this.steal = stealProtocol(init.network)
    this.log = components.logger.forComponent('mesh:tasks')
  }

  readonly [Symbol.toStringTag] = 'mesh:tasks'
  readonly [serviceCapabilities] = ['mesh:tasks']

  setHandlers (handlers: TaskProtocolHandlers | null): void {
    this.handlers = handlers
  }

  async start (): Promise<void> {
    const limits = { maxInboundStreams: taskStreamsMax, maxOutboundStreams: taskStreamsMax }
    await this.components.registrar.handle(this.auction, (stream, connection) => { void this.serveAuction(stream, connection) }, limits)
    await this.components.registrar.handle(this.steal, (stream, connection) => { void this.serveSteal(stream, connection) }, limits)
  }

  async stop (): Promise<void> {
    this.pool.close()
    await this.components.registrar.unhandle(this.auction)
    await this.components.registrar.unhandle(this.steal)
  }

  /**
   * Ask `peer` for a bid on each of `calls` (≤ auctionBatchMax) in one exchange; answers in the same
   * order, null where there is no bid (no answer in time, or an answer of the wrong shape).
   */
  async callForBids (peer: PeerId, calls: CallForBids[]): Promise<Array<Bid | null>> {
    if (calls.length === 0) return []
    if (calls.length > auctionBatchMax) throw new RangeError(`at most ${auctionBatchMax} calls per batch`)
    const deadline = Math.min(Math.max(Math.max(...calls.map(c => c.deadlineMs)), 50), bidDeadlineMsMax)
    try {
      const response = await this.pool.request(peer, this.auction, { calls, awards: [] }, auctionCodecs,
        { signal: AbortSignal.timeout(deadline), maxDataLength: taskMessageBytesMax })
      if (response.bids.length !== calls.length) {
        this.log('%p answered %d bids to %d calls: ignored', peer, response.bids.length, calls.length)
        return calls.map(() => null)
      }
      return response.bids
    } catch (err) {
      this.stats.requestFailures++
      this.log('no bids from %p for %d calls: %s', peer, calls.length, (err as Error).message)
      return calls.map(() => null)
    }
  }

  /** Tell a bidder how several auctions went, in one exchange (best effort). */
  async notifyAwards (peer: PeerId, awards: AwardNotice[]): Promise<void> {
    for (let i = 0; i < awards.length; i += auctionBatchMax) {
      try {
        await this.pool.request(peer, this.auction, { calls: [], awards: awards.slice(i, i + auctionBatchMax) }, auctionCodecs,
          { signal: AbortSignal.timeout(2_000), maxDataLength: taskMessageBytesMax })
      } catch (err) {
        this.stats.requestFailures++
        this.log('award notices to %p failed: %s', peer, (err as Error).message)
        return
      }
    }
  }

  /** Ask `victim` for queued tasks; resolves with the ids it moved to us (empty on any failure). */
  async requestSteal (victim: PeerId, req: StealRequest): Promise<StealResponse> {
    try {
      return await request(this.components.connectionManager, victim, this.steal, { ...req, maxTasks: Math.min(req.maxTasks, stealTasksMax) }, stealCodecs,
        { signal: AbortSignal.timeout(stealTimeoutMs), maxDataLength: taskMessageBytesMax })
    } catch (err) {
      this.stats.requestFailures++
      return { taskIds: [], reason: `no answer: ${(err as Error).message}` }
    }
  }

  private async serveAuction (stream: Stream, connection: Connection): Promise<void> {
    await respond(stream, connection, auctionCodecs, { timeoutMs: bidDeadlineMsMax, maxDataLength: taskMessageBytesMax },
      async (message) => {
        const handlers = this.handlers
        if (message.calls.length > 0) {
          this.stats.batchesServed++
          // too many: answered with nothing, which the caller counts as no bids
          if (message.calls.length > auctionBatchMax) return { acknowledged: false, bids: [] }
          this.stats.callsServed += message.calls.length
          const bids = message.calls.map(call => handlers == null ? refusal('this node takes no tasks (no consensus network)') : handlers.bid(call, connection.remotePeer))
          return { acknowledged: false, bids }
        }
        if (message.awards.length > 0) {
          if (message.awards.length > auctionBatchMax) return { acknowledged: false, bids: [] }
          this.stats.awardsServed += message.awards.length
          for (const award of message.awards) handlers?.award(award, connection.remotePeer)
          return { acknowledged: true, bids: [] }
        }
        if (message.call != null) {
          this.stats.callsServed++
          if (handlers == null) return { bid: refusal('this node takes no tasks (no consensus network)'), acknowledged: false, bids: [] }
          return { bid: handlers.bid(message.call, connection.remotePeer), acknowledged: false, bids: [] }
        }
        if (message.award != null) {
          this.stats.awardsServed++
          handlers?.award(message.award, connection.remotePeer)
          return { acknowledged: true, bids: [] }
        }
        return { acknowledged: false, bids: [] }
      },
      err => { this.refusals.count(`auction-${streamErrorReason(err)}`); this.log('serving an auction message to %p failed: %s', connection.remotePeer, err.message) })
  }

  private async serveSteal (stream: Stream, connection: Connection): Promise<void> {
    await respond(stream, connection, stealCodecs, { timeoutMs: stealTimeoutMs, maxDataLength: taskMessageBytesMax },
      async (message, conn, signal) => {
        this.stats.stealsServed++
        const handlers = this.handlers
        if (handlers == null) return { taskIds: [], reason: 'this node takes no tasks' }
        return await handlers.steal({ ...message, maxTasks: Math.min(message.maxTasks, stealTasksMax) }, conn.remotePeer, signal)
      },
      err => { this.refusals.count(`steal-${streamErrorReason(err)}`); this.log('serving a steal request to %p failed: %s', connection.remotePeer, err.message) })
  }
}

function refusal (reason: string): Bid {
  return { accept: false, reason, match: 0, queued: 0, running: 0, capacity: 0, cpu: 0 }
}

export function taskProtocols (init: { network: string }): (components: TaskProtocolComponents) => TaskProtocols {
  return (components) => new TaskProtocols(components, init)
}
