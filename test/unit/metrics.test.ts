/**
 * Metrics and the performance report without a network: the bounded time series (bounds,
 * downsampling, persistence, a corrupt file), timeframe parsing, the report's summaries, and the
 * Prometheus names of src/runtime/metrics/metrics.ts, driven by fake node sources.
 */
import { describe, expect, it } from 'vitest'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { TimeSeries, loadSeries, parseTimeframe, saveSeries } from '../../src/runtime/metrics/timeseries.js'
import { MeshMetrics, loadFigures } from '../../src/runtime/metrics/metrics.js'
import type { ConsensusMetricsSource } from '../../src/runtime/metrics/metrics.js'
import type { CommittedDecision, ConsensusStatus } from '../../src/runtime/consensus/pbft.js'
import type { MemberView, NodeStatus } from '../../src/runtime/mesh-node.js'

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0)

function tempDir (): string {
  return mkdtempSync(join(tmpdir(), 'mesh-metrics-'))
}

describe('TimeSeries', () => {
  it('keeps at most fineSamplesMax samples and coarseBucketsMax buckets, dropping the oldest', () => {
    const series = new TimeSeries({ sampleMs: 1000, fineSamplesMax: 10, samplesPerBucket: 5, coarseBucketsMax: 4 })
    for (let i = 1; i <= 100; i++) series.add({ t: t0 + i * 1000, d: 1000, g: { x: i }, c: { n: 1 } })
    const sizes = series.sizes()
    expect(sizes.fine).toBe(10)
    expect(sizes.coarse).toBe(4)
    // the fine window holds the last 10 samples only
    const fine = series.summarize(10_000, t0 + 100_000)
    expect(fine.resolution).toBe('fine')
    expect(fine.samples).toBe(10)
    expect(fine.figures.x?.min).toBe(91)
    expect(fine.figures.x?.last).toBe(100)
    // a sample that goes back in time is ignored
    series.add({ t: t0 + 50_000, d: 1000, g: { x: -1 }, c: {} })
    expect(series.summarize(10_000, t0 + 100_000).figures.x?.min).toBe(91)
  })

  it('downsamples into buckets with exact min/max, weighted averages and summed counts', () => {
    const series = new TimeSeries({ sampleMs: 1000, fineSamplesMax: 6, samplesPerBucket: 5, coarseBucketsMax: 100 })
    // buckets are aligned to 5 s: samples at t0+5s..t0+9s fall in one bucket, t0+10s..14s in the next
    const values = [1, 2, 3, 4, 10, 20, 20, 20, 20, 20]
    values.forEach((v, i) => { series.add({ t: t0 + (i + 5) * 1000, d: 1000, g: { x: v, gap: i % 2 === 0 ? null : 1 }, c: { n: 2 } }) })
    // a window longer than the fine span (6 s) is answered from the buckets
    const coarse = series.summarize(60_000, t0 + 15_000)
    expect(coarse.resolution).toBe('coarse')
    expect(coarse.samples).toBe(10)
    expect(coarse.counts.n).toBe(20)
    expect(coarse.figures.x?.min).toBe(1)
    expect(coarse.figures.x?.max).toBe(20)
    expect(coarse.figures.x?.avg).toBeCloseTo(12, 6)
    expect(coarse.figures.x?.points).toBe(2)
    // bucket averages 4 and 20: percentiles are over them
    expect(coarse.figures.x?.p50).toBe(4)
    expect(coarse.figures.x?.p99).toBe(20)
    // null gauges are not values: 5 of the 10 samples have one
    expect(coarse.figures.gap?.avg).toBe(1)
    // the fine answer over the last 6 s matches the raw samples
    const fine = series.summarize(6_000, t0 + 14_000)
    expect(fine.samples).toBe(6)
    // averages keep 4 significant digits
    expect(fine.figures.x?.avg).toBeCloseTo((10 + 20 * 5) / 6, 2)
    expect(fine.counts.n).toBe(12)
    expect(fine.coveredMs).toBe(6000)
  })

  it('persists atomically and loads back the same summaries', () => {
    const dir = tempDir()
    try {
      const path = join(dir, 'metrics-history.json')
      const series = new TimeSeries({ sampleMs: 1000, fineSamplesMax: 20, samplesPerBucket: 4, coarseBucketsMax: 50 })
      for (let i = 1; i <= 30; i++) series.add({ t: t0 + i * 1000, d: 1000, g: { x: i * 1.5, y: i % 3 }, c: { n: i } })
      saveSeries(series, path)
      expect(existsSync(`${path}.tmp`)).toBe(false)
      const again = new TimeSeries({ sampleMs: 1000, fineSamplesMax: 20, samplesPerBucket: 4, coarseBucketsMax: 50 })
      const { warning, loaded } = loadSeries(again, path)
      expect(warning).toBeNull()
      expect(loaded).toEqual({ fine: 20, coarse: 7, skipped: 0 })
      expect(again.summarize(15_000, t0 + 30_000)).toEqual(series.summarize(15_000, t0 + 30_000))
      expect(again.summarize(3600_000, t0 + 30_000)).toEqual(series.summarize(3600_000, t0 + 30_000))
      // and keeps growing from there
      again.add({ t: t0 + 31_000, d: 1000, g: { x: 99 }, c: {} })
      expect(again.summarize(5_000, t0 + 31_000).figures.x?.last).toBe(99)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a corrupt history file gives a warning and a fresh series, never an exception', () => {
    const dir = tempDir()
    try {
      const path = join(dir, 'metrics-history.json')
      writeFileSync(path, '{"version": 1, "fine": [')
      const series = new TimeSeries()
      const { warning, loaded } = loadSeries(series, path)
      expect(loaded).toBeNull()
      expect(warning).toMatch(/unreadable.*starting a fresh history/)
      expect(series.sizes()).toEqual({ fine: 0, coarse: 0, open: false })
      // moved aside, so the next save does not overwrite the evidence
      expect(existsSync(`${path}.corrupt`)).toBe(true)
      expect(existsSync(path)).toBe(false)
      // wrong shapes are refused the same way
      for (const text of ['[]', '{"version": 2, "fine": [], "coarse": []}', '{"version": 1, "fine": {}, "coarse": []}', 'null']) {
        writeFileSync(path, text)
        expect(loadSeries(new TimeSeries(), path).warning).toMatch(/unreadable/)
      }
      // valid file with some bad entries: those are skipped and counted
      writeFileSync(path, JSON.stringify({
        version: 1, sampleMs: 10_000, samplesPerBucket: 30,
        fine: [{ t: t0, d: 10_000, g: { x: 1 }, c: {} }, { t: 'x', d: 1, g: {}, c: {} }, { t: t0 + 10_000, d: 10_000, g: { 'BAD NAME': 1 }, c: {} }, { t: t0 + 20_000, d: 10_000, g: { x: 3 }, c: { n: -1 } }],
        coarse: [{ t: 17, d: 1, n: 1, g: {}, c: {} }],
        open: null
      }))
      const partial = loadSeries(new TimeSeries(), path)
      expect(partial.loaded).toEqual({ fine: 1, coarse: 0, skipped: 4 })
      expect(partial.warning).toMatch(/skipped 4 invalid entries/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('parseTimeframe', () => {
  it('accepts 15m, 1h, 24h, 7d and refuses the rest with a message that says what is accepted', () => {
    expect(parseTimeframe('15m')).toBe(15 * 60_000)
    expect(parseTimeframe('1h')).toBe(3600_000)
    expect(parseTimeframe('24h')).toBe(86_400_000)
    expect(parseTimeframe('7d')).toBe(7 * 86_400_000)
    expect(parseTimeframe('90s')).toBe(90_000)
    for (const bad of ['', '24', 'h', '1 hour', '-1h', '1.5h', '0m', '01h', '1w']) {
      expect(() => parseTimeframe(bad)).toThrow(/like 15m, 1h, 24h or 7d/)
    }
    expect(() => parseTimeframe('8d')).toThrow(/from 1m to 7d/)
    expect(() => parseTimeframe('30s')).toThrow(/from 1m to 7d/)
  })
})

// ————————————————————————————————— MeshMetrics with fake sources

function member (peerId: string, over: Partial<MemberView> = {}): MemberView {
  return {
    peerId, name: peerId, state: 'alive', self: false, incarnation: 1, sequence: 1, lastSeenMs: 0, rttMs: 2, connected: true,
    capabilities: [], load: { queued: 0, running: 0, capacity: 4, cpu: 0.25 }, addresses: [], startedAt: null, neighbours: null, ...over
  } as MemberView
}

class FakeNode {
  members: MemberView[] = [member('a', { self: true, rttMs: null, connected: false }), member('b'), member('c', { load: { queued: 2, running: 2, capacity: 4, cpu: 0.5 } }), member('d', { rttMs: 8 })]
  partitioned = false
  rejected = { oversize: 0, undecodable: 0, invalid: 2, 'bad-signature': 1, 'sender-mismatch': 0, stale: 0, 'wrong-kind': 0 }
  status (): NodeStatus {
    const counts = { alive: 0, suspect: 0, failed: 0, left: 0 }
    for (const m of this.members) counts[m.state]++
    const known = this.members.filter(m => m.state !== 'left').length
    const reachable = this.members.filter(m => m.state === 'alive').length
    return {
      peerId: 'a', name: 'node-a', network: 'n', incarnation: 1, multiaddrs: [], api: null, connections: 3, connectedPeers: 3,
      partitioned: this.partitioned, mode: this.partitioned ? 'read-only' : 'read-write', reachable, known, counts,
      members: this.members, rejected: { ...this.rejected }, uptimeMs: 1, startedAt: '', heartbeatIntervalMs: 1000, failureTimeoutMs: 3000, slowdown: 1, consensus: null
    } as NodeStatus
  }
}

class FakeConsensus implements ConsensusMetricsSource {
  private readonly committed = new Set<(d: CommittedDecision) => void>()
  private readonly decided = new Set<(ms: number) => void>()
  views = { requested: 0, installed: 0 }
  received: Record<string, number> = {}
  lastExecuted = 0
  /** Set: a Raft network, with this Raft view (COMMIT frames are then never received). */
  raft: ConsensusStatus['raft'] = undefined
  status (): ConsensusStatus {
    return {
      ...(this.raft != null ? { mode: 'raft' as const, raft: this.raft } : { mode: 'pbft' as const }), role: 'validator', replica: 0, n: 4, f: 1, view: this.views.installed, primary: 'a', active: true, lastExecuted: this.lastExecuted, stableSeq: 0, highestKnown: this.lastExecuted, behind: 0, catchingUp: false,
      validators: [{ index: 0, peerId: 'a', name: 'a', connected: true, self: true }, { index: 1, peerId: 'b', name: 'b', connected: true, self: false }, { index: 2, peerId: 'c', name: 'c', connected: true, self: false }, { index: 3, peerId: 'd', name: 'd', connected: false, self: false }],
      dropped: { 'bad-signature': 3 }, frames: { received: { ...this.received }, sent: { commit: this.lastExecuted * 3 } },
      pendingClientRequests: 0, bundles: { count: 0, operations: 0 }, persisted: { fsyncs: 0, records: 0 }, storageError: null
    }
  }

  /** A Raft view: this node's role, and each other voter's match index as the leader sees it. */
  raftView (role: 'leader' | 'follower', lastIndex: number, match: Record<string, number>): void {
    this.raft = {
      term: 2, role, leader: role === 'leader' ? 'a' : 'b', commitIndex: lastIndex, appliedIndex: lastIndex, lastIndex, snapshotIndex: 0, transfers: { handedOver: 0, takenOver: 0 },
      members: ['a', 'b', 'c', 'd'].map(p => ({ peerId: p, name: p, role: 'voter' as const, match: role === 'leader' ? (p === 'a' ? lastIndex : match[p] ?? 0) : null, connected: true, self: p === 'a' }))
    }
  }

  onCommit (listener: (d: CommittedDecision) => void): () => void { this.committed.add(listener); return () => { this.committed.delete(listener) } }
  onDecided (listener: (ms: number) => void): () => void { this.decided.add(listener); return () => { this.decided.delete(listener) } }
  viewChangeCounts (): { requested: number, installed: number } { return { ...this.views } }
  /** `count` decisions of one operation each, proposed here with latency `ms`, every other validator voting `voters` times. */
  decide (count: number, ms: number, voters = 3): void {
    for (let i = 0; i < count; i++) {
      this.lastExecuted++
      this.received.commit = (this.received.commit ?? 0) + voters
      for (const l of this.decided) l(ms)
      for (const l of this.committed) l({ seq: this.lastExecuted, view: 0, digest: 'x', batch: [{ client: 'c', requestId: this.lastExecuted, operation: '{}' }] })
    }
  }
}

function fakeMetrics (options: { historyPath?: string } = {}): { metrics: MeshMetrics, node: FakeNode, consensus: FakeConsensus, registry: Registry, tasks: Record<string, number> } {
  const registry = new Registry()
  const node = new FakeNode()
  const consensus = new FakeConsensus()
  const tasks = { completed: 0, failed: 0, migrations: 0 }
  const metrics = new MeshMetrics({
    registry,
    status: () => node.status(),
    consensus: () => consensus,
    taskCounts: () => ({ pending: 2, assigned: 1, running: 3, completed: 5, failed: 0, cancelled: 0 }),
    taskStats: () => ({ ...tasks, auctions: 4 }),
    messaging: () => ({ stats: () => ({ sent: 10, received: 7, rejected: { 'bad-signature': 1 } }) }),
    historyPath: options.historyPath ?? null,
    sampleMs: 10_000
  })
  return { metrics, node, consensus, registry, tasks }
}

/** Parse the Prometheus text format: sample name{labels} → value. */
function parseProm (text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line)
    if (match == null) throw new Error(`not a Prometheus sample line: ${line}`)
    out.set(match[1] as string, Number(match[2]))
  }
  return out
}

describe('MeshMetrics', () => {
  it('Raft: vote participation is the share of the other voters that acknowledged appends, known on the leader only', async () => {
    const { metrics, registry, consensus } = fakeMetrics()
    metrics.start()
    const participation = async (): Promise<number | undefined> => parseProm(await metrics.text()).get('mesh_consensus_vote_participation_ratio')
    try {
      // leader: b and c at its last index, d behind and not advancing since the last sample
      consensus.raftView('leader', 0, {})
      metrics.sample(t0)
      consensus.decide(4, 10, 0)
      consensus.raftView('leader', 4, { b: 4, c: 4, d: 0 })
      metrics.sample(t0 + 10_000)
      expect(await participation()).toBeCloseTo(2 / 3, 9)
      // d catches up partly (advanced: it acknowledged), b and c at the last index
      consensus.decide(2, 10, 0)
      consensus.raftView('leader', 6, { b: 6, c: 6, d: 3 })
      metrics.sample(t0 + 20_000)
      expect(await participation()).toBe(1)
      // the report's figure: samples from the leader only (2/3, then 1)
      expect(metrics.report(3600_000, '1h', t0 + 25_000).figures.vote_participation_ratio).toMatchObject({ min: expect.closeTo(2 / 3, 3), max: 1 })
      // a follower does not know the others' acknowledgements: its samples have no figure (a null gauge,
      // never the COMMIT-frame count of 0, which would read "nobody voted")
      consensus.decide(1, 10, 0)
      consensus.raftView('follower', 7, {})
      metrics.sample(t0 + 30_000)
      expect(metrics.report(3600_000, '1h', t0 + 35_000).figures.vote_participation_ratio?.last).toBe(1)
      const follower = fakeMetrics()
      follower.metrics.start()
      try {
        follower.consensus.raftView('follower', 0, {})
        follower.metrics.sample(t0)
        follower.consensus.decide(3, 10, 0)
        follower.consensus.raftView('follower', 3, {})
        follower.metrics.sample(t0 + 10_000)
        expect(follower.metrics.report(3600_000, '1h', t0 + 15_000).figures.vote_participation_ratio).toBeUndefined()
      } finally {
        await follower.metrics.stop()
      }
    } finally {
      await metrics.stop()
    }
  })

  it('names every metric mesh_<subsystem>_<what>_<unit> and exposes the figures the issue lists', async () => {
    const { metrics, registry, consensus } = fakeMetrics()
    metrics.start()
    try {
      consensus.decide(5, 40)
      metrics.sample(t0 + 10_000)
      const names = (await registry.getMetricsAsJSON()).map(m => m.name)
      expect(names.length).toBeGreaterThan(30)
      for (const name of names) {
        expect(name).toMatch(/^mesh_[a-z]+_[a-z_]+$/)
        // mesh_<subsystem>_<what>_<unit>: a unit after at least one word of what
        expect(name).toMatch(/^mesh_[a-z]+_[a-z_]+_(seconds|bytes|ratio|total|per_second|members|peers|tasks|records|number|bool)$/)
      }
      expect(new Set(names).size).toBe(names.length)
      const text = await metrics.text()
      const samples = parseProm(text)
      // connectivity 4 of 4, members by state, rejected by reason, tasks by state
      expect(samples.get('mesh_membership_connectivity_ratio')).toBe(1)
      expect(samples.get('mesh_membership_state_members{state="alive"}')).toBe(4)
      expect(samples.get('mesh_network_rejected_messages_total{protocol="state",reason="invalid"}')).toBe(2)
      expect(samples.get('mesh_network_rejected_messages_total{protocol="pbft",reason="bad-signature"}')).toBe(3)
      expect(samples.get('mesh_network_rejected_messages_total{protocol="messaging",reason="bad-signature"}')).toBe(1)
      expect(samples.get('mesh_tasks_table_tasks{state="running"}')).toBe(3)
      // decision latency: 5 observations of 40 ms
      expect(samples.get('mesh_consensus_decision_latency_seconds_count')).toBe(5)
      expect(samples.get('mesh_consensus_decision_latency_seconds_bucket{le="0.05"}')).toBe(5)
      expect(samples.get('mesh_consensus_decision_latency_seconds_bucket{le="0.025"}')).toBe(0)
      expect(samples.get('mesh_consensus_decisions_total')).toBe(5)
      expect(samples.get('mesh_consensus_vote_participation_ratio')).toBe(1)
      expect(samples.get('mesh_consensus_reachable_validators_ratio')).toBe(0.75)
      // RTT: one observation per connected member with a measurement (b: 2 ms, c: 2 ms, d: 8 ms)
      expect(samples.get('mesh_network_rtt_seconds_count')).toBe(3)
      expect(samples.get('mesh_network_rtt_seconds_bucket{le="0.005"}')).toBe(2)
      // load: utilisations 0, 0, 1, 0 → one hotspot, variance 3/16
      expect(samples.get('mesh_scheduler_hotspot_members')).toBe(1)
      expect(samples.get('mesh_scheduler_load_variance_ratio')).toBeCloseTo(3 / 16, 9)
      expect(samples.get('mesh_network_messages_total{protocol="messaging",direction="in"}')).toBe(7)
      expect(samples.get('mesh_resource_rss_bytes')).toBeGreaterThan(1e6)
      expect(text).toContain('# TYPE mesh_consensus_decision_latency_seconds histogram')
      expect(text).toContain('# TYPE mesh_scheduler_migrations_total counter')
    } finally {
      await metrics.stop()
    }
  })

  it('connectivity falls when members become unreachable, and partition recovery is timed', async () => {
    const { metrics, node } = fakeMetrics()
    node.members[1] = { ...node.members[1] as MemberView, state: 'failed' }
    const samples = parseProm(await metrics.text())
    expect(samples.get('mesh_membership_connectivity_ratio')).toBe(0.75)
    expect(samples.get('mesh_membership_state_members{state="failed"}')).toBe(1)
    // partitioned for a while, then not: one recovery, timed
    metrics.checkPartition()
    node.partitioned = true
    metrics.checkPartition()
    expect(parseProm(await metrics.text()).get('mesh_membership_partitioned_bool')).toBe(1)
    await new Promise(resolve => setTimeout(resolve, 120))
    metrics.checkPartition()
    node.partitioned = false
    metrics.checkPartition()
    const after = parseProm(await metrics.text())
    expect(after.get('mesh_membership_partitions_total')).toBe(1)
    expect(after.get('mesh_membership_partition_recovery_seconds_count')).toBe(1)
    expect(after.get('mesh_membership_partition_recovery_seconds_sum')).toBeGreaterThanOrEqual(0.1)
    expect(after.get('mesh_membership_partitioned_bool')).toBe(0)
    expect(after.get('mesh_membership_partition_duration_seconds')).toBe(0)
  })

  it('load figures: variance and hotspots over the alive members only', () => {
    const members = [
      member('a', { load: { queued: 0, running: 4, capacity: 4, cpu: 0 } }),
      member('b', { load: { queued: 9, running: 0, capacity: 10, cpu: 0 } }),
      member('c', { load: { queued: 1, running: 1, capacity: 10, cpu: 0 } }),
      member('d', { state: 'failed', load: { queued: 9, running: 9, capacity: 1, cpu: 0 } })
    ]
    const f = loadFigures(members)
    expect(f.hotspots).toBe(2)
    expect(f.mean).toBeCloseTo((1 + 0.9 + 0.2) / 3, 9)
    expect(f.max).toBe(1)
    expect(loadFigures([])).toEqual({ variance: 0, mean: 0, max: 0, hotspots: 0 })
  })

  it('the report summarises the window: figures, counts and throughput, and survives a restart', async () => {
    const dir = tempDir()
    const path = join(dir, 'metrics-history.json')
    try {
      const first = fakeMetrics({ historyPath: path })
      first.metrics.start()
      first.consensus.decide(3, 20)
      first.tasks.completed = 2
      first.metrics.sample(t0 + 10_000)
      first.consensus.decide(2, 100, 2)
      first.consensus.views.installed = 1
      first.tasks.completed = 5
      first.tasks.failed = 1
      first.tasks.migrations = 4
      first.node.members[3] = { ...first.node.members[3] as MemberView, state: 'suspect' }
      first.metrics.sample(t0 + 20_000)
      const report = first.metrics.report(3600_000, '1h', t0 + 25_000)
      expect(report.samples).toBe(2)
      expect(report.resolution).toBe('fine')
      expect(report.counts.decisions).toBe(5)
      expect(report.counts.proposalsDecided).toBe(5)
      expect(report.counts.viewChanges).toBe(1)
      expect(report.counts.tasksCompleted).toBe(5)
      expect(report.counts.tasksFailed).toBe(1)
      expect(report.counts.migrations).toBe(4)
      const latency = report.figures.decision_latency_p50_seconds
      expect(latency?.min).toBeCloseTo(0.02, 6)
      expect(latency?.max).toBeCloseTo(0.1, 6)
      expect(latency?.last).toBeCloseTo(0.1, 6)
      // participation: 3 of 3 votes per decision, then 2 of 3
      expect(report.figures.vote_participation_ratio?.min).toBeCloseTo(2 / 3, 3)
      expect(report.figures.vote_participation_ratio?.max).toBe(1)
      expect(report.figures.connectivity_ratio?.max).toBe(1)
      expect(report.figures.connectivity_ratio?.last).toBe(0.75)
      expect(report.figures.members_alive?.min).toBe(3)
      expect(report.figures.tasks_running?.avg).toBe(3)
      expect(report.throughput.byProtocol.messaging).toBeGreaterThan(0)
      expect(report.figures.rss_bytes?.unit).toBe('bytes')
      await first.metrics.stop()
      expect(existsSync(path)).toBe(true)
      JSON.parse(readFileSync(path, 'utf8'))

      // a new process on the same data dir: the history is back, and grows
      const second = fakeMetrics({ historyPath: path })
      second.metrics.start()
      second.metrics.sample(t0 + 30_000)
      const after = second.metrics.report(3600_000, '1h', t0 + 35_000)
      expect(after.samples).toBe(3)
      expect(after.counts.decisions).toBe(5)
      expect(after.from).toBe(new Date(report.from as string).toISOString())
      await second.metrics.stop()
      // an empty window says so
      expect(second.metrics.report(60_000, '1m', t0 + 3600_000).samples).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
