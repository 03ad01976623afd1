/**
 * The deterministic Raft simulator: pure `RaftNode`s on a simulated network (drops, duplicates, random
 * delays — so reordering —, partitions), crashes and restarts from what each node persisted (torn:
 * only a prefix of one step's records), membership changes and leadership transfers under client load.
 * One seed = one run, replayable exactly. Invariants (invariants.ts) are checked after every event;
 * at the end, after every fault healed, every client operation must have finished and every live
 * member must have reached the highest commit index.
 */
import { RaftNode } from '../../src/core/raft/node.js'
import type { ClientRequest, Effect, Membership, MembershipChange, Message, NodeId, PersistRecord, RaftConfig } from '../../src/core/raft/types.js'
import { SeededRandom } from '../../src/core/random.js'
import { EventQueue } from '../sim/queue.js'
import { KeyValueApp } from '../sim/app.js'
import { Invariants } from './invariants.js'
import type { Violation } from './invariants.js'

export type Fault =
  | { atMs: number, kind: 'crash' | 'torn-crash' | 'restart', node: NodeId }
  | { atMs: number, kind: 'crash-leader' | 'torn-crash-leader' | 'isolate-leader' | 'heal' | 'transfer' | 'restart-all' }
  | { atMs: number, kind: 'partition', groups: NodeId[][] }
  /** Ensure a membership change (retried on the current leader until applied or the run ends). */
  | { atMs: number, kind: 'change', change: MembershipChange }

export interface RaftScenario {
  name: string
  seed: number
  voters: number
  /** Faults and client operations happen in [0, durationMs); then everything heals and restarts. */
  durationMs: number
  settleMs: number
  clients: number
  opsPerClient: number
  readRatio: number
  keys: number
  network: { dropRate: number, duplicateRate: number, delayMinMs: number, delayMaxMs: number }
  tickMs: number
  config: Omit<RaftConfig, 'id'>
  faults: Fault[]
  /**
   * Deliberately broken behaviour, to show the invariants are not vacuous: 'stale-reads' = every node
   * answers reads from its local state at once (no ReadIndex); 'votes-for-anyone' = voters see every
   * candidate's log as up to date (the §5.4.1 election restriction gone).
   */
  broken?: 'stale-reads' | 'votes-for-anyone'
}

export interface RunResult {
  scenario: RaftScenario
  ok: boolean
  violations: Violation[]
  trace: string[]
  stats: { operationsDone: number, operationsTotal: number, readsDone: number, maxTerm: number, maxCommit: number, crashes: number, restarts: number, snapshotsInstalled: number, leaders: number, dropped: number, membershipChanges: number, stepDowns: number, readsFailed: number }
}

type Event =
  | { kind: 'tick', node: NodeId }
  | { kind: 'deliver', message: Message }
  | { kind: 'client', client: number, token: number }
  | { kind: 'fault', fault: Fault }
  | { kind: 'change', change: MembershipChange }

interface Operation {
  read: boolean
  key: string
  request?: ClientRequest
  readKey?: string
  /** First attempt: a read must see every write acknowledged before this. */
  startMs: number
  /** Highest log index of a write to `key` acknowledged before the read began. */
  requiredIndex: number
  target: NodeId
  attempt: number
}

interface Client {
  id: string
  done: number
  nextRequestId: number
  op: Operation | null
  /** Invalidates scheduled retries of earlier attempts. */
  token: number
}

const clientRetryMs = 300

export function runRaftScenario (scenario: RaftScenario, options: { trace?: boolean } = {}): RunResult {
  return new Simulation(scenario, options.trace ?? false).run()
}

class Simulation {
  private readonly random: SeededRandom
  private readonly queue = new EventQueue<Event>()
  private now = 0
  private readonly nodes = new Map<NodeId, RaftNode>()
  private readonly apps = new Map<NodeId, KeyValueApp>()
  private readonly records = new Map<NodeId, PersistRecord[]>()
  private readonly genesis = new Map<NodeId, Membership | null>()
  private readonly down = new Set<NodeId>()
  private readonly torn = new Set<NodeId>()
  private incarnation = 0
  private group: Map<NodeId, number> | null = null
  private readonly invariants: Invariants
  private readonly clients: Client[] = []
  private leaderGuess: NodeId | null = null
  /** "key" → log index of each acknowledged write, with the time of its acknowledgement. */
  private readonly acks = new Map<string, Array<{ index: number, atMs: number }>>()
  /** value written → index where it was applied. */
  private readonly valueIndex = new Map<string, number>()
  private readonly trace: string[] = []
  private readonly lastRole = new Map<NodeId, string>()
  private readonly stats: RunResult['stats'] = { operationsDone: 0, operationsTotal: 0, readsDone: 0, maxTerm: 0, maxCommit: 0, crashes: 0, restarts: 0, snapshotsInstalled: 0, leaders: 0, dropped: 0, membershipChanges: 0, stepDowns: 0, readsFailed: 0 }

  constructor (private readonly scenario: RaftScenario, private readonly fullTrace: boolean) {
    this.random = new SeededRandom(scenario.seed)
    this.invariants = new Invariants(() => this.now)
  }

  run (): RunResult {
    const s = this.scenario
    const voters = Array.from({ length: s.voters }, (_, i) => String(i + 1))
    for (const id of voters) this.create(id, { voters, learners: [] })
    for (const fault of s.faults) this.queue.push(fault.atMs, { kind: 'fault', fault })
    this.queue.push(s.durationMs, { kind: 'fault', fault: { atMs: s.durationMs, kind: 'heal' } })
    this.queue.push(s.durationMs, { kind: 'fault', fault: { atMs: s.durationMs, kind: 'restart-all' } })
    for (let c = 0; c < s.clients; c++) {
      this.clients.push({ id: `c${c + 1}`, done: 0, nextRequestId: 1, op: null, token: 0 })
      this.queue.push(5 + c, { kind: 'client', client: c, token: 0 })
    }
    this.stats.operationsTotal = s.clients * s.opsPerClient
    const end = s.durationMs + s.settleMs
    for (;;) {
      const next = this.queue.pop()
      if (next === undefined || next.timeMs > end) break
      this.now = next.timeMs
      try {
        this.handle(next.item)
      } catch (error) {
        this.invariants.fail({ invariant: 'crash', detail: (error as Error).stack ?? String(error) })
      }
      if (this.invariants.violations.length > 0) break
    }
    if (this.invariants.violations.length === 0) this.checkLiveness()
    return { scenario: s, ok: this.invariants.violations.length === 0, violations: this.invariants.violations, trace: this.trace, stats: this.stats }
  }

  private log (line: string): void {
    this.trace.push(`${this.now}ms ${line}`)
    if (!this.fullTrace && this.trace.length > 400) this.trace.splice(0, 200)
  }

  private create (id: NodeId, genesis: Membership | null): void {
    const app = new KeyValueApp()
    this.apps.set(id, app)
    this.genesis.set(id, genesis)
    this.records.set(id, [])
    this.nodes.set(id, new RaftNode({ ...this.scenario.config, id }, app, new SeededRandom(this.scenario.seed * 7919 + this.incarnation++), genesis))
    this.queue.push(this.now + 1 + Math.floor(this.random.next() * this.scenario.tickMs), { kind: 'tick', node: id })
  }

  private live (): NodeId[] {
    return [...this.nodes.keys()].filter(id => !this.down.has(id))
  }

  private currentLeader (): NodeId | null {
    let best: { id: NodeId, term: number } | null = null
    for (const id of this.live()) {
      const status = (this.nodes.get(id) as RaftNode).status()
      if (status.role === 'leader' && (best == null || status.term > best.term)) best = { id, term: status.term }
    }
    return best?.id ?? null
  }

  // ————————————————————————————————————————— events

  private handle (event: Event): void {
    switch (event.kind) {
      case 'tick':
        if (!this.nodes.has(event.node)) return
        this.queue.push(this.now + this.scenario.tickMs, event)
        if (!this.down.has(event.node)) this.step(event.node, { type: 'tick' })
        return
      case 'deliver': {
        const m = event.message
        if (this.down.has(m.to) || !this.nodes.has(m.to) || !this.connected(m.from, m.to)) { this.stats.dropped++; return }
        let message = m
        if (this.scenario.broken === 'votes-for-anyone' && m.type === 'vote') message = { ...m, lastIndex: 1e9, lastTerm: 1e9 }
        this.step(m.to, { type: 'message', message })
        return
      }
      case 'client': {
        const client = this.clients[event.client] as Client
        if (event.token !== client.token) return
        this.clientAct(event.client)
        return
      }
      case 'fault': this.fault(event.fault); return
      case 'change': this.tryChange(event.change); return
    }
  }

  private step (id: NodeId, input: Parameters<RaftNode['step']>[0]): void {
    const node = this.nodes.get(id) as RaftNode
    let effects: Effect[]
    if (this.scenario.broken === 'stale-reads' && input.type === 'read') {
      effects = [{ type: 'read-ready', readKey: input.readKey, index: node.status().commit }] // served locally, no ReadIndex: may be stale
    } else {
      effects = node.step(input)
    }
    if (this.torn.has(id)) {
      // crash in the middle of performing this step: a prefix of its records reached the disk, nothing was sent
      this.torn.delete(id)
      const persists = effects.filter(e => e.type === 'persist')
      const kept = Math.floor(this.random.next() * (persists.length + 1))
      for (const e of persists.slice(0, kept)) if (e.type === 'persist') this.records.get(id)?.push(e.record)
      this.log(`${id} torn crash: ${kept}/${persists.length} records of its last step kept`)
      this.crash(id)
      return
    }
    this.perform(id, node, effects)
  }

  private perform (id: NodeId, node: RaftNode, effects: Effect[]): void {
    const net = this.scenario.network
    for (const effect of effects) {
      switch (effect.type) {
        case 'persist': this.records.get(id)?.push(effect.record); break
        case 'send': {
          const m = effect.message
          if (!this.connected(m.from, m.to) || this.random.next() < net.dropRate) { this.stats.dropped++; break }
          const copies = this.random.next() < net.duplicateRate ? 2 : 1
          for (let k = 0; k < copies; k++) {
            const delay = net.delayMinMs + Math.floor(this.random.next() * (net.delayMaxMs - net.delayMinMs + 1))
            this.queue.push(this.now + delay, { kind: 'deliver', message: m })
          }
          break
        }
        case 'role':
          this.stats.maxTerm = Math.max(this.stats.maxTerm, effect.term)
          if (effect.role === 'leader') {
            this.stats.leaders++
            this.leaderGuess = id
            this.invariants.leader(id, effect.term)
            this.invariants.newLeader(id, effect.term, node.logView())
            this.log(`${id} leader of term ${effect.term}`)
          } else {
            if (this.lastRole.get(id) === 'leader') { this.stats.stepDowns++; this.log(`${id} stepped down (${effect.role} term ${effect.term})`) }
            if (this.fullTrace) this.log(`${id} ${effect.role} term ${effect.term}`)
          }
          this.lastRole.set(id, effect.role)
          break
        case 'committed':
          this.invariants.applied(id, effect.entry)
          this.stats.maxCommit = Math.max(this.stats.maxCommit, effect.entry.index)
          break
        case 'reply': this.onReply(id, effect.request, effect.index); break
        case 'read-ready': this.onReadReady(id, effect.readKey); break
        case 'read-failed': this.stats.readsFailed++; this.onRetryable(effect.readKey, null); break
        case 'refused': for (const r of effect.requests) this.onRetryable(`${r.client}#${r.requestId}`, effect.leader ?? null); break
        case 'snapshot-installed': this.stats.snapshotsInstalled++; this.log(`${id} installed a snapshot at ${effect.index}`); break
        case 'membership': if (this.fullTrace) this.log(`${id} membership voters=${effect.membership.voters.join(',')} learners=${effect.membership.learners.join(',')} at ${effect.index}`); break
        default: break
      }
    }
    this.invariants.log(id, node.logView())
  }

  private connected (a: NodeId, b: NodeId): boolean {
    return this.group == null || (this.group.get(a) ?? -1) === (this.group.get(b) ?? -1)
  }

  // ————————————————————————————————————————— faults

  private crash (id: NodeId): void {
    if (this.down.has(id) || !this.nodes.has(id)) return
    this.down.add(id)
    this.stats.crashes++
    this.log(`${id} crashed`)
  }

  private restart (id: NodeId): void {
    if (!this.down.has(id)) return
    const app = new KeyValueApp()
    this.apps.set(id, app)
    const records = this.records.get(id) as PersistRecord[]
    this.nodes.set(id, RaftNode.restore({ ...this.scenario.config, id }, app, new SeededRandom(this.scenario.seed * 7919 + this.incarnation++), this.genesis.get(id) ?? null, records))
    this.down.delete(id)
    this.stats.restarts++
    this.log(`${id} restarted from ${records.length} records (commit ${(this.nodes.get(id) as RaftNode).status().commit})`)
  }

  private fault (fault: Fault): void {
    if (this.now >= this.scenario.durationMs && fault.kind !== 'heal' && fault.kind !== 'restart-all') return
    const leader = this.currentLeader()
    switch (fault.kind) {
      case 'crash': this.crash(fault.node); return
      case 'torn-crash': if (!this.down.has(fault.node)) this.torn.add(fault.node); return
      case 'restart': this.restart(fault.node); return
      case 'crash-leader': if (leader != null) this.crash(leader); return
      case 'torn-crash-leader': if (leader != null) this.torn.add(leader); return
      case 'restart-all': for (const id of [...this.down]) this.restart(id); this.torn.clear(); return
      case 'heal': this.group = null; this.log('healed'); return
      case 'partition': {
        const group = new Map<NodeId, number>()
        fault.groups.forEach((members, index) => { for (const id of members) group.set(id, index) })
        this.group = group
        this.log(`partition ${fault.groups.map(g => `{${g.join(',')}}`).join(' ')}`)
        return
      }
      case 'isolate-leader': {
        if (leader == null) return
        this.group = new Map([...this.nodes.keys()].map(id => [id, id === leader ? 1 : 0]))
        this.log(`isolated leader ${leader}`)
        return
      }
      case 'transfer': {
        if (leader == null) return
        const voters = (this.nodes.get(leader) as RaftNode).status().membership.voters.filter(id => id !== leader && !this.down.has(id))
        const to = this.random.sample(voters, 1)[0]
        if (to == null) return
        this.log(`transfer ${leader} → ${to}`)
        this.step(leader, { type: 'transfer', to })
        return
      }
      case 'change': this.tryChange(fault.change); return
    }
  }

  /** Keep proposing a membership change on the current leader until it is applied there. */
  private tryChange (change: MembershipChange): void {
    if (this.now >= this.scenario.durationMs + this.scenario.settleMs / 2) return
    const leader = this.currentLeader()
    const retry = (): void => { this.queue.push(this.now + 100, { kind: 'change', change }) }
    if (leader == null) { retry(); return }
    const node = this.nodes.get(leader) as RaftNode
    const membership = node.status().membership
    const members = [...membership.voters, ...membership.learners]
    const done = change.type === 'add-learner' ? members.includes(change.node) : change.type === 'promote' ? membership.voters.includes(change.node) : !members.includes(change.node)
    if (done && node.status().applied >= node.pendingMembershipIndex) { this.stats.membershipChanges++; this.log(`membership change ${change.type} ${change.node} applied`); return }
    if (change.type === 'add-learner' && !this.nodes.has(change.node)) this.create(change.node, null)
    if (!done) this.step(leader, { type: 'change', change })
    retry()
  }

  // ————————————————————————————————————————— clients

  private target (hint: NodeId | null): NodeId {
    const live = this.live()
    if (hint != null && live.includes(hint)) return hint
    if (this.leaderGuess != null && live.includes(this.leaderGuess) && this.random.next() < 0.7) return this.leaderGuess
    return this.random.sample(live.length > 0 ? live : [...this.nodes.keys()], 1)[0] as NodeId
  }

  private clientAct (index: number): void {
    const client = this.clients[index] as Client
    const s = this.scenario
    if (client.op == null) {
      if (client.done >= s.opsPerClient) return
      const read = this.random.next() < s.readRatio
      const key = `k${Math.floor(this.random.next() * s.keys)}`
      const op: Operation = { read, key, startMs: this.now, requiredIndex: 0, target: this.target(null), attempt: 0 }
      if (read) op.requiredIndex = Math.max(0, ...(this.acks.get(key) ?? []).map(a => a.index))
      else op.request = { client: client.id, requestId: client.nextRequestId++, operation: `put ${key} ${client.id}.${client.done}` }
      client.op = op
    } else {
      client.op.attempt++
      client.op.target = this.target(client.op.target === this.leaderGuess ? null : this.leaderGuess)
    }
    const op = client.op
    client.token++
    this.queue.push(this.now + clientRetryMs, { kind: 'client', client: index, token: client.token })
    if (this.down.has(op.target)) return
    if (op.read) {
      op.readKey = `${client.id}:${client.done}:${op.attempt}`
      this.step(op.target, { type: 'read', readKey: op.readKey })
    } else {
      this.step(op.target, { type: 'propose', requests: [op.request as ClientRequest] })
    }
  }

  private finish (client: Client, index: number): void {
    client.op = null
    client.done++
    client.token++
    this.stats.operationsDone++
    this.queue.push(this.now + 1 + Math.floor(this.random.next() * 20), { kind: 'client', client: index, token: client.token })
  }

  private onReply (id: NodeId, request: ClientRequest, index: number): void {
    const value = request.operation.split(' ')[2] as string
    if (!this.valueIndex.has(value)) this.valueIndex.set(value, index)
    const clientIndex = this.clients.findIndex(c => c.id === request.client)
    const client = this.clients[clientIndex]
    const op = client?.op
    if (client == null || op == null || op.read || op.request?.requestId !== request.requestId || op.target !== id) return
    const key = op.key
    const list = this.acks.get(key) ?? []
    list.push({ index, atMs: this.now })
    this.acks.set(key, list)
    this.finish(client, clientIndex)
  }

  private onReadReady (id: NodeId, readKey: string): void {
    const clientIndex = this.clients.findIndex(c => c.op?.readKey === readKey)
    const client = this.clients[clientIndex]
    const op = client?.op
    if (client == null || op == null || op.target !== id) return
    const entries = JSON.parse((this.apps.get(id) as KeyValueApp).snapshot()) as Array<[string, string]>
    const value = entries.find(([k]) => k === op.key)?.[1] ?? 'nil'
    const index = value === 'nil' ? 0 : this.valueIndex.get(value)
    if (index === undefined || index < op.requiredIndex) {
      this.invariants.fail({ invariant: 'linearizable-read', node: id, detail: `read ${readKey} of ${op.key} returned ${value} (index ${index ?? '?'}), but a write at index ${op.requiredIndex} was acknowledged before the read began` })
      return
    }
    this.stats.readsDone++
    this.finish(client, clientIndex)
  }

  private onRetryable (key: string, leader: NodeId | null): void {
    const clientIndex = this.clients.findIndex(c => c.op != null && (c.op.readKey === key || `${c.id}#${c.op.request?.requestId ?? -1}` === key))
    const client = this.clients[clientIndex]
    if (client == null) return
    if (leader != null) this.leaderGuess = leader
    client.token++
    this.queue.push(this.now + 20, { kind: 'client', client: clientIndex, token: client.token })
  }

  // ————————————————————————————————————————— the end

  private checkLiveness (): void {
    const unfinished = this.clients.filter(c => c.done < this.scenario.opsPerClient)
    if (unfinished.length > 0) {
      this.invariants.fail({ invariant: 'liveness', detail: `clients ${unfinished.map(c => `${c.id} (${c.done}/${this.scenario.opsPerClient})`).join(', ')} did not finish within ${this.scenario.settleMs} ms after healing` })
      return
    }
    const statuses = this.live().map(id => (this.nodes.get(id) as RaftNode).status())
    const newest = statuses.reduce((a, b) => (b.applied > a.applied ? b : a))
    const members = [...newest.membership.voters, ...newest.membership.learners]
    const maxCommit = Math.max(...statuses.map(s => s.commit))
    for (const status of statuses) {
      if (!members.includes(status.id)) continue
      if (status.commit !== maxCommit || status.applied !== status.commit) {
        this.invariants.fail({ invariant: 'liveness', node: status.id, detail: `commit ${status.commit} applied ${status.applied}, highest commit ${maxCommit}` })
      }
    }
  }
}
