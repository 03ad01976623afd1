/**
 * Issue 13, found by the 30-minute chaos run (seed 1313): a worker `kill -9`'d while it ran a task, and
 * restarted on its data dir before anyone declared it failed, never finished that task. The table still
 * said `running` on that worker, the new process did not run it (a run begun by an earlier life is not
 * begun again at the same assignment), and no failure verdict came to return it to pending, because the
 * worker was alive again within seconds. The task stayed `running` for ever.
 *
 * Real processes on 127.0.0.1: 4 pBFT validators and 1 worker, the only node offering `slow` (an
 * external handler that appends `<taskId> <pid>` to a log when it begins and echoes its payload after
 * 3 s). The failure timeout is 60 s, so the restarted worker is never declared failed: the task must
 * finish through the restart alone. Checked: it completes once, with its payload as the result, after
 * the restarted worker released the assignment its earlier life held (`released` at assignment 1) and
 * ran it again at the next one; its handler began exactly twice, once per assignment, in the two lives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { api, Cluster, waitUntil } from './harness.js'
import type { NodeProcess } from './harness.js'

interface TaskView {
  id: string
  state: string
  assignee: string | null
  assignment: number
  result?: string
  payload: string
  history: Array<{ seq: number, event: string, node?: string, assignment: number }>
}

const handlerScript = `import { appendFileSync } from 'node:fs'
const [log] = process.argv.slice(2)
let text = ''
process.stdin.on('data', d => { text += d })
process.stdin.on('end', () => {
  const payload = JSON.parse(text)
  appendFileSync(log, payload.id + ' ' + process.ppid + '\\n')
  setTimeout(() => { process.stdout.write(text) }, payload.ms)
})
`

describe('a worker restarted while it ran a task runs it again (issue 13, chaos seed 1313)', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 60_000 })
  const validators: NodeProcess[] = []
  let worker: NodeProcess
  let workerArgs: { bootstrap: string[], extraArgs: string[] }
  let logPath = ''

  /** Handler starts: [task id, PID of the node that ran it]. */
  function runs (): Array<[string, number]> {
    if (!existsSync(logPath)) return []
    return readFileSync(logPath, 'utf8').split('\n').filter(l => l !== '').map(l => {
      const [id, pid] = l.split(' ')
      return [id as string, Number(pid)]
    })
  }

  async function task (node: NodeProcess, id: string): Promise<TaskView> {
    return (await api<TaskView>(node, 'GET', `/v1/tasks/${encodeURIComponent(id)}`)).body
  }

  beforeAll(async () => {
    const testnet = cluster.testnet(4, { consensus: 'pbft' })
    const genesisPath = join(testnet[0]?.dataDir as string, 'genesis.json')
    const script = join(cluster.root, 'slow.mjs')
    writeFileSync(script, handlerScript)
    logPath = join(cluster.root, 'slow.log')
    let seed = ''
    for (const v of testnet) {
      validators.push(await cluster.start(v.name, { dataDir: v.dataDir, bootstrap: seed !== '' ? [seed] : [], extraArgs: ['--config', v.config] }))
      if (seed === '') seed = validators[0]?.runtime.multiaddrs[0] as string
    }
    const config = join(cluster.root, 'worker.json')
    writeFileSync(config, JSON.stringify({ handlers: { slow: { command: [process.execPath, script, logPath], timeout_ms: 60_000 } } }))
    workerArgs = { bootstrap: [seed], extraArgs: ['--genesis', genesisPath, '--config', config, '--capabilities', 'slow'] }
    worker = await cluster.start('worker', workerArgs)
    for (const node of [...validators, worker]) {
      await cluster.waitForStatus(node, 'the worker alive and offering slow', s =>
        s.members.filter(m => m.state === 'alive').length === 5 && s.members.some(m => m.capabilities.includes('slow')), 120_000)
    }
  }, 240_000)

  afterAll(async () => { await cluster.stopAll() })

  it('kill -9 of the worker while the task runs, restart at once: the task completes, once per assignment', async () => {
    const id = 'long-1'
    const via = validators[0] as NodeProcess
    const payload = { id, ms: 3_000 }
    const submitted = await api<{ error?: string }>(via, 'POST', '/v1/tasks', { id, capabilities: ['slow'], strategy: 'dht', payload, timeoutMs: 60_000 })
    expect(submitted.status, submitted.body.error).toBe(202)

    // the run has begun and its start is committed: the table says running on the worker
    const running = await waitUntil('the task to be running on the worker', 60_000, async () => {
      const view = await task(via, id)
      return view.state === 'running' && view.assignee === worker.runtime.peerId && runs().some(([t, pid]) => t === id && pid === worker.pid) ? view : undefined
    })
    expect(running.assignment).toBe(1)
    const firstLife = worker.pid
    cluster.kill(worker, 'SIGKILL')
    await cluster.waitExit(worker)
    worker = await cluster.start('worker', workerArgs)

    const done = await waitUntil(`task ${id} to finish after the worker's restart (log: ${worker.logPath})`, 120_000, async () => {
      const view = await task(via, id)
      return view.state === 'completed' || view.state === 'failed' || view.state === 'cancelled' ? view : undefined
    }, 500)
    const story = done.history.map(h => `${h.event}#${h.assignment}`).join(' ')
    expect(done.state, story).toBe('completed')
    expect(JSON.parse(done.result as string), story).toEqual(payload)
    expect(done.history.filter(h => h.event === 'completed'), story).toHaveLength(1)
    // the restarted worker gave up its earlier life's assignment, and nobody declared it failed
    expect(done.history.some(h => h.event === 'released' && h.assignment === 1 && h.node === worker.runtime.peerId), story).toBe(true)
    expect(done.history.some(h => h.event === 'reassigned'), story).toBe(false)
    expect(done.assignment, story).toBe(2)
    // one run per assignment: one in each life
    const ran = runs().filter(([t]) => t === id).map(([, pid]) => pid)
    expect(ran, story).toEqual([firstLife, worker.pid])
  }, 300_000)
})
