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

function print (options: Options, body: unknown, human: () => string): void {
  console.log(options.json === true ? JSON.stringify(body, null, 2) : human())
}

export function addConsensusCommands (program: Command, addClientOptions: (c: Command) => Command, clientOptions: (o: Options) => ClientOptions): void {
  addMemoryCommands(program, addClientOptions, clientOptions) // [eventual] mesh memory … (src/cli/memory-commands.ts)

  addClientOptions(program.command('propose').argument('<json>', 'the proposal, as JSON'))
    .description('record a proposal through consensus; validators then vote on it')
    .option('--threshold <t>', 'share of the validator set that must approve (0 < t ≤ 1)', '0.67')
    .option('--request-id <id>', requestIdHelp)
    .action(async (json: string, options: Options & { threshold: string }) => {
      let proposal: unknown
      try { proposal = JSON.parse(json) } catch (err) { throw new CliError(`<json>: not valid JSON (${(err as Error).message})`, 2) }
      const threshold = Number(options.threshold)
      if (!(threshold > 0 && threshold <= 1)) throw new CliError(`--threshold: "${options.threshold}" must be in (0, 1]`, 2)
      const body = await requestJson<{ id: string, seq: number, requiredApprovals: number }>(clientOptions(options), 'POST', '/v1/proposals', { proposal, threshold, ...withRequestId(options) }, writeTimeoutMs)
      print(options, body, () => `proposal ${body.id} recorded at seq ${body.seq}; needs ${body.requiredApprovals} approvals (mesh vote ${body.id} approve)`)
    })

  addClientOptions(program.command('vote').argument('<id>').argument('<decision>', 'approve or reject'))
    .description('vote on a proposal (validators only), through consensus')
    .option('--request-id <id>', requestIdHelp)
    .action(async (id: string, decision: string, options: Options) => {
      if (decision !== 'approve' && decision !== 'reject') throw new CliError(`<decision>: "${decision}" must be approve or reject`, 2)
      const body = await requestJson<{ status: string, approvals: number, rejections: number, seq: number }>(clientOptions(options), 'POST', `/v1/proposals/${encodeURIComponent(id)}/votes`, { decision, ...withRequestId(options) }, writeTimeoutMs)
      print(options, body, () => `${id}: ${body.status} (${body.approvals} approve, ${body.rejections} reject) at seq ${body.seq}`)
    })

  addClientOptions(program.command('proposals').argument('[id]'))
    .description('list proposals (newest first), or show one')
    .action(async (id: string | undefined, options: Options) => {
      if (id != null) {
        const body = await requestJson<unknown>(clientOptions(options), 'GET', `/v1/proposals/${encodeURIComponent(id)}`)
        console.log(JSON.stringify(body, null, 2))
        return
      }
      const body = await requestJson<{ proposals: Array<{ id: string, status: string, approvals: number, rejections: number, requiredApprovals: number, proposer: string }> }>(clientOptions(options), 'GET', '/v1/proposals')
      print(options, body, () => table(['ID', 'STATUS', 'APPROVE', 'REJECT', 'NEEDED', 'PROPOSER'],
        body.proposals.map(p => [p.id, p.status, String(p.approvals), String(p.rejections), String(p.requiredApprovals), shortPeerId(p.proposer)])))
    })

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
