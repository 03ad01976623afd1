/**
 * Regression tests for the bugs `npm run fuzz` found (test/fuzz/): each input that broke something,
 * replayed directly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requestUrl, startApi } from '../../src/api/server.js'
import type { RunningApi } from '../../src/api/server.js'
import type { NodeStatus } from '../../src/runtime/mesh-node.js'

describe('HTTP API: request targets starting with //', () => {
  let api: RunningApi
  const status = { peerId: 'p', mode: 'read-write', uptimeMs: 1 } as unknown as NodeStatus

  beforeAll(async () => {
    api = await startApi({ status: () => status, connectionList: () => [] }, { host: '127.0.0.1', port: 0 }, [], [])
  })
  afterAll(async () => { await api.close() })

  it('the target is a path, never a protocol-relative URL', () => {
    expect(requestUrl('//').pathname).toBe('//')
    expect(requestUrl('//v1/status').pathname).toBe('//v1/status')
    expect(requestUrl('//memory/x?a=1').searchParams.get('a')).toBe('1')
    expect(requestUrl(undefined).pathname).toBe('/')
    expect(requestUrl('*').pathname).toBe('/*')
  })

  // fuzzer: PUT // → 500 (TypeError: Invalid URL); HEAD // and POST //?/# likewise
  for (const [method, path] of [['GET', '//'], ['PUT', '//'], ['HEAD', '//'], ['POST', '//?/#'], ['PATCH', '//memory/tasks/%2e%2e/%2e%2e'], ['GET', '//v1/status']]) {
    it(`${method} ${path} is a 4xx, not a 500`, async () => {
      const res = await fetch(`${api.url}${path}`, { method, body: method === 'GET' || method === 'HEAD' ? undefined : 'true', signal: AbortSignal.timeout(5_000) })
      expect(res.status).toBeGreaterThanOrEqual(400)
      expect(res.status).toBeLessThan(500)
    })
  }
})
