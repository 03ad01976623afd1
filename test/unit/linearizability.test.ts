/**
 * The chaos harness's checkers (test/chaos/) on small known-good and known-bad histories: a checker
 * that accepts everything would pass every chaos run, so each rule has a history that must fail.
 */
import { describe, expect, it } from 'vitest'
import { checkHistory, checkKey, minimalFailingSubHistory } from '../chaos/linearizability.js'
import type { KvOperation } from '../chaos/linearizability.js'
import { checkPlainReads } from '../chaos/sequential.js'
import type { KnownWrite, PlainRead } from '../chaos/sequential.js'

let nextId = 0
const put = (client: number, value: string, call: number, ret: number, key = 'k'): KvOperation =>
  ({ id: nextId++, client, key, kind: 'put', value, call, return: ret, output: { ok: true } })
const get = (client: number, value: string | null, call: number, ret: number, key = 'k'): KvOperation =>
  ({ id: nextId++, client, key, kind: 'get', call, return: ret, output: { value } })
const del = (client: number, deleted: boolean, call: number, ret: number, key = 'k'): KvOperation =>
  ({ id: nextId++, client, key, kind: 'delete', call, return: ret, output: { deleted } })
/** A write whose answer never came. */
const putUnknown = (client: number, value: string, call: number, key = 'k'): KvOperation =>
  ({ id: nextId++, client, key, kind: 'put', value, call, return: Infinity })

const linearizable = (ops: KvOperation[]): boolean => checkHistory(ops).ok

describe('linearizability checker (Wing–Gong search with Lowe memoization)', () => {
  it('accepts a sequential history and an empty one', () => {
    expect(linearizable([])).toBe(true)
    expect(linearizable([put(1, 'a', 0, 1), get(1, 'a', 2, 3), del(1, true, 4, 5), get(1, null, 6, 7), del(1, false, 8, 9)])).toBe(true)
  })

  it('rejects a stale read: a read after a completed write returns the older value', () => {
    expect(linearizable([put(1, 'a', 0, 1), put(1, 'b', 2, 3), get(2, 'a', 4, 5)])).toBe(false)
  })

  it('rejects a lost write: an acknowledged write not seen by a later read', () => {
    expect(linearizable([put(1, 'a', 0, 1), get(2, null, 2, 3)])).toBe(false)
  })

  it('rejects a read of a value nobody wrote', () => {
    expect(linearizable([put(1, 'a', 0, 1), get(2, 'zzz', 2, 3)])).toBe(false)
  })

  it('rejects a read-your-writes violation across clients (B reads a after A wrote b, which B saw)', () => {
    expect(linearizable([put(1, 'a', 0, 1), put(1, 'b', 2, 3), get(2, 'b', 4, 5), get(2, 'a', 6, 7)])).toBe(false)
  })

  it('allows both orders for concurrent operations', () => {
    // put b overlaps both reads: one read before it took effect, one after
    expect(linearizable([put(1, 'a', 0, 1), put(2, 'b', 2, 10), get(3, 'a', 3, 4), get(3, 'b', 5, 6)])).toBe(true)
    expect(linearizable([put(1, 'a', 0, 1), put(2, 'b', 2, 10), get(3, 'b', 3, 4)])).toBe(true)
    // concurrent puts: a later read may see either one, but two sequential reads cannot flip back
    expect(linearizable([put(1, 'a', 0, 10), put(2, 'b', 0, 10), get(3, 'a', 11, 12)])).toBe(true)
    expect(linearizable([put(1, 'a', 0, 10), put(2, 'b', 0, 10), get(3, 'b', 11, 12)])).toBe(true)
    expect(linearizable([put(1, 'a', 0, 10), put(2, 'b', 0, 10), get(3, 'b', 11, 12), get(3, 'a', 13, 14)])).toBe(false)
  })

  it('a read concurrent with a write may flip to the new value but not back', () => {
    expect(linearizable([put(1, 'a', 0, 1), put(2, 'b', 2, 20), get(3, 'b', 3, 4), get(3, 'a', 5, 6)])).toBe(false)
  })

  it('an indeterminate write may be seen, or never seen', () => {
    expect(linearizable([put(1, 'a', 0, 1), putUnknown(2, 'b', 2), get(3, 'b', 5, 6)])).toBe(true)
    expect(linearizable([put(1, 'a', 0, 1), putUnknown(2, 'b', 2), get(3, 'a', 5, 6)])).toBe(true)
    // but not before it was invoked
    expect(linearizable([put(1, 'a', 0, 1), get(3, 'b', 2, 3), putUnknown(2, 'b', 4)])).toBe(false)
    // and once seen, not unseen
    expect(linearizable([put(1, 'a', 0, 1), putUnknown(2, 'b', 2), get(3, 'b', 5, 6), get(3, 'a', 7, 8)])).toBe(false)
  })

  it('many unobserved indeterminate puts do not blow the search up, and the reduction keeps the verdict', () => {
    const ops: KvOperation[] = []
    for (let i = 0; i < 60; i++) {
      ops.push(put(1, `v${i}`, i * 10, i * 10 + 1), putUnknown(2, `lost${i}`, i * 10 + 2), get(3, `v${i}`, i * 10 + 5, i * 10 + 6))
    }
    expect(linearizable(ops)).toBe(true)
    expect(linearizable([...ops, get(3, 'v3', 1000, 1001)])).toBe(false)
    // an indeterminate put that explains a later delete's deleted=true stays in the history
    expect(linearizable([put(1, 'a', 0, 1), del(1, true, 2, 3), putUnknown(2, 'b', 4), del(1, true, 5, 6)])).toBe(true)
    expect(linearizable([put(1, 'a', 0, 1), del(1, true, 2, 3), del(1, true, 5, 6), putUnknown(2, 'b', 7)])).toBe(false)
  })

  it('an indeterminate delete may or may not have removed the key', () => {
    const unknownDelete: KvOperation = { id: nextId++, client: 2, key: 'k', kind: 'delete', call: 2, return: Infinity }
    expect(linearizable([put(1, 'a', 0, 1), unknownDelete, get(3, null, 5, 6)])).toBe(true)
    expect(linearizable([put(1, 'a', 0, 1), { ...unknownDelete, id: nextId++ }, get(3, 'a', 5, 6)])).toBe(true)
  })

  it('checks a delete\'s answer: deleted=true needs a value there', () => {
    expect(linearizable([del(1, true, 0, 1)])).toBe(false)
    expect(linearizable([put(1, 'a', 0, 1), del(1, false, 2, 3)])).toBe(false)
    expect(linearizable([put(1, 'a', 0, 1), del(1, true, 2, 3), del(2, true, 4, 5)])).toBe(false)
    // two concurrent deletes: exactly one removes it
    expect(linearizable([put(1, 'a', 0, 1), del(1, true, 2, 5), del(2, false, 2, 5)])).toBe(true)
    expect(linearizable([put(1, 'a', 0, 1), del(1, true, 2, 5), del(2, true, 2, 5)])).toBe(false)
  })

  it('keys are independent (P-compositionality) and the verdict names the bad key', () => {
    const verdict = checkHistory([put(1, 'a', 0, 1, 'x'), get(2, null, 0, 1, 'y'), put(1, 'b', 2, 3, 'y'), get(2, null, 4, 5, 'y')])
    expect(verdict.ok).toBe(false)
    expect(verdict.keys.filter(k => !k.ok).map(k => k.key)).toEqual(['y'])
  })

  it('decides a long concurrent linearizable history quickly (memoization), and the same with one stale read at the end fails', () => {
    const ops: KvOperation[] = []
    // 5 clients, 400 rounds of overlapping puts and reads that each see the latest completed round
    for (let round = 0; round < 400; round++) {
      const t = round * 10
      for (let c = 0; c < 4; c++) ops.push(put(c, `r${round}c${c}`, t, t + 8))
      ops.push(get(4, round === 0 ? null : `r${round - 1}c3`, t, t + 1))
    }
    const good = checkKey('k', ops)
    expect(good.ok).toBe(true)
    const bad = checkKey('k', [...ops, get(5, 'r10c1', 5000, 5001)])
    expect(bad.ok).toBe(false)
    expect(bad.unknown).toBeUndefined()
  })

  it('shrinks a failing history to a small failing sub-history', () => {
    const ops: KvOperation[] = []
    for (let i = 0; i < 50; i++) ops.push(put(1, `v${i}`, i * 10, i * 10 + 1), get(2, `v${i}`, i * 10 + 2, i * 10 + 3))
    ops.push(get(3, 'v7', 600, 601)) // stale
    const minimal = minimalFailingSubHistory(ops)
    expect(checkKey('k', minimal).ok).toBe(false)
    expect(minimal.length).toBeLessThanOrEqual(3)
    expect(minimal.some(op => op.kind === 'get' && op.client === 3)).toBe(true)
  })
})

describe('plain reads: prefix consistency and monotonic sessions', () => {
  let id = 1000
  const write = (kind: 'put' | 'delete', seq: number | null, value?: string, call = 0): KnownWrite => ({ id: id++, key: 'k', kind, value, call, seq })
  const read = (client: number, value: string | null, seq: number | null, lastApplied: number, call: number, node = 'n1', pid = 1): PlainRead =>
    ({ id: id++, client, key: 'k', node, pid, call, return: call + 1, value, seq, lastApplied })

  it('accepts reads that match the writes known at their prefix', () => {
    const writes = [write('put', 5, 'a'), write('put', 9, 'b'), write('delete', 12)]
    const verdict = checkPlainReads([read(1, null, null, 3, 0), read(1, 'a', 5, 7, 1), read(1, 'b', 9, 9, 2), read(1, null, null, 20, 3)], writes)
    expect(verdict.violations).toEqual([])
  })

  it('rejects a stale read for its prefix, a value nobody wrote, a wrong seq, and a lost put', () => {
    const writes = [write('put', 5, 'a'), write('put', 9, 'b')]
    const bad = [
      read(1, 'a', 5, 10, 0), // b at 9 ≤ 10 is newer
      read(2, 'zzz', 6, 10, 0), // never written
      read(3, 'a', 7, 10, 0), // a was written at 5
      read(4, null, null, 10, 0) // b at 9 and no delete
    ]
    const verdict = checkPlainReads(bad, writes)
    expect(verdict.violations.map(v => v.read.client)).toEqual([1, 2, 3, 4])
  })

  it('an indeterminate write may explain a read; an indeterminate delete may explain an absence', () => {
    const writes = [write('put', 5, 'a'), write('put', null, 'c'), write('delete', null)]
    expect(checkPlainReads([read(1, 'c', 8, 10, 1), read(2, null, null, 10, 1)], writes).ok).toBe(true)
  })

  it('writes of one bundle share a seq: either may be what a read at that prefix shows', () => {
    const writes = [write('put', 5, 'a'), write('put', 7, 'b'), write('put', 7, 'c')]
    expect(checkPlainReads([read(1, 'b', 7, 8, 0), read(2, 'c', 7, 8, 0)], writes).ok).toBe(true)
    expect(checkPlainReads([read(3, 'a', 5, 8, 0)], writes).ok).toBe(false)
  })

  it('rejects a session that goes back to an older prefix; a restart starts a new session', () => {
    const writes = [write('put', 1, 'a')]
    const back = checkPlainReads([read(1, 'a', 1, 10, 0), read(1, 'a', 1, 8, 1)], writes)
    expect(back.violations.map(v => v.rule)).toEqual(['monotonic'])
    // overlapping in time (the first returned as the second was called): no order between them
    expect(checkPlainReads([read(1, 'a', 1, 10, 0), read(1, 'a', 1, 8, 1, 'n1', 2)], writes).ok).toBe(true)
    // another node, or another client, is another session
    expect(checkPlainReads([read(1, 'a', 1, 10, 0), read(1, 'a', 1, 8, 1, 'n2')], writes).ok).toBe(true)
    expect(checkPlainReads([read(1, 'a', 1, 10, 0), read(2, 'a', 1, 8, 1)], writes).ok).toBe(true)
  })

  it('rejects a node that answers at an older prefix than it answered before, across a restart or to another client', () => {
    const writes = [write('put', 1, 'a')]
    const restarted = checkPlainReads([read(1, 'a', 1, 10, 0), read(1, 'a', 1, 8, 5, 'n1', 2)], writes)
    expect(restarted.violations.map(v => v.rule)).toEqual(['node-monotonic'])
    expect(restarted.regressionsAcrossRestarts).toBe(1)
    const otherClient = checkPlainReads([read(1, 'a', 1, 10, 0), read(2, 'a', 1, 8, 5)], writes)
    expect(otherClient.violations.map(v => v.rule)).toEqual(['node-monotonic'])
    expect(otherClient.regressionsAcrossRestarts).toBe(0)
    // the same prefix again, a newer one, or another node's older one: fine
    expect(checkPlainReads([read(1, 'a', 1, 10, 0), read(2, 'a', 1, 10, 5, 'n1', 2), read(3, 'a', 1, 12, 7, 'n1', 3), read(1, 'a', 1, 2, 9, 'n2')], writes).ok).toBe(true)
  })
})

describe('acknowledged writes survive the heal (final read against the newest acknowledged seq)', async () => {
  const { checkSurvival } = await import('../chaos/chaos.js')
  type Op = Parameters<typeof checkSurvival>[0][number]
  let id = 5000
  const w = (type: 'put' | 'delete', outcome: 'ok' | 'info', seq: number | undefined, value?: string): Op =>
    ({ id: id++, client: 1, type, key: 'k', value, node: 'n', pid: 1, call: 0, return: outcome === 'ok' ? 1 : Infinity, outcome, seq })
  const final = (read: string | null, seq?: number): Op => ({ id: id++, client: -1, type: 'get', key: 'k', node: 'n', pid: 1, call: 10, return: 11, outcome: 'ok', read, seq })

  it('passes when the final read shows the newest acknowledged write or a later indeterminate one', () => {
    expect(checkSurvival([w('put', 'ok', 3, 'a'), w('put', 'ok', 8, 'b')], [final('b', 8)], ['k']).ok).toBe(true)
    expect(checkSurvival([w('put', 'ok', 8, 'b'), w('put', 'info', undefined, 'c')], [final('c', 12)], ['k']).ok).toBe(true)
    expect(checkSurvival([w('put', 'ok', 8, 'b'), w('delete', 'info', undefined)], [final(null)], ['k']).ok).toBe(true)
    expect(checkSurvival([w('put', 'ok', 8, 'b'), w('delete', 'ok', 9)], [final(null)], ['k']).ok).toBe(true)
  })

  it('fails when the newest acknowledged write is lost', () => {
    expect(checkSurvival([w('put', 'ok', 3, 'a'), w('put', 'ok', 8, 'b')], [final('a', 3)], ['k']).ok).toBe(false)
    expect(checkSurvival([w('put', 'ok', 8, 'b')], [final(null)], ['k']).ok).toBe(false)
    expect(checkSurvival([w('put', 'ok', 8, 'b'), w('delete', 'ok', 9)], [final('b', 8)], ['k']).ok).toBe(false)
    expect(checkSurvival([w('put', 'ok', 8, 'b')], [], ['k']).ok).toBe(false)
  })
})
