/**
 * The deterministic simulator over the pBFT core (src/core/pbft/replica.ts): hand-picked named
 * scenarios with what each must show, ≥ 500 seeded random scenarios across n=4 and n=7, and checks
 * that the simulator's invariants are not vacuous (they catch broken replicas).
 *
 * A failing seed prints the command that replays it: `npx tsc -p . && node dist/test/sim/run.js --seed S --n N`.
 */
import { describe, expect, it } from 'vitest'
import type { Effect } from '../../src/core/pbft/types.js'
import { Keyring } from './crypto.js'
import { KeyValueApp } from './app.js'
import { runScenario } from './network.js'
import type { RunResult } from './network.js'
import { pbftFactory } from './node.js'
import type { ReplicaFactory, ReplicaNode } from './node.js'
import { describeScenario } from './scenario.js'
import { censorScenarioFromSeed, namedScenarios, replayCommand, scenarioFromSeed } from './scenarios.js'

/** Seeds per replica count; runs are short (25-70 client requests each) to keep the file under a minute. */
const seedsN4 = 300
const seedsN7 = 200
const seedsPerTest = 50

function report (result: RunResult, forcedN: boolean): string {
  const lines = [
    describeScenario(result.scenario),
    ...result.violations.map(v => `  [${v.invariant}] at ${v.atMs} ms${v.replica !== undefined ? `, replica ${v.replica}` : ''}: ${v.detail}`),
    ...result.trace.slice(-30).map(line => `    ${line}`),
    `  replay: ${replayCommand(result.scenario, forcedN)}`
  ]
  return lines.join('\n')
}

function runNamed (name: string): RunResult {
  const make = namedScenarios[name]
  if (make === undefined) throw new Error(`no scenario ${name}`)
  const result = runScenario(make())
  expect(result.ok, report(result, false)).toBe(true)
  expect(result.stats.requestsDone).toBe(result.stats.requestsTotal)
  return result
}

describe('named scenarios', () => {
  it('normal case, n=4 and n=7: everything commits in view 0', () => {
    for (const name of ['normal-n4', 'normal-n7']) {
      const result = runNamed(name)
      expect(result.stats.maxView).toBe(0)
      expect(result.stats.dropReasons['bad-certificate'] ?? 0).toBe(0)
    }
  })

  it('primary crash: a view change, then every request finishes without it', () => {
    expect(runNamed('primary-crash').stats.maxView).toBeGreaterThanOrEqual(1)
  })

  it('primary torn crash (mid-step) and restart from its records', () => {
    const result = runNamed('primary-torn-crash-restart')
    expect(result.stats.restarts).toBe(1)
  })

  it('partition of the primary, then heal', () => {
    const result = runNamed('primary-partition-heal')
    expect(result.stats.maxView).toBeGreaterThanOrEqual(1)
    expect(result.stats.lostToPartitions).toBeGreaterThan(0)
  })

  it('n=7 split 3/4 with no quorum on either side, then heal', () => {
    runNamed('split-brain-n7')
  })

  it('equivocating primary: different batches for one sequence, nothing conflicting commits', () => {
    expect(runNamed('equivocating-primary').stats.byzantine.equivocations).toBeGreaterThan(0)
  })

  it('n=7 equivocating primary with a double-voting accomplice', () => {
    const result = runNamed('equivocating-primary-colluding-n7')
    expect(result.stats.byzantine['double-votes']).toBeGreaterThan(0)
    expect(result.stats.dropReasons.conflicting).toBeGreaterThan(0)
  })

  it('amnesia: the primary, then a backup during a view change, restart from no records', () => {
    expect(runNamed('amnesia-primary').stats.restarts).toBe(1)
    expect(runNamed('amnesia-backup').stats.restarts).toBe(1)
  })

  it('silent primary: the backups change view', () => {
    expect(runNamed('silent-primary').stats.maxView).toBeGreaterThanOrEqual(1)
  })

  it('forged signatures are dropped by the environment; forged certificates and fake pre-prepares by the core', () => {
    const result = runNamed('forgeries')
    expect(result.stats.badSignatureDrops).toBeGreaterThan(0)
    expect(result.stats.dropReasons['bad-certificate']).toBeGreaterThan(0)
    expect(result.stats.dropReasons['not-primary']).toBeGreaterThan(0)
  })

  it('n=7 replays of old-view messages and a fake primary, across crashes and view changes', () => {
    expect(runNamed('replay-old-views-n7').stats.byzantine.replays).toBeGreaterThan(0)
  })

  it('state transfer to a lagging replica; a lying snapshot is refused', () => {
    const result = runNamed('state-transfer-lying')
    expect(result.stats.stateTransfers).toBeGreaterThan(0)
  })

  it('n=7 VIEW-CHANGEs with prepared certificates left out (validly signed) by f replicas', () => {
    expect(runNamed('hidden-prepared-n7').stats.byzantine['hidden-prepared']).toBeGreaterThan(0)
  })

  it('a laggard that learns the stable checkpoint only from a view change fetches the state, asking again until answered', () => {
    expect(runNamed('state-transfer-retry').stats.stateTransfers).toBeGreaterThan(0)
  })

  it('a Byzantine primary re-proposes executed requests: none executes twice', () => {
    expect(runNamed('resubmitted-requests').stats.byzantine['resubmitted-requests']).toBeGreaterThan(0)
  })

  it('heavy loss and duplication, then calm', () => {
    runNamed('lossy')
  })
})

describe('censorship bound (issue 9): a primary that orders everyone but one client while the others keep it busy', () => {
  it('named: c0\'s requests finish within the liveness bound, through a view change the backups start', () => {
    const result = runNamed('censoring-primary-with-traffic')
    expect(result.stats.maxView).toBeGreaterThanOrEqual(1)
    expect(result.stats.dropReasons.censored).toBeGreaterThan(0)
    expect(result.stats.byzantine['censored-requests']).toBeGreaterThan(0)
  })

  // 20 seeds here (each runs thousands of requests); `node dist/test/sim/run.js --seeds 500 --family censor` runs more
  it('the censor family, seeds 1-20 (n = 4 and 7, one or two censoring primaries)', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const result = runScenario(censorScenarioFromSeed(seed))
      expect(result.ok, report(result, false)).toBe(true)
      expect(result.stats.requestsDone).toBe(result.stats.requestsTotal)
    }
  }, 300_000)
})

describe('named scenarios: idle catch-up (issue 9) — no client traffic after the last fault', () => {
  it('the old primary restarts after a view change and the mesh goes idle: it learns view 1 and fetches every batch it missed', () => {
    const result = runNamed('restart-after-view-change-idle')
    expect(result.stats.restarts).toBe(1)
    expect(result.stats.maxView).toBe(1)
    expect(result.stats.sentByType['log-entry']).toBeGreaterThan(0)
    expect(result.stats.stateTransfers).toBe(0)
    expect(result.stats.idleCatchUpMs).toBeGreaterThan(0)
    // the restarted old primary left view 0 for the view f+1 others proved, and runs in it
    expect(result.stats.finalViews[0]).toEqual({ view: 1, active: true })
  })

  it('the same with frequent checkpoints: the stable checkpoint by state transfer, then the batches after it', () => {
    const result = runNamed('restart-after-view-change-idle-checkpoints')
    expect(result.stats.stateTransfers).toBeGreaterThan(0)
    expect(result.stats.idleCatchUpMs).toBeGreaterThan(0)
  })

  it('n=7: a backup cut off while the others commit catches up once its links are back, with no client traffic', () => {
    const result = runNamed('partitioned-backup-idle-n7')
    expect(result.stats.idleCatchUpMs).toBeGreaterThan(0)
  })
})

describe('named scenarios: the primary\'s pipeline bound, clients that reach every replica (forward: false)', () => {
  it('requests sent to every replica with forward: false: no FORWARD at all in the normal case', () => {
    const result = runNamed('normal-no-forward-n4')
    expect(result.stats.maxView).toBe(0)
    expect(result.stats.sentByType.forward ?? 0).toBe(0)
  })

  it('every copy to the honest primary lost: the backups pass each request on after retransmitMs, no view change', () => {
    const result = runNamed('primary-copy-dropped')
    expect(result.stats.maxView).toBe(0)
    expect(result.stats.clientRequestsLost).toBeGreaterThanOrEqual(result.stats.requestsTotal)
    expect(result.stats.sentByType.forward).toBeGreaterThan(0)
    expect(result.stats.requestsDoneAtMs).toBeLessThan(result.scenario.healAtMs) // done while the loss still held
  })

  it('forward: false and a primary that crashed for good: a view change orders what it never saw', () => {
    expect(runNamed('primary-crash-no-forward').stats.maxView).toBeGreaterThanOrEqual(1)
  })

  it('a primary that never orders one client\'s requests: they commit after a view change', () => {
    const result = runNamed('censoring-primary')
    expect(result.stats.byzantine['censored-requests']).toBeGreaterThan(0)
    expect(result.stats.maxView).toBeGreaterThanOrEqual(1)
  })

  it('pipelineMax 1: what waits goes out together in the next batch', () => {
    const result = runNamed('pipeline-one')
    expect(result.stats.maxView).toBe(0)
    expect(result.stats.largestBatch).toBeGreaterThan(result.scenario.clients.pipeline)
  })
})

describe('seeded random scenarios', () => {
  const batches: Array<{ n: number, first: number, count: number }> = []
  for (let first = 1; first <= seedsN4; first += seedsPerTest) batches.push({ n: 4, first, count: Math.min(seedsPerTest, seedsN4 - first + 1) })
  for (let first = 1; first <= seedsN7; first += seedsPerTest) batches.push({ n: 7, first, count: Math.min(seedsPerTest, seedsN7 - first + 1) })

  it.each(batches)('n=$n, seeds from $first ($count seeds)', ({ n, first, count }) => {
    const failures: string[] = []
    for (let seed = first; seed < first + count; seed++) {
      const result = runScenario(scenarioFromSeed(seed, n))
      if (!result.ok) failures.push(report(result, true))
    }
    expect(failures, failures.join('\n\n')).toEqual([])
  })

  it('a seed replays exactly', () => {
    const a = runScenario(scenarioFromSeed(4242, 4))
    const b = runScenario(scenarioFromSeed(4242, 4))
    expect(b.stats).toEqual(a.stats)
    expect(b.trace).toEqual(a.trace)
  })
})

// ————————————————————————————————————————— the simulator checks something

/** The real core, with its effects rewritten for some replicas: a broken "honest" replica. */
function brokenFactory (rewrite: (id: number, effects: Effect[]) => Effect[]): ReplicaFactory {
  const wrap = (inner: ReplicaNode, id: number): ReplicaNode => ({ step: input => rewrite(id, inner.step(input)), status: () => inner.status() })
  return {
    create: (config, crypto, app, nowMs) => wrap(pbftFactory.create(config, crypto, app, nowMs), config.id),
    restore: (config, crypto, app, records, nowMs) => wrap(pbftFactory.restore(config, crypto, app, records, nowMs), config.id)
  }
}

function invariantsOf (result: RunResult): string[] {
  return result.violations.map(v => v.invariant)
}

describe('the invariants catch broken replicas', () => {
  it('a replica reporting another digest for a committed sequence breaks agreement', () => {
    const factory = brokenFactory((id, effects) => effects.map(e => id === 2 && e.type === 'committed' && e.seq === 3 ? { ...e, digest: 'f'.repeat(64) } : e))
    const result = runScenario(namedScenarios['normal-n4']?.() ?? assertNever(), { factory })
    expect(invariantsOf(result)).toContain('batch-digest')
  })

  it('a replica that skips a sequence breaks contiguity', () => {
    const factory = brokenFactory((id, effects) => effects.filter(e => !(id === 1 && e.type === 'committed' && e.seq === 2)))
    const result = runScenario(namedScenarios['normal-n4']?.() ?? assertNever(), { factory })
    expect(invariantsOf(result)).toContain('contiguous')
  })

  it('a replica that sends votes without persisting them breaks persist-before-send', () => {
    const factory = brokenFactory((id, effects) => effects.filter(e => !(id === 3 && e.type === 'persist')))
    const result = runScenario(namedScenarios['normal-n4']?.() ?? assertNever(), { factory })
    expect(invariantsOf(result)).toContain('persist-before-send')
  })

  it('a commit nobody voted for breaks commit-quorum', () => {
    const factory = brokenFactory((id, effects) => effects.map(e => id === 1 && e.type === 'committed' ? { ...e, view: e.view + 7 } : e))
    const result = runScenario(namedScenarios['normal-n4']?.() ?? assertNever(), { factory })
    expect(invariantsOf(result)).toContain('commit-quorum')
  })

  it('a primary that ignores pipelineMax breaks pipeline-bound', () => {
    const unbounded: ReplicaFactory = {
      create: (config, crypto, app, nowMs) => pbftFactory.create({ ...config, pipelineMax: undefined }, crypto, app, nowMs),
      restore: (config, crypto, app, records, nowMs) => pbftFactory.restore({ ...config, pipelineMax: undefined }, crypto, app, records, nowMs)
    }
    const result = runScenario(namedScenarios['pipeline-one']?.() ?? assertNever(), { factory: unbounded })
    expect(invariantsOf(result)).toContain('pipeline-bound')
  })

  it('a backup that forwards a request the client sent to everyone at once breaks forward-policy', () => {
    const eager = (inner: ReplicaNode): ReplicaNode => ({ step: input => inner.step(input.type === 'request' ? { ...input, forward: true } : input), status: () => inner.status() })
    const factory: ReplicaFactory = {
      create: (config, crypto, app, nowMs) => eager(pbftFactory.create(config, crypto, app, nowMs)),
      restore: (config, crypto, app, records, nowMs) => eager(pbftFactory.restore(config, crypto, app, records, nowMs))
    }
    const result = runScenario(namedScenarios['normal-no-forward-n4']?.() ?? assertNever(), { factory })
    expect(invariantsOf(result)).toContain('forward-policy')
  })

  it('backups that never pass requests on: a primary that lost every copy is replaced (the delayed forward is what avoids it)', () => {
    const factory = brokenFactory((_id, effects) => effects.filter(e => !(e.type === 'send' && e.message.type === 'forward')))
    const result = runScenario(namedScenarios['primary-copy-dropped']?.() ?? assertNever(), { factory })
    expect(result.stats.sentByType.forward ?? 0).toBe(0)
    expect(result.stats.maxView).toBeGreaterThanOrEqual(1)
  })

  it('replicas that stop sending break liveness, within the bound', () => {
    const factory = brokenFactory((id, effects) => id >= 2 ? effects.filter(e => e.type !== 'send') : effects)
    const scenario = namedScenarios['normal-n4']?.() ?? assertNever()
    scenario.livenessBoundMs = 2_000
    const result = runScenario(scenario, { factory })
    expect(invariantsOf(result)).toEqual(['liveness'])
    expect(result.stats.simulatedMs).toBeLessThan(2_000 + 500)
  })

  it('signatures: only the owner of a key signs for it; the app is deterministic', () => {
    const keyring = new Keyring(4, 1)
    const signature = keyring.cryptoFor(1).sign('data')
    expect(keyring.verify(1, 'data', signature)).toBe(true)
    expect(keyring.verify(0, 'data', signature)).toBe(false)
    expect(keyring.verify(1, 'other', signature)).toBe(false)
    const a = new KeyValueApp()
    const b = new KeyValueApp()
    for (const app of [a, b]) {
      expect(app.apply({ client: 'c', requestId: 1, operation: 'put k 5' }, 1)).toBe('ok nil')
      expect(app.apply({ client: 'c', requestId: 2, operation: 'add k 2' }, 2)).toBe('7')
    }
    expect(a.digest()).toBe(b.digest())
    b.restore(a.snapshot())
    expect(b.apply({ client: 'c', requestId: 3, operation: 'get k' }, 3)).toBe('7')
  })
})

function assertNever (): never {
  throw new Error('missing named scenario')
}
