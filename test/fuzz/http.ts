/**
 * HTTP API fuzzing: random methods, paths (the API's own routes, mutated, random), JSON bodies
 * (random, hostile, oversized), content types and query strings against a running node's API.
 * Pass: no 5xx other than the documented 503/504, and the API keeps answering GET /health.
 */
import type { Mutator } from './mutator.js'
import type { Failure } from './run.js'

const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']
const paths = [
  '/', '/health', '/metrics', '/v1/status', '/v1/peers', '/v1/report', '/v1/aggregates', '/v1/reputation', '/v1/members', '/v1/members/x',
  '/v1/members/12D3KooWA/suspect', '/v1/members/stats', '/v1/topology', '/v1/topology/optimize', '/v1/messages', '/v1/tasks', '/v1/tasks/t1',
  '/v1/records/payload:t1', '/v1/records/result:t1', '/v1/memory/ns/key', '/v1/memory/ns', '/v1/memory', '/v1/eventual', '/v1/eventual/ns',
  '/v1/consensus', '/v1/consensus/members', '/v1/consensus/members/x/promote', '/v1/consensus/transfer', '/v1/proposals', '/v1/proposals/abc',
  '/v1/proposals/abc/votes', '/v1/votes', '/v1/consensus/rtt'
]
const contentTypes = ['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '', 'application/json; charset=latin1']
/** Endpoints that stream (server-sent events): a client that waits for their end waits forever, by design. */
const streaming = /\/stream\b/

export async function fuzzHttp (base: string, count: number, m: Mutator, failures: Failure[], seed: number): Promise<{ requests: number, statuses: Record<string, number>, failures: number }> {
  const statuses: Record<string, number> = {}
  let failed = 0
  const fail = (detail: string, request: string): void => {
    failed++
    failures.push({ kind: 'http', protocol: 'http', detail, seed, hex: Buffer.from(request).toString('hex') })
  }
  for (let i = 0; i < count; i++) {
    const method = m.pick(methods)
    let path = m.pick(paths)
    const r = m.rng.next()
    if (r < 0.2) path += '/' + encodeURIComponent(String(m.hostileValue()).slice(0, 300).replace(/[\uD800-\uDFFF]/g, '\uFFFD'))
    else if (r < 0.3) path = '/' + Array.from({ length: 1 + m.int(6) }, () => m.pick(['v1', 'memory', 'tasks', '..', '%2e%2e', '%00', 'x'.repeat(m.int(3000)), '', '?', '#'])).join('/')
    else if (r < 0.4) path += '?' + m.pick(['consistency=eventual', 'consistency=strong', 'consistency=%ff', 'limit=-1', 'limit=1e309', 'since=abc', 'token=x', 'a=' + 'b'.repeat(m.int(5000))])
    if (streaming.test(path)) path = path.replace(streaming, '/streamx')
    let body: string | undefined
    if (method === 'POST' || method === 'PUT' || method === 'PATCH' || m.chance(0.05)) {
      const b = m.rng.next()
      if (b < 0.5) body = JSON.stringify(m.mutateJson({ value: 'v', tasks: [{ capability: 'echo', payload: {} }], to: 'all', body: { a: 1 }, subject: 'q', approve: true, protocol: 'gossip', key: 'k', namespace: 'n' }, 0)) ?? 'null'
      else if (b < 0.65) body = String(m.hostileValue())
      else if (b < 0.75) body = '{"a":' + '['.repeat(m.int(100_000))
      else if (b < 0.8) body = 'x'.repeat(1_100_000 + m.int(2_000_000))
      else body = Buffer.from(m.randomBytes(m.length(4096))).toString('latin1')
    }
    const headers: Record<string, string> = {}
    const type = m.pick(contentTypes)
    if (type !== '') headers['content-type'] = type
    const request = `${method} ${path}\n${body?.slice(0, 2000) ?? ''}`
    try {
      const res = await fetch(base + path, { method, headers, body: method === 'GET' || method === 'HEAD' ? undefined : body, signal: AbortSignal.timeout(40_000) })
      const key = String(res.status)
      statuses[key] = (statuses[key] ?? 0) + 1
      await res.arrayBuffer().catch(() => {})
      if (res.status >= 500 && res.status !== 503 && res.status !== 504) fail(`${method} ${path.slice(0, 200)} → ${res.status}`, request)
    } catch (err) {
      const name = (err as Error).name
      statuses[name] = (statuses[name] ?? 0) + 1
      // an oversized body may be cut off by the server (413 then close): not a failure; a timeout is
      if (name === 'TimeoutError') fail(`${method} ${path.slice(0, 200)}: no answer within 40 s`, request)
    }
  }
  // the API still answers
  try {
    const res = await fetch(base + '/health', { signal: AbortSignal.timeout(10_000) })
    if (res.status !== 200) fail(`/health → ${res.status} after the run`, 'GET /health')
  } catch (err) {
    fail(`/health: ${(err as Error).message} after the run`, 'GET /health')
  }
  return { requests: count, statuses, failures: failed }
}
