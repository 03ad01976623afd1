import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Load {
  queued: number
  running: number
  capacity: number
  cpu: number
}

export namespace Load {
  let _codec: Codec<Load>

  export const codec = (): Codec<Load> => {
    if (_codec == null) {
      _codec = message<Load>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.queued != null && obj.queued !== 0)) {
          w.uint32(8)
          w.uint32(obj.queued)
        }

        if ((obj.running != null && obj.running !== 0)) {
          w.uint32(16)
          w.uint32(obj.running)
        }

        if ((obj.capacity != null && obj.capacity !== 0)) {
          w.uint32(24)
          w.uint32(obj.capacity)
        }

        if ((obj.cpu != null && obj.cpu !== 0)) {
          w.uint32(33)
          w.double(obj.cpu)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          queued: 0,
          running: 0,
          capacity: 0,
          cpu: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.queued = reader.uint32()
              break
            }
            case 2: {
              obj.running = reader.uint32()
              break
            }
            case 3: {
              obj.capacity = reader.uint32()
              break
            }
            case 4: {
              obj.cpu = reader.double()
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
                field: `${prefix}.queued`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.running`,
                value: reader.uint32()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.capacity`,
                value: reader.uint32()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.cpu`,
                value: reader.double()
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

  export interface LoadQueuedFieldEvent {
    field: '$.queued'
    value: number
  }

  export interface LoadRunningFieldEvent {
    field: '$.running'
    value: number
  }

  export interface LoadCapacityFieldEvent {
    field: '$.capacity'
    value: number
  }

  export interface LoadCpuFieldEvent {
    field: '$.cpu'
    value: number
  }

  export function encode (obj: Partial<Load>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Load.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Load>): Load {
    return decodeMessage(buf, Load.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Load>): Generator<LoadQueuedFieldEvent | LoadRunningFieldEvent | LoadCapacityFieldEvent | LoadCpuFieldEvent> {
    return streamMessage(buf, Load.codec(), opts)
  }
}

export enum Status {
  ALIVE = 'ALIVE',
  LEAVING = 'LEAVING'
}

enum __StatusValues {
  ALIVE = 0,
  LEAVING = 1
}

export namespace Status {
  export const codec = (): Codec<Status> => {
    return enumeration<Status>(__StatusValues)
  }
}

export interface StateRecord {
  peerId: string
  name: string
  capabilities: string[]
  addresses: string[]
  incarnation: bigint
  sequence: bigint
  load?: Load
  startedAtMs: bigint
  status: Status
  neighbours?: NeighbourList
  zone?: string
}

export namespace StateRecord {
  let _codec: Codec<StateRecord>

  export const codec = (): Codec<StateRecord> => {
    if (_codec == null) {
      _codec = message<StateRecord>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.peerId != null && obj.peerId !== '')) {
          w.uint32(10)
          w.string(obj.peerId)
        }

        if ((obj.name != null && obj.name !== '')) {
          w.uint32(18)
          w.string(obj.name)
        }

        if (obj.capabilities != null && obj.capabilities.length > 0) {
          for (const value of obj.capabilities) {
            w.uint32(26)
            w.string(value)
          }
        }

        if (obj.addresses != null && obj.addresses.length > 0) {
          for (const value of obj.addresses) {
            w.uint32(34)
            w.string(value)
          }
        }

        if ((obj.incarnation != null && obj.incarnation !== 0n)) {
          w.uint32(40)
          w.uint64(obj.incarnation)
        }

        if ((obj.sequence != null && obj.sequence !== 0n)) {
          w.uint32(48)
          w.uint64(obj.sequence)
        }

        if (obj.load != null) {
          w.uint32(58)
          Load.codec().encode(obj.load, w)
        }

        if ((obj.startedAtMs != null && obj.startedAtMs !== 0n)) {
          w.uint32(64)
          w.uint64(obj.startedAtMs)
        }

        if (obj.status != null && __StatusValues[obj.status] !== 0) {
          w.uint32(72)
          Status.codec().encode(obj.status, w)
        }

        if (obj.neighbours != null) {
          w.uint32(82)
          NeighbourList.codec().encode(obj.neighbours, w)
        }

        if (obj.zone != null) {
          w.uint32(90)
          w.string(obj.zone)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          peerId: '',
          name: '',
          capabilities: [],
          addresses: [],
          incarnation: 0n,
          sequence: 0n,
          startedAtMs: 0n,
          status: Status.ALIVE
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.peerId = reader.string()
              break
            }
            case 2: {
              obj.name = reader.string()
              break
            }
            case 3: {
              if (opts.limits?.capabilities != null && obj.capabilities.length === opts.limits.capabilities) {
                throw new MaxLengthError('Decode error - repeated field "capabilities" had too many elements')
              }

              obj.capabilities.push(reader.string())
              break
            }
            case 4: {
              if (opts.limits?.addresses != null && obj.addresses.length === opts.limits.addresses) {
                throw new MaxLengthError('Decode error - repeated field "addresses" had too many elements')
              }

              obj.addresses.push(reader.string())
              break
            }
            case 5: {
              obj.incarnation = reader.uint64()
              break
            }
            case 6: {
              obj.sequence = reader.uint64()
              break
            }
            case 7: {
              obj.load = Load.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.load
              })
              break
            }
            case 8: {
              obj.startedAtMs = reader.uint64()
              break
            }
            case 9: {
              obj.status = Status.codec().decode(reader)
              break
            }
            case 10: {
              obj.neighbours = NeighbourList.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.neighbours
              })
              break
            }
            case 11: {
              obj.zone = reader.string()
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
          capabilities: 0,
          addresses: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.peerId`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.name`,
                value: reader.string()
              }
              break
            }
            case 3: {
              if (opts.limits?.capabilities != null && obj.capabilities === opts.limits.capabilities) {
                throw new MaxLengthError('Streaming decode error - repeated field "capabilities" had too many elements')
              }

              yield {
                field: `${prefix}.capabilities[]`,
                index: obj.capabilities,
                value: reader.string()
              }

              obj.capabilities++

              break
            }
            case 4: {
              if (opts.limits?.addresses != null && obj.addresses === opts.limits.addresses) {
                throw new MaxLengthError('Streaming decode error - repeated field "addresses" had too many elements')
              }

              yield {
                field: `${prefix}.addresses[]`,
                index: obj.addresses,
                value: reader.string()
              }

              obj.addresses++

              break
            }
            case 5: {
              yield {
                field: `${prefix}.incarnation`,
                value: reader.uint64()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.sequence`,
                value: reader.uint64()
              }
              break
            }
            case 7: {
              yield * Load.codec().stream(reader, reader.uint32(), `${prefix}.load`, {
                limits: opts.limits?.load
              })

              break
            }
            case 8: {
              yield {
                field: `${prefix}.startedAtMs`,
                value: reader.uint64()
              }
              break
            }
            case 9: {
              yield {
                field: `${prefix}.status`,
                value: Status.codec().decode(reader)
              }
              break
            }
            case 10: {
              yield * NeighbourList.codec().stream(reader, reader.uint32(), `${prefix}.neighbours`, {
                limits: opts.limits?.neighbours
              })

              break
            }
            case 11: {
              yield {
                field: `${prefix}.zone`,
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

  export interface StateRecordPeerIdFieldEvent {
    field: '$.peerId'
    value: string
  }

  export interface StateRecordNameFieldEvent {
    field: '$.name'
    value: string
  }

  export interface StateRecordCapabilitiesFieldEvent {
    field: '$.capabilities[]'
    index: number
    value: string
  }

  export interface StateRecordAddressesFieldEvent {
    field: '$.addresses[]'
    index: number
    value: string
  }

  export interface StateRecordIncarnationFieldEvent {
    field: '$.incarnation'
    value: bigint
  }

  export interface StateRecordSequenceFieldEvent {
    field: '$.sequence'
    value: bigint
  }

  export interface StateRecordLoadQueuedFieldEvent {
    field: '$.load.queued'
    value: number
  }

  export interface StateRecordLoadRunningFieldEvent {
    field: '$.load.running'
    value: number
  }

  export interface StateRecordLoadCapacityFieldEvent {
    field: '$.load.capacity'
    value: number
  }

  export interface StateRecordLoadCpuFieldEvent {
    field: '$.load.cpu'
    value: number
  }

  export interface StateRecordStartedAtMsFieldEvent {
    field: '$.startedAtMs'
    value: bigint
  }

  export interface StateRecordStatusFieldEvent {
    field: '$.status'
    value: Status
  }

  export interface StateRecordNeighboursPeersPeerIdFieldEvent {
    field: '$.neighbours.peers[].peerId'
    value: string
    index: number
  }

  export interface StateRecordNeighboursPeersRttMsFieldEvent {
    field: '$.neighbours.peers[].rttMs'
    value: number
    index: number
  }

  export interface StateRecordZoneFieldEvent {
    field: '$.zone'
    value: string
  }

  export function encode (obj: Partial<StateRecord>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, StateRecord.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<StateRecord>): StateRecord {
    return decodeMessage(buf, StateRecord.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<StateRecord>): Generator<StateRecordPeerIdFieldEvent | StateRecordNameFieldEvent | StateRecordCapabilitiesFieldEvent | StateRecordAddressesFieldEvent | StateRecordIncarnationFieldEvent | StateRecordSequenceFieldEvent | StateRecordLoadQueuedFieldEvent | StateRecordLoadRunningFieldEvent | StateRecordLoadCapacityFieldEvent | StateRecordLoadCpuFieldEvent | StateRecordStartedAtMsFieldEvent | StateRecordStatusFieldEvent | StateRecordNeighboursPeersPeerIdFieldEvent | StateRecordNeighboursPeersRttMsFieldEvent | StateRecordZoneFieldEvent> {
    return streamMessage(buf, StateRecord.codec(), opts)
  }
}

export interface Neighbour {
  peerId: string
  rttMs?: number
}

export namespace Neighbour {
  let _codec: Codec<Neighbour>

  export const codec = (): Codec<Neighbour> => {
    if (_codec == null) {
      _codec = message<Neighbour>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.peerId != null && obj.peerId !== '')) {
          w.uint32(10)
          w.string(obj.peerId)
        }

        if (obj.rttMs != null) {
          w.uint32(17)
          w.double(obj.rttMs)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          peerId: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.peerId = reader.string()
              break
            }
            case 2: {
              obj.rttMs = reader.double()
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
                field: `${prefix}.peerId`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.rttMs`,
                value: reader.double()
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

  export interface NeighbourPeerIdFieldEvent {
    field: '$.peerId'
    value: string
  }

  export interface NeighbourRttMsFieldEvent {
    field: '$.rttMs'
    value: number
  }

  export function encode (obj: Partial<Neighbour>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Neighbour.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Neighbour>): Neighbour {
    return decodeMessage(buf, Neighbour.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Neighbour>): Generator<NeighbourPeerIdFieldEvent | NeighbourRttMsFieldEvent> {
    return streamMessage(buf, Neighbour.codec(), opts)
  }
}

export interface NeighbourList {
  peers: Neighbour[]
}

export namespace NeighbourList {
  let _codec: Codec<NeighbourList>

  export const codec = (): Codec<NeighbourList> => {
    if (_codec == null) {
      _codec = message<NeighbourList>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.peers != null && obj.peers.length > 0) {
          for (const value of obj.peers) {
            w.uint32(10)
            Neighbour.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          peers: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.peers != null && obj.peers.length === opts.limits.peers) {
                throw new MaxLengthError('Decode error - repeated field "peers" had too many elements')
              }

              obj.peers.push(Neighbour.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.peers$
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
          peers: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.peers != null && obj.peers === opts.limits.peers) {
                throw new MaxLengthError('Streaming decode error - repeated field "peers" had too many elements')
              }

              for (const evt of Neighbour.codec().stream(reader, reader.uint32(), `${prefix}.peers[]`, {
                limits: opts.limits?.peers$
              })) {
                yield {
                  ...evt,
                  index: obj.peers
                }
              }

              obj.peers++

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

  export interface NeighbourListPeersPeerIdFieldEvent {
    field: '$.peers[].peerId'
    value: string
    index: number
  }

  export interface NeighbourListPeersRttMsFieldEvent {
    field: '$.peers[].rttMs'
    value: number
    index: number
  }

  export function encode (obj: Partial<NeighbourList>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, NeighbourList.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<NeighbourList>): NeighbourList {
    return decodeMessage(buf, NeighbourList.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<NeighbourList>): Generator<NeighbourListPeersPeerIdFieldEvent | NeighbourListPeersRttMsFieldEvent> {
    return streamMessage(buf, NeighbourList.codec(), opts)
  }
}

export interface FailureVerdict {
  subject: string
  incarnation: bigint
  sequence: bigint
  reporter: string
}

export namespace FailureVerdict {
  let _codec: Codec<FailureVerdict>

  export const codec = (): Codec<FailureVerdict> => {
    if (_codec == null) {
      _codec = message<FailureVerdict>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.subject != null && obj.subject !== '')) {
          w.uint32(10)
          w.string(obj.subject)
        }

        if ((obj.incarnation != null && obj.incarnation !== 0n)) {
          w.uint32(16)
          w.uint64(obj.incarnation)
        }

        if ((obj.sequence != null && obj.sequence !== 0n)) {
          w.uint32(24)
          w.uint64(obj.sequence)
        }

        if ((obj.reporter != null && obj.reporter !== '')) {
          w.uint32(34)
          w.string(obj.reporter)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          subject: '',
          incarnation: 0n,
          sequence: 0n,
          reporter: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.subject = reader.string()
              break
            }
            case 2: {
              obj.incarnation = reader.uint64()
              break
            }
            case 3: {
              obj.sequence = reader.uint64()
              break
            }
            case 4: {
              obj.reporter = reader.string()
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
                field: `${prefix}.subject`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.incarnation`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.sequence`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.reporter`,
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

  export interface FailureVerdictSubjectFieldEvent {
    field: '$.subject'
    value: string
  }

  export interface FailureVerdictIncarnationFieldEvent {
    field: '$.incarnation'
    value: bigint
  }

  export interface FailureVerdictSequenceFieldEvent {
    field: '$.sequence'
    value: bigint
  }

  export interface FailureVerdictReporterFieldEvent {
    field: '$.reporter'
    value: string
  }

  export function encode (obj: Partial<FailureVerdict>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, FailureVerdict.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FailureVerdict>): FailureVerdict {
    return decodeMessage(buf, FailureVerdict.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FailureVerdict>): Generator<FailureVerdictSubjectFieldEvent | FailureVerdictIncarnationFieldEvent | FailureVerdictSequenceFieldEvent | FailureVerdictReporterFieldEvent> {
    return streamMessage(buf, FailureVerdict.codec(), opts)
  }
}

export enum EnvelopeKind {
  STATE = 'STATE',
  VERDICT = 'VERDICT'
}

enum __EnvelopeKindValues {
  STATE = 0,
  VERDICT = 1
}

export namespace EnvelopeKind {
  export const codec = (): Codec<EnvelopeKind> => {
    return enumeration<EnvelopeKind>(__EnvelopeKindValues)
  }
}

export interface Envelope {
  kind: EnvelopeKind
  body: Uint8Array<ArrayBuffer>
  signature: Uint8Array<ArrayBuffer>
}

export namespace Envelope {
  let _codec: Codec<Envelope>

  export const codec = (): Codec<Envelope> => {
    if (_codec == null) {
      _codec = message<Envelope>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.kind != null && __EnvelopeKindValues[obj.kind] !== 0) {
          w.uint32(8)
          EnvelopeKind.codec().encode(obj.kind, w)
        }

        if ((obj.body != null && obj.body.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.body)
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.signature)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          kind: EnvelopeKind.STATE,
          body: uint8ArrayAlloc(0),
          signature: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.kind = EnvelopeKind.codec().decode(reader)
              break
            }
            case 2: {
              obj.body = reader.bytes()
              break
            }
            case 3: {
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
                field: `${prefix}.kind`,
                value: EnvelopeKind.codec().decode(reader)
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

  export interface EnvelopeKindFieldEvent {
    field: '$.kind'
    value: EnvelopeKind
  }

  export interface EnvelopeBodyFieldEvent {
    field: '$.body'
    value: Uint8Array<ArrayBuffer>
  }

  export interface EnvelopeSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Envelope>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Envelope.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Envelope>): Envelope {
    return decodeMessage(buf, Envelope.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Envelope>): Generator<EnvelopeKindFieldEvent | EnvelopeBodyFieldEvent | EnvelopeSignatureFieldEvent> {
    return streamMessage(buf, Envelope.codec(), opts)
  }
}
