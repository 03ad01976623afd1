import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface CallForBids {
  taskId: string
  capabilities: string[]
  priority: number
  deadlineMs: number
}

export namespace CallForBids {
  let _codec: Codec<CallForBids>

  export const codec = (): Codec<CallForBids> => {
    if (_codec == null) {
      _codec = message<CallForBids>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.taskId != null && obj.taskId !== '')) {
          w.uint32(10)
          w.string(obj.taskId)
        }

        if (obj.capabilities != null && obj.capabilities.length > 0) {
          for (const value of obj.capabilities) {
            w.uint32(18)
            w.string(value)
          }
        }

        if ((obj.priority != null && obj.priority !== 0)) {
          w.uint32(24)
          w.uint32(obj.priority)
        }

        if ((obj.deadlineMs != null && obj.deadlineMs !== 0)) {
          w.uint32(32)
          w.uint32(obj.deadlineMs)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          taskId: '',
          capabilities: [],
          priority: 0,
          deadlineMs: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.taskId = reader.string()
              break
            }
            case 2: {
              if (opts.limits?.capabilities != null && obj.capabilities.length === opts.limits.capabilities) {
                throw new MaxLengthError('Decode error - repeated field "capabilities" had too many elements')
              }

              obj.capabilities.push(reader.string())
              break
            }
            case 3: {
              obj.priority = reader.uint32()
              break
            }
            case 4: {
              obj.deadlineMs = reader.uint32()
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
          capabilities: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.taskId`,
                value: reader.string()
              }
              break
            }
            case 2: {
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
            case 3: {
              yield {
                field: `${prefix}.priority`,
                value: reader.uint32()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.deadlineMs`,
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

  export interface CallForBidsTaskIdFieldEvent {
    field: '$.taskId'
    value: string
  }

  export interface CallForBidsCapabilitiesFieldEvent {
    field: '$.capabilities[]'
    index: number
    value: string
  }

  export interface CallForBidsPriorityFieldEvent {
    field: '$.priority'
    value: number
  }

  export interface CallForBidsDeadlineMsFieldEvent {
    field: '$.deadlineMs'
    value: number
  }

  export function encode (obj: Partial<CallForBids>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, CallForBids.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<CallForBids>): CallForBids {
    return decodeMessage(buf, CallForBids.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<CallForBids>): Generator<CallForBidsTaskIdFieldEvent | CallForBidsCapabilitiesFieldEvent | CallForBidsPriorityFieldEvent | CallForBidsDeadlineMsFieldEvent> {
    return streamMessage(buf, CallForBids.codec(), opts)
  }
}

export interface Bid {
  accept: boolean
  reason: string
  match: number
  queued: number
  running: number
  capacity: number
  cpu: number
}

export namespace Bid {
  let _codec: Codec<Bid>

  export const codec = (): Codec<Bid> => {
    if (_codec == null) {
      _codec = message<Bid>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.accept != null && obj.accept !== false)) {
          w.uint32(8)
          w.bool(obj.accept)
        }

        if ((obj.reason != null && obj.reason !== '')) {
          w.uint32(18)
          w.string(obj.reason)
        }

        if ((obj.match != null && obj.match !== 0)) {
          w.uint32(25)
          w.double(obj.match)
        }

        if ((obj.queued != null && obj.queued !== 0)) {
          w.uint32(32)
          w.uint32(obj.queued)
        }

        if ((obj.running != null && obj.running !== 0)) {
          w.uint32(40)
          w.uint32(obj.running)
        }

        if ((obj.capacity != null && obj.capacity !== 0)) {
          w.uint32(48)
          w.uint32(obj.capacity)
        }

        if ((obj.cpu != null && obj.cpu !== 0)) {
          w.uint32(57)
          w.double(obj.cpu)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          accept: false,
          reason: '',
          match: 0,
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
              obj.accept = reader.bool()
              break
            }
            case 2: {
              obj.reason = reader.string()
              break
            }
            case 3: {
              obj.match = reader.double()
              break
            }
            case 4: {
              obj.queued = reader.uint32()
              break
            }
            case 5: {
              obj.running = reader.uint32()
              break
            }
            case 6: {
              obj.capacity = reader.uint32()
              break
            }
            case 7: {
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
                field: `${prefix}.accept`,
                value: reader.bool()
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
                field: `${prefix}.match`,
                value: reader.double()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.queued`,
                value: reader.uint32()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.running`,
                value: reader.uint32()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.capacity`,
                value: reader.uint32()
              }
              break
            }
            case 7: {
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

  export interface BidAcceptFieldEvent {
    field: '$.accept'
    value: boolean
  }

  export interface BidReasonFieldEvent {
    field: '$.reason'
    value: string
  }

  export interface BidMatchFieldEvent {
    field: '$.match'
    value: number
  }

  export interface BidQueuedFieldEvent {
    field: '$.queued'
    value: number
  }

  export interface BidRunningFieldEvent {
    field: '$.running'
    value: number
  }

  export interface BidCapacityFieldEvent {
    field: '$.capacity'
    value: number
  }

  export interface BidCpuFieldEvent {
    field: '$.cpu'
    value: number
  }

  export function encode (obj: Partial<Bid>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Bid.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Bid>): Bid {
    return decodeMessage(buf, Bid.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Bid>): Generator<BidAcceptFieldEvent | BidReasonFieldEvent | BidMatchFieldEvent | BidQueuedFieldEvent | BidRunningFieldEvent | BidCapacityFieldEvent | BidCpuFieldEvent> {
    return streamMessage(buf, Bid.codec(), opts)
  }
}

export interface AwardNotice {
  taskId: string
  winner: string
  winningScore: number
  yourScore: number
}

export namespace AwardNotice {
  let _codec: Codec<AwardNotice>

  export const codec = (): Codec<AwardNotice> => {
    if (_codec == null) {
      _codec = message<AwardNotice>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.taskId != null && obj.taskId !== '')) {
          w.uint32(10)
          w.string(obj.taskId)
        }

        if ((obj.winner != null && obj.winner !== '')) {
          w.uint32(18)
          w.string(obj.winner)
        }

        if ((obj.winningScore != null && obj.winningScore !== 0)) {
          w.uint32(25)
          w.double(obj.winningScore)
        }

        if ((obj.yourScore != null && obj.yourScore !== 0)) {
          w.uint32(33)
          w.double(obj.yourScore)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          taskId: '',
          winner: '',
          winningScore: 0,
          yourScore: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.taskId = reader.string()
              break
            }
            case 2: {
              obj.winner = reader.string()
              break
            }
            case 3: {
              obj.winningScore = reader.double()
              break
            }
            case 4: {
              obj.yourScore = reader.double()
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
                field: `${prefix}.taskId`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.winner`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.winningScore`,
                value: reader.double()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.yourScore`,
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

  export interface AwardNoticeTaskIdFieldEvent {
    field: '$.taskId'
    value: string
  }

  export interface AwardNoticeWinnerFieldEvent {
    field: '$.winner'
    value: string
  }

  export interface AwardNoticeWinningScoreFieldEvent {
    field: '$.winningScore'
    value: number
  }

  export interface AwardNoticeYourScoreFieldEvent {
    field: '$.yourScore'
    value: number
  }

  export function encode (obj: Partial<AwardNotice>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, AwardNotice.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<AwardNotice>): AwardNotice {
    return decodeMessage(buf, AwardNotice.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<AwardNotice>): Generator<AwardNoticeTaskIdFieldEvent | AwardNoticeWinnerFieldEvent | AwardNoticeWinningScoreFieldEvent | AwardNoticeYourScoreFieldEvent> {
    return streamMessage(buf, AwardNotice.codec(), opts)
  }
}

export interface AuctionRequest {
  call?: CallForBids
  award?: AwardNotice
  calls: CallForBids[]
  awards: AwardNotice[]
}

export namespace AuctionRequest {
  let _codec: Codec<AuctionRequest>

  export const codec = (): Codec<AuctionRequest> => {
    if (_codec == null) {
      _codec = message<AuctionRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.call != null) {
          w.uint32(10)
          CallForBids.codec().encode(obj.call, w)
        }

        if (obj.award != null) {
          w.uint32(18)
          AwardNotice.codec().encode(obj.award, w)
        }

        if (obj.calls != null && obj.calls.length > 0) {
          for (const value of obj.calls) {
            w.uint32(26)
            CallForBids.codec().encode(value, w)
          }
        }

        if (obj.awards != null && obj.awards.length > 0) {
          for (const value of obj.awards) {
            w.uint32(34)
            AwardNotice.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          calls: [],
          awards: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.call = CallForBids.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.call
              })
              break
            }
            case 2: {
              obj.award = AwardNotice.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.award
              })
              break
            }
            case 3: {
              if (opts.limits?.calls != null && obj.calls.length === opts.limits.calls) {
                throw new MaxLengthError('Decode error - repeated field "calls" had too many elements')
              }

              obj.calls.push(CallForBids.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.calls$
              }))
              break
            }
            case 4: {
              if (opts.limits?.awards != null && obj.awards.length === opts.limits.awards) {
                throw new MaxLengthError('Decode error - repeated field "awards" had too many elements')
              }

              obj.awards.push(AwardNotice.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.awards$
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
          calls: 0,
          awards: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield * CallForBids.codec().stream(reader, reader.uint32(), `${prefix}.call`, {
                limits: opts.limits?.call
              })

              break
            }
            case 2: {
              yield * AwardNotice.codec().stream(reader, reader.uint32(), `${prefix}.award`, {
                limits: opts.limits?.award
              })

              break
            }
            case 3: {
              if (opts.limits?.calls != null && obj.calls === opts.limits.calls) {
                throw new MaxLengthError('Streaming decode error - repeated field "calls" had too many elements')
              }

              for (const evt of CallForBids.codec().stream(reader, reader.uint32(), `${prefix}.calls[]`, {
                limits: opts.limits?.calls$
              })) {
                yield {
                  ...evt,
                  index: obj.calls
                }
              }

              obj.calls++

              break
            }
            case 4: {
              if (opts.limits?.awards != null && obj.awards === opts.limits.awards) {
                throw new MaxLengthError('Streaming decode error - repeated field "awards" had too many elements')
              }

              for (const evt of AwardNotice.codec().stream(reader, reader.uint32(), `${prefix}.awards[]`, {
                limits: opts.limits?.awards$
              })) {
                yield {
                  ...evt,
                  index: obj.awards
                }
              }

              obj.awards++

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

  export interface AuctionRequestCallTaskIdFieldEvent {
    field: '$.call.taskId'
    value: string
  }

  export interface AuctionRequestCallCapabilitiesFieldEvent {
    field: '$.call.capabilities[]'
    index: number
    value: string
  }

  export interface AuctionRequestCallPriorityFieldEvent {
    field: '$.call.priority'
    value: number
  }

  export interface AuctionRequestCallDeadlineMsFieldEvent {
    field: '$.call.deadlineMs'
    value: number
  }

  export interface AuctionRequestAwardTaskIdFieldEvent {
    field: '$.award.taskId'
    value: string
  }

  export interface AuctionRequestAwardWinnerFieldEvent {
    field: '$.award.winner'
    value: string
  }

  export interface AuctionRequestAwardWinningScoreFieldEvent {
    field: '$.award.winningScore'
    value: number
  }

  export interface AuctionRequestAwardYourScoreFieldEvent {
    field: '$.award.yourScore'
    value: number
  }

  export interface AuctionRequestCallsTaskIdFieldEvent {
    field: '$.calls[].taskId'
    value: string
    index: number
  }

  export interface AuctionRequestCallsCapabilitiesFieldEvent {
    field: '$.calls[].capabilities[]'
    index: number
    value: string
  }

  export interface AuctionRequestCallsPriorityFieldEvent {
    field: '$.calls[].priority'
    value: number
    index: number
  }

  export interface AuctionRequestCallsDeadlineMsFieldEvent {
    field: '$.calls[].deadlineMs'
    value: number
    index: number
  }

  export interface AuctionRequestAwardsTaskIdFieldEvent {
    field: '$.awards[].taskId'
    value: string
    index: number
  }

  export interface AuctionRequestAwardsWinnerFieldEvent {
    field: '$.awards[].winner'
    value: string
    index: number
  }

  export interface AuctionRequestAwardsWinningScoreFieldEvent {
    field: '$.awards[].winningScore'
    value: number
    index: number
  }

  export interface AuctionRequestAwardsYourScoreFieldEvent {
    field: '$.awards[].yourScore'
    value: number
    index: number
  }

  export function encode (obj: Partial<AuctionRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, AuctionRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<AuctionRequest>): AuctionRequest {
    return decodeMessage(buf, AuctionRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<AuctionRequest>): Generator<AuctionRequestCallTaskIdFieldEvent | AuctionRequestCallCapabilitiesFieldEvent | AuctionRequestCallPriorityFieldEvent | AuctionRequestCallDeadlineMsFieldEvent | AuctionRequestAwardTaskIdFieldEvent | AuctionRequestAwardWinnerFieldEvent | AuctionRequestAwardWinningScoreFieldEvent | AuctionRequestAwardYourScoreFieldEvent | AuctionRequestCallsTaskIdFieldEvent | AuctionRequestCallsCapabilitiesFieldEvent | AuctionRequestCallsPriorityFieldEvent | AuctionRequestCallsDeadlineMsFieldEvent | AuctionRequestAwardsTaskIdFieldEvent | AuctionRequestAwardsWinnerFieldEvent | AuctionRequestAwardsWinningScoreFieldEvent | AuctionRequestAwardsYourScoreFieldEvent> {
    return streamMessage(buf, AuctionRequest.codec(), opts)
  }
}

export interface AuctionResponse {
  bid?: Bid
  acknowledged: boolean
  bids: Bid[]
}

export namespace AuctionResponse {
  let _codec: Codec<AuctionResponse>

  export const codec = (): Codec<AuctionResponse> => {
    if (_codec == null) {
      _codec = message<AuctionResponse>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.bid != null) {
          w.uint32(10)
          Bid.codec().encode(obj.bid, w)
        }

        if ((obj.acknowledged != null && obj.acknowledged !== false)) {
          w.uint32(16)
          w.bool(obj.acknowledged)
        }

        if (obj.bids != null && obj.bids.length > 0) {
          for (const value of obj.bids) {
            w.uint32(26)
            Bid.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          acknowledged: false,
          bids: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.bid = Bid.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.bid
              })
              break
            }
            case 2: {
              obj.acknowledged = reader.bool()
              break
            }
            case 3: {
              if (opts.limits?.bids != null && obj.bids.length === opts.limits.bids) {
                throw new MaxLengthError('Decode error - repeated field "bids" had too many elements')
              }

              obj.bids.push(Bid.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.bids$
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
          bids: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield * Bid.codec().stream(reader, reader.uint32(), `${prefix}.bid`, {
                limits: opts.limits?.bid
              })

              break
            }
            case 2: {
              yield {
                field: `${prefix}.acknowledged`,
                value: reader.bool()
              }
              break
            }
            case 3: {
              if (opts.limits?.bids != null && obj.bids === opts.limits.bids) {
                throw new MaxLengthError('Streaming decode error - repeated field "bids" had too many elements')
              }

              for (const evt of Bid.codec().stream(reader, reader.uint32(), `${prefix}.bids[]`, {
                limits: opts.limits?.bids$
              })) {
                yield {
                  ...evt,
                  index: obj.bids
                }
              }

              obj.bids++

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

  export interface AuctionResponseBidAcceptFieldEvent {
    field: '$.bid.accept'
    value: boolean
  }

  export interface AuctionResponseBidReasonFieldEvent {
    field: '$.bid.reason'
    value: string
  }

  export interface AuctionResponseBidMatchFieldEvent {
    field: '$.bid.match'
    value: number
  }

  export interface AuctionResponseBidQueuedFieldEvent {
    field: '$.bid.queued'
    value: number
  }

  export interface AuctionResponseBidRunningFieldEvent {
    field: '$.bid.running'
    value: number
  }

  export interface AuctionResponseBidCapacityFieldEvent {
    field: '$.bid.capacity'
    value: number
  }

  export interface AuctionResponseBidCpuFieldEvent {
    field: '$.bid.cpu'
    value: number
  }

  export interface AuctionResponseAcknowledgedFieldEvent {
    field: '$.acknowledged'
    value: boolean
  }

  export interface AuctionResponseBidsAcceptFieldEvent {
    field: '$.bids[].accept'
    value: boolean
    index: number
  }

  export interface AuctionResponseBidsReasonFieldEvent {
    field: '$.bids[].reason'
    value: string
    index: number
  }

  export interface AuctionResponseBidsMatchFieldEvent {
    field: '$.bids[].match'
    value: number
    index: number
  }

  export interface AuctionResponseBidsQueuedFieldEvent {
    field: '$.bids[].queued'
    value: number
    index: number
  }

  export interface AuctionResponseBidsRunningFieldEvent {
    field: '$.bids[].running'
    value: number
    index: number
  }

  export interface AuctionResponseBidsCapacityFieldEvent {
    field: '$.bids[].capacity'
    value: number
    index: number
  }

  export interface AuctionResponseBidsCpuFieldEvent {
    field: '$.bids[].cpu'
    value: number
    index: number
  }

  export function encode (obj: Partial<AuctionResponse>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, AuctionResponse.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<AuctionResponse>): AuctionResponse {
    return decodeMessage(buf, AuctionResponse.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<AuctionResponse>): Generator<AuctionResponseBidAcceptFieldEvent | AuctionResponseBidReasonFieldEvent | AuctionResponseBidMatchFieldEvent | AuctionResponseBidQueuedFieldEvent | AuctionResponseBidRunningFieldEvent | AuctionResponseBidCapacityFieldEvent | AuctionResponseBidCpuFieldEvent | AuctionResponseAcknowledgedFieldEvent | AuctionResponseBidsAcceptFieldEvent | AuctionResponseBidsReasonFieldEvent | AuctionResponseBidsMatchFieldEvent | AuctionResponseBidsQueuedFieldEvent | AuctionResponseBidsRunningFieldEvent | AuctionResponseBidsCapacityFieldEvent | AuctionResponseBidsCpuFieldEvent> {
    return streamMessage(buf, AuctionResponse.codec(), opts)
  }
}

export interface StealRequest {
  maxTasks: number
  capabilities: string[]
}

export namespace StealRequest {
  let _codec: Codec<StealRequest>

  export const codec = (): Codec<StealRequest> => {
    if (_codec == null) {
      _codec = message<StealRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.maxTasks != null && obj.maxTasks !== 0)) {
          w.uint32(8)
          w.uint32(obj.maxTasks)
        }

        if (obj.capabilities != null && obj.capabilities.length > 0) {
          for (const value of obj.capabilities) {
            w.uint32(18)
            w.string(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          maxTasks: 0,
          capabilities: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.maxTasks = reader.uint32()
              break
            }
            case 2: {
              if (opts.limits?.capabilities != null && obj.capabilities.length === opts.limits.capabilities) {
                throw new MaxLengthError('Decode error - repeated field "capabilities" had too many elements')
              }

              obj.capabilities.push(reader.string())
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
          capabilities: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.maxTasks`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
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

  export interface StealRequestMaxTasksFieldEvent {
    field: '$.maxTasks'
    value: number
  }

  export interface StealRequestCapabilitiesFieldEvent {
    field: '$.capabilities[]'
    index: number
    value: string
  }

  export function encode (obj: Partial<StealRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, StealRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<StealRequest>): StealRequest {
    return decodeMessage(buf, StealRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<StealRequest>): Generator<StealRequestMaxTasksFieldEvent | StealRequestCapabilitiesFieldEvent> {
    return streamMessage(buf, StealRequest.codec(), opts)
  }
}

export interface StealResponse {
  taskIds: string[]
  reason: string
}

export namespace StealResponse {
  let _codec: Codec<StealResponse>

  export const codec = (): Codec<StealResponse> => {
    if (_codec == null) {
      _codec = message<StealResponse>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.taskIds != null && obj.taskIds.length > 0) {
          for (const value of obj.taskIds) {
            w.uint32(10)
            w.string(value)
          }
        }

        if ((obj.reason != null && obj.reason !== '')) {
          w.uint32(18)
          w.string(obj.reason)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          taskIds: [],
          reason: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.taskIds != null && obj.taskIds.length === opts.limits.taskIds) {
                throw new MaxLengthError('Decode error - repeated field "taskIds" had too many elements')
              }

              obj.taskIds.push(reader.string())
              break
            }
            case 2: {
              obj.reason = reader.string()
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
          taskIds: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.taskIds != null && obj.taskIds === opts.limits.taskIds) {
                throw new MaxLengthError('Streaming decode error - repeated field "taskIds" had too many elements')
              }

              yield {
                field: `${prefix}.taskIds[]`,
                index: obj.taskIds,
                value: reader.string()
              }

              obj.taskIds++

              break
            }
            case 2: {
              yield {
                field: `${prefix}.reason`,
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

  export interface StealResponseTaskIdsFieldEvent {
    field: '$.taskIds[]'
    index: number
    value: string
  }

  export interface StealResponseReasonFieldEvent {
    field: '$.reason'
    value: string
  }

  export function encode (obj: Partial<StealResponse>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, StealResponse.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<StealResponse>): StealResponse {
    return decodeMessage(buf, StealResponse.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<StealResponse>): Generator<StealResponseTaskIdsFieldEvent | StealResponseReasonFieldEvent> {
    return streamMessage(buf, StealResponse.codec(), opts)
  }
}
