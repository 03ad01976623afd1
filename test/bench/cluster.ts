/**
 * Bench-side helpers on top of the e2e harness: start nodes through the real `bin/mesh.js`, poll every
 * node's status at once, and keep a failed run's logs.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { Cluster, meshBin } from '../e2e/harness.js'
import type { NodeProcess, StartOptions } from '../e2e/harness.js'
import type { NodeStatus } from '../../src/runtime/mesh-node.js'

/** The repository root, found from this file whether it runs from test/bench or dist/test/bench. */
function findRepoRoot (): string {
  let dir = import.meta.dirname
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'bin', 'mesh.js')) && existsSync(join(dir, 'package.json'))) return dir
    dir = resolve(dir, '..')
  }
  throw new Error(`cannot find bin/mesh.js above ${import.meta.dirname}`)
}

export const realMeshBin = join(findRepoRoot(), 'bin', 'mesh.js')

/**
 * The harness computes `meshBin` from its own location; compiled to dist/test/e2e that points at
 * dist/bin/mesh.js, which does not exist. In that case run the real bin/mesh.js through `sh -c exec`
 * (the harness's `wrap` hook): exec keeps the PID, so kill -9 and /proc/<pid> reach the node itself.
 */
export function startOptions (options: StartOptions): StartOptions {
  if (existsSync(meshBin)) return options
  // argv seen by sh: $0 = node, $1 = the harness's (missing) meshBin, $2… = `start` and its flags
  return { ...options, wrap: ['/bin/sh', '-c', `shift; exec "$0" '${realMeshBin}' "$@"`] }
}

export const harnessBinMissing = !existsSync(meshBin)

export interface Poll {
  node: NodeProcess
  status?: NodeStatus
  error?: string
  /** Date.now() when the answer (or the error) arrived: the status held at some time before this. */
  atMs: number
}

/** Status of every node at once; a node that does not answer is reported with its error. */
export async function pollAll (cluster: Cluster, nodes: NodeProcess[]): Promise<Poll[]> {
  return await Promise.all(nodes.map(async node => {
    try {
      const status = await cluster.status(node)
      return { node, status, atMs: Date.now() }
    } catch (err) {
      return { node, error: (err as Error).message, atMs: Date.now() }
    }
  }))
}

/** Copy the cluster's logs somewhere that survives stopAll(); returns the directory. */
export function keepLogs (cluster: Cluster, label: string): string {
  const dir = join(tmpdir(), `mesh-bench-${label}-${new Date().toISOString().replace(/[:.]/g, '-')}`)
  mkdirSync(dir, { recursive: true })
  for (const node of cluster.nodes) {
    try { copyFileSync(node.logPath, join(dir, basename(node.logPath))) } catch {}
  }
  return dir
}

export function progress (message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${message}\n`)
}
