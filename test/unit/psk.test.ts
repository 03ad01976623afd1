import { describe, expect, it } from 'vitest'
import { generatePsk, parsePsk, pskFingerprint, PskError } from '../../src/runtime/psk.js'

describe('pre-shared key files (swarm.key format)', () => {
  it('a generated key parses to the canonical three lines; two keys differ, and so do their fingerprints', () => {
    const one = generatePsk()
    const two = generatePsk()
    expect(one).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
    expect(new TextDecoder().decode(parsePsk(one))).toBe(one.trimEnd())
    expect(one).not.toBe(two)
    expect(pskFingerprint(parsePsk(one))).not.toBe(pskFingerprint(parsePsk(two)))
    expect(pskFingerprint(parsePsk(one))).toMatch(/^[0-9a-f]{8}$/)
  })

  it('tolerates CRLF, blank lines and upper-case hex (Kubo files from other tools), normalising them', () => {
    const hex = 'AB'.repeat(32)
    const parsed = parsePsk(`\r\n/key/swarm/psk/1.0.0/\r\n/base16/\r\n${hex}\r\n\r\n`)
    expect(new TextDecoder().decode(parsed)).toBe(`/key/swarm/psk/1.0.0/\n/base16/\n${hex.toLowerCase()}`)
  })

  it.each([
    ['', /expected 3 lines/],
    ['/key/swarm/psk/1.0.0/\n/base16/', /expected 3 lines/],
    [`/key/swarm/psk/2.0.0/\n/base16/\n${'a'.repeat(64)}`, /first line/],
    [`/key/swarm/psk/1.0.0/\n/base64/\n${'a'.repeat(64)}`, /second line/],
    [`/key/swarm/psk/1.0.0/\n/base16/\n${'a'.repeat(63)}`, /64 hex digits/],
    [`/key/swarm/psk/1.0.0/\n/base16/\n${'g'.repeat(64)}`, /64 hex digits/]
  ])('refuses %j with a reason', (text, reason) => {
    expect(() => parsePsk(text)).toThrow(PskError)
    expect(() => parsePsk(text)).toThrow(reason)
  })
})
