/** Limits of /mesh/<network>/probe/1.0.0. */
export const probeProtocolVersion = '1.0.0'

/** A helper spends at most this long pinging the target, whatever the requester asks. */
export const probeTimeoutMsMax = 10_000

/** Default time a helper may spend: a live peer on a LAN answers in milliseconds; a loaded one in < 1 s. */
export const probeTimeoutMsDefault = 3_000

/** Requests and responses are a few dozen bytes. */
export const probeMessageBytesMax = 1024

/** Probes in flight per connection: a suspicion round asks each helper once per target. */
export const probeStreamsMax = 16

export function probeProtocol (network: string): string {
  return `/mesh/${network}/probe/${probeProtocolVersion}`
}
