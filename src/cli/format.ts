/** Plain-text tables and small formatters for human output. */
import type { MemberView, NodeStatus } from '../runtime/mesh-node.js'
import { reachabilityText } from '../runtime/reachability.js' // [nat]

export function table (headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  return [line(headers), line(widths.map(w => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

export function shortPeerId (peerId: string): string {
  return peerId.length > 16 ? `${peerId.slice(0, 6)}…${peerId.slice(-6)}` : peerId
}

function ago (ms: number): string {
  if (ms < 1000) return `${ms}ms`
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)}s`
  return `${Math.round(ms / 60_000)}m`
}

export function membersTable (members: MemberView[]): string {
  // [zones] a ZONE column once any member has a zone
  const zones = members.some(m => m.zone != null)
  return table(
    ['NAME', 'PEER', 'STATE', 'INC', 'SEEN', 'RTT', 'CONN', 'REP', ...(zones ? ['ZONE'] : []), 'LOAD', 'CAPABILITIES'],
    members.map(m => [
      m.name + (m.self ? ' (self)' : ''),
      shortPeerId(m.peerId),
      m.state,
      String(m.incarnation),
      m.self ? '-' : ago(m.lastSeenMs),
      m.rttMs == null ? '-' : `${m.rttMs.toFixed(2)}ms`,
      m.self ? '-' : (m.connected ? 'yes' : 'no'),
      reputationCell(m.reputation),
      ...(zones ? [m.zone ?? '-'] : []),
      `${m.load.running}/${m.load.capacity} q${m.load.queued} cpu ${Math.round(m.load.cpu * 100)}%`,
      m.capabilities.join(',') || '-'
    ])
  )
}

/** [reputation] `+12.5`, `-60 banned`, `-` (ourselves, or a node that does not report it). */
export function reputationCell (r: MemberView['reputation']): string {
  if (r == null) return '-'
  const score = Math.round(r.score * 10) / 10
  const worst = r.reasons.find(x => /^(rejected:|task-failure|request-|probe-failed|flap)/.test(x.reason))
  return `${score > 0 ? '+' : ''}${score}${r.banned ? ' banned' : ''}${worst != null && score < 0 ? ` (${worst.reason} ×${worst.count})` : ''}`
}

export function statusText (s: NodeStatus): string {
  const rejected = Object.entries(s.rejected).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'
  return [
    `node       ${s.name} (${s.peerId})`,
    `network    ${s.network}   incarnation ${s.incarnation}   up ${ago(s.uptimeMs)}`,
    `mode       ${s.mode}${s.partitioned ? '   PARTITIONED: fewer than half of the known members are reachable' : ''}`,
    `members    ${s.reachable}/${s.known} reachable   alive ${s.counts.alive}  suspect ${s.counts.suspect}  failed ${s.counts.failed}  left ${s.counts.left}`,
    `connected  ${s.connectedPeers} peers (${s.connections} connections)`,
    ...(s.zone != null || s.mdns != null ? [`lan        zone ${s.zone ?? '-'}   mDNS ${s.mdns == null ? '-' : s.mdns.enabled ? `on (${s.mdns.serviceTag ?? ''})` : 'off'}`] : []), // [zones] [mdns]
    `health     ${s.slowdown > 1 ? `event loop lagging: failure timeouts stretched ×${s.slowdown}` : 'ok'}`,
    ...(s.consensus != null ? [`consensus  ${consensusLine(s.consensus)}`] : []),
    `rejected   ${rejected}`,
    `API        ${s.api ?? '-'}`,
    ...(s.reachability != null ? reachabilityText(s.reachability) : []), // [nat]
    'addresses',
    ...s.multiaddrs.map(a => `  ${a}`),
    '',
    membersTable(s.members)
  ].join('\n')
}

/** One line on where a node's decision log stands: role, view, last executed, and whether it is catching up. */
export function consensusLine (c: NonNullable<NodeStatus['consensus']>): string {
  const view = c.view != null ? `view ${c.view}, ` : ''
  const lag = c.catchingUp ? `   CATCHING UP: ${c.behind} behind the ${c.highestKnown ?? '?'} that f+1 validators executed; local reads are that far behind` : '   up to date'
  return `${c.role}, ${view}executed up to seq ${c.lastExecuted ?? '-'}${lag}`
}
