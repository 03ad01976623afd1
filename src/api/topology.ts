/**
 * The topology snapshot behind the live page (GET /, GET /v1/topology, GET /v1/topology/stream):
 * nodes with their state, edges (each pair of members some live member reports connected, with RTT),
 * consensus (pBFT view and primary, or Raft term and leader; committed sequence, commits/s), open tasks per node, recent messages.
 *
 * Everything here is pure: the routes (page-routes.ts) gather the inputs, time included.
 */
import type { AggregatesPanel } from '../runtime/gossip/aggregation.js' // [aggregate]
import type { MemberState } from '../core/membership.js'
import type { NodeLoad } from '../../protocols/state/codec.js'

/** Members drawn at most (self first, then alive, suspect, failed, left); the rest are counted. */
export const topologyNodesMax = 512
/** Recent messages shown at most, and the JSON size of one (a larger one is cut to a preview). */
export const topologyMessagesMax = 20
export const topologyMessageBytesMax = 2048

/** What the snapshot needs of a member (a subset of MemberView in src/runtime/mesh-node.ts). */
export interface TopologyMemberInput {
  peerId: string
  name: string
  state: MemberState
  self: boolean
  incarnation: number
  lastSeenMs: number
  rttMs: number | null
  connected: boolean
  capabilities: string[]
  load: NodeLoad
  neighbours: Array<{ peerId: string, rttMs: number | null }> | null
  /** [reputation] This node's reputation of the member (absent or null: not scored, or ourselves). */
  reputation?: { score: number, banned: boolean } | null
  /** [zones] Its zone (absent or null: none). */
  zone?: string | null
}

/** What the snapshot needs of the consensus status (a subset of ConsensusStatus). */
export interface TopologyConsensusInput {
  /** The engine (absent: pBFT). */
  mode?: 'pbft' | 'raft'
  role: 'validator' | 'observer'
  view: number | null
  primary: string | null
  lastExecuted: number | null
  stableSeq: number | null
  validators: Array<{ peerId: string, name: string }>
  /** Raft: the voters and learners in force (membership changes move them away from the genesis). */
  raft?: { members: Array<{ peerId: string, name: string, role: 'voter' | 'learner' }> }
}

/** An open task: who holds it and in which state (from the replicated task table). */
export interface TopologyTaskInput {
  assignee: string | null
  state: string
}

/** A source of recent peer messages (the messaging feature); any JSON-able entries. */
export interface RecentMessagesSource {
  recent: (limit: number) => readonly unknown[]
}

export interface TopologyInput {
  nowMs: number
  self: string
  name: string
  network: string
  mode: 'read-write' | 'read-only'
  partitioned: boolean
  members: TopologyMemberInput[]
  consensus: TopologyConsensusInput | null
  commitsPerSecond: number | null
  /** Open (assigned or running) tasks, or null without a task table; `truncated` when not all were read. */
  openTasks: { tasks: TopologyTaskInput[], truncated: boolean } | null
  /** null when no messaging source is wired. */
  messages: readonly unknown[] | null
  /** [aggregate] Mesh-wide gossip estimates (absent or null when aggregation is not wired). */
  aggregates?: TopologyAggregates | null
}

/** [aggregate] The page's "Mesh aggregates" panel (src/runtime/gossip/aggregation.ts, pagePanel). */
export type TopologyAggregates = AggregatesPanel

export interface TopologyNode {
  id: string
  name: string
  state: MemberState
  self: boolean
  incarnation: number
  lastSeenMs: number
  rttMs: number | null
  connected: boolean
  capabilities: string[]
  load: NodeLoad
  /** Open tasks held by this node, from the task table (null without one). */
  tasks: { assigned: number, running: number } | null
  validator: boolean
  primary: boolean
  /** False when its record carries no neighbour list (a node older than the field). */
  reportsNeighbours: boolean
  /** [reputation] This node's reputation of the member: score in [-100, 100], banned; null for itself. */
  reputation: { score: number, banned: boolean } | null
  /** [zones] Its zone (--zone), null without one: the page colours nodes by it. */
  zone: string | null
}

export interface TopologyEdge {
  /** `<smaller PeerId>|<larger PeerId>` */
  id: string
  source: string
  target: string
  /** Mean of the RTTs the two ends reported (ms), null when neither has measured it yet. */
  rttMs: number | null
  /** The members whose records report this connection. */
  reportedBy: string[]
}

export interface TopologyConsensus {
  /** The engine: on Raft `view` is the term, `primary` the leader, `stableSeq` the snapshot index, `validators` the voters. */
  mode: 'pbft' | 'raft'
  role: 'validator' | 'observer'
  view: number | null
  primary: string | null
  primaryName: string | null
  committedSeq: number | null
  stableSeq: number | null
  commitsPerSecond: number | null
  validators: string[]
}

export interface TopologySnapshot {
  generatedAt: string
  self: string
  name: string
  network: string
  mode: 'read-write' | 'read-only'
  partitioned: boolean
  counts: Record<MemberState, number>
  nodes: TopologyNode[]
  /** Members left out because of topologyNodesMax. */
  nodesOmitted: number
  edges: TopologyEdge[]
  consensus: TopologyConsensus | null
  tasks: { open: number, truncated: boolean } | null
  messages: unknown[] | null
  /** [aggregate] */
  aggregates: TopologyAggregates | null
}

const stateOrder: Record<MemberState, number> = { alive: 0, suspect: 1, failed: 2, left: 3 }

export function edgeId (a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`
}

/** A message entry as it goes out: its JSON if small enough, else a preview. Never throws. */
function boundedMessage (message: unknown): unknown {
  let text: string | undefined
  try {
    text = JSON.stringify(message)
  } catch {
    return { unserialisable: true }
  }
  if (text == null) return null
  if (text.length <= topologyMessageBytesMax) return JSON.parse(text) as unknown
  return { truncated: true, preview: text.slice(0, 200) }
}

export function buildTopology (input: TopologyInput): TopologySnapshot {
  const counts: Record<MemberState, number> = { alive: 0, suspect: 0, failed: 0, left: 0 }
  for (const member of input.members) counts[member.state]++
  const ordered = [...input.members].sort((a, b) =>
    Number(b.self) - Number(a.self) || stateOrder[a.state] - stateOrder[b.state] ||
    a.name.localeCompare(b.name) || a.peerId.localeCompare(b.peerId))
  const shown = ordered.slice(0, topologyNodesMax)
  const ids = new Set(shown.map(m => m.peerId))

  // pBFT: the genesis validators; Raft: the voters in force
  const c0 = input.consensus
  const voters = c0?.raft != null ? c0.raft.members.filter(m => m.role === 'voter').map(m => m.peerId) : (c0?.validators.map(v => v.peerId) ?? [])
  const validators = new Set(voters)
  const primary = input.consensus?.primary ?? null
  const perNode = new Map<string, { assigned: number, running: number }>()
  for (const task of input.openTasks?.tasks ?? []) {
    if (task.assignee == null) continue
    const entry = perNode.get(task.assignee) ?? { assigned: 0, running: 0 }
    if (task.state === 'assigned') entry.assigned++
    else if (task.state === 'running') entry.running++
    perNode.set(task.assignee, entry)
  }

  const nodes: TopologyNode[] = shown.map(m => ({
    id: m.peerId,
    name: m.name,
    state: m.state,
    self: m.self,
    incarnation: m.incarnation,
    lastSeenMs: m.lastSeenMs,
    rttMs: m.rttMs,
    connected: m.connected,
    capabilities: m.capabilities,
    load: m.load,
    tasks: input.openTasks == null ? null : (perNode.get(m.peerId) ?? { assigned: 0, running: 0 }),
    validator: validators.has(m.peerId),
    primary: primary === m.peerId,
    reportsNeighbours: m.neighbours != null,
    reputation: m.reputation == null ? null : { score: m.reputation.score, banned: m.reputation.banned },
    zone: m.zone ?? null // [zones]
  }))

  // An edge for each pair some member reports connected. Only members we believe alive (or merely
  // suspect) count as reporters: the last record of a failed or departed node is stale.
  const edges = new Map<string, { source: string, target: string, rtts: number[], reportedBy: string[] }>()
  for (const member of shown) {
    if (member.state !== 'alive' && member.state !== 'suspect') continue
    for (const neighbour of member.neighbours ?? []) {
      if (neighbour.peerId === member.peerId || !ids.has(neighbour.peerId)) continue
      const id = edgeId(member.peerId, neighbour.peerId)
      let edge = edges.get(id)
      if (edge == null) {
        const [source, target] = member.peerId < neighbour.peerId ? [member.peerId, neighbour.peerId] : [neighbour.peerId, member.peerId]
        edge = { source, target, rtts: [], reportedBy: [] }
        edges.set(id, edge)
      }
      if (!edge.reportedBy.includes(member.peerId)) {
        edge.reportedBy.push(member.peerId)
        if (neighbour.rttMs != null && Number.isFinite(neighbour.rttMs)) edge.rtts.push(neighbour.rttMs)
      }
    }
  }

  let consensus: TopologyConsensus | null = null
  if (input.consensus != null) {
    const c = input.consensus
    consensus = {
      mode: c.mode ?? 'pbft',
      role: c.role,
      view: c.view,
      primary: c.primary,
      primaryName: [...c.validators, ...(c.raft?.members ?? [])].find(v => v.peerId === c.primary)?.name ?? null,
      committedSeq: c.lastExecuted,
      stableSeq: c.stableSeq,
      commitsPerSecond: input.commitsPerSecond,
      validators: voters
    }
  }

  return {
    generatedAt: new Date(input.nowMs).toISOString(),
    self: input.self,
    name: input.name,
    network: input.network,
    mode: input.mode,
    partitioned: input.partitioned,
    counts,
    nodes,
    nodesOmitted: ordered.length - shown.length,
    edges: [...edges.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([id, e]) => ({
      id,
      source: e.source,
      target: e.target,
      rttMs: e.rtts.length === 0 ? null : Math.round(e.rtts.reduce((s, r) => s + r, 0) / e.rtts.length * 1000) / 1000,
      reportedBy: e.reportedBy.sort()
    })),
    consensus,
    tasks: input.openTasks == null ? null : { open: input.openTasks.tasks.length, truncated: input.openTasks.truncated },
    messages: input.messages == null ? null : input.messages.slice(-topologyMessagesMax).map(boundedMessage),
    aggregates: input.aggregates ?? null // [aggregate]
  }
}

/**
 * Commits per second over a sliding window, from samples of the committed sequence number (so it
 * works for observers too, which learn decisions rather than commit them). Bounded: at most
 * `samplesMax` samples, the oldest dropped first. A sequence that goes backwards (a restart) resets it.
 */
export class CommitRate {
  static readonly samplesMax = 128
  private readonly samples: Array<{ atMs: number, seq: number }> = []

  constructor (readonly windowMs = 10_000) {}

  sample (atMs: number, seq: number | null): void {
    if (seq == null) return
    const last = this.samples[this.samples.length - 1]
    if (last != null && seq < last.seq) this.samples.length = 0
    this.samples.push({ atMs, seq })
    while (this.samples.length > CommitRate.samplesMax) this.samples.shift()
    // keep one sample at or before the window's start, so the rate covers the whole window
    while (this.samples.length > 2 && (this.samples[1] as { atMs: number }).atMs <= atMs - this.windowMs) this.samples.shift()
  }

  /** Null until two samples at least 500 ms apart exist. */
  perSecond (): number | null {
    const first = this.samples[0]
    const last = this.samples[this.samples.length - 1]
    if (first == null || last == null || last.atMs - first.atMs < 500) return null
    return Math.round((last.seq - first.seq) / ((last.atMs - first.atMs) / 1000) * 100) / 100
  }
}
