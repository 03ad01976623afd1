/**
 * What the simulator drives: anything with the Replica's step/status surface. The pBFT core is plugged
 * in through a factory so the simulator can also run a Byzantine decorator around it, or (in its own
 * tests) a stand-in.
 */
import { Replica } from '../../src/core/pbft/replica.js'
import type { Application, Crypto, Effect, Input, PersistRecord, ReplicaConfig, ReplicaId } from '../../src/core/pbft/types.js'

export type { ReplicaStatus } from '../../src/core/pbft/replica.js'
import type { ReplicaStatus } from '../../src/core/pbft/replica.js'

export interface ReplicaNode {
  step: (input: Input) => Effect[]
  status: () => ReplicaStatus
}

export interface ReplicaFactory {
  create: (config: ReplicaConfig, crypto: Crypto, app: Application, nowMs: number) => ReplicaNode
  restore: (config: ReplicaConfig, crypto: Crypto, app: Application, records: PersistRecord[], nowMs: number) => ReplicaNode
}

/** The real core: src/core/pbft/replica.ts. */
export const pbftFactory: ReplicaFactory = {
  create: (config, crypto, app, nowMs) => new Replica(config, crypto, app, nowMs),
  restore: (config, crypto, app, records, nowMs) => Replica.restore(config, crypto, app, records, nowMs)
}
