/**
 * A linearizability checker for key-value histories: Wing & Gong's depth-first search with Lowe's
 * memoization, as Porcupine (anishathalye/porcupine, checker.go) does it.
 *
 * The history is split per key first (P-compositionality: a history of independent registers is
 * linearizable iff each key's sub-history is), then each key is searched on its own:
 * - the call and return events of its operations form one doubly-linked list in time order (on a tie a
 *   call comes before a return, the permissive choice);
 * - the search walks the list: a call whose operation the model accepts in the current state is
 *   "lifted" (its call and return leave the list) and pushed on a stack; reaching a return event means
 *   that operation can no longer be placed, so the search backtracks (pops the last lifted call and
 *   tries the next candidate after it);
 * - a cache of (set of linearized operations, model state) pairs already explored prunes the search
 *   (Lowe): two paths that linearized the same operations into the same state have the same future.
 *
 * Indeterminate operations (a write whose answer never came: a timeout or a connection reset after
 * sending) have no return time (+Infinity) and no known output: the model accepts them with any output,
 * and since nothing follows +Infinity they may take effect anywhere after their call, or never (placed
 * last, after every other operation, they change nothing observable).
 */

/** One operation of a key-value history, as the chaos workload records it. */
export interface KvOperation {
  /** Unique id (position in the recorded history). */
  id: number
  client: number
  key: string
  kind: 'put' | 'get' | 'delete'
  /** put: the value written (unique per write in the workload, though the checker does not need it). */
  value?: string
  /** Invocation time (ms, any monotonic clock). */
  call: number
  /** Completion time; +Infinity for an indeterminate operation. */
  return: number
  /**
   * The observed output: get → the value read or null (absent); delete → whether a value was deleted;
   * put → nothing. `undefined` = indeterminate (unknown outcome).
   */
  output?: { value: string | null } | { deleted: boolean } | { ok: true }
}

/** A key's register: its value, or null when absent. */
type RegisterState = string | null

/** The key-value register model: may `op` (with its observed output) follow `state`? Returns the next state or undefined. */
export function stepRegister (state: RegisterState, op: KvOperation): { next: RegisterState } | undefined {
  const output = op.output
  switch (op.kind) {
    case 'put':
      return { next: op.value ?? '' }
    case 'delete':
      if (output === undefined) return { next: null }
      if (!('deleted' in output)) return undefined
      return output.deleted === (state !== null) ? { next: null } : undefined
    case 'get':
      if (output === undefined) return { next: state }
      if (!('value' in output)) return undefined
      return output.value === state ? { next: state } : undefined
  }
}

interface Entry {
  kind: 'call' | 'return'
  op: KvOperation
  /** Index of the operation within the key's sub-history (its bit in the linearized set). */
  index: number
  time: number
  /** The other event of the same operation. */
  match: Entry | null
  prev: Entry | null
  next: Entry | null
}

export interface KeyVerdict {
  key: string
  ok: boolean
  operations: number
  /** The search hit its step budget before deciding. */
  unknown?: boolean
  /** Search steps taken (each an attempt to place one operation). */
  steps: number
  /** Not linearizable: the longest sequence of operations the search managed to linearize. */
  longestPrefix?: KvOperation[]
}

export interface CheckOptions {
  /** Give up on a key (verdict "unknown") after this many search steps. Default 20 million. */
  stepBudget?: number
}

function makeList (ops: KvOperation[]): Entry {
  const events: Entry[] = []
  ops.forEach((op, index) => {
    const call: Entry = { kind: 'call', op, index, time: op.call, match: null, prev: null, next: null }
    const ret: Entry = { kind: 'return', op, index, time: op.return, match: null, prev: null, next: null }
    call.match = ret
    ret.match = call
    events.push(call, ret)
  })
  events.sort((a, b) => a.time !== b.time ? a.time - b.time : a.kind === b.kind ? 0 : a.kind === 'call' ? -1 : 1)
  const head: Entry = { kind: 'call', op: ops[0] as KvOperation, index: -1, time: -Infinity, match: null, prev: null, next: null }
  let last = head
  for (const event of events) {
    last.next = event
    event.prev = last
    last = event
  }
  return head
}

/** Take an operation's call and return out of the list. */
function lift (call: Entry): void {
  const ret = call.match as Entry
  ;(call.prev as Entry).next = call.next
  if (call.next != null) call.next.prev = call.prev
  ;(ret.prev as Entry).next = ret.next
  if (ret.next != null) ret.next.prev = ret.prev
}

/** Put them back (the exact reverse of lift). */
function unlift (call: Entry): void {
  const ret = call.match as Entry
  ;(ret.prev as Entry).next = ret
  if (ret.next != null) ret.next.prev = ret
  ;(call.prev as Entry).next = call
  if (call.next != null) call.next.prev = call
}

/** Check one key's sub-history (all operations must name the same key). */
export function checkKey (key: string, ops: KvOperation[], options: CheckOptions = {}, initial: RegisterState = null): KeyVerdict {
  const budget = options.stepBudget ?? 20_000_000
  if (ops.length === 0) return { key, ok: true, operations: 0, steps: 0 }
  const head = makeList(ops)
  const words = Math.ceil(ops.length / 32)
  const linearized = new Uint32Array(words)
  const cache = new Set<string>()
  const stack: Array<{ entry: Entry, state: RegisterState }> = []
  let state: RegisterState = initial
  let entry = head.next
  let steps = 0
  let longest: Entry[] = []
  const cacheKey = (s: RegisterState): string => `${linearized.join(',')}|${s === null ? '\u0000' : `=${s}`}`
  while (head.next != null) {
    if (++steps > budget) return { key, ok: false, unknown: true, operations: ops.length, steps }
    const current = entry as Entry
    if (current.kind === 'call') {
      const step = stepRegister(state, current.op)
      let placed = false
      if (step !== undefined) {
        const word = current.index >>> 5
        const bit = 1 << (current.index & 31)
        linearized[word] = (linearized[word] as number) | bit
        const keyText = cacheKey(step.next)
        if (!cache.has(keyText)) {
          cache.add(keyText)
          stack.push({ entry: current, state })
          state = step.next
          lift(current)
          entry = head.next
          placed = true
        } else {
          linearized[word] = (linearized[word] as number) & ~bit
        }
      }
      if (!placed) entry = current.next
    } else {
      // a return reached: its operation cannot be placed here; backtrack
      if (stack.length > longest.length) longest = stack.map(s => s.entry)
      const top = stack.pop()
      if (top == null) {
        return { key, ok: false, operations: ops.length, steps, longestPrefix: longest.map(e => e.op) }
      }
      state = top.state
      const word = top.entry.index >>> 5
      linearized[word] = (linearized[word] as number) & ~(1 << (top.entry.index & 31))
      unlift(top.entry)
      entry = top.entry.next
    }
  }
  return { key, ok: true, operations: ops.length, steps }
}

export interface HistoryVerdict {
  ok: boolean
  /** Some key was not decided within the step budget (ok is false then too: not proven). */
  unknown: boolean
  keys: KeyVerdict[]
  operations: number
  elapsedMs: number
}

/**
 * Drop indeterminate puts nobody can have observed, a sound reduction that keeps the search from
 * trying every subset of them (each may take effect or not: 2^k combinations for k such writes):
 * an indeterminate put of value v whose v no read returned, and after whose call no delete answered
 * `deleted: true`, changes nothing any operation observed wherever it is placed — the next write
 * overwrites it and nothing in between can read it — so placing it last (never) is as good as
 * anywhere. Values must be unique per put (the workload makes them so).
 */
export function dropUnobservedIndeterminatePuts (ops: KvOperation[]): KvOperation[] {
  const read = new Set<string>()
  let lastDeleteTrue = -Infinity
  for (const op of ops) {
    if (op.kind === 'get' && op.output !== undefined && 'value' in op.output && op.output.value !== null) read.add(op.output.value)
    if (op.kind === 'delete' && op.output !== undefined && 'deleted' in op.output && op.output.deleted) lastDeleteTrue = Math.max(lastDeleteTrue, op.return)
  }
  return ops.filter(op => !(op.kind === 'put' && op.output === undefined && !read.has(op.value ?? '') && lastDeleteTrue <= op.call))
}

/** Split by key and check each; the history is linearizable iff every key's is. */
export function checkHistory (ops: KvOperation[], options: CheckOptions = {}): HistoryVerdict {
  const started = performance.now()
  const byKey = new Map<string, KvOperation[]>()
  for (const op of ops) {
    let list = byKey.get(op.key)
    if (list == null) { list = []; byKey.set(op.key, list) }
    list.push(op)
  }
  const keys = [...byKey].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([key, list]) => checkKey(key, dropUnobservedIndeterminatePuts(list), options))
  return {
    ok: keys.every(k => k.ok),
    unknown: keys.some(k => k.unknown === true),
    keys,
    operations: ops.length,
    elapsedMs: performance.now() - started
  }
}

/**
 * A small non-linearizable sub-history of one key's non-linearizable history, for a person to read.
 * First the shortest prefix (operations in call order) that is still not linearizable — a prefix of a
 * linearizable history is linearizable, so a binary search finds it — then chunks of operations, halving
 * down to single ones, are dropped while what is left stays non-linearizable *for the same kind of
 * reason*: dropping a put also drops the reads of its value, and a delete that answered deleted=true
 * with no put left before it (else the candidate would "fail" with a read of a value nobody wrote,
 * another failure), and it must fail with the operation that ended the shortest failing prefix and pass
 * without it. Bounded by `timeMsMax`; each check by a step budget (undecided = keep).
 */
export function minimalFailingSubHistory (ops: KvOperation[], timeMsMax = 30_000): KvOperation[] {
  const started = performance.now()
  const byCall = [...ops].sort((a, b) => a.call - b.call)
  const bad = (list: KvOperation[]): boolean => {
    const verdict = checkKey(list[0]?.key ?? '', dropUnobservedIndeterminatePuts(list), { stepBudget: 3_000_000 })
    return !verdict.ok && verdict.unknown !== true
  }
  /** Drop the reads whose value's put is gone and the deleted=true answers with no put left before them. */
  const closed = (list: KvOperation[]): KvOperation[] => {
    const written = new Set(list.filter(op => op.kind === 'put').map(op => op.value ?? ''))
    return list.filter(op => {
      if (op.kind === 'get' && op.output !== undefined && 'value' in op.output && op.output.value !== null) return written.has(op.output.value)
      if (op.kind === 'delete' && op.output !== undefined && 'deleted' in op.output && op.output.deleted) return list.some(p => p.kind === 'put' && p.call < op.return)
      return true
    })
  }
  if (!bad(byCall)) return byCall
  let lo = 1
  let hi = byCall.length
  while (lo < hi && performance.now() - started < timeMsMax) {
    const mid = (lo + hi) >>> 1
    if (bad(closed(byCall.slice(0, mid)))) hi = mid
    else lo = mid + 1
  }
  // (a prefix cut at a call time loses the puts that began later but a read in it already saw: closed)
  let current = closed(byCall.slice(0, hi))
  // the operation that made the shortest failing prefix fail: every candidate must still fail because of
  // it (fail with it, pass without it), so a smaller history never fails for some other reason
  const culprit = current[current.length - 1] as KvOperation
  const sameFailure = (list: KvOperation[]): boolean => {
    if (!list.includes(culprit) || !bad(list)) return false
    const without = list.filter(op => op !== culprit)
    return without.length === 0 || checkKey(culprit.key, dropUnobservedIndeterminatePuts(without), { stepBudget: 3_000_000 }).ok
  }
  for (let chunk = Math.max(1, current.length >>> 1); chunk >= 1; chunk = chunk === 1 ? 0 : Math.max(1, chunk >>> 1)) {
    for (let i = 0; i < current.length && performance.now() - started < timeMsMax;) {
      const candidate = closed([...current.slice(0, i), ...current.slice(i + chunk)])
      if (candidate.length > 0 && sameFailure(candidate)) current = candidate
      else i += chunk
    }
  }
  return current
}

/** One line per operation, for a report: `[call, return] c<client> put(k, v) → output`. */
export function describeOperation (op: KvOperation, origin = 0): string {
  const at = (t: number): string => Number.isFinite(t) ? ((t - origin) / 1000).toFixed(3) : '∞'
  const what = op.kind === 'put' ? `put(${op.key}, ${op.value ?? ''})` : `${op.kind}(${op.key})`
  const output = op.output === undefined
    ? 'indeterminate'
    : 'value' in op.output ? (op.output.value === null ? 'absent' : op.output.value) : 'deleted' in op.output ? `deleted=${String(op.output.deleted)}` : 'ok'
  return `#${op.id} [${at(op.call)} s, ${at(op.return)} s] client ${op.client} ${what} → ${output}`
}
