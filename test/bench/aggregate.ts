/**
 * `npm run bench -- aggregate`: push-pull aggregation between real processes (no genesis), for 12 and
 * 24 nodes at the node defaults (1 s rounds, 30-round epochs). Every node carries a fixed synthetic
 * load (MESH_AGGREGATE_TEST_VALUE, attribute `test`) so the true mean is known exactly.
 *
 * Per mesh size:
 * - convergence, for each of `epochs` whole epochs after the mesh formed: polling every node's
 *   /v1/aggregates every 250 ms, the first moment every node is in that epoch with its count and its
 *   mean of `test` within 1 % of the truth: seconds since the epoch began (epochs are wall-clock
 *   aligned) and rounds (the largest `round` any node reports then; one round = one exchange started);
 * - kill -9 of the count root (the smallest PeerId: the worst case) 40 % into an epoch: each
 *   survivor's estimate of that epoch at its end (error against the new truth), then whether the next
 *   epoch brings every survivor back within 1 %, and when;
 * - cost: aggregation payload bytes and messages (requests + replies, sent) per node per round, from
 *   the nodes' own counters over the convergence epochs.
 */
import { loadavg } from 'node:os'
import { Cluster, api, sleep } from '../e2e/harness.js'
import type { NodeProcess } from '../e2e/harness.js'
import type { AggregatesView } from '../../src/runtime/gossip/aggregation.js'
import { runJoin } from './phases.js'
import { progress } from './cluster.js'
import { distribution, round } from './stats.js'
import { PhaseFrame } from './proc.js'

export interface AggregateBenchOptions {
  sizes: number[]
  roundMs: number
  epochRounds: number
  /** Whole epochs measured for convergence per size. */
  epochs: number
  pollMs: number
}

export const aggregateBenchDefaults: AggregateBenchOptions = { sizes: [12, 24], roundMs: 1_000, epochRounds: 30, epochs: 2, pollMs: 250 }

/** Node i's synthetic load: spread over 10..99. */
function testValue (index: number): number {
  return 10 + (index * 37) % 90
}

interface Poll { node: NodeProcess, view?: AggregatesView, atMs: number }

async function pollAll (nodes: NodeProcess[]): Promise<Poll[]> {
  return await Promise.all(nodes.map(async node => {
    try {
      const res = await api<AggregatesView>(node, 'GET', '/v1/aggregates', undefined, 10_000)
      return { node, view: res.status === 200 ? res.body : undefined, atMs: Date.now() }
    } catch {
      return { node, atMs: Date.now() }
    }
  }))
}

function relError (value: number | null | undefined, truth: number): number {
  if (value == null) return Infinity
  return Math.abs(value - truth) / Math.abs(truth)
}

interface Truth { count: number, mean: number }

/** Wait for epoch `epoch` and follow it until every node is within 1 % (or the epoch ends). */
async function followEpoch (nodes: NodeProcess[], epoch: number, truth: Truth, options: AggregateBenchOptions): Promise<Record<string, unknown>> {
  const epochMs = options.roundMs * options.epochRounds
  const startMs = epoch * epochMs
  const endMs = startMs + epochMs
  while (Date.now() < startMs) await sleep(Math.min(options.pollMs, startMs - Date.now()))
  let worstAtEnd: number | null = null
  for (;;) {
    const polls = await pollAll(nodes)
    const inEpoch = polls.filter(p => p.view?.current.epoch === epoch)
    const errors = polls.map(p => p.view?.current.epoch === epoch
      ? Math.max(relError(p.view.current.count, truth.count), relError(p.view.current.numbers.test?.mean, truth.mean))
      : Infinity)
    const worst = Math.max(...errors)
    if (inEpoch.length === nodes.length && worst <= 0.01) {
      const at = Math.max(...polls.map(p => p.atMs))
      return {
        epoch,
        reached: true,
        seconds: round((at - startMs) / 1000, 2),
        rounds: Math.max(...inEpoch.map(p => p.view?.current.round ?? 0)),
        roundsPerNode: distribution(inEpoch.map(p => p.view?.current.round ?? 0), 1),
        worstErrorThen: round(worst, 5)
      }
    }
    worstAtEnd = worst
    if (Date.now() > endMs) {
      // why not: per node, what it answered at the end
      const why = polls.map(p => p.view == null
        ? { node: p.node.name, answered: false }
        : { node: p.node.name, epoch: p.view.current.epoch, round: p.view.current.round, count: round(p.view.current.count, 3), mean: round(p.view.current.numbers.test?.mean, 3) })
      return { epoch, reached: false, worstErrorAtEnd: Number.isFinite(worstAtEnd) ? round(worstAtEnd, 4) : null, nodesAtEnd: why }
    }
    await sleep(options.pollMs)
  }
}

type Counters = Map<string, { bytes: number, messages: number, initiated: number }>

/** Each answering node's own counters (sent side). */
async function counters (nodes: NodeProcess[]): Promise<Counters> {
  const out: Counters = new Map()
  for (const p of await pollAll(nodes)) {
    if (p.view != null) out.set(p.node.name, { bytes: p.view.bytes.sent, messages: p.view.messages.sent, initiated: p.view.exchanges.initiated })
  }
  return out
}

/** Per node per round, over the nodes that answered both times. */
function costOf (before: Counters, after: Counters, rounds: number): Record<string, unknown> {
  const names = [...before.keys()].filter(name => after.has(name))
  const per = (field: 'bytes' | 'messages' | 'initiated'): number[] => names.map(name => ((after.get(name) as { [k: string]: number })[field] as number - ((before.get(name) as { [k: string]: number })[field] as number)) / rounds)
  return {
    rounds: round(rounds, 1),
    nodesCounted: names.length,
    bytesSentPerNodePerRound: distribution(per('bytes'), 1),
    messagesSentPerNodePerRound: distribution(per('messages'), 3),
    exchangesStartedPerNodePerRound: distribution(per('initiated'), 3),
    note: 'payload bytes of Masses/AggregateReply plus their length prefix (not noise/yamux/TCP framing); a message is a request or a reply'
  }
}

async function runSize (n: number, options: AggregateBenchOptions): Promise<Record<string, unknown>> {
  const cluster = new Cluster({ heartbeatIntervalMs: 3000, failureTimeoutMs: 10000 })
  const frame = new PhaseFrame()
  const env = { MESH_AGGREGATE_ROUND_MS: String(options.roundMs), MESH_AGGREGATE_EPOCH_ROUNDS: String(options.epochRounds) }
  const epochMs = options.roundMs * options.epochRounds
  try {
    const join = await runJoin(cluster, {
      n,
      deadlineMs: 180_000,
      pollIntervalMs: 1_000,
      node: index => ({ name: `n${String(index).padStart(2, '0')}`, options: { env: { ...env, MESH_AGGREGATE_TEST_VALUE: String(testValue(index)) } } })
    })
    if (!join.full) return { nodes: n, error: 'the mesh did not form', join: join.result, conditions: frame.end() }
    const nodes = [...join.nodes].sort((a, b) => a.name.localeCompare(b.name))
    const valueOf = (node: NodeProcess): number => testValue(Number(node.name.slice(1)))
    const truthOf = (set: NodeProcess[]): Truth => ({ count: set.length, mean: set.reduce((s, node) => s + valueOf(node), 0) / set.length })
    progress(`aggregate ${n}: mesh formed in ${String((join.result.fullMembership as { allNodesMs: number }).allNodesMs)} ms; measuring ${options.epochs} epochs`)
    // the first whole epoch that starts after everyone sees everyone
    const first = Math.floor(Date.now() / epochMs) + 1
    const before = await counters(nodes)
    const beforeAt = Date.now()
    const convergence: Array<Record<string, unknown>> = []
    for (let e = 0; e < options.epochs; e++) {
      convergence.push(await followEpoch(nodes, first + e, truthOf(nodes), options))
      progress(`aggregate ${n}: epoch ${first + e}: ${JSON.stringify(convergence.at(-1))}`)
    }
    const after = await counters(nodes)
    const cost = costOf(before, after, (Date.now() - beforeAt) / options.roundMs)
    // kill -9 of the count root 40 % into the next epoch
    const victim = nodes.reduce((a, b) => a.runtime.peerId < b.runtime.peerId ? a : b)
    const survivors = nodes.filter(node => node !== victim)
    const killEpoch = Math.floor(Date.now() / epochMs) + 1
    const killAt = killEpoch * epochMs + 0.4 * epochMs
    while (Date.now() < killAt) await sleep(Math.min(200, killAt - Date.now()))
    cluster.kill(victim, 'SIGKILL')
    await cluster.waitExit(victim)
    progress(`aggregate ${n}: killed ${victim.name} (the count root) in epoch ${killEpoch}`)
    const newTruth = truthOf(survivors)
    const oldTruth = truthOf(nodes)
    // each survivor's estimate of the kill epoch, as it completed it
    while (Date.now() < (killEpoch + 1) * epochMs + 2 * options.pollMs) await sleep(options.pollMs)
    const ended = await pollAll(survivors)
    const completed = ended.flatMap(p => p.view?.completed?.epoch === killEpoch ? [p.view.completed] : [])
    const countErrors = completed.map(c => relError(c.count, newTruth.count))
    const meanErrors = completed.map(c => relError(c.numbers.test?.mean, newTruth.mean))
    const next = await followEpoch(survivors, killEpoch + 1, newTruth, options)
    progress(`aggregate ${n}: after the kill: ${JSON.stringify(next)}`)
    return {
      nodes: n,
      truth: { count: n, testMean: round(oldTruth.mean, 3) },
      join: { allNodesMs: (join.result.fullMembership as { allNodesMs: number | null }).allNodesMs },
      convergence,
      cost,
      kill: {
        victim: victim.name,
        note: 'the victim is the count root (smallest PeerId), killed 40 % into the epoch; errors are against the survivors\' truth',
        newTruth: { count: newTruth.count, testMean: round(newTruth.mean, 3) },
        killEpochAtEnd: {
          survivorsReporting: completed.length,
          countRelErrorPerSurvivor: distribution(countErrors.filter(Number.isFinite), 4),
          countMissing: countErrors.filter(e => !Number.isFinite(e)).length,
          meanRelErrorPerSurvivor: distribution(meanErrors.filter(Number.isFinite), 4)
        },
        nextEpoch: next
      },
      conditions: frame.end()
    }
  } finally {
    await cluster.stopAll()
  }
}

/** MESH_BENCH_AGGREGATE_SIZES=24 (or 12,24) runs only those sizes. */
export function aggregateSizesFromEnv (env: NodeJS.ProcessEnv = process.env): number[] {
  const raw = env.MESH_BENCH_AGGREGATE_SIZES
  if (raw == null || raw === '') return aggregateBenchDefaults.sizes
  return raw.split(',').map(Number).filter(n => Number.isInteger(n) && n >= 2 && n <= 64)
}

export async function runAggregateBench (options: AggregateBenchOptions = { ...aggregateBenchDefaults, sizes: aggregateSizesFromEnv() }): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {
    settings: { ...options, aim: 'every node within 1 % in ≤ 3·log2(n) rounds (12: 10.8, 24: 13.8); back within 1 % in the epoch after a kill -9' },
    loadavgAtStart: loadavg().map(v => round(v, 2))
  }
  for (const n of options.sizes) {
    progress(`aggregate: ${n} nodes`)
    try {
      out[`n${n}`] = await runSize(n, options)
    } catch (err) {
      out[`n${n}`] = { error: (err as Error).message }
      progress(`aggregate ${n}: ${(err as Error).message}`)
    }
    await sleep(2_000)
  }
  out.loadavgAtEnd = loadavg().map(v => round(v, 2))
  return out
}
