/**
 * The replicated application of the simulator: a deterministic key-value map.
 *
 * Operations (text): "put k v" → "ok <previous value|nil>", "get k" → "<value|nil>",
 * "add k n" → the new integer value. Results depend on the order of execution, so two replicas that
 * executed different histories answer differently and the clients' f+1 matching rule notices.
 */
import { canonicalJson } from '../../src/core/pbft/types.js'
import type { Application, ClientRequest, Digest } from '../../src/core/pbft/types.js'
import { sha256Hex } from './crypto.js'

export class InvalidSnapshotError extends Error {
  override name = 'InvalidSnapshotError'
}

export class KeyValueApp implements Application {
  private entries = new Map<string, string>()
  /** Requests applied by this instance (not part of the state), for the run summary. */
  appliedCount = 0

  apply (request: ClientRequest, _seq: number): string {
    this.appliedCount++
    const [verb, key, value, ...rest] = request.operation.split(' ')
    if (key === undefined || key === '' || rest.length > 0) return 'error: malformed operation'
    switch (verb) {
      case 'put': {
        if (value === undefined) return 'error: put needs a value'
        const previous = this.entries.get(key) ?? 'nil'
        this.entries.set(key, value)
        return `ok ${previous}`
      }
      case 'get':
        return value === undefined ? (this.entries.get(key) ?? 'nil') : 'error: get takes one key'
      case 'add': {
        const amount = Number(value)
        const current = Number(this.entries.get(key) ?? '0')
        if (!Number.isSafeInteger(amount) || !Number.isSafeInteger(current)) return 'error: not an integer'
        const next = current + amount
        this.entries.set(key, String(next))
        return String(next)
      }
      default:
        return 'error: unknown operation'
    }
  }

  digest (): Digest {
    return sha256Hex(this.snapshot())
  }

  /** Canonical: entries sorted by key. */
  snapshot (): string {
    const sorted = [...this.entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return canonicalJson(sorted)
  }

  restore (snapshot: string): void {
    let parsed: unknown
    try {
      parsed = JSON.parse(snapshot)
    } catch {
      throw new InvalidSnapshotError('snapshot is not JSON')
    }
    if (!Array.isArray(parsed)) throw new InvalidSnapshotError('snapshot is not a list of entries')
    const entries = new Map<string, string>()
    for (const entry of parsed) {
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'string') {
        throw new InvalidSnapshotError('snapshot entry is not [key, value]')
      }
      entries.set(entry[0], entry[1])
    }
    this.entries = entries
  }
}
