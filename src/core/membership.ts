/**
 * Membership and failure detection as a pure, deterministic state machine.
 *
 * No libp2p, no timers, no clock, no I/O: the runtime feeds it inputs (ticks with the current time,
 * verified state records, verdicts, probe answers) through `step()` and performs the effects it
 * returns (send probe requests, announce verdicts, publish a refutation). Same inputs and seed ⇒ same
 * outputs, so tests drive it with a fake clock.
 *
 * States: alive → suspect → failed, and left on graceful leave.
 * - A member silent (no newer state record) for `failureTimeoutMs` becomes suspect. The node then asks
 *   up to `helpersMax` (3) other alive members to probe it directly, and probes it itself.
 * - It is declared failed when a majority of the asked helpers report it unreachable, provided at least
 *   `helpersMinForMajority` (2) were asked. With fewer helpers to ask, or when helpers do not answer (they
 *   may be down or on the other side of a partition), it is declared failed once it has been silent for
 *   `confirmTimeoutMs` (default 2 × failure timeout) and nobody has vouched for it.
 * - Any sign of life brings it back to alive: a newer state record (same incarnation, higher sequence),
 *   a new incarnation, or a helper (or our own direct probe) reaching it.
 * - A failure verdict from another node is accepted unless we have seen life newer than what the
 *   reporter had seen (verdict sequence < our sequence for that incarnation).
 * - A member announcing `leaving` becomes left, never failed. A new incarnation revives it.
 * - An alive member can also be suspected on request (`suspect` input: an operator, the MCP tool
 *   daa_fault_tolerance); from there it goes exactly as a silent member does.
 * - Failed and left members are forgotten after `forgetAfterMs`.
 */
import { SeededRandom } from './random.js'
import { reputationTier } from './gossip/reputation-policy.js'

export type MemberState = 'alive' | 'suspect' | 'failed' | 'left'

export interface MembershipConfig {
  /** Our own PeerId: never suspected, always alive in our own table. */
  self: string
  selfIncarnation: number
  failureTimeoutMs: number
  /** How long one round of indirect probes may take before a new round with fresh helpers. */
  probeRoundMs: number
  /** Silence after which a suspect is declared failed without a helper majority. */
  confirmTimeoutMs: number
  /** Forget failed/left members after this long (they stop counting towards the partition signal). */
  forgetAfterMs: number
  helpersMax: number
  helpersMinForMajority: number
  seed: number
  /**
   * [reputation] A score per member (the runtime's reputation, src/runtime/gossip/reputation.ts):
   * indirect probes go to members of the best score tier first (`reputationTier`, tiers of 20 points),
   * drawn at random (seeded) within a tier. Absent: every member is an equal, as before.
   */
  helperScore?: (peerId: string) => number
}

export const membershipDefaults = {
  helpersMax: 3,
  helpersMinForMajority: 2,
  forgetAfterMs: 60 * 60 * 1000
} as const

export function membershipConfig (init: Pick<MembershipConfig, 'self' | 'selfIncarnation' | 'failureTimeoutMs' | 'seed'> & Partial<MembershipConfig>): MembershipConfig {
  return {
    probeRoundMs: Math.max(1000, Math.floor(init.failureTimeoutMs / 2)),
    confirmTimeoutMs: init.failureTimeoutMs * 2,
    forgetAfterMs: membershipDefaults.forgetAfterMs,
    helpersMax: membershipDefaults.helpersMax,
    helpersMinForMajority: membershipDefaults.helpersMinForMajority,
    ...init
  }
}

export interface Member {
  peerId: string
  state: MemberState
  incarnation: number
  sequence: number
  /** Local time of the last sign of life. */
  lastHeardMs: number
  /** Local time the current state was entered. */
  stateSinceMs: number
}

interface Suspicion {
  round: number
  roundDeadlineMs: number
  asked: Set<string>
  unreachable: Set<string>
}

export type Input =
  /**
   * `slowdown` (≥ 1, default 1) stretches the failure and confirm timeouts while this node itself is
   * overloaded (the runtime derives it from event-loop lag), as Lifeguard's local health multiplier
   * does in HashiCorp memberlist: a starved node hears everyone late and must not accuse them.
   */
  | { type: 'tick', nowMs: number, slowdown?: number }
  /** A verified state record (from gossip or a sync table). */
  | { type: 'record', nowMs: number, peerId: string, incarnation: number, sequence: number, leaving: boolean }
  /** A verified failure verdict from another node. */
  | { type: 'verdict', nowMs: number, subject: string, incarnation: number, sequence: number, reporter: string }
  /** The answer of a helper (or of our own direct probe when helper === self). */
  | { type: 'probe-answer', nowMs: number, target: string, helper: string, reachable: boolean }
  /**
   * Suspect an alive member now, as if it had gone silent (an operator's or an agent's doubt, e.g. the
   * MCP tool daa_fault_tolerance). The normal path follows: own and indirect probes, failure only on a
   * helper majority or the confirm timeout, and any sign of life brings it back to alive.
   */
  | { type: 'suspect', nowMs: number, peerId: string }

export type ChangeReason =
  | 'joined' | 'record' | 'new-incarnation' | 'leave' | 'silent' | 'probe-answer'
  | 'helpers-confirmed' | 'confirm-timeout' | 'verdict' | 'forgotten' | 'operator'

export type Effect =
  | { type: 'change', peerId: string, from: MemberState | 'unknown', to: MemberState | 'forgotten', reason: ChangeReason, detail?: string }
  /** Ask `helper` to probe `target`; helper === self means "probe it directly yourself". */
  | { type: 'probe', helper: string, target: string, round: number }
  /** We confirmed this failure ourselves: sign and gossip a verdict. */
  | { type: 'announce-failure', subject: string, incarnation: number, sequence: number }
  /** Someone declared us failed: publish a fresh record at once so everyone sees we live. */
  | { type: 'refute', reporter: string }

export interface StepResult {
  effects: Effect[]
  /**
   * For `record` inputs: whether the record was newer than what we had (and so was applied); for
   * `suspect` inputs: whether an alive member became suspect.
   */
  applied: boolean
}

export interface MembershipSummary {
  /** Members we know and that have not left, ourselves included. */
  known: number
  /** Alive members, ourselves included. */
  reachable: number
  partitioned: boolean
  counts: Record<MemberState, number>
}

export class Membership {
  private readonly members = new Map<string, Member>()
  private readonly suspicions = new Map<string, Suspicion>()
  private readonly random: SeededRandom
  private slowdown = 1

  constructor (readonly config: MembershipConfig, nowMs: number) {
    if (config.failureTimeoutMs <= 0) throw new Error('failureTimeoutMs must be positive')
    this.random = new SeededRandom(config.seed)
    this.members.set(config.self, {
      peerId: config.self,
      state: 'alive',
      incarnation: config.selfIncarnation,
      sequence: 0,
      lastHeardMs: nowMs,
      stateSinceMs: nowMs
    })
  }

  step (input: Input): StepResult {
    const effects: Effect[] = []
    let applied = false
    switch (input.type) {
      case 'tick':
        this.slowdown = Math.min(8, Math.max(1, input.slowdown ?? 1))
        this.onTick(input.nowMs, effects)
        break
      case 'record': applied = this.onRecord(input, effects); break
      case 'verdict': this.onVerdict(input, effects); break
      case 'probe-answer': this.onProbeAnswer(input, effects); break
      case 'suspect': applied = this.onSuspect(input, effects); break
    }
    return { effects, applied }
  }

  member (peerId: string): Readonly<Member> | undefined {
    return this.members.get(peerId)
  }

  list (): Array<Readonly<Member>> {
    return [...this.members.values()]
  }

  /** The current timeout stretch (1 when this node is healthy). */
  currentSlowdown (): number {
    return this.slowdown
  }

  /** The current round of probes of a suspect member (helpers asked, those that could not reach it). */
  suspicion (peerId: string): { round: number, asked: string[], unreachable: string[] } | undefined {
    const suspicion = this.suspicions.get(peerId)
    if (suspicion == null) return undefined
    return { round: suspicion.round, asked: [...suspicion.asked].sort(), unreachable: [...suspicion.unreachable].sort() }
  }

  /** True when `peerId` is being probed and `helper` was asked in the current round. */
  isAsked (target: string, helper: string): boolean {
    return this.suspicions.get(target)?.asked.has(helper) ?? false
  }

  summary (): MembershipSummary {
    const counts: Record<MemberState, number> = { alive: 0, suspect: 0, failed: 0, left: 0 }
    for (const m of this.members.values()) counts[m.state]++
    const known = counts.alive + counts.suspect + counts.failed
    const reachable = counts.alive
    // "fewer than half of the known non-left members are reachable"
    return { known, reachable, partitioned: reachable * 2 < known, counts }
  }

  private transition (m: Member, to: MemberState, nowMs: number, reason: ChangeReason, effects: Effect[], detail?: string): void {
    if (m.state === to) return
    const from = m.state
    m.state = to
    m.stateSinceMs = nowMs
    if (to !== 'suspect') this.suspicions.delete(m.peerId)
    effects.push(detail == null ? { type: 'change', peerId: m.peerId, from, to, reason } : { type: 'change', peerId: m.peerId, from, to, reason, detail })
  }

  private onRecord (input: Extract<Input, { type: 'record' }>, effects: Effect[]): boolean {
    if (input.peerId === this.config.self) {
      // Our own record echoed back (sync tables include it). A higher incarnation than ours would
      // mean a second process on our key; the runtime guards the data dir against that.
      return false
    }
    const m = this.members.get(input.peerId)
    if (m == null) {
      const fresh: Member = {
        peerId: input.peerId,
        state: input.leaving ? 'left' : 'alive',
        incarnation: input.incarnation,
        sequence: input.sequence,
        lastHeardMs: input.nowMs,
        stateSinceMs: input.nowMs
      }
      this.members.set(input.peerId, fresh)
      effects.push({ type: 'change', peerId: input.peerId, from: 'unknown', to: fresh.state, reason: input.leaving ? 'leave' : 'joined' })
      return true
    }
    const newIncarnation = input.incarnation > m.incarnation
    const newer = newIncarnation || (input.incarnation === m.incarnation && input.sequence > m.sequence)
    if (!newer) return false
    // Leaving is final for its incarnation: only a new incarnation revives a left member. Otherwise a
    // stray later record would make it alive, then suspect, then failed, although it left gracefully.
    if (m.state === 'left' && !newIncarnation && !input.leaving) return false
    m.incarnation = input.incarnation
    m.sequence = input.sequence
    m.lastHeardMs = input.nowMs
    if (input.leaving) {
      this.transition(m, 'left', input.nowMs, 'leave', effects)
    } else if (m.state !== 'alive') {
      this.transition(m, 'alive', input.nowMs, newIncarnation ? 'new-incarnation' : 'record', effects)
    }
    return true
  }

  private onVerdict (input: Extract<Input, { type: 'verdict' }>, effects: Effect[]): void {
    if (input.subject === this.config.self) {
      effects.push({ type: 'refute', reporter: input.reporter })
      return
    }
    const m = this.members.get(input.subject)
    if (m == null) return
    if (m.state === 'failed' || m.state === 'left') return
    if (input.incarnation < m.incarnation) return
    // We have seen life newer than the reporter had: its verdict is about an older moment.
    if (input.incarnation === m.incarnation && input.sequence < m.sequence) return
    m.incarnation = input.incarnation
    m.sequence = input.sequence
    this.transition(m, 'failed', input.nowMs, 'verdict', effects, input.reporter)
  }

  private onSuspect (input: Extract<Input, { type: 'suspect' }>, effects: Effect[]): boolean {
    const m = this.members.get(input.peerId)
    // only an alive member can become suspect: ourselves never, a suspect is already being probed,
    // failed and left members have nothing left to doubt
    if (m == null || input.peerId === this.config.self || m.state !== 'alive') return false
    this.transition(m, 'suspect', input.nowMs, 'operator', effects)
    this.startRound(m, input.nowMs, 1, effects)
    return true
  }

  private onProbeAnswer (input: Extract<Input, { type: 'probe-answer' }>, effects: Effect[]): void {
    const m = this.members.get(input.target)
    const suspicion = this.suspicions.get(input.target)
    if (m == null || m.state !== 'suspect' || suspicion == null) return
    const isSelf = input.helper === this.config.self
    if (!isSelf && !suspicion.asked.has(input.helper)) return
    if (input.reachable) {
      m.lastHeardMs = input.nowMs
      this.transition(m, 'alive', input.nowMs, 'probe-answer', effects, input.helper)
      return
    }
    if (isSelf) return // our own failed probe is what made us suspicious; it is no confirmation
    suspicion.unreachable.add(input.helper)
    const asked = suspicion.asked.size
    if (asked >= this.config.helpersMinForMajority && suspicion.unreachable.size * 2 > asked) {
      this.declareFailed(m, input.nowMs, 'helpers-confirmed', effects, `${suspicion.unreachable.size}/${asked} helpers`)
    }
  }

  private declareFailed (m: Member, nowMs: number, reason: ChangeReason, effects: Effect[], detail: string): void {
    this.transition(m, 'failed', nowMs, reason, effects, detail)
    effects.push({ type: 'announce-failure', subject: m.peerId, incarnation: m.incarnation, sequence: m.sequence })
  }

  private startRound (m: Member, nowMs: number, round: number, effects: Effect[]): void {
    const candidates = [...this.members.values()]
      .filter(other => other.state === 'alive' && other.peerId !== this.config.self && other.peerId !== m.peerId)
      .map(other => other.peerId)
      .sort()
    const helpers = this.pickHelpers(candidates)
    this.suspicions.set(m.peerId, {
      round,
      roundDeadlineMs: nowMs + this.config.probeRoundMs,
      asked: new Set(helpers),
      unreachable: new Set()
    })
    effects.push({ type: 'probe', helper: this.config.self, target: m.peerId, round })
    for (const helper of helpers) effects.push({ type: 'probe', helper, target: m.peerId, round })
  }

  /**
   * Up to `helpersMax` helpers: best reputation tier first, a seeded random draw within each tier.
   * With one tier (no scores, or all alike) this is exactly one `sample` of all candidates.
   */
  private pickHelpers (candidates: string[]): string[] {
    const score = this.config.helperScore
    if (score === undefined) return this.random.sample(candidates, this.config.helpersMax)
    const byTier = new Map<number, string[]>()
    for (const peer of candidates) {
      const tier = reputationTier(score(peer))
      const list = byTier.get(tier)
      if (list === undefined) byTier.set(tier, [peer])
      else list.push(peer)
    }
    const helpers: string[] = []
    for (const tier of [...byTier.keys()].sort((a, b) => b - a)) {
      if (helpers.length >= this.config.helpersMax) break
      helpers.push(...this.random.sample(byTier.get(tier) as string[], this.config.helpersMax - helpers.length))
    }
    return helpers
  }

  private onTick (nowMs: number, effects: Effect[]): void {
    // Sorted iteration keeps the order of effects (and of random draws) independent of map history.
    const ids = [...this.members.keys()].sort()
    for (const id of ids) {
      const m = this.members.get(id)
      if (m == null || id === this.config.self) continue
      const silentMs = nowMs - m.lastHeardMs
      if (m.state === 'alive' && silentMs > this.config.failureTimeoutMs * this.slowdown) {
        this.transition(m, 'suspect', nowMs, 'silent', effects, `${silentMs} ms`)
        this.startRound(m, nowMs, 1, effects)
      } else if (m.state === 'suspect') {
        const suspicion = this.suspicions.get(id)
        if (silentMs >= this.config.confirmTimeoutMs * this.slowdown) {
          this.declareFailed(m, nowMs, 'confirm-timeout', effects, `${silentMs} ms`)
        } else if (suspicion == null || nowMs >= suspicion.roundDeadlineMs) {
          this.startRound(m, nowMs, (suspicion?.round ?? 0) + 1, effects)
        }
      } else if ((m.state === 'failed' || m.state === 'left') && nowMs - m.stateSinceMs >= this.config.forgetAfterMs) {
        this.members.delete(id)
        this.suspicions.delete(id)
        effects.push({ type: 'change', peerId: id, from: m.state, to: 'forgotten', reason: 'forgotten' })
      }
    }
  }
}
