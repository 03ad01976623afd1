/**
 * [founding] /mesh/<network>/genesis/1.0.0 (protocols/genesis/): the codec validates every byte a peer
 * sends (status, size, UTF-8, JSON, validateGenesis, network), and two real hosts exchange a genesis.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import type { Libp2p } from '@libp2p/interface'
import { GenesisRequest, GenesisResponse } from '../../protocols/genesis/genesis.js'
import { decodeAnswer, encodeAnswer, genesisToBytes, GenesisAnswerError, parseGenesisBytes } from '../../protocols/genesis/codec.js'
import { genesisBytesMax, genesisProtocol } from '../../protocols/genesis/constants.js'
import { genesisExchange } from '../../protocols/genesis/service.js'
import type { GenesisExchange, GenesisServed } from '../../protocols/genesis/service.js'
import { genesisHash, makeGenesis } from '../../src/runtime/consensus/genesis.js'
import type { Genesis } from '../../src/runtime/consensus/genesis.js'

async function sampleGenesis (network = 'lab'): Promise<Genesis> {
  const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  return makeGenesis(network, [{ peer_id: peer, name: 'founder' }], {}, 'raft')
}

const bytesOf = (text: string): Uint8Array => new TextEncoder().encode(text)

describe('genesis wire format', () => {
  it('the protocol id carries the network', () => {
    expect(genesisProtocol('lab')).toBe('/mesh/lab/genesis/1.0.0')
  })

  it('round-trips a genesis with the same hash, and none / candidate', async () => {
    const genesis = await sampleGenesis()
    const decoded = GenesisResponse.decode(GenesisResponse.encode(encodeAnswer({ status: 'genesis', genesis })))
    const answer = decodeAnswer(decoded, 'lab')
    expect(answer.status).toBe('genesis')
    if (answer.status === 'genesis') expect(genesisHash(answer.genesis)).toBe(genesisHash(genesis))
    expect(decodeAnswer(GenesisResponse.decode(GenesisResponse.encode(encodeAnswer({ status: 'none' }))), 'lab')).toEqual({ status: 'none' })
    expect(decodeAnswer(GenesisResponse.decode(GenesisResponse.encode(encodeAnswer({ status: 'candidate' }))), 'lab')).toEqual({ status: 'candidate' })
    const request = GenesisRequest.decode(GenesisRequest.encode({ network: 'lab', candidate: true }))
    expect(request).toEqual({ network: 'lab', candidate: true })
  })

  it('refuses an unknown status', () => {
    // field 1 (varint) = 7: no such status
    expect(() => decodeAnswer(GenesisResponse.decode(Uint8Array.from([0x08, 0x07])), 'lab')).toThrow()
  })

  it('refuses a genesis of another network', async () => {
    const genesis = await sampleGenesis('other')
    expect(() => parseGenesisBytes(genesisToBytes(genesis), 'lab')).toThrow(/network "other", not "lab"/)
  })

  it('refuses empty, oversized, non-UTF-8, non-JSON and invalid genesis bytes', async () => {
    expect(() => parseGenesisBytes(new Uint8Array(0), 'lab')).toThrow(GenesisAnswerError)
    expect(() => parseGenesisBytes(new Uint8Array(genesisBytesMax + 1).fill(0x20), 'lab')).toThrow(/at most/)
    expect(() => parseGenesisBytes(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]), 'lab')).toThrow(/not UTF-8/)
    expect(() => parseGenesisBytes(bytesOf('{"network": '), 'lab')).toThrow(/not JSON/)
    expect(() => parseGenesisBytes(bytesOf('[]'), 'lab')).toThrow(GenesisAnswerError)
    expect(() => parseGenesisBytes(bytesOf('{"network":"lab","validators":[]}'), 'lab')).toThrow(/at least one validator/)
    const genesis = await sampleGenesis()
    const twoMembers = { ...genesis, validators: [...genesis.validators, { peer_id: peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString(), name: 'b' }] }
    expect(() => parseGenesisBytes(bytesOf(JSON.stringify(twoMembers)), 'lab')).toThrow(/Raft needs 1 or at least 3/)
    expect(() => parseGenesisBytes(bytesOf(JSON.stringify({ ...genesis, validators: [{ peer_id: 'nope', name: 'x' }] })), 'lab')).toThrow(/not a PeerId/)
  })

  it('will not serve a genesis above the limit', async () => {
    const genesis = await sampleGenesis()
    const huge = { ...genesis, genesis_time: 'x'.repeat(genesisBytesMax) }
    expect(() => encodeAnswer({ status: 'genesis', genesis: huge })).toThrow(/above the protocol/)
  })
})

describe('genesis exchange between two hosts', () => {
  const hosts: Array<Libp2p<{ genesis: GenesisExchange }>> = []
  afterAll(async () => { for (const host of hosts) await host.stop() })

  async function host (network: string, answer: () => GenesisServed, onRequest?: (peer: string, candidate: boolean) => void): Promise<Libp2p<{ genesis: GenesisExchange }>> {
    const node = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { genesis: genesisExchange({ network, answer, onRequest }) }
    })
    hosts.push(node)
    return node
  }

  it('a joiner fetches the server\'s genesis; the server learns whether the asker is a candidate', async () => {
    const genesis = await sampleGenesis()
    const asked: Array<[string, boolean]> = []
    const server = await host('lab', () => ({ status: 'genesis', genesis }), (peer, candidate) => { asked.push([peer, candidate]) })
    const joiner = await host('lab', () => ({ status: 'none' }))
    const answer = await joiner.services.genesis.ask(server.getMultiaddrs()[0] as Parameters<GenesisExchange['ask']>[0], { candidate: true, signal: AbortSignal.timeout(10_000) })
    expect(answer.status).toBe('genesis')
    if (answer.status === 'genesis') expect(genesisHash(answer.genesis)).toBe(genesisHash(genesis))
    expect(asked).toEqual([[joiner.peerId.toString(), true]])
    // and the other way round: a node with none says so
    expect((await server.services.genesis.ask(joiner.peerId, { signal: AbortSignal.timeout(10_000) })).status).toBe('none')
  })

  it('a genesis of another network sent under our protocol id is refused by the asker', async () => {
    const foreign = await sampleGenesis('other')
    const liar = await host('lab', () => ({ status: 'genesis', genesis: foreign }))
    const joiner = await host('lab', () => ({ status: 'none' }))
    await expect(joiner.services.genesis.ask(liar.getMultiaddrs()[0] as Parameters<GenesisExchange['ask']>[0], { signal: AbortSignal.timeout(10_000) })).rejects.toThrow(/network "other"/)
  })
})
