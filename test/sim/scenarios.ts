/**
 * Seeds to scenarios, and the hand-picked named scenarios. `scenarioFromSeed(seed, n?)` draws every
 * choice from a generator seeded by `seed` (the replica count is drawn first and then possibly
 * overridden, so `--seed S --n N` replays exactly what a run with `--n N` did for S).
 *
 * Profiles: clean, lossy (loss, duplication, client loss), crash (clean or torn crashes and restarts,
 * the primary often), partition (isolated primary, minority/majority, three-way splits, healed and
 * re-split), byzantine (up to f replicas, 1-3 behaviours each, amnesia scheduled), mixed (all of it).
 * Across profiles: the primary's pipeline bound (`pipelineMax` unset, 1, 2 or 4), clients that send
 * to every replica with `forward: false` (whose copies to the primary may be lost until heal), and
 * Byzantine replicas that censor one client.
 * Until `healAtMs` anything goes; then the network is good and every request must finish.
 */
import { faultsTolerated } from '../../src/core/pbft/types.js'
import type { ReplicaId } from '../../src/core/pbft/types.js'
import { SeededRandom } from '../../src/core/random.js'
import { derive } from './network.js'
import type { BehaviourName, ByzantineSpec, FaultEvent, Scenario } from './scenario.js'

export type Profile = 'clean' | 'lossy' | 'crash' | 'partition' | 'byzantine' | 'mixed'

const profiles: Array<[Profile, number]> = [['clean', 1], ['lossy', 2], ['crash', 2], ['partition', 2], ['byzantine', 3], ['mixed', 3]]
const behaviours: BehaviourName[] = ['equivocate', 'double-vote', 'fake-primary', 'forge-signature', 'forge-certificate', 'replay', 'silent', 'wrong-reply', 'lying-state', 'hide-prepared', 'amnesia']

class Draw {
  constructor (readonly random: SeededRandom) {}
  chance (p: number): boolean { return this.random.next() < p }
  int (lo: number, hi: number): number { return lo + Math.floor(this.random.next() * (hi - lo + 1)) }
  pick<T> (items: readonly T[]): T { return items[Math.floor(this.random.next() * items.length)] as T }
  weighted<T> (items: Array<[T, number]>): T {
    const total = items.reduce((sum, [, w]) => sum + w, 0)
    let roll = this.random.next() * total
    for (const [item, weight] of items) { roll -= weight; if (roll < 0) return item }
    return (items[items.length - 1] as [T, number])[0]
  }
}

/** Liveness bound after heal: enough for a few view changes at the longest backed-off timer (16×). */
function livenessBound (viewChangeTimeoutMs: number): number {
  return 2_000 + 50 * viewChangeTimeoutMs
}

export function scenarioFromSeed (seed: number, forcedN?: number): Scenario {
  const draw = new Draw(new SeededRandom(derive(seed, 7)))
  const drawnN = draw.chance(0.6) ? 4 : 7
  const n = forcedN ?? drawnN
  const f = faultsTolerated(n)
  const profile = draw.weighted(profiles)
  const viewChangeTimeoutMs = draw.pick([80, 150, 300])
  const delayMaxMs = draw.pick([3, 8, 15, 30])
  const totalRequests = n >= 7 ? draw.int(25, 45) : draw.int(40, 70)
  const clientCount = draw.int(2, 5)
  const scenario: Scenario = {
    name: `seed ${seed} (${profile})`,
    seed,
    n,
    replica: {
      checkpointInterval: draw.pick([2, 4, 8, 16]),
      batchSizeMax: draw.pick([1, 2, 4, 8]),
      batchDelayMs: draw.pick([0, 2, 5]),
      viewChangeTimeoutMs,
      retransmitMs: draw.pick([40, 80, 150])
    },
    network: { delayMinMs: 1, delayMaxMs, dropProbability: 0, duplicateProbability: draw.pick([0, 0, 0.02, 0.1]), clientDropProbability: 0, tickMs: draw.pick([5, 10]) },
    clients: {
      count: clientCount,
      requestsPerClient: Math.ceil(totalRequests / clientCount),
      pipeline: draw.pick([1, 1, 1, 2, 4]),
      submitPolicy: draw.pick(['primary', 'primary', 'random', 'all'] as const),
      retransmitMs: draw.pick([100, 250, 500]),
      thinkMsMax: draw.pick([0, 5, 20]),
      startMsMax: 20
    },
    byzantine: [],
    faults: [],
    healAtMs: profile === 'clean' ? 0 : draw.int(300, 1500),
    keepDown: [],
    livenessBoundMs: livenessBound(viewChangeTimeoutMs),
    clockOffsetMs: Array.from({ length: n }, () => draw.int(0, 100_000))
  }
  const mixed = profile === 'mixed'
  if (profile === 'lossy' || (mixed && draw.chance(0.6))) addLoss(draw, scenario)
  if (profile === 'crash' || (mixed && draw.chance(0.5))) addCrashes(draw, scenario)
  if (profile === 'partition' || (mixed && draw.chance(0.5))) addPartitions(draw, scenario)
  if (profile === 'byzantine' || (mixed && draw.chance(0.7))) addByzantine(draw, scenario, draw.int(1, f))
  // behaviours added later draw from their own stream, so older seeds keep their scenarios
  const later = new Draw(new SeededRandom(derive(seed, 8)))
  for (const spec of scenario.byzantine) {
    if (!spec.behaviours.includes('silent') && later.chance(0.2)) spec.behaviours.push('resubmit-executed')
  }
  addPipelineForwardingCensor(new Draw(new SeededRandom(derive(seed, 9))), scenario)
  // one honest replica left down for good, when the fault budget allows it
  if ((profile === 'crash' || mixed) && scenario.byzantine.length < f && draw.chance(0.3)) {
    const candidates = range(n).filter(id => !scenario.byzantine.some(b => b.replica === id))
    const down = draw.pick(candidates)
    scenario.keepDown.push(down)
    scenario.faults.push({ atMs: draw.int(0, scenario.healAtMs), kind: 'crash', replica: down, torn: draw.chance(0.5) })
  }
  scenario.faults.sort((a, b) => a.atMs - b.atMs)
  return scenario
}

/**
 * The censorship family (issue 9): the primary of view 0 is Byzantine and never orders client c0's
 * requests, while the other clients keep it busy for longer than the liveness bound, so something
 * always executes and the plain view-change timer never fires. With n = 7 the primary of view 1 often
 * censors too. Clients reach every replica (`all` / `all-no-forward`). c0 must still finish in the bound.
 */
export function censorScenarioFromSeed (seed: number, forcedN?: number): Scenario {
  const draw = new Draw(new SeededRandom(derive(seed, 21)))
  const drawnN = draw.chance(0.6) ? 4 : 7
  const n = forcedN ?? drawnN
  const viewChangeTimeoutMs = draw.pick([80, 150, 300])
  const delayMaxMs = draw.pick([3, 8, 15])
  const thinkMsMax = draw.pick([0, 5])
  const batchDelayMs = draw.pick([0, 2, 5])
  const livenessBoundMs = 1_000 + 15 * viewChangeTimeoutMs
  // the others stay busy past the bound: about 1.3 × the bound at a rough request latency
  const latencyMs = 3 * delayMaxMs + thinkMsMax / 2 + batchDelayMs + 5
  const requestsPerClient = Math.min(400, Math.ceil(1.3 * livenessBoundMs / latencyMs))
  const byzantine: ByzantineSpec[] = [{ replica: 0, behaviours: ['censor'] }]
  if (n >= 7 && draw.chance(0.3)) byzantine.push({ replica: 1, behaviours: ['censor'] })
  const scenario: Scenario = {
    name: `seed ${seed} (censor)`,
    seed,
    n,
    replica: {
      checkpointInterval: draw.pick([4, 8, 16]),
      batchSizeMax: draw.pick([1, 2, 4, 8]),
      batchDelayMs,
      viewChangeTimeoutMs,
      retransmitMs: draw.pick([40, 80, 150])
    },
    network: { delayMinMs: 1, delayMaxMs, dropProbability: 0, duplicateProbability: draw.pick([0, 0, 0.02]), clientDropProbability: 0, tickMs: draw.pick([5, 10]) },
    clients: {
      count: draw.int(3, 5),
      requestsPerClient,
      pipeline: draw.pick([1, 1, 2]),
      submitPolicy: draw.pick(['all', 'all-no-forward'] as const),
      retransmitMs: draw.pick([100, 250, 500]),
      thinkMsMax,
      startMsMax: 20
    },
    byzantine,
    faults: [],
    healAtMs: 0,
    keepDown: [],
    livenessBoundMs,
    clockOffsetMs: Array.from({ length: n }, () => draw.int(0, 100_000))
  }
  const pipelineMax = draw.pick([undefined, 1, 2, 4])
  if (pipelineMax !== undefined) scenario.replica.pipelineMax = pipelineMax
  return scenario
}

function range (n: number): number[] {
  return Array.from({ length: n }, (_, id) => id)
}

/**
 * The primary's pipeline bound; clients that reach every replica themselves (`forward: false`), so the
 * primary learns of a request whose copy to it was lost only from the backups' delayed forward (or a new
 * primary after a view change); Byzantine replicas that, as primary, never order one client's requests.
 * Drawn from their own stream (salt 9): the scenarios' other choices stay what they were.
 */
function addPipelineForwardingCensor (draw: Draw, scenario: Scenario): void {
  const pipelineMax = draw.pick([undefined, 1, 2, 4])
  if (pipelineMax !== undefined) scenario.replica.pipelineMax = pipelineMax
  if (draw.chance(0.35)) scenario.clients.submitPolicy = 'all-no-forward'
  if (scenario.healAtMs > 0 && draw.chance(0.25)) {
    // the clients' copies to the primary of view 0 (often or always) lost for a while
    const atMs = draw.int(0, Math.floor(scenario.healAtMs / 2))
    scenario.faults.push({ atMs, kind: 'client-drop', probability: draw.pick([0.5, 1]), to: [0] })
  }
  // a Byzantine replica that, as primary, orders every client's requests but one
  for (const spec of scenario.byzantine) {
    if (!spec.behaviours.includes('silent') && draw.chance(0.15)) spec.behaviours.push('censor')
  }
}

function addLoss (draw: Draw, scenario: Scenario): void {
  scenario.network.dropProbability = draw.pick([0.02, 0.05, 0.1, 0.2, 0.3])
  scenario.network.clientDropProbability = draw.pick([0, 0, 0.05, 0.2])
  if (draw.chance(0.3)) {
    // loss that changes during the chaos
    scenario.faults.push({ atMs: draw.int(0, scenario.healAtMs), kind: 'drop', probability: draw.pick([0, 0.1, 0.5]) })
  }
  if (draw.chance(0.3)) {
    // one kind of message clogged for a while: the protocol's recovery paths for it
    const types = draw.random.sample(['view-change', 'new-view', 'checkpoint', 'state', 'fetch-state', 'commit', 'pre-prepare'] as const, draw.int(1, 2))
    scenario.faults.push({ atMs: draw.int(0, scenario.healAtMs), kind: 'drop', probability: draw.pick([0.5, 0.9, 1]), types: [...types] })
  }
}

function addCrashes (draw: Draw, scenario: Scenario): void {
  const count = draw.int(1, faultsTolerated(scenario.n) + 1)
  for (let i = 0; i < count; i++) {
    const replica = draw.chance(0.4) ? 0 : draw.int(0, scenario.n - 1)
    const atMs = draw.int(0, scenario.healAtMs)
    scenario.faults.push({ atMs, kind: 'crash', replica, torn: draw.chance(0.5) })
    // restart before heal, or leave it to the heal
    if (draw.chance(0.6)) scenario.faults.push({ atMs: draw.int(atMs, scenario.healAtMs), kind: 'restart', replica })
  }
}

function addPartitions (draw: Draw, scenario: Scenario): void {
  const periods = draw.int(1, 3)
  let atMs = draw.int(0, Math.floor(scenario.healAtMs / 2))
  for (let i = 0; i < periods && atMs < scenario.healAtMs; i++) {
    const ids = draw.random.sample(range(scenario.n), scenario.n)
    let groups: ReplicaId[][]
    switch (draw.pick(['isolate-primary', 'isolate-one', 'split', 'three-way'] as const)) {
      case 'isolate-primary': groups = [range(scenario.n).filter(id => id !== 0)]; break
      case 'isolate-one': groups = [ids.slice(1)]; break
      case 'split': { const cut = draw.int(1, scenario.n - 1); groups = [ids.slice(0, cut), ids.slice(cut)]; break }
      default: { const a = draw.int(1, scenario.n - 2); const b = draw.int(a + 1, scenario.n - 1); groups = [ids.slice(0, a), ids.slice(a, b), ids.slice(b)] }
    }
    scenario.faults.push({ atMs, kind: 'partition', groups })
    const healMs = draw.int(atMs + 50, Math.max(atMs + 50, scenario.healAtMs))
    if (healMs < scenario.healAtMs) scenario.faults.push({ atMs: healMs, kind: 'heal-partition' })
    atMs = healMs + draw.int(0, 200)
  }
}

function addByzantine (draw: Draw, scenario: Scenario, count: number): void {
  // the primary of view 0 is Byzantine half of the time: that is where equivocation hurts
  const pool = range(scenario.n)
  const chosen: ReplicaId[] = draw.chance(0.5) ? [0, ...draw.random.sample(pool.slice(1), count - 1)] : draw.random.sample(pool, count)
  for (const replica of chosen) {
    const names = draw.random.sample(behaviours, draw.int(1, 3))
    const spec: ByzantineSpec = { replica, behaviours: names.includes('silent') ? ['silent'] : names }
    scenario.byzantine.push(spec)
    if (spec.behaviours.includes('amnesia')) {
      const atMs = draw.int(50, Math.max(50, scenario.healAtMs))
      scenario.faults.push({ atMs, kind: 'amnesia', replica, keepFraction: draw.chance(0.5) ? 0 : draw.random.next() })
    }
  }
}

/** The command that replays a run: named scenarios by name, seeds by seed (and n when it was forced). */
export function replayCommand (scenario: Scenario, forcedN: boolean): string {
  if (namedScenarios[scenario.name] !== undefined) return `node dist/test/sim/run.js --scenario ${scenario.name}`
  const family = scenario.name.endsWith('(censor)') ? ' --family censor' : ''
  return `node dist/test/sim/run.js --seed ${scenario.seed}${forcedN ? ` --n ${scenario.n}` : ''}${family}`
}

// ————————————————————————————————————————— named scenarios

function base (name: string, n: number): Scenario {
  const viewChangeTimeoutMs = 150
  return {
    name,
    seed: 1,
    n,
    replica: { checkpointInterval: 4, batchSizeMax: 4, batchDelayMs: 2, viewChangeTimeoutMs, retransmitMs: 60 },
    network: { delayMinMs: 1, delayMaxMs: 8, dropProbability: 0, duplicateProbability: 0, clientDropProbability: 0, tickMs: 5 },
    clients: { count: 3, requestsPerClient: 20, pipeline: 1, submitPolicy: 'primary', retransmitMs: 250, thinkMsMax: 5, startMsMax: 20 },
    byzantine: [],
    faults: [],
    healAtMs: 0,
    keepDown: [],
    livenessBoundMs: livenessBound(viewChangeTimeoutMs),
    clockOffsetMs: range(n).map(id => id * 1_000)
  }
}

function with_ (scenario: Scenario, change: (s: Scenario) => void): Scenario {
  change(scenario)
  scenario.faults.sort((a, b) => a.atMs - b.atMs)
  return scenario
}

export const namedScenarios: Record<string, () => Scenario> = {
  'normal-n4': () => base('normal-n4', 4),
  'normal-n7': () => base('normal-n7', 7),
  /** The primary of view 0 crashes for good: a view change to 1, and every request still finishes. */
  'primary-crash': () => with_(base('primary-crash', 4), s => {
    s.faults.push({ atMs: 150, kind: 'crash', replica: 0 })
    s.keepDown = [0]
    s.healAtMs = 150
  }),
  /** The primary crashes in the middle of a step (torn), restarts from its log later. */
  'primary-torn-crash-restart': () => with_(base('primary-torn-crash-restart', 4), s => {
    s.clients.submitPolicy = 'all'
    s.faults.push({ atMs: 120, kind: 'crash', replica: 0, torn: true }, { atMs: 700, kind: 'restart', replica: 0 })
    s.healAtMs = 700
  }),
  /** The primary is cut off from every replica (clients still reach it), then the network heals. */
  'primary-partition-heal': () => with_(base('primary-partition-heal', 4), s => {
    s.faults.push({ atMs: 100, kind: 'partition', groups: [[0], [1, 2, 3]] })
    s.healAtMs = 1_000
  }),
  /** n=7 split 3/4 (no quorum on either side), healed. */
  'split-brain-n7': () => with_(base('split-brain-n7', 7), s => {
    s.faults.push({ atMs: 80, kind: 'partition', groups: [[0, 1, 2], [3, 4, 5, 6]] })
    s.healAtMs = 900
  }),
  /** A Byzantine primary sends different batches for one sequence to two halves of the replicas. */
  'equivocating-primary': () => with_(base('equivocating-primary', 4), s => {
    s.byzantine = [{ replica: 0, behaviours: ['equivocate'] }]
    s.clients.submitPolicy = 'all'
  }),
  /** n=7: an equivocating primary and a double-voting accomplice back both batches. */
  'equivocating-primary-colluding-n7': () => with_(base('equivocating-primary-colluding-n7', 7), s => {
    s.byzantine = [{ replica: 0, behaviours: ['equivocate', 'double-vote'] }, { replica: 1, behaviours: ['double-vote'] }]
    s.clients.submitPolicy = 'all'
  }),
  /** The primary forgets everything (restarts from no records) in the middle of the run. */
  'amnesia-primary': () => with_(base('amnesia-primary', 4), s => {
    s.byzantine = [{ replica: 0, behaviours: ['amnesia'] }]
    s.faults.push({ atMs: 250, kind: 'amnesia', replica: 0 })
  }),
  /** A backup forgets everything while a view change is due (the primary is cut off). */
  'amnesia-backup': () => with_(base('amnesia-backup', 4), s => {
    s.byzantine = [{ replica: 2, behaviours: ['amnesia'] }]
    s.faults.push({ atMs: 100, kind: 'partition', groups: [[0], [1, 2, 3]] }, { atMs: 300, kind: 'amnesia', replica: 2 })
    s.healAtMs = 900
  }),
  /** A silent primary: the backups must change view on the clients' re-sent requests. */
  'silent-primary': () => with_(base('silent-primary', 4), s => {
    s.byzantine = [{ replica: 0, behaviours: ['silent'] }]
  }),
  /** Forged signatures and certificates, around a view change forced by cutting the primary off. */
  'forgeries': () => with_(base('forgeries', 4), s => {
    s.byzantine = [{ replica: 1, behaviours: ['forge-signature', 'forge-certificate', 'fake-primary'] }]
    s.faults.push({ atMs: 150, kind: 'partition', groups: [[0], [1, 2, 3]] })
    s.healAtMs = 900
  }),
  /** n=7: a replaying replica and a fake primary while the primary crashes and view changes run. */
  'replay-old-views-n7': () => with_(base('replay-old-views-n7', 7), s => {
    s.byzantine = [{ replica: 3, behaviours: ['replay'] }, { replica: 5, behaviours: ['replay', 'fake-primary'] }]
    s.faults.push({ atMs: 150, kind: 'crash', replica: 0 }, { atMs: 600, kind: 'crash', replica: 1, torn: true })
    s.healAtMs = 900
  }),
  /** A replica misses many checkpoints and catches up by state transfer, offered lies by a Byzantine one. */
  'state-transfer-lying': () => with_(base('state-transfer-lying', 4), s => {
    s.replica.checkpointInterval = 2
    s.replica.batchSizeMax = 1
    s.byzantine = [{ replica: 1, behaviours: ['lying-state'] }]
    s.clients.submitPolicy = 'all'
    s.clients.thinkMsMax = 10
    s.faults.push({ atMs: 60, kind: 'crash', replica: 3 }, { atMs: 350, kind: 'restart', replica: 3 })
    s.healAtMs = 350
  }),
  /** Byzantine replicas leave prepared certificates out of their VIEW-CHANGEs while the primary is cut off. */
  'hidden-prepared-n7': () => with_(base('hidden-prepared-n7', 7), s => {
    s.byzantine = [{ replica: 2, behaviours: ['hide-prepared'] }, { replica: 4, behaviours: ['hide-prepared', 'double-vote'] }]
    s.clients.pipeline = 2
    s.clients.requestsPerClient = 40
    s.clients.thinkMsMax = 10
    // at 120 ms batches are prepared but not committed everywhere (timing chosen so the VIEW-CHANGEs have certificates to hide)
    s.faults.push({ atMs: 120, kind: 'partition', groups: [[0], [1, 2, 3, 4, 5, 6]] }, { atMs: 350, kind: 'partition', groups: [[1], [0, 2, 3, 4, 5, 6]] })
    s.healAtMs = 1_000
  }),
  /**
   * A replica cut off while the others pass several checkpoints; then one of those crashes for good, so
   * the laggard is needed and learns the stable checkpoint only from VIEW-CHANGE / NEW-VIEW proofs. Its
   * first STATE answers are lost (STATE messages clogged until heal): it must ask again.
   */
  'state-transfer-retry': () => with_(base('state-transfer-retry', 4), s => {
    s.replica.checkpointInterval = 2
    s.replica.batchSizeMax = 1
    s.clients.submitPolicy = 'all'
    s.clients.requestsPerClient = 30
    s.faults.push(
      { atMs: 0, kind: 'drop', probability: 1, types: ['state'] },
      { atMs: 30, kind: 'partition', groups: [[0, 1, 3], [2]] },
      { atMs: 350, kind: 'crash', replica: 3 },
      { atMs: 400, kind: 'heal-partition' })
    s.keepDown = [3]
    s.healAtMs = 900
  }),
  /** A Byzantine primary puts already executed requests back into its batches: each executes once. */
  'resubmitted-requests': () => with_(base('resubmitted-requests', 4), s => {
    s.byzantine = [{ replica: 0, behaviours: ['resubmit-executed'] }]
    s.clients.pipeline = 2
  }),
  /** Clients send every request to every replica with `forward: false`; the primary keeps two batches in flight. */
  'normal-no-forward-n4': () => with_(base('normal-no-forward-n4', 4), s => {
    s.clients.submitPolicy = 'all-no-forward'
    s.replica.pipelineMax = 2
  }),
  /**
   * Clients send every request to every replica with `forward: false`, and every copy to the honest
   * primary is lost (past the end of the run: heal comes later): the backups pass each one on after
   * `retransmitMs` and it is ordered in view 0, without a view change.
   */
  'primary-copy-dropped': () => with_(base('primary-copy-dropped', 4), s => {
    s.clients.submitPolicy = 'all-no-forward'
    s.clients.requestsPerClient = 10
    s.replica.viewChangeTimeoutMs = 300
    s.livenessBoundMs = livenessBound(300)
    s.faults.push({ atMs: 0, kind: 'client-drop', probability: 1, to: [0] })
    s.healAtMs = 10_000
  }),
  /** `forward: false` clients and a primary that crashes for good: nothing reaches the primary, a view change orders it all. */
  'primary-crash-no-forward': () => with_(base('primary-crash-no-forward', 4), s => {
    s.clients.submitPolicy = 'all-no-forward'
    s.faults.push({ atMs: 150, kind: 'crash', replica: 0 })
    s.keepDown = [0]
    s.healAtMs = 150
  }),
  /** A Byzantine primary orders every client's requests but c0's (sent to all, `forward: false`): c0's commit after a view change. */
  'censoring-primary': () => with_(base('censoring-primary', 4), s => {
    s.byzantine = [{ replica: 0, behaviours: ['censor'] }]
    s.clients.submitPolicy = 'all-no-forward'
    s.replica.pipelineMax = 2
  }),
  /**
   * Issue 9's censorship bound: a Byzantine primary orders every client's requests but c0's while the
   * others keep it busy the whole run, so something always executes and the plain view-change timer
   * (restarted by every execution) never fires. c0's requests must still finish within the liveness
   * bound: the backups see them overtaken while they wait and change view.
   */
  'censoring-primary-with-traffic': () => with_(base('censoring-primary-with-traffic', 4), s => {
    s.byzantine = [{ replica: 0, behaviours: ['censor'] }]
    s.clients.submitPolicy = 'all-no-forward'
    s.clients.count = 4
    s.clients.requestsPerClient = 250
    s.replica.pipelineMax = 2
    s.livenessBoundMs = 2_500
  }),
  /** The primary keeps one batch in flight: pipelined clients' requests wait and go out together in the next batch. */
  'pipeline-one': () => with_(base('pipeline-one', 4), s => {
    s.replica.pipelineMax = 1
    s.replica.batchSizeMax = 16
    s.clients.count = 4
    s.clients.pipeline = 4
    s.clients.thinkMsMax = 0
  }),
  /**
   * Issue 9's real run: the primary crashes, the others change view and commit everything; the old
   * primary restarts (in view 0, thinking itself primary) once the clients are done, and nothing more
   * is sent. It must learn view 1 and every batch it missed from the others' STATUS messages alone.
   * K = 64: nothing became stable meanwhile, so it catches up through FETCH-LOG / LOG-ENTRY.
   */
  'restart-after-view-change-idle': () => with_(base('restart-after-view-change-idle', 4), s => {
    s.replica.checkpointInterval = 64
    s.idleCatchUpInView = true
    s.clients.submitPolicy = 'all'
    s.faults.push({ atMs: 150, kind: 'crash', replica: 0 }, { atMs: 4_000, kind: 'restart', replica: 0 })
  }),
  /** The same with K = 4: the restarted replica fetches the stable checkpoint's state, then the batches after it. */
  'restart-after-view-change-idle-checkpoints': () => with_(base('restart-after-view-change-idle-checkpoints', 4), s => {
    s.idleCatchUpInView = true
    s.clients.submitPolicy = 'all'
    s.faults.push({ atMs: 150, kind: 'crash', replica: 0 }, { atMs: 4_000, kind: 'restart', replica: 0 })
  }),
  /** n=7: a backup cut off while the others commit, healed after the clients are done (links back, no restart). */
  'partitioned-backup-idle-n7': () => with_(base('partitioned-backup-idle-n7', 7), s => {
    s.replica.checkpointInterval = 8
    s.faults.push({ atMs: 60, kind: 'partition', groups: [[5], [0, 1, 2, 3, 4, 6]] }, { atMs: 4_000, kind: 'heal-partition' })
  }),
  /** Heavy loss and duplication, then calm. */
  'lossy': () => with_(base('lossy', 4), s => {
    s.network.dropProbability = 0.25
    s.network.duplicateProbability = 0.1
    s.network.clientDropProbability = 0.1
    s.healAtMs = 1_500
  })
}
