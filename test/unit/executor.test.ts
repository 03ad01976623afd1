/**
 * The local task executor (src/runtime/tasks/executor.ts): priority queue, concurrency bound, take/cancel,
 * timeouts, result encoding, built-in handlers, external commands (real processes) and the
 * `handlers` config section. No timing thresholds: tests wait on promises and `idle()`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  builtinHandlers, Executor, externalHandler, HandlerConfigError, handlersFromConfig, parseHandlerConfig
} from '../../src/runtime/tasks/executor.js'
import type { TaskContext, TaskHandler, TaskOutcome, TaskRun } from '../../src/runtime/tasks/executor.js'

function task (id: string, fields: Partial<TaskRun> = {}): TaskRun {
  return { id, capabilities: ['work'], payload: '{}', priority: 0, timeoutMs: 60_000, assignment: 1, ...fields }
}

interface Gate {
  promise: Promise<void>
  open: () => void
}

function gate (): Gate {
  let open!: () => void
  const promise = new Promise<void>(resolve => { open = resolve })
  return { promise, open }
}

/** An executor that records starts and outcomes. */
function recorder (options: Partial<ConstructorParameters<typeof Executor>[0]> = {}): {
  executor: Executor
  started: string[]
  done: Map<string, TaskOutcome[]>
  outcome: (id: string) => TaskOutcome
} {
  const started: string[] = []
  const done = new Map<string, TaskOutcome[]>()
  const executor = new Executor({
    maxConcurrent: 1,
    ...options,
    onStart: run => { started.push(run.id) },
    onDone: (run, outcome) => { done.set(run.id, [...(done.get(run.id) ?? []), outcome]) }
  })
  function outcome (id: string): TaskOutcome {
    const list = done.get(id)
    expect(list, `onDone for ${id}`).toHaveLength(1)
    return (list as TaskOutcome[])[0] as TaskOutcome
  }
  return { executor, started, done, outcome }
}

const never: TaskHandler = async () => await new Promise<never>(() => {})

describe('queue and concurrency', () => {
  it('with maxConcurrent 1, runs higher priority first, FIFO among equals', async () => {
    const first = gate()
    const { executor, started } = recorder({
      handlers: { work: async payload => { if (payload === 'block') await first.promise; return payload } }
    })
    expect(executor.submit(task('blocker', { payload: '"block"' }))).toBe(true)
    expect(executor.running().map(r => r.id)).toEqual(['blocker'])
    const submitted: Array<[string, number]> = [['a', 1], ['b', 5], ['c', 1], ['d', 9], ['e', 5], ['f', 0], ['g', 9]]
    for (const [id, priority] of submitted) expect(executor.submit(task(id, { priority }))).toBe(true)
    const order = ['d', 'g', 'b', 'e', 'a', 'c', 'f']
    expect(executor.queued().map(r => r.id)).toEqual(order)
    expect(executor.load()).toEqual({ queued: 7, running: 1, capacity: 1 })
    first.open()
    await executor.idle()
    expect(started).toEqual(['blocker', ...order])
    expect(executor.load()).toEqual({ queued: 0, running: 0, capacity: 1 })
  })

  it('never runs more than maxConcurrent handlers at once, and fills every slot', async () => {
    let current = 0
    let max = 0
    const executor = new Executor({
      maxConcurrent: 3,
      handlers: {
        work: async () => {
          current++
          max = Math.max(max, current)
          for (let i = 0; i < 3; i++) await new Promise(resolve => setImmediate(resolve))
          current--
          return null
        }
      }
    })
    for (let i = 0; i < 25; i++) {
      executor.submit(task(`t${i}`, { priority: i % 10 }))
      expect(executor.running().length).toBeLessThanOrEqual(3)
    }
    expect(executor.load()).toEqual({ queued: 22, running: 3, capacity: 3 })
    await executor.idle()
    expect(max).toBe(3)
    expect(current).toBe(0)
  })

  it('runs a task on the handler of its first capability that has one', async () => {
    const { executor, outcome } = recorder({
      maxConcurrent: 2,
      handlers: { a: async () => 'A', b: async () => 'B' }
    })
    expect(executor.capabilities()).toEqual(['a', 'b'])
    expect(executor.canRun(['x', 'b'])).toBe(true)
    expect(executor.canRun(['x', 'y'])).toBe(false)
    expect(executor.canRun([])).toBe(false)
    executor.submit(task('1', { capabilities: ['x', 'b', 'a'] }))
    executor.submit(task('2', { capabilities: ['a', 'b'] }))
    await executor.idle()
    expect(outcome('1')).toMatchObject({ ok: true, result: '"B"' })
    expect(outcome('2')).toMatchObject({ ok: true, result: '"A"' })
  })

  it('handle() adds and replaces handlers', async () => {
    const { executor, outcome } = recorder()
    expect(executor.capabilities()).toEqual([])
    expect(executor.submit(task('1'))).toBe(false)
    executor.handle('work', async () => 1)
    expect(executor.submit(task('1'))).toBe(true)
    await executor.idle()
    executor.handle('work', async () => 2)
    expect(executor.submit(task('2'))).toBe(true)
    await executor.idle()
    expect(outcome('1')).toMatchObject({ ok: true, result: '1' })
    expect(outcome('2')).toMatchObject({ ok: true, result: '2' })
  })

  it('submit refuses a known id (queued or running) and a task no handler fits', async () => {
    const g = gate()
    const { executor, started } = recorder({ handlers: { work: async () => await g.promise } })
    expect(executor.submit(task('r'))).toBe(true)
    expect(executor.submit(task('q'))).toBe(true)
    expect(executor.submit(task('r'))).toBe(false) // running
    expect(executor.submit(task('q', { priority: 9 }))).toBe(false) // queued
    expect(executor.submit(task('n', { capabilities: ['gpu'] }))).toBe(false)
    expect(executor.queued().map(r => r.id)).toEqual(['q'])
    g.open()
    await executor.idle()
    expect(started).toEqual(['r', 'q'])
    expect(executor.submit(task('r'))).toBe(true) // finished: may run again
    await executor.idle()
  })

  it('submit throws on a malformed run', () => {
    const executor = new Executor({ maxConcurrent: 1, handlers: { work: builtinHandlers.echo } })
    expect(() => executor.submit(task('p', { priority: 10 }))).toThrow(/priority/)
    expect(() => executor.submit(task('p', { priority: 1.5 }))).toThrow(/priority/)
    expect(() => executor.submit(task('t', { timeoutMs: 0 }))).toThrow(/timeoutMs/)
    expect(() => executor.submit(task(''))).toThrow(/id/)
    expect(() => new Executor({ maxConcurrent: 0 })).toThrow(/maxConcurrent/)
  })

  it('keeps its own copy of a run', async () => {
    const g = gate()
    const executor = new Executor({ maxConcurrent: 1, handlers: { work: async () => await g.promise } })
    const run = task('r')
    const queued = task('q', { priority: 3 })
    executor.submit(run)
    executor.submit(queued)
    queued.priority = 9
    queued.capabilities.push('x')
    expect(executor.queued()[0]).toMatchObject({ id: 'q', priority: 3, capabilities: ['work'] })
    g.open()
    await executor.idle()
  })

  it('idle() resolves at once when nothing is queued or running', async () => {
    const executor = new Executor({ maxConcurrent: 2 })
    await executor.idle()
    expect(executor.load()).toEqual({ queued: 0, running: 0, capacity: 2 })
  })
})

describe('payloads loaded at start (kept by reference)', () => {
  it('loadPayload runs when the task starts, not while it is queued, and the handler gets its parsed text', async () => {
    const first = gate()
    const loads: string[] = []
    const { executor, outcome } = recorder({ handlers: { work: async payload => { if (payload === 'block') await first.promise; return payload } } })
    executor.submit(task('a', { payload: '"block"' }))
    executor.submit(task('b', { payload: '@sha256:placeholder', loadPayload: async () => { loads.push('b'); return '{"big":true}' } }))
    await new Promise(resolve => setImmediate(resolve))
    expect(loads).toEqual([]) // b waits in the queue: nothing fetched yet
    first.open()
    await executor.idle()
    expect(loads).toEqual(['b'])
    expect(outcome('b')).toMatchObject({ ok: true, result: '{"big":true}' })
  })

  it('a failing load fails the task with "payload unavailable: …"; a load that is not JSON fails too; the slot is freed', async () => {
    const { executor, outcome } = recorder({ handlers: { work: async payload => payload } })
    executor.submit(task('lost', { loadPayload: async () => { throw new Error('no replica holds it') } }))
    executor.submit(task('junk', { loadPayload: async () => '{not json' }))
    executor.submit(task('after'))
    await executor.idle()
    expect(outcome('lost')).toMatchObject({ ok: false, error: 'payload unavailable: no replica holds it' })
    expect(outcome('junk')).toMatchObject({ ok: false })
    expect((outcome('junk') as { error: string }).error).toMatch(/^payload is not JSON/)
    expect(outcome('after')).toMatchObject({ ok: true })
  })

  it('the load counts within the timeout: a load that hangs fails the task when it times out, through the signal', async () => {
    let aborted = false
    const { executor, outcome } = recorder({ handlers: { work: async payload => payload } })
    executor.submit(task('slow', {
      timeoutMs: 20,
      loadPayload: async signal => await new Promise<string>((_resolve, reject) => { signal.addEventListener('abort', () => { aborted = true; reject(signal.reason) }) })
    }))
    await executor.idle()
    expect(aborted).toBe(true)
    expect((outcome('slow') as { error: string }).error).toMatch(/timed out after 20 ms/)
  })
})

describe('take and cancel', () => {
  it('take() removes and returns a queued task, never a running one', async () => {
    const g = gate()
    const { executor, started, done } = recorder({ handlers: { work: async () => await g.promise } })
    executor.submit(task('running'))
    executor.submit(task('q1', { priority: 2 }))
    executor.submit(task('q2', { priority: 4 }))
    expect(executor.take('running')).toBeUndefined()
    expect(executor.running().map(r => r.id)).toEqual(['running'])
    const taken = executor.take('q1')
    expect(taken).toEqual(task('q1', { priority: 2 }))
    expect(executor.take('q1')).toBeUndefined()
    expect(executor.take('unknown')).toBeUndefined()
    expect(executor.queued().map(r => r.id)).toEqual(['q2'])
    // a taken task can be handed back (a refused move)
    expect(executor.submit(taken as TaskRun)).toBe(true)
    expect(executor.take('q1')).toBeDefined()
    g.open()
    await executor.idle()
    expect(started).toEqual(['running', 'q2'])
    expect(done.has('q1')).toBe(false)
  })

  it('cancel() removes a queued task: it never starts and gets no onDone', async () => {
    const g = gate()
    const { executor, started, done } = recorder({ handlers: { work: async () => await g.promise } })
    executor.submit(task('r'))
    executor.submit(task('q'))
    expect(executor.cancel('q')).toBe(true)
    expect(executor.cancel('q')).toBe(false)
    expect(executor.cancel('unknown')).toBe(false)
    expect(executor.queued()).toEqual([])
    g.open()
    await executor.idle()
    expect(started).toEqual(['r'])
    expect([...done.keys()]).toEqual(['r'])
  })

  it('cancel() aborts a running task through its signal, frees its slot at once', async () => {
    let seen: AbortSignal | undefined
    const { executor, started, outcome } = recorder({
      handlers: {
        work: async (payload, { signal }: TaskContext) => {
          if (payload === 'wait') {
            seen = signal
            await new Promise<never>(() => {}) // ignores the signal: not awaited after the abort
          }
          return 'next'
        }
      }
    })
    executor.submit(task('r', { payload: '"wait"' }))
    executor.submit(task('after'))
    expect(seen?.aborted).toBe(false)
    expect(executor.cancel('r')).toBe(true)
    expect(seen?.aborted).toBe(true)
    expect(executor.running().map(r => r.id)).toEqual(['after'])
    expect(outcome('r')).toMatchObject({ ok: false, error: 'cancelled' })
    await executor.idle()
    expect(started).toEqual(['r', 'after'])
    expect(outcome('after')).toMatchObject({ ok: true, result: '"next"' })
  })

  it('stop() aborts running tasks, drops queued ones and refuses new ones', async () => {
    const { executor, started, done, outcome } = recorder({ maxConcurrent: 2, handlers: { work: never } })
    for (const id of ['a', 'b', 'c', 'd']) executor.submit(task(id))
    executor.stop()
    await executor.idle()
    expect(started).toEqual(['a', 'b'])
    expect(outcome('a')).toMatchObject({ ok: false, error: 'executor stopped' })
    expect(outcome('b')).toMatchObject({ ok: false, error: 'executor stopped' })
    expect(done.size).toBe(2)
    expect(executor.submit(task('e'))).toBe(false)
    expect(executor.load()).toEqual({ queued: 0, running: 0, capacity: 2 })
  })
})

describe('outcomes', () => {
  it('a task that outlives its timeout fails with "timed out after N ms"; its signal says TimeoutError', async () => {
    let seen: AbortSignal | undefined
    const { executor, outcome } = recorder({
      handlers: { work: async (_p, { signal }) => { seen = signal; return await new Promise<never>(() => {}) } }
    })
    executor.submit(task('slow', { timeoutMs: 30 }))
    await executor.idle()
    const result = outcome('slow')
    expect(result).toMatchObject({ ok: false, error: 'timed out after 30 ms' })
    expect(result.durationMs).toBeGreaterThanOrEqual(0)
    expect(seen?.aborted).toBe(true)
    expect((seen?.reason as DOMException).name).toBe('TimeoutError')
  })

  it('encodes results as JSON (undefined as null)', async () => {
    const values: Record<string, unknown> = { n: 42, s: 'text', o: { b: [1, 2], a: null }, u: undefined, f: false }
    const { executor, outcome } = recorder({
      maxConcurrent: 3,
      handlers: { work: async (_p, { id }) => values[id] }
    })
    for (const id of Object.keys(values)) executor.submit(task(id))
    await executor.idle()
    expect(outcome('n')).toMatchObject({ ok: true, result: '42' })
    expect(outcome('s')).toMatchObject({ ok: true, result: '"text"' })
    expect(outcome('o')).toMatchObject({ ok: true, result: '{"b":[1,2],"a":null}' })
    expect(outcome('u')).toMatchObject({ ok: true, result: 'null' })
    expect(outcome('f')).toMatchObject({ ok: true, result: 'false' })
  })

  it('refuses a result larger than maxResultBytes (UTF-8 bytes of its JSON)', async () => {
    // '"ééé"' is 5 characters but 8 bytes
    const { executor, outcome } = recorder({ maxResultBytes: 8, handlers: { work: builtinHandlers.echo } })
    executor.submit(task('fits', { payload: '"ééé"' }))
    executor.submit(task('big', { payload: '"éééé"' }))
    await executor.idle()
    expect(outcome('fits')).toMatchObject({ ok: true, result: '"ééé"' })
    expect(outcome('big')).toMatchObject({ ok: false, error: 'result larger than 8 bytes' })
  })

  it('the default result cap is 16 KiB', async () => {
    const { executor, outcome } = recorder({ handlers: { work: async (p) => 'x'.repeat(p as number) } })
    executor.submit(task('fits', { payload: String(16 * 1024 - 2) }))
    executor.submit(task('big', { payload: String(16 * 1024 - 1) }))
    await executor.idle()
    expect(outcome('fits').ok).toBe(true)
    expect(outcome('big')).toMatchObject({ ok: false, error: 'result larger than 16384 bytes' })
  })

  it('a result that is not JSON-encodable fails', async () => {
    const { executor, outcome } = recorder({ handlers: { work: async () => ({ big: 1n }) } })
    executor.submit(task('bigint'))
    await executor.idle()
    expect(outcome('bigint').ok).toBe(false)
    expect((outcome('bigint') as { error: string }).error).toMatch(/^result is not JSON/)
  })

  it('a thrown error fails the task with its message, cut to 1 KiB', async () => {
    const { executor, outcome } = recorder({
      maxConcurrent: 4,
      handlers: {
        work: async (payload) => {
          if (payload === 'long') throw new Error('é'.repeat(2000))
          if (payload === 'string') throw 'plain string'
          throw new Error('disk on fire')
        },
        sync: ((): Promise<unknown> => { throw new Error('thrown before any promise') }) as TaskHandler
      }
    })
    executor.submit(task('plain'))
    executor.submit(task('long', { payload: '"long"' }))
    executor.submit(task('string', { payload: '"string"' }))
    executor.submit(task('sync', { capabilities: ['sync'] }))
    await executor.idle()
    expect(outcome('plain')).toMatchObject({ ok: false, error: 'disk on fire' })
    expect(outcome('string')).toMatchObject({ ok: false, error: 'plain string' })
    expect(outcome('sync')).toMatchObject({ ok: false, error: 'thrown before any promise' })
    const long = outcome('long') as { error: string }
    expect(Buffer.byteLength(long.error, 'utf8')).toBeLessThanOrEqual(1024)
    expect(long.error.startsWith('éééé')).toBe(true)
    expect(long.error.endsWith('…')).toBe(true)
    expect(long.error).not.toContain('\uFFFD')
  })

  it('a payload that is not JSON fails the task', async () => {
    const { executor, outcome } = recorder({ handlers: { work: builtinHandlers.echo } })
    executor.submit(task('bad', { payload: '{nope' }))
    executor.submit(task('good', { payload: '[1]' }))
    await executor.idle()
    expect((outcome('bad') as { error: string }).error).toMatch(/^payload is not JSON/)
    expect(outcome('good')).toMatchObject({ ok: true, result: '[1]' })
  })

  it('onDone is called exactly once per started task, whatever ends it', async () => {
    const late = gate()
    const starts: string[] = []
    const dones: string[] = []
    const executor = new Executor({
      maxConcurrent: 2,
      handlers: {
        ok: async () => 'fine',
        fail: async () => { throw new Error('no') },
        // resolves only after the timeout already ended the task
        late: async () => { await late.promise; return 'too late' },
        lateThrow: async () => { await late.promise; throw new Error('too late') },
        never
      },
      onStart: run => { starts.push(run.id) },
      onDone: run => { dones.push(run.id) }
    })
    executor.submit(task('ok', { capabilities: ['ok'] }))
    executor.submit(task('fail', { capabilities: ['fail'] }))
    executor.submit(task('late', { capabilities: ['late'], timeoutMs: 10 }))
    executor.submit(task('lateThrow', { capabilities: ['lateThrow'], timeoutMs: 10 }))
    executor.submit(task('cancelled', { capabilities: ['never'] }))
    executor.submit(task('stopped', { capabilities: ['never'] }))
    await new Promise<void>(resolve => {
      const poll = (): void => { if (executor.running().some(r => r.id === 'cancelled')) resolve(); else setImmediate(poll) }
      poll()
    })
    executor.cancel('cancelled')
    executor.cancel('cancelled')
    await new Promise<void>(resolve => {
      const poll = (): void => { if (executor.running().some(r => r.id === 'stopped')) resolve(); else setImmediate(poll) }
      poll()
    })
    executor.stop()
    executor.stop()
    await executor.idle()
    late.open()
    await new Promise(resolve => setImmediate(resolve))
    expect(starts.sort()).toEqual(['cancelled', 'fail', 'late', 'lateThrow', 'ok', 'stopped'])
    expect(dones.sort()).toEqual(starts)
  })

  it('a throwing onStart/onDone does not break the bookkeeping', async () => {
    const executor = new Executor({
      maxConcurrent: 1,
      handlers: { work: builtinHandlers.echo },
      onStart: () => { throw new Error('start hook') },
      onDone: () => { throw new Error('done hook') }
    })
    executor.submit(task('a'))
    executor.submit(task('b'))
    await executor.idle()
    expect(executor.load()).toEqual({ queued: 0, running: 0, capacity: 1 })
  })
})

describe('built-in handlers', () => {
  it('echo returns the payload', async () => {
    const { executor, outcome } = recorder({ handlers: { ...builtinHandlers } })
    executor.submit(task('e', { capabilities: ['echo'], payload: '{"a":[1,"two",null]}' }))
    await executor.idle()
    expect(outcome('e')).toMatchObject({ ok: true, result: '{"a":[1,"two",null]}' })
  })

  it('sleep waits, returns { slept }, validates its payload and stops on abort', async () => {
    const { executor, outcome } = recorder({ maxConcurrent: 4, handlers: { ...builtinHandlers } })
    executor.submit(task('s', { capabilities: ['sleep'], payload: '{"ms":5}' }))
    executor.submit(task('too-long', { capabilities: ['sleep'], payload: '{"ms":60001}' }))
    executor.submit(task('bad', { capabilities: ['sleep'], payload: '"soon"' }))
    executor.submit(task('cut', { capabilities: ['sleep'], payload: '{"ms":60000}' }))
    executor.cancel('cut')
    await executor.idle()
    expect(outcome('s')).toMatchObject({ ok: true, result: '{"slept":5}' })
    expect((outcome('too-long') as { error: string }).error).toMatch(/^sleep: payload must be/)
    expect((outcome('bad') as { error: string }).error).toMatch(/^sleep: payload must be/)
    expect(outcome('cut')).toMatchObject({ ok: false, error: 'cancelled' })

    const controller = new AbortController()
    const sleeping = builtinHandlers.sleep({ ms: 60_000 }, { id: 'x', signal: controller.signal })
    controller.abort(new Error('stop now'))
    await expect(sleeping).rejects.toThrow('stop now')
  })

  it('sha256 hashes the canonical JSON of the payload (key order does not matter)', async () => {
    const { executor, outcome } = recorder({ maxConcurrent: 2, handlers: { ...builtinHandlers } })
    executor.submit(task('1', { capabilities: ['sha256'], payload: '{"b":1,"a":{"d":[1,2],"c":"x"}}' }))
    executor.submit(task('2', { capabilities: ['sha256'], payload: '{ "a": { "c": "x", "d": [1, 2] }, "b": 1 }' }))
    await executor.idle()
    const expected = createHash('sha256').update('{"a":{"c":"x","d":[1,2]},"b":1}').digest('hex')
    expect(JSON.parse((outcome('1') as { result: string }).result)).toEqual({ sha256: expected })
    expect((outcome('2') as { result: string }).result).toBe((outcome('1') as { result: string }).result)
  })
})

/** Whether the process is dead: gone, or a zombie that a non-reaping init (containers) never collects. */
function isDead (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true
    throw err
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state === 'Z' || state === 'X'
  } catch {
    return true // vanished between the two checks
  }
}

async function until (condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise(resolve => setTimeout(resolve, 20))
}

describe('external commands (real processes)', () => {
  const node = process.execPath
  let dir: string

  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'executor-test-')) })
  afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

  const readStdin = 'let d = ""; process.stdin.setEncoding("utf8"); process.stdin.on("data", c => { d += c }); process.stdin.on("end", () => { main(JSON.parse(d)) });'
  /** A script that starts a long-lived child (sharing its stdio), writes the child's pid to $PID_FILE, then runs `then`. */
  function spawnsChild (then = 'setInterval(() => {}, 1000)'): string {
    return [
      'const { spawn } = require("child_process"); const fs = require("fs");',
      'const c = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "inherit" });',
      'fs.writeFileSync(process.env.PID_FILE + ".tmp", String(c.pid)); fs.renameSync(process.env.PID_FILE + ".tmp", process.env.PID_FILE);',
      then
    ].join(' ')
  }
  const ctx = (): TaskContext => ({ id: 't', signal: new AbortController().signal })

  it('writes the payload to stdin and parses stdout as JSON; env is added to the environment', async () => {
    const handler = externalHandler({
      command: [node, '-e', `${readStdin} function main (p) { process.stdout.write(JSON.stringify({ got: p, x: process.env.X_TEST, path: typeof process.env.PATH })) }`],
      env: { X_TEST: 'yes' }
    })
    const { executor, outcome } = recorder({ handlers: { ext: handler } })
    executor.submit(task('1', { capabilities: ['ext'], payload: '{"n":[1,2,3],"s":"é"}' }))
    await executor.idle()
    const result = outcome('1')
    expect(result.ok).toBe(true)
    expect(JSON.parse((result as { result: string }).result)).toEqual({ got: { n: [1, 2, 3], s: 'é' }, x: 'yes', path: 'string' })
  })

  it('non-zero exit fails with the exit code and the stderr tail', async () => {
    const handler = externalHandler({
      command: [node, '-e', 'process.stderr.write("x".repeat(5000) + "\\nthe real reason\\n"); process.exit(3)']
    })
    const error = await handler({}, ctx()).then(() => '', (err: Error) => err.message)
    expect(error.startsWith('exit code 3: ')).toBe(true)
    expect(error.endsWith('the real reason')).toBe(true)
    expect(Buffer.byteLength(error)).toBeLessThanOrEqual(1024)

    const quiet = externalHandler({ command: [node, '-e', 'process.exit(7)'] })
    await expect(quiet(null, ctx())).rejects.toThrow(/^exit code 7$/)
  })

  it('stdout that is not JSON is returned as a string', async () => {
    const handler = externalHandler({ command: [node, '-e', 'process.stdout.write("hello, world\\n")'] })
    await expect(handler({}, ctx())).resolves.toBe('hello, world\n')
    const { executor, outcome } = recorder({ handlers: { ext: handler } })
    executor.submit(task('1', { capabilities: ['ext'] }))
    await executor.idle()
    expect(outcome('1')).toMatchObject({ ok: true, result: '"hello, world\\n"' })
  })

  it('does not care whether the command reads its stdin', async () => {
    const handler = externalHandler({ command: [node, '-e', 'process.stdout.write("[true]")'] })
    await expect(handler({ big: 'y'.repeat(1024 * 1024) }, ctx())).resolves.toEqual([true])
  })

  it('kills the command and fails when stdout exceeds maxOutputBytes', async () => {
    const pidFile = join(dir, 'cap.pid')
    const handler = externalHandler({
      command: [node, '-e', spawnsChild('setInterval(() => process.stdout.write("z".repeat(64)), 5)')],
      maxOutputBytes: 1000,
      env: { PID_FILE: pidFile }
    })
    await expect(handler({}, ctx())).rejects.toThrow(/^output larger than 1000 bytes$/)
    const pid = Number(readFileSync(pidFile, 'utf8'))
    await until(() => isDead(pid))
  })

  it('its own timeoutMs kills the command', async () => {
    const handler = externalHandler({ command: [node, '-e', 'setInterval(() => {}, 1000)'], timeoutMs: 50 })
    await expect(handler({}, ctx())).rejects.toThrow(/^timed out after 50 ms$/)
  })

  it('an abort kills the whole process group, children included', async () => {
    const pidFile = join(dir, 'abort.pid')
    const handler = externalHandler({ command: [node, '-e', spawnsChild()], env: { PID_FILE: pidFile } })
    const controller = new AbortController()
    const running = handler({}, { id: 'a', signal: controller.signal })
    await until(() => existsSync(pidFile))
    const pid = Number(readFileSync(pidFile, 'utf8'))
    expect(isDead(pid)).toBe(false)
    controller.abort(new Error('cancelled'))
    await expect(running).rejects.toThrow('cancelled')
    await until(() => isDead(pid))
  })

  it('the task timeout kills the process group, children included', async () => {
    const pidFile = join(dir, 'timeout.pid')
    const { executor, outcome } = recorder({
      handlers: { ext: externalHandler({ command: [node, '-e', spawnsChild()], env: { PID_FILE: pidFile } }) }
    })
    executor.submit(task('slow', { capabilities: ['ext'], timeoutMs: 3000 }))
    await executor.idle()
    expect(outcome('slow')).toMatchObject({ ok: false, error: 'timed out after 3000 ms' })
    const pid = Number(readFileSync(pidFile, 'utf8')) // written long before the timeout
    await until(() => isDead(pid))
  })

  it('a command that cannot start fails with the reason', async () => {
    const handler = externalHandler({ command: [join(dir, 'no-such-program')] })
    await expect(handler({}, ctx())).rejects.toThrow(/^cannot run .*no-such-program: .*ENOENT/)
  })

  it('refuses bad options', () => {
    expect(() => externalHandler({ command: [] })).toThrow(/command/)
    expect(() => externalHandler({ command: [''] })).toThrow(/program/)
    expect(() => externalHandler({ command: ['x'], timeoutMs: 0 })).toThrow(/timeoutMs/)
    expect(() => externalHandler({ command: ['x'], maxOutputBytes: -1 })).toThrow(/maxOutputBytes/)
  })
})

describe('handlers config', () => {
  function configError (value: unknown): HandlerConfigError {
    try {
      parseHandlerConfig(value)
    } catch (err) {
      expect(err).toBeInstanceOf(HandlerConfigError)
      expect((err as Error).name).toBe('HandlerConfigError')
      return err as HandlerConfigError
    }
    throw new Error(`expected a HandlerConfigError for ${JSON.stringify(value)}`)
  }

  it('parses a valid section and ignores the rest of the config', () => {
    const parsed = parseHandlerConfig({
      network: 'lab',
      handlers: {
        resize: { command: ['convert', '-'], timeout_ms: 30000 },
        'gpu.v2': { command: ['run'], max_output_bytes: 2048 }
      }
    })
    expect(parsed).toEqual({
      resize: { command: ['convert', '-'], timeout_ms: 30000 },
      'gpu.v2': { command: ['run'], max_output_bytes: 2048 }
    })
    expect(parseHandlerConfig({})).toEqual({})
    expect(parseHandlerConfig({ handlers: {} })).toEqual({})
  })

  it('names the capability and the field at fault', () => {
    expect(configError(null).message).toMatch(/config must be a JSON object/)
    expect(configError({ handlers: [] }).message).toMatch(/^handlers: must be an object/)

    let err = configError({ handlers: { resize: { timeout_ms: 5 } } })
    expect(err.message).toMatch(/^handlers\.resize\.command: missing/)
    expect([err.capability, err.field]).toEqual(['resize', 'command'])

    err = configError({ handlers: { resize: { command: 'convert -' } } })
    expect(err.message).toMatch(/^handlers\.resize\.command: must be a non-empty list of strings/)

    err = configError({ handlers: { resize: { command: [] } } })
    expect(err.field).toBe('command')

    err = configError({ handlers: { resize: { command: ['convert', 3] } } })
    expect(err.field).toBe('command')

    err = configError({ handlers: { resize: { command: ['convert'], timeout_ms: '30s' } } })
    expect(err.message).toBe('handlers.resize.timeout_ms: must be an integer 1..2147483647 (milliseconds; got "30s")')
    expect([err.capability, err.field]).toEqual(['resize', 'timeout_ms'])

    err = configError({ handlers: { resize: { command: ['convert'], timeout_ms: 0 } } })
    expect(err.field).toBe('timeout_ms')

    err = configError({ handlers: { hash: { command: ['sha'], max_output_bytes: 1.5 } } })
    expect(err.message).toMatch(/^handlers\.hash\.max_output_bytes: must be a positive integer/)
    expect([err.capability, err.field]).toEqual(['hash', 'max_output_bytes'])

    err = configError({ handlers: { hash: { command: ['sha'], timeout: 5 } } })
    expect(err.message).toMatch(/^handlers\.hash\.timeout: unknown field/)
    expect([err.capability, err.field]).toEqual(['hash', 'timeout'])

    err = configError({ handlers: { 'bad name': { command: ['x'] } } })
    expect(err.message).toMatch(/"bad name" is not a capability name/)
    expect(err.capability).toBe('bad name')

    err = configError({ handlers: { resize: ['convert'] } })
    expect(err.message).toMatch(/^handlers\.resize: must be an object/)
  })

  it('handlersFromConfig builds working external handlers', async () => {
    const config = parseHandlerConfig(JSON.parse(JSON.stringify({
      handlers: {
        double: { command: [process.execPath, '-e', 'let d = ""; process.stdin.on("data", c => { d += c }).on("end", () => { process.stdout.write(JSON.stringify(JSON.parse(d) * 2)) })'], timeout_ms: 60000 },
        capped: { command: [process.execPath, '-e', 'process.stdout.write("0123456789")'], max_output_bytes: 4 }
      }
    })))
    const { executor, outcome } = recorder({ maxConcurrent: 2, handlers: handlersFromConfig(config) })
    expect(executor.capabilities()).toEqual(['capped', 'double'])
    executor.submit(task('d', { capabilities: ['double'], payload: '21' }))
    executor.submit(task('c', { capabilities: ['capped'] }))
    await executor.idle()
    expect(outcome('d')).toMatchObject({ ok: true, result: '42' })
    expect(outcome('c')).toMatchObject({ ok: false, error: 'output larger than 4 bytes' })
  })
})

// ---------------------------------------------------------------------------------------------
// The task runtime around the executor (src/runtime/tasks/tasks.ts): moves and runs exclude each other

describe('task runtime: a task taken out of the queue for a move never begins there (issue 9)', () => {
  /**
   * One node 'A' with a real Executor and a real replicated table, over a fake consensus whose answer
   * comes before this node's table has applied the decision (a validator's reply quorum is f+1 others;
   * an observer learns decisions later still): `propose` applies to the agreed table at once, the
   * local table catches up only on `flush()`.
   */
  async function node (options: { maxConcurrent: number, proposeFails?: (op: Record<string, unknown>, attempt: number) => boolean, noQuorum?: (op: Record<string, unknown>, attempt: number) => boolean }) {
    const { MeshApplication } = await import('../../src/core/app/application.js')
    const { TaskService } = await import('../../src/runtime/tasks/tasks.js')
    const sha = (text: string): string => createHash('sha256').update(text).digest('hex')
    const agreed = new MeshApplication(['V'], sha)
    const local = new MeshApplication(['V'], sha)
    const backlog: Array<{ client: string, operation: string, seq: number }> = []
    const listeners = new Set<(d: { seq: number, batch: Array<{ client: string, operation: string }> }) => void>()
    let seq = 0
    let requestId = 0
    const attempts = new Map<string, number>()
    const commit = (client: string, operation: string): string => {
      seq++
      backlog.push({ client, operation, seq })
      return agreed.apply({ client, requestId: ++requestId, operation }, seq)
    }
    const flush = (): void => {
      for (const d of backlog.splice(0)) {
        local.apply({ client: d.client, requestId: ++requestId, operation: d.operation }, d.seq)
        for (const l of listeners) l({ seq: d.seq, batch: [{ client: d.client, operation: d.operation }] })
      }
    }
    const runs: string[] = []
    const gates = new Map<string, Gate>()
    let service: InstanceType<typeof TaskService> | undefined
    const executor = new Executor({
      maxConcurrent: options.maxConcurrent,
      handlers: {
        work: async (_payload, { id }) => {
          runs.push(id)
          await gates.get(id)?.promise
          return { ran: id }
        }
      },
      onStart: run => service?.onStart(run),
      onDone: (run, outcome) => service?.onDone(run, outcome)
    })
    let stealHandler: ((req: { maxTasks: number, capabilities: string[] }, from: { toString: () => string }, signal: AbortSignal) => Promise<{ taskIds: string[], reason: string }>) | undefined
    const protocols = {
      setHandlers: (h: { steal: typeof stealHandler } | null) => { stealHandler = h?.steal },
      callForBids: async () => [],
      notifyAwards: async () => {},
      requestSteal: async () => ({ taskIds: [], reason: 'none' })
    }
    const member = (peerId: string, self: boolean, load: { queued: number, running: number, capacity: number }) =>
      ({ peerId, name: peerId, state: 'alive' as const, self, incarnation: 1, sequence: 1, lastSeenMs: 0, rttMs: null, connected: true, capabilities: ['work'], load: { ...load, cpu: 0 }, addresses: [], startedAt: null, neighbours: null })
    service = new TaskService({
      self: 'A',
      validators: ['V'],
      propose: async (operation: string) => {
        const op = JSON.parse(operation) as Record<string, unknown>
        const key = `${String(op.op)}/${String(op.id)}`
        const attempt = attempts.get(key) ?? 0
        attempts.set(key, attempt + 1)
        // no quorum: nothing commits, the caller retries
        if (options.noQuorum?.(op, attempt) === true) throw new Error('read-only: no quorum; retry')
        // the decision commits, but the answer is lost (a timeout): the caller retries
        const result = commit('A/1', operation)
        if (options.proposeFails?.(op, attempt) === true) throw new Error('not decided within 10000 ms; retry')
        return { result, seq }
      },
      onCommit: listener => { listeners.add(listener); return () => { listeners.delete(listener) } },
      app: local,
      protocols: protocols as unknown as ConstructorParameters<typeof TaskService>[0]['protocols'],
      executor,
      members: () => [member('A', true, executor.load()), member('B', false, { queued: 0, running: 0, capacity: 8 })],
      setLoad: () => {},
      log: () => {},
      intervalMs: 10,
      proposeRetryMs: 2,
      loadShedding: []
    })
    const assign = (id: string): void => {
      commit('S/1', JSON.stringify({ op: 'task.submit', id, capabilities: ['work'], payload: '{}' }))
      commit('S/1', JSON.stringify({ op: 'task.assign', id, node: 'A', assignment: 1 }))
    }
    return { service, executor, agreed, local, flush, assign, commit, runs, gates, steal: () => stealHandler, attempts }
  }

  const settle = async (ms = 50): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

  /** Four tasks assigned to A (capacity 1): one runs (held by its gate), three wait in the queue. */
  async function busyNode (proposeFails?: (op: Record<string, unknown>, attempt: number) => boolean) {
    const n = await node({ maxConcurrent: 1, proposeFails })
    const ids = ['t0', 't1', 't2', 't3']
    for (const id of ids) { n.gates.set(id, gate()); n.assign(id) }
    n.flush()
    n.service.start()
    await waitFor(() => n.runs.length === 1 && n.executor.queued().length === 3)
    return n
  }

  async function waitFor (condition: () => boolean, what = 'the condition', ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
      await settle(5)
    }
  }

  /** Open every gate, let the lagging table catch up, and wait until nothing runs any more. */
  async function drain (n: Awaited<ReturnType<typeof node>>): Promise<void> {
    await settle() // reconcile rounds on the lagging table
    for (const g of n.gates.values()) g.open()
    await settle(100)
    n.flush()
    await settle()
    await n.executor.idle()
    n.service.stop()
  }

  it('a restarted node releases a run its earlier life began (running, start committed) instead of leaving it for ever (issue 13, chaos seed 1313)', async () => {
    const n = await node({ maxConcurrent: 2 })
    n.assign('old')
    n.commit('A/0', JSON.stringify({ op: 'task.start', id: 'old', assignment: 1 })) // the earlier life's start
    n.assign('fresh')
    n.flush()
    n.service.start() // this life: it never began either
    await waitFor(() => n.agreed.task('old')?.state === 'pending', `task old released (it is ${n.agreed.task('old')?.state ?? 'missing'})`)
    n.flush()
    await settle()
    await n.executor.idle()
    n.service.stop()
    expect(n.agreed.task('old')?.history.map(h => h.event)).toEqual(['submitted', 'assigned', 'started', 'released'])
    expect(n.agreed.task('old')).toMatchObject({ state: 'pending', assignee: null, assignment: 1 })
    expect(n.runs).toEqual(['fresh']) // not begun again at the assignment an earlier life began; the assigned one runs
    expect(n.agreed.task('fresh')?.state).toBe('completed')
  })

  it('a result that finds no quorum for longer than one proposal\'s attempts is tried again until it commits; the task is not run again', async () => {
    const n = await node({ maxConcurrent: 1, noQuorum: (op, attempt) => op.op === 'task.complete' && attempt < 12 })
    n.assign('t')
    n.flush()
    n.service.start()
    await waitFor(() => n.agreed.task('t')?.state === 'completed', `task t completed (it is ${n.agreed.task('t')?.state ?? 'missing'})`)
    n.flush()
    await settle()
    n.service.stop()
    expect(n.attempts.get('task.complete/t')).toBe(13) // more than the 5 attempts of one proposal
    expect(n.runs).toEqual(['t'])
    expect(n.agreed.task('t')).toMatchObject({ state: 'completed', assignment: 1, result: JSON.stringify({ ran: 't' }) })
  })

  it('a steal whose move commits before this node\'s table shows it: the stolen task does not run here', async () => {
    const n = await busyNode()
    const tail = n.executor.queued().at(-1)?.id as string
    const answer = await n.steal()?.({ maxTasks: 1, capabilities: ['work'] }, { toString: () => 'B' }, new AbortController().signal)
    expect(answer?.taskIds).toEqual([tail])
    expect(n.agreed.task(tail)?.assignee).toBe('B')
    expect(n.local.task(tail)?.assignee).toBe('A') // this node has not applied the move yet
    await drain(n)
    expect(n.runs.filter(id => id === tail), 'runs of the stolen task on its old holder').toEqual([])
    expect(n.runs).toHaveLength(3)
  })

  it('a steal whose move committed but whose answer was lost (the retry is refused as stale): never run here', async () => {
    const n = await busyNode((op, attempt) => op.op === 'task.move' && attempt === 0)
    const tail = n.executor.queued().at(-1)?.id as string
    const answer = await n.steal()?.({ maxTasks: 1, capabilities: ['work'] }, { toString: () => 'B' }, new AbortController().signal)
    expect(answer?.taskIds).toEqual([]) // the retry was refused: the thief is told nothing moved
    expect(n.agreed.task(tail)?.assignee).toBe('B') // but the first attempt did commit
    await drain(n)
    expect(n.runs.filter(id => id === tail)).toEqual([])
    expect(n.runs).toHaveLength(3)
    expect(n.agreed.task(tail)?.history.map(h => h.event)).toEqual(['submitted', 'assigned', 'stolen'])
  })
})
