/**
 * The swarm's scheduling logic, pure: no I/O, no clock, no randomness; everything is an argument.
 * - capabilities.ts: `capabilityMatch`, `eligible`, `matchThreshold` (0.7)
 * - scoring.ts: `bidScore`, `utilisation`, `chooseBid` (capability routing)
 * - performance.ts: `PerformanceTracker` (EWMA of outcomes)
 * - dht.ts: Kademlia XOR distance as kad-dht computes it, `dhtOwner`, `replicaSet`
 * - stealing.ts: `chooseVictim`, `stealCount`
 * - balancing.ts: `planMigrations`, `Balancer` (smoothed utilisation, per-task and per-node cool-down)
 * - failover.ts: `reassignments`
 */
export * from './types.js'
export * from './capabilities.js'
export * from './scoring.js'
export * from './performance.js'
export * from './dht.js'
export * from './stealing.js'
export * from './balancing.js'
export * from './failover.js'
