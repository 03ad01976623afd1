/** `mesh mcp`: the Model Context Protocol server on stdio, attached to the local node (src/mcp/server.ts). */
import type { Command } from 'commander'
import type { ClientOptions } from './client.js'

export function addMcpCommand (program: Command, clientOptions: (options: { dataDir?: string, api?: string, apiToken?: string }) => ClientOptions): void {
  program.command('mcp')
    .description('serve the Model Context Protocol on stdio for the node of --data-dir, so agents drive the mesh (swarm_*, daa_*, memory_usage, task_orchestrate, …)')
    .option('--data-dir <dir>', 'data dir of the node to attach to, or to start one in (swarm_init) (default ~/.mesh; env MESH_DATA_DIR)')
    .option('--api <host:port>', 'attach to the node at this API address instead (env MESH_API_URL)')
    .option('--api-token <token>', 'bearer token, if the node requires one (env MESH_API_TOKEN)')
    .addHelpText('after', `
stdout carries the protocol (JSON-RPC); logs go to stderr. An MCP client starts it, e.g. in its config:
  {"mcpServers": {"mesh": {"command": "mesh", "args": ["mcp", "--data-dir", "/home/me/.mesh"]}}}
or: claude mcp add mesh -- mesh mcp --data-dir ~/.mesh
Tools: swarm_init, swarm_status, swarm_monitor, daa_communication, daa_consensus, daa_fault_tolerance,
memory_usage, performance_report, task_orchestrate, topology_optimize (see docs/mcp.md).`)
    .action(async (options: { dataDir?: string, api?: string, apiToken?: string }) => {
      // loaded here so the other commands do not pay for the SDK at start-up
      const { runMcpServer } = await import('../mcp/server.js')
      await runMcpServer(clientOptions(options))
    })
}
