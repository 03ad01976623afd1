/**
 * [reputation] `mesh reputation [--json]`: every peer the running node has scored (members or not),
 * best first — GET /v1/reputation (src/api/reputation-routes.ts).
 */
import type { Command } from 'commander'
import { getJson } from './client.js'
import type { ClientOptions } from './client.js'
import { shortPeerId, table } from './format.js'
import type { ReputationView } from '../api/reputation-routes.js'

interface Options { dataDir?: string, api?: string, apiToken?: string, json?: boolean }

export function reputationTable (view: ReputationView): string {
  const rows = view.peers.map(p => [
    p.name === '' ? '-' : p.name,
    shortPeerId(p.peerId),
    `${p.score > 0 ? '+' : ''}${Math.round(p.score * 10) / 10}`,
    p.banned ? 'yes' : 'no',
    p.connected ? 'yes' : 'no',
    p.inGossipMesh ? 'yes' : 'no',
    p.gossipScore == null ? '-' : String(p.gossipScore),
    p.reasons.map(r => `${r.reason} ×${r.count}`).join(', ') || '-'
  ])
  const p = view.policy
  return [
    table(['NAME', 'PEER', 'SCORE', 'BANNED', 'CONN', 'MESH', 'GOSSIPSUB', 'TOP REASONS'], rows),
    '',
    `scores in [-100, 100], half-life ${Math.round(p.halfLifeMs / 60_000)} min; banned (disconnected, refused) at ≤ ${p.banScore} after rejected messages; ` +
      `gossipsub: out of the mesh below 0, no gossip below ${p.gossipThreshold}, no publishing below ${p.publishThreshold}, ignored below ${p.graylistThreshold}`
  ].join('\n')
}

export function addReputationCommands (program: Command, addClientOptions: (c: Command) => Command, clientOptions: (o: Options) => ClientOptions): void {
  addClientOptions(program.command('reputation'))
    .description('the running node\'s reputation of every peer it has scored: score, banned, gossip mesh, top reasons')
    .action(async (options: Options) => {
      const view = await getJson<ReputationView>(clientOptions(options), '/v1/reputation')
      console.log(options.json === true ? JSON.stringify(view, null, 2) : reputationTable(view))
    })
}
