/**
 * The deterministic simulator (TigerBeetle's VOPR / packet simulator, in miniature): a seeded
 * discrete-event loop that drives n replicas, the network between them, the clients and the fault
 * schedule of a Scenario. Everything random comes from generators seeded by the scenario's seed and
 * events at equal times run in insertion order, so a seed replays exactly.
 *
 * The environment does what the runtime will do: performs each step's effects in order (persist
 * appends to the replica's durable log before any later send leaves), serialises messages (JSON) so
 * no object is shared between replicas, verifies every message's signature before delivery (dropping
 * and counting failures), and delivers ticks to every live replica every `tickMs`.
 */
import { signable } from '../../src/core/pbft/types.js'
import type { ClientRequest, Crypto, Effect, Input, Message, PersistRecord, ReplicaConfig, ReplicaId } from '../../src/core/pbft/types.js'
import { SeededRandom } from '../../src/core/random.js'
import { KeyValueApp } from './app.js'
import { ByzantineReplica, Collusion } from './byzantine.js'
import type { ByzantineContext } from './byzantine.js'
import { ClientPool } from './clients.js'
import { Keyring } from './crypto.js'
import { InvariantChecker } from './invariants.js'
import type { Violation } from './invariants.js'
import { pbftFactory } from './node.js'
import type { ReplicaFactory, ReplicaNode } from './node.js'
import { EventQueue } from './queue.js'
import type { BehaviourName, FaultEvent, Scenario } from './scenario.js'
import { describeEffect, describeMessage } from './trace.js'

/** Default bound on processed events: a run that needs more is a message storm (or a stuck timer loop). */
const eventsMaxDefault = 3_000_000
/** Distinct message texts whose signature check is remembered (drop policy: forget all). */
const verifiedCacheMax = 20_000
/** Lines of trace kept for a failure report. */
const traceTailMaxDefault = 300

type SimEvent =
  /** `message` is the receivers' copy: parsed from the sender's wire text and deeply frozen (shared by all receivers). */
  | { kind: 'deliver', sender: ReplicaId, to: ReplicaId, message: Message, valid: boolean }
  | { kind: 'request', to: ReplicaId, request: ClientRequest, forward: boolean }
  | { kind: 'reply', from: ReplicaId, request: ClientRequest, view: number, result: string }
  | { kind: 'tick' }
  | { kind: 'client', client: number, token: number }
  | { kind: 'fault', fault: FaultEvent }
  | { kind: 'heal' }

interface Slot {
  id: ReplicaId
  config: ReplicaConfig
  crypto: Crypto
  behaviours: BehaviourName[] | undefined
  byzantine: ByzantineContext | undefined
  node: ReplicaNode | undefined
  app: KeyValueApp
  /**
   * The durable log: every persisted record in order, serialised, or the record itself when it only holds
   * a frozen received message (nothing can change it). Survives crashes.
   */
  log: Array<string | PersistRecord>
  /** Crash in the middle of the next step's effects. */
  tornCrash: boolean
}

export interface RunStats {
  events: number
  steps: number
  messagesSent: number
  messagesDelivered: number
  messageBytes: number
  lostToDrops: number
  lostToPartitions: number
  lostToCrashes: number
  /** Client requests lost on their way to a replica (before heal). */
  clientRequestsLost: number
  duplicated: number
  badSignatureDrops: number
  crashes: number
  restarts: number
  stateTransfers: number
  maxView: number
  maxExecuted: number
  requestsTotal: number
  requestsDone: number
  latencyMaxMs: number
  /** Longest a request took after max(its submission, heal). */
  recoveryMaxMs: number
  /** Each replica's view at the end (null: down), and whether it was active in it. */
  finalViews: Array<{ view: number, active: boolean } | null>
  /** When the last client request was done (simulated ms). */
  requestsDoneAtMs: number
  /** From the quiet phase's start (no client traffic) until every correct replica reached the highest executed sequence. */
  idleCatchUpMs: number
  simulatedMs: number
  /** Send effects of honest replicas (one per effect, whatever its recipients), by message type. */
  sentByType: Record<string, number>
  /** Most requests in one batch an honest replica committed. */
  largestBatch: number
  /** Drop effects of honest replicas, by reason. */
  dropReasons: Record<string, number>
  /** What the Byzantine decorators did. */
  byzantine: Record<string, number>
}

export interface RunResult {
  scenario: Scenario
  ok: boolean
  violations: Violation[]
  stats: RunStats
  /** The last events before the end (all of them with `traceAll`). */
  trace: string[]
}

export interface RunOptions {
  factory?: ReplicaFactory
  /** Keep every trace line, not only the tail. */
  traceAll?: boolean
  traceTailMax?: number
  eventsMax?: number
}

/** Independent, reproducible generators per concern. */
export function derive (seed: number, salt: number): number {
  let h = (seed ^ Math.imul(salt, 0x9e3779b1)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}

export class Simulation {
  private readonly queue = new EventQueue<SimEvent>()
  private readonly keyring: Keyring
  private readonly random: SeededRandom
  /**
   * Loss, duplication and delay of the catch-up messages (STATUS, FETCH-LOG, LOG-ENTRY) come from their
   * own stream (salt 11), so adding them left every other message's fate in older seeds as it was.
   */
  private readonly catchUpRandom: SeededRandom
  private readonly slots: Slot[]
  private readonly checker: InvariantChecker
  private readonly clients: ClientPool
  private readonly factory: ReplicaFactory
  private readonly collusion = new Collusion()
  private readonly verified = new Map<string, boolean>()
  /** Valid only while one step's effects are performed (the core cannot run, so cannot change it). */
  private lastWire: { message: Message, wire: string } | undefined
  private readonly traceLines: Array<{ atMs: number, text: string | (() => string) }> = []
  private readonly traceTailMax: number
  private readonly eventsMax: number
  private nowMs = 0
  private dropProbability: number
  /** Loss rates of particular message types, on top of `dropProbability`. */
  private readonly dropByType = new Map<string, number>()
  private clientDropProbability: number
  /** Loss rates of client requests to particular replicas, on top of `clientDropProbability`. */
  private readonly clientDropTo = new Map<ReplicaId, number>()
  /** Replica → partition group, or undefined when the network is whole. */
  private groupOf: number[] | undefined
  private healed = false
  /** Fault events not yet happened: the quiet phase starts only after the last one. */
  private faultsPending = 0
  readonly stats: RunStats

  constructor (readonly scenario: Scenario, private readonly options: RunOptions = {}) {
    const { n, seed } = scenario
    this.factory = options.factory ?? pbftFactory
    this.traceTailMax = options.traceTailMax ?? traceTailMaxDefault
    this.eventsMax = options.eventsMax ?? eventsMaxDefault
    this.keyring = new Keyring(n, seed)
    this.random = new SeededRandom(derive(seed, 1))
    this.catchUpRandom = new SeededRandom(derive(seed, 11))
    this.dropProbability = scenario.network.dropProbability
    this.clientDropProbability = scenario.network.clientDropProbability
    const byzantine = new Map(scenario.byzantine.map(b => [b.replica, b.behaviours]))
    this.slots = Array.from({ length: n }, (_, id) => {
      const crypto = this.keyring.cryptoFor(id)
      const behaviours = byzantine.get(id)
      const config: ReplicaConfig = { id, n, ...scenario.replica }
      return {
        id,
        config,
        crypto,
        behaviours,
        byzantine: behaviours === undefined
          ? undefined
          : { id, n, checkpointInterval: config.checkpointInterval, crypto, random: new SeededRandom(derive(seed, 100 + id)), collusion: this.collusion, counters: new Map(), fabricated: { next: 1 } },
        node: undefined,
        app: new KeyValueApp(),
        log: [],
        tornCrash: false
      }
    })
    this.checker = new InvariantChecker(n, id => !byzantine.has(id), this.keyring.cryptoFor(0), scenario.replica.pipelineMax)
    this.clients = new ClientPool(scenario.clients, n, new SeededRandom(derive(seed, 2)), {
      send: (to, request, forward) => this.sendRequest(to, request, forward),
      schedule: (atMs, client, token) => this.queue.push(atMs, { kind: 'client', client, token })
    })
    this.stats = {
      events: 0, steps: 0, messagesSent: 0, messagesDelivered: 0, messageBytes: 0, lostToDrops: 0, lostToPartitions: 0,
      lostToCrashes: 0, clientRequestsLost: 0, duplicated: 0, badSignatureDrops: 0, crashes: 0, restarts: 0, stateTransfers: 0, maxView: 0,
      maxExecuted: 0, requestsTotal: this.clients.total, requestsDone: 0, latencyMaxMs: 0, recoveryMaxMs: 0, idleCatchUpMs: 0, requestsDoneAtMs: 0, finalViews: [], simulatedMs: 0, sentByType: {},
      largestBatch: 0, dropReasons: {}, byzantine: {}
    }
  }

  run (): RunResult {
    const scenario = this.scenario
    for (const slot of this.slots) this.start(slot, undefined)
    this.queue.push(scenario.network.tickMs, { kind: 'tick' })
    for (const fault of scenario.faults) this.queue.push(fault.atMs, { kind: 'fault', fault })
    this.faultsPending = scenario.faults.length
    this.queue.push(scenario.healAtMs, { kind: 'heal' })
    this.clients.start()
    const endMs = scenario.healAtMs + 4 * scenario.livenessBoundMs
    const idleBoundMs = scenario.idleCatchUpBoundMs ?? 1_000 + 30 * scenario.replica.retransmitMs
    let quietFromMs: number | undefined
    for (;;) {
      const next = this.queue.pop()
      if (next === undefined) break
      if (quietFromMs === undefined && next.timeMs > endMs) {
        this.checker.fail('liveness', `run not finished by ${endMs} ms: ${this.clients.doneCount}/${this.clients.total} requests done`)
        break
      }
      this.nowMs = next.timeMs
      this.checker.nowMs = next.timeMs
      this.handle(next.item)
      this.stats.events++
      if (this.checker.failed) break
      if (this.clients.allDone() && this.stats.requestsDoneAtMs === 0) this.stats.requestsDoneAtMs = this.nowMs
      if (this.clients.allDone() && this.healed && this.faultsPending === 0) {
        // the quiet phase: no client traffic from here; correct replicas must catch up on their own
        if (quietFromMs === undefined) { quietFromMs = this.nowMs; this.trace('QUIET: every request done, no more faults; no client traffic from here') }
        const lagging = this.laggingReplicas()
        if (lagging === undefined) { this.stats.idleCatchUpMs = this.nowMs - quietFromMs; break }
        if (this.nowMs - quietFromMs > idleBoundMs) {
          this.checker.fail('idle-catch-up', `${lagging} not at the highest executed sequence ${idleBoundMs} ms after the mesh went quiet`)
          break
        }
      }
      if (this.stats.events >= this.eventsMax) {
        this.checker.fail('event-budget', `${this.stats.events} events processed, ${this.clients.doneCount}/${this.clients.total} requests done`)
        break
      }
    }
    return this.result()
  }

  private result (): RunResult {
    const stats = this.stats
    stats.simulatedMs = this.nowMs
    stats.requestsDone = this.clients.doneCount
    for (const record of this.clients.records) {
      if (record.doneAtMs === undefined) continue
      stats.latencyMaxMs = Math.max(stats.latencyMaxMs, record.doneAtMs - record.submittedAtMs)
      stats.recoveryMaxMs = Math.max(stats.recoveryMaxMs, record.doneAtMs - Math.max(record.submittedAtMs, this.scenario.healAtMs))
    }
    stats.finalViews = this.slots.map(slot => slot.node === undefined ? null : { view: slot.node.status().view, active: slot.node.status().active })
    for (const slot of this.slots) {
      for (const [what, count] of slot.byzantine?.counters ?? []) stats.byzantine[what] = (stats.byzantine[what] ?? 0) + count
      if (slot.node !== undefined) {
        const status = slot.node.status()
        stats.maxView = Math.max(stats.maxView, status.view)
        stats.maxExecuted = Math.max(stats.maxExecuted, status.lastExecuted)
      }
    }
    return { scenario: this.scenario, ok: this.checker.violations.length === 0, violations: [...this.checker.violations], stats, trace: this.formatTrace() }
  }

  // ————————————————————————————————————————— events

  private handle (event: SimEvent): void {
    switch (event.kind) {
      case 'deliver': this.deliver(event); break
      case 'request': {
        const slot = this.slots[event.to] as Slot
        if (slot.node === undefined) { this.stats.lostToCrashes++; return }
        this.trace(() => `${event.request.client}#${event.request.requestId} → ${event.to} request "${event.request.operation}"${event.forward ? '' : ' (no forward)'}`)
        this.step(slot, { type: 'request', request: { ...event.request }, nowMs: this.nowFor(slot.id), forward: event.forward })
        break
      }
      case 'reply': {
        const done = this.clients.onReply(event.from, event.request, event.view, event.result, this.nowMs)
        if (done !== undefined) {
          const latencyMs = this.nowMs - done.submittedAtMs
          this.trace(() => `${done.request.client}#${done.request.requestId} done = "${done.result ?? ''}" (${latencyMs} ms)`)
          this.checker.onAccepted(done.request.client, done.request.requestId, done.result ?? '')
        }
        break
      }
      case 'tick':
        for (const slot of this.slots) if (slot.node !== undefined) this.step(slot, { type: 'tick', nowMs: this.nowFor(slot.id) })
        this.queue.push(this.nowMs + this.scenario.network.tickMs, { kind: 'tick' })
        this.checkLiveness()
        break
      case 'client': this.clients.onTimer(event.client, event.token, this.nowMs); break
      case 'fault': this.faultsPending--; this.fault(event.fault); break
      case 'heal': this.heal(); break
    }
  }

  private deliver (event: Extract<SimEvent, { kind: 'deliver' }>): void {
    const slot = this.slots[event.to] as Slot
    if (slot.node === undefined) { this.stats.lostToCrashes++; return }
    if (!this.reachable(event.sender, event.to)) { this.stats.lostToPartitions++; return }
    const message = event.message
    if (!event.valid) {
      // the environment's job: a signature that does not verify for `from` never reaches the core
      this.stats.badSignatureDrops++
      this.trace(() => `${event.sender}→${event.to} dropped, bad signature (claims from ${String(message.from)}): ${safeDescribe(message)}`)
      return
    }
    this.stats.messagesDelivered++
    if (message.type === 'state') this.stats.stateTransfers++
    this.trace(() => `${event.sender}→${event.to} ${safeDescribe(message)}${event.sender !== message.from ? ` (relayed, from ${message.from})` : ''}`)
    this.step(slot, { type: 'message', message, nowMs: this.nowFor(slot.id) })
  }

  /** Correct replicas behind the highest sequence a correct replica executed, as text; undefined when none. */
  private laggingReplicas (): string | undefined {
    const running = this.slots.filter(s => s.node !== undefined && s.behaviours === undefined)
    const highest = Math.max(0, ...running.map(s => (s.node as ReplicaNode).status().lastExecuted))
    const views = running.map(s => (s.node as ReplicaNode).status().view)
    const inOneView = (slot: Slot): boolean => {
      const status = (slot.node as ReplicaNode).status()
      return status.active && views.every(v => v === status.view)
    }
    const behind = running.filter(s => (s.node as ReplicaNode).status().lastExecuted < highest || (this.scenario.idleCatchUpInView === true && !inOneView(s)))
    if (behind.length === 0) return undefined
    return `${behind.map(s => statusLine(s.node as ReplicaNode)).join(' | ')} (highest ${highest}; all: ${this.slots.map(s => s.node === undefined ? `${s.id}:down` : statusLine(s.node)).join(' | ')})`
  }

  private checkLiveness (): void {
    if (!this.healed) return
    const late = this.clients.overdue(this.nowMs, this.scenario.healAtMs, this.scenario.livenessBoundMs)
    if (late.length === 0) return
    const first = late[0] as (typeof late)[number]
    const statuses = this.slots.map(s => s.node === undefined ? `${s.id}:down` : statusLine(s.node)).join(' | ')
    this.checker.fail('liveness', `${late.length} request(s) not done within ${this.scenario.livenessBoundMs} ms after heal, e.g. ${first.request.client}#${first.request.requestId} submitted at ${first.submittedAtMs} ms, replies from [${[...first.replies.keys()].join(',')}]; replicas: ${statuses}`)
  }

  // ————————————————————————————————————————— replicas

  private nowFor (id: ReplicaId): number {
    return this.nowMs + (this.scenario.clockOffsetMs[id] ?? 0)
  }

  private start (slot: Slot, records: PersistRecord[] | undefined, amnesia = false): void {
    slot.app = new KeyValueApp()
    const nowMs = this.nowFor(slot.id)
    let node: ReplicaNode
    try {
      node = records === undefined
        ? this.factory.create(slot.config, slot.crypto, slot.app, nowMs)
        : this.factory.restore(slot.config, slot.crypto, slot.app, records, nowMs)
    } catch (error) {
      this.checker.fail('exception', `${records === undefined ? 'create' : 'restore'} threw: ${errorText(error)}`, slot.id)
      return
    }
    if (slot.behaviours !== undefined && slot.byzantine !== undefined) node = new ByzantineReplica(node, slot.behaviours, slot.byzantine)
    slot.node = node
    slot.tornCrash = false
    this.checker.onStart(slot.id, node.status(), records ?? [], amnesia)
  }

  private step (slot: Slot, input: Input): void {
    const node = slot.node
    if (node === undefined) return
    this.stats.steps++
    const executedBefore = this.checker.executedBy(slot.id)
    let effects: Effect[]
    try {
      effects = node.step(input)
    } catch (error) {
      this.checker.fail('exception', `step(${input.type}${input.type === 'message' ? ` ${input.message.type}` : ''}) threw: ${errorText(error)}`, slot.id)
      return
    }
    this.lastWire = undefined
    this.checker.beforeEffects(input)
    const crashAt = slot.tornCrash && effects.length > 0 ? Math.floor(this.random.next() * effects.length) : -1
    for (let i = 0; i < effects.length; i++) {
      if (i === crashAt) {
        this.checker.abandonStep()
        this.crash(slot, `torn: after ${i} of ${effects.length} effects`)
        return
      }
      this.perform(slot, effects[i] as Effect, input)
      if (this.checker.failed) return
    }
    this.checker.afterStep(slot.id, input, node.status(), executedBefore, () => slot.app.digest())
  }

  private perform (slot: Slot, effect: Effect, input: Input): void {
    switch (effect.type) {
      case 'persist':
        slot.log.push(this.serialiseRecord(effect.record))
        this.checker.onPersist(slot.id, effect.record)
        return
      case 'send':
        this.trace(() => `  ${slot.id}: ${describeEffect(effect)}`)
        if (slot.behaviours === undefined) this.stats.sentByType[effect.message.type] = (this.stats.sentByType[effect.message.type] ?? 0) + 1
        this.transmit(slot, effect.to, effect.message)
        return
      case 'reply':
        this.checker.onEffect(slot.id, effect, input)
        this.sendReply(slot, effect)
        return
      case 'drop':
        if (slot.behaviours === undefined) this.stats.dropReasons[effect.reason] = (this.stats.dropReasons[effect.reason] ?? 0) + 1
        this.trace(() => `  ${slot.id}: ${describeEffect(effect)}`)
        return
      default:
        if (effect.type === 'committed' && slot.behaviours === undefined) this.stats.largestBatch = Math.max(this.stats.largestBatch, effect.batch.length)
        this.checker.onEffect(slot.id, effect, input)
        this.trace(() => `  ${slot.id}: ${describeEffect(effect)}`)
    }
  }

  // ————————————————————————————————————————— network

  private transmit (slot: Slot, to: ReplicaId | 'all', message: Message): void {
    // the wire copy: what the sender does to its object later cannot reach the receivers; frozen, so a
    // receiver that writes into a message it was given throws (and the run reports it) instead of
    // silently changing the other receivers' copies
    const wire = this.wireOf(message)
    const copy = deepFreeze(JSON.parse(wire) as Message)
    // replicas re-send identical messages (retransmission): verify each distinct wire text once
    let valid = this.verified.get(wire)
    if (valid === undefined) {
      valid = this.keyring.verify(copy.from, signable(copy), copy.signature)
      if (this.verified.size >= verifiedCacheMax) this.verified.clear()
      this.verified.set(wire, valid)
    }
    this.checker.onSend(slot.id, copy, valid)
    this.stats.messagesSent++
    this.stats.messageBytes += wire.length
    const n = this.scenario.n
    let targets: ReplicaId[]
    if (to === 'all') {
      targets = []
      for (let id = 0; id < n; id++) if (id !== slot.id) targets.push(id)
    } else if (Number.isInteger(to) && to >= 0 && to < n && to !== slot.id) {
      targets = [to]
    } else {
      if (slot.behaviours === undefined) this.checker.fail('destination', `send to ${String(to)} (a replica does not send to itself; ids are 0..${n - 1})`, slot.id)
      return
    }
    const network = this.scenario.network
    const random = catchUpTypes.has(copy.type) ? this.catchUpRandom : this.random
    for (const target of targets) {
      if (!this.reachable(slot.id, target)) { this.stats.lostToPartitions++; continue }
      if (random.next() < this.dropProbability) { this.stats.lostToDrops++; continue }
      const typeLoss = this.dropByType.size > 0 ? this.dropByType.get(copy.type) : undefined
      if (typeLoss !== undefined && random.next() < typeLoss) { this.stats.lostToDrops++; continue }
      const event: SimEvent = { kind: 'deliver', sender: slot.id, to: target, message: copy, valid }
      this.queue.push(this.nowMs + this.delay(random), event)
      if (network.duplicateProbability > 0 && random.next() < network.duplicateProbability) {
        this.stats.duplicated++
        this.queue.push(this.nowMs + this.delay(random), event)
      }
    }
  }

  /** JSON of a message; a 'sent' record and the send that follows it in one step share it. */
  private wireOf (message: Message): string {
    if (this.lastWire !== undefined && this.lastWire.message === message) return this.lastWire.wire
    const wire = JSON.stringify(message)
    this.lastWire = { message, wire }
    return wire
  }

  private serialiseRecord (record: PersistRecord): string | PersistRecord {
    if (record.kind === 'accepted' && Object.isFrozen(record.message)) return record
    if (record.kind === 'sent') return `{"kind":"sent","message":${this.wireOf(record.message)}}`
    return JSON.stringify(record)
  }

  private sendRequest (to: ReplicaId, request: ClientRequest, forward: boolean): void {
    if (this.random.next() < this.clientDropProbability) { this.stats.clientRequestsLost++; return }
    const targetedLoss = this.clientDropTo.size > 0 ? this.clientDropTo.get(to) : undefined
    if (targetedLoss !== undefined && this.random.next() < targetedLoss) { this.stats.clientRequestsLost++; return }
    this.queue.push(this.nowMs + this.delay(), { kind: 'request', to, request, forward })
  }

  private sendReply (slot: Slot, effect: Extract<Effect, { type: 'reply' }>): void {
    if (this.random.next() < this.clientDropProbability) return
    const request = { client: effect.request.client, requestId: effect.request.requestId, operation: effect.request.operation }
    this.queue.push(this.nowMs + this.delay(), { kind: 'reply', from: slot.id, request, view: effect.view, result: effect.result })
  }

  private delay (random = this.random): number {
    const { delayMinMs, delayMaxMs } = this.scenario.network
    return delayMinMs + Math.floor(random.next() * (delayMaxMs - delayMinMs + 1))
  }

  private reachable (a: ReplicaId, b: ReplicaId): boolean {
    return this.groupOf === undefined || this.groupOf[a] === this.groupOf[b]
  }

  // ————————————————————————————————————————— faults

  private fault (fault: FaultEvent): void {
    this.trace(`FAULT ${JSON.stringify(fault)}`)
    switch (fault.kind) {
      case 'crash': {
        const slot = this.slots[fault.replica] as Slot
        if (slot.node === undefined) return
        if (fault.torn === true) slot.tornCrash = true
        else this.crash(slot, 'clean')
        break
      }
      case 'restart': {
        const slot = this.slots[fault.replica] as Slot
        if (slot.node === undefined) this.restart(slot)
        break
      }
      case 'amnesia': {
        const slot = this.slots[fault.replica] as Slot
        if (slot.behaviours === undefined) throw new Error(`scenario bug: amnesia of honest replica ${fault.replica}`)
        if (slot.node !== undefined) this.crash(slot, 'amnesia')
        slot.log = slot.log.slice(0, Math.floor(slot.log.length * (fault.keepFraction ?? 0)))
        const records = slot.log.map(line => typeof line === 'string' ? JSON.parse(line) as PersistRecord : line)
        this.stats.restarts++
        this.start(slot, records, true)
        if (slot.node !== undefined) this.trace(`RESTART ${slot.id} with amnesia from ${records.length} records: ${statusLine(slot.node)}`)
        break
      }
      case 'partition': {
        const groupOf = Array.from({ length: this.scenario.n }, (_, id) => -1 - id) // unlisted: alone
        fault.groups.forEach((group, index) => { for (const id of group) groupOf[id] = index })
        this.groupOf = groupOf
        break
      }
      case 'heal-partition':
        this.groupOf = undefined
        break
      case 'drop':
        if (fault.types === undefined) this.dropProbability = fault.probability
        else for (const type of fault.types) this.dropByType.set(type, fault.probability)
        break
      case 'client-drop':
        for (const to of fault.to) this.clientDropTo.set(to, fault.probability)
        break
    }
  }

  private heal (): void {
    this.trace('HEAL: partitions healed, no more loss, crashed replicas restart')
    this.healed = true
    this.groupOf = undefined
    this.dropProbability = 0
    this.dropByType.clear()
    this.clientDropProbability = 0
    this.clientDropTo.clear()
    for (const slot of this.slots) {
      if (this.scenario.keepDown.includes(slot.id)) continue
      slot.tornCrash = false
      if (slot.node === undefined) this.restart(slot)
    }
  }

  private crash (slot: Slot, how: string): void {
    slot.node = undefined
    slot.tornCrash = false
    this.stats.crashes++
    this.trace(`CRASH ${slot.id} (${how}), ${slot.log.length} records persisted`)
  }

  private restart (slot: Slot): void {
    const records = slot.log.map(line => typeof line === 'string' ? JSON.parse(line) as PersistRecord : line)
    this.stats.restarts++
    this.start(slot, records)
    if (slot.node !== undefined) this.trace(`RESTART ${slot.id} from ${records.length} records: ${statusLine(slot.node)}`)
  }

  /** Lines are formatted only when a trace is printed: most runs pass and never look at them. */
  private trace (text: string | (() => string)): void {
    this.traceLines.push({ atMs: this.nowMs, text })
    if (this.options.traceAll !== true && this.traceLines.length > 2 * this.traceTailMax) this.traceLines.splice(0, this.traceLines.length - this.traceTailMax)
  }

  private formatTrace (): string[] {
    const lines = this.options.traceAll === true ? this.traceLines : this.traceLines.slice(-this.traceTailMax)
    return lines.map(({ atMs, text }) => `${String(atMs).padStart(6)} ${typeof text === 'string' ? text : text()}`)
  }
}

const catchUpTypes = new Set<string>(['status', 'fetch-log', 'log-entry'])

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

function statusLine (node: ReplicaNode): string {
  const s = node.status()
  return `${s.id}:v${s.view}${s.active ? '' : '(vc)'} exec=${s.lastExecuted} stable=${s.stableSeq} pending=${s.pending}`
}

function errorText (error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message} ${(error.stack ?? '').split('\n').slice(1, 4).map(l => l.trim()).join(' ')}`
  return String(error)
}

/** Byzantine messages may be malformed: describing them must not throw. */
function safeDescribe (message: Message): string {
  try {
    return describeMessage(message)
  } catch {
    return `malformed ${String((message as { type?: unknown }).type)}`
  }
}

export function runScenario (scenario: Scenario, options: RunOptions = {}): RunResult {
  return new Simulation(scenario, options).run()
}
