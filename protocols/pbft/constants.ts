/** Limits of /mesh/<network>/pbft/1.0.0, each with its reason. */
export const pbftProtocolVersion = '1.0.0'

/** A frame: a NEW-VIEW carries 2f+1 VIEW-CHANGEs, each with up to 2K prepared certificates of batches;
 * 16 MiB bounds it while allowing K = 128 with small batches. STATE carries a snapshot. */
export const pbftFrameBytesMax = 16 * 1024 * 1024

/** Frames waiting to go to one peer: beyond this the oldest are dropped (pBFT retransmits). */
export const pbftSendQueueMax = 10_000

/** Opening a stream to a validator. */
export const pbftDialTimeoutMs = 10_000

/** Streams per connection: one long-lived stream each way is the norm; allow reconnect overlap. */
export const pbftStreamsMax = 4

export function pbftProtocol (network: string): string {
  return `/mesh/${network}/pbft/${pbftProtocolVersion}`
}

/** Domain separation for pBFT signatures. */
export function pbftSignatureDomain (network: string): string {
  return `mesh/${network}/pbft/v1|`
}
