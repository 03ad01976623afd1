/**
 * Regression tests for the bugs `npm run fuzz` found (test/fuzz/): each input that broke something,
 * replayed directly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requestUrl, startApi } from '../../src/api/server.js'
import type { RunningApi } from '../../src/api/server.js'
import type { NodeStatus } from '../../src/runtime/mesh-node.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { openEnvelope, RecordRejectedError, signedBytes, validateRecord } from '../../protocols/state/codec.js'
import { Envelope, EnvelopeKind, StateRecord } from '../../protocols/state/state.js'
import { MessageRejectedError, newMessageId, openMessage, sealMessage } from '../../protocols/msg/codec.js'

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

describe('msg: a signed message whose time is a safe integer beyond any Date', () => {
  // fuzzer: msg frame with time_ms = 2^53 − 1 → openMessage threw RangeError: Invalid time value (from
  // toISOString in the 'expired' reason) instead of MessageRejectedError, so the node counted it as undecodable
  it('is refused as expired, with MessageRejectedError', async () => {
    const key = await generateKeyPair('Ed25519')
    const from = peerIdFromPrivateKey(key).toString()
    for (const timeMs of [Number.MAX_SAFE_INTEGER, 8.64e15 + 1, 1]) {
      const bytes = await sealMessage('net', key, { id: newMessageId(), from, to: 'all', timeMs, body: '{}' })
      const opened = openMessage('net', bytes, { sender: null, recipient: 'all', nowMs: Date.now() })
      await expect(opened).rejects.toBeInstanceOf(MessageRejectedError)
      await expect(opened).rejects.toMatchObject({ reason: 'expired' })
    }
  })
})

describe('state: a signed record whose start time is beyond any Date', () => {
  // Any peer can sign a record of its own with started_at_ms = 2^53 − 1: it was accepted, and then every
  // node's status() (GET /health, /v1/status, members for tasks, records, metrics) threw RangeError:
  // Invalid time value formatting it. Found while fixing the fuzzer's msg time finding (same class).
  it('is refused as invalid', async () => {
    const key = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(key).toString()
    const record = { peerId, name: 'x', capabilities: [], addresses: [], incarnation: 1, sequence: 1, load: { queued: 0, running: 0, capacity: 1, cpu: 0 }, leaving: false }
    for (const startedAtMs of [Number.MAX_SAFE_INTEGER, 8.64e15 + 1]) {
      expect(() => { validateRecord({ ...record, startedAtMs }) }).toThrow(RecordRejectedError)
      // sealed by hand (sealRecord validates first), as a hostile peer would
      const body = StateRecord.encode({ peerId, name: 'x', capabilities: [], addresses: [], incarnation: 1n, sequence: 1n, load: { queued: 0, running: 0, capacity: 1, cpu: 0 }, startedAtMs: BigInt(startedAtMs), status: 0 as unknown as StateRecord['status'] })
      const signature = Uint8Array.from(await key.sign(signedBytes('net', EnvelopeKind.STATE, body)))
      await expect(openEnvelope('net', Envelope.encode({ kind: EnvelopeKind.STATE, body, signature }))).rejects.toMatchObject({ reason: 'invalid' })
    }
    expect(() => { validateRecord({ ...record, startedAtMs: Date.now() }) }).not.toThrow()
  })
})
