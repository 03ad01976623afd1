/**
 * Gossip votes on the wire and in the runtime: signing and verification of proposals and votes (every
 * field covered by the signature, domain-separated by network), the stateless checks and decode
 * bounds, equivocation injected at the runtime level (two signed votes of one member: evidence, counts
 * as none, the same on two nodes after anti-entropy), and the persisted log (kill -9 mid-append leaves a
 * torn line: skipped, never fatal; forgotten proposals leave the log).
 */
import { mkdtempSync, appendFileSync, writeFileSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PrivateKey } from '@libp2p/interface'
import type { KeyObject } from 'node:crypto'
import {
  VoteRejectedError, decodeGossip, encodeGossip, openProposal, openVote, proposalId, signProposal, signVote, signingKey
} from '../../protocols/votes/codec.js'
import type { ProposalFields } from '../../protocols/votes/codec.js'
import { checkRequest, checkResponse } from '../../protocols/votes/service.js'
import { VotesGossip } from '../../protocols/votes/votes.js'
import type { SignedProposal } from '../../protocols/votes/votes.js'
import { gossipBytesMax, proposalRetainMs } from '../../protocols/votes/constants.js'
import { GossipVotesRuntime, votesLogFileName } from '../../src/runtime/gossip/gossip-votes.js'
import type { GossipPubsub } from '../../src/runtime/gossip/gossip-votes.js'
import type { VotesProtocol } from '../../protocols/votes/service.js'

interface Member { privateKey: PrivateKey, peerId: string, key: KeyObject }

async function member (): Promise<Member> {
  const privateKey = await generateKeyPair('Ed25519')
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), key: signingKey(privateKey) }
}

const network = 'unit'
const now = 1_800_000_000_000
let a: Member, b: Member, m: Member, outsider: Member

beforeAll(async () => {
  [a, b, m, outsider] = await Promise.all([member(), member(), member(), member()])
})

function fields (over: Partial<ProposalFields> = {}): ProposalFields {
  return { proposer: a.peerId, eligible: [a.peerId, b.peerId, m.peerId].sort(), threshold: 2 / 3, createdMs: now, deadlineMs: now + 60_000, subject: '{"x":1}', ...over }
}

function reason (action: () => unknown): string {
  try {
    action()
  } catch (err) {
    if (err instanceof VoteRejectedError) return err.reason
    throw err
  }
  return 'accepted'
}

describe('proposals: signed by the proposer, verified with its PeerId', () => {
  it('a signed proposal opens, with its id the digest of the signing bytes', () => {
    const wire = signProposal(network, fields(), a.key)
    const opened = openProposal(network, wire, now)
    expect(opened.proposal.id).toBe(proposalId(network, fields()))
    expect(opened.proposal.id).toMatch(/^[0-9a-f]{64}$/)
    expect(opened.proposal).toMatchObject({ proposer: a.peerId, threshold: 2 / 3, deadlineMs: now + 60_000, subject: '{"x":1}' })
    expect(opened.createdMs).toBe(now)
  })

  it('an opened proposal or vote keeps its own signature bytes, not a view of the whole received buffer', () => {
    // a decoded message's bytes fields are views into the buffer it came in (a gossip RPC, a 64 KiB
    // chunk of an anti-entropy stream); held for an hour, each would keep that whole buffer alive
    const big = new Uint8Array(65_536)
    const encoded = encodeGossip({ proposal: signProposal(network, fields(), a.key) })
    big.set(encoded, 1_000)
    const decoded = decodeGossip(big.subarray(1_000, 1_000 + encoded.byteLength)) as { proposal: SignedProposal }
    expect(decoded.proposal.signature.buffer.byteLength).toBe(65_536) // the decoder's view
    const opened = openProposal(network, decoded.proposal, now)
    expect(opened.wire.signature.buffer.byteLength).toBe(64)
    const vote = encodeGossip({ vote: signVote(network, opened.proposal.id, b.peerId, true, b.key) })
    big.set(vote, 20_000)
    const decodedVote = decodeGossip(big.subarray(20_000, 20_000 + vote.byteLength)) as { vote: Parameters<typeof openVote>[1] }
    expect(openVote(network, decodedVote.vote).wire.signature.buffer.byteLength).toBe(64)
  })

  it('every field is covered by the signature; another network does not verify', () => {
    const wire = signProposal(network, fields(), a.key)
    const tampered: Array<Partial<SignedProposal>> = [
      { threshold: 0.5 }, { deadlineMs: BigInt(now + 60_001) }, { createdMs: BigInt(now - 1) }, { subject: '{"x":2}' },
      { eligible: [a.peerId, b.peerId].sort() }, { proposer: b.peerId }
    ]
    for (const change of tampered) expect(reason(() => openProposal(network, { ...wire, ...change }, now))).toBe('bad-signature')
    expect(reason(() => openProposal('other', wire, now))).toBe('bad-signature')
    // signed by someone else than the named proposer
    expect(reason(() => openProposal(network, signProposal(network, fields(), b.key), now))).toBe('bad-signature')
  })

  it('stateless checks: threshold, eligible order, times, subject, signature length, clock', () => {
    const bad: Array<Partial<ProposalFields>> = [
      { threshold: 0 }, { threshold: 1.01 }, { threshold: Number.NaN }, { eligible: [] }, { eligible: [b.peerId, a.peerId].sort().reverse() },
      { eligible: [a.peerId, a.peerId] }, { eligible: ['not a peer id!'] }, { deadlineMs: now }, { deadlineMs: now + 8 * 24 * 3_600_000 },
      { subject: 'not json' }, { subject: `"${'x'.repeat(2000)}"` }
    ]
    for (const change of bad) expect(reason(() => openProposal(network, signProposal(network, fields(change), a.key), now))).toBe('invalid')
    const wire = signProposal(network, fields(), a.key)
    expect(reason(() => openProposal(network, { ...wire, signature: wire.signature.subarray(0, 63) as Uint8Array<ArrayBuffer> }, now))).toBe('invalid')
    expect(reason(() => openProposal(network, { ...wire, deadlineMs: 2n ** 60n }, now))).toBe('invalid')
    expect(reason(() => openProposal(network, wire, now - 10 * 60_000))).toBe('future')
    expect(reason(() => openProposal(network, wire, now + 60_000 + proposalRetainMs + 1))).toBe('stale')
  })
})

describe('votes: signed by the voter', () => {
  it('a signed vote opens; approve, proposal and voter are covered', () => {
    const id = proposalId(network, fields())
    const wire = signVote(network, id, b.peerId, true, b.key)
    expect(openVote(network, wire).vote).toMatchObject({ proposal: id, voter: b.peerId, approve: true })
    expect(reason(() => openVote(network, { ...wire, approve: false }))).toBe('bad-signature')
    expect(reason(() => openVote(network, { ...wire, voter: a.peerId }))).toBe('bad-signature')
    expect(reason(() => openVote(network, { ...wire, proposal: 'f'.repeat(64) }))).toBe('bad-signature')
    expect(reason(() => openVote('other', wire))).toBe('bad-signature')
    expect(reason(() => openVote(network, { ...wire, proposal: 'not-hex' }))).toBe('invalid')
    expect(reason(() => openVote(network, { ...wire, voter: 'bad voter' }))).toBe('invalid')
    expect(reason(() => openVote(network, { ...wire, signature: new Uint8Array(10) }))).toBe('invalid')
    // deterministic signatures: the same vote signed twice is the same bytes (not equivocation)
    expect(signVote(network, id, b.peerId, true, b.key).signature).toEqual(wire.signature)
  })
})

describe('wire messages: bounded decode', () => {
  it('gossip: exactly one of proposal / vote, bounded size, garbage refused', () => {
    const vote = signVote(network, proposalId(network, fields()), b.peerId, true, b.key)
    expect(decodeGossip(encodeGossip({ vote }))).toEqual({ vote })
    expect(reason(() => decodeGossip(new Uint8Array(gossipBytesMax + 1)))).toBe('oversize')
    expect(reason(() => decodeGossip(new Uint8Array([0xff, 0xff, 0xff])))).toBe('undecodable')
    expect(reason(() => decodeGossip(VotesGossip.encode({})))).toBe('invalid')
    expect(reason(() => decodeGossip(VotesGossip.encode({ vote, proposal: signProposal(network, fields(), a.key) })))).toBe('invalid')
  })

  it('random bytes and mutated messages never get past decode or verification (fast-check)', () => {
    const vote = encodeGossip({ vote: signVote(network, proposalId(network, fields()), b.peerId, true, b.key) })
    const proposal = encodeGossip({ proposal: signProposal(network, fields(), a.key) })
    const open = (bytes: Uint8Array): string => reason(() => {
      const decoded = decodeGossip(bytes)
      return 'vote' in decoded ? openVote(network, decoded.vote) : openProposal(network, decoded.proposal, now)
    })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), bytes => {
      expect(['undecodable', 'invalid', 'bad-signature']).toContain(open(bytes))
    }), { numRuns: 500 })
    // any single flipped byte of a valid message: refused (or, if it only touched protobuf framing
    // in a way that decodes to the same fields, the same accepted value)
    for (const message of [vote, proposal]) {
      fc.assert(fc.property(fc.nat({ max: message.byteLength - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const copy = new Uint8Array(message)
        copy[at] = (copy[at] as number) ^ xor
        const outcome = open(copy)
        // the signature covers the fields, not the bytes: a flip protons reads past (a tag's wire type)
        // may decode to the very same message, which is then rightly accepted
        if (outcome === 'accepted') expect(decodeGossip(copy)).toEqual(decodeGossip(message))
        else expect(['undecodable', 'invalid', 'bad-signature', 'future', 'stale']).toContain(outcome)
      }), { numRuns: 300 })
    }
  })

  it('anti-entropy requests and responses: ids, hashes and items checked', () => {
    const proposal = signProposal(network, fields(), a.key)
    expect(checkRequest({ digest: [{ id: 'a'.repeat(64), hash: new Uint8Array(32) }], items: [] })).toBeNull()
    expect(checkRequest({ digest: [{ id: 'xyz', hash: new Uint8Array(32) }], items: [] })).toMatch(/64 hex/)
    expect(checkRequest({ digest: [{ id: 'a'.repeat(64), hash: new Uint8Array(31) }], items: [] })).toMatch(/32 bytes/)
    expect(checkRequest({ digest: [{ id: 'a'.repeat(64), hash: new Uint8Array(32) }], items: [{ proposal, votes: [] }] })).toMatch(/not both/)
    expect(checkRequest({ digest: [], items: [{ votes: [] }] })).toMatch(/no proposal/)
    expect(checkResponse({ items: [], want: ['nope'] })).toMatch(/64 hex/)
    expect(checkResponse({ items: [{ proposal, votes: [] }], want: ['b'.repeat(64)] })).toBeNull()
  })
})

describe('the runtime: equivocation, anti-entropy, persistence', () => {
  const dirs: string[] = []
  afterEach(() => { for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true }) })

  const pubsub = (): GossipPubsub & { sent: Uint8Array[] } => {
    const sent: Uint8Array[] = []
    return { sent, topicValidators: new Map(), subscribe: () => {}, unsubscribe: () => {}, publish: async (_topic, data) => { sent.push(data) } }
  }
  const runtime = (self: Member, options: { dataDir?: string | null, clock?: { now: number }, onRejected?: (peer: string, reason: string) => void } = {}): GossipVotesRuntime => {
    const clock = options.clock ?? { now }
    return new GossipVotesRuntime({
      network,
      self: self.peerId,
      privateKey: self.privateKey,
      dataDir: options.dataDir ?? null,
      pubsub: pubsub(),
      wire: { setHandlers: () => {} } as unknown as VotesProtocol,
      aliveMembers: () => [a.peerId, b.peerId, m.peerId],
      connectedPeers: () => [],
      onConnect: () => () => {},
      onRejected: options.onRejected,
      now: () => clock.now
    })
  }
  const gossip = (node: GossipVotesRuntime, message: Parameters<typeof encodeGossip>[0]): TopicValidatorResult => node.validateGossip({ data: encodeGossip(message) })

  it('two different signed votes of one member: evidence, counted as none; the same on another node after anti-entropy', async () => {
    const alpha = runtime(a)
    const beta = runtime(b)
    const made = await alpha.propose({ plan: 1 }, 2 / 3, 60_000)
    expect(made.needed).toBe(2)
    // alpha approves through its API; the malicious member signs both ways
    await alpha.vote(made.id, true)
    const yes = signVote(network, made.id, m.peerId, true, m.key)
    const no = signVote(network, made.id, m.peerId, false, m.key)
    expect(gossip(alpha, { vote: yes })).toBe(TopicValidatorResult.Accept)
    expect(alpha.view(made.id)?.status).toBe('approved') // a + m: 2 of 3
    expect(gossip(alpha, { vote: no })).toBe(TopicValidatorResult.Accept)
    const seen = alpha.view(made.id)
    expect(seen).toMatchObject({ status: 'open', approvals: 1, rejections: 0, equivocators: [m.peerId] })
    expect(seen?.evidence).toEqual([{ voter: m.peerId, approveSignature: Buffer.from(yes.signature).toString('base64'), rejectSignature: Buffer.from(no.signature).toString('base64') }])
    expect(alpha.stats.equivocations).toBe(1)

    // beta saw only the approval by gossip: approved there, until anti-entropy brings the conflicting vote
    beta.merge(alpha.items([made.id]).map(item => ({ ...item, votes: item.votes.filter(v => v.voter !== m.peerId) })))
    expect(gossip(beta, { vote: yes })).toBe(TopicValidatorResult.Accept)
    expect(beta.view(made.id)?.status).toBe('approved')
    const { items, want } = beta.compare(alpha.digest())
    expect(want).toEqual([made.id])
    alpha.merge(items)
    beta.merge(alpha.items(want))
    expect(beta.digest()).toEqual(alpha.digest())
    expect(beta.view(made.id)).toEqual(alpha.view(made.id))
    expect(beta.view(made.id)?.equivocators).toEqual([m.peerId])
  })

  it('the digest follows every vote taken (its hashes are cached between votes)', async () => {
    const alpha = runtime(a)
    const made = await alpha.propose('digest', 1, 60_000)
    const before = alpha.digest()
    expect(alpha.digest()).toEqual(before)
    await alpha.vote(made.id, true)
    const afterOwn = alpha.digest()
    expect(afterOwn[0]?.hash).not.toEqual(before[0]?.hash)
    expect(gossip(alpha, { vote: signVote(network, made.id, b.peerId, true, b.key) })).toBe(TopicValidatorResult.Accept)
    expect(alpha.digest()[0]?.hash).not.toEqual(afterOwn[0]?.hash)
    // a vote held before its proposal arrives counts in the digest once the proposal does
    const beta = runtime(b)
    expect(gossip(beta, { vote: signVote(network, made.id, m.peerId, true, m.key) })).toBe(TopicValidatorResult.Accept)
    beta.merge(alpha.items([made.id]))
    expect(beta.view(made.id)?.approvals).toBe(3)
    expect(beta.digest()).not.toEqual(alpha.digest())
    alpha.merge(beta.items([made.id]))
    expect(beta.digest()).toEqual(alpha.digest())
  })

  it('refuses on receipt: a vote of a member not eligible, a forged vote, a forged proposal', async () => {
    const alpha = runtime(a)
    const made = await alpha.propose('x', 1, 60_000)
    expect(gossip(alpha, { vote: signVote(network, made.id, outsider.peerId, true, outsider.key) })).toBe(TopicValidatorResult.Reject)
    expect(gossip(alpha, { vote: { ...signVote(network, made.id, b.peerId, true, b.key), approve: false } })).toBe(TopicValidatorResult.Reject)
    expect(gossip(alpha, { proposal: { ...signProposal(network, fields(), a.key), subject: '"forged"' } })).toBe(TopicValidatorResult.Reject)
    expect(alpha.rejected).toMatchObject({ refused: 1, 'bad-signature': 2 })
    expect(alpha.view(made.id)?.votes).toEqual([])
    // a vote cannot be changed through the node's own API
    await alpha.vote(made.id, false)
    await expect(alpha.vote(made.id, true)).rejects.toThrow(/already voted reject/)
  })

  it('charges the peer that handed over what failed verification (gossip forwarder, anti-entropy partner), never a late or early item', async () => {
    const charged: Array<[string, string]> = []
    const alpha = runtime(a, { onRejected: (peer, reason) => { charged.push([peer, reason]) } })
    const made = await alpha.propose('x', 1, 60_000)
    const forwarder = b.peerId
    expect(alpha.validateGossip({ data: encodeGossip({ vote: { ...signVote(network, made.id, b.peerId, true, b.key), approve: false } }) }, forwarder)).toBe(TopicValidatorResult.Reject)
    expect(alpha.validateGossip({ data: encodeGossip({ vote: signVote(network, made.id, outsider.peerId, true, outsider.key) }) }, forwarder)).toBe(TopicValidatorResult.Reject)
    expect(alpha.validateGossip({ data: new Uint8Array([0xff, 0x01]) }, forwarder)).toBe(TopicValidatorResult.Reject)
    // a vote for a proposal not held yet is not misconduct (gossip reorders): held until it comes, not charged
    expect(alpha.validateGossip({ data: encodeGossip({ vote: signVote(network, 'f'.repeat(64), b.peerId, true, b.key) }) }, forwarder)).toBe(TopicValidatorResult.Accept)
    expect(charged).toEqual([[forwarder, 'bad-signature'], [forwarder, 'refused'], [forwarder, 'undecodable']])
    // by anti-entropy: a tampered proposal from the partner
    charged.length = 0
    alpha.merge([{ proposal: { ...signProposal(network, fields(), m.key), subject: '"tampered"' }, votes: [] }], m.peerId)
    expect(charged).toEqual([[m.peerId, 'bad-signature']])
    // our own items are never charged
    charged.length = 0
    expect(alpha.validateGossip({ data: new Uint8Array([0xff, 0x01]) }, a.peerId)).toBe(TopicValidatorResult.Reject)
    expect(charged).toEqual([])
  })

  it('persisted: back after a restart; a torn last line (kill -9 mid-append) is skipped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'votes-unit-')); dirs.push(dir)
    const first = runtime(a, { dataDir: dir })
    const made = await first.propose({ keep: true }, 0.5, 60_000)
    await first.vote(made.id, true)
    expect(gossip(first, { vote: signVote(network, made.id, b.peerId, false, b.key) })).toBe(TopicValidatorResult.Accept)
    const whole = first.view(made.id)
    appendFileSync(join(dir, votesLogFileName), '{"v":"CkBh')
    const second = runtime(a, { dataDir: dir })
    expect(second.view(made.id)).toEqual(whole)
    expect(second.stats.tornLines).toBe(1)
    // rewritten compact at start: the torn line is gone
    expect(readFileSync(join(dir, votesLogFileName), 'utf8').split('\n').filter(l => l !== '')).toHaveLength(3)
    // a log of garbage: the node starts with nothing
    writeFileSync(join(dir, votesLogFileName), 'garbage\n\u0000\u0001{"p":"!!"}\n')
    const third = runtime(a, { dataDir: dir })
    expect(third.list()).toEqual([])
  })

  it('forgets proposals past their deadline + retention, in memory and in the log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'votes-unit-')); dirs.push(dir)
    const clock = { now }
    const node = runtime(a, { dataDir: dir, clock })
    const made = await node.propose('old', 0.5, 60_000)
    clock.now = now + 60_000 + 1
    node.sweep()
    expect(node.view(made.id)?.status).toBe('expired')
    clock.now = now + 60_000 + proposalRetainMs + 1
    node.sweep()
    expect(node.view(made.id)).toBeUndefined()
    expect(runtime(a, { dataDir: dir, clock }).list()).toEqual([])
    // and it is not taken back from a peer that still holds it
    expect(gossip(node, { proposal: signProposal(network, { ...fields(), proposer: a.peerId, createdMs: now, deadlineMs: now + 60_000 }, a.key) })).toBe(TopicValidatorResult.Ignore)
    expect(node.rejected.stale).toBe(1)
  })
})
