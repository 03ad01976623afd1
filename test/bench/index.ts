/**
 * `npm run bench`: real `mesh start` processes on 127.0.0.1, measured from outside.
 *
 *   join12, join24  star start (all joiners spawned at once, each knowing only the seed): time until
 *                   every node's /v1/status shows N alive members, and until every node is connected
 *                   to the N−1 others
 *   gossip          in the 12-node mesh: heartbeat propagation from MESH_TRACE=gossip lines, and the
 *                   libp2p ping RTT the nodes measured over their connections (the floor)
 *   rss             idle VmRSS per node (12-node mesh, and 24 if that phase ran)
 *   failure         in the 12-node mesh: kill -9, time until every other node shows the victim failed
 *   consensus       Raft n = 3 and pBFT n = 4 side by side: commit latency and its ratio to the reused-stream
 *                   RTT, throughput at 64 and 256 writers, CPU per write, read-back of acknowledged writes
 *                   (test/bench/consensus.ts)
 *   tasks           pBFT n = 4 and Raft n = 3 validators running echo tasks (MESH_BENCH_ENGINES=pbft,raft):
 *                   throughput, submit→start/complete latency and consensus/CPU cost per task, for the
 *                   auction and DHT strategies (test/bench/tasks.ts)
 *   scale           `--nodes N` (default 48): 7 validators of a pBFT genesis + N − 7 observers at the node
 *                   default timings, all but the seed spawned at once: time until every node sees N alive,
 *                   formation CPU, connections, idle RSS and cores per node, then whether all N stay alive
 *                   on every node for `--hold-minutes` (default 5), with every flap (test/bench/scale.ts).
 *                   Not in the default set (it takes both cores for many minutes): name it.
 *   eventual        12 nodes without genesis: PUT → every node serves it (spread), writes/s on one node (single
 *                   PUTs and 256-put batches), convergence after the bursts (test/bench/eventual.ts). Only when named.
 *   aggregate       push-pull aggregation with no genesis, 12 and 24 nodes: rounds and seconds until every
 *                   node is within 1 % (count, mean), error after a kill -9 of the count root mid-epoch and
 *                   the next epoch, bytes and messages per node per round (test/bench/aggregate.ts). Only
 *                   when named.
 *   flood           [admission] pBFT n = 4: commits/s of 64 writers without and with a rogue peer flooding the
 *                   primary with valid pBFT frames at ≥ 10× the per-peer limit; honest headroom at peak; RSS
 *                   before/after (test/bench/flood.ts). Only when named.
 *   founding        [founding] a newcomer's wait: a founder's spawn → first write → first task; 2 joiners'
 *                   spawn → genesis fetched and observing, → 3 voters (--voters auto:3); a founder with mDNS on
 *                   (its 3 s LAN grace), 3 rounds (test/bench/founding.ts). Only when named.
 *
 * Every phase reports `conditions`: the host load average at its start and end, and the CPU this bench
 * process used meanwhile. Idle cores per node = CPU-seconds over an idle window / the window.
 *
 * `npm run bench -- --only join12,gossip` (or bare names) runs a subset. One JSON document goes to
 * stdout; progress to stderr. Every phase stops its processes in a finally block.
 */
import { cpus, loadavg, release, totalmem } from 'node:os'
import { Cluster, sleep } from '../e2e/harness.js'
import type { NodeProcess } from '../e2e/harness.js'
import { keepLogs, progress } from './cluster.js'
import { meshBin } from '../e2e/harness.js'
import { measureRss, runFailure, runGossip, runJoin } from './phases.js'
import { distribution, round } from './stats.js'
import { idleCores, PhaseFrame } from './proc.js'
import { runScale } from './scale.js'
import { runConsensusBench } from './consensus.js'
import { runTasksBench } from './tasks.js'
import { runEventualBench } from './eventual.js' // [eventual]

import { runAggregateBench } from './aggregate.js' // [aggregate]
import { runFloodBench } from './flood.js' // [admission]
import { runFoundingBench } from './founding.js' // [founding]

const phaseNames = ['join12', 'join24', 'gossip', 'failure', 'rss', 'consensus', 'tasks', 'scale', 'eventual', 'aggregate', 'flood', 'founding'] as const
type Phase = typeof phaseNames[number]
/** Phases run when none is named (scale and aggregate take many minutes: only on request). */
const defaultPhases: Phase[] = ['join12', 'join24', 'gossip', 'failure', 'rss', 'consensus', 'tasks']

/** Node settings for every phase: the node defaults (override with --heartbeat-interval-ms, --failure-timeout-ms). */
const settings = {
  heartbeatIntervalMs: 3000,
  failureTimeoutMs: 10000
}
const join12DeadlineMs = 90_000
const join24DeadlineMs = 180_000
const gossipWindowMs = 30_000
const failureDeadlineMs = 45_000
/** Whole-run guard: print what we have and stop everything after 15 minutes (plus the scale hold). */
const runBudgetBaseMs = 15 * 60_000
/** The rss phase: CPU over this idle window gives the idle cores per node. */
const idleWindowMs = 30_000

interface Args { phases: Set<Phase>, keepLogs: boolean, debug?: string, heartbeatIntervalMs?: number, failureTimeoutMs?: number, nodes: number, holdMinutes: number }

function positiveInt (flag: string, value: string | undefined): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`bench: ${flag} needs a whole number of milliseconds, got "${value ?? ''}"\n`)
    process.exit(2)
  }
  return n
}

function parseArgs (argv: string[]): Args {
  const wanted: string[] = []
  let keepLogs = false
  let debug: string | undefined
  let heartbeatIntervalMs: number | undefined
  let failureTimeoutMs: number | undefined
  let nodes = 48
  let holdMinutes = 5
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--nodes') {
      nodes = positiveInt(arg, argv[++i])
    } else if (arg === '--hold-minutes') {
      const value = Number(argv[++i])
      if (!Number.isFinite(value) || value < 0 || value > 60) {
        process.stderr.write(`bench: --hold-minutes needs 0..60, got "${argv[i] ?? ''}"\n`)
        process.exit(2)
      }
      holdMinutes = value
    } else if (arg === '--heartbeat-interval-ms') {
      heartbeatIntervalMs = positiveInt(arg, argv[++i])
    } else if (arg === '--failure-timeout-ms') {
      failureTimeoutMs = positiveInt(arg, argv[++i])
    } else if (arg === '--keep-logs') {
      keepLogs = true
    } else if (arg === '--debug') {
      debug = argv[++i]
    } else if (arg === '--only') {
      wanted.push(...(argv[++i] ?? '').split(','))
    } else if (arg.startsWith('--only=')) {
      wanted.push(...arg.slice('--only='.length).split(','))
    } else if (arg === '--help' || arg === '-h') {
      process.stderr.write(`usage: npm run bench [-- [--only] ${phaseNames.join(',')}] [--keep-logs] [--debug <DEBUG namespaces for the nodes, e.g. '*:error'>] [--heartbeat-interval-ms 1000] [--failure-timeout-ms 5000] [--nodes 48] [--hold-minutes 5] (scale runs only when named)\n`)
      process.exit(0)
    } else {
      wanted.push(...arg.split(','))
    }
  }
  const selected = wanted.map(w => w.trim()).filter(w => w !== '')
  for (const w of selected) {
    if (!(phaseNames as readonly string[]).includes(w)) {
      process.stderr.write(`bench: unknown phase "${w}" (choose from ${phaseNames.join(', ')})\n`)
      process.exit(2)
    }
  }
  return { phases: new Set((selected.length === 0 ? defaultPhases : selected) as Phase[]), keepLogs, debug, heartbeatIntervalMs, failureTimeoutMs, nodes, holdMinutes }
}

const clusters = new Set<Cluster>()

function newCluster (): Cluster {
  const cluster = new Cluster(settings)
  clusters.add(cluster)
  return cluster
}

async function stop (cluster: Cluster): Promise<void> {
  try { await cluster.stopAll() } finally { clusters.delete(cluster) }
}

async function stopEverything (): Promise<void> {
  await Promise.allSettled([...clusters].map(async c => { await stop(c) }))
}

function errorText (err: unknown): string {
  return (err as Error)?.message ?? String(err)
}

async function main (): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const phases = args.phases
  if (args.heartbeatIntervalMs != null) settings.heartbeatIntervalMs = args.heartbeatIntervalMs
  if (args.failureTimeoutMs != null) settings.failureTimeoutMs = args.failureTimeoutMs
  // the harness spreads process.env into each child (at spawn time)
  if (args.debug != null) process.env.DEBUG = args.debug
  const startedAt = Date.now()
  const cpuList = cpus()
  const output: Record<string, unknown> = {
    benchmark: 'mesh-coordinator',
    startedAt: new Date(startedAt).toISOString(),
    machine: {
      cpus: cpuList.length,
      cpuModel: cpuList[0]?.model ?? null,
      node: process.version,
      platform: `${process.platform} ${release()}`,
      totalMemMiB: Math.round(totalmem() / 1024 / 1024),
      loadavgAtStart: loadavg().map(v => round(v, 2)),
      note: 'shared 2-core machine with other test runs in parallel: expect noise'
    },
    settings: {
      ...settings,
      note: `every node runs with --heartbeat-interval-ms ${settings.heartbeatIntervalMs} --failure-timeout-ms ${settings.failureTimeoutMs} (the node defaults are 3000 / 10000); all processes on 127.0.0.1, TCP; MESH_TRACE=gossip only in the 12-node mesh when the gossip phase runs`,
      meshBin
    },
    phases: [...phases],
    ...(args.debug != null ? { nodeDebug: args.debug } : {})
  }

  const runBudgetMs = runBudgetBaseMs + (phases.has('scale') ? args.holdMinutes * 60_000 : 0)
  const guard = setTimeout(() => {
    progress(`run budget of ${runBudgetMs} ms exhausted: stopping everything`)
    output.aborted = `run budget of ${runBudgetMs} ms exhausted`
    void stopEverything().finally(() => {
      process.stdout.write(JSON.stringify(output, null, 2) + '\n')
      process.exit(3)
    })
  }, runBudgetMs)
  guard.unref()
  const onSignal = (signal: string): void => {
    progress(`${signal}: stopping everything`)
    void stopEverything().finally(() => process.exit(130))
  }
  process.on('SIGINT', () => { onSignal('SIGINT') })
  process.on('SIGTERM', () => { onSignal('SIGTERM') })

  // --- the 12-node mesh: join time, then gossip/RTT, idle RSS, failure detection on the same nodes
  if (phases.has('join12') || phases.has('gossip') || phases.has('rss') || phases.has('failure')) {
    // MESH_TRACE=gossip: one JSON line per own publish and per record applied (only where needed)
    // (read by the harness at each spawn, so it stays set for the whole 12-node phase)
    const traceBefore = process.env.MESH_TRACE
    if (phases.has('gossip')) process.env.MESH_TRACE = 'gossip'
    const cluster = newCluster()
    let keep = args.keepLogs
    const frame = new PhaseFrame()
    try {
      const join = await runJoin(cluster, { n: 12, deadlineMs: join12DeadlineMs, pollIntervalMs: 500 })
      if (phases.has('join12')) output.join12 = { ...join.result, conditions: frame.end() }
      const nodes = [...join.nodes].sort((a, b) => a.name.localeCompare(b.name))
      keep ||= !join.full || !join.connected
      // let the mesh settle (connections, first RTT measurements) before measuring steady state
      await sleep(5_000)
      if (phases.has('gossip')) {
        const gossipFrame = new PhaseFrame()
        try {
          output.gossip12 = { ...await runGossip(cluster, nodes, gossipWindowMs, 3_000), conditions: gossipFrame.end() }
        } catch (err) {
          output.gossip12 = { error: errorText(err), conditions: gossipFrame.end() }
        }
      }
      if (phases.has('rss')) {
        const rssFrame = new PhaseFrame()
        const cores = await idleCores(nodes.map(node => node.pid), idleWindowMs)
        output.rss12 = {
          ...measureRss(nodes),
          measuredAt: `after the 5 s settle${phases.has('gossip') ? ', the gossip window' : ''} and a ${idleWindowMs / 1000} s idle window`,
          idleCoresPerNode: { ...distribution(cores, 4), windowMs: idleWindowMs, unit: 'cores (CPU-seconds per second of the idle window)' },
          conditions: rssFrame.end()
        }
      }
      if (phases.has('failure')) {
        const failureFrame = new PhaseFrame()
        try {
          const victims = ['n03', 'n07', 'n10'].map(name => nodes.find(n => n.name === name)).filter((n): n is NodeProcess => n != null)
          output.failure12 = { ...await runFailure(cluster, nodes, victims, settings.failureTimeoutMs, failureDeadlineMs, 200), conditions: failureFrame.end() }
        } catch (err) {
          output.failure12 = { error: errorText(err), conditions: failureFrame.end() }
        }
      }
    } catch (err) {
      keep = true
      output.mesh12Error = errorText(err)
      progress(`12-node mesh: ${errorText(err)}`)
    } finally {
      if (keep) {
        output.mesh12LogsKeptIn = keepLogs(cluster, 'mesh12')
        progress(`12-node mesh: logs kept in ${String(output.mesh12LogsKeptIn)}`)
      }
      await stop(cluster)
      if (traceBefore == null) delete process.env.MESH_TRACE
      else process.env.MESH_TRACE = traceBefore
    }
  }

  // --- the 24-node star start
  if (phases.has('join24')) {
    const cluster = newCluster()
    let keep = args.keepLogs
    try {
      await sleep(2_000)
      const frame = new PhaseFrame()
      const join = await runJoin(cluster, { n: 24, deadlineMs: join24DeadlineMs, pollIntervalMs: 1000 })
      output.join24 = { ...join.result, conditions: frame.end() }
      keep ||= !join.full || !join.connected
      if (phases.has('rss')) {
        const rssFrame = new PhaseFrame()
        await sleep(10_000)
        const cores = await idleCores(join.nodes.map(node => node.pid), idleWindowMs)
        output.rss24 = {
          ...measureRss(join.nodes),
          measuredAt: `10 s after the join phase ended, then a ${idleWindowMs / 1000} s idle window`,
          idleCoresPerNode: { ...distribution(cores, 4), windowMs: idleWindowMs, unit: 'cores (CPU-seconds per second of the idle window)' },
          conditions: rssFrame.end()
        }
      }
    } catch (err) {
      keep = true
      output.join24 = { ...(output.join24 as object ?? {}), error: errorText(err) }
      progress(`join24: ${errorText(err)}`)
    } finally {
      if (keep) {
        output.join24LogsKeptIn = keepLogs(cluster, 'join24')
        progress(`join24: logs kept in ${String(output.join24LogsKeptIn)}`)
      }
      await stop(cluster)
    }
  }

  // --- the largest mesh: 7 validators + N − 7 observers, formation, idle, and a hold at default timings
  if (phases.has('scale')) {
    const cluster = new Cluster({ heartbeatIntervalMs: 3000, failureTimeoutMs: 10000 })
    clusters.add(cluster)
    let keep = args.keepLogs
    const frame = new PhaseFrame()
    try {
      await sleep(2_000)
      const scale = await runScale(cluster, {
        nodes: args.nodes,
        validators: 7,
        holdMinutes: args.holdMinutes,
        deadlineMs: 300_000,
        pollIntervalMs: 2_000,
        holdSampleMs: 5_000,
        idleWindowMs: 60_000
      })
      output.scale = { ...scale.result, conditions: frame.end() }
      keep ||= !scale.ok
    } catch (err) {
      keep = true
      output.scale = { error: errorText(err), conditions: frame.end() }
      progress(`scale: ${errorText(err)}`)
    } finally {
      if (keep) {
        output.scaleLogsKeptIn = keepLogs(cluster, 'scale')
        progress(`scale: logs kept in ${String(output.scaleLogsKeptIn)}`)
      }
      await stop(cluster)
    }
  }

  if (phases.has('consensus')) {
    const consensus: Record<string, unknown> = { loadavgAtStart: loadavg().map(v => round(v, 2)) }
    const options = { sequential: 300, rttSamples: 100, phases: [{ concurrency: 64, writes: 5_000 }, { concurrency: 256, writes: 20_000 }, { concurrency: 256, writes: 40_000, batch: 32 }], phaseDeadlineMs: 40_000 }
    // MESH_BENCH_ENGINES=raft (or pbft, or entries: raft3,pbft4,pbft7) runs only those, e.g. to profile one
    const only = process.env.MESH_BENCH_ENGINES?.split(',')
    for (const [engine, n] of ([['raft', 3], ['pbft', 4], ['pbft', 7]] as const).filter(([e, k]) => only == null || only.includes(e) || only.includes(`${e}${k}`))) {
      progress(`consensus: ${engine} n = ${n}`)
      try {
        consensus[`${engine}${n}`] = await runConsensusBench(engine, n, options)
      } catch (err) {
        consensus[`${engine}${n}`] = { error: (err as Error).message }
        progress(`consensus ${engine}: ${(err as Error).message}`)
      }
    }
    consensus.loadavgAtEnd = loadavg().map(v => round(v, 2))
    output.consensus = consensus
  }

  if (phases.has('tasks')) {
    // one testnet per engine (MESH_BENCH_ENGINES=pbft or raft runs one, e.g. to profile it), each with its
    // own node settings (not the phase-wide ones): 1 s heartbeats so capabilities and load spread fast
    const only = process.env.MESH_BENCH_ENGINES?.split(',')
    const tasks: Record<string, unknown> = {}
    for (const [engine, n] of ([['pbft', 4], ['raft', 3]] as const).filter(([e]) => only == null || only.includes(e))) {
      const cluster = new Cluster({ heartbeatIntervalMs: 1000, failureTimeoutMs: 10000 })
      clusters.add(cluster)
      let keep = args.keepLogs
      progress(`tasks: ${engine} n = ${n}`)
      try {
        tasks[`${engine}${n}`] = await runTasksBench(cluster, {
          engine,
          tasks: 1000,
          submitters: 64,
          batch: 100,
          batchedTasks: 2000,
          batchedSubmitters: 4,
          sample: 50,
          pollMs: 5,
          countsPollMs: 20,
          completionDeadlineMs: 60_000,
          maxConcurrent: cpuList.length,
          strategies: ['auction', 'dht']
        })
      } catch (err) {
        keep = true
        tasks[`${engine}${n}`] = { error: errorText(err) }
        progress(`tasks ${engine}: ${errorText(err)}`)
      } finally {
        if (keep) {
          tasks[`${engine}${n}LogsKeptIn`] = keepLogs(cluster, `tasks-${engine}`)
          progress(`tasks ${engine}: logs kept in ${String(tasks[`${engine}${n}LogsKeptIn`])}`)
        }
        await stop(cluster)
      }
    }
    output.tasks = tasks
  }

  // [eventual] the eventually consistent memory in a 12-node mesh without genesis (test/bench/eventual.ts);
  // only when named: npm run bench -- eventual
  if (phases.has('eventual')) {
    const cluster = newCluster()
    let keep = args.keepLogs
    const frame = new PhaseFrame()
    try {
      output.eventual12 = { ...await runEventualBench(cluster, { n: 12, spreadSamples: 40, pollMs: 5, writers: 32, writes: 5_000, batchWriters: 2, batches: 40, deadlineMs: join12DeadlineMs }), conditions: frame.end() }
    } catch (err) {
      keep = true
      output.eventual12 = { error: errorText(err), conditions: frame.end() }
      progress(`eventual: ${errorText(err)}`)
    } finally {
      if (keep) output.eventual12LogsKeptIn = keepLogs(cluster, 'eventual12')
      await stop(cluster)
    }
  }
  // [aggregate] push-pull aggregation, 12 and 24 nodes (test/bench/aggregate.ts); only when named
  if (phases.has('aggregate')) {
    output.aggregate = await runAggregateBench()
  }

  // [admission] a flooding peer against a 4-validator testnet (test/bench/flood.ts); only when named
  if (phases.has('flood')) {
    try {
      output.flood = await runFloodBench({ writers: 64, windowMs: 15_000, peakMs: 10_000 })
    } catch (err) {
      output.flood = { error: errorText(err) }
      progress(`flood: ${errorText(err)}`)
    }
  }

  // [founding] how long a newcomer waits for a founded network (test/bench/founding.ts); only when named
  if (phases.has('founding')) {
    try {
      output.founding = await runFoundingBench(3)
    } catch (err) {
      output.founding = { error: errorText(err) }
      progress(`founding: ${errorText(err)}`)
    }
  }

  output.machine = { ...(output.machine as object), loadavgAtEnd: loadavg().map(v => round(v, 2)) }
  output.durationMs = Date.now() - startedAt
  clearTimeout(guard)
  process.stdout.write(JSON.stringify(output, null, 2) + '\n')
}

try {
  await main()
} catch (err) {
  progress(`bench failed: ${(err as Error).stack ?? String(err)}`)
  process.exitCode = 1
} finally {
  await stopEverything()
}
