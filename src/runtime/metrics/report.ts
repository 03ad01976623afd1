/**
 * The performance report (the seed's `performance_report`): per figure of the history min / avg /
 * max / p50 / p99 / last over a window, the counts of what happened in it, and throughput. Pure: it
 * reads a TimeSeries (src/runtime/metrics/timeseries.ts) that src/runtime/metrics/metrics.ts fills.
 */
import type { TimeSeries, WindowSummary } from './timeseries.js'

/** Figures of the history and their units (the report prints them in this order). */
export const figureUnits: Record<string, string> = {
  connectivity_ratio: 'ratio',
  members_alive: 'members',
  members_known: 'members',
  connected_peers: 'peers',
  partitioned: 'bool',
  rtt_p50_seconds: 'seconds',
  rtt_max_seconds: 'seconds',
  throughput_messages_per_second: 'msg/s',
  decision_latency_p50_seconds: 'seconds',
  decision_latency_p99_seconds: 'seconds',
  vote_participation_ratio: 'ratio',
  view: 'number',
  executed_seq: 'number',
  load_variance: 'ratio²',
  utilisation_mean_ratio: 'ratio',
  utilisation_max_ratio: 'ratio',
  hotspot_members: 'members',
  tasks_pending: 'tasks',
  tasks_assigned: 'tasks',
  tasks_running: 'tasks',
  cpu_ratio: 'cores',
  host_cpu_ratio: 'ratio',
  rss_bytes: 'bytes',
  heap_used_bytes: 'bytes',
  eventloop_lag_seconds: 'seconds',
  // [aggregate] mesh-wide push-sum estimates (src/runtime/gossip/aggregation.ts)
  mesh_size_estimate: 'members',
  mesh_utilisation_mean_ratio: 'ratio',
  aggregate_error_bound_ratio: 'ratio'
}

/** Protocols whose messages are counted (mesh_network_messages_total{protocol}). */
export const throughputProtocols = ['pbft', 'raft', 'gossip', 'records', 'messaging'] as const

export interface PerformanceReport {
  node: { peerId: string, name: string }
  timeframe: string
  windowMs: number
  generatedAt: string
  from: string | null
  to: string | null
  resolution: WindowSummary['resolution']
  stepMs: number
  samples: number
  coveredMs: number
  figures: Record<string, { unit: string, min: number, avg: number, max: number, p50: number, p99: number, last: number, points: number }>
  counts: {
    decisions: number
    operations: number
    proposalsDecided: number
    viewChanges: number
    viewChangeRequests: number
    partitions: number
    partitionRecoveries: number
    partitionRecoverySecondsAvg: number | null
    tasksCompleted: number
    tasksFailed: number
    migrations: number
    failovers: number
    rejectedMessages: number
  }
  throughput: { total: number, byProtocol: Record<string, number>, decisionsPerSecond: number }
  bounds: { sampleMs: number, fineSamplesMax: number, bucketMs: number, coarseBucketsMax: number }
}

/** Summaries of `series` over (nowMs − windowMs, nowMs]. */
export function buildReport (series: TimeSeries, node: { peerId: string, name: string }, windowMs: number, timeframe: string, nowMs: number): PerformanceReport {
  const summary = series.summarize(windowMs, nowMs)
  const seconds = summary.coveredMs / 1000
  const throughput: Record<string, number> = {}
  let total = 0
  for (const protocol of throughputProtocols) {
    const count = summary.counts[`messages.${protocol}`]
    if (count == null) continue
    throughput[protocol] = seconds > 0 ? count / seconds : 0
    total += count
  }
  const figures: PerformanceReport['figures'] = {}
  for (const [name, unit] of Object.entries(figureUnits)) {
    const f = summary.figures[name]
    if (f != null) figures[name] = { unit, ...f }
  }
  const c = summary.counts
  return {
    node,
    timeframe,
    windowMs,
    generatedAt: new Date(nowMs).toISOString(),
    from: summary.firstAt != null ? new Date(summary.firstAt).toISOString() : null,
    to: summary.lastAt != null ? new Date(summary.lastAt).toISOString() : null,
    resolution: summary.resolution,
    stepMs: summary.stepMs,
    samples: summary.samples,
    coveredMs: summary.coveredMs,
    figures,
    counts: {
      decisions: c.decisions ?? 0,
      operations: c.operations ?? 0,
      proposalsDecided: c.proposals_decided ?? 0,
      viewChanges: c.view_changes ?? 0,
      viewChangeRequests: c.view_change_requests ?? 0,
      partitions: c.partitions ?? 0,
      partitionRecoveries: c.partition_recoveries ?? 0,
      partitionRecoverySecondsAvg: (c.partition_recoveries ?? 0) > 0 ? (c.partition_recovery_seconds ?? 0) / (c.partition_recoveries as number) : null,
      tasksCompleted: c.tasks_completed ?? 0,
      tasksFailed: c.tasks_failed ?? 0,
      migrations: c.migrations ?? 0,
      failovers: c.failovers ?? 0,
      rejectedMessages: c.rejected ?? 0
    },
    throughput: { total: seconds > 0 ? total / seconds : 0, byProtocol: throughput, decisionsPerSecond: seconds > 0 ? (c.decisions ?? 0) / seconds : 0 },
    bounds: {
      sampleMs: series.sampleMs,
      fineSamplesMax: series.fineSamplesMax,
      bucketMs: series.bucketMs,
      coarseBucketsMax: series.coarseBucketsMax
    }
  }
}
