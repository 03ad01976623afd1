/**
 * [founding] /mesh/<network>/genesis/1.0.0: a joiner asks a peer for the network's genesis.json
 * (src/runtime/founding.ts). Every node serves it: its genesis (validators, members, observers alike),
 * NONE without one (a gossip-only node), or CANDIDATE while it is a founding candidate waiting out its
 * mDNS grace. The asker validates every byte (protocols/genesis/codec.ts).
 */
import { serviceCapabilities } from '@libp2p/interface'
import type { ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Genesis } from '../../src/runtime/consensus/genesis.js'
import { GenesisRequest, GenesisResponse } from './genesis.js'
import { decodeAnswer, encodeAnswer } from './codec.js'
import type { GenesisAnswer } from './codec.js'
import { pbStream } from '@libp2p/utils'
import { respond } from '../shared/request-response.js'
import { genesisMessageBytesMax, genesisProtocol, genesisRequestBytesMax, genesisStreamsMax, genesisTimeoutMs } from './constants.js'
import { RefusalCounter, streamErrorReason } from '../shared/refusals.js'

/** What this node answers: its genesis, none, or (pre-flight only) candidate. */
export type GenesisServed = { status: 'none' } | { status: 'candidate' } | { status: 'genesis', genesis: Genesis }

export interface GenesisExchangeInit {
  network: string
  /** What to answer now (called per request). Absent: NONE. */
  answer?: () => GenesisServed
  /** Each request served: the asker, and whether it says it is a founding candidate. */
  onRequest?: (peer: string, candidate: boolean) => void
}

export interface GenesisExchangeComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

const codecs = { request: GenesisRequest, response: GenesisResponse }

export class GenesisExchange implements Startable {
  readonly protocol: string
  readonly stats = { served: 0, requested: 0, failures: 0 }
  /** Inbound requests refused, by reason (protocols/shared/refusals.ts). */
  readonly refusals = new RefusalCounter()
  private readonly log: Logger

  constructor (private readonly components: GenesisExchangeComponents, private readonly init: GenesisExchangeInit) {
    this.protocol = genesisProtocol(init.network)
    this.log = components.logger.forComponent('mesh:genesis')
  }

  readonly [Symbol.toStringTag] = 'mesh:genesis'
  readonly [serviceCapabilities] = ['mesh:genesis']

  async start (): Promise<void> {
    await this.components.registrar.handle(this.protocol, (stream, connection) => { void this.serve(stream, connection) }, {
      maxInboundStreams: genesisStreamsMax,
      maxOutboundStreams: genesisStreamsMax
    })
  }

  async stop (): Promise<void> {
    await this.components.registrar.unhandle(this.protocol)
  }

  /**
   * Ask `peer` (a PeerId it is connected to or knows addresses of, or a multiaddr ending in /p2p/…) for
   * the genesis. Rejects on a network failure, a timeout or an invalid answer (GenesisAnswerError).
   */
  async ask (peer: PeerId | Multiaddr, options: { candidate?: boolean, signal?: AbortSignal } = {}): Promise<GenesisAnswer> {
    this.stats.requested++
    const signal = options.signal ?? AbortSignal.timeout(genesisTimeoutMs)
    try {
      const stream = await this.components.connectionManager.openStream(peer, this.protocol, { signal })
      let response: GenesisResponse
      try {
        const messages = pbStream(stream, { maxDataLength: genesisMessageBytesMax })
        await messages.write({ network: this.init.network, candidate: options.candidate === true }, GenesisRequest, { signal })
        response = await messages.read(GenesisResponse, { signal })
        await stream.close({ signal })
      } catch (err) {
        stream.abort(err instanceof Error ? err : new Error(String(err)))
        throw err
      }
      return decodeAnswer(response, this.init.network)
    } catch (err) {
      this.stats.failures++
      throw err
    }
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    await respond(stream, connection, codecs, { timeoutMs: genesisTimeoutMs, maxDataLength: genesisRequestBytesMax },
      async (message) => {
        this.stats.served++
        this.init.onRequest?.(connection.remotePeer.toString(), message.candidate)
        // the protocol id carries the network already; an asker that names another one gets nothing
        if (message.network !== this.init.network) return encodeAnswer({ status: 'none' })
        return encodeAnswer(this.init.answer?.() ?? { status: 'none' })
      },
      err => { this.refusals.count(streamErrorReason(err)); this.log('serving the genesis to %p failed: %s', connection.remotePeer, err.message) })
  }
}

export function genesisExchange (init: GenesisExchangeInit): (components: GenesisExchangeComponents) => GenesisExchange {
  return (components) => new GenesisExchange(components, init)
}
