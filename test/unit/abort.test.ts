import { describe, expect, it } from 'vitest'
import { getEventListeners } from 'node:events'
import { anySignal } from '../../src/runtime/abort.js'

describe('anySignal: any of several signals, without a lasting mark on a long-lived one', () => {
  it('aborts with the reason of whichever source aborts first; at once when one already has', () => {
    const a = new AbortController()
    const b = new AbortController()
    const combined = anySignal(a.signal, undefined, b.signal)
    expect(combined.aborted).toBe(false)
    b.abort(new Error('b went'))
    expect(combined.aborted).toBe(true)
    expect((combined.reason as Error).message).toBe('b went')
    const early = anySignal(a.signal, AbortSignal.abort(new Error('already')))
    expect(early.aborted).toBe(true)
    expect((early.reason as Error).message).toBe('already')
  })

  it('leaves no listener on a long-lived source once each combined signal has aborted (a timeout among them)', async () => {
    const lifetime = new AbortController()
    const combined = Array.from({ length: 1_000 }, () => anySignal(lifetime.signal, AbortSignal.timeout(5)))
    expect(getEventListeners(lifetime.signal, 'abort').length).toBe(1_000)
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(combined.every(s => s.aborted)).toBe(true)
    expect(getEventListeners(lifetime.signal, 'abort').length).toBe(0)
    // and the lifetime still aborts what is in flight
    const inFlight = anySignal(lifetime.signal, AbortSignal.timeout(60_000))
    lifetime.abort(new Error('stopped'))
    expect(inFlight.aborted).toBe(true)
    expect((inFlight.reason as Error).message).toBe('stopped')
  })
})
