/**
 * The MCP tools' input schemas (zod; the SDK validates every call against them and answers a bad one
 * with an `isError` result naming the field) and their descriptions. Pure: no I/O here, so the
 * validation is unit-tested on its own (test/unit/mcp-tools.test.ts).
 *
 * Tool names are the ones agents already use (claude-flow / ruv-swarm); each is backed by a real
 * feature of the node it is attached to.
 */
import * as z from 'zod'

const capability = z.string().regex(/^[a-z0-9][a-z0-9._:/-]{0,63}$/i, 'a capability name: letters, digits, . _ : / -; at most 64')
const namespace = z.string().regex(/^[a-zA-Z0-9_.:-]{1,64}$/, 'a namespace: 1-64 of a-z A-Z 0-9 _ . : -')
const key = z.string().min(1).refine(k => Buffer.byteLength(k) <= 256, 'a key is at most 256 bytes of UTF-8')
const memberRef = z.string().min(1).max(128).describe('a member: its PeerId, or its name when no other member has it')
const taskId = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'a task id: 1-64 of A-Z a-z 0-9 _ . : -')
const multiaddrText = z.string().min(1).max(512)
/** A JSON value (object, array, string, number, boolean or null); which actions need it is checked below. */
const jsonValue = z.unknown().optional()

type Issue = (message: string, path: string) => void
/** Cross-field rules: `action` X needs fields Y. */
function needs (issue: Issue, value: Record<string, unknown>, action: string, fields: string[]): void {
  for (const field of fields) {
    if (value[field] === undefined) issue(`action "${action}" needs "${field}"`, field)
  }
}
function refiner<T extends Record<string, unknown>> (rule: (value: T, issue: Issue) => void) {
  return (value: T, ctx: z.RefinementCtx): void => {
    rule(value, (message, path) => { ctx.addIssue({ code: 'custom', message, path: [path] }) })
  }
}

export const swarmInitInput = z.object({
  topology: z.enum(['mesh']).default('mesh').describe('only "mesh": every node links directly to the members it knows, up to maxAgents connections'),
  maxAgents: z.number().int().min(1).max(1000).optional().describe('connections the node keeps at most (--max-peers); used only when swarm_init starts the node'),
  name: z.string().min(1).max(64).optional().describe('human label of a node started here'),
  network: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'a network name: 1-32 of a-z 0-9 _ -').optional().describe('mesh name of a node started here (default "mesh", or the genesis network)'),
  listen: z.array(multiaddrText).min(1).max(16).optional().describe('libp2p listen multiaddrs of a node started here, e.g. ["/ip4/0.0.0.0/tcp/4747"] (/tcp/0: any free port)'),
  api: z.string().regex(/^[^\s]{1,200}:\d{1,5}$/, 'host:port').optional().describe('HTTP API host:port of a node started here (default 127.0.0.1:4748; :0 any free port)'),
  bootstrap: z.array(multiaddrText).max(16).optional().describe('seed multiaddrs (ending in /p2p/<PeerId>) a node started here joins through'),
  capabilities: z.array(capability).max(64).optional().describe('capabilities a node started here offers, e.g. ["echo", "sha256"]'),
  genesis: z.string().min(1).max(4096).optional().describe('genesis file of a consensus network, for a node started here'),
  config: z.string().min(1).max(4096).optional().describe('JSON config file (mesh start --config) for a node started here'),
  waitMs: z.number().int().min(1_000).max(120_000).default(30_000).describe('how long to wait for a started node to answer')
}).strict()

export const swarmStatusInput = z.object({
  members: z.boolean().default(true).describe('include the member list (false: counts only)')
}).strict()

export const swarmMonitorInput = z.object({
  prefixes: z.array(z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,127}$/, 'a metric name prefix')).max(16).default(['mesh_'])
    .describe('keep metric families starting with one of these ([] keeps all, libp2p_* and process metrics included)'),
  buckets: z.boolean().default(false).describe('include histogram _bucket series (bulky)'),
  samplesMax: z.number().int().min(1).max(5_000).default(2_000).describe('at most this many samples in the snapshot')
}).strict()

export const daaCommunicationInput = z.object({
  action: z.enum(['send', 'receive']).default('send').describe('send a message, or read this node\'s inbox'),
  to: memberRef.or(z.literal('all')).optional().describe('recipient: a PeerId, a member name, or "all" (send)'),
  body: jsonValue.describe('the message, any JSON value (send)'),
  after: z.string().min(1).max(128).optional().describe('inbox cursor from an earlier receive (receive)'),
  limit: z.number().int().min(1).max(500).optional().describe('at most this many messages (receive)')
}).strict().superRefine(refiner((v, issue) => {
  if (v.action === 'send') needs(issue, v, 'send', ['to', 'body'])
}))

export const daaConsensusInput = z.object({
  action: z.enum(['propose', 'vote', 'status']).describe('propose a decision, vote on one (validators), or show consensus and proposals'),
  proposal: jsonValue.describe('what is proposed, any JSON value ≤ 8 KiB (propose)'),
  threshold: z.number().gt(0).max(1).optional().describe('fraction of validators whose approval decides it (propose; default 0.67)'),
  // [votes] gossip proposal ids are 64 hex digits
  id: z.string().regex(/^(p-\d{1,15}-\d{1,6}|[0-9a-f]{64})$/, 'a proposal id like p-12-0 (pbft/raft) or 64 hex digits (gossip)').optional().describe('proposal id (vote; status of one proposal)'),
  protocol: z.enum(['gossip', 'pbft', 'raft']).optional().describe('propose: gossip (signed votes spread by gossip, eventual; works without a genesis) or the genesis\' pbft/raft (final); default: the genesis\' engine, else gossip. status: list only this protocol'),
  ttlSeconds: z.number().int().min(1).max(7 * 24 * 3600).optional().describe('gossip proposals: seconds until the deadline (default 3600)'),
  decision: z.enum(['approve', 'reject']).optional().describe('the vote (vote)'),
  status: z.enum(['open', 'approved', 'rejected', 'expired']).optional().describe('list only proposals in this status (status)'),
  limit: z.number().int().min(1).max(100).default(20).describe('at most this many proposals (status)')
}).strict().superRefine(refiner((v, issue) => {
  if (v.action === 'propose') needs(issue, v, 'propose', ['proposal'])
  if (v.action === 'vote') needs(issue, v, 'vote', ['id', 'decision'])
}))

export const daaFaultToleranceInput = z.object({
  action: z.enum(['health', 'suspect']).default('health').describe('a member\'s health (every member\'s without peerId), or suspect one now'),
  peerId: memberRef.optional()
}).strict().superRefine(refiner((v, issue) => {
  if (v.action === 'suspect') needs(issue, v, 'suspect', ['peerId'])
}))

export const memoryUsageInput = z.object({
  action: z.enum(['store', 'retrieve', 'list', 'delete']),
  namespace: namespace.optional().describe('default "default"; list without it lists the namespaces'),
  key: key.optional(),
  value: jsonValue.describe('a string is stored as is; any other JSON value is stored as its JSON text (≤ 64 KiB) (store)'),
  prefix: z.string().max(256).optional().describe('only keys starting with this (list)'),
  limit: z.number().int().min(1).max(1000).default(100).describe('at most this many entries (list)'),
  linearizable: z.boolean().default(false).describe('retrieve: first commit a no-op through consensus, so the read reflects every write acknowledged before it'),
  // [eventual]
  consistency: z.enum(['eventual', 'linearizable', 'sequential']).optional().describe('"eventual": the gossip store (every node, no genesis needed; last writer by hybrid logical clock wins; other nodes see a write a moment later); "linearizable" / "sequential": the consensus store (retrieve: linearizable = after a no-op through consensus). Default: the consensus store, or the eventual one on a node without a genesis')
}).strict().superRefine(refiner((v, issue) => {
  if (v.action === 'store') needs(issue, v, 'store', ['key', 'value'])
  if (v.action === 'retrieve' || v.action === 'delete') needs(issue, v, v.action as string, ['key'])
}))

export const performanceReportInput = z.object({
  timeframe: z.string().regex(/^\d{1,5}[smhd]$/, 'a duration like 15m, 1h, 24h or 7d').default('24h')
}).strict()

export const taskOrchestrateInput = z.object({
  action: z.enum(['submit', 'status', 'list', 'cancel']),
  capabilities: z.array(capability).min(1).max(16).optional().describe('what the task needs, e.g. ["echo"] (submit)'),
  payload: jsonValue.describe('the task input, any JSON value (submit)'),
  priority: z.number().int().min(0).max(9).optional().describe('0-9, higher first (submit)'),
  strategy: z.enum(['auction', 'dht']).optional().describe('how the owner is chosen (submit; default auction)'),
  timeoutMs: z.number().int().min(1).max(3_600_000).optional().describe('how long the task may run (submit)'),
  wait: z.boolean().default(false).describe('submit: wait until the task is finished (or waitMs passed)'),
  waitMs: z.number().int().min(1).max(600_000).default(60_000),
  id: taskId.optional().describe('task id (status, cancel; optional for submit)'),
  state: z.enum(['pending', 'assigned', 'running', 'completed', 'failed', 'cancelled']).optional().describe('only tasks in this state (list)'),
  limit: z.number().int().min(1).max(200).default(20).describe('at most this many tasks, newest first (list)')
}).strict().superRefine(refiner((v, issue) => {
  if (v.action === 'submit') needs(issue, v, 'submit', ['capabilities'])
  if (v.action === 'status' || v.action === 'cancel') needs(issue, v, v.action as string, ['id'])
}))

export const topologyOptimizeInput = z.object({
  timeoutMs: z.number().int().min(100).max(60_000).default(10_000).describe('bound on each hang-up and dial')
}).strict()

export const toolSchemas = {
  swarm_init: swarmInitInput,
  swarm_status: swarmStatusInput,
  swarm_monitor: swarmMonitorInput,
  daa_communication: daaCommunicationInput,
  daa_consensus: daaConsensusInput,
  daa_fault_tolerance: daaFaultToleranceInput,
  memory_usage: memoryUsageInput,
  performance_report: performanceReportInput,
  task_orchestrate: taskOrchestrateInput,
  topology_optimize: topologyOptimizeInput
} as const

export type ToolName = keyof typeof toolSchemas

export const toolDescriptions: Record<ToolName, string> = {
  swarm_init: 'Report the local mesh node (PeerId, network, topology "mesh", maxAgents = its --max-peers, members, addresses), or start one on the data dir if none runs (detached; it outlives this server) and wait until its API answers.',
  swarm_status: 'The mesh as the local node sees it: mode (read-write / read-only when partitioned), member counts by state, every member (state, connected, RTT, capabilities, load) and consensus (mode pbft or raft, role, view and primary — on Raft the term and the leader —, last executed).',
  swarm_monitor: 'A metrics snapshot of the local node: its Prometheus /metrics parsed into JSON (mesh_* families by default).',
  daa_communication: 'Send a JSON message to a member (PeerId or name) or to "all" over the mesh; or read this node\'s inbox.',
  daa_consensus: 'Decisions of the mesh: propose (any JSON), vote, or show state and proposals. protocol "pbft"/"raft" (the genesis\' engine): ordered by consensus, validators vote, outcomes final. protocol "gossip" (any mesh, genesis or not): signed by the proposer, the members alive then are eligible, signed votes spread by gossip; approved once approvals reach ⌈threshold × eligible⌉, rejected once that cannot happen, expired after the deadline; eventual (nodes may lag); a member voting both ways counts as none.',
  daa_fault_tolerance: 'Failure detection: a member\'s health (state, silence, RTT, links, current probe round), or mark a member suspect now; the normal path follows (direct and indirect probes, failure only when a majority of helpers cannot reach it; a live member is back to alive at once).',
  memory_usage: 'Shared memory: store, retrieve, list or delete keys in a namespace, in the consensus-ordered store (every write final and ordered) or, with consistency "eventual", the gossip store on every node (last writer wins, spreads in moments, works without a genesis and in partitions). Answers say their consistency.',
  performance_report: 'A performance report of the local node over a timeframe (tasks, consensus, messaging, membership).',
  task_orchestrate: 'Distributed tasks: submit one (the mesh auctions it to a capable member; optionally wait for the result), track it by id, list tasks, or cancel one.',
  topology_optimize: 'Re-balance the local node\'s connections now: hang up on peers above --max-peers (keeping validator and low-RTT links), dial alive members up to --min-peers; returns the connection counts before and after and what was dialed and closed.'
}
