/**
 * The usual run time of a task, per capability set: a moving mean (each new run weighs 1/10) of the
 * successful runs this node saw committed, by any worker. The reputation judges a worker's speed
 * against it (src/core/gossip/reputation.ts: a success counts ×0.5…×2 by usual/actual duration).
 */

/** Capability sets remembered; beyond it the least recently updated is dropped. */
export const usualDurationsKeysMax = 256
/** Weight of each new run in the moving mean. */
const weight = 0.1

export class UsualDurations {
  private readonly means = new Map<string, number>()

  /**
   * The usual duration for these capabilities before this run (undefined until one success was seen),
   * then the run's duration, when it is a success with a positive finite duration, folded in.
   */
  take (capabilities: readonly string[], successMs: number | undefined): number | undefined {
    const key = [...capabilities].sort().join(',')
    const before = this.means.get(key)
    if (successMs != null && Number.isFinite(successMs) && successMs > 0) {
      this.means.delete(key)
      this.means.set(key, before == null ? successMs : before + (successMs - before) * weight)
      if (this.means.size > usualDurationsKeysMax) {
        const oldest = this.means.keys().next().value
        if (oldest != null) this.means.delete(oldest)
      }
    }
    return before
  }

  get size (): number { return this.means.size }
}
