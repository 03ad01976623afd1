/**
 * Operations of the replicated application and their stateless validation (CometBFT's validateBasic):
 * everything that can be checked without the state. The runtime calls `validateOperation` before
 * proposing a request (to refuse bad input early); `apply` calls it again, since a Byzantine primary may
 * propose anything.
 *
 * Operation text is JSON:
 *   {"op":"put","namespace":"ns","key":"k","value":"v"}
 *   {"op":"delete","namespace":"ns","key":"k"}
 *   {"op":"propose","proposal":<any JSON>,"threshold":0.67}        (threshold optional)
 *   {"op":"vote","id":"p-3-0","decision":"approve"|"reject"}
 *   {"op":"noop"}                                                   (linearizable reads: returns the seq)
 *   {"op":"bundle","ops":["<operation text>", ...]}                 (2..bundleOpsMax operations of one
 *       submitter under one signature; each is validated and applied on its own, in order, and the
 *       result is {"ok":true,"results":["<result text>", ...],"seq":N}; bundles do not nest)
 *
 * The task table (src/core/app/application.ts says who may propose what, and when):
 *   {"op":"task.submit","id":"t1","capabilities":["gpu"],"payload":"<JSON text>",
 *    "priority":5,"timeoutMs":60000,"strategy":"auction"|"dht",
 *    "node":"<PeerId>"}                                                (the last four optional; with
 *       "node" the task is assigned to it at once, assignment 1: the submitter placed it already, by
 *       DHT routing or by an auction it ran before submitting — one operation instead of two)
 *   {"op":"task.assign","id":"t1","node":"<PeerId>","assignment":N}    (N = the task's assignment + 1)
 *   {"op":"task.start","id":"t1","assignment":N}
 *   {"op":"task.complete","id":"t1","assignment":N,"result":"<JSON text>"}
 *   {"op":"task.fail","id":"t1","assignment":N,"error":"why"}
 *   {"op":"task.move","id":"t1","from":"<PeerId>","to":"<PeerId>","assignment":N,"reason":"steal"|"migrate"}
 *   {"op":"task.release","id":"t1","assignment":N}
 *   {"op":"node.failed","node":"<PeerId>"}
 *   {"op":"task.cancel","id":"t1"}
 */
import { canonicalJson } from '../pbft/types.js'
import {
  bundleOpsMax, capabilityPattern, keyBytesMax, namespacePattern, operationDepthMax, operationLengthMax, proposalFrameBytesMax,
  proposalIdLengthMax, taskCapabilitiesMax, taskErrorBytesMax, taskIdPattern, taskPayloadBytesMax, taskDataRefBytesMax, taskPriorityDefault, taskPriorityMax,
  taskResultBytesMax, taskTimeoutMsDefault, taskTimeoutMsMax, thresholdDefault, thresholdScale, validatorPattern, valueBytesMax
} from './limits.js'

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

export type Decision = 'approve' | 'reject'

/** How a task finds its node: an auction among capable members, or the capable member closest in the DHT. */
export type TaskStrategy = 'auction' | 'dht'

/** Why a task moves between nodes: stolen by an idle node, or migrated off a busy one. */
export type MoveReason = 'steal' | 'migrate'

export type Operation =
  | { op: 'put', namespace: string, key: string, value: string }
  | { op: 'delete', namespace: string, key: string }
  /** `proposal` is kept as canonical JSON text; `thresholdScaled` = threshold × 10 000, an integer. */
  | { op: 'propose', proposal: string, thresholdScaled: number }
  | { op: 'vote', id: string, decision: Decision }
  | { op: 'noop' }
  | { op: 'bundle', ops: string[] }
  /** `payload` is JSON text, kept as given; defaults filled in (priority 5, timeoutMs 60 000, auction). */
  | { op: 'task.submit', id: string, capabilities: string[], payload: string, priority: number, timeoutMs: number, strategy: TaskStrategy, node?: string }
  | { op: 'task.assign', id: string, node: string, assignment: number }
  | { op: 'task.start', id: string, assignment: number }
  | { op: 'task.complete', id: string, assignment: number, result: string }
  | { op: 'task.fail', id: string, assignment: number, error: string }
  | { op: 'task.move', id: string, from: string, to: string, assignment: number, reason: MoveReason }
  | { op: 'task.release', id: string, assignment: number }
  | { op: 'node.failed', node: string }
  | { op: 'task.cancel', id: string }

export type OperationCheck = { ok: true, op: Operation } | { ok: false, error: string }

export const proposalIdPattern = /^p-([1-9][0-9]{0,15})-(0|[1-9][0-9]{0,9})$/

/** UTF-8 length of a well-formed string. */
export function utf8Bytes (text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit < 0x80) bytes += 1
    else if (unit < 0x800) bytes += 2
    else if (unit >= 0xd800 && unit <= 0xdbff) { bytes += 4; i++ } // a surrogate pair
    else bytes += 3
  }
  return bytes
}

/** No lone surrogates: such a string has no UTF-8 encoding, so two of them could hash alike. */
export function isWellFormed (text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1)
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false
      i++
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return false
    }
  }
  return true
}

/**
 * Bytes a string stored in the application state takes inside a STATE frame, where it has been
 * JSON-escaped three times (application snapshot, replica snapshot, frame): `"` and `\` cost 8,
 * `\n`-style controls 5, other controls 9, everything else its UTF-8 length.
 */
export function stateFrameBytes (text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit === 0x22 || unit === 0x5c) bytes += 8
    else if (unit === 0x08 || unit === 0x09 || unit === 0x0a || unit === 0x0c || unit === 0x0d) bytes += 5
    else if (unit < 0x20) bytes += 9
    else if (unit < 0x80) bytes += 1
    else if (unit < 0x800) bytes += 2
    else if (unit >= 0xd800 && unit <= 0xdbff) { bytes += 4; i++ }
    else bytes += 3
  }
  return bytes
}

/**
 * Deepest nesting of arrays and objects in JSON text, without parsing it (so a hostile text cannot
 * exhaust the stack of JSON.parse or of canonicalJson, which would fail differently on different nodes).
 */
export function jsonNestingDepth (text: string): number {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (inString) {
      if (unit === 0x5c) i++ // skip the escaped character
      else if (unit === 0x22) inString = false
    } else if (unit === 0x22) {
      inString = true
    } else if (unit === 0x5b || unit === 0x7b) {
      depth++
      if (depth > deepest) deepest = depth
    } else if (unit === 0x5d || unit === 0x7d) {
      depth--
    }
  }
  return deepest
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Exactly these fields (an unknown field is refused, not ignored: it may mean a newer client). */
function checkFields (object: Record<string, unknown>, required: string[], optional: string[] = []): string | null {
  for (const field of Object.keys(object)) {
    if (!required.includes(field) && !optional.includes(field)) return `unknown field ${JSON.stringify(field).slice(0, 80)}`
  }
  for (const field of required) if (!Object.hasOwn(object, field)) return `missing field "${field}"`
  return null
}

export function checkNamespace (namespace: unknown): string | null {
  if (typeof namespace !== 'string') return 'namespace must be a string'
  if (!namespacePattern.test(namespace)) return 'namespace must be 1-64 characters of [a-zA-Z0-9_.:-]'
  return null
}

export function checkKey (key: unknown): string | null {
  if (typeof key !== 'string') return 'key must be a string'
  if (key.length === 0) return 'key must not be empty'
  if (!isWellFormed(key)) return 'key is not well-formed Unicode (lone surrogate)'
  if (utf8Bytes(key) > keyBytesMax) return `key longer than ${keyBytesMax} UTF-8 bytes`
  return null
}

export function checkValue (value: unknown): string | null {
  if (typeof value !== 'string') return 'value must be a string'
  if (!isWellFormed(value)) return 'value is not well-formed Unicode (lone surrogate)'
  if (utf8Bytes(value) > valueBytesMax) return `value longer than ${valueBytesMax} UTF-8 bytes`
  return null
}

/** Every string inside a JSON value is well-formed. */
function wellFormedJson (value: unknown): boolean {
  if (typeof value === 'string') return isWellFormed(value)
  if (Array.isArray(value)) return value.every(wellFormedJson)
  if (isPlainObject(value)) return Object.entries(value).every(([k, v]) => isWellFormed(k) && wellFormedJson(v))
  return true
}

/** Canonical text of a proposal body, or why it is refused. */
export function checkProposalBody (proposal: unknown): { ok: true, text: string } | { ok: false, error: string } {
  if (proposal === undefined) return { ok: false, error: 'missing field "proposal"' }
  if (!wellFormedJson(proposal)) return { ok: false, error: 'proposal is not well-formed Unicode (lone surrogate)' }
  const text = canonicalJson(proposal)
  if (stateFrameBytes(text) > proposalFrameBytesMax) return { ok: false, error: `proposal larger than ${proposalFrameBytesMax} bytes (escaped)` }
  return { ok: true, text }
}

/** threshold × 10 000 as an integer, or why it is refused. */
export function checkThreshold (threshold: unknown): { ok: true, scaled: number } | { ok: false, error: string } {
  if (threshold === undefined) return { ok: true, scaled: Math.round(thresholdDefault * thresholdScale) }
  if (typeof threshold !== 'number' || !Number.isFinite(threshold)) return { ok: false, error: 'threshold must be a number' }
  if (!(threshold > 0 && threshold <= 1)) return { ok: false, error: 'threshold must be in (0, 1]' }
  const scaled = Math.round(threshold * thresholdScale)
  if (Math.abs(threshold * thresholdScale - scaled) > 1e-6 || scaled < 1) return { ok: false, error: 'threshold must have at most 4 decimal places' }
  return { ok: true, scaled }
}

export function checkTaskId (id: unknown): string | null {
  if (typeof id !== 'string' || !taskIdPattern.test(id)) return 'id must be a task id: 1-64 characters of [A-Za-z0-9_.:-]'
  return null
}

/** A node is named by its PeerId (base58btc or base32 text). */
export function checkPeerId (peerId: unknown, field: string): string | null {
  if (typeof peerId !== 'string' || !validatorPattern.test(peerId)) return `${field} must be a PeerId`
  return null
}

export function checkCapabilities (capabilities: unknown): string | null {
  if (!Array.isArray(capabilities) || capabilities.length < 1 || capabilities.length > taskCapabilitiesMax) {
    return `capabilities must be an array of 1..${taskCapabilitiesMax} names`
  }
  for (const capability of capabilities) {
    if (typeof capability !== 'string' || !capabilityPattern.test(capability)) {
      return 'each capability must be 1-64 characters of [a-z0-9._:/-], starting with a letter or digit'
    }
  }
  if (new Set(capabilities).size !== capabilities.length) return 'capabilities repeat'
  return null
}

/**
 * JSON text of at most `bytesMax` UTF-8 bytes (a task's payload or result), kept as given. Larger data
 * belongs in the DHT: the task carries its key.
 */
export function checkJsonText (text: unknown, field: string, bytesMax: number): string | null {
  if (typeof text !== 'string') return `${field} must be JSON text (a string)`
  if (!isWellFormed(text)) return `${field} is not well-formed Unicode (lone surrogate)`
  if (utf8Bytes(text) > bytesMax) {
    return `${field} larger than ${bytesMax} UTF-8 bytes: large data belongs in the DHT (store it there and pass its key)`
  }
  if (jsonNestingDepth(text) > operationDepthMax) return `${field} nested deeper than ${operationDepthMax}`
  try {
    JSON.parse(text)
  } catch {
    return `${field} is not valid JSON text`
  }
  return null
}

/** `@sha256:<64 hex>:<bytes>`: a payload or result kept in its record (never valid JSON, so never inline data). */
export const taskDataRefPattern = /^@sha256:([0-9a-f]{64}):(0|[1-9][0-9]{0,7})$/

/** The digest and size a reference names, or null when `text` is not a reference. */
export function parseTaskDataRef (text: string): { sha256: string, bytes: number } | null {
  const match = taskDataRefPattern.exec(text)
  if (match == null) return null
  return { sha256: match[1] as string, bytes: Number(match[2]) }
}

export function taskDataRef (sha256: string, bytes: number): string {
  return `@sha256:${sha256}:${bytes}`
}

/**
 * A task's payload or result as the table holds it: JSON text of at most `inlineMax` bytes, or a
 * reference `@sha256:<hex>:<bytes>` to its record, of at most taskDataRefBytesMax bytes.
 */
export function checkTaskData (text: unknown, field: string, inlineMax: number): string | null {
  if (typeof text === 'string' && text.startsWith('@')) {
    const ref = parseTaskDataRef(text)
    if (ref == null) return `${field} reference must be @sha256:<64 lowercase hex>:<bytes>`
    if (ref.bytes <= inlineMax) return `${field} of ${ref.bytes} bytes must be inline (references are for data over ${inlineMax} bytes)`
    if (ref.bytes > taskDataRefBytesMax) return `${field} larger than ${taskDataRefBytesMax} bytes`
    return null
  }
  return checkJsonText(text, field, inlineMax)
}

export function checkTaskError (error: unknown): string | null {
  if (typeof error !== 'string') return 'error must be a string'
  if (!isWellFormed(error)) return 'error is not well-formed Unicode (lone surrogate)'
  if (utf8Bytes(error) > taskErrorBytesMax) return `error longer than ${taskErrorBytesMax} UTF-8 bytes`
  return null
}

function checkAssignment (assignment: unknown): string | null {
  if (typeof assignment !== 'number' || !Number.isSafeInteger(assignment) || assignment < 1) return 'assignment must be a positive integer'
  return null
}

function checkInteger (value: unknown, field: string, min: number, max: number): string | null {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) return `${field} must be an integer in ${min}..${max}`
  return null
}

/** Stateless validation of the task operations (`op` starts with `task.`, or is `node.failed`). */
function validateTaskOperation (parsed: Record<string, unknown>): OperationCheck {
  const op = parsed.op
  switch (op) {
    case 'task.submit': {
      const error = checkFields(parsed, ['op', 'id', 'capabilities', 'payload'], ['priority', 'timeoutMs', 'strategy', 'node']) ??
        checkTaskId(parsed.id) ?? checkCapabilities(parsed.capabilities) ?? checkTaskData(parsed.payload, 'payload', taskPayloadBytesMax) ??
        (parsed.priority === undefined ? null : checkInteger(parsed.priority, 'priority', 0, taskPriorityMax)) ??
        (parsed.timeoutMs === undefined ? null : checkInteger(parsed.timeoutMs, 'timeoutMs', 1, taskTimeoutMsMax)) ??
        (parsed.strategy === undefined || parsed.strategy === 'auction' || parsed.strategy === 'dht' ? null : 'strategy must be "auction" or "dht"') ??
        (parsed.node === undefined ? null : checkPeerId(parsed.node, 'node'))
      if (error != null) return fail(error)
      return {
        ok: true,
        op: {
          ...(parsed.node !== undefined ? { node: parsed.node as string } : {}),
          op,
          id: parsed.id as string,
          capabilities: [...parsed.capabilities as string[]],
          payload: parsed.payload as string,
          priority: (parsed.priority as number | undefined) ?? taskPriorityDefault,
          timeoutMs: (parsed.timeoutMs as number | undefined) ?? taskTimeoutMsDefault,
          strategy: (parsed.strategy as TaskStrategy | undefined) ?? 'auction'
        }
      }
    }
    case 'task.assign': {
      const error = checkFields(parsed, ['op', 'id', 'node', 'assignment']) ?? checkTaskId(parsed.id) ?? checkPeerId(parsed.node, 'node') ??
        checkAssignment(parsed.assignment)
      if (error != null) return fail(error)
      return { ok: true, op: { op, id: parsed.id as string, node: parsed.node as string, assignment: parsed.assignment as number } }
    }
    case 'task.start':
    case 'task.release': {
      const error = checkFields(parsed, ['op', 'id', 'assignment']) ?? checkTaskId(parsed.id) ?? checkAssignment(parsed.assignment)
      if (error != null) return fail(error)
      return { ok: true, op: { op, id: parsed.id as string, assignment: parsed.assignment as number } }
    }
    case 'task.complete': {
      const error = checkFields(parsed, ['op', 'id', 'assignment', 'result']) ?? checkTaskId(parsed.id) ?? checkAssignment(parsed.assignment) ??
        checkTaskData(parsed.result, 'result', taskResultBytesMax)
      if (error != null) return fail(error)
      return { ok: true, op: { op, id: parsed.id as string, assignment: parsed.assignment as number, result: parsed.result as string } }
    }
    case 'task.fail': {
      const error = checkFields(parsed, ['op', 'id', 'assignment', 'error']) ?? checkTaskId(parsed.id) ?? checkAssignment(parsed.assignment) ??
        checkTaskError(parsed.error)
      if (error != null) return fail(error)
      return { ok: true, op: { op, id: parsed.id as string, assignment: parsed.assignment as number, error: parsed.error as string } }
    }
    case 'task.move': {
      const error = checkFields(parsed, ['op', 'id', 'from', 'to', 'assignment', 'reason']) ?? checkTaskId(parsed.id) ??
        checkPeerId(parsed.from, 'from') ?? checkPeerId(parsed.to, 'to') ?? checkAssignment(parsed.assignment) ??
        (parsed.reason === 'steal' || parsed.reason === 'migrate' ? null : 'reason must be "steal" or "migrate"') ??
        (parsed.from === parsed.to ? 'from and to must differ' : null)
      if (error != null) return fail(error)
      return {
        ok: true,
        op: { op, id: parsed.id as string, from: parsed.from as string, to: parsed.to as string, assignment: parsed.assignment as number, reason: parsed.reason as MoveReason }
      }
    }
    case 'node.failed': {
      const error = checkFields(parsed, ['op', 'node']) ?? checkPeerId(parsed.node, 'node')
      if (error != null) return fail(error)
      return { ok: true, op: { op, node: parsed.node as string } }
    }
    case 'task.cancel': {
      const error = checkFields(parsed, ['op', 'id']) ?? checkTaskId(parsed.id)
      if (error != null) return fail(error)
      return { ok: true, op: { op, id: parsed.id as string } }
    }
    default:
      return fail(`unknown op ${JSON.stringify(String(op).slice(0, 40))}`)
  }
}

function fail (error: string): OperationCheck {
  return { ok: false, error }
}

/** Stateless validation of operation text (validateBasic). Never throws. */
export function validateOperation (text: unknown): OperationCheck {
  if (typeof text !== 'string') return fail('operation must be JSON text')
  if (text.length > operationLengthMax) return fail(`operation longer than ${operationLengthMax} characters`)
  if (jsonNestingDepth(text) > operationDepthMax) return fail(`operation nested deeper than ${operationDepthMax}`)
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return fail('operation is not valid JSON')
  }
  if (!isPlainObject(parsed)) return fail('operation must be a JSON object')
  const op = parsed.op
  switch (op) {
    case 'put': {
      const error = checkFields(parsed, ['op', 'namespace', 'key', 'value']) ?? checkNamespace(parsed.namespace) ??
        checkKey(parsed.key) ?? checkValue(parsed.value)
      if (error != null) return fail(error)
      return { ok: true, op: { op, namespace: parsed.namespace as string, key: parsed.key as string, value: parsed.value as string } }
    }
    case 'delete': {
      const error = checkFields(parsed, ['op', 'namespace', 'key']) ?? checkNamespace(parsed.namespace) ?? checkKey(parsed.key)
      if (error != null) return fail(error)
      return { ok: true, op: { op, namespace: parsed.namespace as string, key: parsed.key as string } }
    }
    case 'propose': {
      const error = checkFields(parsed, ['op', 'proposal'], ['threshold'])
      if (error != null) return fail(error)
      const body = checkProposalBody(parsed.proposal)
      if (!body.ok) return fail(body.error)
      const threshold = checkThreshold(parsed.threshold)
      if (!threshold.ok) return fail(threshold.error)
      return { ok: true, op: { op, proposal: body.text, thresholdScaled: threshold.scaled } }
    }
    case 'vote': {
      const error = checkFields(parsed, ['op', 'id', 'decision'])
      if (error != null) return fail(error)
      const { id, decision } = parsed
      if (typeof id !== 'string' || id.length > proposalIdLengthMax || !proposalIdPattern.test(id)) return fail('id must be a proposal id like "p-3-0"')
      if (decision !== 'approve' && decision !== 'reject') return fail('decision must be "approve" or "reject"')
      return { ok: true, op: { op, id, decision } }
    }
    case 'noop': {
      const error = checkFields(parsed, ['op'])
      if (error != null) return fail(error)
      return { ok: true, op: { op } }
    }
    case 'bundle': {
      const error = checkFields(parsed, ['op', 'ops'])
      if (error != null) return fail(error)
      const ops = parsed.ops
      if (!Array.isArray(ops) || ops.length < 2 || ops.length > bundleOpsMax) return fail(`ops must be an array of 2..${bundleOpsMax} operations`)
      if (!ops.every(o => typeof o === 'string')) return fail('each bundled operation must be operation text (a JSON string)')
      return { ok: true, op: { op, ops: ops as string[] } }
    }
    case 'task.submit':
    case 'task.assign':
    case 'task.start':
    case 'task.complete':
    case 'task.fail':
    case 'task.move':
    case 'task.release':
    case 'node.failed':
    case 'task.cancel':
      return validateTaskOperation(parsed)
    default:
      if (op === undefined) return fail('missing field "op"')
      return fail(typeof op === 'string' ? `unknown op ${JSON.stringify(op.slice(0, 40))}` : 'op must be a string')
  }
}
