/**
 * Byzantine behaviour as decorators over the honest rules (relab/hotstuff `protocol/rules/byzantine/`):
 * a ByzantineReplica runs the real Replica and rewrites what it emits. It holds only its own Crypto,
 * so it can sign as itself and nobody else: a message claiming another sender, or one whose content
 * was changed after signing, does not verify. Colluding Byzantine replicas share what they know about
 * digests (Collusion), so a double voter backs an equivocating primary's second batch.
 */
import { batchDigest, faultsTolerated, primaryOf, signable } from '../../src/core/pbft/types.js'
import type {
  Checkpoint, ClientRequest, Crypto, Digest, Effect, Input, Message, NewView, PreparedCertificate, Prepare, PrePrepare,
  ReplicaId, StateTransfer, ViewChange
} from '../../src/core/pbft/types.js'
import type { SeededRandom } from '../../src/core/random.js'
import type { ReplicaNode, ReplicaStatus } from './node.js'
import type { BehaviourName } from './scenario.js'

/** Bound on what colluders remember (drop policy: oldest first). */
const collusionEntriesMax = 4096
/** Messages a replaying replica keeps to re-send (drop policy: oldest first). */
const replayBufferMax = 256
/** The simulated client whose requests a censoring replica ignores. */
const censoredClient = 'c0'

export class Collusion {
  private readonly digests = new Map<string, Set<Digest>>()

  add (view: number, seq: number, digest: Digest): void {
    const key = `${view}:${seq}`
    let set = this.digests.get(key)
    if (set === undefined) {
      if (this.digests.size >= collusionEntriesMax) {
        const oldest = this.digests.keys().next().value
        if (oldest !== undefined) this.digests.delete(oldest)
      }
      set = new Set()
      this.digests.set(key, set)
    }
    set.add(digest)
  }

  others (view: number, seq: number, digest: Digest): Digest[] {
    return [...(this.digests.get(`${view}:${seq}`) ?? [])].filter(d => d !== digest)
  }
}

export interface ByzantineContext {
  id: ReplicaId
  n: number
  checkpointInterval: number
  crypto: Crypto
  random: SeededRandom
  collusion: Collusion
  /** Counts of what the decorators did, for the run summary and the tests. */
  counters: Map<string, number>
  /** Request ids of the Byzantine replica's own client (per run: runs stay independent). */
  fabricated: { next: number }
}

interface Behaviour {
  transform: (input: Input, effects: Effect[], status: ReplicaStatus) => Effect[]
  /** false: the replica acts as if this input never arrived. */
  accepts?: (input: Input) => boolean
}

export class ByzantineReplica implements ReplicaNode {
  private readonly behaviours: Behaviour[]

  constructor (private readonly inner: ReplicaNode, names: BehaviourName[], context: ByzantineContext) {
    this.behaviours = names.map(name => makeBehaviour(name, context))
  }

  step (input: Input): Effect[] {
    if (this.behaviours.some(b => b.accepts !== undefined && !b.accepts(input))) return []
    let effects = this.inner.step(input)
    const status = this.inner.status()
    for (const behaviour of this.behaviours) effects = behaviour.transform(input, effects, status)
    return effects
  }

  status (): ReplicaStatus {
    return this.inner.status()
  }
}

function makeBehaviour (name: BehaviourName, context: ByzantineContext): Behaviour {
  switch (name) {
    case 'equivocate': return new Equivocate(context)
    case 'double-vote': return new DoubleVote(context)
    case 'fake-primary': return new FakePrimary(context)
    case 'forge-signature': return new ForgeSignature(context)
    case 'forge-certificate': return new ForgeCertificate(context)
    case 'replay': return new Replay(context)
    case 'silent': return { transform: (_input, effects) => effects.filter(e => e.type !== 'send' && e.type !== 'reply') }
    case 'wrong-reply': return { transform: (_input, effects) => effects.map(e => e.type === 'reply' ? { ...e, result: `${e.result}~byzantine` } : e) }
    case 'lying-state': return new LyingState(context)
    case 'hide-prepared': return new HidePrepared(context)
    case 'resubmit-executed': return new ResubmitExecuted(context)
    case 'amnesia': return { transform: (_input, effects) => effects }
    case 'censor': return new Censor(context)
  }
}

// ————————————————————————————————————————— helpers

function count (context: ByzantineContext, what: string): void {
  context.counters.set(what, (context.counters.get(what) ?? 0) + 1)
}

/** Sign as ourselves (a valid signature). */
function sign<M extends Message> (context: ByzantineContext, message: M): M {
  const unsigned = { ...message, from: context.id, signature: '' }
  return { ...unsigned, signature: context.crypto.sign(signable(unsigned)) }
}

/** A message claiming `from` but signed with our key: does not verify unless from is us. */
function signClaiming<M extends Message> (context: ByzantineContext, message: M, from: ReplicaId): M {
  const unsigned = { ...message, from, signature: '' }
  return { ...unsigned, signature: context.crypto.sign(signable(unsigned)) }
}

function others (context: ByzantineContext): ReplicaId[] {
  return Array.from({ length: context.n }, (_, id) => id).filter(id => id !== context.id)
}

function recipients (context: ByzantineContext, to: ReplicaId | 'all'): ReplicaId[] {
  return to === 'all' ? others(context) : [to]
}

function pick<T> (random: SeededRandom, items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[Math.floor(random.next() * items.length)]
}

/** A request from a client the Byzantine replica controls (it cannot sign as a real client). */
function fabricatedRequest (context: ByzantineContext): ClientRequest {
  const requestId = context.fabricated.next++
  return { client: `byzantine-${context.id}`, requestId, operation: `put ${pick(context.random, ['a', 'b', 'c', 'd']) ?? 'a'} evil${requestId}` }
}

/** Send `original` to some recipients and `variant` to those in `groupB`. */
function split (to: ReplicaId | 'all', original: Message, variant: Message, groupB: Set<ReplicaId>, context: ByzantineContext): Effect[] {
  return recipients(context, to).map(r => ({ type: 'send' as const, to: r, message: groupB.has(r) ? variant : original }))
}

// ————————————————————————————————————————— equivocation

class Equivocate implements Behaviour {
  private readonly plans = new Map<string, { variant: PrePrepare, groupB: Set<ReplicaId> }>()
  private readonly newViews = new Map<number, { variant: NewView, groupB: Set<ReplicaId> }>()

  constructor (private readonly context: ByzantineContext) {}

  transform (_input: Input, effects: Effect[]): Effect[] {
    const out: Effect[] = []
    for (const effect of effects) {
      if (effect.type !== 'send' || effect.message.from !== this.context.id) { out.push(effect); continue }
      const m = effect.message
      if (m.type === 'pre-prepare') {
        const plan = this.planFor(m)
        out.push(...split(effect.to, m, plan.variant, plan.groupB, this.context))
      } else if ((m.type === 'prepare' || m.type === 'commit') && this.plans.has(`${m.view}:${m.seq}`)) {
        const plan = this.plans.get(`${m.view}:${m.seq}`) as { variant: PrePrepare, groupB: Set<ReplicaId> }
        const twin = sign(this.context, { ...m, digest: plan.variant.digest })
        out.push(...split(effect.to, m, twin, plan.groupB, this.context))
      } else if (m.type === 'new-view' && m.prePrepares.length > 0) {
        let plan = this.newViews.get(m.view)
        if (plan === undefined) {
          const prePrepares = m.prePrepares.map((pp, i) => i === 0 ? this.planFor(pp).variant : pp)
          plan = { variant: sign(this.context, { ...m, prePrepares }), groupB: this.half() }
          this.newViews.set(m.view, plan)
        }
        out.push(...split(effect.to, m, plan.variant, plan.groupB, this.context))
      } else {
        out.push(effect)
      }
    }
    return out
  }

  private half (): Set<ReplicaId> {
    const all = others(this.context)
    const size = 1 + Math.floor(this.context.random.next() * (all.length - 1))
    return new Set(this.context.random.sample(all, size))
  }

  private planFor (m: PrePrepare): { variant: PrePrepare, groupB: Set<ReplicaId> } {
    const key = `${m.view}:${m.seq}`
    let plan = this.plans.get(key)
    if (plan !== undefined) return plan
    const batch = this.variantBatch(m.batch)
    const variant = sign(this.context, { ...m, batch, digest: batchDigest(this.context.crypto, batch) })
    plan = { variant, groupB: this.half() }
    this.plans.set(key, plan)
    this.context.collusion.add(m.view, m.seq, m.digest)
    this.context.collusion.add(m.view, m.seq, variant.digest)
    count(this.context, 'equivocations')
    return plan
  }

  private variantBatch (batch: ClientRequest[]): ClientRequest[] {
    const random = this.context.random
    const choices = ['fabricate', 'null', ...(batch.length >= 2 ? ['reverse'] : []), ...(batch.length >= 1 ? ['drop-first'] : [])]
    switch (pick(random, choices)) {
      case 'reverse': return [...batch].reverse()
      case 'drop-first': return batch.slice(1)
      case 'null': return batch.length > 0 ? [] : [fabricatedRequest(this.context)]
      default: return [...batch, fabricatedRequest(this.context)]
    }
  }
}

class DoubleVote implements Behaviour {
  constructor (private readonly context: ByzantineContext) {}

  transform (input: Input, effects: Effect[]): Effect[] {
    if (input.type === 'message' && input.message.type === 'pre-prepare') this.context.collusion.add(input.message.view, input.message.seq, input.message.digest)
    const out: Effect[] = []
    for (const effect of effects) {
      if (effect.type !== 'send' || effect.message.from !== this.context.id || (effect.message.type !== 'prepare' && effect.message.type !== 'commit')) {
        out.push(effect)
        continue
      }
      const m = effect.message
      let digests = this.context.collusion.others(m.view, m.seq, m.digest)
      if (digests.length === 0) digests = [this.context.crypto.hash(`double-vote:${m.digest}`)]
      const doubles: Effect[] = digests.map(digest => ({ type: 'send', to: effect.to, message: sign(this.context, { ...m, digest }) }))
      count(this.context, 'double-votes')
      if (this.context.random.next() < 0.5) out.push(effect, ...doubles)
      else out.push(...doubles, effect)
    }
    return out
  }
}

class FakePrimary implements Behaviour {
  private nextAtMs = 0

  constructor (private readonly context: ByzantineContext) {}

  transform (input: Input, effects: Effect[], status: ReplicaStatus): Effect[] {
    if (input.type !== 'tick' || input.nowMs < this.nextAtMs || status.primary === this.context.id) return effects
    this.nextAtMs = input.nowMs + 20 + Math.floor(this.context.random.next() * 40)
    const batch = [fabricatedRequest(this.context)]
    const view = status.view + (this.context.random.next() < 0.2 ? 1 : 0)
    if (primaryOf(view, this.context.n) === this.context.id) return effects
    const seq = Math.max(status.lastExecuted, status.lowWater) + 1 + Math.floor(this.context.random.next() * 3)
    const prePrepare = sign(this.context, { type: 'pre-prepare', view, seq, digest: batchDigest(this.context.crypto, batch), batch, from: this.context.id, signature: '' } satisfies PrePrepare)
    this.context.collusion.add(view, seq, prePrepare.digest)
    count(this.context, 'fake-pre-prepares')
    return [...effects, { type: 'send', to: 'all', message: prePrepare }]
  }
}

// ————————————————————————————————————————— forgery

class ForgeSignature implements Behaviour {
  private readonly received: Message[] = []

  constructor (private readonly context: ByzantineContext) {}

  transform (input: Input, effects: Effect[]): Effect[] {
    if (input.type === 'message' && input.message.from !== this.context.id) {
      this.received.push(input.message)
      if (this.received.length > 32) this.received.shift()
    }
    const out: Effect[] = [...effects]
    for (const effect of effects) {
      if (effect.type !== 'send' || this.context.random.next() >= 0.3) continue
      const m = effect.message
      const mode = Math.floor(this.context.random.next() * 3)
      let forged: Message
      if (mode === 0) {
        forged = { ...m, signature: this.context.crypto.hash(`garbage:${m.signature}`) }
      } else if (mode === 1) {
        const victim = pick(this.context.random, others(this.context)) as ReplicaId
        forged = signClaiming(this.context, m, victim)
      } else {
        const original = pick(this.context.random, this.received)
        if (original === undefined) continue
        forged = tamper(original, this.context)
      }
      count(this.context, 'forged-signatures')
      out.push({ type: 'send', to: effect.to, message: forged })
    }
    return out
  }
}

/** Another replica's message with a field changed and its signature kept: no longer verifies. */
function tamper (m: Message, context: ByzantineContext): Message {
  switch (m.type) {
    case 'pre-prepare': {
      const batch = [...m.batch, fabricatedRequest(context)]
      return { ...m, batch, digest: batchDigest(context.crypto, batch) }
    }
    case 'prepare':
    case 'commit': return { ...m, digest: context.crypto.hash(`tampered:${m.digest}`) }
    case 'checkpoint': return { ...m, stateDigest: context.crypto.hash(`tampered:${m.stateDigest}`) }
    default: return { ...m, signature: m.signature.split('').reverse().join('') }
  }
}

class ForgeCertificate implements Behaviour {
  private readonly checkpointsSeen: Checkpoint[] = []

  constructor (private readonly context: ByzantineContext) {}

  transform (input: Input, effects: Effect[]): Effect[] {
    if (input.type === 'message' && input.message.type === 'checkpoint') {
      this.checkpointsSeen.push(input.message)
      if (this.checkpointsSeen.length > 16) this.checkpointsSeen.shift()
    }
    return effects.map(effect => {
      if (effect.type !== 'send' || effect.message.from !== this.context.id) return effect
      const m = effect.message
      if (m.type === 'view-change') return { ...effect, message: this.forgeViewChange(m) }
      if (m.type === 'new-view') return { ...effect, message: this.forgeNewView(m) }
      return effect
    })
  }

  private forgeViewChange (m: ViewChange): ViewChange {
    const { random, n } = this.context
    const f = faultsTolerated(n)
    const prepared = [...m.prepared]
    const mode = Math.floor(random.next() * 4)
    if (mode === 1 && prepared.length > 0) {
      // a real certificate whose prepares are one voter repeated
      const index = Math.floor(random.next() * prepared.length)
      const certificate = prepared[index] as PreparedCertificate
      const first = certificate.prepares[0]
      if (first !== undefined) prepared[index] = { ...certificate, prepares: Array.from({ length: 2 * f }, () => first) }
      count(this.context, 'forged-certificates:duplicate-voters')
    } else if (mode === 2 && prepared.length > 0) {
      // a real certificate's pre-prepare swapped for another batch (prepares no longer match)
      const index = Math.floor(random.next() * prepared.length)
      const certificate = prepared[index] as PreparedCertificate
      const batch = [fabricatedRequest(this.context)]
      const pp = certificate.prePrepare
      const changed = { ...pp, batch, digest: batchDigest(this.context.crypto, batch) }
      prepared[index] = { ...certificate, prePrepare: pp.from === this.context.id ? sign(this.context, changed) : changed }
      count(this.context, 'forged-certificates:mismatched-prepares')
    } else if (mode === 3) {
      // a stable checkpoint further than the truth, "proven" by one checkpoint repeated or made up
      const seq = m.stableSeq + this.context.checkpointInterval
      const stateDigest = this.context.crypto.hash(`inflated:${seq}`)
      const seen = this.checkpointsSeen.find(c => c.seq > m.stableSeq)
      const proof: Checkpoint[] = seen !== undefined
        ? Array.from({ length: 2 * f + 1 }, () => seen)
        : others(this.context).slice(0, 2 * f + 1).map(from => signClaiming(this.context, { type: 'checkpoint', seq, stateDigest, from, signature: '' } satisfies Checkpoint, from))
      count(this.context, 'forged-certificates:inflated-checkpoint')
      return sign(this.context, { ...m, stableSeq: seen?.seq ?? seq, stableDigest: seen?.stateDigest ?? stateDigest, checkpointProof: proof })
    } else {
      // a made-up prepared certificate just above the stable checkpoint, with forged prepares
      const seq = m.stableSeq + 1 + Math.floor(random.next() * this.context.checkpointInterval)
      const view = Math.max(0, m.view - 1)
      const batch = [fabricatedRequest(this.context)]
      const primary = primaryOf(view, n)
      const pp: PrePrepare = signClaiming(this.context, { type: 'pre-prepare', view, seq, digest: batchDigest(this.context.crypto, batch), batch, from: primary, signature: '' }, primary)
      const voters = others(this.context).filter(id => id !== primary).slice(0, 2 * f)
      const prepares: Prepare[] = voters.map(from => signClaiming(this.context, { type: 'prepare', view, seq, digest: pp.digest, from, signature: '' } satisfies Prepare, from))
      const filtered = prepared.filter(c => c.prePrepare.seq !== seq)
      filtered.push({ prePrepare: pp, prepares })
      filtered.sort((a, b) => a.prePrepare.seq - b.prePrepare.seq)
      count(this.context, 'forged-certificates:made-up')
      return sign(this.context, { ...m, prepared: filtered })
    }
    return sign(this.context, { ...m, prepared })
  }

  private forgeNewView (m: NewView): NewView {
    const random = this.context.random
    const mode = Math.floor(random.next() * 3)
    const viewChanges = [...m.viewChanges]
    if (mode === 0 && viewChanges.length >= 2) {
      viewChanges[viewChanges.length - 1] = viewChanges[0] as ViewChange // quorum by count, not by distinct senders
      count(this.context, 'forged-new-view:duplicate-sender')
    } else if (mode === 1 && viewChanges.length > 0) {
      const index = viewChanges.findIndex(vc => vc.from !== this.context.id)
      const target = viewChanges[Math.max(0, index)] as ViewChange
      viewChanges[Math.max(0, index)] = { ...target, prepared: [] } // someone else's view-change, edited
      count(this.context, 'forged-new-view:edited-view-change')
    } else {
      const batch = [fabricatedRequest(this.context)]
      const prePrepares = m.prePrepares.length > 0
        ? m.prePrepares.map((pp, i) => i === 0 ? sign(this.context, { ...pp, batch, digest: batchDigest(this.context.crypto, batch) }) : pp)
        : [sign(this.context, { type: 'pre-prepare', view: m.view, seq: Math.max(0, ...m.viewChanges.map(vc => vc.stableSeq)) + 1, digest: batchDigest(this.context.crypto, batch), batch, from: this.context.id, signature: '' } satisfies PrePrepare)]
      count(this.context, 'forged-new-view:pre-prepares')
      return sign(this.context, { ...m, prePrepares })
    }
    return sign(this.context, { ...m, viewChanges })
  }
}

// ————————————————————————————————————————— replay, lying state

class Replay implements Behaviour {
  private readonly buffer: Message[] = []

  constructor (private readonly context: ByzantineContext) {}

  transform (input: Input, effects: Effect[]): Effect[] {
    if (input.type === 'message') this.remember(input.message)
    for (const effect of effects) if (effect.type === 'send') this.remember(effect.message)
    if (this.context.random.next() >= 0.15 || this.buffer.length < 8) return effects
    const out = [...effects]
    // favour old messages: the first half of the buffer
    const old = this.buffer.slice(0, Math.ceil(this.buffer.length / 2))
    for (let i = 0; i < 2; i++) {
      const message = pick(this.context.random, old)
      if (message === undefined) break
      const to = this.context.random.next() < 0.5 ? 'all' : pick(this.context.random, others(this.context)) as ReplicaId
      out.push({ type: 'send', to, message })
      count(this.context, 'replays')
    }
    return out
  }

  private remember (message: Message): void {
    this.buffer.push(message)
    if (this.buffer.length > replayBufferMax) this.buffer.splice(0, this.buffer.length - replayBufferMax)
  }
}

class LyingState implements Behaviour {
  private readonly snapshots: string[] = []

  constructor (private readonly context: ByzantineContext) {}

  transform (_input: Input, effects: Effect[]): Effect[] {
    return effects.map(effect => {
      if (effect.type !== 'send' || effect.message.type !== 'state' || effect.message.from !== this.context.id) return effect
      const m: StateTransfer = effect.message
      const older = this.snapshots.find(s => s !== m.snapshot)
      if (!this.snapshots.includes(m.snapshot)) this.snapshots.push(m.snapshot)
      count(this.context, 'lying-states')
      // another (older, well-formed) snapshot under the proven digest, or this one subtly edited
      const snapshot = older ?? m.snapshot.replace(/\d/, d => String((Number(d) + 1) % 10))
      return { ...effect, message: sign(this.context, { ...m, snapshot }) }
    })
  }
}

/** A VIEW-CHANGE that forgets some prepared certificates: validly signed, indistinguishable from lagging. */
class HidePrepared implements Behaviour {
  constructor (private readonly context: ByzantineContext) {}

  transform (_input: Input, effects: Effect[]): Effect[] {
    return effects.map(effect => {
      if (effect.type !== 'send' || effect.message.type !== 'view-change' || effect.message.from !== this.context.id) return effect
      const m = effect.message
      const prepared = this.context.random.next() < 0.5 ? [] : m.prepared.filter(() => this.context.random.next() < 0.5)
      if (prepared.length === m.prepared.length) return effect
      count(this.context, 'hidden-prepared')
      return { ...effect, message: sign(this.context, { ...m, prepared }) }
    })
  }
}

/** Never looks at client c0's requests (direct or forwarded): as primary, it orders everyone's but c0's. */
class Censor implements Behaviour {
  constructor (private readonly context: ByzantineContext) {}

  accepts (input: Input): boolean {
    const request = input.type === 'request' ? input.request : input.type === 'message' && input.message.type === 'forward' ? input.message.request : undefined
    if (request?.client !== censoredClient) return true
    count(this.context, 'censored-requests')
    return false
  }

  transform (_input: Input, effects: Effect[]): Effect[] {
    return effects
  }
}

/** As primary, adds requests that already executed to the batches it proposes (consistently to everyone). */
class ResubmitExecuted implements Behaviour {
  private readonly executed: ClientRequest[] = []
  private readonly rewritten = new Map<string, PrePrepare>()

  constructor (private readonly context: ByzantineContext) {}

  transform (_input: Input, effects: Effect[]): Effect[] {
    for (const effect of effects) {
      if (effect.type !== 'committed') continue
      this.executed.push(...effect.batch)
      if (this.executed.length > 64) this.executed.splice(0, this.executed.length - 64)
    }
    return effects.map(effect => {
      if (effect.type !== 'send' || effect.message.type !== 'pre-prepare' || effect.message.from !== this.context.id) return effect
      const m = effect.message
      const key = `${m.view}:${m.seq}:${m.digest}`
      let rewritten = this.rewritten.get(key)
      if (rewritten === undefined) {
        const old = this.context.random.sample(this.executed, 1 + Math.floor(this.context.random.next() * 2))
          .filter(r => !m.batch.some(b => b.client === r.client && b.requestId === r.requestId))
        if (old.length === 0) return effect
        const batch = [...m.batch, ...old]
        rewritten = sign(this.context, { ...m, batch, digest: batchDigest(this.context.crypto, batch) })
        this.rewritten.set(key, rewritten)
        count(this.context, 'resubmitted-requests')
      }
      return { ...effect, message: rewritten }
    })
  }
}
