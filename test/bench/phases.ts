/**
 * The benchmark phases. Each takes a running Cluster (the caller stops it) and returns plain JSON.
 * Times are wall-clock ms (Date.now()) measured in this process; trace times come from the nodes'
 * own Date.now(), which is the same clock on one machine.
 */
import { sleep } from '../e2e/harness.js'
import type { Cluster, NodeProcess, StartOptions } from '../e2e/harness.js'
import type { NodeStatus } from '../../src/runtime/mesh-node.js'
import { pollAll, progress } from './cluster.js'
import { parseMemberChanges, parseTrace, readLog, shortIdOf, summariseTrouble } from './logs.js'
import type { PublishEvent, RecordEvent } from './logs.js'
import { cpuSeconds, HostCpu, rssKiB } from './proc.js'
import { distribution, histogram, round } from './stats.js'

const nodeName = (i: number): string => `n${String(i).padStart(2, '0')}`

function totalCpuSeconds (nodes: NodeProcess[]): number {
  return nodes.reduce((sum, node) => sum + (cpuSeconds(node.pid) ?? 0), 0)
}

// ---------------------------------------------------------------------------------------------
// Join: star start, all joiners spawned in one burst, each knowing only the seed.

export interface JoinOptions {
  n: number
  deadlineMs: number
  pollIntervalMs: number
  /**
   * After full membership, keep polling this long for the connection figures to settle (a node dials
   * up to --max-peers, not every member: a mesh larger than that is never fully connected). @default 10000
   */
  settleMs?: number
  /** Name and options of node `index` (0 is the seed, started first); the seed's address is added to the others. Default: n00…, no options. */
  node?: (index: number) => { name: string, options: StartOptions }
}

/** Peers a node must have for the mesh to count as connected (the keeper's --min-peers default). */
const minPeersDefault = 3

export interface JoinOutcome {
  result: Record<string, unknown>
  nodes: NodeProcess[]
  full: boolean
  /** Every node has at least min(3, n − 1) peers at the end. */
  connected: boolean
}

function snapshotOf (polls: Array<{ node: NodeProcess, status?: NodeStatus, error?: string }>, n: number): Record<string, unknown> {
  const perNode = polls.map(p => p.status == null
    ? { name: p.node.name, error: p.error, cpuSeconds: round(cpuSeconds(p.node.pid), 1), processRunning: p.node.child.exitCode == null && p.node.child.signalCode == null }
    : {
        name: p.node.name,
        alive: p.status.counts.alive,
        suspect: p.status.counts.suspect,
        failed: p.status.counts.failed,
        left: p.status.counts.left,
        known: p.status.known,
        connectedPeers: p.status.connectedPeers,
        connections: p.status.connections,
        partitioned: p.status.partitioned,
        cpuSeconds: round(cpuSeconds(p.node.pid), 1),
        rejected: Object.fromEntries(Object.entries(p.status.rejected).filter(([, v]) => v > 0))
      })
  const ok = polls.flatMap(p => p.status == null ? [] : [p.status])
  return {
    nodesAnswering: ok.length,
    nodesFull: ok.filter(s => s.counts.alive === n).length,
    nodesFullyConnected: ok.filter(s => s.connectedPeers >= n - 1).length,
    aliveCountHistogram: histogram(ok.map(s => s.counts.alive)),
    connectedPeersHistogram: histogram(ok.map(s => s.connectedPeers)),
    connectedPeersPerNode: distribution(ok.map(s => s.connectedPeers), 1),
    duplicateConnections: ok.reduce((sum, s) => sum + Math.max(0, s.connections - s.connectedPeers), 0),
    perNode
  }
}

export async function runJoin (cluster: Cluster, options: JoinOptions): Promise<JoinOutcome> {
  const { n, deadlineMs, pollIntervalMs } = options
  const settleMs = options.settleMs ?? 10_000
  const hostCpu = new HostCpu()
  const spec = options.node ?? ((index: number) => ({ name: nodeName(index), options: {} }))
  const seedStart = Date.now()
  const seedSpec = spec(0)
  const seed = await cluster.start(seedSpec.name, seedSpec.options)
  const seedStartupMs = Date.now() - seedStart
  const seedAddress = seed.runtime.multiaddrs[0]
  if (seedAddress == null) throw new Error('the seed printed no multiaddr')
  progress(`join${n}: seed up in ${seedStartupMs} ms; spawning ${n - 1} joiners at once`)

  const nodes: NodeProcess[] = [seed]
  const apiUpMs: Record<string, number> = {}
  const spawnErrors: string[] = []
  hostCpu.sinceLast()
  const seedCpu0 = cpuSeconds(seed.pid) ?? 0
  const benchCpu0 = process.cpuUsage()
  /** CPU-seconds since the spawn burst: our nodes, this bench process, and everything else on the host. */
  const cpuAccount = (): Record<string, number | null> => {
    const host = hostCpu.sinceLast()
    const ours = totalCpuSeconds(nodes) - seedCpu0
    const benchUsage = process.cpuUsage(benchCpu0)
    const bench = (benchUsage.user + benchUsage.system) / 1e6
    return {
      nodesCpuSeconds: round(ours, 1),
      nodesCpuSecondsPerNode: round(ours / n, 2),
      benchProcessCpuSeconds: round(bench, 1),
      otherTenantsCpuSeconds: round(Math.max(0, host.busyCpuSeconds - ours - bench), 1),
      hostBusyFraction: host.busyFraction
    }
  }
  const t0 = Date.now()
  // cluster.start() spawns synchronously before its first await: this loop is the spawn burst
  const starting = Array.from({ length: n - 1 }, (_, i) => spec(i + 1)).map(async ({ name, options: startOptions }) => {
    try {
      const node = await cluster.start(name, { ...startOptions, bootstrap: [seedAddress] })
      apiUpMs[name] = Date.now() - t0
      nodes.push(node)
    } catch (err) {
      spawnErrors.push(`${name}: ${(err as Error).message.slice(0, 500)}`)
    }
  })
  const spawnBurstMs = Date.now() - t0

  const fullAt = new Map<string, number>()
  const connectedAt = new Map<string, number>()
  let allFullMs: number | null = null
  let allConnectedMs: number | null = null
  let cpuAtFull: Record<string, number | null> | null = null
  let polls: Awaited<ReturnType<typeof pollAll>> = []
  let lastReport = 0
  for (;;) {
    const pollStart = Date.now()
    polls = await pollAll(cluster, [...nodes])
    // each answer counts at the moment it arrived (an upper bound); a round at its last answer
    const at = Math.max(pollStart, ...polls.map(p => p.atMs)) - t0
    let fullNow = nodes.length === n
    let connectedNow = nodes.length === n
    for (const p of polls) {
      const s = p.status
      const full = s != null && s.counts.alive === n
      const conn = s != null && s.connectedPeers >= n - 1
      if (full && !fullAt.has(p.node.name)) fullAt.set(p.node.name, p.atMs - t0)
      if (conn && !connectedAt.has(p.node.name)) connectedAt.set(p.node.name, p.atMs - t0)
      fullNow &&= full
      connectedNow &&= conn
    }
    if (fullNow && allFullMs == null) {
      allFullMs = at
      cpuAtFull = cpuAccount()
      progress(`join${n}: every node shows ${n} alive members after ${at} ms`)
    }
    if (connectedNow && allConnectedMs == null) {
      allConnectedMs = at
      progress(`join${n}: every node connected to all ${n - 1} others after ${at} ms`)
    }
    if (allFullMs != null && (allConnectedMs != null || at - allFullMs >= settleMs)) break
    if (Date.now() - t0 > deadlineMs) {
      progress(`join${n}: deadline of ${deadlineMs} ms passed`)
      break
    }
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now()
      const ok = polls.flatMap(p => p.status == null ? [] : [p.status])
      progress(`join${n}: t=${at} ms, ${nodes.length}/${n} up, full membership on ${ok.filter(s => s.counts.alive === n).length}, ` +
        `alive counts ${JSON.stringify(histogram(ok.map(s => s.counts.alive)))}, connectedPeers ${JSON.stringify(histogram(ok.map(s => s.connectedPeers)))}`)
    }
    await sleep(Math.max(0, pollIntervalMs - (Date.now() - pollStart)))
  }
  await Promise.allSettled(starting)
  const endMs = Date.now() - t0
  const full = allFullMs != null
  const snapshot = snapshotOf(polls, n)
  const connected = polls.every(p => p.status != null && p.status.connectedPeers >= Math.min(minPeersDefault, n - 1))
  const result: Record<string, unknown> = {
    nodes: n,
    deadlineMs,
    pollIntervalMs,
    seedStartupMs,
    spawnBurstMs,
    spawnErrors,
    apiUpMs: distribution(Object.values(apiUpMs), 0),
    fullMembership: {
      reached: full,
      allNodesMs: allFullMs,
      everyNodeAtLeastOnceMs: fullAt.size === n ? Math.max(...fullAt.values()) : null,
      perNodeFirstMs: distribution([...fullAt.values()], 0),
      nodesReached: fullAt.size
    },
    fullConnectivity: {
      note: `every node connected to all ${n - 1} others: only when n − 1 ≤ --max-peers (default 6); not waited for beyond ${settleMs} ms after full membership`,
      reached: allConnectedMs != null,
      allNodesMs: allConnectedMs,
      everyNodeAtLeastOnceMs: connectedAt.size === n ? Math.max(...connectedAt.values()) : null,
      perNodeFirstMs: distribution([...connectedAt.values()], 0),
      nodesReached: connectedAt.size
    },
    formationCpu: { measuredUntil: cpuAtFull != null ? 'full membership' : `end (${endMs} ms)`, ...(cpuAtFull ?? cpuAccount()) },
    final: full && connected
      ? { atMs: endMs, aliveCountHistogram: snapshot.aliveCountHistogram, connectedPeersHistogram: snapshot.connectedPeersHistogram, connectedPeersPerNode: snapshot.connectedPeersPerNode, duplicateConnections: snapshot.duplicateConnections }
      : { atMs: endMs, ...snapshot }
  }
  if (!full || !connected) {
    const logs = nodes.map(node => ({ name: node.name, text: readLog(node.logPath) }))
    result.logTrouble = summariseTrouble(logs)
    result.memberTransitionsToFailedOrSuspect = logs.reduce((sum, l) =>
      sum + parseMemberChanges(l.text, Date.now()).filter(c => c.to === 'failed' || c.to === 'suspect').length, 0)
  }
  return { result, nodes, full, connected }
}

// ---------------------------------------------------------------------------------------------
// Gossip propagation from the MESH_TRACE=gossip lines.

export async function runGossip (cluster: Cluster, nodes: NodeProcess[], windowMs: number, drainMs: number): Promise<Record<string, unknown>> {
  const atStart = (await pollAll(cluster, nodes)).flatMap(p => p.status == null ? [] : [p.status])
  const meshAtStart = {
    nodesAnswering: atStart.length,
    aliveCountHistogram: histogram(atStart.map(s => s.counts.alive)),
    connectedPeersHistogram: histogram(atStart.map(s => s.connectedPeers))
  }
  const hostCpu = new HostCpu()
  const cpuBefore = new Map(nodes.map(node => [node.name, cpuSeconds(node.pid)]))
  const tStart = Date.now()
  progress(`gossip: observing ${windowMs} ms of heartbeats on ${nodes.length} nodes`)
  await sleep(windowMs)
  const tEnd = Date.now()
  const idleCpu = nodes.map(node => {
    const before = cpuBefore.get(node.name)
    const after = cpuSeconds(node.pid)
    return before == null || after == null ? NaN : (after - before) / ((tEnd - tStart) / 1000)
  })
  const hostBusy = hostCpu.busySinceLast()
  await sleep(drainMs)

  const byPeer = new Map<string, string>() // peerId → node name
  for (const node of nodes) byPeer.set(node.runtime.peerId, node.name)
  const publishes: PublishEvent[] = []
  // receiver name → key "peer/inc/seq" → first atMs; and per receiver the ordered records of each peer
  const received = new Map<string, Map<string, RecordEvent>>()
  const receivedOrdered = new Map<string, Map<string, RecordEvent[]>>()
  for (const node of nodes) {
    const events = parseTrace(readLog(node.logPath))
    const map = new Map<string, RecordEvent>()
    const ordered = new Map<string, RecordEvent[]>()
    for (const e of events) {
      if (e.trace === 'publish') {
        if (e.peerId === node.runtime.peerId && e.atMs >= tStart && e.atMs <= tEnd) publishes.push(e)
      } else {
        const key = `${e.peerId}/${e.incarnation}/${e.sequence}`
        if (!map.has(key)) map.set(key, e)
        const list = ordered.get(e.peerId) ?? []
        list.push(e)
        ordered.set(e.peerId, list)
      }
    }
    received.set(node.name, map)
    receivedOrdered.set(node.name, ordered)
  }

  const lastOfAll: number[] = []
  const lastOfAllOrNewer: number[] = []
  const oneHop: number[] = []
  const perReceiver = new Map<string, number[]>()
  let incomplete = 0
  let missingDeliveries = 0
  let viaSync = 0
  let deliveries = 0
  for (const pub of publishes) {
    const key = `${pub.peerId}/${pub.incarnation}/${pub.sequence}`
    let last = -Infinity
    let lastOrNewer = -Infinity
    let complete = true
    let completeOrNewer = true
    for (const node of nodes) {
      if (node.runtime.peerId === pub.peerId) continue
      const rec = received.get(node.name)?.get(key)
      if (rec == null) {
        complete = false
        missingDeliveries++
      } else {
        deliveries++
        if (rec.via === 'sync') viaSync++
        const latency = rec.atMs - pub.atMs
        last = Math.max(last, latency)
        oneHop.push(latency)
        const list = perReceiver.get(node.name) ?? []
        list.push(latency)
        perReceiver.set(node.name, list)
      }
      // the state is seen once the receiver has applied this sequence or a newer one of the same life
      const newer = receivedOrdered.get(node.name)?.get(pub.peerId)?.find(r =>
        r.incarnation > pub.incarnation || (r.incarnation === pub.incarnation && r.sequence >= pub.sequence))
      if (newer == null) completeOrNewer = false
      else lastOrNewer = Math.max(lastOrNewer, newer.atMs - pub.atMs)
    }
    if (complete) lastOfAll.push(last)
    else incomplete++
    if (completeOrNewer) lastOfAllOrNewer.push(lastOrNewer)
  }
  const perReceiverP50 = [...perReceiver.values()].map(v => distribution(v).p50 ?? NaN)
  const perReceiverP99 = [...perReceiver.values()].map(v => distribution(v).p99 ?? NaN)

  // RTT floor: the libp2p ping RTT every node measured over its connections, one value per ordered pair
  const polls = await pollAll(cluster, nodes)
  const rtts: number[] = []
  let pairs = 0
  let pairsWithoutRtt = 0
  for (const p of polls) {
    for (const m of p.status?.members ?? []) {
      if (m.self || m.state !== 'alive') continue
      pairs++
      if (m.rttMs == null) pairsWithoutRtt++
      else rtts.push(m.rttMs)
    }
  }

  return {
    meshAtStart,
    propagation: {
      windowMs,
      publishes: publishes.length,
      publishesPerNodePerSecond: round(publishes.length / nodes.length / (windowMs / 1000), 2),
      receiversPerPublish: nodes.length - 1,
      lastReceiverMs: { ...distribution(lastOfAll), note: 'per publish (peer P, sequence s): time from P\'s publish until the last other node applied exactly (P, s)' },
      incompletePublishes: incomplete,
      missingDeliveries,
      lastReceiverSeqOrNewerMs: { ...distribution(lastOfAllOrNewer), note: 'same, counting a receiver once it applied s or a newer sequence of P' },
      perReceiverMs: { ...distribution(oneHop), note: 'every (publish, receiver) pair: publish → that receiver applied it (one or more gossipsub hops)' },
      perReceiverNodeP50Ms: distribution(perReceiverP50),
      perReceiverNodeP99Ms: distribution(perReceiverP99),
      deliveries,
      deliveriesViaSync: viaSync
    },
    rtt: {
      source: 'MemberView.rttMs: libp2p ping over each existing connection, timed with performance.now(), re-measured every 30 s',
      pairs,
      pairsWithoutRtt,
      ms: distribution(rtts, 3)
    },
    idleCpuPerNode: { ...distribution(idleCpu, 3), unit: 'cores (CPU-seconds per second) during the gossip window' },
    hostCpuBusyDuringWindow: hostBusy
  }
}

// ---------------------------------------------------------------------------------------------
// Idle RSS.

export function measureRss (nodes: NodeProcess[]): Record<string, unknown> {
  const values = nodes.map(node => rssKiB(node.pid)).filter((v): v is number => v != null).map(kib => kib / 1024)
  return {
    nodes: nodes.length,
    measured: values.length,
    unit: 'MiB (VmRSS)',
    ...distribution(values, 1),
    totalMiB: round(values.reduce((s, v) => s + v, 0), 0)
  }
}

// ---------------------------------------------------------------------------------------------
// Failure detection after kill -9.

export async function runFailure (cluster: Cluster, nodes: NodeProcess[], victims: NodeProcess[], failureTimeoutMs: number, deadlineMs: number, pollIntervalMs: number): Promise<Record<string, unknown>> {
  const runs: Array<Record<string, unknown>> = []
  const dead = new Set<string>()
  for (const victim of victims) {
    dead.add(victim.name)
    const observers = nodes.filter(node => !dead.has(node.name))
    const victimId = victim.runtime.peerId
    const suspectAt = new Map<string, number>()
    const failedAt = new Map<string, number>()
    const hostCpu = new HostCpu()
    progress(`failure: kill -9 ${victim.name}; ${observers.length} observers`)
    const t0 = Date.now()
    cluster.kill(victim, 'SIGKILL')
    let allFailedMs: number | null = null
    let lastPolls: Awaited<ReturnType<typeof pollAll>> = []
    while (Date.now() - t0 < deadlineMs) {
      const pollStart = Date.now()
      lastPolls = await pollAll(cluster, observers)
      for (const p of lastPolls) {
        const m = p.status?.members.find(member => member.peerId === victimId)
        if (m == null) continue
        // counted when the answer arrived: an upper bound, within one status round trip
        if ((m.state === 'suspect' || m.state === 'failed') && !suspectAt.has(p.node.name)) suspectAt.set(p.node.name, p.atMs - t0)
        if (m.state === 'failed' && !failedAt.has(p.node.name)) failedAt.set(p.node.name, p.atMs - t0)
      }
      if (failedAt.size === observers.length) { allFailedMs = Math.max(...failedAt.values()); break }
      await sleep(Math.max(0, pollIntervalMs - (Date.now() - pollStart)))
    }
    // exact transition times from the observers' log lines (HH:MM:SS.mmm, UTC)
    const logFailed: number[] = []
    const logSuspect: number[] = []
    const reasons: Record<string, number> = {}
    for (const node of observers) {
      const changes = parseMemberChanges(readLog(node.logPath), t0).filter(c => c.shortId === shortIdOf(victimId) && c.atMs >= t0 - 5)
      const suspect = changes.find(c => c.to === 'suspect')
      const failed = changes.find(c => c.to === 'failed')
      if (suspect != null) logSuspect.push(suspect.atMs - t0)
      if (failed != null) {
        logFailed.push(failed.atMs - t0)
        reasons[failed.reason] = (reasons[failed.reason] ?? 0) + 1
      }
    }
    const lastFromLogs = logFailed.length === observers.length ? Math.max(...logFailed) : null
    runs.push({
      victim: victim.name,
      observers: observers.length,
      allObserversFailedMs: allFailedMs,
      ratioToFailureTimeout: allFailedMs == null ? null : round(allFailedMs / failureTimeoutMs, 2),
      observersReachedFailed: failedAt.size,
      perObserverFailedMs: distribution([...failedAt.values()], 0),
      perObserverSuspectMs: distribution([...suspectAt.values()], 0),
      fromLogs: {
        lastObserverFailedMs: lastFromLogs,
        ratioToFailureTimeout: lastFromLogs == null ? null : round(lastFromLogs / failureTimeoutMs, 2),
        perObserverFailedMs: distribution(logFailed, 0),
        perObserverSuspectMs: distribution(logSuspect, 0),
        failedReasons: reasons
      },
      hostCpuBusy: hostCpu.busySinceLast(),
      ...(allFailedMs == null
        ? { stuck: lastPolls.map(p => ({ name: p.node.name, error: p.error, state: p.status?.members.find(m => m.peerId === victimId)?.state ?? 'absent' })) }
        : {})
    })
    progress(`failure: ${victim.name} failed everywhere after ${allFailedMs ?? `>${deadlineMs}`} ms (logs: ${lastFromLogs ?? '?'} ms)`)
    await sleep(2_000)
  }
  const all = runs.map(r => r.allObserversFailedMs).filter((v): v is number => typeof v === 'number')
  return {
    failureTimeoutMs,
    pollIntervalMs,
    runs,
    allObserversFailedMs: distribution(all, 0),
    meanRatioToFailureTimeout: all.length === 0 ? null : round(all.reduce((s, v) => s + v, 0) / all.length / failureTimeoutMs, 2)
  }
}
