/**
 * Exactly-once bookkeeping per client, part of the replicated state (it is in every snapshot and
 * state digest): a request (client, id) executes at most once, in whatever order the log puts ids.
 * Per client: `floor` = every id ≤ floor has executed; `above` = executed ids beyond the floor;
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
}

export type ClientTableSnapshot = Array<[string, number, number[], Array<[number, string, number]>]>

export class ClientTable {
  private readonly clients = new Map<string, ClientState>()

  /** 'new' (may execute), 'done' (executed before), or 'ahead' (beyond the client window). */
  classify (client: string, requestId: number): 'new' | 'done' | 'ahead' {
    const state = this.clients.get(client)
    const floor = state?.floor ?? 0
    if (requestId <= floor || (state?.above.includes(requestId) ?? false)) return 'done'
    if (requestId > floor + clientWindow) return 'ahead'
    return 'new'
  }

  record (client: string, requestId: number, result: string, seq: number): void {
    let state = this.clients.get(client)
    if (state == null) { state = { floor: 0, above: [], recent: [] }; this.clients.set(client, state) }
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

  snapshot (): ClientTableSnapshot {
    return [...this.clients.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([client, s]) => [client, s.floor, [...s.above], s.recent.map(r => [...r] as [number, string, number])])
  }

  restore (snapshot: ClientTableSnapshot): void {
    this.clients.clear()
    for (const [client, floor, above, recent] of snapshot) this.clients.set(client, { floor, above: [...above], recent: recent.map(r => [...r] as [number, string, number]) })
  }
}
