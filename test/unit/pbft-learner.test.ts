/**
 * The pBFT learner (observers) driven by hand: f+1 matching vouches per (seq, digest), strict order,
 * validation of decisions, the replica's exactly-once execution, adoption of a 2f+1-proven stable
 * checkpoint, subscriptions and gap detection; then real replicas feeding a learner, and a seeded
 * randomized run with Byzantine validators. Time is passed in as numbers: nothing here waits.
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ClientTable, clientWindow } from '../../src/core/pbft/client-table.js'
import { Learner, learnerWindow } from '../../src/core/pbft/learner.js'
import type { Decision, LearnerConfig, LearnerEffect, LearnerInput } from '../../src/core/pbft/learner.js'
import { Replica } from '../../src/core/pbft/replica.js'
import { batchDigest, canonicalJson, faultsTolerated, quorumSize, signable } from '../../src/core/pbft/types.js'
import type {
  Application, Checkpoint, ClientRequest, Crypto, Digest, DropReason, Effect, Message, ReplicaConfig, StateTransfer
} from '../../src/core/pbft/types.js'

function sha (data: string): string {
  return createHash('sha256').update(data).digest('hex')
}

function cryptoFor (id: number): Crypto {
  return {
    hash: sha,
    sign: data => sha(`secret-${id}|${data}`),
    verify: (from, data, signature) => sha(`secret-${from}|${data}`) === signature
  }
}

/** The observer's crypto: it signs nothing of interest, it verifies anyone's signature. */
const observerCrypto = cryptoFor(-1)

/**
 * An application whose state is the list of everything it applied (with the sequence number), so two
 * states are equal only if the same requests executed in the same order at the same seqs. `counts`
 * (not part of the state) counts every `apply` per (client, requestId).
 */
class LogApp implements Application {
  private applied: string[] = []
  readonly counts = new Map<string, number>()

  apply (request: ClientRequest, seq: number): string {
    const key = `${request.client}#${request.requestId}`
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
    this.applied.push(`${seq} ${key} ${request.operation}`)
    return `r${this.applied.length}`
  }

  entries (): string[] { return [...this.applied] }
  digest (): string { return sha(this.snapshot()) }
  snapshot (): string { return JSON.stringify(this.applied) }
  restore (snapshot: string): void {
    const parsed: unknown = JSON.parse(snapshot)
    if (!Array.isArray(parsed) || !parsed.every(e => typeof e === 'string')) throw new Error('not a LogApp snapshot')
    this.applied = parsed.map(e => String(e))
  }
}

/** What a replica does with a committed log (replica.ts `execute`, `stateDigest`, `snapshot`). */
class Reference {
  readonly app = new LogApp()
  readonly clients = new ClientTable()
  seq = 0

  execute (batch: ClientRequest[]): void {
    this.seq++
    for (const request of batch) {
      if (this.clients.classify(request.client, request.requestId) !== 'new') continue
      this.clients.record(request.client, request.requestId, this.app.apply(request, this.seq), this.seq)
    }
  }

  stateDigest (): Digest {
    return sha(canonicalJson({ app: this.app.digest(), clients: this.clients.snapshot() }))
  }

  snapshot (): string {
    return canonicalJson({ app: this.app.snapshot(), clients: this.clients.snapshot() })
  }
}

function req (client: string, requestId: number, operation = `op ${client} ${requestId}`): ClientRequest {
  return { client, requestId, operation }
}

function decision (from: number, seq: number, batch: ClientRequest[], options: { view?: number, digest?: Digest } = {}): Decision {
  const d: Decision = { type: 'decision', from, seq, view: options.view ?? 0, digest: options.digest ?? batchDigest(observerCrypto, batch), batch, signature: '' }
  d.signature = cryptoFor(from).sign(signable(d as unknown as Message))
  return d
}

/** A CHECKPOINT signed with `signer`'s key (by default the key of `from`). */
function checkpoint (from: number, seq: number, stateDigest: Digest, signer = from): Checkpoint {
  const c: Checkpoint = { type: 'checkpoint', from, seq, stateDigest, signature: '' }
  c.signature = cryptoFor(signer).sign(signable(c))
  return c
}

function stateTransfer (from: number, seq: number, stateDigest: Digest, snapshot: string, proof: Checkpoint[]): StateTransfer {
  const s: StateTransfer = { type: 'state', from, seq, stateDigest, checkpointProof: proof, snapshot, signature: '' }
  s.signature = cryptoFor(from).sign(signable(s))
  return s
}

function proofBy (signers: number[], seq: number, stateDigest: Digest): Checkpoint[] {
  return signers.map(id => checkpoint(id, seq, stateDigest))
}

type Committed = Extract<LearnerEffect, { type: 'committed' }>
type Drop = Extract<LearnerEffect, { type: 'drop' }>

function reasons (effects: LearnerEffect[]): DropReason[] {
  return effects.flatMap(e => (e.type === 'drop' ? [e.reason] : []))
}

function committedSeqs (effects: LearnerEffect[]): number[] {
  return effects.flatMap(e => (e.type === 'committed' ? [e.seq] : []))
}

/** A learner with its application, a clock, and everything it emitted. */
class Observer {
  readonly app = new LogApp()
  readonly learner: Learner
  now = 0
  readonly committed: Committed[] = []
  readonly drops: Drop[] = []
  readonly subscribes: Array<{ atMs: number, fromSeq: number }> = []

  constructor (readonly n = 4, overrides: Partial<LearnerConfig> = {}) {
    this.learner = new Learner({ n, resubscribeMs: 10_000, gapMs: 1_000, ...overrides }, observerCrypto, this.app, 0)
  }

  step (input: LearnerInput): LearnerEffect[] {
    const effects = this.learner.step(input)
    for (const effect of effects) {
      if (effect.type === 'committed') this.committed.push(effect)
      else if (effect.type === 'drop') this.drops.push(effect)
      else this.subscribes.push({ atMs: input.nowMs, fromSeq: effect.fromSeq })
    }
    return effects
  }

  vouch (from: number, seq: number, batch: ClientRequest[], options: { view?: number, digest?: Digest } = {}): LearnerEffect[] {
    return this.deliver(decision(from, seq, batch, options))
  }

  deliver (d: Decision): LearnerEffect[] {
    return this.step({ type: 'decision', decision: d, nowMs: this.now })
  }

  state (s: StateTransfer): LearnerEffect[] {
    return this.step({ type: 'state', state: s, nowMs: this.now })
  }

  tick (atMs: number): LearnerEffect[] {
    this.now = atMs
    return this.step({ type: 'tick', nowMs: atMs })
  }

  get lastExecuted (): number {
    return this.learner.lastExecuted
  }
}

const b1 = [req('c1', 1, 'put a 1'), req('c2', 1, 'put b 1')]
const b2 = [req('c1', 2, 'put a 2')]
const b3 = [req('c2', 2, 'put b 2'), req('c3', 1, 'put c 1')]
const fake = [req('c1', 1, 'put a STOLEN')]

describe('pBFT learner: f+1 validators must vouch', () => {
  it.each([
    [4, 2], [5, 2], [6, 2], [7, 3], [10, 4], [13, 5]
  ])('n=%i: %i distinct validators are needed, one fewer is not enough', (n, needed) => {
    expect(faultsTolerated(n) + 1).toBe(needed)
    const o = new Observer(n)
    for (let from = 0; from < needed - 1; from++) {
      const effects = o.vouch(from, 1, b1)
      expect(effects).toEqual([])
    }
    expect(o.lastExecuted).toBe(0)
    expect(o.app.entries()).toEqual([])
    const effects = o.vouch(n - 1, 1, b1, { view: 3 })
    expect(effects).toEqual([{ type: 'committed', seq: 1, view: 0, digest: batchDigest(observerCrypto, b1), batch: b1 }])
    expect(o.lastExecuted).toBe(1)
    expect(o.app.entries()).toEqual(['1 c1#1 put a 1', '1 c2#1 put b 1'])
  })

  it('one vouch is not enough, whatever the seq', () => {
    const o = new Observer(4)
    o.vouch(2, 1, b1)
    o.vouch(2, 2, b2)
    o.vouch(2, 3, b3)
    expect(o.lastExecuted).toBe(0)
    expect(o.committed).toEqual([])
    expect(o.app.entries()).toEqual([])
  })

  it('the same validator twice counts once (duplicate), a second validator decides', () => {
    const o = new Observer(4)
    expect(o.vouch(1, 1, b1)).toEqual([])
    const again = o.vouch(1, 1, b1, { view: 5 })
    expect(again).toEqual([{ type: 'drop', reason: 'duplicate', from: 1, detail: 'seq 1' }])
    expect(o.vouch(1, 1, b1)).toEqual([{ type: 'drop', reason: 'duplicate', from: 1, detail: 'seq 1' }])
    expect(o.lastExecuted).toBe(0)
    expect(committedSeqs(o.vouch(3, 1, b1))).toEqual([1])
    expect(o.lastExecuted).toBe(1)
  })

  it('n=7: the same validator three times is still one vouch; three distinct ones decide', () => {
    const o = new Observer(7)
    for (let i = 0; i < 3; i++) o.vouch(4, 1, b1)
    o.vouch(5, 1, b1)
    o.vouch(5, 1, b1)
    expect(o.lastExecuted).toBe(0)
    expect(o.drops.map(d => [d.reason, d.from])).toEqual([['duplicate', 4], ['duplicate', 4], ['duplicate', 5]])
    o.vouch(0, 1, b1)
    expect(o.lastExecuted).toBe(1)
  })

  it('a validator vouching a second digest for a seq is dropped as conflicting; only its first vouch counts', () => {
    const o = new Observer(4)
    o.vouch(0, 1, fake)
    const second = o.vouch(0, 1, b1)
    expect(second).toEqual([{ type: 'drop', reason: 'conflicting', from: 0, detail: 'seq 1' }])
    o.vouch(1, 1, b1)
    // b1 has validator 1 only (validator 0's vouch for it did not count): not decided
    expect(o.lastExecuted).toBe(0)
    o.vouch(2, 1, b1)
    expect(o.committed.map(c => [c.seq, c.digest])).toEqual([[1, batchDigest(observerCrypto, b1)]])
    expect(o.app.entries()).toEqual(['1 c1#1 put a 1', '1 c2#1 put b 1'])
  })

  it('the first vouch of a conflicting validator still counts for its first digest', () => {
    const o = new Observer(4)
    o.vouch(0, 1, b1)
    expect(reasons(o.vouch(0, 1, fake))).toEqual(['conflicting'])
    expect(reasons(o.vouch(0, 1, fake))).toEqual(['conflicting'])
    o.vouch(1, 1, fake) // fake: validator 1 only
    expect(o.lastExecuted).toBe(0)
    o.vouch(2, 1, b1) // b1: validators 0 and 2
    expect(o.committed.map(c => c.digest)).toEqual([batchDigest(observerCrypto, b1)])
  })

  it('votes for different digests are tallied apart', () => {
    const o = new Observer(7)
    o.vouch(0, 1, b1)
    o.vouch(1, 1, fake)
    o.vouch(2, 1, b1)
    o.vouch(3, 1, fake)
    expect(o.lastExecuted).toBe(0) // 2 and 2: f+1 = 3 for neither
    o.vouch(4, 1, fake)
    expect(o.committed.map(c => c.batch)).toEqual([fake])
    expect(o.app.entries()).toEqual(['1 c1#1 put a STOLEN'])
  })

  it('an empty batch (null request) is a decision too', () => {
    const o = new Observer(4)
    o.vouch(0, 1, [])
    o.vouch(1, 1, [])
    expect(o.lastExecuted).toBe(1)
    expect(o.committed).toEqual([{ type: 'committed', seq: 1, view: 0, digest: batchDigest(observerCrypto, []), batch: [] }])
    expect(o.app.entries()).toEqual([])
  })

  it('vouches after the decision are stale', () => {
    const o = new Observer(4)
    o.vouch(0, 1, b1)
    o.vouch(1, 1, b1)
    expect(o.vouch(2, 1, b1)).toEqual([{ type: 'drop', reason: 'stale', from: 2, detail: undefined }])
    expect(reasons(o.vouch(3, 1, fake))).toEqual(['stale'])
    expect(reasons(o.vouch(0, 1, b1))).toEqual(['stale'])
    expect(o.app.entries()).toHaveLength(2)
  })
})

describe('pBFT learner: strict order', () => {
  it('seq 2 decided before seq 1 waits; seq 1 then executes both, in order', () => {
    const o = new Observer(4)
    o.vouch(0, 2, b2)
    expect(o.vouch(1, 2, b2)).toEqual([])
    expect(o.lastExecuted).toBe(0)
    expect(o.app.entries()).toEqual([])
    o.vouch(3, 1, b1, { view: 1 })
    const effects = o.vouch(2, 1, b1)
    expect(effects).toEqual([
      { type: 'committed', seq: 1, view: 1, digest: batchDigest(observerCrypto, b1), batch: b1 },
      { type: 'committed', seq: 2, view: 0, digest: batchDigest(observerCrypto, b2), batch: b2 }
    ])
    expect(o.lastExecuted).toBe(2)
    expect(o.app.entries()).toEqual(['1 c1#1 put a 1', '1 c2#1 put b 1', '2 c1#2 put a 2'])
  })

  it('decisions learned in reverse come out in seq order with their batches', () => {
    const o = new Observer(4)
    const log = [b1, b2, b3, [req('c4', 1)], [], [req('c1', 3)]]
    for (let seq = log.length; seq >= 2; seq--) {
      o.vouch(0, seq, log[seq - 1] as ClientRequest[])
      o.vouch(2, seq, log[seq - 1] as ClientRequest[])
    }
    expect(o.committed).toEqual([])
    o.vouch(1, 1, b1)
    expect(o.committed).toEqual([])
    o.vouch(0, 1, b1)
    expect(o.committed.map(c => [c.seq, c.batch])).toEqual(log.map((batch, i) => [i + 1, batch]))
    const ref = new Reference()
    for (const batch of log) ref.execute(batch)
    expect(o.app.entries()).toEqual(ref.app.entries())
  })

  it('a hole stops execution until it is filled; what is beyond it waits', () => {
    const o = new Observer(4)
    o.vouch(0, 1, b1); o.vouch(1, 1, b1)
    o.vouch(0, 3, b3); o.vouch(1, 3, b3)
    expect(o.lastExecuted).toBe(1)
    o.vouch(2, 2, b2) // one vouch for the hole
    expect(o.lastExecuted).toBe(1)
    expect(committedSeqs(o.vouch(3, 2, b2))).toEqual([2, 3])
    expect(o.lastExecuted).toBe(3)
  })
})

describe('pBFT learner: malformed and unwanted decisions', () => {
  it('a batch that does not hash to the digest is dropped and not counted (nor held against its sender)', () => {
    const o = new Observer(4)
    const digest = batchDigest(observerCrypto, b1)
    expect(o.vouch(0, 1, fake, { digest })).toEqual([{ type: 'drop', reason: 'digest-mismatch', from: 0, detail: undefined }])
    o.vouch(1, 1, b1)
    expect(o.lastExecuted).toBe(0) // validator 0's vouch did not count
    expect(reasons(o.vouch(2, 1, b1, { digest: 'f'.repeat(64) }))).toEqual(['digest-mismatch'])
    expect(o.lastExecuted).toBe(0)
    // validator 0 sending the right batch is neither conflicting nor a duplicate
    expect(committedSeqs(o.vouch(0, 1, b1))).toEqual([1])
    expect(o.drops.map(d => d.reason)).toEqual(['digest-mismatch', 'digest-mismatch'])
    expect(o.app.entries()).toEqual(['1 c1#1 put a 1', '1 c2#1 put b 1'])
  })

  it('f+1 mismatching decisions with the same digest decide nothing', () => {
    const o = new Observer(4)
    const digest = batchDigest(observerCrypto, b1)
    for (let from = 0; from < 4; from++) o.vouch(from, 1, fake, { digest })
    expect(o.lastExecuted).toBe(0)
    expect(o.drops.map(d => d.reason)).toEqual(['digest-mismatch', 'digest-mismatch', 'digest-mismatch', 'digest-mismatch'])
  })

  it.each([
    ['negative from', { from: -1 }],
    ['from = n', { from: 4 }],
    ['from beyond n', { from: 99 }],
    ['fractional from', { from: 1.5 }],
    ['NaN from', { from: Number.NaN }],
    ['string from', { from: '1' }],
    ['missing from', { from: undefined }]
  ])('a decision with a bad sender (%s) is dropped as not-validator', (_name, patch) => {
    const o = new Observer(4)
    const d = { ...decision(1, 1, b1), ...patch } as unknown as Decision
    let effects: LearnerEffect[] = []
    expect(() => { effects = o.deliver(d) }).not.toThrow()
    expect(reasons(effects)).toEqual(['not-validator'])
    // and it was not counted: one more vouch is not enough
    o.vouch(2, 1, b1)
    expect(o.lastExecuted).toBe(0)
  })

  it.each([
    ['negative seq', { seq: -1 }],
    ['seq 0', { seq: 0 }],
    ['fractional seq', { seq: 1.5 }],
    ['NaN seq', { seq: Number.NaN }],
    ['infinite seq', { seq: Number.POSITIVE_INFINITY }],
    ['unsafe seq', { seq: 2 ** 60 }],
    ['string seq', { seq: '1' }],
    ['negative view', { view: -1 }],
    ['fractional view', { view: 0.5 }],
    ['missing view', { view: undefined }],
    ['numeric digest', { digest: 7 }],
    ['missing digest', { digest: undefined }],
    ['string batch', { batch: 'put a 1' }],
    ['null batch', { batch: null }],
    ['object batch', { batch: { 0: req('c1', 1) } }],
    ['missing batch', { batch: undefined }]
  ])('a malformed decision (%s) is dropped as invalid, without throwing', (_name, patch) => {
    const o = new Observer(4)
    const d = { ...decision(1, 1, b1), ...patch } as unknown as Decision
    let effects: LearnerEffect[] = []
    expect(() => { effects = o.deliver(d) }).not.toThrow()
    expect(effects).toEqual([{ type: 'drop', reason: 'invalid', from: 1, detail: 'malformed decision' }])
    o.vouch(2, 1, b1)
    expect(o.lastExecuted).toBe(0)
    // validator 1 may still vouch properly afterwards
    o.vouch(1, 1, b1)
    expect(o.lastExecuted).toBe(1)
  })

  it('a decision at or below the last executed seq is stale', () => {
    const o = new Observer(4)
    o.vouch(0, 1, b1); o.vouch(1, 1, b1)
    o.vouch(0, 2, b2); o.vouch(1, 2, b2)
    expect(o.lastExecuted).toBe(2)
    expect(reasons(o.vouch(3, 1, b1))).toEqual(['stale'])
    expect(reasons(o.vouch(3, 2, b2))).toEqual(['stale'])
    expect(reasons(o.vouch(3, 2, fake))).toEqual(['stale'])
    expect(reasons(o.vouch(3, 3, b3))).toEqual([])
  })

  it('a decision more than learnerWindow ahead is outside the watermarks; at the edge it is buffered', () => {
    const o = new Observer(4)
    expect(learnerWindow).toBeGreaterThan(1)
    expect(o.vouch(0, learnerWindow + 1, b3)).toEqual([{ type: 'drop', reason: 'outside-watermarks', from: 0, detail: `seq ${learnerWindow + 1}` }])
    expect(reasons(o.vouch(0, learnerWindow, b3))).toEqual([])
    expect(reasons(o.vouch(1, learnerWindow, b3))).toEqual([])
    // the window moves with execution
    o.vouch(0, 1, b1); o.vouch(1, 1, b1)
    expect(o.lastExecuted).toBe(1)
    expect(reasons(o.vouch(0, learnerWindow + 1, b3))).toEqual([])
    expect(reasons(o.vouch(0, learnerWindow + 2, b3))).toEqual(['outside-watermarks'])
  })

  it('the window-dropped vouch was not recorded: the same validator may vouch once the window reaches it', () => {
    const o = new Observer(4)
    const far = learnerWindow + 1
    o.vouch(0, far, b3) // outside
    o.vouch(0, 1, b1); o.vouch(1, 1, b1)
    expect(reasons(o.vouch(0, far, b3))).toEqual([]) // not a duplicate
    expect(reasons(o.vouch(0, far, b3))).toEqual(['duplicate'])
  })
})

describe('pBFT learner: execution semantics are the replica\'s', () => {
  it('a request in two batches executes once; the batch is still committed whole', () => {
    const o = new Observer(4)
    const first = [req('c1', 1, 'put a 1'), req('c2', 1, 'put b 1')]
    const second = [req('c2', 1, 'put b 1'), req('c1', 2, 'put a 2'), req('c1', 1, 'put a 1')]
    const third = [req('c1', 2, 'put a 2 again'), req('c3', 1, 'put c 1')]
    for (const [seq, batch] of [[1, first], [2, second], [3, third]] as const) { o.vouch(0, seq, batch); o.vouch(1, seq, batch) }
    expect(o.lastExecuted).toBe(3)
    expect(Object.fromEntries(o.app.counts)).toEqual({ 'c1#1': 1, 'c2#1': 1, 'c1#2': 1, 'c3#1': 1 })
    expect(o.app.entries()).toEqual(['1 c1#1 put a 1', '1 c2#1 put b 1', '2 c1#2 put a 2', '3 c3#1 put c 1'])
    expect(o.committed.map(c => c.batch)).toEqual([first, second, third])
  })

  it('a request twice in one batch executes once', () => {
    const o = new Observer(4)
    const batch = [req('c1', 1, 'x'), req('c1', 1, 'x'), req('c1', 2, 'y')]
    o.vouch(0, 1, batch); o.vouch(3, 1, batch)
    expect(Object.fromEntries(o.app.counts)).toEqual({ 'c1#1': 1, 'c1#2': 1 })
  })

  it('ids executed out of order, and ids beyond the client window skipped, exactly like a replica', () => {
    const log = [
      [req('c1', 3), req('c1', 1)],
      [req('c1', 2), req('c1', 3), req('c1', clientWindow + 5)],
      [req('c1', 4), req('c1', clientWindow + 4)],
      [req('c1', 1), req('c1', 5)]
    ]
    const o = new Observer(4)
    const ref = new Reference()
    log.forEach((batch, i) => { o.vouch(1, i + 1, batch); o.vouch(2, i + 1, batch); ref.execute(batch) })
    expect(o.lastExecuted).toBe(4)
    expect(o.app.entries()).toEqual(ref.app.entries())
    expect(o.app.counts.get(`c1#${clientWindow + 5}`)).toBeUndefined() // 'ahead' at seq 2: skipped
    expect(o.app.counts.get(`c1#${clientWindow + 4}`)).toBe(1) // floor 3 at seq 3: inside the window
    expect([...o.app.counts.values()].every(count => count === 1)).toBe(true)
  })
})

describe('pBFT learner: a Byzantine minority', () => {
  it('n=4: a Byzantine validator vouching a forged batch first cannot get it executed', () => {
    const o = new Observer(4)
    o.vouch(3, 1, fake)
    o.vouch(3, 2, fake)
    o.vouch(0, 1, b1)
    o.vouch(1, 2, b2)
    expect(o.lastExecuted).toBe(0)
    o.vouch(2, 1, b1)
    o.vouch(0, 2, b2)
    expect(o.committed.map(c => c.batch)).toEqual([b1, b2])
    expect(o.app.counts.has('c1#1')).toBe(true)
    expect(o.app.entries().some(e => e.includes('STOLEN'))).toBe(false)
  })

  it('n=7: f=2 colluding validators agreeing on a forged batch lose to f+1=3 honest ones', () => {
    const o = new Observer(7)
    for (const byzantine of [5, 6]) {
      for (let seq = 1; seq <= 3; seq++) o.vouch(byzantine, seq, [req('evil', seq, `forged ${seq}`)], { view: 9 })
    }
    expect(o.lastExecuted).toBe(0)
    const log = [b1, b2, b3]
    // the honest vouches arrive in an unfavourable order: two per seq first
    for (let seq = 3; seq >= 1; seq--) { o.vouch(0, seq, log[seq - 1] as ClientRequest[]); o.vouch(1, seq, log[seq - 1] as ClientRequest[]) }
    expect(o.lastExecuted).toBe(0)
    // the Byzantine ones now also vouch for the real batches: conflicting, not counted
    for (const byzantine of [5, 6]) expect(reasons(o.vouch(byzantine, 1, b1))).toEqual(['conflicting'])
    expect(o.lastExecuted).toBe(0)
    for (let seq = 1; seq <= 3; seq++) o.vouch(4, seq, log[seq - 1] as ClientRequest[])
    expect(o.committed.map(c => [c.seq, c.batch, c.view])).toEqual([[1, b1, 0], [2, b2, 0], [3, b3, 0]])
    expect(o.app.counts.has('evil#1')).toBe(false)
  })

  it('n=4: two validators are enough for a forged batch (f+1 > f is the whole assumption)', () => {
    // the bound is tight: the learner trusts f+1, so f+1 Byzantine validators would fool it
    const o = new Observer(4)
    o.vouch(2, 1, fake); o.vouch(3, 1, fake)
    expect(o.committed.map(c => c.batch)).toEqual([fake])
  })
})

/** A log of batches, the reference state after each seq, and 2f+1-proven state transfers. */
function referenceRun (log: ClientRequest[][]): { digests: Digest[], snapshots: string[], ref: Reference } {
  const ref = new Reference()
  const digests: Digest[] = [ref.stateDigest()]
  const snapshots: string[] = [ref.snapshot()]
  for (const batch of log) {
    ref.execute(batch)
    digests.push(ref.stateDigest())
    snapshots.push(ref.snapshot())
  }
  return { digests, snapshots, ref }
}

describe('pBFT learner: adopting a stable checkpoint', () => {
  // seq 1..8, with a request re-ordered in a later batch (the client table matters) and an out-of-order id
  const log: ClientRequest[][] = [
    [req('c1', 1), req('c2', 1)],
    [req('c1', 2)],
    [req('c1', 1), req('c2', 3)],
    [],
    [req('c3', 1), req('c2', 2)],
    [req('c2', 3), req('c1', 3)],
    [req('c4', 1)],
    [req('c1', 4), req('c4', 1)]
  ]
  const after9 = [req('c1', 4), req('c2', 3), req('c1', 5), req('c2', 4), req('c4', 2)]
  const { digests, snapshots } = referenceRun(log)
  const at8 = { digest: digests[8] as Digest, snapshot: snapshots[8] as string }

  function validState (n = 4, signers = [0, 1, 2]): StateTransfer {
    expect(signers.length).toBe(quorumSize(n))
    return stateTransfer(3, 8, at8.digest, at8.snapshot, proofBy(signers, 8, at8.digest))
  }

  it('2f+1 signed CHECKPOINTs over the replica\'s state digest: adopted, then later decisions continue', () => {
    const o = new Observer(4)
    const effects = o.state(validState())
    expect(effects).toEqual([{ type: 'committed', seq: 8, view: -1, digest: at8.digest, batch: [] }])
    expect(o.lastExecuted).toBe(8)
    const ref = new Reference()
    for (const batch of log) ref.execute(batch)
    expect(o.app.snapshot()).toBe(ref.app.snapshot())
    expect(o.app.counts.size).toBe(0) // nothing was executed: it was restored
    // decisions at or below the checkpoint are stale now
    expect(reasons(o.vouch(0, 8, log[7] as ClientRequest[]))).toEqual(['stale'])
    // seq 9 re-contains executed requests: the restored client table skips them
    o.vouch(0, 9, after9); o.vouch(1, 9, after9)
    ref.execute(after9)
    expect(o.lastExecuted).toBe(9)
    expect(o.app.entries()).toEqual(ref.app.entries())
    expect(Object.fromEntries(o.app.counts)).toEqual({ 'c1#5': 1, 'c2#4': 1, 'c4#2': 1 })
  })

  it('n=7: a proof by 5 of the 7 validators is adopted, 4 are not enough', () => {
    const o = new Observer(7)
    const four = stateTransfer(6, 8, at8.digest, at8.snapshot, proofBy([6, 1, 3, 4], 8, at8.digest))
    expect(o.state(four)).toEqual([{ type: 'drop', reason: 'bad-certificate', from: 6, detail: 'state proof' }])
    expect(o.lastExecuted).toBe(0)
    expect(committedSeqs(o.state(validState(7, [6, 1, 3, 4, 0])))).toEqual([8])
    expect(o.lastExecuted).toBe(8)
  })

  it('decisions buffered beyond the checkpoint execute right after it; the ones below are discarded', () => {
    const o = new Observer(4)
    o.vouch(0, 9, after9); o.vouch(2, 9, after9)
    o.vouch(0, 3, log[2] as ClientRequest[]) // one vouch below the checkpoint
    const effects = o.state(validState())
    expect(effects.map(e => (e.type === 'committed' ? [e.seq, e.view] : e.type))).toEqual([[8, -1], [9, 0]])
    expect(o.lastExecuted).toBe(9)
    const ref = new Reference()
    for (const batch of [...log, after9]) ref.execute(batch)
    expect(o.app.entries()).toEqual(ref.app.entries())
  })

  it('a later checkpoint advances a learner that is already executing; an older one is stale', () => {
    const o = new Observer(4)
    for (let seq = 1; seq <= 3; seq++) { o.vouch(0, seq, log[seq - 1] as ClientRequest[]); o.vouch(1, seq, log[seq - 1] as ClientRequest[]) }
    expect(o.lastExecuted).toBe(3)
    const at2 = stateTransfer(1, 2, digests[2] as Digest, snapshots[2] as string, proofBy([0, 1, 2], 2, digests[2] as Digest))
    expect(reasons(o.state(at2))).toEqual(['stale'])
    const at3 = stateTransfer(1, 3, digests[3] as Digest, snapshots[3] as string, proofBy([0, 1, 2], 3, digests[3] as Digest))
    expect(reasons(o.state(at3))).toEqual(['stale'])
    expect(committedSeqs(o.state(validState()))).toEqual([8])
    expect(o.lastExecuted).toBe(8)
    expect(reasons(o.state(validState()))).toEqual(['stale'])
    const ref = new Reference()
    for (const batch of log) ref.execute(batch)
    expect(o.app.snapshot()).toBe(ref.app.snapshot())
  })

  /** A learner that executed seq 1 (so a refused state visibly leaves its state unchanged). */
  function startedObserver (): Observer {
    const o = new Observer(4)
    o.vouch(0, 1, log[0] as ClientRequest[]); o.vouch(1, 1, log[0] as ClientRequest[])
    expect(o.lastExecuted).toBe(1)
    return o
  }

  /** The state is unchanged and the learner goes on exactly as the reference would. */
  function expectUnchangedAndLive (o: Observer): void {
    const ref = new Reference()
    ref.execute(log[0] as ClientRequest[])
    expect(o.lastExecuted).toBe(1)
    expect(o.app.snapshot()).toBe(ref.app.snapshot())
    for (let seq = 2; seq <= 8; seq++) {
      o.vouch(2, seq, log[seq - 1] as ClientRequest[]); o.vouch(3, seq, log[seq - 1] as ClientRequest[])
      ref.execute(log[seq - 1] as ClientRequest[])
    }
    expect(o.lastExecuted).toBe(8)
    expect(o.app.entries()).toEqual(ref.app.entries())
    expect([...o.app.counts.values()].every(count => count === 1)).toBe(true)
  }

  it.each([
    ['only 2f signatures', () => proofBy([0, 1], 8, at8.digest)],
    ['2f+1 checkpoints but one validator twice', () => proofBy([0, 1, 1], 8, at8.digest)],
    ['one validator three times', () => proofBy([2, 2, 2], 8, at8.digest)],
    ['a checkpoint by a non-validator index', () => proofBy([0, 1, 4], 8, at8.digest)],
    ['a negative index', () => proofBy([0, 1, -1], 8, at8.digest)],
    ['a forged signature (validator 2 signed with 3\'s key)', () => [checkpoint(0, 8, at8.digest), checkpoint(1, 8, at8.digest), checkpoint(2, 8, at8.digest, 3)]],
    ['a checkpoint for another seq', () => [...proofBy([0, 1], 8, at8.digest), checkpoint(2, 4, at8.digest)]],
    ['a checkpoint for another digest', () => [...proofBy([0, 1], 8, at8.digest), checkpoint(2, 8, digests[7] as Digest)]],
    ['a non-checkpoint message', () => [...proofBy([0, 1, 2], 8, at8.digest).slice(0, 2), { ...checkpoint(2, 8, at8.digest), type: 'commit' } as unknown as Checkpoint]],
    ['a null entry', () => [...proofBy([0, 1, 2], 8, at8.digest), null] as unknown as Checkpoint[]],
    ['no proof at all', () => [] as Checkpoint[]],
    ['a proof that is not an array', () => ({ 0: checkpoint(0, 8, at8.digest) }) as unknown as Checkpoint[]]
  ])('refused as bad-certificate, state unchanged: %s', (_name, proof) => {
    const o = startedObserver()
    let effects: LearnerEffect[] = []
    expect(() => { effects = o.state(stateTransfer(3, 8, at8.digest, at8.snapshot, proof())) }).not.toThrow()
    expect(effects).toEqual([{ type: 'drop', reason: 'bad-certificate', from: 3, detail: 'state proof' }])
    expectUnchangedAndLive(o)
  })

  it('a tampered snapshot under a valid proof is refused (digest-mismatch), state unchanged', () => {
    const o = startedObserver()
    const parsed = JSON.parse(at8.snapshot) as { app: string, clients: unknown[] }
    const tamperedApp = canonicalJson({ app: JSON.stringify([...(JSON.parse(parsed.app) as string[]), '8 evil#1 steal']), clients: parsed.clients })
    const tamperedClients = canonicalJson({ app: parsed.app, clients: [] })
    const older = snapshots[7] as string
    for (const snapshot of [tamperedApp, tamperedClients, older]) {
      const effects = o.state(stateTransfer(3, 8, at8.digest, snapshot, proofBy([0, 1, 2], 8, at8.digest)))
      expect(effects).toEqual([{ type: 'drop', reason: 'digest-mismatch', from: 3, detail: 'snapshot does not match the proven digest' }])
    }
    expectUnchangedAndLive(o)
  })

  it('a proof over a forged digest signed by f validators only is refused even with a matching snapshot', () => {
    const o = startedObserver()
    const forged = canonicalJson({ app: JSON.stringify(['1 evil#1 steal']), clients: [] })
    const forgedDigest = sha(canonicalJson({ app: sha(JSON.stringify(['1 evil#1 steal'])), clients: [] }))
    expect(reasons(o.state(stateTransfer(3, 8, forgedDigest, forged, proofBy([3], 8, forgedDigest))))).toEqual(['bad-certificate'])
    expect(reasons(o.state(stateTransfer(3, 8, forgedDigest, forged, proofBy([3, 3, 3], 8, forgedDigest))))).toEqual(['bad-certificate'])
    // sanity: the same forged state with 2f+1 signatures would be adopted (the digest is the right formula)
    const control = new Observer(4)
    expect(committedSeqs(control.state(stateTransfer(3, 8, forgedDigest, forged, proofBy([1, 2, 3], 8, forgedDigest))))).toEqual([8])
    expectUnchangedAndLive(o)
  })

  it.each([
    ['not JSON', 'this is not json'],
    ['JSON null', 'null'],
    ['a number', '5'],
    ['app not a string', canonicalJson({ app: 5, clients: [] })],
    ['clients not an array', canonicalJson({ app: '[]', clients: {} })],
    ['an app snapshot the application refuses', canonicalJson({ app: '{"not":"a log"}', clients: [] })],
    ['a client table that cannot be restored (after the app was)', canonicalJson({ app: JSON.stringify(['1 evil#1 steal']), clients: [[1]] })]
  ])('an undecodable snapshot under a valid proof is refused (invalid), state unchanged: %s', (_name, snapshot) => {
    const o = startedObserver()
    let effects: LearnerEffect[] = []
    expect(() => { effects = o.state(stateTransfer(3, 8, at8.digest, snapshot, proofBy([0, 1, 2], 8, at8.digest))) }).not.toThrow()
    expect(effects).toEqual([{ type: 'drop', reason: 'invalid', from: 3, detail: 'undecodable snapshot' }])
    expectUnchangedAndLive(o)
  })

  it('a state at seq 0, or with a malformed seq, is dropped as stale', () => {
    const o = startedObserver()
    for (const seq of [0, -4, 1, 1.5, Number.NaN]) {
      expect(reasons(o.state({ ...validState(), seq }))).toEqual(['stale'])
    }
    expectUnchangedAndLive(o)
  })

  it('after a refused state, the genuine one is still adopted', () => {
    const o = startedObserver()
    o.state(stateTransfer(3, 8, at8.digest, snapshots[7] as string, proofBy([0, 1, 2], 8, at8.digest)))
    o.state(stateTransfer(3, 8, at8.digest, at8.snapshot, proofBy([0, 1], 8, at8.digest)))
    expect(o.lastExecuted).toBe(1)
    expect(committedSeqs(o.state(validState()))).toEqual([8])
    expect(o.app.snapshot()).toBe((JSON.parse(at8.snapshot) as { app: string }).app)
  })
})

describe('pBFT learner: subscriptions', () => {
  it('the first tick subscribes from 0; none again before resubscribeMs; then from the last executed seq', () => {
    const o = new Observer(4, { resubscribeMs: 5_000, gapMs: 1_000 })
    expect(o.tick(0)).toEqual([{ type: 'subscribe', fromSeq: 0 }])
    for (const t of [1, 1_000, 2_500, 4_999]) expect(o.tick(t)).toEqual([])
    o.vouch(0, 1, b1); o.vouch(1, 1, b1)
    o.vouch(0, 2, b2); o.vouch(1, 2, b2)
    expect(o.tick(5_000)).toEqual([{ type: 'subscribe', fromSeq: 2 }])
    expect(o.tick(9_999)).toEqual([])
    expect(o.tick(10_000)).toEqual([{ type: 'subscribe', fromSeq: 2 }])
    expect(o.subscribes).toEqual([{ atMs: 0, fromSeq: 0 }, { atMs: 5_000, fromSeq: 2 }, { atMs: 10_000, fromSeq: 2 }])
  })

  it('the first tick subscribes whatever the start time', () => {
    const o = new Observer(4)
    expect(o.tick(123_456)).toEqual([{ type: 'subscribe', fromSeq: 0 }])
    expect(o.tick(123_457)).toEqual([])
  })

  it('time does not run backwards: an older tick subscribes no earlier', () => {
    const o = new Observer(4, { resubscribeMs: 5_000, gapMs: 1_000 })
    o.tick(10_000)
    expect(o.tick(0)).toEqual([])
    expect(o.tick(14_999)).toEqual([])
    expect(o.tick(15_000)).toEqual([{ type: 'subscribe', fromSeq: 0 }])
  })

  it('time does not run backwards: a gap noticed on an input with an older time starts at the latest time seen', () => {
    const o = new Observer(4, { resubscribeMs: 10_000, gapMs: 1_000 })
    o.tick(10_000)
    o.tick(12_000)
    o.now = 0 // a late input carrying an old timestamp
    o.vouch(0, 2, b2); o.vouch(1, 2, b2) // the gap starts at 12 000, not at 0
    expect(o.tick(12_500)).toEqual([])
    expect(o.tick(12_999)).toEqual([])
    expect(o.tick(13_000)).toEqual([{ type: 'subscribe', fromSeq: 0 }])
  })

  it('a gap (later decisions buffered, the next one missing for gapMs) subscribes early from the last executed seq', () => {
    const o = new Observer(4, { resubscribeMs: 10_000, gapMs: 1_000 })
    o.tick(0)
    o.now = 100
    o.vouch(0, 1, b1); o.vouch(1, 1, b1)
    o.now = 200
    o.vouch(0, 3, b3); o.vouch(1, 3, b3) // seq 2 missing since 200
    expect(o.lastExecuted).toBe(1)
    expect(o.tick(1_000)).toEqual([])
    expect(o.tick(1_199)).toEqual([])
    expect(o.tick(1_200)).toEqual([{ type: 'subscribe', fromSeq: 1 }])
    // more later decisions keep arriving: the gap is still dated from when seq 2 went missing
    o.now = 1_300
    o.vouch(0, 4, [req('c9', 1)]); o.vouch(1, 4, [req('c9', 1)])
    o.now = 1_400
    o.vouch(2, 3, b3)
    // still missing: ask again only after another gapMs
    expect(o.tick(1_500)).toEqual([])
    expect(o.tick(2_199)).toEqual([])
    expect(o.tick(2_200)).toEqual([{ type: 'subscribe', fromSeq: 1 }])
    // the hole is filled: no more early subscriptions, only the periodic renewal
    o.now = 2_300
    o.vouch(2, 2, b2); o.vouch(3, 2, b2)
    expect(o.lastExecuted).toBe(4)
    for (const t of [3_300, 5_000, 9_000, 12_199]) expect(o.tick(t)).toEqual([])
    expect(o.tick(12_200)).toEqual([{ type: 'subscribe', fromSeq: 4 }])
  })

  it('the gap is dated from when it began, not from the latest decision beyond it', () => {
    const o = new Observer(4, { resubscribeMs: 10_000, gapMs: 1_000 })
    o.tick(0)
    o.now = 100
    o.vouch(0, 2, b2); o.vouch(1, 2, b2)
    for (let seq = 3; seq <= 5; seq++) {
      o.now = 100 + (seq - 2) * 300 // 400, 700, 1 000: later decisions keep coming
      o.vouch(0, seq, [req('c9', seq)]); o.vouch(1, seq, [req('c9', seq)])
    }
    expect(o.lastExecuted).toBe(0)
    expect(o.tick(1_099)).toEqual([])
    expect(o.tick(1_100)).toEqual([{ type: 'subscribe', fromSeq: 0 }])
  })

  it('votes below an adopted checkpoint are discarded: they leave no gap behind', () => {
    const log: ClientRequest[][] = [b1, b2, b3, [req('c4', 1)]]
    const { digests, snapshots } = referenceRun(log)
    const o = new Observer(4, { resubscribeMs: 10_000, gapMs: 1_000 })
    o.tick(0)
    o.vouch(3, 2, b2) // one vouch, below the checkpoint to come (never decided by decisions)
    o.vouch(0, 4, [req('c4', 1)]) // one vouch, below too
    o.now = 100
    expect(committedSeqs(o.state(stateTransfer(1, 4, digests[4] as Digest, snapshots[4] as string, proofBy([0, 1, 2], 4, digests[4] as Digest))))).toEqual([4])
    expect(o.lastExecuted).toBe(4)
    for (const t of [1_000, 1_100, 2_000, 5_000, 9_999]) expect(o.tick(t)).toEqual([])
    expect(o.tick(10_000)).toEqual([{ type: 'subscribe', fromSeq: 4 }])
  })

  it('a hole filled within gapMs causes no early subscription', () => {
    const o = new Observer(4, { resubscribeMs: 10_000, gapMs: 1_000 })
    o.tick(0)
    o.now = 100
    o.vouch(0, 2, b2); o.vouch(1, 2, b2)
    o.now = 1_050
    o.vouch(0, 1, b1); o.vouch(1, 1, b1)
    expect(o.lastExecuted).toBe(2)
    for (const t of [1_100, 2_000, 5_000, 9_999]) expect(o.tick(t)).toEqual([])
    expect(o.subscribes).toHaveLength(1)
  })

  it('a gap right after a subscription waits gapMs from that subscription', () => {
    const o = new Observer(4, { resubscribeMs: 10_000, gapMs: 1_000 })
    o.vouch(0, 2, b2); o.vouch(1, 2, b2) // gap since 0
    o.now = 5_000
    expect(o.tick(5_000)).toEqual([{ type: 'subscribe', fromSeq: 0 }]) // the first subscription
    expect(o.tick(5_999)).toEqual([])
    expect(o.tick(6_000)).toEqual([{ type: 'subscribe', fromSeq: 0 }])
  })

  it('an adopted checkpoint that fills the hole ends the gap', () => {
    const log: ClientRequest[][] = [b1, b2, b3]
    const { digests, snapshots } = referenceRun(log)
    const o = new Observer(4, { resubscribeMs: 10_000, gapMs: 1_000 })
    o.tick(0)
    o.vouch(0, 3, b3); o.vouch(1, 3, b3)
    o.now = 500
    const effects = o.state(stateTransfer(2, 2, digests[2] as Digest, snapshots[2] as string, proofBy([1, 2, 3], 2, digests[2] as Digest)))
    expect(committedSeqs(effects)).toEqual([2, 3])
    for (const t of [1_000, 2_000, 9_999]) expect(o.tick(t)).toEqual([])
    expect(o.tick(10_000)).toEqual([{ type: 'subscribe', fromSeq: 3 }])
  })
})

// ————————————————————————————————————— real replicas feeding a learner

describe('pBFT learner: fed by real replicas', () => {
  it('the replicas\' committed decisions give the replicas\' state; a replica\'s stable checkpoint is adopted and continued', () => {
    const n = 4
    function config (id: number): ReplicaConfig {
      return { id, n, checkpointInterval: 4, batchSizeMax: 3, batchDelayMs: 0, viewChangeTimeoutMs: 1000, retransmitMs: 400, pipelineMax: 1 }
    }
    const apps = Array.from({ length: n }, () => new LogApp())
    const replicas = apps.map((app, i) => new Replica(config(i), cryptoFor(i), app, 0))
    const queue: Array<{ to: number, message: Message }> = []
    const decisions: Decision[] = []
    function perform (from: number, effects: Effect[]): void {
      for (const effect of effects) {
        if (effect.type === 'send') {
          const targets = effect.to === 'all' ? [...Array(n).keys()].filter(i => i !== from) : [effect.to]
          for (const to of targets) queue.push({ to, message: structuredClone(effect.message) })
        } else if (effect.type === 'committed') {
          decisions.push(decision(from, effect.seq, effect.batch, { view: effect.view, digest: effect.digest }))
        }
      }
    }
    function drain (): void {
      for (let guard = 0; queue.length > 0 && guard < 100_000; guard++) {
        const { to, message } = queue.shift() as { to: number, message: Message }
        perform(to, (replicas[to] as Replica).step({ type: 'message', message, nowMs: 0 }))
      }
    }
    for (let round = 0; round < 5; round++) {
      for (let c = 1; c <= 4; c++) perform(0, (replicas[0] as Replica).step({ type: 'request', request: req(`c${c}`, round + 1, `put k${c} ${round}`), nowMs: 0 }))
      drain()
    }
    const last = (replicas[0] as Replica).status().lastExecuted
    expect(last).toBeGreaterThanOrEqual(8)
    for (const replica of replicas) expect(replica.status().lastExecuted).toBe(last)
    expect(new Set(apps.map(app => app.snapshot())).size).toBe(1)

    // one learner hears every decision of every replica, newest first
    const all = new Observer(n)
    for (const d of [...decisions].reverse()) all.deliver(d)
    expect(all.lastExecuted).toBe(last)
    expect(all.app.snapshot()).toBe(apps[0]?.snapshot())
    expect(all.committed.map(c => c.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1))
    expect(all.drops.every(d => d.reason === 'duplicate' || d.reason === 'stale')).toBe(true)

    // another adopts a replica's stable checkpoint (proof and snapshot built by the replicas), then continues
    const stable = (replicas[1] as Replica).stableCheckpoint()
    expect(stable).not.toBeNull()
    const { seq, stateDigest, proof, snapshot } = stable as NonNullable<typeof stable>
    expect(seq).toBeGreaterThanOrEqual(4)
    const late = new Observer(n)
    expect(late.state(stateTransfer(1, seq, stateDigest, snapshot, proof))).toEqual([{ type: 'committed', seq, view: -1, digest: stateDigest, batch: [] }])
    for (let s = seq + 1; s <= last; s++) {
      for (const from of [2, 3]) {
        const committed = (replicas[from] as Replica).committedAt(s)
        expect(committed).toBeDefined()
        const { view, digest, batch } = committed as NonNullable<typeof committed>
        late.deliver(decision(from, s, batch, { view, digest }))
      }
    }
    expect(late.lastExecuted).toBe(last)
    expect(late.app.snapshot()).toBe(apps[0]?.snapshot())
  })
})

// ————————————————————————————————————— randomized: Byzantine validators, any order, duplicates

function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

class Rng {
  private readonly next: () => number
  constructor (seed: number) { this.next = mulberry32(seed) }
  /** Integer in [lo, hi]. */
  int (lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)) }
  chance (p: number): boolean { return this.next() < p }
  pick<T> (xs: readonly T[]): T { return xs[this.int(0, xs.length - 1)] as T }
  shuffle<T> (xs: readonly T[]): T[] {
    const out = [...xs]
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i)
      const tmp = out[i] as T
      out[i] = out[j] as T
      out[j] = tmp
    }
    return out
  }
}

/** A random committed log: next ids, repeats of executed ids, ids out of order, a few beyond the client window. */
function randomLog (rng: Rng, length: number): ClientRequest[][] {
  const clients = ['c0', 'c1', 'c2', 'c3']
  const nextId = new Map(clients.map(c => [c, 1]))
  const log: ClientRequest[][] = []
  for (let seq = 1; seq <= length; seq++) {
    const batch: ClientRequest[] = []
    const size = rng.int(0, 4)
    for (let j = 0; j < size; j++) {
      const client = rng.pick(clients)
      const next = nextId.get(client) as number
      const roll = rng.int(0, 99)
      let id: number
      if (roll < 60 || next === 1) { id = next; nextId.set(client, next + 1) } else if (roll < 80) id = rng.int(1, next - 1) // a repeat
      else if (roll < 95) { id = next + rng.int(1, 4); nextId.set(client, id + 1) } // skips ids (out of order)
      else id = next + clientWindow + rng.int(1, 10) // beyond the client window
      batch.push(req(client, id, `op${seq}.${j}`))
    }
    log.push(batch)
  }
  return log
}

type Delivery = { type: 'decision', decision: Decision } | { type: 'state', state: StateTransfer } | { type: 'tick' }

/** What a seed exercised (so the randomized test can check it covers what it claims). */
interface SeedStats { stateJumps: number, onlyByState: boolean, drops: Set<DropReason>, waited: boolean }

function runSeed (seed: number): SeedStats {
  const rng = new Rng(seed)
  const n = rng.pick([4, 5, 7, 10])
  const f = faultsTolerated(n)
  const validators = rng.shuffle([...Array(n).keys()])
  const byzantine = validators.slice(0, f)
  const honest = validators.slice(f)
  const length = rng.int(1, 24)
  const log = randomLog(rng, length)
  const { digests, snapshots, ref } = referenceRun(log)
  const deliveries: Delivery[] = []
  function batchAt (seq: number): ClientRequest[] { return log[seq - 1] as ClientRequest[] }

  // honest state transfers (2f+1 checkpoints of any validators), sometimes the only way past a prefix
  const stateSeq = rng.chance(0.5) ? rng.int(1, length) : 0
  const onlyByState = stateSeq > 0 && rng.chance(0.5)
  if (stateSeq > 0) {
    const signers = rng.shuffle(validators).slice(0, quorumSize(n))
    const copies = rng.int(1, 2)
    for (let i = 0; i < copies; i++) {
      deliveries.push({ type: 'state', state: stateTransfer(rng.pick(honest), stateSeq, digests[stateSeq] as Digest, snapshots[stateSeq] as string, proofBy(signers, stateSeq, digests[stateSeq] as Digest)) })
    }
    if (rng.chance(0.3)) {
      const other = rng.int(1, length)
      deliveries.push({ type: 'state', state: stateTransfer(rng.pick(honest), other, digests[other] as Digest, snapshots[other] as string, proofBy(signers, other, digests[other] as Digest)) })
    }
  }

  // honest decisions: at least f+1 honest validators per seq (none for the prefix only the state covers)
  for (let seq = 1; seq <= length; seq++) {
    if (onlyByState && seq <= stateSeq) continue
    const senders = rng.shuffle(honest).slice(0, rng.int(f + 1, honest.length))
    for (const from of senders) {
      const copies = rng.int(1, 3)
      const view = rng.int(0, 3)
      for (let i = 0; i < copies; i++) deliveries.push({ type: 'decision', decision: decision(from, seq, batchAt(seq), { view }) })
    }
  }

  // Byzantine validators: colluding forgeries (consistent digests), mismatches, malformed, far and stale seqs,
  // the real batch, bad states
  const forged = Array.from({ length: length + 4 }, (_, i) => [req('evil', i + 1, `forged ${seed} ${i}`)])
  for (const from of byzantine) {
    for (let seq = 1; seq <= length + 3; seq++) {
      const count = rng.int(0, 3)
      for (let i = 0; i < count; i++) {
        const kind = rng.int(0, 7)
        const real = seq <= length ? batchAt(seq) : []
        let d: Decision
        if (kind === 0 || kind === 1) d = decision(from, seq, forged[seq - 1] as ClientRequest[], { view: rng.int(0, 9) })
        else if (kind === 2) d = decision(from, seq, forged[seq - 1] as ClientRequest[], { digest: batchDigest(observerCrypto, real) })
        else if (kind === 3) d = decision(from, seq, real, { digest: sha(`random ${seed} ${seq} ${i}`) })
        else if (kind === 4) d = decision(from, seq, real)
        else if (kind === 5) d = { ...decision(from, seq, real), ...rng.pick([{ seq: -seq }, { batch: null }, { view: -1 }, { digest: null }, { from: n + from }]) } as unknown as Decision
        else if (kind === 6) d = decision(from, seq + learnerWindow + rng.int(1, 100), real)
        else d = decision(from, rng.int(0, 1), [req('evil', 0, 'stale')])
        deliveries.push({ type: 'decision', decision: d })
      }
    }
    if (length >= 1 && rng.chance(0.5)) {
      const k = rng.int(1, length)
      const forgedSnapshot = canonicalJson({ app: JSON.stringify([`${k} evil#1 steal`]), clients: [] })
      const forgedDigest = sha(canonicalJson({ app: sha(JSON.stringify([`${k} evil#1 steal`])), clients: [] }))
      // f signatures (and repeats) over a forged state; a replayed genuine proof with a wrong snapshot
      deliveries.push({ type: 'state', state: stateTransfer(from, k, forgedDigest, forgedSnapshot, proofBy([...byzantine, ...byzantine], k, forgedDigest)) })
      deliveries.push({ type: 'state', state: stateTransfer(from, k, digests[k] as Digest, rng.pick([forgedSnapshot, snapshots[k - 1] as string, 'garbage']), proofBy(rng.shuffle(validators).slice(0, quorumSize(n)), k, digests[k] as Digest)) })
    }
  }
  for (let i = rng.int(0, 20); i > 0; i--) deliveries.push({ type: 'tick' })

  const o = new Observer(n, { resubscribeMs: 500, gapMs: 200 })
  /** Some step executed several seqs at once: decided seqs had waited for an earlier one. */
  let waited = false
  for (const delivery of rng.shuffle(deliveries)) {
    o.now += rng.int(0, 60)
    if (delivery.type === 'decision') waited = committedSeqs(o.deliver(delivery.decision)).length > 1 || waited
    else if (delivery.type === 'state') waited = committedSeqs(o.state(delivery.state)).length > 1 || waited
    else {
      const before = o.subscribes.length
      o.tick(o.now)
      for (const s of o.subscribes.slice(before)) expect(s.fromSeq).toBe(o.lastExecuted)
    }
  }

  const context = `seed ${seed} (n=${n}, byzantine ${byzantine.join(',')}, length ${length}, state ${stateSeq}${onlyByState ? ' only' : ''})`
  expect(o.lastExecuted, context).toBe(length)
  expect(o.app.snapshot(), context).toBe(ref.app.snapshot())
  // exactly once: no request applied twice (not even across a state adoption)
  expect([...o.app.counts.values()].every(c => c === 1), context).toBe(true)
  // committed effects: strictly increasing, consecutive except state jumps; real digests and batches only
  let previous = 0
  for (const c of o.committed) {
    if (c.view === -1) {
      expect(c.seq, context).toBeGreaterThan(previous)
      expect(c.digest, context).toBe(digests[c.seq])
      expect(c.batch, context).toEqual([])
    } else {
      expect(c.seq, context).toBe(previous + 1)
      expect(c.digest, context).toBe(batchDigest(observerCrypto, batchAt(c.seq)))
      expect(c.batch, context).toEqual(batchAt(c.seq))
    }
    previous = c.seq
  }
  expect(previous, context).toBe(length)
  // an honest validator is never dropped for anything but repetition or lateness
  for (const d of o.drops) {
    if (d.from != null && honest.includes(d.from)) expect(['duplicate', 'stale'], context).toContain(d.reason)
  }
  // the client table came along: a probe batch repeating every request of the log executes what a replica would
  const probe = [...log.flat(), req('c0', 1, 'probe'), req('fresh', 1, 'probe')]
  for (const from of honest.slice(0, f + 1)) o.vouch(from, length + 1, probe)
  ref.execute(probe)
  expect(o.lastExecuted, context).toBe(length + 1)
  expect(o.app.snapshot(), context).toBe(ref.app.snapshot())
  expect([...o.app.counts.values()].every(c => c === 1), context).toBe(true)
  return {
    stateJumps: o.committed.filter(c => c.view === -1).length,
    onlyByState,
    drops: new Set(o.drops.map(d => d.reason)),
    waited
  }
}

describe('pBFT learner: randomized', () => {
  it('200 seeds: any order, duplicates, f Byzantine validators; the learner ends in the state of the log applied in order', () => {
    const stats = Array.from({ length: 200 }, (_, i) => runSeed(i + 1))
    // the seeds cover what the test claims: state adoption (also as the only way past a prefix),
    // decisions waiting for earlier ones, and every kind of refusal
    expect(stats.filter(s => s.stateJumps > 0).length).toBeGreaterThanOrEqual(40)
    expect(stats.filter(s => s.onlyByState).length).toBeGreaterThanOrEqual(20)
    expect(stats.filter(s => s.waited).length).toBeGreaterThanOrEqual(100)
    const seen = new Set(stats.flatMap(s => [...s.drops]))
    for (const reason of ['duplicate', 'conflicting', 'digest-mismatch', 'stale', 'invalid', 'not-validator', 'outside-watermarks', 'bad-certificate'] as const) {
      expect(seen, reason).toContain(reason)
    }
  })
})
