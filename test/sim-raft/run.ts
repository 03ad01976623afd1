/**
 * The Raft simulator's command line (compile first: `npx tsc -p tsconfig.json`):
 *
 *   node dist/test/sim-raft/run.js --seeds 10000             seeds 1..10000 (n = 3 or 5 drawn per seed)
 *   node dist/test/sim-raft/run.js --seeds 500 --seed 7000   seeds 7000..7499
 *   node dist/test/sim-raft/run.js --seed 42 [--n 5] --trace replay one seed with its whole trace
 *   node dist/test/sim-raft/run.js --scenario leader-crash   a named scenario (--list shows them)
 *   --quiet: only the summary.   Exit status 0 when every run passed (broken-* scenarios must fail).
 */
import { runRaftScenario } from './network.js'
import type { RunResult } from './network.js'
import { describeScenario, namedScenarios, scenarioFromSeed } from './scenarios.js'

interface Options { seeds?: number, seed?: number, n?: number, scenario?: string, trace: boolean, quiet: boolean, list: boolean }

function parse (argv: string[]): Options {
  const options: Options = { trace: false, quiet: false, list: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const integer = (): number => {
      const v = Number(argv[++i])
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${arg} needs a non-negative integer`)
      return v
    }
    switch (arg) {
      case '--seeds': options.seeds = integer(); break
      case '--seed': options.seed = integer(); break
      case '--n': options.n = integer(); break
      case '--scenario': options.scenario = argv[++i]; break
      case '--trace': options.trace = true; break
      case '--quiet': options.quiet = true; break
      case '--list': options.list = true; break
      case '--engine': i++; break // `npm run sim -- --engine raft` passes it through
      default: throw new Error(`unknown argument ${arg}`)
    }
  }
  return options
}

function print (result: RunResult, trace: boolean): void {
  console.log(`${result.ok ? 'ok  ' : 'FAIL'} ${describeScenario(result.scenario)}`)
  const st = result.stats
  console.log(`     ops ${st.operationsDone}/${st.operationsTotal} (reads ${st.readsDone}) maxTerm=${st.maxTerm} maxCommit=${st.maxCommit} leaders=${st.leaders} crashes=${st.crashes} restarts=${st.restarts} snapshots-installed=${st.snapshotsInstalled} membership-changes=${st.membershipChanges} step-downs=${st.stepDowns} reads-failed=${st.readsFailed} dropped=${st.dropped}`)
  for (const v of result.violations) console.log(`     [${v.invariant}] at ${v.atMs} ms${v.node != null ? `, node ${v.node}` : ''}: ${v.detail}`)
  if (trace || !result.ok) for (const line of trace ? result.trace : result.trace.slice(-40)) console.log(`       ${line}`)
}

function main (): number {
  const options = parse(process.argv.slice(2))
  if (options.list) { for (const name of Object.keys(namedScenarios)) console.log(name); return 0 }
  if (options.scenario != null) {
    const make = namedScenarios[options.scenario]
    if (make == null) throw new Error(`no scenario ${options.scenario} (--list)`)
    const result = runRaftScenario(make(), { trace: options.trace })
    print(result, options.trace)
    return result.ok === !options.scenario.startsWith('broken-') ? 0 : 1
  }
  if (options.seeds == null) {
    const seed = options.seed ?? 1
    const result = runRaftScenario(scenarioFromSeed(seed, options.n), { trace: options.trace })
    print(result, options.trace)
    return result.ok ? 0 : 1
  }
  const first = options.seed ?? 1
  const failed: number[] = []
  let ops = 0
  for (let seed = first; seed < first + options.seeds; seed++) {
    const result = runRaftScenario(scenarioFromSeed(seed, options.n))
    ops += result.stats.operationsDone
    if (!result.ok) {
      failed.push(seed)
      if (!options.quiet) print(result, false)
      console.log(`     replay: node dist/test/sim-raft/run.js --seed ${seed}${options.n != null ? ` --n ${options.n}` : ''} --trace`)
    }
    if (!options.quiet && (seed - first + 1) % 500 === 0) console.log(`… ${seed - first + 1} seeds, ${failed.length} failed`)
  }
  console.log(`${options.seeds} seeds from ${first}: ${options.seeds - failed.length} passed, ${failed.length} failed${failed.length > 0 ? ` (${failed.slice(0, 20).join(', ')})` : ''}; ${ops} client operations finished`)
  return failed.length === 0 ? 0 : 1
}

process.exitCode = main()
