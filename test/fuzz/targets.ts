/**
 * What the fuzzer feeds: per protocol, valid seed frames (encoded with the protocol's own codecs and
 * signed with the fuzzing peer's key where the protocol signs), and a decoder-level check that runs the
 * bytes through the same decode + validation the node's handler runs. A check returns the refusal
 * reason (or 'accepted'); it throws only on a bug (an error no validator means to raise).
 */
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { openEnvelope, RecordRejectedError, sealRecord, sealVerdict, signedBytes } from '../../protocols/state/codec.js'
import { Envelope, EnvelopeKind, StateRecord } from '../../protocols/state/state.js'
import { envelopeBytesMax } from '../../protocols/state/constants.js'
import { MembershipTable } from '../../protocols/sync/sync.js'
import { ProbeRequest } from '../../protocols/probe/probe.js'
import { GenesisRequest } from '../../protocols/genesis/genesis.js' // [founding]
import { AuctionRequest, StealRequest } from '../../protocols/tasks/tasks.js'
import { RecordRequest } from '../../protocols/records/records.js'
import { checkRecord } from '../../protocols/records/constants.js'
import { MessageEnvelope } from '../../protocols/msg/msg.js'
import { MessageRejectedError, newMessageId, openMessage, sealMessage } from '../../protocols/msg/codec.js'
import { msgEnvelopeBytesMax, msgFrameBytesMax } from '../../protocols/msg/constants.js'
import { EventualRequest, RequestKind, Writes } from '../../protocols/eventual/eventual.js'
import { entryFromWire, EventualProtocolError } from '../../protocols/eventual/codec.js'
import { VotesRequest } from '../../protocols/votes/votes.js'
import { checkRequest as checkVotesRequest } from '../../protocols/votes/service.js'
import { decodeGossip, encodeGossip, openProposal, openVote, proposalId, signingKey, signProposal, signVote, VoteRejectedError } from '../../protocols/votes/codec.js'
import { Masses } from '../../protocols/aggregate/aggregate.js'
import { toWire, fromWire } from '../../protocols/aggregate/codec.js'
import { validateMessage as validateAggregate } from '../../src/core/gossip/aggregate.js'
import { Frame } from '../../protocols/shared/frame.js'
import { validateManifest } from '../../protocols/shared/chunking.js'
import { pbftChunksPerTransferMax } from '../../protocols/pbft/constants.js'
import { parseJson, validCommitted, validMessage as validRaftMessage, validPropose, validRefused, validSubscribe } from '../../protocols/raft/validate.js'
import { pbftCrypto } from '../../src/runtime/consensus/pbft-crypto.js'
import { canonicalJson, signable } from '../../src/core/pbft/types.js'
import type { Message as PbftMessage } from '../../src/core/pbft/types.js'

/** How a protocol's frames travel. */
export type Carriage = 'request' | 'frames' | 'gossip'

export interface FuzzTarget {
  name: string
  carriage: Carriage
  /** Valid encodings to mutate. */
  seeds: Uint8Array[]
  /** Frames carry JSON bodies (pBFT, Raft). */
  json?: boolean
  /** Decode and validate as the handler does; the refusal reason, or 'accepted'. */
  check: (bytes: Uint8Array) => Promise<string> | string
  /** pBFT protocol frames: sign a mutated JSON body again (so the mutation reaches the replica). */
  resign?: (bytes: Uint8Array) => Promise<Uint8Array | null> | Uint8Array | null
}

export interface TargetContext {
  network: string
  raftNetwork: string
  /** The fuzzing peer's key: a pBFT validator (index 1) of `network`, a Raft member of `raftNetwork`. */
  fuzzKey: PrivateKey
  /** The node under test (pBFT network) and the Raft node. */
  nodePeerId: string
  raftNodePeerId: string
  validators: string[]
}

const te = new TextEncoder()

function decodeOr (fn: () => unknown): string | null {
  try { fn(); return null } catch { return 'undecodable' }
}

export async function buildTargets (ctx: TargetContext): Promise<FuzzTarget[]> {
  const fuzzPeer = peerIdFromPrivateKey(ctx.fuzzKey).toString()
  const now = Date.now()
  const record = await sealRecord(ctx.network, ctx.fuzzKey, {
    peerId: fuzzPeer, name: 'fuzzer', capabilities: ['echo', 'cpu'], addresses: ['/ip4/127.0.0.1/tcp/1'], incarnation: 1, sequence: 1,
    load: { queued: 1, running: 0, capacity: 2, cpu: 0.5 }, startedAtMs: now, leaving: false,
    neighbours: [{ peerId: ctx.nodePeerId, rttMs: 1.5 }]
  })
  const verdict = await sealVerdict(ctx.network, ctx.fuzzKey, { subject: ctx.nodePeerId, incarnation: 1, sequence: 1, reporter: fuzzPeer })
  const stateCheck = async (bytes: Uint8Array): Promise<string> => {
    try {
      await openEnvelope(ctx.network, Uint8Array.from(bytes))
      return 'accepted'
    } catch (err) {
      if (err instanceof RecordRejectedError) return err.reason
      throw err
    }
  }

  // a mutated envelope whose body the fuzzer signs again (its own key, as any peer can): mutations of
  // the record's fields then reach validation and the membership table instead of stopping at the signature
  let sequence = 1
  const resignEnvelope = async (bytes: Uint8Array): Promise<Uint8Array | null> => {
    let envelope: Envelope
    try { envelope = Envelope.decode(bytes) } catch { return null }
    // a record of ours with a new sequence number, so it is not stale and reaches the table
    if (envelope.kind === EnvelopeKind.STATE) {
      try {
        const record = StateRecord.decode(envelope.body)
        if (record.peerId === fuzzPeer) envelope.body = StateRecord.encode({ ...record, sequence: BigInt(++sequence) })
      } catch {}
    }
    const signature = Uint8Array.from(await ctx.fuzzKey.sign(signedBytes(ctx.network, envelope.kind, envelope.body)))
    return Envelope.encode({ kind: envelope.kind, body: envelope.body, signature })
  }

  const msgDirect = await sealMessage(ctx.network, ctx.fuzzKey, { id: newMessageId(), from: fuzzPeer, to: ctx.nodePeerId, timeMs: now, body: '{"hello":"world","n":[1,2,3]}' })
  const msgBroadcast = await sealMessage(ctx.network, ctx.fuzzKey, { id: newMessageId(), from: fuzzPeer, to: 'all', timeMs: now, body: '"hi"' })
  const msgCheck = (recipient: string, max: number) => async (bytes: Uint8Array): Promise<string> => {
    try {
      await openMessage(ctx.network, bytes, { sender: fuzzPeer, recipient, nowMs: Date.now(), envelopeBytesMax: max })
      return 'accepted'
    } catch (err) {
      if (err instanceof MessageRejectedError) return err.reason
      throw err
    }
  }

  const entry = { namespace: 'fuzz', key: 'k1', value: '{"v":1}', wallMs: BigInt(now), logical: 0n, node: fuzzPeer }
  const tomb = { namespace: 'fuzz', key: 'k2', wallMs: BigInt(now), logical: 3n, node: fuzzPeer }

  const key = signingKey(ctx.fuzzKey)
  const fields = { proposer: fuzzPeer, eligible: [...ctx.validators].sort(), threshold: 0.5, deadlineMs: now + 3_600_000, createdMs: now, subject: '{"q":"fuzz?"}' }
  const proposal = signProposal(ctx.network, fields, key)
  const vote = signVote(ctx.network, proposalId(ctx.network, fields), fuzzPeer, true, key)
  const votesCheck = (bytes: Uint8Array): string => {
    let gossip
    try { gossip = decodeGossip(bytes) } catch { return 'undecodable' }
    try {
      if ('proposal' in gossip) openProposal(ctx.network, gossip.proposal, Date.now())
      else openVote(ctx.network, gossip.vote)
      return 'accepted'
    } catch (err) {
      if (err instanceof VoteRejectedError) return err.reason
      throw err
    }
  }

  const masses = Masses.encode(toWire({ epoch: 42, root: fuzzPeer, weight: 0.5, rootMass: 0, numbers: [['load.utilisation', 0.25, 0.5]], capabilities: [['echo', 0.5]], maxima: [['load.queued', 3]] }))

  // pBFT: a STATUS from validator 1 (the fuzzer), a client REQUEST, a SUBSCRIBE, a transport echo and a manifest
  const crypto = pbftCrypto(ctx.network, ctx.validators, ctx.fuzzKey)
  const sign = (message: Record<string, unknown>): Record<string, unknown> => {
    const m = { ...message, signature: '' }
    m.signature = crypto.sign(signable(m as unknown as PbftMessage))
    return m
  }
  const status = sign({ type: 'status', from: 1, view: 0, active: true, lastExecuted: 0, stableSeq: 0, stableDigest: '', checkpointProof: [], wantReply: true })
  const prepare = sign({ type: 'prepare', from: 1, view: 0, seq: 1, digest: 'a'.repeat(64) })
  const viewChange = sign({ type: 'view-change', from: 1, newView: 1, stableSeq: 0, stableDigest: '', checkpointProof: [], prepared: [] })
  const fetchLog = sign({ type: 'fetch-log', from: 1, fromSeq: 0 })
  const request = { client: fuzzPeer, requestId: 1, operation: '{"op":"put","namespace":"a","key":"b","value":"c"}', signature: crypto.signAny(canonicalJson({ client: fuzzPeer, requestId: 1, operation: '{"op":"put","namespace":"a","key":"b","value":"c"}' })) }
  const pbftFrame = (kind: number, body: unknown): Uint8Array => Frame.encode({ kind, body: te.encode(JSON.stringify(body)) })
  const echoBody = new Uint8Array(8)
  const manifestFrame = Frame.encode({ kind: 5, body: new Uint8Array(0), manifest: { transferId: 1n, totalBytes: 2048, chunkBytes: 1024, digests: [new Uint8Array(32), new Uint8Array(32)] } })
  const chunkFrame = Frame.encode({ kind: 6, body: new Uint8Array(0), chunk: { transferId: 1n, index: 0, data: new Uint8Array(1024) } })
  const frameCheck = (bytes: Uint8Array): string => {
    let frame: Frame
    try { frame = Frame.decode(bytes, { limits: { manifest: { digests: pbftChunksPerTransferMax } } }) } catch { return 'undecodable' }
    if (frame.kind === 5) return validateManifest(frame.manifest) ?? 'accepted'
    if (frame.kind === 6) return frame.chunk == null ? 'invalid' : 'accepted'
    if (frame.kind > 8) return 'undecodable'
    try { JSON.parse(new TextDecoder().decode(frame.body)) } catch { return frame.kind === 7 || frame.kind === 8 ? 'accepted' : 'undecodable' }
    return 'accepted'
  }
  const resign = (bytes: Uint8Array): Uint8Array | null => {
    let frame: Frame
    try { frame = Frame.decode(bytes) } catch { return null }
    if (frame.kind !== 0) return null
    let body: unknown
    try { body = JSON.parse(new TextDecoder().decode(frame.body)) } catch { return null }
    if (typeof body !== 'object' || body == null || Array.isArray(body) || (body as { from?: unknown }).from !== 1) return null
    try {
      return pbftFrame(0, sign(body as Record<string, unknown>))
    } catch {
      return null
    }
  }

  // Raft: core messages from the fuzzer (a member) to the Raft node, a PROPOSE, a SUBSCRIBE
  const raftFrom = fuzzPeer
  const raftTo = ctx.raftNodePeerId
  const raftMessages = [
    { type: 'vote', from: raftFrom, to: raftTo, term: 1, preVote: true, lastIndex: 0, lastTerm: 0, transfer: false },
    { type: 'append', from: raftFrom, to: raftTo, term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 1, term: 1, kind: 'noop' }] },
    { type: 'heartbeat', from: raftFrom, to: raftTo, term: 1, commit: 0, readId: 1 },
    { type: 'append-response', from: raftFrom, to: raftTo, term: 1, reject: false, index: 0, hintIndex: 0, hintTerm: 0 },
    { type: 'snapshot', from: raftFrom, to: raftTo, term: 1, snapshotIndex: 1, snapshotTerm: 1, membership: { voters: [raftFrom, raftTo], learners: [] }, offset: 0, chunk: '{}', done: true, size: 2 },
    { type: 'read-index', from: raftFrom, to: raftTo, term: 1, readKey: 'r1' },
    { type: 'forward', from: raftFrom, to: raftTo, term: 1, requests: [{ client: `${raftFrom}/1`, requestId: 1, operation: '{"op":"put","namespace":"a","key":"b","value":"c"}' }] }
  ]
  const raftCheck = (bytes: Uint8Array): string => {
    let frame: Frame
    try { frame = Frame.decode(bytes, { limits: { manifest: { digests: pbftChunksPerTransferMax } } }) } catch { return 'undecodable' }
    const parsed = parseJson(frame.body)
    if (frame.kind >= 5) return 'transport'
    if (parsed === undefined) return 'undecodable'
    const ok = frame.kind === 0
      ? validRaftMessage(parsed, raftFrom, raftTo) != null
      : frame.kind === 1 ? validPropose(parsed, raftFrom) != null
        : frame.kind === 2 ? validSubscribe(parsed) != null
          : frame.kind === 3 ? validCommitted(parsed) != null
            : validRefused(parsed) != null
    return ok ? 'accepted' : 'invalid'
  }

  return [
    {
      name: 'state',
      carriage: 'gossip',
      seeds: [record, verdict],
      check: async bytes => bytes.length > envelopeBytesMax ? 'oversize' : await stateCheck(bytes),
      resign: resignEnvelope
    },
    {
      name: 'sync',
      carriage: 'request',
      seeds: [MembershipTable.encode({ entries: [record, verdict] }), MembershipTable.encode({ entries: [] })],
      check: async bytes => {
        let table
        try { table = MembershipTable.decode(bytes) } catch { return 'undecodable' }
        const reasons = await Promise.all(table.entries.map(async e => await stateCheck(e)))
        return reasons.find(r => r !== 'accepted') ?? 'accepted'
      }
    },
    {
      name: 'probe',
      carriage: 'request',
      seeds: [ProbeRequest.encode({ target: fuzzPeer, timeoutMs: 200 }), ProbeRequest.encode({ target: ctx.validators[2] as string, timeoutMs: 50 })],
      check: bytes => decodeOr(() => ProbeRequest.decode(bytes)) ?? 'accepted'
    },
    { // [founding] /mesh/<network>/genesis/1.0.0 (protocols/genesis/): the node answers its genesis
      name: 'genesis',
      carriage: 'request',
      seeds: [GenesisRequest.encode({ network: ctx.network, candidate: false }), GenesisRequest.encode({ network: 'other', candidate: true })],
      check: bytes => decodeOr(() => GenesisRequest.decode(bytes)) ?? 'accepted'
    },
    {
      name: 'auction',
      carriage: 'request',
      seeds: [
        AuctionRequest.encode({ call: { taskId: 'fuzz-1', capabilities: ['echo'], priority: 5, deadlineMs: 200 }, calls: [], awards: [] }),
        AuctionRequest.encode({ award: { taskId: 'fuzz-1', winner: fuzzPeer, winningScore: 1, yourScore: 0.5 }, calls: [], awards: [] }),
        AuctionRequest.encode({ calls: [{ taskId: 'a', capabilities: [], priority: 0, deadlineMs: 100 }, { taskId: 'b', capabilities: ['cpu'], priority: 9, deadlineMs: 100 }], awards: [{ taskId: 'a', winner: ctx.nodePeerId, winningScore: 0.1, yourScore: 0.1 }] })
      ],
      check: bytes => decodeOr(() => AuctionRequest.decode(bytes)) ?? 'accepted'
    },
    {
      name: 'steal',
      carriage: 'request',
      seeds: [StealRequest.encode({ maxTasks: 2, capabilities: ['echo'] }), StealRequest.encode({ maxTasks: 0, capabilities: [] })],
      check: bytes => decodeOr(() => StealRequest.decode(bytes)) ?? 'accepted'
    },
    {
      name: 'records',
      carriage: 'request',
      seeds: [
        RecordRequest.encode({ store: { key: 'payload:fuzz-1', value: te.encode('{"x":1}'), kind: 'payload' }, stores: [] }),
        RecordRequest.encode({ fetch: { key: 'payload:fuzz-1', presenceOnly: false }, stores: [] }),
        RecordRequest.encode({ stores: [{ key: 'result:fuzz-2', value: te.encode('[1,2]'), kind: 'result' }, { key: 'payload:fuzz-3', value: te.encode('"s"'), kind: 'payload' }] })
      ],
      check: bytes => {
        let request: RecordRequest
        try { request = RecordRequest.decode(bytes) } catch { return 'undecodable' }
        for (const store of [...(request.store != null ? [request.store] : []), ...request.stores]) {
          const problem = checkRecord(store.key, store.kind, store.value)
          if (problem != null) return problem.problem
        }
        return 'accepted'
      }
    },
    {
      name: 'msg',
      carriage: 'request',
      seeds: [msgDirect],
      check: async bytes => bytes.length > msgFrameBytesMax ? 'oversize' : await msgCheck(ctx.nodePeerId, msgFrameBytesMax)(bytes)
    },
    {
      name: 'msg-gossip',
      carriage: 'gossip',
      seeds: [msgBroadcast],
      check: async bytes => await msgCheck('all', msgEnvelopeBytesMax)(bytes)
    },
    {
      name: 'eventual',
      carriage: 'request',
      seeds: [
        EventualRequest.encode({ kind: RequestKind.DIGESTS, digests: [{ namespace: 'fuzz', digest: '0123456789abcdef' }], namespace: '', versions: [], entries: [] }),
        EventualRequest.encode({ kind: RequestKind.VERSIONS, digests: [], namespace: 'fuzz', versions: [{ key: 'k1', wallMs: BigInt(now), logical: 1n, node: fuzzPeer, content: '0123456789abcdef' }], entries: [] }),
        EventualRequest.encode({ kind: RequestKind.PUSH, digests: [], namespace: '', versions: [], entries: [entry, tomb] })
      ],
      check: bytes => {
        let request: EventualRequest
        try { request = EventualRequest.decode(bytes) } catch { return 'undecodable' }
        try { request.entries.map(entryFromWire) } catch (err) { if (err instanceof EventualProtocolError) return 'invalid'; throw err }
        return 'accepted'
      }
    },
    {
      name: 'eventual-gossip',
      carriage: 'gossip',
      seeds: [Writes.encode({ entries: [entry, tomb] })],
      check: bytes => {
        let writes: Writes
        try { writes = Writes.decode(bytes) } catch { return 'undecodable' }
        try { writes.entries.map(entryFromWire) } catch (err) { if (err instanceof EventualProtocolError) return 'invalid'; throw err }
        return 'accepted'
      }
    },
    {
      name: 'votes',
      carriage: 'request',
      seeds: [
        VotesRequest.encode({ digest: [{ id: proposalId(ctx.network, fields), hash: new Uint8Array(32) }], items: [] }),
        VotesRequest.encode({ digest: [], items: [{ proposal, votes: [vote] }] })
      ],
      check: bytes => {
        let request: VotesRequest
        try { request = VotesRequest.decode(bytes) } catch { return 'undecodable' }
        return checkVotesRequest(request) ?? 'accepted'
      }
    },
    {
      name: 'votes-gossip',
      carriage: 'gossip',
      seeds: [encodeGossip({ proposal }), encodeGossip({ vote })],
      check: votesCheck
    },
    {
      name: 'aggregate',
      carriage: 'request',
      seeds: [masses],
      check: bytes => {
        let wire: Masses
        try { wire = Masses.decode(bytes) } catch { return 'undecodable' }
        const checked = validateAggregate(fromWire(wire))
        return typeof checked === 'string' ? checked : 'accepted'
      }
    },
    {
      name: 'pbft',
      carriage: 'frames',
      json: true,
      seeds: [
        pbftFrame(0, status), pbftFrame(0, prepare), pbftFrame(0, viewChange), pbftFrame(0, fetchLog), pbftFrame(1, request), pbftFrame(3, { fromSeq: 0 }),
        pbftFrame(2, { seq: 1, view: 0, from: 1, requestId: 1, client: fuzzPeer, result: '{}', signature: '' }),
        Frame.encode({ kind: 7, body: echoBody }), manifestFrame, chunkFrame
      ],
      check: frameCheck,
      resign
    },
    {
      name: 'raft',
      carriage: 'frames',
      json: true,
      seeds: [
        ...raftMessages.map(m => pbftFrame(0, m)),
        pbftFrame(1, { requests: [{ client: `${raftFrom}/1`, requestId: 1, operation: '{"op":"put","namespace":"a","key":"b","value":"c"}' }] }),
        pbftFrame(2, { from: 0 }),
        pbftFrame(3, { term: 1, leader: raftFrom, commit: 0, entries: [] }),
        pbftFrame(4, { keys: [`${raftFrom}/1`], reason: 'not-leader' })
      ],
      check: raftCheck
    }
  ]
}
