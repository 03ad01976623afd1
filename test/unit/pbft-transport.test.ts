/**
 * The pBFT transport's chunked transfer (protocols/pbft/service.ts, chunking.ts) over real libp2p
 * stream pairs from @libp2p/utils (no network): a frame over 20 MiB arrives whole and identical, small
 * frames travel exactly as before chunking, a corrupted chunk drops the transfer (counted, stream
 * reset, nothing delivered), an unfinished transfer is dropped after its idle timeout, and manifests
 * outside the limits are refused.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { lpStream, streamPair } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { ComponentLogger, Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { PbftTransport } from '../../protocols/pbft/service.js'
import type { PbftTransportInit } from '../../protocols/pbft/service.js'
import { PbftFrame } from '../../protocols/pbft/pbft.js'
import { Frame } from '../../protocols/shared/frame.js'
import type { ChunkManifest } from '../../protocols/shared/frame.js'
import { frameKindChunk, frameKindChunkManifest } from '../../protocols/shared/frame-transport.js'
import { sha256, splitFrame } from '../../protocols/shared/chunking.js'
import { pbftChunkBytes, pbftChunkBytesMin, pbftFrameBytesMax, pbftReassembledBytesMax } from '../../protocols/pbft/constants.js'
import { waitUntil } from '../e2e/harness.js'

const peerA = peerIdFromString('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')
const peerB = peerIdFromString('12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq')

const silentLogger: ComponentLogger = {
  forComponent: () => Object.assign(() => {}, { error: () => {}, trace: () => {}, newScope: () => { throw new Error('unused') }, enabled: false })
} as unknown as ComponentLogger

interface Node {
  transport: PbftTransport
  received: PbftFrame[]
  /** The handler B registered (what the registrar would call for an inbound stream). */
  handler: () => StreamHandler
}

const started: PbftTransport[] = []

/** A transport whose openStream makes a stream pair and hands the inbound end to `deliver`. */
async function node (self: PeerId, deliver: (inbound: Stream, from: PeerId) => void, init: Partial<PbftTransportInit> = {}, capacity?: number): Promise<Node> {
  let handler: StreamHandler | undefined
  const registrar = {
    handle: async (_protocol: string, h: StreamHandler) => { handler = h },
    unhandle: async () => {}
  } as unknown as Registrar
  const connectionManager = {
    openStream: async (): Promise<Stream> => {
      const [outbound, inbound] = await streamPair(capacity != null ? { capacity } : {})
      deliver(inbound, self)
      return outbound
    }
  } as unknown as ConnectionManager
  const received: PbftFrame[] = []
  const transport = new PbftTransport({ registrar, connectionManager, logger: silentLogger }, {
    network: 'test', onFrame: frame => { received.push(frame) }, ...init
  })
  await transport.start()
  started.push(transport)
  return { transport, received, handler: () => handler as StreamHandler }
}

/** A (sender, receiver) pair: frames A sends go to B's registered handler. */
async function pair (init: Partial<PbftTransportInit> = {}, capacity?: number): Promise<{ a: Node, b: Node }> {
  let b: Node | undefined
  const a = await node(peerA, (inbound, from) => { void (b as Node).handler()(inbound, { remotePeer: from } as unknown as Connection) }, {}, capacity)
  b = await node(peerB, () => { throw new Error('B sends nothing here') }, init)
  return { a, b }
}

/** A raw stream into B's handler, as peer A: the test writes frames by hand (a Byzantine or broken sender). */
async function rawInto (b: Node): Promise<{ out: ReturnType<typeof lpStream<Stream>>, stream: Stream }> {
  const [outbound, inbound] = await streamPair()
  void b.handler()(inbound, { remotePeer: peerA } as unknown as Connection)
  return { out: lpStream(outbound, { maxDataLength: pbftFrameBytesMax }), stream: outbound }
}

/** Deterministic pseudo-random bytes (xorshift), so a frame is not trivially compressible or repetitive. */
function bytes (length: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length)
  let x = seed | 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

const manifestFrame = (manifest: ChunkManifest): Uint8Array => Frame.encode({ kind: frameKindChunkManifest, body: new Uint8Array(0), manifest })
const chunkFrame = (transferId: bigint, index: number, data: Uint8Array): Uint8Array =>
  Frame.encode({ kind: frameKindChunk, body: new Uint8Array(0), chunk: { transferId, index, data: data as Uint8Array<ArrayBuffer> } })

afterEach(async () => {
  for (const t of started.splice(0)) await t.stop()
})

describe('pBFT transport: chunked transfer of large frames', () => {
  it('a 21 MiB frame arrives whole and identical, through backpressure; small frames sent after it are not held behind it', async () => {
    const { a, b } = await pair({}, 2) // capacity 2: stream.send returns false often, the sender waits for drain
    const body = bytes(21 * 1024 * 1024 + 12_345, 7)
    a.transport.send(peerB, { kind: PbftFrame.Kind.DECISION, body })
    a.transport.send(peerB, { kind: PbftFrame.Kind.PROTOCOL, body: new TextEncoder().encode('{"type":"prepare"}') })
    await waitUntil('the large frame to arrive', 60_000, async () => b.received.some(f => f.kind === PbftFrame.Kind.DECISION) ? true : undefined, 50)
    const large = b.received.find(f => f.kind === PbftFrame.Kind.DECISION) as PbftFrame
    expect(large.body.length).toBe(body.length)
    expect(Buffer.from(large.body).equals(Buffer.from(body))).toBe(true)
    // the small frame queued after it was written between chunks, so it arrived first
    expect(b.received.map(f => f.kind)).toEqual([PbftFrame.Kind.PROTOCOL, PbftFrame.Kind.DECISION])
    const chunks = Math.ceil(PbftFrame.encode({ kind: PbftFrame.Kind.DECISION, body }).length / pbftChunkBytes)
    expect(chunks).toBeGreaterThan(20)
    expect(a.transport.stats).toMatchObject({ transfersSent: 1, chunksSent: chunks, streamErrors: 0 })
    expect(a.transport.stats.drainWaits).toBeGreaterThan(0)
    expect(b.transport.stats).toMatchObject({ transfersReceived: 1, chunksReceived: chunks, framesReceived: 2, transfersDropped: {} })
    expect(b.transport.reassemblyStatus()).toEqual({ transfers: 0, bytes: 0 })
  })

  it('two large frames in a row both arrive; an identical one sent while the first is in flight is sent once', async () => {
    const { a, b } = await pair()
    const first = bytes(3 * 1024 * 1024, 1)
    const second = bytes(2 * 1024 * 1024 + 1, 2)
    a.transport.send(peerB, { kind: PbftFrame.Kind.PROTOCOL, body: first })
    a.transport.send(peerB, { kind: PbftFrame.Kind.PROTOCOL, body: first }) // a repeated fetch answer
    a.transport.send(peerB, { kind: PbftFrame.Kind.DECISION, body: second })
    await waitUntil('both frames', 30_000, async () => b.received.length === 2 ? true : undefined, 50)
    expect(Buffer.from((b.received[0] as PbftFrame).body).equals(Buffer.from(first))).toBe(true)
    expect(Buffer.from((b.received[1] as PbftFrame).body).equals(Buffer.from(second))).toBe(true)
    expect(a.transport.stats).toMatchObject({ transfersSent: 2, transfersDeduplicated: 1 })
  })

  it('frames up to the chunk size travel whole, byte for byte as before chunking', async () => {
    const wire: Uint8Array[] = []
    const a = await node(peerA, inbound => {
      void (async () => {
        const frames = lpStream(inbound, { maxDataLength: pbftFrameBytesMax, maxBufferSize: pbftFrameBytesMax })
        for (;;) wire.push((await frames.read()).subarray())
      })().catch(() => {})
    })
    const frames: PbftFrame[] = [
      { kind: PbftFrame.Kind.PROTOCOL, body: new TextEncoder().encode('{"type":"commit","seq":1}') },
      { kind: PbftFrame.Kind.REQUEST, body: new Uint8Array(0) },
      // the largest frame sent whole: its encoding is exactly pbftChunkBytes
      { kind: PbftFrame.Kind.DECISION, body: bytes(pbftChunkBytes - 6, 3) }
    ]
    expect(PbftFrame.encode(frames[2] as PbftFrame).length).toBe(pbftChunkBytes)
    for (const frame of frames) a.transport.send(peerB, frame)
    await waitUntil('3 frames on the wire', 10_000, async () => wire.length === 3 ? true : undefined, 20)
    expect(wire.map(w => Buffer.from(w).toString('hex'))).toEqual(frames.map(f => Buffer.from(PbftFrame.encode(f)).toString('hex')))
    // the sender counts a frame once its write settled, which can be after the receiver read it
    await waitUntil('the sender to count 3 frames', 10_000, async () => a.transport.stats.framesSent === 3 ? true : undefined, 20)
    expect(a.transport.stats).toMatchObject({ framesSent: 3, transfersSent: 0, chunksSent: 0 })
  })

  it('a corrupted chunk drops the transfer at that chunk: counted, stream reset, nothing delivered; a good transfer then goes through', async () => {
    const { b } = await pair()
    const encoded = PbftFrame.encode({ kind: PbftFrame.Kind.PROTOCOL, body: bytes(5 * 1024 * 1024, 9) })
    const { manifest, chunks } = splitFrame(encoded, 1n)
    const bad = await rawInto(b)
    await bad.out.write(manifestFrame(manifest))
    await bad.out.write(chunkFrame(1n, 0, chunks[0] as Uint8Array))
    const corrupted = Uint8Array.from(chunks[1] as Uint8Array)
    corrupted[1000] = (corrupted[1000] as number) ^ 0x01
    await bad.out.write(chunkFrame(1n, 1, corrupted)).catch(() => {}) // the receiver resets the stream
    await waitUntil('the bad chunk to be counted', 10_000, async () => b.transport.stats.transfersDropped['bad-digest'] === 1 ? true : undefined, 20)
    await waitUntil('the stream to be reset', 10_000, async () => bad.stream.status !== 'open' ? true : undefined, 20)
    expect(b.received).toEqual([])
    expect(b.transport.stats.chunksReceived).toBe(1)
    expect(b.transport.reassemblyStatus()).toEqual({ transfers: 0, bytes: 0 })
    // the same frame, honestly, on a new stream (what the replica's fetch retry leads to)
    const good = await rawInto(b)
    const again = splitFrame(encoded, 2n)
    await good.out.write(manifestFrame(again.manifest))
    for (const [i, chunk] of again.chunks.entries()) await good.out.write(chunkFrame(2n, i, chunk))
    await waitUntil('the good transfer', 10_000, async () => b.received.length === 1 ? true : undefined, 20)
    expect(Buffer.from(PbftFrame.encode(b.received[0] as PbftFrame)).equals(Buffer.from(encoded))).toBe(true)
    expect(b.transport.stats.transfersDropped).toEqual({ 'bad-digest': 1 })
  })

  it('an unfinished transfer is dropped after its idle timeout, its memory released and its stream reset', async () => {
    const { b } = await pair({ transferIdleTimeoutMs: 200 })
    const { manifest, chunks } = splitFrame(PbftFrame.encode({ kind: PbftFrame.Kind.PROTOCOL, body: bytes(3 * 1024 * 1024, 4) }), 5n)
    const raw = await rawInto(b)
    await raw.out.write(manifestFrame(manifest))
    await raw.out.write(chunkFrame(5n, 0, chunks[0] as Uint8Array))
    await waitUntil('the transfer to start', 10_000, async () => b.transport.stats.chunksReceived === 1 ? true : undefined, 20)
    // then the sender stalls
    await waitUntil('the timeout', 10_000, async () => b.transport.stats.transfersDropped.timeout === 1 ? true : undefined, 20)
    expect(b.transport.reassemblyStatus()).toEqual({ transfers: 0, bytes: 0 })
    await waitUntil('the stream to be reset', 10_000, async () => raw.stream.status !== 'open' ? true : undefined, 20)
    expect(b.received).toEqual([])
  })

  it('manifests outside the limits are refused before any chunk is accepted, each counted by reason', async () => {
    const { b } = await pair({ reassemblyBytesMax: 8 * 1024 * 1024 })
    const digestsFor = (total: number, chunk: number): Uint8Array<ArrayBuffer>[] => Array.from({ length: Math.ceil(total / chunk) }, () => new Uint8Array(32))
    const refusals: Array<[string, ChunkManifest]> = [
      ['oversize', { transferId: 1n, totalBytes: pbftReassembledBytesMax + 1, chunkBytes: pbftChunkBytes, digests: digestsFor(pbftReassembledBytesMax + 1, pbftChunkBytes) }],
      ['invalid-manifest', { transferId: 2n, totalBytes: 3 * pbftChunkBytes, chunkBytes: pbftChunkBytes, digests: digestsFor(2 * pbftChunkBytes, pbftChunkBytes) }],
      ['invalid-manifest', { transferId: 3n, totalBytes: 4 * pbftChunkBytes, chunkBytes: 2 * pbftChunkBytes, digests: digestsFor(4 * pbftChunkBytes, 2 * pbftChunkBytes) }],
      ['invalid-manifest', { transferId: 4n, totalBytes: 1024 * 1024, chunkBytes: pbftChunkBytesMin - 1, digests: digestsFor(1024 * 1024, pbftChunkBytesMin - 1) }],
      ['invalid-manifest', { transferId: 5n, totalBytes: 2 * pbftChunkBytes, chunkBytes: pbftChunkBytes, digests: [new Uint8Array(32), new Uint8Array(31)] }],
      ['memory-full', { transferId: 6n, totalBytes: 9 * 1024 * 1024, chunkBytes: pbftChunkBytes, digests: digestsFor(9 * 1024 * 1024, pbftChunkBytes) }]
    ]
    for (const [reason, manifest] of refusals) {
      const before = b.transport.stats.transfersDropped[reason as 'oversize'] ?? 0
      const raw = await rawInto(b)
      await raw.out.write(manifestFrame(manifest)).catch(() => {})
      await waitUntil(`refusal ${reason}`, 10_000, async () => (b.transport.stats.transfersDropped[reason as 'oversize'] ?? 0) === before + 1 ? true : undefined, 20)
      await waitUntil('the stream to be reset', 10_000, async () => raw.stream.status !== 'open' ? true : undefined, 20)
      expect(b.transport.reassemblyStatus()).toEqual({ transfers: 0, bytes: 0 })
    }
    expect(b.transport.stats.transfersDropped).toEqual({ oversize: 1, 'invalid-manifest': 4, 'memory-full': 1 })
  })

  it('chunks out of order, of the wrong length, of another transfer, or a reassembled chunk frame are refused', async () => {
    const { b } = await pair()
    const encoded = PbftFrame.encode({ kind: PbftFrame.Kind.PROTOCOL, body: bytes(3 * 1024 * 1024, 11) })
    const { manifest, chunks } = splitFrame(encoded, 7n)
    const cases: Array<[string, (out: ReturnType<typeof lpStream<Stream>>) => Promise<void>]> = [
      ['out-of-order', async out => { await out.write(chunkFrame(7n, 1, chunks[1] as Uint8Array)).catch(() => {}) }],
      ['bad-length', async out => { await out.write(chunkFrame(7n, 0, (chunks[0] as Uint8Array).subarray(1))).catch(() => {}) }],
      ['unexpected-chunk', async out => { await out.write(chunkFrame(8n, 0, chunks[0] as Uint8Array)).catch(() => {}) }]
    ]
    for (const [reason, misbehave] of cases) {
      const raw = await rawInto(b)
      await raw.out.write(manifestFrame(manifest))
      await misbehave(raw.out)
      await waitUntil(`refusal ${reason}`, 10_000, async () => b.transport.stats.transfersDropped[reason as 'oversize'] === 1 ? true : undefined, 20)
    }
    // a chunk with no manifest before it
    const orphan = await rawInto(b)
    await orphan.out.write(chunkFrame(9n, 0, chunks[0] as Uint8Array)).catch(() => {})
    await waitUntil('refusal of an orphan chunk', 10_000, async () => b.transport.stats.transfersDropped['unexpected-chunk'] === 2 ? true : undefined, 20)
    // a transfer whose reassembled bytes are themselves a CHUNK frame (no nesting)
    const nested = chunkFrame(1n, 0, bytes(2 * 1024 * 1024, 12))
    const inner = splitFrame(nested, 10n)
    const raw = await rawInto(b)
    await raw.out.write(manifestFrame(inner.manifest))
    for (const [i, chunk] of inner.chunks.entries()) await raw.out.write(chunkFrame(10n, i, chunk)).catch(() => {})
    await waitUntil('refusal of a nested chunk frame', 10_000, async () => b.transport.stats.transfersDropped.undecodable === 1 ? true : undefined, 20)
    expect(b.received).toEqual([])
    expect(b.transport.reassemblyStatus()).toEqual({ transfers: 0, bytes: 0 })
    // the manifest's digests are what a chunk is checked against
    expect(Buffer.from(manifest.digests[0] as Uint8Array).equals(Buffer.from(sha256(chunks[0] as Uint8Array)))).toBe(true)
  })

  it('a new manifest from a peer supersedes its unfinished transfer (one transfer per peer), which is counted and reset', async () => {
    const { b } = await pair()
    const first = splitFrame(PbftFrame.encode({ kind: PbftFrame.Kind.PROTOCOL, body: bytes(2 * 1024 * 1024, 13) }), 1n)
    const old = await rawInto(b)
    await old.out.write(manifestFrame(first.manifest))
    await old.out.write(chunkFrame(1n, 0, first.chunks[0] as Uint8Array))
    await waitUntil('the first chunk', 10_000, async () => b.transport.stats.chunksReceived === 1 ? true : undefined, 20)
    const body = bytes(2 * 1024 * 1024, 14)
    const second = splitFrame(PbftFrame.encode({ kind: PbftFrame.Kind.DECISION, body }), 2n)
    const fresh = await rawInto(b)
    await fresh.out.write(manifestFrame(second.manifest))
    for (const [i, chunk] of second.chunks.entries()) await fresh.out.write(chunkFrame(2n, i, chunk))
    await waitUntil('the second transfer', 10_000, async () => b.received.length === 1 ? true : undefined, 20)
    expect(Buffer.from((b.received[0] as PbftFrame).body).equals(Buffer.from(body))).toBe(true)
    expect(b.transport.stats.transfersDropped).toEqual({ superseded: 1 })
    await waitUntil('the old stream to be reset', 10_000, async () => old.stream.status !== 'open' ? true : undefined, 20)
  })
})
