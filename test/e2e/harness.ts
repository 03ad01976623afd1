/**
 * Multi-process test harness: spawns real `node bin/mesh.js start` processes (compiled code), waits
 * for conditions by polling their HTTP API with a deadline, and kills everything it started by PID.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { NodeStatus, MemberView } from '../../src/runtime/mesh-node.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { createMeshLibp2p } from '../../bootstrap/libp2p.js'
import type { MeshLibp2p } from '../../bootstrap/libp2p.js'
import type { RuntimeInfo } from '../../src/runtime/data-dir.js'

/** The repository root, found from this file whether it runs from test/e2e or dist/test/e2e. */
function findRepoRoot (): string {
  let dir = import.meta.dirname
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'bin', 'mesh.js')) && existsSync(join(dir, 'package.json'))) return dir
    dir = resolve(dir, '..')
  }
  throw new Error(`cannot find bin/mesh.js above ${import.meta.dirname}`)
}

export const repoRoot = findRepoRoot()
export const meshBin = join(repoRoot, 'bin', 'mesh.js')

export interface NodeProcess {
  name: string
  dataDir: string
  logPath: string
  child: ChildProcess
  pid: number
  runtime: RuntimeInfo
  /** Base URL of the node's HTTP API. */
  api: string
  token?: string
}

export interface StartOptions {
  bootstrap?: string[]
  dataDir?: string
  /** Defaults to /ip4/127.0.0.1/tcp/0. */
  listen?: string[]
  /** Defaults to 127.0.0.1:0. */
  api?: string
  apiToken?: string
  extraArgs?: string[]
  /** Command prefix, e.g. ['ip', 'netns', 'exec', 'h1'] to run the node inside a namespace. */
  wrap?: string[]
  /** API base URL to use instead of the one in runtime.json (e.g. a namespace address). */
  apiUrl?: string
  /** Extra environment variables for the node process. */
  env?: Record<string, string>
}

export interface ClusterOptions {
  network?: string
  heartbeatIntervalMs?: number
  failureTimeoutMs?: number
}

export function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** Poll `probe` until it returns a value that is not undefined, or fail after `timeoutMs`. */
export async function waitUntil<T> (description: string, timeoutMs: number, probe: () => Promise<T | undefined>, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${description}${lastError != null ? ` (last error: ${(lastError as Error).message})` : ''}`)
    }
    await sleep(intervalMs)
  }
}

/**
 * One JSON request to a node's HTTP API (the bearer token when the node has one); resolves with the
 * status and the parsed body whatever the status.
 */
export async function api<T> (node: NodeProcess, method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<{ status: number, body: T }> {
  const headers: Record<string, string> = body !== undefined ? { 'content-type': 'application/json' } : {}
  if (node.token != null) headers.authorization = `Bearer ${node.token}`
  const send = async (): Promise<Response> => await fetch(`${node.api}${path}`, {
    method,
    headers,
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(timeoutMs)
  })
  let res: Response
  try {
    res = await send()
  } catch (err) {
    // a kept-alive socket the node closed just as fetch reused it ("other side closed", seen on a loaded
    // box): a GET is safe to send again once; anything else surfaces as is
    const code = (err as { cause?: { code?: string } }).cause?.code
    if (method !== 'GET' || (code !== 'UND_ERR_SOCKET' && code !== 'ECONNRESET')) throw err
    res = await send()
  }
  return { status: res.status, body: await res.json() as T }
}

/** One validator of `mesh testnet`: its name, data dir and config file. */
export interface TestnetNode {
  name: string
  dataDir: string
  config: string
}

export class Cluster {
  readonly root: string
  readonly network: string
  readonly nodes: NodeProcess[] = []
  private readonly children = new Set<ChildProcess>()

  constructor (readonly options: ClusterOptions = {}) {
    this.root = mkdtempSync(join(tmpdir(), 'mesh-test-'))
    this.network = options.network ?? `t${process.pid}x${Math.floor(Math.random() * 1e6)}`
  }

  /** `mesh testnet --nodes n [--consensus raft]` into this cluster's directory: n member data dirs, configs and a shared genesis. */
  testnet (n: number, options: { consensus?: 'pbft' | 'raft' } = {}): TestnetNode[] {
    const made = spawnSync(process.execPath, [meshBin, 'testnet', '--nodes', String(n), '--dir', join(this.root, 'testnet'), '--network', this.network, '--consensus', options.consensus ?? 'pbft', '--json'], { encoding: 'utf8' })
    if (made.status !== 0) throw new Error(`mesh testnet failed (exit ${String(made.status)}): ${made.stderr}`)
    return (JSON.parse(made.stdout) as { nodes: TestnetNode[] }).nodes
  }

  /** Spawn `mesh start` and wait until it has written runtime.json. */
  async start (name: string, options: StartOptions = {}): Promise<NodeProcess> {
    const dataDir = options.dataDir ?? join(this.root, name)
    mkdirSync(dataDir, { recursive: true })
    const args = [meshBin, 'start', '--data-dir', dataDir, '--name', name, '--network', this.network,
      '--api', options.api ?? '127.0.0.1:0',
      '--heartbeat-interval-ms', String(this.options.heartbeatIntervalMs ?? 500),
      '--failure-timeout-ms', String(this.options.failureTimeoutMs ?? 3000)]
    for (const listen of options.listen ?? ['/ip4/127.0.0.1/tcp/0']) args.push('--listen', listen)
    for (const seed of options.bootstrap ?? []) args.push('--bootstrap', seed)
    if (options.apiToken != null) args.push('--api-token', options.apiToken)
    args.push(...(options.extraArgs ?? []))
    const logPath = join(this.root, `${name}.log`)
    const log = openSync(logPath, 'a')
    const [command, ...prefix] = options.wrap != null && options.wrap.length > 0 ? [...options.wrap, process.execPath] : [process.execPath]
    // [mdns] MESH_MDNS=off: tests on 127.0.0.1 run in parallel with similar network names and must not
    // discover each other over multicast (a test that wants mDNS passes env MESH_MDNS=on or --mdns on)
    // MESH_TEST_NODE_ARGS: extra node flags for every node (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to
    // profile a benchmark; NODE_OPTIONS refuses --cpu-prof)
    const nodeArgs = (process.env.MESH_TEST_NODE_ARGS ?? '').split(' ').filter(a => a !== '')
    // [founding] MESH_CONSENSUS=none: a node with no genesis stays gossip-only, as the tests written before
    // founding expect (a node given a genesis is unaffected; a founding test passes env MESH_CONSENSUS: '')
    const child = spawn(command as string, [...prefix, ...nodeArgs, ...args], { stdio: ['ignore', log, log], env: { ...process.env, MESH_DATA_DIR: '', MESH_MDNS: 'off', MESH_CONSENSUS: 'none', ...options.env } })
    this.children.add(child)
    child.once('exit', () => { this.children.delete(child) })
    if (child.pid == null) throw new Error(`could not spawn node ${name}`)
    const runtime = await waitUntil(`node ${name} to start (log: ${logPath})`, 30_000, async () => {
      if (child.exitCode != null || child.signalCode != null) {
        throw new Error(`node ${name} exited (${child.exitCode ?? child.signalCode}): ${readFileSync(logPath, 'utf8').slice(-2000)}`)
      }
      try {
        const info = JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as RuntimeInfo
        // a runtime.json left by an earlier (killed) process of the same data dir is not ours
        // (`ip netns exec` execs the command, so a wrapped node keeps the spawned PID)
        return info.pid === child.pid ? info : undefined
      } catch {
        return undefined
      }
    }, 50)
    const node: NodeProcess = { name, dataDir, logPath, child, pid: child.pid, runtime, api: options.apiUrl ?? runtime.api, token: options.apiToken }
    const index = this.nodes.findIndex(n => n.name === name)
    if (index >= 0) this.nodes[index] = node
    else this.nodes.push(node)
    return node
  }

  node (name: string): NodeProcess {
    const node = this.nodes.find(n => n.name === name)
    if (node == null) throw new Error(`no node ${name}`)
    return node
  }

  async status (node: NodeProcess): Promise<NodeStatus> {
    const res = await fetch(`${node.api}/v1/status`, {
      headers: node.token != null ? { authorization: `Bearer ${node.token}` } : {},
      signal: AbortSignal.timeout(5_000)
    })
    if (!res.ok) throw new Error(`status of ${node.name}: HTTP ${res.status}`)
    return await res.json() as NodeStatus
  }

  /** Wait until `node` sees `peerId` in `state` (or until the predicate on its status holds). */
  async waitForMemberState (node: NodeProcess, peerId: string, state: MemberView['state'], timeoutMs = 60_000): Promise<MemberView> {
    return await waitUntil(`${node.name} to see ${peerId} as ${state}`, timeoutMs, async () => {
      const status = await this.status(node)
      return status.members.find(m => m.peerId === peerId && m.state === state)
    })
  }

  async waitForStatus (node: NodeProcess, description: string, predicate: (status: NodeStatus) => boolean, timeoutMs = 60_000): Promise<NodeStatus> {
    return await waitUntil(`${node.name}: ${description}`, timeoutMs, async () => {
      const status = await this.status(node)
      return predicate(status) ? status : undefined
    })
  }

  kill (node: NodeProcess, signal: NodeJS.Signals): void {
    try { process.kill(node.pid, signal) } catch {}
  }

  async waitExit (node: NodeProcess, timeoutMs = 10_000): Promise<{ code: number | null, signal: string | null }> {
    const child = node.child
    if (child.exitCode != null || child.signalCode != null) return { code: child.exitCode, signal: child.signalCode }
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`${node.name} did not exit within ${timeoutMs} ms`)) }, timeoutMs)
      child.once('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal }) })
    })
  }

  log (node: NodeProcess): string {
    try { return readFileSync(node.logPath, 'utf8') } catch { return '' }
  }

  /** Kill every process this cluster started (by PID), then remove its files. Safe to call twice. */
  async stopAll (): Promise<void> {
    const alive = [...this.children].filter(c => c.exitCode == null && c.signalCode == null)
    if ((process.env.MESH_TEST_NODE_ARGS ?? '').includes('--cpu-prof')) {
      // a profiled node writes its profile only on a clean exit: SIGTERM first (it exits within 5 s)
      for (const child of alive) { if (child.pid != null) { try { process.kill(child.pid, 'SIGTERM') } catch {} } }
      await Promise.all(alive.map(async child => await new Promise<void>(resolve => {
        if (child.exitCode != null || child.signalCode != null) { resolve(); return }
        const timer = setTimeout(resolve, 6_000)
        child.once('exit', () => { clearTimeout(timer); resolve() })
      })))
    }
    for (const child of alive) {
      if (child.pid != null) { try { process.kill(child.pid, 'SIGKILL') } catch {} }
    }
    await Promise.all(alive.map(async child => await new Promise<void>(resolve => {
      if (child.exitCode != null || child.signalCode != null) { resolve(); return }
      const timer = setTimeout(resolve, 5_000)
      child.once('exit', () => { clearTimeout(timer); resolve() })
    })))
    if (process.env.MESH_KEEP_TEST_FILES == null) rmSync(this.root, { recursive: true, force: true })
  }
}

/**
 * A bare libp2p host of the mesh's network, in the test process, that a test drives by hand (to
 * publish garbage or forged messages). It runs our services but no membership: it only says what the
 * test makes it say.
 */
export async function startRoguePeer (network: string, privateKey?: PrivateKey): Promise<MeshLibp2p> {
  return await createMeshLibp2p({
    privateKey: privateKey ?? await generateKeyPair('Ed25519'),
    network,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    announce: [],
    bootstrap: [],
    maxConnections: 16,
    sync: { getEntries: () => [], onEntries: async () => 0 }
  })
}
