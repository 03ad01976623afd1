/**
 * Mesh-wide aggregates by push-sum gossip (Kempe, Dobra & Gehrke, "Gossip-Based Computation of
 * Aggregate Information", FOCS 2003), restarted in epochs so that departures and joins are absorbed
 * (Jelasity, Montresor & Babaoglu, "Gossip-based aggregation in large dynamic networks", TOCS 2005).
 *
 * Pure and deterministic: no clock, no timers, no network. The runtime feeds `step()` with
 * `tick(nowMs)`, `receive(from, message)`, `membership(members)` and `local(values)` inputs and sends
 * the `send` effects it returns. Randomness (the push target) comes from the seeded generator.
 *
 * ## Push-sum, exchanged push-pull
 * Every node holds masses that all move together: a weight `w` (1 at every node at the start of an
 * epoch) and, per attribute, a sum mass. Each round a node keeps half of every mass and sends the other
 * half to one member chosen uniformly at random from the member list it was given (a `request`). In the
 * default push-pull mode the receiver answers in the same exchange with half of its own masses, taken
 * before it adds the request's (a `reply`): with no concurrent exchange both ends then hold the average
 * of the two, which is Jelasity et al.'s push-pull averaging and converges in markedly fewer rounds
 * than push alone (unit tests: median 13 vs 21 rounds to 1 % at n = 24). Mode `push` is Kempe et al.'s.
 *
 * Mass is never created or destroyed while messages are not lost (the invariant the unit tests check),
 * and every ratio `mass / w` converges at every node to (total mass) / (total weight) = the mean.
 * Who commits when: a sender subtracts what it sends when it sends it (the request at the tick, the
 * reply when it answers); the receiver adds it when it arrives. A lost message therefore loses exactly
 * its own masses and nothing else (mass is never duplicated); the loss distorts that epoch only. A
 * request that certainly never left (no stream could be opened, or the target answered that it
 * absorbed nothing) is given back with `undelivered`; one written without a reply is not (the target
 * may have absorbed it: returning it could create mass). Exact conservation across a lost reply is
 * impossible with one round trip (two generals); this choice never over-counts.
 *
 * ## What is estimated, and how
 * - count of members: the standard "one node holds the unit" trick. The root (the smallest PeerId in
 *   the node's member list, itself included) starts the epoch with `rootMass = 1`, everyone else with 0.
 *   `rootMass / w → 1 / n`, so `n = w / rootMass`. Nodes may briefly disagree on who the root is (their
 *   member lists differ): messages carry the sender's root and the smallest root wins; root mass of a
 *   larger root is dropped on contact, so the winning root's unit is conserved and all nodes converge
 *   on it. A node that has not yet received any root mass reports no count.
 * - numeric attributes (load, queue length…): per attribute a value mass (x at a node reporting it,
 *   else 0) and a reporter mass (1 at a node reporting it, else 0). mean = value / reporters (both move
 *   with `w`, so `w` cancels); sum = (value / w) · n; reporters = (reporters / w) · n.
 * - capabilities: per capability an indicator mass (1 at a node that has it); count = (mass / w) · n.
 * - maximum of each numeric attribute: not push-sum but max-gossip: each message carries the sender's
 *   maxima and the receiver keeps the larger; a maximum spreads like a rumour (O(log n) rounds).
 *
 * ## Epochs
 * Time is cut into rounds of `roundMs` and epochs of `epochRounds` rounds; the epoch number is
 * `⌊nowMs / (roundMs · epochRounds)⌋`, so all nodes with roughly synchronised clocks agree on it
 * without coordination. A new epoch restarts every mass from the local values, so a node that left
 * (taking its mass with it) or joined only distorts the epoch in which it happened. A message of an
 * older epoch is dropped; one of a newer epoch makes the node jump to it (restart, then absorb the
 * message), unless it is more than `epochAheadMax` epochs ahead of our own clock (refused: a peer
 * cannot drag the mesh into the far future). The estimate of the last completed epoch is kept, since
 * the current epoch's estimate is rough in its first rounds.
 *
 * ## Error indicator
 * `estimate().change` is the largest relative change of any push-sum estimate between this node's last
 * two rounds (absolute change when the earlier value is 0). It is a convergence indicator, not a proven
 * bound: push-sum estimates move less and less as the masses mix (Kempe et al. Thm 3.1 bound the
 * rounds, not the gap seen by one node), so a small `change` after several rounds means "settled".
 *
 * ## Validation
 * Every received message is checked before it touches state (shape, finite non-negative masses, name
 * lengths, entry counts, duplicate names, epoch window, table capacity); a refused message changes
 * nothing and is counted by reason.
 */
import { SeededRandom } from '../random.js'

/** Limits, each with the reason. */
export const aggregateLimits = {
  /** Distinct numeric attributes a node tracks (its own plus those heard): bounds memory and messages. */
  attributesMax: 32,
  /** Distinct capabilities tracked. */
  capabilitiesMax: 64,
  /** Attribute and capability names: short identifiers, not data. */
  nameLengthMax: 64,
  /** PeerIds are ~52 characters; anything longer is not one. */
  peerIdLengthMax: 128,
  /** Absolute bound on a local numeric value (load figures, queue lengths are far below). */
  localValueAbsMax: 1e9,
  /** Absolute bound on any value mass or maximum in a message: weightMax × localValueAbsMax. */
  massAbsMax: 1e15,
  /** A weight above this would mean a mesh of more than a million nodes: refused as bogus. */
  weightMax: 1e6,
  /** Members we pick targets from (the runtime passes the alive list). */
  membersMax: 10_000
} as const

export interface AggregateConfig {
  self: string
  seed: number
  /** Length of one round: one push per round. */
  roundMs: number
  /** Rounds per epoch (E). Should exceed the rounds needed to converge (≈ 3·log2 n). */
  epochRounds: number
  /** Newer epochs than our own clock's we accept from peers (clock skew allowance). @default 1 */
  epochAheadMax?: number
  /**
   * 'push-pull' (default): the receiver of a round's half answers with half of its own masses, so one
   * exchange averages both ends (Jelasity et al. 2005); 'push': the receiver only absorbs (Kempe et al.).
   */
  mode?: 'push' | 'push-pull'
}

/** The values this node contributes, taken at the start of each epoch. */
export interface LocalValues {
  /** Numeric attributes (finite). */
  numbers: Readonly<Record<string, number>>
  capabilities: readonly string[]
}

/** What one node sends to another: half of its masses, its maxima, its epoch and root. */
export interface AggregateMessage {
  epoch: number
  /** The count root the sender follows (smallest PeerId it knows). */
  root: string
  weight: number
  rootMass: number
  /** [name, value mass, reporter mass] per numeric attribute. */
  numbers: Array<[string, number, number]>
  /** [name, indicator mass] per capability. */
  capabilities: Array<[string, number]>
  /** [name, maximum] per numeric attribute. */
  maxima: Array<[string, number]>
}

export type AggregateInput =
  | { type: 'tick', nowMs: number }
  /**
   * A message from a peer: `request` (default) is a round's half sent by its tick, which in push-pull
   * mode is answered with a `reply` effect; `reply` is the answer to our own request (absorbed only).
   */
  | { type: 'receive', nowMs: number, from: string, message: unknown, kind?: 'request' | 'reply' }
  /**
   * Our own request (a `send` effect of kind `request`) certainly never left this node (the stream to
   * the target could not be opened): its masses come back. Only for that certainty — a request that was
   * written but got no reply may have been absorbed by the target, and returning it would create mass.
   */
  | { type: 'undelivered', message: AggregateMessage }
  /**
   * The members to gossip with (alive ones); self may or may not be in it. `rootCandidates`, when
   * given, are the members the count root is chosen among (default: `members`): the runtime passes
   * those it holds a connection to, so a root that was just killed (its sockets closed at once) is not
   * chosen while membership still calls it alive; without that, a whole epoch would have no root mass.
   */
  | { type: 'membership', members: readonly string[], rootCandidates?: readonly string[] }
  /** New local values, used from the next epoch on (a mid-epoch change would break mass conservation). */
  | { type: 'local', values: LocalValues }

/**
 * A message to send. `request`: this round's half (in push-pull mode the target answers); `reply`: the
 * answer to a peer's request, sent back on the same exchange. Masses in either leave this node when the
 * effect is returned (the sender commits on send): a message lost afterwards loses its masses for the
 * rest of the epoch, which the next epoch's restart repairs.
 */
export interface AggregateEffect { type: 'send', kind: 'request' | 'reply', to: string, message: AggregateMessage }

export type RefusalReason =
  | 'malformed' | 'not-finite' | 'negative' | 'too-large' | 'name-too-long' | 'too-many-entries'
  | 'duplicate-name' | 'old-epoch' | 'epoch-ahead' | 'table-full' | 'from-self'

export interface NumberEstimate {
  mean: number | undefined
  sum: number | undefined
  reporters: number | undefined
  max: number | undefined
}

export interface AggregateEstimate {
  epoch: number
  /** Rounds this node has gossiped in the current epoch. */
  round: number
  count: number | undefined
  numbers: Record<string, NumberEstimate>
  capabilities: Record<string, number | undefined>
  /** Largest relative change of a push-sum estimate over the last round (see the header). */
  change: number | undefined
}

interface Pair { value: number, reporters: number }

/** The masses of one node in one epoch. */
interface Masses {
  weight: number
  rootMass: number
  root: string
  numbers: Map<string, Pair>
  capabilities: Map<string, number>
  maxima: Map<string, number>
}

export class Aggregate {
  private readonly random: SeededRandom
  private readonly epochAheadMax: number
  private members: string[] = []
  private rootCandidates: string[] | undefined
  private local: LocalValues = { numbers: {}, capabilities: [] }
  private epoch = -1
  private round = 0
  /** Absolute round index (⌊now / roundMs⌋) of our last push: one push per round. */
  private lastRoundIndex = -1
  private masses: Masses
  private previous: AggregateEstimate | undefined
  private lastChange: number | undefined
  private completed: AggregateEstimate | undefined
  private readonly refusals = new Map<RefusalReason, number>()

  constructor (readonly config: AggregateConfig) {
    if (!(config.roundMs > 0) || !Number.isInteger(config.epochRounds) || config.epochRounds < 1) {
      throw new Error('roundMs must be positive and epochRounds a positive integer')
    }
    this.random = new SeededRandom(config.seed)
    this.epochAheadMax = config.epochAheadMax ?? 1
    this.masses = this.initialMasses()
  }

  step (input: AggregateInput): AggregateEffect[] {
    switch (input.type) {
      case 'tick': return this.onTick(input.nowMs)
      case 'receive': return this.onReceive(input.nowMs, input.from, input.message, input.kind ?? 'request')
      case 'undelivered':
        // same epoch only: an older epoch's masses no longer count
        if (input.message.epoch === this.epoch) this.absorb(input.message)
        return []
      case 'membership':
        this.members = [...new Set(input.members)].filter(m => m !== this.config.self).slice(0, aggregateLimits.membersMax)
        this.rootCandidates = input.rootCandidates === undefined
          ? undefined
          : [...new Set(input.rootCandidates)].filter(m => m !== this.config.self).slice(0, aggregateLimits.membersMax)
        return []
      case 'local':
        this.local = checkLocal(input.values)
        return []
    }
  }

  /** The epoch a clock reading falls in. */
  epochAt (nowMs: number): number {
    return Math.floor(nowMs / (this.config.roundMs * this.config.epochRounds))
  }

  /** The current epoch's estimate at this node. */
  estimate (): AggregateEstimate {
    const m = this.masses
    const count = m.rootMass > 0 && m.weight > 0 ? m.weight / m.rootMass : undefined
    const numbers: Record<string, NumberEstimate> = {}
    for (const [name, pair] of [...m.numbers].sort(byName)) {
      numbers[name] = {
        mean: pair.reporters > 0 ? pair.value / pair.reporters : undefined,
        sum: count !== undefined && m.weight > 0 ? pair.value / m.weight * count : undefined,
        reporters: count !== undefined && m.weight > 0 ? pair.reporters / m.weight * count : undefined,
        max: m.maxima.get(name)
      }
    }
    const capabilities: Record<string, number | undefined> = {}
    for (const [name, mass] of [...m.capabilities].sort(byName)) {
      capabilities[name] = count !== undefined && m.weight > 0 ? mass / m.weight * count : undefined
    }
    return { epoch: this.epoch, round: this.round, count, numbers, capabilities, change: this.lastChange }
  }

  /** The estimate at the end of the last epoch this node completed (undefined before the first). */
  completedEstimate (): AggregateEstimate | undefined {
    return this.completed
  }

  /** This node's masses, for the conservation tests and debugging. */
  massesSnapshot (): { epoch: number, root: string, weight: number, rootMass: number, numbers: Record<string, Pair>, capabilities: Record<string, number> } {
    const numbers: Record<string, Pair> = {}
    for (const [name, pair] of this.masses.numbers) numbers[name] = { ...pair }
    return { epoch: this.epoch, root: this.masses.root, weight: this.masses.weight, rootMass: this.masses.rootMass, numbers, capabilities: Object.fromEntries(this.masses.capabilities) }
  }

  /** Refused messages by reason. */
  refusalCounts (): Record<string, number> {
    return Object.fromEntries([...this.refusals].sort(byName))
  }

  private rootOfView (): string {
    let root = this.config.self
    for (const member of this.rootCandidates ?? this.members) if (member < root) root = member
    return root
  }

  private initialMasses (): Masses {
    const root = this.rootOfView()
    const numbers = new Map<string, Pair>()
    const maxima = new Map<string, number>()
    for (const [name, value] of Object.entries(this.local.numbers).sort(byName)) {
      numbers.set(name, { value, reporters: 1 })
      maxima.set(name, value)
    }
    const capabilities = new Map<string, number>()
    for (const name of this.local.capabilities) capabilities.set(name, 1)
    return { weight: 1, rootMass: root === this.config.self ? 1 : 0, root, numbers, capabilities, maxima }
  }

  private startEpoch (epoch: number): void {
    if (this.epoch >= 0) this.completed = this.estimate()
    this.epoch = epoch
    this.round = 0
    this.masses = this.initialMasses()
    this.previous = undefined
    this.lastChange = undefined
  }

  private onTick (nowMs: number): AggregateEffect[] {
    const clockEpoch = this.epochAt(nowMs)
    if (clockEpoch > this.epoch) this.startEpoch(clockEpoch)
    const roundIndex = Math.floor(nowMs / this.config.roundMs)
    if (roundIndex <= this.lastRoundIndex) return []
    this.lastRoundIndex = roundIndex
    this.adoptRoot(this.rootOfView())
    const targets = this.members
    if (targets.length === 0) return []
    const to = targets[Math.floor(this.random.next() * targets.length)] as string
    const message = this.halve()
    this.round++
    const current = this.estimate()
    this.lastChange = this.previous === undefined ? undefined : largestChange(this.previous, current)
    this.previous = current
    return [{ type: 'send', kind: 'request', to, message }]
  }

  /** Keep half of every mass, return the other half (with our maxima) as a message. */
  private halve (): AggregateMessage {
    const m = this.masses
    m.weight /= 2
    m.rootMass /= 2
    const numbers: Array<[string, number, number]> = []
    for (const [name, pair] of m.numbers) {
      pair.value /= 2
      pair.reporters /= 2
      numbers.push([name, pair.value, pair.reporters])
    }
    const capabilities: Array<[string, number]> = []
    for (const [name, mass] of m.capabilities) {
      m.capabilities.set(name, mass / 2)
      capabilities.push([name, mass / 2])
    }
    return { epoch: this.epoch, root: m.root, weight: m.weight, rootMass: m.rootMass, numbers, capabilities, maxima: [...m.maxima] }
  }

  /** Follow a smaller root: root mass of the larger one is dropped (that instance is abandoned). */
  private adoptRoot (root: string): void {
    if (root < this.masses.root) {
      this.masses.root = root
      this.masses.rootMass = 0
    }
  }

  private refuse (reason: RefusalReason): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1)
  }

  /**
   * Validate, then absorb. In push-pull mode a request is answered: the reply is half of our masses as
   * they were before the request's half is added (after any epoch jump and root change it causes), so
   * that with no concurrent exchange both ends hold the average of the two afterwards. A refused
   * request gets no reply effect (the runtime answers it with an empty reply).
   */
  private onReceive (nowMs: number, from: string, raw: unknown, kind: 'request' | 'reply'): AggregateEffect[] {
    if (from === this.config.self) { this.refuse('from-self'); return [] }
    const checked = validateMessage(raw)
    if (typeof checked === 'string') { this.refuse(checked); return [] }
    const message = checked
    const clockEpoch = Math.max(this.epoch, this.epochAt(nowMs))
    if (message.epoch < this.epoch) { this.refuse('old-epoch'); return [] }
    if (message.epoch > clockEpoch + this.epochAheadMax) { this.refuse('epoch-ahead'); return [] }
    // Capacity is checked against the epoch we will be in after a jump, before anything changes.
    const base = message.epoch > this.epoch ? this.initialMasses() : this.masses
    const newNumbers = message.numbers.filter(([name]) => !base.numbers.has(name)).length
    const newCapabilities = message.capabilities.filter(([name]) => !base.capabilities.has(name)).length
    const newMaxima = message.maxima.filter(([name]) => !base.numbers.has(name) && !message.numbers.some(([n]) => n === name)).length
    if (base.numbers.size + newNumbers + newMaxima > aggregateLimits.attributesMax ||
        base.capabilities.size + newCapabilities > aggregateLimits.capabilitiesMax) {
      this.refuse('table-full'); return []
    }
    if (message.epoch > this.epoch) this.startEpoch(message.epoch)
    this.adoptRoot(message.root)
    const effects: AggregateEffect[] = []
    if (kind === 'request' && (this.config.mode ?? 'push-pull') === 'push-pull') {
      effects.push({ type: 'send', kind: 'reply', to: from, message: this.halve() })
    }
    this.absorb(message)
    return effects
  }

  /** Add a message's masses to ours (root mass only if it follows our root) and merge its maxima. */
  private absorb (message: AggregateMessage): void {
    const m = this.masses
    m.weight += message.weight
    if (message.root === m.root) m.rootMass += message.rootMass
    for (const [name, value, reporters] of message.numbers) {
      const pair = m.numbers.get(name)
      if (pair === undefined) m.numbers.set(name, { value, reporters })
      else { pair.value += value; pair.reporters += reporters }
    }
    for (const [name, mass] of message.capabilities) m.capabilities.set(name, (m.capabilities.get(name) ?? 0) + mass)
    for (const [name, max] of message.maxima) {
      const mine = m.maxima.get(name)
      if (mine === undefined || max > mine) m.maxima.set(name, max)
      if (!m.numbers.has(name)) m.numbers.set(name, { value: 0, reporters: 0 })
    }
  }
}

function byName<T> (a: [string, T], b: [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0
}

function largestChange (before: AggregateEstimate, after: AggregateEstimate): number | undefined {
  const pairs: Array<[number | undefined, number | undefined]> = [[before.count, after.count]]
  for (const [name, estimate] of Object.entries(after.numbers)) {
    const old = before.numbers[name]
    pairs.push([old?.mean, estimate.mean], [old?.sum, estimate.sum])
  }
  for (const [name, value] of Object.entries(after.capabilities)) pairs.push([before.capabilities[name], value])
  let largest: number | undefined
  for (const [a, b] of pairs) {
    if (a === undefined || b === undefined) continue
    const change = a === 0 ? Math.abs(b) : Math.abs(b - a) / Math.abs(a)
    largest = Math.max(largest ?? 0, change)
  }
  return largest
}

function validName (name: unknown): RefusalReason | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'malformed'
  if (name.length > aggregateLimits.nameLengthMax) return 'name-too-long'
  return undefined
}

function validMass (value: unknown, max: number): RefusalReason | undefined {
  if (typeof value !== 'number') return 'malformed'
  if (!Number.isFinite(value)) return 'not-finite'
  if (value < 0) return 'negative'
  if (value > max) return 'too-large'
  return undefined
}

/** Stateless check of a received message (CometBFT's validateBasic): a reason, or the typed message. */
export function validateMessage (raw: unknown): AggregateMessage | RefusalReason {
  if (typeof raw !== 'object' || raw === null) return 'malformed'
  const r = raw as Record<string, unknown>
  if (typeof r.epoch !== 'number' || !Number.isSafeInteger(r.epoch) || r.epoch < 0) return 'malformed'
  if (typeof r.root !== 'string' || r.root.length === 0) return 'malformed'
  if (r.root.length > aggregateLimits.peerIdLengthMax) return 'name-too-long'
  const scalar = validMass(r.weight, aggregateLimits.weightMax) ?? validMass(r.rootMass, 1)
  if (scalar !== undefined) return scalar
  if (!Array.isArray(r.numbers) || !Array.isArray(r.capabilities) || !Array.isArray(r.maxima)) return 'malformed'
  if (r.numbers.length > aggregateLimits.attributesMax || r.maxima.length > aggregateLimits.attributesMax ||
      r.capabilities.length > aggregateLimits.capabilitiesMax) return 'too-many-entries'
  const numbers: Array<[string, number, number]> = []
  const capabilities: Array<[string, number]> = []
  const maxima: Array<[string, number]> = []
  for (const [list, arity, out, signed] of [
    [r.numbers, 3, numbers, false], [r.capabilities, 2, capabilities, false], [r.maxima, 2, maxima, true]
  ] as const) {
    const seen = new Set<string>()
    for (const entry of list as unknown[]) {
      if (!Array.isArray(entry) || entry.length !== arity) return 'malformed'
      const nameProblem = validName(entry[0])
      if (nameProblem !== undefined) return nameProblem
      const name = entry[0] as string
      if (seen.has(name)) return 'duplicate-name'
      seen.add(name)
      const masses = entry.slice(1) as unknown[]
      for (let i = 0; i < masses.length; i++) {
        const value = masses[i]
        // Maxima and value masses may be negative (a numeric attribute can be); reporter masses cannot.
        const mayBeNegative = signed || (arity === 3 && i === 0)
        const problem = mayBeNegative
          ? validMass(typeof value === 'number' ? Math.abs(value) : value, aggregateLimits.massAbsMax)
          : validMass(value, aggregateLimits.weightMax)
        if (problem !== undefined) return problem
      }
      ;(out as unknown[]).push([name, ...masses])
    }
  }
  return { epoch: r.epoch, root: r.root, weight: r.weight as number, rootMass: r.rootMass as number, numbers, capabilities, maxima }
}

/** Local values are our own configuration: a bad one is a bug, so it throws. */
function checkLocal (values: LocalValues): LocalValues {
  const names = Object.keys(values.numbers)
  if (names.length > aggregateLimits.attributesMax) throw new Error('too many local attributes')
  if (values.capabilities.length > aggregateLimits.capabilitiesMax) throw new Error('too many local capabilities')
  for (const name of [...names, ...values.capabilities]) {
    if (validName(name) !== undefined) throw new Error(`bad attribute name ${JSON.stringify(name)}`)
  }
  for (const value of Object.values(values.numbers)) {
    if (!Number.isFinite(value) || Math.abs(value) > aggregateLimits.localValueAbsMax) throw new Error('local value out of range')
  }
  return { numbers: { ...values.numbers }, capabilities: [...new Set(values.capabilities)] }
}
