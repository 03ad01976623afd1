/** The `mesh` command line (commander). Usage errors exit 2 with one line naming the flag. */
import { Command, CommanderError, Option } from 'commander'
import { ConfigError, defaultApiPort, defaultTcpPort, optionSpecs, parseOption } from '../runtime/config.js'
import type { NodeConfig } from '../runtime/config.js'
import { DataDirError, ensureDataDir, loadIdentity, peerIdOf } from '../runtime/data-dir.js'
import type { NodeStatus } from '../runtime/mesh-node.js'
import { CliError, getJson } from './client.js'
import { membersTable, statusText } from './format.js'
import { runStart } from './start.js'
import { demoHelp, demoNodeCount, runDemo } from './demo.js' // [demo]
import { parseZoneList, runGenesis, runTestnet } from './testnet.js'
import type { ConsensusMode } from '../runtime/consensus/types.js'
import { addConsensusCommands } from './consensus-commands.js'
import { addTaskCommands } from './task-commands.js'
import { addMcpCommand } from './mcp-command.js' // [mcp]
import { addMessageCommands } from './message-commands.js' // [messaging]
import { addMetricsCommands } from './metrics-commands.js' // [metrics]
import { addReputationCommands } from './reputation-commands.js' // [reputation]
import { addPskCommands } from './psk-commands.js'
import { addAggregateCommands } from './aggregate-commands.js' // [aggregate]
import { defaultNetwork } from '../runtime/config.js'

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value]

function dataDirOf (options: { dataDir?: string }): string {
  const spec = optionSpecs.find(s => s.key === 'dataDir')
  if (spec == null) throw new Error('dataDir option missing')
  const raw = options.dataDir ?? process.env.MESH_DATA_DIR ?? '~/.mesh'
  return parseOption(spec, raw) as string
}

function clientOptions (options: { dataDir?: string, api?: string, apiToken?: string }): { dataDir: string, api?: string, apiToken?: string } {
  return {
    dataDir: dataDirOf(options),
    api: options.api ?? process.env.MESH_API_URL,
    apiToken: options.apiToken ?? process.env.MESH_API_TOKEN
  }
}

function addClientOptions (command: Command): Command {
  return command
    .option('--data-dir <dir>', 'data dir of the node to ask (default ~/.mesh; env MESH_DATA_DIR)')
    .option('--api <host:port>', 'ask the node at this API address instead (env MESH_API_URL)')
    .option('--api-token <token>', 'bearer token, if the node requires one (env MESH_API_TOKEN)')
    .option('--json', 'print JSON for scripts')
}

export function buildProgram (): Command {
  const program = new Command('mesh')
    .description('A peer-to-peer libp2p mesh that coordinates a swarm of workers with no central server.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => { write(text.split('\n')[0] + ' (see mesh --help)\n') } })

  program.command('init')
    .description('create this node\'s identity (Ed25519 key) in the data dir and print its PeerId')
    .option('--data-dir <dir>', 'data dir (default ~/.mesh; env MESH_DATA_DIR)')
    .option('--json', 'print JSON')
    .action(async (options: { dataDir?: string, json?: boolean }) => {
      const dir = dataDirOf(options)
      ensureDataDir(dir)
      const { privateKey, created } = await loadIdentity(dir, true)
      const peerId = peerIdOf(privateKey)
      if (options.json === true) {
        console.log(JSON.stringify({ peerId, dataDir: dir, created }))
      } else {
        console.log(`${created ? 'created' : 'already initialised'}: ${dir}`)
        console.log(`PeerId ${peerId}`)
      }
    })

  const start = program.command('start')
    .description('start a node in the foreground (Ctrl-C or SIGTERM leaves the mesh gracefully)')
    .addHelpText('after', `
Every option can also come from the environment (MESH_<OPTION>, lists comma-separated) or from a JSON
file given with --config (keys as the option names, e.g. {"network": "lab", "listen": ["/ip4/0.0.0.0/tcp/${defaultTcpPort}"]}).
Precedence: flag > environment > config file > default.
Default ports: libp2p TCP ${defaultTcpPort}, HTTP API ${defaultApiPort} on 127.0.0.1.

Examples:
  mesh start --data-dir ./a --listen /ip4/127.0.0.1/tcp/4747
  mesh start --data-dir ./b --listen /ip4/127.0.0.1/tcp/0 --api 127.0.0.1:0 \\
             --bootstrap /ip4/127.0.0.1/tcp/4747/p2p/<PeerId of a>

Founding and joining (docs/founding.md):
  No genesis (no --genesis, no genesis.json in the data dir) and no --bootstrap: the node FOUNDS a
  one-member network (--consensus raft by default, or pbft), writes genesis.json into its data dir and
  prints its genesis hash; memory, tasks and proposals work at once; a restart reuses genesis.json.
  With mDNS on (the default on loopback/private addresses) it first waits ~3 s (MESH_FOUNDING_GRACE_MS)
  for LAN peers of the same --network: it joins a network one of them runs; among nodes founding at the
  same time the lowest PeerId founds and the others join it (they wait up to MESH_FOUNDING_WAIT_MS,
  20 s, then found anyway with a warning). --consensus none: never found or fetch (gossip only).
  --bootstrap and no genesis: the node asks the seeds for the genesis (/mesh/<network>/genesis/1.0.0),
  writes it to its data dir and runs as an observer (and worker). It trusts the network it bootstraps
  into and says so, unless --genesis-hash <hash> pins the genesis: another one is refused (exit 2).
  A seed that does not answer is asked again every 3 s, with a line each time, until it does (Ctrl-C
  stops); a seed with no genesis (gossip only) makes the joiner gossip-only too.
  Make joiners voters with mesh consensus add <peer> then promote <peer> (against the leader), or let
  the founder do it: --voters auto:3 adds the first joiners running its genesis as learners and promotes
  each once caught up, until 3 voters (Raft only).
  mesh start --data-dir ./a --listen /ip4/127.0.0.1/tcp/4747 --voters auto:3
  mesh start --data-dir ./b --listen /ip4/127.0.0.1/tcp/4757 --api 127.0.0.1:4758 \\
             --bootstrap /ip4/127.0.0.1/tcp/4747/p2p/<PeerId of a> --genesis-hash <hash a printed>`)
  for (const spec of optionSpecs) {
    const value = spec.kind === 'int' ? '<ms>' : spec.kind === 'list' ? '<value>' : spec.kind === 'address' ? '<host:port>' : '<value>'
    // [nat] a switch (--nat-upnp) may be given alone (on) or with on/off
    const option = new Option(`--${spec.flag} ${spec.kind === 'switch' ? '[on|off]' : spec.key === 'minPeers' || spec.key === 'maxPeers' ? '<n>' : value}`, `${spec.description} (default: ${spec.defaultText}; env ${spec.env})`)
    if (spec.kind === 'list') option.argParser(collect)
    start.addOption(option)
  }
  start
    .option('--config <file>', 'JSON config file')
    .option('--json', 'print events as JSON lines')
    .action(async (options: Record<string, unknown>) => {
      const flags: Partial<Record<keyof NodeConfig, unknown>> = {}
      for (const spec of optionSpecs) {
        if (options[spec.key] !== undefined) flags[spec.key] = options[spec.key]
      }
      await runStart(flags, options.config as string | undefined, options.json === true)
    })

  addClientOptions(program.command('status'))
    .description('show the running node: identity, addresses, mode, and the membership table')
    .action(async (options: { dataDir?: string, api?: string, apiToken?: string, json?: boolean }) => {
      const status = await getJson<NodeStatus>(clientOptions(options), '/v1/status')
      console.log(options.json === true ? JSON.stringify(status, null, 2) : statusText(status))
    })

  addClientOptions(program.command('peers'))
    .description('list the members of the mesh as the running node sees them')
    .action(async (options: { dataDir?: string, api?: string, apiToken?: string, json?: boolean }) => {
      const peers = await getJson<{ members: NodeStatus['members'] }>(clientOptions(options), '/v1/peers')
      console.log(options.json === true ? JSON.stringify(peers, null, 2) : membersTable(peers.members))
    })

  addConsensusCommands(program, addClientOptions, clientOptions)
  addTaskCommands(program, addClientOptions, clientOptions)
  // ── operating the mesh: each feature adds its commands below ──
  // [messaging]
  addMessageCommands(program, addClientOptions, clientOptions)
  // [metrics]
  addMetricsCommands(program, addClientOptions, clientOptions)
  addReputationCommands(program, addClientOptions, clientOptions) // [reputation] mesh reputation
  addPskCommands(program) // mesh psk generate
  // [aggregate]
  addAggregateCommands(program, addClientOptions, clientOptions)
  // [mcp]
  addMcpCommand(program, clientOptions)

  program.command('testnet')
    .description('write N validator data dirs (keys, a shared genesis.json, a config.json each) for a local test net')
    .requiredOption('--nodes <n>', 'how many validators (pBFT: 1, or 4 and more, n = 3f + 1; Raft: 1, or 3 and more, n = 2f + 1)')
    .option('--consensus <engine>', 'consensus engine of the genesis: pbft (Byzantine faults) or raft (crash faults)', 'pbft')
    .requiredOption('--dir <dir>', 'where to write node-1 … node-N')
    .option('--network <name>', 'network name', defaultNetwork)
    .option('--host <ip>', 'address the nodes listen on', '127.0.0.1')
    .option('--base-port <port>', 'TCP port of node-1 (node-i: base + i - 1; APIs at base + 100 + i - 1)', '4800')
    .option('--json', 'print JSON')
    .option('--zones <list>', 'zones for the validators, comma-separated, assigned round-robin (validator-i gets the ((i-1) mod k)-th); warns when more than f share one', collect) // [zones]
    .action(async (options: { nodes: string, dir: string, network: string, host: string, basePort: string, consensus: string, json?: boolean, zones?: string[] }) => {
      const consensus = consensusOption(options.consensus)
      const nodes = Number(options.nodes)
      const least = consensus === 'raft' ? 3 : 4
      if (!Number.isInteger(nodes) || nodes < 1 || nodes > 100 || (nodes > 1 && nodes < least)) {
        throw new CliError(`--nodes: "${options.nodes}" must be 1, or ${least} to 100 (${consensus === 'raft' ? 'Raft: n = 2f + 1' : 'pBFT: n = 3f + 1'})`, 2)
      }
      const basePort = Number(options.basePort)
      if (!Number.isInteger(basePort) || basePort < 1 || basePort + 100 + nodes > 65535) throw new CliError(`--base-port: "${options.basePort}" is not a usable port`, 2)
      if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(options.network)) throw new CliError(`--network: "${options.network}" must be 1-32 of a-z 0-9 _ -`, 2)
      await runTestnet({ nodes, dir: options.dir, network: options.network, host: options.host, basePort, consensus, json: options.json === true, zones: parseZoneList('zones', options.zones ?? []) }) // [zones] zones
    })

  program.command('genesis')
    .description('write a genesis file from validator PeerIds collected on several machines (mesh init prints them)')
    .option('--validator <peerId>', 'a validator PeerId (repeatable, in order)', collect)
    .option('--name <name>', 'a validator name (repeatable, same order as --validator)', collect)
    .option('--network <name>', 'network name', defaultNetwork)
    .option('--out <file>', 'write to this file instead of stdout')
    .option('--consensus <engine>', 'consensus engine: pbft (Byzantine faults, n = 3f + 1) or raft (crash faults, n = 2f + 1)', 'pbft')
    .option('--zone <zone>', 'a validator\'s zone (repeatable, same order as --validator): only checked, warns when more than f share one', collect) // [zones]
    .action((options: { validator?: string[], name?: string[], network: string, out?: string, consensus: string, zone?: string[] }) => {
      runGenesis({ validators: options.validator ?? [], names: options.name, network: options.network, out: options.out, consensus: consensusOption(options.consensus), zones: options.zone != null ? parseZoneList('zone', options.zone) : undefined }) // [zones] zones
    })

  // [demo] src/cli/demo.ts; docs/demo.md
  program.command('demo')
    .description('start a local Raft network (3 voters, the rest workers) on 127.0.0.1 with tasks, a stored value and a proposal, and show it live; keys k (kill one), r (restart it), q (quit)')
    .option('--nodes <n>', 'how many nodes (1-24): nodes 1-3 are Raft voters, the rest workers; with 1 or 2 nodes every node is a voter (2 voters tolerate no failure)', '5')
    .option('--json', 'print one JSON snapshot (members, consensus, tasks, value, proposal) per second instead of the table; no keys')
    .addHelpText('after', demoHelp)
    .action(async (options: { nodes: string, json?: boolean }) => {
      await runDemo({ nodes: demoNodeCount(options.nodes), json: options.json === true })
    })
  // [/demo]

  return program
}

export async function main (argv: string[]): Promise<void> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed the one-line message (or the help)
      process.exit(err.exitCode === 0 ? 0 : 2)
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`error: ${err.message}\n`)
      process.exit(2)
    }
    if (err instanceof CliError) {
      process.stderr.write(`error: ${err.message}\n`)
      process.exit(err.exitCode)
    }
    if (err instanceof DataDirError) {
      process.stderr.write(`error: ${err.message}\n`)
      process.exit(1)
    }
    process.stderr.write(`error: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  }
}

function consensusOption (value: string): ConsensusMode {
  if (value !== 'pbft' && value !== 'raft') throw new CliError(`--consensus: "${value}" must be pbft or raft`, 2)
  return value
}
