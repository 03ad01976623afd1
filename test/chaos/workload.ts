/**
 * The chaos workload: concurrent clients on the memory store (puts, deletes, linearizable and plain
 * reads of a few hot keys, every written value unique) and task submitters, each through a node chosen
 * at random (seeded) per operation. Every operation is recorded with its invoke and complete times and
 * its outcome, in Jepsen's terms:
 *   ok   — answered, result known;
 *   fail — certainly had no effect (503: refused before ordering; connection refused: never arrived;
 *          4xx);
 *   info — indeterminate: may or may not take effect (504, a reset or a timeout after sending).
 */
import { SeededRandom } from '../../src/core/random.js'
import type { ChaosCluster, ChaosNode } from './cluster.js'

export const namespace = 'chaos'
/** Per-request deadline: a node paused by the nemesis answers nothing, and the client gives up (info). */
const requestTimeoutMs = 10_000

export type OperationType = 'put' | 'delete' | 'get' | 'get-plain' | 'task-submit'

export interface RecordedOperation {
  id: number
  /** Client number; -1 for the final reads after heal. */
  client: number
  type: OperationType
  key?: string
  value?: string
  node: string
  pid: number
  /** ms since the run began (performance.now() based). */
  call: number
  return: number
  outcome: 'ok' | 'fail' | 'info'
  status?: number
  /** Decision sequence number of an acknowledged write; a read hit's write seq. */
  seq?: number
  deleted?: boolean
  /** get / get-plain: the value read (null: absent). */
  read?: string | null
  lastApplied?: number
  error?: string
}

interface Answer { status: number, body: Record<string, unknown> }

/** Errors that prove the request never reached the node. */
function neverArrived (err: unknown): boolean {
  const code = (err as { cause?: { code?: string } }).cause?.code
  return code === 'ECONNREFUSED'
}

export class Recorder {
  readonly operations: RecordedOperation[] = []
  readonly origin = performance.now()
  now (): number { return performance.now() - this.origin }

  /** One HTTP exchange with `node`, recorded; `classify` maps the answer to the record. */
  async exchange (client: number, type: OperationType, node: ChaosNode, method: string, path: string, body: unknown, fields: Partial<RecordedOperation>,
    classify: (answer: Answer, op: RecordedOperation) => void): Promise<RecordedOperation> {
    const op: RecordedOperation = { id: this.operations.length, client, type, node: node.name, pid: node.process?.pid ?? 0, call: this.now(), return: Infinity, outcome: 'info', ...fields }
    this.operations.push(op)
    // a node killed and not yet back (state 'down') still has its old process here, but what answers on
    // its API port is the restarted process, already listening while it replays its log: attribute the
    // answer to that process once it is known, else to a life of its own (found by the 30-minute run:
    // a read answered by the restarting process at lastApplied 0 was taken for the old process's)
    if (node.state === 'down') {
      const callPid = op.pid
      const settle = (): void => { op.pid = node.process != null && node.process.pid !== callPid ? node.process.pid : -(op.id + 1) }
      try {
        return await this.exchangeWith(op, node, method, path, body, classify)
      } finally {
        settle()
      }
    }
    return await this.exchangeWith(op, node, method, path, body, classify)
  }

  private async exchangeWith (op: RecordedOperation, node: ChaosNode, method: string, path: string, body: unknown, classify: (answer: Answer, op: RecordedOperation) => void): Promise<RecordedOperation> {
    const proc = node.process
    if (proc == null) {
      op.outcome = 'fail'
      op.error = 'node down'
      op.return = this.now()
      return op
    }
    try {
      const res = await fetch(`${proc.api}${path}`, {
        method,
        headers: body !== undefined ? { 'content-type': 'application/json' } : {},
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(requestTimeoutMs)
      })
      const parsed = await res.json().catch(() => ({})) as Record<string, unknown>
      op.return = this.now()
      op.status = res.status
      classify({ status: res.status, body: parsed }, op)
    } catch (err) {
      const at = this.now()
      if (neverArrived(err)) {
        op.outcome = 'fail'
        op.return = at
      } else {
        // sent, no answer: the write may still apply; a read is dropped by the checker
        op.outcome = 'info'
        op.return = Infinity
      }
      op.error = ((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name)
    }
    return op
  }
}

/** Map a write's answer: 200 ok with seq; 503 / 4xx certainly not applied; 504 / 5xx unknown. */
function classifyWrite (answer: Answer, op: RecordedOperation): void {
  if (answer.status === 200 && answer.body.ok === true) {
    op.outcome = 'ok'
    op.seq = typeof answer.body.seq === 'number' ? answer.body.seq : undefined
    if (typeof answer.body.deleted === 'boolean') op.deleted = answer.body.deleted
    return
  }
  op.error = typeof answer.body.error === 'string' ? answer.body.error.slice(0, 200) : `HTTP ${answer.status}`
  if (answer.status === 503 || (answer.status >= 400 && answer.status < 500)) {
    op.outcome = 'fail'
  } else {
    op.outcome = 'info'
    op.return = Infinity
  }
}

/** Map a read's answer: 200 hit, 404 "no key" absent; anything else is a failed read (no effect). */
export function classifyRead (answer: Answer, op: RecordedOperation): void {
  if (answer.status === 200 && typeof answer.body.value === 'string') {
    op.outcome = 'ok'
    op.read = answer.body.value
    op.seq = typeof answer.body.seq === 'number' ? answer.body.seq : undefined
    op.lastApplied = typeof answer.body.lastApplied === 'number' ? answer.body.lastApplied : undefined
    return
  }
  if (answer.status === 404 && typeof answer.body.error === 'string' && answer.body.error.startsWith('no key')) {
    op.outcome = 'ok'
    op.read = null
    op.lastApplied = typeof answer.body.lastApplied === 'number' ? answer.body.lastApplied : undefined
    return
  }
  op.outcome = 'fail'
  op.error = typeof answer.body.error === 'string' ? answer.body.error.slice(0, 200) : `HTTP ${answer.status}`
}

export interface WorkloadOptions {
  seed: number
  kvClients: number
  taskClients: number
  keys: number
}

export class Workload {
  private stopped = false
  private readonly running: Array<Promise<void>> = []
  /** Task ids submitted (any outcome but a certain failure). */
  readonly taskIds: string[] = []

  constructor (readonly cluster: ChaosCluster, readonly recorder: Recorder, readonly options: WorkloadOptions) {}

  key (i: number): string { return `k${i}` }

  start (): void {
    for (let c = 0; c < this.options.kvClients; c++) this.running.push(this.kvClient(c))
    for (let c = 0; c < this.options.taskClients; c++) this.running.push(this.taskClient(this.options.kvClients + c))
  }

  async stop (): Promise<void> {
    this.stopped = true
    await Promise.all(this.running)
  }

  private async kvClient (client: number): Promise<void> {
    const rng = new SeededRandom(this.options.seed * 1000 + client + 1)
    let n = 0
    while (!this.stopped) {
      const node = this.cluster.nodes[Math.floor(rng.next() * this.cluster.nodes.length)] as ChaosNode
      const key = this.key(Math.floor(rng.next() * this.options.keys))
      const path = `/v1/memory/${namespace}/${key}`
      const r = rng.next()
      if (r < 0.35) {
        const value = `c${client}-${n++}`
        await this.recorder.exchange(client, 'put', node, 'PUT', path, { value }, { key, value }, classifyWrite)
      } else if (r < 0.45) {
        await this.recorder.exchange(client, 'delete', node, 'DELETE', path, undefined, { key }, classifyWrite)
      } else if (r < 0.75) {
        await this.recorder.exchange(client, 'get', node, 'GET', `${path}?linearizable=1`, undefined, { key }, classifyRead)
      } else {
        await this.recorder.exchange(client, 'get-plain', node, 'GET', path, undefined, { key }, classifyRead)
      }
      await new Promise(resolve => setTimeout(resolve, 10 + Math.floor(rng.next() * 60)))
    }
  }

  private async taskClient (client: number): Promise<void> {
    const rng = new SeededRandom(this.options.seed * 1000 + client + 1)
    let n = 0
    while (!this.stopped) {
      const node = this.cluster.nodes[Math.floor(rng.next() * this.cluster.nodes.length)] as ChaosNode
      const id = `s${this.options.seed}-c${client}-t${n++}`
      // mostly short tasks (done before a start is committed), some long enough to be caught by a fault
      const ms = rng.next() < 0.7 ? 30 : 1500
      const op = await this.recorder.exchange(client, 'task-submit', node, 'POST', '/v1/tasks',
        { id, capabilities: ['chaos'], payload: { id, ms }, timeoutMs: 60_000, strategy: rng.next() < 0.5 ? 'dht' : 'auction' }, { key: id },
        (answer, record) => {
          if (answer.status === 202 || answer.status === 200) { record.outcome = 'ok'; record.seq = typeof answer.body.seq === 'number' ? answer.body.seq : undefined; return }
          record.error = typeof answer.body.error === 'string' ? answer.body.error.slice(0, 200) : `HTTP ${answer.status}`
          if (answer.status === 503 || (answer.status >= 400 && answer.status < 500)) record.outcome = 'fail'
          else { record.outcome = 'info'; record.return = Infinity }
        })
      if (op.outcome !== 'fail') this.taskIds.push(id)
      await new Promise(resolve => setTimeout(resolve, 200 + Math.floor(rng.next() * 400)))
    }
  }
}
