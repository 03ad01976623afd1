/**
 * A deterministic, seeded simulation of the task lifecycle driven by the pure scheduler
 * (src/core/scheduler): nodes with capabilities and capacities, tasks arriving, nodes crashing,
 * restarting, and being falsely declared failed while still working (zombies).
 *
 * The model, one tick at a time:
 * - A **task table** (what the replicated store holds) is the only authority on who owns a task. Every
 *   write is conditional on the task's assignment number (fencing): `assign` (pending → queued, by the
 *   router), `start` (queued → running, by the owner), `complete` / `fail` (running → completed, or
 *   back to pending for a retry, by the owner), `move` (queued only: steal or migration), `reroute`
 *   (failover: queued or running → pending, at the fence `reassignments` gives). Each change of owner
 *   raises the assignment number; a write with an old number is refused.
 * - **Nodes** hold a local queue and running set, each entry with the assignment number it was given.
 *   A crashed node loses them; a node declared failed while alive (zombie) keeps executing until it
 *   learns of the verdict, and its late writes are refused by the fence; a node that restarts first has
 *   its previous life declared failed (failover), then rejoins empty.
 * - **Membership view**: a crash is detected 1–4 ticks later; until then the node is still routed to,
 *   stolen from and migrated to, with the load it last gossiped (messages to it are lost). Detection
 *   runs `reassignments` for it.
 * - **Routing**: pending tasks go to `chooseBid` over bids from every member in view (`auction`) or to
 *   `dhtOwner` (`dht`). **Stealing** (`chooseVictim`) and **migration** (`planMigrations`) plan on a
 *   snapshot of the queues taken before the nodes step, so plans can be stale by the time they are
 *   applied: a task may have started since, and the fence must refuse moving it.
 * - **Payload records** live on `replicaSet(task)` (k = 3) of the members in view, re-replicated from a
 *   live holder after every membership change (at most 2 nodes down at a time).
 *
 * A zombie is cut off: it hears nothing (assignments and moves to or from it are lost on its side) and
 * its gossip is frozen, but its writes still reach the table, late, where the fence refuses them.
 *
 * Checked after every tick (and every move): a move never takes a task some node is running; at most
 * one process (zombies included) holds a task with the current assignment number, and at most one
 * healthy node holds it at all, the owner; an unfinished task's owner is in the view and, if healthy,
 * holds the task in the state the table says (queued or running); every
 * unfinished task's payload is held by a live member; a task starts only on a capable node. At the end:
 * every task completed exactly once, none lost.
 */
import { SeededRandom } from '../../src/core/random.js'
import {
  PerformanceTracker, capabilityMatch, chooseBid, chooseVictim, dhtOwner, matchThreshold, planMigrations,
  reassignments, replicaSet, scoredBid
} from '../../src/core/scheduler/index.js'
import type { MemberInfo, OwnedTask, RoutingStrategy, ScoredBid, TaskStatus, WorkerView } from '../../src/core/scheduler/index.js'

/** Capabilities tasks may require. */
const requirable = ['gpu', 'cpu', 'python', 'rust', 'ml/train', 'ml/infer', 'storage']
/** Capabilities nodes may offer (a wildcard included; upper case too, matching is case-insensitive). */
const offerable = ['gpu', 'cpu', 'python', 'rust', 'ml/train', 'ml/infer', 'ml/*', 'storage', 'GPU', 'Python']

export interface SimOptions {
  /** Ticks during which tasks arrive. */
  arrivalTicks: number
  /** Ticks during which faults happen; every node is back up soon after. */
  faultTicks: number
  maxTicks: number
  /** At most this many nodes down (crashed, or zombie) at once. */
  maxDown: number
  /** Task timeout, in ticks (for the performance tracker). */
  timeoutTicks: number
}

export const simDefaults: SimOptions = { arrivalTicks: 60, faultTicks: 90, maxTicks: 3000, maxDown: 2, timeoutTicks: 12 }

export interface SimStats {
  nodes: number
  tasks: number
  ticks: number
  crashes: number
  zombies: number
  restarts: number
  failovers: number
  rerouted: number
  auctions: number
  dhtRoutes: number
  steals: number
  stolen: number
  migrations: number
  fencedWrites: number
  staleMovesRefused: number
  executionFailures: number
}

export interface SimResult {
  seed: number
  violations: string[]
  stats: SimStats
  /** A compact trace of every table write, to compare runs of one seed. */
  trace: string[]
}

interface Task extends OwnedTask {
  durationTicks: number
  completions: number
  attempts: number
}

interface Entry {
  id: string
  assignment: number
}

interface Running extends Entry {
  startedAt: number
  finishAt: number
  fails: boolean
}

interface SimNode {
  peerId: string
  capabilities: string[]
  capacity: number
  /** Execution time multiplier. */
  slowness: number
  /** The process runs. */
  up: boolean
  /** Membership holds it alive. */
  inView: boolean
  /** Declared (or to be declared) failed while its process still runs. */
  zombie: boolean
  detectAt: number | undefined
  recoverAt: number | undefined
  healAt: number | undefined
  queue: Entry[]
  running: Running[]
  payloads: Set<string>
  /** The load it gossiped last: what the others see while it is down but still in view. */
  gossip: { queued: number, running: number, queue: Entry[] }
}

/** The replicated task table: conditional writes only. */
class Table {
  readonly tasks = new Map<string, Task>()
  readonly order: string[] = []
  readonly trace: string[] = []
  fenced = 0

  add (task: Task): void {
    this.tasks.set(task.id, task)
    this.order.push(task.id)
  }

  get (id: string): Task {
    const task = this.tasks.get(id)
    if (task === undefined) throw new Error(`no task ${id}`)
    return task
  }

  private write (ok: boolean, what: string): boolean {
    this.trace.push(`${ok ? '+' : '-'}${what}`)
    if (!ok) this.fenced++
    return ok
  }

  assign (id: string, to: string, expect: number): number | undefined {
    const t = this.get(id)
    const ok = t.status === 'pending' && t.assignment === expect
    if (!this.write(ok, `assign ${id} ${short(to)} ${expect + 1}`)) return undefined
    t.status = 'queued'
    t.owner = to
    t.assignment = expect + 1
    return t.assignment
  }

  start (id: string, node: string, assignment: number): boolean {
    const t = this.get(id)
    const ok = t.status === 'queued' && t.owner === node && t.assignment === assignment
    if (!this.write(ok, `start ${id} ${short(node)} ${assignment}`)) return false
    t.status = 'running'
    return true
  }

  complete (id: string, node: string, assignment: number): boolean {
    const t = this.get(id)
    const ok = t.status === 'running' && t.owner === node && t.assignment === assignment
    if (!this.write(ok, `complete ${id} ${short(node)} ${assignment}`)) return false
    t.status = 'completed'
    t.completions++
    return true
  }

  /** An execution failed: back to pending (a retry), under a new assignment number. */
  fail (id: string, node: string, assignment: number): boolean {
    const t = this.get(id)
    const ok = t.status === 'running' && t.owner === node && t.assignment === assignment
    if (!this.write(ok, `fail ${id} ${short(node)} ${assignment}`)) return false
    t.status = 'pending'
    t.owner = undefined
    t.assignment++
    return true
  }

  move (id: string, from: string, to: string, assignment: number): number | undefined {
    const t = this.get(id)
    const ok = t.status === 'queued' && t.owner === from && t.assignment === assignment
    if (!this.write(ok, `move ${id} ${short(from)}>${short(to)} ${assignment}`)) return undefined
    t.owner = to
    t.assignment = assignment + 1
    return t.assignment
  }

  /** Failover: an unfinished task of a failed node back to pending at `fence`. */
  reroute (id: string, failed: string, fence: number): boolean {
    const t = this.get(id)
    const ok = (t.status === 'queued' || t.status === 'running') && t.owner === failed && t.assignment + 1 === fence
    if (!this.write(ok, `reroute ${id} ${short(failed)} ${fence}`)) return false
    t.status = 'pending'
    t.owner = undefined
    t.assignment = fence
    return true
  }
}

function short (peerId: string): string {
  return peerId.slice(-6)
}

function pick<T> (rng: SeededRandom, items: readonly T[]): T {
  return items[Math.floor(rng.next() * items.length)] as T
}

function int (rng: SeededRandom, min: number, max: number): number {
  return min + Math.floor(rng.next() * (max - min + 1))
}

/**
 * Runs one seed. `peerPool` holds real PeerId strings (at least 8); the seed picks the nodes among
 * them, so the DHT placement is the real one.
 */
export function runTaskSim (seed: number, peerPool: readonly string[], options: Partial<SimOptions> = {}): SimResult {
  const o = { ...simDefaults, ...options }
  const rng = new SeededRandom(seed)
  const violations: string[] = []
  const violate = (tick: number, what: string): void => {
    if (violations.length < 20) violations.push(`tick ${tick}: ${what}`)
  }
  const table = new Table()
  const tracker = new PerformanceTracker()
  const stats: SimStats = {
    nodes: 0, tasks: 0, ticks: 0, crashes: 0, zombies: 0, restarts: 0, failovers: 0, rerouted: 0, auctions: 0,
    dhtRoutes: 0, steals: 0, stolen: 0, migrations: 0, fencedWrites: 0, staleMovesRefused: 0, executionFailures: 0
  }

  const n = int(rng, 4, 8)
  const nodes: SimNode[] = rng.sample(peerPool, n).map(peerId => ({
    peerId,
    capabilities: rng.sample(offerable, int(rng, 1, 5)),
    capacity: int(rng, 1, 4),
    slowness: 1 + rng.next(),
    up: true,
    inView: true,
    zombie: false,
    detectAt: undefined,
    recoverAt: undefined,
    healAt: undefined,
    queue: [],
    running: [],
    payloads: new Set(),
    gossip: { queued: 0, running: 0, queue: [] }
  }))
  nodes.sort((a, b) => a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0)
  const byId = new Map(nodes.map(node => [node.peerId, node]))
  stats.nodes = n

  const node = (peerId: string): SimNode => byId.get(peerId) as SimNode
  const healthy = (x: SimNode): boolean => x.up && x.inView && !x.zombie
  const downCount = (): number => nodes.filter(x => !healthy(x)).length
  const view = (): SimNode[] => nodes.filter(x => x.inView)
  const wipe = (x: SimNode): void => {
    x.queue = []
    x.running = []
    x.payloads = new Set()
  }
  const gossipNow = (x: SimNode): void => {
    x.gossip = { queued: x.queue.length, running: x.running.length, queue: x.queue.map(e => ({ ...e })) }
  }
  const unfinished = (): Task[] => table.order.map(id => table.get(id)).filter(t => t.status !== 'completed')

  /** Payload records: each unfinished task's on the up members of its replica set; copies elsewhere dropped. */
  const replicate = (tick: number): void => {
    const members: MemberInfo[] = view().map(x => ({ peerId: x.peerId, state: 'alive', capabilities: x.capabilities }))
    for (const task of unfinished()) {
      const holders = nodes.filter(x => x.up && x.inView && x.payloads.has(task.id))
      if (holders.length === 0) { violate(tick, `payload of ${task.id} lost`); continue }
      const targets = replicaSet(task.id, members, 3)
      for (const peerId of targets) {
        const target = node(peerId)
        if (target.up) target.payloads.add(task.id)
      }
      if (targets.some(p => node(p).up)) {
        for (const x of nodes) if (!targets.includes(x.peerId)) x.payloads.delete(task.id)
      }
    }
  }

  /** Membership declares `x` failed: failover of everything the table says it owns. */
  const declareFailed = (tick: number, x: SimNode): void => {
    x.inView = false
    x.detectAt = undefined
    stats.failovers++
    const tasks = table.order.map(id => table.get(id))
    for (const r of reassignments(x.peerId, tasks)) {
      if (!table.reroute(r.taskId, x.peerId, r.fence)) violate(tick, `reroute of ${r.taskId} refused`)
      else stats.rerouted++
    }
    replicate(tick)
  }

  const route = (tick: number): void => {
    const inView = view()
    for (const task of unfinished()) {
      if (task.status !== 'pending') continue
      let winner: string | undefined
      if (task.strategy === 'dht') {
        winner = dhtOwner(task.id, inView.map(x => ({ peerId: x.peerId, state: 'alive' as const, capabilities: x.capabilities })), task.required)
        stats.dhtRoutes++
      } else {
        const bids: ScoredBid[] = inView.map(x => {
          const load = x.up && !x.zombie
            ? { queued: x.queue.length, running: x.running.length, capacity: x.capacity, cpu: x.running.length / x.capacity }
            : { queued: x.gossip.queued, running: x.gossip.running, capacity: x.capacity, cpu: x.gossip.running / x.capacity }
          return scoredBid(x.peerId, capabilityMatch(task.required, x.capabilities), load, tracker.performance(x.peerId))
        })
        const choice = chooseBid(bids)
        winner = choice?.winner.peerId
        stats.auctions++
      }
      if (winner === undefined) continue
      const target = node(winner)
      if (capabilityMatch(task.required, target.capabilities) < matchThreshold) violate(tick, `${task.id} routed to an incapable node`)
      const assignment = table.assign(task.id, winner, task.assignment)
      if (assignment === undefined) { violate(tick, `assign of pending ${task.id} refused`); continue }
      task.attempts++
      if (target.up && !target.zombie) target.queue.push({ id: task.id, assignment }) // else the message is lost
    }
  }

  /** The owner moves: remove from the source's local queue, append to the target's. */
  const applyMove = (tick: number, id: string, from: string, to: string, assignment: number, why: 'steal' | 'migrate'): boolean => {
    const next = table.move(id, from, to, assignment)
    if (next === undefined) { stats.staleMovesRefused++; return false }
    // the execution the move would have taken away: the one at the assignment moved from (a zombie may
    // still run an older, superseded one; the fence refuses its result)
    const runner = nodes.find(x => x.up && x.running.some(r => r.id === id && (r.assignment === assignment || healthy(x))))
    if (runner !== undefined) violate(tick, `${why} moved ${id} while it runs on ${short(runner.peerId)}`)
    const source = node(from)
    const target = node(to)
    // a crashed node hears nothing; a zombie (cut off) neither: it keeps its stale entry, and the fence
    // refuses it when it tries to start it
    if (source.up && !source.zombie) source.queue = source.queue.filter(e => e.id !== id)
    if (target.up && !target.zombie) target.queue.push({ id, assignment: next })
    return true
  }

  const step = (tick: number, x: SimNode): void => {
    // finish what is due
    for (const r of x.running.filter(r => r.finishAt <= tick)) {
      x.running = x.running.filter(e => e !== r)
      const durationMs = (tick - r.startedAt) * 1000
      const outcome = { durationMs, timeoutMs: o.timeoutTicks * 1000 }
      if (r.fails) {
        if (table.fail(r.id, x.peerId, r.assignment)) { stats.executionFailures++; tracker.record(x.peerId, { ...outcome, success: false }) }
      } else if (table.complete(r.id, x.peerId, r.assignment)) {
        tracker.record(x.peerId, { ...outcome, success: true })
      }
    }
    // start from the head of the queue
    while (x.running.length < x.capacity && x.queue.length > 0) {
      const e = x.queue.shift() as Entry
      if (!table.start(e.id, x.peerId, e.assignment)) continue // no longer ours: dropped
      const task = table.get(e.id)
      if (capabilityMatch(task.required, x.capabilities) < matchThreshold) violate(tick, `${e.id} started on incapable ${short(x.peerId)}`)
      if (!nodes.some(h => h.up && h.inView && h.payloads.has(e.id))) violate(tick, `${e.id} started without a payload`)
      const ticks = Math.max(1, Math.round(task.durationTicks * x.slowness))
      x.running.push({ ...e, startedAt: tick, finishAt: tick + ticks, fails: rng.next() < 0.08 })
    }
  }

  const workerView = (x: SimNode, live: boolean): WorkerView => {
    const queue = live ? x.queue : x.gossip.queue
    return {
      peerId: x.peerId,
      state: 'alive',
      capabilities: x.capabilities,
      load: { queued: queue.length, running: live ? x.running.length : x.gossip.running, capacity: x.capacity },
      queue: queue.map(e => ({ id: e.id, required: table.get(e.id).required }))
    }
  }

  const check = (tick: number): void => {
    for (const task of table.order.map(id => table.get(id))) {
      if (task.completions > 1) violate(tick, `${task.id} completed ${task.completions} times`)
      const current = nodes.filter(x => x.up && (x.queue.some(e => e.id === task.id && e.assignment === task.assignment) ||
        x.running.some(e => e.id === task.id && e.assignment === task.assignment)))
      if (current.length > 1) violate(tick, `${task.id} held by ${current.length} nodes at assignment ${task.assignment}`)
      const holders = nodes.filter(x => healthy(x) && (x.queue.some(e => e.id === task.id) || x.running.some(e => e.id === task.id)))
      if (holders.length > 1) violate(tick, `${task.id} owned by ${holders.map(h => short(h.peerId)).join(', ')} at once`)
      if (task.status === 'completed' || task.status === 'pending') {
        // nobody healthy may still hold a finished or unassigned task (a completion by a fenced-out
        // execution would leave the real owner running it)
        if (holders.length > 0) violate(tick, `${task.status} ${task.id} held by ${short((holders[0] as SimNode).peerId)}`)
        continue
      }
      const owner = task.owner === undefined ? undefined : byId.get(task.owner)
      if (owner === undefined) { violate(tick, `${task.id} ${task.status} without owner`); continue }
      if (!owner.inView) violate(tick, `${task.id} lost: owned by ${short(owner.peerId)}, which is out of the view`)
      if (healthy(owner)) {
        const list: Entry[] = task.status === 'running' ? owner.running : owner.queue
        if (!list.some(e => e.id === task.id && e.assignment === task.assignment)) violate(tick, `${task.id} lost: ${short(owner.peerId)} does not hold it ${task.status}`)
      }
      if (holders.length === 1 && holders[0] !== owner) violate(tick, `${task.id} held by ${short((holders[0] as SimNode).peerId)}, owned by ${short(owner.peerId)}`)
    }
  }

  let nextTask = 0
  let tick = 0
  for (; tick < o.maxTicks; tick++) {
    // 1. faults
    if (tick < o.faultTicks) {
      const roll = rng.next()
      const candidates = nodes.filter(healthy)
      if (roll < 0.06 && downCount() < o.maxDown && candidates.length > 0) {
        const x = pick(rng, candidates)
        gossipNow(x)
        if (rng.next() < 0.65) {
          stats.crashes++
          x.up = false
          wipe(x)
          x.detectAt = tick + int(rng, 1, 4)
          x.recoverAt = tick + int(rng, 1, 14) // may come back before it is detected
        } else {
          stats.zombies++
          x.zombie = true
          x.detectAt = tick + int(rng, 1, 4)
          x.healAt = x.detectAt + int(rng, 1, 6)
        }
        replicate(tick)
      }
    }
    // 2. membership: detections, restarts, zombies learning of their verdict
    for (const x of nodes) {
      if (x.detectAt !== undefined && x.detectAt <= tick && x.inView) declareFailed(tick, x)
      if (!x.up && x.recoverAt !== undefined && x.recoverAt <= tick) {
        // a new incarnation: its previous life is declared failed first (what it owned goes back to routing)
        if (x.inView) declareFailed(tick, x)
        x.up = true
        x.inView = true
        x.recoverAt = undefined
        stats.restarts++
        gossipNow(x)
        replicate(tick)
      }
      if (x.zombie && x.healAt !== undefined && x.healAt <= tick && !x.inView) {
        x.zombie = false
        x.healAt = undefined
        wipe(x)
        x.inView = true
        gossipNow(x)
        replicate(tick)
      }
    }
    // 3. arrivals
    if (tick < o.arrivalTicks) {
      const count = rng.next() < 0.5 ? 0 : int(rng, 1, 2)
      for (let i = 0; i < count; i++) {
        const id = `t${nextTask++}`
        const strategy: RoutingStrategy = rng.next() < 0.5 ? 'auction' : 'dht'
        const required = feasibleRequirement(rng, nodes)
        const task: Task = { id, owner: undefined, status: 'pending' as TaskStatus, strategy, assignment: 0, required, durationTicks: int(rng, 1, 6), completions: 0, attempts: 0 }
        table.add(task)
        const members = view().map(x => ({ peerId: x.peerId, state: 'alive' as const }))
        for (const p of replicaSet(id, members, 3)) if (node(p).up) node(p).payloads.add(id)
      }
    }
    // 4. routing
    route(tick)
    // 5. the snapshot steal and migration plans are made on (stale by the time they apply)
    const snapshot: WorkerView[] = view().map(x => workerView(x, x.up && !x.zombie))
    const snapshotAssignment = new Map<string, number>()
    for (const x of view()) for (const e of (x.up && !x.zombie ? x.queue : x.gossip.queue)) snapshotAssignment.set(e.id, e.assignment)
    // 6. nodes step (zombies too: they keep working until they learn of their verdict)
    for (const x of nodes) if (x.up) step(tick, x)
    for (const x of nodes) if (x.up && !x.zombie) gossipNow(x)
    // 7. stealing: every idle healthy node, in PeerId order
    for (const x of nodes) {
      if (!healthy(x)) continue
      const plan = chooseVictim(workerView(x, true), snapshot)
      if (plan === undefined) continue
      stats.steals++
      for (const id of plan.taskIds) {
        const a = snapshotAssignment.get(id)
        if (a === undefined) { violate(tick, `steal of ${id}, not in the snapshot`); continue }
        if (applyMove(tick, id, plan.victim, x.peerId, a, 'steal')) stats.stolen++
      }
    }
    // 8. migrations, on the same stale snapshot
    for (const m of planMigrations(snapshot)) {
      const a = snapshotAssignment.get(m.taskId)
      if (a === undefined) { violate(tick, `migration of ${m.taskId}, not in the snapshot`); continue }
      if (applyMove(tick, m.taskId, m.from, m.to, a, 'migrate')) stats.migrations++
    }
    // 9. invariants
    check(tick)
    if (violations.length > 0) break
    if (tick >= o.faultTicks && tick >= o.arrivalTicks && unfinished().length === 0 && nodes.every(healthy)) break
  }
  stats.ticks = tick
  stats.tasks = table.order.length
  stats.fencedWrites = table.fenced
  if (violations.length > 0) return { seed, violations, stats, trace: table.trace }
  for (const task of table.order.map(id => table.get(id))) {
    if (task.status !== 'completed') violate(tick, `${task.id} never completed (${task.status}, owner ${task.owner === undefined ? '-' : short(task.owner)})`)
    else if (task.completions !== 1) violate(tick, `${task.id} completed ${task.completions} times`)
  }
  return { seed, violations, stats, trace: table.trace }
}

/**
 * A requirement some node can meet (so every task can eventually run): a subset of one node's
 * concrete capabilities, sometimes with one more it lacks when it still matches ≥ 0.7 (3 of 4), or
 * nothing at all.
 */
function feasibleRequirement (rng: SeededRandom, nodes: readonly SimNode[]): string[] {
  const x = pick(rng, nodes)
  if (rng.next() < 0.15) return []
  const concrete = requirable.filter(c => capabilityMatch([c], x.capabilities) === 1)
  if (concrete.length === 0) return []
  const required = rng.sample(concrete, int(rng, 1, Math.min(3, concrete.length)))
  if (required.length === 3) {
    const missing = requirable.filter(c => capabilityMatch([c], x.capabilities) === 0)
    if (missing.length > 0 && rng.next() < 0.5) required.push(pick(rng, missing).toUpperCase())
  }
  return required
}
