/**
 * A scenario is data (like hotstuff's twins scenarios): the cluster, the network's behaviour, the
 * clients, the Byzantine replicas and the fault schedule. A seed maps to one deterministically
 * (scenarios.ts); the simulator (network.ts) runs it; the same scenario always gives the same run.
 */
import type { Message, ReplicaConfig, ReplicaId } from '../../src/core/pbft/types.js'

export type BehaviourName =
  /** As primary: different PRE-PREPAREs (different batches) for one sequence to two halves of the replicas. */
  | 'equivocate'
  /** PREPARE and COMMIT for two digests at one (view, seq). */
  | 'double-vote'
  /** Sends PRE-PREPAREs while not the primary. */
  | 'fake-primary'
  /** Sends copies of messages with a signature that does not verify, or claiming another `from`. */
  | 'forge-signature'
  /** Forged certificates inside its VIEW-CHANGE / NEW-VIEW (embedded signatures, duplicate voters…). */
  | 'forge-certificate'
  /** Re-sends old messages (its own and others', validly signed) from earlier views and sequences. */
  | 'replay'
  /** Sends nothing, replies nothing. */
  | 'silent'
  /** Replies with a wrong result. */
  | 'wrong-reply'
  /** Answers FETCH-STATE with a snapshot that does not match the proof. */
  | 'lying-state'
  /** As primary: puts requests that already executed back into its batches (they must not execute again). */
  | 'resubmit-executed'
  /** Leaves some or all prepared certificates out of its (validly signed) VIEW-CHANGEs: undetectable. */
  | 'hide-prepared'
  /** Restarts from an empty record list, or a prefix of it (scheduled with an 'amnesia' fault). */
  | 'amnesia'
  /** Ignores client c0's requests and forwards of them: as primary it never orders them (others' it does). */
  | 'censor'

export interface NetworkOptions {
  /** One-way delay between replicas, uniform in [min, max]: different delays reorder messages. */
  delayMinMs: number
  delayMaxMs: number
  /** Probability that a replica-to-replica message is lost (until heal). */
  dropProbability: number
  /** Probability that a message is delivered twice (stays after heal: duplicates are not faults). */
  duplicateProbability: number
  /** Probability that a client request or reply is lost (until heal). */
  clientDropProbability: number
  /** Every live replica gets a tick this often. */
  tickMs: number
}

export interface ClientOptions {
  count: number
  requestsPerClient: number
  /** Requests a client may have outstanding at once (1 = closed loop, as in the paper). */
  pipeline: number
  /**
   * Where a request is first sent: the primary of the highest view seen in replies, a random replica, or
   * all. 'all-no-forward': to all, marked `forward: false` (as the runtime's clients do), and so are its
   * re-sends: a backup passes it on to the primary only if it is still unordered after `retransmitMs`.
   */
  submitPolicy: 'primary' | 'random' | 'all' | 'all-no-forward'
  /** A request not done after this long is re-sent to every replica, and again every period. */
  retransmitMs: number
  /** Pause between a reply and the next request, uniform in [0, max]. */
  thinkMsMax: number
  /** How long after the start clients begin, uniform in [0, max]. */
  startMsMax: number
}

export type FaultEvent =
  /** Stop a replica; `torn`: in the middle of its next step's effects (what it persisted so far stays). */
  | { atMs: number, kind: 'crash', replica: ReplicaId, torn?: boolean }
  /** Rebuild a crashed replica with Replica.restore from its persisted records, a fresh app. */
  | { atMs: number, kind: 'restart', replica: ReplicaId }
  /**
   * Crash and restart from an empty record list, or from the first `keepFraction` of its records (a disk
   * that lost its last writes): only for a replica listed as Byzantine, since it may then contradict itself.
   */
  | { atMs: number, kind: 'amnesia', replica: ReplicaId, keepFraction?: number }
  /** Groups that can reach only themselves; replicas not listed are isolated. */
  | { atMs: number, kind: 'partition', groups: ReplicaId[][] }
  | { atMs: number, kind: 'heal-partition' }
  /** Change the loss rate: of every message, or (`types`) of those message types only (clogging one kind). */
  | { atMs: number, kind: 'drop', probability: number, types?: Array<Message['type']> }
  /** Client requests sent to these replicas are lost with this probability (until heal), e.g. every copy to the primary. */
  | { atMs: number, kind: 'client-drop', probability: number, to: ReplicaId[] }

export interface ByzantineSpec {
  replica: ReplicaId
  behaviours: BehaviourName[]
}

export interface Scenario {
  name: string
  seed: number
  n: number
  replica: Omit<ReplicaConfig, 'id' | 'n'>
  network: NetworkOptions
  clients: ClientOptions
  /** At most f replicas. */
  byzantine: ByzantineSpec[]
  faults: FaultEvent[]
  /**
   * From here on the network is good: partitions healed, no loss, every crashed replica restarted
   * (except `keepDown`). Every request must then be done within `livenessBoundMs` of
   * max(its submission, healAtMs).
   */
  healAtMs: number
  /** Honest replicas that stay crashed after heal (with the Byzantine ones, at most f). */
  keepDown: ReplicaId[]
  livenessBoundMs: number
  /**
   * Idle catch-up (liveness): once every request is done, every fault has happened and the network is
   * healed, clients send nothing more; within this bound every correct (honest, running) replica must
   * reach the highest sequence any correct replica executed. @default 1000 + 30 × retransmitMs
   */
  idleCatchUpBoundMs?: number
  /**
   * Idle catch-up also means every correct running replica is active in one view (a restarted one has
   * joined the view the others run in), not only caught up in sequence numbers. @default false
   */
  idleCatchUpInView?: boolean
  /** Added to the simulated time in each replica's inputs: the core must not compare clocks. */
  clockOffsetMs: number[]
}

/** One line: what this scenario does. */
export function describeScenario (scenario: Scenario): string {
  const parts = [`n=${scenario.n}`, `K=${scenario.replica.checkpointInterval}`, `batch≤${scenario.replica.batchSizeMax}`,
    `delay ${scenario.network.delayMinMs}-${scenario.network.delayMaxMs}ms`, `vc ${scenario.replica.viewChangeTimeoutMs}ms`,
    `clients ${scenario.clients.count}×${scenario.clients.requestsPerClient} (${scenario.clients.submitPolicy}, pipeline ${scenario.clients.pipeline})`]
  if (scenario.replica.pipelineMax !== undefined) parts.splice(3, 0, `pipeline≤${scenario.replica.pipelineMax}`)
  if (scenario.network.dropProbability > 0) parts.push(`drop ${scenario.network.dropProbability.toFixed(2)}`)
  if (scenario.network.duplicateProbability > 0) parts.push(`dup ${scenario.network.duplicateProbability.toFixed(2)}`)
  if (scenario.network.clientDropProbability > 0) parts.push(`client-drop ${scenario.network.clientDropProbability.toFixed(2)}`)
  for (const b of scenario.byzantine) parts.push(`byz ${b.replica}:${b.behaviours.join('+')}`)
  const counts = new Map<string, number>()
  for (const fault of scenario.faults) {
    const label = fault.kind === 'drop' && fault.types !== undefined
      ? `drop[${fault.types.join('+')}]`
      : fault.kind === 'client-drop' ? `client-drop[→${fault.to.join(',')}]` : fault.kind
    counts.set(label, (counts.get(label) ?? 0) + 1)
  }
  for (const [kind, count] of counts) parts.push(`${kind}×${count}`)
  if (scenario.keepDown.length > 0) parts.push(`down ${scenario.keepDown.join(',')}`)
  parts.push(`heal@${scenario.healAtMs}ms`)
  return `${scenario.name}: ${parts.join(', ')}`
}
