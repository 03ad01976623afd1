/** Limits of the task-distribution protocols, each with its reason. */
export const tasksProtocolVersion = '1.0.0'

/**
 * Calls, bids, notices and steal exchanges are small: ids, capability names, a few numbers. A batch of
 * 32 calls with 16 capability names of 64 bytes each stays under 40 KiB.
 */
export const taskMessageBytesMax = 64 * 1024

/** Most calls (or award notices) in one batched auction exchange. */
export const auctionBatchMax = 32

/** How long a caller waits for bids: a bidder answers from memory, so a live node answers in ms. */
export const bidDeadlineMsDefault = 1_000
export const bidDeadlineMsMax = 10_000

/** A victim commits each move before it answers: allow for a consensus round or two. */
export const stealTimeoutMs = 15_000

/** Most tasks one steal request may take. */
export const stealTasksMax = 64

/** Concurrent exchanges per connection (a scheduler auctions several tasks at once). */
export const taskStreamsMax = 64

export function auctionProtocol (network: string): string {
  return `/mesh/${network}/auction/${tasksProtocolVersion}`
}

export function stealProtocol (network: string): string {
  return `/mesh/${network}/steal/${tasksProtocolVersion}`
}
