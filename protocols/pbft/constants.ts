/** Limits of /mesh/<network>/pbft/1.0.0, each with its reason. */
export const pbftProtocolVersion = '1.0.0'

/**
 * A frame on the wire (what one length prefix may announce): a NEW-VIEW carries 2f+1 VIEW-CHANGEs, each
 * with up to 2K prepared certificates of batches; 16 MiB bounds it while allowing K = 128 with small
 * batches. This node never sends a frame above pbftChunkBytes whole (it chunks it, below); the bound
 * stays 16 MiB so frames of older senders are still read.
 */
export const pbftFrameBytesMax = 16 * 1024 * 1024

// ————————————————————————————————————————— chunked transfer of large frames (a STATE snapshot)

/**
 * A frame whose encoding is larger than this travels as a CHUNK_MANIFEST and chunks of this size: small
 * enough that protocol messages interleave between chunks without waiting long behind a state transfer
 * and that a bad chunk is found after at most 1 MiB; large enough that a 256 MiB frame is 256 chunks.
 * Frames up to this size are sent whole, byte for byte as before chunking existed.
 */
export const pbftChunkBytes = 1024 * 1024

/** Smallest chunk size a manifest may declare: bounds the chunk (and digest) count of a transfer. */
export const pbftChunkBytesMin = 64 * 1024

/**
 * Largest frame reassembled from chunks: a STATE snapshot (or an observer's catch-up DECISION) of the
 * whole replicated application. The application's own budgets (src/core/app/limits.ts) keep a snapshot
 * well below it; this bounds what a peer can make us hold. (V8 strings end at ~512 MiB, and the
 * replica parses the snapshot as one string.)
 */
export const pbftReassembledBytesMax = 256 * 1024 * 1024

/** Chunks of one transfer at most (pbftReassembledBytesMax / pbftChunkBytesMin): bounds the manifest. */
export const pbftChunksPerTransferMax = pbftReassembledBytesMax / pbftChunkBytesMin

/** A manifest frame: 4096 digests of 34 bytes with their tags, and the rest of the frame. */
export const pbftManifestFrameBytesMax = pbftChunksPerTransferMax * 34 + 1024

/** Length of a SHA-256 digest. */
export const pbftChunkDigestBytes = 32

/**
 * Transfers one peer may have in progress towards us: an honest sender sends one large frame at a time
 * on its one stream; a new manifest from a peer replaces its unfinished transfer (counted `superseded`).
 */
export const pbftTransfersPerPeerMax = 1

/**
 * Bytes being reassembled at once, over all peers (declared sizes, reserved at the manifest): two
 * largest frames, or several snapshots of a few tens of MiB from the replicas a lagging one asks in turn.
 * A manifest beyond it is refused (`memory-full`) and its stream reset; the replica asks again later.
 */
export const pbftReassemblyBytesMax = 512 * 1024 * 1024

/**
 * An unfinished transfer that receives no chunk for this long is dropped (`timeout`) and its stream
 * reset: the sender stalled or went away. A 1 MiB chunk takes milliseconds on a LAN; 30 s leaves room
 * for a slow link and a busy event loop, and bounds how long a stalled peer holds reassembly memory.
 */
export const pbftTransferIdleTimeoutMs = 30_000

/**
 * Large frames waiting to go to one peer behind the one being sent: a newer one replaces the waiting
 * one (oldest dropped, as for small frames: the replica asks for state again), so a peer costs us at
 * most two large frames of memory. A frame identical to one in flight or waiting is not queued again
 * (an observer's catch-up and a replica's fetch repeat while the answer is on its way).
 */
export const pbftLargeFramesQueuedMax = 1

/** Writing one chunk (or one batch of small frames), waiting for the stream to drain included. */
export const pbftWriteTimeoutMs = 30_000

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
