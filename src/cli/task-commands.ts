/** `mesh task submit|get|list|cancel`: task distribution through a running node's API. */
import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import { CliError, requestJson } from './client.js'
import type { ClientOptions } from './client.js'
import { shortPeerId, table } from './format.js'

type Options = { dataDir?: string, api?: string, apiToken?: string, json?: boolean }

interface TaskView {
  id: string
  capabilities: string[]
  state: string
  assignee: string | null
  assignment: number
  priority: number
  strategy: string
  submitter: string
  result?: string
  error?: string
  history: Array<{ seq: number, event: string, node?: string, assignment: number }>
}

function print (options: Options, body: unknown, human: () => string): void {
  console.log(options.json === true ? JSON.stringify(body, null, 2) : human())
}

function describe (task: TaskView): string {
  const lines = [
    `${task.id}: ${task.state}${task.assignee != null ? ` on ${shortPeerId(task.assignee)} (assignment ${task.assignment})` : ''}`,
    `  capabilities ${task.capabilities.join(', ')}    strategy ${task.strategy}    priority ${task.priority}`
  ]
  if (task.result != null) lines.push(`  result ${task.result.length > 200 ? `${task.result.slice(0, 197)}...` : task.result}`)
  if (task.error != null) lines.push(`  error  ${task.error}`)
  if (task.history.length > 0) lines.push(`  history ${task.history.map(h => `${h.event}${h.node != null ? `→${shortPeerId(h.node)}` : ''}@${h.seq}`).join(' ')}`)
  return lines.join('\n')
}

export function addTaskCommands (program: Command, addClientOptions: (c: Command) => Command, clientOptions: (o: Options) => ClientOptions): void {
  const task = program.command('task').description('submit tasks to the mesh and follow them (needs a consensus network: --genesis)')

  addClientOptions(task.command('submit'))
    .description('submit a task; the mesh decides who runs it (auction by default, or DHT routing)')
    .requiredOption('--capability <names>', 'required capabilities, comma-separated (e.g. echo or sha256,gpu)')
    .option('--payload <json>', 'JSON payload, or @file to read it from a file', 'null')
    .option('--strategy <s>', 'auction or dht', 'auction')
    .option('--priority <n>', '0-9, higher runs first', '5')
    .option('--timeout-ms <ms>', 'how long the task may run', '60000')
    .option('--id <id>', 'task id (default: generated)')
    .option('--wait', 'wait until it completes or fails, and print the result')
    .option('--wait-timeout-ms <ms>', 'how long --wait waits', '120000')
    .action(async (options: Options & { capability: string, payload: string, strategy: string, priority: string, timeoutMs: string, id?: string, wait?: boolean, waitTimeoutMs: string }) => {
      let text = options.payload
      if (text.startsWith('@')) {
        try { text = readFileSync(text.slice(1), 'utf8') } catch (err) { throw new CliError(`--payload: cannot read ${text.slice(1)}: ${(err as Error).message}`, 2) }
      }
      let payload: unknown
      try { payload = JSON.parse(text) } catch (err) { throw new CliError(`--payload: not valid JSON (${(err as Error).message}); quote it, e.g. --payload '{"n": 1}'`, 2) }
      if (options.strategy !== 'auction' && options.strategy !== 'dht') throw new CliError(`--strategy: "${options.strategy}" must be auction or dht`, 2)
      const priority = Number(options.priority)
      if (!Number.isInteger(priority) || priority < 0 || priority > 9) throw new CliError(`--priority: "${options.priority}" must be a whole number 0-9`, 2)
      const timeoutMs = Number(options.timeoutMs)
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new CliError(`--timeout-ms: "${options.timeoutMs}" must be a positive whole number`, 2)
      const waitMs = Number(options.waitTimeoutMs)
      if (!Number.isInteger(waitMs) || waitMs < 1 || waitMs > 600_000) throw new CliError(`--wait-timeout-ms: "${options.waitTimeoutMs}" must be 1-600000`, 2)
      const body = { capabilities: options.capability.split(',').map(c => c.trim()).filter(c => c !== ''), payload, strategy: options.strategy, priority, timeoutMs, ...(options.id != null ? { id: options.id } : {}) }
      const path = options.wait === true ? `/v1/tasks?wait=1&timeoutMs=${waitMs}` : '/v1/tasks'
      const res = await requestJson<{ id: string, seq: number, task?: TaskView }>(clientOptions(options), 'POST', path, body, options.wait === true ? waitMs + 30_000 : 30_000)
      print(options, res, () => res.task != null && options.wait === true ? describe(res.task) : `submitted ${res.id} at seq ${res.seq} (mesh task get ${res.id})`)
      if (options.wait === true && res.task?.state !== 'completed') process.exitCode = 1
    })

  addClientOptions(task.command('get').argument('<id>'))
    .description('show one task: state, owner, result, history')
    .action(async (id: string, options: Options) => {
      const body = await requestJson<TaskView>(clientOptions(options), 'GET', `/v1/tasks/${encodeURIComponent(id)}`)
      print(options, body, () => describe(body))
    })

  addClientOptions(task.command('list'))
    .description('list tasks, newest first (this node\'s copy of the replicated task table)')
    .option('--state <s>', 'only pending, assigned, running, completed, failed or cancelled')
    .option('--limit <n>', 'at most this many (1-1000)', '100')
    .action(async (options: Options & { state?: string, limit: string }) => {
      const query = new URLSearchParams({ limit: options.limit })
      if (options.state != null) query.set('state', options.state)
      const body = await requestJson<{ counts: Record<string, number>, tasks: TaskView[] }>(clientOptions(options), 'GET', `/v1/tasks?${query.toString()}`)
      print(options, body, () => `${table(['ID', 'STATE', 'ASSIGNEE', 'CAPABILITIES', 'STRATEGY'], body.tasks.map(t => [t.id, t.state, t.assignee != null ? shortPeerId(t.assignee) : '-', t.capabilities.join(','), t.strategy]))}\n${Object.entries(body.counts).map(([k, v]) => `${k} ${v}`).join('  ')}`)
    })

  addClientOptions(task.command('cancel').argument('<id>'))
    .description('cancel a task that has not finished (only its submitter may)')
    .action(async (id: string, options: Options) => {
      const body = await requestJson<{ ok: boolean, seq: number, error?: string }>(clientOptions(options), 'DELETE', `/v1/tasks/${encodeURIComponent(id)}`, undefined, 30_000)
      print(options, body, () => `cancelled ${id} at seq ${body.seq}`)
    })
}
