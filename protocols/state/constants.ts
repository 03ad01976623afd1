/**
 * Limits of the membership gossip (state records and failure verdicts). Each number has its reason;
 * a value from the network beyond any of them is rejected at decode, never truncated.
 */

/** Largest envelope accepted on the topic or in a sync table: a record is ~300 B; 64 KiB leaves room
 * for many addresses and capabilities while bounding what one peer can make us verify and store. */
export const envelopeBytesMax = 64 * 1024

/** Human label length: enough for a hostname or "gpu-worker-17-eu-west". */
export const nameLengthMax = 64

/** Capabilities per node and characters per capability (scheduler matching is O(capabilities)). */
export const capabilitiesCountMax = 64
export const capabilityLengthMax = 64

/** Advertised addresses per node: listen + announce on a few interfaces, IPv4 and IPv6. */
export const addressesCountMax = 32
export const addressLengthMax = 256

/** Neighbours (connected members, with RTT) per record, for the topology page: a full mesh of the
 * default --max-peers (32) fits twice; beyond it a node reports the first 64 by PeerId. ~64 B each. */
export const neighboursCountMax = 64

/** Characters of a neighbour's PeerId (an Ed25519 PeerId in base58 has 52). */
export const neighbourIdLengthMax = 128

/** A neighbour RTT above this (ms) is nonsense: probes time out after a few seconds. */
export const neighbourRttMsMax = 600_000

/** Load counters above this are nonsense from a buggy or lying node. */
export const loadCounterMax = 1_000_000

/** Gossip topic / protocol version. */
export const stateTopicVersion = '1.0.0'

/** Domain separation for signatures: a signature made for one network or purpose verifies nowhere else. */
export function signatureDomain (network: string): string {
  return `mesh/${network}/membership/v1`
}

/** The gossipsub topic that carries state records and verdicts of one network. */
export function stateTopic (network: string): string {
  return `/mesh/${network}/state/${stateTopicVersion}`
}
