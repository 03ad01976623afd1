/** Limits of /mesh/<network>/aggregate/1.0.0, each with its reason. */
export const aggregateProtocolVersion = '1.0.0'

/**
 * One Masses message: at most 32 attributes (3 fields each), 64 capabilities and 32 maxima, names of
 * ≤ 64 characters (src/core/gossip/aggregate.ts, aggregateLimits) and a PeerId: ≈ 12 KiB at worst;
 * a typical one (10 attributes, 3 capabilities) is ~0.6 KiB.
 */
export const aggregateMessageBytesMax = 16 * 1024

/** A reply answers from memory: 5 s covers a loaded node (a round is 1 s by default). */
export const aggregateExchangeTimeoutMs = 5_000

/** Exchanges per connection at once: one per round each way, a few rounds may overlap on a slow link. */
export const aggregateStreamsMax = 4

/** Exchanges served at once over all connections: O(1) per round per node on average; more is refused. */
export const aggregateInboundMax = 64

export function aggregateProtocolId (network: string): string {
  return `/mesh/${network}/aggregate/${aggregateProtocolVersion}`
}
