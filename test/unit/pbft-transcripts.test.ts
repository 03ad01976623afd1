/**
 * Scripted scenario transcripts of the pBFT core (test/transcripts/*.txt, interpreted by
 * test/transcripts/runner.ts): one test per file, the actual output must equal the recorded one.
 * MESH_REWRITE_TRANSCRIPTS=1 rewrites the files with the actual output instead (then read the diff).
 */
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runTranscript } from '../transcripts/runner.js'

const dir = fileURLToPath(new URL('../transcripts/', import.meta.url))
const files = readdirSync(dir).filter(name => name.endsWith('.txt')).sort()
const rewrite = process.env.MESH_REWRITE_TRANSCRIPTS === '1'

describe('pBFT transcripts', () => {
  it('there are transcripts to run', () => {
    expect(files.length).toBeGreaterThanOrEqual(4)
  })

  for (const name of files) {
    it(name, () => {
      const { expected, actual } = runTranscript(join(dir, name), rewrite)
      if (!rewrite) expect(actual).toBe(expected)
    })
  }
})
