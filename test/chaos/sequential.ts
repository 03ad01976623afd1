/**
 * Checks for the memory store's plain (non-linearizable) reads. A plain `GET /v1/memory/<ns>/<key>`
 * is served from the node's applied prefix of the decision log and says which: `lastApplied` L, and on
 * a hit the sequence number `seq` of the write it shows. What such a read promises, precisely:
 *
 * 1. **Prefix consistency.** The answer is the key's state after the first L decisions of the one log.
 *    Checked against every write whose sequence number the history knows (acknowledged writes answer
 *    with theirs): let W be the known write of the key with the highest seq ≤ L.
 *    - a hit (value v, seq s) needs s ≤ L; the put that wrote v must exist (values are unique per
 *      write) and, when its seq is known, be s; and s ≥ W's seq (s = W's seq only if W is that put);
 *    - an absent answer needs W to be a delete, or no W, or a delete of the key with an unknown seq
 *      (indeterminate) that was invoked before the read returned and so may sit between W and L.
 *    Several writes can share one seq (one bundle of operations is one decision): W is then the set of
 *    them, and an answer consistent with any member of it (or a write of unknown seq) passes.
 * 2. **Monotonic reads per session.** A session is one client reading from one node process (a
 *    restart is a new session: see below). Within it L never decreases: the client never sees the node
 *    go back to an older prefix than one it has already seen.
 *
 * 3. **Monotonic per node, restarts included.** A node never answers at an older prefix than one it
 *    answered at to any client before this read was invoked (real time: the earlier read returned
 *    before this one was called), even across a `kill -9` and restart: the node keeps the highest
 *    prefix it has answered at in its data dir and a restarted process waits until it has applied that
 *    much again (src/runtime/consensus/read-floor.ts). Such a regression is counted in
 *    `regressionsAcrossRestarts` when the two answers came from different processes.
 */

export interface PlainRead {
  id: number
  client: number
  key: string
  /** Node name and process id that answered. */
  node: string
  pid: number
  call: number
  return: number
  value: string | null
  /** Seq of the write shown (hits only). */
  seq: number | null
  lastApplied: number
}

/** A write as the sequential check needs it. */
export interface KnownWrite {
  id: number
  key: string
  kind: 'put' | 'delete'
  value?: string
  call: number
  /** The decision's sequence number, when the write was acknowledged (null: indeterminate). */
  seq: number | null
}

export interface SequentialViolation {
  read: PlainRead
  rule: 'prefix' | 'monotonic' | 'node-monotonic'
  reason: string
}

export interface SequentialVerdict {
  ok: boolean
  reads: number
  sessions: number
  violations: SequentialViolation[]
  /** Reads whose L was below what an earlier process of the same node had answered before they were called (violations too). */
  regressionsAcrossRestarts: number
}

export function checkPlainReads (reads: PlainRead[], writes: KnownWrite[]): SequentialVerdict {
  const violations: SequentialViolation[] = []
  const byKey = new Map<string, KnownWrite[]>()
  const putByValue = new Map<string, KnownWrite>()
  for (const w of writes) {
    let list = byKey.get(w.key)
    if (list == null) { list = []; byKey.set(w.key, list) }
    list.push(w)
    if (w.kind === 'put' && w.value != null) putByValue.set(`${w.key}\u0000${w.value}`, w)
  }
  for (const list of byKey.values()) list.sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity))

  for (const read of reads) {
    const list = byKey.get(read.key) ?? []
    // the known writes with the highest seq ≤ L (several when one bundle carried them: the same seq)
    let lastSeq = -1
    for (const w of list) {
      if (w.seq == null || w.seq > read.lastApplied) break
      lastSeq = w.seq
    }
    const last = list.filter(w => w.seq === lastSeq)
    const describe = (w: KnownWrite): string => `#${w.id} (${w.kind}${w.value != null ? ` ${w.value}` : ''}) at seq ${String(w.seq)}`
    if (read.value !== null) {
      const s = read.seq
      const put = putByValue.get(`${read.key}\u0000${read.value}`)
      if (s == null || s > read.lastApplied) {
        violations.push({ read, rule: 'prefix', reason: `hit seq ${String(s)} beyond lastApplied ${read.lastApplied}` })
      } else if (put == null) {
        violations.push({ read, rule: 'prefix', reason: `value ${read.value} was never written to ${read.key}` })
      } else if (put.seq != null && put.seq !== s) {
        violations.push({ read, rule: 'prefix', reason: `value ${read.value} was written at seq ${put.seq}, the read says seq ${s}` })
      } else if (last.length > 0 && (s < lastSeq || (s === lastSeq && put.seq != null && !last.includes(put)))) {
        violations.push({ read, rule: 'prefix', reason: `shows the write at seq ${s}, but ${last.map(describe).join(', ')} ≤ lastApplied ${read.lastApplied} is newer` })
      }
    } else if (last.length > 0 && last.every(w => w.kind === 'put')) {
      const mayHaveDeleted = list.some(w => w.kind === 'delete' && w.seq == null && w.call <= read.return)
      if (!mayHaveDeleted) {
        violations.push({ read, rule: 'prefix', reason: `absent, but ${last.map(describe).join(', ')} ≤ lastApplied ${read.lastApplied} and no delete can be after it` })
      }
    }
  }

  // monotonic reads within a session (client, node, process), in the client's order
  const sessions = new Map<string, number>()
  let regressionsAcrossRestarts = 0
  for (const read of [...reads].sort((a, b) => a.call - b.call)) {
    const session = `${read.client}\u0000${read.node}\u0000${read.pid}`
    const seen = sessions.get(session)
    if (seen != null && read.lastApplied < seen) {
      violations.push({ read, rule: 'monotonic', reason: `lastApplied ${read.lastApplied} after ${seen} in the same session (client ${read.client}, ${read.node} pid ${read.pid})` })
    }
    sessions.set(session, Math.max(seen ?? 0, read.lastApplied))
  }
  // monotonic per node in real time, across its processes: sweep the reads by call time, taking in
  // every read that returned before
  const byReturn = [...reads].sort((a, b) => a.return - b.return)
  const highest = new Map<string, PlainRead>()
  let next = 0
  for (const read of [...reads].sort((a, b) => a.call - b.call)) {
    while (next < byReturn.length && byReturn[next].return < read.call) {
      const done = byReturn[next++]
      const top = highest.get(done.node)
      if (top == null || done.lastApplied > top.lastApplied) highest.set(done.node, done)
    }
    const top = highest.get(read.node)
    if (top != null && read.lastApplied < top.lastApplied) {
      if (top.pid !== read.pid) regressionsAcrossRestarts++
      violations.push({ read, rule: 'node-monotonic', reason: `lastApplied ${read.lastApplied} after ${read.node} had answered at ${top.lastApplied} (#${top.id}, client ${top.client}, pid ${top.pid}${top.pid !== read.pid ? `; this answer from pid ${read.pid}, after a restart` : ''})` })
    }
  }
  return { ok: violations.length === 0, reads: reads.length, sessions: sessions.size, violations, regressionsAcrossRestarts }
}
