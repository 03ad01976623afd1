/**
 * The nemesis: a seeded schedule of faults, one at a time or two together, each healed before the
 * next. Kinds:
 *   kill      — kill -9 a node, leave it down 1–5 s, restart it on the same data dir;
 *   pause     — SIGSTOP a node for 2–6 s, then SIGCONT (its sockets stay open: peers just hear nothing);
 *   partition — (network namespaces only) cut one or two hosts off at the switch for 3–8 s.
 * A single fault touches one node, so at most f = 1 validator is faulty (liveness holds); a mix
 * applies two faults to two different nodes at once, which may make 2 validators faulty for a while:
 * then the cluster may stall (writes answer 503/504), and only safety is checked.
 */
import { SeededRandom } from '../../src/core/random.js'
import { sleep } from '../e2e/harness.js'
import type { ChaosCluster, ChaosNode } from './cluster.js'

export type FaultKind = 'kill' | 'pause' | 'partition'

export interface FaultRecord {
  kind: FaultKind
  /** Part of a mix (two faults at once). */
  mix: boolean
  targets: string[]
  /** ms since the run began. */
  start: number
  end: number
  error?: string
}

export class Nemesis {
  readonly faults: FaultRecord[] = []
  private stopped = false
  private loop: Promise<void> | null = null
  private readonly rng: SeededRandom

  constructor (readonly cluster: ChaosCluster, seed: number, readonly now: () => number, readonly log: (line: string) => void) {
    this.rng = new SeededRandom(seed ^ 0x5eed)
  }

  private between (lo: number, hi: number): number { return lo + Math.floor(this.rng.next() * (hi - lo)) }

  private pick<T> (items: readonly T[]): T { return items[Math.floor(this.rng.next() * items.length)] as T }

  private kinds (): FaultKind[] {
    return this.cluster.partitionsUnavailable == null ? ['kill', 'pause', 'partition'] : ['kill', 'pause']
  }

  /** A target: validators twice as likely as workers (they matter more to consensus). */
  private target (exclude: ChaosNode[] = []): ChaosNode {
    const weighted = this.cluster.nodes.flatMap(n => n.role === 'validator' ? [n, n] : [n]).filter(n => !exclude.includes(n))
    return this.pick(weighted)
  }

  start (): void {
    this.loop = (async () => {
      while (!this.stopped) {
        await this.quiet(this.between(2_000, 5_000))
        if (this.stopped) break
        const kinds = this.kinds()
        if (this.rng.next() < 0.25) {
          const first = this.target()
          const second = this.target([first])
          await Promise.all([this.fault(this.pick(kinds), [first], true), this.fault(this.pick(kinds), [second], true)])
        } else {
          const kind = this.pick(kinds)
          // a partition sometimes cuts two hosts off (each alone)
          const targets = kind === 'partition' && this.rng.next() < 0.3 ? [this.target(), this.target()] : [this.target()]
          await this.fault(kind, [...new Set(targets)], false)
        }
      }
    })()
  }

  /** Sleep up to `ms`, waking early when stopped. */
  private async quiet (ms: number): Promise<void> {
    const until = Date.now() + ms
    while (!this.stopped && Date.now() < until) await sleep(Math.min(250, until - Date.now()))
  }

  private async fault (kind: FaultKind, targets: ChaosNode[], mix: boolean): Promise<void> {
    const record: FaultRecord = { kind, mix, targets: targets.map(t => t.name), start: this.now(), end: 0 }
    this.faults.push(record)
    this.log(`nemesis: ${kind}${mix ? ' (mix)' : ''} ${record.targets.join(', ')}`)
    try {
      switch (kind) {
        case 'kill':
          for (const t of targets) await this.cluster.kill(t)
          await sleep(this.between(1_000, 5_000))
          for (const t of targets) await this.cluster.restart(t)
          break
        case 'pause':
          for (const t of targets) this.cluster.pause(t)
          await sleep(this.between(2_000, 6_000))
          for (const t of targets) this.cluster.resume(t)
          break
        case 'partition':
          for (const t of targets) this.cluster.isolate(t)
          await sleep(this.between(3_000, 8_000))
          for (const t of targets) this.cluster.reconnect(t)
          break
      }
    } catch (err) {
      record.error = (err as Error).message
      this.log(`nemesis: ${kind} ${record.targets.join(', ')} failed: ${record.error}`)
    }
    record.end = this.now()
  }

  /** Stop scheduling, wait for the fault in progress to heal, then heal everything. */
  async stop (): Promise<void> {
    this.stopped = true
    await this.loop
    // one more try for a node whose restart failed (a slow box): the run goes on and says so
    await this.cluster.healAll().catch(async (err: unknown) => {
      this.log(`heal: ${(err as Error).message}; trying once more`)
      await this.cluster.healAll()
    })
  }

  counts (): Record<string, number> {
    const out: Record<string, number> = {}
    for (const f of this.faults) {
      const name = f.mix ? `${f.kind} (in a mix)` : f.kind
      out[name] = (out[name] ?? 0) + 1
    }
    return out
  }
}
