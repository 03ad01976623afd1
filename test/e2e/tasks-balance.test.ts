/**
 * Auctions and load shedding with real processes: 4 validators from `mesh testnet` plus workers that
 * join later, on 127.0.0.1.
 * - An auction with scripted loads: validator-1 is kept busy by a long "hold" task (capacity 1), so
 *   for an echo task it bids at utilisation 1 while validator-2 bids idle; the award goes to the bid
 *   the formula 0.4·match + 0.3·(1 − load) + 0.2·performance + 0.1·resources ranks first among those
 *   with free capacity (recomputed here from the recorded bids), i.e. validator-2.
 * - An idle node steals from an overloaded one: validator-1 (busy, `--load-shedding steal`, so it never
 *   migrates) has 8 slow tasks queued; a thief joins idle and every move is a `stolen` one.
 * - A node with a slow external handler sheds queued work by migration: a busy observer
 *   (`--load-shedding migrate`) with a 1 s handler and 16 queued tasks; an idle target joins that never
 *   steals (`--load-shedding none`), and every move is a `migrated` one.
 * Both: committed moves of tasks that had not started, every task completes exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { api, Cluster, waitUntil } from './harness.js'
import type { NodeProcess } from './harness.js'

interface TaskView { id: string, state: string, assignee: string | null, history: Array<{ seq: number, event: string, node?: string }> }
interface BidRecord { peerId: string, accepted: boolean, match?: number, utilisation?: number, performance?: number, resources?: number, freeCapacity?: boolean, score?: number }
interface AuctionRecord { taskId: string, winner: string | null, bids: BidRecord[] }

/** Both engines (MESH_TEST_ENGINES=raft runs one): stealing and migration are decided through consensus. */
const engines = (process.env.MESH_TEST_ENGINES ?? 'pbft,raft').split(',').filter((e): e is 'pbft' | 'raft' => e === 'pbft' || e === 'raft')

describe.each(engines)('auctions and load shedding (%s)', engine => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const validators: NodeProcess[] = []
  let genesisPath = ''
  let seed = ''
  let handlersConfig = ''

  const submit = async (node: NodeProcess, body: Record<string, unknown>): Promise<string> => {
    const res = await api<{ id: string, error?: string }>(node, 'POST', '/v1/tasks', body)
    if (res.status !== 202) throw new Error(`submit: ${res.status} ${res.body.error ?? ''}`)
    return res.body.id
  }
  const task = async (node: NodeProcess, id: string): Promise<TaskView> => (await api<TaskView>(node, 'GET', `/v1/tasks/${id}`)).body

  beforeAll(async () => {
    const testnet = { nodes: cluster.testnet(4, { consensus: engine }) }
    genesisPath = join((testnet.nodes[0] as { dataDir: string }).dataDir, 'genesis.json')
    // "hold" sleeps 20 s; "slow" 1 s: external commands (node scripts reading the payload on stdin)
    const script = (ms: number): string => `let s = ""; process.stdin.on("data", d => { s += d }); process.stdin.on("end", () => setTimeout(() => { process.stdout.write(s) }, ${ms}))\n`
    writeFileSync(join(cluster.root, 'hold.mjs'), script(20_000))
    writeFileSync(join(cluster.root, 'slow.mjs'), script(1_000))
    handlersConfig = join(cluster.root, 'handlers.json')
    writeFileSync(handlersConfig, JSON.stringify({ handlers: {
      hold: { command: [process.execPath, join(cluster.root, 'hold.mjs')], timeout_ms: 60_000 },
      slow: { command: [process.execPath, join(cluster.root, 'slow.mjs')], timeout_ms: 60_000 }
    } }))
    // validator-1: hold, echo and slow, one task at a time; validator-2: echo; the others: nothing
    const caps = ['hold,echo,slow', 'echo', 'sha256', 'sha256']
    const v1Config = (testnet.nodes[0] as { config: string }).config
    writeFileSync(v1Config, JSON.stringify({ ...JSON.parse(readFileSync(v1Config, 'utf8')) as object, ...JSON.parse(readFileSync(handlersConfig, 'utf8')) as object }))
    for (const [i, v] of testnet.nodes.entries()) {
      // validator-1 never migrates: the stealing test must see steals only
      const args = ['--config', v.config, '--capabilities', caps[i] as string, '--max-concurrent', '1', ...(i === 0 ? ['--load-shedding', 'steal'] : [])]
      validators.push(await cluster.start(v.name, { dataDir: v.dataDir, bootstrap: seed !== '' ? [seed] : [], extraArgs: args }))
      if (i === 0) seed = validators[0]?.runtime.multiaddrs[0] as string
    }
    for (const node of validators) {
      await cluster.waitForStatus(node, '4 alive members', s => s.members.filter(m => m.state === 'alive').length === 4)
    }
    // a Raft genesis starts with an election (writes answer 503 until it is decided); pBFT's view 0 is active at once
    for (const node of validators) {
      await waitUntil(`${node.name}: a consensus leader (primary) known and active`, 60_000, async () => {
        const c = (await api<{ active: boolean, primary: string | null }>(node, 'GET', '/v1/consensus')).body
        return c.active && c.primary != null ? true : undefined
      })
    }
  }, 180_000)

  afterAll(async () => { await cluster.stopAll() })

  it('an auction with scripted loads awards the bid the formula ranks first', async () => {
    const [v1, v2] = validators as [NodeProcess, NodeProcess]
    // keep validator-1 busy: the only "hold"-capable node runs a 20 s task (its capacity is 1)
    const hold = await submit(v2, { capabilities: ['hold'], payload: { hold: true }, timeoutMs: 60_000 })
    await waitUntil('validator-1 to run the hold task', 60_000, async () => ((await task(v2, hold)).state === 'running' ? true : undefined))
    // its gossiped load is not what the auction uses: each bid carries the bidder's load at bid time
    const echo = await submit(v2, { id: 'auctioned', capabilities: ['echo'], payload: { a: 1 } })
    const done = await waitUntil('the echo task to complete', 60_000, async () => {
      const t = await task(v2, echo)
      return t.state === 'completed' ? t : undefined
    })
    const stats = (await api<{ node: { recentAuctions: AuctionRecord[] } }>(v2, 'GET', '/v1/tasks?limit=1')).body.node
    const auction = stats.recentAuctions.find(a => a.taskId === 'auctioned')
    expect(auction, 'the submitter ran the auction').toBeDefined()
    const accepted = (auction as AuctionRecord).bids.filter(b => b.accepted)
    expect(accepted.map(b => b.peerId).sort()).toEqual([v1.runtime.peerId, v2.runtime.peerId].sort())
    const bidOf = (peerId: string): BidRecord => accepted.find(b => b.peerId === peerId) as BidRecord
    expect(bidOf(v1.runtime.peerId).utilisation).toBe(1)
    expect(bidOf(v1.runtime.peerId).freeCapacity).toBe(false)
    expect(bidOf(v2.runtime.peerId).utilisation).toBe(0)
    // the formula, recomputed from the recorded inputs
    for (const b of accepted) {
      const expected = 0.4 * (b.match as number) + 0.3 * (1 - (b.utilisation as number)) + 0.2 * (b.performance as number) + 0.1 * (b.resources as number)
      expect(b.score).toBeCloseTo(expected, 9)
    }
    const best = accepted.filter(b => b.freeCapacity === true).sort((a, b) => (b.score as number) - (a.score as number))[0]
    expect(auction?.winner).toBe(best?.peerId)
    expect(done.assignee).toBe(v2.runtime.peerId)
    expect(done.history.find(h => h.event === 'assigned')?.node).toBe(v2.runtime.peerId)
  }, 180_000)

  /** Every task completed exactly once, and was only ever moved before it started; returns the moved ones' events. */
  function checkMoves (views: TaskView[], target: string): { moved: TaskView[], events: Set<string> } {
    const moved = views.filter(v => v.history.some(h => (h.event === 'stolen' || h.event === 'migrated') && h.node === target))
    for (const v of views) {
      expect(v.history.filter(h => h.event === 'completed').length, v.id).toBe(1)
      // a task is only ever moved before it started
      // (a task that ends within 200 ms commits no `started`: its completion marks the start then)
      const events = v.history.map(h => h.event)
      const startedAt = events.indexOf('started')
      const started = startedAt >= 0 ? startedAt : events.indexOf('completed')
      const lastMove = Math.max(events.lastIndexOf('stolen'), events.lastIndexOf('migrated'))
      if (lastMove >= 0) expect(started).toBeGreaterThan(lastMove)
    }
    return { moved, events: new Set(moved.flatMap(v => v.history.map(h => h.event)).filter(e => e === 'stolen' || e === 'migrated')) }
  }

  it('an idle node steals queued tasks from an overloaded one (the victim agrees, the moves are committed); every task completes once', async () => {
    const v1 = validators[0] as NodeProcess
    // validator-1 is the only "slow" node and still busy with the hold task: 8 slow tasks queue on it
    const ids: string[] = []
    for (let i = 0; i < 8; i++) ids.push(await submit(validators[1] as NodeProcess, { id: `slow-${i}`, capabilities: ['slow'], payload: { i }, timeoutMs: 60_000 }))
    await waitUntil('the slow tasks to be queued on validator-1', 60_000, async () => {
      const views = await Promise.all(ids.map(async id => await task(v1, id)))
      return views.every(v => v.state === 'assigned' && v.assignee === v1.runtime.peerId) ? true : undefined
    }, 250)
    // an idle thief that can run them joins
    const thief = await cluster.start('thief', {
      dataDir: join(cluster.root, 'thief'), bootstrap: [seed],
      extraArgs: ['--genesis', genesisPath, '--config', handlersConfig, '--capabilities', 'slow', '--max-concurrent', '4', '--load-shedding', 'steal']
    })
    const views = await waitUntil('every slow task to complete', 120_000, async () => {
      const all = await Promise.all(ids.map(async id => await task(v1, id)))
      return all.every(v => v.state === 'completed') ? all : undefined
    }, 500)
    const { moved, events } = checkMoves(views, thief.runtime.peerId)
    expect(moved.length, 'tasks stolen by the idle node').toBeGreaterThan(0)
    expect([...events]).toEqual(['stolen'])
    // the thief's own count of what it stole matches the committed moves
    const stats = (await api<{ node: { stolen: number } }>(thief, 'GET', '/v1/tasks?limit=1')).body.node
    expect(stats.stolen).toBe(moved.length)
    console.log(`[tasks-balance] ${moved.length} of 8 tasks stolen by the idle node`)
  }, 240_000)

  it('a node with a slow external handler sheds queued work by migration to a node that joins idle; every task completes once', async () => {
    // the busy node: an observer whose only capability is "slow2" (1 s each), one at a time, migrating only
    const slow2Config = join(cluster.root, 'slow2.json')
    writeFileSync(slow2Config, JSON.stringify({ handlers: { slow2: { command: [process.execPath, join(cluster.root, 'slow.mjs')], timeout_ms: 60_000 } } }))
    const busy = await cluster.start('busy', {
      dataDir: join(cluster.root, 'busy'), bootstrap: [seed],
      extraArgs: ['--genesis', genesisPath, '--config', slow2Config, '--capabilities', 'slow2', '--max-concurrent', '1', '--load-shedding', 'migrate']
    })
    const ids: string[] = []
    // 16 s of work one at a time: the target needs a few seconds to join and to look idle (smoothed
    // utilisation) on a loaded machine, and the busy node must still hold queued work by then
    for (let i = 0; i < 16; i++) ids.push(await submit(validators[1] as NodeProcess, { id: `slow2-${i}`, capabilities: ['slow2'], payload: { i }, timeoutMs: 60_000 }))
    await waitUntil('the slow2 tasks to be assigned to the busy node', 60_000, async () => {
      const views = await Promise.all(ids.map(async id => await task(busy, id)))
      return views.every(v => v.assignee === busy.runtime.peerId) ? true : undefined
    }, 250)
    // the target never steals: whatever reaches it was pushed by the busy node
    const target = await cluster.start('target', {
      dataDir: join(cluster.root, 'target'), bootstrap: [seed],
      extraArgs: ['--genesis', genesisPath, '--config', slow2Config, '--capabilities', 'slow2', '--max-concurrent', '4', '--load-shedding', 'none']
    })
    const views = await waitUntil('every slow2 task to complete', 120_000, async () => {
      const all = await Promise.all(ids.map(async id => await task(busy, id)))
      return all.every(v => v.state === 'completed') ? all : undefined
    }, 500)
    const { moved, events } = checkMoves(views, target.runtime.peerId)
    expect(moved.length, 'tasks migrated from the busy node to the idle one').toBeGreaterThan(0)
    expect([...events]).toEqual(['migrated'])
    const stats = (await api<{ node: { migrations: number, stolen: number } }>(busy, 'GET', '/v1/tasks?limit=1')).body.node
    expect(stats.migrations).toBe(moved.length)
    expect((await api<{ node: { stolen: number } }>(target, 'GET', '/v1/tasks?limit=1')).body.node.stolen).toBe(0)
    console.log(`[tasks-balance] ${moved.length} of 16 tasks migrated to the idle node`)
  }, 240_000)
})
