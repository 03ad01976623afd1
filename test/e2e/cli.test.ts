/** The `mesh` command as a user runs it: identity, errors and exit codes, config precedence. */
import { afterAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster, meshBin } from './harness.js'

const root = mkdtempSync(join(tmpdir(), 'mesh-cli-'))

function mesh (args: string[], env: Record<string, string> = {}): { code: number | null, stdout: string, stderr: string } {
  const result = spawnSync(process.execPath, [meshBin, ...args], { encoding: 'utf8', env: { ...process.env, MESH_DATA_DIR: '', ...env }, timeout: 30_000 })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

afterAll(() => { rmSync(root, { recursive: true, force: true }) })

describe('mesh init', () => {
  it('creates an Ed25519 identity (mode 0600) and prints the same PeerId every time', () => {
    const dir = join(root, 'init')
    const first = mesh(['init', '--data-dir', dir, '--json'])
    expect(first.code).toBe(0)
    const created = JSON.parse(first.stdout) as { peerId: string, created: boolean }
    expect(created.created).toBe(true)
    expect(created.peerId).toMatch(/^12D3KooW/)
    expect(statSync(join(dir, 'identity.key')).mode & 0o777).toBe(0o600)
    const second = JSON.parse(mesh(['init', '--data-dir', dir, '--json']).stdout) as { peerId: string, created: boolean }
    expect(second).toEqual({ ...created, created: false })
    expect(mesh(['init', '--data-dir', dir]).stdout).toContain(created.peerId)
  })

  it('refuses a corrupt key file with a clear error and leaves it in place', () => {
    const dir = join(root, 'corrupt')
    mesh(['init', '--data-dir', dir])
    writeFileSync(join(dir, 'identity.key'), 'not a key')
    const result = mesh(['start', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/identity\.key is corrupt/)
    expect(result.stderr).toMatch(/not replaced/)
    expect(readFileSync(join(dir, 'identity.key'), 'utf8')).toBe('not a key')
  })
})

describe('usage errors', () => {
  it.each([
    [['start', '--bogus'], /unknown option '--bogus'/],
    [['start', '--heartbeat-interval-ms', 'abc'], /--heartbeat-interval-ms: "abc" is not a whole number/],
    [['start', '--bootstrap', '/ip4/127.0.0.1/tcp/4747'], /--bootstrap: .*has no \/p2p\//],
    [['start', '--listen', 'not-a-multiaddr'], /--listen: "not-a-multiaddr" is not a multiaddr/],
    [['start', '--network', 'Bad Name'], /--network:/],
    [['start', '--api', '0.0.0.0:4748'], /--api: refusing .* without --api-token/],
    [['start', '--failure-timeout-ms', '1000', '--heartbeat-interval-ms', '2000'], /--failure-timeout-ms: must be larger/],
    [['demo', '--nodes', '99'], /--nodes:/]
  ])('mesh %j exits 2 with one line naming the flag', (args, message) => {
    const result = mesh(args[0] === 'start' ? [...args, '--data-dir', join(root, 'unused')] : args)
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(message)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
  })

  it('bad environment values and config files are errors too', () => {
    expect(mesh(['start', '--data-dir', join(root, 'env')], { MESH_FAILURE_TIMEOUT_MS: 'soon' }).stderr).toMatch(/--failure-timeout-ms: "soon"/)
    const file = join(root, 'bad.json')
    writeFileSync(file, '{"netwrk": "x"}')
    const result = mesh(['start', '--data-dir', join(root, 'env'), '--config', file])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/unknown key "netwrk"/)
  })

  it('status without a running node says how to start one', () => {
    const result = mesh(['status', '--data-dir', join(root, 'nothing-here')])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/no running node found .*`mesh start --data-dir/)
  })

  it.each([['--help'], ['start', '--help'], ['status', '--help'], ['peers', '--help'], ['init', '--help'], ['demo', '--help']])('mesh %s describes the command', (...args) => {
    const result = mesh(args)
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/Usage: mesh/)
  })

  it('start --help lists every node option', () => {
    const help = mesh(['start', '--help']).stdout
    for (const flag of ['--data-dir', '--listen', '--announce', '--bootstrap', '--network', '--name', '--capabilities', '--api', '--api-token', '--heartbeat-interval-ms', '--failure-timeout-ms', '--config', '--json']) {
      expect(help).toContain(flag)
    }
  })
})

describe('configuration precedence (flag > env > file > default) in a running node', () => {
  const cluster = new Cluster()
  afterAll(async () => { await cluster.stopAll() })

  it('applies each layer', async () => {
    const file = join(cluster.root, 'config.json')
    writeFileSync(file, JSON.stringify({ name: 'from-file', capabilities: ['gpu', 'cuda'], 'failure-timeout-ms': 7000, heartbeatIntervalMs: 900 }))
    const node = await cluster.start('ignored', {
      extraArgs: ['--config', file, '--name', 'from-flag']
    })
    const status = await cluster.status(node)
    expect(status.name).toBe('from-flag') // flag beats file (the harness also passes --name: last flag wins)
    expect(status.members.find(m => m.self)?.capabilities).toEqual(['gpu', 'cuda']) // file beats default
    // the harness passes --failure-timeout-ms and --heartbeat-interval-ms as flags: they beat the file
    expect(status.failureTimeoutMs).toBe(3000)
    expect(status.heartbeatIntervalMs).toBe(500)
  })

  it('environment beats the file', async () => {
    const file = join(cluster.root, 'config2.json')
    writeFileSync(file, JSON.stringify({ capabilities: 'from-file' }))
    process.env.MESH_CAPABILITIES = 'from-env,also-env'
    try {
      const node = await cluster.start('env-node', { extraArgs: ['--config', file] })
      const status = await cluster.status(node)
      expect(status.members.find(m => m.self)?.capabilities).toEqual(['from-env', 'also-env'])
    } finally {
      delete process.env.MESH_CAPABILITIES
    }
  })
})
