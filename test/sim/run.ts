/**
 * The simulator's command line (TigerBeetle's VOPR in spirit): runs seeds, prints progress and a
 * summary, and for a failing seed the exact command that replays it.
 *
 *   node dist/test/sim/run.js --seeds 1000              seeds 1..1000 (n drawn from each seed)
 *   node dist/test/sim/run.js --seeds 500 --n 7         seeds 1..500, all with 7 replicas
 *   node dist/test/sim/run.js --seed 42 --n 4           replay one seed: its scenario, violations, trace tail
 *   node dist/test/sim/run.js --seeds 200 --seed 5000   seeds 5000..5199
 *   node dist/test/sim/run.js --scenario amnesia-primary  a named scenario (--list to see them)
 *   node dist/test/sim/run.js --seeds 500 --family censor   the censorship family: a censoring primary under traffic
 *   node dist/test/sim/run.js --engine raft --seeds 10000   the Raft core's simulator (test/sim-raft/run.ts)
 *   --trace  print the whole event trace of a single run;  --quiet  only the summary
 * Exit status: 0 when every run passed, 1 otherwise.
 */
import { runScenario } from './network.js'
import type { RunResult } from './network.js'
import { describeScenario } from './scenario.js'
import { censorScenarioFromSeed, namedScenarios, replayCommand, scenarioFromSeed } from './scenarios.js'

interface Options {
  seeds?: number
  seed?: number
  n?: number
  scenario?: string
  trace: boolean
  quiet: boolean
  list: boolean
  family: 'random' | 'censor'
}

function parse (argv: string[]): Options {
  const options: Options = { trace: false, quiet: false, list: false, family: 'random' }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = (): string => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${arg} needs a value`)
      return v
    }
    const integer = (): number => {
      const v = Number(value())
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${arg} needs a non-negative integer`)
      return v
    }
    switch (arg) {
      case '--seeds': options.seeds = integer(); break
      case '--seed': options.seed = integer(); break
      case '--n': {
        const n = integer()
        if (n !== 4 && n !== 7) throw new Error('--n must be 4 or 7')
        options.n = n
        break
      }
      case '--scenario': options.scenario = value(); break
      case '--family': {
        const family = value()
        if (family !== 'random' && family !== 'censor') throw new Error('--family must be random or censor')
        options.family = family
        break
      }
      case '--trace': options.trace = true; break
      case '--quiet': options.quiet = true; break
      case '--list': options.list = true; break
      case '--help': case '-h':
        console.log('usage: run.js --seeds N [--seed S] [--n 4|7] [--family random|censor] | --seed S [--n 4|7] [--family random|censor] [--trace] | --scenario NAME [--trace] | --list')
        process.exit(0)
        break
      default: throw new Error(`unknown argument ${String(arg)}`)
    }
  }
  return options
}

function printFailure (result: RunResult, command: string, traceLines: number): void {
  console.log(`\nFAIL ${describeScenario(result.scenario)}`)
  for (const v of result.violations) console.log(`  ✗ [${v.invariant}] at ${v.atMs} ms${v.replica !== undefined ? `, replica ${v.replica}` : ''}: ${v.detail}`)
  console.log(`  stats: ${statsLine(result)}`)
  if (traceLines > 0) {
    console.log(`  last ${Math.min(traceLines, result.trace.length)} events:`)
    for (const line of result.trace.slice(-traceLines)) console.log(`    ${line}`)
  }
  console.log(`  replay: ${command}`)
}

function statsLine (result: RunResult): string {
  const s = result.stats
  const drops = Object.entries(s.dropReasons).map(([k, v]) => `${k}=${v}`).join(' ')
  const byz = Object.entries(s.byzantine).map(([k, v]) => `${k}=${v}`).join(' ')
  return `${s.requestsDone}/${s.requestsTotal} done, ${s.simulatedMs} ms simulated, ${s.events} events, ${s.messagesDelivered} delivered, ` +
    `lost drop/partition/crash ${s.lostToDrops}/${s.lostToPartitions}/${s.lostToCrashes}, client requests lost ${s.clientRequestsLost}, ` +
    `forwards ${s.sentByType.forward ?? 0}, largest batch ${s.largestBatch}, bad signatures ${s.badSignatureDrops}, ` +
    `crashes ${s.crashes}, restarts ${s.restarts}, state transfers ${s.stateTransfers}, max view ${s.maxView}, executed ${s.maxExecuted}, ` +
    `latency max ${s.latencyMaxMs} ms, after heal ${s.recoveryMaxMs} ms${drops !== '' ? `; drops: ${drops}` : ''}${byz !== '' ? `; byzantine: ${byz}` : ''}`
}

function main (): number {
  let options: Options
  try {
    options = parse(process.argv.slice(2))
  } catch (error) {
    console.error(`error: ${(error as Error).message}`)
    return 2
  }
  if (options.list) {
    for (const name of Object.keys(namedScenarios)) console.log(name)
    return 0
  }
  if (options.scenario !== undefined || (options.seed !== undefined && options.seeds === undefined)) {
    const make = options.scenario !== undefined ? namedScenarios[options.scenario] : undefined
    if (options.scenario !== undefined && make === undefined) {
      console.error(`error: no scenario ${options.scenario} (--list)`)
      return 2
    }
    const fromSeed = options.family === 'censor' ? censorScenarioFromSeed : scenarioFromSeed
    const scenario = make !== undefined ? make() : fromSeed(options.seed as number, options.n)
    console.log(describeScenario(scenario))
    const started = Date.now()
    const result = runScenario(scenario, { traceAll: options.trace })
    if (options.trace) for (const line of result.trace) console.log(line)
    if (result.ok) {
      console.log(`PASS in ${Date.now() - started} ms: ${statsLine(result)}`)
      return 0
    }
    printFailure(result, replayCommand(result.scenario, options.n !== undefined), options.trace ? 0 : 80)
    return 1
  }
  const count = options.seeds ?? 100
  const first = options.seed ?? 1
  const started = Date.now()
  const failures: Array<{ result: RunResult, command: string }> = []
  const byInvariant = new Map<string, number>()
  const byProfile = new Map<string, { runs: number, failed: number }>()
  let events = 0
  for (let seed = first; seed < first + count; seed++) {
    const scenario = options.family === 'censor' ? censorScenarioFromSeed(seed, options.n) : scenarioFromSeed(seed, options.n)
    const result = runScenario(scenario)
    events += result.stats.events
    const profile = /\((\w+)\)/.exec(scenario.name)?.[1] ?? '?'
    const entry = byProfile.get(`${profile} n=${scenario.n}`) ?? { runs: 0, failed: 0 }
    entry.runs++
    if (!result.ok) {
      entry.failed++
      const command = replayCommand(result.scenario, options.n !== undefined)
      failures.push({ result, command })
      for (const v of result.violations) byInvariant.set(v.invariant, (byInvariant.get(v.invariant) ?? 0) + 1)
      if (!options.quiet) printFailure(result, command, 25)
    }
    byProfile.set(`${profile} n=${scenario.n}`, entry)
    const done = seed - first + 1
    if (!options.quiet && (done % 50 === 0 || done === count)) {
      console.log(`… ${done}/${count} seeds, ${failures.length} failed, ${((Date.now() - started) / 1000).toFixed(1)} s`)
    }
  }
  console.log(`\n${count} seeds (${first}..${first + count - 1}${options.n !== undefined ? `, n=${options.n}` : ''}): ${count - failures.length} passed, ${failures.length} failed, ${events} events, ${((Date.now() - started) / 1000).toFixed(1)} s`)
  for (const [profile, { runs, failed }] of [...byProfile].sort()) console.log(`  ${profile.padEnd(16)} ${runs} runs, ${failed} failed`)
  if (failures.length > 0) {
    console.log('violations:')
    for (const [invariant, times] of byInvariant) console.log(`  ${invariant}: ${times}`)
    console.log('replay:')
    for (const { result, command } of failures) console.log(`  ${command}    # ${result.violations[0]?.invariant ?? '?'}: ${(result.violations[0]?.detail ?? '').slice(0, 100)}`)
  }
  return failures.length === 0 ? 0 : 1
}

// `npm run sim -- --engine raft …` runs the Raft simulator (test/sim-raft/run.ts) with the same flags
const engineAt = process.argv.indexOf('--engine')
const engine = engineAt >= 0 ? process.argv[engineAt + 1] : 'pbft'
if (engine === 'raft') await import('../sim-raft/run.js')
else if (engine !== 'pbft') { console.error(`error: --engine must be pbft or raft, got ${String(engine)}`); process.exitCode = 2 } else {
  process.argv.splice(engineAt >= 0 ? engineAt : process.argv.length, engineAt >= 0 ? 2 : 0)
  process.exitCode = main()
}
