/**
 * The replicated state a Raft node applies committed entries to: the application (the same
 * `Application` interface pBFT drives, so one app runs on either engine) and the exactly-once client
 * table shared with pBFT (src/core/pbft/client-table.ts). Both are in every snapshot.
 */
import { ClientTable } from '../pbft/client-table.js'
import type { ClientTableSnapshot } from '../pbft/client-table.js'
import { canonicalJson } from '../pbft/types.js'
import type { Application, ClientRequest, Entry } from './types.js'
import { limits } from './types.js'

export interface Applied {
  request: ClientRequest
  /** The index the request was applied at (an earlier one for a duplicate answered from the table). */
  index: number
  result: string
}

export class StateMachine {
  private readonly clients = new ClientTable()

  constructor (private readonly app: Application, private readonly horizonEntries: number) {}

  /** Apply one committed entry; the results of its requests (duplicates answered from the table). */
  apply (entry: Entry): Applied[] {
    const out: Applied[] = []
    for (const request of entry.requests ?? []) {
      const state = this.clients.classify(request.client, request.requestId, request.floor)
      if (state === 'ahead') continue // beyond the client window: skipped on every node alike
      if (state === 'done') {
        const done = this.clients.result(request.client, request.requestId)
        if (done != null) out.push({ request, index: done.seq, result: done.result })
        continue
      }
      const result = this.app.apply(request, entry.index)
      this.clients.record(request.client, request.requestId, result, entry.index, request.floor)
      out.push({ request, index: entry.index, result })
    }
    if (entry.index % limits.clientExpireEvery === 0) this.clients.expire(entry.index, this.horizonEntries)
    return out
  }

  /** Would this request be refused at apply (its client ran too far ahead)? */
  tooFarAhead (request: ClientRequest): boolean {
    return this.clients.classify(request.client, request.requestId, request.floor) === 'ahead'
  }

  /** The voters in force (after a membership entry or a snapshot), passed on to the application. */
  setVoters (voters: readonly string[]): void {
    if (voters.length > 0) this.app.setVoters?.(voters)
  }

  snapshot (): string {
    return canonicalJson({ app: this.app.snapshot(), clients: this.clients.snapshot() })
  }

  restore (data: string): void {
    if (data === '') { this.app.restore(''); this.clients.restore([]); return }
    const parsed = JSON.parse(data) as { app: string, clients: ClientTableSnapshot }
    this.app.restore(parsed.app)
    this.clients.restore(parsed.clients)
  }
}
