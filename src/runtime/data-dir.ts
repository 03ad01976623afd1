/**
 * What a node keeps in its data dir:
 *   identity.key   Ed25519 private key (libp2p protobuf encoding), mode 0600: the PeerId
 *   incarnation    decimal counter, bumped and fsync'd on every start
 *   node.lock      PID of the running node (one node per data dir)
 *   runtime.json   PeerId, multiaddrs, API URL of the running node (for `mesh <command> --data-dir D`)
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, constants } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'

export class DataDirError extends Error {
  override readonly name = 'DataDirError'
}

export const files = {
  identity: 'identity.key',
  incarnation: 'incarnation',
  lock: 'node.lock',
  runtime: 'runtime.json'
} as const

export interface RuntimeInfo {
  peerId: string
  name: string
  network: string
  multiaddrs: string[]
  api: string
  pid: number
  incarnation: number
  startedAt: string
}

function writeFileDurably (path: string, data: string | Uint8Array, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode)
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
}

export function ensureDataDir (dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new DataDirError(`cannot create data dir ${dir}: ${(err as Error).message}`)
  }
}

/** Load the identity key; with `create`, generate and persist one when there is none. */
export async function loadIdentity (dir: string, create: boolean): Promise<{ privateKey: PrivateKey, created: boolean }> {
  const path = join(dir, files.identity)
  let bytes: Buffer | undefined
  try {
    bytes = readFileSync(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'ENOENT') throw new DataDirError(`cannot read ${path}: ${(err as Error).message} — check its permissions`)
  }
  if (bytes != null) {
    try {
      const privateKey = privateKeyFromProtobuf(bytes)
      if (privateKey.type !== 'Ed25519') throw new Error(`key type ${privateKey.type}, expected Ed25519`)
      return { privateKey, created: false }
    } catch (err) {
      throw new DataDirError(`${path} is corrupt (${(err as Error).message}); it is not replaced automatically because it is this node's identity — restore it from a backup, or move it away to start as a new node`)
    }
  }
  if (!create) throw new DataDirError(`no identity in ${dir}; run \`mesh init --data-dir ${dir}\` first`)
  ensureDataDir(dir)
  const privateKey = await generateKeyPair('Ed25519')
  writeFileDurably(path, privateKeyToProtobuf(privateKey), 0o600)
  return { privateKey, created: true }
}

export function peerIdOf (privateKey: PrivateKey): string {
  return peerIdFromPrivateKey(privateKey).toString()
}

/** Bump the persisted incarnation (fsync'd before the node announces it) and return the new value. */
export function nextIncarnation (dir: string): number {
  const path = join(dir, files.incarnation)
  let current = 0
  try {
    const text = readFileSync(path, 'utf8').trim()
    if (!/^\d+$/.test(text)) throw new DataDirError(`${path} is corrupt ("${text.slice(0, 20)}"); delete it to restart counting (peers then see the next start as a restart only after their entries expire)`)
    current = Number(text)
  } catch (err) {
    if (err instanceof DataDirError) throw err
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new DataDirError(`cannot read ${path}: ${(err as Error).message}`)
  }
  const next = current + 1
  writeFileDurably(path, `${next}\n`, 0o600)
  return next
}

function processAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Take the data dir lock; a stale lock from a killed process is taken over. */
export function acquireLock (dir: string): () => void {
  const path = join(dir, files.lock)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      return () => { try { unlinkSync(path) } catch {} }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new DataDirError(`cannot lock ${dir}: ${(err as Error).message}`)
      const pid = Number(readFileSync(path, 'utf8').trim())
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new DataDirError(`another node (PID ${pid}) is running on ${dir}; stop it or use another --data-dir`)
      }
      unlinkSync(path)
    }
  }
  throw new DataDirError(`cannot lock ${dir}`)
}

export function writeRuntimeInfo (dir: string, info: RuntimeInfo): void {
  writeFileDurably(join(dir, files.runtime), JSON.stringify(info, null, 2) + '\n', 0o600)
}

export function removeRuntimeInfo (dir: string): void {
  try { unlinkSync(join(dir, files.runtime)) } catch {}
}

/** The running node recorded in `dir`, or an error saying how to start one. */
export function readRuntimeInfo (dir: string): RuntimeInfo {
  const path = join(dir, files.runtime)
  let info: RuntimeInfo
  try {
    info = JSON.parse(readFileSync(path, 'utf8')) as RuntimeInfo
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DataDirError(`no running node found in ${dir}; start one with \`mesh start --data-dir ${dir}\` (or pass --api host:port)`)
    }
    throw new DataDirError(`cannot read ${path}: ${(err as Error).message}`)
  }
  if (typeof info.api !== 'string' || typeof info.pid !== 'number') throw new DataDirError(`${path} is malformed; restart the node`)
  if (!processAlive(info.pid)) {
    throw new DataDirError(`the node recorded in ${dir} (PID ${info.pid}) is not running; start it with \`mesh start --data-dir ${dir}\``)
  }
  return info
}

export function isDirectory (path: string): boolean {
  try { return statSync(path).isDirectory() } catch { return false }
}
