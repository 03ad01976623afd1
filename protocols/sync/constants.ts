/** Limits of /mesh/<network>/sync/1.0.0. */
import { envelopeBytesMax } from '../state/constants.js'

export const syncProtocolVersion = '1.0.0'

/** Entries per table: members (≤ 1 state record each) plus at most one verdict per member. A mesh
 * bigger than 2,048 members should not ship its table in one message. */
export const syncEntriesMax = 4096

/** Whole-message bound: a few hundred bytes per typical entry; 8 MiB caps a hostile table. */
export const syncMessageBytesMax = 8 * 1024 * 1024

/** Per-entry bound, the same as on the gossip topic. */
export const syncEntryBytesMax = envelopeBytesMax

/** One exchange (open, write, read, close) must finish in this time. */
export const syncTimeoutMs = 10_000

/** Concurrent inbound/outbound sync streams per connection: one exchange at a time is the norm. */
export const syncStreamsMax = 2

/** Periodic anti-entropy with one random connected peer, so tables converge even if gossip was missed:
 * every 2 s while exchanges bring news (joins), doubling to every 30 s once tables agree. */
export const syncIntervalMs = 30_000
export const syncIntervalMinMs = 2_000

export function syncProtocol (network: string): string {
  return `/mesh/${network}/sync/${syncProtocolVersion}`
}
