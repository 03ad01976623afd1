import { afterAll, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ReadFloor, readFloorFileName } from '../../src/runtime/consensus/read-floor.js'

const made: string[] = []
const dir = (): string => { const d = mkdtempSync(join(tmpdir(), 'mesh-read-floor-')); made.push(d); return d }
afterAll(() => { for (const d of made) rmSync(d, { recursive: true, force: true }) })

describe('ReadFloor: the highest prefix a node has answered plain reads at, kept across restarts', () => {
  it('starts at 0, rises with answers (never falls), and a new process on the same data dir starts from it', () => {
    const d = dir()
    const floor = new ReadFloor(d, 'g1')
    expect(floor.value).toBe(0)
    floor.served(7)
    floor.served(3)
    expect(floor.value).toBe(7)
    expect(JSON.parse(readFileSync(join(d, readFloorFileName), 'utf8'))).toEqual({ genesis: 'g1', lastApplied: 7 })
    const again = new ReadFloor(d, 'g1')
    expect(again.value).toBe(7)
    expect(again.ignored).toBeNull()
  })

  it('ignores, and says so, a file of another genesis, a corrupt file, or a nonsense value', () => {
    const d = dir()
    new ReadFloor(d, 'g1').served(9)
    const other = new ReadFloor(d, 'g2')
    expect(other.value).toBe(0)
    expect(other.ignored).toMatch(/another genesis/)
    writeFileSync(join(d, readFloorFileName), '{"genesis":"g1","lastApp')
    const corrupt = new ReadFloor(d, 'g1')
    expect(corrupt.value).toBe(0)
    expect(corrupt.ignored).toMatch(/not valid JSON/)
    writeFileSync(join(d, readFloorFileName), '{"genesis":"g1","lastApplied":-4}')
    expect(new ReadFloor(d, 'g1').ignored).toMatch(/non-negative integer/)
  })

  it('without a data dir it keeps the floor in memory; a write failure is recorded, not thrown', () => {
    const mem = new ReadFloor(null, 'g1')
    mem.served(5)
    expect(mem.value).toBe(5)
    const d = dir()
    const floor = new ReadFloor(d, 'g1')
    mkdirSync(join(d, `${readFloorFileName}.tmp`)) // the temporary file cannot be written
    expect(() => floor.served(4)).not.toThrow()
    expect(floor.value).toBe(4)
    expect(floor.lastError).toMatch(/cannot write/)
  })
})
