/**
 * Work stealing: an idle node takes queued work from the most loaded member that has work it can run.
 *
 * - The thief must be idle: nothing queued and running < capacity.
 * - A victim is another alive member with at least 2 queued tasks, at least one of which the thief can
 *   run (capabilityMatch(task.required, thief.capabilities) ≥ 0.7). Only a member whose `queue` is
 *   listed can qualify: the required capabilities of its queued tasks must be passed in.
 * - The victim is the one with the most queued tasks the thief can run; ties: more queued tasks in
 *   all, then the lower PeerId string.
 * - `stealCount` = ⌊victim's queued / 2⌋ (the victim keeps at least half), at most the thief's free
 *   capacity (capacity − running); the plan also takes no more than the tasks the thief can run.
 * - The tasks taken are runnable ones from the tail of the victim's queue (it keeps what it would start
 *   next), listed in the victim's queue order. Running tasks are never in a queue, so never stolen.
 */
import { capabilityMatch, matchThreshold } from './capabilities.js'
import { comparePeerIds, isAlive, queuedCount } from './types.js'
import type { QueuedTask, TaskLoad, WorkerView } from './types.js'

export interface StealPlan {
  /** The member to steal from. */
  victim: string
  /** How many tasks to take: `taskIds.length`. */
  count: number
  /** The ids of the tasks to take, in the victim's queue order. */
  taskIds: string[]
}

/** Whether the node is idle: nothing queued and running < capacity. */
export function isIdle (node: WorkerView): boolean {
  return queuedCount(node) === 0 && node.load.running < node.load.capacity
}

/** ⌊victimQueued / 2⌋, at most the thief's free capacity (capacity − running); never negative. */
export function stealCount (victimQueued: number, self: Pick<TaskLoad, 'running' | 'capacity'>): number {
  const half = Math.floor(Math.max(0, victimQueued) / 2)
  const free = Math.max(0, Math.floor(self.capacity - self.running))
  return Math.min(half, free)
}

/**
 * The steal an idle `self` should make, or undefined (not idle, or no member qualifies). See the
 * module comment for the rules.
 */
export function chooseVictim (
  self: WorkerView,
  members: readonly WorkerView[],
  threshold: number = matchThreshold
): StealPlan | undefined {
  if (!isIdle(self)) return undefined
  let best: { member: WorkerView, runnable: QueuedTask[] } | undefined
  for (const member of members) {
    if (member.peerId === self.peerId || !isAlive(member) || queuedCount(member) < 2) continue
    const runnable = (member.queue ?? []).filter(task => capabilityMatch(task.required, self.capabilities) >= threshold)
    if (runnable.length === 0) continue
    if (best === undefined || better(member, runnable.length, best.member, best.runnable.length)) best = { member, runnable }
  }
  if (best === undefined) return undefined
  const count = Math.min(stealCount(queuedCount(best.member), self.load), best.runnable.length)
  if (count <= 0) return undefined
  const taskIds = best.runnable.slice(best.runnable.length - count).map(t => t.id)
  return { victim: best.member.peerId, count, taskIds }
}

function better (a: WorkerView, aRunnable: number, b: WorkerView, bRunnable: number): boolean {
  if (aRunnable !== bRunnable) return aRunnable > bRunnable
  const qa = queuedCount(a)
  const qb = queuedCount(b)
  if (qa !== qb) return qa > qb
  return comparePeerIds(a.peerId, b.peerId) < 0
}
