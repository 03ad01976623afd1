/**
 * Failover: when a member is declared failed (or left), the unfinished tasks it owned go back to
 * routing, each with the strategy it was first routed by and a fence.
 *
 * Fencing: every change of a task's owner raises its assignment number; a write about a task (start,
 * complete, move) is accepted only with the current number. A reassignment carries `fence` =
 * assignment + 1, the number the task table must move to, so the failed node's late writes (it may be
 * alive behind a partition) carry an old number and are refused.
 */

export type TaskStatus = 'pending' | 'queued' | 'running' | 'completed' | 'failed' | 'cancelled'

/** How a task is routed: `auction` = capability routing by bids (`chooseBid`), `dht` = by key (`dhtOwner`). */
export type RoutingStrategy = 'auction' | 'dht'

export interface OwnedTask<S extends string = RoutingStrategy> {
  id: string
  /** The node the task table says owns it; undefined while pending. */
  owner: string | undefined
  status: TaskStatus
  strategy: S
  /** Fencing number: raised at every change of owner. */
  assignment: number
  required: readonly string[]
}

export interface Reassignment<S extends string = RoutingStrategy> {
  taskId: string
  strategy: S
  required: readonly string[]
  /** It was executing on the failed node (it starts over), rather than waiting in its queue. */
  wasRunning: boolean
  /** The assignment number the failed node held. */
  previousAssignment: number
  /** The assignment number the task moves to: previousAssignment + 1. */
  fence: number
}

/** Unfinished = queued or running (owned); pending tasks have no owner, the others are terminal. */
export function isUnfinished (status: TaskStatus): boolean {
  return status === 'queued' || status === 'running'
}

/**
 * The unfinished tasks owned by `failedNode`, in input order, each to be routed again by its own
 * strategy under the new fence.
 */
export function reassignments<S extends string> (failedNode: string, tasks: ReadonlyArray<OwnedTask<S>>): Array<Reassignment<S>> {
  const out: Array<Reassignment<S>> = []
  for (const task of tasks) {
    if (task.owner !== failedNode || !isUnfinished(task.status)) continue
    out.push({
      taskId: task.id,
      strategy: task.strategy,
      required: task.required,
      wasRunning: task.status === 'running',
      previousAssignment: task.assignment,
      fence: task.assignment + 1
    })
  }
  return out
}
