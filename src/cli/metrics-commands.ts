/** `mesh report`: the performance report of a running node (GET /v1/report). */
import type { Command } from 'commander'
import { CliError, requestJson } from './client.js'
import type { ClientOptions } from './client.js'
import { table } from './format.js'
import { parseTimeframe } from '../runtime/metrics/timeseries.js'
import type { PerformanceReport } from '../runtime/metrics/report.js'

type Options = { dataDir?: string, api?: string, apiToken?: string, json?: boolean }

/** One value in a unit people read: ms/s, MiB, %, or a plain number. */
export function formatValue (value: number, unit: string): string {
  if (!Number.isFinite(value)) return '-'
  switch (unit) {
    case 'seconds': return value < 1 ? `${(value * 1000).toFixed(value < 0.01 ? 2 : 1)}ms` : `${value.toFixed(2)}s`
    case 'bytes': return `${(value / 1024 / 1024).toFixed(1)}MiB`
    case 'ratio': return `${(value * 100).toFixed(1)}%`
    case 'cores': return `${(value * 100).toFixed(1)}%`
    default: return Number.isInteger(value) ? String(value) : value.toFixed(3)
  }
}

function duration (ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)}s`
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)}m`
  return `${(ms / 3_600_000).toFixed(1)}h`
}

export function reportText (r: PerformanceReport): string {
  const lines = [
    `performance report: ${r.node.name} (${r.node.peerId})`,
    `window   last ${r.timeframe}: ${r.samples} samples covering ${duration(r.coveredMs)}${r.from != null ? ` (${r.from} → ${r.to ?? ''})` : ''}`,
    `         resolution ${r.resolution === 'fine' ? `${r.stepMs / 1000}s samples` : `${r.stepMs / 60_000}-minute buckets (percentiles over bucket averages)`}`
  ]
  if (r.samples === 0) {
    lines.push('', `no samples yet in this window: the node takes one every ${r.bounds.sampleMs / 1000}s`)
    return lines.join('\n')
  }
  lines.push('', table(['FIGURE', 'MIN', 'AVG', 'MAX', 'P50', 'P99', 'LAST'],
    Object.entries(r.figures).map(([name, f]) => [name, ...[f.min, f.avg, f.max, f.p50, f.p99, f.last].map(v => formatValue(v, f.unit))])))
  const c = r.counts
  lines.push('', table(['COUNT', 'IN WINDOW'], [
    ['decisions', `${c.decisions} (${r.throughput.decisionsPerSecond.toFixed(2)}/s, ${c.operations} operations)`],
    ['proposals decided here', String(c.proposalsDecided)],
    ['view changes', `${c.viewChanges} installed, ${c.viewChangeRequests} requested`],
    ['partitions', `${c.partitions} (${c.partitionRecoveries} recovered${c.partitionRecoverySecondsAvg != null ? `, avg ${c.partitionRecoverySecondsAvg.toFixed(1)}s` : ''})`],
    ['tasks completed / failed here', `${c.tasksCompleted} / ${c.tasksFailed}`],
    ['migrations / failovers', `${c.migrations} / ${c.failovers}`],
    ['refused or dropped messages', String(c.rejectedMessages)]
  ]))
  lines.push('', `throughput ${r.throughput.total.toFixed(2)} msg/s: ${Object.entries(r.throughput.byProtocol).map(([p, v]) => `${p} ${v.toFixed(2)}`).join(', ') || 'none'}`)
  return lines.join('\n')
}

export function addMetricsCommands (program: Command, addClientOptions: (c: Command) => Command, clientOptions: (o: Options) => ClientOptions): void {
  addClientOptions(program.command('report'))
    .description('performance report of the running node: min/avg/max/p50/p99/last of its key figures, and counts, over a window of its history')
    .option('--timeframe <t>', 'window: a number and s, m, h or d, from 1m to 7d (e.g. 15m, 1h, 24h, 7d)', '24h')
    .option('--format <f>', 'table (default) or json (same as --json)', 'table')
    .addHelpText('after', `
The node samples its figures every 10 s (kept for 1 h) and keeps 5-minute buckets for 7 days, in
metrics-history.json in its data dir, so the history survives a restart. Live values: GET /metrics.

Examples:
  mesh report --data-dir ./tn/node-1
  mesh report --timeframe 1h --format json --api 127.0.0.1:4900`)
    .action(async (options: Options & { timeframe: string, format: string }) => {
      if (options.format !== 'table' && options.format !== 'json') throw new CliError(`--format: "${options.format}" must be table or json`, 2)
      try {
        parseTimeframe(options.timeframe)
      } catch (err) {
        throw new CliError(`--timeframe: ${(err as Error).message}`, 2)
      }
      const report = await requestJson<PerformanceReport>(clientOptions(options), 'GET', `/v1/report?timeframe=${encodeURIComponent(options.timeframe)}`)
      console.log(options.json === true || options.format === 'json' ? JSON.stringify(report, null, 2) : reportText(report))
    })
}
