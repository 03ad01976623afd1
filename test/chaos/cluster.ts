/**
 * The chaos harness's cluster: 4 validators of a `mesh testnet` (pBFT or Raft) and 2 observer workers,
 * real `node bin/mesh.js start` processes (test/e2e/harness.ts), every one offering the `chaos`
 * capability through an external handler that logs each run it begins. As root with a usable
 * `ip netns`, every node runs in its own network namespace on one bridge (test/e2e/netns.ts), so the
 * nemesis can cut hosts off; otherwise all run on 127.0.0.1 and partitions are skipped.
 *
 * Fault primitives (by PID only): kill -9 and restart with the same data dir, SIGSTOP / SIGCONT, and
 * (namespaces) the host's bridge port down / up.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Cluster, sleep, waitUntil } from '../e2e/harness.js'
import type { NodeProcess, StartOptions } from '../e2e/harness.js'
import { NetnsLab, netnsUnavailableReason } from '../e2e/netns.js'
import type { Host } from '../e2e/netns.js'
import type { NodeStatus } from '../../src/runtime/mesh-node.js'

export const validatorCount = 4
export const workerCount = 2
/** Fixed ports inside namespaces: every host has its own network stack. */
const p2pPort = 4747
const apiPort = 4748

/** The task handler: logs `<taskId> <nodeName> <nodePid>` when it begins, echoes the payload after payload.ms. */
const handlerScript = `import { appendFileSync } from 'node:fs'
const [log, node] = process.argv.slice(2)
let text = ''
process.stdin.on('data', d => { text += d })
process.stdin.on('end', () => {
  const payload = JSON.parse(text)
  appendFileSync(log, payload.id + ' ' + node + ' ' + process.ppid + '\\n')
  setTimeout(() => { process.stdout.write(text) }, payload.ms)
})
`

export interface ChaosNode {
  name: string
  role: 'validator' | 'worker'
  dataDir: string
  config: string
  host: Host | null
  apiUrl: string | undefined
  process: NodeProcess | null
  state: 'up' | 'down' | 'paused'
  isolated: boolean
  /** Process ids of every life of this node, in order. */
  pids: number[]
}

export interface TaskRun { task: string, node: string, nodePid: number }

export class ChaosCluster {
  readonly cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  readonly nodes: ChaosNode[] = []
  lab: NetnsLab | null = null
  /** Why partitions are off, or null when they are available. */
  readonly partitionsUnavailable: string | null
  readonly runLog: string
  private seeds: string[] = []
  private genesis = ''

  constructor (readonly engine: 'pbft' | 'raft', wantNetns: boolean) {
    this.partitionsUnavailable = wantNetns ? (netnsUnavailableReason() ?? null) : 'disabled (--no-partitions)'
    this.runLog = join(this.cluster.root, 'task-runs.log')
  }

  get root (): string { return this.cluster.root }

  async setup (log: (line: string) => void): Promise<void> {
    const testnet = this.cluster.testnet(validatorCount, { consensus: this.engine })
    const genesis = join(testnet[0]?.dataDir as string, 'genesis.json')
    const script = join(this.root, 'chaos-handler.mjs')
    writeFileSync(script, handlerScript)
    const handlers = (name: string): object => ({ handlers: { chaos: { command: [process.execPath, script, this.runLog, name], timeout_ms: 60_000 } } })
    for (const v of testnet) {
      writeFileSync(v.config, JSON.stringify({ ...JSON.parse(readFileSync(v.config, 'utf8')) as object, ...handlers(v.name) }))
      this.nodes.push({ name: v.name, role: 'validator', dataDir: v.dataDir, config: v.config, host: null, apiUrl: undefined, process: null, state: 'down', isolated: false, pids: [] })
    }
    for (let i = 1; i <= workerCount; i++) {
      const name = `worker-${i}`
      const config = join(this.root, `${name}.json`)
      writeFileSync(config, JSON.stringify(handlers(name)))
      this.genesis = genesis
      this.nodes.push({ name, role: 'worker', dataDir: join(this.root, name), config, host: null, apiUrl: undefined, process: null, state: 'down', isolated: false, pids: [] })
    }
    if (this.partitionsUnavailable == null) {
      this.lab = new NetnsLab(`mc${process.pid % 100000}`)
      const hosts = this.lab.create(this.nodes.length)
      for (const [i, node] of this.nodes.entries()) {
        node.host = hosts[i] as Host
        node.apiUrl = await this.lab.startApiRelay(node.host, apiPort, this.root)
      }
      log(`network namespaces: ${hosts.map(h => `${h.ns} ${h.address}`).join(', ')}`)
    }
    for (const node of this.nodes) {
      await this.start(node)
      if (this.seeds.length === 0) this.seeds = [(node.process as NodeProcess).runtime.multiaddrs[0] as string]
    }
    // every later start bootstraps from all the others (any live one is enough)
    this.seeds = this.nodes.map(n => n.process?.runtime.multiaddrs[0]).filter((a): a is string => a != null)
    for (const node of this.nodes) {
      await this.cluster.waitForStatus(node.process as NodeProcess, `${this.nodes.length} alive members offering chaos`, (s: NodeStatus) =>
        s.members.filter(m => m.state === 'alive' && m.capabilities.includes('chaos')).length === this.nodes.length, 180_000)
    }
  }

  private async start (node: ChaosNode): Promise<void> {
    const options: StartOptions = {
      dataDir: node.dataDir,
      extraArgs: ['--config', node.config, '--capabilities', 'chaos', '--max-concurrent', node.role === 'worker' ? '4' : '2', ...(node.role === 'worker' ? ['--genesis', this.genesis] : [])],
      bootstrap: this.seeds.filter(s => !s.endsWith(node.process?.runtime.peerId ?? '\u0000'))
    }
    if (node.host != null && this.lab != null) {
      options.listen = [`/ip4/${node.host.address}/tcp/${p2pPort}`]
      options.api = `127.0.0.1:${apiPort}`
      options.wrap = this.lab.wrap(node.host)
      options.apiUrl = node.apiUrl
    }
    node.process = await this.cluster.start(node.name, options)
    node.pids.push(node.process.pid)
    node.state = 'up'
  }

  /** kill -9 (by PID) and wait for the exit. */
  async kill (node: ChaosNode): Promise<void> {
    const proc = node.process
    if (proc == null || node.state === 'down') return
    if (node.state === 'paused') this.cluster.kill(proc, 'SIGCONT')
    this.cluster.kill(proc, 'SIGKILL')
    await this.cluster.waitExit(proc, 15_000).catch(() => undefined)
    node.state = 'down'
  }

  /** Start again on the same data dir; a start that fails is retried (a loaded box may be slow to free the port). */
  async restart (node: ChaosNode): Promise<void> {
    if (node.state !== 'down') return
    let lastError: unknown
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.start(node)
        return
      } catch (err) {
        lastError = err
        // a start that was only slow (the harness waits 30 s for runtime.json; a box at load 40 took
        // longer) leaves its process running and holding the data dir lock: stop it (it is ours: its
        // command line names this data dir) before the next attempt
        await this.killLockHolder(node)
        await sleep(1_000)
      }
    }
    throw new Error(`could not restart ${node.name}: ${(lastError as Error).message}`)
  }

  /** SIGKILL the process named in the data dir's lock when it is one of ours for this data dir. */
  private async killLockHolder (node: ChaosNode): Promise<void> {
    let pid: number
    try {
      pid = Number(readFileSync(join(node.dataDir, 'node.lock'), 'utf8').trim())
    } catch {
      return
    }
    if (!Number.isInteger(pid) || pid <= 1) return
    let cmdline = ''
    try { cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8') } catch { return }
    if (!cmdline.includes(node.dataDir) || !cmdline.includes('mesh.js')) return
    try { process.kill(pid, 'SIGKILL') } catch { return }
    for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) await sleep(100)
  }

  pause (node: ChaosNode): void {
    if (node.process == null || node.state !== 'up') return
    this.cluster.kill(node.process, 'SIGSTOP')
    node.state = 'paused'
  }

  resume (node: ChaosNode): void {
    if (node.process == null || node.state !== 'paused') return
    this.cluster.kill(node.process, 'SIGCONT')
    node.state = 'up'
  }

  /** Cut the host off at the switch (its TCP connections stall, nothing is reset). */
  isolate (node: ChaosNode): void {
    if (this.lab == null || node.host == null || node.isolated) return
    this.lab.linkDown(node.host, 'switch')
    node.isolated = true
  }

  reconnect (node: ChaosNode): void {
    if (this.lab == null || node.host == null || !node.isolated) return
    this.lab.linkUp(node.host, 'switch')
    node.isolated = false
  }

  /** Undo every fault: links up, paused nodes continued, dead nodes restarted. */
  async healAll (): Promise<void> {
    for (const node of this.nodes) {
      this.reconnect(node)
      this.resume(node)
    }
    const errors: string[] = []
    for (const node of this.nodes) {
      if (node.state === 'down') await this.restart(node).catch((err: unknown) => { errors.push((err as Error).message) })
    }
    if (errors.length > 0) throw new Error(errors.join('; '))
  }

  /** Wait until every node sees every member alive and the engine has one view/leader everybody follows. */
  async waitHealthy (timeoutMs: number, log?: (line: string) => void): Promise<void> {
    let lastReport = Date.now()
    await waitUntil('every node to see every member alive and read-write', timeoutMs, async () => {
      const views: string[] = []
      let healthy = true
      for (const node of this.nodes) {
        const status = await this.cluster.status(node.process as NodeProcess).catch((err: unknown) => new Error(String(err)))
        if (status instanceof Error) { healthy = false; views.push(`${node.name}: ${status.message.slice(0, 80)}`); continue }
        const notAlive = status.members.filter(m => m.state !== 'alive').map(m => `${m.name}:${m.state}`)
        const alive = status.members.filter(m => m.state === 'alive').length
        if (alive !== this.nodes.length || status.mode !== 'read-write') healthy = false
        views.push(`${node.name}: ${alive} alive ${status.mode}${notAlive.length > 0 ? ` [${notAlive.join(' ')}]` : ''}`)
      }
      if (!healthy && log != null && Date.now() - lastReport > 15_000) { lastReport = Date.now(); log(`waiting for health: ${views.join('; ')}`) }
      return healthy ? true : undefined
    }, 500)
  }

  /** The handler's run log: one line per run begun. */
  runs (): TaskRun[] {
    if (!existsSync(this.runLog)) return []
    const out: TaskRun[] = []
    for (const line of readFileSync(this.runLog, 'utf8').split('\n')) {
      const [task, node, pid] = line.split(' ')
      if (task == null || task === '' || node == null || pid == null) continue
      out.push({ task, node, nodePid: Number(pid) })
    }
    return out
  }

  async stop (): Promise<void> {
    for (const node of this.nodes) this.resume(node)
    await this.cluster.stopAll()
    if (this.lab != null) await this.lab.destroy().catch(() => undefined)
  }
}
