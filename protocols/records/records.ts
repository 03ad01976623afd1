import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Store {
  key: string
  value: Uint8Array<ArrayBuffer>
  kind: string
}

export namespace Store {
  let _codec: Codec<Store>

  export const codec = (): Codec<Store> => {
    if (_codec == null) {
      _codec = message<Store>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.key != null && obj.key !== '')) {
          w.uint32(10)
          w.string(obj.key)
        }

        if ((obj.value != null && obj.value.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.value)
        }

        if ((obj.kind != null && obj.kind !== '')) {
          w.uint32(26)
          w.string(obj.kind)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          key: '',
          value: uint8ArrayAlloc(0),
          kind: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.key = reader.string()
              break
            }
            case 2: {
              obj.value = reader.bytes()
              break
            }
            case 3: {
              obj.kind = reader.string()
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
                field: `${prefix}.key`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.value`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.kind`,
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

  export interface StoreKeyFieldEvent {
    field: '$.key'
    value: string
  }

  export interface StoreValueFieldEvent {
    field: '$.value'
    value: Uint8Array<ArrayBuffer>
  }

  export interface StoreKindFieldEvent {
    field: '$.kind'
    value: string
  }

  export function encode (obj: Partial<Store>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Store.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Store>): Store {
    return decodeMessage(buf, Store.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Store>): Generator<StoreKeyFieldEvent | StoreValueFieldEvent | StoreKindFieldEvent> {
    return streamMessage(buf, Store.codec(), opts)
  }
}

export interface Fetch {
  key: string
  presenceOnly: boolean
}

export namespace Fetch {
  let _codec: Codec<Fetch>

  export const codec = (): Codec<Fetch> => {
    if (_codec == null) {
      _codec = message<Fetch>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.key != null && obj.key !== '')) {
          w.uint32(10)
          w.string(obj.key)
        }

        if ((obj.presenceOnly != null && obj.presenceOnly !== false)) {
          w.uint32(16)
          w.bool(obj.presenceOnly)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          key: '',
          presenceOnly: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.key = reader.string()
              break
            }
            case 2: {
              obj.presenceOnly = reader.bool()
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
                field: `${prefix}.key`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.presenceOnly`,
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

  export interface FetchKeyFieldEvent {
    field: '$.key'
    value: string
  }

  export interface FetchPresenceOnlyFieldEvent {
    field: '$.presenceOnly'
    value: boolean
  }

  export function encode (obj: Partial<Fetch>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Fetch.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Fetch>): Fetch {
    return decodeMessage(buf, Fetch.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Fetch>): Generator<FetchKeyFieldEvent | FetchPresenceOnlyFieldEvent> {
    return streamMessage(buf, Fetch.codec(), opts)
  }
}

export interface Ack {
  outcome: Ack.Outcome
  error: string
}

export namespace Ack {
  export enum Outcome {
    OUTCOME_UNSPECIFIED = 'OUTCOME_UNSPECIFIED',
    STORED = 'STORED',
    ALREADY_HELD = 'ALREADY_HELD',
    CONFLICT = 'CONFLICT',
    INVALID = 'INVALID',
    TOO_LARGE = 'TOO_LARGE',
    REFUSED = 'REFUSED'
  }

  enum __OutcomeValues {
    OUTCOME_UNSPECIFIED = 0,
    STORED = 1,
    ALREADY_HELD = 2,
    CONFLICT = 3,
    INVALID = 4,
    TOO_LARGE = 5,
    REFUSED = 6
  }

  export namespace Outcome {
    export const codec = (): Codec<Outcome> => {
      return enumeration<Outcome>(__OutcomeValues)
    }
  }

  let _codec: Codec<Ack>

  export const codec = (): Codec<Ack> => {
    if (_codec == null) {
      _codec = message<Ack>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.outcome != null && __OutcomeValues[obj.outcome] !== 0) {
          w.uint32(8)
          Ack.Outcome.codec().encode(obj.outcome, w)
        }

        if ((obj.error != null && obj.error !== '')) {
          w.uint32(18)
          w.string(obj.error)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          outcome: Outcome.OUTCOME_UNSPECIFIED,
          error: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.outcome = Ack.Outcome.codec().decode(reader)
              break
            }
            case 2: {
              obj.error = reader.string()
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
                value: Ack.Outcome.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.error`,
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

  export interface AckOutcomeFieldEvent {
    field: '$.outcome'
    value: Ack.Outcome
  }

  export interface AckErrorFieldEvent {
    field: '$.error'
    value: string
  }

  export function encode (obj: Partial<Ack>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Ack.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Ack>): Ack {
    return decodeMessage(buf, Ack.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Ack>): Generator<AckOutcomeFieldEvent | AckErrorFieldEvent> {
    return streamMessage(buf, Ack.codec(), opts)
  }
}

export interface Record {
  found: boolean
  value: Uint8Array<ArrayBuffer>
}

export namespace Record {
  let _codec: Codec<Record>

  export const codec = (): Codec<Record> => {
    if (_codec == null) {
      _codec = message<Record>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.found != null && obj.found !== false)) {
          w.uint32(8)
          w.bool(obj.found)
        }

        if ((obj.value != null && obj.value.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.value)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          found: false,
          value: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.found = reader.bool()
              break
            }
            case 2: {
              obj.value = reader.bytes()
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
                field: `${prefix}.found`,
                value: reader.bool()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.value`,
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

  export interface RecordFoundFieldEvent {
    field: '$.found'
    value: boolean
  }

  export interface RecordValueFieldEvent {
    field: '$.value'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Record>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Record.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Record>): Record {
    return decodeMessage(buf, Record.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Record>): Generator<RecordFoundFieldEvent | RecordValueFieldEvent> {
    return streamMessage(buf, Record.codec(), opts)
  }
}

export interface RecordRequest {
  store?: Store
  fetch?: Fetch
  stores: Store[]
}

export namespace RecordRequest {
  let _codec: Codec<RecordRequest>

  export const codec = (): Codec<RecordRequest> => {
    if (_codec == null) {
      _codec = message<RecordRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.store != null) {
          w.uint32(10)
          Store.codec().encode(obj.store, w)
        }

        if (obj.fetch != null) {
          w.uint32(18)
          Fetch.codec().encode(obj.fetch, w)
        }

        if (obj.stores != null && obj.stores.length > 0) {
          for (const value of obj.stores) {
            w.uint32(26)
            Store.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          stores: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.store = Store.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.store
              })
              break
            }
            case 2: {
              obj.fetch = Fetch.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.fetch
              })
              break
            }
            case 3: {
              if (opts.limits?.stores != null && obj.stores.length === opts.limits.stores) {
                throw new MaxLengthError('Decode error - repeated field "stores" had too many elements')
              }

              obj.stores.push(Store.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.stores$
              }))
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
          stores: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield * Store.codec().stream(reader, reader.uint32(), `${prefix}.store`, {
                limits: opts.limits?.store
              })

              break
            }
            case 2: {
              yield * Fetch.codec().stream(reader, reader.uint32(), `${prefix}.fetch`, {
                limits: opts.limits?.fetch
              })

              break
            }
            case 3: {
              if (opts.limits?.stores != null && obj.stores === opts.limits.stores) {
                throw new MaxLengthError('Streaming decode error - repeated field "stores" had too many elements')
              }

              for (const evt of Store.codec().stream(reader, reader.uint32(), `${prefix}.stores[]`, {
                limits: opts.limits?.stores$
              })) {
                yield {
                  ...evt,
                  index: obj.stores
                }
              }

              obj.stores++

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

  export interface RecordRequestStoreKeyFieldEvent {
    field: '$.store.key'
    value: string
  }

  export interface RecordRequestStoreValueFieldEvent {
    field: '$.store.value'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RecordRequestStoreKindFieldEvent {
    field: '$.store.kind'
    value: string
  }

  export interface RecordRequestFetchKeyFieldEvent {
    field: '$.fetch.key'
    value: string
  }

  export interface RecordRequestFetchPresenceOnlyFieldEvent {
    field: '$.fetch.presenceOnly'
    value: boolean
  }

  export interface RecordRequestStoresKeyFieldEvent {
    field: '$.stores[].key'
    value: string
    index: number
  }

  export interface RecordRequestStoresValueFieldEvent {
    field: '$.stores[].value'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface RecordRequestStoresKindFieldEvent {
    field: '$.stores[].kind'
    value: string
    index: number
  }

  export function encode (obj: Partial<RecordRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, RecordRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RecordRequest>): RecordRequest {
    return decodeMessage(buf, RecordRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RecordRequest>): Generator<RecordRequestStoreKeyFieldEvent | RecordRequestStoreValueFieldEvent | RecordRequestStoreKindFieldEvent | RecordRequestFetchKeyFieldEvent | RecordRequestFetchPresenceOnlyFieldEvent | RecordRequestStoresKeyFieldEvent | RecordRequestStoresValueFieldEvent | RecordRequestStoresKindFieldEvent> {
    return streamMessage(buf, RecordRequest.codec(), opts)
  }
}

export interface RecordResponse {
  ack?: Ack
  record?: Record
  acks: Ack[]
}

export namespace RecordResponse {
  let _codec: Codec<RecordResponse>

  export const codec = (): Codec<RecordResponse> => {
    if (_codec == null) {
      _codec = message<RecordResponse>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.ack != null) {
          w.uint32(10)
          Ack.codec().encode(obj.ack, w)
        }

        if (obj.record != null) {
          w.uint32(18)
          Record.codec().encode(obj.record, w)
        }

        if (obj.acks != null && obj.acks.length > 0) {
          for (const value of obj.acks) {
            w.uint32(26)
            Ack.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          acks: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.ack = Ack.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.ack
              })
              break
            }
            case 2: {
              obj.record = Record.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.record
              })
              break
            }
            case 3: {
              if (opts.limits?.acks != null && obj.acks.length === opts.limits.acks) {
                throw new MaxLengthError('Decode error - repeated field "acks" had too many elements')
              }

              obj.acks.push(Ack.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.acks$
              }))
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
          acks: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield * Ack.codec().stream(reader, reader.uint32(), `${prefix}.ack`, {
                limits: opts.limits?.ack
              })

              break
            }
            case 2: {
              yield * Record.codec().stream(reader, reader.uint32(), `${prefix}.record`, {
                limits: opts.limits?.record
              })

              break
            }
            case 3: {
              if (opts.limits?.acks != null && obj.acks === opts.limits.acks) {
                throw new MaxLengthError('Streaming decode error - repeated field "acks" had too many elements')
              }

              for (const evt of Ack.codec().stream(reader, reader.uint32(), `${prefix}.acks[]`, {
                limits: opts.limits?.acks$
              })) {
                yield {
                  ...evt,
                  index: obj.acks
                }
              }

              obj.acks++

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

  export interface RecordResponseAckOutcomeFieldEvent {
    field: '$.ack.outcome'
    value: Ack.Outcome
  }

  export interface RecordResponseAckErrorFieldEvent {
    field: '$.ack.error'
    value: string
  }

  export interface RecordResponseRecordFoundFieldEvent {
    field: '$.record.found'
    value: boolean
  }

  export interface RecordResponseRecordValueFieldEvent {
    field: '$.record.value'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RecordResponseAcksOutcomeFieldEvent {
    field: '$.acks[].outcome'
    value: Ack.Outcome
    index: number
  }

  export interface RecordResponseAcksErrorFieldEvent {
    field: '$.acks[].error'
    value: string
    index: number
  }

  export function encode (obj: Partial<RecordResponse>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, RecordResponse.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RecordResponse>): RecordResponse {
    return decodeMessage(buf, RecordResponse.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RecordResponse>): Generator<RecordResponseAckOutcomeFieldEvent | RecordResponseAckErrorFieldEvent | RecordResponseRecordFoundFieldEvent | RecordResponseRecordValueFieldEvent | RecordResponseAcksOutcomeFieldEvent | RecordResponseAcksErrorFieldEvent> {
    return streamMessage(buf, RecordResponse.codec(), opts)
  }
}
