/**
 * State transfer of a state larger than one 16 MiB frame, with real processes: 4 validators from
 * `mesh testnet` on 127.0.0.1 (OS-chosen ports), checkpoints every 16 sequence numbers. One validator
 * is killed (-9); more than 20 MiB of memory values are written through the other three; the killed
 * one restarts on its data dir and must catch up by state transfer (the snapshot moves in 1 MiB
 * chunks, protocols/pbft) and read every value back. Then an observer that joins late catches up the
 * same way (a validator's stable checkpoint, as a chunked DECISION frame).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { api, Cluster, waitUntil } from './harness.js'
import type { NodeProcess, TestnetNode } from './harness.js'
import { valueBytesMax } from '../../src/core/app/limits.js'

const checkpointInterval = 16
/** 352 values of 64 000 ASCII bytes: 22 528 000 bytes (21.5 MiB) of values, over 20 MiB. */
const valueCount = 352
const valueBytes = 64_000
const writersInParallel = 12

interface ConsensusView {
  role: string
  view: number | null
  lastExecuted: number | null
  stableSeq: number | null
  dropped: Record<string, number>
  frames: { received: Record<string, number>, sent: Record<string, number> }
}

/** A distinct, deterministic value per key (printable ASCII, so its size in the STATE frame is its length). */
function valueFor (i: number): string {
  const seed = `v${i}:`.padEnd(16, '.')
  let x = (i + 1) * 2654435761 >>> 0
  const chars: string[] = [seed]
  for (let n = seed.length; n < valueBytes; n++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0
    chars.push(String.fromCharCode(97 + (x % 26)))
  }
  return chars.join('')
}

describe('state transfer of a state over 20 MiB (chunked), 4 validator processes and a late observer', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const validators: NodeProcess[] = []
  let testnet: TestnetNode[] = []

  const consensus = async (node: NodeProcess): Promise<ConsensusView> => (await api<ConsensusView>(node, 'GET', '/v1/consensus')).body

  async function put (node: NodeProcess, key: string, value: string): Promise<number> {
    const res = await api<{ ok: boolean, seq: number, error?: string }>(node, 'PUT', `/v1/memory/big/${key}`, { value }, 120_000)
    if (res.status !== 200) throw new Error(`put ${key} via ${node.name}: ${res.status} ${res.body.error ?? ''}`)
    return res.body.seq
  }

  /** Every value reads back on `node`. */
  async function readsBackEverything (node: NodeProcess): Promise<boolean> {
    for (let i = 0; i < valueCount; i++) {
      const res = await api<{ value?: string }>(node, 'GET', `/v1/memory/big/k${i}`)
      if (res.body.value !== valueFor(i)) return false
    }
    return true
  }

  beforeAll(async () => {
    expect(valueBytes).toBeLessThanOrEqual(valueBytesMax)
    testnet = cluster.testnet(4)
    for (const n of testnet) {
      const path = join(n.dataDir, 'genesis.json')
      const genesis = JSON.parse(readFileSync(path, 'utf8')) as { consensus_params: Record<string, number> }
      genesis.consensus_params.checkpoint_interval = checkpointInterval
      writeFileSync(path, JSON.stringify(genesis, null, 2))
    }
    const first = testnet[0] as TestnetNode
    validators.push(await cluster.start(first.name, { dataDir: first.dataDir, extraArgs: ['--config', first.config] }))
    const seed = validators[0]?.runtime.multiaddrs[0] as string
    validators.push(...await Promise.all(testnet.slice(1).map(async n =>
      await cluster.start(n.name, { dataDir: n.dataDir, bootstrap: [seed], extraArgs: ['--config', n.config] }))))
    for (const node of validators) {
      await waitUntil(`${node.name} connected to all validators`, 60_000, async () => {
        const c = await api<{ validators: Array<{ connected: boolean }> }>(node, 'GET', '/v1/consensus')
        return c.body.validators.every(v => v.connected) ? true : undefined
      })
    }
  })

  afterAll(async () => {
    await cluster.stopAll()
  })

  it('a validator killed before 21.5 MiB of writes restarts and catches up by a chunked state transfer', async () => {
    // a first write with all four up, so the victim has a log of its own to restart from
    await put(validators[0] as NodeProcess, 'before', 'all four up')
    // kill -9 the last validator (not the primary of view 0)
    const victim = validators[3] as NodeProcess
    cluster.kill(victim, 'SIGKILL')
    await cluster.waitExit(victim)
    const live = validators.slice(0, 3)

    // more than 20 MiB of values through the three live validators, in parallel
    let next = 0
    await Promise.all(Array.from({ length: writersInParallel }, async (_, w) => {
      for (let i = next++; i < valueCount; i = next++) await put(live[w % live.length] as NodeProcess, `k${i}`, valueFor(i))
    }))
    const stored = await api<{ keys?: number, entries?: unknown[] }>(live[0] as NodeProcess, 'GET', '/v1/memory/big?limit=1000')
    expect(stored.status).toBe(200)

    // at least one stable checkpoint beyond every big write, on every live validator
    const afterWrites = (await consensus(live[0] as NodeProcess)).lastExecuted as number
    let filler = 0
    for (const node of live) {
      await waitUntil(`${node.name}: a stable checkpoint past seq ${afterWrites}`, 120_000, async () => {
        const c = await consensus(node)
        if ((c.stableSeq ?? 0) >= afterWrites) return true
        await put(live[filler % live.length] as NodeProcess, `filler${filler}`, String(filler)); filler++
        return undefined
      }, 100)
    }
    const stableSeq = (await consensus(live[0] as NodeProcess)).stableSeq as number

    // restart the victim on its data dir
    const restarted = await cluster.start(victim.name, {
      dataDir: victim.dataDir,
      bootstrap: [(live[0] as NodeProcess).runtime.multiaddrs[0] as string],
      extraArgs: ['--config', join(victim.dataDir, 'config.json')]
    })
    validators[3] = restarted
    const target = Math.max(...await Promise.all(live.map(async n => (await consensus(n)).lastExecuted as number)))
    await waitUntil(`${restarted.name} to catch up to seq ${target}`, 240_000, async () => {
      const c = await consensus(restarted)
      return (c.lastExecuted ?? 0) >= target ? true : undefined
    }, 500)
    expect(await readsBackEverything(restarted)).toBe(true)
    const status = await consensus(restarted)
    // it caught up by state transfer: it received at least one STATE message, and its stable checkpoint
    // is at least the one the others made after the big writes
    expect(status.frames.received.state ?? 0).toBeGreaterThanOrEqual(1)
    expect(status.stableSeq ?? 0).toBeGreaterThanOrEqual(stableSeq)
    console.log(`restarted ${restarted.name}: lastExecuted ${String(status.lastExecuted)}, stableSeq ${String(status.stableSeq)}, ` +
      `STATE frames received ${String(status.frames.received.state)}, dropped ${JSON.stringify(status.dropped)}`)
    // and it agrees: a write after the catch-up executes on it too
    const seq = await put(live[0] as NodeProcess, 'after-catch-up', 'yes')
    await waitUntil(`${restarted.name} to execute seq ${seq}`, 60_000, async () => {
      const res = await api<{ value?: string }>(restarted, 'GET', '/v1/memory/big/after-catch-up')
      return res.body.value === 'yes' ? true : undefined
    }, 500)
  })

  it('an observer that joins late catches up from a validator\'s stable checkpoint (chunked) and reads every value', async () => {
    const seed = (validators[0] as NodeProcess).runtime.multiaddrs[0] as string
    const observer = await cluster.start('observer', { bootstrap: [seed], extraArgs: ['--genesis', join((testnet[0] as TestnetNode).dataDir, 'genesis.json')] })
    const target = (await consensus(validators[0] as NodeProcess)).lastExecuted as number
    await waitUntil(`the observer to reach seq ${target}`, 240_000, async () => {
      const c = await consensus(observer)
      return (c.lastExecuted ?? 0) >= target ? true : undefined
    }, 500)
    expect(await readsBackEverything(observer)).toBe(true)
    const status = await consensus(observer)
    expect(status.role).toBe('observer')
    console.log(`observer: lastExecuted ${String(status.lastExecuted)}, DECISION frames received ${String(status.frames.received.DECISION)}, dropped ${JSON.stringify(status.dropped)}`)
  })
})
