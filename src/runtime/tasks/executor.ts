/**
 * The local task executor of a node: it runs the tasks assigned to this node through handlers
 * configured locally (built-ins, library callbacks, or external commands from the node's config).
 * A task only names capabilities and carries a JSON payload; code is never taken from the network.
 *
 *   submit ──▶ priority queue (higher priority first, then FIFO) ──▶ at most maxConcurrent running
 *
 * Every started task ends with exactly one `onDone` call: its result (JSON text, size-capped), or a
 * failure (the handler threw, timed out, was cancelled, or the executor stopped). A task that is
 * aborted frees its slot at once: the handler gets the abort through its signal, but its promise is
 * not awaited any further.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { canonicalJson } from '../../core/pbft/types.js'

/** A task assigned to this node. */
export interface TaskRun {
  /** Unique task id; an executor knows each id at most once at a time (queued or running). */
  id: string
  /** Capabilities the task needs; it runs on the handler of the first one this executor has. */
  capabilities: string[]
  /** The task's input as JSON text; the handler gets it parsed. */
  payload: string
  /** 0..9, higher runs first; FIFO among equal priorities. */
  priority: number
  /** Time the task may run once started (positive, at most 2^31 - 1 ms); then it fails. */
  timeoutMs: number
  /** Assignment number (opaque to the executor; carried for the caller's bookkeeping). */
  assignment: number
  /**
   * When set, the real payload is fetched by this when the task starts (not while it waits in the
   * queue, so queued tasks hold no large data), within the task's timeout; `payload` is then only a
   * placeholder. A rejection fails the task with its message.
   */
  loadPayload?: (signal: AbortSignal) => Promise<string>
}

/** Context given to a handler with each task. */
export interface TaskContext {
  /** The task's id. */
  id: string
  /** Aborted on timeout, cancel() or stop(); a handler should stop its work when it fires. */
  signal: AbortSignal
}

/**
 * Runs one task: gets the parsed payload, resolves with a JSON-encodable result, or throws
 * (the error's message becomes the failure).
 */
export type TaskHandler = (payload: unknown, context: TaskContext) => Promise<unknown>

/** How a started task ended. `result` is JSON text; `durationMs` counts from the start. */
export type TaskOutcome =
  | { ok: true, result: string, durationMs: number }
  | { ok: false, error: string, durationMs: number }

/** Options of an {@link Executor}. */
export interface ExecutorOptions {
  /** Tasks running at once (a positive integer); the rest wait in the queue. */
  maxConcurrent: number
  /** Initial handlers by capability (none by default; spread `builtinHandlers` in to offer them). */
  handlers?: Record<string, TaskHandler>
  /** Called when a task starts, before its handler. Must not throw (errors are ignored). */
  onStart?: (run: TaskRun) => void
  /** Called exactly once per started task, after it left `running()`. Must not throw (errors are ignored). */
  onDone?: (run: TaskRun, outcome: TaskOutcome) => void
  /** Largest result accepted, in UTF-8 bytes of its JSON text (default 16 KiB). */
  maxResultBytes?: number
}

/** Queue, running set and capacity: what the node advertises as its load. */
export interface ExecutorLoad {
  queued: number
  running: number
  capacity: number
}

/** Default cap on a result's JSON text. */
export const defaultMaxResultBytes = 16 * 1024
/** Failure messages (a handler's error included) are cut to this many UTF-8 bytes. */
export const maxErrorBytes = 1024
/** Longest timeout a timer can take (setTimeout fires at once above it). */
const maxTimerMs = 2 ** 31 - 1

interface QueuedTask {
  run: TaskRun
  seq: number
}

interface RunningTask {
  run: TaskRun
  controller: AbortController
  settled: boolean
}

/** The error message of anything thrown. */
function errorMessage (err: unknown): string {
  if (err instanceof Error) return err.message !== '' ? err.message : err.name
  if (typeof err === 'string') return err
  try {
    return String(err)
  } catch {
    return 'unknown error'
  }
}

/** Cut `text` to at most `maxBytes` UTF-8 bytes on a character boundary, marking the cut with '…'. */
export function truncateUtf8 (text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text
  const bytes = Buffer.from(text, 'utf8')
  let end = Math.max(0, maxBytes - 3) // room for '…' (3 bytes)
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end-- // not inside a character
  return `${bytes.subarray(0, end).toString('utf8')}…`
}

function failure (message: string, durationMs: number): TaskOutcome {
  return { ok: false, error: truncateUtf8(message, maxErrorBytes), durationMs }
}

function checkRun (run: TaskRun): void {
  if (run === null || typeof run !== 'object') throw new TypeError('task run must be an object')
  if (typeof run.id !== 'string' || run.id === '') throw new TypeError('task run: id must be a non-empty string')
  if (!Array.isArray(run.capabilities) || !run.capabilities.every(c => typeof c === 'string')) {
    throw new TypeError(`task ${run.id}: capabilities must be a list of strings`)
  }
  if (typeof run.payload !== 'string') throw new TypeError(`task ${run.id}: payload must be JSON text`)
  if (!Number.isInteger(run.priority) || run.priority < 0 || run.priority > 9) {
    throw new RangeError(`task ${run.id}: priority must be an integer 0..9 (got ${String(run.priority)})`)
  }
  if (!Number.isInteger(run.timeoutMs) || run.timeoutMs <= 0 || run.timeoutMs > maxTimerMs) {
    throw new RangeError(`task ${run.id}: timeoutMs must be an integer 1..${maxTimerMs} (got ${String(run.timeoutMs)})`)
  }
  if (typeof run.assignment !== 'number') throw new TypeError(`task ${run.id}: assignment must be a number`)
  if (run.loadPayload !== undefined && typeof run.loadPayload !== 'function') throw new TypeError(`task ${run.id}: loadPayload must be a function`)
}

/**
 * Runs tasks through local handlers, at most `maxConcurrent` at a time, in priority order.
 * Everything is in-process bookkeeping; a handler is whatever the node configured.
 */
export class Executor {
  private readonly maxConcurrent: number
  private readonly maxResultBytes: number
  private readonly onStart: ((run: TaskRun) => void) | undefined
  private readonly onDone: ((run: TaskRun, outcome: TaskOutcome) => void) | undefined
  private readonly handlers = new Map<string, TaskHandler>()
  /** Sorted in run order. */
  private readonly queue: QueuedTask[] = []
  /** In start order. */
  private readonly active = new Map<string, RunningTask>()
  private readonly idleWaiters: Array<() => void> = []
  private seq = 0
  private pumping = false
  private stopped = false

  constructor (options: ExecutorOptions) {
    if (!Number.isInteger(options.maxConcurrent) || options.maxConcurrent < 1) {
      throw new RangeError(`maxConcurrent must be a positive integer (got ${String(options.maxConcurrent)})`)
    }
    const maxResultBytes = options.maxResultBytes ?? defaultMaxResultBytes
    if (!Number.isInteger(maxResultBytes) || maxResultBytes < 1) {
      throw new RangeError(`maxResultBytes must be a positive integer (got ${String(options.maxResultBytes)})`)
    }
    this.maxConcurrent = options.maxConcurrent
    this.maxResultBytes = maxResultBytes
    this.onStart = options.onStart
    this.onDone = options.onDone
    for (const [capability, fn] of Object.entries(options.handlers ?? {})) this.handle(capability, fn)
  }

  /** Register (or replace) the handler of a capability. A replacement applies to tasks started later. */
  handle (capability: string, fn: TaskHandler): void {
    if (typeof capability !== 'string' || capability === '') throw new TypeError('capability must be a non-empty string')
    if (typeof fn !== 'function') throw new TypeError(`handler of ${capability} must be a function`)
    this.handlers.set(capability, fn)
  }

  /** The capabilities this executor has a handler for, sorted. */
  capabilities (): string[] {
    return [...this.handlers.keys()].sort()
  }

  /** Whether a task needing these capabilities would run here (some capability has a handler). */
  canRun (capabilities: string[]): boolean {
    return this.handlerFor(capabilities) !== undefined
  }

  /**
   * Queue a task (it starts at once if a slot is free). False if its id is already queued or running,
   * if no handler fits, or after stop(). Throws a TypeError/RangeError for a malformed run.
   */
  submit (run: TaskRun): boolean {
    checkRun(run)
    if (this.stopped || this.known(run.id) || !this.canRun(run.capabilities)) return false
    const copy: TaskRun = Object.freeze({
      id: run.id,
      capabilities: Object.freeze([...run.capabilities]) as string[],
      payload: run.payload,
      priority: run.priority,
      timeoutMs: run.timeoutMs,
      assignment: run.assignment,
      ...(run.loadPayload != null ? { loadPayload: run.loadPayload } : {})
    })
    const entry: QueuedTask = { run: copy, seq: this.seq++ }
    // after every task of the same or a higher priority: higher first, FIFO among equals
    let lo = 0
    let hi = this.queue.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.queue[mid] as QueuedTask).run.priority >= copy.priority) lo = mid + 1
      else hi = mid
    }
    this.queue.splice(lo, 0, entry)
    this.pump()
    return true
  }

  /**
   * Cancel a task. Queued: removed (it never starts, no onDone). Running: aborted through its signal;
   * it ends at once with the failure 'cancelled'. False if the id is unknown.
   */
  cancel (id: string): boolean {
    const index = this.queue.findIndex(e => e.run.id === id)
    if (index >= 0) {
      this.queue.splice(index, 1)
      this.checkIdle()
      return true
    }
    const task = this.active.get(id)
    if (task === undefined) return false
    task.controller.abort(new Error('cancelled'))
    return true
  }

  /** Remove a queued task and hand it over (work stealing, migration). Never a running one. */
  take (id: string): TaskRun | undefined {
    const index = this.queue.findIndex(e => e.run.id === id)
    if (index < 0) return undefined
    const [entry] = this.queue.splice(index, 1)
    this.checkIdle()
    return entry?.run
  }

  /** Queued tasks in the order they will run. */
  queued (): TaskRun[] {
    return this.queue.map(e => e.run)
  }

  /** Running tasks in the order they started. */
  running (): TaskRun[] {
    return [...this.active.values()].map(t => t.run)
  }

  /** Queue length, running count and capacity (maxConcurrent). */
  load (): ExecutorLoad {
    return { queued: this.queue.length, running: this.active.size, capacity: this.maxConcurrent }
  }

  /** Resolves once nothing is queued or running (at once if so already). */
  async idle (): Promise<void> {
    if (this.isIdle()) return
    await new Promise<void>(resolve => { this.idleWaiters.push(resolve) })
  }

  /**
   * Abort every running task (each ends with the failure 'executor stopped') and drop the queued
   * ones. The executor refuses submissions afterwards.
   */
  stop (): void {
    this.stopped = true
    this.queue.length = 0
    for (const task of [...this.active.values()]) task.controller.abort(new Error('executor stopped'))
    this.checkIdle()
  }

  private known (id: string): boolean {
    return this.active.has(id) || this.queue.some(e => e.run.id === id)
  }

  private handlerFor (capabilities: readonly string[]): TaskHandler | undefined {
    for (const capability of capabilities) {
      const fn = this.handlers.get(capability)
      if (fn !== undefined) return fn
    }
    return undefined
  }

  private isIdle (): boolean {
    return this.queue.length === 0 && this.active.size === 0
  }

  private checkIdle (): void {
    if (!this.isIdle()) return
    for (const resolve of this.idleWaiters.splice(0)) resolve()
  }

  /** Start queued tasks while slots are free (not re-entrant: a nested call leaves it to the loop). */
  private pump (): void {
    if (this.pumping) return
    this.pumping = true
    try {
      while (!this.stopped && this.active.size < this.maxConcurrent && this.queue.length > 0) {
        this.start((this.queue.shift() as QueuedTask).run)
      }
    } finally {
      this.pumping = false
    }
    this.checkIdle()
  }

  private start (run: TaskRun): void {
    const controller = new AbortController()
    const task: RunningTask = { run, controller, settled: false }
    const startedAt = performance.now()
    const elapsed = (): number => Math.round(performance.now() - startedAt)

    const settle = (outcome: TaskOutcome): void => {
      if (task.settled) return
      task.settled = true
      clearTimeout(timer)
      controller.signal.removeEventListener('abort', onAbort)
      this.active.delete(run.id)
      try {
        this.onDone?.(run, outcome)
      } catch {
        // a throwing callback must not break the bookkeeping
      }
      this.pump()
    }
    const onAbort = (): void => { settle(failure(errorMessage(controller.signal.reason), elapsed())) }
    const timer = setTimeout(() => {
      controller.abort(new DOMException(`timed out after ${run.timeoutMs} ms`, 'TimeoutError'))
    }, run.timeoutMs)

    this.active.set(run.id, task)
    controller.signal.addEventListener('abort', onAbort, { once: true })
    try {
      this.onStart?.(run)
    } catch {
      // ignored, as in onDone
    }
    if (task.settled) return // cancelled from onStart

    const handler = this.handlerFor(run.capabilities)
    if (handler === undefined) { // unreachable: handlers are never removed
      settle(failure(`no handler for ${run.capabilities.join(', ')}`, elapsed()))
      return
    }
    const invoke = (text: string): Promise<unknown> => {
      let payload: unknown
      try {
        payload = JSON.parse(text)
      } catch (err) {
        return Promise.reject(new Error(`payload is not JSON: ${errorMessage(err)}`))
      }
      try {
        return Promise.resolve(handler(payload, { id: run.id, signal: controller.signal }))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    let promise: Promise<unknown>
    if (run.loadPayload != null) {
      const load = run.loadPayload
      promise = (async () => {
        let text: string
        try {
          text = await load(controller.signal)
        } catch (err) {
          throw new Error(`payload unavailable: ${errorMessage(err)}`)
        }
        if (controller.signal.aborted) throw controller.signal.reason
        return await invoke(text)
      })()
    } else {
      promise = invoke(run.payload)
    }
    promise.then(
      value => { settle(this.encode(value, elapsed())) },
      (err: unknown) => { settle(failure(errorMessage(err), elapsed())) }
    )
  }

  private encode (value: unknown, durationMs: number): TaskOutcome {
    let result: string | undefined
    try {
      result = JSON.stringify(value)
    } catch (err) {
      return failure(`result is not JSON: ${errorMessage(err)}`, durationMs)
    }
    result ??= 'null' // undefined, a function or a symbol
    if (Buffer.byteLength(result, 'utf8') > this.maxResultBytes) {
      return failure(`result larger than ${this.maxResultBytes} bytes`, durationMs)
    }
    return { ok: true, result, durationMs }
  }
}

// ---------------------------------------------------------------------------------------------
// Built-in handlers

/** Longest `sleep` the built-in accepts. */
export const maxSleepMs = 60_000

function abortError (signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  return reason instanceof Error ? reason : new Error('aborted')
}

/** Payload `{ "ms": n }` with n an integer 0..60000. */
function sleepMs (payload: unknown): number {
  const ms = payload !== null && typeof payload === 'object' ? (payload as { ms?: unknown }).ms : undefined
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0 || ms > maxSleepMs) {
    throw new Error(`sleep: payload must be { "ms": n } with n an integer 0..${maxSleepMs}`)
  }
  return ms
}

/**
 * Handlers every node can offer (a node opts in by passing them to the Executor):
 * - `echo`: returns the payload.
 * - `sleep`: payload `{ "ms": n }` (n ≤ 60000); resolves after n ms with `{ slept: n }`, rejects on abort.
 * - `sha256`: returns `{ sha256: hex }`, the SHA-256 of the payload's canonical JSON (sorted keys).
 */
export const builtinHandlers: Readonly<Record<'echo' | 'sleep' | 'sha256', TaskHandler>> = Object.freeze({
  echo: async (payload: unknown): Promise<unknown> => payload,
  sleep: async (payload: unknown, { signal }: TaskContext): Promise<unknown> => {
    const ms = sleepMs(payload)
    await new Promise<void>((resolve, reject) => {
      if (signal.aborted) { reject(abortError(signal)); return }
      const onAbort = (): void => { clearTimeout(timer); reject(abortError(signal)) }
      const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
      signal.addEventListener('abort', onAbort, { once: true })
    })
    return { slept: ms }
  },
  sha256: async (payload: unknown): Promise<unknown> => {
    return { sha256: createHash('sha256').update(canonicalJson(payload), 'utf8').digest('hex') }
  }
})

// ---------------------------------------------------------------------------------------------
// External commands

/** An external command run as a handler. */
export interface ExternalHandlerOptions {
  /** Program and arguments, run without a shell (the program is looked up in PATH). */
  command: string[]
  /** The command's own time limit (besides the task's timeout). */
  timeoutMs?: number
  /** Cap on stdout (default 1 MiB); beyond it the command is killed and the task fails. */
  maxOutputBytes?: number
  /** Variables added to (or overriding) the node's environment for the command. */
  env?: Record<string, string>
}

/** Default cap on an external command's stdout. */
export const defaultMaxOutputBytes = 1024 * 1024
/** How much of the end of stderr goes into a failure message. */
const stderrTailBytes = 900

function checkCommand (command: unknown, where: string): string[] {
  if (!Array.isArray(command) || command.length === 0) throw new TypeError(`${where}: command must be a non-empty list of strings`)
  for (const part of command) {
    if (typeof part !== 'string') throw new TypeError(`${where}: command must be a list of strings`)
    if (part.includes('\0')) throw new TypeError(`${where}: command arguments cannot contain NUL`)
  }
  if (command[0] === '') throw new TypeError(`${where}: command[0] (the program) is empty`)
  return [...command] as string[]
}

/** The last `max` bytes, starting on a character boundary. */
function tail (buffer: Buffer, max: number): Buffer {
  if (buffer.length <= max) return buffer
  let start = buffer.length - max
  while (start < buffer.length && ((buffer[start] as number) & 0xc0) === 0x80) start++
  return buffer.subarray(start)
}

/** SIGKILL the whole process group led by the child (it was spawned detached), or the child alone. */
function killGroup (child: ChildProcess): void {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
}

/**
 * A handler that runs an external command per task: spawned without a shell in its own process
 * group, the payload's JSON written to its stdin. Exit code 0: the result is stdout parsed as JSON,
 * or the stdout text itself if it is not JSON. Otherwise the task fails with
 * 'exit code N: <stderr tail>'. On abort, timeout or too much output the whole process group is
 * killed (SIGKILL); when the command exits, whatever it left running in its group is killed too.
 */
export function externalHandler (options: ExternalHandlerOptions): TaskHandler {
  const [program, ...args] = checkCommand(options.command, 'externalHandler') as [string, ...string[]]
  const timeoutMs = options.timeoutMs
  if (timeoutMs !== undefined && (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > maxTimerMs)) {
    throw new RangeError(`externalHandler: timeoutMs must be an integer 1..${maxTimerMs}`)
  }
  const maxOutputBytes = options.maxOutputBytes ?? defaultMaxOutputBytes
  if (!Number.isInteger(maxOutputBytes) || maxOutputBytes < 1) {
    throw new RangeError('externalHandler: maxOutputBytes must be a positive integer')
  }
  const env = options.env === undefined ? undefined : { ...options.env }

  return async function external (payload: unknown, { signal }: TaskContext): Promise<unknown> {
    return await new Promise<unknown>((resolve, reject) => {
      if (signal.aborted) { reject(abortError(signal)); return }
      let child: ChildProcess
      try {
        child = spawn(program, args, {
          stdio: ['pipe', 'pipe', 'pipe'],
          detached: true,
          env: env === undefined ? process.env : { ...process.env, ...env },
          windowsHide: true
        })
      } catch (err) {
        reject(new Error(`cannot run ${program}: ${errorMessage(err)}`))
        return
      }
      const stdout: Buffer[] = []
      let stdoutBytes = 0
      let stderr: Buffer = Buffer.alloc(0)
      let done = false
      let timer: NodeJS.Timeout | undefined

      const finish = (err: Error | undefined, value?: unknown): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        if (err !== undefined) reject(err)
        else resolve(value)
      }
      const fail = (err: Error): void => {
        killGroup(child)
        child.stdout?.destroy()
        child.stderr?.destroy()
        child.stdin?.destroy()
        finish(err)
      }
      const onAbort = (): void => { fail(abortError(signal)) }

      signal.addEventListener('abort', onAbort, { once: true })
      if (timeoutMs !== undefined) timer = setTimeout(() => { fail(new Error(`timed out after ${timeoutMs} ms`)) }, timeoutMs)
      child.on('error', err => { fail(new Error(`cannot run ${program}: ${err.message}`)) })
      child.stdin?.on('error', () => {}) // EPIPE when the command does not read its input
      child.stdout?.on('data', (chunk: Buffer) => {
        if (done) return
        stdoutBytes += chunk.length
        if (stdoutBytes > maxOutputBytes) {
          fail(new Error(`output larger than ${maxOutputBytes} bytes`))
          return
        }
        stdout.push(chunk)
      })
      child.stderr?.on('data', (chunk: Buffer) => { stderr = tail(Buffer.concat([stderr, chunk]), stderrTailBytes) })
      // the command is done: leftovers in its group must not outlive it (nor hold our pipes open)
      child.on('exit', () => { killGroup(child) })
      child.on('close', (code: number | null, signalName: NodeJS.Signals | null) => {
        if (done) return
        const errText = stderr.toString('utf8').trim()
        if (code !== 0) {
          const how = code === null ? `killed by ${signalName ?? 'a signal'}` : `exit code ${code}`
          finish(new Error(errText === '' ? how : `${how}: ${errText}`))
          return
        }
        const text = Buffer.concat(stdout).toString('utf8')
        let value: unknown
        try {
          value = JSON.parse(text)
        } catch {
          value = text
        }
        finish(undefined, value)
      })
      child.stdin?.end(JSON.stringify(payload) ?? 'null')
    })
  }
}

// ---------------------------------------------------------------------------------------------
// Configuration

/** One handler of the `handlers` config section. */
export interface HandlerConfigEntry {
  command: string[]
  timeout_ms?: number
  max_output_bytes?: number
}

/** A bad `handlers` config section; names the capability and the field when there is one. */
export class HandlerConfigError extends Error {
  override readonly name = 'HandlerConfigError'
  constructor (message: string, readonly capability?: string, readonly field?: string) {
    super(message)
  }
}

const capabilityPattern = /^[a-z0-9][a-z0-9._:/-]{0,63}$/i
const entryFields = new Set(['command', 'timeout_ms', 'max_output_bytes'])

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function show (value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/**
 * Validate the `handlers` section of a node's JSON config, e.g.
 * `{ "handlers": { "resize": { "command": ["convert", "-"], "timeout_ms": 30000 } } }`.
 * Other top-level keys are left alone (they belong to the rest of the config); no `handlers` key
 * means no handlers. Throws a HandlerConfigError naming the capability and field at fault.
 */
export function parseHandlerConfig (value: unknown): Record<string, HandlerConfigEntry> {
  if (!isPlainObject(value)) throw new HandlerConfigError(`config must be a JSON object (got ${show(value)})`)
  const section = value.handlers
  if (section === undefined) return {}
  if (!isPlainObject(section)) throw new HandlerConfigError(`handlers: must be an object of capability → { command, timeout_ms?, max_output_bytes? } (got ${show(section)})`)
  const out: Record<string, HandlerConfigEntry> = {}
  for (const [capability, raw] of Object.entries(section)) {
    const at = `handlers.${capability}`
    if (!capabilityPattern.test(capability)) {
      throw new HandlerConfigError(`${at}: "${capability}" is not a capability name (letters, digits, . _ : / -; at most 64)`, capability)
    }
    if (!isPlainObject(raw)) throw new HandlerConfigError(`${at}: must be an object with a "command" (got ${show(raw)})`, capability)
    for (const field of Object.keys(raw)) {
      if (!entryFields.has(field)) {
        throw new HandlerConfigError(`${at}.${field}: unknown field (expected command, timeout_ms, max_output_bytes)`, capability, field)
      }
    }
    const command = raw.command
    if (command === undefined) throw new HandlerConfigError(`${at}.command: missing (a list like ["program", "arg"])`, capability, 'command')
    if (!Array.isArray(command) || command.length === 0 || !command.every(p => typeof p === 'string')) {
      throw new HandlerConfigError(`${at}.command: must be a non-empty list of strings like ["program", "arg"] (got ${show(command)})`, capability, 'command')
    }
    if (command[0] === '') throw new HandlerConfigError(`${at}.command: the program (first element) is empty`, capability, 'command')
    if (command.some(p => (p as string).includes('\0'))) throw new HandlerConfigError(`${at}.command: arguments cannot contain NUL`, capability, 'command')
    const entry: HandlerConfigEntry = { command: [...command] as string[] }
    const timeout = raw.timeout_ms
    if (timeout !== undefined) {
      if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > maxTimerMs) {
        throw new HandlerConfigError(`${at}.timeout_ms: must be an integer 1..${maxTimerMs} (milliseconds; got ${show(timeout)})`, capability, 'timeout_ms')
      }
      entry.timeout_ms = timeout
    }
    const maxOutput = raw.max_output_bytes
    if (maxOutput !== undefined) {
      if (typeof maxOutput !== 'number' || !Number.isSafeInteger(maxOutput) || maxOutput < 1) {
        throw new HandlerConfigError(`${at}.max_output_bytes: must be a positive integer (bytes; got ${show(maxOutput)})`, capability, 'max_output_bytes')
      }
      entry.max_output_bytes = maxOutput
    }
    out[capability] = entry
  }
  return out
}

/** External-command handlers for a parsed `handlers` section (see {@link parseHandlerConfig}). */
export function handlersFromConfig (config: Record<string, HandlerConfigEntry>, options: { env?: Record<string, string> } = {}): Record<string, TaskHandler> {
  const out: Record<string, TaskHandler> = {}
  for (const [capability, entry] of Object.entries(config)) {
    out[capability] = externalHandler({
      command: entry.command,
      timeoutMs: entry.timeout_ms,
      maxOutputBytes: entry.max_output_bytes,
      env: options.env
    })
  }
  return out
}
