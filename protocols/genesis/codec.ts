/**
 * The genesis a peer sends, validated byte by byte before anyone uses it: the status must be a known
 * one, the bytes at most `genesisBytesMax`, strict UTF-8, JSON, a valid genesis (validateGenesis) and
 * of the asker's own network. Pure: unit-tested in test/unit/genesis-protocol.test.ts.
 */
import { validateGenesis } from '../../src/runtime/consensus/genesis.js'
import type { Genesis } from '../../src/runtime/consensus/genesis.js'
import { GenesisResponse } from './genesis.js'
import { genesisBytesMax } from './constants.js'

export type GenesisAnswer =
  | { status: 'none' }
  | { status: 'candidate' }
  | { status: 'genesis', genesis: Genesis }

export class GenesisAnswerError extends Error {
  override readonly name = 'GenesisAnswerError'
}

/** The wire form of what this node answers. */
export function encodeAnswer (answer: { status: 'none' } | { status: 'candidate' } | { status: 'genesis', genesis: Genesis }): GenesisResponse {
  switch (answer.status) {
    case 'none': return { status: GenesisResponse.Status.NONE, genesis: new Uint8Array(0) }
    case 'candidate': return { status: GenesisResponse.Status.CANDIDATE, genesis: new Uint8Array(0) }
    case 'genesis': {
      const bytes = genesisToBytes(answer.genesis)
      if (bytes.length > genesisBytesMax) throw new GenesisAnswerError(`the genesis is ${bytes.length} bytes, above the protocol's ${genesisBytesMax}`)
      return { status: GenesisResponse.Status.GENESIS, genesis: bytes }
    }
  }
}

/** genesis.json as written to a data dir and sent on the wire. */
export function genesisToBytes (genesis: Genesis): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(JSON.stringify(genesis, null, 2) + '\n') as Uint8Array<ArrayBuffer>
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** A decoded response → an answer; throws GenesisAnswerError on anything malformed or foreign. */
export function decodeAnswer (response: GenesisResponse, network: string): GenesisAnswer {
  switch (response.status) {
    case GenesisResponse.Status.NONE: return { status: 'none' }
    case GenesisResponse.Status.CANDIDATE: return { status: 'candidate' }
    case GenesisResponse.Status.GENESIS: return { status: 'genesis', genesis: parseGenesisBytes(response.genesis, network) }
    default: throw new GenesisAnswerError(`unknown status ${String(response.status as unknown)}`)
  }
}

/** Validate genesis bytes from a peer: size, UTF-8, JSON, validateGenesis, and the network name. */
export function parseGenesisBytes (bytes: Uint8Array, network: string): Genesis {
  if (bytes.length === 0) throw new GenesisAnswerError('an empty genesis')
  if (bytes.length > genesisBytesMax) throw new GenesisAnswerError(`a genesis of ${bytes.length} bytes (at most ${genesisBytesMax})`)
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    throw new GenesisAnswerError('a genesis that is not UTF-8')
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new GenesisAnswerError(`a genesis that is not JSON (${(err as Error).message})`)
  }
  let genesis: Genesis
  try {
    genesis = validateGenesis(parsed, 'the genesis received')
  } catch (err) {
    throw new GenesisAnswerError((err as Error).message)
  }
  if (genesis.network !== network) throw new GenesisAnswerError(`a genesis of network "${genesis.network}", not "${network}"`)
  return genesis
}
