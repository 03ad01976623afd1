/**
 * `mesh memory store|get|list|delete`: the consensus store, or with `--eventual` the eventually
 * consistent store (src/api/eventual-routes.ts). On a node without a consensus network the eventual
 * store is the only one, so the commands use it without the flag.
 */
import type { Command } from 'commander'
import { requestJson } from './client.js'
import type { ClientOptions } from './client.js'
import { shortPeerId, table } from './format.js'

type Options = { dataDir?: string, api?: string, apiToken?: string, json?: boolean, requestId?: string, namespace?: string, eventual?: boolean }

/** `--request-id`: retry a write that answered 504 (outcome unknown), exactly once. */
const requestIdHelp = 'retry a consensus write that answered 504 "outcome unknown", with the request id it printed: same arguments, exactly-once (the recorded result if it already applied)'
const withRequestId = (options: Options): Record<string, string> => options.requestId != null ? { requestId: options.requestId } : {}

/** Writes wait for consensus: allow a view change. */
const writeTimeoutMs = 30_000

const eventualHelp = 'use the eventually consistent store (gossip, on every node; the default on a node without a consensus network)'

export const memoryHelp = `
Two stores share these commands:
  consensus (default with a genesis)  every write is ordered by pBFT/Raft: acknowledged = final, the same
                                      on every node; reads are local ("sequential"), or "linearizable"
                                      with --linearizable. Needs a quorum: refused in a minority partition.
  eventual  (--eventual; the default  a last-writer-wins map on every node, no genesis needed: a write is
             without a genesis)       stored locally at once, spread by gossip and repaired by anti-entropy;
                                      other nodes see it a moment later, partitions included. Concurrent
                                      writes of one key: the greatest hybrid-logical-clock timestamp wins
                                      (wall ms, then logical counter, then writer PeerId) on every node.
                                      For high-rate, low-stakes shared state; deletes are kept 24 h.
Every answer says which: "consistency": "eventual" | "sequential" | "linearizable" (--json).`

interface EventualEntry { key: string, value: string | null, writer: string, time: string, hlc: { wallMs: number, logical: number, node: string } }

const stamp = (e: { time: string, hlc: { logical: number }, writer: string }): string => `${e.time}${e.hlc.logical > 0 ? `+${e.hlc.logical}` : ''} by ${shortPeerId(e.writer)}`

function print (options: Options, body: unknown, human: () => string): void {
  console.log(options.json === true ? JSON.stringify(body, null, 2) : human())
}

function path (namespace: string, key?: string): string {
  return `/v1/memory/${encodeURIComponent(namespace)}${key != null ? `/${encodeURIComponent(key)}` : ''}`
}

/** `?consistency=eventual` with --eventual; extra query parameters after it. */
function query (options: Options, extra: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams()
  if (options.eventual === true) params.set('consistency', 'eventual')
  for (const [name, value] of Object.entries(extra)) if (value != null) params.set(name, value)
  const text = params.toString()
  return text === '' ? '' : `?${text}`
}

export function addMemoryCommands (program: Command, addClientOptions: (c: Command) => Command, clientOptions: (o: Options) => ClientOptions): void {
  const ns = (value: string | undefined): string => value ?? 'default'
  const memory = program.command('memory')
    .description('shared memory: the consensus-ordered store, or the eventually consistent one (--eventual)')
    .addHelpText('after', memoryHelp)

  addClientOptions(memory.command('store').argument('<key>').argument('<value>'))
    .description('store a value (≤ 64 KiB) under a key: through consensus, or eventually (--eventual)')
    .option('--namespace <ns>', 'namespace', 'default')
    .option('--eventual', eventualHelp)
    .option('--request-id <id>', requestIdHelp)
    .addHelpText('after', memoryHelp)
    .action(async (key: string, value: string, options: Options) => {
      const body = await requestJson<{ consistency?: string, seq?: number, created?: boolean } & Partial<EventualEntry>>(clientOptions(options), 'PUT', `${path(ns(options.namespace), key)}${query(options)}`, { value, ...withRequestId(options) }, writeTimeoutMs)
      print(options, body, () => body.consistency === 'eventual'
        ? `stored ${ns(options.namespace)}/${key} (eventual: written ${stamp(body as EventualEntry)}; spreading by gossip)${body.created === true ? ' (new key)' : ''}`
        : `stored ${ns(options.namespace)}/${key} at seq ${body.seq}${body.created === true ? ' (new key)' : ''}`)
    })

  addClientOptions(memory.command('get').argument('<key>'))
    .description('read a key (local; --linearizable orders the read through consensus first; --eventual reads the eventual store)')
    .option('--namespace <ns>', 'namespace', 'default')
    .option('--linearizable', 'read after a no-op committed through consensus')
    .option('--eventual', eventualHelp)
    .action(async (key: string, options: Options & { linearizable?: boolean }) => {
      const body = await requestJson<{ consistency?: string, value: string, seq?: number, lastApplied?: number } & Partial<EventualEntry>>(clientOptions(options), 'GET',
        `${path(ns(options.namespace), key)}${query(options, { linearizable: options.linearizable === true ? '1' : undefined })}`, undefined, writeTimeoutMs)
      print(options, body, () => body.consistency === 'eventual'
        ? `${body.value}\n(eventual: written ${stamp(body as EventualEntry)}; other nodes may not hold it yet)`
        : `${body.value}\n(written at seq ${body.seq}; this node has applied up to ${body.lastApplied}; ${body.consistency ?? 'sequential'} read)`)
    })

  addClientOptions(memory.command('delete').argument('<key>'))
    .description('delete a key: through consensus, or eventually (--eventual; a tombstone that wins over older writes)')
    .option('--namespace <ns>', 'namespace', 'default')
    .option('--eventual', eventualHelp)
    .option('--request-id <id>', requestIdHelp)
    .action(async (key: string, options: Options) => {
      const body = await requestJson<{ consistency?: string, seq?: number, deleted: boolean } & Partial<EventualEntry>>(clientOptions(options), 'DELETE',
        `${path(ns(options.namespace), key)}${query(options, { requestId: options.requestId })}`, undefined, writeTimeoutMs)
      print(options, body, () => body.consistency === 'eventual'
        ? `${body.deleted ? 'deleted' : 'no such key here (a tombstone was written anyway)'} (eventual: ${stamp(body as EventualEntry)})`
        : body.deleted ? `deleted at seq ${body.seq}` : `no such key (seq ${body.seq})`)
    })

  addClientOptions(memory.command('list'))
    .description('list keys of a namespace (local read; --eventual lists the eventual store)')
    .option('--namespace <ns>', 'namespace', 'default')
    .option('--prefix <prefix>', 'only keys starting with this', '')
    .option('--limit <n>', 'at most this many (1-1000)', '100')
    .option('--eventual', eventualHelp)
    .action(async (options: Options & { prefix: string, limit: string }) => {
      const body = await requestJson<{ consistency?: string, lastApplied?: number, more?: boolean, entries: Array<{ key: string, value: string, seq?: number } & Partial<EventualEntry>> }>(clientOptions(options), 'GET',
        `${path(ns(options.namespace))}${query(options, { prefix: options.prefix, limit: options.limit })}`)
      const short = (value: string): string => value.length > 60 ? `${value.slice(0, 57)}...` : value
      print(options, body, () => body.consistency === 'eventual'
        ? `${table(['KEY', 'WRITTEN', 'VALUE'], body.entries.map(e => [e.key, stamp(e as EventualEntry), short(e.value)]))}\n(eventual store of this node${body.more === true ? '; more keys: raise --limit' : ''})`
        : `${table(['KEY', 'SEQ', 'VALUE'], body.entries.map(e => [e.key, String(e.seq), short(e.value)]))}\n(applied up to seq ${body.lastApplied})`)
    })
}
