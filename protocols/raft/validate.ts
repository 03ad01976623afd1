/**
 * Decode-time validation of Raft frames (CometBFT's validateBasic): every field's type and range is
 * checked before the runtime or the core sees a message. Returns the typed value or null (the caller
 * counts the refusal). Stateless; the core checks what needs state (terms, indices, membership).
 */
import type { ClientRequest, Entry, Membership, MembershipChange, Message, Snapshot } from '../../src/core/raft/types.js'
import { limits } from '../../src/core/raft/types.js'
import { operationLengthMax } from '../../src/core/app/limits.js'
import { raftCommittedEntriesMax, raftIdLengthMax, raftProposeRequestsMax, raftReadKeyLengthMax, raftRefusedKeysMax } from './constants.js'

type Obj = Record<string, unknown>

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= raftIdLengthMax
const isBool = (v: unknown): v is boolean => typeof v === 'boolean'
const isIds = (v: unknown): v is string[] => Array.isArray(v) && v.length <= 1000 && v.every(isId)

export function parseJson (body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(body))
  } catch {
    return undefined
  }
}

export function validClientRequest (v: unknown): v is ClientRequest {
  if (!isObj(v)) return false
  return isId(v.client) && isIndex(v.requestId) && v.requestId >= 1 && typeof v.operation === 'string' && v.operation.length <= operationLengthMax &&
    (v.signature === undefined || (typeof v.signature === 'string' && v.signature.length <= 256)) &&
    (v.floor === undefined || (isIndex(v.floor) && v.floor < v.requestId))
}

function validRequests (v: unknown, max: number): v is ClientRequest[] {
  return Array.isArray(v) && v.length <= max && v.every(validClientRequest)
}

function validMembership (v: unknown): v is Membership {
  return isObj(v) && isIds(v.voters) && isIds(v.learners)
}

function validChange (v: unknown): v is MembershipChange {
  return isObj(v) && (v.type === 'add-learner' || v.type === 'promote' || v.type === 'remove') && isId(v.node)
}

export function validEntry (v: unknown): v is Entry {
  if (!isObj(v) || !isIndex(v.index) || v.index < 1 || !isIndex(v.term)) return false
  switch (v.kind) {
    case 'requests': return validRequests(v.requests, Number.MAX_SAFE_INTEGER)
    case 'membership': return validChange(v.change)
    case 'bootstrap': return validMembership(v.membership)
    case 'empty': return true
    default: return false
  }
}

export function validSnapshot (v: unknown): v is Snapshot {
  return isObj(v) && isIndex(v.index) && isIndex(v.term) && validMembership(v.membership) && typeof v.data === 'string' && v.data.length <= limits.snapshotSizeMax
}

function validEntries (v: unknown, max: number): v is Entry[] {
  if (!Array.isArray(v) || v.length > max || !v.every(validEntry)) return false
  // consecutive indices: the core appends them as one run
  for (let i = 1; i < v.length; i++) if ((v[i] as Entry).index !== (v[i - 1] as Entry).index + 1) return false
  return true
}

/** A core message from `sender` (the Noise-authenticated remote PeerId): null when malformed or misattributed. */
export function validMessage (v: unknown, sender: string, self: string): Message | null {
  if (!isObj(v) || v.from !== sender || v.to !== self || !isIndex(v.term)) return null
  let ok: boolean
  switch (v.type) {
    case 'vote': ok = isBool(v.preVote) && isIndex(v.lastIndex) && isIndex(v.lastTerm) && isBool(v.transfer); break
    case 'vote-response': ok = isBool(v.preVote) && isBool(v.granted); break
    case 'append': ok = isIndex(v.prevIndex) && isIndex(v.prevTerm) && isIndex(v.commit) && validEntries(v.entries, limits.entriesPerAppendMax) &&
      ((v.entries as Entry[]).length === 0 || (v.entries as Entry[])[0]?.index === v.prevIndex + 1); break
    case 'append-response': ok = isBool(v.reject) && isIndex(v.index) && isIndex(v.hintIndex) && isIndex(v.hintTerm); break
    case 'heartbeat': ok = isIndex(v.commit) && isIndex(v.readId); break
    case 'heartbeat-response': ok = isIndex(v.readId); break
    case 'snapshot': ok = isIndex(v.snapshotIndex) && isIndex(v.snapshotTerm) && validMembership(v.membership) && isIndex(v.offset) &&
      typeof v.chunk === 'string' && isBool(v.done) && isIndex(v.size) && v.size <= limits.snapshotSizeMax && v.offset + v.chunk.length <= v.size; break
    case 'snapshot-response': ok = isIndex(v.snapshotIndex) && isIndex(v.next) && isBool(v.reject); break
    case 'timeout-now': ok = true; break
    case 'forward': ok = validRequests(v.requests, limits.pendingProposalsMax); break
    case 'read-index': ok = typeof v.readKey === 'string' && v.readKey.length <= raftReadKeyLengthMax; break
    case 'read-index-response': ok = typeof v.readKey === 'string' && v.readKey.length <= raftReadKeyLengthMax && isIndex(v.index); break
    default: ok = false
  }
  return ok ? v as unknown as Message : null
}

/** PROPOSE: client operations from `sender`, whose client ids must all be the sender's own. */
export function validPropose (v: unknown, sender: string): ClientRequest[] | null {
  if (!isObj(v) || !validRequests(v.requests, raftProposeRequestsMax)) return null
  const requests = v.requests as ClientRequest[]
  return requests.every(r => r.client.split('/')[0] === sender) ? requests : null
}

export function validSubscribe (v: unknown): number | null {
  return isObj(v) && isIndex(v.from) ? v.from : null
}

export interface Committed {
  term: number
  leader: string | null
  commit: number
  snapshot?: Snapshot
  entries: Entry[]
}

export function validCommitted (v: unknown): Committed | null {
  if (!isObj(v) || !isIndex(v.term) || !isIndex(v.commit) || !(v.leader === null || isId(v.leader))) return null
  if (v.snapshot !== undefined && !validSnapshot(v.snapshot)) return null
  if (!validEntries(v.entries, raftCommittedEntriesMax)) return null
  return v as unknown as Committed
}

export interface Refused {
  keys: string[]
  reason: string
  leader?: string
}

export function validRefused (v: unknown): Refused | null {
  if (!isObj(v) || !Array.isArray(v.keys) || v.keys.length > raftRefusedKeysMax || !v.keys.every(k => typeof k === 'string' && k.length <= raftReadKeyLengthMax)) return null
  if (typeof v.reason !== 'string' || v.reason.length > 64 || !(v.leader === undefined || isId(v.leader))) return null
  return v as unknown as Refused
}
