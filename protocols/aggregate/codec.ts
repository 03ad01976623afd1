/**
 * Wire ⇄ core conversion of push-sum masses. Pure: the decoded protobuf object becomes the plain shape
 * the core's `validateMessage` checks (src/core/gossip/aggregate.ts), which is the byte-level validation.
 */
import type { AggregateMessage } from '../../src/core/gossip/aggregate.js'
import type { Masses } from './aggregate.js'

export function toWire (message: AggregateMessage): Masses {
  return {
    epoch: message.epoch,
    root: message.root,
    weight: message.weight,
    rootMass: message.rootMass,
    numbers: message.numbers.map(([name, value, reporters]) => ({ name, value, reporters })),
    capabilities: message.capabilities.map(([name, mass]) => ({ name, mass })),
    maxima: message.maxima.map(([name, value]) => ({ name, value }))
  }
}

/** The core's input shape (unvalidated: the core's validateMessage decides). */
export function fromWire (masses: Masses): unknown {
  return {
    epoch: masses.epoch,
    root: masses.root,
    weight: masses.weight,
    rootMass: masses.rootMass,
    numbers: masses.numbers.map(n => [n.name, n.value, n.reporters]),
    capabilities: masses.capabilities.map(c => [c.name, c.mass]),
    maxima: masses.maxima.map(m => [m.name, m.value])
  }
}
