/**
 * Hybrid logical clocks (Kulkarni, Demirbas et al., "Logical Physical Clocks and Consistent Snapshots
 * in Globally Distributed Databases", 2014): a timestamp `(wallMs, logical, node)` that stays close to
 * physical time, never goes backwards even when the wall clock does, and orders every write totally
 * (the node id breaks ties, so two nodes never produce equal timestamps).
 *
 * Pure: the wall time is passed in. A remote timestamp too far ahead of our wall clock
 * (`driftMaxMs`) is refused, so one peer with a broken clock cannot drag everyone's clocks forward.
 */

export interface Hlc {
  wallMs: number
  logical: number
  node: string
}

/** Total order: wall time, then logical counter, then node id. */
export function compareHlc (a: Hlc, b: Hlc): number {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0
}

/** A canonical text form, sortable within one wall-time width (used in digests and as a map value). */
export function formatHlc (hlc: Hlc): string {
  return `${hlc.wallMs}.${hlc.logical}.${hlc.node}`
}

/** Stateless shape check of a received timestamp. */
export function isHlc (raw: unknown, nodeLengthMax: number): raw is Hlc {
  if (typeof raw !== 'object' || raw === null) return false
  const r = raw as Record<string, unknown>
  return typeof r.wallMs === 'number' && Number.isSafeInteger(r.wallMs) && r.wallMs >= 0 &&
    typeof r.logical === 'number' && Number.isSafeInteger(r.logical) && r.logical >= 0 &&
    typeof r.node === 'string' && r.node.length > 0 && r.node.length <= nodeLengthMax
}

export class HybridClock {
  private last: Hlc

  constructor (readonly node: string, readonly driftMaxMs: number) {
    this.last = { wallMs: 0, logical: 0, node }
  }

  /** The latest timestamp issued or observed. */
  current (): Hlc {
    return { ...this.last }
  }

  /** A timestamp for a local event (a write): strictly greater than every one before. */
  now (wallMs: number): Hlc {
    const wall = Math.max(this.last.wallMs, Math.floor(wallMs))
    const logical = wall === this.last.wallMs ? this.last.logical + 1 : 0
    this.last = { wallMs: wall, logical, node: this.node }
    return { ...this.last }
  }

  /**
   * Observe a remote timestamp (a received write) so our next one is greater. Returns false and changes
   * nothing when it is more than `driftMaxMs` ahead of our wall clock.
   */
  observe (remote: Hlc, wallMs: number): boolean {
    if (remote.wallMs > wallMs + this.driftMaxMs) return false
    const wall = Math.max(this.last.wallMs, remote.wallMs, Math.floor(wallMs))
    let logical: number
    if (wall === this.last.wallMs && wall === remote.wallMs) logical = Math.max(this.last.logical, remote.logical) + 1
    else if (wall === this.last.wallMs) logical = this.last.logical + 1
    else if (wall === remote.wallMs) logical = remote.logical + 1
    else logical = 0
    this.last = { wallMs: wall, logical, node: this.node }
    return true
  }
}
