/**
 * The pBFT core's Crypto for real nodes: sha256, and Ed25519 signatures by the validators' libp2p keys
 * (node:crypto KeyObjects built once per key; signing and verifying are synchronous).
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import type { Crypto, ReplicaId } from '../../core/pbft/types.js'
import { pbftSignatureDomain } from '../../../protocols/pbft/constants.js'

function base64url (bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url')
}

export function sha256Hex (data: string): string {
  return createHash('sha256').update(data).digest('hex')
}

export function publicKeyObject (peerId: string): KeyObject {
  const id = peerIdFromString(peerId)
  if (id.type !== 'Ed25519' || id.publicKey == null) throw new Error(`${peerId} is not an Ed25519 PeerId`)
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: base64url(id.publicKey.raw) }, format: 'jwk' })
}

export function privateKeyObject (privateKey: PrivateKey): KeyObject {
  if (privateKey.type !== 'Ed25519') throw new Error('pBFT signing needs an Ed25519 identity')
  const raw = privateKey.raw // 64 bytes: seed || public key
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: base64url(raw.subarray(0, 32)), x: base64url(raw.subarray(32)) }, format: 'jwk' })
}

/**
 * `validators` in genesis order; `self` is our private key (null for an observer, which never signs
 * protocol messages).
 */
export function pbftCrypto (network: string, validators: string[], self: PrivateKey | null): Crypto & { signAny: (data: string) => string, verifyPeer: (peerId: string, data: string, signature: string) => boolean } {
  const domain = pbftSignatureDomain(network)
  const keys = validators.map(publicKeyObject)
  const own = self != null ? privateKeyObject(self) : null
  const peerKeys = new Map<string, KeyObject>()
  const signAny = (data: string): string => {
    if (own == null) throw new Error('this node has no signing key')
    return sign(null, Buffer.from(domain + data), own).toString('base64')
  }
  return {
    hash: sha256Hex,
    sign: signAny,
    signAny,
    verify: (from: ReplicaId, data: string, signature: string): boolean => {
      const key = keys[from]
      if (key == null || typeof signature !== 'string') return false
      try {
        return verify(null, Buffer.from(domain + data), key, Buffer.from(signature, 'base64'))
      } catch {
        return false
      }
    },
    /** Verify a signature by any PeerId (clients' requests). */
    verifyPeer: (peerId: string, data: string, signature: string): boolean => {
      try {
        let key = peerKeys.get(peerId)
        if (key == null) {
          key = publicKeyObject(peerId)
          if (peerKeys.size > 10_000) peerKeys.clear()
          peerKeys.set(peerId, key)
        }
        return verify(null, Buffer.from(domain + data), key, Buffer.from(signature, 'base64'))
      } catch {
        return false
      }
    }
  }
}
