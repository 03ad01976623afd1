/**
 * A fake but sound signature scheme for the simulator: sign(data) = sha256(secret_i + data) with a
 * per-replica secret that only the simulator and replica i hold. Nobody else can produce a signature
 * that verifies for i, so a Byzantine replica can sign as itself only; a "forged" message is one whose
 * signature does not verify for its `from`.
 */
import { createHash } from 'node:crypto'
import type { Crypto, Digest, ReplicaId } from '../../src/core/pbft/types.js'

export function sha256Hex (data: string): Digest {
  return createHash('sha256').update(data).digest('hex')
}

/** The secrets of every replica. The simulator keeps the keyring; each replica gets its own Crypto. */
export class Keyring {
  private readonly secrets: string[]
  /** Signatures checked, for the run summary. */
  verifications = 0

  constructor (readonly n: number, seed: number) {
    this.secrets = Array.from({ length: n }, (_, id) => sha256Hex(`replica-secret:${seed}:${id}`))
  }

  /** The Crypto handed to replica `id` (and to a Byzantine decorator around it): signs as `id` only. */
  cryptoFor (id: ReplicaId): Crypto {
    const secret = this.secretOf(id)
    if (secret === undefined) throw new Error(`no replica ${id}`)
    return {
      hash: sha256Hex,
      sign: (data: string) => sha256Hex(secret + data),
      verify: (from: ReplicaId, data: string, signature: string) => this.verify(from, data, signature)
    }
  }

  verify (from: ReplicaId, data: string, signature: string): boolean {
    this.verifications++
    const secret = this.secretOf(from)
    if (secret === undefined || typeof signature !== 'string') return false
    return sha256Hex(secret + data) === signature
  }

  /** `from` comes off the wire: anything that is not a replica index has no secret. */
  private secretOf (from: unknown): string | undefined {
    if (typeof from !== 'number' || !Number.isInteger(from) || from < 0 || from >= this.n) return undefined
    return this.secrets[from]
  }
}
