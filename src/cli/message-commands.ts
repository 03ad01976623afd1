/** `mesh send` and `mesh messages`: peer messaging through a running node's API. */
import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import { CliError, apiBase, requestJson } from './client.js'
import type { ClientOptions } from './client.js'
import { shortPeerId } from './format.js'
import type { MessageView, SendResult } from '../runtime/messages.js'

type Options = { dataDir?: string, api?: string, apiToken?: string, json?: boolean }

interface Page { messages: MessageView[], cursor: number, latest: number, oldest: number, more: boolean }

function who (peerId: string, name: string | null): string {
  return name != null ? `${name} (${shortPeerId(peerId)})` : shortPeerId(peerId)
}

/** One line per message: cursor, time, direction and peer, how, body (cut at 200 characters). */
export function messageLine (m: MessageView): string {
  const body = JSON.stringify(m.body)
  const text = body.length > 200 ? `${body.slice(0, 197)}...` : body
  const peer = m.direction === 'in'
    ? `← ${who(m.from, m.fromName)}${m.to === 'all' ? ' to all' : ''}`
    : `→ ${m.to === 'all' ? 'all' : who(m.to, m.toName)}`
  const state = m.direction === 'out' && m.via === 'direct' ? (m.delivered === true ? ' delivered' : ' NOT delivered') : ''
  return `#${m.cursor}  ${m.time.slice(11, 23)}  ${peer}  ${m.via}${state}  ${text}`
}

function parseWhole (flag: string, text: string, min: number, max: number): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || !Number.isInteger(n) || n < min || n > max) throw new CliError(`${flag}: "${text}" must be a whole number ${min}-${max}`, 2)
  return n
}

/** Follow GET /v1/messages/stream from `after`, printing each message, until Ctrl-C or the node goes. */
async function follow (options: ClientOptions, after: number, print: (m: MessageView) => void): Promise<void> {
  const base = apiBase(options)
  const controller = new AbortController()
  const stop = (): void => { controller.abort(); process.exit(0) }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const headers: Record<string, string> = { accept: 'text/event-stream', 'last-event-id': String(after) }
  if (options.apiToken != null) headers.authorization = `Bearer ${options.apiToken}`
  const connectTimer = setTimeout(() => { controller.abort() }, 5_000)
  let res: Response
  try {
    res = await fetch(`${base}/v1/messages/stream`, { headers, signal: controller.signal })
  } catch (err) {
    throw new CliError(`cannot reach the node's API at ${base} (${(err as Error).message}); is it running? (mesh start)`)
  } finally {
    clearTimeout(connectTimer)
  }
  if (!res.ok || res.body == null) {
    const text = await res.text()
    let message = text
    try { message = String((JSON.parse(text) as { error: unknown }).error) } catch {}
    throw new CliError(`${res.status} ${message.slice(0, 300)}`)
  }
  const decoder = new TextDecoder()
  let buffer = ''
  let last = after
  try {
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk, { stream: true })
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const data = block.split('\n').filter(l => l.startsWith('data: ')).map(l => l.slice(6)).join('\n')
        if (data === '') continue
        const message = JSON.parse(data) as MessageView
        last = message.cursor
        print(message)
      }
      // a stalled or hostile server must not grow this without bound
      if (buffer.length > 1024 * 1024) throw new Error('an event of more than 1 MiB')
    }
  } catch (err) {
    throw new CliError(`the message stream broke (${(err as Error).message}); resume with mesh messages --follow --after ${last}`)
  }
  throw new CliError(`the node closed the message stream (stopped?); resume with mesh messages --follow --after ${last}`)
}

export function addMessageCommands (program: Command, addClientOptions: (c: Command) => Command, clientOptions: (o: Options) => ClientOptions): void {
  addClientOptions(program.command('send'))
    .description('send a JSON message to one member (waits for its ack) or to all (broadcast)')
    .argument('<json>', 'the message: JSON text (quote it), or @file to read it from a file')
    .requiredOption('--to <peer>', 'recipient: a PeerId, a member name (mesh peers), or "all"')
    .option('--timeout-ms <ms>', 'how long to wait for the ack of a direct message (1-60000)', '5000')
    .addHelpText('after', `
Examples:
  mesh send --to worker-2 '{"cmd": "reload"}'
  mesh send --to 12D3KooW… '"hello"' --json
  mesh send --to all '{"event": "deploy", "version": 7}'
Bodies are JSON of at most 64 KiB. A direct message returns once the recipient acknowledged it;
exit 1 (504 / 502) when it did not.`)
    .action(async (json: string, options: Options & { to: string, timeoutMs: string }) => {
      let text = json
      if (text.startsWith('@')) {
        try { text = readFileSync(text.slice(1), 'utf8') } catch (err) { throw new CliError(`<json>: cannot read ${text.slice(1)}: ${(err as Error).message}`, 2) }
      }
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch (err) {
        throw new CliError(`<json>: not valid JSON (${(err as Error).message}); quote it, e.g. mesh send --to n2 '{"hello": 1}' (plain text: '"hi"')`, 2)
      }
      const timeoutMs = parseWhole('--timeout-ms', options.timeoutMs, 1, 60_000)
      const result = await requestJson<SendResult>(clientOptions(options), 'POST', '/v1/messages', { to: options.to, body, timeoutMs }, timeoutMs + 10_000)
      if (options.json === true) { console.log(JSON.stringify(result, null, 2)); return }
      if ('broadcast' in result) console.log(`broadcast ${result.id} to all (published to ${result.recipients} peer${result.recipients === 1 ? '' : 's'}; cursor ${result.cursor})`)
      else console.log(`delivered ${result.id} to ${who(result.to, result.toName)} in ${result.ackMs.toFixed(1)} ms${result.duplicate ? ' (it had it already)' : ''}`)
    })

  addClientOptions(program.command('messages'))
    .description('list the messages this node received and sent; --follow streams new ones')
    .option('--follow', 'keep printing messages as they arrive (Ctrl-C stops)')
    .option('--after <cursor>', 'only messages after this cursor (each message shows its #cursor)')
    .option('--limit <n>', 'at most this many (1-1000); without --after, the newest ones', '50')
    .addHelpText('after', `
Examples:
  mesh messages                       the newest 50, oldest first
  mesh messages --after 120 --json    everything after cursor 120, as JSON
  mesh messages --follow              the newest 50, then each new one as it comes
With --json, --follow prints one JSON object per line.`)
    .action(async (options: Options & { follow?: boolean, after?: string, limit: string }) => {
      const limit = parseWhole('--limit', options.limit, 1, 1000)
      const after = options.after != null ? parseWhole('--after', options.after, 0, Number.MAX_SAFE_INTEGER) : null
      const client = clientOptions(options)
      const query = new URLSearchParams({ limit: String(limit) })
      if (after != null) query.set('after', String(after))
      const page = await requestJson<Page>(client, 'GET', `/v1/messages?${query.toString()}`)
      if (options.follow !== true) {
        if (options.json === true) console.log(JSON.stringify(page, null, 2))
        else if (page.messages.length === 0) console.log(`no messages${after != null ? ` after #${after}` : ''} (latest cursor ${page.latest})`)
        else console.log(page.messages.map(messageLine).join('\n') + (page.more ? `\n… more: mesh messages --after ${page.cursor}` : ''))
        return
      }
      const print = (m: MessageView): void => { console.log(options.json === true ? JSON.stringify(m) : messageLine(m)) }
      // with --after, the stream itself replays everything after it; without, show the newest first
      if (after == null) for (const m of page.messages) print(m)
      await follow(client, after ?? page.latest, print)
    })
}
