/**
 * A seeded, protobuf-aware mutator for the fuzzer: the same seed gives the same frames, so every
 * failure is reproducible from (seed, protocol, frame index) and is reported with the frame's hex.
 *
 * Byte-level: bit flips, interesting bytes, truncation, extension, insertion, deletion, random bytes,
 * splices of two seeds. Structure-aware (top-level protobuf fields, recursing into embedded messages):
 * huge varints, length-prefix lies inside the message, duplicated fields, varint fields set to
 * valid-but-out-of-range values (0, 2^31, 2^32−1, 2^53, 2^64−1 …). JSON bodies (pBFT and Raft
 * frames): a random value replaced by a hostile one (negative, huge, NaN text, deep nesting, wrong type).
 */
import { SeededRandom } from '../../src/core/random.js'

export interface Mutation {
  bytes: Uint8Array
  op: string
}

interface WireField {
  start: number
  /** End of the tag varint. */
  tagEnd: number
  end: number
  fieldNumber: number
  wireType: number
  /** For wire type 2: where the payload starts; for varints: where the value starts. */
  valueStart: number
}

export function encodeVarint (value: bigint | number): Uint8Array {
  let v = BigInt(value)
  if (v < 0n) v = (1n << 64n) + v
  const out: number[] = []
  do {
    let byte = Number(v & 0x7fn)
    v >>= 7n
    if (v > 0n) byte |= 0x80
    out.push(byte)
  } while (v > 0n)
  return Uint8Array.from(out)
}

function readVarint (bytes: Uint8Array, offset: number): { value: bigint, next: number } | null {
  let value = 0n
  let shift = 0n
  for (let i = offset; i < bytes.length && i < offset + 10; i++) {
    const byte = bytes[i] as number
    value |= BigInt(byte & 0x7f) << shift
    if ((byte & 0x80) === 0) return { value, next: i + 1 }
    shift += 7n
  }
  return null
}

/** The top-level fields of a protobuf message, or null when it does not parse as one. */
export function parseFields (bytes: Uint8Array): WireField[] | null {
  const fields: WireField[] = []
  let offset = 0
  while (offset < bytes.length) {
    const tag = readVarint(bytes, offset)
    if (tag == null) return null
    const fieldNumber = Number(tag.value >> 3n)
    const wireType = Number(tag.value & 7n)
    const valueStart = tag.next
    let end: number
    if (wireType === 0) {
      const v = readVarint(bytes, valueStart)
      if (v == null) return null
      end = v.next
    } else if (wireType === 1) end = valueStart + 8
    else if (wireType === 5) end = valueStart + 4
    else if (wireType === 2) {
      const len = readVarint(bytes, valueStart)
      if (len == null) return null
      end = len.next + Number(len.value)
      if (end > bytes.length) return null
      fields.push({ start: offset, tagEnd: tag.next, end, fieldNumber, wireType, valueStart: len.next })
      offset = end
      continue
    } else return null
    if (end > bytes.length || fieldNumber === 0) return null
    fields.push({ start: offset, tagEnd: tag.next, end, fieldNumber, wireType, valueStart })
    offset = end
  }
  return fields
}

function concat (...parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) { out.set(p, offset); offset += p.length }
  return out
}

const interestingBytes = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x0a, 0x12, 0x22]
const interestingVarints: bigint[] = [0n, 1n, 2n, 127n, 128n, 255n, 256n, 65_535n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n,
  9_007_199_254_740_991n, 9_007_199_254_740_992n, 0x7fffffffffffffffn, 0xffffffffffffffffn]
const hugeVarint = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
const overlongVarint = Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])

export class Mutator {
  constructor (readonly rng: SeededRandom) {}

  int (n: number): number {
    return Math.floor(this.rng.next() * n)
  }

  chance (p: number): boolean {
    return this.rng.next() < p
  }

  pick<T> (items: readonly T[]): T {
    return items[this.int(items.length)] as T
  }

  randomBytes (n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.int(256)
    return out
  }

  /** A length skewed towards small sizes, sometimes large. */
  length (max: number): number {
    const r = this.rng.next()
    if (r < 0.6) return this.int(Math.min(max, 32) + 1)
    if (r < 0.9) return this.int(Math.min(max, 1024) + 1)
    return this.int(max + 1)
  }

  /** One to three mutations of `seed` (a valid encoding); `others` are other seeds (for splices). */
  mutate (seed: Uint8Array, others: readonly Uint8Array[], json: boolean): Mutation {
    let bytes = seed
    const ops: string[] = []
    const rounds = 1 + (this.chance(0.3) ? this.int(3) : 0)
    for (let i = 0; i < rounds; i++) {
      const m = this.mutateOnce(bytes, others, json)
      bytes = m.bytes
      ops.push(m.op)
    }
    return { bytes, op: ops.join('+') }
  }

  private mutateOnce (seed: Uint8Array, others: readonly Uint8Array[], json: boolean): Mutation {
    if (json && this.chance(0.5)) {
      const m = this.mutateJsonBody(seed)
      if (m != null) return m
    }
    const structural = this.chance(0.55) ? this.mutateStructure(seed, 0) : null
    if (structural != null) return structural
    return this.mutateBytes(seed, others)
  }

  mutateBytes (seed: Uint8Array, others: readonly Uint8Array[]): Mutation {
    const op = this.int(9)
    const b = Uint8Array.from(seed)
    switch (op) {
      case 0: {
        if (b.length === 0) return { bytes: this.randomBytes(1 + this.int(8)), op: 'random' }
        const flips = 1 + this.int(8)
        for (let i = 0; i < flips; i++) { const at = this.int(b.length); b[at] = (b[at] as number) ^ (1 << this.int(8)) }
        return { bytes: b, op: 'bitflip' }
      }
      case 1: {
        if (b.length === 0) return { bytes: Uint8Array.of(this.pick(interestingBytes)), op: 'byte' }
        const n = 1 + this.int(4)
        for (let i = 0; i < n; i++) b[this.int(b.length)] = this.pick(interestingBytes)
        return { bytes: b, op: 'byte' }
      }
      case 2: return { bytes: b.subarray(0, this.int(b.length + 1)), op: 'truncate' }
      case 3: return { bytes: concat(b, this.randomBytes(this.length(4096))), op: 'extend' }
      case 4: {
        const at = this.int(b.length + 1)
        return { bytes: concat(b.subarray(0, at), this.randomBytes(1 + this.length(64)), b.subarray(at)), op: 'insert' }
      }
      case 5: {
        const at = this.int(b.length + 1)
        return { bytes: concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + this.int(16)))), op: 'delete' }
      }
      case 6: return { bytes: this.randomBytes(this.length(2048)), op: 'random' }
      case 7: {
        const other = others.length > 0 ? this.pick(others) : b
        return { bytes: concat(b.subarray(0, this.int(b.length + 1)), other.subarray(this.int(other.length + 1))), op: 'splice' }
      }
      default: return { bytes: concat(b, b), op: 'repeat' }
    }
  }

  /** A protobuf-aware mutation of one field (recursing into embedded messages), or null. */
  mutateStructure (bytes: Uint8Array, depth: number): Mutation | null {
    const fields = parseFields(bytes)
    if (fields == null || fields.length === 0) return null
    const field = this.pick(fields)
    const before = bytes.subarray(0, field.start)
    const after = bytes.subarray(field.end)
    const tag = bytes.subarray(field.start, field.tagEnd)
    const op = this.int(7)
    switch (op) {
      case 0: // duplicate the field (protobuf: last one wins for scalars, merge for messages, append for repeated)
        return { bytes: concat(bytes.subarray(0, field.end), bytes.subarray(field.start, field.end), after), op: 'duplicate-field' }
      case 1: { // a varint field set to a boundary value (valid encoding, out of the protocol's range)
        if (field.wireType !== 0) break
        return { bytes: concat(before, tag, encodeVarint(this.pick(interestingVarints)), after), op: 'out-of-range' }
      }
      case 2: // a huge or overlong varint in place of the value (or of the length)
        return { bytes: concat(before, tag, this.chance(0.5) ? hugeVarint : overlongVarint, bytes.subarray(field.valueStart), after), op: 'huge-varint' }
      case 3: { // a length-prefix lie inside the message
        if (field.wireType !== 2) break
        const payload = bytes.subarray(field.valueStart, field.end)
        const lie = this.pick([payload.length + 1, payload.length + 1000, Math.max(0, payload.length - 1), 0x7fffffff, 2 ** 40])
        return { bytes: concat(before, tag, encodeVarint(lie), payload, after), op: 'length-lie' }
      }
      case 4: { // recurse into an embedded message (or mutate a string/bytes value)
        if (field.wireType !== 2) break
        const payload = bytes.subarray(field.valueStart, field.end)
        const inner = depth < 4 && this.chance(0.7) ? this.mutateStructure(payload, depth + 1) : null
        const mutated = inner ?? { bytes: this.mutatePayload(payload), op: 'value' }
        return { bytes: concat(before, tag, encodeVarint(mutated.bytes.length), mutated.bytes, after), op: `nested:${mutated.op}` }
      }
      case 5: // drop the field
        return { bytes: concat(before, after), op: 'drop-field' }
      default: { // an unknown field, or a known number with the wrong wire type
        const number = this.chance(0.5) ? field.fieldNumber : 1 + this.int(40)
        const wireType = this.pick([0, 1, 2, 3, 4, 5, 6, 7])
        const value = wireType === 0 ? encodeVarint(this.pick(interestingVarints)) : wireType === 2 ? concat(encodeVarint(8), this.randomBytes(8)) : this.randomBytes(this.pick([0, 4, 8]))
        return { bytes: concat(bytes.subarray(0, field.end), encodeVarint((number << 3) | wireType), value, after), op: 'wrong-wire-type' }
      }
    }
    return null
  }

  private mutatePayload (payload: Uint8Array): Uint8Array {
    const r = this.int(6)
    if (r === 0) return new Uint8Array(0)
    if (r === 1) return this.randomBytes(this.length(512))
    if (r === 2) return new TextEncoder().encode(this.pick(hostileStrings(this)))
    if (r === 3) return Uint8Array.from([0xc3, 0x28, 0xed, 0xa0, 0x80, 0xf0, 0x28, 0x8c, 0x28]) // invalid UTF-8
    if (r === 4) return concat(payload, payload)
    return this.mutateBytes(payload, []).bytes
  }

  /** A JSON frame body (`kind` + body fields inside a Frame): replace one JSON value by a hostile one. */
  mutateJsonBody (frameBytes: Uint8Array): Mutation | null {
    const fields = parseFields(frameBytes)
    const body = fields?.find(f => f.fieldNumber === 2 && f.wireType === 2)
    if (fields == null || body == null) return null
    let parsed: unknown
    try { parsed = JSON.parse(new TextDecoder().decode(frameBytes.subarray(body.valueStart, body.end))) } catch { return null }
    const mutated = this.mutateJson(parsed, 0)
    const text = new TextEncoder().encode(typeof mutated === 'string' && this.chance(0.1) ? mutated : JSON.stringify(mutated) ?? 'null')
    const tag = frameBytes.subarray(body.start, body.tagEnd)
    return { bytes: concat(frameBytes.subarray(0, body.start), tag, encodeVarint(text.length), text, frameBytes.subarray(body.end)), op: 'json' }
  }

  mutateJson (value: unknown, depth: number): unknown {
    if (depth > 6 || this.chance(0.25)) return this.hostileValue()
    if (Array.isArray(value)) {
      if (value.length === 0 || this.chance(0.15)) return this.chance(0.5) ? [] : [...value, this.hostileValue()]
      const copy = [...value]
      const i = this.int(copy.length)
      copy[i] = this.mutateJson(copy[i], depth + 1)
      return copy
    }
    if (typeof value === 'object' && value != null) {
      const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) }
      const keys = Object.keys(copy)
      if (keys.length === 0 || this.chance(0.1)) { copy[this.pick(['type', 'from', 'seq', 'view', '__proto__', 'constructor', 'x'])] = this.hostileValue(); return copy }
      const key = this.pick(keys)
      if (this.chance(0.1)) { delete copy[key]; return copy }
      copy[key] = this.mutateJson(copy[key], depth + 1)
      return copy
    }
    return this.hostileValue()
  }

  hostileValue (): unknown {
    const options: Array<() => unknown> = [
      () => -1, () => 0, () => 1.5, () => 2 ** 53, () => 2 ** 53 + 2, () => 1e308, () => -1e308, () => Number.MAX_SAFE_INTEGER,
      () => 2 ** 31, () => 2 ** 32, () => '', () => 'x'.repeat(this.length(70_000)), () => '-1', () => 'NaN', () => null,
      () => true, () => [], () => {}, () => ({ length: 1e9 }), () => nested(this.int(2000)), () => this.pick(hostileStrings(this)),
      () => [1, 2, 3], () => ({ type: 'prepare' }), () => 'Infinity'
    ]
    return this.pick(options)()
  }
}

function nested (depth: number): unknown {
  let v: unknown = []
  for (let i = 0; i < depth; i++) v = [v]
  return v
}

function hostileStrings (m: Mutator): string[] {
  return ['', '\u0000', '🙂'.repeat(40), 'a'.repeat(m.length(300)), '../../etc/passwd', '12D3KooWInvalidPeerId', '/ip4/999.1.1.1/tcp/1',
    '%s%n', '{"a":', 'null', '\uD800', 'payload:x', 'result:' + 'y'.repeat(70)]
}
