import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { TokenBuckets } from '../../src/core/rate-limit.js'
import { Admission, AdmissionError, parseAllowList, parseRateLimits, protocolClass, rateKeysMax, readAllowPeers } from '../../src/runtime/admission.js'
import type { InboundConnection } from '../../src/runtime/admission.js'

async function peerIds (n: number): Promise<string[]> {
  return await Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
}

describe('token buckets (src/core/rate-limit.ts)', () => {
  it('allows the burst at once, then the rate: 10/s, burst 5', () => {
    const b = new TokenBuckets({ ratePerSec: 10, burst: 5, keysMax: 4 })
    const taken = Array.from({ length: 8 }, () => b.take('p', 0))
    expect(taken).toEqual([true, true, true, true, true, false, false, false])
    expect(b.take('p', 99)).toBe(false) // 0.99 token
    expect(b.take('p', 100)).toBe(true) // one token after 100 ms
    expect(b.take('p', 100)).toBe(false)
    // a long quiet spell refills to the burst, not beyond
    const after = Array.from({ length: 7 }, () => b.take('p', 60_000))
    expect(after.filter(Boolean)).toHaveLength(5)
  })

  it('keys are independent: one flooding key does not take another key\'s tokens', () => {
    const b = new TokenBuckets({ ratePerSec: 1, burst: 2, keysMax: 4 })
    for (let i = 0; i < 100; i++) b.take('flooder', 0)
    expect(b.take('honest', 0)).toBe(true)
    expect(b.take('honest', 0)).toBe(true)
    expect(b.take('flooder', 0)).toBe(false)
  })

  it('a flood at 10× the rate passes at the rate (plus the burst) and no more', () => {
    const b = new TokenBuckets({ ratePerSec: 100, burst: 200, keysMax: 4 })
    let passed = 0
    // 1,000 messages/s for 10 s, one every ms
    for (let ms = 0; ms < 10_000; ms++) if (b.take('flooder', ms)) passed++
    expect(passed).toBeGreaterThanOrEqual(100 * 10 + 200 - 2)
    expect(passed).toBeLessThanOrEqual(100 * 10 + 200)
  })

  it('holds at most keysMax keys, evicting the least recently used; sweep drops full buckets', () => {
    const b = new TokenBuckets({ ratePerSec: 1, burst: 1, keysMax: 3 })
    b.take('a', 0); b.take('b', 0); b.take('c', 0)
    b.take('a', 0) // a is now the most recently used (and empty)
    b.take('d', 0) // evicts b
    expect(b.size).toBe(3)
    expect(b.evictions).toBe(1)
    expect(b.tokens('a', 0)).toBe(0)
    expect(b.tokens('b', 0)).toBe(1) // unknown again: full
    for (let i = 0; i < 10_000; i++) b.take(`stranger-${i}`, i)
    expect(b.size).toBe(3)
    expect(b.sweep(1_000_000)).toBe(3)
    expect(b.size).toBe(0)
  })

  it('a clock going backwards adds no tokens; bad configs are refused', () => {
    const b = new TokenBuckets({ ratePerSec: 1000, burst: 1, keysMax: 2 })
    expect(b.take('p', 1_000)).toBe(true)
    expect(b.take('p', 0)).toBe(false)
    expect(() => new TokenBuckets({ ratePerSec: 0, burst: 1, keysMax: 1 })).toThrow(RangeError)
    expect(() => new TokenBuckets({ ratePerSec: 1, burst: 0, keysMax: 1 })).toThrow(RangeError)
    expect(() => new TokenBuckets({ ratePerSec: 1, burst: 1, keysMax: 0 })).toThrow(RangeError)
  })
})

describe('allow lists (--allow-peers)', () => {
  it('parses one PeerId per line with # comments, blank lines and commas', async () => {
    const [a, b, c] = await peerIds(3) as [string, string, string]
    const set = parseAllowList(`# validators of the lab\n${a}\n\n  ${b}   # the gateway\n${c},${a}\n`)
    expect([...set].sort()).toEqual([a, b, c].sort())
  })

  it('names the bad line and why', async () => {
    const [a] = await peerIds(1) as [string]
    expect(() => parseAllowList(`${a}\n# ok\nnot-a-peer-id\n`)).toThrow(AdmissionError)
    expect(() => parseAllowList(`${a}\n# ok\nnot-a-peer-id\n`)).toThrow(/^line 3: "not-a-peer-id" is not a PeerId/)
    expect(() => parseAllowList(`${a}x`)).toThrow(/line 1/)
  })

  it('reads a file (errors name file:line) or a comma-separated list (errors name the item)', async () => {
    const [a, b] = await peerIds(2) as [string, string]
    const dir = mkdtempSync(join(tmpdir(), 'allow-'))
    const file = join(dir, 'peers.txt')
    writeFileSync(file, `${a}\n${b}\n`)
    expect([...readAllowPeers(file)].sort()).toEqual([a, b].sort())
    writeFileSync(file, `${a}\nbogus\n`)
    expect(() => readAllowPeers(file)).toThrow(`${file}:2: "bogus" is not a PeerId`)
    expect(() => readAllowPeers(join(dir, 'missing.txt'))).toThrow(/cannot read it/)
    expect([...readAllowPeers(`${a}, ${b}`)].sort()).toEqual([a, b].sort())
    expect(() => readAllowPeers(`${a},bogus`)).toThrow(/the list: item 2: "bogus"/)
  })
})

describe('admission (src/runtime/admission.ts)', () => {
  it('allows listed peers, validators and itself; counts refusals; no list: everyone', async () => {
    const [self, listed, validator, stranger] = await peerIds(4) as [string, string, string, string]
    const admission = new Admission({ self, allowPeers: new Set([listed]), validators: new Set([validator]), maxConnsPerIp: 8, exemptLoopback: true })
    expect([self, listed, validator, stranger].map(p => admission.denyPeer(p))).toEqual([false, false, false, true])
    expect(admission.status().denied['not-allowed']).toBe(1)
    const open = new Admission({ self, maxConnsPerIp: 8, exemptLoopback: true })
    expect(open.denyPeer(stranger)).toBe(false)
  })

  it('limits inbound connections per IP until they close; loopback exempt only when asked', () => {
    const listeners: Array<() => void> = []
    const conn = (ip: string): InboundConnection => ({ remoteAddr: multiaddr(`/ip4/${ip}/tcp/4000`), addEventListener: (_t, l) => { listeners.push(l) } })
    const admission = new Admission({ self: 'x', maxConnsPerIp: 2, exemptLoopback: true })
    expect([1, 2, 3].map(() => admission.denyInbound(conn('10.0.0.1')))).toEqual([false, false, true])
    expect(admission.denyInbound(conn('10.0.0.2'))).toBe(false)
    expect([1, 2, 3, 4].map(() => admission.denyInbound(conn('127.0.0.1')))).toEqual([false, false, false, false])
    listeners[0]?.()
    listeners[0]?.() // a second close event changes nothing
    expect(admission.denyInbound(conn('10.0.0.1'))).toBe(false)
    expect(admission.denyInbound(conn('10.0.0.1'))).toBe(true)
    expect(admission.status().denied['per-ip']).toBe(2)
    const strict = new Admission({ self: 'x', maxConnsPerIp: 1, exemptLoopback: false })
    expect([1, 2].map(() => strict.denyInbound(conn('127.0.0.1')))).toEqual([false, true])
  })

  it('rate-limits per peer and protocol, counts drops by protocol, charges at most once a second, stays bounded', () => {
    let now = 0
    const charged: string[] = []
    const admission = new Admission({ self: 'x', maxConnsPerIp: 8, exemptLoopback: true, rateLimits: { pbft: { ratePerSec: 10, burst: 10 } }, onRateLimited: (p, proto) => charged.push(`${proto} ${p}`), now: () => now })
    const pbft = '/mesh/lab/pbft/1.0.0'
    let passed = 0
    for (let i = 0; i < 100; i++) if (admission.admit('rogue', pbft)) passed++
    expect(passed).toBe(10)
    expect(admission.admit('honest', pbft)).toBe(true)
    expect(admission.admit('rogue', 'gossip')).toBe(true) // another protocol, another bucket
    expect(admission.status().rateLimited.pbft).toBe(90)
    expect(charged).toEqual(['pbft rogue'])
    now = 1_000
    for (let i = 0; i < 100; i++) admission.admit('rogue', pbft)
    expect(charged).toEqual(['pbft rogue', 'pbft rogue'])
    // strangers cannot grow the maps
    for (let i = 0; i < 5 * rateKeysMax; i++) admission.admit(`stranger-${i}`, pbft)
    expect(admission.status().buckets.pbft?.tracked).toBe(rateKeysMax)
    expect(admission.trackedPeers()).toBeLessThanOrEqual(rateKeysMax + 2)
  })

  it('a flooder (its rate dropped within a second) is hung up on once and refused for the cool-off, validators too; a peer just over its rate is not', () => {
    let now = 0
    const floods: string[] = []
    const admission = new Admission({ self: 'x', maxConnsPerIp: 8, exemptLoopback: true, validators: new Set(['validator']), rateLimits: { pbft: { ratePerSec: 100, burst: 100 } }, onFlood: (p, proto) => floods.push(`${proto} ${p}`), now: () => now })
    const pbft = '/mesh/lab/pbft/1.0.0'
    // just over the rate: 150 in one second (burst 100 + ~0 refill) drops 50, under the 100 that mark a flood
    for (let i = 0; i < 150; i++) admission.admit('eager', pbft)
    expect(admission.status().rateLimited.pbft).toBe(50)
    expect(floods).toEqual([])
    expect(admission.denyPeer('eager')).toBe(false)
    // twice the rate and more within the second: a flood, reported once however long it goes on
    for (let i = 0; i < 1_000; i++) { admission.admit('rogue', pbft); admission.admit('validator', pbft) }
    expect(floods).toEqual(['pbft rogue', 'pbft validator'])
    expect(admission.status().floods.hungUp.pbft).toBe(2)
    expect(admission.status().floods.coolingOff).toBe(2)
    expect([admission.denyPeer('rogue'), admission.denyPeer('validator'), admission.denyPeer('eager')]).toEqual([true, true, false])
    expect(admission.status().denied.flood).toBe(2)
    // after the cool-off both are admitted again
    now = 30_000
    expect([admission.denyPeer('rogue'), admission.denyPeer('validator')]).toEqual([false, false])
    expect(admission.status().floods.coolingOff).toBe(0)
  })

  it('maps protocol ids to bounded classes; parses MESH_RATE_LIMITS', () => {
    expect(protocolClass('/mesh/lab/pbft/1.0.0')).toBe('pbft')
    expect(protocolClass('/mesh/lab/auction/1.0.0')).toBe('auction')
    expect(protocolClass('/ipfs/ping/1.0.0')).toBe('other')
    expect(protocolClass('/mesh/lab/unknown/1.0.0')).toBe('other')
    expect(parseRateLimits('pbft=200/400, gossip=5.5/10')).toEqual({ pbft: { ratePerSec: 200, burst: 400 }, gossip: { ratePerSec: 5.5, burst: 10 } })
    expect(Object.keys(parseRateLimits('*=1/1'))).toHaveLength(13)
    expect(() => parseRateLimits('pbft=200')).toThrow(/name=rate\/burst/)
    expect(() => parseRateLimits('nope=1/1')).toThrow(/not one of/)
  })
})

describe('admission options (src/runtime/config.ts)', () => {
  it('--allow-peers: flag > MESH_ALLOW_PEERS > allowPeers in the file (a JSON list is joined); --max-conns-per-ip: default 8, whole numbers 1..1000', async () => {
    const { resolveConfig, ConfigError } = await import('../../src/runtime/config.js')
    const [a, b] = await peerIds(2) as [string, string]
    expect(resolveConfig({}, {}, {}).config.maxConnsPerIp).toBe(8)
    expect(resolveConfig({}, {}, {}).sources.maxConnsPerIp).toBe('default')
    expect(resolveConfig({}, {}, {}).config.allowPeers).toBeUndefined()
    expect(resolveConfig({}, { MESH_ALLOW_PEERS: a }, { allowPeers: [b] }).config.allowPeers).toBe(a)
    expect(resolveConfig({}, {}, { allowPeers: [a, b] }).config.allowPeers).toBe(`${a},${b}`)
    expect(resolveConfig({ allowPeers: '/etc/mesh/allow.txt' }, { MESH_ALLOW_PEERS: a }, {}).config.allowPeers).toBe('/etc/mesh/allow.txt')
    const explicit = resolveConfig({}, { MESH_MAX_CONNS_PER_IP: '3' }, {})
    expect(explicit.config.maxConnsPerIp).toBe(3)
    expect(explicit.sources.maxConnsPerIp).toBe('env')
    expect(() => resolveConfig({ maxConnsPerIp: '0' }, {}, {})).toThrow(ConfigError)
    expect(() => resolveConfig({ allowPeers: '  ' }, {}, {})).toThrow(/--allow-peers/)
  })
})
