/**
 * Private networks: a pre-shared key in Kubo's `swarm.key` format, used by libp2p's private-network
 * protector (@libp2p/pnet, XSalsa20 over every connection before Noise). A node without the same key
 * cannot complete a handshake: its first bytes decrypt to garbage and the connection is dropped.
 *
 * The file (three lines):
 *   /key/swarm/psk/1.0.0/
 *   /base16/
 *   <64 hex digits: 32 random bytes>
 */
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'

export const pskHeader = '/key/swarm/psk/1.0.0/'
export const pskEncoding = '/base16/'
/** A key file is three short lines: anything much longer is not one. */
const pskFileBytesMax = 1024

export class PskError extends Error {}

/** A new key file's text (32 random bytes). */
export function generatePsk (): string {
  return `${pskHeader}\n${pskEncoding}\n${randomBytes(32).toString('hex')}\n`
}

/**
 * Parse and check a key file's text; returns the bytes @libp2p/pnet takes (the canonical three lines).
 * Throws PskError saying what is wrong.
 */
export function parsePsk (text: string): Uint8Array {
  const lines = text.replace(/\r\n/g, '\n').split('\n').map(l => l.trim()).filter(l => l !== '')
  if (lines.length !== 3) throw new PskError(`expected 3 lines (${pskHeader}, ${pskEncoding}, 64 hex digits), found ${lines.length}`)
  if (lines[0] !== pskHeader) throw new PskError(`first line must be ${pskHeader}`)
  if (lines[1] !== pskEncoding) throw new PskError(`second line must be ${pskEncoding} (the only encoding supported)`)
  const hex = lines[2] as string
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new PskError('third line must be 64 hex digits (32 bytes)')
  return new TextEncoder().encode(`${pskHeader}\n${pskEncoding}\n${hex.toLowerCase()}`)
}

/** Read and check a key file (bounded size); throws PskError with the path and the problem. */
export function readPskFile (path: string): Uint8Array {
  let text: string
  try {
    if (statSync(path).size > pskFileBytesMax) throw new PskError(`${path}: larger than ${pskFileBytesMax} bytes: not a swarm key file`)
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if (err instanceof PskError) throw err
    throw new PskError(`${path}: cannot read it (${(err as Error).message}); create one with: mesh psk generate --out ${path}`)
  }
  try {
    return parsePsk(text)
  } catch (err) {
    throw new PskError(`${path}: ${(err as Error).message}`)
  }
}

/** A short, non-secret name of a key (first 8 hex digits of its SHA-256), to compare nodes' keys. */
export function pskFingerprint (psk: Uint8Array): string {
  return createHash('sha256').update(psk).digest('hex').slice(0, 8)
}
