/**
 * `npm run bench -- scale [--nodes 48] [--hold-minutes 5]`: the largest mesh this box holds. 7 validators
 * of a pBFT genesis (`mesh testnet`) and N − 7 observers (the same genesis, no validator key), all at
 * the node default timings, each knowing only the seed (validator 1, started first); the other N − 1
 * are spawned at once. Reports the time until every node sees all N alive, the formation CPU, the
 * connections (per node, duplicates), idle RSS and CPU per node, then samples every node's view every
 * few seconds for `holdMinutes` and reports every flap (a node that saw one of the N not alive), from
 * the samples and, exactly, from the nodes' own log lines of member changes.
 */
import { join as joinPath } from 'node:path'
import type { Cluster, NodeProcess, StartOptions, TestnetNode } from '../e2e/harness.js'
import { sleep } from '../e2e/harness.js'
import { pollAll, progress } from './cluster.js'
import { parseMemberChanges, readLog } from './logs.js'
import { measureRss, runJoin } from './phases.js'
import { HostCpu, idleCores } from './proc.js'
import { distribution, histogram } from './stats.js'

export interface ScaleOptions {
  nodes: number
  validators: number
  holdMinutes: number
  deadlineMs: number
  pollIntervalMs: number
  holdSampleMs: number
  idleWindowMs: number
}

export interface ScaleOutcome {
  result: Record<string, unknown>
  /** Formed and stayed all-alive on every node for the whole hold. */
  ok: boolean
}

export async function runScale (cluster: Cluster, options: ScaleOptions): Promise<ScaleOutcome> {
  const { nodes: n, validators: v } = options
  if (n <= v) throw new Error(`--nodes ${n} must be larger than the ${v} validators`)
  const testnet: TestnetNode[] = cluster.testnet(v, { consensus: 'pbft' })
  const genesisPath = joinPath((testnet[0] as TestnetNode).dataDir, 'genesis.json')
  const spec = (index: number): { name: string, options: StartOptions } => {
    if (index < v) {
      const node = testnet[index] as TestnetNode
      // flags (OS-chosen ports) override the testnet's config file
      return { name: node.name, options: { dataDir: node.dataDir, extraArgs: ['--config', node.config] } }
    }
    return { name: `w${String(index - v + 1).padStart(2, '0')}`, options: { extraArgs: ['--genesis', genesisPath] } }
  }
  progress(`scale: ${v} validators + ${n - v} observers, node default timings`)
  const join = await runJoin(cluster, { n, deadlineMs: options.deadlineMs, pollIntervalMs: options.pollIntervalMs, settleMs: 15_000, node: spec })
  const result: Record<string, unknown> = { nodes: n, validators: v, observers: n - v, formation: join.result }
  if (!join.full) return { result, ok: false }
  const nodes = [...join.nodes].sort((a, b) => a.name.localeCompare(b.name))
  const ids = new Set(nodes.map(node => node.runtime.peerId))
  const isValidator = (node: NodeProcess): boolean => testnet.some(t => t.name === node.name)

  // idle: memory and CPU once formed
  progress(`scale: idle window of ${options.idleWindowMs} ms`)
  const hostCpu = new HostCpu()
  const cores = await idleCores(nodes.map(node => node.pid), options.idleWindowMs)
  const idleCpu = nodes.map((node, i) => ({ node, cores: cores[i] }))
  result.idle = {
    windowMs: options.idleWindowMs,
    rss: measureRss(nodes),
    rssValidators: measureRss(nodes.filter(isValidator)),
    rssObservers: measureRss(nodes.filter(node => !isValidator(node))),
    coresPerNode: { ...distribution(idleCpu.flatMap(c => c.cores == null ? [] : [c.cores]), 4), unit: 'cores (CPU-seconds per second)' },
    coresPerValidator: distribution(idleCpu.filter(c => isValidator(c.node)).flatMap(c => c.cores == null ? [] : [c.cores]), 4),
    coresPerObserver: distribution(idleCpu.filter(c => !isValidator(c.node)).flatMap(c => c.cores == null ? [] : [c.cores]), 4),
    hostBusyFraction: hostCpu.busySinceLast()
  }

  // hold: every node must keep seeing all N alive
  const holdMs = options.holdMinutes * 60_000
  progress(`scale: holding for ${options.holdMinutes} min, sampling every ${options.holdSampleMs} ms`)
  const holdStart = Date.now()
  let samples = 0
  let samplesAllAlive = 0
  const unanswered: Record<string, number> = {}
  const sampleFlaps: Array<{ atMs: number, node: string, notAlive: Array<{ name: string, state: string }> }> = []
  const peersHistory: number[] = []
  let lastReport = 0
  while (Date.now() - holdStart < holdMs) {
    const pollStart = Date.now()
    const polls = await pollAll(cluster, nodes)
    samples++
    let allAlive = true
    for (const p of polls) {
      if (p.status == null) {
        unanswered[p.node.name] = (unanswered[p.node.name] ?? 0) + 1
        allAlive = false
        continue
      }
      peersHistory.push(p.status.connectedPeers)
      const notAlive = p.status.members.filter(m => ids.has(m.peerId) && m.state !== 'alive').map(m => ({ name: m.name, state: m.state }))
      const seen = p.status.members.filter(m => ids.has(m.peerId)).length
      if (notAlive.length > 0 || seen < n) {
        allAlive = false
        if (sampleFlaps.length < 50) sampleFlaps.push({ atMs: p.atMs - holdStart, node: p.node.name, notAlive: seen < n ? [...notAlive, { name: `${n - seen} unknown`, state: 'absent' }] : notAlive })
      }
    }
    if (allAlive) samplesAllAlive++
    if (Date.now() - lastReport > 30_000) {
      lastReport = Date.now()
      progress(`scale: hold t=${Math.round((Date.now() - holdStart) / 1000)} s, ${samplesAllAlive}/${samples} samples all-alive everywhere, ${sampleFlaps.length} flapping views seen`)
    }
    await sleep(Math.max(0, options.holdSampleMs - (Date.now() - pollStart)))
  }
  const holdEnd = Date.now()
  // exact transitions from the nodes' logs during the hold
  const logChanges: Array<{ observer: string, subject: string, to: string, reason: string, atMs: number }> = []
  for (const node of nodes) {
    for (const change of parseMemberChanges(readLog(node.logPath), holdStart)) {
      if (change.atMs < holdStart || change.atMs > holdEnd) continue
      if (change.to === 'suspect' || change.to === 'failed' || change.to === 'left') {
        logChanges.push({ observer: node.name, subject: change.name, to: change.to, reason: change.reason, atMs: change.atMs - holdStart })
      }
    }
  }
  const exited = nodes.filter(node => node.child.exitCode != null || node.child.signalCode != null).map(node => node.name)
  const ok = samples > 0 && samplesAllAlive === samples && logChanges.length === 0 && exited.length === 0
  result.hold = {
    minutes: options.holdMinutes,
    sampleIntervalMs: options.holdSampleMs,
    samples,
    samplesAllAliveOnEveryNode: samplesAllAlive,
    stayedAllAlive: ok,
    unansweredStatusRequests: unanswered,
    flapsSeenInSamples: sampleFlaps,
    memberChangesInLogs: { count: logChanges.length, byTarget: histogram(logChanges.map(c => c.to === 'suspect' ? 0 : c.to === 'failed' ? 1 : 2)), note: 'histogram keys: 0 suspect, 1 failed, 2 left', first: logChanges.slice(0, 30) },
    connectedPeersPerNode: distribution(peersHistory, 1),
    nodesExited: exited,
    finalRss: measureRss(nodes)
  }
  progress(`scale: hold done: ${samplesAllAlive}/${samples} samples all-alive, ${logChanges.length} member changes in the logs`)
  return { result: { ...result, verdict: ok ? `all ${n} stayed alive on every node for ${options.holdMinutes} min` : 'flapped or failed: see hold' }, ok }
}
