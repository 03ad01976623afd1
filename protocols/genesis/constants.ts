/** Limits of /mesh/<network>/genesis/1.0.0 (a joiner asks a peer for the network's genesis.json). */
export const genesisProtocolVersion = '1.0.0'

/**
 * Largest genesis accepted (and served): 100 validators (the cap in validateGenesis) with 64-character
 * names and their PeerIds are ~17 KiB of JSON, the parameters a few hundred bytes; room for whitespace.
 */
export const genesisBytesMax = 64 * 1024

/** Largest message on the stream: the genesis plus the protobuf framing. */
export const genesisMessageBytesMax = genesisBytesMax + 64

/** A request is a network name and a flag. */
export const genesisRequestBytesMax = 128

/** Streams per connection: a joiner asks once per round (every few seconds), a candidate a little more. */
export const genesisStreamsMax = 4

/** One request and its answer: a peer that holds the genesis answers at once. */
export const genesisTimeoutMs = 5_000

export function genesisProtocol (network: string): string {
  return `/mesh/${network}/genesis/${genesisProtocolVersion}`
}
