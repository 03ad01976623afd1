/**
 * The state of the replicated application and its canonical snapshot.
 *
 * Snapshot (canonical JSON, version 1): arrays sorted by their first element(s), never objects keyed by
 * user data (no insertion-order dependence, no `__proto__` surprises):
 *   { version: 1, validators: [sorted PeerIds], lastApplied, appliedInSeq,
 *     memory: [[namespace, [[key, value, seq], …]], …],                   sorted by namespace, key
 *     proposals: [{ id, seq, index, proposer, body, thresholdScaled, status, decidedSeq,
 *                   votes: [[voter, decision, seq], …] }, …] }          sorted by (seq, index); votes by voter
 * `restore` accepts only what `snapshot` could have produced: a snapshot from a peer is untrusted until
 * its digest matches the checkpoint proof, and a bad one must fail cleanly, leaving the state untouched.
 */
import { canonicalJson } from '../pbft/types.js'
import {
  entryOverheadFrameBytes, keysPerNamespaceMax, keysTotalMax, memoryFrameBytesMax, operationDepthMax, proposalLifetimeSeqs,
  proposalsDecidedKeptMax, proposalsOpenMax, proposalsOpenPerProposerMax, thresholdScale
} from './limits.js'
import { checkKey, checkNamespace, checkProposalBody, checkValue, isWellFormed, jsonNestingDepth, proposalIdPattern, stateFrameBytes } from './operation.js'
import type { Decision } from './operation.js'

export type ProposalStatus = 'open' | 'approved' | 'rejected' | 'expired'

export interface MemoryEntry {
  value: string
  /** Sequence number of the last write. */
  seq: number
  /** What this entry costs in a STATE frame (key + value + overhead). */
  frameBytes: number
}

export interface Vote {
  decision: Decision
  seq: number
}

export interface Proposal {
  id: string
  /** Where it was proposed: sequence number and position among the operations applied in it. */
  seq: number
  index: number
  proposer: string
  /** Canonical JSON text of the proposal body. */
  body: string
  /** threshold × 10 000. */
  thresholdScaled: number
  /** ⌈threshold × validators⌉: approvals that decide it. */
  requiredApprovals: number
  status: ProposalStatus
  decidedSeq: number | null
  votes: Map<string, Vote>
  approvals: number
  rejections: number
}

export interface AppState {
  lastApplied: number
  /** Operations applied so far in sequence `lastApplied` (the next proposal's index). */
  appliedInSeq: number
  namespaces: Map<string, Map<string, MemoryEntry>>
  keysTotal: number
  memoryFrameBytes: number
  /** Every remembered proposal, in creation order. */
  proposals: Map<string, Proposal>
  /** Open proposals, in creation order. */
  open: Map<string, Proposal>
  openByProposer: Map<string, number>
  /** Decided proposals in forgetting order: (decidedSeq, seq, index). */
  decided: Proposal[]
}

export function emptyState (): AppState {
  return {
    lastApplied: 0,
    appliedInSeq: 0,
    namespaces: new Map(),
    keysTotal: 0,
    memoryFrameBytes: 0,
    proposals: new Map(),
    open: new Map(),
    openByProposer: new Map(),
    decided: []
  }
}

export class SnapshotError extends Error {
  override readonly name = 'SnapshotError'
}

export function compareStrings (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

export function entryFrameBytes (key: string, value: string): number {
  return stateFrameBytes(key) + stateFrameBytes(value) + entryOverheadFrameBytes
}

export function namespaceFrameBytes (namespace: string): number {
  return stateFrameBytes(namespace) + entryOverheadFrameBytes
}

/** ⌈scaled × validators / 10 000⌉ in integers. */
export function requiredApprovals (thresholdScaled: number, validatorCount: number): number {
  return Math.floor((thresholdScaled * validatorCount + thresholdScale - 1) / thresholdScale)
}

/** Status implied by the votes: approved at `required` approvals; rejected once approval is impossible. */
export function tally (approvals: number, rejections: number, required: number, validatorCount: number): 'open' | 'approved' | 'rejected' {
  if (approvals >= required) return 'approved'
  if (rejections > validatorCount - required) return 'rejected'
  return 'open'
}

/** Forgetting order of decided proposals. */
export function decidedOrder (a: Proposal, b: Proposal): number {
  return ((a.decidedSeq ?? 0) - (b.decidedSeq ?? 0)) || (a.seq - b.seq) || (a.index - b.index)
}

export function encodeSnapshot (state: AppState, validators: readonly string[]): string {
  const memory = [...state.namespaces.entries()]
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([namespace, entries]) => [namespace, [...entries.entries()]
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([key, entry]) => [key, entry.value, entry.seq])])
  const proposals = [...state.proposals.values()]
    .sort((a, b) => (a.seq - b.seq) || (a.index - b.index))
    .map(p => ({
      id: p.id,
      seq: p.seq,
      index: p.index,
      proposer: p.proposer,
      body: p.body,
      thresholdScaled: p.thresholdScaled,
      status: p.status,
      decidedSeq: p.decidedSeq,
      votes: [...p.votes.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([voter, vote]) => [voter, vote.decision, vote.seq])
    }))
  return canonicalJson({
    version: 1,
    validators: [...validators].sort(compareStrings),
    lastApplied: state.lastApplied,
    appliedInSeq: state.appliedInSeq,
    memory,
    proposals
  })
}

// ————————————————————————————————————————— decoding (untrusted input)

function check (condition: boolean, what: string): asserts condition {
  if (!condition) throw new SnapshotError(`malformed application snapshot: ${what}`)
}

function isSeq (value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= max
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function exactKeys (value: Record<string, unknown>, keys: string[]): boolean {
  const own = Object.keys(value)
  return own.length === keys.length && keys.every(k => Object.hasOwn(value, k))
}

/** Parse, validate and rebuild a state; throws SnapshotError naming the first problem. */
export function decodeSnapshot (text: string, validators: readonly string[]): AppState {
  check(typeof text === 'string', 'not a string')
  // the nesting of a valid snapshot is fixed (proposal bodies are strings), so a deep one is hostile
  check(jsonNestingDepth(text) <= 6, 'nested too deep')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new SnapshotError(`malformed application snapshot: not JSON (${(err as Error).message})`)
  }
  check(isRecord(parsed), 'not an object')
  check(exactKeys(parsed, ['version', 'validators', 'lastApplied', 'appliedInSeq', 'memory', 'proposals']), 'unexpected or missing fields')
  check(parsed.version === 1, `unsupported version ${String(parsed.version)}`)
  const ours = [...validators].sort(compareStrings)
  check(Array.isArray(parsed.validators) && canonicalJson(parsed.validators) === canonicalJson(ours),
    'validator set differs from this node\'s (a snapshot of another network?)')
  const state = emptyState()
  const { lastApplied, appliedInSeq } = parsed
  check(lastApplied === 0 || isSeq(lastApplied, Number.MAX_SAFE_INTEGER), 'lastApplied')
  check(typeof appliedInSeq === 'number' && Number.isSafeInteger(appliedInSeq) && appliedInSeq >= 0 &&
    (appliedInSeq === 0) === (lastApplied === 0), 'appliedInSeq')
  state.lastApplied = lastApplied as number
  state.appliedInSeq = appliedInSeq
  decodeMemory(parsed.memory, state)
  decodeProposals(parsed.proposals, state, new Set(ours))
  return state
}

function decodeMemory (memory: unknown, state: AppState): void {
  check(Array.isArray(memory), 'memory')
  let previousNamespace: string | null = null
  for (const item of memory) {
    check(Array.isArray(item) && item.length === 2, 'memory namespace')
    const [namespace, entries] = item as [unknown, unknown]
    check(checkNamespace(namespace) == null, 'namespace name')
    const name = namespace as string
    check(previousNamespace == null || previousNamespace < name, 'namespaces not sorted or repeated')
    previousNamespace = name
    check(Array.isArray(entries) && entries.length >= 1 && entries.length <= keysPerNamespaceMax, `namespace ${name}: entry count`)
    const map = new Map<string, MemoryEntry>()
    state.memoryFrameBytes += namespaceFrameBytes(name)
    let previousKey: string | null = null
    for (const entry of entries) {
      check(Array.isArray(entry) && entry.length === 3, `namespace ${name}: entry`)
      const [key, value, seq] = entry as [unknown, unknown, unknown]
      check(checkKey(key) == null && checkValue(value) == null, `namespace ${name}: key or value`)
      check(isSeq(seq, state.lastApplied), `namespace ${name}: seq`)
      check(previousKey == null || previousKey < (key as string), `namespace ${name}: keys not sorted or repeated`)
      previousKey = key as string
      const frameBytes = entryFrameBytes(key as string, value as string)
      map.set(key as string, { value: value as string, seq, frameBytes })
      state.memoryFrameBytes += frameBytes
    }
    state.namespaces.set(name, map)
    state.keysTotal += map.size
  }
  check(state.keysTotal <= keysTotalMax, 'too many keys')
  check(state.memoryFrameBytes <= memoryFrameBytesMax, 'memory store over its budget')
}

function decodeProposals (proposals: unknown, state: AppState, validators: Set<string>): void {
  check(Array.isArray(proposals) && proposals.length <= proposalsOpenMax + proposalsDecidedKeptMax, 'proposals')
  let previous: Proposal | null = null
  for (const item of proposals) {
    check(isRecord(item) && exactKeys(item, ['id', 'seq', 'index', 'proposer', 'body', 'thresholdScaled', 'status', 'decidedSeq', 'votes']), 'proposal fields')
    const { id, seq, index, proposer, body, thresholdScaled, status, decidedSeq, votes } = item
    check(isSeq(seq, state.lastApplied) && typeof index === 'number' && Number.isSafeInteger(index) && index >= 0, 'proposal seq/index')
    check(id === `p-${seq}-${index}` && proposalIdPattern.test(id), 'proposal id')
    check(seq < state.lastApplied || index < state.appliedInSeq, `${id}: beyond the last applied operation`)
    check(previous == null || previous.seq < seq || (previous.seq === seq && previous.index < index), 'proposals not sorted or repeated')
    check(typeof proposer === 'string' && proposer.length >= 1 && proposer.length <= 256 && isWellFormed(proposer), `${id}: proposer`)
    check(typeof body === 'string' && jsonNestingDepth(body) <= operationDepthMax, `${id}: body`)
    let bodyValue: unknown
    try { bodyValue = JSON.parse(body) } catch { check(false, `${id}: body is not JSON`) }
    const canonical = checkProposalBody(bodyValue)
    check(canonical.ok && canonical.text === body, `${id}: body not canonical or too large`)
    check(typeof thresholdScaled === 'number' && Number.isSafeInteger(thresholdScaled) && thresholdScaled >= 1 && thresholdScaled <= thresholdScale, `${id}: threshold`)
    check(status === 'open' || status === 'approved' || status === 'rejected' || status === 'expired', `${id}: status`)
    check(status === 'open' ? decidedSeq === null : isSeq(decidedSeq, state.lastApplied) && decidedSeq >= seq, `${id}: decidedSeq`)
    check(Array.isArray(votes) && votes.length <= validators.size, `${id}: votes`)
    const proposal: Proposal = {
      id,
      seq,
      index,
      proposer,
      body,
      thresholdScaled,
      requiredApprovals: requiredApprovals(thresholdScaled, validators.size),
      status,
      decidedSeq: decidedSeq as number | null,
      votes: new Map(),
      approvals: 0,
      rejections: 0
    }
    let previousVoter: string | null = null
    for (const vote of votes) {
      check(Array.isArray(vote) && vote.length === 3, `${id}: vote`)
      const [voter, decision, voteSeq] = vote as [unknown, unknown, unknown]
      check(typeof voter === 'string' && validators.has(voter), `${id}: vote from a non-validator`)
      check(previousVoter == null || previousVoter < voter, `${id}: voters not sorted or repeated`)
      previousVoter = voter
      check(decision === 'approve' || decision === 'reject', `${id}: decision`)
      check(isSeq(voteSeq, proposal.decidedSeq ?? state.lastApplied) && voteSeq >= seq, `${id}: vote seq`)
      proposal.votes.set(voter, { decision, seq: voteSeq })
      if (decision === 'approve') proposal.approvals++
      else proposal.rejections++
    }
    const implied = tally(proposal.approvals, proposal.rejections, proposal.requiredApprovals, validators.size)
    check(status === 'expired' ? implied === 'open' : implied === status, `${id}: status ${status} does not follow from its votes`)
    state.proposals.set(id, proposal)
    if (status === 'open') {
      check(seq + proposalLifetimeSeqs > state.lastApplied, `${id}: open past its lifetime`)
      state.open.set(id, proposal)
      state.openByProposer.set(proposer, (state.openByProposer.get(proposer) ?? 0) + 1)
    } else {
      state.decided.push(proposal)
    }
    previous = proposal
  }
  check(state.open.size <= proposalsOpenMax && state.decided.length <= proposalsDecidedKeptMax, 'too many proposals')
  for (const count of state.openByProposer.values()) check(count <= proposalsOpenPerProposerMax, 'too many open proposals of one proposer')
  state.decided.sort(decidedOrder)
}
