/**
 * `npm run chaos -- --minutes M --seed S [--engine pbft|raft] [--out history.json] [--json] [--no-partitions]`
 *
 * Runs the chaos harness (test/chaos/chaos.ts), prints the summary (or the report as JSON with
 * --json), writes the full history to --out (default: mesh-chaos-<seed>.json in the system temp
 * directory) and exits 1 when any check fails.
 */
import '../../src/polyfill.js'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runChaos, summarize, writeHistory } from './chaos.js'

interface Args { minutes: number, seed: number, engine: 'pbft' | 'raft', out: string | null, json: boolean, partitions: boolean }

function parse (argv: string[]): Args {
  const args: Args = { minutes: 2, seed: 1, engine: 'pbft', out: null, json: false, partitions: true }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = (): string => {
      const v = argv[++i]
      if (v == null) throw new Error(`${arg ?? ''} needs a value`)
      return v
    }
    if (arg === '--minutes') args.minutes = Number(value())
    else if (arg === '--seed') args.seed = Number(value())
    else if (arg === '--engine') {
      const e = value()
      if (e !== 'pbft' && e !== 'raft') throw new Error('--engine must be pbft or raft')
      args.engine = e
    } else if (arg === '--out') args.out = value()
    else if (arg === '--json') args.json = true
    else if (arg === '--no-partitions') args.partitions = false
    else throw new Error(`unknown argument ${arg ?? ''} (usage: --minutes M --seed S [--engine pbft|raft] [--out history.json] [--json] [--no-partitions])`)
  }
  if (!Number.isFinite(args.minutes) || args.minutes <= 0 || args.minutes > 24 * 60) throw new Error('--minutes must be a positive number of minutes')
  if (!Number.isInteger(args.seed) || args.seed < 0 || args.seed > 0xffffffff) throw new Error('--seed must be an integer 0..4294967295')
  return args
}

const help = `usage: npm run chaos -- --minutes M --seed S [--engine pbft|raft] [--out history.json] [--json] [--no-partitions]

Start 4 validators and 2 workers (each in its own network namespace when run as root), run concurrent
key-value and task clients that record every operation, and inject seeded faults (kill -9 + restart,
SIGSTOP/SIGCONT, partitions; single and mixed); then heal and check: the history is linearizable,
plain reads are prefix-consistent and monotonic per session, every acknowledged write survives, every
task completed once with one result and ran at most once per assignment.

  --minutes M       how long faults are injected (default 2)
  --seed S          fixes the faults, their targets and durations, and the clients' operations (default 1)
  --engine E        pbft (default) or raft
  --out FILE        the full history as JSON (default: mesh-chaos-<seed>.json in the temp directory)
  --json            the report as JSON on stdout (progress on stderr)
  --no-partitions   no network namespaces even as root
Exit 0: every check passed; 1: a check failed (the minimal failing sub-history is printed); 2: bad usage.`

async function main (): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(help)
    process.exit(0)
  }
  let args: Args
  try {
    args = parse(process.argv.slice(2))
  } catch (err) {
    console.error((err as Error).message)
    process.exit(2)
  }
  const report = await runChaos({ minutes: args.minutes, seed: args.seed, engine: args.engine, partitions: args.partitions, log: args.json ? line => { console.error(line) } : undefined })
  const out = args.out ?? join(tmpdir(), `mesh-chaos-${args.seed}.json`)
  writeHistory(report, out)
  if (args.json) {
    const { history, taskRuns, ...rest } = report
    console.log(JSON.stringify({ ...rest, historyFile: out, historyOperations: history.length, taskRunLines: taskRuns.length }))
  } else {
    console.log(summarize(report))
    console.log(`history: ${out}`)
  }
  process.exit(report.ok ? 0 : 1)
}

await main()
