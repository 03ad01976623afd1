/**
 * The pBFT transport: the shared frame transport (protocols/shared/frame-transport.ts: one long-lived
 * stream per peer, bounded queues, chunking of large frames) on /mesh/<network>/pbft/1.0.0, with
 * PbftFrame's kinds. It knows nothing of pBFT itself: the runtime decodes, verifies and steps.
 */
import type { PeerId } from '@libp2p/interface'
import { PbftFrame } from './pbft.js'
import { pbftProtocol } from './constants.js'
import { FrameTransport } from '../shared/frame-transport.js'
import type { FrameTransportComponents, FrameTransportStats } from '../shared/frame-transport.js'

export interface PbftTransportInit {
  network: string
  onFrame: (frame: PbftFrame, from: PeerId) => void
  /** Tests only: a shorter idle timeout for unfinished transfers. @default pbftTransferIdleTimeoutMs */
  transferIdleTimeoutMs?: number
  /** Tests only: a smaller total reassembly bound. @default pbftReassemblyBytesMax */
  reassemblyBytesMax?: number
}

export type PbftTransportComponents = FrameTransportComponents
export type PbftTransportStats = FrameTransportStats

const kindNumbers: Record<PbftFrame.Kind, number> = {
  [PbftFrame.Kind.PROTOCOL]: 0,
  [PbftFrame.Kind.REQUEST]: 1,
  [PbftFrame.Kind.REPLY]: 2,
  [PbftFrame.Kind.SUBSCRIBE]: 3,
  [PbftFrame.Kind.DECISION]: 4
}
const kindsByNumber = new Map(Object.entries(kindNumbers).map(([kind, n]) => [n, kind as PbftFrame.Kind]))

export class PbftTransport extends FrameTransport {
  constructor (components: PbftTransportComponents, init: PbftTransportInit) {
    super(components, {
      protocol: pbftProtocol(init.network),
      component: 'mesh:pbft',
      onFrame: (frame, from) => {
        // an unknown kind (a newer sender) reaches the runtime as a kind it counts as undecodable
        init.onFrame({ kind: kindsByNumber.get(frame.kind) ?? ('UNKNOWN' as PbftFrame.Kind), body: frame.body as Uint8Array<ArrayBuffer> }, from)
      },
      ...(init.transferIdleTimeoutMs != null ? { transferIdleTimeoutMs: init.transferIdleTimeoutMs } : {}),
      ...(init.reassemblyBytesMax != null ? { reassemblyBytesMax: init.reassemblyBytesMax } : {})
    })
  }

  /** Queue a frame for `peer`; never blocks, never throws. */
  send (peer: PeerId, frame: PbftFrame): void {
    this.sendFrame(peer, { kind: kindNumbers[frame.kind], body: frame.body })
  }
}

export function pbftTransport (init: PbftTransportInit): (components: PbftTransportComponents) => PbftTransport {
  return (components) => new PbftTransport(components, init)
}
