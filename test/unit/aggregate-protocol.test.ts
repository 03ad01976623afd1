/**
 * The aggregate wire format (protocols/aggregate/): masses survive encode → decode → the core's
 * validation unchanged, and the decoder's limits and the core's checks refuse what they must.
 */
import { describe, expect, it } from 'vitest'
import { AggregateReply, Masses } from '../../protocols/aggregate/aggregate.js'
import { fromWire, toWire } from '../../protocols/aggregate/codec.js'
import { aggregateMessageBytesMax, aggregateProtocolId } from '../../protocols/aggregate/constants.js'
import { aggregateLimits, validateMessage } from '../../src/core/gossip/aggregate.js'
import type { AggregateMessage } from '../../src/core/gossip/aggregate.js'

const sample: AggregateMessage = {
  epoch: 59_883_497,
  root: '12D3KooWAbCdEfGhIjKlMnOpQrStUvWxYz1234567890abcdefgh',
  weight: 0.4375,
  rootMass: 0.0364583,
  numbers: [['cpu', 0.12, 0.4375], ['test', -3.5, 0.4375]],
  capabilities: [['gpu', 0.25], ['wasm', 0]],
  maxima: [['cpu', 0.61], ['test', 99]]
}

describe('aggregate wire format', () => {
  it('round-trips a message exactly (doubles, negative value masses, zero masses)', () => {
    const bytes = Masses.encode(toWire(sample))
    expect(validateMessage(fromWire(Masses.decode(bytes)))).toEqual(sample)
    const reply = AggregateReply.decode(AggregateReply.encode({ accepted: true, masses: toWire(sample) }))
    expect(reply.accepted).toBe(true)
    expect(validateMessage(fromWire(reply.masses as Masses))).toEqual(sample)
    expect(AggregateReply.decode(AggregateReply.encode({ accepted: false })).masses).toBeUndefined()
  })

  it('the largest message the core allows fits the frame limit', () => {
    const name = (prefix: string, i: number): string => `${prefix}${i}`.padEnd(aggregateLimits.nameLengthMax, 'x')
    const biggest: AggregateMessage = {
      ...sample,
      root: 'r'.repeat(aggregateLimits.peerIdLengthMax),
      numbers: Array.from({ length: aggregateLimits.attributesMax }, (_, i) => [name('n', i), -1e15 / 3, 1e6 / 3]),
      capabilities: Array.from({ length: aggregateLimits.capabilitiesMax }, (_, i) => [name('c', i), 1e6 / 3]),
      maxima: Array.from({ length: aggregateLimits.attributesMax }, (_, i) => [name('n', i), 1e15 / 3])
    }
    expect(validateMessage(biggest)).toEqual(biggest)
    expect(Masses.encode(toWire(biggest)).byteLength).toBeLessThan(aggregateMessageBytesMax)
  })

  it('the decoder refuses more entries than the core tracks; the core refuses bad values', () => {
    const tooMany = { ...toWire(sample), capabilities: Array.from({ length: aggregateLimits.capabilitiesMax + 1 }, (_, i) => ({ name: `c${i}`, mass: 0 })) }
    const bytes = Masses.encode(tooMany)
    expect(() => Masses.decode(bytes, { limits: { capabilities: aggregateLimits.capabilitiesMax } })).toThrow()
    expect(validateMessage(fromWire({ ...toWire(sample), weight: Number.NaN }))).toBe('not-finite')
    expect(validateMessage(fromWire({ ...toWire(sample), root: '' }))).toBe('malformed')
    expect(() => Masses.decode(new Uint8Array([0xff, 0xff, 0xff]))).toThrow()
  })

  it('protocol id', () => {
    expect(aggregateProtocolId('lab')).toBe('/mesh/lab/aggregate/1.0.0')
  })
})
