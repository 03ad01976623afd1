/**
 * The README's quick start, run as written on a fresh clone (issue 15): every command of the
 * "Quick start" section's code blocks, in order, in a clone of this repository made by the first line.
 *
 * `npm start` listens on the fixed ports 127.0.0.1:4747 and :4748, which may be taken on a shared
 * machine, so the node and every command after it run in a network namespace this test creates (its
 * own 127.0.0.1, nothing else): the commands are the README's, only prefixed with `ip netns exec`.
 * `npm ci` runs outside it, because it needs the registry (the namespace has no route out).
 *
 * Lines are taken from the README, not copied here: a README change that breaks a command breaks this
 * test. The README's placeholders (`<PeerId printed by npm start>`) are filled in from the running node.
 * Needs root (namespaces); skipped with the reason otherwise. Kills what it started by process group.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot, waitUntil } from './harness.js'
import { ip, netnsUnavailableReason } from './netns.js'
import { readmeBlocks } from './readme.js'

const unavailable = netnsUnavailableReason()

/** The environment of a newcomer's shell: none of the test harness' MESH_* settings. */
function userEnv (): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const key of Object.keys(env)) if (key.startsWith('MESH_')) delete env[key]
  return env
}

interface Background { child: ChildProcess, output: () => string }

describe.skipIf(unavailable != null)('README quick start, as written, on a fresh clone', () => {
  let root = ''
  const ns = `mq${process.pid}`
  let nsMade = false
  const background: Background[] = []
  let clone = ''

  /** A command of the README, in the namespace, in the clone; resolves with its output, rejects with it on failure. */
  const run = (line: string, timeoutMs = 180_000): { status: number | null, output: string } => {
    const result = spawnSync('ip', ['netns', 'exec', ns, 'sh', '-c', line], { cwd: clone, encoding: 'utf8', timeout: timeoutMs, env: userEnv() })
    return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}` }
  }
  /** A long-running command (a node), in the namespace, in its own process group so it can be killed whole. */
  const start = (line: string): Background => {
    let text = ''
    const child = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', line], { cwd: clone, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: userEnv() })
    child.stdout?.on('data', (chunk: Buffer) => { text += chunk.toString() })
    child.stderr?.on('data', (chunk: Buffer) => { text += chunk.toString() })
    const started = { child, output: () => text }
    background.push(started)
    return started
  }

  afterAll(async () => {
    for (const { child } of background) {
      if (child.pid != null && child.exitCode == null) { try { process.kill(-child.pid, 'SIGTERM') } catch {} }
    }
    await new Promise(resolve => setTimeout(resolve, 3_000))
    for (const { child } of background) {
      if (child.pid != null) { try { process.kill(-child.pid, 'SIGKILL') } catch {} }
    }
    // a node whose npm/sh parents are gone: its pid is in runtime.json
    for (const dir of ['.mesh-data', '.mesh-data-2']) {
      const info = join(clone, dir, 'runtime.json')
      if (clone !== '' && existsSync(info)) {
        try { process.kill((JSON.parse(readFileSync(info, 'utf8')) as { pid: number }).pid, 'SIGKILL') } catch {}
      }
    }
    if (nsMade) { try { ip('netns', 'del', ns) } catch {} }
    if (root !== '') rmSync(root, { recursive: true, force: true })
  })

  it('runs every command of the quick start: a founded node stores, runs a task, takes a proposal; a second node joins and is promoted to voter', async () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
    const [install, commands, second] = readmeBlocks(readme, 'Quick start')
    expect(install, 'the first block: clone, npm ci && npm start, npm test').toBeDefined()
    expect(commands, 'the second block: commands against the running node').toBeDefined()
    expect(second, 'the third block: a second node joins').toBeDefined()

    // 1. git clone <this repo> mesh-coordinator && cd mesh-coordinator
    root = mkdtempSync(join(tmpdir(), 'mesh-quickstart-'))
    const cloneLine = install?.[0] ?? ''
    expect(cloneLine).toMatch(/^git clone <this repo> (\S+) && cd \1$/)
    const dirName = /^git clone <this repo> (\S+)/.exec(cloneLine)?.[1] ?? ''
    const cloned = spawnSync('git', ['clone', '-q', repoRoot, dirName], { cwd: root, encoding: 'utf8' })
    expect(cloned.status, cloned.stderr).toBe(0)
    clone = join(root, dirName)

    ip('netns', 'add', ns)
    nsMade = true
    ip('-n', ns, 'link', 'set', 'lo', 'up')

    // 2. npm ci && npm start: npm ci here (it needs the registry), npm start in the namespace
    const startLine = install?.find(line => line.includes('npm start')) ?? ''
    const parts = startLine.split('&&').map(p => p.trim())
    expect(parts).toEqual(['npm ci', 'npm start'])
    const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: clone, encoding: 'utf8', timeout: 600_000 })
    expect(ci.status, `npm ci failed:\n${ci.stdout}${ci.stderr}`).toBe(0)
    const founder = start('npm start')
    const runtime = await waitUntil('npm start writes .mesh-data/runtime.json', 120_000, async () => {
      if (founder.child.exitCode != null) throw new Error(`npm start exited ${founder.child.exitCode}:\n${founder.output()}`)
      try { return JSON.parse(readFileSync(join(clone, '.mesh-data', 'runtime.json'), 'utf8')) as { peerId: string, multiaddrs: string[] } } catch { return undefined }
    })
    expect(founder.output()).toMatch(/founded/)
    expect(install).toContain('npm test') // the README's own test command: this test is part of it

    // 3. the commands against the node, each must succeed as written
    const outputs: string[] = []
    for (const line of commands ?? []) {
      const { status, output } = run(line)
      expect(status, `\`${line}\` failed:\n${output}`).toBe(0)
      outputs.push(output)
    }
    const all = outputs.join('\n')
    expect(all).toMatch(/completed/) // mesh task submit … --wait
    expect(all).toMatch(/hello/) // the stored value read back

    // 4. a second node joins through the first, and is made a voter
    const fill = (line: string): string => line.replace(/<PeerId[^>]*>/g, runtime.peerId)
    let secondNode: Background | undefined
    for (const raw of second ?? []) {
      const line = fill(raw)
      if (/^npx mesh start\b/.test(line)) {
        secondNode = start(line)
        await waitUntil('the second node writes runtime.json', 120_000, async () => {
          if (secondNode?.child.exitCode != null) throw new Error(`the second node exited:\n${secondNode.output()}`)
          return existsSync(join(clone, '.mesh-data-2', 'runtime.json')) ? true : undefined
        })
        continue
      }
      // add / promote: retried while the node is not yet known, or not yet caught up (as a user would)
      let last = ''
      await waitUntil(`\`${line}\` succeeds`, 120_000, async () => {
        const { status, output } = run(line, 60_000)
        last = output
        return status === 0 ? true : undefined
      }, 1_000).catch(err => { throw new Error(`${(err as Error).message}; last output:\n${last}`) })
    }
    expect(secondNode, 'the third block starts a second node').toBeDefined()
    expect(existsSync(join(clone, '.mesh-data-2', 'genesis.json')), 'the joiner received the genesis').toBe(true)
    const view = run('npx mesh consensus --json --data-dir ./.mesh-data')
    expect(view.status, view.output).toBe(0)
    const members = (JSON.parse(view.output) as { raft: { members: Array<{ name: string, role: string }> } }).raft.members
    expect(members.filter(m => m.role === 'voter').map(m => m.name)).toContain('second')
  })
})
