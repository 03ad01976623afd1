/**
 * What the pBFT runtime (src/runtime/consensus/pbft.ts) takes on the authority of the Noise-authenticated
 * connection instead of a signature, and what it still refuses:
 * - REPLY frames are unsigned: a reply counts only when it arrives on the connection of the validator
 *   it names; one relayed (or forged) by anyone else is refused, so f such cannot decide a write.
 * - a backup holds a client's REQUEST received straight from that client's node without verifying its
 *   signature; the primary's PRE-PREPARE carrying the same request then passes without a check, while
 *   one carrying an altered request (same signature, other operation) is refused as a bad signature,
 *   and so is a badly signed request once its hold time is over.
 * A backup (validator 1 of 4, view 0) and an observer client, each with a fake transport.
 */
import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { PbftConsensus } from '../../src/runtime/consensus/pbft.js'
import { makeGenesis } from '../../src/runtime/consensus/genesis.js'
import type { Genesis } from '../../src/runtime/consensus/genesis.js'
import { pbftCrypto, sha256Hex } from '../../src/runtime/consensus/pbft-crypto.js'
import { MeshApplication } from '../../src/core/app/application.js'
import { batchDigest, canonicalJson, signable } from '../../src/core/pbft/types.js'
import type { ClientRequest, Message, PrePrepare } from '../../src/core/pbft/types.js'
import { PbftFrame } from '../../protocols/pbft/pbft.js'
import type { PbftTransport } from '../../protocols/pbft/service.js'

interface Mesh {
  genesis: Genesis
  validatorKeys: PrivateKey[]
  validatorIds: PeerId[]
  clientKey: PrivateKey
  clientId: PeerId
}

async function mesh (): Promise<Mesh> {
  const validatorKeys = await Promise.all([0, 1, 2, 3].map(async () => await generateKeyPair('Ed25519')))
  const validatorIds = validatorKeys.map(k => peerIdFromPrivateKey(k))
  // retransmit_ms 150: a backup holds an unordered request 50 ms before verifying it itself
  const genesis = makeGenesis('unit', validatorIds.map((id, i) => ({ peer_id: id.toString(), name: `v${i}` })), { retransmit_ms: 150, view_change_timeout_ms: 60_000 })
  const clientKey = await generateKeyPair('Ed25519')
  return { genesis, validatorKeys, validatorIds, clientKey, clientId: peerIdFromPrivateKey(clientKey) }
}

function node (m: Mesh, key: PrivateKey): { consensus: PbftConsensus, sent: Array<{ to: string, kind: PbftFrame.Kind, body: unknown }> } {
  const sent: Array<{ to: string, kind: PbftFrame.Kind, body: unknown }> = []
  const transport = {
    send: (peer: PeerId, frame: PbftFrame) => { sent.push({ to: peer.toString(), kind: frame.kind, body: JSON.parse(new TextDecoder().decode(frame.body)) }) }
  } as unknown as PbftTransport
  const validators = m.validatorIds.map(id => id.toString())
  const consensus = new PbftConsensus({
    genesis: m.genesis,
    privateKey: key,
    peerId: peerIdFromPrivateKey(key).toString(),
    incarnation: 1,
    app: new MeshApplication(validators, sha256Hex),
    store: null,
    transport: () => transport,
    isConnected: () => true,
    log: () => {}
  })
  return { consensus, sent }
}

function signedRequest (m: Mesh, requestId: number, operation: string): ClientRequest {
  const crypto = pbftCrypto('unit', m.validatorIds.map(id => id.toString()), m.clientKey)
  const request: ClientRequest = { client: `${m.clientId.toString()}/1`, requestId, operation }
  request.signature = crypto.signAny(canonicalJson({ client: request.client, requestId, operation }))
  return request
}

function frame (kind: PbftFrame.Kind, body: unknown): PbftFrame {
  return { kind, body: new TextEncoder().encode(canonicalJson(body)) }
}

/** The primary's (validator 0's) signed PRE-PREPARE of `batch` at seq 1, view 0. */
function prePrepare (m: Mesh, batch: ClientRequest[]): PrePrepare {
  const crypto = pbftCrypto('unit', m.validatorIds.map(id => id.toString()), m.validatorKeys[0] as PrivateKey)
  const message: PrePrepare = { type: 'pre-prepare', view: 0, seq: 1, digest: batchDigest(crypto, batch), batch, from: 0, signature: '' }
  message.signature = crypto.sign(signable(message as Message))
  return message
}

async function until (what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 250 && !check(); i++) await new Promise(resolve => setTimeout(resolve, 20))
  if (!check()) throw new Error(`never happened: ${what}`)
}

const put = (value: string): string => JSON.stringify({ op: 'put', namespace: 'default', key: 'k', value })
const prepares = (sent: Array<{ kind: PbftFrame.Kind, body: unknown }>): number =>
  sent.filter(s => s.kind === PbftFrame.Kind.PROTOCOL && (s.body as { type?: string }).type === 'prepare').length

describe('replies: authenticated by the connection, not signed', () => {
  it('a reply counts only on the connection of the validator it names: f+1 relayed or forged ones do not decide a write', async () => {
    const m = await mesh()
    const { consensus, sent } = node(m, m.clientKey)
    const outcome = consensus.propose(put('v'), { timeoutMs: 5_000 })
    await until('the request went out', () => sent.some(s => s.kind === PbftFrame.Kind.REQUEST))
    const request = sent.find(s => s.kind === PbftFrame.Kind.REQUEST)?.body as ClientRequest
    const reply = (from: number): PbftFrame => frame(PbftFrame.Kind.REPLY, { from, client: request.client, requestId: request.requestId, seq: 1, result: 'ok' })
    // validator 3 relays replies it claims validators 1 and 2 sent: refused, nothing decided
    consensus.onFrame(reply(1), m.validatorIds[3] as PeerId)
    consensus.onFrame(reply(2), m.validatorIds[3] as PeerId)
    expect(consensus.status().dropped['not-validator']).toBe(2)
    // a malformed reply on the right connection is refused too
    consensus.onFrame(frame(PbftFrame.Kind.REPLY, { from: 1, client: request.client, requestId: 'x', seq: 1, result: 'ok' }), m.validatorIds[1] as PeerId)
    expect(consensus.status().dropped.invalid).toBe(1)
    expect(consensus.status().pendingClientRequests).toBe(1)
    // the genuine ones, each on its own validator's connection: f+1 = 2 decide
    consensus.onFrame(reply(1), m.validatorIds[1] as PeerId)
    expect(consensus.status().pendingClientRequests).toBe(1)
    consensus.onFrame(reply(2), m.validatorIds[2] as PeerId)
    await expect(outcome).resolves.toEqual({ result: 'ok', seq: 1 })
    consensus.stop()
  })
})

describe('client requests: verified once, by the primary', () => {
  it('a backup holds a request straight from its client and prepares the PRE-PREPARE that carries it; an altered copy (same signature) is refused', async () => {
    const m = await mesh()
    const { consensus, sent } = node(m, m.validatorKeys[1] as PrivateKey)
    const request = signedRequest(m, 1, put('v'))
    consensus.onFrame(frame(PbftFrame.Kind.REQUEST, request), m.clientId)
    // an altered copy relayed by a Byzantine primary: same client, id and signature, another operation
    const altered = { ...request, operation: put('evil') }
    consensus.onFrame(frame(PbftFrame.Kind.PROTOCOL, prePrepare(m, [altered])), m.validatorIds[0] as PeerId)
    expect(consensus.status().dropped['bad-signature']).toBe(1)
    await new Promise(resolve => setImmediate(resolve))
    expect(prepares(sent)).toBe(0)
    // the genuine PRE-PREPARE carries the very request the backup holds: prepared
    consensus.onFrame(frame(PbftFrame.Kind.PROTOCOL, prePrepare(m, [request])), m.validatorIds[0] as PeerId)
    await until('a PREPARE for the genuine pre-prepare', () => prepares(sent) === 3)
    expect(consensus.status().dropped['bad-signature']).toBe(1)
    consensus.stop()
  })

  it('a request that names another node than the connection it came on is verified at once; a badly signed one is refused', async () => {
    const m = await mesh()
    const { consensus } = node(m, m.validatorKeys[1] as PrivateKey)
    const request = signedRequest(m, 1, put('v'))
    const forged = { ...request, operation: put('forged') }
    // relayed by validator 2 (not the client's connection): checked now, refused
    consensus.onFrame(frame(PbftFrame.Kind.REQUEST, forged), m.validatorIds[2] as PeerId)
    expect(consensus.status().dropped['bad-signature']).toBe(1)
    consensus.stop()
  })

  it('a badly signed request from its own client is held, then refused when its hold time is over (the replica never sees it)', async () => {
    const m = await mesh()
    const { consensus, sent } = node(m, m.validatorKeys[1] as PrivateKey)
    consensus.start()
    const bad = { ...signedRequest(m, 1, put('v')), operation: put('other') }
    consensus.onFrame(frame(PbftFrame.Kind.REQUEST, bad), m.clientId)
    expect(consensus.status().dropped['bad-signature']).toBeUndefined()
    await until('the held request verified and refused', () => consensus.status().dropped['bad-signature'] === 1)
    // never forwarded to the primary
    await new Promise(resolve => setTimeout(resolve, 200))
    expect(sent.filter(s => (s.body as { type?: string }).type === 'forward')).toEqual([])
    consensus.stop()
  })

  it('a well-signed request still unordered after its hold time goes to the replica, which forwards it to the primary in time', async () => {
    const m = await mesh()
    const { consensus, sent } = node(m, m.validatorKeys[1] as PrivateKey)
    consensus.start()
    consensus.onFrame(frame(PbftFrame.Kind.REQUEST, signedRequest(m, 1, put('v'))), m.clientId)
    await until('a FORWARD to the primary', () => sent.some(s => (s.body as { type?: string }).type === 'forward' && s.to === m.validatorIds[0]?.toString()))
    expect(consensus.status().dropped['bad-signature']).toBeUndefined()
    consensus.stop()
  })
})
