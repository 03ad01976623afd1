/**
 * [zones] [mdns] Issue 14's LAN discovery and zones, the pure parts: zone labels (config and wire),
 * zone-aware replica placement, the connection keeper's zone links, the genesis/testnet warning when
 * more than f validators share a zone, mDNS on/off by default and its per-network service name, and
 * the bounded retries of discovered peers (DiscoveryGuard).
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { isZoneLabel, zoneAwareClosest, zoneConcentration, zoneLabelProblem, zoneLinkTargets, zoneLinksMax } from '../../src/core/zones.js'
import { closestPeers, taskKadId } from '../../src/core/scheduler/dht.js'
import { ConfigError, resolveConfig } from '../../src/runtime/config.js'
import { isLoopbackOrPrivateIp, mdnsDefault, mdnsServiceTag, resolveMdns } from '../../src/runtime/mdns.js'
import { DiscoveryGuard } from '../../src/runtime/discovery-guard.js'
import { faultTolerance, validatorZoneWarnings } from '../../src/cli/testnet.js'
import { openEnvelope, RecordRejectedError, sealRecord, signedBytes } from '../../protocols/state/codec.js'
import type { NodeRecord } from '../../protocols/state/codec.js'
import { Envelope, EnvelopeKind, StateRecord, Status } from '../../protocols/state/state.js'

let peers: string[] = []
let key: PrivateKey
let self = ''

beforeAll(async () => {
  for (let i = 0; i < 12; i++) peers.push(peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString())
  key = await generateKeyPair('Ed25519')
  self = peerIdFromPrivateKey(key).toString()
})

describe('zone labels', () => {
  it('accepts 1-32 of a-z 0-9 - and refuses the rest, saying why', () => {
    for (const ok of ['a', 'rack-1', 'eu-west-3', '0', 'a'.repeat(32)]) expect(isZoneLabel(ok), ok).toBe(true)
    for (const bad of ['', 'a'.repeat(33), 'Rack', 'eu_west', 'a b', 'zone.1', 'ü', 7, null]) expect(isZoneLabel(bad), String(bad)).toBe(false)
    expect(zoneLabelProblem('')).toMatch(/1-32/)
    expect(zoneLabelProblem('EU')).toMatch(/a-z/)
    expect(zoneLabelProblem('eu-1')).toBeNull()
  })

  it('--zone and --mdns through the config layers; a bad value is a ConfigError naming the option', () => {
    const { config } = resolveConfig({ zone: 'rack-2' }, { MESH_MDNS: 'off' }, {})
    expect(config.zone).toBe('rack-2')
    expect(config.mdns).toBe('off')
    expect(resolveConfig({}, {}, {}).config.zone).toBeUndefined()
    expect(resolveConfig({}, { MESH_ZONE: 'b' }, { zone: 'a' }).config.zone).toBe('b')
    expect(resolveConfig({}, {}, { mdns: true }).config.mdns).toBe('on')
    expect(() => resolveConfig({ zone: 'Rack 2' }, {}, {})).toThrow(ConfigError)
    expect(() => resolveConfig({ zone: 'Rack 2' }, {}, {})).toThrow(/--zone/)
    expect(() => resolveConfig({ mdns: 'maybe' }, {}, {})).toThrow(/--mdns: "maybe" must be on or off/)
  })
})

describe('zone in the signed state record (optional field 11)', () => {
  const network = 'zones'
  const record = (overrides: Partial<NodeRecord> = {}): NodeRecord => ({
    peerId: self, name: 'n', capabilities: [], addresses: [], incarnation: 1, sequence: 1,
    load: { queued: 0, running: 0, capacity: 1, cpu: 0 }, startedAtMs: 1, leaving: false, ...overrides
  })
  const handSealed = async (wire: StateRecord): Promise<Uint8Array<ArrayBuffer>> => {
    const body = StateRecord.encode(wire)
    const signature = Uint8Array.from(await key.sign(signedBytes(network, EnvelopeKind.STATE, body)))
    return Envelope.encode({ kind: EnvelopeKind.STATE, body, signature })
  }
  const wire = (zone?: string): StateRecord => ({
    peerId: self, name: 'n', capabilities: [], addresses: [], incarnation: 1n, sequence: 1n,
    load: { queued: 0, running: 0, capacity: 1, cpu: 0 }, startedAtMs: 1n, status: Status.ALIVE, ...(zone != null ? { zone } : {})
  })

  it('round-trips; a record without it (an older node) has none', async () => {
    const opened = await openEnvelope(network, await sealRecord(network, key, record({ zone: 'rack-1' })))
    expect(opened.kind === 'state' && opened.record.zone).toBe('rack-1')
    const old = await openEnvelope(network, await sealRecord(network, key, record()))
    expect(old.kind === 'state' && old.record.zone).toBeUndefined()
    expect(old.kind === 'state' && 'zone' in old.record).toBe(false)
  })

  it('a bad zone from the network is refused as invalid (empty, too long, bad characters)', async () => {
    for (const zone of ['', 'x'.repeat(33), 'Rack', 'a/b', 'a\u0000b']) {
      let error: unknown
      try {
        await openEnvelope(network, await handSealed(wire(zone)))
      } catch (err) { error = err }
      expect(error, JSON.stringify(zone)).toBeInstanceOf(RecordRejectedError)
      expect((error as RecordRejectedError).reason).toBe('invalid')
    }
    await expect(sealRecord(network, key, record({ zone: 'Bad Zone' }))).rejects.toThrow(/bad zone/)
  })

  it('older decoders skip the field (wire-compatible): the bytes without field 11 decode the same', () => {
    const withZone = StateRecord.decode(StateRecord.encode(wire('z')))
    const without = StateRecord.decode(StateRecord.encode(wire()))
    expect({ ...withZone, zone: undefined }).toEqual({ ...without, zone: undefined })
  })
})

describe('zoneAwareClosest: task record replicas over distinct zones', () => {
  const zonesOf = (assign: Record<string, string>) => (p: string): string => assign[p] ?? ''

  it('with no zones it is exactly the 3 XOR-closest (what nodes did before zones)', () => {
    for (let t = 0; t < 50; t++) {
      const kad = taskKadId(`task-${t}`)
      expect(zoneAwareClosest(kad, peers, () => '', 3)).toEqual(closestPeers(kad, peers).slice(0, 3))
    }
  })

  it('with ≥ 3 zones: 3 distinct zones, each the XOR-closest of its zone, closest first; the same whatever the input order', () => {
    // 12 peers in 4 zones, 3 each (zone a: 0,4,8; b: 1,5,9; …), plus one without a zone
    const assign: Record<string, string> = {}
    peers.forEach((p, i) => { assign[p] = i === 11 ? '' : ['a', 'b', 'c', 'd'][i % 4] as string })
    const zoneOf = zonesOf(assign)
    for (let t = 0; t < 200; t++) {
      const kad = taskKadId(`task-${t}`)
      const set = zoneAwareClosest(kad, peers, zoneOf, 3)
      expect(set).toHaveLength(3)
      expect(new Set(set.map(zoneOf)).size).toBe(3)
      // closest first
      expect(closestPeers(kad, set)).toEqual(set)
      // each is the closest of its zone, and the zones are those of the closest members in order
      const sorted = closestPeers(kad, peers)
      const firstZones: string[] = []
      for (const p of sorted) if (!firstZones.includes(zoneOf(p))) firstZones.push(zoneOf(p))
      expect(set.map(zoneOf).sort()).toEqual(firstZones.slice(0, 3).sort())
      for (const p of set) expect(sorted.find(q => zoneOf(q) === zoneOf(p))).toBe(p)
      // deterministic: reversed or shuffled input, duplicates: same answer
      expect(zoneAwareClosest(kad, [...peers].reverse(), zoneOf, 3)).toEqual(set)
      expect(zoneAwareClosest(kad, [...peers, ...peers.slice(0, 4)], zoneOf, 3)).toEqual(set)
    }
  })

  it('with 2 zones: both are covered, the third replica is the XOR-closest of the rest', () => {
    const assign: Record<string, string> = {}
    peers.forEach((p, i) => { assign[p] = i % 2 === 0 ? 'x' : 'y' })
    const zoneOf = zonesOf(assign)
    for (let t = 0; t < 100; t++) {
      const kad = taskKadId(`t${t}`)
      const set = zoneAwareClosest(kad, peers, zoneOf, 3)
      expect(new Set(set.map(zoneOf))).toEqual(new Set(['x', 'y']))
      const sorted = closestPeers(kad, peers)
      const picks = new Set([sorted.find(p => zoneOf(p) === 'x'), sorted.find(p => zoneOf(p) === 'y')])
      const third = sorted.find(p => !picks.has(p))
      expect(new Set(set)).toEqual(new Set([...picks, third]))
    }
  })

  it('fewer peers than k: all of them; k = 0: none', () => {
    const kad = taskKadId('small')
    expect(new Set(zoneAwareClosest(kad, peers.slice(0, 2), () => 'a', 3))).toEqual(new Set(peers.slice(0, 2)))
    expect(zoneAwareClosest(kad, peers, () => 'a', 0)).toEqual([])
  })
})

describe('zoneLinkTargets: the keeper holds a link into every other zone it knows', () => {
  const rank = (p: string): number => peers.indexOf(p)

  it('dials the best-ranked member of each unlinked other zone, none in its own zone', () => {
    const candidates = peers.slice(0, 9).map((peerId, i) => ({ peerId, zone: ['a', 'b', 'c'][i % 3] as string }))
    // self in a; connected to a peer of b; c unlinked
    const plan = zoneLinkTargets({ selfZone: 'a', connected: [{ peerId: peers[1] as string, zone: 'b' }], candidates, rank })
    expect(plan.dial).toEqual([peers[2]])
    expect(plan.linked).toEqual(['b'])
    // nothing connected: the first of b and of c
    expect(zoneLinkTargets({ selfZone: 'a', connected: [], candidates, rank }).dial).toEqual([peers[1], peers[2]])
    // every zone linked: nothing to dial
    expect(zoneLinkTargets({ selfZone: 'a', connected: [{ peerId: peers[4] as string, zone: 'b' }, { peerId: peers[5] as string, zone: 'c' }], candidates, rank }).dial).toEqual([])
  })

  it('nodes without a zone are the zone "" (a zoned node links into it too); bounded by zoneLinksMax', () => {
    const candidates = [{ peerId: peers[0] as string, zone: '' }, { peerId: peers[1] as string, zone: 'b' }]
    expect(zoneLinkTargets({ selfZone: 'b', connected: [], candidates, rank }).dial).toEqual([peers[0]])
    expect(zoneLinkTargets({ selfZone: '', connected: [], candidates, rank }).dial).toEqual([peers[1]])
    const many = peers.map((peerId, i) => ({ peerId, zone: `z${i}` }))
    expect(zoneLinkTargets({ selfZone: 'self', connected: [], candidates: many, rank }).dial).toHaveLength(zoneLinksMax)
  })

  it('no zones at all: nothing to do', () => {
    expect(zoneLinkTargets({ selfZone: '', connected: [], candidates: peers.map(peerId => ({ peerId, zone: '' })), rank }).dial).toEqual([])
  })
})

describe('validators per zone: the warning when more than f share one', () => {
  it('pBFT n = 4 (f = 1): 2 in one zone warns; 4 zones do not', () => {
    expect(faultTolerance(4, 'pbft')).toBe(1)
    expect(faultTolerance(7, 'pbft')).toBe(2)
    expect(faultTolerance(5, 'raft')).toBe(2)
    expect(validatorZoneWarnings(['a', 'b', 'c', 'd'], 'pbft')).toEqual([])
    const warnings = validatorZoneWarnings(['a', 'b', 'c', 'a'], 'pbft')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/2 of 4 validators are in zone "a", more than f = 1/)
    // round-robin over 3 zones for 7 validators (f = 2): a gets 3 → warns
    expect(validatorZoneWarnings(['a', 'b', 'c', 'a', 'b', 'c', 'a'], 'pbft')).toHaveLength(1)
    // Raft n = 3 (f = 1): 2 in one zone warns
    expect(validatorZoneWarnings(['a', 'a', 'b'], 'raft')[0]).toMatch(/Raft tolerates 1 lost validator\)/)
    // f = 0 (one validator): nothing to warn about
    expect(validatorZoneWarnings(['a'], 'pbft')).toEqual([])
  })

  it('no zones anywhere: no warning; validators without a zone count as one zone once some have one', () => {
    expect(zoneConcentration([undefined, undefined, undefined, undefined], 1).overloaded).toEqual([])
    expect(zoneConcentration(['a', undefined, undefined, 'b'], 1).overloaded).toEqual([{ zone: '', validators: 2 }])
    expect(validatorZoneWarnings(['a', undefined, undefined, 'b'], 'pbft')[0]).toMatch(/in no zone/)
  })
})

describe('mDNS: default, service name', () => {
  const lan = { ip4: ['127.0.0.1', '192.168.1.20'], ip6: ['::1', 'fe80::1'] }
  const vm = { ip4: ['127.0.0.1', '203.0.113.7'], ip6: ['::1'] }

  it('classifies loopback, RFC 1918, ULA and link-local as private', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.0.1', '169.254.1.1', '::1', 'fd00::1', 'fc12::3', 'fe80::1', '::ffff:10.0.0.1']) expect(isLoopbackOrPrivateIp(ip), ip).toBe(true)
    for (const ip of ['8.8.8.8', '172.32.0.1', '172.15.0.1', '100.64.0.1', '203.0.113.7', '2001:db8::1', '::ffff:8.8.8.8', 'not-an-ip']) expect(isLoopbackOrPrivateIp(ip), ip).toBe(false)
  })

  it('on by default only when every listen address is loopback or private (wildcards: the host\'s addresses)', () => {
    expect(mdnsDefault(['/ip4/127.0.0.1/tcp/0'], vm)).toBe(true)
    expect(mdnsDefault(['/ip4/10.0.0.5/tcp/4747', '/ip6/fd00::5/tcp/4747'], vm)).toBe(true)
    expect(mdnsDefault(['/ip4/0.0.0.0/tcp/4747'], lan)).toBe(true)
    expect(mdnsDefault(['/ip4/0.0.0.0/tcp/4747'], vm)).toBe(false)
    expect(mdnsDefault(['/ip4/127.0.0.1/tcp/0', '/ip4/203.0.113.7/tcp/4747'], lan)).toBe(false)
    expect(mdnsDefault(['/dns4/example.org/tcp/4747'], lan)).toBe(false)
    expect(mdnsDefault([], lan)).toBe(false)
    expect(resolveMdns('on', ['/ip4/203.0.113.7/tcp/1'], vm).enabled).toBe(true)
    expect(resolveMdns('off', ['/ip4/127.0.0.1/tcp/1'], vm)).toEqual({ enabled: false, reason: '--mdns off' })
    expect(resolveMdns(undefined, ['/ip4/0.0.0.0/tcp/1'], vm).reason).toMatch(/public/)
  })

  it('a service name per network and per key, a valid DNS label (≤ 63)', () => {
    expect(mdnsServiceTag('mesh')).toBe('_mesh-mesh._udp.local')
    expect(mdnsServiceTag('lab')).not.toBe(mdnsServiceTag('lab2'))
    const k1 = new TextEncoder().encode('key one')
    const k2 = new TextEncoder().encode('key two')
    expect(mdnsServiceTag('lab', k1)).toMatch(/^_mesh-lab-[0-9a-f]{8}\._udp\.local$/)
    expect(mdnsServiceTag('lab', k1)).toBe(mdnsServiceTag('lab', k1))
    expect(mdnsServiceTag('lab', k1)).not.toBe(mdnsServiceTag('lab', k2))
    expect(mdnsServiceTag('lab', k1)).not.toBe(mdnsServiceTag('lab'))
    const long = mdnsServiceTag('n'.repeat(32), k1)
    expect(long.split('.')[0]?.length).toBeLessThanOrEqual(63)
    const hashed = mdnsServiceTag('x'.repeat(80))
    expect(hashed).toMatch(/^_mesh-[0-9a-f]{24}\._udp\.local$/)
  })
})

describe('DiscoveryGuard: discovered non-members are not dialed forever', () => {
  it('quarantines after failuresMax failures, for quarantineMs, then allows again', () => {
    const guard = new DiscoveryGuard({ failuresMax: 3, quarantineMs: 1000 })
    expect(guard.failure('p', 0)).toBe(false)
    expect(guard.failure('p', 1)).toBe(false)
    expect(guard.blocked('p', 2)).toBe(false)
    expect(guard.failure('p', 2)).toBe(true)
    expect(guard.blocked('p', 3)).toBe(true)
    expect(guard.blocked('p', 1001)).toBe(true)
    // failures while quarantined do not extend it
    expect(guard.failure('p', 500)).toBe(false)
    expect(guard.blocked('p', 1002)).toBe(false)
    expect(guard.quarantined).toBe(1)
  })

  it('a success clears the count; another network is quarantined at once; bounded entries', () => {
    const guard = new DiscoveryGuard({ failuresMax: 2, quarantineMs: 1000, entriesMax: 3 })
    guard.failure('a', 0)
    guard.clear('a')
    expect(guard.failure('a', 1)).toBe(false)
    guard.foreign('b', 10)
    expect(guard.blocked('b', 11)).toBe(true)
    for (const p of ['c', 'd', 'e', 'f']) guard.failure(p, 20)
    expect(guard.size).toBe(3)
  })
})
