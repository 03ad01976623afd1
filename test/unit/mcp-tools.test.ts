/**
 * The pure parts behind `mesh mcp`: the tools' input schemas (what the SDK validates every call
 * against), the Prometheus text parser of swarm_monitor, the operator suspicion in the membership core
 * (daa_fault_tolerance) and the re-balance plan of topology_optimize.
 */
import { describe, expect, it } from 'vitest'
import { toolDescriptions, toolSchemas } from '../../src/mcp/tools.js'
import { parsePrometheus } from '../../src/mcp/prometheus.js'
import { Membership, membershipConfig } from '../../src/core/membership.js'
import type { Effect } from '../../src/core/membership.js'
import { planRebalance, rebalanceDialsMax } from '../../src/runtime/connection-keeper.js'
import type { RebalancePeer } from '../../src/runtime/connection-keeper.js'
import { findMember } from '../../src/api/member-routes.js'
import type { MemberView } from '../../src/runtime/mesh-node.js'

const issues = (name: keyof typeof toolSchemas, input: unknown): string[] => {
  const result = toolSchemas[name].safeParse(input)
  return result.success ? [] : result.error.issues.map(i => `${i.path.join('.')}: ${i.message}`)
}

describe('MCP tool input schemas', () => {
  it('has the ten tools agents call, each described', () => {
    expect(Object.keys(toolSchemas).sort()).toEqual([
      'daa_communication', 'daa_consensus', 'daa_fault_tolerance', 'memory_usage', 'performance_report',
      'swarm_init', 'swarm_monitor', 'swarm_status', 'task_orchestrate', 'topology_optimize'
    ])
    for (const name of Object.keys(toolSchemas)) expect(toolDescriptions[name as keyof typeof toolSchemas].length).toBeGreaterThan(20)
  })

  it('accepts well-formed calls and fills defaults', () => {
    expect(toolSchemas.swarm_init.parse({})).toMatchObject({ topology: 'mesh', waitMs: 30_000 })
    expect(toolSchemas.memory_usage.parse({ action: 'store', key: 'k', value: { a: 1 } })).toMatchObject({ action: 'store', limit: 100, linearizable: false })
    expect(toolSchemas.memory_usage.parse({ action: 'store', key: 'k', value: null })).toMatchObject({ value: null })
    expect(toolSchemas.memory_usage.parse({ action: 'retrieve', key: 'k', consistency: 'eventual' })).toMatchObject({ consistency: 'eventual' }) // [eventual]
    expect(toolSchemas.memory_usage.safeParse({ action: 'retrieve', key: 'k', consistency: 'strong' }).success).toBe(false) // [eventual]
    expect(toolSchemas.daa_consensus.parse({ action: 'vote', id: 'p-3-0', decision: 'approve' })).toMatchObject({ limit: 20 })
    // [votes] gossip proposals: the protocol, a lifetime, and 64-hex ids
    expect(toolSchemas.daa_consensus.parse({ action: 'propose', proposal: 1, protocol: 'gossip', ttlSeconds: 60 })).toMatchObject({ protocol: 'gossip', ttlSeconds: 60 })
    expect(toolSchemas.daa_consensus.parse({ action: 'vote', id: 'a'.repeat(64), decision: 'reject' })).toMatchObject({ id: 'a'.repeat(64) })
    expect(toolSchemas.task_orchestrate.parse({ action: 'submit', capabilities: ['echo'], payload: 'x', wait: true })).toMatchObject({ waitMs: 60_000 })
    expect(toolSchemas.daa_communication.parse({ to: 'all', body: { hi: 1 } })).toMatchObject({ action: 'send' })
    expect(toolSchemas.daa_fault_tolerance.parse({})).toMatchObject({ action: 'health' })
    expect(toolSchemas.performance_report.parse({})).toEqual({ timeframe: '24h' })
    expect(toolSchemas.swarm_monitor.parse({})).toMatchObject({ prefixes: ['mesh_'], buckets: false })
  })

  it('refuses what the node would refuse, naming the field', () => {
    expect(issues('swarm_init', { topology: 'ring' })[0]).toMatch(/^topology: /)
    expect(issues('swarm_init', { maxAgents: 0 })[0]).toMatch(/^maxAgents: /)
    expect(issues('swarm_init', { maxAgents: 2.5 })[0]).toMatch(/^maxAgents: /)
    expect(issues('swarm_init', { bogus: 1 })[0]).toMatch(/bogus/)
    expect(issues('memory_usage', { action: 'store', key: 'k' })).toEqual(['value: action "store" needs "value"'])
    expect(issues('memory_usage', { action: 'retrieve' })).toEqual(['key: action "retrieve" needs "key"'])
    expect(issues('memory_usage', { action: 'list', namespace: 'bad ns' })[0]).toMatch(/^namespace: /)
    expect(issues('memory_usage', { action: 'store', key: 'é'.repeat(129), value: 'v' })[0]).toMatch(/^key: .*256 bytes/)
    expect(issues('memory_usage', { action: 'erase', key: 'k' })[0]).toMatch(/^action: /)
    expect(issues('daa_consensus', { action: 'vote', id: 'p-1-0' })).toEqual(['decision: action "vote" needs "decision"'])
    expect(issues('daa_consensus', { action: 'vote', id: 'x', decision: 'approve' })[0]).toMatch(/^id: /)
    expect(issues('daa_consensus', { action: 'propose' })).toEqual(['proposal: action "propose" needs "proposal"'])
    expect(issues('daa_consensus', { action: 'propose', proposal: {}, threshold: 0 })[0]).toMatch(/^threshold: /)
    expect(issues('daa_consensus', { action: 'propose', proposal: {}, protocol: 'paxos' })[0]).toMatch(/^protocol: /)
    expect(issues('daa_consensus', { action: 'propose', proposal: {}, protocol: 'gossip', ttlSeconds: 0 })[0]).toMatch(/^ttlSeconds: /)
    expect(issues('daa_consensus', { action: 'vote', id: 'A'.repeat(64), decision: 'approve' })[0]).toMatch(/^id: /)
    expect(issues('daa_fault_tolerance', { action: 'suspect' })).toEqual(['peerId: action "suspect" needs "peerId"'])
    expect(issues('daa_communication', { to: 'all' })).toEqual(['body: action "send" needs "body"'])
    expect(issues('task_orchestrate', { action: 'submit' })).toEqual(['capabilities: action "submit" needs "capabilities"'])
    expect(issues('task_orchestrate', { action: 'submit', capabilities: ['no spaces'] })[0]).toMatch(/^capabilities\.0: /)
    expect(issues('task_orchestrate', { action: 'status', id: '../etc' })[0]).toMatch(/^id: /)
    expect(issues('task_orchestrate', { action: 'list', limit: 10_000 })[0]).toMatch(/^limit: /)
    expect(issues('performance_report', { timeframe: 'yesterday' })[0]).toMatch(/^timeframe: /)
    expect(issues('topology_optimize', { timeoutMs: 5 })[0]).toMatch(/^timeoutMs: /)
    expect(issues('swarm_monitor', { prefixes: ['bad prefix'] })[0]).toMatch(/^prefixes\.0: /)
  })
})

describe('Prometheus text → JSON snapshot', () => {
  const text = [
    '# HELP mesh_members Members by state.',
    '# TYPE mesh_members gauge',
    'mesh_members{state="alive"} 3',
    'mesh_members{state="failed"} 0',
    '# TYPE mesh_commit_seconds histogram',
    'mesh_commit_seconds_bucket{le="0.1"} 4',
    'mesh_commit_seconds_bucket{le="+Inf"} 5',
    'mesh_commit_seconds_sum 0.42',
    'mesh_commit_seconds_count 5',
    '# TYPE mesh_messages_total counter',
    'mesh_messages_total{to="a \\"quoted\\" name",path="C:\\\\x"} 7 1700000000000',
    'mesh_odd NaN',
    'mesh_up +Inf',
    '# TYPE libp2p_connections gauge',
    'libp2p_connections 2',
    'this is { not valid',
    'mesh_bad{a="unterminated} 1'
  ].join('\n')

  it('groups samples into families, keeps _sum/_count, drops buckets unless asked, filters by prefix', () => {
    const snap = parsePrometheus(text, { prefixes: ['mesh_'] })
    expect(Object.keys(snap.families)).toEqual(['mesh_commit_seconds', 'mesh_members', 'mesh_messages_total', 'mesh_odd', 'mesh_up'])
    expect(snap.families.mesh_members).toEqual({
      type: 'gauge', help: 'Members by state.', samples: [{ labels: { state: 'alive' }, value: 3 }, { labels: { state: 'failed' }, value: 0 }]
    })
    expect(snap.families.mesh_commit_seconds?.type).toBe('histogram')
    expect(snap.families.mesh_commit_seconds?.samples).toEqual([
      { name: 'mesh_commit_seconds_sum', labels: {}, value: 0.42 },
      { name: 'mesh_commit_seconds_count', labels: {}, value: 5 }
    ])
    expect(snap.families.mesh_messages_total?.samples[0]?.labels).toEqual({ to: 'a "quoted" name', path: 'C:\\x' })
    expect(snap.families.mesh_odd?.samples[0]?.value).toBe('NaN')
    expect(snap.families.mesh_up?.samples[0]?.value).toBe('+Inf')
    expect(snap.malformed).toBe(2)
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap)
  })

  it('with buckets and no prefix keeps everything; samplesMax bounds the output', () => {
    const all = parsePrometheus(text, { prefixes: [], buckets: true })
    expect(all.families.libp2p_connections?.samples).toEqual([{ labels: {}, value: 2 }])
    expect(all.families.mesh_commit_seconds?.samples).toHaveLength(4)
    const bounded = parsePrometheus(text, { prefixes: [], samplesMax: 3 })
    expect(bounded.samples).toBe(3)
    expect(bounded.dropped).toBe(5)
  })
})

describe('membership: an operator suspicion (daa_fault_tolerance) goes the normal way', () => {
  const make = (): Membership => {
    const m = new Membership(membershipConfig({ self: 'self', selfIncarnation: 1, failureTimeoutMs: 10_000, seed: 7 }), 0)
    for (const peer of ['a', 'b', 'c', 'd']) m.step({ type: 'record', nowMs: 0, peerId: peer, incarnation: 1, sequence: 1, leaving: false })
    return m
  }
  const probes = (effects: Effect[]): Array<Extract<Effect, { type: 'probe' }>> => effects.filter((e): e is Extract<Effect, { type: 'probe' }> => e.type === 'probe')

  it('an alive member becomes suspect at once and is probed directly and through helpers', () => {
    const m = make()
    const { effects, applied } = m.step({ type: 'suspect', nowMs: 100, peerId: 'a' })
    expect(applied).toBe(true)
    expect(effects[0]).toEqual({ type: 'change', peerId: 'a', from: 'alive', to: 'suspect', reason: 'operator' })
    const asked = probes(effects).map(p => p.helper)
    expect(asked).toContain('self')
    expect(asked.filter(h => h !== 'self').sort()).toEqual(m.suspicion('a')?.asked)
    expect(m.suspicion('a')?.asked).toHaveLength(3)
  })

  it('a live member answering the probe is alive again; so is one that publishes a newer record', () => {
    const m = make()
    m.step({ type: 'suspect', nowMs: 100, peerId: 'a' })
    const back = m.step({ type: 'probe-answer', nowMs: 150, target: 'a', helper: 'self', reachable: true })
    expect(back.effects).toEqual([{ type: 'change', peerId: 'a', from: 'suspect', to: 'alive', reason: 'probe-answer', detail: 'self' }])
    expect(m.suspicion('a')).toBeUndefined()
    m.step({ type: 'suspect', nowMs: 200, peerId: 'b' })
    const record = m.step({ type: 'record', nowMs: 300, peerId: 'b', incarnation: 1, sequence: 2, leaving: false })
    expect(record.effects[0]).toMatchObject({ peerId: 'b', to: 'alive', reason: 'record' })
  })

  it('failure needs a majority of helpers, as for a silent member', () => {
    const m = make()
    m.step({ type: 'suspect', nowMs: 100, peerId: 'a' })
    const [first, second] = m.suspicion('a')?.asked ?? []
    expect(m.step({ type: 'probe-answer', nowMs: 200, target: 'a', helper: first as string, reachable: false }).effects).toEqual([])
    const confirmed = m.step({ type: 'probe-answer', nowMs: 300, target: 'a', helper: second as string, reachable: false })
    expect(confirmed.effects.map(e => e.type)).toEqual(['change', 'announce-failure'])
    expect(m.member('a')?.state).toBe('failed')
  })

  it('ourselves, unknown, already suspect, failed and left members are not (re-)suspected', () => {
    const m = make()
    expect(m.step({ type: 'suspect', nowMs: 1, peerId: 'self' })).toEqual({ effects: [], applied: false })
    expect(m.step({ type: 'suspect', nowMs: 1, peerId: 'nobody' })).toEqual({ effects: [], applied: false })
    m.step({ type: 'suspect', nowMs: 1, peerId: 'a' })
    expect(m.step({ type: 'suspect', nowMs: 2, peerId: 'a' })).toEqual({ effects: [], applied: false })
    m.step({ type: 'record', nowMs: 3, peerId: 'b', incarnation: 1, sequence: 2, leaving: true })
    expect(m.step({ type: 'suspect', nowMs: 4, peerId: 'b' }).applied).toBe(false)
  })
})

describe('topology_optimize: the re-balance plan', () => {
  const peer = (peerId: string, rttMs: number | null, extra: Partial<RebalancePeer> = {}): RebalancePeer =>
    ({ peerId, rttMs, pinned: false, preferred: false, openedAtMs: 0, ...extra })

  it('within bounds it does nothing', () => {
    expect(planRebalance({ connected: [peer('a', 1), peer('b', 2)], candidates: [{ peerId: 'a', rttMs: 1 }], minPeers: 2, maxPeers: 4 })).toEqual({ close: [], dial: [] })
  })

  it('above --max-peers it hangs up on the slowest (unmeasured worst), never on pinned, validators last', () => {
    const plan = planRebalance({
      connected: [peer('fast', 1), peer('slow', 80), peer('unknown', null), peer('validator', 200, { preferred: true }), peer('pinned', 500, { pinned: true })],
      candidates: [],
      minPeers: 1,
      maxPeers: 2
    })
    expect(plan.close.map(c => c.peerId)).toEqual(['unknown', 'slow', 'fast'])
    expect(plan.close[0]?.reason).toMatch(/over --max-peers 2 \(rtt not measured\)/)
    expect(plan.dial).toEqual([])
  })

  it('of equal RTT the newest link goes first', () => {
    const plan = planRebalance({ connected: [peer('old', 5, { openedAtMs: 1 }), peer('new', 5, { openedAtMs: 9 })], candidates: [], minPeers: 1, maxPeers: 1 })
    expect(plan.close.map(c => c.peerId)).toEqual(['new'])
  })

  it('below --min-peers it dials unconnected members, lowest RTT first, bounded', () => {
    const plan = planRebalance({
      connected: [peer('a', 1)],
      candidates: [{ peerId: 'a', rttMs: 1 }, { peerId: 'far', rttMs: 90 }, { peerId: 'near', rttMs: 3 }, { peerId: 'new', rttMs: null }, { peerId: 'near', rttMs: 3 }],
      minPeers: 3,
      maxPeers: 10
    })
    expect(plan.dial).toEqual(['near', 'far'])
    const many = planRebalance({ connected: [], candidates: Array.from({ length: 40 }, (_, i) => ({ peerId: `p${i}`, rttMs: null })), minPeers: 1000, maxPeers: 1000 })
    expect(many.dial).toHaveLength(rebalanceDialsMax)
  })
})

describe('member references (PeerId or unique name)', () => {
  const member = (peerId: string, name: string): MemberView => ({ peerId, name } as unknown as MemberView)
  const members = [member('12D3KooA', 'alpha'), member('12D3KooB', 'twin'), member('12D3KooC', 'twin')]
  it('finds by PeerId or unique name; an ambiguous name is a 409, an unknown one a 404', () => {
    expect(findMember(members, '12D3KooC').name).toBe('twin')
    expect(findMember(members, 'alpha').peerId).toBe('12D3KooA')
    expect(() => findMember(members, 'twin')).toThrow(/2 members are named "twin": use a PeerId/)
    expect(() => findMember(members, 'nobody')).toThrow(/no member "nobody"/)
    expect(() => findMember(members, 'x'.repeat(129))).toThrow(/1-128 characters/)
  })
})
