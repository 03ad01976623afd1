/**
 * Log replication, both halves (etcd-io/raft raft.go: sendAppend, handleAppendEntries, stepLeader's
 * MsgAppResp/MsgHeartbeatResp/MsgSnapStatus handling), split from node.ts to keep each file one thing.
 *
 * Leader: per follower flow control (progress.ts) — probe one append at a time until the follower's
 * position is found, then pipeline up to `maxInflight` appends of up to `maxEntriesPerAppend` entries;
 * on a rejection, back off by a whole term at once (the follower's hint); behind the compaction point,
 * send the snapshot in chunks of `snapshotChunkSize`, one chunk in flight, re-sent when idle. Commit when
 * a majority of voters match an index whose entry is of the current term (§5.4.2).
 * Follower: accept an append only if the log holds prev (index, term); never truncate committed entries.
 */
import type { RaftNode } from './node.js'
import { Progress } from './progress.js'
import { committedIndex, hasQuorum } from './quorum.js'
import { replicationTargets } from './membership.js'
import type { Append, AppendResponse, Heartbeat, HeartbeatResponse, InstallSnapshot, NodeId, Snapshot, SnapshotResponse } from './types.js'
import { limits } from './types.js'

interface Inbox {
  index: number
  term: number
  snapshot: Omit<Snapshot, 'data'>
  size: number
  data: string
}

export class Replication {
  /** A snapshot being received (follower). One at a time; a new one (offset 0) replaces it. */
  private inbox: Inbox | null = null

  constructor (private readonly node: RaftNode) {}

  // ————————————————————————————————————————— leader

  /** Send as much as flow control allows to every follower and learner. */
  broadcastAppend (): void {
    for (const id of this.node.progress.keys()) this.sendAppends(id)
  }

  /**
   * The commit index moved: tell every follower and learner now (etcd's bcastAppend after maybeCommit
   * sends an append even with no new entries). Without it a follower learnt the commit only with the
   * next append or heartbeat, up to a heartbeat interval later, so a task placed on a follower began
   * ~100 ms after its submit was committed.
   */
  broadcastCommit (): void {
    for (const id of this.node.progress.keys()) {
      if (this.sendAppend(id, true)) this.sendAppends(id)
    }
  }

  /** Appends to one peer until its window is full or it has everything. */
  sendAppends (to: NodeId): void {
    while (this.sendAppend(to, false));
  }

  /**
   * One append to `to` if flow control allows (an empty one only if `sendIfEmpty`: probes and
   * heartbeat-driven retries). Returns whether entries went out (the caller may send more).
   */
  sendAppend (to: NodeId, sendIfEmpty: boolean): boolean {
    const node = this.node
    const progress = node.progress.get(to)
    if (progress == null || !progress.canSend(node.config.maxInflight)) return false
    const prevIndex = progress.next - 1
    const prevTerm = node.log.term(prevIndex)
    if (prevTerm === undefined) {
      // compacted away: the follower needs the snapshot
      const snapshot = node.log.snapshot as Snapshot
      progress.becomeSnapshot(snapshot)
      this.sendChunk(progress)
      return false
    }
    const entries = progress.next <= node.log.lastIndex() ? node.log.slice(progress.next, node.log.lastIndex(), node.config.maxEntriesPerAppend) : []
    if (entries.length === 0 && !sendIfEmpty) return false
    node.send({ type: 'append', from: node.id, to, term: node.term, prevIndex, prevTerm, entries, commit: node.commit })
    progress.sent(entries.length > 0 ? prevIndex + entries.length : prevIndex)
    return entries.length > 0 && progress.state === 'replicate'
  }

  private sendChunk (progress: Progress): void {
    const node = this.node
    const snapshot = progress.snapshot as Snapshot
    const chunk = snapshot.data.slice(progress.snapshotOffset, progress.snapshotOffset + node.config.snapshotChunkSize)
    node.send({
      type: 'snapshot', from: node.id, to: progress.id, term: node.term, snapshotIndex: snapshot.index, snapshotTerm: snapshot.term,
      membership: snapshot.membership, offset: progress.snapshotOffset, chunk, done: progress.snapshotOffset + chunk.length >= snapshot.data.length,
      size: snapshot.data.length
    })
    progress.snapshotIdle = 0
  }

  /** Leader tick: a chunk unanswered for a heartbeat interval is sent again (from the last acknowledged offset). */
  tickSnapshots (): void {
    for (const progress of this.node.progress.values()) {
      if (progress.state !== 'snapshot') continue
      if (++progress.snapshotIdle > this.node.config.heartbeatTick) this.sendChunk(progress)
    }
  }

  broadcastHeartbeat (): void {
    const node = this.node
    for (const progress of node.progress.values()) {
      // commit capped at what the follower is known to hold (etcd): it may not have the leader's entries yet
      node.send({ type: 'heartbeat', from: node.id, to: progress.id, term: node.term, commit: Math.min(progress.match, node.commit), readId: node.readOnly.lastReadId })
    }
  }

  /** Advance the commit index to what a majority of voters hold, if that entry is of this term. */
  maybeCommit (): boolean {
    const node = this.node
    const index = committedIndex(node.membership.voters, id => id === node.id ? node.log.lastIndex() : node.progress.get(id)?.match ?? 0)
    if (index > node.commit && node.log.term(index) === node.term) {
      node.commitTo(index)
      return true
    }
    return false
  }

  /** Check-quorum: did a majority of voters (this node included) answer during the last election timeout? */
  quorumActive (): boolean {
    const node = this.node
    const active = hasQuorum(node.membership.voters, id => id === node.id || node.progress.get(id)?.recentActive === true)
    for (const progress of node.progress.values()) progress.recentActive = false
    return active
  }

  maybeSendTimeoutNow (to: NodeId): void {
    const node = this.node
    const progress = node.progress.get(to)
    if (progress == null) return
    if (progress.match === node.log.lastIndex()) node.send({ type: 'timeout-now', from: node.id, to, term: node.term })
    else if (!this.sendAppend(to, true)) this.sendAppends(to) // an empty append still finds a gap (a rejection)
  }

  /** Reads whose heartbeat round reached a majority: answered (leader's applied index ≥ read index). */
  confirmReads (): void {
    const node = this.node
    const done = node.readOnly.confirmed(node.membership.voters, id => id === node.id ? node.readOnly.lastReadId : node.progress.get(id)?.readAck ?? 0)
    for (const read of done) {
      if (read.origin === node.id) node.readOnly.waitingApply.push({ readKey: read.readKey, index: read.index })
      else node.send({ type: 'read-index-response', from: node.id, to: read.origin, term: node.term, readKey: read.readKey, index: read.index })
    }
  }

  /** The applied membership changed: track new members, forget removed ones, step down if removed. */
  membershipChanged (): void {
    const node = this.node
    const targets = replicationTargets(node.membership, node.id)
    for (const id of [...node.progress.keys()]) if (!targets.includes(id)) node.progress.delete(id)
    for (const id of targets) {
      if (!node.progress.has(id)) {
        node.progress.set(id, new Progress(id, node.log.lastIndex()))
        this.sendAppend(id, true)
      }
    }
    if (node.transferee != null && !node.membership.voters.includes(node.transferee)) node.transferee = null
    if (!node.membership.voters.includes(node.id)) node.becomeFollower(node.term, null)
    else if (this.maybeCommit()) this.broadcastCommit() // the quorum may have shrunk
  }

  handleResponse (m: AppendResponse | HeartbeatResponse | SnapshotResponse): void {
    const node = this.node
    const progress = node.progress.get(m.from)
    if (progress == null) { node.drop('not-member', m.from, m.type); return }
    progress.recentActive = true
    if (m.type === 'heartbeat-response') {
      progress.probeSent = false
      // all appends in the window may be lost: free one slot so a retry (and a rejection) can happen
      if (progress.state === 'replicate' && progress.inflight.length >= node.config.maxInflight) progress.inflight.shift()
      progress.readAck = Math.max(progress.readAck, m.readId)
      if (progress.match < node.log.lastIndex()) this.sendAppend(m.from, true)
      this.confirmReads()
      return
    }
    if (m.type === 'snapshot-response') {
      if (progress.state !== 'snapshot' || progress.snapshot?.index !== m.snapshotIndex) return
      progress.snapshotOffset = m.next
      if (m.next < (progress.snapshot as Snapshot).data.length || m.reject) this.sendChunk(progress)
      return
    }
    if (m.reject) {
      if (progress.state === 'snapshot') return
      const probeFrom = m.hintTerm > 0 ? node.log.findConflictByTerm(m.hintIndex, m.hintTerm) : m.hintIndex
      if (progress.reject(m.index, probeFrom)) this.sendAppend(m.from, true)
      return
    }
    const moved = progress.acknowledge(m.index)
    if (progress.state === 'probe') progress.becomeReplicate()
    else if (progress.state === 'snapshot' && progress.snapshot != null && progress.match >= progress.snapshot.index) progress.becomeReplicate()
    if (moved && this.maybeCommit()) this.broadcastCommit()
    else this.sendAppends(m.from)
    if (m.from === node.transferee && progress.match === node.log.lastIndex()) node.send({ type: 'timeout-now', from: node.id, to: m.from, term: node.term })
  }

  // ————————————————————————————————————————— follower

  private respond (to: NodeId, fields: Pick<AppendResponse, 'reject' | 'index' | 'hintIndex' | 'hintTerm'>): void {
    const node = this.node
    node.send({ type: 'append-response', from: node.id, to, term: node.term, ...fields })
  }

  handleAppend (m: Append): void {
    const node = this.node
    if (m.entries.length > limits.entriesPerAppendMax) { node.drop('too-large', m.from, `${m.entries.length} entries`); return }
    if (m.prevIndex < node.commit) {
      // everything up to commit is known to match: tell the leader where to continue
      this.respond(m.from, { reject: false, index: node.commit, hintIndex: 0, hintTerm: 0 })
      return
    }
    if (node.log.matchTerm(m.prevIndex, m.prevTerm)) {
      const written = node.log.maybeAppend(m.entries, node.commit)
      if (written.length > 0) node.persist({ kind: 'entries', entries: written })
      const lastNew = m.prevIndex + m.entries.length
      node.commitTo(Math.min(m.commit, lastNew))
      this.respond(m.from, { reject: false, index: lastNew, hintIndex: 0, hintTerm: 0 })
      return
    }
    // fast back-off: the largest index ≤ prevIndex whose term ≤ prevTerm; the leader skips everything above
    const hintIndex = node.log.findConflictByTerm(Math.min(m.prevIndex, node.log.lastIndex()), m.prevTerm)
    this.respond(m.from, { reject: true, index: m.prevIndex, hintIndex, hintTerm: node.log.term(hintIndex) ?? 0 })
  }

  handleHeartbeat (m: Heartbeat): void {
    const node = this.node
    node.commitTo(m.commit)
    node.send({ type: 'heartbeat-response', from: node.id, to: m.from, term: node.term, readId: m.readId })
  }

  handleSnapshot (m: InstallSnapshot): void {
    const node = this.node
    const answer = (next: number, reject: boolean): void => {
      node.send({ type: 'snapshot-response', from: node.id, to: m.from, term: node.term, snapshotIndex: m.snapshotIndex, next, reject })
    }
    if (m.snapshotIndex <= node.commit) {
      this.inbox = null
      this.respond(m.from, { reject: false, index: node.commit, hintIndex: 0, hintTerm: 0 })
      return
    }
    if (m.size > limits.snapshotSizeMax) { node.drop('too-large', m.from, `snapshot of ${m.size} characters`); return }
    if (m.offset === 0) {
      this.inbox = { index: m.snapshotIndex, term: m.snapshotTerm, snapshot: { index: m.snapshotIndex, term: m.snapshotTerm, membership: m.membership }, size: m.size, data: '' }
    }
    const inbox = this.inbox
    if (inbox == null || inbox.index !== m.snapshotIndex || inbox.term !== m.snapshotTerm || inbox.data.length !== m.offset) {
      const next = inbox != null && inbox.index === m.snapshotIndex && inbox.term === m.snapshotTerm ? inbox.data.length : 0
      node.drop('duplicate', m.from, `snapshot chunk at ${m.offset}, expected ${next}`)
      answer(next, true)
      return
    }
    inbox.data += m.chunk
    if (inbox.data.length > inbox.size) { this.inbox = null; answer(0, true); return }
    if (!m.done) { answer(inbox.data.length, false); return }
    this.inbox = null
    if (inbox.data.length !== inbox.size) { answer(0, true); return }
    node.installSnapshot({ ...inbox.snapshot, data: inbox.data })
    this.respond(m.from, { reject: false, index: m.snapshotIndex, hintIndex: 0, hintTerm: 0 })
  }
}
