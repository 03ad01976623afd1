/**
 * Shapes shared by the scheduling functions. They mirror what membership gossips for each member
 * (`capabilities`, `load: { queued, running, capacity, cpu }`, `state`), so the runtime can pass its
 * member table in as is.
 */
import type { MemberState } from '../membership.js'

export type { MemberState }

/** Task counts of a node: `queued` waiting, `running` executing, `capacity` = how many may run at once. */
export interface TaskLoad {
  queued: number
  running: number
  capacity: number
}

/** A member's load as gossiped: task counts plus host CPU utilisation (0..1). */
export interface Load extends TaskLoad {
  cpu: number
}

/** A member as routing sees it. `state` absent ⇒ taken as alive; only alive members are routed to. */
export interface MemberInfo {
  peerId: string
  state?: MemberState
  capabilities: readonly string[]
}

/** A queued task: its id and the capabilities it requires. */
export interface QueuedTask {
  id: string
  required: readonly string[]
}

/**
 * A node with its load and, when known, its queue, for work stealing and load balancing.
 * `load.queued` counts its queued tasks; `queue` lists them (all, or the ones known) in the order the
 * node will start them, head first: only listed tasks are stolen or migrated. Running tasks are never
 * listed, so never moved.
 */
export interface WorkerView extends MemberInfo {
  load: TaskLoad
  queue?: readonly QueuedTask[]
}

/** Whether a member counts as alive (`state` absent or `'alive'`). */
export function isAlive (member: { state?: MemberState }): boolean {
  return member.state === undefined || member.state === 'alive'
}

/** The node's queued count: `load.queued`, or the length of its listed queue if that is longer. */
export function queuedCount (node: WorkerView): number {
  return Math.max(0, node.load.queued, node.queue?.length ?? 0)
}

/**
 * Deterministic order of PeerId strings: UTF-16 code-unit order (`<`), never `localeCompare`, so
 * every node sorts the same way whatever its locale.
 */
export function comparePeerIds (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
