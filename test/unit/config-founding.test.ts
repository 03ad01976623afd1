/** [founding] The options of founding and joining (src/runtime/config.ts): --consensus, --genesis-hash, --voters. */
import { describe, expect, it } from 'vitest'
import { ConfigError, resolveConfig } from '../../src/runtime/config.js'

const resolve = (flags: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}, file: Record<string, unknown> = {}): ReturnType<typeof resolveConfig> => resolveConfig(flags, env, file)

function refused (flags: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, file: Record<string, unknown> = {}): string {
  try {
    resolve(flags, env, file)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return (err as Error).message
  }
  throw new Error('expected a ConfigError')
}

describe('founding options', () => {
  it('are unset by default (a founded network is Raft; no pin; voters changed by hand)', () => {
    const { config, sources } = resolve()
    expect(config.consensus).toBeUndefined()
    expect(config.genesisHash).toBeUndefined()
    expect(config.voters).toBeUndefined()
    expect(sources.consensus).toBe('default')
  })

  it('--consensus takes raft, pbft or none from any layer; an empty MESH_CONSENSUS means unset', () => {
    expect(resolve({ consensus: 'pbft' }).config.consensus).toBe('pbft')
    expect(resolve({}, { MESH_CONSENSUS: 'none' }).config.consensus).toBe('none')
    expect(resolve({}, {}, { consensus: 'raft' }).config.consensus).toBe('raft')
    expect(resolve({ consensus: 'raft' }, { MESH_CONSENSUS: 'none' }).sources.consensus).toBe('flag')
    const empty = resolve({}, { MESH_CONSENSUS: '' })
    expect(empty.config.consensus).toBeUndefined()
    expect(empty.sources.consensus).toBe('default')
    expect(refused({ consensus: 'paxos' })).toMatch(/--consensus: "paxos" must be raft, pbft or none/)
  })

  it('--genesis-hash is 16 hex digits (case folded)', () => {
    expect(resolve({ genesisHash: '0123456789ABCDEF' }).config.genesisHash).toBe('0123456789abcdef')
    expect(resolve({}, { MESH_GENESIS_HASH: 'fedcba9876543210' }).config.genesisHash).toBe('fedcba9876543210')
    expect(refused({ genesisHash: 'abc' })).toMatch(/--genesis-hash: .*16 hex digits/)
    expect(refused({ genesisHash: '0123456789abcdeg' })).toMatch(/--genesis-hash/)
  })

  it('--voters is auto:N with N odd in 3..9, and Raft only', () => {
    expect(resolve({ voters: 'auto:3' }).config.voters).toBe(3)
    expect(resolve({}, { MESH_VOTERS: 'auto:5' }).config.voters).toBe(5)
    expect(resolve({}, {}, { voters: 'auto:7' }).config.voters).toBe(7)
    expect(refused({ voters: 'auto:4' })).toMatch(/--voters: "auto:4" must be auto:3, auto:5/)
    expect(refused({ voters: '3' })).toMatch(/--voters/)
    expect(refused({ voters: 'auto:1' })).toMatch(/--voters/)
    expect(refused({ voters: 'auto:3', consensus: 'pbft' })).toMatch(/--voters: is Raft only/)
    expect(refused({ voters: 'auto:3', consensus: 'none' })).toMatch(/--voters: needs a consensus network/)
  })
})
