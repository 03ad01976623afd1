/**
 * canonicalJson (src/core/pbft/types.ts) was rewritten as loops for speed: its text must stay exactly
 * that of the former definition (signatures and digests of every replica depend on it), checked on
 * seeded random values with every kind of member, and on the edge cases it defines.
 */
import { describe, expect, it } from 'vitest'
import { canonicalJson } from '../../src/core/pbft/types.js'

/** The former definition, verbatim. */
function reference (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

function generator (seed: number): () => number {
  let state = seed >>> 0
  return () => { state = (state * 1664525 + 1013904223) >>> 0; return state / 2 ** 32 }
}

function randomValue (random: () => number, depth: number): unknown {
  const keys = ['a', 'B', 'é', '😀', '10', '2', '', 'type', 'z\u0000', '\ud800']
  const pick = random()
  if (depth <= 0 || pick < 0.4) {
    const leaves: unknown[] = [null, undefined, true, false, 0, -0, 1.5, -3, 1e21, 2 ** 53, Number.NaN, 'x', 'é😀\n"\\', '\u2028', '']
    return leaves[Math.floor(random() * leaves.length)]
  }
  if (pick < 0.7) return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth - 1))
  const out: Record<string, unknown> = {}
  for (let i = Math.floor(random() * 5); i > 0; i--) out[keys[Math.floor(random() * keys.length)] as string] = randomValue(random, depth - 1)
  return out
}

describe('canonicalJson', () => {
  it('gives exactly the former text on 5,000 seeded random values', () => {
    const random = generator(7)
    for (let i = 0; i < 5_000; i++) {
      const value = randomValue(random, 4)
      expect(canonicalJson(value)).toBe(reference(value))
    }
  })

  it('sorts keys at every level, skips undefined members, keeps an array\'s undefined element as empty text', () => {
    expect(canonicalJson({ b: 1, a: { d: [undefined, 2], c: undefined } })).toBe('{"a":{"d":[,2]},"b":1}')
    expect(canonicalJson({ b: 1, a: { d: [undefined, 2], c: undefined } })).toBe(reference({ b: 1, a: { d: [undefined, 2], c: undefined } }))
  })
})
