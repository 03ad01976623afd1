import { decodeMessage, encodeMessage, enumeration, message, streamMessage } from 'protons-runtime'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export enum RaftFrameKind {
  MESSAGE = 'MESSAGE',
  PROPOSE = 'PROPOSE',
  SUBSCRIBE = 'SUBSCRIBE',
  COMMITTED = 'COMMITTED',
  REFUSED = 'REFUSED'
}

enum __RaftFrameKindValues {
  MESSAGE = 0,
  PROPOSE = 1,
  SUBSCRIBE = 2,
  COMMITTED = 3,
  REFUSED = 4
}

export namespace RaftFrameKind {
  export const codec = (): Codec<RaftFrameKind> => {
    return enumeration<RaftFrameKind>(__RaftFrameKindValues)
  }
}

export interface RaftFrameKinds {
  kind: RaftFrameKind
}

export namespace RaftFrameKinds {
  let _codec: Codec<RaftFrameKinds>

  export const codec = (): Codec<RaftFrameKinds> => {
    if (_codec == null) {
      _codec = message<RaftFrameKinds>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.kind != null && __RaftFrameKindValues[obj.kind] !== 0) {
          w.uint32(8)
          RaftFrameKind.codec().encode(obj.kind, w)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          kind: RaftFrameKind.MESSAGE
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.kind = RaftFrameKind.codec().decode(reader)
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
                value: RaftFrameKind.codec().decode(reader)
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

  export interface RaftFrameKindsKindFieldEvent {
    field: '$.kind'
    value: RaftFrameKind
  }

  export function encode (obj: Partial<RaftFrameKinds>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, RaftFrameKinds.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RaftFrameKinds>): RaftFrameKinds {
    return decodeMessage(buf, RaftFrameKinds.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RaftFrameKinds>): Generator<RaftFrameKindsKindFieldEvent> {
    return streamMessage(buf, RaftFrameKinds.codec(), opts)
  }
}
