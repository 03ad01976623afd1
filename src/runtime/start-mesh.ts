/**
 * Start a whole mesh node in this process: the MeshNode and everything `mesh start` wires around it
 * (task records, aggregation, tasks, messaging, the eventual store, metrics, gossip votes, the HTTP API,
 * runtime.json), and stop it gracefully. No signal handlers and no process.exit: `mesh start`
 * (src/cli/start.ts) adds those; the library (src/index.ts) and the fuzzer (test/fuzz/) call this directly.
 */
import { readFileSync } from 'node:fs'
import { resolveConfig } from './config.js'
import type { NodeConfig } from './config.js'
import { acquireLock, ensureDataDir, loadIdentity, nextIncarnation, removeRuntimeInfo, writeRuntimeInfo } from './data-dir.js'
import { MeshNode } from './mesh-node.js'
import { startApi } from '../api/server.js'
import type { RawRouteHandler, RouteHandler } from '../api/server.js'
import { consensusRoutes } from '../api/consensus-routes.js'
import { CliError } from '../cli/client.js'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { readGenesis, genesisHash } from './consensus/genesis.js'
import type { Genesis } from './consensus/genesis.js'
import { MeshApplication } from '../core/app/application.js'
import { taskDataRefBytesMax } from '../core/app/limits.js'
import { PbftLog } from './consensus/pbft-log.js'
import { RaftLog, raftLogFileName } from './consensus/raft-log.js'
import { consensusMode } from './consensus/genesis.js'
import { ReadFloor } from './consensus/read-floor.js'
import { Executor, builtinHandlers, handlersFromConfig, parseHandlerConfig } from './tasks/executor.js'
import type { TaskHandler } from './tasks/executor.js'
import { TaskService } from './tasks/tasks.js'
import { taskRoutes } from '../api/task-routes.js'
import { RecordStore } from './tasks/records.js'
import { recordRoutes } from '../api/record-routes.js'
import { memberRoutes } from '../api/member-routes.js' // [mcp]
import { reputationRoutes } from '../api/reputation-routes.js' // [reputation]
import { messageRejection } from './gossip/reputation.js' // [reputation]
import { topologyPage } from '../api/page-routes.js'
import { sha256Hex } from './consensus/pbft-crypto.js'
import { peerIdOf } from './data-dir.js'
import { MeshMetrics, sampleMsFromEnv } from './metrics/metrics.js' // [metrics]
import { metricsRawRoute, reportRoutes } from '../api/metrics-routes.js' // [metrics]
import { historyRoutes } from '../api/history-routes.js' // [charts]
import { Messaging } from './messages.js' // [messaging]
import { messageRoutes, messageStreamRoute } from '../api/message-routes.js' // [messaging]
import { EventualStore } from './gossip/eventual-store.js' // [eventual]
import { eventualRoutes } from '../api/eventual-routes.js' // [eventual]
import { GossipVotesRuntime } from './gossip/gossip-votes.js' // [votes]
import { gossipVoteRoutes } from '../api/gossip-vote-routes.js' // [votes]
import { Aggregation, aggregateTimingFromEnv } from './gossip/aggregation.js' // [aggregate]
import { aggregateRoutes } from '../api/aggregate-routes.js' // [aggregate]
import { pskFingerprint, readPskFile } from './psk.js'
import { parseRateLimits, readAllowPeers } from './admission.js' // [admission]
import { admissionRoutes } from '../api/admission-routes.js' // [admission]
import { FoundingError, resolveFounding } from './founding.js' // [founding]
import type { FoundingOutcome } from './founding.js' // [founding]
import { AutoVoters } from './consensus/auto-voters.js' // [founding]

/** The parsed JSON object of `--config <file>` ({} without one); a CliError (exit 2) names what is wrong. */
export function loadConfigFile (path: string | undefined): Record<string, unknown> {
  if (path == null) return {}
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new CliError(`--config: cannot read ${path}: ${(err as Error).message}`, 2)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new CliError(`--config: ${path} is not valid JSON: ${(err as Error).message}`, 2)
  }
  if (typeof parsed !== 'object' || parsed == null || Array.isArray(parsed)) {
    throw new CliError(`--config: ${path} must hold a JSON object of options, e.g. {"network": "lab", "bootstrap": ["/ip4/…/p2p/…"]}`, 2)
  }
  return parsed as Record<string, unknown>
}

/** [fuzz] What `runStart` started, for an in-process caller (the fuzzer, test/fuzz/); the CLI ignores it. */
export interface StartedNode {
  node: MeshNode
  apiUrl: string
  dataDir: string
}

/** Where a node's events go: a line for people and the same event for machines (`mesh start --json`). */
export type MeshOut = (human: string, event: Record<string, unknown>) => void

export interface StartMeshOptions {
  /** Every event of the node (log lines, warnings, the start banner, stop steps). */
  out: MeshOut
  /** The environment the MESH_* option layer is read from (default process.env); test knobs always read process.env. */
  env?: NodeJS.ProcessEnv
}

/** A node started by {@link startMesh}, with the parts an in-process caller drives. */
export interface RunningMesh extends StartedNode {
  config: NodeConfig
  incarnation: number
  /** The replicated application (memory, proposals, tasks) on a consensus network; null without a genesis. */
  app: MeshApplication | null
  /** The task runtime on a consensus network; null without a genesis. */
  tasks: TaskService | null
  /** The local executor behind `tasks` (register in-process handlers with `executor.handle`); null without tasks. */
  executor: Executor | null
  messaging: Messaging
  /**
   * Leave the mesh gracefully: a Raft leader hands over, the API closes, every part stops, the node
   * leaves, logs close, runtime.json goes and the data-dir lock is released. Errors while stopping are
   * reported through `out` and swallowed. Calling it again returns the same promise.
   */
  stop: () => Promise<void>
  /** Remove runtime.json and release the lock now, without waiting (a hard stop after `stop()` overran). */
  abandon: () => void
}

/**
 * Start a node as `mesh start` does: resolve the options (flags > environment > config file > default),
 * the genesis, the data dir (identity, lock, incarnation), then every part, the API and runtime.json;
 * resolves once it serves (the start banner went to `out`). Errors are CliErrors with the CLI's exit
 * code (ConfigError for a bad option); what had started by then is released.
 */
export async function startMesh (flags: Partial<Record<keyof NodeConfig, unknown>>, configPath: string | undefined, options: StartMeshOptions): Promise<RunningMesh> {
  const { config, sources } = resolveConfig(flags, options.env ?? process.env, loadConfigFile(configPath))
  // consensus: --genesis, or genesis.json in the data dir
  const genesisPath = config.genesis ?? (existsSync(join(config.dataDir, 'genesis.json')) ? join(config.dataDir, 'genesis.json') : undefined)
  let genesis: Genesis | undefined
  if (genesisPath != null) {
    try {
      genesis = readGenesis(genesisPath)
    } catch (err) {
      throw new CliError(`--genesis: ${(err as Error).message}`, 2)
    }
    if (sources.network === 'default') config.network = genesis.network
    else if (config.network !== genesis.network) throw new CliError(`--network: "${config.network}" differs from the genesis network "${genesis.network}" (${genesisPath})`, 2)
  }
  const out = options.out

  ensureDataDir(config.dataDir)
  const { privateKey, created } = await loadIdentity(config.dataDir, true)
  const release = acquireLock(config.dataDir)
  const incarnation = nextIncarnation(config.dataDir)
  // [founding] no genesis: found a network, fetch its genesis from --bootstrap, or join one on the LAN;
  // --consensus none keeps a gossip-only node (src/runtime/founding.ts, docs/founding.md)
  let founding: FoundingOutcome
  try {
    founding = await resolveFounding({ config, sources, privateKey, genesis, log: line => { out(`${new Date().toISOString().slice(11, 23)} ${line}`, { event: 'log', message: line }) } })
  } catch (err) {
    release()
    if (err instanceof FoundingError) throw new CliError(err.message, err.exitCode)
    throw err
  }
  genesis = founding.genesis
  // [/founding]
  // TEST ONLY: a lying validator, for the tests that check the others still agree (never in production)
  const byzantineMode = process.env.MESH_TEST_BYZANTINE
  if (byzantineMode != null && byzantineMode !== '' && byzantineMode !== 'equivocate') {
    throw new CliError(`MESH_TEST_BYZANTINE=${byzantineMode}: the only test mode is "equivocate"; unset it to run an honest node`, 2)
  }
  const byzantine = byzantineMode === 'equivocate' ? 'equivocate' as const : undefined
  let app: MeshApplication | null = null
  let store: PbftLog | null = null
  let raftStore: RaftLog | null = null
  if (genesis != null && consensusMode(genesis) === 'raft') {
    // Raft: members execute the log (raft.log in the data dir); observers learn it from a member
    app = new MeshApplication(genesis.validators.map(v => v.peer_id), sha256Hex, { votersFollowMembership: true }) // proposals: the voters in force vote
    // genesis members, and nodes a committed change made members (their raft.log is in the data dir)
    if (genesis.validators.some(v => v.peer_id === peerIdOf(privateKey)) || existsSync(join(config.dataDir, raftLogFileName))) raftStore = new RaftLog(config.dataDir)
  } else if (genesis != null) {
    const validators = genesis.validators.map(v => v.peer_id)
    // validators execute the log; observers learn it (f+1 validators vouch): both serve reads
    app = new MeshApplication(validators, sha256Hex)
    if (validators.includes(peerIdOf(privateKey))) {
      try {
        store = new PbftLog(config.dataDir)
      } catch (err) {
        release()
        throw new CliError(`cannot open the consensus log in ${config.dataDir}: ${(err as Error).message}`, 1)
      }
    }
  }
  // a private network: the pre-shared key file (--psk-file), checked before anything listens
  let psk: Uint8Array | undefined
  if (config.pskFile != null) {
    try {
      psk = readPskFile(config.pskFile)
    } catch (err) {
      release()
      throw new CliError(`--psk-file: ${(err as Error).message}`, 2)
    }
  }
  // [admission] the allow list (--allow-peers) and rate-limit overrides, checked before anything listens
  let allowPeers: Set<string> | undefined
  let rateLimits: ReturnType<typeof parseRateLimits> | undefined
  try {
    if (config.allowPeers != null) allowPeers = readAllowPeers(config.allowPeers)
  } catch (err) {
    release()
    throw new CliError(`--allow-peers: ${(err as Error).message}`, 2)
  }
  try {
    if ((process.env.MESH_RATE_LIMITS ?? '') !== '') rateLimits = parseRateLimits(process.env.MESH_RATE_LIMITS as string)
  } catch (err) {
    release()
    throw new CliError(`MESH_RATE_LIMITS: ${(err as Error).message}`, 2)
  }
  // [/admission]
  let node: MeshNode
  try {
    node = await MeshNode.start(config, {
      psk,
      admission: { allowPeers, exemptLoopback: sources.maxConnsPerIp === 'default', rateLimits }, // [admission]
      privateKey,
      incarnation,
      consensus: genesis != null && app != null ? { genesis, app, store, byzantine, raftStore, openRaftStore: () => (raftStore = new RaftLog(config.dataDir)) } : undefined,
      log: line => { out(`${new Date().toISOString().slice(11, 23)} ${line}`, { event: 'log', message: line }) },
      // MESH_TRACE=gossip: one JSON line per own publish and per record applied (for `npm run bench`)
      trace: (process.env.MESH_TRACE ?? '').split(',').includes('gossip')
        ? event => { process.stdout.write(JSON.stringify(event) + '\n') }
        : undefined
    })
  } catch (err) {
    release()
    const message = (err as Error).message
    if (/EADDRINUSE|address already in use/i.test(message)) {
      throw new CliError(`--listen: an address is already in use (${message}); pick another port, or /tcp/0 for any free one`, 1)
    }
    throw err
  }
  // task records (payloads, results) on the 3 XOR-closest members: every node keeps and repairs them,
  // consensus or not (the task runtime may use `records.put/get`)
  const records = new RecordStore({
    self: node.peerId,
    wire: node.libp2p.services.records,
    members: () => node.status().members,
    log: line => { out(`${new Date().toISOString().slice(11, 23)} ${line}`, { event: 'log', message: line }) },
    onRequestFailed: peer => { node.reputation.observe(peer, { type: 'request-failed' }) }, // [reputation]
    // a record outlives its task by at most the orphan grace (10 min): the table forgets finished tasks
    // beyond the latest 2,000, and nobody can ask for their payload or result any more
    taskKnown: taskId => app == null || app.task(taskId) != null
  })
  records.start()
  // [aggregate] mesh-wide estimates by push-pull gossip on every node, genesis or not: GET /v1/aggregates,
  // mesh_aggregate_* gauges (src/runtime/gossip/aggregation.ts)
  let aggregateTiming
  try {
    aggregateTiming = aggregateTimingFromEnv()
  } catch (err) {
    records.stop()
    await node.stop()
    release()
    throw new CliError((err as Error).message, 2)
  }
  const aggregation = new Aggregation({
    self: node.peerId,
    wire: node.libp2p.services.aggregate,
    members: () => node.status().members,
    seed: seedOf(node.peerId, incarnation),
    ...aggregateTiming,
    registry: node.metricsRegistry,
    log: line => { out(`${new Date().toISOString().slice(11, 23)} ${line}`, { event: 'log', message: line }) }
  })
  aggregation.start()
  node.setMeshSizeEstimate(() => aggregation.recentMeshSize())
  // [aggregate] end
  // tasks: the local executor (built-in handlers + the config file's external commands) and the
  // scheduler runtime, on every node of a consensus network
  let tasks: TaskService | null = null
  let taskExecutor: Executor | null = null // [library] in-process handlers (src/library/node.ts)
  if (node.consensus != null && app != null) {
    const consensus = node.consensus
    const taskApp = app
    let handlers: Record<string, TaskHandler>
    try {
      handlers = { ...builtinHandlers, ...handlersFromConfig(parseHandlerConfig({ handlers: config.handlers ?? {} })) }
    } catch (err) {
      records.stop() // [library] an in-process caller lives on: stop what had started
      aggregation.stop() // [library]
      await node.stop()
      release()
      throw new CliError(`config file, "handlers": ${(err as Error).message}`, 2)
    }
    // a node runs what it declares (--capabilities) and has a handler for
    const runnable = Object.fromEntries(Object.entries(handlers).filter(([capability]) => config.capabilities.includes(capability)))
    for (const capability of config.capabilities) {
      if (runnable[capability] == null) out(`warning: capability "${capability}" has no handler (built-ins: ${Object.keys(builtinHandlers).join(', ')}; or add one under "handlers" in the config file): this node will not run it`, { event: 'warning', capability })
    }
    let service: TaskService | null = null
    const executor = new Executor({
      maxConcurrent: config.maxConcurrent,
      // results over 16 KiB go to their record replicas and the table keeps their digest (up to 1 MiB)
      maxResultBytes: taskDataRefBytesMax,
      handlers: runnable,
      onStart: run => { service?.onStart(run) },
      onDone: (run, outcome) => { service?.onDone(run, outcome) }
    })
    service = new TaskService({
      self: node.peerId,
      validators: consensus.validators,
      propose: async operation => await consensus.propose(operation),
      onCommit: listener => consensus.onCommit(listener),
      app: taskApp,
      protocols: node.libp2p.services.tasks,
      executor,
      members: () => node.status().members,
      setLoad: load => { node.setTaskLoad(load) },
      records,
      loadShedding: config.loadShedding,
      // [reputation] auction tie-break; task outcomes feed the node's reputation of the worker
      reputation: peerId => node.reputation.score(peerId),
      onOutcome: (worker, outcome) => { node.reputation.observe(worker, { type: 'task', success: outcome.success, durationMs: outcome.durationMs, expectedMs: outcome.expectedMs }) },
      onRequestFailed: peerId => { node.reputation.observe(peerId, { type: 'request-failed' }) },
      meshMeanUtilisation: () => aggregation.meshMean('utilisation'), // [aggregate]
      log: line => { out(`${new Date().toISOString().slice(11, 23)} ${line}`, { event: 'log', message: line }) }
    })
    service.start()
    tasks = service
    taskExecutor = executor
  }
  // plain reads never show an older prefix than before a restart (src/runtime/consensus/read-floor.ts)
  const readFloor = genesis != null ? new ReadFloor(config.dataDir === '' ? null : config.dataDir, genesisHash(genesis)) : null
  if (readFloor?.ignored != null) out(`warning: ${readFloor.ignored}`, { event: 'warning', message: readFloor.ignored })
  const routes: RouteHandler[] = [consensusRoutes(() => node.consensus, () => app, () => readFloor), taskRoutes(() => tasks, () => app), recordRoutes(() => records)]
  const rawRoutes: RawRouteHandler[] = []
  /** Stopped in order at shutdown, before the node itself. */
  const stoppers: Array<() => void | Promise<void>> = []
  /** [library] A start that fails from here on stops what had started: an in-process caller lives on. */
  const stopStarted = async (): Promise<void> => {
    for (const stop of stoppers) { try { await stop() } catch {} }
    aggregation.stop()
    tasks?.stop()
    records.stop()
    await node.stop()
    release()
  }
  // ── operating the mesh: each feature wires itself below (messaging, metrics, topology page) ──
  // [messaging] peer messages: direct with ack, broadcast, the bounded log, /v1/messages (+ SSE stream)
  const messaging = new Messaging({
    self: node.peerId,
    wire: node.libp2p.services.messaging,
    pubsub: node.libp2p.services.pubsub,
    members: () => node.status().members,
    isConnected: peerId => node.connectionList().some(c => c.peerId === peerId),
    // [reputation] a refused direct message counts against its sender (src/runtime/gossip/reputation.ts)
    onReject: (reason, via, from) => {
      const charged = messageRejection(reason, via)
      if (charged != null && from !== 'unknown') node.reputation.observe(from, { type: 'rejected', reason: charged })
    },
    // a recipient that does not acknowledge: a timeout, or a failed request (a refusal is an answer)
    onDeliveryFailed: (peer, failure) => {
      if (failure === 'timeout') node.reputation.observe(peer, { type: 'request-timeout' })
      else if (failure !== 'rejected' && failure !== 'busy') node.reputation.observe(peer, { type: 'request-failed' })
    }
  })
  messaging.start()
  routes.push(messageRoutes(() => messaging))
  rawRoutes.push(messageStreamRoute(() => messaging))
  stoppers.push(() => { messaging.stop() })
  // [eventual] the eventually consistent memory on every node: the LWW map in eventual.log, spread by
  // gossip and repaired by anti-entropy (protocols/eventual/); /v1/memory?consistency=eventual, and the
  // only memory (the default) on a node without a consensus network. Its routes run before consensus'.
  const eventualStore = new EventualStore({
    self: node.peerId,
    onRejected: (peer, reason) => { node.reputation.observe(peer, { type: 'rejected', reason: `eventual-${reason}` }) }, // [reputation]
    dataDir: config.dataDir,
    wire: node.libp2p.services.eventual,
    pubsub: node.libp2p.services.pubsub,
    log: line => { out(`${new Date().toISOString().slice(11, 23)} ${line}`, { event: 'log', message: line }) }
  })
  try {
    eventualStore.start()
  } catch (err) {
    await stopStarted() // [library]
    throw new CliError(`cannot open the eventual store in ${config.dataDir}: ${(err as Error).message}`, 1)
  }
  routes.unshift(eventualRoutes(() => eventualStore, () => node.consensus != null))
  stoppers.push(async () => { await eventualStore.stop() })
  // [metrics] GET /metrics (Prometheus: mesh_* and libp2p's, the node's own registry), the bounded
  // history in the data dir (metrics-history.json) and GET /v1/report (src/runtime/metrics/metrics.ts)
  let sampleMs: number
  try { sampleMs = sampleMsFromEnv() } catch (err) { await stopStarted() /* [library] */; throw new CliError((err as Error).message, 2) }
  const metrics = new MeshMetrics({
    registry: node.metricsRegistry,
    status: () => node.status(),
    partitioned: () => node.partitioned(),
    consensus: () => node.consensus,
    taskCounts: () => app?.taskCounts() ?? null,
    taskStats: () => tasks?.status() ?? null,
    records: () => records.stats(),
    messaging: () => messaging,
    aggregates: () => { const best = aggregation.best(); return best == null ? null : { count: best.count, utilisationMean: best.numbers.utilisation?.mean, errorBound: best.change } }, // [aggregate]
    subscribeGossip: listener => {
      const pubsub = node.libp2p.services.pubsub
      const onMessage = (): void => { listener() }
      pubsub.addEventListener('message', onMessage)
      return () => { pubsub.removeEventListener('message', onMessage) }
    },
    historyPath: join(config.dataDir, 'metrics-history.json'),
    sampleMs,
    log: line => { out(`${new Date().toISOString().slice(11, 23)} ${line}`, { event: 'log', message: line }) }
  })
  metrics.start()
  routes.push(reportRoutes(() => metrics))
  routes.push(historyRoutes(() => metrics.series)) // [charts] GET /v1/metrics/history (src/api/history-routes.ts)
  rawRoutes.push(metricsRawRoute(() => metrics))
  stoppers.push(async () => { await metrics.stop() })
  // [votes] gossip votes (any node, genesis or not): signed proposals and votes on /mesh/<network>/votes/1,
  // anti-entropy on /mesh/<network>/votes/1.0.0, gossip-votes.log in the data dir; its routes go in front
  // of the consensus proposal routes (POST "protocol": "gossip", and GET lists both kinds)
  const gossipVotes = new GossipVotesRuntime({
    network: config.network,
    self: node.peerId,
    onRejected: (peer, reason) => { node.reputation.observe(peer, { type: 'rejected', reason: `votes-${reason}` }) }, // [reputation]
    privateKey,
    dataDir: config.dataDir,
    pubsub: node.libp2p.services.pubsub,
    wire: node.libp2p.services.votes,
    aliveMembers: () => node.status().members.filter(m => m.state === 'alive').map(m => m.peerId),
    connectedPeers: () => [...new Set(node.connectionList().map(c => c.peerId))],
    onConnect: listener => {
      const onConnect = (event: CustomEvent<{ toString: () => string }>): void => { listener(event.detail.toString()) }
      node.libp2p.addEventListener('peer:connect', onConnect)
      return () => { node.libp2p.removeEventListener('peer:connect', onConnect) }
    },
    log: line => { out(`${new Date().toISOString().slice(11, 23)} ${line}`, { event: 'log', message: line }) }
  })
  gossipVotes.start()
  routes.unshift(gossipVoteRoutes(() => gossipVotes, () => node.consensus, () => app))
  stoppers.push(() => { gossipVotes.stop() })
  // [/votes]
  routes.push(aggregateRoutes(() => aggregation)) // [aggregate] GET /v1/aggregates
  stoppers.push(() => { aggregation.stop() }) // [aggregate]
  routes.push(memberRoutes(() => node)) // [mcp] /v1/members…, /v1/topology/optimize (src/api/member-routes.ts)
  routes.push(reputationRoutes(() => node)) // [reputation] GET /v1/reputation (src/api/reputation-routes.ts)
  routes.push(admissionRoutes(() => node.admission)) // [admission] GET /v1/admission (src/api/admission-routes.ts)
  // [topology] the live page (GET /) and its data (GET /v1/topology[/stream]), recent messages included
  const topology = topologyPage({ status: () => node.status(), consensus: () => node.consensus, app: () => app, messages: () => messaging, aggregates: () => aggregation.pagePanel() /* [aggregate] */, history: () => metrics.series /* [charts] */ })
  rawRoutes.push(topology.route)
  stoppers.push(() => { topology.stop() })
  // [founding] --voters auto:N: while this node leads, it makes the first joiners voters (src/runtime/consensus/auto-voters.ts)
  if (config.voters != null && genesis != null && consensusMode(genesis) === 'raft') {
    const autoVoters = new AutoVoters({ target: config.voters, self: node.peerId, genesis, consensus: () => node.consensus, members: () => node.status().members, wire: node.libp2p.services.genesis, log: line => { out(`${new Date().toISOString().slice(11, 23)} ${line}`, { event: 'log', message: line }) } })
    autoVoters.start()
    stoppers.push(() => { autoVoters.stop() })
  }
  // [/founding]
  let api
  try {
    api = await startApi(node, { ...config.api, token: config.apiToken }, routes, rawRoutes)
  } catch (err) {
    await stopStarted() // [library]
    throw new CliError((err as Error).message, 1)
  }
  node.apiUrl = api.url
  const multiaddrs = node.multiaddrs()
  writeRuntimeInfo(config.dataDir, {
    peerId: node.peerId,
    name: config.name,
    network: config.network,
    multiaddrs,
    api: api.url,
    pid: process.pid,
    incarnation,
    startedAt: new Date().toISOString()
  })

  out([
    `mesh node started${created ? ' (new identity created)' : ''}`,
    `  PeerId       ${node.peerId}`,
    `  name         ${config.name}    network ${config.network}    incarnation ${incarnation}`,
    `  data dir     ${config.dataDir}`,
    `  API          ${api.url}    (mesh status --data-dir ${config.dataDir})`,
    genesis != null
      ? `  consensus    ${consensusMode(genesis)} ${store != null || raftStore != null ? (raftStore != null ? 'member' : 'validator') : 'observer'} of ${genesis.validators.length} (genesis ${genesisHash(genesis)})`
      : '  consensus    none (no genesis): memory is eventual (mesh memory …), proposals are gossip votes (mesh propose …)',
    ...founding.banner(multiaddrs), // [founding]
    ...(psk != null ? [`  private net  pre-shared key ${pskFingerprint(psk)} (${config.pskFile ?? ''}): only nodes holding it can connect`] : []),
    `  LAN          mDNS ${node.mdns.enabled ? `on (${node.mdns.serviceTag ?? ''})` : 'off'}: ${node.mdns.reason}${config.zone != null ? `    zone ${config.zone}` : ''}`, // [mdns] [zones]
    ...(allowPeers != null ? [`  allow list   ${allowPeers.size} peer(s)${genesis != null ? ` + the ${genesis.validators.length} genesis validators` : ''} may connect; others are refused`] : []), // [admission]
    ...(byzantine != null && store != null ? ['  WARNING      MESH_TEST_BYZANTINE=equivocate: this validator LIES (test only)'] : []),
    `  NAT          relay server ${config.relay}${config.relay === 'auto' ? ' (serves only while publicly reachable)' : ''}, UPnP ${config.natUpnp ? 'on' : 'off'}; \`mesh status\` shows reachability`, // [nat]
    '  listening on (give one of these to other nodes as --bootstrap):',
    ...multiaddrs.map(a => `    ${a}`),
    multiaddrs.length === 0 ? '    (none: check --listen)' : '',
    'Press Ctrl-C to leave the mesh.'
  ].join('\n'), { event: 'started', peerId: node.peerId, name: config.name, network: config.network, incarnation, multiaddrs, api: api.url, dataDir: config.dataDir, mdns: node.mdns.enabled, zone: config.zone ?? null, founding: founding.kind, genesisHash: genesis != null ? genesisHash(genesis) : null /* [founding] */ })

  let stopping: Promise<void> | null = null
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      try {
        // a Raft leader hands over to the most up-to-date voter first (bounded), so nobody waits out an election timeout
        const successor = await node.consensus?.handOver?.()
        if (successor != null) out(`handed Raft leadership over to ${successor}`, { event: 'leadership-handed-over', to: successor })
        await api.close()
        for (const stop of stoppers) await stop()
        tasks?.stop()
        records.stop()
        await node.stop()
        await node.consensus?.idle()
        store?.close()
        raftStore?.close()
      } catch (err) {
        out(`error while stopping: ${(err as Error).message}`, { event: 'error', message: (err as Error).message })
      }
      removeRuntimeInfo(config.dataDir)
      release()
    })()
    await stopping
  }
  const abandon = (): void => {
    removeRuntimeInfo(config.dataDir)
    release()
  }
  return { node, apiUrl: api.url, dataDir: config.dataDir, config, incarnation, app, tasks, executor: taskExecutor, messaging, stop, abandon }
}

/** [aggregate] A 32-bit seed from the PeerId and incarnation (FNV-1a): a different gossip sequence per node and start. */
function seedOf (peerId: string, incarnation: number): number {
  let h = 0x811c9dc5
  const text = `aggregate/${peerId}/${incarnation}`
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}
