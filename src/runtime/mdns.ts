/**
 * [mdns] LAN discovery (issue 14): `--mdns on|off` (MESH_MDNS). The decisions here are pure and
 * unit-tested; bootstrap/libp2p.ts adds @libp2p/mdns with the service tag chosen here, and the
 * connection keeper (src/runtime/connection-keeper.ts) dials what it discovers like any member.
 *
 * - Default: on only when every address the node listens on is loopback or private (RFC 1918, the
 *   IPv6 unique-local fc00::/7, link-local 169.254/16 and fe80::/10). A wildcard listen address
 *   (0.0.0.0, ::) stands for every address of the host's interfaces of that family: a laptop on a home
 *   LAN gets mDNS, a VM with a public address does not (it would answer on a network it does not know).
 * - Networks never mix: the service tag is per network (`_mesh-<network>._udp.local`), and on a private
 *   network it also carries a digest of the key (`_mesh-<network>-<8 hex>._udp.local`; a digest of its
 *   own domain, not the fingerprint the banner prints), so nodes with different names or keys do not
 *   even discover each other. A DNS label holds at most 63 characters: a longer one is hashed.
 */
import { createHash } from 'node:crypto'
import { networkInterfaces } from 'node:os'
import { isIPv4, isIPv6 } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'

export type MdnsSetting = 'on' | 'off'

/** Loopback or private: 127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, ::1, fc00::/7, fe80::/10. */
export function isLoopbackOrPrivateIp (ip: string): boolean {
  if (isIPv4(ip)) {
    const [a, b] = ip.split('.').map(Number) as [number, number]
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254)
  }
  if (isIPv6(ip)) {
    const lower = ip.toLowerCase()
    if (lower === '::1') return true
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower)
    if (mapped != null) return isLoopbackOrPrivateIp(mapped[1] as string)
    const first = parseInt(lower.split(':')[0] === '' ? '0' : lower.split(':')[0] as string, 16)
    return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80
  }
  return false
}

/** The host's interface addresses by family (os.networkInterfaces()), for wildcard listen addresses. */
export function hostAddresses (): { ip4: string[], ip6: string[] } {
  const ip4: string[] = []
  const ip6: string[] = []
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) (a.family === 'IPv4' ? ip4 : ip6).push(a.address.replace(/%.*$/, ''))
  }
  return { ip4, ip6 }
}

/**
 * Whether mDNS is on when `--mdns` is not given: every listen address loopback or private (wildcards
 * expanded to `host`'s addresses of that family; a wildcard with no such address contributes nothing).
 * A listen address that is not an IP (a DNS name) makes it off.
 */
export function mdnsDefault (listen: readonly string[], host: { ip4: readonly string[], ip6: readonly string[] }): boolean {
  const ips: string[] = []
  for (const address of listen) {
    let component
    try {
      component = multiaddr(address).getComponents()[0]
    } catch {
      return false
    }
    if (component == null || (component.name !== 'ip4' && component.name !== 'ip6') || component.value == null) return false
    if (component.value === '0.0.0.0') ips.push(...host.ip4)
    else if (component.value === '::') ips.push(...host.ip6)
    else ips.push(component.value)
  }
  return ips.length > 0 && ips.every(isLoopbackOrPrivateIp)
}

/** mDNS on or off for this node, and why (printed in the start banner). */
export function resolveMdns (setting: MdnsSetting | undefined, listen: readonly string[], host = hostAddresses()): { enabled: boolean, reason: string } {
  if (setting === 'on') return { enabled: true, reason: '--mdns on' }
  if (setting === 'off') return { enabled: false, reason: '--mdns off' }
  return mdnsDefault(listen, host)
    ? { enabled: true, reason: 'default: every listen address is loopback or private' }
    : { enabled: false, reason: 'default: a listen address is public (or not an IP); --mdns on to enable' }
}

/** A DNS label holds at most 63 characters. */
const dnsLabelMax = 63

/**
 * The mDNS service name of a network: `_mesh-<network>._udp.local`, with `-<8 hex digits of
 * sha256("mesh-mdns/" || key)>` appended on a private network. A label beyond 63 characters becomes
 * `_mesh-<first 24 hex of sha256 of the label>`.
 */
export function mdnsServiceTag (network: string, psk?: Uint8Array): string {
  let label = `_mesh-${network}`
  if (psk != null) {
    const digest = createHash('sha256').update('mesh-mdns/').update(psk).digest('hex').slice(0, 8)
    label += `-${digest}`
  }
  if (label.length > dnsLabelMax) label = `_mesh-${createHash('sha256').update(label).digest('hex').slice(0, 24)}`
  return `${label}._udp.local`
}
