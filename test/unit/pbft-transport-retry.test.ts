/**
 * What the replica does when the transport drops a state transfer (a Byzantine sender's bad chunk, a
 * stalled stream: protocols/pbft/service.ts delivers nothing of it): no STATE input ever arrives, so
 * the fetch stays open and, after `retransmitMs`, asks the next replica of the checkpoint proof, whose
 * STATE then catches the lagging replica up. The pure core (src/core/pbft/replica.ts) on a tiny
 * in-memory network where the test decides which STATE messages are "lost in transit".
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { Replica } from '../../src/core/pbft/replica.js'
import type { Application, ClientRequest, Crypto, Effect, Message, ReplicaConfig } from '../../src/core/pbft/types.js'

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
    const [, key = '', value = ''] = request.operation.split(' ')
    this.data.set(key, value)
    return 'ok'
  }

  digest (): string { return sha(this.snapshot()) }
  snapshot (): string { return JSON.stringify([...this.data.entries()].sort()) }
  restore (snapshot: string): void { this.data = new Map(JSON.parse(snapshot) as Array<[string, string]>) }
}

const retransmitMs = 400
const config = (id: number): ReplicaConfig => ({ id, n: 4, checkpointInterval: 4, batchSizeMax: 1, batchDelayMs: 0, viewChangeTimeoutMs: 60_000, retransmitMs })

describe('a state transfer dropped by the transport', () => {
  it('leaves the fetch open; after retransmitMs the lagging replica asks the next replica and catches up from it', () => {
    const replicas = Array.from({ length: 4 }, (_, i) => new Replica(config(i), cryptoFor(i), new KvApp(), 0))
    const down = new Set<number>([3])
    const queue: Array<{ to: number, message: Message }> = []
    const fetches: Array<{ to: number, fromSeq: number }> = []
    const states: Array<{ from: number, delivered: boolean }> = []
    let dropNextState = true
    let now = 0
    const perform = (from: number, effects: Effect[]): void => {
      for (const effect of effects) {
        if (effect.type !== 'send') continue
        const targets = effect.to === 'all' ? [0, 1, 2, 3].filter(i => i !== from) : [effect.to]
        for (const to of targets) queue.push({ to, message: structuredClone(effect.message) })
      }
    }
    const drain = (): void => {
      for (let guard = 0; queue.length > 0 && guard < 100_000; guard++) {
        const { to, message } = queue.shift() as { to: number, message: Message }
        if (down.has(to) || down.has(message.from)) continue
        if (message.type === 'fetch-state' && message.from === 3) fetches.push({ to, fromSeq: message.fromSeq })
        if (message.type === 'state' && to === 3) {
          // the transport dropped this transfer (bad chunk): the replica never sees it
          states.push({ from: message.from, delivered: !dropNextState })
          if (dropNextState) { dropNextState = false; continue }
        }
        perform(to, (replicas[to] as Replica).step({ type: 'message', message, nowMs: now }))
      }
    }
    const submit = (i: number): void => {
      perform(0, (replicas[0] as Replica).step({ type: 'request', request: { client: 'c1', requestId: i, operation: `put k${i} v${i}` }, nowMs: now }))
      drain()
    }
    const advance = (ms: number): void => {
      for (let t = 0; t < ms; t += 100) {
        now += 100
        for (let i = 0; i < 4; i++) if (!down.has(i)) perform(i, (replicas[i] as Replica).step({ type: 'tick', nowMs: now }))
        drain()
      }
    }

    // replica 3 misses the first 12 decisions (3 stable checkpoints), then comes back
    for (let i = 1; i <= 12; i++) submit(i)
    expect(replicas[0]?.status().stableSeq).toBe(12)
    down.delete(3)
    // the next checkpoint tells replica 3 it is behind: it fetches the state from a replica of the proof
    for (let i = 13; i <= 16; i++) submit(i)
    expect(fetches.length).toBe(1)
    expect(states).toEqual([{ from: fetches[0]?.to, delivered: false }])
    expect(replicas[3]?.status().lastExecuted).toBe(0)

    // nothing arrives; after retransmitMs the fetch goes to another replica of the proof
    advance(retransmitMs + 100)
    expect(fetches.length).toBeGreaterThanOrEqual(2)
    expect(fetches[1]?.to).not.toBe(fetches[0]?.to)
    expect(states.filter(s => s.delivered).length).toBeGreaterThanOrEqual(1)
    expect(replicas[3]?.status().lastExecuted).toBe(16)
    expect(replicas[3]?.status().stableSeq).toBe(16)
  })
})
