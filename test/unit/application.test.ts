/**
 * The replicated application: the memory store, proposals and votes, every deterministic rejection,
 * and determinism itself (same operations ⇒ same results, snapshots and digests; snapshot → restore
 * → same digest).
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MeshApplication, SnapshotError, validateOperation } from '../../src/core/app/application.js'
import {
  bundleOpsMax, keyBytesMax, keysPerNamespaceMax, keysTotalMax, memoryFrameBytesMax, operationDepthMax, operationLengthMax,
  proposalLifetimeSeqs, proposalsDecidedKeptMax, proposalsOpenMax, proposalsOpenPerProposerMax, valueBytesMax
} from '../../src/core/app/limits.js'
import { stateFrameBytes, utf8Bytes } from '../../src/core/app/operation.js'
import type { ClientRequest } from '../../src/core/pbft/types.js'

const sha = (text: string): string => createHash('sha256').update(text).digest('hex')
const validators4 = ['ValidatorA', 'ValidatorB', 'ValidatorC', 'ValidatorD']
const validators7 = [...validators4, 'ValidatorE', 'ValidatorF', 'ValidatorG']

let requestId = 0
const request = (client: string, operation: unknown): ClientRequest =>
  ({ client, requestId: ++requestId, operation: typeof operation === 'string' ? operation : JSON.stringify(operation) })

/** A test driver: one operation per sequence number unless told otherwise. */
class Driver {
  seq = 0
  readonly app: MeshApplication
  constructor (validators = validators4) { this.app = new MeshApplication(validators, sha) }
  /** Apply at the next seq (or at `seq`); returns the parsed result. */
  run (operation: unknown, client = 'client1', seq?: number): Record<string, any> {
    this.seq = seq ?? this.seq + 1
    const result = this.app.apply(request(client, operation), this.seq)
    return JSON.parse(result) as Record<string, any>
  }

  put (namespace: string, key: string, value: string, client = 'client1'): Record<string, any> {
    return this.run({ op: 'put', namespace, key, value }, client)
  }
}

function expectRejected (result: Record<string, any>, pattern: RegExp | string): void {
  expect(result.ok).toBe(false)
  expect(result.error).toMatch(pattern)
}

describe('memory store', () => {
  it('put/get/overwrite/delete carry the seq of the last write; lastApplied follows', () => {
    const d = new Driver()
    expect(d.put('ns', 'a', '1')).toEqual({ ok: true, seq: 1, created: true })
    expect(d.app.get('ns', 'a')).toEqual({ value: '1', seq: 1 })
    expect(d.put('ns', 'a', '2')).toEqual({ ok: true, seq: 2, created: false })
    expect(d.app.get('ns', 'a')).toEqual({ value: '2', seq: 2 })
    expect(d.app.lastApplied).toBe(2)
    expect(d.run({ op: 'delete', namespace: 'ns', key: 'a' })).toEqual({ ok: true, seq: 3, deleted: true })
    expect(d.app.get('ns', 'a')).toBeUndefined()
    expect(d.run({ op: 'delete', namespace: 'ns', key: 'a' })).toEqual({ ok: true, seq: 4, deleted: false })
    expect(d.app.namespaces()).toEqual([]) // an emptied namespace disappears
    expect(d.run({ op: 'noop' })).toEqual({ ok: true, seq: 5 })
    expect(d.app.lastApplied).toBe(5)
    expect(d.app.stats()).toMatchObject({ keys: 0, namespaces: 0, memoryFrameBytes: 0 })
  })

  it('namespaces are separate', () => {
    const d = new Driver()
    d.put('one', 'k', 'x')
    d.put('two', 'k', 'y')
    expect(d.app.get('one', 'k')?.value).toBe('x')
    expect(d.app.get('two', 'k')?.value).toBe('y')
    expect(d.app.get('three', 'k')).toBeUndefined()
    expect(d.app.namespaces()).toEqual([{ namespace: 'one', keys: 1 }, { namespace: 'two', keys: 1 }])
  })

  it('list: sorted by key (code units), prefix, limit, startAfter, each with its seq', () => {
    const d = new Driver()
    for (const key of ['b/2', 'a/1', 'b/1', 'B', 'b/10', 'c']) d.put('ns', key, `v-${key}`)
    expect(d.app.list('ns').map(e => e.key)).toEqual(['B', 'a/1', 'b/1', 'b/10', 'b/2', 'c'])
    expect(d.app.list('ns', 'b/')).toEqual([
      { key: 'b/1', value: 'v-b/1', seq: 3 },
      { key: 'b/10', value: 'v-b/10', seq: 5 },
      { key: 'b/2', value: 'v-b/2', seq: 1 }
    ])
    expect(d.app.list('ns', 'b/', 2).map(e => e.key)).toEqual(['b/1', 'b/10'])
    expect(d.app.list('ns', 'b/', 2, 'b/10').map(e => e.key)).toEqual(['b/2'])
    expect(d.app.list('ns', 'zzz')).toEqual([])
    expect(d.app.list('nothing')).toEqual([])
    expect(() => d.app.list('ns', '', -1)).toThrow(RangeError)
  })

  it('ids of operations within one seq: the position among the operations applied in it', () => {
    const d = new Driver()
    expect(d.run({ op: 'noop' }, 'c', 7)).toEqual({ ok: true, seq: 7 })
    expect(d.run({ op: 'propose', proposal: 'x' }, 'c', 7).id).toBe('p-7-1')
    expect(d.run({ op: 'bogus' }, 'c', 7).ok).toBe(false) // rejected operations count too
    expect(d.run({ op: 'propose', proposal: 'y' }, 'c', 7).id).toBe('p-7-3')
    expect(d.run({ op: 'propose', proposal: 'z' }, 'c', 8).id).toBe('p-8-0')
    expect(() => d.app.apply(request('c', { op: 'noop' }), 6)).toThrow(/backwards/)
  })
})

describe('memory store limits', () => {
  it('value ≤ 64 KiB in UTF-8 bytes', () => {
    const d = new Driver()
    expect(d.put('ns', 'k', 'a'.repeat(valueBytesMax)).ok).toBe(true)
    expectRejected(d.put('ns', 'k', 'a'.repeat(valueBytesMax + 1)), /value longer than 65536 UTF-8 bytes/)
    const twoByte = 'é'.repeat(valueBytesMax / 2 + 1) // fewer characters than the limit, more bytes
    expect(twoByte.length).toBeLessThan(valueBytesMax)
    expectRejected(d.put('ns', 'k', twoByte), /value longer/)
    expect(d.put('ns', 'k', '😀'.repeat(valueBytesMax / 4)).ok).toBe(true)
    expectRejected(d.put('ns', 'k', 'x\ud800y'), /well-formed/)
    expectRejected(d.run({ op: 'put', namespace: 'ns', key: 'k', value: 1 }), /value must be a string/)
  })

  it('key: non-empty, ≤ 256 UTF-8 bytes, well-formed', () => {
    const d = new Driver()
    expect(d.put('ns', 'k'.repeat(keyBytesMax), 'v').ok).toBe(true)
    expectRejected(d.put('ns', 'k'.repeat(keyBytesMax + 1), 'v'), /key longer than 256/)
    expectRejected(d.put('ns', 'ж'.repeat(keyBytesMax / 2 + 1), 'v'), /key longer/)
    expectRejected(d.put('ns', '', 'v'), /key must not be empty/)
    expectRejected(d.put('ns', '\udc00', 'v'), /well-formed/)
    expectRejected(d.run({ op: 'delete', namespace: 'ns', key: 5 }), /key must be a string/)
  })

  it('namespace: 1-64 characters of [a-zA-Z0-9_.:-]', () => {
    const d = new Driver()
    expect(d.put('agent:planner_1.v-2', 'k', 'v').ok).toBe(true)
    expect(d.put('n'.repeat(64), 'k', 'v').ok).toBe(true)
    expectRejected(d.put('n'.repeat(65), 'k', 'v'), /namespace must be 1-64/)
    expectRejected(d.put('', 'k', 'v'), /namespace/)
    expectRejected(d.put('a b', 'k', 'v'), /namespace/)
    expectRejected(d.put('a/b', 'k', 'v'), /namespace/)
    expectRejected(d.run({ op: 'put', namespace: null, key: 'k', value: 'v' }), /namespace must be a string/)
  })

  it('keys per namespace and in total are bounded; overwrites and deletes still work when full', () => {
    const d = new Driver()
    const key = (i: number): string => i.toString(36)
    for (let i = 0; i < keysPerNamespaceMax; i++) {
      const result = d.app.apply(request('c', { op: 'put', namespace: 'a', key: key(i), value: '' }), ++d.seq)
      if (i % 10_000 === 0) expect(JSON.parse(result).ok).toBe(true)
    }
    expectRejected(d.put('a', 'one-more', ''), `namespace full (${keysPerNamespaceMax} keys)`)
    expect(d.put('a', key(5), 'overwrite').ok).toBe(true)
    const rest = keysTotalMax - keysPerNamespaceMax
    for (let i = 0; i < rest; i++) d.app.apply(request('c', { op: 'put', namespace: 'b', key: key(i), value: '' }), ++d.seq)
    expect(d.app.stats().keys).toBe(keysTotalMax)
    expectRejected(d.put('c', 'k', ''), `store full (${keysTotalMax} keys)`)
    expect(d.run({ op: 'delete', namespace: 'b', key: key(0) }).deleted).toBe(true)
    expect(d.put('c', 'k', '').ok).toBe(true)
  })

  it('the store is bounded by its size in a STATE frame (escaped values cost more)', () => {
    const d = new Driver()
    expect(stateFrameBytes('a"\\\n\u0001é')).toBe(1 + 8 + 8 + 5 + 9 + 2)
    expect(utf8Bytes('a😀é')).toBe(1 + 4 + 2)
    const quotes = '"'.repeat(8 * 1024) // 8 KiB of UTF-8, 64 KiB in the frame
    let i = 0
    let result: Record<string, any>
    do result = d.put('ns', `k${i++}`, quotes); while (result.ok === true)
    expectRejected(result, `store full (${memoryFrameBytesMax} bytes)`)
    expect(i).toBeLessThanOrEqual(memoryFrameBytesMax / (64 * 1024) + 1)
    expect(d.app.stats().memoryFrameBytes).toBeLessThanOrEqual(memoryFrameBytesMax)
    // a smaller value still fits where a larger one did not
    expect(d.put('ns', 'k0', 'small').ok).toBe(true)
  })
})

describe('validateOperation and rejections', () => {
  it('accepts the documented operations', () => {
    expect(validateOperation('{"op":"put","namespace":"ns","key":"k","value":"v"}')).toEqual({ ok: true, op: { op: 'put', namespace: 'ns', key: 'k', value: 'v' } })
    expect(validateOperation('{"op":"delete","namespace":"ns","key":"k"}')).toEqual({ ok: true, op: { op: 'delete', namespace: 'ns', key: 'k' } })
    expect(validateOperation('{"op":"propose","proposal":{"b":1,"a":[true,null]}}'))
      .toEqual({ ok: true, op: { op: 'propose', proposal: '{"a":[true,null],"b":1}', thresholdScaled: 6700 } })
    expect(validateOperation('{"op":"propose","proposal":"x","threshold":0.5}')).toMatchObject({ ok: true, op: { thresholdScaled: 5000 } })
    expect(validateOperation('{"op":"vote","id":"p-3-0","decision":"reject"}')).toEqual({ ok: true, op: { op: 'vote', id: 'p-3-0', decision: 'reject' } })
    expect(validateOperation('{"op":"noop"}')).toEqual({ ok: true, op: { op: 'noop' } })
  })

  const cases: Array<[string, unknown, RegExp]> = [
    ['not JSON', '{op', /not valid JSON/],
    ['not an object', '[1]', /must be a JSON object/],
    ['a string', '"put"', /must be a JSON object/],
    ['missing op', {}, /missing field "op"/],
    ['op not a string', { op: 1 }, /op must be a string/],
    ['unknown op', { op: 'drop' }, /unknown op "drop"/],
    ['unknown field', { op: 'noop', extra: 1 }, /unknown field "extra"/],
    ['__proto__ field', '{"op":"noop","__proto__":{"x":1}}', /unknown field "__proto__"/],
    ['missing value', { op: 'put', namespace: 'ns', key: 'k' }, /missing field "value"/],
    ['missing proposal', { op: 'propose' }, /missing field "proposal"/],
    ['threshold 0', { op: 'propose', proposal: 1, threshold: 0 }, /threshold must be in \(0, 1\]/],
    ['threshold > 1', { op: 'propose', proposal: 1, threshold: 1.5 }, /threshold must be in/],
    ['threshold text', { op: 'propose', proposal: 1, threshold: '0.5' }, /threshold must be a number/],
    ['threshold precision', { op: 'propose', proposal: 1, threshold: 0.12345 }, /at most 4 decimal places/],
    ['proposal too large', { op: 'propose', proposal: 'x'.repeat(9000) }, /proposal larger than 8192/],
    ['vote id', { op: 'vote', id: 'p-0-0', decision: 'approve' }, /proposal id/],
    ['vote id type', { op: 'vote', id: 3, decision: 'approve' }, /proposal id/],
    ['decision', { op: 'vote', id: 'p-1-0', decision: 'yes' }, /decision must be/],
    ['too deep', `{"op":"propose","proposal":${'['.repeat(operationDepthMax)}${']'.repeat(operationDepthMax)}}`, /nested deeper than 32/],
    ['too long', 'x'.repeat(operationLengthMax + 1), /operation longer than/]
  ]
  for (const [name, operation, pattern] of cases) {
    it(`rejects: ${name} (in validateOperation and, identically, in apply)`, () => {
      const text = typeof operation === 'string' ? operation : JSON.stringify(operation)
      const check = validateOperation(text)
      expect(check.ok).toBe(false)
      if (!check.ok) expect(check.error).toMatch(pattern)
      const a = new Driver()
      const before = a.app.digest()
      const result = a.run(text)
      expectRejected(result, pattern)
      expect(result).toEqual({ ok: false, error: check.ok ? '' : check.error })
      expect(a.app.digest()).not.toBe(before) // lastApplied moved: the rejection is part of history
      expect(a.app.stats()).toMatchObject({ keys: 0, proposalsOpen: 0 })
    })
  }

  it('rejects non-text operations and bad client ids without throwing', () => {
    expect(validateOperation(42)).toEqual({ ok: false, error: 'operation must be JSON text' })
    const d = new Driver()
    expectRejected(d.run({ op: 'noop' }, ''), /invalid client id/)
    expectRejected(d.run({ op: 'noop' }, 'bad\ud800'), /invalid client id/)
  })
})

describe('proposals and votes', () => {
  function propose (d: Driver, threshold?: number, proposer = 'ValidatorA'): string {
    const result = d.run(threshold == null ? { op: 'propose', proposal: { assign: 'task-1' } } : { op: 'propose', proposal: { assign: 'task-1' }, threshold }, proposer)
    expect(result.ok).toBe(true)
    return result.id as string
  }
  const vote = (d: Driver, id: string, voter: string, decision: 'approve' | 'reject'): Record<string, any> =>
    d.run({ op: 'vote', id, decision }, voter)

  it('4 validators, threshold 0.67: approved at the 3rd approval', () => {
    const d = new Driver(validators4)
    const id = propose(d)
    expect(id).toBe('p-1-0')
    expect(d.app.proposal(id)).toMatchObject({ status: 'open', requiredApprovals: 3, threshold: 0.67, proposer: 'ValidatorA', proposal: { assign: 'task-1' } })
    expect(vote(d, id, 'ValidatorA', 'approve')).toEqual({ ok: true, seq: 2, id, status: 'open', approvals: 1, rejections: 0 })
    expect(vote(d, id, 'ValidatorB', 'reject').status).toBe('open')
    expect(vote(d, id, 'ValidatorC', 'approve').status).toBe('open')
    expect(vote(d, id, 'ValidatorD', 'approve')).toMatchObject({ status: 'approved', approvals: 3, rejections: 1 })
    expect(d.app.proposal(id)).toMatchObject({ status: 'approved', decidedSeq: 5 })
    expect(d.app.proposal(id)?.votes.map(v => `${v.voter}:${v.decision}:${v.seq}`))
      .toEqual(['ValidatorA:approve:2', 'ValidatorB:reject:3', 'ValidatorC:approve:4', 'ValidatorD:approve:5'])
  })

  it('4 validators, threshold 0.67: rejected at the 2nd rejection (3 approvals became impossible)', () => {
    const d = new Driver(validators4)
    const id = propose(d)
    expect(vote(d, id, 'ValidatorA', 'approve').status).toBe('open')
    expect(vote(d, id, 'ValidatorB', 'reject').status).toBe('open')
    expect(vote(d, id, 'ValidatorC', 'reject')).toMatchObject({ status: 'rejected', approvals: 1, rejections: 2 })
    expectRejected(vote(d, id, 'ValidatorD', 'approve'), `proposal ${id} is already rejected`)
  })

  it('7 validators, threshold 0.67: 5 approvals approve; 3 rejections reject', () => {
    const d = new Driver(validators7)
    const yes = propose(d)
    expect(d.app.proposal(yes)?.requiredApprovals).toBe(5) // ⌈0.67 × 7⌉ = ⌈4.69⌉
    for (const v of validators7.slice(0, 4)) expect(vote(d, yes, v, 'approve').status).toBe('open')
    expect(vote(d, yes, 'ValidatorE', 'reject').status).toBe('open')
    expect(vote(d, yes, 'ValidatorF', 'reject').status).toBe('open')
    expect(vote(d, yes, 'ValidatorG', 'approve').status).toBe('approved')

    const no = propose(d)
    expect(vote(d, no, 'ValidatorA', 'reject').status).toBe('open')
    for (const v of ['ValidatorB', 'ValidatorC']) expect(vote(d, no, v, 'approve').status).toBe('open')
    expect(vote(d, no, 'ValidatorD', 'reject').status).toBe('open')
    expect(vote(d, no, 'ValidatorE', 'reject')).toMatchObject({ status: 'rejected', approvals: 2, rejections: 3 })
  })

  it('other thresholds: 1.0 needs everyone (one rejection rejects); 0.5 of 4 needs 2; 0.7 of 10 needs exactly 7', () => {
    const d = new Driver(validators4)
    const all = propose(d, 1)
    expect(vote(d, all, 'ValidatorA', 'reject').status).toBe('rejected')
    const half = propose(d, 0.5)
    expect(vote(d, half, 'ValidatorA', 'reject').status).toBe('open')
    expect(vote(d, half, 'ValidatorB', 'reject').status).toBe('open')
    expect(vote(d, half, 'ValidatorC', 'reject').status).toBe('rejected')
    const half2 = propose(d, 0.5)
    expect(vote(d, half2, 'ValidatorA', 'approve').status).toBe('open')
    expect(vote(d, half2, 'ValidatorB', 'approve').status).toBe('approved')
    // 0.7 × 10 = 7.000000000000001 in floating point: integer arithmetic must still say 7
    const ten = new Driver(Array.from({ length: 10 }, (_, i) => `Validator${i}`))
    const id = propose(ten, 0.7, 'Validator0')
    expect(ten.app.proposal(id)?.requiredApprovals).toBe(7)
  })

  it('duplicate votes, non-validators, unknown proposals and votes after the decision are rejected', () => {
    const d = new Driver(validators4)
    const id = propose(d, undefined, 'someClient') // anyone may propose
    expect(vote(d, id, 'ValidatorA', 'approve').ok).toBe(true)
    expectRejected(vote(d, id, 'ValidatorA', 'approve'), `already voted on ${id}`)
    expectRejected(vote(d, id, 'ValidatorA', 'reject'), `already voted on ${id}`)
    expectRejected(vote(d, id, 'someClient', 'approve'), 'only validators vote')
    expectRejected(vote(d, 'p-99-0', 'ValidatorB', 'approve'), 'unknown proposal p-99-0')
    vote(d, id, 'ValidatorB', 'approve')
    expect(vote(d, id, 'ValidatorC', 'approve').status).toBe('approved')
    expectRejected(vote(d, id, 'ValidatorD', 'approve'), `proposal ${id} is already approved`)
    expect(d.app.proposal(id)).toMatchObject({ approvals: 3, rejections: 0 })
  })

  it('open proposals are bounded per proposer and in total', () => {
    const d = new Driver(validators4)
    for (let i = 0; i < proposalsOpenPerProposerMax; i++) propose(d, undefined, 'greedy')
    expectRejected(d.run({ op: 'propose', proposal: 1 }, 'greedy'), `too many open proposals from this proposer (${proposalsOpenPerProposerMax})`)
    let proposer = 0
    while (d.app.stats().proposalsOpen < proposalsOpenMax) {
      for (let i = 0; i < proposalsOpenPerProposerMax && d.app.stats().proposalsOpen < proposalsOpenMax; i++) propose(d, undefined, `p${proposer}`)
      proposer++
    }
    expectRejected(d.run({ op: 'propose', proposal: 1 }, 'newcomer'), `too many open proposals (${proposalsOpenMax})`)
    // deciding one frees a slot
    const first = 'p-1-0'
    vote(d, first, 'ValidatorA', 'reject')
    expect(vote(d, first, 'ValidatorB', 'reject').status).toBe('rejected')
    expect(d.run({ op: 'propose', proposal: 1 }, 'newcomer').ok).toBe(true)
  })

  it('an open proposal expires after its lifetime in sequence numbers and frees its slot', () => {
    const d = new Driver(validators4)
    const id = propose(d, undefined, 'greedy')
    for (let i = 1; i < proposalsOpenPerProposerMax; i++) propose(d, undefined, 'greedy')
    d.run({ op: 'noop' }, 'c', 1 + proposalLifetimeSeqs - 1)
    expect(d.app.proposal(id)?.status).toBe('open')
    d.run({ op: 'noop' }, 'c', 1 + proposalLifetimeSeqs)
    expect(d.app.proposal(id)).toMatchObject({ status: 'expired', decidedSeq: 1 + proposalLifetimeSeqs })
    expect(d.app.proposal('p-2-0')?.status).toBe('open')
    expectRejected(vote(d, id, 'ValidatorA', 'approve'), 'is already expired')
    expect(d.run({ op: 'propose', proposal: 1 }, 'greedy').ok).toBe(true) // its slot is free
  })

  it('the earliest decided proposals are forgotten beyond the kept maximum', () => {
    const d = new Driver(['Solo'])
    const ids: string[] = []
    for (let i = 0; i < proposalsDecidedKeptMax + 2; i++) {
      const id = propose(d, undefined, 'Solo')
      expect(vote(d, id, 'Solo', 'approve').status).toBe('approved')
      ids.push(id)
    }
    expect(d.app.proposal(ids[0] as string)).toBeUndefined()
    expect(d.app.proposal(ids[1] as string)).toBeUndefined()
    expect(d.app.proposal(ids[2] as string)?.status).toBe('approved')
    expect(d.app.stats().proposalsDecided).toBe(proposalsDecidedKeptMax)
    expectRejected(vote(d, ids[0] as string, 'Solo', 'approve'), 'unknown proposal')
    expect(d.app.proposals(3).map(p => p.id)).toEqual(ids.slice(-3).reverse())
    expect(d.app.proposals(500, 'open')).toEqual([])
  })

  it('constructor refuses a bad validator list', () => {
    expect(() => new MeshApplication([], sha)).toThrow(RangeError)
    expect(() => new MeshApplication(['A', 'A'], sha)).toThrow(/repeat/)
    expect(() => new MeshApplication(['not a peer id'], sha)).toThrow(/not a PeerId/)
  })
})

// ————————————————————————————————————————— determinism

/** xorshift32: a seeded operation generator. */
function* operations (seed: number, count: number): Generator<{ client: string, op: unknown, seq: number }> {
  let x = seed
  const next = (n: number): number => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) % n }
  let seq = 1
  const ids: string[] = []
  for (let i = 0; i < count; i++) {
    if (next(3) === 0) seq++
    const kind = next(10)
    const client = next(3) === 0 ? `client${next(3)}` : validators4[next(4)] as string
    let op: unknown
    if (kind < 4) op = { op: 'put', namespace: `ns${next(3)}`, key: `k${next(20)}`, value: `v${next(1000)}"\n` }
    else if (kind < 5) op = { op: 'delete', namespace: `ns${next(3)}`, key: `k${next(20)}` }
    else if (kind < 6) { op = { op: 'propose', proposal: { n: next(100), tags: ['a', 'b'] }, threshold: [0.5, 0.67, 1][next(3)] }; ids.push('?') }
    else if (kind < 9) op = { op: 'vote', id: `p-${1 + next(seq)}-${next(3)}`, decision: next(2) === 0 ? 'approve' : 'reject' }
    else op = next(2) === 0 ? { op: 'noop' } : '{"op":"put"'
    yield { client, op, seq }
  }
}

describe('determinism', () => {
  it('two instances fed the same operations give the same results, snapshots and digests', () => {
    const a = new Driver()
    const b = new Driver()
    let approvedOrRejected = 0
    for (const { client, op, seq } of operations(42, 3000)) {
      const ra = a.run(op, client, seq)
      const rb = b.run(op, client, seq)
      expect(rb).toEqual(ra)
      if (ra.status === 'approved' || ra.status === 'rejected') approvedOrRejected++
      if (seq % 50 === 0) expect(b.app.digest()).toBe(a.app.digest())
    }
    expect(approvedOrRejected).toBeGreaterThan(0)
    expect(b.app.snapshot()).toBe(a.app.snapshot())
    expect(b.app.digest()).toBe(a.app.digest())
    expect(a.app.digest()).toBe(sha(a.app.snapshot()))
  })

  it('the snapshot does not depend on the order writes arrived in, only on the resulting state', () => {
    const a = new Driver()
    const b = new Driver()
    a.run({ op: 'put', namespace: 'x', key: 'k1', value: '1' }, 'c', 1)
    a.run({ op: 'put', namespace: 'y', key: 'k2', value: '2' }, 'c', 1)
    b.run({ op: 'put', namespace: 'y', key: 'k2', value: '2' }, 'c', 1)
    b.run({ op: 'put', namespace: 'x', key: 'k1', value: '1' }, 'c', 1)
    expect(b.app.snapshot()).toBe(a.app.snapshot())
  })

  it('snapshot → restore → same digest, same reads, and the same future', () => {
    const a = new Driver()
    const ops = [...operations(7, 2000)]
    for (const { client, op, seq } of ops.slice(0, 1000)) a.run(op, client, seq)
    const b = new Driver()
    b.app.restore(a.app.snapshot())
    expect(b.app.digest()).toBe(a.app.digest())
    expect(b.app.snapshot()).toBe(a.app.snapshot())
    expect(b.app.lastApplied).toBe(a.app.lastApplied)
    expect(b.app.list('ns1')).toEqual(a.app.list('ns1'))
    expect(b.app.proposals(1000)).toEqual(a.app.proposals(1000))
    expect(b.app.stats()).toEqual(a.app.stats())
    for (const { client, op, seq } of ops.slice(1000)) expect(b.run(op, client, seq)).toEqual(a.run(op, client, seq))
    expect(b.app.digest()).toBe(a.app.digest())
  })

  it('restore refuses malformed snapshots with a SnapshotError and leaves the state untouched', () => {
    const a = new Driver()
    a.put('ns', 'a', '1')
    a.put('ns', 'b', '2')
    const id = a.run({ op: 'propose', proposal: { x: 1 } }).id as string
    a.run({ op: 'vote', id, decision: 'approve' }, 'ValidatorA')
    const good = JSON.parse(a.app.snapshot())
    const b = new Driver()
    b.put('other', 'k', 'v')
    const before = b.app.digest()
    const bad = (mutate: (s: any) => void): string => { const s = structuredClone(good); mutate(s); return JSON.stringify(s) }
    const cases: Array<[string, string, RegExp]> = [
      ['not JSON', '{', /not JSON/],
      ['array', '[]', /not an object/],
      ['version', bad(s => { s.version = 2 }), /unsupported version/],
      ['extra field', bad(s => { s.extra = 1 }), /unexpected or missing fields/],
      ['other validators', bad(s => { s.validators = ['ValidatorX'] }), /validator set differs/],
      ['unsorted keys', bad(s => { s.memory[0][1].reverse() }), /not sorted/],
      ['seq after lastApplied', bad(s => { s.memory[0][1][0][2] = 99 }), /seq/],
      ['bad namespace', bad(s => { s.memory[0][0] = 'a b' }), /namespace name/],
      ['non-validator vote', bad(s => { s.proposals[0].votes[0][0] = 'Mallory' }), /non-validator/],
      ['status not following the votes', bad(s => { s.proposals[0].status = 'approved'; s.proposals[0].decidedSeq = 4 }), /does not follow/],
      ['proposal id', bad(s => { s.proposals[0].id = 'p-9-9' }), /proposal id/],
      ['deep nesting', `{"a":${'['.repeat(100)}${']'.repeat(100)}}`, /nested too deep/]
    ]
    for (const [name, text, pattern] of cases) {
      expect(() => b.app.restore(text), name).toThrow(SnapshotError)
      expect(() => b.app.restore(text), name).toThrow(pattern)
      expect(b.app.digest(), name).toBe(before)
    }
    expect(b.app.get('other', 'k')?.value).toBe('v')
  })
})

// ————————————————————————————————————————— bundles

describe('bundles', () => {
  const text = (operation: unknown): string => typeof operation === 'string' ? operation : JSON.stringify(operation)
  const bundle = (ops: unknown[]): { op: 'bundle', ops: string[] } => ({ op: 'bundle', ops: ops.map(text) })
  const put = (key: string, value = 'v'): unknown => ({ op: 'put', namespace: 'ns', key, value })
  const propose = (proposal: unknown): unknown => ({ op: 'propose', proposal })
  const noop = '{"op":"noop"}'
  const noops = (count: number): string[] => Array.from({ length: count }, () => noop)

  interface BundleResult { ok: boolean, results: string[], seq: number }
  /** Apply a bundle of `ops` at `seq`; returns its result, parsed (each bundled result stays text). */
  function applyBundle (app: MeshApplication, client: string, ops: unknown[], seq: number): BundleResult {
    const raw = app.apply(request(client, bundle(ops)), seq)
    const result = JSON.parse(raw) as BundleResult
    expect(Object.keys(result).sort()).toEqual(['ok', 'results', 'seq'])
    expect(result.ok).toBe(true)
    expect(result.seq).toBe(seq)
    expect(raw).toBe(JSON.stringify({ ok: true, results: result.results, seq })) // canonical: keys sorted
    expect(result.results).toHaveLength(ops.length)
    return result
  }
  const parsed = (results: string[]): Array<Record<string, unknown>> => results.map(r => JSON.parse(r) as Record<string, unknown>)

  it('validateOperation accepts 2..256 operation texts (the bundled operations are checked when applied)', () => {
    expect(validateOperation(JSON.stringify(bundle([put('a'), noop]))))
      .toEqual({ ok: true, op: { op: 'bundle', ops: ['{"op":"put","namespace":"ns","key":"a","value":"v"}', noop] } })
    expect(validateOperation(JSON.stringify(bundle(noops(bundleOpsMax))))).toMatchObject({ ok: true, op: { op: 'bundle' } })
    expect(validateOperation(JSON.stringify(bundle(['{op', bundle([noop, noop])])))).toMatchObject({ ok: true })
  })

  const refused: Array<[string, unknown, RegExp]> = [
    ['no ops', { op: 'bundle', ops: [] }, /^ops must be an array of 2\.\.256 operations$/],
    ['one op', { op: 'bundle', ops: [noop] }, /^ops must be an array of 2\.\.256 operations$/],
    [`${bundleOpsMax + 1} ops`, { op: 'bundle', ops: noops(bundleOpsMax + 1) }, /^ops must be an array of 2\.\.256 operations$/],
    ['ops not an array', { op: 'bundle', ops: noop }, /^ops must be an array/],
    ['missing ops', { op: 'bundle' }, /^missing field "ops"$/],
    ['an op that is an object, not text', { op: 'bundle', ops: [noop, { op: 'noop' }] }, /^each bundled operation must be operation text/],
    ['an op that is null', { op: 'bundle', ops: [null, noop] }, /^each bundled operation must be operation text/],
    ['unknown field', { op: 'bundle', ops: [noop, noop], signature: 's' }, /^unknown field "signature"$/]
  ]
  for (const [name, operation, pattern] of refused) {
    it(`refuses a bundle as a whole: ${name} (in validateOperation and, identically, in apply, where it takes one index)`, () => {
      const check = validateOperation(JSON.stringify(operation))
      expect(check.ok).toBe(false)
      if (!check.ok) expect(check.error).toMatch(pattern)
      const d = new Driver()
      const result = d.run(operation, 'c', 3)
      expect(result).toEqual({ ok: false, error: check.ok ? '' : check.error })
      expect(d.app.stats()).toMatchObject({ keys: 0, proposalsOpen: 0, lastApplied: 3 })
      expect(d.run(propose('next'), 'c', 3).id).toBe('p-3-1')
    })
  }

  it('puts, delete, propose and votes: results in order, and the results and state of the same operations sent one by one in the same seq', () => {
    const client = 'ValidatorA/7'
    const ops = [
      put('a', '1'), put('b', '2'), { op: 'delete', namespace: 'ns', key: 'a' }, put('b', '3'),
      propose({ assign: 'task-1' }), { op: 'vote', id: 'p-2-4', decision: 'approve' }, // the proposal of this bundle
      { op: 'vote', id: 'p-1-0', decision: 'reject' } // one made earlier
    ]
    const bundled = new Driver()
    const single = new Driver()
    for (const d of [bundled, single]) expect(d.run(propose('earlier'), 'ValidatorB', 1).id).toBe('p-1-0')

    const { results } = applyBundle(bundled.app, client, ops, 2)
    const one = ops.map(op => single.app.apply(request(client, op), 2))
    expect(results).toEqual(one)
    expect(parsed(results)).toEqual([
      { ok: true, seq: 2, created: true },
      { ok: true, seq: 2, created: true },
      { ok: true, seq: 2, deleted: true },
      { ok: true, seq: 2, created: false },
      { ok: true, seq: 2, id: 'p-2-4', status: 'open', requiredApprovals: 3 },
      { ok: true, seq: 2, id: 'p-2-4', status: 'open', approvals: 1, rejections: 0 },
      { ok: true, seq: 2, id: 'p-1-0', status: 'open', approvals: 0, rejections: 1 }
    ])
    expect(bundled.app.snapshot()).toBe(single.app.snapshot())
    expect(bundled.app.digest()).toBe(single.app.digest())
    expect(bundled.app.get('ns', 'a')).toBeUndefined()
    expect(bundled.app.get('ns', 'b')).toEqual({ value: '3', seq: 2 })
    expect(bundled.app.proposal('p-2-4')).toMatchObject({ proposer: 'ValidatorA', seq: 2, votes: [{ voter: 'ValidatorA', decision: 'approve', seq: 2 }] })
    expect(bundled.app.proposal('p-1-0')?.votes).toEqual([{ voter: 'ValidatorA', decision: 'reject', seq: 2 }])
    // and the same future, in this seq and the next
    for (const seq of [2, 3]) {
      const next = bundled.run(propose(`after-${seq}`), 'ValidatorC', seq)
      expect(single.run(propose(`after-${seq}`), 'ValidatorC', seq)).toEqual(next)
    }
    expect(bundled.app.digest()).toBe(single.app.digest())
    expect(bundled.app.proposal('p-2-7')?.proposal).toBe('after-2')
  })

  it('two proposes in one bundle get distinct ids, each its own proposal', () => {
    const d = new Driver()
    const { results } = applyBundle(d.app, 'ValidatorB', [propose('x'), propose({ y: [1] })], 4)
    expect(parsed(results).map(r => r.id)).toEqual(['p-4-0', 'p-4-1'])
    expect(d.app.proposal('p-4-0')).toMatchObject({ proposal: 'x', proposer: 'ValidatorB', status: 'open' })
    expect(d.app.proposal('p-4-1')).toMatchObject({ proposal: { y: [1] }, proposer: 'ValidatorB', status: 'open' })
    expect(d.app.stats().proposalsOpen).toBe(2)
  })

  it('an invalid bundled operation fails alone (its own rejection, its own index); the others apply', () => {
    const d = new Driver()
    const badNamespace = { op: 'put', namespace: 'a b', key: 'k', value: 'v' }
    const ops = [put('a'), '{op', badNamespace, { op: 'vote', id: 'p-9-0', decision: 'approve' }, propose('p'), put('b')]
    const results = parsed(applyBundle(d.app, 'ValidatorA', ops, 1).results)
    const invalid = (operation: unknown): string => { const check = validateOperation(text(operation)); return check.ok ? '' : check.error }
    expect(results).toEqual([
      { ok: true, seq: 1, created: true },
      { ok: false, error: invalid('{op') },
      { ok: false, error: invalid(badNamespace) },
      { ok: false, error: 'unknown proposal p-9-0' },
      { ok: true, seq: 1, id: 'p-1-4', status: 'open', requiredApprovals: 3 },
      { ok: true, seq: 1, created: true }
    ])
    expect(results[1]?.error).toBe('operation is not valid JSON')
    expect(results[2]?.error).toMatch(/namespace must be 1-64/)
    expect(d.app.list('ns').map(e => e.key)).toEqual(['a', 'b'])
    expect(d.app.namespaces()).toEqual([{ namespace: 'ns', keys: 2 }])
    // a bundle of nothing but invalid operations is still an applied bundle
    expect(parsed(applyBundle(d.app, 'c', ['{op', '[1]'], 2).results).map(r => r.ok)).toEqual([false, false])
  })

  it('bundles do not nest: a bundled bundle is refused alone, and nothing inside it applies', () => {
    const d = new Driver()
    const ops = [put('a'), bundle([put('x'), put('y')]), bundle([put('z')]), put('b')]
    const results = parsed(applyBundle(d.app, 'c', ops, 1).results)
    expect(results).toEqual([
      { ok: true, seq: 1, created: true },
      { ok: false, error: 'bundles do not nest' },
      { ok: false, error: 'ops must be an array of 2..256 operations' }, // malformed: refused by its shape first
      { ok: true, seq: 1, created: true }
    ])
    expect(d.app.list('ns').map(e => e.key)).toEqual(['a', 'b'])
    expect(d.run(propose('next'), 'c', 1).id).toBe('p-1-4') // each nested bundle took one index
  })

  it('deterministic: two fresh applications fed the same bundles give the same results, snapshots and digests (and those of the operations sent one by one)', () => {
    const a = new Driver()
    const b = new Driver()
    const one = new Driver()
    const restored = new Driver()
    let x = 99
    const next = (n: number): number => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) % n }
    const ops = [...operations(11, 3000)]
    let bundles = 0
    let appliedInBundles = 0
    for (let i = 0; i < ops.length;) {
      const first = ops[i] as { client: string, op: unknown, seq: number }
      // a bundle: what one client submitted within one seq
      const size = 1 + next(6)
      const group = [first]
      while (group.length < size && ops[i + group.length]?.seq === first.seq) group.push(ops[i + group.length] as typeof first)
      i += group.length
      if (i > 1500 && restored.app.lastApplied === 0) restored.app.restore(a.app.snapshot())
      if (group.length === 1) {
        const ra = a.run(first.op, first.client, first.seq)
        expect(b.run(first.op, first.client, first.seq)).toEqual(ra)
        expect(one.run(first.op, first.client, first.seq)).toEqual(ra)
        if (restored.app.lastApplied > 0) expect(restored.run(first.op, first.client, first.seq)).toEqual(ra)
        continue
      }
      bundles++
      const operationsOfGroup = group.map(g => g.op)
      const ra = applyBundle(a.app, first.client, operationsOfGroup, first.seq)
      expect(applyBundle(b.app, first.client, operationsOfGroup, first.seq)).toEqual(ra)
      if (restored.app.lastApplied > 0) expect(applyBundle(restored.app, first.client, operationsOfGroup, first.seq)).toEqual(ra)
      expect(operationsOfGroup.map(op => one.app.apply(request(first.client, op), first.seq))).toEqual(ra.results)
      appliedInBundles += parsed(ra.results).filter(r => r.ok === true && (r.id != null || r.created != null)).length
    }
    expect(bundles).toBeGreaterThan(300)
    expect(appliedInBundles).toBeGreaterThan(300)
    expect(b.app.snapshot()).toBe(a.app.snapshot())
    expect(b.app.digest()).toBe(a.app.digest())
    expect(one.app.digest()).toBe(a.app.digest())
    expect(restored.app.digest()).toBe(a.app.digest())
    expect(a.app.stats().proposalsOpen + a.app.stats().proposalsDecided).toBeGreaterThan(0)
  })

  it('a bundle and single operations in the same seq never share a proposal index (also across a snapshot)', () => {
    const d = new Driver()
    expect(d.run(propose('first'), 'c', 5).id).toBe('p-5-0')
    const inBundle = parsed(applyBundle(d.app, 'c', [propose('b1'), noop, propose('b2')], 5).results).map(r => r.id)
    expect(inBundle).toEqual(['p-5-1', undefined, 'p-5-3'])
    expect(d.run(propose('after'), 'c', 5).id).toBe('p-5-4')
    expect(d.run({ op: 'bundle', ops: [noop] }, 'c', 5).ok).toBe(false) // refused whole: one index
    expect(d.run(propose('later'), 'c', 5).id).toBe('p-5-6')
    const copy = new Driver()
    copy.app.restore(d.app.snapshot())
    for (const app of [d.app, copy.app]) {
      expect(parsed(applyBundle(app, 'c', [propose('c1'), propose('c2')], 5).results).map(r => r.id)).toEqual(['p-5-7', 'p-5-8'])
      expect(parsed(applyBundle(app, 'c', [propose('d1'), propose('d2')], 6).results).map(r => r.id)).toEqual(['p-6-0', 'p-6-1'])
    }
    expect(copy.app.digest()).toBe(d.app.digest())
    const ids = d.app.proposals(100).map(p => p.id)
    expect(ids).toHaveLength(9)
    expect(new Set(ids).size).toBe(9)
    expect(d.app.proposal('p-5-3')?.proposal).toBe('b2')
    expect(d.app.proposal('p-5-4')?.proposal).toBe('after')
  })
})

describe('Raft: who votes follows the membership (setVoters, in log order)', () => {
  const vote = (app: MeshApplication, id: string, voter: string, seq: number): Record<string, any> =>
    JSON.parse(app.apply(request(voter, { op: 'vote', id, decision: 'approve' }), seq)) as Record<string, any>

  it('a voter promoted after the genesis votes; a removed one no longer does; the required count follows', () => {
    const app = new MeshApplication(['ValidatorA'], sha, { votersFollowMembership: true })
    const opened = JSON.parse(app.apply(request('client1', { op: 'propose', proposal: 'x' }), 1)) as Record<string, any>
    expect(opened.requiredApprovals).toBe(1)
    expect(vote(app, opened.id as string, 'ValidatorB', 2).error).toMatch(/only validators vote/)
    app.setVoters(['ValidatorA', 'ValidatorB', 'ValidatorC'])
    const second = JSON.parse(app.apply(request('client1', { op: 'propose', proposal: 'y' }), 3)) as Record<string, any>
    expect(second.requiredApprovals).toBe(3) // ⌈0.67 × 3⌉
    expect(vote(app, second.id as string, 'ValidatorB', 4).ok).toBe(true)
    app.setVoters(['ValidatorA', 'ValidatorC'])
    expect(vote(app, second.id as string, 'ValidatorB', 5).error).toMatch(/only validators vote/)
    expect(app.validatorCount).toBe(2)
  })

  it('a snapshot carries the voters in force; a Raft app restores it whatever its genesis named', () => {
    const app = new MeshApplication(['ValidatorA'], sha, { votersFollowMembership: true })
    app.setVoters(['ValidatorA', 'ValidatorB'])
    const opened = JSON.parse(app.apply(request('client1', { op: 'propose', proposal: 'x' }), 1)) as Record<string, any>
    expect(vote(app, opened.id as string, 'ValidatorB', 2).ok).toBe(true)
    const restored = new MeshApplication(['ValidatorA'], sha, { votersFollowMembership: true })
    restored.restore(app.snapshot())
    expect(restored.digest()).toBe(app.digest())
    expect(restored.validatorCount).toBe(2)
    expect(vote(restored, opened.id as string, 'ValidatorA', 3).ok).toBe(true)
  })

  it('pBFT keeps its fixed set: setVoters throws, and a snapshot naming other validators is refused', () => {
    const raft = new MeshApplication(['ValidatorA'], sha, { votersFollowMembership: true })
    raft.setVoters(['ValidatorA', 'ValidatorB'])
    const pbft = new MeshApplication(['ValidatorA'], sha)
    expect(() => { pbft.setVoters(['ValidatorA', 'ValidatorB']) }).toThrow(/fixed/)
    expect(() => { pbft.restore(raft.snapshot()) }).toThrow(SnapshotError)
    expect(() => { raft.setVoters([]) }).toThrow(RangeError)
  })
})
