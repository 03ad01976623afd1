/** `mesh aggregate`: the mesh-wide estimates of the running node (GET /v1/aggregates). */
import type { Command } from 'commander'
import { getJson } from './client.js'
import type { ClientOptions } from './client.js'
import { table } from './format.js'
import type { AggregateEstimateView, AggregatesView } from '../runtime/gossip/aggregation.js'

type Options = { dataDir?: string, api?: string, apiToken?: string, json?: boolean }

function num (v: number | null | undefined, digits = 2): string {
  if (v == null || !Number.isFinite(v)) return '-'
  return Number.isInteger(v) ? String(v) : v.toFixed(digits)
}

function bound (v: number | null): string {
  return v == null ? 'not yet known' : `±${(v * 100).toFixed(v < 0.001 ? 3 : 2)} %`
}

function estimateText (title: string, e: AggregateEstimateView): string[] {
  const lines = [`${title}: epoch ${e.epoch}, round ${e.round}, error bound ${bound(e.errorBound)}`,
    `  members   ${num(e.count)}`]
  const rows = Object.entries(e.numbers).map(([name, n]) => [name, num(n.mean, 3), num(n.sum), num(n.max, 3)])
  if (rows.length > 0) lines.push(...table(['ATTRIBUTE', 'MEAN', 'SUM', 'MAX'], rows).split('\n').map(l => `  ${l}`))
  const caps = Object.entries(e.capabilities)
  if (caps.length > 0) lines.push(`  capabilities  ${caps.map(([name, c]) => `${name} ${num(c, 1)}`).join(', ')}`)
  return lines
}

export function aggregateText (a: AggregatesView): string {
  const lines = [
    `mesh-wide aggregates (push-pull gossip, eventually consistent; round ${a.roundMs / 1000}s, epoch ${a.epochRounds} rounds)`,
    `best estimate: ${a.best === 'current' ? 'the current epoch (settled)' : 'the last completed epoch'}; this node sees ${a.aliveMembers} alive members`,
    ''
  ]
  if (a.completed != null) lines.push(...estimateText('completed epoch', a.completed), '')
  lines.push(...estimateText('current epoch', a.current), '')
  const x = a.exchanges
  lines.push(`exchanges  ${x.initiated} initiated (${x.replied} replied, ${x.refused} refused, ${x.notSent} not sent, ${x.lost} lost), ${x.served} served, ${x.skippedRounds} rounds skipped; ${a.bytes.sent} B sent, ${a.bytes.received} B received`)
  const refusals = Object.entries(a.refusals)
  if (refusals.length > 0) lines.push(`refused    ${refusals.map(([r, n]) => `${r} ${n}`).join(', ')}`)
  return lines.join('\n')
}

export function addAggregateCommands (program: Command, addClientOptions: (c: Command) => Command, clientOptions: (o: Options) => ClientOptions): void {
  addClientOptions(program.command('aggregate'))
    .description('mesh-wide estimates (member count, load mean/sum/max, free capacity, capability counts) by push-pull gossip')
    .addHelpText('after', `
Every node computes the same figures by gossip, with no genesis needed: each round (1 s) it swaps half
of its (sum, weight) masses with one random member, and restarts every epoch (30 rounds) so departures
and joins show in the next epoch. "completed epoch" is the last settled estimate; "current epoch" is
still converging in its first rounds. The error bound is the largest relative change of an estimate
over the last round (about the error still to go).

Attributes: queued, running, capacity, utilisation ((queued+running)/capacity), cpu (host, 0..1),
free (capacity − queued − running).

Examples:
  mesh aggregate --data-dir ./tn/node-1
  mesh aggregate --json --api 127.0.0.1:4748`)
    .action(async (options: Options) => {
      const view = await getJson<AggregatesView>(clientOptions(options), '/v1/aggregates')
      console.log(options.json === true ? JSON.stringify(view, null, 2) : aggregateText(view))
    })
}
