/**
 * swarm_init's "start a node": spawn `node <bin/mesh.js> start --data-dir D …` detached, its output to
 * D/node.log, and wait until it has written runtime.json and its API answers. The node outlives the MCP
 * server (it is the mesh; the MCP server is only a client of it).
 */
import { spawn } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RuntimeInfo } from '../runtime/data-dir.js'

export const nodeLogFile = 'node.log'
/** Log bytes quoted back when a started node exits at once. */
const logTailBytes = 1500
const pollIntervalMs = 100
const healthTimeoutMs = 2_000

export class LaunchError extends Error {
  override readonly name = 'LaunchError'
}

export interface LaunchOptions {
  meshBin: string
  dataDir: string
  /** Arguments after `start --data-dir D --json`. */
  args: string[]
  waitMs: number
  env?: Record<string, string | undefined>
  /** Bearer token for the health check, when the node requires one. */
  apiToken?: string
}

export interface Launched {
  pid: number
  logPath: string
  runtime: RuntimeInfo
}

function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

function tail (path: string): string {
  try {
    const text = readFileSync(path, 'utf8')
    return text.slice(-logTailBytes).trim()
  } catch {
    return '(no log)'
  }
}

function readRuntime (dataDir: string): RuntimeInfo | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as RuntimeInfo
  } catch {
    return undefined
  }
}

export async function launchNode (options: LaunchOptions): Promise<Launched> {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 })
  const logPath = join(options.dataDir, nodeLogFile)
  const log = openSync(logPath, 'a')
  const args = [options.meshBin, 'start', '--data-dir', options.dataDir, '--json', ...options.args]
  let exit: string | null = null
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', log, log], env: { ...process.env, ...options.env } })
  closeSync(log)
  child.once('exit', (code, signal) => { exit = signal != null ? `signal ${signal}` : `code ${String(code)}` })
  child.once('error', err => { exit = err.message })
  child.unref()
  if (child.pid == null) throw new LaunchError(`could not spawn ${process.execPath} ${args.join(' ')}`)
  const pid = child.pid
  const deadline = Date.now() + options.waitMs
  for (;;) {
    if (exit != null) throw new LaunchError(`the node exited at once (${String(exit)}); its log (${logPath}) ends with:\n${tail(logPath)}`)
    const runtime = readRuntime(options.dataDir)
    // a runtime.json left by an earlier node of this data dir is not this one's
    if (runtime?.pid === pid) {
      try {
        const res = await fetch(`${runtime.api}/health`, {
          headers: options.apiToken != null ? { authorization: `Bearer ${options.apiToken}` } : {},
          signal: AbortSignal.timeout(healthTimeoutMs)
        })
        await res.body?.cancel()
        if (res.ok) return { pid, logPath, runtime }
      } catch {}
    }
    if (Date.now() > deadline) {
      throw new LaunchError(`the node (PID ${pid}) did not answer on its API within ${options.waitMs} ms; it keeps starting in the background: see ${logPath}, and call swarm_init again (or stop it with kill ${pid})`)
    }
    await sleep(pollIntervalMs)
  }
}
