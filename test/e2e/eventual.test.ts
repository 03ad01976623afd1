/**
 * Eventually consistent memory with real processes on 127.0.0.1 (issue 12): three nodes without a
 * genesis. A write on one is read on the others (eventually); a delete spreads; concurrent writes of
 * one key end with the same winner everywhere — the greatest hybrid logical clock timestamp (wall ms,
 * then logical counter, then writer PeerId); a node killed with -9 comes back with its store from
 * eventual.log (alone, no peer to repair it), and once it rejoins, anti-entropy gives it what it missed;
 * a rogue peer's garbage, malformed and future-dated writes are refused and counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { pbStream } from '@libp2p/utils'
import { api, Cluster, meshBin, startRoguePeer, waitUntil } from './harness.js'
import type { NodeProcess } from './harness.js'
import type { MeshLibp2p } from '../../bootstrap/libp2p.js'
import { eventualProtocol, eventualTopic } from '../../protocols/eventual/constants.js'
import { EventualRequest, EventualResponse, RequestKind, Writes } from '../../protocols/eventual/eventual.js'
import type { Entry } from '../../protocols/eventual/eventual.js'

interface Hlc { wallMs: number, logical: number, node: string }
interface EntryView { namespace?: string, key: string, value: string | null, hlc: Hlc, writer: string, time: string, consistency?: string }
interface ListView { consistency: string, namespace: string, entries: EntryView[], more: boolean }

/** The README's rule: wall ms, then logical counter, then writer PeerId (string order), greatest wins. */
function compareHlc (a: Hlc, b: Hlc): number {
  if (a.wallMs !== b.wallMs) return a.wallMs - b.wallMs
  if (a.logical !== b.logical) return a.logical - b.logical
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0
}

async function runCli (args: string[]): Promise<{ status: number, stdout: string, stderr: string }> {
  return await new Promise(resolve => {
    execFile(process.execPath, [meshBin, ...args], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err == null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1
      resolve({ status: code, stdout, stderr })
    })
  })
}

describe('eventual memory on a 3-node mesh without genesis', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  let seed: NodeProcess
  let n1: NodeProcess
  let n2: NodeProcess
  let rogue: MeshLibp2p | undefined
  const nodes = (): NodeProcess[] => [seed, n1, n2]

  beforeAll(async () => {
    seed = await cluster.start('seed')
    const seedAddress = seed.runtime.multiaddrs[0] as string
    ;[n1, n2] = await Promise.all(['n1', 'n2'].map(async name => await cluster.start(name, { bootstrap: [seedAddress] }))) as [NodeProcess, NodeProcess]
    for (const node of nodes()) await cluster.waitForStatus(node, '3 alive members', s => s.members.length === 3 && s.members.every(m => m.state === 'alive'))
  })

  afterAll(async () => {
    try { await rogue?.stop() } catch {}
    await cluster.stopAll()
  })

  const readOn = async (node: NodeProcess, ns: string, key: string): Promise<{ status: number, body: EntryView }> =>
    await api<EntryView>(node, 'GET', `/v1/memory/${ns}/${encodeURIComponent(key)}`)

  it('without a genesis the eventual store is the default: a write on one node is read on the others', async () => {
    const put = await api<EntryView & { ok: boolean, created: boolean }>(n1, 'PUT', '/v1/memory/agents/plan', { value: 'step-1' })
    expect(put.status).toBe(200)
    expect(put.body).toMatchObject({ ok: true, consistency: 'eventual', namespace: 'agents', key: 'plan', value: 'step-1', writer: n1.runtime.peerId, created: true })
    expect(put.body.hlc.node).toBe(n1.runtime.peerId)
    for (const node of nodes()) {
      const got = await waitUntil(`${node.name} to read agents/plan`, 30_000, async () => {
        const res = await readOn(node, 'agents', 'plan')
        return res.status === 200 ? res.body : undefined
      })
      expect(got).toMatchObject({ consistency: 'eventual', value: 'step-1', hlc: put.body.hlc })
      // explicit ?consistency=eventual answers the same
      expect((await api<EntryView>(node, 'GET', '/v1/memory/agents/plan?consistency=eventual')).body.value).toBe('step-1')
    }
    // the consensus store does not exist here
    const linearizable = await api<{ error: string }>(seed, 'GET', '/v1/memory/agents/plan?consistency=linearizable')
    expect(linearizable.status).toBe(404)
    expect(linearizable.body.error).toMatch(/not part of a consensus network/)
    expect((await api<{ error: string }>(seed, 'GET', '/v1/memory/agents/plan?consistency=strong')).status).toBe(400)
  })

  it('a batch on one node, listed on another; namespaces and the store status', async () => {
    const batch = await api<{ consistency: string, results: Array<{ code: number, ok: boolean, key?: string, error?: string }> }>(seed, 'POST', '/v1/memory/batch',
      { puts: [{ key: 'a', value: '1' }, { key: 'b', value: '2' }, { key: 'x'.repeat(300), value: 'too long a key' }, { key: 'c', value: '3' }] })
    expect(batch.status).toBe(200)
    expect(batch.body.consistency).toBe('eventual')
    expect(batch.body.results.map(r => r.code)).toEqual([200, 200, 400, 200])
    expect(batch.body.results[2]?.error).toMatch(/key-too-long/)
    const list = await waitUntil('n2 to list the batch', 30_000, async () => {
      const res = await api<ListView>(n2, 'GET', '/v1/memory/batch?limit=2')
      return res.body.entries?.length === 2 ? res.body : undefined
    })
    expect(list.entries.map(e => e.key)).toEqual(['a', 'b'])
    expect(list.more).toBe(true)
    const after = await waitUntil('n2 to hold c', 30_000, async () => {
      const res = await api<ListView>(n2, 'GET', '/v1/memory/batch?after=b')
      return res.body.entries?.length === 1 ? res.body : undefined
    })
    expect(after.entries[0]).toMatchObject({ key: 'c', value: '3', writer: seed.runtime.peerId })
    const namespaces = await api<{ consistency: string, namespaces: Array<{ namespace: string, keys: number }> }>(n2, 'GET', '/v1/memory')
    expect(namespaces.body.consistency).toBe('eventual')
    expect(namespaces.body.namespaces).toEqual(expect.arrayContaining([expect.objectContaining({ namespace: 'batch', keys: 3 })]))
    const status = await api<{ keys: number, bytes: number, applied: { gossip: number, antiEntropy: number } }>(n2, 'GET', '/v1/eventual')
    expect(status.body.keys).toBeGreaterThanOrEqual(4)
    expect(status.body.applied.gossip + status.body.applied.antiEntropy).toBeGreaterThanOrEqual(4)
  })

  it('a delete spreads: the key is gone on every node', async () => {
    const del = await api<{ ok: boolean, deleted: boolean, consistency: string, hlc: Hlc }>(n2, 'DELETE', '/v1/memory/agents/plan')
    expect(del.body).toMatchObject({ ok: true, deleted: true, consistency: 'eventual' })
    for (const node of nodes()) {
      const gone = await waitUntil(`${node.name} to lose agents/plan`, 30_000, async () => {
        const res = await readOn(node, 'agents', 'plan')
        return res.status === 404 ? res.body : undefined
      })
      expect(gone).toMatchObject({ consistency: 'eventual' })
    }
  })

  it('concurrent writes of one key: the same winner everywhere, the greatest timestamp', async () => {
    const writes = await Promise.all(nodes().map(async node => await api<EntryView>(node, 'PUT', '/v1/memory/race/key', { value: `from-${node.name}` })))
    const winner = writes.map(w => w.body).sort((a, b) => compareHlc(b.hlc, a.hlc))[0] as EntryView
    for (const node of nodes()) {
      const got = await waitUntil(`${node.name} to settle on the winner`, 30_000, async () => {
        const res = await readOn(node, 'race', 'key')
        return res.status === 200 && compareHlc(res.body.hlc, winner.hlc) === 0 ? res.body : undefined
      })
      expect(got.value).toBe(winner.value)
      expect(got.writer).toBe(winner.writer)
    }
  })

  it('the CLI: store/get/list/delete work without --eventual here, and with it; --help explains both stores', async () => {
    const store = await runCli(['memory', 'store', 'note', 'hello', '--namespace', 'cli', '--data-dir', n1.dataDir])
    expect(store.status, store.stderr).toBe(0)
    expect(store.stdout).toMatch(/stored cli\/note \(eventual: written .* by /)
    const get = await runCli(['memory', 'get', 'note', '--namespace', 'cli', '--eventual', '--json', '--data-dir', n1.dataDir])
    expect(get.status, get.stderr).toBe(0)
    expect(JSON.parse(get.stdout)).toMatchObject({ consistency: 'eventual', value: 'hello', writer: n1.runtime.peerId })
    const list = await runCli(['memory', 'list', '--namespace', 'cli', '--eventual', '--data-dir', n1.dataDir])
    expect(list.stdout).toMatch(/note .*hello/)
    const del = await runCli(['memory', 'delete', 'note', '--namespace', 'cli', '--data-dir', n1.dataDir])
    expect(del.stdout).toMatch(/^deleted \(eventual: /)
    const help = await runCli(['memory', 'store', '--help'])
    expect(help.stdout).toMatch(/--eventual/)
    expect(help.stdout).toMatch(/greatest hybrid-logical-clock timestamp wins/)
  })

  it('a rogue peer: garbage, malformed and future-dated gossip and a bad anti-entropy request are refused and counted; nobody crashes', async () => {
    rogue = await startRoguePeer(cluster.network)
    const topic = eventualTopic(cluster.network)
    rogue.services.pubsub.subscribe(topic)
    await rogue.dial(multiaddr(seed.runtime.multiaddrs[0] as string))
    await waitUntil('the seed to subscribe the rogue to the eventual topic', 30_000, async () =>
      rogue?.services.pubsub.getSubscribers(topic).some(p => p.toString() === seed.runtime.peerId) === true ? true : undefined)
    const entry = (over: Partial<Entry>): Uint8Array => Writes.encode({ entries: [{ namespace: 'rogue', key: 'k', value: 'v', wallMs: BigInt(Date.now()), logical: 0n, node: 'rogue-node', ...over }] })
    await rogue.services.pubsub.publish(topic, new Uint8Array([0xff, 0xfe, 0x01, 0x02, 0x03, 0x99]))
    await rogue.services.pubsub.publish(topic, entry({ node: '' }))
    await rogue.services.pubsub.publish(topic, entry({ key: 'future', wallMs: BigInt(Date.now() + 3_600_000) }))
    const rejected = await waitUntil('the seed to count the three refusals', 30_000, async () => {
      const r = (await api<{ rejected: Record<string, number> }>(seed, 'GET', '/v1/eventual')).body.rejected
      return (r.undecodable ?? 0) >= 1 && (r.malformed ?? 0) >= 1 && (r['clock-ahead'] ?? 0) >= 1 ? r : undefined
    })
    expect(rejected).toBeDefined()
    expect((await readOn(seed, 'rogue', 'future')).status).toBe(404)
    // an anti-entropy request with a bad timestamp: the stream is aborted and the peer counted
    const stream = await rogue.dialProtocol(peerIdFromString(seed.runtime.peerId), eventualProtocol(cluster.network))
    const messages = pbStream(stream, { maxDataLength: 1024 })
    await messages.write({ kind: RequestKind.VERSIONS, digests: [], namespace: 'agents', versions: [{ key: 'k', wallMs: 1n, logical: 0n, node: '', content: 't' }], entries: [] }, EventualRequest, { signal: AbortSignal.timeout(5_000) })
    await expect(messages.read(EventualResponse, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow()
    await waitUntil('the seed to count the invalid request', 30_000, async () =>
      ((await api<{ rejected: Record<string, number> }>(seed, 'GET', '/v1/eventual')).body.rejected.invalid ?? 0) >= 1 ? true : undefined)
    for (const node of nodes()) expect((await cluster.status(node)).peerId).toBe(node.runtime.peerId)
    // the seed charged the rogue for the garbage, the malformed entry and the bad request (−10 each),
    // not for the future-dated write (a clock, not misconduct)
    const reputation = await api<{ peers: Array<{ peerId: string, score: number, banned: boolean, reasons: Array<{ reason: string, count: number }> }> }>(seed, 'GET', '/v1/reputation')
    const charged = reputation.body.peers.find(p => p.peerId === rogue?.peerId.toString())
    // (the view lists the top 3 reasons only: other things the seed saw of it may rank among them)
    const reasons = charged?.reasons.map(r => r.reason) ?? []
    expect(reasons.some(r => r.startsWith('rejected:eventual-'))).toBe(true)
    expect(reasons).not.toContain('rejected:eventual-clock-ahead')
    // −30 for the three, and the RTT term (at most +5 for a fast link) on top
    expect(charged?.score).toBeLessThanOrEqual(-20)
    await rogue.stop()
    rogue = undefined
  })

  it('kill -9: the node comes back with its store from disk, and catches up on what it missed once it rejoins', async () => {
    await waitUntil('n2 to hold batch/c', 30_000, async () => (await readOn(n2, 'batch', 'c')).status === 200 ? true : undefined)
    const before = (await api<ListView>(n2, 'GET', '/v1/memory/batch')).body.entries
    cluster.kill(n2, 'SIGKILL')
    expect((await cluster.waitExit(n2)).signal).toBe('SIGKILL')
    // written while n2 is down: only anti-entropy can bring it to n2 (gossip is gone by then)
    const missed = await api<EntryView>(n1, 'PUT', '/v1/memory/batch/missed', { value: 'while-down' })
    expect(missed.status).toBe(200)
    // and 3 MiB more (768 values of 4 KiB): more than one anti-entropy answer carries (2 MiB, then `more`)
    for (let b = 0; b < 3; b++) {
      const big = await api<{ results: Array<{ code: number }> }>(n1, 'POST', '/v1/memory/big', { puts: Array.from({ length: 256 }, (_, i) => ({ key: `k${b * 256 + i}`, value: String(b * 256 + i).padEnd(4096, '.') })) })
      expect(big.body.results.every(r => r.code === 200)).toBe(true)
    }
    // alone (no --bootstrap, a new port nobody knows): whatever it holds came from its data dir
    const alone = await cluster.start('n2', { dataDir: n2.dataDir })
    const status = await cluster.status(alone)
    expect(status.peerId).toBe(n2.runtime.peerId)
    const restored = (await api<ListView>(alone, 'GET', '/v1/memory/batch')).body.entries
    expect(restored).toEqual(before)
    expect((await readOn(alone, 'batch', 'missed')).status).toBe(404)
    // a write after the restart is newer than everything it held (the clock observed the stored writes)
    const after = await api<EntryView>(alone, 'PUT', '/v1/memory/batch/a', { value: 'after-restart' })
    const previous = before.find(e => e.key === 'a') as EntryView
    expect(compareHlc(after.body.hlc, previous.hlc)).toBeGreaterThan(0)
    cluster.kill(alone, 'SIGKILL')
    await cluster.waitExit(alone)
    // back in the mesh: anti-entropy on connect repairs both ways
    n2 = await cluster.start('n2', { dataDir: n2.dataDir, bootstrap: [seed.runtime.multiaddrs[0] as string] })
    const caughtUp = await waitUntil('n2 to get batch/missed', 60_000, async () => {
      const res = await readOn(n2, 'batch', 'missed')
      return res.status === 200 ? res.body : undefined
    })
    expect(caughtUp).toMatchObject({ value: 'while-down', hlc: missed.body.hlc })
    const big = await waitUntil('n2 to get all 768 big values', 60_000, async () => {
      const res = await api<ListView>(n2, 'GET', '/v1/memory/big?limit=1000')
      return res.body.entries?.length === 768 ? res.body.entries : undefined
    })
    expect(big.every(e => e.value === String(Number(e.key.slice(1))).padEnd(4096, '.'))).toBe(true)
    console.log('[eventual.test] n2 after rejoining:', JSON.stringify((await api<{ applied: unknown }>(n2, 'GET', '/v1/eventual')).body.applied))
    for (const node of [seed, n1]) {
      await waitUntil(`${node.name} to get n2's write made alone`, 60_000, async () => {
        const res = await readOn(node, 'batch', 'a')
        return res.status === 200 && res.body.value === 'after-restart' ? true : undefined
      })
    }
  })
})
