import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface SignedProposal {
  proposer: string
  eligible: string[]
  threshold: number
  deadlineMs: bigint
  createdMs: bigint
  subject: string
  signature: Uint8Array<ArrayBuffer>
}

export namespace SignedProposal {
  let _codec: Codec<SignedProposal>

  export const codec = (): Codec<SignedProposal> => {
    if (_codec == null) {
      _codec = message<SignedProposal>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.proposer != null && obj.proposer !== '')) {
          w.uint32(10)
          w.string(obj.proposer)
        }

        if (obj.eligible != null && obj.eligible.length > 0) {
          for (const value of obj.eligible) {
            w.uint32(18)
            w.string(value)
          }
        }

        if ((obj.threshold != null && obj.threshold !== 0)) {
          w.uint32(25)
          w.double(obj.threshold)
        }

        if ((obj.deadlineMs != null && obj.deadlineMs !== 0n)) {
          w.uint32(32)
          w.uint64(obj.deadlineMs)
        }

        if ((obj.createdMs != null && obj.createdMs !== 0n)) {
          w.uint32(40)
          w.uint64(obj.createdMs)
        }

        if ((obj.subject != null && obj.subject !== '')) {
          w.uint32(50)
          w.string(obj.subject)
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(58)
          w.bytes(obj.signature)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          proposer: '',
          eligible: [],
          threshold: 0,
          deadlineMs: 0n,
          createdMs: 0n,
          subject: '',
          signature: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.proposer = reader.string()
              break
            }
            case 2: {
              if (opts.limits?.eligible != null && obj.eligible.length === opts.limits.eligible) {
                throw new MaxLengthError('Decode error - repeated field "eligible" had too many elements')
              }

              obj.eligible.push(reader.string())
              break
            }
            case 3: {
              obj.threshold = reader.double()
              break
            }
            case 4: {
              obj.deadlineMs = reader.uint64()
              break
            }
            case 5: {
              obj.createdMs = reader.uint64()
              break
            }
            case 6: {
              obj.subject = reader.string()
              break
            }
            case 7: {
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
        const obj = {
          eligible: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.proposer`,
                value: reader.string()
              }
              break
            }
            case 2: {
              if (opts.limits?.eligible != null && obj.eligible === opts.limits.eligible) {
                throw new MaxLengthError('Streaming decode error - repeated field "eligible" had too many elements')
              }

              yield {
                field: `${prefix}.eligible[]`,
                index: obj.eligible,
                value: reader.string()
              }

              obj.eligible++

              break
            }
            case 3: {
              yield {
                field: `${prefix}.threshold`,
                value: reader.double()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.deadlineMs`,
                value: reader.uint64()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.createdMs`,
                value: reader.uint64()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.subject`,
                value: reader.string()
              }
              break
            }
            case 7: {
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

  export interface SignedProposalProposerFieldEvent {
    field: '$.proposer'
    value: string
  }

  export interface SignedProposalEligibleFieldEvent {
    field: '$.eligible[]'
    index: number
    value: string
  }

  export interface SignedProposalThresholdFieldEvent {
    field: '$.threshold'
    value: number
  }

  export interface SignedProposalDeadlineMsFieldEvent {
    field: '$.deadlineMs'
    value: bigint
  }

  export interface SignedProposalCreatedMsFieldEvent {
    field: '$.createdMs'
    value: bigint
  }

  export interface SignedProposalSubjectFieldEvent {
    field: '$.subject'
    value: string
  }

  export interface SignedProposalSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<SignedProposal>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SignedProposal.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedProposal>): SignedProposal {
    return decodeMessage(buf, SignedProposal.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedProposal>): Generator<SignedProposalProposerFieldEvent | SignedProposalEligibleFieldEvent | SignedProposalThresholdFieldEvent | SignedProposalDeadlineMsFieldEvent | SignedProposalCreatedMsFieldEvent | SignedProposalSubjectFieldEvent | SignedProposalSignatureFieldEvent> {
    return streamMessage(buf, SignedProposal.codec(), opts)
  }
}

export interface SignedVote {
  proposal: string
  voter: string
  approve: boolean
  signature: Uint8Array<ArrayBuffer>
}

export namespace SignedVote {
  let _codec: Codec<SignedVote>

  export const codec = (): Codec<SignedVote> => {
    if (_codec == null) {
      _codec = message<SignedVote>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.proposal != null && obj.proposal !== '')) {
          w.uint32(10)
          w.string(obj.proposal)
        }

        if ((obj.voter != null && obj.voter !== '')) {
          w.uint32(18)
          w.string(obj.voter)
        }

        if ((obj.approve != null && obj.approve !== false)) {
          w.uint32(24)
          w.bool(obj.approve)
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.signature)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          proposal: '',
          voter: '',
          approve: false,
          signature: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.proposal = reader.string()
              break
            }
            case 2: {
              obj.voter = reader.string()
              break
            }
            case 3: {
              obj.approve = reader.bool()
              break
            }
            case 4: {
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
                field: `${prefix}.proposal`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.voter`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.approve`,
                value: reader.bool()
              }
              break
            }
            case 4: {
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

  export interface SignedVoteProposalFieldEvent {
    field: '$.proposal'
    value: string
  }

  export interface SignedVoteVoterFieldEvent {
    field: '$.voter'
    value: string
  }

  export interface SignedVoteApproveFieldEvent {
    field: '$.approve'
    value: boolean
  }

  export interface SignedVoteSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<SignedVote>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SignedVote.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedVote>): SignedVote {
    return decodeMessage(buf, SignedVote.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedVote>): Generator<SignedVoteProposalFieldEvent | SignedVoteVoterFieldEvent | SignedVoteApproveFieldEvent | SignedVoteSignatureFieldEvent> {
    return streamMessage(buf, SignedVote.codec(), opts)
  }
}

export interface VotesGossip {
  proposal?: SignedProposal
  vote?: SignedVote
}

export namespace VotesGossip {
  let _codec: Codec<VotesGossip>

  export const codec = (): Codec<VotesGossip> => {
    if (_codec == null) {
      _codec = message<VotesGossip>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.proposal != null) {
          w.uint32(10)
          SignedProposal.codec().encode(obj.proposal, w)
        }

        if (obj.vote != null) {
          w.uint32(18)
          SignedVote.codec().encode(obj.vote, w)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {}

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.proposal = SignedProposal.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.proposal
              })
              break
            }
            case 2: {
              obj.vote = SignedVote.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.vote
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
              yield * SignedProposal.codec().stream(reader, reader.uint32(), `${prefix}.proposal`, {
                limits: opts.limits?.proposal
              })

              break
            }
            case 2: {
              yield * SignedVote.codec().stream(reader, reader.uint32(), `${prefix}.vote`, {
                limits: opts.limits?.vote
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

  export interface VotesGossipProposalProposerFieldEvent {
    field: '$.proposal.proposer'
    value: string
  }

  export interface VotesGossipProposalEligibleFieldEvent {
    field: '$.proposal.eligible[]'
    index: number
    value: string
  }

  export interface VotesGossipProposalThresholdFieldEvent {
    field: '$.proposal.threshold'
    value: number
  }

  export interface VotesGossipProposalDeadlineMsFieldEvent {
    field: '$.proposal.deadlineMs'
    value: bigint
  }

  export interface VotesGossipProposalCreatedMsFieldEvent {
    field: '$.proposal.createdMs'
    value: bigint
  }

  export interface VotesGossipProposalSubjectFieldEvent {
    field: '$.proposal.subject'
    value: string
  }

  export interface VotesGossipProposalSignatureFieldEvent {
    field: '$.proposal.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export interface VotesGossipVoteProposalFieldEvent {
    field: '$.vote.proposal'
    value: string
  }

  export interface VotesGossipVoteVoterFieldEvent {
    field: '$.vote.voter'
    value: string
  }

  export interface VotesGossipVoteApproveFieldEvent {
    field: '$.vote.approve'
    value: boolean
  }

  export interface VotesGossipVoteSignatureFieldEvent {
    field: '$.vote.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<VotesGossip>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, VotesGossip.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<VotesGossip>): VotesGossip {
    return decodeMessage(buf, VotesGossip.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<VotesGossip>): Generator<VotesGossipProposalProposerFieldEvent | VotesGossipProposalEligibleFieldEvent | VotesGossipProposalThresholdFieldEvent | VotesGossipProposalDeadlineMsFieldEvent | VotesGossipProposalCreatedMsFieldEvent | VotesGossipProposalSubjectFieldEvent | VotesGossipProposalSignatureFieldEvent | VotesGossipVoteProposalFieldEvent | VotesGossipVoteVoterFieldEvent | VotesGossipVoteApproveFieldEvent | VotesGossipVoteSignatureFieldEvent> {
    return streamMessage(buf, VotesGossip.codec(), opts)
  }
}

export interface DigestEntry {
  id: string
  hash: Uint8Array<ArrayBuffer>
}

export namespace DigestEntry {
  let _codec: Codec<DigestEntry>

  export const codec = (): Codec<DigestEntry> => {
    if (_codec == null) {
      _codec = message<DigestEntry>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.id != null && obj.id !== '')) {
          w.uint32(10)
          w.string(obj.id)
        }

        if ((obj.hash != null && obj.hash.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.hash)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          id: '',
          hash: uint8ArrayAlloc(0)
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
              obj.hash = reader.bytes()
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
                field: `${prefix}.hash`,
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

  export interface DigestEntryIdFieldEvent {
    field: '$.id'
    value: string
  }

  export interface DigestEntryHashFieldEvent {
    field: '$.hash'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<DigestEntry>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, DigestEntry.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DigestEntry>): DigestEntry {
    return decodeMessage(buf, DigestEntry.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DigestEntry>): Generator<DigestEntryIdFieldEvent | DigestEntryHashFieldEvent> {
    return streamMessage(buf, DigestEntry.codec(), opts)
  }
}

export interface Item {
  proposal?: SignedProposal
  votes: SignedVote[]
}

export namespace Item {
  let _codec: Codec<Item>

  export const codec = (): Codec<Item> => {
    if (_codec == null) {
      _codec = message<Item>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.proposal != null) {
          w.uint32(10)
          SignedProposal.codec().encode(obj.proposal, w)
        }

        if (obj.votes != null && obj.votes.length > 0) {
          for (const value of obj.votes) {
            w.uint32(18)
            SignedVote.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          votes: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.proposal = SignedProposal.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.proposal
              })
              break
            }
            case 2: {
              if (opts.limits?.votes != null && obj.votes.length === opts.limits.votes) {
                throw new MaxLengthError('Decode error - repeated field "votes" had too many elements')
              }

              obj.votes.push(SignedVote.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.votes$
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
          votes: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield * SignedProposal.codec().stream(reader, reader.uint32(), `${prefix}.proposal`, {
                limits: opts.limits?.proposal
              })

              break
            }
            case 2: {
              if (opts.limits?.votes != null && obj.votes === opts.limits.votes) {
                throw new MaxLengthError('Streaming decode error - repeated field "votes" had too many elements')
              }

              for (const evt of SignedVote.codec().stream(reader, reader.uint32(), `${prefix}.votes[]`, {
                limits: opts.limits?.votes$
              })) {
                yield {
                  ...evt,
                  index: obj.votes
                }
              }

              obj.votes++

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

  export interface ItemProposalProposerFieldEvent {
    field: '$.proposal.proposer'
    value: string
  }

  export interface ItemProposalEligibleFieldEvent {
    field: '$.proposal.eligible[]'
    index: number
    value: string
  }

  export interface ItemProposalThresholdFieldEvent {
    field: '$.proposal.threshold'
    value: number
  }

  export interface ItemProposalDeadlineMsFieldEvent {
    field: '$.proposal.deadlineMs'
    value: bigint
  }

  export interface ItemProposalCreatedMsFieldEvent {
    field: '$.proposal.createdMs'
    value: bigint
  }

  export interface ItemProposalSubjectFieldEvent {
    field: '$.proposal.subject'
    value: string
  }

  export interface ItemProposalSignatureFieldEvent {
    field: '$.proposal.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ItemVotesProposalFieldEvent {
    field: '$.votes[].proposal'
    value: string
    index: number
  }

  export interface ItemVotesVoterFieldEvent {
    field: '$.votes[].voter'
    value: string
    index: number
  }

  export interface ItemVotesApproveFieldEvent {
    field: '$.votes[].approve'
    value: boolean
    index: number
  }

  export interface ItemVotesSignatureFieldEvent {
    field: '$.votes[].signature'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export function encode (obj: Partial<Item>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Item.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Item>): Item {
    return decodeMessage(buf, Item.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Item>): Generator<ItemProposalProposerFieldEvent | ItemProposalEligibleFieldEvent | ItemProposalThresholdFieldEvent | ItemProposalDeadlineMsFieldEvent | ItemProposalCreatedMsFieldEvent | ItemProposalSubjectFieldEvent | ItemProposalSignatureFieldEvent | ItemVotesProposalFieldEvent | ItemVotesVoterFieldEvent | ItemVotesApproveFieldEvent | ItemVotesSignatureFieldEvent> {
    return streamMessage(buf, Item.codec(), opts)
  }
}

export interface VotesRequest {
  digest: DigestEntry[]
  items: Item[]
}

export namespace VotesRequest {
  let _codec: Codec<VotesRequest>

  export const codec = (): Codec<VotesRequest> => {
    if (_codec == null) {
      _codec = message<VotesRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.digest != null && obj.digest.length > 0) {
          for (const value of obj.digest) {
            w.uint32(10)
            DigestEntry.codec().encode(value, w)
          }
        }

        if (obj.items != null && obj.items.length > 0) {
          for (const value of obj.items) {
            w.uint32(18)
            Item.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          digest: [],
          items: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.digest != null && obj.digest.length === opts.limits.digest) {
                throw new MaxLengthError('Decode error - repeated field "digest" had too many elements')
              }

              obj.digest.push(DigestEntry.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.digest$
              }))
              break
            }
            case 2: {
              if (opts.limits?.items != null && obj.items.length === opts.limits.items) {
                throw new MaxLengthError('Decode error - repeated field "items" had too many elements')
              }

              obj.items.push(Item.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.items$
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
          digest: 0,
          items: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.digest != null && obj.digest === opts.limits.digest) {
                throw new MaxLengthError('Streaming decode error - repeated field "digest" had too many elements')
              }

              for (const evt of DigestEntry.codec().stream(reader, reader.uint32(), `${prefix}.digest[]`, {
                limits: opts.limits?.digest$
              })) {
                yield {
                  ...evt,
                  index: obj.digest
                }
              }

              obj.digest++

              break
            }
            case 2: {
              if (opts.limits?.items != null && obj.items === opts.limits.items) {
                throw new MaxLengthError('Streaming decode error - repeated field "items" had too many elements')
              }

              for (const evt of Item.codec().stream(reader, reader.uint32(), `${prefix}.items[]`, {
                limits: opts.limits?.items$
              })) {
                yield {
                  ...evt,
                  index: obj.items
                }
              }

              obj.items++

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

  export interface VotesRequestDigestIdFieldEvent {
    field: '$.digest[].id'
    value: string
    index: number
  }

  export interface VotesRequestDigestHashFieldEvent {
    field: '$.digest[].hash'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface VotesRequestItemsProposalProposerFieldEvent {
    field: '$.items[].proposal.proposer'
    value: string
    index: number
  }

  export interface VotesRequestItemsProposalEligibleFieldEvent {
    field: '$.items[].proposal.eligible[]'
    index: number
    value: string
  }

  export interface VotesRequestItemsProposalThresholdFieldEvent {
    field: '$.items[].proposal.threshold'
    value: number
    index: number
  }

  export interface VotesRequestItemsProposalDeadlineMsFieldEvent {
    field: '$.items[].proposal.deadlineMs'
    value: bigint
    index: number
  }

  export interface VotesRequestItemsProposalCreatedMsFieldEvent {
    field: '$.items[].proposal.createdMs'
    value: bigint
    index: number
  }

  export interface VotesRequestItemsProposalSubjectFieldEvent {
    field: '$.items[].proposal.subject'
    value: string
    index: number
  }

  export interface VotesRequestItemsProposalSignatureFieldEvent {
    field: '$.items[].proposal.signature'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface VotesRequestItemsVotesProposalFieldEvent {
    field: '$.items[].votes[].proposal'
    value: string
    index: number
  }

  export interface VotesRequestItemsVotesVoterFieldEvent {
    field: '$.items[].votes[].voter'
    value: string
    index: number
  }

  export interface VotesRequestItemsVotesApproveFieldEvent {
    field: '$.items[].votes[].approve'
    value: boolean
    index: number
  }

  export interface VotesRequestItemsVotesSignatureFieldEvent {
    field: '$.items[].votes[].signature'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export function encode (obj: Partial<VotesRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, VotesRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<VotesRequest>): VotesRequest {
    return decodeMessage(buf, VotesRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<VotesRequest>): Generator<VotesRequestDigestIdFieldEvent | VotesRequestDigestHashFieldEvent | VotesRequestItemsProposalProposerFieldEvent | VotesRequestItemsProposalEligibleFieldEvent | VotesRequestItemsProposalThresholdFieldEvent | VotesRequestItemsProposalDeadlineMsFieldEvent | VotesRequestItemsProposalCreatedMsFieldEvent | VotesRequestItemsProposalSubjectFieldEvent | VotesRequestItemsProposalSignatureFieldEvent | VotesRequestItemsVotesProposalFieldEvent | VotesRequestItemsVotesVoterFieldEvent | VotesRequestItemsVotesApproveFieldEvent | VotesRequestItemsVotesSignatureFieldEvent> {
    return streamMessage(buf, VotesRequest.codec(), opts)
  }
}

export interface VotesResponse {
  items: Item[]
  want: string[]
}

export namespace VotesResponse {
  let _codec: Codec<VotesResponse>

  export const codec = (): Codec<VotesResponse> => {
    if (_codec == null) {
      _codec = message<VotesResponse>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.items != null && obj.items.length > 0) {
          for (const value of obj.items) {
            w.uint32(10)
            Item.codec().encode(value, w)
          }
        }

        if (obj.want != null && obj.want.length > 0) {
          for (const value of obj.want) {
            w.uint32(18)
            w.string(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          items: [],
          want: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.items != null && obj.items.length === opts.limits.items) {
                throw new MaxLengthError('Decode error - repeated field "items" had too many elements')
              }

              obj.items.push(Item.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.items$
              }))
              break
            }
            case 2: {
              if (opts.limits?.want != null && obj.want.length === opts.limits.want) {
                throw new MaxLengthError('Decode error - repeated field "want" had too many elements')
              }

              obj.want.push(reader.string())
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
          items: 0,
          want: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.items != null && obj.items === opts.limits.items) {
                throw new MaxLengthError('Streaming decode error - repeated field "items" had too many elements')
              }

              for (const evt of Item.codec().stream(reader, reader.uint32(), `${prefix}.items[]`, {
                limits: opts.limits?.items$
              })) {
                yield {
                  ...evt,
                  index: obj.items
                }
              }

              obj.items++

              break
            }
            case 2: {
              if (opts.limits?.want != null && obj.want === opts.limits.want) {
                throw new MaxLengthError('Streaming decode error - repeated field "want" had too many elements')
              }

              yield {
                field: `${prefix}.want[]`,
                index: obj.want,
                value: reader.string()
              }

              obj.want++

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

  export interface VotesResponseItemsProposalProposerFieldEvent {
    field: '$.items[].proposal.proposer'
    value: string
    index: number
  }

  export interface VotesResponseItemsProposalEligibleFieldEvent {
    field: '$.items[].proposal.eligible[]'
    index: number
    value: string
  }

  export interface VotesResponseItemsProposalThresholdFieldEvent {
    field: '$.items[].proposal.threshold'
    value: number
    index: number
  }

  export interface VotesResponseItemsProposalDeadlineMsFieldEvent {
    field: '$.items[].proposal.deadlineMs'
    value: bigint
    index: number
  }

  export interface VotesResponseItemsProposalCreatedMsFieldEvent {
    field: '$.items[].proposal.createdMs'
    value: bigint
    index: number
  }

  export interface VotesResponseItemsProposalSubjectFieldEvent {
    field: '$.items[].proposal.subject'
    value: string
    index: number
  }

  export interface VotesResponseItemsProposalSignatureFieldEvent {
    field: '$.items[].proposal.signature'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface VotesResponseItemsVotesProposalFieldEvent {
    field: '$.items[].votes[].proposal'
    value: string
    index: number
  }

  export interface VotesResponseItemsVotesVoterFieldEvent {
    field: '$.items[].votes[].voter'
    value: string
    index: number
  }

  export interface VotesResponseItemsVotesApproveFieldEvent {
    field: '$.items[].votes[].approve'
    value: boolean
    index: number
  }

  export interface VotesResponseItemsVotesSignatureFieldEvent {
    field: '$.items[].votes[].signature'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface VotesResponseWantFieldEvent {
    field: '$.want[]'
    index: number
    value: string
  }

  export function encode (obj: Partial<VotesResponse>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, VotesResponse.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<VotesResponse>): VotesResponse {
    return decodeMessage(buf, VotesResponse.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<VotesResponse>): Generator<VotesResponseItemsProposalProposerFieldEvent | VotesResponseItemsProposalEligibleFieldEvent | VotesResponseItemsProposalThresholdFieldEvent | VotesResponseItemsProposalDeadlineMsFieldEvent | VotesResponseItemsProposalCreatedMsFieldEvent | VotesResponseItemsProposalSubjectFieldEvent | VotesResponseItemsProposalSignatureFieldEvent | VotesResponseItemsVotesProposalFieldEvent | VotesResponseItemsVotesVoterFieldEvent | VotesResponseItemsVotesApproveFieldEvent | VotesResponseItemsVotesSignatureFieldEvent | VotesResponseWantFieldEvent> {
    return streamMessage(buf, VotesResponse.codec(), opts)
  }
}
