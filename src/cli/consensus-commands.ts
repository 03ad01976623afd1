/** `mesh memory …`, `mesh propose`, `mesh vote`, `mesh proposals`, `mesh consensus`. */
import { Command } from 'commander'
import { CliError, requestJson } from './client.js'
import type { ClientOptions } from './client.js'
import { table, shortPeerId } from './format.js'
import type { ConsensusStatus } from '../runtime/consensus/types.js'
import { peerIdFromString } from '@libp2p/peer-id'
import { addMemoryCommands } from './memory-commands.js' // [eventual]

type Options = { dataDir?: string, api?: string, apiToken?: string, json?: boolean, requestId?: string }

/** `--request-id`: retry a write that answered 504 (outcome unknown), exactly once. */
const requestIdHelp = 'retry a write that answered 504 "outcome unknown", with the request id it printed: same arguments, exactly-once (the recorded result if it already applied)'
const withRequestId = (options: Options): Record<string, string> => options.requestId != null ? { requestId: options.requestId } : {}

/** Writes wait for consensus: allow a view change. */
const writeTimeoutMs = 30_000

/**
 * A peer named on the command line: a PeerId as is, else a name the node knows (the mesh's members,
 * the Raft members, the genesis). Ambiguous or unknown names are refused with what to use instead.
 */
async function resolvePeer (options: ClientOptions, peer: string): Promise<{ peerId: string, name: string | null }> {
  try { return { peerId: peerIdFromString(peer).toString(), name: null } } catch {}
  const [status, consensus] = await Promise.all([
    requestJson<{ members?: Array<{ peerId: string, name: string }> }>(options, 'GET', '/v1/status'),
    requestJson<ConsensusStatus>(options, 'GET', '/v1/consensus')
  ])
  const known = new Map<string, Set<string>>()
  const note = (name: string, peerId: string): void => { if (name !== '') known.set(name, (known.get(name) ?? new Set()).add(peerId)) }
  for (const m of status.members ?? []) note(m.name, m.peerId)
  for (const m of consensus.raft?.members ?? []) note(m.name, m.peerId)
  for (const v of consensus.validators ?? []) note(v.name, v.peerId)
  const ids = [...(known.get(peer) ?? [])]
  if (ids.length === 1) return { peerId: ids[0] as string, name: peer }
  if (ids.length > 1) throw new CliError(`"${peer}" names ${ids.length} peers (${ids.map(shortPeerId).join(', ')}): give the PeerId`, 2)
  throw new CliError(`"${peer}" is neither a PeerId nor the name of a peer this node knows (mesh status lists names and PeerIds; the node to add must be running and connected)`, 2)
}

/** Operator actions go to the Raft leader: on another node the API answers 421 naming it. */
async function atLeader<T> (options: ClientOptions, method: string, path: string, body?: unknown): Promise<T> {
  try {
    return await requestJson<T>(options, method, path, body, writeTimeoutMs)
  } catch (err) {
    if (err instanceof CliError && err.message.startsWith('421 ')) throw new CliError(`${err.message.slice(4)} (run it there: --data-dir <its data dir> or --api <its API address>)`)
    if (err instanceof CliError && err.message.startsWith('409 ')) throw new CliError(`refused: ${err.message.slice(4)}`)
    if (err instanceof CliError && err.message.startsWith('503 ')) throw new CliError(`${err.message.slice(4)} (nothing was changed)`)
    throw err
  }
}

interface ChangeAnswer { change: string, peerId: string, index: number, voters: string[], learners: string[] }
const describeMembers = (a: ChangeAnswer): string => `voters ${a.voters.map(shortPeerId).join(', ')}${a.learners.length > 0 ? `; learners ${a.learners.map(shortPeerId).join(', ')}` : ''}`

interface ListedProposal {
  id: string, protocol?: string, finality?: string, status: string, approvals: number, rejections: number, requiredApprovals: number, proposer: string,
  validatorCount?: number, eligibleCount?: number, evidence?: unknown[]
}
interface GossipView {
  id: string, status: string, approvals: number, rejections: number, remaining: number, needed: number, eligibleCount: number, threshold: number, proposer: string,
  createdAt: string, deadline: string, proposal: unknown, evidence: Array<{ voter: string }>, eligible: string[], votes: Array<{ voter: string, decision: string }>
}

/** A gossip proposal id may be given by a prefix of ≥ 8 hex digits (`mesh proposals` shows 16): the whole id. */
async function proposalIdArg (options: ClientOptions, id: string): Promise<string> {
  if (!/^[0-9a-f]{8,63}$/.test(id)) return id
  const { proposals } = await requestJson<{ proposals: Array<{ id: string }> }>(options, 'GET', '/v1/proposals?protocol=gossip')
  const hits = proposals.filter(p => p.id.startsWith(id))
  if (hits.length === 1) return (hits[0] as { id: string }).id
  if (hits.length > 1) throw new CliError(`"${id}" is the start of ${hits.length} gossip proposal ids: give more of it`, 2)
  return id
}

function print (options: Options, body: unknown, human: () => string): void {
  console.log(options.json === true ? JSON.stringify(body, null, 2) : human())
}

export function addConsensusCommands (program: Command, addClientOptions: (c: Command) => Command, clientOptions: (o: Options) => ClientOptions): void {
  addMemoryCommands(program, addClientOptions, clientOptions) // [eventual] mesh memory … (src/cli/memory-commands.ts)

  // [votes] `--protocol gossip` (signed votes spread by gossip, eventual; the only kind on a node without a
  // genesis), and proposals of both kinds in `mesh proposals` (src/api/gossip-vote-routes.ts)
  addClientOptions(program.command('propose').argument('<json>', 'the proposal, as JSON'))
    .description('make a proposal: through consensus (pbft/raft: final), or by gossip (eventual); members then vote on it')
    .option('--threshold <t>', 'share of the validators (pbft/raft) or of the eligible members (gossip) that must approve (0 < t ≤ 1)', '0.67')
    .option('--protocol <p>', 'gossip, pbft or raft (default: the genesis\' engine where there is one, else gossip)')
    .option('--ttl <seconds>', 'gossip: seconds until the deadline, after which an undecided proposal is expired', '3600')
    .option('--request-id <id>', requestIdHelp)
    .addHelpText('after', [
      '',
      'pbft / raft: the proposal and each vote are decisions of the consensus log: every node applies them in the',
      '  same order, and an outcome, once reached, is final. Validators vote. Needs a genesis.',
      'gossip: the proposal is signed by this node and names the members alive now as the eligible voters;',
      '  each member\'s signed vote spreads by gossip and anti-entropy. Every node holding the same votes computes',
      '  the same outcome, but nodes may lag each other (eventual): approved once ⌈threshold × eligible⌉ approve,',
      '  rejected once that can no longer happen, expired after the deadline. A member that signs both ways',
      '  (equivocation) counts as none and the pair is shown as evidence. Works on any node, genesis or not.'
    ].join('\n'))
    .action(async (json: string, options: Options & { threshold: string, protocol?: string, ttl: string }) => {
      let proposal: unknown
      try { proposal = JSON.parse(json) } catch (err) { throw new CliError(`<json>: not valid JSON (${(err as Error).message})`, 2) }
      const threshold = Number(options.threshold)
      if (!(threshold > 0 && threshold <= 1)) throw new CliError(`--threshold: "${options.threshold}" must be in (0, 1]`, 2)
      if (options.protocol != null && !['gossip', 'pbft', 'raft'].includes(options.protocol)) throw new CliError(`--protocol: "${options.protocol}" must be gossip, pbft or raft`, 2)
      const ttlSeconds = Number(options.ttl)
      if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new CliError(`--ttl: "${options.ttl}" must be a whole number of seconds`, 2)
      const request: Record<string, unknown> = { proposal, threshold, ...withRequestId(options) }
      if (options.protocol != null) request.protocol = options.protocol
      if (options.protocol === 'gossip' || options.ttl !== '3600') request.ttlSeconds = ttlSeconds
      const body = await requestJson<{ id: string, seq?: number, requiredApprovals: number, protocol?: string, eligibleCount?: number, deadline?: string }>(clientOptions(options), 'POST', '/v1/proposals', request, writeTimeoutMs)
      print(options, body, () => body.protocol === 'gossip'
        ? `gossip proposal ${body.id} signed and spread; ${body.eligibleCount ?? '?'} eligible members, needs ${body.requiredApprovals} approvals by ${body.deadline ?? '?'} (mesh vote ${body.id} approve)`
        : `proposal ${body.id} recorded at seq ${body.seq ?? '?'}; needs ${body.requiredApprovals} approvals (mesh vote ${body.id} approve)`)
    })

  addClientOptions(program.command('vote').argument('<id>').argument('<decision>', 'approve or reject'))
    .description('vote on a proposal: through consensus (validators of a pbft/raft network) or, for a gossip proposal, signed by this node (eligible members)')
    .option('--request-id <id>', requestIdHelp)
    .action(async (id: string, decision: string, options: Options) => {
      if (decision !== 'approve' && decision !== 'reject') throw new CliError(`<decision>: "${decision}" must be approve or reject`, 2)
      id = await proposalIdArg(clientOptions(options), id)
      const body = await requestJson<{ status: string, approvals: number, rejections: number, seq?: number, protocol?: string, requiredApprovals?: number, eligibleCount?: number }>(clientOptions(options), 'POST', `/v1/proposals/${encodeURIComponent(id)}/votes`, { decision, ...withRequestId(options) }, writeTimeoutMs)
      print(options, body, () => body.protocol === 'gossip'
        ? `${id}: ${body.status} as this node sees it (${body.approvals} approve, ${body.rejections} reject; needs ${body.requiredApprovals ?? '?'} of ${body.eligibleCount ?? '?'}); the vote spreads by gossip`
        : `${id}: ${body.status} (${body.approvals} approve, ${body.rejections} reject) at seq ${body.seq ?? '?'}`)
    })

  addClientOptions(program.command('proposals').argument('[id]'))
    .description('list proposals of every protocol (gossip newest first, then pbft/raft newest first), or show one')
    .option('--status <s>', 'only open, approved, rejected or expired')
    .option('--protocol <p>', 'only gossip, pbft or raft')
    .action(async (id: string | undefined, options: Options & { status?: string, protocol?: string }) => {
      if (id != null) {
        id = await proposalIdArg(clientOptions(options), id)
        const body = await requestJson<Record<string, unknown>>(clientOptions(options), 'GET', `/v1/proposals/${encodeURIComponent(id)}`)
        if (options.json === true || body.protocol !== 'gossip') { console.log(JSON.stringify(body, null, 2)); return }
        const g = body as unknown as GossipView
        console.log([
          `proposal   ${g.id}`,
          `protocol   gossip (finality eventual: this node's view; nodes holding the same votes agree)`,
          `status     ${g.status}   ${g.approvals} approve, ${g.rejections} reject, ${g.remaining} not voted; needs ${g.needed} of ${g.eligibleCount} (threshold ${g.threshold})`,
          `proposer   ${g.proposer}`,
          `created    ${g.createdAt}   deadline ${g.deadline}`,
          `proposal   ${JSON.stringify(g.proposal)}`,
          `evidence   ${g.evidence.length === 0 ? 'none' : g.evidence.map(e => `${shortPeerId(e.voter)} voted both ways (counts as none)`).join('; ')}`,
          '',
          table(['ELIGIBLE', 'VOTE'], g.eligible.map(m => {
            const mine = g.votes.filter(v => v.voter === m).map(v => v.decision)
            return [m, mine.length === 0 ? '-' : mine.length > 1 ? 'EQUIVOCATED' : mine[0] as string]
          }))
        ].join('\n'))
        return
      }
      const query = new URLSearchParams()
      if (options.status != null) query.set('status', options.status)
      if (options.protocol != null) query.set('protocol', options.protocol)
      const body = await requestJson<{ proposals: ListedProposal[] }>(clientOptions(options), 'GET', `/v1/proposals${query.size > 0 ? `?${query.toString()}` : ''}`)
      print(options, body, () => table(['ID', 'PROTOCOL', 'FINALITY', 'STATUS', 'APPROVE', 'REJECT', 'ELIGIBLE', 'NEEDED', 'EVIDENCE', 'PROPOSER'],
        body.proposals.map(p => [p.protocol === 'gossip' ? `${p.id.slice(0, 16)}…` : p.id, p.protocol ?? '-', p.finality ?? '-', p.status, String(p.approvals), String(p.rejections),
          String(p.eligibleCount ?? p.validatorCount ?? '-'), String(p.requiredApprovals), p.evidence != null ? String(p.evidence.length) : '-', shortPeerId(p.proposer)])) +
        (body.proposals.some(p => p.protocol === 'gossip') ? '\n(gossip ids shortened: mesh vote and mesh proposals <id> take any unique start of ≥ 8 digits; --json prints them whole)' : ''))
    })
  // [/votes]

  const consensusCommand = addClientOptions(program.command('consensus'))
  consensusCommand
    .description('consensus state: view, primary, last committed and stable sequence, validators; Raft: add|promote|remove|transfer')
    .action(async (options: Options) => {
      const s = await requestJson<ConsensusStatus & { role: string, error?: string }>(clientOptions(options), 'GET', '/v1/consensus')
      const raft = s.raft
      if (raft != null && s.error == null) {
        print(options, s, () => [
          `mode       raft (crash faults: tolerates f = ${s.f} of ${s.n})`,
          `role       ${raft.role}   term ${raft.term}   leader ${raft.leader != null ? shortPeerId(raft.leader) : '- (none known: writes refused)'}`,
          `log        commit ${raft.commitIndex}   applied ${raft.appliedIndex}   last ${raft.lastIndex}   snapshot ${raft.snapshotIndex}`,
          `dropped    ${Object.entries(s.dropped).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
          '',
          table(['NAME', 'PEER', 'ROLE', 'MATCH', 'CONNECTED'], raft.members.map(m => [m.name + (m.self ? ' (self)' : ''), shortPeerId(m.peerId), m.role + (m.peerId === raft.leader ? ' (leader)' : ''), m.match != null ? String(m.match) : '-', m.self ? '-' : (m.connected ? 'yes' : 'no')]))
        ].join('\n'))
        return
      }
      print(options, s, () => s.error != null ? s.error : [
        `mode       pbft (Byzantine faults)`,
        `role       ${s.role}${s.replica != null ? ` (replica ${s.replica} of ${s.n}, tolerates f = ${s.f})` : ''}`,
        `view       ${s.view ?? '-'}${s.active === false ? ' (view change in progress)' : ''}   primary ${s.primary != null ? shortPeerId(s.primary) : '-'}`,
        `committed  up to seq ${s.lastExecuted ?? '-'}   stable checkpoint ${s.stableSeq ?? '-'}${s.catchingUp ? `   CATCHING UP: ${s.behind} behind (f+1 validators executed ${s.highestKnown ?? '?'})` : ''}`,
        `dropped    ${Object.entries(s.dropped).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
        '',
        table(['#', 'NAME', 'PEER', 'CONNECTED'], s.validators.map(v => [String(v.index), v.name + (v.self ? ' (self)' : ''), shortPeerId(v.peerId), v.self ? '-' : (v.connected ? 'yes' : 'no')]))
      ].join('\n'))
    })

  /** Client options given before the subcommand (`mesh consensus --data-dir d add x`) are the parent's: merge them. */
  const merged = <T extends Options>(options: T): T => {
    const own = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined))
    return { ...consensusCommand.opts<Options>(), ...own } as T
  }
  const label = (peer: { peerId: string, name: string | null }): string => peer.name != null ? `${peer.name} (${shortPeerId(peer.peerId)})` : shortPeerId(peer.peerId)

  addClientOptions(consensusCommand.command('add').argument('<peer>', 'PeerId, or the name of a running node this node knows'))
    .description('Raft: add a node as a learner (it receives the log and catches up, but does not vote); run against the leader')
    .addHelpText('after', '\nThe node must be running with the network\'s genesis (it observes until the change commits, then takes part as a learner).\nThen: mesh consensus (its MATCH reaches the leader\'s last index) and mesh consensus promote <peer>.')
    .action(async (peer: string, given: Options) => {
      const options = merged(given)
      const target = await resolvePeer(clientOptions(options), peer)
      const body = await atLeader<ChangeAnswer>(clientOptions(options), 'POST', '/v1/consensus/members', { peerId: target.peerId })
      print(options, body, () => `added ${label(target)} as a learner at index ${body.index}; ${describeMembers(body)}\nnext: wait until it has caught up (mesh consensus), then mesh consensus promote ${peer}`)
    })

  addClientOptions(consensusCommand.command('promote').argument('<peer>', 'PeerId or name of a learner'))
    .description('Raft: make a caught-up learner a voter (refused while it is too far behind); run against the leader')
    .action(async (peer: string, given: Options) => {
      const options = merged(given)
      const target = await resolvePeer(clientOptions(options), peer)
      const body = await atLeader<ChangeAnswer>(clientOptions(options), 'POST', `/v1/consensus/members/${encodeURIComponent(target.peerId)}/promote`)
      print(options, body, () => `promoted ${label(target)} to voter at index ${body.index}; ${describeMembers(body)}`)
    })

  addClientOptions(consensusCommand.command('remove').argument('<peer>', 'PeerId or name of a voter or learner'))
    .description('Raft: remove a voter or learner (it stops taking part and goes on as an observer); run against the leader')
    .addHelpText('after', '\nOne change at a time. Removing the leader makes it step down once the change applies; transfer first for a smoother hand-over.')
    .action(async (peer: string, given: Options) => {
      const options = merged(given)
      const target = await resolvePeer(clientOptions(options), peer)
      const body = await atLeader<ChangeAnswer>(clientOptions(options), 'DELETE', `/v1/consensus/members/${encodeURIComponent(target.peerId)}`)
      print(options, body, () => `removed ${label(target)} at index ${body.index}; ${describeMembers(body)}`)
    })

  addClientOptions(consensusCommand.command('transfer'))
    .description('Raft: hand leadership to a voter (default: the most up-to-date one); run against the leader')
    .option('--to <peer>', 'PeerId or name of the voter to lead')
    .action(async (given: Options & { to?: string }) => {
      const options = merged(given)
      const target = options.to != null ? await resolvePeer(clientOptions(options), options.to) : null
      const body = await atLeader<{ from: string | null, leader: string, term: number | null }>(clientOptions(options), 'POST', '/v1/consensus/transfer', target != null ? { to: target.peerId } : {})
      print(options, body, () => `leadership moved to ${target != null ? label(target) : shortPeerId(body.leader)} (term ${body.term ?? '?'})`)
    })
}
