/**
 * Writes on the minority side of a partition, with real hosts (issue 9, part 3).
 *
 * The 4 validators of `mesh testnet --nodes 4`, each in its own network namespace on one bridge.
 * 1. The primary's cable is pulled at the switch: once it reports `read-only`, a write on it is refused
 *    at once with 503 `read-only: no quorum` and nothing is left queued on it; the other three change
 *    view and keep committing; after the link comes back and every node has caught up to the same
 *    lastExecuted, the refused write is absent on every node.
 * 2. Two validators are frozen (SIGSTOP: their sockets stay open, so the writer still sees them
 *    connected and alive for a while): a write that goes out cannot be decided and answers 504 with its
 *    request id and "outcome unknown". After they are resumed, retrying that request id (HTTP
 *    `requestId`, CLI `--request-id`) answers the same result every time and the proposal exists
 *    exactly once on every node, also after the writer restarted (new incarnation) in between; the
 *    same id with another operation is refused.
 *
 * Needs root and iproute2; otherwise the suite is skipped and the reason printed.
 * Only addresses inside namespaces created here are used, plus 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { api, Cluster, meshBin, waitUntil } from './harness.js'
import type { NodeProcess, TestnetNode } from './harness.js'
import { NetnsLab, netnsUnavailableReason } from './netns.js'
import type { Host } from './netns.js'
import type { NodeStatus } from '../../src/runtime/mesh-node.js'

const unavailable = netnsUnavailableReason()
if (unavailable != null) console.warn(`[netns-writes.test] SKIPPED multi-host namespace tests: ${unavailable}`)

/** Fixed ports are fine: every host has its own network stack. */
const p2pPort = 4747
const apiPort = 4748
const waitMs = 90_000

interface ConsensusView {
  view: number
  primary: string
  active: boolean
  lastExecuted: number
  pendingClientRequests: number
  validators: Array<{ peerId: string, connected: boolean }>
}
interface WriteAnswer { ok?: boolean, seq?: number, id?: string, error?: string, requestId?: string, outcome?: string }
interface ProposalView { id: string, proposal: unknown }

/**
 * Run the CLI without blocking this process: the API relays into the namespaces live in it (a
 * spawnSync would stall them and the CLI would time out).
 */
async function runCli (args: string[]): Promise<{ status: number, stdout: string, stderr: string }> {
  return await new Promise(resolve => {
    execFile(process.execPath, [meshBin, ...args], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err == null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1
      resolve({ status: code, stdout, stderr })
    })
  })
}

const title = 'writes across a partition: 4 validators, one network namespace each' + (unavailable != null ? ` (skipped: ${unavailable})` : '')

describe.skipIf(unavailable != null)(title, () => {
  let lab: NetnsLab
  const cluster = new Cluster({ heartbeatIntervalMs: 500, failureTimeoutMs: 3000 })
  let testnet: TestnetNode[] = []
  const hostOf = new Map<string, Host>()
  const apiUrls = new Map<string, string>()
  let seedAddress = ''
  const stopped = new Set<number>()
  const t0 = Date.now()
  const step = (text: string): void => { console.log(`[netns-writes.test +${((Date.now() - t0) / 1000).toFixed(1)} s] ${text}`) }

  async function startValidator (node: TestnetNode): Promise<NodeProcess> {
    const host = hostOf.get(node.name) as Host
    return await cluster.start(node.name, {
      dataDir: node.dataDir,
      listen: [`/ip4/${host.address}/tcp/${p2pPort}`],
      api: `127.0.0.1:${apiPort}`,
      wrap: lab.wrap(host),
      apiUrl: apiUrls.get(node.name),
      extraArgs: ['--config', node.config],
      ...(seedAddress !== '' ? { bootstrap: [seedAddress] } : {})
    })
  }

  const consensus = async (node: NodeProcess): Promise<ConsensusView> => (await api<ConsensusView>(node, 'GET', '/v1/consensus', undefined, 10_000)).body
  const byPeerId = (peerId: string): NodeProcess => {
    const node = cluster.nodes.find(n => n.runtime.peerId === peerId)
    if (node == null) throw new Error(`no node with PeerId ${peerId}`)
    return node
  }
  const allAlive = (status: NodeStatus): boolean => status.counts.alive === 4 && !status.partitioned && status.mode === 'read-write'

  async function waitHealthy (description: string): Promise<void> {
    await Promise.all(cluster.nodes.map(async node => {
      await cluster.waitForStatus(node, `${description}: 4 alive, read-write`, allAlive, waitMs)
      await waitUntil(`${node.name}: ${description}: connected to every validator, view active`, waitMs, async () => {
        const c = await consensus(node)
        return c.active && c.validators.every(v => v.connected) ? true : undefined
      })
    }))
  }

  /** Every node has executed the same sequence number, at least `atLeast`; returns it. */
  async function waitSameLastExecuted (atLeast: number): Promise<number> {
    return await waitUntil(`all 4 nodes at the same lastExecuted ≥ ${atLeast}`, waitMs, async () => {
      const seqs = await Promise.all(cluster.nodes.map(async n => (await consensus(n)).lastExecuted))
      const first = seqs[0] as number
      return first >= atLeast && seqs.every(s => s === first) ? first : undefined
    }, 500)
  }

  /** A write through `node` that commits: retried (with a new key each time) across a view change. */
  async function committedWrite (node: NodeProcess, prefix: string): Promise<number> {
    let attempt = 0
    return await waitUntil(`a write through ${node.name} to commit`, waitMs, async () => {
      const res = await api<WriteAnswer>(node, 'PUT', `/v1/memory/default/${prefix}-${attempt++}`, { value: 'majority' }, 30_000)
      return res.status === 200 ? res.body.seq : undefined
    }, 500)
  }

  beforeAll(async () => {
    lab = new NetnsLab()
    testnet = cluster.testnet(4)
    const hosts = lab.create(testnet.length)
    for (const [i, node] of testnet.entries()) {
      hostOf.set(node.name, hosts[i] as Host)
      apiUrls.set(node.name, await lab.startApiRelay(hosts[i] as Host, apiPort, cluster.root))
    }
    const seed = await startValidator(testnet[0] as TestnetNode)
    const seedHost = hostOf.get(seed.name) as Host
    seedAddress = seed.runtime.multiaddrs.find(a => a.startsWith(`/ip4/${seedHost.address}/tcp/`)) ?? ''
    expect(seedAddress, `seed multiaddrs: ${seed.runtime.multiaddrs.join(' ')}`).not.toBe('')
    await Promise.all(testnet.slice(1).map(async node => await startValidator(node)))
    await waitHealthy('start')
    // one write end to end before anything is cut
    await committedWrite(seed, 'warm-up')
    step(`4 validators up in ${hosts.map(h => h.ns).join(' ')} (files in ${cluster.root})`)
  }, 180_000)

  afterAll(async () => {
    try {
      for (const pid of stopped) { try { process.kill(pid, 'SIGCONT') } catch {} }
      await cluster.stopAll()
    } finally {
      if (lab != null) await lab.destroy()
    }
  })

  it('the isolated primary refuses a write at once with 503; the majority keeps committing; the refused write never applies', async () => {
    const before = await consensus(cluster.nodes[0] as NodeProcess)
    const primary = byPeerId(before.primary)
    const primaryHost = hostOf.get(primary.name) as Host
    const majority = cluster.nodes.filter(n => n !== primary)
    lab.linkDown(primaryHost, 'switch')
    step(`cable of ${primary.name} (the primary, view ${before.view}) pulled at the switch`)
    try {
      await cluster.waitForStatus(primary, 'reports read-only', s => s.mode === 'read-only' && s.partitioned, waitMs)
      step(`${primary.name} reports read-only`)

      const refused = await api<WriteAnswer>(primary, 'PUT', '/v1/memory/default/kx', { value: 'minority' }, 60_000)
      step(`write on ${primary.name}: ${refused.status} ${JSON.stringify(refused.body)}`)
      expect(refused.status).toBe(503)
      expect(refused.body.error).toMatch(/^read-only: no quorum/)
      expect(refused.body.requestId, 'a refused write was never sent, so it has no request id').toBeUndefined()
      // nothing left queued or waiting on the client side of the isolated node
      expect((await consensus(primary)).pendingClientRequests).toBe(0)

      // the CLI says the same, exit code 1
      const cli = await runCli(['memory', 'store', 'kx', 'minority-cli', '--api', apiUrls.get(primary.name) as string])
      expect(cli.status, cli.stderr).toBe(1)
      expect(cli.stderr).toMatch(/503 read-only: no quorum/)

      // the other three change view and keep committing
      const writer = majority[0] as NodeProcess
      const seq = await committedWrite(writer, 'majority')
      const after = await consensus(writer)
      expect(after.view).toBeGreaterThan(before.view)
      expect(after.primary).not.toBe(primary.runtime.peerId)
      step(`majority committed at seq ${seq} in view ${after.view}`)
    } finally {
      lab.linkUp(primaryHost, 'switch')
    }
    step(`cable of ${primary.name} plugged back`)
    await waitHealthy('after the heal')
    // a write through the formerly isolated node: its replica is back in the game and has caught up
    const seq = await committedWrite(primary, 'healed')
    const last = await waitSameLastExecuted(seq)
    step(`healed; all 4 at lastExecuted ${last}`)
    for (const node of cluster.nodes) {
      const read = await api<{ value?: string }>(node, 'GET', '/v1/memory/default/kx')
      expect(read.status, `${node.name} reads kx: ${JSON.stringify(read.body)}`).toBe(404)
    }
  }, 300_000)

  it('a write that went out and timed out answers 504 with its request id; retrying that id applies it exactly once, also after a restart', async () => {
    await waitHealthy('before freezing two validators')
    const view = await consensus(cluster.nodes[0] as NodeProcess)
    // the writer: a backup; freeze two others (so 2 of 4 are left: no quorum, nothing can commit)
    const writer = cluster.nodes.find(n => n.runtime.peerId !== view.primary) as NodeProcess
    const frozen = cluster.nodes.filter(n => n !== writer).slice(0, 2)
    const marker = `exactly-once-${process.pid}-${Date.now()}`
    const operation = { proposal: { marker }, threshold: 0.67 }

    // The write must leave before the writer's membership suspects the frozen ones (3 s of silence):
    // it then would be refused with 503, correctly but not what this test is about. Try again if so.
    let timedOut: { status: number, body: WriteAnswer } | undefined
    for (let attempt = 1; attempt <= 3 && timedOut == null; attempt++) {
      for (const node of frozen) { cluster.kill(node, 'SIGSTOP'); stopped.add(node.pid) }
      step(`froze ${frozen.map(n => n.name).join(', ')}; proposing through ${writer.name} (attempt ${attempt})`)
      const res = await api<WriteAnswer>(writer, 'POST', '/v1/proposals', operation, 60_000)
      step(`answer: ${res.status} ${JSON.stringify(res.body)}`)
      for (const node of frozen) { cluster.kill(node, 'SIGCONT'); stopped.delete(node.pid) }
      if (res.status === 503) { await waitHealthy('after a 503 attempt'); continue }
      timedOut = res
    }
    if (timedOut == null) throw new Error('three attempts were refused with 503 before the write could go out')
    expect(timedOut.status).toBe(504)
    expect(timedOut.body.error).toMatch(/outcome unknown/)
    const requestId = timedOut.body.requestId as string
    expect(requestId).toMatch(new RegExp(`^${writer.runtime.peerId}/\\d+/\\d+`))
    step(`504 with request id ${requestId}; validators resumed`)
    await waitHealthy('after resuming the frozen validators')

    // retry with the id: the result of the one execution
    const retried = await api<WriteAnswer>(writer, 'POST', '/v1/proposals', { ...operation, requestId }, 60_000)
    step(`retry: ${retried.status} ${JSON.stringify(retried.body)}`)
    expect(retried.status).toBe(200)
    const proposalId = retried.body.id as string
    expect(proposalId).toMatch(/^p-\d+-\d+$/)
    const again = await api<WriteAnswer>(writer, 'POST', '/v1/proposals', { ...operation, requestId }, 60_000)
    expect(again.status).toBe(200)
    expect(again.body.id).toBe(proposalId)
    expect(again.body.seq).toBe(retried.body.seq)

    // the same id with another operation is refused, and nothing is sent
    const other = await api<WriteAnswer>(writer, 'POST', '/v1/proposals', { proposal: { marker: `${marker}-other` }, threshold: 0.67, requestId }, 60_000)
    expect(other.status).toBe(422)
    expect(other.body.error).toMatch(/another operation/)

    // the writer restarts (new incarnation, same key) between the 504 and a retry: same answer
    cluster.kill(writer, 'SIGTERM')
    expect((await cluster.waitExit(writer)).code).toBe(0)
    rmSync(join(writer.dataDir, 'runtime.json'), { force: true })
    const restarted = await startValidator(testnet.find(n => n.name === writer.name) as TestnetNode)
    expect(restarted.runtime.incarnation).toBeGreaterThan(writer.runtime.incarnation)
    await waitHealthy('after restarting the writer')
    const afterRestart = await api<WriteAnswer>(restarted, 'POST', '/v1/proposals', { ...operation, requestId }, 60_000)
    step(`retry after restart: ${afterRestart.status} ${JSON.stringify(afterRestart.body)}`)
    expect(afterRestart.status).toBe(200)
    expect(afterRestart.body.id).toBe(proposalId)

    // and through the CLI: --request-id on `mesh propose`
    const cli = await runCli(['propose', JSON.stringify({ marker }), '--request-id', requestId, '--api', apiUrls.get(writer.name) as string, '--json'])
    expect(cli.status, cli.stderr).toBe(0)
    expect((JSON.parse(cli.stdout) as WriteAnswer).id).toBe(proposalId)

    // exactly one proposal carries the marker, on every node once all have caught up
    const seq = await committedWrite(restarted, 'after-retries')
    await waitSameLastExecuted(seq)
    for (const node of cluster.nodes) {
      const list = await api<{ proposals: ProposalView[] }>(node, 'GET', '/v1/proposals')
      const matching = list.body.proposals.filter(p => JSON.stringify(p.proposal).includes(marker))
      expect(matching.map(p => p.id), `${node.name}'s proposals with the marker`).toEqual([proposalId])
    }
  }, 300_000)
})
