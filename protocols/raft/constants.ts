/** Limits of /mesh/<network>/raft/1.0.0, each with its reason. */
export const raftProtocolVersion = '1.0.0'

export function raftProtocol (network: string): string {
  return `/mesh/${network}/raft/${raftProtocolVersion}`
}

/** Frame kinds (raft.proto RaftFrameKind); 5 and 6 belong to the transport (chunking). */
export const raftFrameKind = { message: 0, propose: 1, subscribe: 2, committed: 3, refused: 4 } as const

/**
 * Client operations in one PROPOSE frame: the bundle bound of the application (a node proposes what
 * queued in one event-loop turn, at most this many).
 */
export const raftProposeRequestsMax = 1024

/** Entries in one COMMITTED frame to an observer (it asks again for the rest). */
export const raftCommittedEntriesMax = 512

/** Observers renew their subscription this often; members forget a subscriber after 4 periods. */
export const raftResubscribeMs = 1_000

/** Subscribers (observers) one member serves at once. */
export const raftSubscribersMax = 64

/** Request keys in one REFUSED frame (at most what one PROPOSE carried). */
export const raftRefusedKeysMax = raftProposeRequestsMax

/** A peer id or client id string: a PeerId is ~52 characters; a client id adds "/<incarnation>". */
export const raftIdLengthMax = 128

/** A read key of ReadIndex ("<peerId>/<incarnation>/<n>"). */
export const raftReadKeyLengthMax = 256
