/**
 * Raft's safety properties (Figure 3 of the paper) and linearizable reads, checked by the simulator
 * after every event it processes. Each check sees what a node just did (its effects) or holds (its log).
 */
import type { Entry, NodeId } from '../../src/core/raft/types.js'

export interface Violation {
  invariant: 'election-safety' | 'log-matching' | 'leader-completeness' | 'state-machine-safety' | 'linearizable-read' | 'liveness' | 'crash'
  atMs: number
  node?: NodeId
  detail: string
}

const digests = new WeakMap<Entry, string>()

function digest (entry: Entry): string {
  let d = digests.get(entry)
  if (d === undefined) {
    d = JSON.stringify([entry.index, entry.term, entry.kind, entry.requests ?? null, entry.change ?? null, entry.membership ?? null])
    digests.set(entry, d)
  }
  return d
}

export class Invariants {
  readonly violations: Violation[] = []
  /** term → its leader (election safety: at most one per term). */
  private readonly leaders = new Map<number, NodeId>()
  /** "index/term" → entry digest and the previous entry's term (log matching). */
  private readonly seen = new Map<string, { digest: string, prevTerm: number | undefined }>()
  /** index → committed entry digest and term (state-machine safety, leader completeness). */
  readonly committed = new Map<number, { digest: string, term: number }>()

  constructor (private readonly clock: () => number) {}

  fail (violation: Omit<Violation, 'atMs'>): void {
    if (this.violations.length < 20) this.violations.push({ ...violation, atMs: this.clock() })
  }

  leader (node: NodeId, term: number): void {
    const known = this.leaders.get(term)
    if (known !== undefined && known !== node) this.fail({ invariant: 'election-safety', node, detail: `two leaders in term ${term}: ${known} and ${node}` })
    this.leaders.set(term, node)
  }

  /** Leader completeness: a new leader's log holds every entry committed so far (those of earlier terms). */
  newLeader (node: NodeId, term: number, log: { offset: number, entries: readonly Entry[] }): void {
    for (const [index, c] of this.committed) {
      if (index <= log.offset || c.term >= term) continue
      const entry = log.entries[index - log.offset - 1]
      if (entry === undefined || digest(entry) !== c.digest) {
        this.fail({ invariant: 'leader-completeness', node, detail: `leader of term ${term} lacks committed entry ${index}/${c.term}` })
        return
      }
    }
  }

  /** State-machine safety: no two nodes apply different entries at one index. */
  applied (node: NodeId, entry: Entry): void {
    const d = digest(entry)
    const known = this.committed.get(entry.index)
    if (known === undefined) this.committed.set(entry.index, { digest: d, term: entry.term })
    else if (known.digest !== d) this.fail({ invariant: 'state-machine-safety', node, detail: `index ${entry.index}: ${d} applied here, ${known.digest} elsewhere` })
  }

  /** Log matching: same index and term ⇒ same entry and same previous term (so, inductively, same prefix). */
  log (node: NodeId, log: { offset: number, offsetTerm: number, entries: readonly Entry[] }): void {
    let prevTerm: number | undefined = log.offsetTerm
    for (const entry of log.entries) {
      const key = `${entry.index}/${entry.term}`
      const d = digest(entry)
      const known = this.seen.get(key)
      if (known === undefined) this.seen.set(key, { digest: d, prevTerm })
      else if (known.digest !== d || known.prevTerm !== prevTerm) {
        this.fail({ invariant: 'log-matching', node, detail: `entry ${key} differs from another node's (or its predecessor's term does)` })
        return
      }
      prevTerm = entry.term
    }
  }
}
