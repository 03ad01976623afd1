/**
 * The soak's steady mixed load: every kind of work a mesh does, each at a fixed modest rate
 * (cluster-wide operations per second), spread at random over the nodes' HTTP APIs:
 * - consensus memory writes (PUT /v1/memory/soak/:key, on validators) and reads (GET, any node);
 * - eventual-store puts (PUT /v1/memory/soake/:key?consistency=eventual, any node);
 * - tasks (POST /v1/tasks, capability `echo`, any node);
 * - gossip votes: a proposal (POST /v1/proposals, protocol gossip, 60 s TTL) then approvals from
 *   three other nodes (POST /v1/proposals/:id/votes);
 * - peer messages (POST /v1/messages to another node by name).
 * Keys cycle over a bounded set and proposals expire, so the work itself leaves a bounded state: what
 * keeps growing in a node is the node's doing, not the load's. At most `inFlightMax` operations of
 * one kind are outstanding; a tick that finds them all busy is counted as `skipped`, not queued, so
 * a slow node is not buried under a backlog.
 */
import type { NodeProcess } from '../e2e/harness.js'

export type LoadKind = 'memoryWrite' | 'memoryRead' | 'eventualPut' | 'task' | 'proposal' | 'vote' | 'message'

/** Operations per second, cluster-wide (votes follow proposals: `votesPerProposal` each). */
export type LoadRates = Record<Exclude<LoadKind, 'vote'>, number>

export const defaultRates: LoadRates = { memoryWrite: 2, memoryRead: 4, eventualPut: 2, task: 1, proposal: 0.2, message: 2 }

/** Distinct keys per namespace the writes cycle over. */
export const keysMax = 256
/** Value size of a write, bytes. */
const valueBytes = 200
const votesPerProposal = 3
const inFlightMax = 4
const requestTimeoutMs = 30_000
/** Distinct error texts kept per kind (the rest counted as "other"). */
const errorKindsMax = 20

export interface KindStats {
  ok: number
  failed: number
  skipped: number
  errors: Record<string, number>
}

export class SteadyLoad {
  private readonly timers: NodeJS.Timeout[] = []
  private readonly inFlight = new Map<LoadKind, number>()
  private readonly pending = new Set<Promise<void>>()
  private readonly counters = new Map<LoadKind, KindStats>()
  private sequence = 0

  constructor (private readonly validators: NodeProcess[], private readonly nodes: NodeProcess[], private readonly rates: LoadRates) {}

  start (): void {
    const kinds = Object.entries(this.rates) as Array<[Exclude<LoadKind, 'vote'>, number]>
    for (const [kind, rate] of kinds) {
      if (!(rate > 0)) continue
      this.timers.push(setInterval(() => { this.tick(kind) }, Math.round(1000 / rate)))
    }
  }

  /** Stop starting operations and wait for the outstanding ones. */
  async stop (): Promise<void> {
    for (const timer of this.timers) clearInterval(timer)
    await Promise.allSettled([...this.pending])
  }

  stats (): Record<string, KindStats> {
    return Object.fromEntries([...this.counters.entries()].map(([k, v]) => [k, { ...v, errors: { ...v.errors } }]))
  }

  private stat (kind: LoadKind): KindStats {
    let s = this.counters.get(kind)
    if (s == null) { s = { ok: 0, failed: 0, skipped: 0, errors: {} }; this.counters.set(kind, s) }
    return s
  }

  private tick (kind: LoadKind): void {
    const busy = this.inFlight.get(kind) ?? 0
    if (busy >= inFlightMax) { this.stat(kind).skipped++; return }
    this.inFlight.set(kind, busy + 1)
    const run = this.run(kind).finally(() => {
      this.inFlight.set(kind, (this.inFlight.get(kind) ?? 1) - 1)
      this.pending.delete(run)
    })
    this.pending.add(run)
  }

  private async run (kind: LoadKind): Promise<void> {
    const i = this.sequence++
    const key = `k${i % keysMax}`
    const value = `${i}:`.padEnd(valueBytes, 'x')
    switch (kind) {
      case 'memoryWrite':
        await this.call(kind, pick(this.validators), 'PUT', `/v1/memory/soak/${key}`, { value })
        return
      case 'memoryRead':
        await this.call(kind, pick(this.nodes), 'GET', `/v1/memory/soak/${key}`, undefined, [404])
        return
      case 'eventualPut':
        await this.call(kind, pick(this.nodes), 'PUT', `/v1/memory/soake/${key}?consistency=eventual`, { value })
        return
      case 'task':
        await this.call(kind, pick(this.nodes), 'POST', '/v1/tasks', { capabilities: ['echo'], payload: { soak: i } })
        return
      case 'message': {
        const [from, to] = pickDistinct(this.nodes, 2)
        await this.call(kind, from as NodeProcess, 'POST', '/v1/messages', { to: (to as NodeProcess).name, body: { soak: i } })
        return
      }
      case 'proposal': {
        const [proposer, ...voters] = pickDistinct(this.nodes, 1 + votesPerProposal)
        const made = await this.call<{ id?: string }>(kind, proposer as NodeProcess, 'POST', '/v1/proposals', { proposal: { soak: i }, protocol: 'gossip', threshold: 0.67, ttlSeconds: 60 })
        if (made?.id == null) return
        // the proposal reaches the voters by gossip: a vote that arrives first is refused, and retried once
        await Promise.all(voters.map(async voter => {
          const path = `/v1/proposals/${made.id as string}/votes`
          if (await this.call(null, voter, 'POST', path, { decision: 'approve' }) == null) {
            await new Promise(resolve => setTimeout(resolve, 2_000))
            await this.call('vote', voter, 'POST', path, { decision: 'approve' })
          } else {
            this.stat('vote').ok++
          }
        }))
        return
      }
      case 'vote':
        return
    }
  }

  /**
   * One request; counts ok / failed under `kind` (null: not counted) and returns the body when it
   * succeeded (2xx, or a status listed in `alsoOk`).
   */
  private async call<T> (kind: LoadKind | null, node: NodeProcess, method: string, path: string, body?: unknown, alsoOk: number[] = []): Promise<T | null> {
    let error: string
    try {
      const headers: Record<string, string> = body !== undefined ? { 'content-type': 'application/json' } : {}
      if (node.token != null) headers.authorization = `Bearer ${node.token}`
      const res = await fetch(`${node.api}${path}`, { method, headers, body: body !== undefined ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(requestTimeoutMs) })
      const text = await res.text()
      if ((res.status >= 200 && res.status < 300) || alsoOk.includes(res.status)) {
        if (kind != null) this.stat(kind).ok++
        try { return JSON.parse(text) as T } catch { return {} as T }
      }
      let reason = text
      try { reason = String((JSON.parse(text) as { error?: unknown }).error ?? text) } catch {}
      error = `${res.status} ${reason.replace(/[0-9a-zA-Z]{30,}/g, '<id>').slice(0, 70)}`
    } catch (err) {
      const e = err as Error & { cause?: Error }
      error = (e.cause?.message ?? e.message ?? String(err)).slice(0, 70)
    }
    if (kind != null) {
      const s = this.stat(kind)
      s.failed++
      const label = error in s.errors || Object.keys(s.errors).length < errorKindsMax ? error : 'other'
      s.errors[label] = (s.errors[label] ?? 0) + 1
    }
    return null
  }
}

function pick<T> (items: T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T
}

/** `count` different items at random (all of them when there are fewer). */
function pickDistinct<T> (items: T[], count: number): T[] {
  const copy = [...items]
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const t = copy[i] as T
    copy[i] = copy[j] as T
    copy[j] = t
  }
  return copy.slice(0, count)
}
