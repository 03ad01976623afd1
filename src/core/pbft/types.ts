/**
 * Types of the pBFT core (Castro & Liskov, OSDI '99). The core is a pure state machine: the runtime
 * (or the simulator) feeds it inputs with `Replica.step(input)` and performs the effects it returns, in
 * order: persist, then send, then deliver replies. No I/O, clock or randomness inside.
 *
 * Replicas are numbered 0..n-1 in genesis order; the primary of view v is v mod n.
 * Authentication: every message carries `from` and a `signature` over `signable(message)`. The runtime
 * verifies the signature of every message it receives before the core sees it (dropping failures);
 * messages embedded in VIEW-CHANGE / NEW-VIEW certificates are verified by the core itself through the
 * injected `Crypto.verify`, since they were signed by replicas other than the sender.
 */

export type ReplicaId = number
export type Digest = string

/**
 * A client's request: signed by the client (checked by the runtime), deduplicated by (client, id).
 * Ids start at 1; each (client, id) executes at most once, in whatever order the log puts them, and a
 * client may run at most `clientWindow` ids ahead of its lowest unexecuted one.
 */
export interface ClientRequest {
  /** Submitter identity (a PeerId in the runtime). */
  client: string
  /** Per-client, increasing: a request with an id ≤ the last executed one of that client is a duplicate. */
  requestId: number
  /** Opaque operation for the application (JSON text in the runtime). */
  operation: string
  /** The client's signature over the request, checked by the runtime; opaque to the core. */
  signature?: string
  /**
   * Raft only (pBFT clients retransmit until executed instead): every id of this client ≤ floor that
   * has not executed never will — the client gave up on it (refused, or its outcome reported unknown)
   * and waits for no id below floor + 1. The client table's floor moves up to it when the request
   * executes, so ids lost on the way (never appended) do not hold the client's window for ever
   * (Ongaro's thesis, §6.3: requests carry the lowest id without a response). Always < requestId.
   */
  floor?: number
}

export interface Signed {
  from: ReplicaId
  signature: string
}

export interface PrePrepare extends Signed {
  type: 'pre-prepare'
  view: number
  seq: number
  digest: Digest
  /** The batch itself (its digest must equal `digest`); an empty batch is a null request. */
  batch: ClientRequest[]
}

export interface Prepare extends Signed {
  type: 'prepare'
  view: number
  seq: number
  digest: Digest
}

export interface Commit extends Signed {
  type: 'commit'
  view: number
  seq: number
  digest: Digest
}

export interface Checkpoint extends Signed {
  type: 'checkpoint'
  seq: number
  /** Digest of the application state after executing every sequence up to `seq`. */
  stateDigest: Digest
}

/** Proof that (view, seq, digest) prepared at some replica: the pre-prepare and 2f matching prepares. */
export interface PreparedCertificate {
  prePrepare: PrePrepare
  prepares: Prepare[]
}

export interface ViewChange extends Signed {
  type: 'view-change'
  /** The view being moved to. */
  view: number
  /** The sender's last stable checkpoint and its proof (2f+1 checkpoint messages; empty for seq 0). */
  stableSeq: number
  stableDigest: Digest
  checkpointProof: Checkpoint[]
  /** Everything that prepared at the sender above its stable checkpoint. */
  prepared: PreparedCertificate[]
}

export interface NewView extends Signed {
  type: 'new-view'
  view: number
  /** 2f+1 valid VIEW-CHANGE messages for `view`. */
  viewChanges: ViewChange[]
  /** The pre-prepares of the new view, recomputable from `viewChanges` (set O of the paper). */
  prePrepares: PrePrepare[]
}

/** Asks a replica for the state at its latest stable checkpoint (state transfer). */
export interface FetchState extends Signed {
  type: 'fetch-state'
  /** The requester has executed up to here. */
  fromSeq: number
}

/** Answer to FETCH-STATE: the snapshot at a stable checkpoint, with the checkpoint proof. */
export interface StateTransfer extends Signed {
  type: 'state'
  seq: number
  stateDigest: Digest
  checkpointProof: Checkpoint[]
  snapshot: string
}

/** A client request passed on by a replica that is not the primary (or re-sent to a new primary). */
export interface Forward extends Signed {
  type: 'forward'
  request: ClientRequest
}

/**
 * Where a replica stands, broadcast every `statusIntervalMs` and on start (etcd-raft's heartbeats that
 * carry the commit index): how a replica that restarted, or whose links came back, learns with no
 * client traffic that it is behind in view or sequence, and how a primary knows it is still the
 * primary of a view the others are in. Never persisted (soft state).
 */
export interface Status extends Signed {
  type: 'status'
  view: number
  active: boolean
  lastExecuted: number
  /** The sender's stable checkpoint and its proof (2f+1 CHECKPOINTs; empty for seq 0). */
  stableSeq: number
  stableDigest: Digest
  checkpointProof: Checkpoint[]
  /** The sender is recovering (just started, or not yet confirmed in its view): peers answer with theirs. */
  wantReply: boolean
}

/** Asks a replica for the committed batches after `fromSeq` it still holds in its log. */
export interface FetchLog extends Signed {
  type: 'fetch-log'
  fromSeq: number
}

/**
 * A committed batch with its commit certificate: the PRE-PREPARE (signed by the primary of its view)
 * and 2f+1 matching COMMITs from distinct replicas. Self-proving: a replica executes it whoever relays it.
 */
export interface LogEntry extends Signed {
  type: 'log-entry'
  seq: number
  prePrepare: PrePrepare
  commits: Commit[]
}

export type Message = Forward | PrePrepare | Prepare | Commit | Checkpoint | ViewChange | NewView | FetchState | StateTransfer | Status | FetchLog | LogEntry

/** The replicated, deterministic application the log drives. */
export interface Application {
  /** Execute one operation; must be deterministic. Returns the result sent back to the client. */
  apply: (request: ClientRequest, seq: number) => string
  /** Digest of the whole state (canonical encoding). */
  digest: () => Digest
  snapshot: () => string
  restore: (snapshot: string) => void
  /**
   * Raft only: the voters in force changed (a membership change applied, a snapshot restored), in log
   * order on every node alike. An application whose decisions depend on who votes follows it.
   */
  setVoters?: (voters: readonly string[]) => void
}

/** Injected hashing and signing: pure functions from the core's point of view. */
export interface Crypto {
  /** Collision-resistant digest of a string (sha256 hex in the runtime). */
  hash: (data: string) => Digest
  /** Sign `signable(message)` as this replica. */
  sign: (data: string) => string
  /** Did replica `from` sign `data`? */
  verify: (from: ReplicaId, data: string, signature: string) => boolean
}

export interface ReplicaConfig {
  id: ReplicaId
  n: number
  /** Checkpoint interval K (paper: 128). Log window = 2K (low/high water marks). */
  checkpointInterval: number
  /** Largest batch the primary proposes. */
  batchSizeMax: number
  /** How long the primary may hold a non-full batch before proposing it. */
  batchDelayMs: number
  /** View-change timer: a request pending longer than this (doubling per failed view) starts a view change. */
  viewChangeTimeoutMs: number
  /** Re-send our own unfinished protocol messages this often (lossy networks). */
  retransmitMs: number
  /**
   * Most batches the primary keeps proposed but not yet executed (its pipeline). Requests arriving
   * while the pipeline is full wait and go out together in the next batch, so batches grow with load
   * (and signatures per request shrink). @default unlimited (up to the high water mark)
   */
  pipelineMax?: number
  /**
   * Broadcast a STATUS this often (idle catch-up, primary confirmation). @default retransmitMs
   */
  statusIntervalMs?: number
  /**
   * Censorship bound: a request received here that has waited more than this many view-change timeouts
   * while at least `censorOvertakenMin` requests received here after it executed starts a view change.
   * @default 2
   */
  censorTimeouts?: number
  /** @default batchSizeMax */
  censorOvertakenMin?: number
  /**
   * Client table horizon: at every checkpoint, clients with no request executed in the last this many
   * sequence numbers are forgotten (deterministically). A client that retries within the horizon still
   * gets exactly-once. @default 64 × checkpointInterval
   */
  clientHorizonSeqs?: number
}

export type Input =
  /**
   * A client request (already signature-checked by the runtime), submitted at this replica. `forward`
   * false: the client sent it to every validator itself, so a backup does not forward it to the
   * primary at once, only if it is still unordered after `retransmitMs` (default true: forward now).
   */
  | { type: 'request', request: ClientRequest, nowMs: number, forward?: boolean }
  /** A protocol message whose sender signature the runtime has verified. */
  | { type: 'message', message: Message, nowMs: number }
  | { type: 'tick', nowMs: number }

/** Why an input was dropped: bounded set, used as metric labels. */
export type DropReason =
  | 'not-validator' | 'bad-signature' | 'wrong-view' | 'outside-watermarks' | 'digest-mismatch'
  | 'not-primary' | 'conflicting' | 'duplicate' | 'stale' | 'invalid' | 'bad-certificate'
  /** Not a dropped input: a backup judged that the primary censors a request (it starts a view change). */
  | 'censored'

export type Effect =
  /** Store durably before any later `send` leaves the node. */
  | { type: 'persist', record: PersistRecord }
  | { type: 'send', to: ReplicaId | 'all', message: Message }
  /** Executed in sequence order; `result` goes back to the client (f+1 matching replies decide it). */
  | { type: 'reply', request: ClientRequest, seq: number, view: number, result: string }
  | { type: 'committed', seq: number, view: number, digest: Digest, batch: ClientRequest[] }
  | { type: 'stable', seq: number, stateDigest: Digest }
  | { type: 'view', view: number, primary: ReplicaId, active: boolean }
  | { type: 'drop', reason: DropReason, from?: ReplicaId, detail?: string }

/**
 * What a replica must find again after a crash so it never contradicts itself: every message it sent
 * (and so every prepare/commit it voted), the view it is in, and its checkpoints with snapshots.
 * The runtime appends these; `Replica.restore(records)` rebuilds the replica from them.
 */
export type PersistRecord =
  | { kind: 'sent', message: Message }
  | { kind: 'accepted', message: PrePrepare | Prepare | Commit | Checkpoint | ViewChange }
  | { kind: 'view', view: number, active: boolean }
  | { kind: 'executed', seq: number, view: number, digest: Digest, batch: ClientRequest[] }
  | { kind: 'stable', seq: number, stateDigest: Digest, snapshot: string, proof: Checkpoint[] }

/** The client table horizon a configuration implies (see ReplicaConfig.clientHorizonSeqs). */
export function clientHorizonOf (config: { checkpointInterval: number, clientHorizonSeqs?: number }): number {
  return config.clientHorizonSeqs ?? 64 * config.checkpointInterval
}

/** Quorum arithmetic in one place. */
export function faultsTolerated (n: number): number {
  return Math.floor((n - 1) / 3)
}

export function quorumSize (n: number): number {
  return 2 * faultsTolerated(n) + 1
}

export function primaryOf (view: number, n: number): ReplicaId {
  return view % n
}

/** The bytes a signature covers: every field but the signature, in a fixed order. */
export function signable (message: Message): string {
  const { signature: _signature, ...rest } = message
  return canonicalJson(rest)
}

/**
 * JSON with object keys sorted at every level: the same value always gives the same text. Written as
 * loops over sorted keys (no entries/filter/map arrays): it runs on every signed message and batch.
 * Exactly the text of the simpler definition it replaced (undefined members skipped, an array's
 * undefined element as empty text, keys in UTF-16 code unit order).
 */
export function canonicalJson (value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value)
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ','
      out += canonicalJson(value[i]) ?? ''
    }
    return out + ']'
  }
  const record = value as Record<string, unknown>
  const keys = Object.keys(record).sort()
  let out = '{'
  let first = true
  for (const key of keys) {
    const member = record[key]
    if (member === undefined) continue
    if (!first) out += ','
    out += `${JSON.stringify(key)}:${canonicalJson(member)}`
    first = false
  }
  return out + '}'
}

/** Digest of a batch (order matters). */
export function batchDigest (crypto: Crypto, batch: ClientRequest[]): Digest {
  return crypto.hash(canonicalJson(batch))
}
