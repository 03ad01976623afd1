/**
 * [fuzz] Refusals of an inbound stream, counted by reason: every request a stream handler could not
 * serve (oversize or undecodable frame, a timeout waiting for it, a reset, a handler failure) is one
 * count under a fixed word, so an operator (and the fuzzer, test/fuzz/) sees what peers send that the
 * node refuses. `streamErrorReason` maps the errors the shared `respond()` loop and the stream handlers
 * see to those words.
 */
export const streamRefusalReasons = ['oversize', 'undecodable', 'timeout', 'reset', 'eof', 'busy', 'invalid', 'failed'] as const
export type StreamRefusalReason = typeof streamRefusalReasons[number]

export class RefusalCounter {
  private readonly counts = new Map<string, number>()

  count (reason: string): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1)
  }

  /** Counts by reason, sorted by reason. */
  snapshot (): Record<string, number> {
    return Object.fromEntries([...this.counts].sort((a, b) => a[0] < b[0] ? -1 : 1))
  }

  get total (): number {
    let sum = 0
    for (const n of this.counts.values()) sum += n
    return sum
  }
}

/** The reason word for an error a stream handler saw while reading or serving a request. */
export function streamErrorReason (err: unknown): StreamRefusalReason {
  const name = (err as { name?: unknown })?.name
  const message = String((err as { message?: unknown })?.message ?? err)
  if (name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError' || /too (long|large)|max(imum)? .*length|exceeds/i.test(message)) return 'oversize'
  if (name === 'TimeoutError' || name === 'AbortError' || /timed? ?out|aborted/i.test(message)) return 'timeout'
  if (name === 'UnexpectedEOFError' || /unexpected end|eof/i.test(message)) return 'eof'
  if (name === 'StreamResetError' || name === 'StreamStateError' || name === 'StreamClosedError' || /reset|closed/i.test(message)) return 'reset'
  if (/busy|in flight|too many/i.test(message)) return 'busy'
  if (name === 'RangeError' || /invalid wire type|index out of range|decode|unexpected|wire type|varint|protobuf|utf-?8/i.test(message)) return 'undecodable'
  if (/invalid|malformed|not a|must be/i.test(message)) return 'invalid'
  return 'failed'
}
