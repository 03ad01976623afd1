/**
 * A flooding peer for the admission tests and the bench's flood phase: from a libp2p host built like a
 * mesh node's (startRoguePeer, harness.ts), one pBFT stream to a target, and on it as many valid frames
 * as the stream takes: SUBSCRIBE frames (`{"fromSeq": n}`, what an observer sends to follow the
 * decisions), well-formed and accepted by a validator, so each one costs the target a read, a decode,
 * a JSON parse and a subscription update unless admission control drops it first.
 */
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { MeshLibp2p } from '../../bootstrap/libp2p.js'
import { Frame } from '../../protocols/shared/frame.js'
import { pbftProtocol } from '../../protocols/pbft/constants.js'

/** PbftFrame.Kind.SUBSCRIBE on the wire (protocols/pbft/service.ts). */
const subscribeKind = 3
/** Frames per write (one vectored write: the sender is not the bottleneck). */
const framesPerWrite = 64

export interface FloodResult {
  /** Frames written to the stream. */
  sent: number
  elapsedMs: number
  /** Why the flood ended early (the target reset the stream, or hung up: a ban), if it did. */
  ended?: string
}

/**
 * Flood `target` (a PeerId) with SUBSCRIBE frames until `until()` says stop or `framesMax` were sent.
 * Never throws: a stream the target closes ends the flood, and the result says why.
 */
export async function floodPbft (rogue: MeshLibp2p, network: string, target: string, options: { framesMax: number, until?: () => boolean, fromSeq?: number }): Promise<FloodResult> {
  const started = performance.now()
  let sent = 0
  const frame = Frame.encode({ kind: subscribeKind, body: new TextEncoder().encode(JSON.stringify({ fromSeq: options.fromSeq ?? 0 })) })
  const batch = Array.from({ length: framesPerWrite }, () => frame)
  try {
    const stream = await rogue.dialProtocol(peerIdFromString(target), pbftProtocol(network), { signal: AbortSignal.timeout(10_000) })
    const frames = lpStream(stream)
    while (sent < options.framesMax && options.until?.() !== true) {
      await frames.writeV(batch, { signal: AbortSignal.timeout(10_000) })
      // a stream the target reset or a connection it closed (a ban) may still take writes locally
      if (stream.status !== 'open' || stream.writeStatus !== 'writable') {
        return { sent, elapsedMs: performance.now() - started, ended: `stream ${stream.status}/${stream.writeStatus}` }
      }
      sent += batch.length
    }
    stream.abort(new Error('flood over'))
    return { sent, elapsedMs: performance.now() - started }
  } catch (err) {
    return { sent, elapsedMs: performance.now() - started, ended: (err as Error).message }
  }
}
