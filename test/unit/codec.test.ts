/**
 * The signed envelope codec of the membership gossip (protocols/state/codec.ts): round trips, and every
 * rejection with its RecordRejectedError.reason (the reasons are metric labels, so they must be right).
 *
 * Invalid records are built by hand with the protons codecs and carry a real signature over exactly
 * the bytes the codec verifies, so it is the validation, not the signature check, that refuses them.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { openEnvelope, RecordRejectedError, sealRecord, sealVerdict } from '../../protocols/state/codec.js'
import type { NodeRecord, RejectReason, Verdict } from '../../protocols/state/codec.js'
import { Envelope, EnvelopeKind, FailureVerdict, StateRecord, Status } from '../../protocols/state/state.js'
import { capabilitiesCountMax, addressesCountMax, envelopeBytesMax, signatureDomain } from '../../protocols/state/constants.js'

const network = 'testnet'

interface Identity { key: PrivateKey, peerId: string }

async function identity (): Promise<Identity> {
  const key = await generateKeyPair('Ed25519')
  return { key, peerId: peerIdFromPrivateKey(key).toString() }
}

let alice: Identity
let bob: Identity

beforeAll(async () => {
  alice = await identity()
  bob = await identity()
})

function nodeRecord (peerId: string, overrides: Partial<NodeRecord> = {}): NodeRecord {
  return {
    peerId,
    name: 'gpu-worker-17',
    capabilities: ['gpu', 'cuda:12.4', 'region/eu-west'],
    addresses: ['/ip4/10.0.0.7/tcp/4747', '/ip6/::1/tcp/4747'],
    incarnation: 3,
    sequence: 17,
    load: { queued: 2, running: 1, capacity: 4, cpu: 0.25 },
    startedAtMs: 1_700_000_000_000,
    leaving: false,
    ...overrides
  }
}

/** The wire form of nodeRecord(), for hand-built (possibly invalid) envelopes. */
function wireRecord (peerId: string, overrides: Partial<StateRecord> = {}): StateRecord {
  return {
    peerId,
    name: 'gpu-worker-17',
    capabilities: ['gpu'],
    addresses: ['/ip4/10.0.0.7/tcp/4747'],
    incarnation: 3n,
    sequence: 17n,
    load: { queued: 0, running: 0, capacity: 4, cpu: 0.5 },
    startedAtMs: 1_700_000_000_000n,
    status: Status.ALIVE,
    ...overrides
  }
}

/** The bytes the codec signs: "mesh/<network>/membership/v1" || kind byte || body (see protocols/state/state.proto). */
function signedBytes (forNetwork: string, kind: EnvelopeKind, body: Uint8Array): Uint8Array {
  const domain = new TextEncoder().encode(signatureDomain(forNetwork))
  const out = new Uint8Array(domain.length + 1 + body.length)
  out.set(domain, 0)
  out[domain.length] = kind === EnvelopeKind.VERDICT ? 1 : 0
  out.set(body, domain.length + 1)
  return out
}

/** An envelope built by hand, correctly signed by `key` unless told to sign for another kind/network. */
async function handSealed (key: PrivateKey, kind: EnvelopeKind, body: Uint8Array<ArrayBuffer>, signAs: { kind?: EnvelopeKind, network?: string } = {}): Promise<Uint8Array<ArrayBuffer>> {
  const signature = Uint8Array.from(await key.sign(signedBytes(signAs.network ?? network, signAs.kind ?? kind, body)))
  return Envelope.encode({ kind, body, signature })
}

async function handSealedRecord (key: PrivateKey, wire: StateRecord): Promise<Uint8Array<ArrayBuffer>> {
  return handSealed(key, EnvelopeKind.STATE, StateRecord.encode(wire))
}

async function rejection (opening: Promise<unknown>): Promise<RecordRejectedError> {
  try {
    await opening
  } catch (err) {
    expect(err).toBeInstanceOf(RecordRejectedError)
    expect((err as Error).name).toBe('RecordRejectedError')
    return err as RecordRejectedError
  }
  throw new Error('expected a RecordRejectedError, but the envelope was accepted')
}

async function expectRejected (opening: Promise<unknown>, reason: RejectReason): Promise<void> {
  const err = await rejection(opening)
  expect(err.reason, err.message).toBe(reason)
}

describe('round trips', () => {
  it('sealRecord → openEnvelope returns the same record, signer and bytes', async () => {
    const record = nodeRecord(alice.peerId)
    const sealed = await sealRecord(network, alice.key, record)
    const opened = await openEnvelope(network, sealed)
    expect(opened).toEqual({ kind: 'state', signer: alice.peerId, record, bytes: sealed })
  })

  it('with the expected signer given (the gossip sender), and for a leaving record', async () => {
    const record = nodeRecord(alice.peerId, { leaving: true, capabilities: [], addresses: [], sequence: 0 })
    const sealed = await sealRecord(network, alice.key, record)
    const opened = await openEnvelope(network, sealed, alice.peerId)
    expect(opened.kind === 'state' && opened.record).toEqual(record)
  })

  it('sealVerdict → openEnvelope returns the same verdict, signed by the reporter', async () => {
    const verdict: Verdict = { subject: bob.peerId, incarnation: 2, sequence: 40, reporter: alice.peerId }
    const sealed = await sealVerdict(network, alice.key, verdict)
    const opened = await openEnvelope(network, sealed, alice.peerId)
    expect(opened).toEqual({ kind: 'verdict', signer: alice.peerId, verdict, bytes: sealed })
  })

  it('a hand-built envelope signed over the documented bytes opens (the helpers below are faithful)', async () => {
    const sealed = await handSealedRecord(alice.key, wireRecord(alice.peerId))
    const opened = await openEnvelope(network, sealed, alice.peerId)
    expect(opened.kind === 'state' && opened.record).toMatchObject({ peerId: alice.peerId, incarnation: 3, sequence: 17, leaving: false })
  })
})

describe('rejections', () => {
  it('garbage bytes ⇒ undecodable', async () => {
    await expectRejected(openEnvelope(network, new TextEncoder().encode('this is not a protobuf')), 'undecodable')
    await expectRejected(openEnvelope(network, Uint8Array.from([0x12, 0x10, 0x01])), 'undecodable') // body length past the end
    await expectRejected(openEnvelope(network, Uint8Array.from([0x08, 0x07])), 'undecodable') // unknown envelope kind
  })

  it('a body that is not a record ⇒ undecodable', async () => {
    await expectRejected(handSealed(alice.key, EnvelopeKind.STATE, Uint8Array.from([0xff, 0xff, 0xff])).then(async b => openEnvelope(network, b)), 'undecodable')
  })

  it('more than 64 KiB ⇒ oversize, before any decoding', async () => {
    await expectRejected(openEnvelope(network, new Uint8Array(envelopeBytesMax + 1)), 'oversize')
    // At the limit, the same zeros are judged on their content instead.
    const err = await rejection(openEnvelope(network, new Uint8Array(envelopeBytesMax)))
    expect(err.reason).not.toBe('oversize')
  })

  it('a record signed by key A but claiming PeerId B ⇒ bad-signature', async () => {
    const sealed = await sealRecord(network, alice.key, nodeRecord(bob.peerId))
    await expectRejected(openEnvelope(network, sealed), 'bad-signature')
    await expectRejected(openEnvelope(network, sealed, bob.peerId), 'bad-signature')
  })

  it('a verdict signed by key A but naming B as reporter ⇒ bad-signature', async () => {
    const carol = await identity()
    const sealed = await sealVerdict(network, alice.key, { subject: carol.peerId, incarnation: 1, sequence: 1, reporter: bob.peerId })
    await expectRejected(openEnvelope(network, sealed), 'bad-signature')
  })

  it('a tampered body ⇒ bad-signature', async () => {
    const sealed = await sealRecord(network, alice.key, nodeRecord(alice.peerId))
    const envelope = Envelope.decode(sealed)
    const wire = StateRecord.decode(envelope.body)
    const tamperedBody = StateRecord.encode({ ...wire, sequence: wire.sequence + 1n })
    await expectRejected(openEnvelope(network, Envelope.encode({ ...envelope, body: tamperedBody })), 'bad-signature')
  })

  it('a tampered or missing signature ⇒ bad-signature', async () => {
    const sealed = await sealRecord(network, alice.key, nodeRecord(alice.peerId))
    const envelope = Envelope.decode(sealed)
    const flipped = Uint8Array.from(envelope.signature)
    flipped[0] = (flipped[0] as number) ^ 0x01
    await expectRejected(openEnvelope(network, Envelope.encode({ ...envelope, signature: flipped })), 'bad-signature')
    await expectRejected(openEnvelope(network, Envelope.encode({ ...envelope, signature: new Uint8Array(0) })), 'bad-signature')
    await expectRejected(openEnvelope(network, Envelope.encode({ ...envelope, signature: flipped.slice(0, 10) })), 'bad-signature')
  })

  it('expectedSigner different from the record peerId ⇒ sender-mismatch', async () => {
    const sealed = await sealRecord(network, alice.key, nodeRecord(alice.peerId))
    await expectRejected(openEnvelope(network, sealed, bob.peerId), 'sender-mismatch')
    const verdict = await sealVerdict(network, alice.key, { subject: bob.peerId, incarnation: 1, sequence: 0, reporter: alice.peerId })
    await expectRejected(openEnvelope(network, verdict, bob.peerId), 'sender-mismatch')
  })

  it('a signature made for network "a" does not verify on network "b"', async () => {
    const record = await sealRecord('a', alice.key, nodeRecord(alice.peerId))
    expect((await openEnvelope('a', record)).signer).toBe(alice.peerId)
    await expectRejected(openEnvelope('b', record), 'bad-signature')
    const verdict = await sealVerdict('a', alice.key, { subject: bob.peerId, incarnation: 1, sequence: 0, reporter: alice.peerId })
    await expectRejected(openEnvelope('b', verdict), 'bad-signature')
  })

  it('a signature made for one kind does not verify for the other', async () => {
    const body = StateRecord.encode(wireRecord(alice.peerId))
    await expectRejected(handSealed(alice.key, EnvelopeKind.STATE, body, { kind: EnvelopeKind.VERDICT }).then(async b => openEnvelope(network, b)), 'bad-signature')
  })
})

describe('validation: invalid fields ⇒ invalid, although correctly signed', () => {
  const tooManyCapabilities = Array.from({ length: capabilitiesCountMax + 1 }, (_, i) => `cap-${i}`)
  const tooManyAddresses = Array.from({ length: addressesCountMax + 1 }, (_, i) => `/ip4/10.0.0.${i}/tcp/4747`)

  const invalidWire: Array<[string, Partial<StateRecord>]> = [
    ['cpu 1.5', { load: { queued: 0, running: 0, capacity: 4, cpu: 1.5 } }],
    ['negative cpu', { load: { queued: 0, running: 0, capacity: 4, cpu: -0.1 } }],
    ['load counter beyond its maximum', { load: { queued: 2_000_000, running: 0, capacity: 4, cpu: 0 } }],
    ['a capability with a space', { capabilities: ['gpu', 'bad capability'] }],
    ['a capability starting with a dash', { capabilities: ['-gpu'] }],
    ['a capability longer than 64', { capabilities: ['x'.repeat(65)] }],
    ['a bad multiaddr', { addresses: ['/ip4/10.0.0.7/tcp/4747', 'not-a-multiaddr'] }],
    ['too many capabilities', { capabilities: tooManyCapabilities }],
    ['too many addresses', { addresses: tooManyAddresses }],
    ['incarnation 0', { incarnation: 0n }],
    ['a sequence beyond 2^53', { sequence: 2n ** 60n }],
    ['a name longer than 64', { name: 'n'.repeat(65) }]
  ]

  for (const [what, overrides] of invalidWire) {
    it(`${what} ⇒ invalid on open`, async () => {
      const sealed = await handSealedRecord(alice.key, wireRecord(alice.peerId, overrides))
      await expectRejected(openEnvelope(network, sealed, alice.peerId), 'invalid')
    })
  }

  it('a record whose peerId is not a PeerId ⇒ invalid', async () => {
    await expectRejected(handSealedRecord(alice.key, wireRecord('not-a-peer-id')).then(async b => openEnvelope(network, b)), 'invalid')
  })

  it('exactly at the count limits is valid', async () => {
    const sealed = await handSealedRecord(alice.key, wireRecord(alice.peerId, {
      capabilities: tooManyCapabilities.slice(0, capabilitiesCountMax),
      addresses: tooManyAddresses.slice(0, addressesCountMax)
    }))
    const opened = await openEnvelope(network, sealed, alice.peerId)
    expect(opened.kind === 'state' && opened.record.capabilities).toHaveLength(capabilitiesCountMax)
  })

  it('sealRecord refuses to sign the same invalid records', async () => {
    const bad: Array<Partial<NodeRecord>> = [
      { load: { queued: 0, running: 0, capacity: 4, cpu: 1.5 } },
      { capabilities: ['bad capability'] },
      { addresses: ['not-a-multiaddr'] },
      { capabilities: tooManyCapabilities },
      { incarnation: 0 }
    ]
    for (const overrides of bad) {
      const err = await rejection(sealRecord(network, alice.key, nodeRecord(alice.peerId, overrides)))
      expect(err.reason, JSON.stringify(overrides).slice(0, 80)).toBe('invalid')
    }
  })

  it('a verdict about the reporter itself, or at incarnation 0 ⇒ invalid (on seal and on open)', async () => {
    await expectRejected(sealVerdict(network, alice.key, { subject: alice.peerId, incarnation: 1, sequence: 1, reporter: alice.peerId }), 'invalid')
    await expectRejected(sealVerdict(network, alice.key, { subject: bob.peerId, incarnation: 0, sequence: 1, reporter: alice.peerId }), 'invalid')
    const selfVerdict = FailureVerdict.encode({ subject: alice.peerId, incarnation: 1n, sequence: 1n, reporter: alice.peerId })
    await expectRejected(handSealed(alice.key, EnvelopeKind.VERDICT, selfVerdict).then(async b => openEnvelope(network, b)), 'invalid')
    const zeroIncarnation = FailureVerdict.encode({ subject: bob.peerId, incarnation: 0n, sequence: 1n, reporter: alice.peerId })
    await expectRejected(handSealed(alice.key, EnvelopeKind.VERDICT, zeroIncarnation).then(async b => openEnvelope(network, b)), 'invalid')
  })
})
