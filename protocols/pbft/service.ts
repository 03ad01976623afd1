/**
 * Moves pBFT frames between nodes: one long-lived outbound stream per peer, fed from a bounded queue
 * (oldest dropped when full: pBFT retransmits what matters), and an inbound handler that reads frames
 * until the stream ends. It knows nothing of pBFT itself: the runtime decodes, verifies and steps.
 */
import { serviceCapabilities } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { PbftFrame } from './pbft.js'
import { pbftDialTimeoutMs, pbftFrameBytesMax, pbftProtocol, pbftSendQueueMax, pbftStreamsMax } from './constants.js'

export interface PbftTransportInit {
  network: string
  onFrame: (frame: PbftFrame, from: PeerId) => void
}

export interface PbftTransportComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

interface Outbox {
  peer: PeerId
  queue: Uint8Array[]
  writing: boolean
  stream?: ReturnType<typeof lpStream<Stream>>
  raw?: Stream
}

export class PbftTransport implements Startable {
  readonly protocol: string
  readonly stats = { framesSent: 0, framesReceived: 0, framesDropped: 0, streamErrors: 0 }
  private readonly log: Logger
  private readonly outboxes = new Map<string, Outbox>()
  private running = false

  constructor (private readonly components: PbftTransportComponents, private readonly init: PbftTransportInit) {
    this.protocol = pbftProtocol(init.network)
    this.log = components.logger.forComponent('mesh:pbft')
  }

  readonly [Symbol.toStringTag] = 'mesh:pbft'
  readonly [serviceCapabilities] = ['mesh:pbft']

  async start (): Promise<void> {
    this.running = true
    await this.components.registrar.handle(this.protocol, (stream, connection) => { void this.serve(stream, connection) }, {
      maxInboundStreams: pbftStreamsMax,
      maxOutboundStreams: pbftStreamsMax
    })
  }

  async stop (): Promise<void> {
    this.running = false
    for (const outbox of this.outboxes.values()) outbox.raw?.abort(new Error('stopping'))
    this.outboxes.clear()
    await this.components.registrar.unhandle(this.protocol)
  }

  /** Queue a frame for `peer`; never blocks, never throws. */
  send (peer: PeerId, frame: PbftFrame): void {
    if (!this.running) return
    const key = peer.toString()
    let outbox = this.outboxes.get(key)
    if (outbox == null) {
      outbox = { peer, queue: [], writing: false }
      this.outboxes.set(key, outbox)
    }
    outbox.queue.push(PbftFrame.encode(frame))
    if (outbox.queue.length > pbftSendQueueMax) {
      outbox.queue.shift()
      this.stats.framesDropped++
    }
    if (!outbox.writing) void this.flush(outbox)
  }

  private async flush (outbox: Outbox): Promise<void> {
    outbox.writing = true
    try {
      while (outbox.queue.length > 0 && this.running) {
        if (outbox.stream == null) {
          let raw: Stream
          try {
            raw = await this.components.connectionManager.openStream(outbox.peer, this.protocol, { signal: AbortSignal.timeout(pbftDialTimeoutMs) })
          } catch (err) {
            // the peer is unreachable (down, restarting, cut off): what waited for it is stale by the
            // time it is back; it catches up from STATUS beacons and FETCH-LOG instead of a backlog
            this.stats.framesDropped += outbox.queue.length
            outbox.queue = []
            throw err
          }
          outbox.raw = raw
          outbox.stream = lpStream(raw, { maxDataLength: pbftFrameBytesMax })
        }
        const frames = outbox.queue.splice(0, outbox.queue.length)
        await outbox.stream.writeV(frames, { signal: AbortSignal.timeout(pbftDialTimeoutMs) })
        this.stats.framesSent += frames.length
      }
    } catch (err) {
      this.stats.streamErrors++
      this.log('stream to %p failed: %s', outbox.peer, (err as Error).message)
      outbox.raw?.abort(err instanceof Error ? err : new Error(String(err)))
      outbox.stream = undefined
      outbox.raw = undefined
      // what was in flight is lost; pBFT's retransmission recovers it
    } finally {
      outbox.writing = false
    }
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const frames = lpStream(stream, { maxDataLength: pbftFrameBytesMax })
    try {
      for (;;) {
        const bytes = await frames.read()
        let frame: PbftFrame
        try {
          frame = PbftFrame.decode(bytes)
        } catch {
          this.stats.framesDropped++
          continue
        }
        this.stats.framesReceived++
        this.init.onFrame(frame, connection.remotePeer)
      }
    } catch (err) {
      // end of stream, reset, or an oversize frame: drop the stream; the sender reconnects
      if ((err as Error).name !== 'UnexpectedEOFError') this.log('inbound stream from %p ended: %s', connection.remotePeer, (err as Error).message)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }
}

export function pbftTransport (init: PbftTransportInit): (components: PbftTransportComponents) => PbftTransport {
  return (components) => new PbftTransport(components, init)
}
