/**
 * What a leader knows of each follower (etcd-io/raft tracker/progress.go, reduced): the highest index
 * known to match, the next one to send, and the flow-control state:
 * - probe: one append per heartbeat interval until the follower's log position is found;
 * - replicate: optimistic pipelining, at most `maxInflight` appends unacknowledged;
 * - snapshot: the follower is behind the compaction point and receives a snapshot in chunks, one
 *   chunk in flight; appends wait until it is installed.
 */
import type { NodeId, Snapshot } from './types.js'

export type ProgressState = 'probe' | 'replicate' | 'snapshot'

export class Progress {
  match = 0
  next: number
  state: ProgressState = 'probe'
  /** Probe: an append is out; wait for its answer or the next heartbeat. */
  probeSent = false
  /** Replicate: last index of each unacknowledged append, oldest first (bounded by maxInflight). */
  inflight: number[] = []
  /** Heard from since the last check-quorum round. */
  recentActive = false
  /** Highest ReadIndex id this follower confirmed (heartbeat echo). */
  readAck = 0
  /** Snapshot state: what is being sent and the next chunk offset the follower expects. */
  snapshot: Snapshot | null = null
  snapshotOffset = 0
  /** Snapshot state: ticks since the last chunk went out (a lost chunk is re-sent after a heartbeat interval). */
  snapshotIdle = 0

  constructor (readonly id: NodeId, lastIndex: number) {
    this.next = lastIndex + 1
  }

  becomeProbe (): void {
    // after a snapshot, continue just past it; otherwise from just past what matches
    this.next = this.state === 'snapshot' && this.snapshot != null ? Math.max(this.match + 1, this.snapshot.index + 1) : this.match + 1
    this.state = 'probe'
    this.probeSent = false
    this.inflight = []
    this.snapshot = null
  }

  becomeReplicate (): void {
    this.state = 'replicate'
    this.next = this.match + 1
    this.inflight = []
    this.snapshot = null
  }

  becomeSnapshot (snapshot: Snapshot): void {
    this.state = 'snapshot'
    this.snapshot = snapshot
    this.snapshotOffset = 0
    this.snapshotIdle = 0
    this.inflight = []
  }

  /** May another append go out now? */
  canSend (maxInflight: number): boolean {
    switch (this.state) {
      case 'probe': return !this.probeSent
      case 'replicate': return this.inflight.length < maxInflight
      case 'snapshot': return false
    }
  }

  /** An append ending at `last` went out. */
  sent (last: number): void {
    if (this.state === 'replicate') {
      this.next = last + 1
      this.inflight.push(last)
    } else if (this.state === 'probe') {
      this.probeSent = true
    }
  }

  /** A success for `index`: returns whether match moved. */
  acknowledge (index: number): boolean {
    this.inflight = this.inflight.filter(last => last > index)
    this.probeSent = false
    if (index <= this.match) return false
    this.match = index
    this.next = Math.max(this.next, index + 1)
    return true
  }

  /**
   * A rejection of `rejected` with the leader-side conflict estimate `probeFrom`: back off (fast, by a
   * whole term) unless it is stale (the follower already matches beyond it). Returns whether it applied.
   */
  reject (rejected: number, probeFrom: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false // stale: an answer to an append before a later success
      this.state = 'probe'
      this.inflight = []
    } else if (this.next - 1 !== rejected) {
      return false // not the answer to our latest probe
    }
    this.next = Math.max(Math.min(rejected, probeFrom + 1), this.match + 1)
    this.probeSent = false
    return true
  }
}
