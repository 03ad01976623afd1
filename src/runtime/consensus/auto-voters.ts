/**
 * [founding] The runtime of `--voters auto:N` (issue 15): while this node is the Raft leader, it adds
 * the first joiners running its genesis as learners and promotes each once caught up, until N voters.
 * The decision is the pure planner's (src/core/raft/auto-voters.ts); this file gathers its input each
 * tick (the Raft status, the alive members in the order first seen, each joiner's genesis asked over
 * /mesh/<network>/genesis/1.0.0) and performs the change through the consensus' changeMembership.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { planAutoVoters } from '../../core/raft/auto-voters.js'
import type { AutoVotersCandidate } from '../../core/raft/auto-voters.js'
import type { Consensus } from './types.js'
import type { GenesisExchange } from '../../../protocols/genesis/service.js'
import { genesisHash } from './genesis.js'
import type { Genesis } from './genesis.js'

/** How often the driver looks (a change then waits for its own commit). */
const tickMs = 1_000
/** A membership change the driver proposes: bounded, like the operator's. */
const changeTimeoutMs = 15_000
/** A joiner that did not answer the genesis question is asked again after this long. */
const askAgainMs = 5_000
/** A learner this close to the commit index counts as caught up (the core refuses a promotion beyond its own lag bound). */
const lagMax = 16

export interface AutoVotersInit {
  target: number
  self: string
  genesis: Genesis
  consensus: () => Consensus | null
  /** The members this node knows, alive or not. */
  members: () => ReadonlyArray<{ peerId: string, state: string, self: boolean }>
  wire: Pick<GenesisExchange, 'ask'>
  log: (line: string) => void
}

export class AutoVoters {
  private timer: ReturnType<typeof setInterval> | null = null
  private readonly order = new Map<string, number>()
  private readonly sameGenesis = new Map<string, boolean>()
  private readonly asking = new Map<string, number>()
  private pending = false
  private reached = false
  private readonly hash: string

  constructor (private readonly init: AutoVotersInit) {
    this.hash = genesisHash(init.genesis)
  }

  start (): void {
    this.timer = setInterval(() => { this.tick() }, tickMs)
    this.timer.unref?.()
  }

  stop (): void {
    if (this.timer != null) clearInterval(this.timer)
    this.timer = null
  }

  private tick (): void {
    const consensus = this.init.consensus()
    const raft = consensus?.status().raft
    if (consensus?.changeMembership == null || raft == null) return
    for (const member of this.init.members()) {
      if (!member.self && member.state === 'alive' && !this.order.has(member.peerId)) this.order.set(member.peerId, this.order.size)
    }
    const voters = raft.members.filter(m => m.role === 'voter').map(m => m.peerId)
    if (voters.length >= this.init.target) {
      if (!this.reached && raft.role === 'leader') this.init.log(`voters auto:${this.init.target}: ${voters.length} voters, done`)
      this.reached = true
      return
    }
    this.reached = false
    if (raft.role !== 'leader') return
    const inMembership = new Set(raft.members.map(m => m.peerId))
    const alive = new Set(this.init.members().filter(m => m.state === 'alive').map(m => m.peerId))
    const candidates: AutoVotersCandidate[] = [...this.order.entries()]
      .sort((a, b) => a[1] - b[1])
      .map(([peerId]) => peerId)
      .filter(peerId => !inMembership.has(peerId) && alive.has(peerId))
      .map(peerId => ({ peerId, sameGenesis: this.genesisOf(peerId) }))
    const step = planAutoVoters({
      target: this.init.target,
      isLeader: true,
      changePending: this.pending,
      commitIndex: raft.commitIndex,
      lagMax,
      voters,
      learners: raft.members.filter(m => m.role === 'learner').map(m => ({ peerId: m.peerId, match: m.match ?? 0, connected: m.connected })),
      candidates
    })
    if (step == null) return
    this.pending = true
    const name = raft.members.find(m => m.peerId === step.node)?.name ?? step.node
    this.init.log(`voters auto:${this.init.target}: ${step.type === 'promote' ? `promoting learner ${name} to voter` : `adding ${step.node} as a learner`}`)
    consensus.changeMembership(step, changeTimeoutMs)
      .then(({ index }) => { this.init.log(`voters auto:${this.init.target}: ${step.type} ${step.node} applied at ${index}`) })
      .catch(err => { this.init.log(`voters auto:${this.init.target}: ${step.type} ${step.node} not done (${(err as Error).message}); retrying`) })
      .finally(() => { this.pending = false })
  }

  /** Whether `peer` runs our genesis: known, or asked now (null until it answers). */
  private genesisOf (peer: string): boolean | null {
    const known = this.sameGenesis.get(peer)
    if (known != null) return known
    const since = this.asking.get(peer)
    if (since != null && performance.now() - since < askAgainMs) return null
    this.asking.set(peer, performance.now())
    let peerId
    try { peerId = peerIdFromString(peer) } catch { this.sameGenesis.set(peer, false); return false }
    void this.init.wire.ask(peerId).then(answer => {
      this.sameGenesis.set(peer, answer.status === 'genesis' && genesisHash(answer.genesis) === this.hash)
    }, () => { /* asked again after askAgainMs */ })
    return null
  }
}
