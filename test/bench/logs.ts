/**
 * Reading the node logs the harness writes (<cluster.root>/<name>.log): MESH_TRACE=gossip JSON lines
 * (own publishes, records first applied) and the human lines (member changes, warnings, errors).
 */
import { readFileSync } from 'node:fs'

export interface PublishEvent { trace: 'publish', peerId: string, incarnation: number, sequence: number, atMs: number }
export interface RecordEvent { trace: 'record', peerId: string, incarnation: number, sequence: number, atMs: number, via: 'gossip' | 'sync' }
export type TraceLine = PublishEvent | RecordEvent

export function readLog (path: string): string {
  try { return readFileSync(path, 'utf8') } catch { return '' }
}

/** Every `{"trace"…}` line of a log, in file order (lines cut off by a kill are skipped). */
export function parseTrace (text: string): TraceLine[] {
  const events: TraceLine[] = []
  for (const line of text.split('\n')) {
    if (!line.startsWith('{"trace"')) continue
    try {
      const event = JSON.parse(line) as TraceLine
      if (event.trace === 'publish' || event.trace === 'record') events.push(event)
    } catch {}
  }
  return events
}

/**
 * Member transitions from the human log: `HH:MM:SS.mmm member NAME (…abcdefgh) FROM → TO [REASON…]`.
 * The time of day is UTC (toISOString); `dayStartMs` is the UTC midnight the times are relative to.
 */
export interface MemberChange { atMs: number, name: string, shortId: string, from: string, to: string, reason: string }

const changePattern = /^(\d\d):(\d\d):(\d\d)\.(\d\d\d) member (.*) \((…[^)]*)\) (\S+) → (\S+) \[([^\]:]*)/

export function parseMemberChanges (text: string, referenceMs: number): MemberChange[] {
  const day = new Date(referenceMs)
  const dayStartMs = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate())
  const changes: MemberChange[] = []
  for (const line of text.split('\n')) {
    const m = changePattern.exec(line)
    if (m == null) continue
    let atMs = dayStartMs + ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4])
    // a run crossing UTC midnight: pick the day that puts the event nearest the reference
    if (atMs - referenceMs > 12 * 3600_000) atMs -= 24 * 3600_000
    else if (referenceMs - atMs > 12 * 3600_000) atMs += 24 * 3600_000
    changes.push({ atMs, name: m[5] as string, shortId: m[6] as string, from: m[7] as string, to: m[8] as string, reason: m[9] as string })
  }
  return changes
}

export function shortIdOf (peerId: string): string {
  return peerId.length > 12 ? `…${peerId.slice(-8)}` : peerId
}

/** Lines that look like trouble, normalised (times, ids, ports, numbers) and counted across logs. */
export interface TroubleSummary {
  linesMatched: number
  nodesWithTrouble: number
  top: Array<{ pattern: string, count: number, nodes: number, example: string }>
}

const troublePattern = /warn|error|fail|econn|timed? ?out|abort|reset|refused|unhandled|exception|reject/i

function normalise (line: string): string {
  return line
    .replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /, '')
    .replace(/^\d\d:\d\d:\d\d\.\d\d\d /, '')
    .replace(/:(inbound|outbound):[a-z0-9]+/g, ':$1:X')
    .replace(/^member .* \(…/, 'member <name> (…')
    .replace(/12D3KooW[1-9A-HJ-NP-Za-km-z]+/g, '<peer>')
    .replace(/…[1-9A-HJ-NP-Za-km-z]{8}/g, '…<id>')
    .replace(/\/ip4\/[\d.]+\/tcp\/\d+/g, '/ip4/<addr>')
    .replace(/\b\d+(\.\d+)?\b/g, 'N')
    .slice(0, 240)
}

export function summariseTrouble (logs: Array<{ name: string, text: string }>, topN = 15): TroubleSummary {
  const patterns = new Map<string, { count: number, nodes: Set<string>, example: string }>()
  let linesMatched = 0
  const nodes = new Set<string>()
  for (const { name, text } of logs) {
    for (const line of text.split('\n')) {
      // stack frames (DEBUG=…:error output) repeat the line above them
      if (line.startsWith('{"trace"') || /^\s+at /.test(line) || !troublePattern.test(line)) continue
      // ordinary membership transitions are reported separately
      if (/ member .* → (alive|suspect)/.test(line)) continue
      linesMatched++
      nodes.add(name)
      const key = normalise(line)
      const entry = patterns.get(key) ?? { count: 0, nodes: new Set<string>(), example: `${name}: ${line.slice(0, 300)}` }
      entry.count++
      entry.nodes.add(name)
      patterns.set(key, entry)
    }
  }
  const top = [...patterns.entries()]
    .sort((a, b) => b[1].count - a[1].count)
    .slice(0, topN)
    .map(([pattern, e]) => ({ pattern, count: e.count, nodes: e.nodes.size, example: e.example }))
  return { linesMatched, nodesWithTrouble: nodes.size, top }
}
