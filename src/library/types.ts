/**
 * Public types of the library entry point (`import { startNode } from 'mesh-coordinator'`, src/index.ts).
 * Shapes mirror the node's HTTP API (docs/cli-and-api.md), with JSON texts (task payloads and results)
 * parsed for the caller.
 */
import type { MemberState } from '../core/membership.js'
import type { NodeStatus, MemberView } from '../runtime/mesh-node.js'
import type { MessageView, SendResult } from '../runtime/messages.js'
import type { TaskState } from '../core/app/state.js'
import type { TaskStrategy } from '../core/app/operation.js'

export type { NodeStatus, MemberView, MemberState, MessageView, TaskState, TaskStrategy }

/**
 * Options of {@link startNode}: the node options of `mesh start` (docs/cli-and-api.md, the config table),
 * with library defaults. Unlike `mesh start`, no `MESH_*` environment variable applies unless `env` is given.
 */
export interface StartNodeOptions {
  /**
   * Directory for the identity key, logs and runtime.json (created if missing; a `genesis.json` in it is
   * used). Default: a new temporary directory — a new identity each start — removed by `stop()`
   * unless `keepDataDir` is set.
   */
  dataDir?: string
  /** Keep the temporary data dir on `stop()` (only matters when `dataDir` is not given). Default false. */
  keepDataDir?: boolean
  /** libp2p listen multiaddrs. Default `['/ip4/127.0.0.1/tcp/0']` (loopback, a free port). */
  listen?: string[]
  /** Multiaddrs to advertise instead of the listen addresses (NAT, port maps). */
  announce?: string[]
  /** Seed multiaddrs ending in `/p2p/<PeerId>` of nodes already in the mesh. Default none. */
  bootstrap?: string[]
  /** Mesh name; nodes of different networks never mix. Default `mesh` (or the genesis' network). */
  network?: string
  /** Human label of this node (1-64 characters). Default the hostname. */
  name?: string
  /** Capabilities offered from the start (built-in handlers such as `echo`); `handle()` adds more. */
  capabilities?: string[]
  /** HTTP API `host:port`. Default `127.0.0.1:0` (loopback, a free port). */
  api?: string
  /** Bearer token the API requires (at least 16 characters; needed for a non-loopback `api`). */
  apiToken?: string
  /** Genesis file of a consensus network (pBFT or Raft). Default: `genesis.json` in the data dir, if any. */
  genesis?: string
  /** Pre-shared key file of a private network (`mesh psk generate`). */
  pskFile?: string
  /** Only these peers may connect: a file with one PeerId per line, or a comma-separated list. */
  allowPeers?: string
  /** How often the node publishes its state record, in ms. Default 3000. */
  heartbeatIntervalMs?: number
  /** Silence after which a member is suspected, in ms (more than `heartbeatIntervalMs`). Default 10000. */
  failureTimeoutMs?: number
  /** Connections to keep at least. Default 3. */
  minPeers?: number
  /** Dial known members until this many connections. Default 6. */
  maxPeers?: number
  /** Tasks this node runs at once. Default the CPU count. */
  maxConcurrent?: number
  /** Load shedding this node starts: `steal` and/or `migrate`, or `[]` for none. Default both. */
  loadShedding?: Array<'steal' | 'migrate'>
  /** LAN discovery by mDNS. Default: on when every listen address is loopback or private. */
  mdns?: 'on' | 'off'
  /** This node's zone label (1-32 of a-z 0-9 -). */
  zone?: string
  /** Inbound connections one IP may hold at once. Default 8 (loopback exempt). */
  maxConnsPerIp?: number
  /** Serve Circuit Relay v2 reservations: on, off, or auto. Default auto. */
  relay?: 'on' | 'off' | 'auto'
  /** Ask the router for a port mapping (UPnP / NAT-PMP). Default false. */
  natUpnp?: boolean
  /**
   * Read `MESH_*` options from this environment (e.g. `process.env`) as the layer below these options,
   * as `mesh start` does. Default: none.
   */
  env?: Record<string, string | undefined>
  /**
   * How long a call the node answers 503 (refused, never sent: no quorum yet — an election under way
   * just after start — or a node catching up) is sent again before the MeshError is thrown, in ms.
   * Default 20000; 0 throws at once.
   */
  unavailableRetryMs?: number
  /** Receives the node's log lines (member changes, warnings, errors). Default: discarded. */
  log?: (line: string) => void
}

/** Options shared by the memory calls. */
export interface MemoryOptions {
  /** Namespace (1-64 of `[a-zA-Z0-9_.:-]`). Default `default`. */
  namespace?: string
  /**
   * Use the eventually consistent store (gossip, on every node). Default: the consensus store on a
   * node of a consensus network, else the eventual one — as `mesh memory`.
   */
  eventual?: boolean
}

/** Options of the memory writes. */
export interface MemoryWriteOptions extends MemoryOptions {
  /** Send again a consensus write that failed with 504 "outcome unknown": its `MeshError.requestId` (applies exactly once). */
  requestId?: string
}

/** One key of a memory listing. */
export interface MemoryEntry {
  /** The key. */
  key: string
  /** Its value. */
  value: string
  /** Consensus store: the log position of the write. */
  seq?: number
  /** Eventual store: the writer's PeerId. */
  writer?: string
}

/** What a memory write answered. */
export interface MemoryWriteResult {
  /** `linearizable` (through consensus) or `eventual` (gossip). */
  consistency: string
  /** Consensus store: the log position of the write. */
  seq?: number
  /** Whether the key was new. */
  created?: boolean
}

/** Shared memory: the consensus-ordered store or the eventually consistent one (see {@link MemoryOptions}). */
export interface MeshMemory {
  /** The value of `key`, or undefined when there is none. `linearizable` orders the read through consensus first. */
  get: (key: string, options?: MemoryOptions & { linearizable?: boolean }) => Promise<string | undefined>
  /** Store a string (at most 64 KiB) under `key`; resolves once stored (consensus: committed). */
  set: (key: string, value: string, options?: MemoryWriteOptions) => Promise<MemoryWriteResult>
  /** Delete `key`; true when it existed. */
  delete: (key: string, options?: MemoryWriteOptions) => Promise<boolean>
  /** Keys of a namespace in key order (this node's copy). */
  list: (options?: MemoryOptions & { prefix?: string, limit?: number }) => Promise<MemoryEntry[]>
}

/** A task to submit. */
export interface TaskSubmission {
  /** Required capability, or several (a node offering them runs it). */
  capability: string | string[]
  /** Any JSON value (at most 1 MiB of JSON). Default null. */
  payload?: unknown
  /** 0-9, higher runs first. Default 5. */
  priority?: number
  /** How long the task may run, in ms. Default 60000. */
  timeoutMs?: number
  /** `auction` (default) or `dht` placement. */
  strategy?: TaskStrategy
  /** Task id (1-64 of `A-Za-z0-9_.:-`); default generated. Resubmitting the same id is idempotent. */
  id?: string
}

/** One task as this node's copy of the replicated task table holds it. */
export interface MeshTask {
  /** The task id. */
  id: string
  /** The capabilities it needs. */
  capabilities: string[]
  /** pending, assigned, running, completed, failed or cancelled. */
  state: TaskState
  /** The node holding or having finished it; null otherwise. */
  assignee: string | null
  /** PeerId of the node that submitted it. */
  submitter: string
  /** 0-9, higher runs first. */
  priority: number
  /** How long it may run, in ms. */
  timeoutMs: number
  /** How it was placed: auction or dht. */
  strategy: TaskStrategy
  /** The payload, parsed from its JSON. */
  payload: unknown
  /** Completed: the handler's result, parsed from its JSON. */
  result?: unknown
  /** Failed: why. */
  error?: string
  /** The last events, oldest first. */
  history: Array<{ seq: number, event: string, node?: string, assignment: number }>
}

/** Task distribution (needs a consensus network). */
export interface MeshTasks {
  /**
   * Submit a task; the mesh decides who runs it. With `wait`, resolves once it completed or failed (or
   * `waitTimeoutMs` passed: then in whatever state it is).
   */
  submit: (task: TaskSubmission, options?: { wait?: boolean, waitTimeoutMs?: number }) => Promise<MeshTask>
  /** One task, or undefined when this node does not know it. */
  get: (id: string) => Promise<MeshTask | undefined>
  /** Tasks, newest first. */
  list: (options?: { state?: TaskState, limit?: number }) => Promise<MeshTask[]>
  /** Cancel a task that has not finished (only its submitter may). */
  cancel: (id: string) => Promise<void>
}

/** Context given to a task handler with each task. */
export interface TaskContext {
  /** The task's id. */
  id: string
  /** Aborted on timeout, cancel or stop: the handler should stop its work. */
  signal: AbortSignal
}

/**
 * Runs one task in this process: receives the parsed payload, resolves with a JSON-encodable result
 * (at most 1 MiB), or throws (the message becomes the task's error).
 */
export type TaskHandlerFunction = (payload: unknown, context: TaskContext) => Promise<unknown>

/** A proposal made with {@link MeshNodeHandle.propose}. */
export interface ProposalReceipt {
  /** The proposal's id (for `vote` and `proposal`). */
  id: string
  /** `gossip` (eventual, signed votes) or the consensus engine (`pbft`, `raft`: final). */
  protocol: 'gossip' | 'pbft' | 'raft'
  /** Approvals it needs. */
  requiredApprovals: number
}

/** A proposal and its votes. */
export interface ProposalInfo {
  /** The proposal's id. */
  id: string
  /** `gossip` (eventual) or the consensus engine (final). */
  protocol: 'gossip' | 'pbft' | 'raft'
  /** Where it stands. */
  status: 'open' | 'approved' | 'rejected' | 'expired'
  /** PeerId of the node that proposed it. */
  proposer: string
  /** What was proposed (a JSON value). */
  proposal: unknown
  /** Approvals counted. */
  approvals: number
  /** Rejections counted. */
  rejections: number
  /** Approvals it needs. */
  requiredApprovals: number
  /** The votes, by voter PeerId. */
  votes: Array<{ voter: string, decision: 'approve' | 'reject' }>
}

/** Options of {@link MeshNodeHandle.propose}. */
export interface ProposeOptions {
  /** Share of the voters that must approve (0 < t ≤ 1). Default 0.67. */
  threshold?: number
  /** Default: the genesis' engine where there is one, else gossip. */
  protocol?: 'gossip' | 'pbft' | 'raft'
  /** Gossip: seconds until the deadline. Default 3600. */
  ttlSeconds?: number
}

/** A direct message the recipient acknowledged. */
export type DirectSendResult = Extract<SendResult, { delivered: true }>
/** A broadcast, published to the peers subscribed to it. */
export type BroadcastResult = Extract<SendResult, { broadcast: true }>

/** A member appeared or changed state (`alive`, `suspect`, `failed`, `left`). */
export interface MemberEvent {
  /** The member's PeerId. */
  peerId: string
  /** Its name (`name` option / --name). */
  name: string
  /** Its state now. */
  state: MemberState
  /** Its state before; null when first seen (or when a listener is added: one event per known member). */
  previous: MemberState | null
  /** Its row of the membership table (capabilities, load, addresses, …). */
  member: MemberView
}

/** Events of a node: `member` (membership changes) and `message` (messages received from other members). */
export interface MeshNodeEvents {
  /** A member appeared or changed state. */
  member: MemberEvent
  /** A message from another member arrived (direct or broadcast). */
  message: MessageView
}

/** A running node (from {@link startNode}). */
export interface MeshNodeHandle {
  /** This node's PeerId. */
  readonly peerId: string
  /** Its listen addresses, each ending in /p2p/<PeerId>: give one to another node as `bootstrap`. */
  readonly multiaddrs: string[]
  /** Base URL of its HTTP API, e.g. http://127.0.0.1:41234. */
  readonly apiUrl: string
  /** Its data dir. */
  readonly dataDir: string
  /** Its network name. */
  readonly network: string
  /** Identity, addresses, mode and the membership table (the `/v1/status` answer). */
  status: () => Promise<NodeStatus>
  /** Shared memory. */
  readonly memory: MeshMemory
  /** Make a proposal that members vote on. */
  propose: (value: unknown, options?: ProposeOptions) => Promise<ProposalReceipt>
  /** Vote on a proposal as this node. */
  vote: (id: string, decision: 'approve' | 'reject') => Promise<void>
  /** Proposals of both kinds (gossip first), newest first. */
  proposals: (options?: { status?: ProposalInfo['status'] }) => Promise<ProposalInfo[]>
  /** One proposal, or undefined. */
  proposal: (id: string) => Promise<ProposalInfo | undefined>
  /** Task distribution. */
  readonly tasks: MeshTasks
  /**
   * Run tasks needing `capability` in this process with `fn`, and offer the capability to the mesh (it
   * is gossiped in this node's state, so auctions and DHT routing send such tasks here). Replaces an
   * earlier handler of the same capability. Needs a consensus network (throws a MeshError otherwise).
   */
  handle: (capability: string, fn: TaskHandlerFunction) => void
  /** Send a JSON message to one member (PeerId or name); resolves once it acknowledged. */
  send: (peer: string, message: unknown, options?: { timeoutMs?: number }) => Promise<DirectSendResult>
  /** Send a JSON message to every member (gossip; no acknowledgement). */
  broadcast: (message: unknown) => Promise<BroadcastResult>
  /**
   * Listen to `member` events (each known member at once, then every change; checked every 250 ms) or
   * `message` events (each message received).
   */
  on: <E extends keyof MeshNodeEvents>(event: E, listener: (value: MeshNodeEvents[E]) => void) => MeshNodeHandle
  /** Remove a listener added with `on`. */
  off: <E extends keyof MeshNodeEvents>(event: E, listener: (value: MeshNodeEvents[E]) => void) => MeshNodeHandle
  /** Leave the mesh gracefully and release everything (a temporary data dir is removed). Idempotent. */
  stop: () => Promise<void>
}
