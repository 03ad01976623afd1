/** One-line summaries of messages and effects for the event trace. */
import type { Effect, Message } from '../../src/core/pbft/types.js'

export function short (digest: string | undefined): string {
  return typeof digest === 'string' ? digest.slice(0, 6) : String(digest)
}

export function describeMessage (m: Message): string {
  switch (m.type) {
    case 'pre-prepare': return `PRE-PREPARE v${m.view} s${m.seq} ${short(m.digest)} [${m.batch.map(r => `${r.client}#${r.requestId}`).join(' ')}]`
    case 'prepare': return `PREPARE v${m.view} s${m.seq} ${short(m.digest)}`
    case 'commit': return `COMMIT v${m.view} s${m.seq} ${short(m.digest)}`
    case 'checkpoint': return `CHECKPOINT s${m.seq} ${short(m.stateDigest)}`
    case 'view-change': return `VIEW-CHANGE v${m.view} stable=${m.stableSeq} prepared=[${m.prepared.map(c => `s${c.prePrepare.seq}:v${c.prePrepare.view}:${short(c.prePrepare.digest)}`).join(' ')}]`
    case 'new-view': return `NEW-VIEW v${m.view} vcs=[${m.viewChanges.map(vc => vc.from).join(',')}] pps=[${m.prePrepares.map(pp => `s${pp.seq}:${short(pp.digest)}`).join(' ')}]`
    case 'fetch-state': return `FETCH-STATE from=${m.fromSeq}`
    case 'state': return `STATE s${m.seq} ${short(m.stateDigest)}`
    case 'forward': return `FORWARD ${m.request.client}#${m.request.requestId}`
    default: return `? ${(m as { type?: unknown }).type as string}`
  }
}

export function describeEffect (e: Effect): string {
  switch (e.type) {
    case 'persist': return `persist ${e.record.kind}`
    case 'send': return `send→${e.to} ${describeMessage(e.message)}`
    case 'reply': return `reply ${e.request.client}#${e.request.requestId} s${e.seq} = ${e.result}`
    case 'committed': return `COMMITTED s${e.seq} v${e.view} ${short(e.digest)} [${e.batch.map(r => `${r.client}#${r.requestId}`).join(' ')}]`
    case 'stable': return `STABLE s${e.seq} ${short(e.stateDigest)}`
    case 'view': return `VIEW v${e.view} primary=${e.primary} active=${String(e.active)}`
    case 'drop': return `drop ${e.reason}${e.from !== undefined ? ` from ${e.from}` : ''}${e.detail !== undefined ? ` (${e.detail})` : ''}`
  }
}
