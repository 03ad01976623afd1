/**
 * The simulated clients. Each submits requests with increasing ids (up to `pipeline` outstanding),
 * first to one replica (or all, per the submit policy), then re-sends a request to every replica each
 * `retransmitMs` until it is done: f+1 distinct replicas replied with the same result for
 * (client, requestId). The simulator delivers what clients send; clients only decide what and when.
 * Under 'all-no-forward' every copy (first send and re-sends) says `forward: false`: the client reached
 * every validator itself, so backups forward it to the primary only when it stays unordered.
 */
import { faultsTolerated, primaryOf } from '../../src/core/pbft/types.js'
import type { ClientRequest, ReplicaId } from '../../src/core/pbft/types.js'
import type { SeededRandom } from '../../src/core/random.js'
import type { ClientOptions } from './scenario.js'

export interface ClientHooks {
  /** Send `request` to replica `to` now (the simulator adds delay and loss); `forward` as in the core's request input. */
  send: (to: ReplicaId, request: ClientRequest, forward: boolean) => void
  /** Call `onTimer(client, token)` at `atMs`. */
  schedule: (atMs: number, client: number, token: number) => void
}

export interface RequestRecord {
  request: ClientRequest
  submittedAtMs: number
  doneAtMs?: number
  result?: string
  /** replica → result it replied */
  replies: Map<ReplicaId, string>
}

interface Client {
  id: string
  index: number
  nextRequestId: number
  outstanding: Map<number, RequestRecord>
  /** Highest view seen in a reply: where 'primary' submissions go. */
  knownView: number
}

/** Token for "issue new requests" timers; other tokens are request ids (retransmission timers). */
const issueToken = 0
const keys = ['a', 'b', 'c', 'd']

export class ClientPool {
  readonly records: RequestRecord[] = []
  private readonly clients: Client[]
  private readonly byId = new Map<string, Client>()
  private readonly f: number

  constructor (private readonly options: ClientOptions, private readonly n: number, private readonly random: SeededRandom, private readonly hooks: ClientHooks) {
    this.f = faultsTolerated(n)
    this.clients = Array.from({ length: options.count }, (_, index) => ({
      id: `c${index}`, index, nextRequestId: 1, outstanding: new Map(), knownView: 0
    }))
    for (const client of this.clients) this.byId.set(client.id, client)
  }

  start (): void {
    for (const client of this.clients) this.hooks.schedule(Math.floor(this.random.next() * (this.options.startMsMax + 1)), client.index, issueToken)
  }

  get total (): number {
    return this.options.count * this.options.requestsPerClient
  }

  get doneCount (): number {
    return this.records.filter(r => r.doneAtMs !== undefined).length
  }

  allDone (): boolean {
    return this.records.length === this.total && this.records.every(r => r.doneAtMs !== undefined)
  }

  onTimer (index: number, token: number, nowMs: number): void {
    const client = this.clients[index]
    if (client === undefined) return
    if (token === issueToken) {
      this.issue(client, nowMs)
      return
    }
    const record = client.outstanding.get(token)
    if (record === undefined) return // done meanwhile
    for (let to = 0; to < this.n; to++) this.hooks.send(to, record.request, this.forward)
    this.hooks.schedule(nowMs + this.options.retransmitMs, client.index, token)
  }

  /** A reply from replica `from`. Returns the request when this reply made it done. */
  onReply (from: ReplicaId, request: ClientRequest, view: number, result: string, nowMs: number): RequestRecord | undefined {
    const client = this.byId.get(request.client)
    if (client === undefined) return undefined // a Byzantine replica's own client
    const record = client.outstanding.get(request.requestId)
    if (record === undefined) return undefined // done already, or never asked
    if (Number.isSafeInteger(view) && view > client.knownView) client.knownView = view
    record.replies.set(from, result)
    let matching = 0
    for (const other of record.replies.values()) if (other === result) matching++
    if (matching < this.f + 1) return undefined
    record.doneAtMs = nowMs
    record.result = result
    client.outstanding.delete(request.requestId)
    this.hooks.schedule(nowMs + Math.floor(this.random.next() * (this.options.thinkMsMax + 1)), client.index, issueToken)
    return record
  }

  /** Requests not done by max(submission, healAtMs) + boundMs. */
  overdue (nowMs: number, healAtMs: number, boundMs: number): RequestRecord[] {
    const late: RequestRecord[] = []
    for (const client of this.clients) {
      for (const record of client.outstanding.values()) {
        if (nowMs > Math.max(record.submittedAtMs, healAtMs) + boundMs) late.push(record)
      }
    }
    return late
  }

  private issue (client: Client, nowMs: number): void {
    while (client.outstanding.size < this.options.pipeline && client.nextRequestId <= this.options.requestsPerClient) {
      const request: ClientRequest = { client: client.id, requestId: client.nextRequestId++, operation: this.operation(client) }
      const record: RequestRecord = { request, submittedAtMs: nowMs, replies: new Map() }
      client.outstanding.set(request.requestId, record)
      this.records.push(record)
      for (const to of this.firstTargets(client)) this.hooks.send(to, request, this.forward)
      this.hooks.schedule(nowMs + this.options.retransmitMs, client.index, request.requestId)
    }
  }

  /** Whether a backup that gets this client's request passes it on to the primary at once. */
  private get forward (): boolean {
    return this.options.submitPolicy !== 'all-no-forward'
  }

  private firstTargets (client: Client): ReplicaId[] {
    switch (this.options.submitPolicy) {
      case 'primary': return [primaryOf(client.knownView, this.n)]
      case 'random': return [Math.floor(this.random.next() * this.n)]
      case 'all':
      case 'all-no-forward': return Array.from({ length: this.n }, (_, id) => id)
    }
  }

  /** Few keys, so requests conflict and the order of execution shows in the results. */
  private operation (client: Client): string {
    const key = keys[Math.floor(this.random.next() * keys.length)] as string
    const roll = this.random.next()
    if (roll < 0.4) return `put ${key} ${client.id}.${client.nextRequestId - 1}`
    if (roll < 0.7) return `add ${key} ${1 + Math.floor(this.random.next() * 9)}`
    return `get ${key}`
  }
}
