/**
 * Between the wire messages (eventual.ts, generated) and the LWW map's values (src/core/gossip/lww.ts).
 * Numbers arrive as uint64: one above 2^53 becomes -1, which the map's validation refuses ('malformed').
 * Entries are handed to the map unvalidated (`LwwMap.merge` checks each); digests and key versions,
 * which the map takes on trust, are checked here, and a message with one bad item is refused whole.
 */
import { isHlc } from '../../src/core/gossip/hlc.js'
import type { KeyVersion, LwwEntry } from '../../src/core/gossip/lww.js'
import type { Entry, KeyVersion as WireKeyVersion, NamespaceDigest } from './eventual.js'
import { digestLengthMax, keyLengthMax, namespaceLengthMax, nodeLengthMax } from './constants.js'

/** A protocol violation by the peer: the exchange is aborted and counted. */
export class EventualProtocolError extends Error {
  override readonly name = 'EventualProtocolError'
}

function safe (value: bigint): number {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : -1
}

export function entryToWire (entry: LwwEntry): Entry {
  const wire: Entry = { namespace: entry.namespace, key: entry.key, wallMs: BigInt(entry.hlc.wallMs), logical: BigInt(entry.hlc.logical), node: entry.hlc.node }
  if (entry.value !== null) wire.value = entry.value
  return wire
}

/** A received entry in the map's shape, still unvalidated (the map's `merge` checks it). */
export function entryFromWire (wire: Entry): unknown {
  return {
    namespace: wire.namespace,
    key: wire.key,
    value: wire.value ?? null,
    hlc: { wallMs: safe(wire.wallMs), logical: safe(wire.logical), node: wire.node }
  }
}

/** What an entry costs on the wire, roughly (for the byte budget of a message). */
export function entryWireBytes (entry: LwwEntry): number {
  return Buffer.byteLength(entry.namespace) + Buffer.byteLength(entry.key) + (entry.value === null ? 0 : Buffer.byteLength(entry.value)) + Buffer.byteLength(entry.hlc.node) + 40
}

const validNamespace = (namespace: string): boolean => namespace.length > 0 && namespace.length <= namespaceLengthMax

export function digestsToWire (digests: ReadonlyArray<readonly [string, string]>): NamespaceDigest[] {
  return digests.map(([namespace, digest]) => ({ namespace, digest }))
}

export function digestsFromWire (wire: NamespaceDigest[]): Array<[string, string]> {
  const seen = new Set<string>()
  return wire.map(({ namespace, digest }) => {
    if (!validNamespace(namespace)) throw new EventualProtocolError('namespace digest: bad namespace name')
    if (digest.length === 0 || digest.length > digestLengthMax) throw new EventualProtocolError('namespace digest: bad digest')
    if (seen.has(namespace)) throw new EventualProtocolError('namespace digest: namespace listed twice')
    seen.add(namespace)
    return [namespace, digest]
  })
}

export function versionsToWire (versions: readonly KeyVersion[]): WireKeyVersion[] {
  return versions.map(([key, hlc, content]) => ({ key, wallMs: BigInt(hlc.wallMs), logical: BigInt(hlc.logical), node: hlc.node, content }))
}

export function versionsFromWire (wire: WireKeyVersion[]): KeyVersion[] {
  const seen = new Set<string>()
  return wire.map(v => {
    const hlc = { wallMs: safe(v.wallMs), logical: safe(v.logical), node: v.node }
    if (v.key.length === 0 || v.key.length > keyLengthMax) throw new EventualProtocolError('key version: bad key')
    if (!isHlc(hlc, nodeLengthMax)) throw new EventualProtocolError('key version: bad timestamp')
    if (v.content.length === 0 || v.content.length > digestLengthMax) throw new EventualProtocolError('key version: bad content digest')
    if (seen.has(v.key)) throw new EventualProtocolError('key version: key listed twice')
    seen.add(v.key)
    return [v.key, hlc, v.content]
  })
}

export function checkNamespace (namespace: string): string {
  if (!validNamespace(namespace)) throw new EventualProtocolError('bad namespace name')
  return namespace
}

/** Split entries into groups of at most `bytesBudget` wire bytes and `countMax` entries (≥ 1 each). */
export function chunkEntries (entries: readonly LwwEntry[], bytesBudget: number, countMax: number): LwwEntry[][] {
  const out: LwwEntry[][] = []
  let current: LwwEntry[] = []
  let bytes = 0
  for (const entry of entries) {
    const size = entryWireBytes(entry)
    if (current.length > 0 && (bytes + size > bytesBudget || current.length >= countMax)) {
      out.push(current)
      current = []
      bytes = 0
    }
    current.push(entry)
    bytes += size
  }
  if (current.length > 0) out.push(current)
  return out
}
