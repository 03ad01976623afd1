/**
 * `npm run bench -- consensus`: n = 4 and n = 7 validator processes from `mesh testnet` on 127.0.0.1.
 * - commit latency at one outstanding request: sequential writes through one validator's HTTP API,
 *   each timed from request to the f+1-confirmed answer;
 * - throughput: many concurrent writers (the primary batches whatever is pending), acknowledged
 *   writes per second;
 * - the RTT floor: libp2p ping between the same processes (each node's measured rttMs to the others);
 * - latency ÷ RTT.
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { Cluster, meshBin, waitUntil } from '../e2e/harness.js'
import type { NodeProcess } from '../e2e/harness.js'
import { progress } from './cluster.js'
import { distribution, round } from './stats.js'

async function put (node: NodeProcess, key: string, value: string): Promise<boolean> {
  const res = await fetch(`${node.api}/v1/memory/bench/${key}`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value }), signal: AbortSignal.timeout(30_000)
  })
  await res.arrayBuffer()
  return res.status === 200
}

export async function runConsensusBench (n: number, options: { sequential: number, concurrency: number, concurrentWrites: number }): Promise<Record<string, unknown>> {
  const cluster = new Cluster({ heartbeatIntervalMs: 3000, failureTimeoutMs: 10000 })
  try {
    const dir = join(cluster.root, 'testnet')
    const made = spawnSync(process.execPath, [meshBin, 'testnet', '--nodes', String(n), '--dir', dir, '--network', cluster.network, '--json'], { encoding: 'utf8' })
    if (made.status !== 0) throw new Error(`mesh testnet failed: ${made.stderr}`)
    const testnet = JSON.parse(made.stdout) as { nodes: Array<{ name: string, dataDir: string, config: string }> }
    const first = testnet.nodes[0] as { name: string, dataDir: string, config: string }
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

    const latencies: number[] = []
    for (let i = 0; i < options.sequential; i++) {
      const started = performance.now()
      if (!(await put(client, `seq-${i}`, `v${i}`))) throw new Error(`write ${i} was refused`)
      latencies.push(performance.now() - started)
    }
    progress(`consensus n=${n}: ${options.sequential} sequential writes done`)

    let next = 0
    let acknowledged = 0
    const started = performance.now()
    await Promise.all(Array.from({ length: options.concurrency }, async (_, w) => {
      for (;;) {
        const i = next++
        if (i >= options.concurrentWrites) return
        if (await put(nodes[w % nodes.length] as NodeProcess, `par-${i}`, `v${i}`)) acknowledged++
      }
    }))
    const elapsedMs = performance.now() - started
    progress(`consensus n=${n}: ${acknowledged} concurrent writes in ${Math.round(elapsedMs)} ms`)

    const rtts: number[] = []
    for (const node of nodes) {
      const status = await (await fetch(`${node.api}/v1/status`)).json() as { members: Array<{ rttMs: number | null, self: boolean }> }
      for (const m of status.members) if (!m.self && m.rttMs != null) rtts.push(m.rttMs)
    }
    const latency = distribution(latencies, 2)
    const rtt = distribution(rtts, 2)
    const executed = await (await fetch(`${client.api}/v1/consensus`)).json() as { lastExecuted: number, view: number }
    return {
      validators: n,
      f: Math.floor((n - 1) / 3),
      commitLatencyMs: { ...latency, note: `one outstanding request: ${options.sequential} sequential writes through the primary's HTTP API (includes HTTP, the client signature, 3 pBFT phases, f+1 signed replies)` },
      throughput: {
        writes: options.concurrentWrites,
        acknowledged,
        concurrency: options.concurrency,
        elapsedMs: round(elapsedMs, 0),
        decisionsPerSecond: round(acknowledged / (elapsedMs / 1000), 1),
        sequenceNumbersUsed: executed.lastExecuted,
        meanBatch: round((options.sequential + acknowledged + 20) / Math.max(1, executed.lastExecuted), 2),
        note: 'writers spread over all validators; each write is one signed client request'
      },
      rttMs: { ...rtt, note: 'libp2p ping over the same connections (a new stream per ping), every node to every other' },
      latencyOverRtt: rtt.p50 != null && latency.p50 != null && rtt.p50 > 0 ? round(latency.p50 / rtt.p50, 2) : null
    }
  } finally {
    await cluster.stopAll()
  }
}
