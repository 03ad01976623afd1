/**
 * Per-node performance from observed task outcomes, as exponentially weighted moving averages.
 *
 * For each outcome of a task run by a node:
 * - success observation: 1 for a success, 0 for a failure;
 * - speed observation: for a success, 1 − durationMs / timeoutMs clamped to 0..1 (instant = 1, at or
 *   past the timeout = 0); a failure observes speed 0 (no useful work came of the time spent). A
 *   success without a known duration, or without a usable timeout (≤ 0, NaN), leaves the speed
 *   average unchanged.
 * Each average moves by `alpha` towards its observation: avg ← avg + alpha · (obs − avg); both start at
 * the neutral prior 0.5. performance = successWeight · successRate + (1 − successWeight) · speed, with
 * successWeight 0.7 (reliability counts more than speed), so an unknown node scores 0.5.
 *
 * Deterministic: no clock, no randomness; the same outcomes in the same order give the same numbers.
 * Monotone: for the same history, an outcome at least as good (success ≥, duration ≤) never gives a
 * lower performance; a failure never raises it, and a success within 0 ms never lowers it.
 */
import { clamp01 } from './scoring.js'

export interface Outcome {
  success: boolean
  /** How long the run took; undefined if unknown (then only the success rate moves). */
  durationMs?: number
  /** The task's timeout: the speed observation is the fraction of it left unused. */
  timeoutMs: number
}

export interface PerformanceOptions {
  /** Weight of each new observation, in (0, 1]. Default 0.2. */
  alpha: number
  /** Starting value of both averages, and the performance of an unknown node. Default 0.5. */
  prior: number
  /** Share of the success rate in the performance; the speed gets the rest. Default 0.7. */
  successWeight: number
}

export const performanceDefaults: PerformanceOptions = { alpha: 0.2, prior: 0.5, successWeight: 0.7 }

export interface NodePerformance {
  successRate: number
  speed: number
  samples: number
}

export class PerformanceTracker {
  private readonly options: PerformanceOptions
  private readonly nodes = new Map<string, NodePerformance>()

  constructor (options: Partial<PerformanceOptions> = {}) {
    const o = { ...performanceDefaults, ...options }
    if (!(o.alpha > 0 && o.alpha <= 1)) throw new RangeError('alpha must be in (0, 1]')
    if (!(o.prior >= 0 && o.prior <= 1)) throw new RangeError('prior must be in [0, 1]')
    if (!(o.successWeight >= 0 && o.successWeight <= 1)) throw new RangeError('successWeight must be in [0, 1]')
    this.options = o
  }

  /** Folds one observed outcome of a task run by `node` into its averages. */
  record (node: string, outcome: Outcome): void {
    const { alpha, prior } = this.options
    const current = this.nodes.get(node) ?? { successRate: prior, speed: prior, samples: 0 }
    const successObs = outcome.success ? 1 : 0
    const speedObs = speedObservation(outcome)
    const next: NodePerformance = {
      successRate: current.successRate + alpha * (successObs - current.successRate),
      speed: speedObs === undefined ? current.speed : current.speed + alpha * (speedObs - current.speed),
      samples: current.samples + 1
    }
    this.nodes.set(node, next)
  }

  /** The node's performance in 0..1; `prior` (0.5) for a node never observed. */
  performance (node: string): number {
    const stats = this.nodes.get(node)
    if (stats === undefined) return this.options.prior
    const w = this.options.successWeight
    return clamp01(w * stats.successRate + (1 - w) * stats.speed)
  }

  /** The node's averages and sample count, or undefined if never observed. */
  stats (node: string): NodePerformance | undefined {
    const stats = this.nodes.get(node)
    return stats === undefined ? undefined : { ...stats }
  }

  /** Drops what is known of the node: it scores the prior again. */
  forget (node: string): void {
    this.nodes.delete(node)
  }
}

function speedObservation (outcome: Outcome): number | undefined {
  if (!outcome.success) return 0
  if (outcome.durationMs === undefined || !(outcome.timeoutMs > 0)) return undefined
  return clamp01(1 - outcome.durationMs / outcome.timeoutMs, 0)
}
