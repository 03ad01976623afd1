/**
 * Metrics on a real 4-validator testnet (separate node processes on 127.0.0.1, OS-chosen ports):
 * GET /metrics is Prometheus text with the mesh_* figures and libp2p's own, agreeing with /v1/status;
 * N writes grow the decision-latency histogram by ≥ N; `mesh report` has the figures; a node
 * restarted on its data dir still reports the samples from before; kill -9 of one node makes
 * connectivity fall below 1 on the others. Nodes sample every second (MESH_METRICS_SAMPLE_MS).
 * Runs on a pBFT and on a Raft genesis (MESH_TEST_ENGINES, e.g. "raft", runs one of them only): the
 * engine-specific figures (frames labelled protocol="pbft" or "raft", the view number — a Raft term —,
 * vote participation — on Raft known on the leader only) are checked per engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { api, Cluster, meshBin, waitUntil } from './harness.js'
import type { NodeProcess, TestnetNode } from './harness.js'
import type { PerformanceReport } from '../../src/runtime/metrics/metrics.js'

const env = { MESH_METRICS_SAMPLE_MS: '1000' }

interface Scrape { contentType: string, text: string, samples: Map<string, number>, types: Map<string, string> }

/** GET /metrics and parse the text format (every line must parse). */
async function scrape (node: NodeProcess): Promise<Scrape> {
  const res = await fetch(`${node.api}/metrics`, { signal: AbortSignal.timeout(10_000) })
  if (res.status !== 200) throw new Error(`GET /metrics on ${node.name}: ${res.status}`)
  const text = await res.text()
  const samples = new Map<string, number>()
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line)
    if (type != null) { types.set(type[1] as string, type[2] as string); continue }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?) (\S+)$/.exec(line)
    if (sample == null) throw new Error(`${node.name}: not a Prometheus line: ${line}`)
    samples.set(sample[1] as string, Number(sample[2]))
  }
  return { contentType: res.headers.get('content-type') ?? '', text, samples, types }
}

const value = (s: Scrape, key: string): number => {
  const v = s.samples.get(key)
  if (v === undefined) throw new Error(`no sample ${key}`)
  return v
}

function report (node: NodeProcess, ...args: string[]): { status: number | null, stdout: string, stderr: string } {
  const run = spawnSync(process.execPath, [meshBin, 'report', '--data-dir', node.dataDir, ...args], { encoding: 'utf8', timeout: 30_000 })
  return { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

const engines = (process.env.MESH_TEST_ENGINES ?? 'pbft,raft').split(',').filter((e): e is 'pbft' | 'raft' => e === 'pbft' || e === 'raft')

interface ConsensusView { mode: string, view: number | null, primary: string | null, validators: Array<{ connected: boolean }> }

describe.each(engines)('metrics and the performance report on a 4-validator testnet (%s)', engine => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const validators: NodeProcess[] = []
  let testnet: TestnetNode[] = []
  let seed = ''
  const writes = 12

  const start = async (n: TestnetNode): Promise<NodeProcess> => await cluster.start(n.name, { dataDir: n.dataDir, bootstrap: seed === '' ? [] : [seed], extraArgs: ['--config', n.config], env })

  const waitConnected = async (nodes: NodeProcess[]): Promise<void> => {
    for (const node of nodes) {
      await cluster.waitForStatus(node, '4 alive members', s => s.counts.alive === 4)
      await waitUntil(`${node.name} connected to all validators`, 30_000, async () => {
        const c = await api<ConsensusView>(node, 'GET', '/v1/consensus')
        return c.body.validators.every(v => v.connected) ? true : undefined
      })
    }
  }

  /** The primary (pBFT) or leader (Raft: none until its first election) every node agrees on. */
  const primary = async (nodes: NodeProcess[]): Promise<NodeProcess> => await waitUntil('one primary/leader every node agrees on', 30_000, async () => {
    const views = await Promise.all(nodes.map(async n => (await api<ConsensusView>(n, 'GET', '/v1/consensus')).body))
    const id = views[0]?.primary
    return id != null && views.every(v => v.primary === id && v.mode === engine) ? nodes.find(n => n.runtime.peerId === id) : undefined
  })

  beforeAll(async () => {
    testnet = cluster.testnet(4, { consensus: engine })
    validators.push(await start(testnet[0] as TestnetNode))
    seed = validators[0]?.runtime.multiaddrs[0] as string
    validators.push(...await Promise.all(testnet.slice(1).map(start)))
    await waitConnected(validators)
    await primary(validators)
  })

  afterAll(async () => {
    await cluster.stopAll()
  })

  it('GET /metrics is Prometheus text with the mesh_* figures and libp2p\'s own, agreeing with /v1/status', async () => {
    const node = validators[0] as NodeProcess
    const s = await scrape(node)
    expect(s.contentType).toBe('text/plain; version=0.0.4; charset=utf-8')
    const required: Array<[string, string]> = [
      ['mesh_membership_connectivity_ratio', 'gauge'],
      ['mesh_membership_state_members', 'gauge'],
      ['mesh_membership_partition_recovery_seconds', 'histogram'],
      ['mesh_network_rtt_seconds', 'histogram'],
      ['mesh_network_throughput_messages_per_second', 'gauge'],
      ['mesh_network_messages_total', 'counter'],
      ['mesh_network_rejected_messages_total', 'counter'],
      ['mesh_consensus_decision_latency_seconds', 'histogram'],
      ['mesh_consensus_vote_participation_ratio', 'gauge'],
      ['mesh_consensus_view_changes_total', 'counter'],
      ['mesh_scheduler_load_variance_ratio', 'gauge'],
      ['mesh_scheduler_migrations_total', 'counter'],
      ['mesh_scheduler_hotspot_members', 'gauge'],
      ['mesh_resource_cpu_ratio', 'gauge'],
      ['mesh_resource_rss_bytes', 'gauge'],
      ['mesh_resource_eventloop_lag_seconds', 'gauge'],
      ['mesh_tasks_table_tasks', 'gauge']
    ]
    for (const [name, type] of required) expect(s.types.get(name), name).toBe(type)
    for (const name of s.types.keys()) {
      if (name.startsWith('mesh_')) expect(name).toMatch(/^mesh_[a-z]+_[a-z_]+_(seconds|bytes|ratio|total|per_second|members|peers|tasks|records|number|bool)$/)
    }
    // libp2p's own metrics (and the process metrics it collects) are in the same registry
    expect([...s.types.keys()].some(n => n.startsWith('libp2p_'))).toBe(true)
    expect(s.types.has('libp2p_data_transfer_bytes_total')).toBe(true)
    expect(s.types.has('process_cpu_seconds_total')).toBe(true)
    expect(value(s, 'mesh_tasks_table_tasks{state="pending"}')).toBe(0)
    // the same picture as /v1/status: a scrape is built from a snapshot at most 500 ms old, so on a
    // loaded machine (a member briefly suspect) the two may differ for a moment; they must agree soon
    const { scraped, status } = await waitUntil('/metrics to agree with /v1/status', 30_000, async () => {
      const scraped = await scrape(node)
      const status = await cluster.status(node)
      return value(scraped, 'mesh_membership_state_members{state="alive"}') === status.counts.alive && status.counts.alive === 4 &&
        value(scraped, 'mesh_membership_reachable_members') === status.reachable ? { scraped, status } : undefined
    }, 600)
    expect(value(scraped, 'mesh_membership_known_members')).toBe(status.known)
    expect(value(scraped, 'mesh_membership_connectivity_ratio')).toBe(status.reachable / status.known)
    expect(value(scraped, 'mesh_membership_connectivity_ratio')).toBe(1)
    expect(value(scraped, 'mesh_membership_partitioned_bool')).toBe(0)
    // the view number is the pBFT view (0 before any view change) or the Raft term (≥ 1 once elected)
    // (a scrape's snapshot may be up to 500 ms old: under load an election can move the term between
    // the two reads, so they must agree soon, not at once)
    expect(s.types.get('mesh_consensus_view_number')).toBe('gauge')
    const consensus = await waitUntil('the view number gauge to agree with /v1/consensus', 30_000, async () => {
      const view = value(await scrape(node), 'mesh_consensus_view_number')
      const body = (await api<ConsensusView>(node, 'GET', '/v1/consensus')).body
      return view === body.view ? body : undefined
    }, 600)
    if (engine === 'raft') expect(consensus.view).toBeGreaterThanOrEqual(1)
  })

  it(`after ${writes} writes the decision-latency histogram count grows by at least ${writes}`, async () => {
    const writer = validators[1] as NodeProcess
    const before = await Promise.all(validators.map(scrape))
    for (let i = 0; i < writes; i++) {
      // a write that times out in a view change (a loaded machine) is retried: only decided ones count
      let res = await api<{ ok: boolean, error?: string }>(writer, 'PUT', `/v1/memory/m/k${i}`, { value: `v${i}` }, 30_000)
      for (let attempt = 0; res.status !== 200 && attempt < 3; attempt++) res = await api<{ ok: boolean, error?: string }>(writer, 'PUT', `/v1/memory/m/k${i}`, { value: `v${i}` }, 30_000)
      expect(res.status, res.body.error).toBe(200)
    }
    const after = await scrape(writer)
    const count = 'mesh_consensus_decision_latency_seconds_count'
    expect(value(after, count) - value(before[1] as Scrape, count)).toBeGreaterThanOrEqual(writes)
    expect(value(after, 'mesh_consensus_decision_latency_seconds_sum')).toBeGreaterThan(value(before[1] as Scrape, 'mesh_consensus_decision_latency_seconds_sum'))
    // gauges come from a snapshot up to 500 ms old: the executed sequence number catches up soon
    await waitUntil(`${writer.name}'s executed sequence number to reach ${writes}`, 30_000, async () =>
      value(await scrape(writer), 'mesh_consensus_executed_sequence_number') >= writes ? true : undefined, 250)
    // every validator executed them: one decision per sequential write
    for (const [i, node] of validators.entries()) {
      await waitUntil(`${node.name} to count ${writes} more decisions`, 30_000, async () => {
        const s = await scrape(node)
        return value(s, 'mesh_consensus_decisions_total') - value(before[i] as Scrape, 'mesh_consensus_decisions_total') >= writes ? true : undefined
      })
    }
    // consensus frames are counted under the engine's own protocol label, never the other's
    const framesIn = `mesh_network_messages_total{protocol="${engine}",direction="in"}`
    const other = `mesh_network_messages_total{protocol="${engine === 'pbft' ? 'raft' : 'pbft'}",direction="in"}`
    // (frame counts come from the snapshot too, up to 500 ms old: Raft decides 12 writes in less than
    // that, so a scrape right after them can still show the count from before — wait for the next one)
    for (const [i, node] of validators.entries()) {
      const now = await waitUntil(`${node.name}'s ${engine} frames in to grow`, 30_000, async () => {
        const s = await scrape(node)
        return value(s, framesIn) > value(before[i] as Scrape, framesIn) ? s : undefined
      }, 250)
      expect(now.samples.get(other) ?? 0, node.name).toBe(0)
    }
  })

  it('mesh report --format json has the figures and counts; the table and bad flags behave', async () => {
    const node = validators[1] as NodeProcess
    // the writes of the previous test are in a sample once the next one is taken
    const json = await waitUntil('a report with the writes in it', 30_000, async () => {
      // 5 min: within the fine ring (360 samples, here 6 min at 1 s samples)
      const run = report(node, '--format', 'json', '--timeframe', '5m')
      if (run.status !== 0) throw new Error(run.stderr)
      const parsed = JSON.parse(run.stdout) as PerformanceReport
      return parsed.counts.proposalsDecided >= writes && parsed.samples >= 3 ? parsed : undefined
    })
    expect(json.resolution).toBe('fine')
    expect(json.counts.decisions).toBeGreaterThanOrEqual(writes)
    for (const figure of ['connectivity_ratio', 'rtt_p50_seconds', 'throughput_messages_per_second', 'decision_latency_p50_seconds', 'decision_latency_p99_seconds', ...(engine === 'pbft' ? ['vote_participation_ratio'] : []), 'load_variance', 'hotspot_members', 'cpu_ratio', 'rss_bytes', 'eventloop_lag_seconds', 'tasks_running']) {
      const f = json.figures[figure]
      expect(f, figure).toBeDefined()
      expect(f?.min).toBeLessThanOrEqual(f?.avg as number)
      expect(f?.avg).toBeLessThanOrEqual((f?.max as number) * (1 + 1e-3))
    }
    expect(json.figures.decision_latency_p50_seconds?.max).toBeGreaterThan(0)
    expect(json.figures.connectivity_ratio?.last).toBe(1)
    expect(json.throughput.byProtocol[engine]).toBeGreaterThan(0)
    expect(json.throughput.byProtocol[engine === 'pbft' ? 'raft' : 'pbft'] ?? 0).toBe(0)
    // vote participation: every validator voted (pBFT: COMMITs; Raft: acknowledged appends, known on
    // the leader only — a follower has no such figure)
    const leader = await primary(validators)
    const participation = engine === 'pbft' || leader === node
      ? json.figures.vote_participation_ratio
      : (JSON.parse(report(leader, '--format', 'json', '--timeframe', '5m').stdout) as PerformanceReport).figures.vote_participation_ratio
    expect(participation?.max).toBe(1)
    if (engine === 'raft' && leader !== node) expect(json.figures.vote_participation_ratio).toBeUndefined()
    // the 24 h default answers from the 5-minute buckets (here 30 s, at 1 s samples)
    const day = JSON.parse(report(node, '--json').stdout) as PerformanceReport
    expect(day.timeframe).toBe('24h')
    expect(day.resolution).toBe('coarse')
    expect(day.counts.decisions).toBe(json.counts.decisions)
    const table = report(node)
    expect(table.status).toBe(0)
    expect(table.stdout).toMatch(/FIGURE\s+MIN\s+AVG\s+MAX\s+P50\s+P99\s+LAST/)
    expect(table.stdout).toMatch(/decision_latency_p50_seconds/)
    const bad = report(node, '--timeframe', '2weeks')
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/--timeframe: .*like 15m, 1h, 24h or 7d/)
    expect(report(node, '--format', 'yaml').status).toBe(2)
    const http = await api<{ error: string }>(node, 'GET', '/v1/report?timeframe=99d')
    expect(http.status).toBe(400)
    expect(http.body.error).toMatch(/from 1m to 7d/)
  })

  it('a node restarted on its data dir still reports the samples from before', async () => {
    const node = validators[3] as NodeProcess
    const before = (await api<PerformanceReport>(node, 'GET', '/v1/report?timeframe=1h')).body
    expect(before.samples).toBeGreaterThanOrEqual(3)
    cluster.kill(node, 'SIGTERM')
    expect((await cluster.waitExit(node)).code).toBe(0)
    expect(existsSync(join(node.dataDir, 'metrics-history.json'))).toBe(true)
    const restarted = await start(testnet[3] as TestnetNode)
    validators[3] = restarted
    expect(cluster.log(restarted)).toMatch(/metrics history: \d+ samples/)
    const after = (await api<PerformanceReport>(restarted, 'GET', '/v1/report?timeframe=1h')).body
    expect(after.from).toBe(before.from)
    expect(after.samples).toBeGreaterThanOrEqual(before.samples)
    expect(after.counts.decisions).toBeGreaterThanOrEqual(before.counts.decisions)
    await waitConnected(validators)
  })

  it('kill -9 of one node: connectivity falls below 1 on the others, as /v1/status says', async () => {
    const victim = validators[3] as NodeProcess
    cluster.kill(victim, 'SIGKILL')
    await cluster.waitExit(victim)
    for (const node of validators.slice(0, 3)) {
      const s = await waitUntil(`${node.name}: connectivity below 1`, 60_000, async () => {
        const scraped = await scrape(node)
        return value(scraped, 'mesh_membership_connectivity_ratio') < 1 ? scraped : undefined
      })
      expect(value(s, 'mesh_membership_connectivity_ratio')).toBeCloseTo(3 / 4, 9)
      const status = await cluster.status(node)
      expect(status.reachable / status.known).toBeCloseTo(3 / 4, 9)
      expect(value(s, 'mesh_consensus_reachable_validators_ratio')).toBeLessThan(1)
    }
  })
})
