/**
 * `npm run bench -- consensus`: both engines in one run, each on its own `mesh testnet` on 127.0.0.1:
 * Raft with n = 3 members and pBFT with n = 4 validators.
 * - commit latency at one outstanding request: sequential writes through the leader's (primary's) HTTP
 *   API, each timed from request to answer;
 * - the RTT floor: request/response round trips between the same node processes on the consensus
 *   engine's own long-lived streams (`GET /v1/consensus/rtt`: transport echo frames, one at a time,
 *   timed inside the node), measured idle before the writes; and latency ÷ RTT;
 * - throughput: 64 and 256 concurrent writers spread over every node's HTTP API (keep-alive), each
 *   phase bounded in time; acknowledged writes per second and CPU per write (all members, and the
 *   load generator);
 * - the same 256 writes outstanding through the batched route (POST /v1/memory/:ns, 32 per exchange),
 *   to separate the engine's rate from the cost of one HTTP exchange per write;
 * - durability of acknowledgements: every acknowledged key is read back from the leader afterwards
 *   (value compared); any missing one is reported as lost.
 */
import { loadavg } from 'node:os'
import { Cluster, waitUntil } from '../e2e/harness.js'
import type { NodeProcess, TestnetNode } from '../e2e/harness.js'
import { progress } from './cluster.js'
import { distribution, round } from './stats.js'
import { cpuSeconds } from './proc.js'

export type Engine = 'raft' | 'pbft'

const namespace = 'bench'
let putErrors: Record<string, number> = {}

/** One write; false (and counted by cause) when refused or when the HTTP exchange failed. */
async function put (node: NodeProcess, key: string, value: string): Promise<boolean> {
  try {
    const res = await fetch(`${node.api}/v1/memory/${namespace}/${key}`, {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value }), signal: AbortSignal.timeout(30_000)
    })
    await res.arrayBuffer()
    if (res.status !== 200) putErrors[`http ${res.status}`] = (putErrors[`http ${res.status}`] ?? 0) + 1
    return res.status === 200
  } catch (err) {
    const cause = ((err as Error & { cause?: Error }).cause?.message ?? (err as Error).message).slice(0, 60)
    putErrors[cause] = (putErrors[cause] ?? 0) + 1
    return false
  }
}

/** Many writes in one exchange (POST /v1/memory/:ns): which were acknowledged (200), in order. */
async function putBatch (node: NodeProcess, puts: Array<{ key: string, value: string }>): Promise<boolean[]> {
  try {
    const res = await fetch(`${node.api}/v1/memory/${namespace}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ puts }), signal: AbortSignal.timeout(30_000)
    })
    if (res.status !== 200) { putErrors[`http ${res.status}`] = (putErrors[`http ${res.status}`] ?? 0) + puts.length; await res.arrayBuffer(); return puts.map(() => false) }
    const body = await res.json() as { results: Array<{ code: number }> }
    return body.results.map(r => {
      if (r.code !== 200) putErrors[`http ${r.code}`] = (putErrors[`http ${r.code}`] ?? 0) + 1
      return r.code === 200
    })
  } catch (err) {
    const cause = ((err as Error & { cause?: Error }).cause?.message ?? (err as Error).message).slice(0, 60)
    putErrors[cause] = (putErrors[cause] ?? 0) + puts.length
    return puts.map(() => false)
  }
}

interface ConsensusStats {
  mode: Engine
  primary: string | null
  lastExecuted: number
  view: number
  persisted: { fsyncs: number, records: number }
  frames: { received: Record<string, number>, sent: Record<string, number> }
  bundles: { count: number, operations: number }
  dropped: Record<string, number>
  raft?: { leader: string | null, commitIndex: number }
}

async function consensusOf (node: NodeProcess): Promise<ConsensusStats> {
  return await (await fetch(`${node.api}/v1/consensus`, { signal: AbortSignal.timeout(10_000) })).json() as ConsensusStats
}

/** Sequential echo round trips from `node` to every other member over the consensus streams (ms). */
async function transportRttOf (node: NodeProcess, samples: number): Promise<number[]> {
  const res = await fetch(`${node.api}/v1/consensus/rtt?samples=${samples}`, { signal: AbortSignal.timeout(60_000) })
  if (res.status !== 200) throw new Error(`GET /v1/consensus/rtt: HTTP ${res.status} ${await res.text()}`)
  const body = await res.json() as { rttMs: Record<string, number[]> }
  return Object.values(body.rttMs).flat()
}

/** Every key of `prefix` the node holds, with its value (paged list). */
async function readBack (node: NodeProcess, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  let after: string | undefined
  for (;;) {
    const url = `${node.api}/v1/memory/${namespace}?prefix=${encodeURIComponent(prefix)}&limit=1000${after != null ? `&after=${encodeURIComponent(after)}` : ''}`
    const body = await (await fetch(url, { signal: AbortSignal.timeout(30_000) })).json() as { entries: Array<{ key: string, value: string }> }
    for (const e of body.entries) out.set(e.key, e.value)
    if (body.entries.length < 1000) return out
    after = body.entries[body.entries.length - 1]?.key
  }
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0)

/** The host's 1/5/15-minute load averages, rounded. */
function load (): number[] {
  return loadavg().map(v => Math.round(v * 100) / 100)
}

/** CPU milliseconds this (bench) process used since `since` (process.cpuUsage). */
function benchCpuMs (since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since)
  return Math.round((used.user + used.system) / 1000)
}

/**
 * The HTTP share of a write: the same exchanges with nothing behind them. `GET /health` (a tiny JSON
 * answer, no consensus) by `concurrency` keep-alive clients spread over the nodes for `durationMs`:
 * exchanges per second, and the CPU one exchange costs the nodes and the load generator. A write by
 * PUT pays one such exchange on top of its consensus work; a batched write pays 1/batch of one.
 */
async function httpOnlyPhase (nodes: NodeProcess[], concurrency: number, durationMs: number): Promise<Record<string, unknown>> {
  const cpuBefore = nodes.map(n => cpuSeconds(n.pid) ?? 0)
  const generatorBefore = process.cpuUsage()
  let exchanges = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    const node = nodes[w % nodes.length] as NodeProcess
    while (performance.now() - started < durationMs) {
      const res = await fetch(`${node.api}/health`, { signal: AbortSignal.timeout(10_000) })
      await res.arrayBuffer()
      exchanges++
    }
  }))
  const elapsedMs = performance.now() - started
  const cpu = sum(nodes.map((n, i) => (cpuSeconds(n.pid) ?? 0) - (cpuBefore[i] as number)))
  return {
    concurrency,
    exchangesPerSecond: round(exchanges / (elapsedMs / 1000), 0),
    nodesCpuMsPerExchange: round(cpu * 1000 / Math.max(1, exchanges), 3),
    loadGeneratorCpuMsPerExchange: round(benchCpuMs(generatorBefore) / Math.max(1, exchanges), 3),
    note: 'no-op GET /health exchanges at the same concurrency, nothing behind them: what one HTTP exchange costs here'
  }
}

/**
 * One concurrent phase: `concurrency` writers spread over every node, `writes` writes in all, no new
 * write started after `deadlineMs`. Then every acknowledged write is read back from `reader`.
 */
async function throughputPhase (nodes: NodeProcess[], reader: NodeProcess, label: string, concurrency: number, writes: number, deadlineMs: number, batch = 1): Promise<Record<string, unknown>> {
  putErrors = {}
  const loadAtStart = load()
  // what one HTTP exchange costs at this concurrency, measured just before (2 s)
  const httpOnly = await httpOnlyPhase(nodes, Math.max(1, Math.floor(concurrency / batch)), 2_000)
  const before = await Promise.all(nodes.map(consensusOf))
  const cpuBefore = nodes.map(n => cpuSeconds(n.pid) ?? 0)
  const generatorBefore = process.cpuUsage()
  let next = 0
  const acknowledged = new Map<string, string>()
  const started = performance.now()
  let stoppedEarly = false
  // batch = 1: `concurrency` writers, one PUT each at a time; batch > 1: the same number of writes
  // outstanding, carried `batch` at a time by concurrency / batch POST /v1/memory/:ns exchanges
  await Promise.all(Array.from({ length: Math.max(1, Math.floor(concurrency / batch)) }, async (_, w) => {
    for (;;) {
      if (performance.now() - started > deadlineMs) { stoppedEarly = true; return }
      if (next >= writes) return
      const items: Array<{ key: string, value: string }> = []
      while (items.length < batch && next < writes) { const i = next++; items.push({ key: `${label}-${i}`, value: `v${i}` }) }
      const node = nodes[w % nodes.length] as NodeProcess
      if (batch === 1) {
        const item = items[0] as { key: string, value: string }
        if (await put(node, item.key, item.value)) acknowledged.set(item.key, item.value)
        continue
      }
      for (const [i, ok] of (await putBatch(node, items)).entries()) if (ok) acknowledged.set((items[i] as { key: string }).key, (items[i] as { value: string }).value)
    }
  }))
  const elapsedMs = performance.now() - started
  const generator = process.cpuUsage(generatorBefore)
  const cpu = nodes.map((n, i) => (cpuSeconds(n.pid) ?? 0) - (cpuBefore[i] as number))
  const after = await Promise.all(nodes.map(consensusOf))
  const leaderAfter = after.find(a => a.primary != null)?.primary
  const seqs = Math.max(...after.map(a => a.lastExecuted)) - Math.max(...before.map(b => b.lastExecuted))
  const fsyncs = sum(after.map(a => a.persisted.fsyncs)) - sum(before.map(b => b.persisted.fsyncs))
  const framesIn = sum(after.map(a => sum(Object.values(a.frames.received)))) - sum(before.map(b => sum(Object.values(b.frames.received))))
  // read back: the reader has applied everything it acknowledged through itself; wait for the others'
  const target = Math.max(...after.map(a => a.lastExecuted))
  await waitUntil(`${reader.name} applied ${target}`, 30_000, async () => (await consensusOf(reader)).lastExecuted >= target ? true : undefined, 100)
  const held = await readBack(reader, `${label}-`)
  let lost = 0
  for (const [key, value] of acknowledged) if (held.get(key) !== value) lost++
  progress(`${label}: ${acknowledged.size} writes by ${concurrency} writers in ${Math.round(elapsedMs)} ms (${round(acknowledged.size / (elapsedMs / 1000), 0)}/s), ${lost} acknowledged writes missing on read-back`)
  return {
    writes: next > writes ? writes : next,
    acknowledged: acknowledged.size,
    failed: { ...putErrors },
    stoppedAtDeadline: stoppedEarly,
    concurrency,
    batch,
    elapsedMs: round(elapsedMs, 0),
    writesPerSecond: round(acknowledged.size / (elapsedMs / 1000), 1),
    decisionsUsed: seqs,
    writesPerDecision: round(acknowledged.size / Math.max(1, seqs), 2),
    fsyncsAllNodes: fsyncs,
    writesPerFsyncAllNodes: round(acknowledged.size / Math.max(1, fsyncs), 2),
    framesReceivedAllNodes: framesIn,
    framesPerWriteAllNodes: round(framesIn / Math.max(1, acknowledged.size), 2),
    cpuSecondsPerNode: cpu.map(c => round(c, 2)),
    cpuMsPerWriteAllNodes: round(sum(cpu) * 1000 / Math.max(1, acknowledged.size), 3),
    loadGeneratorCpuMsPerWrite: round((generator.user + generator.system) / 1000 / Math.max(1, acknowledged.size), 3),
    benchProcessCpuSeconds: round((generator.user + generator.system) / 1e6, 2),
    httpOnly,
    httpCpuMsPerWriteAllNodes: round((httpOnly.nodesCpuMsPerExchange as number) / batch, 3),
    cpuMsPerWriteAllNodesWithoutHttp: round(sum(cpu) * 1000 / Math.max(1, acknowledged.size) - (httpOnly.nodesCpuMsPerExchange as number) / batch, 3),
    loadavg: { atStart: loadAtStart, atEnd: load() },
    readBack: { acknowledged: acknowledged.size, found: acknowledged.size - lost, lost, from: reader.name },
    leaderChanged: leaderAfter != null && leaderAfter !== before.find(b => b.primary != null)?.primary
  }
}

export interface ConsensusBenchOptions {
  sequential: number
  rttSamples: number
  /** batch > 1: that many writes per POST /v1/memory/:ns exchange, `concurrency` writes outstanding in all. */
  phases: Array<{ concurrency: number, writes: number, batch?: number }>
  /** Per throughput phase: no new write starts after this. */
  phaseDeadlineMs: number
}

export async function runConsensusBench (engine: Engine, n: number, options: ConsensusBenchOptions): Promise<Record<string, unknown>> {
  const cluster = new Cluster({ heartbeatIntervalMs: 1000, failureTimeoutMs: 10000 })
  const label = `${engine} n=${n}`
  try {
    const testnet = { nodes: cluster.testnet(n, { consensus: engine }) }
    const first = testnet.nodes[0] as TestnetNode
    const seed = await cluster.start(first.name, { dataDir: first.dataDir, extraArgs: ['--config', first.config] })
    const seedAddress = seed.runtime.multiaddrs[0] as string
    const nodes = [seed, ...await Promise.all(testnet.nodes.slice(1).map(async v =>
      await cluster.start(v.name, { dataDir: v.dataDir, bootstrap: [seedAddress], extraArgs: ['--config', v.config] })))]
    for (const node of nodes) {
      await waitUntil(`${node.name} connected to every member, a leader known`, 120_000, async () => {
        const c = await (await fetch(`${node.api}/v1/consensus`)).json() as { validators: Array<{ connected: boolean }>, primary: string | null }
        return c.validators.every(v => v.connected) && c.primary != null ? true : undefined
      }, 250)
    }
    // the leader (Raft) or the primary of view 0 (pBFT): no extra hop for its own requests
    const leaderId = (await consensusOf(seed)).primary
    const client = nodes.find(node => node.runtime.peerId === leaderId) ?? seed
    progress(`${label}: up and connected; leader/primary ${client.name}`)
    for (let i = 0; i < 20; i++) await put(client, `warm-${i}`, 'x') // streams open, caches warm
    await new Promise(resolve => setTimeout(resolve, 1_000))
    const rtt = distribution(await transportRttOf(client, options.rttSamples), 3)

    // the HTTP part of one write: a no-op exchange with the same client and node, sequential
    const sequentialLoad = load()
    const sequentialCpu = process.cpuUsage()
    const httpRoundTrips: number[] = []
    for (let i = 0; i < options.rttSamples; i++) {
      const started = performance.now()
      await (await fetch(`${client.api}/health`, { signal: AbortSignal.timeout(10_000) })).arrayBuffer()
      httpRoundTrips.push(performance.now() - started)
    }
    const http = distribution(httpRoundTrips, 3)
    const latencies: number[] = []
    for (let i = 0; i < options.sequential; i++) {
      const started = performance.now()
      if (!(await put(client, `seq-${i}`, `v${i}`))) throw new Error(`write ${i} was refused: ${JSON.stringify(putErrors)}`)
      latencies.push(performance.now() - started)
    }
    const latency = distribution(latencies, 2)
    const sequentialBenchCpuMs = benchCpuMs(sequentialCpu)
    progress(`${label}: ${options.sequential} sequential writes: p50 ${latency.p50} ms, p99 ${latency.p99} ms; RTT floor p50 ${rtt.p50} ms; no-op HTTP exchange p50 ${http.p50} ms; load ${sequentialLoad.join(' ')}`)

    const throughput: Array<Record<string, unknown>> = []
    for (const [i, phase] of options.phases.entries()) throughput.push(await throughputPhase(nodes, client, `par${i}`, phase.concurrency, phase.writes, options.phaseDeadlineMs, phase.batch))
    const final = await consensusOf(client)
    return {
      engine,
      members: n,
      f: engine === 'raft' ? Math.floor((n - 1) / 2) : Math.floor((n - 1) / 3),
      commitLatencyMs: {
        ...latency,
        note: `one outstanding write: ${options.sequential} sequential PUTs through the leader's/primary's HTTP API, each timed from request to answer (${engine === 'raft'
          ? 'HTTP, one AppendEntries round to a majority with an fsync on the leader and on the follower before it acknowledges, apply'
          : 'HTTP, client signature, 3 pBFT phases with each vote written to the log before it leaves (fdatasync behind, off the critical path), f+1 replies'})`
      },
      rttFloorMs: { ...rtt, note: `request/response on the long-lived consensus streams between the same processes: ${options.rttSamples} sequential echo frames from the leader/primary to each other member, timed inside the node (GET /v1/consensus/rtt), idle, before the writes` },
      latencyOverRtt: rtt.p50 != null && latency.p50 != null && rtt.p50 > 0 ? round(latency.p50 / rtt.p50, 2) : null,
      httpExchangeMs: { ...http, note: `${options.rttSamples} sequential no-op GET /health exchanges with the same client and node just before the writes: the HTTP part of each write's latency` },
      latencyWithoutHttpMs: latency.p50 != null && http.p50 != null ? round(latency.p50 - http.p50, 2) : null,
      latencyWithoutHttpOverRtt: rtt.p50 != null && latency.p50 != null && http.p50 != null && rtt.p50 > 0 ? round((latency.p50 - http.p50) / rtt.p50, 2) : null,
      sequentialPhase: { loadavg: { atStart: sequentialLoad, atEnd: load() }, benchProcessCpuMs: sequentialBenchCpuMs },
      throughput,
      finalTermOrView: final.view,
      dropped: final.dropped,
      note: 'writers spread over all members through their HTTP APIs (fetch, keep-alive); the load generator shares the 2 cores'
    }
  } finally {
    await cluster.stopAll()
  }
}
