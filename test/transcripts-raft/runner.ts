/**
 * Scripted transcripts for the pure Raft core (etcd-io/raft testdata/*.txt, "datadriven" style): a
 * transcript drives a few `RaftNode`s through a deterministic in-memory network, command by command,
 * and records what they did. test/unit/raft-transcripts.test.ts runs every `*.txt` beside this file.
 *
 * Regenerate after a deliberate change of the core (then READ the diff):
 *
 *   MESH_REWRITE_TRANSCRIPTS=1 npx vitest run test/unit/raft-transcripts.test.ts
 *
 * File format (as test/transcripts/): blocks of a command line, `----`, expected output lines, a blank
 * line; `#` lines and blank lines before a command are comments.
 *
 * Commands (node ids are strings, usually 1..n; key=value arguments, values with spaces in quotes):
 *
 *   nodes voters=1,2,3 [learners=4] [join=5] [election=10] [heartbeat=1] [prevote=true] [checkquorum=true]
 *         [inflight=4] [maxentries=64] [snapshot=1000] [keep=100] [chunk=1048576] [seed=1]
 *       Genesis nodes (voters and learners share the bootstrap entry) and joiners (empty, no membership).
 *   campaign 1 | tick [1,2] [count=k] [quiet] | propose 1 client=c1 id=1 ops="put x 1;put y 2"
 *   read 1 key=r1 | change 1 add-learner|promote|remove 4 | transfer 1 to=2
 *       Inputs to one node (tick: to the listed up nodes, or all); prints every effect, sends included.
 *   deliver [from=..] [to=..] [type=..] [count=k] [quiet] | drop [from=..] [to=..] [type=..] [count=k]
 *       FIFO delivery of queued messages that match; each delivery prints `from→to message` and,
 *       indented, what the receiver did apart from sends (use `queue` to see those).
 *   crash 1 | restart 1 | partition 1,2 | 3 | heal | queue [...] | status | log 1 | state
 *
 * `quiet` shows only role changes, commits, replies and reads.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { RaftNode } from '../../src/core/raft/node.js'
import { formatMembership } from '../../src/core/raft/membership.js'
import type { ClientRequest, Effect, Entry, Membership, Message, PersistRecord, RaftConfig } from '../../src/core/raft/types.js'
import { SeededRandom } from '../../src/core/random.js'
import { KeyValueApp } from '../sim/app.js'

// ————————————————————————————————————————— formatting

function formatEntry (entry: Entry): string {
  const head = `${entry.index}/${entry.term}`
  switch (entry.kind) {
    case 'empty': return `${head} empty`
    case 'bootstrap': return `${head} bootstrap ${formatMembership(entry.membership as Membership)}`
    case 'membership': return `${head} ${entry.change?.type ?? '?'} ${entry.change?.node ?? '?'}`
    case 'requests': return `${head} ${(entry.requests ?? []).map(r => `${r.client}#${r.requestId}`).join(',')}`
  }
}

function entryRange (entries: Entry[]): string {
  if (entries.length === 0) return '[]'
  if (entries.length <= 3) return `[${entries.map(formatEntry).join(', ')}]`
  return `[${formatEntry(entries[0] as Entry)} … ${formatEntry(entries[entries.length - 1] as Entry)}] (${entries.length})`
}

export function formatMessage (m: Message): string {
  const t = `t${m.term}`
  switch (m.type) {
    case 'vote': return `${m.preVote ? 'pre-vote' : 'vote'} ${t} last=${m.lastIndex}/${m.lastTerm}${m.transfer ? ' transfer' : ''}`
    case 'vote-response': return `${m.preVote ? 'pre-vote' : 'vote'}-response ${t} ${m.granted ? 'granted' : 'rejected'}`
    case 'append': return `append ${t} prev=${m.prevIndex}/${m.prevTerm} commit=${m.commit} ${entryRange(m.entries)}`
    case 'append-response': return m.reject ? `append-response ${t} reject ${m.index} hint=${m.hintIndex}/${m.hintTerm}` : `append-response ${t} ok ${m.index}`
    case 'heartbeat': return `heartbeat ${t} commit=${m.commit} read=${m.readId}`
    case 'heartbeat-response': return `heartbeat-response ${t} read=${m.readId}`
    case 'snapshot': return `snapshot ${t} at=${m.snapshotIndex}/${m.snapshotTerm} offset=${m.offset} len=${m.chunk.length}/${m.size}${m.done ? ' done' : ''}`
    case 'snapshot-response': return `snapshot-response ${t} at=${m.snapshotIndex} next=${m.next}${m.reject ? ' reject' : ''}`
    case 'timeout-now': return `timeout-now ${t}`
    case 'forward': return `forward ${t} ${m.requests.map(r => `${r.client}#${r.requestId}`).join(',')}`
    case 'read-index': return `read-index ${t} ${m.readKey}`
    case 'read-index-response': return `read-index-response ${t} ${m.readKey} index=${m.index}`
  }
}

function formatRecord (r: PersistRecord): string {
  switch (r.kind) {
    case 'hard-state': return `hard-state term=${r.term} vote=${r.vote ?? '-'} commit=${r.commit}`
    case 'entries': return `entries ${entryRange(r.entries)}`
    case 'snapshot': return `snapshot at=${r.snapshot.index}/${r.snapshot.term} compact-to=${r.compactTo}${r.keepLog ? '' : ' (log discarded)'}`
  }
}

const quietTypes = new Set<Effect['type']>(['role', 'committed', 'reply', 'read-ready', 'read-failed', 'refused', 'membership', 'snapshot-installed'])

function formatEffect (e: Effect): string {
  switch (e.type) {
    case 'persist': return `persist ${formatRecord(e.record)}`
    case 'send': return `send ${e.message.from}→${e.message.to} ${formatMessage(e.message)}`
    case 'committed': return `committed ${formatEntry(e.entry)}`
    case 'reply': return `reply ${e.request.client}#${e.request.requestId} at ${e.index} ${JSON.stringify(e.result)}`
    case 'read-ready': return `read-ready ${e.readKey} index=${e.index}`
    case 'read-failed': return `read-failed ${e.readKey} ${e.reason}`
    case 'refused': return `refused ${e.requests.map(r => `${r.client}#${r.requestId}`).join(',')} ${e.reason}${e.leader != null ? ` leader=${e.leader}` : ''}`
    case 'role': return `role ${e.role} term=${e.term}${e.leader != null ? ` leader=${e.leader}` : ''}`
    case 'membership': return `membership ${formatMembership(e.membership)} at ${e.index}`
    case 'snapshot-taken': return `snapshot taken at ${e.index}`
    case 'snapshot-installed': return `snapshot installed at ${e.index}`
    case 'drop': return `drop ${e.reason}${e.from != null ? ` from ${e.from}` : ''}${e.detail != null ? ` (${e.detail})` : ''}`
  }
}

// ————————————————————————————————————————— arguments

interface Args { words: string[], named: Map<string, string>, flags: Set<string> }

function parseArgs (tokens: string[]): Args {
  const args: Args = { words: [], named: new Map(), flags: new Set() }
  for (const token of tokens) {
    const eq = token.indexOf('=')
    if (eq > 0) {
      let value = token.slice(eq + 1)
      if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1)
      args.named.set(token.slice(0, eq), value)
    } else if (token === 'quiet') args.flags.add(token)
    else args.words.push(token)
  }
  return args
}

function tokenize (line: string): string[] {
  return [...line.matchAll(/[^\s"=]+="[^"]*"|\S+/g)].map(m => m[0])
}

function list (text: string | undefined): string[] | null {
  return text == null || text === '' ? null : text.split(',')
}

function int (text: string | undefined, fallback: number): number {
  if (text == null) return fallback
  const value = Number(text)
  if (!Number.isSafeInteger(value)) throw new Error(`not an integer: ${text}`)
  return value
}

// ————————————————————————————————————————— the cluster

interface Queued { message: Message }

class Cluster {
  nodes = new Map<string, RaftNode>()
  apps = new Map<string, KeyValueApp>()
  records = new Map<string, PersistRecord[]>()
  genesis = new Map<string, Membership | null>()
  down = new Set<string>()
  group: Map<string, number> | null = null
  queue: Queued[] = []

  constructor (readonly config: Omit<RaftConfig, 'id'>, readonly seed: number) {}

  add (id: string, genesis: Membership | null): void {
    const app = new KeyValueApp()
    this.apps.set(id, app)
    this.genesis.set(id, genesis)
    this.records.set(id, [])
    this.nodes.set(id, new RaftNode({ ...this.config, id }, app, this.random(id), genesis))
  }

  random (id: string): SeededRandom {
    return new SeededRandom(this.seed * 1000 + [...id].reduce((sum, c) => sum + c.charCodeAt(0), 0))
  }

  node (id: string): RaftNode {
    const node = this.nodes.get(id)
    if (node == null) throw new Error(`no node ${id}`)
    if (this.down.has(id)) throw new Error(`node ${id} is down`)
    return node
  }

  connected (a: string, b: string): boolean {
    return this.group == null || this.group.get(a) === this.group.get(b)
  }

  /** Perform effects (persist, queue sends); the printable lines, sends and persists left out when `brief`. */
  perform (id: string, effects: Effect[], mode: 'all' | 'no-sends' | 'quiet'): string[] {
    const lines: string[] = []
    for (const effect of effects) {
      if (effect.type === 'persist') this.records.get(id)?.push(structuredClone(effect.record))
      if (effect.type === 'send') {
        const to = effect.message.to
        if (this.nodes.has(to) && !this.down.has(to) && this.connected(id, to)) this.queue.push({ message: structuredClone(effect.message) })
      }
      if (mode === 'quiet' && !quietTypes.has(effect.type)) continue
      if (mode === 'no-sends' && effect.type === 'send') continue
      lines.push(`${id}: ${formatEffect(effect)}`)
    }
    return lines
  }
}

function matches (q: Queued, args: Args): boolean {
  const from = list(args.named.get('from'))
  const to = list(args.named.get('to'))
  const type = list(args.named.get('type'))
  return (from == null || from.includes(q.message.from)) && (to == null || to.includes(q.message.to)) && (type == null || type.includes(q.message.type))
}

class Interpreter {
  private cluster: Cluster | null = null

  private get net (): Cluster {
    if (this.cluster == null) throw new Error('no nodes yet: start with `nodes voters=1,2,3`')
    return this.cluster
  }

  run (command: string, args: Args): string[] {
    switch (command) {
      case 'nodes': return this.nodes(args)
      case 'campaign': return this.input(args, () => ({ type: 'campaign' }))
      case 'propose': return this.input(args, () => {
        const client = args.named.get('client') ?? 'c1'
        const first = int(args.named.get('id'), 1)
        const ops = (args.named.get('ops') ?? 'put x 1').split(';')
        const requests: ClientRequest[] = ops.map((operation, k) => ({ client, requestId: first + k, operation: operation.trim() }))
        return { type: 'propose', requests }
      })
      case 'read': return this.input(args, () => ({ type: 'read', readKey: args.named.get('key') ?? 'r1' }))
      case 'change': return this.input(args, () => {
        const [, type, node] = args.words
        if ((type !== 'add-learner' && type !== 'promote' && type !== 'remove') || node == null) throw new Error('change <id> add-learner|promote|remove <node>')
        return { type: 'change', change: { type, node } }
      })
      case 'transfer': return this.input(args, () => ({ type: 'transfer', to: args.named.get('to') ?? '' }))
      case 'tick': return this.tick(args)
      case 'deliver': return this.deliver(args)
      case 'drop': {
        const count = int(args.named.get('count'), Number.MAX_SAFE_INTEGER)
        let dropped = 0
        this.net.queue = this.net.queue.filter(q => { if (dropped < count && matches(q, args)) { dropped++; return false } return true })
        return [`dropped ${dropped}`]
      }
      case 'crash': {
        const id = args.words[0] as string
        this.net.node(id)
        this.net.down.add(id)
        this.net.queue = this.net.queue.filter(q => q.message.to !== id)
        return [`${id} crashed`]
      }
      case 'restart': {
        const net = this.net
        const id = args.words[0] as string
        if (!net.down.has(id)) throw new Error(`${id} is up`)
        const app = new KeyValueApp()
        const records = net.records.get(id) as PersistRecord[]
        net.apps.set(id, app)
        net.nodes.set(id, RaftNode.restore({ ...net.config, id }, app, net.random(id), net.genesis.get(id) ?? null, records))
        net.down.delete(id)
        return [`${id} restarted from ${records.length} records`, this.statusLine(id)]
      }
      case 'partition': {
        const groups = args.words.join(' ').split('|').map(g => g.trim().split(',').filter(s => s !== ''))
        const group = new Map<string, number>()
        groups.forEach((members, index) => { for (const id of members) group.set(id, index) })
        for (const id of this.net.nodes.keys()) if (!group.has(id)) group.set(id, groups.length)
        this.net.group = group
        this.net.queue = this.net.queue.filter(q => this.net.connected(q.message.from, q.message.to))
        return [`partitioned: ${groups.map(g => `{${g.join(',')}}`).join(' | ')}`]
      }
      case 'heal': this.net.group = null; return ['healed']
      case 'queue': {
        const queued = this.net.queue.filter(q => matches(q, args))
        return queued.length === 0 ? ['empty'] : queued.map(q => `${q.message.from}→${q.message.to} ${formatMessage(q.message)}`)
      }
      case 'status': return [...this.net.nodes.keys()].map(id => this.statusLine(id))
      case 'log': {
        const view = this.net.node(args.words[0] as string).logView()
        return [`offset=${view.offset}/${view.offsetTerm}`, ...view.entries.map(formatEntry)]
      }
      case 'state': return [...this.net.nodes.keys()].map(id => {
        if (this.net.down.has(id)) return `${id}: down`
        const snapshot = JSON.parse((this.net.apps.get(id) as KeyValueApp).snapshot()) as Array<[string, string]>
        return `${id}: ${snapshot.length === 0 ? '(empty)' : snapshot.map(([k, v]) => `${k}=${v}`).join(' ')}`
      })
      default: throw new Error(`unknown command ${command}`)
    }
  }

  private nodes (args: Args): string[] {
    const bool = (key: string, fallback: boolean): boolean => (args.named.get(key) ?? String(fallback)) === 'true'
    const config: Omit<RaftConfig, 'id'> = {
      electionTick: int(args.named.get('election'), 10),
      heartbeatTick: int(args.named.get('heartbeat'), 1),
      preVote: bool('prevote', true),
      checkQuorum: bool('checkquorum', true),
      maxInflight: int(args.named.get('inflight'), 4),
      maxEntriesPerAppend: int(args.named.get('maxentries'), 64),
      snapshotInterval: int(args.named.get('snapshot'), 1000),
      compactionKeep: int(args.named.get('keep'), 100),
      snapshotChunkSize: int(args.named.get('chunk'), 1024 * 1024)
    }
    const voters = list(args.named.get('voters')) ?? ['1', '2', '3']
    const learners = list(args.named.get('learners')) ?? []
    const join = list(args.named.get('join')) ?? []
    this.cluster = new Cluster(config, int(args.named.get('seed'), 1))
    const genesis = { voters, learners }
    for (const id of [...voters, ...learners]) this.cluster.add(id, genesis)
    for (const id of join) this.cluster.add(id, null)
    return [...this.cluster.nodes.keys()].map(id => this.statusLine(id))
  }

  private input (args: Args, make: () => import('../../src/core/raft/types.js').Input): string[] {
    const id = args.words[0]
    if (id == null) throw new Error('which node?')
    return this.net.perform(id, this.net.node(id).step(make()), args.flags.has('quiet') ? 'quiet' : 'all')
  }

  private tick (args: Args): string[] {
    const net = this.net
    const ids = list(args.words[0]) ?? [...net.nodes.keys()].filter(id => !net.down.has(id))
    const count = int(args.named.get('count'), 1)
    const lines: string[] = []
    for (let k = 0; k < count; k++) {
      for (const id of ids) lines.push(...net.perform(id, net.node(id).step({ type: 'tick' }), args.flags.has('quiet') ? 'quiet' : 'all'))
    }
    return lines.length === 0 ? ['ok'] : lines
  }

  private deliver (args: Args): string[] {
    const net = this.net
    const count = int(args.named.get('count'), Number.MAX_SAFE_INTEGER)
    const quiet = args.flags.has('quiet')
    const lines: string[] = []
    let delivered = 0
    while (delivered < count) {
      const index = net.queue.findIndex(q => matches(q, args))
      if (index < 0) break
      const { message } = net.queue.splice(index, 1)[0] as Queued
      delivered++
      if (net.down.has(message.to)) continue
      if (!quiet) lines.push(`${message.from}→${message.to} ${formatMessage(message)}`)
      const effects = net.node(message.to).step({ type: 'message', message })
      lines.push(...net.perform(message.to, effects, quiet ? 'quiet' : 'no-sends').map(line => quiet ? line : `  ${line}`))
      if (delivered > 10_000) throw new Error('deliver: more than 10,000 messages (a loop?)')
    }
    if (quiet) lines.push(`(${delivered} delivered)`)
    return lines.length === 0 ? ['nothing to deliver'] : lines
  }

  private statusLine (id: string): string {
    const net = this.net
    if (net.down.has(id)) return `${id}: down`
    const s = net.node(id).status()
    return `${id}: ${s.role} term=${s.term} vote=${s.vote ?? '-'} leader=${s.leader ?? '-'} commit=${s.commit} applied=${s.applied} ` +
      `log=${s.firstIndex}..${s.lastIndex} snapshot=${s.snapshotIndex} ${formatMembership(s.membership)}`
  }
}

// ————————————————————————————————————————— the file format

interface Block { before: string[], command: string, line: number, expected: string[] }

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
    i = j
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
export function runRaftTranscript (path: string, rewrite: boolean): { expected: string, actual: string } {
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
