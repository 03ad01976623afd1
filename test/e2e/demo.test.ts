/**
 * `mesh demo --nodes 5` as a user runs it: in a terminal (a detached tmux session on a private tmux
 * server, read with `tmux capture-pane`, typed into with `tmux send-keys`). The table must show 3
 * voters, 2 workers and the 5 demo tasks completed; `k` kills a member and the table shows it suspect
 * or failed; `r` restarts it and it is alive again under a new PID; `q` exits 0, removes the temp
 * folder, and leaves none of the processes the demo started (every PID the table showed, and every
 * process seen under the demo's own) running. Polls with generous deadlines; no timing thresholds.
 *
 * Needs tmux (`apt-get install -y tmux`; .ci/run installs it as root) and the built CLI (npm run build).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { repoRoot, waitUntil } from './harness.js'
import { readmeBlocks } from './readme.js'

const hasTmux = spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status === 0
if (!hasTmux) console.warn('demo.test.ts: SKIPPED: tmux is missing (apt-get install -y tmux; .ci/run does it as root)')

/** A private tmux server (its own socket file) so the test never touches anyone's sessions. */
const socket = join(tmpdir(), `mesh-demo-test-${process.pid}.tmux`)
const session = 'demo'
const exitFile = join(tmpdir(), `mesh-demo-test-${process.pid}.exit`)

interface Row { name: string, state: string, role: string, pid: number | null, process: string }

function tmux (...args: string[]): string {
  return execFileSync('tmux', ['-S', socket, ...args], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] })
}

/** The visible screen of the demo's pane (wrapped lines joined). */
function screen (): string {
  return tmux('capture-pane', '-p', '-J', '-t', session)
}

/** The member rows of the table (columns are separated by 2+ spaces). */
function rows (text: string): Map<string, Row> {
  const result = new Map<string, Row>()
  for (const line of text.split('\n')) {
    if (!/^demo-\d+ {2}/.test(line)) continue
    const [name, , state, role, , pid, proc] = line.trim().split(/ {2,}/)
    if (name == null || state == null || role == null || proc == null) continue
    result.set(name, { name, state, role, pid: pid != null && /^\d+$/.test(pid) ? Number(pid) : null, process: proc })
  }
  return result
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // a zombie (exited, not yet reaped) has stopped running
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    if (/\) Z /.test(stat)) return false
  } catch {
    return false
  }
  return true
}

/** Every process below `pid` (children, grandchildren …), from /proc. */
function descendants (pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const list = children.get(ppid) ?? []
      list.push(Number(entry))
      children.set(ppid, list)
    } catch {}
  }
  const found: number[] = []
  const queue = [pid]
  while (queue.length > 0) {
    const next = queue.shift() as number
    for (const child of children.get(next) ?? []) { found.push(child); queue.push(child) }
  }
  return found
}

describe.skipIf(!hasTmux)('mesh demo in a terminal (tmux)', () => {
  /** Every PID seen: in the table's PID column and below the pane's shell. */
  const seen = new Set<number>()
  let panePid: number | null = null
  let folder: string | null = null

  /** Read the screen, note its PIDs and the processes below the pane. */
  const look = (): string => {
    const text = screen()
    for (const row of rows(text).values()) if (row.pid != null) seen.add(row.pid)
    if (panePid != null) for (const pid of descendants(panePid)) seen.add(pid)
    folder ??= /data dirs and logs in (\S+)/.exec(text)?.[1] ?? null
    return text
  }

  afterAll(() => {
    try { tmux('kill-server') } catch {}
    for (const pid of seen) if (alive(pid)) { try { process.kill(pid, 'SIGKILL') } catch {} }
    if (folder != null && folder.includes('mesh-demo-')) rmSync(folder, { recursive: true, force: true })
    rmSync(exitFile, { force: true })
    rmSync(socket, { force: true })
  })

  it('forms 3 voters and 2 workers, runs the tasks; k fails a member, r brings it back, q exits 0 and leaves no process', async () => {
    rmSync(exitFile, { force: true })
    const quote = (text: string): string => `'${text.replace(/'/g, "'\\''")}'`
    // the README's demo command as written (`npx mesh demo --nodes 5`), in this checkout
    const [demoBlock] = readmeBlocks(readFileSync(join(repoRoot, 'README.md'), 'utf8'), 'The demo')
    const demoLine = demoBlock?.[0] ?? ''
    expect(demoLine).toMatch(/^npx mesh demo --nodes 5$/)
    const command = `cd ${quote(repoRoot)} && ${demoLine}; echo "exit=$?" > ${quote(exitFile)}`
    tmux('new-session', '-d', '-s', session, '-x', '220', '-y', '60', command)
    panePid = Number(tmux('display-message', '-p', '-t', session, '#{pane_pid}').trim())

    // formed: 5 members alive, 3 voters (one of them the leader), 2 workers, and the 5 demo tasks completed
    await waitUntil('the table to show 3 voters, 2 workers, all alive, and 5 tasks completed', 300_000, async () => {
      const text = look()
      const members = [...rows(text).values()]
      const voters = members.filter(r => r.role.startsWith('voter'))
      const ok = members.length === 5 && voters.length === 3 && members.filter(r => r.role === 'worker').length === 2 &&
        members.every(r => r.state === 'alive' && r.process === 'running' && r.pid != null) &&
        voters.some(r => r.role === 'voter (leader)') && /^TASKS\s+.*completed 5\b/m.test(text)
      return ok ? true : undefined
    }, 1_000)
    let text = look()
    expect(text).toMatch(/live page\s+http:\/\/127\.0\.0\.1:\d+\//)
    expect(text).toMatch(/kill -9 \d+/)
    expect(text).toMatch(/task submit --capability sha256 .* --data-dir \S+node-1 --wait/)
    expect(text).toMatch(/memory store demo-key hello --data-dir \S+node-1/)
    expect(text).toMatch(/^VALUE\s+default\/demo-key = "hello from demo-1"/m)
    expect(text).toMatch(/^PROPOSAL\s+p-\S+: open/m)
    expect(folder).not.toBeNull()

    // k: one member other than demo-1 is killed; the table shows it suspect or failed
    tmux('send-keys', '-t', session, 'k')
    const killed = await waitUntil('the status line to name the killed member', 60_000, async () => {
      const match = /^>> killed (demo-\d+) \(PID (\d+)\)/m.exec(look())
      return match != null ? { name: match[1] as string, pid: Number(match[2]) } : undefined
    }, 500)
    expect(killed.name).not.toBe('demo-1')
    await waitUntil(`${killed.name} to show as suspect or failed`, 120_000, async () => {
      const row = rows(look()).get(killed.name)
      return row != null && (row.state === 'suspect' || row.state === 'failed') && row.process === 'SIGKILL' ? true : undefined
    }, 500)
    expect(alive(killed.pid)).toBe(false)

    // r: it restarts on its data dir under a new PID and is alive again
    tmux('send-keys', '-t', session, 'r')
    await waitUntil(`${killed.name} to be alive again under a new PID`, 180_000, async () => {
      const row = rows(look()).get(killed.name)
      return row != null && row.state === 'alive' && row.process === 'running' && row.pid != null && row.pid !== killed.pid ? true : undefined
    }, 1_000)
    text = look()
    expect(text).toMatch(new RegExp(`^>> restarted ${killed.name} \\(PID \\d+\\)`, 'm'))
    expect([...rows(text).values()].filter(r => r.role.startsWith('voter'))).toHaveLength(3)

    // q: exit 0, the temp folder removed, no process left
    const demoPids = panePid != null ? descendants(panePid) : []
    for (const pid of demoPids) seen.add(pid)
    tmux('send-keys', '-t', session, 'q')
    const exit = await waitUntil('the demo to exit', 120_000, async () => existsSync(exitFile) ? readFileSync(exitFile, 'utf8').trim() : undefined, 500)
    expect(exit).toBe('exit=0')
    // 5 nodes + the restarted one, and the demo itself
    expect(seen.size).toBeGreaterThanOrEqual(7)
    const left = [...seen].filter(alive).filter(pid => pid !== panePid)
    expect(left).toEqual([])
    expect(existsSync(folder as string)).toBe(false)
  }, 900_000)
})
