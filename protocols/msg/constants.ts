/**
 * Limits, ids and timeouts of peer messaging (`/mesh/<network>/msg/1.0.0` and the broadcast topic),
 * each with its reason. Pure: shared by the codec, the service, the node's inbox and the HTTP routes.
 */

export const msgProtocolVersion = '1.0.0'

/** The bound on a message body: 64 KiB of UTF-8 JSON text. */
export const msgBodyBytesMax = 64 * 1024

/**
 * Largest envelope accepted on the topic: the body plus id, two PeerIds, time, the 64-byte signature
 * and protobuf tags (≈ 250 B), rounded up.
 */
export const msgEnvelopeBytesMax = msgBodyBytesMax + 1024

/**
 * Largest length-prefixed frame read from a direct stream. Twice the envelope bound, so a message
 * that is only a little too large is still read and answered REJECTED/oversize (the sender learns
 * why); anything larger resets the stream unread.
 */
export const msgFrameBytesMax = 2 * msgEnvelopeBytesMax

/** An ack is a word of reason and an id: a few dozen bytes. */
export const msgAckBytesMax = 512

/** Concurrent direct message streams per connection, each way: a burst of sends to one peer. */
export const msgStreamsPerConnectionMax = 16

/** Inbound direct messages being read at once over all connections (memory ≤ 64 × 130 KiB ≈ 8 MiB). */
export const msgInboundMax = 64

/** A sender's default wait for the ack (stream open + write + ack), milliseconds. */
export const msgAckTimeoutMs = 5_000

/** Longest ack wait a caller may ask for. */
export const msgAckTimeoutMsMax = 60_000

/** A receiver gives a sender this long to deliver its frame, milliseconds. */
export const msgServeTimeoutMs = 10_000

/**
 * A message whose sender clock differs from ours by more than this is refused as `expired`: it bounds
 * how long a captured message can be replayed, together with the de-duplication window (see
 * src/runtime/messages.ts). Ten minutes tolerates ordinary clock drift between machines.
 */
export const msgClockSkewMsMax = 10 * 60 * 1000

/** Message ids: 128 random bits as 32 lower-case hex characters. */
export const msgIdPattern = /^[0-9a-f]{32}$/

/** The recipient of a broadcast. */
export const msgBroadcastRecipient = 'all'

/** Domain separation: a message signature made for one network (or for anything else) verifies nowhere else. */
export function msgSignatureDomain (network: string): string {
  return `mesh/${network}/msg/v1`
}

/** The direct message protocol of one network. */
export function msgProtocol (network: string): string {
  return `/mesh/${network}/msg/${msgProtocolVersion}`
}

/** The gossipsub topic that carries the broadcasts of one network. */
export function msgTopic (network: string): string {
  return `/mesh/${network}/msg/all/${msgProtocolVersion}`
}
