/**
 * The chaos harness in CI (issue 13): a 2-minute seeded run of `npm run chaos` — 4 pBFT validators and
 * 2 workers as real processes, concurrent memory-store and task clients, kill -9 + restart,
 * SIGSTOP/SIGCONT and (as root, in network namespaces) partitions, one at a time and mixed — then the
 * checker verdicts: the key-value history is linearizable, plain reads are prefix-consistent and
 * monotonic per session, every acknowledged write survives the heal, and every task completed once with
 * one result and ran at most once per assignment. No timing thresholds: a slow box gives fewer
 * operations, never a failure. The full history is written to the temp directory for inspection.
 * MESH_CHAOS_MINUTES / MESH_CHAOS_SEED / MESH_CHAOS_ENGINE override the defaults.
 */
import { describe, expect, it } from 'vitest'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runChaos, summarize, writeHistory } from './chaos.js'

const minutes = Number(process.env.MESH_CHAOS_MINUTES ?? 2)
const seed = Number(process.env.MESH_CHAOS_SEED ?? 13)
const engine = process.env.MESH_CHAOS_ENGINE === 'raft' ? 'raft' : 'pbft'

describe('chaos: faults against real processes, history checked (issue 13)', () => {
  it(`${minutes}-minute seeded run (seed ${seed}, ${engine}): linearizable, acknowledged writes survive, tasks once per assignment`, async () => {
    const report = await runChaos({ minutes, seed, engine, partitions: true })
    const out = join(tmpdir(), `mesh-chaos-ci-${seed}-${process.pid}.json`)
    writeHistory(report, out)
    console.log(`${summarize(report)}\nhistory: ${out}`)
    // the run did something: faults were injected and operations were checked
    expect(report.faultLog.length).toBeGreaterThan(0)
    expect(report.linearizability.operations).toBeGreaterThan(0)
    expect(report.linearizability.failures, 'non-linearizable keys (minimal sub-histories)').toEqual([])
    expect(report.linearizability.ok).toBe(true)
    expect(report.sequential.violations, 'plain-read violations').toEqual([])
    expect(report.survival.violations, 'acknowledged writes lost').toEqual([])
    expect(report.tasks.violations, 'task violations').toEqual([])
    expect(report.ok).toBe(true)
  }, (minutes * 60 + 600) * 1000)
})
