/**
 * Anti-entropy: when two nodes connect, the dialer sends its whole membership table (signed state
 * records and failure verdicts) and the listener answers with its own, so a joiner knows every member
 * within one round trip of its first connection. Also run periodically with one random peer: every
 * `syncIntervalMinMs` while exchanges keep teaching us something (a node joining a star through a seed
 * learns the members that join after it within seconds, not after the seed's gossip fan-out reaches it),
 * backing off by doubling to `syncIntervalMs` once tables agree.
 * Entries are verified by the runtime's `onEntries` exactly as gossip is: a table is only a carrier.
 */
import { serviceCapabilities } from '@libp2p/interface'
import type { ComponentLogger, Connection, Logger, PeerId, Startable, Stream, TypedEventTarget, Libp2pEvents } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { MembershipTable } from './sync.js'
import { request, respond } from '../shared/request-response.js'
import { syncEntriesMax, syncEntryBytesMax, syncIntervalMinMs, syncIntervalMs, syncMessageBytesMax, syncProtocol, syncStreamsMax, syncTimeoutMs } from './constants.js'
import { RefusalCounter, streamErrorReason } from '../shared/refusals.js' // [fuzz]

export interface MembershipSyncInit {
  network: string
  /** Our current table: encoded envelopes. */
  getEntries: () => Array<Uint8Array<ArrayBuffer>>
  /** A table received from `from`; entries are still unverified. Resolves to how many were news. */
  onEntries: (entries: Array<Uint8Array<ArrayBuffer>>, from: PeerId) => Promise<number>
  /** Longest pause between periodic exchanges. @default 30000 */
  intervalMs?: number
  /** [reputation] An exchange we started that failed (`timeout`: no answer in time); not for one-way pushes. */
  onFailed?: (peer: PeerId, timeout: boolean) => void
}

export interface MembershipSyncComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

export interface MembershipSyncStats {
  exchanges: number
  failures: number
  oversizeEntries: number
}

const codecs = { request: MembershipTable, response: MembershipTable }
/** Peers remembered as not synced yet (bounded: beyond it they just wait for the random pick). */
const unsyncedMax = 256
/** Periodic retries of a peer whose exchange on connect failed, before it is left to the random pick. */
const unsyncedRetriesMax = 5

export class MembershipSync implements Startable {
  readonly protocol: string
  readonly stats: MembershipSyncStats = { exchanges: 0, failures: 0, oversizeEntries: 0 }
  /** [fuzz] Inbound requests refused, by reason (protocols/shared/refusals.ts). */
  readonly refusals = new RefusalCounter()
  private readonly log: Logger
  private timer?: ReturnType<typeof setTimeout>
  private delayMs = syncIntervalMinMs
  private running = false
  private readonly inFlight = new Set<string>()
  /** Peers connected whose table we have not had yet (the exchange on connect failed or is pending). */
  private readonly unsynced = new Map<string, number>()

  constructor (private readonly components: MembershipSyncComponents, private readonly init: MembershipSyncInit) {
    this.protocol = syncProtocol(init.network)
    this.log = components.logger.forComponent('mesh:sync')
    this.onPeerConnect = this.onPeerConnect.bind(this)
  }

  readonly [Symbol.toStringTag] = 'mesh:sync'
  readonly [serviceCapabilities] = ['mesh:sync']

  async start (): Promise<void> {
    await this.components.registrar.handle(this.protocol, (stream, connection) => { void this.serve(stream, connection) }, {
      maxInboundStreams: syncStreamsMax,
      maxOutboundStreams: syncStreamsMax
    })
    this.components.events.addEventListener('peer:connect', this.onPeerConnect)
    this.running = true
    this.schedule()
  }

  async stop (): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
    this.components.events.removeEventListener('peer:connect', this.onPeerConnect)
    await this.components.registrar.unhandle(this.protocol)
  }

  private onPeerConnect (event: CustomEvent<PeerId>): void {
    const peer = event.detail
    // The dialing side starts the exchange; a simultaneous dial just syncs twice, which is harmless.
    const outbound = this.components.connectionManager.getConnections(peer).some(c => c.direction === 'outbound')
    if (!outbound) return
    if (this.unsynced.size < unsyncedMax) this.unsynced.set(peer.toString(), 0)
    void this.syncWith(peer)
  }

  private schedule (): void {
    if (!this.running) return
    this.timer = setTimeout(() => { void this.periodic() }, this.delayMs)
    this.timer.unref?.()
  }

  private async periodic (): Promise<void> {
    const connections = this.components.connectionManager.getConnections()
    let news = 0
    let failed = false
    if (connections.length > 0) {
      // a peer whose exchange on connect failed (an overloaded seed during a star start) goes first
      const connected = new Set(connections.map(c => c.remotePeer.toString()))
      for (const [key, tries] of this.unsynced) if (!connected.has(key) || tries >= unsyncedRetriesMax) this.unsynced.delete(key)
      const retry = connections.find(c => this.unsynced.has(c.remotePeer.toString()) && !this.inFlight.has(c.remotePeer.toString()))
      if (retry != null) {
        const key = retry.remotePeer.toString()
        this.unsynced.set(key, (this.unsynced.get(key) ?? 0) + 1)
      }
      const connection = retry ?? connections[Math.floor(Math.random() * connections.length)] as Connection
      const failuresBefore = this.stats.failures
      news = await this.syncWith(connection.remotePeer)
      failed = this.stats.failures > failuresBefore
    }
    this.noteNews(news, failed)
    this.schedule()
  }

  /**
   * Fast while exchanges bring news (or fail: the table is still to be had), doubling up to the
   * interval once they agree.
   */
  private noteNews (news: number, failed = false): void {
    const maxMs = this.init.intervalMs ?? syncIntervalMs
    this.delayMs = news > 0 || failed || this.unsynced.size > 0 ? syncIntervalMinMs : Math.min(maxMs, this.delayMs * 2)
  }

  private table (): MembershipTable {
    return { entries: this.init.getEntries().slice(0, syncEntriesMax) }
  }

  private async accept (table: MembershipTable, from: PeerId): Promise<number> {
    const entries = table.entries.filter(entry => entry.length <= syncEntryBytesMax)
    this.stats.oversizeEntries += table.entries.length - entries.length
    return await this.init.onEntries(entries, from)
  }

  /**
   * Exchange tables with `peer` (or push only `entries`, e.g. our leave record). Never throws;
   * failures are counted and logged.
   */
  async syncWith (peer: PeerId, options: { entries?: Array<Uint8Array<ArrayBuffer>>, timeoutMs?: number } = {}): Promise<number> {
    const key = peer.toString()
    if (options.entries == null && this.inFlight.has(key)) return 0
    this.inFlight.add(key)
    try {
      const table = options.entries != null ? { entries: options.entries } : this.table()
      const theirs = await request(this.components.connectionManager, peer, this.protocol, table, codecs, {
        signal: AbortSignal.timeout(options.timeoutMs ?? syncTimeoutMs),
        maxDataLength: syncMessageBytesMax
      })
      this.stats.exchanges++
      this.unsynced.delete(key)
      return await this.accept(theirs, peer)
    } catch (err) {
      this.stats.failures++
      this.log('sync with %p failed: %s', peer, (err as Error).message)
      if (options.entries == null) this.init.onFailed?.(peer, (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError')
      return 0
    } finally {
      this.inFlight.delete(key)
    }
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    await respond(stream, connection, codecs, { timeoutMs: syncTimeoutMs, maxDataLength: syncMessageBytesMax },
      async (theirs, conn) => {
        // Answer with our table as it was before theirs is merged: they already know their own.
        const ours = this.table()
        this.stats.exchanges++
        void this.accept(theirs, conn.remotePeer)
          .then(news => { if (news > 0) this.noteNews(news) })
          .catch(err => { this.log.error('merging table failed: %e', err) })
        return ours
      },
      err => { this.stats.failures++; this.refusals.count(streamErrorReason(err)); this.log('serving sync to %p failed: %s', connection.remotePeer, err.message) })
  }
}

export function membershipSync (init: MembershipSyncInit): (components: MembershipSyncComponents) => MembershipSync {
  return (components) => new MembershipSync(components, init)
}
