/**
 * `npm run bench -- consensus`: n = 4 and n = 7 validator processes from `mesh testnet` on 127.0.0.1.
 * - commit latency at one outstanding request: sequential writes through one validator's HTTP API,
 *   each timed from request to the f+1-confirmed answer;
 * - throughput: many concurrent writers (the primary batches whatever is pending), acknowledged
 *   writes per second;
 * - the RTT floor: libp2p ping between the same processes (each node's measured rttMs to the others);
 * - latency ÷ RTT.
 */
import { join } from 'node:path'
import { Cluster, waitUntil } from '../e2e/harness.js'
import type { NodeProcess, TestnetNode } from '../e2e/harness.js'
import { progress } from './cluster.js'
import { distribution, round } from './stats.js'
import { cpuSeconds } from './proc.js'

let putErrors: Record<string, number> = {}

/** One write; false (and counted by cause) when refused or when the HTTP exchange failed. */
async function put (node: NodeProcess, key: string, value: string): Promise<boolean> {
  try {
    const res = await fetch(`${node.api}/v1/memory/bench/${key}`, {
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

interface ConsensusStats {
  lastExecuted: number
  view: number
  persisted: { fsyncs: number, records: number }
  frames: { received: Record<string, number>, sent: Record<string, number> }
  bundles: { count: number, operations: number }
  dropped: Record<string, number>
}

async function consensusOf (node: NodeProcess): Promise<ConsensusStats> {
  return await (await fetch(`${node.api}/v1/consensus`, { signal: AbortSignal.timeout(10_000) })).json() as ConsensusStats
}

async function rttOf (nodes: NodeProcess[]): Promise<number[]> {
  const rtts: number[] = []
  for (const node of nodes) {
    const status = await (await fetch(`${node.api}/v1/status`)).json() as { members: Array<{ rttMs: number | null, self: boolean }> }
    for (const m of status.members) if (!m.self && m.rttMs != null) rtts.push(m.rttMs)
  }
  return rtts
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0)

/** One concurrent phase: `concurrency` writers spread over every node, `writes` writes in all. */
async function throughputPhase (nodes: NodeProcess[], label: string, concurrency: number, writes: number): Promise<Record<string, unknown>> {
  putErrors = {}
  const before = await Promise.all(nodes.map(consensusOf))
  const cpuBefore = nodes.map(n => cpuSeconds(n.pid) ?? 0)
  let next = 0
  let acknowledged = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    for (;;) {
      const i = next++
      if (i >= writes) return
      if (await put(nodes[w % nodes.length] as NodeProcess, `${label}-${i}`, `v${i}`)) acknowledged++
    }
  }))
  const elapsedMs = performance.now() - started
  const cpu = nodes.map((n, i) => (cpuSeconds(n.pid) ?? 0) - (cpuBefore[i] as number))
  const after = await Promise.all(nodes.map(consensusOf))
  const primary = after[0] as ConsensusStats
  const seqs = primary.lastExecuted - (before[0] as ConsensusStats).lastExecuted
  const bundles = sum(after.map(a => a.bundles.count)) - sum(before.map(b => b.bundles.count))
  const bundled = sum(after.map(a => a.bundles.operations)) - sum(before.map(b => b.bundles.operations))
  const fsyncs = sum(after.map(a => a.persisted.fsyncs)) - sum(before.map(b => b.persisted.fsyncs))
  const framesIn = sum(after.map(a => sum(Object.values(a.frames.received)))) - sum(before.map(b => sum(Object.values(b.frames.received))))
  progress(`consensus n=${nodes.length}: ${acknowledged} writes by ${concurrency} writers in ${Math.round(elapsedMs)} ms`)
  return {
    writes,
    acknowledged,
    failed: { ...putErrors },
    concurrency,
    elapsedMs: round(elapsedMs, 0),
    decisionsPerSecond: round(acknowledged / (elapsedMs / 1000), 1),
    sequenceNumbersUsed: seqs,
    writesPerSequenceNumber: round(acknowledged / Math.max(1, seqs), 2),
    bundlesSent: bundles,
    writesInBundles: bundled,
    fsyncsAllNodes: fsyncs,
    framesReceivedAllNodes: framesIn,
    cpuSecondsPerNode: cpu.map(c => round(c, 2)),
    cpuMsPerWriteAllNodes: round(sum(cpu) * 1000 / Math.max(1, acknowledged), 2)
  }
}

export async function runConsensusBench (n: number, options: { sequential: number, phases: Array<{ concurrency: number, writes: number }> }): Promise<Record<string, unknown>> {
  const cluster = new Cluster({ heartbeatIntervalMs: 1000, failureTimeoutMs: 10000 })
  try {
    const testnet = { nodes: cluster.testnet(n) }
    const first = testnet.nodes[0] as TestnetNode
    const seed = await cluster.start(first.name, { dataDir: first.dataDir, extraArgs: ['--config', first.config] })
    const seedAddress = seed.runtime.multiaddrs[0] as string
    const nodes = [seed, ...await Promise.all(testnet.nodes.slice(1).map(async v =>
      await cluster.start(v.name, { dataDir: v.dataDir, bootstrap: [seedAddress], extraArgs: ['--config', v.config] })))]
    for (const node of nodes) {
      await waitUntil(`${node.name} connected to every validator`, 120_000, async () => {
        const c = await (await fetch(`${node.api}/v1/consensus`)).json() as { validators: Array<{ connected: boolean }> }
        return c.validators.every(v => v.connected) ? true : undefined
      }, 250)
    }
    progress(`consensus n=${n}: ${n} validators up and connected`)
    const client = nodes[0] as NodeProcess // the primary of view 0: no extra hop for its own requests
    for (let i = 0; i < 20; i++) await put(client, `warm-${i}`, 'x') // streams open, caches warm
    // the RTT floor, measured while idle (pings every heartbeat; a few rounds after the warm-up)
    await new Promise(resolve => setTimeout(resolve, 4_000))
    const rtt = distribution(await rttOf(nodes), 2)

    const latencies: number[] = []
    for (let i = 0; i < options.sequential; i++) {
      const started = performance.now()
      if (!(await put(client, `seq-${i}`, `v${i}`))) throw new Error(`write ${i} was refused`)
      latencies.push(performance.now() - started)
    }
    progress(`consensus n=${n}: ${options.sequential} sequential writes done`)
    const latency = distribution(latencies, 2)

    const throughput: Array<Record<string, unknown>> = []
    for (const [i, phase] of options.phases.entries()) throughput.push(await throughputPhase(nodes, `par${i}`, phase.concurrency, phase.writes))
    const final = await consensusOf(client)
    return {
      validators: n,
      f: Math.floor((n - 1) / 3),
      commitLatencyMs: { ...latency, note: `one outstanding request: ${options.sequential} sequential writes through the primary's HTTP API (HTTP, client signature, 3 pBFT phases with an fsync before each vote, f+1 signed replies)` },
      rttMs: { ...rtt, note: 'libp2p ping between the same processes (a new stream per ping), every node to every other, measured idle before the load' },
      latencyOverRtt: rtt.p50 != null && latency.p50 != null && rtt.p50 > 0 ? round(latency.p50 / rtt.p50, 2) : null,
      throughput,
      finalView: final.view,
      dropped: final.dropped,
      note: 'writers spread over all validators through their HTTP APIs; concurrent writes at one node leave as bundles (one signature); the load generator shares the machine'
    }
  } finally {
    await cluster.stopAll()
  }
}
