/**
 * What `mesh demo` shows each second: one snapshot of the network, read from one node's API (node 1,
 * or the first running node while node 1 is down), joined with the demo's own process table, and
 * rendered as a table (or printed as one JSON object by --json).
 */
import type { TaskView, ProposalView } from '../core/app/application.js'
import type { ConsensusStatus } from '../runtime/consensus/types.js'
import type { NodeStatus } from '../runtime/mesh-node.js'
import { shortPeerId, table } from './format.js'
import { callApi } from './demo-nodes.js'
import type { DemoCluster, DemoNode } from './demo-nodes.js'

/** The key the demo stores in the consensus memory (namespace "default"). */
export const demoKey = 'demo-key'
/** Tasks the table lists (newest first). */
const recentTasksMax = 5
/** Each read of a snapshot gives up after this long (a node may be down or busy). */
const readTimeoutMs = 2_000

export interface DemoMemberRow {
  name: string
  peerId: string
  /** The viewing node's verdict; "-" when it does not know the member (yet). */
  state: 'alive' | 'suspect' | 'failed' | 'left' | '-'
  role: 'voter' | 'learner' | 'worker'
  leader: boolean
  load: { queued: number, running: number, capacity: number } | null
  /** Of the demo's process for it, now or last. */
  pid: number | null
  /** "running", or how its process ended ("SIGKILL", "exit 1"); "-" for a member the demo did not start. */
  process: string
}

export interface DemoSnapshot {
  time: string
  dir: string
  network: string
  /** The live page: GET / on node 1's API. */
  page: string | null
  /** The node whose view this is (null: no node answered). */
  viewFrom: string | null
  members: DemoMemberRow[]
  consensus: { mode: string, leader: string | null, term: number | null, commitIndex: number | null, appliedIndex: number | null } | null
  tasks: { counts: Record<string, number>, recent: Array<{ id: string, state: string, worker: string | null, result: string | null }> } | null
  value: { key: string, value: string | null, seq: number | null } | null
  proposal: { id: string, status: string, approvals: number, rejections: number, requiredApprovals: number, validatorCount: number } | null
  /** The last thing the demo did or saw (a key press, a member's process ending). */
  status: string | null
  /** How to vote on the open proposal (a command line), null once it is decided. */
  voteCommand: string | null
}

async function read<T> (base: string, path: string): Promise<T | null> {
  try {
    const answer = await callApi<T>(base, 'GET', path, undefined, readTimeoutMs)
    return answer.status === 200 ? answer.body : null
  } catch {
    return null
  }
}

/** The node to read from: node 1 while it runs, else the first running node. */
function viewer (cluster: DemoCluster): DemoNode | null {
  return cluster.nodes.find(n => cluster.running(n) && n.runtime != null) ?? null
}

/**
 * One snapshot of the demo network. `mesh` is how the user runs the CLI (for the vote command).
 */
export async function takeSnapshot (cluster: DemoCluster, extra: { proposalId: string | null, status: string | null, mesh: string }): Promise<DemoSnapshot> {
  const from = viewer(cluster)
  const base = from?.runtime?.api ?? null
  const [status, consensus, tasks, value, proposal] = base == null
    ? [null, null, null, null, null]
    : await Promise.all([
      read<NodeStatus>(base, '/v1/status'),
      read<ConsensusStatus>(base, '/v1/consensus'),
      read<{ counts: Record<string, number>, tasks: TaskView[] }>(base, `/v1/tasks?limit=${recentTasksMax}`),
      read<{ value: string, seq: number }>(base, `/v1/memory/default/${demoKey}`),
      extra.proposalId != null ? read<ProposalView>(base, `/v1/proposals/${encodeURIComponent(extra.proposalId)}`) : Promise.resolve(null)
    ])
  const raft = consensus?.raft
  const first = cluster.node(1)
  return {
    time: new Date().toISOString(),
    dir: cluster.root,
    network: cluster.network,
    page: first.runtime != null ? `${first.runtime.api}/` : null,
    viewFrom: status != null ? from?.name ?? null : null,
    members: memberRows(cluster, status, consensus),
    consensus: consensus == null
      ? null
      : {
          mode: consensus.mode,
          leader: nameOf(cluster, status, raft?.leader ?? consensus.primary),
          term: raft?.term ?? consensus.view,
          commitIndex: raft?.commitIndex ?? consensus.lastExecuted,
          appliedIndex: raft?.appliedIndex ?? consensus.lastExecuted
        },
    tasks: tasks == null
      ? null
      : {
          counts: tasks.counts,
          recent: tasks.tasks.map(t => ({ id: t.id, state: t.state, worker: nameOf(cluster, status, t.assignee), result: t.result ?? t.error ?? null }))
        },
    value: value == null ? { key: demoKey, value: null, seq: null } : { key: demoKey, value: value.value, seq: value.seq },
    proposal: proposal == null
      ? null
      : { id: proposal.id, status: proposal.status, approvals: proposal.approvals, rejections: proposal.rejections, requiredApprovals: proposal.requiredApprovals, validatorCount: proposal.validatorCount },
    status: extra.status,
    voteCommand: proposal?.status === 'open' ? `${extra.mesh} vote ${proposal.id} approve --data-dir ${first.dataDir}` : null
  }
}

function nameOf (cluster: DemoCluster, status: NodeStatus | null, peerId: string | null | undefined): string | null {
  if (peerId == null) return null
  return cluster.nodes.find(n => n.peerId === peerId)?.name ?? status?.members.find(m => m.peerId === peerId)?.name ?? shortPeerId(peerId)
}

/** The demo's nodes in order, then any other member the viewer knows of. */
export function memberRows (cluster: DemoCluster, status: NodeStatus | null, consensus: ConsensusStatus | null): DemoMemberRow[] {
  const raftMembers = consensus?.raft?.members ?? []
  const leader = consensus?.raft?.leader ?? consensus?.primary ?? null
  const roleOf = (peerId: string): DemoMemberRow['role'] => {
    const role = raftMembers.find(m => m.peerId === peerId)?.role
    if (role != null) return role
    // pBFT: the genesis validators vote
    return consensus?.validators.some(v => v.peerId === peerId) === true && consensus.mode === 'pbft' ? 'voter' : 'worker'
  }
  const rows: DemoMemberRow[] = cluster.nodes.map(node => {
    const member = status?.members.find(m => m.peerId === node.peerId)
    return {
      name: node.name,
      peerId: node.peerId,
      state: member?.state ?? '-',
      role: roleOf(node.peerId),
      leader: leader === node.peerId,
      load: member != null ? { queued: member.load.queued, running: member.load.running, capacity: member.load.capacity } : null,
      pid: node.pid,
      process: cluster.running(node) ? 'running' : node.ended ?? 'not started'
    }
  })
  for (const member of status?.members ?? []) {
    if (cluster.nodes.some(n => n.peerId === member.peerId)) continue
    rows.push({ name: member.name, peerId: member.peerId, state: member.state, role: roleOf(member.peerId), leader: leader === member.peerId, load: { queued: member.load.queued, running: member.load.running, capacity: member.load.capacity }, pid: null, process: '-' })
  }
  return rows
}

/** Cut a text to `max` characters on one line. */
function clip (text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ')
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}

/** The live table (plain text, no terminal escapes). */
export function renderSnapshot (s: DemoSnapshot): string {
  const voters = s.members.filter(m => m.role === 'voter').length
  const learners = s.members.filter(m => m.role === 'learner').length
  const workers = s.members.filter(m => m.role === 'worker').length
  const count = (state: string): number => s.members.filter(m => m.state === state).length
  const lines: string[] = [
    `MEMBERS    ${s.members.length}: ${voters} voter${voters === 1 ? '' : 's'}, ${learners > 0 ? `${learners} learner${learners === 1 ? '' : 's'}, ` : ''}${workers} worker${workers === 1 ? '' : 's'}   ` +
      `alive ${count('alive')}  suspect ${count('suspect')}  failed ${count('failed')}   (as ${s.viewFrom ?? 'no node'} sees them)`,
    table(['NAME', 'PEER', 'STATE', 'ROLE', 'LOAD (run/cap, queue)', 'PID', 'PROCESS'], s.members.map(m => [
      m.name,
      shortPeerId(m.peerId),
      m.state,
      m.role + (m.leader ? ' (leader)' : ''),
      m.load != null ? `${m.load.running}/${m.load.capacity}, ${m.load.queued}` : '-',
      m.pid != null ? String(m.pid) : '-',
      m.process
    ])),
    '',
    `CONSENSUS  ${s.consensus == null ? 'no answer' : `${s.consensus.mode}   leader ${s.consensus.leader ?? '- (none: writes wait)'}   term ${s.consensus.term ?? '-'}   commit index ${s.consensus.commitIndex ?? '-'}   applied ${s.consensus.appliedIndex ?? '-'}`}`
  ]
  if (s.tasks == null) {
    lines.push('TASKS      no answer')
  } else {
    const counts = Object.entries(s.tasks.counts).filter(([, n]) => n > 0).map(([state, n]) => `${state} ${n}`).join('  ')
    lines.push(`TASKS      ${counts === '' ? 'none yet' : counts}`)
    if (s.tasks.recent.length > 0) {
      lines.push(table(['  TASK', 'STATE', 'WORKER', 'RESULT'], s.tasks.recent.map(t => [`  ${clip(t.id, 24)}`, t.state, t.worker ?? '-', t.result != null ? clip(t.result, 60) : '-'])))
    }
  }
  lines.push('')
  lines.push(`VALUE      ${s.value == null || s.value.value == null ? `default/${s.value?.key ?? demoKey}: not stored yet` : `default/${s.value.key} = ${clip(JSON.stringify(s.value.value), 60)}   (written at seq ${s.value.seq ?? '?'})`}`)
  lines.push(`PROPOSAL   ${s.proposal == null ? 'none yet' : `${s.proposal.id}: ${s.proposal.status}   ${s.proposal.approvals} approve, ${s.proposal.rejections} reject; needs ${s.proposal.requiredApprovals} of ${s.proposal.validatorCount}`}`)
  if (s.voteCommand != null) lines.push(`           vote on it: ${s.voteCommand}`)
  if (s.status != null) lines.push('', `>> ${s.status}`)
  return lines.join('\n')
}
