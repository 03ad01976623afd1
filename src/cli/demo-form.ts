/**
 * How `mesh demo` forms its network: `voters` Raft voters (node 1 first), every other node a worker
 * (an observer of the log that runs tasks), formed the way a newcomer would: node 1 founds, the others
 * join it.
 */
import type { ConsensusStatus } from '../runtime/consensus/types.js'
import { CliError } from './client.js'
import { callApi, sleep } from './demo-nodes.js'
import type { DemoCluster, DemoNode } from './demo-nodes.js'

/** Forming waits at most this long for each step (an election, a catch-up) on a loaded box. */
const stepTimeoutMs = 120_000
/** Between retries of a refused membership change. */
const retryIntervalMs = 300

/**
 * Start every node of `cluster` and make nodes 1..`voters` Raft voters (the rest are workers).
 * Resolves once node 1's view of the consensus lists `voters` voters and a leader.
 *
 * Node 1 founds the network as any `mesh start` with no genesis and no --bootstrap does (docs/founding.md);
 * the others join through it and receive its genesis over the network.
 */
export async function formNetwork (cluster: DemoCluster, voters: number, progress: (line: string) => void): Promise<void> {
  await formByFounding(cluster, voters, progress)
}

/**
 * Founding (`--voters auto:N` takes N = 3, 5, 7 or 9). Node 1 starts with no genesis and
 * founds the network (with `--voters auto:3` when there are 3 voters to be), nodes 2..voters join with
 * `--bootstrap <node 1>` and are promoted by node 1 itself, and only then the workers start (so the
 * voters are demo-1..3). With 2 nodes the second is promoted through the API.
 * Restarts of node 1 keep its flags (DemoCluster reuses them).
 */
export async function formByFounding (cluster: DemoCluster, voters: number, progress: (line: string) => void): Promise<void> {
  const first = cluster.node(1)
  const auto = voters >= 3
  progress(`starting ${first.name}: it founds the network${auto ? ` and promotes the first ${voters - 1} joiners to voters` : ''}`)
  const seed = await cluster.start(first, auto ? ['--voters', `auto:${voters}`] : [])
  const address = seed.multiaddrs[0]
  if (address == null) throw new CliError(`${first.name} has no listen address; see ${cluster.logFile(first)}`)
  const joiners = cluster.nodes.slice(1, voters)
  if (joiners.length > 0) progress(`starting ${joiners.map(n => n.name).join(', ')}, joining through ${first.name}`)
  await Promise.all(joiners.map(async node => await cluster.start(node, ['--bootstrap', address])))
  if (!auto) for (const node of joiners) await addVoter(cluster, node)
  await waitForVoters(cluster, voters, progress)
  const workers = cluster.nodes.slice(voters)
  if (workers.length > 0) progress(`starting ${workers.length} worker(s), joining through ${first.name}`)
  await Promise.all(workers.map(async node => await cluster.start(node, ['--bootstrap', address])))
}

/** Node 1's consensus status (null while it does not answer). */
async function consensusOf (cluster: DemoCluster, node: DemoNode): Promise<ConsensusStatus | null> {
  const base = node.runtime?.api
  if (base == null) return null
  try {
    const answer = await callApi<ConsensusStatus>(base, 'GET', '/v1/consensus')
    return answer.status === 200 ? answer.body : null
  } catch {
    return null
  }
}

/** Wait until node 1 sees `voters` voters and a leader. */
export async function waitForVoters (cluster: DemoCluster, voters: number, progress: (line: string) => void): Promise<void> {
  progress(`waiting for ${voters} voter(s) and a leader`)
  const deadline = Date.now() + stepTimeoutMs
  for (;;) {
    const raft = (await consensusOf(cluster, cluster.node(1)))?.raft
    if (raft != null && raft.leader != null && raft.members.filter(m => m.role === 'voter').length >= voters) return
    if (Date.now() > deadline) throw new CliError(`the demo network did not reach ${voters} voters within ${stepTimeoutMs / 1000} s; logs in ${cluster.root}`)
    await sleep(retryIntervalMs)
  }
}

/**
 * A Raft membership change sent to the leader (node 1 normally; a 421 names another leader): retried
 * while refused (no leader yet, a change pending, the learner behind) until it answers 200 or `done`
 * says the change is in force (an earlier attempt that timed out may have applied).
 */
async function changeAtLeader (cluster: DemoCluster, what: string, done: () => Promise<boolean>, path: string, body?: unknown): Promise<void> {
  const deadline = Date.now() + stepTimeoutMs
  let base = cluster.node(1).runtime?.api
  let last = ''
  for (;;) {
    if (await done()) return
    if (base != null) {
      try {
        const answer = await callApi<{ error?: string, leader?: string | null }>(base, 'POST', path, body, 30_000)
        if (answer.status === 200) return
        last = `${answer.status} ${answer.body.error ?? ''}`
        if (answer.status === 421 && answer.body.leader != null) {
          const leader = cluster.nodes.find(n => n.peerId === answer.body.leader)
          if (leader?.runtime != null) base = leader.runtime.api
        }
      } catch (err) {
        last = (err as Error).message
      }
    }
    if (Date.now() > deadline) throw new CliError(`${what} was refused for ${stepTimeoutMs / 1000} s (last answer: ${last}); logs in ${cluster.root}`)
    await sleep(retryIntervalMs)
    base ??= cluster.node(1).runtime?.api
  }
}

/** Add `node` as a learner, then promote it (the leader refuses until it has caught up: retried). */
async function addVoter (cluster: DemoCluster, node: DemoNode): Promise<void> {
  const roleNow = async (): Promise<string | null> => (await consensusOf(cluster, cluster.node(1)))?.raft?.members.find(m => m.peerId === node.peerId)?.role ?? null
  await changeAtLeader(cluster, `adding ${node.name} as a learner`, async () => await roleNow() != null, '/v1/consensus/members', { peerId: node.peerId })
  await changeAtLeader(cluster, `promoting ${node.name}`, async () => await roleNow() === 'voter', `/v1/consensus/members/${encodeURIComponent(node.peerId)}/promote`)
}
