/**
 * One chaos run (issue 13): start the cluster (test/chaos/cluster.ts), run the workload
 * (test/chaos/workload.ts) and the nemesis (test/chaos/nemesis.ts) together for the given minutes, heal,
 * read every key back, wait for every task, then check the recorded history:
 *   1. linearizability of writes and `?linearizable=1` reads (test/chaos/linearizability.ts);
 *   2. plain reads: prefix consistency and monotonic sessions (test/chaos/sequential.ts);
 *   3. every acknowledged write survives: after heal, the final linearizable read of each key shows the
 *      acknowledged write with the highest decision seq, or a later write (an indeterminate one), and
 *      every node, once caught up, shows the same through plain reads (checked by 2);
 *   4. tasks: every accepted task completes, with one accepted result (equal to its payload: the handler
 *      echoes it) and one `completed` event, and its handler ran at most once per assignment per node
 *      life (a restart after kill -9 may run a short task of the same assignment again: documented
 *      at-least-once on a crash) and at least once.
 */
import { writeFileSync } from 'node:fs'
import { api, sleep } from '../e2e/harness.js'
import type { NodeProcess } from '../e2e/harness.js'
import { ChaosCluster } from './cluster.js'
import type { ChaosNode, TaskRun } from './cluster.js'
import { checkHistory, describeOperation, minimalFailingSubHistory } from './linearizability.js'
import type { HistoryVerdict, KvOperation } from './linearizability.js'
import { Nemesis } from './nemesis.js'
import type { FaultRecord } from './nemesis.js'
import { checkPlainReads } from './sequential.js'
import type { KnownWrite, PlainRead, SequentialVerdict } from './sequential.js'
import { classifyRead, namespace, Recorder, Workload } from './workload.js'
import type { RecordedOperation } from './workload.js'

export interface ChaosOptions {
  minutes: number
  seed: number
  engine: 'pbft' | 'raft'
  /** Try network namespaces for partitions (needs root). */
  partitions: boolean
  kvClients?: number
  taskClients?: number
  keys?: number
  log?: (line: string) => void
}

export interface TaskVerdict {
  ok: boolean
  submitted: number
  accepted: number
  indeterminate: number
  completed: number
  runs: number
  /** Tasks run more than once (allowed only across a crash or a reassignment). */
  rerun: number
  /** Completed tasks whose history shows a failure verdict (`reassigned`) / a restarted holder giving its run back (`released`). */
  reassigned: number
  released: number
  violations: string[]
}

export interface ChaosReport {
  ok: boolean
  seed: number
  engine: string
  minutes: number
  partitions: string
  faults: Record<string, number>
  faultLog: FaultRecord[]
  operations: Record<string, Record<string, number>>
  linearizability: { ok: boolean, unknown: boolean, operations: number, keys: number, elapsedMs: number, failures: Array<{ key: string, minimal: string[] }> }
  sequential: { ok: boolean, reads: number, sessions: number, regressionsAcrossRestarts: number, violations: string[] }
  survival: { ok: boolean, keys: number, violations: string[] }
  tasks: TaskVerdict
  recovered: boolean
  /** Liveness, for the reader (never a verdict): acknowledged writes and the longest stretch without one while the workload ran (s). */
  availability: { writesAcknowledged: number, writesAttempted: number, longestGapS: number, gapFromS: number }
  notes: string[]
  history: RecordedOperation[]
  taskRuns: TaskRun[]
}

/** The recorded operations the linearizability checker sees: writes (ok or info) and linearizable reads (ok). */
export function toKvOperations (ops: RecordedOperation[]): KvOperation[] {
  const out: KvOperation[] = []
  for (const op of ops) {
    if (op.key == null || op.outcome === 'fail') continue
    if (op.type === 'put') {
      out.push({ id: op.id, client: op.client, key: op.key, kind: 'put', value: op.value, call: op.call, return: op.outcome === 'ok' ? op.return : Infinity, output: op.outcome === 'ok' ? { ok: true } : undefined })
    } else if (op.type === 'delete') {
      out.push({ id: op.id, client: op.client, key: op.key, kind: 'delete', call: op.call, return: op.outcome === 'ok' ? op.return : Infinity, output: op.outcome === 'ok' ? { deleted: op.deleted === true } : undefined })
    } else if (op.type === 'get' && op.outcome === 'ok') {
      out.push({ id: op.id, client: op.client, key: op.key, kind: 'get', call: op.call, return: op.return, output: { value: op.read ?? null } })
    }
  }
  return out
}

export function writesOf (ops: RecordedOperation[]): KnownWrite[] {
  return ops.filter(op => (op.type === 'put' || op.type === 'delete') && op.outcome !== 'fail' && op.key != null)
    .map(op => ({ id: op.id, key: op.key as string, kind: op.type as 'put' | 'delete', value: op.value, call: op.call, seq: op.outcome === 'ok' ? (op.seq ?? null) : null }))
}

export function plainReadsOf (ops: RecordedOperation[]): PlainRead[] {
  return ops.filter(op => op.type === 'get-plain' && op.outcome === 'ok' && op.lastApplied != null)
    .map(op => ({ id: op.id, client: op.client, key: op.key as string, node: op.node, pid: op.pid, call: op.call, return: op.return, value: op.read ?? null, seq: op.seq ?? null, lastApplied: op.lastApplied as number }))
}

/** After heal: the acknowledged write with the highest seq of each key is what the final read shows, or something newer. */
export function checkSurvival (ops: RecordedOperation[], finals: RecordedOperation[], keys: string[]): { ok: boolean, keys: number, violations: string[] } {
  const violations: string[] = []
  for (const key of keys) {
    const final = finals.find(f => f.key === key && f.outcome === 'ok')
    if (final == null) { violations.push(`${key}: no final read succeeded`); continue }
    const writes = ops.filter(op => op.key === key && (op.type === 'put' || op.type === 'delete') && op.outcome !== 'fail' && op.client !== -1)
    const acked = writes.filter(op => op.outcome === 'ok' && op.seq != null)
    if (acked.length === 0) continue
    // the newest acknowledged writes (several share a seq when one bundle carried them)
    const lastSeq = Math.max(...acked.map(op => op.seq as number))
    const last = acked.filter(op => op.seq === lastSeq)
    const describe = last.map(op => `#${op.id} ${op.type}${op.value != null ? ` ${op.value}` : ''}`).join(', ')
    const indeterminate = writes.filter(op => op.outcome === 'info')
    if (final.read == null) {
      // absent: the newest acknowledged write was a delete, or a delete whose answer never came may be later
      if (!last.some(op => op.type === 'delete') && !indeterminate.some(op => op.type === 'delete')) {
        violations.push(`${key}: the newest acknowledged write (seq ${lastSeq}: ${describe}) is lost: the final read shows nothing and no delete can be later`)
      }
    } else {
      const shown = final.seq ?? -1
      const writer = writes.find(op => op.type === 'put' && op.value === final.read)
      const explained = shown > lastSeq ? writer != null && (writer.outcome === 'info' || writer.seq === shown) : shown === lastSeq && (last.some(op => op.type === 'put' && op.value === final.read) || writer?.outcome === 'info')
      if (!explained) violations.push(`${key}: the newest acknowledged write (seq ${lastSeq}: ${describe}) is lost: the final read shows ${final.read} (seq ${shown})`)
    }
  }
  return { ok: violations.length === 0, keys: keys.length, violations }
}

interface TaskView { id: string, state: string, assignee: string | null, assignment: number, result?: string, error?: string, payload: string, history: Array<{ seq: number, event: string, node?: string, assignment: number }> }

async function checkTasks (cluster: ChaosCluster, recorder: Recorder, workload: Workload, killed: Map<string, number>, log: (line: string) => void, timeoutMs: number): Promise<TaskVerdict> {
  const submits = recorder.operations.filter(op => op.type === 'task-submit')
  const accepted = new Set(submits.filter(op => op.outcome === 'ok').map(op => op.key as string))
  const indeterminate = submits.filter(op => op.outcome === 'info').map(op => op.key as string)
  const violations: string[] = []
  const views = new Map<string, TaskView | null>()
  /** the last answer for a task not finished yet: what a violation reports */
  const lastSeen = new Map<string, TaskView>()
  const deadline = Date.now() + timeoutMs
  let pending = [...workload.taskIds]
  while (pending.length > 0 && Date.now() < deadline) {
    const still: string[] = []
    for (const [i, id] of pending.entries()) {
      // the deadline bounds a pass too (a stalled validator answers nothing for seconds)
      if (Date.now() > deadline) { still.push(id); continue }
      const node = cluster.nodes[i % cluster.nodes.length] as ChaosNode
      const res = await api<TaskView & { error?: string }>(node.process as NodeProcess, 'GET', `/v1/tasks/${encodeURIComponent(id)}`, undefined, 5_000).catch(() => null)
      if (res == null) { still.push(id); continue }
      if (res.status === 404) {
        // an indeterminate submit that never took effect; an accepted one must exist
        if (accepted.has(id)) still.push(id)
        else views.set(id, null)
        continue
      }
      const view = res.body
      if (view.state === 'completed' || view.state === 'failed' || view.state === 'cancelled') views.set(id, view)
      else { still.push(id); lastSeen.set(id, view) }
    }
    pending = still
    if (pending.length > 0) await sleep(1_000)
  }
  const peerName = new Map(cluster.nodes.map(n => [n.process?.runtime.peerId ?? '', n.name]))
  const story = (view: TaskView): string => view.history.map(h => `${h.event}${h.node != null ? `@${peerName.get(h.node) ?? h.node.slice(-6)}` : ''}#${h.assignment}`).join(' ')
  for (const id of pending) {
    const seen = lastSeen.get(id)
    const where = seen == null ? '' : `: last seen ${seen.state}${seen.assignee != null ? ` on ${peerName.get(seen.assignee) ?? seen.assignee.slice(-6)}` : ''} at assignment ${seen.assignment}: ${story(seen)}`
    violations.push(`${id}: not finished (or, if accepted, not found) ${Math.round(timeoutMs / 1000)} s after heal${where}`)
  }

  const runs = cluster.runs()
  const runsOf = new Map<string, TaskRun[]>()
  for (const run of runs) {
    let list = runsOf.get(run.task)
    if (list == null) { list = []; runsOf.set(run.task, list) }
    list.push(run)
  }
  let completed = 0
  let rerun = 0
  let reassigned = 0
  let released = 0
  for (const [id, view] of views) {
    const ran = runsOf.get(id) ?? []
    if (view == null) {
      if (ran.length > 0) violations.push(`${id}: never submitted (404) but its handler ran ${ran.length} time(s)`)
      continue
    }
    const history = story(view)
    if (view.state !== 'completed') { violations.push(`${id}: ended ${view.state} (${view.error ?? ''}): ${history}`); continue }
    completed++
    if (view.result !== view.payload) violations.push(`${id}: accepted result ${String(view.result).slice(0, 80)} is not the handler's echo of ${view.payload.slice(0, 80)}`)
    const completions = view.history.filter(h => h.event === 'completed').length
    if (completions !== 1) violations.push(`${id}: ${completions} completed events: ${history}`)
    if (ran.length === 0) violations.push(`${id}: completed but its handler never ran: ${history}`)
    if (ran.length > 1) rerun++
    if (view.history.some(h => h.event === 'reassigned')) reassigned++
    if (view.history.some(h => h.event === 'released')) released++
    // at most once per assignment per node life
    const complete = view.history[0]?.event === 'submitted'
    const perLife = new Map<string, number>()
    for (const r of ran) perLife.set(`${r.node} ${r.nodePid}`, (perLife.get(`${r.node} ${r.nodePid}`) ?? 0) + 1)
    for (const [life, count] of perLife) {
      const node = life.split(' ')[0] as string
      const assignments = new Set(view.history.filter(h => h.node != null && peerName.get(h.node) === node && h.event !== 'completed' && h.event !== 'failed').map(h => h.assignment)).size
      if (complete ? count > Math.max(1, assignments) : count > view.assignment) {
        violations.push(`${id}: ran ${count} times in one life of ${node} (pid ${life.split(' ')[1] ?? ''}), which held ${assignments} assignment(s): ${history}`)
      }
    }
    // across lives and nodes: at most one run per assignment, plus one per crash of a node that ran it
    const crashes = [...new Set(ran.map(r => r.node))].reduce((sum, node) => sum + (killed.get(node) ?? 0), 0)
    if (ran.length > view.assignment + crashes) violations.push(`${id}: ran ${ran.length} times for ${view.assignment} assignment(s) and ${crashes} crash(es) of its runners: ${history}`)
  }
  log(`tasks: ${views.size} checked, ${completed} completed, ${runs.length} handler runs`)
  return { ok: violations.length === 0, submitted: submits.length, accepted: accepted.size, indeterminate: indeterminate.length, completed, runs: runs.length, rerun, reassigned, released, violations }
}

/** Final reads after heal: one linearizable read of every key (retried until it answers) and plain reads on every caught-up node. */
async function finalReads (cluster: ChaosCluster, recorder: Recorder, keys: string[], timeoutMs: number): Promise<RecordedOperation[]> {
  const finals: RecordedOperation[] = []
  const validators = cluster.nodes.filter(n => n.role === 'validator')
  const deadline = Date.now() + timeoutMs
  for (const key of keys) {
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const node = validators[attempt % validators.length] as ChaosNode
      const op = await recorder.exchange(-1, 'get', node, 'GET', `/v1/memory/${namespace}/${key}?linearizable=1`, undefined, { key }, classifyRead)
      if (op.outcome === 'ok') { finals.push(op); break }
      await sleep(500)
    }
  }
  // every node, once it has applied up to the newest seq anyone was told, shows the same through plain reads
  const newest = Math.max(0, ...recorder.operations.map(op => op.outcome === 'ok' ? (op.seq ?? 0) : 0), ...finals.map(f => f.lastApplied ?? 0))
  for (const node of cluster.nodes) {
    while (Date.now() < deadline) {
      const res = await api<{ lastApplied?: number }>(node.process as NodeProcess, 'GET', '/v1/memory', undefined, 5_000).catch(() => null)
      if ((res?.body.lastApplied ?? -1) >= newest) break
      await sleep(500)
    }
    for (const key of keys) await recorder.exchange(-1, 'get-plain', node, 'GET', `/v1/memory/${namespace}/${key}`, undefined, { key }, classifyRead)
  }
  return finals
}

export async function runChaos (options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? ((line: string) => { console.log(line) })
  const cluster = new ChaosCluster(options.engine, options.partitions)
  const notes: string[] = []
  if (cluster.partitionsUnavailable != null) notes.push(`partitions skipped: ${cluster.partitionsUnavailable}`)
  const recorder = new Recorder()
  const stamp = (line: string): void => { log(`[chaos +${(recorder.now() / 1000).toFixed(1)} s] ${line}`) }
  const keyCount = options.keys ?? 5
  const workload = new Workload(cluster, recorder, { seed: options.seed, kvClients: options.kvClients ?? 6, taskClients: options.taskClients ?? 1, keys: keyCount })
  const keys = Array.from({ length: keyCount }, (_, i) => workload.key(i))
  const nemesis = new Nemesis(cluster, options.seed, () => recorder.now(), stamp)
  try {
    stamp(`seed ${options.seed}, engine ${options.engine}, ${options.minutes} min; ${cluster.partitionsUnavailable == null ? 'partitions on (network namespaces)' : `partitions skipped: ${cluster.partitionsUnavailable}`}; files in ${cluster.root}`)
    await cluster.setup(stamp)
    stamp(`cluster up: ${cluster.nodes.map(n => `${n.name} pid ${n.process?.pid ?? '-'}`).join(', ')}`)
    workload.start()
    // a few quiet seconds first, then faults until the end
    await sleep(3_000)
    nemesis.start()
    await sleep(Math.max(0, options.minutes * 60_000 - 3_000))
    stamp('stopping the nemesis and healing')
    await nemesis.stop().catch((err: unknown) => { notes.push(`heal incomplete: ${(err as Error).message}`) })
    // the workload runs on a few seconds across the heal, then stops
    await sleep(3_000)
    await workload.stop()
    stamp(`workload stopped: ${recorder.operations.length} operations`)
    let recovered = true
    try {
      await cluster.waitHealthy(180_000, stamp)
    } catch (err) {
      recovered = false
      notes.push(`the cluster did not recover within 180 s of the heal: ${(err as Error).message}`)
    }
    stamp(recovered ? 'cluster healthy after heal' : 'cluster NOT healthy after heal')
    const finals = await finalReads(cluster, recorder, keys, 180_000)
    const killed = new Map<string, number>()
    for (const f of nemesis.faults) if (f.kind === 'kill') for (const t of f.targets) killed.set(t, (killed.get(t) ?? 0) + 1)
    const tasks = await checkTasks(cluster, recorder, workload, killed, stamp, 240_000)

    const history = recorder.operations
    stamp('checking the history')
    const kv = toKvOperations(history)
    const lin: HistoryVerdict = checkHistory(kv)
    const failures = lin.keys.filter(k => !k.ok).map(k => {
      const minimal = k.unknown === true ? [] : minimalFailingSubHistory(kv.filter(op => op.key === k.key))
      return { key: k.key, minimal: k.unknown === true ? [`undecided within the step budget (${k.steps} steps)`] : minimal.map(op => describeOperation(op)) }
    })
    const seq: SequentialVerdict = checkPlainReads(plainReadsOf(history), writesOf(history))
    const survival = checkSurvival(history, finals, keys)
    const operations: Record<string, Record<string, number>> = {}
    for (const op of history) {
      const type = op.client === -1 ? `final ${op.type}` : op.type
      operations[type] ??= {}
      const byOutcome = operations[type] as Record<string, number>
      byOutcome[op.outcome] = (byOutcome[op.outcome] ?? 0) + 1
    }
    const writesRun = history.filter(op => op.client !== -1 && (op.type === 'put' || op.type === 'delete'))
    const ackTimes = writesRun.filter(op => op.outcome === 'ok').map(op => op.return).sort((a, b) => a - b)
    const workloadEnd = Math.max(0, ...writesRun.map(op => op.call))
    let longestGap = 0
    let gapFrom = 0
    let previous = writesRun[0]?.call ?? 0
    for (const t of [...ackTimes, workloadEnd]) {
      if (t - previous > longestGap) { longestGap = t - previous; gapFrom = previous }
      previous = Math.max(previous, t)
    }
    const report: ChaosReport = {
      ok: lin.ok && seq.ok && survival.ok && tasks.ok && finals.length === keys.length,
      seed: options.seed,
      engine: options.engine,
      minutes: options.minutes,
      partitions: cluster.partitionsUnavailable == null ? 'network namespaces' : `skipped: ${cluster.partitionsUnavailable}`,
      faults: nemesis.counts(),
      faultLog: nemesis.faults,
      operations,
      linearizability: { ok: lin.ok, unknown: lin.unknown, operations: lin.operations, keys: lin.keys.length, elapsedMs: Math.round(lin.elapsedMs), failures },
      sequential: { ok: seq.ok, reads: seq.reads, sessions: seq.sessions, regressionsAcrossRestarts: seq.regressionsAcrossRestarts, violations: seq.violations.slice(0, 50).map(v => `${v.rule}: #${v.read.id} client ${v.read.client} ${v.read.node} ${v.read.key}: ${v.reason}`) },
      survival,
      tasks,
      recovered,
      availability: { writesAcknowledged: ackTimes.length, writesAttempted: writesRun.length, longestGapS: Math.round(longestGap / 100) / 10, gapFromS: Math.round(gapFrom / 100) / 10 },
      notes,
      history,
      taskRuns: cluster.runs()
    }
    return report
  } finally {
    await workload.stop().catch(() => undefined)
    await cluster.stop()
  }
}

/** The summary a person reads: faults, operations, verdicts. */
export function summarize (report: ChaosReport): string {
  const lines: string[] = []
  lines.push(`chaos run: seed ${report.seed}, engine ${report.engine}, ${report.minutes} min, partitions: ${report.partitions}`)
  const faultTotal = Object.values(report.faults).reduce((a, b) => a + b, 0)
  lines.push(`faults injected (${faultTotal}): ${Object.entries(report.faults).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}${report.faultLog.some(f => f.error != null) ? `; ${report.faultLog.filter(f => f.error != null).length} failed to apply` : ''}`)
  lines.push('operations (ok / fail / info):')
  for (const [type, counts] of Object.entries(report.operations)) lines.push(`  ${type.padEnd(18)} ${counts.ok ?? 0} / ${counts.fail ?? 0} / ${counts.info ?? 0}`)
  const l = report.linearizability
  lines.push(`linearizability: ${l.ok ? 'OK' : l.unknown ? 'UNKNOWN' : 'VIOLATED'} — ${l.operations} operations on ${l.keys} keys checked in ${l.elapsedMs} ms`)
  for (const f of l.failures) {
    lines.push(`  key ${f.key}: minimal failing sub-history (${f.minimal.length} operations):`)
    for (const line of f.minimal) lines.push(`    ${line}`)
  }
  const s = report.sequential
  lines.push(`plain reads: ${s.ok ? 'OK' : 'VIOLATED'} — ${s.reads} reads in ${s.sessions} sessions (prefix consistency, monotonic per session and per node across restarts); ${s.regressionsAcrossRestarts} regressions across restarts`)
  for (const v of s.violations.slice(0, 20)) lines.push(`  ${v}`)
  lines.push(`acknowledged writes survive: ${report.survival.ok ? 'OK' : 'VIOLATED'} — ${report.survival.keys} keys`)
  for (const v of report.survival.violations) lines.push(`  ${v}`)
  const t = report.tasks
  lines.push(`tasks: ${t.ok ? 'OK' : 'VIOLATED'} — ${t.submitted} submitted (${t.accepted} accepted, ${t.indeterminate} indeterminate), ${t.completed} completed once with one result, ${t.runs} handler runs, ${t.rerun} run more than once (crash or reassignment); ${t.reassigned} returned to pending by a failure verdict, ${t.released} released by their restarted holder`)
  for (const v of t.violations.slice(0, 20)) lines.push(`  ${v}`)
  lines.push(`recovered after heal: ${report.recovered ? 'yes' : 'NO'}; availability (not a verdict): ${report.availability.writesAcknowledged} of ${report.availability.writesAttempted} writes acknowledged, longest stretch without one ${report.availability.longestGapS} s (from +${report.availability.gapFromS} s)`)
  for (const note of report.notes) lines.push(`note: ${note}`)
  lines.push(`verdict: ${report.ok ? 'PASS' : 'FAIL'}`)
  return lines.join('\n')
}

export function writeHistory (report: ChaosReport, path: string): void {
  writeFileSync(path, JSON.stringify(report, (_key, value: unknown) => value === Infinity ? null : value, 1))
}
