/**
 * Gossip votes bench (standalone: `flock /work/bench.lock node dist/test/bench/votes.js [--nodes 12]
 * [--rounds 8]` after `npm run build`): a no-genesis mesh of n nodes (star start through one seed).
 * Each round one node proposes (threshold 0.5) and ⌈n/2⌉ nodes approve at once; measured from the
 * HTTP side, as every node's API answers:
 *   - spread: from the proposal's POST until every node holds it;
 *   - outcome: from the moment the votes are sent until every node shows it approved;
 *   - late joiner: a node started after the rounds, until it holds every proposal with the same outcome
 *     (anti-entropy only: gossipsub does not replay).
 * Every node is polled in its own loop every `pollMs`: the figures are that coarse. JSON on stdout,
 * progress on stderr; every process stopped in a finally block.
 */
import { loadavg } from 'node:os'
import { api, Cluster, sleep } from '../e2e/harness.js'
import type { NodeProcess } from '../e2e/harness.js'
import { progress } from './cluster.js'
import { runJoin } from './phases.js'
import { distribution } from './stats.js'
import { PhaseFrame } from './proc.js'

interface View { id: string, status: string, approvals: number }

const pollMs = 20
const waitMaxMs = 30_000

function arg (name: string, fallback: number): number {
  const at = process.argv.indexOf(name)
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`)
  return value
}

/** Per node: ms from `t0` until `ready(view)` holds on that node (null: not within waitMaxMs). */
async function untilEveryNode (nodes: NodeProcess[], id: string, t0: number, ready: (view: View | undefined) => boolean): Promise<Array<number | null>> {
  return await Promise.all(nodes.map(async node => {
    for (;;) {
      const res = await api<View>(node, 'GET', `/v1/proposals/${id}`).catch(() => undefined)
      const now = performance.now()
      if (ready(res?.status === 200 ? res.body : undefined)) return now - t0
      if (now - t0 > waitMaxMs) return null
      await sleep(pollMs)
    }
  }))
}

async function main (): Promise<void> {
  const n = arg('--nodes', 12)
  const rounds = arg('--rounds', 8)
  const cluster = new Cluster({ heartbeatIntervalMs: 3000, failureTimeoutMs: 10000 })
  const onSignal = (): void => { void cluster.stopAll().finally(() => process.exit(130)) }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const output: Record<string, unknown> = { benchmark: 'gossip votes', nodes: n, rounds, pollMs, loadavgAtStart: loadavg().map(v => Math.round(v * 100) / 100) }
  try {
    const join = await runJoin(cluster, { n, deadlineMs: 120_000, pollIntervalMs: 500, settleMs: 3_000 })
    if (!join.full) throw new Error('the mesh did not form')
    const nodes = join.nodes
    await sleep(3_000)
    const frame = new PhaseFrame()
    const spread: number[] = []
    const outcome: number[] = []
    const needed = Math.ceil(n / 2)
    const ids: string[] = []
    for (let round = 0; round < rounds; round++) {
      const proposer = nodes[round % n] as NodeProcess
      const t0 = performance.now()
      const made = await api<View>(proposer, 'POST', '/v1/proposals', { proposal: { round }, threshold: 0.5, protocol: 'gossip', ttlSeconds: 600 })
      if (made.status !== 200) throw new Error(`propose answered ${made.status}: ${JSON.stringify(made.body)}`)
      const id = made.body.id
      ids.push(id)
      const held = await untilEveryNode(nodes, id, t0, v => v != null)
      spread.push(Math.max(...held.map(t => t ?? Number.POSITIVE_INFINITY)))
      // ⌈n/2⌉ voters, not the proposer, all at once
      const voters = nodes.filter(v => v !== proposer).slice(0, needed)
      const t1 = performance.now()
      await Promise.all(voters.map(async v => await api(v, 'POST', `/v1/proposals/${id}/votes`, { decision: 'approve' })))
      const approved = await untilEveryNode(nodes, id, t1, v => v?.status === 'approved')
      outcome.push(Math.max(...approved.map(t => t ?? Number.POSITIVE_INFINITY)))
      progress(`round ${round}: held everywhere after ${spread.at(-1)?.toFixed(0)} ms, approved everywhere ${outcome.at(-1)?.toFixed(0)} ms after the votes`)
    }
    // a late joiner: anti-entropy on connect
    const t2 = performance.now()
    const late = await cluster.start('late', { bootstrap: [nodes[0]?.runtime.multiaddrs[0] as string] })
    const started = performance.now() - t2
    const caughtUp = await untilEveryNode([late], ids.at(-1) as string, t2, v => v?.status === 'approved')
    let all = true
    for (const id of ids) all &&= (await api<View>(late, 'GET', `/v1/proposals/${id}`)).body.status === 'approved'
    // how much came by gossip and how much anti-entropy had to repair (items = a proposal with its votes)
    const counters = await Promise.all(nodes.map(async node => (await api<{ stats: { proposalsAdded: number, votesAdded: number }, antiEntropy: { exchanges: number, itemsReceived: number } }>(node, 'GET', '/v1/votes/stats')).body))
    output.repair = {
      proposalsAdded: counters.reduce((sum, c) => sum + c.stats.proposalsAdded, 0),
      votesAdded: counters.reduce((sum, c) => sum + c.stats.votesAdded, 0),
      antiEntropyExchanges: counters.reduce((sum, c) => sum + c.antiEntropy.exchanges, 0),
      antiEntropyItemsReceived: counters.reduce((sum, c) => sum + c.antiEntropy.itemsReceived, 0),
      note: 'summed over the mesh (late joiner excluded); an item crosses by anti-entropy only when the two vote sets differed (either side may have lacked something)'
    }
    output.result = {
      spreadMs: distribution(spread, 0),
      outcomeMs: distribution(outcome, 0),
      note: `spread: POST until all ${n} nodes hold the proposal; outcome: ${needed} approvals sent at once until all ${n} show approved; each ±${pollMs} ms of polling`,
      lateJoiner: { startedMs: Math.round(started), holdsLastProposalApprovedMs: caughtUp[0] == null ? null : Math.round(caughtUp[0]), holdsAllApproved: all, note: 'from spawn; its process start is included' },
      conditions: frame.end()
    }
  } finally {
    await cluster.stopAll()
  }
  process.stdout.write(JSON.stringify(output, null, 2) + '\n')
}

main().catch(err => {
  process.stderr.write(`bench votes failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
