/**
 * [nat] The pure parts of NAT traversal (src/runtime/reachability.ts, protocols/shared/limited.ts):
 * --relay / --nat-upnp parsing through the config layers, the reachability verdict from the address
 * manager's facts, the status text, relay PeerIds from relay addresses, and the connection choice
 * (direct before relayed).
 */
import { describe, expect, it } from 'vitest'
import { ConfigError, defaultConfig, resolveConfig } from '../../src/runtime/config.js'
import { parseRelayMode, parseSwitch, reachabilityText, reachabilityVerdict, relaysOf } from '../../src/runtime/reachability.js'
import type { ReachabilitySummary } from '../../src/runtime/reachability.js'
import { pickConnection } from '../../protocols/shared/limited.js'
import type { Connection } from '@libp2p/interface'
import { buildProgram } from '../../src/cli/main.js'

const relayPeer = '12D3KooWJbcSjoPM9xsdT2pzhkAsodEY3eaywv6u7PJ5BYjA9YyN'
const self = '12D3KooWRXSTH4dukNUg9DvzMfEDRs2ZFGqwQeT1gvLYuaKus7CT'

function configError (run: () => unknown): ConfigError {
  try {
    run()
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('--relay and --nat-upnp', () => {
  it('default to relay auto and no UPnP', () => {
    expect(defaultConfig().relay).toBe('auto')
    expect(defaultConfig().natUpnp).toBe(false)
    const { config, sources } = resolveConfig({}, {}, {})
    expect(config.relay).toBe('auto')
    expect(config.natUpnp).toBe(false)
    expect(sources.relay).toBe('default')
  })

  it('come from a flag, MESH_RELAY / MESH_NAT_UPNP, or the config file, flag first', () => {
    expect(resolveConfig({ relay: 'on' }, { MESH_RELAY: 'off' }, { relay: 'auto' }).config.relay).toBe('on')
    expect(resolveConfig({}, { MESH_RELAY: 'OFF' }, { relay: 'on' }).config.relay).toBe('off')
    expect(resolveConfig({}, {}, { relay: 'on' }).config.relay).toBe('on')
    // the flag alone (commander gives true), on/off, and the env's spellings
    expect(resolveConfig({ natUpnp: true }, {}, {}).config.natUpnp).toBe(true)
    expect(resolveConfig({ natUpnp: 'off' }, { MESH_NAT_UPNP: 'on' }, {}).config.natUpnp).toBe(false)
    expect(resolveConfig({}, { MESH_NAT_UPNP: '1' }, {}).config.natUpnp).toBe(true)
    expect(resolveConfig({}, {}, { 'nat-upnp': true }).config.natUpnp).toBe(true)
  })

  it('refuse anything else with an error naming the option and the choices', () => {
    const relay = configError(() => resolveConfig({ relay: 'maybe' }, {}, {}))
    expect(relay.option).toBe('relay')
    expect(relay.message).toContain('--relay: "maybe" is not one of on, off, auto')
    const env = configError(() => resolveConfig({}, { MESH_RELAY: 'yes please' }, {}))
    expect(env.message).toContain('--relay')
    const upnp = configError(() => resolveConfig({}, { MESH_NAT_UPNP: 'sometimes' }, {}))
    expect(upnp.option).toBe('nat-upnp')
    expect(upnp.message).toContain('"sometimes" is not on or off')
    expect(() => parseRelayMode(3)).toThrow(/not one of on, off, auto/)
    expect(parseRelayMode(' Auto ')).toBe('auto')
    expect(parseSwitch('no')).toBe(false)
    expect(() => parseSwitch('')).toThrow(/not on or off/)
  })

  it('are in `mesh start --help`, the switch taking an optional on|off', () => {
    const start = buildProgram().commands.find(c => c.name() === 'start')
    const help = start?.helpInformation() ?? ''
    expect(help).toContain('--relay <value>')
    expect(help).toContain('MESH_RELAY')
    expect(help).toContain('--nat-upnp [on|off]')
    expect(help).toContain('MESH_NAT_UPNP')
  })
})

describe('reachability verdict', () => {
  it('public once a public address is confirmed (AutoNAT) or announced', () => {
    const v = reachabilityVerdict([
      { multiaddr: '/ip4/192.168.1.10/tcp/4747', verified: true, type: 'transport' },
      { multiaddr: '/ip4/100.213.1.10/tcp/4747', verified: true, type: 'transport' }
    ])
    expect(v.status).toBe('public')
    expect(v.reason).toContain('AutoNAT')
    expect(v.publicAddresses).toEqual(['/ip4/100.213.1.10/tcp/4747'])
    expect(reachabilityVerdict([{ multiaddr: '/ip4/100.213.1.10/tcp/4747', verified: true, type: 'announce' }]).reason).toContain('--announce')
  })

  it('unknown while a public listen address waits for a peer to confirm it', () => {
    expect(reachabilityVerdict([{ multiaddr: '/ip4/100.213.1.10/tcp/4747', verified: false, type: 'transport' }]).status).toBe('unknown')
    expect(reachabilityVerdict([]).status).toBe('unknown')
  })

  it('private behind NAT: private addresses only, an unconfirmed observed address, a relay address does not count', () => {
    const v = reachabilityVerdict([
      { multiaddr: '/ip4/192.168.1.10/tcp/4747', verified: true, type: 'transport' },
      { multiaddr: '/ip4/100.213.1.21/tcp/38542', verified: false, type: 'observed' },
      { multiaddr: `/ip4/100.213.1.10/tcp/4747/p2p/${relayPeer}/p2p-circuit`, verified: true, type: 'transport' }
    ])
    expect(v.status).toBe('private')
    expect(v.loopbackOnly).toBe(false)
    expect(v.reason).toContain('not confirmed')
  })

  it('private and loopback-only on 127.0.0.1 (such a node never seeks a relay)', () => {
    const v = reachabilityVerdict([{ multiaddr: '/ip4/127.0.0.1/tcp/4747', verified: true, type: 'transport' }])
    expect(v).toMatchObject({ status: 'private', loopbackOnly: true, reason: 'loopback addresses only' })
  })
})

describe('reachability text and relays', () => {
  const summary: ReachabilitySummary = {
    status: 'private',
    reason: 'only private addresses (behind NAT, or a LAN)',
    publicAddresses: [],
    relay: { mode: 'auto', serving: false, reservationsServed: 0 },
    reservations: [relayPeer],
    relayAddresses: [`/ip4/100.213.1.10/tcp/4747/p2p/${relayPeer}/p2p-circuit/p2p/${self}`],
    seekingRelay: true,
    upnp: false,
    holePunch: { successes: 0, failures: 2 },
    connections: [
      { peerId: relayPeer, remoteAddr: '/ip4/100.213.1.10/tcp/4747', direction: 'outbound', kind: 'direct', limited: false },
      { peerId: 'peerB', remoteAddr: `/ip4/100.213.1.10/tcp/4747/p2p/${relayPeer}/p2p-circuit/p2p/peerB`, direction: 'inbound', kind: 'relayed', limited: true }
    ]
  }

  it('says the verdict, the relay server, our reservations, the links and hole punching', () => {
    const text = reachabilityText(summary).join('\n')
    expect(text).toContain('reach      private: only private addresses')
    expect(text).toContain('server not serving (--relay auto: only while public)')
    expect(text).toContain(`our reservations ${relayPeer}`)
    expect(text).toContain(`/p2p-circuit/p2p/${self}`)
    expect(text).toContain('1 direct, 1 relayed   hole punching: 0 upgraded to direct, 2 stayed relayed   UPnP off')
    expect(text).toContain('relayed  peerB  via')
    expect(text).toContain('(limited by the relay)')
    const off = reachabilityText({ ...summary, relay: { mode: 'off', serving: false, reservationsServed: 0 }, reservations: [], relayAddresses: [], seekingRelay: false }).join('\n')
    expect(off).toContain('relay      server off')
    expect(off).toContain('our reservations none')
  })

  it('takes the relay PeerIds out of relay addresses', () => {
    expect(relaysOf([`/ip4/1.2.3.4/tcp/1/p2p/${relayPeer}/p2p-circuit/p2p/${self}`, `/ip4/1.2.3.5/tcp/1/p2p/${relayPeer}/p2p-circuit`, '/ip4/192.168.1.10/tcp/4747'])).toEqual([relayPeer])
  })
})

describe('connection choice for our streams', () => {
  const conn = (id: string, status: string, limited: boolean): Connection => ({ id, status, limits: limited ? { bytes: 1n } : undefined }) as unknown as Connection
  it('prefers an open direct connection, then an open relayed one, never a closing one', () => {
    expect(pickConnection([conn('r', 'open', true), conn('d', 'open', false)])?.id).toBe('d')
    expect(pickConnection([conn('d', 'closing', false), conn('r', 'open', true)])?.id).toBe('r')
    expect(pickConnection([conn('d', 'closed', false)])).toBeUndefined()
    expect(pickConnection([])).toBeUndefined()
  })
})
