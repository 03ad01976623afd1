/**
 * The library entry point (`import { startNode } from 'mesh-coordinator'`, src/index.ts) from real node
 * processes, through the package's `exports` (a temp dir whose node_modules/mesh-coordinator links to
 * this repository, so the built dist/ is what runs):
 * - the example of docs/library.md, extracted from the doc and run as written (so they cannot drift),
 *   on a one-member Raft genesis from `mesh testnet`: handler, task with wait, memory, status, stop;
 * - a library node joining a `mesh start` process as a second member: `on('member')` fires for it,
 *   `send` is acknowledged by it, a message it sends arrives through `on('message')`, and `stop()`
 *   leaves the mesh and removes the temporary data dir;
 * - a TypeScript consumer type-checks against the package's declarations (`exports` → `types`), which
 *   carry no `any`.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { api, Cluster, repoRoot, waitUntil } from './harness.js'
import type { MessageView, SendResult } from '../../src/runtime/messages.js'

/** A directory where `import 'mesh-coordinator'` resolves to this repository (its package.json `exports`). */
function consumerDir (): string {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-lib-test-'))
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(repoRoot, join(dir, 'node_modules', 'mesh-coordinator'), 'dir')
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  return dir
}

/**
 * The README's example: the first ```js block of its "Use it as a library" section. docs/library.md
 * shows the same block, checked identical, so neither can drift from what runs.
 */
function docExample (): string {
  const block = (text: string, where: string): string => {
    const match = /```js\n([\s\S]*?)```/.exec(text)
    if (match == null) throw new Error(`${where} has no \`\`\`js block`)
    return match[1] as string
  }
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const start = readme.indexOf('\n## Use it as a library\n')
  if (start < 0) throw new Error('README.md has no "## Use it as a library" section')
  const example = block(readme.slice(start), 'README.md, "Use it as a library"')
  expect(block(readFileSync(join(repoRoot, 'docs', 'library.md'), 'utf8'), 'docs/library.md'), 'docs/library.md shows the README example').toBe(example)
  return example
}

interface Script {
  child: ChildProcess
  lines: string[]
  stderr: () => string
  exited: Promise<number | null>
}

/** Run `node <file> …args` in `dir` as a child process, collecting its stdout lines. */
function run (dir: string, file: string, args: string[]): Script {
  const child = spawn(process.execPath, [file, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MESH_DATA_DIR: '' } })
  const lines: string[] = []
  let buffer = ''
  let err = ''
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => {
    buffer += chunk
    let end: number
    while ((end = buffer.indexOf('\n')) >= 0) { lines.push(buffer.slice(0, end)); buffer = buffer.slice(end + 1) }
  })
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => { err += chunk })
  const exited = new Promise<number | null>(resolve => { child.once('exit', code => { resolve(code) }) })
  return { child, lines, stderr: () => err, exited }
}

function kill (script: Script | undefined): void {
  const pid = script?.child.pid
  if (pid != null && script?.child.exitCode == null && script?.child.signalCode == null) {
    try { process.kill(pid, 'SIGKILL') } catch {}
  }
}

async function exitWithin (script: Script, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      script.exited,
      new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`the script did not exit within ${ms} ms; stdout:\n${script.lines.join('\n')}\nstderr:\n${script.stderr()}`)) }, ms) })
    ])
  } finally {
    clearTimeout(timer)
  }
}

describe('library: import { startNode } from "mesh-coordinator"', () => {
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  const dirs: string[] = []
  afterAll(async () => {
    await cluster.stopAll()
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  it('the README example runs as written (no data dir, no genesis: the node founds its own network) and prints the task result, the value and the status', async () => {
    const dir = consumerDir()
    dirs.push(dir)
    writeFileSync(join(dir, 'example.mjs'), docExample())
    let script: Script | undefined
    try {
      script = run(dir, 'example.mjs', [])
      const code = await exitWithin(script, 90_000)
      expect(script.stderr()).toBe('')
      expect(code).toBe(0)
      expect(script.lines).toEqual(['task completed HELLO MESH', 'memory hi there', 'status true 1 read-write'])
    } finally {
      kill(script)
    }
  })

  it('the example on a given data dir (a one-member Raft testnet) also runs, and stop() leaves the dir without runtime.json or lock', async () => {
    const dir = consumerDir()
    dirs.push(dir)
    writeFileSync(join(dir, 'example.mjs'), docExample())
    const [member] = cluster.testnet(1, { consensus: 'raft' })
    const dataDir = (member as { dataDir: string }).dataDir
    let script: Script | undefined
    try {
      script = run(dir, 'example.mjs', [dataDir])
      const code = await exitWithin(script, 90_000)
      expect(script.stderr()).toBe('')
      expect(code).toBe(0)
      expect(script.lines).toEqual(['task completed HELLO MESH', 'memory hi there', 'status true 1 read-write'])
    } finally {
      kill(script)
    }
    // stop() left nothing behind that says a node runs there; the given data dir itself stays
    expect(existsSync(join(dataDir, 'runtime.json'))).toBe(false)
    expect(existsSync(join(dataDir, 'node.lock'))).toBe(false)
    expect(existsSync(join(dataDir, 'identity.key'))).toBe(true)
  })

  it('a TypeScript consumer type-checks against the emitted declarations, and the public ones have no any', () => {
    const dir = consumerDir()
    dirs.push(dir)
    symlinkSync(join(repoRoot, 'node_modules', '@types'), join(dir, 'node_modules', '@types'), 'dir')
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] }, files: ['consumer.ts'] }))
    writeFileSync(join(dir, 'consumer.ts'), `
import { startNode, MeshError } from 'mesh-coordinator'
import type { MeshNodeHandle, MemberEvent, MeshTask, NodeStatus } from 'mesh-coordinator'
const node: MeshNodeHandle = await startNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: 'off' })
node.handle('upper', async (payload, { signal }) => { signal.throwIfAborted(); return String(payload).toUpperCase() })
const task: MeshTask = await node.tasks.submit({ capability: 'upper', payload: 'x' }, { wait: true })
node.on('member', (e: MemberEvent) => { console.log(e.state, e.previous) }).on('message', m => { console.log(m.body, m.from) })
const value: string | undefined = await node.memory.get('k')
try { await node.vote('id', 'approve') } catch (err) { if (err instanceof MeshError) console.log(err.status, err.requestId) }
// @ts-expect-error an unknown event is a type error
node.on('nope', () => {})
// @ts-expect-error memory values are strings
await node.memory.set('k', 42)
const status: NodeStatus = await node.status()
console.log(task.result, value, status.members.length)
await node.stop()
`)
    const checked = spawnSync(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8', timeout: 60_000 })
    expect(checked.stdout + checked.stderr).toBe('')
    expect(checked.status).toBe(0)
    for (const file of ['index.d.ts', 'library/node.d.ts', 'library/types.d.ts']) {
      const text = readFileSync(join(repoRoot, 'dist', 'src', file), 'utf8').replace(/\/\*\*[\s\S]*?\*\//g, '')
      expect(text, file).not.toMatch(/\bany\b/)
    }
  })

  it('a library node joins a `mesh start` node: on("member") fires, send is acknowledged, on("message") receives', async () => {
    const dir = consumerDir()
    dirs.push(dir)
    writeFileSync(join(dir, 'joiner.mjs'), `
import { startNode } from 'mesh-coordinator'
const [seed, network, cliPeer] = process.argv.slice(2)
const print = o => { process.stdout.write(JSON.stringify(o) + '\\n') }
const node = await startNode({ bootstrap: [seed], network, name: 'lib-joiner', mdns: 'off', heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
print({ event: 'started', peerId: node.peerId, dataDir: node.dataDir, multiaddrs: node.multiaddrs })
let sent = false
node.on('member', async e => {
  print({ event: 'member', peerId: e.peerId, name: e.name, state: e.state, previous: e.previous })
  if (e.peerId !== cliPeer || e.state !== 'alive' || sent) return
  sent = true
  try {
    const r = await node.send(cliPeer, { hello: 'from the library' })
    print({ event: 'sent', delivered: r.delivered, to: r.to })
  } catch (err) {
    print({ event: 'send-failed', name: err.name, status: err.status, message: err.message })
  }
})
node.on('message', async m => {
  print({ event: 'message', from: m.from, body: m.body })
  await node.stop()
  print({ event: 'stopped' })
})
`)
    const cli = await cluster.start('cli')
    const seed = cli.runtime.multiaddrs[0] as string
    let script: Script | undefined
    const events = (): Array<Record<string, unknown>> => (script?.lines ?? []).map(l => JSON.parse(l) as Record<string, unknown>)
    const event = async (description: string, predicate: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> =>
      await waitUntil(`the library node: ${description}`, 60_000, async () => {
        if (script?.child.exitCode != null) throw new Error(`the script exited (${script.child.exitCode}): ${script.stderr()}`)
        return events().find(predicate)
      })
    try {
      script = run(dir, 'joiner.mjs', [seed, cluster.network, cli.runtime.peerId])
      const started = await event('started', e => e.event === 'started')
      const libraryPeer = started.peerId as string
      const tempDir = started.dataDir as string
      expect(existsSync(tempDir)).toBe(true)
      // membership both ways: the library's on('member') names the CLI node alive; the CLI node lists the library node
      const joined = await event('a member event for the CLI node', e => e.event === 'member' && e.peerId === cli.runtime.peerId && e.state === 'alive')
      expect(joined.name).toBe('cli')
      await cluster.waitForMemberState(cli, libraryPeer, 'alive')
      // send from the library: acknowledged, and in the CLI node's inbox
      const sent = await event('sent', e => e.event === 'sent' || e.event === 'send-failed')
      expect(sent).toEqual({ event: 'sent', delivered: true, to: cli.runtime.peerId })
      const inbox = (await api<{ messages: MessageView[] }>(cli, 'GET', '/v1/messages?limit=100')).body.messages
      expect(inbox.filter(m => m.direction === 'in' && m.from === libraryPeer).map(m => m.body)).toEqual([{ hello: 'from the library' }])
      // a message from the CLI node reaches on('message'); the script then stops its node
      const reply = await api<SendResult>(cli, 'POST', '/v1/messages', { to: libraryPeer, body: { reply: 42 } })
      expect(reply.status).toBe(201)
      expect(await event('message', e => e.event === 'message')).toEqual({ event: 'message', from: cli.runtime.peerId, body: { reply: 42 } })
      await event('stopped', e => e.event === 'stopped')
      expect(await exitWithin(script, 30_000)).toBe(0)
      expect(script.stderr()).toBe('')
      // it left gracefully (the CLI node is told, not left to time it out), and its temporary data dir is gone
      await cluster.waitForMemberState(cli, libraryPeer, 'left', 15_000)
      expect(existsSync(tempDir)).toBe(false)
    } finally {
      kill(script)
    }
  })
})
