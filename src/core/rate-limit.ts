/**
 * Token buckets per key (a peer), pure: time is passed in (ms), nothing is read from a clock.
 *
 * A bucket holds at most `burst` tokens and refills at `ratePerSec`; each message takes one token, and a
 * message that finds the bucket empty is refused (the caller drops and counts it). A new key starts
 * with a full bucket.
 *
 * Memory is bounded: at most `keysMax` buckets are kept. The map is in least-recently-used order (a
 * touched key moves to the end); a new key beyond the bound evicts the least recently used one. An
 * evicted key comes back with a full bucket, so eviction can only favour a peer that was idle longest,
 * never let a stranger grow the map. A bucket that has refilled completely is the same as no bucket,
 * so `sweep` drops those (callers run it now and then; it is also what keeps an idle node's map empty).
 */

export interface TokenBucketConfig {
  /** Tokens added per second (the sustained rate allowed). */
  ratePerSec: number
  /** Bucket capacity (the burst allowed after a quiet spell); at least 1. */
  burst: number
  /** Buckets kept at most (least recently used evicted beyond it). */
  keysMax: number
}

interface Bucket {
  tokens: number
  updatedMs: number
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>()
  /** The lowest token level any bucket fell to after a take that succeeded (headroom of the busiest key). */
  private lowest: number
  evictions = 0

  constructor (readonly config: TokenBucketConfig) {
    if (!(config.ratePerSec > 0) || !Number.isFinite(config.ratePerSec)) throw new RangeError('ratePerSec must be a positive number')
    if (!(config.burst >= 1) || !Number.isFinite(config.burst)) throw new RangeError('burst must be at least 1')
    if (!Number.isSafeInteger(config.keysMax) || config.keysMax < 1) throw new RangeError('keysMax must be a positive integer')
    this.lowest = config.burst
  }

  /** Take one token for `key` at `nowMs`: true if there was one (the message may pass). */
  take (key: string, nowMs: number): boolean {
    let bucket = this.buckets.get(key)
    if (bucket === undefined) {
      if (this.buckets.size >= this.config.keysMax) {
        const oldest = this.buckets.keys().next().value
        if (oldest !== undefined) { this.buckets.delete(oldest); this.evictions++ }
      }
      bucket = { tokens: this.config.burst, updatedMs: nowMs }
    } else {
      this.buckets.delete(key) // re-inserted below: most recently used last
      this.refill(bucket, nowMs)
    }
    this.buckets.set(key, bucket)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    if (bucket.tokens < this.lowest) this.lowest = bucket.tokens
    return true
  }

  /** Drop the buckets that are full again at `nowMs` (they hold no information). Returns how many. */
  sweep (nowMs: number): number {
    let dropped = 0
    for (const [key, bucket] of this.buckets) {
      this.refill(bucket, nowMs)
      if (bucket.tokens >= this.config.burst) { this.buckets.delete(key); dropped++ }
    }
    return dropped
  }

  /** Buckets held now (≤ keysMax). */
  get size (): number {
    return this.buckets.size
  }

  /** The fewest tokens any key was left with after an accepted message (burst = never touched). */
  get lowestTokens (): number {
    return this.lowest
  }

  /** The tokens `key` has at `nowMs` (burst when unknown); does not change anything. */
  tokens (key: string, nowMs: number): number {
    const bucket = this.buckets.get(key)
    if (bucket === undefined) return this.config.burst
    const elapsedMs = Math.max(0, nowMs - bucket.updatedMs)
    return Math.min(this.config.burst, bucket.tokens + elapsedMs * this.config.ratePerSec / 1000)
  }

  private refill (bucket: Bucket, nowMs: number): void {
    // a clock going backwards adds nothing
    const elapsedMs = nowMs - bucket.updatedMs
    if (elapsedMs > 0) {
      bucket.tokens = Math.min(this.config.burst, bucket.tokens + elapsedMs * this.config.ratePerSec / 1000)
      bucket.updatedMs = nowMs
    }
  }
}
