/**
 * Limits and keys of /mesh/<network>/records/1.0.0, each with its reason. Pure: shared by the
 * service, the node's record store (src/runtime/tasks/records.ts) and the HTTP routes.
 */
export const recordsProtocolVersion = '1.0.0'

/** The design's bound on a task payload (and result): 1 MiB of JSON text. */
export const recordValueBytesMax = 1024 * 1024

/** A framed message: the value plus its key, kind and protobuf overhead. */
export const recordMessageBytesMax = recordValueBytesMax + 4 * 1024

/** Concurrent exchanges per connection: a repair round pushes a few records to a peer at once. */
export const recordStreamsMax = 16

/** Exchanges served at once over all connections: bounds the memory held by inbound values (≈ 64 MiB). */
export const recordInboundMax = 64

/** A responder answers from memory; allow 1 MiB to cross a slow link. */
export const recordServeTimeoutMs = 30_000

/** A caller's default wait for one Store or Fetch. */
export const recordRequestTimeoutMs = 10_000

/**
 * Stores in one batched exchange (`RecordRequest.stores`), at most: a writer's records for one peer
 * within one turn of its event loop go together (a submit of 100 tasks would otherwise open ~100
 * streams to each replica, each a multistream-select negotiation and a peer-store write on both sides).
 */
export const recordBatchStoresMax = 64

/** Value bytes of one batch, at most: with its keys and framing it stays well within recordMessageBytesMax. */
export const recordBatchBytesMax = 512 * 1024

/** Replication factor: payloads and results live on the 3 members XOR-closest to the task. */
export const recordReplicas = 3

/** Task ids, as the task API accepts them. */
export const taskIdPattern = /^[A-Za-z0-9_.:-]{1,64}$/

export type RecordKind = 'payload' | 'result'

export const recordKinds: readonly RecordKind[] = ['payload', 'result']

/** Key prefixes; a payload's is the same `/mesh-task/` as the scheduler's DHT key (src/core/scheduler/dht.ts). */
export const recordKeyPrefixes: Readonly<Record<RecordKind, string>> = {
  payload: '/mesh-task/',
  result: '/mesh-task-result/'
}

export function recordsProtocol (network: string): string {
  return `/mesh/${network}/records/${recordsProtocolVersion}`
}

export function isRecordKind (kind: unknown): kind is RecordKind {
  return kind === 'payload' || kind === 'result'
}

export function isTaskId (taskId: unknown): taskId is string {
  return typeof taskId === 'string' && taskIdPattern.test(taskId)
}

/** `/mesh-task/<taskId>` or `/mesh-task-result/<taskId>`. Throws on a bad task id. */
export function recordKey (kind: RecordKind, taskId: string): string {
  if (!isTaskId(taskId)) throw new RangeError(`bad task id "${String(taskId).slice(0, 70)}": 1-64 characters of A-Z a-z 0-9 _ . : -`)
  return recordKeyPrefixes[kind] + taskId
}

/** The kind and task id of a record key; null when it is not one. */
export function parseRecordKey (key: string): { kind: RecordKind, taskId: string } | null {
  for (const kind of recordKinds) {
    const prefix = recordKeyPrefixes[kind]
    if (key.startsWith(prefix)) {
      const taskId = key.slice(prefix.length)
      return isTaskId(taskId) ? { kind, taskId } : null
    }
  }
  return null
}

/**
 * Why a (key, kind, value) cannot be stored, or null when it can: `invalid` (bad key, kind not
 * matching the key, value not UTF-8 JSON) or `too-large` (value over 1 MiB).
 */
export function checkRecord (key: string, kind: string, value: Uint8Array): { problem: 'invalid' | 'too-large', message: string } | null {
  const parsed = parseRecordKey(key)
  if (parsed == null) return { problem: 'invalid', message: `bad key "${key.slice(0, 90)}": /mesh-task/<taskId> or /mesh-task-result/<taskId>` }
  if (kind !== parsed.kind) return { problem: 'invalid', message: `kind "${kind.slice(0, 20)}" does not match the key (${parsed.kind})` }
  if (value.byteLength > recordValueBytesMax) return { problem: 'too-large', message: `value is ${value.byteLength} bytes; at most ${recordValueBytesMax}` }
  if (parseJsonBytes(value) === undefined) return { problem: 'invalid', message: 'value is not UTF-8 JSON text' }
  return null
}

const decoder = new TextDecoder('utf-8', { fatal: true })

/** The JSON text of UTF-8 bytes, or undefined when they are not valid UTF-8 JSON. */
export function parseJsonBytes (value: Uint8Array): string | undefined {
  try {
    const text = decoder.decode(value)
    JSON.parse(text)
    return text
  } catch {
    return undefined
  }
}
