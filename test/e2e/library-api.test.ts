/**
 * The library handle in this process (src/index.ts, imported from source): what each call maps to on
 * the node's API and how refusals surface (MeshError with the HTTP status and the API's message), on a
 * node without a genesis (eventual memory, gossip votes) and on a one-member Raft network from
 * `mesh testnet` (consensus memory, tasks, in-process handlers). Real nodes, 127.0.0.1, free ports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { MeshError, startNode } from '../../src/index.js'
import type { MeshNodeHandle } from '../../src/index.js'
import { api, Cluster, waitUntil } from './harness.js'

async function rejection (promise: Promise<unknown>): Promise<MeshError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof MeshError) return err
    throw err
  }
  throw new Error('expected a MeshError, got a result')
}

describe('library handle, in process', () => {
  const cluster = new Cluster()
  let plain: MeshNodeHandle
  let raft: MeshNodeHandle
  let raftDir = ''

  beforeAll(async () => {
    const [member] = cluster.testnet(1, { consensus: 'raft' })
    raftDir = (member as { dataDir: string }).dataDir
    ;[plain, raft] = await Promise.all([
      startNode({ network: cluster.network, name: 'plain', mdns: 'off' }),
      startNode({ dataDir: raftDir, name: 'raft', mdns: 'off' })
    ])
  })

  afterAll(async () => {
    await Promise.allSettled([plain?.stop(), raft?.stop()])
    await cluster.stopAll()
  })

  it('eventual memory: set, get, list, delete; a missing key is undefined; a bad namespace is a 400 MeshError', async () => {
    const written = await plain.memory.set('colour', 'blue', { eventual: true })
    expect(written.consistency).toBe('eventual')
    expect(await plain.memory.get('colour', { eventual: true })).toBe('blue')
    expect(await plain.memory.get('nothing-here', { eventual: true })).toBeUndefined()
    expect((await plain.memory.list({ eventual: true })).map(e => [e.key, e.value, e.writer])).toEqual([['colour', 'blue', plain.peerId]])
    expect(await plain.memory.delete('colour', { eventual: true })).toBe(true)
    expect(await plain.memory.get('colour', { eventual: true })).toBeUndefined()
    const bad = await rejection(plain.memory.set('k', 'v', { eventual: true, namespace: 'not a namespace!' }))
    expect(bad.status).toBe(400)
    expect(bad.message).toMatch(/namespace/)
  })

  it('gossip votes: propose, vote, and the proposal is approved', async () => {
    const receipt = await plain.propose({ release: 7 }, { protocol: 'gossip', threshold: 1 })
    expect(receipt.protocol).toBe('gossip')
    expect(receipt.requiredApprovals).toBe(1)
    await plain.vote(receipt.id, 'approve')
    const proposal = await plain.proposal(receipt.id)
    expect(proposal).toMatchObject({ id: receipt.id, protocol: 'gossip', status: 'approved', approvals: 1, proposal: { release: 7 } })
    expect(proposal?.votes).toEqual([{ voter: plain.peerId, decision: 'approve' }])
    expect((await plain.proposals()).map(p => p.id)).toContain(receipt.id)
    expect(await plain.proposal('0'.repeat(64))).toBeUndefined()
  })

  it('consensus memory and tasks on a Raft network: handlers in this process, results parsed, failures and bad names', async () => {
    const stored = await raft.memory.set('k', 'v')
    expect(stored.consistency).toBe('linearizable')
    expect(typeof stored.seq).toBe('number')
    expect(await raft.memory.get('k', { linearizable: true })).toBe('v')
    expect(await raft.memory.get('missing')).toBeUndefined()

    raft.handle('sum', async payload => (payload as number[]).reduce((a, b) => a + b, 0))
    raft.handle('boom', async () => { throw new Error('it went boom') })
    const self = (await raft.status()).members.find(m => m.self)
    expect(self?.capabilities).toEqual(['sum', 'boom'])

    const done = await raft.tasks.submit({ capability: 'sum', payload: [1, 2, 39], id: 'sum-1' }, { wait: true })
    expect(done).toMatchObject({ id: 'sum-1', state: 'completed', result: 42, payload: [1, 2, 39], assignee: raft.peerId, submitter: raft.peerId })
    const failed = await raft.tasks.submit({ capability: 'boom' }, { wait: true })
    expect(failed.state).toBe('failed')
    expect(failed.error).toMatch(/it went boom/)
    expect((await raft.tasks.get('sum-1'))?.result).toBe(42)
    expect(await raft.tasks.get('no-such-task')).toBeUndefined()
    expect((await raft.tasks.list({ state: 'completed' })).map(t => t.id)).toContain('sum-1')

    const badSubmit = await rejection(raft.tasks.submit({ capability: 'not a capability!' }))
    expect(badSubmit.status).toBe(400)
    expect(() => { raft.handle('not a capability!', async () => null) }).toThrow(MeshError)
    // no genesis, no tasks: handle refuses rather than offer what it cannot run
    if ((await plain.status()).consensus == null) expect(() => { plain.handle('sum', async () => 0) }).toThrow(/consensus network/)
  })

  it('a second node of this process on the same data dir is refused; stop is idempotent, later calls throw, a temporary data dir goes', async () => {
    const again = await rejection(startNode({ dataDir: raftDir, mdns: 'off' }))
    expect(again.status).toBeNull()
    expect(again.message).toMatch(/another node/)

    const temp = await startNode({ network: cluster.network, mdns: 'off' })
    const kept = await startNode({ network: cluster.network, mdns: 'off', keepDataDir: true })
    expect(existsSync(join(temp.dataDir, 'runtime.json'))).toBe(true)
    await Promise.all([temp.stop(), temp.stop(), kept.stop()])
    expect(existsSync(temp.dataDir)).toBe(false)
    expect(existsSync(join(kept.dataDir, 'identity.key'))).toBe(true)
    expect(existsSync(join(kept.dataDir, 'runtime.json'))).toBe(false)
    rmSync(kept.dataDir, { recursive: true, force: true })
    const after = await rejection(temp.status())
    expect(after.message).toMatch(/stopped/)
  })

  it('a start that fails (API port in use) throws a MeshError and releases the data dir', async () => {
    const server = createServer()
    await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
    const port = (server.address() as AddressInfo).port
    const dataDir = join(cluster.root, 'busy')
    try {
      const failed = await rejection(startNode({ dataDir, api: `127.0.0.1:${port}`, network: cluster.network, mdns: 'off' }))
      expect(failed.status).toBeNull()
      expect(failed.message).toMatch(/in use/)
    } finally {
      server.close()
    }
    expect(existsSync(join(dataDir, 'node.lock'))).toBe(false)
    // the same data dir starts at once afterwards
    const again = await startNode({ dataDir, network: cluster.network, mdns: 'off' })
    await again.stop()
  })
})

describe('a library node joins a `mesh start` Raft network', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  let library: MeshNodeHandle | undefined

  afterAll(async () => {
    await library?.stop()
    await cluster.stopAll()
  })

  it('handle() offers the capability to the mesh: a task submitted on the CLI node is auctioned to the library node and runs in this process', async () => {
    // a one-member Raft network run by `mesh start`; the library node is an observer of it (same genesis)
    const [member] = cluster.testnet(1, { consensus: 'raft' }) as Array<{ dataDir: string }>
    const cli = await cluster.start('cli', { dataDir: member?.dataDir })
    library = await startNode({ genesis: join(member?.dataDir ?? '', 'genesis.json'), name: 'library', bootstrap: [cli.runtime.multiaddrs[0] as string], mdns: 'off', heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
    const node = library
    const ran: string[] = []
    node.handle('shout', async (payload, { id }) => { ran.push(id); return `${String(payload).toUpperCase()}!` })
    // the CLI node learns the capability from the library node's gossiped state record
    await cluster.waitForStatus(cli, 'the library node offers shout', s => s.members.some(m => m.peerId === node.peerId && m.state === 'alive' && m.capabilities.includes('shout')))
    const submitted = await waitUntil('the CLI node to take the task', 30_000, async () => {
      const res = await api<{ task?: { state: string, assignee: string | null, result?: string } }>(cli, 'POST', '/v1/tasks?wait=1&timeoutMs=60000', { capabilities: ['shout'], payload: 'hi', id: 'shout-1' })
      return res.status === 200 ? res.body.task : undefined
    })
    expect(submitted).toMatchObject({ state: 'completed', assignee: node.peerId, result: '"HI!"' })
    expect(ran).toEqual(['shout-1'])
    expect((await node.tasks.get('shout-1'))?.result).toBe('HI!')
  })
})
