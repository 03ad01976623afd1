/**
 * The replicated client table (src/core/pbft/client-table.ts): exactly-once per (client, request id),
 * the client window, and the deterministic horizon that forgets silent clients (issue 9).
 */
import { describe, expect, it } from 'vitest'
import { ClientTable, clientWindow } from '../../src/core/pbft/client-table.js'

describe('client table', () => {
  it('classifies new, done and ahead ids; re-replies remembered results', () => {
    const t = new ClientTable()
    expect(t.classify('a', 1)).toBe('new')
    t.record('a', 1, 'r1', 10)
    t.record('a', 3, 'r3', 11)
    expect(t.classify('a', 1)).toBe('done')
    expect(t.classify('a', 2)).toBe('new')
    expect(t.classify('a', 3)).toBe('done')
    expect(t.classify('a', 1 + clientWindow + 1)).toBe('ahead')
    expect(t.result('a', 3)).toEqual({ result: 'r3', seq: 11 })
  })

  it('a declared floor (Raft clients) passes ids that were never appended: the window moves on (issue 13, chaos seed 1314)', () => {
    // without it: id 1 lost on the way holds the window, and the 257th request after it is refused for good
    const stuck = new ClientTable()
    for (let id = 2; id <= 1 + clientWindow - 1; id++) stuck.record('a', id, `r${id}`, id)
    expect(stuck.classify('a', 1 + clientWindow)).toBe('ahead')
    expect(stuck.classify('a', 2 * clientWindow)).toBe('ahead')
    // with it: each request says "every id of mine ≤ floor executed or never will"
    const t = new ClientTable()
    for (let id = 2; id <= 3 * clientWindow; id++) {
      expect(t.classify('a', id, id - 1), `id ${id}`).toBe('new')
      t.record('a', id, `r${id}`, id, id - 1)
    }
    expect(t.classify('a', 1)).toBe('done') // the lost id can never execute late
    expect(t.classify('a', 3 * clientWindow)).toBe('done')
    expect(t.classify('a', 3 * clientWindow + 1)).toBe('new')
    // a floor below an id still awaited keeps that id executable, and ids above it are not lost
    const u = new ClientTable()
    u.record('a', 1, 'r1', 1)
    u.record('a', 3, 'r3', 2, 1) // id 2 still awaited: floor 1
    expect(u.classify('a', 2, 1)).toBe('new')
    u.record('a', 2, 'r2', 3, 1)
    expect(u.classify('a', 2)).toBe('done')
    expect(u.classify('a', 3)).toBe('done')
    expect(u.result('a', 2)).toEqual({ result: 'r2', seq: 3 })
    // a floor at or above the request's own id is ignored (a request cannot give itself up)
    const v = new ClientTable()
    v.record('a', 1, 'r1', 1)
    expect(v.classify('a', 5, 5)).toBe('new')
    v.record('a', 5, 'r5', 2, 9)
    expect(v.classify('a', 3)).toBe('new')
    // the same executions give the same snapshot (part of the state digest)
    const w = new ClientTable()
    w.record('a', 1, 'r1', 1)
    w.record('a', 5, 'r5', 2, 9)
    expect(w.snapshot()).toEqual(v.snapshot())
  })

  it('forgets clients with nothing executed within the horizon, keeps the others', () => {
    const t = new ClientTable()
    t.record('old', 1, 'x', 5)
    t.record('recent', 1, 'y', 90)
    expect(t.expire(100, 50)).toBe(1)
    expect(t.size).toBe(1)
    expect(t.classify('recent', 1)).toBe('done') // exactly-once still holds within the horizon
    expect(t.classify('old', 1)).toBe('new') // past the horizon: forgotten (documented)
  })

  it('the horizon is measured from the latest execution, not the first', () => {
    const t = new ClientTable()
    t.record('a', 1, 'x', 5)
    t.record('a', 2, 'y', 95)
    expect(t.expire(100, 50)).toBe(0)
    expect(t.classify('a', 2)).toBe('done')
  })

  it('a forgotten client that comes back with ids past the window is served, and its window restarts there', () => {
    const t = new ClientTable()
    for (let id = 1; id <= 600; id++) t.record('a', id, `r${id}`, id)
    t.expire(10_000, 1_000)
    expect(t.size).toBe(0)
    // before the horizon existed this id would have been refused as "ahead" of an empty floor
    expect(t.classify('a', 601)).toBe('new')
    t.record('a', 601, 'r601', 10_001)
    expect(t.classify('a', 601)).toBe('done')
    expect(t.classify('a', 602)).toBe('new')
    expect(t.classify('a', 600)).toBe('done') // at most once: lower ids count as done
    expect(t.classify('a', 601 + clientWindow)).toBe('new')
    expect(t.classify('a', 601 + clientWindow + 1)).toBe('ahead')
  })

  it('the same executions and expiries give the same snapshot (it is part of the state digest)', () => {
    const run = (): string => {
      const t = new ClientTable()
      for (let i = 0; i < 50; i++) t.record(`c${i % 7}`, Math.floor(i / 7) + 1, `r${i}`, i)
      t.expire(40, 10)
      return JSON.stringify(t.snapshot())
    }
    expect(run()).toBe(run())
  })

  it('restores snapshots written before the horizon existed (4 elements per client)', () => {
    const t = new ClientTable()
    t.restore([['a', 2, [], [[1, 'x', 7], [2, 'y', 9]]]])
    expect(t.classify('a', 2)).toBe('done')
    expect(t.expire(20, 10)).toBe(1) // lastSeq taken from its newest result (9)
  })
})
