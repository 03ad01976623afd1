/**
 * The genesis file fixes a network's validator set and consensus parameters (the shape of cometbft's
 * genesis.json). Every validator must start from the same file: its hash is printed so operators can
 * compare it across machines.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { peerIdFromString } from '@libp2p/peer-id'
import { canonicalJson } from '../../core/pbft/types.js'
import type { ConsensusMode } from './types.js'

export interface ConsensusParams {
  /** K: checkpoint every K sequence numbers (paper: 128). */
  checkpoint_interval: number
  batch_size_max: number
  batch_delay_ms: number
  view_change_timeout_ms: number
  retransmit_ms: number
  /** Batches the primary keeps in flight (proposed, not yet executed); more requests wait for the next batch. */
  pipeline_max: number
  /**
   * Every validator broadcasts its STATUS (view, last executed, stable checkpoint) this often: how a
   * replica that restarted or got its links back catches up with no client traffic.
   */
  status_interval_ms: number
  /**
   * Client table horizon: a client with nothing executed in this many sequence numbers is forgotten at
   * the next checkpoint (exactly-once holds for retries within it). At least 2 × checkpoint_interval.
   */
  client_horizon_seqs: number
}

export interface GenesisValidator {
  peer_id: string
  name: string
}

export interface Genesis {
  genesis_time: string
  network: string
  /**
   * The engine: 'pbft' (f of 3f+1 Byzantine; the default, and absent from the file then, so genesis
   * files and hashes written before the choice existed are unchanged) or 'raft' (f of 2f+1 crashes).
   */
  consensus?: ConsensusMode
  validators: GenesisValidator[]
  consensus_params: ConsensusParams
}

export const defaultConsensusParams: ConsensusParams = {
  checkpoint_interval: 128,
  batch_size_max: 512,
  batch_delay_ms: 2,
  view_change_timeout_ms: 4000,
  retransmit_ms: 1500,
  pipeline_max: 4,
  status_interval_ms: 1000,
  client_horizon_seqs: 100_000
}

export class GenesisError extends Error {
  override readonly name = 'GenesisError'
}

const validatorsMax = 100

export function makeGenesis (network: string, validators: GenesisValidator[], params: Partial<ConsensusParams> = {}, consensus: ConsensusMode = 'pbft'): Genesis {
  const genesis: Genesis = {
    genesis_time: new Date().toISOString(),
    network,
    ...(consensus === 'raft' ? { consensus } : {}),
    validators,
    consensus_params: { ...defaultConsensusParams, ...params }
  }
  validateGenesis(genesis)
  return genesis
}

export function validateGenesis (value: unknown, source = 'genesis'): Genesis {
  const fail = (message: string): never => { throw new GenesisError(`${source}: ${message}`) }
  if (typeof value !== 'object' || value == null) return fail('must be a JSON object')
  const g = value as Partial<Genesis>
  if (typeof g.network !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,31}$/.test(g.network)) fail('"network" must be a network name')
  if (!Array.isArray(g.validators) || g.validators.length === 0) fail('"validators" must list at least one validator')
  const validators = g.validators as GenesisValidator[]
  if (validators.length > validatorsMax) fail(`at most ${validatorsMax} validators (pBFT costs O(n²) messages)`)
  if (g.consensus !== undefined && g.consensus !== 'pbft' && g.consensus !== 'raft') fail('"consensus" must be "pbft" or "raft"')
  const mode: ConsensusMode = g.consensus ?? 'pbft'
  if (mode === 'pbft' && validators.length !== 1 && validators.length < 4) fail(`pBFT needs 1 or at least 4 validators (n = 3f + 1), got ${validators.length}`)
  // 2 members tolerate no crash and halt when either one does: never what anyone wants
  if (mode === 'raft' && validators.length !== 1 && validators.length < 3) fail(`Raft needs 1 or at least 3 members (n = 2f + 1), got ${validators.length}`)
  const seen = new Set<string>()
  for (const v of validators) {
    if (typeof v?.peer_id !== 'string') fail('every validator needs a "peer_id"')
    try {
      if (peerIdFromString(v.peer_id).type !== 'Ed25519') fail(`${v.peer_id} is not an Ed25519 PeerId`)
    } catch (err) {
      if (err instanceof GenesisError) throw err
      fail(`${String(v.peer_id)} is not a PeerId`)
    }
    if (seen.has(v.peer_id)) fail(`${v.peer_id} is listed twice`)
    seen.add(v.peer_id)
    if (typeof v.name !== 'string' || v.name.length > 64) fail('every validator needs a "name" (≤ 64 chars)')
  }
  const p = { ...defaultConsensusParams, ...(g.consensus_params ?? {}) }
  const positive = (key: keyof ConsensusParams, min: number, max: number): void => {
    const n = p[key]
    if (!Number.isInteger(n) || n < min || n > max) fail(`consensus_params.${key} must be a whole number in ${min}..${max}`)
  }
  positive('checkpoint_interval', 1, 100_000)
  positive('batch_size_max', 1, 100_000)
  positive('batch_delay_ms', 0, 10_000)
  positive('view_change_timeout_ms', 100, 600_000)
  positive('retransmit_ms', 50, 600_000)
  positive('pipeline_max', 1, 100_000)
  positive('status_interval_ms', 50, 600_000)
  positive('client_horizon_seqs', 2 * p.checkpoint_interval, 1_000_000_000)
  return { genesis_time: String(g.genesis_time ?? ''), network: g.network as string, ...(mode === 'raft' ? { consensus: mode } : {}), validators, consensus_params: p }
}

/** The engine a genesis chose ('pbft' when the file does not say). */
export function consensusMode (genesis: Genesis): ConsensusMode {
  return genesis.consensus ?? 'pbft'
}

export function readGenesis (path: string): Genesis {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new GenesisError(`cannot read genesis file ${path}: ${(err as Error).message}`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new GenesisError(`${path} is not valid JSON: ${(err as Error).message}`)
  }
  return validateGenesis(parsed, path)
}

/** Short fingerprint of a genesis, to compare across machines. */
export function genesisHash (genesis: Genesis): string {
  return createHash('sha256').update(canonicalJson(genesis)).digest('hex').slice(0, 16)
}
