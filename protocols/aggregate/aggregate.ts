import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface NumberMass {
  name: string
  value: number
  reporters: number
}

export namespace NumberMass {
  let _codec: Codec<NumberMass>

  export const codec = (): Codec<NumberMass> => {
    if (_codec == null) {
      _codec = message<NumberMass>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.name != null && obj.name !== '')) {
          w.uint32(10)
          w.string(obj.name)
        }

        if ((obj.value != null && obj.value !== 0)) {
          w.uint32(17)
          w.double(obj.value)
        }

        if ((obj.reporters != null && obj.reporters !== 0)) {
          w.uint32(25)
          w.double(obj.reporters)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          name: '',
          value: 0,
          reporters: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.name = reader.string()
              break
            }
            case 2: {
              obj.value = reader.double()
              break
            }
            case 3: {
              obj.reporters = reader.double()
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
                field: `${prefix}.name`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.value`,
                value: reader.double()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.reporters`,
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

  export interface NumberMassNameFieldEvent {
    field: '$.name'
    value: string
  }

  export interface NumberMassValueFieldEvent {
    field: '$.value'
    value: number
  }

  export interface NumberMassReportersFieldEvent {
    field: '$.reporters'
    value: number
  }

  export function encode (obj: Partial<NumberMass>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, NumberMass.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<NumberMass>): NumberMass {
    return decodeMessage(buf, NumberMass.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<NumberMass>): Generator<NumberMassNameFieldEvent | NumberMassValueFieldEvent | NumberMassReportersFieldEvent> {
    return streamMessage(buf, NumberMass.codec(), opts)
  }
}

export interface CapabilityMass {
  name: string
  mass: number
}

export namespace CapabilityMass {
  let _codec: Codec<CapabilityMass>

  export const codec = (): Codec<CapabilityMass> => {
    if (_codec == null) {
      _codec = message<CapabilityMass>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.name != null && obj.name !== '')) {
          w.uint32(10)
          w.string(obj.name)
        }

        if ((obj.mass != null && obj.mass !== 0)) {
          w.uint32(17)
          w.double(obj.mass)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          name: '',
          mass: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.name = reader.string()
              break
            }
            case 2: {
              obj.mass = reader.double()
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
                field: `${prefix}.name`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.mass`,
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

  export interface CapabilityMassNameFieldEvent {
    field: '$.name'
    value: string
  }

  export interface CapabilityMassMassFieldEvent {
    field: '$.mass'
    value: number
  }

  export function encode (obj: Partial<CapabilityMass>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, CapabilityMass.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<CapabilityMass>): CapabilityMass {
    return decodeMessage(buf, CapabilityMass.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<CapabilityMass>): Generator<CapabilityMassNameFieldEvent | CapabilityMassMassFieldEvent> {
    return streamMessage(buf, CapabilityMass.codec(), opts)
  }
}

export interface Maximum {
  name: string
  value: number
}

export namespace Maximum {
  let _codec: Codec<Maximum>

  export const codec = (): Codec<Maximum> => {
    if (_codec == null) {
      _codec = message<Maximum>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.name != null && obj.name !== '')) {
          w.uint32(10)
          w.string(obj.name)
        }

        if ((obj.value != null && obj.value !== 0)) {
          w.uint32(17)
          w.double(obj.value)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          name: '',
          value: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.name = reader.string()
              break
            }
            case 2: {
              obj.value = reader.double()
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
                field: `${prefix}.name`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.value`,
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

  export interface MaximumNameFieldEvent {
    field: '$.name'
    value: string
  }

  export interface MaximumValueFieldEvent {
    field: '$.value'
    value: number
  }

  export function encode (obj: Partial<Maximum>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Maximum.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Maximum>): Maximum {
    return decodeMessage(buf, Maximum.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Maximum>): Generator<MaximumNameFieldEvent | MaximumValueFieldEvent> {
    return streamMessage(buf, Maximum.codec(), opts)
  }
}

export interface Masses {
  epoch: number
  root: string
  weight: number
  rootMass: number
  numbers: NumberMass[]
  capabilities: CapabilityMass[]
  maxima: Maximum[]
}

export namespace Masses {
  let _codec: Codec<Masses>

  export const codec = (): Codec<Masses> => {
    if (_codec == null) {
      _codec = message<Masses>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.epoch != null && obj.epoch !== 0)) {
          w.uint32(8)
          w.uint32(obj.epoch)
        }

        if ((obj.root != null && obj.root !== '')) {
          w.uint32(18)
          w.string(obj.root)
        }

        if ((obj.weight != null && obj.weight !== 0)) {
          w.uint32(25)
          w.double(obj.weight)
        }

        if ((obj.rootMass != null && obj.rootMass !== 0)) {
          w.uint32(33)
          w.double(obj.rootMass)
        }

        if (obj.numbers != null && obj.numbers.length > 0) {
          for (const value of obj.numbers) {
            w.uint32(42)
            NumberMass.codec().encode(value, w)
          }
        }

        if (obj.capabilities != null && obj.capabilities.length > 0) {
          for (const value of obj.capabilities) {
            w.uint32(50)
            CapabilityMass.codec().encode(value, w)
          }
        }

        if (obj.maxima != null && obj.maxima.length > 0) {
          for (const value of obj.maxima) {
            w.uint32(58)
            Maximum.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          epoch: 0,
          root: '',
          weight: 0,
          rootMass: 0,
          numbers: [],
          capabilities: [],
          maxima: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.epoch = reader.uint32()
              break
            }
            case 2: {
              obj.root = reader.string()
              break
            }
            case 3: {
              obj.weight = reader.double()
              break
            }
            case 4: {
              obj.rootMass = reader.double()
              break
            }
            case 5: {
              if (opts.limits?.numbers != null && obj.numbers.length === opts.limits.numbers) {
                throw new MaxLengthError('Decode error - repeated field "numbers" had too many elements')
              }

              obj.numbers.push(NumberMass.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.numbers$
              }))
              break
            }
            case 6: {
              if (opts.limits?.capabilities != null && obj.capabilities.length === opts.limits.capabilities) {
                throw new MaxLengthError('Decode error - repeated field "capabilities" had too many elements')
              }

              obj.capabilities.push(CapabilityMass.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.capabilities$
              }))
              break
            }
            case 7: {
              if (opts.limits?.maxima != null && obj.maxima.length === opts.limits.maxima) {
                throw new MaxLengthError('Decode error - repeated field "maxima" had too many elements')
              }

              obj.maxima.push(Maximum.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.maxima$
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
          numbers: 0,
          capabilities: 0,
          maxima: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.epoch`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.root`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.weight`,
                value: reader.double()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.rootMass`,
                value: reader.double()
              }
              break
            }
            case 5: {
              if (opts.limits?.numbers != null && obj.numbers === opts.limits.numbers) {
                throw new MaxLengthError('Streaming decode error - repeated field "numbers" had too many elements')
              }

              for (const evt of NumberMass.codec().stream(reader, reader.uint32(), `${prefix}.numbers[]`, {
                limits: opts.limits?.numbers$
              })) {
                yield {
                  ...evt,
                  index: obj.numbers
                }
              }

              obj.numbers++

              break
            }
            case 6: {
              if (opts.limits?.capabilities != null && obj.capabilities === opts.limits.capabilities) {
                throw new MaxLengthError('Streaming decode error - repeated field "capabilities" had too many elements')
              }

              for (const evt of CapabilityMass.codec().stream(reader, reader.uint32(), `${prefix}.capabilities[]`, {
                limits: opts.limits?.capabilities$
              })) {
                yield {
                  ...evt,
                  index: obj.capabilities
                }
              }

              obj.capabilities++

              break
            }
            case 7: {
              if (opts.limits?.maxima != null && obj.maxima === opts.limits.maxima) {
                throw new MaxLengthError('Streaming decode error - repeated field "maxima" had too many elements')
              }

              for (const evt of Maximum.codec().stream(reader, reader.uint32(), `${prefix}.maxima[]`, {
                limits: opts.limits?.maxima$
              })) {
                yield {
                  ...evt,
                  index: obj.maxima
                }
              }

              obj.maxima++

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

  export interface MassesEpochFieldEvent {
    field: '$.epoch'
    value: number
  }

  export interface MassesRootFieldEvent {
    field: '$.root'
    value: string
  }

  export interface MassesWeightFieldEvent {
    field: '$.weight'
    value: number
  }

  export interface MassesRootMassFieldEvent {
    field: '$.rootMass'
    value: number
  }

  export interface MassesNumbersNameFieldEvent {
    field: '$.numbers[].name'
    value: string
    index: number
  }

  export interface MassesNumbersValueFieldEvent {
    field: '$.numbers[].value'
    value: number
    index: number
  }

  export interface MassesNumbersReportersFieldEvent {
    field: '$.numbers[].reporters'
    value: number
    index: number
  }

  export interface MassesCapabilitiesNameFieldEvent {
    field: '$.capabilities[].name'
    value: string
    index: number
  }

  export interface MassesCapabilitiesMassFieldEvent {
    field: '$.capabilities[].mass'
    value: number
    index: number
  }

  export interface MassesMaximaNameFieldEvent {
    field: '$.maxima[].name'
    value: string
    index: number
  }

  export interface MassesMaximaValueFieldEvent {
    field: '$.maxima[].value'
    value: number
    index: number
  }

  export function encode (obj: Partial<Masses>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Masses.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Masses>): Masses {
    return decodeMessage(buf, Masses.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Masses>): Generator<MassesEpochFieldEvent | MassesRootFieldEvent | MassesWeightFieldEvent | MassesRootMassFieldEvent | MassesNumbersNameFieldEvent | MassesNumbersValueFieldEvent | MassesNumbersReportersFieldEvent | MassesCapabilitiesNameFieldEvent | MassesCapabilitiesMassFieldEvent | MassesMaximaNameFieldEvent | MassesMaximaValueFieldEvent> {
    return streamMessage(buf, Masses.codec(), opts)
  }
}

export interface AggregateReply {
  accepted: boolean
  masses?: Masses
}

export namespace AggregateReply {
  let _codec: Codec<AggregateReply>

  export const codec = (): Codec<AggregateReply> => {
    if (_codec == null) {
      _codec = message<AggregateReply>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.accepted != null && obj.accepted !== false)) {
          w.uint32(8)
          w.bool(obj.accepted)
        }

        if (obj.masses != null) {
          w.uint32(18)
          Masses.codec().encode(obj.masses, w)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          accepted: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.accepted = reader.bool()
              break
            }
            case 2: {
              obj.masses = Masses.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.masses
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
                field: `${prefix}.accepted`,
                value: reader.bool()
              }
              break
            }
            case 2: {
              yield * Masses.codec().stream(reader, reader.uint32(), `${prefix}.masses`, {
                limits: opts.limits?.masses
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

  export interface AggregateReplyAcceptedFieldEvent {
    field: '$.accepted'
    value: boolean
  }

  export interface AggregateReplyMassesEpochFieldEvent {
    field: '$.masses.epoch'
    value: number
  }

  export interface AggregateReplyMassesRootFieldEvent {
    field: '$.masses.root'
    value: string
  }

  export interface AggregateReplyMassesWeightFieldEvent {
    field: '$.masses.weight'
    value: number
  }

  export interface AggregateReplyMassesRootMassFieldEvent {
    field: '$.masses.rootMass'
    value: number
  }

  export interface AggregateReplyMassesNumbersNameFieldEvent {
    field: '$.masses.numbers[].name'
    value: string
    index: number
  }

  export interface AggregateReplyMassesNumbersValueFieldEvent {
    field: '$.masses.numbers[].value'
    value: number
    index: number
  }

  export interface AggregateReplyMassesNumbersReportersFieldEvent {
    field: '$.masses.numbers[].reporters'
    value: number
    index: number
  }

  export interface AggregateReplyMassesCapabilitiesNameFieldEvent {
    field: '$.masses.capabilities[].name'
    value: string
    index: number
  }

  export interface AggregateReplyMassesCapabilitiesMassFieldEvent {
    field: '$.masses.capabilities[].mass'
    value: number
    index: number
  }

  export interface AggregateReplyMassesMaximaNameFieldEvent {
    field: '$.masses.maxima[].name'
    value: string
    index: number
  }

  export interface AggregateReplyMassesMaximaValueFieldEvent {
    field: '$.masses.maxima[].value'
    value: number
    index: number
  }

  export function encode (obj: Partial<AggregateReply>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, AggregateReply.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<AggregateReply>): AggregateReply {
    return decodeMessage(buf, AggregateReply.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<AggregateReply>): Generator<AggregateReplyAcceptedFieldEvent | AggregateReplyMassesEpochFieldEvent | AggregateReplyMassesRootFieldEvent | AggregateReplyMassesWeightFieldEvent | AggregateReplyMassesRootMassFieldEvent | AggregateReplyMassesNumbersNameFieldEvent | AggregateReplyMassesNumbersValueFieldEvent | AggregateReplyMassesNumbersReportersFieldEvent | AggregateReplyMassesCapabilitiesNameFieldEvent | AggregateReplyMassesCapabilitiesMassFieldEvent | AggregateReplyMassesMaximaNameFieldEvent | AggregateReplyMassesMaximaValueFieldEvent> {
    return streamMessage(buf, AggregateReply.codec(), opts)
  }
}
