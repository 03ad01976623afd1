/**
 * Capability matching.
 *
 * Names are compared exactly after trimming and lower-casing (`GPU` = `gpu`). Names may be
 * hierarchical with `/`. An offered name ending in `/*` is a wildcard for everything below its
 * prefix, at any depth: offered `ml/*` matches required `ml/train` and `ml/train/large`, offered
 * `ml/train/*` matches `ml/train/large` but not `ml/infer`. A wildcard never matches its own prefix
 * (offered `ml/*` does not match required `ml`), and a required wildcard is just a name (required
 * `ml/*` is matched only by offered `ml/*` or an ancestor wildcard such as `a/*` for `a/ml/*`).
 */
import { isAlive } from './types.js'
import type { MemberInfo } from './types.js'

/** A member is eligible for a task when it offers at least this fraction of the required capabilities. */
export const matchThreshold = 0.7

/** Canonical form of a capability name: trimmed and lower-cased. */
export function normaliseCapability (name: string): string {
  return name.trim().toLowerCase()
}

/** Whether a set of offered (normalised) names covers one required (normalised) name, wildcards included. */
export function covers (offered: ReadonlySet<string>, required: string): boolean {
  if (offered.has(required)) return true
  let cut = required.lastIndexOf('/')
  while (cut > 0) {
    if (offered.has(required.slice(0, cut) + '/*')) return true
    cut = required.lastIndexOf('/', cut - 1)
  }
  return false
}

/**
 * The fraction (0..1) of the required capabilities the node offers. Required names are normalised and
 * de-duplicated first (empty names ignored); nothing required ⇒ 1 (any node can run the task).
 */
export function capabilityMatch (required: readonly string[], offered: readonly string[]): number {
  const need = new Set<string>()
  for (const name of required) {
    const n = normaliseCapability(name)
    if (n !== '') need.add(n)
  }
  if (need.size === 0) return 1
  const have = new Set(offered.map(normaliseCapability))
  let matched = 0
  for (const name of need) if (covers(have, name)) matched++
  return matched / need.size
}

/**
 * The members that may be routed a task requiring `required`: alive (state `alive` or absent) and
 * `capabilityMatch ≥ threshold` (0.7 by default; exactly 0.7 is eligible). Input order is kept.
 */
export function eligible<M extends Omit<MemberInfo, 'peerId'>> (
  required: readonly string[],
  members: readonly M[],
  threshold: number = matchThreshold
): M[] {
  return members.filter(m => isAlive(m) && capabilityMatch(required, m.capabilities) >= threshold)
}
