/**
 * Scripted scenario transcripts for the pure pBFT core (etcd-raft "datadriven" style): a transcript
 * drives a few `Replica`s through a deterministic in-memory network, command by command, and records
 * what they did. test/unit/pbft-transcripts.test.ts runs every `*.txt` beside this file and compares.
 *
 * To regenerate the expected outputs after a deliberate change of the core (then READ the diff: every
 * expected block must still be what pBFT should do):
 *
 *   MESH_REWRITE_TRANSCRIPTS=1 npx vitest run test/unit/pbft-transcripts.test.ts
 *
 * File format: a sequence of blocks, each a command line, a `----` line, the expected output lines and
 * a blank line. Lines starting with `#` (and blank lines) before a command are comments, kept as they
 * are on rewrite.
 *
 *   # comment
 *   request client=c1 id=1 op="put x 1"
 *   ----
 *   0: send pre-prepare v0 s1 d=1a2b [c1#1] → all
 *
 * Commands (replica ids are 0..n-1; arguments are key=value, values with spaces in double quotes):
 *
 *   replicas n=4 [checkpoint=4] [batch=3] [delay=0] [timeout=1000] [retransmit=400] [pipeline=N] [status=MS (STATUS beacons; default off)]
 *       Create n replicas at time 0 (checkpoint interval K, largest batch, batch delay, view-change
 *       timeout, retransmission period, primary pipeline bound; all in ms where they are times).
 *   request client=c1 id=1 op="put x 1" [at=0|at=1,2|at=all] [forward=true|false]
 *       Submit a client request (the runtime has checked its signature) at replica 0 (default), at the
 *       listed replicas or at every replica (a crashed one prints `down`). `forward` (false: a backup
 *       does not pass it on to the primary at once) defaults to false for `at=all`, where the client
 *       sent it to everyone itself, and to true otherwise. `id=1..4` submits ids 1 to 4 in order, with
 *       `{id}` in `op` replaced by each id.
 *   deliver [from=i,..] [to=j,..] [type=t,..] [seq=s,..] [count=k] [quiet]
 *       Deliver queued messages that match, in FIFO order, until none matches (or k were delivered);
 *       what they cause is queued behind. One line per message `from→to <message>`, then, indented,
 *       what the receiver did (commits, replies, stable checkpoints, view events, drops with reason).
 *       `quiet`: only what the replicas did, identical lines of several replicas merged, and a count.
 *   drop [from=i,..] [to=j,..] [type=t,..] [seq=s,..] [count=k]
 *       Discard queued messages that match (lost by the network).
 *   tick [by=ms|to=ms] [quiet]
 *       Advance the clock (default by=100) and tick every up replica; prints what each sends (`quiet`:
 *       only a count of sends) and does.
 *   crash i / restart i
 *       Stop a replica (messages queued to it are lost) / rebuild it with `Replica.restore` from every
 *       record it persisted, on a fresh application, at the current time.
 *   partition 0,1 | 2,3 / heal
 *       Cut the network into groups (replicas not listed form one more group): messages between groups
 *       are lost, queued or future. `heal` reconnects everyone (what was lost stays lost).
 *   queue [from=i,..] [to=j,..] [type=t,..] [seq=s,..]
 *       List the queued messages (that match).
 *   status
 *       Per replica: view, primary, active, lastExecuted, stable checkpoint, watermarks (low, high],
 *       the sequence numbers present in its log, and the number of pending requests.
 *   state [i]
 *       The application state (key=value) of replica i, or of every replica.
 *
 * Output is deterministic: FIFO delivery, fan-out in replica order, digests cut to 4 hex digits.
 */
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { Replica } from '../../src/core/pbft/replica.js'
import { faultsTolerated, quorumSize } from '../../src/core/pbft/types.js'
import type { Application, ClientRequest, Crypto, Effect, Message, PersistRecord, ReplicaConfig } from '../../src/core/pbft/types.js'

// ————————————————————————————————————————— fakes (same ideas as test/unit/pbft-replica.test.ts)

const sha = (data: string): string => createHash('sha256').update(data).digest('hex')

function cryptoFor (id: number): Crypto {
  return {
    hash: sha,
    sign: data => sha(`secret-${id}|${data}`),
    verify: (from, data, signature) => sha(`secret-${from}|${data}`) === signature
  }
}

/** `put k v` → "ok"; `get k` → the value (or ""). */
class KvApp implements Application {
  private data = new Map<string, string>()
  apply (request: ClientRequest): string {
    const [op, key = '', value = ''] = request.operation.split(' ')
    if (op === 'put') { this.data.set(key, value); return 'ok' }
    return this.data.get(key) ?? ''
  }

  digest (): string { return sha(this.snapshot()) }
  snapshot (): string { return JSON.stringify([...this.data.entries()].sort()) }
  restore (snapshot: string): void { this.data = new Map(JSON.parse(snapshot) as Array<[string, string]>) }
  entries (): Array<[string, string]> { return [...this.data.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) }
}

// ————————————————————————————————————————— formatting

const short = (digest: string): string => digest.slice(0, 4)

function requests (batch: ClientRequest[]): string {
  return `[${batch.map(r => `${r.client}#${r.requestId}`).join(' ')}]`
}

function senders (messages: Array<{ from: number }>): string {
  return [...new Set(messages.map(m => m.from))].sort((a, b) => a - b).join(',')
}

function formatMessage (message: Message): string {
  switch (message.type) {
    case 'forward': return `forward ${message.request.client}#${message.request.requestId}`
    case 'pre-prepare': return `pre-prepare v${message.view} s${message.seq} d=${short(message.digest)} ${requests(message.batch)}`
    case 'prepare': return `prepare v${message.view} s${message.seq} d=${short(message.digest)}`
    case 'commit': return `commit v${message.view} s${message.seq} d=${short(message.digest)}`
    case 'checkpoint': return `checkpoint s${message.seq} state=${short(message.stateDigest)}`
    case 'view-change': {
      const prepared = message.prepared.map(c => `s${c.prePrepare.seq} v${c.prePrepare.view} d=${short(c.prePrepare.digest)}`).join(', ')
      return `view-change v${message.view} stable=s${message.stableSeq} prepared=[${prepared}]`
    }
    case 'new-view': {
      const prePrepares = message.prePrepares.map(pp => `s${pp.seq} ${pp.batch.length === 0 ? 'null' : `d=${short(pp.digest)} ${requests(pp.batch)}`}`).join(', ')
      return `new-view v${message.view} view-changes=${senders(message.viewChanges)} pre-prepares=[${prePrepares}]`
    }
    case 'fetch-state': return `fetch-state executed=s${message.fromSeq}`
    case 'state': return `state s${message.seq} state=${short(message.stateDigest)} proof=${senders(message.checkpointProof)}`
    default: return (message as { type: string }).type // a message type added later: at least its name
  }
}

/** What a replica did, as one line (null for persist records, which are only stored). */
function formatEffect (effect: Effect): string | null {
  switch (effect.type) {
    case 'persist': return null
    case 'send': return `send ${formatMessage(effect.message)} → ${effect.to}`
    case 'reply': return `reply ${effect.request.client}#${effect.request.requestId} s${effect.seq} v${effect.view} ${JSON.stringify(effect.result)}`
    case 'committed': return `committed s${effect.seq} v${effect.view} ${requests(effect.batch)}`
    case 'stable': return `stable checkpoint s${effect.seq} state=${short(effect.stateDigest)}`
    case 'view': return `view v${effect.view} primary=${effect.primary} ${effect.active ? 'active' : 'view-change'}`
    case 'drop': return `drop ${effect.reason}${effect.from != null ? ` from ${effect.from}` : ''}${effect.detail != null ? ` (${effect.detail})` : ''}`
    default: return (effect as { type: string }).type
  }
}

/** 1,2,3,5 → "1..3,5" */
function ranges (values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b)
  const out: string[] = []
  for (let i = 0; i < sorted.length;) {
    let j = i
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] as number) + 1) j++
    out.push(j === i ? `${sorted[i] as number}` : `${sorted[i] as number}..${sorted[j] as number}`)
    i = j + 1
  }
  return out.length === 0 ? 'empty' : out.join(',')
}

// ————————————————————————————————————————— arguments

interface Args {
  words: string[]
  named: Map<string, string>
  flags: Set<string>
}

const flagWords = new Set(['quiet'])

function parseArgs (tokens: string[]): Args {
  const args: Args = { words: [], named: new Map(), flags: new Set() }
  for (const token of tokens) {
    const eq = token.indexOf('=')
    if (eq > 0) {
      let value = token.slice(eq + 1)
      if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1)
      args.named.set(token.slice(0, eq), value)
    } else if (flagWords.has(token)) args.flags.add(token)
    else args.words.push(token)
  }
  return args
}

function tokenize (line: string): string[] {
  return [...line.matchAll(/[^\s"=]+="[^"]*"|\S+/g)].map(m => m[0])
}

function checkKeys (args: Args, allowed: string[]): void {
  for (const key of args.named.keys()) if (!allowed.includes(key)) throw new Error(`unknown argument ${key}= (allowed: ${allowed.join(' ') || 'none'})`)
}

function int (text: string, what: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value)) throw new Error(`${what}: not an integer: ${text}`)
  return value
}

function intList (text: string | undefined, what: string): number[] | null {
  return text == null ? null : text.split(',').map(t => int(t, what))
}

// ————————————————————————————————————————— the simulated cluster

interface Queued { from: number, to: number, message: Message }

interface Filter { from: number[] | null, to: number[] | null, type: string[] | null, seq: number[] | null }

/** The sequence number a message is about, if any. */
function seqOf (message: Message): number | null {
  return 'seq' in message ? message.seq : null
}

class Cluster {
  readonly replicas: Replica[]
  readonly apps: KvApp[]
  readonly persisted: PersistRecord[][]
  readonly down = new Set<number>()
  /** group index per replica while partitioned */
  group: number[] | null = null
  now = 0
  queue: Queued[] = []

  constructor (readonly n: number, readonly base: Omit<ReplicaConfig, 'id' | 'n'>) {
    this.apps = Array.from({ length: n }, () => new KvApp())
    this.replicas = Array.from({ length: n }, (_, i) => new Replica(this.config(i), cryptoFor(i), this.apps[i] as KvApp, 0))
    this.persisted = Array.from({ length: n }, () => [])
  }

  config (id: number): ReplicaConfig {
    return { ...this.base, id, n: this.n }
  }

  replica (id: number): Replica {
    const replica = this.replicas[id]
    if (replica == null) throw new Error(`no replica ${id}`)
    return replica
  }

  connected (a: number, b: number): boolean {
    return this.group == null || this.group[a] === this.group[b]
  }

  /** Perform a replica's effects in order (persist, queue sends); the printable ones, without sends if `hideSends`. */
  perform (from: number, effects: Effect[], hideSends: boolean): string[] {
    const lines: string[] = []
    for (const effect of effects) {
      if (effect.type === 'persist') this.persisted[from]?.push(structuredClone(effect.record))
      else if (effect.type === 'send') {
        const targets = effect.to === 'all' ? [...Array(this.n).keys()].filter(i => i !== from) : [effect.to]
        for (const to of targets) {
          if (this.down.has(to) || !this.connected(from, to)) continue // lost on the way
          this.queue.push({ from, to, message: structuredClone(effect.message) })
        }
      }
      if (effect.type === 'send' && hideSends) continue
      const line = formatEffect(effect)
      if (line != null) lines.push(`${from}: ${line}`)
    }
    return lines
  }

  matches (queued: Queued, filter: Filter): boolean {
    return (filter.from == null || filter.from.includes(queued.from)) &&
      (filter.to == null || filter.to.includes(queued.to)) &&
      (filter.type == null || filter.type.includes(queued.message.type)) &&
      (filter.seq == null || filter.seq.includes(seqOf(queued.message) ?? -1))
  }

  /** Remove and return the first queued message that matches. */
  take (filter: Filter): Queued | undefined {
    const index = this.queue.findIndex(q => this.matches(q, filter))
    if (index < 0) return undefined
    return this.queue.splice(index, 1)[0]
  }
}

// ————————————————————————————————————————— commands

function filterOf (args: Args): Filter {
  return {
    from: intList(args.named.get('from'), 'from'),
    to: intList(args.named.get('to'), 'to'),
    type: args.named.get('type')?.split(',') ?? null,
    seq: intList(args.named.get('seq'), 'seq')
  }
}

/**
 * Merge identical lines of several replicas: "1: x", "2: x" → "1,2: x" (in order of first appearance);
 * a line a replica printed k > 1 times gets "×k" ("1×2,2×3: x" when the counts differ).
 */
function merge (lines: string[]): string[] {
  const byText = new Map<string, Map<number, number>>()
  for (const line of lines) {
    const colon = line.indexOf(': ')
    const who = int(line.slice(0, colon), 'replica')
    const text = line.slice(colon + 2)
    const counts = byText.get(text) ?? new Map<number, number>()
    counts.set(who, (counts.get(who) ?? 0) + 1)
    byText.set(text, counts)
  }
  return [...byText].map(([text, counts]) => {
    const ids = [...counts.keys()].sort((a, b) => a - b)
    const all = new Set(counts.values())
    const times = all.size === 1 ? ([...all][0] as number) : 0
    if (times === 1) return `${ids.join(',')}: ${text}`
    if (times > 1) return `${ids.join(',')}: ${text} ×${times}`
    return `${ids.map(id => `${id}×${counts.get(id) as number}`).join(',')}: ${text}`
  })
}

function countByType (messages: Message[]): string {
  const counts = new Map<string, number>()
  for (const m of messages) counts.set(m.type, (counts.get(m.type) ?? 0) + 1)
  return [...counts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([type, count]) => `${type}×${count}`).join(' ')
}

class Interpreter {
  private cluster: Cluster | null = null

  private get net (): Cluster {
    if (this.cluster == null) throw new Error('no replicas yet: start with `replicas n=4`')
    return this.cluster
  }

  run (command: string, args: Args): string[] {
    switch (command) {
      case 'replicas': return this.replicas(args)
      case 'request': return this.request(args)
      case 'deliver': return this.deliver(args)
      case 'drop': return this.drop(args)
      case 'tick': return this.tick(args)
      case 'crash': return this.crash(args)
      case 'restart': return this.restart(args)
      case 'partition': return this.partition(args)
      case 'heal': return this.heal(args)
      case 'queue': return this.queue(args)
      case 'status': return this.status(args)
      case 'state': return this.state(args)
      default: throw new Error(`unknown command ${command}`)
    }
  }

  private replicas (args: Args): string[] {
    checkKeys(args, ['n', 'checkpoint', 'batch', 'delay', 'timeout', 'retransmit', 'pipeline', 'status'])
    const get = (key: string, fallback: number): number => int(args.named.get(key) ?? String(fallback), key)
    const n = get('n', 4)
    const pipeline = args.named.get('pipeline')
    const base: Omit<ReplicaConfig, 'id' | 'n'> = {
      checkpointInterval: get('checkpoint', 4),
      batchSizeMax: get('batch', 3),
      batchDelayMs: get('delay', 0),
      viewChangeTimeoutMs: get('timeout', 1000),
      retransmitMs: get('retransmit', 400),
      // STATUS beacons are off unless a transcript asks (status=MS): a restored replica still announces
      // itself once at its first step
      statusIntervalMs: get('status', 1_000_000_000)
    }
    if (pipeline != null) base.pipelineMax = int(pipeline, 'pipeline')
    this.cluster = new Cluster(n, base)
    return [
      `n=${n} f=${faultsTolerated(n)} quorum=${quorumSize(n)} checkpoint=${base.checkpointInterval} window=${2 * base.checkpointInterval} ` +
      `batch=${base.batchSizeMax} delay=${base.batchDelayMs} timeout=${base.viewChangeTimeoutMs} retransmit=${base.retransmitMs} ` +
      `pipeline=${base.pipelineMax ?? 'unlimited'}`
    ]
  }

  private request (args: Args): string[] {
    checkKeys(args, ['client', 'id', 'op', 'at', 'forward'])
    const net = this.net
    const client = args.named.get('client')
    const idText = args.named.get('id')
    const op = args.named.get('op')
    if (client == null || idText == null || op == null) throw new Error('request needs client=, id= and op=')
    const [firstText, lastText = firstText] = idText.split('..') as [string, string?]
    const first = int(firstText, 'id')
    const last = int(lastText, 'id')
    const at = args.named.get('at') ?? '0'
    const targets = at === 'all' ? [...Array(net.n).keys()] : (intList(at, 'at') as number[])
    const forwardText = args.named.get('forward')
    const forward = forwardText == null ? at !== 'all' : forwardText === 'true'
    const lines: string[] = []
    for (let id = first; id <= last; id++) {
      const request: ClientRequest = { client, requestId: id, operation: op.replaceAll('{id}', String(id)) }
      for (const target of targets) {
        if (net.down.has(target)) { lines.push(`${target}: down`); continue }
        lines.push(...net.perform(target, net.replica(target).step({ type: 'request', request, nowMs: net.now, forward }), false))
      }
    }
    return lines
  }

  private deliver (args: Args): string[] {
    checkKeys(args, ['from', 'to', 'type', 'seq', 'count'])
    const net = this.net
    const filter = filterOf(args)
    const count = args.named.has('count') ? int(args.named.get('count') as string, 'count') : Infinity
    const quiet = args.flags.has('quiet')
    const lines: string[] = []
    const delivered: Message[] = []
    for (;;) {
      if (delivered.length >= count) break
      if (delivered.length >= 100_000) throw new Error('deliver: no quiescence after 100000 messages')
      const next = net.take(filter)
      if (next == null) break
      delivered.push(next.message)
      if (!quiet) lines.push(`${next.from}→${next.to} ${formatMessage(next.message)}`)
      // the receiver may have crashed or been cut off while the message was queued: then it is lost
      if (net.down.has(next.to) || !net.connected(next.from, next.to)) {
        if (!quiet) lines.push('  (lost)')
        continue
      }
      const effects = net.replica(next.to).step({ type: 'message', message: next.message, nowMs: net.now })
      const done = net.perform(next.to, effects, true)
      lines.push(...(quiet ? done : done.map(l => `  ${l}`)))
    }
    if (!quiet) return delivered.length === 0 ? ['nothing to deliver'] : lines
    return [...merge(lines), `(delivered ${delivered.length}${delivered.length > 0 ? `: ${countByType(delivered)}` : ''})`]
  }

  private drop (args: Args): string[] {
    checkKeys(args, ['from', 'to', 'type', 'seq', 'count'])
    const net = this.net
    const filter = filterOf(args)
    const count = args.named.has('count') ? int(args.named.get('count') as string, 'count') : Infinity
    const dropped: Queued[] = []
    for (let next = net.take(filter); next != null; next = dropped.length < count ? net.take(filter) : undefined) dropped.push(next)
    if (dropped.length === 0) return ['nothing to drop']
    return [`dropped ${dropped.length}: ${countByType(dropped.map(d => d.message))}`]
  }

  private tick (args: Args): string[] {
    checkKeys(args, ['by', 'to'])
    const net = this.net
    const to = args.named.get('to')
    const target = to != null ? int(to, 'to') : net.now + int(args.named.get('by') ?? '100', 'by')
    if (target < net.now) throw new Error(`tick: time ${target} is before now (${net.now})`)
    net.now = target
    const quiet = args.flags.has('quiet')
    const lines = [`now=${net.now}`]
    for (let i = 0; i < net.n; i++) {
      if (net.down.has(i)) continue
      const effects = net.replica(i).step({ type: 'tick', nowMs: net.now })
      lines.push(...net.perform(i, effects, quiet))
      const sends = effects.filter(e => e.type === 'send').length
      if (quiet && sends > 0) lines.push(`${i}: sent ${sends} message${sends === 1 ? '' : 's'}`)
    }
    return lines
  }

  private one (args: Args, what: string): number {
    checkKeys(args, [])
    const net = this.net
    if (args.words.length !== 1) throw new Error(`${what} needs one replica id`)
    const id = int(args.words[0] as string, what)
    if (id < 0 || id >= net.n) throw new Error(`${what}: no replica ${id}`)
    return id
  }

  private crash (args: Args): string[] {
    const net = this.net
    const id = this.one(args, 'crash')
    net.down.add(id)
    const before = net.queue.length
    net.queue = net.queue.filter(q => q.to !== id)
    return [`${id} crashed (${before - net.queue.length} queued messages to it lost)`]
  }

  private restart (args: Args): string[] {
    const net = this.net
    const id = this.one(args, 'restart')
    if (!net.down.has(id)) throw new Error(`restart: replica ${id} is up (crash it first)`)
    const app = new KvApp()
    const records = net.persisted[id] as PersistRecord[]
    net.apps[id] = app
    net.replicas[id] = Replica.restore(net.config(id), cryptoFor(id), app, records, net.now)
    net.down.delete(id)
    return [`${id} restarted from ${records.length} persisted records`, this.statusLine(id)]
  }

  private partition (args: Args): string[] {
    checkKeys(args, [])
    const net = this.net
    const groups = args.words.join(' ').split('|').map(g => g.trim()).filter(g => g.length > 0).map(g => intList(g.replaceAll(' ', ''), 'partition') as number[])
    const group = Array.from({ length: net.n }, () => groups.length)
    groups.forEach((members, index) => { for (const id of members) group[id] = index })
    net.group = group
    const before = net.queue.length
    net.queue = net.queue.filter(q => net.connected(q.from, q.to))
    const all = [...groups]
    const rest = [...Array(net.n).keys()].filter(id => group[id] === groups.length)
    if (rest.length > 0) all.push(rest)
    return [`partitioned: ${all.map(g => `{${g.join(',')}}`).join(' | ')} (${before - net.queue.length} queued messages lost)`]
  }

  private heal (args: Args): string[] {
    checkKeys(args, [])
    this.net.group = null
    return ['healed']
  }

  private queue (args: Args): string[] {
    checkKeys(args, ['from', 'to', 'type', 'seq'])
    const filter = filterOf(args)
    const queued = this.net.queue.filter(q => this.net.matches(q, filter))
    return queued.length === 0 ? ['empty'] : queued.map(q => `${q.from}→${q.to} ${formatMessage(q.message)}`)
  }

  private statusLine (id: number): string {
    const net = this.net
    if (net.down.has(id)) return `${id}: down`
    const replica = net.replica(id)
    const s = replica.status()
    // The log size is not part of ReplicaStatus: peek at the private map (test-only, guarded).
    const log: unknown = (replica as unknown as { log?: unknown }).log
    const seqs = log instanceof Map ? ranges([...log.keys()].filter((k): k is number => typeof k === 'number')) : '?'
    return `${id}: view=${s.view} primary=${s.primary} ${s.active ? 'active' : 'view-change'} lastExecuted=${s.lastExecuted} ` +
      `stable=${s.stableSeq} watermarks=(${s.lowWater},${s.highWater}] log=${seqs} pending=${s.pending}`
  }

  private status (args: Args): string[] {
    checkKeys(args, [])
    return [...Array(this.net.n).keys()].map(id => this.statusLine(id))
  }

  private state (args: Args): string[] {
    checkKeys(args, [])
    const net = this.net
    const ids = args.words.length === 0 ? [...Array(net.n).keys()] : [this.one(args, 'state')]
    return ids.map(id => {
      if (net.down.has(id)) return `${id}: down`
      const entries = (net.apps[id] as KvApp).entries()
      return `${id}: ${entries.length === 0 ? '(empty)' : entries.map(([k, v]) => `${k}=${v}`).join(' ')}`
    })
  }
}

// ————————————————————————————————————————— the file format

interface Block {
  /** comment and blank lines before the command, verbatim */
  before: string[]
  command: string
  line: number
  expected: string[]
}

function parse (text: string, path: string): { blocks: Block[], trailing: string[] } {
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  const blocks: Block[] = []
  let before: string[] = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    if (line.trim() === '' || line.startsWith('#')) { before.push(line); continue }
    if (lines[i + 1] !== '----') throw new Error(`${path}:${i + 1}: expected ---- after the command`)
    const expected: string[] = []
    let j = i + 2
    while (j < lines.length && (lines[j] as string) !== '') expected.push(lines[j++] as string)
    blocks.push({ before, command: line, line: i + 1, expected })
    before = []
    i = j // the blank line that ends the block (or the end)
  }
  return { blocks, trailing: before }
}

function render (blocks: Array<{ before: string[], command: string, output: string[] }>, trailing: string[]): string {
  const out: string[] = []
  for (const block of blocks) out.push(...block.before, block.command, '----', ...block.output, '')
  out.push(...trailing)
  while (out.length > 0 && out[out.length - 1] === '') out.pop()
  return out.join('\n') + '\n'
}

/** Run one transcript; with `rewrite`, write the actual outputs back into the file. */
export function runTranscript (path: string, rewrite: boolean): { expected: string, actual: string } {
  const { blocks, trailing } = parse(readFileSync(path, 'utf8'), path)
  const interpreter = new Interpreter()
  const results = blocks.map(block => {
    const [command = '', ...rest] = tokenize(block.command)
    let output: string[]
    try {
      output = interpreter.run(command, parseArgs(rest))
    } catch (error) {
      throw new Error(`${path}:${block.line}: ${block.command}: ${(error as Error).message}`)
    }
    return { before: block.before, command: block.command, output, expected: block.expected }
  })
  const expected = render(results.map(r => ({ ...r, output: r.expected })), trailing)
  const actual = render(results, trailing)
  if (rewrite && actual !== expected) writeFileSync(path, actual)
  return { expected, actual }
}
