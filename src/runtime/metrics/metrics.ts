/**
 * Prometheus metrics of one node, and the sampler that feeds its bounded history (timeseries.ts).
 *
 * One prom-client `Registry` per node (never the global default registry): libp2p registers its own
 * metrics in it (bootstrap/libp2p.ts), this module adds the `mesh_*` ones. Almost everything is
 * pull-style: counters and gauges whose `collect()` reads a snapshot of the node (membership status,
 * consensus status, task table, task service and record store stats, messaging stats), cached for
 * `snapshotTtlMs` so one scrape reads each source once. Push-style only where a snapshot cannot
 * tell: the decision-latency histogram (consensus hook), RTT samples and partition recovery times.
 *
 * Names are `mesh_<subsystem>_<what>_<unit>`; labels are bounded sets (member state, protocol,
 * reason, task state, view-change phase, event); nothing is labelled per peer.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { IntervalHistogram } from 'node:perf_hooks'
import { Counter, Gauge, Histogram } from 'prom-client'
import type { Registry } from 'prom-client'
import type { NodeStatus } from '../mesh-node.js'
import type { CommittedDecision, ConsensusStatus } from '../consensus/types.js'
import type { RecordStats } from '../tasks/records.js'
import { utilisation } from '../../core/scheduler/scoring.js'
import { TimeSeries, loadSeries, percentile, saveSeries, saveSeriesAsync } from './timeseries.js'
import { buildReport, throughputProtocols } from './report.js'
import type { PerformanceReport } from './report.js'

export { figureUnits, throughputProtocols } from './report.js'
export type { PerformanceReport } from './report.js'

/** What metrics need from consensus (PbftConsensus). */
export interface ConsensusMetricsSource {
  status: () => ConsensusStatus
  onCommit: (listener: (decision: CommittedDecision) => void) => () => void
  onDecided: (listener: (latencyMs: number) => void) => () => void
  viewChangeCounts: () => { requested: number, installed: number }
}

/** Peer messaging, wired when present: `sent`/`received` counts, and refusals by reason. */
export interface MessagingStatsSource {
  stats: () => MessagingStats
}

/** The fields read by name; other numeric fields listed in `messagingEvents` are read when present. */
export interface MessagingStats {
  sent?: number
  received?: number
  rejected?: Record<string, number>
}

export interface MetricsInit {
  registry: Registry
  status: () => NodeStatus
  consensus?: () => ConsensusMetricsSource | null
  /** Tasks in the replicated table by state (MeshApplication.taskCounts). */
  taskCounts?: () => Record<string, number> | null
  /** TaskService.status(): its numeric counters (completed, failed, migrations, …). */
  taskStats?: () => Record<string, unknown> | null
  records?: () => RecordStats | null
  messaging?: () => MessagingStatsSource | null
  /**
   * Whether the node is partitioned now, read cheaply (polled every second). Absent: read from
   * `status()`, which builds the whole status (every member) each time.
   */
  partitioned?: () => boolean
  /**
   * [aggregate] Mesh-wide gossip estimates (src/runtime/gossip/aggregation.ts), sampled into the history:
   * member count, mean utilisation over every member, and the estimate's error bound.
   */
  aggregates?: () => { count: number | undefined, utilisationMean: number | undefined, errorBound: number | undefined } | null
  /** Subscribe to gossip messages delivered to this node; returns the unsubscribe. */
  subscribeGossip?: (listener: () => void) => () => void
  /** Where the history is kept (the data dir's metrics-history.json); null: memory only. */
  historyPath?: string | null
  /** @default 10_000 (env MESH_METRICS_SAMPLE_MS, for tests) */
  sampleMs?: number
  log?: (line: string) => void
}

/** Histogram buckets (seconds). */
const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const rttBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
const recoveryBuckets = [1, 2, 5, 10, 30, 60, 120, 300, 900, 3600]
/** A member above this utilisation is a hotspot (the load balancer's `high`, src/core/scheduler/balancing.ts). */
export const hotspotUtilisation = 0.8
/** Scrapes within this long read the same snapshot. */
const snapshotTtlMs = 500
/** How often `partitioned` is polled (the resolution of partition recovery times). */
const partitionPollMs = 1_000
/** How often the history is written to the data dir (and at shutdown). */
const persistEveryMs = 60_000
/** Label values per label taken from a source (reasons, events); the rest are summed as "other". */
const labelValuesMax = 32
/** Latencies kept per sample interval for its percentiles; beyond it they only count. */
const intervalLatenciesMax = 4096
/** RTT observations per sample (one per connected member). */
const rttObservationsMax = 256
/** Task service counters exported as mesh_scheduler_events_total{event}. */
const schedulerEvents = ['submitted', 'auctions', 'awards', 'dhtRoutes', 'noBids', 'steals', 'stolen', 'migrations', 'failovers', 'releases', 'started', 'completed', 'failed', 'proposalErrors']
/** Messaging counters exported as mesh_messaging_events_total{event}. */
const messagingEvents = ['sent', 'sentDirect', 'sentBroadcast', 'delivered', 'acksFailed', 'received', 'receivedDirect', 'receivedBroadcast', 'duplicates', 'dropped']

type Protocol = typeof throughputProtocols[number]

interface Snapshot {
  status: NodeStatus
  consensus: ConsensusStatus | null
  taskCounts: Record<string, number> | null
  taskStats: Record<string, unknown> | null
  records: RecordStats | null
  messaging: MessagingStats | null
}

const num = (v: unknown): number => typeof v === 'number' && Number.isFinite(v) ? v : 0
const sum = (record: Record<string, number> | undefined): number => Object.values(record ?? {}).reduce((a, b) => a + num(b), 0)

/** At most `labelValuesMax` label values (largest first); the rest summed as "other". */
function bounded (record: Record<string, unknown> | undefined): Array<[string, number]> {
  const entries = Object.entries(record ?? {}).map(([k, v]): [string, number] => [/^[A-Za-z0-9_.:-]{1,64}$/.test(k) ? k : 'other', num(v)])
  if (entries.length <= labelValuesMax) return entries
  entries.sort((a, b) => b[1] - a[1])
  const kept = entries.slice(0, labelValuesMax - 1)
  kept.push(['other', entries.slice(labelValuesMax - 1).reduce((a, [, v]) => a + v, 0)])
  return kept
}

/** Messages by protocol and direction from a snapshot (absolute counts since the process started). */
function messageCounts (s: Snapshot, gossipIn: number): Array<{ protocol: Protocol, direction: 'in' | 'out', value: number }> {
  const out: Array<{ protocol: Protocol, direction: 'in' | 'out', value: number }> = [{ protocol: 'gossip', direction: 'in', value: gossipIn }]
  if (s.consensus != null) {
    out.push({ protocol: s.consensus.mode, direction: 'in', value: sum(s.consensus.frames.received) })
    out.push({ protocol: s.consensus.mode, direction: 'out', value: sum(s.consensus.frames.sent) })
  }
  if (s.records != null) {
    out.push({ protocol: 'records', direction: 'in', value: s.records.storesReceived + s.records.fetchesReceived })
    out.push({ protocol: 'records', direction: 'out', value: s.records.fetches })
  }
  if (s.messaging != null) {
    out.push({ protocol: 'messaging', direction: 'in', value: num(s.messaging.received) })
    out.push({ protocol: 'messaging', direction: 'out', value: num(s.messaging.sent) })
  }
  return out
}

/** Load figures over the alive members' gossiped load (utilisation = (queued + running) / capacity, capped at 1). */
export function loadFigures (members: NodeStatus['members']): { variance: number, mean: number, max: number, hotspots: number } {
  const values = members.filter(m => m.state === 'alive').map(m => utilisation(m.load))
  if (values.length === 0) return { variance: 0, mean: 0, max: 0, hotspots: 0 }
  const mean = values.reduce((a, b) => a + b, 0) / values.length
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length
  return { variance, mean, max: Math.max(...values), hotspots: values.filter(v => v > hotspotUtilisation).length }
}

export class MeshMetrics {
  readonly series: TimeSeries
  private readonly init: MetricsInit
  private cached: { at: number, snapshot: Snapshot } | null = null
  private gossipIn = 0
  private decisions = 0
  private operations = 0
  private proposalsDecided = 0
  private intervalLatencies: number[] = []
  private partitions = 0
  private partitionRecoveries = 0
  private partitionRecoverySeconds = 0
  private partitionedSince: number | null = null
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 })
  private lastCpu = process.cpuUsage()
  private lastSampleMono = performance.now()
  /** Absolute counters at the last sample (for its deltas). */
  private absolute: Record<string, number> = {}
  private cpuRatio: number | null = null
  private loopLagSeconds: number | null = null
  private throughput: Record<string, number> = {}
  private participation: number | null = null
  /** Raft leader: each other voter's match index at the last sample. */
  private raftMatch = new Map<string, number>()
  /** [charts] libp2p's byte totals at the last read (`readTransferBytes`). */
  private readonly transferBytes = { in: 0, out: 0 }
  private readonly unsubscribe: Array<() => void> = []
  private readonly timers: Array<ReturnType<typeof setInterval>> = []
  private readonly decisionLatency: Histogram
  private readonly rtt: Histogram
  private readonly partitionRecovery: Histogram
  private hooked: ConsensusMetricsSource | null = null
  private stopped = false
  private saving: Promise<void> = Promise.resolve()

  constructor (init: MetricsInit) {
    this.init = init
    this.series = new TimeSeries({ sampleMs: init.sampleMs ?? 10_000 })
    const registers = [init.registry]
    const snap = (): Snapshot => this.snapshot()
    const gauge = (name: string, help: string, read: () => number | null, labelNames: string[] = []): void => {
      const metric: Gauge = new Gauge({
        name, help, labelNames, registers,
        collect () { const v = read(); metric.reset(); if (v != null && Number.isFinite(v)) metric.set(v) }
      })
    }
    const labelled = (kind: 'gauge' | 'counter', name: string, help: string, labelNames: string[], read: () => Array<[Record<string, string>, number]>): void => {
      if (kind === 'gauge') {
        const metric: Gauge = new Gauge({ name, help, labelNames, registers, collect () { metric.reset(); for (const [l, v] of read()) metric.set(l, v) } })
      } else {
        const metric: Counter = new Counter({ name, help, labelNames, registers, collect () { metric.reset(); for (const [l, v] of read()) metric.inc(l, Math.max(0, v)) } })
      }
    }
    const counter = (name: string, help: string, read: () => number): void => { labelled('counter', name, help, [], () => [[{}, read()]]) }

    // ── membership and connectivity
    labelled('gauge', 'mesh_membership_state_members', 'Members in this node\'s view, by state (alive, suspect, failed, left).', ['state'],
      () => Object.entries(snap().status.counts).map(([state, v]) => [{ state }, v]))
    gauge('mesh_membership_reachable_members', 'Members alive in this node\'s view (itself included).', () => snap().status.reachable)
    gauge('mesh_membership_known_members', 'Members that count for connectivity: alive, suspect or failed (not left, not forgotten).', () => snap().status.known)
    gauge('mesh_membership_connectivity_ratio', 'Share of members reachable: reachable / known (1 = everyone).', () => { const s = snap().status; return s.known > 0 ? s.reachable / s.known : 1 })
    gauge('mesh_membership_connected_peers', 'Peers with an open libp2p connection.', () => snap().status.connectedPeers)
    gauge('mesh_membership_partitioned_bool', '1 while this node is partitioned (fewer than half of the known members reachable; read-only), else 0.', () => snap().status.partitioned ? 1 : 0)
    counter('mesh_membership_partitions_total', 'Times this node entered the partitioned state.', () => this.partitions)
    gauge('mesh_membership_partition_duration_seconds', 'How long the current partition has lasted (0 when not partitioned).', () => this.partitionedSince == null ? 0 : (performance.now() - this.partitionedSince) / 1000)
    this.partitionRecovery = new Histogram({ name: 'mesh_membership_partition_recovery_seconds', help: 'Partition recovery time: from entering the partitioned state to leaving it (1 s resolution).', buckets: recoveryBuckets, registers })

    // ── network: latency, throughput, refusals
    this.rtt = new Histogram({ name: 'mesh_network_rtt_seconds', help: 'Round-trip times to connected members (one observation per member per sample interval, from the probe RTTs).', buckets: rttBuckets, registers })
    labelled('counter', 'mesh_network_messages_total', 'Messages by protocol (pbft or raft frames, gossip deliveries, record requests, peer messages) and direction.', ['protocol', 'direction'],
      () => messageCounts(snap(), this.gossipIn).map(m => [{ protocol: m.protocol, direction: m.direction }, m.value]))
    labelled('gauge', 'mesh_network_throughput_messages_per_second', 'Messages per second by protocol (in + out) over the last sample interval.', ['protocol'],
      () => Object.entries(this.throughput).map(([protocol, v]) => [{ protocol }, v]))
    labelled('counter', 'mesh_network_rejected_messages_total', 'Messages refused, by protocol (state gossip, pbft or raft, messaging) and reason.', ['protocol', 'reason'], () => {
      const s = snap()
      const out: Array<[Record<string, string>, number]> = bounded(s.status.rejected).map(([reason, v]) => [{ protocol: 'state', reason }, v])
      if (s.consensus != null) for (const [reason, v] of bounded(s.consensus.dropped)) out.push([{ protocol: s.consensus.mode, reason }, v])
      if (s.messaging?.rejected != null) for (const [reason, v] of bounded(s.messaging.rejected)) out.push([{ protocol: 'messaging', reason }, v])
      return out
    })

    // ── consensus
    this.decisionLatency = new Histogram({ name: 'mesh_consensus_decision_latency_seconds', help: 'Decision latency: from proposing an operation at this node to f+1 matching replies (committed).', buckets: latencyBuckets, registers })
    counter('mesh_consensus_decisions_total', 'Sequence numbers committed and executed (or learned) here.', () => this.decisions)
    counter('mesh_consensus_operations_total', 'Client operations in the committed batches (bundles count each operation).', () => this.operations)
    labelled('counter', 'mesh_consensus_view_changes_total', 'View changes: requested by this validator, and new views installed.', ['phase'], () => {
      const c = this.consensusSource()?.viewChangeCounts()
      return c == null ? [] : [[{ phase: 'requested' }, c.requested], [{ phase: 'installed' }, c.installed]]
    })
    gauge('mesh_consensus_view_number', 'Current pBFT view; Raft term (validators).', () => snap().consensus?.view ?? null)
    gauge('mesh_consensus_executed_sequence_number', 'Last sequence number executed (or learned, on observers).', () => snap().consensus?.lastExecuted ?? null)
    gauge('mesh_consensus_behind_sequence_number', 'Sequence numbers this node is behind what f+1 validators executed (0 when caught up).', () => snap().consensus?.behind ?? null)
    gauge('mesh_consensus_vote_participation_ratio', 'Share of the other validators\' COMMIT votes received per decision, over the last sample interval with decisions (validators; 1 = all voted). Raft: on the leader, the share of the other voters that acknowledged appends in that interval.', () => this.participation)
    gauge('mesh_consensus_reachable_validators_ratio', 'Share of validators this node is connected to (itself included).', () => {
      const c = snap().consensus
      return c == null || c.validators.length === 0 ? null : c.validators.filter(v => v.connected).length / c.validators.length
    })

    // ── scheduler: load over the members' gossiped load, migrations, events
    gauge('mesh_scheduler_load_variance_ratio', 'Variance of the alive members\' utilisation ((queued + running) / capacity, capped at 1).', () => loadFigures(snap().status.members).variance)
    gauge('mesh_scheduler_utilisation_mean_ratio', 'Mean utilisation of the alive members.', () => loadFigures(snap().status.members).mean)
    gauge('mesh_scheduler_utilisation_max_ratio', 'Highest utilisation among the alive members.', () => loadFigures(snap().status.members).max)
    gauge('mesh_scheduler_hotspot_members', `Alive members above ${hotspotUtilisation * 100} % utilisation.`, () => loadFigures(snap().status.members).hotspots)
    counter('mesh_scheduler_migrations_total', 'Queued tasks this node moved to less loaded members (load balancing).', () => num(snap().taskStats?.migrations))
    labelled('counter', 'mesh_scheduler_events_total', 'Task service events on this node (auctions, awards, steals, failovers, …).', ['event'], () => {
      const stats = snap().taskStats
      return stats == null ? [] : schedulerEvents.filter(e => typeof stats[e] === 'number').map(event => [{ event }, num(stats[event])])
    })

    // ── tasks
    labelled('gauge', 'mesh_tasks_table_tasks', 'Tasks in the replicated task table, by state (finished ones while remembered).', ['state'],
      () => Object.entries(snap().taskCounts ?? {}).map(([state, v]) => [{ state }, v]))
    counter('mesh_tasks_completed_total', 'Tasks this node ran to completion.', () => num(snap().taskStats?.completed))
    counter('mesh_tasks_failed_total', 'Tasks that failed on this node.', () => num(snap().taskStats?.failed))

    // ── resources
    gauge('mesh_resource_cpu_ratio', 'CPU time of this process per wall-clock second over the last sample interval (1 = one core).', () => this.cpuRatio)
    gauge('mesh_resource_host_cpu_ratio', 'Host CPU utilisation (all cores), as gossiped in this node\'s load.', () => snap().status.members.find(m => m.self)?.load.cpu ?? null)
    gauge('mesh_resource_rss_bytes', 'Resident set size of this process.', () => process.memoryUsage.rss())
    gauge('mesh_resource_heap_used_bytes', 'V8 heap in use.', () => process.memoryUsage().heapUsed)
    gauge('mesh_resource_eventloop_lag_seconds', 'Event-loop delay, p99 over the last sample interval.', () => this.loopLagSeconds)

    // ── records (task payloads and results)
    gauge('mesh_records_held_records', 'Task records this node holds.', () => snap().records?.records ?? null)
    gauge('mesh_records_held_bytes', 'Bytes of task records held.', () => snap().records?.bytes ?? null)
    labelled('counter', 'mesh_records_operations_total', 'Record store operations (puts, gets, fetches, stores received, evictions, …).', ['operation'], () => {
      const r = snap().records
      if (r == null) return []
      return (['stored', 'conflicts', 'evicted', 'handedOff', 'puts', 'putFailures', 'gets', 'fetches', 'storesReceived', 'fetchesReceived', 'repairsPushed', 'repairRounds'] as const).map(operation => [{ operation }, r[operation]])
    })

    // ── messaging (when wired)
    labelled('counter', 'mesh_messaging_events_total', 'Peer messaging counters (sent, delivered, received, duplicates, …).', ['event'], () => {
      const m = snap().messaging
      const fields = m as Record<string, unknown> | null
      return fields == null ? [] : messagingEvents.filter(e => typeof fields[e] === 'number').map(event => [{ event }, num(fields[event])])
    })
    // ── [nat] reachability (src/runtime/reachability.ts; status().reachability)
    labelled('gauge', 'mesh_nat_reachability_bool', 'AutoNAT verdict: 1 for the current status (public, private, unknown), 0 for the others.', ['status'], () => {
      const r = snap().status.reachability
      if (r == null) return []
      return (['public', 'private', 'unknown'] as const).map(status => [{ status }, r.status === status ? 1 : 0])
    })
    gauge('mesh_nat_relay_reservations_number', 'Relay reservations this node holds on relays (its /p2p-circuit addresses come from them).', () => snap().status.reachability?.reservations.length ?? null)
    labelled('counter', 'mesh_nat_holepunch_total', 'Relayed connections by hole-punching outcome: success (a direct connection opened beside it), failure (still relayed-only 30 s later).', ['result'], () => {
      const r = snap().status.reachability
      return r == null ? [] : [[{ result: 'success' }, r.holePunch.successes], [{ result: 'failure' }, r.holePunch.failures]]
    })
    labelled('gauge', 'mesh_nat_connections_number', 'Open connections by kind: relayed (through a Circuit Relay v2 relay) or direct.', ['kind'], () => {
      const r = snap().status.reachability
      if (r == null) return []
      const relayed = r.connections.filter(c => c.kind === 'relayed').length
      return [[{ kind: 'relayed' }, relayed], [{ kind: 'direct' }, r.connections.length - relayed]]
    })
    // [/nat]
  }

  private consensusSource (): ConsensusMetricsSource | null {
    return this.init.consensus?.() ?? null
  }

  /** The node's state, read at most once per `snapshotTtlMs`. */
  snapshot (): Snapshot {
    const now = performance.now()
    if (this.cached != null && now - this.cached.at < snapshotTtlMs) return this.cached.snapshot
    const snapshot: Snapshot = {
      status: this.init.status(),
      consensus: this.consensusSource()?.status() ?? null,
      taskCounts: this.init.taskCounts?.() ?? null,
      taskStats: this.init.taskStats?.() ?? null,
      records: this.init.records?.() ?? null,
      messaging: this.init.messaging?.()?.stats() ?? null
    }
    this.cached = { at: now, snapshot }
    return snapshot
  }

  /** Load the history, hook into consensus and gossip, start sampling. */
  start (): void {
    if (this.init.historyPath != null) {
      const { warning, loaded } = loadSeries(this.series, this.init.historyPath)
      if (warning != null) this.init.log?.(`warning: ${warning}`)
      else if (loaded != null) this.init.log?.(`metrics history: ${loaded.fine} samples and ${loaded.coarse} ${this.series.bucketMs / 1000} s buckets loaded from ${this.init.historyPath}`)
    }
    this.hookConsensus()
    if (this.init.subscribeGossip != null) this.unsubscribe.push(this.init.subscribeGossip(() => { this.gossipIn++ }))
    this.loopDelay.enable()
    // [charts] libp2p's byte counter is read asynchronously (its collect drains libp2p's tallies), then the sample
    this.timers.push(setInterval(() => { void this.readTransferBytes().then(() => { if (!this.stopped) this.sample() }) }, this.series.sampleMs))
    this.timers.push(setInterval(() => { this.checkPartition() }, partitionPollMs))
    if (this.init.historyPath != null) this.timers.push(setInterval(() => { this.persist() }, persistEveryMs))
    for (const timer of this.timers) timer.unref()
  }

  private hookConsensus (): void {
    const source = this.consensusSource()
    if (source == null || source === this.hooked) return
    this.hooked = source
    this.unsubscribe.push(source.onDecided(latencyMs => {
      this.proposalsDecided++
      this.decisionLatency.observe(latencyMs / 1000)
      if (this.intervalLatencies.length < intervalLatenciesMax) this.intervalLatencies.push(latencyMs / 1000)
    }))
    this.unsubscribe.push(source.onCommit(decision => {
      this.decisions++
      this.operations += decision.batch.length
    }))
  }

  // [charts]
  /**
   * Total bytes received and sent on every libp2p connection (`libp2p_data_transfer_bytes_total`,
   * labels "global received" / "global sent"), into `transferBytes`; unchanged when the registry has
   * no such counter (libp2p without metrics) or reading it fails.
   */
  async readTransferBytes (): Promise<void> {
    try {
      const metric = this.init.registry.getSingleMetric('libp2p_data_transfer_bytes_total')
      if (metric == null) return
      const { values } = await metric.get()
      for (const v of values) {
        if (v.labels.protocol === 'global received') this.transferBytes.in = v.value
        else if (v.labels.protocol === 'global sent') this.transferBytes.out = v.value
      }
    } catch {}
  }
  // [/charts]

  /** Save the history and stop (at shutdown). */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const timer of this.timers) clearInterval(timer)
    for (const off of this.unsubscribe) off()
    this.loopDelay.disable()
    await this.saving
    if (this.init.historyPath == null) return
    try {
      saveSeries(this.series, this.init.historyPath)
    } catch (err) {
      this.init.log?.(`warning: cannot write the metrics history ${this.init.historyPath}: ${(err as Error).message}`)
    }
  }

  /** The periodic save, off the event loop (one at a time). */
  private persist (): void {
    const path = this.init.historyPath
    if (path == null || this.stopped) return
    this.saving = this.saving.then(async () => {
      try {
        await saveSeriesAsync(this.series, path)
      } catch (err) {
        this.init.log?.(`warning: cannot write the metrics history ${path}: ${(err as Error).message}`)
      }
    })
  }

  /** Poll `partitioned` (every second): counts entries and times recoveries. */
  checkPartition (): void {
    let partitioned: boolean
    if (this.init.partitioned != null) {
      partitioned = this.init.partitioned()
    } else {
      this.cached = null
      partitioned = this.snapshot().status.partitioned
    }
    const now = performance.now()
    if (partitioned && this.partitionedSince == null) {
      this.partitionedSince = now
      this.partitions++
    } else if (!partitioned && this.partitionedSince != null) {
      const seconds = (now - this.partitionedSince) / 1000
      this.partitionedSince = null
      this.partitionRecoveries++
      this.partitionRecoverySeconds += seconds
      this.partitionRecovery.observe(seconds)
    }
  }

  /** Absolute counters now, for the deltas of a sample. */
  private counters (s: Snapshot): Record<string, number> {
    const views = this.consensusSource()?.viewChangeCounts()
    const counts: Record<string, number> = {
      decisions: this.decisions,
      operations: this.operations,
      proposals_decided: this.proposalsDecided,
      view_changes: views?.installed ?? 0,
      view_change_requests: views?.requested ?? 0,
      partitions: this.partitions,
      partition_recoveries: this.partitionRecoveries,
      partition_recovery_seconds: this.partitionRecoverySeconds,
      tasks_completed: num(s.taskStats?.completed),
      tasks_failed: num(s.taskStats?.failed),
      migrations: num(s.taskStats?.migrations),
      failovers: num(s.taskStats?.failovers),
      rejected: sum(s.status.rejected) + sum(s.consensus?.dropped) + sum(s.messaging?.rejected),
      commit_votes: num(s.consensus?.frames.received.commit),
      // [charts] bytes on every libp2p connection (libp2p's data transfer counter, read before the sample)
      bytes_in: this.transferBytes.in,
      bytes_out: this.transferBytes.out
    }
    for (const m of messageCounts(s, this.gossipIn)) counts[`messages.${m.protocol}`] = (counts[`messages.${m.protocol}`] ?? 0) + m.value
    return counts
  }

  /** Take one sample: interval figures, histogram observations, and a point of the history. */
  sample (wallMs = Date.now()): void {
    this.hookConsensus()
    this.cached = null
    const s = this.snapshot()
    const nowMono = performance.now()
    const intervalMs = Math.max(1, nowMono - this.lastSampleMono)
    this.lastSampleMono = nowMono
    // deltas since the last sample (a counter that went backwards, e.g. a new consensus object, restarts at 0)
    const absolute = this.counters(s)
    const delta: Record<string, number> = {}
    for (const [name, value] of Object.entries(absolute)) {
      const before = this.absolute[name] ?? 0
      delta[name] = value >= before ? value - before : value
      this.absolute[name] = value
    }
    const commitVotes = delta.commit_votes ?? 0
    delete delta.commit_votes
    // throughput per protocol over the interval
    this.throughput = {}
    let total = 0
    for (const protocol of throughputProtocols) {
      const d = delta[`messages.${protocol}`]
      if (d == null) continue
      this.throughput[protocol] = d / (intervalMs / 1000)
      total += d
    }
    // vote participation: COMMITs from the other validators per decision (validators only)
    const n = s.consensus?.n ?? 0
    const decided = delta.decisions ?? 0
    if (s.consensus?.mode === 'raft') {
      // Raft has no COMMIT votes: the leader's followers acknowledge appends. On the leader, the share of
      // the other voters that acknowledged during the interval (match index advanced, or at the leader's
      // last index); elsewhere unknown (a follower hears only from the leader)
      const raft = s.consensus.raft
      const leader = raft?.role === 'leader' ? raft : null
      const others = leader?.members.filter(m => m.role === 'voter' && !m.self) ?? null
      if (leader == null || others == null) this.participation = null
      else if (decided > 0) {
        this.participation = others.length === 0 ? 1 : others.filter(m => m.match != null && (m.match >= leader.lastIndex || m.match > (this.raftMatch.get(m.peerId) ?? 0))).length / others.length
      }
      this.raftMatch = new Map((others ?? []).map(m => [m.peerId, m.match ?? 0]))
    } else if (s.consensus?.role === 'validator' && decided > 0) this.participation = n <= 1 ? 1 : Math.min(1, commitVotes / (decided * (n - 1)))
    // resources
    const cpu = process.cpuUsage(this.lastCpu)
    this.lastCpu = process.cpuUsage()
    this.cpuRatio = (cpu.user + cpu.system) / 1000 / intervalMs
    this.loopLagSeconds = this.loopDelay.count > 0 ? this.loopDelay.percentile(99) / 1e9 : 0
    this.loopDelay.reset()
    // RTTs: one observation per connected member with a measurement
    const rtts: number[] = []
    for (const m of s.status.members) {
      if (m.self || !m.connected || m.rttMs == null || rtts.length >= rttObservationsMax) continue
      rtts.push(m.rttMs / 1000)
      this.rtt.observe(m.rttMs / 1000)
    }
    rtts.sort((a, b) => a - b)
    const latencies = this.intervalLatencies.sort((a, b) => a - b)
    this.intervalLatencies = []
    const load = loadFigures(s.status.members)
    const self = s.status.members.find(m => m.self)
    const aggregates = this.init.aggregates?.() ?? null // [aggregate]
    const g: Record<string, number | null> = {
      connectivity_ratio: s.status.known > 0 ? s.status.reachable / s.status.known : 1,
      members_alive: s.status.counts.alive,
      members_known: s.status.known,
      connected_peers: s.status.connectedPeers,
      partitioned: s.status.partitioned ? 1 : 0,
      rtt_p50_seconds: rtts.length > 0 ? percentile(rtts, 0.5) : null,
      rtt_max_seconds: rtts.length > 0 ? rtts[rtts.length - 1] as number : null,
      throughput_messages_per_second: total / (intervalMs / 1000),
      decision_latency_p50_seconds: latencies.length > 0 ? percentile(latencies, 0.5) : null,
      decision_latency_p99_seconds: latencies.length > 0 ? percentile(latencies, 0.99) : null,
      vote_participation_ratio: s.consensus?.role === 'validator' && decided > 0 ? this.participation : null,
      view: s.consensus?.view ?? null,
      executed_seq: s.consensus?.lastExecuted ?? null,
      load_variance: load.variance,
      utilisation_mean_ratio: load.mean,
      utilisation_max_ratio: load.max,
      hotspot_members: load.hotspots,
      tasks_pending: s.taskCounts?.pending ?? null,
      tasks_assigned: s.taskCounts?.assigned ?? null,
      tasks_running: s.taskCounts?.running ?? null,
      cpu_ratio: this.cpuRatio,
      host_cpu_ratio: self?.load.cpu ?? null,
      rss_bytes: process.memoryUsage.rss(),
      heap_used_bytes: process.memoryUsage().heapUsed,
      eventloop_lag_seconds: this.loopLagSeconds,
      // [aggregate] push-sum estimates over the whole mesh (not only the records this node holds)
      mesh_size_estimate: aggregates?.count ?? null,
      mesh_utilisation_mean_ratio: aggregates?.utilisationMean ?? null,
      aggregate_error_bound_ratio: aggregates?.errorBound ?? null
    }
    this.series.add({ t: wallMs, d: intervalMs, g, c: delta })
  }

  /** Prometheus text exposition of the node's registry (ours and libp2p's). */
  async text (): Promise<string> {
    return await this.init.registry.metrics()
  }

  /** The `performance_report`: summaries over the last `windowMs` of the history (src/runtime/metrics/report.ts). */
  report (windowMs: number, timeframe: string, nowMs = Date.now()): PerformanceReport {
    const status = this.snapshot().status
    return buildReport(this.series, { peerId: status.peerId, name: status.name }, windowMs, timeframe, nowMs)
  }
}

/** The sample interval: MESH_METRICS_SAMPLE_MS (250..60000, for tests) or 10 s. */
export function sampleMsFromEnv (env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.MESH_METRICS_SAMPLE_MS
  if (raw == null || raw === '') return 10_000
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 250 || value > 60_000) throw new RangeError(`MESH_METRICS_SAMPLE_MS="${raw.slice(0, 20)}" must be a whole number of milliseconds, 250-60000 (default 10000)`)
  return value
}
