import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Entry {
  namespace: string
  key: string
  value?: string
  wallMs: bigint
  logical: bigint
  node: string
}

export namespace Entry {
  let _codec: Codec<Entry>

  export const codec = (): Codec<Entry> => {
    if (_codec == null) {
      _codec = message<Entry>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.namespace != null && obj.namespace !== '')) {
          w.uint32(10)
          w.string(obj.namespace)
        }

        if ((obj.key != null && obj.key !== '')) {
          w.uint32(18)
          w.string(obj.key)
        }

        if (obj.value != null) {
          w.uint32(26)
          w.string(obj.value)
        }

        if ((obj.wallMs != null && obj.wallMs !== 0n)) {
          w.uint32(32)
          w.uint64(obj.wallMs)
        }

        if ((obj.logical != null && obj.logical !== 0n)) {
          w.uint32(40)
          w.uint64(obj.logical)
        }

        if ((obj.node != null && obj.node !== '')) {
          w.uint32(50)
          w.string(obj.node)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          namespace: '',
          key: '',
          wallMs: 0n,
          logical: 0n,
          node: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.namespace = reader.string()
              break
            }
            case 2: {
              obj.key = reader.string()
              break
            }
            case 3: {
              obj.value = reader.string()
              break
            }
            case 4: {
              obj.wallMs = reader.uint64()
              break
            }
            case 5: {
              obj.logical = reader.uint64()
              break
            }
            case 6: {
              obj.node = reader.string()
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
                field: `${prefix}.namespace`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.key`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.value`,
                value: reader.string()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.wallMs`,
                value: reader.uint64()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.logical`,
                value: reader.uint64()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.node`,
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

  export interface EntryNamespaceFieldEvent {
    field: '$.namespace'
    value: string
  }

  export interface EntryKeyFieldEvent {
    field: '$.key'
    value: string
  }

  export interface EntryValueFieldEvent {
    field: '$.value'
    value: string
  }

  export interface EntryWallMsFieldEvent {
    field: '$.wallMs'
    value: bigint
  }

  export interface EntryLogicalFieldEvent {
    field: '$.logical'
    value: bigint
  }

  export interface EntryNodeFieldEvent {
    field: '$.node'
    value: string
  }

  export function encode (obj: Partial<Entry>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Entry.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Entry>): Entry {
    return decodeMessage(buf, Entry.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Entry>): Generator<EntryNamespaceFieldEvent | EntryKeyFieldEvent | EntryValueFieldEvent | EntryWallMsFieldEvent | EntryLogicalFieldEvent | EntryNodeFieldEvent> {
    return streamMessage(buf, Entry.codec(), opts)
  }
}

export interface Writes {
  entries: Entry[]
}

export namespace Writes {
  let _codec: Codec<Writes>

  export const codec = (): Codec<Writes> => {
    if (_codec == null) {
      _codec = message<Writes>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.entries != null && obj.entries.length > 0) {
          for (const value of obj.entries) {
            w.uint32(10)
            Entry.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          entries: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.entries != null && obj.entries.length === opts.limits.entries) {
                throw new MaxLengthError('Decode error - repeated field "entries" had too many elements')
              }

              obj.entries.push(Entry.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.entries$
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
          entries: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.entries != null && obj.entries === opts.limits.entries) {
                throw new MaxLengthError('Streaming decode error - repeated field "entries" had too many elements')
              }

              for (const evt of Entry.codec().stream(reader, reader.uint32(), `${prefix}.entries[]`, {
                limits: opts.limits?.entries$
              })) {
                yield {
                  ...evt,
                  index: obj.entries
                }
              }

              obj.entries++

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

  export interface WritesEntriesNamespaceFieldEvent {
    field: '$.entries[].namespace'
    value: string
    index: number
  }

  export interface WritesEntriesKeyFieldEvent {
    field: '$.entries[].key'
    value: string
    index: number
  }

  export interface WritesEntriesValueFieldEvent {
    field: '$.entries[].value'
    value: string
    index: number
  }

  export interface WritesEntriesWallMsFieldEvent {
    field: '$.entries[].wallMs'
    value: bigint
    index: number
  }

  export interface WritesEntriesLogicalFieldEvent {
    field: '$.entries[].logical'
    value: bigint
    index: number
  }

  export interface WritesEntriesNodeFieldEvent {
    field: '$.entries[].node'
    value: string
    index: number
  }

  export function encode (obj: Partial<Writes>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Writes.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Writes>): Writes {
    return decodeMessage(buf, Writes.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Writes>): Generator<WritesEntriesNamespaceFieldEvent | WritesEntriesKeyFieldEvent | WritesEntriesValueFieldEvent | WritesEntriesWallMsFieldEvent | WritesEntriesLogicalFieldEvent | WritesEntriesNodeFieldEvent> {
    return streamMessage(buf, Writes.codec(), opts)
  }
}

export interface NamespaceDigest {
  namespace: string
  digest: string
}

export namespace NamespaceDigest {
  let _codec: Codec<NamespaceDigest>

  export const codec = (): Codec<NamespaceDigest> => {
    if (_codec == null) {
      _codec = message<NamespaceDigest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.namespace != null && obj.namespace !== '')) {
          w.uint32(10)
          w.string(obj.namespace)
        }

        if ((obj.digest != null && obj.digest !== '')) {
          w.uint32(18)
          w.string(obj.digest)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          namespace: '',
          digest: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.namespace = reader.string()
              break
            }
            case 2: {
              obj.digest = reader.string()
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
                field: `${prefix}.namespace`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.digest`,
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

  export interface NamespaceDigestNamespaceFieldEvent {
    field: '$.namespace'
    value: string
  }

  export interface NamespaceDigestDigestFieldEvent {
    field: '$.digest'
    value: string
  }

  export function encode (obj: Partial<NamespaceDigest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, NamespaceDigest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<NamespaceDigest>): NamespaceDigest {
    return decodeMessage(buf, NamespaceDigest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<NamespaceDigest>): Generator<NamespaceDigestNamespaceFieldEvent | NamespaceDigestDigestFieldEvent> {
    return streamMessage(buf, NamespaceDigest.codec(), opts)
  }
}

export interface KeyVersion {
  key: string
  wallMs: bigint
  logical: bigint
  node: string
  content: string
}

export namespace KeyVersion {
  let _codec: Codec<KeyVersion>

  export const codec = (): Codec<KeyVersion> => {
    if (_codec == null) {
      _codec = message<KeyVersion>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.key != null && obj.key !== '')) {
          w.uint32(10)
          w.string(obj.key)
        }

        if ((obj.wallMs != null && obj.wallMs !== 0n)) {
          w.uint32(16)
          w.uint64(obj.wallMs)
        }

        if ((obj.logical != null && obj.logical !== 0n)) {
          w.uint32(24)
          w.uint64(obj.logical)
        }

        if ((obj.node != null && obj.node !== '')) {
          w.uint32(34)
          w.string(obj.node)
        }

        if ((obj.content != null && obj.content !== '')) {
          w.uint32(42)
          w.string(obj.content)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          key: '',
          wallMs: 0n,
          logical: 0n,
          node: '',
          content: ''
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
              obj.wallMs = reader.uint64()
              break
            }
            case 3: {
              obj.logical = reader.uint64()
              break
            }
            case 4: {
              obj.node = reader.string()
              break
            }
            case 5: {
              obj.content = reader.string()
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
                field: `${prefix}.wallMs`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.logical`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.node`,
                value: reader.string()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.content`,
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

  export interface KeyVersionKeyFieldEvent {
    field: '$.key'
    value: string
  }

  export interface KeyVersionWallMsFieldEvent {
    field: '$.wallMs'
    value: bigint
  }

  export interface KeyVersionLogicalFieldEvent {
    field: '$.logical'
    value: bigint
  }

  export interface KeyVersionNodeFieldEvent {
    field: '$.node'
    value: string
  }

  export interface KeyVersionContentFieldEvent {
    field: '$.content'
    value: string
  }

  export function encode (obj: Partial<KeyVersion>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, KeyVersion.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<KeyVersion>): KeyVersion {
    return decodeMessage(buf, KeyVersion.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<KeyVersion>): Generator<KeyVersionKeyFieldEvent | KeyVersionWallMsFieldEvent | KeyVersionLogicalFieldEvent | KeyVersionNodeFieldEvent | KeyVersionContentFieldEvent> {
    return streamMessage(buf, KeyVersion.codec(), opts)
  }
}

export interface KeyRef {
  namespace: string
  key: string
}

export namespace KeyRef {
  let _codec: Codec<KeyRef>

  export const codec = (): Codec<KeyRef> => {
    if (_codec == null) {
      _codec = message<KeyRef>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.namespace != null && obj.namespace !== '')) {
          w.uint32(10)
          w.string(obj.namespace)
        }

        if ((obj.key != null && obj.key !== '')) {
          w.uint32(18)
          w.string(obj.key)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          namespace: '',
          key: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.namespace = reader.string()
              break
            }
            case 2: {
              obj.key = reader.string()
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
                field: `${prefix}.namespace`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.key`,
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

  export interface KeyRefNamespaceFieldEvent {
    field: '$.namespace'
    value: string
  }

  export interface KeyRefKeyFieldEvent {
    field: '$.key'
    value: string
  }

  export function encode (obj: Partial<KeyRef>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, KeyRef.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<KeyRef>): KeyRef {
    return decodeMessage(buf, KeyRef.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<KeyRef>): Generator<KeyRefNamespaceFieldEvent | KeyRefKeyFieldEvent> {
    return streamMessage(buf, KeyRef.codec(), opts)
  }
}

export enum RequestKind {
  DIGESTS = 'DIGESTS',
  VERSIONS = 'VERSIONS',
  PUSH = 'PUSH'
}

enum __RequestKindValues {
  DIGESTS = 0,
  VERSIONS = 1,
  PUSH = 2
}

export namespace RequestKind {
  export const codec = (): Codec<RequestKind> => {
    return enumeration<RequestKind>(__RequestKindValues)
  }
}

export interface EventualRequest {
  kind: RequestKind
  digests: NamespaceDigest[]
  namespace: string
  versions: KeyVersion[]
  entries: Entry[]
}

export namespace EventualRequest {
  let _codec: Codec<EventualRequest>

  export const codec = (): Codec<EventualRequest> => {
    if (_codec == null) {
      _codec = message<EventualRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.kind != null && __RequestKindValues[obj.kind] !== 0) {
          w.uint32(8)
          RequestKind.codec().encode(obj.kind, w)
        }

        if (obj.digests != null && obj.digests.length > 0) {
          for (const value of obj.digests) {
            w.uint32(18)
            NamespaceDigest.codec().encode(value, w)
          }
        }

        if ((obj.namespace != null && obj.namespace !== '')) {
          w.uint32(26)
          w.string(obj.namespace)
        }

        if (obj.versions != null && obj.versions.length > 0) {
          for (const value of obj.versions) {
            w.uint32(34)
            KeyVersion.codec().encode(value, w)
          }
        }

        if (obj.entries != null && obj.entries.length > 0) {
          for (const value of obj.entries) {
            w.uint32(42)
            Entry.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          kind: RequestKind.DIGESTS,
          digests: [],
          namespace: '',
          versions: [],
          entries: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.kind = RequestKind.codec().decode(reader)
              break
            }
            case 2: {
              if (opts.limits?.digests != null && obj.digests.length === opts.limits.digests) {
                throw new MaxLengthError('Decode error - repeated field "digests" had too many elements')
              }

              obj.digests.push(NamespaceDigest.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.digests$
              }))
              break
            }
            case 3: {
              obj.namespace = reader.string()
              break
            }
            case 4: {
              if (opts.limits?.versions != null && obj.versions.length === opts.limits.versions) {
                throw new MaxLengthError('Decode error - repeated field "versions" had too many elements')
              }

              obj.versions.push(KeyVersion.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.versions$
              }))
              break
            }
            case 5: {
              if (opts.limits?.entries != null && obj.entries.length === opts.limits.entries) {
                throw new MaxLengthError('Decode error - repeated field "entries" had too many elements')
              }

              obj.entries.push(Entry.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.entries$
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
          digests: 0,
          versions: 0,
          entries: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.kind`,
                value: RequestKind.codec().decode(reader)
              }
              break
            }
            case 2: {
              if (opts.limits?.digests != null && obj.digests === opts.limits.digests) {
                throw new MaxLengthError('Streaming decode error - repeated field "digests" had too many elements')
              }

              for (const evt of NamespaceDigest.codec().stream(reader, reader.uint32(), `${prefix}.digests[]`, {
                limits: opts.limits?.digests$
              })) {
                yield {
                  ...evt,
                  index: obj.digests
                }
              }

              obj.digests++

              break
            }
            case 3: {
              yield {
                field: `${prefix}.namespace`,
                value: reader.string()
              }
              break
            }
            case 4: {
              if (opts.limits?.versions != null && obj.versions === opts.limits.versions) {
                throw new MaxLengthError('Streaming decode error - repeated field "versions" had too many elements')
              }

              for (const evt of KeyVersion.codec().stream(reader, reader.uint32(), `${prefix}.versions[]`, {
                limits: opts.limits?.versions$
              })) {
                yield {
                  ...evt,
                  index: obj.versions
                }
              }

              obj.versions++

              break
            }
            case 5: {
              if (opts.limits?.entries != null && obj.entries === opts.limits.entries) {
                throw new MaxLengthError('Streaming decode error - repeated field "entries" had too many elements')
              }

              for (const evt of Entry.codec().stream(reader, reader.uint32(), `${prefix}.entries[]`, {
                limits: opts.limits?.entries$
              })) {
                yield {
                  ...evt,
                  index: obj.entries
                }
              }

              obj.entries++

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

  export interface EventualRequestKindFieldEvent {
    field: '$.kind'
    value: RequestKind
  }

  export interface EventualRequestDigestsNamespaceFieldEvent {
    field: '$.digests[].namespace'
    value: string
    index: number
  }

  export interface EventualRequestDigestsDigestFieldEvent {
    field: '$.digests[].digest'
    value: string
    index: number
  }

  export interface EventualRequestNamespaceFieldEvent {
    field: '$.namespace'
    value: string
  }

  export interface EventualRequestVersionsKeyFieldEvent {
    field: '$.versions[].key'
    value: string
    index: number
  }

  export interface EventualRequestVersionsWallMsFieldEvent {
    field: '$.versions[].wallMs'
    value: bigint
    index: number
  }

  export interface EventualRequestVersionsLogicalFieldEvent {
    field: '$.versions[].logical'
    value: bigint
    index: number
  }

  export interface EventualRequestVersionsNodeFieldEvent {
    field: '$.versions[].node'
    value: string
    index: number
  }

  export interface EventualRequestVersionsContentFieldEvent {
    field: '$.versions[].content'
    value: string
    index: number
  }

  export interface EventualRequestEntriesNamespaceFieldEvent {
    field: '$.entries[].namespace'
    value: string
    index: number
  }

  export interface EventualRequestEntriesKeyFieldEvent {
    field: '$.entries[].key'
    value: string
    index: number
  }

  export interface EventualRequestEntriesValueFieldEvent {
    field: '$.entries[].value'
    value: string
    index: number
  }

  export interface EventualRequestEntriesWallMsFieldEvent {
    field: '$.entries[].wallMs'
    value: bigint
    index: number
  }

  export interface EventualRequestEntriesLogicalFieldEvent {
    field: '$.entries[].logical'
    value: bigint
    index: number
  }

  export interface EventualRequestEntriesNodeFieldEvent {
    field: '$.entries[].node'
    value: string
    index: number
  }

  export function encode (obj: Partial<EventualRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, EventualRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<EventualRequest>): EventualRequest {
    return decodeMessage(buf, EventualRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<EventualRequest>): Generator<EventualRequestKindFieldEvent | EventualRequestDigestsNamespaceFieldEvent | EventualRequestDigestsDigestFieldEvent | EventualRequestNamespaceFieldEvent | EventualRequestVersionsKeyFieldEvent | EventualRequestVersionsWallMsFieldEvent | EventualRequestVersionsLogicalFieldEvent | EventualRequestVersionsNodeFieldEvent | EventualRequestVersionsContentFieldEvent | EventualRequestEntriesNamespaceFieldEvent | EventualRequestEntriesKeyFieldEvent | EventualRequestEntriesValueFieldEvent | EventualRequestEntriesWallMsFieldEvent | EventualRequestEntriesLogicalFieldEvent | EventualRequestEntriesNodeFieldEvent> {
    return streamMessage(buf, EventualRequest.codec(), opts)
  }
}

export interface EventualResponse {
  digests: NamespaceDigest[]
  entries: Entry[]
  pull: KeyRef[]
  more: boolean
  applied: number
}

export namespace EventualResponse {
  let _codec: Codec<EventualResponse>

  export const codec = (): Codec<EventualResponse> => {
    if (_codec == null) {
      _codec = message<EventualResponse>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.digests != null && obj.digests.length > 0) {
          for (const value of obj.digests) {
            w.uint32(10)
            NamespaceDigest.codec().encode(value, w)
          }
        }

        if (obj.entries != null && obj.entries.length > 0) {
          for (const value of obj.entries) {
            w.uint32(18)
            Entry.codec().encode(value, w)
          }
        }

        if (obj.pull != null && obj.pull.length > 0) {
          for (const value of obj.pull) {
            w.uint32(26)
            KeyRef.codec().encode(value, w)
          }
        }

        if ((obj.more != null && obj.more !== false)) {
          w.uint32(32)
          w.bool(obj.more)
        }

        if ((obj.applied != null && obj.applied !== 0)) {
          w.uint32(40)
          w.uint32(obj.applied)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          digests: [],
          entries: [],
          pull: [],
          more: false,
          applied: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.digests != null && obj.digests.length === opts.limits.digests) {
                throw new MaxLengthError('Decode error - repeated field "digests" had too many elements')
              }

              obj.digests.push(NamespaceDigest.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.digests$
              }))
              break
            }
            case 2: {
              if (opts.limits?.entries != null && obj.entries.length === opts.limits.entries) {
                throw new MaxLengthError('Decode error - repeated field "entries" had too many elements')
              }

              obj.entries.push(Entry.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.entries$
              }))
              break
            }
            case 3: {
              if (opts.limits?.pull != null && obj.pull.length === opts.limits.pull) {
                throw new MaxLengthError('Decode error - repeated field "pull" had too many elements')
              }

              obj.pull.push(KeyRef.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.pull$
              }))
              break
            }
            case 4: {
              obj.more = reader.bool()
              break
            }
            case 5: {
              obj.applied = reader.uint32()
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
          digests: 0,
          entries: 0,
          pull: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.digests != null && obj.digests === opts.limits.digests) {
                throw new MaxLengthError('Streaming decode error - repeated field "digests" had too many elements')
              }

              for (const evt of NamespaceDigest.codec().stream(reader, reader.uint32(), `${prefix}.digests[]`, {
                limits: opts.limits?.digests$
              })) {
                yield {
                  ...evt,
                  index: obj.digests
                }
              }

              obj.digests++

              break
            }
            case 2: {
              if (opts.limits?.entries != null && obj.entries === opts.limits.entries) {
                throw new MaxLengthError('Streaming decode error - repeated field "entries" had too many elements')
              }

              for (const evt of Entry.codec().stream(reader, reader.uint32(), `${prefix}.entries[]`, {
                limits: opts.limits?.entries$
              })) {
                yield {
                  ...evt,
                  index: obj.entries
                }
              }

              obj.entries++

              break
            }
            case 3: {
              if (opts.limits?.pull != null && obj.pull === opts.limits.pull) {
                throw new MaxLengthError('Streaming decode error - repeated field "pull" had too many elements')
              }

              for (const evt of KeyRef.codec().stream(reader, reader.uint32(), `${prefix}.pull[]`, {
                limits: opts.limits?.pull$
              })) {
                yield {
                  ...evt,
                  index: obj.pull
                }
              }

              obj.pull++

              break
            }
            case 4: {
              yield {
                field: `${prefix}.more`,
                value: reader.bool()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.applied`,
                value: reader.uint32()
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

  export interface EventualResponseDigestsNamespaceFieldEvent {
    field: '$.digests[].namespace'
    value: string
    index: number
  }

  export interface EventualResponseDigestsDigestFieldEvent {
    field: '$.digests[].digest'
    value: string
    index: number
  }

  export interface EventualResponseEntriesNamespaceFieldEvent {
    field: '$.entries[].namespace'
    value: string
    index: number
  }

  export interface EventualResponseEntriesKeyFieldEvent {
    field: '$.entries[].key'
    value: string
    index: number
  }

  export interface EventualResponseEntriesValueFieldEvent {
    field: '$.entries[].value'
    value: string
    index: number
  }

  export interface EventualResponseEntriesWallMsFieldEvent {
    field: '$.entries[].wallMs'
    value: bigint
    index: number
  }

  export interface EventualResponseEntriesLogicalFieldEvent {
    field: '$.entries[].logical'
    value: bigint
    index: number
  }

  export interface EventualResponseEntriesNodeFieldEvent {
    field: '$.entries[].node'
    value: string
    index: number
  }

  export interface EventualResponsePullNamespaceFieldEvent {
    field: '$.pull[].namespace'
    value: string
    index: number
  }

  export interface EventualResponsePullKeyFieldEvent {
    field: '$.pull[].key'
    value: string
    index: number
  }

  export interface EventualResponseMoreFieldEvent {
    field: '$.more'
    value: boolean
  }

  export interface EventualResponseAppliedFieldEvent {
    field: '$.applied'
    value: number
  }

  export function encode (obj: Partial<EventualResponse>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, EventualResponse.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<EventualResponse>): EventualResponse {
    return decodeMessage(buf, EventualResponse.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<EventualResponse>): Generator<EventualResponseDigestsNamespaceFieldEvent | EventualResponseDigestsDigestFieldEvent | EventualResponseEntriesNamespaceFieldEvent | EventualResponseEntriesKeyFieldEvent | EventualResponseEntriesValueFieldEvent | EventualResponseEntriesWallMsFieldEvent | EventualResponseEntriesLogicalFieldEvent | EventualResponseEntriesNodeFieldEvent | EventualResponsePullNamespaceFieldEvent | EventualResponsePullKeyFieldEvent | EventualResponseMoreFieldEvent | EventualResponseAppliedFieldEvent> {
    return streamMessage(buf, EventualResponse.codec(), opts)
  }
}
