/**
 * Bench-side helpers on top of the e2e harness: start nodes through the real `bin/mesh.js`, poll every
 * node's status at once, and keep a failed run's logs.
 */
import { copyFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import type { Cluster, NodeProcess } from '../e2e/harness.js'
import type { NodeStatus } from '../../src/runtime/mesh-node.js'

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
