/**
 * The request id a write answers with when its outcome is unknown (504), and the errors of the write
 * path. A retry with that id re-submits the SAME signed client request (client, requestId, operation),
 * so the replicas' client table (src/core/pbft/client-table.ts) makes it exactly-once: executed →
 * the recorded result again; not executed → it executes once.
 *
 * Format: `<peerId>/<incarnation>/<requestId>[.<index>]-<digest>`
 *   - `<peerId>/<incarnation>` is the pBFT client id of the node life that sent it (consensus.ts);
 *   - `<requestId>` the client's request number;
 *   - `.<index>` only for an operation that left inside a bundle (its position in it);
 *   - `<digest>` the first 8 hex digits of sha256(operation), so a retry with another operation under
 *     the same id is detected without any stored state, even after a restart.
 */
import { createHash } from 'node:crypto'

export interface ParsedRequestId {
  peerId: string
  incarnation: number
  requestId: number
  /** Position inside a bundle, or null for a request that carried this operation alone. */
  index: number | null
  digest: string
}

/** Longest request id accepted (a PeerId is ~52 characters). */
export const requestIdLengthMax = 200

const pattern = /^([1-9A-HJ-NP-Za-km-z]{32,128})\/(\d{1,15})\/(\d{1,15})(?:\.(\d{1,4}))?-([0-9a-f]{8})$/

export function operationDigest (operation: string): string {
  return createHash('sha256').update(operation).digest('hex').slice(0, 8)
}

export function formatRequestId (client: string, requestId: number, index: number | null, operation: string): string {
  return `${client}/${requestId}${index != null ? `.${index}` : ''}-${operationDigest(operation)}`
}

export function parseRequestId (text: string): ParsedRequestId | null {
  if (text.length > requestIdLengthMax) return null
  const match = pattern.exec(text)
  if (match == null) return null
  const [, peerId, incarnation, requestId, index, digest] = match
  const parsed = {
    peerId: peerId as string,
    incarnation: Number(incarnation),
    requestId: Number(requestId),
    index: index != null ? Number(index) : null,
    digest: digest as string
  }
  if (!Number.isSafeInteger(parsed.incarnation) || !Number.isSafeInteger(parsed.requestId) || parsed.requestId < 1) return null
  return parsed
}

/** The node knows it cannot commit: the write was refused at once and never sent (HTTP 503). */
export class NoQuorumError extends Error {
  override readonly name = 'NoQuorumError'
}

/** The write was never sent (it waited behind undecided requests until its deadline): it will not apply (HTTP 503). */
export class NotSentError extends Error {
  override readonly name = 'NotSentError'
}

/** The write went out but was not decided in time: it may still apply (HTTP 504, with its request id). */
export class OutcomeUnknownError extends Error {
  override readonly name = 'OutcomeUnknownError'
  constructor (message: string, readonly requestId: string) {
    super(message)
  }
}

/** A retry whose request id this node cannot use: malformed, another node's, or never issued (HTTP 400/410). */
export class RequestIdError extends Error {
  override readonly name = 'RequestIdError'
  constructor (message: string, readonly status: 400 | 410 = 400) {
    super(message)
  }
}

/** A retry whose operation differs from the one the request id was issued for (HTTP 422). */
export class RequestMismatchError extends Error {
  override readonly name = 'RequestMismatchError'
}
