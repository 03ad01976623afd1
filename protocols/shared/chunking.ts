/**
 * Chunked transfer of large pBFT frames (a STATE snapshot, an observer's catch-up): splitting on the
 * sending side, and the receiving side's bookkeeping — manifest checks, per-chunk digest checks, the
 * per-peer and total memory bounds — kept apart from the streams (service.ts) so it can be read and
 * tested on its own. No timers here: the service arms the idle timeout and calls `drop`.
 */
import { createHash } from 'node:crypto'
import type { Chunk, ChunkManifest } from './frame.js'
import {
  pbftChunkBytes, pbftChunkBytesMin, pbftChunkDigestBytes, pbftChunksPerTransferMax, pbftReassembledBytesMax,
  pbftReassemblyBytesMax, pbftTransfersPerPeerMax
} from '../pbft/constants.js'

/** Why a transfer was refused or dropped (counted under this name; bounded set). */
export type TransferDropReason =
  | 'oversize' // declared total above pbftReassembledBytesMax
  | 'invalid-manifest' // missing fields, chunk size out of range, wrong digest count or length
  | 'memory-full' // the declared total does not fit pbftReassemblyBytesMax beside the transfers in progress
  | 'superseded' // the peer announced a new transfer before finishing this one
  | 'unexpected-chunk' // a chunk with no transfer in progress on its stream, or of another transfer id
  | 'out-of-order' // a chunk index other than the next one expected
  | 'bad-length' // a chunk of another length than the manifest implies
  | 'bad-digest' // a chunk whose SHA-256 differs from the manifest's
  | 'undecodable' // the reassembled bytes are not a PbftFrame of a plain kind
  | 'timeout' // no chunk for pbftTransferIdleTimeoutMs
  | 'stream-ended' // the stream closed or failed mid-transfer

export function sha256 (bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest()
}

/** Split an encoded frame into chunks (views, no copy) and its manifest. */
export function splitFrame (encoded: Uint8Array, transferId: bigint, chunkBytes = pbftChunkBytes): { manifest: ChunkManifest, chunks: Uint8Array[] } {
  const chunks: Uint8Array[] = []
  for (let offset = 0; offset < encoded.length; offset += chunkBytes) chunks.push(encoded.subarray(offset, Math.min(offset + chunkBytes, encoded.length)))
  const manifest: ChunkManifest = {
    transferId,
    totalBytes: encoded.length,
    chunkBytes,
    digests: chunks.map(c => sha256(c) as Uint8Array<ArrayBuffer>)
  }
  return { manifest, chunks }
}

/** Stateless checks of a manifest; null when acceptable. */
export function validateManifest (manifest: ChunkManifest | undefined): TransferDropReason | null {
  if (manifest == null) return 'invalid-manifest'
  const { totalBytes, chunkBytes, digests } = manifest
  if (!Number.isSafeInteger(totalBytes) || totalBytes < 1) return 'invalid-manifest'
  if (totalBytes > pbftReassembledBytesMax) return 'oversize'
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < pbftChunkBytesMin || chunkBytes > pbftChunkBytes) return 'invalid-manifest'
  const count = Math.ceil(totalBytes / chunkBytes)
  if (count > pbftChunksPerTransferMax || digests.length !== count) return 'invalid-manifest'
  for (const digest of digests) if (digest.length !== pbftChunkDigestBytes) return 'invalid-manifest'
  return null
}

interface Transfer<S> {
  stream: S
  id: bigint
  totalBytes: number
  chunkBytes: number
  digests: Uint8Array[]
  buffer: Uint8Array
  next: number
}

export type ChunkOutcome =
  | { status: 'progress' }
  | { status: 'complete', bytes: Uint8Array }
  | { status: 'dropped', reason: TransferDropReason }

/**
 * Transfers being reassembled, at most pbftTransfersPerPeerMax per peer and pbftReassemblyBytesMax
 * in all (declared sizes, reserved when the manifest arrives). `S` identifies a stream: chunks must
 * arrive on the stream that carried their manifest.
 */
export class Reassembly<S> {
  private readonly transfers = new Map<string, Transfer<S>>()
  private reservedBytes = 0

  constructor (private readonly limits: { reassemblyBytesMax: number } = { reassemblyBytesMax: pbftReassemblyBytesMax }) {
    // one transfer per peer is what the map below can hold; a larger bound would need a list per peer
    if (pbftTransfersPerPeerMax !== 1) throw new Error('Reassembly keeps one transfer per peer')
  }

  /** Bytes reserved by the transfers in progress. */
  get bytesInProgress (): number {
    return this.reservedBytes
  }

  get transfersInProgress (): number {
    return this.transfers.size
  }

  /** Whether `peer` has a transfer in progress on `stream`. */
  has (peer: string, stream: S): boolean {
    return this.transfers.get(peer)?.stream === stream
  }

  /**
   * A manifest from `peer` on `stream`. Returns the reasons counted: a refusal of this transfer, and/or
   * `superseded` for the unfinished one it replaces (whose stream the caller resets).
   */
  begin (peer: string, stream: S, manifest: ChunkManifest | undefined): { refused: TransferDropReason | null, superseded: S | null } {
    const previous = this.transfers.get(peer)
    let superseded: S | null = null
    if (previous != null) {
      this.release(peer)
      superseded = previous.stream
    }
    const invalid = validateManifest(manifest)
    if (invalid != null || manifest == null) return { refused: invalid ?? 'invalid-manifest', superseded }
    if (this.reservedBytes + manifest.totalBytes > this.limits.reassemblyBytesMax) return { refused: 'memory-full', superseded }
    this.reservedBytes += manifest.totalBytes
    this.transfers.set(peer, {
      stream,
      id: manifest.transferId,
      totalBytes: manifest.totalBytes,
      chunkBytes: manifest.chunkBytes,
      digests: manifest.digests,
      // zero-filled pages are committed by the OS only as chunks are written into them
      buffer: new Uint8Array(manifest.totalBytes),
      next: 0
    })
    return { refused: null, superseded }
  }

  /** A chunk from `peer` on `stream`: checked against the manifest and its digest, then kept. */
  add (peer: string, stream: S, chunk: Chunk | undefined): ChunkOutcome {
    const transfer = this.transfers.get(peer)
    if (transfer == null || transfer.stream !== stream || chunk == null || chunk.transferId !== transfer.id) {
      if (transfer?.stream === stream) this.release(peer)
      return { status: 'dropped', reason: 'unexpected-chunk' }
    }
    const fail = (reason: TransferDropReason): ChunkOutcome => {
      this.release(peer)
      return { status: 'dropped', reason }
    }
    if (chunk.index !== transfer.next) return fail('out-of-order')
    const offset = chunk.index * transfer.chunkBytes
    const expected = Math.min(transfer.chunkBytes, transfer.totalBytes - offset)
    if (chunk.data.length !== expected) return fail('bad-length')
    const digest = sha256(chunk.data)
    const want = transfer.digests[chunk.index] as Uint8Array
    if (!equalBytes(digest, want)) return fail('bad-digest')
    transfer.buffer.set(chunk.data, offset)
    transfer.next++
    if (transfer.next < transfer.digests.length) return { status: 'progress' }
    this.release(peer)
    return { status: 'complete', bytes: transfer.buffer }
  }

  /** Drop `peer`'s transfer if it is the one on `stream` (a timeout, the stream ended); true if one was dropped. */
  drop (peer: string, stream: S): boolean {
    if (this.transfers.get(peer)?.stream !== stream) return false
    this.release(peer)
    return true
  }

  clear (): void {
    this.transfers.clear()
    this.reservedBytes = 0
  }

  private release (peer: string): void {
    const transfer = this.transfers.get(peer)
    if (transfer == null) return
    this.transfers.delete(peer)
    this.reservedBytes -= transfer.totalBytes
  }
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}
