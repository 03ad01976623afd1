/**
 * [zones] Network zones (issue 14): an operator labels each node with `--zone <label>` (a rack, a room,
 * a cloud region); the label travels in the node's signed state record. Three pure decisions use it:
 * - `zoneAwareClosest`: where a task record's 3 replicas go (distinct zones first, then XOR distance);
 * - `zoneLinkTargets`: which peers the connection keeper dials so it holds a link into every other zone;
 * - `zoneConcentration`: whether more than f validators of a genesis share a zone.
 * Nodes without a zone count as one zone, the empty label "".
 * No I/O and no clock: every node computes the same answer from the same member set.
 */
import { compareDistance, kadIdOfPeer, xorDistance } from './scheduler/dht.js'

/** Characters of a zone label at most. */
export const zoneLengthMax = 32
const zonePattern = /^[a-z0-9-]{1,32}$/

/** A valid zone label: 1-32 of a-z, 0-9 and '-'. */
export function isZoneLabel (value: unknown): value is string {
  return typeof value === 'string' && zonePattern.test(value)
}

/** Why `value` is not a zone label (null when it is one), for error messages. */
export function zoneLabelProblem (value: unknown): string | null {
  if (typeof value !== 'string') return 'must be a string'
  if (value.length === 0 || value.length > zoneLengthMax) return `must be 1-${zoneLengthMax} characters`
  if (!zonePattern.test(value)) return 'may hold only a-z, 0-9 and -'
  return null
}

/**
 * The `k` peers a record keyed by `kadId` goes to: spread over as many distinct zones as the candidates
 * have (so over `k` distinct zones when at least `k` zones exist), each zone's pick the XOR-closest of
 * that zone, zones taken in the order of their closest member; then, when fewer zones than `k` exist,
 * the XOR-closest of the rest. Returned closest first. With no zones at all (every zone "") this is
 * exactly the `k` XOR-closest peers. Duplicates are ignored; ties by PeerId string.
 */
export function zoneAwareClosest (kadId: Uint8Array, peerIds: readonly string[], zoneOf: (peerId: string) => string, k: number): string[] {
  const want = Math.max(0, Math.floor(k))
  const sorted = [...new Set(peerIds)]
    .map(peerId => ({ peerId, distance: xorDistance(kadId, kadIdOfPeer(peerId)) }))
    .sort((a, b) => compareDistance(a.distance, b.distance) || (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0))
  const chosen = new Set<string>()
  const zonesUsed = new Set<string>()
  for (const { peerId } of sorted) {
    if (chosen.size >= want) break
    const zone = zoneOf(peerId)
    if (zonesUsed.has(zone)) continue
    zonesUsed.add(zone)
    chosen.add(peerId)
  }
  for (const { peerId } of sorted) {
    if (chosen.size >= want) break
    chosen.add(peerId)
  }
  return sorted.filter(p => chosen.has(p.peerId)).map(p => p.peerId)
}

/** Links into other zones the keeper holds at most (zones come from gossiped records: bound them). */
export const zoneLinksMax = 8

/**
 * The peers to dial so that this node holds at least one link into every other zone it knows: for each
 * zone other than `selfZone` that has candidates and no connected peer, its best candidate (lowest
 * `rank`, then PeerId). At most `zoneLinksMax`, zones in label order. `linked` lists the zones already
 * reached (a connected peer in them), so callers can keep those links.
 */
export function zoneLinkTargets (input: {
  selfZone: string
  /** Connected peers with their zone. */
  connected: ReadonlyArray<{ peerId: string, zone: string }>
  /** Members worth a link (alive, not avoided), with their zone. */
  candidates: ReadonlyArray<{ peerId: string, zone: string }>
  rank: (peerId: string) => number
}): { dial: string[], linked: string[] } {
  const linked = new Set(input.connected.map(c => c.zone).filter(z => z !== input.selfZone))
  const best = new Map<string, string>()
  const connectedIds = new Set(input.connected.map(c => c.peerId))
  for (const c of input.candidates) {
    if (c.zone === input.selfZone || linked.has(c.zone) || connectedIds.has(c.peerId)) continue
    const current = best.get(c.zone)
    if (current == null || input.rank(c.peerId) < input.rank(current) || (input.rank(c.peerId) === input.rank(current) && c.peerId < current)) best.set(c.zone, c.peerId)
  }
  const zones = [...best.keys()].sort()
  const dial = zones.slice(0, Math.max(0, zoneLinksMax - linked.size)).map(z => best.get(z) as string)
  return { dial, linked: [...linked].sort() }
}

/**
 * Validators per zone, and the zones holding more than `f` of them (a consensus network of n = 3f+1
 * stops committing when f+1 validators are lost: one zone going down must not take more than f).
 * Validators without a zone count as the zone "" only when some validator has a zone (with no zones
 * at all there is nothing to warn about).
 */
export function zoneConcentration (zones: ReadonlyArray<string | undefined>, f: number): { counts: Record<string, number>, overloaded: Array<{ zone: string, validators: number }> } {
  const counts: Record<string, number> = {}
  if (zones.every(z => z == null || z === '')) return { counts, overloaded: [] }
  for (const z of zones) counts[z ?? ''] = (counts[z ?? ''] ?? 0) + 1
  const overloaded = Object.entries(counts)
    .filter(([, n]) => n > f)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([zone, validators]) => ({ zone, validators }))
  return { counts, overloaded }
}
