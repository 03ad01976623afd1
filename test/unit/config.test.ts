/**
 * resolveConfig (src/runtime/config.ts): "Precedence: flag > env > file > default. Every value is parsed
 * and validated here; a bad one is a ConfigError naming the option."
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ConfigError, defaultApiPort, defaultConfig, defaultNetwork, resolveConfig } from '../../src/runtime/config.js'
import type { NodeConfig } from '../../src/runtime/config.js'

type Flags = Partial<Record<keyof NodeConfig, unknown>>

function resolve (layers: { flags?: Flags, env?: NodeJS.ProcessEnv, file?: Record<string, unknown> } = {}): ReturnType<typeof resolveConfig> {
  return resolveConfig(layers.flags ?? {}, layers.env ?? {}, layers.file ?? {})
}

/** The ConfigError thrown by resolving these layers (fails the test if none, or another error, is thrown). */
function configError (layers: Parameters<typeof resolve>[0]): ConfigError {
  try {
    resolve(layers)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).name).toBe('ConfigError')
    return err as ConfigError
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(layers)}`)
}

let peerId: string

beforeAll(async () => {
  peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
})

describe('precedence: flag > env > file > default', () => {
  it('with nothing given, every option is its default', () => {
    const { config, sources } = resolve()
    expect(config).toEqual(defaultConfig())
    expect(Object.values(sources).every(s => s === 'default')).toBe(true)
    expect(config.network).toBe(defaultNetwork)
    expect(config.api).toEqual({ host: '127.0.0.1', port: defaultApiPort })
  })

  it('network: each layer wins over the ones below it', () => {
    const flags = { network: 'from-flag' }
    const env = { MESH_NETWORK: 'from-env' }
    const file = { network: 'from-file' }
    expect(resolve({ flags, env, file })).toMatchObject({ config: { network: 'from-flag' }, sources: { network: 'flag' } })
    expect(resolve({ env, file })).toMatchObject({ config: { network: 'from-env' }, sources: { network: 'env' } })
    expect(resolve({ file })).toMatchObject({ config: { network: 'from-file' }, sources: { network: 'file' } })
    expect(resolve()).toMatchObject({ config: { network: defaultNetwork }, sources: { network: 'default' } })
  })

  it('heartbeat interval: flag over env over file, numbers parsed from strings', () => {
    const flags = { heartbeatIntervalMs: '1000' }
    const env = { MESH_HEARTBEAT_INTERVAL_MS: '2000' }
    const file = { heartbeatIntervalMs: 4000 }
    expect(resolve({ flags, env, file }).config.heartbeatIntervalMs).toBe(1000)
    expect(resolve({ env, file }).config.heartbeatIntervalMs).toBe(2000)
    expect(resolve({ file }).config.heartbeatIntervalMs).toBe(4000)
    expect(resolve().config.heartbeatIntervalMs).toBe(3000)
  })

  it('api address: flag over env over file', () => {
    const flags = { api: '127.0.0.1:1111' }
    const env = { MESH_API: '127.0.0.1:2222' }
    const file = { api: '127.0.0.1:3333' }
    expect(resolve({ flags, env, file }).config.api).toEqual({ host: '127.0.0.1', port: 1111 })
    expect(resolve({ env, file }).config.api).toEqual({ host: '127.0.0.1', port: 2222 })
    expect(resolve({ file }).config.api).toEqual({ host: '127.0.0.1', port: 3333 })
  })

  it('an empty environment variable counts as not set', () => {
    expect(resolve({ env: { MESH_NETWORK: '' }, file: { network: 'from-file' } }).config.network).toBe('from-file')
  })

  it('a lower layer is not even parsed when a higher one is given', () => {
    // The bad env value is shadowed by the flag, so it cannot fail the start.
    expect(resolve({ flags: { network: 'good' }, env: { MESH_NETWORK: 'Bad Name!' } }).config.network).toBe('good')
  })

  it('the file may use flag names as keys', () => {
    const { config, sources } = resolve({ file: { 'heartbeat-interval-ms': 1500, 'failure-timeout-ms': 6000, 'data-dir': '/tmp/mesh-node' } })
    expect(config).toMatchObject({ heartbeatIntervalMs: 1500, failureTimeoutMs: 6000, dataDir: '/tmp/mesh-node' })
    expect(sources).toMatchObject({ heartbeatIntervalMs: 'file', failureTimeoutMs: 'file', dataDir: 'file' })
  })
})

describe('list values', () => {
  it('from the environment: comma-separated, trimmed, empty items dropped', () => {
    const { config } = resolve({
      env: { MESH_CAPABILITIES: 'gpu, cuda:12 ,,region/eu', MESH_LISTEN: '/ip4/0.0.0.0/tcp/5000,/ip6/::/tcp/5000' }
    })
    expect(config.capabilities).toEqual(['gpu', 'cuda:12', 'region/eu'])
    expect(config.listen).toEqual(['/ip4/0.0.0.0/tcp/5000', '/ip6/::/tcp/5000'])
  })

  it('from the file: arrays', () => {
    const { config } = resolve({ file: { capabilities: ['gpu', 'cpu'], announce: ['/dns4/node.example.com/tcp/4747'] } })
    expect(config.capabilities).toEqual(['gpu', 'cpu'])
    expect(config.announce).toEqual(['/dns4/node.example.com/tcp/4747'])
  })

  it('from repeated flags, each of which may itself hold commas; duplicate capabilities collapse', () => {
    const bootstrap = [`/ip4/10.0.0.1/tcp/4747/p2p/${peerId}`, `/ip4/10.0.0.2/tcp/4747/p2p/${peerId}`]
    const { config } = resolve({ flags: { capabilities: ['gpu', 'cpu,gpu', 'ssd'], bootstrap } })
    expect(config.capabilities).toEqual(['gpu', 'cpu', 'ssd'])
    expect(config.bootstrap).toEqual(bootstrap)
  })

  it('a list in the file that holds a non-string is refused', () => {
    expect(configError({ file: { capabilities: ['gpu', 7] } }).option).toBe('capabilities')
  })
})

describe('bad values throw a ConfigError naming the option', () => {
  const cases: Array<[string, Parameters<typeof resolve>[0], string]> = [
    ['heartbeat "abc"', { flags: { heartbeatIntervalMs: 'abc' } }, 'heartbeat-interval-ms'],
    ['heartbeat "-5" from the environment', { env: { MESH_HEARTBEAT_INTERVAL_MS: '-5' } }, 'heartbeat-interval-ms'],
    ['heartbeat 1.5 from the file', { file: { heartbeatIntervalMs: 1.5 } }, 'heartbeat-interval-ms'],
    ['heartbeat below its minimum', { flags: { heartbeatIntervalMs: '10' } }, 'heartbeat-interval-ms'],
    ['network "Bad Name!"', { flags: { network: 'Bad Name!' } }, 'network'],
    ['network longer than 32', { env: { MESH_NETWORK: 'n'.repeat(33) } }, 'network'],
    ['bootstrap without /p2p/', { flags: { bootstrap: ['/ip4/10.0.0.1/tcp/4747'] } }, 'bootstrap'],
    ['bootstrap that is not a multiaddr', { env: { MESH_BOOTSTRAP: 'seed.example.com:4747' } }, 'bootstrap'],
    ['listen that is not a multiaddr', { file: { listen: ['tcp://0.0.0.0:4747'] } }, 'listen'],
    ['api port 70000', { flags: { api: '127.0.0.1:70000' } }, 'api'],
    ['api without a port', { env: { MESH_API: 'localhost' } }, 'api'],
    ['non-loopback api without a token', { flags: { api: '0.0.0.0:4748' } }, 'api'],
    ['api token too short', { flags: { apiToken: 'short' } }, 'api-token'],
    ['capability with a space', { flags: { capabilities: ['has space'] } }, 'capabilities'],
    ['min peers above max peers', { flags: { minPeers: '10', maxPeers: '5' } }, 'min-peers'],
    ['name longer than 64', { flags: { name: 'x'.repeat(65) } }, 'name']
  ]

  for (const [what, layers, option] of cases) {
    it(`${what} ⇒ --${option}`, () => {
      const err = configError(layers)
      expect(err.option).toBe(option)
      expect(err.message.startsWith(`--${option}: `)).toBe(true)
    })
  }

  it('failure timeout ≤ heartbeat ⇒ --failure-timeout-ms, whichever layers set them', () => {
    expect(configError({ flags: { heartbeatIntervalMs: '5000', failureTimeoutMs: '5000' } }).option).toBe('failure-timeout-ms')
    expect(configError({ env: { MESH_FAILURE_TIMEOUT_MS: '2000' } }).option).toBe('failure-timeout-ms') // default heartbeat 3000
    expect(configError({ file: { heartbeatIntervalMs: 20_000 } }).option).toBe('failure-timeout-ms') // default timeout 10000
    expect(resolve({ flags: { heartbeatIntervalMs: '5000', failureTimeoutMs: '5001' } }).config.failureTimeoutMs).toBe(5001)
  })

  it('a non-loopback api is accepted with a token; loopback forms need none', () => {
    const token = 'a-long-enough-secret-token'
    expect(resolve({ flags: { api: '0.0.0.0:4748', apiToken: token } }).config).toMatchObject({ api: { host: '0.0.0.0', port: 4748 }, apiToken: token })
    expect(resolve({ flags: { api: ':0' } }).config.api).toEqual({ host: '127.0.0.1', port: 0 })
    expect(resolve({ flags: { api: '[::1]:4748' } }).config.api).toEqual({ host: '::1', port: 4748 })
    expect(resolve({ flags: { api: 'localhost:4748' } }).config.api).toEqual({ host: 'localhost', port: 4748 })
    expect(resolve({ flags: { api: '127.0.0.1:65535' } }).config.api.port).toBe(65535)
  })

  it('an unknown key in the file ⇒ ConfigError', () => {
    const err = configError({ file: { network: 'ok', heartbeat: 1000 } })
    expect(err.option).toBe('config')
    expect(err.message).toContain('"heartbeat"')
  })
})
