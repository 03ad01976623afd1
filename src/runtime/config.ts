/**
 * Node configuration: one table of options shared by the CLI flags, the `MESH_*` environment
 * variables and the JSON config file. Precedence: flag > env > file > default.
 * Every value is parsed and validated here; a bad one is a ConfigError naming the option.
 */
import { cpus, homedir, hostname } from 'node:os'
import { join, resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { zoneLabelProblem } from '../core/zones.js' // [zones]
import { parseRelayMode, parseSwitch } from './reachability.js' // [nat]
import type { RelayMode } from './reachability.js' // [nat]

export const defaultTcpPort = 4747
export const defaultApiPort = 4748
export const defaultNetwork = 'mesh'
/** [admission] Inbound connections per IP: a NAT'd office or a box running a few nodes fits in 8. */
export const defaultMaxConnsPerIp = 8

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  constructor (readonly option: string, message: string) {
    super(`--${option}: ${message}`)
  }
}

export interface NodeConfig {
  dataDir: string
  listen: string[]
  announce: string[]
  bootstrap: string[]
  network: string
  name: string
  capabilities: string[]
  api: { host: string, port: number }
  apiToken?: string
  heartbeatIntervalMs: number
  failureTimeoutMs: number
  /** Keep at least this many connections (or all known members, if fewer). */
  minPeers: number
  /**
   * Dial known members until this many connections (a mesh of up to this many + 1 nodes is a full
   * mesh; larger ones a sparse random graph: gossip and sync, not links, make every member known).
   */
  maxPeers: number
  /** Genesis file: joins that consensus network (default: genesis.json in the data dir, if any). */
  genesis?: string
  /** Pre-shared key file (swarm.key format, src/runtime/psk.ts): a private network of the nodes holding it. */
  pskFile?: string
  // [admission] (src/runtime/admission.ts)
  /** PeerIds allowed to connect: a file (one per line, `#` comments) or a comma-separated list; checked at start. */
  allowPeers?: string
  /** Inbound connections one IP may hold at once (loopback exempt unless given explicitly). */
  maxConnsPerIp: number
  // [/admission]
  // [nat] (src/runtime/reachability.ts)
  /** Serve Circuit Relay v2 reservations to NATed nodes: on, off, or auto (only while AutoNAT says we are public). */
  relay: RelayMode
  /** Ask the router for a port mapping over UPnP / NAT-PMP. */
  natUpnp: boolean
  // [/nat]
  /** Tasks this node runs at once; more wait in its local priority queue. */
  maxConcurrent: number
  /**
   * The load shedding this node starts: `steal` (when idle, ask a busy member for queued tasks) and/or
   * `migrate` (when above 80 %, move queued tasks to members below 30 %); `none` for neither. A node
   * always gives tasks away when a thief asks.
   */
  loadShedding: Array<'steal' | 'migrate'>
  /**
   * Config file only: external commands per capability, `{ "<capability>": { "command": [...],
   * "timeout_ms": n, "max_output_bytes": n } }` (validated by src/runtime/tasks/executor.ts).
   */
  handlers?: unknown
  // [mdns] [zones] (src/runtime/mdns.ts, src/core/zones.ts)
  /** LAN discovery: 'on', 'off', or absent for the default (on when every listen address is loopback or private). */
  mdns?: 'on' | 'off'
  /** This node's zone label (1-32 of a-z 0-9 -), gossiped in its state record; absent: no zone. */
  zone?: string
  // [founding] (src/runtime/founding.ts, docs/founding.md)
  /**
   * The engine of a network this node founds (no genesis, no --bootstrap): raft (default) or pbft; `none`
   * never founds nor fetches a genesis (a gossip-only node). Ignored when the node has a genesis.
   */
  consensus?: 'raft' | 'pbft' | 'none'
  /** Pin of the genesis a joiner fetches: its `genesisHash()` (16 hex digits); a different one is refused. */
  genesisHash?: string
  /** `--voters auto:N`: the Raft leader adds the first joiners as learners and promotes them until N voters. */
  voters?: number
  // [/founding]
}

type Kind = 'string' | 'list' | 'int' | 'address' | 'token' | 'switch' /* [nat] on/off, the flag alone = on */

export interface OptionSpec {
  key: keyof NodeConfig
  flag: string
  env: string
  kind: Kind
  description: string
  defaultText: string
}

export const optionSpecs: OptionSpec[] = [
  { key: 'dataDir', flag: 'data-dir', env: 'MESH_DATA_DIR', kind: 'string', description: 'directory for the identity key, state and runtime info', defaultText: '~/.mesh' },
  { key: 'listen', flag: 'listen', env: 'MESH_LISTEN', kind: 'list', description: 'multiaddr to listen on (repeatable; env: comma-separated)', defaultText: `/ip4/0.0.0.0/tcp/${defaultTcpPort}` },
  { key: 'announce', flag: 'announce', env: 'MESH_ANNOUNCE', kind: 'list', description: 'multiaddr to advertise instead of the listen addresses (NAT, port maps; repeatable)', defaultText: 'the listen addresses' },
  { key: 'bootstrap', flag: 'bootstrap', env: 'MESH_BOOTSTRAP', kind: 'list', description: 'seed multiaddr ending in /p2p/<PeerId> (repeatable)', defaultText: 'none (start a new mesh)' },
  { key: 'network', flag: 'network', env: 'MESH_NETWORK', kind: 'string', description: 'mesh name; nodes of different networks never mix', defaultText: defaultNetwork },
  { key: 'name', flag: 'name', env: 'MESH_NAME', kind: 'string', description: 'human label of this node', defaultText: 'the hostname' },
  { key: 'capabilities', flag: 'capabilities', env: 'MESH_CAPABILITIES', kind: 'list', description: 'comma-separated capabilities this node offers', defaultText: 'none' },
  { key: 'api', flag: 'api', env: 'MESH_API', kind: 'address', description: 'HTTP API host:port (:0 picks a free port)', defaultText: `127.0.0.1:${defaultApiPort}` },
  { key: 'apiToken', flag: 'api-token', env: 'MESH_API_TOKEN', kind: 'token', description: 'bearer token required by the API (needed to bind a non-loopback address)', defaultText: 'none' },
  { key: 'heartbeatIntervalMs', flag: 'heartbeat-interval-ms', env: 'MESH_HEARTBEAT_INTERVAL_MS', kind: 'int', description: 'how often the node publishes its state record', defaultText: '3000' },
  { key: 'failureTimeoutMs', flag: 'failure-timeout-ms', env: 'MESH_FAILURE_TIMEOUT_MS', kind: 'int', description: 'silence after which a member is suspected', defaultText: '10000' },
  { key: 'minPeers', flag: 'min-peers', env: 'MESH_MIN_PEERS', kind: 'int', description: 'connections to keep at least (or all members, if fewer)', defaultText: '3' },
  { key: 'maxPeers', flag: 'max-peers', env: 'MESH_MAX_PEERS', kind: 'int', description: 'dial known members until this many connections (more nodes than this: a sparse mesh; gossip still reaches all)', defaultText: '6' },
  { key: 'maxConcurrent', flag: 'max-concurrent', env: 'MESH_MAX_CONCURRENT', kind: 'int', description: 'tasks this node runs at once (more wait in its queue)', defaultText: 'the CPU count' },
  { key: 'loadShedding', flag: 'load-shedding', env: 'MESH_LOAD_SHEDDING', kind: 'list', description: 'load shedding this node starts: steal, migrate (comma-separated), or none', defaultText: 'steal,migrate' },
  { key: 'genesis', flag: 'genesis', env: 'MESH_GENESIS', kind: 'string', description: 'genesis file of a consensus network (validators, parameters)', defaultText: 'genesis.json in the data dir, if present' },
  { key: 'pskFile', flag: 'psk-file', env: 'MESH_PSK_FILE', kind: 'string', description: 'pre-shared key file (swarm.key format; create one with `mesh psk generate`): only nodes holding the same key can connect', defaultText: 'none (an open network)' },
  // [admission]
  { key: 'allowPeers', flag: 'allow-peers', env: 'MESH_ALLOW_PEERS', kind: 'string', description: 'only these peers may connect: a file with one PeerId per line (# comments) or a comma-separated list; genesis validators are always allowed', defaultText: 'none (everyone may connect)' },
  // [mdns] [zones]
  { key: 'mdns', flag: 'mdns', env: 'MESH_MDNS', kind: 'string', description: 'LAN discovery by multicast DNS (UDP 5353): on or off', defaultText: 'on when every listen address is loopback or private, else off' },
  { key: 'zone', flag: 'zone', env: 'MESH_ZONE', kind: 'string', description: 'this node\'s zone (1-32 of a-z 0-9 -): task record replicas go to distinct zones, and the node keeps a link into every other zone', defaultText: 'none' },
  { key: 'maxConnsPerIp', flag: 'max-conns-per-ip', env: 'MESH_MAX_CONNS_PER_IP', kind: 'int', description: 'inbound connections one IP address may hold at once, refused before any handshake (the default exempts loopback; an explicit value applies to it too)', defaultText: String(defaultMaxConnsPerIp) },
  // [nat]
  { key: 'relay', flag: 'relay', env: 'MESH_RELAY', kind: 'string', description: 'serve Circuit Relay v2 reservations to nodes behind NAT: on, off, or auto (only while AutoNAT confirms this node is publicly reachable)', defaultText: 'auto' },
  { key: 'natUpnp', flag: 'nat-upnp', env: 'MESH_NAT_UPNP', kind: 'switch', description: 'ask the home router for a port mapping (UPnP / NAT-PMP); on or off, the flag alone means on', defaultText: 'off' },
  // [founding] (src/runtime/founding.ts, docs/founding.md)
  { key: 'consensus', flag: 'consensus', env: 'MESH_CONSENSUS', kind: 'string', description: 'engine of a network this node founds when it has no genesis and no --bootstrap: raft or pbft; none = never found or fetch a genesis (gossip only); ignored when a genesis is present', defaultText: 'raft' },
  { key: 'genesisHash', flag: 'genesis-hash', env: 'MESH_GENESIS_HASH', kind: 'string', description: 'pin the genesis a joiner fetches from --bootstrap (16 hex digits, printed by the founder): another genesis is refused (exit 2)', defaultText: 'none (trust the network bootstrapped into, and say so)' },
  { key: 'voters', flag: 'voters', env: 'MESH_VOTERS', kind: 'string', description: 'auto:N (N = 3, 5, 7 or 9; Raft only): the leader adds the first joiners running its genesis as learners and promotes each once caught up, until N voters', defaultText: 'none (change voters by hand: mesh consensus add/promote)' }
  // [/founding]
]

export function defaultConfig (): NodeConfig {
  return {
    dataDir: join(homedir(), '.mesh'),
    listen: [`/ip4/0.0.0.0/tcp/${defaultTcpPort}`],
    announce: [],
    bootstrap: [],
    network: defaultNetwork,
    name: hostname().slice(0, 64),
    capabilities: [],
    api: { host: '127.0.0.1', port: defaultApiPort },
    heartbeatIntervalMs: 3000,
    failureTimeoutMs: 10000,
    minPeers: 3,
    // Each connection costs an idle node pings, gossip control traffic and memory; membership and
    // gossip need a connected graph, not a full mesh (48 processes on 2 cores formed only this way).
    maxPeers: 6,
    maxConcurrent: Math.max(1, cpus().length),
    loadShedding: ['steal', 'migrate'],
    maxConnsPerIp: defaultMaxConnsPerIp, // [admission]
    relay: 'auto', // [nat]
    natUpnp: false // [nat]
  }
}

const networkPattern = /^[a-z0-9][a-z0-9_-]{0,31}$/
const capabilityPattern = /^[a-z0-9][a-z0-9._:/-]{0,63}$/i

function parseMultiaddr (option: string, value: string, needPeerId: boolean): string {
  let parsed
  try {
    parsed = multiaddr(value)
  } catch (err) {
    throw new ConfigError(option, `"${value}" is not a multiaddr (${(err as Error).message}); example: /ip4/127.0.0.1/tcp/${defaultTcpPort}`)
  }
  const hasPeer = parsed.getComponents().some(c => c.name === 'p2p')
  if (needPeerId && !hasPeer) {
    throw new ConfigError(option, `"${value}" has no /p2p/<PeerId>; copy the full address a running node prints`)
  }
  return parsed.toString()
}

/** Parse host:port; "" or ":0" host means 127.0.0.1. */
export function parseHostPort (option: string, value: string): { host: string, port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim())
  if (match == null) throw new ConfigError(option, `"${value}" is not host:port (example: 127.0.0.1:${defaultApiPort} or :0)`)
  const host = match[1] ?? (match[2] === '' ? '127.0.0.1' : match[2] as string)
  const port = Number(match[3])
  if (port > 65535) throw new ConfigError(option, `port ${port} is above 65535`)
  return { host, port }
}

function asList (option: string, value: unknown): string[] {
  if (Array.isArray(value)) {
    if (!value.every(v => typeof v === 'string')) throw new ConfigError(option, 'must be a list of strings')
    return value.flatMap(v => v.split(',')).map(v => v.trim()).filter(v => v !== '')
  }
  if (typeof value === 'string') return value.split(',').map(v => v.trim()).filter(v => v !== '')
  throw new ConfigError(option, 'must be a string or a list of strings')
}

/** Parse and validate one option's raw value (from a flag, the environment or the config file). */
export function parseOption (spec: OptionSpec, value: unknown): NodeConfig[keyof NodeConfig] {
  const option = spec.flag
  switch (spec.key) {
    case 'listen': case 'announce':
      return asList(option, value).map(v => parseMultiaddr(option, v, false))
    case 'bootstrap':
      return asList(option, value).map(v => parseMultiaddr(option, v, true))
    case 'capabilities': {
      const list = asList(option, value)
      for (const c of list) {
        if (!capabilityPattern.test(c)) throw new ConfigError(option, `"${c}" is not a capability name (letters, digits, . _ : / -; at most 64)`)
      }
      if (list.length > 64) throw new ConfigError(option, 'at most 64 capabilities')
      return [...new Set(list)]
    }
    case 'loadShedding': {
      const list = asList(option, value)
      if (list.length === 1 && list[0] === 'none') return []
      for (const item of list) {
        if (item !== 'steal' && item !== 'migrate') throw new ConfigError(option, `"${item}" is not one of steal, migrate (or none alone)`)
      }
      return [...new Set(list)]
    }
    case 'api':
      if (typeof value !== 'string') throw new ConfigError(option, 'must be a "host:port" string')
      return parseHostPort(option, value)
    case 'heartbeatIntervalMs': case 'failureTimeoutMs': case 'minPeers': case 'maxPeers': case 'maxConcurrent': case 'maxConnsPerIp': {
      const n = typeof value === 'number' ? value : (typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : NaN)
      if (!Number.isSafeInteger(n)) throw new ConfigError(option, `"${String(value)}" is not a whole number`)
      const [min, max] = spec.key === 'heartbeatIntervalMs'
        ? [100, 600_000]
        : spec.key === 'failureTimeoutMs' ? [500, 3_600_000] : [1, 1000]
      if (n < min || n > max) throw new ConfigError(option, `${n} is outside ${min}..${max}`)
      return n
    }
    case 'network':
      if (typeof value !== 'string' || !networkPattern.test(value)) throw new ConfigError(option, `"${String(value)}" must be 1-32 of a-z 0-9 _ - (starting with a letter or digit)`)
      return value
    case 'name':
      if (typeof value !== 'string' || value.length === 0 || value.length > 64) throw new ConfigError(option, 'must be 1-64 characters')
      return value
    case 'allowPeers': // [admission] a path or a list: checked (each entry, with its line) when the node starts
      if (Array.isArray(value) && value.length > 0 && value.every(v => typeof v === 'string')) return value.join(',')
      if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(option, 'must be a file path or a comma-separated list of PeerIds')
      return value.trim().replace(/^~(?=$|\/)/, homedir())
    case 'apiToken':
      if (typeof value !== 'string' || value.length < 16) throw new ConfigError(option, 'must be at least 16 characters')
      return value
    case 'handlers':
      return value as NodeConfig['handlers']
    case 'mdns': // [mdns]
      if (value === true || value === 'on') return 'on'
      if (value === false || value === 'off') return 'off'
      throw new ConfigError(option, `"${String(value)}" must be on or off`)
    case 'zone': { // [zones]
      const problem = zoneLabelProblem(value)
      if (problem != null) throw new ConfigError(option, `"${String(value)}" ${problem} (example: --zone rack-1)`)
      return value as string
    }
    case 'relay': // [nat]
      try { return parseRelayMode(value) } catch (err) { throw new ConfigError(option, (err as Error).message) }
    case 'natUpnp': // [nat]
      try { return parseSwitch(value) } catch (err) { throw new ConfigError(option, `${(err as Error).message} (use --nat-upnp alone, or on/off; env MESH_NAT_UPNP=on)`) }
    case 'consensus': // [founding]
      if (value === 'raft' || value === 'pbft' || value === 'none') return value
      throw new ConfigError(option, `"${String(value)}" must be raft, pbft or none`)
    case 'genesisHash': { // [founding]
      const text = typeof value === 'string' ? value.trim().toLowerCase() : ''
      if (!/^[0-9a-f]{16}$/.test(text)) throw new ConfigError(option, `"${String(value)}" must be the 16 hex digits of a genesis hash (the founder prints it; mesh consensus shows it)`)
      return text
    }
    case 'voters': { // [founding]
      const match = typeof value === 'string' ? /^auto:(\d{1,2})$/.exec(value.trim()) : null
      const n = match != null ? Number(match[1]) : (typeof value === 'number' ? value : NaN)
      if (![3, 5, 7, 9].includes(n)) throw new ConfigError(option, `"${String(value)}" must be auto:3, auto:5, auto:7 or auto:9 (an odd number of voters)`)
      return n
    }
    case 'dataDir': case 'genesis': case 'pskFile':
      if (typeof value !== 'string' || value === '') throw new ConfigError(option, 'must be a path')
      return resolve(value.replace(/^~(?=$|\/)/, homedir()))
  }
}

export type Source = 'flag' | 'env' | 'file' | 'default'

/**
 * Merge the layers. `flags` holds only options given on the command line; `file` is the parsed JSON of
 * --config (keys as in NodeConfig or as flag names); `env` is process.env.
 */
export function resolveConfig (flags: Partial<Record<keyof NodeConfig, unknown>>, env: NodeJS.ProcessEnv, file: Record<string, unknown>): { config: NodeConfig, sources: Record<string, Source> } {
  const config = defaultConfig()
  const sources: Record<string, Source> = {}
  const known = new Set([...optionSpecs.flatMap(s => [s.key, s.flag]), 'handlers'])
  for (const key of Object.keys(file)) {
    if (!known.has(key)) throw new ConfigError('config', `unknown key "${key}" in the config file`)
  }
  const target = config as unknown as Record<string, unknown>
  for (const spec of optionSpecs) {
    let raw: unknown
    let source: Source = 'default'
    if (flags[spec.key] !== undefined) {
      raw = flags[spec.key]; source = 'flag'
    } else if (env[spec.env] !== undefined && env[spec.env] !== '') {
      raw = env[spec.env]; source = 'env'
    } else if (file[spec.key] !== undefined || file[spec.flag] !== undefined) {
      raw = file[spec.key] ?? file[spec.flag]; source = 'file'
    }
    if (source !== 'default') {
      target[spec.key] = parseOption(spec, raw)
    }
    sources[spec.key] = source
  }
  if (file.handlers !== undefined) config.handlers = file.handlers
  if (config.heartbeatIntervalMs >= config.failureTimeoutMs) {
    throw new ConfigError('failure-timeout-ms', `must be larger than --heartbeat-interval-ms (${config.heartbeatIntervalMs}); use at least 3 heartbeats`)
  }
  // [founding] automatic voters are a Raft feature: pBFT's validator set is fixed by its genesis
  if (config.voters != null && config.consensus === 'pbft') throw new ConfigError('voters', 'is Raft only: a pBFT network\'s validators are fixed by its genesis (drop --voters, or found with --consensus raft)')
  if (config.voters != null && config.consensus === 'none') throw new ConfigError('voters', 'needs a consensus network: drop --voters or --consensus none')
  if (config.minPeers > config.maxPeers) throw new ConfigError('min-peers', 'must not exceed --max-peers')
  if (!isLoopback(config.api.host) && config.apiToken == null) {
    throw new ConfigError('api', `refusing to serve the API on non-loopback ${config.api.host} without --api-token`)
  }
  return { config, sources }
}

export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}
