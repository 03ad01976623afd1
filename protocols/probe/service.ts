/**
 * Indirect probing: "can you reach <target>?". A node that suspects a member asks up to 3 others to
 * ping it directly; their answers confirm or refute the suspicion (see src/core/membership.ts).
 */
import { serviceCapabilities } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { ProbeRequest, ProbeResponse } from './probe.js'
import { request, respond } from '../shared/request-response.js'
import { probeMessageBytesMax, probeProtocol, probeStreamsMax, probeTimeoutMsDefault, probeTimeoutMsMax } from './constants.js'
import { RefusalCounter, streamErrorReason } from '../shared/refusals.js' // [fuzz]

export interface ProbeInit {
  network: string
  /** Ping `target` directly; resolves to the RTT in ms, rejects when unreachable. */
  ping: (target: PeerId, signal: AbortSignal) => Promise<number>
}

export interface ProbeComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

export interface ProbeOutcome {
  reachable: boolean
  rttMs?: number
  error?: string
}

const codecs = { request: ProbeRequest, response: ProbeResponse }

export class Probe implements Startable {
  readonly protocol: string
  readonly stats = { served: 0, requested: 0, failures: 0 }
  /** [fuzz] Inbound requests refused, by reason (protocols/shared/refusals.ts). */
  readonly refusals = new RefusalCounter()
  private readonly log: Logger

  constructor (private readonly components: ProbeComponents, private readonly init: ProbeInit) {
    this.protocol = probeProtocol(init.network)
    this.log = components.logger.forComponent('mesh:probe')
  }

  readonly [Symbol.toStringTag] = 'mesh:probe'
  readonly [serviceCapabilities] = ['mesh:probe']

  async start (): Promise<void> {
    await this.components.registrar.handle(this.protocol, (stream, connection) => { void this.serve(stream, connection) }, {
      maxInboundStreams: probeStreamsMax,
      maxOutboundStreams: probeStreamsMax
    })
  }

  async stop (): Promise<void> {
    await this.components.registrar.unhandle(this.protocol)
  }

  /** Ping `target` ourselves. Never throws. */
  async probeDirect (target: PeerId, timeoutMs: number): Promise<ProbeOutcome> {
    try {
      const rttMs = await this.init.ping(target, AbortSignal.timeout(Math.min(timeoutMs, probeTimeoutMsMax)))
      return { reachable: true, rttMs }
    } catch (err) {
      return { reachable: false, error: (err as Error).message }
    }
  }

  /**
   * Ask `helper` whether it can reach `target`. Resolves to null when the helper itself does not answer
   * (it may be down, or on the other side of a partition): that is no evidence either way.
   */
  async askHelper (helper: PeerId, target: PeerId, timeoutMs: number = probeTimeoutMsDefault): Promise<ProbeOutcome | null> {
    this.stats.requested++
    const helperTimeoutMs = Math.min(timeoutMs, probeTimeoutMsMax)
    try {
      const response = await request(this.components.connectionManager, helper, this.protocol,
        { target: target.toString(), timeoutMs: helperTimeoutMs }, codecs,
        // the helper's own ping may take helperTimeoutMs; allow for the round trip to it on top
        { signal: AbortSignal.timeout(helperTimeoutMs + 2_000), maxDataLength: probeMessageBytesMax })
      return response.reachable
        ? { reachable: true, rttMs: response.rttMicros / 1000 }
        : { reachable: false, error: response.error }
    } catch (err) {
      this.stats.failures++
      this.log('helper %p did not answer about %p: %s', helper, target, (err as Error).message)
      return null
    }
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    await respond(stream, connection, codecs, { timeoutMs: probeTimeoutMsMax + 1_000, maxDataLength: probeMessageBytesMax },
      async (message) => {
        this.stats.served++
        let target: PeerId
        try {
          target = peerIdFromString(message.target)
        } catch {
          return { reachable: false, rttMicros: 0, error: 'bad target PeerId' }
        }
        const timeoutMs = message.timeoutMs > 0 ? Math.min(message.timeoutMs, probeTimeoutMsMax) : probeTimeoutMsDefault
        const outcome = await this.probeDirect(target, timeoutMs)
        return outcome.reachable
          ? { reachable: true, rttMicros: Math.round((outcome.rttMs ?? 0) * 1000), error: '' }
          : { reachable: false, rttMicros: 0, error: (outcome.error ?? 'unreachable').slice(0, 200) }
      },
      err => { this.refusals.count(streamErrorReason(err)); this.log('serving probe to %p failed: %s', connection.remotePeer, err.message) })
  }
}

export function probe (init: ProbeInit): (components: ProbeComponents) => Probe {
  return (components) => new Probe(components, init)
}
