/**
 * [zones] The live page colours nodes by zone (issue 14): 4 nodes on 127.0.0.1 (no genesis), zones a,
 * b, c and one without a zone; the seed's page in headless chromium (as topology-page.test.ts) rings
 * each zoned node in its zone's colour (palette in zone-label order, the same on every node's page),
 * leaves the zone-less one without, and shows a legend of the 3 zones; no errors, nothing fetched from
 * another host. The screenshot goes to test-output/topology-zones.png. Skipped, with the reason printed, when /usr/bin/chromium is missing.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromium } from 'playwright-core'
import type { BrowserContext, Page } from 'playwright-core'
import { Cluster, repoRoot, waitUntil } from './harness.js'
import type { NodeProcess } from './harness.js'

const chromiumPath = process.env.MESH_CHROMIUM ?? '/usr/bin/chromium'
const hasChromium = existsSync(chromiumPath)
if (!hasChromium) console.warn(`topology-zones.test.ts: SKIPPED: ${chromiumPath} is missing (apt-get install -y chromium)`)
const chromiumFlags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

interface ZoneView {
  colours: Record<string, string>
  nodes: Array<{ id: string, zone: string | null, colour: string | null }>
  legend: string[]
}

describe.skipIf(!hasChromium)('the topology page colours nodes by zone', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const nodes: NodeProcess[] = []
  const zones = new Map<string, string | null>()
  let context: BrowserContext | undefined
  let page: Page
  let userDataDir = ''
  const consoleErrors: string[] = []
  const foreignRequests: string[] = []

  beforeAll(async () => {
    const seed = await cluster.start('seed', { extraArgs: ['--zone', 'b'] })
    nodes.push(seed)
    const seedAddress = seed.runtime.multiaddrs[0] as string
    const plan: Array<[string, string | null]> = [['n1', 'a'], ['n2', 'c'], ['n3', null]]
    nodes.push(...await Promise.all(plan.map(async ([name, zone]) => await cluster.start(name, { bootstrap: [seedAddress], extraArgs: zone == null ? [] : ['--zone', zone] }))))
    zones.set(seed.runtime.peerId, 'b')
    for (const [i, [, zone]] of plan.entries()) zones.set((nodes[i + 1] as NodeProcess).runtime.peerId, zone)
    await cluster.waitForStatus(seed, '4 alive members with their zones', s => s.members.length === 4 &&
      s.members.every(m => m.state === 'alive' && (m.zone ?? null) === zones.get(m.peerId)), 90_000)
    userDataDir = mkdtempSync(join(tmpdir(), 'mesh-chromium-'))
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: chromiumPath, headless: true, args: chromiumFlags, viewport: { width: 1200, height: 800 }, timeout: 60_000 })
    page = context.pages()[0] ?? await context.newPage()
    const origin = new URL(seed.api).origin
    page.on('request', request => { const url = request.url(); if (!url.startsWith(origin + '/') && !url.startsWith('data:')) foreignRequests.push(url) })
    page.on('console', message => { if (message.type() === 'error') consoleErrors.push(message.text()) })
    page.on('pageerror', err => { consoleErrors.push(err.message) })
    await page.goto(seed.api + '/')
  }, 180_000)

  afterAll(async () => {
    try { await context?.close() } finally {
      await cluster.stopAll()
      if (userDataDir !== '') rmSync(userDataDir, { recursive: true, force: true })
    }
  })

  it('rings zoned nodes in their zone\'s colour, with a legend of the zones', async () => {
    const read = async (): Promise<ZoneView> => await page.evaluate(() => {
      const g = globalThis as unknown as {
        meshTopology: { zoneColours?: Record<string, string>, cy: { nodes: () => Array<{ id: () => string, data: (k: string) => unknown }> } | null }
        document: { querySelectorAll: (s: string) => ArrayLike<{ textContent: string | null }> }
      }
      const t = g.meshTopology
      return {
        colours: t.zoneColours ?? {},
        nodes: t.cy == null ? [] : t.cy.nodes().map(n => ({ id: n.id(), zone: (n.data('zone') as string | undefined) ?? null, colour: (n.data('zoneColour') as string | undefined) ?? null })),
        legend: Array.from(g.document.querySelectorAll('#zone-legend li')).map(li => li.textContent ?? '')
      }
    })
    const view = await waitUntil('the page to colour 3 zones', 60_000, async () => {
      const v = await read()
      return v.nodes.length === 4 && Object.keys(v.colours).length === 3 ? v : undefined
    })
    expect(Object.keys(view.colours)).toEqual(['a', 'b', 'c'])
    expect(new Set(Object.values(view.colours)).size).toBe(3)
    for (const n of view.nodes) {
      const zone = zones.get(n.id) ?? null
      expect(n.zone ?? null, n.id).toBe(zone)
      expect(n.colour, n.id).toBe(zone == null ? null : view.colours[zone])
    }
    expect(view.legend).toEqual(['zones:', 'a', 'b', 'c'])
    mkdirSync(join(repoRoot, 'test-output'), { recursive: true })
    await page.screenshot({ path: join(repoRoot, 'test-output', 'topology-zones.png') })
    expect(consoleErrors).toEqual([])
    expect(foreignRequests).toEqual([])
  }, 90_000)
})
