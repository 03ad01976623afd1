/**
 * Limits, names and reasons of the gossip votes: the topic /mesh/<network>/votes/1 and the
 * anti-entropy protocol /mesh/<network>/votes/1.0.0. Each number has its reason; a message beyond any
 * of them is refused whole, never truncated. The per-field bounds of a proposal or vote are the core's
 * (src/core/gossip/votes.ts, `votesLimits`).
 */
import { votesLimits } from '../../src/core/gossip/votes.js'

export const votesProtocolVersion = '1.0.0'
export const votesTopicVersion = '1'

/** Gossip topic: proposals and votes, one per message. */
export function votesTopic (network: string): string {
  return `/mesh/${network}/votes/${votesTopicVersion}`
}

/** Anti-entropy stream protocol. */
export function votesProtocol (network: string): string {
  return `/mesh/${network}/votes/${votesProtocolVersion}`
}

/** Domain separation: a signature made for one network or purpose verifies nowhere else. */
export function votesSignatureDomain (network: string, kind: 'proposal' | 'vote'): string {
  return `mesh/${network}/votes/v1/${kind}\n`
}

/** Ed25519 signatures are 64 bytes. */
export const signatureBytes = 64

/** Proposal ids: hex SHA-256 of the proposal's signing bytes. */
export const proposalIdPattern = /^[0-9a-f]{64}$/

/** PeerIds as they appear in proposals and votes: base58btc (an Ed25519 one has 52 characters). */
export const peerIdPattern = /^[1-9A-HJ-NP-Za-km-z]{1,128}$/

/**
 * One gossip message: a proposal naming the planned 10,000 eligible members is ~550 KB; 1 MiB bounds
 * what one peer can make us decode and verify.
 */
export const gossipBytesMax = 1024 * 1024

/** A proposal lives at most this long (deadline − creation): a week. */
export const proposalTtlMaxMs = 7 * 24 * 3_600_000

/** Default proposal lifetime when the caller gives none: an hour. */
export const proposalTtlDefaultMs = 3_600_000

/**
 * A proposal is kept this long after its deadline, then forgotten (and refused if it comes back):
 * long enough for every node to show the outcome, short enough that `proposalsMax` is not reached.
 */
export const proposalRetainMs = 3_600_000

/** A proposal created further ahead of our clock than this is refused (a bad clock or a lie). */
export const clockSkewMaxMs = 5 * 60_000

/** Digest entries in one request: every proposal a node may hold. */
export const digestEntriesMax = votesLimits.proposalsMax

/** Items (proposal + its votes) in one message. */
export const itemsMax = votesLimits.proposalsMax

/** Votes in one item: one approval and one rejection per eligible member at most. */
export const itemVotesMax = 2 * votesLimits.eligibleMax

/**
 * One anti-entropy message: a responder stops adding items at `exchangeBudgetBytes` (the rest go in
 * a later round), and a message up to twice that is accepted (one large item may overshoot).
 */
export const exchangeBudgetBytes = 4 * 1024 * 1024
export const exchangeBytesMax = 8 * 1024 * 1024

/** One anti-entropy exchange (both round trips) must finish in this time. */
export const exchangeTimeoutMs = 10_000

/** Anti-entropy with one random connected peer this often (and right after each new connection). */
export const antiEntropyIntervalMs = 5_000

/** Concurrent anti-entropy streams per connection, each way: one at a time is the norm. */
export const votesStreamsMax = 2

/** Exchanges served at once over all connections: bounds the memory held by inbound messages. */
export const votesInboundMax = 16

/** Why a proposal or vote from the network was refused (counted per reason). */
export type VotesRejectReason =
  | 'oversize'        // beyond gossipBytesMax / exchangeBytesMax
  | 'undecodable'     // not the protobuf
  | 'invalid'         // a field out of bounds (see above and votesLimits)
  | 'bad-signature'   // the signature does not verify with the author's PeerId
  | 'stale'           // deadline passed more than proposalRetainMs ago
  | 'future'          // created more than clockSkewMaxMs ahead of our clock
  | 'refused'         // the core refused it (not eligible, conflicting proposal, full, …)

export const votesRejectReasons: readonly VotesRejectReason[] = ['oversize', 'undecodable', 'invalid', 'bad-signature', 'stale', 'future', 'refused']
