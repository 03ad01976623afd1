/**
 * Consistent hashing on the Kademlia XOR metric, computed exactly as @libp2p/kad-dht does
 * (`utils.ts`: `convertPeerId` / `convertBuffer`, and `PeerDistanceList` with `uint8arrays/xor` and
 * `xor-compare`):
 * - a peer's Kademlia id is sha256 of its PeerId's multihash bytes
 *   (`peerIdFromString(s).toMultihash().bytes`);
 * - a key's Kademlia id is sha256 of the key bytes; for a task the key is the UTF-8 bytes of
 *   `/mesh-task/<taskId>` (`taskKey`);
 * - distance = the bytewise XOR of the two 32-byte ids, compared as a big-endian unsigned integer.
 * So `replicaSet` names the same peers a DHT lookup of that key converges to among those members.
 *
 * No network: parsing a PeerId string and hashing are pure (node:crypto's sha256 is synchronous).
 * Kademlia ids of peers are memoised (a bounded cache; results do not depend on it).
 */
import { createHash } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { capabilityMatch, matchThreshold } from './capabilities.js'
import { comparePeerIds, isAlive } from './types.js'
import type { MemberInfo, MemberState } from './types.js'

/** Task keys are `/mesh-task/<taskId>`. */
export const taskKeyPrefix = '/mesh-task/'

/** The DHT key of a task: the UTF-8 bytes of `/mesh-task/<taskId>`. */
export function taskKey (taskId: string): Uint8Array {
  return new TextEncoder().encode(taskKeyPrefix + taskId)
}

/** sha256 of the bytes (kad-dht's `convertBuffer`). */
export function kadIdOfKey (key: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(key).digest())
}

const peerCacheMax = 4096
const peerCache = new Map<string, Uint8Array>()

/**
 * sha256 of the PeerId's multihash bytes (kad-dht's `convertPeerId`). Throws if `peerId` is not a
 * PeerId string.
 */
export function kadIdOfPeer (peerId: string): Uint8Array {
  const cached = peerCache.get(peerId)
  if (cached !== undefined) return cached
  const id = kadIdOfKey(peerIdFromString(peerId).toMultihash().bytes)
  if (peerCache.size >= peerCacheMax) peerCache.clear()
  peerCache.set(peerId, id)
  return id
}

/** Bytewise XOR of two ids of the same length. */
export function xorDistance (a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length !== b.length) throw new RangeError('ids must have the same length')
  const out = new Uint8Array(a.length)
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number)
  return out
}

/** Compares two distances as big-endian unsigned integers: −1 if a is closer, 1 if b is, 0 if equal. */
export function compareDistance (a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new RangeError('distances must have the same length')
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number
    const y = b[i] as number
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}

/**
 * The distinct PeerIds sorted by XOR distance of their Kademlia id to `kadId`, closest first (equal
 * distances, i.e. the same peer, by PeerId string).
 */
export function closestPeers (kadId: Uint8Array, peerIds: readonly string[]): string[] {
  const unique = [...new Set(peerIds)]
  const withDistance = unique.map(peerId => ({ peerId, distance: xorDistance(kadId, kadIdOfPeer(peerId)) }))
  withDistance.sort((a, b) => compareDistance(a.distance, b.distance) || comparePeerIds(a.peerId, b.peerId))
  return withDistance.map(d => d.peerId)
}

/** The Kademlia id of a task: sha256 of `taskKey(taskId)`. */
export function taskKadId (taskId: string): Uint8Array {
  return kadIdOfKey(taskKey(taskId))
}

/** A member for DHT placement: a full `MemberInfo`, or a bare PeerId string (taken as alive and able). */
export type DhtMember = string | MemberInfo

/**
 * The DHT owner of a task: among the alive members able to run it (capabilityMatch(required) ≥ 0.7;
 * nothing required ⇒ every alive member; a bare PeerId string is taken as alive and able, for callers
 * that filtered already), the one whose Kademlia id is XOR-closest to the task's. Undefined when there
 * is none. Ignores load: the owner queues the task.
 */
export function dhtOwner (
  taskId: string,
  members: readonly DhtMember[],
  required: readonly string[] = [],
  threshold: number = matchThreshold
): string | undefined {
  const capable = members
    .filter(m => typeof m === 'string' || (isAlive(m) && capabilityMatch(required, m.capabilities) >= threshold))
    .map(m => typeof m === 'string' ? m : m.peerId)
  return closestPeers(taskKadId(taskId), capable)[0]
}

/**
 * The `k` (default 3) alive members XOR-closest to the task's key, closest first: where the task's
 * payload record is stored. Capabilities do not matter. Fewer than k when fewer are alive.
 */
export function replicaSet (
  taskId: string,
  members: ReadonlyArray<string | { peerId: string, state?: MemberState }>,
  k = 3
): string[] {
  const alive = members
    .filter(m => typeof m === 'string' || isAlive(m))
    .map(m => typeof m === 'string' ? m : m.peerId)
  return closestPeers(taskKadId(taskId), alive).slice(0, Math.max(0, Math.floor(k)))
}
