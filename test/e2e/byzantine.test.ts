/**
 * A lying validator cannot break agreement: 4 validators from `mesh testnet`, and the primary of view 0
 * runs with the test-only switch MESH_TEST_BYZANTINE=equivocate (every PRE-PREPARE it sends as primary
 * goes to one backup as proposed and to the others with a different batch, validly signed). No batch
 * gathers 2f+1 PREPAREs in view 0, the backups' timers fire, view 1 starts with an honest primary, and
 * every acknowledged write is held identically by the three honest validators.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { api, Cluster, waitUntil } from './harness.js'
import type { NodeProcess, TestnetNode } from './harness.js'

interface ConsensusView { view: number, primary: string, active: boolean, lastExecuted: number, byzantine?: { mode: string, equivocations: number } }

describe('an equivocating primary among 4 validator processes', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const validators: NodeProcess[] = []

  const consensus = async (node: NodeProcess): Promise<ConsensusView> => (await api<ConsensusView>(node, 'GET', '/v1/consensus')).body

  beforeAll(async () => {
    const testnet = { nodes: cluster.testnet(4) }
    const first = testnet.nodes[0] as TestnetNode
    // validator-1 is the primary of view 0: it lies
    validators.push(await cluster.start(first.name, { dataDir: first.dataDir, extraArgs: ['--config', first.config], env: { MESH_TEST_BYZANTINE: 'equivocate' } }))
    const seed = validators[0]?.runtime.multiaddrs[0] as string
    validators.push(...await Promise.all(testnet.nodes.slice(1).map(async n =>
      await cluster.start(n.name, { dataDir: n.dataDir, bootstrap: [seed], extraArgs: ['--config', n.config] }))))
    for (const node of validators) {
      await waitUntil(`${node.name} connected to all validators`, 60_000, async () => {
        const c = await api<{ validators: Array<{ connected: boolean }> }>(node, 'GET', '/v1/consensus')
        return c.body.validators.every(v => v.connected) ? true : undefined
      })
    }
  })

  afterAll(async () => { await cluster.stopAll() })

  it('says loudly that it lies', () => {
    expect(cluster.log(validators[0] as NodeProcess)).toContain('MESH_TEST_BYZANTINE=equivocate: this validator LIES')
  })

  it('writes commit after a view change away from the liar, and the honest validators agree on every one', async () => {
    const honest = validators.slice(1)
    const acknowledged = new Map<string, string>()
    // concurrent writes through the honest validators; each retried until acknowledged
    await Promise.all(Array.from({ length: 12 }, async (_, i) => {
      const node = honest[i % honest.length] as NodeProcess
      await waitUntil(`write w${i} via ${node.name} to be acknowledged`, 90_000, async () => {
        const res = await api<{ ok: boolean }>(node, 'PUT', `/v1/memory/t/w${i}`, { value: `v${i}` }).catch(() => undefined)
        return res?.status === 200 ? true : undefined
      }, 500)
      acknowledged.set(`w${i}`, `v${i}`)
    }))
    const liar = await consensus(validators[0] as NodeProcess)
    expect(liar.byzantine?.equivocations ?? 0).toBeGreaterThan(0)
    for (const node of honest) {
      const c = await consensus(node)
      expect(c.view).toBeGreaterThanOrEqual(1)
      expect(c.primary).not.toBe(validators[0]?.runtime.peerId)
    }
    // every honest validator holds every acknowledged write, at the same sequence number
    const seqs = new Map<string, number>()
    for (const node of honest) {
      await waitUntil(`${node.name} to hold every acknowledged write`, 30_000, async () => {
        for (const [key, value] of acknowledged) {
          const res = await api<{ value?: string, seq?: number }>(node, 'GET', `/v1/memory/t/${key}`)
          if (res.body.value !== value) return undefined
        }
        return true
      })
      for (const key of acknowledged.keys()) {
        const res = await api<{ seq: number }>(node, 'GET', `/v1/memory/t/${key}`)
        const seen = seqs.get(key)
        if (seen == null) seqs.set(key, res.body.seq)
        else expect(res.body.seq, `${key} on ${node.name}`).toBe(seen)
      }
    }
    // same executed prefix: once they are level, their stores list the same entries
    const target = Math.max(...(await Promise.all(honest.map(consensus))).map(c => c.lastExecuted))
    for (const node of honest) {
      await waitUntil(`${node.name} to execute up to ${target}`, 30_000, async () => ((await consensus(node)).lastExecuted >= target ? true : undefined))
    }
    const listings = await Promise.all(honest.map(async node => JSON.stringify((await api<{ entries: unknown }>(node, 'GET', '/v1/memory/t?limit=1000')).body.entries)))
    expect(new Set(listings).size).toBe(1)
  })
})
