/**
 * The replicated task table of MeshApplication: every operation's happy path and every rejection,
 * fencing by assignment numbers, `node.failed`, the bounds (open tasks, finished tasks kept, the frame
 * budget and its eviction order), snapshots (round trip, refusal of malformed task entries) and
 * determinism over seeded random operation sequences (two fresh applications and one restored mid-way).
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MeshApplication, SnapshotError, validateOperation } from '../../src/core/app/application.js'
import type { TaskState, TaskView } from '../../src/core/app/application.js'
import {
  bundleOpsMax, nodeFailedIdsListedMax, readLimitMax, taskCapabilitiesMax, taskErrorBytesMax, taskHistoryMax, taskPayloadBytesMax,
  taskDataRefBytesMax, taskResultBytesMax, taskSubmitReserveFrameBytes, taskTimeoutMsMax, tasksFinishedKeptMax, tasksFrameBytesMax, tasksOpenMax
} from '../../src/core/app/limits.js'
import { parseTaskDataRef, taskDataRef, utf8Bytes } from '../../src/core/app/operation.js'
import type { ClientRequest } from '../../src/core/pbft/types.js'

type Json = Record<string, unknown>

const sha = (text: string): string => createHash('sha256').update(text).digest('hex')
const validators4 = ['ValidatorA', 'ValidatorB', 'ValidatorC', 'ValidatorD']

let requestId = 0
const request = (client: string, operation: unknown): ClientRequest =>
  ({ client, requestId: ++requestId, operation: typeof operation === 'string' ? operation : JSON.stringify(operation) })

/** One operation per sequence number unless told otherwise. */
class Driver {
  seq = 0
  readonly app = new MeshApplication(validators4, sha)
  run (operation: unknown, client = 'Submitter', seq?: number): Json {
    this.seq = seq ?? this.seq + 1
    return JSON.parse(this.app.apply(request(client, operation), this.seq)) as Json
  }

  submit (id: string, extra: Json = {}, client = 'Submitter'): Json {
    return this.run({ op: 'task.submit', id, capabilities: ['gpu'], payload: '{"n":1}', ...extra }, client)
  }

  assign (id: string, node: string, assignment: number, client = 'Scheduler'): Json {
    return this.run({ op: 'task.assign', id, node, assignment }, client)
  }

  start (id: string, assignment: number, client: string): Json {
    return this.run({ op: 'task.start', id, assignment }, client)
  }

  complete (id: string, assignment: number, client: string, result = '{"answer":42}'): Json {
    return this.run({ op: 'task.complete', id, assignment, result }, client)
  }

  fail (id: string, assignment: number, client: string, error = 'out of memory'): Json {
    return this.run({ op: 'task.fail', id, assignment, error }, client)
  }

  move (id: string, from: string, to: string, assignment: number, reason: 'steal' | 'migrate' = 'steal', client = from): Json {
    return this.run({ op: 'task.move', id, from, to, assignment, reason }, client)
  }

  release (id: string, assignment: number, client: string): Json {
    return this.run({ op: 'task.release', id, assignment }, client)
  }

  nodeFailed (node: string, client = 'ValidatorA'): Json {
    return this.run({ op: 'node.failed', node }, client)
  }

  cancel (id: string, client = 'Submitter'): Json {
    return this.run({ op: 'task.cancel', id }, client)
  }

  put (namespace: string, key: string): Json {
    return this.run({ op: 'put', namespace, key, value: 'v' })
  }

  task (id: string): TaskView {
    const task = this.app.task(id)
    if (task == null) throw new Error(`no task ${id}`)
    return task
  }
}

function expectRejected (result: Json, pattern: RegExp | string): void {
  expect(result.ok).toBe(false)
  expect(result.error).toMatch(pattern)
}

function expectOk (result: Json): void {
  expect(result.error).toBeUndefined()
  expect(result.ok).toBe(true)
}

/** Bytes of text inside a STATE frame: JSON-escaped twice more (replica snapshot, frame), in UTF-8. */
function frameBytesOf (text: string): number {
  return utf8Bytes(JSON.stringify(JSON.stringify(text))) - 6 // the two added pairs of quotes, escaped once and not
}

// ————————————————————————————————————————— validation

describe('task operations: stateless validation', () => {
  it('accepts the documented operations and fills in the defaults', () => {
    expect(validateOperation('{"op":"task.submit","id":"t1","capabilities":["gpu","lang:python"],"payload":"{\\"x\\":1}"}')).toEqual({
      ok: true,
      op: { op: 'task.submit', id: 't1', capabilities: ['gpu', 'lang:python'], payload: '{"x":1}', priority: 5, timeoutMs: 60_000, strategy: 'auction' }
    })
    expect(validateOperation(JSON.stringify({ op: 'task.submit', id: 'a.b:c-d_e', capabilities: ['model/llama-3'], payload: '[]', priority: 0, timeoutMs: 1, strategy: 'dht' })))
      .toMatchObject({ ok: true, op: { priority: 0, timeoutMs: 1, strategy: 'dht' } })
    expect(validateOperation('{"op":"task.assign","id":"t1","node":"NodeA","assignment":1}')).toEqual({ ok: true, op: { op: 'task.assign', id: 't1', node: 'NodeA', assignment: 1 } })
    expect(validateOperation('{"op":"task.start","id":"t1","assignment":3}')).toEqual({ ok: true, op: { op: 'task.start', id: 't1', assignment: 3 } })
    expect(validateOperation('{"op":"task.complete","id":"t1","assignment":1,"result":"null"}')).toEqual({ ok: true, op: { op: 'task.complete', id: 't1', assignment: 1, result: 'null' } })
    expect(validateOperation('{"op":"task.fail","id":"t1","assignment":1,"error":""}')).toEqual({ ok: true, op: { op: 'task.fail', id: 't1', assignment: 1, error: '' } })
    expect(validateOperation('{"op":"task.move","id":"t1","from":"NodeA","to":"NodeB","assignment":2,"reason":"migrate"}'))
      .toEqual({ ok: true, op: { op: 'task.move', id: 't1', from: 'NodeA', to: 'NodeB', assignment: 2, reason: 'migrate' } })
    expect(validateOperation('{"op":"task.release","id":"t1","assignment":2}')).toEqual({ ok: true, op: { op: 'task.release', id: 't1', assignment: 2 } })
    expect(validateOperation('{"op":"node.failed","node":"NodeA"}')).toEqual({ ok: true, op: { op: 'node.failed', node: 'NodeA' } })
    expect(validateOperation('{"op":"task.cancel","id":"t1"}')).toEqual({ ok: true, op: { op: 'task.cancel', id: 't1' } })
  })

  it('accepts every bound exactly at its limit', () => {
    const submit = (fields: Json): unknown => validateOperation(JSON.stringify({ op: 'task.submit', id: 't', capabilities: ['c'], payload: '1', ...fields }))
    expect(submit({ id: 'x'.repeat(64) })).toMatchObject({ ok: true })
    expect(submit({ capabilities: Array.from({ length: taskCapabilitiesMax }, (_, i) => `c${i}`) })).toMatchObject({ ok: true })
    expect(submit({ capabilities: ['a'.repeat(64)] })).toMatchObject({ ok: true })
    expect(submit({ payload: JSON.stringify('x'.repeat(taskPayloadBytesMax - 2)) })).toMatchObject({ ok: true })
    expect(submit({ priority: 9, timeoutMs: taskTimeoutMsMax })).toMatchObject({ ok: true })
    expect(validateOperation(JSON.stringify({ op: 'task.complete', id: 't', assignment: 1, result: JSON.stringify('r'.repeat(taskResultBytesMax - 2)) }))).toMatchObject({ ok: true })
    expect(validateOperation(JSON.stringify({ op: 'task.fail', id: 't', assignment: 1, error: 'é'.repeat(taskErrorBytesMax / 2) }))).toMatchObject({ ok: true })
    expect(validateOperation(JSON.stringify({ op: 'task.assign', id: 't', node: 'N'.repeat(128), assignment: Number.MAX_SAFE_INTEGER }))).toMatchObject({ ok: true })
  })

  const sub = (fields: Json): Json => ({ op: 'task.submit', id: 't1', capabilities: ['gpu'], payload: '{}', ...fields })
  const cases: Array<[string, unknown, RegExp]> = [
    ['submit: missing payload', { op: 'task.submit', id: 't1', capabilities: ['gpu'] }, /^missing field "payload"$/],
    ['submit: unknown field', sub({ owner: 'me' }), /^unknown field "owner"$/],
    ['submit: empty id', sub({ id: '' }), /^id must be a task id/],
    ['submit: id of 65 characters', sub({ id: 'x'.repeat(65) }), /^id must be a task id: 1-64 characters/],
    ['submit: id with a slash', sub({ id: 'a/b' }), /^id must be a task id/],
    ['submit: id not a string', sub({ id: 7 }), /^id must be a task id/],
    ['submit: no capabilities', sub({ capabilities: [] }), /^capabilities must be an array of 1\.\.16 names$/],
    ['submit: 17 capabilities', sub({ capabilities: Array.from({ length: 17 }, (_, i) => `c${i}`) }), /^capabilities must be an array of 1\.\.16/],
    ['submit: capabilities not an array', sub({ capabilities: 'gpu' }), /^capabilities must be an array/],
    ['submit: capability starting with a dash', sub({ capabilities: ['-gpu'] }), /^each capability must be/],
    ['submit: capability with a space', sub({ capabilities: ['a b'] }), /^each capability must be/],
    ['submit: capability of 65 characters', sub({ capabilities: ['a'.repeat(65)] }), /^each capability must be/],
    ['submit: capability not a string', sub({ capabilities: [1] }), /^each capability must be/],
    ['submit: repeated capability', sub({ capabilities: ['gpu', 'cpu', 'gpu'] }), /^capabilities repeat$/],
    ['submit: payload not a string', sub({ payload: { x: 1 } }), /^payload must be JSON text \(a string\)$/],
    ['submit: payload not JSON', sub({ payload: '{x' }), /^payload is not valid JSON text$/],
    ['submit: payload empty', sub({ payload: '' }), /^payload is not valid JSON text$/],
    ['submit: payload too large (belongs in the DHT)', sub({ payload: JSON.stringify('x'.repeat(taskPayloadBytesMax - 1)) }), /^payload larger than 16384 UTF-8 bytes: large data belongs in the DHT/],
    ['submit: payload too large in UTF-8 bytes', sub({ payload: JSON.stringify('é'.repeat(taskPayloadBytesMax / 2)) }), /^payload larger than 16384 UTF-8 bytes.*DHT/],
    ['submit: payload with a lone surrogate', sub({ payload: '"\ud800"' }), /^payload is not well-formed Unicode/],
    ['submit: payload nested too deep', sub({ payload: `${'['.repeat(33)}${']'.repeat(33)}` }), /^payload nested deeper than 32$/],
    ['submit: priority 10', sub({ priority: 10 }), /^priority must be an integer in 0\.\.9$/],
    ['submit: priority -1', sub({ priority: -1 }), /^priority must be an integer in 0\.\.9$/],
    ['submit: priority 1.5', sub({ priority: 1.5 }), /^priority must be an integer/],
    ['submit: priority as text', sub({ priority: '5' }), /^priority must be an integer/],
    ['submit: timeoutMs 0', sub({ timeoutMs: 0 }), /^timeoutMs must be an integer in 1\.\.3600000$/],
    ['submit: timeoutMs above an hour', sub({ timeoutMs: taskTimeoutMsMax + 1 }), /^timeoutMs must be an integer in 1\.\.3600000$/],
    ['submit: strategy', sub({ strategy: 'random' }), /^strategy must be "auction" or "dht"$/],
    ['submit: strategy null', sub({ strategy: null }), /^strategy must be/],
    ['assign: node not a PeerId', { op: 'task.assign', id: 't1', node: 'node a', assignment: 1 }, /^node must be a PeerId$/],
    ['assign: node too long', { op: 'task.assign', id: 't1', node: 'N'.repeat(129), assignment: 1 }, /^node must be a PeerId$/],
    ['assign: assignment 0', { op: 'task.assign', id: 't1', node: 'NodeA', assignment: 0 }, /^assignment must be a positive integer$/],
    ['assign: assignment 1.5', { op: 'task.assign', id: 't1', node: 'NodeA', assignment: 1.5 }, /^assignment must be a positive integer$/],
    ['assign: assignment beyond safe integers', { op: 'task.assign', id: 't1', node: 'NodeA', assignment: 2 ** 53 }, /^assignment must be a positive integer$/],
    ['assign: missing assignment', { op: 'task.assign', id: 't1', node: 'NodeA' }, /^missing field "assignment"$/],
    ['start: assignment as text', { op: 'task.start', id: 't1', assignment: '1' }, /^assignment must be a positive integer$/],
    ['start: unknown field', { op: 'task.start', id: 't1', assignment: 1, node: 'NodeA' }, /^unknown field "node"$/],
    ['complete: result not JSON', { op: 'task.complete', id: 't1', assignment: 1, result: 'done' }, /^result is not valid JSON text$/],
    ['complete: result not a string', { op: 'task.complete', id: 't1', assignment: 1, result: 42 }, /^result must be JSON text/],
    ['complete: result too large (belongs in the DHT)', { op: 'task.complete', id: 't1', assignment: 1, result: JSON.stringify('r'.repeat(taskResultBytesMax)) }, /^result larger than 16384 UTF-8 bytes: large data belongs in the DHT/],
    ['complete: missing result', { op: 'task.complete', id: 't1', assignment: 1 }, /^missing field "result"$/],
    ['fail: error too long', { op: 'task.fail', id: 't1', assignment: 1, error: 'e'.repeat(taskErrorBytesMax + 1) }, /^error longer than 1024 UTF-8 bytes$/],
    ['fail: error too long in UTF-8 bytes', { op: 'task.fail', id: 't1', assignment: 1, error: 'é'.repeat(taskErrorBytesMax / 2 + 1) }, /^error longer than 1024/],
    ['fail: error not a string', { op: 'task.fail', id: 't1', assignment: 1, error: { code: 1 } }, /^error must be a string$/],
    ['fail: error with a lone surrogate', { op: 'task.fail', id: 't1', assignment: 1, error: 'x\udc00' }, /^error is not well-formed/],
    ['move: reason', { op: 'task.move', id: 't1', from: 'NodeA', to: 'NodeB', assignment: 1, reason: 'balance' }, /^reason must be "steal" or "migrate"$/],
    ['move: from = to', { op: 'task.move', id: 't1', from: 'NodeA', to: 'NodeA', assignment: 1, reason: 'steal' }, /^from and to must differ$/],
    ['move: to not a PeerId', { op: 'task.move', id: 't1', from: 'NodeA', to: 'Node/B', assignment: 1, reason: 'steal' }, /^to must be a PeerId$/],
    ['move: from missing', { op: 'task.move', id: 't1', to: 'NodeB', assignment: 1, reason: 'steal' }, /^missing field "from"$/],
    ['node.failed: node not a PeerId', { op: 'node.failed', node: '' }, /^node must be a PeerId$/],
    ['node.failed: unknown field', { op: 'node.failed', node: 'NodeA', reason: 'timeout' }, /^unknown field "reason"$/],
    ['cancel: unknown field', { op: 'task.cancel', id: 't1', force: true }, /^unknown field "force"$/],
    ['cancel: missing id', { op: 'task.cancel' }, /^missing field "id"$/],
    ['submit: reference with upper-case hex', sub({ payload: `@sha256:${'A'.repeat(64)}:20000` }), /^payload reference must be @sha256:<64 lowercase hex>:<bytes>$/],
    ['submit: reference with a short digest', sub({ payload: `@sha256:${'a'.repeat(63)}:20000` }), /^payload reference must be/],
    ['submit: reference with a leading zero', sub({ payload: `@sha256:${'a'.repeat(64)}:020000` }), /^payload reference must be/],
    ['submit: reference with no size', sub({ payload: `@sha256:${'a'.repeat(64)}` }), /^payload reference must be/],
    ['submit: reference to data that fits inline', sub({ payload: `@sha256:${'a'.repeat(64)}:${taskPayloadBytesMax}` }), /^payload of 16384 bytes must be inline/],
    ['submit: reference over 1 MiB', sub({ payload: `@sha256:${'a'.repeat(64)}:${taskDataRefBytesMax + 1}` }), /^payload larger than 1048576 bytes$/],
    ['complete: result reference over 1 MiB', { op: 'task.complete', id: 't1', assignment: 1, result: `@sha256:${'b'.repeat(64)}:99999999` }, /^result larger than 1048576 bytes$/],
    ['complete: result reference to inline-sized data', { op: 'task.complete', id: 't1', assignment: 1, result: `@sha256:${'b'.repeat(64)}:10` }, /^result of 10 bytes must be inline/]
  ]
  for (const [name, operation, pattern] of cases) {
    it(`refuses ${name} (in validateOperation and, identically, in apply)`, () => {
      const text = JSON.stringify(operation)
      const check = validateOperation(text)
      expect(check.ok).toBe(false)
      if (!check.ok) expect(check.error).toMatch(pattern)
      const d = new Driver()
      expect(d.run(text)).toEqual({ ok: false, error: check.ok ? '' : check.error })
      expect(d.app.taskCounts().pending).toBe(0)
    })
  }
})

// ————————————————————————————————————————— the lifecycle

describe('task.submit with node: validation', () => {
  it('node must be a PeerId string; the other fields are checked as before; unknown fields still refused', () => {
    const base = { op: 'task.submit', id: 't1', capabilities: ['echo'], payload: '1' }
    expect(validateOperation(JSON.stringify({ ...base, node: 'NodeA', strategy: 'dht' }))).toEqual({
      ok: true, op: { op: 'task.submit', id: 't1', capabilities: ['echo'], payload: '1', priority: 5, timeoutMs: 60_000, strategy: 'dht', node: 'NodeA' }
    })
    // without node the operation is what it always was (no node field at all)
    const plain = validateOperation(JSON.stringify(base))
    expect(plain.ok && 'node' in plain.op).toBe(false)
    for (const node of [null, 1, '', 'not a peer', 'x'.repeat(129), ['NodeA'], { id: 'NodeA' }]) {
      expect(validateOperation(JSON.stringify({ ...base, node })), JSON.stringify(node)).toEqual({ ok: false, error: 'node must be a PeerId' })
    }
    expect(validateOperation(JSON.stringify({ ...base, node: 'NodeA', assignee: 'NodeA' }))).toEqual({ ok: false, error: 'unknown field "assignee"' })
    expect(validateOperation(JSON.stringify({ ...base, capabilities: [], node: 'NodeA' })).ok).toBe(false)
  })

  it('a refused placed submit changes nothing (the same refusal on every replica)', () => {
    const d = new Driver()
    expectRejected(d.submit('t1', { node: 'bad peer' }), /^node must be a PeerId$/)
    expect(d.app.task('t1')).toBeUndefined()
    expect(d.app.taskCounts()).toMatchObject({ pending: 0, assigned: 0 })
  })
})

describe('open-task reads and counts (indexes derived from the table)', () => {
  it('reads by open state and the counts match a scan of every task, through finishes, node.failed and restore', () => {
    const next = rng(7)
    const d = new Driver()
    const states: TaskState[] = ['pending', 'assigned', 'running', 'completed', 'failed', 'cancelled']
    const scan = (app: MeshApplication): { counts: Record<string, number>, open: string[] } => {
      const all = app.tasks({ limit: readLimitMax })
      const counts = Object.fromEntries(states.map(st => [st, all.filter(t => t.state === st).length]))
      return { counts, open: all.filter(t => ['pending', 'assigned', 'running'].includes(t.state)).map(t => t.id) }
    }
    for (let i = 0; i < 600; i++) {
      const id = `t${i}`
      d.submit(id, next(2) === 0 ? { node: 'NodeA' } : {})
      const earlier = `t${next(i + 1)}`
      const task = d.app.task(earlier)
      if (task?.state === 'pending') d.assign(earlier, next(2) === 0 ? 'NodeA' : 'NodeB', task.assignment + 1)
      else if (task?.state === 'assigned' && task.assignee != null) {
        const k = next(4)
        if (k === 0) d.start(earlier, task.assignment, task.assignee)
        else if (k === 1) d.complete(earlier, task.assignment, task.assignee)
        else if (k === 2) d.fail(earlier, task.assignment, task.assignee)
        else d.cancel(earlier)
      }
      if (i % 97 === 0) d.nodeFailed('NodeB')
    }
    const { counts, open } = scan(d.app)
    expect(d.app.taskCounts()).toEqual(counts)
    expect(d.app.tasks({ state: ['pending', 'assigned', 'running'], limit: readLimitMax }).map(t => t.id)).toEqual(open)
    expect(d.app.tasks({ state: 'assigned', assignee: 'NodeA', limit: readLimitMax }).map(t => t.id))
      .toEqual(d.app.tasks({ limit: readLimitMax }).filter(t => t.state === 'assigned' && t.assignee === 'NodeA').map(t => t.id))
    expect(counts.completed + counts.failed + counts.cancelled).toBeGreaterThan(50)
    const b = new Driver()
    b.app.restore(d.app.snapshot())
    expect(b.app.taskCounts()).toEqual(d.app.taskCounts())
    expect(b.app.tasks({ state: ['pending', 'assigned', 'running'], limit: readLimitMax })).toEqual(d.app.tasks({ state: ['pending', 'assigned', 'running'], limit: readLimitMax }))
  })
})

describe('payloads and results kept by reference (over 16 KiB, up to 1 MiB)', () => {
  it('parses and builds references; anything else is not one', () => {
    const digest = sha('x')
    expect(parseTaskDataRef(taskDataRef(digest, 20_000))).toEqual({ sha256: digest, bytes: 20_000 })
    expect(parseTaskDataRef('{"@sha256":1}')).toBeNull()
    expect(parseTaskDataRef(`@sha256:${digest}:1x`)).toBeNull()
  })

  it('a task submitted by reference keeps exactly the reference; its result may be one too; the snapshot round-trips both', () => {
    const d = new Driver()
    const payloadRef = taskDataRef(sha('payload'), taskDataRefBytesMax)
    const resultRef = taskDataRef(sha('result'), taskResultBytesMax + 1)
    expect(d.submit('big', { payload: payloadRef }).ok).toBe(true)
    expect(d.task('big')?.payload).toBe(payloadRef)
    expect(d.assign('big', 'NodeA', 1).ok).toBe(true)
    expect(d.complete('big', 1, 'NodeA', resultRef).ok).toBe(true)
    expect(d.task('big')).toMatchObject({ state: 'completed', result: resultRef })
    const restored = new MeshApplication(validators4, sha)
    restored.restore(d.app.snapshot())
    expect(restored.task('big')).toEqual(d.task('big'))
    expect(restored.digest()).toBe(d.app.digest())
  })
})

describe('task lifecycle', () => {
  it('submit: defaults, the submitter is the client\'s PeerId, reads show it; a duplicate id is refused', () => {
    const d = new Driver()
    expect(d.submit('t1', {}, 'Submitter/3')).toEqual({ ok: true, id: 't1', seq: 1 })
    expect(d.app.task('t1')).toEqual({
      id: 't1',
      capabilities: ['gpu'],
      payload: '{"n":1}',
      priority: 5,
      timeoutMs: 60_000,
      strategy: 'auction',
      submitter: 'Submitter',
      state: 'pending',
      assignee: null,
      assignment: 0,
      submittedSeq: 1,
      updatedSeq: 1,
      history: [{ seq: 1, event: 'submitted', assignment: 0 }]
    })
    // the payload is kept as given, not re-encoded
    expect(d.submit('t2', { payload: '{ "b": 1,\n  "a": "\\u00e9" }', priority: 9, timeoutMs: 5, strategy: 'dht', capabilities: ['b', 'a'] }).ok).toBe(true)
    expect(d.task('t2')).toMatchObject({ payload: '{ "b": 1,\n  "a": "\\u00e9" }', priority: 9, timeoutMs: 5, strategy: 'dht', capabilities: ['b', 'a'] })
    expectRejected(d.submit('t1', {}, 'Other'), /^duplicate task id t1$/)
    expect(d.task('t1').submitter).toBe('Submitter')
    expectRejected(d.submit('t3', {}, 'not a peer/1'), /submitter .* must be a PeerId/)
    expect(d.app.task('t3')).toBeUndefined()
    expect(d.app.task('nope')).toBeUndefined()
  })

  it('submit with node: placed at submit time, assigned at assignment 1 in the same operation; fencing as after an assign', () => {
    const d = new Driver()
    expect(d.submit('t1', { node: 'NodeA', strategy: 'dht' }, 'Submitter/2')).toEqual({ ok: true, seq: 1, id: 't1', state: 'assigned', assignee: 'NodeA', assignment: 1 })
    expect(d.app.task('t1')).toMatchObject({
      state: 'assigned',
      assignee: 'NodeA',
      assignment: 1,
      strategy: 'dht',
      submitter: 'Submitter',
      submittedSeq: 1,
      updatedSeq: 1,
      history: [{ seq: 1, event: 'submitted', assignment: 0 }, { seq: 1, event: 'assigned', node: 'NodeA', assignment: 1 }]
    })
    // the table is as after submit + assign: the next assign is refused, the holder runs it
    expectRejected(d.assign('t1', 'NodeB', 1), /^task t1 is assigned, not pending$/)
    expectRejected(d.complete('t1', 1, 'NodeB'), /^only the assignee of task t1 may complete it$/)
    expect(d.complete('t1', 1, 'NodeA').ok).toBe(true)
    expect(d.task('t1')).toMatchObject({ state: 'completed', assignee: 'NodeA', assignment: 1 })
    // an auction-placed one (any strategy), and node.failed returns it to pending at assignment 1
    expect(d.submit('t2', { node: 'NodeB' }).ok).toBe(true)
    expect(d.nodeFailed('NodeB')).toMatchObject({ ok: true, count: 1, tasks: ['t2'] })
    expect(d.task('t2')).toMatchObject({ state: 'pending', assignee: null, assignment: 1 })
    expect(d.assign('t2', 'NodeC', 2).ok).toBe(true)
    // a duplicate id is refused whether placed or not, and leaves the table as it was
    expectRejected(d.submit('t2', { node: 'NodeA' }), /^duplicate task id t2$/)
    expect(d.task('t2')).toMatchObject({ state: 'assigned', assignee: 'NodeC', assignment: 2 })
  })

  it('submit with node: the snapshot round-trips a placed task, and a restored table gives the same future', () => {
    const a = new Driver()
    a.submit('p1', { node: 'NodeA' })
    a.submit('p2')
    const b = new Driver()
    b.app.restore(a.app.snapshot())
    expect(b.app.digest()).toBe(a.app.digest())
    expect(b.app.tasks({ limit: 10 })).toEqual(a.app.tasks({ limit: 10 }))
    expect(b.app.taskCounts()).toEqual(a.app.taskCounts())
    b.seq = a.seq
    const future = (d: Driver): Json[] => [d.start('p1', 1, 'NodeA'), d.submit('p3', { node: 'NodeB' }), d.assign('p2', 'NodeC', 1), d.complete('p3', 1, 'NodeB')]
    expect(future(b)).toEqual(future(a))
    expect(b.app.snapshot()).toBe(a.app.snapshot())
  })

  it('assign: pending only, with exactly the next assignment number; anyone may propose it', () => {
    const d = new Driver()
    d.submit('t1')
    expectRejected(d.assign('t1', 'NodeA', 2), /^stale assignment 2: task t1 is at assignment 0, the next is 1$/)
    expect(d.assign('t1', 'NodeA', 1, 'Anyone')).toEqual({ ok: true, seq: 3, id: 't1', state: 'assigned', assignee: 'NodeA', assignment: 1 })
    expect(d.task('t1')).toMatchObject({ state: 'assigned', assignee: 'NodeA', assignment: 1, updatedSeq: 3 })
    // a second scheduler racing with the same number loses
    expectRejected(d.assign('t1', 'NodeB', 1), /^task t1 is assigned, not pending$/)
    expectRejected(d.assign('t1', 'NodeB', 2), /^task t1 is assigned, not pending$/)
    expectRejected(d.assign('t9', 'NodeB', 1), /^unknown task t9$/)
    expect(d.task('t1').assignee).toBe('NodeA')
  })

  it('start: only the assignee, with the current assignment, from assigned', () => {
    const d = new Driver()
    d.submit('t1')
    expectRejected(d.start('t1', 1, 'NodeA'), /^task t1 is pending: nobody holds it$/)
    d.assign('t1', 'NodeA', 1)
    expectRejected(d.start('t1', 1, 'NodeB'), /^only the assignee of task t1 may start it$/)
    expectRejected(d.start('t1', 2, 'NodeA'), /^stale assignment 2: task t1 is at assignment 1$/)
    expectRejected(d.start('t9', 1, 'NodeA'), /^unknown task t9$/)
    expect(d.start('t1', 1, 'NodeA/2')).toEqual({ ok: true, seq: 7, id: 't1', state: 'running', assignment: 1 })
    expectRejected(d.start('t1', 1, 'NodeA'), /^task t1 is already running$/)
    expect(d.task('t1').history.map(h => h.event)).toEqual(['submitted', 'assigned', 'started'])
  })

  it('complete: from assigned or running, by the assignee; exactly one result is ever accepted', () => {
    const d = new Driver()
    d.submit('t1')
    d.submit('t2')
    d.assign('t1', 'NodeA', 1)
    d.assign('t2', 'NodeB', 1)
    d.start('t1', 1, 'NodeA')
    expectRejected(d.complete('t1', 1, 'NodeB'), /^only the assignee of task t1 may complete it$/)
    expectRejected(d.complete('t1', 2, 'NodeA'), /^stale assignment 2/)
    expect(d.complete('t1', 1, 'NodeA', '{"sum":3}')).toEqual({ ok: true, seq: 8, id: 't1', state: 'completed', assignment: 1 })
    expect(d.complete('t2', 1, 'NodeB', '[1,2]').ok).toBe(true) // never started: still fine
    expect(d.task('t1')).toMatchObject({ state: 'completed', assignee: 'NodeA', result: '{"sum":3}', updatedSeq: 8 })
    expect(d.task('t1').error).toBeUndefined()
    // a second result, of either kind, from anyone, is refused
    expectRejected(d.complete('t1', 1, 'NodeA', '{"sum":4}'), /^task t1 is already completed$/)
    expectRejected(d.fail('t1', 1, 'NodeA'), /^task t1 is already completed$/)
    expectRejected(d.complete('t2', 1, 'NodeB'), /^task t2 is already completed$/)
    expect(d.task('t1').result).toBe('{"sum":3}')
    expectRejected(d.complete('t9', 1, 'NodeA'), /^unknown task t9$/)
    expectRejected(d.assign('t1', 'NodeC', 2), /^task t1 is completed, not pending$/)
  })

  it('fail: by the assignee with the current assignment; then no complete', () => {
    const d = new Driver()
    d.submit('t1')
    expectRejected(d.fail('t1', 1, 'NodeA'), /pending: nobody holds it/)
    d.assign('t1', 'NodeA', 1)
    expectRejected(d.fail('t1', 1, 'NodeB'), /^only the assignee of task t1 may fail it$/)
    expect(d.fail('t1', 1, 'NodeA', 'GPU lost "0"')).toEqual({ ok: true, seq: 5, id: 't1', state: 'failed', assignment: 1 })
    expect(d.task('t1')).toMatchObject({ state: 'failed', error: 'GPU lost "0"', assignee: 'NodeA' })
    expect(d.task('t1').result).toBeUndefined()
    expectRejected(d.complete('t1', 1, 'NodeA'), /^task t1 is already failed$/)
    expectRejected(d.fail('t1', 1, 'NodeA'), /^task t1 is already failed$/)
  })

  it('move: proposed by `from` (the current assignee), assigned only, current assignment → to, assignment + 1', () => {
    const d = new Driver()
    d.submit('t1')
    expectRejected(d.move('t1', 'NodeA', 'NodeB', 1), /pending: nobody holds it/)
    d.assign('t1', 'NodeA', 1)
    expectRejected(d.move('t1', 'NodeA', 'NodeB', 1, 'steal', 'NodeB'), /^only the node giving a task away \(from\) may move it$/) // the thief cannot take it
    expectRejected(d.move('t1', 'NodeC', 'NodeB', 1), /^only the assignee of task t1 may move it$/) // from is not the assignee
    expectRejected(d.move('t1', 'NodeA', 'NodeB', 2), /^stale assignment 2: task t1 is at assignment 1$/)
    expect(d.move('t1', 'NodeA', 'NodeB', 1, 'steal')).toEqual({ ok: true, seq: 7, id: 't1', state: 'assigned', assignee: 'NodeB', assignment: 2 })
    expect(d.move('t1', 'NodeB', 'NodeC', 2, 'migrate')).toMatchObject({ ok: true, assignee: 'NodeC', assignment: 3 })
    expect(d.task('t1').history).toEqual([
      { seq: 1, event: 'submitted', assignment: 0 },
      { seq: 3, event: 'assigned', node: 'NodeA', assignment: 1 },
      { seq: 7, event: 'stolen', node: 'NodeB', assignment: 2 },
      { seq: 8, event: 'migrated', node: 'NodeC', assignment: 3 }
    ])
    // the nodes that gave it away are fenced out
    expectRejected(d.start('t1', 1, 'NodeA'), /^stale assignment 1/)
    expectRejected(d.complete('t1', 2, 'NodeB'), /^stale assignment 2/)
    expectRejected(d.complete('t1', 3, 'NodeB'), /^only the assignee of task t1 may complete it$/)
    expectRejected(d.move('t1', 'NodeB', 'NodeA', 3), /^only the assignee/)
    // a running task never moves
    d.start('t1', 3, 'NodeC')
    expectRejected(d.move('t1', 'NodeC', 'NodeA', 3), /^task t1 is running: only an assigned task that has not started moves$/)
    expect(d.complete('t1', 3, 'NodeC').ok).toBe(true)
    expectRejected(d.move('t1', 'NodeC', 'NodeA', 3), /^task t1 is already completed$/)
    expectRejected(d.move('t9', 'NodeC', 'NodeA', 1), /^unknown task t9$/)
  })

  it('a move and the holder\'s start claim are ordered by the log: whichever commits first wins, the other is refused (issue 9)', () => {
    // the holder proposed a move whose answer it lost, then claims the task with task.start before
    // running it; both may be in flight at once, and exactly one of them is accepted
    const moveFirst = new Driver()
    moveFirst.submit('t1')
    moveFirst.assign('t1', 'NodeA', 1)
    expect(moveFirst.move('t1', 'NodeA', 'NodeB', 1, 'migrate').ok).toBe(true)
    expectRejected(moveFirst.start('t1', 1, 'NodeA'), /^stale assignment 1: task t1 is at assignment 2$/)
    expect(moveFirst.task('t1')).toMatchObject({ state: 'assigned', assignee: 'NodeB', assignment: 2 })

    const startFirst = new Driver()
    startFirst.submit('t1')
    startFirst.assign('t1', 'NodeA', 1)
    expect(startFirst.start('t1', 1, 'NodeA').ok).toBe(true)
    expectRejected(startFirst.move('t1', 'NodeA', 'NodeB', 1, 'migrate'), /^task t1 is running: only an assigned task that has not started moves$/)
    expectRejected(startFirst.move('t1', 'NodeA', 'NodeB', 1, 'steal'), /^task t1 is running/)
    expect(startFirst.task('t1')).toMatchObject({ state: 'running', assignee: 'NodeA', assignment: 1 })
    // a retried move (the same operation again) after the first one committed: refused as stale
    const retried = new Driver()
    retried.submit('t1')
    retried.assign('t1', 'NodeA', 1)
    expect(retried.move('t1', 'NodeA', 'NodeB', 1, 'steal').ok).toBe(true)
    expectRejected(retried.move('t1', 'NodeA', 'NodeB', 1, 'steal'), /^stale assignment 1: task t1 is at assignment 2$/)
    expect(retried.task('t1').history.map(h => h.event)).toEqual(['submitted', 'assigned', 'stolen'])
  })

  it('node.failed: exactly the assigned and running tasks of that node go back to pending; idempotent', () => {
    const d = new Driver()
    for (const id of ['a1', 'a2', 'a3', 'a4', 'b1', 'p1', 'a5']) d.submit(id)
    d.assign('a1', 'NodeA', 1)
    d.assign('a2', 'NodeA', 1)
    d.start('a2', 1, 'NodeA')
    d.assign('a3', 'NodeA', 1)
    d.complete('a3', 1, 'NodeA')
    d.assign('a4', 'NodeB', 1)
    d.move('a4', 'NodeB', 'NodeA', 1) // now NodeA's, at assignment 2
    d.assign('b1', 'NodeB', 1)
    d.assign('a5', 'NodeA', 1)
    d.cancel('a5')
    const seq = d.seq + 1
    expect(d.nodeFailed('NodeA')).toEqual({ ok: true, seq, node: 'NodeA', count: 3, tasks: ['a1', 'a2', 'a4'] })
    for (const [id, assignment] of [['a1', 1], ['a2', 1], ['a4', 2]] as const) {
      expect(d.task(id)).toMatchObject({ state: 'pending', assignee: null, assignment, updatedSeq: seq })
      expect(d.task(id).history.at(-1)).toEqual({ seq, event: 'reassigned', node: 'NodeA', assignment })
    }
    expect(d.task('a3')).toMatchObject({ state: 'completed', assignee: 'NodeA' })
    expect(d.task('b1')).toMatchObject({ state: 'assigned', assignee: 'NodeB' })
    expect(d.task('p1')).toMatchObject({ state: 'pending', updatedSeq: 6 })
    expect(d.task('a5').state).toBe('cancelled')
    // the failed node's late operations are refused; the next assign is + 1
    expectRejected(d.complete('a2', 1, 'NodeA'), /^task a2 is pending: nobody holds it$/)
    expectRejected(d.assign('a1', 'NodeC', 1), /^stale assignment 1: task a1 is at assignment 1, the next is 2$/)
    expect(d.assign('a1', 'NodeC', 2).ok).toBe(true)
    expectRejected(d.complete('a1', 1, 'NodeA'), /^stale assignment 1/)
    expectRejected(d.complete('a1', 2, 'NodeA'), /^only the assignee/)
    // idempotent: nothing left on NodeA
    expect(d.nodeFailed('NodeA')).toEqual({ ok: true, seq: d.seq, node: 'NodeA', count: 0, tasks: [] })
    expect(d.nodeFailed('NodeZ')).toMatchObject({ ok: true, count: 0, tasks: [] })
  })

  it('release: the assignee gives back its assigned or running task at the current assignment; pending again, the next assign is + 1', () => {
    const d = new Driver()
    for (const id of ['r', 'a', 'c', 'p']) d.submit(id)
    d.assign('r', 'NodeA', 1)
    d.start('r', 1, 'NodeA')
    d.assign('a', 'NodeA', 1)
    d.assign('c', 'NodeA', 1)
    d.complete('c', 1, 'NodeA')
    // only the holder, only at its assignment, only while it holds it
    expectRejected(d.release('r', 1, 'NodeB'), /^only the assignee of task r may release it$/)
    expectRejected(d.release('r', 2, 'NodeA'), /^stale assignment 2: task r is at assignment 1$/)
    expectRejected(d.release('c', 1, 'NodeA'), /^task c is already completed$/)
    expectRejected(d.release('zz', 1, 'NodeA'), /^unknown task zz$/)
    expectRejected(d.release('p', 1, 'NodeA'), /^task p is pending: nobody holds it$/)
    const seq = d.seq + 1
    expect(d.release('r', 1, 'NodeA/7')).toEqual({ ok: true, seq, id: 'r', state: 'pending', assignment: 1 })
    expect(d.task('r')).toMatchObject({ state: 'pending', assignee: null, assignment: 1, updatedSeq: seq })
    expect(d.task('r').history.map(h => h.event)).toEqual(['submitted', 'assigned', 'started', 'released'])
    expect(d.task('r').history.at(-1)).toEqual({ seq, event: 'released', node: 'NodeA', assignment: 1 })
    expect(d.release('a', 1, 'NodeA')).toMatchObject({ ok: true, state: 'pending' })
    expect(d.app.taskCounts()).toMatchObject({ pending: 3, assigned: 0, running: 0, completed: 1 })
    // the released run's late result is refused; a released task is nobody's to release again
    expectRejected(d.complete('r', 1, 'NodeA'), /^task r is pending: nobody holds it$/)
    expectRejected(d.release('r', 1, 'NodeA'), /^task r is pending: nobody holds it$/)
    expectRejected(d.assign('r', 'NodeA', 1), /^stale assignment 1: task r is at assignment 1, the next is 2$/)
    // rescheduled (here to the same node) at the next number: that run's result is the one accepted
    expect(d.assign('r', 'NodeA', 2).ok).toBe(true)
    expectRejected(d.complete('r', 1, 'NodeA'), /^stale assignment 1/)
    expect(d.complete('r', 2, 'NodeA', '"done"')).toMatchObject({ ok: true, state: 'completed', assignment: 2 })
    expect(d.task('r')).toMatchObject({ state: 'completed', result: '"done"', assignment: 2 })
  })

  it('release and the holder\'s result are ordered by the log: whichever commits first wins', () => {
    const released = new Driver()
    released.submit('t')
    released.assign('t', 'NodeA', 1)
    released.start('t', 1, 'NodeA')
    expect(released.release('t', 1, 'NodeA').ok).toBe(true)
    expectRejected(released.complete('t', 1, 'NodeA'), /nobody holds it/)
    const finished = new Driver()
    finished.submit('t')
    finished.assign('t', 'NodeA', 1)
    finished.start('t', 1, 'NodeA')
    expect(finished.complete('t', 1, 'NodeA').ok).toBe(true)
    expectRejected(finished.release('t', 1, 'NodeA'), /^task t is already completed$/)
  })

  it(`node.failed lists at most ${nodeFailedIdsListedMax} ids (in submission order) and counts them all`, () => {
    const d = new Driver()
    const ids = Array.from({ length: nodeFailedIdsListedMax + 20 }, (_, i) => `t${i}`)
    for (const id of ids) { d.submit(id); d.assign(id, 'NodeA', 1) }
    const result = d.nodeFailed('NodeA')
    expect(result.count).toBe(ids.length)
    expect(result.tasks).toEqual(ids.slice(0, nodeFailedIdsListedMax))
    expect(d.app.taskCounts().pending).toBe(ids.length)
  })

  it('cancel: only the submitter; any unfinished task; a cancelled task takes no result', () => {
    const d = new Driver()
    for (const id of ['p', 'a', 'r', 'c']) d.submit(id, {}, 'Submitter/1')
    d.assign('a', 'NodeA', 1)
    d.assign('r', 'NodeA', 1)
    d.start('r', 1, 'NodeA')
    d.assign('c', 'NodeB', 1)
    d.complete('c', 1, 'NodeB')
    expectRejected(d.cancel('p', 'Intruder'), /^only the submitter of task p may cancel it$/)
    expectRejected(d.cancel('p', 'NodeA'), /^only the submitter/)
    expect(d.cancel('p', 'Submitter/2')).toEqual({ ok: true, seq: d.seq, id: 'p', state: 'cancelled' })
    expect(d.cancel('a').ok).toBe(true)
    expect(d.cancel('r').ok).toBe(true)
    expectRejected(d.cancel('c'), /^task c is already completed$/)
    expectRejected(d.cancel('p'), /^task p is already cancelled$/)
    expectRejected(d.cancel('zz'), /^unknown task zz$/)
    expect(d.task('a')).toMatchObject({ state: 'cancelled', assignee: null, assignment: 1 })
    expect(d.task('a').history.at(-1)).toEqual({ seq: d.seq - 4, event: 'cancelled', node: 'NodeA', assignment: 1 })
    expect(d.task('p').history.at(-1)).toEqual({ seq: d.seq - 5, event: 'cancelled', assignment: 0 })
    expectRejected(d.complete('r', 1, 'NodeA'), /^task r is already cancelled$/)
    expectRejected(d.start('a', 1, 'NodeA'), /^task a is already cancelled$/)
    expectRejected(d.assign('p', 'NodeA', 1), /^task p is cancelled, not pending$/)
    expect(d.app.taskCounts()).toEqual({ pending: 0, assigned: 0, running: 0, completed: 1, failed: 0, cancelled: 3 })
  })

  it(`history keeps the last ${taskHistoryMax} entries`, () => {
    const d = new Driver()
    d.submit('t1')
    for (let n = 1; n <= 10; n++) {
      d.assign('t1', 'NodeA', n)
      d.nodeFailed('NodeA')
    }
    const history = d.task('t1').history
    expect(history).toHaveLength(taskHistoryMax)
    expect(history.at(0)).toMatchObject({ event: 'assigned', assignment: 3 }) // 21 events, the first 5 gone
    expect(history.at(-1)).toEqual({ seq: d.seq, event: 'reassigned', node: 'NodeA', assignment: 10 })
    expect(d.assign('t1', 'NodeB', 11).ok).toBe(true)
  })

  it('reads: newest first, by state (one or several), by assignee, limited; counts per state', () => {
    const d = new Driver()
    for (let i = 0; i < 6; i++) d.submit(`t${i}`)
    d.assign('t1', 'NodeA', 1)
    d.assign('t2', 'NodeA', 1)
    d.start('t2', 1, 'NodeA')
    d.assign('t3', 'NodeB', 1)
    d.complete('t3', 1, 'NodeB')
    d.assign('t4', 'NodeA', 1)
    d.fail('t4', 1, 'NodeA')
    d.cancel('t5')
    const ids = (tasks: TaskView[]): string[] => tasks.map(t => t.id)
    expect(ids(d.app.tasks({}))).toEqual(['t5', 't4', 't3', 't2', 't1', 't0'])
    expect(ids(d.app.tasks({ limit: 2 }))).toEqual(['t5', 't4'])
    expect(ids(d.app.tasks({ limit: 0 }))).toEqual([])
    expect(ids(d.app.tasks({ state: 'pending' }))).toEqual(['t0'])
    expect(ids(d.app.tasks({ state: ['assigned', 'running'] }))).toEqual(['t2', 't1'])
    expect(ids(d.app.tasks({ assignee: 'NodeA' }))).toEqual(['t4', 't2', 't1'])
    expect(ids(d.app.tasks({ assignee: 'NodeA', state: 'running' }))).toEqual(['t2'])
    expect(ids(d.app.tasks({ assignee: 'Nobody' }))).toEqual([])
    expect(d.app.taskCounts()).toEqual({ pending: 1, assigned: 1, running: 1, completed: 1, failed: 1, cancelled: 1 })
    expect(d.app.stats()).toMatchObject({ tasksOpen: 3, tasksFinished: 3 })
    expect(() => d.app.tasks({ limit: -1 })).toThrow(RangeError)
    expect(() => d.app.tasks({ limit: 1.5 })).toThrow(RangeError)
    // a view is a copy: changing it changes nothing
    const view = d.task('t0')
    view.capabilities.push('x')
    view.history.length = 0
    expect(d.task('t0').capabilities).toEqual(['gpu'])
    expect(d.task('t0').history).toHaveLength(1)
  })

  it(`reads return at most ${readLimitMax} tasks`, () => {
    const d = new Driver()
    for (let i = 0; i < readLimitMax + 5; i++) d.submit(`t${i}`, {}, 'S')
    const tasks = d.app.tasks({ limit: readLimitMax + 100 })
    expect(tasks).toHaveLength(readLimitMax)
    expect(tasks[0]?.id).toBe(`t${readLimitMax + 4}`)
  })

  it('task operations inside a bundle: each its own result and index, the same as sent one by one', () => {
    const bundled = new Driver()
    const single = new Driver()
    const ops = [
      { op: 'task.submit', id: 'b1', capabilities: ['gpu'], payload: '1' },
      { op: 'task.submit', id: 'b2', capabilities: ['cpu'], payload: '2' },
      { op: 'task.assign', id: 'b1', node: 'NodeA', assignment: 1 },
      { op: 'task.submit', id: 'b1', capabilities: ['gpu'], payload: '1' }, // duplicate: refused alone
      { op: 'task.cancel', id: 'b2' },
      { op: 'node.failed', node: 'NodeA' },
      '{"op":"task.start"',
      { op: 'task.assign', id: 'b1', node: 'NodeB', assignment: 2 }
    ]
    const raw = bundled.app.apply(request('Submitter/1', { op: 'bundle', ops: ops.map(o => typeof o === 'string' ? o : JSON.stringify(o)) }), 4)
    const results = (JSON.parse(raw) as { results: string[] }).results
    expect(results).toEqual(ops.map(op => single.app.apply(request('Submitter/1', op), 4)))
    expect(results.map(r => (JSON.parse(r) as Json).ok)).toEqual([true, true, true, false, true, true, false, true])
    expect(bundled.app.digest()).toBe(single.app.digest())
    expect(bundled.task('b1')).toMatchObject({ state: 'assigned', assignee: 'NodeB', assignment: 2, submittedSeq: 4 })
    expect(bundled.task('b1').history.map(h => h.event)).toEqual(['submitted', 'assigned', 'reassigned', 'assigned'])
    expect(bundled.task('b2').state).toBe('cancelled')
    expect(bundleOpsMax).toBeGreaterThanOrEqual(ops.length)
  })
})

// ————————————————————————————————————————— bounds

describe('task table bounds', () => {
  it(`open tasks ≤ ${tasksOpenMax}: the next submit is refused until one finishes`, () => {
    const d = new Driver()
    for (let i = 0; i < tasksOpenMax; i++) {
      const result = d.app.apply(request('S', { op: 'task.submit', id: `t${i}`, capabilities: ['c'], payload: '0' }), ++d.seq)
      if (i % 1000 === 0) expect(JSON.parse(result)).toMatchObject({ ok: true })
    }
    expect(d.app.stats().tasksOpen).toBe(tasksOpenMax)
    expect(d.app.stats().taskFrameBytes).toBeLessThanOrEqual(tasksFrameBytesMax - taskSubmitReserveFrameBytes)
    expectRejected(d.run({ op: 'task.submit', id: 'one-more', capabilities: ['c'], payload: '0' }, 'S'), `too many open tasks (${tasksOpenMax})`)
    expect(d.cancel('t0', 'S').ok).toBe(true)
    expect(d.run({ op: 'task.submit', id: 'one-more', capabilities: ['c'], payload: '0' }, 'S').ok).toBe(true)
    expect(d.app.taskCounts()).toMatchObject({ pending: tasksOpenMax, cancelled: 1 })
  })

  it(`finished tasks kept ≤ ${tasksFinishedKeptMax}: the earliest finished are forgotten first (finish order, not submission order)`, () => {
    const d = new Driver()
    d.submit('early')
    d.submit('late')
    d.assign('late', 'NodeA', 1)
    d.complete('late', 1, 'NodeA') // finished first, though submitted second
    d.assign('early', 'NodeA', 1)
    d.fail('early', 1, 'NodeA')
    for (let i = 0; i < tasksFinishedKeptMax - 2; i++) { d.submit(`f${i}`); d.cancel(`f${i}`) }
    expect(d.app.stats().tasksFinished).toBe(tasksFinishedKeptMax)
    d.submit('open')
    d.submit('x')
    d.cancel('x')
    expect(d.app.task('late')).toBeUndefined()
    expect(d.app.task('early')?.state).toBe('failed')
    d.submit('y')
    d.cancel('y')
    expect(d.app.task('early')).toBeUndefined()
    expect(d.app.task('f0')?.state).toBe('cancelled')
    expect(d.app.stats().tasksFinished).toBe(tasksFinishedKeptMax)
    expect(d.task('open').state).toBe('pending')
    // the counts forget the forgotten ones too
    expect(d.app.taskCounts()).toEqual({ pending: 1, assigned: 0, running: 0, completed: 0, failed: 0, cancelled: tasksFinishedKeptMax })
    // a forgotten id is free again; a remembered one is not
    expect(d.submit('late').ok).toBe(true)
    expectRejected(d.submit('f0'), /^duplicate task id f0$/)
    expect(d.app.tasks({ state: 'pending', limit: 10 }).map(t => t.id)).toEqual(['late', 'open'])
  })

  it('the frame budget: submits leave the reserve; the earliest finished go first; then submits are refused', () => {
    const d = new Driver()
    const heavy = JSON.stringify('"'.repeat(8_000)) // 16 002 bytes of payload, ~128 KiB in the frame
    expect(utf8Bytes(heavy)).toBeLessThanOrEqual(taskPayloadBytesMax)
    const submitBudget = tasksFrameBytesMax - taskSubmitReserveFrameBytes
    let n = 0
    let result: Json
    do result = d.submit(`h${n++}`, { payload: heavy }); while (result.ok === true)
    expectRejected(result, `task table full (${submitBudget} of ${tasksFrameBytesMax} bytes for submits)`)
    const admitted = n - 1
    const used = d.app.stats().taskFrameBytes
    expect(used).toBeLessThanOrEqual(submitBudget)
    expect(used + used / admitted).toBeGreaterThan(submitBudget) // one more would not have fit
    // lifecycle operations still find room in the reserve
    for (let i = 0; i < 3; i++) expect(d.assign(`h${i}`, 'NodeA', 1).ok).toBe(true)
    d.complete('h2', 1, 'NodeA')
    d.complete('h0', 1, 'NodeA', JSON.stringify('"'.repeat(8_000)))
    d.fail('h1', 1, 'NodeA')
    // finished in the order h2, h0 (with its heavy result), h1. The reserve is in use, so a submit forgets
    // the earliest finished, only as many as it needs: h2 alone is not enough, h2 and h0 are
    expect(d.submit('new1', { payload: heavy }).ok).toBe(true)
    expect(d.app.task('h2')).toBeUndefined()
    expect(d.app.task('h0')).toBeUndefined()
    expect(d.app.task('h1')?.state).toBe('failed')
    expect(d.submit('new2', { payload: heavy }).ok).toBe(true) // fits in what they freed
    expect(d.app.task('h1')?.state).toBe('failed')
    expect(d.app.stats().taskFrameBytes).toBeLessThanOrEqual(submitBudget)
    expect(d.submit('new3', { payload: heavy }).ok).toBe(true)
    expect(d.app.task('h1')).toBeUndefined()
    // nothing finished is left to forget: submits are refused
    expectRejected(d.submit('new4', { payload: heavy }), /^task table full/)
    expect(d.app.stats().tasksFinished).toBe(0)
    // a small task still fits where a heavy one does not
    expect(d.submit('small').ok).toBe(true)
  })

  it('the hard bound: when the reserve is used up and nothing finished is left, growing operations are refused; cancel and node.failed still apply, dropping old history', () => {
    const d = new Driver()
    const bigNode = 'N'.repeat(128)
    const payload = JSON.stringify('x'.repeat(1_000))
    let n = 0
    while (d.submit(`t${n}`, { payload }, 'S').ok === true) n++
    let assigned = 0
    let result: Json
    do result = d.assign(`t${assigned++}`, bigNode, 1); while (result.ok === true)
    expectRejected(result, `task table full (${tasksFrameBytesMax} bytes)`)
    assigned-- // t0 … t(assigned - 1) are on bigNode
    expect(assigned).toBeGreaterThan(100)
    // use up what is left: moves to PeerIds of decreasing length (a shorter one grows the task less)
    const room = (): number => tasksFrameBytesMax - d.app.stats().taskFrameBytes
    let mover = assigned - 1
    for (let length = 128; room() >= 8 && length > 0; length--) {
      if (d.move(`t${mover}`, bigNode, 'M'.repeat(length), 1).ok === true) { mover--; length++ }
    }
    expect(room()).toBeLessThan(8)
    expect(room()).toBeGreaterThanOrEqual(0)
    expectRejected(d.complete('t0', 1, bigNode, JSON.stringify('r'.repeat(1_000))), /^task table full/)
    expectRejected(d.start('t0', 1, bigNode), /^task table full/)
    expect(d.task('t0').state).toBe('assigned')
    // cancel always applies: the task drops its oldest history entries to make room
    expect(d.cancel('t0', 'S').ok).toBe(true)
    expect(d.task('t0').history).toEqual([{ seq: d.seq, event: 'cancelled', node: bigNode, assignment: 1 }])
    expect(room()).toBeGreaterThanOrEqual(0)
    // the finished task is what the next growth forgets
    expect(d.assign(`t${assigned}`, bigNode, 1).ok).toBe(true)
    expect(d.app.task('t0')).toBeUndefined()
    // node.failed always applies: the first tasks drop old history, as few as needed
    const onBigNode = d.app.tasks({ assignee: bigNode, limit: readLimitMax }).map(t => t.id).reverse()
    const failed = d.nodeFailed(bigNode)
    expect(failed).toMatchObject({ ok: true, count: onBigNode.length, tasks: onBigNode.slice(0, nodeFailedIdsListedMax) })
    expect(room()).toBeGreaterThanOrEqual(0)
    const reassigned = { seq: d.seq, event: 'reassigned', node: bigNode, assignment: 1 }
    expect(d.task(onBigNode[0] as string).history).toEqual([reassigned])
    expect(d.task(onBigNode.at(-1) as string).history.map(h => h.event)).toEqual(['submitted', 'assigned', 'reassigned'])
    expect(d.app.taskCounts()).toMatchObject({ assigned: mover < assigned - 1 ? assigned - 1 - mover : 0, running: 0 })
    // and the state it left restores (every bound checked again)
    const copy = new Driver()
    copy.app.restore(d.app.snapshot())
    expect(copy.app.digest()).toBe(d.app.digest())
  })

  it('the accounted frame bytes match what the task table costs in a STATE frame (escaped three times)', () => {
    const d = new Driver()
    d.submit('plain')
    d.submit('quotes"\\', {}, 'S') // refused: not a task id
    d.submit('esc', { payload: '{"a":"\\"\\\\\\n\\u0001é😀"}', capabilities: ['x', 'y/z'] }, 'Submitter/9')
    d.assign('esc', 'NodeA', 1)
    d.fail('esc', 1, 'NodeA', 'tab\there "quoted" \u0001 ünïcødé 😀')
    d.submit('done')
    d.assign('done', 'NodeB', 1)
    d.start('done', 1, 'NodeB')
    d.complete('done', 1, 'NodeB', '["\\"",{"k":null}]')
    d.submit('moved', { priority: 0, timeoutMs: taskTimeoutMsMax, strategy: 'dht' })
    d.assign('moved', 'NodeA', 1)
    d.move('moved', 'NodeA', 'NodeC', 1)
    d.nodeFailed('NodeC')
    d.cancel('plain')
    d.run({ op: 'noop' }, 'c', 1_234_567_890_123)
    d.submit('late')
    const tasks = (JSON.parse(d.app.snapshot()) as { tasks: unknown[] }).tasks
    const actual = frameBytesOf(JSON.stringify(tasks))
    const accounted = d.app.stats().taskFrameBytes
    // exact, but for separators: each task, its capability list and its history count one comma too
    // many, and the brackets of the whole list are not a task's
    expect(accounted - actual).toBe(3 * tasks.length - (tasks.length + 1))
  })
})

// ————————————————————————————————————————— snapshots

/** Positions in a task's snapshot array. */
const F = { id: 0, capabilities: 1, payload: 2, priority: 3, timeoutMs: 4, strategy: 5, submitter: 6, submittedSeq: 7, submittedIndex: 8, state: 9, assignee: 10, assignment: 11, updatedSeq: 12, updatedIndex: 13, result: 14, error: 15, history: 16 } as const

interface SnapshotShape { lastApplied: number, appliedInSeq: number, tasks: unknown[][] }

/** A state with a task in every state (and a forgotten one). */
function everyState (): Driver {
  const d = new Driver()
  for (const id of ['pending', 'assigned', 'running', 'completed', 'failed', 'cancelled', 'reassigned']) d.submit(id, { capabilities: ['gpu', id] })
  d.assign('assigned', 'NodeA', 1)
  d.assign('running', 'NodeB', 1)
  d.start('running', 1, 'NodeB')
  d.assign('completed', 'NodeA', 1)
  d.complete('completed', 1, 'NodeA', '{"out":"dht:key"}')
  d.assign('failed', 'NodeC', 1)
  d.fail('failed', 1, 'NodeC', 'timeout')
  d.cancel('cancelled')
  d.assign('reassigned', 'NodeC', 1)
  d.move('reassigned', 'NodeC', 'NodeD', 1, 'migrate')
  d.nodeFailed('NodeD')
  d.submit('released', { capabilities: ['gpu', 'released'] })
  d.assign('released', 'NodeA', 1)
  d.start('released', 1, 'NodeA')
  d.release('released', 1, 'NodeA')
  d.put('ns', 'k')
  return d
}

describe('task snapshots', () => {
  it('snapshot → restore: the same digest, the same reads, the same future', () => {
    const a = everyState()
    const b = new Driver()
    b.app.restore(a.app.snapshot())
    expect(b.app.snapshot()).toBe(a.app.snapshot())
    expect(b.app.digest()).toBe(a.app.digest())
    expect(b.app.tasks({ limit: 1000 })).toEqual(a.app.tasks({ limit: 1000 }))
    for (const id of ['pending', 'assigned', 'running', 'completed', 'failed', 'cancelled', 'reassigned', 'released']) expect(b.app.task(id)).toEqual(a.app.task(id))
    expect(b.app.taskCounts()).toEqual(a.app.taskCounts())
    expect(b.app.stats()).toEqual(a.app.stats())
    b.seq = a.seq
    const future = (d: Driver): Json[] => [
      d.assign('pending', 'NodeA', 1), d.complete('running', 1, 'NodeB'), d.complete('completed', 1, 'NodeA'),
      d.assign('reassigned', 'NodeA', 3), d.nodeFailed('NodeA'), d.submit('fresh'), d.cancel('assigned'), d.assign('released', 'NodeB', 2)
    ]
    expect(future(b)).toEqual(future(a))
    expect(b.app.digest()).toBe(a.app.digest())
  })

  it('the snapshot round-trips a full finished list and the trimmed histories (the forgetting order survives)', () => {
    const a = new Driver()
    a.submit('keep')
    for (let i = 0; i < tasksFinishedKeptMax; i++) {
      a.app.apply(request('Submitter', { op: 'task.submit', id: `f${i}`, capabilities: ['c'], payload: '0' }), ++a.seq)
      a.app.apply(request('Submitter', { op: 'task.cancel', id: `f${i}` }), a.seq) // same seq: ordered by index
    }
    const b = new Driver()
    b.app.restore(a.app.snapshot())
    expect(b.app.digest()).toBe(a.app.digest())
    b.seq = a.seq
    for (const d of [a, b]) { d.submit('x'); d.cancel('x') }
    expect(b.app.digest()).toBe(a.app.digest())
    expect(b.app.task('f0')).toBeUndefined()
    expect(b.app.task('f1')?.state).toBe('cancelled')
  })

  it('a snapshot from before the task table (no "tasks" field) restores with an empty table', () => {
    const a = everyState()
    const old = JSON.parse(a.app.snapshot()) as Partial<SnapshotShape>
    delete old.tasks
    const b = new Driver()
    b.app.restore(JSON.stringify(old))
    expect(b.app.tasks({ limit: 10 })).toEqual([])
    expect(b.app.lastApplied).toBe(a.app.lastApplied)
  })

  it('restore refuses malformed task entries with a SnapshotError and leaves the state untouched', () => {
    const a = everyState()
    const good = JSON.parse(a.app.snapshot()) as SnapshotShape
    const index = (id: string): number => good.tasks.findIndex(t => t[F.id] === id)
    const b = new Driver()
    b.submit('mine')
    const before = b.app.digest()
    const bad = (mutate: (s: SnapshotShape) => void): string => { const s = structuredClone(good); mutate(s); return JSON.stringify(s) }
    const task = (s: SnapshotShape, id: string): unknown[] => s.tasks[index(id)] as unknown[]
    const history = (s: SnapshotShape, id: string): unknown[][] => task(s, id)[F.history] as unknown[][]
    const heavy = JSON.stringify('"'.repeat(8_000))
    const cases: Array<[string, string, RegExp]> = [
      ['an unknown top-level field', bad(s => { (s as unknown as Json).extra = 1 }), /unexpected or missing fields/],
      ['tasks not an array', bad(s => { (s as unknown as Json).tasks = {} }), /tasks/],
      ['a task that is not an array', bad(s => { s.tasks[0] = null as unknown as unknown[] }), /task fields/],
      ['a task with a missing field', bad(s => { task(s, 'pending').pop() }), /task fields/],
      ['bad id', bad(s => { task(s, 'pending')[F.id] = 'a b' }), /task id/],
      ['repeated id', bad(s => { task(s, 'assigned')[F.id] = 'pending' }), /repeated/],
      ['unsorted tasks', bad(s => { s.tasks.reverse() }), /not sorted/],
      ['capabilities repeat', bad(s => { task(s, 'pending')[F.capabilities] = ['a', 'a'] }), /capabilities/],
      ['capabilities empty', bad(s => { task(s, 'pending')[F.capabilities] = [] }), /capabilities/],
      ['payload not JSON', bad(s => { task(s, 'pending')[F.payload] = '{' }), /payload/],
      ['payload too large', bad(s => { task(s, 'pending')[F.payload] = JSON.stringify('x'.repeat(taskPayloadBytesMax)) }), /payload/],
      ['priority', bad(s => { task(s, 'pending')[F.priority] = 10 }), /priority/],
      ['timeoutMs', bad(s => { task(s, 'pending')[F.timeoutMs] = 0 }), /timeoutMs/],
      ['strategy', bad(s => { task(s, 'pending')[F.strategy] = 'best' }), /strategy/],
      ['submitter', bad(s => { task(s, 'pending')[F.submitter] = 'a/b' }), /submitter/],
      ['submitted after lastApplied', bad(s => { task(s, 'pending')[F.submittedSeq] = s.lastApplied + 1 }), /submitted seq/],
      ['submitted beyond the last applied operation', bad(s => { s.tasks.at(-1)?.splice(F.submittedSeq, 2, s.lastApplied, s.appliedInSeq) }), /beyond the last applied|not sorted/],
      ['submittedIndex negative', bad(s => { task(s, 'pending')[F.submittedIndex] = -1 }), /submitted seq\/index/],
      ['state', bad(s => { task(s, 'pending')[F.state] = 'paused' }), /state/],
      ['pending with an assignee', bad(s => { task(s, 'pending')[F.assignee] = 'NodeA' }), /assignee in state pending/],
      ['assigned without an assignee', bad(s => { task(s, 'assigned')[F.assignee] = null }), /assignee in state assigned/],
      ['assignee not a PeerId', bad(s => { task(s, 'running')[F.assignee] = 'Node B' }), /assignee/],
      ['assigned at assignment 0', bad(s => { task(s, 'assigned')[F.assignment] = 0 }), /assignee in state assigned|history assignment/],
      ['assignment fractional', bad(s => { task(s, 'assigned')[F.assignment] = 1.5 }), /assignment/],
      ['completed without a result', bad(s => { task(s, 'completed')[F.result] = null }), /result/],
      ['completed with an error too', bad(s => { task(s, 'completed')[F.error] = 'x' }), /error/],
      ['result not JSON', bad(s => { task(s, 'completed')[F.result] = 'done' }), /result/],
      ['a running task with a result', bad(s => { task(s, 'running')[F.result] = '1' }), /result/],
      ['failed without an error', bad(s => { task(s, 'failed')[F.error] = null }), /error/],
      ['error too long', bad(s => { task(s, 'failed')[F.error] = 'e'.repeat(taskErrorBytesMax + 1) }), /error/],
      ['cancelled with an assignee', bad(s => { task(s, 'cancelled')[F.assignee] = 'NodeA' }), /assignee in state cancelled/],
      ['updated before submitted', bad(s => { const t = task(s, 'assigned'); t[F.updatedSeq] = (t[F.submittedSeq] as number) - 1 }), /updated before submitted|history/],
      ['updated after lastApplied', bad(s => { task(s, 'assigned')[F.updatedSeq] = s.lastApplied + 1 }), /updated seq/],
      ['history empty', bad(s => { task(s, 'pending')[F.history] = [] }), /history/],
      ['history too long', bad(s => { const h = history(s, 'pending'); task(s, 'pending')[F.history] = Array.from({ length: taskHistoryMax + 1 }, () => h[0]) }), /history/],
      ['history event', bad(s => { (history(s, 'assigned')[1] as unknown[])[1] = 'teleported' }), /history event/],
      ['history entry shape', bad(s => { history(s, 'assigned')[1] = [1, 'assigned'] }), /history entry/],
      ['history node', bad(s => { (history(s, 'assigned')[1] as unknown[])[2] = null }), /history node/],
      ['submitted entry with a node', bad(s => { (history(s, 'pending')[0] as unknown[])[2] = 'NodeA' }), /history node/],
      ['history out of order', bad(s => { history(s, 'running').reverse() }), /history|submitted entry/],
      ['history ending elsewhere than its state', bad(s => { (history(s, 'running').at(-1) as unknown[])[1] = 'assigned' }), /does not end in its state/],
      ['history assignment above the task\'s', bad(s => { (history(s, 'assigned').at(-1) as unknown[])[3] = 2 }), /history assignment/],
      ['last entry seq differs from updatedSeq', bad(s => { const t = task(s, 'assigned'); t[F.updatedSeq] = (t[F.updatedSeq] as number) + 1 }), /does not end in its state/],
      ['two tasks finished by one operation', bad(s => {
        const done = task(s, 'completed')
        const failed = task(s, 'failed')
        failed[F.updatedSeq] = done[F.updatedSeq]
        failed[F.updatedIndex] = done[F.updatedIndex]
        const entries = failed[F.history] as unknown[][]
        entries.splice(0, entries.length, [done[F.updatedSeq], 'failed', 'NodeC', 1])
      }), /two tasks finished by one operation/],
      ['over the frame budget', bad(s => {
        const template = task(s, 'pending')
        s.tasks = Array.from({ length: 20 }, (_, i) => {
          const t = structuredClone(template)
          t[F.id] = `h${i}`
          t[F.payload] = heavy
          t[F.submittedSeq] = 1
          t[F.submittedIndex] = i
          t[F.updatedSeq] = 1
          t[F.updatedIndex] = i
          t[F.history] = [[1, 'submitted', null, 0]]
          return t
        })
      }), /task table over its budget/],
      ['too many tasks', bad(s => { s.tasks = Array.from({ length: tasksOpenMax + tasksFinishedKeptMax + 1 }, () => []) }), /tasks/]
    ]
    for (const [name, text, pattern] of cases) {
      expect(() => b.app.restore(text), name).toThrow(SnapshotError)
      expect(() => b.app.restore(text), name).toThrow(pattern)
      expect(b.app.digest(), name).toBe(before)
    }
    expect(b.task('mine').state).toBe('pending')
    // the unmodified snapshot is fine
    b.app.restore(JSON.stringify(good))
    expect(b.app.digest()).toBe(a.app.digest())
  })

  it('restore never throws anything but a SnapshotError, whatever junk is in a task field or history entry', () => {
    const a = everyState()
    const good = JSON.parse(a.app.snapshot()) as SnapshotShape
    const b = new Driver()
    b.app.restore(JSON.stringify(good))
    const before = b.app.digest()
    const junk: unknown[] = [null, true, -1, 0, 1.5, 1e300, '', 'x', 'NodeA', [], [[]], {}, { length: 3 }, '__proto__', 'pending', 'completed']
    let refused = 0
    for (let t = 0; t < good.tasks.length; t++) {
      for (let f = 0; f <= F.history; f++) {
        for (const value of junk) {
          const s = structuredClone(good)
          const target = s.tasks[t] as unknown[]
          target[f] = value
          try {
            b.app.restore(JSON.stringify(s))
            b.app.restore(JSON.stringify(good)) // a value that happens to be valid
          } catch (err) {
            expect(err).toBeInstanceOf(SnapshotError)
            expect(b.app.digest()).toBe(before)
            refused++
          }
        }
      }
      for (let e = 0; e < 4; e++) {
        for (const value of junk) {
          const s = structuredClone(good)
          const entries = (s.tasks[t] as unknown[])[F.history] as unknown[][]
          entries[0]?.splice(e, 1, value)
          try {
            b.app.restore(JSON.stringify(s))
            b.app.restore(JSON.stringify(good))
          } catch (err) {
            expect(err).toBeInstanceOf(SnapshotError)
            expect(b.app.digest()).toBe(before)
            refused++
          }
        }
      }
    }
    expect(refused).toBeGreaterThan(good.tasks.length * 16 * 10)
  })
})

// ————————————————————————————————————————— determinism and invariants over random sequences

/** xorshift32 */
function rng (seed: number): (n: number) => number {
  let x = seed * 2654435761 >>> 0 || 1
  return (n: number): number => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) % n }
}

const nodes = ['NodeA', 'NodeB', 'NodeC']
const submitters = ['Sub1', 'Sub2']

/** One random step: operations of one client (one, or several as a bundle), chosen from the current state of `app`. */
function step (next: (n: number) => number, app: MeshApplication): { client: string, ops: Json[] } {
  const tasks = app.tasks({ limit: readLimitMax })
  const pick = (): TaskView | undefined => tasks.length === 0 || next(8) === 0 ? undefined : tasks[next(tasks.length)]
  const off = (): number => next(5) === 0 ? [-1, 1, 2][next(3)] as number : 0
  const someNode = (): string => nodes[next(nodes.length)] as string
  const make = (): { client: string, op: Json } => {
    const task = pick()
    const id = task?.id ?? `t${next(30)}`
    const holder = task?.assignee ?? someNode()
    const kind = next(100)
    if (kind < 20) {
      return {
        client: `${submitters[next(2)] as string}/${next(2)}`,
        op: {
          op: 'task.submit', id: `t${next(30)}`, capabilities: ['gpu', 'cpu'].slice(0, 1 + next(2)), payload: JSON.stringify({ n: next(100), s: 'q"\n' }), priority: next(10),
          ...(next(2) === 0 ? { node: someNode() } : {}) // placed at submit time (assigned at assignment 1)
        }
      }
    }
    if (kind < 40) return { client: `Sched${next(2)}`, op: { op: 'task.assign', id, node: someNode(), assignment: (task?.assignment ?? 0) + 1 + off() } }
    if (kind < 52) return { client: next(6) === 0 ? someNode() : holder, op: { op: 'task.start', id, assignment: (task?.assignment ?? 1) + off() } }
    if (kind < 64) return { client: next(6) === 0 ? someNode() : holder, op: { op: 'task.complete', id, assignment: (task?.assignment ?? 1) + off(), result: JSON.stringify([next(1000)]) } }
    if (kind < 70) return { client: next(6) === 0 ? someNode() : holder, op: { op: 'task.fail', id, assignment: (task?.assignment ?? 1) + off(), error: `err ${next(10)}` } }
    if (kind < 80) {
      const from = next(6) === 0 ? someNode() : holder
      const to = nodes.filter(n => n !== from)[next(2)] as string
      return { client: next(8) === 0 ? to : from, op: { op: 'task.move', id, from, to, assignment: (task?.assignment ?? 1) + off(), reason: next(2) === 0 ? 'steal' : 'migrate' } }
    }
    if (kind < 85) return { client: 'ValidatorA', op: { op: 'node.failed', node: someNode() } }
    if (kind < 89) return { client: next(6) === 0 ? someNode() : holder, op: { op: 'task.release', id, assignment: (task?.assignment ?? 1) + off() } }
    if (kind < 93) return { client: next(5) === 0 ? 'Sub9' : task?.submitter ?? 'Sub1', op: { op: 'task.cancel', id } }
    if (kind < 96) return { client: 'Sub1', op: { op: 'task.submit', id: 'bad id', capabilities: [], payload: '{' } }
    return { client: 'c', op: { op: 'noop' } }
  }
  const first = make()
  if (next(6) !== 0) return { client: first.client, ops: [first.op] }
  const ops = [first.op]
  for (let i = 1 + next(3); i > 0; i--) ops.push(make().op) // a bundle: one client's operations
  return { client: first.client, ops }
}

/** Apply a step at `seq`; returns one parsed result per operation. */
function applyStep (app: MeshApplication, s: { client: string, ops: Json[] }, seq: number): Json[] {
  if (s.ops.length === 1) return [JSON.parse(app.apply(request(s.client, s.ops[0]), seq)) as Json]
  const result = JSON.parse(app.apply(request(s.client, { op: 'bundle', ops: s.ops.map(o => JSON.stringify(o)) }), seq)) as { results: string[] }
  return result.results.map(r => JSON.parse(r) as Json)
}

/** The fencing model built from accepted results alone. */
class Model {
  /** who holds each task, at which assignment number */
  readonly holder = new Map<string, { node: string, assignment: number }>()
  /** every assignment number ever granted, per task */
  readonly granted = new Map<string, Map<number, string>>()
  readonly results = new Map<string, Array<{ kind: 'completed' | 'failed', text: string }>>()
  accepted = 0
  releases = 0

  observe (client: string, op: Json, result: Json): void {
    const peer = client.split('/')[0] as string
    const id = op.id as string
    if (result.ok !== true) return
    this.accepted++
    switch (op.op) {
      case 'task.submit':
        this.holder.delete(id)
        this.granted.delete(id)
        this.results.delete(id)
        if (op.node != null) {
          // placed at submit: assignment 1, granted to that node
          expect(result).toMatchObject({ state: 'assigned', assignee: op.node, assignment: 1 })
          this.granted.set(id, new Map([[1, op.node as string]]))
          this.holder.set(id, { node: op.node as string, assignment: 1 })
        } else {
          expect(result.state).toBeUndefined()
        }
        break
      case 'task.assign':
      case 'task.move': {
        const node = (op.op === 'task.assign' ? op.node : op.to) as string
        const assignment = result.assignment as number
        const grants = this.granted.get(id) ?? new Map<number, string>()
        // a number is granted once, to one node, and numbers only grow
        expect(grants.has(assignment)).toBe(false)
        expect([...grants.keys()].every(n => n < assignment)).toBe(true)
        if (op.op === 'task.move') {
          expect(this.holder.get(id)).toEqual({ node: op.from, assignment: op.assignment })
          expect(peer).toBe(op.from)
        } else {
          expect(this.holder.has(id)).toBe(false) // assigned only when nobody holds it
        }
        grants.set(assignment, node)
        this.granted.set(id, grants)
        this.holder.set(id, { node, assignment })
        break
      }
      case 'task.start':
      case 'task.complete':
      case 'task.fail':
        // only the current holder with the current number acts
        expect(this.holder.get(id)).toEqual({ node: peer, assignment: op.assignment })
        if (op.op !== 'task.start') {
          const list = this.results.get(id) ?? []
          list.push(op.op === 'task.complete' ? { kind: 'completed', text: op.result as string } : { kind: 'failed', text: op.error as string })
          expect(list).toHaveLength(1) // exactly one result per task
          this.results.set(id, list)
          this.holder.delete(id)
        }
        break
      case 'node.failed':
        expect(result.count).toBe((result.tasks as string[]).length)
        for (const released of result.tasks as string[]) {
          expect(this.holder.get(released)?.node).toBe(op.node)
          this.holder.delete(released)
        }
        for (const [task, h] of this.holder) expect(`${task}:${h.node}`).not.toBe(`${task}:${op.node as string}`)
        break
      case 'task.release':
        // only the current holder with the current number gives it back
        expect(this.holder.get(id)).toEqual({ node: peer, assignment: op.assignment })
        expect(result).toMatchObject({ state: 'pending', assignment: op.assignment })
        this.holder.delete(id)
        this.releases++
        break
      case 'task.cancel':
        expect(this.results.has(id)).toBe(false)
        this.holder.delete(id)
        break
    }
  }

  /** The application agrees with the model: one holder per held task, the accepted result per finished one. */
  check (app: MeshApplication): void {
    for (const task of app.tasks({ limit: readLimitMax })) {
      const holder = this.holder.get(task.id)
      if (task.state === 'assigned' || task.state === 'running') {
        expect(holder, task.id).toEqual({ node: task.assignee, assignment: task.assignment })
      } else {
        expect(holder, task.id).toBeUndefined()
      }
      if (task.state === 'completed' || task.state === 'failed') {
        expect(this.results.get(task.id)).toEqual([{ kind: task.state, text: task.state === 'completed' ? task.result : task.error }])
      } else {
        expect(this.results.has(task.id)).toBe(false)
      }
    }
  }
}

describe('determinism and fencing over random operation sequences', () => {
  it('200 seeded sequences: two fresh applications and one restored mid-way give the same results and digests; fencing holds throughout', () => {
    const totals: Record<TaskState, number> = { pending: 0, assigned: 0, running: 0, completed: 0, failed: 0, cancelled: 0 }
    let accepted = 0
    let reassigned = 0
    let releases = 0
    for (let seed = 1; seed <= 200; seed++) {
      const next = rng(seed)
      const a = new MeshApplication(validators4, sha)
      const b = new MeshApplication(validators4, sha)
      let restored: MeshApplication | null = null
      const model = new Model()
      let seq = 1
      const steps = 120
      for (let i = 0; i < steps; i++) {
        if (next(3) !== 0) seq++
        if (i === steps / 2) {
          restored = new MeshApplication(validators4, sha)
          restored.restore(a.snapshot())
          expect(restored.digest()).toBe(a.digest())
        }
        const s = step(next, a)
        const ra = applyStep(a, s, seq)
        expect(applyStep(b, s, seq)).toEqual(ra)
        if (restored != null) expect(applyStep(restored, s, seq)).toEqual(ra)
        s.ops.forEach((op, k) => {
          model.observe(s.client, op, ra[k] as Json)
          if (op.op === 'node.failed') reassigned += Number((ra[k] as Json).count ?? 0)
        })
        if (i % 10 === 0) model.check(a)
      }
      model.check(a)
      expect(b.snapshot()).toBe(a.snapshot())
      expect(b.digest()).toBe(a.digest())
      expect(restored?.digest()).toBe(a.digest())
      expect(restored?.tasks({ limit: readLimitMax })).toEqual(a.tasks({ limit: readLimitMax }))
      accepted += model.accepted
      releases += model.releases
      const counts = a.taskCounts()
      for (const state of Object.keys(totals) as TaskState[]) totals[state] += counts[state]
    }
    // the sequences did exercise every state and path
    for (const state of Object.keys(totals) as TaskState[]) expect(totals[state], state).toBeGreaterThan(20)
    expect(accepted).toBeGreaterThan(200 * 30)
    expect(reassigned).toBeGreaterThan(50)
    expect(releases).toBeGreaterThan(50)
  })
})
