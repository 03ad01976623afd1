import { describe, expect, it } from 'vitest'
import { UsualDurations, usualDurationsKeysMax } from '../../src/runtime/tasks/usual-durations.js'

describe("usual task durations (the yardstick of a worker's speed)", () => {
  it('answers the mean before the run, then folds successes in with weight 1/10', () => {
    const u = new UsualDurations()
    expect(u.take(['echo'], 100)).toBeUndefined()
    expect(u.take(['echo'], 200)).toBe(100)
    expect(u.take(['echo'], undefined)).toBeCloseTo(110)
    expect(u.take(['echo'], 110)).toBeCloseTo(110)
  })

  it('keys by the capability set in any order, ignores failures and bad durations', () => {
    const u = new UsualDurations()
    u.take(['b', 'a'], 50)
    expect(u.take(['a', 'b'], undefined)).toBe(50)
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) u.take(['a', 'b'], bad)
    expect(u.take(['a', 'b'], undefined)).toBe(50)
    expect(u.take(['c'], undefined)).toBeUndefined()
  })

  it('remembers at most usualDurationsKeysMax capability sets, dropping the least recently updated', () => {
    const u = new UsualDurations()
    for (let i = 0; i <= usualDurationsKeysMax; i++) u.take([`cap-${i}`], 10)
    expect(u.size).toBe(usualDurationsKeysMax)
    expect(u.take(['cap-0'], undefined)).toBeUndefined()
    expect(u.take([`cap-${usualDurationsKeysMax}`], undefined)).toBe(10)
  })
})
