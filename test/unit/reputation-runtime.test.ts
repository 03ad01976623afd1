/**
 * The node's reputation runtime (src/runtime/gossip/reputation.ts): reason counts, bans only for
 * rejected messages (and never for exempt validators), gossipsub's score, and persistence in the data
 * dir — atomic, restored at start, a torn or invalid file reported and ignored.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PeerReputation, messageRejection, parseReputationFile, reputationFile } from '../../src/runtime/gossip/reputation.js'
import { reputationDefaults } from '../../src/core/gossip/reputation.js'

const dirs: string[] = []
function dataDir (): string {
  const dir = mkdtempSync(join(tmpdir(), 'rep-test-'))
  dirs.push(dir)
  return dir
}
afterEach(() => { for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true }) })

function make (options: { dir?: string | null, exempt?: string[], now?: () => number } = {}): { rep: PeerReputation, logs: string[], bans: string[] } {
  const logs: string[] = []
  const bans: string[] = []
  const rep = new PeerReputation({
    self: 'self',
    dataDir: options.dir ?? null,
    log: line => logs.push(line),
    exempt: peer => (options.exempt ?? []).includes(peer),
    onBan: peer => bans.push(peer),
    now: options.now ?? (() => 1_000_000)
  })
  return { rep, logs, bans }
}

describe('observations', () => {
  it('scores, counts reasons (most frequent first, top 3) and ignores ourselves', () => {
    const { rep } = make()
    rep.observe('p', { type: 'rejected', reason: 'bad-signature' })
    rep.observe('p', { type: 'rejected', reason: 'undecodable' })
    rep.observe('p', { type: 'rejected', reason: 'undecodable' })
    rep.observe('p', { type: 'rtt', ms: 100 })
    rep.observe('p', { type: 'flap' })
    rep.observe('p', { type: 'probe', ok: true })
    rep.observe('self', { type: 'rejected', reason: 'bad-signature' })
    const view = rep.view('p')
    expect(view.score).toBe(-20 - 10 - 10 + reputationDefaults.deltas.flap + reputationDefaults.deltas.probeOk)
    expect(view.reasons).toEqual([{ reason: 'rejected:undecodable', count: 2 }, { reason: 'flap', count: 1 }, { reason: 'probe-ok', count: 1 }])
    expect(rep.view('self').score).toBe(0)
    expect(rep.list().map(p => p.peerId)).toEqual(['p'])
  })

  it('bans a peer that sent rejected messages once at or below -50, once, and tells the runtime', () => {
    const { rep, bans, logs } = make()
    rep.observe('rogue', { type: 'rejected', reason: 'bad-signature' })
    rep.observe('rogue', { type: 'rejected', reason: 'bad-signature' })
    expect(rep.isBanned('rogue')).toBe(false)
    expect(rep.gossipScore('rogue')).toBe(-40)
    rep.observe('rogue', { type: 'rejected', reason: 'oversize' })
    rep.observe('rogue', { type: 'rejected', reason: 'bad-signature' })
    expect(rep.isBanned('rogue')).toBe(true)
    expect(rep.view('rogue').banned).toBe(true)
    expect(bans).toEqual(['rogue'])
    expect(logs.some(l => l.includes('banned'))).toBe(true)
  })

  it('task failures lower the score but never ban nor touch the gossipsub score; exempt peers are never banned', () => {
    const { rep, bans } = make({ exempt: ['validator'] })
    for (let i = 0; i < 30; i++) rep.observe('flaky', { type: 'task', success: false })
    expect(rep.score('flaky')).toBe(-100)
    expect(rep.isBanned('flaky')).toBe(false)
    expect(rep.gossipScore('flaky')).toBe(0)
    for (let i = 0; i < 10; i++) rep.observe('validator', { type: 'rejected', reason: 'bad-signature' })
    expect(rep.isBanned('validator')).toBe(false)
    expect(rep.gossipScore('validator')).toBe(-100)
    expect(bans).toEqual([])
  })

  it('a ban lifts once the score decays back above -50 (half-life 30 min)', () => {
    let now = 0
    const { rep, logs } = make({ now: () => now })
    for (let i = 0; i < 5; i++) rep.observe('rogue', { type: 'rejected', reason: 'bad-signature' })
    expect(rep.isBanned('rogue')).toBe(true)
    now = reputationDefaults.halfLifeMs * 1.01
    expect(rep.isBanned('rogue')).toBe(false)
    expect(logs.some(l => l.includes('connections allowed again'))).toBe(true)
  })
})

describe('refused direct messages', () => {
  it('charges forgery and broken bytes to the sender of a direct message; not expiry, misdirection or broadcasts', () => {
    expect(messageRejection('bad-signature', 'direct')).toBe('msg-bad-signature')
    expect(messageRejection('undecodable', 'direct')).toBe('msg-undecodable')
    expect(messageRejection('expired', 'direct')).toBeUndefined()
    expect(messageRejection('misdirected', 'direct')).toBeUndefined()
    expect(messageRejection('bad-signature', 'broadcast')).toBeUndefined()
    expect(messageRejection('constructor', 'direct')).toBeUndefined()
    const { rep } = make()
    rep.observe('p', { type: 'rejected', reason: 'msg-impersonation' })
    expect(rep.score('p')).toBe(-10)
    expect(rep.misbehaved('p')).toBe(true)
  })
})

describe('persistence', () => {
  it('writes atomically and restores scores and reasons at the next start', () => {
    const dir = dataDir()
    const { rep } = make({ dir })
    rep.observe('a', { type: 'task', success: true })
    rep.observe('b', { type: 'rejected', reason: 'invalid' })
    rep.stop()
    expect(readdirSync(dir)).toEqual([reputationFile])
    const again = make({ dir }).rep
    expect(again.view('a')).toEqual(rep.view('a'))
    expect(again.view('b')).toEqual(rep.view('b'))
    expect(again.misbehaved('b')).toBe(true)
  })

  it('a torn or invalid file is reported and ignored, never a crash', () => {
    const dir = dataDir()
    const { rep } = make({ dir })
    rep.observe('a', { type: 'task', success: true })
    rep.persist()
    const good = readFileSync(join(dir, reputationFile), 'utf8')
    for (const bad of [good.slice(0, good.length / 2), '{"version":7}', JSON.stringify({ version: 1, scores: { version: 1, peers: [] }, reasons: { ghost: { flap: 1 } } }), '\u0000\u0001']) {
      writeFileSync(join(dir, reputationFile), bad)
      const { rep: fresh, logs } = make({ dir })
      expect(fresh.list()).toEqual([])
      expect(logs.some(l => l.includes(`${reputationFile} ignored`))).toBe(true)
    }
  })

  it('refuses reason counts that are not non-negative integers', () => {
    const text = JSON.stringify({ version: 1, scores: { version: 1, peers: [{ peer: 'a', events: 1, atMs: 1 }] }, reasons: { a: { flap: -1 } } })
    expect(parseReputationFile(text).ok).toBe(false)
    const fine = JSON.stringify({ version: 1, scores: { version: 1, peers: [{ peer: 'a', events: 1, atMs: 1 }] }, reasons: { a: { flap: 2 } } })
    expect(parseReputationFile(fine).ok).toBe(true)
  })
})
