/**
 * Load balancing: move queued (never running) tasks from overloaded nodes to underloaded capable ones,
 * without making them bounce back.
 *
 * With utilisation u = (queued + running) / capacity capped at 1 (see `utilisation`):
 * - sources are alive nodes with u > high (0.8) whose `queue` is listed (only listed tasks move; a node
 *   may pass only its own queue and plan its own moves), most loaded first (uncapped ratio, then PeerId);
 * - targets are alive nodes with u < low (0.3);
 * - a source gives away queued tasks from the tail of its queue (it keeps what it starts next), each to
 *   the capable target (capabilityMatch ≥ 0.7) that would be least utilised after receiving it (ties:
 *   lower PeerId), as long as the target stays ≤ low + margin and the source stays ≥ high − margin
 *   (uncapped ratios) after the move. A task no target can take is skipped, and the next one tried.
 * Because margin < high − low is required, a target never ends above `high` (it cannot become a
 * source) and a source never ends below `low` (it cannot become a target): a task moved by one plan is
 * not moved by the next plan over the resulting cluster. Bounds are compared with a 1e-9 slack (so
 * 6/10 is at the 0.8 − 0.2 floor). Deterministic, and independent of the order of `nodes` (a PeerId
 * listed twice counts once, the first time).
 *
 * That holds for one plan over one snapshot. Nodes plan on gossiped loads that lag and swing, several
 * sources may fill one target at once, and a filled target then sheds again: `Balancer` (below) adds
 * the memory that stops this ping-pong (smoothed utilisation, per-task and per-node cool-downs).
 */
import { capabilityMatch, matchThreshold } from './capabilities.js'
import { utilisation } from './scoring.js'
import { comparePeerIds, isAlive, queuedCount } from './types.js'
import type { QueuedTask, TaskLoad, WorkerView } from './types.js'

export interface MigrationOptions {
  /** Sources: utilisation strictly above this. Default 0.8. */
  high: number
  /** Targets: utilisation strictly below this. Default 0.3. */
  low: number
  /** Hysteresis, 0 ≤ margin < high − low. Default 0.2. */
  margin: number
  /** Capability match a target needs for a task. Default 0.7. */
  threshold: number
}

export const migrationDefaults: MigrationOptions = { high: 0.8, low: 0.3, margin: 0.2, threshold: matchThreshold }

export interface Migration {
  taskId: string
  from: string
  to: string
}

interface Work {
  node: WorkerView
  capacity: number
  used: number
}

/**
 * Slack in the bound comparisons, so decimal bounds compare as written: 0.8 − 0.2 is
 * 0.6000000000000001 in floating point, and a source at 6/10 must still count as at the 0.6 floor.
 */
const epsilon = 1e-9

/** (queued + running) / capacity without the cap; Infinity for a node without capacity that has work. */
function ratio (used: number, capacity: number): number {
  if (capacity > 0) return used / capacity
  return used > 0 ? Infinity : 0
}

/** Orders by uncapped ratio (Infinity = Infinity). */
function compareRatio (a: Work, b: Work): number {
  const ra = ratio(a.used, a.capacity)
  const rb = ratio(b.used, b.capacity)
  return ra === rb ? 0 : ra < rb ? -1 : 1
}

/**
 * The moves that bring the cluster's overloaded nodes down and underloaded ones up, in the order they
 * should be made. Throws a RangeError on options outside 0 ≤ low < high ≤ 1, 0 ≤ margin < high − low.
 */
export function planMigrations (nodes: readonly WorkerView[], options: Partial<MigrationOptions> = {}): Migration[] {
  return planWith(nodes, options, {})
}

/**
 * What a plan may use besides the instantaneous loads (the `Balancer` fills it in): each filter can
 * only remove sources, targets or tasks, so every bound above still holds.
 */
interface PlanFilters {
  /** Whether this node may give tasks away (default: yes). */
  source?: (peerId: string) => boolean
  /** Whether this node may receive tasks (default: yes). */
  target?: (peerId: string) => boolean
  /** Whether this queued task may move (default: yes). */
  movable?: (taskId: string) => boolean
}

function planWith (nodes: readonly WorkerView[], options: Partial<MigrationOptions>, filters: PlanFilters): Migration[] {
  const { high, low, margin, threshold } = { ...migrationDefaults, ...options }
  if (!(low >= 0 && low < high && high <= 1)) throw new RangeError('need 0 ≤ low < high ≤ 1')
  if (!(margin >= 0 && margin + 2 * epsilon < high - low)) throw new RangeError('need 0 ≤ margin < high − low')

  const seen = new Set<string>()
  const alive: Work[] = []
  for (const node of nodes) {
    if (!isAlive(node) || seen.has(node.peerId)) continue
    seen.add(node.peerId)
    alive.push({ node, capacity: node.load.capacity, used: queuedCount(node) + Math.max(0, node.load.running) })
  }
  const u = (w: Work): number => utilisation({ queued: w.used, running: 0, capacity: w.capacity })
  const sources = alive.filter(w => u(w) > high && (w.node.queue?.length ?? 0) > 0 && (filters.source?.(w.node.peerId) ?? true))
    .sort((a, b) => compareRatio(b, a) || comparePeerIds(a.node.peerId, b.node.peerId))
  const targets = alive.filter(w => u(w) < low && (filters.target?.(w.node.peerId) ?? true))
    .sort((a, b) => comparePeerIds(a.node.peerId, b.node.peerId))
  if (targets.length === 0) return []

  const moves: Migration[] = []
  for (const source of sources) {
    const queue = source.node.queue ?? []
    for (let i = queue.length - 1; i >= 0; i--) {
      if (ratio(source.used - 1, source.capacity) < high - margin - epsilon) break
      const task = queue[i] as QueuedTask
      if (!(filters.movable?.(task.id) ?? true)) continue
      const target = bestTarget(task, targets, low + margin + epsilon, threshold)
      if (target === undefined) continue
      source.used--
      target.used++
      moves.push({ taskId: task.id, from: source.node.peerId, to: target.node.peerId })
    }
  }
  return moves
}

function bestTarget (task: QueuedTask, targets: Work[], ceiling: number, threshold: number): Work | undefined {
  let best: Work | undefined
  let bestAfter = Infinity
  for (const t of targets) {
    const after = ratio(t.used + 1, t.capacity)
    if (after > ceiling) continue
    if (capabilityMatch(task.required, t.node.capabilities) < threshold) continue
    if (after < bestAfter) { best = t; bestAfter = after } // targets are in PeerId order: ties keep the lower
  }
  return best
}

/** Options of a {@link Balancer}: the plan's bounds plus smoothing and the cool-down. */
export interface BalancerOptions extends MigrationOptions {
  /**
   * Time constant of the utilisation EWMA, in ms: a sample Δt after the previous one weighs
   * 1 − e^(−Δt/τ). Default 2000 (four gossip rounds of 500 ms make a step count ~63 %).
   */
  smoothingMs: number
  /**
   * Cool-down, in ms: a task that moved (migrated or stolen) is not migrated again, and a node that
   * was a migration source is not a target (and vice versa), for this long after the move was
   * observed committed. Default 10000.
   */
  cooldownMs: number
  /**
   * Gap to the mesh mean utilisation (when the caller knows it: the gossip aggregate, see `plan`): a
   * source must also be above mean + gap, and a target at or below the mean, so "hot" and "cold" mean
   * hot and cold relative to the whole mesh, not only in absolute terms. Default 0.1.
   */
  meanGap: number
}

export const balancerDefaults: BalancerOptions = { ...migrationDefaults, smoothingMs: 2_000, cooldownMs: 10_000, meanGap: 0.1 }

/** Bounds on the balancer's memory (entries beyond them: the oldest is dropped first). */
export const balancerTasksMax = 10_000
export const balancerNodesMax = 4_096

/** A committed move, as the task table shows it. */
export interface ObservedMove {
  taskId: string
  from: string
  to: string
  reason: 'migrate' | 'steal'
}

/**
 * Load balancing with memory, so it does not ping-pong (pure: time is an argument, `nowMs` from any
 * monotonic clock, never decreasing):
 * - hot and cold are decided on a smoothed utilisation (EWMA of the samples `observeLoad` gets, time
 *   constant `smoothingMs`) AND the current one: a source must be above `high` on both, a target below
 *   `low` on both, so one spike or one stale gossip record does not make a node hot or cold;
 * - a task moved (migrated or stolen) within `cooldownMs` is not migrated again;
 * - a node that was a migration target within `cooldownMs` is no source, and a node that was a
 *   migration source is no target: no node is both within one cool-down;
 * - within those, the moves are `planMigrations`' (source floor, target ceiling, capability match).
 * Every node feeds the same committed moves, so their cool-downs agree up to observation delays.
 */
export class Balancer {
  readonly options: BalancerOptions
  private readonly smoothed = new Map<string, { value: number, atMs: number }>()
  private readonly movedAt = new Map<string, number>()
  private readonly sourceAt = new Map<string, number>()
  private readonly targetAt = new Map<string, number>()

  constructor (options: Partial<BalancerOptions> = {}) {
    this.options = { ...balancerDefaults, ...options }
    const { smoothingMs, cooldownMs, meanGap } = this.options
    if (!(smoothingMs >= 0 && Number.isFinite(smoothingMs))) throw new RangeError('need 0 ≤ smoothingMs < ∞')
    if (!(meanGap >= 0 && meanGap <= 1)) throw new RangeError('need 0 ≤ meanGap ≤ 1')
    if (!(cooldownMs >= 0 && Number.isFinite(cooldownMs))) throw new RangeError('need 0 ≤ cooldownMs < ∞')
    planMigrations([], this.options) // validates the bounds
  }

  /** A utilisation sample of `peerId` (as `utilisation` computes it) at `nowMs`. */
  observeLoad (peerId: string, load: TaskLoad, nowMs: number): void {
    const sample = utilisation(load)
    const previous = this.smoothed.get(peerId)
    let value = sample
    if (previous !== undefined && this.options.smoothingMs > 0) {
      const weight = 1 - Math.exp(-Math.max(0, nowMs - previous.atMs) / this.options.smoothingMs)
      value = previous.value + weight * (sample - previous.value)
    }
    this.smoothed.delete(peerId) // re-inserted last: the map stays in least-recently-seen order
    this.smoothed.set(peerId, { value, atMs: nowMs })
    bound(this.smoothed, balancerNodesMax)
  }

  /** The smoothed utilisation of `peerId`, undefined before its first sample. */
  smoothedUtilisation (peerId: string): number | undefined {
    return this.smoothed.get(peerId)?.value
  }

  /** A committed move (steal or migration), observed at `nowMs`. */
  observeMove (move: ObservedMove, nowMs: number): void {
    touch(this.movedAt, move.taskId, nowMs, balancerTasksMax)
    if (move.reason === 'migrate') {
      touch(this.sourceAt, move.from, nowMs, balancerNodesMax)
      touch(this.targetAt, move.to, nowMs, balancerNodesMax)
    }
  }

  /** Whether `taskId` is still cooling down after a move (so balancing leaves it where it is). */
  coolingDown (taskId: string, nowMs: number): boolean {
    return this.recent(this.movedAt, taskId, nowMs)
  }

  /**
   * The migrations to make now: `planMigrations` over `nodes` with the smoothing and cool-down rules
   * above. Call `observeLoad` for the nodes first (a node without a sample counts on its current load
   * only). Forgets cool-downs that ended.
   *
   * `meshMean`: the mesh-wide mean utilisation, when known (the push-sum estimate over every member,
   * src/runtime/gossip/aggregation.ts, not only those whose records this node holds). With it, the
   * absolute rule (> high, < low) stays and a relative one is added: a source's smoothed utilisation
   * must exceed meshMean + meanGap, and a target's must not exceed meshMean. A mesh that is busy
   * almost everywhere then keeps its work where it is unless a node is clearly hotter than the rest,
   * and a node under `low` that still carries more than the mesh's average share is no target. (No
   * gap below the mean: in a mostly idle mesh with one hot node the mean is small, and an idle node
   * must stay a target.) Like every filter, it only removes sources and targets, so the plan's bounds
   * still hold. Ignored when not finite.
   */
  plan (nodes: readonly WorkerView[], nowMs: number, meshMean?: number): Migration[] {
    this.expire(nowMs)
    const { high, low, meanGap } = this.options
    const smoothedOf = (peerId: string): number | undefined => this.smoothed.get(peerId)?.value
    const mean = meshMean !== undefined && Number.isFinite(meshMean) ? meshMean : undefined
    const hotVsMesh = (u: number): boolean => mean === undefined || u > mean + meanGap
    const coldVsMesh = (u: number): boolean => mean === undefined || u <= mean
    return planWith(nodes, this.options, {
      source: peerId => (smoothedOf(peerId) ?? 1) > high && hotVsMesh(smoothedOf(peerId) ?? 1) && !this.recent(this.targetAt, peerId, nowMs),
      target: peerId => (smoothedOf(peerId) ?? 0) < low && coldVsMesh(smoothedOf(peerId) ?? 0) && !this.recent(this.sourceAt, peerId, nowMs),
      movable: taskId => !this.recent(this.movedAt, taskId, nowMs)
    })
  }

  private recent (map: Map<string, number>, key: string, nowMs: number): boolean {
    const at = map.get(key)
    return at !== undefined && nowMs - at < this.options.cooldownMs
  }

  private expire (nowMs: number): void {
    for (const map of [this.movedAt, this.sourceAt, this.targetAt]) {
      for (const [key, at] of map) if (nowMs - at >= this.options.cooldownMs) map.delete(key)
    }
  }
}

/** Set `key` to `value` as the newest entry, dropping the oldest beyond `max`. */
function touch (map: Map<string, number>, key: string, value: number, max: number): void {
  map.delete(key)
  map.set(key, value)
  bound(map, max)
}

function bound<V> (map: Map<string, V>, max: number): void {
  while (map.size > max) {
    const oldest = map.keys().next().value
    if (oldest === undefined) return
    map.delete(oldest)
  }
}
