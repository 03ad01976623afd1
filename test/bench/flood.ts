/**
 * `npm run bench -- flood` (issue 13, admission control): a pBFT testnet of 4 validators on 127.0.0.1
 * takes writes from `writers` concurrent HTTP writers (one PUT each, spread over the validators):
 *
 * 1. peak headroom: 256 writes outstanding, 32 per POST, for `peakMs`, no flood: afterwards every
 *    node's GET /v1/admission shows, per protocol, the lowest level a bucket fell to (the busiest
 *    honest peer's headroom; 0 would mean an honest peer hit the limit) and the drops (must be 0);
 * 2. baseline: `writers` single-PUT writers for `windowMs`: commits/s;
 * 3. flood: the same writers while a rogue libp2p peer (test/e2e/flood-peer.ts, in this process)
 *    floods the primary with valid pBFT SUBSCRIBE frames as fast as its stream takes them (the aim is
 *    ≥ 10× the pBFT limit; the achieved rate is printed as a multiple of it). Commits/s are counted
 *    over the time the flood ran (the node bans the flooder once its reputation reaches the ban score,
 *    which ends the flood early), and the flooded node's and the others' RSS before and after.
 *
 * The nodes run with MESH_RATE_LIMITS from MESH_BENCH_FLOOD_LIMITS (default `pbft=2000/4000`: low
 * enough that one process on this machine can flood at 10× it, and phase 1 shows whether honest peers
 * stay under it at the bench's peak); `MESH_BENCH_FLOOD_LIMITS=default` runs the node defaults.
 */
import '../../src/polyfill.js'
import { loadavg } from 'node:os'
import { multiaddr } from '@multiformats/multiaddr'
import { Cluster, startRoguePeer, waitUntil } from '../e2e/harness.js'
import type { NodeProcess, TestnetNode } from '../e2e/harness.js'
import { floodPbft } from '../e2e/flood-peer.js'
import type { AdmissionStatus } from '../../src/runtime/admission.js'
import { parseRateLimits } from '../../src/runtime/admission.js'
import { defaultRateLimits } from '../../src/runtime/admission.js'
import { progress } from './cluster.js'
import { round } from './stats.js'
import { cpuSeconds, rssKiB } from './proc.js'

export interface FloodBenchOptions {
  writers: number
  windowMs: number
  peakMs: number
}

type AdmissionView = AdmissionStatus & { trackedPeers: number }

const load = (): number[] => loadavg().map(v => Math.round(v * 100) / 100)
const mib = (pid: number): number | null => { const k = rssKiB(pid); return k == null ? null : round(k / 1024, 1) }

async function admissionOf (node: NodeProcess, timeoutMs = 60_000): Promise<AdmissionView> {
  return await (await fetch(`${node.api}/v1/admission`, { signal: AbortSignal.timeout(timeoutMs) })).json() as AdmissionView
}

/** Writers for `durationMs`; returns the time of every acknowledged write (performance.now()). */
async function writeFor (nodes: NodeProcess[], label: string, writers: number, durationMs: number, batch = 1): Promise<{ acked: number[], failed: number }> {
  const acked: number[] = []
  let failed = 0
  let next = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    const node = nodes[w % nodes.length] as NodeProcess
    while (performance.now() - started < durationMs) {
      try {
        if (batch === 1) {
          const i = next++
          const res = await fetch(`${node.api}/v1/memory/flood/${label}-${i}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: `v${i}` }), signal: AbortSignal.timeout(30_000) })
          await res.arrayBuffer()
          if (res.status === 200) acked.push(performance.now()); else failed++
        } else {
          const puts = Array.from({ length: batch }, () => { const i = next++; return { key: `${label}-${i}`, value: `v${i}` } })
          const res = await fetch(`${node.api}/v1/memory/flood`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ puts }), signal: AbortSignal.timeout(30_000) })
          if (res.status !== 200) { failed += batch; await res.arrayBuffer(); continue }
          const body = await res.json() as { results: Array<{ code: number }> }
          const at = performance.now()
          for (const r of body.results) { if (r.code === 200) acked.push(at); else failed++ }
        }
      } catch {
        failed++
      }
    }
  }))
  return { acked, failed }
}

/** Per protocol, over all nodes: the lowest bucket level and the drops (only protocols that saw traffic). */
function headroom (views: AdmissionView[]): Record<string, { limit: string, lowestTokens: number, rateLimited: number, accepted: number }> {
  const out: Record<string, { limit: string, lowestTokens: number, rateLimited: number, accepted: number }> = {}
  for (const view of views) {
    for (const [protocol, bucket] of Object.entries(view.buckets)) {
      const accepted = view.accepted[protocol] ?? 0
      if (accepted === 0 && (view.rateLimited[protocol] ?? 0) === 0) continue
      const entry = out[protocol] ?? { limit: `${bucket.ratePerSec}/s, burst ${bucket.burst}`, lowestTokens: bucket.burst, rateLimited: 0, accepted: 0 }
      entry.lowestTokens = Math.min(entry.lowestTokens, bucket.lowestTokens)
      entry.rateLimited += view.rateLimited[protocol] ?? 0
      entry.accepted += accepted
      out[protocol] = entry
    }
  }
  return out
}

/** Rate limits so high that nothing is ever limited: the same run without admission control's rate limits. */
const unlimited = '*=100000000/200000000'

export async function runFloodBench (options: FloodBenchOptions): Promise<Record<string, unknown>> {
  const limited = await runFloodOnce(options, process.env.MESH_BENCH_FLOOD_LIMITS ?? 'pbft=2000/4000', true)
  // the contrast: the same flood against nodes whose buckets never run dry
  const withoutLimits = await runFloodOnce(options, unlimited, false)
  return { withLimits: limited, withoutLimits }
}

async function runFloodOnce (options: FloodBenchOptions, limitsText: string, measurePeak: boolean): Promise<Record<string, unknown>> {
  const limits = limitsText === 'default' ? {} : parseRateLimits(limitsText)
  const pbftLimit = limits.pbft ?? defaultRateLimits.pbft
  const env: Record<string, string> = limitsText === 'default' ? {} : { MESH_RATE_LIMITS: limitsText }
  const cluster = new Cluster({ heartbeatIntervalMs: 1000, failureTimeoutMs: 10000 })
  const result: Record<string, unknown> = { loadavgAtStart: load(), limits: limitsText, pbftLimit }
  let rogue: Awaited<ReturnType<typeof startRoguePeer>> | undefined
  try {
    const testnet = cluster.testnet(4)
    const first = testnet[0] as TestnetNode
    const nodes: NodeProcess[] = [await cluster.start(first.name, { dataDir: first.dataDir, env, extraArgs: ['--config', first.config] })]
    const seed = nodes[0]?.runtime.multiaddrs[0] as string
    nodes.push(...await Promise.all(testnet.slice(1).map(async n => await cluster.start(n.name, { dataDir: n.dataDir, bootstrap: [seed], env, extraArgs: ['--config', n.config] }))))
    for (const node of nodes) {
      await waitUntil(`${node.name} connected to all validators`, 60_000, async () => {
        const c = await (await fetch(`${node.api}/v1/consensus`)).json() as { validators: Array<{ connected: boolean }> }
        return c.validators.every(v => v.connected) ? true : undefined
      })
    }
    await writeFor(nodes, 'warm', 8, 2_000)

    if (measurePeak) {
      progress(`flood: peak headroom, 256 outstanding in POSTs of 32 for ${options.peakMs} ms`)
      const peak = await writeFor(nodes, 'peak', 8, options.peakMs, 32)
      const peakViews = await Promise.all(nodes.map(async n => await admissionOf(n)))
      result.peakNoFlood = { writesPerSecond: round(peak.acked.length / (options.peakMs / 1000), 1), failed: peak.failed, perProtocol: headroom(peakViews), loadavg: load() }
      progress(`flood: peak ${JSON.stringify(result.peakNoFlood)}`)
    }

    progress(`flood: baseline, ${options.writers} writers for ${options.windowMs} ms`)
    const rssBefore = nodes.map(n => mib(n.pid))
    const cpuBase = nodes.map(n => cpuSeconds(n.pid) ?? 0)
    const baseStart = performance.now()
    const baseline = await writeFor(nodes, 'base', options.writers, options.windowMs)
    const baseSeconds = (performance.now() - baseStart) / 1000
    // cores each node used meanwhile (CPU seconds per second)
    const baseCores = nodes.map((n, i) => round(((cpuSeconds(n.pid) ?? 0) - (cpuBase[i] as number)) / baseSeconds, 2))
    result.baseline = { commitsPerSecond: round(baseline.acked.length / baseSeconds, 1), failed: baseline.failed, coresPerNode: baseCores, loadavg: load() }
    progress(`flood: baseline ${JSON.stringify(result.baseline)}`)

    const primaryId = (await (await fetch(`${nodes[0]?.api ?? ''}/v1/consensus`)).json() as { primary?: string | null }).primary
    const target = nodes.find(n => n.runtime.peerId === primaryId || n.name === primaryId) ?? nodes[0] as NodeProcess
    rogue = await startRoguePeer(cluster.network)
    await rogue.dial(multiaddr(target.runtime.multiaddrs[0] as string), { signal: AbortSignal.timeout(10_000) })
    const before = await admissionOf(target)
    const rssTargetBefore = mib(target.pid)
    progress(`flood: ${options.writers} writers for ${options.windowMs} ms while a rogue floods ${target.name} (limits ${limitsText})`)
    let writing = true
    const cpuFlood = nodes.map(n => cpuSeconds(n.pid) ?? 0)
    const windowStart = performance.now()
    const flood = floodPbft(rogue, cluster.network, target.runtime.peerId, { framesMax: Number.MAX_SAFE_INTEGER, until: () => !writing })
    const flooded = await writeFor(nodes, 'flood', options.writers, options.windowMs)
    writing = false
    const sent = await flood
    const floodEnd = windowStart + sent.elapsedMs
    const windowSeconds = (performance.now() - windowStart) / 1000
    const floodCores = nodes.map((n, i) => round(((cpuSeconds(n.pid) ?? 0) - (cpuFlood[i] as number)) / windowSeconds, 2))
    const duringFlood = flooded.acked.filter(t => t <= floodEnd).length
    // the flooded node may be slow to answer (without limits it is swamped): wait for it, and say so
    const askedAt = performance.now()
    const after = await admissionOf(target, 120_000)
    const targetAnswerMs = performance.now() - askedAt
    const floodRate = sent.sent / (sent.elapsedMs / 1000)
    const reputation = await (await fetch(`${target.api}/v1/reputation`, { signal: AbortSignal.timeout(120_000) })).json() as { peers: Array<{ peerId: string, score: number, banned: boolean, reasons: Array<{ reason: string, count: number }> }> }
    const rogueView = reputation.peers.find(p => p.peerId === rogue?.peerId.toString())
    const honestCharged = reputation.peers.filter(p => p.peerId !== rogue?.peerId.toString() && p.reasons.some(r => r.reason === 'rejected:rate-limited')).length
    result.flood = {
      target: target.name,
      framesSent: sent.sent,
      floodMs: round(sent.elapsedMs, 0),
      framesPerSecond: round(floodRate, 0),
      timesTheLimit: round(floodRate / pbftLimit.ratePerSec, 1),
      ended: sent.ended ?? 'by the bench',
      droppedOnTarget: (after.rateLimited.pbft ?? 0) - (before.rateLimited.pbft ?? 0),
      // what the target read off the wire (all its pBFT peers; the rogue's frames are nearly all of it):
      // the rest of framesSent was still in socket and muxer buffers when the flood stopped
      framesReadByTargetPerSecond: round(((after.rateLimited.pbft ?? 0) - (before.rateLimited.pbft ?? 0) + (after.accepted.pbft ?? 0) - (before.accepted.pbft ?? 0)) / (sent.elapsedMs / 1000), 0),
      // writes still in flight when the window closed finish late (a swamped node answers in up to 30 s):
      // both figures divide by the time actually taken
      commitsPerSecondWhileFlooding: round(duringFlood / (sent.elapsedMs / 1000), 1),
      commitsPerSecondWholeWindow: round(flooded.acked.length / windowSeconds, 1),
      windowSeconds: round(windowSeconds, 1),
      coresPerNode: floodCores,
      failed: flooded.failed,
      targetApiAnswerAfterFloodMs: round(targetAnswerMs, 0),
      rogueStillConnected: rogue.getConnections().some(c => c.remotePeer.toString() === target.runtime.peerId && c.status === 'open'),
      rogueReputation: rogueView != null ? { score: rogueView.score, banned: rogueView.banned } : null,
      honestPeersChargedForRate: honestCharged,
      targetBuckets: { pbftTracked: after.buckets.pbft?.tracked, trackedPeersAll: after.trackedPeers, evictions: after.buckets.pbft?.evictions },
      rssMiB: {
        target: { before: rssTargetBefore, after: mib(target.pid) },
        allBeforeBaseline: rssBefore,
        allAfterFlood: nodes.map(n => mib(n.pid))
      },
      loadavg: load()
    }
    progress(`flood: ${JSON.stringify(result.flood)}`)
  } catch (err) {
    progress(`flood: ${(err as Error).stack ?? String(err)}`)
    result.error = (err as Error).message
  } finally {
    try { await rogue?.stop() } catch {}
    await cluster.stopAll()
  }
  result.loadavgAtEnd = load()
  return result
}
