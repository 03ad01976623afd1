/**
 * `mesh demo`'s table (src/cli/demo-view.ts renderSnapshot) and its --nodes check: what each section
 * shows, and that member rows keep the 2-space column layout test/e2e/demo.test.ts reads.
 */
import { describe, expect, it } from 'vitest'
import { renderSnapshot } from '../../src/cli/demo-view.js'
import type { DemoMemberRow, DemoSnapshot } from '../../src/cli/demo-view.js'
import { demoNodeCount } from '../../src/cli/demo.js'
import { CliError } from '../../src/cli/client.js'

const member = (index: number, over: Partial<DemoMemberRow> = {}): DemoMemberRow => ({
  name: `demo-${index}`,
  peerId: `12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA${index}`,
  state: 'alive',
  role: index <= 3 ? 'voter' : 'worker',
  leader: index === 1,
  load: { queued: 0, running: index === 4 ? 1 : 0, capacity: 2 },
  pid: 1000 + index,
  process: 'running',
  ...over
})

const snapshot = (over: Partial<DemoSnapshot> = {}): DemoSnapshot => ({
  time: '2026-12-06T06:00:00.000Z',
  dir: '/tmp/mesh-demo-x',
  network: 'demo-1',
  page: 'http://127.0.0.1:4000/',
  viewFrom: 'demo-1',
  members: [1, 2, 3, 4, 5].map(i => member(i)),
  consensus: { mode: 'raft', leader: 'demo-1', term: 2, commitIndex: 14, appliedIndex: 14 },
  tasks: {
    counts: { pending: 0, assigned: 0, running: 1, completed: 4, failed: 0, cancelled: 0 },
    recent: [
      { id: 'demo-task-5', state: 'running', worker: 'demo-4', result: null },
      { id: 'demo-task-1', state: 'completed', worker: 'demo-5', result: `{"sha256":"${'a'.repeat(64)}"}` }
    ]
  },
  value: { key: 'demo-key', value: 'hello from demo-1', seq: 9 },
  proposal: { id: 'p-10-0', status: 'open', approvals: 0, rejections: 0, requiredApprovals: 1, validatorCount: 1 },
  status: null,
  voteCommand: 'mesh vote p-10-0 approve --data-dir /tmp/mesh-demo-x/node-1',
  ...over
})

/** The member rows as the e2e test reads them: columns split on 2+ spaces. */
function rows (text: string): string[][] {
  return text.split('\n').filter(l => /^demo-\d+ {2}/.test(l)).map(l => l.trim().split(/ {2,}/))
}

describe('mesh demo table', () => {
  it('shows members with state, role, load and PID; consensus; tasks; the value; the open proposal and how to vote', () => {
    const text = renderSnapshot(snapshot())
    expect(text).toMatch(/^MEMBERS {4}5: 3 voters, 2 workers {3}alive 5 {2}suspect 0 {2}failed 0 {3}\(as demo-1 sees them\)$/m)
    expect(rows(text)).toEqual([
      ['demo-1', '12D3Ko…AAAAA1', 'alive', 'voter (leader)', '0/2, 0', '1001', 'running'],
      ['demo-2', '12D3Ko…AAAAA2', 'alive', 'voter', '0/2, 0', '1002', 'running'],
      ['demo-3', '12D3Ko…AAAAA3', 'alive', 'voter', '0/2, 0', '1003', 'running'],
      ['demo-4', '12D3Ko…AAAAA4', 'alive', 'worker', '1/2, 0', '1004', 'running'],
      ['demo-5', '12D3Ko…AAAAA5', 'alive', 'worker', '0/2, 0', '1005', 'running']
    ])
    expect(text).toMatch(/^CONSENSUS {2}raft {3}leader demo-1 {3}term 2 {3}commit index 14 {3}applied 14$/m)
    expect(text).toMatch(/^TASKS {6}running 1 {2}completed 4$/m)
    expect(text).toMatch(/demo-task-5 +running +demo-4 +-/)
    // long results are cut to one short line
    expect(text).toMatch(/demo-task-1 +completed +demo-5 +\{"sha256":"a+…$/m)
    expect(text).toMatch(/^VALUE {6}default\/demo-key = "hello from demo-1" {3}\(written at seq 9\)$/m)
    expect(text).toMatch(/^PROPOSAL {3}p-10-0: open {3}0 approve, 0 reject; needs 1 of 1$/m)
    expect(text).toContain('vote on it: mesh vote p-10-0 approve --data-dir /tmp/mesh-demo-x/node-1')
    expect(text).not.toContain('>>')
  })

  it('shows a killed member, the status line, and sections no node answered', () => {
    const text = renderSnapshot(snapshot({
      members: [member(1), member(2), member(3), member(4, { state: 'failed', process: 'SIGKILL', load: null }), member(5, { state: '-', pid: null, process: 'not started', load: null })],
      consensus: null,
      tasks: null,
      value: { key: 'demo-key', value: null, seq: null },
      proposal: null,
      voteCommand: null,
      status: 'killed demo-4 (PID 1004) with SIGKILL; watch it turn suspect, then failed; r restarts it'
    }))
    expect(rows(text)[3]).toEqual(['demo-4', '12D3Ko…AAAAA4', 'failed', 'worker', '-', '1004', 'SIGKILL'])
    expect(rows(text)[4]).toEqual(['demo-5', '12D3Ko…AAAAA5', '-', 'worker', '-', '-', 'not started'])
    expect(text).toMatch(/alive 3 {2}suspect 0 {2}failed 1/)
    expect(text).toMatch(/^CONSENSUS {2}no answer$/m)
    expect(text).toMatch(/^TASKS {6}no answer$/m)
    expect(text).toMatch(/^VALUE {6}default\/demo-key: not stored yet$/m)
    expect(text).toMatch(/^PROPOSAL {3}none yet$/m)
    expect(text).toMatch(/^>> killed demo-4 \(PID 1004\) with SIGKILL/m)
  })

  it('--nodes takes 1 to 24', () => {
    expect(demoNodeCount('1')).toBe(1)
    expect(demoNodeCount('5')).toBe(5)
    expect(demoNodeCount('24')).toBe(24)
    for (const bad of ['0', '25', '2.5', 'five', '']) {
      expect(() => demoNodeCount(bad)).toThrow(CliError)
    }
  })
})
