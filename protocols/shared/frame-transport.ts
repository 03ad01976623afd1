/**
 * Moves consensus frames between nodes (pBFT's and Raft's, protocols/pbft and protocols/raft): one
 * long-lived outbound stream per peer, fed from a bounded queue (oldest dropped when full: both
 * protocols retransmit what matters), and an inbound handler that reads frames until the stream ends.
 * It knows nothing of either protocol: the runtime decodes, validates and steps. A frame is the shared
 * envelope (frame.proto): the protocol's kind number and its body; kinds 5 and 6 are the transport's.
 *
 * Frames larger than pbftChunkBytes (a STATE snapshot, an observer's catch-up) travel in chunks
 * (chunking.ts, protocols/README.md): a CHUNK_MANIFEST with the SHA-256 of every chunk, then the chunks,
 * interleaved with small frames so protocol messages do not wait behind a state transfer. The receiver
 * checks every chunk as it arrives, drops the transfer (and resets the stream) on the first bad one,
 * and hands the reassembled frame to `onFrame` exactly as if it had arrived whole.
 */
import { serviceCapabilities } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { Frame } from './frame.js'
import {
  pbftChunkBytes, pbftChunksPerTransferMax, pbftDialTimeoutMs, pbftFrameBytesMax, pbftLargeFramesQueuedMax,
  pbftReassembledBytesMax, pbftReassemblyBytesMax, pbftSendQueueMax, pbftStreamsMax, pbftTransferIdleTimeoutMs, pbftWriteTimeoutMs
} from '../pbft/constants.js'
import { equalBytes, Reassembly, splitFrame } from './chunking.js'
import type { TransferDropReason } from './chunking.js'
import { admitMessage, holdBack } from './admission.js' // [admission]

/** Frame kinds the transport reserves (frame.proto: 5, 6 chunking, 7, 8 echo; PbftFrame and RaftFrame use 0-4). */
export const frameKindChunkManifest = 5
export const frameKindChunk = 6
/**
 * Transport echo (kinds 7 and 8): a request the receiving transport answers at once on its own
 * long-lived stream back, never handed to the protocol. It measures the request/response round trip
 * between two nodes over the very streams consensus frames use (the floor of a commit's latency).
 */
export const frameKindEcho = 7
export const frameKindEchoReply = 8
/** Echoes awaiting their reply at once (beyond it `echo` refuses). */
export const echoesPendingMax = 64
const reservedKinds = new Set([frameKindChunkManifest, frameKindChunk, frameKindEcho, frameKindEchoReply])

/** A frame as the protocols see it: their kind number (never 5 or 6) and the body. */
export interface PlainFrame {
  kind: number
  body: Uint8Array
}

export interface FrameTransportInit {
  /** The protocol id, e.g. /mesh/<network>/raft/1.0.0. */
  protocol: string
  /** Logger component, e.g. 'mesh:raft'. */
  component: string
  onFrame: (frame: PlainFrame, from: PeerId) => void
  /** Tests only: a shorter idle timeout for unfinished transfers. @default pbftTransferIdleTimeoutMs */
  transferIdleTimeoutMs?: number
  /** Tests only: a smaller total reassembly bound. @default pbftReassemblyBytesMax */
  reassemblyBytesMax?: number
}

export interface FrameTransportComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

/** A large frame being sent: its manifest frame first, then one CHUNK frame per chunk. */
interface OutgoingTransfer {
  encoded: Uint8Array
  pieces: Array<() => Uint8Array>
  next: number
}

interface Outbox {
  peer: PeerId
  queue: Uint8Array[]
  /** Large frames waiting behind `current` (at most pbftLargeFramesQueuedMax). */
  large: Uint8Array[]
  current: OutgoingTransfer | null
  writing: boolean
  /** A flush is due in a microtask (see scheduleFlush). */
  flushScheduled?: boolean
  raw?: Stream
}

export interface FrameTransportStats {
  framesSent: number
  framesReceived: number
  framesDropped: number
  streamErrors: number
  /** Writes that found the stream full (`send` returned false) and waited for it to drain. */
  drainWaits: number
  /** Large frames sent whole in chunks / received and reassembled. */
  transfersSent: number
  transfersReceived: number
  chunksSent: number
  chunksReceived: number
  /** Large frames not queued because an identical one was in flight or waiting. */
  transfersDeduplicated: number
  /** Transfers refused or dropped by the receiving side, by reason. */
  transfersDropped: Partial<Record<TransferDropReason, number>>
}

export class FrameTransport implements Startable {
  readonly protocol: string
  readonly stats: FrameTransportStats = {
    framesSent: 0,
    framesReceived: 0,
    framesDropped: 0,
    streamErrors: 0,
    drainWaits: 0,
    transfersSent: 0,
    transfersReceived: 0,
    chunksSent: 0,
    chunksReceived: 0,
    transfersDeduplicated: 0,
    transfersDropped: {}
  }

  private readonly log: Logger
  private readonly outboxes = new Map<string, Outbox>()
  private readonly reassembly: Reassembly<Stream>
  private readonly idleTimers = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly transferIdleTimeoutMs: number
  private nextTransferId = 1n
  private nextEchoId = 1
  private readonly echoes = new Map<number, { resolve: (receivedMs: number) => void, timer: ReturnType<typeof setTimeout> }>()
  private running = false

  constructor (private readonly components: FrameTransportComponents, private readonly init: FrameTransportInit) {
    this.protocol = init.protocol
    this.log = components.logger.forComponent(init.component)
    this.transferIdleTimeoutMs = init.transferIdleTimeoutMs ?? pbftTransferIdleTimeoutMs
    this.reassembly = new Reassembly<Stream>({ reassemblyBytesMax: init.reassemblyBytesMax ?? pbftReassemblyBytesMax })
  }

  get [Symbol.toStringTag] (): string { return this.init.component }
  get [serviceCapabilities] (): string[] { return [this.init.component] }

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
    for (const timer of this.idleTimers.values()) clearTimeout(timer)
    this.idleTimers.clear()
    for (const waiting of this.echoes.values()) clearTimeout(waiting.timer)
    this.echoes.clear()
    this.reassembly.clear()
    await this.components.registrar.unhandle(this.protocol)
  }

  /** Transfers being reassembled now, and the bytes they reserve. */
  reassemblyStatus (): { transfers: number, bytes: number } {
    return { transfers: this.reassembly.transfersInProgress, bytes: this.reassembly.bytesInProgress }
  }

  /** Queue a frame for `peer`; never blocks, never throws. */
  sendFrame (peer: PeerId, frame: PlainFrame): void {
    if (!this.running) return
    if (reservedKinds.has(frame.kind)) throw new Error(`frame kind ${frame.kind} is reserved for the transport (chunking, echo)`)
    this.queueFrame(peer, frame)
  }

  /**
   * One request/response round trip to `peer` on the long-lived streams (an echo frame out, its reply
   * back), in milliseconds from queueing the request to reading the reply; rejects after `timeoutMs`.
   */
  async echo (peer: PeerId, timeoutMs: number): Promise<number> {
    if (!this.running) throw new Error('transport stopped')
    if (this.echoes.size >= echoesPendingMax) throw new Error(`${echoesPendingMax} echoes already waiting`)
    const id = this.nextEchoId++
    const body = new Uint8Array(8)
    new DataView(body.buffer).setFloat64(0, id)
    const started = performance.now()
    const receivedMs = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => { this.echoes.delete(id); reject(new Error(`no echo reply from ${peer.toString()} within ${timeoutMs} ms`)) }, timeoutMs)
      this.echoes.set(id, { resolve, timer })
      this.queueFrame(peer, { kind: frameKindEcho, body })
    })
    return receivedMs - started
  }

  private queueFrame (peer: PeerId, frame: PlainFrame): void {
    const key = peer.toString()
    let outbox = this.outboxes.get(key)
    if (outbox == null) {
      outbox = { peer, queue: [], large: [], current: null, writing: false }
      this.outboxes.set(key, outbox)
    }
    const encoded = Frame.encode({ kind: frame.kind, body: frame.body as Uint8Array<ArrayBuffer> })
    if (encoded.length <= pbftChunkBytes) {
      outbox.queue.push(encoded)
      if (outbox.queue.length > pbftSendQueueMax) {
        outbox.queue.shift()
        this.stats.framesDropped++
      }
    } else if (encoded.length > pbftReassembledBytesMax) {
      // no receiver would take it: a bug of the caller, not worth a stream
      this.stats.framesDropped++
      this.log.error('frame of %d bytes to %p exceeds %d: dropped', encoded.length, peer, pbftReassembledBytesMax)
      return
    } else {
      if ((outbox.current != null && equalBytes(outbox.current.encoded, encoded)) || outbox.large.some(waiting => equalBytes(waiting, encoded))) {
        this.stats.transfersDeduplicated++
        return
      }
      outbox.large.push(encoded)
      // the one being sent (or next to go, while the stream opens) and at most pbftLargeFramesQueuedMax behind it
      while (outbox.large.length + (outbox.current != null ? 1 : 0) > pbftLargeFramesQueuedMax + 1) {
        outbox.large.splice(outbox.current != null ? 0 : 1, 1)
        this.stats.framesDropped++
      }
    }
    this.scheduleFlush(outbox)
  }

  /**
   * Write what is queued for `outbox` once the current synchronous work is done (a microtask): every
   * frame a caller queues for one peer in one go (a pBFT group's votes, replies, a Raft append round)
   * leaves as ONE stream write, so one yamux frame, one Noise message and one socket write instead of one each.
   */
  private scheduleFlush (outbox: Outbox): void {
    if (outbox.writing || outbox.flushScheduled === true) return
    outbox.flushScheduled = true
    queueMicrotask(() => {
      outbox.flushScheduled = false
      if (!outbox.writing) void this.flush(outbox)
    })
  }

  private startTransfer (encoded: Uint8Array): OutgoingTransfer {
    const transferId = this.nextTransferId++
    const { manifest, chunks } = splitFrame(encoded, transferId)
    const pieces: Array<() => Uint8Array> = [() => Frame.encode({ kind: frameKindChunkManifest, body: new Uint8Array(0), manifest })]
    chunks.forEach((data, index) => {
      pieces.push(() => Frame.encode({ kind: frameKindChunk, body: new Uint8Array(0), chunk: { transferId, index, data: data as Uint8Array<ArrayBuffer> } }))
    })
    return { encoded, pieces, next: 0 }
  }

  private async flush (outbox: Outbox): Promise<void> {
    outbox.writing = true
    try {
      while (this.running && (outbox.queue.length > 0 || outbox.current != null || outbox.large.length > 0)) {
        if (outbox.raw == null) {
          try {
            outbox.raw = await this.components.connectionManager.openStream(outbox.peer, this.protocol, { signal: AbortSignal.timeout(pbftDialTimeoutMs) })
          } catch (err) {
            // the peer is unreachable (down, restarting, cut off): what waited for it is stale by the
            // time it is back; it catches up from STATUS beacons and FETCH-LOG instead of a backlog
            this.stats.framesDropped += outbox.queue.length + outbox.large.length + (outbox.current != null ? 1 : 0)
            outbox.queue = []
            outbox.large = []
            outbox.current = null
            throw err
          }
        }
        const raw = outbox.raw
        // small frames first (protocol messages must not wait behind a state transfer), then one piece
        // of the large frame being sent
        if (outbox.queue.length > 0) {
          const frames = outbox.queue.splice(0, outbox.queue.length)
          if (await writeFrames(raw, frames)) this.stats.drainWaits++
          this.stats.framesSent += frames.length
        }
        if (outbox.current == null) {
          const next = outbox.large.shift()
          if (next != null) outbox.current = this.startTransfer(next)
        }
        const current = outbox.current
        if (current != null) {
          const piece = (current.pieces[current.next] as () => Uint8Array)()
          if (await writeFrames(raw, [piece])) this.stats.drainWaits++
          if (current.next > 0) this.stats.chunksSent++
          current.next++
          if (current.next === current.pieces.length) {
            outbox.current = null
            this.stats.transfersSent++
            this.stats.framesSent++
          }
        }
      }
    } catch (err) {
      this.stats.streamErrors++
      this.log('stream to %p failed: %s', outbox.peer, (err as Error).message)
      outbox.raw?.abort(err instanceof Error ? err : new Error(String(err)))
      outbox.raw = undefined
      // what was in flight is lost (a large frame half sent included); pBFT's retransmission recovers it
      outbox.current = null
    } finally {
      outbox.writing = false
    }
  }

  private countDrop (reason: TransferDropReason): void {
    this.stats.transfersDropped[reason] = (this.stats.transfersDropped[reason] ?? 0) + 1
  }

  private clearIdleTimer (peer: string): void {
    const timer = this.idleTimers.get(peer)
    if (timer != null) clearTimeout(timer)
    this.idleTimers.delete(peer)
  }

  /** (Re)arm the idle timeout of `peer`'s transfer on `stream`: no chunk in time drops it and resets the stream. */
  private armIdleTimer (peer: string, stream: Stream): void {
    this.clearIdleTimer(peer)
    const timer = setTimeout(() => {
      this.idleTimers.delete(peer)
      if (!this.reassembly.drop(peer, stream)) return
      this.countDrop('timeout')
      stream.abort(new Error('chunked transfer timed out'))
    }, this.transferIdleTimeoutMs)
    timer.unref?.()
    this.idleTimers.set(peer, timer)
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    // a whole frame of an older sender may be up to pbftFrameBytesMax: the read buffer must hold it
    const frames = lpStream(stream, { maxDataLength: pbftFrameBytesMax, maxBufferSize: pbftFrameBytesMax + 16 })
    const peer = connection.remotePeer.toString()
    /** Refuse or drop a transfer: counted, and the stream reset so the sender stops sending its chunks. */
    const refuse = (reason: TransferDropReason): void => {
      this.countDrop(reason)
      if (this.reassembly.drop(peer, stream)) this.clearIdleTimer(peer)
      stream.abort(new Error(`chunked transfer dropped: ${reason}`))
    }
    try {
      for (;;) {
        const bytes = await frames.read()
        // [admission] over this peer's frame rate: dropped before decoding (counted by the admission),
        // and the stream held back a while so the sender waits for window instead of flooding on
        if (!admitMessage(stream)) { holdBack(stream); continue }
        let frame: Frame
        try {
          frame = Frame.decode(bytes, { limits: { manifest: { digests: pbftChunksPerTransferMax } } })
        } catch {
          this.stats.framesDropped++
          continue
        }
        if (frame.kind === frameKindChunkManifest) {
          const { refused, superseded } = this.reassembly.begin(peer, stream, frame.manifest)
          if (superseded != null) {
            this.clearIdleTimer(peer)
            this.countDrop('superseded')
            if (superseded !== stream) superseded.abort(new Error('chunked transfer superseded'))
          }
          if (refused != null) { refuse(refused); return }
          this.armIdleTimer(peer, stream)
          continue
        }
        if (frame.kind === frameKindChunk) {
          const outcome = this.reassembly.add(peer, stream, frame.chunk)
          if (outcome.status === 'dropped') { refuse(outcome.reason); return }
          this.stats.chunksReceived++
          if (outcome.status === 'progress') { this.armIdleTimer(peer, stream); continue }
          this.clearIdleTimer(peer)
          let whole: Frame
          try {
            whole = Frame.decode(outcome.bytes)
          } catch {
            refuse('undecodable')
            return
          }
          if (whole.kind === frameKindChunkManifest || whole.kind === frameKindChunk) { refuse('undecodable'); return }
          this.stats.transfersReceived++
          this.stats.framesReceived++
          this.init.onFrame({ kind: whole.kind, body: whole.body }, connection.remotePeer)
          continue
        }
        if (frame.kind === frameKindEcho) {
          if (frame.body.length === 8) this.queueFrame(connection.remotePeer, { kind: frameKindEchoReply, body: frame.body })
          continue
        }
        if (frame.kind === frameKindEchoReply) {
          const receivedMs = performance.now()
          if (frame.body.length !== 8) continue
          const id = new DataView(frame.body.buffer, frame.body.byteOffset, 8).getFloat64(0)
          const waiting = this.echoes.get(id)
          if (waiting != null) { this.echoes.delete(id); clearTimeout(waiting.timer); waiting.resolve(receivedMs) }
          continue
        }
        this.stats.framesReceived++
        this.init.onFrame({ kind: frame.kind, body: frame.body }, connection.remotePeer)
      }
    } catch (err) {
      // end of stream, reset, or an oversize frame: drop the stream; the sender reconnects
      if ((err as Error).name !== 'UnexpectedEOFError') this.log('inbound stream from %p ended: %s', connection.remotePeer, (err as Error).message)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      if (this.reassembly.drop(peer, stream)) {
        this.clearIdleTimer(peer)
        this.countDrop('stream-ended')
      }
    }
  }
}

/**
 * Write length-prefixed frames in one send, respecting backpressure: when `send` returns false, wait for
 * the drain (true when it had to).
 */
async function writeFrames (stream: Stream, frames: Uint8Array[]): Promise<boolean> {
  let total = 0
  for (const frame of frames) total += varintLength(frame.length) + frame.length
  const prefixed = new Uint8Array(total)
  let offset = 0
  for (const frame of frames) {
    offset += writeVarint(frame.length, prefixed.subarray(offset))
    prefixed.set(frame, offset)
    offset += frame.length
  }
  if (stream.send(prefixed)) return false
  await stream.onDrain({ signal: AbortSignal.timeout(pbftWriteTimeoutMs) })
  return true
}

function varintLength (value: number): number {
  let length = 1
  while (value >= 0x80) { value = Math.floor(value / 128); length++ }
  return length
}

/** Unsigned LEB128 varint (what lpStream reads); returns the bytes written. */
function writeVarint (value: number, into: Uint8Array): number {
  let i = 0
  while (value >= 0x80) {
    into[i++] = (value % 128) | 0x80
    value = Math.floor(value / 128)
  }
  into[i++] = value
  return i
}
