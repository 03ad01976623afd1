/**
 * [mdns] How long the connection keeper goes on dialing a peer that discovery (mDNS, `peer:discovery`)
 * named but that is not a member. mDNS names the same peers again every 10 s, so without a bound a
 * peer we cannot join would be dialed forever: a node of another private network (same network name,
 * another key: the dial times out in the handshake), a stale address, or a node of another network
 * (the connection opens but it does not speak our /mesh/<network>/sync protocol). So:
 * - after `failuresMax` failed dials in a row (the keeper's backoff spaces them: 1 s doubling to 30 s),
 *   the peer is quarantined for `quarantineMs`: rediscoveries are ignored meanwhile;
 * - a peer found to be of another network is quarantined at once;
 * - a dial that succeeds or the peer becoming a member clears its record.
 * Clock-free (callers pass `now`), bounded (`entriesMax`, oldest first), unit-tested.
 */
export interface DiscoveryGuardOptions {
  failuresMax?: number
  quarantineMs?: number
  entriesMax?: number
}

interface Entry { failures: number, until: number }

export class DiscoveryGuard {
  private readonly entries = new Map<string, Entry>()
  readonly failuresMax: number
  readonly quarantineMs: number
  private readonly entriesMax: number
  /** Quarantines started (failures or another network), for the log and tests. */
  quarantined = 0

  constructor (options: DiscoveryGuardOptions = {}) {
    this.failuresMax = options.failuresMax ?? 6
    this.quarantineMs = options.quarantineMs ?? 10 * 60_000
    this.entriesMax = options.entriesMax ?? 4096
  }

  /** Whether discovery of `peer` is ignored now. */
  blocked (peer: string, now: number): boolean {
    const entry = this.entries.get(peer)
    if (entry == null || entry.until === 0) return false
    if (now >= entry.until) {
      this.entries.delete(peer)
      return false
    }
    return true
  }

  /** A dial of a discovered peer failed; true when this starts a quarantine. */
  failure (peer: string, now: number): boolean {
    const entry = this.entries.get(peer) ?? { failures: 0, until: 0 }
    if (entry.until !== 0 && now < entry.until) return false
    entry.failures++
    let started = false
    if (entry.failures >= this.failuresMax) {
      entry.until = now + this.quarantineMs
      entry.failures = 0
      this.quarantined++
      started = true
    }
    this.set(peer, entry)
    return started
  }

  /** The peer turned out to be of another network (or otherwise no candidate for membership). */
  foreign (peer: string, now: number): void {
    this.set(peer, { failures: 0, until: now + this.quarantineMs })
    this.quarantined++
  }

  /** A dial succeeded, or the peer is a member: forget what was held against it. */
  clear (peer: string): void {
    this.entries.delete(peer)
  }

  get size (): number {
    return this.entries.size
  }

  private set (peer: string, entry: Entry): void {
    this.entries.delete(peer)
    this.entries.set(peer, entry)
    while (this.entries.size > this.entriesMax) {
      const oldest = this.entries.keys().next().value
      if (oldest == null) break
      this.entries.delete(oldest)
    }
  }
}
