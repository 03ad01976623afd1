import { createPublicKey, verify as verifySignature } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { MaxLengthError } from 'protons-runtime'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { Envelope, EnvelopeKind, FailureVerdict, StateRecord, Status } from './state.js'
import {
  addressLengthMax, addressesCountMax, capabilitiesCountMax, capabilityLengthMax, envelopeBytesMax,
  loadCounterMax, nameLengthMax, neighbourIdLengthMax, neighbourRttMsMax, neighboursCountMax, signatureDomain
} from './constants.js'
import { isZoneLabel, zoneLengthMax } from '../../src/core/zones.js' // [zones]

/** Why a record or verdict from the network was refused. Bounded set: these are metric labels. */
export type RejectReason = 'oversize' | 'undecodable' | 'invalid' | 'bad-signature' | 'sender-mismatch' | 'stale' | 'wrong-kind'

export class RecordRejectedError extends Error {
  override readonly name = 'RecordRejectedError'
  constructor (readonly reason: RejectReason, message: string) {
    super(message)
  }
}

export interface NodeLoad {
  queued: number
  running: number
  capacity: number
  /** CPU utilisation of the host, 0..1 */
  cpu: number
}

/** A member the node holds a connection to, and the round trip it last measured (null: not yet). */
export interface Neighbour {
  peerId: string
  rttMs: number | null
}

/** A node's self-description, as carried in a signed state record. */
export interface NodeRecord {
  peerId: string
  name: string
  capabilities: string[]
  addresses: string[]
  incarnation: number
  sequence: number
  load: NodeLoad
  startedAtMs: number
  leaving: boolean
  /** Its connections (absent in records of nodes that predate the field); ≤ neighboursCountMax. */
  neighbours?: Neighbour[]
  /** [zones] Its zone label (--zone; absent: no zone, as in records of nodes that predate the field). */
  zone?: string
}

export interface Verdict {
  subject: string
  incarnation: number
  sequence: number
  reporter: string
}

export type OpenedEnvelope =
  | { kind: 'state', signer: string, record: NodeRecord, bytes: Uint8Array<ArrayBuffer> }
  | { kind: 'verdict', signer: string, verdict: Verdict, bytes: Uint8Array<ArrayBuffer> }

const capabilityPattern = /^[a-z0-9][a-z0-9._:/-]*$/i
const textEncoder = new TextEncoder()

/** The bytes an envelope's signature covers (exported for the fuzzer, test/fuzz/, which signs mutated bodies). */
export function signedBytes (network: string, kind: EnvelopeKind, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const domain = textEncoder.encode(signatureDomain(network))
  const out = new Uint8Array(domain.length + 1 + body.length)
  out.set(domain, 0)
  out[domain.length] = kind === EnvelopeKind.VERDICT ? 1 : 0
  out.set(body, domain.length + 1)
  return out
}

function toSafeNumber (value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RecordRejectedError('invalid', `${field} ${value} exceeds 2^53`)
  }
  return Number(value)
}

function invalid (message: string): never {
  throw new RecordRejectedError('invalid', message)
}

/**
 * Parsed public keys by PeerId text. Every record names its signer and up to 64 neighbours, and an idle
 * node of a 48-node mesh opens ~16 records a second: parsing each PeerId (base58, multihash, key) every
 * time cost more than the signature check. Only valid Ed25519 ids are cached; bounded, cleared when full.
 */
const publicKeys = new Map<string, { publicKey: PublicKey, keyObject?: KeyObject }>()
const publicKeysMax = 4096
/** DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 raw key bytes follow. */
const ed25519SpkiPrefix = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

function cachedKey (peerId: string): { publicKey: PublicKey, keyObject?: KeyObject } {
  const cached = publicKeys.get(peerId)
  if (cached != null) return cached
  let id
  try {
    id = peerIdFromString(peerId)
  } catch {
    return invalid(`not a PeerId: ${peerId.slice(0, 80)}`)
  }
  if (id.type !== 'Ed25519' || id.publicKey == null) {
    return invalid(`PeerId ${peerId} is not an Ed25519 identity`)
  }
  if (publicKeys.size >= publicKeysMax) publicKeys.clear()
  const entry = { publicKey: id.publicKey }
  publicKeys.set(peerId, entry)
  return entry
}

/** The public key behind a PeerId; only Ed25519 identities (key inlined in the id) are accepted. */
export function publicKeyOf (peerId: string): PublicKey {
  return cachedKey(peerId).publicKey
}

/**
 * Ed25519 verification with a node:crypto KeyObject made once per signer (@libp2p/crypto builds one
 * from a JWK on every call, which cost as much again as the check itself).
 */
function verifyBy (peerId: string, data: Uint8Array, signature: Uint8Array): boolean {
  const entry = cachedKey(peerId)
  if (entry.keyObject == null) {
    const raw = entry.publicKey.raw
    const der = new Uint8Array(ed25519SpkiPrefix.length + raw.length)
    der.set(ed25519SpkiPrefix, 0)
    der.set(raw, ed25519SpkiPrefix.length)
    entry.keyObject = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' })
  }
  if (signature.length !== 64) return false
  return verifySignature(null, data, entry.keyObject, signature)
}

/** Stateless validation of a record (CometBFT's validateBasic): shape and bounds only. */
/** The largest time a Date holds (ms since 1970): a record's start time must be one. */
const startedAtMsMax = 8.64e15

export function validateRecord (record: NodeRecord): void {
  publicKeyOf(record.peerId)
  if (record.name.length > nameLengthMax) invalid(`name longer than ${nameLengthMax}`)
  if (record.capabilities.length > capabilitiesCountMax) invalid(`more than ${capabilitiesCountMax} capabilities`)
  for (const capability of record.capabilities) {
    if (capability.length > capabilityLengthMax || !capabilityPattern.test(capability)) {
      invalid(`bad capability ${JSON.stringify(capability.slice(0, 80))}`)
    }
  }
  if (record.addresses.length > addressesCountMax) invalid(`more than ${addressesCountMax} addresses`)
  for (const address of record.addresses) {
    if (address.length > addressLengthMax) invalid('address too long')
    try {
      multiaddr(address)
    } catch {
      invalid(`bad multiaddr ${JSON.stringify(address.slice(0, 80))}`)
    }
  }
  const { queued, running, capacity, cpu } = record.load
  for (const [field, value] of [['queued', queued], ['running', running], ['capacity', capacity]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > loadCounterMax) invalid(`load.${field} out of range`)
  }
  if (!Number.isFinite(cpu) || cpu < 0 || cpu > 1) invalid('load.cpu outside 0..1')
  if (record.incarnation < 1) invalid('incarnation must be ≥ 1')
  // shown as a date (status, members, topology): beyond ±8.64e15 ms there is no Date, and toISOString
  // threw in every status() call once such a record (any peer can sign one of its own) was stored
  if (!Number.isSafeInteger(record.startedAtMs) || record.startedAtMs < 0 || record.startedAtMs > startedAtMsMax) invalid('startedAtMs outside the dates a clock can show')
  if (record.neighbours != null) {
    if (record.neighbours.length > neighboursCountMax) invalid(`more than ${neighboursCountMax} neighbours`)
    const seen = new Set<string>()
    for (const neighbour of record.neighbours) {
      // an Ed25519 PeerId is 52 characters; bound it before base58-decoding (quadratic in the length)
      if (neighbour.peerId.length > neighbourIdLengthMax) invalid(`a neighbour PeerId longer than ${neighbourIdLengthMax}`)
      if (neighbour.peerId === record.peerId) invalid('a node cannot be its own neighbour')
      if (seen.has(neighbour.peerId)) invalid('a neighbour is listed twice')
      seen.add(neighbour.peerId)
      publicKeyOf(neighbour.peerId)
      const rtt = neighbour.rttMs
      if (rtt != null && (!Number.isFinite(rtt) || rtt < 0 || rtt > neighbourRttMsMax)) invalid(`neighbour RTT outside 0..${neighbourRttMsMax} ms`)
    }
  }
  // [zones] 1-32 of a-z 0-9 - (as --zone accepts); an empty string on the wire is refused too
  if (record.zone != null && !isZoneLabel(record.zone)) invalid(`bad zone ${JSON.stringify(String(record.zone).slice(0, zoneLengthMax + 8))}`)
}

export function validateVerdict (verdict: Verdict): void {
  publicKeyOf(verdict.subject)
  publicKeyOf(verdict.reporter)
  if (verdict.subject === verdict.reporter) invalid('a node cannot declare itself failed')
  if (verdict.incarnation < 1) invalid('incarnation must be ≥ 1')
}

function recordToWire (record: NodeRecord): StateRecord {
  return {
    peerId: record.peerId,
    name: record.name,
    capabilities: record.capabilities,
    addresses: record.addresses,
    incarnation: BigInt(record.incarnation),
    sequence: BigInt(record.sequence),
    load: { ...record.load },
    startedAtMs: BigInt(record.startedAtMs),
    status: record.leaving ? Status.LEAVING : Status.ALIVE,
    neighbours: record.neighbours == null
      ? undefined
      : { peers: record.neighbours.map(n => n.rttMs == null ? { peerId: n.peerId } : { peerId: n.peerId, rttMs: n.rttMs }) },
    ...(record.zone != null ? { zone: record.zone } : {}) // [zones]
  }
}

function recordFromWire (wire: StateRecord): NodeRecord {
  return {
    peerId: wire.peerId,
    name: wire.name,
    capabilities: wire.capabilities,
    addresses: wire.addresses,
    incarnation: toSafeNumber(wire.incarnation, 'incarnation'),
    sequence: toSafeNumber(wire.sequence, 'sequence'),
    load: wire.load ?? { queued: 0, running: 0, capacity: 0, cpu: 0 },
    startedAtMs: toSafeNumber(wire.startedAtMs, 'startedAtMs'),
    leaving: wire.status === Status.LEAVING,
    neighbours: wire.neighbours?.peers.map(n => ({ peerId: n.peerId, rttMs: n.rttMs ?? null })),
    ...(wire.zone != null ? { zone: wire.zone } : {}) // [zones]
  }
}

async function seal (network: string, privateKey: PrivateKey, kind: EnvelopeKind, body: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const signature = Uint8Array.from(await privateKey.sign(signedBytes(network, kind, body)))
  const bytes = Envelope.encode({ kind, body, signature })
  if (bytes.length > envelopeBytesMax) {
    throw new RecordRejectedError('oversize', `envelope is ${bytes.length} bytes, limit ${envelopeBytesMax}`)
  }
  return bytes
}

/** Sign a state record with the node's own key. The record's peerId must be the key's. */
export async function sealRecord (network: string, privateKey: PrivateKey, record: NodeRecord): Promise<Uint8Array<ArrayBuffer>> {
  validateRecord(record)
  return seal(network, privateKey, EnvelopeKind.STATE, StateRecord.encode(recordToWire(record)))
}

export async function sealVerdict (network: string, privateKey: PrivateKey, verdict: Verdict): Promise<Uint8Array<ArrayBuffer>> {
  validateVerdict(verdict)
  return seal(network, privateKey, EnvelopeKind.VERDICT, FailureVerdict.encode({
    subject: verdict.subject,
    incarnation: BigInt(verdict.incarnation),
    sequence: BigInt(verdict.sequence),
    reporter: verdict.reporter
  }))
}

/**
 * Decode, validate and verify an envelope from the network. Throws RecordRejectedError with the
 * reason; never anything else. `expectedSigner`, when given (the gossip `from`), must sign it.
 * `precheck` runs after decoding and validation but before the signature check (~100 µs).
 */
export async function openEnvelope (network: string, bytes: Uint8Array<ArrayBuffer>, expectedSigner?: string, precheck?: (opened: OpenedEnvelope) => RejectReason | null): Promise<OpenedEnvelope> {
  if (bytes.length > envelopeBytesMax) {
    throw new RecordRejectedError('oversize', `envelope is ${bytes.length} bytes, limit ${envelopeBytesMax}`)
  }
  let envelope: Envelope
  let opened: OpenedEnvelope
  try {
    envelope = Envelope.decode(bytes)
    if (envelope.kind === EnvelopeKind.STATE) {
      const wire = StateRecord.decode(envelope.body, { limits: { capabilities: capabilitiesCountMax, addresses: addressesCountMax, neighbours: { peers: neighboursCountMax } } })
      opened = { kind: 'state', signer: wire.peerId, record: recordFromWire(wire), bytes }
    } else if (envelope.kind === EnvelopeKind.VERDICT) {
      const wire = FailureVerdict.decode(envelope.body)
      opened = {
        kind: 'verdict',
        signer: wire.reporter,
        verdict: {
          subject: wire.subject,
          incarnation: toSafeNumber(wire.incarnation, 'incarnation'),
          sequence: toSafeNumber(wire.sequence, 'sequence'),
          reporter: wire.reporter
        },
        bytes
      }
    } else {
      throw new RecordRejectedError('undecodable', `unknown envelope kind ${String(envelope.kind)}`)
    }
  } catch (err) {
    if (err instanceof RecordRejectedError) throw err
    // The decode limits enforce capabilitiesCountMax/addressesCountMax/neighboursCountMax without building the excess:
    // the bytes are well formed, the record breaks a bound, as in validateRecord.
    if (err instanceof MaxLengthError) throw new RecordRejectedError('invalid', err.message)
    throw new RecordRejectedError('undecodable', `cannot decode envelope: ${(err as Error).message}`)
  }
  if (opened.kind === 'state') validateRecord(opened.record)
  else validateVerdict(opened.verdict)
  if (expectedSigner != null && expectedSigner !== opened.signer) {
    throw new RecordRejectedError('sender-mismatch', `sent by ${expectedSigner} but signed for ${opened.signer}`)
  }
  // Cheap checks against local state (e.g. "not newer than what we have") before the costly signature check.
  const early = precheck?.(opened)
  if (early != null) throw new RecordRejectedError(early, `refused before verification: ${early}`)
  let ok = false
  try {
    ok = verifyBy(opened.signer, signedBytes(network, envelope.kind, envelope.body), envelope.signature)
  } catch {
    ok = false
  }
  if (!ok) throw new RecordRejectedError('bad-signature', `signature does not verify for ${opened.signer}`)
  return opened
}
