/**
 * One soak sample of one node process: resident memory and open file descriptors from /proc (Linux),
 * V8 heap in use, libp2p connections, live handles and event-loop delay from the node's own
 * Prometheus endpoint (GET /metrics on its API), and its CPU seconds so far (/proc/<pid>/stat). A value that cannot be read is null, never a guess.
 */
import { readdirSync } from 'node:fs'
import type { NodeProcess } from '../e2e/harness.js'
import { cpuSeconds, rssKiB } from '../bench/proc.js'
import type { NodeSample } from './analysis.js'

/** Open file descriptors of a process, or null when it is gone or /proc is unavailable. */
export function openFds (pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return null
  }
}

/** Prometheus text: every sample line as name{labels} → value (comments and bad lines skipped). */
export function parsePrometheus (text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    if (space <= 0) continue
    const value = Number(line.slice(space + 1))
    if (!Number.isFinite(value)) continue
    out.set(line.slice(0, space), value)
  }
  return out
}

/** Sum of every labelled sample of one metric (`name{...}`), or null when there is none. */
function sumOf (metrics: Map<string, number>, name: string): number | null {
  let sum: number | null = null
  for (const [key, value] of metrics) if (key.startsWith(`${name}{`)) sum = (sum ?? 0) + value
  return sum
}

/** The node's metrics as the soak reads them: MiB, counts, ms; `tasksKept` is context (a bounded store filling). */
export function fromMetrics (metrics: Map<string, number>): { heapMiB: number | null, connections: number | null, handles: number | null, loopDelayMs: number | null, tasksKept: number | null } {
  const heap = metrics.get('nodejs_heap_size_used_bytes')
  const inbound = metrics.get('libp2p_connection_manager_connections{libp2p_connection_manager_connections="inbound"}')
  const outbound = metrics.get('libp2p_connection_manager_connections{libp2p_connection_manager_connections="outbound"}')
  const handles = metrics.get('nodejs_active_handles_total')
  // prom-client resets its event-loop histogram at every scrape: this is the p99 since the last sample
  const lag = metrics.get('nodejs_eventloop_lag_p99_seconds')
  return {
    heapMiB: heap == null ? null : heap / 1024 / 1024,
    connections: inbound == null || outbound == null ? null : inbound + outbound,
    handles: handles ?? null,
    loopDelayMs: lag == null ? null : lag * 1000,
    tasksKept: sumOf(metrics, 'mesh_tasks_table_tasks')
  }
}

/** Fill levels of the stores the load feeds (context, not judged): messages in the inbox, gossip proposals held. */
async function storeLevels (node: NodeProcess, timeoutMs: number): Promise<{ inboxMessages: number | null, proposalsHeld: number | null }> {
  const get = async (path: string): Promise<Record<string, unknown> | null> => {
    try {
      const res = await fetch(`${node.api}${path}`, { headers: node.token != null ? { authorization: `Bearer ${node.token}` } : {}, signal: AbortSignal.timeout(timeoutMs) })
      return res.ok ? await res.json() as Record<string, unknown> : null
    } catch {
      return null
    }
  }
  const [messages, votes] = await Promise.all([get('/v1/messages/stats'), get('/v1/votes/stats')])
  const inbox = (messages?.inbox as { messages?: unknown } | undefined)?.messages
  return { inboxMessages: typeof inbox === 'number' ? inbox : null, proposalsHeld: typeof votes?.proposals === 'number' ? votes.proposals : null }
}

/** Sample one node; `t0` is the run's start (Date.now()). Never throws. */
export async function sampleNode (node: NodeProcess, t0: number, timeoutMs = 8_000): Promise<NodeSample & { error?: string }> {
  const tMs = Date.now() - t0
  const rss = rssKiB(node.pid)
  const fds = openFds(node.pid)
  // cumulative user + system CPU seconds: the runner turns two samples into cpuPercent
  const base = { rssMiB: rss == null ? null : rss / 1024, fds, cpuSeconds: cpuSeconds(node.pid) }
  try {
    // ?gc=1: a full collection first when the node runs with --expose-gc (run.ts adds it), so heapMiB
    // is the live heap; `heapAfterGc` says whether the node did it
    const res = await fetch(`${node.api}/metrics?gc=1`, {
      headers: node.token != null ? { authorization: `Bearer ${node.token}` } : {},
      signal: AbortSignal.timeout(timeoutMs)
    })
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    const values = fromMetrics(parsePrometheus(await res.text()))
    const heapAfterGc = res.headers.get('x-mesh-gc') === '1' ? 1 : 0
    return { tMs, node: node.name, values: { ...base, ...values, heapAfterGc, ...await storeLevels(node, timeoutMs) } }
  } catch (err) {
    return { tMs, node: node.name, values: { ...base, heapMiB: null, connections: null, handles: null, loopDelayMs: null, tasksKept: null }, error: (err as Error).message.slice(0, 120) }
  }
}
