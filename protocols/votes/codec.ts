/**
 * Gossip votes on the wire: signing bytes, proposal ids, signing and verification, and the
 * stateless checks of every field (validateBasic) before the core (src/core/gossip/votes.ts) sees a
 * value. A proposal is signed by its proposer and a vote by its voter, each with the Ed25519 key of
 * its PeerId; receivers verify with the public key inside the PeerId, so gossipsub itself need not
 * sign (StrictNoSign).
 *
 * Signing bytes (UTF-8): the domain line, then a JSON array of the fields in a fixed order:
 *   proposal: "mesh/<network>/votes/v1/proposal\n" + JSON [proposer, eligible, threshold, deadlineMs, createdMs, subject]
 *   vote:     "mesh/<network>/votes/v1/vote\n"     + JSON [proposal id, voter, approve]
 * A proposal's id is the hex SHA-256 of its signing bytes. Ed25519 signatures are deterministic: the
 * same vote signed twice is the same bytes, so two different signed votes of one member on one
 * proposal are exactly the equivocation the core counts.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { votesLimits } from '../../src/core/gossip/votes.js'
import type { Proposal, Vote } from '../../src/core/gossip/votes.js'
import { SignedProposal, SignedVote, VotesGossip } from './votes.js'
import {
  clockSkewMaxMs, gossipBytesMax, peerIdPattern, proposalIdPattern, proposalRetainMs, proposalTtlMaxMs, signatureBytes, votesSignatureDomain
} from './constants.js'
import type { VotesRejectReason } from './constants.js'

export class VoteRejectedError extends Error {
  override readonly name = 'VoteRejectedError'
  constructor (readonly reason: VotesRejectReason, message: string) {
    super(message)
  }
}

/** A verified proposal: the core's value plus what the runtime shows and forwards. */
export interface VerifiedProposal {
  proposal: Proposal
  createdMs: number
  wire: SignedProposal
}

export interface VerifiedVote {
  vote: Vote
  wire: SignedVote
}

/** The fields a proposer chooses. */
export interface ProposalFields {
  proposer: string
  eligible: readonly string[]
  threshold: number
  deadlineMs: number
  createdMs: number
  subject: string
}

const keys = new Map<string, KeyObject>()

function base64url (bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url')
}

/** The Ed25519 public key inside a PeerId (cached); throws for any other kind of PeerId. */
function publicKeyOf (peerId: string): KeyObject {
  let key = keys.get(peerId)
  if (key == null) {
    const id = peerIdFromString(peerId)
    if (id.type !== 'Ed25519' || id.publicKey == null) throw new Error(`${peerId} is not an Ed25519 PeerId`)
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: base64url(id.publicKey.raw) }, format: 'jwk' })
    if (keys.size >= 4 * votesLimits.eligibleMax) keys.clear()
    keys.set(peerId, key)
  }
  return key
}

/** A node's signing key (node:crypto form), built once by the runtime. */
export function signingKey (privateKey: PrivateKey): KeyObject {
  if (privateKey.type !== 'Ed25519') throw new Error('gossip votes need an Ed25519 identity')
  const raw = privateKey.raw // 64 bytes: seed || public key
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: base64url(raw.subarray(0, 32)), x: base64url(raw.subarray(32)) }, format: 'jwk' })
}

export function proposalSigningBytes (network: string, p: ProposalFields): Buffer {
  return Buffer.from(votesSignatureDomain(network, 'proposal') + JSON.stringify([p.proposer, p.eligible, p.threshold, p.deadlineMs, p.createdMs, p.subject]))
}

export function voteSigningBytes (network: string, proposal: string, voter: string, approve: boolean): Buffer {
  return Buffer.from(votesSignatureDomain(network, 'vote') + JSON.stringify([proposal, voter, approve]))
}

export function proposalId (network: string, p: ProposalFields): string {
  return createHash('sha256').update(proposalSigningBytes(network, p)).digest('hex')
}

/** Sign a proposal with the proposer's key (the caller checks the fields first: see `checkProposalFields`). */
export function signProposal (network: string, fields: ProposalFields, key: KeyObject): SignedProposal {
  const signature = new Uint8Array(sign(null, proposalSigningBytes(network, fields), key))
  return {
    proposer: fields.proposer,
    eligible: [...fields.eligible],
    threshold: fields.threshold,
    deadlineMs: BigInt(fields.deadlineMs),
    createdMs: BigInt(fields.createdMs),
    subject: fields.subject,
    signature
  }
}

export function signVote (network: string, proposal: string, voter: string, approve: boolean, key: KeyObject): SignedVote {
  return { proposal, voter, approve, signature: new Uint8Array(sign(null, voteSigningBytes(network, proposal, voter, approve), key)) }
}

function safeMs (value: bigint): number | null {
  return value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : null
}

/** Field checks shared by the proposer (before signing) and receivers: the problem, or null. */
export function checkProposalFields (p: ProposalFields): string | null {
  if (!peerIdPattern.test(p.proposer)) return 'proposer is not a PeerId'
  if (p.eligible.length === 0) return 'no eligible member'
  if (p.eligible.length > votesLimits.eligibleMax) return `more than ${votesLimits.eligibleMax} eligible members`
  for (let i = 0; i < p.eligible.length; i++) {
    const member = p.eligible[i] as string
    if (!peerIdPattern.test(member)) return `eligible[${i}] is not a PeerId`
    if (i > 0 && !((p.eligible[i - 1] as string) < member)) return 'eligible members must be sorted and distinct'
  }
  if (!Number.isFinite(p.threshold) || !(p.threshold > 0 && p.threshold <= 1)) return 'threshold must be in (0, 1]'
  if (!Number.isSafeInteger(p.createdMs) || !Number.isSafeInteger(p.deadlineMs) || p.createdMs < 0) return 'times must be whole milliseconds'
  if (p.deadlineMs <= p.createdMs) return 'deadline must come after creation'
  if (p.deadlineMs - p.createdMs > proposalTtlMaxMs) return `lifetime over ${proposalTtlMaxMs} ms`
  if (p.subject.length > votesLimits.subjectLengthMax) return `subject over ${votesLimits.subjectLengthMax} characters`
  try { JSON.parse(p.subject) } catch { return 'subject is not JSON text' }
  return null
}

/**
 * Check and verify a proposal from the network (or the data dir) at wall-clock `nowMs`; throws
 * VoteRejectedError with the reason.
 */
export function openProposal (network: string, wire: SignedProposal, nowMs: number): VerifiedProposal {
  const deadlineMs = safeMs(wire.deadlineMs)
  const createdMs = safeMs(wire.createdMs)
  if (deadlineMs == null || createdMs == null) throw new VoteRejectedError('invalid', 'times out of range')
  const fields: ProposalFields = { proposer: wire.proposer, eligible: wire.eligible, threshold: wire.threshold, deadlineMs, createdMs, subject: wire.subject }
  const problem = checkProposalFields(fields)
  if (problem != null) throw new VoteRejectedError('invalid', problem)
  if (wire.signature.byteLength !== signatureBytes) throw new VoteRejectedError('invalid', `signature is ${wire.signature.byteLength} bytes, not ${signatureBytes}`)
  if (createdMs > nowMs + clockSkewMaxMs) throw new VoteRejectedError('future', `created ${createdMs - nowMs} ms ahead of this node's clock`)
  if (deadlineMs + proposalRetainMs < nowMs) throw new VoteRejectedError('stale', 'deadline passed long ago (forgotten here)')
  if (!verifies(wire.proposer, proposalSigningBytes(network, fields), wire.signature)) throw new VoteRejectedError('bad-signature', `proposal not signed by ${wire.proposer}`)
  const id = proposalId(network, fields)
  return {
    proposal: { id, proposer: wire.proposer, eligible: [...wire.eligible], threshold: wire.threshold, deadlineMs, subject: wire.subject },
    createdMs,
    // the decoder's signature is a view into the whole received buffer (a gossip RPC, or a 64 KiB chunk
    // of an anti-entropy stream): a held proposal (kept an hour past its deadline) would keep all of it
    // alive. Its own 64 bytes instead (the soak's heap snapshots: 41–63 KiB retained per proposal)
    wire: { ...wire, signature: wire.signature.slice() }
  }
}

/** Check and verify a vote from the network (or the data dir); throws VoteRejectedError with the reason. */
export function openVote (network: string, wire: SignedVote): VerifiedVote {
  if (!proposalIdPattern.test(wire.proposal)) throw new VoteRejectedError('invalid', 'proposal id is not 64 hex digits')
  if (!peerIdPattern.test(wire.voter)) throw new VoteRejectedError('invalid', 'voter is not a PeerId')
  if (wire.signature.byteLength !== signatureBytes) throw new VoteRejectedError('invalid', `signature is ${wire.signature.byteLength} bytes, not ${signatureBytes}`)
  if (!verifies(wire.voter, voteSigningBytes(network, wire.proposal, wire.voter, wire.approve), wire.signature)) throw new VoteRejectedError('bad-signature', `vote not signed by ${wire.voter}`)
  return { vote: { proposal: wire.proposal, voter: wire.voter, approve: wire.approve, signature: Buffer.from(wire.signature).toString('base64') }, wire: { ...wire, signature: wire.signature.slice() } }
}

/** A core vote back to its wire form (the core keeps the signature as base64). */
export function voteToWire (vote: Vote): SignedVote {
  return { proposal: vote.proposal, voter: vote.voter, approve: vote.approve, signature: new Uint8Array(Buffer.from(vote.signature, 'base64')) }
}

function verifies (peerId: string, data: Buffer, signature: Uint8Array): boolean {
  try {
    return verify(null, data, publicKeyOf(peerId), signature)
  } catch {
    return false // not an Ed25519 PeerId, or not a PeerId at all
  }
}

/** Decode one gossip message (bounded): exactly one of proposal / vote. Throws VoteRejectedError. */
export function decodeGossip (bytes: Uint8Array): { proposal: SignedProposal } | { vote: SignedVote } {
  if (bytes.byteLength > gossipBytesMax) throw new VoteRejectedError('oversize', `${bytes.byteLength} bytes, at most ${gossipBytesMax}`)
  let message: VotesGossip
  try {
    message = VotesGossip.decode(bytes, { limits: { proposal: { eligible: votesLimits.eligibleMax } } })
  } catch (err) {
    throw new VoteRejectedError('undecodable', (err as Error).message)
  }
  if ((message.proposal == null) === (message.vote == null)) throw new VoteRejectedError('invalid', 'a gossip message carries exactly one of proposal / vote')
  return message.proposal != null ? { proposal: message.proposal } : { vote: message.vote as SignedVote }
}

export function encodeGossip (message: { proposal: SignedProposal } | { vote: SignedVote }): Uint8Array<ArrayBuffer> {
  return VotesGossip.encode(message)
}

/** The vote-set hash of a digest entry: SHA-256 of the sorted base64 signatures, one per line. */
export function voteSetHash (signatures: readonly string[]): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash('sha256').update([...signatures].sort().join('\n')).digest())
}
