/**
 * The node processes of `mesh demo`: one temp folder, a data dir and a log file per node, `mesh start`
 * children on 127.0.0.1 (OS-chosen ports), kill / restart by PID, and a stop that leaves nothing behind.
 *
 * No child may outlive the demo:
 *   - normal paths (q, Ctrl-C, SIGTERM, a failed start): `stopAll` sends SIGTERM, waits, then SIGKILLs
 *     leftovers by PID and removes the temp folder;
 *   - the demo exiting any other way (an uncaught error): `killAllNow`, run on 'exit', SIGKILLs them;
 *   - the demo itself killed (SIGKILL, OOM): every child runs a watchdog (`--import` of a tiny module)
 *     that notices its parent changed and sends itself SIGTERM within a second.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { loadIdentity, peerIdOf } from '../runtime/data-dir.js'
import type { RuntimeInfo } from '../runtime/data-dir.js'
import { CliError } from './client.js'

/** Heartbeats every second and suspicion after 5 s: failures show in the table within seconds. */
const heartbeatIntervalMs = 1_000
const failureTimeoutMs = 5_000
/** Built-in task handlers every demo node offers (src/runtime/tasks/executor.ts builtinHandlers). */
export const demoCapabilities = ['echo', 'sha256', 'sleep'] as const
/** A node writes runtime.json once it listens; a loaded 2-core box can take many seconds. */
const startTimeoutMs = 90_000
/** After SIGTERM a node hands over leadership and stops (start.ts gives itself 4.5 s): then SIGKILL. */
const stopGraceMs = 8_000
/** How often the child's watchdog checks that its parent (the demo) is still there. */
const watchdogIntervalMs = 1_000

/**
 * Loaded into every child before the mesh CLI: once the demo is gone (the child was re-parented), the
 * node stops itself as on Ctrl-C (SIGTERM: hand over, close, remove runtime.json).
 */
const watchdogSource = `const parent = process.ppid; setInterval(() => { if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM') }, ${watchdogIntervalMs}).unref()`
const watchdogImport = `data:text/javascript,${encodeURIComponent(watchdogSource)}`

export interface DemoNode {
  /** 1-based; node 1 is the first voter, the seed, and the node whose view the table shows. */
  index: number
  name: string
  dataDir: string
  peerId: string
  /** `mesh start` flags beyond the common ones (--bootstrap, --voters …), the same on every restart. */
  extraArgs: string[]
  child: ChildProcess | null
  /** Of the process now or last running. */
  pid: number | null
  runtime: RuntimeInfo | null
  /** How its last process ended ("SIGKILL", "exit 1"), null while it runs or before it first ran. */
  ended: string | null
  /** Every PID this node has had (so a test or the user can check none is left). */
  pids: number[]
}

/** One HTTP answer, whatever its status (transport errors throw). */
export interface ApiAnswer<T> { status: number, body: T }

/** A JSON request to a node's API that does not throw on a non-2xx status. */
export async function callApi<T> (base: string, method: string, path: string, body?: unknown, timeoutMs = 5_000): Promise<ApiAnswer<T>> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body !== undefined ? { 'content-type': 'application/json' } : {},
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(timeoutMs)
  })
  const text = await res.text()
  let parsed: unknown
  try { parsed = JSON.parse(text) } catch { parsed = { error: text.slice(0, 200) } }
  return { status: res.status, body: parsed as T }
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** The `mesh` script this process runs (bin/mesh.js), to start the demo nodes with. */
export function meshScript (): string {
  const script = process.argv[1]
  if (script == null) throw new CliError('cannot tell which mesh script is running')
  return realpathSync(script)
}

/**
 * How the user runs this CLI from a shell: `mesh` when the `mesh` on PATH is this script, else
 * `node <path of bin/mesh.js>` (so the printed commands work as shown).
 */
export function meshCommand (): string {
  const script = meshScript()
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    try {
      if (realpathSync(join(dir, 'mesh')) === script) return 'mesh'
    } catch {}
  }
  return `node ${script}`
}

export class DemoCluster {
  readonly nodes: DemoNode[] = []
  /** Called when a node's process ends while the demo is not stopping (killed by `k` or by the user). */
  onEnded: ((node: DemoNode) => void) | null = null
  private stopping = false
  private readonly script: string

  private constructor (readonly root: string, readonly network: string) {
    this.script = meshScript()
  }

  /** A temp folder with `count` data dirs, each with its identity (so PeerIds are known before start). */
  static async create (count: number): Promise<DemoCluster> {
    const root = mkdtempSync(join(tmpdir(), 'mesh-demo-'))
    const cluster = new DemoCluster(root, `demo-${process.pid}`)
    try {
      for (let index = 1; index <= count; index++) {
        const dataDir = join(root, `node-${index}`)
        mkdirSync(dataDir, { recursive: true, mode: 0o700 })
        const { privateKey } = await loadIdentity(dataDir, true)
        cluster.nodes.push({ index, name: `demo-${index}`, dataDir, peerId: peerIdOf(privateKey), extraArgs: [], child: null, pid: null, runtime: null, ended: null, pids: [] })
      }
    } catch (err) {
      rmSync(root, { recursive: true, force: true })
      throw err
    }
    return cluster
  }

  node (index: number): DemoNode {
    const node = this.nodes[index - 1]
    if (node == null) throw new Error(`no demo node ${index}`)
    return node
  }

  running (node: DemoNode): boolean {
    return node.child != null && node.child.exitCode == null && node.child.signalCode == null
  }

  logFile (node: DemoNode): string {
    return join(this.root, `${node.name}.log`)
  }

  /**
   * Start `node` with the common flags plus `extraArgs` (kept for restarts) and wait for its
   * runtime.json. `ports` pins the TCP and API ports (a restart keeps the addresses others know).
   */
  async start (node: DemoNode, extraArgs: string[], ports?: { tcp: number, api: number }): Promise<RuntimeInfo> {
    if (this.stopping) throw new CliError('the demo is stopping')
    if (this.running(node)) throw new Error(`${node.name} is already running`)
    node.extraArgs = extraArgs
    const args = ['--import', watchdogImport, this.script, 'start',
      '--data-dir', node.dataDir,
      '--listen', `/ip4/127.0.0.1/tcp/${ports?.tcp ?? 0}`,
      '--api', `127.0.0.1:${ports?.api ?? 0}`,
      '--name', node.name,
      '--network', this.network,
      '--capabilities', demoCapabilities.join(','),
      '--heartbeat-interval-ms', String(heartbeatIntervalMs),
      '--failure-timeout-ms', String(failureTimeoutMs),
      // several demos (or a demo and other meshes) on one machine must not find each other
      '--mdns', 'off',
      ...extraArgs]
    const log = openSync(this.logFile(node), 'a')
    let child: ChildProcess
    try {
      // detached: false, so the children share the demo's process group (a terminal's Ctrl-C reaches them too)
      child = spawn(process.execPath, args, { stdio: ['ignore', log, log], detached: false })
    } finally {
      closeSync(log)
    }
    node.child = child
    node.ended = null
    node.runtime = null
    if (child.pid != null) {
      node.pid = child.pid
      node.pids.push(child.pid)
    }
    child.on('exit', (code, signal) => {
      node.ended = signal != null ? signal : `exit ${code ?? '?'}`
      if (!this.stopping && node.child === child) this.onEnded?.(node)
    })
    const runtime = await this.waitForRuntime(node, child)
    node.runtime = runtime
    return runtime
  }

  /** Start a node that ended again: same data dir, same flags, same ports when they are free. */
  async restart (node: DemoNode): Promise<RuntimeInfo> {
    const previous = node.runtime
    const ports = previous != null ? portsOf(previous) : undefined
    try {
      return await this.start(node, node.extraArgs, ports)
    } catch (err) {
      // its old port was taken meanwhile (the node exits at once): start on fresh ports
      if (ports == null || this.stopping || this.running(node)) throw err
      return await this.start(node, node.extraArgs)
    }
  }

  /** Send `signal` to a running node's process. */
  kill (node: DemoNode, signal: NodeJS.Signals): void {
    if (node.pid != null && this.running(node)) {
      try { process.kill(node.pid, signal) } catch {}
    }
  }

  /** SIGTERM every node, wait, SIGKILL what is left (by PID), remove the temp folder. */
  async stopAll (): Promise<void> {
    this.stopping = true
    for (const node of this.nodes) this.kill(node, 'SIGTERM')
    const deadline = Date.now() + stopGraceMs
    while (this.nodes.some(n => this.running(n)) && Date.now() < deadline) await sleep(100)
    for (const node of this.nodes) this.kill(node, 'SIGKILL')
    const killedDeadline = Date.now() + 3_000
    while (this.nodes.some(n => this.running(n)) && Date.now() < killedDeadline) await sleep(50)
    this.removeRoot()
  }

  /** Synchronous last resort (process 'exit'): SIGKILL every node still running, remove the temp folder. */
  killAllNow (): void {
    this.stopping = true
    for (const node of this.nodes) this.kill(node, 'SIGKILL')
    this.removeRoot()
  }

  private removeRoot (): void {
    try { rmSync(this.root, { recursive: true, force: true }) } catch {}
  }

  /** Its runtime.json, once written by this very process (a killed node leaves its old one behind). */
  private async waitForRuntime (node: DemoNode, child: ChildProcess): Promise<RuntimeInfo> {
    const deadline = Date.now() + startTimeoutMs
    const path = join(node.dataDir, 'runtime.json')
    while (Date.now() < deadline) {
      if (child.exitCode != null || child.signalCode != null) {
        throw new CliError(`${node.name} exited while starting (${child.signalCode ?? `code ${child.exitCode ?? '?'}`}); its log: ${lastLines(this.logFile(node), 5)}`)
      }
      if (existsSync(path)) {
        try {
          const info = JSON.parse(readFileSync(path, 'utf8')) as RuntimeInfo
          if (info.pid === child.pid) return info
        } catch {}
      }
      await sleep(100)
    }
    throw new CliError(`${node.name} did not start within ${startTimeoutMs / 1000} s; see ${this.logFile(node)}`)
  }
}

/** The TCP port of a node's first loopback listen address and its API port, to restart it on them. */
function portsOf (runtime: RuntimeInfo): { tcp: number, api: number } | undefined {
  const tcp = runtime.multiaddrs.map(a => /^\/ip4\/127\.0\.0\.1\/tcp\/(\d+)/.exec(a)?.[1]).find(p => p != null)
  const api = /:(\d+)\/?$/.exec(runtime.api)?.[1]
  if (tcp == null || api == null) return undefined
  return { tcp: Number(tcp), api: Number(api) }
}

function lastLines (file: string, count: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-count).join(' | ')
  } catch {
    return `(no log at ${file})`
  }
}
