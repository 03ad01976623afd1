/**
 * Task records: `/mesh/<network>/records/1.0.0`. `Store { key, value, kind }` → `Ack`, `Fetch { key }`
 * → `Record { found, value }` (`presenceOnly`: found alone), `stores: [Store…]` (2..64) → `acks: [Ack…]`
 * in order; one request at a time per (pooled) stream, protobuf, every wait bounded by an
 * AbortSignal, inbound streams bounded per connection and in total. The wire checks (key, kind,
 * size, JSON) happen here, before the node's record store (src/runtime/tasks/records.ts) sees a message;
 * the store answers through `setHandlers`, and until it does every request is refused / not found.
 */
import { RefusalCounter, streamErrorReason } from '../shared/refusals.js' // [fuzz]
import { serviceCapabilities } from '@libp2p/interface'
import type { ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { Ack, RecordRequest, RecordResponse } from './records.js'
import type { Store } from './records.js'
import { RequestPool, respond } from '../shared/request-response.js'
import {
  checkRecord, parseRecordKey, recordBatchBytesMax, recordBatchStoresMax, recordInboundMax, recordMessageBytesMax, recordRequestTimeoutMs, recordServeTimeoutMs,
  recordStreamsMax, recordsProtocol
} from './constants.js'

export interface RecordStoreHandlers {
  /** Keep a checked record (key, kind, size and JSON are valid): STORED, ALREADY_HELD, CONFLICT or REFUSED. */
  store: (store: Store, from: PeerId) => Ack
  /** The value held for a (valid) key, or null. */
  fetch: (key: string, from: PeerId) => Uint8Array<ArrayBuffer> | null
}

export interface RecordStoreProtocolComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

const codecs = { request: RecordRequest, response: RecordResponse }

export class RecordStoreProtocol implements Startable {
  readonly protocol: string
  readonly stats = { storesServed: 0, fetchesServed: 0, busyRefused: 0, requestFailures: 0 }
  /** [fuzz] Inbound requests refused, by reason (protocols/shared/refusals.ts). */
  readonly refusals = new RefusalCounter()
  private readonly log: Logger
  /** Reused streams for requests (see RequestPool): a store, fetch or bid per task would otherwise open a stream each. */
  private pool: RequestPool
  private handlers: RecordStoreHandlers | null = null
  private inFlight = 0

  constructor (private readonly components: RecordStoreProtocolComponents, init: { network: string }) {
    this.pool = new RequestPool(components.connectionManager)
    this.protocol = recordsProtocol(init.network)
    this.log = components.logger.forComponent('mesh:records')
  }

  readonly [Symbol.toStringTag] = 'mesh:records'
  readonly [serviceCapabilities] = ['mesh:records']

  setHandlers (handlers: RecordStoreHandlers | null): void {
    this.handlers = handlers
  }

  async start (): Promise<void> {
    await this.components.registrar.handle(this.protocol, (stream, connection) => { void this.serve(stream, connection) }, {
      maxInboundStreams: recordStreamsMax,
      maxOutboundStreams: recordStreamsMax
    })
  }

  async stop (): Promise<void> {
    this.pool.close()
    await this.components.registrar.unhandle(this.protocol)
  }

  /** Ask `peer` to keep a record. Rejects when it does not answer (timeout, reset, unreachable). */
  async store (peer: PeerId, store: Store, signal: AbortSignal = AbortSignal.timeout(recordRequestTimeoutMs)): Promise<Ack> {
    try {
      const response = await this.pool.request(peer, this.protocol, { store, stores: [] }, codecs,
        { signal, maxDataLength: recordMessageBytesMax })
      if (response.ack == null) throw new Error('answer to a store carries no ack')
      return response.ack
    } catch (err) {
      this.stats.requestFailures++
      this.log('store of %s on %p failed: %s', store.key, peer, (err as Error).message)
      throw err
    }
  }

  /**
   * Ask `peer` to keep several records in one exchange (2..recordBatchStoresMax, values ≤
   * recordBatchBytesMax in all): one ack per store, in order. Rejects with `StoreBatchUnsupportedError`
   * when the peer answered without one ack per store (a node that predates batches): send them singly.
   */
  async storeMany (peer: PeerId, stores: Store[], signal: AbortSignal = AbortSignal.timeout(recordRequestTimeoutMs)): Promise<Ack[]> {
    if (stores.length < 2 || stores.length > recordBatchStoresMax) throw new RangeError(`a batch carries 2..${recordBatchStoresMax} stores, not ${stores.length}`)
    const bytes = stores.reduce((sum, s) => sum + s.value.byteLength, 0)
    if (bytes > recordBatchBytesMax) throw new RangeError(`a batch carries at most ${recordBatchBytesMax} value bytes, not ${bytes}`)
    try {
      const response = await this.pool.request(peer, this.protocol, { stores }, codecs,
        { signal, maxDataLength: recordMessageBytesMax })
      if (response.acks.length !== stores.length) throw new StoreBatchUnsupportedError(`${response.acks.length} acks for ${stores.length} stores`)
      return response.acks
    } catch (err) {
      this.stats.requestFailures++
      this.log('batch of %d stores on %p failed: %s', stores.length, peer, (err as Error).message)
      throw err
    }
  }

  /**
   * Ask `peer` for the value of `key`: the bytes, or null when it holds none. Rejects when it does not
   * answer. The caller checks the value (it comes from another node).
   */
  async fetch (peer: PeerId, key: string, signal: AbortSignal = AbortSignal.timeout(recordRequestTimeoutMs)): Promise<Uint8Array | null> {
    try {
      const response = await this.pool.request(peer, this.protocol, { fetch: { key, presenceOnly: false }, stores: [] }, codecs,
        { signal, maxDataLength: recordMessageBytesMax })
      if (response.record == null) throw new Error('answer to a fetch carries no record')
      return response.record.found ? response.record.value : null
    } catch (err) {
      this.stats.requestFailures++
      this.log('fetch of %s from %p failed: %s', key, peer, (err as Error).message)
      throw err
    }
  }

  /** Whether `peer` holds `key` (a Fetch without the value). Rejects when it does not answer. */
  async has (peer: PeerId, key: string, signal: AbortSignal = AbortSignal.timeout(recordRequestTimeoutMs)): Promise<boolean> {
    try {
      const response = await this.pool.request(peer, this.protocol, { fetch: { key, presenceOnly: true }, stores: [] }, codecs,
        { signal, maxDataLength: recordMessageBytesMax })
      if (response.record == null) throw new Error('answer to a fetch carries no record')
      return response.record.found
    } catch (err) {
      this.stats.requestFailures++
      this.log('presence check of %s on %p failed: %s', key, peer, (err as Error).message)
      throw err
    }
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    if (this.inFlight >= recordInboundMax) {
      this.stats.busyRefused++
      this.refusals.count('busy') // [fuzz]
      stream.abort(new Error('too many record exchanges in flight'))
      return
    }
    this.inFlight++
    try {
      await respond(stream, connection, codecs, { timeoutMs: recordServeTimeoutMs, maxDataLength: recordMessageBytesMax },
        async (message, conn) => {
          const handlers = this.handlers
          if (message.stores.length > 0) {
            // a batch: bounded like one message (count and value bytes), each store checked on its own
            const bytes = message.stores.reduce((sum, s) => sum + s.value.byteLength, 0)
            if (message.store != null || message.fetch != null || message.stores.length < 2 || message.stores.length > recordBatchStoresMax || bytes > recordBatchBytesMax) {
              return { ack: { outcome: Ack.Outcome.INVALID, error: `a batch carries 2..${recordBatchStoresMax} stores and at most ${recordBatchBytesMax} value bytes, alone` }, acks: [] }
            }
            this.stats.storesServed += message.stores.length
            return {
              acks: message.stores.map(store => {
                const problem = checkRecord(store.key, store.kind, store.value)
                if (problem != null) return { outcome: problem.problem === 'too-large' ? Ack.Outcome.TOO_LARGE : Ack.Outcome.INVALID, error: problem.message }
                if (handlers == null) return { outcome: Ack.Outcome.REFUSED, error: 'this node keeps no records' }
                return handlers.store(store, conn.remotePeer)
              })
            }
          }
          if (message.store != null) {
            this.stats.storesServed++
            const store = message.store
            const problem = checkRecord(store.key, store.kind, store.value)
            if (problem != null) {
              return { ack: { outcome: problem.problem === 'too-large' ? Ack.Outcome.TOO_LARGE : Ack.Outcome.INVALID, error: problem.message }, acks: [] }
            }
            if (handlers == null) return { ack: { outcome: Ack.Outcome.REFUSED, error: 'this node keeps no records' }, acks: [] }
            return { ack: handlers.store(store, conn.remotePeer), acks: [] }
          }
          if (message.fetch != null) {
            this.stats.fetchesServed++
            const key = message.fetch.key
            const value = parseRecordKey(key) != null ? handlers?.fetch(key, conn.remotePeer) ?? null : null
            if (value == null) return { record: { found: false, value: new Uint8Array(0) }, acks: [] }
            return { record: { found: true, value: message.fetch.presenceOnly ? new Uint8Array(0) : value }, acks: [] }
          }
          return { ack: { outcome: Ack.Outcome.INVALID, error: 'neither store nor fetch' }, acks: [] }
        },
        err => { this.refusals.count(streamErrorReason(err)); this.log('serving a record exchange to %p failed: %s', connection.remotePeer, err.message) })
    } finally {
      this.inFlight--
    }
  }
}

/** The peer answered a batch of stores without one ack per store (it predates batches). */
export class StoreBatchUnsupportedError extends Error {
  override readonly name = 'StoreBatchUnsupportedError'
}

export function recordStoreProtocol (init: { network: string }): (components: RecordStoreProtocolComponents) => RecordStoreProtocol {
  return (components) => new RecordStoreProtocol(components, init)
}
