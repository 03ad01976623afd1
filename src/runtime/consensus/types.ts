/**
 * What the rest of a node needs from its consensus engine, whichever the genesis chose: pBFT
 * (pbft.ts, f of 3f+1 Byzantine) or Raft (raft.ts, f of 2f+1 crashes). The API, CLI, MCP tools,
 * metrics, the task runtime and the live page depend on this file only, never on an engine.
 */

export type ConsensusMode = 'pbft' | 'raft'

/** One committed decision, in order: pBFT's sequence number and view, or Raft's entry index and term. */
export interface CommittedDecision {
  seq: number
  view: number
  digest: string
  batch: Array<{ client: string, requestId: number, operation: string }>
}

/** Raft only: the fields `mesh consensus` shows for a Raft network (null on pBFT). */
export interface RaftStatusView {
  term: number
  /** The node's role in Raft, or 'observer' for a node with the genesis that is not a member. */
  role: 'leader' | 'follower' | 'pre-candidate' | 'candidate' | 'learner' | 'observer'
  leader: string | null
  commitIndex: number
  appliedIndex: number
  lastIndex: number
  snapshotIndex: number
  /** Leadership transfers: handed over by this node, and won by this node after the leader's TIMEOUT-NOW (not an election timeout). */
  transfers: { handedOver: number, takenOver: number }
  /** Voters and learners in force, with the leader's view of how far each one's log matches (leader only). */
  members: Array<{ peerId: string, name: string, role: 'voter' | 'learner', match: number | null, connected: boolean, self: boolean }>
}

export interface ConsensusStatus {
  /** The engine the genesis chose. */
  mode: ConsensusMode
  role: 'validator' | 'observer'
  replica: number | null
  n: number
  f: number
  /** pBFT view; Raft term. */
  view: number | null
  /** pBFT primary; Raft leader. */
  primary: string | null
  active: boolean | null
  /** pBFT last executed sequence; Raft applied index (observers: what they learned). */
  lastExecuted: number | null
  stableSeq: number | null
  /**
   * The highest sequence f+1 validators report executed (their STATUS beacons; observers: the highest
   * decision f+1 validators vouched for), and how far this node is behind it. `catchingUp` while behind
   * or fetching a stable checkpoint: local reads then reflect `lastExecuted`, not the mesh.
   */
  highestKnown: number | null
  behind: number
  catchingUp: boolean
  validators: Array<{ index: number, peerId: string, name: string, connected: boolean, self: boolean }>
  dropped: Record<string, number>
  /** Frames received by kind (protocol messages by type) and protocol messages sent, by type. */
  frames: { received: Record<string, number>, sent: Record<string, number> }
  pendingClientRequests: number
  /** Bundles this node sent as a client, and the operations in them. */
  bundles: { count: number, operations: number }
  /** Group commits of the consensus log: fsyncs and the records they made durable (validators). */
  persisted: { fsyncs: number, records: number }
  /** Set when the consensus log could not be written: the validator has stopped taking part. */
  storageError: string | null
  /** Only on a validator started with the test-only Byzantine switch: what it did. */
  byzantine?: { mode: string, equivocations: number }
  /** Raft networks only. */
  raft?: RaftStatusView
}

/** A membership change of a Raft network (`mesh consensus add|promote|remove`). */
export type MembershipChangeRequest = { type: 'add-learner' | 'promote' | 'remove', node: string }

/** What callers need from a consensus engine. */
export interface Consensus {
  readonly mode: ConsensusMode
  /** The genesis members (pBFT validators; Raft's initial voters). */
  readonly validators: string[]
  start: () => void
  stop: () => void
  /** Resolves once no group commit is in flight (call after `stop`, before closing the store). */
  idle: () => Promise<void>
  /** Order `operation` through consensus; resolves with the application's result once decided. */
  propose: (operation: string, options?: { timeoutMs?: number }) => Promise<{ result: string, seq: number }>
  /** Retry a write whose outcome was unknown (504), by the request id it was answered with: exactly-once. */
  retry: (id: string, operation: string, options?: { timeoutMs?: number }) => Promise<{ result: string, seq: number }>
  /** Called for every committed decision, in order. */
  onCommit: (listener: (decision: CommittedDecision) => void) => () => void
  /** Metrics: `listener(ms)` for every operation proposed here, once decided. */
  onDecided: (listener: (latencyMs: number) => void) => () => void
  /** Metrics: leader/view changes requested here, and installed. */
  viewChangeCounts: () => { requested: number, installed: number }
  status: () => ConsensusStatus
  /** Resolves once this node has applied `seq`; rejects after `timeoutMs`. */
  waitExecuted: (seq: number, timeoutMs: number) => Promise<void>
  /** Why this node knows it cannot commit now (a write is refused at once, never sent), or null. */
  writeRefusal: () => string | null
  /**
   * A linearizable read point (Raft: ReadIndex): resolves once this node's state reflects every write
   * acknowledged before the call; rejects with NoQuorumError when leadership cannot be confirmed.
   * Absent: the API orders a no-op through consensus instead (pBFT).
   */
  readIndex?: (timeoutMs: number) => Promise<number>
  /**
   * The RTT floor: `samples` sequential request/response round trips (ms) to every other connected
   * member over the engine's own long-lived frame streams (transport echo frames), by member PeerId.
   */
  transportRtt?: (samples: number, timeoutMs: number) => Promise<Record<string, number[]>>
  /** Raft only: one membership change, through the leader. */
  changeMembership?: (change: MembershipChangeRequest, timeoutMs: number) => Promise<{ index: number }>
  /** Raft only: hand leadership to `to` (a voter); resolves once `to` leads, rejects after `timeoutMs`. */
  transferLeadership?: (to: string, timeoutMs: number) => Promise<void>
  /** Raft only: the connected voter with the longest matching log (leader only), the default transfer target. */
  mostUpToDateVoter?: () => string | null
  /** Raft only, graceful shutdown: a leader hands over to the most up-to-date voter (bounded wait); who took over, or null. */
  handOver?: (timeoutMs?: number) => Promise<string | null>
}
