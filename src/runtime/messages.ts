/**
 * The node's messages: a bounded log of what it received and sent, with a cursor, live listeners
 * (the SSE stream), de-duplication by (sender, id), name resolution for `--to`, and counters.
 *
 * Bounds and drop policy:
 * - the log holds at most `countMax` messages (1,000) and `bytesMax` (8 MiB: body bytes + 256 per
 *   message); when a new one would exceed either, the OLDEST messages are dropped (counted in
 *   `dropped`). A reader whose cursor is older than the oldest kept message sees a gap: `GET
 *   /v1/messages` reports `oldest` so it can tell. Received and sent messages share the log.
 * - de-duplication remembers the last `seenMax` (16,384) (sender, id) pairs, oldest forgotten first;
 *   the codec refuses messages whose sender clock is more than 10 minutes from ours, so a replay is
 *   caught unless more than 16,384 messages arrived within its 10 minutes.
 * - listeners (SSE clients) are bounded by the HTTP route (see src/api/message-routes.ts).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { messageRejectReasons, newMessageId, utf8Length } from '../../protocols/msg/codec.js'
import type { MessageRejectReason, PeerMessage } from '../../protocols/msg/codec.js'
import { msgAckTimeoutMs, msgBodyBytesMax, msgBroadcastRecipient } from '../../protocols/msg/constants.js'
import { MessageDeliveryError } from '../../protocols/msg/service.js'
import type { BroadcastPubSub, MessageVia, PeerMessaging } from '../../protocols/msg/service.js'
import type { MemberView } from './mesh-node.js'

/** Messages kept in the log (received and sent). */
export const inboxCountMax = 1_000
/** Bytes kept in the log: body bytes plus `entryOverheadBytes` per message. */
export const inboxBytesMax = 8 * 1024 * 1024
/** What one message costs beyond its body (ids, names, times) in the byte bound. */
export const entryOverheadBytes = 256
/** (sender, id) pairs remembered for de-duplication. */
export const seenIdsMax = 16_384

/** One message of the log, as the API shows it. */
export interface MessageView {
  /** Position in this node's log: strictly increasing, starts at 1 with every start of the node. */
  cursor: number
  id: string
  /** 'in': received by this node; 'out': sent by it. */
  direction: 'in' | 'out'
  via: MessageVia
  from: string
  fromName: string | null
  /** The recipient's PeerId, or "all". */
  to: string
  toName: string | null
  /** The sender's clock when it sent the message. */
  time: string
  /** This node's clock when it stored the message. */
  storedAt: string
  /** UTF-8 bytes of the JSON body. */
  bytes: number
  body: unknown
  /** Sent direct messages: whether the recipient acknowledged it. */
  delivered?: boolean
  /** Sent direct messages that were not acknowledged: why. */
  error?: string
  /** Sent broadcasts: peers it was published to directly. */
  recipients?: number
}

interface StoredMessage extends Omit<MessageView, 'body'> {
  bodyText: string
}

export interface MessageStats {
  /** Messages this node sent: direct (acknowledged or not) and broadcasts. */
  sent: number
  sentDirect: number
  sentBroadcast: number
  /** Direct messages the recipient acknowledged (accepted or already had). */
  delivered: number
  /** Direct messages not acknowledged: timeout, unreachable, rejected, busy. */
  acksFailed: number
  /** Messages received and stored (duplicates not counted). */
  received: number
  receivedDirect: number
  receivedBroadcast: number
  /** Verified messages received again (retries, gossip repeats): not stored twice. */
  duplicates: number
  /** Messages dropped from the log to keep it within its bounds (oldest first). */
  dropped: number
  /** Messages refused, by reason. */
  rejected: Record<MessageRejectReason, number>
  /** The log now. */
  inbox: { messages: number, bytes: number, countMax: number, bytesMax: number, cursor: number }
  /** Open live streams (SSE clients). */
  listeners: number
  /** Peers known to subscribe to the broadcast topic (a broadcast goes to them in one hop). */
  broadcastPeers: number
}

export type MessageListener = (message: MessageView) => void

/** A send that cannot go through; `status` is the HTTP answer (400, 404, 413, 502, 504). */
export class MessageError extends Error {
  override readonly name = 'MessageError'
  constructor (readonly status: number, message: string) {
    super(message)
  }
}

export interface InboxLimits {
  countMax: number
  bytesMax: number
  seenMax: number
}

export function viewOf (stored: StoredMessage): MessageView {
  const view: MessageView = {
    cursor: stored.cursor,
    id: stored.id,
    direction: stored.direction,
    via: stored.via,
    from: stored.from,
    fromName: stored.fromName,
    to: stored.to,
    toName: stored.toName,
    time: stored.time,
    storedAt: stored.storedAt,
    bytes: stored.bytes,
    body: JSON.parse(stored.bodyText) as unknown
  }
  if (stored.delivered !== undefined) view.delivered = stored.delivered
  if (stored.error !== undefined) view.error = stored.error
  if (stored.recipients !== undefined) view.recipients = stored.recipients
  return view
}

/** The bounded log, the cursor, de-duplication and listeners; no network. */
export class MessageLog {
  private readonly entries: StoredMessage[] = []
  private head = 0
  private bytes = 0
  private cursor = 0
  private readonly seen = new Set<string>()
  private readonly listeners = new Set<MessageListener>()
  dropped = 0
  readonly limits: InboxLimits

  constructor (limits: Partial<InboxLimits> = {}) {
    this.limits = { countMax: inboxCountMax, bytesMax: inboxBytesMax, seenMax: seenIdsMax, ...limits }
  }

  get size (): number { return this.entries.length - this.head }
  get sizeBytes (): number { return this.bytes }
  get latest (): number { return this.cursor }
  get listenerCount (): number { return this.listeners.size }
  /** Cursor of the oldest message kept (latest + 1 when empty). */
  get oldest (): number { return this.entries[this.head]?.cursor ?? this.cursor + 1 }

  /** Whether (from, id) was seen before; remembers it either way. */
  checkSeen (from: string, id: string): boolean {
    const key = `${from}/${id}`
    if (this.seen.has(key)) return true
    this.seen.add(key)
    if (this.seen.size > this.limits.seenMax) {
      // a Set iterates in insertion order: the first is the oldest
      const oldest = this.seen.values().next().value
      if (oldest !== undefined) this.seen.delete(oldest)
    }
    return false
  }

  /** Append a message (cursor assigned here), drop the oldest beyond the bounds, tell listeners. */
  add (message: Omit<StoredMessage, 'cursor'>): MessageView {
    const stored: StoredMessage = { ...message, cursor: ++this.cursor }
    this.entries.push(stored)
    this.bytes += message.bytes + entryOverheadBytes
    while (this.size > this.limits.countMax || (this.bytes > this.limits.bytesMax && this.size > 1)) {
      const old = this.entries[this.head] as StoredMessage
      this.head++
      this.bytes -= old.bytes + entryOverheadBytes
      this.dropped++
    }
    // compact the array now and then instead of shifting on every drop
    if (this.head > 1024 && this.head > this.entries.length / 2) {
      this.entries.splice(0, this.head)
      this.head = 0
    }
    const view = viewOf(stored)
    for (const listener of [...this.listeners]) {
      try { listener(view) } catch {}
    }
    return view
  }

  /**
   * Messages after `after`, oldest first, at most `limit`; without `after`, the newest `limit`.
   * `cursor` is where to continue from (the last one returned, or `after` when none).
   */
  list (after: number | null, limit: number): { messages: MessageView[], cursor: number, latest: number, oldest: number, more: boolean } {
    const kept = this.entries.slice(this.head)
    let chosen: StoredMessage[]
    let more = false
    if (after == null) {
      chosen = kept.slice(Math.max(0, kept.length - limit))
    } else {
      const start = kept.findIndex(m => m.cursor > after)
      const from = start < 0 ? kept.length : start
      chosen = kept.slice(from, from + limit)
      more = from + limit < kept.length
    }
    const last = chosen[chosen.length - 1]
    const cursor = last != null ? last.cursor : Math.min(after ?? this.cursor, this.cursor)
    return { messages: chosen.map(viewOf), cursor, latest: this.cursor, oldest: this.oldest, more }
  }

  subscribe (listener: MessageListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }
}

/** What the log needs of the wire service (protocols/msg/service.ts); a fake in unit tests. */
export type MessagingWire = Pick<PeerMessaging, 'setHandlers' | 'enableBroadcast' | 'sendDirect' | 'broadcast' | 'subscribers'>

export interface MessagingInit {
  self: string
  wire: MessagingWire
  pubsub: BroadcastPubSub
  /** The membership table (node.status().members), for names and `--to` resolution. */
  members: () => MemberView[]
  /** Whether a (non-member) peer is connected: such a PeerId may still be messaged. */
  isConnected: (peerId: string) => boolean
  /** Wall clock, ms since 1970. */
  now?: () => number
  limits?: Partial<InboxLimits>
  /** [reputation] Each refused message, with who sent it ('unknown' for a broadcast: its forwarder is not known here). */
  onReject?: (reason: MessageRejectReason, via: 'direct' | 'broadcast', from: string) => void
  /** [reputation] A direct message the recipient did not acknowledge: `timeout`, or another failure kind. */
  onDeliveryFailed?: (peer: string, failure: string) => void
}

export type SendResult =
  | { id: string, to: string, toName: string | null, delivered: true, duplicate: boolean, cursor: number, time: string, bytes: number, ackMs: number }
  | { id: string, to: 'all', broadcast: true, recipients: number, cursor: number, time: string, bytes: number }

export type Recipient = { kind: 'all' } | { kind: 'peer', peerId: string, name: string | null }

const emptyRejected = (): Record<MessageRejectReason, number> =>
  Object.fromEntries(messageRejectReasons.map(r => [r, 0])) as Record<MessageRejectReason, number>

/**
 * Resolve `--to`: "all", a member's PeerId, a member's name (exactly one member may carry it), or the
 * PeerId of a connected peer. Throws MessageError 400 (self, ambiguous, empty) or 404 (unknown).
 */
export function resolveRecipient (to: string, self: string, members: MemberView[], isConnected: (peerId: string) => boolean): Recipient {
  const wanted = to.trim()
  if (wanted === '') throw new MessageError(400, '"to" is empty: give a PeerId, a member name, or "all"')
  if (wanted === msgBroadcastRecipient) return { kind: 'all' }
  const byId = members.find(m => m.peerId === wanted)
  const bySelf = wanted === self || (byId?.self ?? false)
  if (bySelf) throw new MessageError(400, `${wanted} is this node itself; send to another member (mesh peers lists them)`)
  if (byId != null) return { kind: 'peer', peerId: byId.peerId, name: byId.name !== '' ? byId.name : null }
  const named = members.filter(m => m.name === wanted && m.state !== 'left')
  if (named.length > 1) {
    throw new MessageError(400, `the name "${wanted.slice(0, 64)}" is ambiguous: ${named.length} members carry it (${named.map(m => `${m.peerId} ${m.state}`).join(', ')}); send to a PeerId instead`)
  }
  const one = named[0]
  if (one != null) {
    if (one.self) throw new MessageError(400, `"${wanted}" is this node itself; send to another member (mesh peers lists them)`)
    return { kind: 'peer', peerId: one.peerId, name: one.name }
  }
  let isPeerId = false
  try { peerIdFromString(wanted); isPeerId = true } catch {}
  if (isPeerId && isConnected(wanted)) return { kind: 'peer', peerId: wanted, name: null }
  throw new MessageError(404, `no member named or with PeerId "${wanted.slice(0, 80)}"; mesh peers lists the members (or use "all")`)
}

/** The node's messaging: ties the wire service to the log, sends, resolves names, counts. */
export class Messaging {
  readonly log: MessageLog
  private readonly counters = {
    sentDirect: 0, sentBroadcast: 0, delivered: 0, acksFailed: 0, receivedDirect: 0, receivedBroadcast: 0, duplicates: 0
  }

  private readonly rejected = emptyRejected()
  private readonly now: () => number

  constructor (private readonly init: MessagingInit) {
    this.log = new MessageLog(init.limits)
    this.now = init.now ?? Date.now
  }

  start (): void {
    this.init.wire.setHandlers({
      onMessage: (message, via) => this.onMessage(message, via),
      onReject: (reason, via, from) => { this.rejected[reason]++; this.init.onReject?.(reason, via, from) }
    })
    this.init.wire.enableBroadcast(this.init.pubsub)
  }

  stop (): void {
    this.init.wire.setHandlers(null)
  }

  private nameOf (peerId: string): string | null {
    const member = this.init.members().find(m => m.peerId === peerId)
    return member != null && member.name !== '' ? member.name : null
  }

  private onMessage (message: PeerMessage, via: MessageVia): 'accepted' | 'duplicate' {
    if (this.log.checkSeen(message.from, message.id)) {
      this.counters.duplicates++
      return 'duplicate'
    }
    if (via === 'direct') this.counters.receivedDirect++
    else this.counters.receivedBroadcast++
    this.log.add({
      id: message.id,
      direction: 'in',
      via,
      from: message.from,
      fromName: this.nameOf(message.from),
      to: message.to,
      toName: message.to === msgBroadcastRecipient ? null : this.nameOf(message.to),
      time: new Date(message.timeMs).toISOString(),
      storedAt: new Date(this.now()).toISOString(),
      bytes: utf8Length(message.body),
      bodyText: message.body
    })
    return 'accepted'
  }

  resolve (to: string): Recipient {
    return resolveRecipient(to, this.init.self, this.init.members(), this.init.isConnected)
  }

  /**
   * Send `bodyText` (JSON text) to `to` (PeerId, name or "all"). Direct: resolves after the ack;
   * throws MessageError 400/404/413 before sending, 504 when no ack came in time, 502 when the peer
   * was unreachable or refused it.
   */
  async send (to: string, bodyText: string, timeoutMs = msgAckTimeoutMs): Promise<SendResult> {
    const bytes = utf8Length(bodyText)
    if (bytes > msgBodyBytesMax) throw new MessageError(413, `body is ${bytes} bytes of JSON; a message carries at most ${msgBodyBytesMax}`)
    try { JSON.parse(bodyText) } catch { throw new MessageError(400, 'body is not JSON text') }
    const recipient = this.resolve(to)
    const timeMs = this.now()
    const message: PeerMessage = {
      id: newMessageId(),
      from: this.init.self,
      to: recipient.kind === 'all' ? msgBroadcastRecipient : recipient.peerId,
      timeMs,
      body: bodyText
    }
    const time = new Date(timeMs).toISOString()
    const base = { id: message.id, direction: 'out' as const, from: this.init.self, fromName: this.nameOf(this.init.self), to: message.to, time, bytes, bodyText }
    // our own message never comes back as news (a broadcast relayed to us, a direct one echoed)
    this.log.checkSeen(message.from, message.id)
    if (recipient.kind === 'all') {
      let recipients: number
      try {
        recipients = await this.init.wire.broadcast(message)
      } catch (err) {
        throw new MessageError(502, `broadcast failed: ${(err as Error).message}`)
      }
      this.counters.sentBroadcast++
      const stored = this.log.add({ ...base, via: 'broadcast', toName: null, storedAt: new Date(this.now()).toISOString(), recipients })
      return { id: message.id, to: 'all', broadcast: true, recipients, cursor: stored.cursor, time, bytes }
    }
    const started = performance.now()
    try {
      const outcome = await this.init.wire.sendDirect(peerIdFromString(recipient.peerId), message, timeoutMs)
      const ackMs = Math.round((performance.now() - started) * 1000) / 1000
      this.counters.sentDirect++
      this.counters.delivered++
      const stored = this.log.add({ ...base, via: 'direct', toName: recipient.name, storedAt: new Date(this.now()).toISOString(), delivered: true })
      return { id: message.id, to: recipient.peerId, toName: recipient.name, delivered: true, duplicate: outcome === 'duplicate', cursor: stored.cursor, time, bytes, ackMs }
    } catch (err) {
      this.counters.sentDirect++
      this.counters.acksFailed++
      if (err instanceof MessageDeliveryError) this.init.onDeliveryFailed?.(recipient.peerId, err.failure)
      const detail = (err as Error).message
      this.log.add({ ...base, via: 'direct', toName: recipient.name, storedAt: new Date(this.now()).toISOString(), delivered: false, error: detail })
      const who = recipient.name != null ? `${recipient.name} (${recipient.peerId})` : recipient.peerId
      if (err instanceof MessageDeliveryError && err.failure === 'timeout') {
        throw new MessageError(504, `message ${message.id} to ${who}: no ack within ${timeoutMs} ms (${detail}); the peer may be overloaded or gone`)
      }
      throw new MessageError(502, `message ${message.id} to ${who} was not delivered: ${detail}`)
    }
  }

  list (after: number | null, limit: number): ReturnType<MessageLog['list']> {
    return this.log.list(after, limit)
  }

  subscribe (listener: MessageListener): () => void {
    return this.log.subscribe(listener)
  }

  /** The newest `limit` messages, both directions, oldest first (the topology page's feed). */
  recent (limit: number): MessageView[] {
    return this.log.list(null, Math.max(0, Math.min(limit, this.log.limits.countMax))).messages
  }

  stats (): MessageStats {
    const c = this.counters
    return {
      sent: c.sentDirect + c.sentBroadcast,
      sentDirect: c.sentDirect,
      sentBroadcast: c.sentBroadcast,
      delivered: c.delivered,
      acksFailed: c.acksFailed,
      received: c.receivedDirect + c.receivedBroadcast,
      receivedDirect: c.receivedDirect,
      receivedBroadcast: c.receivedBroadcast,
      duplicates: c.duplicates,
      dropped: this.log.dropped,
      rejected: { ...this.rejected },
      inbox: { messages: this.log.size, bytes: this.log.sizeBytes, countMax: this.log.limits.countMax, bytesMax: this.log.limits.bytesMax, cursor: this.log.latest },
      listeners: this.log.listenerCount,
      broadcastPeers: this.init.wire.subscribers().length
    }
  }
}
