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
 */
import { capabilityMatch, matchThreshold } from './capabilities.js'
import { utilisation } from './scoring.js'
import { comparePeerIds, isAlive, queuedCount } from './types.js'
import type { QueuedTask, WorkerView } from './types.js'

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
  const sources = alive.filter(w => u(w) > high && (w.node.queue?.length ?? 0) > 0)
    .sort((a, b) => compareRatio(b, a) || comparePeerIds(a.node.peerId, b.node.peerId))
  const targets = alive.filter(w => u(w) < low)
    .sort((a, b) => comparePeerIds(a.node.peerId, b.node.peerId))
  if (targets.length === 0) return []

  const moves: Migration[] = []
  for (const source of sources) {
    const queue = source.node.queue ?? []
    for (let i = queue.length - 1; i >= 0; i--) {
      if (ratio(source.used - 1, source.capacity) < high - margin - epsilon) break
      const task = queue[i] as QueuedTask
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
