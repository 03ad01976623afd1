/**
 * CI fuzzing (issue 13): the fuzzer (test/fuzz/run.ts) in its own process, fixed seed, 10,000 mutated
 * frames per protocol through each decoder and validator, and a share of them over real streams
 * (and gossip topics) against in-process pBFT and Raft nodes, plus the HTTP API and the config/genesis
 * parsers. Pass: no crash, no unhandled rejection, no hang, every refused stream counted by the node
 * under a reason, the API still answering.
 *
 * Needs the compiled tree (dist/, `npm run build`, as `npm test` does). Streams cost a round trip each,
 * so CI sends fewer frames over them than through the decoders; `npm run fuzz -- --frames 100000` runs
 * the full count over both.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../e2e/harness.js'
import type { FuzzReport } from './run.js'

const seed = 20261205
const decoderFrames = 10_000
const streamFrames = 600

async function runFuzzer (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const script = join(repoRoot, 'dist', 'test', 'fuzz', 'run.js')
  if (!existsSync(script)) throw new Error(`${script} is missing: run npm run build first`)
  const child = spawn(process.execPath, [script, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 570_000)
  const code = await new Promise<number | null>(resolve => { child.on('exit', c => { resolve(c) }) })
  clearTimeout(timer)
  return { code, stdout, stderr }
}

describe('fuzzing every decoder, stream handler, the API and the parsers', () => {
  it(`${decoderFrames} frames per protocol (seed ${seed}): no crash, hang or unhandled rejection`, async () => {
    const { code, stdout, stderr } = await runFuzzer(['--frames', String(decoderFrames), '--stream-frames', String(streamFrames), '--http', '1500', '--parsers', '3000', '--seed', String(seed), '--json'])
    const line = stdout.trim().split('\n').pop() ?? ''
    let report: FuzzReport
    try {
      report = JSON.parse(line) as FuzzReport
    } catch {
      throw new Error(`the fuzzer printed no report (exit ${String(code)}):\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`)
    }
    const failures = report.failures.map(f => `${f.kind} ${f.protocol} frame ${String(f.frame)}: ${f.detail.split('\n')[0] ?? ''} hex ${(f.hex ?? '').slice(0, 200)}`)
    expect(failures).toEqual([])
    expect(report.uncaughtExceptions).toBe(0)
    expect(report.unhandledRejections).toBe(0)
    expect(report.pass).toBe(true)
    expect(code).toBe(0)
    const names = report.protocols.map(p => p.protocol)
    for (const name of ['state', 'sync', 'probe', 'auction', 'steal', 'records', 'msg', 'msg-gossip', 'eventual', 'eventual-gossip', 'votes', 'votes-gossip', 'aggregate', 'pbft', 'raft']) expect(names).toContain(name)
    for (const p of report.protocols) {
      expect(p.decoder.frames).toBe(decoderFrames)
      expect(p.stream.frames).toBe(streamFrames)
      expect(p.crashes).toBe(0)
      expect(p.hangs).toBe(0)
      // mutated frames are refused, and the node counts them under reasons
      expect(Object.keys(p.decoder.reasons).filter(r => r !== 'accepted').length).toBeGreaterThan(0)
      if (p.stream.outcomes.reset != null && p.stream.outcomes.reset > 0) {
        expect(Object.values(p.refusals).reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
      }
    }
    expect(report.http.failures).toBe(0)
    expect(report.parsers.failures).toBe(0)
  }, 600_000)
})
