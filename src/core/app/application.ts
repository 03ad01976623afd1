/**
 * The replicated application (DESIGN.md, "The replicated application"): a deterministic function of the
 * committed operations, run by every validator in sequence order. It holds
 * - the memory store: namespaced keys and values, each remembering the sequence number of its last write;
 * - proposals and votes: a proposal is approved once ⌈threshold × validators⌉ validators approve, and
 *   rejected once that has become impossible (rejections > (1 − threshold) × validators).
 *
 * `apply` never throws on bad input and never depends on anything but the state, the request and its
 * sequence number: every invalid operation becomes the same `{"ok":false,"error":…}` on every replica.
 * It throws only on a broken invariant of its caller (sequence numbers going backwards).
 * Reads (`get`, `list`, `proposal`, `proposals`) are served locally and reflect `lastApplied`; for a
 * linearizable read, order a `noop` first and read once `lastApplied` has reached its seq.
 * Pure: no `node:*`, no clock, no randomness; hashing is injected.
 */
import { canonicalJson } from '../pbft/types.js'
import type { Application, ClientRequest, Digest } from '../pbft/types.js'
import {
  keysPerNamespaceMax, keysTotalMax, memoryFrameBytesMax, proposalLifetimeSeqs, proposalsDecidedKeptMax, proposalsOpenMax,
  proposalsOpenPerProposerMax, readLimitMax, thresholdScale, validatorPattern, validatorsMax
} from './limits.js'
import { isWellFormed, validateOperation } from './operation.js'
import type { Decision, JsonValue, Operation, OperationCheck } from './operation.js'
import {
  compareStrings, decidedOrder, decodeSnapshot, emptyState, encodeSnapshot, entryFrameBytes, namespaceFrameBytes,
  requiredApprovals, tally
} from './state.js'
import type { AppState, Proposal, ProposalStatus } from './state.js'

export { validateOperation } from './operation.js'
export type { Decision, JsonValue, Operation, OperationCheck } from './operation.js'
export { SnapshotError } from './state.js'
export type { ProposalStatus } from './state.js'

export interface MemoryRead {
  value: string
  /** Sequence number of the last write of this key. */
  seq: number
}

export interface MemoryListEntry extends MemoryRead {
  key: string
}

export interface ProposalView {
  id: string
  seq: number
  proposer: string
  proposal: JsonValue
  threshold: number
  requiredApprovals: number
  validatorCount: number
  status: ProposalStatus
  approvals: number
  rejections: number
  /** Sorted by voter. */
  votes: Array<{ voter: string, decision: Decision, seq: number }>
  decidedSeq: number | null
}

export interface ApplicationStats {
  lastApplied: number
  namespaces: number
  keys: number
  memoryFrameBytes: number
  proposalsOpen: number
  proposalsDecided: number
}

type Result = Record<string, unknown>

function rejected (error: string): string {
  return canonicalJson({ ok: false, error })
}

export class MeshApplication implements Application {
  private state: AppState = emptyState()
  private readonly validators: readonly string[]
  private readonly validatorSet: ReadonlySet<string>
  /** The canonical snapshot of the current state, until the next `apply` or `restore`. */
  private snapshotCache: string | null = null
  private digestCache: Digest | null = null

  /**
   * @param validators the PeerIds whose votes count (genesis order; the set is what matters)
   * @param hash collision-resistant digest of text (sha256 hex in the runtime)
   */
  constructor (validators: readonly string[], private readonly hash: (text: string) => string) {
    if (!Array.isArray(validators) || validators.length < 1 || validators.length > validatorsMax) {
      throw new RangeError(`the application needs 1..${validatorsMax} validators, got ${Array.isArray(validators) ? validators.length : 'none'}`)
    }
    for (const validator of validators) {
      if (typeof validator !== 'string' || !validatorPattern.test(validator)) throw new RangeError(`validator id ${JSON.stringify(validator)} is not a PeerId`)
    }
    if (new Set(validators).size !== validators.length) throw new RangeError('validator ids repeat')
    this.validators = [...validators]
    this.validatorSet = new Set(validators)
  }

  // ————————————————————————————————————————— Application

  apply (request: ClientRequest, seq: number): string {
    if (!Number.isSafeInteger(seq) || seq < 1 || seq < this.state.lastApplied) {
      throw new Error(`apply at seq ${seq} after seq ${this.state.lastApplied}: sequence numbers must not go backwards`)
    }
    this.snapshotCache = null
    this.digestCache = null
    if (seq > this.state.lastApplied) {
      this.state.lastApplied = seq
      this.state.appliedInSeq = 0
      this.expireProposals(seq)
    }
    if (typeof request.client !== 'string' || request.client.length < 1 || request.client.length > 256 || !isWellFormed(request.client)) {
      this.state.appliedInSeq++
      return rejected('invalid client id')
    }
    // A client id is "<PeerId>/<incarnation>" (one request-id space per start of a node): the PeerId
    // is who proposes and votes.
    const client = request.client.split('/')[0] as string
    const check = validateOperation(request.operation)
    if (check.ok && check.op.op === 'bundle') {
      // each bundled operation as if it came alone, in order (its own index: proposal ids stay unique)
      const results = check.op.ops.map(text => this.applyOne(validateOperation(text), client, seq, true))
      return this.ok(seq, { results })
    }
    return this.applyOne(check, client, seq, false)
  }

  private applyOne (check: OperationCheck, client: string, seq: number, bundled: boolean): string {
    const index = this.state.appliedInSeq++
    if (!check.ok) return rejected(check.error)
    const op = check.op
    switch (op.op) {
      case 'put': return this.put(op, seq)
      case 'delete': return this.delete(op, seq)
      case 'propose': return this.propose(op, client, seq, index)
      case 'vote': return this.vote(op, client, seq)
      case 'noop': return this.ok(seq, {})
      case 'bundle': return bundled ? rejected('bundles do not nest') : rejected('bundle in the wrong place')
    }
  }

  digest (): Digest {
    this.digestCache ??= this.hash(this.snapshot())
    return this.digestCache
  }

  snapshot (): string {
    this.snapshotCache ??= encodeSnapshot(this.state, this.validators)
    return this.snapshotCache
  }

  /** Replace the state by a snapshot; throws SnapshotError (state untouched) when it is malformed. */
  restore (snapshot: string): void {
    const state = decodeSnapshot(snapshot, this.validators)
    this.state = state
    this.snapshotCache = null
    this.digestCache = null
  }

  // ————————————————————————————————————————— reads (local, as of `lastApplied`)

  /** Sequence number of the last applied operation. */
  get lastApplied (): number {
    return this.state.lastApplied
  }

  get validatorCount (): number {
    return this.validators.length
  }

  get (namespace: string, key: string): MemoryRead | undefined {
    const entry = this.state.namespaces.get(namespace)?.get(key)
    return entry == null ? undefined : { value: entry.value, seq: entry.seq }
  }

  /** Entries of `namespace` whose key starts with `prefix`, sorted by key (UTF-16 order), after `startAfter`. */
  list (namespace: string, prefix = '', limit = 100, startAfter?: string): MemoryListEntry[] {
    checkLimit(limit)
    const entries = this.state.namespaces.get(namespace)
    if (entries == null) return []
    const keys: string[] = []
    for (const key of entries.keys()) {
      if (key.startsWith(prefix) && (startAfter == null || key > startAfter)) keys.push(key)
    }
    keys.sort(compareStrings)
    return keys.slice(0, Math.min(limit, readLimitMax)).map(key => {
      const entry = entries.get(key) as { value: string, seq: number }
      return { key, value: entry.value, seq: entry.seq }
    })
  }

  /** Namespaces with their key counts, sorted by name. */
  namespaces (): Array<{ namespace: string, keys: number }> {
    return [...this.state.namespaces.entries()]
      .map(([namespace, entries]) => ({ namespace, keys: entries.size }))
      .sort((a, b) => compareStrings(a.namespace, b.namespace))
  }

  proposal (id: string): ProposalView | undefined {
    const proposal = this.state.proposals.get(id)
    return proposal == null ? undefined : this.view(proposal)
  }

  /** Newest first; optionally only those with `status`. */
  proposals (limit = 100, status?: ProposalStatus): ProposalView[] {
    checkLimit(limit)
    const out: ProposalView[] = []
    const all = [...this.state.proposals.values()]
    for (let i = all.length - 1; i >= 0 && out.length < Math.min(limit, readLimitMax); i--) {
      const proposal = all[i] as Proposal
      if (status == null || proposal.status === status) out.push(this.view(proposal))
    }
    return out
  }

  stats (): ApplicationStats {
    return {
      lastApplied: this.state.lastApplied,
      namespaces: this.state.namespaces.size,
      keys: this.state.keysTotal,
      memoryFrameBytes: this.state.memoryFrameBytes,
      proposalsOpen: this.state.open.size,
      proposalsDecided: this.state.decided.length
    }
  }

  // ————————————————————————————————————————— memory store

  private put (op: Extract<Operation, { op: 'put' }>, seq: number): string {
    const state = this.state
    const entries = state.namespaces.get(op.namespace)
    const existing = entries?.get(op.key)
    const frameBytes = entryFrameBytes(op.key, op.value)
    let growth = frameBytes - (existing?.frameBytes ?? 0)
    if (existing == null) {
      if ((entries?.size ?? 0) >= keysPerNamespaceMax) return rejected(`namespace full (${keysPerNamespaceMax} keys)`)
      if (state.keysTotal >= keysTotalMax) return rejected(`store full (${keysTotalMax} keys)`)
      if (entries == null) growth += namespaceFrameBytes(op.namespace)
    }
    if (state.memoryFrameBytes + growth > memoryFrameBytesMax) return rejected(`store full (${memoryFrameBytesMax} bytes)`)
    if (entries == null) state.namespaces.set(op.namespace, new Map([[op.key, { value: op.value, seq, frameBytes }]]))
    else entries.set(op.key, { value: op.value, seq, frameBytes })
    if (existing == null) state.keysTotal++
    state.memoryFrameBytes += growth
    return this.ok(seq, { created: existing == null })
  }

  private delete (op: Extract<Operation, { op: 'delete' }>, seq: number): string {
    const state = this.state
    const entries = state.namespaces.get(op.namespace)
    const existing = entries?.get(op.key)
    if (entries == null || existing == null) return this.ok(seq, { deleted: false })
    entries.delete(op.key)
    state.keysTotal--
    state.memoryFrameBytes -= existing.frameBytes
    if (entries.size === 0) {
      state.namespaces.delete(op.namespace)
      state.memoryFrameBytes -= namespaceFrameBytes(op.namespace)
    }
    return this.ok(seq, { deleted: true })
  }

  // ————————————————————————————————————————— proposals and votes

  private propose (op: Extract<Operation, { op: 'propose' }>, proposer: string, seq: number, index: number): string {
    const state = this.state
    if (state.open.size >= proposalsOpenMax) return rejected(`too many open proposals (${proposalsOpenMax})`)
    const mine = state.openByProposer.get(proposer) ?? 0
    if (mine >= proposalsOpenPerProposerMax) return rejected(`too many open proposals from this proposer (${proposalsOpenPerProposerMax})`)
    const id = `p-${seq}-${index}`
    const proposal: Proposal = {
      id,
      seq,
      index,
      proposer,
      body: op.proposal,
      thresholdScaled: op.thresholdScaled,
      requiredApprovals: requiredApprovals(op.thresholdScaled, this.validators.length),
      status: 'open',
      decidedSeq: null,
      votes: new Map(),
      approvals: 0,
      rejections: 0
    }
    state.proposals.set(id, proposal)
    state.open.set(id, proposal)
    state.openByProposer.set(proposer, mine + 1)
    return this.ok(seq, { id, status: proposal.status, requiredApprovals: proposal.requiredApprovals })
  }

  private vote (op: Extract<Operation, { op: 'vote' }>, voter: string, seq: number): string {
    const proposal = this.state.proposals.get(op.id)
    if (proposal == null) return rejected(`unknown proposal ${op.id}`)
    if (!this.validatorSet.has(voter)) return rejected('only validators vote')
    if (proposal.status !== 'open') return rejected(`proposal ${op.id} is already ${proposal.status}`)
    if (proposal.votes.has(voter)) return rejected(`already voted on ${op.id}`)
    proposal.votes.set(voter, { decision: op.decision, seq })
    if (op.decision === 'approve') proposal.approvals++
    else proposal.rejections++
    const status = tally(proposal.approvals, proposal.rejections, proposal.requiredApprovals, this.validators.length)
    if (status !== 'open') this.decide(proposal, status, seq)
    return this.ok(seq, { id: proposal.id, status: proposal.status, approvals: proposal.approvals, rejections: proposal.rejections })
  }

  /** Open proposals older than their lifetime expire, oldest first (creation order). */
  private expireProposals (seq: number): void {
    for (const proposal of this.state.open.values()) {
      if (proposal.seq + proposalLifetimeSeqs > seq) break
      this.decide(proposal, 'expired', seq)
    }
  }

  private decide (proposal: Proposal, status: Exclude<ProposalStatus, 'open'>, seq: number): void {
    const state = this.state
    proposal.status = status
    proposal.decidedSeq = seq
    state.open.delete(proposal.id)
    const mine = (state.openByProposer.get(proposal.proposer) ?? 1) - 1
    if (mine === 0) state.openByProposer.delete(proposal.proposer)
    else state.openByProposer.set(proposal.proposer, mine)
    // keep `decided` in forgetting order (the order a restored state rebuilds): usually this appends
    let at = state.decided.length
    while (at > 0 && decidedOrder(state.decided[at - 1] as Proposal, proposal) > 0) at--
    state.decided.splice(at, 0, proposal)
    while (state.decided.length > proposalsDecidedKeptMax) {
      const forgotten = state.decided.shift() as Proposal
      state.proposals.delete(forgotten.id)
    }
  }

  private ok (seq: number, fields: Result): string {
    return canonicalJson({ ...fields, ok: true, seq })
  }

  private view (proposal: Proposal): ProposalView {
    return {
      id: proposal.id,
      seq: proposal.seq,
      proposer: proposal.proposer,
      proposal: JSON.parse(proposal.body) as JsonValue,
      threshold: proposal.thresholdScaled / thresholdScale,
      requiredApprovals: proposal.requiredApprovals,
      validatorCount: this.validators.length,
      status: proposal.status,
      approvals: proposal.approvals,
      rejections: proposal.rejections,
      votes: [...proposal.votes.entries()]
        .sort(([a], [b]) => compareStrings(a, b))
        .map(([voter, vote]) => ({ voter, decision: vote.decision, seq: vote.seq })),
      decidedSeq: proposal.decidedSeq
    }
  }
}

function checkLimit (limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit must be a non-negative integer, got ${limit}`)
}
