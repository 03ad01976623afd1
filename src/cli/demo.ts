/**
 * `mesh demo`: a newcomer's first look. Starts N node processes on 127.0.0.1 (OS-chosen ports, fresh
 * data dirs in a temp folder), forms a Raft network of up to 3 voters with the rest as workers
 * (src/cli/demo-form.ts), submits a few tasks, stores a value and opens a proposal, then redraws a live
 * table each second (src/cli/demo-view.ts). Keys (on a terminal): k kills a random member other than
 * node 1, r restarts the last one that ended, q (or Ctrl-C) stops every node by PID, removes the temp
 * folder and exits 0. `--json` prints one JSON snapshot per second instead, without keys.
 * docs/demo.md describes what the user sees.
 */
import { CliError } from './client.js'
import { DemoCluster, callApi, meshCommand, sleep } from './demo-nodes.js'
import type { DemoNode } from './demo-nodes.js'
import { formNetwork } from './demo-form.js'
import { demoKey, renderSnapshot, takeSnapshot } from './demo-view.js'
import type { DemoSnapshot } from './demo-view.js'

/** Voters of the demo network: 3 (tolerates one failure), or every node when there are fewer. */
const votersMax = 3
/** Tasks the demo submits once the network has formed. */
const demoTasks = 5
/** The table is redrawn this often. */
const redrawIntervalMs = 1_000
/** Seeding writes (tasks, value, proposal) are retried this long (an election may be under way). */
const seedTimeoutMs = 60_000

export interface DemoOptions {
  nodes: number
  json: boolean
}

/** Terminal control sequences (only written when stdout is a terminal). */
const terminal = {
  clear: '\x1b[2J\x1b[H',
  home: '\x1b[H',
  clearLineEnd: '\x1b[K',
  clearBelow: '\x1b[J',
  hideCursor: '\x1b[?25l',
  showCursor: '\x1b[?25h'
}

/** A write through node 1 (or the leader a 421 names), retried while refused; the answer's body, or null after `seedTimeoutMs`. */
async function seedWrite<T> (cluster: DemoCluster, method: string, path: string, body: unknown, accept: (status: number) => boolean): Promise<T | null> {
  const deadline = Date.now() + seedTimeoutMs
  let base = cluster.node(1).runtime?.api
  while (Date.now() < deadline && base != null) {
    try {
      const answer = await callApi<T & { leader?: string | null }>(base, method, path, body, 30_000)
      if (accept(answer.status)) return answer.body
      if (answer.status === 421 && answer.body.leader != null) base = cluster.nodes.find(n => n.peerId === answer.body.leader)?.runtime?.api ?? base
    } catch {}
    await sleep(500)
  }
  return null
}

/** Wait (bounded) until node 1 sees every demo node alive, so the first tasks find every worker. */
async function waitForMembers (cluster: DemoCluster, progress: (line: string) => void): Promise<void> {
  const base = cluster.node(1).runtime?.api
  if (base == null) return
  progress(`waiting until ${cluster.node(1).name} sees all ${cluster.nodes.length} members alive`)
  const deadline = Date.now() + seedTimeoutMs
  while (Date.now() < deadline) {
    try {
      const answer = await callApi<{ counts?: { alive?: number } }>(base, 'GET', '/v1/status')
      if ((answer.body.counts?.alive ?? 0) >= cluster.nodes.length) return
    } catch {}
    await sleep(300)
  }
  progress('warning: not every member is alive yet; going on')
}

/** Submit the demo's tasks, store the demo value and open a proposal; the proposal's id. */
async function seedWorkload (cluster: DemoCluster, progress: (line: string) => void): Promise<string | null> {
  progress(`submitting ${demoTasks} tasks, storing default/${demoKey}, opening a proposal`)
  // routed by the hash of their ids (strategy dht), so they spread over the nodes from the start (an
  // auction favours the node with a record of finished tasks: on a fresh network, the submitter)
  const tasks = Array.from({ length: demoTasks }, (_, i) => i === demoTasks - 1
    ? { id: `demo-task-${i + 1}`, capabilities: ['sleep'], payload: { ms: 3_000 }, strategy: 'dht' }
    : { id: `demo-task-${i + 1}`, capabilities: ['sha256'], payload: { demo: i + 1 }, strategy: 'dht' })
  // 202 accepted (some or all), 409 every id already known (an earlier attempt that timed out went through)
  const submitted = await seedWrite(cluster, 'POST', '/v1/tasks', { tasks }, status => status === 202 || status === 409)
  if (submitted == null) progress('warning: the demo tasks were not accepted in time')
  const stored = await seedWrite(cluster, 'PUT', `/v1/memory/default/${demoKey}`, { value: `hello from ${cluster.node(1).name}` }, status => status === 200)
  if (stored == null) progress(`warning: default/${demoKey} was not stored in time`)
  const proposal = await seedWrite<{ id?: string }>(cluster, 'POST', '/v1/proposals', { proposal: { title: 'adopt the demo network', by: cluster.node(1).name }, threshold: 0.67 }, status => status === 200)
  const proposalId = proposal?.id ?? null
  // left open: the table shows how to vote on it
  if (proposalId == null) progress('warning: the demo proposal was not recorded in time')
  return proposalId
}

/** The banner above the table: where to look and three commands to try, with real values. */
function banner (cluster: DemoCluster, options: DemoOptions, keys: boolean, mesh: string, snapshot: DemoSnapshot): string {
  const first = cluster.node(1)
  // the member to kill -9: a running worker if there is one (by the table's roles), else any running node but demo-1
  const candidates = snapshot.members.filter(m => m.process === 'running' && m.pid != null && m.name !== first.name)
  const target = [...candidates].reverse().find(m => m.role === 'worker') ?? candidates[candidates.length - 1]
  const quote = (text: string): string => `'${text.replace(/'/g, "'\\''")}'`
  return [
    `mesh demo: ${options.nodes} node${options.nodes === 1 ? '' : 's'} on 127.0.0.1, network ${cluster.network}, data dirs and logs in ${cluster.root}`,
    `live page  ${first.runtime?.api ?? '-'}/   (${first.name}'s API: members, consensus and tasks, live)`,
    'try, in another terminal:',
    target?.pid != null
      ? `  kill -9 ${target.pid}                    # ${target.name}, a ${target.role}: watch it turn suspect, then failed`
      : '  (kill -9 <pid>: the PID column lists every node)',
    `  ${mesh} task submit --capability sha256 --payload ${quote('{"hello":"mesh"}')} --data-dir ${first.dataDir} --wait`,
    `  ${mesh} memory store ${demoKey} hello --data-dir ${first.dataDir}`,
    keys
      ? 'keys: k kill a random member (not demo-1)   r restart the last one killed   q quit (stops every node, removes the folder)'
      : 'Ctrl-C stops every node and removes the folder'
  ].join('\n')
}

export async function runDemo (options: DemoOptions): Promise<void> {
  const cluster = await DemoCluster.create(options.nodes)
  const voters = Math.min(votersMax, options.nodes)
  const keys = !options.json && process.stdin.isTTY === true && typeof process.stdin.setRawMode === 'function'
  const live = !options.json && process.stdout.isTTY === true
  let status: string | null = null
  /** Members whose process ended (k, or killed from outside), latest last: r restarts the latest still down. */
  const ended: DemoNode[] = []
  let quitting: Promise<never> | null = null
  let rawMode = false

  const restoreTerminal = (): void => {
    if (rawMode) {
      try { process.stdin.setRawMode(false) } catch {}
      rawMode = false
    }
    process.stdin.pause()
    if (live) process.stdout.write(terminal.showCursor)
  }
  // last resort: whatever ends this process, no node outlives it (normal paths stop them first)
  process.on('exit', () => {
    cluster.killAllNow()
    restoreTerminal()
  })
  const quit = async (): Promise<never> => {
    quitting ??= (async () => {
      restoreTerminal()
      const pids = cluster.nodes.flatMap(n => n.pids)
      if (!options.json) process.stdout.write(`\nstopping ${cluster.nodes.filter(n => cluster.running(n)).length} node(s)…\n`)
      await cluster.stopAll()
      const left = pids.filter(pid => { try { process.kill(pid, 0); return true } catch { return false } })
      if (!options.json) process.stdout.write(`${left.length === 0 ? `stopped; none of their processes is left (PIDs ${pids.join(' ')})` : `WARNING: still running: PIDs ${left.join(' ')}`}; removed ${cluster.root}\n`)
      process.exit(0)
    })()
    return await quitting
  }
  process.on('SIGINT', () => { void quit() })
  process.on('SIGTERM', () => { void quit() })
  process.on('SIGHUP', () => { void quit() })

  cluster.onEnded = node => {
    ended.splice(0, ended.length, ...ended.filter(n => n !== node), node)
    // ended because k killed it: the status line already says so
    if (status?.startsWith(`killed ${node.name} `) === true) return
    status = `${node.name} (PID ${node.pid ?? '?'}) ended: ${node.ended ?? '?'}${keys ? '; press r to restart it' : ''}`
  }

  const progress = (line: string): void => {
    if (options.json) process.stderr.write(`mesh demo: ${line}\n`)
    else process.stdout.write(`mesh demo: ${line}\n`)
  }

  let proposalId: string | null
  try {
    progress(`${options.nodes} node(s), ${voters} voter(s), in ${cluster.root}`)
    await formNetwork(cluster, voters, progress)
    await waitForMembers(cluster, progress)
    proposalId = await seedWorkload(cluster, progress)
  } catch (err) {
    if (quitting != null) return await quitting
    restoreTerminal()
    await cluster.stopAll()
    throw err
  }

  const killRandom = (): string => {
    const candidates = cluster.nodes.filter(n => n.index > 1 && cluster.running(n))
    const victim = candidates[Math.floor(Math.random() * candidates.length)]
    if (victim == null) return 'no running member to kill (demo-1 is never killed by k)'
    cluster.kill(victim, 'SIGKILL')
    return `killed ${victim.name} (PID ${victim.pid ?? '?'}) with SIGKILL; watch it turn suspect, then failed; r restarts it`
  }
  const restartLast = (): string => {
    let node = ended.pop()
    while (node != null && cluster.running(node)) node = ended.pop()
    if (node == null) return 'nothing to restart: every member runs (k kills one)'
    const target = node
    void cluster.restart(target).then(
      () => { status = `restarted ${target.name} (PID ${target.pid ?? '?'}) on its data dir; it rejoins` },
      err => { if (quitting == null) status = `could not restart ${target.name}: ${(err as Error).message}` })
    return `restarting ${target.name}…`
  }

  if (keys) {
    process.stdin.setRawMode(true)
    rawMode = true
    process.stdin.setEncoding('utf8')
    process.stdin.resume()
    process.stdin.on('data', (chunk: string) => {
      for (const key of chunk) {
        if (key === 'q' || key === 'Q' || key === '\x03' || key === '\x04') { void quit(); return }
        if (key === 'k' || key === 'K') status = killRandom()
        if (key === 'r' || key === 'R') status = restartLast()
      }
    })
  }

  const mesh = meshCommand()
  if (live) process.stdout.write(terminal.hideCursor + terminal.clear)
  for (let first = true; quitting == null; first = false) {
    const snapshot = await takeSnapshot(cluster, { proposalId, status, mesh })
    if (quitting != null) break
    if (options.json) {
      process.stdout.write(JSON.stringify(snapshot) + '\n')
    } else {
      const text = `${banner(cluster, options, keys, mesh, snapshot)}\n\n${renderSnapshot(snapshot)}\n`
      if (live) process.stdout.write(terminal.home + text.split('\n').join(`${terminal.clearLineEnd}\n`) + terminal.clearBelow)
      else process.stdout.write(`${first ? '' : '\n'}${text}`)
    }
    await sleep(redrawIntervalMs)
  }
  await quitting
}

/** Parse `--nodes` (a usage error names the flag). */
export function demoNodeCount (value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > 24) throw new CliError(`--nodes: "${value}" must be a whole number from 1 to 24`, 2)
  return n
}

/** The text after `mesh demo --help`'s options. */
export const demoHelp = `
Starts the nodes in a temp folder (fresh data dirs, OS-chosen ports on 127.0.0.1)
and forms a Raft network: node 1 first, nodes 2 and 3 added and promoted to
voters; the rest are workers (they follow the log and run tasks). Every node
offers the built-in capabilities echo, sha256 and sleep. Then it submits
${demoTasks} tasks, stores default/${demoKey}, opens a proposal, and redraws a table
each second: members (state, role, load, PID), consensus (leader, term, commit
index), tasks, the value and the proposal. The banner prints the live page's
URL and three commands to try, with real values.

Keys (when stdin is a terminal):
  k        kill (SIGKILL) a random running member other than node 1
  r        restart the last member that was killed (same data dir and flags)
  q, ^C    stop every node (SIGTERM, then SIGKILL by PID), remove the temp
           folder, exit 0

See docs/demo.md.`
