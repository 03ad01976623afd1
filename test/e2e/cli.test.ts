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

  it.each([['--help'], ['start', '--help'], ['status', '--help'], ['peers', '--help'], ['init', '--help'], ['demo', '--help'], ['task', 'submit', '--help'], ['task', 'list', '--help'], ['memory', 'store', '--help'], ['consensus', '--help'], ['send', '--help'], ['messages', '--help'], ['report', '--help'], ['mcp', '--help'], ['reputation', '--help'], ['psk', 'generate', '--help']])('mesh %s describes the command', (...args) => {
    const result = mesh(args)
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/Usage: mesh/)
  })

  it('start --help lists every node option', () => {
    const help = mesh(['start', '--help']).stdout
    for (const flag of ['--data-dir', '--listen', '--announce', '--bootstrap', '--network', '--name', '--capabilities', '--api', '--api-token', '--heartbeat-interval-ms', '--failure-timeout-ms', '--max-concurrent', '--load-shedding', '--genesis', '--config', '--json']) {
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

  it('with --api-token the API requires the bearer token, and the CLI sends it', async () => {
    const token = 'a-test-token-of-32-characters-xx'
    const node = await cluster.start('token-node', { apiToken: token })
    const denied = await fetch(`${node.api}/v1/status`)
    expect(denied.status).toBe(401)
    expect(await denied.json()).toMatchObject({ error: expect.stringMatching(/Bearer/) })
    const status = await cluster.status(node) // the harness sends the token
    expect(status.peerId).toBe(node.runtime.peerId)
    const viaCli = mesh(['status', '--json', '--data-dir', node.dataDir, '--api-token', token])
    expect(viaCli.code).toBe(0)
    expect((JSON.parse(viaCli.stdout) as { peerId: string }).peerId).toBe(node.runtime.peerId)
    const withoutToken = mesh(['status', '--data-dir', node.dataDir])
    expect(withoutToken.code).toBe(1)
    expect(withoutToken.stderr).toMatch(/401/)
    // a browser: the page needs /?token=…, which sets a session cookie the page's requests then carry
    expect((await fetch(`${node.api}/`)).status).toBe(401)
    expect((await fetch(`${node.api}/?token=wrong-token-of-32-characters-xx`, { redirect: 'manual' })).status).toBe(401)
    const login = await fetch(`${node.api}/?token=${token}`, { redirect: 'manual' })
    expect(login.status).toBe(303)
    expect(login.headers.get('location')).toBe('/')
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string
    expect(login.headers.get('set-cookie')).toMatch(/HttpOnly; SameSite=Strict; Path=\//)
    const page = await fetch(`${node.api}/`, { headers: { cookie } })
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/text\/html/)
    expect((await fetch(`${node.api}/v1/topology`, { headers: { cookie } })).status).toBe(200)
    expect((await fetch(`${node.api}/v1/status`, { headers: { cookie: 'mesh_token=not-it' } })).status).toBe(401)
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

describe('mesh demo', () => {
  it('forms a Raft network of N local nodes, serves the store and proposals, and stops them all on Ctrl-C', async () => {
    const { spawn } = await import('node:child_process')
    const demo = spawn(process.execPath, [meshBin, 'demo', '--nodes', '3', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let api: string | undefined
    try {
      let buffer = ''
      let errors = ''
      demo.stderr.on('data', (chunk: Buffer) => { errors += chunk.toString() })
      const seen = await new Promise<{ names: string[], root: string }>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`demo did not show 3 alive voters in time; output: ${buffer.slice(-2000)} ${errors.slice(-2000)}`)) }, 240_000)
        demo.stdout.on('data', (chunk: Buffer) => {
          buffer += chunk.toString()
          for (const line of buffer.split('\n')) {
            if (!line.startsWith('{')) continue
            try {
              // one JSON snapshot per second (src/cli/demo-view.ts DemoSnapshot)
              const snapshot = JSON.parse(line) as { dir: string, page: string | null, members: Array<{ name: string, state: string, role: string }> }
              api = snapshot.page?.replace(/\/$/, '')
              const alive = snapshot.members.filter(m => m.state === 'alive' && m.role === 'voter').map(m => m.name).sort()
              if (alive.length === 3) { clearTimeout(timer); resolve({ names: alive, root: snapshot.dir }) }
            } catch {}
          }
        })
        demo.once('exit', code => { clearTimeout(timer); reject(new Error(`demo exited early (${code}): ${buffer.slice(-2000)} ${errors.slice(-2000)}`)) })
      })
      expect(seen.names).toEqual(['demo-1', 'demo-2', 'demo-3'])
      // issue 12's new-user scenario (`mesh memory store` on a demo answered 404): the demo is a Raft
      // network now, so the store is the consensus one; a write on one node is read on another
      const stored = mesh(['memory', 'store', 'greeting', 'hello', '--data-dir', join(seen.root, 'node-2')])
      expect(stored.stderr).toBe('')
      expect(stored.code).toBe(0)
      expect(stored.stdout).toMatch(/stored default\/greeting at seq \d+/)
      let read: { value?: string, consistency?: string } = {}
      for (let attempt = 0; attempt < 300 && read.value !== 'hello'; attempt++) {
        const got = mesh(['memory', 'get', 'greeting', '--data-dir', join(seen.root, 'node-3'), '--json'])
        if (got.code === 0) read = JSON.parse(got.stdout) as typeof read
        if (read.value !== 'hello') await new Promise(resolve => setTimeout(resolve, 200))
      }
      expect(read).toMatchObject({ value: 'hello', consistency: 'sequential' })
      // and a proposal is decided through Raft (it answered 404 too)
      const proposed = mesh(['propose', '{"plan":"demo"}', '--data-dir', join(seen.root, 'node-1'), '--json'])
      expect(proposed.code).toBe(0)
      const id = (JSON.parse(proposed.stdout) as { id: string }).id
      const shown = mesh(['proposals', id, '--data-dir', join(seen.root, 'node-1')])
      expect(JSON.parse(shown.stdout)).toMatchObject({ protocol: 'raft', finality: 'final', status: 'open' })
      demo.removeAllListeners('exit')
      const exited = new Promise<number | null>(resolve => demo.once('exit', code => { resolve(code) }))
      demo.kill('SIGINT')
      expect(await exited).toBe(0)
      // the nodes are gone: the first node's API no longer answers, and the temp folder is removed
      await expect(fetch(`${api as string}/health`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow()
      expect(() => statSync(seen.root)).toThrow()
    } finally {
      if (demo.exitCode == null && demo.pid != null) process.kill(demo.pid, 'SIGKILL')
    }
  }, 300_000)
})
