/**
 * `npm run bench -- founding` (issue 15, the first five minutes): how long a newcomer waits. Each round
 * on 127.0.0.1, real `mesh start` processes at the node's default timings, measured from outside:
 *
 *   founder: spawn → runtime.json (the API answers) → first consensus write acknowledged
 *            (`PUT /v1/memory`, retried while 503: the lone voter's election) → first task completed
 *            (`echo`, submitted with wait);
 *   joiners: 2 nodes spawned at once with `--bootstrap <founder>` and no genesis: spawn → genesis
 *            fetched and the node observing the founder's log; the founder (`--voters auto:3`)
 *            → 3 voters;
 *   mdns:    one founder with mDNS on (the default for loopback): spawn → first write, which includes
 *            the 3 s LAN grace.
 *
 * `rounds` rounds (default 3); each round's processes are stopped before the next. Prints figures only.
 */
import { loadavg } from 'node:os'
import { Cluster, sleep } from '../e2e/harness.js'
import type { NodeProcess } from '../e2e/harness.js'
import { progress } from './cluster.js'
import { distribution, round } from './stats.js'
import type { Distribution } from './stats.js'

interface RaftView { raft?: { role: string, leader: string | null, members: Array<{ role: string }> } }

const load = (): number[] => loadavg().map(v => round(v, 2) as number)

/** Retry `probe` every 50 ms until it returns a value; its time since `t0` in ms. */
async function timeUntil (what: string, t0: number, deadlineMs: number, probe: () => Promise<boolean>): Promise<number> {
  for (;;) {
    try { if (await probe()) return performance.now() - t0 } catch {}
    if (performance.now() - t0 > deadlineMs) throw new Error(`founding bench: ${what} not within ${deadlineMs} ms`)
    await sleep(50)
  }
}

async function write (node: NodeProcess, key: string): Promise<boolean> {
  const res = await fetch(`${node.api}/v1/memory/bench/${key}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: 'v' }), signal: AbortSignal.timeout(10_000) })
  await res.arrayBuffer()
  return res.status === 200
}

async function view (node: NodeProcess): Promise<RaftView> {
  return await (await fetch(`${node.api}/v1/consensus`, { signal: AbortSignal.timeout(5_000) })).json() as RaftView
}

export interface FoundingBench {
  rounds: number
  founderStartMs: Distribution
  founderFirstWriteMs: Distribution
  founderFirstTaskMs: Distribution
  joinerObservingMs: Distribution
  threeVotersMs: Distribution
  mdnsFounderFirstWriteMs: Distribution
  loadavg: { start: number[], end: number[] }
}

export async function runFoundingBench (rounds = 3): Promise<FoundingBench> {
  const started = load()
  const founderStart: number[] = []
  const firstWrite: number[] = []
  const firstTask: number[] = []
  const joinerObserving: number[] = []
  const threeVoters: number[] = []
  const mdnsFirstWrite: number[] = []
  const founding = { MESH_CONSENSUS: '' }
  for (let r = 1; r <= rounds; r++) {
    const cluster = new Cluster({ heartbeatIntervalMs: 3000, failureTimeoutMs: 10000 })
    try {
      const t0 = performance.now()
      const founder = await cluster.start('founder', { env: founding, extraArgs: ['--capabilities', 'echo', '--voters', 'auto:3'] })
      founderStart.push(performance.now() - t0)
      firstWrite.push(await timeUntil('the first write', t0, 60_000, async () => await write(founder, `r${r}`)))
      const task = await fetch(`${founder.api}/v1/tasks?wait=1&timeoutMs=60000`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ capabilities: ['echo'], payload: r }), signal: AbortSignal.timeout(90_000) })
      const body = await task.json() as { task?: { state: string } }
      if (body.task?.state !== 'completed') throw new Error(`founding bench: the first task ended ${body.task?.state ?? `HTTP ${task.status}`}`)
      firstTask.push(performance.now() - t0)
      const seed = founder.runtime.multiaddrs[0] as string
      const t1 = performance.now()
      const joiners = await Promise.all(['joiner-1', 'joiner-2'].map(async name => await cluster.start(name, { env: founding, bootstrap: [seed] })))
      for (const joiner of joiners) {
        joinerObserving.push(await timeUntil(`${joiner.name} observing`, t1, 60_000, async () => {
          const raft = (await view(joiner)).raft
          return raft != null && raft.leader === founder.runtime.peerId
        }))
      }
      threeVoters.push(await timeUntil('3 voters', t1, 120_000, async () => ((await view(founder)).raft?.members.filter(m => m.role === 'voter').length ?? 0) === 3))
      progress(`founding round ${r}: first write ${Math.round(firstWrite.at(-1) as number)} ms, 3 voters ${Math.round(threeVoters.at(-1) as number)} ms after the joiners' spawn`)
    } finally {
      await cluster.stopAll()
    }
    // mDNS on (the loopback default): the founder waits out the LAN grace first
    const lan = new Cluster({ heartbeatIntervalMs: 3000, failureTimeoutMs: 10000 })
    try {
      const t0 = performance.now()
      const founder = await lan.start('lan-founder', { env: { ...founding, MESH_MDNS: '' } })
      mdnsFirstWrite.push(await timeUntil('the first write (mDNS on)', t0, 60_000, async () => await write(founder, `m${r}`)))
    } finally {
      await lan.stopAll()
    }
  }
  return {
    rounds,
    founderStartMs: distribution(founderStart, 0),
    founderFirstWriteMs: distribution(firstWrite, 0),
    founderFirstTaskMs: distribution(firstTask, 0),
    joinerObservingMs: distribution(joinerObserving, 0),
    threeVotersMs: distribution(threeVoters, 0),
    mdnsFounderFirstWriteMs: distribution(mdnsFirstWrite, 0),
    loadavg: { start: started, end: load() }
  }
}
