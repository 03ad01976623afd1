/**
 * Scripted scenario transcripts of the Raft core (test/transcripts-raft/*.txt, interpreted by
 * test/transcripts-raft/runner.ts): one test per file, the actual output must equal the recorded one.
 * MESH_REWRITE_TRANSCRIPTS=1 rewrites the files with the actual output instead (then read the diff).
 */
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runRaftTranscript } from '../transcripts-raft/runner.js'

const dir = fileURLToPath(new URL('../transcripts-raft/', import.meta.url))
const files = readdirSync(dir).filter(name => name.endsWith('.txt')).sort()
const rewrite = process.env.MESH_REWRITE_TRANSCRIPTS === '1'

describe('Raft transcripts', () => {
  it('every required scenario has a transcript', () => {
    for (const name of ['election', 'prevote', 'check-quorum', 'log-divergence', 'snapshot', 'membership', 'transfer', 'read-index']) {
      expect(files).toContain(`${name}.txt`)
    }
  })

  for (const name of files) {
    it(name, () => {
      const { expected, actual } = runRaftTranscript(join(dir, name), rewrite)
      if (!rewrite) expect(actual).toBe(expected)
    })
  }
})
