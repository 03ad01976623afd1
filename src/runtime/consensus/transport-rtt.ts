/**
 * The RTT floor of a consensus engine: request/response round trips to each other member over the
 * engine's own long-lived frame streams (the transport's echo frames, protocols/shared/frame-transport.ts),
 * one at a time. The same path every consensus frame takes (Noise, yamux, length prefix, the event
 * loops of both processes), without the protocol's work or any fsync: what a commit cannot beat.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { FrameTransport } from '../../../protocols/shared/frame-transport.js'

/** Round trips one call may ask for, per peer. */
export const transportRttSamplesMax = 1_000

export async function measureTransportRtt (transport: FrameTransport, self: string, members: string[], isConnected: (peerId: string) => boolean, samples: number, timeoutMs: number): Promise<Record<string, number[]>> {
  const count = Math.max(1, Math.min(transportRttSamplesMax, Math.floor(samples)))
  const out: Record<string, number[]> = {}
  for (const member of members) {
    if (member === self || !isConnected(member)) continue
    const peer = peerIdFromString(member)
    const rtts: number[] = []
    for (let i = 0; i < count; i++) rtts.push(await transport.echo(peer, timeoutMs))
    out[member] = rtts
  }
  return out
}
