/**
 * The replicated application (DESIGN.md, "The replicated application"): a deterministic function of the
 * committed operations, run by every validator in sequence order. It holds
 * - the memory store: namespaced keys and values, each remembering the sequence number of its last write;
 * - proposals and votes: a proposal is approved once ⌈threshold × validators⌉ validators approve, and
 *   rejected once that has become impossible (rejections > (1 − threshold) × validators);
 * - the task table: submitted tasks, who holds each one and what came of it. Ownership is fenced by the
 *   task's assignment number: `task.assign` must name the next number (two schedulers racing cannot both
 *   win), and start / complete / fail / move must name the current one and come from its holder, so a
 *   node that lost a task (moved away, or returned to pending by `node.failed`) cannot act on it, and
 *   exactly one result (complete or fail) is ever accepted per task.
 *     task.submit    anyone (the client's PeerId is the submitter); the id must not be in the table;
 *                    → pending, or with `node` → assigned to it at assignment 1 (placed at submit time)
 *     task.assign    anyone; pending → assigned, assignment + 1
 *     task.start     the assignee, current assignment; assigned → running
 *     task.complete  the assignee, current assignment; assigned | running → completed (with its result)
 *     task.fail      the assignee, current assignment; assigned | running → failed (with its error)
 *     task.move      `from` itself (the victim agrees first), from = assignee, current assignment,
 *                    assigned only (never running) → assigned to `to`, assignment + 1
 *     task.release   the assignee, current assignment; assigned | running → pending, assignee cleared,
 *                    assignment kept (the next assign is + 1): the holder gives the task up (a restarted
 *                    node gives back a run its earlier life began and cannot finish)
 *     node.failed    anyone (a committed failure verdict); every assigned or running task of the node →
 *                    pending, assignee cleared, assignment kept (the next assign is + 1); idempotent
 *     task.cancel    the submitter; any unfinished task → cancelled
 *
 *
 * `apply` never throws on bad input and never depends on anything but the state, the request and its
 * sequence number: every invalid operation becomes the same `{"ok":false,"error":…}` on every replica.
 * It throws only on a broken invariant of its caller (sequence numbers going backwards).
 * Reads (`get`, `list`, `proposal`, `proposals`, `task`, `tasks`, `taskCounts`) are served locally and reflect `lastApplied`; for a
 * linearizable read, order a `noop` first and read once `lastApplied` has reached its seq.
 * Pure: no `node:*`, no clock, no randomness; hashing is injected.
 */
import { canonicalJson } from '../pbft/types.js'
import type { Application, ClientRequest, Digest } from '../pbft/types.js'
import {
  keysPerNamespaceMax, keysTotalMax, memoryFrameBytesMax, nodeFailedIdsListedMax, proposalLifetimeSeqs, proposalsDecidedKeptMax,
  proposalsOpenMax, proposalsOpenPerProposerMax, readLimitMax, taskHistoryMax, taskSubmitReserveFrameBytes, tasksFinishedKeptMax,
  tasksFrameBytesMax, tasksOpenMax, thresholdScale, validatorPattern, validatorsMax
} from './limits.js'
import { isWellFormed, validateOperation } from './operation.js'
import type { Decision, JsonValue, Operation, OperationCheck, TaskStrategy } from './operation.js'
import {
  compareStrings, decidedOrder, decodeSnapshotAndVoters, emptyState, encodeSnapshot, entryFrameBytes, isTerminal, namespaceFrameBytes,
  requiredApprovals, tally, taskFrameBytes, taskStates
} from './state.js'
import type { AppState, Proposal, ProposalStatus, Task, TaskEvent, TaskHistoryEntry, TaskState } from './state.js'

export { validateOperation } from './operation.js'
export type { Decision, JsonValue, MoveReason, Operation, OperationCheck, TaskStrategy } from './operation.js'
export { SnapshotError } from './state.js'
export type { ProposalStatus, TaskEvent, TaskState } from './state.js'

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

export interface TaskHistoryView {
  seq: number
  event: TaskEvent
  /** Absent when no node is concerned (submitted; cancelled while pending). */
  node?: string
  /** The task's assignment number after the event. */
  assignment: number
}

export interface TaskView {
  id: string
  capabilities: string[]
  /** JSON text, as submitted. */
  payload: string
  priority: number
  timeoutMs: number
  strategy: TaskStrategy
  /** PeerId of the client that submitted it. */
  submitter: string
  state: TaskState
  /** The node holding it (assigned, running) or that finished it (completed, failed); null otherwise. */
  assignee: string | null
  /** Fencing number: the next `task.assign` must name assignment + 1; start/complete/fail/move name it. */
  assignment: number
  submittedSeq: number
  updatedSeq: number
  /** JSON text of the result (completed only). */
  result?: string
  /** Why it failed (failed only). */
  error?: string
  /** The last 16 events, oldest first. */
  history: TaskHistoryView[]
}

export interface TasksQuery {
  /** Only tasks in this state (or in any of these states). */
  state?: TaskState | readonly TaskState[]
  /** Only tasks whose assignee is this PeerId. */
  assignee?: string
  /** At most this many (default 100, capped at readLimitMax). */
  limit?: number
}

export interface ApplicationStats {
  lastApplied: number
  namespaces: number
  keys: number
  memoryFrameBytes: number
  proposalsOpen: number
  proposalsDecided: number
  tasksOpen: number
  tasksFinished: number
  taskFrameBytes: number
}

type Result = Record<string, unknown>

function rejected (error: string): string {
  return canonicalJson({ ok: false, error })
}

/** 1..64 distinct PeerIds, or a RangeError. */
function checkValidators (validators: readonly string[]): void {
  if (!Array.isArray(validators) || validators.length < 1 || validators.length > validatorsMax) {
    throw new RangeError(`the application needs 1..${validatorsMax} validators, got ${Array.isArray(validators) ? validators.length : 'none'}`)
  }
  for (const validator of validators) {
    if (typeof validator !== 'string' || !validatorPattern.test(validator)) throw new RangeError(`validator id ${JSON.stringify(validator)} is not a PeerId`)
  }
  if (new Set(validators).size !== validators.length) throw new RangeError('validator ids repeat')
}

export class MeshApplication implements Application {
  private state: AppState = emptyState()
  /** Whose votes count: the genesis validators (pBFT), or the Raft voters in force (`setVoters`). */
  private validators: readonly string[]
  private validatorSet: ReadonlySet<string>
  /** The canonical snapshot of the current state, until the next `apply` or `restore`. */
  private snapshotCache: string | null = null
  private digestCache: Digest | null = null
  /**
   * Derived from `state.tasks`, never encoded (rebuilt by `restore`): the open tasks (pending, assigned,
   * running) in submission order, and how many tasks are in each state. Reads of open tasks (the task
   * runtime's after every decision) and the counts then cost O(open tasks), not O(remembered tasks).
   */
  private openTasks = new Map<string, Task>()
  private countsByState = zeroCounts()

  /**
   * @param validators the PeerIds whose votes count (genesis order; the set is what matters)
   * @param hash collision-resistant digest of text (sha256 hex in the runtime)
   * @param options.votersFollowMembership Raft: the voters in force decide (`setVoters`), and a snapshot
   *   may name other voters than the genesis; pBFT (default): the set is fixed, a snapshot must name it
   */
  constructor (validators: readonly string[], private readonly hash: (text: string) => string, private readonly options: { votersFollowMembership?: boolean } = {}) {
    checkValidators(validators)
    this.validators = [...validators]
    this.validatorSet = new Set(validators)
  }

  /**
   * Raft: the voters in force changed (a membership change applied, or a snapshot installed). Called in
   * log order on every node alike, so who may vote on a proposal is itself a decision of the log: a
   * voter promoted after the genesis votes, a removed one no longer does. Throws RangeError on a set
   * that is not 1..64 distinct PeerIds (the log never holds one: membership.ts keeps a voter).
   */
  setVoters (voters: readonly string[]): void {
    if (this.options.votersFollowMembership !== true) throw new Error('setVoters: this application\'s validators are fixed (pBFT)')
    checkValidators(voters)
    const sorted = [...voters].sort()
    if (sorted.length === this.validators.length && [...this.validators].sort().every((v, i) => v === sorted[i])) return
    this.validators = sorted
    this.validatorSet = new Set(sorted)
    this.snapshotCache = null
    this.digestCache = null
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
      case 'task.submit': return this.submitTask(op, client, seq, index)
      case 'task.assign': return this.assignTask(op, seq, index)
      case 'task.start': return this.startTask(op, client, seq, index)
      case 'task.complete':
      case 'task.fail': return this.finishTask(op, client, seq, index)
      case 'task.move': return this.moveTask(op, client, seq, index)
      case 'task.release': return this.releaseTask(op, client, seq, index)
      case 'node.failed': return this.nodeFailed(op, seq, index)
      case 'task.cancel': return this.cancelTask(op, client, seq, index)
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
    // the snapshot names the voters in force where it was taken: a Raft node's differ from the genesis
    // after a membership change, and the node sets them right after (setVoters, from the snapshot's membership)
    const { state, validators } = decodeSnapshotAndVoters(snapshot, this.options.votersFollowMembership === true ? null : this.validators)
    this.state = state
    this.validators = validators
    this.validatorSet = new Set(validators)
    this.snapshotCache = null
    this.digestCache = null
    this.openTasks = new Map()
    this.countsByState = zeroCounts()
    for (const task of state.tasks.values()) {
      this.countsByState[task.state]++
      if (!isTerminal(task.state)) this.openTasks.set(task.id, task)
    }
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

  task (id: string): TaskView | undefined {
    const task = this.state.tasks.get(id)
    return task == null ? undefined : taskView(task)
  }

  /** Newest submitted first; optionally only those in `state` and/or held by `assignee`. */
  tasks (options: TasksQuery): TaskView[] {
    const limit = options.limit ?? 100
    checkLimit(limit)
    const states: ReadonlySet<TaskState> | null = options.state == null
      ? null
      : new Set<TaskState>(typeof options.state === 'string' ? [options.state] : options.state)
    const out: TaskView[] = []
    // only open states asked for: the open tasks are enough (same submission order)
    const openOnly = states != null && [...states].every(s => !isTerminal(s))
    const all = [...(openOnly ? this.openTasks : this.state.tasks).values()]
    for (let i = all.length - 1; i >= 0 && out.length < Math.min(limit, readLimitMax); i--) {
      const task = all[i] as Task
      if ((states == null || states.has(task.state)) && (options.assignee == null || task.assignee === options.assignee)) out.push(taskView(task))
    }
    return out
  }

  /** How many tasks are in each state (finished ones: those still remembered). */
  taskCounts (): Record<TaskState, number> {
    return { ...this.countsByState }
  }

  stats (): ApplicationStats {
    return {
      lastApplied: this.state.lastApplied,
      namespaces: this.state.namespaces.size,
      keys: this.state.keysTotal,
      memoryFrameBytes: this.state.memoryFrameBytes,
      proposalsOpen: this.state.open.size,
      proposalsDecided: this.state.decided.length,
      tasksOpen: this.state.tasksOpen,
      tasksFinished: this.state.tasksFinished.length,
      taskFrameBytes: this.state.taskFrameBytes
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

  // ————————————————————————————————————————— the task table

  private submitTask (op: Extract<Operation, { op: 'task.submit' }>, client: string, seq: number, index: number): string {
    const state = this.state
    if (!validatorPattern.test(client)) return rejected('the submitter (the client\'s PeerId) must be a PeerId')
    if (state.tasks.has(op.id)) return rejected(`duplicate task id ${op.id}`)
    if (state.tasksOpen >= tasksOpenMax) return rejected(`too many open tasks (${tasksOpenMax})`)
    const task = withFrameBytes({
      id: op.id,
      capabilities: op.capabilities,
      payload: op.payload,
      priority: op.priority,
      timeoutMs: op.timeoutMs,
      strategy: op.strategy,
      submitter: client,
      submittedSeq: seq,
      submittedIndex: index,
      state: 'pending',
      assignee: null,
      assignment: 0,
      updatedSeq: seq,
      updatedIndex: index,
      result: null,
      error: null,
      history: [{ seq, event: 'submitted', node: null, assignment: 0 }]
    })
    // placed by its submitter already: assigned in the same operation (as a `task.assign` of
    // assignment 1 right after it would do, with both history entries at this sequence number)
    const placed = op.node == null ? task : changed(task, { state: 'assigned', assignee: op.node, assignment: 1 }, 'assigned', op.node, seq, index)
    const budget = tasksFrameBytesMax - taskSubmitReserveFrameBytes
    if (!this.makeRoom(placed.frameBytes, budget)) return rejected(`task table full (${budget} of ${tasksFrameBytesMax} bytes for submits)`)
    state.tasks.set(placed.id, placed)
    this.openTasks.set(placed.id, placed)
    this.countsByState[placed.state]++
    state.tasksOpen++
    state.taskFrameBytes += placed.frameBytes
    return this.ok(seq, op.node == null ? { id: placed.id } : { id: placed.id, state: placed.state, assignee: op.node, assignment: 1 })
  }

  private assignTask (op: Extract<Operation, { op: 'task.assign' }>, seq: number, index: number): string {
    const task = this.state.tasks.get(op.id)
    if (task == null) return rejected(`unknown task ${op.id}`)
    if (task.state !== 'pending') return rejected(`task ${op.id} is ${task.state}, not pending`)
    if (op.assignment !== task.assignment + 1) return rejected(`stale assignment ${op.assignment}: task ${op.id} is at assignment ${task.assignment}, the next is ${task.assignment + 1}`)
    const next = changed(task, { state: 'assigned', assignee: op.node, assignment: op.assignment }, 'assigned', op.node, seq, index)
    return this.replace(task, next, seq, { id: op.id, state: next.state, assignee: op.node, assignment: op.assignment })
  }

  /** The checks start, complete, fail and move share: the task is held by `client` at `assignment`. */
  private held (id: string, assignment: number, client: string, action: string): Task | string {
    const task = this.state.tasks.get(id)
    if (task == null) return rejected(`unknown task ${id}`)
    if (isTerminal(task.state)) return rejected(`task ${id} is already ${task.state}`)
    if (task.state === 'pending') return rejected(`task ${id} is pending: nobody holds it`)
    if (assignment !== task.assignment) return rejected(`stale assignment ${assignment}: task ${id} is at assignment ${task.assignment}`)
    if (client !== task.assignee) return rejected(`only the assignee of task ${id} may ${action} it`)
    return task
  }

  private startTask (op: Extract<Operation, { op: 'task.start' }>, client: string, seq: number, index: number): string {
    const task = this.held(op.id, op.assignment, client, 'start')
    if (typeof task === 'string') return task
    if (task.state !== 'assigned') return rejected(`task ${op.id} is already ${task.state}`)
    const next = changed(task, { state: 'running' }, 'started', client, seq, index)
    return this.replace(task, next, seq, { id: op.id, state: next.state, assignment: next.assignment })
  }

  private finishTask (op: Extract<Operation, { op: 'task.complete' | 'task.fail' }>, client: string, seq: number, index: number): string {
    const task = this.held(op.id, op.assignment, client, op.op === 'task.complete' ? 'complete' : 'fail')
    if (typeof task === 'string') return task
    const next = op.op === 'task.complete'
      ? changed(task, { state: 'completed', result: op.result }, 'completed', client, seq, index)
      : changed(task, { state: 'failed', error: op.error }, 'failed', client, seq, index)
    return this.replace(task, next, seq, { id: op.id, state: next.state, assignment: next.assignment })
  }

  private moveTask (op: Extract<Operation, { op: 'task.move' }>, client: string, seq: number, index: number): string {
    if (client !== op.from) return rejected('only the node giving a task away (from) may move it')
    const task = this.held(op.id, op.assignment, client, 'move')
    if (typeof task === 'string') return task
    if (task.state !== 'assigned') return rejected(`task ${op.id} is ${task.state}: only an assigned task that has not started moves`)
    const event: TaskEvent = op.reason === 'steal' ? 'stolen' : 'migrated'
    const next = changed(task, { assignee: op.to, assignment: op.assignment + 1 }, event, op.to, seq, index)
    return this.replace(task, next, seq, { id: op.id, state: next.state, assignee: op.to, assignment: next.assignment })
  }

  /** The holder gives the task back: pending again, for its coordinator to schedule at the next assignment. */
  private releaseTask (op: Extract<Operation, { op: 'task.release' }>, client: string, seq: number, index: number): string {
    const task = this.held(op.id, op.assignment, client, 'release')
    if (typeof task === 'string') return task
    // like a failure verdict, it must not fail for want of space (the task would stay held by nobody)
    const fitted = this.fitTrimming([[task, changed(task, { state: 'pending', assignee: null }, 'released', client, seq, index)]])
    if (fitted == null) return rejected(`task table full (${tasksFrameBytesMax} bytes)`)
    for (const [before, next] of fitted) this.install(before, next)
    return this.ok(seq, { id: op.id, state: 'pending', assignment: op.assignment })
  }

  /** Every task assigned to or running on `node` goes back to pending, in submission order. */
  private nodeFailed (op: Extract<Operation, { op: 'node.failed' }>, seq: number, index: number): string {
    const changes: Array<[Task, Task]> = []
    for (const task of this.openTasks.values()) { // submission order, as in state.tasks
      if (task.assignee === op.node && (task.state === 'assigned' || task.state === 'running')) {
        changes.push([task, changed(task, { state: 'pending', assignee: null }, 'reassigned', op.node, seq, index)])
      }
    }
    const fitted = this.fitTrimming(changes)
    if (fitted == null) return rejected(`task table full (${tasksFrameBytesMax} bytes)`)
    for (const [task, next] of fitted) this.install(task, next)
    return this.ok(seq, { node: op.node, count: changes.length, tasks: changes.slice(0, nodeFailedIdsListedMax).map(([task]) => task.id) })
  }

  private cancelTask (op: Extract<Operation, { op: 'task.cancel' }>, client: string, seq: number, index: number): string {
    const task = this.state.tasks.get(op.id)
    if (task == null) return rejected(`unknown task ${op.id}`)
    if (client !== task.submitter) return rejected(`only the submitter of task ${op.id} may cancel it`)
    if (isTerminal(task.state)) return rejected(`task ${op.id} is already ${task.state}`)
    const fitted = this.fitTrimming([[task, changed(task, { state: 'cancelled', assignee: null }, 'cancelled', task.assignee, seq, index)]])
    if (fitted == null) return rejected(`task table full (${tasksFrameBytesMax} bytes)`)
    for (const [before, next] of fitted) this.install(before, next)
    return this.ok(seq, { id: op.id, state: 'cancelled' })
  }

  /**
   * Room for changes that should not fail for want of space (`node.failed`, `task.cancel`): the earliest
   * finished tasks are forgotten first; when that is not enough, the changed tasks, in order, drop their
   * oldest history entries (each keeps at least the new one) until it is. These changes move the node
   * from the assignee into the new entry, so one or two dropped entries pay for a task. Null (nothing
   * changed) only if even trimming every one of them is not enough.
   */
  private fitTrimming (changes: Array<[Task, Task]>): Array<[Task, Task]> | null {
    let growth = 0
    for (const [task, next] of changes) growth += next.frameBytes - task.frameBytes
    const fitted = [...changes]
    for (let i = 0; i < fitted.length; i++) {
      if (this.makeRoom(growth, tasksFrameBytesMax)) return fitted
      const [task, next] = fitted[i] as [Task, Task]
      let candidate = next
      while (candidate.frameBytes > task.frameBytes && candidate.history.length > 1) {
        candidate = withFrameBytes({ ...candidate, history: candidate.history.slice(1) })
      }
      growth -= next.frameBytes - candidate.frameBytes
      fitted[i] = [task, candidate]
    }
    return this.makeRoom(growth, tasksFrameBytesMax) ? fitted : null
  }

  /**
   * Room for `growth` more frame bytes within `budget`, forgetting the earliest finished tasks as needed.
   * False, having forgotten nothing, when even forgetting every finished task would not make room.
   */
  private makeRoom (growth: number, budget: number): boolean {
    const state = this.state
    if (state.taskFrameBytes + growth <= budget) return true
    if (state.taskFrameBytes - state.tasksFinishedFrameBytes + growth > budget) return false
    while (state.taskFrameBytes + growth > budget) this.forgetOldestFinished()
    return true
  }

  private forgetOldestFinished (): void {
    const state = this.state
    const oldest = state.tasksFinished.shift() as Task
    state.tasks.delete(oldest.id)
    this.countsByState[oldest.state]--
    state.taskFrameBytes -= oldest.frameBytes
    state.tasksFinishedFrameBytes -= oldest.frameBytes
  }

  /** Replace `task` by `next` if there is room (the earliest finished tasks go first), else refuse. */
  private replace (task: Task, next: Task, seq: number, fields: Result): string {
    if (!this.makeRoom(next.frameBytes - task.frameBytes, tasksFrameBytesMax)) return rejected(`task table full (${tasksFrameBytesMax} bytes)`)
    this.install(task, next)
    return this.ok(seq, fields)
  }

  /** Install `next` in place of `task` (same id), keeping the counts, the byte totals and the finished order. */
  private install (task: Task, next: Task): void {
    const state = this.state
    state.tasks.set(next.id, next)
    state.taskFrameBytes += next.frameBytes - task.frameBytes
    this.countsByState[task.state]--
    this.countsByState[next.state]++
    if (isTerminal(next.state)) this.openTasks.delete(next.id)
    else this.openTasks.set(next.id, next) // an open task stays open or finishes: its place is kept
    if (isTerminal(next.state)) {
      // one operation finishes at most one task, at the latest (seq, index): it goes last
      state.tasksOpen--
      state.tasksFinished.push(next)
      state.tasksFinishedFrameBytes += next.frameBytes
      while (state.tasksFinished.length > tasksFinishedKeptMax) this.forgetOldestFinished()
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

function zeroCounts (): Record<TaskState, number> {
  return Object.fromEntries(taskStates.map(s => [s, 0])) as Record<TaskState, number>
}

function withFrameBytes (fields: Omit<Task, 'frameBytes'>): Task {
  return { ...fields, frameBytes: taskFrameBytes(fields) }
}

/** `task` with `changes`, one more history entry (the last `taskHistoryMax` kept) and its new place in time. */
function changed (task: Task, changes: Partial<Pick<Task, 'state' | 'assignee' | 'assignment' | 'result' | 'error'>>, event: TaskEvent,
  node: string | null, seq: number, index: number): Task {
  const { frameBytes: _, ...rest } = task
  const assignment = changes.assignment ?? task.assignment
  const entry: TaskHistoryEntry = { seq, event, node, assignment }
  return withFrameBytes({ ...rest, ...changes, updatedSeq: seq, updatedIndex: index, history: [...task.history, entry].slice(-taskHistoryMax) })
}

function taskView (task: Task): TaskView {
  const view: TaskView = {
    id: task.id,
    capabilities: [...task.capabilities],
    payload: task.payload,
    priority: task.priority,
    timeoutMs: task.timeoutMs,
    strategy: task.strategy,
    submitter: task.submitter,
    state: task.state,
    assignee: task.assignee,
    assignment: task.assignment,
    submittedSeq: task.submittedSeq,
    updatedSeq: task.updatedSeq,
    history: task.history.map(h => h.node == null ? { seq: h.seq, event: h.event, assignment: h.assignment } : { seq: h.seq, event: h.event, node: h.node, assignment: h.assignment })
  }
  if (task.result != null) view.result = task.result
  if (task.error != null) view.error = task.error
  return view
}

function checkLimit (limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit must be a non-negative integer, got ${limit}`)
}
