/**
 * Drives the push-sum aggregation core (src/core/gossip/aggregate.ts) on a live node: every round it
 * hands the core the alive members and this node's own values, ticks it with the wall clock (epochs
 * must agree across nodes, so the clock is the shared one), and performs the one exchange the core
 * asks for over /mesh/<network>/aggregate/1.0.0 (protocols/aggregate/service.ts). Inbound exchanges
 * go to the core as requests and its reply goes back on the same stream. Per node and round: one
 * exchange initiated, one served on average (O(1) messages, independent of the mesh size).
 *
 * Each node ticks at its own phase within the round (from its seed), so exchanges are spread over the
 * round rather than all at its boundary: the exchanges then run one after another more often than
 * concurrently, which is what push-pull averaging converges fastest with.
 *
 * What is estimated (attribute names as in the API and the gauges): from each node's own record,
 * `queued`, `running`, `capacity`, `utilisation` ((queued + running) / capacity, capped at 1), `cpu`
 * (host CPU, 0..1), `free` (max(0, capacity − queued − running)); mean, sum and max of each; the
 * member count; per capability the number of members that declare it.
 */
import { Counter, Gauge } from 'prom-client'
import type { Registry } from 'prom-client'
import { peerIdFromString } from '@libp2p/peer-id'
import { Aggregate } from '../../core/gossip/aggregate.js'
import type { AggregateEffect, AggregateEstimate, LocalValues } from '../../core/gossip/aggregate.js'
import { utilisation } from '../../core/scheduler/scoring.js'
import type { AggregateProtocol } from '../../../protocols/aggregate/service.js'
import { aggregateOutboundMax } from '../../../protocols/aggregate/constants.js'
import type { MemberView } from '../mesh-node.js'

/** Round length by default: one exchange per second per node. */
export const aggregateRoundMsDefault = 1_000
/**
 * Rounds per epoch by default: push-pull needs ~3·log2 n rounds to reach 1 % (≈ 14 at 24 nodes, ≈ 30
 * at 1,000), so an epoch of 30 rounds (30 s) settles before it restarts; a departure or join shows in
 * the epoch after it.
 */
export const aggregateEpochRoundsDefault = 30

/** Completed epochs whose counts `recentMeshSize` remembers (3 × 30 s by default). */
const recentEpochs = 3

/** The numeric attributes every node contributes. */
export const aggregateAttributes = ['queued', 'running', 'capacity', 'utilisation', 'cpu', 'free'] as const

export interface AggregationInit {
  self: string
  wire: AggregateProtocol
  /** The node's members (status().members): alive ones are gossiped with; our own entry gives our values. */
  members: () => readonly MemberView[]
  seed: number
  roundMs?: number
  epochRounds?: number
  /**
   * TEST ONLY (MESH_AGGREGATE_TEST_VALUE): one more attribute, `test`, with this fixed value. Real load
   * figures drift between a node's epoch snapshot and any outside reading, so the bench measures the
   * mean's convergence on a value it knows exactly.
   */
  testValue?: number
  registry?: Registry
  log?: (line: string) => void
}

export interface AggregateNumberView { mean: number | null, sum: number | null, max: number | null, reporters: number | null }

export interface AggregateEstimateView {
  epoch: number
  round: number
  /** Estimated member count (null until root mass reached this node). */
  count: number | null
  /**
   * Largest relative change of any estimate over this node's last round. Push-pull shrinks the
   * remaining error by a roughly constant factor ≤ ½ per round, so the error still to go is about
   * this much or less: a convergence-based bound, not a proven one (null before two rounds).
   */
  errorBound: number | null
  numbers: Record<string, AggregateNumberView>
  capabilities: Record<string, number | null>
}

export interface AggregatesView {
  protocol: 'push-pull'
  roundMs: number
  epochRounds: number
  /** The current epoch at this node, still converging in its first rounds. */
  current: AggregateEstimateView
  /** The last epoch this node completed: its settled estimate (null before the first epoch ends). */
  completed: AggregateEstimateView | null
  /** What `best()` returns: `current` once settled (errorBound ≤ 1 %), else `completed`. */
  best: 'current' | 'completed'
  /** Alive members this node gossips with (its own view), itself included. */
  aliveMembers: number
  /** Rounds skipped: too many of this node's exchanges still unfinished (a stalled host or link). */
  exchanges: { initiated: number, replied: number, refused: number, notSent: number, lost: number, served: number, skippedRounds: number }
  bytes: { sent: number, received: number }
  messages: { sent: number, received: number }
  /** Refused messages by reason: the wire's (decoding, validation) and the core's (epochs, tables). */
  refusals: Record<string, number>
}

/** What the live page's "Mesh aggregates" panel shows: the best estimate (src/api/topology.ts). */
export interface AggregatesPanel {
  /** Which epoch's estimate this is: the current one once settled, else the last completed one. */
  source: 'current' | 'completed'
  epoch: number
  round: number
  count: number | null
  errorBound: number | null
  utilisationMean: number | null
  queuedSum: number | null
  runningSum: number | null
  freeSum: number | null
  capabilities: Record<string, number | null>
}

/**
 * MESH_AGGREGATE_ROUND_MS / MESH_AGGREGATE_EPOCH_ROUNDS when set (tests and benches shorten them), and
 * the test-only MESH_AGGREGATE_TEST_VALUE (see AggregationInit.testValue).
 */
export function aggregateTimingFromEnv (env: NodeJS.ProcessEnv = process.env): { roundMs: number, epochRounds: number, testValue?: number } {
  const read = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name]
    if (raw == null || raw === '') return fallback
    const value = Number(raw)
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name}=${raw}: need an integer from ${min} to ${max}`)
    return value
  }
  const testRaw = env.MESH_AGGREGATE_TEST_VALUE
  const testValue = testRaw == null || testRaw === '' ? undefined : Number(testRaw)
  if (testValue !== undefined && !(Number.isFinite(testValue) && Math.abs(testValue) <= 1e9)) throw new Error(`MESH_AGGREGATE_TEST_VALUE=${testRaw ?? ''}: need a finite number`)
  return {
    roundMs: read('MESH_AGGREGATE_ROUND_MS', aggregateRoundMsDefault, 100, 60_000),
    epochRounds: read('MESH_AGGREGATE_EPOCH_ROUNDS', aggregateEpochRoundsDefault, 4, 1_000),
    ...(testValue !== undefined ? { testValue } : {})
  }
}

function view (e: AggregateEstimate): AggregateEstimateView {
  const numbers: Record<string, AggregateNumberView> = {}
  for (const [name, n] of Object.entries(e.numbers)) {
    numbers[name] = { mean: n.mean ?? null, sum: n.sum ?? null, max: n.max ?? null, reporters: n.reporters ?? null }
  }
  const capabilities: Record<string, number | null> = {}
  for (const [name, c] of Object.entries(e.capabilities)) capabilities[name] = c ?? null
  return { epoch: e.epoch, round: e.round, count: e.count ?? null, errorBound: e.change ?? null, numbers, capabilities }
}

export class Aggregation {
  readonly roundMs: number
  readonly epochRounds: number
  private readonly core: Aggregate
  private readonly phaseMs: number
  private timer: ReturnType<typeof setTimeout> | undefined
  private stopped = true
  private aliveMembers = 1
  /** Exchanges started and not finished (bounded by aggregateOutboundMax). */
  private outbound = 0
  /** Rounds skipped because `outbound` was at its bound. */
  private skippedRounds = 0
  /** Counts of the last completed epochs (newest last), for `recentMeshSize`. */
  private readonly recentCounts: Array<{ epoch: number, count: number }> = []

  constructor (private readonly init: AggregationInit) {
    this.roundMs = init.roundMs ?? aggregateRoundMsDefault
    this.epochRounds = init.epochRounds ?? aggregateEpochRoundsDefault
    this.core = new Aggregate({ self: init.self, seed: init.seed, roundMs: this.roundMs, epochRounds: this.epochRounds })
    // a phase in the first 80 % of the round, so a late timer still ticks within it
    this.phaseMs = (init.seed % 1000) / 1000 * this.roundMs * 0.8
    if (init.registry != null) this.registerMetrics(init.registry)
  }

  start (): void {
    this.stopped = false
    this.init.wire.setHandler((from, message) => {
      const [reply] = this.core.step({ type: 'receive', nowMs: Date.now(), from, message, kind: 'request' })
      return reply?.message
    })
    this.schedule()
  }

  stop (): void {
    this.stopped = true
    if (this.timer != null) clearTimeout(this.timer)
    this.init.wire.setHandler(undefined)
  }

  /** The estimates as the API shows them. */
  view (): AggregatesView {
    const s = this.init.wire.stats
    const completed = this.core.completedEstimate()
    return {
      protocol: 'push-pull',
      roundMs: this.roundMs,
      epochRounds: this.epochRounds,
      current: view(this.core.estimate()),
      completed: completed == null ? null : view(completed),
      best: this.settled() || completed == null ? 'current' : 'completed',
      aliveMembers: this.aliveMembers,
      exchanges: { initiated: s.requested, replied: s.replied, refused: s.refusedByPeer, notSent: s.notSent, lost: s.lost, served: s.served, skippedRounds: this.skippedRounds },
      bytes: { sent: s.bytesSent, received: s.bytesReceived },
      messages: { sent: s.messagesSent, received: s.messagesReceived },
      refusals: mergeCounts(this.init.wire.refusalCounts(), this.core.refusalCounts())
    }
  }

  /** The best estimate now: the current epoch's once settled (≤ 1 % change per round), else the last completed one. */
  best (): AggregateEstimate | undefined {
    if (this.settled()) return this.core.estimate()
    return this.core.completedEstimate() ?? undefined
  }

  /** [aggregate] What the live page's panel shows (src/api/topology.ts, TopologyAggregates). */
  pagePanel (): AggregatesPanel | null {
    const e = this.best() ?? this.core.estimate()
    const n = (name: string, field: 'mean' | 'sum'): number | null => e.numbers[name]?.[field] ?? null
    const capabilities: Record<string, number | null> = {}
    for (const [name, c] of Object.entries(e.capabilities)) capabilities[name] = c ?? null
    return {
      source: this.settled() || this.core.completedEstimate() == null ? 'current' : 'completed',
      epoch: e.epoch,
      round: e.round,
      count: e.count ?? null,
      errorBound: e.change ?? null,
      utilisationMean: n('utilisation', 'mean'),
      queuedSum: n('queued', 'sum'),
      runningSum: n('running', 'sum'),
      freeSum: n('free', 'sum'),
      capabilities
    }
  }

  /** Estimated member count (best estimate), undefined before one is known. */
  meshSize (): number | undefined {
    return this.best()?.count
  }

  /** Mesh mean of a numeric attribute (best estimate). */
  meshMean (attribute: string): number | undefined {
    return this.best()?.numbers[attribute]?.mean
  }

  /**
   * The largest member count of the last `recentEpochs` completed epochs and the current best
   * estimate: the mesh size the partition detector compares this node's reachable members with
   * (a minority side's own estimate shrinks to its size within an epoch; this remembers a little longer).
   */
  recentMeshSize (): number | undefined {
    const counts = this.recentCounts.map(c => c.count)
    const best = this.meshSize()
    if (best !== undefined) counts.push(best)
    return counts.length === 0 ? undefined : Math.max(...counts)
  }

  private rememberCompleted (): void {
    const completed = this.core.completedEstimate()
    if (completed?.count === undefined || this.recentCounts.at(-1)?.epoch === completed.epoch) return
    this.recentCounts.push({ epoch: completed.epoch, count: completed.count })
    while (this.recentCounts.length > recentEpochs) this.recentCounts.shift()
  }

  /**
   * The current epoch's estimate is trusted once it moved ≤ 1 % in the last round AND this node has
   * gossiped at least 3·log2(members) rounds in it (what push-pull needs to mix; a quiet early round
   * can also show a small change).
   */
  private settled (): boolean {
    const e = this.core.estimate()
    const roundsNeeded = Math.max(3, Math.ceil(3 * Math.log2(Math.max(2, this.aliveMembers))))
    return e.count !== undefined && e.change !== undefined && e.change <= 0.01 && e.round >= roundsNeeded
  }

  private schedule (): void {
    if (this.stopped) return
    const now = Date.now()
    const roundStart = Math.floor(now / this.roundMs) * this.roundMs
    let next = roundStart + this.phaseMs
    if (next <= now) next += this.roundMs
    this.timer = setTimeout(() => { this.round(); this.schedule() }, next - now)
    this.timer.unref?.()
  }

  private localValues (self: MemberView | undefined): LocalValues {
    const load = self?.load ?? { queued: 0, running: 0, capacity: 0, cpu: 0 }
    const numbers: Record<string, number> = {
      queued: load.queued,
      running: load.running,
      capacity: load.capacity,
      utilisation: utilisation(load),
      cpu: load.cpu,
      free: Math.max(0, load.capacity - load.queued - load.running)
    }
    if (this.init.testValue !== undefined) numbers.test = this.init.testValue
    return { numbers, capabilities: (self?.capabilities ?? []).slice(0, 64) }
  }

  private round (): void {
    const members = this.init.members()
    const alive = members.filter(m => m.state === 'alive' && !m.self)
    this.aliveMembers = alive.length + 1
    // the count root only among members we hold a connection to: a killed root's sockets close at once,
    // long before membership declares it failed (see the core's `rootCandidates`)
    this.core.step({ type: 'membership', members: alive.map(m => m.peerId), rootCandidates: alive.filter(m => m.connected).map(m => m.peerId) })
    try {
      this.core.step({ type: 'local', values: this.localValues(members.find(m => m.self)) })
    } catch (err) {
      this.init.log?.(`warning: aggregation: local values refused: ${(err as Error).message}`)
    }
    // a stalled host or link: do not pile up exchanges (each holds half of our masses until it ends)
    if (this.outbound >= aggregateOutboundMax) { this.skippedRounds++; return }
    const effects = this.core.step({ type: 'tick', nowMs: Date.now() })
    this.rememberCompleted()
    for (const effect of effects) void this.perform(effect)
  }

  private async perform (effect: AggregateEffect): Promise<void> {
    let peer
    try {
      peer = peerIdFromString(effect.to)
    } catch {
      this.core.step({ type: 'undelivered', message: effect.message })
      return
    }
    this.outbound++
    let result
    try {
      result = await this.init.wire.exchange(peer, effect.message)
    } finally {
      this.outbound--
    }
    if (this.stopped) return
    if (result.outcome === 'replied') {
      this.core.step({ type: 'receive', nowMs: Date.now(), from: effect.to, message: result.reply, kind: 'reply' })
    } else if (result.outcome === 'refused' || result.outcome === 'not-sent') {
      // certainly not absorbed by the target: our half comes back (same epoch only)
      this.core.step({ type: 'undelivered', message: effect.message })
    }
  }

  private registerMetrics (registry: Registry): void {
    const registers = [registry]
    const this_ = this // eslint-disable-line @typescript-eslint/no-this-alias -- prom-client calls collect() with its own `this`
    const best = (): AggregateEstimate | undefined => this.best()
    const gauge = (name: string, help: string, read: () => number | undefined | null): void => {
      const metric: Gauge = new Gauge({ name, help, registers, collect () { metric.reset(); const v = read(); if (v != null && Number.isFinite(v)) metric.set(v) } })
    }
    gauge('mesh_aggregate_count_members', 'Estimated number of members in the mesh (push-sum, best estimate)', () => best()?.count)
    gauge('mesh_aggregate_epoch_number', 'Current aggregation epoch at this node', () => this.core.estimate().epoch)
    gauge('mesh_aggregate_round_number', 'Rounds this node has gossiped in the current epoch', () => this.core.estimate().round)
    gauge('mesh_aggregate_error_bound_ratio', 'Largest relative change of an estimate over the last round (convergence bound)', () => this.core.estimate().change)
    for (const stat of ['mean', 'sum', 'max'] as const) {
      const metric: Gauge = new Gauge({
        name: `mesh_aggregate_load_${stat}_number`,
        help: `Estimated mesh-wide ${stat} of a load attribute (best estimate)`,
        labelNames: ['attribute'],
        registers,
        collect () {
          metric.reset()
          const e = best()
          for (const attribute of aggregateAttributes) {
            const v = e?.numbers[attribute]?.[stat]
            if (v != null && Number.isFinite(v)) metric.set({ attribute }, v)
          }
        }
      })
    }
    const capabilities: Gauge = new Gauge({
      name: 'mesh_aggregate_capability_members',
      help: 'Estimated number of members declaring a capability (best estimate; at most 64 capabilities)',
      labelNames: ['capability'],
      registers,
      collect () {
        capabilities.reset()
        for (const [capability, v] of Object.entries(best()?.capabilities ?? {})) if (v != null && Number.isFinite(v)) capabilities.set({ capability }, v)
      }
    })
    // counters read from the service's and the core's counts at scrape time (as in src/runtime/metrics/metrics.ts)
    const counter = (name: string, help: string, labelName: string, read: () => Array<[string, number]>): void => {
      const metric: Counter = new Counter({ name, help, labelNames: [labelName], registers, collect () { metric.reset(); for (const [label, v] of read()) metric.inc({ [labelName]: label }, Math.max(0, v)) } })
    }
    counter('mesh_aggregate_exchanges_total', 'Aggregation exchanges, by outcome (initiated, replied, refused, not-sent, lost, served)', 'outcome', () => {
      const s = this_.init.wire.stats
      return [['initiated', s.requested], ['replied', s.replied], ['refused', s.refusedByPeer], ['not-sent', s.notSent], ['lost', s.lost], ['served', s.served]]
    })
    counter('mesh_aggregate_bytes_total', 'Aggregation payload bytes, by direction', 'direction', () =>
      [['sent', this_.init.wire.stats.bytesSent], ['received', this_.init.wire.stats.bytesReceived]])
    counter('mesh_aggregate_refusals_total', 'Refused aggregation messages, by reason', 'reason', () => Object.entries(this_.view().refusals))
  }
}

function mergeCounts (a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = { ...a }
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v
  return Object.fromEntries(Object.entries(out).sort((x, y) => x[0] < y[0] ? -1 : 1))
}
