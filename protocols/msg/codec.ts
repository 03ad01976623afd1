/**
 * Peer messages on the wire: seal (encode + sign) and open (decode + validate + verify). Pure apart
 * from the Ed25519 calls; the clock is an argument. Every byte from the network goes through
 * `openMessage`, which throws `MessageRejectedError` with a reason from a fixed set, never anything
 * else.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { MessageContent, MessageEnvelope } from './msg.js'
import {
  msgBodyBytesMax, msgBroadcastRecipient, msgClockSkewMsMax, msgEnvelopeBytesMax, msgIdPattern, msgSignatureDomain
} from './constants.js'

/** Why a message from the network was refused. A bounded set: these are metric labels. */
export type MessageRejectReason =
  | 'oversize' // envelope over the topic/frame bound, or body over 64 KiB
  | 'undecodable' // not a MessageEnvelope / MessageContent
  | 'invalid' // a field out of shape: id, PeerIds, time
  | 'bad-json' // body is not JSON text
  | 'misdirected' // a direct message for another node, or a broadcast not addressed to "all"
  | 'expired' // sender clock more than 10 minutes away from ours
  | 'impersonation' // `from` is not the peer that delivered it (direct) or published it (gossip)
  | 'bad-signature' // the signature does not verify for `from` with this network's domain

export const messageRejectReasons: readonly MessageRejectReason[] = [
  'oversize', 'undecodable', 'invalid', 'bad-json', 'misdirected', 'expired', 'impersonation', 'bad-signature'
]

export class MessageRejectedError extends Error {
  override readonly name = 'MessageRejectedError'
  constructor (readonly reason: MessageRejectReason, message: string) {
    super(message)
  }
}

/** One message, as signed. `body` is JSON text. */
export interface PeerMessage {
  id: string
  from: string
  /** The recipient's PeerId, or "all" for a broadcast. */
  to: string
  /** Sender's wall clock, ms since 1970. */
  timeMs: number
  body: string
}

const textEncoder = new TextEncoder()

/** UTF-8 length of a string without encoding it. */
export function utf8Length (text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) bytes += 1
    else if (code < 0x800) bytes += 2
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { bytes += 4; i++ } else bytes += 3
  }
  return bytes
}

/** A fresh message id: 128 random bits, hex. */
export function newMessageId (): string {
  const bytes = new Uint8Array(16)
  globalThis.crypto.getRandomValues(bytes)
  let hex = ''
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0')
  return hex
}

function reject (reason: MessageRejectReason, message: string): never {
  throw new MessageRejectedError(reason, message)
}

/** The public key behind a PeerId; only Ed25519 identities (key inlined in the id) are accepted. */
export function messagePublicKey (peerId: string): PublicKey {
  let id
  try {
    id = peerIdFromString(peerId)
  } catch {
    return reject('invalid', `not a PeerId: ${JSON.stringify(peerId.slice(0, 80))}`)
  }
  if (id.type !== 'Ed25519' || id.publicKey == null) return reject('invalid', `PeerId ${peerId} is not an Ed25519 identity`)
  return id.publicKey
}

/**
 * Stateless validation (CometBFT's validateBasic): shape, size and JSON of the body. Throws
 * MessageRejectedError.
 */
export function validateMessage (message: PeerMessage): void {
  if (!msgIdPattern.test(message.id)) reject('invalid', `bad message id ${JSON.stringify(message.id.slice(0, 40))}: 32 lower-case hex characters`)
  messagePublicKey(message.from)
  if (message.to !== msgBroadcastRecipient) messagePublicKey(message.to)
  if (!Number.isSafeInteger(message.timeMs) || message.timeMs <= 0) reject('invalid', `bad time ${message.timeMs}`)
  const bytes = utf8Length(message.body)
  if (bytes > msgBodyBytesMax) reject('oversize', `body is ${bytes} bytes; at most ${msgBodyBytesMax}`)
  try {
    JSON.parse(message.body)
  } catch {
    reject('bad-json', 'body is not JSON text')
  }
}

/** The bytes a signature covers: the network's domain, a zero byte, the encoded MessageContent. */
export function messageSigningBytes (network: string, content: Uint8Array): Uint8Array<ArrayBuffer> {
  const domain = textEncoder.encode(msgSignatureDomain(network))
  const out = new Uint8Array(domain.length + 1 + content.length)
  out.set(domain, 0)
  out[domain.length] = 0
  out.set(content, domain.length + 1)
  return out
}

/** Encode and sign a message with the sender's key; `message.from` must be that key's PeerId. */
export async function sealMessage (network: string, privateKey: PrivateKey, message: PeerMessage): Promise<Uint8Array<ArrayBuffer>> {
  validateMessage(message)
  if (!privateKey.publicKey.equals(messagePublicKey(message.from))) {
    throw new RangeError(`message.from ${message.from} is not the PeerId of the signing key`)
  }
  const content = MessageContent.encode({ id: message.id, from: message.from, to: message.to, timeMs: BigInt(message.timeMs), body: message.body })
  const signature = Uint8Array.from(await privateKey.sign(messageSigningBytes(network, content)))
  const bytes = MessageEnvelope.encode({ content, signature })
  if (bytes.length > msgEnvelopeBytesMax) throw new MessageRejectedError('oversize', `envelope is ${bytes.length} bytes, limit ${msgEnvelopeBytesMax}`)
  return bytes
}

export interface OpenExpectations {
  /**
   * The peer that delivered the bytes on a direct stream: must be `from`. Null for a broadcast, which
   * reaches us through any forwarder (gossip carries no publisher signature): its own signature by
   * `from` is the proof.
   */
  sender: string | null
  /** Our PeerId for a direct message, "all" for a broadcast. */
  recipient: string
  /** Our wall clock, ms since 1970. */
  nowMs: number
  /** Envelope bound; defaults to the topic's (64 KiB + 1 KiB). */
  envelopeBytesMax?: number
}

/**
 * Decode, validate and verify a message from the network. Cheap checks first, the signature
 * (~100 µs) last. Throws MessageRejectedError with the reason; never anything else.
 */
export async function openMessage (network: string, bytes: Uint8Array, expect: OpenExpectations): Promise<PeerMessage> {
  const limit = expect.envelopeBytesMax ?? msgEnvelopeBytesMax
  if (bytes.length > limit) reject('oversize', `envelope is ${bytes.length} bytes, limit ${limit}`)
  let envelope: MessageEnvelope
  let content: MessageContent
  try {
    envelope = MessageEnvelope.decode(bytes)
    content = MessageContent.decode(envelope.content)
  } catch (err) {
    return reject('undecodable', `not a message envelope: ${(err as Error).message}`)
  }
  if (content.timeMs > BigInt(Number.MAX_SAFE_INTEGER)) reject('invalid', 'time beyond 2^53')
  const message: PeerMessage = { id: content.id, from: content.from, to: content.to, timeMs: Number(content.timeMs), body: content.body }
  validateMessage(message)
  if (message.to !== expect.recipient) {
    reject('misdirected', expect.recipient === msgBroadcastRecipient
      ? `a broadcast must be addressed to "all", not ${message.to}`
      : `addressed to ${message.to}, not to this node`)
  }
  if (Math.abs(expect.nowMs - message.timeMs) > msgClockSkewMsMax) {
    // a safe integer beyond ±8.64e15 ms is no Date (toISOString throws a RangeError: found by the fuzzer)
    const sent = Math.abs(message.timeMs) <= 8.64e15 ? new Date(message.timeMs).toISOString() : `${message.timeMs} ms since 1970`
    reject('expired', `sent at ${sent}: more than ${msgClockSkewMsMax / 60_000} minutes from our clock`)
  }
  if (expect.sender != null && message.from !== expect.sender) reject('impersonation', `claims to be from ${message.from} but came from ${expect.sender}`)
  let valid = false
  try {
    valid = await messagePublicKey(message.from).verify(messageSigningBytes(network, envelope.content), envelope.signature)
  } catch {
    valid = false
  }
  if (!valid) reject('bad-signature', `signature does not verify for ${message.from}`)
  return message
}
