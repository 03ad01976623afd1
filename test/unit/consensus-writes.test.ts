/**
 * The client side of the pBFT runtime (src/runtime/consensus/pbft.ts) on an observer with a fake transport:
 * a write the node knows cannot commit is refused and never sent; a write that went out and timed out
 * answers with its request id and keeps being retransmitted; a retry by id gets the one result the
 * validators signed, and other ids or operations are refused before anything is sent.
 */
import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { PbftConsensus } from '../../src/runtime/consensus/pbft.js'
import { makeGenesis } from '../../src/runtime/consensus/genesis.js'
import { pbftCrypto } from '../../src/runtime/consensus/pbft-crypto.js'
import { MeshApplication } from '../../src/core/app/application.js'
import { canonicalJson } from '../../src/core/pbft/types.js'
import type { ClientRequest } from '../../src/core/pbft/types.js'
import { PbftFrame } from '../../protocols/pbft/pbft.js'
import type { PbftTransport } from '../../protocols/pbft/service.js'
import { formatRequestId, NoQuorumError, OutcomeUnknownError, parseRequestId, RequestIdError, RequestMismatchError } from '../../src/runtime/consensus/client-request-id.js'
import { sha256Hex } from '../../src/runtime/consensus/pbft-crypto.js'

interface Setup {
  consensus: PbftConsensus
  sent: Array<{ to: string, request: ClientRequest }>
  validatorKeys: PrivateKey[]
  validatorIds: PeerId[]
  self: PrivateKey
  alive: Set<string>
  partitioned: { value: boolean }
}

async function setup (incarnation = 1, self?: PrivateKey): Promise<Setup> {
  const validatorKeys = await Promise.all([0, 1, 2, 3].map(async () => await generateKeyPair('Ed25519')))
  const validatorIds = validatorKeys.map(k => peerIdFromPrivateKey(k))
  const genesis = makeGenesis('unit', validatorIds.map((id, i) => ({ peer_id: id.toString(), name: `v${i}` })))
  const own = self ?? await generateKeyPair('Ed25519')
  const sent: Setup['sent'] = []
  const transport = {
    send: (peer: PeerId, frame: PbftFrame) => {
      if (frame.kind === PbftFrame.Kind.REQUEST) sent.push({ to: peer.toString(), request: JSON.parse(new TextDecoder().decode(frame.body)) as ClientRequest })
    }
  } as unknown as PbftTransport
  const alive = new Set(validatorIds.map(id => id.toString()))
  const partitioned = { value: false }
  const consensus = new PbftConsensus({
    genesis,
    privateKey: own,
    peerId: peerIdFromPrivateKey(own).toString(),
    incarnation,
    app: new MeshApplication(validatorIds.map(id => id.toString()), sha256Hex),
    store: null,
    transport: () => transport,
    isConnected: () => true,
    isAlive: peerId => alive.has(peerId),
    partitioned: () => partitioned.value,
    log: () => {}
  })
  return { consensus, sent, validatorKeys, validatorIds, self: own, alive, partitioned }
}

/** Validator `index` replies `result` at `seq` to `request`, signed with its key. */
function reply (s: Setup, index: number, request: ClientRequest, result: string, seq: number): void {
  const crypto = pbftCrypto('unit', s.validatorIds.map(id => id.toString()), s.validatorKeys[index] as PrivateKey)
  const body = { from: index, client: request.client, requestId: request.requestId, seq, result, signature: '' }
  body.signature = crypto.sign(canonicalJson({ ...body, signature: undefined }))
  s.consensus.onFrame({ kind: PbftFrame.Kind.REPLY, body: new TextEncoder().encode(canonicalJson(body)) }, s.validatorIds[index] as PeerId)
}

async function until (what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise(resolve => setTimeout(resolve, 20))
  if (!check()) throw new Error(`never happened: ${what}`)
}

const put = JSON.stringify({ op: 'put', namespace: 'default', key: 'k', value: 'v' })

describe('consensus client: refusing, timing out, retrying by request id', () => {
  it('refuses at once and sends nothing when membership suspects enough validators, even though all are connected', async () => {
    const s = await setup()
    s.alive.delete(s.validatorIds[1]?.toString() as string)
    s.alive.delete(s.validatorIds[2]?.toString() as string)
    await expect(s.consensus.propose(put)).rejects.toThrow(NoQuorumError)
    await expect(s.consensus.propose(put)).rejects.toThrow(/^read-only: no quorum \(2 of 4 validators reachable, 3 needed\)/)
    await new Promise(resolve => setImmediate(resolve))
    expect(s.sent).toEqual([])
    expect(s.consensus.status().pendingClientRequests).toBe(0)
    s.consensus.stop()
  })

  it('refuses at once when membership says this node is partitioned', async () => {
    const s = await setup()
    s.partitioned.value = true
    await expect(s.consensus.propose(put)).rejects.toThrow(/^read-only: no quorum \(this node is partitioned/)
    expect(s.sent).toEqual([])
    s.consensus.stop()
  })

  it('a write that went out and timed out: 504 material with its request id, retransmitted, and a retry gets the signed result once', async () => {
    const s = await setup()
    const error = await s.consensus.propose(put, { timeoutMs: 30 }).then(() => null, (err: unknown) => err)
    expect(error).toBeInstanceOf(OutcomeUnknownError)
    const id = (error as OutcomeUnknownError).requestId
    expect((error as Error).message).toMatch(/outcome unknown/)
    const parsed = parseRequestId(id)
    expect(parsed).toMatchObject({ peerId: peerIdFromPrivateKey(s.self).toString(), incarnation: 1, requestId: 1, index: null })
    expect(s.sent).toHaveLength(4) // once to each validator
    const request = s.sent[0]?.request as ClientRequest
    expect(id).toBe(formatRequestId(request.client, request.requestId, null, put))
    // still pending for the client table's sake: retransmitted in the background
    await until('a retransmission', () => s.sent.length >= 8)
    expect(s.sent.slice(4).every(x => x.request.requestId === 1 && x.request.signature === request.signature)).toBe(true)

    // refused before anything is sent: another operation, another node's id, an id never issued
    const before = s.sent.length
    await expect(s.consensus.retry(id, put.replace('"v"', '"w"'))).rejects.toThrow(RequestMismatchError)
    const other = (await setup()).consensus
    await expect(other.retry(id, put)).rejects.toThrow(/issued by node/)
    other.stop()
    await expect(s.consensus.retry(formatRequestId(request.client, 99, null, put), put)).rejects.toThrow(RequestIdError)
    await expect(s.consensus.retry('nonsense', put)).rejects.toThrow(RequestIdError)
    expect(s.sent.length).toBe(before)

    // a retry re-sends the SAME signed request and resolves on f+1 matching replies
    const retried = s.consensus.retry(id, put, { timeoutMs: 5_000 })
    await until('the retry sent', () => s.sent.length > before)
    expect(s.sent[s.sent.length - 1]?.request).toEqual(request)
    const result = JSON.stringify({ ok: true, created: true })
    reply(s, 0, request, result, 7)
    reply(s, 2, request, result, 7)
    await expect(retried).resolves.toEqual({ result, seq: 7 })
    // answered: no more retransmissions, nothing pending; a later retry is answered from memory
    expect(s.consensus.status().pendingClientRequests).toBe(0)
    const after = s.sent.length
    await expect(s.consensus.retry(id, put)).resolves.toEqual({ result, seq: 7 })
    expect(s.sent.length).toBe(after)
    s.consensus.stop()
  })

  it('after a restart (new incarnation, same key) a retry rebuilds and re-signs the same request', async () => {
    const first = await setup(1)
    const error = await first.consensus.propose(put, { timeoutMs: 30 }).then(() => null, (err: unknown) => err) as OutcomeUnknownError
    const original = first.sent[0]?.request as ClientRequest
    first.consensus.stop()
    const restarted = await setup(2, first.self)
    const retried = restarted.consensus.retry(error.requestId, put, { timeoutMs: 30 })
    await expect(retried).rejects.toThrow(OutcomeUnknownError)
    // same client (the first life's), same id, same operation: the replicas' client table dedupes it
    expect(restarted.sent[0]?.request).toMatchObject({ client: original.client, requestId: original.requestId, operation: original.operation })
    restarted.consensus.stop()
  })

  it('an operation still queued when the node learns it has no quorum is refused, unsent', async () => {
    const s = await setup()
    // queued now, sent on the next turn of the event loop; quorum is lost in between
    const queued = s.consensus.propose(put, { timeoutMs: 60_000 }).then(() => null, (err: unknown) => err)
    s.alive.clear()
    expect(await queued).toBeInstanceOf(NoQuorumError)
    expect(s.sent).toEqual([])
    expect(s.consensus.status().pendingClientRequests).toBe(0)
    s.consensus.stop()
  })
})
