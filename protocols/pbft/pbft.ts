import { decodeMessage, encodeMessage, enumeration, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface PbftFrame {
  kind: PbftFrame.Kind
  body: Uint8Array<ArrayBuffer>
}

export namespace PbftFrame {
  export enum Kind {
    PROTOCOL = 'PROTOCOL',
    REQUEST = 'REQUEST',
    REPLY = 'REPLY',
    SUBSCRIBE = 'SUBSCRIBE',
    DECISION = 'DECISION'
  }

  enum __KindValues {
    PROTOCOL = 0,
    REQUEST = 1,
    REPLY = 2,
    SUBSCRIBE = 3,
    DECISION = 4
  }

  export namespace Kind {
    export const codec = (): Codec<Kind> => {
      return enumeration<Kind>(__KindValues)
    }
  }

  let _codec: Codec<PbftFrame>

  export const codec = (): Codec<PbftFrame> => {
    if (_codec == null) {
      _codec = message<PbftFrame>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.kind != null && __KindValues[obj.kind] !== 0) {
          w.uint32(8)
          PbftFrame.Kind.codec().encode(obj.kind, w)
        }

        if ((obj.body != null && obj.body.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.body)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          kind: Kind.PROTOCOL,
          body: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.kind = PbftFrame.Kind.codec().decode(reader)
              break
            }
            case 2: {
              obj.body = reader.bytes()
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
                value: PbftFrame.Kind.codec().decode(reader)
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

  export interface PbftFrameKindFieldEvent {
    field: '$.kind'
    value: PbftFrame.Kind
  }

  export interface PbftFrameBodyFieldEvent {
    field: '$.body'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<PbftFrame>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, PbftFrame.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PbftFrame>): PbftFrame {
    return decodeMessage(buf, PbftFrame.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PbftFrame>): Generator<PbftFrameKindFieldEvent | PbftFrameBodyFieldEvent> {
    return streamMessage(buf, PbftFrame.codec(), opts)
  }
}
