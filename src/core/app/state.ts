/**
 * The state of the replicated application and its canonical snapshot.
 *
 * Snapshot (canonical JSON, version 1): arrays sorted by their first element(s), never objects keyed by
 * user data (no insertion-order dependence, no `__proto__` surprises):
 *   { version: 1, validators: [sorted PeerIds], lastApplied, appliedInSeq,
 *     memory: [[namespace, [[key, value, seq], …]], …],                   sorted by namespace, key
 *     proposals: [{ id, seq, index, proposer, body, thresholdScaled, status, decidedSeq,
 *                   votes: [[voter, decision, seq], …] }, …],          sorted by (seq, index); votes by voter
 *     tasks: [[id, [capability, …], payload, priority, timeoutMs, strategy, submitter,
 *              submittedSeq, submittedIndex, state, assignee | null, assignment, updatedSeq, updatedIndex,
 *              result | null, error | null, [[seq, event, node | null, assignment], …]], …] }
 *                                                         sorted by (submittedSeq, submittedIndex)
 * (seq, index) pairs place an operation: its sequence number and its position among the operations
 * applied in it. A task's (updatedSeq, updatedIndex) is its last change; for a finished task that is
 * when it finished, which orders forgetting.
 * `restore` accepts only what `snapshot` could have produced: a snapshot from a peer is untrusted until
 * its digest matches the checkpoint proof, and a bad one must fail cleanly, leaving the state untouched.
 */
import { canonicalJson } from '../pbft/types.js'
import {
  capabilityOverheadFrameBytes, entryOverheadFrameBytes, historyEntryOverheadFrameBytes, keysPerNamespaceMax, keysTotalMax,
  memoryFrameBytesMax, operationDepthMax, proposalLifetimeSeqs, proposalsDecidedKeptMax, proposalsOpenMax, proposalsOpenPerProposerMax,
  taskHistoryMax, taskOverheadFrameBytes, taskPayloadBytesMax, taskPriorityMax, taskResultBytesMax, taskTimeoutMsMax, tasksFinishedKeptMax,
  tasksFrameBytesMax, tasksOpenMax, thresholdScale, validatorsMax
} from './limits.js'
import {
  checkCapabilities, checkTaskData, checkKey, checkNamespace, checkPeerId, checkProposalBody, checkTaskError, checkTaskId, checkValue,
  isWellFormed, jsonNestingDepth, proposalIdPattern, stateFrameBytes
} from './operation.js'
import type { Decision, TaskStrategy } from './operation.js'

export type ProposalStatus = 'open' | 'approved' | 'rejected' | 'expired'

export type TaskState = 'pending' | 'assigned' | 'running' | 'completed' | 'failed' | 'cancelled'
export const taskStates: readonly TaskState[] = ['pending', 'assigned', 'running', 'completed', 'failed', 'cancelled']

/** What happened to a task; `stolen` and `migrated` are the two reasons of `task.move`. */
export type TaskEvent = 'submitted' | 'assigned' | 'started' | 'completed' | 'failed' | 'stolen' | 'migrated' | 'reassigned' | 'released' | 'cancelled'
export const taskEvents: readonly TaskEvent[] = ['submitted', 'assigned', 'started', 'completed', 'failed', 'stolen', 'migrated', 'reassigned', 'released', 'cancelled']

export interface TaskHistoryEntry {
  seq: number
  event: TaskEvent
  /**
   * The node concerned: the assignee (assigned, started, completed, failed), the new assignee (stolen,
   * migrated), the failed node (reassigned), the assignee it was taken from (cancelled, if any); null
   * for submitted.
   */
  node: string | null
  /** The task's assignment number after the event. */
  assignment: number
}

/** One task of the table. Immutable: a change replaces the object (a refused change leaves no trace). */
export interface Task {
  readonly id: string
  readonly capabilities: readonly string[]
  /** JSON text, as submitted. */
  readonly payload: string
  readonly priority: number
  readonly timeoutMs: number
  readonly strategy: TaskStrategy
  /** PeerId of the client that submitted it. */
  readonly submitter: string
  readonly submittedSeq: number
  readonly submittedIndex: number
  readonly state: TaskState
  /** The node that holds it (assigned, running) or finished it (completed, failed); null otherwise. */
  readonly assignee: string | null
  /** Fencing number: +1 at every assign and move; 0 until first assigned. */
  readonly assignment: number
  readonly updatedSeq: number
  readonly updatedIndex: number
  /** JSON text of a completed task's result. */
  readonly result: string | null
  /** Why a failed task failed. */
  readonly error: string | null
  /** The last `taskHistoryMax` events, oldest first. */
  readonly history: readonly TaskHistoryEntry[]
  /** What this task costs in a STATE frame. */
  readonly frameBytes: number
}

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
  /** Every remembered task, in submission order (submittedSeq, submittedIndex). */
  tasks: Map<string, Task>
  /** Tasks pending, assigned or running. */
  tasksOpen: number
  /** Finished tasks in forgetting order: (updatedSeq, updatedIndex), i.e. the order they finished in. */
  tasksFinished: Task[]
  /** Frame bytes of every task, and of the finished ones (what forgetting them all would free). */
  taskFrameBytes: number
  tasksFinishedFrameBytes: number
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
    decided: [],
    tasks: new Map(),
    tasksOpen: 0,
    tasksFinished: [],
    taskFrameBytes: 0,
    tasksFinishedFrameBytes: 0
  }
}

export function isTerminal (state: TaskState): boolean {
  return state === 'completed' || state === 'failed' || state === 'cancelled'
}

/** Frame bytes of a number as written (non-negative integers). */
function digits (value: number): number {
  return String(value).length
}

/** Frame bytes of a string that may be null. */
function nullableFrameBytes (text: string | null): number {
  return text == null ? 4 : 8 + stateFrameBytes(text)
}

export function historyEntryFrameBytes (entry: TaskHistoryEntry): number {
  return historyEntryOverheadFrameBytes + digits(entry.seq) + entry.event.length + nullableFrameBytes(entry.node) + digits(entry.assignment)
}

/** What a task costs in a STATE frame (its snapshot array, escaped twice more), exactly up to a few separators. */
export function taskFrameBytes (task: Omit<Task, 'frameBytes'>): number {
  let bytes = taskOverheadFrameBytes + stateFrameBytes(task.id) + stateFrameBytes(task.payload) + task.strategy.length +
    stateFrameBytes(task.submitter) + task.state.length + nullableFrameBytes(task.assignee) + nullableFrameBytes(task.result) +
    nullableFrameBytes(task.error) + digits(task.priority) + digits(task.timeoutMs) + digits(task.submittedSeq) +
    digits(task.submittedIndex) + digits(task.assignment) + digits(task.updatedSeq) + digits(task.updatedIndex)
  for (const capability of task.capabilities) bytes += capabilityOverheadFrameBytes + stateFrameBytes(capability)
  for (const entry of task.history) bytes += historyEntryFrameBytes(entry)
  return bytes
}

/** Submission order: (submittedSeq, submittedIndex). */
export function submittedOrder (a: Task, b: Task): number {
  return (a.submittedSeq - b.submittedSeq) || (a.submittedIndex - b.submittedIndex)
}

/** Forgetting order of finished tasks: (updatedSeq, updatedIndex), unique since one operation finishes at most one task. */
export function finishedOrder (a: Task, b: Task): number {
  return (a.updatedSeq - b.updatedSeq) || (a.updatedIndex - b.updatedIndex)
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
  const tasks = [...state.tasks.values()]
    .sort(submittedOrder)
    .map(t => [
      t.id, [...t.capabilities], t.payload, t.priority, t.timeoutMs, t.strategy, t.submitter, t.submittedSeq, t.submittedIndex, t.state,
      t.assignee, t.assignment, t.updatedSeq, t.updatedIndex, t.result, t.error, t.history.map(h => [h.seq, h.event, h.node, h.assignment])
    ])
  return canonicalJson({
    version: 1,
    validators: [...validators].sort(compareStrings),
    lastApplied: state.lastApplied,
    appliedInSeq: state.appliedInSeq,
    memory,
    proposals,
    tasks
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
  return decodeSnapshotAndVoters(text, validators).state
}

/**
 * `decodeSnapshot`, and the validator set the snapshot names. `expected` null: any well-formed set
 * (1..64 sorted distinct PeerIds) is taken — a Raft application's voters follow the membership; a
 * set: the snapshot's must equal it (pBFT: a snapshot of another network is refused).
 */
export function decodeSnapshotAndVoters (text: string, expected: readonly string[] | null): { state: AppState, validators: string[] } {
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
  // snapshots written before the task table existed have no "tasks": read as an empty table
  check(exactKeys(parsed, ['version', 'validators', 'lastApplied', 'appliedInSeq', 'memory', 'proposals', 'tasks']) ||
    exactKeys(parsed, ['version', 'validators', 'lastApplied', 'appliedInSeq', 'memory', 'proposals']), 'unexpected or missing fields')
  check(parsed.version === 1, `unsupported version ${String(parsed.version)}`)
  let ours: string[]
  if (expected != null) {
    ours = [...expected].sort(compareStrings)
    check(Array.isArray(parsed.validators) && canonicalJson(parsed.validators) === canonicalJson(ours),
      'validator set differs from this node\'s (a snapshot of another network?)')
  } else {
    const named = parsed.validators
    check(Array.isArray(named) && named.length >= 1 && named.length <= validatorsMax, 'validators')
    ours = named as string[]
    ours.forEach((v, i) => { check(checkPeerId(v, 'validator') == null && (i === 0 || compareStrings(ours[i - 1] as string, v) < 0), 'validators not PeerIds, sorted and distinct') })
  }
  const state = emptyState()
  const { lastApplied, appliedInSeq } = parsed
  check(lastApplied === 0 || isSeq(lastApplied, Number.MAX_SAFE_INTEGER), 'lastApplied')
  check(typeof appliedInSeq === 'number' && Number.isSafeInteger(appliedInSeq) && appliedInSeq >= 0 &&
    (appliedInSeq === 0) === (lastApplied === 0), 'appliedInSeq')
  state.lastApplied = lastApplied as number
  state.appliedInSeq = appliedInSeq
  decodeMemory(parsed.memory, state)
  decodeProposals(parsed.proposals, state, new Set(ours))
  decodeTasks(parsed.tasks ?? [], state)
  return { state, validators: ours }
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

function isIndex (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

/** The event a task's last history entry must be, for each state. */
const lastEvents: Record<TaskState, readonly TaskEvent[]> = {
  pending: ['submitted', 'reassigned', 'released'],
  assigned: ['assigned', 'stolen', 'migrated'],
  running: ['started'],
  completed: ['completed'],
  failed: ['failed'],
  cancelled: ['cancelled']
}

function decodeTasks (tasks: unknown, state: AppState): void {
  check(Array.isArray(tasks) && tasks.length <= tasksOpenMax + tasksFinishedKeptMax, 'tasks')
  let previous: Task | null = null
  for (const item of tasks) {
    check(Array.isArray(item) && item.length === 17, 'task fields')
    const [
      id, capabilities, payload, priority, timeoutMs, strategy, submitter, submittedSeq, submittedIndex, taskState,
      assignee, assignment, updatedSeq, updatedIndex, result, error, history
    ] = item as unknown[]
    check(checkTaskId(id) == null, 'task id')
    const name = id as string
    check(!state.tasks.has(name), `task ${name}: repeated`)
    check(checkCapabilities(capabilities) == null, `task ${name}: capabilities`)
    check(checkTaskData(payload, 'payload', taskPayloadBytesMax) == null, `task ${name}: payload`)
    check(typeof priority === 'number' && Number.isSafeInteger(priority) && priority >= 0 && priority <= taskPriorityMax, `task ${name}: priority`)
    check(typeof timeoutMs === 'number' && Number.isSafeInteger(timeoutMs) && timeoutMs >= 1 && timeoutMs <= taskTimeoutMsMax, `task ${name}: timeoutMs`)
    check(strategy === 'auction' || strategy === 'dht', `task ${name}: strategy`)
    check(checkPeerId(submitter, 'submitter') == null, `task ${name}: submitter`)
    check(isSeq(submittedSeq, state.lastApplied) && isIndex(submittedIndex), `task ${name}: submitted seq/index`)
    check(submittedSeq < state.lastApplied || submittedIndex < state.appliedInSeq, `task ${name}: submitted beyond the last applied operation`)
    check(previous == null || previous.submittedSeq < submittedSeq || (previous.submittedSeq === submittedSeq && previous.submittedIndex < submittedIndex),
      'tasks not sorted by submission, or submitted at the same place')
    check(typeof taskState === 'string' && (taskStates as readonly string[]).includes(taskState), `task ${name}: state`)
    const status = taskState as TaskState
    check(isIndex(assignment), `task ${name}: assignment`)
    check(isSeq(updatedSeq, state.lastApplied) && isIndex(updatedIndex), `task ${name}: updated seq/index`)
    check(updatedSeq > submittedSeq || (updatedSeq === submittedSeq && updatedIndex >= submittedIndex), `task ${name}: updated before submitted`)
    check(updatedSeq < state.lastApplied || updatedIndex < state.appliedInSeq, `task ${name}: updated beyond the last applied operation`)
    // what each state holds
    const held = status === 'assigned' || status === 'running' || status === 'completed' || status === 'failed'
    check(held ? checkPeerId(assignee, 'assignee') == null && assignment >= 1 : assignee === null, `task ${name}: assignee in state ${status}`)
    check(status === 'completed' ? checkTaskData(result, 'result', taskResultBytesMax) == null : result === null, `task ${name}: result`)
    check(status === 'failed' ? checkTaskError(error) == null : error === null, `task ${name}: error`)
    // history: 1..taskHistoryMax entries in order, the last one the change that made the task what it is
    check(Array.isArray(history) && history.length >= 1 && history.length <= taskHistoryMax, `task ${name}: history`)
    const entries: TaskHistoryEntry[] = []
    for (const raw of history) {
      check(Array.isArray(raw) && raw.length === 4, `task ${name}: history entry`)
      const [seq, event, node, entryAssignment] = raw as unknown[]
      check(isSeq(seq, updatedSeq) && seq >= submittedSeq, `task ${name}: history seq`)
      check(typeof event === 'string' && (taskEvents as readonly string[]).includes(event), `task ${name}: history event`)
      check(event === 'submitted' || event === 'cancelled' ? node === null || (event === 'cancelled' && checkPeerId(node, 'node') == null) : checkPeerId(node, 'node') == null,
        `task ${name}: history node`)
      check(isIndex(entryAssignment) && entryAssignment <= assignment, `task ${name}: history assignment`)
      const before = entries[entries.length - 1]
      check(before == null || (before.seq <= seq && before.assignment <= entryAssignment), `task ${name}: history out of order`)
      check(event !== 'submitted' || (entries.length === 0 && seq === submittedSeq && entryAssignment === 0), `task ${name}: submitted entry`)
      entries.push({ seq, event: event as TaskEvent, node: node as string | null, assignment: entryAssignment })
    }
    const last = entries[entries.length - 1] as TaskHistoryEntry
    check(last.seq === updatedSeq && last.assignment === assignment && lastEvents[status].includes(last.event), `task ${name}: history does not end in its state`)
    const fields = {
      id: name,
      capabilities: capabilities as string[],
      payload: payload as string,
      priority,
      timeoutMs,
      strategy: strategy as TaskStrategy,
      submitter: submitter as string,
      submittedSeq,
      submittedIndex,
      state: status,
      assignee: assignee as string | null,
      assignment,
      updatedSeq,
      updatedIndex,
      result: result as string | null,
      error: error as string | null,
      history: entries
    }
    const task: Task = { ...fields, frameBytes: taskFrameBytes(fields) }
    state.tasks.set(name, task)
    state.taskFrameBytes += task.frameBytes
    if (isTerminal(status)) {
      state.tasksFinished.push(task)
      state.tasksFinishedFrameBytes += task.frameBytes
    } else {
      state.tasksOpen++
    }
    previous = task
  }
  check(state.tasksOpen <= tasksOpenMax, 'too many open tasks')
  check(state.tasksFinished.length <= tasksFinishedKeptMax, 'too many finished tasks')
  check(state.taskFrameBytes <= tasksFrameBytesMax, 'task table over its budget')
  state.tasksFinished.sort(finishedOrder)
  for (let i = 1; i < state.tasksFinished.length; i++) {
    check(finishedOrder(state.tasksFinished[i - 1] as Task, state.tasksFinished[i] as Task) < 0, 'two tasks finished by one operation')
  }
}
