/**
 * Requests over reused streams (protocols/shared/request-response.ts): the pool sends many requests on
 * one stream and the responder serves them in turn; a caller that closes after one request still
 * works (old callers); a reused stream found dead (an old responder closes after one answer) is
 * retried once on a fresh stream. Real libp2p stream pairs from @libp2p/utils, no network.
 */
import { describe, expect, it } from 'vitest'
import { streamPair } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Stream } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { RequestPool, request, respond } from '../../protocols/shared/request-response.js'
import { StealRequest, StealResponse } from '../../protocols/tasks/tasks.js'

const codecs = { request: StealRequest, response: StealResponse }
const peer = peerIdFromString('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')
const connection = { remotePeer: peer } as unknown as Connection
const options = (): { signal: AbortSignal, maxDataLength: number } => ({ signal: AbortSignal.timeout(5_000), maxDataLength: 4096 })

/** A connection manager whose every openStream is a fresh stream pair served by `serve`. */
function fakeManager (serve: (inbound: Stream) => void): { manager: ConnectionManager, opened: () => number } {
  let opened = 0
  const manager = {
    openStream: async (): Promise<Stream> => {
      opened++
      const [outbound, inbound] = await streamPair()
      serve(inbound)
      return outbound
    }
  } as unknown as ConnectionManager
  return { manager, opened: () => opened }
}

describe('request pool and the looping responder', () => {
  it('sequential requests share one stream; every one is answered in order', async () => {
    const seen: number[] = []
    const { manager, opened } = fakeManager(inbound => {
      void respond(inbound, connection, codecs, { timeoutMs: 5_000, maxDataLength: 4096 }, async message => {
        seen.push(message.maxTasks)
        return { taskIds: [`t${message.maxTasks}`], reason: '' }
      }, err => { throw err })
    })
    const pool = new RequestPool(manager)
    try {
      for (let i = 1; i <= 5; i++) {
        const answer = await pool.request(peer, '/p', { maxTasks: i, capabilities: [] }, codecs, options())
        expect(answer.taskIds).toEqual([`t${i}`])
      }
      expect(seen).toEqual([1, 2, 3, 4, 5])
      expect(opened()).toBe(1)
      expect(pool.stats).toMatchObject({ opened: 1, reused: 4, retried: 0 })
    } finally {
      pool.close()
    }
  })

  it('concurrent requests open more streams (one request per stream at a time), then reuse them', async () => {
    const { manager, opened } = fakeManager(inbound => {
      void respond(inbound, connection, codecs, { timeoutMs: 5_000, maxDataLength: 4096 }, async message => {
        await new Promise(resolve => setTimeout(resolve, 5))
        return { taskIds: [String(message.maxTasks)], reason: '' }
      }, err => { throw err })
    })
    const pool = new RequestPool(manager, { idleMax: 3 })
    try {
      const answers = await Promise.all([1, 2, 3].map(async i => await pool.request(peer, '/p', { maxTasks: i, capabilities: [] }, codecs, options())))
      expect(answers.map(a => a.taskIds[0])).toEqual(['1', '2', '3'])
      expect(opened()).toBe(3)
      const again = await Promise.all([4, 5, 6].map(async i => await pool.request(peer, '/p', { maxTasks: i, capabilities: [] }, codecs, options())))
      expect(again.map(a => a.taskIds[0])).toEqual(['4', '5', '6'])
      expect(opened()).toBe(3)
    } finally {
      pool.close()
    }
  })

  it('a one-shot caller (request on a fresh stream, then close) is served and the responder ends quietly', async () => {
    const errors: Error[] = []
    const { manager } = fakeManager(inbound => {
      void respond(inbound, connection, codecs, { timeoutMs: 5_000, maxDataLength: 4096 }, async () => ({ taskIds: ['x'], reason: '' }), err => { errors.push(err) })
    })
    for (let i = 0; i < 3; i++) {
      const answer = await request(manager, peer, '/p', { maxTasks: 1, capabilities: [] }, codecs, options())
      expect(answer.taskIds).toEqual(['x'])
    }
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(errors).toEqual([])
  })

  it('a reused stream the responder already closed (an old one-shot responder) is retried once on a fresh stream', async () => {
    let served = 0
    const { manager, opened } = fakeManager(inbound => {
      void (async () => {
        // the old responder: one request, one answer, close
        const { pbStream } = await import('@libp2p/utils')
        const messages = pbStream(inbound, { maxDataLength: 4096 })
        const message = await messages.read(StealRequest)
        served++
        await messages.write({ taskIds: [String(message.maxTasks)], reason: '' }, StealResponse)
        await inbound.close()
      })()
    })
    const pool = new RequestPool(manager)
    try {
      expect((await pool.request(peer, '/p', { maxTasks: 1, capabilities: [] }, codecs, options())).taskIds).toEqual(['1'])
      await new Promise(resolve => setTimeout(resolve, 20))
      expect((await pool.request(peer, '/p', { maxTasks: 2, capabilities: [] }, codecs, options())).taskIds).toEqual(['2'])
      expect(served).toBe(2)
      expect(opened()).toBe(2)
    } finally {
      pool.close()
    }
  })

  it('a handler that throws aborts the stream and reports the error; the caller gets an error, not a hang', async () => {
    const errors: Error[] = []
    const { manager } = fakeManager(inbound => {
      void respond(inbound, connection, codecs, { timeoutMs: 5_000, maxDataLength: 4096 }, async () => { throw new Error('boom') }, err => { errors.push(err) })
    })
    const pool = new RequestPool(manager)
    try {
      await expect(pool.request(peer, '/p', { maxTasks: 1, capabilities: [] }, codecs, options())).rejects.toThrow()
      expect(errors.map(e => e.message)).toEqual(['boom'])
    } finally {
      pool.close()
    }
  })
})
