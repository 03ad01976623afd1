/**
 * The topology page's parts that need no browser: the neighbour list in signed state records
 * (protocols/state), the pure snapshot builder and commit rate (src/api/topology.ts), and the routes
 * (src/api/page-routes.ts) on a real HTTP server in this process, with a fake node behind them.
 */
import { get } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { openEnvelope, RecordRejectedError, sealRecord } from '../../protocols/state/codec.js'
import type { NodeRecord } from '../../protocols/state/codec.js'
import { Envelope, EnvelopeKind, StateRecord, Status } from '../../protocols/state/state.js'
import { neighboursCountMax, signatureDomain } from '../../protocols/state/constants.js'
import { buildTopology, CommitRate, topologyMessagesMax, topologyNodesMax } from '../../src/api/topology.js'
import type { TopologyInput, TopologyMemberInput } from '../../src/api/topology.js'
import { topologyPage, topologyStreamsMax } from '../../src/api/page-routes.js'
import type { TopologyPage } from '../../src/api/page-routes.js'
import { startApi } from '../../src/api/server.js'
import type { RunningApi } from '../../src/api/server.js'
import type { NodeStatus } from '../../src/runtime/mesh-node.js'

const network = 'testnet'
interface Identity { key: PrivateKey, peerId: string }
const ids: Identity[] = []

beforeAll(async () => {
  for (let i = 0; i < neighboursCountMax + 2; i++) {
    const key = await generateKeyPair('Ed25519')
    ids.push({ key, peerId: peerIdFromPrivateKey(key).toString() })
  }
})

function id (i: number): Identity { return ids[i] as Identity }

function record (overrides: Partial<NodeRecord> = {}): NodeRecord {
  return {
    peerId: id(0).peerId,
    name: 'n0',
    capabilities: ['echo'],
    addresses: ['/ip4/127.0.0.1/tcp/4747'],
    incarnation: 1,
    sequence: 5,
    load: { queued: 0, running: 1, capacity: 2, cpu: 0.5 },
    startedAtMs: 1_700_000_000_000,
    leaving: false,
    ...overrides
  }
}

/** A StateRecord built by hand and signed over exactly the documented bytes, so only validation can refuse it. */
async function handSealed (wire: StateRecord): Promise<Uint8Array<ArrayBuffer>> {
  const body = StateRecord.encode(wire)
  const domain = new TextEncoder().encode(signatureDomain(network))
  const signed = new Uint8Array(domain.length + 1 + body.length)
  signed.set(domain, 0)
  signed[domain.length] = 0
  signed.set(body, domain.length + 1)
  const signature = Uint8Array.from(await id(0).key.sign(signed))
  return Envelope.encode({ kind: EnvelopeKind.STATE, body, signature })
}

function wire (neighbours: StateRecord['neighbours']): StateRecord {
  return {
    peerId: id(0).peerId, name: 'n0', capabilities: [], addresses: [], incarnation: 1n, sequence: 1n,
    load: { queued: 0, running: 0, capacity: 1, cpu: 0 }, startedAtMs: 0n, status: Status.ALIVE, neighbours
  }
}

async function reason (opening: Promise<unknown>): Promise<string> {
  try {
    await opening
  } catch (err) {
    expect(err).toBeInstanceOf(RecordRejectedError)
    return (err as RecordRejectedError).reason
  }
  throw new Error('expected a rejection')
}

describe('neighbours in the signed state record', () => {
  it('round-trip, with a measured and an unmeasured RTT', async () => {
    const r = record({ neighbours: [{ peerId: id(1).peerId, rttMs: 0.734 }, { peerId: id(2).peerId, rttMs: null }] })
    const opened = await openEnvelope(network, await sealRecord(network, id(0).key, r), id(0).peerId)
    expect(opened.kind === 'state' && opened.record).toEqual(r)
  })

  it('a record without the field (an older node) stays valid, and reads as "no list" rather than "no neighbours"', async () => {
    const opened = await openEnvelope(network, await handSealed(wire(undefined)), id(0).peerId)
    expect(opened.kind === 'state' && opened.record.neighbours).toBeUndefined()
    const empty = await openEnvelope(network, await handSealed(wire({ peers: [] })), id(0).peerId)
    expect(empty.kind === 'state' && empty.record.neighbours).toEqual([])
  })

  it(`exactly ${neighboursCountMax} neighbours is valid; one more is refused at decode (invalid)`, async () => {
    const peers = ids.slice(1, neighboursCountMax + 2).map(i => ({ peerId: i.peerId, rttMs: 1 }))
    const atLimit = await openEnvelope(network, await handSealed(wire({ peers: peers.slice(0, neighboursCountMax) })))
    expect(atLimit.kind === 'state' && atLimit.record.neighbours).toHaveLength(neighboursCountMax)
    expect(await reason(handSealed(wire({ peers })).then(async b => await openEnvelope(network, b)))).toBe('invalid')
  })

  const bad: Array<[string, () => StateRecord['neighbours']]> = [
    ['itself as a neighbour', () => ({ peers: [{ peerId: id(0).peerId }] })],
    ['a neighbour twice', () => ({ peers: [{ peerId: id(1).peerId }, { peerId: id(1).peerId, rttMs: 2 }] })],
    ['a neighbour that is not a PeerId', () => ({ peers: [{ peerId: 'not-a-peer' }] })],
    ['a 10 kB neighbour id', () => ({ peers: [{ peerId: '1'.repeat(10_000) }] })],
    ['a negative RTT', () => ({ peers: [{ peerId: id(1).peerId, rttMs: -1 }] })],
    ['a NaN RTT', () => ({ peers: [{ peerId: id(1).peerId, rttMs: Number.NaN }] })],
    ['an RTT of 10 minutes and more', () => ({ peers: [{ peerId: id(1).peerId, rttMs: 600_001 }] })]
  ]
  for (const [what, neighbours] of bad) {
    it(`${what} ⇒ invalid on open, and refused by sealRecord`, async () => {
      expect(await reason(handSealed(wire(neighbours())).then(async b => await openEnvelope(network, b)))).toBe('invalid')
      const asRecord = (neighbours()?.peers ?? []).map(p => ({ peerId: p.peerId, rttMs: p.rttMs ?? null }))
      expect(await reason(sealRecord(network, id(0).key, record({ neighbours: asRecord })))).toBe('invalid')
    })
  }
})

function member (i: number, overrides: Partial<TopologyMemberInput> = {}): TopologyMemberInput {
  return {
    peerId: `peer-${String(i).padStart(3, '0')}`,
    name: `node-${i}`,
    state: 'alive',
    self: i === 0,
    incarnation: 1,
    lastSeenMs: 0,
    rttMs: null,
    connected: true,
    capabilities: [],
    load: { queued: 0, running: 0, capacity: 2, cpu: 0 },
    neighbours: [],
    ...overrides
  }
}

function input (overrides: Partial<TopologyInput> = {}): TopologyInput {
  return {
    nowMs: Date.UTC(2026, 0, 1),
    self: 'peer-000',
    name: 'node-0',
    network: 'lab',
    mode: 'read-write',
    partitioned: false,
    members: [member(0)],
    consensus: null,
    commitsPerSecond: null,
    openTasks: null,
    messages: null,
    ...overrides
  }
}

describe('buildTopology', () => {
  it('one edge per connected pair, reported by either end, RTT the mean of the measured reports', () => {
    const snapshot = buildTopology(input({
      members: [
        member(0, { neighbours: [{ peerId: 'peer-001', rttMs: 1 }, { peerId: 'peer-002', rttMs: null }] }),
        member(1, { neighbours: [{ peerId: 'peer-000', rttMs: 3 }, { peerId: 'peer-002', rttMs: 5 }] }),
        // an older node: no list; its connections come from the others' reports only
        member(2, { neighbours: null }),
        // a neighbour we do not know as a member draws no edge
        member(3, { neighbours: [{ peerId: 'peer-999', rttMs: 1 }] })
      ]
    }))
    expect(snapshot.edges).toEqual([
      { id: 'peer-000|peer-001', source: 'peer-000', target: 'peer-001', rttMs: 2, reportedBy: ['peer-000', 'peer-001'] },
      { id: 'peer-000|peer-002', source: 'peer-000', target: 'peer-002', rttMs: null, reportedBy: ['peer-000'] },
      { id: 'peer-001|peer-002', source: 'peer-001', target: 'peer-002', rttMs: 5, reportedBy: ['peer-001'] }
    ])
    expect(snapshot.nodes.map(n => [n.id, n.reportsNeighbours])).toEqual([['peer-000', true], ['peer-001', true], ['peer-002', false], ['peer-003', true]])
  })

  it('the last record of a failed or departed member reports no edges', () => {
    const snapshot = buildTopology(input({
      members: [
        member(0),
        member(1, { state: 'failed', neighbours: [{ peerId: 'peer-000', rttMs: 1 }] }),
        member(2, { state: 'left', neighbours: [{ peerId: 'peer-000', rttMs: 1 }] }),
        member(3, { state: 'suspect', neighbours: [{ peerId: 'peer-000', rttMs: 1 }] })
      ]
    }))
    expect(snapshot.edges.map(e => e.id)).toEqual(['peer-000|peer-003'])
    expect(snapshot.counts).toEqual({ alive: 1, suspect: 1, failed: 1, left: 1 })
  })

  it('open tasks per node from the task table; null without one', () => {
    const snapshot = buildTopology(input({
      members: [member(0), member(1)],
      openTasks: {
        truncated: false,
        tasks: [
          { assignee: 'peer-001', state: 'running' }, { assignee: 'peer-001', state: 'assigned' },
          { assignee: 'peer-001', state: 'running' }, { assignee: 'peer-404', state: 'running' }, { assignee: null, state: 'assigned' }
        ]
      }
    }))
    expect(snapshot.nodes.map(n => n.tasks)).toEqual([{ assigned: 0, running: 0 }, { assigned: 1, running: 2 }])
    expect(snapshot.tasks).toEqual({ open: 5, truncated: false })
    expect(buildTopology(input()).nodes[0]?.tasks).toBeNull()
  })

  it('consensus: view, primary (named), committed sequence, commit rate; null without a genesis', () => {
    const snapshot = buildTopology(input({
      members: [member(0), member(1)],
      consensus: { role: 'validator', view: 2, primary: 'peer-001', lastExecuted: 40, stableSeq: 32, validators: [{ peerId: 'peer-000', name: 'v0' }, { peerId: 'peer-001', name: 'v1' }] },
      commitsPerSecond: 12.5
    }))
    expect(snapshot.consensus).toEqual({ mode: 'pbft', role: 'validator', view: 2, primary: 'peer-001', primaryName: 'v1', committedSeq: 40, stableSeq: 32, commitsPerSecond: 12.5, validators: ['peer-000', 'peer-001'] })
    expect(snapshot.nodes.map(n => [n.validator, n.primary])).toEqual([[true, false], [true, true]])
    expect(buildTopology(input()).consensus).toBeNull()
  })

  it('consensus on Raft: the term, the leader (named even when not in the genesis), the voters in force', () => {
    const snapshot = buildTopology(input({
      members: [member(0), member(1), member(2)],
      consensus: {
        mode: 'raft', role: 'validator', view: 3, primary: 'peer-002', lastExecuted: 17, stableSeq: 0,
        validators: [{ peerId: 'peer-000', name: 'v0' }, { peerId: 'peer-001', name: 'v1' }],
        // peer-001 removed, peer-002 added and promoted by `mesh consensus`, a learner not a voter
        raft: { members: [{ peerId: 'peer-000', name: 'v0', role: 'voter' }, { peerId: 'peer-002', name: 'v2', role: 'voter' }, { peerId: 'peer-003', name: 'l3', role: 'learner' }] }
      },
      commitsPerSecond: 4
    }))
    expect(snapshot.consensus).toEqual({ mode: 'raft', role: 'validator', view: 3, primary: 'peer-002', primaryName: 'v2', committedSeq: 17, stableSeq: 0, commitsPerSecond: 4, validators: ['peer-000', 'peer-002'] })
    expect(snapshot.nodes.map(n => [n.validator, n.primary])).toEqual([[true, false], [false, false], [true, true]])
  })

  it(`at most ${topologyNodesMax} nodes: ourselves first, then alive before failed; the rest counted`, () => {
    const members = Array.from({ length: topologyNodesMax + 88 }, (_, i) => member(i, { state: i % 2 === 0 ? 'failed' : 'alive', self: i === 7 }))
    const snapshot = buildTopology(input({ self: 'peer-007', members }))
    expect(snapshot.nodes).toHaveLength(topologyNodesMax)
    expect(snapshot.nodesOmitted).toBe(88)
    expect(snapshot.nodes[0]?.id).toBe('peer-007')
    expect(snapshot.nodes.slice(1, 300).every(n => n.state === 'alive')).toBe(true)
  })

  it(`recent messages: the last ${topologyMessagesMax}, each cut to a preview beyond 2 KiB; null when messaging is not wired`, () => {
    const messages: unknown[] = Array.from({ length: 30 }, (_, i) => ({ from: 'a', to: 'b', text: `m${i}` }))
    messages.push({ text: 'x'.repeat(5000) })
    messages.push({ n: 1n })
    const snapshot = buildTopology(input({ messages }))
    expect(snapshot.messages).toHaveLength(topologyMessagesMax)
    expect(snapshot.messages?.[0]).toEqual({ from: 'a', to: 'b', text: 'm12' })
    expect(snapshot.messages?.[18]).toMatchObject({ truncated: true })
    expect(snapshot.messages?.[19]).toEqual({ unserialisable: true })
    expect(buildTopology(input()).messages).toBeNull()
  })
})

describe('CommitRate', () => {
  it('null until two samples 500 ms apart; then commits per second over the window', () => {
    const rate = new CommitRate(10_000)
    expect(rate.perSecond()).toBeNull()
    rate.sample(0, 100)
    rate.sample(400, 104)
    expect(rate.perSecond()).toBeNull()
    for (let t = 1_000; t <= 30_000; t += 1_000) rate.sample(t, 100 + t / 100)
    // 10 commits a second, measured over (at least) the last 10 s
    expect(rate.perSecond()).toBe(10)
    for (let t = 31_000; t <= 45_000; t += 1_000) rate.sample(t, 400)
    expect(rate.perSecond()).toBe(0)
  })

  it('a sequence that goes backwards (a restart) starts over; samples stay bounded', () => {
    const rate = new CommitRate(1_000_000)
    for (let t = 0; t < 1_000; t++) rate.sample(t * 1_000, t)
    expect(rate.perSecond()).toBe(1)
    rate.sample(2_000_000, 0)
    expect(rate.perSecond()).toBeNull()
    expect((rate as unknown as { samples: unknown[] }).samples.length).toBeLessThanOrEqual(CommitRate.samplesMax)
  })
})

describe('the page routes on a real HTTP server', () => {
  let api: RunningApi
  let page: TopologyPage
  const status = {
    peerId: 'peer-000', name: 'node-0', network: 'lab', mode: 'read-write', partitioned: false,
    members: [member(0, { neighbours: [{ peerId: 'peer-001', rttMs: 0.5 }] }), member(1, { self: false })]
  } as unknown as NodeStatus

  beforeAll(async () => {
    page = topologyPage({ status: () => status, consensus: () => null, app: () => null, messages: () => ({ recent: () => [{ from: 'peer-001', text: 'hi' }] }) })
    api = await startApi({ status: () => status, connectionList: () => [] }, { host: '127.0.0.1', port: 0 }, [], [page.route])
  })
  afterAll(async () => {
    page.stop()
    await api.close()
  })

  it('GET / is the page, with a Content-Security-Policy that allows only this origin', async () => {
    const res = await fetch(`${api.url}/`, { signal: AbortSignal.timeout(5_000) })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/html')
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("script-src 'self'")
    const html = await res.text()
    expect(html).toContain('/assets/cytoscape.min.js')
    expect(html).not.toMatch(/https?:\/\//)
  })

  it('serves cytoscape from the installed package, with an ETag (304 when unchanged)', async () => {
    const res = await fetch(`${api.url}/assets/cytoscape.min.js`, { signal: AbortSignal.timeout(5_000) })
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toContain('max-age')
    const body = await res.text()
    expect(body.length).toBeGreaterThan(100_000)
    expect(body).toContain('cytoscape')
    const again = await fetch(`${api.url}/assets/cytoscape.min.js`, { headers: { 'if-none-match': res.headers.get('etag') ?? '' }, signal: AbortSignal.timeout(5_000) })
    expect(again.status).toBe(304)
    for (const asset of ['/assets/topology.js', '/assets/topology.css']) {
      expect((await fetch(`${api.url}${asset}`, { signal: AbortSignal.timeout(5_000) })).status, asset).toBe(200)
    }
  })

  it('GET /v1/topology is a snapshot; other methods are a 405', async () => {
    const res = await fetch(`${api.url}/v1/topology`, { signal: AbortSignal.timeout(5_000) })
    const body = await res.json() as { nodes: unknown[], edges: Array<{ id: string }>, messages: unknown[] }
    expect(body.nodes).toHaveLength(2)
    expect(body.edges.map(e => e.id)).toEqual(['peer-000|peer-001'])
    expect(body.messages).toEqual([{ from: 'peer-001', text: 'hi' }])
    expect((await fetch(`${api.url}/v1/topology`, { method: 'POST', signal: AbortSignal.timeout(5_000) })).status).toBe(405)
  })

  /** Open the event stream; resolves with the response once the first `snapshot` event arrived. */
  async function openStream (): Promise<{ res: IncomingMessage, first: string }> {
    return await new Promise((resolve, reject) => {
      const req = get(`${api.url}/v1/topology/stream`, res => {
        if (res.statusCode !== 200) { resolve({ res, first: '' }); return }
        let text = ''
        const onData = (chunk: Buffer): void => {
          text += chunk.toString('utf8')
          const end = text.indexOf('\n\n', text.indexOf('event: snapshot'))
          if (text.includes('event: snapshot') && end >= 0) { res.off('data', onData); resolve({ res, first: text }) }
        }
        res.on('data', onData)
      })
      req.on('error', reject)
      req.setTimeout(5_000, () => { req.destroy(new Error('no snapshot within 5 s')) })
    })
  }

  it('the stream sends snapshots as server-sent events, and forgets a client that goes away', async () => {
    const { res, first } = await openStream()
    expect(res.headers['content-type']).toContain('text/event-stream')
    expect(first).toContain('retry: 2000')
    const data = JSON.parse(first.slice(first.indexOf('data: ') + 6, first.indexOf('\n', first.indexOf('data: ')))) as { self: string }
    expect(data.self).toBe('peer-000')
    expect(page.streamCount()).toBe(1)
    // the next one arrives with the next tick, no request needed
    const next = await new Promise<string>(resolve => { res.once('data', (chunk: Buffer) => { resolve(chunk.toString('utf8')) }) })
    expect(next).toContain('event: snapshot')
    res.destroy()
    for (let i = 0; i < 50 && page.streamCount() > 0; i++) await new Promise(resolve => setTimeout(resolve, 20))
    expect(page.streamCount()).toBe(0)
  })

  it(`at most ${topologyStreamsMax} streams at once: one more is a 503`, async () => {
    const open = await Promise.all(Array.from({ length: topologyStreamsMax }, async () => await openStream()))
    try {
      const extra = await openStream()
      expect(extra.res.statusCode).toBe(503)
      extra.res.resume()
    } finally {
      for (const s of open) s.res.destroy()
    }
    for (let i = 0; i < 50 && page.streamCount() > 0; i++) await new Promise(resolve => setTimeout(resolve, 20))
    expect(page.streamCount()).toBe(0)
  })
})
