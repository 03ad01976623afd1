import { decodeMessage, encodeMessage, enumeration, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface MessageContent {
  id: string
  from: string
  to: string
  timeMs: bigint
  body: string
}

export namespace MessageContent {
  let _codec: Codec<MessageContent>

  export const codec = (): Codec<MessageContent> => {
    if (_codec == null) {
      _codec = message<MessageContent>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.id != null && obj.id !== '')) {
          w.uint32(10)
          w.string(obj.id)
        }

        if ((obj.from != null && obj.from !== '')) {
          w.uint32(18)
          w.string(obj.from)
        }

        if ((obj.to != null && obj.to !== '')) {
          w.uint32(26)
          w.string(obj.to)
        }

        if ((obj.timeMs != null && obj.timeMs !== 0n)) {
          w.uint32(32)
          w.uint64(obj.timeMs)
        }

        if ((obj.body != null && obj.body !== '')) {
          w.uint32(42)
          w.string(obj.body)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          id: '',
          from: '',
          to: '',
          timeMs: 0n,
          body: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.id = reader.string()
              break
            }
            case 2: {
              obj.from = reader.string()
              break
            }
            case 3: {
              obj.to = reader.string()
              break
            }
            case 4: {
              obj.timeMs = reader.uint64()
              break
            }
            case 5: {
              obj.body = reader.string()
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
                field: `${prefix}.id`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.from`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.to`,
                value: reader.string()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.timeMs`,
                value: reader.uint64()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.body`,
                value: reader.string()
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

  export interface MessageContentIdFieldEvent {
    field: '$.id'
    value: string
  }

  export interface MessageContentFromFieldEvent {
    field: '$.from'
    value: string
  }

  export interface MessageContentToFieldEvent {
    field: '$.to'
    value: string
  }

  export interface MessageContentTimeMsFieldEvent {
    field: '$.timeMs'
    value: bigint
  }

  export interface MessageContentBodyFieldEvent {
    field: '$.body'
    value: string
  }

  export function encode (obj: Partial<MessageContent>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, MessageContent.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<MessageContent>): MessageContent {
    return decodeMessage(buf, MessageContent.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<MessageContent>): Generator<MessageContentIdFieldEvent | MessageContentFromFieldEvent | MessageContentToFieldEvent | MessageContentTimeMsFieldEvent | MessageContentBodyFieldEvent> {
    return streamMessage(buf, MessageContent.codec(), opts)
  }
}

export interface MessageEnvelope {
  content: Uint8Array<ArrayBuffer>
  signature: Uint8Array<ArrayBuffer>
}

export namespace MessageEnvelope {
  let _codec: Codec<MessageEnvelope>

  export const codec = (): Codec<MessageEnvelope> => {
    if (_codec == null) {
      _codec = message<MessageEnvelope>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.content != null && obj.content.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.content)
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.signature)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          content: uint8ArrayAlloc(0),
          signature: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.content = reader.bytes()
              break
            }
            case 2: {
              obj.signature = reader.bytes()
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
                field: `${prefix}.content`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.signature`,
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

  export interface MessageEnvelopeContentFieldEvent {
    field: '$.content'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MessageEnvelopeSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<MessageEnvelope>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, MessageEnvelope.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<MessageEnvelope>): MessageEnvelope {
    return decodeMessage(buf, MessageEnvelope.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<MessageEnvelope>): Generator<MessageEnvelopeContentFieldEvent | MessageEnvelopeSignatureFieldEvent> {
    return streamMessage(buf, MessageEnvelope.codec(), opts)
  }
}

export interface MessageAck {
  outcome: MessageAck.Outcome
  reason: string
  id: string
}

export namespace MessageAck {
  export enum Outcome {
    OUTCOME_UNSPECIFIED = 'OUTCOME_UNSPECIFIED',
    ACCEPTED = 'ACCEPTED',
    DUPLICATE = 'DUPLICATE',
    REJECTED = 'REJECTED',
    BUSY = 'BUSY'
  }

  enum __OutcomeValues {
    OUTCOME_UNSPECIFIED = 0,
    ACCEPTED = 1,
    DUPLICATE = 2,
    REJECTED = 3,
    BUSY = 4
  }

  export namespace Outcome {
    export const codec = (): Codec<Outcome> => {
      return enumeration<Outcome>(__OutcomeValues)
    }
  }

  let _codec: Codec<MessageAck>

  export const codec = (): Codec<MessageAck> => {
    if (_codec == null) {
      _codec = message<MessageAck>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.outcome != null && __OutcomeValues[obj.outcome] !== 0) {
          w.uint32(8)
          MessageAck.Outcome.codec().encode(obj.outcome, w)
        }

        if ((obj.reason != null && obj.reason !== '')) {
          w.uint32(18)
          w.string(obj.reason)
        }

        if ((obj.id != null && obj.id !== '')) {
          w.uint32(26)
          w.string(obj.id)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          outcome: Outcome.OUTCOME_UNSPECIFIED,
          reason: '',
          id: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.outcome = MessageAck.Outcome.codec().decode(reader)
              break
            }
            case 2: {
              obj.reason = reader.string()
              break
            }
            case 3: {
              obj.id = reader.string()
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
                field: `${prefix}.outcome`,
                value: MessageAck.Outcome.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.reason`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.id`,
                value: reader.string()
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

  export interface MessageAckOutcomeFieldEvent {
    field: '$.outcome'
    value: MessageAck.Outcome
  }

  export interface MessageAckReasonFieldEvent {
    field: '$.reason'
    value: string
  }

  export interface MessageAckIdFieldEvent {
    field: '$.id'
    value: string
  }

  export function encode (obj: Partial<MessageAck>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, MessageAck.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<MessageAck>): MessageAck {
    return decodeMessage(buf, MessageAck.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<MessageAck>): Generator<MessageAckOutcomeFieldEvent | MessageAckReasonFieldEvent | MessageAckIdFieldEvent> {
    return streamMessage(buf, MessageAck.codec(), opts)
  }
}
