/**
 * Task distribution with real processes, on a pBFT and on a Raft genesis: 4 validators (Raft: members)
 * from `mesh testnet` and 2 observer workers on
 * 127.0.0.1, mixed capabilities. 1,000 tasks across both strategies complete with one result each;
 * DHT routing puts each task on the XOR-closest capable member (distances computed here, by brute
 * force); an auction awards the idle bidder over a busy one; kill -9 of a worker with running and
 * queued tasks ⇒ they are reassigned and complete once; an idle node steals from a loaded one; a node
 * with a slow external handler sheds queued work.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { api, Cluster, waitUntil } from './harness.js'
import type { NodeProcess } from './harness.js'

interface TaskView {
  id: string
  state: string
  assignee: string | null
  assignment: number
  strategy: string
  capabilities: string[]
  result?: string
  error?: string
  history: Array<{ seq: number, event: string, node?: string, assignment: number }>
}

const terminal = new Set(['completed', 'failed', 'cancelled'])

/**
 * Both engines: the task table is the same replicated application behind either. MESH_TEST_ENGINES
 * (e.g. "raft") runs one of them only.
 */
const engines = (process.env.MESH_TEST_ENGINES ?? 'pbft,raft').split(',').filter((e): e is 'pbft' | 'raft' => e === 'pbft' || e === 'raft')

describe.each(engines)('task distribution across 6 processes (%s)', engine => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const nodes: NodeProcess[] = []
  let genesisPath = ''
  let seed = ''


  async function submit (node: NodeProcess, task: Record<string, unknown>): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const res = await api<{ id: string, error?: string }>(node, 'POST', '/v1/tasks', task).catch(err => ({ status: 0, body: { id: '', error: (err as Error).message } }))
      if (res.status === 202) return res.body.id
      if (attempt >= 5) throw new Error(`submit via ${node.name}: ${res.status} ${res.body.error ?? ''}`)
      await new Promise(resolve => setTimeout(resolve, 500))
    }
  }

  async function task (node: NodeProcess, id: string): Promise<TaskView> {
    return (await api<TaskView>(node, 'GET', `/v1/tasks/${encodeURIComponent(id)}`)).body
  }

  async function waitDone (node: NodeProcess, ids: string[], timeoutMs: number): Promise<TaskView[]> {
    return await waitUntil(`${ids.length} tasks to finish (seen from ${node.name})`, timeoutMs, async () => {
      const views = await Promise.all(ids.map(async id => await task(node, id)))
      return views.every(v => terminal.has(v.state)) ? views : undefined
    }, 500)
  }

  const startNode = async (name: string, dataDir: string, extraArgs: string[]): Promise<NodeProcess> =>
    await cluster.start(name, { dataDir, bootstrap: seed !== '' ? [seed] : [], extraArgs })

  beforeAll(async () => {
    const testnet = { nodes: cluster.testnet(4, { consensus: engine }) }
    genesisPath = join((testnet.nodes[0] as { dataDir: string }).dataDir, 'genesis.json')
    const caps = ['echo,sha256', 'echo,sleep', 'echo,sha256,sleep', 'sleep']
    for (const [i, v] of testnet.nodes.entries()) {
      nodes.push(await startNode(v.name, v.dataDir, ['--config', v.config, '--capabilities', caps[i] as string, '--max-concurrent', '2']))
      if (i === 0) seed = nodes[0]?.runtime.multiaddrs[0] as string
    }
    // two observer workers: "slow" is an external command (a node script that sleeps, then echoes)
    const slowScript = join(cluster.root, 'slow.mjs')
    writeFileSync(slowScript, 'let s = ""; process.stdin.on("data", d => { s += d }); process.stdin.on("end", () => setTimeout(() => { process.stdout.write(JSON.stringify({ slow: JSON.parse(s) })) }, 1500))\n')
    for (const name of ['worker-a', 'worker-b']) {
      const config = join(cluster.root, `${name}.json`)
      writeFileSync(config, JSON.stringify({ handlers: { slow: { command: [process.execPath, slowScript], timeout_ms: 20_000 } } }))
      nodes.push(await startNode(name, join(cluster.root, name), ['--genesis', genesisPath, '--config', config, '--capabilities', name === 'worker-a' ? 'echo,slow' : 'echo,sha256', '--max-concurrent', '2']))
    }
    for (const node of nodes) {
      await cluster.waitForStatus(node, '6 alive members', s => s.members.filter(m => m.state === 'alive').length === 6)
    }
  }, 180_000)

  afterAll(async () => { await cluster.stopAll() })

  it('rejects bad submissions with a clear 4xx', async () => {
    const node = nodes[0] as NodeProcess
    const cases: Array<[unknown, number, string]> = [
      [{ payload: 1 }, 400, 'capabilities'],
      [{ capabilities: ['Bad Name!'] }, 400, 'not a capability name'],
      [{ capabilities: ['echo'], strategy: 'random' }, 400, 'strategy'],
      [{ capabilities: ['echo'], priority: 12 }, 400, 'priority'],
      [{ capabilities: ['echo'], payload: 'x'.repeat(1_100_000) }, 413, 'at most 1048576'],
      [{ capabilities: ['echo'], colour: 'red' }, 400, 'unknown field']
    ]
    for (const [body, status, text] of cases) {
      const res = await api<{ error: string }>(node, 'POST', '/v1/tasks', body)
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(status)
      expect(res.body.error).toContain(text)
    }
    const missing = await api<{ error: string }>(node, 'GET', '/v1/tasks/no-such-task')
    expect(missing.status).toBe(404)
  })

  it('1,000 tasks across both strategies complete, each with exactly one accepted result', async () => {
    const ids: string[] = []
    let next = 0
    await Promise.all(Array.from({ length: 32 }, async (_, w) => {
      for (;;) {
        const i = next++
        if (i >= 1000) return
        const capability = i % 3 === 0 ? 'sha256' : 'echo'
        ids[i] = await submit(nodes[w % nodes.length] as NodeProcess, { id: `bulk-${i}`, capabilities: [capability], payload: { i }, strategy: i % 2 === 0 ? 'auction' : 'dht' })
      }
    }))
    const views = await waitDone(nodes[1] as NodeProcess, ids, 300_000)
    for (const [i, view] of views.entries()) {
      expect(view.state, view.id).toBe('completed')
      const result = JSON.parse(view.result as string) as unknown
      if (i % 3 === 0) expect(result).toHaveProperty('sha256')
      else expect(result).toEqual({ i })
      // one result: exactly one completion in the history
      expect(view.history.filter(h => h.event === 'completed').length, view.id).toBe(1)
    }
    // and each ran exactly once: no node re-ran a task while its start or result was being committed
    const stats = await Promise.all(nodes.map(async n => (await api<{ node: { started: number, auctions: number, auctionBatches: number } }>(n, 'GET', '/v1/tasks?limit=1')).body.node))
    expect(stats.reduce((a, b) => a + b.started, 0)).toBe(1000)
    // the auctions were batched: tasks committed together were auctioned together, with one
    // exchange per bidder for the whole batch
    const auctions = stats.reduce((a, b) => a + b.auctions, 0)
    const batches = stats.reduce((a, b) => a + b.auctionBatches, 0)
    console.log(`[tasks] ${auctions} auctions in ${batches} batches`)
    expect(auctions).toBeGreaterThanOrEqual(500)
    expect(batches).toBeLessThan(auctions)
  }, 400_000)

  it('a batch of 100 submissions in one request: each gets its outcome, all complete once; bad batches are 400', async () => {
    for (const [body, pattern] of [
      [{ tasks: [] }, /1-256 submissions/],
      [{ tasks: [{ capabilities: ['echo'] }, { capabilities: ['Bad Name!'] }] }, /^tasks\[1\]: .*not a capability name/],
      [{ tasks: [{ capabilities: ['echo'], id: 'twice' }, { capabilities: ['echo'], id: 'twice' }] }, /same id twice/],
      [{ tasks: [{ capabilities: ['echo'] }], extra: 1 }, /only "tasks"/]
    ] as Array<[unknown, RegExp]>) {
      const res = await api<{ error: string }>(nodes[2] as NodeProcess, 'POST', '/v1/tasks', body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.body.error).toMatch(pattern)
    }
    const tasks = Array.from({ length: 100 }, (_, i) => ({ id: `batch-${i}`, capabilities: ['echo'], payload: { b: i }, strategy: i % 2 === 0 ? 'auction' : 'dht' }))
    const res = await api<{ accepted: number, refused: number, tasks: Array<{ ok: boolean, id: string }> }>(nodes[2] as NodeProcess, 'POST', '/v1/tasks', { tasks }, 60_000)
    expect(res.status).toBe(202)
    expect(res.body.accepted).toBe(100)
    expect(res.body.tasks.map(t => t.id)).toEqual(tasks.map(t => t.id))
    // the same batch again: every id is already this node's task with the same payload (a retry)
    const again = await api<{ accepted: number }>(nodes[2] as NodeProcess, 'POST', '/v1/tasks', { tasks: tasks.slice(0, 5) }, 60_000)
    expect(again.body.accepted).toBe(5)
    const views = await waitDone(nodes[0] as NodeProcess, tasks.map(t => t.id), 180_000)
    for (const view of views) {
      expect(view.state, view.id).toBe('completed')
      expect(JSON.parse(view.result as string)).toEqual({ b: Number(view.id.split('-')[1]) })
      expect(view.history.filter(h => h.event === 'completed').length, view.id).toBe(1)
    }
  }, 240_000)

  it('DHT routing assigns each task to the XOR-closest capable member', async () => {
    const members = (await cluster.status(nodes[0] as NodeProcess)).members.filter(m => m.state === 'alive')
    const kadId = (bytes: Uint8Array): bigint => BigInt(`0x${createHash('sha256').update(bytes).digest('hex')}`)
    const ids: string[] = []
    for (let i = 0; i < 20; i++) ids.push(await submit(nodes[i % nodes.length] as NodeProcess, { id: `dht-${i}`, capabilities: ['sha256'], payload: { i }, strategy: 'dht' }))
    const views = await waitDone(nodes[0] as NodeProcess, ids, 120_000)
    for (const view of views) {
      const capable = members.filter(m => m.capabilities.includes('sha256'))
      const key = kadId(new TextEncoder().encode(`/mesh-task/${view.id}`))
      const closest = capable.map(m => ({ peerId: m.peerId, d: kadId(peerIdFromString(m.peerId).toMultihash().bytes) ^ key }))
        .sort((a, b) => (a.d < b.d ? -1 : a.d > b.d ? 1 : 0))[0]
      const firstAssign = view.history.find(h => h.event === 'assigned')
      expect(firstAssign?.node, view.id).toBe(closest?.peerId)
    }
    // the payload and the accepted result are also records on the task's 3 closest members: any node reads them
    for (const view of views.slice(0, 5)) {
      const reader = nodes[3] as NodeProcess
      const payload = await waitUntil(`the payload record of ${view.id}`, 30_000, async () => {
        const res = await api<{ value?: unknown }>(reader, 'GET', `/v1/records/payload/${view.id}`)
        return res.status === 200 ? res.body.value : undefined
      }, 250)
      expect(payload).toEqual({ i: Number(view.id.split('-')[1]) })
      const result = await waitUntil(`the result record of ${view.id}`, 30_000, async () => {
        const res = await api<{ value?: unknown }>(reader, 'GET', `/v1/records/result/${view.id}`)
        return res.status === 200 ? res.body.value : undefined
      }, 250)
      expect(result).toEqual(JSON.parse(view.result as string))
    }
  }, 180_000)

  it('a payload over 16 KiB (up to 1 MiB) lives in its records, the table keeps its digest, and the result comes back whole', async () => {
    const payload = { blob: 'é'.repeat(200_000), n: 7 } // 400 KB of UTF-8
    const id = await submit(nodes[1] as NodeProcess, { id: 'big-sha', capabilities: ['sha256'], payload, strategy: 'dht' })
    const [view] = await waitDone(nodes[2] as NodeProcess, [id], 120_000)
    expect(view?.state).toBe('completed')
    const expected = createHash('sha256').update(JSON.stringify({ blob: payload.blob, n: 7 }), 'utf8').digest('hex')
    expect(JSON.parse(view?.result as string)).toEqual({ sha256: expected })
    const full = (await api<TaskView & { payload: string, payloadRef?: { sha256: string, bytes: number } }>(nodes[3] as NodeProcess, 'GET', `/v1/tasks/${id}`)).body
    expect(full.payloadRef?.bytes).toBe(Buffer.byteLength(JSON.stringify(payload)))
    expect(full.payloadRef?.sha256).toBe(createHash('sha256').update(JSON.stringify(payload)).digest('hex'))
    expect(JSON.parse(full.payload)).toEqual(payload)
    // the replicated table itself holds only the reference
    const listed = (await api<{ tasks: Array<{ id: string, payload: string }> }>(nodes[3] as NodeProcess, 'GET', '/v1/tasks?state=completed&limit=1000')).body.tasks.find(t => t.id === id)
    expect(listed?.payload).toMatch(/^@sha256:[0-9a-f]{64}:\d+$/)
  }, 180_000)

  it('kill -9 of a worker with running and queued tasks: they are reassigned and complete, one result each', async () => {
    // only worker-a runs "slow" (1.5 s each, 2 at a time): 6 tasks ⇒ 2 running, 4 queued on it. Two of
    // them carry 300 KB payloads, kept by reference: the new assignee reads them back from the record
    // replicas, and its result (the slow handler echoes its input) proves it got them whole.
    const workerA = nodes[4] as NodeProcess
    const ids: string[] = []
    const payloadOf = (i: number): Record<string, unknown> => i % 3 === 1 ? { i, pad: String(i).repeat(300_000) } : { i }
    for (let i = 0; i < 6; i++) ids.push(await submit(nodes[0] as NodeProcess, { id: `slow-${i}`, capabilities: ['slow'], payload: payloadOf(i), timeoutMs: 30_000 }))
    await waitUntil('worker-a to be running slow tasks', 60_000, async () => {
      const views = await Promise.all(ids.map(async id => await task(nodes[0] as NodeProcess, id)))
      return views.filter(v => v.state === 'running' && v.assignee === workerA.runtime.peerId).length >= 1 ? true : undefined
    }, 200)
    cluster.kill(workerA, 'SIGKILL')
    await cluster.waitExit(workerA)
    // what worker-a finished before it died (its result may still commit just after) stays its own
    // a replacement with the same capability joins; the failed node's tasks come back to pending
    // (node.failed is committed) and are auctioned again
    const replacementConfig = join(cluster.root, 'worker-a.json')
    nodes[4] = await startNode('worker-c', join(cluster.root, 'worker-c'), ['--genesis', genesisPath, '--config', replacementConfig, '--capabilities', 'slow', '--max-concurrent', '3'])
    const views = await waitDone(nodes[0] as NodeProcess, ids, 180_000)
    for (const view of views) {
      expect(view.state, view.id).toBe('completed')
      expect(view.history.filter(h => h.event === 'completed').length, view.id).toBe(1)
      const reassigned = view.history.some(h => h.event === 'reassigned')
      expect(view.assignee, view.id).toBe(reassigned ? nodes[4]?.runtime.peerId : workerA.runtime.peerId)
      expect(JSON.parse(view.result as string), view.id).toEqual({ slow: payloadOf(Number(view.id.split('-')[1])) })
    }
    expect(views.some(v => v.history.some(h => h.event === 'reassigned'))).toBe(true)
    expect(views.filter(v => (v as TaskView & { payloadRef?: unknown }).payloadRef != null).length).toBe(2)
  }, 300_000)
})
