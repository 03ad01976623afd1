/**
 * `npm run bench -- eventual`: the eventually consistent memory in a 12-node mesh without genesis.
 *
 *   spread       one PUT at a time on a rotating node: the PUT's answer time, and the time from sending
 *                it until every other node serves the key (each node polled over HTTP every `pollMs`:
 *                the figure is rounded up to that resolution and includes one HTTP round trip)
 *   single       `writers` concurrent PUT loops against one node: acknowledged writes per second, and
 *                CPU-seconds per write on that node and over the whole mesh
 *   batch        POST batches of 256 puts, `batchWriters` at a time, against one node: writes per second
 *   converge     after the single and batch bursts: time until every node holds as many keys as the
 *                writer (gossip, then anti-entropy for what gossip dropped)
 */
import { sleep } from '../e2e/harness.js'
import type { Cluster, NodeProcess } from '../e2e/harness.js'
import { progress } from './cluster.js'
import { runJoin } from './phases.js'
import { cpuSeconds } from './proc.js'
import { distribution, round } from './stats.js'

export interface EventualBenchOptions {
  n: number
  spreadSamples: number
  pollMs: number
  writers: number
  writes: number
  batchWriters: number
  batches: number
  deadlineMs: number
}

async function http (node: NodeProcess, method: string, path: string, body?: unknown): Promise<{ status: number, body: unknown }> {
  const res = await fetch(`${node.api}${path}`, {
    method,
    headers: body !== undefined ? { 'content-type': 'application/json' } : {},
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000)
  })
  return { status: res.status, body: await res.json() as unknown }
}

const meshCpu = (nodes: NodeProcess[]): number => nodes.reduce((sum, node) => sum + (cpuSeconds(node.pid) ?? 0), 0)

export async function runEventualBench (cluster: Cluster, options: EventualBenchOptions): Promise<Record<string, unknown>> {
  const join = await runJoin(cluster, { n: options.n, deadlineMs: options.deadlineMs, pollIntervalMs: 500, settleMs: 3_000 })
  if (!join.full) return { error: `the ${options.n}-node mesh did not form`, join: join.result }
  const nodes = [...join.nodes].sort((a, b) => a.name.localeCompare(b.name))
  await sleep(3_000)

  // spread: one write at a time, until every node serves it
  progress(`eventual: spread, ${options.spreadSamples} writes`)
  const ackMs: number[] = []
  const allMs: number[] = []
  let spreadTimeouts = 0
  for (let i = 0; i < options.spreadSamples; i++) {
    const writer = nodes[i % nodes.length] as NodeProcess
    const others = nodes.filter(n => n !== writer)
    const key = `s${i}`
    const t0 = performance.now()
    const put = await http(writer, 'PUT', `/v1/memory/spread/${key}?consistency=eventual`, { value: `v${i}` })
    if (put.status !== 200) throw new Error(`PUT answered ${put.status}: ${JSON.stringify(put.body)}`)
    ackMs.push(performance.now() - t0)
    const pending = new Set(others)
    const deadline = t0 + 10_000
    while (pending.size > 0 && performance.now() < deadline) {
      await Promise.all([...pending].map(async node => {
        if ((await http(node, 'GET', `/v1/memory/spread/${key}?consistency=eventual`)).status === 200) pending.delete(node)
      }))
      if (pending.size > 0) await sleep(options.pollMs)
    }
    if (pending.size > 0) spreadTimeouts++
    else allMs.push(performance.now() - t0)
    await sleep(50)
  }

  // single-node throughput
  progress(`eventual: ${options.writes} PUTs, ${options.writers} writers, one node`)
  const target = nodes[0] as NodeProcess
  const cpuTargetBefore = cpuSeconds(target.pid) ?? 0
  const cpuMeshBefore = meshCpu(nodes)
  let next = 0
  let failed = 0
  const t1 = performance.now()
  await Promise.all(Array.from({ length: options.writers }, async () => {
    for (;;) {
      const i = next++
      if (i >= options.writes) return
      const res = await http(target, 'PUT', `/v1/memory/load/k${i % 5000}?consistency=eventual`, { value: `value-${i}` })
      if (res.status !== 200) failed++
    }
  }))
  const singleSeconds = (performance.now() - t1) / 1000
  const cpuTarget = (cpuSeconds(target.pid) ?? 0) - cpuTargetBefore
  const cpuMesh = meshCpu(nodes) - cpuMeshBefore

  // batches
  progress(`eventual: ${options.batches} batches of 256, ${options.batchWriters} at a time`)
  let nextBatch = 0
  let batchFailed = 0
  const t2 = performance.now()
  await Promise.all(Array.from({ length: options.batchWriters }, async () => {
    for (;;) {
      const b = nextBatch++
      if (b >= options.batches) return
      const puts = Array.from({ length: 256 }, (_, j) => ({ key: `b${(b * 256 + j) % 8000}`, value: `batch-${b}-${j}` }))
      const res = await http(target, 'POST', '/v1/memory/batch?consistency=eventual', { puts })
      if (res.status !== 200) batchFailed += 256
      else batchFailed += (res.body as { results: Array<{ code: number }> }).results.filter(r => r.code !== 200).length
    }
  }))
  const batchSeconds = (performance.now() - t2) / 1000

  // convergence after the bursts
  progress('eventual: waiting for every node to hold what the writer holds')
  const t3 = performance.now()
  const keysOf = async (node: NodeProcess): Promise<number> => ((await http(node, 'GET', '/v1/eventual')).body as { keys: number }).keys
  const want = await keysOf(target)
  let convergedMs: number | null = null
  while (performance.now() - t3 < 60_000) {
    const counts = await Promise.all(nodes.map(keysOf))
    if (counts.every(c => c === want)) { convergedMs = performance.now() - t3; break }
    await sleep(100)
  }
  const stats = await Promise.all(nodes.map(async node => (await http(node, 'GET', '/v1/eventual')).body as { applied: { gossip: number, antiEntropy: number }, rejected: Record<string, number>, exchangeFailures: number }))
  return {
    nodes: options.n,
    spread: {
      samples: options.spreadSamples,
      putAnswerMs: distribution(ackMs, 1),
      everyNodeServesItMs: distribution(allMs, 1),
      notEverywhereWithin10s: spreadTimeouts,
      pollMs: options.pollMs,
      note: 'from sending the PUT until the last of the other nodes answered the GET with 200 (polled every pollMs, all nodes in parallel)'
    },
    single: {
      writers: options.writers,
      writes: options.writes,
      failed,
      writesPerSecond: round(options.writes / singleSeconds, 0),
      cpuSecondsPerWriteOnWriterMs: round(cpuTarget / options.writes * 1000, 3),
      cpuSecondsPerWriteWholeMeshMs: round(cpuMesh / options.writes * 1000, 3),
      note: 'HTTP PUT per write (one JSON request each), keys reused modulo 5000; CPU in ms per write'
    },
    batch: { writers: options.batchWriters, batches: options.batches, writes: options.batches * 256, failed: batchFailed, writesPerSecond: round(options.batches * 256 / batchSeconds, 0) },
    converge: {
      keysOnWriter: want,
      everyNodeSameKeyCountMs: round(convergedMs, 0),
      appliedByGossip: distribution(stats.map(s => s.applied.gossip), 0),
      appliedByAntiEntropy: distribution(stats.map(s => s.applied.antiEntropy), 0),
      rejected: stats.reduce<Record<string, number>>((all, s) => { for (const [k, v] of Object.entries(s.rejected)) all[k] = (all[k] ?? 0) + v; return all }, {}),
      exchangeFailures: stats.reduce((sum, s) => sum + s.exchangeFailures, 0)
    }
  }
}
