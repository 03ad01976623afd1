/**
 * Types of the Raft core (Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm",
 * and Ongaro's dissertation), shaped after etcd-io/raft. The core is a pure state machine: the runtime
 * (or the simulator) feeds it inputs with `RaftNode.step(input)` and performs the effects it returns,
 * which come out already in etcd's Ready order: every `persist` first (make them durable), then every
 * `send`, then what the application sees (`committed`, `reply`, `read-ready`, …). No I/O, clock or
 * randomness inside: time is `tick` inputs, randomness a seeded generator handed in.
 *
 * Crash faults only (f of 2f+1): messages are authenticated by the transport, not signed.
 */
import type { ClientRequest } from '../pbft/types.js'

export type { Application, ClientRequest, Digest } from '../pbft/types.js'

/** A node's identity (a PeerId string in the runtime). */
export type NodeId = string

/** The voters and learners in force. Learners receive the log but never vote nor count for quorums. */
export interface Membership {
  voters: NodeId[]
  learners: NodeId[]
}

/**
 * One membership change, one at a time (dissertation §4.1, single-server changes): the leader refuses
 * a change while another one is in its log and not yet applied, and before it has applied an entry of
 * its own term (the fix to the single-server bug Ongaro posted on raft-dev in 2015, as etcd does).
 */
export type MembershipChange =
  | { type: 'add-learner', node: NodeId }
  | { type: 'promote', node: NodeId }
  | { type: 'remove', node: NodeId }

export interface Entry {
  index: number
  term: number
  /**
   * 'requests': a batch of client operations (many per entry); 'membership': a change that takes effect
   * when the entry is applied; 'empty': what a new leader appends to commit the entries of earlier terms.
   */
  kind: 'requests' | 'membership' | 'empty' | 'bootstrap'
  requests?: ClientRequest[]
  change?: MembershipChange
  /**
   * 'bootstrap': the genesis membership, entry 1 at term 1 of every genesis node's log (etcd's bootstrap
   * conf changes), so a node that joins later learns the membership from the log like everything else.
   */
  membership?: Membership
}

/** The application state at `index`, with the membership in force there. `data` is opaque to peers. */
export interface Snapshot {
  index: number
  term: number
  membership: Membership
  /** JSON of { app: application snapshot, clients: client table } (see state-machine.ts). */
  data: string
}

interface Base {
  from: NodeId
  to: NodeId
  term: number
}

/** RequestVote (pre-vote when `preVote`: sent for term+1 without the sender moving to it). */
export interface VoteRequest extends Base {
  type: 'vote'
  preVote: boolean
  lastIndex: number
  lastTerm: number
  /** Campaign started by a leadership transfer: voters ignore their leader lease (etcd's campaignTransfer). */
  transfer: boolean
}

export interface VoteResponse extends Base {
  type: 'vote-response'
  preVote: boolean
  granted: boolean
}

export interface Append extends Base {
  type: 'append'
  prevIndex: number
  prevTerm: number
  entries: Entry[]
  commit: number
}

/**
 * Answer to an append, a heartbeat from a stale term, or a snapshot. Success: `index` = the last index
 * now known to match. Rejection: `index` = the prevIndex refused, and the hint (`hintIndex`,
 * `hintTerm`) lets the leader skip a whole term of mismatching entries at once (fast back-off,
 * etcd's findConflictByTerm).
 */
export interface AppendResponse extends Base {
  type: 'append-response'
  reject: boolean
  index: number
  hintIndex: number
  hintTerm: number
}

/** Leader → voters/learners every heartbeat interval; carries the commit index and the newest read id. */
export interface Heartbeat extends Base {
  type: 'heartbeat'
  commit: number
  /** ReadIndex context: the follower echoes it, confirming leadership for every read id ≤ it. */
  readId: number
}

export interface HeartbeatResponse extends Base {
  type: 'heartbeat-response'
  readId: number
}

/** One chunk of InstallSnapshot: `data.slice(offset, offset + chunk.length)` of the snapshot's data. */
export interface InstallSnapshot extends Base {
  type: 'snapshot'
  snapshotIndex: number
  snapshotTerm: number
  membership: Membership
  offset: number
  chunk: string
  done: boolean
  /** Total length of the data, so the receiver can bound its buffer before accepting chunks. */
  size: number
}

/** Chunk accepted (next = the offset the receiver wants next) or, with `reject`, restart from `next`. */
export interface SnapshotResponse extends Base {
  type: 'snapshot-response'
  snapshotIndex: number
  next: number
  reject: boolean
}

/** Leadership transfer: the leader tells an up-to-date voter to campaign at once. */
export interface TimeoutNow extends Base {
  type: 'timeout-now'
}

/** Client operations a follower received, passed to the leader it knows. */
export interface Forward extends Base {
  type: 'forward'
  requests: ClientRequest[]
}

/** A follower's read, passed to the leader; answered with the read index once leadership is confirmed. */
export interface ReadIndexRequest extends Base {
  type: 'read-index'
  readKey: string
}

export interface ReadIndexResponse extends Base {
  type: 'read-index-response'
  readKey: string
  /** 0: refused (not the leader any more, or no entry of its term committed yet and the queue full). */
  index: number
}

export type Message =
  | VoteRequest | VoteResponse | Append | AppendResponse | Heartbeat | HeartbeatResponse
  | InstallSnapshot | SnapshotResponse | TimeoutNow | Forward | ReadIndexRequest | ReadIndexResponse

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader'

export interface RaftConfig {
  id: NodeId
  /** Ticks without hearing from a leader before a campaign; randomized in [electionTick, 2·electionTick). @default 10 */
  electionTick?: number
  /** Ticks between heartbeats (must be < electionTick). @default 1 */
  heartbeatTick?: number
  /** Pre-vote (dissertation §9.6): a node that cannot win does not bump terms. @default true */
  preVote?: boolean
  /**
   * Check-quorum: a leader that has not heard from a quorum for an election timeout steps down, and
   * voters that heard from a leader within one ignore vote requests (leader lease). @default true
   */
  checkQuorum?: boolean
  /** Appends in flight per follower in the replicate state (pipelining bound). @default 4 */
  maxInflight?: number
  /** Entries per append message (batching bound). @default 64 */
  maxEntriesPerAppend?: number
  /** Client operations per log entry (the leader splits larger batches). @default 256 */
  maxRequestsPerEntry?: number
  /** Take a snapshot (and compact the log) every this many applied entries. @default 1000 */
  snapshotInterval?: number
  /** Entries kept in the log below a snapshot, for followers slightly behind. @default 100 */
  compactionKeep?: number
  /** Characters per InstallSnapshot chunk. @default 1 MiB */
  snapshotChunkSize?: number
  /** Learners may be promoted only when at most this many entries behind the leader. @default 100 */
  promoteLagMax?: number
  /** Clients with nothing applied in this many entries are forgotten by the client table. @default 65536 */
  clientHorizonEntries?: number
}

/** Limits, each with its reason (TigerBeetle's rule: a bound on everything). */
export const limits = {
  /** Proposals held while no leader is known or a transfer runs: refused beyond (the client retries). */
  pendingProposalsMax: 10_000,
  /** ReadIndex requests waiting for confirmation or for the apply index: refused beyond. */
  pendingReadsMax: 10_000,
  /** A snapshot larger than this (characters) is refused by the receiver: bounds its reassembly buffer. */
  snapshotSizeMax: 256 * 1024 * 1024,
  /** Entries accepted in one append (a peer sending more is misbehaving: refused). */
  entriesPerAppendMax: 10_000,
  /** Client table expiry runs every this many applied indices (deterministic on every node). */
  clientExpireEvery: 1024
} as const

export type Input =
  | { type: 'tick' }
  | { type: 'message', message: Message }
  /** Client operations to replicate (one or more entries). Accepted at a follower: forwarded to the leader. */
  | { type: 'propose', requests: ClientRequest[] }
  /** A linearizable read (ReadIndex): answered by `read-ready` once applying reached a confirmed index. */
  | { type: 'read', readKey: string }
  | { type: 'change', change: MembershipChange }
  /** Hand leadership to `to` (a voter), e.g. on graceful shutdown. */
  | { type: 'transfer', to: NodeId }
  /** Start an election now (etcd's MsgHup): tests and operators. */
  | { type: 'campaign' }

export type DropReason =
  | 'stale-term' | 'not-member' | 'not-leader' | 'in-lease' | 'busy' | 'invalid' | 'duplicate' | 'behind' | 'too-large'

export type Effect =
  /** Durable before any later `send` leaves the node (etcd: persist → send → apply). */
  | { type: 'persist', record: PersistRecord }
  | { type: 'send', message: Message }
  /** Committed and applied, in index order (observers can be fed these). */
  | { type: 'committed', entry: Entry }
  /** The result of a client operation applied at `index` (every node emits it; the one the client asked answers). */
  | { type: 'reply', request: ClientRequest, index: number, result: string }
  /** The read may be served from the local application now: it has applied ≥ `index`, a confirmed commit index. */
  | { type: 'read-ready', readKey: string, index: number }
  | { type: 'read-failed', readKey: string, reason: 'not-leader' | 'busy', leader?: NodeId }
  /** Proposals this node cannot take (no leader known, transfer in progress, client too far ahead). */
  | { type: 'refused', requests: ClientRequest[], reason: DropReason, leader?: NodeId }
  | { type: 'role', role: Role, term: number, leader?: NodeId }
  | { type: 'membership', membership: Membership, index: number }
  | { type: 'snapshot-taken', index: number }
  | { type: 'snapshot-installed', index: number }
  | { type: 'drop', reason: DropReason, from?: NodeId, detail?: string }

/**
 * What a node must find again after a crash: term, vote and commit (etcd's HardState), the log, the
 * latest snapshot. The runtime appends these in order; `RaftNode.restore(records)` replays them.
 * A prefix of one step's records (a torn write) is still a consistent state: the sends that depended
 * on the lost records never left.
 */
export type PersistRecord =
  | { kind: 'hard-state', term: number, vote: NodeId | null, commit: number }
  /** Entries from `entries[0].index` on replace everything at or after that index. */
  | { kind: 'entries', entries: Entry[] }
  /** A snapshot; the log keeps only entries after `compactTo` (≤ snapshot.index) — all of them when the log disagrees. */
  | { kind: 'snapshot', snapshot: Snapshot, compactTo: number, keepLog: boolean }

export interface RaftStatus {
  id: NodeId
  role: Role
  term: number
  vote: NodeId | null
  leader: NodeId | null
  commit: number
  applied: number
  firstIndex: number
  lastIndex: number
  snapshotIndex: number
  membership: Membership
}
