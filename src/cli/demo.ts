/**
 * `mesh demo`: a newcomer's first look. Starts N node processes on 127.0.0.1 (OS-chosen ports, fresh
 * data dirs in a temp folder), joins them through the first, prints a live status table of the first
 * node every second, and on Ctrl-C stops them all (by PID) and removes the temp folder.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, openSync, realpathSync, rmSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { NodeStatus } from '../runtime/mesh-node.js'
import type { RuntimeInfo } from '../runtime/data-dir.js'
import { CliError, getJson } from './client.js'
import { statusText } from './format.js'

/** The `mesh` script this process runs (bin/mesh.js), to start the demo nodes with. */
function meshScript (): string {
  const script = process.argv[1]
  if (script == null) throw new CliError('cannot tell which mesh script is running')
  return realpathSync(script)
}

async function waitForRuntime (dataDir: string, child: ChildProcess, timeoutMs: number): Promise<RuntimeInfo> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode != null) throw new CliError(`a demo node exited early (code ${child.exitCode}); see ${dataDir}.log`)
    try {
      return JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as RuntimeInfo
    } catch {}
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new CliError(`a demo node did not start within ${timeoutMs} ms; see ${dataDir}.log`)
}

export async function runDemo (count: number, json: boolean): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'mesh-demo-'))
  const children: ChildProcess[] = []
  const network = `demo-${process.pid}`
  const startNode = (index: number, bootstrap: string | undefined): { child: ChildProcess, dataDir: string } => {
    const dataDir = join(root, `node-${index}`)
    const args = [meshScript(), 'start', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0',
      '--name', `demo-${index}`, '--network', network, '--heartbeat-interval-ms', '1000', '--failure-timeout-ms', '5000']
    if (bootstrap != null) args.push('--bootstrap', bootstrap)
    args.push('--consensus', 'none') // [founding] the demo stays a gossip-only mesh until `mesh demo` founds its network (the demo helper's change drops this line)
    const log = openSync(join(root, `node-${index}.log`), 'a')
    const child = spawn(process.execPath, args, { stdio: ['ignore', log, log] })
    children.push(child)
    return { child, dataDir }
  }
  let stopping = false
  const stopAll = async (): Promise<void> => {
    if (stopping) return
    stopping = true
    for (const child of children) if (child.exitCode == null && child.pid != null) process.kill(child.pid, 'SIGTERM')
    const deadline = Date.now() + 6_000
    while (children.some(c => c.exitCode == null && c.signalCode == null) && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    for (const child of children) if (child.exitCode == null && child.signalCode == null && child.pid != null) process.kill(child.pid, 'SIGKILL')
    rmSync(root, { recursive: true, force: true })
  }
  process.on('SIGINT', () => { void stopAll().then(() => process.exit(0)) })
  process.on('SIGTERM', () => { void stopAll().then(() => process.exit(0)) })

  try {
    const first = startNode(1, undefined)
    const seed = await waitForRuntime(first.dataDir, first.child, 20_000)
    const seedAddress = seed.multiaddrs[0]
    if (seedAddress == null) throw new CliError('the first demo node has no listen address')
    for (let i = 2; i <= count; i++) startNode(i, seedAddress)
    process.stdout.write(`started ${count} nodes in ${root} (network ${network}); Ctrl-C stops them all\n`)
    for (;;) {
      if (stopping) return
      try {
        const status = await getJson<NodeStatus>({ dataDir: first.dataDir, api: seed.api }, '/v1/status')
        if (json) {
          process.stdout.write(JSON.stringify(status) + '\n')
        } else {
          process.stdout.write('\x1b[2J\x1b[H' + `mesh demo: ${count} nodes, view of demo-1 — Ctrl-C to stop\n` +
            `kill one to watch failure detection:  kill -9 <pid>   (pids: ${children.map(c => c.pid).join(' ')})\n\n` + statusText(status) + '\n')
        }
      } catch (err) {
        process.stdout.write(`waiting for demo-1: ${(err as Error).message}\n`)
      }
      await new Promise(resolve => setTimeout(resolve, 1_000))
    }
  } catch (err) {
    await stopAll()
    throw err
  }
}
