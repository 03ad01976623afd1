/**
 * The pBFT core driven by hand through a tiny lossless in-memory network: the normal case, a crashed
 * primary (view change), checkpoints with garbage collection, and a restart from persisted records.
 * The seeded, adversarial simulator lives in test/sim/.
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { Replica } from '../../src/core/pbft/replica.js'
import type { Application, ClientRequest, Crypto, Effect, Message, PersistRecord, ReplicaConfig } from '../../src/core/pbft/types.js'

const sha = (data: string): string => createHash('sha256').update(data).digest('hex')

function cryptoFor (id: number): Crypto {
  return {
    hash: sha,
    sign: data => sha(`secret-${id}|${data}`),
    verify: (from, data, signature) => sha(`secret-${from}|${data}`) === signature
  }
}

class KvApp implements Application {
  private data = new Map<string, string>()
  apply (request: ClientRequest): string {
    const [op, key = '', value = ''] = request.operation.split(' ')
    if (op === 'put') { this.data.set(key, value); return 'ok' }
    return this.data.get(key) ?? ''
  }

  digest (): string { return sha(this.snapshot()) }
  snapshot (): string { return JSON.stringify([...this.data.entries()].sort()) }
  restore (snapshot: string): void { this.data = new Map(JSON.parse(snapshot) as Array<[string, string]>) }
}

const config = (id: number, n = 4, overrides: Partial<ReplicaConfig> = {}): ReplicaConfig => ({
  id, n, checkpointInterval: 4, batchSizeMax: 3, batchDelayMs: 0, viewChangeTimeoutMs: 1000, retransmitMs: 400, ...overrides
})

class Net {
  replicas: Replica[]
  down = new Set<number>()
  now = 0
  queue: Array<{ to: number, message: Message }> = []
  persisted: PersistRecord[][]
  committed: Array<Map<number, string>>
  /** seq → requests in the batch committed there (by any replica). */
  batchSizes = new Map<number, number>()
  replies: Array<{ replica: number, request: ClientRequest, result: string }> = []
  views: number[]
  /** Every message sent, by type. */
  sent = new Map<Message['type'], number>()

  constructor (readonly n = 4, readonly overrides: Partial<ReplicaConfig> = {}) {
    this.replicas = Array.from({ length: n }, (_, i) => new Replica(config(i, n, overrides), cryptoFor(i), new KvApp(), 0))
    this.persisted = Array.from({ length: n }, () => [])
    this.committed = Array.from({ length: n }, () => new Map())
    this.views = Array.from({ length: n }, () => 0)
  }

  perform (from: number, effects: Effect[]): void {
    for (const effect of effects) {
      if (effect.type === 'persist') this.persisted[from]?.push(effect.record)
      else if (effect.type === 'send') {
        this.sent.set(effect.message.type, (this.sent.get(effect.message.type) ?? 0) + 1)
        const targets = effect.to === 'all' ? [...Array(this.n).keys()].filter(i => i !== from) : [effect.to]
        for (const to of targets) this.queue.push({ to, message: structuredClone(effect.message) })
      } else if (effect.type === 'committed') {
        const log = this.committed[from] as Map<number, string>
        expect(log.has(effect.seq)).toBe(false)
        log.set(effect.seq, effect.digest)
        this.batchSizes.set(effect.seq, effect.batch.length)
      } else if (effect.type === 'reply') this.replies.push({ replica: from, request: effect.request, result: effect.result })
      else if (effect.type === 'view') this.views[from] = effect.view
    }
  }

  /** `forward` false: the client sent it to every replica itself (a backup does not pass it on at once). */
  submit (to: number, request: ClientRequest, forward?: boolean): void {
    if (this.down.has(to)) return
    const input = forward === undefined ? { type: 'request' as const, request, nowMs: this.now } : { type: 'request' as const, request, nowMs: this.now, forward }
    this.perform(to, (this.replicas[to] as Replica).step(input))
  }

  /** Deliver everything queued (and what it causes), skipping crashed replicas. */
  drain (): void {
    for (let guard = 0; this.queue.length > 0 && guard < 100_000; guard++) {
      const { to, message } = this.queue.shift() as { to: number, message: Message }
      if (this.down.has(to) || this.down.has(message.from)) continue
      this.perform(to, (this.replicas[to] as Replica).step({ type: 'message', message, nowMs: this.now }))
    }
  }

  advance (ms: number, stepMs = 100): void {
    for (let t = 0; t < ms; t += stepMs) {
      this.now += stepMs
      for (let i = 0; i < this.n; i++) if (!this.down.has(i)) this.perform(i, (this.replicas[i] as Replica).step({ type: 'tick', nowMs: this.now }))
      this.drain()
    }
  }

  restart (id: number): void {
    this.down.delete(id)
    this.replicas[id] = Replica.restore(config(id, this.n, this.overrides), cryptoFor(id), new KvApp(), this.persisted[id] as PersistRecord[], this.now)
  }

  /** (client, id) got f+1 matching replies. */
  done (client: string, requestId: number, f = 1): boolean {
    const results = this.replies.filter(r => r.request.client === client && r.request.requestId === requestId).map(r => `${r.replica}:${r.result}`)
    const byResult = new Map<string, Set<string>>()
    for (const entry of results) {
      const [replica, result] = entry.split(/:(.*)/s) as [string, string]
      if (!byResult.has(result)) byResult.set(result, new Set())
      byResult.get(result)?.add(replica)
    }
    return [...byResult.values()].some(s => s.size >= f + 1)
  }

  agree (): void {
    const seqs = new Set(this.committed.flatMap(log => [...log.keys()]))
    for (const seq of seqs) {
      const digests = new Set(this.committed.map(log => log.get(seq)).filter(d => d != null))
      expect(digests.size, `seq ${seq}`).toBe(1)
    }
  }
}

const request = (client: string, requestId: number, operation: string): ClientRequest => ({ client, requestId, operation })

describe('pBFT replica: normal case', () => {
  it('requests submitted at the primary or a backup commit at every replica in the same order', () => {
    const net = new Net()
    net.submit(0, request('c1', 1, 'put a 1'))
    net.submit(2, request('c2', 1, 'put b 2')) // a backup forwards it to the primary
    net.drain()
    for (const log of net.committed) expect(log.size).toBeGreaterThanOrEqual(1)
    expect(net.done('c1', 1)).toBe(true)
    expect(net.done('c2', 1)).toBe(true)
    net.agree()
  })

  it('a single validator (n = 1, f = 0) commits on its own: no PREPARE is needed; it survives a restart', () => {
    const net = new Net(1)
    for (let i = 1; i <= 6; i++) net.submit(0, request('c1', i, `put k${i} ${i}`))
    net.drain()
    for (let i = 1; i <= 6; i++) expect(net.done('c1', i, 0), `request ${i}`).toBe(true)
    expect(net.views[0]).toBe(0)
    net.down.add(0)
    net.restart(0)
    expect(net.replicas[0]?.status().lastExecuted).toBe(net.committed[0]?.size)
    net.submit(0, request('c1', 7, 'get k6'))
    net.drain()
    net.advance(500)
    expect(net.replies.filter(r => r.request.requestId === 7).map(r => r.result)).toContain('6')
  })

  it('a duplicate request executes once and is answered again', () => {
    const net = new Net()
    net.submit(0, request('c1', 1, 'put a 1'))
    net.drain()
    const before = net.replies.length
    net.submit(0, request('c1', 1, 'put a 1'))
    net.drain()
    expect(net.replies.length).toBe(before + 1) // the re-reply from replica 0
    expect(Math.max(...net.committed.map(l => l.size))).toBe(1)
  })
})

describe('pBFT replica: pipeline bound', () => {
  it('pipelineMax 1: requests that arrive while a batch is in flight wait, then go out together', () => {
    const net = new Net(4, { pipelineMax: 1, batchSizeMax: 100 })
    for (let i = 1; i <= 10; i++) net.submit(0, request(`c${i}`, 1, `put k${i} v${i}`))
    // one batch in flight: the first request; the other nine wait at the primary
    expect(net.queue.filter(q => q.message.type === 'pre-prepare').length).toBe(3) // one PRE-PREPARE to each backup
    expect(net.sent.get('pre-prepare')).toBe(1)
    net.drain()
    for (let i = 1; i <= 10; i++) expect(net.done(`c${i}`, 1), `c${i}#1`).toBe(true)
    for (const replica of net.replicas) {
      expect(replica.status().lastExecuted).toBeGreaterThanOrEqual(2)
      expect(replica.status().lastExecuted).toBeLessThanOrEqual(3)
    }
    for (const log of net.committed) expect(Math.max(...log.keys())).toBeLessThanOrEqual(3)
    expect(net.sent.get('pre-prepare')).toBeLessThanOrEqual(3)
    expect(net.batchSizes.get(1)).toBe(1)
    expect(net.batchSizes.get(2)).toBe(9) // everything that waited, in one batch
    net.agree()
    expect(new Set(net.committed.map(log => JSON.stringify([...log.entries()].sort(([a], [b]) => a - b)))).size).toBe(1)
  })
})

describe('pBFT replica: requests the client sent to every replica (forward: false)', () => {
  it('a backup does not forward it at once; still unordered after retransmitMs, it does, and it commits in the same view', () => {
    const net = new Net()
    for (const r of [1, 2, 3]) net.submit(r, request('c1', 1, 'put a 1'), false) // the copy to the primary was lost
    net.drain()
    expect(net.sent.get('forward') ?? 0).toBe(0)
    net.advance(300) // ticks at 100, 200, 300: younger than retransmitMs (400)
    expect(net.sent.get('forward') ?? 0).toBe(0)
    expect(net.done('c1', 1)).toBe(false)
    for (const replica of net.replicas) expect(replica.status().lastExecuted).toBe(0)
    net.advance(100) // 400: the backups' retransmission passes it on
    expect(net.sent.get('forward')).toBeGreaterThanOrEqual(1)
    expect(net.done('c1', 1)).toBe(true)
    for (const replica of net.replicas) expect(replica.status()).toMatchObject({ view: 0, lastExecuted: 1, pending: 0 })
    net.agree()
  })

  it('sent to every replica, in any order, it is ordered without a single FORWARD', () => {
    const net = new Net()
    for (let i = 1; i <= 6; i++) {
      // the primary's copy first, last, or in the middle
      const order = i % 3 === 0 ? [0, 1, 2, 3] : i % 3 === 1 ? [1, 2, 3, 0] : [2, 0, 3, 1]
      for (const r of order) net.submit(r, request('c1', i, `put k${i} v${i}`), false)
      net.drain()
      net.advance(200)
    }
    net.advance(2000) // several retransmission periods: nothing is left to forward
    for (let i = 1; i <= 6; i++) expect(net.done('c1', i)).toBe(true)
    expect(net.sent.get('forward') ?? 0).toBe(0)
    expect(net.views).toEqual([0, 0, 0, 0])
    net.agree()
  })
})

describe('pBFT replica: view change', () => {
  it('a crashed primary is replaced after the timer; pending requests then commit; views agree', () => {
    const net = new Net()
    net.submit(0, request('c1', 1, 'put a 1'))
    net.drain()
    net.down.add(0)
    for (const r of [1, 2, 3]) net.submit(r, request('c1', 2, 'put a 2'))
    net.advance(3000)
    expect(net.views.slice(1)).toEqual([1, 1, 1])
    expect(net.done('c1', 2)).toBe(true)
    net.agree()
    for (const r of [1, 2, 3]) expect(net.replicas[r]?.status()).toMatchObject({ view: 1, primary: 1, active: true })
  })
})

describe('pBFT replica: view-change backoff (found by the chaos harness, issue 13)', () => {
  it('a view that starts but executes nothing in time gives the next view twice the time (the backoff is reset only when a request executes)', () => {
    // Castro & Liskov §4.5.2: the timer doubles until a request executes in the new view. Reset on
    // merely entering a view, every view got only the base timeout and a loaded cluster changed views
    // every ~4 s for minutes after a heal (npm run chaos -- --minutes 30 --seed 1313).
    const net = new Net()
    net.submit(0, request('c1', 1, 'put a 1'))
    net.drain()
    net.down.add(0)
    const viewsOf3: Array<{ view: number, active: boolean, at: number }> = []
    const perform = net.perform.bind(net)
    net.perform = (from: number, effects: Effect[]): void => {
      for (const effect of effects) {
        if (effect.type !== 'view') continue
        if (from === 3) viewsOf3.push({ view: effect.view, active: effect.active, at: net.now })
        // replica 2 fails just as view 1 starts: its prepares never arrive, nothing can execute in view 1
        if (from === 2 && effect.view === 1 && effect.active) net.down.add(2)
      }
      perform(from, effects)
    }
    for (const r of [1, 2, 3]) net.submit(r, request('c1', 2, 'put a 2'))
    net.advance(10_000)
    const started = viewsOf3.find(v => v.view === 1 && v.active)
    const next = viewsOf3.find(v => v.view === 2)
    expect(started, 'replica 3 entered view 1').toBeDefined()
    expect(next, 'replica 3 gave up on view 1').toBeDefined()
    expect(net.done('c1', 2)).toBe(false)
    // view 0 timed out once without progress, and view 1 started but executed nothing: ≥ 2 × 1000 ms
    expect((next?.at ?? 0) - (started?.at ?? 0)).toBeGreaterThanOrEqual(2000)
  })
})

describe('pBFT replica: checkpoints and restart', () => {
  it('checkpoints become stable every K and the log below is collected', () => {
    const net = new Net()
    for (let i = 1; i <= 10; i++) { net.submit(0, request('c1', i, `put k${i} v${i}`)); net.drain() }
    for (const replica of net.replicas) {
      expect(replica.status().lastExecuted).toBe(10)
      expect(replica.status().stableSeq).toBe(8)
      expect(replica.status().lowWater).toBe(8)
    }
  })

  it('a replica restarted from its persisted records rejoins with the same state and keeps agreeing', () => {
    const net = new Net()
    for (let i = 1; i <= 6; i++) { net.submit(0, request('c1', i, `put k${i} v${i}`)); net.drain() }
    net.down.add(3)
    for (let i = 7; i <= 9; i++) { net.submit(0, request('c1', i, `put k${i} v${i}`)); net.drain() }
    net.restart(3)
    expect(net.replicas[3]?.status().lastExecuted).toBe(6)
    for (let i = 10; i <= 17; i++) { net.submit(0, request('c1', i, `put k${i} v${i}`)); net.drain() }
    net.advance(2000)
    net.agree()
    // it caught up (by retransmitted commits or by state transfer at a stable checkpoint)
    expect(net.replicas[3]?.status().lastExecuted).toBe(net.replicas[0]?.status().lastExecuted)
  })
})
