/**
 * [founding] A node with no genesis decides, before it starts, which consensus network it runs in
 * (issue 15; docs/founding.md):
 *
 * - `--consensus none` (env MESH_CONSENSUS=none): none; a gossip-only node, as before founding existed.
 * - `--bootstrap` given: it asks the seeds for the network's genesis over /mesh/<network>/genesis/1.0.0
 *   (protocols/genesis/), validates every byte, checks the `--genesis-hash` pin (a mismatch exits 2 at
 *   once: the operator bootstrapped into another network than the one pinned), writes genesis.json to
 *   the data dir (a restart needs no fetch) and starts with it: an observer (Raft: not in the genesis)
 *   until a leader adds it. A seed that answers "none" runs a gossip-only network: so does the joiner.
 *   An unreachable seed is asked again every `fetchRetryMs`, with a line each time, until it answers.
 * - no bootstrap, mDNS off: it founds a one-member network (Raft unless `--consensus pbft`), naming
 *   itself, writes genesis.json and starts with it.
 * - no bootstrap, mDNS on: it first waits `foundingGraceMs` (≈3 s, env MESH_FOUNDING_GRACE_MS) for LAN
 *   peers of the same network (same mDNS service tag). A peer with a genesis: it joins that network (as
 *   if bootstrapped from it). Peers that are founding candidates themselves (they answer CANDIDATE): the
 *   lowest PeerId founds; the others ask it (and every peer they know) until it answers with its genesis,
 *   for at most `foundingWaitMs` (env MESH_FOUNDING_WAIT_MS), then found anyway with a warning.
 *
 * All of that runs on a short-lived "pre-flight" libp2p host with the node's identity, pre-shared key and
 * listen addresses (and mDNS when on), stopped before the real MeshNode starts: MeshNode.start takes the
 * consensus wiring up front, so the genesis is decided first.
 */
import { closeSync, constants, fsyncSync, openSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { createLibp2p } from 'libp2p'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { mdns } from '@libp2p/mdns'
import { preSharedKey } from '@libp2p/pnet'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { NodeConfig, Source } from './config.js'
import { consensusMode, genesisHash, makeGenesis } from './consensus/genesis.js'
import type { Genesis } from './consensus/genesis.js'
import { mdnsServiceTag, resolveMdns } from './mdns.js'
import { readPskFile } from './psk.js'
import { genesisExchange } from '../../protocols/genesis/service.js'
import type { GenesisExchange, GenesisServed } from '../../protocols/genesis/service.js'
import { genesisToBytes, GenesisAnswerError } from '../../protocols/genesis/codec.js'
import type { GenesisAnswer } from '../../protocols/genesis/codec.js'
import { genesisTimeoutMs } from '../../protocols/genesis/constants.js'

/** mDNS grace before founding: long enough for a LAN peer's mDNS answer and one genesis request. */
export const foundingGraceMsDefault = 3_000
/** How long a founding candidate that is not the lowest waits for the lowest to found, then founds itself. */
export const foundingWaitMsDefault = 20_000
/** A joiner asks its seeds again this often while none answers (and prints a line each time). */
export const fetchRetryMs = 3_000
/** The pre-flight host's mDNS query interval (the node's own is libp2p's 10 s). */
const preflightMdnsIntervalMs = 1_000
/** How often a candidate asks the peers it knows during the grace and the wait. */
const lanPollMs = 500

/** A refusal to start, with the exit code (2: a configuration or trust problem). */
export class FoundingError extends Error {
  override readonly name = 'FoundingError'
  constructor (message: string, readonly exitCode: number) {
    super(message)
  }
}

export interface FoundingInput {
  /** The resolved config; `bootstrap` gains the peer a LAN join found (the real node dials it). */
  config: NodeConfig
  sources: Record<string, Source>
  privateKey: PrivateKey
  /** The genesis from --genesis or the data dir, if any. */
  genesis: Genesis | undefined
  log: (line: string) => void
  env?: NodeJS.ProcessEnv
}

export type FoundingKind = 'given' | 'founded' | 'fetched' | 'gossip-only'

export interface FoundingOutcome {
  genesis: Genesis | undefined
  kind: FoundingKind
  /** Where a fetched genesis came from (a PeerId) or why there is none. */
  from?: string
  /** Lines for the start banner, given the node's listen multiaddrs. */
  banner: (multiaddrs: string[]) => string[]
}

/** A duration from the environment (whole milliseconds); empty or absent: the default. */
export function durationFromEnv (env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name]
  if (text == null || text.trim() === '') return fallback
  if (!/^\d{1,7}$/.test(text.trim())) throw new FoundingError(`${name}: "${text}" is not a whole number of milliseconds`, 2)
  return Number(text.trim())
}

/**
 * Decide the genesis this node starts with. Never returns before it is decided: a joiner whose seeds do
 * not answer keeps asking (Ctrl-C stops the process as usual). Throws FoundingError to refuse.
 */
export async function resolveFounding (input: FoundingInput): Promise<FoundingOutcome> {
  const { config, sources, genesis } = input
  const env = input.env ?? process.env
  if (genesis != null) {
    const mode = consensusMode(genesis)
    if (sources.consensus === 'flag' && config.consensus !== mode) {
      input.log(`warning: --consensus ${config.consensus ?? ''} is ignored: this node has a genesis (${mode}, genesis ${genesisHash(genesis)})`)
    }
    if (config.genesisHash != null && genesisHash(genesis) !== config.genesisHash) {
      throw new FoundingError(`--genesis-hash: this node's genesis (${config.genesis ?? join(config.dataDir, 'genesis.json')}) is ${genesisHash(genesis)}, not the pinned ${config.genesisHash}: refusing to start (wrong data dir or genesis file?)`, 2)
    }
    if (config.voters != null && mode !== 'raft') throw new FoundingError(`--voters: automatic voters are Raft only; this node's genesis is ${mode} (its validators are fixed by the genesis)`, 2)
    return { genesis, kind: 'given', banner: () => [] }
  }
  if (config.consensus === 'none') return { genesis: undefined, kind: 'gossip-only', banner: () => [] }
  if (config.voters != null && config.consensus === 'pbft') throw new FoundingError('--voters: automatic voters are Raft only (a pBFT network\'s validators are fixed by its genesis)', 2)
  let psk: Uint8Array | undefined
  if (config.pskFile != null) {
    try { psk = readPskFile(config.pskFile) } catch (err) { throw new FoundingError(`--psk-file: ${(err as Error).message}`, 2) }
  }
  if (config.bootstrap.length > 0) return await fetchFromSeeds(input, psk)
  const lan = resolveMdns(config.mdns, config.listen)
  if (lan.enabled) {
    const joined = await lanGrace(input, psk, durationFromEnv(env, 'MESH_FOUNDING_GRACE_MS', foundingGraceMsDefault), durationFromEnv(env, 'MESH_FOUNDING_WAIT_MS', foundingWaitMsDefault))
    if (joined != null) return joined
  }
  return found(input)
}

/** Found a one-member network naming this node, and persist its genesis.json. */
function found (input: FoundingInput): FoundingOutcome {
  const { config, privateKey } = input
  const engine = config.consensus === 'pbft' ? 'pbft' : 'raft'
  const genesis = makeGenesis(config.network, [{ peer_id: peerIdFromPrivateKey(privateKey).toString(), name: config.name }], {}, engine)
  writeGenesis(config.dataDir, genesis)
  const hash = genesisHash(genesis)
  input.log(`founded network ${config.network} (${engine}, genesis ${hash}): genesis.json written to ${config.dataDir}`)
  return {
    genesis,
    kind: 'founded',
    banner: multiaddrs => [`  founded      network ${config.network} (${engine}, genesis ${hash}); others join with --bootstrap ${multiaddrs[0] ?? '<addr>'} [--genesis-hash ${hash}]`]
  }
}

/** genesis.json in the data dir, durably (temp file, fsync, rename): a restart finds it after kill -9. */
export function writeGenesis (dataDir: string, genesis: Genesis): void {
  const path = join(dataDir, 'genesis.json')
  const tmp = `${path}.tmp-${process.pid}`
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644)
  try {
    writeSync(fd, genesisToBytes(genesis))
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
}

type Preflight = Libp2p<{ genesis: GenesisExchange }>

async function startPreflight (input: FoundingInput, psk: Uint8Array | undefined, options: { listen: string[], mdnsTag?: string, answer: () => GenesisServed, onRequest?: (peer: string, candidate: boolean) => void }): Promise<Preflight> {
  try {
    return await createLibp2p({
      privateKey: input.privateKey,
      addresses: { listen: options.listen },
      transports: [tcp()],
      ...(psk != null ? { connectionProtector: preSharedKey({ psk }) } : {}),
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: { inboundConnectionThreshold: 1000, maxIncomingPendingConnections: 1000, dialTimeout: genesisTimeoutMs },
      ...(options.mdnsTag != null ? { peerDiscovery: [mdns({ serviceTag: options.mdnsTag, interval: preflightMdnsIntervalMs })] } : {}),
      services: { genesis: genesisExchange({ network: input.config.network, answer: options.answer, onRequest: options.onRequest }) }
    })
  } catch (err) {
    const message = (err as Error).message
    if (/EADDRINUSE|address already in use/i.test(message)) throw new FoundingError(`--listen: an address is already in use (${message}); pick another port, or /tcp/0 for any free one`, 1)
    throw err
  }
}

/** A fetched genesis: the pin checked, written to the data dir, the trust said out loud. */
function adopt (input: FoundingInput, genesis: Genesis, from: string, how: string): FoundingOutcome {
  const { config } = input
  const hash = genesisHash(genesis)
  if (config.genesisHash != null && hash !== config.genesisHash) {
    throw new FoundingError(`--genesis-hash: ${from} (${how}) serves network ${genesis.network} with genesis ${hash}, not the pinned ${config.genesisHash}: refusing to join it (check the hash the founder printed and the --bootstrap address)`, 2)
  }
  writeGenesis(config.dataDir, genesis)
  const mode = consensusMode(genesis)
  const trust = config.genesisHash != null
    ? `pinned by --genesis-hash ${hash}`
    : `trusting the genesis ${hash} from ${from}; pin it with --genesis-hash ${hash}`
  input.log(`joined network ${genesis.network} (${mode}, ${genesis.validators.length} validator(s)) ${how}: ${trust}; genesis.json written to ${config.dataDir}`)
  return {
    genesis,
    kind: 'fetched',
    from,
    banner: () => [`  joined       network ${genesis.network} (${mode}, genesis ${hash}) from ${from}: ${trust}`]
  }
}

type Asked = { answer: GenesisAnswer } | { error: Error }

async function askOnce (node: Preflight, target: Parameters<GenesisExchange['ask']>[0], candidate: boolean): Promise<Asked> {
  try {
    return { answer: await node.services.genesis.ask(target, { candidate, signal: AbortSignal.timeout(genesisTimeoutMs) }) }
  } catch (err) {
    return { error: err instanceof Error ? err : new Error(String(err)) }
  }
}

/** The peer answered, but not on our protocol (another network's node, or an older version). */
function unsupported (err: Error): boolean {
  return err.name === 'UnsupportedProtocolError' || /protocol selection failed|not supported/i.test(err.message)
}

function sleep (ms: number): Promise<void> {
  return new Promise(resolve => { setTimeout(resolve, ms).unref?.() })
}

/** --bootstrap and no genesis: ask the seeds until one answers. */
async function fetchFromSeeds (input: FoundingInput, psk: Uint8Array | undefined): Promise<FoundingOutcome> {
  const { config } = input
  // no listen address: the pre-flight host only dials out
  const node = await startPreflight(input, psk, { listen: [], answer: () => ({ status: 'none' }) })
  try {
    input.log(`no genesis in ${config.dataDir}: asking ${config.bootstrap.length === 1 ? 'the bootstrap peer' : `the ${config.bootstrap.length} bootstrap peers`} for the network's genesis (/mesh/${config.network}/genesis/1.0.0)`)
    for (let round = 0; ; round++) {
      const answers = await Promise.all(config.bootstrap.map(async seed => ({ seed, peer: multiaddr(seed).getComponents().find(c => c.name === 'p2p')?.value ?? seed, asked: await askOnce(node, multiaddr(seed), false) })))
      for (const { peer, asked } of answers) {
        if ('answer' in asked && asked.answer.status === 'genesis') return adopt(input, asked.answer.genesis, peer, 'fetched from the bootstrap peer')
      }
      const none = answers.find(a => 'answer' in a.asked && a.asked.answer.status === 'none')
      if (none != null) {
        input.log(`the network at ${none.peer} has no genesis (a gossip-only network): running gossip-only, as with --consensus none`)
        return { genesis: undefined, kind: 'gossip-only', from: none.peer, banner: () => [`  note         the network at ${none.peer} has no genesis: gossip only`] }
      }
      const problems = answers.map(({ peer, asked }) => 'error' in asked
        ? `${peer}: ${asked.error instanceof GenesisAnswerError ? `sent an invalid genesis (${asked.error.message})` : unsupported(asked.error) ? `does not speak /mesh/${config.network}/genesis/1.0.0 (is it on another --network, or an older version?)` : asked.error.message}`
        : `${peer}: still founding its network`)
      input.log(`no genesis yet (${problems.join('; ')}); asking again in ${fetchRetryMs / 1000} s (Ctrl-C to stop)${round === 0 ? '' : ` [attempt ${round + 1}]`}`)
      await sleep(fetchRetryMs)
    }
  } finally {
    try { await node.stop() } catch {}
  }
}

/**
 * The mDNS grace: join a LAN peer's network, or agree with the other founding candidates who founds.
 * Returns null when this node should found.
 */
async function lanGrace (input: FoundingInput, psk: Uint8Array | undefined, graceMs: number, waitMs: number): Promise<FoundingOutcome | null> {
  const { config } = input
  const self = peerIdFromPrivateKey(input.privateKey).toString()
  const known = new Map<string, PeerId>()
  const candidates = new Set<string>()
  const remember = (peer: string): void => {
    if (peer === self || known.has(peer)) return
    try { known.set(peer, peerIdFromString(peer)) } catch {}
  }
  const node = await startPreflight(input, psk, {
    listen: config.listen,
    mdnsTag: mdnsServiceTag(config.network, psk),
    answer: () => ({ status: 'candidate' }),
    // an asker that is a candidate itself: now both know of each other, whoever discovered whom
    onRequest: (peer, candidate) => { remember(peer); if (candidate) candidates.add(peer) }
  })
  node.addEventListener('peer:discovery', event => { remember(event.detail.id.toString()) })
  try {
    input.log(`no genesis and no --bootstrap: looking for network ${config.network} on the LAN (mDNS) for ${(graceMs / 1000).toFixed(1)} s before founding it`)
    const graceEnd = performance.now() + graceMs
    let waitEnd: number | null = null
    for (;;) {
      const peers = [...known.entries()]
      const answers = await Promise.all(peers.map(async ([id, peerId]) => ({ id, asked: await askOnce(node, peerId, true) })))
      for (const { id, asked } of answers) {
        if (!('answer' in asked)) continue
        if (asked.answer.status === 'genesis') {
          const address = node.getConnections(known.get(id)).find(c => c.status === 'open')?.remoteAddr
          if (address != null) {
            const seed = address.toString().includes('/p2p/') ? address.toString() : `${address.toString()}/p2p/${id}`
            if (!config.bootstrap.includes(seed)) config.bootstrap.push(seed)
          }
          return adopt(input, asked.answer.genesis, id, 'found on the LAN (mDNS)')
        }
        if (asked.answer.status === 'candidate') candidates.add(id)
      }
      const now = performance.now()
      if (waitEnd == null && now >= graceEnd) {
        const lowest = [self, ...candidates].sort()[0]
        if (lowest === self) {
          if (candidates.size > 0) input.log(`founding candidates on the LAN: this node and ${candidates.size} other(s); the lowest PeerId (this node) founds`)
          return null
        }
        input.log(`founding candidates on the LAN: ${candidates.size + 1}; waiting up to ${(waitMs / 1000).toFixed(0)} s for the lowest PeerId (${lowest ?? ''}) to found, then joining it`)
        waitEnd = now + waitMs
      }
      if (waitEnd != null && now >= waitEnd) {
        input.log(`warning: no founding candidate's network appeared within ${(waitMs / 1000).toFixed(0)} s: founding network ${config.network} here (the LAN may now hold two networks of that name; restart the others with --bootstrap to merge)`)
        return null
      }
      await sleep(lanPollMs)
    }
  } finally {
    try { await node.stop() } catch {}
  }
}
