/**
 * The live topology page in a real headless browser (Debian's chromium driven by playwright-core):
 * a 4-validator testnet (`mesh testnet`, real node processes on 127.0.0.1). The page of node-1 shows
 * the 4 nodes in the graph and in the membership table with the mesh-wide edges, consensus (view,
 * primary, committed sequence, commits/s) and open tasks per node; after `kill -9` of one node its
 * node turns failed in both, with no reload. Screenshot: test-output/topology.png
 * (MESH_UPDATE_DOCS_SCREENSHOT=1 also copies it to docs/topology.png for the README).
 *
 * Runs on a pBFT and on a Raft genesis (MESH_TEST_ENGINES, e.g. "raft", runs one of them only): on
 * Raft the page names the engine and shows the term and the elected leader. The screenshot is the pBFT
 * run's (the Raft run's is test-output/topology-raft.png).
 *
 * [charts] The strip of metrics charts (src/api/page/charts.js, uPlot) draws the node's history and
 * moves as new points arrive over the same event stream (nodes sample every second here); screenshot
 * of the pBFT run: test-output/topology-charts.png.
 *
 * Skipped, with the reason printed, when /usr/bin/chromium is missing (.ci/run installs it).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromium } from 'playwright-core'
import type { BrowserContext, Page } from 'playwright-core'
import { api, Cluster, repoRoot, waitUntil } from './harness.js'
import type { NodeProcess } from './harness.js'

/** Debian's chromium; MESH_CHROMIUM=<path> points at another build. */
const chromiumPath = process.env.MESH_CHROMIUM ?? '/usr/bin/chromium'
const hasChromium = existsSync(chromiumPath)
if (!hasChromium) console.warn(`topology-page.test.ts: SKIPPED: ${chromiumPath} is missing (apt-get install -y chromium; .ci/run does it as root)`)

/** The launch flags of STACK.md ("Headless browser tests"). */
const chromiumFlags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** What the tests read in the page (typed here: the project's lib has no DOM types). */
interface PageGlobals {
  meshTopology: {
    updates: number
    snapshot: {
      edges: Array<{ source: string, target: string, reportedBy: string[] }>
      nodes: Array<{ id: string, tasks: { assigned: number, running: number } | null }>
      consensus: { mode: string, view: number | null, primary: string | null, committedSeq: number | null, commitsPerSecond: number | null } | null
    }
    graphNodeCount: () => number
    graphEdgeCount: () => number
    tableState: (peerId: string) => string | null
    graphState: (peerId: string) => string | null
  }
  document: { querySelectorAll: (selector: string) => Iterable<{ getAttribute: (name: string) => string | null }> }
  reloadMarker?: number
}

/** [charts] What window.meshCharts.view() reports per chart (src/api/page/charts.js). */
interface ChartView { id: string, canvasWidth: number, canvasHeight: number, series: number, length: number, lastX: number | null, values: number }
interface ChartsGlobals {
  meshCharts: {
    view: () => ChartView[]
    updates: number
    plots: Record<string, { data: Array<Array<number | null>> }>
  }
}

interface PageView {
  graphNodes: number
  graphEdges: number
  rows: Array<{ peerId: string, state: string }>
  updates: number
}

const engines = (process.env.MESH_TEST_ENGINES ?? 'pbft,raft').split(',').filter((e): e is 'pbft' | 'raft' => e === 'pbft' || e === 'raft')

describe.skipIf(!hasChromium).each(engines)('the live topology page (GET /) in headless chromium (%s)', engine => {
  // created in beforeAll, so that a skipped run leaves no temporary directories behind
  let cluster: Cluster
  let userDataDir = ''
  const outputDir = join(repoRoot, 'test-output')
  let seed: NodeProcess
  const joiners: NodeProcess[] = []
  let context: BrowserContext | undefined
  let page: Page
  const foreignRequests: string[] = []
  const consoleErrors: string[] = []

  beforeAll(async () => {
    cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
    userDataDir = mkdtempSync(join(tmpdir(), 'mesh-chromium-'))
    const testnet = cluster.testnet(4, { consensus: engine })
    for (const [i, v] of testnet.entries()) {
      const node = await cluster.start(v.name, {
        dataDir: v.dataDir,
        bootstrap: i === 0 ? [] : [seed.runtime.multiaddrs[0] as string],
        extraArgs: ['--config', v.config, '--capabilities', 'echo,sleep', '--max-concurrent', '2'],
        env: { MESH_METRICS_SAMPLE_MS: '1000' } // [charts] a history point a second, so the charts move while looked at
      })
      if (i === 0) seed = node
      else joiners.push(node)
    }
    for (const node of [seed, ...joiners]) {
      await cluster.waitForStatus(node, '4 alive members', st => st.members.filter(m => m.state === 'alive').length === 4)
    }
    // a primary (pBFT) or an elected leader (Raft: none until its first election) every node agrees on
    await waitUntil('one primary/leader every node agrees on', 30_000, async () => {
      const views = await Promise.all([seed, ...joiners].map(async n => (await api<{ mode: string, primary: string | null }>(n, 'GET', '/v1/consensus')).body))
      return views[0]?.primary != null && views.every(v => v.primary === views[0]?.primary && v.mode === engine) ? true : undefined
    })
    // launchPersistentContext: playwright refuses --user-data-dir in args and takes it here instead
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumFlags,
      viewport: { width: 1400, height: 860 },
      timeout: 60_000
    })
    page = context.pages()[0] ?? await context.newPage()
    const origin = new URL(seed.api).origin
    page.on('request', request => {
      const url = request.url()
      if (!url.startsWith(origin + '/') && !url.startsWith('data:')) foreignRequests.push(url)
    })
    page.on('console', message => { if (message.type() === 'error') consoleErrors.push(message.text()) })
    page.on('pageerror', err => { consoleErrors.push(err.message) })
  })

  afterAll(async () => {
    try { await context?.close() } finally {
      await cluster?.stopAll()
      if (userDataDir !== '') rmSync(userDataDir, { recursive: true, force: true })
    }
  })

  const view = async (): Promise<PageView> => await page.evaluate(() => {
    const g = globalThis as unknown as PageGlobals
    const topology = g.meshTopology
    return {
      graphNodes: topology.graphNodeCount(),
      graphEdges: topology.graphEdgeCount(),
      rows: [...g.document.querySelectorAll('#members tbody tr')].map(row => ({ peerId: row.getAttribute('data-peer-id') ?? '', state: row.getAttribute('data-state') ?? '' })),
      updates: topology.updates
    }
  })

  const statesOf = async (peerId: string): Promise<{ table: string | null, graph: string | null }> => await page.evaluate(id => {
    const topology = (globalThis as unknown as PageGlobals).meshTopology
    return { table: topology.tableState(id), graph: topology.graphState(id) }
  }, peerId)

  it('shows the 4 nodes alive, in the graph and the table, with the edges of the full mesh', async () => {
    const response = await page.goto(seed.api + '/', { waitUntil: 'load', timeout: 30_000 })
    expect(response?.status()).toBe(200)
    expect(response?.headers()['content-security-policy']).toContain("default-src 'none'")
    const everyone = [seed, ...joiners].map(n => n.runtime.peerId).sort()
    const shown = await waitUntil('the page to show 4 alive nodes in graph and table', 60_000, async () => {
      const v = await view()
      const ids = v.rows.map(r => r.peerId).sort()
      return v.graphNodes === 4 && JSON.stringify(ids) === JSON.stringify(everyone) && v.rows.every(r => r.state === 'alive') ? v : undefined
    }, 250)
    expect(shown.rows).toHaveLength(4)
    for (const id of everyone) expect(await statesOf(id)).toEqual({ table: 'alive', graph: 'alive' })
    // a node knows only its own connections: the joiner↔joiner edges come from the joiners' records
    const full = await waitUntil('the graph to show the 6 edges of a 4-node full mesh', 60_000, async () => {
      const v = await view()
      return v.graphEdges === 6 ? v : undefined
    }, 250)
    expect(full.graphEdges).toBe(6)
    const joinerEdge = await page.evaluate(([a, b]) => {
      const topology = (globalThis as unknown as PageGlobals).meshTopology
      return topology.snapshot.edges.find(e => (e.source === a && e.target === b) || (e.source === b && e.target === a)) ?? null
    }, [joiners[0]?.runtime.peerId ?? '', joiners[1]?.runtime.peerId ?? ''])
    expect(joinerEdge).not.toBeNull()
    expect(joinerEdge?.reportedBy).not.toContain(seed.runtime.peerId)
  })

  it('shows consensus (view, primary, committed sequence, commits/s) and the open tasks of each node', async () => {
    // 4 tasks that sleep 30 s: they stay assigned/running while the page is looked at
    const ids: string[] = []
    for (let i = 0; i < 4; i++) {
      const res = await api<{ id: string, error?: string }>(seed, 'POST', '/v1/tasks', { id: `nap-${i}`, capabilities: ['sleep'], payload: { ms: 30_000 } })
      expect(res.status, res.body.error).toBe(202)
      ids.push(res.body.id)
    }
    const consensus = (await api<{ mode: string, view: number, primary: string, lastExecuted: number }>(seed, 'GET', '/v1/consensus')).body
    expect(consensus.mode).toBe(engine)
    const shown = await waitUntil('the page to show the 4 tasks and a commit rate', 60_000, async () => {
      const snapshot = await page.evaluate(() => (globalThis as unknown as PageGlobals).meshTopology.snapshot)
      const open = snapshot.nodes.reduce((sum, n) => sum + (n.tasks == null ? 0 : n.tasks.assigned + n.tasks.running), 0)
      const c = snapshot.consensus
      return open === 4 && c != null && (c.commitsPerSecond ?? 0) > 0 && (c.committedSeq ?? 0) >= consensus.lastExecuted ? snapshot : undefined
    }, 250)
    expect(shown.consensus?.mode).toBe(engine)
    expect(shown.consensus?.view).toBe(consensus.view)
    expect(shown.consensus?.primary).toBe(consensus.primary)
    if (engine === 'raft') expect(consensus.view).toBeGreaterThanOrEqual(1)
    // the per-node counts are the replicated task table's: compare with the API, task by task
    const tasks = (await api<{ tasks: Array<{ id: string, assignee: string | null, state: string }> }>(seed, 'GET', '/v1/tasks?limit=100')).body.tasks
      .filter(t => ids.includes(t.id) && (t.state === 'assigned' || t.state === 'running'))
    for (const node of shown.nodes) {
      const held = tasks.filter(t => t.assignee === node.id).length
      const counted = node.tasks == null ? 0 : node.tasks.assigned + node.tasks.running
      // a task may start between the two reads, but not change hands (30 s sleeps, nobody failed)
      expect(counted, node.id).toBe(held)
    }
    // and the DOM says the same, in the engine's own words (pBFT: view, primary; Raft: term, leader)
    const [viewField, primaryField] = engine === 'raft' ? ['term', 'leader'] : ['view', 'primary']
    expect(await page.textContent('#consensus dd[data-field="engine"]')).toBe(engine === 'raft' ? 'Raft' : 'pBFT')
    expect(await page.textContent(`#consensus dd[data-field="${viewField}"]`)).toBe(String(consensus.view))
    const primaryText = await page.textContent(`#consensus dd[data-field="${primaryField}"]`)
    expect(primaryText).toContain((consensus.primary).slice(-8))
    const other = engine === 'raft' ? 'primary' : 'leader'
    expect(await page.$(`#consensus dd[data-field="${other}"]`)).toBeNull()
  })

  // [charts]
  it('draws the metrics history as charts (a canvas each, every series), and they move without a reload', async () => {
    const charts = async (): Promise<ChartView[]> => await page.evaluate(() => (globalThis as unknown as ChartsGlobals).meshCharts.view())
    const first = await waitUntil('5 charts drawn with at least one point', 60_000, async () => {
      const v = await charts()
      return v.length === 5 && v.every(c => c.canvasWidth > 0 && c.canvasHeight > 0 && c.length >= 1) ? v : undefined
    }, 250)
    expect(first.map(c => c.id)).toEqual(['commits', 'latency', 'tasks', 'members', 'bytes'])
    expect(first.map(c => c.series)).toEqual([1, 2, 2, 1, 2])
    expect(await page.locator('#charts figure.chart canvas').count()).toBe(5)
    // writes (commits) and quick tasks, then the charts take new points from the stream
    for (let i = 0; i < 6; i++) {
      const res = await api<{ error?: string }>(seed, 'PUT', `/v1/memory/charts/k${i}`, { value: `v${i}` })
      expect(res.status, res.body.error).toBe(200)
      const task = await api<{ error?: string }>(seed, 'POST', '/v1/tasks', { capabilities: ['echo'], payload: { i } })
      expect(task.status, task.body.error).toBe(202)
    }
    const moved = await waitUntil('the charts to take new points', 60_000, async () => {
      const v = await charts()
      return v.every((c, i) => c.lastX != null && c.lastX > (first[i]?.lastX ?? Infinity) && c.length > (first[i]?.length ?? Infinity)) ? v : undefined
    }, 250)
    expect(moved.every(c => c.canvasWidth > 0)).toBe(true)
    // what is drawn is what the node measured: commits, 4 alive members, bytes both ways
    const latest = await waitUntil('commits, 4 alive members and bytes in the charts', 60_000, async () => {
      const last = await page.evaluate(() => {
        const plots = (globalThis as unknown as ChartsGlobals).meshCharts.plots
        const max = (id: string, k: number): number => Math.max(0, ...(plots[id]?.data[k] ?? []).filter((x): x is number => x != null))
        const column = plots.members?.data[1] ?? []
        return { commits: max('commits', 1), alive: column[column.length - 1] ?? null, bytesIn: max('bytes', 1), bytesOut: max('bytes', 2) }
      })
      return last.commits > 0 && last.alive === 4 && last.bytesIn > 0 && last.bytesOut > 0 ? last : undefined
    }, 250)
    expect(latest.alive).toBe(4)
    // and the same points as the node's own history (the page keeps what GET /v1/metrics/history holds)
    const history = (await api<{ points: Array<{ t: number }> }>(seed, 'GET', '/v1/metrics/history')).body.points
    const xs = await page.evaluate(() => ((globalThis as unknown as ChartsGlobals).meshCharts.plots.members?.data[0] ?? []) as number[])
    const drawn = new Set(xs.map(x => Math.round(x * 1000)))
    const shared = history.filter(p => drawn.has(p.t)).length
    expect(shared).toBeGreaterThan(0)
    expect(history.filter(p => p.t <= Math.max(...drawn) && p.t >= Math.min(...drawn)).every(p => drawn.has(p.t))).toBe(true)
    if (engine === 'pbft') {
      mkdirSync(outputDir, { recursive: true })
      await page.screenshot({ path: join(outputDir, 'topology-charts.png'), fullPage: true })
    }
  })

  // [aggregate]
  it('shows the mesh aggregates panel: the gossip estimate of the member count, in the DOM too', async () => {
    const shown = await waitUntil('the page to show a member count estimate within 1 % of the members', 120_000, async () => {
      const snapshot = await page.evaluate(() => (globalThis as unknown as { meshTopology: { snapshot: { nodes: unknown[], aggregates: { count: number | null } | null } } }).meshTopology.snapshot)
      const count = snapshot.aggregates?.count
      return count != null && Math.abs(count - snapshot.nodes.length) <= 0.01 * snapshot.nodes.length ? snapshot : undefined
    }, 250)
    const text = await page.textContent('#aggregates dd[data-field="members"]')
    expect(Math.abs(Number(text) - shown.nodes.length)).toBeLessThanOrEqual(0.05 * shown.nodes.length)
    expect(await page.textContent('#aggregates dd[data-field="epoch · round"]')).toMatch(/^\d+ · \d+/)
  })

  it('shows recent messages: one sent to this node by another appears without a reload', async () => {
    const sender = joiners[0] as NodeProcess
    const res = await api<{ delivered?: boolean, error?: string }>(sender, 'POST', '/v1/messages', { to: seed.runtime.peerId, body: { hello: 'topology page' } })
    expect(res.status, res.body.error).toBe(201)
    const text = await waitUntil('the message in the page', 30_000, async () => {
      const shown = await page.textContent('#messages')
      return shown != null && shown.includes('topology page') ? shown : undefined
    }, 250)
    expect(text).toContain('hello')
  })

  it('after kill -9 of a joiner its node turns failed in the table and the graph, without a reload', async () => {
    const victim = joiners[2] as NodeProcess
    // a marker that a reload would wipe
    await page.evaluate(() => { (globalThis as unknown as PageGlobals).reloadMarker = 4242 })
    const before = await view()
    cluster.kill(victim, 'SIGKILL')
    await cluster.waitExit(victim)
    const states = await waitUntil(`the page to show ${victim.name} failed in table and graph`, 60_000, async () => {
      const s = await statesOf(victim.runtime.peerId)
      return s.table === 'failed' && s.graph === 'failed' ? s : undefined
    }, 250)
    expect(states).toEqual({ table: 'failed', graph: 'failed' })
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).reloadMarker)).toBe(4242)
    const after = await view()
    expect(after.updates).toBeGreaterThan(before.updates)
    // the three others stay alive
    for (const node of [seed, joiners[0] as NodeProcess, joiners[1] as NodeProcess]) {
      expect(await statesOf(node.runtime.peerId)).toEqual({ table: 'alive', graph: 'alive' })
    }
    // let the graph settle (the dead node's edges disappear with the survivors' next records), then shoot
    await waitUntil('the edges to the failed node to go', 30_000, async () => (await view()).graphEdges === 3 ? true : undefined, 250)
    mkdirSync(outputDir, { recursive: true })
    const shot = join(outputDir, engine === 'pbft' ? 'topology.png' : `topology-${engine}.png`)
    await page.screenshot({ path: shot, fullPage: true })
    expect(statSync(shot).size).toBeGreaterThan(10_000)
    if (process.env.MESH_UPDATE_DOCS_SCREENSHOT === '1' && engine === 'pbft') {
      mkdirSync(join(repoRoot, 'docs'), { recursive: true })
      copyFileSync(shot, join(repoRoot, 'docs', 'topology.png'))
    }
  })

  it('made no request to any other host, and the page logged no errors', () => {
    expect(foreignRequests).toEqual([])
    expect(consoleErrors).toEqual([])
  })
})
