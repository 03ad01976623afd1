/**
 * The node's reputation of its peers: one pure `Reputation` (src/core/gossip/reputation.ts) fed with
 * what this node saw of each peer, persisted in the data dir, and read by every peer selector.
 *
 * Observations (each named where it comes from):
 * - rejected messages by reason: state records and verdicts that failed verification, charged to the
 *   peer that handed them to us (the gossipsub propagation source, or the sender of a sync table;
 *   honest nodes verify before they forward or store, so that peer is the author or a liar). Stale
 *   records are not charged: gossip reorders (src/runtime/mesh-node.ts, `[reputation]` blocks);
 * - refused direct peer messages, charged to the sender (`messageRejectedDeltas`, wired in src/runtime/start-mesh.ts);
 * - requests: a probe helper that does not answer (request-failed), a direct probe or RTT ping that
 *   fails (probe failed), a probe that succeeds (probe ok; only during a suspicion round, so that the
 *   30 s RTT pings do not inflate every connected peer's score), and every RTT measured; a membership
 *   table exchange (sync) we asked for that failed or timed out (protocols/sync/service.ts); a bidder
 *   that gives no answer to a call for bids, a replica that does not answer a record repair push, a
 *   direct message not acknowledged (timeout, or failed; a refusal is an answer);
 * - tasks: each committed `task.complete` / `task.fail`, charged to the node that ran it, with its
 *   duration (src/runtime/tasks/tasks.ts, `onOutcome`);
 * - flapping: a peer that connects again within `flapWindowMs` (30 s) of its last disconnect (at most
 *   one flap per peer per window).
 *
 * Time is the wall clock (`Date.now()`), so decay counts the time a node was down too; the core treats
 * a clock going backwards as no time passed.
 *
 * Persistence: `reputation.json` in the data dir (scores in the core's own format, plus the reason
 * counts), written atomically (temporary file, fsync, rename) every `persistIntervalMs` (30 s) when
 * something changed, and at stop. At start a missing file means no history; a torn or invalid one is
 * reported in one log line and ignored (the next write replaces it), never a crash.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, constants } from 'node:fs'
import { join } from 'node:path'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { Reputation, reputationDefaults, restoreReputation } from '../../core/gossip/reputation.js'
import type { Observation } from '../../core/gossip/reputation.js'
import { gossipAppScore, isBanned, reputationPolicy } from '../../core/gossip/reputation-policy.js'

export const reputationFile = 'reputation.json'

/**
 * Deltas for the state codec's rejection reasons (protocols/state/codec.ts). A bad signature or a
 * record about another peer signed by someone else is forgery: the worst. Bytes that are too big,
 * undecodable or invalid are broken or hostile: half that. A verdict where a record was expected (or
 * the reverse) is a milder protocol error. Stale records are never charged.
 */
export const rejectedDeltas: Readonly<Record<string, number>> = {
  'bad-signature': -20,
  'sender-mismatch': -20,
  oversize: -10,
  undecodable: -10,
  invalid: -10,
  'wrong-kind': -5,
  // [admission] messages over the peer's rate for a protocol (src/runtime/admission.ts): charged at most
  // once a second per protocol, so a sustained flood reaches the ban score in ~10 s and a burst costs −5
  'rate-limited': -5
}

/**
 * Direct peer messages refused by the messaging codec (protocols/msg/codec.ts), charged to the peer at
 * the other end of the stream, at half the weight of records: a direct message reaches only us and is
 * refused at the cost of one stream, while a bad gossip record costs a verification on every hop and
 * would travel on if not caught. Forgery −10, broken bytes −5 (so a burst of five or six broken
 * messages lowers a peer's score without banning it; a steady stream of them does). Not charged:
 * `expired` and `misdirected` (clock skew or a stale address book, not misconduct), and broadcasts
 * (refused after gossipsub handed them over, with no accountable forwarder known here).
 */
export const messageRejectedDeltas: Readonly<Record<string, number>> = {
  'msg-bad-signature': -10,
  'msg-impersonation': -10,
  'msg-oversize': -5,
  'msg-undecodable': -5,
  'msg-invalid': -5,
  'msg-bad-json': -5
}

/**
 * The gossip layer's refusals (src/runtime/gossip/gossip-votes.ts, eventual-store.ts), charged to the
 * peer that handed the item over (the gossip forwarder or the anti-entropy partner): every node verifies
 * before it stores or forwards, so an honest peer never hands these on. A vote or proposal whose
 * signature fails is forgery (−20, as a forged record); broken or invalid bytes, an ineligible voter, a
 * malformed LWW entry −10. Never charged: stale, future-dated, unknown-proposal, and the eventual
 * store's refusals that depend on our own state or clock (full, clock-ahead, beyond-horizon).
 */
export const gossipLayerRejectedDeltas: Readonly<Record<string, number>> = {
  'votes-bad-signature': -20,
  'votes-oversize': -10,
  'votes-undecodable': -10,
  'votes-invalid': -10,
  'votes-refused': -10,
  'eventual-oversize': -10,
  'eventual-undecodable': -10,
  'eventual-invalid': -10,
  'eventual-malformed': -10
}

/** The rejection reason to charge for a refused direct message, or undefined when it is not charged. */
export function messageRejection (reason: string, via: string): string | undefined {
  const key = `msg-${reason}`
  return via === 'direct' && Object.hasOwn(messageRejectedDeltas, key) ? key : undefined
}

/** A reconnect this soon after the last disconnect is a flap. */
export const flapWindowMs = 30_000
/** Write the file at most this often (and only when something changed). */
export const persistIntervalMs = 30_000
/** Reasons shown per member (the most frequent first). */
const topReasonsMax = 3
/** Reason kinds counted per peer at most (there are ~15; a bound all the same). */
const reasonsPerPeerMax = 32
const fileVersion = 1

export interface ReputationView {
  /** Score in [-100, 100], 0 = neutral (never observed, or all forgotten by decay); 2 decimals. */
  score: number
  /** Disconnected and refused: misbehaved and at or below the ban score. */
  banned: boolean
  /** The most frequent observations behind the score, since this peer was first observed (counts). */
  reasons: Array<{ reason: string, count: number }>
}

export interface PeerReputationInit {
  self: string
  /** Where `reputation.json` lives; null: nothing persisted (tests, a node without a data dir). */
  dataDir: string | null
  log: (line: string) => void
  /** Peers never disconnected for their score (genesis validators: their links stay pinned). */
  exempt?: (peer: string) => boolean
  /** Called when a peer becomes banned (hang up on it). */
  onBan?: (peer: string, score: number) => void
  /** Wall clock (ms); injectable for tests. */
  now?: () => number
}

/** The name of an observation in the reason counts. */
export function reasonOf (o: Observation): string | undefined {
  switch (o.type) {
    case 'rejected': return `rejected:${o.reason}`
    case 'request-failed': return 'request-failed'
    case 'request-timeout': return 'request-timeout'
    case 'probe': return o.ok ? 'probe-ok' : 'probe-failed'
    case 'task': return o.success ? 'task-success' : 'task-failure'
    case 'flap': return 'flap'
    case 'rtt': return undefined
  }
}

export class PeerReputation {
  private core: Reputation
  private readonly reasons = new Map<string, Map<string, number>>()
  private readonly banned = new Set<string>()
  private readonly lastDisconnect = new Map<string, number>()
  private readonly lastFlap = new Map<string, number>()
  private readonly now: () => number
  private dirty = false
  private timer?: ReturnType<typeof setInterval>
  private libp2p?: Libp2p

  constructor (private readonly init: PeerReputationInit) {
    this.now = init.now ?? Date.now
    this.core = new Reputation({ deltas: { ...reputationDefaults.deltas, rejected: { ...rejectedDeltas, ...messageRejectedDeltas, ...gossipLayerRejectedDeltas } } })
    this.load()
    this.onConnect = this.onConnect.bind(this)
    this.onDisconnect = this.onDisconnect.bind(this)
  }

  /** Watch connection churn and start the periodic write. */
  start (libp2p: Libp2p): void {
    this.libp2p = libp2p
    libp2p.addEventListener('peer:connect', this.onConnect)
    libp2p.addEventListener('peer:disconnect', this.onDisconnect)
    this.timer = setInterval(() => { if (this.dirty) this.persist() }, persistIntervalMs)
    this.timer.unref?.()
  }

  /** Stop watching and write what changed. */
  stop (): void {
    clearInterval(this.timer)
    this.libp2p?.removeEventListener('peer:connect', this.onConnect)
    this.libp2p?.removeEventListener('peer:disconnect', this.onDisconnect)
    if (this.dirty) this.persist()
  }

  observe (peer: string, observation: Observation): void {
    if (peer === this.init.self || peer.length === 0) return
    this.core.observe(peer, observation, this.now())
    const reason = reasonOf(observation)
    if (reason !== undefined) {
      let counts = this.reasons.get(peer)
      if (counts === undefined) { counts = new Map(); this.reasons.set(peer, counts) }
      if (counts.has(reason) || counts.size < reasonsPerPeerMax) counts.set(reason, (counts.get(reason) ?? 0) + 1)
      if (this.reasons.size > this.core.config.peersMax) this.dropForgotten()
    }
    this.dirty = true
    if (observation.type === 'rejected') this.checkBan(peer)
  }

  score (peer: string): number {
    return this.core.score(peer, this.now())
  }

  /** Sent us messages we had to reject (the only conduct that can get a peer banned or gossip-penalised). */
  misbehaved (peer: string): boolean {
    const counts = this.reasons.get(peer)
    if (counts === undefined) return false
    for (const reason of counts.keys()) if (reason.startsWith('rejected:')) return true
    return false
  }

  /** Disconnected and refused right now (re-evaluated with decay: a banned peer is let back once above the ban score). */
  isBanned (peer: string): boolean {
    const banned = isBanned(this.score(peer), this.misbehaved(peer), this.init.exempt?.(peer) ?? false)
    if (!banned && this.banned.delete(peer)) this.init.log(`reputation: ${shortId(peer)} back above ${reputationPolicy.banScore}: connections allowed again`)
    return banned
  }

  /** gossipsub's application-specific score for a peer (see reputation-policy.ts). */
  gossipScore (peer: string): number {
    return gossipAppScore(this.score(peer), this.misbehaved(peer))
  }

  view (peer: string): ReputationView {
    const score = this.score(peer)
    const reasons = [...(this.reasons.get(peer) ?? new Map<string, number>())]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, topReasonsMax)
      .map(([reason, count]) => ({ reason, count }))
    return { score: Math.round(score * 100) / 100, banned: isBanned(score, this.misbehaved(peer), this.init.exempt?.(peer) ?? false), reasons }
  }

  /** Every peer with a score, best first. */
  list (): Array<{ peerId: string } & ReputationView> {
    return this.core.ranking(this.now()).map(({ peer }) => ({ peerId: peer, ...this.view(peer) }))
  }

  private checkBan (peer: string): void {
    const score = this.score(peer)
    if (this.banned.has(peer) || !isBanned(score, this.misbehaved(peer), this.init.exempt?.(peer) ?? false)) return
    this.banned.add(peer)
    this.init.log(`reputation: ${shortId(peer)} banned (score ${score.toFixed(1)} ≤ ${reputationPolicy.banScore} after rejected messages): disconnecting, not redialing or accepting it until its score decays back`)
    this.init.onBan?.(peer, score)
  }

  private onConnect (event: CustomEvent<PeerId>): void {
    const peer = event.detail.toString()
    const now = this.now()
    const last = this.lastDisconnect.get(peer)
    if (last === undefined || now - last > flapWindowMs) return
    const flapped = this.lastFlap.get(peer)
    if (flapped !== undefined && now - flapped < flapWindowMs) return
    this.lastFlap.set(peer, now)
    this.observe(peer, { type: 'flap' })
  }

  private onDisconnect (event: CustomEvent<PeerId>): void {
    const peer = event.detail.toString()
    this.lastDisconnect.set(peer, this.now())
    // bounded: entries older than the window mean nothing
    if (this.lastDisconnect.size > 4096) {
      const cutoff = this.now() - flapWindowMs
      for (const [p, at] of this.lastDisconnect) if (at < cutoff) this.lastDisconnect.delete(p)
      for (const [p, at] of this.lastFlap) if (at < cutoff) this.lastFlap.delete(p)
    }
  }

  /** Reason counts of peers the core no longer holds (evicted) are dropped. */
  private dropForgotten (): void {
    const known = new Set(this.core.ranking(this.now()).map(r => r.peer))
    for (const peer of this.reasons.keys()) if (!known.has(peer)) this.reasons.delete(peer)
  }

  private get path (): string | null {
    return this.init.dataDir == null ? null : join(this.init.dataDir, reputationFile)
  }

  private load (): void {
    const path = this.path
    if (path == null) return
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.init.log(`warning: cannot read ${reputationFile}: ${(err as Error).message}; starting with no reputation history`)
      return
    }
    const parsed = parseReputationFile(text)
    if (!parsed.ok) {
      this.init.log(`warning: ${reputationFile} ignored (${parsed.reason}): starting with no reputation history`)
      return
    }
    this.core = parsed.reputation
    for (const [peer, counts] of parsed.reasons) this.reasons.set(peer, counts)
  }

  /** Write `reputation.json` atomically: a crash leaves the old file or the new one, never a torn one. */
  persist (): void {
    const path = this.path
    this.dirty = false
    if (path == null) return
    this.dropForgotten()
    const text = serialiseReputationFile(this.core, this.reasons)
    const tmp = `${path}.tmp-${process.pid}`
    try {
      const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600)
      try {
        writeSync(fd, text)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(tmp, path)
    } catch (err) {
      this.dirty = true
      this.init.log(`warning: cannot write ${reputationFile}: ${(err as Error).message}`)
    }
  }
}

/** The file's text: `{ version, scores: <the core's serialise()>, reasons: { peer: { reason: count } } }`. */
export function serialiseReputationFile (core: Reputation, reasons: ReadonlyMap<string, ReadonlyMap<string, number>>): string {
  const scores = JSON.parse(core.serialise()) as unknown
  const byPeer: Record<string, Record<string, number>> = {}
  for (const peer of [...reasons.keys()].sort()) byPeer[peer] = Object.fromEntries([...(reasons.get(peer) ?? new Map<string, number>())].sort((a, b) => a[0] < b[0] ? -1 : 1))
  return JSON.stringify({ version: fileVersion, scores, reasons: byPeer }) + '\n'
}

/** Parse and validate the file as a whole: anything wrong refuses all of it, with the reason. */
export function parseReputationFile (text: string): { ok: true, reputation: Reputation, reasons: Map<string, Map<string, number>> } | { ok: false, reason: string } {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return { ok: false, reason: 'not JSON (torn write?)' }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'not an object' }
  const file = raw as Record<string, unknown>
  if (file.version !== fileVersion) return { ok: false, reason: `unknown version ${JSON.stringify(file.version)?.slice(0, 20) ?? 'none'}` }
  const restored = restoreReputation(JSON.stringify(file.scores ?? null), { deltas: { ...reputationDefaults.deltas, rejected: { ...rejectedDeltas, ...messageRejectedDeltas, ...gossipLayerRejectedDeltas } } })
  if (!restored.ok) return { ok: false, reason: `scores: ${restored.reason}` }
  const known = new Set(restored.reputation.ranking(0).map(r => r.peer))
  const reasons = new Map<string, Map<string, number>>()
  if (typeof file.reasons !== 'object' || file.reasons === null || Array.isArray(file.reasons)) return { ok: false, reason: 'reasons: not an object' }
  for (const [peer, counts] of Object.entries(file.reasons as Record<string, unknown>)) {
    if (!known.has(peer)) return { ok: false, reason: 'reasons: a peer without a score' }
    if (typeof counts !== 'object' || counts === null || Array.isArray(counts)) return { ok: false, reason: 'reasons: malformed' }
    const entries = Object.entries(counts as Record<string, unknown>)
    if (entries.length > reasonsPerPeerMax) return { ok: false, reason: 'reasons: too many' }
    const map = new Map<string, number>()
    for (const [reason, count] of entries) {
      if (reason.length === 0 || reason.length > 64 || typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) return { ok: false, reason: 'reasons: malformed' }
      map.set(reason, count)
    }
    reasons.set(peer, map)
  }
  return { ok: true, reputation: restored.reputation, reasons }
}

function shortId (peerId: string): string {
  return peerId.length > 12 ? `…${peerId.slice(-8)}` : peerId
}
