/** [founding] resolveFounding (src/runtime/founding.ts) on the paths that need no peer. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { resolveConfig } from '../../src/runtime/config.js'
import { durationFromEnv, FoundingError, resolveFounding } from '../../src/runtime/founding.js'
import { genesisHash, makeGenesis, readGenesis } from '../../src/runtime/consensus/genesis.js'

const root = mkdtempSync(join(tmpdir(), 'mesh-founding-'))
afterAll(() => { rmSync(root, { recursive: true, force: true }) })

async function setup (flags: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
  const dataDir = mkdtempSync(join(root, 'node-'))
  const { config, sources } = resolveConfig({ dataDir, network: 'lab', name: 'n1', listen: ['/ip4/127.0.0.1/tcp/0'], mdns: 'off', ...flags }, env, {})
  const privateKey = await generateKeyPair('Ed25519')
  const lines: string[] = []
  return { config, sources, privateKey, lines, log: (line: string) => { lines.push(line) }, dataDir }
}

describe('resolveFounding', () => {
  it('no genesis, no bootstrap, mDNS off: founds a one-member Raft network and writes genesis.json', async () => {
    const s = await setup({})
    const outcome = await resolveFounding({ ...s, genesis: undefined })
    expect(outcome.kind).toBe('founded')
    const written = readGenesis(join(s.dataDir, 'genesis.json'))
    expect(written.consensus).toBe('raft')
    expect(written.network).toBe('lab')
    expect(written.validators).toEqual([{ peer_id: peerIdFromPrivateKey(s.privateKey).toString(), name: 'n1' }])
    expect(genesisHash(written)).toBe(genesisHash(outcome.genesis as NonNullable<typeof outcome.genesis>))
    expect(outcome.banner(['/ip4/127.0.0.1/tcp/1/p2p/X']).join('\n')).toMatch(/founded +network lab \(raft, genesis [0-9a-f]{16}\); others join with --bootstrap \/ip4\/127\.0\.0\.1\/tcp\/1\/p2p\/X \[--genesis-hash [0-9a-f]{16}\]/)
  })

  it('--consensus pbft founds a one-validator pBFT network', async () => {
    const s = await setup({ consensus: 'pbft' })
    const outcome = await resolveFounding({ ...s, genesis: undefined })
    expect(outcome.genesis?.consensus).toBeUndefined() // pBFT: the field is absent
    expect(outcome.genesis?.validators).toHaveLength(1)
  })

  it('--consensus none (or MESH_CONSENSUS=none): gossip only, nothing written', async () => {
    for (const s of [await setup({ consensus: 'none' }), await setup({}, { MESH_CONSENSUS: 'none' })]) {
      const outcome = await resolveFounding({ ...s, genesis: undefined })
      expect(outcome.kind).toBe('gossip-only')
      expect(outcome.genesis).toBeUndefined()
      expect(() => readFileSync(join(s.dataDir, 'genesis.json'))).toThrow()
    }
  })

  it('a given genesis wins; a disagreeing --consensus flag is warned about, not the env', async () => {
    const s = await setup({ consensus: 'pbft' })
    const genesis = makeGenesis('lab', [{ peer_id: peerIdFromPrivateKey(s.privateKey).toString(), name: 'n1' }], {}, 'raft')
    const outcome = await resolveFounding({ ...s, genesis })
    expect(outcome.kind).toBe('given')
    expect(outcome.genesis).toBe(genesis)
    expect(s.lines.join('\n')).toMatch(/warning: --consensus pbft is ignored: this node has a genesis \(raft/)
    const quiet = await setup({}, { MESH_CONSENSUS: 'none' })
    await resolveFounding({ ...quiet, genesis })
    expect(quiet.lines).toEqual([])
  })

  it('a given genesis that differs from --genesis-hash is refused (exit 2); a matching one starts', async () => {
    const s = await setup({ genesisHash: '0000000000000000' })
    const genesis = makeGenesis('lab', [{ peer_id: peerIdFromPrivateKey(s.privateKey).toString(), name: 'n1' }], {}, 'raft')
    await expect(resolveFounding({ ...s, genesis })).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/not the pinned 0000000000000000/) })
    const matching = await setup({ genesisHash: genesisHash(genesis) })
    expect((await resolveFounding({ ...matching, genesis })).kind).toBe('given')
  })

  it('--voters on a node whose genesis is pBFT is refused (exit 2)', async () => {
    const s = await setup({ voters: 'auto:3' })
    const genesis = makeGenesis('lab', [{ peer_id: peerIdFromPrivateKey(s.privateKey).toString(), name: 'n1' }])
    await expect(resolveFounding({ ...s, genesis })).rejects.toThrow(FoundingError)
    await expect(resolveFounding({ ...s, genesis })).rejects.toMatchObject({ exitCode: 2 })
  })

  it('durations from the environment: empty means the default; junk is refused', () => {
    expect(durationFromEnv({}, 'MESH_FOUNDING_GRACE_MS', 3000)).toBe(3000)
    expect(durationFromEnv({ MESH_FOUNDING_GRACE_MS: '' }, 'MESH_FOUNDING_GRACE_MS', 3000)).toBe(3000)
    expect(durationFromEnv({ MESH_FOUNDING_GRACE_MS: '500' }, 'MESH_FOUNDING_GRACE_MS', 3000)).toBe(500)
    expect(() => durationFromEnv({ MESH_FOUNDING_GRACE_MS: '3s' }, 'MESH_FOUNDING_GRACE_MS', 3000)).toThrow(/not a whole number/)
  })
})
