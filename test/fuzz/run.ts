/**
 * The fuzzer: `npm run fuzz -- --frames N [--stream-frames M] [--seed S] [--protocol p[,q]] [--json]`.
 *
 * In this one process: two full mesh nodes started exactly as `mesh start` starts them (src/cli/start.ts,
 * fresh temp data dirs, TCP + Noise + Yamux on 127.0.0.1, every stream handler and topic validator of
 * the deployed node, the HTTP API), one on a pBFT network and one on a Raft network, and a fuzzing peer
 * (a stock mesh libp2p host whose key is a validator of both) that
 *  1. decoder level: runs N mutated frames per protocol through the decode + validation the handler runs;
 *  2. stream level: writes M mutated frames per protocol on real streams (length-prefixed as the protocol
 *     expects, plus length-prefix lies, huge and invalid prefixes), or publishes them on the gossip topics,
 *     and watches every stream: the node must answer, close or reset it within the handler's timeout;
 *  3. HTTP: random methods, paths, JSON bodies, oversized bodies and content types against the API;
 *  4. parsers: random and mutated config files, option values and genesis files.
 * Pass: 0 crashes (uncaught exceptions, unhandled rejections, unexpected errors), 0 hangs, the nodes keep
 * answering; refusals are reported by reason from the node's own counters. Exit 1 on any failure, with a
 * reproducer (seed, protocol, frame hex).
 */
import '../../src/polyfill.js'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { SeededRandom } from '../../src/core/random.js'
import { Mutator, encodeVarint } from './mutator.js'
import { buildTargets } from './targets.js'
import type { FuzzTarget } from './targets.js'
import { createMeshLibp2p } from '../../bootstrap/libp2p.js'
import type { MeshLibp2p } from '../../bootstrap/libp2p.js'
import { runStart } from '../../src/cli/start.js'
import type { StartedNode } from '../../src/cli/start.js'
import { ensureDataDir, loadIdentity } from '../../src/runtime/data-dir.js'
import { makeGenesis } from '../../src/runtime/consensus/genesis.js'
import { syncProtocol, syncStreamsMax, syncTimeoutMs } from '../../protocols/sync/constants.js'
import { probeProtocol, probeTimeoutMsMax } from '../../protocols/probe/constants.js'
import { bidDeadlineMsMax, stealTimeoutMs } from '../../protocols/tasks/constants.js'
import { recordsProtocol, recordServeTimeoutMs } from '../../protocols/records/constants.js'
import { msgProtocol, msgServeTimeoutMs, msgTopic } from '../../protocols/msg/constants.js'
import { eventualProtocol, eventualTopic, exchangeStreamsMax, requestTimeoutMs as eventualTimeoutMs } from '../../protocols/eventual/constants.js'
import { votesProtocol, votesStreamsMax, votesTopic } from '../../protocols/votes/constants.js'
import { aggregateExchangeTimeoutMs, aggregateProtocolId, aggregateStreamsMax } from '../../protocols/aggregate/constants.js'
import { genesisProtocol, genesisStreamsMax, genesisTimeoutMs } from '../../protocols/genesis/constants.js' // [founding]
import { pbftProtocol } from '../../protocols/pbft/constants.js'
import { raftProtocol } from '../../protocols/raft/constants.js'
import { stateTopic } from '../../protocols/state/constants.js'
import { fuzzHttp } from './http.js'
import { fuzzParsers } from './parsers.js'

export interface ProtocolReport {
  protocol: string
  decoder: { frames: number, reasons: Record<string, number>, framesPerSecond: number }
  stream: { frames: number, framings: Record<string, number>, outcomes: Record<string, number>, framesPerSecond: number }
  /** The node's own refusal counters for this protocol (difference over the run), by reason. */
  refusals: Record<string, number>
  crashes: number
  hangs: number
}

export interface Failure {
  kind: 'crash' | 'hang' | 'unhandled-rejection' | 'uncaught-exception' | 'http' | 'parser' | 'liveness'
  protocol: string
  detail: string
  /** Reproducer: the seed, the frame index and the frame's bytes (hex, first 4 KiB). */
  seed: number
  frame?: number
  hex?: string
}

export interface FuzzReport {
  seed: number
  frames: number
  streamFrames: number
  protocols: ProtocolReport[]
  http: { requests: number, statuses: Record<string, number>, failures: number }
  parsers: { inputs: number, errors: Record<string, number>, failures: number }
  uncaughtExceptions: number
  unhandledRejections: number
  failures: Failure[]
  seconds: number
  pass: boolean
}

interface Options {
  frames: number
  streamFrames: number
  seed: number
  protocols: string[] | null
  json: boolean
  http: number
  parsers: number
}

/** Timeouts of the stream handlers (how long a handler may hold a stream), by protocol. */
const handlerTimeoutMs: Record<string, number> = {
  sync: syncTimeoutMs,
  probe: probeTimeoutMsMax + 1_000,
  auction: bidDeadlineMsMax,
  steal: stealTimeoutMs,
  records: recordServeTimeoutMs,
  msg: msgServeTimeoutMs,
  eventual: eventualTimeoutMs,
  votes: 20_000,
  aggregate: aggregateExchangeTimeoutMs,
  genesis: genesisTimeoutMs // [founding]
}
/** Beyond the handler's own timeout, before a stream counts as hung. */
const hangMarginMs = 5_000
const streamConcurrency = 8
/** The protocols' inbound stream limits per connection (more at once are reset by libp2p's registrar). */
const inboundStreamsMax: Record<string, number> = { sync: syncStreamsMax, eventual: exchangeStreamsMax, votes: votesStreamsMax, aggregate: aggregateStreamsMax, genesis: genesisStreamsMax /* [founding] */ }

function parseArgs (argv: string[]): Options {
  const options: Options = { frames: 1000, streamFrames: -1, seed: 1, protocols: null, json: false, http: -1, parsers: -1 }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const next = (): string => {
      const value = argv[++i]
      if (value == null) throw new Error(`${arg} needs a value`)
      return value
    }
    const int = (): number => {
      const n = Number(next())
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${arg} needs a whole number ≥ 0`)
      return n
    }
    if (arg === '--frames') options.frames = int()
    else if (arg === '--stream-frames') options.streamFrames = int()
    else if (arg === '--seed') options.seed = int()
    else if (arg === '--protocol') options.protocols = next().split(',').map(p => p.trim()).filter(p => p !== '')
    else if (arg === '--http') options.http = int()
    else if (arg === '--parsers') options.parsers = int()
    else if (arg === '--json') options.json = true
    else throw new Error(`unknown argument ${String(arg)} (usage: --frames N [--stream-frames M] [--seed S] [--protocol p,q] [--http N] [--parsers N] [--json])`)
  }
  if (options.streamFrames < 0) options.streamFrames = options.frames
  if (options.http < 0) options.http = Math.min(options.frames, 5_000)
  if (options.parsers < 0) options.parsers = Math.min(options.frames, 5_000)
  return options
}

function hex (bytes: Uint8Array): string {
  return Buffer.from(bytes.subarray(0, 4096)).toString('hex')
}

function bump (counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

/** A per-protocol seeded generator: the same (seed, protocol) gives the same frames. */
function rngFor (seed: number, protocol: string, salt: number): SeededRandom {
  let h = (seed ^ 0x9e3779b9 ^ salt) >>> 0
  for (let i = 0; i < protocol.length; i++) h = Math.imul(h ^ protocol.charCodeAt(i), 0x01000193) >>> 0
  return new SeededRandom(h)
}

async function nextFrame (mutator: Mutator, target: FuzzTarget): Promise<Uint8Array> {
  const seed = mutator.pick(target.seeds)
  // one frame in 20 unmutated (a valid frame keeps the handler's deeper paths busy)
  if (mutator.chance(0.05)) return seed
  let bytes = mutator.mutate(seed, target.seeds, target.json === true).bytes
  if (target.resign != null && mutator.chance(0.5)) bytes = (await target.resign(bytes)) ?? bytes
  return bytes
}

// ───────────────────────────── failures: crashes anywhere in the process

const failures: Failure[] = []
let uncaughtExceptions = 0
let unhandledRejections = 0
let current: { protocol: string, frame: number, bytes: Uint8Array } = { protocol: 'setup', frame: -1, bytes: new Uint8Array(0) }
let runSeed = 0
process.on('uncaughtException', (err, origin) => {
  if (process.env.MESH_FUZZ_DEBUG != null) process.stderr.write(`uncaught (${origin}): ${(err as Error).stack ?? String(err)}\n${new Error('here').stack ?? ''}\n`)
  uncaughtExceptions++
  failures.push({ kind: 'uncaught-exception', protocol: current.protocol, detail: (err as Error).stack ?? String(err), seed: runSeed, frame: current.frame, hex: hex(current.bytes) })
})
process.on('unhandledRejection', reason => {
  if (process.env.MESH_FUZZ_DEBUG != null) process.stderr.write(`unhandled: ${(reason as Error)?.stack ?? String(reason)}\n`)
  unhandledRejections++
  failures.push({ kind: 'unhandled-rejection', protocol: current.protocol, detail: (reason as Error)?.stack ?? String(reason), seed: runSeed, frame: current.frame, hex: hex(current.bytes) })
})

const debug = (line: string): void => { if (process.env.MESH_FUZZ_DEBUG != null) process.stderr.write(`[fuzz ${new Date().toISOString().slice(11, 23)}] ${line}\n`) }

// ───────────────────────────── decoder level

async function fuzzDecoder (target: FuzzTarget, frames: number, seed: number, report: ProtocolReport): Promise<void> {
  const mutator = new Mutator(rngFor(seed, target.name, 1))
  const started = performance.now()
  for (let i = 0; i < frames; i++) {
    const bytes = await nextFrame(mutator, target)
    current = { protocol: target.name, frame: i, bytes }
    const t0 = performance.now()
    try {
      bump(report.decoder.reasons, await target.check(bytes))
    } catch (err) {
      report.crashes++
      failures.push({ kind: 'crash', protocol: target.name, detail: `decoder: ${(err as Error)?.stack ?? String(err)}`, seed, frame: i, hex: hex(bytes) })
    }
    if (performance.now() - t0 > 2_000) {
      report.hangs++
      failures.push({ kind: 'hang', protocol: target.name, detail: `decoder took ${Math.round(performance.now() - t0)} ms`, seed, frame: i, hex: hex(bytes) })
    }
  }
  report.decoder.frames = frames
  report.decoder.framesPerSecond = Math.round(frames / Math.max(0.001, (performance.now() - started) / 1000))
}

// ───────────────────────────── stream level

type Framing = 'normal' | 'lie-long' | 'lie-short' | 'huge-prefix' | 'bad-prefix' | 'pipelined' | 'empty'

function frameWith (mutator: Mutator, bytes: Uint8Array, second: Uint8Array): { framing: Framing, wire: Uint8Array } {
  const r = mutator.rng.next()
  const lp = (b: Uint8Array): Uint8Array => concat(encodeVarint(b.length), b)
  if (r < 0.82) return { framing: 'normal', wire: lp(bytes) }
  if (r < 0.86) return { framing: 'lie-long', wire: concat(encodeVarint(bytes.length + 1 + mutator.int(1000)), bytes) }
  if (r < 0.89) return { framing: 'lie-short', wire: concat(encodeVarint(Math.max(0, bytes.length - 1 - mutator.int(8))), bytes) }
  if (r < 0.92) return { framing: 'huge-prefix', wire: concat(encodeVarint(mutator.pick([2 ** 24, 2 ** 31, 2 ** 40, 2 ** 53 - 1])), bytes) }
  if (r < 0.94) return { framing: 'bad-prefix', wire: concat(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), bytes) }
  if (r < 0.97) return { framing: 'pipelined', wire: concat(lp(bytes), lp(second)) }
  return { framing: 'empty', wire: new Uint8Array(0) }
}

async function writeAll (stream: Stream, wire: Uint8Array): Promise<void> {
  if (wire.length === 0) return
  // in pieces of at most 64 KiB, as a real sender's chunks arrive
  for (let offset = 0; offset < wire.length; offset += 65_536) {
    if (!stream.send(wire.subarray(offset, offset + 65_536))) await stream.onDrain({ signal: AbortSignal.timeout(30_000) })
  }
}

/**
 * One request frame on a fresh stream: write it, close our side, and wait for the node to end the
 * stream (answer and close, or reset). 'hang' when it does neither within its timeout + margin.
 */
async function oneRequest (libp2p: MeshLibp2p, peer: PeerId, protocol: string, wire: Uint8Array, limitMs: number): Promise<string> {
  let stream: Stream
  try {
    stream = await libp2p.dialProtocol(peer, protocol, { signal: AbortSignal.timeout(10_000) })
  } catch (err) {
    return `open-failed:${(err as Error).name}`
  }
  let answered = false
  const ended = new Promise<string>(resolve => {
    stream.addEventListener('message', () => { answered = true })
    stream.addEventListener('close', (event) => { resolve((event as unknown as { error?: Error }).error != null ? (answered ? 'answered-reset' : 'reset') : (answered ? 'answered' : 'closed')) }, { once: true })
  })
  try {
    await writeAll(stream, wire)
    void stream.close().catch(() => {})
  } catch {
    // the node reset it while we wrote: that is an outcome, wait for the close event
  }
  // the close event may have come before our listener (a stream reset during negotiation, e.g. over the
  // protocol's inbound stream limit): poll the status too
  let timer: ReturnType<typeof setInterval> | undefined
  const deadline = performance.now() + limitMs + hangMarginMs
  const watchdog = new Promise<string>(resolve => {
    timer = setInterval(() => {
      if (stream.status === 'reset' || stream.status === 'aborted') resolve(answered ? 'answered-reset' : 'reset')
      else if (stream.status === 'closed') resolve(answered ? 'answered' : 'closed')
      else if (performance.now() > deadline) resolve('hang')
    }, 50)
  })
  const outcome = await Promise.race([ended, watchdog])
  clearInterval(timer)
  if (outcome === 'hang') {
    debug(`hang on ${protocol}: answered ${String(answered)} status ${stream.status} read ${stream.readStatus} write ${stream.writeStatus}`)
    stream.abort(new Error('fuzzer: hang'))
  }
  return outcome
}

async function fuzzRequestStreams (libp2p: MeshLibp2p, peer: PeerId, target: FuzzTarget, protocolId: string, frames: number, seed: number, report: ProtocolReport, reconnect: () => Promise<void>): Promise<void> {
  const mutator = new Mutator(rngFor(seed, target.name, 2))
  const limitMs = handlerTimeoutMs[target.name] ?? 30_000
  const started = performance.now()
  let next = 0
  let delivered = 0
  const worker = async (): Promise<void> => {
    while (next < frames) {
      const index = next++
      const bytes = await nextFrame(mutator, target)
      const { framing, wire } = frameWith(mutator, bytes, await nextFrame(mutator, target))
      current = { protocol: target.name, frame: index, bytes: wire }
      bump(report.stream.framings, framing)
      // a stream that cannot be opened delivered nothing: count it, reconnect, and send the same frame
      // again (for up to a minute; then it is a liveness failure and the frame is not counted)
      let outcome = await oneRequest(libp2p, peer, protocolId, wire, limitMs)
      const givingUp = performance.now() + 60_000
      for (let attempt = 0; outcome.startsWith('open-failed') && performance.now() < givingUp; attempt++) {
        bump(report.stream.outcomes, outcome)
        await new Promise(resolve => setTimeout(resolve, Math.min(2_000, 50 * 2 ** attempt)))
        await reconnect()
        outcome = await oneRequest(libp2p, peer, protocolId, wire, limitMs)
      }
      if (outcome.startsWith('open-failed')) {
        failures.push({ kind: 'liveness', protocol: target.name, detail: `no stream could be opened to the node for a minute (${outcome})`, seed, frame: index, hex: hex(wire) })
        continue
      }
      delivered++
      bump(report.stream.outcomes, outcome)
      if (outcome === 'hang') {
        report.hangs++
        failures.push({ kind: 'hang', protocol: target.name, detail: `stream not ended by the node within ${limitMs + hangMarginMs} ms (${framing})`, seed, frame: index, hex: hex(wire) })
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(streamConcurrency, inboundStreamsMax[target.name] ?? streamConcurrency) }, async () => { await worker() }))
  report.stream.frames = delivered
  report.stream.framesPerSecond = Math.round(frames / Math.max(0.001, (performance.now() - started) / 1000))
}

/** pBFT / Raft: frames on long-lived streams (a new one after every batch or when the node resets one). */
async function fuzzFrameStreams (libp2p: MeshLibp2p, peer: PeerId, target: FuzzTarget, protocolId: string, frames: number, seed: number, report: ProtocolReport, echo: () => Promise<number>): Promise<void> {
  const mutator = new Mutator(rngFor(seed, target.name, 2))
  const started = performance.now()
  const batch = 250
  let done = 0
  while (done < frames) {
    let stream: Stream
    try {
      stream = await libp2p.dialProtocol(peer, protocolId, { signal: AbortSignal.timeout(10_000) })
    } catch (err) {
      bump(report.stream.outcomes, `open-failed:${(err as Error).name}`)
      await new Promise(resolve => setTimeout(resolve, 100))
      if (performance.now() - started > 600_000) break
      continue
    }
    const closed = new Promise<string>(resolve => {
      stream.addEventListener('close', (event) => { resolve((event as unknown as { error?: Error }).error != null ? 'reset' : 'closed') }, { once: true })
    })
    let reset = false
    void closed.then(() => { reset = true })
    const end = Math.min(frames, done + batch)
    for (; done < end && !reset; done++) {
      const bytes = await nextFrame(mutator, target)
      const { framing, wire } = frameWith(mutator, bytes, await nextFrame(mutator, target))
      current = { protocol: target.name, frame: done, bytes: wire }
      bump(report.stream.framings, framing)
      try {
        await writeAll(stream, wire)
      } catch {
        break
      }
      if (done % 50 === 0) await new Promise(resolve => setImmediate(resolve))
    }
    // end our side; the node must end the stream (its read sees the end) within the margin
    void stream.close().catch(() => {})
    let timer: ReturnType<typeof setTimeout> | undefined
    const outcome = await Promise.race([closed, new Promise<string>(resolve => { timer = setTimeout(() => { resolve('hang') }, hangMarginMs + 30_000) })])
    clearTimeout(timer)
    bump(report.stream.outcomes, outcome)
    if (outcome === 'hang') {
      report.hangs++
      stream.abort(new Error('fuzzer: hang'))
      failures.push({ kind: 'hang', protocol: target.name, detail: 'frame stream not ended by the node after our close', seed, frame: done, hex: hex(current.bytes) })
    }
    // liveness: the node's frame transport still answers an echo
    try {
      await echo()
      bump(report.stream.outcomes, 'echo-ok')
    } catch (err) {
      bump(report.stream.outcomes, 'echo-failed')
      report.hangs++
      failures.push({ kind: 'liveness', protocol: target.name, detail: `no echo after a batch: ${(err as Error).message}`, seed, frame: done, hex: hex(current.bytes) })
    }
  }
  report.stream.frames = done
  report.stream.framesPerSecond = Math.round(frames / Math.max(0.001, (performance.now() - started) / 1000))
}

/**
 * Gossip topics: every frame is published by the fuzzing peer (the node's gossipsub receives it and runs
 * its topic validator, as long as gossipsub's own score of the fuzzer lets it through: it drops a peer
 * that keeps sending invalid messages), and also handed to the node's topic validator directly, in
 * process, so each one is validated whatever gossipsub's score does.
 */
async function fuzzGossip (libp2p: MeshLibp2p, node: NodeUnderTest, target: FuzzTarget, topic: string, nodePeer: PeerId, frames: number, seed: number, report: ProtocolReport): Promise<void> {
  const validator = node.started.node.libp2p.services.pubsub.topicValidators.get(topic)
  const mutator = new Mutator(rngFor(seed, target.name, 2))
  const pubsub = libp2p.services.pubsub
  const deadline = performance.now() + 15_000
  while (!pubsub.getSubscribers(topic).some(p => p.equals(nodePeer)) && performance.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
  const started = performance.now()
  for (let i = 0; i < frames; i++) {
    const bytes = await nextFrame(mutator, target)
    current = { protocol: target.name, frame: i, bytes }
    if (validator != null) {
      try {
        const result = await validator(libp2p.peerId, { type: 'unsigned', topic, data: bytes as Uint8Array<ArrayBuffer> })
        bump(report.stream.outcomes, `validator-${String(result)}`)
      } catch (err) {
        report.crashes++
        failures.push({ kind: 'crash', protocol: target.name, detail: `topic validator threw: ${(err as Error)?.stack ?? String(err)}`, seed, frame: i, hex: hex(bytes) })
      }
    }
    try {
      await pubsub.publish(topic, bytes)
      bump(report.stream.outcomes, 'published')
    } catch (err) {
      bump(report.stream.outcomes, `publish-failed:${(err as Error).name}`)
    }
    bump(report.stream.framings, 'gossip')
    // let the node's validator keep up (gossip is fire-and-forget)
    if (i % 20 === 19) await new Promise(resolve => setTimeout(resolve, 1))
  }
  report.stream.frames = frames
  report.stream.framesPerSecond = Math.round(frames / Math.max(0.001, (performance.now() - started) / 1000))
}

// ───────────────────────────── nodes

interface NodeUnderTest {
  started: StartedNode
  peerId: PeerId
  addr: string
}

/**
 * The fuzzed nodes run with admission's rate limits out of reach: the fuzzer sends hundreds of frames a
 * second from one peer, which the limits (sync: 50/s) would drop before any handler saw them and, past
 * twice the rate, answer by hanging up for 30 s (a flood) — every frame after that would go nowhere.
 * Admission control has its own tests (test/unit/admission.test.ts, test/e2e/admission.test.ts, the
 * flood bench); here every frame must reach the decoder and handler behind it.
 */
const fuzzRateLimits = '*=1000000/2000000'

async function startNode (dir: string, flags: Record<string, unknown>): Promise<NodeUnderTest> {
  const previous = process.env.MESH_RATE_LIMITS
  process.env.MESH_RATE_LIMITS = fuzzRateLimits
  // no LAN discovery: two fuzz runs on one host (CI's and a long one) would find each other's nodes
  const previousMdns = process.env.MESH_MDNS
  process.env.MESH_MDNS = 'off'
  const started = await runStart({ ...flags, dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0', heartbeatIntervalMs: 1000 }, undefined, true)
  if (previous == null) delete process.env.MESH_RATE_LIMITS
  else process.env.MESH_RATE_LIMITS = previous
  if (previousMdns == null) delete process.env.MESH_MDNS
  else process.env.MESH_MDNS = previousMdns
  const addr = started.node.multiaddrs().find(a => a.includes('/ip4/127.0.0.1/')) as string
  return { started, peerId: peerIdFromString(started.node.peerId), addr }
}

/** The node's refusal counters, by protocol and reason (state gossip, consensus, each stream service). */
async function refusalCounters (pbftNode: NodeUnderTest, raftNode: NodeUnderTest, fuzzPeerId: string): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {}
  const node = pbftNode.started.node
  const services = node.libp2p.services
  out.state = { ...node.status().rejected }
  const consensus = node.consensus?.status()
  out.pbft = { ...(consensus?.dropped ?? {}), 'transport-undecodable': services.pbft.stats.framesDropped }
  for (const [reason, n] of Object.entries(services.pbft.stats.transfersDropped)) out.pbft[`transfer-${reason}`] = n ?? 0
  const raft = raftNode.started.node
  out.raft = { ...(raft.consensus?.status().dropped ?? {}), 'transport-undecodable': raft.libp2p.services.raft.stats.framesDropped }
  for (const [reason, n] of Object.entries(raft.libp2p.services.raft.stats.transfersDropped)) out.raft[`transfer-${reason}`] = n ?? 0
  out.sync = services.sync.refusals.snapshot()
  out.probe = services.probe.refusals.snapshot()
  const tasks = services.tasks.refusals.snapshot()
  out.auction = Object.fromEntries(Object.entries(tasks).filter(([k]) => k.startsWith('auction-')).map(([k, v]) => [k.slice(8), v]))
  out.steal = Object.fromEntries(Object.entries(tasks).filter(([k]) => k.startsWith('steal-')).map(([k, v]) => [k.slice(6), v]))
  out.records = services.records.refusals.snapshot()
  out.eventual = services.eventual.refusals.snapshot()
  out.votes = services.votes.refusals.snapshot()
  out.aggregate = services.aggregate.refusalCounts()
  out.genesis = services.genesis.refusals.snapshot() // [founding]
  // messaging (direct and broadcast content refusals) is counted by the runtime: read it from /metrics
  const messaging: Record<string, number> = {}
  try {
    const text = await (await fetch(`${pbftNode.started.apiUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
    for (const line of text.split('\n')) {
      const m = /^mesh_network_rejected_messages_total\{protocol="messaging",reason="([^"]+)"\} (\d+)/.exec(line)
      if (m != null) messaging[m[1] as string] = Number(m[2])
    }
  } catch {}
  out.msg = { ...services.messaging.refusals.snapshot(), ...Object.fromEntries(Object.entries(messaging).map(([k, v]) => [`content-${k}`, v])) }
  out['msg-gossip'] = Object.fromEntries(Object.entries(messaging).map(([k, v]) => [`content-${k}`, v]))
  // gossip refusals of eventual writes and votes are charged to the sender's reputation, by reason
  const charged = node.reputation.view(fuzzPeerId).reasons
  out['eventual-gossip'] = Object.fromEntries(charged.filter(r => r.reason.includes('eventual-')).map(r => [r.reason, r.count]))
  out['votes-gossip'] = Object.fromEntries(charged.filter(r => r.reason.includes('votes-')).map(r => [r.reason, r.count]))
  return out
}

function difference (after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0)
    if (d !== 0) out[k] = d
  }
  return out
}

// ───────────────────────────── main

export async function runFuzz (options: Options, print: (line: string) => void): Promise<FuzzReport> {
  const began = performance.now()
  runSeed = options.seed
  const root = mkdtempSync(join(tmpdir(), 'mesh-fuzz-'))
  const network = 'fuzz'
  const raftNetwork = 'fuzzraft'
  const fuzzKey = await generateKeyPair('Ed25519')
  const fuzzPeer = peerIdFromPrivateKey(fuzzKey).toString()
  const others: PrivateKey[] = await Promise.all([0, 1, 2].map(async () => await generateKeyPair('Ed25519')))
  const pbftDir = join(root, 'pbft')
  const raftDir = join(root, 'raft')
  ensureDataDir(pbftDir)
  ensureDataDir(raftDir)
  const pbftSelf = peerIdFromPrivateKey((await loadIdentity(pbftDir, true)).privateKey).toString()
  const raftSelf = peerIdFromPrivateKey((await loadIdentity(raftDir, true)).privateKey).toString()
  const validators = [pbftSelf, fuzzPeer, ...others.map(k => peerIdFromPrivateKey(k).toString())]
  writeFileSync(join(pbftDir, 'genesis.json'), JSON.stringify(makeGenesis(network, validators.map((peer_id, i) => ({ peer_id, name: `v${i}` })))))
  writeFileSync(join(raftDir, 'genesis.json'), JSON.stringify(makeGenesis(raftNetwork, [raftSelf, fuzzPeer, validators[2] as string].map((peer_id, i) => ({ peer_id, name: `r${i}` })), {}, 'raft')))

  debug(`starting nodes: pbft ${pbftSelf}, raft ${raftSelf}, fuzzer ${fuzzPeer}, others ${validators.slice(2).join(' ')}`)
  const pbftNode = await startNode(pbftDir, { network, name: 'fuzz-pbft', capabilities: ['echo'] })
  debug('pbft node up')
  const raftNode = await startNode(raftDir, { network: raftNetwork, name: 'fuzz-raft' })
  const makePeer = async (net: string): Promise<MeshLibp2p> => await createMeshLibp2p({ privateKey: fuzzKey, network: net, listen: ['/ip4/127.0.0.1/tcp/0'], announce: [], maxConnections: 64, sync: { getEntries: () => [], onEntries: async () => 0 } })
  const fuzzer = await makePeer(network)
  const raftFuzzer = await makePeer(raftNetwork)
  for (const topic of [stateTopic(network), msgTopic(network), eventualTopic(network), votesTopic(network)]) fuzzer.services.pubsub.subscribe(topic)
  await fuzzer.dial(multiaddr(pbftNode.addr), { signal: AbortSignal.timeout(10_000) })
  await raftFuzzer.dial(multiaddr(raftNode.addr), { signal: AbortSignal.timeout(10_000) })

  debug('nodes up, fuzzer connected')
  const targets = (await buildTargets({ network, raftNetwork, fuzzKey, nodePeerId: pbftSelf, raftNodePeerId: raftSelf, validators }))
    .filter(t => options.protocols == null || options.protocols.includes(t.name))
  const protocolIds: Record<string, string> = {
    sync: syncProtocol(network), probe: probeProtocol(network), auction: `/mesh/${network}/auction/1.0.0`, steal: `/mesh/${network}/steal/1.0.0`,
    records: recordsProtocol(network), msg: msgProtocol(network), eventual: eventualProtocol(network), votes: votesProtocol(network),
    aggregate: aggregateProtocolId(network), pbft: pbftProtocol(network), raft: raftProtocol(raftNetwork),
    genesis: genesisProtocol(network) // [founding]
  }
  const topics: Record<string, string> = { state: stateTopic(network), 'msg-gossip': msgTopic(network), 'eventual-gossip': eventualTopic(network), 'votes-gossip': votesTopic(network) }
  const refusalKey: Record<string, string> = {}

  const reports: ProtocolReport[] = []
  for (const target of targets) {
    const report: ProtocolReport = {
      protocol: target.name,
      decoder: { frames: 0, reasons: {}, framesPerSecond: 0 },
      stream: { frames: 0, framings: {}, outcomes: {}, framesPerSecond: 0 },
      refusals: {},
      crashes: 0,
      hangs: 0
    }
    const failuresBefore = failures.length
    debug(`${target.name}: decoder`)
    await fuzzDecoder(target, options.frames, options.seed, report)
    debug(`${target.name}: streams`)
    const before = await refusalCounters(pbftNode, raftNode, fuzzPeer)
    if (options.streamFrames > 0) {
      if (target.carriage === 'gossip') {
        await fuzzGossip(fuzzer, pbftNode, target, topics[target.name] as string, pbftNode.peerId, options.streamFrames, options.seed, report)
      } else if (target.carriage === 'frames') {
        const isRaft = target.name === 'raft'
        const host = isRaft ? raftFuzzer : fuzzer
        const node = isRaft ? raftNode : pbftNode
        const transport = isRaft ? host.services.raft : host.services.pbft
        await fuzzFrameStreams(host, node.peerId, target, protocolIds[target.name] as string, options.streamFrames, options.seed, report, async () => await transport.echo(node.peerId, 15_000))
      } else {
        await fuzzRequestStreams(fuzzer, pbftNode.peerId, target, protocolIds[target.name] as string, options.streamFrames, options.seed, report, async () => {
          if (fuzzer.getConnections(pbftNode.peerId).length > 0) return
          try { await fuzzer.dial(multiaddr(pbftNode.addr), { signal: AbortSignal.timeout(10_000) }) } catch {}
        })
      }
      // every frame must have reached the node (a stream that could not be opened delivered nothing)
      if (report.stream.frames < options.streamFrames) {
        failures.push({ kind: 'liveness', protocol: target.name, detail: `only ${report.stream.frames} of ${options.streamFrames} frames reached the node over streams`, seed: options.seed })
      }
      // let the last frames be handled before reading the counters
      await new Promise(resolve => setTimeout(resolve, 300))
    }
    const after = await refusalCounters(pbftNode, raftNode, fuzzPeer)
    const key = refusalKey[target.name] ?? target.name
    report.refusals = difference(after[key] ?? {}, before[key] ?? {})
    report.crashes += failures.slice(failuresBefore).filter(f => f.kind === 'uncaught-exception' || f.kind === 'unhandled-rejection').length
    // the node still answers its API and is connected to the fuzzer
    try {
      for (const path of ['/health', '/v1/status', '/v1/members', '/v1/topology']) {
        const res = await fetch(`${pbftNode.started.apiUrl}${path}`, { signal: AbortSignal.timeout(10_000) })
        if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${(await res.text()).slice(0, 200)}`)
      }
    } catch (err) {
      failures.push({ kind: 'liveness', protocol: target.name, detail: `API no longer answers: ${(err as Error).message}`, seed: options.seed })
    }
    if (fuzzer.getConnections(pbftNode.peerId).length === 0) {
      try { await fuzzer.dial(multiaddr(pbftNode.addr), { signal: AbortSignal.timeout(10_000) }) } catch {}
    }
    reports.push(report)
    print(formatProtocol(report))
  }

  // every stream handler refusal is also in Prometheus (mesh_network_stream_refusals_total{service,reason})
  try {
    const text = await (await fetch(`${pbftNode.started.apiUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
    const exported = new Map<string, number>()
    for (const line of text.split('\n')) {
      const m = /^mesh_network_stream_refusals_total\{service="([^"]+)",reason="[^"]+"\} (\d+)/.exec(line)
      if (m != null) exported.set(m[1] as string, (exported.get(m[1] as string) ?? 0) + Number(m[2]))
    }
    const services = pbftNode.started.node.libp2p.services
    const own: Record<string, number> = { sync: services.sync.refusals.total, probe: services.probe.refusals.total, tasks: services.tasks.refusals.total, records: services.records.refusals.total, messaging: services.messaging.refusals.total, eventual: services.eventual.refusals.total, votes: services.votes.refusals.total }
    for (const [service, total] of Object.entries(own)) {
      // counts may still grow between the two reads (late resets): the metric may be behind, never ahead
      if ((exported.get(service) ?? 0) > total || (total > 0 && (exported.get(service) ?? 0) === 0)) {
        failures.push({ kind: 'liveness', protocol: service, detail: `mesh_network_stream_refusals_total{service="${service}"} is ${exported.get(service) ?? 0}, the handler counted ${total}`, seed: options.seed })
      }
    }
  } catch (err) {
    failures.push({ kind: 'liveness', protocol: 'metrics', detail: `GET /metrics: ${(err as Error).message}`, seed: options.seed })
  }

  current = { protocol: 'http', frame: -1, bytes: new Uint8Array(0) }
  const http = await fuzzHttp(pbftNode.started.apiUrl, options.http, new Mutator(rngFor(options.seed, 'http', 3)), failures, options.seed)
  print(`http      ${http.requests} requests  statuses ${JSON.stringify(http.statuses)}  failures ${http.failures}`)
  current = { protocol: 'parsers', frame: -1, bytes: new Uint8Array(0) }
  const parsers = await fuzzParsers(join(root, 'parsers'), options.parsers, new Mutator(rngFor(options.seed, 'parsers', 4)), failures, options.seed, validators)
  print(`parsers   ${parsers.inputs} inputs  errors ${JSON.stringify(parsers.errors)}  failures ${parsers.failures}`)

  try { await fuzzer.stop() } catch {}
  try { await raftFuzzer.stop() } catch {}
  const report: FuzzReport = {
    seed: options.seed,
    frames: options.frames,
    streamFrames: options.streamFrames,
    protocols: reports,
    http,
    parsers,
    uncaughtExceptions,
    unhandledRejections,
    failures,
    seconds: Math.round((performance.now() - began) / 100) / 10,
    pass: failures.length === 0 && uncaughtExceptions === 0 && unhandledRejections === 0
  }
  try { rmSync(root, { recursive: true, force: true }) } catch {}
  return report
}

function formatProtocol (r: ProtocolReport): string {
  const reasons = Object.entries(r.refusals).map(([k, v]) => `${k}=${v}`).join(' ') || '-'
  return `${r.protocol.padEnd(16)} decoder ${r.decoder.frames} (${r.decoder.framesPerSecond}/s)  stream ${r.stream.frames} (${r.stream.framesPerSecond}/s)  ` +
    `crashes ${r.crashes}  hangs ${r.hangs}  refusals: ${reasons}  outcomes ${JSON.stringify(r.stream.outcomes)}`
}

const fuzzHelp = `usage: npm run fuzz -- [--frames N] [--stream-frames M] [--seed S] [--protocol p,q] [--http N] [--parsers N] [--json]

Fuzz every decoder and stream handler of two in-process mesh nodes (one pBFT, one Raft network) with
seeded random and mutated-valid frames, then the HTTP API and the config/genesis/psk parsers.

  --frames N         frames per protocol through the decoders (default 1000)
  --stream-frames M  frames per protocol over real streams or gossip (default: as --frames)
  --seed S           the mutator's seed (default 1); a failure prints it with the frame's hex
  --protocol p,q     only these targets (state, sync, probe, auction, steal, records, msg, msg-gossip,
                     eventual, eventual-gossip, votes, votes-gossip, aggregate, pbft, raft)
  --http N           random HTTP requests (default: as --frames, at most 5000)
  --parsers N        random parser inputs (default: as --frames, at most 5000)
  --json             the report as JSON
Exit 0: no crash, hang, unhandled rejection or unexpected answer; 1: a failure (reproducer printed); 2: bad usage.`

if (process.argv[1] != null && import.meta.filename === process.argv[1]) {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(fuzzHelp)
    process.exit(0)
  }
  let options: Options
  try {
    options = parseArgs(process.argv.slice(2))
  } catch (err) {
    console.error((err as Error).message)
    process.exit(2)
  }
  // the nodes' log lines go to stdout (src/cli/start.ts): keep them out of the report
  const write = process.stdout.write.bind(process.stdout)
  const nodeLog: string[] = []
  process.stdout.write = ((chunk: string | Uint8Array): boolean => {
    nodeLog.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString())
    if (nodeLog.length > 500) nodeLog.shift()
    return true
  }) as typeof process.stdout.write
  const print = (line: string): void => { if (!options.json) write(line + '\n') }
  let report: FuzzReport
  try {
    report = await runFuzz(options, print)
  } catch (err) {
    // a fault of the fuzzer itself (or a node that would not start): say so, never hang
    process.stderr.write(`fuzzer failed: ${(err as Error)?.stack ?? String(err)}\n`)
    process.exit(2)
  }
  if (options.json) write(JSON.stringify(report) + '\n')
  else {
    write(`seed ${report.seed}, ${report.frames} decoder frames and ${report.streamFrames} stream frames per protocol, ${report.seconds} s\n`)
    write(`uncaught exceptions ${report.uncaughtExceptions}, unhandled rejections ${report.unhandledRejections}, failures ${report.failures.length}\n`)
    for (const f of report.failures.slice(0, 20)) write(`FAIL ${f.kind} ${f.protocol}: ${f.detail.split('\n').slice(0, 4).join(' | ')}\n  reproduce: --seed ${f.seed} --protocol ${f.protocol}${f.frame != null ? ` (frame ${f.frame})` : ''}${f.hex != null ? `\n  frame hex: ${f.hex.slice(0, 512)}` : ''}\n`)
    write(report.pass ? 'PASS\n' : 'FAIL\n')
  }
  process.exit(report.pass ? 0 : 1)
}
