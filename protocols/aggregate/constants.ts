/** Limits of /mesh/<network>/aggregate/1.0.0, each with its reason. */
export const aggregateProtocolVersion = '1.0.0'

/**
 * One Masses message: at most 32 attributes (3 fields each), 64 capabilities and 32 maxima, names of
 * ≤ 64 characters (src/core/gossip/aggregate.ts, aggregateLimits) and a PeerId: ≈ 12 KiB at worst;
 * a typical one (10 attributes, 3 capabilities) is ~0.6 KiB.
 */
export const aggregateMessageBytesMax = 16 * 1024

/**
 * One exchange, end to end (each side's wait). A reply answers from memory in milliseconds, but an
 * initiator that gives up after writing loses its half for the epoch (it cannot know whether it was
 * absorbed): on a starved host (load 20+ on 2 cores) 5 s lost ~9 % of exchanges, so wait longer.
 */
export const aggregateExchangeTimeoutMs = 10_000

/** Exchanges a node has started and not finished: beyond this it skips its rounds (a stalled link or host). */
export const aggregateOutboundMax = 4

/** Exchanges per connection at once: one per round each way, a few rounds may overlap on a slow link. */
export const aggregateStreamsMax = 4

/** Exchanges served at once over all connections: O(1) per round per node on average; more is refused. */
export const aggregateInboundMax = 64

export function aggregateProtocolId (network: string): string {
  return `/mesh/${network}/aggregate/${aggregateProtocolVersion}`
}
