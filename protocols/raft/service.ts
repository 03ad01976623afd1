/**
 * The Raft transport: the shared frame transport (protocols/shared/frame-transport.ts: one long-lived
 * stream per peer, bounded queue, chunked large frames) on /mesh/<network>/raft/1.0.0. Bytes only: the
 * runtime (src/runtime/consensus/raft.ts) validates (validate.ts) and steps the core.
 */
import { FrameTransport } from '../shared/frame-transport.js'
import type { FrameTransportComponents, FrameTransportInit } from '../shared/frame-transport.js'
import { raftProtocol } from './constants.js'

export interface RaftTransportInit {
  network: string
  onFrame: FrameTransportInit['onFrame']
}

export class RaftTransport extends FrameTransport {
  constructor (components: FrameTransportComponents, init: RaftTransportInit) {
    super(components, { protocol: raftProtocol(init.network), component: 'mesh:raft', onFrame: init.onFrame })
  }
}

export function raftTransport (init: RaftTransportInit): (components: FrameTransportComponents) => RaftTransport {
  return (components) => new RaftTransport(components, init)
}
