import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Frame {
  kind: number
  body: Uint8Array<ArrayBuffer>
  manifest?: ChunkManifest
  chunk?: Chunk
}

export namespace Frame {
  let _codec: Codec<Frame>

  export const codec = (): Codec<Frame> => {
    if (_codec == null) {
      _codec = message<Frame>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.kind != null && obj.kind !== 0)) {
          w.uint32(8)
          w.uint32(obj.kind)
        }

        if ((obj.body != null && obj.body.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.body)
        }

        if (obj.manifest != null) {
          w.uint32(26)
          ChunkManifest.codec().encode(obj.manifest, w)
        }

        if (obj.chunk != null) {
          w.uint32(34)
          Chunk.codec().encode(obj.chunk, w)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          kind: 0,
          body: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.kind = reader.uint32()
              break
            }
            case 2: {
              obj.body = reader.bytes()
              break
            }
            case 3: {
              obj.manifest = ChunkManifest.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.manifest
              })
              break
            }
            case 4: {
              obj.chunk = Chunk.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.chunk
              })
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.kind`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.body`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield * ChunkManifest.codec().stream(reader, reader.uint32(), `${prefix}.manifest`, {
                limits: opts.limits?.manifest
              })

              break
            }
            case 4: {
              yield * Chunk.codec().stream(reader, reader.uint32(), `${prefix}.chunk`, {
                limits: opts.limits?.chunk
              })

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface FrameKindFieldEvent {
    field: '$.kind'
    value: number
  }

  export interface FrameBodyFieldEvent {
    field: '$.body'
    value: Uint8Array<ArrayBuffer>
  }

  export interface FrameManifestTransferIdFieldEvent {
    field: '$.manifest.transferId'
    value: bigint
  }

  export interface FrameManifestTotalBytesFieldEvent {
    field: '$.manifest.totalBytes'
    value: number
  }

  export interface FrameManifestChunkBytesFieldEvent {
    field: '$.manifest.chunkBytes'
    value: number
  }

  export interface FrameManifestDigestsFieldEvent {
    field: '$.manifest.digests[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface FrameChunkTransferIdFieldEvent {
    field: '$.chunk.transferId'
    value: bigint
  }

  export interface FrameChunkIndexFieldEvent {
    field: '$.chunk.index'
    value: number
  }

  export interface FrameChunkDataFieldEvent {
    field: '$.chunk.data'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Frame>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Frame.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Frame>): Frame {
    return decodeMessage(buf, Frame.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Frame>): Generator<FrameKindFieldEvent | FrameBodyFieldEvent | FrameManifestTransferIdFieldEvent | FrameManifestTotalBytesFieldEvent | FrameManifestChunkBytesFieldEvent | FrameManifestDigestsFieldEvent | FrameChunkTransferIdFieldEvent | FrameChunkIndexFieldEvent | FrameChunkDataFieldEvent> {
    return streamMessage(buf, Frame.codec(), opts)
  }
}

export interface ChunkManifest {
  transferId: bigint
  totalBytes: number
  chunkBytes: number
  digests: Uint8Array<ArrayBuffer>[]
}

export namespace ChunkManifest {
  let _codec: Codec<ChunkManifest>

  export const codec = (): Codec<ChunkManifest> => {
    if (_codec == null) {
      _codec = message<ChunkManifest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.transferId != null && obj.transferId !== 0n)) {
          w.uint32(8)
          w.uint64(obj.transferId)
        }

        if ((obj.totalBytes != null && obj.totalBytes !== 0)) {
          w.uint32(16)
          w.uint32(obj.totalBytes)
        }

        if ((obj.chunkBytes != null && obj.chunkBytes !== 0)) {
          w.uint32(24)
          w.uint32(obj.chunkBytes)
        }

        if (obj.digests != null && obj.digests.length > 0) {
          for (const value of obj.digests) {
            w.uint32(34)
            w.bytes(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          transferId: 0n,
          totalBytes: 0,
          chunkBytes: 0,
          digests: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.transferId = reader.uint64()
              break
            }
            case 2: {
              obj.totalBytes = reader.uint32()
              break
            }
            case 3: {
              obj.chunkBytes = reader.uint32()
              break
            }
            case 4: {
              if (opts.limits?.digests != null && obj.digests.length === opts.limits.digests) {
                throw new MaxLengthError('Decode error - repeated field "digests" had too many elements')
              }

              obj.digests.push(reader.bytes())
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          digests: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.transferId`,
                value: reader.uint64()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.totalBytes`,
                value: reader.uint32()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.chunkBytes`,
                value: reader.uint32()
              }
              break
            }
            case 4: {
              if (opts.limits?.digests != null && obj.digests === opts.limits.digests) {
                throw new MaxLengthError('Streaming decode error - repeated field "digests" had too many elements')
              }

              yield {
                field: `${prefix}.digests[]`,
                index: obj.digests,
                value: reader.bytes()
              }

              obj.digests++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ChunkManifestTransferIdFieldEvent {
    field: '$.transferId'
    value: bigint
  }

  export interface ChunkManifestTotalBytesFieldEvent {
    field: '$.totalBytes'
    value: number
  }

  export interface ChunkManifestChunkBytesFieldEvent {
    field: '$.chunkBytes'
    value: number
  }

  export interface ChunkManifestDigestsFieldEvent {
    field: '$.digests[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<ChunkManifest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ChunkManifest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ChunkManifest>): ChunkManifest {
    return decodeMessage(buf, ChunkManifest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ChunkManifest>): Generator<ChunkManifestTransferIdFieldEvent | ChunkManifestTotalBytesFieldEvent | ChunkManifestChunkBytesFieldEvent | ChunkManifestDigestsFieldEvent> {
    return streamMessage(buf, ChunkManifest.codec(), opts)
  }
}

export interface Chunk {
  transferId: bigint
  index: number
  data: Uint8Array<ArrayBuffer>
}

export namespace Chunk {
  let _codec: Codec<Chunk>

  export const codec = (): Codec<Chunk> => {
    if (_codec == null) {
      _codec = message<Chunk>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.transferId != null && obj.transferId !== 0n)) {
          w.uint32(8)
          w.uint64(obj.transferId)
        }

        if ((obj.index != null && obj.index !== 0)) {
          w.uint32(16)
          w.uint32(obj.index)
        }

        if ((obj.data != null && obj.data.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.data)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          transferId: 0n,
          index: 0,
          data: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.transferId = reader.uint64()
              break
            }
            case 2: {
              obj.index = reader.uint32()
              break
            }
            case 3: {
              obj.data = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.transferId`,
                value: reader.uint64()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.index`,
                value: reader.uint32()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.data`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ChunkTransferIdFieldEvent {
    field: '$.transferId'
    value: bigint
  }

  export interface ChunkIndexFieldEvent {
    field: '$.index'
    value: number
  }

  export interface ChunkDataFieldEvent {
    field: '$.data'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Chunk>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Chunk.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Chunk>): Chunk {
    return decodeMessage(buf, Chunk.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Chunk>): Generator<ChunkTransferIdFieldEvent | ChunkIndexFieldEvent | ChunkDataFieldEvent> {
    return streamMessage(buf, Chunk.codec(), opts)
  }
}
