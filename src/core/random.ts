/** A small seeded generator (mulberry32) so cores are deterministic: same seed, same choices. */
export class SeededRandom {
  private state: number

  constructor (seed: number) {
    this.state = seed >>> 0
  }

  /** Uniform in [0, 1). */
  next (): number {
    this.state = (this.state + 0x6D2B79F5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** Up to `count` distinct items, in random order (partial Fisher–Yates on a copy). */
  sample<T> (items: readonly T[], count: number): T[] {
    const pool = [...items]
    const take = Math.min(count, pool.length)
    for (let i = 0; i < take; i++) {
      const j = i + Math.floor(this.next() * (pool.length - i))
      const tmp = pool[i] as T
      pool[i] = pool[j] as T
      pool[j] = tmp
    }
    return pool.slice(0, take)
  }
}
