/**
 * Per-peer reputation from what each peer did, as a pure module: the runtime reports observations
 * (rejected messages by reason, failed or timed-out requests, probe answers, RTT samples, task
 * outcomes and speed, flaps) with the time, and reads scores and a ranking. Used to prefer good peers
 * (dial, ask, place tasks) and to notice bad ones; never a verdict by itself.
 *
 * - Score = event score + RTT term, clamped to [scoreMin, scoreMax].
 * - Event score: each observation adds a delta (`reputationDefaults.deltas`, the reasons beside them);
 *   the sum decays exponentially towards 0 with a configurable half-life, so old behaviour fades
 *   (gossipsub's peer score decays its counters the same way). Time is passed in; a clock going
 *   backwards counts as no time elapsed.
 * - RTT term: an exponentially weighted mean of RTT samples compared with a reference RTT, worth at
 *   most ±rttWeight: a fast peer gains a little, a slow one loses a little.
 * - Task speed: a success is worth more when faster than expected (factor expected/actual, in
 *   [0.5, 2]).
 * - Bounded: at most `peersMax` peers; a new peer beyond that evicts the one updated longest ago.
 * - `serialise()` / `restoreReputation()`: JSON for persistence; restoring validates everything and
 *   refuses corrupt input with a reason instead of half-loading it.
 */

export interface ReputationConfig {
  /** Half-life of the event score. @default 30 minutes */
  halfLifeMs: number
  scoreMin: number
  scoreMax: number
  peersMax: number
  /** RTT considered neither good nor bad. @default 100 ms */
  rttReferenceMs: number
  /** Largest gain or loss from RTT. @default 5 */
  rttWeight: number
  /** Weight of a new RTT sample in the moving mean. @default 0.2 */
  rttAlpha: number
  deltas: ReputationDeltas
}

export interface ReputationDeltas {
  /** Per rejection reason; `rejectedDefault` for reasons not listed. */
  rejected: Readonly<Record<string, number>>
  rejectedDefault: number
  requestFailed: number
  requestTimeout: number
  probeOk: number
  probeFailed: number
  taskSuccess: number
  taskFailure: number
  flap: number
}

export const reputationDefaults: ReputationConfig = {
  halfLifeMs: 30 * 60 * 1000,
  scoreMin: -100,
  scoreMax: 100,
  peersMax: 10_000,
  rttReferenceMs: 100,
  rttWeight: 5,
  rttAlpha: 0.2,
  deltas: {
    // A bad signature is deliberate or broken keys: the worst a message can be.
    rejected: { 'bad-signature': -20, malformed: -10, 'too-large': -10 },
    // Stale or duplicate messages happen to honest peers (races), so the default is mild.
    rejectedDefault: -2,
    requestFailed: -2,
    // A timeout costs us the whole wait: a little worse than a quick failure.
    requestTimeout: -3,
    probeOk: 1,
    probeFailed: -3,
    taskSuccess: 3,
    // A failed task wastes a placement and a retry.
    taskFailure: -5,
    // Leaving and rejoining churns membership and placements.
    flap: -4
  }
}

export type Observation =
  | { type: 'rejected', reason: string }
  | { type: 'request-failed' }
  | { type: 'request-timeout' }
  | { type: 'probe', ok: boolean }
  | { type: 'rtt', ms: number }
  | { type: 'task', success: boolean, durationMs?: number, expectedMs?: number }
  | { type: 'flap' }

interface PeerScore {
  /** Event score as of `atMs`. */
  events: number
  atMs: number
  rttMs: number | undefined
}

export type RestoreRefusal = 'not-json' | 'wrong-version' | 'malformed' | 'too-many-peers' | 'out-of-range' | 'duplicate-peer'

const formatVersion = 1
const peerIdLengthMax = 128

export class Reputation {
  readonly config: ReputationConfig
  private readonly peers = new Map<string, PeerScore>()

  constructor (config: Partial<ReputationConfig> = {}) {
    this.config = { ...reputationDefaults, ...config, deltas: { ...reputationDefaults.deltas, ...config.deltas } }
    const c = this.config
    if (!(c.halfLifeMs > 0) || !(c.scoreMin < 0 && c.scoreMax > 0) || !(c.peersMax >= 1) || !(c.rttReferenceMs > 0) ||
        !(c.rttAlpha > 0 && c.rttAlpha <= 1) || !(c.rttWeight >= 0)) {
      throw new Error('invalid reputation config')
    }
  }

  /** Record an observation of `peer` at `nowMs`. Invalid samples (non-finite, negative) are ignored. */
  observe (peer: string, observation: Observation, nowMs: number): void {
    if (peer.length === 0 || peer.length > peerIdLengthMax || !Number.isFinite(nowMs)) return
    const delta = this.deltaOf(observation)
    if (delta === undefined && observation.type !== 'rtt') return
    if (observation.type === 'rtt' && !(Number.isFinite(observation.ms) && observation.ms >= 0)) return
    const entry = this.entryFor(peer, nowMs)
    if (observation.type === 'rtt') {
      entry.rttMs = entry.rttMs === undefined ? observation.ms : entry.rttMs + this.config.rttAlpha * (observation.ms - entry.rttMs)
      return
    }
    entry.events = this.clamp(entry.events + (delta as number))
  }

  /** The score of `peer` at `nowMs` (0 for a peer never observed). */
  score (peer: string, nowMs: number): number {
    const entry = this.peers.get(peer)
    if (entry === undefined) return 0
    return this.clamp(this.decayed(entry, nowMs) + this.rttTerm(entry.rttMs))
  }

  /** The moving mean of a peer's RTT samples. */
  rttMs (peer: string): number | undefined {
    return this.peers.get(peer)?.rttMs
  }

  /** Peers by score, best first; equal scores by PeerId. Only `among` when given (unknown ones score 0). */
  ranking (nowMs: number, among?: readonly string[]): Array<{ peer: string, score: number }> {
    const peers = among === undefined ? [...this.peers.keys()] : [...new Set(among)]
    return peers.map(peer => ({ peer, score: this.score(peer, nowMs) }))
      .sort((a, b) => b.score - a.score || (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0))
  }

  size (): number {
    return this.peers.size
  }

  forget (peer: string): void {
    this.peers.delete(peer)
  }

  /** JSON for persistence (peers sorted, so equal states give equal text). */
  serialise (): string {
    const peers = [...this.peers].sort((a, b) => a[0] < b[0] ? -1 : 1)
      .map(([peer, e]) => e.rttMs === undefined ? { peer, events: e.events, atMs: e.atMs } : { peer, events: e.events, atMs: e.atMs, rttMs: e.rttMs })
    return JSON.stringify({ version: formatVersion, peers })
  }

  /** Restore from `serialise()` output (see `restoreReputation`). */
  static restore (text: string, config: Partial<ReputationConfig> = {}): { ok: true, reputation: Reputation } | { ok: false, reason: RestoreRefusal } {
    const parsed = parseSerialised(text, new Reputation(config).config)
    if (!parsed.ok) return parsed
    const reputation = new Reputation(config)
    for (const [peer, entry] of parsed.peers) reputation.peers.set(peer, entry)
    return { ok: true, reputation }
  }

  private deltaOf (o: Observation): number | undefined {
    const d = this.config.deltas
    switch (o.type) {
      case 'rejected': return Object.hasOwn(d.rejected, o.reason) ? d.rejected[o.reason] : d.rejectedDefault
      case 'request-failed': return d.requestFailed
      case 'request-timeout': return d.requestTimeout
      case 'probe': return o.ok ? d.probeOk : d.probeFailed
      case 'flap': return d.flap
      case 'rtt': return undefined
      case 'task': {
        if (!o.success) return d.taskFailure
        const { durationMs, expectedMs } = o
        if (durationMs === undefined || expectedMs === undefined || !(durationMs > 0) || !(expectedMs > 0) ||
            !Number.isFinite(durationMs) || !Number.isFinite(expectedMs)) return d.taskSuccess
        return d.taskSuccess * Math.min(2, Math.max(0.5, expectedMs / durationMs))
      }
    }
  }

  /** The peer's entry with its event score decayed to `nowMs`; created (evicting if full) if absent. */
  private entryFor (peer: string, nowMs: number): PeerScore {
    let entry = this.peers.get(peer)
    if (entry === undefined) {
      if (this.peers.size >= this.config.peersMax) this.evictOldest()
      entry = { events: 0, atMs: nowMs, rttMs: undefined }
      this.peers.set(peer, entry)
      return entry
    }
    entry.events = this.decayed(entry, nowMs)
    entry.atMs = Math.max(entry.atMs, nowMs)
    return entry
  }

  private evictOldest (): void {
    let oldest: string | undefined
    let oldestAt = Infinity
    for (const [peer, entry] of this.peers) {
      if (entry.atMs < oldestAt || (entry.atMs === oldestAt && oldest !== undefined && peer < oldest)) { oldest = peer; oldestAt = entry.atMs }
    }
    if (oldest !== undefined) this.peers.delete(oldest)
  }

  private decayed (entry: PeerScore, nowMs: number): number {
    const elapsed = Math.max(0, nowMs - entry.atMs)
    return entry.events * Math.pow(0.5, elapsed / this.config.halfLifeMs)
  }

  private rttTerm (rttMs: number | undefined): number {
    if (rttMs === undefined) return 0
    const reference = this.config.rttReferenceMs
    return this.config.rttWeight * Math.min(1, Math.max(-1, (reference - rttMs) / reference))
  }

  private clamp (score: number): number {
    return Math.min(this.config.scoreMax, Math.max(this.config.scoreMin, score))
  }
}

/** Restore from `serialise()` output: every field validated; corrupt input is refused as a whole. */
export function restoreReputation (text: string, config: Partial<ReputationConfig> = {}): { ok: true, reputation: Reputation } | { ok: false, reason: RestoreRefusal } {
  return Reputation.restore(text, config)
}

function parseSerialised (text: string, config: ReputationConfig): { ok: true, peers: Array<[string, PeerScore]> } | { ok: false, reason: RestoreRefusal } {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return { ok: false, reason: 'not-json' }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'malformed' }
  const r = raw as Record<string, unknown>
  if (r.version !== formatVersion) return { ok: false, reason: 'wrong-version' }
  if (!Array.isArray(r.peers)) return { ok: false, reason: 'malformed' }
  if (r.peers.length > config.peersMax) return { ok: false, reason: 'too-many-peers' }
  const seen = new Set<string>()
  const peers: Array<[string, PeerScore]> = []
  for (const item of r.peers as unknown[]) {
    if (typeof item !== 'object' || item === null) return { ok: false, reason: 'malformed' }
    const p = item as Record<string, unknown>
    if (typeof p.peer !== 'string' || p.peer.length === 0 || p.peer.length > peerIdLengthMax) return { ok: false, reason: 'malformed' }
    if (typeof p.events !== 'number' || typeof p.atMs !== 'number' || (p.rttMs !== undefined && typeof p.rttMs !== 'number')) return { ok: false, reason: 'malformed' }
    if (!Number.isFinite(p.events) || p.events < config.scoreMin || p.events > config.scoreMax) return { ok: false, reason: 'out-of-range' }
    if (!Number.isFinite(p.atMs) || p.atMs < 0) return { ok: false, reason: 'out-of-range' }
    if (p.rttMs !== undefined && !(Number.isFinite(p.rttMs) && p.rttMs >= 0)) return { ok: false, reason: 'out-of-range' }
    if (seen.has(p.peer)) return { ok: false, reason: 'duplicate-peer' }
    seen.add(p.peer)
    peers.push([p.peer, { events: p.events, atMs: p.atMs, rttMs: p.rttMs as number | undefined }])
  }
  return { ok: true, peers }
}
