/**
 * Exactly-once bookkeeping per client, part of the replicated state (it is in every snapshot and
 * state digest): a request (client, id) executes at most once, in whatever order the log puts ids.
 * Per client: `floor` = every id ≤ floor has executed, or never will (a Raft client's declared floor,
 * `ClientRequest.floor`: ids it gave up on); `above` = executed ids beyond the floor;
 * `recent` = the last results, to answer a client that re-sends a request it already got executed.
 */

/**
 * How far beyond its lowest unexecuted id a client may run (drop policy: refused, deterministic), and
 * how many results are kept per client for re-replies. They are equal so that a client that keeps its
 * ids within `clientWindow` of its oldest unanswered request can always get that answer again: at most
 * clientWindow − 1 of its requests can execute after it. (16 kept results lost answers for good under
 * reply loss — found by the simulator, seed 2931.)
 */
export const clientWindow = 256
const recentMax = clientWindow

interface ClientState {
  floor: number
  above: number[]
  recent: Array<[number, string, number]>
  /** Sequence number of its latest executed request: what the horizon is measured from. */
  lastSeq: number
}

/**
 * Per client: [client, floor, above, recent, lastSeq]. Snapshots written before the horizon existed
 * have 4 elements; their lastSeq is taken from the newest remembered result.
 */
export type ClientTableSnapshot = Array<[string, number, number[], Array<[number, string, number]>, number?]>

export class ClientTable {
  private readonly clients = new Map<string, ClientState>()

  /**
   * 'new' (may execute), 'done' (executed before), or 'ahead' (beyond the client window). A client the
   * table does not hold (new, or forgotten past the horizon) may start anywhere: a forgotten one comes
   * back with ids beyond the window, and its window restarts at that id (see `record`).
   */
  classify (client: string, requestId: number, floorHint = 0): 'new' | 'done' | 'ahead' {
    const state = this.clients.get(client)
    if (state == null) return 'new'
    // a client's declared floor (ids at or below it that have not executed never will) counts as executed
    const floor = floorHint < requestId ? Math.max(state.floor, floorHint) : state.floor
    if (requestId <= floor || state.above.includes(requestId)) return 'done'
    if (requestId > floor + clientWindow) return 'ahead'
    return 'new'
  }

  record (client: string, requestId: number, result: string, seq: number, floorHint = 0): void {
    let state = this.clients.get(client)
    if (state == null) {
      // a fresh client starts at floor 0; one that comes back after being forgotten (an id past the
      // window) restarts its window at that id: lower ids count as done (at most once; a lower id still
      // in flight from before its silence gets no answer rather than a second execution)
      state = { floor: requestId > clientWindow ? requestId - 1 : 0, above: [], recent: [], lastSeq: seq }
      this.clients.set(client, state)
    }
    if (floorHint > state.floor && floorHint < requestId) {
      // the client gave up on every id up to floorHint: those not executed never will (Raft clients)
      state.floor = floorHint
      state.above = state.above.filter(id => id > floorHint)
    }
    state.lastSeq = Math.max(state.lastSeq, seq)
    state.above.push(requestId)
    state.above.sort((a, b) => a - b)
    while (state.above[0] === state.floor + 1) { state.floor++; state.above.shift() }
    state.recent.push([requestId, result, seq])
    if (state.recent.length > recentMax) state.recent.shift()
  }

  /** The result of an executed request, if still remembered. */
  result (client: string, requestId: number): { result: string, seq: number } | undefined {
    const hit = this.clients.get(client)?.recent.find(([id]) => id === requestId)
    return hit == null ? undefined : { result: hit[1], seq: hit[2] }
  }

  /**
   * Forget every client with nothing executed in the last `horizonSeqs` sequence numbers, as of `seq`.
   * Deterministic (a function of the executed log only): every replica runs it at the same checkpoint
   * sequence numbers, before the state digest, so the table stops growing with every client that ever
   * lived (a node's client id changes with each incarnation). Returns how many were forgotten.
   */
  expire (seq: number, horizonSeqs: number): number {
    let forgotten = 0
    for (const [client, state] of this.clients) {
      if (state.lastSeq <= seq - horizonSeqs) { this.clients.delete(client); forgotten++ }
    }
    return forgotten
  }

  get size (): number {
    return this.clients.size
  }

  snapshot (): ClientTableSnapshot {
    return [...this.clients.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([client, s]) => [client, s.floor, [...s.above], s.recent.map(r => [...r] as [number, string, number]), s.lastSeq])
  }

  restore (snapshot: ClientTableSnapshot): void {
    this.clients.clear()
    for (const [client, floor, above, recent, lastSeq] of snapshot) {
      const newest = recent.reduce((max, r) => Math.max(max, r[2]), 0)
      this.clients.set(client, { floor, above: [...above], recent: recent.map(r => [...r] as [number, string, number]), lastSeq: lastSeq ?? newest })
    }
  }
}
