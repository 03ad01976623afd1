/**
 * `npm run soak -- --minutes 30 [--nodes 8] [--validators 4] [--interval 10] [--rate 1] [--json] [--out soak.json]`
 *
 * A genesis testnet on 127.0.0.1 (pBFT validators + observers, every node offering `echo,sha256`,
 * node default timings, real `bin/mesh.js start` processes through the e2e harness) under a steady
 * mixed load (load.ts) for the given minutes. Every interval it samples each node's RSS, heap,
 * open file descriptors, connections, live handles and event-loop delay (sample.ts); at the end it
 * prints the slope of each (per node and the worst: analysis.ts), the verdict, and writes every sample
 * to a JSON file. Exit 1 when any metric of any node grows without bound (or a node died), 2 on
 * bad usage or when the mesh did not form.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster, sleep } from '../e2e/harness.js'
import type { NodeProcess, TestnetNode } from '../e2e/harness.js'
import { keepLogs } from '../bench/cluster.js'
import { tasksFinishedKeptMax } from '../../src/core/app/limits.js'
import { inboxCountMax } from '../../src/runtime/messages.js'
import { analyseRun, analysisDefaults, hostLoadSpec, soakMetrics } from './analysis.js'
import type { Point } from './analysis.js'
import type { AnalysisOptions, NodeSample, SoakAnalysis } from './analysis.js'
import { defaultRates, SteadyLoad } from './load.js'
import type { LoadRates } from './load.js'
import { sampleNode } from './sample.js'

interface Options {
  minutes: number
  nodes: number
  validators: number
  intervalSeconds: number
  warmupSeconds: number
  bucketSeconds: number
  rate: number
  json: boolean
  out: string | null
  keepLogs: boolean
  /** Re-analyse the samples of an earlier run's JSON instead of running. */
  analyse: string | null
}

const usage = `usage: npm run soak -- [options]

  --minutes M       how long the load runs (default 30)
  --nodes N         node processes (default 8)
  --validators V    of which pBFT validators of the genesis; the rest are observers (default 4)
  --interval S      seconds between samples (default 10)
  --warmup S        seconds of warm-up left out of the slopes (default 150; at least 10 % of the run)
  --bucket S        seconds per point of the fitted line (default 60; memory takes the minimum over 3 of them)
  --rate X          multiplies the load's rates (default 1: ${Object.entries(defaultRates).map(([k, v]) => `${k} ${v}/s`).join(', ')})
  --json            print the result as JSON instead of the table
  --out FILE        where to write every sample and the result (default: a file in ${tmpdir()})
  --keep-logs       keep the nodes' logs (always kept when the run fails)
  --analyse FILE    no run: judge the samples of an earlier run's JSON (with --warmup, --bucket as given)
  --help            this text

Exit 0: nothing grows without bound; 1: something does (or a node died); 2: bad usage or no mesh.
`

function parseArgs (argv: string[]): Options {
  const options: Options = { minutes: 30, nodes: 8, validators: 4, intervalSeconds: 10, warmupSeconds: analysisDefaults.warmupMs / 1000, bucketSeconds: analysisDefaults.bucketMs / 1000, rate: 1, json: false, out: null, keepLogs: false, analyse: null }
  const number = (name: string, text: string | undefined, min: number): number => {
    const value = Number(text)
    if (text == null || !Number.isFinite(value) || value < min) throw new Error(`${name} needs a number ≥ ${min}, not "${text ?? ''}"`)
    return value
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const next = (): string | undefined => argv[++i]
    switch (arg) {
      case '--help': case '-h': process.stdout.write(usage); process.exit(0)
      // eslint-disable-next-line no-fallthrough
      case '--minutes': options.minutes = number(arg, next(), 0.5); break
      case '--nodes': options.nodes = Math.round(number(arg, next(), 2)); break
      case '--validators': options.validators = Math.round(number(arg, next(), 1)); break
      case '--interval': options.intervalSeconds = number(arg, next(), 1); break
      case '--warmup': options.warmupSeconds = number(arg, next(), 0); break
      case '--bucket': options.bucketSeconds = number(arg, next(), 1); break
      case '--rate': options.rate = number(arg, next(), 0); break
      case '--json': options.json = true; break
      case '--out': { const out = next(); if (out == null || out === '') throw new Error('--out needs a file name'); options.out = out; break }
      case '--keep-logs': options.keepLogs = true; break
      case '--analyse': case '--analyze': { const file = next(); if (file == null || file === '') throw new Error('--analyse needs a file name'); options.analyse = file; break }
      default: throw new Error(`unknown argument "${arg}"`)
    }
  }
  if (options.validators > options.nodes) throw new Error(`--validators ${options.validators} is more than --nodes ${options.nodes}`)
  return options
}

function progress (message: string): void {
  process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}\n`)
}

const round = (v: number | null | undefined, digits = 1): number | null => v == null || !Number.isFinite(v) ? null : Math.round(v * 10 ** digits) / 10 ** digits
const loadAverage = (): number[] => loadavg().map(v => Math.round(v * 100) / 100)

/** Start the testnet: validator 1 first (the seed), then the other validators and the observers at once. */
async function startMesh (cluster: Cluster, options: Options): Promise<{ nodes: NodeProcess[], validators: NodeProcess[] }> {
  const testnet = cluster.testnet(options.validators, { consensus: 'pbft' })
  const first = testnet[0] as TestnetNode
  const genesisPath = join(first.dataDir, 'genesis.json')
  const caps = ['--capabilities', 'echo,sha256', '--max-concurrent', '2']
  const seed = await cluster.start(first.name, { dataDir: first.dataDir, extraArgs: ['--config', first.config, ...caps] })
  const seedAddress = seed.runtime.multiaddrs[0] as string
  const rest = await Promise.all([
    ...testnet.slice(1).map(async v => await cluster.start(v.name, { dataDir: v.dataDir, bootstrap: [seedAddress], extraArgs: ['--config', v.config, ...caps] })),
    ...Array.from({ length: options.nodes - options.validators }, async (_, i) =>
      await cluster.start(`o${String(i + 1).padStart(2, '0')}`, { bootstrap: [seedAddress], extraArgs: ['--genesis', genesisPath, ...caps] }))
  ])
  const nodes = [seed, ...rest]
  return { nodes, validators: nodes.slice(0, options.validators) }
}

function formatTable (analysis: SoakAnalysis, nodes: string[], samples: NodeSample[]): string {
  const lines: string[] = []
  const width = Math.max(7, ...nodes.map(n => n.length + 1))
  lines.push(`slope per hour after the warm-up (heap: live, after a full GC at each sample; RSS: lowest of 3 min; others: median per minute)`)
  lines.push(['metric'.padEnd(12), 'unit/h'.padEnd(9), ...nodes.map(n => n.padStart(width)), '  worst: slope [95 %]        2nd half   level   floor  verdict'].join(''))
  for (const spec of soakMetrics) {
    const cells = nodes.map(node => {
      const a = analysis.perNode[node]?.[spec.key]
      const slope = a?.whole?.slopePerHour
      const mark = a?.verdict === 'grows' ? '!' : a?.verdict === 'slowing' ? '~' : a?.verdict === 'follows-host' ? 'h' : ''
      return `${slope == null ? '–' : (slope >= 0 ? '+' : '') + slope.toFixed(1)}${mark}`.padStart(width)
    })
    const worst = analysis.worst[spec.key]
    const w = worst?.analysis
    const summary = w?.whole == null
      ? `  ${worst?.node ?? '–'}: ${w?.verdict ?? 'no data'}`
      : `  ${worst?.node}: ${w.whole.slopePerHour.toFixed(1)} [${w.whole.lowPerHour.toFixed(1)}..${w.whole.highPerHour.toFixed(1)}]`.padEnd(29) +
        `${(w.secondHalf?.slopePerHour ?? NaN).toFixed(1).padStart(9)}${(w.level ?? NaN).toFixed(1).padStart(8)}${String(spec.floorPerHour).padStart(8)}  ${w.verdict}`
    lines.push([spec.key.padEnd(12), `${spec.unit}/h`.padEnd(9), ...cells, summary].join(''))
  }
  const host = analysis.host
  if (host?.whole != null) lines.push(`host 1-min load average: ${host.whole.slopePerHour.toFixed(1)}/h [${host.whole.lowPerHour.toFixed(1)}..${host.whole.highPerHour.toFixed(1)}], mean ${(host.level ?? NaN).toFixed(2)} (${host.whole.slopePerHour > hostLoadSpec.floorPerHour && host.whole.lowPerHour > 0 ? 'rising: excuses event-loop delay that rises with it' : 'not rising'})`)
  // bounded stores the load fills: growth here is expected until their caps, and explains some memory growth
  const levels = (key: string): string => {
    const at = (pick: 'first' | 'last'): number[] => nodes.flatMap(node => {
      const series = samples.filter(s => s.node === node && s.values[key] != null)
      const sample = pick === 'first' ? series[0] : series[series.length - 1]
      return sample == null ? [] : [sample.values[key] as number]
    })
    const first = at('first')
    const last = at('last')
    return first.length === 0 ? '–' : `${Math.min(...first)}..${Math.max(...first)} → ${Math.min(...last)}..${Math.max(...last)}`
  }
  lines.push(`stores the load fills (first → last sample, min..max over nodes): tasks in the table ${levels('tasksKept')} (finished kept ≤ ${tasksFinishedKeptMax}), inbox messages ${levels('inboxMessages')} (≤ ${inboxCountMax}), gossip proposals held ${levels('proposalsHeld')}`)
  lines.push('(! grows without bound, ~ still rising but slowing, h rises with the host\'s load; level = mean after the warm-up)')
  return lines.join('\n')
}

/** `--analyse FILE`: the table and verdict of an earlier run's samples (a partial file too). */
function reanalyse (file: string, analysisOptions: AnalysisOptions, json: boolean): number {
  let saved: { samples?: NodeSample[], hostLoad?: Array<{ tMs: number, loadavg: number[] }> }
  try {
    saved = JSON.parse(readFileSync(file, 'utf8')) as typeof saved
  } catch (err) {
    process.stderr.write(`soak: cannot read ${file}: ${(err as Error).message}\n`)
    return 2
  }
  if (!Array.isArray(saved.samples)) { process.stderr.write(`soak: ${file} has no samples\n`); return 2 }
  const samples = saved.samples ?? []
  const hostSeries: Point[] = (saved.hostLoad ?? []).map(h => ({ tMs: h.tMs, value: h.loadavg[0] ?? Number.NaN }))
  const analysis = analyseRun(samples, soakMetrics, analysisOptions, hostSeries)
  const names = [...new Set(samples.map(s => s.node))]
  if (json) process.stdout.write(JSON.stringify({ ok: analysis.ok, growing: analysis.growing, worst: analysis.worst, host: analysis.host, perNode: analysis.perNode }, null, 2) + '\n')
  else process.stdout.write(`${formatTable(analysis, names, samples)}\n${samples.length} samples, last at ${Math.round((samples[samples.length - 1]?.tMs ?? 0) / 1000)} s\nverdict: ${analysis.ok ? 'PASS' : 'FAIL'}${analysis.ok ? '' : ` — grows without bound: ${analysis.growing.map(g => `${g.node} ${g.key}`).join(', ')}`}\n`)
  return analysis.ok ? 0 : 1
}

async function main (): Promise<number> {
  let options: Options
  try {
    options = parseArgs(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message}\n\n${usage}`)
    return 2
  }
  const intervalMs = options.intervalSeconds * 1000
  const durationMs = options.minutes * 60_000
  const analysisOptions: AnalysisOptions = { ...analysisDefaults, warmupMs: options.warmupSeconds * 1000, bucketMs: options.bucketSeconds * 1000, envelopeMs: 3 * options.bucketSeconds * 1000 }
  if (options.analyse != null) return reanalyse(options.analyse, analysisOptions, options.json)
  const rates = Object.fromEntries(Object.entries(defaultRates).map(([k, v]) => [k, v * options.rate])) as LoadRates
  const out = options.out ?? join(tmpdir(), `mesh-soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  // every node with --expose-gc: the sampler asks for a full collection before reading the heap (sample.ts)
  if (!(process.env.MESH_TEST_NODE_ARGS ?? '').includes('--expose-gc')) process.env.MESH_TEST_NODE_ARGS = `${process.env.MESH_TEST_NODE_ARGS ?? ''} --expose-gc`.trim()
  const cluster = new Cluster({ heartbeatIntervalMs: 3000, failureTimeoutMs: 10_000 })
  let stopping = false
  const onSignal = (): void => {
    if (stopping) return
    stopping = true
    progress('interrupted: stopping the nodes')
    void cluster.stopAll().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  const loadavgAtStart = loadAverage()
  progress(`${options.nodes} nodes (${options.validators} validators), ${options.minutes} min, sample every ${options.intervalSeconds} s; load average ${loadavgAtStart.join(' ')}`)
  let nodes: NodeProcess[]
  let validators: NodeProcess[]
  try {
    ({ nodes, validators } = await startMesh(cluster, options))
    const n = nodes.length
    const formStart = Date.now()
    await Promise.all(nodes.map(async node => await cluster.waitForStatus(node, `${n} alive members`, s => s.counts.alive >= n, 120_000)))
    progress(`mesh formed: every node sees ${n} alive (${Date.now() - formStart} ms after the last start)`)
  } catch (err) {
    progress(`the mesh did not form: ${(err as Error).message}`)
    const dir = keepLogs(cluster, 'soak')
    progress(`logs kept in ${dir}`)
    await cluster.stopAll()
    return 2
  }

  const load = new SteadyLoad(validators, nodes, rates)
  const samples: NodeSample[] = []
  const sampleErrors: Array<{ tMs: number, node: string, error: string }> = []
  const hostLoad: Array<{ tMs: number, loadavg: number[] }> = []
  const previousCpu = new Map<string, { tMs: number, cpu: number }>()
  const t0 = Date.now()
  load.start()
  progress(`load started: ${Object.entries(rates).map(([k, v]) => `${k} ${round(v, 2)}/s`).join(', ')}`)
  let lastReport = 0
  while (Date.now() - t0 < durationMs && !stopping) {
    const started = Date.now()
    const taken = await Promise.all(nodes.map(async node => await sampleNode(node, t0)))
    for (const s of taken) {
      // CPU share since this node's previous sample (% of one core)
      const before = previousCpu.get(s.node)
      const cpu = s.values.cpuSeconds
      s.values.cpuPercent = before == null || cpu == null || s.tMs <= before.tMs ? null : (cpu - before.cpu) / ((s.tMs - before.tMs) / 1000) * 100
      if (cpu != null) previousCpu.set(s.node, { tMs: s.tMs, cpu })
      samples.push({ tMs: s.tMs, node: s.node, values: s.values })
      if (s.error != null && sampleErrors.length < 200) sampleErrors.push({ tMs: s.tMs, node: s.node, error: s.error })
    }
    hostLoad.push({ tMs: started - t0, loadavg: loadAverage() })
    if (Date.now() - lastReport >= 60_000) {
      lastReport = Date.now()
      // the samples so far, so a run that is interrupted or crashes still leaves its data
      try { writeFileSync(out, JSON.stringify({ partial: true, options: { ...options, out }, samples, hostLoad })) } catch {}
      const max = (key: string): string => String(round(Math.max(...taken.map(s => s.values[key] ?? -Infinity)), 1))
      const stats = load.stats()
      const done = Object.values(stats).reduce((a, s) => a + s.ok, 0)
      const failed = Object.values(stats).reduce((a, s) => a + s.failed, 0)
      progress(`t=${Math.round((Date.now() - t0) / 1000)} s: max over nodes rss ${max('rssMiB')} MiB, heap ${max('heapMiB')} MiB, fds ${max('fds')}, conns ${max('connections')}, cpu ${max('cpuPercent')} %, loop p99 ${max('loopDelayMs')} ms; ops ok ${done}, failed ${failed}; load ${loadAverage().join(' ')}`)
    }
    await sleep(Math.max(0, intervalMs - (Date.now() - started)))
  }
  await load.stop()
  const loadStats = load.stats()
  const exited = nodes.filter(node => node.child.exitCode != null || node.child.signalCode != null).map(node => ({ name: node.name, code: node.child.exitCode, signal: node.child.signalCode }))
  let taskCounts: unknown = null
  try {
    const res = await fetch(`${(validators[0] as NodeProcess).api}/v1/tasks?limit=1`, { signal: AbortSignal.timeout(10_000) })
    taskCounts = ((await res.json()) as { counts?: unknown }).counts ?? null
  } catch {}
  const loadavgAtEnd = loadAverage()
  const logs = options.keepLogs ? keepLogs(cluster, 'soak') : null

  const hostSeries: Point[] = hostLoad.map(h => ({ tMs: h.tMs, value: h.loadavg[0] ?? Number.NaN }))
  const analysis = analyseRun(samples, soakMetrics, analysisOptions, hostSeries)
  const ok = analysis.ok && exited.length === 0
  const keptLogs = logs ?? (ok ? null : keepLogs(cluster, 'soak'))
  await cluster.stopAll()

  const names = nodes.map(node => node.name)
  const result = {
    ok,
    verdict: ok ? 'no metric grows without bound' : exited.length > 0 ? `node(s) exited: ${exited.map(e => e.name).join(', ')}` : `grows without bound: ${analysis.growing.map(g => `${g.node} ${g.key}`).join(', ')}`,
    options: { ...options, out },
    analysisOptions,
    rates,
    durationMs: Date.now() - t0,
    conditions: { loadavgAtStart, loadavgAtEnd, loadavgMax1m: Math.max(...hostLoad.map(h => h.loadavg[0] ?? 0)), loadavgMean1m: round(hostLoad.reduce((a, h) => a + (h.loadavg[0] ?? 0), 0) / Math.max(1, hostLoad.length), 2) },
    load: loadStats,
    taskCountsAtEnd: taskCounts,
    nodesExited: exited,
    growing: analysis.growing,
    worst: Object.fromEntries(Object.entries(analysis.worst).map(([k, w]) => [k, { node: w.node, ...w.analysis }])),
    perNode: analysis.perNode,
    sampleErrors,
    logs: keptLogs,
    nodes: nodes.map(node => ({ name: node.name, pid: node.pid, peerId: node.runtime.peerId, validator: validators.includes(node) })),
    host: analysis.host,
    hostLoad,
    samples
  }
  writeFileSync(out, JSON.stringify(result, null, 1))
  if (options.json) {
    const { samples: _s, hostLoad: _h, ...summary } = result
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n')
  } else {
    const lines = [
      formatTable(analysis, names, samples),
      '',
      `load (ok / failed / skipped): ${Object.entries(loadStats).map(([k, s]) => `${k} ${s.ok}/${s.failed}/${s.skipped}`).join(', ')}`,
      ...Object.entries(loadStats).filter(([, s]) => s.failed > 0).map(([k, s]) => `  ${k} failures: ${Object.entries(s.errors).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([e, c]) => `${c}× ${e}`).join('; ')}`),
      `samples: ${samples.length} (${sampleErrors.length} without /metrics; heap read after a full GC in ${samples.filter(s => s.values.heapAfterGc === 1).length}); host load average ${loadavgAtStart.join(' ')} at start, ${loadavgAtEnd.join(' ')} at the end, 1-min max ${result.conditions.loadavgMax1m}`,
      ...(exited.length > 0 ? [`nodes exited: ${exited.map(e => `${e.name} (${e.code ?? e.signal})`).join(', ')}`] : []),
      ...(keptLogs != null ? [`logs: ${keptLogs}`] : []),
      `samples written to ${out}`,
      `verdict: ${ok ? 'PASS' : 'FAIL'} — ${result.verdict}`
    ]
    process.stdout.write(lines.join('\n') + '\n')
  }
  return ok ? 0 : 1
}

process.exitCode = await main()
