/**
 * [founding] A node founds a network when there is none (issue 15; docs/founding.md), with real
 * processes on 127.0.0.1 (OS-chosen ports; mDNS off unless the case needs it):
 * - a node with no genesis and no --bootstrap founds a one-member Raft network: memory, tasks and
 *   proposals work at once;
 * - a second node --bootstraps from it, fetches the genesis (same hash; genesis.json in its data dir),
 *   observes, and after `mesh consensus add` + `promote` against the founder is a voter;
 * - a wrong --genesis-hash is refused (exit 2);
 * - `--voters auto:3` on the founder and two joiners: 3 voters, and a write still commits after
 *   kill -9 of the leader;
 * - two nodes started at once with --mdns on and the same network end in one network.
 * The harness sets MESH_CONSENSUS=none for the other tests; these pass MESH_CONSENSUS '' (unset).
 */
import { afterAll, describe, expect, it } from 'vitest'
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { api, Cluster, meshBin, waitUntil } from './harness.js'
import type { NodeProcess } from './harness.js'

const run = promisify(execFile)
const founding = { MESH_CONSENSUS: '' }

interface RaftView {
  role: string
  leader: string | null
  commitIndex: number
  members: Array<{ peerId: string, role: string, match: number | null }>
}
interface ConsensusView { mode: string, raft: RaftView }

/** `node bin/mesh.js …` against `node`'s API, as an operator would type it. */
async function cli (node: NodeProcess, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [meshBin, ...args, '--api', node.api], { encoding: 'utf8', timeout: 120_000 })
  return stdout
}

const consensus = async (node: NodeProcess): Promise<ConsensusView> => (await api<ConsensusView>(node, 'GET', '/v1/consensus')).body
const voters = (view: RaftView): string[] => view.members.filter(m => m.role === 'voter').map(m => m.peerId).sort()
const genesisText = (node: NodeProcess): string => readFileSync(join(node.dataDir, 'genesis.json'), 'utf8')
/** The genesis hash a node printed when it started (founded / joined line). */
const printedHash = (cluster: Cluster, node: NodeProcess): string | undefined => /genesis ([0-9a-f]{16})/.exec(cluster.log(node))?.[1]

describe('founding a network, joining it, promoting joiners', () => {
  const cluster = new Cluster()
  afterAll(async () => { await cluster.stopAll() })
  let founder: NodeProcess
  let joiner: NodeProcess

  it('a node with no genesis and no bootstrap founds a one-member Raft network: memory, tasks and proposals work', async () => {
    founder = await cluster.start('founder', { env: founding, extraArgs: ['--capabilities', 'echo'] })
    expect(existsSync(join(founder.dataDir, 'genesis.json'))).toBe(true)
    // runtime.json is written just before the banner is printed
    const log = await waitUntil('the founder\'s banner', 10_000, async () => cluster.log(founder).includes('Press Ctrl-C') ? cluster.log(founder) : undefined)
    expect(log).toMatch(/founded +network \S+ \(raft, genesis [0-9a-f]{16}\); others join with --bootstrap \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
    await waitUntil('the founder to lead its network', 30_000, async () => (await consensus(founder)).raft.role === 'leader' ? true : undefined)
    expect((await consensus(founder)).mode).toBe('raft')

    expect(await cli(founder, 'memory', 'store', 'greeting', 'hello')).toMatch(/stored/)
    expect(await cli(founder, 'memory', 'get', 'greeting')).toMatch(/hello/)
    const submitted = JSON.parse(await cli(founder, 'task', 'submit', '--capability', 'echo', '--payload', '{"n":7}', '--wait', '--json')) as { task?: { state: string, result?: string } }
    expect(submitted.task?.state).toBe('completed')
    expect(JSON.parse(submitted.task?.result ?? 'null')).toEqual({ n: 7 })
    expect(await cli(founder, 'propose', '{"plan":"a"}')).toMatch(/proposal \S+ recorded at seq \d+/)
  })

  it('a joiner fetches the genesis over the genesis protocol, observes, and becomes a voter after add + promote', async () => {
    const seed = founder.runtime.multiaddrs[0] as string
    joiner = await cluster.start('joiner', { env: founding, bootstrap: [seed] })
    await waitUntil('the joiner\'s banner', 10_000, async () => cluster.log(joiner).includes('Press Ctrl-C') ? true : undefined)
    expect(genesisText(joiner)).toBe(genesisText(founder))
    expect(printedHash(cluster, joiner)).toBe(printedHash(cluster, founder))
    expect(cluster.log(joiner)).toMatch(/trusting the genesis [0-9a-f]{16} from 12D3KooW\w+; pin it with --genesis-hash/)
    await waitUntil('the joiner to observe the founder\'s log', 30_000, async () => {
      const view = await consensus(joiner)
      return view.raft.role === 'observer' && view.raft.leader === founder.runtime.peerId ? true : undefined
    })
    // memory written on the founder is read on the joiner
    expect(await cli(joiner, 'memory', 'get', 'greeting')).toMatch(/hello/)

    await cli(founder, 'consensus', 'add', 'joiner')
    await waitUntil('the joiner to take part as a learner', 30_000, async () => (await consensus(joiner)).raft.role === 'learner' ? true : undefined)
    await waitUntil('the promotion to be accepted', 60_000, async () => {
      try {
        return await cli(founder, 'consensus', 'promote', 'joiner')
      } catch (err) {
        if (/behind|busy/.test(String((err as { stderr?: string }).stderr ?? err))) return undefined
        throw err
      }
    })
    const view = JSON.parse(await cli(founder, 'consensus', '--json')) as ConsensusView
    expect(voters(view.raft)).toEqual([founder.runtime.peerId, joiner.runtime.peerId].sort())
    await waitUntil('the joiner to see itself a voter', 30_000, async () => voters((await consensus(joiner)).raft).length === 2 ? true : undefined)
    // a write through the two-voter network commits
    expect(await cli(joiner, 'memory', 'store', 'after', 'promotion')).toMatch(/stored/)
    // the promoted voter votes on proposals: 2 voters at threshold 0.67 need both (before the fix that
    // made the voters in force count, only the genesis' founder could vote: "only validators vote")
    const proposed = JSON.parse(await cli(founder, 'propose', '{"plan":"b"}', '--json')) as { id: string, requiredApprovals: number }
    expect(proposed.requiredApprovals).toBe(2)
    await cli(founder, 'vote', proposed.id, 'approve')
    await cli(joiner, 'vote', proposed.id, 'approve')
    await waitUntil('the proposal approved on the founder', 30_000, async () =>
      (JSON.parse(await cli(founder, 'proposals', proposed.id, '--json')) as { status: string }).status === 'approved' ? true : undefined)
  })

  it('a restart finds genesis.json and asks nobody', async () => {
    cluster.kill(joiner, 'SIGTERM')
    await cluster.waitExit(joiner)
    joiner = await cluster.start('joiner', { env: founding, bootstrap: [founder.runtime.multiaddrs[0] as string] })
    expect(cluster.log(joiner).split('mesh node started').at(-2) ?? '').not.toMatch(/asking the bootstrap peer/)
    await waitUntil('the restarted joiner to be a voter again', 30_000, async () => voters((await consensus(joiner)).raft).length === 2 ? true : undefined)
  })

  it('a wrong --genesis-hash is refused with exit 2', () => {
    const seed = founder.runtime.multiaddrs[0] as string
    const dataDir = join(cluster.root, 'pinned-wrong')
    const result = spawnSync(process.execPath, [meshBin, 'start', '--data-dir', dataDir, '--network', cluster.network, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0',
      '--bootstrap', seed, '--genesis-hash', '0000000000000000'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, MESH_MDNS: 'off', MESH_CONSENSUS: '' } })
    expect(result.status).toBe(2)
    expect(result.stderr).toMatch(/--genesis-hash: .* not the pinned 0000000000000000: refusing to join/)
    expect(existsSync(join(dataDir, 'genesis.json'))).toBe(false)
  })
})

describe('an unreachable bootstrap peer', () => {
  const cluster = new Cluster()
  afterAll(async () => { await cluster.stopAll() })

  it('is asked again every few seconds with a visible line, until the node is stopped', async () => {
    const { spawn } = await import('node:child_process')
    const { generateKeyPair } = await import('@libp2p/crypto/keys')
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const nobody = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const child = spawn(process.execPath, [meshBin, 'start', '--data-dir', join(cluster.root, 'lonely'), '--network', cluster.network, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0',
      '--bootstrap', `/ip4/127.0.0.1/tcp/1/p2p/${nobody}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MESH_DATA_DIR: '', MESH_MDNS: 'off', MESH_CONSENSUS: '' } })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    try {
      await waitUntil('two retry lines', 30_000, async () => (output.match(/no genesis yet \(.*ECONNREFUSED.*\); asking again in 3 s/g) ?? []).length >= 2 ? true : undefined)
      expect(output).not.toMatch(/mesh node started/)
    } finally {
      if (child.pid != null) process.kill(child.pid, 'SIGKILL')
    }
  })
})

describe('--voters auto:3', () => {
  const cluster = new Cluster()
  afterAll(async () => { await cluster.stopAll() })

  it('the founder makes the first two joiners voters; the network survives kill -9 of the leader', async () => {
    const founder = await cluster.start('founder', { env: founding, extraArgs: ['--voters', 'auto:3'] })
    const seed = founder.runtime.multiaddrs[0] as string
    const joiners = await Promise.all(['j1', 'j2'].map(async name => await cluster.start(name, { env: founding, bootstrap: [seed] })))
    const all = [founder, ...joiners]
    const expected = all.map(n => n.runtime.peerId).sort()
    await waitUntil('3 voters on every node', 90_000, async () => {
      const views = await Promise.all(all.map(consensus))
      return views.every(v => JSON.stringify(voters(v.raft)) === JSON.stringify(expected)) ? true : undefined
    })
    await waitUntil('the founder to say it is done', 10_000, async () => /voters auto:3: 3 voters, done/.test(cluster.log(founder)) ? true : undefined)

    // kill -9 the leader itself (the founder, unless leadership moved): the other two elect one and commit
    const leaderId = (await consensus(founder)).raft.leader
    const victim = all.find(n => n.runtime.peerId === leaderId) as NodeProcess
    cluster.kill(victim, 'SIGKILL')
    await cluster.waitExit(victim)
    const survivors = all.filter(n => n !== victim)
    const leader = await waitUntil('a new leader among the survivors', 60_000, async () => {
      const views = await Promise.all(survivors.map(consensus))
      const id = views[0]?.raft.leader
      return id != null && id !== leaderId && views.every(v => v.raft.leader === id) ? survivors.find(n => n.runtime.peerId === id) : undefined
    })
    const write = await api<{ ok?: boolean, seq?: number }>(leader, 'PUT', '/v1/memory/t/after-kill', { value: 'still' })
    expect(write.status).toBe(200)
    for (const node of survivors) {
      await waitUntil(`${node.name} to read the write`, 30_000, async () => (await api<{ value?: string }>(node, 'GET', '/v1/memory/t/after-kill')).body.value === 'still' ? true : undefined)
    }
  })
})

describe('two founding candidates on one LAN (mDNS)', () => {
  const cluster = new Cluster()
  afterAll(async () => { await cluster.stopAll() })

  it('started at once with --mdns on and no bootstrap, they end in one network', async () => {
    const env = { MESH_CONSENSUS: '', MESH_MDNS: 'on' }
    const [a, b] = await Promise.all([cluster.start('a', { env }), cluster.start('b', { env })]) as [NodeProcess, NodeProcess]
    expect(genesisText(a)).toBe(genesisText(b))
    const genesis = JSON.parse(genesisText(a)) as { validators: Array<{ peer_id: string }> }
    // the lowest PeerId founded
    expect(genesis.validators.map(v => v.peer_id)).toEqual([[a.runtime.peerId, b.runtime.peerId].sort()[0]])
    for (const [node, other] of [[a, b], [b, a]] as const) {
      await cluster.waitForMemberState(node, other.runtime.peerId, 'alive', 60_000)
      await waitUntil(`${node.name} to know the Raft leader`, 30_000, async () => (await consensus(node)).raft.leader === genesis.validators[0]?.peer_id ? true : undefined)
    }
  })

  it('a node started later on the same LAN joins their network instead of founding one', async () => {
    const c = await cluster.start('c', { env: { MESH_CONSENSUS: '', MESH_MDNS: 'on' } })
    expect(genesisText(c)).toBe(genesisText(cluster.node('a')))
    await waitUntil('c to see the founder as a member', 60_000, async () => {
      const status = await cluster.status(c)
      return status.members.filter(m => m.state === 'alive').length === 3 ? true : undefined
    })
    expect(cluster.log(c)).toMatch(/joined network \S+ .*found on the LAN \(mDNS\): trusting the genesis/)
  })
})
