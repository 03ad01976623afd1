/** `mesh testnet` and `mesh genesis`: write validator data dirs and genesis files. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { loadIdentity, peerIdOf } from '../runtime/data-dir.js'
import { genesisHash, makeGenesis, validateGenesis } from '../runtime/consensus/genesis.js'
import type { Genesis } from '../runtime/consensus/genesis.js'
import { CliError } from './client.js'
import type { ConsensusMode } from '../runtime/consensus/types.js'
import { zoneConcentration, zoneLabelProblem } from '../core/zones.js' // [zones]

export const genesisFileName = 'genesis.json'

export interface TestnetOptions {
  nodes: number
  dir: string
  network: string
  host: string
  basePort: number
  consensus: ConsensusMode
  json: boolean
  /** [zones] Zones assigned to the validators round-robin (validator-i gets zones[(i-1) % length]). */
  zones?: string[]
}

/** [zones] How many validators may fail with the network still deciding: pBFT n = 3f+1, Raft n = 2f+1. */
export function faultTolerance (n: number, consensus: ConsensusMode): number {
  return consensus === 'raft' ? Math.floor((n - 1) / 2) : Math.floor((n - 1) / 3)
}

/**
 * [zones] Warnings for validators' zones: one per zone holding more than f of the n validators (losing
 * that zone would stop the network deciding). Validators without a zone count as the zone "". None
 * when f = 0 (no loss is tolerated, however the validators are spread).
 */
export function validatorZoneWarnings (zones: ReadonlyArray<string | undefined>, consensus: ConsensusMode): string[] {
  const f = faultTolerance(zones.length, consensus)
  // f = 0 (a single validator, or too few to tolerate a loss): no spreading helps, nothing to say
  if (f === 0) return []
  return zoneConcentration(zones, f).overloaded.map(({ zone, validators }) =>
    `${validators} of ${zones.length} validators are in ${zone === '' ? 'no zone' : `zone "${zone}"`}, more than f = ${f}: losing that zone stops the network deciding (${consensus === 'raft' ? 'Raft' : 'pBFT'} tolerates ${f} lost validator${f === 1 ? '' : 's'})`)
}

/** [zones] Parse a comma list of zone labels (for --zones / --zone); throws a usage error naming the flag. */
export function parseZoneList (flag: string, values: readonly string[]): string[] {
  const zones = values.flatMap(v => v.split(',')).map(v => v.trim()).filter(v => v !== '')
  for (const z of zones) {
    const problem = zoneLabelProblem(z)
    if (problem != null) throw new CliError(`--${flag}: "${z}" ${problem}`, 2)
  }
  return zones
}

export async function runTestnet (options: TestnetOptions): Promise<void> {
  const root = resolve(options.dir)
  if (existsSync(join(root, 'node-1'))) throw new CliError(`${root} already holds a testnet (node-1 exists); pick another --dir or remove it`, 1)
  mkdirSync(root, { recursive: true })
  const nodes: Array<{ name: string, dataDir: string, peerId: string, port: number, apiPort: number, zone?: string }> = []
  for (let i = 1; i <= options.nodes; i++) {
    const dataDir = join(root, `node-${i}`)
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    const { privateKey } = await loadIdentity(dataDir, true)
    const zone = options.zones != null && options.zones.length > 0 ? options.zones[(i - 1) % options.zones.length] : undefined // [zones]
    nodes.push({ name: `validator-${i}`, dataDir, peerId: peerIdOf(privateKey), port: options.basePort + i - 1, apiPort: options.basePort + 100 + i - 1, ...(zone != null ? { zone } : {}) })
  }
  const genesis = makeGenesis(options.network, nodes.map(n => ({ peer_id: n.peerId, name: n.name })), {}, options.consensus)
  const seed = nodes[0]
  if (seed == null) throw new CliError('--nodes must be at least 1', 2)
  const seedAddress = `/ip4/${options.host}/tcp/${seed.port}/p2p/${seed.peerId}`
  for (const node of nodes) {
    writeFileSync(join(node.dataDir, genesisFileName), JSON.stringify(genesis, null, 2) + '\n')
    const config: Record<string, unknown> = {
      'data-dir': node.dataDir,
      name: node.name,
      network: options.network,
      listen: [`/ip4/${options.host}/tcp/${node.port}`],
      api: `127.0.0.1:${node.apiPort}`
    }
    if (node !== seed) config.bootstrap = [seedAddress]
    if (node.zone != null) config.zone = node.zone // [zones]
    writeFileSync(join(node.dataDir, 'config.json'), JSON.stringify(config, null, 2) + '\n')
  }
  // [zones] more than f validators in one zone: a warning on stderr (and in the JSON)
  const zoneWarnings = options.zones != null && options.zones.length > 0 ? validatorZoneWarnings(nodes.map(n => n.zone), options.consensus) : []
  for (const w of zoneWarnings) console.error(`warning: ${w}`)
  if (options.json) {
    console.log(JSON.stringify({ dir: root, network: options.network, consensus: options.consensus, genesisHash: genesisHash(genesis), nodes: nodes.map(n => ({ ...n, config: join(n.dataDir, 'config.json') })), warnings: zoneWarnings }, null, 2))
    return
  }
  console.log(`testnet of ${options.nodes} ${options.consensus === 'raft' ? 'Raft members' : 'validators'} in ${root} (network ${options.network}, consensus ${options.consensus}, genesis ${genesisHash(genesis)})`)
  for (const node of nodes) console.log(`  ${node.name}  ${node.peerId}  tcp ${node.port}  api ${node.apiPort}${node.zone != null ? `  zone ${node.zone}` : ''}`)
  console.log('\nstart each one (a terminal each, or add & to run them in the background):')
  for (const node of nodes) console.log(`  mesh start --config ${join(node.dataDir, 'config.json')}`)
}

export interface GenesisOptions {
  validators: string[]
  names?: string[]
  network: string
  out?: string
  /** @default 'pbft' */
  consensus?: ConsensusMode
  /** [zones] Each validator's zone (same order as `validators`; only checked: zones are node config, not genesis). */
  zones?: string[]
}

export function runGenesis (options: GenesisOptions): void {
  if (options.validators.length === 0) throw new CliError('--validator: give each validator\'s PeerId (mesh init prints it)', 2)
  let genesis: Genesis
  try {
    genesis = makeGenesis(options.network, options.validators.map((peerId, i) => ({ peer_id: peerId, name: options.names?.[i] ?? `validator-${i + 1}` })), {}, options.consensus ?? 'pbft')
    validateGenesis(genesis)
  } catch (err) {
    throw new CliError(`--validator: ${(err as Error).message}`, 2)
  }
  // [zones] zones are each node's --zone, not part of the genesis: here only to warn
  if (options.zones != null && options.zones.length > 0) {
    if (options.zones.length !== options.validators.length) throw new CliError(`--zone: give one per --validator (${options.validators.length}), in the same order; got ${options.zones.length}`, 2)
    for (const w of validatorZoneWarnings(options.zones, options.consensus ?? 'pbft')) console.error(`warning: ${w}`)
  }
  const text = JSON.stringify(genesis, null, 2) + '\n'
  if (options.out != null) {
    writeFileSync(options.out, text)
    console.error(`wrote ${options.out} (genesis ${genesisHash(genesis)}); copy it to every node's data dir as ${genesisFileName}, or start with --genesis ${options.out}`)
  } else {
    process.stdout.write(text)
  }
}
