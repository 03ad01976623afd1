/**
 * The node's record store (src/runtime/tasks/records.ts) over a fake wire: the stores one turn of the
 * event loop makes for a peer leave as one batched exchange (bounded by count and bytes), a peer that
 * predates batches gets them one by one, and a replica that received a Store from another replica
 * counts the sender as a holder (its repair round does not push the record back).
 */
import { describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { RecordStore } from '../../src/runtime/tasks/records.js'
import type { RecordWire } from '../../src/runtime/tasks/records.js'
import { Ack } from '../../protocols/records/records.js'
import type { Store } from '../../protocols/records/records.js'
import { StoreBatchUnsupportedError } from '../../protocols/records/service.js'
import { recordBatchBytesMax, recordBatchStoresMax } from '../../protocols/records/constants.js'
import { closestPeers, taskKadId } from '../../src/core/scheduler/dht.js'

async function peers (n: number): Promise<string[]> {
  return await Promise.all(Array.from({ length: n }, async (_, i) => {
    const seed = new Uint8Array(32)
    seed[0] = i + 1
    return peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString()
  }))
}

interface Sent { kind: 'single' | 'batch', peer: string, stores: Store[] }

/** A wire whose peers accept everything; `batches` false: a peer that predates batches. */
function fakeWire (batches: boolean): { wire: RecordWire, sent: Sent[], handlers: () => Parameters<RecordWire['setHandlers']>[0] } {
  const sent: Sent[] = []
  let handlers: Parameters<RecordWire['setHandlers']>[0] = null
  const wire: RecordWire = {
    setHandlers: h => { handlers = h },
    store: async (peer: PeerId, store: Store) => {
      sent.push({ kind: 'single', peer: peer.toString(), stores: [store] })
      return { outcome: Ack.Outcome.STORED, error: '' }
    },
    storeMany: async (peer: PeerId, stores: Store[]) => {
      if (!batches) throw new StoreBatchUnsupportedError('0 acks for 2 stores')
      sent.push({ kind: 'batch', peer: peer.toString(), stores })
      return stores.map(() => ({ outcome: Ack.Outcome.STORED, error: '' }))
    },
    fetch: async () => null,
    has: async () => false
  }
  return { wire, sent, handlers: () => handlers }
}

describe('record store: batched stores', () => {
  it('the puts of one turn go to each remote replica as batches of at most recordBatchStoresMax, every put acknowledged', async () => {
    const [self, ...others] = await peers(4) as [string, ...string[]]
    const members = [self, ...others].map(peerId => ({ peerId, state: 'alive' as const, incarnation: 1 }))
    const { wire, sent } = fakeWire(true)
    const store = new RecordStore({ self, wire, members: () => members, repairIntervalMs: 3_600_000 })
    const count = recordBatchStoresMax + 36
    const results = await Promise.all(Array.from({ length: count }, async (_, i) => await store.put(`t${i}`, 'payload', JSON.stringify({ i }))))
    for (const r of results) expect(r.acked.length).toBeGreaterThanOrEqual(2)
    // every remote store of every put was sent, in batches (a peer's last batch may be a single store)
    let expected = 0
    for (let i = 0; i < count; i++) expected += closestPeers(taskKadId(`t${i}`), [self, ...others]).slice(0, 3).filter(p => p !== self).length
    expect(sent.reduce((n, s) => n + s.stores.length, 0)).toBe(expected)
    for (const s of sent) expect(s.stores.length).toBeLessThanOrEqual(recordBatchStoresMax)
    const perPeer = new Map<string, number>()
    for (const s of sent) perPeer.set(s.peer, (perPeer.get(s.peer) ?? 0) + 1)
    for (const peer of others) {
      const stores = sent.filter(s => s.peer === peer).reduce((n, s) => n + s.stores.length, 0)
      expect(perPeer.get(peer) ?? 0).toBe(Math.ceil(stores / recordBatchStoresMax))
    }
    store.stop()
  })

  it('batches stay within recordBatchBytesMax of values', async () => {
    const [self, ...others] = await peers(3) as [string, ...string[]]
    const members = [self, ...others].map(peerId => ({ peerId, state: 'alive' as const }))
    const { wire, sent } = fakeWire(true)
    const store = new RecordStore({ self, wire, members: () => members, repairIntervalMs: 3_600_000 })
    const value = JSON.stringify('x'.repeat(100 * 1024)) // ~100 KiB each: 5 fit in a batch
    await Promise.all(Array.from({ length: 12 }, async (_, i) => await store.put(`big${i}`, 'result', value)))
    for (const s of sent) expect(s.stores.reduce((n, st) => n + st.value.byteLength, 0)).toBeLessThanOrEqual(recordBatchBytesMax)
    expect(sent.filter(s => s.kind === 'batch').length).toBeGreaterThan(0)
    store.stop()
  })

  it('a peer that predates batches gets the same stores one by one', async () => {
    const [self, ...others] = await peers(3) as [string, ...string[]]
    const members = [self, ...others].map(peerId => ({ peerId, state: 'alive' as const }))
    const { wire, sent } = fakeWire(false)
    const store = new RecordStore({ self, wire, members: () => members, repairIntervalMs: 3_600_000 })
    const results = await Promise.all(Array.from({ length: 10 }, async (_, i) => await store.put(`t${i}`, 'payload', String(i))))
    for (const r of results) expect(r.acked.length).toBeGreaterThanOrEqual(2)
    expect(sent.every(s => s.kind === 'single')).toBe(true)
    expect(sent.length).toBe(20) // 3 members: self and both others hold every record
    store.stop()
  })

  it('a Store from another replica makes the sender a holder: the repair round pushes only to the replica not yet confirmed', async () => {
    const all = await peers(4)
    const task = 'repair-1'
    const [first, second, third] = closestPeers(taskKadId(task), all) as [string, string, string]
    const members = all.map(peerId => ({ peerId, state: 'alive' as const }))
    const { wire, sent, handlers } = fakeWire(true)
    const store = new RecordStore({ self: second, wire, members: () => members, repairIntervalMs: 3_600_000 })
    store.start()
    const ack = handlers()?.store({ key: `/mesh-task/${task}`, kind: 'payload', value: new TextEncoder().encode('{"a":1}') }, { toString: () => first } as unknown as PeerId)
    expect(ack?.outcome).toBe(Ack.Outcome.STORED)
    await store.repair()
    await new Promise(resolve => setImmediate(resolve))
    expect(sent.map(s => s.peer)).toEqual([third])
    store.stop()
  })
})

describe('record store: the budget counts what a record costs, not only its value', () => {
  it('tiny records are charged their bookkeeping: a 64 KiB budget holds at most 64 of them, the oldest go first', async () => {
    const { recordOverheadBytes } = await import('../../src/runtime/tasks/records.js')
    const [self, ...others] = await peers(4) as [string, ...string[]]
    const members = [self, ...others].map(peerId => ({ peerId, state: 'alive' as const, incarnation: 1 }))
    const { wire } = fakeWire(true)
    const store = new RecordStore({ self, wire, members: () => members, repairIntervalMs: 3_600_000, budgetBytes: 64 * 1024 })
    for (let i = 0; i < 500; i++) await store.put(`t${i}`, 'payload', JSON.stringify({ i }))
    const stats = store.stats()
    expect(stats.records).toBeLessThanOrEqual(Math.floor(64 * 1024 / recordOverheadBytes))
    expect(stats.records).toBeGreaterThan(32)
    expect(stats.bytes).toBeLessThanOrEqual(64 * 1024)
    expect(stats.stored).toBeGreaterThan(100)
    expect(stats.evicted).toBe(stats.stored - stats.records)
    // the newest are kept here (the fake peers hold nothing to fetch back)
    expect(await store.get('t499', 'payload')).toBe(JSON.stringify({ i: 499 }))
    expect(await store.get('t0', 'payload', { timeoutMs: 200 })).toBeNull()
    store.stop()
  })
})

describe('record store: records of tasks the table has forgotten are dropped after a grace', () => {
  it('drops a record whose task is unknown once older than orphanGraceMs, keeps the rest', async () => {
    const [self, ...others] = await peers(4) as [string, ...string[]]
    const members = [self, ...others].map(peerId => ({ peerId, state: 'alive' as const, incarnation: 1 }))
    const { wire } = fakeWire(true)
    const live = new Set<string>()
    const store = new RecordStore({ self, wire, members: () => members, repairIntervalMs: 3_600_000, orphanGraceMs: 50, taskKnown: id => live.has(id) })
    for (let i = 0; i < 40; i++) {
      if (i % 2 === 0) live.add(`t${i}`)
      await store.put(`t${i}`, 'payload', JSON.stringify({ i }))
    }
    const held = store.stats().records
    expect(held).toBeGreaterThan(10)
    await store.repair() // within the grace: nothing dropped
    expect(store.stats().records).toBe(held)
    await new Promise(resolve => setTimeout(resolve, 80))
    await store.repair()
    const after = store.stats()
    expect(after.orphansDropped).toBeGreaterThan(0)
    expect(after.records + after.orphansDropped).toBe(held)
    // every record left belongs to a task the table holds
    for (let i = 0; i < 40; i++) {
      const value = await store.get(`t${i}`, 'payload', { timeoutMs: 50 })
      if (value != null) expect(live.has(`t${i}`)).toBe(true)
    }
    store.stop()
  })
})
