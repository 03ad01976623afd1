/**
 * The task runtime of one node: the glue between the replicated task table (src/core/app, changed only
 * by committed consensus decisions), the pure scheduler (src/core/scheduler), the local executor
 * (src/runtime/tasks/executor.ts) and the auction / steal protocols (protocols/tasks).
 *
 * Every ownership change is a committed decision; this runtime only decides what to propose:
 * - submit: `task.submit` through consensus, placed in the same operation when the submitter can
 *   place it at once (`node`: assigned at assignment 1): `dht` routes without any exchange, `auction`
 *   runs the auction of the submits of one event-loop turn before proposing them. A task nobody could
 *   take stays pending, and the submitter schedules it as below;
 * - schedule (pending tasks this node coordinates: its own, or orphans when it is the lowest alive
 *   validator): `auction` calls capable members (match ≥ 0.7) for bids and awards the best score;
 *   `dht` picks the capable member XOR-closest to the task. Either way `task.assign` with the next
 *   assignment number (fencing: two schedulers cannot both win). No bids ⇒ retried with backoff;
 * - execute: tasks assigned to this node go to the executor; `task.start`, then `task.complete` /
 *   `task.fail` with the assignment number (a node that lost the task cannot overwrite its result);
 * - steal: an idle node asks the busiest capable member; the victim moves queued tasks itself;
 * - migrate: above 80 % (smoothed) utilisation, queued tasks move to members below 30 %, with a
 *   cool-down per task and per node (src/core/scheduler/balancing.ts, `Balancer`);
 * - moves and runs exclude each other: only the holder proposes a move, of a task it takes out of its
 *   executor's queue (so it has not begun); from then on it never begins that assignment by itself.
 *   A committed move ends it there; a refused or unanswered move (which may still commit later) is
 *   settled by a committed `task.start` claim, ordered in the log against the move: whichever commits
 *   first wins and the other is refused. So a handler runs at most once per assignment;
 * - failover: a member the membership layer declared failed gets `node.failed` (proposed by the
 *   lowest alive validator), which returns its unfinished tasks to pending for rescheduling;
 * - restart: a node back before anyone declared it failed finds tasks `running` on it that an earlier
 *   life began; it gives each back with `task.release` (pending, rescheduled at the next assignment).
 *   Tasks still `assigned` to it are run again at their assignment (a short run of the earlier life
 *   may have skipped its `task.start`: at most one extra run per crash).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { MeshApplication, TaskView } from '../../core/app/application.js'
import { truncateUtf8 } from './executor.js'
import { UsualDurations } from './usual-durations.js' // [reputation]
import type { Executor, TaskOutcome, TaskRun } from './executor.js'
import type { TaskProtocols } from '../../../protocols/tasks/service.js'
import type { AwardNotice, Bid, CallForBids, StealRequest, StealResponse } from '../../../protocols/tasks/tasks.js'
import { auctionBatchMax, bidDeadlineMsDefault } from '../../../protocols/tasks/constants.js'
import {
  Balancer, PerformanceTracker, bidScore, capabilityMatch, chooseBid, chooseBidWhenFull, chooseVictim, dhtOwner, matchThreshold, utilisation
} from '../../core/scheduler/index.js'
import type { MemberView } from '../mesh-node.js'
import type { RecordStore } from './records.js'
import { RecordError } from './records.js'
import { createHash } from 'node:crypto'
import { parseTaskDataRef, taskDataRef } from '../../core/app/operation.js'
import { taskDataRefBytesMax, taskPayloadBytesMax, taskPriorityDefault, taskResultBytesMax } from '../../core/app/limits.js'

export interface TaskServiceInit {
  self: string
  /** Genesis order: the lowest alive one proposes failure verdicts and adopts orphaned tasks. */
  validators: string[]
  propose: (operation: string) => Promise<{ result: string, seq: number }>
  onCommit: (listener: (decision: { seq: number, batch: Array<{ client: string, operation: string }> }) => void) => () => void
  app: MeshApplication
  protocols: TaskProtocols
  executor: Executor
  members: () => MemberView[]
  setLoad: (load: { queued: number, running: number, capacity: number }) => void
  log: (line: string) => void
  /** Scheduling, stealing and balancing rounds. */
  intervalMs?: number
  /** First wait before a proposal with no answer is tried again, doubling (default 500 ms; tests shorten it). */
  proposeRetryMs?: number
  /** The load shedding this node starts (default both); it always answers a thief. */
  loadShedding?: ReadonlyArray<'steal' | 'migrate'>
  /**
   * Payload and result records on the 3 XOR-closest members (src/runtime/tasks/records.ts). Without it,
   * payloads and results are inline only (≤ 16 KiB).
   */
  records?: Pick<RecordStore, 'put' | 'get'>
  /**
   * [reputation] The node's reputation of a peer (src/runtime/gossip/reputation.ts): an auction prefers,
   * among bids of equal score, the bidder with the better reputation. Absent: all count 0.
   */
  reputation?: (peerId: string) => number
  /** [reputation] Each committed outcome of a task run by `node` (every node sees every outcome). */
  onOutcome?: (node: string, outcome: { success: boolean, durationMs?: number, expectedMs?: number }) => void
  /** [reputation] A bidder that gave no (usable) answer to a call for bids. */
  onRequestFailed?: (peerId: string) => void
  /**
   * [aggregate] The mesh-wide mean utilisation (push-sum gossip estimate), when known: the balancer's
   * hot/cold decision is also relative to it (src/core/scheduler/balancing.ts, Balancer.plan).
   */
  meshMeanUtilisation?: () => number | undefined
}

export interface SubmitInput {
  id?: string
  capabilities: string[]
  payload: string
  priority?: number
  timeoutMs?: number
  strategy?: 'auction' | 'dht'
}

/** A task to auction: `order` breaks priority ties (its submission sequence number, or arrival order). */
interface AuctionItem { id: string, capabilities: string[], priority: number, order: number }

export class TaskError extends Error {
  constructor (message: string, readonly status: number) {
    super(message)
  }
}

const terminal = new Set(['completed', 'failed', 'cancelled'])
/** Re-auction a task nobody bid on after this long, doubling up to the max. */
const retryMsMin = 250
const retryMsMax = 8_000
/** A task still running after this long gets its `task.start` committed (shorter ones skip it). */
const startDelayMs = 200

export class TaskService {
  /** committedDecisions / committedOperations: decisions this node saw committed and the operations they carried (bundles expanded). */
  readonly stats = { committedDecisions: 0, committedOperations: 0, submitted: 0, auctionBatches: 0, payloadsByRef: 0, resultsByRef: 0, dataFetches: 0, dataFetchErrors: 0, auctions: 0, awards: 0, dhtRoutes: 0, noBids: 0, steals: 0, stolen: 0, migrations: 0, failovers: 0, releases: 0, resultRetries: 0, started: 0, completed: 0, failed: 0, proposalErrors: 0, recordsStored: 0, recordErrors: 0, startsSkipped: 0, claims: 0, claimsRefused: 0 }
  private readonly tracker = new PerformanceTracker()
  /**
   * [reputation] The mesh's usual run time of a task per capability set, from every committed
   * success this node saw: a worker's speed is judged against it (src/runtime/tasks/usual-durations.ts).
   */
  private readonly usualDurations = new UsualDurations()
  /** task id → when this node may try to schedule it again (backoff), and the current delay */
  private readonly retry = new Map<string, { atMs: number, delayMs: number }>()
  /** tasks this node is scheduling right now, with the assignment number it is proposing */
  private readonly scheduling = new Set<string>()
  /** `${id}/${assignment}/${event}` proposals in flight (start, complete, fail, move) */
  private readonly inFlight = new Set<string>()
  /** local observation times of task.start, for the performance tracker */
  private readonly startedAt = new Map<string, number>()
  private readonly failoverProposed = new Set<string>()
  /** id → assignment this node already ran (or is running): never run the same assignment twice */
  private readonly executed = new Map<string, number>()
  /**
   * id → the assignment this node took out of its executor to hand over (steal, migration) and how far
   * the move got. The node never begins the task at that assignment by itself: `moving` (proposal in
   * flight) and `moved` (committed; the local table may not show it yet) wait for the table to move
   * on; `unsettled` (refused, or no answer: it may still commit) is settled by a `task.start` claim.
   */
  private readonly handedOver = new Map<string, { assignment: number, stage: 'moving' | 'moved' | 'unsettled' }>()
  /** `${id}/${assignment}` whose `task.start` this node committed before running it (a settled hand-over) */
  private readonly claimed = new Set<string>()
  /** smoothed loads and move cool-downs for load balancing */
  private readonly balancer = new Balancer()
  /** `${id}/${assignment}` → the pending task.start proposal of a task that just started */
  private readonly startTimers = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly waiters = new Map<string, Set<() => void>>()
  private timer?: ReturnType<typeof setInterval>
  private unsubscribe?: () => void
  private reconcileScheduled = false
  private scheduleScheduled = false
  private stealing = false
  /** The last auctions this node ran, with every bid and its score (for `GET /v1/tasks` and tests). */
  private readonly recentAuctions: Array<{ taskId: string, winner: string | null, bids: Array<Record<string, unknown>> }> = []
  private stopped = false
  /** Submits waiting for this turn's auction (`placeByAuction`). */
  private arrivals = 0
  private readonly placements: Array<{ item: AuctionItem, resolve: (winner: string | null) => void }> = []

  constructor (private readonly init: TaskServiceInit) {}

  start (): void {
    this.init.protocols.setHandlers({
      bid: (call, from) => this.bid(call, from.toString()),
      award: () => {},
      steal: async (req, from, signal) => await this.giveAway(req, from.toString(), signal)
    })
    this.unsubscribe = this.init.onCommit(decision => {
      this.observe(decision.seq, decision.batch)
      this.reconcileSoon()
    })
    this.timer = setInterval(() => { void this.round() }, this.init.intervalMs ?? 500)
  }

  stop (): void {
    this.stopped = true
    clearInterval(this.timer)
    for (const timer of this.startTimers.values()) clearTimeout(timer)
    this.startTimers.clear()
    this.unsubscribe?.()
    this.init.protocols.setHandlers(null)
    this.init.executor.stop()
  }

  // ————————————————————————————————————————— submit and wait

  async submit (input: SubmitInput): Promise<{ id: string, seq: number }> {
    const id = input.id ?? `t-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`
    // a payload over 16 KiB goes to its record first (2 of its 3 replicas acknowledged), and the task
    // carries its digest: the task never exists without a readable payload
    let payload = input.payload
    const bytes = Buffer.byteLength(payload)
    const byRef = bytes > taskPayloadBytesMax
    if (byRef) {
      if (bytes > taskDataRefBytesMax) throw new TaskError(`payload is ${bytes} bytes of JSON; at most ${taskDataRefBytesMax}`, 413)
      payload = await this.storeData(id, 'payload', payload)
      this.stats.payloadsByRef++
    }
    const op: Record<string, unknown> = { op: 'task.submit', id, capabilities: input.capabilities, payload }
    if (input.priority != null) op.priority = input.priority
    if (input.timeoutMs != null) op.timeoutMs = input.timeoutMs
    if (input.strategy != null) op.strategy = input.strategy
    // DHT routing needs no exchange: the task is placed in its submit (one operation, not submit +
    // assign). Nobody capable now: it stays pending and the scheduling rounds retry it with backoff
    const placed = input.strategy === 'dht'
      ? this.dhtWinner(id, input.capabilities, this.aliveMembers())
      : await this.placeByAuction({ id, capabilities: input.capabilities, priority: input.priority ?? taskPriorityDefault, order: this.arrivals++ })
    if (placed != null) op.node = placed
    const { result, seq } = await this.init.propose(JSON.stringify(op))
    const parsed = JSON.parse(result) as { ok: boolean, error?: string }
    if (!parsed.ok) {
      // a retried submit (the first answer was lost to a timeout) finds its own task: the same
      // submitter, capabilities and payload are the same submission, not a clash
      const existing = this.init.app.task(id)
      if (existing != null && existing.submitter === this.init.self && existing.payload === payload &&
        existing.capabilities.join(',') === input.capabilities.join(',')) {
        return { id, seq: existing.submittedSeq }
      }
      throw new TaskError(parsed.error ?? 'refused', 409)
    }
    this.stats.submitted++
    if (placed != null) {
      this.stats.awards++
      if (input.strategy === 'dht') this.stats.dhtRoutes++
    }
    if (!byRef) this.storeRecord(id, 'payload', input.payload)
    this.reconcileSoon()
    if (placed == null) this.scheduleSoon() // our own task: schedule it now, not at the next round
    return { id, seq }
  }

  /**
   * Submit several tasks at once (≤ 256): they are proposed together, so the consensus client sends
   * them as bundles (one signed request for many), and the ones committed together are auctioned
   * together. One outcome per input, in order; a refused one does not stop the others.
   */
  async submitMany (inputs: SubmitInput[]): Promise<Array<{ ok: true, id: string, seq: number } | { ok: false, id?: string, error: string, status: number }>> {
    return await Promise.all(inputs.map(async input => {
      try {
        const { id, seq } = await this.submit(input)
        return { ok: true as const, id, seq }
      } catch (err) {
        return { ok: false as const, ...(input.id != null ? { id: input.id } : {}), error: (err as Error).message, status: err instanceof TaskError ? err.status : 503 }
      }
    }))
  }

  /** Cancel a task (the app accepts it only from its submitter). */
  async cancel (id: string): Promise<{ result: string, seq: number }> {
    return await this.init.propose(JSON.stringify({ op: 'task.cancel', id }))
  }

  /** Resolves with the task once it is completed, failed or cancelled (or as it is at the timeout). */
  async wait (id: string, timeoutMs: number): Promise<TaskView | undefined> {
    const done = (): TaskView | undefined => {
      const task = this.init.app.task(id)
      return task != null && terminal.has(task.state) ? task : undefined
    }
    if (done() != null) return done()
    await new Promise<void>(resolve => {
      const timer = setTimeout(finish, timeoutMs)
      let set = this.waiters.get(id)
      if (set == null) { set = new Set(); this.waiters.set(id, set) }
      set.add(finish)
      function finish (): void { clearTimeout(timer); set?.delete(finish); resolve() }
    })
    return this.init.app.task(id)
  }

  // ————————————————————————————————————————— committed decisions

  /** Feed the performance tracker from committed starts and results (local observation times). */
  private observe (seq: number, batch: Array<{ client: string, operation: string }>): void {
    this.stats.committedDecisions++
    for (const request of batch) {
      const texts = expand(request.operation)
      this.stats.committedOperations += texts.length
      for (const text of texts) {
        let op: { op?: unknown, id?: unknown }
        try { op = JSON.parse(text) as { op?: unknown, id?: unknown } } catch { continue }
        if (typeof op.id !== 'string') continue
        if (op.op === 'task.move') this.observeMove(op.id, seq)
        if (op.op === 'task.start') this.startedAt.set(op.id, performance.now())
        if (op.op === 'task.complete' || op.op === 'task.fail') {
          const node = request.client.split('/')[0] as string
          const started = this.startedAt.get(op.id)
          this.startedAt.delete(op.id)
          const task = this.init.app.task(op.id)
          const durationMs = started != null ? performance.now() - started : undefined
          this.tracker.record(node, { success: op.op === 'task.complete', durationMs, timeoutMs: task?.timeoutMs ?? 60_000 })
          this.init.onOutcome?.(node, { success: op.op === 'task.complete', durationMs, expectedMs: this.usualDurations.take(task?.capabilities ?? [], op.op === 'task.complete' ? durationMs : undefined) })
          this.notify(op.id)
        }
        if (op.op === 'task.cancel') this.notify(op.id)
      }
    }
  }

  /** A committed (accepted) move starts the task's balancing cool-down, and the nodes' roles. */
  private observeMove (id: string, seq: number): void {
    const history = this.init.app.task(id)?.history ?? []
    const index = history.findIndex(h => h.seq === seq && (h.event === 'migrated' || h.event === 'stolen'))
    if (index < 1) return // refused (no such event at this sequence number), or its origin was trimmed
    const entry = history[index] as { event: string, node?: string | null }
    const from = [...history.slice(0, index)].reverse().find(h => h.node != null)?.node
    if (entry.node == null || from == null) return
    this.balancer.observeMove({ taskId: id, from, to: entry.node, reason: entry.event === 'stolen' ? 'steal' : 'migrate' }, performance.now())
  }

  private notify (id: string): void {
    const set = this.waiters.get(id)
    if (set == null) return
    this.waiters.delete(id)
    for (const finish of set) finish()
  }

  private reconcileSoon (): void {
    if (this.reconcileScheduled || this.stopped) return
    this.reconcileScheduled = true
    setImmediate(() => { this.reconcileScheduled = false; this.reconcile() })
  }

  /** Make the executor match the table: run what is ours, drop what is not ours any more. */
  private reconcile (): void {
    const executor = this.init.executor
    const mine = new Map<string, TaskView>()
    for (const task of this.init.app.tasks({ assignee: this.init.self, state: ['assigned', 'running'], limit: 1_000 })) mine.set(task.id, task)
    for (const [id, assignment] of this.executed) {
      if (mine.get(id)?.assignment !== assignment) this.executed.delete(id) // finished, moved or reassigned
    }
    for (const [id, handed] of this.handedOver) {
      // the table moved on (moved, reassigned, finished): that assignment is not ours to settle any more
      if (handed.stage !== 'moving' && mine.get(id)?.assignment !== handed.assignment) this.handedOver.delete(id)
    }
    for (const key of this.claimed) {
      const [id, assignment] = splitKey(key)
      if (mine.get(id)?.assignment !== assignment) this.claimed.delete(key)
    }
    const local = new Map([...executor.queued(), ...executor.running()].map(r => [r.id, r]))
    for (const [id, run] of local) {
      const task = mine.get(id)
      if (task == null || task.assignment !== run.assignment) executor.cancel(id) // moved, reassigned or cancelled
    }
    for (const task of mine.values()) {
      if (local.get(task.id)?.assignment === task.assignment) continue
      // ran already: its start/result is on its way through consensus
      if (this.executed.get(task.id) === task.assignment) continue
      // taken out of our queue for a move: never begun here by itself. A move in flight or committed
      // decides; a refused or unanswered one is settled by a start claim the log orders against it
      const handed = this.handedOver.get(task.id)
      if (handed?.assignment === task.assignment) {
        if (handed.stage === 'unsettled' && task.state === 'assigned') this.claim(task.id, task.assignment)
        continue
      }
      // running here, yet neither running nor run in this life nor claimed by it: an earlier life of this
      // node began it (its start is committed) and died with it. That run is gone; beginning it again at
      // the same assignment would run it twice there, and no failure verdict comes for a node that is
      // alive again. Give the assignment back: its coordinator schedules it at the next one.
      if (task.state === 'running' && !this.claimed.has(`${task.id}/${task.assignment}`)) { this.release(task.id, task.assignment); continue }
      // a payload kept by reference is read back from its record replicas when the task starts
      const ref = parseTaskDataRef(task.payload)
      executor.submit({
        id: task.id,
        capabilities: task.capabilities,
        payload: task.payload,
        priority: task.priority,
        timeoutMs: task.timeoutMs,
        assignment: task.assignment,
        loadPayload: ref == null ? undefined : async signal => await this.loadData(task.id, 'payload', ref, signal)
      })
    }
    this.publishLoad()
  }

  /**
   * Settle a hand-over that was refused or went unanswered: commit `task.start` for the assignment
   * before running it. If the move commits first, the start is refused (stale assignment) and the task
   * runs where it went; if the start commits first, the move is refused (the task is running here).
   */
  private claim (id: string, assignment: number): void {
    const key = `${id}/${assignment}`
    void this.propose(`${key}/start`, { op: 'task.start', id, assignment }).then(outcome => {
      const handed = this.handedOver.get(id)
      if (handed?.assignment !== assignment) return
      if (outcome === 'accepted') {
        this.stats.claims++
        this.claimed.add(key)
        this.handedOver.delete(id)
      } else if (outcome === 'refused') {
        // the log says it is not ours to start at this assignment: wait for the table to move on
        this.stats.claimsRefused++
        handed.stage = 'moved'
      } // unknown: still unsettled, claimed again at the next reconcile
      this.reconcileSoon()
    })
  }

  /** Commit `task.release` for a run an earlier life of this node began (fenced by the assignment). */
  private release (id: string, assignment: number): void {
    void this.propose(`${id}/${assignment}/release`, { op: 'task.release', id, assignment }).then(outcome => {
      if (outcome !== 'accepted') return // refused: it finished or moved meanwhile; unknown: released again at the next reconcile
      this.stats.releases++
      this.init.log(`tasks: released ${id} (assignment ${assignment}), begun by an earlier life of this node, to be scheduled again`)
      this.scheduleSoon()
    })
  }

  private publishLoad (): void {
    this.init.setLoad(this.init.executor.load())
  }

  // ————————————————————————————————————————— executor hooks

  /** Wire these as the executor's onStart / onDone. */
  onStart (run: TaskRun): void {
    this.stats.started++
    this.executed.set(run.id, run.assignment)
    if (this.claimed.has(`${run.id}/${run.assignment}`)) { this.publishLoad(); return } // its start is committed
    // a task that ends within startDelayMs goes straight to its result (the table accepts a result
    // from `assigned`): one consensus decision fewer per short task. Longer ones show `running`.
    const key = `${run.id}/${run.assignment}`
    this.startTimers.set(key, setTimeout(() => {
      this.startTimers.delete(key)
      void this.proposeOnce(`${key}/start`, { op: 'task.start', id: run.id, assignment: run.assignment })
    }, startDelayMs))
    this.publishLoad()
  }

  onDone (run: TaskRun, outcome: TaskOutcome): void {
    const key = `${run.id}/${run.assignment}`
    const timer = this.startTimers.get(key)
    if (timer != null) { clearTimeout(timer); this.startTimers.delete(key); this.stats.startsSkipped++ }
    if (outcome.ok) this.stats.completed++
    else this.stats.failed++
    this.publishLoad()
    void (async () => {
      let op: Record<string, unknown>
      const inline = !outcome.ok || Buffer.byteLength(outcome.result) <= taskResultBytesMax
      if (outcome.ok && inline) {
        op = { op: 'task.complete', id: run.id, assignment: run.assignment, result: outcome.result }
      } else if (outcome.ok) {
        // a result over 16 KiB: stored on its replicas first, then committed by digest
        try {
          op = { op: 'task.complete', id: run.id, assignment: run.assignment, result: await this.storeData(run.id, 'result', outcome.result) }
          this.stats.resultsByRef++
        } catch (err) {
          op = { op: 'task.fail', id: run.id, assignment: run.assignment, error: truncateUtf8(`result could not be stored: ${(err as Error).message}`, 1000) }
        }
      } else {
        op = { op: 'task.fail', id: run.id, assignment: run.assignment, error: truncateUtf8(outcome.error, 1000) }
      }
      const accepted = await this.proposeResult(run.id, run.assignment, op)
      if (accepted && outcome.ok && inline) this.storeRecord(run.id, 'result', outcome.result)
    })()
  }

  /**
   * Commit a run's result (`task.complete` / `task.fail`). Unanswered proposals (no quorum for a while: a
   * partition longer than the attempts of one `propose`) are tried again, a while apart, for as long as
   * the table still gives this node the task at that assignment: dropping the result there would leave
   * the task held by a live node that ran it already and never runs it again, so it would never finish.
   * Stops when the result is accepted, refused (it finished, moved or was reassigned meanwhile), or the
   * task is not ours at that assignment any more.
   */
  private async proposeResult (id: string, assignment: number, op: Record<string, unknown>): Promise<boolean> {
    for (let round = 0; !this.stopped; round++) {
      const outcome = await this.propose(`${id}/${assignment}/done`, op)
      if (outcome !== 'unknown') return outcome === 'accepted'
      const task = this.init.app.task(id)
      if (task == null || task.assignee !== this.init.self || task.assignment !== assignment || terminal.has(task.state)) return false
      this.stats.resultRetries++
      this.init.log(`tasks: the result of ${id} (assignment ${assignment}) is not committed yet; trying again`)
      const base = this.init.proposeRetryMs ?? 500
      await sleep(Math.min(60 * base, 4 * base * 2 ** Math.min(round, 4)))
    }
    return false
  }

  /**
   * Store `value` (JSON text over the inline bound) as the task's record on its 3 replicas, waiting for
   * 2 acknowledgements; resolves with the reference the table keeps.
   */
  private async storeData (id: string, kind: 'payload' | 'result', value: string): Promise<string> {
    const records = this.init.records
    const bytes = Buffer.byteLength(value)
    if (records == null) throw new TaskError(`a ${kind} of ${bytes} bytes needs the record store (inline: at most ${kind === 'payload' ? taskPayloadBytesMax : taskResultBytesMax} bytes)`, 413)
    try {
      await records.put(id, kind, value, { signal: AbortSignal.timeout(30_000) })
    } catch (err) {
      const status = err instanceof RecordError ? err.status : 503
      throw new TaskError(`storing the ${kind} (${bytes} bytes) on its 3 replicas failed: ${(err as Error).message}`, status)
    }
    return taskDataRef(sha256Hex(value), bytes)
  }

  /**
   * Read a payload or result kept by reference from its record replicas, accepting only a copy whose
   * size and SHA-256 are the committed ones (a lying holder is skipped). Two attempts, a second apart.
   */
  async loadData (id: string, kind: 'payload' | 'result', ref: { sha256: string, bytes: number }, signal?: AbortSignal): Promise<string> {
    const records = this.init.records
    if (records == null) throw new Error('this node has no record store')
    const accept = (value: Uint8Array): boolean => value.byteLength === ref.bytes && createHash('sha256').update(value).digest('hex') === ref.sha256
    let lastError = 'no replica holds it'
    for (let attempt = 0; attempt < 2; attempt++) {
      if (attempt > 0) await sleep(1_000)
      this.stats.dataFetches++
      try {
        const value = await records.get(id, kind, { signal, accept })
        if (value != null) return value
      } catch (err) {
        lastError = (err as Error).message
      }
      if (signal?.aborted === true) break
    }
    this.stats.dataFetchErrors++
    throw new Error(`the ${kind} record of ${id} (${ref.bytes} bytes, sha256 ${ref.sha256.slice(0, 12)}…): ${lastError}`)
  }

  /** The task with its payload and result read back from their records when kept by reference. */
  async resolved (task: TaskView): Promise<TaskView & { payloadRef?: { sha256: string, bytes: number }, resultRef?: { sha256: string, bytes: number }, dataError?: string }> {
    const out: TaskView & { payloadRef?: { sha256: string, bytes: number }, resultRef?: { sha256: string, bytes: number }, dataError?: string } = { ...task }
    const payloadRef = parseTaskDataRef(task.payload)
    const resultRef = task.result != null ? parseTaskDataRef(task.result) : null
    try {
      if (payloadRef != null) { out.payloadRef = payloadRef; out.payload = await this.loadData(task.id, 'payload', payloadRef, AbortSignal.timeout(15_000)) }
      if (resultRef != null) { out.resultRef = resultRef; out.result = await this.loadData(task.id, 'result', resultRef, AbortSignal.timeout(15_000)) }
    } catch (err) {
      out.dataError = (err as Error).message
    }
    return out
  }

  /** Replicate a payload or an accepted result on the task's 3 closest members (best effort, logged). */
  private storeRecord (id: string, kind: 'payload' | 'result', value: string): void {
    const records = this.init.records
    if (records == null) return
    this.stats.recordsStored++
    void records.put(id, kind, value).catch(err => {
      this.stats.recordErrors++
      this.init.log(`tasks: storing the ${kind} record of ${id} failed: ${(err as Error).message}`)
    })
  }

  private async proposeOnce (key: string, op: Record<string, unknown>): Promise<boolean> {
    return (await this.propose(key, op)) === 'accepted'
  }

  /**
   * Propose `op` (at most one proposal per key at a time, up to 5 attempts): `accepted` or `refused`
   * by a committed decision, or `unknown` (no answer: it may still commit later; or the key was
   * already in flight, or the node is stopping).
   */
  private async propose (key: string, op: Record<string, unknown>): Promise<'accepted' | 'refused' | 'unknown'> {
    if (this.inFlight.has(key) || this.stopped) return 'unknown'
    this.inFlight.add(key)
    try {
      for (let attempt = 0; attempt < 5 && !this.stopped; attempt++) {
        try {
          const { result } = await this.init.propose(JSON.stringify(op))
          return (JSON.parse(result) as { ok: boolean }).ok ? 'accepted' : 'refused'
        } catch (err) {
          this.stats.proposalErrors++
          this.init.log(`tasks: proposing ${String(op.op)} ${String(op.id)} failed (${(err as Error).message}); retrying`)
          await sleep((this.init.proposeRetryMs ?? 500) * 2 ** attempt)
        }
      }
      return 'unknown'
    } finally {
      this.inFlight.delete(key)
    }
  }

  // ————————————————————————————————————————— rounds

  private async round (): Promise<void> {
    if (this.stopped) return
    this.reconcile()
    this.failover()
    this.scheduleAll()
    const shedding = this.init.loadShedding ?? ['steal', 'migrate']
    if (shedding.includes('migrate')) this.migrate()
    if (shedding.includes('steal')) await this.maybeSteal()
  }

  private aliveMembers (): MemberView[] {
    return this.init.members().filter(m => m.state === 'alive')
  }

  /** The lowest alive validator: proposes failure verdicts and adopts orphaned tasks. */
  private isCaretaker (alive: Set<string>): boolean {
    const first = this.init.validators.find(v => alive.has(v))
    return first === this.init.self
  }

  private failover (): void {
    const members = this.init.members()
    const alive = new Set(members.filter(m => m.state === 'alive').map(m => m.peerId))
    if (!this.isCaretaker(alive)) return
    for (const member of members) {
      if (member.state !== 'failed' && member.state !== 'left') continue
      const owned = this.init.app.tasks({ assignee: member.peerId, state: ['assigned', 'running'], limit: 1 })
      if (owned.length === 0) { this.failoverProposed.delete(member.peerId); continue }
      const key = `${member.peerId}/${owned[0]?.assignment ?? 0}/${owned[0]?.id ?? ''}`
      if (this.failoverProposed.has(key)) continue
      this.failoverProposed.add(key)
      this.stats.failovers++
      this.init.log(`tasks: ${member.name} is ${member.state}: returning its unfinished tasks to pending`)
      void this.proposeOnce(`node.failed/${member.peerId}`, { op: 'node.failed', node: member.peerId }).finally(() => this.failoverProposed.delete(key))
    }
  }

  /**
   * Schedule at the end of this turn of the event loop: the submits one committed batch decided
   * resolve together, so their tasks are auctioned together (one exchange per bidder).
   */
  private scheduleSoon (): void {
    if (this.scheduleScheduled || this.stopped) return
    this.scheduleScheduled = true
    setImmediate(() => { this.scheduleScheduled = false; this.scheduleAll() })
  }

  private scheduleAll (): void {
    const members = this.aliveMembers()
    const alive = new Set(members.map(m => m.peerId))
    const caretaker = this.isCaretaker(alive)
    const now = performance.now()
    const auctions: TaskView[] = []
    for (const task of this.init.app.tasks({ state: 'pending', limit: 1_000 })) {
      if (this.scheduling.has(task.id)) continue
      const coordinator = task.submitter === this.init.self || (caretaker && !alive.has(task.submitter))
      if (!coordinator) continue
      const retry = this.retry.get(task.id)
      if (retry != null && now < retry.atMs) continue
      this.scheduling.add(task.id)
      if (task.strategy === 'dht') void this.routeByDht(task, members).finally(() => this.scheduling.delete(task.id))
      else auctions.push(task)
    }
    // the round's auctions go out together: one exchange per bidder per batch, not per task
    for (let i = 0; i < auctions.length; i += auctionBatchMax) {
      const batch = auctions.slice(i, i + auctionBatchMax)
      void this.auctionBatch(batch, members).finally(() => { for (const task of batch) this.scheduling.delete(task.id) })
    }
  }

  private backoff (id: string): void {
    const delayMs = Math.min(retryMsMax, (this.retry.get(id)?.delayMs ?? retryMsMin / 2) * 2)
    this.retry.set(id, { atMs: performance.now() + delayMs, delayMs })
  }

  private capableOf (task: { capabilities: string[] }, members: MemberView[]): MemberView[] {
    return members.filter(m => capabilityMatch(task.capabilities, m.capabilities) >= matchThreshold)
  }

  /** The capable alive member XOR-closest to the task (src/core/scheduler/dht.ts), or null. */
  private dhtWinner (id: string, capabilities: string[], members: MemberView[]): string | null {
    const capable = members.filter(m => capabilityMatch(capabilities, m.capabilities) >= matchThreshold)
    return capable.length === 0 ? null : dhtOwner(id, capable.map(m => ({ peerId: m.peerId, capabilities: m.capabilities })), capabilities) ?? null
  }

  private async routeByDht (task: TaskView, members: MemberView[]): Promise<void> {
    const winner = this.dhtWinner(task.id, task.capabilities, members)
    this.stats.dhtRoutes++
    await this.award(task, winner)
  }

  /** Commit the award (the next assignment number: two schedulers cannot both win), or back off. */
  private async award (task: TaskView, winner: string | null): Promise<void> {
    if (winner == null) { this.stats.noBids++; this.backoff(task.id); return }
    const ok = await this.proposeOnce(`${task.id}/${task.assignment + 1}/assign`, { op: 'task.assign', id: task.id, node: winner, assignment: task.assignment + 1 })
    if (ok) { this.retry.delete(task.id); this.stats.awards++ } else this.backoff(task.id)
  }

  /**
   * Auction a batch of pending tasks (≤ auctionBatchMax): each capable member gets ONE call carrying
   * every task it can bid on and answers every call at once. The tasks are then awarded in priority
   * order, each bidder's load raised by what it already won in this batch (so one idle node does not
   * win the whole batch on a load it no longer has); the awards are proposed together (the consensus
   * client bundles them into one request) and each loser gets one notice for all its lost auctions.
   */
  private async auctionBatch (tasks: TaskView[], members: MemberView[]): Promise<void> {
    const winners = await this.runAuctions(tasks.map(t => ({ id: t.id, capabilities: t.capabilities, priority: t.priority, order: t.submittedSeq })), members)
    await Promise.all(tasks.map(async task => { await this.award(task, winners.get(task.id) ?? null) }))
  }

  /**
   * Place tasks that are not submitted yet by auction: the submits of one turn of the event loop are
   * auctioned together (one call per bidder per ≤ auctionBatchMax tasks, as in `auctionBatch`), and
   * each submit then carries its winner (`task.submit` with `node`: assigned in the same operation).
   * Null when nobody bid: the task is submitted pending and the scheduling rounds auction it again.
   */
  private async placeByAuction (item: AuctionItem): Promise<string | null> {
    return await new Promise(resolve => {
      this.placements.push({ item, resolve })
      if (this.placements.length === 1) setImmediate(() => { this.flushPlacements() })
    })
  }

  private flushPlacements (): void {
    const list = this.placements.splice(0)
    if (list.length === 0) return
    const members = this.aliveMembers()
    for (let i = 0; i < list.length; i += auctionBatchMax) {
      const batch = list.slice(i, i + auctionBatchMax)
      this.runAuctions(batch.map(b => b.item), members).then(
        winners => { for (const b of batch) b.resolve(winners.get(b.item.id) ?? null) },
        () => { for (const b of batch) b.resolve(null) })
    }
  }

  /** One auction round for ≤ auctionBatchMax tasks: the winner of each (null: no acceptable bid). */
  private async runAuctions (tasks: AuctionItem[], members: MemberView[]): Promise<Map<string, string | null>> {
    this.stats.auctionBatches++
    const capableByTask = new Map<string, MemberView[]>()
    const callsByMember = new Map<string, { member: MemberView, calls: CallForBids[] }>()
    for (const task of tasks) {
      const capable = this.capableOf(task, members)
      capableByTask.set(task.id, capable)
      for (const m of capable) {
        let entry = callsByMember.get(m.peerId)
        if (entry == null) { entry = { member: m, calls: [] }; callsByMember.set(m.peerId, entry) }
        entry.calls.push({ taskId: task.id, capabilities: task.capabilities, priority: task.priority, deadlineMs: bidDeadlineMsDefault })
      }
    }
    const answers = new Map<string, Array<{ peerId: string, bid: Bid | null }>>()
    await Promise.all([...callsByMember.values()].map(async ({ member, calls }) => {
      const bids = member.peerId === this.init.self
        ? calls.map(call => this.bid(call, this.init.self))
        : await this.init.protocols.callForBids(peerIdFromString(member.peerId), calls)
      if (member.peerId !== this.init.self && bids.length > 0 && bids.every(b => b == null)) this.init.onRequestFailed?.(member.peerId)
      calls.forEach((call, i) => {
        let list = answers.get(call.taskId)
        if (list == null) { list = []; answers.set(call.taskId, list) }
        list.push({ peerId: member.peerId, bid: bids[i] ?? null })
      })
    }))
    const won = new Map<string, number>()
    const notices = new Map<string, AwardNotice[]>()
    const winners = new Map<string, string | null>()
    const ordered = [...tasks].sort((a, b) => b.priority - a.priority || a.order - b.order)
    for (const task of ordered) {
      this.stats.auctions++
      const winner = (capableByTask.get(task.id) ?? []).length === 0 ? null : this.decide(task, answers.get(task.id) ?? [], won, notices)
      if (winner != null) won.set(winner, (won.get(winner) ?? 0) + 1)
      winners.set(task.id, winner)
    }
    for (const [peerId, list] of notices) void this.init.protocols.notifyAwards(peerIdFromString(peerId), list)
    return winners
  }

  /** Score one task's bids (loads raised by `won`), record the auction, queue the losers' notices. */
  private decide (task: { id: string }, answers: Array<{ peerId: string, bid: Bid | null }>, won: Map<string, number>, notices: Map<string, AwardNotice[]>): string | null {
    const accepted = answers.filter((a): a is { peerId: string, bid: Bid } => a.bid != null && a.bid.accept)
      .map(({ peerId, bid }) => ({ peerId, bid: { ...bid, queued: bid.queued + (won.get(peerId) ?? 0) } }))
    const bids = accepted.map(({ peerId, bid }) => ({
      peerId,
      match: bid.match,
      queued: bid.queued,
      running: bid.running,
      capacity: bid.capacity,
      score: bidScore({
        match: bid.match,
        load: utilisation({ queued: bid.queued, running: bid.running, capacity: bid.capacity }),
        performance: this.tracker.performance(peerId),
        resources: 1 - bid.cpu
      }),
      // [reputation] the tie-break among equal scores
      reputation: this.init.reputation?.(peerId) ?? 0
    }))
    // capability routing: the best bid among those with free capacity; when every capable bidder is
    // full, the shortest queue for its capacity, then the best score (the task waits in that queue)
    const choice = chooseBid(bids) ?? chooseBidWhenFull(bids) ?? null
    this.recentAuctions.push({
      taskId: task.id,
      winner: choice?.winner.peerId ?? null,
      bids: answers.map(({ peerId, bid }) => {
        const seen = accepted.find(a => a.peerId === peerId)?.bid
        const scored = bids.find(b => b.peerId === peerId)
        return bid == null || !bid.accept || seen == null
          ? { peerId, accepted: false, reason: bid?.reason ?? 'no answer' }
          : { peerId, accepted: true, match: seen.match, utilisation: utilisation(seen), performance: this.tracker.performance(peerId), resources: 1 - seen.cpu, freeCapacity: seen.queued + seen.running < seen.capacity, wonEarlierInBatch: won.get(peerId) ?? 0, score: scored?.score, reputation: scored?.reputation }
      })
    })
    if (this.recentAuctions.length > 20) this.recentAuctions.shift()
    if (choice == null) return null
    const winner = choice.winner
    for (const loser of choice.ranked.filter(b => b.peerId !== winner.peerId && b.peerId !== this.init.self)) {
      let list = notices.get(loser.peerId)
      if (list == null) { list = []; notices.set(loser.peerId, list) }
      list.push({ taskId: task.id, winner: winner.peerId, winningScore: winner.score, yourScore: loser.score })
    }
    return winner.peerId
  }

  /** Our bid (or refusal) for a call. */
  private bid (call: CallForBids, _from: string): Bid {
    const load = this.init.executor.load()
    const self = this.init.members().find(m => m.self)
    const offered = this.init.executor.capabilities()
    const match = capabilityMatch(call.capabilities, offered)
    if (match < matchThreshold) return { accept: false, reason: `capability match ${match.toFixed(2)} < ${matchThreshold}`, match, queued: load.queued, running: load.running, capacity: load.capacity, cpu: 0 }
    return { accept: true, reason: '', match, queued: load.queued, running: load.running, capacity: load.capacity, cpu: self?.load.cpu ?? 0 }
  }

  // ————————————————————————————————————————— stealing and migration

  private async maybeSteal (): Promise<void> {
    if (this.stealing) return
    const load = this.init.executor.load()
    if (load.queued > 0 || load.running >= load.capacity) return
    const members = this.aliveMembers().filter(m => !m.self)
    const plan = chooseVictim(
      { peerId: this.init.self, capabilities: this.init.executor.capabilities(), load },
      members.map(m => ({ peerId: m.peerId, capabilities: m.capabilities, load: { queued: m.load.queued, running: m.load.running, capacity: m.load.capacity }, queue: this.queueOf(m.peerId) }))
    )
    if (plan == null) return
    const victim = { peerId: plan.victim, name: members.find(m => m.peerId === plan.victim)?.name ?? plan.victim, count: plan.count }
    this.stealing = true
    try {
      this.stats.steals++
      const req: StealRequest = { maxTasks: victim.count, capabilities: this.init.executor.capabilities() }
      const response = await this.init.protocols.requestSteal(peerIdFromString(victim.peerId), req)
      if (response.taskIds.length > 0) {
        this.stats.stolen += response.taskIds.length
        this.init.log(`tasks: stole ${response.taskIds.length} queued task(s) from ${victim.name}`)
        this.reconcileSoon()
      }
    } finally {
      this.stealing = false
    }
  }

  /** Victim side: hand over queued tasks the thief can run, one committed move each. */
  private async giveAway (req: StealRequest, thief: string, signal: AbortSignal): Promise<StealResponse> {
    const executor = this.init.executor
    const candidates = executor.queued().filter(r => capabilityMatch(r.capabilities, req.capabilities) >= matchThreshold)
    // leave ourselves at least one queued task: stealing should even out, not swap the roles
    const count = Math.min(req.maxTasks, Math.floor(executor.queued().length / 2), candidates.length)
    if (count <= 0) return { taskIds: [], reason: 'nothing to spare' }
    const moved: string[] = []
    for (const run of candidates.slice(-count)) { // the ones that would start last
      if (signal.aborted) break
      if (executor.take(run.id) == null) continue // it started meanwhile: never steal a running task
      // refused or unknown: the hand-over is settled by a start claim before it may run here again
      if (await this.handOver(run, thief, 'steal')) moved.push(run.id)
    }
    this.reconcileSoon()
    return { taskIds: moved, reason: moved.length > 0 ? '' : 'moves refused' }
  }

  private migrating = false

  /**
   * Propose the move of a run this node just took out of its executor's queue (so it has not begun).
   * From here on the node never begins it at this assignment by itself: see `handedOver`.
   */
  private async handOver (run: TaskRun, to: string, reason: 'steal' | 'migrate'): Promise<boolean> {
    const handed: { assignment: number, stage: 'moving' | 'moved' | 'unsettled' } = { assignment: run.assignment, stage: 'moving' }
    this.handedOver.set(run.id, handed)
    const outcome = await this.propose(`${run.id}/${run.assignment}/move`, { op: 'task.move', id: run.id, from: this.init.self, to, assignment: run.assignment, reason })
    handed.stage = outcome === 'accepted' ? 'moved' : 'unsettled'
    this.reconcileSoon()
    return outcome === 'accepted'
  }

  private migrate (): void {
    if (this.migrating) return
    const executor = this.init.executor
    const load = executor.load()
    const members = this.aliveMembers()
    // our own queue is the only one we may move from; the others count by their gossiped load
    const nodes = members.map(m => m.self
      ? { peerId: m.peerId, capabilities: executor.capabilities(), load, queue: executor.queued().map(r => ({ id: r.id, required: r.capabilities })) }
      : { peerId: m.peerId, capabilities: m.capabilities, load: { queued: m.load.queued, running: m.load.running, capacity: m.load.capacity } })
    const now = performance.now()
    for (const node of nodes) this.balancer.observeLoad(node.peerId, node.load, now)
    const moves = this.balancer.plan(nodes, now, this.init.meshMeanUtilisation?.()).filter(m => m.from === this.init.self)
    if (moves.length === 0) return
    this.migrating = true
    void (async () => {
      for (const move of moves) {
        const run = executor.take(move.taskId) // undefined once it started: never move a begun task
        if (run == null) continue
        if (await this.handOver(run, move.to, 'migrate')) this.stats.migrations++
      }
    })().finally(() => { this.migrating = false; this.reconcileSoon() })
  }

  /** A member's queued (assigned, not started) tasks, from the replicated table: what it could give away. */
  private queueOf (peerId: string): Array<{ id: string, required: string[] }> {
    return this.init.app.tasks({ assignee: peerId, state: 'assigned', limit: 200 }).map(t => ({ id: t.id, required: t.capabilities }))
  }

  status (): Record<string, unknown> {
    return { ...this.stats, load: this.init.executor.load(), capabilities: this.init.executor.capabilities(), recentAuctions: this.recentAuctions }
  }
}

/** The operation texts inside a request (a bundle's operations, or the operation itself). */
function expand (operation: string): string[] {
  if (!operation.includes('"bundle"')) return [operation]
  try {
    const parsed = JSON.parse(operation) as { op?: unknown, ops?: unknown }
    if (parsed.op === 'bundle' && Array.isArray(parsed.ops)) return parsed.ops.filter((o): o is string => typeof o === 'string')
  } catch {}
  return [operation]
}

/** `${id}/${assignment}` → [id, assignment] (an id may contain '/'). */
function splitKey (key: string): [string, number] {
  const cut = key.lastIndexOf('/')
  return [key.slice(0, cut), Number(key.slice(cut + 1))]
}

function sha256Hex (text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
