/**
 * ReadIndex (dissertation §6.4, etcd-io/raft read_only.go): a linearizable read without a log entry.
 * The leader notes its commit index as the read index, then confirms it is still the leader by a
 * heartbeat round: every heartbeat carries the newest read id, followers echo it, and once a majority
 * echoed an id ≥ a read's id, no other leader can have committed anything the read would miss. The
 * read is then served when the local application has applied the read index.
 *
 * A new leader does not know the commit index of earlier terms until it commits an entry of its own
 * term: reads arriving before that wait (`early`). Reads never survive a change of role: a deposed
 * leader fails them (the client retries elsewhere), so a partitioned leader can never answer stale.
 */
import { committedIndex } from './quorum.js'
import type { NodeId } from './types.js'
import { limits } from './types.js'

export interface PendingRead {
  readKey: string
  /** Who asked: this node, or a follower that forwarded the read (answered with read-index-response). */
  origin: NodeId
  /** The read index (leader's commit when the read was registered). */
  index: number
  readId: number
}

export class ReadOnly {
  /** Waiting for a heartbeat quorum. */
  confirming: PendingRead[] = []
  /** Arrived before the leader committed an entry of its term. */
  early: Array<{ readKey: string, origin: NodeId }> = []
  /** Confirmed (or answered by the leader), waiting for the local apply index. */
  waitingApply: Array<{ readKey: string, index: number }> = []
  /** Increases for the life of the node; terms keep ids of different leaderships apart. */
  lastReadId = 0

  size (): number {
    return this.confirming.length + this.early.length + this.waitingApply.length
  }

  full (): boolean {
    return this.size() >= limits.pendingReadsMax
  }

  register (readKey: string, origin: NodeId, index: number): number {
    const readId = ++this.lastReadId
    this.confirming.push({ readKey, origin, index, readId })
    return readId
  }

  /** Reads confirmed by a majority of `voters` (`ack` of a voter = the highest read id it echoed). */
  confirmed (voters: readonly NodeId[], ack: (id: NodeId) => number): PendingRead[] {
    if (this.confirming.length === 0) return []
    const upTo = committedIndex(voters, ack)
    const done = this.confirming.filter(r => r.readId <= upTo)
    this.confirming = this.confirming.filter(r => r.readId > upTo)
    return done
  }

  /** Reads whose index `applied` has reached, removed from the wait list. */
  applied (applied: number): Array<{ readKey: string, index: number }> {
    const ready = this.waitingApply.filter(r => r.index <= applied)
    if (ready.length > 0) this.waitingApply = this.waitingApply.filter(r => r.index > applied)
    return ready
  }

  /** Every read not yet confirmed, emptied (on a change of role or term): the node fails them. */
  drain (): Array<{ readKey: string, origin: NodeId }> {
    const all = [...this.confirming.map(r => ({ readKey: r.readKey, origin: r.origin })), ...this.early]
    this.confirming = []
    this.early = []
    return all
  }
}
