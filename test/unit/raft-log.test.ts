/**
 * The durable Raft log (src/runtime/consensus/raft-log.ts): round trip across groups, one fdatasync per
 * group (and a failed one leaves nothing behind), group commit in the runtime (many proposals, few
 * groups, all of them restored), recovery from a torn tail, damage elsewhere reported with file and
 * offset, and a rewrite (compaction) that keeps exactly what RaftNode.restore needs — checked by
 * restoring the members of a small in-memory cluster, with snapshots and compacted logs, from their
 * full logs and from their rewritten ones.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { RaftNode } from '../../src/core/raft/node.js'
import type { ClientRequest, Entry, Membership, Message, PersistRecord, RaftConfig } from '../../src/core/raft/types.js'
import { SeededRandom } from '../../src/core/random.js'
import { encodeRecordFrame } from '../../src/runtime/consensus/pbft-log.js'
import { compactedRecords, RaftLog, RaftLogError } from '../../src/runtime/consensus/raft-log.js'
import { RaftConsensus } from '../../src/runtime/consensus/raft.js'
import { defaultConsensusParams } from '../../src/runtime/consensus/genesis.js'
import type { Genesis } from '../../src/runtime/consensus/genesis.js'
import type { RaftTransport } from '../../protocols/raft/service.js'
import { KeyValueApp } from '../sim/app.js'

// count fdatasync calls, and make them fail on demand
const sync = vi.hoisted(() => ({ calls: 0, fail: false }))
vi.mock('node:fs', async importOriginal => {
  const fs = await importOriginal<typeof import('node:fs')>()
  return {
    ...fs,
    fdatasync: (fd: number, callback: (err: NodeJS.ErrnoException | null) => void) => {
      sync.calls++
      if (sync.fail) { callback(Object.assign(new Error('EIO: injected'), { code: 'EIO' })); return }
      fs.fdatasync(fd, callback)
    }
  }
})

let dir: string
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'raft-log-')); sync.calls = 0; sync.fail = false })
afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

const hard = (term: number, vote: string | null, commit: number): PersistRecord => ({ kind: 'hard-state', term, vote, commit })
const entries = (from: number, count: number, term = 2, text = 'v'): PersistRecord => ({
  kind: 'entries',
  entries: Array.from({ length: count }, (_, i): Entry => ({ index: from + i, term, kind: 'requests', requests: [{ client: 'c', requestId: from + i, operation: `put k${from + i} ${text}` }] }))
})

describe('raft log: format and durability', () => {
  it('round trip: what was appended is loaded back, in order, across groups', async () => {
    const log = new RaftLog(dir)
    expect(log.load()).toEqual([])
    const first = [hard(2, 'a', 1), entries(2, 3, 2, 'é😀\\n"x"')]
    const second = [entries(4, 2, 3, 'lone \ud800 surrogate'), hard(3, 'b', 5)]
    await log.appendGroup(first)
    await log.appendGroup(second)
    log.close()
    const again = new RaftLog(dir)
    const loaded = again.load()
    // JSON turns a lone surrogate into U+FFFD: compare with what JSON gives back
    expect(loaded).toEqual(JSON.parse(JSON.stringify([...first, ...second])))
    expect(again.truncatedBytes).toBe(0)
    expect(again.sizeBytes).toBe(statSync(again.path).size)
    again.close()
  })

  it('one fdatasync per group, none for an empty one; groups do not overlap', async () => {
    const log = new RaftLog(dir)
    log.load()
    await log.appendGroup([hard(2, 'a', 1), entries(2, 10), hard(2, 'a', 11)])
    expect(sync.calls).toBe(1)
    await log.appendGroup([])
    expect(sync.calls).toBe(1)
    await log.appendGroup([entries(12, 1)])
    expect(sync.calls).toBe(2)
    // the runtime waits for a group before the next: a second one meanwhile is a bug, refused loudly
    const inFlight = log.appendGroup([entries(13, 1)])
    await expect(log.appendGroup([entries(14, 1)])).rejects.toThrow(/another group is in flight/)
    await inFlight
    log.close()
    const again = new RaftLog(dir)
    expect(again.load().length).toBe(5)
    again.close()
  })

  it('a failed fdatasync fails the group and leaves no partial frame behind', async () => {
    const log = new RaftLog(dir)
    log.load()
    await log.appendGroup([entries(2, 1)])
    const size = log.sizeBytes
    sync.fail = true
    await expect(log.appendGroup([entries(3, 5), hard(2, 'a', 7)])).rejects.toThrow('EIO')
    expect(statSync(log.path).size).toBe(size)
    sync.fail = false
    await log.appendGroup([entries(3, 1, 2, 'after')])
    log.close()
    const again = new RaftLog(dir)
    expect(again.load()).toEqual([entries(2, 1), entries(3, 1, 2, 'after')])
    expect(again.truncatedBytes).toBe(0)
    again.close()
  })

  it('a torn last frame (header or payload cut, or zero-filled) is truncated at load and the log goes on', async () => {
    for (const [name, tear] of [
      ['half a header', (frame: Buffer) => frame.subarray(0, 5)],
      ['a header without all its payload', (frame: Buffer) => frame.subarray(0, frame.length - 3)],
      ['zeros where the frame should be', (frame: Buffer) => Buffer.alloc(frame.length)],
      ['a whole frame whose payload did not reach the disk', (frame: Buffer) => { const f = Buffer.from(frame); f[f.length - 2] ^= 0xff; return f }]
    ] as Array<[string, (frame: Buffer) => Buffer]>) {
      rmSync(join(dir, 'raft.log'), { force: true })
      const log = new RaftLog(dir)
      log.load()
      const kept = [hard(2, 'a', 1), entries(2, 4)]
      await log.appendGroup(kept)
      const intact = log.sizeBytes
      log.close()
      const torn = tear(encodeRecordFrame(entries(6, 2), 'raft log'))
      appendFileSync(join(dir, 'raft.log'), torn)
      const again = new RaftLog(dir)
      expect(again.load(), name).toEqual(kept)
      expect(again.truncatedBytes, name).toBe(torn.length)
      expect(statSync(again.path).size, name).toBe(intact)
      await again.appendGroup([entries(6, 1, 2, 'next')])
      again.close()
      const third = new RaftLog(dir)
      expect(third.load(), name).toEqual([...kept, entries(6, 1, 2, 'next')])
      third.close()
    }
  })

  it('damage before the last frame throws RaftLogError with the file and offset; a bad magic too', async () => {
    const log = new RaftLog(dir)
    log.load()
    await log.appendGroup([hard(2, 'a', 1)])
    const secondAt = log.sizeBytes
    await log.appendGroup([entries(2, 3), hard(2, 'a', 4)])
    log.close()
    const good = readFileSync(join(dir, 'raft.log'))

    const payloadFlipped = Buffer.from(good)
    payloadFlipped[secondAt + 12 + 5] ^= 0x01 // a byte of the second record's payload; a third record follows
    writeFileSync(join(dir, 'raft.log'), payloadFlipped)
    const err = (() => { try { new RaftLog(dir).load(); return null } catch (e) { return e } })()
    expect(err).toBeInstanceOf(RaftLogError)
    expect((err as RaftLogError).name).toBe('RaftLogError')
    expect((err as RaftLogError).offset).toBe(secondAt)
    expect((err as RaftLogError).file).toBe(join(dir, 'raft.log'))
    expect((err as Error).message).toMatch(/record checksum mismatch/)

    const headerFlipped = Buffer.from(good)
    headerFlipped[secondAt + 1] ^= 0x40
    writeFileSync(join(dir, 'raft.log'), headerFlipped)
    expect(() => new RaftLog(dir).load()).toThrow(/header checksum mismatch/)

    // a well-formed frame carrying something that is not a Raft record
    writeFileSync(join(dir, 'raft.log'), Buffer.concat([good.subarray(0, secondAt), encodeRecordFrame({ kind: 'executed' }, 'raft log'), good.subarray(secondAt)]))
    expect(() => new RaftLog(dir).load()).toThrow(RaftLogError)

    const badMagic = Buffer.from(good)
    badMagic.write('MPBFTLG1', 0, 'latin1')
    writeFileSync(join(dir, 'raft.log'), badMagic)
    expect(() => new RaftLog(dir).load()).toThrow(/bad magic/)
  })

  it('rewrite replaces the file atomically; a leftover temp file of a crashed rewrite is ignored and removed', async () => {
    const log = new RaftLog(dir, { compactAtBytes: 2_000 })
    log.load()
    await log.appendGroup([hard(2, 'a', 1), entries(2, 10)])
    expect(log.wantsCompaction()).toBe(false)
    await log.appendGroup([entries(12, 20)])
    expect(log.wantsCompaction()).toBe(true)
    const replacement = [hard(3, 'b', 31), entries(2, 30)]
    log.rewrite(replacement)
    expect(log.wantsCompaction()).toBe(false)
    expect(existsSync(`${log.path}.compact-tmp`)).toBe(false)
    await log.appendGroup([hard(3, 'b', 32)])
    log.close()
    // a rewrite that died before its rename: the temp file is garbage, the log is what counts
    writeFileSync(`${join(dir, 'raft.log')}.compact-tmp`, 'half a rewrite')
    const again = new RaftLog(dir)
    expect(again.load()).toEqual([...replacement, hard(3, 'b', 32)])
    expect(existsSync(`${again.path}.compact-tmp`)).toBe(false)
    again.close()
  })
})

/**
 * Three RaftNodes in memory, each persisting through its own RaftLog in Ready order (persist, then
 * send), messages delivered in FIFO order. Small snapshot interval and compaction keep, so the logs
 * hold snapshot records and compacted prefixes.
 */
class Trio {
  readonly ids = ['a', 'b', 'c']
  readonly genesis: Membership = { voters: this.ids, learners: [] }
  readonly config: Omit<RaftConfig, 'id'> = { electionTick: 10, heartbeatTick: 1, snapshotInterval: 15, compactionKeep: 4, maxEntriesPerAppend: 8 }
  readonly nodes = new Map<string, RaftNode>()
  readonly apps = new Map<string, KeyValueApp>()
  readonly logs = new Map<string, RaftLog>()
  private readonly inbox: Message[] = []

  constructor (readonly root: string) {
    for (const [i, id] of this.ids.entries()) {
      const app = new KeyValueApp()
      this.apps.set(id, app)
      this.nodes.set(id, new RaftNode({ ...this.config, id }, app, new SeededRandom(i + 1), this.genesis))
      const log = new RaftLog(join(root, id))
      log.load()
      this.logs.set(id, log)
    }
  }

  async step (id: string, input: Parameters<RaftNode['step']>[0]): Promise<void> {
    const effects = (this.nodes.get(id) as RaftNode).step(input)
    await (this.logs.get(id) as RaftLog).appendGroup(effects.flatMap(e => e.type === 'persist' ? [e.record] : []))
    for (const e of effects) if (e.type === 'send') this.inbox.push(e.message)
  }

  async deliver (): Promise<void> {
    while (this.inbox.length > 0) {
      const message = this.inbox.shift() as Message
      await this.step(message.to, { type: 'message', message })
    }
  }

  async heartbeat (rounds: number): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      await this.step(this.leader(), { type: 'tick' })
      await this.deliver()
    }
  }

  leader (): string {
    const leader = this.ids.find(id => this.nodes.get(id)?.role === 'leader')
    if (leader == null) throw new Error('no leader')
    return leader
  }

  restoreFrom (id: string, records: PersistRecord[]): { node: RaftNode, app: KeyValueApp } {
    const app = new KeyValueApp()
    const node = RaftNode.restore({ ...this.config, id }, app, new SeededRandom(99), this.genesis, records)
    return { node, app }
  }

  close (): void {
    for (const log of this.logs.values()) log.close()
  }
}

/**
 * What restore must give back: hard state, the snapshot, every entry after it and the applied state.
 * (The entries a live node keeps before its snapshot, `compactionKeep` of them for followers a little
 * behind, are not needed: a rewrite drops them, and such a follower gets the snapshot instead.)
 */
function essentials (node: RaftNode, app: KeyValueApp): unknown {
  const status = node.status()
  const snapshot = node.log.snapshot ?? { index: 0, term: 0 }
  return {
    snapshot: { index: snapshot.index, term: snapshot.term },
    term: node.term,
    vote: node.vote,
    commit: node.commit,
    applied: node.applied,
    lastIndex: status.lastIndex,
    lastTerm: node.log.term(status.lastIndex),
    entriesAfterSnapshot: Array.from({ length: status.lastIndex - snapshot.index }, (_, k) => node.log.entry(snapshot.index + 1 + k)),
    membership: node.membership,
    app: app.snapshot()
  }
}

describe('raft log: restore from the log equals the node that wrote it; a rewrite keeps what restore needs', () => {
  it('3 members with snapshots and compacted prefixes: full log ≡ rewritten log ≡ the live node', async () => {
    const trio = new Trio(dir)
    try {
      await trio.step('a', { type: 'campaign' })
      await trio.deliver()
      expect(trio.leader()).toBe('a')
      let requestId = 1
      for (let round = 0; round < 12; round++) {
        // three proposals (three entries) of 1-3 requests each, some through a follower (forwarded)
        for (let p = 0; p < 3; p++) {
          const requests: ClientRequest[] = Array.from({ length: 1 + p }, () => ({ client: 'c1', requestId, operation: `put k${requestId % 7} v${requestId++}` }))
          await trio.step(round % 3 === 0 && p === 0 ? 'b' : 'a', { type: 'propose', requests })
        }
        await trio.deliver()
        await trio.heartbeat(1)
      }
      // one leader change in the middle of the history: terms and votes move on every log
      await trio.step('b', { type: 'campaign' })
      await trio.deliver()
      await trio.heartbeat(3)
      const leader = trio.leader()
      for (let round = 0; round < 4; round++) {
        await trio.step(leader, { type: 'propose', requests: [{ client: 'c2', requestId: round + 1, operation: `add n ${round + 1}` }] })
        await trio.deliver()
      }
      await trio.heartbeat(3)
      const commit = (trio.nodes.get(leader) as RaftNode).commit
      expect(commit).toBeGreaterThan(36)

      for (const id of trio.ids) {
        const live = trio.nodes.get(id) as RaftNode
        expect(live.commit, `${id} caught up`).toBe(commit)
        expect(live.log.snapshot?.index ?? 0, `${id} took a snapshot (and compacted its log)`).toBeGreaterThan(0)
        expect(live.log.firstIndex(), `${id} compacted`).toBeGreaterThan(1)
        const expected = essentials(live, trio.apps.get(id) as KeyValueApp)

        const log = trio.logs.get(id) as RaftLog
        log.close()
        const reopened = new RaftLog(join(dir, id))
        const full = reopened.load()
        expect(full.some(r => r.kind === 'snapshot'), `${id}'s log holds a snapshot record`).toBe(true)
        const fromFull = trio.restoreFrom(id, full)
        expect(essentials(fromFull.node, fromFull.app), `${id} restored from its full log`).toEqual(expected)
        expect(fromFull.node.log.firstIndex(), `${id}: the full log keeps the same prefix`).toBe(live.log.firstIndex())

        // the runtime's rewrite: hard state, the snapshot and the entries after it
        const sizeBefore = reopened.sizeBytes
        reopened.rewrite(compactedRecords(live))
        expect(reopened.sizeBytes).toBeLessThan(sizeBefore)
        expect(reopened.sizeBytes).toBe(statSync(join(dir, id, 'raft.log')).size)
        reopened.close()
        const rewritten = new RaftLog(join(dir, id))
        const records = rewritten.load()
        expect(records.length).toBeLessThanOrEqual(3)
        const fromRewrite = trio.restoreFrom(id, records)
        expect(essentials(fromRewrite.node, fromRewrite.app), `${id} restored from its rewritten log`).toEqual(expected)
        trio.logs.set(id, rewritten)
      }

      // the cluster goes on after restarts from the rewritten logs: the restored nodes commit more
      for (const id of trio.ids) {
        const records = new RaftLog(join(dir, id))
        ;(trio.logs.get(id) as RaftLog).close()
        const restored = trio.restoreFrom(id, records.load())
        trio.logs.set(id, records)
        trio.nodes.set(id, restored.node)
        trio.apps.set(id, restored.app)
      }
      await trio.step('c', { type: 'campaign' })
      await trio.deliver()
      expect(trio.leader()).toBe('c')
      await trio.step('c', { type: 'propose', requests: [{ client: 'c3', requestId: 1, operation: 'put after restart' }] })
      await trio.deliver()
      await trio.heartbeat(3)
      for (const id of trio.ids) {
        expect((trio.nodes.get(id) as RaftNode).commit, id).toBeGreaterThan(commit)
        expect(trio.apps.get(id)?.snapshot(), id).toContain('"after","restart"')
      }
    } finally {
      trio.close()
    }
  })
})

describe('raft log: group commit in the runtime', () => {
  it('a single member: 300 concurrent proposals are persisted in far fewer groups, and restore holds every acknowledged one', async () => {
    const peerId = '12D3KooWGroupCommitTestMember'
    const genesis: Genesis = { genesis_time: '2024-01-01T00:00:00Z', network: 't', consensus: 'raft', validators: [{ peer_id: peerId, name: 'solo' }], consensus_params: defaultConsensusParams }
    const noTransport = { sendFrame: () => { throw new Error('a single member sends nothing') } } as unknown as RaftTransport
    const store = new RaftLog(join(dir, 'solo'))
    const app = new KeyValueApp()
    const consensus = new RaftConsensus({ genesis, peerId, incarnation: 1, app, store, transport: () => noTransport, isConnected: () => true, log: () => {} })
    consensus.start()
    try {
      // the only member elects itself after an election timeout
      for (let i = 0; consensus.status().raft?.role !== 'leader'; i++) {
        if (i > 200) throw new Error('no leader after 200 polls')
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      const fsyncsBefore = consensus.status().persisted.fsyncs
      const results = await Promise.all(Array.from({ length: 300 }, async (_, i) => await consensus.propose(`put k${i} v${i}`)))
      const groups = consensus.status().persisted.fsyncs - fsyncsBefore
      expect(results.map(r => r.result)).toEqual(Array.from({ length: 300 }, () => 'ok nil'))
      expect(groups).toBeGreaterThan(0)
      expect(groups, 'proposals stepped while a group is in flight join the next one').toBeLessThan(300)
      const acknowledgedAt = Math.max(...results.map(r => r.seq))
      await consensus.idle()
      consensus.stop()
      store.close()
      // every acknowledged write was durable before its answer: a restart from the file holds it
      const reopened = new RaftLog(join(dir, 'solo'))
      const restoredApp = new KeyValueApp()
      const node = RaftNode.restore({ id: peerId, electionTick: 10, heartbeatTick: 1 }, restoredApp, new SeededRandom(1), { voters: [peerId], learners: [] }, reopened.load())
      reopened.close()
      expect(node.commit).toBeGreaterThanOrEqual(acknowledgedAt)
      expect(restoredApp.snapshot()).toBe(app.snapshot())
    } finally {
      consensus.stop()
      store.close()
    }
  })
})
