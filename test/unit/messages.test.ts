/**
 * Peer messaging without a network: the signed codec (round trip, every rejection reason), the
 * bounded log (drop-oldest, cursor, de-duplication, listeners), `--to` resolution, the send path over
 * a fake wire (ack, timeout, refusal, broadcast) and the POST body checks.
 *
 * Bad messages are built by hand with the protons codecs and carry a real signature over exactly
 * the bytes the codec verifies, so it is the check under test, not the signature, that refuses them.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import {
  MessageRejectedError, messageRejectReasons, messageSigningBytes, newMessageId, openMessage, sealMessage, utf8Length
} from '../../protocols/msg/codec.js'
import type { MessageRejectReason, PeerMessage } from '../../protocols/msg/codec.js'
import { MessageContent, MessageEnvelope } from '../../protocols/msg/msg.js'
import { msgBodyBytesMax, msgClockSkewMsMax, msgEnvelopeBytesMax, msgProtocol, msgTopic } from '../../protocols/msg/constants.js'
import { MessageDeliveryError } from '../../protocols/msg/service.js'
import type { MessageHandlers, MessageVia } from '../../protocols/msg/service.js'
import { entryOverheadBytes, MessageError, MessageLog, Messaging, resolveRecipient } from '../../src/runtime/messages.js'
import type { MessageView, MessagingWire } from '../../src/runtime/messages.js'
import type { MemberView } from '../../src/runtime/mesh-node.js'
import { parseSend } from '../../src/api/message-routes.js'
import { HttpError } from '../../src/api/server.js'

const network = 'testnet'
const nowMs = 1_800_000_000_000

interface Identity { key: PrivateKey, peerId: string }

async function identity (): Promise<Identity> {
  const key = await generateKeyPair('Ed25519')
  return { key, peerId: peerIdFromPrivateKey(key).toString() }
}

let alice: Identity
let bob: Identity
let carol: Identity

beforeAll(async () => {
  alice = await identity()
  bob = await identity()
  carol = await identity()
})

function message (overrides: Partial<PeerMessage> = {}): PeerMessage {
  return { id: newMessageId(), from: alice.peerId, to: bob.peerId, timeMs: nowMs, body: '{"hello":1}', ...overrides }
}

/** Encode and sign any content, valid or not, with `key`: the signature covers exactly these bytes. */
async function rawSeal (key: PrivateKey, content: Partial<MessageContent>, net = network): Promise<Uint8Array> {
  const bytes = MessageContent.encode({ id: '', from: '', to: '', timeMs: 0n, body: '', ...content })
  const signature = Uint8Array.from(await key.sign(messageSigningBytes(net, bytes)))
  return MessageEnvelope.encode({ content: bytes, signature })
}

function contentOf (m: PeerMessage): Partial<MessageContent> {
  return { id: m.id, from: m.from, to: m.to, timeMs: BigInt(m.timeMs), body: m.body }
}

/** Open `bytes` as bob receiving directly from `sender` (default alice); the rejection reason, or null. */
async function reasonOf (bytes: Uint8Array, options: { sender?: string, recipient?: string, now?: number } = {}): Promise<MessageRejectReason | null> {
  try {
    await openMessage(network, bytes, { sender: options.sender ?? alice.peerId, recipient: options.recipient ?? bob.peerId, nowMs: options.now ?? nowMs })
    return null
  } catch (err) {
    expect(err).toBeInstanceOf(MessageRejectedError)
    return (err as MessageRejectedError).reason
  }
}

describe('message codec', () => {
  it('names its protocol and topic after the network', () => {
    expect(msgProtocol('lab')).toBe('/mesh/lab/msg/1.0.0')
    expect(msgTopic('lab')).toBe('/mesh/lab/msg/all/1.0.0')
  })

  it('round-trips a direct message and a broadcast', async () => {
    const direct = message({ body: '{"nested":{"list":[1,2,"ü€😀"]}}' })
    expect(await openMessage(network, await sealMessage(network, alice.key, direct), { sender: alice.peerId, recipient: bob.peerId, nowMs })).toEqual(direct)
    const broadcast = message({ to: 'all', body: '"hi"' })
    expect(await openMessage(network, await sealMessage(network, alice.key, broadcast), { sender: alice.peerId, recipient: 'all', nowMs })).toEqual(broadcast)
  })

  it('accepts a body of exactly 64 KiB and counts UTF-8 bytes, not characters', async () => {
    const body = JSON.stringify('x'.repeat(msgBodyBytesMax - 2))
    expect(utf8Length(body)).toBe(msgBodyBytesMax)
    expect(await reasonOf(await sealMessage(network, alice.key, message({ body })))).toBeNull()
    expect(utf8Length('"€😀"')).toBe(2 + 3 + 4)
  })

  it('refuses to seal for a PeerId that is not the key\'s, or an invalid message', async () => {
    await expect(sealMessage(network, alice.key, message({ from: carol.peerId }))).rejects.toThrow(/not the PeerId of the signing key/)
    await expect(sealMessage(network, alice.key, message({ body: 'nope' }))).rejects.toMatchObject({ reason: 'bad-json' })
    await expect(sealMessage(network, alice.key, message({ body: JSON.stringify('x'.repeat(msgBodyBytesMax)) }))).rejects.toMatchObject({ reason: 'oversize' })
  })

  it('rejects an envelope over the size bound before decoding it: oversize', async () => {
    expect(await reasonOf(new Uint8Array(msgEnvelopeBytesMax + 1).fill(7))).toBe('oversize')
  })

  it('rejects a body over 64 KiB inside a readable envelope: oversize', async () => {
    const m = message({ body: JSON.stringify('x'.repeat(msgBodyBytesMax - 1)) })
    const bytes = await rawSeal(alice.key, contentOf(m))
    expect(bytes.length).toBeLessThanOrEqual(msgEnvelopeBytesMax)
    expect(await reasonOf(bytes)).toBe('oversize')
  })

  it('rejects bytes that are no envelope: undecodable', async () => {
    expect(await reasonOf(new Uint8Array([0xff, 0xfe, 0x01, 0x02, 0x03, 0x99, 0x42]))).toBe('undecodable')
    // an envelope whose content is garbage
    expect(await reasonOf(MessageEnvelope.encode({ content: new Uint8Array([0x0a, 0xff, 0xff, 0xff]), signature: new Uint8Array(64) }))).toBe('undecodable')
  })

  it.each([
    ['a bad id', { id: 'not-hex' }],
    ['an id of the wrong length', { id: 'abcd' }],
    ['a sender that is no PeerId', { from: 'someone' }],
    ['a recipient that is no PeerId', { to: 'bob' }],
    ['a zero time', { timeMs: 0 }]
  ])('rejects %s: invalid', async (_what, overrides) => {
    const m = message(overrides as Partial<PeerMessage>)
    expect(await reasonOf(await rawSeal(alice.key, contentOf(m)), { sender: m.from })).toBe('invalid')
  })

  it('rejects a time beyond 2^53: invalid', async () => {
    expect(await reasonOf(await rawSeal(alice.key, { ...contentOf(message()), timeMs: 2n ** 60n }))).toBe('invalid')
  })

  it('rejects a body that is not JSON text: bad-json', async () => {
    for (const body of ['not json {', '', '{"a":', "{'single': 1}"]) {
      expect(await reasonOf(await rawSeal(alice.key, contentOf(message({ body }))))).toBe('bad-json')
    }
  })

  it('rejects a message for someone else, or a broadcast not addressed to all: misdirected', async () => {
    expect(await reasonOf(await sealMessage(network, alice.key, message({ to: carol.peerId })))).toBe('misdirected')
    expect(await reasonOf(await sealMessage(network, alice.key, message({ to: 'all' })))).toBe('misdirected')
    expect(await reasonOf(await sealMessage(network, alice.key, message()), { recipient: 'all' })).toBe('misdirected')
  })

  it('rejects a message whose sender clock is more than 10 minutes away: expired', async () => {
    const bytes = await sealMessage(network, alice.key, message())
    expect(await reasonOf(bytes, { now: nowMs + msgClockSkewMsMax })).toBeNull()
    expect(await reasonOf(bytes, { now: nowMs + msgClockSkewMsMax + 1 })).toBe('expired')
    expect(await reasonOf(bytes, { now: nowMs - msgClockSkewMsMax - 1 })).toBe('expired')
  })

  it('rejects a message delivered by another peer than its sender: impersonation', async () => {
    // validly signed by alice, relayed (or replayed) by carol
    expect(await reasonOf(await sealMessage(network, alice.key, message()), { sender: carol.peerId })).toBe('impersonation')
  })

  it('rejects forged, tampered and other-network signatures: bad-signature', async () => {
    // carol signs a message that claims to be alice's
    expect(await reasonOf(await rawSeal(carol.key, contentOf(message())))).toBe('bad-signature')
    // alice's message with its body changed after signing (same length, still JSON)
    const sealed = await sealMessage(network, alice.key, message({ body: '{"amount":100}' }))
    const text = Buffer.from(sealed).toString('latin1')
    const tampered = new Uint8Array(Buffer.from(text.replace('{"amount":100}', '{"amount":900}'), 'latin1'))
    expect(tampered).not.toEqual(sealed)
    expect(await reasonOf(tampered)).toBe('bad-signature')
    // a signature made for another network (domain separation)
    expect(await reasonOf(await rawSeal(alice.key, contentOf(message()), 'othernet'))).toBe('bad-signature')
    // no signature at all
    expect(await reasonOf(MessageEnvelope.encode({ content: MessageContent.encode({ ...contentOf(message()) }), signature: new Uint8Array(0) }))).toBe('bad-signature')
  })

  it('has a test above for every rejection reason', () => {
    expect([...messageRejectReasons].sort()).toEqual(['bad-json', 'bad-signature', 'expired', 'impersonation', 'invalid', 'misdirected', 'oversize', 'undecodable'])
  })
})

function entry (n: number, bytes = 10): Parameters<MessageLog['add']>[0] {
  return {
    id: n.toString(16).padStart(32, '0'), direction: 'in', via: 'direct', from: 'a', fromName: null, to: 'b', toName: null,
    time: new Date(nowMs).toISOString(), storedAt: new Date(nowMs).toISOString(), bytes, bodyText: JSON.stringify('x'.repeat(bytes - 2))
  }
}

describe('message log', () => {
  it('gives strictly increasing cursors and lists after a cursor, oldest first, in pages', () => {
    const log = new MessageLog()
    for (let i = 1; i <= 5; i++) expect(log.add(entry(i)).cursor).toBe(i)
    const first = log.list(0, 2)
    expect(first.messages.map(m => m.cursor)).toEqual([1, 2])
    expect(first).toMatchObject({ cursor: 2, latest: 5, oldest: 1, more: true })
    const rest = log.list(first.cursor, 10)
    expect(rest.messages.map(m => m.cursor)).toEqual([3, 4, 5])
    expect(rest).toMatchObject({ cursor: 5, more: false })
    expect(log.list(5, 10)).toMatchObject({ messages: [], cursor: 5 })
    // a cursor from the future (the node restarted) comes back as the latest
    expect(log.list(99, 10).cursor).toBe(5)
    // without a cursor: the newest N
    expect(log.list(null, 2).messages.map(m => m.cursor)).toEqual([4, 5])
    expect(log.list(null, 2).messages[0]?.body).toBe('x'.repeat(8))
  })

  it('drops the oldest beyond the count bound and counts them', () => {
    const log = new MessageLog({ countMax: 3 })
    for (let i = 1; i <= 7; i++) log.add(entry(i))
    expect(log.size).toBe(3)
    expect(log.dropped).toBe(4)
    expect(log.oldest).toBe(5)
    const page = log.list(0, 100)
    expect(page.messages.map(m => m.cursor)).toEqual([5, 6, 7])
    expect(page.oldest).toBe(5)
  })

  it('drops the oldest beyond the byte bound (body bytes + overhead per message)', () => {
    const log = new MessageLog({ bytesMax: 3 * (1000 + entryOverheadBytes) })
    for (let i = 1; i <= 3; i++) log.add(entry(i, 1000))
    expect(log.dropped).toBe(0)
    log.add(entry(4, 1000))
    expect(log.dropped).toBe(1)
    log.add(entry(5, 2000))
    expect(log.list(0, 10).messages.map(m => m.cursor)).toEqual([4, 5])
    expect(log.sizeBytes).toBeLessThanOrEqual(3 * (1000 + entryOverheadBytes))
    expect(log.dropped).toBe(3)
  })

  it('stays bounded over many messages (compaction keeps cursors right)', () => {
    const log = new MessageLog({ countMax: 10 })
    for (let i = 1; i <= 5_000; i++) log.add(entry(i))
    expect(log.size).toBe(10)
    expect(log.dropped).toBe(4_990)
    expect(log.list(4_995, 100).messages.map(m => m.cursor)).toEqual([4_996, 4_997, 4_998, 4_999, 5_000])
  })

  it('de-duplicates by (sender, id) and forgets the oldest pair beyond its bound', () => {
    const log = new MessageLog({ seenMax: 2 })
    expect(log.checkSeen('a', '1')).toBe(false)
    expect(log.checkSeen('a', '1')).toBe(true)
    expect(log.checkSeen('b', '1')).toBe(false) // another sender's id is another message
    expect(log.checkSeen('a', '2')).toBe(false) // evicts (a, 1)
    expect(log.checkSeen('a', '1')).toBe(false)
  })

  it('tells listeners of each message until they unsubscribe; a throwing listener harms no one', () => {
    const log = new MessageLog()
    const seen: number[] = []
    const unsubscribe = log.subscribe(m => { seen.push(m.cursor) })
    const dispose = log.subscribe(() => { throw new Error('boom') })
    log.add(entry(1))
    log.add(entry(2))
    unsubscribe()
    dispose()
    log.add(entry(3))
    expect(seen).toEqual([1, 2])
    expect(log.listenerCount).toBe(0)
  })
})

function member (peerId: string, name: string, overrides: Partial<MemberView> = {}): MemberView {
  // a cast: the membership view grows fields (other features) that name resolution does not read
  return {
    peerId, name, state: 'alive', self: false, incarnation: 1, sequence: 1, lastSeenMs: 0, rttMs: null, connected: true,
    capabilities: [], load: { queued: 0, running: 0, capacity: 1, cpu: 0 }, addresses: [], startedAt: null, ...overrides
  } as MemberView
}

describe('--to resolution', () => {
  const notConnected = (): boolean => false
  let members: MemberView[]
  beforeAll(() => {
    members = [member(alice.peerId, 'alice', { self: true }), member(bob.peerId, 'bob'), member(carol.peerId, 'twin')]
  })

  it('resolves "all", a PeerId and a name', () => {
    expect(resolveRecipient('all', alice.peerId, members, notConnected)).toEqual({ kind: 'all' })
    expect(resolveRecipient(bob.peerId, alice.peerId, members, notConnected)).toEqual({ kind: 'peer', peerId: bob.peerId, name: 'bob' })
    expect(resolveRecipient(' bob ', alice.peerId, members, notConnected)).toEqual({ kind: 'peer', peerId: bob.peerId, name: 'bob' })
  })

  it('refuses an ambiguous name with the candidates, and ignores members that left', async () => {
    const dave = await identity()
    const twins = [...members, member(dave.peerId, 'twin')]
    expect(() => resolveRecipient('twin', alice.peerId, twins, notConnected)).toThrow(MessageError)
    try { resolveRecipient('twin', alice.peerId, twins, notConnected) } catch (err) {
      expect((err as MessageError).status).toBe(400)
      expect((err as MessageError).message).toMatch(/ambiguous/)
      expect((err as MessageError).message).toContain(carol.peerId)
      expect((err as MessageError).message).toContain(dave.peerId)
    }
    const oneLeft = [...members, member(dave.peerId, 'twin', { state: 'left' })]
    expect(resolveRecipient('twin', alice.peerId, oneLeft, notConnected)).toEqual({ kind: 'peer', peerId: carol.peerId, name: 'twin' })
  })

  it('refuses itself (400) and unknown peers (404), but takes a connected non-member PeerId', async () => {
    const status = (to: string, connected: (peerId: string) => boolean = notConnected): number => {
      try { resolveRecipient(to, alice.peerId, members, connected); return 0 } catch (err) { return (err as MessageError).status }
    }
    expect(status(alice.peerId)).toBe(400)
    expect(status('alice')).toBe(400)
    expect(status('')).toBe(400)
    expect(status('nobody')).toBe(404)
    const stranger = await identity()
    expect(status(stranger.peerId)).toBe(404)
    expect(status(stranger.peerId, id => id === stranger.peerId)).toBe(0)
  })
})

/** A wire that records what is sent and answers as told; handlers are captured to play the network. */
class FakeWire implements MessagingWire {
  handlers: MessageHandlers | null = null
  broadcastEnabled = false
  sent: Array<{ peer: string, message: PeerMessage, timeoutMs?: number }> = []
  broadcasts: PeerMessage[] = []
  answer: () => Promise<'accepted' | 'duplicate'> = async () => 'accepted'

  setHandlers (handlers: MessageHandlers | null): void { this.handlers = handlers }
  enableBroadcast (): void { this.broadcastEnabled = true }
  subscribers (): string[] { return this.broadcastEnabled ? ['x', 'y'] : [] }
  async sendDirect (peer: PeerId, message: PeerMessage, timeoutMs?: number): Promise<'accepted' | 'duplicate'> {
    this.sent.push({ peer: peer.toString(), message, timeoutMs })
    return await this.answer()
  }

  async broadcast (message: PeerMessage): Promise<number> {
    this.broadcasts.push(message)
    return 2
  }
}

describe('messaging over a fake wire', () => {
  let wire: FakeWire
  let messaging: Messaging
  beforeAll(() => {
    wire = new FakeWire()
    messaging = new Messaging({
      self: alice.peerId,
      wire,
      pubsub: {} as never,
      members: () => [member(alice.peerId, 'alice', { self: true }), member(bob.peerId, 'bob')],
      isConnected: () => false,
      now: () => nowMs
    })
    messaging.start()
  })

  const statusOf = async (promise: Promise<unknown>): Promise<number> => {
    try { await promise; return 0 } catch (err) { expect(err).toBeInstanceOf(MessageError); return (err as MessageError).status }
  }

  it('installs its handlers and subscribes to broadcasts on start', () => {
    expect(wire.handlers).not.toBeNull()
    expect(wire.broadcastEnabled).toBe(true)
  })

  it('sends a direct message by name, returns after the ack and logs it as sent', async () => {
    const result = await messaging.send('bob', '{"n":1}', 1234)
    expect(result).toMatchObject({ to: bob.peerId, toName: 'bob', delivered: true, duplicate: false, bytes: 7 })
    const sent = wire.sent.at(-1)
    expect(sent?.peer).toBe(bob.peerId)
    expect(sent?.timeoutMs).toBe(1234)
    expect(sent?.message).toMatchObject({ from: alice.peerId, to: bob.peerId, timeMs: nowMs, body: '{"n":1}' })
    const logged = messaging.list(null, 1).messages[0] as MessageView
    expect(logged).toMatchObject({ id: result.id, direction: 'out', via: 'direct', delivered: true, to: bob.peerId, toName: 'bob', body: { n: 1 } })
  })

  it('maps a missing ack to 504 and a refusal or unreachable peer to 502, logging them undelivered', async () => {
    const before = messaging.stats()
    wire.answer = async () => { throw new MessageDeliveryError('timeout', 'the peer did not acknowledge the message in time') }
    expect(await statusOf(messaging.send('bob', '1'))).toBe(504)
    wire.answer = async () => { throw new MessageDeliveryError('rejected', 'the peer rejected the message: bad-signature', 'bad-signature') }
    expect(await statusOf(messaging.send('bob', '2'))).toBe(502)
    wire.answer = async () => { throw new MessageDeliveryError('unreachable', 'no route') }
    expect(await statusOf(messaging.send('bob', '3'))).toBe(502)
    wire.answer = async () => 'accepted'
    const after = messaging.stats()
    expect(after.acksFailed - before.acksFailed).toBe(3)
    expect(after.delivered).toBe(before.delivered)
    expect(after.sent - before.sent).toBe(3)
    expect(messaging.list(null, 1).messages[0]).toMatchObject({ delivered: false, error: 'no route' })
  })

  it('refuses bad input before sending: 413 oversize, 400 not JSON, 404 unknown, 400 self', async () => {
    const count = wire.sent.length
    expect(await statusOf(messaging.send('bob', JSON.stringify('x'.repeat(msgBodyBytesMax))))).toBe(413)
    expect(await statusOf(messaging.send('bob', 'nope'))).toBe(400)
    expect(await statusOf(messaging.send('nobody', '1'))).toBe(404)
    expect(await statusOf(messaging.send('alice', '1'))).toBe(400)
    expect(wire.sent.length).toBe(count)
  })

  it('broadcasts to all and logs it once', async () => {
    const result = await messaging.send('all', '{"event":"deploy"}')
    expect(result).toMatchObject({ to: 'all', broadcast: true, recipients: 2 })
    expect(wire.broadcasts.at(-1)).toMatchObject({ to: 'all', body: '{"event":"deploy"}' })
    expect(messaging.list(null, 1).messages[0]).toMatchObject({ direction: 'out', via: 'broadcast', to: 'all', recipients: 2 })
  })

  it('stores a received message once (a repeat is a duplicate), names its sender, and tells listeners', () => {
    const handlers = wire.handlers as MessageHandlers
    const heard: MessageView[] = []
    const unsubscribe = messaging.subscribe(m => { heard.push(m) })
    const incoming: PeerMessage = { id: newMessageId(), from: bob.peerId, to: alice.peerId, timeMs: nowMs, body: '{"hi":true}' }
    const before = messaging.stats()
    expect(handlers.onMessage(incoming, 'direct')).toBe('accepted')
    expect(handlers.onMessage(incoming, 'direct')).toBe('duplicate')
    expect(handlers.onMessage({ ...incoming, to: 'all' }, 'broadcast' as MessageVia)).toBe('duplicate')
    unsubscribe()
    expect(heard).toHaveLength(1)
    expect(heard[0]).toMatchObject({ direction: 'in', via: 'direct', from: bob.peerId, fromName: 'bob', toName: 'alice', body: { hi: true } })
    const after = messaging.stats()
    expect(after.received - before.received).toBe(1)
    expect(after.receivedDirect - before.receivedDirect).toBe(1)
    expect(after.duplicates - before.duplicates).toBe(2)
  })

  it('counts rejections by reason', () => {
    const handlers = wire.handlers as MessageHandlers
    handlers.onReject('bad-signature', 'direct', carol.peerId)
    handlers.onReject('bad-signature', 'broadcast', carol.peerId)
    handlers.onReject('oversize', 'direct', carol.peerId)
    const stats = messaging.stats()
    expect(stats.rejected['bad-signature']).toBe(2)
    expect(stats.rejected.oversize).toBe(1)
    expect(stats.rejected.expired).toBe(0)
    expect(Object.keys(stats.rejected).sort()).toEqual([...messageRejectReasons].sort())
    expect(stats.inbox.countMax).toBe(1_000)
    expect(stats.inbox.bytesMax).toBe(8 * 1024 * 1024)
    expect(stats.broadcastPeers).toBe(2)
  })

  it('removes its handlers on stop', () => {
    messaging.stop()
    expect(wire.handlers).toBeNull()
  })
})

describe('POST /v1/messages body', () => {
  const statusOf = (body: unknown): number => {
    try { parseSend(body); return 0 } catch (err) { expect(err).toBeInstanceOf(HttpError); return (err as HttpError).code }
  }

  it('takes {to, body, timeoutMs?} and sends the body as JSON text', () => {
    expect(parseSend({ to: 'bob', body: { a: [1, 2] } })).toEqual({ to: 'bob', text: '{"a":[1,2]}', timeoutMs: 5_000 })
    expect(parseSend({ to: 'all', body: null, timeoutMs: 100 })).toEqual({ to: 'all', text: 'null', timeoutMs: 100 })
  })

  it.each([
    ['not an object', 'hello'],
    ['an array', [1]],
    ['no to', { body: 1 }],
    ['an empty to', { to: ' ', body: 1 }],
    ['a numeric to', { to: 5, body: 1 }],
    ['no body', { to: 'bob' }],
    ['an unknown field', { to: 'bob', body: 1, urgent: true }],
    ['a bad timeout', { to: 'bob', body: 1, timeoutMs: 0 }],
    ['a huge timeout', { to: 'bob', body: 1, timeoutMs: 3_600_000 }]
  ])('is a 400 with %s', (_what, body) => {
    expect(statusOf(body)).toBe(400)
  })
})
