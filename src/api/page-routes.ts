/**
 * The live topology page and its data:
 *
 *   GET /                          the page (src/api/page/index.html + topology.js + topology.css)
 *   GET /assets/topology.js|.css   the page's script and style
 *   GET /assets/cytoscape.min.js   the graph library, served from the installed `cytoscape` package
 *   GET /assets/charts.js          [charts] the metrics charts (src/api/page/charts.js)
 *   GET /assets/uPlot.iife.min.js  [charts] the chart library and its style (uPlot.min.css), served from
 *                                  the installed `uplot` package
 *   GET /v1/topology               one snapshot (JSON, see topology.ts)
 *   GET /v1/topology/stream        server-sent events: a `snapshot` event every second, a comment
 *                                  every 15 s, until the client goes away; [charts] a `history` event
 *                                  with each new point of the metrics history (src/api/history-routes.ts)
 *
 * The page makes no request to any other host (Content-Security-Policy says so): it works offline.
 */
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ConsensusStatus } from '../runtime/consensus/types.js'
import type { NodeStatus } from '../runtime/mesh-node.js'
import type { TaskView, TasksQuery } from '../core/app/application.js'
import { readLimitMax } from '../core/app/limits.js'
import { buildTopology, CommitRate } from './topology.js'
import type { RecentMessagesSource, TopologyAggregates, TopologySnapshot } from './topology.js'
import type { RawRouteHandler } from './server.js'
import { historyPoint } from './history-routes.js' // [charts]
import type { HistorySource } from './history-routes.js' // [charts]

/** Concurrent event streams; one more is refused with 503 (each costs a snapshot a second). */
export const topologyStreamsMax = 16
/** A snapshot is pushed this often, and a comment line this often to keep proxies from closing it. */
export const topologyStreamIntervalMs = 1_000
export const topologyHeartbeatIntervalMs = 15_000
/** Bytes queued for a slow client before snapshots to it are skipped (latest wins on the next tick);
 * a client stuck that long beyond `topologyStalledMsMax` is disconnected. */
export const topologyStreamBufferBytesMax = 1024 * 1024
export const topologyStalledMsMax = 30_000
/** [charts] History points sent in one tick at most (more means the sampler ran far ahead: a page refetches on reconnect). */
export const historyPointsPerTickMax = 10

export interface TopologySources {
  status: () => NodeStatus
  consensus: () => { status: () => ConsensusStatus } | null
  app: () => { tasks: (query: TasksQuery) => TaskView[] } | null
  /** Recent peer messages (the messaging feature), when wired. */
  messages?: () => RecentMessagesSource | null
  /** [aggregate] Mesh-wide gossip estimates, when wired. */
  aggregates?: () => TopologyAggregates | null
  /** [charts] The metrics history: each new sample goes to the streams as a `history` event. */
  history?: () => Pick<HistorySource, 'latest' | 'recent'> | null
}

export interface TopologyPage {
  route: RawRouteHandler
  /** The current snapshot (also what GET /v1/topology answers). */
  snapshot: () => TopologySnapshot
  /** Event streams open now. */
  streamCount: () => number
  /** End every stream and the sampling timer. */
  stop: () => void
}

interface Asset {
  body: Buffer
  type: string
  etag: string
  cacheControl: string
}

/** cytoscape's canvas renderer inserts this one <style> element; the CSP allows exactly it by hash. */
const cytoscapeInjectedStyle = '.__________cytoscape_container { position: relative; }'

const pageFiles: Record<string, { file: string, type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/assets/topology.js': { file: 'topology.js', type: 'text/javascript; charset=utf-8' },
  '/assets/topology.css': { file: 'topology.css', type: 'text/css; charset=utf-8' },
  '/assets/charts.js': { file: 'charts.js', type: 'text/javascript; charset=utf-8' } // [charts]
}

// [charts] uPlot's browser build and style, read from the installed package (like cytoscape)
const libraryFiles: Record<string, { resolve: () => string, type: string }> = {
  '/assets/cytoscape.min.js': { resolve: () => cytoscapePath(), type: 'text/javascript; charset=utf-8' },
  '/assets/uPlot.iife.min.js': { resolve: () => uplotPath('uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/uPlot.min.css': { resolve: () => uplotPath('uPlot.min.css'), type: 'text/css; charset=utf-8' }
}

/** src/api/page, found from this module whether it runs as src/api (tests), dist/src/api (tsc) or dist/mesh.mjs (the bundle). */
export function findPageDir (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    for (const candidate of [join(dir, 'page'), join(dir, 'src', 'api', 'page')]) {
      if (existsSync(join(candidate, 'index.html'))) return candidate
    }
    dir = resolve(dir, '..')
  }
  throw new Error(`cannot find the page files (src/api/page/index.html) above ${dirname(fileURLToPath(import.meta.url))}`)
}

/** The installed cytoscape's browser build (UMD, minified). */
export function cytoscapePath (): string {
  return createRequire(import.meta.url).resolve('cytoscape/dist/cytoscape.min.js')
}

/** [charts] A file of the installed uplot's dist/ (the package has no `exports` map, so any file resolves). */
export function uplotPath (file: 'uPlot.iife.min.js' | 'uPlot.min.css'): string {
  return createRequire(import.meta.url).resolve(`uplot/dist/${file}`)
}

function etagOf (body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`
}

function contentSecurityPolicy (): string {
  const styleHash = createHash('sha256').update(cytoscapeInjectedStyle).digest('base64')
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'sha256-${styleHash}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'"
  ].join('; ')
}

function securityHeaders (): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY'
  }
}

function sendJson (res: ServerResponse, code: number, body: unknown, head: boolean): void {
  const text = JSON.stringify(body)
  res.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) })
  res.end(head ? undefined : text)
}

export function topologyPage (sources: TopologySources): TopologyPage {
  const commits = new CommitRate()
  const assets = new Map<string, Asset>()
  const clients = new Set<{ res: ServerResponse, stalledSinceMs: number | null }>()
  let lastBeatMs = Date.now()
  /** [charts] Time of the last history point sent to the streams (null: none yet). */
  let lastHistoryAt: number | null = null

  const loadAsset = (path: string): Asset | null => {
    const cached = assets.get(path)
    if (cached != null) return cached
    let asset: Asset
    const library = libraryFiles[path]
    if (library != null) {
      const body = readFileSync(library.resolve())
      // the library changes only with the installed package: cache a day, revalidate by ETag
      asset = { body, type: library.type, etag: etagOf(body), cacheControl: 'public, max-age=86400' }
    } else {
      const entry = pageFiles[path]
      if (entry == null) return null
      const body = readFileSync(join(findPageDir(), entry.file))
      asset = { body, type: entry.type, etag: etagOf(body), cacheControl: 'no-cache' }
    }
    assets.set(path, asset)
    return asset
  }

  const sampleCommits = (): void => {
    try {
      commits.sample(performance.now(), sources.consensus()?.status().lastExecuted ?? null)
    } catch {}
  }

  const snapshot = (): TopologySnapshot => {
    sampleCommits()
    const status = sources.status()
    const consensus = sources.consensus()?.status() ?? null
    const app = sources.app()
    let openTasks: { tasks: Array<{ assignee: string | null, state: string }>, truncated: boolean } | null = null
    if (app != null) {
      const tasks = app.tasks({ state: ['assigned', 'running'], limit: readLimitMax })
      openTasks = { tasks, truncated: tasks.length >= readLimitMax }
    }
    let messages: readonly unknown[] | null = null
    const source = sources.messages?.()
    if (source != null) {
      try {
        messages = source.recent(20)
      } catch {
        messages = []
      }
    }
    return buildTopology({
      nowMs: Date.now(),
      self: status.peerId,
      name: status.name,
      network: status.network,
      mode: status.mode,
      partitioned: status.partitioned,
      members: status.members,
      consensus,
      commitsPerSecond: consensus != null ? commits.perSecond() : null,
      openTasks,
      messages,
      aggregates: sources.aggregates?.() ?? null // [aggregate]
    })
  }

  const drop = (client: { res: ServerResponse }): void => {
    for (const c of clients) {
      if (c.res === client.res) clients.delete(c)
    }
  }

  // One timer for every stream: sample the commit rate, build one snapshot, write it to each client.
  const timer = setInterval(() => {
    sampleCommits()
    // [charts] a new point of the metrics history (one per sample interval) goes after the snapshot;
    // tracked with no client too, so a page that just loaded the history misses no point
    // (every sample since the last tick: under load two may fall between ticks; at most a few)
    let historyFrame = ''
    try {
      const history = sources.history?.() ?? null
      const latest = history?.latest() ?? null
      if (history != null && latest != null && (lastHistoryAt == null || latest.t > lastHistoryAt)) {
        if (lastHistoryAt != null && clients.size > 0) {
          for (const sample of history.recent(lastHistoryAt).slice(-historyPointsPerTickMax)) historyFrame += `event: history\ndata: ${JSON.stringify(historyPoint(sample))}\n\n`
        }
        lastHistoryAt = latest.t
      }
    } catch {}
    if (clients.size === 0) return
    const now = Date.now()
    let frame: string
    try {
      frame = `event: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`
    } catch (err) {
      frame = `: snapshot failed: ${(err as Error).message.replace(/\s+/g, ' ').slice(0, 200)}\n\n`
    }
    frame += historyFrame // [charts]
    const beat = now - lastBeatMs >= topologyHeartbeatIntervalMs
    if (beat) lastBeatMs = now
    for (const client of [...clients]) {
      if (client.res.destroyed || client.res.writableEnded) { drop(client); continue }
      if (client.res.writableLength > topologyStreamBufferBytesMax) {
        client.stalledSinceMs ??= now
        if (now - client.stalledSinceMs > topologyStalledMsMax) { client.res.destroy(); drop(client) }
        continue
      }
      client.stalledSinceMs = null
      if (beat) client.res.write(': keep-alive\n\n')
      client.res.write(frame)
    }
  }, topologyStreamIntervalMs)
  timer.unref()

  const stream = (req: IncomingMessage, res: ServerResponse): void => {
    if (clients.size >= topologyStreamsMax) {
      sendJson(res, 503, { error: `${topologyStreamsMax} topology streams are open already; close a page, or poll GET /v1/topology` }, false)
      return
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no'
    })
    res.socket?.setNoDelay(true)
    const client = { res, stalledSinceMs: null }
    clients.add(client)
    const cleanup = (): void => { drop(client) }
    req.once('close', cleanup)
    res.once('close', cleanup)
    res.once('error', cleanup)
    // the first snapshot at once, so a page draws without waiting for the next tick
    res.write(`retry: 2000\n\nevent: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`)
  }

  const route: RawRouteHandler = (req, res, url) => {
    const path = url.pathname
    const known = path === '/v1/topology' || path === '/v1/topology/stream' || libraryFiles[path] != null || pageFiles[path] != null
    if (!known) return false
    const method = req.method ?? 'GET'
    const head = method === 'HEAD'
    if (method !== 'GET' && !head) {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json; charset=utf-8' })
      res.end(JSON.stringify({ error: `${path} answers GET only` }))
      return true
    }
    if (path === '/v1/topology') {
      sendJson(res, 200, snapshot(), head)
      return true
    }
    if (path === '/v1/topology/stream') {
      if (head) { res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' }); res.end(); return true }
      stream(req, res)
      return true
    }
    let asset: Asset | null
    try {
      asset = loadAsset(path)
    } catch (err) {
      sendJson(res, 500, { error: `the page files are missing from this installation: ${(err as Error).message}` }, head)
      return true
    }
    if (asset == null) return false
    const headers: Record<string, string | number> = {
      'content-type': asset.type,
      'cache-control': asset.cacheControl,
      etag: asset.etag,
      ...(asset.type.startsWith('text/html') ? securityHeaders() : { 'x-content-type-options': 'nosniff' })
    }
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers)
      res.end()
      return true
    }
    res.writeHead(200, { ...headers, 'content-length': asset.body.length })
    res.end(head ? undefined : asset.body)
    return true
  }

  return {
    route,
    snapshot,
    streamCount: () => clients.size,
    stop: () => {
      clearInterval(timer)
      for (const client of clients) client.res.end()
      clients.clear()
    }
  }
}
