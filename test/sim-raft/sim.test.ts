/**
 * The deterministic simulator over the Raft core (src/core/raft/): named scenarios with what each
 * must show, 1,000 seeded random scenarios (3 or 5 voters; crashes, torn crashes, partitions, leader
 * isolation, transfers, learner add/promote/remove, on a lossy, duplicating, reordering network), and
 * checks that the invariants are not vacuous (deliberately broken nodes are caught).
 *
 * Replay a failing seed: `npx tsc -p tsconfig.json && node dist/test/sim-raft/run.js --seed S --trace`.
 */
import { describe, expect, it } from 'vitest'
import { runRaftScenario } from './network.js'
import type { RunResult } from './network.js'
import { describeScenario, namedScenarios, scenarioFromSeed } from './scenarios.js'

/** 4 × 250 = 1,000 seeds; a run takes a few milliseconds, the whole file well under a minute. */
const seedBatches = 4
const seedsPerBatch = 250

function report (result: RunResult): string {
  return [
    describeScenario(result.scenario),
    ...result.violations.map(v => `  [${v.invariant}] at ${v.atMs} ms${v.node != null ? `, node ${v.node}` : ''}: ${v.detail}`),
    ...result.trace.slice(-30).map(line => `    ${line}`),
    `  replay: node dist/test/sim-raft/run.js --seed ${result.scenario.seed} --trace`
  ].join('\n')
}

function runNamed (name: string): RunResult {
  const make = namedScenarios[name]
  if (make === undefined) throw new Error(`no scenario ${name}`)
  const result = runRaftScenario(make())
  expect(result.ok, report(result)).toBe(true)
  expect(result.stats.operationsDone).toBe(result.stats.operationsTotal)
  return result
}

describe('named scenarios', () => {
  it('normal case with 3 and 5 voters: one leader, one term', () => {
    for (const name of ['normal-3', 'normal-5']) {
      const result = runNamed(name)
      expect(result.stats.leaders).toBe(1)
      expect(result.stats.maxTerm).toBe(2)
    }
  })

  it('leader crash: a new leader, the old one restarts from its records and catches up', () => {
    const result = runNamed('leader-crash')
    expect(result.stats.leaders).toBeGreaterThanOrEqual(2)
    expect(result.stats.restarts).toBe(1)
  })

  it('leader torn crash (a prefix of one step persisted), restart', () => {
    expect(runNamed('leader-torn-crash').stats.restarts).toBe(1)
  })

  it('leader partitioned: check-quorum makes it step down, the majority elects another', () => {
    const result = runNamed('leader-partition-check-quorum')
    expect(result.stats.stepDowns).toBeGreaterThanOrEqual(1)
    expect(result.stats.leaders).toBeGreaterThanOrEqual(2)
  })

  it('a node cut off for long rejoins without disrupting the leader (pre-vote): one leader, term 2 throughout', () => {
    const result = runNamed('rejoin-prevote')
    expect(result.stats.leaders).toBe(1)
    expect(result.stats.maxTerm).toBe(2)
  })

  it('log divergence (repeatedly isolated leaders, a crash) is repaired', () => {
    expect(runNamed('log-divergence').stats.leaders).toBeGreaterThanOrEqual(3)
  })

  it('a far-behind follower gets the snapshot in chunks', () => {
    expect(runNamed('snapshot-far-behind').stats.snapshotsInstalled).toBeGreaterThanOrEqual(1)
  })

  it('learner added, promoted, a voter removed, under load', () => {
    expect(runNamed('learner-add-promote-remove').stats.membershipChanges).toBe(3)
  })

  it('leadership transfers', () => {
    expect(runNamed('leadership-transfer').stats.leaders).toBeGreaterThanOrEqual(3)
  })

  it('ReadIndex across a deposed leader: reads fail over, none is stale', () => {
    const result = runNamed('read-index-deposed-leader')
    expect(result.stats.readsDone).toBeGreaterThan(10)
  })
})

describe('the invariants are not vacuous', () => {
  it('reads served locally without ReadIndex are caught as stale', () => {
    const result = runRaftScenario((namedScenarios['broken-stale-reads'] as () => ReturnType<typeof scenarioFromSeed>)())
    expect(result.ok).toBe(false)
    expect(result.violations[0]?.invariant).toBe('linearizable-read')
  })

  it('voters that ignore the election restriction elect a leader missing committed entries: caught', () => {
    const result = runRaftScenario((namedScenarios['broken-votes'] as () => ReturnType<typeof scenarioFromSeed>)())
    expect(result.ok).toBe(false)
    expect(['leader-completeness', 'state-machine-safety', 'log-matching']).toContain(result.violations[0]?.invariant)
  })
})

describe('seeded random scenarios', () => {
  for (let batch = 0; batch < seedBatches; batch++) {
    const first = batch * seedsPerBatch + 1
    it(`seeds ${first}..${first + seedsPerBatch - 1}`, () => {
      const failures: string[] = []
      for (let seed = first; seed < first + seedsPerBatch; seed++) {
        const result = runRaftScenario(scenarioFromSeed(seed))
        if (!result.ok) failures.push(report(result))
      }
      expect(failures.slice(0, 3).join('\n\n')).toBe('')
    })
  }
})
