import { decodeMessage, encodeMessage, enumeration, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface GenesisRequest {
  network: string
  candidate: boolean
}

export namespace GenesisRequest {
  let _codec: Codec<GenesisRequest>

  export const codec = (): Codec<GenesisRequest> => {
    if (_codec == null) {
      _codec = message<GenesisRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.network != null && obj.network !== '')) {
          w.uint32(10)
          w.string(obj.network)
        }

        if ((obj.candidate != null && obj.candidate !== false)) {
          w.uint32(16)
          w.bool(obj.candidate)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          network: '',
          candidate: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.network = reader.string()
              break
            }
            case 2: {
              obj.candidate = reader.bool()
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
                field: `${prefix}.network`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.candidate`,
                value: reader.bool()
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

  export interface GenesisRequestNetworkFieldEvent {
    field: '$.network'
    value: string
  }

  export interface GenesisRequestCandidateFieldEvent {
    field: '$.candidate'
    value: boolean
  }

  export function encode (obj: Partial<GenesisRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, GenesisRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<GenesisRequest>): GenesisRequest {
    return decodeMessage(buf, GenesisRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<GenesisRequest>): Generator<GenesisRequestNetworkFieldEvent | GenesisRequestCandidateFieldEvent> {
    return streamMessage(buf, GenesisRequest.codec(), opts)
  }
}

export interface GenesisResponse {
  status: GenesisResponse.Status
  genesis: Uint8Array<ArrayBuffer>
}

export namespace GenesisResponse {
  export enum Status {
    NONE = 'NONE',
    GENESIS = 'GENESIS',
    CANDIDATE = 'CANDIDATE'
  }

  enum __StatusValues {
    NONE = 0,
    GENESIS = 1,
    CANDIDATE = 2
  }

  export namespace Status {
    export const codec = (): Codec<Status> => {
      return enumeration<Status>(__StatusValues)
    }
  }

  let _codec: Codec<GenesisResponse>

  export const codec = (): Codec<GenesisResponse> => {
    if (_codec == null) {
      _codec = message<GenesisResponse>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.status != null && __StatusValues[obj.status] !== 0) {
          w.uint32(8)
          GenesisResponse.Status.codec().encode(obj.status, w)
        }

        if ((obj.genesis != null && obj.genesis.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.genesis)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          status: Status.NONE,
          genesis: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.status = GenesisResponse.Status.codec().decode(reader)
              break
            }
            case 2: {
              obj.genesis = reader.bytes()
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
                field: `${prefix}.status`,
                value: GenesisResponse.Status.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.genesis`,
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

  export interface GenesisResponseStatusFieldEvent {
    field: '$.status'
    value: GenesisResponse.Status
  }

  export interface GenesisResponseGenesisFieldEvent {
    field: '$.genesis'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<GenesisResponse>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, GenesisResponse.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<GenesisResponse>): GenesisResponse {
    return decodeMessage(buf, GenesisResponse.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<GenesisResponse>): Generator<GenesisResponseStatusFieldEvent | GenesisResponseGenesisFieldEvent> {
    return streamMessage(buf, GenesisResponse.codec(), opts)
  }
}
