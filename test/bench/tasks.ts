/**
 * `npm run bench -- tasks`: task distribution on the validator processes of a `mesh testnet` on
 * 127.0.0.1 (pBFT n = 4, Raft n = 3), each offering `echo,sha256` (the built-in in-process handlers)
 * and running up to <cpus> tasks at once. For each engine and strategy (auction, dht):
 * - latency at one outstanding task, through one node: submit→start and submit→complete seen by
 *   polling `GET /v1/tasks/:id` (granularity: the poll interval), and submit→complete exactly with
 *   `POST /v1/tasks?wait=1`;
 * - sustained throughput: N trivial `echo` tasks submitted by a bounded number of concurrent submitters
 *   spread over the nodes' HTTP APIs, from the first submit until one node's table shows none open;
 * - what it costs: sequence numbers, frames, bundles and fsyncs (`GET /v1/consensus` before/after) and
 *   CPU seconds per node process, per task.
 * The caller owns the cluster (and stops it).
 */
import { loadavg } from 'node:os'
import { sleep, waitUntil } from '../e2e/harness.js'
import type { Cluster, NodeProcess, TestnetNode } from '../e2e/harness.js'
import { progress } from './cluster.js'
import { cpuSeconds } from './proc.js'
import { distribution, round } from './stats.js'

export type Strategy = 'auction' | 'dht'
export type Engine = 'pbft' | 'raft'

export interface TasksBenchOptions {
  /** Throughput: tasks per strategy. */
  tasks: number
  /** Throughput: concurrent submitters (round-robin over the nodes). */
  submitters: number
  /** Batched throughput: tasks per POST (`{"tasks": [...]}`), and how many tasks in all (0: skip). */
  batch: number
  batchedTasks: number
  batchedSubmitters: number
  /** Latency: tasks per sample, one outstanding at a time. */
  sample: number
  /** Latency: how often `GET /v1/tasks/:id` is polled. */
  pollMs: number
  /** Throughput: how often one node's task counts are polled for completion. */
  countsPollMs: number
  /** Throughput: give up waiting for completion after this long (reported, not thrown). */
  completionDeadlineMs: number
  /** `--max-concurrent` of every node. */
  maxConcurrent: number
  strategies: Strategy[]
  /** The consensus engine of the testnet (pBFT: 4 validators, Raft: 3 members). */
  engine: Engine
}

interface TaskHistoryEntry { seq: number, event: string, node?: string | null, assignment: number }

interface TaskView {
  id: string
  state: string
  assignee: string | null
  submittedSeq: number
  updatedSeq: number
  history: TaskHistoryEntry[]
}

interface TaskList {
  counts: Record<string, number>
  node: Record<string, unknown>
}

interface ConsensusStats {
  primary: string | null
  lastExecuted: number
  view: number
  validators: Array<{ connected: boolean }>
  persisted: { fsyncs: number, records: number }
  frames: { received: Record<string, number>, sent: Record<string, number> }
  bundles: { count: number, operations: number }
  dropped: Record<string, number>
}

interface Submitted { id: string, seq: number, task?: TaskView }

const terminal = new Set(['completed', 'failed', 'cancelled'])
/** Scheduler counters (GET /v1/tasks → node) worth reporting as per-phase deltas. */
const schedulerCounters = ['committedDecisions', 'committedOperations', 'submitted', 'auctions', 'awards', 'dhtRoutes', 'noBids', 'steals', 'stolen', 'migrations', 'failovers', 'started', 'completed', 'failed', 'proposalErrors']

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0)

function causeOf (err: unknown): string {
  const e = err as Error & { cause?: Error }
  return (e.cause?.message ?? e.message ?? String(err)).slice(0, 60)
}

function count (counter: Record<string, number>, key: string): void {
  counter[key] = (counter[key] ?? 0) + 1
}

async function getJson<T> (node: NodeProcess, path: string, timeoutMs = 10_000): Promise<T> {
  const res = await fetch(`${node.api}${path}`, { signal: AbortSignal.timeout(timeoutMs) })
  if (!res.ok) throw new Error(`GET ${path} on ${node.name}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`)
  return await res.json() as T
}

/** One submission; the answer, or the cause of the failure (counted by the caller). */
async function submit (node: NodeProcess, strategy: Strategy, i: number, wait: boolean): Promise<Submitted | { error: string }> {
  try {
    const res = await fetch(`${node.api}/v1/tasks${wait ? '?wait=1&timeoutMs=30000' : ''}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ capabilities: ['echo'], payload: { i }, strategy }),
      signal: AbortSignal.timeout(60_000)
    })
    const body = await res.json() as Submitted & { error?: string }
    if (res.status !== (wait ? 200 : 202)) return { error: `http ${res.status}${body.error != null ? `: ${body.error.slice(0, 50)}` : ''}` }
    return body
  } catch (err) {
    return { error: causeOf(err) }
  }
}

/** One POST of `count` tasks (`{"tasks": [...]}`): the submitted ones, and an error per refused one. */
async function submitBatch (node: NodeProcess, strategy: Strategy, first: number, count: number): Promise<Array<Submitted | { error: string }>> {
  try {
    const tasks = Array.from({ length: count }, (_, k) => ({ capabilities: ['echo'], payload: { i: first + k }, strategy }))
    const res = await fetch(`${node.api}/v1/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tasks }),
      signal: AbortSignal.timeout(120_000)
    })
    const body = await res.json() as { tasks?: Array<{ ok: boolean, id: string, seq: number, error?: string }>, error?: string }
    if (body.tasks == null) return tasks.map(() => ({ error: `http ${res.status}${body.error != null ? `: ${body.error.slice(0, 50)}` : ''}` }))
    return body.tasks.map(t => t.ok ? { id: t.id, seq: t.seq } : { error: (t.error ?? 'refused').slice(0, 50) })
  } catch (err) {
    return Array.from({ length: count }, () => ({ error: causeOf(err) }))
  }
}

async function consensusOf (node: NodeProcess): Promise<ConsensusStats> {
  return await getJson<ConsensusStats>(node, '/v1/consensus')
}

/** The per-node scheduler counters (GET /v1/tasks → node), numbers only. */
async function schedulerOf (node: NodeProcess): Promise<Record<string, number>> {
  const list = await getJson<TaskList>(node, '/v1/tasks?limit=1')
  const out: Record<string, number> = {}
  for (const key of schedulerCounters) {
    const value = list.node[key]
    if (typeof value === 'number') out[key] = value
  }
  return out
}

const loadNow = (): number[] => loadavg().map(v => Math.round(v * 100) / 100)

/** The members of a `mesh testnet` (pBFT: 4, Raft: 3), started through the harness, connected and seeing each other's capabilities. */
export async function startTaskMesh (cluster: Cluster, maxConcurrent: number, engine: Engine = 'pbft'): Promise<NodeProcess[]> {
  const testnet = { nodes: cluster.testnet(engine === 'raft' ? 3 : 4, { consensus: engine }) }
  const extra = (config: string): string[] => ['--config', config, '--capabilities', 'echo,sha256', '--max-concurrent', String(maxConcurrent)]
  const first = testnet.nodes[0] as TestnetNode
  const seed = await cluster.start(first.name, { dataDir: first.dataDir, extraArgs: extra(first.config) })
  const seedAddress = seed.runtime.multiaddrs[0] as string
  const nodes = [seed, ...await Promise.all(testnet.nodes.slice(1).map(async v =>
    await cluster.start(v.name, { dataDir: v.dataDir, bootstrap: [seedAddress], extraArgs: extra(v.config) })))]
  for (const node of nodes) {
    await waitUntil(`${node.name} connected to every validator, a primary/leader known`, 120_000, async () => {
      const c = await consensusOf(node)
      return c.validators.every(v => v.connected) && c.primary != null ? true : undefined
    }, 250)
    // auctions and DHT routing only consider alive members whose gossiped capabilities match
    await cluster.waitForStatus(node, `${nodes.length} alive members offering echo`, s =>
      s.members.filter(m => m.state === 'alive' && m.capabilities.includes('echo')).length === nodes.length, 120_000)
  }
  return nodes
}

/** One outstanding task at a time through `node`: submit→start/complete by polling, then submit→complete with ?wait=1. */
async function latencyPhase (node: NodeProcess, strategy: Strategy, options: TasksBenchOptions): Promise<Record<string, unknown>> {
  const errors: Record<string, number> = {}
  const ack: number[] = []
  const toAssigned: number[] = []
  const toStart: number[] = []
  const toComplete: number[] = []
  const seqsUsed: number[] = []
  let notCompleted = 0
  let polls = 0
  let seenRunning = 0
  for (let i = 0; i < options.sample; i++) {
    const started = performance.now()
    const submitted = await submit(node, strategy, i, false)
    if ('error' in submitted) { count(errors, submitted.error); continue }
    ack.push(performance.now() - started)
    let view: TaskView | undefined
    let assignedSeen: number | undefined
    let startSeen: number | undefined
    const deadline = started + 30_000
    for (;;) {
      try {
        view = await getJson<TaskView>(node, `/v1/tasks/${encodeURIComponent(submitted.id)}`)
        polls++
      } catch (err) {
        count(errors, `poll: ${causeOf(err)}`)
      }
      const now = performance.now()
      if (view?.state === 'running' && startSeen == null) seenRunning++
      if (view != null && assignedSeen == null && view.state !== 'pending') {
        assignedSeen = now
        toAssigned.push(now - started)
      }
      if (view != null && startSeen == null && (view.state === 'running' || terminal.has(view.state))) {
        startSeen = now
        toStart.push(now - started)
      }
      if (view != null && terminal.has(view.state)) {
        if (view.state === 'completed') {
          toComplete.push(now - started)
          seqsUsed.push(view.updatedSeq - view.submittedSeq + 1)
        } else {
          count(errors, `task ${view.state}`)
        }
        break
      }
      if (now > deadline) { notCompleted++; break }
      await sleep(options.pollMs)
    }
  }
  const waited: number[] = []
  for (let i = 0; i < options.sample; i++) {
    const started = performance.now()
    const submitted = await submit(node, strategy, options.sample + i, true)
    if ('error' in submitted) { count(errors, `wait=1: ${submitted.error}`); continue }
    if (submitted.task?.state !== 'completed') { count(errors, `wait=1: task ${submitted.task?.state ?? 'missing'}`); continue }
    waited.push(performance.now() - started)
  }
  progress(`tasks ${strategy}: latency sample of ${options.sample} + ${options.sample} done`)
  return {
    throughNode: node.name,
    sample: options.sample,
    note: `${options.sample} polled tasks, then ${options.sample} with ?wait=1, one outstanding at a time (p99 of ${options.sample} is close to the max)`,
    submitAckMs: { ...distribution(ack, 2), note: 'POST /v1/tasks → 202: the task.submit committed (f+1 matching replies)' },
    submitToAssignedMs: {
      ...distribution(toAssigned, 2),
      note: `scheduling latency: POST until GET /v1/tasks/:id first shows the task past pending (task.assign committed), polled every ${options.pollMs} ms after the 202: granularity ≈ ${options.pollMs} ms + one GET; a submitted task waits for its submitter's next scheduling round (TaskService intervalMs, 500 ms by default)`
    },
    submitToStartMs: {
      ...distribution(toStart, 2),
      note: `POST until the poll first shows running or completed (an upper bound, granularity ≈ ${options.pollMs} ms + one GET); an echo task ends before its task.start commits, so task.start and task.complete usually commit together and running is rarely seen (see tasksSeenRunning): this is then the completion`
    },
    submitToCompletePolledMs: { ...distribution(toComplete, 2), note: `same tasks, until the poll shows completed (granularity ≈ ${options.pollMs} ms + one GET)` },
    submitToCompleteMs: { ...distribution(waited, 2), note: `${options.sample} more tasks with POST /v1/tasks?wait=1: exact, from request to the answer carrying the completed task (submit, ${strategy === 'auction' ? 'auction, ' : 'XOR routing, '}assign, complete, and start for a task running over 200 ms)` },
    sequenceNumbersPerTask: { ...distribution(seqsUsed, 1), note: 'updatedSeq − submittedSeq + 1 of each polled task: consensus instances its lifecycle spanned' },
    polls,
    tasksSeenRunning: seenRunning,
    notCompletedIn30s: notCompleted,
    errors
  }
}

/** N tasks through every node by `submitters` concurrent submitters; wait until none is open. */
async function throughputPhase (nodes: NodeProcess[], strategy: Strategy, options: TasksBenchOptions): Promise<Record<string, unknown>> {
  const watcher = nodes[0] as NodeProcess
  const submitErrors: Record<string, number> = {}
  const pollErrors: Record<string, number> = {}
  const ids: string[] = []
  let maxSeq = 0
  const loadavgAtStart = loadNow()
  const before = await Promise.all(nodes.map(consensusOf))
  const schedulerBefore = await Promise.all(nodes.map(schedulerOf))
  const cpuBefore = nodes.map(n => cpuSeconds(n.pid) ?? 0)
  const benchCpuBefore = process.cpuUsage()

  let next = 0
  let submitting = true
  const started = performance.now()
  const batch = Math.max(1, options.batch)
  const submitters = Promise.all(Array.from({ length: options.submitters }, async (_, w) => {
    for (;;) {
      const i = next
      if (i >= options.tasks) return
      const n = Math.min(batch, options.tasks - i)
      next += n
      const outcomes = batch === 1
        ? [await submit(nodes[w % nodes.length] as NodeProcess, strategy, i, false)]
        : await submitBatch(nodes[w % nodes.length] as NodeProcess, strategy, i, n)
      for (const submitted of outcomes) {
        if ('error' in submitted) { count(submitErrors, submitted.error); continue }
        ids.push(submitted.id)
        maxSeq = Math.max(maxSeq, submitted.seq)
      }
    }
  })).finally(() => { submitting = false })

  // completion: all submits answered, the watcher has executed the last submit, and it shows no open task
  // (earlier phases left only finished tasks behind, so every open task is one of ours)
  let submittedMs: number | null = null
  let completedMs: number | null = null
  let lastCounts: Record<string, number> = {}
  let peakOpen = 0
  let countPolls = 0
  const deadline = started + options.completionDeadlineMs
  for (;;) {
    if (!submitting && submittedMs == null) submittedMs = performance.now() - started
    try {
      const list = await getJson<TaskList>(watcher, '/v1/tasks?state=completed&limit=1')
      countPolls++
      const at = performance.now()
      lastCounts = list.counts
      const open = (list.counts.pending ?? 0) + (list.counts.assigned ?? 0) + (list.counts.running ?? 0)
      peakOpen = Math.max(peakOpen, open)
      if (submittedMs != null && open === 0 && (await consensusOf(watcher)).lastExecuted >= maxSeq) {
        completedMs = at - started
        break
      }
    } catch (err) {
      count(pollErrors, causeOf(err))
    }
    if (performance.now() > deadline) break
    await sleep(options.countsPollMs)
  }
  await submitters
  const cpu = nodes.map((n, i) => (cpuSeconds(n.pid) ?? 0) - (cpuBefore[i] as number))
  const benchCpu = process.cpuUsage(benchCpuBefore)
  const loadavgAtEnd = loadNow()
  const after = await Promise.all(nodes.map(consensusOf))
  const schedulerAfter = await Promise.all(nodes.map(schedulerOf))
  // decisions and operations committed during the phase, as the watcher's task runtime observed them
  const watcherCommitted = (key: string): number => ((schedulerAfter[0] as Record<string, number>)[key] ?? 0) - ((schedulerBefore[0] as Record<string, number>)[key] ?? 0)
  const decisions = watcherCommitted('committedDecisions')
  const operations = watcherCommitted('committedOperations')

  // every acknowledged task, as the watcher's table has it now
  const states: Record<string, number> = {}
  const perAssignee: Record<string, number> = {}
  // moves per task (stolen + migrated events in its committed history)
  const movesPerTask: number[] = []
  const nameOf = new Map(nodes.map(n => [n.runtime.peerId, n.name]))
  let checked = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    for (;;) {
      const id = ids[checked++]
      if (id == null) return
      try {
        const view = await getJson<TaskView>(watcher, `/v1/tasks/${encodeURIComponent(id)}`)
        count(states, view.state)
        movesPerTask.push(view.history.filter(h => h.event === 'stolen' || h.event === 'migrated').length)
        if (view.state === 'completed' && view.assignee != null) count(perAssignee, nameOf.get(view.assignee) ?? view.assignee)
      } catch (err) {
        count(states, `unreadable (${causeOf(err).slice(0, 40)})`)
      }
    }
  }))

  const completed = states.completed ?? 0
  const elapsedMs = completedMs ?? (performance.now() - started)
  const seqs = (after[0] as ConsensusStats).lastExecuted - (before[0] as ConsensusStats).lastExecuted
  const diff = (pick: (c: ConsensusStats) => number): number => sum(after.map(pick)) - sum(before.map(pick))
  const framesIn = diff(c => sum(Object.values(c.frames.received)))
  const framesOut = diff(c => sum(Object.values(c.frames.sent)))
  const scheduler: Record<string, number> = {}
  for (const key of schedulerCounters.filter(k => !k.startsWith('committed'))) {
    const delta = sum(schedulerAfter.map(s => s[key] ?? 0)) - sum(schedulerBefore.map(s => s[key] ?? 0))
    if (delta !== 0) scheduler[key] = delta
  }
  const tasksPerSecond = completedMs != null ? completed / (completedMs / 1000) : null
  const perTask = Math.max(1, completed)
  const moves = {
    mean: round(sum(movesPerTask) / Math.max(1, movesPerTask.length), 4),
    max: Math.max(0, ...movesPerTask),
    tasksMoved: movesPerTask.filter(m => m > 0).length,
    tasksMovedMoreThanOnce: movesPerTask.filter(m => m > 1).length,
    note: 'stolen + migrated events per task in its committed history'
  }
  const benchCpuSeconds = (benchCpu.user + benchCpu.system) / 1e6
  progress(`tasks ${options.engine} ${strategy}${batch > 1 ? ` (${batch} per POST)` : ''}: ${round(tasksPerSecond, 1) ?? '-'} tasks/s; ${round(decisions / perTask, 3)} decisions and ${round(operations / perTask, 3)} operations per task; ${round(sum(cpu) * 1000 / perTask, 2)} CPU ms per task (nodes), ${round(benchCpuSeconds * 1000 / perTask, 2)} (load generator); load ${loadavgAtStart.join(' ')} → ${loadavgAtEnd.join(' ')}`)
  progress(`tasks ${strategy}: ${completed}/${options.tasks} completed in ${Math.round(elapsedMs)} ms${completedMs == null ? ' (deadline: not all finished)' : ''}; moves per task mean ${moves.mean}, max ${moves.max} (${moves.tasksMoved} moved, ${moves.tasksMovedMoreThanOnce} more than once)`)
  return {
    tasks: options.tasks,
    submitters: options.submitters,
    tasksPerRequest: batch,
    acknowledged: ids.length,
    completed,
    failed: {
      submits: sum(Object.values(submitErrors)),
      tasks: (states.failed ?? 0) + (states.cancelled ?? 0),
      notFinished: ids.length - completed - (states.failed ?? 0) - (states.cancelled ?? 0),
      submitsByCause: submitErrors,
      finalStates: states
    },
    allFinished: completedMs != null,
    submitPhaseMs: round(submittedMs, 0),
    elapsedMs: round(elapsedMs, 0),
    tasksPerSecond: round(tasksPerSecond, 1),
    submitsPerSecond: submittedMs != null ? round(ids.length / (submittedMs / 1000), 1) : null,
    amortisedMsPerTask: tasksPerSecond != null && tasksPerSecond > 0 ? round(1000 / tasksPerSecond, 3) : null,
    peakOpenTasks: peakOpen,
    countsPollErrors: pollErrors,
    completedPerNode: perAssignee,
    countsAtEnd: lastCounts,
    timing: `from the first POST until a GET /v1/tasks on ${watcher.name} (polled every ${options.countsPollMs} ms, ${countPolls} polls) shows no pending/assigned/running task and ${watcher.name} has executed the last submit: granularity ≈ ${options.countsPollMs} ms + one GET`,
    loadavgAtStart,
    loadavgAtEnd,
    consensus: {
      decisionsPerTask: round(decisions / perTask, 3),
      operationsPerTask: round(operations / perTask, 3),
      decisions,
      operations,
      decisionsNote: `committed decisions (pBFT sequence numbers / Raft log entries) and the operations they carried (a bundle counts its operations), as ${watcher.name}'s task runtime observed them during the phase (warm-up and latency phases excluded); every committed operation counts, refused ones too`,
      sequenceNumbersUsed: seqs,
      sequenceNumbersPerTask: round(seqs / perTask, 3),
      operationsPerDecision: round(operations / Math.max(1, decisions), 2),
      bundlesSent: diff(c => c.bundles.count),
      operationsInBundles: diff(c => c.bundles.operations),
      fsyncsAllNodes: diff(c => c.persisted.fsyncs),
      framesReceivedAllNodes: framesIn,
      framesSentAllNodes: framesOut,
      framesReceivedPerTask: round(framesIn / perTask, 2),
      viewAtEnd: (after[0] as ConsensusStats).view,
      note: `counters summed over the ${nodes.length} nodes; bundles exist on pBFT only (Raft batches requests into one log entry)`
    },
    cpu: {
      secondsPerNode: cpu.map(c => round(c, 2)),
      msPerTaskAllNodes: round(sum(cpu) * 1000 / perTask, 3),
      benchProcessSeconds: round(benchCpuSeconds, 2),
      benchMsPerTask: round(benchCpuSeconds * 1000 / perTask, 3),
      note: 'user+system CPU of each node process (/proc/<pid>/stat) from the first submit to completion; the load generator (this process) shares the machine'
    },
    movesPerTask: moves,
    executionsPerTask: completed > 0 && scheduler.started != null ? round(scheduler.started / completed, 2) : null,
    executionsNote: 'scheduler.started summed over the nodes ÷ completed tasks: runs of the handler per task (1 would be at-most-once execution; above 1, a task ran again while the table still showed it assigned — only one result is accepted, by the assignment fence)',
    scheduler
  }
}

export async function runTasksBench (cluster: Cluster, options: TasksBenchOptions): Promise<Record<string, unknown>> {
  const loadavgAtStart = loadNow()
  const nodes = await startTaskMesh(cluster, options.maxConcurrent, options.engine)
  progress(`tasks ${options.engine}: ${nodes.length} validators up, connected, every one offering echo`)
  // warm up: streams between the nodes, auction protocol streams, JIT; both strategies through every node
  for (const strategy of options.strategies) {
    await Promise.all(nodes.map(async (node, n) => {
      for (let i = 0; i < 2; i++) {
        const r = await submit(node, strategy, -1 - n * 10 - i, true) // ?wait=1: one at a time per node
        if ('error' in r) throw new Error(`warm-up task through ${node.name} (${strategy}) failed: ${r.error}`)
      }
    }))
  }
  await sleep(1_000)

  const byStrategy: Record<string, unknown> = {}
  for (const strategy of options.strategies) {
    progress(`tasks: strategy ${strategy}`)
    try {
      const latency = await latencyPhase(nodes[0] as NodeProcess, strategy, options)
      await sleep(1_000)
      const throughput = await throughputPhase(nodes, strategy, options)
      await sleep(1_000)
      // the same, with the tasks sent in batches (one POST and one submit bundle for many tasks)
      const batched = options.batchedTasks > 0
        ? await throughputPhase(nodes, strategy, { ...options, tasks: options.batchedTasks, submitters: options.batchedSubmitters, batch: options.batch })
        : null
      byStrategy[strategy] = { latency, throughput, ...(batched != null ? { batched } : {}) }
    } catch (err) {
      byStrategy[strategy] = { error: (err as Error).message }
    }
    await sleep(1_000)
  }
  const final = await consensusOf(nodes[0] as NodeProcess)
  return {
    engine: options.engine,
    loadavgAtStart,
    loadavgAtEnd: loadNow(),
    nodes: nodes.length,
    validators: nodes.length,
    capabilities: ['echo', 'sha256'],
    maxConcurrentPerNode: options.maxConcurrent,
    ...byStrategy,
    finalView: final.view,
    dropped: final.dropped,
    reference: {
      ray: 'Ray: 981 tasks/s from a single client submitting tasks synchronously (Ray microbenchmark "single client tasks sync")',
      dask: 'Dask distributed: "each task suffers about 1ms of overhead" (a central scheduler, no consensus)',
      aim: { tasksPerSecond: 2000, schedulingOverheadMs: 1 },
      compare: 'tasksPerSecond and amortisedMsPerTask (1000 / tasksPerSecond) against the aim; latency.submitToStartMs is the one-at-a-time scheduling latency (every step of a task is a committed consensus decision, so it is bounded below by consensus rounds, not by 1 ms)'
    },
    note: `all ${nodes.length} nodes are validators (${options.engine}) on 127.0.0.1 with --heartbeat-interval-ms 1000 --failure-timeout-ms 10000; submitters spread round-robin over the ${nodes.length} HTTP APIs; the load generator shares the machine (a shared, noisy 2-core box)`
  }
}
