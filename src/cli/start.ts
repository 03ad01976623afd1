/** `mesh start`: run a node in the foreground until SIGINT/SIGTERM. */
import type { NodeConfig } from '../runtime/config.js'
import { startMesh } from '../runtime/start-mesh.js'
import type { RunningMesh } from '../runtime/start-mesh.js'

// The node itself (genesis, MeshNode, tasks, messaging, API, …) starts and stops in src/runtime/start-mesh.ts.
export { loadConfigFile } from '../runtime/start-mesh.js'
export type { StartedNode } from '../runtime/start-mesh.js' // [fuzz]

/** Hard bound on a graceful shutdown: the issue asks for exit within 5 s. */
const shutdownDeadlineMs = 4_500

export async function runStart (flags: Partial<Record<keyof NodeConfig, unknown>>, configPath: string | undefined, json: boolean): Promise<RunningMesh> {
  const out = (human: string, event: Record<string, unknown>): void => {
    process.stdout.write(json ? JSON.stringify({ time: new Date().toISOString(), ...event }) + '\n' : human + '\n')
  }
  const mesh = await startMesh(flags, configPath, { out })

  let shuttingDown = false
  const shutdown = (signal: string): void => {
    if (shuttingDown) return
    shuttingDown = true
    out(`received ${signal}: leaving the mesh`, { event: 'stopping', signal })
    const hardStop = setTimeout(() => {
      out('shutdown took too long; exiting', { event: 'stopped', graceful: false })
      mesh.abandon()
      process.exit(1)
    }, shutdownDeadlineMs)
    hardStop.unref()
    void mesh.stop().then(() => {
      out('stopped', { event: 'stopped', graceful: true })
      process.exit(0)
    })
  }
  process.on('SIGINT', () => { shutdown('SIGINT') })
  process.on('SIGTERM', () => { shutdown('SIGTERM') })
  return mesh // [fuzz] an in-process caller (test/fuzz/) drives the node; the CLI ignores it
}
