/**
 * pBFT with real processes: 4 validators from `mesh testnet` + 1 observer on 127.0.0.1 (OS-chosen
 * ports). Writes from several nodes commit and read back everywhere; kill -9 of the primary under a
 * write load ⇒ view change, writes continue, no acknowledged write lost; the restarted replica
 * catches up and agrees; a forged PRE-PREPARE from a non-validator is ignored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { api, Cluster, startRoguePeer, waitUntil } from './harness.js'
import type { NodeProcess, TestnetNode } from './harness.js'
import type { MeshLibp2p } from '../../bootstrap/libp2p.js'
import { PbftFrame } from '../../protocols/pbft/pbft.js'
import { canonicalJson } from '../../src/core/pbft/types.js'

const checkpointInterval = 16

interface ConsensusView { view: number, primary: string, active: boolean, lastExecuted: number, dropped: Record<string, number> }

describe('pBFT across 4 validator processes and an observer', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const validators: NodeProcess[] = []
  let observer: NodeProcess
  let rogue: MeshLibp2p | undefined
  const acknowledged = new Map<string, string>()


  async function put (node: NodeProcess, key: string, value: string): Promise<number> {
    const res = await api<{ ok: boolean, seq: number, error?: string }>(node, 'PUT', `/v1/memory/t/${key}`, { value })
    if (res.status !== 200) throw new Error(`put ${key} via ${node.name}: ${res.status} ${res.body.error ?? ''}`)
    acknowledged.set(key, value)
    return res.body.seq
  }

  const consensus = async (node: NodeProcess): Promise<ConsensusView> => (await api<ConsensusView>(node, 'GET', '/v1/consensus')).body

  beforeAll(async () => {
    const testnet = { nodes: cluster.testnet(4) }
    // checkpoints every 16 sequence numbers (default 128), so these tests pass several stable checkpoints
    for (const n of testnet.nodes) {
      const path = join(n.dataDir, 'genesis.json')
      const genesis = JSON.parse(readFileSync(path, 'utf8')) as { consensus_params: Record<string, number> }
      genesis.consensus_params.checkpoint_interval = checkpointInterval
      writeFileSync(path, JSON.stringify(genesis, null, 2))
    }
    // flags (OS-chosen ports) override the testnet's config files; node-1 is the seed
    const first = testnet.nodes[0] as TestnetNode
    validators.push(await cluster.start(first.name, { dataDir: first.dataDir, extraArgs: ['--config', first.config] }))
    const seed = validators[0]?.runtime.multiaddrs[0] as string
    validators.push(...await Promise.all(testnet.nodes.slice(1).map(async n =>
      await cluster.start(n.name, { dataDir: n.dataDir, bootstrap: [seed], extraArgs: ['--config', n.config] }))))
    observer = await cluster.start('observer', { bootstrap: [seed], extraArgs: ['--genesis', join(first.dataDir, 'genesis.json')] })
    for (const node of [...validators, observer]) {
      await cluster.waitForStatus(node, '5 alive members', s => s.members.filter(m => m.state === 'alive').length === 5)
    }
    for (const node of validators) {
      await waitUntil(`${node.name} connected to all validators`, 30_000, async () => {
        const c = await api<{ validators: Array<{ connected: boolean }> }>(node, 'GET', '/v1/consensus')
        return c.body.validators.every(v => v.connected) ? true : undefined
      })
    }
  })

  afterAll(async () => {
    try { await rogue?.stop() } catch {}
    await cluster.stopAll()
  })

  it('writes from every validator and from the observer commit and read back on every validator', async () => {
    for (const [i, node] of [...validators, observer].entries()) await put(node, `k${i}`, `from-${node.name}`)
    // the observer learns every decision too (f+1 validators vouch for each) and serves reads
    for (const node of [...validators, observer]) {
      await waitUntil(`${node.name} to apply every write`, 30_000, async () => {
        for (const [key, value] of acknowledged) {
          const res = await api<{ value?: string }>(node, 'GET', `/v1/memory/t/${key}`)
          if (res.body.value !== value) return undefined
        }
        return true
      })
    }
    // a linearizable read orders a no-op first: it reflects every write acknowledged before it
    const linear = await api<{ value: string, lastApplied: number }>(validators[3] as NodeProcess, 'GET', '/v1/memory/t/k0?linearizable=1')
    expect(linear.status).toBe(200)
    expect(linear.body.value).toBe(acknowledged.get('k0'))
    expect(linear.body.lastApplied).toBeGreaterThanOrEqual(acknowledged.size + 1)
    const views = await Promise.all(validators.map(consensus))
    expect(new Set(views.map(v => v.lastExecuted)).size).toBe(1)
    expect(views.every(v => v.view === 0 && v.active)).toBe(true)
  })

  it('proposals are decided by validator votes', async () => {
    const proposed = await api<{ id: string, requiredApprovals: number }>(observer, 'POST', '/v1/proposals', { proposal: { scale: 5 }, threshold: 0.67 })
    expect(proposed.status).toBe(200)
    expect(proposed.body.requiredApprovals).toBe(3)
    for (const node of validators.slice(0, 3)) {
      expect((await api(node, 'POST', `/v1/proposals/${proposed.body.id}/votes`, { decision: 'approve' })).status).toBe(200)
    }
    const shown = await api<{ status: string, approvals: number }>(validators[3] as NodeProcess, 'GET', `/v1/proposals/${proposed.body.id}?`)
    expect(shown.body).toMatchObject({ status: 'approved', approvals: 3 })
    // an observer's vote is refused deterministically: it is not a validator
    const refused = await api<{ ok: boolean }>(observer, 'POST', `/v1/proposals/${proposed.body.id}/votes`, { decision: 'reject' })
    expect(refused.status).toBe(409)
  })

  it('a PRE-PREPARE forged by a non-validator is dropped and counted', async () => {
    rogue = await startRoguePeer(cluster.network)
    const target = validators[1] as NodeProcess
    await rogue.dial(multiaddr(target.runtime.multiaddrs[0] as string))
    const before = (await consensus(target)).dropped['not-validator'] ?? 0
    const forged = { type: 'pre-prepare', view: 0, seq: 999, digest: 'x', batch: [], from: 0, signature: 'AAAA' }
    rogue.services.pbft.send(peerIdFromString(target.runtime.peerId), { kind: PbftFrame.Kind.PROTOCOL, body: new TextEncoder().encode(canonicalJson(forged)) })
    await waitUntil('the forged pre-prepare to be counted', 20_000, async () =>
      ((await consensus(target)).dropped['not-validator'] ?? 0) > before ? true : undefined)
    const after = await consensus(target)
    expect(after.lastExecuted).toBeLessThan(999)
  })

  it('kill -9 of the primary under a write load: view change, writes continue, nothing acknowledged is lost', async () => {
    const primaryId = (await consensus(validators[1] as NodeProcess)).primary
    const primary = validators.find(v => v.runtime.peerId === primaryId) as NodeProcess
    const writers = validators.filter(v => v !== primary)
    let stop = false
    let written = 0
    const load = (async () => {
      for (let i = 0; !stop && i < 200; i++) {
        const node = writers[i % writers.length] as NodeProcess
        try { await put(node, `load-${i}`, `v${i}`); written++ } catch { /* not acknowledged: may or may not be applied */ }
      }
    })()
    await waitUntil('a few writes before the kill', 30_000, async () => written >= 3 ? true : undefined)
    cluster.kill(primary, 'SIGKILL')
    await cluster.waitExit(primary)
    const before = written
    await waitUntil('writes to continue after the view change', 60_000, async () => written >= before + 5 ? true : undefined)
    stop = true
    await load
    for (const node of writers) {
      const c = await consensus(node)
      expect(c.view).toBeGreaterThanOrEqual(1)
      expect(c.primary).not.toBe(primaryId)
    }
    for (const node of writers) {
      await waitUntil(`${node.name} to hold every acknowledged write`, 30_000, async () => {
        for (const [key, value] of acknowledged) {
          const res = await api<{ value?: string }>(node, 'GET', `/v1/memory/t/${key}`)
          if (res.body.value !== value) return undefined
        }
        return true
      })
    }
    // the killed primary restarts from its data dir and catches up to the others
    const restarted = await cluster.start(primary.name, { dataDir: primary.dataDir, bootstrap: [(writers[0] as NodeProcess).runtime.multiaddrs[0] as string], extraArgs: ['--config', join(primary.dataDir, 'config.json')] })
    validators[validators.indexOf(primary)] = restarted
    await put(writers[0] as NodeProcess, 'after-restart', 'yes')
    const target = (await consensus(writers[0] as NodeProcess)).lastExecuted
    await waitUntil(`${restarted.name} to catch up to seq ${target}`, 60_000, async () => {
      const c = await consensus(restarted)
      return c.lastExecuted >= target && c.active ? c : undefined
    })
    for (const [key, value] of acknowledged) {
      const res = await api<{ value?: string }>(restarted, 'GET', `/v1/memory/t/${key}`)
      expect(res.body.value, key).toBe(value)
    }
  })

  it('observers learn every decision: the first one kept up, a late one catches up from a stable checkpoint', async () => {
    const reference = validators[1] as NodeProcess
    // past a few stable checkpoints, so a new observer cannot learn from seq 1
    const start = (await consensus(reference)).lastExecuted
    for (let i = 0; (await consensus(reference)).lastExecuted < start + 2 * checkpointInterval + 2; i++) await put(reference, `fill-${i}`, `f${i}`)
    await put(reference, 'last', 'one')
    const late = await cluster.start('late-observer', { bootstrap: [reference.runtime.multiaddrs[0] as string], extraArgs: ['--genesis', join((validators[0] as NodeProcess).dataDir, 'genesis.json')] })
    const target = (await consensus(reference)).lastExecuted
    for (const node of [observer, late]) {
      await waitUntil(`${node.name} to learn up to seq ${target}`, 60_000, async () => ((await consensus(node)).lastExecuted >= target ? true : undefined))
      for (const [key, value] of acknowledged) {
        const res = await api<{ value?: string }>(node, 'GET', `/v1/memory/t/${key}`)
        expect(res.body.value, `${key} on ${node.name}`).toBe(value)
      }
    }
    // the late observer never saw seq 1: it adopted a checkpoint proven by 2f+1 signatures
    const lateView = await api<{ entries: Array<{ key: string }> }>(late, 'GET', '/v1/memory/t?limit=1000')
    expect(lateView.body.entries.length).toBe(acknowledged.size)
    // and it can take part: a write through it commits and it reads it back
    await put(late, 'via-late', 'yes')
    await waitUntil('the late observer to read its own write', 30_000, async () =>
      (await api<{ value?: string }>(late, 'GET', '/v1/memory/t/via-late')).body.value === 'yes' ? true : undefined)
  })

  // The write-ahead mode (src/runtime/consensus/pbft.ts, fsyncBeforeSend): records reach the file before
  // any message that depends on them leaves, the fdatasync follows behind. A kill -9 of every validator
  // at once, with writes in flight, must lose no acknowledged write, and the restarted validators must
  // agree (none contradicts a vote it cast before the kill: they go on committing, and every one holds
  // the same value for every key).
  it('kill -9 of all four validators at once under a write load: after the restarts every acknowledged write is everywhere, and writes go on', async () => {
    let stop = false
    let written = 0
    const loadKeys: string[] = []
    const load = Promise.all(validators.map(async (node, w) => {
      for (let i = 0; !stop && i < 400; i++) {
        const key = `all-${w}-${i}`
        try { await put(node, key, `v${i}`); written++; loadKeys.push(key) } catch { /* not acknowledged (killed mid-write): may or may not apply */ }
      }
    }))
    await waitUntil('writes under way before the kill', 30_000, async () => written >= 20 ? true : undefined)
    for (const node of validators) cluster.kill(node, 'SIGKILL')
    for (const node of validators) await cluster.waitExit(node)
    stop = true
    await load
    const bootstrap = observer.runtime.multiaddrs[0] as string
    const restarted = await Promise.all(validators.map(async node =>
      await cluster.start(node.name, { dataDir: node.dataDir, bootstrap: [bootstrap], extraArgs: ['--config', join(node.dataDir, 'config.json')] })))
    restarted.forEach((node, i) => { validators[i] = node })
    // they agree on a primary again and commit new writes
    await waitUntil('a write after the restarts', 120_000, async () => {
      try { await put(validators[0] as NodeProcess, 'after-all-killed', 'yes'); return true } catch { return undefined }
    }, 500)
    const target = Math.max(...await Promise.all(validators.map(async v => (await consensus(v)).lastExecuted)))
    for (const node of [...validators, observer]) {
      await waitUntil(`${node.name} to execute up to seq ${target}`, 60_000, async () => ((await consensus(node)).lastExecuted >= target ? true : undefined))
    }
    expect(loadKeys.length).toBeGreaterThanOrEqual(20)
    for (const node of [...validators, observer]) {
      for (const [key, value] of acknowledged) {
        const res = await api<{ value?: string }>(node, 'GET', `/v1/memory/t/${key}`)
        expect(res.body.value, `${key} on ${node.name}`).toBe(value)
      }
    }
    for (const node of validators) expect((await consensus(node)).dropped.conflicting ?? 0, `conflicting votes seen by ${node.name}`).toBe(0)
  })
})
