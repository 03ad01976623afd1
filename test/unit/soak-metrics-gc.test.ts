/**
 * `GET /metrics?gc=1` (src/api/metrics-routes.ts): a full collection before the scrape only in a process
 * that has `gc` (node --expose-gc, as the soak test starts its nodes), said by the `x-mesh-gc` header;
 * ignored otherwise.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { metricsRawRoute } from '../../src/api/metrics-routes.js'
import type { MeshMetrics } from '../../src/runtime/metrics/metrics.js'

function scrape (path: string): { headers: Record<string, string>, body: string, handled: Promise<boolean> } {
  const out = { headers: {} as Record<string, string>, body: '' }
  const res = {
    writeHead: (_code: number, headers: Record<string, string>) => { out.headers = headers },
    end: (text?: string) => { out.body = text ?? '' }
  } as unknown as ServerResponse
  const metrics = { text: async () => 'nodejs_heap_size_used_bytes 1\n' } as unknown as MeshMetrics
  const handled = Promise.resolve(metricsRawRoute(() => metrics)({ method: 'GET' } as IncomingMessage, res, new URL(`http://x${path}`)))
  return { ...out, get headers () { return out.headers }, get body () { return out.body }, handled }
}

describe('GET /metrics?gc=1', () => {
  afterEach(() => { delete (globalThis as { gc?: unknown }).gc })

  it('is a plain scrape in a process without --expose-gc', async () => {
    const r = scrape('/metrics?gc=1')
    expect(await r.handled).toBe(true)
    expect(r.body).toContain('nodejs_heap_size_used_bytes')
    expect(r.headers['x-mesh-gc']).toBeUndefined()
  })

  it('collects first when the process has gc, and says so', async () => {
    const gc = vi.fn()
    ;(globalThis as { gc?: unknown }).gc = gc
    const r = scrape('/metrics?gc=1')
    expect(await r.handled).toBe(true)
    expect(gc).toHaveBeenCalledTimes(1)
    expect(r.headers['x-mesh-gc']).toBe('1')
  })

  it('does not collect unless asked', async () => {
    const gc = vi.fn()
    ;(globalThis as { gc?: unknown }).gc = gc
    const r = scrape('/metrics')
    await r.handled
    expect(gc).not.toHaveBeenCalled()
    expect(r.headers['x-mesh-gc']).toBeUndefined()
  })
})
