/**
 * Limits of the eventually consistent memory's wire: the gossip topic `/mesh/<network>/eventual/1` and
 * the anti-entropy protocol `/mesh/<network>/eventual/1.0.0`. Each number has its reason; a message
 * beyond any of them is refused at decode, never truncated. Store bounds (names, values, keys per
 * namespace, bytes) are the LWW map's (src/core/gossip/lww.ts, `lwwDefaults`).
 */
import { lwwDefaults } from '../../src/core/gossip/lww.js'

export const eventualProtocolVersion = '1.0.0'
export const eventualTopicVersion = '1'

/** Request/response stream of digest-based anti-entropy. */
export function eventualProtocol (network: string): string {
  return `/mesh/${network}/eventual/${eventualProtocolVersion}`
}

/** The gossipsub topic every eventual write is published on. */
export function eventualTopic (network: string): string {
  return `/mesh/${network}/eventual/${eventualTopicVersion}`
}

/** One gossip message: a write is ≤ 64 KiB of value plus names; a batch is split to stay below this. */
export const gossipBytesMax = 256 * 1024

/** Writes in one gossip message (a `POST /v1/memory/:ns` batch holds ≤ 256). */
export const gossipEntriesMax = 256

/** One anti-entropy message: a namespace's key versions (≤ 10,000 × ~420 B worst case ≈ 4.2 MiB). */
export const exchangeMessageBytesMax = 8 * 1024 * 1024

/** Entries sent in one answer or push: beyond it the rest follows in the next request (`more`). */
export const exchangeEntriesBytesBudget = 2 * 1024 * 1024

/** Namespace digests in one message: a store holds ≤ 64 namespaces; room for a peer with a larger bound. */
export const digestsMax = 256

/** Key versions of one namespace in one request: above the 10,000 keys a namespace may hold. */
export const versionsMax = 16_384

/** Keys one answer may ask for, and entries one message may carry. */
export const pullMax = versionsMax
export const entriesMax = 4_096

/** Length of a namespace digest and of a content digest (16 hex digits; "t" for a tombstone). */
export const digestLengthMax = 16

/** Names on the wire: the store's bounds (a longer one is refused before it reaches the map). */
export const namespaceLengthMax = lwwDefaults.namespaceLengthMax
export const keyLengthMax = lwwDefaults.keyLengthMax
export const nodeLengthMax = lwwDefaults.nodeLengthMax

/** Differing namespaces repaired in one exchange (the store holds ≤ 64). */
export const namespacesPerExchangeMax = 64

/** VERSIONS rounds per namespace in one exchange, while the answer says `more` (2 MiB each). */
export const roundsPerNamespaceMax = 8

/** One whole exchange (every step) must finish in this time. */
export const exchangeTimeoutMs = 20_000

/** One request within an exchange must be answered in this time (the responder's bound). */
export const requestTimeoutMs = 10_000

/** Concurrent anti-entropy streams per connection, each way. */
export const exchangeStreamsMax = 2

/** Anti-entropy with one random connected peer this often (and at once on every new connection). */
export const antiEntropyIntervalMs = 3_000

/** Why a received message or entry was refused (counted; see `mesh status`-style stats). */
export const eventualRejectReasons = [
  'oversize', 'undecodable', 'invalid',
  'malformed', 'name-too-long', 'key-too-long', 'value-too-large', 'too-many-namespaces',
  'namespace-full', 'store-full', 'clock-ahead', 'beyond-horizon'
] as const
export type EventualRejectReason = typeof eventualRejectReasons[number]
